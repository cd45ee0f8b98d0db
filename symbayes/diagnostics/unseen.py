r"""How much probability lies in modes no chain has reached yet.

Treat each of :math:`n` independently started chains as one draw from the
distribution :math:`(p_1, p_2, \dots)` of the mode a chain ends in (the
*basins of attraction* of the sampler from its initial distribution, not the
posterior mass of the modes). With :math:`f_r` the number of modes reached by
exactly :math:`r` chains:

* **Good-Turing** (Good 1953): the probability that one more chain lands in
  a mode not yet seen is estimated by the share of chains alone in their
  mode, :math:`\hat p_0 = f_1 / n`.
* **Interval**: Esty's (1983) normal limit,
  :math:`\sqrt{n}\,(\hat p_0 - p_0) / \sqrt{f_1/n + 2 f_2/n - f_1^2/n^2}
  \to N(0, 1)`, widened to contain the exact Poisson (Garwood) interval for
  the count :math:`f_1` divided by :math:`n` (where :math:`f_1` is small the
  normal limit fails; in particular at :math:`f_1 = f_2 = 0` it would give a
  zero-width interval, while the Poisson upper bound stays at
  :math:`\approx 3.7/n` at 95%). ``benchmarks/modes.py`` measures its
  coverage on known mode distributions.
* **Chao1** (Chao 1984; bias-corrected form, Chao 2005): the number of modes
  including unseen ones, :math:`\hat S = S_{obs} + \frac{n-1}{n}
  \frac{f_1 (f_1 - 1)}{2 (f_2 + 1)}`, a lower-bound type estimate.

On raw coordinates of a naive run every chain sits in its own copy of the
posterior, so :math:`f_1 = n` and the estimate stays at 1 however many chains
run; on canonical and function coordinates it falls as chains revisit modes.

References:
    Good (1953). The population frequencies of species and the estimation of
    population parameters. Biometrika 40.
    Esty (1983). A normal limit law for a nonparametric estimator of the
    coverage of a random sample. Annals of Statistics 11(3).
    Garwood (1936). Fiducial limits for the Poisson distribution. Biometrika
    28.
    Chao (1984). Nonparametric estimation of the number of classes in a
    population. Scandinavian Journal of Statistics 11.
    Chao (2005). Species estimation and applications. Encyclopedia of
    Statistical Sciences, 2nd ed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.special import ndtri
from scipy.stats import chi2

__all__ = ["UnseenModes", "unseen_mode_mass"]


class UnseenModes(NamedTuple):
    """Good-Turing and Chao1 estimates from the mode of every chain.

    Attributes:
        good_turing: estimated probability that one more chain lands in a mode
            no chain has reached (:math:`f_1 / n`).
        interval: ``(low, high)`` confidence interval of that probability.
        chao1: estimated number of modes, unseen ones included.
        num_modes: modes reached (:math:`S_{obs}`).
        num_singletons: modes reached by exactly one chain (:math:`f_1`).
        num_doubletons: modes reached by exactly two chains (:math:`f_2`).
        num_chains: chains (:math:`n`).
        level: the confidence level of ``interval``.
    """

    good_turing: float
    interval: tuple[float, float]
    chao1: float
    num_modes: int
    num_singletons: int
    num_doubletons: int
    num_chains: int
    level: float = 0.95


def _poisson_interval(count: int, level: float) -> tuple[float, float]:
    """Exact (Garwood) interval for the mean of a Poisson count."""
    alpha = 1.0 - level
    low = 0.0 if count == 0 else 0.5 * chi2.ppf(alpha / 2, 2 * count)
    high = 0.5 * chi2.ppf(1 - alpha / 2, 2 * count + 2)
    return float(low), float(high)


def unseen_mode_mass(
    labels: Sequence[int] | np.ndarray, *, level: float = 0.95
) -> UnseenModes:
    """Unseen-mode mass (Good-Turing, with an interval) and Chao1 from labels.

    Args:
        labels: ``(n,)`` mode label of every chain (any hashable integers,
            e.g. ``Diagnostics.canonical.modes.labels``).
        level: confidence level of the interval, in ``(0, 1)``.

    Returns:
        :class:`UnseenModes`.

    Raises:
        ValueError: no chains, labels that are not one-dimensional integers,
            a level outside ``(0, 1)``.

    Example:
        >>> estimate = unseen_mode_mass([0, 0, 0, 1, 1, 2])
        >>> estimate.good_turing, estimate.num_singletons, estimate.num_modes
        (0.16666666666666666, 1, 3)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(
            f"labels must be a non-empty 1-d array (one per chain), got shape "
            f"{labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    n = labels.size
    _, counts = np.unique(labels, return_counts=True)
    observed = int(counts.size)
    f1 = int(np.sum(counts == 1))
    f2 = int(np.sum(counts == 2))
    estimate = f1 / n
    z = float(ndtri(0.5 + level / 2))
    variance = max(f1 / n + 2 * f2 / n - (f1 / n) ** 2, 0.0) / n
    normal = (estimate - z * math.sqrt(variance), estimate + z * math.sqrt(variance))
    poisson_low, poisson_high = _poisson_interval(f1, level)
    low = max(0.0, min(normal[0], poisson_low / n))
    high = min(1.0, max(normal[1], poisson_high / n))
    chao1 = observed + (n - 1) / n * f1 * (f1 - 1) / (2 * (f2 + 1))
    return UnseenModes(
        good_turing=float(estimate),
        interval=(float(low), float(high)),
        chao1=float(chao1),
        num_modes=observed,
        num_singletons=f1,
        num_doubletons=f2,
        num_chains=n,
        level=level,
    )
