"""HMC, NUTS, SGLD and SGHMC on the quotient: many chains, warmup, chunked runs.

:func:`sample` runs ``num_chains`` chains vmapped in one program. Kernels come
from blackjax (``hmc``/``nuts`` ``build_kernel`` with the integrator of the
quotient mode, the SG-MCMC diffusions); warmup is Stan's windowed adaptation
assembled from blackjax's building blocks (``build_schedule``, dual averaging,
Welford mass-matrix estimation), so that it runs in the same chunked scan as
sampling and, for ``fold``, ties the mass matrix across units after every
window.

A run is a sequence of chunks of at most ``chunk_size`` transitions. The
random key of transition ``t`` is ``fold_in(key, t)``, so the draws do not
depend on the chunking. Between chunks a progress bar is updated and, with
``checkpoint=``, the draws of the chunk and the chain states are written to
disk; a killed run resumes from its last complete chunk and yields the same
draws as an uninterrupted run with the same key. Memory is bounded by the
chunk size.

References:
    Hoffman & Gelman (2014), "The No-U-Turn sampler", JMLR 15. Betancourt
    (2017), "A conceptual introduction to Hamiltonian Monte Carlo". Stan
    Reference Manual, "HMC algorithm parameters" (windowed adaptation).
    Welling & Teh (2011), "Bayesian learning via stochastic gradient Langevin
    dynamics", ICML. Chen, Fox & Guestrin (2014), "Stochastic gradient
    Hamiltonian Monte Carlo", ICML. Ma, Chen & Fox (2015), "A complete recipe
    for stochastic gradient MCMC", NeurIPS. Leimkuhler & Matthews (2013),
    "Rational construction of stochastic numerical methods for molecular
    sampling", AMRX (BAOAB). Bossy, Gobet & Talay (2004), "A
    symmetrized Euler scheme for an efficient approximation of reflected
    diffusions", J. Appl. Prob. 41 (reflected Euler steps).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.mass_matrix import mass_matrix_adaptation
from blackjax.adaptation.step_size import (
    dual_averaging_adaptation,
    find_reasonable_step_size,
)
from blackjax.adaptation.window_adaptation import build_schedule
from blackjax.sgmcmc import diffusions
from jax.flatten_util import ravel_pytree
from tqdm.auto import tqdm

from symbayes.canonical import canonicalize, check_finite, relabel, sort_canonicalize
from symbayes.checkpoint import Checkpoint
from symbayes.datasets import as_data_tuple
from symbayes.quotient import (
    QUOTIENT_MODES,
    OrderedTransform,
    TrackedPosition,
    Walls,
    in_domain,
    is_tied,
    reflective_drift,
    reflective_integrator,
    sort_domain_walls,
    tie_inverse_mass_matrix,
    tracked_metric,
)
from symbayes.results import SampleResult, Timings
from symbayes.symmetry import Symmetry, SymmetryError

__all__ = ["KERNELS", "polynomial_schedule", "sample"]

KernelName = Literal["nuts", "hmc", "sgld", "sghmc"]
KERNELS = ("nuts", "hmc", "sgld", "sghmc")
DOMAIN_TOLERANCE = 1e-6


# ------------------------------------------------------------------ problem
@dataclass(frozen=True)
class Problem:
    """What the samplers need from a model or a bare log density."""

    logdensity_fn: Callable[[Any], jax.Array]
    symmetry: Symmetry
    minibatch_logdensity_fn: Callable[[Any, Any], jax.Array] | None = None
    data: Any = None
    num_data: int | None = None
    postprocess: Callable[[Any], Any] | None = None
    init_fn: Callable[[jax.Array], Any] | None = None


def _problem(
    model_or_logdensity_fn: Any,
    symmetry: Symmetry | None,
    data: Any,
    minibatch_logdensity_fn: Callable | None,
) -> Problem:
    from symbayes.models.base import BayesianModel

    if isinstance(model_or_logdensity_fn, BayesianModel):
        model = model_or_logdensity_fn
        data = as_data_tuple(data if data is not None else getattr(model, "data", None))
        if data is None and not hasattr(model, "data"):
            raise ValueError(
                f"model {model.name!r} needs data=: a tuple (X, y), (X,) or a "
                "symbayes.datasets.Dataset"
            )
        minibatch = None
        num_data = None
        if data is not None:
            num_data = int(np.shape(data[0])[0])
            minibatch = model.minibatch_logdensity_fn(num_data)
        return Problem(
            logdensity_fn=model.logdensity_fn(data),
            symmetry=symmetry or model.symmetry,
            minibatch_logdensity_fn=minibatch,
            data=data,
            num_data=num_data,
            postprocess=getattr(model, "constrain", None),
            init_fn=lambda key: model.init(key, data),
        )
    if not callable(model_or_logdensity_fn):
        raise TypeError(
            "sample() takes a symbayes model or a log-density function of one "
            f"params pytree, got {type(model_or_logdensity_fn).__name__}"
        )
    if symmetry is None:
        raise ValueError(
            "a bare log-density function needs symmetry= (a symbayes.Symmetry)"
        )
    data = as_data_tuple(data)
    return Problem(
        logdensity_fn=model_or_logdensity_fn,
        symmetry=symmetry,
        minibatch_logdensity_fn=minibatch_logdensity_fn,
        data=data,
        num_data=None if data is None else int(np.shape(data[0])[0]),
    )


# -------------------------------------------------------------- coordinates
@dataclass(frozen=True, eq=False)
class Coordinates:
    """How a quotient mode maps the sampler's coordinates to parameters.

    Attributes:
        mode: the quotient mode.
        symmetry: the finite (posterior) part of the symmetry.
        walls: the sort domain (``reflect``, SG ``reflect``).
        transform: the ordered bijection (``reparam``).
        max_reflections: cap on reflections per drift.
    """

    mode: str
    symmetry: Symmetry
    walls: Walls | None
    transform: OrderedTransform | None
    max_reflections: int

    def to_params(self, coordinates: Any) -> Any:
        if self.transform is None:
            return coordinates
        return self.transform.forward(coordinates)[0]

    def from_params(self, params: Any) -> Any:
        """Initial coordinates: canonical (inside the domain) unless ``none``."""
        if self.mode == "none":
            return params
        canonical, _ = sort_canonicalize(params, self.symmetry)
        if self.transform is not None:
            return self.transform.inverse(canonical)
        return canonical

    def logdensity(self, logdensity_fn: Callable) -> Callable[[Any], jax.Array]:
        """Log density in the sampler's coordinates, ``-inf`` where undefined."""

        def in_coordinates(coordinates: Any) -> jax.Array:
            if self.transform is not None:
                params, log_jacobian = self.transform.forward(coordinates)
                value = logdensity_fn(params) + log_jacobian
            elif self.walls is not None:
                flat, _ = ravel_pytree(coordinates)
                inside = in_domain(flat, self.walls, DOMAIN_TOLERANCE)
                value = jnp.where(inside, logdensity_fn(coordinates), -jnp.inf)
            else:
                value = logdensity_fn(coordinates)
            return jnp.where(jnp.isfinite(value), value, -jnp.inf)

        return in_coordinates

    def fold(self, coordinates: Any) -> tuple[Any, Any]:
        """Canonicalise (sort) and return the element used."""
        return sort_canonicalize(coordinates, self.symmetry)


