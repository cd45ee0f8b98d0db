"""Draws of a cyclical SG-MCMC run, cycle by cycle.

A run with :func:`~symbayes.kernels.schedules.cyclical_schedule` records the
cycle of every kept draw in ``result.sample_stats["cycle"]`` (all chains run
the same schedule, so the cycles of a draw index agree across chains). Each
cycle's draws are its sampling stage, typically near one mode per chain:
:func:`draws_of_cycle` hands them to the mode tools
(:func:`symbayes.diagnose`, :func:`symbayes.diagnostics.find_modes`), which
then count the modes found per cycle.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["cycle_indices", "draws_of_cycle"]


def cycle_indices(result: Any) -> np.ndarray:
    """The cycles present in a run, ascending.

    Raises:
        ValueError: a run without cycle records (not an SG kernel run).
    """
    return np.unique(_cycles(result))


def draws_of_cycle(result: Any, cycle: int, raw: bool = False) -> dict:
    """The draws of one cycle, ``(chain, draw, ...)`` per leaf.

    Args:
        result: a :class:`~symbayes.results.SampleResult` of an SG kernel.
        cycle: the cycle index (see :func:`cycle_indices`).
        raw: take ``result.raw_draws`` (``quotient="none"``) instead of the
            canonical draws.

    Returns:
        A dict of arrays with the draws of that cycle.

    Raises:
        ValueError: no cycle records, chains whose cycles disagree, or a
            cycle with no draws.
    """
    cycles = _cycles(result)
    if not np.all(cycles == cycles[:1]):
        raise ValueError("chains disagree on the cycle of a draw")
    keep = cycles[0] == int(cycle)
    if not keep.any():
        raise ValueError(
            f"cycle {cycle} has no draws; the run has cycles {np.unique(cycles)}"
        )
    draws = result.raw_draws if raw else result.draws
    if draws is None:
        raise ValueError("raw draws exist only with quotient='none'")
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[:, keep], dict(draws))


def _cycles(result: Any) -> np.ndarray:
    stats = getattr(result, "sample_stats", None) or {}
    if "cycle" not in stats:
        raise ValueError(
            "this run has no cycle records (sample_stats['cycle']): run an SG "
            "kernel with step_size=cyclical_schedule(...)"
        )
    return np.asarray(stats["cycle"])
