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
  ``C_jk = sum_entries <theta_j, pivot_k>``, unit ``j`` goes to slot ``k`` at
  cost ``-|C_jk|`` with sign ``sign(C_jk)`` (``-C_jk`` without signs). Several
  axes are aligned by coordinate-descent sweeps, one axis at a time with the
  others held fixed, until no assignment changes (weight matching, Ainsworth,
  Hayase & Srinivasa 2023). Alignment starts from the sort representative, so
  the result depends on the orbit only.
* **relabel** - a whole set of draws: iterate {align every draw to the pivot;
  pivot <- mean of the aligned draws} until no draw changes (pivotal
  relabelling; Marin, Mengersen & Robert 2005). For mixtures with allocation
  probabilities, Stephens' (2000) KL algorithm and ECR (Papastamoulis &
  Iliopoulos 2010; Papastamoulis 2016, R package ``label.switching``).

Batches of draws are handled with leading axes (``batch_ndim``); nothing loops
over draws in Python: the sort path is ``jit(vmap(...))`` and the assignment
problems are solved in batches (:mod:`symbayes.assignment`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
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
        converged: whether the last iteration changed no draw.
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
            order = jnp.argsort(key, stable=True)
            step = _single_axis_element(symmetry, index, permutation=order, dtype=dtype)
            current = symmetry.act(step, current)
            total = symmetry.compose(step, total)
    return current, total


@partial(jax.jit, static_argnums=1)
def _sort_batch(params: Any, symmetry: Symmetry) -> tuple[Any, GroupElement]:
    return jax.vmap(lambda p: sort_canonicalize(p, symmetry))(params)


# ---------------------------------------------------------------------- align
@partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _alignment_scores(
    params: Any,
    pivot: Any,
    symmetry: Symmetry,
    axis_index: int,
    invariant: bool,
    pivot_batched: bool,
) -> tuple[jax.Array, jax.Array]:
    """Scores of unit ``j`` of each draw against unit ``k`` of its pivot.

    ``pivot`` is one params pytree, or one per draw with ``pivot_batched``.

    Returns ``(signed, unsigned)`` of shape ``(B, h, h)``. ``signed[b, j, k] =
    sum_entries <theta_b unit j, pivot unit k>`` changes sign with a flip of
    unit ``j``; ``unsigned`` does not. With ``invariant=True`` the entries on
    leaves shared with other axes (the outgoing weights ``W_{l+1}[j, :]`` of
    layer ``l``) enter only through their sorted absolute values, which no
    element of the other axes changes: the first coordinate-descent sweep
    then does not depend on how the other axes are currently labelled.
    """
    axis = symmetry.axes[axis_index]
    leaves = leaf_paths(params)
    pivot_leaves = leaf_paths(pivot)
    batch, size = jax.tree_util.tree_leaves(params)[0].shape[0], axis.size
    signed = jnp.zeros((batch, size, size), _float_dtype(params))
    unsigned = jnp.zeros_like(signed)
    for entry in axis.entries:
        leaf = leaves[entry.path]
        dim = entry.axis % (leaf.ndim - 1)
        mine = jax.vmap(lambda x, d=dim: _unit_matrix(x, d))(leaf)
        if pivot_batched:
            theirs = jax.vmap(lambda x, d=dim: _unit_matrix(x, d))(
                pivot_leaves[entry.path]
            )
        else:
            theirs = _unit_matrix(pivot_leaves[entry.path], dim)
        shared = len(symmetry._entries_by_path[entry.path]) > 1
        if invariant and shared:
            mine = jnp.sort(jnp.abs(mine), axis=-1)
            theirs = jnp.sort(jnp.abs(theirs), axis=-1)
        pattern = "bjm,bkm->bjk" if pivot_batched else "bjm,km->bjk"
        term = jnp.einsum(pattern, mine, theirs)
        if (invariant and shared) or entry.role == "permute" or not axis.has_sign:
            unsigned = unsigned + term
        else:
            signed = signed + term
    return signed, unsigned


@partial(jax.jit, static_argnums=(3, 4))
def _apply_axis_step(
    params: Any,
    permutation: jax.Array,
    sign: jax.Array,
    symmetry: Symmetry,
    axis_index: int,
) -> tuple[Any, GroupElement]:
    dtype = _float_dtype(params)

    def one(p, perm, s):
        step = _single_axis_element(
            symmetry, axis_index, permutation=perm, sign=s, dtype=dtype
        )
        return symmetry.act(step, p), step

    return jax.vmap(one)(params, permutation, sign)


@partial(jax.jit, static_argnums=2)
def _compose_batch(
    g: GroupElement, h: GroupElement, symmetry: Symmetry
) -> GroupElement:
    return jax.vmap(symmetry.compose)(g, h)


def _assignment_from_scores(
    signed: np.ndarray, unsigned: np.ndarray, axis_has_sign: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Best permutation (slot ``k`` <- unit ``pi(k)``) and signs from scores.

    ``||s x_j - p_k||^2 = const - 2 (s signed_jk + unsigned_jk)``, minimised by
    ``s = sign(signed_jk)``: the assignment cost is ``-(|signed| + unsigned)``
    with sign flips, ``-(signed + unsigned)`` without.
    """
    signed_part = np.abs(signed) if axis_has_sign else signed
    row_to_col = batched_linear_assignment(-(signed_part + unsigned))
    permutation = np.argsort(row_to_col, axis=1).astype(np.int32)
    if not axis_has_sign:
        return permutation, np.ones(permutation.shape)
    batch, size = permutation.shape
    # score of the unit placed in slot k against pivot unit k
    placed = signed[np.arange(batch)[:, None], permutation, np.arange(size)]
    return permutation, np.where(placed < 0, -1.0, 1.0)


def _align_flat(
    flat: Any,
    pivot: Any,
    symmetry: Symmetry,
    max_sweeps: int,
    invariant_start: bool = True,
    pivot_batched: bool = False,
) -> tuple[Any, GroupElement, np.ndarray]:
    """Coordinate-descent alignment of a flat batch ``(B, ...)`` to ``pivot``.

    ``pivot`` is one params pytree, or one per draw with ``pivot_batched``.

    The first sweep uses scores invariant to the other axes' labelling when
    ``invariant_start`` (see :func:`_alignment_scores`); later sweeps use the
    exact squared distance, one axis at a time, until a sweep moves nothing.

    Returns the aligned batch, the element applied to each draw and a boolean
    array saying which draws moved.
    """
    batch = jax.tree_util.tree_leaves(flat)[0].shape[0]
    dtype = _float_dtype(flat)
    total = _identity_batch(symmetry, batch, dtype)
    moved = np.zeros(batch, dtype=bool)
    for sweep in range(max_sweeps):
        changed = False
        for index, axis in enumerate(symmetry.axes):
            if not (axis.has_permutation or axis.has_sign):
                continue
            signed, unsigned = _alignment_scores(
                flat,
                pivot,
                symmetry,
                index,
                invariant_start and sweep == 0,
                pivot_batched,
            )
            signed, unsigned = np.asarray(signed), np.asarray(unsigned)
            if axis.has_permutation:
                permutation, sign = _assignment_from_scores(
                    signed, unsigned, axis.has_sign
                )
            else:
                diagonal = np.diagonal(signed, axis1=1, axis2=2)
                permutation = np.broadcast_to(
                    np.arange(axis.size, dtype=np.int32), diagonal.shape
                )
                sign = np.where(diagonal < 0, -1.0, 1.0)
            moves = np.any(permutation != np.arange(axis.size), axis=1) | np.any(
                sign < 0, axis=1
            )
            if not moves.any():
                continue
            changed = True
            moved |= moves
            flat, step = _apply_axis_step(
                flat,
                jnp.asarray(permutation),
                jnp.asarray(sign, dtype),
                symmetry,
                index,
            )
            total = _compose_batch(step, total, symmetry)
        if not changed and sweep > 0:
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
    aligned, elements, _ = _align_flat(flat, pivot, symmetry, max_sweeps)
    return _unflatten_batch(aligned, batch_shape), _unflatten_batch(
        elements, batch_shape
    )


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
        canonical, aligning, _ = _align_flat(canonical, pivot, symmetry, max_sweeps)
        elements = _compose_batch(aligning, elements, symmetry)
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
) -> RelabelResult:
    """Relabel a whole set of draws consistently (undo label switching).

    ``method="pivot"`` (any symmetry): start from the sort representatives;
    repeat {align every draw to the pivot (:func:`align`); pivot <- mean of
    the aligned draws} until no draw changes. Each iteration does not increase
    ``sum_b ||g_b theta_b - pivot||^2`` (the k-means argument), so it stops.
    With ``by_chain`` (the default for ``batch_ndim >= 1`` and no given
    pivot) every chain - the first batch axis - gets its own pivot, and the
    chain pivots are then labelled consistently through a minimum spanning
    tree of their aligned distances (each chain aligned to its nearest
    already-labelled chain). A single
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
    relabelled = jax.jit(jax.vmap(symmetry.act))(elements, flat)
    return RelabelResult(
        _unflatten_batch(relabelled, batch_shape),
        _unflatten_batch(elements, batch_shape),
        None,
        iterations,
        converged,
    )


def _group_means(flat: Any, groups: np.ndarray, num_groups: int) -> Any:
    """Mean of the draws of every group (sorted group ids): ``(num_groups, ...)``."""
    counts = np.bincount(groups, minlength=num_groups).astype(np.float64)
    segment_ids = jnp.asarray(groups)

    def mean(x: jax.Array) -> jax.Array:
        sums = jax.ops.segment_sum(x, segment_ids, num_segments=num_groups)
        shape = (num_groups,) + (1,) * (x.ndim - 1)
        return sums / jnp.asarray(counts, x.dtype).reshape(shape)

    return jax.tree_util.tree_map(mean, flat)


def _take(tree: Any, index: np.ndarray) -> Any:
    return jax.tree_util.tree_map(lambda x: x[index], tree)


def _relabel_to_group_pivots(
    current: Any,
    total: GroupElement,
    symmetry: Symmetry,
    groups: np.ndarray,
    num_groups: int,
    max_iterations: int,
    max_sweeps: int,
    pivots: Any = None,
) -> tuple[Any, GroupElement, Any, int, bool]:
    """Iterate {align each draw to its group's pivot; pivots <- group means}."""
    if pivots is None:
        # A single member of each group, not the group mean: the mean of draws
        # whose sort representatives disagree (nearly tied keys) is blurred,
        # and a blurred pivot can leave the group split over two labellings.
        first = np.searchsorted(groups, np.arange(num_groups))
        last = np.searchsorted(groups, np.arange(num_groups), side="right")
        pivots = _take(current, (first + last) // 2)
    converged, iteration = False, 0
    for iteration in range(1, max_iterations + 1):
        current, step, moved = _align_flat(
            current,
            _take(pivots, groups),
            symmetry,
            max_sweeps,
            invariant_start=iteration == 1,
            pivot_batched=True,
        )
        total = _compose_batch(step, total, symmetry)
        pivots = _group_means(current, groups, num_groups)
        if iteration > 1 and not moved.any():
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
        _take(pivots, rows), _take(pivots, cols), symmetry, max_sweeps, True, True
    )
    difference = jax.tree_util.tree_map(jnp.subtract, aligned, _take(pivots, cols))
    distance = sum(
        np.asarray(jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1))
        for x in jax.tree_util.tree_leaves(difference)
    ).reshape(num, num)
    dtype = _float_dtype(pivots)
    labelled = {0: symmetry.identity(dtype)}
    while len(labelled) < num:
        done = np.array(sorted(labelled))
        todo = np.array([i for i in range(num) if i not in labelled])
        block = distance[np.ix_(todo, done)]
        row, col = np.unravel_index(np.argmin(block), block.shape)
        child, parent = int(todo[row]), int(done[col])
        to_parent = _take(pair_elements, np.array(child * num + parent))
        labelled[child] = symmetry.compose(labelled[parent], to_parent)
    ordered = [labelled[i] for i in range(num)]
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *ordered)


def _relabel_pivot(
    flat: Any,
    symmetry: Symmetry,
    batch_shape: tuple,
    pivot: Any,
    by_chain: bool,
    max_iterations: int,
    max_sweeps: int,
) -> RelabelResult:
    current, total = _sort_batch(flat, symmetry)
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
    )
    if num_chains > 1:
        step = _take(_merge_pivots(pivots, symmetry, max_sweeps), chains)
        current = jax.jit(jax.vmap(symmetry.act))(step, current)
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
