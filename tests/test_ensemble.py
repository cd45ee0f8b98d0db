"""Ensemble initialisation: optima, canonical duplicates, re-draws, bad inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import targets

import symbayes
from symbayes.ensemble import canonical_modes, ensemble_init
from symbayes.symmetry import SymmetryError


def bimodal_logdensity(params: dict) -> jax.Array:
    """The test target with z[0] made bimodal (modes near +-2): two canonical modes."""
    z0 = params["z"][0]
    return targets.logdensity(params) - 0.5 * (z0**2 - 4.0) ** 2


def starts(signs: list[float]) -> dict:
    params = targets.initial_params(len(signs))
    z = params["z"].at[:, 0].set(jnp.asarray(signs))
    return {**params, "z": z}


def test_symmetric_copies_are_one_canonical_mode():
    """Exact draws sit in different sign/permutation copies: one mode after all."""
    result = ensemble_init(
        targets.logdensity, targets.initial_params(4), targets.SYMMETRY, num_steps=1000
    )
    a = np.asarray(result.params["a"])
    # raw optima differ (signs of the mixture units) ...
    assert np.unique(np.sign(a), axis=0).shape[0] > 1
    # ... at the MAP: |a| = AC_MEAN[0], up to Adam's tolerance
    np.testing.assert_allclose(np.abs(a), targets.AC_MEAN[0], atol=2e-2)
    assert result.num_modes == 1
    np.testing.assert_array_equal(result.duplicates, [False, True, True, True])


def test_distinct_modes_are_told_apart():
    result = ensemble_init(
        bimodal_logdensity,
        starts([1.0, -1.0, 1.5, -1.5]),
        targets.SYMMETRY,
        num_steps=1000,
    )
    np.testing.assert_array_equal(result.modes, [0, 1, 0, 1])
    np.testing.assert_array_equal(result.duplicates, [False, False, True, True])
    assert np.all(np.isfinite(result.logdensity))


def test_duplicates_are_redrawn():
    def redraw(key):
        # a fresh start in the negative mode of z[0]
        params = jax.tree_util.tree_map(lambda x: x[0], starts([-1.0]))
        noise = jax.random.normal(key, params["u"].shape)
        return {**params, "u": params["u"] + noise}

    result = ensemble_init(
        bimodal_logdensity,
        starts([1.0, 1.2]),
        targets.SYMMETRY,
        num_steps=1000,
        redraw=redraw,
        max_redraws=1,
    )
    assert result.num_redraws == 1
    np.testing.assert_array_equal(result.modes, [0, 1])
    assert not result.duplicates.any()


def test_sample_starts_from_an_ensemble():
    from symbayes.datasets import load
    from symbayes.models import MLP

    result = symbayes.sample(
        MLP((1, 2, 1)),
        data=load("sinusoidal"),
        init_params="ensemble",
        num_chains=2,
        num_warmup=0,
        num_samples=10,
        kernel="mclmc",
        L=1.0,
        step_size=0.05,  # fixed: no tuner to compile
        key=0,
        progress_bar=False,
    )
    report = result.config["ensemble"]
    assert report["num_steps"] == 1000 and len(report["modes"]) == 2
    assert report["num_modes"] + report["num_duplicates"] == 2
    assert report["num_grad_evals"] == 1000 * (2 + report["num_redraws"])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_steps": 0}, ValueError, "num_steps"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"max_redraws": 2}, ValueError, "needs redraw="),
        ({"tolerance": 0.0}, ValueError, "tolerance"),
        ({"params": {"z": np.zeros((2, 2))}}, SymmetryError, "do not fit"),
        (
            {"params": {**targets.exact_draws(2), "z": np.full((2, 2), np.nan)}},
            ValueError,
            "NaN",
        ),
        (
            {"params": {**targets.exact_draws(2), "z": np.zeros((3, 2))}},
            ValueError,
            "leading member axis",
        ),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, error, message):
    kwargs = {"params": targets.exact_draws(2), **kwargs}
    with pytest.raises(error, match=message):
        ensemble_init(targets.logdensity, symmetry=targets.SYMMETRY, **kwargs)


def test_sample_refuses_unknown_named_starts_and_bare_ensembles():
    with pytest.raises(ValueError, match='only named start is "ensemble"'):
        symbayes.sample(targets.logdensity, "prior", targets.SYMMETRY, key=0)
    with pytest.raises(ValueError, match="draws members from the prior"):
        symbayes.sample(targets.logdensity, "ensemble", targets.SYMMETRY, key=0)


def test_canonical_modes_of_identical_members():
    params = jax.tree_util.tree_map(
        lambda x: jnp.stack([x[0], x[0]]), targets.initial_params(1)
    )
    np.testing.assert_array_equal(canonical_modes(params, targets.SYMMETRY), [0, 0])
