"""Mode counts that account for Monte Carlo error; representatives; unseen modes.

The draws are synthetic (numpy only, no compilation): AR(1) chains with
rho = 0.9 (per-chain ESS about N / 19) in one or several Gaussian modes.
"""

from __future__ import annotations

import math

import arviz as az
import numpy as np
import pytest

from symbayes.diagnostics import (
    chain_ess,
    chain_separation,
    find_modes,
    margin_of_threshold,
    nested_rhat,
    pairwise_rhat,
    unseen_mode_mass,
)
from symbayes.results import chain_draw_layout

RHO = 0.9


def ar1(seed: int, chains: int, num: int, dims: int = 3) -> np.ndarray:
    """Stationary AR(1) chains with unit marginal variance: ``(C, N, d)``."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((chains, num, dims)) * math.sqrt(1 - RHO**2)
    out = np.empty_like(noise)
    out[:, 0] = rng.standard_normal((chains, dims))
    for t in range(1, num):
        out[:, t] = RHO * out[:, t - 1] + noise[:, t]
    return out


def modes_of(values: np.ndarray, rule: str = "mcse", **kwargs):
    modes, separation = find_modes(
        values,
        values,
        lambda vector: vector,
        rule=rule,
        pairwise=pairwise_rhat(values) if rule == "rhat" else None,
        **kwargs,
    )
    return modes, separation


@pytest.mark.parametrize("num", [100, 250, 1000])
def test_one_gaussian_mode_stays_one_mode_as_draws_grow(num):
    """48 short AR(1) chains of one mode: the first rule splits them, this not.

    The per-pair false-split rate is at most 0.01 (Bonferroni), and with the
    margin far lower; the seed is fixed, so the test is deterministic.
    """
    values = ar1(0, 48, num)
    modes, separation = modes_of(values)
    assert modes.count == 1
    # a rare falsely separated pair (the per-pair rate is <= 0.01) cannot
    # split a mode: most pairs across any two groups must be separated
    pairs = 48 * 47 / 2
    assert separation.separated.sum() / 2 <= 0.01 * pairs
    if num == 100:  # what the pairwise R-hat rule did (issue 11): many modes
        assert modes_of(values, "rhat")[0].count > 20


def test_chains_in_separated_modes_are_split_and_settle():
    """4 modes 3 sd apart (12 chains each): split at every length; settled late."""
    values = ar1(1, 48, 4000)
    values[:, :, 0] += 3.0 * (np.arange(48) % 4)[:, None]
    assert modes_of(values[:, :100])[0].count == 4
    for num in (500, 4000):
        modes, _ = modes_of(values[:, :num])
        assert modes.count == 4
        assert sorted(len(mode.chains) for mode in modes.modes) == [12] * 4
        assert {tuple(np.arange(48)[m::4]) for m in range(4)} == {
            mode.chains for mode in modes.modes
        }
    assert modes_of(values[:, :100])[0].num_settled == 0
    assert modes_of(values)[0].num_settled == 4  # per-chain ESS about 200


def test_an_uncertain_chain_does_not_join_two_modes():
    """A stuck-looking chain between two modes joins one, it does not merge them."""
    values = ar1(2, 9, 400, dims=1)
    values[:4, :, 0] -= 4.0
    values[4:8, :, 0] += 4.0
    values[8, :, 0] = 0.3 * values[8, :, 0] + np.linspace(-4, 4, 400)  # drifts
    modes, separation = modes_of(values)
    assert {(0, 1, 2, 3), (4, 5, 6, 7)} <= {
        tuple(c for c in mode.chains if c != 8) for mode in modes.modes
    }
    assert modes.count in (2, 3)
    # connected components of the "not separated" graph would merge them
    assert not separation.separated[8, :8].all()


def test_stuck_chains_are_separated_with_certainty():
    values = np.repeat(np.arange(4.0)[:, None, None], 50, axis=1)
    modes, separation = modes_of(values)
    assert modes.count == 4
    assert separation.lower[0, 1] > 1e6  # zero within-chain spread


def test_the_margin_is_where_the_pairwise_rhat_tends_to_the_threshold():
    """Two chains at standardised distance delta: R-hat^2 -> 1 + delta^2 / 2."""
    margin = margin_of_threshold(1.1)
    assert margin == pytest.approx(math.sqrt(2 * 0.21))
    rng = np.random.default_rng(3)
    values = rng.standard_normal((2, 200_000, 1))
    values[1] += margin
    rhat = az.rhat(az.convert_to_dataset({"x": values}), method="identity")
    assert float(rhat["x"].values.max()) == pytest.approx(1.1, abs=2e-3)
    with pytest.raises(ValueError, match="threshold must be > 1"):
        margin_of_threshold(1.0)


def test_representative_is_a_member_with_a_typical_log_likelihood():
    """The medoid is a draw of its mode; its log-likelihood sits among its draws'."""
    values = ar1(4, 6, 300)
    values[3:] += 10.0
    loglik = -np.sum(values**2, axis=2)  # a 'log-likelihood' per draw
    modes, _ = modes_of(values, log_likelihood=loglik)
    assert modes.count == 2
    for mode in modes.modes:
        chain, draw = mode.representative_draw
        assert chain in mode.chains
        np.testing.assert_array_equal(mode.representative, values[chain, draw])
        assert 0.2 < mode.log_likelihood_quantile < 1.0
        assert mode.representative_log_likelihood == loglik[chain, draw]


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="draws >= 4"):
        chain_separation(np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="false_split_rate"):
        chain_separation(np.zeros((2, 8, 1)), false_split_rate=1.5)
    with pytest.raises(ValueError, match="unknown mode rule"):
        modes_of(np.zeros((2, 8, 1)), rule="kmeans")