def _coordinates(
    mode: str,
    template: Any,
    symmetry: Symmetry,
    max_reflections: int,
    reparam_gap: str,
) -> Coordinates:
    finite = symmetry.without_scale()
    walls = sort_domain_walls(template, finite) if mode == "reflect" else None
    transform = (
        OrderedTransform.build(template, finite, reparam_gap)
        if mode == "reparam"
        else None
    )
    return Coordinates(mode, finite, walls, transform, max_reflections)


# ------------------------------------------------------------------- state
class AdaptationState(NamedTuple):
    """Per-chain warmup state: dual averaging, Welford, current parameters."""

    step_size_state: Any
    mass_matrix_state: Any
    step_size: jax.Array
    inverse_mass_matrix: jax.Array


class HMCCarry(NamedTuple):
    """Per-chain carry of the HMC/NUTS scan."""

    state: Any  # blackjax HMCState over a TrackedPosition
    adaptation: AdaptationState


class SGCarry(NamedTuple):
    """Per-chain carry of the SGLD/SGHMC scan."""

    coordinates: Any


class RunSettings(NamedTuple):
    """Static settings of a run, fixed before compilation."""

    kernel: str
    quotient: str
    num_chains: int
    num_warmup: int
    num_samples: int
    thinning: int
    num_integration_steps: int
    max_num_doublings: int
    target_acceptance_rate: float
    dense_mass: bool
    adapt_step_size: bool
    adapt_mass_matrix: bool
    batch_size: int
    temperature: float
    friction: float


def polynomial_schedule(
    initial: float, decay_offset: float = 1.0, exponent: float = 0.55
) -> Callable[[jax.Array], jax.Array]:
    """Step size ``a (b + t)^-gamma`` of Welling & Teh (2011), ``a = initial b^gamma``.

    ``sum eps_t = inf`` and ``sum eps_t^2 < inf`` for ``0.5 < gamma <= 1``, the
    Robbins-Monro conditions under which SGLD converges without a Metropolis
    correction.

    Args:
        initial: the step size at ``t = 0``.
        decay_offset: ``b``; larger values decay later.
        exponent: ``gamma``.

    Returns:
        ``t -> step size`` (jit-able).
    """
    if not (initial > 0 and decay_offset > 0 and 0 < exponent <= 1):
        raise ValueError(
            "polynomial_schedule needs initial > 0, decay_offset > 0, 0 < exponent <= 1"
        )
    scale = initial * decay_offset**exponent

    def schedule(step: jax.Array) -> jax.Array:
        return scale * (decay_offset + step) ** (-exponent)

    return schedule


# --------------------------------------------------------- HMC / NUTS steps
def _hmc_transition(
    key: jax.Array,
    state: Any,
    step_size: jax.Array,
    inverse_mass_matrix: jax.Array,
    *,
    settings: RunSettings,
    logdensity: Callable,
    kernel: Callable,
    coordinates: Coordinates,
) -> tuple[Any, dict[str, jax.Array]]:
    """One HMC/NUTS transition of one chain (+ fold), with its statistics."""
    metric = tracked_metric(inverse_mass_matrix)
    position = state.position._replace(
        reflections=jnp.zeros_like(state.position.reflections)
    )
    state = state._replace(position=position)
    if settings.kernel == "nuts":
        new_state, info = kernel(
            key, state, logdensity, step_size, metric, settings.max_num_doublings
        )
        reflections = (
            info.trajectory_leftmost_state.position.reflections
            + info.trajectory_rightmost_state.position.reflections
        )
        tree_depth = info.num_trajectory_expansions
    else:
        new_state, info = kernel(
            key, state, logdensity, step_size, metric, settings.num_integration_steps
        )
        reflections = info.proposal.position.reflections
        tree_depth = jnp.zeros((), jnp.int32)
    if settings.quotient == "fold":
        folded, element = coordinates.fold(new_state.position.coordinates)
        gradient = coordinates.symmetry.act(
            element, new_state.logdensity_grad.coordinates
        )
        new_state = new_state._replace(
            position=new_state.position._replace(coordinates=folded),
            logdensity_grad=new_state.logdensity_grad._replace(coordinates=gradient),
        )
    stats = {
        "acceptance_rate": info.acceptance_rate,
        "diverging": info.is_divergent,
        "num_grad_evals": jnp.asarray(info.num_integration_steps, jnp.int32),
        "energy": info.energy,
        "tree_depth": jnp.asarray(tree_depth, jnp.int32),
        "reflections": jnp.asarray(reflections, jnp.int32),
        "logdensity": new_state.logdensity,
    }
    return new_state, stats


