"""Split R-hat and mean ESS from per-chain statistics merged across chain sets."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from symbayes.diagnostics.sharded import (
    chain_statistics,
    gather_statistics,
    mean_ess,
    merge_statistics,
    split_rhat,
)


def ar1_chains(
    chains: int, draws: int, seed: int = 0, offset: float = 0.3
) -> np.ndarray:
    """AR(1) chains (phi 0.0, 0.6, 0.9 per coordinate), chain offsets."""
    rng = np.random.default_rng(seed)
    phi = np.array([0.0, 0.6, 0.9])
    values = np.zeros((chains, draws, 3))
    values[:, 0] = rng.normal(size=(chains, 3))
    for t in range(1, draws):
        values[:, t] = phi * values[:, t - 1] + rng.normal(size=(chains, 3))
    return values + offset * rng.normal(size=(chains, 1, 1))


def arviz(values: np.ndarray, estimator, method: str) -> np.ndarray:
    return np.array(
        [float(estimator(values[:, :, i], method=method)) for i in range(3)]
    )


@pytest.mark.parametrize("draws", [201, 300])
def test_merged_statistics_equal_arviz_on_the_gathered_draws(draws):
    values = ar1_chains(7, draws)
    parts = [chain_statistics(values[:3]), chain_statistics(values[3:])]
    merged = gather_statistics(merge_statistics(parts))
    np.testing.assert_allclose(
        split_rhat(merged), arviz(values, az.rhat, "split"), rtol=1e-10
    )
    np.testing.assert_allclose(
        mean_ess(merged), arviz(values, az.ess, "mean"), rtol=1e-10
    )


def test_a_short_max_lag_gives_the_same_ess_or_nan():
    values = ar1_chains(6, 400, seed=1, offset=0.0)
    reference = arviz(values, az.ess, "mean")
    parts = [chain_statistics(values[:2], 60), chain_statistics(values[2:], 60)]
    with pytest.warns(RuntimeWarning, match="larger max_lag"):
        ess = mean_ess(merge_statistics(parts))
    # phi 0 and 0.6: Geyer's sequence stops before lag 60, the same ESS
    np.testing.assert_allclose(ess[:2], reference[:2], rtol=1e-10)
    # phi 0.9: the sequence is still positive at lag 59 (it runs to the end)
    assert np.isnan(ess[2])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="at least 4 draws"):
        chain_statistics(np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="chain, draw, coordinate"):
        chain_statistics(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="max_lag"):
        chain_statistics(np.zeros((2, 10, 1)), max_lag=1)
    with pytest.raises(ValueError, match="same draws and max_lag"):
        merge_statistics(
            [
                chain_statistics(np.ones((2, 10, 1))),
                chain_statistics(np.ones((2, 12, 1))),
            ]
        )
