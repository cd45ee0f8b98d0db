"""The bias of unadjusted MCLMC on a BNN, in Monte Carlo standard errors of NUTS.

Unadjusted MCLMC (:class:`symbayes.kernels.MCLMC`) has no Metropolis
correction; its stationary law is off the posterior by an amount that
shrinks with the step size. This script measures it where BNN users see it,
in predictions, against symbayes NUTS (exact) on the same problem and the
same initial points:

* the **posterior predictive mean** ``E[f(x_i)]`` at every test input: the
  difference MCLMC - NUTS divided by ``sqrt(MCSE_mclmc^2 + MCSE_nuts^2)``
  (MCSE = sd / sqrt(bulk ESS) of ``f(x_i)`` over the draws, arviz), i.e. a
  z-score per test point (about N(0, 1) if there is no bias);
* the **test log predictive density** ``mean_i log E[p(y_i | theta)]``:
  the difference with its MCSE by the delta method per point
  (``MCSE(p_i) / E[p_i]``), aggregated as if the points' errors were fully
  correlated (the mean of the per-point MCSEs: conservative, so the z-score
  is a lower bound of the bias in MCSE units).

Each MCLMC setting, a pair of ``desired_energy_var`` (the tuner's target
energy error; smaller: smaller step, less bias) and ``l_factor`` (the
tuner's ``L = l_factor * step * tau``), is one row. Every run also reports
its speed: the minimum bulk ESS of the predictive means over the test inputs
(function-space ESS) per second of warmup + sampling, compilation excluded,
and its ratio to numpyro NUTS (``chain_method="sequential"``, its fast CPU
mode; same initial points, compilation subtracted as in ``run.py``), so bias
and speed come from the same runs. Results:
``benchmarks/results/mclmc_bias_<problem>.json``.

Run (from the repository root)::

    python benchmarks/mclmc_bias.py --problem bnn-1-3-1-tanh-sinusoidal
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
jax.config.update("jax_compilation_cache_dir", str(HERE / "cache" / "jax"))

import peers  # noqa: E402
from run import initial_points, make_problem  # noqa: E402

from symbayes import sample  # noqa: E402


def _ess(values: np.ndarray) -> np.ndarray:
    """Bulk ESS of ``(chain, draw, k)`` values, per ``k``."""
    dataset = az.convert_to_dataset({"x": values})
    return np.asarray(az.ess(dataset, method="bulk")["x"].values)


def predictive(problem, draws: dict) -> tuple[np.ndarray, np.ndarray]:
    """``f(x_i)`` and ``p(y_i | theta)`` per draw: two ``(chain, draw, n_test)``."""
    X = jnp.asarray(problem.dataset.X_test)
    y = jnp.asarray(problem.dataset.y_test)

    @jax.jit
    def one(params):
        mean = problem.model.apply(params, X)[:, 0]
        sigma = jnp.exp(params["log_noise"])
        log_p = -0.5 * ((y - mean) / sigma) ** 2 - jnp.log(sigma)
        return mean, jnp.exp(log_p - 0.5 * math.log(2 * math.pi))

    flat = jax.tree_util.tree_map(
        lambda x: jnp.asarray(x).reshape(-1, *np.shape(x)[2:]), draws
    )
    means, densities = jax.lax.map(one, flat)
    shape = np.shape(draws["log_noise"])[:2]
    return (
        np.asarray(means, np.float64).reshape(*shape, -1),
        np.asarray(densities, np.float64).reshape(*shape, -1),
    )


def summary(problem, draws: dict) -> dict:
    means, densities = predictive(problem, draws)
    flat_means = means.reshape(-1, means.shape[-1])
    flat_dens = densities.reshape(-1, densities.shape[-1])
    mean_mcse = flat_means.std(axis=0) / np.sqrt(_ess(means))
    dens_mean = flat_dens.mean(axis=0)
    dens_mcse = flat_dens.std(axis=0) / np.sqrt(_ess(densities))
    return {
        "pred_ess_min": float(np.min(_ess(means))),
        "pred_mean": flat_means.mean(axis=0),
        "pred_mean_mcse": mean_mcse,
        "test_lpd": float(np.mean(np.log(dens_mean))),
        "test_lpd_mcse": float(np.mean(dens_mcse / dens_mean)),
    }


def _seconds(result) -> float:
    return result.timings.warmup_seconds + result.timings.sampling_seconds


def _speed(ess: float, seconds: float, baseline: float) -> dict:
    return {
        "pred_ess_min": ess,
        "seconds": seconds,
        "ess_per_second": ess / seconds,
        "ess_per_second_vs_numpyro": ess / seconds / baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="bnn-1-3-1-tanh-sinusoidal")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--thinning", type=int, default=10, help="MCLMC only")
    parser.add_argument(
        "--energy-vars", type=float, nargs="+", default=[5e-4, 1e-4, 5e-5]
    )
    parser.add_argument(
        "--l-factors", type=float, nargs="+", default=[0.4], help="MCLMC l_factor"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output", type=Path, help="default results/mclmc_bias_<problem>.json"
    )
    args = parser.parse_args()
    problem = make_problem(args.problem)
    init = initial_points(problem, args.chains, args.seed)
    common = {
        "data": problem.data,
        "num_chains": args.chains,
        "num_samples": args.samples,
        "key": args.seed + 1,
        "progress_bar": False,
    }
    start = time.perf_counter()
    numpyro = peers.run_numpyro(
        problem.model,
        problem.data,
        init,
        warmup=args.warmup,
        samples=args.samples,
        seed=args.seed + 1,
        chain_method="sequential",
    )
    numpyro_seconds = numpyro["seconds"]["warmup"] + numpyro["seconds"]["sampling"]
    numpyro_ess = summary(problem, numpyro["draws"])["pred_ess_min"]
    baseline = numpyro_ess / numpyro_seconds
    nuts = sample(problem.model, init, num_warmup=args.warmup, **common)
    reference = summary(problem, nuts.draws)
    speeds = {
        "numpyro_nuts_sequential": _speed(numpyro_ess, numpyro_seconds, baseline),
        "symbayes_nuts": _speed(reference["pred_ess_min"], _seconds(nuts), baseline),
    }
    print(speeds, flush=True)
    rows = []
    settings = [(e, f) for e in args.energy_vars for f in args.l_factors]
    for energy_var, l_factor in settings:
        result = sample(
            problem.model,
            init,
            kernel="mclmc",
            desired_energy_var=energy_var,
            l_factor=l_factor,
            num_warmup=args.warmup * args.thinning,
            thinning=args.thinning,
            **common,
        )
        mine = summary(problem, result.draws)
        z_mean = (mine["pred_mean"] - reference["pred_mean"]) / np.sqrt(
            mine["pred_mean_mcse"] ** 2 + reference["pred_mean_mcse"] ** 2
        )
        lpd_error = mine["test_lpd"] - reference["test_lpd"]
        lpd_mcse = math.hypot(mine["test_lpd_mcse"], reference["test_lpd_mcse"])
        rows.append(
            {
                "desired_energy_var": energy_var,
                "l_factor": l_factor,
                "L_mean": float(np.mean(result.adaptation["L"])),
                "step_size_mean": float(np.mean(result.adaptation["step_size"])),
                "test_lpd": mine["test_lpd"],
                "test_lpd_minus_nuts": lpd_error,
                "test_lpd_z": lpd_error / lpd_mcse,
                "pred_mean_z_median_abs": float(np.median(np.abs(z_mean))),
                "pred_mean_z_max_abs": float(np.max(np.abs(z_mean))),
                "pred_mean_share_abs_z_over_2": float(np.mean(np.abs(z_mean) > 2)),
                "divergences": int(result.num_divergences),
                **_speed(mine["pred_ess_min"], _seconds(result), baseline),
            }
        )
        print(rows[-1], flush=True)
    report = {
        "benchmark": "mclmc_bias",
        "problem": args.problem,
        "command": " ".join(sys.argv),
        "sizes": {
            "chains": args.chains,
            "nuts": f"{args.warmup} warmup + {args.samples} draws",
            "mclmc": (
                f"{args.warmup * args.thinning} warmup + {args.samples} draws x "
                f"thinning {args.thinning}"
            ),
        },
        "speed": "min bulk ESS of the test predictive means per second of "
        "warmup + sampling (compilation excluded); ratio to numpyro NUTS",
        "load_average": list(os.getloadavg()),
        **speeds,
        "nuts_test_lpd": reference["test_lpd"],
        "nuts_test_lpd_mcse": reference["test_lpd_mcse"],
        "rows": rows,
        "seconds": time.perf_counter() - start,
    }
    path = args.output or HERE / "results" / f"mclmc_bias_{args.problem}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
