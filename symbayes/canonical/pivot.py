"""Pivotal relabelling: align every draw to a pivot, pivot <- mean, repeat.

One pivot per group of draws (per chain, per canonical mode, or one for all),
iterated until no draw changes; the group pivots are then labelled
consistently through a minimum spanning tree of their aligned distances.
Each iteration does not increase ``sum_b ||g_b theta_b - pivot_{group(b)}||^2``
(the k-means argument), so it stops.

References:
    Marin, Mengersen & Robert (2005). Bayesian modelling and inference on
    mixtures of distributions. Handbook of Statistics 25.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.canonical.align import _align_flat
from symbayes.canonical.common import (
    RelabelResult,
    _act_batch,
    _compose_batch,
    _copy_tree,
    _float_dtype,
    _take,
    _unflatten_batch,
)
from symbayes.canonical.sort import _sort_batch
from symbayes.symmetry import GroupElement, Symmetry

__all__: list[str] = []


def _mean(flat: Any) -> Any:
    return jax.tree_util.tree_map(lambda x: jnp.mean(x, axis=0), flat)


@partial(jax.jit, static_argnums=2)
def _group_means(flat: Any, groups: jax.Array, num_groups: int) -> Any:
    """Mean of the draws of every group: ``(num_groups, ...)``."""
    counts = jax.ops.segment_sum(
        jnp.ones(groups.shape[0]), groups, num_segments=num_groups
    )

    def mean(x: jax.Array) -> jax.Array:
        sums = jax.ops.segment_sum(x, groups, num_segments=num_groups)
        shape = (num_groups,) + (1,) * (x.ndim - 1)
        return sums / jnp.maximum(counts, 1).astype(x.dtype).reshape(shape)

    return jax.tree_util.tree_map(mean, flat)


@jax.jit
def _squared_distances(a: Any, b: Any) -> jax.Array:
    """``||a_i - b_i||^2`` summed over all leaves, for every leading index."""
    return sum(
        jnp.sum((x - y).reshape(x.shape[0], -1) ** 2, axis=1)
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    )


def _relabel_to_group_pivots(
    current: Any,
    total: GroupElement,
    symmetry: Symmetry,
    groups: np.ndarray,
    num_groups: int,
    max_iterations: int,
    max_sweeps: int,
    pivots: Any = None,
    tolerance: float = 0.0,
) -> tuple[Any, GroupElement, Any, int, bool]:
    """Iterate {align each draw to its group's pivot; pivots <- group means}.

    Stops once an iteration after the first moves at most ``tolerance`` of
    the draws. ``current`` and ``total`` are consumed (updated in place).
    """
    if pivots is None:
        # A single member of each group, not the group mean: the mean of draws
        # whose sort representatives disagree (nearly tied keys) is blurred,
        # and a blurred pivot can leave the group split over two labellings.
        middle = [
            members[members.size // 2]
            for members in (np.flatnonzero(groups == g) for g in range(num_groups))
        ]
        pivots = _take(current, np.asarray(middle, dtype=np.int32))
    group_ids = jnp.asarray(groups, jnp.int32)
    converged, iteration = False, 0
    for iteration in range(1, max_iterations + 1):
        current, total, moved = _align_flat(
            current,
            pivots,
            groups,
            symmetry,
            max_sweeps,
            invariant_start=iteration == 1,
            total=total,
            copy=False,
        )
        pivots = _group_means(current, group_ids, num_groups)
        if iteration > 1 and np.count_nonzero(moved) <= tolerance * moved.size:
            converged = True
            break
    return current, total, pivots, iteration, converged


def _merge_pivots(pivots: Any, symmetry: Symmetry, max_sweeps: int) -> GroupElement:
    """One element per pivot that labels pivots of one mode identically.

    Every pivot is aligned to every other one; a minimum spanning tree of the
    aligned distances (Prim, rooted at pivot 0) then labels each pivot by
    aligning it to its nearest already-labelled neighbour. A pivot's nearest
    neighbour is a pivot of its own functional mode whenever one exists, and
    aligning to a sharp pivot of the same mode is stable, unlike aligning to
    the blurred mean of several modes.
    """
    num = jax.tree_util.tree_leaves(pivots)[0].shape[0]
    rows, cols = np.divmod(np.arange(num * num), num)
    aligned, pair_elements, _ = _align_flat(
        _take(pivots, rows), pivots, cols, symmetry, max_sweeps, copy=False
    )
    distance = np.asarray(_squared_distances(aligned, _take(pivots, cols)))
    distance = distance.reshape(num, num)
    # composed on the host: a handful of small arrays
    pair_elements = jax.tree_util.tree_map(np.asarray, pair_elements)
    identity = symmetry.identity(_float_dtype(pivots))
    labelled = {0: jax.tree_util.tree_map(np.asarray, identity)}
    while len(labelled) < num:
        done = np.array(sorted(labelled))
        todo = np.array([i for i in range(num) if i not in labelled])
        block = distance[np.ix_(todo, done)]
        row, col = np.unravel_index(np.argmin(block), block.shape)
        child, parent = int(todo[row]), int(done[col])
        pair = child * num + parent
        to_parent = jax.tree_util.tree_map(lambda x, pair=pair: x[pair], pair_elements)
        labelled[child] = symmetry.compose(labelled[parent], to_parent)
    ordered = [labelled[i] for i in range(num)]
    return jax.tree_util.tree_map(lambda *x: jnp.asarray(np.stack(x)), *ordered)


def _relabel_pivot(
    flat: Any,
    symmetry: Symmetry,
    batch_shape: tuple,
    pivot: Any,
    by_chain: bool,
    max_iterations: int,
    max_sweeps: int,
    tolerance: float = 0.0,
    chain_groups: np.ndarray | None = None,
) -> RelabelResult:
    """Pivotal relabelling of a flat batch.

    Groups of draws, each with its own pivot: with ``chain_groups`` (one
    label ``0..G-1`` per chain, the first batch axis) the chains of a group
    share a pivot (one per canonical mode); else one pivot per chain
    (``by_chain``) or one for all. The group pivots are then labelled
    consistently (:func:`_merge_pivots`).
    """
    current, total = _sort_batch(flat, symmetry)
    # the alignment updates these in place; leaves that no axis touches may
    # still be the caller's buffers, so they are copied once here
    current, total = _copy_tree(current), _copy_tree(total)
    batch = int(np.prod(batch_shape))
    if chain_groups is not None:
        num_chains = int(chain_groups.max()) + 1
        chains = np.repeat(chain_groups, batch // batch_shape[0])
    else:
        num_chains = batch_shape[0] if by_chain and pivot is None else 1
        chains = np.repeat(np.arange(num_chains), batch // num_chains)
    initial = (
        None if pivot is None else jax.tree_util.tree_map(lambda x: x[None], pivot)
    )
    current, total, pivots, iterations, converged = _relabel_to_group_pivots(
        current,
        total,
        symmetry,
        chains,
        num_chains,
        max_iterations,
        max_sweeps,
        initial,
        tolerance,
    )
    if num_chains > 1:
        merge = _merge_pivots(pivots, symmetry, max_sweeps)
        pivots = _act_batch(merge, pivots, symmetry)
        step = _take(merge, chains)
        current = _act_batch(step, current, symmetry)
        total = _compose_batch(step, total, symmetry)
    return RelabelResult(
        _unflatten_batch(current, batch_shape),
        _unflatten_batch(total, batch_shape),
        _mean(current),
        iterations,
        converged,
        pivots,
    )
