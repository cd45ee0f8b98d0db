r"""Warmup of HMC-family kernels: Stan's windowed adaptation, per chain or pooled.

**Per chain** (the default, Stan's scheme): dual averaging of the step size
(Hoffman & Gelman 2014) and a Welford estimate of the (diagonal or dense)
covariance in doubling slow windows; the new inverse mass matrix of a window
is regularised towards a small multiple of the identity (Stan's rule) and,
for ``fold`` and ``glue``, projected onto the matrices the group leaves
unchanged. After every slow window, dual averaging restarts from the
step-size heuristic run with the new metric, as Stan and numpyro do
(``restart``; the HMC kernels run the heuristic). The pieces are
blackjax's: ``dual_averaging_adaptation``, the
``welford_diag`` / ``welford_dense`` metric cores of
``blackjax.adaptation.metric_recipes`` (wrapped by
:func:`~symbayes.quotient.ties.tying_core` for the projection) and
``build_schedule``. blackjax's own host (``staged_adaptation``) runs the
whole warmup in one scan; the step here is the same host, one transition at a
time, so that warmup runs in the chunked driver (progress, checkpoints) and
can stop at window ends for pooling.

**Pooled by mode** (``adaptation="pooled"``): chains that sit in the same
canonical mode estimate the same covariance, up to the group element that
maps one chain's copy of the posterior onto another's. At the end of every
slow window the chains' Welford statistics are mapped into a common frame
(each chain mean aligned to a pivot of its mode: :func:`pool_window`),
combined (Chan, Golub & LeVeque 1979), turned into one inverse mass matrix
per mode and mapped back into each chain's copy. Step sizes stay per chain.
Adaptation ends with warmup, so sampling is exact whatever the pooling did.
``adaptation="raw_pooled"`` pools all chains in raw coordinates, without
alignment, as cross-chain adapters do (ChEES, MEADS): across copies of a
symmetric posterior that estimate is inflated by the spread between copies.

References:
    Stan Reference Manual, "HMC algorithm parameters" (windowed adaptation).
    Hoffman & Gelman (2014), "The No-U-Turn sampler", JMLR 15 (dual
    averaging). Chan, Golub & LeVeque (1979), "Updating formulae and a
    pairwise algorithm for computing sample variances".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.mass_matrix import (
    MassMatrixAdaptationState,
    WelfordAlgorithmState,
    mass_matrix_adaptation,
)
from blackjax.adaptation.metric_recipes import lookup_recipe
from blackjax.adaptation.staged_adaptation import StagedAdaptationState, build_schedule
from blackjax.adaptation.step_size import dual_averaging_adaptation
from jax.flatten_util import ravel_pytree
from scipy.sparse.csgraph import connected_components

from symbayes.quotient.ties import tying_core

__all__ = [
    "ADAPTATIONS",
    "PoolingReport",
    "WindowAdaptation",
    "cluster_chains",
    "map_moments",
    "pool_window",
    "welford_moments",
    "window_adaptation",
    "window_schedule",
]

Adaptation = Literal["per_chain", "pooled", "raw_pooled"]
ADAPTATIONS = ("per_chain", "pooled", "raw_pooled")


def window_schedule(num_warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Stan's schedule: ``(stage, window_end)`` per warmup step (blackjax's).

    ``stage`` is 0 in fast windows (step size only) and 1 in slow windows
    (step size and metric); ``window_end`` marks the last step of a slow
    window. Fewer than 20 steps adapt the step size only.
    """
    if num_warmup <= 0:
        return np.zeros(0, np.int32), np.zeros(0, bool)
    with jax.ensure_compile_time_eval():
        schedule = np.asarray(build_schedule(num_warmup), dtype=np.int64)
    schedule = schedule.reshape(-1, 2)
    return schedule[:, 0].astype(np.int32), schedule[:, 1].astype(bool)


class WindowAdaptation(NamedTuple):
    """Per-chain windowed adaptation: ``init``, ``update``, ``final``.

    * ``init(size, step_size, inverse_mass_matrix) -> StagedAdaptationState``
    * ``update(state, stage, window_end, flat_position, acceptance_rate)``
    * ``final(state) -> (step_size, inverse_mass_matrix)`` for sampling.
    * ``restart(state, step_size)``: dual averaging restarted at
      ``step_size`` (Stan restarts it after every slow window, from the
      step-size heuristic run with the new metric; the kernel runs that).
    """

    init: Callable
    update: Callable
    final: Callable
    restart: Callable