def _adaptation_update(
    adaptation: AdaptationState,
    stage: jax.Array,
    window_end: jax.Array,
    position: Any,
    acceptance_rate: jax.Array,
    *,
    settings: RunSettings,
    tie: Callable[[jax.Array], jax.Array] | None,
) -> AdaptationState:
    """Stan's windowed adaptation, one step (blackjax building blocks)."""
    da_init, da_update, da_final = dual_averaging_adaptation(
        settings.target_acceptance_rate
    )
    _, mm_update, mm_final = mass_matrix_adaptation(not settings.dense_mass)
    step_state = adaptation.step_size_state
    mass_state = adaptation.mass_matrix_state
    if settings.adapt_step_size:
        step_state = da_update(step_state, acceptance_rate)
    if settings.adapt_mass_matrix:
        flat, _ = ravel_pytree(position)
        mass_state = jax.lax.cond(
            stage == 1, lambda m: mm_update(m, flat), lambda m: m, mass_state
        )

        def end_window(states):
            step_state, mass_state = states
            mass_state = mm_final(mass_state)
            if tie is not None:
                mass_state = mass_state._replace(
                    inverse_mass_matrix=tie(mass_state.inverse_mass_matrix)
                )
            if settings.adapt_step_size:
                step_state = da_init(da_final(step_state))
            return step_state, mass_state

        step_state, mass_state = jax.lax.cond(
            window_end, end_window, lambda s: s, (step_state, mass_state)
        )
    step_size = (
        jnp.exp(step_state.log_step_size)
        if settings.adapt_step_size
        else adaptation.step_size
    )
    return AdaptationState(
        step_state, mass_state, step_size, mass_state.inverse_mass_matrix
    )


def _sampling_step_size(adaptation: AdaptationState, settings: RunSettings):
    if settings.adapt_step_size and settings.num_warmup > 0:
        return jnp.exp(adaptation.step_size_state.log_step_size_avg)
    return adaptation.step_size


def _tree_where(condition: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), new, old)


def _hmc_step_fn(
    settings: RunSettings,
    coordinates: Coordinates,
    logdensity: Callable,
    schedule: np.ndarray,
    tie: Callable | None,
    run_key: jax.Array,
) -> Callable:
    integrator = (
        reflective_integrator(coordinates.walls, coordinates.max_reflections)
        if settings.quotient == "reflect"
        else blackjax.mcmc.integrators.velocity_verlet
    )
    builder = blackjax.nuts if settings.kernel == "nuts" else blackjax.hmc
    kernel = builder.build_kernel(integrator=integrator)
    transition = partial(
        _hmc_transition,
        settings=settings,
        logdensity=logdensity,
        kernel=kernel,
        coordinates=coordinates,
    )
    update = partial(_adaptation_update, settings=settings, tie=tie)
    stages = jnp.asarray(schedule[:, 0], jnp.int32)
    window_ends = jnp.asarray(schedule[:, 1], bool)

    def step(carry: HMCCarry, t: jax.Array) -> tuple[HMCCarry, tuple]:
        keys = jax.random.split(jax.random.fold_in(run_key, t), settings.num_chains)
        warm = t < settings.num_warmup
        adaptation = carry.adaptation
        step_size = jnp.where(
            warm,
            adaptation.step_size,
            jax.vmap(lambda a: _sampling_step_size(a, settings))(adaptation),
        )
        state, stats = jax.vmap(transition)(
            keys, carry.state, step_size, adaptation.inverse_mass_matrix
        )
        if settings.num_warmup > 0 and (
            settings.adapt_step_size or settings.adapt_mass_matrix
        ):
            index = jnp.clip(t, 0, settings.num_warmup - 1)
            updated = jax.vmap(
                lambda a, p, acc: update(a, stages[index], window_ends[index], p, acc)
            )(adaptation, state.position.coordinates, stats["acceptance_rate"])
            adaptation = _tree_where(warm, updated, adaptation)
        stats["step_size"] = step_size
        params = jax.vmap(coordinates.to_params)(state.position.coordinates)
        return HMCCarry(state, adaptation), (params, stats)

    return step


# -------------------------------------------------------------- SGLD/SGHMC
def _minibatch(key: jax.Array, data: tuple, batch_size: int) -> tuple:
    num_data = data[0].shape[0]
    index = jax.random.choice(key, num_data, (batch_size,), replace=False)
    return tuple(x[index] for x in data)


