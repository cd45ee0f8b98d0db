"""symbayes: Bayesian posterior sampling on parameter spaces with symmetries.

The submodules are reachable as attributes (``symbayes.models.MLP``,
``symbayes.datasets.load``, ``symbayes.canonical.relabel``), imported on
first use.
"""

import importlib
from typing import Any

from symbayes._version import __version__
from symbayes.canonical import canonicalize, relabel
from symbayes.diagnostics import (
    diagnose,
    load_reference_modes,
    mode_coverage,
    reference_modes,
    unseen_mode_mass,
)
from symbayes.draws import as_draws
from symbayes.results import SampleResult, load_result
from symbayes.samplers import polynomial_schedule, sample
from symbayes.symmetry import (
    AxisEntry,
    ContinuousSymmetry,
    GroupElement,
    HiddenAxis,
    MatrixAxis,
    MatrixEntry,
    Symmetry,
    SymmetryError,
    UnitKey,
    canonicalize_continuous,
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
    "as_draws",
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
    "unseen_mode_mass",
    "ContinuousSymmetry",
    "MatrixAxis",
    "MatrixEntry",
    "canonicalize_continuous",
]

_SUBMODULES = frozenset(
    {
        "adaptation",
        "assignment",
        "budget",
        "canonical",
        "checkpoint",
        "cli",
        "compare",
        "datasets",
        "diagnostics",
        "draws",
        "driver",
        "kernels",
        "models",
        "quotient",
        "report",
        "results",
        "samplers",
        "symmetry",
        "validation",
    }
)


def __getattr__(name: str) -> Any:
    """Import a submodule on first access: ``symbayes.models``, ..."""
    if name in _SUBMODULES:
        return importlib.import_module(f"symbayes.{name}")
    raise AttributeError(f"module 'symbayes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBMODULES})