def window_adaptation(
    *,
    target_acceptance_rate: float = 0.8,
    dense: bool = False,
    project: Callable[[jax.Array], jax.Array] | None = None,
    adapt_step_size: bool = True,
    adapt_metric: bool = True,
    defer_window_end: bool = False,
) -> WindowAdaptation:
    """Stan's windowed adaptation of one chain, one transition at a time.

    Args:
        target_acceptance_rate: dual-averaging target.
        dense: estimate a dense covariance (else diagonal).
        project: metric projection applied to every new inverse mass matrix
            (ties for ``fold`` / ``glue``).
        adapt_step_size: adapt the step size (else keep the initial one).
        adapt_metric: adapt the inverse mass matrix (else keep the initial).
        defer_window_end: leave the end of slow windows to the caller
            (:func:`pool_window`); the Welford statistics keep accumulating.

    Returns:
        A :class:`WindowAdaptation`.
    """
    da_init, da_update, da_final = dual_averaging_adaptation(target_acceptance_rate)
    core = lookup_recipe("welford_dense" if dense else "welford_diag").build_core()
    if project is not None:
        core = tying_core(core, project)

    def init(size: int, step_size: jax.Array, inverse_mass_matrix: jax.Array):
        metric_state = core.init(size)._replace(inverse_mass_matrix=inverse_mass_matrix)
        return StagedAdaptationState(
            da_init(step_size), metric_state, step_size, inverse_mass_matrix
        )

    def end_window(state: StagedAdaptationState) -> StagedAdaptationState:
        metric_state = core.final(state.imm_state)
        step_state = state.ss_state
        if adapt_step_size:
            step_state = da_init(da_final(step_state))
        return StagedAdaptationState(
            step_state,
            metric_state,
            jnp.exp(step_state.log_step_size),
            metric_state.inverse_mass_matrix,
        )

    def update(
        state: StagedAdaptationState,
        stage: jax.Array,
        window_end: jax.Array,
        flat_position: jax.Array,
        acceptance_rate: jax.Array,
    ) -> StagedAdaptationState:
        step_state, metric_state = state.ss_state, state.imm_state
        if adapt_step_size:
            step_state = da_update(step_state, acceptance_rate)
        if adapt_metric:
            metric_state = jax.lax.cond(
                stage == 1,
                lambda m: core.update(m, flat_position, None),
                lambda m: m,
                metric_state,
            )
        step_size = (
            jnp.exp(step_state.log_step_size) if adapt_step_size else state.step_size
        )
        state = StagedAdaptationState(
            step_state, metric_state, step_size, state.inverse_mass_matrix
        )
        if adapt_metric and not defer_window_end:
            state = jax.lax.cond(window_end, end_window, lambda s: s, state)
        return state

    def final(state: StagedAdaptationState) -> tuple[jax.Array, jax.Array]:
        step_size = (
            jnp.exp(state.ss_state.log_step_size_avg)
            if adapt_step_size
            else state.step_size
        )
        return step_size, state.inverse_mass_matrix

    def restart(state: StagedAdaptationState, step_size: jax.Array):
        return state._replace(ss_state=da_init(step_size), step_size=step_size)

    return WindowAdaptation(init, update, final, restart)


# -------------------------------------------------------------- pooling
class PoolingReport(NamedTuple):
    """What one pooled window end did.

    Attributes:
        labels: ``(C,)`` mode of every chain (raw pooling: all 0).
        num_modes: number of modes.
        samples: ``(num_modes,)`` Welford samples pooled per mode.
    """

    labels: np.ndarray
    num_modes: int
    samples: np.ndarray


