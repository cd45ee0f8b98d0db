"""Relabelling of mixture components from allocations (label.switching's methods).

Permutation convention (as in the R package ``label.switching``): a draw's
permutation ``perm`` relabels it so that **new label k takes old label
perm[k]**: relabelled ``means[k] = means[perm[k]]``; an allocation ``z_i = j``
becomes ``perm^{-1}(j)``.

References:
    Stephens (2000). Dealing with label switching in mixture models. JRSS B
    62(4). Papastamoulis & Iliopoulos (2010). An artificial allocations based
    solution to the label switching problem in Bayesian analysis of mixtures
    of distributions. JCGS 19(2). Papastamoulis (2016). label.switching: an R
    package for dealing with the label switching problem in MCMC outputs.
    JSS 69.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from symbayes.assignment import batched_linear_assignment
from symbayes.symmetry import AxisEntry, HiddenAxis, Symmetry

__all__ = [
    "LabelSwitching",
    "components_symmetry",
    "data_based",
    "ecr",
    "ecr_iterative_1",
    "ecr_iterative_2",
    "label_switching",
    "mcmc_to_params",
    "params_to_mcmc",
    "permute_mcmc",
    "pra",
    "sjw",
    "stephens",
]

METHODS = (
    "ECR",
    "ECR-ITERATIVE-1",
    "ECR-ITERATIVE-2",
    "STEPHENS",
    "PRA",
    "DATA-BASED",
    "SJW",
)
_TINY = 1e-6  # label.switching's smoothing of allocation probabilities


# ------------------------------------------------------------------ checks
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
            f"axis {chosen.name!r}: the mixture methods relabel permutation-only axes"
        )
    return index


def _check_allocations(
    probabilities: Any, batch_shape: tuple, num_components: int
) -> np.ndarray:
    if probabilities is None:
        raise ValueError(
            "Stephens, ECR-iterative-2 and ECR without allocations need "
            "allocation_probabilities of shape (*batch, num_data, num_components)"
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


def _check_z(z: Any, num_components: int, what: str = "allocations") -> np.ndarray:
    """Integer allocations ``(m, n)`` with values in ``[0, K)``."""
    z = np.asarray(z)
    if z.ndim != 2 or not np.issubdtype(z.dtype, np.integer):
        raise ValueError(
            f"{what} must be an integer array (draws, num_data), got shape "
            f"{z.shape} of {z.dtype}"
        )
    if z.size and (z.min() < 0 or z.max() >= num_components):
        raise ValueError(
            f"{what} values must lie in [0, {num_components}) (labels start at 0), "
            f"got [{z.min()}, {z.max()}]"
        )
    return z


def _check_pivots(pivot: Any, num_data: int, num_components: int) -> np.ndarray:
    """ECR pivots as ``(P, n)``."""
    pivot = np.asarray(pivot)
    if pivot.ndim == 1:
        pivot = pivot[None]
    if (
        pivot.ndim != 2
        or pivot.shape[1] != num_data
        or not np.issubdtype(pivot.dtype, np.integer)
    ):
        raise ValueError(
            f"pivot_allocation must be an integer array of shape ({num_data},) or "
            f"(num_pivots, {num_data})"
        )
    if pivot.min() < 0 or pivot.max() >= num_components:
        raise ValueError(f"pivot_allocation values must lie in [0, {num_components})")
    return pivot


def _check_mcmc(mcmc: Any) -> np.ndarray:
    mcmc = np.asarray(mcmc, dtype=np.float64)
    if mcmc.ndim != 3:
        raise ValueError(
            f"mcmc must be an (m, K, J) array: draws, components, parameters; got "
            f"shape {mcmc.shape}"
        )
    if not np.all(np.isfinite(mcmc)):
        raise ValueError("mcmc holds NaN or inf values")
    return mcmc


# ------------------------------------------------------------ conventions
def _permutation_from_cost(cost: np.ndarray) -> np.ndarray:
    """``perm[b, k]``: the old label that new label ``k`` takes.

    ``cost[b, j, k]`` is the cost of old label ``j`` becoming new label ``k``.
    """
    row_to_col = batched_linear_assignment(cost)
    return np.argsort(row_to_col, axis=1).astype(np.int32)


def _inverse(permutations: np.ndarray) -> np.ndarray:
    return np.argsort(permutations, axis=-1).astype(np.int32)


def _relabel_z(z: np.ndarray, permutations: np.ndarray) -> np.ndarray:
    """Allocations under the new labels: old ``j`` becomes ``perm^{-1}[j]``."""
    return np.take_along_axis(_inverse(permutations), z, axis=1)


def permute_mcmc(mcmc: Any, permutations: Any) -> np.ndarray:
    """Apply permutations to ``(m, K, J)`` draws: ``new[b, k] = old[b, perm[b, k]]``.

    label.switching's ``permute.mcmc``.
    """
    mcmc = np.asarray(mcmc)
    permutations = np.asarray(permutations)
    return np.take_along_axis(mcmc, permutations[:, :, None], axis=1)


def _modal_allocation(z: np.ndarray, num_components: int) -> np.ndarray:
    """Per observation, the most frequent label (the smallest on ties)."""
    counts = np.zeros((z.shape[1], num_components), dtype=np.int64)
    np.add.at(counts, (np.broadcast_to(np.arange(z.shape[1]), z.shape), z), 1)
    return counts.argmax(axis=1)


def _ecr_costs(z: np.ndarray, pivot: np.ndarray, num_components: int) -> np.ndarray:
    """Disagreements of old label ``j`` relabelled ``k``: ``(m, K, K)``.

    ``cost[b, j, k] = #{i: z_bi = j} - #{i: z_bi = j, pivot_i = k}``, as in
    label.switching.
    """
    one_hot = np.eye(num_components)[z]  # (m, n, K)
    pivot_one_hot = np.eye(num_components)[pivot]  # (n, K)
    agreements = np.einsum("bij,ik->bjk", one_hot, pivot_one_hot)
    return one_hot.sum(axis=1)[:, :, None] - agreements


def _total_cost(cost: np.ndarray, permutations: np.ndarray) -> float:
    old = permutations
    new = np.broadcast_to(np.arange(permutations.shape[1]), permutations.shape)
    rows = np.arange(cost.shape[0])[:, None]
    return float(cost[rows, old, new].sum())


# -------------------------------------------------------------------- ECR
def ecr(z: Any, num_components: int, pivot_allocation: Any) -> np.ndarray:
    """ECR: each draw's permutation maximising agreement with pivot allocations.

    Papastamoulis & Iliopoulos (2010): with allocations ``z_b`` and a pivot
    ``z*``, draw ``b`` gets the permutation maximising
    ``#{i: perm^{-1}(z_bi) = z*_i}``, a linear assignment problem.

    Args:
        z: ``(m, n)`` integer allocations, labels ``0 .. K-1``.
        num_components: ``K``.
        pivot_allocation: ``(n,)`` pivot, or ``(P, n)`` for several pivots at
            once (label.switching's ``zpivot`` matrix).

    Returns:
        ``(m, K)`` permutations (new label ``k`` takes old label
        ``perm[k]``), or ``(P, m, K)`` with several pivots.
    """
    z = _check_z(z, num_components)
    pivots = _check_pivots(pivot_allocation, z.shape[1], num_components)
    out = np.stack(
        [
            _permutation_from_cost(_ecr_costs(z, pivot, num_components))
            for pivot in pivots
        ]
    )
    return out[0] if np.ndim(pivot_allocation) == 1 else out


def ecr_iterative_1(
    z: Any,
    num_components: int,
    *,
    initial: Any = None,
    max_iterations: int = 100,
) -> tuple[np.ndarray, int]:
    """ECR-iterative-1: the pivot is the modal relabelled allocation, iterated.

    Papastamoulis & Iliopoulos (2010), algorithm 2: starting from
    ``initial`` permutations (identity), repeat {pivot <- per observation the
    most frequent relabelled label; ECR of every draw to the pivot} until the
    total disagreement stops changing.

    Returns:
        ``(permutations (m, K), iterations)``.
    """
    z = _check_z(z, num_components)
    permutations = (
        np.tile(np.arange(num_components, dtype=np.int32), (z.shape[0], 1))
        if initial is None
        else np.asarray(initial, dtype=np.int32)
    )
    previous, iteration = None, 0
    for iteration in range(1, max_iterations + 1):
        pivot = _modal_allocation(_relabel_z(z, permutations), num_components)
        cost = _ecr_costs(z, pivot, num_components)
        permutations = _permutation_from_cost(cost)
        current = _total_cost(cost, permutations)
        if previous is not None and abs(previous - current) < 1e-6:
            break
        previous = current
    return permutations, iteration


def ecr_iterative_2(
    z: Any,
    num_components: int,
    probabilities: Any,
    *,
    max_iterations: int = 100,
) -> tuple[np.ndarray, int]:
    """ECR-iterative-2: the pivot is the argmax of the mean relabelled probabilities.

    Papastamoulis & Iliopoulos (2010), algorithm 3: with ``q = mean_b
    p_b(perm_b)`` (``q[i, k] = mean_b p_b[i, perm_b[k]]``), the pivot is
    ``z*_i = argmax_k q[i, k]``; ECR of every draw's ``z_b`` to it; repeat
    from identity permutations until the total disagreement stops changing.

    Args:
        z: ``(m, n)`` allocations (e.g. ``probabilities.argmax(-1)``).
        num_components: ``K``.
        probabilities: ``(m, n, K)`` allocation probabilities.

    Returns:
        ``(permutations (m, K), iterations)``.
    """
    z = _check_z(z, num_components)
    probabilities = _check_allocations(probabilities, (z.shape[0],), num_components)
    permutations = np.tile(np.arange(num_components, dtype=np.int32), (z.shape[0], 1))
    previous, iteration = None, 0
    for iteration in range(1, max_iterations + 1):
        q = np.take_along_axis(probabilities, permutations[:, None, :], axis=2).mean(0)
        cost = _ecr_costs(z, q.argmax(axis=1), num_components)
        permutations = _permutation_from_cost(cost)
        current = _total_cost(cost, permutations)
        if previous is not None and abs(previous - current) < 1e-6:
            break
        previous = current
    return permutations, iteration


# --------------------------------------------------------------- Stephens
def stephens(
    probabilities: Any, *, max_iterations: int = 100, smooth: bool = True
) -> tuple[np.ndarray, int, bool]:
    """Stephens' (2000) KL algorithm on allocation probabilities.

    Iterate ``q = mean_b p_b(perm_b)`` and, for every draw, the permutation
    minimising ``sum_i sum_k p_b[i, perm(k)] log(p_b[i, perm(k)] / q[i, k])``
    (a linear assignment problem), until no permutation changes. With
    ``smooth`` (label.switching's default) the probabilities are clipped to
    ``[1e-6, 1 - 1e-6]`` and renormalised first.

    Args:
        probabilities: ``(m, n, K)``.
        max_iterations: iteration cap.
        smooth: clip and renormalise as label.switching does.

    Returns:
        ``(permutations (m, K), iterations, converged)``.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 3:
        raise ValueError(
            f"probabilities must be (m, n, K), got shape {probabilities.shape}"
        )
    probabilities = _check_allocations(
        probabilities, probabilities.shape[:1], probabilities.shape[2]
    )
    if smooth:
        probabilities = np.clip(probabilities, _TINY, 1 - _TINY)
        probabilities = probabilities / probabilities.sum(axis=2, keepdims=True)
    return _stephens(probabilities, max_iterations)


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
    """ECR from probabilities (their argmax allocations), one pivot."""
    allocations = probabilities.argmax(axis=2)
    if pivot_allocation is None:
        pivot_allocation = allocations[0]
    if np.ndim(pivot_allocation) != 1:
        raise ValueError(
            "relabel takes one pivot_allocation of shape (num_data,); for several "
            "pivots use symbayes.canonical.mixture.ecr or label_switching"
        )
    return ecr(allocations, probabilities.shape[2], pivot_allocation)


# ---------------------------------------------------------------------- PRA
def pra(mcmc: Any, pivot: Any) -> np.ndarray:
    """PRA: the permutation maximising the inner product with a fixed pivot.

    Marin, Mengersen & Robert (2005): draw ``b`` gets
    ``argmax_perm sum_k <pivot_k, theta_b[perm[k]]>``, here solved exactly as
    a linear assignment problem instead of enumerating the ``K!``
    permutations. On the params pytree this is :func:`symbayes.canonical.align`
    to a fixed pivot (``relabel(..., method="pra", pivot=...)``).

    Args:
        mcmc: ``(m, K, J)`` draws.
        pivot: ``(K, J)``.

    Returns:
        ``(m, K)`` permutations.
    """
    mcmc = _check_mcmc(mcmc)
    pivot = np.asarray(pivot, dtype=np.float64)
    if pivot.shape != mcmc.shape[1:]:
        raise ValueError(
            f"pivot has shape {pivot.shape}; expected (K, J) = {mcmc.shape[1:]}"
        )
    score = np.einsum("bjd,kd->bjk", mcmc, pivot)  # old j as new k
    return _permutation_from_cost(-score)


# ---------------------------------------------------------------- data-based
def data_based(
    data: Any, num_components: int, z: Any, *, max_iterations: int = 100
) -> tuple[np.ndarray, int]:
    """Data-based relabelling (Rodriguez & Walker 2014), k-means form.

    Cluster centres and spreads of the data are estimated under the current
    labelling, ``c_k`` and ``s_k`` (per data column, over every draw's
    observations with label ``k``); each draw then gets the permutation
    minimising ``sum_k sum_{i: new label k} sum_d ((x_id - c_kd) / s_kd)^2``,
    a linear assignment problem; repeat from identity permutations until no
    permutation changes. It needs only the data and the allocations.

    Args:
        data: ``(n,)`` or ``(n, d)`` observations.
        num_components: ``K``.
        z: ``(m, n)`` allocations.
        max_iterations: iteration cap.

    Returns:
        ``(permutations (m, K), iterations)``.
    """
    z = _check_z(z, num_components)
    x = np.asarray(data, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[0] != z.shape[1]:
        raise ValueError(
            f"data must be (n,) or (n, d) with n = {z.shape[1]} (the allocations' "
            f"columns), got shape {np.shape(data)}"
        )
    m, n = z.shape
    overall = x.std(axis=0)
    permutations = np.tile(np.arange(num_components, dtype=np.int32), (m, 1))
    one_hot = np.eye(num_components)[z]  # (m, n, K)
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        relabelled = np.eye(num_components)[_relabel_z(z, permutations)]
        counts = relabelled.sum(axis=(0, 1))  # (K,)
        sums = np.einsum("bik,id->kd", relabelled, x)
        squares = np.einsum("bik,id->kd", relabelled, x**2)
        safe = np.maximum(counts, 1)[:, None]
        centres = sums / safe
        spread = np.sqrt(np.maximum(squares / safe - centres**2, 0.0))
        spread = np.where(spread > 0, spread, np.where(overall > 0, overall, 1.0))
        # cost[b, j, k]: data of old label j measured against centre k
        distance = (((x[:, None, :] - centres[None]) / spread[None]) ** 2).sum(2)
        cost = np.einsum("bij,ik->bjk", one_hot, distance)
        updated = _permutation_from_cost(cost)
        if np.array_equal(updated, permutations):
            break
        permutations = updated
    return permutations, iteration


# ----------------------------------------------------------------------- SJW
def sjw(
    mcmc: Any,
    z: Any,
    complete_log_likelihood: Callable[[Any, np.ndarray, np.ndarray], float],
    data: Any,
    *,
    initial: int | None = None,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
) -> tuple[np.ndarray, int]:
    """SJW (Sperrin, Jaki & Wit 2010): EM over the ``K!`` permutations.

    Treats each draw's permutation as missing data. E-step: for every draw
    ``b`` and permutation ``perm``, ``w_b(perm) ∝ exp(L(x, z'_b, theta_hat))``
    with the complete-data log-likelihood ``L`` of the relabelled allocations
    ``z'`` (old label ``j`` becomes ``perm^{-1}[j]``). M-step: ``theta_hat =
    mean_b sum_perm w_b(perm) theta_b[perm]``. Repeat until ``theta_hat``
    moves by less than ``tolerance``. Each draw then takes its most probable
    permutation (label.switching samples one from ``w_b``). Feasible for
    small ``K`` (``K!`` evaluations per draw and iteration).

    Args:
        mcmc: ``(m, K, J)`` draws.
        z: ``(m, n)`` allocations.
        complete_log_likelihood: ``(data, z (n,), theta (K, J)) -> float``.
        data: passed to ``complete_log_likelihood``.
        initial: start ``theta_hat`` at draw ``initial`` (default: the mean
            of the draws, label.switching's ``init = 0``).
        max_iterations: EM iteration cap.
        tolerance: on ``max |theta_hat change|``.

    Returns:
        ``(permutations (m, K), iterations)``.
    """
    mcmc = _check_mcmc(mcmc)
    m, num_components, _ = mcmc.shape
    z = _check_z(z, num_components)
    if z.shape[0] != m:
        raise ValueError(f"z has {z.shape[0]} draws, mcmc has {m}")
    if math.factorial(num_components) > 5040:
        raise ValueError(
            f"SJW enumerates K! permutations; K = {num_components} is too many"
        )
    perms = np.array(list(itertools.permutations(range(num_components))), np.int32)
    theta = mcmc.mean(axis=0) if initial is None else mcmc[int(initial)].copy()
    inverse = _inverse(perms)
    weights = np.zeros((m, len(perms)))
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        log_w = np.array(
            [
                [
                    complete_log_likelihood(data, inverse[p][z[b]], theta)
                    for p in range(len(perms))
                ]
                for b in range(m)
            ]
        )
        log_w -= log_w.max(axis=1, keepdims=True)
        weights = np.exp(log_w)
        weights /= weights.sum(axis=1, keepdims=True)
        permuted = mcmc[:, perms, :]  # (m, K!, K, J)
        updated = np.einsum("bp,bpkj->kj", weights, permuted) / m
        moved = np.max(np.abs(updated - theta))
        theta = updated
        if moved < tolerance:
            break
    return perms[weights.argmax(axis=1)], iteration


# --------------------------------------------------------- R-shaped arrays
def components_symmetry(
    columns: Sequence[str], num_components: int, name: str = "components"
) -> Symmetry:
    """One permutation axis over the components of named parameter columns.

    For params ``{column: (K,)}`` made by :func:`mcmc_to_params`.
    """
    entries = tuple(AxisEntry(str(column), 0, "permute") for column in columns)
    return Symmetry((HiddenAxis(name, num_components, entries, ("permutation",)),))


def mcmc_to_params(
    mcmc: Any, columns: Sequence[str]
) -> tuple[dict[str, np.ndarray], Symmetry]:
    """An R-shaped ``(m, K, J)`` array as a params pytree and its symmetry.

    Args:
        mcmc: draws, components, parameters (label.switching's ``mcmc``).
        columns: ``J`` names, e.g. ``("mean", "sd", "weight")``.

    Returns:
        ``({column: (m, K)}, symmetry)``.
    """
    mcmc = _check_mcmc(mcmc)
    columns = tuple(str(c) for c in columns)
    if len(columns) != mcmc.shape[2] or len(set(columns)) != len(columns):
        raise ValueError(
            f"columns must name the {mcmc.shape[2]} parameters (last axis) "
            f"uniquely, got {columns}"
        )
    params = {column: mcmc[:, :, j] for j, column in enumerate(columns)}
    return params, components_symmetry(columns, mcmc.shape[1])


def params_to_mcmc(params: dict[str, Any], columns: Sequence[str]) -> np.ndarray:
    """Inverse of :func:`mcmc_to_params`: ``(m, K, J)``."""
    return np.stack([np.asarray(params[c]) for c in columns], axis=-1)


# ------------------------------------------------------------ several methods
class LabelSwitching(NamedTuple):
    """Several relabelling methods and where they agree (label.switching()).

    Attributes:
        permutations: ``{method: (m, K)}``, every method's labels reordered to
            agree with the first method's (when allocations are given).
        best_clusterings: ``{method: (n,)}`` modal relabelled allocation of
            every observation (with allocations).
        similarity: ``(L, L)`` share of observations whose best clusterings
            agree (with allocations; else ``None``).
        draw_agreement: ``(L, L)`` share of draws given the same permutation.
        iterations: ``{method: iterations}`` of the iterative methods.
        names: the method names, in order.
    """

    permutations: dict[str, np.ndarray]
    best_clusterings: dict[str, np.ndarray] | None
    similarity: np.ndarray | None
    draw_agreement: np.ndarray
    iterations: dict[str, int]
    names: tuple[str, ...]


def label_switching(
    methods: Sequence[str],
    *,
    z: Any = None,
    num_components: int | None = None,
    pivot_allocation: Any = None,
    probabilities: Any = None,
    mcmc: Any = None,
    pra_pivot: Any = None,
    data: Any = None,
    complete_log_likelihood: Callable | None = None,
    sjw_initial: int | None = None,
) -> LabelSwitching:
    """Run several relabelling methods and report where they agree.

    The entry point of the R package: methods among ``"ECR"``,
    ``"ECR-ITERATIVE-1"``, ``"ECR-ITERATIVE-2"``, ``"STEPHENS"``, ``"PRA"``,
    ``"DATA-BASED"``, ``"SJW"`` (case-insensitive). ``"ECR"`` with a
    ``(P, n)`` pivot runs once per pivot (named ``ECR-1`` ... ``ECR-P``). With
    allocations ``z``, every method's labels are then permuted to agree best
    with the first method's best clustering (the per-observation modal
    relabelled label), and ``similarity`` is the share of observations on
    which two methods' best clusterings agree, as in label.switching.
    Labels start at 0; permutations follow the convention new label ``k``
    takes old label ``perm[k]``.

    Args:
        methods: the methods, in order.
        z: ``(m, n)`` allocations (ECR, ECR-iterative-1/2, data-based, SJW).
        num_components: ``K`` (default: from ``probabilities`` / ``mcmc`` /
            ``z``).
        pivot_allocation: ``(n,)`` or ``(P, n)`` ECR pivots.
        probabilities: ``(m, n, K)`` (Stephens, ECR-iterative-2).
        mcmc: ``(m, K, J)`` draws (PRA, SJW).
        pra_pivot: ``(K, J)`` PRA pivot.
        data: the observations (data-based, SJW).
        complete_log_likelihood: ``(data, z, theta) -> float`` (SJW).
        sjw_initial: SJW's starting draw (default the mean).

    Returns:
        :class:`LabelSwitching`.

    Raises:
        ValueError: an unknown method, or a method without its inputs (named).
    """
    upper = [str(method).upper() for method in methods]
    unknown = [m for m in upper if m not in METHODS]
    if unknown or not upper:
        raise ValueError(f"unknown method(s) {unknown}; choose from {METHODS}")
    if len(set(upper)) != len(upper):
        raise ValueError(f"methods repeat: {upper}")
    if num_components is None:
        if probabilities is not None:
            num_components = int(np.shape(probabilities)[-1])
        elif mcmc is not None:
            num_components = int(np.shape(mcmc)[1])
        elif z is not None:
            num_components = int(np.max(z)) + 1
        else:
            raise ValueError("give z, probabilities or mcmc")
    needs = {
        "ECR": ("z", "pivot_allocation"),
        "ECR-ITERATIVE-1": ("z",),
        "ECR-ITERATIVE-2": ("z", "probabilities"),
        "STEPHENS": ("probabilities",),
        "PRA": ("mcmc", "pra_pivot"),
        "DATA-BASED": ("z", "data"),
        "SJW": ("mcmc", "z", "data", "complete_log_likelihood"),
    }
    given = {
        "z": z,
        "pivot_allocation": pivot_allocation,
        "probabilities": probabilities,
        "mcmc": mcmc,
        "pra_pivot": pra_pivot,
        "data": data,
        "complete_log_likelihood": complete_log_likelihood,
    }
    for method in upper:
        missing = [name for name in needs[method] if given[name] is None]
        if missing:
            raise ValueError(f"method {method} needs {', '.join(missing)}")
    permutations: dict[str, np.ndarray] = {}
    iterations: dict[str, int] = {}
    for method in upper:
        if method == "ECR":
            result = ecr(z, num_components, pivot_allocation)
            if np.ndim(pivot_allocation) == 1:
                permutations["ECR"] = result
            else:
                for index, perms in enumerate(result, start=1):
                    permutations[f"ECR-{index}"] = perms
        elif method == "ECR-ITERATIVE-1":
            permutations[method], iterations[method] = ecr_iterative_1(
                z, num_components
            )
        elif method == "ECR-ITERATIVE-2":
            permutations[method], iterations[method] = ecr_iterative_2(
                z, num_components, probabilities
            )
        elif method == "STEPHENS":
            perms, iterations[method], _ = stephens(probabilities)
            permutations[method] = perms
        elif method == "PRA":
            permutations[method] = pra(mcmc, pra_pivot)
        elif method == "DATA-BASED":
            permutations[method], iterations[method] = data_based(
                data, num_components, z
            )
        else:
            permutations[method], iterations[method] = sjw(
                mcmc, z, complete_log_likelihood, data, initial=sjw_initial
            )
    names = tuple(permutations)
    best = similarity = None
    if z is not None:
        z = _check_z(z, num_components)
        best = {}
        reference = _modal_allocation(
            _relabel_z(z, permutations[names[0]]), num_components
        )
        for name in names:
            clustering = _modal_allocation(
                _relabel_z(z, permutations[name]), num_components
            )
            # relabel the whole method so that its best clustering agrees
            # most with the first method's
            shift = ecr(clustering[None], num_components, reference)[0]
            permutations[name] = permutations[name][:, shift]
            best[name] = _inverse(shift)[clustering]
        similarity = np.array(
            [[np.mean(best[a] == best[b]) for b in names] for a in names]
        )
    agreement = np.array(
        [
            [np.mean(np.all(permutations[a] == permutations[b], axis=1)) for b in names]
            for a in names
        ]
    )
    return LabelSwitching(permutations, best, similarity, agreement, iterations, names)
