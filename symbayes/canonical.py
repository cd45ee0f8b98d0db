"""Canonical maps: one representative per symmetry orbit (quotient coordinates).

Owns the maps from a parameter vector (or a whole set of draws) to canonical
coordinates:

* **sort** - a fundamental domain cut out by linear inequalities. Per axis,
  in declaration order: ReLU-type axes are scale-normalised (each unit's
  incoming vector gets unit norm, the factor is pushed into its outgoing
  weights); sign-flip axes flip each unit so that its *sign key* is
  ``>= 0``; units are then ordered by their *sort key*. Cheap, jit-able and
  vmapped. Where two units' keys nearly tie the map jumps, which shows up as
  spurious variance of canonical coordinates.
* **align** - the group element that brings ``theta`` closest (Euclidean) to
  a pivot. For one axis this is a linear assignment problem: with
  ``C_jk = sum_entries <theta_j, pivot_k>``, unit ``j`` goes to slot ``k``
  with sign ``sign(C_jk)`` at cost ``||pivot_k||^2 - 2 |C_jk|`` (``C_jk``
  without signs), the squared distance ``||s theta_j - pivot_k||^2`` less
  ``||theta_j||^2``, which is the same for every slot. When every unit's
  nearest pivot unit is a different one, these nearest units are the
  assignment, without a solver. Several axes are aligned by
  coordinate-descent sweeps, one axis at a time with the others held fixed,
  until no assignment changes (weight matching, Ainsworth, Hayase &
  Srinivasa 2023); a draw is solved again only for an axis whose neighbour
  moved it. Alignment starts from the sort representative, so the result
  depends on the orbit only.
* **relabel** - a whole set of draws: iterate {align every draw to the pivot;
  pivot <- mean of the aligned draws} until no draw changes (or at most a
  ``tolerance`` fraction of them; pivotal relabelling; Marin, Mengersen &
  Robert 2005). For mixtures with allocation
  probabilities, Stephens' (2000) KL algorithm and ECR (Papastamoulis &
  Iliopoulos 2010; Papastamoulis 2016, R package ``label.switching``).

Batches of draws are handled with leading axes (``batch_ndim``); nothing loops
over draws in Python: the sort path is ``jit(vmap(...))``, alignment costs
are computed by jitted functions on chunks of draws (a few compiled shapes,
bounded memory), and only the assignment problems whose nearest units collide
go to the solver (:mod:`symbayes.assignment`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.assignment import batched_linear_assignment
from symbayes.symmetry import (
    GroupElement,
    Symmetry,
    SymmetryError,
    format_path,
    leaf_paths,
)

__all__ = [
    "RelabelResult",
    "align",
    "canonicalize",
    "check_finite",
    "relabel",
    "sort_canonicalize",
]

Method = Literal["sort", "align"]


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
    """

    draws: Any
    elements: GroupElement
    pivot: Any
    num_iterations: int
    converged: bool


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
    return dtypes[0] if dtypes else jnp.zeros(()).dtype


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


# ----------------------------------------------------------------------- sort
# Up to this many units, argsort counts ranks (all pairs compared at once),
# which XLA runs several times faster than its generic sort on short rows.
_RANK_ARGSORT_MAX_LENGTH = 64


def _stable_argsort(key: jax.Array) -> jax.Array:
    """``jnp.argsort(key, stable=True)`` of a 1-d array, by ranks if short.

    Rank of ``j``: the number of keys below ``key_j``, plus equal keys with a
    smaller index; the order puts unit ``j`` at its rank. Equal to the stable
    sort for non-NaN keys (``-0.0 == 0.0``, as for ``jnp.argsort``).
    """
    length = key.shape[0]
    if length > _RANK_ARGSORT_MAX_LENGTH:
        return jnp.argsort(key, stable=True)
    index = jnp.arange(length, dtype=jnp.int32)
    before = (key[None, :] < key[:, None]) | (
        (key[None, :] == key[:, None]) & (index[None, :] < index[:, None])
    )
    rank = jnp.sum(before, axis=1, dtype=jnp.int32)
    return jnp.zeros(length, jnp.int32).at[rank].set(index)


