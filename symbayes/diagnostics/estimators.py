r"""ESS and :math:`\hat R` estimators, vectorised over coordinates and pairs.

Bulk and tail ESS over all chains are arviz's estimators, computed on an
``xarray.Dataset`` made by ``az.convert_to_dataset`` so arviz 0.x and 1.x
agree. The rank-normalised split :math:`\hat R` (Vehtari et al. 2021) is
arviz's ``method="rank"`` estimator evaluated for all coordinates (and all
pairs of chains) in one vectorised pass; arviz loops over coordinates in
Python. Per-chain ESS (:func:`chain_ess`, Geyer's initial monotone sequence,
arviz's single-chain estimator) and nested :math:`\hat R` (:func:`nested_rhat`,
Margossian et al. 2024; arviz-stats' ``rhat_nested``) are vectorised the
same way. Each is tested equal to the arviz / arviz-stats value.

References:
    Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021). Rank-normalization,
    folding, and localization: an improved R-hat for assessing convergence
    of MCMC. Bayesian Analysis 16(2).
    Geyer (1992). Practical Markov chain Monte Carlo. Statistical Science 7.
    Margossian, Hoffman, Sountsov, Riou-Durand, Vehtari & Gelman (2024).
    Nested R-hat: assessing the convergence of Markov chain Monte Carlo when
    running many short chains. Bayesian Analysis.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import arviz as az
import numpy as np
from scipy.fft import next_fast_len
from scipy.special import ndtri
from scipy.stats import rankdata

from symbayes.results import chain_draw_layout

__all__ = ["chain_ess", "nested_rhat", "pairwise_rhat", "rank_rhat"]

# pairwise R-hat batches: at most this many floats per call
_PAIR_BATCH_ELEMENTS = 2**24


def _dataset(values: np.ndarray) -> Any:
    """``(chain, draw, ...)`` array as an xarray Dataset with variable ``x``."""
    with chain_draw_layout():
        return az.convert_to_dataset({"x": values})


def _quietly(estimate: Callable[[], Any]) -> np.ndarray:
    """Run an arviz estimator; chains constant within but not across give
    zero within-chain variance: that is the answer, so numpy's divide
    warnings are silenced."""
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(estimate())


def _ess(values: np.ndarray, method: str) -> np.ndarray:
    return _quietly(lambda: az.ess(_dataset(values), method=method)["x"].values)


def _z_scale(values: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks over chains and draws, per trailing entry.

    Ranks ``r`` (ties averaged) among the ``S = C N`` values of each entry
    become ``Phi^-1((r - 3/8) / (S + 1/4))`` (Blom 1958), as in arviz.
    """
    size = values.shape[0] * values.shape[1]
    ranks = rankdata(values.reshape(size, -1), method="average", axis=0)
    return ndtri((ranks - 0.375) / (size + 0.25)).reshape(values.shape)