def _sg_step_fn(
    settings: RunSettings,
    coordinates: Coordinates,
    minibatch_logdensity: Callable,
    data: tuple,
    step_size_fn: Callable[[jax.Array], jax.Array],
    run_key: jax.Array,
) -> Callable:
    """SGLD (Welling & Teh 2011) / SGHMC (Chen et al. 2014) transitions."""
    langevin = diffusions.overdamped_langevin()
    walls = coordinates.walls
    temperature = settings.temperature
    alpha = settings.friction

    def estimate_gradient(position: Any, key: jax.Array) -> Any:
        batch = _minibatch(key, data, settings.batch_size)
        return jax.grad(minibatch_logdensity)(position, batch)

    def reflect_move(start: Any, displacement: Any, time: float) -> tuple:
        """Move ``start`` by ``time * displacement``, reflecting at walls."""
        flat, unravel = ravel_pytree(start)
        direction, _ = ravel_pytree(displacement)
        if walls is None:
            return unravel(flat + time * direction), displacement, jnp.zeros(())
        moved, reflected, count = reflective_drift(
            flat, direction, time, walls, lambda v: v, coordinates.max_reflections
        )
        return unravel(moved), unravel(reflected), count

    def sgld(key: jax.Array, position: Any, step_size: jax.Array) -> tuple:
        key_batch, key_noise = jax.random.split(key)
        gradient = estimate_gradient(position, key_batch)
        proposal = langevin(key_noise, position, gradient, step_size, temperature)
        displacement = jax.tree_util.tree_map(jnp.subtract, proposal, position)
        moved, _, count = reflect_move(position, displacement, 1.0)
        return moved, count

    def sghmc(key: jax.Array, position: Any, step_size: jax.Array) -> tuple:
        """Fresh momentum, then ``L`` BAOAB steps with minibatch gradients.

        Underdamped Langevin ``dx = p dt, dp = (grad log p - alpha p) dt +
        sqrt(2 alpha T) dW`` split as kick / drift / exact Ornstein-Uhlenbeck /
        drift / kick (Leimkuhler & Matthews 2013). A first-order (Euler)
        splitting with momentum refreshed every few steps inflates the
        position variance by ~10% at any small step size; BAOAB's error is
        second order.
        """
        key_momentum, key_first, key_steps = jax.random.split(key, 3)
        momentum = jax.tree_util.tree_map(
            lambda n: jnp.sqrt(temperature) * n,
            blackjax.util.generate_gaussian_noise(key_momentum, position),
        )
        decay = jnp.exp(-alpha * step_size)
        noise_scale = jnp.sqrt(temperature * (1.0 - decay**2))

        def kick(momentum: Any, gradient: Any) -> Any:
            return jax.tree_util.tree_map(
                lambda p, g: p + 0.5 * step_size * g, momentum, gradient
            )

        def inner(carry, step_key):
            position, momentum, gradient, count = carry
            key_batch, key_noise = jax.random.split(step_key)
            momentum = kick(momentum, gradient)
            position, momentum, hits_a = reflect_move(
                position, momentum, 0.5 * step_size
            )
            noise = blackjax.util.generate_gaussian_noise(key_noise, position)
            momentum = jax.tree_util.tree_map(
                lambda p, n: decay * p + noise_scale * n, momentum, noise
            )
            position, momentum, hits_b = reflect_move(
                position, momentum, 0.5 * step_size
            )
            gradient = estimate_gradient(position, key_batch)
            momentum = kick(momentum, gradient)
            return (position, momentum, gradient, count + hits_a + hits_b), None

        gradient = estimate_gradient(position, key_first)
        steps = jax.random.split(key_steps, settings.num_integration_steps)
        (position, _, _, count), _ = jax.lax.scan(
            inner, (position, momentum, gradient, jnp.zeros(())), steps
        )
        return position, count

    move = sgld if settings.kernel == "sgld" else sghmc
    grads_per_transition = (
        1 if settings.kernel == "sgld" else settings.num_integration_steps + 1
    )

    def transition(key: jax.Array, carry: SGCarry, step_size: jax.Array) -> tuple:
        position, count = move(key, carry.coordinates, step_size)
        if settings.quotient == "fold":
            position, _ = coordinates.fold(position)
        stats = {
            "num_grad_evals": jnp.asarray(grads_per_transition, jnp.int32),
            "reflections": jnp.asarray(count, jnp.int32),
            "diverging": ~jnp.all(jnp.isfinite(ravel_pytree(position)[0])),
        }
        return SGCarry(position), stats

    def step(carry: SGCarry, t: jax.Array) -> tuple[SGCarry, tuple]:
        keys = jax.random.split(jax.random.fold_in(run_key, t), settings.num_chains)
        step_size = jnp.asarray(step_size_fn(t), jnp.float32)
        new, stats = jax.vmap(transition, (0, 0, None))(keys, carry, step_size)
        stats["step_size"] = jnp.broadcast_to(step_size, (settings.num_chains,))
        params = jax.vmap(coordinates.to_params)(new.coordinates)
        return new, (params, stats)

    return step


# ----------------------------------------------------------------- driving
def _chunk_plan(settings: RunSettings, chunk_size: int) -> list[tuple[int, int, str]]:
    """Chunks ``(start, end, phase)``; no chunk straddles warmup and sampling."""
    total = settings.num_warmup + settings.num_samples * settings.thinning
    plan = []
    for start_phase, end_phase, phase in (
        (0, settings.num_warmup, "warmup"),
        (settings.num_warmup, total, "sampling"),
    ):
        for start in range(start_phase, end_phase, chunk_size):
            plan.append((start, min(start + chunk_size, end_phase), phase))
    return plan


def _build_chunk_runner(step: Callable, chunk_size: int) -> Callable:
    def run(carry: Any, start: jax.Array, end: jax.Array) -> tuple:
        def body(carry, t):
            def active(c):
                return step(c, t)

            def idle(c):
                return c, jax.tree_util.tree_map(
                    jnp.zeros_like, jax.eval_shape(lambda: step(c, t)[1])
                )

            return jax.lax.cond(t < end, active, idle, carry)

        return jax.lax.scan(body, carry, start + jnp.arange(chunk_size))

    return jax.jit(run)


