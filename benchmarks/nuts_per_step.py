"""Per-gradient cost of blackjax's NUTS against numpyro's on one potential.

Both run PPCA's numpyro potential (``peers.numpyro_model``), vmapped over 8
chains from the suite's initial points of seed 2, at one fixed step size with a unit
metric and no adaptation, so both build trees of the same distribution and
only the samplers' per-step work differs. Each is timed twice after a
compiling run; numpyro's ``MCMC.run`` may recompile on a repeat, so take the
smaller of its two numbers. symbayes' NUTS is blackjax's kernel inside
symbayes' transition (stats, optional fold), so the blackjax number is a
lower bound of what symbayes pays per gradient.

Run (from the repository root)::

    taskset -c 0 python benchmarks/nuts_per_step.py --step-size 0.006
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.mcmc import integrators, metrics
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import initialize_model

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
from run import initial_points, make_problem  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="ppca-5x3")
    parser.add_argument("--step-size", type=float, default=0.006)
    parser.add_argument("--transitions", type=int, default=200)
    parser.add_argument("--chains", type=int, default=8)
    args = parser.parse_args()
    problem = make_problem(args.problem)
    init = initial_points(problem, args.chains, 2)
    model = peers.numpyro_model(problem.model)
    potential = initialize_model(
        jax.random.key(0), model, model_args=problem.data
    ).potential_fn
    size = sum(int(np.prod(x.shape[1:])) for x in jax.tree_util.tree_leaves(init))
    kernel = blackjax.nuts.build_kernel(integrator=integrators.velocity_verlet)
    metric = metrics.default_metric(jnp.ones(size))

    def logdensity(params):
        return -potential(params)

    def run(states, key):
        def body(states, key):
            keys = jax.random.split(key, args.chains)
            states, info = jax.vmap(
                lambda k, s: kernel(k, s, logdensity, args.step_size, metric, 10)
            )(keys, states)
            return states, info.num_integration_steps

        return jax.lax.scan(body, states, jax.random.split(key, args.transitions))

    states = jax.vmap(lambda p: blackjax.nuts.init(p, logdensity))(init)
    program = jax.jit(run)
    jax.block_until_ready(program(states, jax.random.key(0)))
    for repeat in range(2):
        start = time.perf_counter()
        _, steps = jax.block_until_ready(program(states, jax.random.key(1 + repeat)))
        seconds = time.perf_counter() - start
        print(
            f"blackjax NUTS: {1e6 * seconds / np.sum(steps):.2f} us per gradient, "
            f"{np.mean(steps):.1f} gradients per transition",
            flush=True,
        )
    sampler = NUTS(
        potential_fn=potential,
        step_size=args.step_size,
        adapt_step_size=False,
        adapt_mass_matrix=False,
        max_tree_depth=10,
    )
    mcmc = MCMC(
        sampler,
        num_warmup=0,
        num_samples=args.transitions,
        num_chains=args.chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), init_params=init, extra_fields=("num_steps",))
    for repeat in range(2):
        start = time.perf_counter()
        mcmc.run(
            jax.random.key(1 + repeat), init_params=init, extra_fields=("num_steps",)
        )
        steps = np.asarray(mcmc.get_extra_fields()["num_steps"])
        seconds = time.perf_counter() - start
        print(
            f"numpyro NUTS: {1e6 * seconds / np.sum(steps):.2f} us per gradient, "
            f"{np.mean(steps):.1f} gradients per transition",
            flush=True,
        )


if __name__ == "__main__":
    main()
