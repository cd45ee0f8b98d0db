"""Warmup: Stan's windows per chain, pooled by canonical mode, pooled raw."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from blackjax.adaptation.mass_matrix import mass_matrix_adaptation

from symbayes.adaptation import (
    cluster_chains,
    pool_window,
    window_adaptation,
    window_schedule,
)


def _states(draws: np.ndarray, dense: bool = False):
    """Adaptation states whose Welford statistics hold ``draws`` (C, N, n)."""
    adapt = window_adaptation(dense=dense, defer_window_end=True)
    size = draws.shape[2]
    matrix = jnp.eye(size) if dense else jnp.ones(size)

    def one(chain_draws):
        state = adapt.init(size, jnp.asarray(0.5), matrix)

        def step(state, x):
            return adapt.update(state, 1, False, x, 0.8), None

        return jax.lax.scan(step, state, chain_draws)[0]

    states = jax.vmap(one)(jnp.asarray(draws, jnp.float32))
    return jax.tree_util.tree_map(np.asarray, states)


def test_one_chain_alone_gets_stans_per_chain_estimate():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(3, 50, 4)) * np.array([1.0, 2.0, 0.5, 3.0])
    states = _states(draws)
    pooled, report = pool_window(
        states,
        labels=np.arange(3),
        codes=None,
        dense=False,
        project=None,
        adapt_step_size=True,
        target_acceptance_rate=0.8,
    )
    assert report.num_modes == 3
    _, _, final = mass_matrix_adaptation(True)
    for chain in range(3):
        one = jax.tree_util.tree_map(lambda x, c=chain: jnp.asarray(x[c]), states)
        expected = final(one.imm_state).inverse_mass_matrix
        np.testing.assert_allclose(
            pooled.inverse_mass_matrix[chain], expected, rtol=1e-5
        )


def test_chains_of_one_mode_in_other_copies_share_one_estimate():
    """Chain 1 sees chain 0's posterior with coordinates swapped and one flipped.

    Mapped by that element into one frame, their pooled variance is the
    variance of all draws together, and it goes back to chain 1 permuted.
    """
    rng = np.random.default_rng(1)
    scale = np.array([1.0, 2.0, 0.5])
    first = rng.normal(size=(200, 3)) * scale + np.array([1.0, -2.0, 0.0])
    second = rng.normal(size=(200, 3)) * scale + np.array([1.0, -2.0, 0.0])
    # chain 1's coordinates: x' = (x_1, -x_0, x_2), code of g with g x' = x
    second = np.stack([second[:, 1], -second[:, 0], second[:, 2]], axis=1)
    codes = np.array([[1.0, 2.0, 3.0], [-2.0, 1.0, 3.0]])
    states = _states(np.stack([first, second]))
    pooled, report = pool_window(
        states,
        labels=np.zeros(2, int),
        codes=codes,
        dense=False,
        project=None,
        adapt_step_size=True,
        target_acceptance_rate=0.8,
    )
    assert report.num_modes == 1 and report.samples[0] == 400
    together = np.concatenate([first, second[:, [1, 0, 2]] * [-1, 1, 1]])
    count = len(together)
    expected = count / (count + 5) * together.var(axis=0, ddof=1) + 5e-3 / (count + 5)
    np.testing.assert_allclose(pooled.inverse_mass_matrix[0], expected, rtol=1e-4)
    np.testing.assert_allclose(
        pooled.inverse_mass_matrix[1], expected[[1, 0, 2]], rtol=1e-4
    )
    # the statistics start afresh for the next window
    assert np.all(pooled.imm_state.wc_state.sample_size == 0)


def test_chains_far_apart_are_different_modes():
    means = np.array([[0.0, 0.0], [0.1, -0.1], [10.0, 10.0]])
    labels = cluster_chains(means, np.ones_like(means))
    assert labels[0] == labels[1] != labels[2]


def test_the_schedule_is_blackjaxs():
    stages, ends = window_schedule(1000)
    assert stages.shape == ends.shape == (1000,)
    assert stages[:75].sum() == 0 and stages[75] == 1 and stages[-50:].sum() == 0
    assert np.flatnonzero(ends).tolist() == [99, 149, 249, 449, 949]
    assert window_schedule(0)[0].size == 0


@pytest.mark.parametrize("dense", [False, True])
def test_window_adaptation_projects_every_new_matrix(dense):
    rng = np.random.default_rng(2)
    draws = jnp.asarray(rng.normal(size=(60, 3)) * np.array([1.0, 2.0, 3.0]))

    def project(matrix):
        return matrix * 0 + 7.0

    adapt = window_adaptation(dense=dense, project=project)
    size = 3
    state = adapt.init(
        size, jnp.asarray(0.5), jnp.eye(size) if dense else jnp.ones(size)
    )
    for t, x in enumerate(draws):
        state = adapt.update(state, 1, t == 59, x, 0.8)
    np.testing.assert_allclose(state.inverse_mass_matrix, 7.0)
