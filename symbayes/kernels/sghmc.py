r"""SGHMC (Chen, Fox & Guestrin 2014): underdamped Langevin with minibatch gradients.

Each transition draws a fresh momentum ``p ~ N(0, T I)`` and integrates
``dx = p dt``, ``dp = (grad log p_hat - alpha p) dt + sqrt(2 alpha T) dW`` for
``num_integration_steps`` steps of BAOAB (kick / drift / exact
Ornstein-Uhlenbeck / drift / kick; Leimkuhler & Matthews 2013), whose error
is second order; a first-order splitting with refreshed momenta inflates
the position variance by about 10% at any small step. The friction damps
the extra heat of the gradient noise, about ``eps Var(noise) / (2 alpha)``
(Chen et al. 2014, section 3.2).

References:
    Chen, Fox & Guestrin (2014), "Stochastic gradient Hamiltonian Monte
    Carlo", ICML. Leimkuhler & Matthews (2013), "Rational construction of
    stochastic numerical methods for molecular sampling", AMRX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import blackjax
import jax
import jax.numpy as jnp

from symbayes.kernels.base import positive_float, positive_int
from symbayes.kernels.sg import SGKernel

__all__ = ["SGHMC"]


@dataclass(frozen=True)
class SGHMC(SGKernel):
    """Stochastic gradient HMC with BAOAB steps (see the module docstring).

    Args:
        step_size: a positive float or a schedule (default ``1e-4``).
        batch_size: rows per minibatch (default ``min(32, n)``).
        temperature: 1 samples the posterior.
        friction: ``alpha``.
        num_integration_steps: BAOAB steps per transition.
    """

    name: ClassVar[str] = "sghmc"

    friction: float = 0.1
    num_integration_steps: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_float("friction", self.friction)
        positive_int("num_integration_steps", self.num_integration_steps)

    def _grads_per_transition(self) -> int:
        return self.num_integration_steps + 1

    def _move(
        self, key: jax.Array, position: Any, step_size: jax.Array, gradient: Callable
    ) -> Any:
        temperature = self.temperature
        key_momentum, key_first, key_steps = jax.random.split(key, 3)
        momentum = jax.tree_util.tree_map(
            lambda n: jnp.sqrt(temperature) * n,
            blackjax.util.generate_gaussian_noise(key_momentum, position),
        )
        decay = jnp.exp(-self.friction * step_size)
        noise_scale = jnp.sqrt(temperature * (1.0 - decay**2))

        def kick(momentum: Any, grad: Any) -> Any:
            return jax.tree_util.tree_map(
                lambda p, g: p + 0.5 * step_size * g, momentum, grad
            )

        def drift(position: Any, momentum: Any) -> Any:
            return jax.tree_util.tree_map(
                lambda x, p: x + 0.5 * step_size * p, position, momentum
            )

        def inner(carry, step_key):
            position, momentum, grad = carry
            key_batch, key_noise = jax.random.split(step_key)
            momentum = kick(momentum, grad)
            position = drift(position, momentum)
            noise = blackjax.util.generate_gaussian_noise(key_noise, position)
            momentum = jax.tree_util.tree_map(
                lambda p, n: decay * p + noise_scale * n, momentum, noise
            )
            position = drift(position, momentum)
            grad = gradient(position, key_batch)
            momentum = kick(momentum, grad)
            return (position, momentum, grad), None

        grad = gradient(position, key_first)
        steps = jax.random.split(key_steps, self.num_integration_steps)
        (position, _, _), _ = jax.lax.scan(inner, (position, momentum, grad), steps)
        return position
