"""The kernel interface: what every sampler of symbayes implements.

A kernel is a small frozen dataclass (hashable: it is part of the key of
compiled runners) holding its static options. Its :meth:`Kernel.build`
returns per-chain functions, in the style of blackjax's ``init`` /
``build_kernel``: the driver (:mod:`symbayes.driver`) maps them over chains
(one after another with ``lax.map`` on CPU, vectorised on accelerators),
scans them in chunks, thins on device and never sends warmup transitions to
the host.

The quotient mode (:class:`symbayes.quotient.Quotient`) is an argument of
``build``: a kernel composes its pieces (the log density in sampler
coordinates, the glued integrator, the fold after each transition acting on
position, gradient and persistent momentum, the metric projection) with its
own transition, and declares in :attr:`Kernel.quotients` which modes it
supports.

Warmup is either stepwise (``Transitions.warmup_step``, one transition at a
time, chunked and checkpointed like sampling; HMC/NUTS/SG kernels) or
whole (``Transitions.warmup_all`` over all chains in one call; tuners that
blackjax runs as one scan, e.g. MCLMC's, and cross-chain adaptation, e.g.
ChEES). Sampling is always per chain and stepwise.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["STAT_NAMES", "Kernel", "Target", "Transitions", "empty_stats"]

# every kernel reports these per transition (zeros where meaningless)
STAT_NAMES = (
    "acceptance_rate",
    "diverging",
    "num_grad_evals",
    "energy",
    "tree_depth",
    "glues",
    "logdensity",
    "step_size",
)


class Target(NamedTuple):
    """What a kernel samples, in sampler coordinates.

    Attributes:
        logdensity: full-data log density of one position (``-inf`` where
            undefined), or ``None`` when only minibatches exist.
        minibatch_logdensity: ``(position, batch) -> unbiased estimate`` of
            the log density (SG kernels), or ``None``.
        data: the data tuple (device arrays) that minibatches are drawn from.
        num_data: number of rows of ``data``.
    """

    logdensity: Callable[[Any], jax.Array] | None
    minibatch_logdensity: Callable[[Any, Any], jax.Array] | None = None
    data: Any = None
    num_data: int | None = None


class Transitions(NamedTuple):
    """Per-chain functions of a built kernel.

    Attributes:
        init: ``(position, key) -> chain`` (also finds initial tuning values).
        warmup_step: ``(key, chain, t) -> (chain, stats)`` for warmup step
            ``t``, or ``None`` when warmup is whole.
        warmup_all: ``(keys, chains, num_steps, chain_method) -> (chains,
            grads)`` over all chains at once (leading axis; ``grads``: the
            gradient evaluations of each chain), or ``None``.
        end_warmup: ``chain -> chain`` freezing the tuned parameters.
        sample_step: ``(key, chain) -> (chain, stats)``.
        position: ``chain -> position`` (sampler coordinates).
        parameters: ``chain -> dict`` of tuned parameters to report.
        run_chunk: ``(phase, keys, chains, first, count, thinning, length,
            record) -> (chains, out)``: a chunk of transitions of vmapped
            chains that need not wait for each other (NUTS:
            :func:`symbayes.kernels.nuts_machine.desynchronised_chunks`), or
            ``None``; the driver then vmaps ``warmup_step`` / ``sample_step``.
    """

    init: Callable
    warmup_step: Callable | None
    warmup_all: Callable | None
    end_warmup: Callable
    sample_step: Callable
    position: Callable
    parameters: Callable
    run_chunk: Callable | None = None


def whole_warmup_transitions(
    init: Callable,
    warmup_all: Callable,
    sample_step: Callable,
    parameter_names: tuple[str, ...],
) -> Transitions:
    """:class:`Transitions` of a kernel tuned by one whole-warmup call.

    For chains that carry a blackjax ``state`` (with ``position``) and their
    tuned parameters as fields: no per-step warmup, nothing to freeze, and
    ``parameter_names`` are the fields reported.
    """
    return Transitions(
        init=init,
        warmup_step=None,
        warmup_all=warmup_all,
        end_warmup=lambda chain: chain,
        sample_step=sample_step,
        position=lambda chain: chain.state.position,
        parameters=lambda chain: {
            name: getattr(chain, name) for name in parameter_names
        },
    )


def empty_stats(dtype: Any = jnp.float32) -> dict[str, jax.Array]:
    """Zeros for every entry of :data:`STAT_NAMES` (a kernel fills its own)."""
    stats = {name: jnp.zeros((), dtype) for name in STAT_NAMES}
    stats["diverging"] = jnp.zeros((), bool)
    stats["num_grad_evals"] = jnp.zeros((), jnp.int32)
    stats["tree_depth"] = jnp.zeros((), jnp.int32)
    stats["glues"] = jnp.zeros((), jnp.int32)
    return stats


def fill_stats(dtype: Any, **values: Any) -> dict[str, jax.Array]:
    """:func:`empty_stats` with the given entries, cast to their dtypes."""
    stats = empty_stats(dtype)
    for name, value in values.items():
        stats[name] = jnp.asarray(value).astype(stats[name].dtype).reshape(())
    return stats


@dataclass(frozen=True)
class Kernel(abc.ABC):
    """A Markov kernel with its options, buildable for any supported quotient mode.

    Class attributes:
        name: the name ``sample(kernel=...)`` takes.
        exact: whether it targets the posterior exactly (a Metropolis
            correction, or an exact dynamics); unadjusted kernels are biased
            at finite step size.
        quotients: the quotient modes it composes with.
        minibatch: whether it needs minibatch gradients (SG-MCMC).
        cross_chain: whether its warmup couples chains (run vectorised).
        whole_warmup: whether warmup runs in one call over all chains
            (``Transitions.warmup_all``) instead of one transition at a time.
    """

    name: ClassVar[str] = ""
    exact: ClassVar[bool] = True
    quotients: ClassVar[tuple[str, ...]] = ("none", "fold")
    minibatch: ClassVar[bool] = False
    cross_chain: ClassVar[bool] = False
    whole_warmup: ClassVar[bool] = False

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The options this kernel takes (its dataclass fields)."""
        return tuple(f.name for f in fields(cls))

    def check_run(self, num_warmup: int) -> None:
        """Raise a clear error for run settings the kernel cannot use.

        Called by ``sample()`` right after the kernel is made, before any
        compilation (:meth:`validate` runs later, once the quotient exists).
        """
        del num_warmup

    def validate(self, quotient: Any, template: Any, num_warmup: int) -> None:
        """Raise a clear error for options that cannot work, before any JIT.

        The default checks the quotient mode; kernels add their own checks.
        """
        if quotient.mode not in self.quotients:
            raise ValueError(
                f"kernel {self.name!r} does not support quotient={quotient.mode!r}; "
                f"it supports {', '.join(self.quotients)}"
            )

    @abc.abstractmethod
    def build(
        self, target: Target, quotient: Any, template: Any, num_warmup: int
    ) -> Transitions:
        """Per-chain functions for ``target`` in ``quotient``'s coordinates."""

    # ---------------------------------------------------- cross-chain hooks
    def pool_steps(self, num_warmup: int) -> np.ndarray:
        """Warmup steps after which :meth:`pool` runs on all chains (host side)."""
        del num_warmup
        return np.zeros(0, np.int64)

    def pool(self, chains: Any, quotient: Any, template: Any) -> tuple[Any, dict]:
        """Combine what chains learnt at a pooling step (see :meth:`pool_steps`)."""
        del quotient, template
        return chains, {}


def positive_float(name: str, value: Any, *, allow_none: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite float > 0."""
    if value is None and allow_none:
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def positive_int(name: str, value: Any, minimum: int = 1) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
