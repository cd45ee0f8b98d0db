"""Where the quotient pays: many chains. Pooled warmup and the chain budget.

Two measurements on four problems (1-3-1 tanh on sinusoidal, 6-16-1 tanh on
yacht, the 3-component mixture, PPCA):

``warmup``
    64 chains x (100 warmup + 200 draws) of NUTS (``quotient="none"``) with
    Stan's per-chain windows, with windows pooled by canonical mode
    (``adaptation="pooled"``) and pooled over all chains in raw coordinates
    (``"raw_pooled"``). Reported: canonical and function bulk ESS (median
    and minimum over coordinates) per 1000 gradient evaluations, and the
    ratio to per-chain warmup. Goal: pooled >= 1.5x per-chain on at least
    two problems.

``budget``
    :func:`symbayes.budget.sample_until_covered` in batches of 8 chains
    until the unseen-mode mass on canonical coordinates is below 0.05, and
    the same rule on raw coordinates, against a fixed 64-chain run: chains
    and gradients used, modes found, and whether the budgeted run found the
    fixed run's modes (every fixed-run canonical mode matched by a budgeted
    chain, pairwise R-hat below the threshold). Goal: the fixed run's modes
    with <= 0.5x its gradients on at least two problems.

Run from the repository root: ``.venv/bin/python benchmarks/many_chains.py``
(``--part warmup`` or ``--part budget``; ``--quick`` for a smoke run).
Results: ``results/many_chains.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
from machine import load_average, machine_info

from symbayes import diagnose, sample
from symbayes.compare import build_problem
from symbayes.diagnostics import pairwise_rhat

RESULTS = Path(__file__).resolve().parent / "results"
PROBLEMS = {
    "mlp-1-3-1-sinusoidal": dict(model="mlp", layers="1-3-1"),
    "mlp-6-16-1-yacht": dict(model="mlp", layers="6-16-1", dataset="yacht"),
    "gmm-3": dict(model="gmm", components=3),
    "ppca": dict(model="ppca", latent=2),
}
ADAPTATIONS = ("per_chain", "pooled", "raw_pooled")


def _problem(name: str):
    spec = dict(PROBLEMS[name])
    return build_problem(spec.pop("model"), spec.pop("dataset", None), **spec)


def _ess_summary(space) -> dict:
    return {
        "ess_bulk_median": float(space.ess_bulk_median),
        "ess_bulk_min": float(space.ess_bulk_min),
        "rhat_max": float(space.rhat_max),
        "modes": int(space.modes.count),
    }


def warmup_part(names, chains, warmup, draws) -> dict:
    out = {}
    for name in names:
        problem = _problem(name)
        init = jax.vmap(lambda k, p=problem: p.model.init(k, p.data))(
            jax.random.split(jax.random.key(0), chains)
        )
        records = {}
        for adaptation in ADAPTATIONS:
            start = time.perf_counter()
            result = sample(
                problem.model,
                init,
                data=problem.data,
                num_chains=chains,
                num_warmup=warmup,
                num_samples=draws,
                adaptation=adaptation,
                key=1,
                progress_bar=False,
            )
            wall = time.perf_counter() - start
            diagnostics = diagnose(result, model=problem.model, data=problem.data)
            grads = int(result.timings.num_grad_evals)
            record = {
                "wall_seconds": wall,
                "sampling_seconds": result.timings.sampling_seconds,
                "grad_evals": grads,
                "divergences": result.num_divergences,
                "canonical": _ess_summary(diagnostics.canonical),
                "function": _ess_summary(diagnostics.function),
                "pooling": result.config.get("pooling"),
            }
            for space in ("canonical", "function"):
                for stat in ("ess_bulk_median", "ess_bulk_min"):
                    record[space][f"{stat}_per_1000_grads"] = (
                        1000 * record[space][stat] / max(grads, 1)
                    )
            records[adaptation] = record
            print(
                f"{name} {adaptation}: {wall:.0f} s, {grads} grads, canonical ESS "
                f"median {record['canonical']['ess_bulk_median']:.0f}, function "
                f"median {record['function']['ess_bulk_median']:.0f}",
                flush=True,
            )
        base = records["per_chain"]
        for adaptation in ("pooled", "raw_pooled"):
            for space in ("canonical", "function"):
                key = "ess_bulk_median_per_1000_grads"
                records[adaptation][space]["ratio_to_per_chain"] = records[adaptation][
                    space
                ][key] / max(base[space][key], 1e-12)
        out[name] = records
    return out


def _modes_found(fixed, budgeted, threshold: float = 1.1) -> dict:
    """Which canonical modes of the fixed run some budgeted chain reaches."""
    from symbayes.diagnostics import flatten_draws

    fixed_values, _ = flatten_draws(fixed.result.draws)
    budget_values, _ = flatten_draws(budgeted.result.draws)
    num = min(fixed_values.shape[1], budget_values.shape[1])
    pairwise = pairwise_rhat(budget_values[:, :num], others=fixed_values[:, :num])
    found = []
    fixed_labels = np.asarray(fixed.labels)
    for mode in range(int(fixed_labels.max()) + 1):
        members = np.flatnonzero(fixed_labels == mode)
        found.append(bool(np.any(pairwise[:, members] < threshold)))
    return {"fixed_modes": len(found), "found": int(sum(found))}


def budget_part(names, warmup, draws, max_chains) -> dict:
    from symbayes.budget import sample_until_covered

    out = {}
    for name in names:
        problem = _problem(name)
        common = dict(
            data=problem.data,
            num_warmup=warmup,
            num_samples=draws,
            batch_chains=8,
            key=2,
        )
        fixed = sample_until_covered(
            problem.model,
            target_unseen=1e-9,
            max_chains=max_chains,
            min_chains=max_chains,
            **common,
        )
        records = {
            "fixed": {
                "chains": fixed.num_chains,
                "grad_evals": fixed.num_grad_evals,
                "modes": int(fixed.weights.size),
                "weights": fixed.weights.round(4).tolist(),
            }
        }
        for space in ("canonical", "raw"):
            budgeted = sample_until_covered(
                problem.model,
                target_unseen=0.05,
                max_chains=max_chains,
                space=space,
                **common,
            )
            record = {
                "chains": budgeted.num_chains,
                "grad_evals": budgeted.num_grad_evals,
                "reached": budgeted.reached,
                "modes": int(budgeted.weights.size),
                "history": [r._asdict() for r in budgeted.history],
                "grad_ratio_to_fixed": budgeted.num_grad_evals
                / max(fixed.num_grad_evals, 1),
                **_modes_found(fixed, budgeted),
            }
            records[space] = record
            print(
                f"{name} budget on {space}: {record['chains']} chains, "
                f"{record['grad_ratio_to_fixed']:.2f}x the fixed run's gradients, "
                f"found {record['found']}/{record['fixed_modes']} of its modes",
                flush=True,
            )
        out[name] = records
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("warmup", "budget", "both"), default="both")
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(RESULTS / "many_chains.json"))
    args = parser.parse_args()
    path = Path(args.output)
    output = json.loads(path.read_text()) if path.exists() else {}
    output["machine"] = machine_info()
    output["load_average_before"] = load_average()
    chains, warmup, draws = (16, 60, 60) if args.quick else (64, 100, 200)
    if args.part in ("warmup", "both"):
        output["warmup"] = {
            "sizes": {"chains": chains, "warmup": warmup, "draws": draws},
            "problems": warmup_part(args.problems, chains, warmup, draws),
        }
    if args.part in ("budget", "both"):
        output["budget"] = {
            "sizes": {"max_chains": chains, "warmup": warmup, "draws": draws},
            "problems": budget_part(args.problems, warmup, draws, chains),
        }
    output["load_average_after"] = load_average()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(output, indent=2))
    print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