def _normalize_key(key: Any) -> jax.Array:
    if key is None:
        return jax.random.key(0)
    if isinstance(key, int | np.integer):
        return jax.random.key(int(key))
    key = jnp.asarray(key) if not hasattr(key, "dtype") else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(jnp.asarray(key, jnp.uint32))


def _validate(
    kernel: str,
    quotient: str,
    num_chains: Any,
    num_warmup: Any,
    num_samples: Any,
    thinning: Any,
    chunk_size: Any,
) -> None:
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")
    if quotient not in QUOTIENT_MODES:
        raise ValueError(
            f"unknown quotient mode {quotient!r}; choose one of {QUOTIENT_MODES}"
        )
    for name, value, minimum in (
        ("num_chains", num_chains, 1),
        ("num_warmup", num_warmup, 0),
        ("num_samples", num_samples, 1),
        ("thinning", thinning, 1),
    ):
        if not isinstance(value, int | np.integer) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if chunk_size is not None and (
        not isinstance(chunk_size, int | np.integer) or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def _initial_params(
    problem: Problem, init_params: Any, num_chains: int, key: jax.Array
) -> Any:
    """Per-chain initial params ``(num_chains, ...)``, validated."""
    if init_params is None:
        if problem.init_fn is None:
            raise ValueError("init_params is required with a bare log-density function")
        keys = jax.random.split(key, num_chains)
        draws = [problem.init_fn(k) for k in keys]
        init_params = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *draws)
        return init_params
    try:
        problem.symmetry.validate(init_params)
        single = True
    except SymmetryError as single_error:
        leaves = jax.tree_util.tree_leaves(init_params)
        if not leaves or any(np.shape(x)[:1] != (num_chains,) for x in leaves):
            raise single_error
        problem.symmetry.validate(jax.tree_util.tree_map(lambda x: x[0], init_params))
        single = False
    if single:
        init_params = jax.tree_util.tree_map(
            lambda x: jnp.broadcast_to(jnp.asarray(x), (num_chains, *np.shape(x))),
            init_params,
        )
    check_finite(init_params, "init_params")
    return jax.tree_util.tree_map(jnp.asarray, init_params)


def _check_initial_logdensity(logdensity: Callable, positions: Any) -> None:
    values = np.asarray(jax.jit(jax.vmap(logdensity))(positions))
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            "the log density is not finite at the initial point of chain(s) "
            f"{bad.tolist()[:10]} (values {values[bad][:10].tolist()}); choose "
            "other init_params or check the model and data"
        )


