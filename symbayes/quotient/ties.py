"""Metric projection: tie a mass matrix across the units of every axis.

``fold`` and ``glue`` are exact only with a kernel that the group leaves
unchanged (G-equivariant). A diagonal mass matrix is unchanged by sign flips;
it is unchanged by the permutations of an axis iff the entries of units that
a permutation exchanges are equal. :func:`tie_inverse_mass_matrix` averages
them (the projection onto the invariant diagonal matrices);
:func:`tying_core` wraps a blackjax ``MetricCore`` so that every adapted
matrix is projected at the end of its window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.metric_recipes import MetricCore
from jax.flatten_util import ravel_pytree

from symbayes.symmetry import Symmetry, _key_to_str, leaf_paths

__all__ = ["is_tied", "tie_inverse_mass_matrix", "tying_core"]


def tie_inverse_mass_matrix(
    inverse_mass_matrix: jax.Array, template: Any, symmetry: Symmetry
) -> jax.Array:
    """Average a diagonal inverse mass matrix over the units of every axis.

    A diagonal metric is invariant under sign flips; it is invariant under
    the permutations of an axis iff the entries of units that a permutation
    exchanges are equal. Replacing each entry by its mean over the unit axes
    of its leaf (the group average, a projection) makes the HMC/NUTS kernel
    G-equivariant, which is what makes ``fold`` and ``glue`` exact.

    Args:
        inverse_mass_matrix: flat diagonal ``(n,)`` in ravel order of ``template``.
        template: one params pytree.
        symmetry: the symmetry (its permutation axes are tied).

    Returns:
        The tied diagonal, same shape.

    Raises:
        ValueError: for a dense matrix (tying it is not supported; use a
            diagonal one with ``fold``).
    """
    if jnp.ndim(inverse_mass_matrix) != 1:
        raise ValueError(
            "fold needs a diagonal mass matrix tied across units; a dense mass "
            "matrix is not tied by symbayes (use dense_mass=False, or quotient "
            "'none' or 'reparam', which are exact with any metric)"
        )
    _, unravel = ravel_pytree(template)
    unit_dims = _permuted_dims(template, symmetry)

    def tie(key_path: Any, leaf: jax.Array) -> jax.Array:
        dims = unit_dims.get(tuple(_key_to_str(k) for k in key_path), ())
        if not dims:
            return leaf
        return jnp.broadcast_to(jnp.mean(leaf, axis=dims, keepdims=True), leaf.shape)

    tied = jax.tree_util.tree_map_with_path(tie, unravel(inverse_mass_matrix))
    return ravel_pytree(tied)[0]


def _permuted_dims(template: Any, symmetry: Symmetry) -> dict:
    """For every leaf, the array dims that some permutation axis acts on."""
    shapes = {path: np.ndim(leaf) for path, leaf in leaf_paths(template).items()}
    dims: dict = {}
    for axis in symmetry.axes:
        if not axis.has_permutation:
            continue
        for entry in axis.entries:
            ndim = shapes[entry.path]
            dims.setdefault(entry.path, ())
            dims[entry.path] = tuple(sorted({*dims[entry.path], entry.axis % ndim}))
    return dims


def is_tied(
    inverse_mass_matrix: jax.Array,
    template: Any,
    symmetry: Symmetry,
    rtol: float = 1e-6,
) -> bool:
    """Whether a diagonal inverse mass matrix is already tied across units."""
    if np.ndim(inverse_mass_matrix) != 1:
        return False
    tied = tie_inverse_mass_matrix(inverse_mass_matrix, template, symmetry)
    return bool(np.allclose(tied, inverse_mass_matrix, rtol=rtol, atol=0.0))


def tying_core(
    core: MetricCore, project: Callable[[jax.Array], jax.Array]
) -> MetricCore:
    """A blackjax ``MetricCore`` whose new inverse mass matrices are projected.

    Args:
        core: e.g. ``lookup_recipe("welford_diag").build_core()``.
        project: the projection, e.g. a closure over
            :func:`tie_inverse_mass_matrix`.

    Returns:
        The same core, with ``final`` followed by the projection.
    """

    def final(state: Any) -> Any:
        state = core.final(state)
        return state._replace(inverse_mass_matrix=project(state.inverse_mass_matrix))

    return MetricCore(core.init, core.update, final)
