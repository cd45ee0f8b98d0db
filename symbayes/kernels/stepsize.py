r"""The default step-size rule of the SG kernels: a curvature pilot.

SG-MCMC without a Metropolis correction is stable and nearly unbiased only
if the step is small against the stiffest direction of the (preconditioned)
posterior. The rule measures that direction instead of asking for a guess:
``num_iterations`` power iterations with Hessian-vector products of the
minibatch log density on one batch give

.. math::

    \lambda = \lambda_{\max}\!\left(G^{1/2} \, \nabla^2 [-\log \hat p(\theta)]
        \, G^{1/2}\right)

(``G`` the diagonal preconditioner, identity without one), and the step is
``safety / lambda`` for Langevin steps (SGLD, pSGLD, in blackjax's
convention ``x + eps G grad + sqrt(2 eps G) xi``: stable below ``2 /
lambda``; on a Gaussian the stationary variance of the stiffest direction
is inflated by ``1 / (1 - safety / 2)``, 5% at the default 0.1) and
``safety / sqrt(lambda)`` for SGHMC's BAOAB
steps (stable below ``2 / sqrt(lambda)``; BAOAB's position marginal is
exact on Gaussians at any stable step, Leimkuhler & Matthews 2013).

The kernels run the pilot at the initial point and again at 1/2 and 3/4
of warmup, when the chain has left its starting region; the last estimate
is kept for sampling.

The same pilot returns a scalar estimate of the gradient-noise variance per
coordinate (from ``num_noise_batches`` batches at one point), the ``V``
behind SGHMC's noise correction ``B = eps V / 2`` (Chen et al. 2014).

References:
    Leimkuhler & Matthews (2013), "Rational construction of stochastic
    numerical methods for molecular sampling", AMRX. Chen, Fox & Guestrin
    (2014), "Stochastic gradient Hamiltonian Monte Carlo", ICML.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

__all__ = ["largest_curvature", "gradient_noise_variance"]


def largest_curvature(
    key: jax.Array,
    logdensity: Callable[[Any], jax.Array],
    position: Any,
    preconditioner: jax.Array,
    num_iterations: int = 20,
) -> jax.Array:
    """``lambda_max`` of ``G^1/2 H G^1/2`` by power iteration (one fixed batch).

    Args:
        key: the random start vector.
        logdensity: ``position -> log density`` on one fixed batch.
        position: where to measure.
        preconditioner: flat diagonal ``G`` (ones for none).
        num_iterations: power iterations (``2 num_iterations`` gradients).

    Returns:
        The largest absolute eigenvalue (a scalar > 0; a tiny floor guards a
        flat log density).
    """
    flat, unravel = ravel_pytree(position)

    def negative(x: jax.Array) -> jax.Array:
        return -logdensity(unravel(x))

    gradient = jax.grad(negative)
    root = jnp.sqrt(preconditioner)

    def product(v: jax.Array) -> jax.Array:
        return root * jax.jvp(gradient, (flat,), (root * v,))[1]

    start = jax.random.normal(key, flat.shape, flat.dtype)
    start = start / jnp.linalg.norm(start)

    def body(v: jax.Array, _: Any) -> tuple[jax.Array, jax.Array]:
        w = product(v)
        norm = jnp.linalg.norm(w)
        safe = jnp.where(jnp.isfinite(norm) & (norm > 0), norm, 1.0)
        return w / safe, norm

    _, norms = jax.lax.scan(body, start, None, length=num_iterations)
    estimate = norms[-1]
    return jnp.where(jnp.isfinite(estimate), jnp.maximum(estimate, 1e-12), jnp.inf)


def gradient_noise_variance(gradients: jax.Array) -> jax.Array:
    """Mean over coordinates of the variance across batches of flat gradients.

    Args:
        gradients: ``(num_batches, dim)`` minibatch gradients at one point.

    Returns:
        A scalar ``V`` (the isotropic gradient-noise variance per coordinate).
    """
    return jnp.mean(jnp.var(gradients, axis=0, ddof=1))
