"""Vmapped NUTS with chains that wait (lockstep) and that do not (desynchronised).

``NUTS(desynchronise=False)`` vmaps blackjax's NUTS transition over chains:
at every transition each chain waits for the deepest tree among them.
``NUTS(desynchronise=True)`` (the default on CPU) runs the same transitions
one leapfrog step at a time (``symbayes.kernels.nuts_machine``), so chains
wait for each other only at the end of a chunk. Both give the same draws
(to rounding in the adaptation), so this script compares time only: per
problem, ``--pairs`` pairs of ``sample()`` calls in one process, alternating
which goes first, ``chain_method="vectorized"``, compilation excluded.
Reported per phase (warmup, sampling): microseconds per gradient
evaluation and the lockstep / desynchronised time ratio (median over
pairs), and the gradient counts of both (equal when the runs agree).

Usage (from the repository root; one core for timings)::

    taskset -c 0 python benchmarks/nuts_desync.py --problems ppca-5x3 gmm-3-1d
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as suite  # noqa: E402

from symbayes import sample  # noqa: E402
from symbayes.kernels import NUTS  # noqa: E402


def one_run(problem, init, chains: int, warmup: int, samples: int, desync: bool):
    result = sample(
        problem.model,
        init,
        data=problem.data,
        kernel=NUTS(desynchronise=desync),
        num_chains=chains,
        num_warmup=warmup,
        num_samples=samples,
        key=1,
        progress_bar=False,
        chain_method="vectorized",
    )
    timings = result.timings
    sampling = int(np.sum(result.sample_stats["num_grad_evals"]))
    total = int(timings.num_grad_evals)
    return {
        "warmup_seconds": timings.warmup_seconds,
        "sampling_seconds": timings.sampling_seconds,
        "compile_seconds": timings.compile_seconds,
        "warmup_grads": total - sampling,
        "sampling_grads": sampling,
    }


def compare(name: str, chains: int, warmup: int, samples: int, pairs: int) -> dict:
    problem = suite.make_problem(name)
    init = suite.initial_points(problem, chains, 0)
    runs: dict[str, list[dict]] = {"desynchronised": [], "lockstep": []}
    for pair in range(pairs + 1):  # pair 0 compiles both
        order = (True, False) if pair % 2 else (False, True)
        for desync in order:
            record = one_run(problem, init, chains, warmup, samples, desync)
            label = "desynchronised" if desync else "lockstep"
            if pair:
                runs[label].append(record)
            else:
                runs[label + "_compile_seconds"] = record["compile_seconds"]
    out: dict = {"problem": name, "runs": runs}
    for phase in ("warmup", "sampling", "total"):
        per = {}
        for label in ("desynchronised", "lockstep"):
            seconds, grads = [], []
            for r in runs[label]:
                if phase == "total":
                    seconds.append(r["warmup_seconds"] + r["sampling_seconds"])
                    grads.append(r["warmup_grads"] + r["sampling_grads"])
                else:
                    seconds.append(r[f"{phase}_seconds"])
                    grads.append(r[f"{phase}_grads"])
            per[label] = (np.array(seconds), np.array(grads))
        ratio = per["lockstep"][0] / per["desynchronised"][0]
        out[phase] = {
            "us_per_grad_desynchronised": float(
                np.median(1e6 * per["desynchronised"][0] / per["desynchronised"][1])
            ),
            "us_per_grad_lockstep": float(
                np.median(1e6 * per["lockstep"][0] / per["lockstep"][1])
            ),
            "speed_up_median": float(np.median(ratio)),
            "speed_ups": ratio.tolist(),
            "same_grads": bool(
                np.array_equal(per["lockstep"][1], per["desynchronised"][1])
            ),
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["ppca-5x3"])
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument(
        "--output", type=Path, default=HERE / "results" / "nuts_desync.json"
    )
    args = parser.parse_args(argv)
    report = {
        "machine": platform.processor() or platform.machine(),
        "size": f"{args.chains} x ({args.warmup} + {args.samples})",
        "problems": [],
    }
    print("| problem | phase | us/grad desync | us/grad lockstep | speed-up | same |")
    print("|---|---|---|---|---|---|")
    for name in args.problems:
        row = compare(name, args.chains, args.warmup, args.samples, args.pairs)
        report["problems"].append(row)
        for phase in ("warmup", "sampling", "total"):
            p = row[phase]
            print(
                f"| {name} | {phase} | {p['us_per_grad_desynchronised']:.2f} | "
                f"{p['us_per_grad_lockstep']:.2f} | {p['speed_up_median']:.2f} | "
                f"{p['same_grads']} |",
                flush=True,
            )
        args.output.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
