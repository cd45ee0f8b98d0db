"""Regenerate ``benchmarks/RESULTS.md`` and the PNG plots from the suite's JSON files.

Reads every ``suite_*.json`` (written by :mod:`run`) and ``gpu_*.json``
(written by :mod:`gpu`) under ``--results`` and writes

* ``RESULTS.md`` - per results file: machine, library versions, seeds, sizes
  and load average, then one table per problem (every method), the many-chain
  cases of CPU and GPU side by side, and the issue's goals checked against
  the numbers;
* ``results/ess_per_second_<tag>.png`` - canonical ESS min per second, per
  problem and method (log scale);
* ``results/modes_<tag>.png`` - modes on raw vs canonical coordinates.

Run: ``.venv/bin/python benchmarks/report.py`` (``run.py`` calls it at the end).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from machine import shown  # noqa: E402

HERE = Path(__file__).resolve().parent
QUOTIENTS = ("reparam", "glue", "fold")
GOAL_FACTOR = 1.5
OVERHEAD_LIMIT = 0.05


def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return format(value, spec)


def load_reports(folder: Path) -> list[dict[str, Any]]:
    reports = []
    for path in sorted(folder.glob("suite_*.json")) + sorted(folder.glob("gpu_*.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        report["_file"] = path.name
        reports.append(report)
    return reports


def _ok(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("status") == "ok"]


def _by(records: list[dict], problem: str, method: str) -> dict | None:
    for record in records:
        if (
            record["problem"] == problem
            and record["method"] == method
            and not record.get("case")
            and record.get("status") == "ok"
        ):
            return record
    return None


# ------------------------------------------------------------------ tables
TABLE_HEADER = (
    "| method | warmup s | sampling s | grads (k) | ESS can min / med | "
    "ESS fn min / med | ESS/s can | ESS/s fn | ESS/1k grads can | ESS/1k grads fn "
    "| R-hat max raw / can / fn | modes raw / can / fn | div | test RMSE | test LPD "
    "| canon+diag % |"
)


def record_row(record: dict[str, Any]) -> str:
    if record.get("status") != "ok":
        return f"| {record['method']} | {record.get('status', '?')} |" + " |" * 15
    s, g = record["seconds"], record["grad_evals"]
    share = record.get("overhead_share")
    return (
        f"| {record['method']} | {s['warmup']:.1f} | {s['sampling']:.1f} | "
        f"{g['total'] / 1000:.0f} | "
        f"{_fmt(record['ess_bulk_min_canonical'], '.0f')} / "
        f"{_fmt(record['ess_bulk_median_canonical'], '.0f')} | "
        f"{_fmt(record['ess_bulk_min_function'], '.0f')} / "
        f"{_fmt(record['ess_bulk_median_function'], '.0f')} | "
        f"{_fmt(record['ess_per_second_canonical'])} | "
        f"{_fmt(record['ess_per_second_function'])} | "
        f"{_fmt(record['ess_per_1000_grads_canonical'])} | "
        f"{_fmt(record['ess_per_1000_grads_function'])} | "
        f"{_fmt(record['rhat_max_raw'], '.2f')} / "
        f"{_fmt(record['rhat_max_canonical'], '.2f')} / "
        f"{_fmt(record['rhat_max_function'], '.2f')} | "
        f"{record['modes_raw']} / {record['modes_canonical']} / "
        f"{record['modes_function']} | {record.get('divergences', '-')} | "
        f"{_fmt(record.get('test_rmse'))} | {_fmt(record.get('test_lpd'))} | "
        f"{_fmt(None if share is None else 100 * share, '.1f')} |"
    )


def stamp(report: dict[str, Any]) -> list[str]:
    machine, v = report["machine"], report["versions"]
    cpu = machine.get("cpu_model") or machine.get("processor")
    lines = [
        f"- file: `results/{report['_file']}`; command: `{report.get('command', '')}`",
        f"- machine: {cpu}, {machine.get('cpu_count')} CPUs "
        f"({machine.get('affinity_cpu_count')} usable), {machine.get('uname')}; JAX "
        f"backend `{machine.get('jax_backend')}` {machine.get('jax_devices')}",
        "- versions: "
        + ", ".join(f"{k} {v[k]}" for k in v if v[k] is not None)
        + f"; source commit {report.get('source', {}).get('commit')}"
        + (
            " (symbayes/ modified)"
            if report.get("source", {}).get("symbayes_modified")
            else ""
        ),
        f"- seeds: {report['seeds']['seed']} ({report['seeds']['rule']})",
        f"- sizes: {report['sizes']}; Stan: {report.get('stan')}",
        f"- load average before / after: {report.get('load_average_before')} / "
        f"{report.get('load_average_after')}; total wall time "
        f"{_fmt(report.get('total_seconds'), '.0f')} s",
    ]
    return lines


# ------------------------------------------------------------------ goals
def goals(records: list[dict[str, Any]]) -> list[str]:
    records = [r for r in records if not r.get("case")]
    problems = list(dict.fromkeys(r["problem"] for r in records))
    lines = ["**1. symbayes NUTS >= numpyro NUTS in ESS per second (canonical).**", ""]
    lines.append(
        "| problem | numpyro | symbayes nuts-none | ratio | best symbayes NUTS "
        "(mode) | ratio | Stan | met |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    for problem in problems:
        peer = _by(records, problem, "numpyro-nuts")
        none = _by(records, problem, "nuts-none")
        stan = _by(records, problem, "stan-nuts")
        nuts = [
            r
            for q in ("none", *QUOTIENTS)
            if (r := _by(records, problem, f"nuts-{q}")) is not None
        ]
        if peer is None or none is None:
            continue
        best = max(nuts, key=lambda r: r["ess_per_second_canonical"] or 0.0)
        base = peer["ess_per_second_canonical"] or float("nan")
        ratio = (none["ess_per_second_canonical"] or 0.0) / base
        best_ratio = (best["ess_per_second_canonical"] or 0.0) / base
        lines.append(
            f"| {problem} | {_fmt(base)} | {_fmt(none['ess_per_second_canonical'])} "
            f"| {_fmt(ratio, '.2f')} | {_fmt(best['ess_per_second_canonical'])} "
            f"({best['quotient']}) | {_fmt(best_ratio, '.2f')} | "
            f"{_fmt(stan['ess_per_second_canonical']) if stan else '-'} | "
            f"{'yes' if ratio >= 1 else 'no'} |"
        )
    lines += [
        "",
        "**2. Best quotient mode >= 1.5x `none` in canonical ESS per 1000 "
        "gradients (warmup + sampling), same kernel.** Goal problems: the "
        "mixture and the 16-unit tanh BNNs; every problem is listed.",
        "",
        "| problem | kernel | none | best quotient (mode) | ratio | modes can "
        "none / best | goal problem | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    helps: list[str] = []
    for problem in problems:
        goal_problem = problem == "gmm-3-1d" or problem.startswith("bnn-16-tanh")
        for kernel in ("nuts", "hmc", "sgld", "sghmc"):
            none = _by(records, problem, f"{kernel}-none")
            quotient = [
                r for q in QUOTIENTS if (r := _by(records, problem, f"{kernel}-{q}"))
            ]
            if none is None or not quotient:
                continue
            best = max(quotient, key=lambda r: r["ess_per_1000_grads_canonical"] or 0.0)
            base = none["ess_per_1000_grads_canonical"] or float("nan")
            ratio = (best["ess_per_1000_grads_canonical"] or 0.0) / base
            met = ratio >= GOAL_FACTOR
            lines.append(
                f"| {problem} | {kernel} | {_fmt(base)} | "
                f"{_fmt(best['ess_per_1000_grads_canonical'])} ({best['quotient']}) | "
                f"{_fmt(ratio, '.2f')} | {none['modes_canonical']} / "
                f"{best['modes_canonical']} | {'yes' if goal_problem else 'no'} | "
                f"{('yes' if met else 'no') if goal_problem else '-'} |"
            )
            if ratio < 1:
                helps.append(f"{problem} ({kernel}: best quotient x{ratio:.2f})")
    shares = [
        r["overhead_share"]
        for r in records
        if r.get("status") == "ok" and r.get("overhead_share") is not None
    ]
    within = sum(s <= OVERHEAD_LIMIT for s in shares)
    canonical_shares = [
        r["canonical_share"]
        for r in _ok(records)
        if r.get("canonical_share") is not None
    ]
    lines += [
        "",
        "**3. Canonicalisation + diagnostics <= 5% of warmup + sampling time.** "
        f"{within} of {len(shares)} runs are within 5%; median "
        f"{_fmt(100 * _median(shares), '.1f')}%, max "
        f"{_fmt(100 * max(shares, default=float('nan')), '.1f')}%. (Canonical "
        "map alone: median "
        f"{_fmt(100 * _median(canonical_shares), '.2f')}"
        "%; the rest is `diagnose`: arviz's per-coordinate ESS and the "
        "function evaluations, jit compilation included, which dominate when "
        "sampling takes seconds.)",
        "",
        "**4. Where quotienting does not help (from these numbers):** "
        + ("; ".join(helps) if helps else "nowhere in this run")
        + ".",
    ]
    return lines


def _median(values: list[float]) -> float:
    values = sorted(v for v in values if v is not None)
    if not values:
        return float("nan")
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def many_chain_table(reports: list[dict[str, Any]]) -> list[str]:
    rows = []
    for report in reports:
        for r in report["records"]:
            if not r.get("case") or r.get("status") != "ok":
                continue
            s = r["seconds"]
            rows.append(
                f"| {report['machine'].get('jax_backend')} ({report['_file']}) | "
                f"{r['case']} | {r['problem']} | {r['method']} | {r['chains']} | "
                f"{r['warmup']} / {r['draws']} | {s['compile']:.1f} | "
                f"{s['warmup']:.1f} | {s['sampling']:.1f} | "
                f"{r['grad_evals']['total'] / 1e6:.2f} | "
                f"{_fmt(r['ess_bulk_min_canonical'], '.0f')} | "
                f"{_fmt(r['ess_per_second_canonical'])} | "
                f"{_fmt(r['ess_bulk_min_function'], '.0f')} | "
                f"{r['modes_raw']} / {r['modes_canonical']} / {r['modes_function']} | "
                f"{_fmt(r['seconds']['diagnostics'], '.1f')} |"
            )
    if not rows:
        return ["No many-chain case has been run yet."]
    return [
        "| backend (file) | case | problem | method | chains | warmup / draws | "
        "compile s | warmup s | sampling s | grads (M) | ESS can min | ESS/s can | "
        "ESS fn min | modes raw / can / fn | diagnose s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]


# ------------------------------------------------------------------ plots
def plot(report: dict[str, Any], folder: Path) -> list[str]:
    records = [r for r in _ok(report["records"]) if not r.get("case")]
    if not records:
        return []
    tag = report.get("tag", "run")
    problems = list(dict.fromkeys(r["problem"] for r in records))
    methods = list(dict.fromkeys(r["method"] for r in records))
    stamp_text = (
        f"{report['machine'].get('cpu_model') or report['machine'].get('processor')}, "
        f"{report['machine'].get('cpu_count')} CPUs, jax {report['versions']['jax']}, "
        f"symbayes {report['versions']['symbayes']}, seed {report['seeds']['seed']}, "
        f"sizes {report['sizes']}"
    )
    files = []
    width = 0.8 / max(len(methods), 1)
    cmap = plt.get_cmap("tab20")
    for name, key, ylabel, log in (
        ("ess_per_second", "ess_per_second_canonical", "canonical ESS min / s", True),
        ("modes", None, "modes: raw (hatched) vs canonical", False),
    ):
        fig, ax = plt.subplots(figsize=(max(10, 1.6 * len(problems)), 5.5))
        for m, method in enumerate(methods):
            xs, ys, raws = [], [], []
            for p, problem in enumerate(problems):
                r = _by(records, problem, method)
                if r is None:
                    continue
                xs.append(p + (m - len(methods) / 2) * width)
                if key:
                    ys.append(r[key] or 0.0)
                else:
                    ys.append(r["modes_canonical"] or 0)
                    raws.append(r["modes_raw"] or 0)
            if not xs:
                continue
            color = cmap(m % 20)
            if key:
                ax.bar(xs, ys, width, label=method, color=color)
            else:
                ax.bar(xs, raws, width, color="none", edgecolor=color, hatch="//")
                ax.bar(xs, ys, width, label=method, color=color)
        ax.set_xticks(range(len(problems)))
        ax.set_xticklabels(problems, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
        ax.set_title(f"{name.replace('_', ' ')} ({tag})", fontsize=10)
        fig.text(0.01, 0.01, stamp_text, fontsize=6)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        path = folder / f"{name}_{tag}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path.name)
    return files


# ------------------------------------------------------------------ main
# NUTS tree-depth cap of each scale in run.SIZES (run is not imported: it loads JAX)
DEFAULT_TREE_DEPTH = {"quick": 6, "full": 10}


def variant(report: dict[str, Any]) -> str:
    """The suite a results file belongs to: its scale, and its NUTS depth cap
    when that is not the scale's default (``quick-depth10``). Files of one
    variant (a suite run in parts) are merged into one section."""
    scale = report.get("scale", report["tag"])
    depth = report.get("sizes", {}).get("max_tree_depth")
    if depth is None or depth == DEFAULT_TREE_DEPTH.get(scale):
        return scale
    return f"{scale}-depth{depth}"


def merge(scale: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    """One suite from the files of one scale (e.g. problems run in two parts)."""
    first = members[0]
    records: dict[tuple, dict[str, Any]] = {}
    for member in members:
        for record in member["records"]:
            key = (record["problem"], record["method"], record.get("case"))
            old = records.get(key)
            if old is None or record.get("status") == "ok" or old.get("status") != "ok":
                records[key] = record
    return {
        **first,
        "tag": scale,
        "problems": {k: v for m in members for k, v in m["problems"].items()},
        "records": list(records.values()),
    }


INTRO = """# Benchmark results

