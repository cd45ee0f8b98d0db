"""Sampler efficiency on the quotient: canonical ESS per gradient and per second.

Two posteriors:

* ``bnn`` - a 1-8-1 tanh MLP (:class:`symbayes.models.MLP`, prior
  ``Normal(0, 1)`` on every weight and bias) on the bundled ``sinusoidal``
  data (all 150 rows, ``load("sinusoidal", split=None)``, standardised). The
  observation noise is learned by default (``log_noise ~ Normal(-1, 1)``):
  the data were generated with noise sd 0.3, about 0.39 after standardising,
  and a fixed noise of 0.1 forces a sharp, misfitting posterior with step
  sizes near 0.01. ``--bnn-noise 0.3`` fixes it instead.
* ``gmm`` - a 3-component 1-D Gaussian mixture
  (:class:`symbayes.models.GaussianMixture`) on 300 draws of
  ``make_gaussian_mixture()`` (means -3, 0, 3, sd 0.7, equal weights, seed 0).

Methods, 8 chains each, the same warmup and number of draws, the same
initial points (one prior draw per chain from ``model.init``; for the mixture
``model.init(key, data)``, the means at random data points):

* symbayes ``sample`` with kernel NUTS or HMC (``num_integration_steps``
  leapfrog steps, 16 by default) and quotient mode ``none`` (sample the full
  space, canonicalise afterwards), ``reparam`` (softplus and exp gaps) and
  ``glue``, with the model's default keys (BNN: the bias is the sort and
  the sign key; mixture: the mean); for the BNN also ``reparam`` and
  ``glue`` with the outgoing weight ``W2[j, 0]`` as sort and sign key
  (``--bnn-keys``, passed as ``symmetry=``). The keys change the sampler's
  domain only: the ESS is measured on the common canonical coordinates below;
* numpyro ``NUTS`` / ``MCMC(chain_method="vectorized")`` on the same
  posterior written as a numpyro model (its log density is checked against
  the symbayes model's at the initial points; the difference is saved).

Every method's draws go through the same post-hoc map,
``canonicalize(draws, model.symmetry, "sort", batch_ndim=2)`` (biases >= 0
and ascending for the BNN; means ascending for the mixture), and arviz's
bulk ESS is computed per canonical coordinate (``az.ess`` on
``az.convert_to_dataset`` of ``{leaf: (chain, draw, ...)}``). Reported: its
minimum (the headline) and median, tail-ESS minimum, maximal R-hat, and the
bulk-ESS minimum on *function* coordinates (``model.function_fn``:
predictions at 16 probe inputs and the total log-likelihood for the BNN,
log densities at probe points for the mixture), which no canonical map
affects.

Gradient evaluations are leapfrog steps (``num_integration_steps`` of
blackjax, ``num_steps`` of numpyro; the initial gradient of a run is not
counted), all chains summed, counted for warmup and sampling separately.
Rates: ESS min per 1000 gradient evaluations of the sampling phase and of the
whole run (warmup + sampling); ESS min per second of warmup + sampling wall
time without compilation. symbayes compiles ahead of time
(``timings.compile_seconds``); numpyro compiles inside ``warmup``/``run``,
so its compilation time is measured with ``jax.monitoring`` (the durations
of JAX's tracing, lowering and XLA compilation events during each phase) and
subtracted phase by phase (the raw wall times are saved too).
ESS/s with compilation included is saved as well.

Goals of the issue: symbayes NUTS ``none`` at least as fast as numpyro NUTS
per ESS (ESS min per second, and per gradient for reference); one quotient
mode with at least 1.5x the ESS min per gradient of ``none`` (same kernel,
sampling-phase gradients).

Run (from the repository root)::

    .venv/bin/python benchmarks/samplers.py            # 1000 warmup + 1000 draws
    .venv/bin/python benchmarks/samplers.py --quick    # smoke run, about 2 min

Results: ``benchmarks/results/samplers.json`` (``--output``) and a table on
stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import log_density

from symbayes import canonicalize, sample
from symbayes.datasets import load, make_gaussian_mixture
from symbayes.models import MLP, GaussianMixture
from symbayes.symmetry import HiddenAxis, Symmetry, UnitKey

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import load_average, machine_info, source_version, versions  # noqa: E402
from peers import compile_seconds, numpyro_phases  # noqa: E402

NUM_CHAINS = 8
GOALS = {
    "none_vs_numpyro": "symbayes NUTS none ESS min per second >= numpyro NUTS",
    "quotient_vs_none": "some quotient mode: ESS min per 1000 sampling-phase "
    "gradient evaluations >= 1.5 x that of none with the same kernel",
    "quotient_vs_none_factor": 1.5,
}
# BNN unit keys: the bias, the first-layer (incoming) weight, the outgoing weight
BNN_KEYS = {"b1": UnitKey("b1"), "W1": UnitKey("W1", (0,)), "W2": UnitKey("W2", (0,))}


# ------------------------------------------------------------------ problems
@dataclass(frozen=True)
class Problem:
    """A posterior in both libraries, its data and initial points."""

    name: str
    description: str
    model: Any
    data: tuple
    numpyro_model: Callable
    numpyro_args: tuple
    init_params: Any  # (chains, ...) pytree
    seed: int


def bnn_problem(seed: int, noise: float | None) -> Problem:
    data = load("sinusoidal", split=None)
    model = MLP((1, 8, 1), "tanh", noise=noise)
    X, y = jnp.asarray(data.X_train), jnp.asarray(data.y_train)
    (s1, s2), noise_prior = model.prior_scale, model.noise_prior

    def numpyro_model(X, y):
        W1 = numpyro.sample("W1", dist.Normal(0.0, s1).expand((1, 8)).to_event(2))
        b1 = numpyro.sample("b1", dist.Normal(0.0, s1).expand((8,)).to_event(1))
        W2 = numpyro.sample("W2", dist.Normal(0.0, s2).expand((8, 1)).to_event(2))
        b2 = numpyro.sample("b2", dist.Normal(0.0, s2).expand((1,)).to_event(1))
        if noise is None:
            log_noise = numpyro.sample("log_noise", dist.Normal(*noise_prior))
            sigma = jnp.exp(log_noise)
        else:
            sigma = noise
        mean = (jnp.tanh(X @ W1 + b1) @ W2 + b2)[:, 0]
        numpyro.sample("y", dist.Normal(mean, sigma), obs=y)

    keys = jax.random.split(jax.random.fold_in(jax.random.key(seed), 1), NUM_CHAINS)
    init = jax.vmap(model.init)(keys)
    noise_text = "learned (log_noise ~ Normal(-1, 1))" if noise is None else noise
    return Problem(
        name="bnn",
        description=f"MLP 1-8-1 tanh, prior Normal(0, 1), noise {noise_text}; "
        "bundled sinusoidal data, all 150 rows, standardised",
        model=model,
        data=(X, y),
        numpyro_model=numpyro_model,
        numpyro_args=(X, y),
        init_params=init,
        seed=seed,
    )


def gmm_problem(seed: int) -> Problem:
    data = make_gaussian_mixture()
    model = GaussianMixture(3, 1)
    X = jnp.asarray(data.X_train)
    scale, (ls_mean, ls_std) = model.mean_prior_scale, model.log_scale_prior
    alpha, K = model.dirichlet_concentration, model.num_components

    def numpyro_model(X):
        means = numpyro.sample(
            "means", dist.Normal(0.0, scale).expand((K, 1)).to_event(2)
        )
        log_scales = numpyro.sample(
            "log_scales", dist.Normal(ls_mean, ls_std).expand((K, 1)).to_event(2)
        )
        # log of a Gamma(alpha, 1) variable: density alpha z - e^z - lgamma(alpha)
        log_gamma = dist.TransformedDistribution(
            dist.Gamma(alpha, 1.0).expand((K,)), dist.transforms.ExpTransform().inv
        )
        log_weights = numpyro.sample("log_weights", log_gamma.to_event(1))
        mixture = dist.MixtureSameFamily(
            dist.Categorical(logits=log_weights),
            dist.Normal(means[:, 0], jnp.exp(log_scales[:, 0])),
        )
        numpyro.sample("x", mixture, obs=X[:, 0])

    keys = jax.random.split(jax.random.fold_in(jax.random.key(seed), 1), NUM_CHAINS)
    init = jax.vmap(lambda k: model.init(k, (X,)))(keys)
    return Problem(
        name="gmm",
        description="GaussianMixture(3, 1) (means ~ Normal(0, 5^2), log scales ~ "
        "Normal(0, 1), Dirichlet(1) weights) on make_gaussian_mixture(): 300 "
        "draws, means (-3, 0, 3), sd 0.7, equal weights, seed 0",
        model=model,
        data=(X,),
        numpyro_model=numpyro_model,
        numpyro_args=(X,),
        init_params=init,
        seed=seed,
    )


def keyed_symmetry(model: MLP, sort: str, sign: str) -> Symmetry:
    """The BNN's symmetry with other sort and sign keys."""
    (axis,) = model.symmetry.axes
    return Symmetry(
        (
            HiddenAxis(
                axis.name,
                axis.size,
                axis.entries,
                axis.groups,
                sort_key=BNN_KEYS[sort],
                sign_key=BNN_KEYS[sign],
            ),
        )
    )


