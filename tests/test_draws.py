"""Draws from anywhere: arviz InferenceData / DataTree, Dataset, dicts, runs.

Everything here is numpy and arviz on tiny arrays; the canonical map of a
1-2-1 tanh MLP is the only compiled code (a few shapes).
"""

from __future__ import annotations

import arviz as az
import jax
import numpy as np
import pytest
import xarray as xr

import symbayes
from symbayes.canonical import canonicalize, relabel
from symbayes.diagnostics import diagnose
from symbayes.draws import as_draws, like_source
from symbayes.models import MLP, site_axis
from symbayes.results import SampleResult, Timings
from symbayes.symmetry import Symmetry

MODEL = MLP((1, 2, 1), "tanh")
CHAINS, DRAWS = 3, 40


def raw_posterior(seed: int = 0) -> dict[str, np.ndarray]:
    """Three chains around one network, each in another copy (label switched)."""
    rng = np.random.default_rng(seed)
    centre = {
        "W1": np.array([[2.0, -1.5]]),
        "b1": np.array([0.5, 2.0]),
        "W2": np.array([[1.5], [1.0]]),
        "b2": np.array([0.3]),
    }
    elements = [
        MODEL.symmetry.random_element(k) for k in jax.random.split(jax.random.key(1), 3)
    ]
    chains = []
    for element in elements:
        moved = jax.tree_util.tree_map(np.asarray, MODEL.symmetry.act(element, centre))
        chains.append(
            {
                name: value + 0.02 * rng.standard_normal((DRAWS, *value.shape))
                for name, value in moved.items()
            }
        )
    return {name: np.stack([c[name] for c in chains]) for name in centre}


@pytest.fixture(scope="module")
def posterior():
    return raw_posterior()


@pytest.fixture(scope="module")
def inference_data(posterior):
    return az.from_dict(
        posterior=posterior,
        sample_stats={"diverging": np.zeros((CHAINS, DRAWS), bool)},
    )


def test_every_input_kind_reads_the_same_draws(posterior, inference_data):
    tree = xr.DataTree.from_dict({"posterior": inference_data.posterior})
    for data, kind in (
        (posterior, "pytree"),
        (inference_data, "inference_data"),
        (tree, "datatree"),
        (inference_data.posterior, "dataset"),
    ):
        read = as_draws(data)
        assert read.kind == kind and not read.canonical and read.raw is None
        assert (read.num_chains, read.num_draws) == (CHAINS, DRAWS)
        for name, value in posterior.items():
            np.testing.assert_array_equal(read.params[name], value)


def test_a_symbayes_run_is_read_as_canonical_with_its_raw_draws(posterior):
    canonical = canonicalize(posterior, MODEL.symmetry, batch_ndim=2)
    result = SampleResult(
        draws=jax.tree_util.tree_map(np.asarray, canonical),
        raw_draws=posterior,
        sample_stats={},
        timings=Timings(0.0, 0.0, 0.0, 0.0, 0),
        config={"quotient": "none"},
        symmetry=MODEL.symmetry,
    )
    for data in (result, result.to_inference_data()):
        read = as_draws(data)
        assert read.canonical
        np.testing.assert_allclose(read.raw["W1"], posterior["W1"])
        np.testing.assert_allclose(read.params["b1"], np.asarray(canonical["b1"]))


def test_diagnose_raw_draws_from_inference_data_and_dict(posterior, inference_data):
    """Raw draws in three copies: raw R-hat high, canonical one mode."""
    from_idata = diagnose(inference_data, symmetry=MODEL.symmetry)
    from_dict = diagnose(posterior, symmetry=MODEL.symmetry)
    for report in (from_idata, from_dict):
        assert report.raw is not None and report.raw.rhat_max > 2.0
        assert report.canonical.rhat_max < 1.1
        assert report.canonical.modes.count == 1
        assert report.raw.modes.count == CHAINS
        assert report.summary()["unseen_mass_raw"] == 1.0
    np.testing.assert_allclose(from_idata.canonical.rhat, from_dict.canonical.rhat)


def test_symmetry_declared_on_variable_names_as_numpyro_sites(posterior):
    axis = site_axis(
        "hidden",
        2,
        [("W1", 1, "in"), ("b1", 0, "in"), ("W2", 0, "out")],
        groups=("permutation", "sign"),
    )
    by_sites = diagnose(posterior, symmetry=Symmetry((axis,)))
    by_model = diagnose(posterior, model=MODEL)  # the bundled model's symmetry
    np.testing.assert_allclose(by_sites.canonical.rhat, by_model.canonical.rhat)


