r"""Diagnostics on raw, canonical and function coordinates; modes and coverage.

One idea per module:

* :mod:`~symbayes.diagnostics.spaces` - :func:`diagnose`: ESS, R-hat, modes
  and unseen-mode mass on raw, canonical and function coordinates, for draws
  from anywhere (:mod:`symbayes.draws`);
* :mod:`~symbayes.diagnostics.estimators` - the estimators, vectorised:
  rank :math:`\hat R` (arviz's), pairwise :math:`\hat R` of chains, per-chain
  ESS, nested :math:`\hat R` (Margossian et al. 2024);
* :mod:`~symbayes.diagnostics.modes` - which chains share a mode, by a rule
  that accounts for Monte Carlo error (per-chain ESS); settled modes;
  representatives that are members of their mode;
* :mod:`~symbayes.diagnostics.unseen` - the probability that one more chain
  finds a mode not yet seen (Good-Turing, with an interval) and a Chao1
  estimate of the number of modes;
* :mod:`~symbayes.diagnostics.coverage` - which modes of a long reference
  run a run reaches;
* :mod:`~symbayes.diagnostics.coordinates` - flat coordinates of draws and
  function values.

Naive sampling inflates the raw mode count by up to the order of the group;
the canonical and function counts tell how many functionally distinct regions
were reached. Quotienting never hides real non-convergence: chains in
functionally different modes still differ on canonical and function
coordinates.

References:
    Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021). Rank-normalization,
    folding, and localization: an improved R-hat for assessing convergence
    of MCMC. Bayesian Analysis 16(2).
    Wiese, Wimmer, Papamarkou, Bischl, Günnemann & Rügamer (2023). Towards
    efficient MCMC sampling in Bayesian neural networks by exploiting
    symmetry. ECML PKDD 2023 (arXiv:2304.02902).
"""

from symbayes.diagnostics.coordinates import flatten_draws, function_draws
from symbayes.diagnostics.coverage import (
    Coverage,
    ReferenceModes,
    load_reference_modes,
    mode_coverage,
    reference_modes,
)
from symbayes.diagnostics.estimators import (
    _rank_rhat,
    chain_ess,
    nested_rhat,
    pairwise_rhat,
    rank_rhat,
)
from symbayes.diagnostics.modes import (
    DEFAULT_FALSE_SPLIT_RATE,
    DEFAULT_THRESHOLD,
    ChainSeparation,
    Mode,
    Modes,
    chain_separation,
    find_modes,
    margin_of_threshold,
)
from symbayes.diagnostics.spaces import Diagnostics, SpaceDiagnostics, diagnose
from symbayes.diagnostics.unseen import UnseenModes, unseen_mode_mass

__all__ = [
    "DEFAULT_FALSE_SPLIT_RATE",
    "DEFAULT_THRESHOLD",
    "ChainSeparation",
    "Coverage",
    "Diagnostics",
    "Mode",
    "Modes",
    "ReferenceModes",
    "SpaceDiagnostics",
    "UnseenModes",
    "chain_ess",
    "chain_separation",
    "diagnose",
    "find_modes",
    "flatten_draws",
    "function_draws",
    "load_reference_modes",
    "margin_of_threshold",
    "mode_coverage",
    "nested_rhat",
    "pairwise_rhat",
    "rank_rhat",
    "reference_modes",
    "unseen_mode_mass",
]
# kept importable for the tests that compare it with arviz
_rank_rhat = _rank_rhat
