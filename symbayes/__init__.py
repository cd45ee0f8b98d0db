"""symbayes: Bayesian posterior sampling on parameter spaces with symmetries."""

from symbayes._version import __version__
from symbayes.canonical import canonicalize, relabel
from symbayes.diagnostics import (
    diagnose,
    load_reference_modes,
    mode_coverage,
    reference_modes,
)
from symbayes.results import SampleResult, load_result
from symbayes.samplers import polynomial_schedule, sample
from symbayes.symmetry import (
    AxisEntry,
    GroupElement,
    HiddenAxis,
    Symmetry,
    SymmetryError,
    UnitKey,
    check_invariance,
    classify_symmetry,
)

__all__ = [
    "AxisEntry",
    "GroupElement",
    "HiddenAxis",
    "Symmetry",
    "SymmetryError",
    "UnitKey",
    "SampleResult",
    "__version__",
    "canonicalize",
    "diagnose",
    "load_reference_modes",
    "mode_coverage",
    "reference_modes",
    "load_result",
    "polynomial_schedule",
    "relabel",
    "sample",
    "check_invariance",
    "classify_symmetry",
]
