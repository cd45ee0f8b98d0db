"""Symmetries of MLPs written with flax (linen or nnx) or equinox.

A BNN written the way JAX users write networks - ``flax.linen.Dense`` layers,
an ``nnx.Linear`` stack, an ``equinox.nn.MLP`` - has the same hidden-unit
symmetries as :class:`~symbayes.models.MLP`. This module reads them from the
params pytree and the activation, so that the canonical maps, the quotient
samplers and the diagnostics apply unchanged:

* the dense layers are the leaves named ``kernel`` (flax: shape ``(in,
  out)``) or ``weight`` (equinox, PyTorch layout: ``(out, in)``), each with
  an optional sibling ``bias``; they are ordered by their path in natural
  order (``Dense_2`` before ``Dense_10``) and must chain (each layer's output
  size is the next one's input size);
* between consecutive layers ``l`` and ``l + 1`` a hidden axis ``hidden_l``
  holds layer ``l``'s output columns and bias (role ``in``) and layer
  ``l + 1``'s input rows (role ``out``);
* its groups follow from the activation, tested numerically (never
  assumed): permutations always; sign flips when
  :math:`\\phi(-x) = -\\phi(x)`; positive rescaling when
  :math:`\\phi(a x) = a \\phi(x)` for :math:`a > 0` (a function symmetry
  only, see :func:`~symbayes.symmetry.check_invariance`).

flax and equinox are optional (``pip install symbayes[nn]``); this module
imports neither: it works on their params pytrees.

Example:
    >>> import jax, jax.numpy as jnp
    >>> params = {"params": {
    ...     "Dense_0": {"kernel": jnp.ones((1, 4)), "bias": jnp.zeros(4)},
    ...     "Dense_1": {"kernel": jnp.ones((4, 1)), "bias": jnp.zeros(1)}}}
    >>> symmetry = dense_symmetry(params, jnp.tanh)
    >>> symmetry.axes[0].name, symmetry.axes[0].size, symmetry.axes[0].groups
    ('hidden_1', 4, ('permutation', 'sign'))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.symmetry import (
    AxisEntry,
    HiddenAxis,
    Symmetry,
    SymmetryError,
    format_path,
    leaf_paths,
)

__all__ = [
    "DenseLayer",
    "activation_groups",
    "dense_layers",
    "dense_symmetry",
    "equinox_symmetry",
    "flax_symmetry",
]

_KERNEL_NAMES = {"kernel": "in_out", "weight": "out_in"}
_WRAPPERS = ("value", "raw_value")  # nnx variable states end in these


class DenseLayer(NamedTuple):
    """One dense layer of a params pytree.

    Attributes:
        prefix: the layer's path (without the leaf name).
        kernel: path of its weight matrix.
        bias: path of its bias, or ``None``.
        in_axis: the weight's axis indexed by inputs.
        out_axis: the weight's axis indexed by outputs.
        size_in: inputs.
        size_out: outputs.
    """

    prefix: tuple[str, ...]
    kernel: tuple[str, ...]
    bias: tuple[str, ...] | None
    in_axis: int
    out_axis: int
    size_in: int
    size_out: int


def _natural_key(path: tuple[str, ...]) -> tuple:
    """``Dense_2`` before ``Dense_10``: digit runs compare as numbers."""
    return tuple(
        tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", part))
        for part in path
    )


def _strip(path: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """``(prefix, leaf name)`` with nnx's trailing ``value`` removed."""
    core = path[:-1] if path and path[-1] in _WRAPPERS else path
    return core[:-1], core[-1] if core else ""