def sort_canonicalize(params: Any, symmetry: Symmetry) -> tuple[Any, GroupElement]:
    """Sort canonical map of one draw: scale-normalise, fix signs, sort units.

    For each axis in declaration order (input to output for an MLP):

    1. scaling axes: ``a_j = 1 / ||(w_in_j, b_j)||`` makes each incoming vector
       unit-norm and multiplies the outgoing weights by ``||.||``;
    2. sign axes: ``s_j = sign(key_j)`` (``+1`` at zero) makes every sign key
       non-negative;
    3. permutation axes: units are ordered by increasing sort key.

    The image is the fundamental domain ``{sign keys >= 0, sort keys
    ascending}`` (on the unit-norm set for scaling axes). Pure and jit-able;
    vmap it for batches (:func:`canonicalize` does).

    Args:
        params: one params pytree (not validated here; see :func:`canonicalize`).
        symmetry: the symmetry.

    Returns:
        ``(canonical_params, element)`` with ``canonical == act(element, params)``.
    """
    dtype = _float_dtype(params)
    total = symmetry.identity(dtype)
    current = params
    for index, axis in enumerate(symmetry.axes):
        if axis.has_scale:
            norms = _incoming_norms(current, symmetry, index)
            scale = 1.0 / jnp.where(norms > 0, norms, 1.0)
            step = _single_axis_element(symmetry, index, scale=scale, dtype=dtype)
            current = symmetry.act(step, current)
            total = symmetry.compose(step, total)
        if axis.has_sign:
            key = symmetry.unit_values(
                current, symmetry.resolve_key(axis, "sign", current), axis
            )
            sign = jnp.where(key < 0, -1.0, 1.0).astype(dtype)
            step = _single_axis_element(symmetry, index, sign=sign, dtype=dtype)
            current = symmetry.act(step, current)
            total = symmetry.compose(step, total)
        if axis.has_permutation:
            key = symmetry.unit_values(
                current, symmetry.resolve_key(axis, "sort", current), axis
            )
            order = _stable_argsort(key)
            step = _single_axis_element(symmetry, index, permutation=order, dtype=dtype)
            current = symmetry.act(step, current)
            total = symmetry.compose(step, total)
    return current, total


@partial(jax.jit, static_argnums=1)
def _sort_batch(params: Any, symmetry: Symmetry) -> tuple[Any, GroupElement]:
    return jax.vmap(lambda p: sort_canonicalize(p, symmetry))(params)


# ---------------------------------------------------------------------- align
# The invariant first sweep sorts short rows with a sorting network of
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


# ---------------------------------------------------------------- canonicalize
def canonicalize(
    params: Any,
    symmetry: Symmetry,
    method: Method = "sort",
    *,
    pivot: Any = None,
    batch_ndim: int = 0,
    return_element: bool = False,
    max_sweeps: int = 20,
) -> Any:
    """Map parameters to canonical (quotient) coordinates.

    ``canonicalize(g . theta) == canonicalize(theta)`` for every group element
    ``g`` (up to exact ties of keys or alignment scores), the map is
    idempotent, and the canonical parameters compute the same function.

    Args:
        params: params pytree with ``batch_ndim`` leading batch axes.
        symmetry: the symmetry.
        method: ``"sort"`` (fundamental domain by signs and ordering, see
            :func:`sort_canonicalize`) or ``"align"`` (closest element to
            ``pivot``, starting from the sort representative so that the
            result depends on the orbit only).
        pivot: one params pytree (required by ``"align"``).
        batch_ndim: number of leading batch axes, e.g. 2 for (chain, draw).
        return_element: also return the element applied to each draw.
        max_sweeps: coordinate-descent cap for ``"align"``.

    Returns:
        The canonical params (and the elements with ``return_element``).

    Raises:
        SymmetryError: the symmetry does not fit the params.
        ValueError: NaN or inf in the params, an unknown method, a missing or
            mismatched pivot.

    Example:
        >>> from symbayes.models import MLP
        >>> import jax
        >>> model = MLP((1, 3, 1), "tanh")
        >>> theta = model.init(jax.random.key(0))
        >>> canonical = canonicalize(theta, model.symmetry)
        >>> bias = canonical["b1"]
        >>> bool((bias >= 0).all() and (jnp.diff(bias) >= 0).all())
        True
    """
    if method not in ("sort", "align"):
        raise ValueError(f"unknown canonical method {method!r}; use 'sort' or 'align'")
    batch_shape = _check_batch(params, symmetry, batch_ndim)
    if method == "align":
        _check_pivot(pivot, params, symmetry, batch_ndim)
    flat = _flatten_batch(params, batch_ndim)
    canonical, elements = _sort_batch(flat, symmetry)
    if method == "align":
        canonical, elements, _ = _align_flat(
            canonical,
            _stack_one(pivot),
            _zeros_groups(canonical),
            symmetry,
            max_sweeps,
            total=elements,
        )
    canonical = _unflatten_batch(canonical, batch_shape)
    if not return_element:
        return canonical
    return canonical, _unflatten_batch(elements, batch_shape)