def _split_rhat(values: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of already split ``(C, N, ...)`` chains, per entry."""
    num = values.shape[1]
    between = num * np.var(np.mean(values, axis=1), axis=0, ddof=1)
    within = np.mean(np.var(values, axis=1, ddof=1), axis=0)
    return np.sqrt((between / within + num - 1) / num)


def _rank_rhat(values: np.ndarray) -> np.ndarray:
    r"""Rank-normalised split R-hat of ``(C, N, ...)`` values, per trailing entry.

    The estimator of ``az.rhat(..., method="rank")`` (Vehtari et al. 2021):
    each chain is split in halves (the middle draw dropped when ``N`` is
    odd); :math:`\max(\hat R_{bulk}, \hat R_{tail})` where the bulk value is
    the split R-hat of the rank normal scores and the tail value that of the
    scores of :math:`|\theta - \mathrm{median}|`. arviz evaluates it one
    coordinate at a time in Python; here every trailing entry is done in one
    vectorised pass, which the pairwise mode graph needs (``P`` pairs times
    ``k`` coordinates). Equal to arviz's values to rounding (tested). Fewer
    than 4 draws give NaN, as in arviz; chains constant within but not
    across give ``inf``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape[1] < 4:
        return np.full(values.shape[2:], np.nan)
    half = values.shape[1] // 2
    split = np.concatenate([values[:, :half], values[:, -half:]], axis=0)
    median = np.median(split.reshape(-1, *split.shape[2:]), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bulk = _split_rhat(_z_scale(split))
        tail = _split_rhat(_z_scale(np.abs(split - median)))
    return np.maximum(bulk, tail)


def _varying(values: np.ndarray) -> np.ndarray:
    """Coordinates that are not constant over all chains and draws."""
    return np.ptp(values, axis=(0, 1)) > 0


def _per_coordinate(values: np.ndarray, estimator: Callable) -> np.ndarray:
    """Apply an arviz estimator to the varying coordinates; NaN elsewhere."""
    out = np.full(values.shape[2], np.nan)
    varying = _varying(values)
    if varying.any():
        out[varying] = estimator(values[:, :, varying])
    return out


def pairwise_rhat(
    values: np.ndarray,
    pairs: np.ndarray | None = None,
    others: np.ndarray | None = None,
) -> np.ndarray:
    r"""Max-over-coordinates rank-normalised split R-hat of pairs of chains.

    With ``others=None``: for ``values`` of shape ``(C, N, k)`` the
    ``(C, C)`` matrix :math:`\hat R_{ij}` (diagonal 1), each entry computed on
    chains ``i`` and ``j`` alone. With ``others`` of shape ``(M, N, k)``: the
    ``(C, M)`` matrix between every chain of ``values`` and every chain of
    ``others``. The estimator is arviz's rank R-hat, evaluated for many pairs
    and coordinates at once (:func:`_rank_rhat`); coordinates constant within
    a pair are skipped (they cannot tell chains apart).

    Cost: :math:`O(P N k \log N)` for ``P`` pairs; memory is bounded by
    batching.
    """
    values = np.asarray(values, dtype=np.float64)
    if others is None:
        first, second = np.triu_indices(values.shape[0], k=1)
        left, right = values, values
    else:
        others = np.asarray(others, dtype=np.float64)
        first, second = np.meshgrid(
            np.arange(values.shape[0]), np.arange(others.shape[0]), indexing="ij"
        )
        first, second = first.ravel(), second.ravel()
        left, right = values, others
    result = np.ones((left.shape[0], right.shape[0]))
    num, k = left.shape[1], left.shape[2]
    batch = max(1, _PAIR_BATCH_ELEMENTS // max(1, 2 * num * k))
    for start in range(0, len(first), batch):
        i, j = first[start : start + batch], second[start : start + batch]
        stacked = np.stack([left[i], right[j]])  # (2, P, N, k)
        stacked = np.moveaxis(stacked, 2, 1)  # (2, N, P, k)
        spread = np.ptp(stacked, axis=(0, 1)) > 0  # (P, k)
        rhat = np.where(spread, _rank_rhat(stacked), 1.0)  # (P, k)
        maximum = np.max(np.nan_to_num(rhat, nan=np.inf), axis=1)
        result[i, j] = maximum
        if others is None:
            result[j, i] = maximum
    return result


def rank_rhat(values: np.ndarray) -> np.ndarray:
    r"""Rank-normalised split :math:`\hat R` of ``(C, N, ...)`` draws, per entry.

    arviz's ``rhat(..., method="rank")``, vectorised (see :func:`_rank_rhat`).
    """
    return _rank_rhat(values)


def _autocovariance(series: np.ndarray) -> np.ndarray:
    """Biased autocovariance along the last axis, all lags, by FFT."""
    num = series.shape[-1]
    centred = series - series.mean(axis=-1, keepdims=True)
    length = next_fast_len(2 * num)
    spectrum = np.fft.rfft(centred, n=length, axis=-1)
    product = spectrum * np.conjugate(spectrum)
    return np.fft.irfft(product, n=length, axis=-1)[..., :num] / float(num)


def _geyer_ess(series: np.ndarray) -> np.ndarray:
    r"""arviz's ``_ess`` of each ``(m, n)`` group of chains of ``(S, m, n)``.

        With :math:`\hat\gamma_{c,t}` the autocovariance of chain :math:`c`,
        :math:`W = \overline{\hat\gamma_{\cdot,0}}\, n / (n - 1)`,
        :math:`\hat V^+ = W (n - 1)/n + \mathrm{var}(	ext{chain means})` (the
        last term for :math:`m > 1`) and :math:`\hat
    ho_t = 1 - (W -
        \overline{\hat\gamma_{\cdot,t}}) / \hat V^+`: Geyer's initial positive
        sequence (pairs :math:`\hat
    ho_{t+1} + \hat
    ho_{t+2}` kept while
        positive), made monotone; :math:`\hat	au = -1 + 2 \sum \hat
    ho_t`
        (bounded below by :math:`1 / \log_{10}(m n)`), ESS :math:`= m n /
        \hat	au`. Groups are processed together; the loops run over lags.
    """
    rows, chains, num = series.shape
    out = np.full(rows, np.nan)
    if num < 2:
        return out
    flat = series.reshape(rows, -1)
    constant = np.ptp(flat, axis=1) < np.finfo(float).resolution
    out[constant] = chains * num
    active = np.flatnonzero(~constant & np.all(np.isfinite(flat), axis=1))
    if active.size == 0:
        return out
    block = series[active]
    acov = _autocovariance(block).mean(axis=1)  # (A, n)
    mean_var = acov[:, 0] * num / (num - 1.0)
    var_plus = mean_var * (num - 1.0) / num
    if chains > 1:
        var_plus = var_plus + block.mean(axis=2).var(axis=1, ddof=1)
    rho = 1.0 - (mean_var[:, None] - acov) / var_plus[:, None]
    kept = np.zeros_like(rho)
    kept[:, 0] = 1.0
    kept[:, 1] = rho[:, 1]
    even = np.ones(active.size)
    odd = rho[:, 1].copy()
    running = np.ones(active.size, bool)
    stop = np.ones(active.size, dtype=int)  # arviz's t when its loop ends
    t = 1
    while t < num - 3 and running.any():
        running &= (even + odd) > 0.0
        even = np.where(running, rho[:, t + 1], even)
        odd = np.where(running, rho[:, t + 2], odd)
        keep = running & ((even + odd) >= 0)
        kept[keep, t + 1] = even[keep]
        kept[keep, t + 2] = odd[keep]
        stop = np.where(running, t + 2, stop)
        t += 2
    max_t = stop - 2
    index = np.arange(active.size)
    extend = even > 0
    kept[index[extend], max_t[extend] + 1] = even[extend]
    t = 1
    while t <= max_t.max() - 2:
        fix = (t <= max_t - 2) & (
            kept[:, t + 1] + kept[:, t + 2] > kept[:, t - 1] + kept[:, t]
        )
        mean_pair = (kept[:, t - 1] + kept[:, t]) / 2.0
        kept[fix, t + 1] = mean_pair[fix]
        kept[fix, t + 2] = mean_pair[fix]
        t += 2
    lags = np.arange(num)
    head = np.where(lags[None, :] <= max_t[:, None], kept, 0.0).sum(axis=1)
    tail = np.where(max_t + 1 < num, kept[index, np.minimum(max_t + 1, num - 1)], 0.0)
    total = chains * num
    tau = np.maximum(-1.0 + 2.0 * head + tail, 1.0 / np.log10(total))
    ess = total / tau
    ess[np.isnan(kept).any(axis=1)] = np.nan
    out[active] = ess
    return out


def chain_ess(values: np.ndarray) -> np.ndarray:
    r"""Effective sample size of every chain alone, per coordinate: ``(C, ...)``.

    For ``values`` of shape ``(C, N, ...)``: chain ``c``'s draws of each
    coordinate, split in halves as arviz does, give the ESS of its mean by
    Geyer's initial monotone sequence estimator, equal to
    ``az.ess(values[c : c + 1], method="mean")`` (tested). The split makes a
    drifting chain's ESS small: its mean is uncertain. A constant series gets
    ``N``, as in arviz; fewer than 4 draws give NaN. The Monte Carlo standard
    error of chain ``c``'s mean is :math:`s_c / \sqrt{ESS_c}`.

    Cost: two FFTs per chain and coordinate, :math:`O(C k N \log N)`.
    """
    values = np.asarray(values, dtype=np.float64)
    chains, num = values.shape[:2]
    trailing = values.shape[2:]
    if num < 4:
        return np.full((chains, *trailing), np.nan)
    half = num // 2
    halves = np.stack([values[:, :half], values[:, num - half :]], axis=2)
    series = np.moveaxis(halves, (2, 1), (-2, -1)).reshape(-1, 2, half)
    return _geyer_ess(series).reshape(chains, *trailing)


def _nested_rhat_core(values: np.ndarray, superchains: np.ndarray) -> np.ndarray:
    r"""Nested :math:`\hat R` of ``(C, N, ...)`` values with superchain ids.

    Equation 8 of Margossian et al. (2024): with :math:`K` superchains of
    :math:`M` chains each, :math:`\hat B_\nu` the variance (ddof 1) of the
    superchain means, :math:`\hat W_\nu` the mean over superchains of (the
    mean within-chain variance + the variance of its chain means, ddof 1; 0
    for one chain per superchain), :math:`\hat R_\nu = \sqrt{1 + \hat
    B_\nu / \hat W_\nu}`.
    """
    ids = np.unique(superchains)
    chain_mean = values.mean(axis=1)
    chain_var = values.var(axis=1, ddof=1) if values.shape[1] > 1 else None
    super_mean = np.stack([chain_mean[superchains == k].mean(axis=0) for k in ids])
    per_super = np.bincount(np.searchsorted(ids, superchains)).max()
    within = np.zeros_like(super_mean)
    for row, k in enumerate(ids):
        members = superchains == k
        if per_super > 1:
            within[row] += chain_mean[members].var(axis=0, ddof=1)
        if chain_var is not None:
            within[row] += chain_var[members].mean(axis=0)
    between = super_mean.var(axis=0, ddof=1)
    return np.sqrt(1.0 + between / within.mean(axis=0))


def nested_rhat(
    values: np.ndarray,
    superchain_ids: Sequence[int] | np.ndarray,
    *,
    method: str = "rank",
) -> np.ndarray:
    r"""Nested :math:`\hat R` (Margossian et al. 2024) of ``(C, N, ...)`` draws.

    For many short chains grouped in superchains (chains started from one
    point): the between-superchain variance against the within-superchain
    variance, which includes the spread of a superchain's chain means, so
    that short chains that have not each forgotten their start are not held
    against a run whose superchains agree. ``method="rank"`` (default) is the
    rank-normalised, split version (:math:`\max` of bulk and folded-tail
    values; each chain's halves stay in its superchain), ``"split"`` the
    split chains without ranks, ``"identity"`` neither; all equal to
    arviz-stats' ``rhat_nested`` (tested where arviz-stats is installed).
    Vectorised over the trailing entries.

    Args:
        values: ``(C, N, ...)`` draws.
        superchain_ids: ``(C,)`` integer superchain of every chain; every
            superchain has the same number of chains.
        method: ``"rank"``, ``"split"`` or ``"identity"``.

    Returns:
        ``(...)`` nested R-hat per trailing entry; NaN with fewer than 4
        draws or 2 superchains.

    Raises:
        ValueError: ids of the wrong length, unequal superchains, an unknown
            method.

    References:
        Margossian, Hoffman, Sountsov, Riou-Durand, Vehtari & Gelman (2024).
        Nested R-hat: assessing the convergence of Markov chain Monte Carlo
        when running many short chains. Bayesian Analysis.
    """
    values = np.asarray(values, dtype=np.float64)
    ids = np.asarray(superchain_ids)
    if ids.shape != (values.shape[0],) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"superchain_ids must be {values.shape[0]} integers (one per chain), "
            f"got shape {ids.shape} of {ids.dtype}"
        )
    counts = np.unique(ids, return_counts=True)[1]
    if counts.min() != counts.max():
        raise ValueError(
            f"every superchain needs the same number of chains, got {counts.tolist()}"
        )
    if method not in ("rank", "split", "identity"):
        raise ValueError(
            f"unknown method {method!r}; use 'rank', 'split' or 'identity'"
        )
    if values.shape[1] < 4 or counts.size < 2:
        return np.full(values.shape[2:], np.nan)
    if method == "identity":
        return _nested_rhat_core(values, ids)
    half = values.shape[1] // 2
    split = np.concatenate([values[:, :half], values[:, -half:]], axis=0)
    split_ids = np.concatenate([ids, ids])
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "split":
            return _nested_rhat_core(split, split_ids)
        median = np.median(split.reshape(-1, *split.shape[2:]), axis=0)
        bulk = _nested_rhat_core(_z_scale(split), split_ids)
        tail = _nested_rhat_core(_z_scale(np.abs(split - median)), split_ids)
    return np.maximum(bulk, tail)
