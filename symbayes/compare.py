"""Naive against quotient sampling on one problem: the ``symbayes compare`` job.

:func:`compare` samples one posterior with every requested quotient mode,
diagnoses each run on raw, canonical and function coordinates (the same
post-hoc canonical map for every method) and returns a JSON-ready dict;
:func:`build_problem` turns names (model, dataset) into a model and its data.
The command line lives in :mod:`symbayes.cli`; the report in
:mod:`symbayes.report`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from symbayes import datasets
from symbayes.diagnostics import Diagnostics, diagnose
from symbayes.models import MLP, PPCA, BayesianModel, GaussianMixture
from symbayes.models.base import Data
from symbayes.results import SampleResult, params_to_variables
from symbayes.samplers import sample

__all__ = [
    "DEFAULTS",
    "MODELS",
    "Problem",
    "Run",
    "build_problem",
    "compare",
    "parse_layers",
]

MODELS = ("mlp", "gmm", "ppca")
QUOTIENT_MODES = ("none", "reparam", "reflect", "fold")
# the embedded default: a 1-3-1 tanh BNN on the bundled sinusoidal data
DEFAULTS: dict[str, Any] = {
    "model": "mlp",
    "layers": "1-3-1",
    "activation": "tanh",
    "components": 3,
    "latent": 2,
    "dataset": None,  # per model: sinusoidal, a 3-component mixture, PPCA data
    "kernel": "nuts",
    "quotient": ("none", "reparam", "reflect", "fold"),
    "chains": 8,
    "warmup": 400,
    "samples": 400,
    "seed": 0,
}
RUN_KEYS = (
    "method",
    "kernel",
    "chains",
    "draws",
    "wall_seconds",
    "grad_evals",
    "ess_bulk_min_raw",
    "ess_bulk_min_canonical",
    "ess_bulk_min_function",
    "rhat_max_raw",
    "rhat_max_canonical",
    "rhat_max_function",
    "modes_raw",
    "modes_canonical",
    "modes_function",
    "divergences",
)


class Problem(NamedTuple):
    """A model, its data and how to describe them.

    Attributes:
        model: the :class:`~symbayes.models.BayesianModel`.
        data: the data tuple the model's log density takes.
        dataset: the :class:`~symbayes.datasets.Dataset` it came from.
        description: e.g. ``"mlp 1-3-1 tanh"``.
    """

    model: BayesianModel
    data: Data
    dataset: datasets.Dataset
    description: str


class Run(NamedTuple):
    """One method's result, diagnostics and JSON record."""

    result: SampleResult
    diagnostics: Diagnostics
    record: dict[str, Any]


def parse_layers(text: str) -> tuple[int, ...]:
    """``"1-3-1"`` -> ``(1, 3, 1)``; at least one hidden layer."""
    try:
        sizes = tuple(int(part) for part in text.split("-"))
    except ValueError:
        sizes = ()
    if len(sizes) < 3 or min(sizes) < 1:
        raise ValueError(
            f"layers must look like 1-3-1 (input, hidden..., output sizes >= 1), "
            f"got {text!r}"
        )
    return sizes


def _load_dataset(name: str | None, model: str, seed: int) -> datasets.Dataset:
    if name is None:
        if model == "mlp":
            return datasets.load("sinusoidal")
        if model == "gmm":
            return datasets.make_gaussian_mixture(200, seed=seed)
        return datasets.make_ppca(200, dim=5, latent=3, seed=seed)
    if name in datasets.available():
        return datasets.load(name)
    path = Path(name)
    if path.suffix.lower() == ".csv" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"no CSV file at {name}")
        return datasets.load_csv(path)
    raise ValueError(
        f"unknown dataset {name!r}: give a bundled name "
        f"({', '.join(datasets.available())}) or a CSV path"
    )


