r"""Ensemble initialisation: optimise C members to MAP estimates, start chains there.

Deep-ensemble starts (Sommer et al. 2025, MILE; also Sommer et al. 2024)
replace the first, hardest part of warmup on a neural-network posterior:
each member maximises the log density

.. math::

    \theta_c^\star = \arg\max_\theta \; \log p(\theta \mid D)

by Adam (``optax.adam``, default ``num_steps=1000`` steps of learning rate
``1e-2``: MILE's budget order for small networks) from a prior draw (or a
given start), all members at once (vmapped). Chains then start at the
members.

Members that land in the **same canonical mode** are reported: their
optima are compared after the canonical map (:func:`symbayes.canonical.
canonicalize`, sort then alignment onto each member), so two members that
differ only by a permutation or sign of hidden units, the same function,
count as one mode. Duplicates can be re-drawn from the prior and
re-optimised (``max_redraws`` rounds): members in distinct canonical modes
are what makes an ensemble start informative, since symmetric copies of one
mode add nothing the quotient does not already know.

References:
    Sommer, Wimmer, Papamarkou, Bothmann, Bischl & Rügamer (2025),
    "Microcanonical Langevin ensembles: advancing the sampling of Bayesian
    neural networks", ICLR. Sommer, Wimmer, Papamarkou, Bothmann, Bischl &
    Rügamer (2024), "Connecting the dots: is mode-connectedness the key to
    feasible sample-based inference in Bayesian neural networks?", ICML.
    Kingma & Ba (2015), "Adam: a method for stochastic optimization", ICLR.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from symbayes.canonical import canonicalize
from symbayes.kernels.base import positive_float, positive_int
from symbayes.symmetry import Symmetry, SymmetryError

__all__ = [
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_NUM_STEPS",
    "EnsembleResult",
    "canonical_modes",
    "ensemble_init",
    "ensemble_starts",
]

DEFAULT_NUM_STEPS = 1000
DEFAULT_LEARNING_RATE = 1e-2


class EnsembleResult(NamedTuple):
    """Optimised members and the canonical modes they landed in.

    Attributes:
        params: the members, leading axis ``C`` (start chains here).
        logdensity: ``(C,)`` log density at each member.
        modes: ``(C,)`` canonical-mode label of each member (0, 1, ... in
            order of first appearance).
        duplicates: ``(C,)`` whether a member shares its mode with an
            earlier member.
        num_redraws: members re-drawn and re-optimised in all.
    """

    params: Any
    logdensity: np.ndarray
    modes: np.ndarray
    duplicates: np.ndarray
    num_redraws: int

    @property
    def num_modes(self) -> int:
        """Number of distinct canonical modes among the members."""
        return int(self.modes.max()) + 1 if self.modes.size else 0


def optimise(
    logdensity_fn: Callable[[Any], jax.Array],
    params: Any,
    num_steps: int = DEFAULT_NUM_STEPS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
) -> tuple[Any, jax.Array]:
    """Adam ascent of ``logdensity_fn`` for every member (leading axis).

    Returns:
        ``(members, log densities)``; a member whose log density turns
        non-finite keeps its last finite iterate.
    """
    optimiser = optax.adam(learning_rate)

    def one(start: Any) -> tuple[Any, jax.Array]:
        def loss(x: Any) -> jax.Array:
            return -logdensity_fn(x)

        def step(carry, _):
            x, state = carry
            value, grad = jax.value_and_grad(loss)(x)
            updates, state = optimiser.update(grad, state, x)
            new = optax.apply_updates(x, updates)
            finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(ravel_pytree(new)[0]))
            new = jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), new, x)
            return (new, state), None

        (x, _), _ = jax.lax.scan(step, (start, optimiser.init(start)), None, num_steps)
        return x, logdensity_fn(x)

    return jax.jit(jax.vmap(one))(params)


def canonical_modes(
    params: Any, symmetry: Symmetry, tolerance: float = 1e-2
) -> np.ndarray:
    """Label members by canonical mode (single linkage on aligned distances).

    Members ``i`` and ``j`` share a mode when, after aligning ``j`` onto
    ``i`` (:func:`~symbayes.canonical.canonicalize` with ``"align"``), the
    root-mean-square difference of their coordinates is at most
    ``tolerance * (1 + rms(theta_i))``.

    Args:
        params: members, leading axis ``C``.
        symmetry: the model's symmetry.
        tolerance: relative distance below which two optima are one mode.

    Returns:
        ``(C,)`` integer labels, 0, 1, ... in order of first appearance.
    """
    positive_float("tolerance", tolerance)
    flat = np.asarray(jax.vmap(lambda x: ravel_pytree(x)[0])(params), np.float64)
    count = flat.shape[0]
    parent = np.arange(count)

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(count):
        pivot = jax.tree_util.tree_map(lambda x, i=i: x[i], params)
        aligned = canonicalize(params, symmetry, "align", pivot=pivot, batch_ndim=1)
        aligned_flat = np.asarray(
            jax.vmap(lambda x: ravel_pytree(x)[0])(aligned), np.float64
        )
        target = aligned_flat[i]
        scale = 1.0 + np.sqrt(np.mean(target**2))
        distance = np.sqrt(np.mean((aligned_flat - target) ** 2, axis=1))
        for j in np.flatnonzero(distance <= tolerance * scale):
            parent[root(int(j))] = root(i)
    roots = [root(i) for i in range(count)]
    labels: dict[int, int] = {}
    return np.array([labels.setdefault(r, len(labels)) for r in roots], np.int64)


def _duplicates(modes: np.ndarray) -> np.ndarray:
    seen: set[int] = set()
    flags = np.zeros(modes.shape, bool)
    for index, mode in enumerate(modes):
        flags[index] = int(mode) in seen
        seen.add(int(mode))
    return flags


def check_members(params: Any, symmetry: Symmetry) -> int:
    """The number of members ``C``; raise clear errors for unusable starts."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("ensemble members hold no arrays")
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "ensemble members need one leading member axis shared by every leaf, "
            f"got leading sizes {sorted(map(str, sizes))}"
        )
    (count,) = sizes
    if count < 1:
        raise ValueError("an ensemble needs at least one member")
    try:
        symmetry.validate(jax.tree_util.tree_map(lambda x: x[0], params))
    except SymmetryError as error:
        raise SymmetryError(
            f"ensemble members do not fit the symmetry: {error}"
        ) from None
    if not all(np.all(np.isfinite(np.asarray(x))) for x in leaves):
        raise ValueError("ensemble members contain NaN or inf")
    return int(count)


