"""Draws from anywhere: arviz / xarray objects, dicts of arrays, SampleResults.

symbayes diagnoses and canonicalises draws that any sampler produced: numpyro's
``MCMC`` (``az.from_numpyro``), PyMC (``pm.sample`` returns arviz data),
CmdStanPy (``az.from_cmdstanpy``), blackjax, or a dict of numpy arrays. Every
input is read into :class:`Draws`: a params pytree whose leaves have the
leading axes ``(chain, draw)``, with the variable names as keys, so that a
symmetry declared on the variable names (as on numpyro sample sites, see
:func:`~symbayes.models.site_axis`) applies to it unchanged.

Accepted inputs:

* an arviz ``InferenceData`` (arviz < 1) or an xarray / arviz ``DataTree``
  (arviz >= 1): its ``posterior`` group (another with ``group=``);
* an ``xarray.Dataset`` with ``chain`` and ``draw`` dimensions;
* a dict (or any pytree) of arrays whose leaves have the leading axes
  ``(chain, draw)``;
* a :class:`~symbayes.results.SampleResult`.

A run written by symbayes (:meth:`SampleResult.save
<symbayes.results.SampleResult.save>`, or its ``to_inference_data``) holds
canonical draws in ``posterior`` and the raw ones, if any, in
``raw_posterior``; it is recognised by the ``symbayes_config`` attribute of
its posterior, and its ``a.b`` variable names become nested dicts again.

:func:`like_source` writes canonical draws back into the kind of object they
came from (the posterior replaced by the canonical draws, the raw draws kept
in a group ``raw_posterior`` of their own).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import jax
import numpy as np
import xarray as xr

from symbayes.results import (
    SampleResult,
    _variables_to_params,
    params_to_variables,
)
from symbayes.symmetry import Symmetry, format_path, leaf_paths

__all__ = ["Draws", "as_draws", "check_symmetry_variables", "is_run", "like_source"]

Kind = Literal["sample_result", "inference_data", "datatree", "dataset", "pytree"]
_SYMBAYES_ATTRIBUTE = "symbayes_config"
_RAW_GROUP = "raw_posterior"
# xarray's DataTree (xarray >= 2024.10; arviz >= 1 is built on it)
_DATATREE: tuple[type, ...] = (xr.DataTree,) if hasattr(xr, "DataTree") else ()


class Draws(NamedTuple):
    """Draws read from any source (see the module docstring).

    Attributes:
        params: params pytree, leaves ``(chain, draw, ...)``; canonical when
            ``canonical`` is true, else the draws as sampled.
        raw: the raw draws of a symbayes run that kept them, else ``None``
            (for other sources the raw draws are ``params``).
        canonical: whether ``params`` are already canonical (a symbayes run).
        kind: the kind of source: ``"sample_result"``, ``"inference_data"``,
            ``"datatree"``, ``"dataset"`` or ``"pytree"``.
        symmetry: the symmetry attached to the source (a SampleResult's), if
            any.
        source: the object the draws were read from.
        group: the group read (``"posterior"`` unless told otherwise).
    """

    params: Any
    raw: Any
    canonical: bool
    kind: Kind
    symmetry: Symmetry | None
    source: Any
    group: str = "posterior"

    @property
    def num_chains(self) -> int:
        return int(jax.tree_util.tree_leaves(self.params)[0].shape[0])

    @property
    def num_draws(self) -> int:
        return int(jax.tree_util.tree_leaves(self.params)[0].shape[1])


# ------------------------------------------------------------------- reading
def _is_inference_data(data: Any) -> bool:
    return (
        hasattr(data, "groups")
        and callable(data.groups)
        and not isinstance(data, _DATATREE)
    )


def is_run(data: Any) -> bool:
    """Whether ``data`` is a whole run (arviz, xarray or SampleResult), not a pytree."""
    return isinstance(
        data, (SampleResult, xr.Dataset, *_DATATREE)
    ) or _is_inference_data(data)


def _groups(data: Any) -> list[str]:
    """Group names of an InferenceData or DataTree, without slashes."""
    if isinstance(data, _DATATREE):
        return [name for name in data.children]
    return [str(name).strip("/") for name in data.groups()]


def _group(data: Any, group: str) -> xr.Dataset:
    groups = _groups(data)
    if group not in groups:
        raise ValueError(
            f"the data have no group {group!r}; groups: {groups}. Pass the draws' "
            "group with group=..."
        )
    if isinstance(data, _DATATREE):
        return data[group].to_dataset()
    return data[group]


def _dataset_variables(
    dataset: xr.Dataset, var_names: Sequence[str] | None, what: str
) -> dict[str, np.ndarray]:
    """``{name: (chain, draw, ...) array}`` of the chosen data variables."""
    names = list(dataset.data_vars) if var_names is None else list(var_names)
    missing = [name for name in names if name not in dataset.data_vars]
    if missing:
        raise ValueError(
            f"{what} has no variable(s) {missing}; variables: "
            f"{sorted(map(str, dataset.data_vars))}"
        )
    if not names:
        raise ValueError(f"{what} holds no variables")
    variables = {}
    for name in names:
        array = dataset[name]
        lacking = [dim for dim in ("chain", "draw") if dim not in array.dims]
        if lacking:
            raise ValueError(
                f"variable {name!r} of {what} has dimensions {tuple(array.dims)}, "
                f"without {' and '.join(lacking)}: draws need (chain, draw, ...)"
            )
        variables[str(name)] = np.asarray(array.transpose("chain", "draw", ...).values)
    return variables


def _check_leading_axes(params: Any, what: str) -> None:
    """Every leaf has the same leading ``(chain, draw)`` axes."""
    leaves = leaf_paths(params)
    if not leaves:
        raise ValueError(f"{what} hold no arrays")
    shapes = {format_path(path): np.shape(leaf) for path, leaf in leaves.items()}
    short = [name for name, shape in shapes.items() if len(shape) < 2]
    if short:
        raise ValueError(
            f"variable(s) {short} of {what} have shapes "
            f"{[shapes[n] for n in short]}: draws need leading axes (chain, draw)"
        )
    leading = {shape[:2] for shape in shapes.values()}
    if len(leading) != 1:
        raise ValueError(
            f"the variables of {what} disagree on the leading (chain, draw) axes: "
            f"{shapes}"
        )


def _from_dataset(
    dataset: xr.Dataset, var_names: Sequence[str] | None, what: str
) -> tuple[Any, bool]:
    """Params from a Dataset and whether it is a symbayes run's (canonical)."""
    variables = _dataset_variables(dataset, var_names, what)
    ours = _SYMBAYES_ATTRIBUTE in dataset.attrs
    params = _variables_to_params(variables) if ours else variables
    return params, ours


def as_draws(
    data: Any,
    *,
    var_names: Sequence[str] | None = None,
    group: str = "posterior",
) -> Draws:
    """Read draws from an arviz / xarray object, a pytree or a SampleResult.

    Args:
        data: an ``InferenceData``, a ``DataTree``, an ``xarray.Dataset``, a
            dict (pytree) of arrays with leading axes ``(chain, draw)``, or a
            :class:`~symbayes.results.SampleResult`.
        var_names: the variables to keep (arviz / xarray inputs; default all).
        group: the group of an InferenceData / DataTree holding the draws.

    Returns:
        :class:`Draws`.

    Raises:
        ValueError: a missing group or variable, a variable without ``chain``
            and ``draw`` dimensions, leaves that disagree on them.
        TypeError: an input of another kind.

    Example:
        >>> import numpy as np
        >>> draws = as_draws({"b1": np.zeros((4, 100, 3))})
        >>> draws.kind, draws.num_chains, draws.num_draws, draws.canonical
        ('pytree', 4, 100, False)
    """
    if isinstance(data, SampleResult):
        _check_leading_axes(data.draws, "the run's draws")
        return Draws(
            data.draws, data.raw_draws, True, "sample_result", data.symmetry, data
        )
    if isinstance(data, _DATATREE) or _is_inference_data(data):
        kind: Kind = "datatree" if isinstance(data, _DATATREE) else "inference_data"
        params, ours = _from_dataset(_group(data, group), var_names, f"group {group!r}")
        raw = None
        if ours and group == "posterior" and _RAW_GROUP in _groups(data):
            raw, _ = _from_dataset(_group(data, _RAW_GROUP), var_names, _RAW_GROUP)
        return Draws(params, raw, ours, kind, None, data, group)
    if isinstance(data, xr.Dataset):
        params, ours = _from_dataset(data, var_names, "the dataset")
        return Draws(params, None, ours, "dataset", None, data)
    if isinstance(data, Mapping | list | tuple):
        if var_names is not None and isinstance(data, Mapping):
            missing = [name for name in var_names if name not in data]
            if missing:
                raise ValueError(
                    f"the draws have no variable(s) {missing}; variables: "
                    f"{sorted(map(str, data))}"
                )
            data = {name: data[name] for name in var_names}
        params = jax.tree_util.tree_map(np.asarray, data)
        _check_leading_axes(params, "the draws")
        return Draws(params, None, False, "pytree", None, data)
    raise TypeError(
        "draws must be an arviz InferenceData or DataTree, an xarray Dataset, a "
        "dict of arrays with leading (chain, draw) axes or a SampleResult; got "
        f"{type(data).__name__}"
    )


def check_symmetry_variables(params: Any, symmetry: Symmetry, what: str) -> None:
    """Every variable the symmetry names exists in the draws (clear error if not).

    Args:
        params: params pytree, leaves ``(chain, draw, ...)``.
        symmetry: the symmetry declared on the variable names.
        what: how to name the draws in the message.

    Raises:
        ValueError: naming the axis and the missing variable, and listing the
            variables the draws have.
    """
    paths = leaf_paths(params)
    for axis in symmetry.axes:
        for entry in axis.entries:
            if entry.path not in paths:
                available = sorted(format_path(p) for p in paths)
                raise ValueError(
                    f"axis {axis.name!r} names variable "
                    f"{format_path(entry.path)!r}, which {what} lack; variables: "
                    f"{available}"
                )
            shape = np.shape(paths[entry.path])[2:]
            dim = entry.axis % len(shape) if shape else None
            if dim is None or shape[dim] != axis.size:
                raise ValueError(
                    f"axis {axis.name!r} has {axis.size} units but variable "
                    f"{format_path(entry.path)!r} has per-draw shape {shape} "
                    f"(axis {entry.axis}); draws need leading (chain, draw) axes"
                )


# ------------------------------------------------------------------- writing
def _replace_values(dataset: xr.Dataset, params: Any) -> xr.Dataset:
    """``dataset`` with each variable's values taken from ``params``."""
    values = params_to_variables(params)
    updated = dataset.copy()
    for name, value in values.items():
        if name not in dataset.data_vars:
            continue
        original = dataset[name]
        leading = original.transpose("chain", "draw", ...)
        updated[name] = leading.copy(data=np.asarray(value)).transpose(*original.dims)
    return updated


def like_source(draws: Draws, canonical: Any) -> Any:
    """Canonical draws as the kind of object the draws came from.

    Args:
        draws: what :func:`as_draws` read.
        canonical: canonical params, the same pytree as ``draws.params``.

    Returns:
        * ``InferenceData`` / ``DataTree``: a copy whose ``posterior`` (the
          group read) holds the canonical draws and whose ``raw_posterior``
          holds the draws as read (kept, if the source had one);
        * ``Dataset``: a copy with the canonical values;
        * ``SampleResult``: a copy with ``draws`` replaced;
        * pytree: the canonical pytree.
    """
    if draws.kind == "sample_result":
        return dataclasses.replace(draws.source, draws=canonical)
    if draws.kind == "pytree":
        return canonical
    if draws.kind == "dataset":
        return _replace_values(draws.source, canonical)
    source = draws.source
    read = _group(source, draws.group)
    new = _replace_values(read, canonical)
    keep_raw = draws.canonical and _RAW_GROUP in _groups(source)
    raw = _group(source, _RAW_GROUP) if keep_raw else read
    if draws.kind == "datatree":
        tree = source.copy()
        tree[draws.group] = xr.DataTree(new)
        tree[_RAW_GROUP] = xr.DataTree(raw)
        return tree
    groups = {
        name: _group(source, name)
        for name in _groups(source)
        if name not in (draws.group, _RAW_GROUP)
    }
    groups[draws.group] = new
    groups[_RAW_GROUP] = raw
    return type(source)(**groups)
