"""symbayes NUTS against numpyro NUTS over several seeds of the suite.

Reads ``results/suite_*.json`` files of ``run.py`` runs that differ only in
``--seed`` (or repeat a seed, e.g. with the methods in the other order) and
pools them per problem and method: ESS per second is the sum of the runs'
minimum bulk ESS (function and canonical coordinates) over the sum of their
warmup + sampling seconds (compilation excluded), so one unlucky run does
not decide a ratio. The per-seed ratios pool a seed's repeats the same way.
One library's run of one seed took up to 24% longer in one process than
in another on this machine, with no consistent effect of which library ran
first, so a fair comparison repeats each seed with the two libraries in
both orders. Each library runs in its faster mode
per problem, the one with the larger pooled function ESS/s: symbayes
``nuts-none`` (``chain_method="auto"``, sequential on CPU) or
``nuts-none-vectorized``; numpyro ``sequential`` or ``vectorized``. Prints a
Markdown table and writes it, with the per-seed ratios, to
``results/nuts_seeds.json`` (``--output`` for another name).

Usage (from the repository root)::

    python benchmarks/nuts_seeds.py benchmarks/results/suite_nuts-4x500-quiet-seed*.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = ("numpyro-nuts-sequential", "numpyro-nuts")
# symbayes NUTS: chain_method="auto" (sequential on CPU) and vectorized
OURS = ("nuts-none", "nuts-none-vectorized")


def pooled(records: list[dict]) -> dict:
    """Pooled ESS/s of one method's runs (one record per seed)."""
    seconds = sum(r["seconds"]["warmup"] + r["seconds"]["sampling"] for r in records)
    grads = sum(r["grad_evals"]["total"] for r in records)
    out = {
        "runs": len(records),
        "seconds": seconds,
        "us_per_grad": 1e6 * seconds / grads,
    }
    for space in ("function", "canonical"):
        ess = sum(r[f"ess_bulk_min_{space}"] for r in records)
        out[f"ess_per_second_{space}"] = ess / seconds
        out[f"ess_per_1000_grads_{space}"] = 1000 * ess / grads
    return out


def _all(by_seed: dict) -> list[dict]:
    return [record for records in by_seed.values() for record in records]


def main(paths: list[str], output: Path) -> dict:
    runs: dict = {}
    for path in paths:
        report = json.loads(Path(path).read_text())
        seed = report["seeds"]["seed"]
        for record in report["records"]:
            if record.get("status") != "ok":
                continue
            by_seed = runs.setdefault(record["problem"], {}).setdefault(
                record["method"], {}
            )
            by_seed.setdefault(seed, []).append(record)
    table = {}
    print(
        "| problem | seeds | symbayes / numpyro (faster modes), function ESS/s |"
        " canonical ESS/s | per-seed function ratios | us per gradient, symbayes /"
        " numpyro |"
    )
    print("|---|---|---|---|---|---|")
    for problem, methods in runs.items():
        mine = {m: pooled(_all(methods[m])) for m in OURS if m in methods}
        peers = {m: pooled(_all(methods[m])) for m in PEERS if m in methods}
        if not mine or not peers:
            continue
        our_best = max(mine, key=lambda m: mine[m]["ess_per_second_function"])
        ours = mine[our_best]
        best = max(peers, key=lambda m: peers[m]["ess_per_second_function"])
        ratio = {
            space: ours[f"ess_per_second_{space}"]
            / peers[best][f"ess_per_second_{space}"]
            for space in ("function", "canonical")
        }
        seeds = sorted(set(methods[our_best]) & set(methods[best]))
        per_seed = [
            pooled(methods[our_best][seed])["ess_per_second_function"]
            / max(pooled(methods[best][seed])["ess_per_second_function"], 1e-12)
            for seed in seeds
        ]
        table[problem] = {
            "symbayes": mine,
            "symbayes_faster_mode": our_best,
            "numpyro": peers,
            "numpyro_faster_mode": best,
            "ratio_function": ratio["function"],
            "ratio_canonical": ratio["canonical"],
            "seeds": seeds,
            "runs_per_seed": [len(methods[our_best][seed]) for seed in seeds],
            "per_seed_ratio_function": per_seed,
        }
        print(
            f"| {problem} | {len(seeds)} | {ratio['function']:.2f}"
            f" ({our_best} / {best}) |"
            f" {ratio['canonical']:.2f} | {' / '.join(f'{x:.2f}' for x in per_seed)} |"
            f" {ours['us_per_grad']:.1f} / {peers[best]['us_per_grad']:.1f} |"
        )
    output.write_text(json.dumps({"files": paths, "problems": table}, indent=1) + "\n")
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="suite JSON files of run.py")
    parser.add_argument(
        "--output", type=Path, default=HERE / "results" / "nuts_seeds.json"
    )
    args = parser.parse_args()
    main(args.files, args.output)
