"""Bayesian deep linear networks: the GL(h) symmetry and its canonical form.

A linear network ``f(x) = (\\cdots((x W_1 + b_1) W_2 + b_2) \\cdots) W_L + b_L``
computes an affine map through hidden spaces of sizes ``h_1, ..., h_{L-1}``.
Every invertible ``A_l`` acting on hidden space ``l``,

.. math::

    (W_l, b_l, W_{l+1}) \\mapsto (W_l A_l,\\ b_l A_l,\\ A_l^{-1} W_{l+1}),

leaves ``f`` unchanged: ``GL(h_l)`` is a *function* symmetry (Baldi &
Hornik 1989; the survey's first example). Under the i.i.d. Gaussian prior
only its orthogonal subgroup ``O(h_l)`` leaves the log density unchanged
(``|W A|^2 = |W|^2`` iff ``A`` is orthogonal), so ``O(h_l)`` is the
*posterior* symmetry, of which signed permutations are the finite part.

What symbayes does with them:

* the finite :attr:`LinearNet.symmetry` (permutation and sign, as the
  identity-activation MLP, and positive scaling, a function symmetry only)
  is what the samplers quotient;
* :attr:`LinearNet.continuous_symmetry` declares ``GL(h_l)`` per hidden
  layer; :func:`~symbayes.symmetry.classify_symmetry` reports ``GL`` as a
  function symmetry and ``O`` as a posterior one;
* :func:`~symbayes.symmetry.canonicalize_continuous` gives the canonical
  forms: ``orthogonal`` (any depth; the principal axes of each layer's
  stacked weights) and ``general_linear`` (one hidden layer: ``[W_1; b_1] =
  U Sigma^{1/2}``, ``W_2^T = V Sigma^{1/2}`` from the SVD of the product,
  up to the remaining signs and order, which it fixes). Neither is used as a
  fold by the samplers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import jax

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
from symbayes.symmetry import ContinuousSymmetry, MatrixAxis, MatrixEntry, Symmetry

__all__ = ["LinearNet", "hidden_matrix_axes"]


def _identity(x: jax.Array) -> jax.Array:
    return x


def hidden_matrix_axes(
    symmetry: Symmetry, groups: tuple[str, ...]
) -> ContinuousSymmetry:
    """One matrix axis per hidden axis of a dense stack, on the same entries."""
    axes = []
    for axis in symmetry.axes:
        entries = tuple(MatrixEntry(e.path, e.axis, e.role) for e in axis.entries)
        axes.append(MatrixAxis(axis.name, axis.size, entries, groups=groups))
    return ContinuousSymmetry(tuple(axes))


@dataclass(frozen=True)
class LinearNet(SupervisedNetwork):
    """A deep linear network with i.i.d. Gaussian priors.

    Params: ``{"W1": (d_0, h_1), "b1": (h_1,), ..., "WL", "bL"}`` (as the
    MLP), plus ``"log_noise"`` for a learned gaussian noise.

    Symmetry: axes ``hidden_{l}`` with permutation, sign and scale (the MLP
    with ``activation="identity"``); :attr:`continuous_symmetry`: ``GL(h_l)``
    per hidden layer.

    Args:
        layer_sizes: ``(d_in, h_1, ..., d_out)``, at least one hidden layer.
        likelihood: ``"gaussian"``, ``"bernoulli"`` or ``"categorical"``.
        prior_scale: one prior standard deviation or one per weight layer.
        noise: fixed gaussian noise standard deviation, or ``None`` to learn it.
        noise_prior: ``(mean, std)`` of the Normal prior on ``log_noise``.

    Raises:
        ValueError: at construction, naming the bad argument.

    Example:
        >>> model = LinearNet((4, 2, 3))
        >>> model.continuous_symmetry.axes[0].groups
        ('orthogonal', 'general_linear')
    """

    layer_sizes: Sequence[int]
    likelihood: str = "gaussian"
    prior_scale: float | Sequence[float] = 1.0
    noise: float | None = 0.1
    noise_prior: tuple[float, float] = (-1.0, 1.0)
    _symmetry: Symmetry = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sizes = check_sizes("layer_sizes", self.layer_sizes, minimum_length=3)
        object.__setattr__(self, "layer_sizes", sizes)
        noise_prior = check_likelihood(
            self.likelihood, sizes[-1], self.noise, self.noise_prior
        )
        object.__setattr__(self, "noise_prior", noise_prior)
        scales = check_prior_scales(self.prior_scale, len(sizes) - 1)
        object.__setattr__(self, "prior_scale", scales)
        groups = ("permutation", "sign", "scale")
        object.__setattr__(self, "_symmetry", Symmetry(dense_axes("", sizes, groups)))

    @property
    def num_outputs(self) -> int:
        return self.layer_sizes[-1]

    @property
    def name(self) -> str:
        sizes = "-".join(str(s) for s in self.layer_sizes)
        return f"linear_{sizes}_{self.likelihood}"

    @property
    def symmetry(self) -> Symmetry:
        return self._symmetry

    @property
    def continuous_symmetry(self) -> ContinuousSymmetry:
        """``GL(h_l)`` (with its subgroup ``O(h_l)``) on every hidden space."""
        return hidden_matrix_axes(self.symmetry, ("general_linear",))

    def leaf_shapes(self) -> dict[str, tuple[int, ...]]:
        return dense_shapes("", self.layer_sizes)

    def prior_scales(self) -> dict[str, float]:
        return {
            f"{kind}{layer}": self.prior_scale[layer - 1]
            for layer in range(1, len(self.layer_sizes))
            for kind in "Wb"
        }

    def apply(self, params: Params, X: jax.Array) -> jax.Array:
        """The affine map, shape ``(n, d_out)``, for inputs ``(n, d_in)``."""
        return dense_apply(params, "", len(self.layer_sizes) - 1, _identity, X)
