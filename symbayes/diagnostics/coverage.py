"""Mode coverage: which modes of a long reference run a run's chains reach.

:func:`reference_modes` keeps, for every canonical mode of a long many-chain
run, a thinned set of its canonical draws; :func:`mode_coverage` says which
of them a run reaches, a run chain reaching a reference mode when the chain
and the mode's draws are not separated beyond Monte Carlo error (the rule of
:mod:`~symbayes.diagnostics.modes`; the pairwise R-hat below the threshold
with ``rule="rhat"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from symbayes.diagnostics.coordinates import flatten_draws
from symbayes.diagnostics.estimators import pairwise_rhat
from symbayes.diagnostics.modes import (
    DEFAULT_FALSE_SPLIT_RATE,
    DEFAULT_THRESHOLD,
    chain_separation,
)
from symbayes.diagnostics.spaces import Diagnostics, diagnose
from symbayes.draws import as_draws
from symbayes.symmetry import Symmetry

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
    symmetry: Symmetry | None = None,
) -> ReferenceModes:
    """The canonical modes of a (long, many-chain) run as a reference.

    Args:
        result: the reference run (a SampleResult, or canonical draws of any
            kind :func:`~symbayes.diagnostics.diagnose` takes).
        diagnostics: its diagnostics (computed if omitted).
        num_draws: draws kept per mode (default: the run's draws per chain).
        symmetry: the symmetry that canonicalises raw draws.
    """
    diagnostics = diagnostics or diagnose(result, symmetry=symmetry)
    canonical, names = _canonical_values(result, symmetry)
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


def _canonical_values(
    result: Any, symmetry: Symmetry | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Flat canonical draws of a run: canonicalised first if they are raw."""
    read = as_draws(result)
    params = read.params
    if not read.canonical:
        if symmetry is None:
            raise ValueError(
                "these draws were not made by symbayes, so they are raw: pass "
                "symmetry=... to canonicalise them"
            )
        from symbayes.canonical import canonicalize

        params = canonicalize(params, symmetry, "sort", batch_ndim=2)
    return flatten_draws(jax.tree_util.tree_map(np.asarray, params))


def mode_coverage(
    result: Any,
    reference: ReferenceModes,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    false_split_rate: float = DEFAULT_FALSE_SPLIT_RATE,
    rule: str = "mcse",
    symmetry: Symmetry | None = None,
) -> Coverage:
    """The fraction of reference modes a run reaches (canonical coordinates).

    Each run chain is compared with each reference mode's draws (equal
    lengths: the longer is evenly subsampled). With ``rule="mcse"`` (default)
    by the rule of :mod:`~symbayes.diagnostics.modes`: the chain reaches the
    nearest reference mode (least standardised distance) from which it is not
    separated beyond Monte Carlo error; with ``rule="rhat"`` the mode with the
    lowest pairwise R-hat, when that is below ``threshold``.

    Args:
        result: the run: anything :func:`~symbayes.diagnostics.diagnose`
            takes; raw draws need ``symmetry``.
        reference: the reference modes (:func:`reference_modes`).
        threshold: see :func:`~symbayes.diagnostics.chain_separation`.
        false_split_rate: see :func:`~symbayes.diagnostics.chain_separation`.
        rule: ``"mcse"`` or ``"rhat"``.
        symmetry: the symmetry that canonicalises raw draws.

    Raises:
        ValueError: if the run's coordinates differ from the reference's, an
            unknown rule, raw draws without a symmetry.
    """
    if rule not in ("mcse", "rhat"):
        raise ValueError(f"unknown rule {rule!r}; use 'mcse' or 'rhat'")
    canonical, names = _canonical_values(result, symmetry)
    if names != reference.names:
        raise ValueError(
            "the run's canonical coordinates differ from the reference modes' "
            f"({len(names)} vs {len(reference.names)} coordinates)"
        )
    num = min(canonical.shape[1], reference.draws.shape[1])

    def thin(values: np.ndarray) -> np.ndarray:
        index = np.linspace(0, values.shape[1] - 1, num).round().astype(int)
        return values[:, index]

    runs, modes = thin(canonical), thin(reference.draws)
    if rule == "rhat":
        pairwise = pairwise_rhat(runs, others=modes)
        best = np.argmin(pairwise, axis=1)
        matched = pairwise[np.arange(len(best)), best] < threshold
    else:
        chains = runs.shape[0]
        separation = chain_separation(
            np.concatenate([runs, modes]),
            threshold=threshold,
            false_split_rate=false_split_rate,
        )
        distance = separation.distance[:chains, chains:]
        apart = separation.separated[:chains, chains:]
        best = np.argmin(np.where(apart, np.inf, distance), axis=1)
        matched = ~apart[np.arange(chains), best]
    chain_modes = np.where(matched, best, -1)
    reached = np.zeros(reference.count, dtype=bool)
    reached[chain_modes[matched]] = True
    return Coverage(
        fraction=float(reached.mean()),
        weighted_fraction=float(reference.weights[reached].sum()),
        reached=reached,
        chain_modes=chain_modes,
    )