def test_canonicalize_and_relabel_return_the_kind_they_were_given(
    posterior, inference_data
):
    canonical = canonicalize(inference_data, MODEL.symmetry)
    assert isinstance(canonical, type(inference_data))
    assert {"posterior", "raw_posterior", "sample_stats"} <= set(canonical.groups())
    np.testing.assert_array_equal(canonical.raw_posterior["W1"], posterior["W1"])
    expected = canonicalize(posterior, MODEL.symmetry, batch_ndim=2)
    np.testing.assert_allclose(canonical.posterior["b1"], np.asarray(expected["b1"]))
    assert np.all(canonical.posterior["b1"].values >= 0)
    relabelled = relabel(inference_data, MODEL.symmetry)
    assert isinstance(relabelled.draws, type(inference_data))
    assert relabelled.draws.posterior["W1"].shape == posterior["W1"].shape
    tree = xr.DataTree.from_dict({"posterior": inference_data.posterior})
    out = canonicalize(tree, MODEL.symmetry)
    assert isinstance(out, xr.DataTree)
    assert set(out.children) == {"posterior", "raw_posterior"}
    dataset = canonicalize(inference_data.posterior, MODEL.symmetry)
    assert isinstance(dataset, xr.Dataset)
    np.testing.assert_allclose(dataset["b1"], np.asarray(expected["b1"]))


def test_like_source_keeps_dimension_order(posterior):
    """A variable stored (draw, chain, ...) keeps that order when rewritten."""
    dataset = az.convert_to_dataset(posterior)
    dataset["b1"] = dataset["b1"].transpose("draw", "chain", ...)
    read = as_draws(dataset)
    assert read.params["b1"].shape == (CHAINS, DRAWS, 2)
    out = like_source(read, {k: v * 0 for k, v in read.params.items()})
    assert out["b1"].dims[:2] == ("draw", "chain")
    assert float(np.abs(out["b1"]).sum()) == 0.0


def test_bad_inputs_name_the_variable(posterior, inference_data):
    with pytest.raises(ValueError, match="group 'prior'"):
        as_draws(inference_data, group="prior")
    with pytest.raises(ValueError, match=r"variable\(s\) \['W9'\]"):
        as_draws(inference_data, var_names=["W9"])
    with pytest.raises(ValueError, match=r"variable\(s\) \['b2'\] of the draws"):
        as_draws({**posterior, "b2": np.zeros(3)})
    with pytest.raises(ValueError, match="disagree on the leading"):
        as_draws({**posterior, "b2": np.zeros((CHAINS, DRAWS + 1, 1))})
    bad = az.convert_to_dataset(posterior).rename({"draw": "sample"})
    with pytest.raises(ValueError, match="without draw"):
        as_draws(bad)
    with pytest.raises(TypeError, match="got int"):
        as_draws(3)
    missing = {k: v for k, v in posterior.items() if k != "W2"}
    with pytest.raises(ValueError, match="axis 'hidden_1' names variable 'W2'"):
        diagnose(missing, symmetry=MODEL.symmetry)
    short = {**posterior, "b1": posterior["b1"][..., :1]}
    with pytest.raises(ValueError, match="variable 'b1' has per-draw shape"):
        diagnose(short, symmetry=MODEL.symmetry)
    with pytest.raises(ValueError, match="pass symmetry="):
        diagnose(posterior)
    with pytest.raises(ValueError, match="at least 2 chains"):
        diagnose({k: v[:1] for k, v in posterior.items()}, symmetry=MODEL.symmetry)
    with pytest.raises(ValueError, match="superchain_ids"):
        diagnose(posterior, symmetry=MODEL.symmetry, superchain_ids=[0, 1])
    with pytest.raises(ValueError, match="unknown mode_rule"):
        diagnose(posterior, symmetry=MODEL.symmetry, mode_rule="kmeans")


def test_the_namespace_people_type():
    assert symbayes.models.MLP is MLP
    assert callable(symbayes.datasets.load)
    assert symbayes.canonical.relabel is relabel
    assert callable(symbayes.diagnostics.unseen_mode_mass)
    assert "models" in dir(symbayes)
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = symbayes.nonsense