def _welford_combine(
    means: np.ndarray, m2s: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Chan et al.'s combination of per-chain Welford statistics."""
    total = float(counts.sum())
    weights = counts / max(total, 1.0)
    mean = np.tensordot(weights, means, axes=1)
    deviation = means - mean
    if m2s.ndim == 2:  # diagonal
        m2 = m2s.sum(axis=0) + np.sum(counts[:, None] * deviation**2, axis=0)
    else:
        m2 = m2s.sum(axis=0) + np.einsum("c,ci,cj->ij", counts, deviation, deviation)
    return mean, m2, total


def _standardised_distances(means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """``sqrt(mean_k (m_ik - m_jk)^2 / (v_ik + v_jk))`` for every pair of chains."""
    difference = means[:, None, :] - means[None, :, :]
    spread = variances[:, None, :] + variances[None, :, :]
    ratio = difference**2 / np.maximum(spread, 1e-12)
    return np.sqrt(np.mean(ratio, axis=2))


def welford_moments(states: StagedAdaptationState) -> tuple[np.ndarray, np.ndarray]:
    """Per-chain Welford means ``(C, n)`` and variances ``(C, n)`` (numpy)."""
    wc = states.imm_state.wc_state
    means = np.asarray(wc.mean, np.float64)
    m2 = np.asarray(wc.m2, np.float64)
    if m2.ndim == 3:
        m2 = np.diagonal(m2, axis1=1, axis2=2)
    counts = np.asarray(wc.sample_size, np.float64).reshape(-1, 1)
    return means, m2 / np.maximum(counts - 1, 1)


def map_moments(
    means: np.ndarray, variances: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Means and diagonal variances moved by the flat codes ``g_c`` (per chain)."""
    index = (np.abs(codes) - 1).round().astype(np.int64)
    sign = np.sign(codes)
    return (
        np.take_along_axis(means, index, axis=1) * sign,
        np.take_along_axis(variances, index, axis=1),
    )


def cluster_chains(
    means: np.ndarray, variances: np.ndarray, threshold: float = 1.0
) -> np.ndarray:
    """Modes of chains from their (aligned) means: ``(C,)`` labels.

    Chains ``i`` and ``j`` are linked when the mean over coordinates of
    ``(m_i - m_j)^2 / (v_i + v_j)`` is below ``threshold^2``: their means
    lie within about ``threshold`` standard deviations of each other. Modes
    are the connected components. A warmup heuristic: a wrong grouping costs
    efficiency, never exactness (adaptation is frozen before sampling).
    """
    distance = _standardised_distances(means, variances)
    _, labels = connected_components(distance < threshold, directed=False)
    return labels.astype(np.int64)


def pool_window(
    states: StagedAdaptationState,
    *,
    labels: np.ndarray,
    codes: np.ndarray | None,
    dense: bool,
    project: Callable[[jax.Array], jax.Array] | None,
    adapt_step_size: bool,
    target_acceptance_rate: float,
) -> tuple[StagedAdaptationState, PoolingReport]:
    r"""End a slow window for all chains at once, pooling the chains of each mode.

    Args:
        states: the chains' adaptation states (leading axis: chain; numpy).
        labels: ``(C,)`` mode of every chain (all zeros: pool everything).
        codes: ``(C, n)`` flat signed-permutation codes ``g_c`` mapping each
            chain's coordinates into its mode's frame, or ``None`` to pool
            the statistics as they are (raw pooling).
        dense: dense metrics.
        project: the metric projection (ties), or ``None``.
        adapt_step_size: re-initialise dual averaging at the window end.
        target_acceptance_rate: the dual-averaging target.

    Mapping: a chain's statistics move by ``g_c`` (``mean <- g_c mean``,
    diagonal ``m2`` permuted, dense ``m2 <- S P m2 P^T S``); a mode's pooled
    inverse mass matrix :math:`\Sigma` goes back as ``g_c^{-1} \Sigma``.
    The regularisation is blackjax's (Stan's) applied to the pooled
    statistics, so a mode of one chain gets exactly the per-chain result.

    Returns:
        The new states (metric statistics reset, step size re-initialised)
        and a :class:`PoolingReport`.
    """
    wc = states.imm_state.wc_state
    means = np.asarray(wc.mean, np.float64)
    m2s = np.asarray(wc.m2, np.float64)
    counts = np.asarray(wc.sample_size, np.float64).reshape(-1)
    num_chains, size = means.shape
    if codes is not None:
        index = (np.abs(codes) - 1).round().astype(np.int64)
        sign = np.sign(codes)
        means = np.take_along_axis(means, index, axis=1) * sign
        if dense:
            m2s = np.stack(
                [m2s[c][np.ix_(index[c], index[c])] for c in range(num_chains)]
            ) * (sign[:, :, None] * sign[:, None, :])
        else:
            m2s = np.take_along_axis(m2s, index, axis=1)
    labels = np.asarray(labels, np.int64)
    num_modes = int(labels.max()) + 1
    _, _, mm_final = mass_matrix_adaptation(not dense)
    matrices = np.empty((num_chains, *np.shape(states.inverse_mass_matrix)[1:]))
    samples = np.zeros(num_modes)
    for mode in range(num_modes):
        members = np.flatnonzero(labels == mode)
        if members.size == 0:
            continue
        mean, m2, total = _welford_combine(
            means[members], m2s[members], counts[members]
        )
        samples[mode] = total
        pooled = WelfordAlgorithmState(
            jnp.asarray(mean), jnp.asarray(m2), jnp.asarray(total)
        )
        previous = jnp.asarray(states.inverse_mass_matrix[members[0]])
        matrix = mm_final(
            MassMatrixAdaptationState(previous, pooled)
        ).inverse_mass_matrix
        if project is not None:
            matrix = project(matrix)
        matrix = np.asarray(matrix, np.float64)
        for chain in members:
            if codes is None:
                matrices[chain] = matrix
                continue
            back = np.argsort(index[chain])
            if dense:
                signs = sign[chain]
                matrices[chain] = (matrix * np.outer(signs, signs))[np.ix_(back, back)]
            else:
                matrices[chain] = matrix[back]
    dtype = np.asarray(states.inverse_mass_matrix).dtype
    matrices = jnp.asarray(matrices.astype(dtype))
    da_init, _, da_final = dual_averaging_adaptation(target_acceptance_rate)
    step_state = states.ss_state
    if adapt_step_size:
        step_state = jax.vmap(lambda s: da_init(da_final(s)))(step_state)
    empty = _empty_welford(states.imm_state.wc_state, num_chains)
    new = StagedAdaptationState(
        step_state,
        MassMatrixAdaptationState(matrices, empty),
        jnp.exp(step_state.log_step_size) if adapt_step_size else states.step_size,
        matrices,
    )
    new = jax.tree_util.tree_map(np.asarray, new)
    return new, PoolingReport(labels, num_modes, samples)


def _empty_welford(
    like: WelfordAlgorithmState, num_chains: int
) -> WelfordAlgorithmState:
    """Fresh Welford statistics with the shapes and dtypes of ``like``."""
    return jax.tree_util.tree_map(lambda x: np.zeros_like(np.asarray(x)), like)


def flat_size(position: Any) -> int:
    """Number of coordinates of one position pytree."""
    return int(ravel_pytree(position)[0].shape[0])
