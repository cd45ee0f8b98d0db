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
from symbayes.kernels import KERNELS as _KERNEL_CLASSES
from symbayes.models import ACTIVATIONS, MLP, PPCA, BayesianModel, GaussianMixture
from symbayes.models.base import Data
from symbayes.results import SampleResult, params_to_variables
from symbayes.samplers import sample

__all__ = [
    "DEFAULTS",
    "default_quotients",
    "KERNELS",
    "MODELS",
    "MODEL_OPTIONS",
    "QUOTIENT_MODES",
    "OptionError",
    "Problem",
    "Run",
    "build_problem",
    "check_settings",
    "compare",
    "group_order_factors",
    "parse_layers",
]

MODELS = ("mlp", "gmm", "ppca")
# the options that only some models take
MODEL_OPTIONS: dict[str, tuple[str, ...]] = {
    "layers": ("mlp",),
    "activation": ("mlp",),
    "components": ("gmm",),
    "latent": ("ppca",),
}
MAX_SEED = 2**32 - 2  # the sampler key is seed + 1, a 32-bit integer
QUOTIENT_MODES = ("none", "reparam", "glue", "fold")
KERNELS = tuple(_KERNEL_CLASSES)
# the embedded default: a 1-3-1 tanh BNN on the bundled sinusoidal data
# (layers ?-3-?: three hidden units, the input size from the data)
DEFAULTS: dict[str, Any] = {
    "model": "mlp",
    "layers": "?-3-?",
    "activation": "tanh",
    "components": 3,
    "latent": 2,
    "dataset": None,  # per model: sinusoidal, a 3-component mixture, PPCA data
    "kernel": "nuts",
    "quotient": ("none", "reparam", "glue", "fold"),
    "chains": 8,
    "warmup": 400,
    "samples": 400,
    "seed": 0,
}
MODE_THRESHOLD = 1.1  # pairwise chain R-hat below which two chains share a mode
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