Generated by `python benchmarks/report.py` from the JSON files in
`benchmarks/results/` (do not edit by hand; see `benchmarks/README.md` for
what is measured and how). Columns: wall seconds of warmup and sampling
(compilation excluded); gradient evaluations of warmup + sampling, all chains
(minibatch gradients for SGLD/SGHMC); bulk ESS min / median over canonical
(`sort`) coordinates and over function coordinates (predictions at 16 probe
inputs and the log-likelihood); ESS min per second of warmup + sampling and
per 1000 gradients; max rank-normalised R-hat on raw, canonical and function
coordinates; modes (connected components of chains with pairwise R-hat
< 1.1) on raw, canonical, function coordinates; divergences; BNN test RMSE
and mean test log predictive density (standardised targets); canonical map +
`diagnose` time as a share of warmup + sampling time.

Read ESS with the mode counts: when chains sit in several canonical modes,
the ESS min is small because the chains disagree, not because each chain
mixes slowly; when they sit in several *function* modes the posterior is
genuinely multimodal at this run length.
"""


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    reports = load_reports(args.results)
    lines = [INTRO]
    notes = HERE / "results" / "NOTES.md"
    if notes.exists():
        lines += ["## Observations", "", notes.read_text().strip(), ""]
    groups: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        if report.get("benchmark") == "suite":
            groups.setdefault(variant(report), []).append(report)
    for scale, members in groups.items():
        merged = merge(scale, members)
        lines += [f"## Suite `{scale}`", ""]
        for report in members:
            lines += [*stamp(report), ""]
        pngs = plot(merged, args.results)
        lines += [f"![{p}](results/{p})" for p in pngs] + [""]
        lines += ["### Goals", "", *goals(merged["records"]), ""]
        for problem, info in merged["problems"].items():
            lines += [
                f"### {problem}",
                "",
                f"{info['description']}; {info['num_params']} parameters, "
                f"group order 10^{info['log10_group_order']:.2f}; "
                f"{info['symmetry']}",
                "",
                TABLE_HEADER,
                "|---" * 17 + "|",
            ]
            lines += [
                record_row(r)
                for r in merged["records"]
                if r["problem"] == problem and not r.get("case")
            ]
            lines.append("")
    lines += [
        "## Many chains in one program: CPU and GPU",
        "",
        *many_chain_table(reports),
    ]
    gpu = [r for r in reports if r.get("benchmark") == "gpu"]
    for report in gpu:
        lines += ["", f"### GPU file `{report['_file']}`", "", *stamp(report)]
    args.output.write_text("\n".join(lines) + "\n")
    print(f"written {shown(args.output)}")
    return args.output


if __name__ == "__main__":
    main()
