"""The symbayes benchmark suite: every problem x every method, measured alike.

Problems (:data:`PROBLEMS`):

* ``bnn-1-3-1-tanh-sinusoidal`` - the case of Wiese et al. (2023): a 1-3-1
  tanh MLP (48 symmetric copies) on the bundled ``sinusoidal`` data;
* ``bnn-16-tanh-<uci>`` and ``bnn-16-16-tanh-<uci>`` - d-16-1 and d-16-16-1
  tanh MLPs on the bundled UCI sets ``yacht``, ``energy``, ``concrete``
  (standardised, first published split);
* ``bnn-1-16-1-relu-sinusoidal`` - a ReLU MLP (permutations are posterior
  symmetries; rescaling is a function symmetry only);
* ``gmm-3-1d`` - a 3-component 1-D Gaussian mixture (300 points);
* ``ppca-5x3`` - Bayesian PCA with 3 latent dimensions on 200 points.

Every MLP is a gaussian regression with learned noise
(``log_noise ~ Normal(-1, 1)``) and ``Normal(0, 1)`` priors on weights and
biases.

Methods (:data:`METHODS`): symbayes NUTS x ``none/reparam/glue/fold``,
HMC x ``none/reparam/glue``, SGLD and SGHMC x ``none/fold/reparam``;
numpyro NUTS and Stan NUTS (pystan) on the same posterior
(:mod:`peers`), with the same chains, initial points and number of draws.

Every method's draws go through the same post-hoc canonical map
(``canonicalize(..., "sort", batch_ndim=2)``) and the same
:func:`symbayes.diagnose` (raw, canonical and function coordinates), so all
rows are measured identically. One JSON file per invocation is written to
``--output`` (``suite_<tag>.json``), rewritten after every run so a killed
suite keeps what it measured; :mod:`report` turns all JSON files into
``benchmarks/RESULTS.md`` and PNG plots.

Run (from the repository root)::

    .venv/bin/python benchmarks/run.py --quick      # small, every problem kind
    .venv/bin/python benchmarks/run.py              # full size
    .venv/bin/python benchmarks/run.py --problems gmm-3-1d --methods nuts-none

Compiled XLA programs are cached under ``benchmarks/cache/jax`` and compiled
Stan programs under ``benchmarks/cache/`` (both git-ignored), so a second run
skips most compilation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax

HERE = Path(__file__).resolve().parent
jax.config.update("jax_compilation_cache_dir", str(HERE / "cache" / "jax"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)

import arviz as az  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import peers  # noqa: E402
from machine import (  # noqa: E402
    load_average,
    machine_info,
    shown,
    source_version,
    versions,
)

from symbayes import canonicalize, diagnose, sample  # noqa: E402
from symbayes.datasets import Dataset, load, make_gaussian_mixture, make_ppca  # noqa: E402
from symbayes.diagnostics import flatten_draws, function_draws  # noqa: E402
from symbayes.models import MLP, PPCA, GaussianMixture  # noqa: E402
from symbayes.results import SampleResult, Timings, chain_draw_layout  # noqa: E402

UCI = ("yacht", "energy", "concrete")


class Problem(NamedTuple):
    """A posterior of the suite."""

    name: str
    kind: str  # "bnn", "gmm" or "ppca"
    description: str
    model: Any
    data: tuple  # the training data tuple the model's log density takes
    dataset: Dataset
    sg_step_size: float  # SGLD/SGHMC step size (constant)


def _bnn(name: str, sizes: tuple[int, ...], activation: str, dataset: str, step: float):
    def build() -> Problem:
        data = load(dataset)
        layers = (data.num_features, *sizes, 1)
        model = MLP(layers, activation, noise=None)
        text = "-".join(map(str, layers))
        return Problem(
            name,
            "bnn",
            f"MLP {text} {activation}, learned noise; {dataset} (standardised, "
            f"split 0: {data.num_train} train / {data.num_test} test rows)",
            model,
            (jnp.asarray(data.X_train), jnp.asarray(data.y_train)),
            data,
            step,
        )

    return build


def _gmm() -> Problem:
    data = make_gaussian_mixture(300, seed=0)
    return Problem(
        "gmm-3-1d",
        "gmm",
        "GaussianMixture(3, 1) on 300 draws of make_gaussian_mixture (means "
        "-3, 0, 3; sd 0.7; equal weights; seed 0)",
        GaussianMixture(3, 1),
        (jnp.asarray(data.X_train),),
        data,
        2e-4,
    )


def _ppca() -> Problem:
    data = make_ppca(200, dim=5, latent=3, seed=0)
    return Problem(
        "ppca-5x3",
        "ppca",
        "PPCA(dim 5, latent 3, ARD prior) on 200 rows of make_ppca (column "
        "scales 3, 2, 1; noise 0.1; seed 0)",
        PPCA(5, 3),
        (jnp.asarray(data.X_train),),
        data,
        1e-4,
    )


PROBLEMS: dict[str, Callable[[], Problem]] = {
    "bnn-1-3-1-tanh-sinusoidal": _bnn(
        "bnn-1-3-1-tanh-sinusoidal", (3,), "tanh", "sinusoidal", 2e-4
    ),
    **{
        f"bnn-16-tanh-{d}": _bnn(f"bnn-16-tanh-{d}", (16,), "tanh", d, 2e-5)
        for d in UCI
    },
    **{
        f"bnn-16-16-tanh-{d}": _bnn(f"bnn-16-16-tanh-{d}", (16, 16), "tanh", d, 1e-5)
        for d in UCI
    },
    "bnn-1-16-1-relu-sinusoidal": _bnn(
        "bnn-1-16-1-relu-sinusoidal", (16,), "relu", "sinusoidal", 1e-4
    ),
    "gmm-3-1d": _gmm,
    "ppca-5x3": _ppca,
}
# --quick keeps one UCI set per architecture
QUICK_PROBLEMS = (
    "bnn-1-3-1-tanh-sinusoidal",
    "bnn-16-tanh-yacht",
    "bnn-16-16-tanh-yacht",
    "bnn-1-16-1-relu-sinusoidal",
    "gmm-3-1d",
    "ppca-5x3",
)
METHODS = (
    *(f"nuts-{q}" for q in ("none", "reparam", "glue", "fold")),
    *(f"hmc-{q}" for q in ("none", "reparam", "glue")),
    *(f"sgld-{q}" for q in ("none", "fold", "reparam")),
    *(f"sghmc-{q}" for q in ("none", "fold", "reparam")),
    *(
        f"{k}-{q}"
        for k in ("mclmc", "adjusted_mclmc", "chees")
        for q in ("none", "fold")
    ),
    "nuts-none-vectorized",
    "numpyro-nuts",
    "numpyro-nuts-sequential",
    "stan-nuts",
)
SIZES = {
    # chains, warmup, samples; SG methods run sg_thinning x as many transitions;
    # max_tree_depth caps every NUTS alike (symbayes, numpyro, Stan)
    "quick": {
        "chains": 4,
        "warmup": 150,
        "samples": 150,
        "sg_thinning": 10,
        "max_tree_depth": 6,
    },
    "full": {
        "chains": 8,
        "warmup": 1000,
        "samples": 1000,
        "sg_thinning": 10,
        "max_tree_depth": 10,
    },
}
HMC_STEPS = 16
# MCLMC and adjusted MCLMC move a few integrator steps per transition: they
# run (and tune over) MCLMC_THINNING x as many transitions, keeping every
# MCLMC_THINNING-th, so a kept draw costs about as many gradients as a NUTS one
MCLMC_KERNELS = ("mclmc", "adjusted_mclmc")
MCLMC_THINNING = 10
SGHMC_STEPS = 4
MANY_CHAINS_PROBLEM = "bnn-16-tanh-yacht"
MAX_DIAGNOSED_CHAINS = 32


def make_problem(name: str) -> Problem:
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}")
    return PROBLEMS[name]()


def initial_points(problem: Problem, chains: int, seed: int) -> Any:
    """One ``model.init`` draw per chain, the same for every method."""
    index = list(PROBLEMS).index(problem.name)
    keys = jax.random.split(jax.random.fold_in(jax.random.key(seed), index), chains)
    return jax.vmap(lambda k: problem.model.init(k, problem.data))(keys)


# ------------------------------------------------------------------ measures
def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def bnn_test_metrics(problem: Problem, draws: Any, max_draws: int = 2000) -> dict:
    """Test RMSE (standardised and raw units) and mean test log predictive density.

    The posterior predictive is the equal-weight mixture over the draws
    (thinned evenly to at most ``max_draws``): RMSE of its mean, and
    ``mean_i log (1/M sum_m Normal(y_i; f_m(x_i), sigma_m^2))``.
    """
    dataset, model = problem.dataset, problem.model
    flat = jax.tree_util.tree_map(
        lambda x: np.asarray(x).reshape(-1, *np.shape(x)[2:]), draws
    )
    total = len(flat["log_noise"])
    index = np.linspace(0, total - 1, min(total, max_draws)).round().astype(int)
    flat = jax.tree_util.tree_map(lambda x: jnp.asarray(x[index]), flat)
    X, y = jnp.asarray(dataset.X_test), jnp.asarray(dataset.y_test)

    @jax.jit
    def evaluate(params):
        means = jax.vmap(lambda p: model.apply(p, X)[:, 0])(params)  # (M, n)
        sigma = jnp.exp(params["log_noise"])[:, None]
        log_p = (
            -0.5 * ((y - means) / sigma) ** 2
            - jnp.log(sigma)
            - 0.5 * math.log(2 * math.pi)
        )
        lpd = jax.scipy.special.logsumexp(log_p, axis=0) - math.log(means.shape[0])
        rmse = jnp.sqrt(jnp.mean((means.mean(axis=0) - y) ** 2))
        return rmse, jnp.mean(lpd)

    rmse, lpd = evaluate(flat)
    return {
        "test_rmse": _finite(rmse),
        "test_rmse_raw_units": _finite(float(rmse) * float(dataset.y_std)),
        "test_lpd": _finite(lpd),
        "test_lpd_raw_units": _finite(float(lpd) - math.log(float(dataset.y_std))),
    }


def _first_chains(result: SampleResult, count: int) -> SampleResult:
    def take(tree: Any) -> Any:
        if tree is None:
            return None
        return jax.tree_util.tree_map(lambda x: np.asarray(x)[:count], tree)

    return dataclasses.replace(
        result,
        draws=take(result.draws),
        raw_draws=take(result.raw_draws),
        sample_stats={k: np.asarray(v)[:count] for k, v in result.sample_stats.items()},
    )


def measure(
    problem: Problem,
    result: SampleResult,
    seconds: dict[str, float],
    grads: dict[str, int],
    max_diagnosed_chains: int | None = None,
) -> dict[str, Any]:
    """Diagnostics, rates, test metrics and overhead of one run.

    With ``max_diagnosed_chains`` (many-chain cases: the pairwise R-hat of
    the mode count grows with the square of the chains) ``diagnose`` sees
    only the first chains; the canonical and function ESS over all chains
    are added as ``*_all_chains``.
    """
    chains = result.num_chains
    start = time.perf_counter()
    extra: dict[str, Any] = {"diagnosed_chains": chains}
    if max_diagnosed_chains and chains > max_diagnosed_chains:
        canonical, _ = flatten_draws(result.draws)
        function = function_draws(problem.model.function_fn(problem.data), result.draws)
        for space, values in (("canonical", canonical), ("function", function)):
            with chain_draw_layout():
                dataset = az.convert_to_dataset({"x": values})
            ess = az.ess(dataset, method="bulk")["x"]
            extra[f"ess_bulk_min_{space}_all_chains"] = _finite(np.nanmin(ess.values))
        extra["diagnosed_chains"] = max_diagnosed_chains
        result = _first_chains(result, max_diagnosed_chains)
    diagnostics = diagnose(result, model=problem.model, data=problem.data)
    diagnostics_seconds = time.perf_counter() - start
    summary = diagnostics.summary()
    run_seconds = seconds["warmup"] + seconds["sampling"]
    total_grads = grads["warmup"] + grads["sampling"]
    record: dict[str, Any] = {
        "seconds": {
            **seconds,
            "canonical": result.timings.canonical_seconds,
            "diagnostics": diagnostics_seconds,
        },
        "grad_evals": {**grads, "total": total_grads},
        **extra,
    }
    for space in ("raw", "canonical", "function"):
        for metric in ("ess_bulk_min", "ess_bulk_median", "ess_tail_min", "rhat_max"):
            record[f"{metric}_{space}"] = _finite(summary[f"{metric}_{space}"])
        modes = summary[f"modes_{space}"]
        record[f"modes_{space}"] = None if _finite(modes) is None else int(modes)
    record["redundant_chains"] = len(diagnostics.redundant_chains)
    for space in ("canonical", "function"):
        ess = record.get(
            f"ess_bulk_min_{space}_all_chains", record[f"ess_bulk_min_{space}"]
        )
        record[f"ess_per_second_{space}"] = (
            None if ess is None or run_seconds <= 0 else ess / run_seconds
        )
        record[f"ess_per_1000_grads_{space}"] = (
            None if ess is None else 1000 * ess / max(total_grads, 1)
        )
        record[f"ess_per_1000_sampling_grads_{space}"] = (
            None if ess is None else 1000 * ess / max(grads["sampling"], 1)
        )
    overhead = result.timings.canonical_seconds + diagnostics_seconds
    record["overhead_share"] = overhead / run_seconds if run_seconds > 0 else None
    record["canonical_share"] = (
        result.timings.canonical_seconds / run_seconds if run_seconds > 0 else None
    )
    if problem.kind == "bnn":
        record.update(bnn_test_metrics(problem, result.draws))
    return record


# ------------------------------------------------------------------ runs
def run_symbayes(
    problem: Problem,
    kernel: str,
    quotient: str,
    init: Any,
    size: dict,
    seed: int,
    max_diagnosed_chains: int | None = None,
    chain_method: str = "auto",
) -> dict[str, Any]:
    sg = kernel in ("sgld", "sghmc")
    thinning = size["sg_thinning"] if sg else 1
    if kernel in MCLMC_KERNELS:  # one short trajectory per transition
        thinning = MCLMC_THINNING
    warmup = size["warmup"] * thinning
    options: dict[str, Any] = {}
    if kernel == "hmc":
        options["num_integration_steps"] = HMC_STEPS
    if kernel == "nuts":
        options["max_num_doublings"] = size.get("max_tree_depth", 10)
    if "devices" in size:  # chains split over devices (benchmarks/gpu.py)
        options["devices"] = size["devices"]
    if sg:
        options["step_size"] = problem.sg_step_size
        options["batch_size"] = min(32, int(problem.data[0].shape[0]))
        if kernel == "sghmc":
            options["num_integration_steps"] = SGHMC_STEPS
    start = time.perf_counter()
    result = sample(
        problem.model,
        init,
        data=problem.data,
        kernel=kernel,
        quotient=quotient,
        num_chains=size["chains"],
        num_warmup=warmup,
        num_samples=size["samples"],
        thinning=thinning,
        key=seed + 1,
        progress_bar=False,
        chain_method=chain_method,
        **options,
    )
    wall = time.perf_counter() - start
    timings, stats = result.timings, result.sample_stats
    total = int(timings.num_grad_evals)
    if sg:  # kept stats cover 1 of `thinning` transitions; cost is constant
        sampling = round(
            total * size["samples"] * thinning / (warmup + size["samples"] * thinning)
        )
    else:
        sampling = int(np.sum(stats["num_grad_evals"]))
    seconds = {
        "compile": timings.compile_seconds,
        "warmup": timings.warmup_seconds,
        "sampling": timings.sampling_seconds,
        "sample_call_wall": wall,
    }
    record = measure(
        problem,
        result,
        seconds,
        {"warmup": total - sampling, "sampling": sampling},
        max_diagnosed_chains,
    )
    record["divergences"] = result.num_divergences
    if "acceptance_rate" in stats:
        record["mean_acceptance"] = _finite(np.mean(stats["acceptance_rate"]))
    if "step_size" in result.adaptation:
        record["step_size_mean"] = _finite(np.mean(result.adaptation["step_size"]))
    else:
        record["step_size_mean"] = _finite(np.mean(stats["step_size"]))
    if "glues" in stats:
        record["glues_per_draw"] = _finite(np.mean(stats["glues"]))
    record["thinning"] = thinning
    record["transitions_per_chain"] = warmup + size["samples"] * thinning
    return record


def _peer_result(problem: Problem, raw: Any, config: dict) -> SampleResult:
    """A SampleResult from a peer's raw draws, canonicalised like symbayes'."""
    raw = jax.tree_util.tree_map(np.asarray, raw)
    start = time.perf_counter()
    canonical = canonicalize(raw, problem.model.symmetry, "sort", batch_ndim=2)
    canonical = jax.tree_util.tree_map(np.asarray, jax.block_until_ready(canonical))
    canonical_seconds = time.perf_counter() - start
    return SampleResult(
        draws=canonical,
        raw_draws=raw,
        sample_stats={},
        timings=Timings(0.0, 0.0, 0.0, canonical_seconds, 0),
        config=config,
        symmetry=problem.model.symmetry,
    )


def run_peer(
    problem: Problem, library: str, init: Any, size: dict, seed: int
) -> dict[str, Any]:
    options = {}
    if library == "numpyro-sequential":
        library, options = "numpyro", {"chain_method": "sequential"}
    runner = peers.run_numpyro if library == "numpyro" else peers.run_stan
    out = runner(
        problem.model,
        problem.data,
        jax.tree_util.tree_map(np.asarray, init),
        warmup=size["warmup"],
        samples=size["samples"],
        seed=seed + 1,
        max_tree_depth=size.get("max_tree_depth", 10),
        **options,
    )
    result = _peer_result(problem, out["draws"], {"library": library})
    record = measure(problem, result, out["seconds"], out["grad_evals"])
    record["divergences"] = out["divergences"]
    record["mean_acceptance"] = out["mean_acceptance"]
    record["thinning"] = 1
    record["transitions_per_chain"] = size["warmup"] + size["samples"]
    return record


def run_method(
    problem: Problem,
    method: str,
    init: Any,
    size: dict,
    seed: int,
    stan_ok: bool,
    max_diagnosed_chains: int | None = None,
) -> dict[str, Any]:
    library, kernel, quotient = "symbayes", *method.split("-", 1)
    chain_method = "auto"
    if method == "nuts-none-vectorized":  # symbayes' vmap over chains
        quotient, chain_method = "none", "vectorized"
    if method in ("numpyro-nuts", "stan-nuts"):
        library, kernel, quotient = method.split("-")[0], "nuts", "none"
    if method == "numpyro-nuts-sequential":
        library, kernel, quotient = "numpyro-sequential", "nuts", "none"
    base = {
        "problem": problem.name,
        "method": method,
        "library": library,
        "kernel": kernel,
        "quotient": quotient,
        "chains": size["chains"],
        "warmup": size["warmup"],
        "draws": size["samples"],
        "load_average_before": load_average(),
    }
    if library == "stan" and not stan_ok:
        return base | {"status": peers.stan_available() or "not run: --no-stan"}
    try:
        if library == "symbayes":
            record = run_symbayes(
                problem,
                kernel,
                quotient,
                init,
                size,
                seed,
                max_diagnosed_chains,
                chain_method,
            )
        else:
            record = run_peer(problem, library, init, size, seed)
    except Exception as error:  # a failing method is a result, not a crash
        traceback.print_exc()
        return base | {"status": f"failed: {type(error).__name__}: {error}"[:500]}
    return base | {"status": "ok"} | record | {"load_average_after": load_average()}


def run_many_chains(
    chains: int,
    size: dict,
    seed: int,
    methods: tuple[str, ...] = ("nuts-none", "nuts-glue"),
    problem_name: str = MANY_CHAINS_PROBLEM,
    max_diagnosed_chains: int = MAX_DIAGNOSED_CHAINS,
) -> list[dict[str, Any]]:
    """Many chains vmapped in one program (the GPU cases, also run on CPU).

    ``diagnose`` sees the first ``max_diagnosed_chains`` chains; ESS over all
    chains is recorded too (``*_all_chains``) and used for the rates.
    """
    problem = make_problem(problem_name)
    init = initial_points(problem, chains, seed)
    many = size | {"chains": chains}
    records = []
    for method in methods:
        record = run_method(
            problem, method, init, many, seed, False, max_diagnosed_chains
        )
        record["case"] = f"many-chains-{chains}"
        records.append(record)
        print(format_row(record), flush=True)
    return records


# ------------------------------------------------------------------ output
HEADER = (
    f"{'problem':<28} {'method':<15} {'status':<6} {'ESS can':>8} {'ESS fn':>7} "
    f"{'ESS/s':>7} {'/1k gr':>7} {'Rhat c':>7} {'modes r/c/f':>11} "
    f"{'warm s':>7} {'samp s':>7} {'ovh %':>6}"
)


def format_row(record: dict[str, Any]) -> str:
    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    if record.get("status") != "ok":
        return (
            f"{record['problem']:<28} {record['method']:<15} "
            f"{record.get('status', '?')[:90]}"
        )
    seconds = record["seconds"]
    modes = "/".join(
        str(record[f"modes_{s}"]) for s in ("raw", "canonical", "function")
    )
    share = record["overhead_share"]
    return (
        f"{record['problem']:<28} {record['method']:<15} {'ok':<6} "
        f"{fmt(record['ess_bulk_min_canonical'], '8.1f')} "
        f"{fmt(record['ess_bulk_min_function'], '7.1f')} "
        f"{fmt(record['ess_per_second_canonical'], '7.2f')} "
        f"{fmt(record['ess_per_1000_grads_canonical'], '7.3f')} "
        f"{fmt(record['rhat_max_canonical'], '7.3f')} {modes:>11} "
        f"{seconds['warmup']:>7.1f} {seconds['sampling']:>7.1f} "
        f"{fmt(None if share is None else 100 * share, '6.1f')}"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
    tmp.replace(path)


def finish_report(
    path: Path, report: dict[str, Any], started: float, regenerate: bool
) -> dict[str, Any]:
    """Stamp the total time and load, write the JSON, regenerate RESULTS.md."""
    report["total_seconds"] = time.perf_counter() - started
    report["load_average_after"] = load_average()
    write_report(path, report)
    print(f"total {report['total_seconds']:.0f} s; written {shown(path)}", flush=True)
    if regenerate:
        import report as report_module

        report_module.main([])
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--problems",
        nargs="*",
        choices=list(PROBLEMS),
        help="subset of problems (none given: only the many-chain case)",
    )
    parser.add_argument("--methods", nargs="+", choices=list(METHODS))
    parser.add_argument("--chains", type=int, help="chains per method")
    parser.add_argument("--warmup", type=int, help="warmup transitions (HMC/NUTS)")
    parser.add_argument("--samples", type=int, help="kept draws per chain")
    parser.add_argument(
        "--max-tree-depth", type=int, help="NUTS depth cap (quick 6, full 10)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--many-chains",
        type=int,
        default=256,
        help="chains of the many-chain NUTS case (0: skip)",
    )
    parser.add_argument(
        "--many-chains-problem",
        choices=list(PROBLEMS),
        default=MANY_CHAINS_PROBLEM,
        help=f"problem of the many-chain case (default {MANY_CHAINS_PROBLEM})",
    )
    parser.add_argument("--output", type=Path, default=HERE / "results")
    parser.add_argument("--tag", help="file name suffix (default: quick or full)")
    parser.add_argument("--no-stan", action="store_true", help="skip Stan")
    parser.add_argument(
        "--no-report", action="store_true", help="do not regenerate RESULTS.md"
    )
    args = parser.parse_args(argv)
    scale = "quick" if args.quick else "full"
    size = dict(SIZES[scale])
    for name in ("chains", "warmup", "samples", "max_tree_depth"):
        if getattr(args, name) is not None:
            size[name] = getattr(args, name)
    if size["chains"] < 2 or size["samples"] < 4:
        parser.error("need at least 2 chains and 4 samples")
    problems = args.problems
    if problems is None:
        problems = list(QUICK_PROBLEMS if args.quick else PROBLEMS)
    methods = args.methods or list(METHODS)
    stan_ok = not args.no_stan and peers.stan_available() is None
    tag = args.tag or scale
    path = args.output / f"suite_{tag}.json"

    report: dict[str, Any] = {
        "benchmark": "suite",
        "tag": tag,
        "scale": scale,
        "command": "python benchmarks/run.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(),
        "versions": versions(),
        "source": source_version(),
        "seeds": {
            "seed": args.seed,
            "rule": "initial points of problem i (index in PROBLEMS): "
            "model.init(k, data) for k in split(fold_in(key(seed), i), chains); "
            "sampler key seed + 1 (symbayes, numpyro; Stan random_seed seed + 1)",
        },
        "sizes": size,
        "hmc_steps": HMC_STEPS,
        "sghmc_steps": SGHMC_STEPS,
        "sg_batch_size": 32,
        "stan": "ok" if stan_ok else peers.stan_available() or "skipped (--no-stan)",
        "problems": {},
        "load_average_before": load_average(),
        "records": [],
    }
    print(
        f"symbayes benchmark suite ({scale}): {len(problems)} problems x "
        f"{len(methods)} methods, {size}, backend {jax.default_backend()}, "
        f"{os.cpu_count()} CPUs, load average {load_average()}",
        flush=True,
    )
    print(HEADER)
    print("-" * len(HEADER), flush=True)
    started = time.perf_counter()
    for name in problems:
        problem = make_problem(name)
        init = initial_points(problem, size["chains"], args.seed)
        report["problems"][name] = {
            "kind": problem.kind,
            "description": problem.description,
            "num_params": int(
                sum(np.size(x) for x in jax.tree_util.tree_leaves(init))
                // size["chains"]
            ),
            "log10_group_order": float(problem.model.symmetry.log10_order()),
            "symmetry": problem.model.symmetry.describe(),
            "num_train": int(problem.data[0].shape[0]),
            "sg_step_size": problem.sg_step_size,
        }
        for method in methods:
            record = run_method(problem, method, init, size, args.seed, stan_ok)
            report["records"].append(record)
            print(format_row(record), flush=True)
            report["total_seconds"] = time.perf_counter() - started
            write_report(path, report)
    if args.many_chains:
        print(f"many chains: {args.many_chains} chains, {args.many_chains_problem}")
        report["records"] += run_many_chains(
            args.many_chains, size, args.seed, problem_name=args.many_chains_problem
        )
    return finish_report(path, report, started, regenerate=not args.no_report)


if __name__ == "__main__":
    main()
