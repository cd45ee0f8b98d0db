"""Bayesian radial networks: the O(h) symmetry of radial rescaling activations.

A *radial rescaling* activation acts on a whole hidden vector ``z``,

.. math::

    \\rho(z) = \\lambda(|z|)\\, z, \\qquad \\lambda(r) = g(r) / r,

so it commutes with every orthogonal ``R``: ``rho(z R) = rho(z) R``. A
network ``z_l = \\rho(z_{l-1} W_l + b_l)``, ``f = z_{L-1} W_L + b_L`` is
therefore unchanged by

.. math::

    (W_l, b_l, W_{l+1}) \\mapsto (W_l R_l,\\ b_l R_l,\\ R_l^\\top W_{l+1}),
    \\quad R_l \\in O(h_l),

and since the i.i.d. Gaussian prior and the volume are unchanged too,
``O(h_l)`` is a *posterior* symmetry (Ganev, van Laarhoven & Walters 2022).
Its finite subgroup, signed permutations, is the finite
:attr:`RadialNet.symmetry` that the samplers quotient; general invertible
maps are *not* symmetries (``rho(z A) != rho(z) A``), which
:func:`~symbayes.symmetry.classify_symmetry` confirms. The continuous part
is diagnosed and has an exact canonical form
(:func:`~symbayes.symmetry.canonicalize_continuous` with ``"orthogonal"``;
:meth:`RadialNet.canonicalize`), not a fold.

Radial functions ``g`` offered (:data:`RADIAL_ACTIVATIONS`), both with
``g(0) = 0`` and smooth enough for HMC: ``"tanh"``: ``g(r) = tanh(r)``;
``"rational"``: ``g(r) = r^2 / (1 + r)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from symbayes.models._network import (
    SupervisedNetwork,
    check_likelihood,
    check_prior_scales,
    check_sizes,
    dense_apply,
    dense_axes,
    dense_shapes,
)
from symbayes.models.base import Params
from symbayes.models.linear import hidden_matrix_axes
from symbayes.symmetry import ContinuousSymmetry, Symmetry

__all__ = ["RADIAL_ACTIVATIONS", "RadialNet", "radial"]

_SMALL = 1e-12


def _tanh_ratio(r: jax.Array) -> jax.Array:
    return jnp.tanh(r) / r


def _rational_ratio(r: jax.Array) -> jax.Array:
    return r / (1.0 + r)


#: ``name -> (lambda(r) = g(r) / r for r > 0, lambda(0))``.
RADIAL_ACTIVATIONS: dict[str, tuple[Callable[[jax.Array], jax.Array], float]] = {
    "tanh": (_tanh_ratio, 1.0),
    "rational": (_rational_ratio, 0.0),
}


def radial(name: str) -> Callable[[jax.Array], jax.Array]:
    """The radial activation ``z -> lambda(|z|) z`` over the last axis.

    Safe at ``z = 0`` (value and gradient): ``|z|`` is computed from a
    squared norm held away from zero where ``lambda(0)`` is used instead.
    """
    ratio, at_zero = RADIAL_ACTIVATIONS[name]

    def activation(z: jax.Array) -> jax.Array:
        squared = jnp.sum(z * z, axis=-1, keepdims=True)
        positive = squared > _SMALL
        norm = jnp.sqrt(jnp.where(positive, squared, 1.0))
        scale = jnp.where(positive, ratio(norm), at_zero)
        return scale.astype(z.dtype) * z

    return activation


@dataclass(frozen=True)
class RadialNet(SupervisedNetwork):
    """A fully connected network with radial rescaling activations.

    Params: as the MLP, ``{"W1": (d_0, h_1), "b1": (h_1,), ..., "WL", "bL"}``
    (+ ``"log_noise"``). Priors: i.i.d. ``Normal(0, prior_scale_l^2)``.

    Symmetry: axes ``hidden_{l}`` with permutation and sign (the finite part
    of ``O(h_l)``); :attr:`continuous_symmetry`: ``O(h_l)`` per hidden layer.

    Args:
        layer_sizes: ``(d_in, h_1, ..., d_out)``, at least one hidden layer.
        radial_activation: one of :data:`RADIAL_ACTIVATIONS`.
        likelihood: ``"gaussian"``, ``"bernoulli"`` or ``"categorical"``.
        prior_scale: one prior standard deviation or one per weight layer.
        noise: fixed gaussian noise standard deviation, or ``None`` to learn it.
        noise_prior: ``(mean, std)`` of the Normal prior on ``log_noise``.

    Raises:
        ValueError: at construction, naming the bad argument.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = RadialNet((2, 3, 1))
        >>> params = model.init(jax.random.key(0))
        >>> model.apply(params, jnp.zeros((4, 2))).shape
        (4, 1)
    """

    layer_sizes: Sequence[int]
    radial_activation: str = "tanh"
    likelihood: str = "gaussian"
    prior_scale: float | Sequence[float] = 1.0
    noise: float | None = 0.1
    noise_prior: tuple[float, float] = (-1.0, 1.0)
    _symmetry: Symmetry = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sizes = check_sizes("layer_sizes", self.layer_sizes, minimum_length=3)
        object.__setattr__(self, "layer_sizes", sizes)
        if self.radial_activation not in RADIAL_ACTIVATIONS:
            raise ValueError(
                f"unknown radial_activation {self.radial_activation!r}; choose "
                f"from {tuple(RADIAL_ACTIVATIONS)}"
            )
        noise_prior = check_likelihood(
            self.likelihood, sizes[-1], self.noise, self.noise_prior
        )
        object.__setattr__(self, "noise_prior", noise_prior)
        scales = check_prior_scales(self.prior_scale, len(sizes) - 1)
        object.__setattr__(self, "prior_scale", scales)
        groups = ("permutation", "sign")
        object.__setattr__(self, "_symmetry", Symmetry(dense_axes("", sizes, groups)))

    @property
    def num_outputs(self) -> int:
        return self.layer_sizes[-1]

    @property
    def name(self) -> str:
        sizes = "-".join(str(s) for s in self.layer_sizes)
        return f"radial_{sizes}_{self.radial_activation}_{self.likelihood}"

    @property
    def symmetry(self) -> Symmetry:
        return self._symmetry

    @property
    def continuous_symmetry(self) -> ContinuousSymmetry:
        """``O(h_l)`` on every hidden space."""
        return hidden_matrix_axes(self.symmetry, ("orthogonal",))

    def leaf_shapes(self) -> dict[str, tuple[int, ...]]:
        return dense_shapes("", self.layer_sizes)

    def prior_scales(self) -> dict[str, float]:
        return {
            f"{kind}{layer}": self.prior_scale[layer - 1]
            for layer in range(1, len(self.layer_sizes))
            for kind in "Wb"
        }

    def apply(self, params: Params, X: jax.Array) -> jax.Array:
        """Network outputs, shape ``(n, d_out)``, for inputs ``(n, d_in)``."""
        phi = radial(self.radial_activation)
        return dense_apply(params, "", len(self.layer_sizes) - 1, phi, X)
