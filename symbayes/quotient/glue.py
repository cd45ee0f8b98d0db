r"""Glued walls: the full-space Hamiltonian flow folded into the sort domain.

The leapfrog's drift moves in a straight line ``x + t M^{-1} p``. When it
meets a wall of the sort domain, the full-space path would continue into a
neighbouring copy ``g_w D`` of the domain. The glued drift applies the wall's
group element ``g_w`` (the transposition of two unit slots for an order wall,
the flip of one slot for a sign wall; :mod:`symbayes.quotient.walls`) to the
position *and* the momentum at the hit, and continues the straight line:
the path stays in ``D`` and is, piece by piece, the image of the full-space
path under the group element accumulated so far.

With a metric that the group leaves unchanged (a diagonal mass matrix tied
across the units of every axis,
:func:`~symbayes.quotient.ties.tie_inverse_mass_matrix`),
``g_w`` is linear, orthogonal and commutes with ``M^{-1}``, so each glued
drift is volume preserving, keeps the kinetic energy, and is reversible
(flip the momentum and the same walls are met in reverse order); the
log density is invariant, so the gradient at the folded point is the folded
gradient. The glued leapfrog is therefore the full-space leapfrog seen
through the canonical map, and HMC with it targets the quotient posterior
without cutting it: nothing is restricted, unlike a mirror reflection at the
walls (Neal 2011, 5.5.1.5), which would treat the walls as mirror planes.

NUTS sums momenta along its trajectory for the U-turn criterion
(Betancourt 2017). After a glue the folded momenta live in different frames,
so the criterion is computed on *unfolded* momenta ``G^{-1} p``, where ``G``
is the product of the glues since the start of the transition: the
trajectory's momenta in one frame, those of the full-space trajectory. With
it, glued NUTS is the folded image of full-space NUTS: for the same random
numbers it returns the same draws as ``quotient="fold"`` (tested).

The chain position is a :class:`GluedPosition` (coordinates, the frame code
of ``G`` and a glue counter); momenta are :class:`GluedMomentum`. Both
flatten to ``2 n + 1`` numbers, which blackjax's iterative U-turn
checkpoints rely on.

References:
    Neal (2011), "MCMC using Hamiltonian dynamics", Handbook of MCMC, 5.5.1.5.
    Betancourt (2017), "A conceptual introduction to Hamiltonian Monte
    Carlo", arXiv:1701.02434. Hoffman & Gelman (2014), "The No-U-Turn
    sampler", JMLR 15.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.mcmc import integrators, metrics
from jax.flatten_util import ravel_pytree

from symbayes.quotient.walls import (
    Walls,
    apply_code,
    compose_codes,
    identity_code,
    invert_code,
)

__all__ = [
    "GluedMomentum",
    "GluedPosition",
    "glued_drift",
    "glued_integrator",
    "glued_metric",
    "reset_frame",
]


class GluedPosition(NamedTuple):
    """A chain position of the glued integrator.

    Attributes:
        coordinates: the position, inside the sort domain (a params pytree).
        frame: ``(n,)`` code of ``G``, the product of the glues since the
            start of the transition (``coordinates = G x_full``).
        glues: number of glues since the start of the transition (a float,
            so that blackjax's pytree arithmetic applies; no momentum moves it).
    """

    coordinates: Any
    frame: jax.Array
    glues: jax.Array


class GluedMomentum(NamedTuple):
    """A momentum of the glued integrator.

    Attributes:
        coordinates: the momentum in the frame of the position.
        unfolded: ``(n,)`` the same momentum in the frame of the
            transition's start, ``G^{-1} p`` (for the U-turn criterion).
        glues: always zero (the counter does not move).
    """

    coordinates: Any
    unfolded: jax.Array
    glues: jax.Array


def reset_frame(position: GluedPosition) -> GluedPosition:
    """Start a new transition: identity frame, glue counter zero."""
    size = position.frame.shape[0]
    return GluedPosition(
        position.coordinates,
        identity_code(size, position.frame.dtype),
        jnp.zeros_like(position.glues),
    )


def initial_position(coordinates: Any) -> GluedPosition:
    """A :class:`GluedPosition` at ``coordinates`` (identity frame)."""
    flat, _ = ravel_pytree(coordinates)
    return GluedPosition(
        coordinates, identity_code(flat.shape[0], flat.dtype), jnp.zeros((), flat.dtype)
    )


def _unfolded_part(momentum: Any, size: int) -> jax.Array:
    """The unfolded momentum, from a :class:`GluedMomentum` or its ravelled vector."""
    if isinstance(momentum, GluedMomentum):
        return momentum.unfolded
    return momentum[size : 2 * size]


def glued_metric(inverse_mass_matrix: jax.Array, size: int) -> metrics.Metric:
    """A blackjax Gaussian Euclidean metric for glued positions and momenta.

    Momenta are drawn for the coordinates (the unfolded copy equals them in
    the identity frame at the start of a transition); the kinetic energy is
    that of the coordinates; the U-turn criterion uses the unfolded momenta.

    Args:
        inverse_mass_matrix: diagonal ``(n,)`` or dense ``(n, n)``, invariant
            under the group (tied).
        size: ``n``, the number of coordinates.
    """
    base = metrics.gaussian_euclidean(inverse_mass_matrix)

    def sample_momentum(key: jax.Array, position: GluedPosition) -> GluedMomentum:
        momentum = base.sample_momentum(key, position.coordinates)
        flat, _ = ravel_pytree(momentum)
        return GluedMomentum(
            momentum,
            invert_code(position.frame, flat),
            jnp.zeros_like(position.glues),
        )

    def kinetic_energy(momentum: GluedMomentum, position: Any = None) -> jax.Array:
        del position
        return base.kinetic_energy(momentum.coordinates)

    def check_turning(
        momentum_left: Any,
        momentum_right: Any,
        momentum_sum: Any,
        position_left: Any = None,
        position_right: Any = None,
    ) -> jax.Array:
        del position_left, position_right
        return base.check_turning(
            _unfolded_part(momentum_left, size),
            _unfolded_part(momentum_right, size),
            _unfolded_part(momentum_sum, size),
        )

    def scale(position: GluedPosition, element: Any, *, inv: bool, trans: bool) -> Any:
        scaled = base.scale(
            position.coordinates, element.coordinates, inv=inv, trans=trans
        )
        return element._replace(coordinates=scaled)

    return metrics.Metric(sample_momentum, kinetic_energy, check_turning, scale)


class DriftResult(NamedTuple):
    """The end of one glued drift."""

    position: jax.Array
    momentum: jax.Array
    frame: jax.Array
    glues: jax.Array
    capped: jax.Array


def glued_drift(
    x: jax.Array,
    momentum: jax.Array,
    time: jax.Array,
    frame: jax.Array,
    walls: Walls,
    inverse_mass_apply: Callable[[jax.Array], jax.Array],
    max_glues: int,
) -> DriftResult:
    r"""Move ``x`` along ``v = M^{-1} p`` for ``time``, gluing at the walls.

    The straight path meets wall ``w`` (value ``f_w = n_w \cdot x >= 0``) at
    ``t_w = f_w / (-n_w \cdot v)`` when ``n_w \cdot v < 0``. At the first hit
    the wall's element ``g_w`` is applied to position and momentum
    (``x <- g_w x``, ``p <- g_w p``; ``x`` is on the wall, so it stays there,
    and the normal velocity changes sign) and to the frame
    (``G <- g_w G``); the remaining time is then drifted the same way.

    Args:
        x: flat position inside the domain.
        momentum: flat momentum.
        time: the drift time (negative integrates backwards).
        frame: code of the frame ``G`` so far.
        walls: the domain's walls and glue elements.
        inverse_mass_apply: ``p -> M^{-1} p`` on flat vectors.
        max_glues: cap on glues in this drift; past it ``capped`` is set and
            the caller rejects the step (a divergence).

    Returns:
        A :class:`DriftResult`.
    """
    if walls.num_walls == 0:
        moved = x + time * inverse_mass_apply(momentum)
        zero = jnp.zeros((), x.dtype)
        return DriftResult(moved, momentum, frame, zero, jnp.asarray(False))
    plus = jnp.asarray(walls.plus)
    minus = jnp.asarray(np.maximum(walls.minus, 0))
    has_minus = jnp.asarray(walls.minus >= 0)
    glue = jnp.asarray(walls.glue)

    def along_normal(vector: jax.Array) -> jax.Array:
        return vector[plus] - jnp.where(has_minus, vector[minus], 0.0)

    def keep_going(carry):
        _, _, _, remaining, count = carry
        return (remaining > 0) & (count < max_glues)

    def step(carry):
        position, p, g, remaining, count = carry
        velocity = inverse_mass_apply(p)
        rate = along_normal(velocity)
        value = jnp.maximum(along_normal(position), 0.0)
        approaching = rate < 0
        hit_time = jnp.where(
            approaching, value / jnp.where(approaching, -rate, 1.0), jnp.inf
        )
        wall = jnp.argmin(hit_time)
        hits = hit_time[wall] < remaining
        travel = jnp.where(hits, hit_time[wall], remaining)
        position = position + travel * velocity
        code = glue[wall]
        position = jnp.where(hits, apply_code(code, position), position)
        p = jnp.where(hits, apply_code(code, p), p)
        g = jnp.where(hits, compose_codes(code, g), g)
        return position, p, g, remaining - travel, count + hits.astype(count.dtype)

    # A negative time (NUTS integrates backwards) is a forward drift with the
    # momentum flipped, flipped back afterwards.
    time = jnp.asarray(time, x.dtype)
    direction = jnp.where(time < 0, -1.0, 1.0).astype(x.dtype)
    start = (x, direction * momentum, frame, jnp.abs(time), jnp.zeros((), x.dtype))
    position, p, g, remaining, count = jax.lax.while_loop(keep_going, step, start)
    return DriftResult(position, direction * p, g, count, remaining > 0)


def glued_integrator(walls: Walls, max_glues: int = 1000) -> Callable:
    """A blackjax integrator factory: velocity Verlet with the glued drift.

    Use it as ``blackjax.hmc.build_kernel(integrator=...)`` /
    ``blackjax.nuts.build_kernel(integrator=...)`` with positions of type
    :class:`GluedPosition` and the metric of :func:`glued_metric`. A drift
    that needs more than ``max_glues`` glues returns a log density of
    ``-inf``: the kernel counts it as a divergence and rejects it.

    Args:
        walls: the domain (flat coordinates of ``position.coordinates``).
        max_glues: cap on glues per drift.

    Returns:
        ``integrator(logdensity_fn, kinetic_energy_fn) -> one_step``.
    """

    def build(logdensity_fn: Callable, kinetic_energy_fn: Callable) -> Callable:
        value_and_grad = jax.value_and_grad(logdensity_fn)

        def one_step(
            state: integrators.IntegratorState, step_size: float
        ) -> integrators.IntegratorState:
            position, momentum, _, gradient = state
            half = jax.tree_util.tree_map(
                lambda p, g: p + 0.5 * step_size * g,
                momentum.coordinates,
                gradient.coordinates,
            )
            flat_x, unravel = ravel_pytree(position.coordinates)
            flat_p, _ = ravel_pytree(half)
            zero = jnp.zeros_like(position.glues)

            def inverse_mass_apply(vector: jax.Array) -> jax.Array:
                probe = GluedMomentum(unravel(vector), jnp.zeros_like(vector), zero)
                velocity = jax.grad(kinetic_energy_fn)(probe)
                return ravel_pytree(velocity.coordinates)[0]

            drift = glued_drift(
                flat_x,
                flat_p,
                step_size,
                position.frame,
                walls,
                inverse_mass_apply,
                max_glues,
            )
            new_position = GluedPosition(
                unravel(drift.position), drift.frame, position.glues + drift.glues
            )
            logdensity, new_gradient = value_and_grad(new_position)
            logdensity = jnp.where(drift.capped, -jnp.inf, logdensity)
            kicked = (
                drift.momentum
                + 0.5 * step_size * ravel_pytree(new_gradient.coordinates)[0]
            )
            new_momentum = GluedMomentum(
                unravel(kicked), invert_code(drift.frame, kicked), zero
            )
            return integrators.IntegratorState(
                new_position, new_momentum, logdensity, new_gradient
            )

        return one_step

    return build