def build_problem(
    model: str = "mlp",
    dataset: str | None = None,
    *,
    layers: str = "1-3-1",
    activation: str = "tanh",
    components: int = 3,
    latent: int = 2,
    seed: int = 0,
) -> Problem:
    """Model and data from names.

    Args:
        model: ``"mlp"`` (Gaussian regression BNN, learned noise), ``"gmm"``
            (Gaussian mixture of the data's columns) or ``"ppca"``.
        dataset: a bundled name (:func:`symbayes.datasets.available`), a CSV
            path (features then target; the mixture and PPCA use every
            column), or ``None`` for the model's default (``sinusoidal``; a
            synthetic 3-component mixture; synthetic PPCA data).
        layers: MLP sizes, e.g. ``"1-3-1"``; the input size must equal the
            dataset's number of features.
        activation: MLP activation.
        components: mixture components.
        latent: PPCA latent dimension.
        seed: seed of the synthetic datasets.

    Raises:
        ValueError: unknown model, dataset or activation; sizes that do not
            fit the data; a malformed CSV.
        FileNotFoundError: a CSV path that does not exist.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    data = _load_dataset(dataset, model, seed)
    if model == "mlp":
        sizes = parse_layers(layers)
        features = data.X_train.shape[1]
        if sizes[0] != features:
            raise ValueError(
                f"dataset {data.name!r} has {features} feature column(s) but the "
                f"MLP {layers} takes {sizes[0]} input(s)"
            )
        if sizes[-1] != 1:
            raise ValueError(f"regression needs one output, got layers {layers}")
        net = MLP(sizes, activation, noise=None)
        return Problem(
            net, (data.X_train, data.y_train), data, f"mlp {layers} {activation}"
        )
    if model == "gmm":
        points = data.X_train if dataset is None else _all_columns(data)
        mixture = GaussianMixture(components, points.shape[1])
        return Problem(
            mixture,
            (points,),
            data,
            f"gmm {components} components x {points.shape[1]}d",
        )
    points = data.X_train if dataset is None else _all_columns(data)
    if not 1 <= latent <= points.shape[1]:
        raise ValueError(
            f"PPCA latent dimension must be between 1 and {points.shape[1]} "
            f"(the data's columns), got {latent}"
        )
    ppca = PPCA(points.shape[1], latent)
    return Problem(ppca, (points,), data, f"ppca {points.shape[1]}x{latent}")


def _all_columns(data: datasets.Dataset) -> np.ndarray:
    return np.concatenate([data.X_train, data.y_train[:, None]], axis=1)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _record(
    method: str,
    kernel: str,
    result: SampleResult,
    diagnostics: Diagnostics,
    wall: float,
) -> dict[str, Any]:
    summary = diagnostics.summary()
    grads = int(result.timings.num_grad_evals)
    record: dict[str, Any] = {
        "method": method,
        "kernel": kernel,
        "chains": result.num_chains,
        "draws": result.num_draws,
        "wall_seconds": wall,
        "grad_evals": grads,
    }
    for key in RUN_KEYS[6:-1]:
        value = summary[key]
        modes = key.startswith("modes") and np.isfinite(value)  # no raw: NaN
        record[key] = int(value) if modes else _finite(value)
    record["divergences"] = result.num_divergences
    ess = summary["ess_bulk_min_canonical"]
    record["ess_bulk_median_canonical"] = _finite(summary["ess_bulk_median_canonical"])
    record["ess_per_1000_grads_canonical"] = _finite(1000 * ess / max(grads, 1))
    record["ess_per_second_canonical"] = _finite(ess / wall)
    record["redundant_chains"] = len(diagnostics.redundant_chains)
    record["compile_seconds"] = result.timings.compile_seconds
    record["warmup_seconds"] = result.timings.warmup_seconds
    record["sampling_seconds"] = result.timings.sampling_seconds
    return record


def compare(
    problem: Problem,
    *,
    kernel: str = "nuts",
    quotient: Sequence[str] = ("none", "reparam", "reflect", "fold"),
    chains: int = 8,
    warmup: int = 400,
    samples: int = 400,
    seed: int = 0,
    progress: Any = None,
) -> tuple[dict[str, Any], list[Run]]:
    """Sample ``problem`` with every quotient mode and diagnose each run.

    Every chain of every method starts from the same initial points (drawn
    from ``model.init`` with ``seed``), and every method uses the same
    sampler key. Canonical metrics of all methods use the same post-hoc
    canonical map (``sort``); function metrics use ``model.function_fn``.

    Args:
        problem: from :func:`build_problem`.
        kernel: ``"nuts"``, ``"hmc"``, ``"sgld"`` or ``"sghmc"``.
        quotient: the modes to run, e.g. ``("none", "reflect")``.
        chains: chains per method (>= 2: R-hat needs them).
        warmup: warmup transitions per chain.
        samples: kept draws per chain (>= 4).
        seed: seed of the initial points and of the sampler keys.
        progress: optional callable receiving one line per finished method.

    Returns:
        ``(report, runs)``: the JSON-ready dict with ``problem`` and ``runs``
        (keys in :data:`RUN_KEYS` plus ESS per gradient and per second) and
        the :class:`Run` list.

    Raises:
        ValueError: fewer than 2 chains, fewer than 4 samples, a negative
            warmup, an unknown or repeated quotient mode.
    """
    if chains < 2:
        raise ValueError(f"chains must be >= 2 (R-hat compares chains), got {chains}")
    if samples < 4:
        raise ValueError(f"samples must be >= 4, got {samples}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    unknown = [mode for mode in quotient if mode not in QUOTIENT_MODES]
    if unknown or not quotient:
        raise ValueError(
            f"unknown quotient mode(s) {unknown}; choose from "
            f"{', '.join(QUOTIENT_MODES)}"
        )
    if len(set(quotient)) != len(quotient):
        raise ValueError(f"quotient modes repeat: {list(quotient)}")
    model, data = problem.model, problem.data
    keys = jax.random.split(jax.random.key(seed), chains)
    init = jax.vmap(lambda k: model.init(k, data))(keys)
    symmetry = model.symmetry
    example = jax.tree_util.tree_map(lambda leaf: leaf[0], init)
    runs = []
    for mode in quotient:
        start = time.perf_counter()
        result = sample(
            model,
            init,
            data=data,
            kernel=kernel,
            quotient=mode,
            num_chains=chains,
            num_warmup=warmup,
            num_samples=samples,
            key=seed + 1,
            progress_bar=False,
        )
        wall = time.perf_counter() - start
        start = time.perf_counter()
        diagnostics = diagnose(result, model=model, data=data)
        record = _record(mode, kernel, result, diagnostics, wall)
        record["diagnostics_seconds"] = time.perf_counter() - start
        runs.append(Run(result, diagnostics, record))
        if progress is not None:
            progress(
                f"{kernel}/{mode}: {wall:.1f} s, ESS bulk min canonical "
                f"{record['ess_bulk_min_canonical'] or float('nan'):.0f}, "
                f"modes raw/canonical/function {record['modes_raw']}/"
                f"{record['modes_canonical']}/{record['modes_function']}"
            )
    report = {
        "problem": {
            "model": problem.description,
            "dataset": problem.dataset.name,
            "num_params": int(
                sum(np.size(v) for v in params_to_variables(example).values())
            ),
            "log10_group_order": float(symmetry.log10_order()),
            "num_data": int(np.shape(data[0])[0]),
            "symmetry": symmetry.describe(),
        },
        "settings": {
            "kernel": kernel,
            "quotient": list(quotient),
            "chains": chains,
            "warmup": warmup,
            "samples": samples,
            "seed": seed,
            "canonical_map": "sort",
        },
        "runs": [run.record for run in runs],
    }
    return report, runs