# ------------------------------------------------------------------ estimators
@pytest.mark.parametrize("num", [4, 7, 50, 301])
def test_chain_ess_equals_arviz_single_chain_ess(num):
    values = ar1(5, 3, num, dims=2)
    values[0, :, 1] = 1.0  # constant: N, as arviz
    expected = np.array(
        [
            [az.ess(values[c : c + 1, :, k], method="mean") for k in range(2)]
            for c in range(3)
        ]
    )
    np.testing.assert_allclose(chain_ess(values), expected, rtol=1e-10)


def _nested_rhat_by_hand(values: np.ndarray, ids: np.ndarray) -> float:
    """Equation 8 of Margossian et al. (2024) on one coordinate, no split."""
    groups = [values[ids == k] for k in np.unique(ids)]
    super_means = [g.mean() for g in groups]
    within = [g.var(axis=1, ddof=1).mean() + g.mean(axis=1).var(ddof=1) for g in groups]
    return math.sqrt(1 + np.var(super_means, ddof=1) / np.mean(within))


def test_nested_rhat_is_equation_8_and_equals_arviz_stats():
    values = ar1(6, 8, 40, dims=2)
    values[:4] += 0.4
    ids = np.repeat(np.arange(4), 2)
    by_hand = _nested_rhat_by_hand(values[:, :, 0], ids)
    assert nested_rhat(values, ids, method="identity")[0] == pytest.approx(by_hand)
    with pytest.raises(ValueError, match="same number of chains"):
        nested_rhat(values, np.array([0, 0, 0, 1, 1, 2, 2, 3]))
    with pytest.raises(ValueError, match="one per chain"):
        nested_rhat(values, ids[:4])
    arviz_stats = pytest.importorskip("arviz_stats")
    for method in ("rank", "split", "identity"):
        expected = [
            arviz_stats.rhat_nested(values[:, :, k], superchain_ids=ids, method=method)
            for k in range(2)
        ]
        np.testing.assert_allclose(
            nested_rhat(values, ids, method=method), expected, rtol=1e-12
        )


def test_nested_rhat_does_not_flag_many_short_stationary_chains():
    """1000 chains of 10 draws, each started in the target: R-hat flags them.

    Every chain is stationary, so the ensemble estimates are good; rank
    R-hat exceeds 1.01 only because 10 autocorrelated draws (rho = 0.9)
    under-estimate the variance within a chain. Nested R-hat with 10
    superchains of 100 chains counts the spread of chain means as within-
    superchain variance, and stays below 1.01.
    """
    rng = np.random.default_rng(7)
    values = np.empty((1000, 10, 1))
    values[:, 0] = rng.standard_normal((1000, 1))
    for t in range(1, 10):
        values[:, t] = RHO * values[:, t - 1] + math.sqrt(1 - RHO**2) * (
            rng.standard_normal((1000, 1))
        )
    ids = np.repeat(np.arange(10), 100)
    with chain_draw_layout():
        rhat = float(az.rhat(az.convert_to_dataset({"x": values}))["x"].values.max())
    assert rhat > 1.01
    assert nested_rhat(values, ids)[0] < 1.01


# ----------------------------------------------------------------- unseen modes
def test_unseen_mode_mass_counts_singletons():
    estimate = unseen_mode_mass([0, 0, 0, 1, 1, 2, 3])
    assert estimate.good_turing == pytest.approx(2 / 7)
    assert (estimate.num_modes, estimate.num_singletons) == (4, 2)
    assert estimate.num_doubletons == 1 and estimate.num_chains == 7
    # bias-corrected Chao1: S_obs + (n-1)/n f1 (f1-1) / (2 (f2+1))
    assert estimate.chao1 == pytest.approx(4 + 6 / 7 * 2 * 1 / (2 * 2))
    low, high = estimate.interval
    assert 0.0 <= low < estimate.good_turing < high <= 1.0


def test_unseen_mode_mass_on_raw_coordinates_never_falls():
    """Every chain alone (raw coordinates of a naive run): mass 1."""
    estimate = unseen_mode_mass(np.arange(64))
    assert estimate.good_turing == 1.0 and estimate.interval[1] == 1.0


def test_unseen_mode_mass_interval_stays_open_with_no_singletons():
    """48 chains in one mode: estimate 0, but the upper bound is ~3.7/48."""
    estimate = unseen_mode_mass(np.zeros(48, dtype=int))
    assert estimate.good_turing == 0.0 and estimate.chao1 == 1.0
    assert estimate.interval[0] == 0.0
    assert estimate.interval[1] == pytest.approx(3.689 / 48, rel=1e-3)


def test_unseen_mode_mass_interval_covers_the_truth():
    """Coverage on a known mode distribution (geometric weights, 32 chains).

    500 repetitions: the 95% interval covers the true unseen mass in at least
    90% of them (the measured coverage is ~0.97; benchmarks/modes.py).
    """
    rng = np.random.default_rng(8)
    weights = 0.5 ** np.arange(1, 30)
    weights /= weights.sum()
    covered = 0
    for _ in range(500):
        labels = rng.choice(weights.size, size=32, p=weights)
        truth = weights[np.setdiff1d(np.arange(weights.size), labels)].sum()
        low, high = unseen_mode_mass(labels).interval
        covered += low <= truth <= high
    assert covered / 500 >= 0.90


def test_unseen_mode_mass_rejects_bad_labels():
    with pytest.raises(ValueError, match="non-empty 1-d"):
        unseen_mode_mass([])
    with pytest.raises(ValueError, match="integers"):
        unseen_mode_mass([0.5, 1.0])
    with pytest.raises(ValueError, match="level"):
        unseen_mode_mass([0, 1], level=1.0)