def sample(
    model_or_logdensity_fn: Any,
    init_params: Any = None,
    symmetry: Symmetry | None = None,
    *,
    data: Any = None,
    kernel: KernelName = "nuts",
    quotient: str = "none",
    num_chains: int = 4,
    num_warmup: int = 500,
    num_samples: int = 500,
    key: Any = None,
    thinning: int = 1,
    step_size: float | Callable | None = None,
    inverse_mass_matrix: Any = None,
    dense_mass: bool = False,
    target_acceptance_rate: float = 0.8,
    num_integration_steps: int = 16,
    max_num_doublings: int = 10,
    max_reflections: int = 100,
    reparam_gap: Literal["softplus", "exp"] = "softplus",
    batch_size: int | None = None,
    temperature: float = 1.0,
    friction: float = 0.1,
    minibatch_logdensity_fn: Callable | None = None,
    canonical_method: Literal["sort", "relabel"] = "sort",
    chunk_size: int | None = None,
    progress_bar: bool = True,
    checkpoint: str | Path | None = None,
) -> SampleResult:
    """Sample a posterior on the quotient of its parameter-space symmetry.

    Args:
        model_or_logdensity_fn: a :class:`symbayes.models.BayesianModel`
            (log density from ``data``; numpyro models included through
            :class:`symbayes.models.NumpyroModel`), or a log-density function of
            one params pytree.
        init_params: one params pytree (every chain starts there) or one per
            chain (leading axis ``num_chains``); drawn from the model when None.
        symmetry: required with a bare log density; defaults to the model's.
        data: the model's data tuple (or a :class:`symbayes.datasets.Dataset`).
        kernel: ``"nuts"``, ``"hmc"``, ``"sgld"`` or ``"sghmc"``.
        quotient: ``"none"``, ``"reparam"``, ``"reflect"`` or ``"fold"``.
        num_chains: chains, vmapped in one program.
        num_warmup: warmup (adaptation) transitions; burn-in for SGLD/SGHMC.
        num_samples: kept draws per chain.
        key: PRNG key or int seed.
        thinning: transitions per kept draw.
        step_size: HMC/NUTS: a fixed step size (no step-size adaptation);
            SGLD/SGHMC: a float or a schedule ``t -> step size`` (default
            ``1e-4``).
        inverse_mass_matrix: a fixed inverse mass matrix, flat ``(n,)`` or
            ``(n, n)`` (no mass-matrix adaptation).
        dense_mass: adapt a dense mass matrix (not with ``fold``).
        target_acceptance_rate: dual-averaging target.
        num_integration_steps: leapfrog steps of HMC; inner steps of SGHMC.
        max_num_doublings: NUTS tree depth cap.
        max_reflections: cap on wall reflections per drift (``reflect``).
        reparam_gap: ``"softplus"`` or ``"exp"`` gaps of the ``reparam`` mode.
        batch_size: SGLD/SGHMC minibatch size (default ``min(32, n)``).
        temperature: SGLD/SGHMC temperature (1 samples the posterior).
        friction: SGHMC friction ``alpha``.
        minibatch_logdensity_fn: SGLD/SGHMC with a bare log density:
            ``(params, batch) -> log prior + n / b * sum log lik``.
        canonical_method: post-hoc canonical map of the draws: ``"sort"``
            (per draw) or ``"relabel"`` (pivotal relabelling of all draws).
        chunk_size: transitions per compiled chunk (default: fits 256 MiB of
            draws).
        progress_bar: show a tqdm bar (draws/s, divergences, ETA).
        checkpoint: a folder; chunks and states are saved there and a killed
            run resumes from it.

    Returns:
        A :class:`symbayes.results.SampleResult`.

    Raises:
        ValueError: bad sizes, unknown kernel or mode, a kernel/mode pair
            that is not exact (``fold`` with a dense or untied mass matrix),
            a non-finite log density at an initial point (naming the chain).
        SymmetryError: init params that do not fit the symmetry.

    Example:
        >>> from symbayes import sample
        >>> from symbayes.models import MLP
        >>> from symbayes.datasets import load
        >>> data = load("sinusoidal")
        >>> result = sample(MLP((1, 3, 1)), data=data, num_chains=2,
        ...                 num_warmup=50, num_samples=50, quotient="reflect",
        ...                 progress_bar=False)  # doctest: +SKIP
    """
    _validate(
        kernel, quotient, num_chains, num_warmup, num_samples, thinning, chunk_size
    )
    problem = _problem(model_or_logdensity_fn, symmetry, data, minibatch_logdensity_fn)
    key = _normalize_key(key)
    init_key, setup_key, run_key = jax.random.split(key, 3)
    params = _initial_params(problem, init_params, num_chains, init_key)
    template = jax.tree_util.tree_map(lambda x: x[0], params)
    coordinates = _coordinates(
        quotient, template, problem.symmetry, max_reflections, reparam_gap
    )
    positions = jax.jit(jax.vmap(coordinates.from_params))(params)
    is_sg = kernel in ("sgld", "sghmc")
    settings = RunSettings(
        kernel=kernel,
        quotient=quotient,
        num_chains=int(num_chains),
        num_warmup=int(num_warmup),
        num_samples=int(num_samples),
        thinning=int(thinning),
        num_integration_steps=int(num_integration_steps),
        max_num_doublings=int(max_num_doublings),
        target_acceptance_rate=float(target_acceptance_rate),
        dense_mass=bool(dense_mass),
        adapt_step_size=step_size is None,
        adapt_mass_matrix=inverse_mass_matrix is None,
        batch_size=0
        if not is_sg
        else int(batch_size or min(32, problem.num_data or 1)),
        temperature=float(temperature),
        friction=float(friction),
    )
    if is_sg:
        carry, step = _setup_sg(
            problem, settings, coordinates, positions, step_size, run_key
        )
    else:
        carry, step = _setup_hmc(
            problem,
            settings,
            coordinates,
            positions,
            template,
            step_size,
            inverse_mass_matrix,
            setup_key,
            run_key,
        )
    config = {
        "kernel": kernel,
        "quotient": quotient,
        "num_chains": settings.num_chains,
        "num_warmup": settings.num_warmup,
        "num_samples": settings.num_samples,
        "thinning": settings.thinning,
        "num_params": int(ravel_pytree(template)[0].shape[0]),
        "log10_group_order": problem.symmetry.log10_order(),
        "key": np.asarray(jax.random.key_data(key)).tolist(),
        "canonical_method": canonical_method,
        "dense_mass": settings.dense_mass,
        "batch_size": settings.batch_size,
    }
    return _run(
        step,
        carry,
        settings,
        problem,
        coordinates,
        config,
        chunk_size,
        progress_bar,
        checkpoint,
        canonical_method,
    )


def _setup_hmc(
    problem: Problem,
    settings: RunSettings,
    coordinates: Coordinates,
    positions: Any,
    template: Any,
    step_size: Any,
    inverse_mass_matrix: Any,
    setup_key: jax.Array,
    run_key: jax.Array,
) -> tuple[HMCCarry, Callable]:
    logdensity = coordinates.logdensity(problem.logdensity_fn)

    def tracked_logdensity(position: TrackedPosition) -> jax.Array:
        return logdensity(position.coordinates)

    _check_initial_logdensity(logdensity, positions)
    size = int(ravel_pytree(template)[0].shape[0])
    tie = None
    if settings.quotient == "fold":
        if settings.dense_mass:
            raise ValueError(
                "quotient='fold' is exact only with a mass matrix tied across the "
                "units of every axis; symbayes ties diagonal ones only: use "
                "dense_mass=False, or quotient='reflect'/'reparam' (exact with a "
                "dense metric)"
            )
        if inverse_mass_matrix is not None and not is_tied(
            np.asarray(inverse_mass_matrix), template, coordinates.symmetry
        ):
            raise ValueError(
                "quotient='fold' with this inverse_mass_matrix is not exact: it is "
                "not tied across the units of every axis (entries of exchangeable "
                "units differ); tie it with symbayes.quotient.tie_inverse_mass_matrix "
                "or let symbayes adapt it"
            )

        def tie(matrix: jax.Array) -> jax.Array:
            return tie_inverse_mass_matrix(matrix, template, coordinates.symmetry)

    if inverse_mass_matrix is None:
        initial_matrix = jnp.ones(size) if not settings.dense_mass else jnp.eye(size)
    else:
        initial_matrix = jnp.asarray(inverse_mass_matrix)
        expected = (size,) if initial_matrix.ndim == 1 else (size, size)
        if initial_matrix.shape != expected:
            raise ValueError(
                f"inverse_mass_matrix has shape {initial_matrix.shape}; the "
                f"position has {size} coordinates, so use ({size},) or "
                f"({size}, {size})"
            )
    dtype = ravel_pytree(template)[0].dtype
    initial_matrix = initial_matrix.astype(dtype)

    init_state = jax.vmap(
        lambda c: blackjax.mcmc.hmc.init(
            TrackedPosition(c, jnp.zeros((), dtype)), tracked_logdensity
        )
    )(positions)
    if step_size is not None:
        if callable(step_size) or not float(step_size) > 0:
            raise ValueError("HMC/NUTS step_size must be a positive float")
        initial_step = jnp.full(settings.num_chains, float(step_size), dtype)
    else:
        initial_step = _reasonable_step_sizes(
            init_state, tracked_logdensity, initial_matrix, setup_key, settings
        )
    da_init, _, _ = dual_averaging_adaptation(settings.target_acceptance_rate)
    mm_init, _, _ = mass_matrix_adaptation(not settings.dense_mass)

    def adaptation_init(step: jax.Array) -> AdaptationState:
        mass_state = mm_init(size)._replace(inverse_mass_matrix=initial_matrix)
        return AdaptationState(da_init(step), mass_state, step, initial_matrix)

    adaptation = jax.vmap(adaptation_init)(initial_step)
    schedule = np.asarray(
        build_schedule(settings.num_warmup) if settings.num_warmup else [(0, False)],
        dtype=np.int64,
    ).reshape(-1, 2)
    step = _hmc_step_fn(
        settings, coordinates, tracked_logdensity, schedule, tie, run_key
    )
    return HMCCarry(init_state, adaptation), step