# --------------------------------------------------------------------- relabel
def _mean(flat: Any) -> Any:
    return jax.tree_util.tree_map(lambda x: jnp.mean(x, axis=0), flat)


def relabel(
    draws: Any,
    symmetry: Symmetry,
    *,
    method: Literal["pivot", "stephens", "ecr"] = "pivot",
    batch_ndim: int = 2,
    pivot: Any = None,
    by_chain: bool = True,
    allocation_probabilities: Any = None,
    pivot_allocation: Any = None,
    axis: str | None = None,
    max_iterations: int = 100,
    max_sweeps: int = 20,
    tolerance: float = 0.0,
) -> RelabelResult:
    """Relabel a whole set of draws consistently (undo label switching).

    ``method="pivot"`` (any symmetry): start from the sort representatives;
    repeat {align every draw to the pivot (:func:`align`); pivot <- mean of
    the aligned draws} until no draw changes (by default; see ``tolerance``).
    Each iteration does not increase ``sum_b ||g_b theta_b - pivot||^2`` (the
    k-means argument), so it stops. With ``by_chain`` (the default, for
    ``batch_ndim >= 2`` and no given pivot) every chain - the first batch
    axis - gets its own pivot, and the chain pivots are then labelled
    consistently through a minimum spanning tree of their aligned distances
    (each chain aligned to its nearest already-labelled chain). A single
    pivot for draws of several *functionally distinct* modes is the mean of
    unrelated networks: aligning a mode's draws to it is decided by nearly
    tied scores (a sign of an inner product close to zero), so the draws of
    one mode would be split over several labellings. Chains of MCMC rarely
    leave their functional mode, so per-chain pivots are sharp, and chains
    sharing a mode have nearly equal pivots, which align identically.

    ``method="stephens"`` (one permutation axis, e.g. mixture components):
    Stephens' (2000) algorithm. With allocation probabilities
    ``p_b[i, j]`` of datum ``i`` to component ``j`` in draw ``b``, iterate
    ``q = mean_b (permuted p_b)`` and, for every draw, the permutation
    minimising the KL divergence ``sum_i sum_k p_b[i, pi(k)] log(p_b[i, pi(k)]
    / q[i, k])``, a linear assignment problem, until nothing changes.

    ``method="ecr"``: equivalence classes representatives (Papastamoulis &
    Iliopoulos 2010). Allocations ``z_b[i] = argmax_j p_b[i, j]``; each draw
    gets the permutation maximising the agreements ``#{i: pi^-1(z_b[i]) =
    z*[i]}`` with a pivot allocation ``z*`` (default: the first draw's).

    Args:
        draws: params pytree with ``batch_ndim`` leading axes (chain, draw).
        symmetry: the symmetry.
        method: ``"pivot"``, ``"stephens"`` or ``"ecr"``.
        batch_ndim: number of leading batch axes.
        pivot: a fixed starting pivot for ``"pivot"`` (then one pivot for all
            draws; default: per-chain means of the sort representatives).
        by_chain: one pivot per chain (first batch axis) before the chains
            are relabelled among themselves.
        allocation_probabilities: ``(*batch, n, K)`` for Stephens and ECR.
        pivot_allocation: ``(n,)`` integer allocations for ECR.
        axis: the permutation axis that Stephens/ECR relabel (default: the
            only axis).
        max_iterations: iteration cap.
        max_sweeps: coordinate-descent cap per alignment.
        tolerance: ``"pivot"`` stops once an iteration (after the first)
            changes the element of at most this fraction of the draws. The
            default 0 iterates until no draw changes. A small positive value
            (say ``1e-3``) saves the last iterations, in which a few draws
            with nearly tied alignments flip while the pivot settles; those
            draws may then keep a labelling that one more iteration would
            change.

    Returns:
        A :class:`RelabelResult`.

    References:
        Stephens (2000), "Dealing with label switching in mixture models",
        JRSS B 62(4). Papastamoulis & Iliopoulos (2010), "An artificial
        allocations based solution to the label switching problem", JCGS
        19(2). Papastamoulis (2016), "label.switching: an R package", JSS 69.
        Marin, Mengersen & Robert (2005), "Bayesian modelling and inference
        on mixtures of distributions".
    """
    if method not in ("pivot", "stephens", "ecr"):
        raise ValueError(
            f"unknown relabel method {method!r}; use 'pivot', 'stephens' or 'ecr'"
        )
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must lie in [0, 1), got {tolerance}")
    batch_shape = _check_batch(draws, symmetry, batch_ndim)
    flat = _flatten_batch(draws, batch_ndim)
    if method == "pivot":
        if pivot is not None:
            _check_pivot(pivot, draws, symmetry, batch_ndim)
        return _relabel_pivot(
            flat,
            symmetry,
            batch_shape,
            pivot,
            by_chain and batch_ndim >= 2,
            max_iterations,
            max_sweeps,
            tolerance,
        )
    axis_index = _permutation_axis(symmetry, axis)
    probabilities = _check_allocations(
        allocation_probabilities, batch_shape, symmetry.axes[axis_index].size
    )
    if method == "stephens":
        permutations, iterations, converged = _stephens(probabilities, max_iterations)
    else:
        permutations = _ecr(probabilities, pivot_allocation)
        iterations, converged = 1, True
    dtype = _float_dtype(flat)
    elements = jax.vmap(
        lambda perm: _single_axis_element(
            symmetry, axis_index, permutation=perm, dtype=dtype
        )
    )(jnp.asarray(permutations))
    relabelled = _act_batch(elements, flat, symmetry)
    return RelabelResult(
        _unflatten_batch(relabelled, batch_shape),
        _unflatten_batch(elements, batch_shape),
        None,
        iterations,
        converged,
    )


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
        first = np.searchsorted(groups, np.arange(num_groups))
        last = np.searchsorted(groups, np.arange(num_groups), side="right")
        pivots = _take(current, (first + last) // 2)
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
) -> RelabelResult:
    current, total = _sort_batch(flat, symmetry)
    # the alignment updates these in place; leaves that no axis touches may
    # still be the caller's buffers, so they are copied once here
    current, total = _copy_tree(current), _copy_tree(total)
    batch = int(np.prod(batch_shape))
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
        step = _take(_merge_pivots(pivots, symmetry, max_sweeps), chains)
        current = _act_batch(step, current, symmetry)
        total = _compose_batch(step, total, symmetry)
    return RelabelResult(
        _unflatten_batch(current, batch_shape),
        _unflatten_batch(total, batch_shape),
        _mean(current),
        iterations,
        converged,
    )


