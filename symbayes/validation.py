"""Checks that run before any sampling: the declared symmetry, memory, keys.

:func:`verify_symmetry` evaluates the log density (and the model's function,
when it has one) at an initial point under a few random elements of every
declared (axis, group), in one compiled call, and refuses a group that is not
what it claims: permutations and sign flips must leave the log density
unchanged (a posterior symmetry, which the samplers and canonical maps rely
on); positive rescaling must leave the function unchanged (a function
symmetry; it never leaves a Gaussian prior unchanged, so the samplers do not
quotient it, but the canonical map normalises by it).

:func:`estimate_memory` sizes a run before anything is allocated.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from symbayes.symmetry import Symmetry, SymmetryError

__all__ = [
    "MemoryEstimate",
    "available_memory",
    "estimate_memory",
    "verify_symmetry",
]

ELEMENTS_PER_GROUP = 4
RTOL = 1e-4


def _elements(symmetry: Symmetry, key: jax.Array, dtype: Any) -> tuple[Any, list]:
    """Random elements, ``ELEMENTS_PER_GROUP`` per (axis, group), stacked."""
    elements, labels = [], []
    for index, axis in enumerate(symmetry.axes):
        for group_index, group in enumerate(axis.groups):
            sub_key = jax.random.fold_in(key, 8 * index + group_index)
            for draw in range(ELEMENTS_PER_GROUP):
                element = symmetry.random_element(
                    jax.random.fold_in(sub_key, draw), (group,), dtype=dtype
                )
                elements.append(_only_axis(symmetry, element, index, dtype))
                labels.append((axis.name, group))
    stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *elements)
    return stacked, labels


def _only_axis(symmetry: Symmetry, element: Any, index: int, dtype: Any) -> Any:
    """``element`` on axis ``index``, the identity on the others."""
    identity = symmetry.identity(dtype)
    return type(element)(
        *(
            tuple(part[i] if i == index else base[i] for i in range(len(symmetry.axes)))
            for part, base in zip(element, identity, strict=True)
        )
    )


def verify_symmetry(
    build: Callable[[Any], tuple[Callable, Callable | None]],
    data: Any,
    params: Any,
    symmetry: Symmetry,
    key: jax.Array,
    *,
    has_function: bool,
    cache_key: Any = None,
    rtol: float = RTOL,
) -> None:
    """Refuse a declared (axis, group) that is not the symmetry it claims.

    Args:
        build: ``data -> (logdensity_fn, function_fn or None)``: the log
            posterior of one params pytree and the model's invariant outputs
            (predictions, log-likelihood), built from (traced) data.
        data: the data tuple (or ``()``).
        params: one params pytree (an initial point).
        symmetry: the declared symmetry.
        key: PRNG key of the random elements.
        has_function: whether ``build`` gives a function.
        cache_key: a hashable naming ``build`` (the model), to reuse the
            compiled check; ``None`` compiles it afresh.
        rtol: tolerance, relative to ``1 + |log density|`` for the log
            density and to the largest output for the function.

    Raises:
        SymmetryError: naming the axis, the group and the deviation.
    """
    from symbayes.driver import compiled

    if not symmetry.axes:
        return
    dtype = ravel_pytree(params)[0].dtype
    elements, labels = _elements(symmetry, key, dtype)

    def evaluate(params: Any, elements: Any, data: Any) -> tuple:
        logdensity_fn, function_fn = build(data)

        def one(element: Any) -> tuple[jax.Array, jax.Array]:
            moved = symmetry.act(element, params)
            value = logdensity_fn(moved)
            if function_fn is None:
                return value, jnp.zeros(1, dtype)
            outputs = jax.tree_util.tree_leaves(function_fn(moved))
            return value, jnp.concatenate([jnp.ravel(o).astype(dtype) for o in outputs])

        base = one(symmetry.identity(dtype))
        moved = jax.vmap(one)(elements)
        return base, moved

    if cache_key is None:
        program = jax.jit(evaluate)
    else:
        program, _ = compiled(
            ("verify_symmetry", cache_key, symmetry),
            lambda: evaluate,
            params,
            elements,
            data,
        )
    (base_value, base_function), (values, functions) = program(params, elements, data)
    base_value = float(base_value)
    values = np.asarray(values, np.float64)
    functions = np.asarray(functions, np.float64)
    base_function = np.asarray(base_function, np.float64)
    function_scale = max(float(np.max(np.abs(base_function), initial=0.0)), 1e-30)
    unchecked_scale = []
    for (axis, group), value, outputs in zip(labels, values, functions, strict=True):
        if group in ("permutation", "sign"):
            deviation = abs(value - base_value)
            if not np.isfinite(value) or deviation > rtol * (1.0 + abs(base_value)):
                raise SymmetryError(
                    f"axis {axis!r}, group {group!r} is not a posterior symmetry: a "
                    f"random {group} changes the log density from {base_value:.6g} "
                    f"to {value:.6g} at the initial point. Check the axis's entries "
                    "(every leaf the units index, the array axis, the role), or pass "
                    "check_symmetry=False if you know better"
                )
        elif not has_function:
            unchecked_scale.append(axis)
        else:
            deviation = float(np.max(np.abs(outputs - base_function), initial=0.0))
            if not np.all(np.isfinite(outputs)) or deviation > rtol * function_scale:
                raise SymmetryError(
                    f"axis {axis!r} declares 'scale', but a positive rescaling changes "
                    f"the model's outputs by {deviation / function_scale:.3g} "
                    "(relative): "
                    "it is not a function symmetry (rescaling needs a positively "
                    "homogeneous activation such as ReLU). Remove 'scale' from the "
                    "axis, or pass check_symmetry=False if you know better"
                )
    if unchecked_scale:
        warnings.warn(
            f"axes {sorted(set(unchecked_scale))} declare 'scale', which only a "
            "model's function can confirm; with a bare log density it is not "
            "checked (the canonical map normalises by it: make sure the outputs "
            "are unchanged by rescaling)",
            UserWarning,
            stacklevel=3,
        )


# ------------------------------------------------------------------ memory
class MemoryEstimate(NamedTuple):
    """Bytes a run needs, before anything is allocated.

    Attributes:
        device_bytes: chain states plus one chunk of draws on the device.
        host_bytes: every kept draw on the host (raw and canonical copies).
        available_bytes: the memory available to the run.
    """

    device_bytes: int
    host_bytes: int
    available_bytes: int


def available_memory() -> int:
    """Bytes available: the device's limit on accelerators, free RAM on CPU."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        limit = stats.get("bytes_limit")
        if limit:
            return int(limit) - int(stats.get("bytes_in_use", 0))
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**62


