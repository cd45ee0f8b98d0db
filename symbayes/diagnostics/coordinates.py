"""Coordinates of a run: flat ``(chain, draw, k)`` arrays of params or functions.

The diagnostics work on numbers: :func:`flatten_draws` turns a params pytree
with leaves ``(chain, draw, ...)`` into one float64 array with a name per
coordinate; :func:`function_draws` evaluates a function of one params pytree
(predictions, log-likelihood, any invariant) on every draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.results import params_to_variables

__all__ = ["flatten_draws", "function_draws"]


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