def ensemble_init(
    logdensity_fn: Callable[[Any], jax.Array],
    params: Any,
    symmetry: Symmetry,
    *,
    num_steps: int = DEFAULT_NUM_STEPS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    tolerance: float = 1e-2,
    redraw: Callable[[jax.Array], Any] | None = None,
    max_redraws: int = 0,
    key: Any = 0,
) -> EnsembleResult:
    """Optimise members to MAP estimates and report their canonical modes.

    Args:
        logdensity_fn: log density of one params pytree.
        params: starting members, leading axis ``C`` (prior draws or given).
        symmetry: the model's symmetry (the canonical map of the report).
        num_steps: Adam steps per member (default
            :data:`DEFAULT_NUM_STEPS`).
        learning_rate: Adam's learning rate (default
            :data:`DEFAULT_LEARNING_RATE`).
        tolerance: see :func:`canonical_modes`.
        redraw: ``key -> one params pytree``, e.g. a prior draw; with
            ``max_redraws > 0`` duplicates are re-drawn and re-optimised.
        max_redraws: rounds of re-drawing duplicates (0: report only).
        key: int seed or PRNG key of the re-draws.

    Returns:
        An :class:`EnsembleResult`.

    Raises:
        ValueError: bad options or members (no leading member axis,
            non-finite values), ``max_redraws`` without ``redraw``.
        SymmetryError: members that do not fit the symmetry.
    """
    positive_int("num_steps", num_steps)
    positive_float("learning_rate", learning_rate)
    positive_float("tolerance", tolerance)
    positive_int("max_redraws", max_redraws, minimum=0)
    if max_redraws and redraw is None:
        raise ValueError("max_redraws > 0 needs redraw= (a function key -> params)")
    check_members(params, symmetry)
    key = jax.random.key(key) if isinstance(key, int) else key
    members, values = optimise(logdensity_fn, params, num_steps, learning_rate)
    modes = canonical_modes(members, symmetry, tolerance)
    duplicates = _duplicates(modes)
    num_redraws = 0
    for round_index in range(max_redraws):
        index = np.flatnonzero(duplicates)
        if index.size == 0:
            break
        keys = jax.random.split(jax.random.fold_in(key, round_index), index.size)
        starts = [redraw(k) for k in keys]
        starts = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *starts)
        new, new_values = optimise(logdensity_fn, starts, num_steps, learning_rate)
        members = jax.tree_util.tree_map(
            lambda old, fresh, index=index: old.at[index].set(fresh), members, new
        )
        values = values.at[index].set(new_values)
        num_redraws += int(index.size)
        modes = canonical_modes(members, symmetry, tolerance)
        duplicates = _duplicates(modes)
    return EnsembleResult(members, np.asarray(values), modes, duplicates, num_redraws)


def ensemble_starts(
    logdensity_fn: Callable[[Any], jax.Array],
    draw: Callable[[jax.Array], Any] | None,
    symmetry: Symmetry,
    num_chains: int,
    key: jax.Array,
) -> tuple[Any, dict]:
    """``sample(init_params="ensemble")``: prior draws optimised, duplicates redrawn.

    One round of re-drawing duplicates (``max_redraws=1``); the report goes to
    ``result.config["ensemble"]``.
    """
    if draw is None:
        raise ValueError(
            'init_params="ensemble" draws members from the prior: pass a model '
            "(a bare log density has none), or optimise your own starts with "
            "symbayes.ensemble.ensemble_init and pass result.params"
        )
    draw_key, redraw_key = jax.random.split(key)
    starts = jax.vmap(draw)(jax.random.split(draw_key, num_chains))
    result = ensemble_init(
        logdensity_fn,
        starts,
        symmetry,
        redraw=draw,
        max_redraws=1,
        key=redraw_key,
    )
    report = {
        "num_modes": result.num_modes,
        "modes": result.modes.tolist(),
        "num_duplicates": int(result.duplicates.sum()),
        "num_redraws": result.num_redraws,
        "num_steps": DEFAULT_NUM_STEPS,
        "learning_rate": DEFAULT_LEARNING_RATE,
        # full-data gradients of the optimisation, not counted in
        # result.timings.num_grad_evals (the sampler's)
        "num_grad_evals": DEFAULT_NUM_STEPS * (num_chains + result.num_redraws),
    }
    return result.params, report
