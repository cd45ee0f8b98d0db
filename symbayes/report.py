"""Tables and figures of a comparison: terminal table, PNG files, one HTML page.

:func:`comparison_table` prints one row per method (wall time, gradients,
ESS, R-hat and modes on raw, canonical and function coordinates);
:func:`write_report` writes the figures

* ``traces.png`` - raw against canonical traces of a few coordinates;
* ``chain_rhat.png`` - pairwise chain R-hat (the chain distance modes are
  built from) on raw, canonical and function coordinates, per method;
* ``modes.png`` - mode counts per method and space;
* ``predictive.png`` - the posterior predictive band, for 1-D regression;

and ``index.html``, a page with the table and the figures (referenced by
relative path, so the folder is self-contained and can be moved as a whole).
Figures are drawn with matplotlib's object API (no pyplot state, no display
needed).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure

from symbayes.diagnostics import flatten_draws

__all__ = [
    "comparison_table",
    "plot_chain_rhat",
    "plot_mode_counts",
    "plot_predictive",
    "plot_traces",
    "write_report",
]

_COLUMNS = (
    ("method", "method", "{}"),
    ("wall_seconds", "wall s", "{:.1f}"),
    ("grad_evals", "grads", "{:.2e}"),
    ("ess_bulk_min_raw", "ESS raw", "{:.0f}"),
    ("ess_bulk_min_canonical", "ESS can", "{:.0f}"),
    ("ess_bulk_min_function", "ESS fun", "{:.0f}"),
    ("rhat_max_raw", "Rhat raw", "{:.2f}"),
    ("rhat_max_canonical", "Rhat can", "{:.2f}"),
    ("rhat_max_function", "Rhat fun", "{:.2f}"),
    ("modes_raw", "modes raw", "{}"),
    ("modes_canonical", "modes can", "{}"),
    ("modes_function", "modes fun", "{}"),
    ("divergences", "div", "{}"),
)


def _cell(value: Any, pattern: str) -> str:
    if value is None:
        return "n/a"
    return pattern.format(value)


def comparison_table(report: dict[str, Any]) -> str:
    """A plain-text table of ``report["runs"]`` (see :func:`symbayes.compare`).

    ESS is the minimum bulk ESS over coordinates, R-hat the maximum, per
    space (raw, canonical, function).
    """
    problem = report["problem"]
    rows = [[label for _, label, _ in _COLUMNS]]
    for run in report["runs"]:
        method = f"{run['kernel']}/{run['method']}"
        rows.append(
            [method] + [_cell(run[key], pattern) for key, _, pattern in _COLUMNS[1:]]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        f"{problem['model']} on {problem['dataset']}: {problem['num_params']} "
        f"parameters, group order 10^{problem['log10_group_order']:.2f}",
    ]
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------- figures
def plot_traces(
    raw: Any, canonical: Any, path: str | Path, *, num_coordinates: int = 3
) -> Path:
    """Traces of the first coordinates: raw draws (top) and canonical (bottom).

    Args:
        raw: raw draws, leaves ``(chain, draw, ...)``.
        canonical: canonical draws of the same run.
        path: the PNG file.
        num_coordinates: how many coordinates (the first, in path order).
    """
    raw_values, names = flatten_draws(raw)
    canonical_values, _ = flatten_draws(canonical)
    count = min(num_coordinates, len(names))
    figure = Figure(figsize=(4 * count, 5), constrained_layout=True)
    axes = figure.subplots(2, count, squeeze=False, sharex=True)
    for column in range(count):
        for row, (label, values) in enumerate(
            (("raw", raw_values), ("canonical", canonical_values))
        ):
            ax = axes[row, column]
            for chain in range(values.shape[0]):
                ax.plot(values[chain, :, column], lw=0.6, alpha=0.8)
            ax.set_title(f"{label}: {names[column]}", fontsize=9)
        axes[1, column].set_xlabel("draw")
    figure.suptitle("traces, one colour per chain: raw (top) vs canonical (bottom)")
    return _save(figure, path)


def plot_chain_rhat(
    diagnostics: dict[str, Any], path: str | Path, *, threshold: float = 1.1
) -> Path:
    """Pairwise chain R-hat heatmaps: one row per method, one column per space.

    Chains share a mode when their pairwise R-hat is below the threshold
    (1.1), marked with a white dot; the colour scale is ``log10(R-hat)``
    clipped at R-hat = 3.
    """
    spaces = ("raw", "canonical", "function")
    figure = Figure(figsize=(10, 3.2 * len(diagnostics)), constrained_layout=True)
    axes = figure.subplots(len(diagnostics), 3, squeeze=False)
    image = None
    for row, (method, diag) in enumerate(diagnostics.items()):
        for column, space in enumerate(spaces):
            ax = axes[row, column]
            values = getattr(diag, space)
            if values is None:
                ax.set_axis_off()
                continue
            matrix = np.log10(np.clip(values.pairwise_rhat, 1.0, 3.0))
            image = ax.imshow(matrix, vmin=0.0, vmax=np.log10(3.0), cmap="viridis")
            rows, cols = np.nonzero(values.pairwise_rhat < threshold)
            ax.scatter(cols, rows, s=8, color="white", marker="o")
            ax.set_title(f"{method}: {space} ({values.modes.count} modes)", fontsize=9)
            ax.set_xlabel("chain")
            ax.set_ylabel("chain")
    if image is not None:
        bar = figure.colorbar(image, ax=axes, shrink=0.8)
        bar.set_label("log10 pairwise R-hat (clipped at 3); dot: below threshold")
    return _save(figure, path)


def plot_mode_counts(report: dict[str, Any], path: str | Path) -> Path:
    """Grouped bars: modes on raw, canonical and function coordinates."""
    runs = report["runs"]
    spaces = ("raw", "canonical", "function")
    figure = Figure(figsize=(1.6 + 1.4 * len(runs), 3.5), constrained_layout=True)
    ax = figure.subplots()
    positions = np.arange(len(runs))
    for offset, space in enumerate(spaces):
        counts = [run[f"modes_{space}"] or np.nan for run in runs]  # None: no raw
        ax.bar(positions + (offset - 1) * 0.27, counts, width=0.27, label=space)
    ax.set_xticks(positions)
    ax.set_xticklabels([f"{run['kernel']}/{run['method']}" for run in runs])
    ax.set_ylabel("modes (connected chains)")
    ax.set_title(f"modes found by {runs[0]['chains']} chains")
    ax.legend()
    return _save(figure, path)


def plot_predictive(
    model: Any,
    data: Sequence[Any],
    results: dict[str, Any],
    path: str | Path,
    *,
    num_draws: int = 400,
) -> Path | None:
    """Posterior predictive mean and 90% band of a 1-D regression, per method.

    Returns ``None`` (and writes nothing) unless the model has a
    ``predictive_mean`` and one input column.
    """
    X, y = np.asarray(data[0]), np.asarray(data[1])
    if not hasattr(model, "predictive_mean") or X.ndim != 2 or X.shape[1] != 1:
        return None
    grid = np.linspace(X.min() - 0.5, X.max() + 0.5, 200)[:, None].astype(X.dtype)
    figure = Figure(figsize=(4 * len(results), 3.5), constrained_layout=True)
    axes = figure.subplots(1, len(results), squeeze=False, sharey=True)[0]
    predict = jax.jit(jax.vmap(model.predictive_mean, in_axes=(0, None)))
    for ax, (method, result) in zip(axes, results.items()):
        flat = jax.tree_util.tree_map(
            lambda leaf: np.asarray(leaf).reshape(-1, *np.shape(leaf)[2:]),
            result.draws,
        )
        total = jax.tree_util.tree_leaves(flat)[0].shape[0]
        index = np.linspace(0, total - 1, min(num_draws, total)).astype(int)
        thinned = jax.tree_util.tree_map(lambda leaf, i=index: leaf[i], flat)
        means = np.asarray(predict(thinned, grid))
        low, mid, high = np.percentile(means, [5, 50, 95], axis=0)
        ax.fill_between(grid[:, 0], low, high, alpha=0.3, label="90% band")
        ax.plot(grid[:, 0], mid, lw=1.5, label="median")
        ax.scatter(X[:, 0], y, s=6, color="black", label="data")
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("x")
    axes[0].set_ylabel("y")
    axes[0].legend(fontsize=8)
    figure.suptitle("posterior predictive mean: median and 90% band")
    return _save(figure, path)


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path


# ------------------------------------------------------------------------ html
def _html_table(report: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in _COLUMNS)
    rows = []
    for run in report["runs"]:
        cells = [f"{run['kernel']}/{run['method']}"] + [
            _cell(run[key], pattern) for key, _, pattern in _COLUMNS[1:]
        ]
        rows.append("".join(f"<td>{html.escape(c)}</td>" for c in cells))
    body = "".join(f"<tr>{row}</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; margin: 1em 0; }
pre { background: #f6f6f6; padding: 0.6em; }
"""


