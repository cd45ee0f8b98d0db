"""Cost of the minibatch stream with chains vectorized (vmap), per step.

Times two things with ``chain_method="vectorized"`` on power-plant (split 0
of the bundled UCI splits, the largest bundled training set): the stream
alone (``next_batch`` vmapped over the chains, ``--steps`` steps in one
``lax.scan``) and a whole SGLD run of a 4-50-1 tanh BNN through
``symbayes.sample`` at its default step size (sampling seconds per
transition). Before the stream's epoch-end shuffle became a loop that runs
only at an epoch's end, a vmapped stream ran a full permutation of the rows
every step (a per-chain ``lax.cond`` becomes a select under vmap, and XLA
hoists a permutation with a loop-invariant key out of a loop). Prints the
numbers and writes them with ``--output``.

Run (from the repository root, one core)::

    taskset -c 0 python benchmarks/minibatch_stream.py \\
        --output benchmarks/results/minibatch_stream.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import symbayes
from symbayes.datasets import load
from symbayes.kernels.minibatches import init_stream, next_batch
from symbayes.models import MLP

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import machine_info, source_version, versions  # noqa: E402


def stream_us_per_step(data: tuple, chains: int, batch: int, steps: int) -> float:
    """Microseconds per vmapped ``next_batch`` step (best of three)."""
    num_data = int(data[0].shape[0])
    keys = jax.random.split(jax.random.key(0), chains)
    streams = jax.vmap(lambda k: init_stream(k, num_data))(keys)

    def run(streams):
        def body(streams, t):
            step_keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(keys)
            out, streams = jax.vmap(lambda k, s: next_batch(k, s, data, batch))(
                step_keys, streams
            )
            return streams, out[0].sum()

        return jax.lax.scan(body, streams, jnp.arange(steps))

    program = jax.jit(run)
    jax.block_until_ready(program(streams))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(program(streams))
        times.append(time.perf_counter() - start)
    return 1e6 * min(times) / steps


def sgld_us_per_transition(data: tuple, chains: int, batch: int, steps: int) -> dict:
    """A vectorized SGLD run: sampling microseconds per transition."""
    model = MLP((int(data[0].shape[1]), 50, 1), activation="tanh")
    result = symbayes.sample(
        model,
        data=data,
        kernel="sgld",
        batch_size=batch,
        num_chains=chains,
        num_warmup=steps,
        num_samples=steps,
        key=0,
        chain_method="vectorized",
        progress_bar=False,
    )
    timings = result.timings
    return {
        "sampling_us_per_transition": 1e6 * timings.sampling_seconds / steps,
        "warmup_us_per_transition": 1e6 * timings.warmup_seconds / steps,
        "compile_seconds": timings.compile_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="power-plant")
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    split = load(args.dataset, split=0)
    data = (jnp.asarray(split.X_train), jnp.asarray(split.y_train))
    stream = stream_us_per_step(data, args.chains, args.batch_size, args.steps)
    print(f"stream: {stream:.1f} us per vmapped step ({args.chains} chains)")
    sgld = sgld_us_per_transition(data, args.chains, args.batch_size, args.steps)
    print(
        f"SGLD 4-50-1, vectorized: {sgld['sampling_us_per_transition']:.1f} us per "
        f"transition ({args.chains} chains, batch {args.batch_size}, "
        f"{int(data[0].shape[0])} rows)"
    )
    if args.output is not None:
        report = {
            "benchmark": "minibatch_stream",
            "command": " ".join(sys.argv),
            "machine": machine_info(),
            "versions": versions(),
            "source": source_version(),
            "dataset": args.dataset,
            "num_train": int(data[0].shape[0]),
            "chains": args.chains,
            "batch_size": args.batch_size,
            "steps": args.steps,
            "stream_us_per_step": stream,
            "sgld": sgld,
        }
        args.output.write_text(json.dumps(report, indent=1) + "\n")
        print(f"written {args.output}")


if __name__ == "__main__":
    main()
