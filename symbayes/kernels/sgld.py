r"""SGLD (Welling & Teh 2011) and pSGLD (Li et al. 2016): Langevin steps on minibatches.

SGLD: ``x <- x + eps g + sqrt(2 eps T) xi`` with ``g`` the minibatch gradient
of the log posterior and ``xi ~ N(0, I)`` (blackjax's
``sgmcmc.diffusions.overdamped_langevin`` with ``T = temperature``; the
exploration stage of a cyclical schedule runs it with ``T = 0``). At a
constant step size the draws are biased by an amount that grows with the
step and the gradient noise; the step-size rule keeps the stiffest
direction at ``eps lambda_max = 0.1`` (:mod:`symbayes.kernels.stepsize`).

pSGLD preconditions by RMSprop's diagonal
``G = 1 / (lambda + sqrt(V))``, ``V <- a V + (1 - a) g^2``:
``x <- x + eps G g + sqrt(2 eps T G) xi``. Li et al. keep adapting ``V``
while sampling and drop the correction term ``Gamma(x) = sum_j d G_ij /
d x_j``, a bias they bound as small for ``a`` near 1. Here ``V`` adapts
during the first 3/4 of warmup and is then **frozen**: ``G`` no longer
depends on the position, ``Gamma = 0`` exactly, and pSGLD is SGLD with a
fixed diagonal metric, whose only bias is the discretisation.

References:
    Welling & Teh (2011), "Bayesian learning via stochastic gradient Langevin
    dynamics", ICML. Li, Chen, Carlson & Carin (2016), "Preconditioned
    stochastic gradient Langevin dynamics for deep neural networks", AAAI.
    Teh, Thiery & Vollmer (2016), "Consistency and fluctuations for
    stochastic gradient Langevin dynamics", JMLR 17.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from blackjax.sgmcmc import diffusions
from jax.flatten_util import ravel_pytree

from symbayes.kernels.minibatches import MinibatchStream
from symbayes.kernels.sg import RMSpropPreconditioning, SGChain, SGKernel

__all__ = ["PSGLD", "SGLD"]


@dataclass(frozen=True)
class SGLD(SGKernel):
    """Stochastic gradient Langevin dynamics (see the module docstring).

    Args:
        step_size: ``"auto"`` (default), a positive float or a schedule.
        batch_size: rows per minibatch (default ``min(32, n)``).
        temperature: 1 samples the posterior.
        safety: step ``safety / lambda_max`` under ``"auto"`` (default 0.1).
        pilot_iterations: power iterations of the step-size pilot.
    """

    name: ClassVar[str] = "sgld"

    def _move(
        self,
        key: jax.Array,
        chain: SGChain,
        step_size: jax.Array,
        temperature: jax.Array,
        gradient: Callable,
        preconditioner: jax.Array,
    ) -> tuple[Any, MinibatchStream, jax.Array, Any]:
        del preconditioner
        key_batch, key_noise = jax.random.split(key)
        grad, stream = gradient(chain.position, chain.stream, key_batch)
        langevin = diffusions.overdamped_langevin()
        position = langevin(key_noise, chain.position, grad, step_size, temperature)
        return position, stream, ravel_pytree(grad)[0], chain.momentum


@dataclass(frozen=True)
class PSGLD(RMSpropPreconditioning, SGLD):
    """Preconditioned SGLD with an RMSprop diagonal (see the module docstring).

    Args:
        step_size: ``"auto"`` (default), a positive float or a schedule.
        batch_size: rows per minibatch (default ``min(32, n)``).
        temperature: 1 samples the posterior.
        safety: step ``safety / lambda_max(G^1/2 H G^1/2)`` under ``"auto"``.
        pilot_iterations: power iterations of the step-size pilot.
        decay: RMSprop's ``a``.
        regularizer: ``lambda`` in ``G = 1 / (lambda + sqrt(V))``.
        tie_preconditioner: average ``V`` over the units of every hidden
            axis after each update (required by ``quotient="fold"``, which is
            exact only with a preconditioner the group leaves unchanged).
    """

    name: ClassVar[str] = "psgld"

    def _move(
        self,
        key: jax.Array,
        chain: SGChain,
        step_size: jax.Array,
        temperature: jax.Array,
        gradient: Callable,
        preconditioner: jax.Array,
    ) -> tuple[Any, MinibatchStream, jax.Array, Any]:
        key_batch, key_noise = jax.random.split(key)
        grad, stream = gradient(chain.position, chain.stream, key_batch)
        flat_grad = ravel_pytree(grad)[0]
        flat, unravel = ravel_pytree(chain.position)
        noise = jax.random.normal(key_noise, flat.shape, flat.dtype)
        flat = (
            flat
            + step_size * preconditioner * flat_grad
            + jnp.sqrt(2.0 * step_size * temperature * preconditioner) * noise
        )
        return unravel(flat), stream, flat_grad, chain.momentum
