r"""Diagnostics on raw, canonical and function coordinates; modes and coverage.

A run of :math:`C` chains is judged in three coordinate systems:

* **raw** - the parameters as sampled (``quotient="none"``); quotient modes
  sample inside one copy of the fundamental domain, so their raw and
  canonical coordinates coincide;
* **canonical** - the draws after the canonical map (one point per orbit of
  the symmetry group), the same map for every method;
* **function** - quantities the symmetry leaves unchanged: predictions at
  probe inputs and the log-likelihood (``model.function_fn(data)``) or any
  callable of one params pytree.

In each space the per-coordinate bulk and tail effective sample sizes are
arviz's estimators, computed on an ``xarray.Dataset`` made by
``az.convert_to_dataset`` so arviz 0.x and 1.x agree. The rank-normalised
split :math:`\hat R` (Vehtari et al. 2021) is arviz's ``method="rank"``
estimator evaluated for all coordinates (and, for the mode graph below, all
pairs of chains) in one vectorised pass; arviz loops over coordinates in
Python, which dominated ``diagnose``. The values are equal to arviz's
(tested against both major versions).

**Modes.** Chains :math:`i` and :math:`j` share a mode when their pairwise
:math:`\hat R_{ij} = \max_k \hat R(\text{chains } i, j;\ \text{coordinate } k)`
(same estimator, the two chains alone) is below a threshold (1.1). Modes are
the connected components of the graph with these edges. Naive sampling
inflates the raw count by up to the order of the group; the canonical and
function counts tell how many functionally distinct regions were reached.
Quotienting never hides real non-convergence: chains in functionally
different modes still differ on canonical and function coordinates.

**Coverage.** :func:`reference_modes` keeps, for every canonical mode of a
long many-chain run, a thinned set of its canonical draws;
:func:`mode_coverage` says which of them a run reaches, a run chain reaching
a reference mode when the pairwise :math:`\hat R` between the chain and the
mode's draws is below the threshold.

References:
    Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021). Rank-normalization,
    folding, and localization: an improved R-hat for assessing convergence
    of MCMC. Bayesian Analysis 16(2).
    Wiese, Wimmer, Papamarkou, Bischl, Günnemann & Rügamer (2023). Towards
    efficient MCMC sampling in Bayesian neural networks by exploiting
    symmetry. ECML PKDD 2023 (arXiv:2304.02902).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from scipy.sparse.csgraph import connected_components
from scipy.special import ndtri
from scipy.stats import rankdata

from symbayes.datasets import as_data_tuple
from symbayes.results import SampleResult, chain_draw_layout, params_to_variables

__all__ = [
    "DEFAULT_THRESHOLD",
    "Coverage",
    "Diagnostics",
    "Mode",
    "Modes",
    "ReferenceModes",
    "SpaceDiagnostics",
    "diagnose",
    "flatten_draws",
    "function_draws",
    "load_reference_modes",
    "mode_coverage",
    "pairwise_rhat",
    "reference_modes",
]

DEFAULT_THRESHOLD = 1.1
# pairwise R-hat batches: at most this many floats per arviz call
_PAIR_BATCH_ELEMENTS = 2**24


class Mode(NamedTuple):
    """One mode: a connected component of chains.

    Attributes:
        chains: indices of its chains, ascending.
        weight: its share of the chains.
        representative: mean canonical params over its chains' draws.
    """

    chains: tuple[int, ...]
    weight: float
    representative: Any


class Modes(NamedTuple):
    """The modes of one coordinate space.

    Attributes:
        labels: ``(C,)`` mode index of every chain (modes sorted by weight,
            then by first chain).
        modes: the :class:`Mode` list in the same order.
    """

    labels: np.ndarray
    modes: tuple[Mode, ...]

    @property
    def count(self) -> int:
        return len(self.modes)


class SpaceDiagnostics(NamedTuple):
    """ESS, R-hat and modes on one coordinate space.

    Attributes:
        space: ``"raw"``, ``"canonical"`` or ``"function"``.
        names: one name per coordinate, e.g. ``"W1[0, 2]"``.
        ess_bulk: ``(k,)`` bulk ESS per coordinate.
        ess_tail: ``(k,)`` tail ESS per coordinate.
        rhat: ``(k,)`` rank-normalised split R-hat over all chains.
        pairwise_rhat: ``(C, C)`` max-over-coordinates R-hat of each pair of
            chains (diagonal 1).
        modes: the :class:`Modes` of this space.
    """

    space: str
    names: tuple[str, ...]
    ess_bulk: np.ndarray
    ess_tail: np.ndarray
    rhat: np.ndarray
    pairwise_rhat: np.ndarray
    modes: Modes

    @property
    def ess_bulk_min(self) -> float:
        return _nan_reduce(np.nanmin, self.ess_bulk)

    @property
    def ess_bulk_median(self) -> float:
        return _nan_reduce(np.nanmedian, self.ess_bulk)

    @property
    def ess_tail_min(self) -> float:
        return _nan_reduce(np.nanmin, self.ess_tail)

    @property
    def rhat_max(self) -> float:
        return _nan_reduce(np.nanmax, self.rhat)

    def summary(self) -> dict[str, float | int]:
        """Min and median bulk ESS, min tail ESS, max R-hat, mode count."""
        return {
            "ess_bulk_min": self.ess_bulk_min,
            "ess_bulk_median": self.ess_bulk_median,
            "ess_tail_min": self.ess_tail_min,
            "rhat_max": self.rhat_max,
            "modes": self.modes.count,
        }


class Diagnostics(NamedTuple):
    """Diagnostics of one run on raw, canonical and function coordinates.

    Attributes:
        raw: :class:`SpaceDiagnostics` of the raw draws.
        canonical: of the canonical draws.
        function: of the function values, or ``None`` without a function.
        redundant_chains: chains that landed in a canonical mode an earlier
            (lower-index) chain already occupies.
        num_chains: number of chains ``C``.
        num_draws: draws per chain.
        threshold: the pairwise R-hat threshold of the mode graphs.
    """

    raw: SpaceDiagnostics
    canonical: SpaceDiagnostics
    function: SpaceDiagnostics | None
    redundant_chains: tuple[int, ...]
    num_chains: int
    num_draws: int
    threshold: float

    def spaces(self) -> tuple[SpaceDiagnostics, ...]:
        return tuple(s for s in (self.raw, self.canonical, self.function) if s)

    def summary(self) -> dict[str, float | int]:
        """Flat ``{metric_space: value}``, e.g. ``ess_bulk_min_canonical``."""
        out: dict[str, float | int] = {}
        for space in ("raw", "canonical", "function"):
            values = getattr(self, space)
            for metric, value in (
                values.summary() if values is not None else _empty_summary()
            ).items():
                out[f"{metric}_{space}"] = value
        out["redundant_chains"] = len(self.redundant_chains)
        return out

    def table(self) -> str:
        """A plain-text table: one row per space."""
        header = (
            f"{'space':<10} {'ESS bulk min':>12} {'median':>9} "
            f"{'ESS tail min':>12} {'R-hat max':>9} {'modes':>6}"
        )
        lines = [header, "-" * len(header)]
        for space in self.spaces():
            s = space.summary()
            lines.append(
                f"{space.space:<10} {s['ess_bulk_min']:>12.1f} "
                f"{s['ess_bulk_median']:>9.1f} {s['ess_tail_min']:>12.1f} "
                f"{s['rhat_max']:>9.3f} {s['modes']:>6d}"
            )
        lines.append(
            f"{self.num_chains} chains x {self.num_draws} draws; "
            f"{len(self.redundant_chains)} redundant chain(s) "
            f"(pairwise R-hat threshold {self.threshold})"
        )
        return "\n".join(lines)


def _nan_reduce(reduce: Callable, values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    if values.size == 0 or np.all(np.isnan(values)):
        return float("nan")
    return float(reduce(values))


def _empty_summary() -> dict[str, float]:
    return dict.fromkeys(
        ("ess_bulk_min", "ess_bulk_median", "ess_tail_min", "rhat_max", "modes"),
        float("nan"),
    )


# ------------------------------------------------------------------ flattening
def _index_names(prefix: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [prefix]
    return [
        f"{prefix}[{', '.join(str(i) for i in index)}]" for index in np.ndindex(*shape)
    ]


def flatten_draws(draws: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """A params pytree with leaves ``(chain, draw, ...)`` as ``(C, N, k)``.

    Returns:
        The array (float64, leaves concatenated in path order) and one name
        per coordinate, e.g. ``"W1[0, 2]"``.

    Raises:
        ValueError: if the leaves disagree on the chain and draw axes or
            hold non-finite values.
    """
    variables = params_to_variables(draws)
    if not variables:
        raise ValueError("draws hold no parameters")
    shapes = {name: value.shape for name, value in variables.items()}
    leading = {shape[:2] for shape in shapes.values()}
    if any(len(shape) < 2 for shape in shapes.values()) or len(leading) != 1:
        raise ValueError(
            f"every leaf of the draws needs leading axes (chain, draw); got {shapes}"
        )
    chains, num = leading.pop()
    columns, names = [], []
    for name, value in variables.items():
        columns.append(np.asarray(value, dtype=np.float64).reshape(chains, num, -1))
        names.extend(_index_names(name, value.shape[2:]))
    flat = np.concatenate(columns, axis=2)
    if not np.all(np.isfinite(flat)):
        bad = sorted({names[k] for k in np.nonzero(~np.isfinite(flat))[2]})
        raise ValueError(f"draws hold NaN or inf values in {bad[:5]}")
    return flat, tuple(names)


def function_draws(
    function: Callable[[Any], Any], draws: Any, *, chunk_size: int = 4096
) -> np.ndarray:
    """Evaluate ``function`` on every draw: ``(C, N, m)``.

    ``function`` maps one params pytree to an array or a pytree of arrays
    (raveled and concatenated to ``m`` values). It is jitted and vmapped over
    chunks of ``chunk_size`` draws, so memory stays bounded.
    """
    leaves = jax.tree_util.tree_leaves(draws)
    chains, num = leaves[0].shape[:2]
    total = chains * num
    flat = jax.tree_util.tree_map(
        lambda leaf: np.asarray(leaf).reshape(total, *np.shape(leaf)[2:]), draws
    )

    def one(params: Any) -> jax.Array:
        values = jax.tree_util.tree_leaves(function(params))
        return jnp.concatenate([jnp.ravel(v).astype(jnp.float32) for v in values])

    evaluate = jax.jit(jax.vmap(one))
    parts = []
    for start in range(0, total, chunk_size):
        window = slice(start, start + chunk_size)
        chunk = jax.tree_util.tree_map(lambda x, w=window: x[w], flat)
        parts.append(np.asarray(evaluate(chunk), dtype=np.float64))
    values = np.concatenate(parts, axis=0)
    return values.reshape(chains, num, -1)


# --------------------------------------------------------------------- arviz
def _dataset(values: np.ndarray) -> Any:
    """``(chain, draw, ...)`` array as an xarray Dataset with variable ``x``."""
    with chain_draw_layout():
        return az.convert_to_dataset({"x": values})


def _quietly(estimate: Callable[[], Any]) -> np.ndarray:
    """Run an arviz estimator; chains constant within but not across give
    zero within-chain variance: that is the answer, so numpy's divide
    warnings are silenced."""
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(estimate())


def _ess(values: np.ndarray, method: str) -> np.ndarray:
    return _quietly(lambda: az.ess(_dataset(values), method=method)["x"].values)


def _z_scale(values: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks over chains and draws, per trailing entry.

    Ranks ``r`` (ties averaged) among the ``S = C N`` values of each entry
    become ``Phi^-1((r - 3/8) / (S + 1/4))`` (Blom 1958), as in arviz.
    """
    size = values.shape[0] * values.shape[1]
    ranks = rankdata(values.reshape(size, -1), method="average", axis=0)
    return ndtri((ranks - 0.375) / (size + 0.25)).reshape(values.shape)