def _permutation_axis(symmetry: Symmetry, name: str | None) -> int:
    if name is None:
        if len(symmetry.axes) != 1:
            raise ValueError(
                "the symmetry has several axes; name the one to relabel with axis="
            )
        index = 0
    else:
        index = symmetry.axis_names.index(symmetry.axis(name).name)
    chosen = symmetry.axes[index]
    if not chosen.has_permutation or chosen.has_sign or chosen.has_scale:
        raise ValueError(
            f"axis {chosen.name!r}: Stephens and ECR relabel permutation-only axes"
        )
    return index


def _check_allocations(
    probabilities: Any, batch_shape: tuple, num_components: int
) -> np.ndarray:
    if probabilities is None:
        raise ValueError(
            "Stephens and ECR need allocation_probabilities of shape "
            "(*batch, num_data, num_components)"
        )
    probabilities = np.asarray(probabilities, dtype=np.float64)
    expected = (*batch_shape, num_components)
    if (
        probabilities.ndim != len(batch_shape) + 2
        or probabilities.shape[: len(batch_shape)] != batch_shape
        or probabilities.shape[-1] != num_components
    ):
        raise ValueError(
            f"allocation_probabilities has shape {probabilities.shape}; expected "
            f"{expected[:-1]} + (num_data, {num_components})"
        )
    if not np.all(np.isfinite(probabilities)):
        raise ValueError("allocation_probabilities contain NaN or inf")
    return probabilities.reshape(-1, *probabilities.shape[-2:])


