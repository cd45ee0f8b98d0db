"""symbayes: Bayesian posterior sampling on parameter spaces with symmetries."""

from symbayes._version import __version__
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
    "__version__",
    "check_invariance",
    "classify_symmetry",
]
