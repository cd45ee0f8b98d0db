"""What the supervised networks beyond the MLP share: likelihoods, priors, heads.

:class:`SupervisedNetwork` gives a network defined by :meth:`apply` (outputs
or logits) and :meth:`leaf_shapes` (its parameters) the i.i.d. Gaussian prior,
the three likelihoods of :class:`~symbayes.models.MLP`, predictive helpers,
function-space probes and the canonical form of the *posterior* symmetry
(the finite :attr:`symmetry` and, when the model has one, the orthogonal
part of :attr:`continuous_symmetry`). The dense-head helpers build the fully
connected layers that end a convolutional or attention network, with the
hidden-unit axes of an MLP.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.models.base import BayesianModel, Data, Params, normal_logpdf
from symbayes.models.mlp import ACTIVATIONS, LIKELIHOODS, Predictive
from symbayes.symmetry import (
    AxisEntry,
    ContinuousSymmetry,
    HiddenAxis,
    canonicalize_continuous,
)

__all__ = [
    "SupervisedNetwork",
    "activation_groups",
    "check_activation",
    "check_input_shape",
    "check_likelihood",
    "check_prior_scales",
    "check_sizes",
    "dense_apply",
    "dense_axes",
    "dense_shapes",
    "probe_rows",
    "reshape_inputs",
]


def check_sizes(what: str, sizes: Sequence[int], minimum_length: int = 1) -> tuple:
    """Positive integer sizes, at least ``minimum_length`` of them."""
    try:
        sizes = tuple(sizes)
    except TypeError as error:
        raise ValueError(f"{what} must be a sequence of ints, got {sizes!r}") from error
    if len(sizes) < minimum_length:
        raise ValueError(f"{what} needs at least {minimum_length} entries, got {sizes}")
    if any(
        isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1
        for s in sizes
    ):
        raise ValueError(f"{what} must be positive integers, got {sizes}")
    return tuple(int(s) for s in sizes)


def check_input_shape(input_shape: Sequence[int], ndims: tuple[int, ...]) -> tuple:
    """A per-example input shape of one of the allowed lengths."""
    shape = check_sizes("input_shape", input_shape)
    if len(shape) not in ndims:
        raise ValueError(
            f"input_shape {shape} must have {' or '.join(str(n) for n in ndims)} "
            "entries"
        )
    return shape


def check_activation(activation: str) -> str:
    """A key of :data:`~symbayes.models.mlp.ACTIVATIONS`."""
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; known activations: "
            f"{', '.join(ACTIVATIONS)}"
        )
    return activation


def activation_groups(activation: str, sign: bool = True) -> tuple[str, ...]:
    """Groups of a hidden unit: permutation; sign if odd; scale if homogeneous."""
    groups: tuple[str, ...] = ("permutation",)
    if sign and ACTIVATIONS[activation].odd:
        groups += ("sign",)
    if ACTIVATIONS[activation].homogeneous:
        groups += ("scale",)
    return groups


def check_likelihood(
    likelihood: str,
    num_outputs: int,
    noise: float | None,
    noise_prior: tuple[float, float],
) -> tuple[float, float]:
    """Validate the likelihood settings; returns ``noise_prior`` as floats."""
    if likelihood not in LIKELIHOODS:
        raise ValueError(
            f"unknown likelihood {likelihood!r}; choose one of {LIKELIHOODS}"
        )
    if likelihood == "bernoulli" and num_outputs != 1:
        raise ValueError(
            f"a bernoulli likelihood needs one output (a logit), got {num_outputs}"
        )
    if likelihood == "categorical" and num_outputs < 2:
        raise ValueError(
            "a categorical likelihood needs one output per class (>= 2), got "
            f"{num_outputs}"
        )
    if noise is not None and not noise > 0:
        raise ValueError(f"noise must be positive or None, got {noise}")
    try:
        mean, std = noise_prior
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"noise_prior must be (mean, std), got {noise_prior}"
        ) from error
    if not std > 0:
        raise ValueError(f"noise_prior std must be positive, got {std}")
    return float(mean), float(std)


def check_prior_scales(
    prior_scale: float | Sequence[float], num_layers: int
) -> tuple[float, ...]:
    """One positive, finite prior standard deviation per weight layer."""
    scales = prior_scale
    if np.ndim(scales) == 0:
        scales = (scales,) * num_layers
    scales = tuple(float(s) for s in scales)
    if len(scales) != num_layers:
        raise ValueError(
            f"prior_scale has {len(scales)} entries but the network has "
            f"{num_layers} weight layers"
        )
    if not all(s > 0 and math.isfinite(s) for s in scales):
        raise ValueError(f"prior_scale must be positive and finite, got {scales}")
    return scales


def probe_rows(X: jax.Array, num_probe: int = 16) -> jax.Array:
    """A fixed, evenly strided subset of ``min(num_probe, n)`` rows of ``X``."""
    if num_probe < 1:
        raise ValueError(f"num_probe must be >= 1, got {num_probe}")
    X = jnp.asarray(X)
    rows = np.unique(np.linspace(0, X.shape[0] - 1, min(num_probe, X.shape[0])))
    return X[rows.round().astype(int)]


# ------------------------------------------------------------------ dense head
def dense_shapes(
    prefix: str, sizes: Sequence[int], first_shape: tuple[int, ...] | None = None
) -> dict[str, tuple[int, ...]]:
    """Weights ``{prefix}W{l}`` and biases ``{prefix}b{l}`` of a dense stack.

    ``sizes = (d_0, ..., d_L)``; the first weight has shape
    ``(*first_shape, d_1)`` when ``first_shape`` is given (the flattened
    feature map of a convolutional network, kept as real axes), else
    ``(d_0, d_1)``.
    """
    shapes = {}
    for layer in range(1, len(sizes)):
        rows = (sizes[layer - 1],) if layer > 1 or first_shape is None else first_shape
        shapes[f"{prefix}W{layer}"] = (*rows, sizes[layer])
        shapes[f"{prefix}b{layer}"] = (sizes[layer],)
    return shapes


def dense_apply(
    params: Params,
    prefix: str,
    num_layers: int,
    phi: Callable[[jax.Array], jax.Array],
    inputs: jax.Array,
) -> jax.Array:
    """``phi`` after every layer but the last; ``inputs`` ``(n, *first rows)``."""
    hidden = inputs
    for layer in range(1, num_layers + 1):
        weight = params[f"{prefix}W{layer}"]
        flat = hidden.reshape(hidden.shape[0], -1)
        hidden = (
            flat @ weight.reshape(-1, weight.shape[-1]) + params[f"{prefix}b{layer}"]
        )
        if layer < num_layers:
            hidden = phi(hidden)
    return hidden


def dense_axes(
    prefix: str, sizes: Sequence[int], groups: tuple[str, ...]
) -> tuple[HiddenAxis, ...]:
    """One hidden axis per hidden layer of a dense stack (as in the MLP)."""
    return tuple(
        HiddenAxis(
            f"{prefix}hidden_{layer}",
            sizes[layer],
            (
                AxisEntry(f"{prefix}W{layer}", -1, "in"),
                AxisEntry(f"{prefix}b{layer}", 0, "in"),
                AxisEntry(f"{prefix}W{layer + 1}", 0, "out"),
            ),
            groups=groups,
        )
        for layer in range(1, len(sizes) - 1)
    )


# ------------------------------------------------------------------ the model
class SupervisedNetwork(BayesianModel):
    """A network with i.i.d. Gaussian priors and the likelihoods of the MLP.

    Subclasses are frozen dataclasses with fields ``likelihood``, ``noise``
    and ``noise_prior`` and implement :meth:`leaf_shapes`,
    :meth:`prior_scales` (per leaf), :meth:`apply`, :attr:`num_outputs` and
    :attr:`symmetry`; :attr:`continuous_symmetry` defaults to none.

    Likelihoods: ``"gaussian"`` (``y ~ Normal(f(x), sigma^2)``, ``sigma``
    fixed to ``noise`` or learned as ``log_noise`` with prior
    ``Normal(*noise_prior)`` when ``noise=None``), ``"bernoulli"`` (one logit)
    and ``"categorical"`` (one logit per class, int labels).
    """

    likelihood: str
    noise: float | None
    noise_prior: tuple[float, float]

    @abc.abstractmethod
    def leaf_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every weight and bias leaf (``log_noise`` excluded)."""

    @abc.abstractmethod
    def prior_scales(self) -> dict[str, float]:
        """Prior standard deviation of every leaf of :meth:`leaf_shapes`."""

    @abc.abstractmethod
    def apply(self, params: Params, X: jax.Array) -> jax.Array:
        """Network outputs (regression means or logits), shape ``(n, d_out)``."""

    @property
    @abc.abstractmethod
    def num_outputs(self) -> int:
        """Number of outputs ``d_out``."""

    @property
    def continuous_symmetry(self) -> ContinuousSymmetry | None:
        """Continuous groups of the parameters (diagnosed, not quotiented)."""
        return None

    @property
    def learns_noise(self) -> bool:
        """Whether ``log_noise`` is a parameter."""
        return self.likelihood == "gaussian" and self.noise is None

    # ------------------------------------------------------------ prior
    def init(self, key: jax.Array, data: Data | None = None) -> Params:
        """A draw from the prior (``data`` is ignored).

        Args:
            key: a JAX PRNG key.
            data: unused.

        Returns:
            Every leaf ``~ Normal(0, s^2)`` with its prior scale ``s``, and
            ``log_noise ~ Normal(*noise_prior)`` when the noise is learned.
        """
        shapes = self.leaf_shapes()
        scales = self.prior_scales()
        keys = jax.random.split(key, len(shapes) + 1)
        params: Params = {
            name: scales[name] * jax.random.normal(k, shape)
            for (name, shape), k in zip(shapes.items(), keys[:-1], strict=True)
        }
        if self.learns_noise:
            mean, std = self.noise_prior
            params["log_noise"] = mean + std * jax.random.normal(keys[-1], ())
        return params

    def log_prior(self, params: Params) -> jax.Array:
        """``sum_leaves log Normal(leaf; 0, s^2)`` (+ the ``log_noise`` prior)."""
        scales = self.prior_scales()
        first = next(iter(scales))
        total = jnp.zeros((), params[first].dtype)
        for name, scale in scales.items():
            total = total + jnp.sum(normal_logpdf(params[name], 0.0, scale))
        if self.learns_noise:
            mean, std = self.noise_prior
            total = total + normal_logpdf(params["log_noise"], mean, std)
        return total

    # ------------------------------------------------------------ likelihood
    def noise_std(self, params: Params) -> jax.Array:
        """The gaussian observation noise standard deviation ``sigma``."""
        if self.learns_noise:
            return jnp.exp(params["log_noise"])
        dtype = params[next(iter(self.leaf_shapes()))].dtype
        return jnp.asarray(self.noise if self.noise is not None else 1.0, dtype)

    def log_likelihood(self, params: Params, batch: Data) -> jax.Array:
        """Per-datum log-likelihood of ``batch = (X, y)``, shape ``(n,)``.

        Args:
            params: one params pytree.
            batch: inputs and targets (``(n,)`` or ``(n, d_out)`` reals;
                ``(n,)`` 0/1 labels; ``(n,)`` int classes).

        Returns:
            ``log p(y_i | x_i, theta)`` for every row.

        Raises:
            ValueError: targets whose shape does not fit the outputs.
        """
        X, y = batch
        outputs = self.apply(params, X)
        if self.likelihood == "gaussian":
            if y.ndim == 1:
                if outputs.shape[1] != 1:
                    raise ValueError(
                        f"targets of shape {y.shape} need one output; the network "
                        f"has {outputs.shape[1]}"
                    )
                outputs = outputs[:, 0]
            log_density = normal_logpdf(y, outputs, self.noise_std(params))
            return log_density.reshape(log_density.shape[0], -1).sum(axis=1)
        if self.likelihood == "bernoulli":
            logits = outputs[:, 0]
            y = jnp.reshape(y, logits.shape).astype(logits.dtype)
            return y * jax.nn.log_sigmoid(logits) + (1 - y) * jax.nn.log_sigmoid(
                -logits
            )
        log_probs = jax.nn.log_softmax(outputs, axis=1)
        labels = jnp.reshape(y, (-1, 1)).astype(jnp.int32)
        return jnp.take_along_axis(log_probs, labels, axis=1)[:, 0]

    def predictive_mean(self, params: Params, X: jax.Array) -> jax.Array:
        """Predictive mean at ``X`` for one draw.

        Returns:
            Gaussian: ``f(X)``, ``(n,)`` for one output else ``(n, d_out)``;
            Bernoulli: ``P(y = 1)``, ``(n,)``; categorical: the class
            probabilities, ``(n, d_out)``.
        """
        outputs = self.apply(params, X)
        if self.likelihood == "gaussian":
            return outputs[:, 0] if outputs.shape[1] == 1 else outputs
        if self.likelihood == "bernoulli":
            return jax.nn.sigmoid(outputs[:, 0])
        return jax.nn.softmax(outputs, axis=1)

    def function_fn(
        self, data: Data, num_probe: int = 16
    ) -> Callable[[Params], jax.Array]:
        """Predictive means at probe inputs and the total log-likelihood.

        Probe inputs: a fixed, evenly strided subset of training rows
        (:func:`probe_rows`). Both quantities are invariant under every
        function symmetry, continuous ones included.

        Args:
            data: ``(X, y)`` training data.
            num_probe: number of probe inputs.

        Returns:
            ``params -> concat(ravel(mean at probes), [sum_i log p(y_i|x_i)])``.
        """
        probes = probe_rows(data[0], num_probe)

        def function(params: Params) -> jax.Array:
            predictions = jnp.ravel(self.predictive_mean(params, probes))
            total = jnp.sum(self.log_likelihood(params, data))
            return jnp.concatenate([predictions, total[None].astype(predictions.dtype)])

        return function

    def log_predictive_density(self, params_draws: Params, data: Data) -> jax.Array:
        """Log pointwise predictive density ``log mean_s p(y_i | x_i, theta_s)``.

        Args:
            params_draws: params with any leading batch axes (all draws are
                pooled).
            data: ``(X, y)``, e.g. a test set.

        Returns:
            One value per row of ``data``, shape ``(n,)``; its mean is the
            test log predictive density per datum.
        """
        first = next(iter(self.leaf_shapes()))
        batch_ndim = params_draws[first].ndim - len(self.leaf_shapes()[first])
        flat = jax.tree_util.tree_map(
            lambda leaf: leaf.reshape((-1, *leaf.shape[batch_ndim:])), params_draws
        )
        per_draw = jax.lax.map(lambda p: self.log_likelihood(p, data), flat)
        return jax.scipy.special.logsumexp(per_draw, axis=0) - math.log(
            per_draw.shape[0]
        )

    def predictive(
        self, params_draws: Params, X: jax.Array, key: jax.Array
    ) -> Predictive:
        """Posterior predictive means and one simulated observation per draw.

        Args:
            params_draws: params with any leading batch axes, e.g.
                ``(chains, draws)``.
            X: inputs.
            key: PRNG key for the simulated observations.

        Returns:
            A :class:`~symbayes.models.Predictive` whose arrays have the
            draws' batch axes first, then ``n`` (then ``d_out`` for
            multi-output regression and categorical probabilities).
        """
        first = next(iter(self.leaf_shapes()))
        batch_shape = params_draws[first].shape[
            : params_draws[first].ndim - len(self.leaf_shapes()[first])
        ]
        num_draws = math.prod(batch_shape)
        flat = jax.tree_util.tree_map(
            lambda leaf: leaf.reshape((num_draws, *leaf.shape[len(batch_shape) :])),
            params_draws,
        )
        keys = jax.random.split(key, num_draws)
        mean, samples = jax.vmap(self._predict_one, in_axes=(0, None, 0))(flat, X, keys)
        return Predictive(
            mean.reshape(batch_shape + mean.shape[1:]),
            samples.reshape(batch_shape + samples.shape[1:]),
        )

    def _predict_one(
        self, params: Params, X: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        mean = self.predictive_mean(params, X)
        if self.likelihood == "gaussian":
            noise = jax.random.normal(key, mean.shape, mean.dtype)
            return mean, mean + self.noise_std(params) * noise
        logits = self.apply(params, X)
        if self.likelihood == "bernoulli":
            return mean, jax.random.bernoulli(key, mean).astype(jnp.int32)
        return mean, jax.random.categorical(key, logits, axis=1).astype(jnp.int32)

    # ------------------------------------------------------------ canonical
    def canonicalize(
        self,
        params: Params,
        batch_ndim: int = 0,
        continuous: Literal["orthogonal", "general_linear"] = "orthogonal",
    ) -> Params:
        """Canonical form under the *posterior* (or the function) symmetry.

        First the ``continuous`` part of :attr:`continuous_symmetry`, if any
        (:func:`~symbayes.symmetry.canonicalize_continuous`), then the sort
        map of the finite :attr:`symmetry`
        (:func:`~symbayes.canonical.canonicalize`; without its rescaling for
        ``"orthogonal"``: rescaling is no posterior symmetry). The continuous map
        commutes with the finite group (it is equivariant under it, or the
        finite group lies inside it), so the composite is invariant under
        both; it keeps the function. With ``"orthogonal"`` (default) the
        result is a canonical form under the posterior symmetry; with
        ``"general_linear"`` under the larger function symmetry: coordinates
        that depend on the function (e.g. on ``W_Q W_K^T``) rather than on
        where a chain sits along a ``GL`` ridge of the posterior, which is not
        a symmetry of the posterior and mixes slowly. Apply it to the draws of a run
        (``result.draws``) to diagnose in these coordinates, e.g.
        ``symbayes.diagnose(dataclasses.replace(result,
        draws=model.canonicalize(result.draws, batch_ndim=2)), model=model,
        data=data)``.

        Args:
            params: params with ``batch_ndim`` leading batch axes.
            batch_ndim: number of leading batch axes.
            continuous: which continuous canonical form to apply first.

        Returns:
            Canonical params, same structure.

        Raises:
            SymmetryError: no canonical form of that group for this model
                (e.g. ``general_linear`` with two hidden layers).
        """
        from symbayes.canonical import canonicalize

        matrix_groups = self.continuous_symmetry
        if matrix_groups is not None:
            params = canonicalize_continuous(
                params, matrix_groups, continuous, batch_ndim=batch_ndim
            )
        finite = self.symmetry
        if continuous == "orthogonal":
            # rescaling is no posterior symmetry and would leave the O(h) orbit
            finite = finite.without_scale()
        return canonicalize(params, finite, "sort", batch_ndim=batch_ndim)


def reshape_inputs(X: jax.Array, input_shape: tuple[int, ...]) -> jax.Array:
    """``X`` as ``(n, *input_shape)``, from that shape or flattened ``(n, prod)``.

    Raises:
        ValueError: naming the expected shapes.
    """
    if tuple(X.shape[1:]) == input_shape:
        return X
    if X.ndim == 2 and X.shape[1] == math.prod(input_shape):
        return X.reshape((X.shape[0], *input_shape))
    raise ValueError(
        f"inputs of shape {tuple(X.shape)} fit neither (n, *input_shape) = "
        f"(n, {', '.join(str(s) for s in input_shape)}) nor the flattened "
        f"(n, {math.prod(input_shape)})"
    )
