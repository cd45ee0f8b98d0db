"""The result of a sampling run: draws, sampler statistics, timings; arviz I/O.

A :class:`SampleResult` holds numpy arrays with leading axes ``(chain, draw)``:

* ``draws`` - canonical draws in the model's own parameter pytree (every mode
  maps its internal coordinates back and applies the same post-hoc canonical
  map, so methods compare on the same coordinates);
* ``raw_draws`` - the sampled parameters before canonicalisation (``none``
  only; the other modes sample inside one copy and have no raw draws);
* ``sample_stats`` - per-transition statistics (acceptance, divergences,
  gradient evaluations, step size, glues at the walls, ...);
* ``timings`` - warmup and sampling wall time and gradient evaluations.

:meth:`SampleResult.to_inference_data` gives an arviz ``InferenceData``
(arviz < 1) or ``DataTree`` (arviz >= 1) with groups ``posterior``
(canonical draws), ``sample_stats`` and ``raw_posterior``;
:meth:`SampleResult.save` / :func:`load_result` round-trip through netCDF.
"""

from __future__ import annotations

import collections
import contextlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import arviz as az
import jax
import numpy as np
import xarray as xr

from symbayes.symmetry import Symmetry, leaf_paths

__all__ = [
    "SampleResult",
    "Timings",
    "load_result",
    "params_to_variables",
    "pytree_structure",
]

ARVIZ_MAJOR = int(az.__version__.split(".")[0])
PATH_SEPARATOR = "."


class Timings(NamedTuple):
    """Wall-clock seconds and gradient evaluations of a run.

    Attributes:
        compile_seconds: ahead-of-time compilation of the transition code.
        warmup_seconds: warmup transitions (adaptation or burn-in).
        sampling_seconds: transitions after warmup.
        canonical_seconds: the post-hoc canonical map over all draws.
        num_grad_evals: total gradient evaluations (all chains, warmup
            included; minibatch gradients for SGLD/SGHMC).
    """

    compile_seconds: float
    warmup_seconds: float
    sampling_seconds: float
    canonical_seconds: float
    num_grad_evals: int


