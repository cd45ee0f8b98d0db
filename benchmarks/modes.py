"""Mode counts that do not split a mode, and unseen-mode mass: measured.

Four experiments, each saved in ``results/modes.json`` with the machine stamp:

* ``ar1`` - 48 chains of one Gaussian mode, AR(1) with rho = 0.9 on each of
  5 coordinates (per-chain ESS about N / 19): the mode count from the first
  rule (pairwise R-hat < 1.1, connected components) and from the Monte Carlo
  error rule (:func:`symbayes.diagnostics.chain_separation`) at 50 ... 1000
  draws, 5 seeds. The truth is 1.
* ``separated`` - 48 chains in 4 modes (12 each) at distance ``delta``
  stationary standard deviations on one coordinate, same AR(1) noise: the
  counts as draws grow. The truth is 4.
* ``bnn`` - 48 naive NUTS chains (``quotient="none"``) on the 1-3-1 tanh BNN
  with the bundled sinusoidal data (Wiese et al. 2023's set-up), 500 warmup
  + 1000 draws, seed 0: the canonical and function counts on the first 50 ...
  1000 draws, with both rules; the unseen-mode mass; and the training
  log-likelihood of the mode representative (medoid) against the mean of
  sort-canonical draws and the draws' median.
* ``good_turing`` - coverage of the interval of
  :func:`symbayes.diagnostics.unseen_mode_mass` for the true unseen mass on
  known mode distributions (2000 repetitions each).

Run (from the repository root)::

    .venv/bin/python benchmarks/modes.py            # all four
    .venv/bin/python benchmarks/modes.py --skip-bnn # no sampling (seconds)

The BNN run is cached in ``benchmarks/cache/modes_bnn.nc``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import load_average, machine_info, shown, versions  # noqa: E402

from symbayes.diagnostics import find_modes, pairwise_rhat  # noqa: E402
from symbayes.diagnostics.unseen import unseen_mode_mass  # noqa: E402

HERE = Path(__file__).resolve().parent
CHAINS = 48
LENGTHS = (50, 100, 250, 500, 1000)
RHO = 0.9


def ar1(rng: np.random.Generator, chains: int, num: int, dims: int) -> np.ndarray:
    """Stationary AR(1) chains with unit marginal variance: ``(C, N, d)``."""
    noise = rng.standard_normal((chains, num, dims)) * np.sqrt(1 - RHO**2)
    out = np.empty_like(noise)
    out[:, 0] = rng.standard_normal((chains, dims))
    for t in range(1, num):
        out[:, t] = RHO * out[:, t - 1] + noise[:, t]
    return out


def counts(values: np.ndarray) -> dict[str, Any]:
    """Mode counts of both rules (and settled modes of the new one)."""
    identity = lambda vector: vector  # noqa: E731
    pairwise = pairwise_rhat(values)
    out: dict[str, Any] = {}
    for rule in ("rhat", "mcse"):
        modes, _ = find_modes(values, values, identity, rule=rule, pairwise=pairwise)
        out[rule] = modes.count
        if rule == "mcse":
            out["mcse_settled"] = modes.num_settled
            out["mcse_unseen"] = unseen_mode_mass(modes.labels).good_turing
    return out


def experiment_ar1(seeds: int = 5) -> dict[str, Any]:
    rows = []
    for seed in range(seeds):
        values = ar1(np.random.default_rng(seed), CHAINS, max(LENGTHS), 5)
        for num in LENGTHS:
            rows.append({"seed": seed, "draws": num, **counts(values[:, :num])})
    return {"truth": 1, "rho": RHO, "chains": CHAINS, "coordinates": 5, "rows": rows}


def experiment_separated(deltas: tuple[float, ...] = (1.5, 3.0)) -> dict[str, Any]:
    rows = []
    for delta in deltas:
        values = ar1(np.random.default_rng(7), CHAINS, max(LENGTHS), 5)
        values[:, :, 0] += delta * (np.arange(CHAINS) % 4)[:, None]
        for num in LENGTHS:
            rows.append({"delta": delta, "draws": num, **counts(values[:, :num])})
    return {"truth": 4, "rho": RHO, "chains": CHAINS, "rows": rows}


def experiment_bnn(cache: Path) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    import symbayes
    from symbayes.datasets import load
    from symbayes.models import MLP

    dataset = load("sinusoidal")
    data = (dataset.X_train, dataset.y_train)
    model = MLP((1, 3, 1), "tanh", noise=None)
    start = time.perf_counter()
    if cache.is_file():
        result = symbayes.load_result(cache, model.symmetry)
        sampled = None
    else:
        result = symbayes.sample(
            model,
            data=data,
            kernel="nuts",
            quotient="none",
            num_chains=CHAINS,
            num_warmup=500,
            num_samples=max(LENGTHS),
            key=0,
        )
        result.save(cache)
        sampled = time.perf_counter() - start
    rows = []
    loglik = jax.jit(jax.vmap(lambda p: jnp.sum(model.log_likelihood(p, data))))
    for num in LENGTHS:
        prefix = symbayes.SampleResult(
            draws=jax.tree_util.tree_map(lambda x, n=num: x[:, :n], result.draws),
            raw_draws=jax.tree_util.tree_map(
                lambda x, n=num: x[:, :n], result.raw_draws
            ),
            sample_stats={},
            timings=result.timings,
            config=result.config,
            symmetry=model.symmetry,
        )
        row: dict[str, Any] = {"draws": num}
        for rule in ("rhat", "mcse"):
            report = symbayes.diagnose(prefix, model=model, data=data, mode_rule=rule)
            for space in report.spaces():
                row[f"{rule}_{space.space}"] = space.modes.count
                if rule == "mcse":
                    row[f"mcse_{space.space}_settled"] = space.modes.num_settled
                    row[f"mcse_{space.space}_unseen"] = space.unseen.good_turing
                    row[f"mcse_{space.space}_unseen_interval"] = list(
                        space.unseen.interval
                    )
        # representatives of the largest canonical mode: medoid vs mean
        mode = report.canonical.modes.modes[0]
        chains = list(mode.chains)
        draws = jax.tree_util.tree_map(lambda x, c=chains: x[c], prefix.draws)
        flat = jax.tree_util.tree_map(lambda x: x.reshape(-1, *x.shape[2:]), draws)
        members = np.asarray(loglik(flat))
        mean = jax.tree_util.tree_map(lambda x: x.mean(axis=0, keepdims=True), flat)
        row["loglik_draws_median"] = float(np.median(members))
        row["loglik_draws_5_95"] = [
            float(q) for q in np.quantile(members, [0.05, 0.95])
        ]
        row["loglik_medoid"] = mode.representative_log_likelihood
        row["loglik_mean_of_sort_canonical"] = float(np.asarray(loglik(mean))[0])
        rows.append(row)
        print(row, flush=True)
    return {
        "model": "mlp 1-3-1 tanh, learned noise",
        "dataset": "sinusoidal",
        "chains": CHAINS,
        "warmup": 500,
        "sampling_seconds_with_compile": sampled,
        "rows": rows,
    }


def experiment_good_turing(repeats: int = 2000) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    distributions = {
        "geometric_0.5": 0.5 ** np.arange(1, 40),
        "uniform_10": np.ones(10),
        "uniform_40": np.ones(40),
        "dominant_0.9_plus_20": np.r_[0.9, np.full(20, 0.1 / 20)],
        "zipf_1.2_200": 1.0 / np.arange(1, 201) ** 1.2,
    }
    rows = []
    for name, weights in distributions.items():
        p = weights / weights.sum()
        for n in (16, 32, 64, 128):
            covered, gt_error, widths = 0, [], []
            for _ in range(repeats):
                labels = rng.choice(p.size, size=n, p=p)
                estimate = unseen_mode_mass(labels)
                truth = float(p[np.setdiff1d(np.arange(p.size), labels)].sum())
                low, high = estimate.interval
                covered += low <= truth <= high
                gt_error.append(estimate.good_turing - truth)
                widths.append(high - low)
            rows.append(
                {
                    "distribution": name,
                    "chains": n,
                    "coverage_95": covered / repeats,
                    "mean_error": float(np.mean(gt_error)),
                    "mean_width": float(np.mean(widths)),
                }
            )
            print(rows[-1], flush=True)
    return {"repeats": repeats, "level": 0.95, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-bnn", action="store_true")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "modes.json")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": machine_info(),
        "versions": versions(),
        "load_average_start": load_average(),
    }
    report["ar1"] = experiment_ar1()
    for row in report["ar1"]["rows"]:
        print("ar1", row, flush=True)
    report["separated"] = experiment_separated()
    for row in report["separated"]["rows"]:
        print("separated", row, flush=True)
    report["good_turing"] = experiment_good_turing()
    if not args.skip_bnn:
        cache = HERE / "cache" / "modes_bnn.nc"
        cache.parent.mkdir(exist_ok=True)
        report["bnn"] = experiment_bnn(cache)
    report["load_average_end"] = load_average()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {shown(args.output)}")


if __name__ == "__main__":
    main()
