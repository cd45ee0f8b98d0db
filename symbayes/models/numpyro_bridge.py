"""Sample a user's own numpyro model with a symmetry declared on its sample sites.

numpyro samplers work in *unconstrained* space: every latent site ``x`` with
support ``S`` is written ``x = T(u)`` with ``T = biject_to(S)`` and ``u`` real,
and the potential energy includes ``log |det dT/du|``. A symmetry declared on
site values acts on ``u`` in the same way only if ``T`` commutes with it,
``T(g . u) = g . T(u)``. That holds for real sites (``T`` the identity) and
for elementwise transforms under permutations (``exp`` for a positive site),
but not for sign flips on a positive site (``exp(-u) != -exp(u)``) or for a
simplex site, whose stick-breaking transform maps ``R^{K-1}`` onto the
``K``-simplex so that a permutation of the ``K`` weights is no permutation of
``u``. :class:`NumpyroModel` checks this numerically at construction and
raises :class:`~symbayes.symmetry.SymmetryError` naming the site.

Example:
    >>> import jax, jax.numpy as jnp
    >>> import numpyro, numpyro.distributions as dist
    >>> from symbayes.symmetry import Symmetry
    >>> def bnn(X, y=None):
    ...     W1 = numpyro.sample("W1", dist.Normal(0, 1).expand([1, 4]).to_event(2))
    ...     b1 = numpyro.sample("b1", dist.Normal(0, 1).expand([4]).to_event(1))
    ...     W2 = numpyro.sample("W2", dist.Normal(0, 1).expand([4, 1]).to_event(2))
    ...     mean = (jnp.tanh(X @ W1 + b1) @ W2)[:, 0]
    ...     numpyro.sample("y", dist.Normal(mean, 0.1), obs=y)
    >>> axis = site_axis("hidden", 4, [("W1", 1, "in"), ("b1", 0, "in"),
    ...                  ("W2", 0, "out")], groups=("permutation", "sign"))
    >>> X, y = jnp.linspace(-1, 1, 8)[:, None], jnp.zeros(8)
    >>> model = NumpyroModel(bnn, Symmetry((axis,)), X, y=y)
    >>> sorted(model.init(jax.random.key(0)))
    ['W1', 'W2', 'b1']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from symbayes.models.base import BayesianModel, Data, Params, check_array
from symbayes.symmetry import (
    GROUPS,
    AxisEntry,
    HiddenAxis,
    Symmetry,
    SymmetryError,
    UnitKey,
    format_path,
)

__all__ = ["NumpyroModel", "from_numpyro", "site_axis"]

EntryLike = AxisEntry | tuple[str, int] | tuple[str, int, str]
KeyLike = UnitKey | str | tuple[str, Sequence[int]] | None

_NUM_CHECK_POINTS = 3
_NUM_CHECK_ELEMENTS = 6
_CHECK_RTOL = 1e-4


def _site_path(site: str) -> tuple[str]:
    # a 1-tuple, so that a site name containing "/" is not split into a path
    return (str(site),)


def _site_key(key: KeyLike) -> UnitKey | None:
    if key is None or isinstance(key, UnitKey):
        return key
    if isinstance(key, str):
        return UnitKey(_site_path(key))
    site, index = key
    return UnitKey(_site_path(site), tuple(index))


def site_axis(
    name: str,
    size: int,
    entries: Iterable[EntryLike],
    groups: Sequence[str] = ("permutation",),
    sort_key: KeyLike = None,
    sign_key: KeyLike = None,
) -> HiddenAxis:
    """A :class:`HiddenAxis` whose entries are numpyro sample sites.

    Args:
        name: axis name, e.g. ``"hidden"``.
        size: number of units.
        entries: ``(site, axis, role)`` triples (role defaults to ``"in"``) or
            :class:`AxisEntry` objects. ``axis`` indexes the site's value.
        groups: subset of ``("permutation", "sign", "scale")``.
        sort_key: a site name, ``(site, index)`` or a :class:`UnitKey`
            (``None``: the default, usually the bias).
        sign_key: as ``sort_key``.

    Returns:
        The hidden axis, e.g. ``site_axis("hidden", 8, [("W1", 1, "in"),
        ("b1", 0, "in"), ("W2", 0, "out")], groups=("permutation", "sign"))``.
    """
    built = []
    for entry in entries:
        if isinstance(entry, AxisEntry):
            built.append(entry)
        else:
            site, *rest = entry
            built.append(AxisEntry(_site_path(site), *rest))
    return HiddenAxis(
        name,
        size,
        tuple(built),
        groups=tuple(groups),
        sort_key=_site_key(sort_key),
        sign_key=_site_key(sign_key),
    )


class SiteInfo(NamedTuple):
    """Static description of one site of a numpyro model trace.

    Attributes:
        type: ``"sample"``, ``"deterministic"``, ``"param"``, ...
        observed: an observed sample site (likelihood or ``numpyro.factor``).
        likelihood: an observed sample site that is not a ``numpyro.factor``.
        support: the distribution's support, as text (sample sites).
        transform: the name of ``biject_to(support)`` (sample sites).
        discrete: the distribution is discrete.
    """

    type: str
    observed: bool
    likelihood: bool
    support: str | None
    transform: str | None
    discrete: bool

    @property
    def latent(self) -> bool:
        """A sample site that is not observed: a coordinate of the params."""
        return self.type == "sample" and not self.observed


def _is_likelihood_site(message: dict) -> bool:
    """An observed sample site that is not a ``numpyro.factor`` term."""
    return (
        message.get("type") == "sample"
        and bool(message.get("is_observed"))
        and not isinstance(message.get("fn"), dist.Unit)
    )


class NumpyroModel(BayesianModel):
    """A numpyro model, sampled in unconstrained space, with a declared symmetry.

    Params are the *unconstrained* values of the model's latent sites (a dict
    keyed by site name); :meth:`constrain` maps them back to site values. The
    symmetry is declared on site values (build axes with :func:`site_axis`)
    and must commute with the unconstraining transforms; this is checked
    numerically at construction.

    Data handling. By default the data are bound in the model arguments and
    :meth:`logdensity_fn` takes ``data=None``. To evaluate the model on other
    data, e.g. minibatches for SGLD, pass the data as keyword arguments of the
    model and name them, in order, in ``data_kwargs`` (e.g. ``("X", "y")``);
    then a data tuple ``(X_b, y_b)`` is bound to those keywords.
    :meth:`log_likelihood` (per datum) and :meth:`log_prior` need
    ``data_kwargs``, and every observed site must then have the data index as
    its leading axis (no subsampling plates).

    Args:
        model: a numpyro model (callable).
        symmetry: a :class:`Symmetry` (or a sequence of hidden axes) on sites.
        *model_args: positional arguments of ``model``.
        data_kwargs: names of the keyword arguments holding the data tuple.
        function: optional callable of the constrained site values returning
            an array of function-space quantities for :meth:`function_fn`.
        name: a display name (default: the model function's name).
        **model_kwargs: keyword arguments of ``model``.

    Raises:
        SymmetryError: a site that is not a latent sample site, a wrong axis
            length, or a site whose unconstraining transform does not commute
            with the group.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        symmetry: Symmetry | Sequence[HiddenAxis],
        *model_args: Any,
        data_kwargs: Sequence[str] | None = None,
        function: Callable[[Params], jax.Array] | None = None,
        name: str | None = None,
        **model_kwargs: Any,
    ) -> None:
        self._setup(
            model, symmetry, model_args, model_kwargs, data_kwargs, function, name
        )

    def _setup(
        self,
        model: Callable[..., Any],
        symmetry: Symmetry | Sequence[HiddenAxis],
        model_args: Sequence[Any],
        model_kwargs: dict[str, Any],
        data_kwargs: Sequence[str] | None,
        function: Callable[[Params], jax.Array] | None,
        name: str | None,
    ) -> None:
        if not isinstance(symmetry, Symmetry):
            symmetry = Symmetry(tuple(symmetry))
        self._model = model
        self._symmetry = symmetry
        self._args = tuple(model_args)
        self._kwargs = dict(model_kwargs)
        self._function = function
        self._name = name or getattr(model, "__name__", "numpyro_model")
        self._data_kwargs = None if data_kwargs is None else tuple(data_kwargs)
        if self._data_kwargs is not None:
            missing = [k for k in self._data_kwargs if k not in self._kwargs]
            if missing:
                raise ValueError(
                    f"data_kwargs {missing} are not among the model keyword "
                    f"arguments {sorted(self._kwargs)}"
                )
        self._sites = self._site_info()
        discrete = [n for n, s in self._sites.items() if s.latent and s.discrete]
        if discrete:
            raise ValueError(
                f"model {self._name!r} has discrete latent sites {discrete}; "
                "marginalise them out (gradient-based samplers need a continuous "
                "parameter space)"
            )
        self._latent = tuple(n for n, s in self._sites.items() if s.latent)
        if not self._latent:
            raise ValueError(f"model {self._name!r} has no latent sample sites")
        self._has_likelihood = any(site.likelihood for site in self._sites.values())
        self._potential_fn = partial(
            potential_energy, self._model, self._args, self._kwargs
        )
        self._init = jax.jit(self._init_one)
        key = jax.random.key(0)
        # shapes and dtypes of the unconstrained params, without compiling anything
        self._template = jax.eval_shape(self._init_one, key)
        self._check_symmetry(jax.random.fold_in(key, 1))

    @classmethod
    def from_numpyro(
        cls,
        model: Callable[..., Any],
        symmetry: Symmetry | Sequence[HiddenAxis],
        model_args: Sequence[Any] = (),
        model_kwargs: dict[str, Any] | None = None,
        data_kwargs: Sequence[str] | None = None,
        function: Callable[[Params], jax.Array] | None = None,
        name: str | None = None,
    ) -> NumpyroModel:
        """Build from explicit ``model_args`` / ``model_kwargs`` (no name clashes)."""
        self = cls.__new__(cls)
        self._setup(
            model, symmetry, model_args, model_kwargs or {}, data_kwargs, function, name
        )
        return self

    # ------------------------------------------------------------ properties
    @property
    def symmetry(self) -> Symmetry:
        return self._symmetry

    @property
    def name(self) -> str:
        return self._name

    @property
    def latent_sites(self) -> tuple[str, ...]:
        """Names of the latent sites (the keys of the params dict)."""
        return self._latent

    @property
    def data(self) -> Data | None:
        """The bound data tuple (the ``data_kwargs`` values), if declared."""
        if self._data_kwargs is None:
            return None
        return tuple(self._kwargs[k] for k in self._data_kwargs)

    def _kwargs_for(self, batch: Data | None) -> dict[str, Any]:
        if batch is None:
            return self._kwargs
        if self._data_kwargs is None:
            raise ValueError(
                f"model {self.name!r} binds its data in the model arguments; pass "
                "data=None, or construct it with data_kwargs=(...) naming the "
                "keyword arguments that hold the data"
            )
        if len(batch) != len(self._data_kwargs):
            raise ValueError(
                f"a data tuple of {len(batch)} arrays does not match "
                f"data_kwargs {self._data_kwargs}"
            )
        return {**self._kwargs, **dict(zip(self._data_kwargs, batch, strict=True))}

    def _bound_arrays(self) -> dict[str, Any]:
        """The model's array arguments by parameter name (``args[i]`` if unknown)."""
        try:
            bound = inspect.signature(self._model).bind_partial(
                *self._args, **self._kwargs
            )
            named = dict(bound.arguments)
        except (TypeError, ValueError):
            named = {f"args[{i}]": value for i, value in enumerate(self._args)}
            named.update(self._kwargs)
        return {
            name: value
            for name, value in named.items()
            if isinstance(value, np.ndarray | jax.Array)
        }

    # ------------------------------------------------------------ data
    def check_data(self, data: Data | None = None) -> None:
        """Check the data arrays before any compilation or sampling.

        With ``data=None`` every array bound in the model arguments is
        checked for NaN and inf, named by the model's parameter name. With a
        data tuple, it must have one array per ``data_kwargs`` name, each
        finite, all with the same number of rows (minibatches slice rows).
        Shapes beyond that are the model's own business: numpyro checks them
        when it traces the model. (A model that masks missing values itself
        must not pass them as NaN.)

        Args:
            data: ``None`` (the bound data) or a data tuple.

        Raises:
            ValueError: naming the argument, the row and the value.
        """
        if data is None:
            for name, values in self._bound_arrays().items():
                if np.ndim(values) == 0:
                    continue
                check_array(name, values)
            return
        self._kwargs_for(tuple(data))
        names = self._data_kwargs or ()
        rows = None
        for name, values in zip(names, data):
            array = check_array(name, values, rows=rows, rows_of=names[0])
            rows = array.shape[0] if rows is None else rows

    # ------------------------------------------------------------ maps
    def _init_one(self, key: jax.Array) -> Params:
        trace = handlers.trace(handlers.seed(self._model, key)).get_trace(
            *self._args, **self._kwargs
        )
        values = {name: trace[name]["value"] for name in self._latent}
        return unconstrain_fn(self._model, self._args, self._kwargs, values)

    def init(self, key: jax.Array, data: Data | None = None) -> Params:
        """A prior draw (as numpyro's ``init_to_sample``), in unconstrained space.

        Args:
            key: a JAX PRNG key.
            data: unused.

        Returns:
            The unconstrained values of every latent site.
        """
        return self._init(key)

    def constrain(self, params: Params, return_deterministic: bool = False) -> Params:
        """Site values from unconstrained params (vmap for batches of draws).

        Args:
            params: unconstrained params (one draw).
            return_deterministic: also return ``numpyro.deterministic`` sites.

        Returns:
            Constrained sample-site values keyed by site name.
        """
        return constrain_fn(
            self._model,
            self._args,
            self._kwargs,
            params,
            return_deterministic=return_deterministic,
        )

    # ------------------------------------------------------------ densities
    def logdensity_fn(self, data: Data | None = None) -> Callable[[Params], jax.Array]:
        """``-potential_energy``: the log density of the unconstrained params.

        The potential is numpyro's ``potential_energy`` (what ``NUTS`` and
        ``initialize_model`` use): the joint log density of the constrained
        site values plus the log-Jacobians of the constraining transforms.

        Args:
            data: ``None`` to use the bound data, or a data tuple (needs
                ``data_kwargs``).

        Returns:
            ``params -> log p(theta_constrained, D) + log |det J|``.
        """
        if data is None:
            potential_fn = self._potential_fn
            return lambda params: -potential_fn(params)
        kwargs = self._kwargs_for(data)
        return lambda params: -potential_energy(self._model, self._args, kwargs, params)

    def _log_prior(self, params: Params, kwargs: dict[str, Any]) -> jax.Array:
        prior_model = handlers.block(self._model, hide_fn=_is_likelihood_site)
        return -potential_energy(prior_model, self._args, kwargs, params)

    def _observed_log_probs(
        self, params: Params, kwargs: dict[str, Any]
    ) -> dict[str, jax.Array]:
        values = constrain_fn(self._model, self._args, kwargs, params)
        trace = handlers.trace(handlers.substitute(self._model, data=values)).get_trace(
            *self._args, **kwargs
        )
        log_probs = {}
        for name, site in trace.items():
            if _is_likelihood_site(site):
                log_prob = site["fn"].log_prob(site["value"])
                if site.get("scale") is not None:
                    log_prob = site["scale"] * log_prob
                log_probs[name] = log_prob
        return log_probs

    def _require_data_kwargs(self, what: str) -> None:
        if self._data_kwargs is None:
            raise NotImplementedError(
                f"{what} of numpyro model {self.name!r} needs the data as model "
                "keyword arguments named in data_kwargs=(...) (the split of the "
                "joint density into prior and per-datum likelihood is not "
                "available otherwise); SGLD/SGHMC need that, or the pytree model "
                "path (a BayesianModel subclass)"
            )

    def log_prior(self, params: Params) -> jax.Array:
        """Log prior of the unconstrained params (transform Jacobians included).

        Computed as ``-potential_energy`` with the observed sites blocked
        (``numpyro.factor`` terms count as prior). Needs ``data_kwargs``.
        """
        self._require_data_kwargs("log_prior")
        return self._log_prior(params, self._kwargs)

    def log_likelihood(self, params: Params, batch: Data) -> jax.Array:
        """Per-datum log-likelihood, summed over observed sites, shape ``(n,)``.

        Needs ``data_kwargs``; each observed site's log-probability must have
        the data index as leading axis (trailing axes are summed).
        """
        self._require_data_kwargs("log_likelihood")
        num_rows = jnp.shape(batch[0])[0]
        total = jnp.zeros((num_rows,))
        for name, log_prob in self._observed_log_probs(
            params, self._kwargs_for(batch)
        ).items():
            if jnp.ndim(log_prob) == 0 or jnp.shape(log_prob)[0] != num_rows:
                raise ValueError(
                    f"observed site {name!r} has log-probability shape "
                    f"{jnp.shape(log_prob)}; a per-datum log-likelihood needs a "
                    f"leading axis of length {num_rows}"
                )
            total = total + jnp.reshape(log_prob, (num_rows, -1)).sum(axis=1)
        return total

    def minibatch_logdensity_fn(
        self, num_data: int
    ) -> Callable[[Params, Data], jax.Array]:
        """Unbiased minibatch log density; the prior is evaluated on the batch.

        Needs ``data_kwargs``. See :meth:`BayesianModel.minibatch_logdensity_fn`.
        """
        self._require_data_kwargs("minibatch_logdensity_fn")
        if num_data < 1:
            raise ValueError(f"num_data must be >= 1, got {num_data}")

        def logdensity(params: Params, batch: Data) -> jax.Array:
            log_likelihood = self.log_likelihood(params, batch)
            scale = num_data / log_likelihood.shape[0]
            log_prior = self._log_prior(params, self._kwargs_for(batch))
            return log_prior + scale * jnp.sum(log_likelihood)

        return logdensity

    def function_fn(
        self, data: Data | None = None, num_probe: int = 16
    ) -> Callable[[Params], jax.Array]:
        """The user's ``function`` of the site values, then the log-likelihood.

        Args:
            data: ``None`` for the bound data, or a data tuple (needs
                ``data_kwargs``).
            num_probe: unused (uniform API).

        Returns:
            ``params -> concat(ravel(function(constrain(params))), [total])``,
            where ``total`` is the summed log-likelihood of the observed sites
            (the log density when the model has none), and the first part is
            absent when no ``function`` was given.
        """
        kwargs = self._kwargs_for(data)
        logdensity = self.logdensity_fn(data)

        def function(params: Params) -> jax.Array:
            if self._has_likelihood:
                log_probs = self._observed_log_probs(params, kwargs).values()
                total = sum(jnp.sum(lp) for lp in log_probs)
            else:
                total = logdensity(params)
            pieces = [jnp.reshape(total, (1,))]
            if self._function is not None:
                outputs = jnp.ravel(self._function(self.constrain(params)))
                pieces.insert(0, outputs.astype(pieces[0].dtype))
            return jnp.concatenate(pieces)

        return function

    # ------------------------------------------------------------ checks
    def _site_info(self) -> dict[str, SiteInfo]:
        """Static facts about every site, from one abstract (shape-only) trace."""
        info: dict[str, SiteInfo] = {}

        def describe(key: jax.Array) -> int:
            trace = handlers.trace(handlers.seed(self._model, key)).get_trace(
                *self._args, **self._kwargs
            )
            for name, site in trace.items():
                support = getattr(site.get("fn"), "support", None)
                transform = None
                if support is not None:
                    try:
                        transform = type(biject_to(support)).__name__
                    except NotImplementedError:
                        transform = None
                info[name] = SiteInfo(
                    type=site["type"],
                    observed=bool(site.get("is_observed", False)),
                    likelihood=_is_likelihood_site(site),
                    support=None if support is None else str(support),
                    transform=transform,
                    discrete=bool(getattr(site.get("fn"), "is_discrete", False)),
                )
            return 0

        jax.eval_shape(describe, jax.random.key(0))
        return info

    def _site_description(self, site: str) -> str:
        info = self._sites.get(site)
        if info is None or info.support is None:
            return repr(site)
        return f"{site!r} (support {info.support}, transform {info.transform})"

    def _check_symmetry(self, key: jax.Array) -> None:
        latent = sorted(self._template)
        observed = {n for n, s in self._sites.items() if s.observed}
        for axis in self._symmetry.axes:
            for entry in axis.entries:
                site = entry.path[0] if len(entry.path) == 1 else None
                if site in self._template:
                    continue
                what = format_path(entry.path)
                if site in observed:
                    reason = "is an observed site"
                elif site in self._sites:
                    reason = f"is a {self._sites[site].type} site, not a latent one"
                else:
                    reason = "does not exist in the model"
                raise SymmetryError(
                    f"axis {axis.name!r}: sample site {what!r} {reason}; latent "
                    f"sample sites: {latent}"
                )
        constrained = jax.eval_shape(self.constrain, self._template)
        for path in self._symmetry.paths:
            site = path[0]
            unconstrained_shape = jnp.shape(self._template[site])
            constrained_shape = jnp.shape(constrained[site])
            if unconstrained_shape != constrained_shape:
                raise SymmetryError(
                    f"sample site {self._site_description(site)} has shape "
                    f"{constrained_shape} but its unconstrained value has shape "
                    f"{unconstrained_shape}: the transform changes the dimension, "
                    "so the symmetry cannot act in unconstrained space. Use a site "
                    "that is transformed elementwise (for mixture weights: "
                    "normalised Gamma draws, w = g / g.sum() with g ~ Gamma(a, 1), "
                    "instead of a Dirichlet site)"
                )
        try:
            self._symmetry.validate(self._template)
        except SymmetryError as error:
            raise SymmetryError(
                f"symmetry does not fit the unconstrained sample sites: {error}"
            ) from error
        self._check_equivariance(key)

    def _check_equivariance(self, key: jax.Array) -> None:
        """Check ``T(g . u) == g . T(u)`` on random points and elements, per group."""
        symmetry = self._symmetry
        sites = sorted({path[0] for path in symmetry.paths})
        groups = [g for g in GROUPS if any(g in axis.groups for axis in symmetry.axes)]

        def one(point: Params, element: Any) -> tuple[Params, Params]:
            moved_then_constrained = self.constrain(symmetry.act(element, point))
            constrained_then_moved = symmetry.act(element, self.constrain(point))
            return (
                {s: moved_then_constrained[s] for s in sites},
                {s: constrained_then_moved[s] for s in sites},
            )

        @jax.jit
        def both_ways(key: jax.Array) -> dict[str, tuple[Params, Params]]:
            point_key, element_key = jax.random.split(key)
            points = jax.vmap(self._init_one)(
                jax.random.split(point_key, _NUM_CHECK_POINTS)
            )
            results = {}
            for index, group in enumerate(groups):
                element_keys = jax.random.split(
                    jax.random.fold_in(element_key, index), _NUM_CHECK_ELEMENTS
                )
                elements = jax.vmap(
                    lambda k, g=group: symmetry.random_element(k, (g,))
                )(element_keys)
                over_elements = jax.vmap(one, in_axes=(None, 0))
                results[group] = jax.vmap(over_elements, in_axes=(0, None))(
                    points, elements
                )
            return results

        for group, (lhs, rhs) in both_ways(key).items():
            axes = [axis.name for axis in symmetry.axes if group in axis.groups]
            for site in sites:
                left, right = np.asarray(lhs[site]), np.asarray(rhs[site])
                scale = np.max(np.abs(right[np.isfinite(right)]), initial=1.0)
                if np.allclose(
                    left, right, rtol=_CHECK_RTOL, atol=1e-6 * scale, equal_nan=True
                ):
                    continue
                site_axes = [
                    a.name
                    for a in symmetry.axes
                    if group in a.groups and any(e.path == (site,) for e in a.entries)
                ]
                hint = (
                    "sign flips need a site with a symmetric (real) support"
                    if group == "sign"
                    else "use a real-valued site and apply the constraint inside "
                    "the model"
                )
                raise SymmetryError(
                    f"sample site {self._site_description(site)}: its unconstraining "
                    f"transform does not commute with the {group!r} group of axis "
                    f"{site_axes or axes}, so the declared symmetry would not be a "
                    "symmetry of the unconstrained log density that is sampled. "
                    f"Fix: {hint} (e.g. sample a Normal and transform it "
                    f"deterministically), or drop {group!r} from the axis"
                )


def from_numpyro(
    model: Callable[..., Any],
    symmetry: Symmetry | Sequence[HiddenAxis],
    model_args: Sequence[Any] = (),
    model_kwargs: dict[str, Any] | None = None,
    data_kwargs: Sequence[str] | None = None,
    function: Callable[[Params], jax.Array] | None = None,
    name: str | None = None,
) -> NumpyroModel:
    """Wrap a numpyro model; see :class:`NumpyroModel`.

    Args:
        model: a numpyro model.
        symmetry: the symmetry on its sample sites (see :func:`site_axis`).
        model_args: positional arguments of ``model``.
        model_kwargs: keyword arguments of ``model``.
        data_kwargs: keyword arguments holding the data tuple, in order.
        function: optional function-space quantities of the site values.
        name: display name.

    Returns:
        A :class:`NumpyroModel`.
    """
    return NumpyroModel.from_numpyro(
        model, symmetry, model_args, model_kwargs, data_kwargs, function, name
    )
