r"""Which chains share a mode: a rule that accounts for Monte Carlo error.

**The question.** Two chains sit in the same mode when their stationary
distributions overlap; in different modes when they are separated. The
pairwise :math:`\hat R` of two chains estimates exactly such a separation:
for chains with means :math:`m_i, m_j` and within-chain standard deviation
:math:`\sigma`, as the draws grow :math:`\hat R^2 \to 1 + \delta^2/2` with
the standardised distance :math:`\delta = |m_i - m_j| / \sigma`. Thresholding
the *estimate* (:math:`\hat R_{ij} < 1.1`) ignores its Monte Carlo error,
which for a short or slowly mixing chain is large: :math:`\hat\delta` of two
chains of one mode with per-chain effective sample size :math:`n` has standard
error :math:`\sqrt{2/n}`, so with :math:`n \approx 10` every fourth pair looks
separated and the mode count approaches the number of chains (measured:
``benchmarks/modes.py``).

**The rule.** On every coordinate :math:`k`, two statistics are compared per
chain: the bulk (rank normal scores over all chains, as in rank
:math:`\hat R`) and the tail (normal scores of the ranks of
:math:`|\theta - \mathrm{median}|`), each with its chain mean :math:`\mu`,
variance :math:`v` and per-chain ESS :math:`n` (:func:`chain_ess`). For a pair
of chains,

.. math::

    \hat\delta = \frac{|\mu_i - \mu_j|}{s},\quad
    s = \sqrt{(v_i + v_j)/2},\quad
    \mathrm{se} = \frac{\sqrt{v_i/n_i + v_j/n_j}}{s},

and the pair is **separated** when on some statistic the lower confidence
bound :math:`\hat\delta - z^* \mathrm{se}` exceeds the margin
:math:`\delta_0 = \sqrt{2(t^2 - 1)}` of the threshold :math:`t` (1.1 gives
:math:`\delta_0 = 0.648`, the distance at which the pairwise :math:`\hat R`
tends to :math:`t`). Modes are the connected components of the graph of
pairs that are not separated. :math:`z^*` is the Bonferroni critical value
for the :math:`2k` statistics, :math:`z^* = \Phi^{-1}(1 - \alpha/(4k))`, so
two chains from one mode are split with probability at most
:math:`\alpha` (``false_split_rate``, default 0.01) when their chain means
are approximately normal with the estimated standard errors; since the
bound must also clear :math:`\delta_0 > 0`, the rate falls further as the
chains grow. A chain of one mode is split off only if it is separated from
*every* other chain of its mode, so the rate per mode is lower still.

**As draws grow.** For chains of one mode :math:`\hat\delta \to 0`: they stay
joined however long they run, and short or drifting chains are joined
because their error is large. For chains in modes at distance
:math:`\delta > \delta_0` the bound clears the margin once
:math:`\mathrm{se} < (\delta - \delta_0)/z^*`, and they stay split. The count
therefore grows towards the number of separated modes and stays there,
instead of falling from the number of chains.

**Settled.** A pair is *confidently joined* when the upper bound
:math:`\hat\delta + z^* \mathrm{se}` is below :math:`\delta_0` on every
statistic. A mode is *settled* when its chains are connected by confidently
joined pairs (a single chain: when its two halves are), so more draws of
these chains will not split it; an unsettled mode may still split.

**Representatives.** A mode's representative is its *medoid*: the draw of
the mode with the least summed distance to the mode's other draws (function
values when available, else canonical coordinates scaled by their pooled
standard deviation; at most ``max_candidates`` evenly spaced draws are
compared). It is a draw, so a network of the mode, unlike the mean of
sort-canonical draws, which is no network of the mode where two units' sort
keys come close. Its log-likelihood is reported against its draws'.

References:
    Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021). Rank-normalization,
    folding, and localization: an improved R-hat for assessing convergence
    of MCMC. Bayesian Analysis 16(2).
    Geyer (1992). Practical Markov chain Monte Carlo. Statistical Science 7.
    Wellek (2010). Testing Statistical Hypotheses of Equivalence and
    Noninferiority, 2nd ed.: deciding on an effect size only when its
    confidence bound clears the margin.
    Kaufman & Rousseeuw (1990). Finding Groups in Data: medoids.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import squareform
from scipy.special import ndtri

from symbayes.diagnostics.estimators import _z_scale, chain_ess

__all__ = [
    "DEFAULT_FALSE_SPLIT_RATE",
    "DEFAULT_THRESHOLD",
    "ChainSeparation",
    "Mode",
    "Modes",
    "chain_separation",
    "find_modes",
    "margin_of_threshold",
]

DEFAULT_THRESHOLD = 1.1
DEFAULT_FALSE_SPLIT_RATE = 0.01
DEFAULT_MAX_CANDIDATES = 512
# pairs per batch of the pairwise statistics: at most this many floats
_PAIR_BATCH_ELEMENTS = 2**23


class Mode(NamedTuple):
    """One mode: a connected component of chains.

    Attributes:
        chains: indices of its chains, ascending.
        weight: its share of the chains.
        representative: the mode's medoid draw (canonical params).
        representative_draw: ``(chain, draw)`` index of that draw.
        settled: whether its chains are connected by confidently joined
            pairs (more draws will not split it).
        representative_log_likelihood: the representative's total
            log-likelihood, where a log-likelihood is known, else NaN.
        log_likelihood_quantile: the share of the mode's draws with a lower
            log-likelihood than the representative (NaN without one): a
            member of the mode sits inside the range of its draws.
    """

    chains: tuple[int, ...]
    weight: float
    representative: Any
    representative_draw: tuple[int, int] = (0, 0)
    settled: bool = False
    representative_log_likelihood: float = float("nan")
    log_likelihood_quantile: float = float("nan")


class Modes(NamedTuple):
    """The modes of one coordinate space.

    Attributes:
        labels: ``(C,)`` mode index of every chain (modes sorted by weight,
            then by first chain).
        modes: the :class:`Mode` list in the same order.
        rule: ``"mcse"`` (the rule of this module) or ``"rhat"`` (pairwise
            R-hat below the threshold, ignoring Monte Carlo error).
    """

    labels: np.ndarray
    modes: tuple[Mode, ...]
    rule: str = "mcse"

    @property
    def count(self) -> int:
        return len(self.modes)

    @property
    def num_settled(self) -> int:
        return sum(mode.settled for mode in self.modes)


class ChainSeparation(NamedTuple):
    r"""Pairwise evidence that chains sit in different modes.

    All matrices are ``(C, C)``, symmetric, 0 on the diagonal, maxima over
    coordinates and the bulk/tail statistics (see the module docstring).

    Attributes:
        distance: :math:`\max \hat\delta`, the standardised distance.
        lower: :math:`\max (\hat\delta - z^* \mathrm{se})`: the pair is
            separated when this exceeds ``margin``.
        upper: :math:`\max (\hat\delta + z^* \mathrm{se})`: the pair is
            confidently joined when this is below ``margin``.
        margin: :math:`\delta_0` of the threshold.
        critical: :math:`z^*`.
        halves_upper: ``(C,)`` the upper bound between each chain's two
            halves (a single chain's mode is settled when it is below
            ``margin``).
    """

    distance: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    margin: float
    critical: float
    halves_upper: np.ndarray

    @property
    def separated(self) -> np.ndarray:
        return self.lower > self.margin

    @property
    def joined(self) -> np.ndarray:
        """Pairs confidently in one mode."""
        return self.upper < self.margin


def margin_of_threshold(threshold: float) -> float:
    r""":math:`\delta_0 = \sqrt{2 (t^2 - 1)}`: where the pairwise R-hat tends to t."""
    if not threshold > 1.0:
        raise ValueError(f"threshold must be > 1, got {threshold}")
    return math.sqrt(2.0 * (threshold**2 - 1.0))


def _critical_value(num_statistics: int, false_split_rate: float) -> float:
    """Two-sided Bonferroni critical value for ``num_statistics`` tests."""
    return float(ndtri(1.0 - false_split_rate / (2.0 * max(num_statistics, 1))))


def _chain_moments(scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mean, variance and ESS (capped at the draws) of every chain's scores."""
    num = scores.shape[1]
    mean = scores.mean(axis=1)
    var = scores.var(axis=1, ddof=1)
    ess = chain_ess(scores)
    ess = np.clip(np.nan_to_num(ess, nan=1.0), 1.0, num)
    return mean, var, ess


