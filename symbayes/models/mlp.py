"""Bayesian multilayer perceptrons with their weight-space symmetry.

A network with hidden layers of sizes ``h_1, ..., h_{L-1}`` computes

.. math::

    z_0 = x, \\quad z_l = \\phi(z_{l-1} W_l + b_l) \\ (l < L), \\quad
    f(x) = z_{L-1} W_L + b_L .

Its outputs are unchanged by (Hecht-Nielsen 1990; Chen, Lu & Hecht-Nielsen
1993):

* permuting the units of any hidden layer (columns of ``W_l``, entries of
  ``b_l``, rows of ``W_{l+1}``), for every activation;
* flipping the sign of a unit's incoming weights, bias and outgoing weights
  when ``phi`` is odd (``tanh``, ``sin``, ``erf``, ``identity``);
* multiplying a unit's incoming weights and bias by ``a > 0`` and dividing its
  outgoing weights by ``a`` when ``phi`` is positively homogeneous
  (``relu``, ``leaky_relu``, ``identity``).

Under the i.i.d. Gaussian prior used here the first two are *posterior*
symmetries; the rescaling changes the prior (and is not volume preserving), so
it is a *function* symmetry only. :func:`symbayes.symmetry.classify_symmetry`
confirms this numerically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from symbayes.models.base import (
    BayesianModel,
    Data,
    Params,
    check_array,
    format_value,
    normal_logpdf,
)
from symbayes.models.base import probe_inputs as _probe_inputs
from symbayes.symmetry import AxisEntry, HiddenAxis, Symmetry

__all__ = ["ACTIVATIONS", "LIKELIHOODS", "MLP", "Activation", "Predictive"]


class Activation(NamedTuple):
    """A hidden-unit nonlinearity and the symmetries it implies.

    Attributes:
        fn: elementwise function.
        odd: ``phi(-x) = -phi(x)``: sign flips are symmetries.
        homogeneous: ``phi(a x) = a phi(x)`` for ``a > 0``: rescaling is a
            (function) symmetry.
    """

    fn: Callable[[jax.Array], jax.Array]
    odd: bool
    homogeneous: bool


def _identity(x: jax.Array) -> jax.Array:
    return x


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation(jnp.tanh, odd=True, homogeneous=False),
    "sin": Activation(jnp.sin, odd=True, homogeneous=False),
    "erf": Activation(jax.scipy.special.erf, odd=True, homogeneous=False),
    "identity": Activation(_identity, odd=True, homogeneous=True),
    "relu": Activation(jax.nn.relu, odd=False, homogeneous=True),
    "leaky_relu": Activation(jax.nn.leaky_relu, odd=False, homogeneous=True),
    "gelu": Activation(jax.nn.gelu, odd=False, homogeneous=False),
    "swish": Activation(jax.nn.silu, odd=False, homogeneous=False),
    "silu": Activation(jax.nn.silu, odd=False, homogeneous=False),
    "softplus": Activation(jax.nn.softplus, odd=False, homogeneous=False),
    "sigmoid": Activation(jax.nn.sigmoid, odd=False, homogeneous=False),
}
LIKELIHOODS = ("gaussian", "bernoulli", "categorical")


class Predictive(NamedTuple):
    """Posterior predictive quantities for a batch of draws.

    Attributes:
        mean: per draw, the predictive mean: the regression mean (gaussian) or
            the class probabilities (bernoulli: ``P(y = 1)``; categorical:
            one probability per class on a last axis).
        samples: one simulated observation per draw and input (real values,
            or int labels for the classification likelihoods).
    """

    mean: jax.Array
    samples: jax.Array


@dataclass(frozen=True)
class MLP(BayesianModel):
    """A fully connected Bayesian neural network with i.i.d. Gaussian priors.

    Params: ``{"W1": (d0, d1), "b1": (d1,), ..., "WL": (d_{L-1}, dL),
    "bL": (dL,)}``, plus ``"log_noise": ()`` for a gaussian likelihood whose
    noise is learned (``noise=None``).

    Priors: every weight and bias of layer ``l`` is i.i.d.
    ``Normal(0, prior_scale_l^2)``; ``log_noise ~ Normal(noise_prior[0],
    noise_prior[1]^2)`` placed directly on ``log_noise``.

    Likelihoods:
        * ``"gaussian"``: ``y ~ Normal(f(x), sigma^2)``; ``y`` of shape
          ``(n,)`` for one output or ``(n, d_out)``.
        * ``"bernoulli"``: one output, the logit of ``P(y = 1)``, ``y`` in
          ``{0, 1}``.
        * ``"categorical"``: ``d_out >= 2`` logits, ``y`` int labels.

    The symmetry (one axis ``"hidden_l"`` per hidden layer) is derived from
    the activation: permutations always; sign flips for odd activations;
    positive rescaling for positively homogeneous ones.

    Args:
        layer_sizes: ``(d_in, h_1, ..., h_{L-1}, d_out)``, at least one hidden
            layer.
        activation: one of :data:`ACTIVATIONS`.
        likelihood: one of :data:`LIKELIHOODS`.
        prior_scale: prior standard deviation, one for all layers or one per
            weight layer.
        noise: fixed observation noise standard deviation, or ``None`` to
            learn ``log_noise`` (gaussian likelihood only).
        noise_prior: ``(mean, std)`` of the Normal prior on ``log_noise``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = MLP((1, 3, 1), "tanh")
        >>> params = model.init(jax.random.key(0))
        >>> model.apply(params, jnp.zeros((5, 1))).shape
        (5, 1)
        >>> model.symmetry.axes[0].groups
        ('permutation', 'sign')
    """

    layer_sizes: Sequence[int]
    activation: str = "tanh"
    likelihood: str = "gaussian"
    prior_scale: float | Sequence[float] = 1.0
    noise: float | None = 0.1
    noise_prior: tuple[float, float] = (-1.0, 1.0)
    _symmetry: Symmetry = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sizes = tuple(self.layer_sizes)
        if len(sizes) < 3:
            raise ValueError(
                f"layer_sizes {sizes} has no hidden layer; an MLP needs at least "
                "one hidden layer, e.g. (d_in, 16, d_out) (a linear model has no "
                "hidden-unit symmetry)"
            )
        if any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"layer sizes must be positive integers, got {sizes}")
        sizes = tuple(int(s) for s in sizes)
        object.__setattr__(self, "layer_sizes", sizes)
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; known activations: "
                f"{', '.join(ACTIVATIONS)}"
            )
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(
                f"unknown likelihood {self.likelihood!r}; choose one of {LIKELIHOODS}"
            )
        num_layers = len(sizes) - 1
        scales = self.prior_scale
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
        object.__setattr__(self, "prior_scale", scales)
        d_out = sizes[-1]
        if self.likelihood == "bernoulli" and d_out != 1:
            raise ValueError(
                f"a bernoulli likelihood needs one output (a logit), got {d_out}"
            )
        if self.likelihood == "categorical" and d_out < 2:
            raise ValueError(
                f"a categorical likelihood needs one output per class (>= 2), "
                f"got {d_out}"
            )
        if self.noise is not None and not self.noise > 0:
            raise ValueError(f"noise must be positive or None, got {self.noise}")
        mean, std = self.noise_prior
        if not std > 0:
            raise ValueError(f"noise_prior std must be positive, got {std}")
        object.__setattr__(self, "noise_prior", (float(mean), float(std)))
        object.__setattr__(self, "_symmetry", self._build_symmetry())

    # ------------------------------------------------------------ structure
    @property
    def num_layers(self) -> int:
        """Number of weight layers ``L`` (hidden layers + 1)."""
        return len(self.layer_sizes) - 1

    @property
    def activation_is_odd(self) -> bool:
        """Whether sign flips of hidden units are symmetries."""
        return ACTIVATIONS[self.activation].odd

    @property
    def activation_is_homogeneous(self) -> bool:
        """Whether positive rescaling of hidden units is a (function) symmetry."""
        return ACTIVATIONS[self.activation].homogeneous

    @property
    def learns_noise(self) -> bool:
        """Whether ``log_noise`` is a parameter."""
        return self.likelihood == "gaussian" and self.noise is None

    @property
    def name(self) -> str:
        sizes = "-".join(str(s) for s in self.layer_sizes)
        return f"mlp_{sizes}_{self.activation}_{self.likelihood}"

    @property
    def symmetry(self) -> Symmetry:
        return self._symmetry

    def _build_symmetry(self) -> Symmetry:
        groups = ("permutation",)
        if self.activation_is_odd:
            groups += ("sign",)
        if self.activation_is_homogeneous:
            groups += ("scale",)
        axes = tuple(
            HiddenAxis(
                f"hidden_{layer}",
                self.layer_sizes[layer],
                (
                    AxisEntry(f"W{layer}", 1, "in"),
                    AxisEntry(f"b{layer}", 0, "in"),
                    AxisEntry(f"W{layer + 1}", 0, "out"),
                ),
                groups=groups,
            )
            for layer in range(1, self.num_layers)
        )
        return Symmetry(axes)

    # ------------------------------------------------------------ data
    def check_data(self, data: Data) -> None:
        """Check ``(X, y)`` against the layer sizes and the likelihood.

        ``X`` must be finite, of shape ``(n, d_in)``; ``y`` must have ``n``
        rows and suit the likelihood:

        * ``"gaussian"``: finite reals, ``(n,)`` (one output) or
          ``(n, d_out)``;
        * ``"bernoulli"``: ``(n,)`` labels in ``{0, 1}``;
        * ``"categorical"``: ``(n,)`` integer labels in ``[0, d_out)``
          (integer-valued floats, as a CSV gives them, are accepted).

        Args:
            data: ``(X, y)``.

        Raises:
            ValueError: naming the array, the expected shape, and for a bad
                entry its row and value.

        Example:
            >>> import numpy as np
            >>> model = MLP((2, 3, 1), likelihood="bernoulli")
            >>> model.check_data((np.zeros((3, 2)), np.array([0.0, 1.0, 0.5])))
            Traceback (most recent call last):
            ...
            ValueError: y must be 0 or 1 (bernoulli likelihood); row 2 is 0.5
        """
        X, y = self._data_arrays(data, expected=2)
        d_in, d_out = self.layer_sizes[0], self.layer_sizes[-1]
        sizes = "-".join(str(s) for s in self.layer_sizes)
        X = np.asarray(X)
        if X.ndim != 2:
            hint = " (reshape it: X[:, None])" if X.ndim == 1 and d_in == 1 else ""
            raise ValueError(
                f"X must have shape (n, {d_in}) for layer sizes {sizes}, got "
                f"shape {X.shape}{hint}"
            )
        if X.shape[1] != d_in:
            raise ValueError(
                f"X has {X.shape[1]} column(s) but layer sizes {sizes} take "
                f"{d_in} input(s): expected shape ({X.shape[0]}, {d_in}), got "
                f"{X.shape}"
            )
        X = check_array("X", X, ndim=2)
        n = X.shape[0]
        if self.likelihood == "gaussian":
            allowed = ((n,), (n, d_out)) if d_out == 1 else ((n, d_out),)
            y = check_array("y", y, ndim=(1, 2), rows=n)
            if y.shape not in allowed:
                raise ValueError(
                    f"y must have shape {' or '.join(map(str, allowed))} for "
                    f"{d_out} output(s), got {y.shape}"
                )
            return
        y = check_array("y", y, ndim=(1, 2), rows=n)
        if y.shape not in ((n,), (n, 1)):
            raise ValueError(
                f"y must hold one label per row, shape ({n},), got {y.shape}"
            )
        labels = y.reshape(-1)
        if self.likelihood == "bernoulli":
            bad = np.flatnonzero((labels != 0) & (labels != 1))
            if bad.size:
                raise ValueError(
                    "y must be 0 or 1 (bernoulli likelihood); "
                    f"row {bad[0]} is {format_value(labels[bad[0]])}"
                    + (f" ({bad.size} such rows)" if bad.size > 1 else "")
                )
            return
        bad = np.flatnonzero(
            (labels != np.round(labels)) | (labels < 0) | (labels >= d_out)
        )
        if bad.size:
            raise ValueError(
                f"y must hold integer class labels 0 to {d_out - 1} for a "
                f"categorical likelihood with {d_out} outputs; row {bad[0]} is "
                f"{format_value(labels[bad[0]])}"
                + (f" ({bad.size} such rows)" if bad.size > 1 else "")
            )

    # ------------------------------------------------------------ model
    def init(self, key: jax.Array, data: Data | None = None) -> Params:
        """A draw from the prior (``data`` is ignored).

        Args:
            key: a JAX PRNG key.
            data: unused.

        Returns:
            Weights and biases ``~ Normal(0, prior_scale_l^2)``, and
            ``log_noise ~ Normal(*noise_prior)`` when the noise is learned.
        """
        keys = jax.random.split(key, 2 * self.num_layers + 1)
        params: Params = {}
        for layer in range(1, self.num_layers + 1):
            d_in, d_out = self.layer_sizes[layer - 1], self.layer_sizes[layer]
            scale = self.prior_scale[layer - 1]
            k_w, k_b = keys[2 * layer - 2], keys[2 * layer - 1]
            params[f"W{layer}"] = scale * jax.random.normal(k_w, (d_in, d_out))
            params[f"b{layer}"] = scale * jax.random.normal(k_b, (d_out,))
        if self.learns_noise:
            mean, std = self.noise_prior
            params["log_noise"] = mean + std * jax.random.normal(keys[-1], ())
        return params

    def apply(self, params: Params, X: jax.Array) -> jax.Array:
        """Network outputs (regression means or logits), shape ``(n, d_out)``.

        Args:
            params: one params pytree.
            X: inputs, shape ``(n, d_in)``.

        Returns:
            ``f(X)``, shape ``(n, d_out)``.
        """
        phi = ACTIVATIONS[self.activation].fn
        hidden = X
        for layer in range(1, self.num_layers):
            hidden = phi(hidden @ params[f"W{layer}"] + params[f"b{layer}"])
        last = self.num_layers
        return hidden @ params[f"W{last}"] + params[f"b{last}"]

    def noise_std(self, params: Params) -> jax.Array:
        """The gaussian observation noise standard deviation ``sigma``."""
        if self.learns_noise:
            return jnp.exp(params["log_noise"])
        dtype = params["W1"].dtype
        return jnp.asarray(self.noise if self.noise is not None else 1.0, dtype)

    def log_prior(self, params: Params) -> jax.Array:
        """``sum_l sum log Normal(W_l, b_l; 0, s_l^2)`` (+ the ``log_noise`` prior)."""
        total = jnp.zeros((), params["W1"].dtype)
        for layer in range(1, self.num_layers + 1):
            scale = self.prior_scale[layer - 1]
            for leaf in (params[f"W{layer}"], params[f"b{layer}"]):
                total = total + jnp.sum(normal_logpdf(leaf, 0.0, scale))
        if self.learns_noise:
            mean, std = self.noise_prior
            total = total + normal_logpdf(params["log_noise"], mean, std)
        return total

    def log_likelihood(self, params: Params, batch: Data) -> jax.Array:
        """Per-datum log-likelihood of ``batch = (X, y)``, shape ``(n,)``.

        Args:
            params: one params pytree.
            batch: inputs ``(n, d_in)`` and targets (``(n,)`` or
                ``(n, d_out)`` reals; ``(n,)`` 0/1 labels; ``(n,)`` int classes).

        Returns:
            ``log p(y_i | x_i, theta)`` for every row.
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
            For a Gaussian likelihood ``f(X)``, shape ``(n,)`` for one output
            else ``(n, d_out)``; for Bernoulli ``P(y = 1)``, shape ``(n,)``;
            for categorical the class probabilities, shape ``(n, d_out)``.
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

        Probe inputs (:func:`symbayes.models.base.probe_inputs`): evenly spaced
        over the training range for one input, else a fixed subset of training
        rows. Both quantities are invariant under every function symmetry.

        Args:
            data: ``(X, y)`` training data.
            num_probe: number of probe inputs.

        Returns:
            ``params -> concat(ravel(mean at probes), [sum_i log p(y_i|x_i)])``.
        """
        probes = _probe_inputs(data[0], num_probe)

        def function(params: Params) -> jax.Array:
            predictions = jnp.ravel(self.predictive_mean(params, probes))
            total = jnp.sum(self.log_likelihood(params, data))
            return jnp.concatenate([predictions, total[None].astype(predictions.dtype)])

        return function

    def predictive(
        self, params_draws: Params, X: jax.Array, key: jax.Array
    ) -> Predictive:
        """Posterior predictive means and one simulated observation per draw.

        Args:
            params_draws: params with any leading batch axes, e.g.
                ``(chains, draws)``.
            X: inputs, shape ``(n, d_in)``.
            key: PRNG key for the simulated observations.

        Returns:
            A :class:`Predictive` whose arrays have the draws' batch axes
            first, then ``n`` (then ``d_out`` for multi-output regression
            and for categorical probabilities).
        """
        batch_shape = params_draws["W1"].shape[:-2]
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