def log_density_check(problem: Problem) -> dict[str, float]:
    """symbayes vs numpyro log density at the initial points."""
    ours = jax.vmap(problem.model.logdensity_fn(problem.data))(problem.init_params)

    def theirs(params):
        return log_density(problem.numpyro_model, problem.numpyro_args, {}, params)[0]

    other = jax.vmap(theirs)(problem.init_params)
    difference = np.abs(np.asarray(ours) - np.asarray(other))
    relative = difference / np.maximum(np.abs(np.asarray(ours)), 1.0)
    if not np.all(relative < 1e-4):
        raise AssertionError(
            f"{problem.name}: numpyro and symbayes log densities differ: "
            f"{np.asarray(ours)} vs {np.asarray(other)}"
        )
    return {
        "max_abs_difference": float(difference.max()),
        "max_relative_difference": float(relative.max()),
        "symbayes_values": np.asarray(ours).tolist(),
    }


# ------------------------------------------------------------------ metrics
def coordinate_names(draws: dict[str, np.ndarray]) -> list[str]:
    names = []
    for leaf, value in draws.items():
        shape = value.shape[2:]
        if not shape:
            names.append(leaf)
        else:
            names += [f"{leaf}[{','.join(map(str, i))}]" for i in np.ndindex(*shape)]
    return names