def _bounds(
    mean_i: np.ndarray,
    var_i: np.ndarray,
    ess_i: np.ndarray,
    mean_j: np.ndarray,
    var_j: np.ndarray,
    ess_j: np.ndarray,
    critical: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance and its confidence bounds, elementwise (no reduction)."""
    gap = np.abs(mean_i - mean_j)
    scale = np.sqrt(0.5 * (var_i + var_j))
    error = critical * np.sqrt(var_i / ess_i + var_j / ess_j)
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.where(scale > 0, gap / scale, np.where(gap > 0, np.inf, 0.0))
        lower = np.where(
            scale > 0, (gap - error) / scale, np.where(gap > 0, np.inf, 0.0)
        )
        upper = np.where(
            scale > 0, (gap + error) / scale, np.where(gap > 0, np.inf, 0.0)
        )
    return distance, lower, upper


def chain_separation(
    values: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    false_split_rate: float = DEFAULT_FALSE_SPLIT_RATE,
) -> ChainSeparation:
    """Pairwise standardised distances of chains with their Monte Carlo error.

    Args:
        values: ``(C, N, k)`` draws (``N >= 4``).
        threshold: the R-hat threshold whose limit defines the margin
            (:func:`margin_of_threshold`).
        false_split_rate: the largest probability that two chains of one mode
            are separated (Bonferroni over the statistics).

    Returns:
        :class:`ChainSeparation`.

    Raises:
        ValueError: values not ``(C, N, k)`` with ``N >= 4``, a threshold
            ``<= 1``, a rate outside ``(0, 1)``.

    Cost: per-chain moments :math:`O(C k N \\log N)`, then :math:`O(C^2 k)`
    for the pairs, in batches of bounded memory.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3 or values.shape[1] < 4:
        raise ValueError(
            f"values must be (chains, draws >= 4, coordinates), got {values.shape}"
        )
    if not 0.0 < false_split_rate < 1.0:
        raise ValueError(f"false_split_rate must lie in (0, 1), got {false_split_rate}")
    margin = margin_of_threshold(threshold)
    chains, num, _ = values.shape
    varying = np.ptp(values, axis=(0, 1)) > 0
    values = values[:, :, varying]
    statistics = 2 * values.shape[2]
    critical = _critical_value(statistics, false_split_rate)
    shape = (chains, chains)
    if statistics == 0:
        zeros = np.zeros(shape)
        return ChainSeparation(zeros, zeros, zeros, margin, critical, np.zeros(chains))
    median = np.median(values.reshape(-1, values.shape[2]), axis=0)
    bulk = _z_scale(values)
    tail = _z_scale(np.abs(values - median))
    scores = np.concatenate([bulk, tail], axis=2)  # (C, N, 2k)
    mean, var, ess = _chain_moments(scores)
    distance, lower, upper = (np.zeros(shape) for _ in range(3))
    first, second = np.triu_indices(chains, k=1)
    batch = max(1, _PAIR_BATCH_ELEMENTS // max(1, 3 * statistics))
    for start in range(0, first.size, batch):
        i, j = first[start : start + batch], second[start : start + batch]
        d, lo, up = _bounds(mean[i], var[i], ess[i], mean[j], var[j], ess[j], critical)
        for matrix, value in ((distance, d), (lower, lo), (upper, up)):
            reduced = value.max(axis=1)
            matrix[i, j] = reduced
            matrix[j, i] = reduced
    half = num // 2
    first_half, second_half = scores[:, :half], scores[:, num - half :]
    if half >= 4:
        _, _, halves = _bounds(
            *_chain_moments(first_half), *_chain_moments(second_half), critical
        )
        halves_upper = halves.max(axis=1)
    else:
        halves_upper = np.full(chains, np.inf)
    return ChainSeparation(distance, lower, upper, margin, critical, halves_upper)


def _connected(adjacency: np.ndarray) -> bool:
    if adjacency.shape[0] <= 1:
        return True
    count, _ = connected_components(adjacency, directed=False)
    return count == 1


def _majority_groups(separated: np.ndarray) -> np.ndarray:
    """Average-linkage groups: merged while most cross pairs are not separated.

    Agglomerative clustering with the average of the 0/1 separation
    indicator as the distance between groups (UPGMA), cut below 1/2: two
    groups are one mode unless at least half of the pairs across them are
    separated. Unlike connected components, one uncertain chain (short, or
    slowly mixing) that is separated from nobody cannot join two modes whose
    other chains are separated from each other; and a rare false separation
    inside a mode cannot split it.
    """
    chains = separated.shape[0]
    if chains == 1:
        return np.zeros(1, dtype=int)
    indicator = separated.astype(float)
    np.fill_diagonal(indicator, 0.0)
    tree = linkage(squareform(indicator, checks=False), method="average")
    return fcluster(tree, t=0.5 - 1e-9, criterion="distance") - 1


def _medoid(points: np.ndarray) -> int:
    """Index of the point with the least summed Euclidean distance to the rest."""
    squared = np.sum(points**2, axis=1)
    gram = points @ points.T
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * gram, 0))
    return int(np.argmin(distances.sum(axis=1)))


