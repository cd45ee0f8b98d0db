"""Beyond MLPs: NUTS ``none`` vs ``fold`` on a small CNN and a small attention net.

Two posteriors on the bundled generated data (nothing downloaded):

* ``cnn`` - :class:`symbayes.models.CNN` ``((32, 1), channels=(4,),
  dense=(3,), kernel_size=5, pooling="avg", pool_size=4,
  likelihood="categorical")``, tanh, prior ``Normal(0, 1)``: 123 parameters,
  finite group ``4! 2^4`` (channel permutations and sign flips), on
  ``make_signal_classification(200, length=32, num_classes=3, seed=0,
  num_test=200)``.
* ``attention`` - :class:`symbayes.models.AttentionNet` ``((6, 2),
  num_heads=2, head_dim=1, mlp=(4, 1), noise=0.5, prior_scale=(0.5, 1, 1))``,
  tanh MLP head: 33 parameters, finite group ``2! x 4! 2^4`` (heads, MLP
  units), and per head the continuous ``GL(1)`` query-key and value-output
  maps (``O(1) = {+1, -1}``: posterior symmetries the samplers leave alone),
  on ``make_sequence_regression(128, length=6, num_features=2, seed=0,
  num_test=200)``.

For each, NUTS (diagonal metric, window adaptation, tree depth cap
``--max-doublings``) with quotient ``none`` and ``fold``, the same chains
started at prior draws (``model.init`` on ``split(key(seed), chains)``), the
same sample key. Reported per run, from :func:`symbayes.diagnose` with the
model's function space (predictions at 16 training inputs and the total
log-likelihood): R-hat max and the number of modes on raw, canonical and
function coordinates; for the attention net also on the canonical form of
the whole posterior symmetry (``model.canonicalize``: per head the O(1)
signs, then the finite sort); bulk-ESS minimum per 1000 gradient
evaluations of the sampling phase (canonical and function coordinates); the
test log predictive density per datum, ``mean_i log mean_s p(y_i | x_i,
theta_s)`` over all draws; wall times without compilation.

Run (from the repository root)::

    .venv/bin/python benchmarks/architectures.py            # defaults below
    .venv/bin/python benchmarks/architectures.py --quick    # smoke test

Results: ``benchmarks/results/architectures.json`` (``--output``) with the
machine stamp (processor, CPU count, load average before and after, library
versions, commit).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from machine import (  # noqa: E402
    load_average,
    machine_info,
    shown,
    source_version,
    versions,
)

import symbayes  # noqa: E402
from symbayes.datasets import (  # noqa: E402
    make_sequence_regression,
    make_signal_classification,
)
from symbayes.models import CNN, AttentionNet  # noqa: E402


def problems() -> dict[str, tuple[Any, Any, Any]]:
    """``name -> (model, train data, test data)``."""
    signals = make_signal_classification(
        200, length=32, num_classes=3, seed=0, num_test=200
    )
    cnn = CNN(
        (32, 1),
        channels=(4,),
        dense=(3,),
        kernel_size=5,
        pooling="avg",
        pool_size=4,
        likelihood="categorical",
    )
    sequences = make_sequence_regression(
        128, length=6, num_features=2, seed=0, num_test=200
    )
    attention = AttentionNet(
        (6, 2),
        num_heads=2,
        head_dim=1,
        mlp=(4, 1),
        noise=0.5,
        prior_scale=(0.5, 1.0, 1.0),
    )

    def split(data):
        train = (jnp.asarray(data.X_train), jnp.asarray(data.y_train))
        test = (jnp.asarray(data.X_test), jnp.asarray(data.y_test))
        return train, test

    return {
        "cnn": (cnn, *split(signals)),
        "attention": (attention, *split(sequences)),
    }


def space_summary(space: Any) -> dict[str, Any]:
    return {
        "rhat_max": float(space.rhat_max),
        "modes": int(space.modes.count),
        "ess_bulk_min": float(space.ess_bulk_min),
        "ess_bulk_median": float(space.ess_bulk_median),
    }


def run(model, train, test, quotient: str, args) -> dict[str, Any]:
    keys = jax.random.split(jax.random.key(args.seed), args.num_chains)
    init = jax.vmap(model.init)(keys)
    result = symbayes.sample(
        model,
        init,
        data=train,
        kernel="nuts",
        quotient=quotient,
        num_chains=args.num_chains,
        num_warmup=args.num_warmup,
        num_samples=args.num_samples,
        key=args.seed + 1,
        max_num_doublings=args.max_doublings,
        progress_bar=False,
    )
    report = symbayes.diagnose(result, model=model, data=train)
    spaces = {
        "raw": space_summary(report.raw),
        "canonical": space_summary(report.canonical),
        "function": space_summary(report.function),
    }
    if model.continuous_symmetry is not None:
        full = model.canonicalize(result.draws, batch_ndim=2)
        spaces["canonical_continuous"] = space_summary(
            symbayes.diagnose(
                dataclasses.replace(result, draws=full), model=model, data=train
            ).canonical
        )
    sampling_grads = float(np.sum(result.sample_stats["num_grad_evals"]))
    lpd = model.log_predictive_density(result.draws, test)
    timings = result.timings
    record = {
        "problem": model.name,
        "quotient": quotient,
        "spaces": spaces,
        "sampling_grad_evals": sampling_grads,
        "total_grad_evals": int(timings.num_grad_evals),
        "mean_tree_grads_per_transition": float(
            np.mean(result.sample_stats["num_grad_evals"])
        ),
        "divergences": int(np.sum(result.sample_stats["diverging"])),
        "ess_per_1000_grads": {
            name: 1000.0 * spaces[name]["ess_bulk_min"] / sampling_grads
            for name in spaces
            if name != "raw"
        },
        "test_lpd": float(jnp.mean(lpd)),
        "compile_seconds": timings.compile_seconds,
        "warmup_seconds": timings.warmup_seconds,
        "sampling_seconds": timings.sampling_seconds,
    }
    if model.likelihood == "categorical":
        probabilities = jax.vmap(jax.vmap(lambda p: model.predictive_mean(p, test[0])))(
            result.draws
        ).mean(axis=(0, 1))
        record["test_accuracy"] = float(
            jnp.mean(jnp.argmax(probabilities, axis=1) == test[1].astype(jnp.int32))
        )
    return record


HEADER = (
    f"{'problem':<10} {'quotient':<8} {'R-hat raw':>9} {'canon':>7} {'func':>7} "
    f"{'modes r/c/f':>12} {'ESS/1k grad c':>13} {'f':>6} {'test LPD':>9} "
    f"{'s':>6}"
)


def format_row(name: str, record: dict[str, Any]) -> str:
    spaces = record["spaces"]
    modes = "/".join(str(spaces[s]["modes"]) for s in ("raw", "canonical", "function"))
    if "canonical_continuous" in spaces:
        modes += f" ({spaces['canonical_continuous']['modes']})"
    rates = record["ess_per_1000_grads"]
    seconds = record["warmup_seconds"] + record["sampling_seconds"]
    return (
        f"{name:<10} {record['quotient']:<8} {spaces['raw']['rhat_max']:>9.3f} "
        f"{spaces['canonical']['rhat_max']:>7.3f} "
        f"{spaces['function']['rhat_max']:>7.3f} {modes:>12} "
        f"{rates['canonical']:>13.2f} {rates['function']:>6.2f} "
        f"{record['test_lpd']:>9.3f} {seconds:>6.1f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--num-chains", type=int, default=4)
    parser.add_argument("--num-warmup", type=int, default=400)
    parser.add_argument("--num-samples", type=int, default=400)
    parser.add_argument("--max-doublings", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--problems", nargs="+", default=["cnn", "attention"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("benchmarks/results/architectures.json"),
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.num_warmup, args.num_samples, args.max_doublings = 50, 50, 5
    if args.num_chains < 2 or args.num_samples < 4 or args.num_warmup < 1:
        parser.error("need >= 2 chains, >= 1 warmup and >= 4 samples")
    info = machine_info() | versions()
    load_before = load_average()
    print(
        f"architectures benchmark: NUTS, {args.num_chains} chains, "
        f"{args.num_warmup} warmup + {args.num_samples} draws, tree depth <= "
        f"{args.max_doublings}, backend {info['jax_backend']}, "
        f"{info['cpu_count']} CPUs ({info.get('cpu_model', info['processor'])}), "
        f"load average {load_before}"
    )
    print(HEADER)
    print("-" * len(HEADER), flush=True)
    started = time.perf_counter()
    records = []
    for name, (model, train, test) in problems().items():
        if name not in args.problems:
            continue
        for quotient in ("none", "fold"):
            record = run(model, train, test, quotient, args)
            record["name"] = name
            records.append(record)
            print(format_row(name, record), flush=True)
    total = time.perf_counter() - started
    print(
        "modes r/c/f: raw / canonical / function (in brackets: canonical after "
        "model.canonicalize, the continuous O(1) signs included); ESS/1k grad: "
        "bulk-ESS minimum per 1000 sampling-phase gradients; s: warmup + "
        "sampling wall seconds without compilation"
    )
    report = {
        "benchmark": "architectures",
        "description": __doc__.split("\n\n")[0],
        "machine": info,
        "source": source_version(),
        "settings": {
            "num_chains": args.num_chains,
            "num_warmup": args.num_warmup,
            "num_samples": args.num_samples,
            "max_num_doublings": args.max_doublings,
            "seed": args.seed,
            "initial_points": "model.init on jax.random.split(key(seed), chains)",
            "sample_key": "seed + 1",
            "metric": "diagonal, window adaptation (tied across units for fold)",
        },
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "total_seconds": total,
        "results": records,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    print(f"total {total:.1f} s; results written to {shown(args.output)}")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    main()
