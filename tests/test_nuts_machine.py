"""The one-step NUTS machine against blackjax's NUTS kernel."""

from __future__ import annotations

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbayes.kernels import NUTS
from symbayes.kernels.nuts_machine import build_machine

COVARIANCE = jnp.array([[2.0, 0.9, 0.0], [0.9, 1.0, 0.3], [0.0, 0.3, 0.5]])
PRECISION = jnp.linalg.inv(COVARIANCE)
NUM_CHAINS, NUM_TRANSITIONS = 4, 25


def logdensity(x: dict) -> jax.Array:
    """A correlated Gaussian and a narrow one, as a pytree position."""
    return -0.5 * x["a"] @ PRECISION @ x["a"] - 0.5 * jnp.sum(x["b"] ** 2 / 0.01)


@pytest.fixture(scope="module")
def both():
    """Per-chain step sizes from deep trees to divergences at every step."""
    step_sizes = jnp.array([0.05, 0.2, 0.5, 1.3])
    matrices = jnp.ones((NUM_CHAINS, 4)) * jnp.array([1.0, 0.5, 2.0, 1.0])
    position = {
        "a": jax.random.normal(jax.random.key(1), (NUM_CHAINS, 3)),
        "b": jax.random.normal(jax.random.key(2), (NUM_CHAINS, 1)),
    }
    states = jax.vmap(lambda p: blackjax.hmc.init(p, logdensity))(position)
    keys = jax.random.split(jax.random.key(7), NUM_CHAINS)
    kernel = blackjax.nuts.build_kernel()

    def reference(state, key, step_size, matrix):
        def body(state, t):
            state, info = kernel(
                jax.random.fold_in(key, t), state, logdensity, step_size, matrix, 10
            )
            return state, (state.position, info.num_integration_steps, info)

        return jax.lax.scan(body, state, jnp.arange(NUM_TRANSITIONS))[1]

    expected = jax.jit(jax.vmap(reference))(states, keys, step_sizes, matrices)
    init, tick = build_machine(logdensity, max_num_doublings=10)

    def machine(states):
        def body(carry):
            machines, count, draws, grads, ticks = carry
            active = count < NUM_TRANSITIONS
            machines, done, new, info = tick(
                machines,
                lambda: jax.vmap(jax.random.fold_in)(keys, count),
                step_sizes,
                matrices,
                active,
            )
            rows, index = (
                jnp.arange(NUM_CHAINS),
                jnp.minimum(count, NUM_TRANSITIONS - 1),
            )

            def put(buffer, value):
                mask = done.reshape((-1,) + (1,) * (value.ndim - 1))
                return buffer.at[rows, index].set(
                    jnp.where(mask, value, buffer[rows, index])
                )

            draws = jax.tree_util.tree_map(put, draws, new.position)
            grads = put(grads, info.num_integration_steps)
            return machines, count + done, draws, grads, ticks + 1

        draws = jax.tree_util.tree_map(
            lambda x: jnp.zeros((NUM_CHAINS, NUM_TRANSITIONS, *x.shape[1:])),
            states.position,
        )
        carry = (
            init(states, keys),
            jnp.zeros(NUM_CHAINS, jnp.int32),
            draws,
            jnp.zeros((NUM_CHAINS, NUM_TRANSITIONS), jnp.int32),
            0,
        )
        return jax.lax.while_loop(
            lambda c: jnp.any(c[1] < NUM_TRANSITIONS), body, carry
        )

    _, _, draws, grads, ticks = jax.jit(machine)(states)
    return expected, draws, grads, int(ticks)


def test_machine_makes_blackjax_transitions(both):
    """Same keys, same state, same tuning: the same draws and gradients."""
    expected, draws, grads, _ = both
    positions, expected_grads, info = expected
    np.testing.assert_array_equal(np.asarray(grads), np.asarray(expected_grads))
    for name in positions:
        np.testing.assert_allclose(
            np.asarray(draws[name]), np.asarray(positions[name]), atol=1e-6
        )
    # the cases the test is for: deep trees, the depth cap, divergences
    assert np.asarray(expected_grads)[0].max() >= 63
    assert np.asarray(info.is_divergent)[3].all()


def test_chains_do_not_wait_for_each_other(both):
    """As many ticks as the busiest chain has leapfrog steps.

    In lockstep, every transition costs the deepest chain's tree.
    """
    _, _, grads, ticks = both
    grads = np.asarray(grads)
    assert ticks == grads.sum(axis=1).max()
    assert ticks < grads.max(axis=0).sum()


@pytest.mark.parametrize("value", ["yes", 1.0])
def test_desynchronise_must_be_a_bool_or_none(value):
    with pytest.raises(ValueError, match="desynchronise must be None, True or False"):
        NUTS(desynchronise=value)
