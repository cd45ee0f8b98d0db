"""Tables and figures of a comparison: terminal table, PNG files, one HTML page.

:func:`comparison_table` prints one row per method (wall time, gradients,
ESS, R-hat and modes on raw, canonical and function coordinates) and a
legend of its columns; :func:`check_report_folder` and
:func:`check_output_file` check output paths before any sampling;
:func:`write_report` writes the figures

* ``traces.png`` - raw against canonical traces of the coordinates whose raw
  chain means differ most;
* ``chain_rhat.png`` - pairwise chain R-hat (the chain distance modes are
  built from) on raw, canonical and function coordinates, per method;
* ``modes.png`` - mode counts per method and space;
* ``predictive.png`` - the posterior predictive band, for a 1-D regression
  (the mean ``f(x)``) or a 1-D density model (``p(x)``);

and ``index.html``, a page with the table and the figures (referenced by
relative path, so the folder is self-contained and can be moved as a whole).
Figures are drawn with matplotlib's object API (no pyplot state, no display
needed).
"""

from __future__ import annotations

import html
import json
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from symbayes.diagnostics import flatten_draws

__all__ = [
    "REPORT_FILES",
    "check_output_file",
    "check_report_folder",
    "comparison_table",
    "format_group_order",
    "legend",
    "plot_chain_rhat",
    "plot_mode_counts",
    "plot_predictive",
    "predictive_kind",
    "spread_coordinates",
    "plot_traces",
    "write_report",
]

# (key in a run record, group header, column header, format)
_COLUMNS = (
    ("method", "", "method", "{}"),
    ("wall_seconds", "", "wall s", "{:.1f}"),
    ("grad_evals", "", "grad evals", "{:.2e}"),
    ("ess_bulk_min_raw", "ESS bulk, min", "raw", "{:.0f}"),
    ("ess_bulk_min_canonical", "ESS bulk, min", "canon", "{:.0f}"),
    ("ess_bulk_min_function", "ESS bulk, min", "func", "{:.0f}"),
    ("rhat_max_raw", "R-hat, max", "raw", "{:.2f}"),
    ("rhat_max_canonical", "R-hat, max", "canon", "{:.2f}"),
    ("rhat_max_function", "R-hat, max", "func", "{:.2f}"),
    ("modes_raw", "modes", "raw", "{}"),
    ("modes_canonical", "modes", "canon", "{}"),
    ("modes_function", "modes", "func", "{}"),
    ("divergences", "", "divergent", "{}"),
    ("redundant_chains", "", "redundant", "{}"),
)
NOT_AVAILABLE = "n/a"
LEGEND_WIDTH = 88
# 10^6 and above are shown as a power of ten
_EXACT_ORDER_BELOW = 6.0


def legend(report: dict[str, Any]) -> list[str]:
    """The lines under the comparison table that say what every column means.

    Args:
        report: the dict returned by :func:`symbayes.compare.compare`.

    Returns:
        Plain-text lines: the columns, the three spaces, ``n/a``, and, when
        the naive ``none`` mode ran, why its raw R-hat is expected to be high.
    """
    threshold = report.get("settings", {}).get("mode_threshold", 1.1)
    canonical_map = report.get("settings", {}).get("canonical_map", "sort")
    lines = [
        "columns: wall s = wall-clock seconds of the run; grad evals = gradient "
        "evaluations, all chains, warmup included; ESS bulk, min = the smallest "
        "bulk effective sample size over coordinates; R-hat, max = the largest "
        "rank-normalised split R-hat; modes = groups of chains whose pairwise "
        f"R-hat is below {threshold} (connected components); divergent = "
        "divergent transitions; redundant = chains that landed in a canonical "
        "mode a lower-numbered chain already occupies (they add draws to that "
        "mode, not a new mode).",
        "spaces: raw = the coordinates the sampler moved in (for the quotient "
        "modes, which sample inside one copy, the same as canonical); canon = "
        f"every method's draws after the same post-hoc canonical map "
        f"({canonical_map}); func = function values, which no symmetry "
        "changes (the model's predictions or density at probe inputs, or its "
        "implied covariance, and the log-likelihood). "
        f"{NOT_AVAILABLE} = not finite or not computed.",
    ]
    if any(run.get("method") == "none" for run in report.get("runs", ())):
        lines.append(
            "none samples the full space: its chains sit in different symmetric "
            "copies of the posterior, so its raw R-hat and raw modes are expected "
            "to be high; judge it on the canon and func columns."
        )
    return lines


