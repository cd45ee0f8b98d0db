"""MCLMC's slowest function coordinates and the tuner's ``l_factor``.

For each ``l_factor`` (blackjax's ``L = l_factor * step * tau``), one
MCLMC run of the suite's full size (8 chains x (10000 + 10000) transitions,
every 10th kept, the suite's initial points and keys, so ``l_factor=0.4``
reproduces ``mclmc-none`` of ``run.py``) and, with ``nuts`` among the
settings, symbayes NUTS at 8 x (1000 + 1000). Prints the smallest bulk ESS
over the function coordinates (predictive means at the probe inputs, then
the total log-likelihood, last), the four slowest coordinates, the tuned
``L`` and ESS per second of warmup + sampling (compilation excluded).

Run (from the repository root; settings share a process, one process per
seed)::

    python benchmarks/mclmc_l_factor.py --problem bnn-1-3-1-tanh-sinusoidal \
        --seed 0 --settings 0.4 0.8 1.6 nuts
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import arviz as az
import jax
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
jax.config.update("jax_compilation_cache_dir", str(HERE / "cache" / "jax"))

from run import MCLMC_THINNING, initial_points, make_problem  # noqa: E402

from symbayes import sample  # noqa: E402
from symbayes.diagnostics import function_draws  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="bnn-1-3-1-tanh-sinusoidal")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", nargs="+", default=["0.4", "0.8", "nuts"])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    problem = make_problem(args.problem)
    chains, warmup, samples = 8, 1000, 1000
    init = initial_points(problem, chains, args.seed)
    function = problem.model.function_fn(problem.data)
    rows = []
    for setting in args.settings:
        if setting == "nuts":
            options = {"kernel": "nuts", "num_warmup": warmup}
        else:
            options = {
                "kernel": "mclmc",
                "l_factor": float(setting),
                "num_warmup": warmup * MCLMC_THINNING,
                "thinning": MCLMC_THINNING,
            }
        result = sample(
            problem.model,
            init,
            data=problem.data,
            num_chains=chains,
            num_samples=samples,
            key=args.seed + 1,
            progress_bar=False,
            **options,
        )
        seconds = result.timings.warmup_seconds + result.timings.sampling_seconds
        values = np.asarray(function_draws(function, result.draws))
        ess = az.ess(az.convert_to_dataset({"x": values}), method="bulk")["x"].values
        slowest = np.argsort(ess)[:4]
        row = {
            "setting": setting,
            "seconds": seconds,
            "ess_min_function": float(ess.min()),
            "ess_per_second_function": float(ess.min() / seconds),
            "slowest_coordinates": slowest.tolist(),
            "slowest_ess": ess[slowest].round(1).tolist(),
            "log_likelihood_ess": float(ess[-1]),
            "L_mean": float(np.mean(result.adaptation.get("L", np.nan))),
        }
        rows.append(row)
        print(row, flush=True)
    report = {"problem": args.problem, "seed": args.seed, "rows": rows}
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