def _permutation_from_cost(cost: np.ndarray) -> np.ndarray:
    """Slot ``k`` receives old label ``pi(k)``; cost[b, j, k] of old j -> new k."""
    row_to_col = batched_linear_assignment(cost)
    return np.argsort(row_to_col, axis=1).astype(np.int32)


def _stephens(
    probabilities: np.ndarray, max_iterations: int
) -> tuple[np.ndarray, int, bool]:
    batch, _, num_components = probabilities.shape
    permutations = np.tile(np.arange(num_components, dtype=np.int32), (batch, 1))
    log_p = np.log(np.clip(probabilities, 1e-300, None))
    iteration, converged = 0, False
    for iteration in range(1, max_iterations + 1):
        permuted = np.take_along_axis(probabilities, permutations[:, None, :], axis=2)
        log_q = np.log(np.clip(permuted.mean(axis=0), 1e-300, None))
        # KL(p_b(pi) || q) up to a constant in pi: -sum_i p_b[i, j] log q[i, k]
        # plus sum_i p_b[i, j] log p_b[i, j], which does not depend on k.
        entropy = np.einsum("bij,bij->bj", probabilities, log_p)
        cost = entropy[:, :, None] - np.einsum("bij,ik->bjk", probabilities, log_q)
        updated = _permutation_from_cost(cost)
        if np.array_equal(updated, permutations):
            converged = True
            break
        permutations = updated
    return permutations, iteration, converged


def _ecr(probabilities: np.ndarray, pivot_allocation: Any) -> np.ndarray:
    batch, num_data, num_components = probabilities.shape
    allocations = probabilities.argmax(axis=2)
    if pivot_allocation is None:
        pivot_allocation = allocations[0]
    pivot_allocation = np.asarray(pivot_allocation)
    if pivot_allocation.shape != (num_data,) or not np.issubdtype(
        pivot_allocation.dtype, np.integer
    ):
        raise ValueError(
            f"pivot_allocation must be an integer array of shape ({num_data},)"
        )
    if pivot_allocation.min() < 0 or pivot_allocation.max() >= num_components:
        raise ValueError(f"pivot_allocation values must lie in [0, {num_components})")
    one_hot = np.eye(num_components)[allocations]  # (B, n, K)
    pivot_one_hot = np.eye(num_components)[pivot_allocation]  # (n, K)
    agreements = np.einsum("bij,ik->bjk", one_hot, pivot_one_hot)
    return _permutation_from_cost(-agreements)


def canonical_function(
    symmetry: Symmetry, method: Method = "sort", pivot: Any = None
) -> Callable[[Any], Any]:
    """A one-draw canonical map ``params -> canonical params`` (sort is jit-able)."""
    if method == "sort":
        return lambda params: sort_canonicalize(params, symmetry)[0]
    return lambda params: canonicalize(params, symmetry, "align", pivot=pivot)