def estimate_memory(
    num_params: int,
    num_chains: int,
    num_samples: int,
    chunk_draws: int,
    *,
    itemsize: int = 4,
    state_copies: int = 8,
    dense: bool = False,
) -> MemoryEstimate:
    """Bytes for a run of ``num_chains`` chains of ``num_params`` coordinates.

    Chain states hold a few copies of the position (position, gradient,
    momentum, adaptation statistics: ``state_copies``), a dense metric
    ``n^2`` more; a chunk of draws is ``chunk_draws`` positions per chain; the
    host keeps every draw twice (raw and canonical) plus statistics.
    """
    per_chain = state_copies * num_params + (2 * num_params**2 if dense else 0)
    device = itemsize * num_chains * (per_chain + chunk_draws * (num_params + 8))
    host = itemsize * num_chains * num_samples * (3 * num_params + 8)
    return MemoryEstimate(int(device), int(host), available_memory())


def check_memory(estimate: MemoryEstimate, chunk_draws: int, num_chains: int) -> None:
    """Refuse a run that cannot fit, saying what to choose instead."""
    limit = 0.8 * estimate.available_bytes
    if estimate.device_bytes > limit:
        per_draw = max(1, estimate.device_bytes // max(1, chunk_draws))
        fitting = max(1, int(limit // per_draw))
        raise ValueError(
            f"this run needs about {_gib(estimate.device_bytes)} for {num_chains} "
            f"chains (states and a chunk of {chunk_draws} draws) but about "
            f"{_gib(estimate.available_bytes)} is available; use fewer chains or "
            f"chunk_size <= {fitting}"
        )
    if estimate.device_bytes + estimate.host_bytes > limit:
        raise ValueError(
            f"the kept draws need about {_gib(estimate.host_bytes)} on the host but "
            f"about {_gib(estimate.available_bytes)} is available; keep fewer draws "
            "(num_samples, thinning) or fewer chains"
        )


def _gib(value: int) -> str:
    return f"{value / 2**30:.3g} GiB" if value >= 2**27 else f"{value / 2**20:.3g} MiB"


def num_coordinates(params: Any) -> int:
    """Scalars in one params pytree."""
    return int(sum(math.prod(np.shape(x)) for x in jax.tree_util.tree_leaves(params)))