def _representative_index(
    features: np.ndarray, chains: list[int], max_candidates: int
) -> tuple[int, int]:
    """``(chain, draw)`` of the medoid of the chains' pooled draws."""
    num = features.shape[1]
    pooled = features[chains].reshape(len(chains) * num, -1)
    index = np.unique(np.linspace(0, len(pooled) - 1, max_candidates).round()).astype(
        int
    )
    candidates = pooled[index]
    scale = candidates.std(axis=0)
    candidates = candidates / np.where(scale > 0, scale, 1.0)
    flat = int(index[_medoid(candidates)])
    return chains[flat // num], flat % num


def find_modes(
    values: np.ndarray,
    canonical: np.ndarray,
    unflatten: Callable[[np.ndarray], Any],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    false_split_rate: float = DEFAULT_FALSE_SPLIT_RATE,
    rule: str = "mcse",
    pairwise: np.ndarray | None = None,
    features: np.ndarray | None = None,
    log_likelihood: np.ndarray | None = None,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    separation: ChainSeparation | None = None,
) -> tuple[Modes, ChainSeparation]:
    """The modes of one coordinate space, with representatives.

    Args:
        values: ``(C, N, k)`` coordinates of the space.
        canonical: ``(C, N, p)`` canonical params (the representatives).
        unflatten: maps a ``(p,)`` vector to one params pytree.
        threshold: see :func:`chain_separation`.
        false_split_rate: see :func:`chain_separation`.
        rule: ``"mcse"`` (default, this module's rule) or ``"rhat"``
            (``pairwise < threshold``, the first rule, kept for comparison).
        pairwise: the ``(C, C)`` pairwise R-hat (needed by ``"rhat"``).
        features: ``(C, N, m)`` values the medoid is computed on (default:
            ``canonical``).
        log_likelihood: ``(C, N)`` total log-likelihood per draw, if known.
        max_candidates: draws compared for the medoid, at most.
        separation: a precomputed :func:`chain_separation` of ``values``.

    Returns:
        ``(modes, separation)``.
    """
    if rule not in ("mcse", "rhat"):
        raise ValueError(f"unknown mode rule {rule!r}; use 'mcse' or 'rhat'")
    if separation is None:
        separation = chain_separation(
            values, threshold=threshold, false_split_rate=false_split_rate
        )
    if rule == "rhat":
        if pairwise is None:
            raise ValueError("the 'rhat' mode rule needs the pairwise R-hat")
        _, labels = connected_components(pairwise < threshold, directed=False)
    else:
        labels = _majority_groups(separation.separated)
    groups: dict[int, list[int]] = {}
    for chain, label in enumerate(labels):
        groups.setdefault(int(label), []).append(chain)
    ordered = sorted(groups.values(), key=lambda chains: (-len(chains), chains[0]))
    num_chains = len(labels)
    features = canonical if features is None else features
    new_labels = np.empty(num_chains, dtype=int)
    modes = []
    for index, chains in enumerate(ordered):
        new_labels[chains] = index
        others = [c for c in range(num_chains) if c not in set(chains)]
        apart = bool(np.all(separation.separated[np.ix_(chains, others)]))
        if len(chains) == 1:
            joined = bool(separation.halves_upper[chains[0]] < separation.margin)
        else:
            joined = _connected(separation.joined[np.ix_(chains, chains)])
        settled = apart and joined
        chain, draw = _representative_index(features, chains, max_candidates)
        loglik, quantile = float("nan"), float("nan")
        if log_likelihood is not None:
            loglik = float(log_likelihood[chain, draw])
            members = log_likelihood[chains].ravel()
            quantile = float(np.mean(members < loglik))
        modes.append(
            Mode(
                chains=tuple(chains),
                weight=len(chains) / num_chains,
                representative=unflatten(canonical[chain, draw]),
                representative_draw=(chain, draw),
                settled=settled,
                representative_log_likelihood=loglik,
                log_likelihood_quantile=quantile,
            )
        )
    return Modes(new_labels, tuple(modes), rule), separation
