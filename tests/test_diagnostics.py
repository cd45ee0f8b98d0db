"""Diagnostics tell the truth: symmetric copies vs real, functional modes."""

from __future__ import annotations

from dataclasses import replace

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbayes.canonical import canonicalize, relabel
from symbayes.datasets import Dataset
from symbayes.diagnostics import (
    _rank_rhat,
    diagnose,
    flatten_draws,
    load_reference_modes,
    mode_coverage,
    pairwise_rhat,
    reference_modes,
)
from symbayes.models import MLP
from symbayes.results import SampleResult, Timings

MODEL = MLP((1, 4, 1), "tanh")
SYMMETRY = MODEL.symmetry
X = jnp.linspace(-2.0, 2.0, 20)[:, None]
DATA = (X, jnp.sin(2 * X[:, 0]))
CHAINS, DRAWS = 8, 1000


def canonical_point(seed: int) -> dict:
    params = MODEL.init(jax.random.key(seed))
    # well-separated units, so the sort map is stable under the noise below
    params["b1"] = jnp.array([-1.5, -0.5, 0.5, 1.5])
    params["W1"] = jnp.array([[1.0, -2.0, 1.5, -1.0]]) * (1 + 0.5 * seed)
    return canonicalize(params, SYMMETRY)


def distinct_elements(count: int, key: jax.Array) -> list:
    """``count`` pairwise distinct random group elements."""
    elements = []
    while len(elements) < count:
        key, sub = jax.random.split(key)
        g = SYMMETRY.random_element(sub)
        if not any(SYMMETRY.elements_equal(g, h) for h in elements):
            elements.append(g)
    return elements


def make_result(centres: list[dict], elements: list | None, seed: int = 0):
    """Chain c: i.i.d. draws around centres[c] (sd 0.02), hit by elements[c]."""
    rng = np.random.default_rng(seed)
    chains = []
    for c, centre in enumerate(centres):
        draws = jax.tree_util.tree_map(
            lambda leaf: (
                np.asarray(leaf) + 0.02 * rng.standard_normal((DRAWS, *np.shape(leaf)))
            ),
            centre,
        )
        if elements is not None:
            draws = jax.vmap(SYMMETRY.act, in_axes=(None, 0))(elements[c], draws)
        chains.append(draws)
    raw = jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *chains)
    canonical = canonicalize(raw, SYMMETRY, batch_ndim=2)
    return SampleResult(
        draws=jax.tree_util.tree_map(np.asarray, canonical),
        raw_draws=jax.tree_util.tree_map(np.asarray, raw),
        sample_stats={"diverging": np.zeros((len(centres), DRAWS), bool)},
        timings=Timings(0.0, 0.0, 0.0, 0.0, 0),
        config={"kernel": "nuts", "quotient": "none"},
        symmetry=SYMMETRY,
    )


@pytest.fixture(scope="module")
def copies():
    """8 chains in one functional mode, each in its own symmetric copy."""
    centre = canonical_point(0)
    elements = distinct_elements(CHAINS, jax.random.key(1))
    result = make_result([centre] * CHAINS, elements)
    return result, diagnose(result, model=MODEL, data=DATA)


@pytest.fixture(scope="module")
def two_modes():
    """Chains 0-3 in one functional mode, 4-7 in another; random copies."""
    centres = [canonical_point(0)] * 4 + [canonical_point(1)] * 4
    elements = distinct_elements(CHAINS, jax.random.key(2))
    result = make_result(centres, elements, seed=1)
    return result, diagnose(result, model=MODEL, data=DATA)


def test_symmetric_copies_are_one_mode(copies):
    _, diagnostics = copies
    assert diagnostics.canonical.rhat_max < 1.01
    assert diagnostics.function.rhat_max < 1.01
    assert diagnostics.raw.rhat_max > 1.5
    assert diagnostics.canonical.modes.count == 1
    assert diagnostics.function.modes.count == 1
    assert diagnostics.raw.modes.count == CHAINS
    assert diagnostics.redundant_chains == tuple(range(1, CHAINS))
    summary = diagnostics.summary()
    assert summary["modes_raw"] == CHAINS and summary["modes_canonical"] == 1
    assert summary["ess_bulk_min_canonical"] > summary["ess_bulk_min_raw"]


