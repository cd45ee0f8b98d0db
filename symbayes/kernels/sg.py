"""Shared pieces of the SG-MCMC kernels: options, minibatches, the chain carry.

References:
    Welling & Teh (2011), "Bayesian learning via stochastic gradient Langevin
    dynamics", ICML. Ma, Chen & Fox (2015), "A complete recipe for stochastic
    gradient MCMC", NeurIPS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from symbayes.kernels.base import (
    Kernel,
    Target,
    Transitions,
    fill_stats,
    positive_float,
)
from symbayes.kernels.schedules import ConstantSchedule

__all__ = ["SGChain", "SGKernel", "minibatch"]


class SGChain(NamedTuple):
    """Per-chain carry of an SG kernel: the position and the transition count."""

    position: Any
    step: jax.Array


def minibatch(key: jax.Array, data: tuple, batch_size: int) -> tuple:
    """``batch_size`` rows drawn without replacement (one transition's batch)."""
    num_data = data[0].shape[0]
    index = jax.random.choice(key, num_data, (batch_size,), replace=False)
    return tuple(x[index] for x in data)


@dataclass(frozen=True)
class SGKernel(Kernel):
    """Options every SG kernel shares.

    Args:
        step_size: a positive float or a schedule ``t -> step size``
            (e.g. :func:`~symbayes.kernels.schedules.polynomial_schedule`);
            default ``1e-4``.
        batch_size: rows per minibatch (default ``min(32, n)``).
        temperature: 1 samples the posterior.
    """

    exact: ClassVar[bool] = False
    minibatch: ClassVar[bool] = True
    quotients: ClassVar[tuple[str, ...]] = ("none", "reparam", "fold")

    step_size: Any = None
    batch_size: int | None = None
    temperature: float = 1.0

    def __post_init__(self) -> None:
        step = self.step_size
        if step is None:
            step = ConstantSchedule(1e-4)
        elif not callable(step):
            positive_float("step_size", step)
            step = ConstantSchedule(float(step))
        object.__setattr__(self, "step_size", step)
        positive_float("temperature", self.temperature)
        if self.batch_size is not None and (
            not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise ValueError(
                f"batch_size must be a positive integer, got {self.batch_size!r}"
            )

    def validate(self, quotient: Any, template: Any, num_warmup: int) -> None:
        super().validate(quotient, template, num_warmup)

    def resolved_batch_size(self, num_data: int) -> int:
        size = self.batch_size or min(32, num_data)
        if size > num_data:
            raise ValueError(f"batch_size {size} exceeds the number of data {num_data}")
        return size

    def _move(
        self, key: jax.Array, position: Any, step_size: jax.Array, gradient: Callable
    ) -> Any:
        raise NotImplementedError

    def _grads_per_transition(self) -> int:
        return 1

    def build(
        self, target: Target, quotient: Any, template: Any, num_warmup: int
    ) -> Transitions:
        del num_warmup
        batch_size = self.resolved_batch_size(target.num_data)
        data = target.data
        logdensity = target.minibatch_logdensity
        dtype = ravel_pytree(template)[0].dtype
        schedule = self.step_size

        def gradient(position: Any, key: jax.Array) -> Any:
            return jax.grad(logdensity)(position, minibatch(key, data, batch_size))

        def transition(key: jax.Array, chain: SGChain):
            step_size = jnp.asarray(schedule(chain.step), dtype)
            position = self._move(key, chain.position, step_size, gradient)
            if quotient.folds:
                position, _ = quotient.fold(position)
            finite = jnp.all(jnp.isfinite(ravel_pytree(position)[0]))
            stats = fill_stats(
                dtype,
                acceptance_rate=1.0,
                diverging=~finite,
                num_grad_evals=self._grads_per_transition(),
                step_size=step_size,
            )
            return SGChain(position, chain.step + 1), stats

        def init(coordinates: Any, key: jax.Array) -> SGChain:
            del key
            return SGChain(coordinates, jnp.zeros((), jnp.int32))

        def warmup_step(key: jax.Array, chain: SGChain, t: jax.Array):
            del t
            return transition(key, chain)

        return Transitions(
            init=init,
            warmup_step=warmup_step,
            warmup_all=None,
            end_warmup=lambda chain: chain,
            sample_step=transition,
            position=lambda chain: chain.position,
            parameters=lambda chain: {},
        )
