"""SG-MCMC: minibatch stream, step-size rule, cyclical schedules, pSGLD, SGHMC.

Stationary distributions are checked on Bayesian linear regression, whose
posterior is Gaussian in closed form. Each assertion allows 4 Monte Carlo
standard errors (two-sided normal tail 6.3e-5) plus the discretisation bias
the step-size rule bounds: ``safety / 2 = 5%`` variance inflation in the
stiffest direction for the Langevin kernels (2.5% on an sd), and SGHMC's
friction rule, which holds the heat of the gradient noise below 2% of the
temperature (1% on an sd); we allow 5% of an sd on means and 8% on sds.
With 30 such comparisons below (6 runs x 2 means, 2 sds, 1 correlation;
fixed seeds) the false-failure rate is below
30 x 6.3e-5 = 1.9e-3.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_samplers import ess

import symbayes
from symbayes import sample
from symbayes.kernels import (
    PSGHMC,
    PSGLD,
    SGHMC,
    SGLD,
    cyclical_schedule,
    make_kernel,
)
from symbayes.kernels.minibatches import init_stream, next_batch
from symbayes.kernels.schedules import check_schedule
from symbayes.kernels.sg import pilot_steps
from symbayes.symmetry import Symmetry

NUM_DATA = 200
MCSE_BOUND = 4.0
MEAN_BIAS, SD_BIAS = 0.05, 0.08


def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(NUM_DATA, 2)).astype(np.float32)
    X[:, 1] = 0.6 * X[:, 0] + 0.8 * X[:, 1]  # correlated posterior
    y = (X @ np.array([1.0, -2.0]) + rng.normal(size=NUM_DATA)).astype(np.float32)
    precision = X.T @ X + np.eye(2)
    covariance = np.linalg.inv(precision)
    return X, y, covariance @ X.T @ y, covariance


def minibatch_logdensity(params, batch):
    xb, yb = batch
    residual = yb - xb @ params["w"]
    scale = NUM_DATA / xb.shape[0]
    return -0.5 * jnp.sum(params["w"] ** 2) - 0.5 * scale * jnp.sum(residual**2)


def run_regression(kernel, num_samples=2000, **options):
    X, y, _, _ = regression()

    def logdensity(params):
        return minibatch_logdensity(params, (jnp.asarray(X), jnp.asarray(y)))

    return sample(
        logdensity,
        {"w": jnp.zeros(2)},
        Symmetry(()),
        kernel=kernel,
        data=(X, y),
        minibatch_logdensity_fn=minibatch_logdensity,
        batch_size=50,
        num_chains=4,
        num_warmup=400,
        num_samples=num_samples,
        key=0,
        progress_bar=False,
        **options,
    )


def assert_gaussian_posterior(result, label):
    _, _, mean, covariance = regression()
    w = np.asarray(result.draws["w"], np.float64)
    sd = np.sqrt(np.diag(covariance))
    n_eff = ess(w)
    mean_mcse = w.std(axis=(0, 1)) / np.sqrt(n_eff)
    error = np.abs(w.mean(axis=(0, 1)) - mean) - MEAN_BIAS * sd
    assert np.all(error < MCSE_BOUND * mean_mcse), (label, error / mean_mcse)
    # sd of a Gaussian sample: MCSE about sd / sqrt(2 ESS)
    sd_error = np.abs(w.std(axis=(0, 1)) - sd) - SD_BIAS * sd
    assert np.all(sd_error < MCSE_BOUND * sd / np.sqrt(2 * n_eff)), (label, sd_error)
    correlation = np.corrcoef(w.reshape(-1, 2).T)[0, 1]
    expected = covariance[0, 1] / (sd[0] * sd[1])
    # MCSE of a correlation: (1 - rho^2) / sqrt(ESS), plus the bias allowance
    bound = MCSE_BOUND * (1 - expected**2) / np.sqrt(n_eff.min()) + SD_BIAS
    assert abs(correlation - expected) < bound, (label, correlation, expected)


@pytest.mark.parametrize(
    ("kernel", "options"),
    [
        ("sgld", {}),
        ("psgld", {}),
        ("sghmc", {"num_integration_steps": 8}),
        ("psghmc", {"num_integration_steps": 8}),
        ("sgld", {"step_size": cyclical_schedule(400, 0.25)}),
        (
            "sghmc",
            {"step_size": cyclical_schedule(100, 0.25), "num_integration_steps": 8},
        ),
    ],
    ids=["sgld-auto", "psgld-auto", "sghmc-auto", "psghmc-auto", "csgld", "csghmc"],
)
def test_default_step_rule_recovers_the_regression_posterior(kernel, options):
    """The documented defaults (step_size='auto') on a known Gaussian posterior."""
    result = run_regression(kernel, **options)
    assert result.num_divergences == 0
    assert_gaussian_posterior(result, kernel)
    assert np.all(np.asarray(result.adaptation["base_step_size"]) > 0)
    if "step_size" not in options:  # every gradient counted, the pilots' too
        k = make_kernel(kernel, options)
        pilot = 2 * k.pilot_iterations + (4 if k._needs_noise_estimate() else 0)
        per_chain = (400 + 2000) * k._grads_per_move() + pilot + int(k.preconditioned)
        per_chain += len(pilot_steps(400)) * pilot
        assert result.timings.num_grad_evals == 4 * per_chain


def test_cyclical_runs_record_the_cycle_of_every_draw():
    length, exploration = 40, 0.5
    result = run_regression(
        "sgld", num_samples=100, step_size=cyclical_schedule(length, exploration)
    )
    cycle = np.asarray(result.sample_stats["cycle"])
    sampling_steps = length - math.ceil(exploration * length)
    # every kept draw is a sampling-stage draw: 20 per cycle of 40 steps
    np.testing.assert_array_equal(cycle[0], np.arange(100) // sampling_steps)
    # a draw that opens a cycle paid for its exploration stage in gradients
    grads = np.asarray(result.sample_stats["num_grad_evals"])[0]
    assert grads[0] == 1 + math.ceil(exploration * length)
    assert grads[1] == 1


def test_epochs_visit_every_row_once():
    """Batches of an epoch are disjoint and cover n // b * b distinct rows."""
    data = (jnp.arange(10.0),)
    stream = init_stream(jax.random.key(0), 10)
    seen = []
    key = jax.random.key(1)
    for k in range(6):
        batch, stream = next_batch(jax.random.fold_in(key, k), stream, data, 3)
        seen.append(np.asarray(batch[0]))
    first, second = np.concatenate(seen[:3]), np.concatenate(seen[3:])
    assert len(set(first.tolist())) == 9 and len(set(second.tolist())) == 9
    assert int(stream.epoch) == 1