@contextlib.contextmanager
def chain_draw_layout() -> Iterator[None]:
    """Silence arviz's "more chains than draws" guess.

    arviz warns when an array has more chains than draws, in case its axes
    are swapped (0.x: "More chains ... than draws"; 1.x: "Found chain
    dimension to be longer than draw dimension"). symbayes' arrays are always
    ``(chain, draw, ...)``, and many short chains (hundreds vmapped on one
    device) are a normal run.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="More chains .* than draws")
        warnings.filterwarnings(
            "ignore", message="Found chain dimension to be longer than draw"
        )
        yield


def params_to_variables(params: Any) -> dict[str, np.ndarray]:
    """Flatten a params pytree to ``{"a.b": array}`` (netCDF-safe names)."""
    return {
        PATH_SEPARATOR.join(path): np.asarray(leaf)
        for path, leaf in leaf_paths(params).items()
    }


def _variables_to_params(variables: dict[str, np.ndarray]) -> dict:
    """Inverse of :func:`params_to_variables` into nested dicts."""
    params: dict = {}
    for name, value in variables.items():
        parts = name.split(PATH_SEPARATOR)
        node = params
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return params


def _is_namedtuple(node: Any) -> bool:
    return isinstance(node, tuple) and hasattr(node, "_fields")


def pytree_structure(params: Any) -> Any:
    """A JSON description of a params pytree's containers, or ``None``.

    Dicts (string or integer keys, in their own order), lists, tuples,
    named tuples and ``None`` are described; every array leaf becomes
    ``{"leaf": name}`` with ``name`` its variable in
    :func:`params_to_variables`. Other pytree nodes (a registered class)
    cannot be rebuilt from a file: the result is then ``None`` and
    :func:`load_result` falls back to nested dicts.

    Args:
        params: a params pytree (with or without batch axes).

    Returns:
        Nested ``{"dict": [[key, sub], ...]}``, ``{"list": [...]}``,
        ``{"tuple": [...]}``, ``{"namedtuple": name, "fields": [...],
        "items": [...]}``, ``{"none": None}`` and ``{"leaf": name}``; or
        ``None``.

    Example:
        >>> import numpy as np
        >>> pytree_structure({"layers": [np.zeros(2)], "s": np.zeros(())})
        {'dict': [['layers', {'list': [{'leaf': 'layers.0'}]}], ['s', {'leaf': 's'}]]}
    """

    def describe(node: Any, path: tuple[str, ...]) -> Any:
        if node is None:
            return {"none": None}
        if isinstance(node, dict):
            if not all(isinstance(k, str | int) for k in node):
                raise TypeError
            items = [
                [k if isinstance(k, str) else {"int": k}, describe(v, (*path, str(k)))]
                for k, v in node.items()
            ]
            return {"dict": items}
        if _is_namedtuple(node):
            return {
                "namedtuple": type(node).__name__,
                "fields": list(node._fields),
                "items": [describe(v, (*path, f)) for f, v in zip(node._fields, node)],
            }
        if isinstance(node, list | tuple):
            kind = "list" if isinstance(node, list) else "tuple"
            return {kind: [describe(v, (*path, str(i))) for i, v in enumerate(node)]}
        return {"leaf": PATH_SEPARATOR.join(path)}

    try:
        structure = describe(params, ())
    except TypeError:
        return None
    leaves: list[str] = []

    def collect(node: Any) -> None:
        if "leaf" in node:
            leaves.append(node["leaf"])
        for child in node.get("list", node.get("tuple", node.get("items", []))):
            collect(child)
        for _, child in node.get("dict", []):
            collect(child)

    collect(structure)
    # a registered pytree class was taken for a leaf: its leaves are elsewhere
    if sorted(leaves) != sorted(params_to_variables(params)):
        return None
    return structure


def _rebuild(structure: Any, variables: dict[str, np.ndarray], classes: dict) -> Any:
    """Inverse of :func:`pytree_structure`: the pytree with ``variables``' arrays.

    ``classes`` caches the named-tuple classes, so that draws and raw draws
    of one file share them.
    """
    if "leaf" in structure:
        return variables[structure["leaf"]]
    if "none" in structure:
        return None
    if "dict" in structure:
        return {
            (key["int"] if isinstance(key, dict) else key): _rebuild(
                sub, variables, classes
            )
            for key, sub in structure["dict"]
        }
    if "list" in structure:
        return [_rebuild(sub, variables, classes) for sub in structure["list"]]
    if "tuple" in structure:
        return tuple(_rebuild(sub, variables, classes) for sub in structure["tuple"])
    signature = (structure["namedtuple"], tuple(structure["fields"]))
    if signature not in classes:
        classes[signature] = collections.namedtuple(*signature)
    items = [_rebuild(sub, variables, classes) for sub in structure["items"]]
    return classes[signature](*items)


def _load_params(
    variables: dict[str, np.ndarray], structure: Any, like: Any, classes: dict
) -> Any:
    """The user's pytree (``like``'s, else the stored one), else nested dicts."""
    if like is not None:
        names = list(params_to_variables(like))
        if sorted(names) != sorted(variables):
            raise ValueError(
                f"like= has the variables {sorted(names)} but the file holds "
                f"{sorted(variables)}"
            )
        treedef = jax.tree_util.tree_structure(like)
        return jax.tree_util.tree_unflatten(treedef, [variables[n] for n in names])
    if structure is not None:
        try:
            return _rebuild(structure, variables, classes)
        except (KeyError, TypeError, ValueError):
            pass
    return _variables_to_params(variables)


@dataclass(frozen=True)
class SampleResult:
    """Draws and diagnostics of one sampling run (see the module docstring).

    Attributes:
        draws: canonical draws, leaves ``(chain, draw, ...)``.
        raw_draws: raw draws (``quotient="none"`` only), else ``None``.
        sample_stats: per-transition statistics, arrays ``(chain, draw)``.
        timings: :class:`Timings`.
        config: the run's settings (kernel, quotient, sizes, seeds, ...).
        adaptation: adapted step size ``(chain,)`` and inverse mass matrix
            ``(chain, n)`` or ``(chain, n, n)`` (HMC/NUTS).
        symmetry: the symmetry the draws were canonicalised with.
    """

    draws: Any
    raw_draws: Any
    sample_stats: dict[str, np.ndarray]
    timings: Timings
    config: dict[str, Any]
    adaptation: dict[str, np.ndarray] = field(default_factory=dict)
    symmetry: Symmetry | None = None

    @property
    def num_chains(self) -> int:
        return int(next(iter(params_to_variables(self.draws).values())).shape[0])

    @property
    def num_draws(self) -> int:
        return int(next(iter(params_to_variables(self.draws).values())).shape[1])

    @property
    def num_divergences(self) -> int:
        diverging = self.sample_stats.get("diverging")
        return 0 if diverging is None else int(np.sum(diverging))

    def grad_evals_per_draw(self) -> float:
        """Mean gradient evaluations per kept draw, after warmup."""
        grads = self.sample_stats.get("num_grad_evals")
        return float(np.mean(grads)) if grads is not None else float("nan")

    def summary(self) -> str:
        """A few lines: method, sizes, time, divergences."""
        t = self.timings
        return (
            f"{self.config.get('kernel')} / {self.config.get('quotient')}: "
            f"{self.num_chains} chains x {self.num_draws} draws, warmup "
            f"{t.warmup_seconds:.1f} s, sampling {t.sampling_seconds:.1f} s, "
            f"{t.num_grad_evals} gradient evaluations, "
            f"{self.num_divergences} divergences"
        )

    # ------------------------------------------------------------------ arviz
    def to_inference_data(self) -> Any:
        """arviz InferenceData (arviz < 1) or DataTree (arviz >= 1).

        Groups: ``posterior`` (canonical draws), ``sample_stats``,
        ``raw_posterior`` (raw draws, ``none`` only). Run settings and timings
        are stored in the attributes of ``posterior``.
        """
        groups = {
            "posterior": params_to_variables(self.draws),
            "sample_stats": {k: np.asarray(v) for k, v in self.sample_stats.items()},
        }
        if self.raw_draws is not None:
            groups["raw_posterior"] = params_to_variables(self.raw_draws)
        attrs = {
            "symbayes_config": json.dumps(self.config, default=str),
            "symbayes_timings": json.dumps(self.timings._asdict()),
            "symbayes_adaptation": json.dumps(
                {k: np.asarray(v).tolist() for k, v in self.adaptation.items()}
            ),
        }
        structure = pytree_structure(self.draws)
        if structure is not None:
            attrs["symbayes_structure"] = json.dumps(structure)
        if self.symmetry is not None:
            attrs["symbayes_symmetry"] = self.symmetry.describe()
        with chain_draw_layout():
            if ARVIZ_MAJOR >= 1:
                data = az.from_dict(groups)
                data["posterior"].attrs.update(attrs)
                return data
            data = az.from_dict(
                posterior=groups["posterior"], sample_stats=groups["sample_stats"]
            )
            if "raw_posterior" in groups:
                data.add_groups(
                    {"raw_posterior": az.convert_to_dataset(groups["raw_posterior"])}
                )
        data.posterior.attrs.update(attrs)
        return data

    def save(self, path: str | Path) -> Path:
        """Write the run to a netCDF file (see :func:`load_result`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.to_inference_data().to_netcdf(str(path))
        return path


def _open_groups(path: Path) -> dict[str, xr.Dataset]:
    if ARVIZ_MAJOR >= 1:
        tree = xr.open_datatree(str(path))
        groups = {
            name.strip("/"): tree[name].to_dataset().load()
            for name in tree.groups
            if name != "/"
        }
        tree.close()
        return groups
    data = az.from_netcdf(str(path))
    return {name: data[name].load() for name in data.groups()}


def load_result(
    path: str | Path, symmetry: Symmetry | None = None, *, like: Any = None
) -> SampleResult:
    """Read a run written by :meth:`SampleResult.save`.

    Parameters come back in the pytree structure they were saved with:
    dicts (in their key order), lists, tuples and ``None`` as they were,
    named tuples as named tuples of the same name and fields (a new class
    built with :func:`collections.namedtuple`, not the original one). A
    registered pytree class, or a file written before the structure was
    stored, gives nested dicts keyed by the path (``"a.b"`` ->
    ``{"a": {"b": ...}}``); pass ``like=`` (one params pytree, e.g.
    ``model.init(key)``) to get exactly that pytree type back.

    Args:
        path: the netCDF file.
        symmetry: optionally re-attach the symmetry object.
        like: optionally a params pytree whose structure (its treedef, any
            registered pytree class included) the draws are rebuilt into.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file was not written by symbayes, or ``like`` has
            other variables than the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no result file at {path}")
    groups = _open_groups(path)
    if "posterior" not in groups or "symbayes_config" not in groups["posterior"].attrs:
        raise ValueError(f"{path} is not a symbayes result (no posterior/config)")
    posterior = groups["posterior"]

    def variables(dataset: xr.Dataset) -> dict[str, np.ndarray]:
        return {name: dataset[name].values for name in dataset.data_vars}

    raw = groups.get("raw_posterior")
    timings = Timings(**json.loads(posterior.attrs["symbayes_timings"]))
    adaptation = {
        k: np.asarray(v)
        for k, v in json.loads(posterior.attrs.get("symbayes_adaptation", "{}")).items()
    }
    structure = posterior.attrs.get("symbayes_structure")
    structure = None if structure is None else json.loads(structure)
    classes: dict = {}
    return SampleResult(
        draws=_load_params(variables(posterior), structure, like, classes),
        raw_draws=None
        if raw is None
        else _load_params(variables(raw), structure, like, classes),
        sample_stats=variables(groups.get("sample_stats", xr.Dataset())),
        timings=timings,
        config=json.loads(posterior.attrs["symbayes_config"]),
        adaptation=adaptation,
        symmetry=symmetry,
    )
