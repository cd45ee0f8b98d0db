"""Throughput of the canonical maps of symbayes on realistic MCMC-like draws.

What it measures, for two tanh MLPs, 1-16-16-1 (two hidden axes of 16 units)
and 1-50-1 (one hidden axis of 50 units):

* ``canonicalize(draws, symmetry, "sort", batch_ndim=1)`` - the sort map
  (sign keys >= 0, units ordered by their sort key), jit + vmap;
* ``canonicalize(draws, symmetry, "align", pivot=..., batch_ndim=1)`` - sort,
  then coordinate-descent alignment (a linear assignment per hidden axis) to a
  pivot; the pivot is a posterior-like representative: the sort
  representative of mode 0 (the point the mode-0 draws scatter around);
* ``relabel(draws, symmetry)`` on draws shaped ``(chains=8, draws/8)`` -
  pivotal relabelling of the whole set (per-chain pivots, then the chain
  pivots are merged), wall time for all draws.

For each it reports the first call (compilation + one run, in a fresh
process for that shape) separately from the median of ``--repeats`` warm
calls, and the warm throughput in draws/s. Every call is closed by
``jax.block_until_ready``.

The draws look like MCMC output, not like an easy test case:

* ``multimodal`` - three functionally distinct modes (``model.init`` with
  three keys); chain ``c`` sits in mode ``c % 3``; each draw is its mode plus
  Gaussian noise of standard deviation 0.05 times the root-mean-square of
  the leaf (relative scale); then every draw is hit by an independent,
  uniformly random group element (random permutation and signs per hidden
  axis), as label switching across and within chains would leave it.
* ``unimodal_noisy`` - one mode, noise 0.2 relative scale, random elements as
  above (harder for relabel: keys of units nearly tie more often). Measured
  for relabel only.

Goals of the issue, printed and saved for comparison (2-core CPU): sort at
>= 2e5 draws/s; relabel of 1e5 draws of 1-16-16-1 in <= 10 s.

Run (from the repository root)::

    .venv/bin/python benchmarks/canonical.py            # 1e5 draws, 3 repeats
    .venv/bin/python benchmarks/canonical.py --quick    # 1e4 draws, 1 repeat
    .venv/bin/python benchmarks/canonical.py --profile-relabel

``--profile-relabel`` also runs cProfile over one warm relabel call of the
1-16-16-1 model (multimodal) and writes the top entries next to the JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.canonical import canonicalize, relabel
from symbayes.models import MLP

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import load_average, machine_info, versions  # noqa: E402

NUM_CHAINS = 8
NUM_MODES = 3
GOALS = {
    "sort_min_draws_per_second": 2e5,
    "relabel_mlp_1-16-16-1_max_seconds_for_1e5_draws": 10.0,
    "hardware": "2-core CPU",
}
ARCHITECTURES = ((1, 16, 16, 1), (1, 50, 1))
SCENARIOS = {
    # name: (number of modes, relative noise scale)
    "multimodal": (NUM_MODES, 0.05),
    "unimodal_noisy": (1, 0.2),
}


def model_label(sizes: tuple[int, ...]) -> str:
    return "mlp_" + "-".join(str(s) for s in sizes)


def make_draws(
    model: MLP, key: jax.Array, num_draws: int, num_modes: int, noise: float
) -> tuple[Any, list[Any]]:
    """MCMC-like draws shaped ``(chains, draws_per_chain, ...)`` and the modes."""
    per_chain = num_draws // NUM_CHAINS
    mode_keys, noise_key, element_key = jax.random.split(key, 3)
    modes = [model.init(k) for k in jax.random.split(mode_keys, num_modes)]
    mode_of_chain = np.arange(NUM_CHAINS) % num_modes
    # centre of every draw: (chains, per_chain, ...)
    centres = jax.tree_util.tree_map(
        lambda *leaves: jnp.broadcast_to(
            jnp.stack(leaves)[mode_of_chain][:, None],
            (NUM_CHAINS, per_chain, *leaves[0].shape),
        ),
        *modes,
    )
    leaves, treedef = jax.tree_util.tree_flatten(centres)
    noise_keys = jax.random.split(noise_key, len(leaves))
    noisy = []
    for leaf, k, *mode_leaves in zip(
        leaves, noise_keys, *(jax.tree_util.tree_leaves(m) for m in modes)
    ):
        # relative scale: the root-mean-square of the leaf, per mode
        rms = jnp.stack([jnp.sqrt(jnp.mean(m**2)) for m in mode_leaves])
        rms = jnp.where(rms > 0, rms, 1.0)[mode_of_chain]
        rms = rms.reshape((NUM_CHAINS,) + (1,) * (leaf.ndim - 1))
        noisy.append(leaf + noise * rms * jax.random.normal(k, leaf.shape, leaf.dtype))
    draws = jax.tree_util.tree_unflatten(treedef, noisy)
    flat = jax.tree_util.tree_map(lambda x: x.reshape(-1, *x.shape[2:]), draws)
    elements = jax.vmap(model.symmetry.random_element)(
        jax.random.split(element_key, num_draws)
    )
    flat = jax.jit(jax.vmap(model.symmetry.act))(elements, flat)
    draws = jax.tree_util.tree_map(
        lambda x: x.reshape(NUM_CHAINS, per_chain, *x.shape[1:]), flat
    )
    return jax.block_until_ready(draws), modes


def time_call(
    fn: Callable[[], Any], repeats: int, max_warm_seconds: float
) -> dict[str, Any]:
    """First call (compile + run) and the median of up to ``repeats`` warm calls.

    Warm calls stop early once their total exceeds ``max_warm_seconds``. If
    the first call alone took longer than that, no warm call is made and the
    first call stands in for the warm time (``warm_from_first_call``; an
    upper bound, compilation is then a small part of it).
    """
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - start
    warm: list[float] = []
    skip = first > max_warm_seconds
    while not skip and len(warm) < repeats:
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        warm.append(time.perf_counter() - start)
        if sum(warm) > max_warm_seconds:
            break
    return {
        "first_call_seconds": first,
        "warm_seconds": statistics.median(warm) if warm else first,
        "warm_seconds_all": warm,
        "warm_from_first_call": not warm,
        "_output": out,
    }


def goal_check(record: dict[str, Any]) -> bool | None:
    """Whether a result meets the issue's goal (``None``: no goal applies)."""
    if record["operation"] == "sort":
        return record["draws_per_second"] >= GOALS["sort_min_draws_per_second"]
    if (
        record["operation"] == "relabel"
        and record["model"] == "mlp_1-16-16-1"
        and record["num_draws"] == 100_000
    ):
        limit = GOALS["relabel_mlp_1-16-16-1_max_seconds_for_1e5_draws"]
        return record["warm_seconds"] <= limit
    return None