def dense_layers(
    params: Any, *, layers: Sequence[str | Sequence[str]] | None = None
) -> list[DenseLayer]:
    """The dense layers of a params pytree, in order.

    Args:
        params: flax linen variables / params, an nnx ``State``, equinox
            params (``eqx.partition(model, eqx.is_inexact_array)[0]``) or any
            pytree whose weight leaves are named ``kernel`` (``(in, out)``)
            or ``weight`` (``(out, in)``) with an optional sibling ``bias``.
        layers: the layer prefixes in order (``"params/Dense_0"``...), to
            override the natural order of their paths.

    Returns:
        The :class:`DenseLayer` list.

    Raises:
        SymmetryError: no dense layers, a weight that is not a matrix, a
            missing or mis-shaped bias, layers that do not chain.
    """
    paths = leaf_paths(params)
    found: dict[tuple[str, ...], DenseLayer] = {}
    biases: dict[tuple[str, ...], tuple[tuple[str, ...], tuple]] = {}
    for path, leaf in paths.items():
        prefix, name = _strip(path)
        if name == "bias":
            biases[prefix] = (path, np.shape(leaf))
    for path, leaf in paths.items():
        prefix, name = _strip(path)
        if name not in _KERNEL_NAMES:
            continue
        shape = np.shape(leaf)
        if len(shape) != 2:
            raise SymmetryError(
                f"dense weight {format_path(path)} has shape {shape}; a dense layer "
                "needs a matrix"
            )
        in_axis, out_axis = (0, 1) if _KERNEL_NAMES[name] == "in_out" else (1, 0)
        bias = biases.get(prefix)
        if bias is not None and bias[1] != (shape[out_axis],):
            raise SymmetryError(
                f"bias {format_path(bias[0])} has shape {bias[1]}, expected "
                f"({shape[out_axis]},) for weight {format_path(path)}"
            )
        found[prefix] = DenseLayer(
            prefix,
            path,
            None if bias is None else bias[0],
            in_axis,
            out_axis,
            shape[in_axis],
            shape[out_axis],
        )
    if not found:
        raise SymmetryError(
            "no dense layers found: expected leaves named 'kernel' (flax) or "
            f"'weight' (equinox); params have {[format_path(p) for p in paths][:8]}"
        )
    if layers is None:
        ordered = [found[p] for p in sorted(found, key=_natural_key)]
    else:
        ordered = []
        for layer in layers:
            prefix = (
                tuple(part for part in layer.split("/") if part)
                if isinstance(layer, str)
                else tuple(str(part) for part in layer)
            )
            if prefix not in found:
                raise SymmetryError(
                    f"no dense layer {format_path(prefix)}; layers: "
                    f"{[format_path(p) for p in sorted(found, key=_natural_key)]}"
                )
            ordered.append(found[prefix])
    for first, second in zip(ordered, ordered[1:], strict=False):
        if first.size_out != second.size_in:
            raise SymmetryError(
                f"layers {format_path(first.prefix)} ({first.size_out} outputs) and "
                f"{format_path(second.prefix)} ({second.size_in} inputs) do not "
                "chain; pass layers=[...] in order"
            )
    return ordered


def activation_groups(
    activation: str | Callable[[jax.Array], jax.Array], *, rtol: float = 1e-5
) -> tuple[str, ...]:
    """The hidden-unit groups an activation implies, tested on a grid.

    Permutations always; ``"sign"`` when ``phi(-x) = -phi(x)``; ``"scale"``
    when ``phi(a x) = a phi(x)`` for ``a`` in ``{0.5, 2, 3}``; both checked at
    201 points of ``[-4, 4]`` to relative tolerance ``rtol``. A name is
    looked up in :data:`~symbayes.models.ACTIVATIONS` instead.

    Raises:
        ValueError: an unknown activation name.
    """
    if isinstance(activation, str):
        from symbayes.models.mlp import ACTIVATIONS

        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}"
            )
        known = ACTIVATIONS[activation]
        odd, homogeneous = known.odd, known.homogeneous
    else:
        x = jnp.linspace(-4.0, 4.0, 201)
        values = np.asarray(activation(x), dtype=np.float64)
        scale = max(float(np.max(np.abs(values))), 1e-12)
        flipped = np.asarray(activation(-x), dtype=np.float64)
        odd = bool(np.max(np.abs(flipped + values)) <= rtol * scale)
        homogeneous = all(
            np.max(np.abs(np.asarray(activation(a * x), np.float64) - a * values))
            <= rtol * scale * a
            for a in (0.5, 2.0, 3.0)
        )
    groups = ("permutation",)
    if odd:
        groups += ("sign",)
    if homogeneous:
        groups += ("scale",)
    return groups


