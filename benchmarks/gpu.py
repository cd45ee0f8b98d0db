"""The suite's many-chain cases on an accelerator (GPU), same JSON as ``run.py``.

Cases:

* ``nuts-1024`` - 1024 chains of the d-16-1 tanh BNN on ``yacht``
  (``bnn-16-tanh-yacht`` of :mod:`run`), NUTS ``none`` vs ``glue``;
* ``sgld-50-50`` - SGLD (``none``, ``fold``, ``reparam``) on a 4-50-50-1 tanh
  BNN on ``power-plant``, the largest bundled dataset (8611 training rows,
  minibatches of 32).

Chains are split over the devices (``sample(devices=...)``, ``--devices``,
default all that JAX sees) and vmapped on each. ``diagnose`` (modes, R-hat)
sees the first 32 chains; canonical and function ESS are computed over all
chains and used for the rates. Results:
``benchmarks/results/gpu_<tag>.json``, shown next to the CPU many-chain case
in ``RESULTS.md`` (``report.py``).

Run on a machine with a GPU (JAX with CUDA)::

    sh benchmarks/gpu.sh               # full size
    JAX_PLATFORMS=cpu sh benchmarks/gpu.sh --tiny   # check on CPU, tiny size
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402
import run  # noqa: E402

SGLD_PROBLEM = "bnn-50-50-tanh-power-plant"
run.PROBLEMS[SGLD_PROBLEM] = run._bnn(
    SGLD_PROBLEM, (50, 50), "tanh", "power-plant", 1e-7
)
SIZES = {
    "tiny": {
        "nuts": {"chains": 8, "warmup": 20, "samples": 20, "sg_thinning": 1},
        "sgld": {"chains": 8, "warmup": 20, "samples": 20, "sg_thinning": 5},
    },
    "full": {
        "nuts": {"chains": 1024, "warmup": 500, "samples": 500, "sg_thinning": 1},
        "sgld": {"chains": 1024, "warmup": 1000, "samples": 500, "sg_thinning": 10},
    },
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (CPU check)")
    parser.add_argument("--chains", type=int, help="override the chains of both cases")
    parser.add_argument("--cases", nargs="+", default=["nuts", "sgld"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=run.HERE / "results")
    parser.add_argument("--tag", help="default: <backend> or <backend>-tiny")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument(
        "--devices",
        type=int,
        help="split the chains over this many devices (default: all JAX sees)",
    )
    args = parser.parse_args(argv)
    scale = "tiny" if args.tiny else "full"
    backend = jax.default_backend()
    tag = args.tag or (backend + ("-tiny" if args.tiny else ""))
    path = args.output / f"gpu_{tag}.json"
    sizes = {k: dict(v) for k, v in SIZES[scale].items()}
    if args.chains:
        for size in sizes.values():
            size["chains"] = args.chains
    for size in sizes.values():  # sample(devices=...): chains over the devices
        size["devices"] = args.devices or len(jax.devices())
    report = {
        "benchmark": "gpu",
        "tag": tag,
        "scale": scale,
        "command": "sh benchmarks/gpu.sh "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine.machine_info(),
        "versions": machine.versions(),
        "source": machine.source_version(),
        "seeds": {"seed": args.seed, "rule": "as in run.py"},
        "sizes": sizes,
        "stan": "not used",
        "load_average_before": machine.load_average(),
        "records": [],
    }
    print(f"gpu cases on {backend} {jax.devices()}: {sizes}", flush=True)
    started = time.perf_counter()
    if "nuts" in args.cases:
        size = sizes["nuts"]
        report["records"] += run.run_many_chains(size["chains"], size, args.seed)
        for record in report["records"]:
            record["case"] = f"gpu-nuts-{size['chains']}"
        run.write_report(path, report)
    if "sgld" in args.cases:
        size = sizes["sgld"]
        records = run.run_many_chains(
            size["chains"],
            size,
            args.seed,
            methods=("sgld-none", "sgld-fold", "sgld-reparam"),
            problem_name=SGLD_PROBLEM,
        )
        for record in records:
            record["case"] = f"gpu-sgld-{size['chains']}"
        report["records"] += records
    return run.finish_report(path, report, started, regenerate=not args.no_report)


if __name__ == "__main__":
    main()