def benchmark_model(
    sizes: tuple[int, ...], args: argparse.Namespace, seed: int
) -> list[dict[str, Any]]:
    model = MLP(sizes, "tanh")
    symmetry = model.symmetry
    label = model_label(sizes)
    records = []

    def record(operation: str, scenario: str, timing: dict[str, Any], **extra):
        timing.pop("_output")
        entry = {
            "model": label,
            "operation": operation,
            "scenario": scenario,
            "num_draws": args.num_draws,
            **timing,
            "draws_per_second": args.num_draws / timing["warm_seconds"],
            **extra,
        }
        entry["meets_goal"] = goal_check(entry)
        records.append(entry)
        print(format_row(entry), flush=True)

    for scenario_index, (scenario, (num_modes, noise)) in enumerate(SCENARIOS.items()):
        # draws of scenario i: jax.random.fold_in(jax.random.key(seed), i)
        key = jax.random.fold_in(jax.random.key(seed), scenario_index)
        draws, modes = make_draws(model, key, args.num_draws, num_modes, noise)
        if scenario == "multimodal":
            flat = jax.tree_util.tree_map(lambda x: x.reshape(-1, *x.shape[2:]), draws)
            timing = time_call(
                lambda flat=flat: canonicalize(flat, symmetry, "sort", batch_ndim=1),
                args.repeats,
                args.max_warm_seconds,
            )
            record("sort", scenario, timing)
            pivot = canonicalize(modes[0], symmetry, "sort")
            timing = time_call(
                lambda flat=flat, pivot=pivot: canonicalize(
                    flat, symmetry, "align", pivot=pivot, batch_ndim=1
                ),
                args.repeats,
                args.max_warm_seconds,
            )
            record("align", scenario, timing)
        timing = time_call(
            lambda draws=draws: relabel(draws, symmetry),
            args.repeats,
            args.max_warm_seconds,
        )
        result = timing["_output"]
        record(
            "relabel",
            scenario,
            timing,
            relabel_iterations=int(result.num_iterations),
            relabel_converged=bool(result.converged),
            draws_shape=[NUM_CHAINS, args.num_draws // NUM_CHAINS],
        )
        profile = args.profile_relabel and scenario == "multimodal"
        if profile and label == "mlp_1-16-16-1":
            profile_relabel(draws, symmetry, args.output)
    return records


def profile_relabel(draws: Any, symmetry: Any, output: Path) -> None:
    """cProfile one warm relabel call; write the top entries next to the JSON."""
    profiler = cProfile.Profile()
    profiler.enable()
    jax.block_until_ready(relabel(draws, symmetry))
    profiler.disable()
    text = []
    for order in ("cumulative", "tottime"):
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats(order).print_stats(30)
        text.append(f"== sorted by {order} ==\n{buffer.getvalue()}")
    path = output.with_name(output.stem + "_relabel_profile.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    # file names relative to the repository, not to this machine
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    path.write_text("\n".join(text).replace(root, ""))
    print(f"relabel profile written to {path}", flush=True)


HEADER = (
    f"{'model':<15} {'operation':<8} {'scenario':<15} {'first [s]':>10} "
    f"{'warm [s]':>10} {'draws/s':>12} {'goal':>6}  note"
)
FOOTNOTE = (
    "warm = median of the warm repeats; '*': no warm repeat (first call over "
    "--max-warm-seconds), the first call stands in; it = relabel iterations"
)


def format_row(entry: dict[str, Any]) -> str:
    goal = {True: "ok", False: "MISS", None: "-"}[entry["meets_goal"]]
    star = "*" if entry["warm_from_first_call"] else ""
    warm = f"{entry['warm_seconds']:.3f}{star}"
    note = ""
    if entry["operation"] == "relabel":
        note = f"it={entry['relabel_iterations']}"
        note += "" if entry["relabel_converged"] else " (not converged)"
    return (
        f"{entry['model']:<15} {entry['operation']:<8} {entry['scenario']:<15} "
        f"{entry['first_call_seconds']:>10.3f} {warm:>10} "
        f"{entry['draws_per_second']:>12.4g} {goal:>6}  {note}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--num-draws", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10000 draws and 1 repeat")
    parser.add_argument(
        "--output", type=Path, default=Path("benchmarks/results/canonical.json")
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="model i (0: 1-16-16-1, 1: 1-50-1) uses seed + i",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=["-".join(map(str, sizes)) for sizes in ARCHITECTURES],
        choices=["-".join(map(str, sizes)) for sizes in ARCHITECTURES],
        help="which MLPs to measure (default: both)",
    )
    parser.add_argument(
        "--max-warm-seconds",
        type=float,
        default=300.0,
        help="stop warm repeats of one operation after this many seconds; "
        "if the first call alone is longer, it stands in for the warm time",
    )
    parser.add_argument(
        "--profile-relabel",
        action="store_true",
        help="cProfile one warm relabel call of 1-16-16-1 (multimodal)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.num_draws, args.repeats = 10_000, 1
    if args.num_draws % NUM_CHAINS or args.num_draws <= 0:
        parser.error(f"--num-draws must be a positive multiple of {NUM_CHAINS}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    info = machine_info() | versions()
    load_before = load_average()
    print(
        f"symbayes canonical-map benchmark: {args.num_draws} draws, "
        f"{args.repeats} warm repeats, backend {info['jax_backend']}, "
        f"{info['cpu_count']} CPUs ({info['processor']}), "
        f"load average {load_before}"
    )
    print(
        "goals: sort >= {:.0e} draws/s; relabel of 1e5 draws of 1-16-16-1 "
        "<= {:.0f} s ({})".format(
            GOALS["sort_min_draws_per_second"],
            GOALS["relabel_mlp_1-16-16-1_max_seconds_for_1e5_draws"],
            GOALS["hardware"],
        )
    )
    print(HEADER)
    print("-" * len(HEADER), flush=True)
    started = time.perf_counter()
    results = []
    for index, sizes in enumerate(ARCHITECTURES):
        if "-".join(map(str, sizes)) in args.models:
            results += benchmark_model(sizes, args, args.seed + index)
    total = time.perf_counter() - started
    print(FOOTNOTE)

    report = {
        "benchmark": "canonical",
        "description": __doc__.split("\n\n")[0],
        "machine": info,
        "seeds": {
            "rule": "draws of model i, scenario j: "
            "jax.random.fold_in(jax.random.key(seed + i), j)",
            **{
                model_label(sizes): args.seed + index
                for index, sizes in enumerate(ARCHITECTURES)
            },
        },
        "models": args.models,
        "num_draws": args.num_draws,
        "num_chains": NUM_CHAINS,
        "repeats": args.repeats,
        "max_warm_seconds": args.max_warm_seconds,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "scenarios": {
            name: {"num_modes": modes, "relative_noise": noise}
            for name, (modes, noise) in SCENARIOS.items()
        },
        "goals": GOALS,
        "total_seconds": total,
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"total {total:.1f} s; results written to {args.output}")


if __name__ == "__main__":
    main()
