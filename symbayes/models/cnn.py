"""Bayesian convolutional networks (1-D and 2-D) with their channel symmetries.

A network of ``L`` convolution layers and a dense head computes, for an input
``x`` of shape ``(*spatial, c_0)``,

.. math::

    z_l = \\mathrm{pool}\\big(\\phi(z_{l-1} * K_l + b_l)\\big),\\quad
    (z * K)[p, c] = \\sum_{q, i} z[p + q, i]\\, K[q, i, c],

then flattens ``z_L`` (shape ``(*S, c_L)``) into a dense stack
``f = \\mathrm{MLP}(z_L)``. The first dense weight is stored as
``(*S, c_L, d_1)``, so the channel axis of the last feature map stays a real
array axis.

Symmetries of hidden channel ``c`` of conv layer ``l`` (derived, not assumed):

* **permutation** of the output channels: ``K_l[..., c]`` and ``b_l[c]``
  move with the in-channel slice of the next layer (``K_{l+1}[..., c, :]`` or,
  after the last convolution, the block of rows ``W_1[..., c, :]`` of the
  dense head that the flatten step maps channel ``c`` to). Convolution,
  pointwise activation and pooling act on each channel alike, so this holds
  for every activation and pooling.
* **sign flip** for an odd ``phi``: ``phi(-z) = -phi(z)`` and a linear
  pooling (average, or none) commutes with negation. *Max pooling does not*
  (``max(-x) = -min(x)``), so a tanh network with max pooling has no sign
  symmetry, and none is declared.
* **positive scaling** for a positively homogeneous ``phi`` (ReLU): ``K_l[...,
  c], b_l[c]`` times ``a > 0``, the next layer's in-channel slice divided by
  ``a``; average and max pooling are both positively homogeneous. A function
  symmetry only: it changes the Gaussian prior (and volume).
* **GL(c_l)** for ``phi = identity`` without max pooling: channel mixing by
  any invertible matrix passes through a linear network (function symmetry;
  its orthogonal part is a posterior symmetry under the Gaussian prior). It
  is reported in :attr:`CNN.continuous_symmetry`, not quotiented.

The hidden units of the dense head have the MLP symmetries. Permutations and
sign flips are exact posterior symmetries under the i.i.d. Gaussian prior;
:func:`~symbayes.symmetry.classify_symmetry` confirms every claim
numerically. Padding with zeros keeps all of them (``-0 = 0``, ``a 0 = 0``).

References:
    Zhao, Walters & Yu (2025), "Symmetry in neural network parameter spaces";
    Izmailov, Vikram, Hoffman & Wilson (2021), "What are Bayesian neural
    network posteriors really like?" (HMC on convolutional networks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.models._network import (
    SupervisedNetwork,
    activation_groups,
    check_activation,
    check_input_shape,
    check_likelihood,
    check_prior_scales,
    check_sizes,
    dense_apply,
    dense_axes,
    dense_shapes,
    reshape_inputs,
)
from symbayes.models.base import Params
from symbayes.models.mlp import ACTIVATIONS
from symbayes.symmetry import (
    AxisEntry,
    ContinuousSymmetry,
    HiddenAxis,
    MatrixAxis,
    MatrixEntry,
    Symmetry,
)

__all__ = ["CNN", "POOLINGS"]

POOLINGS = (None, "max", "avg")
_PADDINGS = ("SAME", "VALID")
_DIMENSION_NUMBERS = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}


@dataclass(frozen=True)
class CNN(SupervisedNetwork):
    """A Bayesian convolutional network (1-D or 2-D) with a dense head.

    Params: ``conv_W{l}`` of shape ``(*kernel, c_{l-1}, c_l)`` and
    ``conv_b{l}`` ``(c_l,)`` for each convolution; ``dense_W1`` of shape
    ``(*S, c_L, d_1)`` (``S`` the spatial shape of the last feature map),
    ``dense_b1``, then ``dense_W{l}`` ``(d_{l-1}, d_l)``, ``dense_b{l}``;
    ``log_noise`` for a gaussian likelihood with learned noise.

    Priors: every leaf of weight layer ``l`` (convolutions first, then dense
    layers) i.i.d. ``Normal(0, prior_scale_l^2)``.

    Symmetry (derived, see the module docstring): one axis ``channels_{l}``
    per convolution (permutation; sign for an odd activation without max
    pooling; scale for a homogeneous one), one axis ``dense_hidden_{l}`` per
    hidden dense layer (as in the MLP). Sort and sign key of a channel: its
    bias.

    Args:
        input_shape: per-example input shape, ``(length, channels)`` or
            ``(height, width, channels)``. Inputs may come in that shape or
            flattened to ``(n, prod(input_shape))`` (a
            :class:`~symbayes.datasets.Dataset`).
        channels: output channels of each convolution (at least one).
        dense: widths of the dense head: hidden layers, then the number of
            outputs (at least the outputs).
        kernel_size: one int for every spatial axis, or one per axis.
        activation: one of :data:`~symbayes.models.mlp.ACTIVATIONS` (after
            every convolution and hidden dense layer).
        pooling: ``None``, ``"max"`` or ``"avg"`` after every convolution,
            window and stride ``pool_size`` (a remainder is dropped).
        pool_size: pooling window per spatial axis.
        padding: ``"SAME"`` (zeros) or ``"VALID"``.
        likelihood: ``"gaussian"``, ``"bernoulli"`` or ``"categorical"``.
        prior_scale: one prior standard deviation, or one per weight layer.
        noise: fixed gaussian noise standard deviation, or ``None`` to learn it.
        noise_prior: ``(mean, std)`` of the Normal prior on ``log_noise``.

    Raises:
        ValueError: at construction, naming the bad argument (an unknown
            activation, pooling or padding, a feature map that shrinks to
            nothing, a likelihood that does not fit the outputs, ...).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = CNN((16, 1), channels=(3,), dense=(2,), pooling="avg",
        ...             likelihood="categorical")
        >>> params = model.init(jax.random.key(0))
        >>> params["dense_W1"].shape  # (length after pooling, channels, out)
        (8, 3, 2)
        >>> model.apply(params, jnp.zeros((5, 16))).shape
        (5, 2)
        >>> model.symmetry.axes[0].groups
        ('permutation', 'sign')
    """

    input_shape: Sequence[int]
    channels: Sequence[int]
    dense: Sequence[int] = (1,)
    kernel_size: int | Sequence[int] = 3
    activation: str = "tanh"
    pooling: str | None = None
    pool_size: int = 2
    padding: str = "SAME"
    likelihood: str = "gaussian"
    prior_scale: float | Sequence[float] = 1.0
    noise: float | None = 0.1
    noise_prior: tuple[float, float] = (-1.0, 1.0)
    _shapes: dict = field(init=False, repr=False, compare=False)
    _symmetry: Symmetry = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shape = check_input_shape(self.input_shape, (2, 3))
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "channels", check_sizes("channels", self.channels))
        object.__setattr__(self, "dense", check_sizes("dense", self.dense))
        check_activation(self.activation)
        spatial_ndim = len(shape) - 1
        kernel = self.kernel_size
        if np.ndim(kernel) == 0:
            kernel = (kernel,) * spatial_ndim
        kernel = check_sizes("kernel_size", kernel)
        if len(kernel) != spatial_ndim:
            raise ValueError(
                f"kernel_size {kernel} needs one entry per spatial axis "
                f"({spatial_ndim})"
            )
        object.__setattr__(self, "kernel_size", kernel)
        if self.pooling not in POOLINGS:
            raise ValueError(
                f"unknown pooling {self.pooling!r}; choose from {POOLINGS}"
            )
        check_sizes("pool_size", (self.pool_size,))
        if self.padding not in _PADDINGS:
            raise ValueError(
                f"unknown padding {self.padding!r}; choose from {_PADDINGS}"
            )
        noise_prior = check_likelihood(
            self.likelihood, self.dense[-1], self.noise, self.noise_prior
        )
        object.__setattr__(self, "noise_prior", noise_prior)
        num_layers = len(self.channels) + len(self.dense)
        scales = check_prior_scales(self.prior_scale, num_layers)
        object.__setattr__(self, "prior_scale", scales)
        object.__setattr__(self, "_shapes", self._build_shapes())
        object.__setattr__(self, "_symmetry", self._build_symmetry())

    # ------------------------------------------------------------ structure
    @property
    def spatial_ndim(self) -> int:
        """Number of spatial axes: 1 (signals) or 2 (images)."""
        return len(self.input_shape) - 1

    @property
    def num_outputs(self) -> int:
        return self.dense[-1]

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """Spatial shape ``S`` of the last feature map (before the flatten)."""
        return self._shapes["dense_W1"][: self.spatial_ndim]

    @property
    def name(self) -> str:
        spatial = "x".join(str(s) for s in self.input_shape[:-1])
        channels = "-".join(str(c) for c in self.channels)
        dense = "-".join(str(d) for d in self.dense)
        pooling = f"_{self.pooling}pool" if self.pooling else ""
        return (
            f"cnn{self.spatial_ndim}d_{spatial}_c{channels}_d{dense}_"
            f"{self.activation}{pooling}_{self.likelihood}"
        )

    @property
    def symmetry(self) -> Symmetry:
        return self._symmetry

    @property
    def channel_groups(self) -> tuple[str, ...]:
        """Groups of a hidden channel: no sign flips under max pooling."""
        return activation_groups(self.activation, sign=self.pooling != "max")

    def _build_shapes(self) -> dict[str, tuple[int, ...]]:
        spatial = list(self.input_shape[:-1])
        shapes: dict[str, tuple[int, ...]] = {}
        in_channels = self.input_shape[-1]
        for layer, out_channels in enumerate(self.channels, start=1):
            shapes[f"conv_W{layer}"] = (*self.kernel_size, in_channels, out_channels)
            shapes[f"conv_b{layer}"] = (out_channels,)
            if self.padding == "VALID":
                spatial = [s - k + 1 for s, k in zip(spatial, self.kernel_size)]
            if self.pooling is not None:
                spatial = [s // self.pool_size for s in spatial]
            if min(spatial) < 1:
                raise ValueError(
                    f"the feature map of convolution {layer} has spatial shape "
                    f"{tuple(spatial)}: the input {self.input_shape} is too small "
                    "for this kernel_size / padding / pooling"
                )
            in_channels = out_channels
        sizes = (math.prod(spatial) * in_channels, *self.dense)
        shapes.update(dense_shapes("dense_", sizes, (*spatial, in_channels)))
        return shapes

    def _build_symmetry(self) -> Symmetry:
        axes = []
        last = len(self.channels)
        for layer, size in enumerate(self.channels, start=1):
            reader = f"conv_W{layer + 1}" if layer < last else "dense_W1"
            axes.append(
                HiddenAxis(
                    f"channels_{layer}",
                    size,
                    (
                        AxisEntry(f"conv_W{layer}", self.spatial_ndim + 1, "in"),
                        AxisEntry(f"conv_b{layer}", 0, "in"),
                        AxisEntry(reader, self.spatial_ndim, "out"),
                    ),
                    groups=self.channel_groups,
                )
            )
        sizes = (0, *self.dense)
        axes.extend(dense_axes("dense_", sizes, activation_groups(self.activation)))
        return Symmetry(tuple(axes))

    @property
    def continuous_symmetry(self) -> ContinuousSymmetry | None:
        """``GL`` of every hidden channel and unit space, for a linear network.

        Only with ``activation="identity"`` and no max pooling; else ``None``.
        """
        if self.activation != "identity" or self.pooling == "max":
            return None
        axes = []
        for axis in self.symmetry.axes:
            entries = tuple(MatrixEntry(e.path, e.axis, e.role) for e in axis.entries)
            axes.append(
                MatrixAxis(axis.name, axis.size, entries, groups=("general_linear",))
            )
        return ContinuousSymmetry(tuple(axes))

    # ------------------------------------------------------------ model
    def leaf_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self._shapes)

    def prior_scales(self) -> dict[str, float]:
        scales = {}
        for layer in range(1, len(self.channels) + 1):
            for kind in "Wb":
                scales[f"conv_{kind}{layer}"] = self.prior_scale[layer - 1]
        offset = len(self.channels)
        for layer in range(1, len(self.dense) + 1):
            for kind in "Wb":
                scales[f"dense_{kind}{layer}"] = self.prior_scale[offset + layer - 1]
        return scales

    def features(self, params: Params, X: jax.Array) -> jax.Array:
        """The last feature map, shape ``(n, *S, c_L)``."""
        phi = ACTIVATIONS[self.activation].fn
        hidden = reshape_inputs(jnp.asarray(X), self.input_shape)
        ones = (1,) * self.spatial_ndim
        window = (1, *(self.pool_size,) * self.spatial_ndim, 1)
        for layer in range(1, len(self.channels) + 1):
            hidden = jax.lax.conv_general_dilated(
                hidden.astype(params[f"conv_W{layer}"].dtype),
                params[f"conv_W{layer}"],
                window_strides=ones,
                padding=self.padding,
                dimension_numbers=_DIMENSION_NUMBERS[self.spatial_ndim],
            )
            hidden = phi(hidden + params[f"conv_b{layer}"])
            if self.pooling == "max":
                hidden = jax.lax.reduce_window(
                    hidden, -jnp.inf, jax.lax.max, window, window, "VALID"
                )
            elif self.pooling == "avg":
                total = jax.lax.reduce_window(
                    hidden, 0.0, jax.lax.add, window, window, "VALID"
                )
                hidden = total / self.pool_size**self.spatial_ndim
        return hidden

    def apply(self, params: Params, X: jax.Array) -> jax.Array:
        """Network outputs (regression means or logits), shape ``(n, d_out)``.

        Args:
            params: one params pytree.
            X: inputs ``(n, *input_shape)`` or ``(n, prod(input_shape))``.

        Returns:
            ``f(X)``, shape ``(n, d_out)``.

        Raises:
            ValueError: inputs of neither shape.
        """
        phi = ACTIVATIONS[self.activation].fn
        return dense_apply(
            params, "dense_", len(self.dense), phi, self.features(params, X)
        )