def ess_summary(problem: Problem, draws: Any) -> dict[str, Any]:
    """ESS and R-hat on the common canonical coordinates and on functions."""
    canonical = canonicalize(draws, problem.model.symmetry, "sort", batch_ndim=2)
    canonical = {k: np.asarray(v) for k, v in canonical.items()}
    dataset = az.convert_to_dataset(canonical)

    def flat(result) -> np.ndarray:
        return np.concatenate([np.ravel(result[k].values) for k in canonical])

    bulk = flat(az.ess(dataset, method="bulk"))
    tail = flat(az.ess(dataset, method="tail"))
    rhat = flat(az.rhat(dataset))
    names = coordinate_names(canonical)
    function = problem.model.function_fn(problem.data)
    values = jax.jit(jax.vmap(jax.vmap(function)))(canonical)
    function_ess = np.ravel(
        az.ess(az.convert_to_dataset({"f": np.asarray(values)}), method="bulk")[
            "f"
        ].values
    )
    return {
        "ess_bulk_min": float(bulk.min()),
        "ess_bulk_median": float(np.median(bulk)),
        "ess_bulk_argmin": names[int(np.argmin(bulk))],
        "ess_tail_min": float(tail.min()),
        "rhat_max": float(rhat.max()),
        "ess_bulk_function_min": float(function_ess.min()),
        "ess_bulk_per_coordinate": dict(zip(names, np.round(bulk, 1).tolist())),
    }