def test_functionally_different_modes_are_not_hidden(two_modes):
    result, diagnostics = two_modes
    assert diagnostics.canonical.rhat_max > 1.1
    assert diagnostics.function.rhat_max > 1.1
    assert diagnostics.canonical.modes.count == 2
    assert diagnostics.function.modes.count == 2
    modes = diagnostics.canonical.modes.modes
    assert {modes[0].chains, modes[1].chains} == {(0, 1, 2, 3), (4, 5, 6, 7)}
    assert modes[0].weight == modes[1].weight == 0.5
    # the representative is a draw of the mode (its medoid), not a blurred mean
    for mode in modes:
        chain, draw = mode.representative_draw
        assert chain in mode.chains
        for name, leaf in mode.representative.items():
            np.testing.assert_array_equal(
                leaf, np.asarray(result.draws[name])[chain, draw]
            )
        # a member of its mode: log-likelihood inside the range of its draws
        assert 0.05 < mode.log_likelihood_quantile < 1.0
    assert diagnostics.redundant_chains == (1, 2, 3, 5, 6, 7)


def test_pairwise_rhat_is_symmetric_and_matches_arviz(two_modes):
    result, _ = two_modes
    values, _ = flatten_draws(result.draws)
    matrix = pairwise_rhat(values[:, :200])
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_array_equal(np.diag(matrix), 1.0)
    direct = az.rhat(az.convert_to_dataset({"x": values[[0, 5], :200]}))
    np.testing.assert_allclose(matrix[0, 5], direct["x"].values.max(), rtol=1e-10)


def test_mode_coverage_against_a_reference(two_modes, copies, tmp_path):
    reference_run, reference_diagnostics = two_modes
    reference = reference_modes(reference_run, reference_diagnostics, num_draws=500)
    assert reference.count == 2
    path = reference.save(tmp_path / "modes.npz")
    reference = load_reference_modes(path)
    # a run whose chains sit in the first reference mode only
    run, _ = copies
    coverage = mode_coverage(run, reference)
    assert coverage.fraction == 0.5
    assert coverage.weighted_fraction == 0.5
    assert len(set(coverage.chain_modes.tolist())) == 1
    assert coverage.chain_modes[0] >= 0
    # the reference run itself reaches every mode
    assert mode_coverage(reference_run, reference).fraction == 1.0


def test_a_run_without_raw_draws_has_no_raw_space(copies):
    """Quotient modes keep no raw draws: raw is None, not canonical repeated."""
    result, _ = copies
    quotient = replace(result, raw_draws=None)
    diagnostics = diagnose(quotient)
    assert diagnostics.function is None
    assert diagnostics.raw is None
    assert [space.space for space in diagnostics.spaces()] == ["canonical"]
    summary = diagnostics.summary()
    assert np.isnan(summary["modes_raw"]) and summary["modes_canonical"] == 1
    assert "raw: none" in diagnostics.table()


def test_function_space_from_a_dataset_equals_the_tuple(copies):
    """``data=`` takes a Dataset (its training split) as well as ``(X, y)``."""
    result, from_tuple = copies
    X_np, y_np = np.asarray(X), np.asarray(DATA[1])
    dataset = Dataset(
        "toy", X_np, y_np, X_np[:0], y_np[:0], ("x",), np.zeros(1), np.ones(1),
        0.0, 1.0, "test",
    )  # fmt: skip
    from_dataset = diagnose(result, model=MODEL, data=dataset)
    np.testing.assert_allclose(from_dataset.function.rhat, from_tuple.function.rhat)


