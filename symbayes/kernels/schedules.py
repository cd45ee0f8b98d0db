"""Step-size schedules of SG-MCMC kernels: hashable, jit-able ``t -> step size``.

Schedules are frozen dataclasses rather than closures so that two equal
schedules are equal, which lets compiled runners be reused across calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["ConstantSchedule", "PolynomialSchedule", "polynomial_schedule"]


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
