"""Quotient machinery: sort-domain walls, the glued integrator, reparam, tying."""

from __future__ import annotations

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import targets
from blackjax.mcmc.integrators import IntegratorState
from jax.flatten_util import ravel_pytree

from symbayes.canonical import sort_canonicalize
from symbayes.models import MLP
from symbayes.quotient import (
    GluedMomentum,
    OrderedTransform,
    build_quotient,
    glued_drift,
    glued_integrator,
    glued_metric,
    in_domain,
    is_tied,
    sort_domain_walls,
    tie_inverse_mass_matrix,
)
from symbayes.quotient.glue import initial_position
from symbayes.symmetry import AxisEntry, HiddenAxis, Symmetry, SymmetryError, UnitKey

TEMPLATE = jax.tree_util.tree_map(lambda x: x[0], targets.initial_params(1))


def test_walls_of_the_sort_domain():
    walls = sort_domain_walls(TEMPLATE, targets.SYMMETRY)
    # ravel order: a(0, 1), c(2, 3), u(4, 5, 6), z(7, 8)
    pairs = set(zip(walls.plus.tolist(), walls.minus.tolist(), strict=True))
    assert pairs == {(5, 4), (6, 5), (1, 0), (0, -1)}
    canonical, _ = sort_canonicalize(TEMPLATE, targets.SYMMETRY)
    assert bool(in_domain(ravel_pytree(canonical)[0], walls))
    flipped = {**canonical, "a": -canonical["a"]}
    assert not bool(in_domain(ravel_pytree(flipped)[0], walls))


def _integrate(position, momentum, step_size, num_steps, inverse_mass_matrix):
    walls = sort_domain_walls(TEMPLATE, targets.SYMMETRY)
    size = ravel_pytree(TEMPLATE)[0].shape[0]
    metric = glued_metric(inverse_mass_matrix, size)

    def logdensity(glued):
        return targets.logdensity(glued.coordinates)

    step = jax.jit(glued_integrator(walls)(logdensity, metric.kinetic_energy))
    value, gradient = jax.value_and_grad(logdensity)(position)
    state = IntegratorState(position, momentum, value, gradient)
    states = [state]
    for _ in range(num_steps):
        state = step(state, step_size)
        states.append(state)
    return states, metric, walls


def _start(seed: int):
    with jax.enable_x64(True):
        canonical, _ = sort_canonicalize(
            jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), TEMPLATE),
            targets.SYMMETRY,
        )
        position = initial_position(canonical)
        flat, unravel = ravel_pytree(canonical)
        noise = 3.0 * jax.random.normal(jax.random.key(seed), flat.shape, jnp.float64)
        momentum = GluedMomentum(unravel(noise), noise, jnp.zeros((), jnp.float64))
        return position, momentum


def _tied(values):
    return tie_inverse_mass_matrix(jnp.asarray(values), TEMPLATE, targets.SYMMETRY)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_glued_leapfrog_is_reversible_and_stays_inside(seed):
    """Forward, flip the momentum, forward again: back to the start (float64)."""
    with jax.enable_x64(True):
        position, momentum = _start(seed)
        matrix = _tied(jnp.linspace(0.5, 2.0, 9))
        states, _, walls = _integrate(position, momentum, 0.1, 40, matrix)
        final = states[-1]
        assert float(final.position.glues) > 0  # the path did meet walls
        for state in states:
            flat = ravel_pytree(state.position.coordinates)[0]
            assert bool(in_domain(flat, walls, 1e-9))
        flipped = jax.tree_util.tree_map(jnp.negative, final.momentum)
        back, _, _ = _integrate(final.position, flipped, 0.1, 40, matrix)
        start = ravel_pytree(position.coordinates)[0]
        returned = ravel_pytree(back[-1].position.coordinates)[0]
        np.testing.assert_allclose(returned, start, atol=1e-5)
        returned_momentum = -ravel_pytree(back[-1].momentum.coordinates)[0]
        np.testing.assert_allclose(
            returned_momentum, ravel_pytree(momentum.coordinates)[0], atol=1e-5
        )


def test_glued_leapfrog_is_the_folded_full_space_leapfrog():
    """Every glued state is the sort image of the full-space leapfrog state.

    The unfolded momentum equals the full-space momentum: the frame ``G``
    maps the full-space path onto the glued one.
    """
    with jax.enable_x64(True):
        position, momentum = _start(3)
        matrix = _tied(jnp.linspace(0.5, 2.0, 9))
        states, _, _ = _integrate(position, momentum, 0.05, 60, matrix)
        metric = blackjax.mcmc.metrics.default_metric(matrix)
        step = jax.jit(
            blackjax.mcmc.integrators.velocity_verlet(
                targets.logdensity, metric.kinetic_energy
            )
        )
        value, gradient = jax.value_and_grad(targets.logdensity)(position.coordinates)
        full = IntegratorState(
            position.coordinates, momentum.coordinates, value, gradient
        )
        for glued in states[1:]:
            full = step(full, 0.05)
            folded, _ = sort_canonicalize(full.position, targets.SYMMETRY)
            np.testing.assert_allclose(
                ravel_pytree(glued.position.coordinates)[0],
                ravel_pytree(folded)[0],
                atol=1e-8,
            )
            np.testing.assert_allclose(
                glued.momentum.unfolded, ravel_pytree(full.momentum)[0], atol=1e-8
            )
        assert float(states[-1].position.glues) > 0