def _split_rhat(values: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of already split ``(C, N, ...)`` chains, per entry."""
    num = values.shape[1]
    between = num * np.var(np.mean(values, axis=1), axis=0, ddof=1)
    within = np.mean(np.var(values, axis=1, ddof=1), axis=0)
    return np.sqrt((between / within + num - 1) / num)


def _rank_rhat(values: np.ndarray) -> np.ndarray:
    r"""Rank-normalised split R-hat of ``(C, N, ...)`` values, per trailing entry.

    The estimator of ``az.rhat(..., method="rank")`` (Vehtari et al. 2021):
    each chain is split in halves (the middle draw dropped when ``N`` is
    odd); :math:`\max(\hat R_{bulk}, \hat R_{tail})` where the bulk value is
    the split R-hat of the rank normal scores and the tail value that of the
    scores of :math:`|\theta - \mathrm{median}|`. arviz evaluates it one
    coordinate at a time in Python; here every trailing entry is done in one
    vectorised pass, which the pairwise mode graph needs (``P`` pairs times
    ``k`` coordinates). Equal to arviz's values to rounding (tested). Fewer
    than 4 draws give NaN, as in arviz; chains constant within but not
    across give ``inf``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape[1] < 4:
        return np.full(values.shape[2:], np.nan)
    half = values.shape[1] // 2
    split = np.concatenate([values[:, :half], values[:, -half:]], axis=0)
    median = np.median(split.reshape(-1, *split.shape[2:]), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bulk = _split_rhat(_z_scale(split))
        tail = _split_rhat(_z_scale(np.abs(split - median)))
    return np.maximum(bulk, tail)


def _varying(values: np.ndarray) -> np.ndarray:
    """Coordinates that are not constant over all chains and draws."""
    return np.ptp(values, axis=(0, 1)) > 0


def _per_coordinate(values: np.ndarray, estimator: Callable) -> np.ndarray:
    """Apply an arviz estimator to the varying coordinates; NaN elsewhere."""
    out = np.full(values.shape[2], np.nan)
    varying = _varying(values)
    if varying.any():
        out[varying] = estimator(values[:, :, varying])
    return out


def pairwise_rhat(
    values: np.ndarray,
    pairs: np.ndarray | None = None,
    others: np.ndarray | None = None,
) -> np.ndarray:
    r"""Max-over-coordinates rank-normalised split R-hat of pairs of chains.

    With ``others=None``: for ``values`` of shape ``(C, N, k)`` the
    ``(C, C)`` matrix :math:`\hat R_{ij}` (diagonal 1), each entry computed on
    chains ``i`` and ``j`` alone. With ``others`` of shape ``(M, N, k)``: the
    ``(C, M)`` matrix between every chain of ``values`` and every chain of
    ``others``. The estimator is arviz's rank R-hat, evaluated for many pairs
    and coordinates at once (:func:`_rank_rhat`); coordinates constant within
    a pair are skipped (they cannot tell chains apart).

    Cost: :math:`O(P N k \log N)` for ``P`` pairs; memory is bounded by
    batching.
    """
    values = np.asarray(values, dtype=np.float64)
    if others is None:
        first, second = np.triu_indices(values.shape[0], k=1)
        left, right = values, values
    else:
        others = np.asarray(others, dtype=np.float64)
        first, second = np.meshgrid(
            np.arange(values.shape[0]), np.arange(others.shape[0]), indexing="ij"
        )
        first, second = first.ravel(), second.ravel()
        left, right = values, others
    result = np.ones((left.shape[0], right.shape[0]))
    num, k = left.shape[1], left.shape[2]
    batch = max(1, _PAIR_BATCH_ELEMENTS // max(1, 2 * num * k))
    for start in range(0, len(first), batch):
        i, j = first[start : start + batch], second[start : start + batch]
        stacked = np.stack([left[i], right[j]])  # (2, P, N, k)
        stacked = np.moveaxis(stacked, 2, 1)  # (2, N, P, k)
        spread = np.ptp(stacked, axis=(0, 1)) > 0  # (P, k)
        rhat = np.where(spread, _rank_rhat(stacked), 1.0)  # (P, k)
        maximum = np.max(np.nan_to_num(rhat, nan=np.inf), axis=1)
        result[i, j] = maximum
        if others is None:
            result[j, i] = maximum
    return result


def _components(
    pairwise: np.ndarray, threshold: float, canonical: np.ndarray, treedef: Any
) -> Modes:
    adjacency = pairwise < threshold
    _, labels = connected_components(adjacency, directed=False)
    groups: dict[int, list[int]] = {}
    for chain, label in enumerate(labels):
        groups.setdefault(int(label), []).append(chain)
    ordered = sorted(groups.values(), key=lambda chains: (-len(chains), chains[0]))
    num_chains = len(labels)
    new_labels = np.empty(num_chains, dtype=int)
    modes = []
    for index, chains in enumerate(ordered):
        new_labels[chains] = index
        modes.append(
            Mode(
                chains=tuple(chains),
                weight=len(chains) / num_chains,
                representative=treedef(canonical[chains].mean(axis=(0, 1))),
            )
        )
    return Modes(new_labels, tuple(modes))


def _space(
    name: str,
    values: np.ndarray,
    names: tuple[str, ...],
    threshold: float,
    canonical: np.ndarray,
    treedef: Any,
) -> SpaceDiagnostics:
    pairwise = pairwise_rhat(values)
    return SpaceDiagnostics(
        space=name,
        names=names,
        ess_bulk=_per_coordinate(values, lambda v: _ess(v, "bulk")),
        ess_tail=_per_coordinate(values, lambda v: _ess(v, "tail")),
        rhat=_per_coordinate(values, _rank_rhat),
        pairwise_rhat=pairwise,
        modes=_components(pairwise, threshold, canonical, treedef),
    )


def _unflattener(draws: Any) -> Callable[[np.ndarray], Any]:
    """Map a flat ``(k,)`` vector back to one params pytree.

    :func:`flatten_draws` concatenates the leaves in ``tree_flatten`` order
    (the order of :func:`~symbayes.results.params_to_variables`).
    """
    leaves, treedef = jax.tree_util.tree_flatten(draws)
    shapes = [np.shape(leaf)[2:] for leaf in leaves]
    offsets = np.cumsum([0, *(math.prod(shape) for shape in shapes)])

    def unflatten(vector: np.ndarray) -> Any:
        return treedef.unflatten(
            [
                vector[offsets[n] : offsets[n + 1]].reshape(shape)
                for n, shape in enumerate(shapes)
            ]
        )

    return unflatten


def diagnose(
    result: SampleResult,
    function: Callable[[Any], Any] | None = None,
    *,
    model: Any = None,
    data: Any = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> Diagnostics:
    """ESS, R-hat and modes on raw, canonical and function coordinates.

    Args:
        result: a :class:`~symbayes.results.SampleResult` (``draws`` are the
            canonical draws; ``raw_draws`` the raw ones for ``none``, which
            for the quotient modes coincide with the canonical draws).
        function: a callable of one params pytree returning invariant
            quantities (an array or a pytree of arrays). Default:
            ``model.function_fn(data)`` when ``model`` and ``data`` are given
            (predictions at probe inputs and the log-likelihood for the
            bundled models); else no function space.
        model: a :class:`~symbayes.models.BayesianModel` for the default
            function.
        data: its training data: a tuple ``(X, y)`` or a
            :class:`~symbayes.datasets.Dataset` (its training split); default
            the data bound to ``model`` (numpyro models), if any.
        threshold: two chains share a mode when their pairwise R-hat is below
            this (``> 1``).

    Returns:
        :class:`Diagnostics`.

    Raises:
        ValueError: fewer than 2 chains or 4 draws (split R-hat needs them),
            a threshold ``<= 1``, non-finite draws, or a function that gives
            non-finite values.
    """
    if not threshold > 1.0:
        raise ValueError(f"threshold must be > 1, got {threshold}")
    canonical, names = flatten_draws(result.draws)
    chains, num, _ = canonical.shape
    if chains < 2 or num < 4:
        raise ValueError(
            f"diagnostics need at least 2 chains and 4 draws per chain, got "
            f"{chains} chains x {num} draws"
        )
    raw_draws = result.raw_draws if result.raw_draws is not None else result.draws
    raw, raw_names = flatten_draws(raw_draws)
    treedef = _unflattener(result.draws)
    if function is None and model is not None:
        data = as_data_tuple(data if data is not None else getattr(model, "data", None))
        if data is not None:
            function = model.function_fn(data)
    function_space = None
    if function is not None:
        values = function_draws(function, result.draws)
        if not np.all(np.isfinite(values)):
            raise ValueError("the function gives NaN or inf on some draws")
        function_space = _space(
            "function",
            values,
            tuple(f"f[{i}]" for i in range(values.shape[2])),
            threshold,
            canonical,
            treedef,
        )
    canonical_space = _space(
        "canonical", canonical, names, threshold, canonical, treedef
    )
    redundant = tuple(
        chain for mode in canonical_space.modes.modes for chain in mode.chains[1:]
    )
    return Diagnostics(
        raw=_space("raw", raw, raw_names, threshold, canonical, treedef),
        canonical=canonical_space,
        function=function_space,
        redundant_chains=tuple(sorted(redundant)),
        num_chains=chains,
        num_draws=num,
        threshold=threshold,
    )


# -------------------------------------------------------------------- coverage
class ReferenceModes(NamedTuple):
    """Canonical modes of a long reference run, for :func:`mode_coverage`.

    Attributes:
        draws: ``(M, N, k)`` thinned canonical draws of each mode (its chains
            pooled, then evenly subsampled to ``N``).
        weights: ``(M,)`` share of the reference chains in each mode.
        names: the coordinate names.
    """

    draws: np.ndarray
    weights: np.ndarray
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        return int(self.draws.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write to a ``.npz`` file (see :func:`load_reference_modes`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            np.savez(
                file,
                draws=self.draws,
                weights=self.weights,
                names=json.dumps(list(self.names)),
            )
        return path


def load_reference_modes(path: str | Path) -> ReferenceModes:
    """Read reference modes written by :meth:`ReferenceModes.save`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no reference-modes file at {path}")
    with np.load(path) as stored:
        return ReferenceModes(
            draws=stored["draws"],
            weights=stored["weights"],
            names=tuple(json.loads(str(stored["names"]))),
        )


def reference_modes(
    result: SampleResult,
    diagnostics: Diagnostics | None = None,
    *,
    num_draws: int | None = None,
) -> ReferenceModes:
    """The canonical modes of a (long, many-chain) run as a reference.

    Args:
        result: the reference run.
        diagnostics: its diagnostics (computed if omitted).
        num_draws: draws kept per mode (default: the run's draws per chain).
    """
    diagnostics = diagnostics or diagnose(result)
    canonical, names = flatten_draws(result.draws)
    num = num_draws or canonical.shape[1]
    modes = diagnostics.canonical.modes.modes
    kept = []
    for mode in modes:
        pooled = canonical[list(mode.chains)].reshape(-1, canonical.shape[2])
        index = np.linspace(0, len(pooled) - 1, num).round().astype(int)
        kept.append(pooled[index])
    return ReferenceModes(
        draws=np.stack(kept),
        weights=np.array([mode.weight for mode in modes]),
        names=names,
    )


class Coverage(NamedTuple):
    """Which reference modes a run reaches.

    Attributes:
        fraction: share of the reference modes reached.
        weighted_fraction: reference weight of the reached modes.
        reached: ``(M,)`` whether each reference mode is reached.
        chain_modes: ``(C,)`` reference mode of each chain, ``-1`` for a chain
            in none of them (a mode the reference missed, or non-convergence).
    """

    fraction: float
    weighted_fraction: float
    reached: np.ndarray
    chain_modes: np.ndarray


def mode_coverage(
    result: SampleResult,
    reference: ReferenceModes,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> Coverage:
    """The fraction of reference modes a run reaches (canonical coordinates).

    Each run chain is compared with each reference mode's draws by the
    pairwise R-hat (equal lengths: the longer is evenly subsampled); it
    reaches the mode with the lowest R-hat when that is below ``threshold``.

    Raises:
        ValueError: if the run's coordinates differ from the reference's.
    """
    canonical, names = flatten_draws(result.draws)
    if names != reference.names:
        raise ValueError(
            "the run's canonical coordinates differ from the reference modes' "
            f"({len(names)} vs {len(reference.names)} coordinates)"
        )
    num = min(canonical.shape[1], reference.draws.shape[1])

    def thin(values: np.ndarray) -> np.ndarray:
        index = np.linspace(0, values.shape[1] - 1, num).round().astype(int)
        return values[:, index]

    pairwise = pairwise_rhat(thin(canonical), others=thin(reference.draws))
    best = np.argmin(pairwise, axis=1)
    matched = pairwise[np.arange(len(best)), best] < threshold
    chain_modes = np.where(matched, best, -1)
    reached = np.zeros(reference.count, dtype=bool)
    reached[chain_modes[matched]] = True
    return Coverage(
        fraction=float(reached.mean()),
        weighted_fraction=float(reference.weights[reached].sum()),
        reached=reached,
        chain_modes=chain_modes,
    )