def test_vmapped_batches_shuffle_only_inside_the_epoch_loop():
    """Vmapped over chains, no permutation runs outside the epoch-end loop.

    A per-chain ``lax.cond`` would become a select that sorts every step,
    and a permutation whose key the loop leaves unchanged would be hoisted
    out of the loop by XLA: both put a ``sort`` in the entry computation.
    """
    data = (jnp.arange(64.0),)
    keys = jax.random.split(jax.random.key(0), 4)
    streams = jax.vmap(lambda k: init_stream(k, 64))(keys)

    def step(keys, streams):
        return jax.vmap(lambda k, s: next_batch(k, s, data, 8))(keys, streams)

    hlo = jax.jit(step).lower(keys, streams).compile().as_text()
    entry = hlo[hlo.index("ENTRY") :]
    entry = entry[: entry.index("\n}")]
    assert "while(" in entry
    assert " sort(" not in entry


@pytest.mark.parametrize("kernel", ["psgld", "psghmc"])
def test_fold_ties_the_preconditioner_and_refuses_an_untied_one(kernel):
    """fold is exact with a preconditioner the permutations leave unchanged."""
    import targets
    from test_samplers import run_target

    minibatches = {
        "minibatch_logdensity_fn": lambda params, batch: targets.logdensity(params),
        "data": (np.zeros((4, 1), np.float32),),
        "batch_size": 1,
    }
    with pytest.raises(ValueError, match="tied across units"):
        run_target(kernel, "fold", tie_preconditioner=False, **minibatches)
    result = run_target(kernel, "fold", num_warmup=200, num_samples=200, **minibatches)
    assert result.num_divergences == 0
    a = np.asarray(result.draws["a"])
    assert np.all(np.diff(a, axis=-1) >= 0)


