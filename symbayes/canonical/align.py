"""Alignment to a pivot: weight matching by linear assignment, axis by axis.

The group element that brings ``theta`` closest (Euclidean) to a pivot. For
one axis this is a linear assignment problem: with ``C_jk = sum_entries
<theta_j, pivot_k>``, unit ``j`` goes to slot ``k`` with sign ``sign(C_jk)``
at cost ``||pivot_k||^2 - 2 |C_jk|`` (``C_jk`` without signs), the squared
distance ``||s theta_j - pivot_k||^2`` less ``||theta_j||^2``, which is the
same for every slot. When every unit's nearest pivot unit is a different one,
these nearest units are the assignment, without a solver. Several axes are
aligned by coordinate-descent sweeps, one axis at a time with the others held
fixed, until no assignment changes (weight matching, Ainsworth, Hayase &
Srinivasa 2023); a draw is solved again only for an axis whose neighbour
moved it.

Nothing loops over draws in Python: alignment costs are computed by jitted
functions on chunks of draws (a few compiled shapes, bounded memory), and
only the assignment problems whose nearest units collide go to the solver
(:mod:`symbayes.assignment`).

References:
    Ainsworth, Hayase & Srinivasa (2023). Git Re-Basin: merging models modulo
    permutation symmetries. ICLR 2023.
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.assignment import batched_linear_assignment
from symbayes.canonical.common import (
    _check_batch,
    _copy_tree,
    _flatten_batch,
    _float_dtype,
    _identity_batch,
    _single_axis_element,
    _take,
    _unflatten_batch,
    _unit_matrix,
    check_finite,
)
from symbayes.symmetry import GroupElement, Symmetry, format_path, leaf_paths

__all__ = ["align"]


# elementwise minima and maxima: on many short rows XLA's generic sort is
# several times slower. Longer rows use jnp.sort.
_NETWORK_MAX_LENGTH = 32
# Draws per call of the alignment solver: _CHUNK_DRAWS, or fewer (a power of
# two) if their cost matrices would exceed _CHUNK_ENTRIES entries. Chunks of
# about a thousand draws stay in cache and bound the memory; smaller sets of
# draws are padded to _SMALL_CHUNK, so two shapes are compiled per axis.
_CHUNK_DRAWS = 1024
_CHUNK_ENTRIES = 1 << 22
_SMALL_CHUNK = 64
# Parameter entries per call that applies alignment steps.
_APPLY_ENTRIES = 1 << 21
# Chunks whose hard members are being prepared while the host solves one.
_LOOKAHEAD = 3


@cache
def _sorting_network(length: int) -> tuple[tuple[int, int], ...]:
    """Comparators ``(i, j)``, ``i < j``, of Batcher's merge-exchange sort.

    Knuth, TAOCP vol. 3, section 5.2.2, algorithm M: applying
    ``x_i, x_j = min, max`` for every pair in order sorts any ``length``
    values (``O(length log^2 length)`` comparators).
    """
    if length < 2:
        return ()
    pairs: list[tuple[int, int]] = []
    top = 1 << ((length - 1).bit_length() - 1)
    p = top
    while p > 0:
        q, r, d = top, 0, p
        while True:
            pairs.extend((i, i + d) for i in range(length - d) if i & p == r)
            if q == p:
                break
            d, q, r = q - p, q >> 1, p
        p >>= 1
    return tuple(pairs)


def _sort_rows(x: jax.Array) -> jax.Array:
    """``jnp.sort(x, axis=-1)``, by a sorting network for short rows."""
    length = x.shape[-1]
    if length > _NETWORK_MAX_LENGTH:
        return jnp.sort(x, axis=-1)
    if length < 2:
        return x
    columns = [x[..., i] for i in range(length)]
    for i, j in _sorting_network(length):
        low, high = columns[i], columns[j]
        columns[i], columns[j] = jnp.minimum(low, high), jnp.maximum(low, high)
    return jnp.stack(columns, axis=-1)


def _is_shared(symmetry: Symmetry, entry: Any) -> bool:
    """Whether another axis also indexes the entry's leaf."""
    return len(symmetry._entries_by_path[entry.path]) > 1