def format_group_order(log10_order: float, factors: str | None = None) -> str:
    """The order of the symmetry group as a reader takes it in.

    Args:
        log10_order: ``log10`` of the order (of its finite part).
        factors: optionally how it factorises, e.g. ``"3! x 2^3"``.

    Returns:
        The exact integer below a million (``"48"``), else a power of ten
        (``"10^18.1"``), followed by ``factors`` in parentheses when given.

    Example:
        >>> format_group_order(1.6812412373755872, "3! x 2^3")
        '48 (3! x 2^3)'
        >>> format_group_order(18.1234)
        '10^18.1'
    """
    if log10_order < _EXACT_ORDER_BELOW:
        text = str(round(10.0**log10_order))
    else:
        text = f"10^{log10_order:.1f}"
    return f"{text} ({factors})" if factors and factors != text else text


def _cell(value: Any, pattern: str) -> str:
    if value is None:
        return NOT_AVAILABLE
    return pattern.format(value)


def _rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for run in report["runs"]:
        method = f"{run['kernel']}/{run['method']}"
        rows.append(
            [method]
            + [_cell(run.get(key), pattern) for key, _, _, pattern in _COLUMNS[1:]]
        )
    return rows


def _heading(report: dict[str, Any]) -> str:
    problem = report["problem"]
    order = format_group_order(problem["log10_group_order"], problem.get("group_order"))
    return (
        f"{problem['model']} on {problem['dataset']}: {problem['num_params']} "
        f"parameters, symmetry group of order {order}"
    )


def comparison_table(report: dict[str, Any]) -> str:
    """A plain-text table of ``report["runs"]`` (see :func:`symbayes.compare`).

    One row per method; ESS is the minimum bulk ESS over coordinates and
    R-hat the maximum, on raw, canonical and function coordinates; a legend
    under the table says what every column means (:func:`legend`).

    Args:
        report: the dict returned by :func:`symbayes.compare.compare`.

    Returns:
        The heading (model, data, number of parameters, group order), the
        table with a two-line header (group, column) and the legend, one
        line per paragraph.
    """
    body = _rows(report)
    columns = [label for _, _, label, _ in _COLUMNS]
    widths = [max(len(row[i]) for row in [columns, *body]) for i in range(len(columns))]
    # a group header centred over its columns
    groups: list[tuple[str, int]] = []
    for (_, group, _, _), width in zip(_COLUMNS, widths):
        if groups and groups[-1][0] == group and group:
            groups[-1] = (group, groups[-1][1] + width + 2)
        else:
            groups.append((group, width))
    group_line = "  ".join(name.center(width) for name, width in groups)

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths))
        )

    lines = [_heading(report), group_line.rstrip(), line(columns)]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(line(row) for row in body)
    for run in report["runs"]:
        budget = run.get("budget")
        if budget:
            status = "reached" if budget["reached"] else "not reached"
            lines.append(
                f"chain budget {run['kernel']}/{run['method']}: unseen-mode mass "
                f"{budget['unseen_mass']:.3f} ({status}) with {budget['chains']} "
                f"chains, {budget['grad_evals']:.3g} gradients, "
                f"{budget['modes_canonical']} canonical mode(s)"
            )
    for refusal in report.get("refused", []):
        lines.append(
            f"{refusal['kernel']}/{refusal['method']}: refused, "
            + refusal["reason"].split(". ")[0]
        )
    for paragraph in legend(report):
        lines.extend(textwrap.wrap(paragraph, LEGEND_WIDTH, subsequent_indent="  "))
    return "\n".join(lines)


