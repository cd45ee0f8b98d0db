"""Shared pieces of the SG-MCMC kernels: options, the step-size rule, the carry.

Every SG kernel here

* draws its minibatches without replacement, one reshuffle per epoch
  (:mod:`symbayes.kernels.minibatches`), one batch per gradient;
* takes ``step_size="auto"`` (the default): the curvature pilot of
  :mod:`symbayes.kernels.stepsize` sets the step at the start and at 1/2
  and 3/4 of warmup; a float or a schedule sets it by hand;
* takes schedules (:mod:`symbayes.kernels.schedules`): polynomial decay
  (absolute step sizes) and cyclical cosine cycles (cSGLD / cSGHMC), whose
  peak is the pilot's step unless given; the cycles run over the sampling
  phase, each kept draw is a sampling-stage draw and ``sample_stats
  ["cycle"]`` records its cycle;
* may carry a diagonal preconditioner (pSGLD's RMSprop accumulator),
  adapted during the first 3/4 of warmup and then frozen, and tied across
  the units of every hidden axis under ``quotient="fold"``.

References:
    Welling & Teh (2011), "Bayesian learning via stochastic gradient Langevin
    dynamics", ICML. Ma, Chen & Fox (2015), "A complete recipe for stochastic
    gradient MCMC", NeurIPS. Zhang et al. (2020), "Cyclical stochastic
    gradient MCMC for Bayesian deep learning", ICLR.
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
    positive_int,
)
from symbayes.kernels.minibatches import MinibatchStream, init_stream, next_batch
from symbayes.kernels.schedules import (
    ConstantSchedule,
    CyclicalSchedule,
    check_schedule,
)
from symbayes.kernels.stepsize import gradient_noise_variance, largest_curvature

__all__ = ["SGChain", "SGKernel", "pilot_steps"]


class SGChain(NamedTuple):
    """Per-chain carry of an SG kernel.

    Attributes:
        position: the position (sampler coordinates).
        step: schedule step (cyclical schedules restart it at the end of
            warmup; other schedules count every step).
        stream: the minibatch stream.
        accumulator: flat RMSprop accumulator ``V`` (unused without a
            preconditioner).
        base_step: the step-size rule's step (1 when the step is given).
        noise_variance: the pilot's gradient-noise variance per coordinate.
        momentum: the persistent momentum (SGHMC; zeros for Langevin kernels).
    """

    position: Any
    step: jax.Array
    stream: MinibatchStream
    accumulator: jax.Array
    base_step: jax.Array
    noise_variance: jax.Array
    momentum: Any


def pilot_steps(num_warmup: int) -> tuple[int, ...]:
    """Warmup steps at which the step-size pilot runs again: 1/8, 1/4, 1/2, 3/4.

    The last is also where the preconditioner freezes; the posterior of a
    network sharpens during burn-in (the learned noise falls), so the pilot
    follows it on a geometric grid.
    """
    return tuple(
        sorted(
            {num_warmup // 8, num_warmup // 4, num_warmup // 2, (3 * num_warmup) // 4}
        )
    )


@dataclass(frozen=True)
class SGKernel(Kernel):
    """Options every SG kernel shares.

    Args:
        step_size: ``"auto"`` (default: the curvature pilot of
            :mod:`symbayes.kernels.stepsize`), a positive float, or a
            schedule ``t -> step size``
            (:func:`~symbayes.kernels.schedules.polynomial_schedule`,
            :func:`~symbayes.kernels.schedules.cyclical_schedule`; a cyclical
            schedule without ``initial`` peaks at the pilot's step).
        batch_size: rows per minibatch (default ``min(32, n)``).
        temperature: 1 samples the posterior.
        safety: the pilot's ``safety`` (step ``safety / lambda`` for Langevin
            kernels, ``safety / sqrt(lambda)`` for SGHMC); default per kernel.
        pilot_iterations: power iterations of the pilot.
    """

    exact: ClassVar[bool] = False
    minibatch: ClassVar[bool] = True
    quotients: ClassVar[tuple[str, ...]] = ("none", "reparam", "fold")
    default_safety: ClassVar[float] = 0.1
    curvature_power: ClassVar[float] = 1.0  # step = safety / lambda ** power

    step_size: Any = "auto"
    batch_size: int | None = None
    temperature: float = 1.0
    safety: float | None = None
    pilot_iterations: int = 20

    def __post_init__(self) -> None:
        step = self.step_size
        if step is None:
            step = "auto"
        if isinstance(step, str):
            if step != "auto":
                raise ValueError(
                    f"step_size must be 'auto', a positive number or a schedule, "
                    f"got {step!r}"
                )
        elif isinstance(step, bool):
            raise ValueError(f"step_size must be a positive number, got {step!r}")
        elif not callable(step):
            positive_float("step_size", step)
            step = ConstantSchedule(float(step))
        object.__setattr__(self, "step_size", step)
        positive_float("temperature", self.temperature)
        positive_float("safety", self.safety, allow_none=True)
        positive_int("pilot_iterations", self.pilot_iterations)
        if self.batch_size is not None:
            positive_int("batch_size", self.batch_size)

    # ------------------------------------------------------------ options
    @property
    def auto(self) -> bool:
        """Whether the step-size rule sets the step (``base_step``)."""
        step = self.step_size
        return step == "auto" or (
            isinstance(step, CyclicalSchedule) and step.initial is None
        )

    @property
    def schedule(self) -> Callable:
        """The schedule, relative to ``base_step`` when :attr:`auto`."""
        return ConstantSchedule(1.0) if self.step_size == "auto" else self.step_size

    @property
    def cyclical(self) -> bool:
        return isinstance(self.step_size, CyclicalSchedule)

    @property
    def preconditioned(self) -> bool:
        """Whether the kernel carries a diagonal (RMSprop) preconditioner."""
        return False

    def validate(self, quotient: Any, template: Any, num_warmup: int) -> None:
        super().validate(quotient, template, num_warmup)
        if not self.auto:
            check_schedule(self.schedule, (0, 1, max(num_warmup, 1), 10**6))

    def resolved_batch_size(self, num_data: int) -> int:
        size = self.batch_size or min(32, num_data)
        if size > num_data:
            raise ValueError(f"batch_size {size} exceeds the number of data {num_data}")
        return size

    # ------------------------------------------------------ kernel pieces
    def _move(
        self,
        key: jax.Array,
        chain: SGChain,
        step_size: jax.Array,
        temperature: jax.Array,
        gradient: Callable,
        preconditioner: jax.Array,
    ) -> tuple[Any, MinibatchStream, jax.Array, Any]:
        """One step: ``(position, stream, flat gradient at the start, momentum)``."""
        raise NotImplementedError

    def _grads_per_move(self) -> int:
        return 1

    def _initial_momentum(self, key: jax.Array, position: Any) -> Any:
        del key
        return jax.tree_util.tree_map(jnp.zeros_like, position)

    def _step_rule(self, curvature: jax.Array, noise: jax.Array) -> jax.Array:
        """The pilot's step: ``safety / curvature ** curvature_power``."""
        del noise
        safety = self.default_safety if self.safety is None else self.safety
        return safety / curvature**self.curvature_power

    def _needs_noise_estimate(self) -> bool:
        return False

    def _update_accumulator(
        self, accumulator: jax.Array, gradient: jax.Array
    ) -> jax.Array:
        return accumulator

    def _preconditioner(self, accumulator: jax.Array) -> jax.Array:
        return jnp.ones_like(accumulator)

    # -------------------------------------------------------------- build
    def build(
        self, target: Target, quotient: Any, template: Any, num_warmup: int
    ) -> Transitions:
        num_data = int(target.num_data)
        batch_size = self.resolved_batch_size(num_data)
        data = target.data
        logdensity = target.minibatch_logdensity
        flat_template, _ = ravel_pytree(template)
        dtype = flat_template.dtype
        schedule = self.schedule
        auto, cyclical = self.auto, self.cyclical
        tied = self.preconditioned and getattr(self, "tie_preconditioner", True)
        project = quotient.project(template) if tied else None
        again_at = jnp.asarray(pilot_steps(num_warmup), jnp.int32)
        adapt_until = (3 * num_warmup) // 4
        grads_per_move = self._grads_per_move()
        num_noise = 4 if self._needs_noise_estimate() else 0
        pilot_grads = 2 * self.pilot_iterations + num_noise
        # what init spends (the pilot, the preconditioner's first gradient),
        # counted with the first warmup transition (uncounted without warmup)
        init_grads = (pilot_grads if auto or num_noise else 0) + int(
            self.preconditioned
        )

        def gradient(
            position: Any, stream: MinibatchStream, key: jax.Array
        ) -> tuple[Any, MinibatchStream]:
            batch, stream = next_batch(key, stream, data, batch_size)
            return jax.grad(logdensity)(position, batch), stream

        def tie(accumulator: jax.Array) -> jax.Array:
            return accumulator if project is None else project(accumulator)

        def pilot(key: jax.Array, chain: SGChain) -> SGChain:
            key_batch, key_start, key_noise = jax.random.split(key, 3)
            batch, stream = next_batch(key_batch, chain.stream, data, batch_size)
            curvature = largest_curvature(
                key_start,
                lambda p: logdensity(p, batch),
                chain.position,
                self._preconditioner(chain.accumulator),
                self.pilot_iterations,
            )
            noise = chain.noise_variance
            if num_noise:
                grads = []
                # in the preconditioned coordinates (ones without a
                # preconditioner): the noise the whitened momentum sees
                root = jnp.sqrt(self._preconditioner(chain.accumulator))
                for k in jax.random.split(key_noise, num_noise):
                    g, stream = gradient(chain.position, stream, k)
                    grads.append(root * ravel_pytree(g)[0])
                noise = gradient_noise_variance(jnp.stack(grads)).astype(dtype)
            base = jnp.asarray(self._step_rule(curvature, noise), dtype)
            if not auto:
                base = chain.base_step
            return chain._replace(stream=stream, base_step=base, noise_variance=noise)

        def move(
            key: jax.Array, chain: SGChain, temperature: Any, adapt: Any
        ) -> SGChain:
            step_size = (chain.base_step * schedule(chain.step)).astype(dtype)
            position, stream, flat_grad, momentum = self._move(
                key,
                chain,
                step_size,
                jnp.asarray(temperature, dtype),
                gradient,
                self._preconditioner(chain.accumulator),
            )
            accumulator = chain.accumulator
            if self.preconditioned:
                updated = tie(self._update_accumulator(accumulator, flat_grad))
                accumulator = jnp.where(adapt, updated, accumulator)
            return chain._replace(
                position=position,
                stream=stream,
                momentum=momentum,
                accumulator=accumulator,
                step=chain.step + 1,
            )

        def transition(key: jax.Array, chain: SGChain, adapt: Any, sampling: bool):
            key_explore, key_move = jax.random.split(key)
            moves = jnp.ones((), jnp.int32)
            cycle = jnp.zeros((), jnp.int32)
            if cyclical and sampling:
                # exploration stage of a new cycle: noise-free steps first
                def explore(carry):
                    chain, count = carry
                    k = jax.random.fold_in(key_explore, count)
                    return move(k, chain, 0.0, False), count + 1

                chain, count = jax.lax.while_loop(
                    lambda carry: schedule.exploring(carry[0].step),
                    explore,
                    (chain, jnp.zeros((), jnp.int32)),
                )
                moves = moves + count
                cycle = schedule.cycle(chain.step)
            step_size = (chain.base_step * schedule(chain.step)).astype(dtype)
            chain = move(key_move, chain, self.temperature, adapt)
            position = chain.position
            if quotient.folds:
                # the momentum is a tangent vector: the same element acts on it
                position, element = quotient.fold(position)
                momentum = quotient.act(element, chain.momentum)
                chain = chain._replace(position=position, momentum=momentum)
            finite = jnp.all(jnp.isfinite(ravel_pytree(position)[0]))
            stats = fill_stats(
                dtype,
                acceptance_rate=1.0,
                diverging=~finite,
                num_grad_evals=moves * grads_per_move,
                step_size=step_size,
            )
            stats["cycle"] = cycle
            return chain, stats

        def init(coordinates: Any, key: jax.Array) -> SGChain:
            key_stream, key_grad, key_pilot, key_momentum = jax.random.split(key, 4)
            stream = init_stream(key_stream, num_data)
            accumulator = jnp.zeros_like(flat_template)
            if self.preconditioned:
                g, stream = gradient(coordinates, stream, key_grad)
                accumulator = tie(jnp.square(ravel_pytree(g)[0]))
            chain = SGChain(
                coordinates,
                jnp.zeros((), jnp.int32),
                stream,
                accumulator,
                jnp.ones((), dtype),
                jnp.zeros((), dtype),
                self._initial_momentum(key_momentum, coordinates),
            )
            if auto or num_noise:
                chain = pilot(key_pilot, chain)
            return chain

        def warmup_step(key: jax.Array, chain: SGChain, t: jax.Array):
            key_pilot, key_move = jax.random.split(key)
            again = jnp.any(t == again_at)
            if auto or num_noise:
                chain = jax.lax.cond(
                    again, lambda c: pilot(key_pilot, c), lambda c: c, chain
                )
            chain, stats = transition(key_move, chain, t < adapt_until, False)
            extra = jnp.where(t == 0, init_grads, 0)
            if auto or num_noise:
                extra = extra + jnp.where(again, pilot_grads, 0)
            stats["num_grad_evals"] = stats["num_grad_evals"] + extra.astype(jnp.int32)
            return chain, stats

        def end_warmup(chain: SGChain) -> SGChain:
            if cyclical:
                return chain._replace(step=jnp.zeros((), jnp.int32))
            return chain

        def parameters(chain: SGChain) -> dict:
            out = {"base_step_size": chain.base_step}
            if num_noise:
                out["gradient_noise_variance"] = chain.noise_variance
            return out

        return Transitions(
            init=init,
            warmup_step=warmup_step,
            warmup_all=None,
            end_warmup=end_warmup,
            sample_step=lambda key, chain: transition(key, chain, False, True),
            position=lambda chain: chain.position,
            parameters=parameters,
        )


