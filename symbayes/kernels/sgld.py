"""SGLD (Welling & Teh 2011): Langevin steps with minibatch gradients.

``x <- x + eps/2 grad log p_hat(x) + sqrt(eps T) xi`` with ``xi ~ N(0, I)``
(blackjax ``sgmcmc.diffusions.overdamped_langevin``). With a decreasing step
size (Robbins-Monro) the draws converge to the posterior; at a constant step
size they are biased, by an amount that grows with the step and the gradient
noise.

References:
    Welling & Teh (2011), "Bayesian learning via stochastic gradient Langevin
    dynamics", ICML. Teh, Thiery & Vollmer (2016), "Consistency and
    fluctuations for stochastic gradient Langevin dynamics", JMLR 17.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
from blackjax.sgmcmc import diffusions

from symbayes.kernels.sg import SGKernel

__all__ = ["SGLD"]


@dataclass(frozen=True)
class SGLD(SGKernel):
    """Stochastic gradient Langevin dynamics (see the module docstring).

    Args:
        step_size: a positive float or a schedule (default ``1e-4``).
        batch_size: rows per minibatch (default ``min(32, n)``).
        temperature: 1 samples the posterior.
    """

    name: ClassVar[str] = "sgld"

    def _move(
        self, key: jax.Array, position: Any, step_size: jax.Array, gradient: Callable
    ) -> Any:
        key_batch, key_noise = jax.random.split(key)
        langevin = diffusions.overdamped_langevin()
        return langevin(
            key_noise,
            position,
            gradient(position, key_batch),
            step_size,
            self.temperature,
        )
