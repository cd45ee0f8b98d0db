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

from typing import Any

import numpy as np

from symbayes.assignment import batched_linear_assignment
from symbayes.symmetry import Symmetry

__all__: list[str] = []


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