def _has_shared_entries(symmetry: Symmetry, axis_index: int) -> bool:
    return any(_is_shared(symmetry, e) for e in symmetry.axes[axis_index].entries)


def _neighbours(symmetry: Symmetry, axis_index: int) -> list[int]:
    """The other axes that share a leaf with axis ``axis_index``."""
    return sorted(
        {
            other
            for entry in symmetry.axes[axis_index].entries
            for other, _ in symmetry._entries_by_path[entry.path]
            if other != axis_index
        }
    )


@partial(jax.jit, static_argnums=(1, 2, 3))
def _pivot_units(
    pivots: Any, symmetry: Symmetry, axis_index: int, invariant: bool
) -> tuple[tuple[jax.Array, ...], jax.Array]:
    """Per entry, every pivot's unit matrix ``(G, h, m)``, and unit norms.

    Returns ``(units, squared_norms)``: ``units`` in the order of the axis's
    entries, with the sorted absolute values on shared leaves when
    ``invariant`` (sorted here once, not once per draw);
    ``squared_norms[g, k] = ||p_gk||^2`` over all entries of unit ``k``.
    """
    axis = symmetry.axes[axis_index]
    leaves = leaf_paths(pivots)
    units = []
    norms = jnp.zeros((jax.tree_util.tree_leaves(pivots)[0].shape[0], axis.size))
    for entry in axis.entries:
        leaf = leaves[entry.path]
        dim = entry.axis % (leaf.ndim - 1)
        theirs = jax.vmap(lambda x, d=dim: _unit_matrix(x, d))(leaf)
        norms = norms.astype(theirs.dtype) + jnp.sum(theirs**2, axis=2)
        if invariant and _is_shared(symmetry, entry):
            theirs = jnp.sort(jnp.abs(theirs), axis=2)
        units.append(theirs)
    return tuple(units), norms