def _reasonable_step_sizes(
    init_state: Any,
    logdensity: Callable,
    inverse_mass_matrix: jax.Array,
    key: jax.Array,
    settings: RunSettings,
) -> jax.Array:
    """Hoffman & Gelman's doubling/halving heuristic per chain (blackjax)."""
    kernel = blackjax.hmc.build_kernel()
    metric = tracked_metric(inverse_mass_matrix)

    def one(state, chain_key):
        def generator(step):
            return lambda k, s: kernel(k, s, logdensity, step, metric, 1)

        return find_reasonable_step_size(
            chain_key,
            generator,
            state,
            jnp.asarray(0.1, inverse_mass_matrix.dtype),
            settings.target_acceptance_rate,
        )

    keys = jax.random.split(key, settings.num_chains)
    steps = jax.jit(jax.vmap(one))(init_state, keys)
    return jnp.clip(steps, 1e-6, 10.0)


def _setup_sg(
    problem: Problem,
    settings: RunSettings,
    coordinates: Coordinates,
    positions: Any,
    step_size: Any,
    run_key: jax.Array,
) -> tuple[SGCarry, Callable]:
    if problem.minibatch_logdensity_fn is None or problem.data is None:
        raise ValueError(
            f"{settings.kernel} needs minibatches: pass a model with data=, or "
            "minibatch_logdensity_fn= and data= with a bare log density"
        )
    if settings.batch_size > problem.num_data:
        raise ValueError(
            f"batch_size {settings.batch_size} exceeds the number of data "
            f"{problem.num_data}"
        )
    minibatch = problem.minibatch_logdensity_fn
    transform = coordinates.transform

    def in_coordinates(position: Any, batch: Any) -> jax.Array:
        if transform is not None:
            params, log_jacobian = transform.forward(position)
            return minibatch(params, batch) + log_jacobian
        return minibatch(position, batch)

    _check_initial_logdensity(coordinates.logdensity(problem.logdensity_fn), positions)
    if step_size is None:
        step_size = 1e-4
    if callable(step_size):
        schedule = step_size
    else:
        if not float(step_size) > 0:
            raise ValueError("step_size must be positive")
        constant = float(step_size)

        def schedule(t: jax.Array) -> jax.Array:
            del t
            return jnp.asarray(constant)

    step = _sg_step_fn(
        settings, coordinates, in_coordinates, problem.data, schedule, run_key
    )
    return SGCarry(positions), step