def rates(record: dict[str, Any]) -> None:
    """Per-gradient and per-second rates of the ESS minimum, in place."""
    ess = record["ess_bulk_min"]
    grads = record["grad_evals"]
    seconds = record["seconds"]
    run_seconds = seconds["warmup"] + seconds["sampling"]
    record["ess_per_1000_grads_sampling"] = 1000 * ess / grads["sampling"]
    record["ess_per_1000_grads_total"] = 1000 * ess / grads["total"]
    record["ess_per_second"] = ess / run_seconds
    record["ess_per_second_with_compile"] = ess / (run_seconds + seconds["compile"])
    record["ess_function_per_1000_grads_sampling"] = (
        1000 * record["ess_bulk_function_min"] / grads["sampling"]
    )


# ------------------------------------------------------------------ runs
def run_symbayes(problem: Problem, method: dict[str, Any], args) -> dict[str, Any]:
    symmetry = None
    if method.get("keys"):
        symmetry = keyed_symmetry(problem.model, *method["keys"])
    load_before = load_average()
    compiled, start = compile_seconds(), time.perf_counter()
    result = sample(
        problem.model,
        problem.init_params,
        symmetry,
        data=problem.data,
        kernel=method["kernel"],
        quotient=method["quotient"],
        num_chains=NUM_CHAINS,
        num_warmup=args.num_warmup,
        num_samples=args.num_samples,
        key=problem.seed,
        num_integration_steps=args.hmc_steps,
        reparam_gap=method.get("reparam_gap", "softplus"),
        progress_bar=False,
    )
    wall = time.perf_counter() - start
    compiled = compile_seconds() - compiled
    timings = result.timings
    stats = result.sample_stats
    sampling_grads = int(np.sum(stats["num_grad_evals"]))
    record = {
        **method,
        "library": "symbayes",
        "seconds": {
            "compile": timings.compile_seconds,
            "warmup": timings.warmup_seconds,
            "sampling": timings.sampling_seconds,
            "canonical": timings.canonical_seconds,
            "sample_call_wall": wall,
            "compile_events_in_sample_call": compiled,
        },
        "grad_evals": {
            "warmup": int(timings.num_grad_evals) - sampling_grads,
            "sampling": sampling_grads,
            "total": int(timings.num_grad_evals),
        },
        "grad_evals_per_draw": float(np.mean(stats["num_grad_evals"])),
        "divergences": int(np.sum(stats["diverging"])),
        "mean_acceptance": float(np.mean(stats["acceptance_rate"])),
        "step_size": np.asarray(result.adaptation["step_size"]).tolist(),
        "mean_tree_depth": float(np.mean(stats["tree_depth"])),
        "glues_per_draw": float(np.mean(stats["glues"])),
        "max_glues_in_a_draw": int(np.max(stats["glues"])),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        **ess_summary(problem, result.draws),
    }
    rates(record)
    return record


def _numpyro_mcmc(problem: Problem, num_warmup: int, num_samples: int) -> MCMC:
    kernel = NUTS(
        problem.numpyro_model,
        target_accept_prob=0.8,
        max_tree_depth=10,
        dense_mass=False,
    )
    return MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=NUM_CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )


def run_numpyro(problem: Problem, args) -> dict[str, Any]:
    key = jax.random.key(problem.seed)
    load_before = load_average()
    phases = numpyro_phases(
        _numpyro_mcmc(problem, args.num_warmup, args.num_samples),
        problem.numpyro_args,
        problem.init_params,
        key,
    )
    compile_warmup, compile_sampling = (
        phases["warmup_compile"],
        phases["sampling_compile"],
    )
    extra, warmup_extra = phases["extra"], phases["warmup_extra"]
    sampling_grads = int(np.sum(extra["num_steps"]))
    warmup_grads = int(np.sum(warmup_extra["num_steps"]))
    draws = {k: np.asarray(v) for k, v in phases["draws"].items()}
    record = {
        "label": "numpyro nuts",
        "kernel": "nuts",
        "quotient": "none",
        "library": "numpyro",
        "seconds": {
            "compile": compile_warmup + compile_sampling,
            "warmup": phases["warmup_seconds"] - compile_warmup,
            "sampling": phases["sampling_seconds"] - compile_sampling,
            "warmup_wall_raw": phases["warmup_seconds"],
            "sampling_wall_raw": phases["sampling_seconds"],
            "compile_warmup": compile_warmup,
            "compile_sampling": compile_sampling,
        },
        "grad_evals": {
            "warmup": warmup_grads,
            "sampling": sampling_grads,
            "total": warmup_grads + sampling_grads,
        },
        "grad_evals_per_draw": float(np.mean(extra["num_steps"])),
        "divergences": int(np.sum(extra["diverging"])),
        "mean_acceptance": float(np.mean(extra["accept_prob"])),
        "step_size": np.asarray(extra["adapt_state.step_size"])[:, -1].tolist(),
        "mean_tree_depth": float(np.mean(np.log2(np.asarray(extra["num_steps"]) + 1))),
        "glues_per_draw": None,
        "max_glues_in_a_draw": None,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        **ess_summary(problem, draws),
    }
    rates(record)
    return record


def symbayes_methods(problem: Problem, args) -> list[dict[str, Any]]:
    keys = [None] + ([[k, k] for k in args.bnn_keys] if problem.name == "bnn" else [])
    methods = []
    for kernel in args.kernels:
        for key in keys:
            for quotient in args.quotients:
                if quotient == "none" and key is not None:
                    continue
                gaps = args.reparam_gaps if quotient == "reparam" else [None]
                for gap in gaps:
                    method = {"kernel": kernel, "quotient": quotient}
                    if gap is not None:
                        method["reparam_gap"] = gap
                    if key is not None:
                        method["keys"] = key
                    methods.append(method)
    for method in methods:
        label = f"{method['kernel']} {method['quotient']}"
        if method["quotient"] == "reparam":
            label += f" {method['reparam_gap']}"
        if method.get("keys"):
            label += " [key {}]".format(method["keys"][0])
        method["label"] = label
    return methods


# ------------------------------------------------------------------ report
HEADER = (
    f"{'problem':<5} {'method':<36} {'ESS min':>8} {'ESS med':>8} {'ESS fn':>7} "
    f"{'/1k gr s':>9} {'/1k gr t':>9} {'ESS/s':>8} {'gr/draw':>8} {'step':>7} "
    f"{'acc':>5} {'div':>4} {'refl':>6} {'warm s':>7} {'samp s':>7} {'comp s':>7}"
)
FOOTNOTE = (
    "ESS min/med: bulk ESS on the common canonical (sort) coordinates, min / "
    "median over coordinates; ESS fn: bulk ESS min on function coordinates; "
    "/1k gr s|t: ESS min per 1000 gradient evaluations of sampling | warmup + "
    "sampling; ESS/s: ESS min per second of warmup + sampling (compilation "
    "excluded; numpyro: measured by jax.monitoring and subtracted); step: "
    "mean adapted step size; refl: glues per draw (glue)"
)


def format_row(problem: str, record: dict[str, Any]) -> str:
    refl = record["glues_per_draw"]
    seconds = record["seconds"]
    return (
        f"{problem:<5} {record['label']:<36} {record['ess_bulk_min']:>8.1f} "
        f"{record['ess_bulk_median']:>8.1f} {record['ess_bulk_function_min']:>7.1f} "
        f"{record['ess_per_1000_grads_sampling']:>9.3f} "
        f"{record['ess_per_1000_grads_total']:>9.3f} "
        f"{record['ess_per_second']:>8.2f} {record['grad_evals_per_draw']:>8.1f} "
        f"{np.mean(record['step_size']):>7.4f} {record['mean_acceptance']:>5.2f} "
        f"{record['divergences']:>4d} "
        f"{'-' if refl is None else f'{refl:.2f}':>6} "
        f"{seconds['warmup']:>7.1f} {seconds['sampling']:>7.1f} "
        f"{seconds['compile']:>7.1f}"
    )