def write_report(
    folder: str | Path,
    report: dict[str, Any],
    runs: Sequence[Any],
    *,
    model: Any = None,
    data: Any = None,
) -> Path:
    """Write the JSON, the figures and ``index.html`` into ``folder``.

    Args:
        folder: created if needed; must not be a file.
        report: the dict returned by :func:`symbayes.compare.compare`.
        runs: its :class:`~symbayes.compare.Run` list (results and
            diagnostics).
        model: the model, for the predictive band.
        data: its data.

    Returns:
        The path of ``index.html``.

    Raises:
        ValueError: if ``folder`` exists and is not a folder.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output folder {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compare.json").write_text(json.dumps(report, indent=2))
    methods = [f"{r.record['kernel']}/{r.record['method']}" for r in runs]
    figures: list[tuple[str, str]] = []
    with_raw = [r for r in runs if r.result.raw_draws is not None]
    if with_raw:
        first = with_raw[0]
        plot_traces(first.result.raw_draws, first.result.draws, folder / "traces.png")
        figures.append(
            (
                "traces.png",
                f"Traces of {first.record['kernel']}/{first.record['method']}: "
                "raw chains switch between symmetric copies, canonical ones do not.",
            )
        )
    plot_chain_rhat(
        {m: r.diagnostics for m, r in zip(methods, runs)}, folder / "chain_rhat.png"
    )
    figures.append(
        (
            "chain_rhat.png",
            "Pairwise chain R-hat: dark blocks are chains that share a mode.",
        )
    )
    plot_mode_counts(report, folder / "modes.png")
    figures.append(("modes.png", "Modes on raw, canonical and function coordinates."))
    if model is not None and data is not None:
        written = plot_predictive(
            model,
            data,
            {m: r.result for m, r in zip(methods, runs)},
            folder / "predictive.png",
        )
        if written is not None:
            figures.append(("predictive.png", "Posterior predictive bands."))
    problem = report["problem"]
    images = "".join(
        f'<figure><img src="{name}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption in figures
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>symbayes compare: {html.escape(problem['model'])}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>symbayes compare: {html.escape(problem['model'])} on "
        f"{html.escape(problem['dataset'])}</h1>"
        f"<p>{problem['num_params']} parameters; symmetry group of order "
        f"10<sup>{problem['log10_group_order']:.2f}</sup>. ESS: minimum bulk "
        "ESS over coordinates; R-hat: maximum rank-normalised split R-hat; "
        "modes: connected components of chains whose pairwise R-hat is below "
        "1.1. Every method is measured on the same canonical coordinates.</p>"
        f"{_html_table(report)}"
        f"<pre>{html.escape(json.dumps(report['settings']))}</pre>"
        f"{images}</body></html>"
    )
    index = folder / "index.html"
    index.write_text(page)
    return index
