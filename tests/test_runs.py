"""Runs: chunking, checkpoint/resume, arviz and netCDF, numpyro models."""

from __future__ import annotations

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
import targets

import symbayes.checkpoint
from symbayes import Symmetry, load_result, sample
from symbayes.kernels import NUTS
from symbayes.models import MLP, NumpyroModel, site_axis

RUN = dict(num_chains=3, num_warmup=30, num_samples=40, key=7, progress_bar=False)


def run(**overrides):
    arguments = dict(RUN)
    arguments.update(overrides)
    return sample(
        targets.logdensity, targets.initial_params(3), targets.SYMMETRY, **arguments
    )


def assert_same_draws(first, second):
    for name in first.draws:
        np.testing.assert_array_equal(first.draws[name], second.draws[name])
    for name in first.sample_stats:
        np.testing.assert_array_equal(
            first.sample_stats[name], second.sample_stats[name]
        )


@pytest.fixture(scope="module")
def reference():
    return run(chunk_size=70)


def test_chunking_does_not_change_the_draws(reference):
    chunked = run(chunk_size=8)
    assert_same_draws(reference, chunked)
    assert reference.draws["z"].shape == (3, 40, 2)


def test_interrupted_run_resumes_draw_for_draw(tmp_path, monkeypatch, reference):
    """Kill the run after 5 chunks (inside the loop), resume, compare."""
    original = symbayes.checkpoint.Checkpoint.save_chunk
    calls = {"count": 0}

    def save_then_maybe_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["count"] += 1
        if calls["count"] == 5:
            raise KeyboardInterrupt("simulated kill")

    folder = tmp_path / "run"
    monkeypatch.setattr(
        symbayes.checkpoint.Checkpoint, "save_chunk", save_then_maybe_die
    )
    with pytest.raises(KeyboardInterrupt):
        run(chunk_size=8, checkpoint=folder)
    monkeypatch.undo()
    resumed = run(chunk_size=8, checkpoint=folder)
    assert_same_draws(reference, resumed)
    # a finished checkpoint resumes to the same result again
    assert_same_draws(reference, run(chunk_size=8, checkpoint=folder))
    # a different run is refused
    with pytest.raises(ValueError, match="belongs to a different run"):
        run(chunk_size=8, checkpoint=folder, key=8)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        run(chunk_size=8, checkpoint=blocker)


def test_thinning_keeps_every_kth_transition(reference):
    thinned = run(chunk_size=70, num_samples=20, thinning=2)
    # transition t uses the key fold_in(key, t): thinned draws are a subset
    np.testing.assert_array_equal(
        thinned.sample_stats["energy"], reference.sample_stats["energy"][:, 1::2]
    )


def test_inference_data_and_netcdf_round_trip(tmp_path, reference):
    data = reference.to_inference_data()
    posterior = az.convert_to_dataset(data, group="posterior")
    assert set(posterior.data_vars) == {"a", "c", "u", "z"}
    assert posterior["z"].shape == (3, 40, 2)
    raw = az.convert_to_dataset(data, group="raw_posterior")
    assert raw["a"].shape == (3, 40, 2)
    stats = az.convert_to_dataset(data, group="sample_stats")
    assert {"diverging", "acceptance_rate", "num_grad_evals", "step_size"} <= set(
        stats.data_vars
    )
    path = reference.save(tmp_path / "run.nc")
    loaded = load_result(path)
    for name in reference.draws:
        np.testing.assert_array_equal(loaded.draws[name], reference.draws[name])
        np.testing.assert_array_equal(loaded.raw_draws[name], reference.raw_draws[name])
    assert loaded.config["kernel"] == "nuts"
    assert loaded.timings == reference.timings
    np.testing.assert_allclose(
        loaded.adaptation["step_size"], reference.adaptation["step_size"], rtol=1e-6
    )
    with pytest.raises(FileNotFoundError, match="no result file"):
        load_result(tmp_path / "missing.nc")


def test_result_reports_timings_and_gradients(reference):
    timings = reference.timings
    assert timings.warmup_seconds > 0 and timings.sampling_seconds > 0
    assert timings.num_grad_evals >= reference.sample_stats["num_grad_evals"].sum()
    assert "nuts / none: 3 chains x 40 draws" in reference.summary()


# --------------------------------------------------------------------- numpyro
def tanh_bnn(X, y=None):
    W1 = numpyro.sample("W1", dist.Normal(0, 1).expand([1, 2]).to_event(2))
    b1 = numpyro.sample("b1", dist.Normal(0, 1).expand([2]).to_event(1))
    W2 = numpyro.sample("W2", dist.Normal(0, 1).expand([2, 1]).to_event(2))
    b2 = numpyro.sample("b2", dist.Normal(0, 1).expand([1]).to_event(1))
    mean = (jnp.tanh(X @ W1 + b1) @ W2 + b2)[:, 0]
    numpyro.sample("y", dist.Normal(mean, 0.1), obs=y)