@pytest.mark.parametrize(
    "step_size", [0.0, -1e-3, float("nan"), float("inf"), "big", True]
)
@pytest.mark.parametrize("kernel", ["sgld", "psgld", "sghmc", "psghmc"])
def test_bad_step_sizes_are_refused_before_compiling(kernel, step_size):
    with pytest.raises(ValueError, match="step_size"):
        make_kernel(kernel, {"step_size": step_size})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((1,), "cycle_length"),
        ((2.5,), "cycle_length"),
        ((10, 1.0), "exploration"),
        ((10, -0.1), "exploration"),
        ((10, float("nan")), "exploration"),
        ((10, 0.5, 0.0), "initial"),
        ((10, 0.5, -1.0), "initial"),
        ((10, 0.5, float("inf")), "initial"),
        ((2, 0.6), "no sampling stage"),
    ],
)
def test_bad_cyclical_schedules_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        cyclical_schedule(*arguments)


def test_bad_user_schedules_are_refused_before_sampling():
    for schedule, message in (
        (lambda t: -1e-3 + 0.0 * t, "positive"),
        (lambda t: jnp.nan + 0.0 * t, "positive"),
        (lambda t: jnp.ones(2) * 1e-3, "scalar"),
    ):
        with pytest.raises(ValueError, match=message):
            check_schedule(schedule, (0, 1))
        with pytest.raises(ValueError, match=message):
            run_regression("sgld", num_samples=10, step_size=schedule)


def test_other_bad_options_are_refused():
    for options, message in (
        ({"safety": 0.0}, "safety"),
        ({"batch_size": 0}, "batch_size"),
        ({"pilot_iterations": 0}, "pilot_iterations"),
    ):
        with pytest.raises(ValueError, match=message):
            SGLD(**options)
    for cls in (PSGLD, PSGHMC):
        with pytest.raises(ValueError, match="decay"):
            cls(decay=1.0)
        with pytest.raises(ValueError, match="regularizer"):
            cls(regularizer=0.0)
        with pytest.raises(ValueError, match="tie_preconditioner"):
            cls(tie_preconditioner="yes")
    with pytest.raises(ValueError, match="noise_fraction"):
        SGHMC(noise_fraction=-1.0)


def test_draws_of_each_cycle_go_to_the_mode_tools():
    from symbayes.kernels.cycles import cycle_indices, draws_of_cycle

    result = run_regression("sgld", num_samples=60, step_size=cyclical_schedule(40))
    np.testing.assert_array_equal(cycle_indices(result), [0, 1, 2])
    first = draws_of_cycle(result, 0)
    assert first["w"].shape == (4, 20, 2)
    with pytest.raises(ValueError, match="no draws"):
        draws_of_cycle(result, 7)
    diagnostics = symbayes.diagnose(first, symmetry=Symmetry(()))
    assert diagnostics.canonical.modes is not None


def test_psgld_accumulator_stays_tied_under_fold():
    """The RMSprop accumulator is invariant under the permutations after updates."""
    import targets

    from symbayes.kernels import Target
    from symbayes.quotient import build_quotient
    from symbayes.quotient.ties import is_tied

    template = jax.tree_util.tree_map(lambda x: x[0], targets.initial_params(1))
    quotient = build_quotient("fold", template, targets.SYMMETRY)
    target = Target(
        None,
        lambda params, batch: targets.logdensity(params),
        (jnp.zeros((4, 1)),),
        4,
    )
    for tie, expected in ((True, True), (False, False)):
        transitions = PSGLD(tie_preconditioner=tie).build(
            target, quotient, template, 40
        )
        chain = transitions.init(template, jax.random.key(0))
        for t in range(5):
            chain, _ = transitions.warmup_step(jax.random.key(t), chain, t)
        assert is_tied(chain.accumulator, template, quotient.symmetry) == expected