# --------------------------------------------------------------------- figures
def spread_coordinates(values: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` coordinates whose chain means differ most.

    The score of coordinate ``i`` is the variance of its ``C`` chain means
    over its mean within-chain variance, ``B / W`` of the R-hat estimator
    (Gelman & Rubin 1992): large where the chains sit apart, as chains in
    different symmetric copies do.

    Args:
        values: draws ``(chain, draw, coordinate)``.
        count: how many coordinates.

    Returns:
        Their indices, highest score first (ties: lower index first).
    """
    between = np.var(values.mean(axis=1), axis=0)
    within = np.mean(np.var(values, axis=1), axis=0)
    score = between / np.maximum(within, np.finfo(float).tiny)
    return np.argsort(-score, kind="stable")[:count]


def plot_traces(
    raw: Any,
    canonical: Any,
    path: str | Path,
    *,
    num_coordinates: int = 3,
    coordinates: Sequence[int] | None = None,
) -> Path:
    """Traces of a few coordinates: raw draws (top) and canonical (bottom).

    Args:
        raw: raw draws, leaves ``(chain, draw, ...)``.
        canonical: canonical draws of the same run.
        path: the PNG file.
        num_coordinates: how many coordinates.
        coordinates: their flat indices (the order of
            :func:`~symbayes.diagnostics.flatten_draws`); default the
            ``num_coordinates`` whose raw chain means differ most
            (:func:`spread_coordinates`).

    Returns:
        The path.
    """
    raw_values, names = flatten_draws(raw)
    canonical_values, _ = flatten_draws(canonical)
    if coordinates is None:
        coordinates = spread_coordinates(raw_values, num_coordinates)
    count = len(coordinates)
    figure = Figure(figsize=(4 * count, 5), constrained_layout=True)
    axes = figure.subplots(2, count, squeeze=False, sharex=True)
    for column, index in enumerate(coordinates):
        for row, (label, values) in enumerate(
            (("raw", raw_values), ("canonical", canonical_values))
        ):
            ax = axes[row, column]
            for chain in range(values.shape[0]):
                ax.plot(values[chain, :, index], lw=0.6, alpha=0.8)
            ax.set_title(f"{label}: {names[index]}", fontsize=9)
        axes[1, column].set_xlabel("draw")
    figure.suptitle("traces, one colour per chain: raw (top), canonical (bottom)")
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
            count = values.modes.count
            plural = "mode" if count == 1 else "modes"
            ax.set_title(f"{method}: {space} ({count} {plural})", fontsize=9)
            ax.set_xlabel("chain")
            ax.set_ylabel("chain")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if image is not None:
        bar = figure.colorbar(image, ax=axes, shrink=0.8)
        bar.set_ticks(np.log10([1.0, 1.1, 1.5, 2.0, 3.0]))
        bar.set_ticklabels(["1", "1.1", "1.5", "2", ">= 3"])
        bar.set_label("pairwise R-hat (log scale)")
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
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"modes found by {runs[0]['chains']} chains")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _save(figure, path)


def _pooled_draws(draws: Any, num_draws: int) -> Any:
    """At most ``num_draws`` draws, evenly strided over all chains pooled."""
    flat = jax.tree_util.tree_map(
        lambda leaf: np.asarray(leaf).reshape(-1, *np.shape(leaf)[2:]), draws
    )
    total = jax.tree_util.tree_leaves(flat)[0].shape[0]
    index = np.linspace(0, total - 1, min(num_draws, total)).astype(int)
    return jax.tree_util.tree_map(lambda leaf: leaf[index], flat)


def predictive_kind(model: Any, data: Sequence[Any] | None) -> str | None:
    """Which predictive figure fits: ``"regression"``, ``"density"`` or ``None``.

    ``"regression"``: data ``(X, y)`` with one input column and a model with
    ``predictive_mean`` (the band of ``f(x)``). ``"density"``: data ``(X,)``
    of one column (a mixture, a 1-D PPCA; the band of ``p(x | theta)`` from
    ``model.log_likelihood``). Otherwise no figure.
    """
    if model is None or data is None or len(data) == 0:
        return None
    X = np.asarray(data[0])
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[1] != 1:
        return None
    if len(data) >= 2 and hasattr(model, "predictive_mean"):
        return "regression"
    if len(data) == 1 and hasattr(model, "log_likelihood"):
        return "density"
    return None


def plot_predictive(
    model: Any,
    data: Sequence[Any],
    results: dict[str, Any],
    path: str | Path,
    *,
    num_draws: int = 400,
) -> Path | None:
    """Posterior predictive median and 90% band on a 1-D grid, per method.

    For a regression (data ``(X, y)``, one input column) the band is that of
    the predictive mean ``f(x)``, drawn over the data points; for a density
    model (data ``(X,)``, one column) that of the density ``p(x | theta)``,
    drawn over a histogram of the data (see :func:`predictive_kind`). Draws
    of all chains are pooled and thinned to ``num_draws``.

    Args:
        model: the model.
        data: its data tuple.
        results: ``{method: SampleResult}``.
        path: the PNG file.
        num_draws: draws used per method.

    Returns:
        The path, or ``None`` (and nothing written) when no predictive figure
        fits the model and data.
    """
    kind = predictive_kind(model, data)
    if kind is None:
        return None
    X = np.asarray(data[0]).reshape(-1, 1)
    grid = np.linspace(X.min() - 0.5, X.max() + 0.5, 200)[:, None].astype(X.dtype)
    figure = Figure(figsize=(4 * len(results), 3.5), constrained_layout=True)
    axes = figure.subplots(1, len(results), squeeze=False, sharey=True)[0]
    if kind == "regression":
        evaluate = model.predictive_mean
    else:

        def evaluate(params: Any, inputs: Any) -> Any:
            return jax.numpy.exp(model.log_likelihood(params, (inputs,)))

    predict = jax.jit(jax.vmap(evaluate, in_axes=(0, None)))
    for ax, (method, result) in zip(axes, results.items()):
        values = np.asarray(predict(_pooled_draws(result.draws, num_draws), grid))
        low, mid, high = np.percentile(values, [5, 50, 95], axis=0)
        if kind == "regression":
            ax.scatter(X[:, 0], np.asarray(data[1]), s=6, color="black", label="data")
        else:
            ax.hist(X[:, 0], bins=30, density=True, color="0.8", label="data")
        ax.fill_between(grid[:, 0], low, high, alpha=0.3, label="90% band")
        ax.plot(grid[:, 0], mid, lw=1.5, label="median")
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("x")
    axes[0].set_ylabel("y" if kind == "regression" else "density")
    axes[0].legend(fontsize=8)
    what = "mean f(x)" if kind == "regression" else "density p(x)"
    figure.suptitle(f"posterior predictive {what}: median and 90% band over draws")
    return _save(figure, path)


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path


# ---------------------------------------------------------------- output paths
# every file write_report may write into its folder
REPORT_FILES = (
    "compare.json",
    "traces.png",
    "chain_rhat.png",
    "modes.png",
    "predictive.png",
    "index.html",
)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def _check_can_create_in(folder: Path, path: Path) -> None:
    """``folder`` (an existing ancestor of ``path``) must take new files."""
    if not folder.is_dir():
        raise ValueError(f"{path} lies under {folder}, which is a file, not a folder")
    try:
        # a real write: permission bits, read-only mounts, quotas (root too)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(f"{path}: cannot write in {folder} ({reason})") from None


def _check_can_overwrite(path: Path) -> None:
    """An existing file must be a file that can be opened for writing."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a file")
    try:
        # append mode: the file is opened for writing but not changed
        with open(path, "a"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(f"{path}: cannot write it ({reason})") from None


def check_report_folder(folder: str | Path) -> None:
    """Check, before any sampling, that :func:`write_report` can write ``folder``.

    The folder must be a folder or not exist yet, and the nearest existing
    folder on its path must take new files (tried with a temporary file,
    which is removed at once, so the check also holds for a read-only
    mount and for the root user); report files already in it must be
    writable. Nothing is created or changed.

    Args:
        folder: the report folder.

    Raises:
        ValueError: naming the path and what is wrong.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} exists and is not a folder")
    _check_can_create_in(_nearest_existing(folder), folder)
    if folder.is_dir():
        for name in REPORT_FILES:
            if (folder / name).exists():
                _check_can_overwrite(folder / name)


def check_output_file(path: str | Path) -> None:
    """Check, before any sampling, that a file can be written at ``path``.

    ``path`` must not be a folder; an existing file must be writable; else
    the nearest existing folder on its path must take new files. Nothing is
    created or changed.

    Args:
        path: the file.

    Raises:
        ValueError: naming the path and what is wrong.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        _check_can_overwrite(path)
        return
    _check_can_create_in(_nearest_existing(path.parent), path)


# ------------------------------------------------------------------------ html
def _html_table(report: dict[str, Any]) -> str:
    """The comparison table: a group row (``colspan``) over a column row."""
    groups: list[list[Any]] = []
    for _, group, label, _ in _COLUMNS:
        if groups and group and groups[-1][0] == group:
            groups[-1][1] += 1
        else:
            groups.append([group, 1, label])
    top = "".join(
        f'<th colspan="{span}">{html.escape(group)}</th>'
        if group
        else f'<th rowspan="2">{html.escape(label)}</th>'
        for group, span, label in groups
    )
    second = "".join(
        f"<th>{html.escape(label)}</th>" for _, group, label, _ in _COLUMNS if group
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in _rows(report)
    )
    return (
        f"<table><thead><tr>{top}</tr><tr>{second}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


_TRACES_CAPTION = (
    "Traces of {method}: the coordinates whose raw chain means differ most, "
    "one colour per chain. Top: the "
    "raw draws, in the coordinates the sampler moved in; chains can sit in "
    "different symmetric copies of the posterior (the same coordinate at "
    "different levels). Bottom: the same draws after the canonical map (sort: "
    "units ordered by their sort key, each flipped to a non-negative sign key "
    "where the group has sign flips). A canonical trace jumps wherever two "
    "units' sort keys come close and trade places, the map then picks the "
    "other unit for that coordinate: this "
    "is the canonical map at a near-tie, not a move of the sampler."
)
_CHAIN_RHAT_CAPTION = (
    "Pairwise chain R-hat, one row per method, on raw, canonical and function "
    "coordinates: for every pair of chains the largest R-hat over coordinates "
    "(colour, log scale, clipped at 3; dark = the two chains agree). A white "
    "dot marks pairs below {threshold}; the modes are the groups of chains "
    "connected by dots. For the quotient modes raw and canonical coincide."
)
_MODES_CAPTION = (
    "Modes per method on raw, canonical and function coordinates: groups of "
    "chains whose pairwise R-hat is below {threshold}. Raw counts of the naive "
    "method are inflated by chains in different symmetric copies; canonical "
    "and function counts compare across methods."
)
_PREDICTIVE_CAPTIONS = {
    "regression": (
        "Posterior predictive mean f(x) per method: the median and 90% band "
        "over draws (all chains pooled), over the training data."
    ),
    "density": (
        "Posterior predictive density p(x) per method: the median and 90% band "
        "over draws (all chains pooled), over a histogram of the data."
    ),
}

_STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; margin: 1em 0; }
figcaption { max-width: 60em; }
li { max-width: 60em; margin: 0.3em 0; }
pre { background: #f6f6f6; padding: 0.6em; white-space: pre-wrap; }
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
        ValueError: ``folder`` cannot be written (:func:`check_report_folder`).
    """
    folder = Path(folder)
    check_report_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compare.json").write_text(json.dumps(report, indent=2))
    methods = [f"{r.record['kernel']}/{r.record['method']}" for r in runs]
    threshold = report.get("settings", {}).get("mode_threshold", 1.1)
    figures: list[tuple[str, str]] = []
    with_raw = [r for r in runs if r.result.raw_draws is not None]
    if with_raw:
        first = with_raw[0]
        plot_traces(first.result.raw_draws, first.result.draws, folder / "traces.png")
        method = f"{first.record['kernel']}/{first.record['method']}"
        figures.append(("traces.png", _TRACES_CAPTION.format(method=method)))
    plot_chain_rhat(
        {m: r.diagnostics for m, r in zip(methods, runs)}, folder / "chain_rhat.png"
    )
    figures.append(("chain_rhat.png", _CHAIN_RHAT_CAPTION.format(threshold=threshold)))
    plot_mode_counts(report, folder / "modes.png")
    figures.append(("modes.png", _MODES_CAPTION.format(threshold=threshold)))
    kind = predictive_kind(model, data)
    if kind is not None:
        plot_predictive(
            model,
            data,
            {m: r.result for m, r in zip(methods, runs)},
            folder / "predictive.png",
        )
        figures.append(("predictive.png", _PREDICTIVE_CAPTIONS[kind]))
    problem = report["problem"]
    images = "".join(
        f'<figure><img src="{name}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption in figures
    )
    order = format_group_order(problem["log10_group_order"], problem.get("group_order"))
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in legend(report))
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>symbayes compare: {html.escape(problem['model'])}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>symbayes compare: {html.escape(problem['model'])} on "
        f"{html.escape(problem['dataset'])}</h1>"
        f"<p>{problem['num_params']} parameters; symmetry group of order "
        f"{html.escape(order)}.</p>"
        f"{_html_table(report)}<ul>{notes}</ul>"
        f"<pre>{html.escape(json.dumps(report['settings']))}</pre>"
        f"{images}</body></html>"
    )
    index = folder / "index.html"
    index.write_text(page)
    return index
