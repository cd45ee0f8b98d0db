"""Shared pieces of the canonical maps: input checks, batches, group elements.

Every canonical map takes a params pytree with ``batch_ndim`` leading batch
axes, checks it once (:func:`check_finite`, the symmetry's own validation),
flattens the batch axes into one, works on that flat batch and restores the
batch shape. The small jitted helpers here act on such flat batches.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.symmetry import (
    GroupElement,
    Symmetry,
    SymmetryError,
    format_path,
    leaf_paths,
)

__all__ = ["RelabelResult", "check_finite"]


class RelabelResult(NamedTuple):
    """Outcome of :func:`relabel`.

    Attributes:
        draws: canonical draws, same structure and leading axes as the input.
        elements: the group element applied to each draw (leading axes as the
            draws): ``draws == act(elements, input_draws)`` draw by draw.
        pivot: the final pivot (one params pytree; ``None`` for ECR/Stephens).
        num_iterations: iterations run.
        converged: whether the last iteration changed no draw (at most a
            ``tolerance`` fraction of them, see :func:`relabel`).
        pivots: the group pivots of ``"pivot"``, labelled like the draws
            (leading axis: one per chain, one per mode with ``modes=``, or
            one), else ``None``.
    """

    draws: Any
    elements: GroupElement
    pivot: Any
    num_iterations: int
    converged: bool
    pivots: Any = None


# --------------------------------------------------------------------- helpers
def check_finite(params: Any, what: str = "params") -> None:
    """Raise ``ValueError`` naming every leaf that holds NaN or inf values."""
    bad = []
    for path, leaf in leaf_paths(params).items():
        count = int(np.size(leaf) - np.count_nonzero(np.isfinite(np.asarray(leaf))))
        if count:
            bad.append(f"{format_path(path)} ({count} non-finite values)")
    if bad:
        raise ValueError(f"{what} contain NaN or inf: " + ", ".join(bad))


def _check_batch(params: Any, symmetry: Symmetry, batch_ndim: int) -> tuple:
    """Validate one draw of ``params`` and return the batch shape."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise SymmetryError("params pytree has no array leaves")
    if batch_ndim < 0:
        raise ValueError(f"batch_ndim must be >= 0, got {batch_ndim}")
    shapes = {np.shape(leaf)[:batch_ndim] for leaf in leaves}
    if any(np.ndim(leaf) < batch_ndim for leaf in leaves) or len(shapes) != 1:
        raise ValueError(
            f"every leaf must share the same {batch_ndim} leading batch axes; "
            f"found leading shapes {sorted(shapes)}"
        )
    batch_shape = shapes.pop()
    first = jax.tree_util.tree_map(lambda x: x[(0,) * batch_ndim], params)
    if int(np.prod(batch_shape)) > 0:
        symmetry.validate(first)
    check_finite(params)
    return batch_shape


def _flatten_batch(params: Any, batch_ndim: int) -> Any:
    return jax.tree_util.tree_map(
        lambda x: jnp.reshape(x, (-1, *np.shape(x)[batch_ndim:])), params
    )


def _unflatten_batch(tree: Any, batch_shape: tuple) -> Any:
    return jax.tree_util.tree_map(
        lambda x: jnp.reshape(x, (*batch_shape, *np.shape(x)[1:])), tree
    )


def _single_axis_element(
    symmetry: Symmetry,
    axis_index: int,
    permutation: jax.Array | None = None,
    sign: jax.Array | None = None,
    scale: jax.Array | None = None,
    dtype: Any = None,
) -> GroupElement:
    """An element that is the identity on every axis but ``axis_index``."""
    identity = symmetry.identity(dtype)
    perms, signs, scales = map(list, identity)
    if permutation is not None:
        perms[axis_index] = permutation.astype(jnp.int32)
    if sign is not None:
        signs[axis_index] = sign
    if scale is not None:
        scales[axis_index] = scale
    return GroupElement(tuple(perms), tuple(signs), tuple(scales))


@partial(jax.jit, static_argnums=(0, 1, 2))
def _identity_batch(symmetry: Symmetry, batch: int, dtype: Any) -> GroupElement:
    """``batch`` copies of the identity element (leading axis ``batch``)."""
    return jax.tree_util.tree_map(
        lambda x: jnp.broadcast_to(x, (batch, *x.shape)), symmetry.identity(dtype)
    )


def _float_dtype(params: Any) -> Any:
    dtypes = [
        x.dtype
        for x in jax.tree_util.tree_leaves(params)
        if jnp.issubdtype(x.dtype, jnp.floating)
    ]
    # numpy float64 draws become float32 unless x64 is enabled, as in jnp
    return jax.dtypes.canonicalize_dtype(dtypes[0]) if dtypes else jnp.zeros(()).dtype


def _unit_matrix(leaf: jax.Array, dim: int) -> jax.Array:
    """The leaf with the unit axis first, other axes flattened: ``(h, m)``."""
    moved = jnp.moveaxis(leaf, dim, 0)
    return moved.reshape(moved.shape[0], -1)


def _incoming_norms(params: Any, symmetry: Symmetry, axis_index: int) -> jax.Array:
    """Euclidean norm of every unit's *in* entries (weights and bias)."""
    leaves = leaf_paths(params)
    axis = symmetry.axes[axis_index]
    squared = jnp.zeros(axis.size, _float_dtype(params))
    for entry in axis.entries:
        if entry.role == "in":
            leaf = leaves[entry.path]
            squared = squared + jnp.sum(
                _unit_matrix(leaf, entry.axis % leaf.ndim) ** 2, axis=1
            )
    return jnp.sqrt(squared)


@partial(jax.jit, static_argnums=2)
def _compose_batch(
    g: GroupElement, h: GroupElement, symmetry: Symmetry
) -> GroupElement:
    return jax.vmap(symmetry.compose)(g, h)


@partial(jax.jit, static_argnums=2)
def _act_batch(g: GroupElement, params: Any, symmetry: Symmetry) -> Any:
    return jax.vmap(symmetry.act)(g, params)


@jax.jit
def _copy_tree(tree: Any) -> Any:
    """Fresh buffers holding ``tree`` (safe to donate)."""
    return jax.tree_util.tree_map(jnp.copy, tree)


@jax.jit
def _take(tree: Any, index: jax.Array) -> Any:
    """``tree[index]`` along the leading axis of every leaf."""
    return jax.tree_util.tree_map(lambda x: jnp.take(x, index, axis=0), tree)
