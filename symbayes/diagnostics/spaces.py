r"""``diagnose``: ESS, R-hat, modes and unseen-mode mass on three coordinate spaces.

A run of :math:`C` chains is judged in three coordinate systems:

* **raw** - the parameters as sampled; ``None`` for a run without raw draws
  (the quotient modes sample inside one copy of the fundamental domain);
* **canonical** - the draws after the canonical map (one point per orbit of
  the symmetry group), the same map for every method;
* **function** - quantities the symmetry leaves unchanged: predictions at
  probe inputs and the log-likelihood (``model.function_fn(data)``) or any
  callable of one params pytree.

In each space: bulk and tail ESS and rank :math:`\hat R` per coordinate
(:mod:`~symbayes.diagnostics.estimators`), the pairwise :math:`\hat R` of
chains, the modes with their representatives and whether each is settled
(:mod:`~symbayes.diagnostics.modes`), the unseen-mode mass
(:mod:`~symbayes.diagnostics.unseen`), and with ``superchain_ids`` nested
:math:`\hat R`. Draws come from anywhere (:mod:`symbayes.draws`): a
:class:`~symbayes.results.SampleResult`, arviz ``InferenceData`` /
``DataTree``, an ``xarray.Dataset`` or a dict of arrays with leading axes
``(chain, draw)``; draws not made by symbayes are raw, and are canonicalised
with the given symmetry first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.datasets import as_data_tuple
from symbayes.diagnostics.coordinates import _unflattener, flatten_draws, function_draws
from symbayes.diagnostics.estimators import (
    _ess,
    _per_coordinate,
    _rank_rhat,
    nested_rhat,
    pairwise_rhat,
)
from symbayes.diagnostics.modes import (
    DEFAULT_FALSE_SPLIT_RATE,
    DEFAULT_THRESHOLD,
    ChainSeparation,
    Modes,
    find_modes,
    margin_of_threshold,
)
from symbayes.diagnostics.unseen import UnseenModes, unseen_mode_mass
from symbayes.draws import Draws, as_draws, check_symmetry_variables
from symbayes.symmetry import Symmetry

__all__ = ["Diagnostics", "SpaceDiagnostics", "diagnose"]

_SUMMARY_KEYS = (
    "ess_bulk_min",
    "ess_bulk_median",
    "ess_tail_min",
    "rhat_max",
    "rhat_nested_max",
    "modes",
    "modes_settled",
    "unseen_mass",
    "unseen_mass_high",
    "chao1",
)


class SpaceDiagnostics(NamedTuple):
    """ESS, R-hat, modes and unseen-mode mass on one coordinate space.

    Attributes:
        space: ``"raw"``, ``"canonical"`` or ``"function"``.
        names: one name per coordinate, e.g. ``"W1[0, 2]"``.
        ess_bulk: ``(k,)`` bulk ESS per coordinate.
        ess_tail: ``(k,)`` tail ESS per coordinate.
        rhat: ``(k,)`` rank-normalised split R-hat over all chains.
        pairwise_rhat: ``(C, C)`` max-over-coordinates R-hat of each pair of
            chains (diagonal 1).
        modes: the :class:`Modes` of this space.
        separation: the pairwise evidence the modes were found from
            (:class:`ChainSeparation`).
        unseen: the unseen-mode mass of these modes (:class:`UnseenModes`).
        rhat_nested: ``(k,)`` nested R-hat per coordinate, with superchain
            ids, else ``None``.
    """

    space: str
    names: tuple[str, ...]
    ess_bulk: np.ndarray
    ess_tail: np.ndarray
    rhat: np.ndarray
    pairwise_rhat: np.ndarray
    modes: Modes
    separation: ChainSeparation | None = None
    unseen: UnseenModes | None = None
    rhat_nested: np.ndarray | None = None

    @property
    def ess_bulk_min(self) -> float:
        return _nan_reduce(np.nanmin, self.ess_bulk)

    @property
    def ess_bulk_median(self) -> float:
        return _nan_reduce(np.nanmedian, self.ess_bulk)

    @property
    def ess_tail_min(self) -> float:
        return _nan_reduce(np.nanmin, self.ess_tail)

    @property
    def rhat_max(self) -> float:
        return _nan_reduce(np.nanmax, self.rhat)

    @property
    def rhat_nested_max(self) -> float:
        if self.rhat_nested is None:
            return float("nan")
        return _nan_reduce(np.nanmax, self.rhat_nested)

    def summary(self) -> dict[str, float | int]:
        """ESS, R-hat, mode count, settled modes, unseen-mode mass, Chao1.

        Keys: ``ess_bulk_min``, ``ess_bulk_median``, ``ess_tail_min``,
        ``rhat_max``, ``rhat_nested_max`` (NaN without superchains),
        ``modes``, ``modes_settled``, ``unseen_mass`` (Good-Turing),
        ``unseen_mass_high`` (upper end of its interval), ``chao1``.
        """
        unseen = self.unseen or unseen_mode_mass(self.modes.labels)
        return {
            "ess_bulk_min": self.ess_bulk_min,
            "ess_bulk_median": self.ess_bulk_median,
            "ess_tail_min": self.ess_tail_min,
            "rhat_max": self.rhat_max,
            "rhat_nested_max": self.rhat_nested_max,
            "modes": self.modes.count,
            "modes_settled": self.modes.num_settled,
            "unseen_mass": unseen.good_turing,
            "unseen_mass_high": unseen.interval[1],
            "chao1": unseen.chao1,
        }


class Diagnostics(NamedTuple):
    """Diagnostics of one run on raw, canonical and function coordinates.

    Attributes:
        raw: :class:`SpaceDiagnostics` of the raw draws, or ``None`` for a
            run without raw draws (the quotient modes).
        canonical: of the canonical draws.
        function: of the function values, or ``None`` without a function.
        redundant_chains: chains that landed in a canonical mode an earlier
            (lower-index) chain already occupies.
        num_chains: number of chains ``C``.
        num_draws: draws per chain.
        threshold: the R-hat threshold that sets the mode margin.
        false_split_rate: the per-pair false-split rate of the mode rule.
    """

    raw: SpaceDiagnostics | None
    canonical: SpaceDiagnostics
    function: SpaceDiagnostics | None
    redundant_chains: tuple[int, ...]
    num_chains: int
    num_draws: int
    threshold: float
    false_split_rate: float = DEFAULT_FALSE_SPLIT_RATE

    def spaces(self) -> tuple[SpaceDiagnostics, ...]:
        return tuple(s for s in (self.raw, self.canonical, self.function) if s)

    @property
    def representatives(self) -> tuple[Any, ...]:
        """One canonical params pytree per canonical mode (its medoid draw)."""
        return tuple(mode.representative for mode in self.canonical.modes.modes)

    def summary(self) -> dict[str, float | int]:
        """Flat ``{metric_space: value}``, e.g. ``ess_bulk_min_canonical``.

        Every metric of :meth:`SpaceDiagnostics.summary` for each of
        ``raw``, ``canonical`` and ``function`` (NaN for a missing space),
        e.g. ``unseen_mass_canonical``, plus ``redundant_chains``.
        """
        out: dict[str, float | int] = {}
        for space in ("raw", "canonical", "function"):
            values = getattr(self, space)
            for metric, value in (
                values.summary() if values is not None else _empty_summary()
            ).items():
                out[f"{metric}_{space}"] = value
        out["redundant_chains"] = len(self.redundant_chains)
        return out

    def table(self) -> str:
        """A plain-text table: one row per space."""
        header = (
            f"{'space':<10} {'ESS bulk min':>12} {'median':>9} "
            f"{'ESS tail min':>12} {'R-hat max':>9} {'modes':>6} {'settled':>7} "
            f"{'unseen':>7}"
        )
        lines = [header, "-" * len(header)]
        for space in self.spaces():
            s = space.summary()
            lines.append(
                f"{space.space:<10} {s['ess_bulk_min']:>12.1f} "
                f"{s['ess_bulk_median']:>9.1f} {s['ess_tail_min']:>12.1f} "
                f"{s['rhat_max']:>9.3f} {s['modes']:>6d} {s['modes_settled']:>7d} "
                f"{s['unseen_mass']:>7.2f}"
            )
        if self.raw is None:
            lines.append("raw: none (the run has no raw draws)")
        lines.append(
            f"{self.num_chains} chains x {self.num_draws} draws; "
            f"{len(self.redundant_chains)} redundant chain(s); modes split at "
            f"standardised distance {margin_of_threshold(self.threshold):.2f} "
            f"(R-hat {self.threshold}) beyond Monte Carlo error; unseen: "
            "Good-Turing probability that one more chain finds a new mode"
        )
        return "\n".join(lines)


def _nan_reduce(reduce: Callable, values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    if values.size == 0 or np.all(np.isnan(values)):
        return float("nan")
    return float(reduce(values))


def _empty_summary() -> dict[str, float]:
    return dict.fromkeys(_SUMMARY_KEYS, float("nan"))


# ---------------------------------------------------------------------- spaces
class _Context(NamedTuple):
    """What every space shares: canonical draws, medoid features, settings."""

    canonical: np.ndarray
    unflatten: Callable[[np.ndarray], Any]
    features: np.ndarray
    log_likelihood: np.ndarray | None
    threshold: float
    false_split_rate: float
    rule: str
    superchain_ids: np.ndarray | None


def _space(
    name: str, values: np.ndarray, names: tuple[str, ...], context: _Context
) -> SpaceDiagnostics:
    pairwise = pairwise_rhat(values)
    modes, separation = find_modes(
        values,
        context.canonical,
        context.unflatten,
        threshold=context.threshold,
        false_split_rate=context.false_split_rate,
        rule=context.rule,
        pairwise=pairwise,
        features=context.features,
        log_likelihood=context.log_likelihood,
    )
    nested = None
    if context.superchain_ids is not None:
        nested = _per_coordinate(
            values, lambda v: nested_rhat(v, context.superchain_ids)
        )
    return SpaceDiagnostics(
        space=name,
        names=names,
        ess_bulk=_per_coordinate(values, lambda v: _ess(v, "bulk")),
        ess_tail=_per_coordinate(values, lambda v: _ess(v, "tail")),
        rhat=_per_coordinate(values, _rank_rhat),
        pairwise_rhat=pairwise,
        modes=modes,
        separation=separation,
        unseen=unseen_mode_mass(modes.labels),
        rhat_nested=nested,
    )


# ---------------------------------------------------------------------- inputs
def _check_settings(
    threshold: float, false_split_rate: float, mode_rule: str, canonical: str
) -> None:
    if not threshold > 1.0:
        raise ValueError(f"threshold must be > 1, got {threshold}")
    if not 0.0 < false_split_rate < 1.0:
        raise ValueError(f"false_split_rate must lie in (0, 1), got {false_split_rate}")
    if mode_rule not in ("mcse", "rhat"):
        raise ValueError(f"unknown mode_rule {mode_rule!r}; use 'mcse' or 'rhat'")
    if canonical not in ("sort", "relabel"):
        raise ValueError(
            f"unknown canonical map {canonical!r}; use 'sort' or 'relabel'"
        )


def _check_superchains(ids: Any, chains: int) -> np.ndarray | None:
    if ids is None:
        return None
    ids = np.asarray(ids)
    if ids.shape != (chains,) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"superchain_ids must be {chains} integers (one per chain), got "
            f"shape {ids.shape} of {ids.dtype}"
        )
    counts = np.unique(ids, return_counts=True)[1]
    if counts.min() != counts.max() or counts.size < 2:
        raise ValueError(
            "superchain_ids need at least 2 superchains of equal size, got sizes "
            f"{counts.tolist()}"
        )
    return ids


def _canonical_and_raw(
    read: Draws, symmetry: Symmetry | None, method: str
) -> tuple[Any, Any]:
    """The canonical draws and the raw draws (``None`` if the run has none)."""
    if read.canonical:
        return read.params, read.raw
    if symmetry is None:
        raise ValueError(
            "these draws were not made by symbayes, so they are raw: pass "
            "symmetry=... (a Symmetry declared on the variable names, e.g. with "
            "symbayes.models.site_axis) or model=... to canonicalise them"
        )
    check_symmetry_variables(read.params, symmetry, "the draws")
    from symbayes.canonical import canonicalize, relabel

    raw = jax.tree_util.tree_map(np.asarray, read.params)
    if method == "relabel":
        canonical = relabel(raw, symmetry).draws
    else:
        canonical = canonicalize(raw, symmetry, "sort", batch_ndim=2)
    return jax.tree_util.tree_map(np.asarray, canonical), raw


def _source_log_likelihood(read: Draws) -> np.ndarray | None:
    """``(C, N)`` totals of an arviz ``log_likelihood`` group, if there is one."""
    if read.kind not in ("inference_data", "datatree"):
        return None
    from symbayes.draws import _group, _groups

    if "log_likelihood" not in _groups(read.source):
        return None
    group = _group(read.source, "log_likelihood")
    total = None
    for name in group.data_vars:
        array = group[name]
        if "chain" not in array.dims or "draw" not in array.dims:
            return None
        other = [dim for dim in array.dims if dim not in ("chain", "draw")]
        summed = array.sum(dim=other).transpose("chain", "draw").values
        total = summed if total is None else total + summed
    return None if total is None else np.asarray(total, dtype=np.float64)


def _per_draw(fn: Callable[[Any], Any], params: Any, what: str) -> np.ndarray:
    values = function_draws(lambda p: jnp.reshape(fn(p), (-1,))[:1], params)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"the {what} gives NaN or inf on some draws")
    return values[..., 0]


def diagnose(
    draws: Any,
    function: Callable[[Any], Any] | None = None,
    *,
    symmetry: Symmetry | None = None,
    model: Any = None,
    data: Any = None,
    threshold: float = DEFAULT_THRESHOLD,
    false_split_rate: float = DEFAULT_FALSE_SPLIT_RATE,
    mode_rule: str = "mcse",
    canonical: str = "sort",
    log_likelihood: Callable[[Any], Any] | None = None,
    superchain_ids: Sequence[int] | np.ndarray | None = None,
    var_names: Sequence[str] | None = None,
    group: str = "posterior",
) -> Diagnostics:
    """ESS, R-hat, modes and unseen-mode mass on raw, canonical, function coordinates.

    Args:
        draws: a :class:`~symbayes.results.SampleResult` (``draws`` are
            canonical, ``raw_draws`` raw or ``None``); an arviz
            ``InferenceData`` / ``DataTree`` (its ``posterior``; one written
            by symbayes is canonical with its ``raw_posterior``); an
            ``xarray.Dataset``; or a dict of arrays with leading axes
            ``(chain, draw)``. Draws not made by symbayes are the raw draws
            and are canonicalised with ``symmetry``.
        function: a callable of one params pytree returning invariant
            quantities (an array or a pytree of arrays). Default:
            ``model.function_fn(data)`` when ``model`` and ``data`` are given
            (predictions at probe inputs and the log-likelihood for the
            bundled models); else no function space.
        symmetry: the symmetry, declared on the variable names (as numpyro
            sites, :func:`~symbayes.models.site_axis`); default the source's
            (a SampleResult's) or ``model.symmetry``. Needed for draws not
            made by symbayes.
        model: a :class:`~symbayes.models.BayesianModel` for the default
            function, log-likelihood and symmetry.
        data: its training data: a tuple ``(X, y)`` or a
            :class:`~symbayes.datasets.Dataset` (its training split); default
            the data bound to ``model`` (numpyro models), if any.
        threshold: the R-hat threshold (``> 1``) whose limit sets the mode
            margin (:func:`~symbayes.diagnostics.margin_of_threshold`).
        false_split_rate: the largest probability that two chains of one mode
            are split (:func:`~symbayes.diagnostics.chain_separation`).
        mode_rule: ``"mcse"`` (default) or ``"rhat"`` (pairwise R-hat below
            the threshold, without Monte Carlo error; the first rule).
        canonical: the canonical map for raw draws: ``"sort"`` (as
            :func:`symbayes.sample`) or ``"relabel"`` (pivotal relabelling).
        log_likelihood: a callable of one params pytree giving its total
            log-likelihood, to check the mode representatives. Default: the
            last function value when the function is the model's; else the
            source's arviz ``log_likelihood`` group summed per draw; else none.
        superchain_ids: ``(C,)`` superchain of each chain (chains started
            from one point) for nested R-hat; equal-sized superchains.
        var_names: the variables of an arviz / xarray / dict input to use.
        group: the group of an InferenceData / DataTree holding the draws.

    Returns:
        :class:`Diagnostics`.

    Raises:
        ValueError: fewer than 2 chains or 4 draws (split R-hat needs them),
            a bad setting, raw draws without a symmetry, a symmetry naming a
            variable the draws lack, non-finite draws, or a function that
            gives non-finite values. All are checked before any compilation.
        TypeError: draws of an unknown kind.

    Example:
        >>> import numpy as np
        >>> from symbayes.models import MLP
        >>> rng = np.random.default_rng(0)
        >>> model = MLP((1, 2, 1), "tanh")
        >>> draws = {"W1": rng.normal(size=(4, 50, 1, 2)),
        ...          "b1": rng.normal(size=(4, 50, 2)),
        ...          "W2": rng.normal(size=(4, 50, 2, 1)),
        ...          "b2": rng.normal(size=(4, 50, 1))}
        >>> report = diagnose(draws, symmetry=model.symmetry)
        >>> report.num_chains, report.raw is not None
        (4, True)
    """
    _check_settings(threshold, false_split_rate, mode_rule, canonical)
    read = as_draws(draws, var_names=var_names, group=group)
    chains, num = read.num_chains, read.num_draws
    if chains < 2 or num < 4:
        raise ValueError(
            f"diagnostics need at least 2 chains and 4 draws per chain, got "
            f"{chains} chains x {num} draws"
        )
    superchains = _check_superchains(superchain_ids, chains)
    if symmetry is None:
        symmetry = read.symmetry or getattr(model, "symmetry", None)
    canonical_params, raw_params = _canonical_and_raw(read, symmetry, canonical)
    canonical_values, names = flatten_draws(canonical_params)
    raw_values = raw_names = None
    if raw_params is not None:
        raw_values, raw_names = flatten_draws(raw_params)
    from_model = False
    if function is None and model is not None:
        data = as_data_tuple(data if data is not None else getattr(model, "data", None))
        if data is not None:
            function, from_model = model.function_fn(data), True
    function_values = None
    if function is not None:
        function_values = function_draws(function, canonical_params)
        if not np.all(np.isfinite(function_values)):
            raise ValueError("the function gives NaN or inf on some draws")
    if log_likelihood is not None:
        loglik = _per_draw(log_likelihood, canonical_params, "log_likelihood")
    elif from_model:
        loglik = function_values[..., -1]
    else:
        loglik = _source_log_likelihood(read)
    context = _Context(
        canonical=canonical_values,
        unflatten=_unflattener(canonical_params),
        features=canonical_values if function_values is None else function_values,
        log_likelihood=loglik,
        threshold=threshold,
        false_split_rate=false_split_rate,
        rule=mode_rule,
        superchain_ids=superchains,
    )
    function_space = None
    if function_values is not None:
        function_names = tuple(f"f[{i}]" for i in range(function_values.shape[2]))
        function_space = _space("function", function_values, function_names, context)
    canonical_space = _space("canonical", canonical_values, names, context)
    raw_space = None
    if raw_values is not None:
        raw_space = _space("raw", raw_values, raw_names, context)
    redundant = tuple(
        chain for mode in canonical_space.modes.modes for chain in mode.chains[1:]
    )
    return Diagnostics(
        raw=raw_space,
        canonical=canonical_space,
        function=function_space,
        redundant_chains=tuple(sorted(redundant)),
        num_chains=chains,
        num_draws=num,
        threshold=threshold,
        false_split_rate=false_split_rate,
    )
