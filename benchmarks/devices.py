"""Chains over forced host devices: chains x draws per second at 1 and 2 devices.

Each configuration runs in its own process (``XLA_FLAGS=
--xla_force_host_platform_device_count=N`` must be set before jax is
imported): ``one``, one device and ``devices=None`` (the unsharded path);
``sharded-1``, ``devices=1`` on one of two forced devices (the sharded path
on one device); ``sharded-2``, ``devices=2``. The problem is NUTS
(``quotient="none"``, per-chain warmup) on a 1-16-1 tanh BNN on the bundled
``sinusoidal`` data; every configuration runs the same chains with the same
key and the draws are checked equal. Configurations alternate for
``--repeats`` rounds so that changes in the machine's load hit all of them.

Reported per run: sampling and warmup seconds, chains x kept draws per
sampling second, gradient evaluations per second (warmup and sampling),
the load average before and after. The speed-up of 2 devices is bounded by
the cores XLA's CPU client gets; on a shared, loaded 2-core machine it is
small and noisy (say so when quoting it).

Run from the repository root::

    .venv/bin/python benchmarks/devices.py            # 8 chains, 150 + 1500
    .venv/bin/python benchmarks/devices.py --quick    # a smoke run

Results: ``benchmarks/results/devices_cpu.json`` (``--quick``:
``devices_cpu-quick.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIGS = {"one": (1, None), "sharded-1": (2, 1), "sharded-2": (2, 2)}


def worker(config: str, size: dict, seed: int) -> dict:
    """One configuration, in this (fresh) process; returns its record."""
    import jax
    import numpy as np

    sys.path.insert(0, str(HERE))
    from machine import load_average

    from symbayes import sample
    from symbayes.datasets import load
    from symbayes.models import MLP

    jax.config.update("jax_platforms", "cpu")
    # compiled programs kept across the worker processes (compile time is
    # reported apart from the sampling time either way)
    jax.config.update("jax_compilation_cache_dir", str(ROOT / ".jax-cache"))
    _, devices = CONFIGS[config]
    data = load("sinusoidal")
    before = load_average()
    start = time.perf_counter()
    result = sample(
        MLP((1, 16, 1)),
        data=data,
        kernel="nuts",
        num_chains=size["chains"],
        num_warmup=size["warmup"],
        num_samples=size["samples"],
        max_num_doublings=6,
        key=seed,
        devices=devices,
        progress_bar=False,
    )
    wall = time.perf_counter() - start
    timings = result.timings
    draws = np.concatenate(
        [
            np.asarray(v).reshape(size["chains"], size["samples"], -1)
            for v in result.draws.values()
        ],
        axis=2,
    )
    return {
        "config": config,
        "forced_host_devices": CONFIGS[config][0],
        "devices": devices,
        "jax_devices": len(jax.devices()),
        "chains": size["chains"],
        "warmup": size["warmup"],
        "draws": size["samples"],
        "wall_seconds": round(wall, 3),
        "compile_seconds": round(timings.compile_seconds, 3),
        "warmup_seconds": round(timings.warmup_seconds, 3),
        "sampling_seconds": round(timings.sampling_seconds, 3),
        "chain_draws_per_second": round(
            size["chains"] * size["samples"] / timings.sampling_seconds, 2
        ),
        "grad_evals": int(timings.num_grad_evals),
        "grad_evals_per_second": round(
            timings.num_grad_evals
            / (timings.warmup_seconds + timings.sampling_seconds),
            1,
        ),
        "draws_checksum": float(np.sum(draws, dtype=np.float64)),
        "load_average_before": before,
        "load_average_after": load_average(),
    }


def launch(config: str, size: dict, seed: int) -> dict:
    env = dict(os.environ)
    flag = f"--xla_force_host_platform_device_count={CONFIGS[config][0]}"
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flag}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            config,
            "--size",
            json.dumps(size),
            "--seed",
            str(seed),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{config} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(records: list[dict]) -> dict:
    """Best and median chains x draws per second per configuration, and ratios."""
    summary = {}
    for config in CONFIGS:
        rates = [r["chain_draws_per_second"] for r in records if r["config"] == config]
        summary[config] = {
            "chain_draws_per_second_all": rates,
            "chain_draws_per_second_best": max(rates),
            "chain_draws_per_second_median": float(np.median(rates)),
        }
    for config in CONFIGS:
        for stat in ("best", "median"):
            summary[config][f"speedup_{stat}_vs_one"] = round(
                summary[config][f"chain_draws_per_second_{stat}"]
                / summary["one"][f"chain_draws_per_second_{stat}"],
                3,
            )
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, json.loads(args.size), args.seed)))
        return {}
    sys.path.insert(0, str(HERE))
    from machine import machine_info, source_version, versions

    size = {"chains": 8, "warmup": 150, "samples": 1500}
    if args.quick:
        size = {"chains": 4, "warmup": 20, "samples": 20}
    records = []
    for round_ in range(args.repeats):
        for config in CONFIGS:
            record = launch(config, size, args.seed) | {"round": round_}
            records.append(record)
            print(
                f"{config:<10} round {round_}: {record['chain_draws_per_second']:>8} "
                f"chain-draws/s, {record['grad_evals_per_second']:>9} grads/s, "
                f"sampling {record['sampling_seconds']} s, load "
                f"{record['load_average_before']}",
                flush=True,
            )
    checksums = {r["draws_checksum"] for r in records}
    summary = summarise(records)
    report = {
        "benchmark": "devices",
        "command": "python benchmarks/devices.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "problem": "NUTS, quotient none, MLP 1-16-1 tanh on sinusoidal, "
        "max_num_doublings 6",
        "note": "2-core CPU shared with other jobs and loaded: load averages "
        "are recorded per run; forced host devices share the same 2 cores",
        "size": size,
        "same_draws_in_every_configuration": len(checksums) == 1,
        "machine": machine_info(),
        "versions": versions(),
        "source": source_version(),
        "summary": summary,
        "records": records,
    }
    name = "devices_cpu-quick.json" if args.quick else "devices_cpu.json"
    path = HERE / "results" / name
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"same draws in every configuration: {len(checksums) == 1}; wrote {name}")
    return report


if __name__ == "__main__":
    main()