def test_bad_inputs_raise_clear_errors(copies, tmp_path):
    result, _ = copies
    one_chain = replace(
        result,
        draws=jax.tree_util.tree_map(lambda x: x[:1], result.draws),
        raw_draws=None,
    )
    with pytest.raises(ValueError, match="at least 2 chains"):
        diagnose(one_chain)
    with pytest.raises(ValueError, match="threshold must be > 1"):
        diagnose(result, threshold=1.0)
    broken = jax.tree_util.tree_map(np.array, result.draws)
    broken["b1"][0, 3, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf values in \['b1\[1\]'\]"):
        diagnose(replace(result, draws=broken))
    with pytest.raises(ValueError, match="function gives NaN"):
        diagnose(result, function=lambda p: jnp.log(p["b1"] - 10.0))
    with pytest.raises(FileNotFoundError, match="no reference-modes file"):
        load_reference_modes(tmp_path / "missing.npz")
    reference = reference_modes(result, num_draws=50)
    other = replace(result, draws={"W1": result.draws["W1"]})
    with pytest.raises(ValueError, match="coordinates differ"):
        mode_coverage(other, reference)


def test_stuck_chains_are_separate_modes_without_warnings():
    """Chains constant within but not across: R-hat is infinite, not an error."""
    centres = [canonical_point(0)] * 2 + [canonical_point(1)] * 2
    stuck = make_result(centres, None)
    frozen = jax.tree_util.tree_map(
        lambda leaf: np.broadcast_to(leaf[:, :1], leaf.shape), stuck.draws
    )
    result = replace(stuck, draws=frozen, raw_draws=None)
    diagnostics = diagnose(result)  # warnings are errors in this test suite
    assert diagnostics.canonical.modes.count == 4
    assert np.isinf(diagnostics.canonical.rhat_max)


def test_more_chains_than_draws_is_a_normal_run():
    """Many short vmapped chains: no arviz guess that the axes are swapped."""
    result = make_result([canonical_point(0)] * 12, None)
    short = replace(
        result,
        draws=jax.tree_util.tree_map(lambda leaf: leaf[:, :6], result.draws),
        raw_draws=jax.tree_util.tree_map(lambda leaf: leaf[:, :6], result.raw_draws),
        sample_stats={"diverging": np.zeros((12, 6), bool)},
    )
    diagnostics = diagnose(short)  # warnings are errors in this test suite
    assert diagnostics.num_chains == 12
    posterior = az.convert_to_dataset(short.to_inference_data())
    assert posterior["W1"].shape[:2] == (12, 6)


@pytest.mark.parametrize(
    ("chains", "draws"), [(2, 4), (2, 9), (3, 50), (4, 101), (8, 16)]
)
def test_vectorised_rank_rhat_equals_arviz(chains, draws):
    """The pairwise mode graph's R-hat is arviz's rank R-hat, entry by entry."""
    rng = np.random.default_rng(chains * 1000 + draws)
    values = rng.standard_normal((chains, draws, 3, 4))
    values += 0.5 * np.arange(chains)[:, None, None, None]  # unequal chains
    values[..., 0, 0] = np.exp(3 * values[..., 0, 0])  # heavy tail
    values[..., 1, 1] = np.round(values[..., 1, 1])  # ties
    values[:, : draws // 2, 2, 2] += 4.0  # a drift within chains
    expected = az.rhat(az.convert_to_dataset({"x": values}), method="rank")["x"]
    np.testing.assert_allclose(_rank_rhat(values), expected.values, rtol=1e-12)
    assert np.all(np.isnan(_rank_rhat(values[:, :3])))  # < 4 draws, as arviz


def test_unseen_mode_mass_per_space(copies, two_modes):
    """One mode over 8 chains: nothing unseen; raw copies: every chain alone."""
    _, one = copies
    assert one.canonical.unseen.good_turing == 0.0
    assert one.canonical.unseen.num_chains == CHAINS
    assert one.raw.unseen.good_turing == 1.0
    summary = one.summary()
    assert summary["unseen_mass_canonical"] == 0.0
    assert summary["unseen_mass_raw"] == 1.0
    assert summary["chao1_canonical"] == 1.0
    assert 0.0 < summary["unseen_mass_high_canonical"] < 0.5
    _, two = two_modes
    assert two.canonical.unseen.num_modes == 2
    assert all(mode.settled for mode in two.canonical.modes.modes)


def test_relabel_with_one_pivot_per_canonical_mode(two_modes):
    """Mode-aware relabelling: chains of a mode share a pivot and a labelling."""
    result, diagnostics = two_modes
    relabelled = relabel(result.raw_draws, SYMMETRY, modes=diagnostics.canonical.modes)
    assert jax.tree_util.tree_leaves(relabelled.pivots)[0].shape[0] == 2
    values, _ = flatten_draws(jax.tree_util.tree_map(np.asarray, relabelled.draws))
    for mode in diagnostics.canonical.modes.modes:
        chains = list(mode.chains)
        assert _rank_rhat(values[chains]).max() < 1.01
    with pytest.raises(ValueError, match="modes must be a Modes object"):
        relabel(result.raw_draws, SYMMETRY, modes=np.zeros(3, dtype=int))