def test_numpyro_bnn_matches_the_pytree_model():
    """Same posterior through numpyro sites and through the MLP pytree.

    A 1-2-1 teacher with well-separated units and 100 points makes the
    canonical posterior unimodal around the teacher; every chain of both runs
    starts at the teacher. Pooled canonical means must agree:
    |difference| < 4 sqrt(MCSE_1^2 + MCSE_2^2) per coordinate (false-failure
    rate about 6e-5 per bound, 7 bounds).
    """
    rng = np.random.default_rng(3)
    teacher = {
        "W1": np.array([[2.0, -1.5]]),
        "b1": np.array([1.0, -0.5]),
        "W2": np.array([[1.5], [1.0]]),
        "b2": np.array([0.2]),
    }
    X = rng.uniform(-2.0, 2.0, (100, 1))
    mean = np.tanh(X @ teacher["W1"] + teacher["b1"]) @ teacher["W2"] + teacher["b2"]
    y = mean[:, 0] + 0.1 * rng.standard_normal(100)
    X, y = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)
    axis = site_axis(
        "hidden",
        2,
        [("W1", 1, "in"), ("b1", 0, "in"), ("W2", 0, "out")],
        groups=("permutation", "sign"),
    )
    numpyro_model = NumpyroModel(tanh_bnn, Symmetry((axis,)), X, y=y)
    mlp = MLP((1, 2, 1), "tanh", noise=0.1)
    init = {
        k: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (4, *v.shape))
        for k, v in teacher.items()
    }
    settings = dict(num_chains=4, num_warmup=300, num_samples=600, progress_bar=False)
    via_numpyro = sample(numpyro_model, init, key=1, **settings)
    via_pytree = sample(mlp, init, data=(X, y), key=2, **settings)
    for name in ("W1", "b1", "W2", "b2"):
        first = np.asarray(via_numpyro.draws[name]).reshape(4, 600, -1)
        second = np.asarray(via_pytree.draws[name]).reshape(4, 600, -1)
        errors = []
        for draws in (first, second):
            ess = az.ess(az.convert_to_dataset({"x": draws}))["x"].values
            errors.append(draws.std(axis=(0, 1)) / np.sqrt(ess))
        difference = np.abs(first.mean(axis=(0, 1)) - second.mean(axis=(0, 1)))
        assert np.all(difference < 4 * np.hypot(*errors)), name


# ------------------------------------------------------------ chain methods
def test_chain_methods_give_the_same_draws(reference):
    """lax.map over chains and vmap: the same keys, the same transitions.

    Floating point may reassociate differently under vmap, and NUTS is
    chaotic: after warmup a last-digit difference in the adapted step size
    gives other trajectories. With a fixed step size and metric the draws
    agree to rounding.
    """
    fixed = dict(
        num_warmup=0, num_samples=15, step_size=0.3, inverse_mass_matrix=np.ones(9)
    )
    vectorized = run(chain_method="vectorized", **fixed)
    sequential = run(chain_method="sequential", **fixed)
    for name in reference.draws:
        np.testing.assert_allclose(
            vectorized.draws[name], sequential.draws[name], rtol=1e-4, atol=1e-4
        )
    np.testing.assert_array_equal(
        vectorized.sample_stats["num_grad_evals"],
        sequential.sample_stats["num_grad_evals"],
    )


def test_a_second_call_compiles_nothing(reference):
    """Compiled runners are cached: same model, sizes and settings, no new XLA build."""
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        again = run(chunk_size=70)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert_same_draws(reference, again)
    assert compiles == []
    assert again.timings.compile_seconds == 0.0


# after the cache test: these runs fill the runner cache
@pytest.mark.parametrize("quotient", ["none", "fold"])
def test_desynchronised_nuts_gives_the_lockstep_draws(quotient):
    """Vmapped NUTS one leapfrog step at a time: blackjax's draws.

    With a fixed step size and metric the draws, stats and gradient counts
    are equal, over several chunks, with thinning and ``fold``'s
    post-transition map.
    """
    options = dict(
        chain_method="vectorized",
        chunk_size=8,
        thinning=2,
        quotient=quotient,
        num_warmup=0,
    )
    fixed = dict(step_size=0.3, inverse_mass_matrix=np.ones(9))
    machine = run(kernel=NUTS(desynchronise=True, **fixed), **options)
    lockstep = run(kernel=NUTS(desynchronise=False, **fixed), **options)
    assert_same_draws(machine, lockstep)


def test_desynchronised_nuts_warms_up_as_in_lockstep():
    """Through a warmup with a slow window (its end restarts the step size).

    The draws agree to rounding: the adaptation's arithmetic is fused
    differently, and NUTS would amplify a last-digit difference over a
    longer warmup (see the chain-method test above).
    """
    options = dict(chain_method="vectorized", chunk_size=8, num_warmup=20)
    machine = run(kernel=NUTS(desynchronise=True), **options)
    lockstep = run(kernel=NUTS(desynchronise=False), **options)
    for name in lockstep.draws:
        np.testing.assert_allclose(
            machine.draws[name], lockstep.draws[name], rtol=1e-2, atol=1e-2
        )
    np.testing.assert_allclose(
        machine.adaptation["step_size"], lockstep.adaptation["step_size"], rtol=1e-3
    )
    grads = machine.timings.num_grad_evals, lockstep.timings.num_grad_evals
    assert abs(grads[0] - grads[1]) <= 0.01 * grads[1]
