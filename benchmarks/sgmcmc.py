"""SG-MCMC on Bayesian neural networks: SGLD, pSGLD, SGHMC, cyclical, NUTS, ensembles.

Problems: an MLP ``d-50-1`` (tanh or ReLU; ``--hidden 50 50`` for 2x50)
with ``Normal(0, 1)`` priors and a learned observation noise
(:class:`symbayes.models.MLP`) on the bundled UCI sets (``yacht``,
``energy``, ``power-plant``), split 0 of Hernandez-Lobato & Adams (2015),
standardised with training statistics.

Methods (``--chains`` chains or members each, the same initial points, one
prior draw per chain):

* ``sgld``, ``psgld``, ``sghmc``, ``psghmc``: :func:`symbayes.sample` with the default
  step-size rule (``step_size="auto"``), batches of ``--batch`` rows drawn
  without replacement per epoch, ``--warmup`` burn-in transitions and
  ``--samples`` draws thinned by ``--thin`` (SGHMC: warmup and thinning
  divided by ``num_integration_steps + 1``, its gradients per transition,
  so that every SG method spends the same gradients);
* ``csgld``, ``csghmc``: the same kernels with
  ``cyclical_schedule(cycle_length, exploration=0.25)`` over the sampling
  phase (``--cycles`` cycles per chain);
* ``nuts``: full-batch NUTS, ``--nuts-warmup`` + ``--nuts-samples`` per chain
  (yacht and energy only, unless ``--nuts-everywhere``);
* ``ens-sgld``, ``ens-psgld``, ``ens-sghmc``, ``ens-psghmc``: the deep ensemble below,
  trained for ``--ensemble-share`` of the SG warmup's transitions (Adam steps
  per member), then the SG kernel from its members for the rest of the
  warmup and the same sampling phase: the same gradients as the SG run
  started at prior draws (the MILE recipe of Sommer et al. 2025, ensemble
  then sampler, with an SG sampler);
* ``ensemble``: a deep ensemble of ``--chains`` networks, MAP (the same log
  posterior) trained with optax Adam (learning rate 1e-3, then 1e-4 for the
  last 20%) on batches of ``--batch`` rows (the same epoch stream), with
  the per-member gradient
  budget of the SGLD run (the row-gradients SGLD used, split equally);
  the predictive is the equal mixture of the members' Gaussians.

Reported per (dataset, activation, method): test RMSE of the predictive
mean and test log predictive density (nats per test point, both on the
standardised scale; subtract ``log y_std`` for raw units), function-space
R-hat across chains (``symbayes.diagnose(result, model=, data=)``, rank
split R-hat maximised over the predictions at 16 probe inputs and the total
log-likelihood), the canonical-space ESS minimum, gradients used (row
gradients: one minibatch gradient counts ``batch`` rows, a full-batch
gradient ``n`` rows; and the number of gradient calls), and wall time.

Usage::

    python benchmarks/sgmcmc.py --datasets yacht energy \
        --out benchmarks/results/sgmcmc.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import symbayes
from symbayes import sample
from symbayes.datasets import load
from symbayes.kernels import cyclical_schedule
from symbayes.kernels.minibatches import init_stream, next_batch
from symbayes.models import MLP

SG_METHODS = ("sgld", "psgld", "sghmc", "psghmc", "csgld", "csghmc")
# SG kernels started at a deep ensemble's members (MILE's recipe, with SG-MCMC)
ENSEMBLE_STARTS = ("ens-sgld", "ens-psgld", "ens-sghmc", "ens-psghmc")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["yacht", "energy"])
    parser.add_argument("--activations", nargs="+", default=["tanh"])
    parser.add_argument("--hidden", nargs="+", type=int, default=[50])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=[*SG_METHODS, *ENSEMBLE_STARTS, "nuts", "ensemble"],
    )
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--thin", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--sghmc-steps", type=int, default=4)
    parser.add_argument("--nuts-warmup", type=int, default=300)
    parser.add_argument("--nuts-samples", type=int, default=300)
    parser.add_argument("--nuts-depth", type=int, default=8)
    parser.add_argument("--nuts-everywhere", action="store_true")
    parser.add_argument("--safety", type=float, default=None)
    parser.add_argument(
        "--ensemble-share",
        type=float,
        default=0.5,
        help="share of the SG warmup spent on the ensemble (ens-* methods)",
    )
    parser.add_argument("--sghmc-noise-cap", choices=("on", "off"), default="off")
    parser.add_argument("--tag", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args()


# ----------------------------------------------------------- evaluation
def predictive_scores(model: MLP, draws: dict, X: np.ndarray, y: np.ndarray):
    """Test RMSE of the predictive mean and test LPD of the mixture predictive.

    ``draws`` have leading axes ``(chain, draw)``; every draw weighs the same.
    LPD: ``mean_i log (1/S) sum_s N(y_i | f_s(x_i), sigma_s^2)``.
    """
    flat = jax.tree_util.tree_map(
        lambda x: np.reshape(x, (-1, *np.shape(x)[2:])), draws
    )

    def one(params):
        mean = model.apply(params, jnp.asarray(X))[:, 0]
        sd = model.noise_std(params)
        logpdf = (
            -0.5 * ((y - mean) / sd) ** 2 - jnp.log(sd) - 0.5 * math.log(2 * math.pi)
        )
        return mean, logpdf

    means, logpdfs = jax.lax.map(one, flat)
    finite = np.all(np.isfinite(np.asarray(logpdfs)), axis=1)
    means, logpdfs = np.asarray(means)[finite], np.asarray(logpdfs)[finite]
    if means.shape[0] == 0:
        return float("nan"), float("nan")
    rmse = float(np.sqrt(np.mean((means.mean(axis=0) - y) ** 2)))
    lpd = jax.scipy.special.logsumexp(logpdfs, axis=0) - np.log(logpdfs.shape[0])
    return rmse, float(np.mean(lpd))


def chain_diagnostics(result, model: MLP, data) -> dict:
    diagnostics = symbayes.diagnose(result, model=model, data=data)
    summary = diagnostics.summary()
    return {
        "rhat_function": float(summary["rhat_max_function"]),
        "ess_bulk_min_function": float(summary["ess_bulk_min_function"]),
        "rhat_canonical": float(summary["rhat_max_canonical"]),
        "ess_bulk_min_canonical": float(summary["ess_bulk_min_canonical"]),
        "modes_canonical": int(summary["modes_canonical"]),
    }


# --------------------------------------------------------------- methods
def run_sampler(method, model, data, init, args, key):
    n = data.num_train
    options: dict = {}
    kernel = method.lstrip("c") if method in ("csgld", "csghmc") else method
    warmup, samples, thin = args.warmup, args.samples, args.thin
    ensemble = None
    if method in ENSEMBLE_STARTS:
        kernel = method.removeprefix("ens-")
        steps = int(round(args.ensemble_share * warmup))
        ensemble = train_ensemble(model, data, init, args, steps)
        init, warmup = ensemble["params"], warmup - steps
    if method == "nuts":
        options = {"max_num_doublings": args.nuts_depth}
        warmup, samples, thin = args.nuts_warmup, args.nuts_samples, 1
    else:
        options["batch_size"] = min(args.batch, n)
        if args.safety is not None:
            options["safety"] = args.safety
        if kernel in ("sghmc", "psghmc"):
            # equal gradient budget: L + 1 gradients per SGHMC transition
            options["num_integration_steps"] = args.sghmc_steps
            options["noise_cap"] = args.sghmc_noise_cap == "on"
            warmup //= args.sghmc_steps + 1
            thin = max(1, thin // (args.sghmc_steps + 1))
        if method.startswith("c"):
            # cycles over the sampling phase; a cycle's sampling stage holds
            # samples * thin / cycles transitions, its exploration 1/3 of that
            sampling = samples * thin // args.cycles
            length = sampling * 4 // 3
            options["step_size"] = cyclical_schedule(length, 0.25)
    start = time.perf_counter()
    result = sample(
        model,
        init,
        data=data,
        kernel=kernel,
        num_chains=args.chains,
        num_warmup=warmup,
        num_samples=samples,
        thinning=thin,
        key=key,
        progress_bar=False,
        **options,
    )
    seconds = time.perf_counter() - start
    calls = int(result.timings.num_grad_evals)
    rows = calls * (n if method == "nuts" else options["batch_size"])
    if ensemble is not None:
        calls += ensemble["gradient_calls"]
        rows += ensemble["row_gradients"]
        seconds += ensemble["seconds"]
    rmse, lpd = predictive_scores(model, result.draws, data.X_test, data.y_test)
    record = {
        "test_rmse": rmse,
        "test_lpd": lpd,
        "gradient_calls": calls,
        "row_gradients": rows,
        "data_passes": rows / n,
        "seconds": seconds,
        "divergences": int(result.num_divergences),
        "base_step_size": np.asarray(
            result.adaptation.get(
                "base_step_size", result.adaptation.get("step_size", np.nan)
            )
        ).tolist(),
    }
    record.update(chain_diagnostics(result, model, data))
    return record


def train_ensemble(model, data, init, args, steps: int) -> dict:
    """Adam on the log posterior, ``steps`` minibatch steps per member.

    Learning rate 1e-3, then 1e-4 for the last 20% of the steps; batches of
    ``--batch`` rows from the samplers' epoch stream. Returns the trained
    members (leading axis: member), their gradient counts and the wall time.
    """
    n = data.num_train
    batch = min(args.batch, n)
    members = args.chains
    steps = max(1, steps)
    logdensity = model.minibatch_logdensity_fn(n)
    X, y = jnp.asarray(data.X_train), jnp.asarray(data.y_train)
    boundaries = {int(0.8 * steps): 0.1}
    optimizer = optax.adam(optax.piecewise_constant_schedule(1e-3, boundaries))

    def loss(params, batch_rows):
        return -logdensity(params, batch_rows) / n

    def train(params, key):
        state = optimizer.init(params)

        def step(carry, k):
            params, state, stream = carry
            rows, stream = next_batch(k, stream, (X, y), batch)
            grads = jax.grad(loss)(params, rows)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state, stream), None

        key_stream, key_steps = jax.random.split(key)
        stream = init_stream(key_stream, n)
        (params, _, _), _ = jax.lax.scan(
            step, (params, state, stream), jax.random.split(key_steps, steps)
        )
        return params

    start = time.perf_counter()
    keys = jax.random.split(jax.random.key(args.seed + 7), members)
    trained = jax.jit(jax.vmap(train))(init, keys)
    jax.block_until_ready(trained)
    return {
        "params": trained,
        "gradient_calls": int(steps * members),
        "row_gradients": int(steps * members * batch),
        "seconds": time.perf_counter() - start,
    }


def run_ensemble(model, data, init, args, row_budget: int):
    """Deep ensemble: MAP by Adam at the given total row-gradient budget."""
    n = data.num_train
    steps = max(1, row_budget // (args.chains * min(args.batch, n)))
    ensemble = train_ensemble(model, data, init, args, steps)
    draws = jax.tree_util.tree_map(lambda x: np.asarray(x)[:, None], ensemble["params"])
    rmse, lpd = predictive_scores(model, draws, data.X_test, data.y_test)
    return {
        "test_rmse": rmse,
        "test_lpd": lpd,
        "gradient_calls": ensemble["gradient_calls"],
        "row_gradients": ensemble["row_gradients"],
        "data_passes": ensemble["row_gradients"] / n,
        "seconds": ensemble["seconds"],
    }


def main() -> None:
    args = parse()
    records = []
    for name in args.datasets:
        data = load(name, split=0)
        for activation in args.activations:
            model = MLP((data.num_features, *args.hidden, 1), activation)
            key = jax.random.key(args.seed)
            init = jax.vmap(model.init)(jax.random.split(key, args.chains))
            sgld_rows = None
            for method in args.methods:
                if method == "nuts" and not (
                    args.nuts_everywhere or name in ("yacht", "energy")
                ):
                    continue
                label = (
                    f"{name}/{activation}/{'x'.join(map(str, args.hidden))}/{method}"
                )
                print(label, flush=True)
                if method == "ensemble":
                    budget = sgld_rows or (
                        (args.warmup + args.samples * args.thin)
                        * args.batch
                        * args.chains
                    )
                    record = run_ensemble(model, data, init, args, budget)
                else:
                    record = run_sampler(method, model, data, init, args, args.seed)
                    if method == "sgld":
                        sgld_rows = record["row_gradients"]
                record.update(
                    dataset=name,
                    activation=activation,
                    hidden=list(args.hidden),
                    method=method + args.tag,
                    num_train=data.num_train,
                    num_test=data.num_test,
                    y_std=float(data.y_std),
                )
                print(
                    "  "
                    + " ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in record.items()
                        if k
                        in (
                            "test_rmse",
                            "test_lpd",
                            "rhat_function",
                            "ess_bulk_min_function",
                            "row_gradients",
                            "seconds",
                            "base_step_size",
                        )
                    ),
                    flush=True,
                )
                records.append(record)
                save(args, records)


def save(args: argparse.Namespace, records: list) -> None:
    """Write the records so far (after every method: a killed run keeps them)."""
    if args.out is None:
        return
    settings = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"settings": settings, "records": records}, indent=1)
    )


if __name__ == "__main__":
    main()