def goal_checks(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Evaluate both goals per problem."""
    checks: dict[str, Any] = {}
    factor = GOALS["quotient_vs_none_factor"]
    for problem in sorted({r["problem"] for r in records}):
        rows = [r for r in records if r["problem"] == problem]
        by_label = {r["label"]: r for r in rows}
        entry: dict[str, Any] = {}
        ours, theirs = by_label.get("nuts none"), by_label.get("numpyro nuts")
        if ours and theirs:
            entry["none_vs_numpyro"] = {
                "ess_per_second_ratio": ours["ess_per_second"]
                / theirs["ess_per_second"],
                "ess_per_second_with_compile_ratio": ours["ess_per_second_with_compile"]
                / theirs["ess_per_second_with_compile"],
                "ess_per_1000_grads_total_ratio": ours["ess_per_1000_grads_total"]
                / theirs["ess_per_1000_grads_total"],
                "met": ours["ess_per_second"] >= theirs["ess_per_second"],
            }
        ratios = {}
        for row in rows:
            if row["library"] != "symbayes" or row["quotient"] == "none":
                continue
            baseline = by_label.get(f"{row['kernel']} none")
            if baseline is None:
                continue
            ratios[row["label"]] = {
                "sampling_grads": row["ess_per_1000_grads_sampling"]
                / baseline["ess_per_1000_grads_sampling"],
                "total_grads": row["ess_per_1000_grads_total"]
                / baseline["ess_per_1000_grads_total"],
                "function_coordinates_sampling_grads": row[
                    "ess_function_per_1000_grads_sampling"
                ]
                / baseline["ess_function_per_1000_grads_sampling"],
            }
        if ratios:
            best = max(ratios, key=lambda label: ratios[label]["sampling_grads"])
            entry["quotient_vs_none"] = {
                "ratios": ratios,
                "best": best,
                "best_ratio": ratios[best]["sampling_grads"],
                "met": ratios[best]["sampling_grads"] >= factor,
            }
        checks[problem] = entry
    return checks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--num-warmup", type=int, default=1000)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 50 warmup + 50 draws, NUTS with none and glue, and numpyro",
    )
    parser.add_argument("--seed", type=int, default=0, help="problem i uses seed + i")
    parser.add_argument(
        "--problems", nargs="+", default=["bnn", "gmm"], choices=["bnn", "gmm"]
    )
    parser.add_argument(
        "--kernels", nargs="+", default=["nuts", "hmc"], choices=["nuts", "hmc"]
    )
    parser.add_argument(
        "--quotients",
        nargs="+",
        default=["none", "reparam", "glue"],
        choices=["none", "reparam", "glue"],
    )
    parser.add_argument(
        "--reparam-gaps",
        nargs="+",
        default=["softplus", "exp"],
        choices=["softplus", "exp"],
    )
    parser.add_argument(
        "--bnn-keys",
        nargs="*",
        default=["W2"],
        choices=["b1", "W1", "W2"],
        help="extra BNN reparam (every gap) and glue runs whose sort and sign "
        "key is this unit coordinate (default: W2, the outgoing weight; pass "
        "nothing to skip)",
    )
    parser.add_argument(
        "--hmc-steps", type=int, default=16, help="leapfrog steps per HMC transition"
    )
    parser.add_argument(
        "--bnn-noise",
        type=float,
        default=None,
        help="fixed observation noise sd of the BNN (default: learned)",
    )
    parser.add_argument("--no-numpyro", action="store_true")
    parser.add_argument(
        "--output", type=Path, default=Path("benchmarks/results/samplers.json")
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.num_warmup, args.num_samples = 50, 50
        args.kernels, args.quotients, args.bnn_keys = ["nuts"], ["none", "glue"], []
    if args.num_warmup < 1 or args.num_samples < 4:
        parser.error("--num-warmup must be >= 1 and --num-samples >= 4")

    info = machine_info() | versions()
    load_before = load_average()
    print(
        f"symbayes sampler benchmark: {NUM_CHAINS} chains, {args.num_warmup} warmup "
        f"+ {args.num_samples} draws, backend {info['jax_backend']}, "
        f"{info['cpu_count']} CPUs ({info['processor']}), load average {load_before}"
    )
    print(f"goals: {GOALS['none_vs_numpyro']}; {GOALS['quotient_vs_none']}")
    started = time.perf_counter()
    problems, records = {}, []
    for index, name in enumerate(("bnn", "gmm")):
        if name not in args.problems:
            continue
        seed = args.seed + index
        problem = (
            bnn_problem(seed, args.bnn_noise) if name == "bnn" else gmm_problem(seed)
        )
        check = log_density_check(problem)
        problems[name] = {
            "description": problem.description,
            "seed": seed,
            "log_density_check": check,
        }
        print(f"\n{name}: {problem.description}")
        print(
            "numpyro vs symbayes log density at the initial points: max abs "
            f"difference {check['max_abs_difference']:.2e}"
        )
        print(HEADER)
        print("-" * len(HEADER), flush=True)
        runs = [("symbayes", m) for m in symbayes_methods(problem, args)]
        if not args.no_numpyro:
            runs.append(("numpyro", None))
        for library, method in runs:
            if library == "symbayes":
                record = run_symbayes(problem, method, args)
            else:
                record = run_numpyro(problem, args)
            record["problem"] = name
            records.append(record)
            print(format_row(name, record), flush=True)
    total = time.perf_counter() - started
    print(FOOTNOTE)
    checks = goal_checks(records)
    print("\ngoals:")
    for name, entry in checks.items():
        if "none_vs_numpyro" in entry:
            goal = entry["none_vs_numpyro"]
            print(
                f"  {name}: nuts none / numpyro ESS per second "
                f"{goal['ess_per_second_ratio']:.2f}x (with compile "
                f"{goal['ess_per_second_with_compile_ratio']:.2f}x), per gradient "
                f"{goal['ess_per_1000_grads_total_ratio']:.2f}x: "
                f"{'met' if goal['met'] else 'NOT met'}"
            )
        if "quotient_vs_none" in entry:
            goal = entry["quotient_vs_none"]
            print(
                f"  {name}: best quotient mode {goal['best']!r}: "
                f"{goal['best_ratio']:.2f}x the ESS per gradient of none: "
                f"{'met' if goal['met'] else 'NOT met'}"
            )
    report = {
        "benchmark": "samplers",
        "description": __doc__.split("\n\n")[0],
        "machine": info,
        "source": source_version(),
        "seeds": {
            "rule": "problem i (0: bnn, 1: gmm) uses seed + i: sample(key=seed + i); "
            "initial points model.init on jax.random.split(jax.random.fold_in("
            "jax.random.key(seed + i), 1), 8); numpyro warmup and sampling keys "
            "jax.random.split(jax.random.key(seed + i))",
            "seed": args.seed,
        },
        "settings": {
            "num_chains": NUM_CHAINS,
            "num_warmup": args.num_warmup,
            "num_samples": args.num_samples,
            "hmc_steps": args.hmc_steps,
            "target_acceptance_rate": 0.8,
            "max_tree_depth": 10,
            "mass_matrix": "diagonal, windowed adaptation",
            "bnn_noise": "learned" if args.bnn_noise is None else args.bnn_noise,
            "canonical_map": "canonicalize(draws, model.symmetry, 'sort', "
            "batch_ndim=2)",
            "ess": "arviz bulk ESS per canonical coordinate",
            "grad_evals": "leapfrog steps (blackjax num_integration_steps, numpyro "
            "num_steps), all chains, warmup and sampling counted separately",
            "seconds": "warmup + sampling wall, compilation excluded (numpyro: "
            "JAX tracing + lowering + XLA compilation durations reported by "
            "jax.monitoring during each phase, subtracted per phase)",
        },
        "problems": problems,
        "goals": GOALS,
        "goal_checks": checks,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "total_seconds": total,
        "results": records,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    print(f"total {total:.1f} s; results written to {args.output}")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    main()