def dense_symmetry(
    params: Any,
    activation: str | Callable[[jax.Array], jax.Array],
    *,
    layers: Sequence[str | Sequence[str]] | None = None,
    groups: Sequence[str] | None = None,
) -> Symmetry:
    """The hidden-unit symmetry of a stack of dense layers.

    Args:
        params: the params pytree (see :func:`dense_layers`).
        activation: the hidden activation: a name of
            :data:`~symbayes.models.ACTIVATIONS` or a callable (its groups are
            tested numerically, :func:`activation_groups`).
        layers: the layer prefixes in order (default: natural order).
        groups: override the groups (e.g. ``("permutation",)``).

    Returns:
        One hidden axis ``hidden_l`` per pair of consecutive layers.

    Raises:
        SymmetryError: see :func:`dense_layers`; a single dense layer has no
            hidden units.
    """
    ordered = dense_layers(params, layers=layers)
    if len(ordered) < 2:
        raise SymmetryError(
            "one dense layer has no hidden units: an MLP needs at least two"
        )
    chosen = tuple(groups) if groups is not None else activation_groups(activation)
    axes = []
    for index, (first, second) in enumerate(zip(ordered, ordered[1:], strict=False)):
        entries = [AxisEntry(first.kernel, first.out_axis, "in")]
        if first.bias is not None:
            entries.append(AxisEntry(first.bias, 0, "in"))
        entries.append(AxisEntry(second.kernel, second.in_axis, "out"))
        axes.append(
            HiddenAxis(f"hidden_{index + 1}", first.size_out, tuple(entries), chosen)
        )
    symmetry = Symmetry(tuple(axes))
    symmetry.validate(params)
    return symmetry


def flax_symmetry(
    variables: Any,
    activation: str | Callable[[jax.Array], jax.Array],
    *,
    layers: Sequence[str | Sequence[str]] | None = None,
) -> Symmetry:
    """The symmetry of a flax MLP (linen variables or nnx state / module).

    Args:
        variables: linen ``model.init(...)`` output (or its ``"params"``), an
            nnx ``State`` (``nnx.split(model)[1]``) or an nnx module (its
            ``nnx.Param`` state is read).
        activation: the hidden activation (``nn.tanh``, ``"relu"``, ...).
        layers: the layer prefixes in order (default: natural order).

    Returns:
        The symmetry, on the paths of ``variables`` (for an nnx module: of
        ``nnx.state(module, nnx.Param)``).
    """
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover - flax absent: plain pytrees only
        nnx = None
    if nnx is not None and isinstance(variables, nnx.Module):
        variables = nnx.state(variables, nnx.Param)
    return dense_symmetry(variables, activation, layers=layers)


def equinox_symmetry(
    model: Any,
    activation: str | Callable[[jax.Array], jax.Array] | None = None,
    *,
    layers: Sequence[str | Sequence[str]] | None = None,
) -> Symmetry:
    """The symmetry of an equinox MLP (``eqx.nn.MLP`` or its array params).

    Args:
        model: an ``eqx.nn.MLP`` (or any module of ``Linear`` layers), or its
            params ``eqx.partition(model, eqx.is_inexact_array)[0]`` (same
            paths).
        activation: the hidden activation (default: ``model.activation``).
        layers: the layer prefixes in order (default: natural order).

    Returns:
        The symmetry, on the paths of the model's array leaves.

    Raises:
        ValueError: no activation given and the model has none.
    """
    if activation is None:
        activation = getattr(model, "activation", None)
        if activation is None:
            raise ValueError(
                "equinox_symmetry needs activation=... (the model has no "
                "'activation' attribute)"
            )
    arrays = jax.tree_util.tree_map(
        lambda leaf: leaf if isinstance(leaf, jax.Array | np.ndarray) else None,
        model,
    )
    return dense_symmetry(arrays, activation, layers=layers)
