r"""ESS and :math:`\hat R` from per-chain statistics: diagnostics of sharded draws.

When chains live on several hosts (``sample(devices=...)`` after
``jax.distributed.initialize()``), the classic split :math:`\hat R` and the
mean ESS need only per-chain reductions and one cross-chain step:

1. every process reduces its own chains to :class:`ChainStatistics` (per
   half-chain: the number of draws, the means and the autocovariances at
   lags ``0 .. L-1``, :func:`chain_statistics`);
2. the statistics of all processes are concatenated along the chain axis
   (:func:`merge_statistics`, or :func:`gather_statistics`, a
   :func:`~jax.experimental.multihost_utils.process_allgather` of them);
3. :func:`split_rhat` and :func:`mean_ess` combine them.

With ``L`` the full half-chain length the results equal arviz's
``az.rhat(..., method="split")`` and ``az.ess(..., method="mean")`` on the
gathered draws (tested); a smaller ``max_lag`` sends ``C L k`` numbers
instead of ``C N k`` and gives the same ESS whenever Geyer's initial
positive sequence stops before lag ``L`` (else NaN, with a warning).

The rank-normalised estimators that :func:`symbayes.diagnostics.diagnose`
reports (rank :math:`\hat R`, bulk and tail ESS; Vehtari et al. 2021) rank
every draw among all chains' draws, a global step that per-chain sums do not
give: for those, gather the draws of one coordinate at a time, or use these
classic estimators on hosts. :func:`~symbayes.diagnostics.chain_ess` is a
per-chain reduction already: each process computes it for its chains and
the results are concatenated. The pairwise :math:`\hat R` of the mode
graph ranks the draws of two chains together, so a pair split over two
hosts needs one chain's draws sent to the other.

Formulas (``m`` split chains of ``n`` draws, :math:`\bar\theta_j` their
means, :math:`\hat\gamma_{j,t}` their biased autocovariances):
:math:`W = \overline{\hat\gamma_{\cdot,0}}\,n/(n-1)`,
:math:`B = n\,\mathrm{var}(\bar\theta_\cdot)`,
:math:`\hat R = \sqrt{(B/W + n - 1)/n}`;
:math:`\hat V^+ = W(n-1)/n + B/n`,
:math:`\hat\rho_t = 1 - (W - \overline{\hat\gamma_{\cdot,t}})/\hat V^+`,
Geyer's (1992) initial monotone sequence gives :math:`\hat\tau` and
ESS :math:`= m n/\hat\tau`.

References:
    Gelman & Rubin (1992). Inference from iterative simulation using multiple
    sequences. Statistical Science 7.
    Geyer (1992). Practical Markov chain Monte Carlo. Statistical Science 7.
    Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021). Rank-normalization,
    folding, and localization: an improved R-hat for assessing convergence
    of MCMC. Bayesian Analysis 16(2).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from symbayes.diagnostics.estimators import _autocovariance

__all__ = [
    "ChainStatistics",
    "chain_statistics",
    "gather_statistics",
    "mean_ess",
    "merge_statistics",
    "split_rhat",
]


class ChainStatistics(NamedTuple):
    """Per half-chain sufficient statistics of ``k`` coordinates.

    Attributes:
        num_draws: draws per half-chain ``n``.
        means: ``(2c, k)`` half-chain means (first halves, then second halves
            of the ``c`` chains).
        autocovariance: ``(2c, L, k)`` biased autocovariances at lags ``0..L-1``.
    """

    num_draws: int
    means: np.ndarray
    autocovariance: np.ndarray


def chain_statistics(values: np.ndarray, max_lag: int | None = None) -> ChainStatistics:
    """Reduce this process's ``(c, N, k)`` draws to :class:`ChainStatistics`.

    Args:
        values: draws, ``(chain, draw, coordinate)``; ``N >= 4``.
        max_lag: lags kept (default: all ``N // 2``).

    Returns:
        The statistics of the split chains (halves of ``N // 2`` draws, the
        middle draw dropped when ``N`` is odd, as in arviz).

    Raises:
        ValueError: ``values`` not 3-d, fewer than 4 draws, or a bad ``max_lag``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3:
        raise ValueError(
            f"values must be (chain, draw, coordinate), got {values.shape}"
        )
    num = values.shape[1]
    if num < 4:
        raise ValueError(f"split diagnostics need at least 4 draws, got {num}")
    half = num // 2
    if max_lag is None:
        max_lag = half
    if isinstance(max_lag, bool) or not isinstance(max_lag, int) or max_lag < 3:
        raise ValueError(f"max_lag must be an integer >= 3, got {max_lag!r}")
    split = np.concatenate([values[:, :half], values[:, num - half :]], axis=0)
    series = np.moveaxis(split, 1, 2)  # (2c, k, n)
    acov = _autocovariance(series)[..., : min(max_lag, half)]
    return ChainStatistics(half, split.mean(axis=1), np.moveaxis(acov, 2, 1))


def merge_statistics(parts: Sequence[ChainStatistics]) -> ChainStatistics:
    """Concatenate the statistics of several chain sets (e.g. one per process)."""
    if not parts:
        raise ValueError("merge_statistics needs at least one ChainStatistics")
    sizes = {p.num_draws for p in parts}
    lags = {p.autocovariance.shape[1] for p in parts}
    if len(sizes) > 1 or len(lags) > 1:
        raise ValueError(
            f"chain sets differ in draws per half-chain {sorted(sizes)} or lags "
            f"{sorted(lags)}; reduce them with the same draws and max_lag"
        )
    return ChainStatistics(
        parts[0].num_draws,
        np.concatenate([p.means for p in parts], axis=0),
        np.concatenate([p.autocovariance for p in parts], axis=0),
    )


def gather_statistics(statistics: ChainStatistics) -> ChainStatistics:
    """All processes' statistics on every process (``process_allgather``).

    Every process must call it with statistics of the same shape (the same
    number of local chains, draws and lags); in one process it returns its
    argument.
    """
    import jax

    if jax.process_count() == 1:
        return statistics
    from jax.experimental import multihost_utils

    means, acov = multihost_utils.process_allgather(
        (statistics.means, statistics.autocovariance), tiled=True
    )
    return ChainStatistics(statistics.num_draws, np.asarray(means), np.asarray(acov))


def _within_between(statistics: ChainStatistics) -> tuple[np.ndarray, np.ndarray]:
    n = statistics.num_draws
    within = statistics.autocovariance[:, 0].mean(axis=0) * n / (n - 1.0)
    between = n * statistics.means.var(axis=0, ddof=1)
    return within, between


def split_rhat(statistics: ChainStatistics) -> np.ndarray:
    r"""Split :math:`\hat R` per coordinate (``az.rhat(method="split")``), ``(k,)``."""
    n = statistics.num_draws
    within, between = _within_between(statistics)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def mean_ess(statistics: ChainStatistics) -> np.ndarray:
    """ESS of the mean per coordinate (``az.ess(method="mean")``), ``(k,)``.

    NaN, with a ``RuntimeWarning``, for coordinates whose initial positive
    sequence had not stopped at the last kept lag (increase ``max_lag``).
    """
    n = statistics.num_draws
    chains = statistics.means.shape[0]
    lags = statistics.autocovariance.shape[1]
    acov = statistics.autocovariance.mean(axis=0).T  # (k, L)
    within, between = _within_between(statistics)
    var_plus = within * (n - 1.0) / n + (between / n if chains > 1 else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (within[:, None] - acov) / var_plus[:, None]
    size = rho.shape[0]
    kept = np.zeros_like(rho)
    kept[:, 0] = 1.0
    kept[:, 1] = rho[:, 1]
    even, odd = np.ones(size), rho[:, 1].copy()
    running = np.ones(size, bool)
    stop = np.ones(size, dtype=int)
    truncated = np.zeros(size, bool)
    t = 1
    while t < n - 3 and running.any():
        running &= (even + odd) > 0.0
        if t + 2 >= lags:
            truncated |= running
            break
        even = np.where(running, rho[:, t + 1], even)
        odd = np.where(running, rho[:, t + 2], odd)
        keep = running & ((even + odd) >= 0)
        kept[keep, t + 1] = even[keep]
        kept[keep, t + 2] = odd[keep]
        stop = np.where(running, t + 2, stop)
        t += 2
    max_t = stop - 2
    index = np.arange(size)
    extend = even > 0
    kept[index[extend], np.minimum(max_t[extend] + 1, lags - 1)] = even[extend]
    t = 1
    while t <= max_t.max() - 2:
        fix = (t <= max_t - 2) & (
            kept[:, t + 1] + kept[:, t + 2] > kept[:, t - 1] + kept[:, t]
        )
        pair = (kept[:, t - 1] + kept[:, t]) / 2.0
        kept[fix, t + 1] = pair[fix]
        kept[fix, t + 2] = pair[fix]
        t += 2
    steps = np.arange(lags)
    head = np.where(steps[None, :] <= max_t[:, None], kept, 0.0).sum(axis=1)
    tail = np.where(
        max_t + 1 < min(n, lags), kept[index, np.minimum(max_t + 1, lags - 1)], 0.0
    )
    total = chains * n
    tau = np.maximum(-1.0 + 2.0 * head + tail, 1.0 / np.log10(total))
    ess = total / tau
    constant = (within == 0) & (between == 0)
    ess[constant] = total
    ess[np.isnan(kept).any(axis=1) & ~constant] = np.nan
    if truncated.any():
        warnings.warn(
            f"the autocorrelation of {int(truncated.sum())} coordinate(s) is still "
            f"positive at lag {lags - 1}: their ESS is NaN; reduce the chains with "
            "a larger max_lag",
            RuntimeWarning,
            stacklevel=2,
        )
        ess[truncated] = np.nan
    return ess
