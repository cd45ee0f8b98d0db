"""Checks before sampling: declared symmetries, keys, memory, checkpoints, progress.

Every bad input is refused with a message naming the problem before any
sampling starts (the checks compile at most one small function).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import targets

from symbayes import AxisEntry, HiddenAxis, Symmetry, SymmetryError, sample
from symbayes.datasets import make_sinusoidal
from symbayes.models import MLP

DATA = make_sinusoidal(24, seed=0)
XY = (DATA.X_train, DATA.y_train)
TINY = dict(num_chains=2, num_warmup=5, num_samples=5, key=0, progress_bar=False)


def mlp_symmetry(entries, groups=("permutation", "sign"), size=3):
    return Symmetry((HiddenAxis("hidden_1", size, entries, groups=groups),))


def test_a_symmetry_on_the_wrong_array_axis_is_refused():
    """W1 is (1, 3): declaring its axis 0 fails validation outright; with
    d_in == hidden the shapes fit, and only the log density can tell."""
    model = MLP((3, 3, 1), "tanh")
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = np.sin(X.sum(axis=1)).astype(np.float32)
    wrong = mlp_symmetry(
        (AxisEntry("W1", 0, "in"), AxisEntry("b1", 0, "in"), AxisEntry("W2", 0, "out"))
    )
    with pytest.raises(SymmetryError, match="axis 'hidden_1', group 'permutation'"):
        sample(model, symmetry=wrong, data=(X, y), **TINY)


def test_an_axis_that_leaves_out_a_leaf_is_refused():
    model = MLP((1, 3, 1), "tanh")
    partial = mlp_symmetry((AxisEntry("W1", 1, "in"), AxisEntry("b1", 0, "in")))
    with pytest.raises(SymmetryError, match="is not a posterior symmetry"):
        sample(model, symmetry=partial, data=XY, **TINY)


def test_scale_declared_on_a_tanh_network_is_refused():
    model = MLP((1, 3, 1), "tanh")
    axis = model.symmetry.axes[0]
    scaled = Symmetry(
        (dataclasses.replace(axis, groups=("permutation", "sign", "scale")),)
    )
    with pytest.raises(SymmetryError, match="declares 'scale'.*not a function"):
        sample(model, symmetry=scaled, data=XY, **TINY)


def test_the_check_can_be_switched_off():
    model = MLP((1, 3, 1), "tanh")
    partial = mlp_symmetry((AxisEntry("W1", 1, "in"), AxisEntry("b1", 0, "in")))
    result = sample(model, symmetry=partial, data=XY, check_symmetry=False, **TINY)
    assert result.num_draws == 5


def test_key_none_draws_a_fresh_seed_and_records_it():
    arguments = dict(TINY, key=None)
    first = sample(
        targets.logdensity, targets.initial_params(2), targets.SYMMETRY, **arguments
    )
    second = sample(
        targets.logdensity, targets.initial_params(2), targets.SYMMETRY, **arguments
    )
    assert first.config["seed"] != second.config["seed"]
    assert not np.array_equal(first.draws["z"], second.draws["z"])
    again = sample(
        targets.logdensity,
        targets.initial_params(2),
        targets.SYMMETRY,
        **dict(TINY, key=first.config["seed"]),
    )
    np.testing.assert_array_equal(again.draws["z"], first.draws["z"])


def test_a_run_too_large_for_memory_is_refused_before_anything_is_drawn():
    model = MLP((1, 3, 1), "tanh")
    with pytest.raises(ValueError, match=r"needs about .* available; use fewer chains"):
        sample(model, data=XY, num_chains=5_000_000_000, progress_bar=False, key=0)


def test_nan_in_the_log_density_reads_as_nan():
    def logdensity(params):
        return jnp.where(params["z"][0] > 5.0, jnp.nan, targets.logdensity(params))

    init = targets.initial_params(2)
    init["z"] = init["z"].at[1, 0].set(10.0)
    with pytest.raises(ValueError, match=r"chain\(s\) \[1\] \(values \[nan\]\)"):
        sample(logdensity, init, targets.SYMMETRY, **TINY)


def test_a_checkpoint_of_another_model_or_data_is_refused(tmp_path):
    folder = tmp_path / "run"
    model = MLP((1, 3, 1), "tanh")
    sample(model, data=XY, checkpoint=folder, **TINY)
    other = make_sinusoidal(24, seed=1)
    with pytest.raises(ValueError, match="the data differ"):
        sample(model, data=(other.X_train, other.y_train), checkpoint=folder, **TINY)
    with pytest.raises(ValueError, match="the model.* differ"):
        sample(
            MLP((1, 3, 1), "tanh", prior_scale=2.0), data=XY, checkpoint=folder, **TINY
        )


def test_the_progress_bar_reports_every_transition(capsys):
    result = sample(
        targets.logdensity,
        targets.initial_params(2),
        targets.SYMMETRY,
        num_chains=2,
        num_warmup=40,
        num_samples=40,
        key=0,
        progress_bar=True,
    )
    assert result.num_draws == 40
    assert "nuts/none" in capsys.readouterr().err


def test_initial_points_are_drawn_for_many_chains_at_once():
    model = MLP((1, 3, 1), "tanh")
    from symbayes.samplers import _initial_params, _problem

    info = _problem(model, None, XY, None)
    params = _initial_params(info, None, 4000, jax.random.key(0))
    assert params["W1"].shape == (4000, 1, 3)
    # independent prior draws per chain (float32 may repeat a value or two)
    assert np.unique(np.asarray(params["b1"][:, 0])).size > 3990


def test_bad_data_is_named_before_any_compilation():
    X = np.array(DATA.X_train, copy=True)
    X[3, 0] = np.nan
    with pytest.raises(ValueError, match=r"X .*NaN at row 3"):
        sample(MLP((1, 3, 1), "tanh"), data=(X, DATA.y_train), **TINY)
    bernoulli = MLP((1, 3, 1), "tanh", likelihood="bernoulli")
    with pytest.raises(ValueError, match="y"):
        sample(bernoulli, data=XY, **TINY)
