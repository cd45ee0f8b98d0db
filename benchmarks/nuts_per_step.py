"""Per-gradient cost of symbayes' NUTS against numpyro's, paired, one algorithm.

numpyro's window adaptation runs once (``--adapt`` transitions, 8 chains
vectorized, from the suite's initial points of ``--seed``); its mean step
size and mean diagonal inverse mass matrix are then fixed for both
libraries, so both run the same NUTS on the same distribution of trees from
the same post-warmup positions and only the samplers' per-step work
differs: ``symbayes.sample(kernel=NUTS(step_size=..., inverse_mass_matrix=...),
num_warmup=0, chain_method="vectorized")`` (the whole driver: transition
statistics, chunking, the copy of draws to the host) against numpyro's
``MCMC(NUTS(..., adapt_step_size=False, adapt_mass_matrix=False),
chain_method="vectorized")``. After one compiling run each, ``--repeats``
pairs of runs alternate which library goes first; each run's microseconds
per gradient are its sampling seconds (numpyro: wall time minus JAX's
compilation events) over its leapfrog steps. The paired ratio cancels this
machine's drift of +-15% over minutes; its geometric mean and standard
error are printed and written (``--output``) with every run's numbers.

Run (from the repository root, one core)::

    taskset -c 0 python benchmarks/nuts_per_step.py \\
        --output benchmarks/results/nuts_per_step_ppca.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC
from numpyro.infer import NUTS as NumpyroNUTS

import symbayes
from symbayes.kernels import NUTS

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
from machine import machine_info, versions  # noqa: E402
from run import initial_points, make_problem  # noqa: E402


def _adapted(problem, init, num_warmup: int, seed: int):
    """numpyro's warmup: post-warmup positions, mean step size and metric."""
    fn = peers.numpyro_model(problem.model)
    chains = int(jax.tree_util.tree_leaves(init)[0].shape[0])
    mcmc = MCMC(
        NumpyroNUTS(fn, target_accept_prob=0.8, max_tree_depth=10),
        num_warmup=num_warmup,
        num_samples=1,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.warmup(jax.random.key(seed), *problem.data, init_params=init)
    state = mcmc.post_warmup_state
    matrix = state.adapt_state.inverse_mass_matrix
    if isinstance(matrix, dict):  # numpyro keys the matrix by its sites
        (matrix,) = matrix.values()
    step = float(np.mean(state.adapt_state.step_size))
    positions = jax.tree_util.tree_map(np.asarray, state.z)
    return fn, positions, step, np.asarray(jnp.mean(matrix, axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="ppca-5x3")
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--adapt", type=int, default=500)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    problem = make_problem(args.problem)
    init = initial_points(problem, args.chains, args.seed)
    fn, positions, step, matrix = _adapted(problem, init, args.adapt, args.seed + 1)
    sampler = NumpyroNUTS(
        fn,
        step_size=step,
        inverse_mass_matrix=jnp.asarray(matrix),
        adapt_step_size=False,
        adapt_mass_matrix=False,
        max_tree_depth=10,
    )
    mcmc = MCMC(
        sampler,
        num_warmup=0,
        num_samples=args.draws,
        num_chains=args.chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    kernel = NUTS(step_size=step, inverse_mass_matrix=matrix, max_num_doublings=10)

    def numpyro_run(seed: int) -> tuple[float, float]:
        compiled, start = peers.compile_seconds(), time.perf_counter()
        mcmc.run(
            jax.random.key(seed),
            *problem.data,
            init_params=positions,
            extra_fields=("num_steps",),
        )
        steps = np.asarray(jax.block_until_ready(mcmc.get_extra_fields()["num_steps"]))
        seconds = time.perf_counter() - start - (peers.compile_seconds() - compiled)
        return 1e6 * seconds / steps.sum(), float(steps.mean())

    def symbayes_run(seed: int) -> tuple[float, float]:
        result = symbayes.sample(
            problem.model,
            positions,
            data=problem.data,
            kernel=kernel,
            init_per_chain=True,
            num_chains=args.chains,
            num_warmup=0,
            num_samples=args.draws,
            key=seed,
            chain_method="vectorized",
            progress_bar=False,
        )
        steps = np.asarray(result.sample_stats["num_grad_evals"])
        return 1e6 * result.timings.sampling_seconds / steps.sum(), float(steps.mean())

    runs = {"symbayes": symbayes_run, "numpyro": numpyro_run}
    for run in runs.values():  # compile
        run(10_000)
    out: dict[str, list] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        order = list(runs) if repeat % 2 else list(runs)[::-1]
        for name in order:
            us, per_transition = runs[name](repeat)
            out[name].append(
                {"us_per_grad": us, "grads_per_transition": per_transition}
            )
            print(
                f"repeat {repeat} {name}: {us:.2f} us per gradient, "
                f"{per_transition:.0f} per transition",
                flush=True,
            )
    ratios = np.array(
        [
            a["us_per_grad"] / b["us_per_grad"]
            for a, b in zip(out["symbayes"], out["numpyro"])
        ]
    )
    log = np.log(ratios)
    summary = {
        "geometric_mean_ratio": float(np.exp(log.mean())),
        "se_log_ratio": float(log.std(ddof=1) / np.sqrt(log.size)),
        "median_us_per_grad": {
            name: float(np.median([r["us_per_grad"] for r in rows]))
            for name, rows in out.items()
        },
    }
    print(
        f"symbayes / numpyro per gradient (paired): "
        f"{summary['geometric_mean_ratio']:.3f}, "
        f"log standard error {summary['se_log_ratio']:.3f}; medians "
        + ", ".join(f"{k} {v:.2f} us" for k, v in summary["median_us_per_grad"].items())
    )
    if args.output is not None:
        report = {
            "benchmark": "nuts_per_step",
            "command": " ".join(sys.argv),
            "machine": machine_info(),
            "versions": versions(),
            "problem": args.problem,
            "chains": args.chains,
            "adapt": args.adapt,
            "draws": args.draws,
            "seed": args.seed,
            "step_size": step,
            "runs": out,
            "ratios": ratios.tolist(),
            "summary": summary,
        }
        args.output.write_text(json.dumps(report, indent=1) + "\n")
        print(f"written {args.output}")


if __name__ == "__main__":
    main()