def _alignment_costs(
    draws: Any,
    pivot_units: tuple[jax.Array, ...],
    pivot_norms: jax.Array,
    symmetry: Symmetry,
    axis_index: int,
    sorted_rows: tuple[jax.Array, ...] | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Cost of placing unit ``j`` of each draw in slot ``k`` of the pivot.

    ``draws`` has a leading batch axis; ``pivot_units`` and ``pivot_norms``
    describe one pivot (see :func:`_pivot_units`). With ``signed[b, k, j]``
    the part of ``sum_entries <theta_b unit j, pivot unit k>`` that changes
    sign with a flip of unit ``j`` (entries with roles *in* and *out* on a
    sign axis) and ``unsigned`` the rest, the squared distance of the
    best-signed unit ``j`` to pivot unit ``k`` is

    ``min_s ||s theta_j - p_k||^2 = ||theta_j||^2 + ||p_k||^2
    - 2 (|signed_jk| + unsigned_jk)``,

    with ``signed_jk`` instead of ``|signed_jk|`` on an axis without signs.
    Returns ``(cost, signed)``, both ``(B, h, h)`` indexed ``[b, k, j]``
    (slot first: XLA reduces fastest over a non-minor axis), with ``cost_jk
    = ||p_k||^2 - 2 (|signed_jk| + unsigned_jk)``: the squared distance less
    ``||theta_j||^2``, which is the same for every slot and so changes
    neither the optimal assignment nor which slot is nearest to each unit.
    When the nearest slots of all units differ they form the optimal
    assignment outright.

    Invariant costs (``sorted_rows`` given, from :func:`_sorted_shared_rows`,
    and ``pivot_units`` with ``invariant=True``): the entries on leaves shared
    with other axes (the outgoing weights ``W_{l+1}[j, :]`` of layer ``l``)
    enter only through their sorted absolute values, which no element of the
    other axes changes, so the first coordinate-descent sweep does not depend
    on how the other axes are currently labelled. Sorting keeps norms: the
    cost is then the squared distance between sorted absolute values on those
    entries.
    """
    axis = symmetry.axes[axis_index]
    leaves = leaf_paths(draws)
    batch, size = jax.tree_util.tree_leaves(draws)[0].shape[0], axis.size
    dtype = _float_dtype(draws)
    signed = jnp.zeros((batch, size, size), dtype)
    unsigned = jnp.zeros_like(signed)
    presorted = iter(sorted_rows or ())
    for entry, theirs in zip(axis.entries, pivot_units, strict=True):
        sorted_abs = sorted_rows is not None and _is_shared(symmetry, entry)
        if sorted_abs:
            mine = next(presorted)
        else:
            leaf = leaves[entry.path]
            dim = entry.axis % (leaf.ndim - 1)
            mine = jax.vmap(lambda x, d=dim: _unit_matrix(x, d))(leaf)
        term = jnp.einsum("bjm,km->bkj", mine, theirs.astype(dtype))
        if sorted_abs or entry.role == "permute" or not axis.has_sign:
            unsigned = unsigned + term
        else:
            signed = signed + term
    matched = jnp.abs(signed) if axis.has_sign else signed
    norms = pivot_norms.astype(dtype)[:, None]
    return norms - 2.0 * (matched + unsigned), signed


@partial(jax.jit, static_argnums=(1, 2))
def _sorted_shared_rows(
    draws: Any, symmetry: Symmetry, axis_index: int
) -> tuple[jax.Array, ...]:
    """Sorted absolute unit rows ``(C, h, m)`` of the draws, shared entries.

    One array per entry of the axis on a leaf that other axes also index, in
    the order of the axis's entries: the draws' side of the invariant costs.
    """
    leaves = leaf_paths(draws)
    rows = []
    for entry in symmetry.axes[axis_index].entries:
        if _is_shared(symmetry, entry):
            leaf = leaves[entry.path]
            dim = entry.axis % (leaf.ndim - 1)
            mine = jax.vmap(lambda x, d=dim: _unit_matrix(x, d))(leaf)
            rows.append(_sort_rows(jnp.abs(mine)))
    return tuple(rows)


def _chunk_costs(
    draws: Any,
    pivot_units: tuple[jax.Array, ...],
    pivot_norms: jax.Array,
    group: jax.Array,
    rows: tuple[jax.Array, ...] | None,
    symmetry: Symmetry,
    axis: int,
) -> tuple[jax.Array, jax.Array]:
    """:func:`_alignment_costs` of a chunk against pivot ``group`` of a stack."""
    units = tuple(u[group] for u in pivot_units)
    return _alignment_costs(draws, units, pivot_norms[group], symmetry, axis, rows)


@partial(jax.jit, static_argnums=(5, 6))
def _solve_easy(
    draws: Any,
    pivot_units: tuple[jax.Array, ...],
    pivot_norms: jax.Array,
    group: jax.Array,
    sorted_rows: tuple[jax.Array, ...] | None,
    symmetry: Symmetry,
    axis_index: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Step of axis ``axis_index`` aligning a chunk of draws to pivot ``group``.

    Returns ``(permutation, sign, easy)``. Where the units' nearest slots
    (the minima of the cost over slots) are all different (``easy``) they
    are the optimal assignment: it attains the lower bound ``sum_j min_k
    cost_jk``. The permutation (slot ``k`` <- unit ``pi(k)``) and signs are
    only meaningful there; the other members go to the assignment solver
    (:func:`_solve_hard`).
    """
    axis = symmetry.axes[axis_index]
    cost, signed = _chunk_costs(
        draws, pivot_units, pivot_norms, group, sorted_rows, symmetry, axis_index
    )
    size = axis.size
    slots = jnp.arange(size, dtype=jnp.int32)
    if not axis.has_permutation:
        diagonal = jnp.diagonal(signed, axis1=1, axis2=2)
        sign = jnp.where(diagonal < 0, -1.0, 1.0).astype(signed.dtype)
        permutation = jnp.broadcast_to(slots, diagonal.shape)
        return permutation, sign, jnp.ones(diagonal.shape[0], bool)
    # materialised first: XLA's CPU fusions of everything below are slower
    cost, signed = jax.lax.optimization_barrier((cost, signed))
    # nearest slot of every unit, the first on ties; XLA's argmin (a
    # variadic reduction) is several times slower than these two minima
    nearest = cost == jnp.min(cost, axis=1, keepdims=True)
    unit_to_slot = jnp.min(jnp.where(nearest, slots[:, None], size), axis=1)
    hits = jax.vmap(lambda s: jnp.zeros(size, jnp.int32).at[s].add(1))(unit_to_slot)
    easy = (hits == 1).all(axis=1)
    # slot k <- the unit whose nearest slot is k (where easy)
    permutation = jax.vmap(lambda s: jnp.zeros(size, jnp.int32).at[s].set(slots))(
        unit_to_slot
    )
    if not axis.has_sign:
        return permutation, jnp.ones(permutation.shape, signed.dtype), easy
    # sign of the score of unit j against its nearest slot, then by slot
    placed = jnp.take_along_axis(signed, unit_to_slot[:, None, :], axis=1)[:, 0]
    sign = jnp.where(placed < 0, -1.0, 1.0).astype(signed.dtype)
    return permutation, jnp.take_along_axis(sign, permutation, axis=1), easy


@partial(jax.jit, static_argnums=(5, 6))
def _hard_costs(
    draws: Any,
    pivot_units: tuple[jax.Array, ...],
    pivot_norms: jax.Array,
    group: jax.Array,
    sorted_rows: tuple[jax.Array, ...] | None,
    symmetry: Symmetry,
    axis_index: int,
) -> tuple[jax.Array, jax.Array]:
    """``(cost, signed < 0)`` of :func:`_alignment_costs` for a chunk of draws.

    Indexed ``[b, k, j]`` (slot, unit); the signs travel to the host as
    booleans, a quarter of the bytes.
    """
    cost, signed = _chunk_costs(
        draws, pivot_units, pivot_norms, group, sorted_rows, symmetry, axis_index
    )
    # without the barrier XLA's CPU fusion of the two outputs is ~20x slower
    cost, signed = jax.lax.optimization_barrier((cost, signed))
    return cost, signed < 0


def _solve_hard(
    cost: np.ndarray, negative: np.ndarray, axis_has_sign: bool, dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Best permutation (slot ``k`` <- unit ``pi(k)``) and signs from the costs.

    ``cost`` and ``negative = signed < 0`` are indexed ``[b, k, j]`` (see
    :func:`_alignment_costs`); the cost already holds the best sign of each
    pair, ``s = sign(signed_jk)``. The assignment is solved with the units as
    rows, which scipy's solver handles several times faster here, and without
    the row-argmin shortcut, which these members already failed.
    """
    unit_to_slot = batched_linear_assignment(np.swapaxes(cost, 1, 2), shortcut=False)
    permutation = np.argsort(unit_to_slot, axis=1).astype(np.int32)
    if not axis_has_sign:
        return permutation, np.ones(permutation.shape, dtype)
    batch, size = permutation.shape
    # sign of the score of the unit placed in slot k against pivot unit k
    placed = negative[np.arange(batch)[:, None], np.arange(size), permutation]
    return permutation, np.where(placed, -1.0, 1.0).astype(dtype)


@partial(jax.jit, static_argnums=(5, 6), donate_argnums=(0, 1))
def _apply_axis_step(
    flat: Any,
    total: GroupElement,
    index: jax.Array,
    permutation: jax.Array,
    sign: jax.Array,
    symmetry: Symmetry,
    axis_index: int,
) -> tuple[Any, GroupElement]:
    """Apply one axis's step to ``flat[index]`` and compose it into ``total``.

    Only the leaves of that axis and its part of ``total`` change; both
    batches are updated in place (donated). ``index`` may repeat a member
    with the same step (padding).
    """
    paths = {entry.path for entry in symmetry.axes[axis_index].entries}
    dtype = _float_dtype(flat)
    step = jax.vmap(
        lambda perm, s: _single_axis_element(
            symmetry, axis_index, permutation=perm, sign=s, dtype=dtype
        )
    )(permutation, sign)
    # leaves of other axes only: their gathers are dead code and dropped
    moved = jax.vmap(symmetry.act)(
        step, jax.tree_util.tree_map(lambda x: jnp.take(x, index, axis=0), flat)
    )
    leaves = [
        x.at[index].set(y) if path in paths else x
        for path, x, y in zip(
            leaf_paths(flat),
            jax.tree_util.tree_leaves(flat),
            jax.tree_util.tree_leaves(moved),
            strict=True,
        )
    ]
    flat = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(flat), leaves)
    # compose(step, g) changes only this axis: pi_g[pi], s * s_g[pi], a_g[pi]
    perms, signs, scales = map(list, total)

    def permuted(x: jax.Array) -> jax.Array:
        return jnp.take_along_axis(jnp.take(x, index, axis=0), permutation, axis=1)

    i = axis_index
    perms[i] = perms[i].at[index].set(permuted(perms[i]))
    signs[i] = signs[i].at[index].set(sign.astype(signs[i].dtype) * permuted(signs[i]))
    scales[i] = scales[i].at[index].set(permuted(scales[i]))
    return flat, GroupElement(tuple(perms), tuple(signs), tuple(scales))


def _chunk_length(axis_size: int) -> int:
    """Draws per solver call (a power of two, see ``_CHUNK_DRAWS``)."""
    length = _SMALL_CHUNK
    while (
        2 * length <= _CHUNK_DRAWS
        and 2 * length * axis_size * axis_size <= _CHUNK_ENTRIES
    ):
        length *= 2
    return length


def _apply_length(flat: Any) -> int:
    """Draws per call of :func:`_apply_axis_step`: a power of two."""
    entries = sum(int(np.prod(x.shape[1:])) for x in jax.tree_util.tree_leaves(flat))
    length = _SMALL_CHUNK
    while 2 * length * entries <= _APPLY_ENTRIES:
        length *= 2
    return length


def _chunks(
    index: np.ndarray, length: int, small: bool = True
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split ``index`` into ``(members, padded)`` pieces of ``length`` entries.

    A piece of at most ``_SMALL_CHUNK`` entries is padded to that (with
    ``small``), any other to ``length`` (repeating its last member), so that
    only two shapes occur (one without ``small``).
    """
    pieces = []
    for start in range(0, index.size, length):
        members = index[start : start + length]
        size = _SMALL_CHUNK if small and members.size <= _SMALL_CHUNK else length
        padding = np.full(size - members.size, members[-1], dtype=members.dtype)
        pieces.append((members, np.concatenate([members, padding])))
    return pieces


def _solve_axis(
    flat: Any,
    pivots: Any,
    members: list[np.ndarray],
    symmetry: Symmetry,
    axis_index: int,
    invariant: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimal step of one axis for the draws ``members[g]`` of each pivot ``g``.

    Returns the draws (``members`` concatenated), their permutations and signs.
    """
    axis = symmetry.axes[axis_index]
    length = _chunk_length(axis.size)
    # The invariant costs come in one shape only: their sorting network is
    # the slowest part to compile.
    small = not invariant
    units, norms = _pivot_units(pivots, symmetry, axis_index, invariant)
    statics = (symmetry, axis_index)
    # Every call is dispatched asynchronously: the device computes the next
    # chunks while the host solves the hard members of earlier ones.
    pending: list[tuple | None] = []
    solved = []
    for group, index in enumerate(members):
        group_index = np.int32(group)
        for chunk, padded in _chunks(index, length, small):
            # the chunk functions see chunks only, whatever the batch size
            draws = _take(flat, padded)
            rows = _sorted_shared_rows(draws, *statics) if invariant else None
            result = _solve_easy(draws, units, norms, group_index, rows, *statics)
            pending.append((chunk, draws, group_index, rows, result))
            solved.append(chunk)
    prepared: dict[int, tuple] = {}

    def prepare(position: int) -> None:
        """Fetch a chunk's easy solutions; dispatch the costs of its hard ones."""
        chunk, draws, group_index, rows, result = pending[position]
        pending[position] = None  # the chunk's buffers go once its costs do
        permutation, sign, easy = (
            np.array(np.asarray(x)[: chunk.size]) for x in result
        )
        hard = []
        positions = np.flatnonzero(~easy).astype(np.int32)
        for part, padded in _chunks(positions, length, small):
            outputs = _hard_costs(
                _take(draws, padded),
                units,
                norms,
                group_index,
                None if rows is None else _take(rows, padded),
                *statics,
            )
            hard.append((part.size, outputs))
        prepared[position] = (permutation, sign, easy, hard)

    permutations, signs = [], []
    for position in range(len(pending)):
        for ahead in range(position, min(position + _LOOKAHEAD, len(pending))):
            if ahead not in prepared:
                prepare(ahead)
        permutation, sign, easy, hard = prepared.pop(position)
        if hard:
            cost = np.concatenate([np.asarray(c)[:n] for n, (c, _) in hard])
            negative = np.concatenate([np.asarray(s)[:n] for n, (_, s) in hard])
            permutation[~easy], sign[~easy] = _solve_hard(
                cost, negative, axis.has_sign, sign.dtype
            )
        permutations.append(permutation)
        signs.append(sign)
    return np.concatenate(solved), np.concatenate(permutations), np.concatenate(signs)


def _align_flat(
    flat: Any,
    pivots: Any,
    groups: np.ndarray,
    symmetry: Symmetry,
    max_sweeps: int,
    invariant_start: bool = True,
    total: GroupElement | None = None,
    copy: bool = True,
) -> tuple[Any, GroupElement, np.ndarray]:
    """Coordinate-descent alignment of a flat batch ``(B, ...)`` to pivots.

    ``pivots`` has a leading axis; draw ``b`` is aligned to ``pivots[groups[b]]``.

    The first sweep uses costs invariant to the other axes' labelling when
    ``invariant_start`` (see :func:`_alignment_costs`); later sweeps use the
    exact squared distance, one axis at a time. An axis of a draw is solved
    again only while it is *stale*: not yet solved with the exact cost, or
    moved since by another axis that shares a leaf with it. The sweeps stop
    when nothing is stale (every draw is at a coordinate-descent fixed point:
    no axis would move it) or after ``max_sweeps``. This gives the result of
    sweeping all draws until a sweep moves nothing, without re-solving the
    draws that cannot move; a single axis needs one exact sweep.

    Returns the aligned batch, the element applied to each draw composed with
    ``total`` (default: the identity) and a boolean array saying which draws
    moved. The steps update the batch and the elements in place (donated
    buffers): with ``copy=False`` the caller hands ``flat`` and ``total``
    over and must not use them afterwards; by default they are copied first.
    """
    batch = jax.tree_util.tree_leaves(flat)[0].shape[0]
    if total is None:
        total = _identity_batch(symmetry, batch, _float_dtype(flat))
    elif copy:
        total = _copy_tree(total)
    if copy:
        flat = _copy_tree(flat)
    groups = np.asarray(groups)
    num_groups = jax.tree_util.tree_leaves(pivots)[0].shape[0]
    order = np.argsort(groups, kind="stable").astype(np.int32)
    bounds = np.searchsorted(groups[order], np.arange(num_groups + 1))
    by_group = [order[bounds[g] : bounds[g + 1]] for g in range(num_groups)]
    solvable = [
        index
        for index, axis in enumerate(symmetry.axes)
        if axis.has_permutation or axis.has_sign
    ]
    apply_length = _apply_length(flat)
    stale = np.ones((batch, len(symmetry.axes)), dtype=bool)
    moved = np.zeros(batch, dtype=bool)
    for sweep in range(max_sweeps):
        for index in solvable:
            invariant = (
                invariant_start and sweep == 0 and _has_shared_entries(symmetry, index)
            )
            members = by_group if sweep == 0 else [m[stale[m, index]] for m in by_group]
            if not any(m.size for m in members):
                continue
            draws, permutation, sign = _solve_axis(
                flat, pivots, members, symmetry, index, invariant
            )
            if not invariant:
                stale[draws, index] = False
            moves = np.any(permutation != np.arange(permutation.shape[1]), axis=1)
            moves |= np.any(sign < 0, axis=1)
            if not moves.any():
                continue
            draws, permutation, sign = draws[moves], permutation[moves], sign[moves]
            moved[draws] = True
            for other in _neighbours(symmetry, index):
                stale[draws, other] = True
            for _, padded in _chunks(np.arange(draws.size), apply_length):
                flat, total = _apply_axis_step(
                    flat,
                    total,
                    draws[padded],
                    permutation[padded],
                    sign[padded],
                    symmetry,
                    index,
                )
        if not stale[:, solvable].any():
            break
    return flat, total, moved


def align(
    params: Any,
    pivot: Any,
    symmetry: Symmetry,
    *,
    batch_ndim: int = 0,
    max_sweeps: int = 20,
) -> tuple[Any, GroupElement]:
    """Group element bringing ``params`` closest to ``pivot`` (no sort first).

    Minimises ``||g . theta - pivot||^2`` over permutations and signs, one axis
    at a time (exact linear assignment per axis), sweeping over the axes until
    nothing changes. For one hidden axis the result is the global optimum; for
    several it is a coordinate-descent local optimum (weight matching,
    Ainsworth et al. 2023). Scaling factors are not optimised: combine with
    the scale normalisation of :func:`canonicalize`.

    Args:
        params: params pytree with ``batch_ndim`` leading batch axes.
        pivot: one params pytree of the same structure.
        symmetry: the symmetry.
        batch_ndim: number of leading batch axes of ``params``.
        max_sweeps: cap on coordinate-descent sweeps.

    Returns:
        ``(aligned, elements)`` with leading batch axes.
    """
    batch_shape = _check_batch(params, symmetry, batch_ndim)
    _check_pivot(pivot, params, symmetry, batch_ndim)
    flat = _flatten_batch(params, batch_ndim)
    aligned, elements, _ = _align_flat(
        flat, _stack_one(pivot), _zeros_groups(flat), symmetry, max_sweeps
    )
    return _unflatten_batch(aligned, batch_shape), _unflatten_batch(
        elements, batch_shape
    )


def _stack_one(pivot: Any) -> Any:
    """One params pytree as a stack of one pivot (leading axis of length 1)."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], pivot)


def _zeros_groups(flat: Any) -> np.ndarray:
    """Every draw of ``flat`` aligned to pivot 0."""
    return np.zeros(jax.tree_util.tree_leaves(flat)[0].shape[0], dtype=np.int32)


def _check_pivot(pivot: Any, params: Any, symmetry: Symmetry, batch_ndim: int) -> None:
    if pivot is None:
        raise ValueError("align needs a pivot: one params pytree to align to")
    if jax.tree_util.tree_structure(pivot) != jax.tree_util.tree_structure(params):
        raise ValueError(
            "pivot and params have different pytree structures: "
            f"{jax.tree_util.tree_structure(pivot)} vs "
            f"{jax.tree_util.tree_structure(params)}"
        )
    for (path, p), x in zip(
        leaf_paths(pivot).items(), leaf_paths(params).values(), strict=True
    ):
        if np.shape(p) != np.shape(x)[batch_ndim:]:
            raise ValueError(
                f"pivot leaf {format_path(path)} has shape {np.shape(p)}, "
                f"expected {np.shape(x)[batch_ndim:]}"
            )
    symmetry.validate(pivot)
    check_finite(pivot, "pivot")