def _default_chunk_size(settings: RunSettings, num_params: int) -> int:
    total = settings.num_warmup + settings.num_samples * settings.thinning
    per_transition = max(1, settings.num_chains * num_params * 4)
    fits = max(1, (256 * 2**20) // per_transition)
    return int(max(1, min(total, fits, 10_000)))


def _run(
    step: Callable,
    carry: Any,
    settings: RunSettings,
    problem: Problem,
    coordinates: Coordinates,
    config: dict,
    chunk_size: int | None,
    progress_bar: bool,
    checkpoint: str | Path | None,
    canonical_method: str,
) -> SampleResult:
    num_params = config["num_params"]
    chunk_size = int(chunk_size or _default_chunk_size(settings, num_params))
    config["chunk_size"] = chunk_size
    plan = _chunk_plan(settings, chunk_size)
    runner = _build_chunk_runner(step, chunk_size)
    start_time = time.perf_counter()
    compiled = runner.lower(carry, jnp.asarray(0), jnp.asarray(1)).compile()
    compile_seconds = time.perf_counter() - start_time

    store = None
    if checkpoint is not None:
        _, (params_shape, _) = jax.eval_shape(step, carry, jnp.asarray(0))
        params_treedef = jax.tree_util.tree_structure(params_shape)
        store = Checkpoint.open(checkpoint, config, carry, params_treedef)
    kept_params, kept_stats = [], []
    phase_seconds = {"warmup": 0.0, "sampling": 0.0}
    num_grad_evals = 0
    first_chunk = 0
    if store is not None and store.completed:
        carry, first_chunk, saved = store.resume(carry)
        kept_params, kept_stats = saved.params, saved.stats
        phase_seconds = saved.phase_seconds
        num_grad_evals = saved.num_grad_evals
    total = settings.num_warmup + settings.num_samples * settings.thinning
    bar = tqdm(
        total=total,
        initial=plan[first_chunk - 1][1] if first_chunk else 0,
        desc=f"{settings.kernel}/{settings.quotient}",
        unit="step",
        disable=not progress_bar,
        leave=False,
    )
    divergences = int(sum(np.sum(s.get("diverging", 0)) for s in kept_stats))
    for index in range(first_chunk, len(plan)):
        start, end, phase = plan[index]
        tick = time.perf_counter()
        carry, (params, stats) = compiled(carry, jnp.asarray(start), jnp.asarray(end))
        params, stats = jax.device_get((params, stats))
        phase_seconds[phase] += time.perf_counter() - tick
        used = end - start
        num_grad_evals += int(np.sum(stats["num_grad_evals"][:used]))
        if phase == "sampling":
            steps = start + np.arange(chunk_size)
            offset = steps - settings.num_warmup
            keep = (steps < end) & (offset % settings.thinning == settings.thinning - 1)
            chunk_params = jax.tree_util.tree_map(lambda x, k=keep: x[k], params)
            chunk_stats = {k: v[keep] for k, v in stats.items()}
            kept_params.append(chunk_params)
            kept_stats.append(chunk_stats)
            divergences += int(np.sum(chunk_stats.get("diverging", 0)))
        if store is not None:
            store.save_chunk(
                index,
                carry,
                kept_params[-1] if phase == "sampling" else None,
                kept_stats[-1] if phase == "sampling" else None,
                phase_seconds,
                num_grad_evals,
            )
        bar.update(used)
        bar.set_postfix(phase=phase, divergences=divergences)
    bar.close()
    return _assemble(
        kept_params,
        kept_stats,
        carry,
        settings,
        problem,
        config,
        Timings(
            compile_seconds,
            phase_seconds["warmup"],
            phase_seconds["sampling"],
            0.0,
            num_grad_evals,
        ),
        canonical_method,
    )


def _finite_draws(params: Any) -> np.ndarray:
    """``(chain, draw)`` mask of draws whose every entry is finite."""
    leaves = jax.tree_util.tree_leaves(params)
    mask = np.ones(leaves[0].shape[:2], dtype=bool)
    for leaf in leaves:
        mask &= np.all(np.isfinite(leaf.reshape(leaf.shape[:2] + (-1,))), axis=2)
    return mask


def _canonical_draws(params: Any, symmetry: Symmetry, method: str) -> Any:
    """Canonical ``(chain, draw)`` draws by ``sort`` or ``relabel``.

    Draws holding NaN or inf (a stochastic-gradient chain that diverged: it
    stays non-finite, and every such draw is counted in ``diverging``) are
    kept as they are, with a warning; the others are canonicalised. For
    ``relabel`` the non-finite draws are stood in for by a finite one while
    the pivot is computed, then put back.
    """
    finite = _finite_draws(params)
    if not finite.all():
        bad_chains = sorted({int(c) for c in np.nonzero(~finite)[0]})
        warnings.warn(
            f"{int((~finite).sum())} of {finite.size} draws hold NaN or inf "
            f"(chains {bad_chains}): the sampler diverged there (for SGLD/SGHMC "
            "lower the step size). These draws are kept as they are; the "
            "others are canonicalised.",
            RuntimeWarning,
            stacklevel=3,
        )
        if not finite.any():
            return params
        stand_in = np.argwhere(finite)[0]
        params_in = jax.tree_util.tree_map(
            lambda x: np.where(
                finite.reshape(finite.shape + (1,) * (x.ndim - 2)),
                x,
                x[stand_in[0], stand_in[1]],
            ),
            params,
        )
    else:
        params_in = params
    if method == "relabel":
        canonical = relabel(params_in, symmetry).draws
    else:
        canonical = canonicalize(params_in, symmetry, "sort", batch_ndim=2)
    canonical = jax.tree_util.tree_map(np.asarray, jax.block_until_ready(canonical))
    if finite.all():
        return canonical
    return jax.tree_util.tree_map(
        lambda c, x: np.where(finite.reshape(finite.shape + (1,) * (x.ndim - 2)), c, x),
        canonical,
        params,
    )


def _assemble(
    kept_params: list,
    kept_stats: list,
    carry: Any,
    settings: RunSettings,
    problem: Problem,
    config: dict,
    timings: Timings,
    canonical_method: str,
) -> SampleResult:
    """Concatenate chunks, map to (chain, draw), canonicalise, package."""
    params = jax.tree_util.tree_map(lambda *x: np.concatenate(x), *kept_params)
    stats = {k: np.concatenate([s[k] for s in kept_stats]) for k in kept_stats[0]}
    params = jax.tree_util.tree_map(lambda x: np.swapaxes(x, 0, 1), params)
    stats = {k: np.swapaxes(v, 0, 1) for k, v in stats.items()}
    if problem.postprocess is not None:
        params = jax.jit(jax.vmap(jax.vmap(problem.postprocess)))(params)
        params = jax.tree_util.tree_map(np.asarray, params)
    tick = time.perf_counter()
    canonical = _canonical_draws(params, problem.symmetry, canonical_method)
    canonical_seconds = time.perf_counter() - tick
    adaptation = {}
    if isinstance(carry, HMCCarry):
        final_step = jax.vmap(lambda a: _sampling_step_size(a, settings))(
            carry.adaptation
        )
        adaptation = {
            "step_size": np.asarray(final_step),
            "inverse_mass_matrix": np.asarray(carry.adaptation.inverse_mass_matrix),
        }
    return SampleResult(
        draws=canonical,
        raw_draws=params if settings.quotient == "none" else None,
        sample_stats=stats,
        timings=timings._replace(canonical_seconds=canonical_seconds),
        config=config,
        adaptation=adaptation,
        symmetry=problem.symmetry,
    )