@dataclass(frozen=True)
class RMSpropPreconditioning:
    """RMSprop's diagonal preconditioner for an SG kernel (pSGLD, pSGHMC).

    ``G = 1 / (regularizer + sqrt(V))``, ``V <- decay V + (1 - decay) g^2``,
    adapted during the first 3/4 of warmup and then frozen (Li et al. 2016).
    Mixed in before the kernel class (``class PSGLD(RMSpropPreconditioning,
    SGLD)``); its fields come after the kernel's.

    Args:
        decay: RMSprop's ``a``.
        regularizer: ``lambda`` in ``G = 1 / (lambda + sqrt(V))``.
        tie_preconditioner: average ``V`` over the units of every hidden
            axis after each update (required by ``quotient="fold"``, which is
            exact only with a preconditioner the group leaves unchanged).
    """

    decay: float = 0.99
    regularizer: float = 1e-5
    tie_preconditioner: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()  # type: ignore[misc]
        self._check_rmsprop()

    def _check_rmsprop(self) -> None:
        positive_float("regularizer", self.regularizer)
        if not (0.0 < float(self.decay) < 1.0):
            raise ValueError(f"decay must be in (0, 1), got {self.decay!r}")
        if not isinstance(self.tie_preconditioner, bool):
            raise ValueError(
                "tie_preconditioner must be True or False, got "
                f"{self.tie_preconditioner!r}"
            )

    @property
    def preconditioned(self) -> bool:
        return True

    def validate(self, quotient: Any, template: Any, num_warmup: int) -> None:
        super().validate(quotient, template, num_warmup)  # type: ignore[misc]
        if quotient.tied and not self.tie_preconditioner:
            raise ValueError(
                f"quotient={quotient.mode!r} needs the RMSprop preconditioner tied "
                "across units (tie_preconditioner=True): an untied preconditioner "
                "is not left unchanged by the permutations, and folding would "
                "bias the draws"
            )

    def _update_accumulator(
        self, accumulator: jax.Array, gradient: jax.Array
    ) -> jax.Array:
        return self.decay * accumulator + (1.0 - self.decay) * jnp.square(gradient)

    def _preconditioner(self, accumulator: jax.Array) -> jax.Array:
        return 1.0 / (self.regularizer + jnp.sqrt(accumulator))
