"""The chain budget: batches of chains until the unseen-mode mass is small."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import targets

from symbayes.budget import concatenate_results, sample_until_covered, wilson_interval

SMALL = dict(num_warmup=60, num_samples=60, progress_bar=False)


def _init(key):
    """A dispersed start: each unit of the sign-symmetric axis in a random copy."""
    k_z, k_u, k_s, k_n = jax.random.split(key, 4)
    signs = jnp.where(jax.random.bernoulli(k_s, 0.5, (2, 1)), 1.0, -1.0)
    ac = signs * jnp.asarray(targets.AC_MEAN) + 0.3 * jax.random.normal(k_n, (2, 2))
    return {
        "z": jnp.asarray(targets.Z_MEAN) + jax.random.normal(k_z, (2,)),
        "u": targets.U_MEAN + jax.random.normal(k_u, (3,)),
        "a": ac[:, 0],
        "c": ac[:, 1],
    }


@pytest.fixture(scope="module")
def budgeted():
    return sample_until_covered(
        targets.logdensity,
        _init,
        targets.SYMMETRY,
        target_unseen=0.2,
        batch_chains=4,
        max_chains=16,
        key=0,
        **SMALL,
    )


def test_one_canonical_mode_stops_at_the_minimum(budgeted):
    """One canonical mode: no chain is alone, so the rule stops after 2 batches."""
    assert budgeted.reached
    assert budgeted.num_chains == 8
    assert [r.num_chains for r in budgeted.history] == [4, 8]
    assert budgeted.weights.tolist() == [1.0]
    low, high = budgeted.weight_intervals[0]
    assert low < 1.0 <= high
    assert budgeted.result.draws["z"].shape == (8, 60, 2)
    grads = [r.num_grad_evals for r in budgeted.history]
    assert grads[1] > grads[0] > 0
    assert budgeted.num_grad_evals == int(budgeted.result.timings.num_grad_evals)


def test_stopping_on_the_upper_bound_needs_more_chains():
    """One mode: the estimate is 0 at once, the interval's upper end falls as
    about 3.7 / chains (0.46 at 8, 0.31 at 12, 0.23 at 16 chains)."""
    cautious = sample_until_covered(
        targets.logdensity,
        _init,
        targets.SYMMETRY,
        target_unseen=0.25,
        stop_on="upper",
        batch_chains=4,
        max_chains=20,
        key=0,
        **SMALL,
    )
    assert cautious.reached
    assert [r.num_chains for r in cautious.history] == [4, 8, 12, 16]
    assert all(r.unseen == 0.0 for r in cautious.history)
    assert cautious.history[-1].unseen_interval[1] < 0.25


def test_batches_have_their_own_keys(budgeted):
    z = np.asarray(budgeted.result.draws["z"])
    assert not np.allclose(z[:4], z[4:])


def test_concatenate_results_joins_chains(budgeted):
    result = budgeted.result
    twice = concatenate_results([result, result])
    assert twice.num_chains == 16
    assert twice.sample_stats["energy"].shape[0] == 16
    assert twice.timings.num_grad_evals == 2 * result.timings.num_grad_evals
    with pytest.raises(ValueError, match="no results"):
        concatenate_results([])


def test_wilson_interval_covers_the_share():
    interval = wilson_interval(np.array([0, 5, 10]), 10)
    assert interval[0, 0] == 0.0 and interval[2, 1] == pytest.approx(1.0)
    assert interval[1, 0] < 0.5 < interval[1, 1]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"target_unseen": 0.0}, "target_unseen must lie in"),
        ({"batch_chains": 1}, "batch_chains must be an integer >= 2"),
        ({"space": "weights"}, "space must be"),
        ({"stop_on": "lower"}, "stop_on must be"),
    ],
)
def test_bad_settings_are_refused_before_sampling(overrides, message):
    arguments = dict(target_unseen=0.1, batch_chains=4, max_chains=8, key=0)
    arguments.update(overrides)
    with pytest.raises(ValueError, match=message):
        sample_until_covered(targets.logdensity, _init, targets.SYMMETRY, **arguments)
    with pytest.raises(ValueError, match="init_fn is required"):
        sample_until_covered(targets.logdensity, None, targets.SYMMETRY)
