r"""A chain budget: add chains in batches until little probability is left unseen.

What canonical coordinates answer, and raw coordinates cannot, is whether two
chains found the same mode. :func:`sample_until_covered` uses that to decide
how many chains a problem needs: it runs chains in batches, finds the modes
of all chains so far (on canonical or function coordinates,
:func:`symbayes.diagnose`), and stops once the Good-Turing estimate of the
probability that one more chain lands in a mode no chain has reached yet,

.. math::

    \hat U = \frac{f_1}{C},

(``f_1`` modes holding exactly one chain, ``C`` chains; Good 1953) falls
below a target, or at a cap on chains.

Mode weights are shares of chains, with Wilson intervals. They estimate how
often a chain started from the initial distribution ends up in each mode
(the *basins of attraction* of the initialisation and warmup), not the
posterior mass of the modes, unless the chains mix between modes.

On raw coordinates every chain of a naive sampler sits in its own copy of
the posterior, so every chain is alone in its mode and ``U`` never falls:
the same rule on raw coordinates is the baseline the benchmark compares
against.

References:
    Good (1953), "The population frequencies of species and the estimation
    of population parameters", Biometrika 40. Chao (1984), "Nonparametric
    estimation of the number of classes in a population", Scand. J. Stat.
    Wilson (1927), "Probable inference, the law of succession, and
    statistical inference", JASA 22.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import numpy as np
from scipy.stats import norm

from symbayes.results import SampleResult, Timings

__all__ = [
    "BatchRecord",
    "BudgetResult",
    "concatenate_results",
    "sample_until_covered",
    "wilson_interval",
]

Space = Literal["canonical", "function", "raw"]


class BatchRecord(NamedTuple):
    """The state of a budgeted run after one batch.

    Attributes:
        num_chains: chains so far.
        num_grad_evals: gradient evaluations so far (warmup included).
        num_modes: modes among them (the chosen space).
        unseen: the Good-Turing estimate of the unseen-mode mass.
        unseen_interval: its interval, ``(low, high)``.
        chao1: Chao1 estimate of the number of modes.
    """

    num_chains: int
    num_grad_evals: int
    num_modes: int
    unseen: float
    unseen_interval: tuple[float, float]
    chao1: float


class BudgetResult(NamedTuple):
    """What :func:`sample_until_covered` returns.

    Attributes:
        result: every chain's draws, one :class:`~symbayes.results.SampleResult`.
        diagnostics: its diagnostics (all chains).
        history: one :class:`BatchRecord` per batch.
        reached: whether the unseen-mode mass fell below the target.
        labels: ``(C,)`` mode of every chain in the chosen space.
        weights: ``(M,)`` share of chains in each mode.
        weight_intervals: ``(M, 2)`` Wilson 95% intervals of the shares.
    """

    result: SampleResult
    diagnostics: Any
    history: tuple[BatchRecord, ...]
    reached: bool
    labels: np.ndarray
    weights: np.ndarray
    weight_intervals: np.ndarray

    @property
    def num_chains(self) -> int:
        return self.history[-1].num_chains

    @property
    def num_grad_evals(self) -> int:
        return self.history[-1].num_grad_evals


def wilson_interval(count: np.ndarray, total: int, level: float = 0.95) -> np.ndarray:
    """Wilson score intervals ``(k, 2)`` of binomial proportions ``count / total``."""
    count = np.asarray(count, np.float64)
    z = norm.ppf(0.5 + level / 2)
    share = count / total
    centre = (share + z**2 / (2 * total)) / (1 + z**2 / total)
    half = (
        z
        * np.sqrt(share * (1 - share) / total + z**2 / (4 * total**2))
        / (1 + z**2 / total)
    )
    return np.stack([np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)], -1)


def concatenate_results(results: list[SampleResult]) -> SampleResult:
    """Join runs of the same problem and settings along the chain axis."""
    if not results:
        raise ValueError("no results to concatenate")
    first = results[0]

    def join(trees: list[Any]) -> Any:
        if any(tree is None for tree in trees):
            return None
        return jax.tree_util.tree_map(lambda *x: np.concatenate(x, axis=0), *trees)

    stats = {
        name: np.concatenate([r.sample_stats[name] for r in results], axis=0)
        for name in first.sample_stats
    }
    adaptation = {
        name: np.concatenate([np.asarray(r.adaptation[name]) for r in results], axis=0)
        for name in first.adaptation
        if all(name in r.adaptation for r in results)
    }
    timings = Timings(*(sum(values) for values in zip(*(r.timings for r in results))))
    config = dict(first.config)
    config["num_chains"] = int(sum(r.num_chains for r in results))
    config["batches"] = [r.config.get("key") for r in results]
    return SampleResult(
        draws=join([r.draws for r in results]),
        raw_draws=join([r.raw_draws for r in results]),
        sample_stats=stats,
        timings=timings,
        config=config,
        adaptation=adaptation,
        symmetry=first.symmetry,
    )


def _space(diagnostics: Any, space: Space) -> Any:
    chosen = getattr(diagnostics, space)
    if chosen is None:
        raise ValueError(
            f"space={space!r} has no diagnostics for this run (a function space "
            "needs a model with data, or function=)"
        )
    return chosen


def sample_until_covered(
    model_or_logdensity_fn: Any,
    init_fn: Callable[[Any], Any] | None = None,
    symmetry: Any = None,
    *,
    data: Any = None,
    target_unseen: float = 0.05,
    batch_chains: int = 8,
    max_chains: int = 128,
    min_chains: int | None = None,
    space: Space = "canonical",
    stop_on: Literal["estimate", "upper"] = "estimate",
    function: Callable[[Any], Any] | None = None,
    key: int = 0,
    progress: Callable[[str], None] | None = None,
    **sample_options: Any,
) -> BudgetResult:
    """Run chains in batches until the unseen-mode mass is below ``target_unseen``.

    Args:
        model_or_logdensity_fn: as for :func:`symbayes.sample`.
        init_fn: ``key -> params`` of one chain (default: the model's
            ``init``); required with a bare log density.
        symmetry: as for :func:`symbayes.sample`.
        data: the model's data.
        target_unseen: stop when the Good-Turing unseen-mode mass is below this.
        batch_chains: chains per batch.
        max_chains: cap on chains.
        min_chains: chains before the rule may stop (default ``2 *
            batch_chains``).
        space: where modes are counted: ``"canonical"`` (default),
            ``"function"`` or ``"raw"`` (the naive baseline).
        stop_on: ``"estimate"`` stops when the Good-Turing estimate is below
            ``target_unseen``; ``"upper"`` when the upper end of its
            interval is (the cautious rule: with every chain in one mode
            the upper end falls about as ``3.7 / chains``, so a target of
            0.05 needs some 75 chains, while the estimate is 0 from the
            first batch; a mode of weight ``w`` is missed by ``n`` chains
            with probability ``(1 - w)^n``).
        function: invariant outputs for the function space (default: the
            model's ``function_fn(data)``).
        key: int seed; batch ``b`` uses ``fold_in(key, b)`` for its initial
            points and sampler.
        progress: called with one line per batch.
        **sample_options: passed to :func:`symbayes.sample` (kernel,
            quotient, num_warmup, num_samples, kernel options, ...).

    Returns:
        A :class:`BudgetResult`.

    Raises:
        ValueError: a target outside ``(0, 1)``, sizes below 2, an unknown
            ``stop_on``, a bare log density without ``init_fn``, a space
            without diagnostics.
    """
    from symbayes.diagnostics import diagnose, unseen_mode_mass
    from symbayes.models.base import BayesianModel
    from symbayes.samplers import sample

    if not 0 < target_unseen < 1:
        raise ValueError(f"target_unseen must lie in (0, 1), got {target_unseen!r}")
    for name, value in (("batch_chains", batch_chains), ("max_chains", max_chains)):
        if not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
    if space not in ("canonical", "function", "raw"):
        raise ValueError(
            f"space must be 'canonical', 'function' or 'raw', got {space!r}"
        )
    if stop_on not in ("estimate", "upper"):
        raise ValueError(f"stop_on must be 'estimate' or 'upper', got {stop_on!r}")
    min_chains = 2 * batch_chains if min_chains is None else int(min_chains)
    is_model = isinstance(model_or_logdensity_fn, BayesianModel)
    if init_fn is None:
        if not is_model:
            raise ValueError("init_fn is required with a bare log-density function")
        model = model_or_logdensity_fn
        from symbayes.datasets import as_data_tuple

        bound = as_data_tuple(
            data if data is not None else getattr(model, "data", None)
        )

        def init_fn(k: Any) -> Any:
            return model.init(k, bound)

    if "progress_bar" not in sample_options:
        sample_options["progress_bar"] = False
    results: list[SampleResult] = []
    history: list[BatchRecord] = []
    root = jax.random.key(int(key))
    batch = 0
    diagnostics = None
    reached = False
    while True:
        size = min(batch_chains, max_chains - sum(r.num_chains for r in results))
        batch_key = jax.random.fold_in(root, batch)
        init_key, sample_key = jax.random.split(batch_key)
        init = jax.vmap(init_fn)(jax.random.split(init_key, size))
        result = sample(
            model_or_logdensity_fn,
            init,
            symmetry,
            init_per_chain=True,
            data=data,
            num_chains=size,
            key=jax.random.key_data(sample_key),
            **sample_options,
        )
        results.append(result)
        combined = concatenate_results(results)
        diagnostics = diagnose(
            combined,
            function=function,
            model=model_or_logdensity_fn if is_model and function is None else None,
            data=data,
        )
        labels = _space(diagnostics, space).modes.labels
        unseen = unseen_mode_mass(labels)
        record = BatchRecord(
            num_chains=combined.num_chains,
            num_grad_evals=int(combined.timings.num_grad_evals),
            num_modes=int(unseen.num_modes),
            unseen=float(unseen.good_turing),
            unseen_interval=tuple(float(v) for v in unseen.interval),
            chao1=float(unseen.chao1),
        )
        history.append(record)
        if progress is not None:
            progress(
                f"{record.num_chains} chains: {record.num_modes} {space} modes, "
                f"unseen mass {record.unseen:.3f} "
                f"[{record.unseen_interval[0]:.3f}, {record.unseen_interval[1]:.3f}]"
            )
        batch += 1
        measured = record.unseen if stop_on == "estimate" else record.unseen_interval[1]
        if record.num_chains >= min_chains and measured < target_unseen:
            reached = True
            break
        if record.num_chains >= max_chains:
            break
    labels = np.asarray(_space(diagnostics, space).modes.labels)
    counts = np.bincount(labels)
    total = int(labels.size)
    return BudgetResult(
        result=combined,
        diagnostics=diagnostics,
        history=tuple(history),
        reached=reached,
        labels=labels,
        weights=counts / total,
        weight_intervals=wilson_interval(counts, total),
    )
