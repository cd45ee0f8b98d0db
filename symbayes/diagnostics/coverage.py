"""Mode coverage: which modes of a long reference run a run's chains reach.

:func:`reference_modes` keeps, for every canonical mode of a long many-chain
run, a thinned set of its canonical draws; :func:`mode_coverage` says which
of them a run reaches, a run chain reaching a reference mode when the
pairwise R-hat between the chain and the mode's draws is below the threshold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from symbayes.diagnostics.coordinates import flatten_draws
from symbayes.diagnostics.estimators import pairwise_rhat
from symbayes.diagnostics.modes import DEFAULT_THRESHOLD
from symbayes.diagnostics.spaces import Diagnostics, diagnose
from symbayes.draws import as_draws

__all__ = [
    "Coverage",
    "ReferenceModes",
    "load_reference_modes",
    "mode_coverage",
    "reference_modes",
]


class ReferenceModes(NamedTuple):
    """Canonical modes of a long reference run, for :func:`mode_coverage`.

    Attributes:
        draws: ``(M, N, k)`` thinned canonical draws of each mode (its chains
            pooled, then evenly subsampled to ``N``).
        weights: ``(M,)`` share of the reference chains in each mode.
        names: the coordinate names.
    """

    draws: np.ndarray
    weights: np.ndarray
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        return int(self.draws.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write to a ``.npz`` file (see :func:`load_reference_modes`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            np.savez(
                file,
                draws=self.draws,
                weights=self.weights,
                names=json.dumps(list(self.names)),
            )
        return path


def load_reference_modes(path: str | Path) -> ReferenceModes:
    """Read reference modes written by :meth:`ReferenceModes.save`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no reference-modes file at {path}")
    with np.load(path) as stored:
        return ReferenceModes(
            draws=stored["draws"],
            weights=stored["weights"],
            names=tuple(json.loads(str(stored["names"]))),
        )


def reference_modes(
    result: Any,
    diagnostics: Diagnostics | None = None,
    *,
    num_draws: int | None = None,
) -> ReferenceModes:
    """The canonical modes of a (long, many-chain) run as a reference.

    Args:
        result: the reference run.
        diagnostics: its diagnostics (computed if omitted).
        num_draws: draws kept per mode (default: the run's draws per chain).
    """
    diagnostics = diagnostics or diagnose(result)
    canonical, names = flatten_draws(as_draws(result).params)
    num = num_draws or canonical.shape[1]
    modes = diagnostics.canonical.modes.modes
    kept = []
    for mode in modes:
        pooled = canonical[list(mode.chains)].reshape(-1, canonical.shape[2])
        index = np.linspace(0, len(pooled) - 1, num).round().astype(int)
        kept.append(pooled[index])
    return ReferenceModes(
        draws=np.stack(kept),
        weights=np.array([mode.weight for mode in modes]),
        names=names,
    )


class Coverage(NamedTuple):
    """Which reference modes a run reaches.

    Attributes:
        fraction: share of the reference modes reached.
        weighted_fraction: reference weight of the reached modes.
        reached: ``(M,)`` whether each reference mode is reached.
        chain_modes: ``(C,)`` reference mode of each chain, ``-1`` for a chain
            in none of them (a mode the reference missed, or non-convergence).
    """

    fraction: float
    weighted_fraction: float
    reached: np.ndarray
    chain_modes: np.ndarray


def mode_coverage(
    result: Any,
    reference: ReferenceModes,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> Coverage:
    """The fraction of reference modes a run reaches (canonical coordinates).

    Each run chain is compared with each reference mode's draws by the
    pairwise R-hat (equal lengths: the longer is evenly subsampled); it
    reaches the mode with the lowest R-hat when that is below ``threshold``.

    Raises:
        ValueError: if the run's coordinates differ from the reference's.
    """
    canonical, names = flatten_draws(as_draws(result).params)
    if names != reference.names:
        raise ValueError(
            "the run's canonical coordinates differ from the reference modes' "
            f"({len(names)} vs {len(reference.names)} coordinates)"
        )
    num = min(canonical.shape[1], reference.draws.shape[1])

    def thin(values: np.ndarray) -> np.ndarray:
        index = np.linspace(0, values.shape[1] - 1, num).round().astype(int)
        return values[:, index]

    pairwise = pairwise_rhat(thin(canonical), others=thin(reference.draws))
    best = np.argmin(pairwise, axis=1)
    matched = pairwise[np.arange(len(best)), best] < threshold
    chain_modes = np.where(matched, best, -1)
    reached = np.zeros(reference.count, dtype=bool)
    reached[chain_modes[matched]] = True
    return Coverage(
        fraction=float(reached.mean()),
        weighted_fraction=float(reference.weights[reached].sum()),
        reached=reached,
        chain_modes=chain_modes,
    )
