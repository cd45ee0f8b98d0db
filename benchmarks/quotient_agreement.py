"""Does every quotient mode agree with ``none``, or refuse? Small tanh BNN posteriors.

For 1-2-1 and 1-3-1 tanh networks (learned noise) on two bundled 1-D data
sets, every quotient mode samples with NUTS at 8 chains x (1000 warmup +
2000 draws) and is compared with ``none`` on

* the posterior means of the function coordinates (predictions at 16 probe
  inputs and the log-likelihood) and of the log density: the largest
  ``|z| = |mean_q - mean_none| / sqrt(mcse_q^2 + mcse_none^2)`` (bulk ESS);
  the goal is ``|z| < 5``;
* the canonical and function R-hat over chains (goal: canonical < 1.01) and
  the per-chain means of the log density (trapped chains show up there).

A mode that refuses (``reparam`` where the ordering would cut) is recorded
with its reason. Results go to ``results/quotient_agreement.json``.

Run from the repository root: ``.venv/bin/python benchmarks/quotient_agreement.py``
(``--quick``: 4 chains x (300 + 300), a smoke test).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import arviz as az
import jax
import numpy as np
from machine import load_average, machine_info

from symbayes import diagnose, sample
from symbayes.datasets import load
from symbayes.diagnostics import function_draws
from symbayes.models import MLP

RESULTS = Path(__file__).resolve().parent / "results"
PROBLEMS = (
    ("1-2-1", "sinusoidal"),
    ("1-3-1", "sinusoidal"),
    ("1-2-1", "izmailov"),
    ("1-3-1", "izmailov"),
)
MODES = ("none", "fold", "glue", "reparam")


def _ess(values: np.ndarray) -> np.ndarray:
    dataset = az.convert_to_dataset({"x": values})
    return np.asarray(az.ess(dataset, method="bulk")["x"].values)


def _estimates(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and MCSEs of ``(C, N, k)`` values."""
    mean = values.mean(axis=(0, 1))
    mcse = values.std(axis=(0, 1)) / np.sqrt(_ess(values))
    return mean, mcse


def run_problem(layers: str, dataset: str, chains: int, warmup: int, draws: int):
    data = load(dataset)
    xy = (data.X_train, data.y_train)
    sizes = tuple(int(s) for s in layers.split("-"))
    model = MLP(sizes, "tanh", noise=None)
    function = model.function_fn(xy)
    logdensity = model.logdensity_fn(xy)
    init = jax.vmap(lambda k: model.init(k, xy))(
        jax.random.split(jax.random.key(0), chains)
    )
    records = {}
    reference = None
    for mode in MODES:
        start = time.perf_counter()
        try:
            result = sample(
                model,
                init,
                data=xy,
                quotient=mode,
                num_chains=chains,
                num_warmup=warmup,
                num_samples=draws,
                key=1,
                progress_bar=False,
            )
        except ValueError as error:
            records[mode] = {"refused": str(error)}
            print(f"{layers} {dataset} {mode}: refused")
            continue
        wall = time.perf_counter() - start
        values = function_draws(function, result.draws)
        density = function_draws(lambda p: logdensity(p)[None], result.draws)
        values = np.concatenate([values, density], axis=2)
        mean, mcse = _estimates(values)
        diagnostics = diagnose(result, function=function)
        record = {
            "wall_seconds": wall,
            "grad_evals": int(result.timings.num_grad_evals),
            "divergences": result.num_divergences,
            "rhat_max_canonical": float(diagnostics.canonical.rhat_max),
            "rhat_max_function": float(diagnostics.function.rhat_max),
            "modes_canonical": int(diagnostics.canonical.modes.count),
            "modes_function": int(diagnostics.function.modes.count),
            "chain_mean_logdensity": density.mean(axis=1)[:, 0].round(3).tolist(),
            "mean": mean.tolist(),
            "mcse": mcse.tolist(),
        }
        if mode == "none":
            reference = (mean, mcse)
        elif reference is not None:
            z = (mean - reference[0]) / np.sqrt(mcse**2 + reference[1] ** 2)
            record["max_abs_z_function"] = float(np.max(np.abs(z[:-1])))
            record["abs_z_logdensity"] = float(abs(z[-1]))
            record["agrees"] = bool(np.max(np.abs(z)) < 5.0)
        records[mode] = record
        print(
            f"{layers} {dataset} {mode}: {wall:.0f} s, R-hat canonical "
            f"{record['rhat_max_canonical']:.3f}, function "
            f"{record['rhat_max_function']:.3f}, max |z| "
            f"{record.get('max_abs_z_function', float('nan')):.2f} (function) "
            f"{record.get('abs_z_logdensity', float('nan')):.2f} (log density), "
            f"chain means {record['chain_mean_logdensity']}",
            flush=True,
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 x (300 + 300)")
    parser.add_argument(
        "--size",
        nargs=3,
        type=int,
        metavar=("CHAINS", "WARMUP", "DRAWS"),
        help="override the sizes (default 8 1000 2000)",
    )
    parser.add_argument(
        "--problems",
        nargs="*",
        default=[f"{layers} {dataset}" for layers, dataset in PROBLEMS],
        help='e.g. "1-2-1 izmailov"',
    )
    parser.add_argument("--output", default=str(RESULTS / "quotient_agreement.json"))
    args = parser.parse_args()
    chains, warmup, draws = (4, 300, 300) if args.quick else (8, 1000, 2000)
    if args.size:
        chains, warmup, draws = args.size
    output = {
        "machine": machine_info(),
        "load_average_before": load_average(),
        "sizes": {"chains": chains, "warmup": warmup, "draws": draws},
        "goal": "every mode refuses or has max |z| < 5 and canonical R-hat < 1.01",
        "problems": {},
    }
    for name in args.problems:
        layers, dataset = name.split()
        output["problems"][f"{layers} {dataset}"] = run_problem(
            layers, dataset, chains, warmup, draws
        )
    output["load_average_after"] = load_average()
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(output, indent=2))
    print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
