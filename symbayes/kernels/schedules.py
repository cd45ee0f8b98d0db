"""Step-size schedules of SG-MCMC kernels: hashable, jit-able ``t -> step size``.

Schedules are frozen dataclasses rather than closures so that two equal
schedules are equal, which lets compiled runners be reused across calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ConstantSchedule",
    "CyclicalSchedule",
    "PolynomialSchedule",
    "check_schedule",
    "cyclical_schedule",
    "polynomial_schedule",
]


@dataclass(frozen=True)
class ConstantSchedule:
    """A constant step size."""

    value: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.value) and self.value > 0):
            raise ValueError(
                f"step_size must be positive and finite, got {self.value!r}"
            )

    def __call__(self, step: jax.Array) -> jax.Array:
        del step
        return jnp.asarray(self.value, jnp.float32)


@dataclass(frozen=True)
class PolynomialSchedule:
    """Step size ``a (b + t)^-gamma`` of Welling & Teh (2011), ``a = initial b^gamma``.

    ``sum eps_t = inf`` and ``sum eps_t^2 < inf`` for ``0.5 < gamma <= 1``,
    the Robbins-Monro conditions under which SGLD converges without a
    Metropolis correction.

    Attributes:
        initial: the step size at ``t = 0``.
        decay_offset: ``b``; larger values decay later.
        exponent: ``gamma``.
    """

    initial: float
    decay_offset: float = 1.0
    exponent: float = 0.55

    def __post_init__(self) -> None:
        values = (self.initial, self.decay_offset, self.exponent)
        if not all(np.isfinite(v) for v in values) or not (
            self.initial > 0 and self.decay_offset > 0 and 0 < self.exponent <= 1
        ):
            raise ValueError(
                "polynomial_schedule needs initial > 0, decay_offset > 0, "
                f"0 < exponent <= 1 (all finite), got {values}"
            )

    def __call__(self, step: jax.Array) -> jax.Array:
        scale = self.initial * self.decay_offset**self.exponent
        return jnp.asarray(
            scale * (self.decay_offset + step) ** (-self.exponent), jnp.float32
        )


def polynomial_schedule(
    initial: float, decay_offset: float = 1.0, exponent: float = 0.55
) -> PolynomialSchedule:
    """Step size ``a (b + t)^-gamma`` (Welling & Teh 2011): :class:`PolynomialSchedule`.

    Args:
        initial: the step size at ``t = 0``.
        decay_offset: ``b``; larger values decay later.
        exponent: ``gamma``.

    Returns:
        A schedule ``t -> step size`` (jit-able).
    """
    return PolynomialSchedule(float(initial), float(decay_offset), float(exponent))


@dataclass(frozen=True)
class CyclicalSchedule:
    r"""Cosine cycles of cyclical SG-MCMC (Zhang et al. 2020, cSGLD / cSGHMC).

    Within a cycle of ``L`` steps the step size falls from ``initial`` to 0,

    .. math::

        \epsilon_k = \frac{\epsilon_0}{2}
            \left[\cos\left(\pi \frac{k \bmod L}{L}\right) + 1\right],

    and the first ``exploration`` fraction of every cycle is an exploration
    stage (no injected noise: stochastic optimisation towards a mode), the
    rest a sampling stage. SG kernels collect draws only in sampling stages:
    a kernel transition in the sampling phase runs the exploration steps of
    a new cycle first, so every kept draw is a sampling-stage draw, and the
    cycle index of each draw is recorded (``sample_stats["cycle"]``).

    Attributes:
        cycle_length: ``L``, steps per cycle (>= 2).
        exploration: fraction of a cycle without noise, in ``[0, 1)``.
        initial: ``epsilon_0``; ``None`` (default) takes the kernel's
            step-size rule (``step_size="auto"``) as ``epsilon_0``.

    References:
        Zhang, Li, Zhang, Chen & Wilson (2020), "Cyclical stochastic gradient
        MCMC for Bayesian deep learning", ICLR.
    """

    cycle_length: int
    exploration: float = 0.5
    initial: float | None = None

    def __post_init__(self) -> None:
        length = self.cycle_length
        if isinstance(length, bool) or not isinstance(length, int | np.integer):
            raise ValueError(f"cycle_length must be an integer >= 2, got {length!r}")
        if length < 2:
            raise ValueError(f"cycle_length must be an integer >= 2, got {length!r}")
        beta = self.exploration
        if not (isinstance(beta, int | float) and np.isfinite(beta) and 0 <= beta < 1):
            raise ValueError(f"exploration must be in [0, 1), got {beta!r}")
        if self.initial is not None and not (
            isinstance(self.initial, int | float)
            and np.isfinite(self.initial)
            and self.initial > 0
        ):
            raise ValueError(
                f"initial step size must be positive and finite, got {self.initial!r}"
            )
        # the sampling stage must hold at least one step
        if self.exploration_steps >= length:
            raise ValueError(
                f"a cycle of {length} steps with exploration={beta} has no "
                "sampling stage; lower exploration or lengthen the cycle"
            )

    @property
    def exploration_steps(self) -> int:
        """Steps per cycle in the exploration stage, ``ceil(beta L)``."""
        return int(np.ceil(self.exploration * self.cycle_length))

    def __call__(self, step: jax.Array) -> jax.Array:
        phase = jnp.mod(step, self.cycle_length) / self.cycle_length
        scale = 1.0 if self.initial is None else self.initial
        return jnp.asarray(0.5 * scale * (jnp.cos(jnp.pi * phase) + 1.0), jnp.float32)

    def cycle(self, step: jax.Array) -> jax.Array:
        """Index of the cycle that step ``step`` belongs to."""
        return jnp.asarray(step // self.cycle_length, jnp.int32)

    def exploring(self, step: jax.Array) -> jax.Array:
        """Whether step ``step`` is in the exploration stage of its cycle."""
        return jnp.mod(step, self.cycle_length) < self.exploration_steps


def cyclical_schedule(
    cycle_length: int, exploration: float = 0.5, initial: float | None = None
) -> CyclicalSchedule:
    """Cosine cycles of cSGLD / cSGHMC (Zhang et al. 2020): :class:`CyclicalSchedule`.

    Args:
        cycle_length: steps per cycle.
        exploration: fraction of each cycle without noise (exploration stage).
        initial: the peak step size; ``None`` takes the kernel's step-size rule.

    Returns:
        A schedule ``t -> step size`` with ``cycle`` and ``exploring`` maps.
    """
    return CyclicalSchedule(
        cycle_length, float(exploration), None if initial is None else float(initial)
    )


def check_schedule(schedule: object, steps: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``schedule`` is positive and finite at ``steps``.

    Evaluates the schedule eagerly on a few step indices (no sampler is
    compiled), which catches a user callable that returns zero, a negative
    number, NaN or inf, or the wrong shape.
    """
    for step in steps:
        try:
            value = np.asarray(schedule(jnp.asarray(step, jnp.int32)))
        except Exception as error:  # noqa: BLE001 - report what the callable raised
            raise ValueError(
                f"step_size schedule failed at step {step}: {error}"
            ) from error
        if value.shape != ():
            raise ValueError(
                f"step_size schedule must return a scalar, got shape {value.shape} "
                f"at step {step}"
            )
        if not (np.isfinite(value) and value > 0):
            raise ValueError(
                f"step_size schedule must be positive and finite, got {float(value)} "
                f"at step {step}"
            )