def test_glued_leapfrog_energy_error_is_second_order():
    """The energy error falls about 4x per halving of the step (8 trajectories).

    Glues are linear isometries that leave the density unchanged, so the
    glued leapfrog is the full-space leapfrog seen through the canonical
    map: second order, unlike a mirror reflection at the walls (first order
    at walls with a normal force).
    """
    with jax.enable_x64(True):
        matrix = jnp.ones(9)
        mean_errors = []
        for step_size, num_steps in ((0.04, 25), (0.02, 50), (0.01, 100)):
            errors = []
            for seed in range(8):
                position, momentum = _start(10 + seed)
                states, metric, _ = _integrate(
                    position, momentum, step_size, num_steps, matrix
                )
                start = -states[0].logdensity + metric.kinetic_energy(
                    states[0].momentum
                )
                final = -states[-1].logdensity + metric.kinetic_energy(
                    states[-1].momentum
                )
                errors.append(abs(float(final - start)))
            mean_errors.append(np.mean(errors))
        assert mean_errors[0] > 3.0 * mean_errors[1] > 9.0 * mean_errors[2]


def test_glued_drift_keeps_the_kinetic_energy_and_counts_glues():
    with jax.enable_x64(True):
        position, momentum = _start(7)
        matrix = _tied(jnp.linspace(0.3, 3.0, 9))
        walls = sort_domain_walls(TEMPLATE, targets.SYMMETRY)
        flat_x = ravel_pytree(position.coordinates)[0]
        flat_p = ravel_pytree(momentum.coordinates)[0]
        drift = glued_drift(
            flat_x, flat_p, 1.0, position.frame, walls, lambda v: matrix * v, 100
        )
        assert float(drift.glues) > 0 and not bool(drift.capped)
        kinetic = 0.5 * jnp.sum(matrix * drift.momentum**2)
        assert float(kinetic) == pytest.approx(float(0.5 * jnp.sum(matrix * flat_p**2)))
        assert bool(in_domain(drift.position, walls, 1e-9))
        capped = glued_drift(
            flat_x, flat_p, 1.0, position.frame, walls, lambda v: matrix * v, 1
        )
        assert bool(capped.capped)


def test_glue_refuses_keys_whose_flips_reorder_units():
    symmetry = Symmetry(
        (
            HiddenAxis(
                "ac",
                2,
                (AxisEntry("a", 0, "in"), AxisEntry("c", 0, "out")),
                groups=("permutation", "sign"),
                sort_key=UnitKey("c"),
                sign_key=UnitKey("a"),
            ),
        )
    )
    template = {"a": jnp.ones(2), "c": jnp.ones(2)}
    with pytest.raises(SymmetryError, match="axis 'ac': quotient='glue' needs"):
        build_quotient("glue", template, symmetry)
    with pytest.raises(ValueError, match="replaced by quotient='glue'"):
        build_quotient("reflect", template, symmetry)


@pytest.mark.parametrize("gap", ["softplus", "exp"])
def test_reparam_log_jacobian_equals_autodiff(gap):
    transform = OrderedTransform.build(TEMPLATE, targets.SYMMETRY, gap)
    with jax.enable_x64(True):
        y = jax.random.normal(jax.random.key(3), (9,), jnp.float64)
        _, log_jacobian = transform.forward_flat(y)
        jacobian = jax.jacfwd(lambda v: transform.forward_flat(v)[0])(y)
        sign, expected = jnp.linalg.slogdet(jacobian)
        assert float(sign) == 1.0
        assert float(log_jacobian) == pytest.approx(float(expected), rel=1e-10)
        # a bijection onto the domain: forward lands inside, inverse undoes it
        x, _ = transform.forward_flat(y)
        walls = sort_domain_walls(TEMPLATE, targets.SYMMETRY)
        assert bool(in_domain(x, walls))
        np.testing.assert_allclose(transform.inverse_flat(x), y, atol=1e-9)


def test_reparam_on_a_two_layer_network():
    model = MLP((1, 3, 4, 1), "tanh")
    template = model.init(jax.random.key(0))
    transform = OrderedTransform.build(template, model.symmetry, "softplus")
    assert [kind for kind, _ in transform.groups] == [
        "positive_ordered",
        "positive_ordered",
    ]
    params, _ = transform.forward(template)
    assert bool(jnp.all(jnp.diff(params["b1"]) > 0) and params["b1"][0] > 0)
    assert bool(jnp.all(jnp.diff(params["b2"]) > 0) and params["b2"][0] > 0)


def test_tie_inverse_mass_matrix():
    matrix = jnp.arange(1.0, 10.0)
    tied = tie_inverse_mass_matrix(matrix, TEMPLATE, targets.SYMMETRY)
    np.testing.assert_allclose(tied, [1.5, 1.5, 3.5, 3.5, 6, 6, 6, 8, 9])
    assert is_tied(tied, TEMPLATE, targets.SYMMETRY)
    assert not is_tied(matrix, TEMPLATE, targets.SYMMETRY)
    with pytest.raises(ValueError, match="dense mass matrix is not tied"):
        tie_inverse_mass_matrix(jnp.eye(9), TEMPLATE, targets.SYMMETRY)
    # a leaf on two axes is averaged over both unit dims
    model = MLP((1, 2, 3, 1))
    template = model.init(jax.random.key(0))
    flat, unravel = ravel_pytree(template)
    tied = unravel(
        tie_inverse_mass_matrix(
            jnp.arange(flat.size, dtype=flat.dtype), template, model.symmetry
        )
    )
    assert np.unique(np.asarray(tied["W2"])).size == 1