class OptionError(ValueError):
    """A bad value of one option of :func:`build_problem` or :func:`compare`.

    The options carry the names of the ``symbayes compare`` flags (``chains``
    is ``--chains``), so the command line names the flag in its message.

    Attributes:
        option: the option's name, e.g. ``"layers"``.
        message: what is wrong with it.
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


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


def parse_layers(
    text: str, inputs: int | None = None, outputs: int | None = None
) -> tuple[int, ...]:
    """Layer sizes from text: ``"1-3-1"`` -> ``(1, 3, 1)``.

    Two spellings: every size, ``IN-HIDDEN...-OUT`` (at least one hidden
    layer), or the hidden sizes with ``?`` for the input and output sizes,
    ``?-16-16-?``, filled in from ``inputs`` and ``outputs`` (the data's
    feature and target counts). One number, ``16``, is short for ``?-16-?``.

    Args:
        text: the sizes, separated by ``-``.
        inputs: what an input ``?`` stands for.
        outputs: what an output ``?`` stands for.

    Returns:
        The sizes ``(d_in, h_1, ..., d_out)``.

    Raises:
        OptionError: (``layers``) a malformed spec, a size below 1, a ``?``
            other than first or last, or a ``?`` with nothing to fill it.

    Example:
        >>> parse_layers("?-8-?", inputs=3, outputs=1)
        (3, 8, 1)
        >>> parse_layers("16", inputs=1, outputs=1)
        (1, 16, 1)
    """
    parts = [part.strip() for part in text.split("-")]
    if len(parts) == 1:
        parts = ["?", parts[0], "?"]
    usage = (
        "write every size IN-HIDDEN...-OUT (e.g. 1-3-1), or the hidden sizes "
        "with ? for the sizes the data give (e.g. ?-16-16-? or just 16)"
    )
    if len(parts) < 3:
        raise OptionError("layers", f"{text!r} has no hidden layer; {usage}")
    sizes: list[int] = []
    for position, part in enumerate(parts):
        if part == "?":
            fill = inputs if position == 0 else outputs
            if position not in (0, len(parts) - 1):
                raise OptionError(
                    "layers", f"{text!r}: ? stands only for the input or output size"
                )
            if fill is None:
                raise OptionError("layers", f"{text!r}: nothing to fill in for ?")
            sizes.append(int(fill))
            continue
        try:
            size = int(part)
        except ValueError:
            raise OptionError(
                "layers", f"{text!r} is not a list of sizes; {usage}"
            ) from None
        if size < 1:
            raise OptionError("layers", f"{text!r}: sizes must be >= 1, got {size}")
        sizes.append(size)
    return tuple(sizes)


def group_order_factors(symmetry: Any) -> str:
    """How the order of the finite group factorises, e.g. ``"3! x 2^3"``.

    One ``h!`` per axis with permutations, one ``2^h`` per axis with sign
    flips; an axis with positive scaling adds ``"scaling (continuous)"``,
    which the order does not count.

    Args:
        symmetry: a :class:`~symbayes.symmetry.Symmetry`.

    Returns:
        The factors joined by ``" x "`` (``"1"`` for the trivial group).
    """
    factors = []
    for axis in symmetry.axes:
        if axis.has_permutation:
            factors.append(f"{axis.size}!")
        if axis.has_sign:
            factors.append(f"2^{axis.size}")
    if symmetry.has_scale:
        factors.append("scaling (continuous)")
    return " x ".join(factors) or "1"


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
            raise OptionError("dataset", f"no CSV file at {name}")
        try:
            return datasets.load_csv(path, split=None)
        except (ValueError, OSError) as error:
            raise OptionError("dataset", str(error)) from None
    raise OptionError(
        "dataset",
        f"unknown dataset {name!r}: give a bundled name "
        f"({', '.join(datasets.available())}) or a CSV path",
    )


def build_problem(
    model: str = "mlp",
    dataset: str | None = None,
    *,
    layers: str = DEFAULTS["layers"],
    activation: str = "tanh",
    components: int = 3,
    latent: int = 2,
    seed: int = 0,
) -> Problem:
    """Model and data from names, checked before anything is compiled.

    Args:
        model: ``"mlp"`` (Gaussian regression BNN, learned noise), ``"gmm"``
            (Gaussian mixture of the data's columns) or ``"ppca"``.
        dataset: a bundled name (:func:`symbayes.datasets.available`), a CSV
            path (comma separated, a header row, then one row per data
            point; features then the target last; the mixture and PPCA use
            every column; every row is used, each column standardised), or
            ``None`` for the model's default (``sinusoidal``; a synthetic
            1-D 3-component mixture; synthetic 5-column PPCA data).
        layers: MLP sizes (:func:`parse_layers`): ``"1-3-1"``, or
            ``"?-3-?"`` / ``"3"`` to take the input size from the data's
            feature columns and one output.
        activation: MLP activation (:data:`symbayes.models.ACTIVATIONS`).
        components: mixture components.
        latent: PPCA latent dimension, at most the data's columns.
        seed: seed of the synthetic datasets.

    Returns:
        The :class:`Problem`; its data passed ``model.check_data``.

    Raises:
        OptionError: naming the option (``model``, ``dataset``, ``layers``,
            ``activation``, ``components``, ``latent``, ``seed``): an unknown
            name, sizes that do not fit the data, a malformed or missing CSV,
            data the model cannot take (NaN, wrong shape).
    """
    if model not in MODELS:
        raise OptionError(
            "model", f"unknown model {model!r}; choose from {', '.join(MODELS)}"
        )
    if not 0 <= seed <= MAX_SEED:
        raise OptionError("seed", f"must be between 0 and {MAX_SEED}, got {seed}")
    data = _load_dataset(dataset, model, seed)
    if model == "mlp":
        features = data.X_train.shape[1]
        sizes = parse_layers(layers, inputs=features, outputs=1)
        if sizes[0] != features:
            raise OptionError(
                "layers",
                f"{layers} takes {sizes[0]} input(s) but dataset {data.name!r} "
                f"has {features} feature column(s); write ?-...-? to take the "
                "sizes from the data",
            )
        if sizes[-1] != 1:
            raise OptionError(
                "layers",
                f"{layers} has {sizes[-1]} outputs; the regression has one target",
            )
        if activation not in ACTIVATIONS:
            raise OptionError(
                "activation",
                f"unknown activation {activation!r}; choose from "
                f"{', '.join(ACTIVATIONS)}",
            )
        net = MLP(sizes, activation, noise=None)
        spelled = "-".join(str(size) for size in sizes)
        problem = Problem(
            net, (data.X_train, data.y_train), data, f"mlp {spelled} {activation}"
        )
    elif model == "gmm":
        if components < 1:
            raise OptionError("components", f"must be >= 1, got {components}")
        points = data.X_train if dataset is None else _all_columns(data)
        mixture = GaussianMixture(components, points.shape[1])
        problem = Problem(
            mixture,
            (points,),
            data,
            f"gmm {components} components x {points.shape[1]}d",
        )
    else:
        points = data.X_train if dataset is None else _all_columns(data)
        if not 1 <= latent <= points.shape[1]:
            raise OptionError(
                "latent",
                f"must be between 1 and {points.shape[1]} (the data's columns), "
                f"got {latent}",
            )
        ppca = PPCA(points.shape[1], latent)
        problem = Problem(ppca, (points,), data, f"ppca {points.shape[1]}x{latent}")
    try:
        problem.model.check_data(problem.data)
    except ValueError as error:
        raise OptionError("dataset", f"{data.name}: {error}") from None
    return problem


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
    for space in ("raw", "canonical", "function"):
        for name in ("unseen_mass", "unseen_mass_high", "chao1"):
            value = summary.get(f"{name}_{space}", float("nan"))
            record[f"{name}_{space}"] = _finite(value)
    record["compile_seconds"] = result.timings.compile_seconds
    record["warmup_seconds"] = result.timings.warmup_seconds
    record["sampling_seconds"] = result.timings.sampling_seconds
    return record


def check_settings(
    *,
    kernel: str,
    quotient: Sequence[str],
    chains: int,
    warmup: int,
    samples: int,
) -> None:
    """Check the sampler settings of :func:`compare` (before any sampling).

    Raises:
        OptionError: naming the option, as :func:`compare` documents.
    """
    if kernel not in KERNELS:
        raise OptionError(
            "kernel", f"unknown kernel {kernel!r}; choose from {', '.join(KERNELS)}"
        )
    if chains < 2:
        raise OptionError(
            "chains", f"must be >= 2 (R-hat compares chains), got {chains}"
        )
    if samples < 4:
        raise OptionError(
            "samples", f"must be >= 4 (split R-hat needs them), got {samples}"
        )
    if warmup < 0:
        raise OptionError("warmup", f"must be >= 0, got {warmup}")
    unknown = [mode for mode in quotient if mode not in QUOTIENT_MODES]
    if unknown or not quotient:
        raise OptionError(
            "quotient",
            f"unknown mode(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {', '.join(QUOTIENT_MODES)}",
        )
    if len(set(quotient)) != len(quotient):
        raise OptionError("quotient", f"modes repeat: {', '.join(quotient)}")
    supported = _KERNEL_CLASSES[kernel].quotients
    unsupported = [mode for mode in quotient if mode not in supported]
    if unsupported:
        raise OptionError(
            "quotient",
            f"kernel {kernel!r} does not support {', '.join(unsupported)}; it "
            f"supports {', '.join(supported)}",
        )


def default_quotients(kernel: str) -> tuple[str, ...]:
    """The default quotient modes that ``kernel`` supports, in their order."""
    supported = _KERNEL_CLASSES[kernel].quotients
    return tuple(mode for mode in DEFAULTS["quotient"] if mode in supported)


def compare(
    problem: Problem,
    *,
    kernel: str = "nuts",
    quotient: Sequence[str] = ("none", "reparam", "glue", "fold"),
    chains: int = 8,
    warmup: int = 400,
    samples: int = 400,
    seed: int = 0,
    progress: Any = None,
    budget: float | None = None,
    budget_max_chains: int = 64,
) -> tuple[dict[str, Any], list[Run]]:
    """Sample ``problem`` with every quotient mode and diagnose each run.

    Every chain of every method starts from the same initial points (drawn
    from ``model.init`` with ``seed``), and every method uses the same
    sampler key. Canonical metrics of all methods use the same post-hoc
    canonical map (``sort``); function metrics use ``model.function_fn``.

    Args:
        problem: from :func:`build_problem`.
        kernel: ``"nuts"``, ``"hmc"``, ``"sgld"`` or ``"sghmc"``.
        quotient: the modes to run, e.g. ``("none", "glue")``.
        chains: chains per method (>= 2: R-hat needs them).
        warmup: warmup transitions per chain.
        samples: kept draws per chain (>= 4).
        seed: seed of the initial points and of the sampler keys.
        progress: optional callable receiving one line per finished method.
        budget: also run, per method, the chain budget of
            :func:`symbayes.budget.sample_until_covered` (batches of
            ``chains`` chains until the canonical unseen-mode mass is below
            ``budget``) and record the chains and gradients it took.
        budget_max_chains: the budget's cap on chains.

    Returns:
        ``(report, runs)``: the JSON-ready dict with ``problem`` and ``runs``
        (keys in :data:`RUN_KEYS` plus ESS per gradient and per second) and
        the :class:`Run` list.

    Raises:
        OptionError: naming the option: fewer than 2 chains, fewer than 4
            samples, a negative warmup, an unknown kernel, an unknown or
            repeated quotient mode.
        ValueError: data the model cannot take (``model.check_data``).
    """
    check_settings(
        kernel=kernel, quotient=quotient, chains=chains, warmup=warmup, samples=samples
    )
    if budget is not None and not 0 < budget < 1:
        raise OptionError("--budget", f"must lie in (0, 1), got {budget!r}")
    if budget is not None and budget_max_chains < chains:
        raise OptionError(
            "--budget-max-chains",
            f"must be >= --chains ({chains}), got {budget_max_chains!r}",
        )
    model, data = problem.model, problem.data
    model.check_data(data)  # a Problem built by hand: before any compilation
    keys = jax.random.split(jax.random.key(seed), chains)
    # one compiled program, not one dispatch per operation and chain
    init = jax.jit(jax.vmap(lambda k: model.init(k, data)))(keys)
    symmetry = model.symmetry
    example = jax.tree_util.tree_map(lambda leaf: leaf[0], init)
    runs = []
    refused = []
    for mode in quotient:
        start = time.perf_counter()
        try:
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
        except ValueError as error:
            if mode != "reparam" or "would cut this posterior" not in str(error):
                raise
            refused.append({"method": mode, "kernel": kernel, "reason": str(error)})
            if progress is not None:
                progress(f"{kernel}/{mode}: refused ({str(error).split(':')[0]})")
            continue
        wall = time.perf_counter() - start
        start = time.perf_counter()
        diagnostics = diagnose(result, model=model, data=data, threshold=MODE_THRESHOLD)
        record = _record(mode, kernel, result, diagnostics, wall)
        record["diagnostics_seconds"] = time.perf_counter() - start
        if budget is not None:
            record["budget"] = _budget_record(
                problem,
                kernel,
                mode,
                chains,
                warmup,
                samples,
                seed,
                budget,
                budget_max_chains,
            )
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
            "group_order": group_order_factors(symmetry),
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
            "mode_threshold": MODE_THRESHOLD,
        },
        "runs": [run.record for run in runs],
        "refused": refused,
    }
    if budget is not None:
        report["settings"]["budget"] = {
            "target": budget,
            "max_chains": budget_max_chains,
        }
    return report, runs


def _budget_record(
    problem: Problem,
    kernel: str,
    mode: str,
    chains: int,
    warmup: int,
    samples: int,
    seed: int,
    target: float,
    max_chains: int,
) -> dict[str, Any]:
    """Chains and gradients until the canonical unseen-mode mass is below target."""
    from symbayes.budget import sample_until_covered

    budgeted = sample_until_covered(
        problem.model,
        data=problem.data,
        target_unseen=target,
        batch_chains=chains,
        max_chains=max_chains,
        kernel=kernel,
        quotient=mode,
        num_warmup=warmup,
        num_samples=samples,
        key=seed + 2,
    )
    return {
        "reached": budgeted.reached,
        "chains": budgeted.num_chains,
        "grad_evals": budgeted.num_grad_evals,
        "modes_canonical": int(budgeted.weights.size),
        "weights": [round(float(w), 4) for w in budgeted.weights],
        "unseen_mass": budgeted.history[-1].unseen,
    }
