"""The front doors: :func:`canonicalize` (one draw or a batch) and :func:`relabel`."""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp

from symbayes.canonical.align import (
    _align_flat,
    _check_pivot,
    _stack_one,
    _zeros_groups,
)
from symbayes.canonical.common import (
    RelabelResult,
    _act_batch,
    _check_batch,
    _flatten_batch,
    _float_dtype,
    _single_axis_element,
    _unflatten_batch,
)
from symbayes.canonical.mixture import (
    _check_allocations,
    _ecr,
    _permutation_axis,
    _stephens,
)
from symbayes.canonical.pivot import _relabel_pivot
from symbayes.canonical.sort import _sort_batch
from symbayes.symmetry import Symmetry

__all__ = ["canonicalize", "relabel"]

Method = Literal["sort", "align"]


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
