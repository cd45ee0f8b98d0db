"""``sample``: the entry that composes a kernel, a quotient mode and the driver.

:func:`sample` checks every argument and the declared symmetry before any
sampling, draws the initial points (vectorised), builds the quotient mode
(:mod:`symbayes.quotient`) and the kernel (:mod:`symbayes.kernels`), runs
them with the chunked driver (:mod:`symbayes.driver`) and returns canonical
draws in a :class:`~symbayes.results.SampleResult`.

Arguments are what every kernel shares; a kernel's own options (step size,
mass matrix, tree depth, friction, ...) are keyword arguments routed to it
(``sample(model, kernel="nuts", max_num_doublings=8)``), or set on a kernel
object (``sample(model, kernel=symbayes.kernels.NUTS(max_num_doublings=8))``).
"""

from __future__ import annotations

import secrets
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from symbayes import driver
from symbayes.canonical import canonicalize, check_finite, relabel
from symbayes.checkpoint import Checkpoint, data_hash
from symbayes.datasets import as_data_tuple
from symbayes.devices import common_seed, gather_output, layout_for, local_block
from symbayes.kernels import KERNELS, Kernel, make_kernel, polynomial_schedule
from symbayes.quotient import (
    KeyChoice,
    Quotient,
    build_quotient,
    check_mode,
    choose_keys,
)
from symbayes.results import SampleResult, Timings
from symbayes.symmetry import Symmetry, SymmetryError
from symbayes.validation import (
    check_memory,
    estimate_memory,
    num_coordinates,
    verify_symmetry,
)

__all__ = ["KERNELS", "REPARAM_TOLERANCE", "polynomial_schedule", "sample"]

# reparam is refused when a pilot chain has any draw across a wall of the
# chosen keys whose glue moves the point (a score of 1 / draws for one such
# draw; measured: one such draw in 200 already came with a trapped chain on a
# 1-2-1 tanh network)
REPARAM_TOLERANCE = 1e-3
# and after sampling, a reparam chain whose median log density lies below this
# quantile of the none pilot's draws is trapped in a piece of the cut domain
# (measured: chains at medians 118 and 166 against a pilot at 184 +- 2 on a
# 1-2-1 tanh network on the izmailov data, whose pilot crossed no wall)
REPARAM_LOW_QUANTILE = 0.005
CANONICAL_METHODS = ("sort", "relabel")
REPARAM_CHECKS = ("refuse", "warn", "off")
_DRAW_BYTES_PER_CHUNK = 256 * 2**20


# ------------------------------------------------------------------ problem
@dataclass(frozen=True, eq=False)
class ProblemInfo:
    """A model or a bare log density, with its data, as the driver needs it."""

    problem: driver.Problem
    symmetry: Symmetry
    data: tuple
    num_data: int | None
    init_fn: Callable[[jax.Array], Any] | None
    function: Callable[[Any], Callable | None] | None
    postprocess: Callable[[Any], Any] | None
    model: Any


def _identity(thing: Any) -> Any:
    try:
        hash(thing)
    except TypeError:
        return ("id", id(thing))
    return thing


def _problem(
    model_or_logdensity_fn: Any,
    symmetry: Symmetry | None,
    data: Any,
    minibatch_logdensity_fn: Callable | None,
) -> ProblemInfo:
    from symbayes.models.base import BayesianModel

    if isinstance(model_or_logdensity_fn, BayesianModel):
        model = model_or_logdensity_fn
        bound = getattr(model, "data", None)
        data = as_data_tuple(data if data is not None else bound)
        if data is None and not hasattr(model, "data"):
            raise ValueError(
                f"model {model.name!r} needs data=: a tuple (X, y), (X,) or a "
                "symbayes.datasets.Dataset"
            )
        check = getattr(model, "check_data", None)
        if data is not None and check is not None:
            check(data)
        if symmetry is not None and not isinstance(symmetry, Symmetry):
            raise TypeError(f"symmetry must be a symbayes.Symmetry, got {symmetry!r}")
        num_data = None if data is None else int(np.shape(data[0])[0])
        data_tuple = tuple(jnp.asarray(x) for x in data) if data is not None else ()
        minibatch = None
        if num_data:
            minibatch = model.minibatch_logdensity_fn

        def logdensity(data_: tuple) -> Callable:
            return model.logdensity_fn(data_ if data_ else None)

        def function(data_: tuple) -> Callable | None:
            return model.function_fn(data_) if data_ else None

        return ProblemInfo(
            problem=driver.Problem(
                logdensity, minibatch, _identity(model), description=repr(model)
            ),
            symmetry=symmetry or model.symmetry,
            data=data_tuple,
            num_data=num_data,
            init_fn=lambda key: model.init(key, data),
            function=function if data is not None else None,
            postprocess=getattr(model, "constrain", None),
            model=model,
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
    if not isinstance(symmetry, Symmetry):
        raise TypeError(f"symmetry must be a symbayes.Symmetry, got {symmetry!r}")
    fn = model_or_logdensity_fn
    data = as_data_tuple(data)
    data_tuple = tuple(jnp.asarray(x) for x in data) if data is not None else ()
    num_data = None if data is None else int(np.shape(data[0])[0])
    minibatch = None
    if minibatch_logdensity_fn is not None:
        if not callable(minibatch_logdensity_fn):
            raise TypeError("minibatch_logdensity_fn must be callable")

        def minibatch(num_data: int) -> Callable:
            return minibatch_logdensity_fn

    return ProblemInfo(
        problem=driver.Problem(
            lambda data_: fn,
            minibatch,
            ("fn", _identity(fn), _identity(minibatch_logdensity_fn)),
            description=getattr(fn, "__qualname__", repr(fn)),
        ),
        symmetry=symmetry,
        data=data_tuple,
        num_data=num_data,
        init_fn=None,
        function=None,
        postprocess=None,
        model=None,
    )


# --------------------------------------------------------------- validation
def _validate(
    quotient: str,
    num_chains: Any,
    num_warmup: Any,
    num_samples: Any,
    thinning: Any,
    chunk_size: Any,
    chain_method: str,
    canonical_method: str,
    reparam_check: str,
) -> None:
    check_mode(quotient)
    for name, value, minimum in (
        ("num_chains", num_chains, 1),
        ("num_warmup", num_warmup, 0),
        ("num_samples", num_samples, 1),
        ("thinning", thinning, 1),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | np.integer)
            or value < minimum
        ):
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if chunk_size is not None and (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, int | np.integer)
        or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    driver.resolve_chain_method(chain_method)
    if canonical_method not in CANONICAL_METHODS:
        raise ValueError(
            f"unknown canonical_method {canonical_method!r}; choose one of "
            f"{CANONICAL_METHODS}"
        )
    if reparam_check not in REPARAM_CHECKS:
        raise ValueError(
            f"reparam_check must be one of {REPARAM_CHECKS}, got {reparam_check!r}"
        )


def normalize_key(key: Any) -> tuple[jax.Array, int | None]:
    """A typed PRNG key, and the seed drawn when ``key`` is ``None``.

    ``key=None`` draws a fresh seed from the operating system (two calls give
    different draws); the seed is recorded in the result's config, so the
    run can be repeated with ``key=result.config["seed"]``.
    """
    seed = None
    if key is None:
        seed = secrets.randbits(63)
        return jax.random.key(seed), seed
    if isinstance(key, bool):
        raise TypeError(f"key must be an int seed or a JAX PRNG key, got {key!r}")
    if isinstance(key, int | np.integer):
        return jax.random.key(int(key)), int(key)
    key = jnp.asarray(key) if not hasattr(key, "dtype") else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key, None
    return jax.random.wrap_key_data(jnp.asarray(key, jnp.uint32)), None


def _shapes(tree: Any) -> str:
    """``{path: shape}`` of a pytree, for messages."""
    return ", ".join(
        f"{jax.tree_util.keystr(path) or 'params'}: {tuple(np.shape(x))}"
        for path, x in jax.tree_util.tree_leaves_with_path(tree)
    )


def _model_shapes(info: ProblemInfo, key: jax.Array) -> Any:
    """The shapes of one params pytree of the model (``None``: no model init)."""
    if info.init_fn is None:
        return None
    try:
        return jax.eval_shape(info.init_fn, key)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return None


def _fits(tree: Any, shapes: Any, lead: tuple[int, ...]) -> bool:
    """Whether ``tree`` has the structure of ``shapes``, each leaf ``lead + shape``."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    expected, expected_def = jax.tree_util.tree_flatten(shapes)
    return treedef == expected_def and all(
        tuple(np.shape(x)) == (*lead, *e.shape) for x, e in zip(leaves, expected)
    )


def _init_per_chain(
    info: ProblemInfo,
    init_params: Any,
    num_chains: int,
    key: jax.Array,
    per_chain: bool | None,
) -> bool:
    """Whether ``init_params`` hold one point per chain or one point for all.

    One point must fit the symmetry (and the model's params, with a model);
    points per chain must have leading axis ``num_chains`` on every leaf and
    fit as well after it. ``per_chain=None`` infers the reading and refuses
    when both fit: with a bare log density and a symmetry that acts on no
    leading axis (e.g. ``Symmetry(())``) 8 points of dimension 24 and one of
    dimension 192 read alike.

    Raises:
        ValueError: no arrays, a leading axis that is not
            ``num_chains`` (``per_chain=True``), shapes that are not the
            model's, or an ambiguous reading.
        SymmetryError: params that do not fit the symmetry.
    """
    leaves = jax.tree_util.tree_leaves(init_params)
    if not leaves:
        raise ValueError("init_params hold no arrays")
    leading = all(np.shape(x)[:1] == (num_chains,) for x in leaves)
    first = jax.tree_util.tree_map(lambda x: x[0], init_params) if leading else None
    if per_chain:
        if not leading:
            raise ValueError(
                f"init_per_chain=True needs leading axis num_chains={num_chains} on "
                f"every leaf of init_params; got {_shapes(init_params)}"
            )
        info.symmetry.validate(first)
        return True
    if per_chain is not None:
        info.symmetry.validate(init_params)
        return False
    shapes = _model_shapes(info, key)
    single_error = _symmetry_error(info.symmetry, init_params)
    several_error = _symmetry_error(info.symmetry, first) if leading else None
    single = single_error is None and (shapes is None or _fits(init_params, shapes, ()))
    several = (
        leading
        and several_error is None
        and (shapes is None or _fits(init_params, shapes, (num_chains,)))
    )
    if single and several:
        raise ValueError(
            f"init_params are ambiguous: every leaf has leading axis "
            f"num_chains={num_chains} and they fit the symmetry both as one point "
            f"({_shapes(init_params)}) and as {num_chains} points; pass "
            "init_per_chain=True (one point per chain) or init_per_chain=False "
            "(one point, every chain starts there)"
        )
    if single or several:
        return several
    # neither: the error of the reading the leading axes point to
    error = several_error if leading else single_error
    if error is not None:
        raise error
    raise ValueError(
        f"init_params ({_shapes(init_params)}) are neither one params pytree of "
        f"the model ({_shapes(shapes)}) nor one per chain (the same with leading "
        f"axis num_chains={num_chains})"
    )


def _symmetry_error(symmetry: Symmetry, params: Any) -> SymmetryError | None:
    """The error of ``symmetry.validate(params)``, ``None`` when params fit."""
    try:
        symmetry.validate(params)
    except SymmetryError as error:
        return error
    return None


def _initial_params(
    info: ProblemInfo,
    init_params: Any,
    num_chains: int,
    key: jax.Array,
    per_chain: bool = False,
) -> Any:
    """Per-chain initial params ``(num_chains, ...)``, drawn vectorised, validated.

    ``per_chain``: how given ``init_params`` read (:func:`_init_per_chain`).
    """
    if init_params is None:
        if info.init_fn is None:
            raise ValueError("init_params is required with a bare log-density function")
        keys = jax.random.split(key, num_chains)
        try:
            program, _ = driver.compiled(
                ("init_params", info.problem.identity),
                lambda: jax.vmap(info.init_fn),
                keys,
            )
            params = program(keys)
        except (TypeError, jax.errors.ConcretizationTypeError):
            draws = [info.init_fn(k) for k in keys]
            params = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *draws)
        check_finite(params, "initial params drawn from the model")
        return params
    check_finite(init_params, "init_params")
    if not per_chain:
        init_params = jax.tree_util.tree_map(
            lambda x: jnp.broadcast_to(jnp.asarray(x), (num_chains, *np.shape(x))),
            init_params,
        )
    return jax.tree_util.tree_map(jnp.asarray, init_params)


def _ensemble(info: ProblemInfo, name: str, num_chains: int, key: jax.Array):
    """Starts for ``init_params="ensemble"`` (:mod:`symbayes.ensemble`)."""
    if name != "ensemble":
        raise ValueError(
            f'init_params={name!r}: the only named start is "ensemble"; otherwise '
            "pass params (one pytree, or one per chain) or None (prior draws)"
        )
    from symbayes.ensemble import ensemble_starts

    return ensemble_starts(
        info.problem.logdensity(info.data),
        info.init_fn,
        info.symmetry,
        num_chains,
        jax.random.fold_in(key, 7),
    )


def _template(
    info: ProblemInfo, init_params: Any, key: jax.Array, per_chain: bool = False
) -> Any:
    """One params pytree, to size the run before anything is allocated."""
    if init_params is None:
        if info.init_fn is None:
            raise ValueError("init_params is required with a bare log-density function")
        return jax.eval_shape(info.init_fn, key)
    if per_chain:
        return jax.tree_util.tree_map(lambda x: x[0], init_params)
    return init_params


def _format_values(values: np.ndarray) -> str:
    return "[" + ", ".join("nan" if np.isnan(v) else f"{v:.6g}" for v in values) + "]"


def _check_initial_logdensity(
    info: ProblemInfo, quotient: Quotient, positions: Any, quotient_key: Any
) -> None:
    def build():
        def evaluate(positions, data):
            raw = info.problem.logdensity(data)
            in_coordinates = quotient.logdensity(raw)

            def one(position):
                params, log_jacobian = (
                    quotient.transform.forward(position)
                    if quotient.transform is not None
                    else (position, 0.0)
                )
                return raw(params) + log_jacobian, in_coordinates(position)

            return jax.vmap(one)(positions)

        return evaluate

    program, _ = driver.compiled(
        ("initial_logdensity", info.problem.identity, quotient_key),
        build,
        positions,
        info.data,
    )
    raw_values, _ = program(positions, info.data)
    values = np.asarray(raw_values, np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            "the log density is not finite at the initial point of chain(s) "
            f"{bad.tolist()[:10]} (values {_format_values(values[bad][:10])}); choose "
            "other init_params or check the model and data"
        )


def _quotient_key(quotient: Quotient) -> Any:
    return (quotient.mode, quotient.symmetry, quotient.transform)


def _chunk_sizes(
    num_warmup: int,
    num_samples: int,
    thinning: int,
    num_chains: int,
    num_params: int,
    chunk_size: int | None,
) -> tuple[int, int]:
    """Transitions per warmup chunk, kept draws per sampling chunk."""
    if chunk_size is not None:
        return max(1, min(chunk_size, max(num_warmup, 1))), max(
            1, min(num_samples, chunk_size // thinning or 1)
        )
    per_draw = max(1, num_chains * (num_params + 8) * 4)
    fits = max(1, _DRAW_BYTES_PER_CHUNK // per_draw)
    return max(1, min(max(num_warmup, 1), 10_000)), int(
        max(1, min(num_samples, fits, 10_000))
    )


# ------------------------------------------------------------------ reparam
def _choose_reparam_keys(
    info: ProblemInfo,
    params: Any,
    template: Any,
    kernel: Kernel,
    *,
    num_warmup: int,
    pilot_draws: int,
    key: jax.Array,
    reparam_check: str,
    chain_method: str,
) -> tuple[Symmetry | None, tuple[KeyChoice, ...], np.ndarray | None]:
    """Pilot ``none`` run, keys that cross least, refusal if they still cross.

    Returns the ordering symmetry, the key choices and the pilot's
    ``(chain, draw)`` log densities (for :func:`_check_reparam_draws`).
    """
    if reparam_check == "off":
        return None, (), None
    finite = info.symmetry.without_scale()
    if not finite.axes:
        return None, (), None
    pilot_kernel = kernel if "none" in kernel.quotients else make_kernel("nuts", {})
    pilot = sample(
        info.model if info.model is not None else info.problem.logdensity(()),
        params,
        None if info.model is not None else info.symmetry,
        init_per_chain=True,
        data=info.data if info.data else None,
        kernel=pilot_kernel,
        quotient="none",
        num_chains=int(jax.tree_util.tree_leaves(params)[0].shape[0]),
        num_warmup=min(num_warmup, 300),
        num_samples=pilot_draws,
        key=key,
        chain_method=chain_method,
        check_symmetry=False,
        progress_bar=False,
        minibatch_logdensity_fn=None,
    )
    symmetry, choices = choose_keys(pilot.raw_draws, finite, template)
    tolerance = min(REPARAM_TOLERANCE, 0.5 / max(pilot_draws, 1))
    crossing = [c for c in choices if c.crossing > tolerance]
    if crossing and reparam_check == "refuse":
        worst = max(crossing, key=lambda c: c.crossing)
        raise ValueError(
            f"quotient='reparam' would cut this posterior: on axis {worst.axis!r} "
            "even the best ordering key crosses its walls (in a "
            f"{pilot_draws}-draw pilot of quotient='none', {worst.worst}). The "
            "ordering restricts the posterior to the sort domain, which is the "
            "quotient posterior only where no mass straddles a wall. Use "
            "quotient='fold' or 'glue' (exact, never cut) or 'none'; "
            "reparam_check='warn' samples anyway"
        )
    if crossing:
        warnings.warn(
            "quotient='reparam' restricts the posterior where keys overlap: "
            + "; ".join(f"axis {c.axis!r}: {c.worst}" for c in crossing),
            UserWarning,
            stacklevel=3,
        )
    if pilot_kernel.minibatch:  # no full-data log density to compare with
        return symmetry, choices, None
    return symmetry, choices, np.asarray(pilot.sample_stats["logdensity"])


def _check_reparam_draws(
    pilot_logdensity: np.ndarray, logdensity: np.ndarray, reparam_check: str
) -> None:
    """Refuse a ``reparam`` run with a chain where the posterior has almost no mass.

    A chain the ordering traps in a piece of the cut domain sits at log
    densities that the unrestricted ``none`` pilot almost never visits. The
    rule: the median of a chain's log densities below the pilot's
    :data:`REPARAM_LOW_QUANTILE` quantile (all pilot draws pooled). A chain
    of the true posterior has its median there with probability about
    nil; only the low side is checked, since a mode of higher density that
    the pilot missed is no evidence of a cut.
    """
    pilot = pilot_logdensity[np.isfinite(pilot_logdensity)]
    if pilot.size == 0:
        return
    floor = float(np.quantile(pilot, REPARAM_LOW_QUANTILE))
    medians = np.median(np.where(np.isfinite(logdensity), logdensity, -np.inf), 1)
    trapped = np.flatnonzero(medians < floor)
    if trapped.size == 0:
        return
    message = (
        "quotient='reparam' would cut this posterior: it trapped chain(s) "
        f"{trapped.tolist()} where the posterior has almost no mass: median "
        "log density "
        f"{[round(float(m), 2) for m in medians[trapped]]} against the "
        f"{REPARAM_LOW_QUANTILE:.1%} quantile {floor:.2f} of the draws of a "
        "quotient='none' pilot. The ordered domain cuts this posterior into "
        "pieces; use quotient='fold' or 'glue' (exact, never cut) or 'none'"
    )
    if reparam_check == "refuse":
        raise ValueError(message + "; reparam_check='warn' returns the draws")
    warnings.warn(message, UserWarning, stacklevel=3)


# -------------------------------------------------------------------- draws
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
    params_in = params
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


def _draw_logdensity(info: ProblemInfo, positions: Any) -> np.ndarray:
    """``(chain, draw)`` log density of kept draws (params coordinates)."""

    def one(params: Any, data: Any) -> jax.Array:
        return info.problem.logdensity(data)(params)

    program, _ = driver.compiled(
        ("draw_logdensity", info.problem.identity),
        lambda: jax.vmap(jax.vmap(one, (0, None)), (0, None)),
        positions,
        info.data,
    )
    return np.asarray(program(positions, info.data))


def _postprocess(info: ProblemInfo, draws: Any) -> Any:
    if info.postprocess is None:
        return draws
    program, _ = driver.compiled(
        ("postprocess", info.problem.identity),
        lambda: jax.vmap(jax.vmap(info.postprocess)),
        draws,
    )
    return jax.tree_util.tree_map(np.asarray, program(draws))


# ------------------------------------------------------------------ sample
def sample(
    model_or_logdensity_fn: Any,
    init_params: Any = None,
    symmetry: Symmetry | None = None,
    *,
    init_per_chain: bool | None = None,
    data: Any = None,
    kernel: str | Kernel = "nuts",
    quotient: str = "none",
    num_chains: int = 4,
    num_warmup: int = 500,
    num_samples: int = 500,
    key: Any = None,
    thinning: int = 1,
    chain_method: Literal["auto", "vectorized", "sequential"] = "auto",
    canonical_method: Literal["sort", "relabel"] = "sort",
    check_symmetry: bool = True,
    reparam_check: Literal["refuse", "warn", "off"] = "refuse",
    reparam_gap: Literal["softplus", "exp"] = "softplus",
    reparam_pilot_draws: int = 200,
    minibatch_logdensity_fn: Callable | None = None,
    chunk_size: int | None = None,
    progress_bar: bool = True,
    checkpoint: str | Path | None = None,
    devices: Any = None,
    **kernel_options: Any,
) -> SampleResult:
    """Sample a posterior on the quotient of its parameter-space symmetry.

    Args:
        model_or_logdensity_fn: a :class:`symbayes.models.BayesianModel`
            (log density from ``data``; numpyro models included through
            :class:`symbayes.models.NumpyroModel`), or a log-density function of
            one params pytree.
        init_params: one params pytree (every chain starts there) or one per
            chain (leading axis ``num_chains``); drawn from the model when None;
            ``"ensemble"``: prior draws optimised to MAP estimates by Adam,
            members in one canonical mode re-drawn once, the report in
            ``result.config["ensemble"]`` (:mod:`symbayes.ensemble`).
        symmetry: required with a bare log density; defaults to the model's.
        init_per_chain: how given ``init_params`` read: ``True`` one point
            per chain (leading axis ``num_chains``), ``False`` one point for
            every chain, ``None`` (default) inferred from the model's params
            or the symmetry, refused when both readings fit (a bare log
            density whose symmetry acts on no leading axis). Unused without
            given ``init_params``.
        data: the model's data tuple (or a :class:`symbayes.datasets.Dataset`).
        kernel: a name from :data:`symbayes.kernels.KERNELS` (``"nuts"``,
            ``"hmc"``, ``"sgld"``, ``"psgld"``, ``"sghmc"``, ``"psghmc"``,
            ...) or a kernel object.
        quotient: ``"none"``, ``"fold"``, ``"glue"`` or ``"reparam"``
            (:mod:`symbayes.quotient`).
        num_chains: number of chains.
        num_warmup: warmup (adaptation) transitions; burn-in for SG kernels.
        num_samples: kept draws per chain.
        key: PRNG key or int seed; ``None`` draws a fresh seed, recorded in
            ``result.config["seed"]``.
        thinning: transitions per kept draw (thinned on the device).
        chain_method: ``"sequential"`` (``lax.map``: fastest on CPU),
            ``"vectorized"`` (vmap: GPU/TPU) or ``"auto"`` (by backend).
            The same key gives the same draws whatever the method.
        canonical_method: post-hoc canonical map of the draws: ``"sort"``
            (per draw) or ``"relabel"`` (pivotal relabelling of all draws).
        check_symmetry: before sampling, verify at an initial point that
            every declared permutation and sign group leaves the log density
            unchanged and every scale group the model's outputs; refuse
            otherwise (``False`` skips the check).
        reparam_check: for ``quotient="reparam"``: a pilot of
            ``quotient="none"`` picks the ordering keys whose walls no chain
            crosses and ``"refuse"`` (default) raises if even the best crosses;
            ``"warn"`` samples anyway with a warning; ``"off"`` skips the pilot.
        reparam_gap: ``"softplus"`` or ``"exp"`` gaps of the ordered transform.
        reparam_pilot_draws: draws per chain of that pilot.
        minibatch_logdensity_fn: SG kernels with a bare log density:
            ``(params, batch) -> log prior + n / b * sum log lik``.
        chunk_size: transitions per compiled chunk (default: fits 256 MiB of
            draws).
        progress_bar: show a tqdm bar (compilation, warmup, sampling).
        checkpoint: a folder; chunks and states are saved there and a killed
            run resumes from it (refused if it belongs to another run).
            With several processes each writes ``<checkpoint>/process-<k>/``.
        devices: split the chains over devices (:mod:`symbayes.devices`):
            ``None`` (one device; every device of every process after
            ``jax.distributed.initialize()``), an int (the first ``n`` of
            ``jax.devices()``) or a list of devices. Chains that do not divide
            evenly are padded with dummy chains that are dropped; the same
            key gives the same draws on any number of devices.
        **kernel_options: options of the kernel, e.g. ``step_size``,
            ``inverse_mass_matrix``, ``dense_mass``, ``target_acceptance_rate``,
            ``adaptation`` (``"per_chain"``, ``"pooled"``, ``"raw_pooled"``),
            ``max_num_doublings`` (NUTS), ``num_integration_steps`` (HMC,
            SGHMC), ``batch_size``, ``temperature``, ``friction`` (SG; their
            ``step_size`` defaults to ``"auto"``, the curvature pilot of
            :mod:`symbayes.kernels.stepsize`, and takes schedules of
            :mod:`symbayes.kernels.schedules`).

    Returns:
        A :class:`symbayes.results.SampleResult`.

    Raises:
        ValueError: bad sizes, an unknown kernel, mode or option, a kernel and
            mode that do not compose exactly (``fold``/``glue`` with a dense or
            untied mass matrix), a ``reparam`` ordering that would cut the
            posterior, a run that does not fit in memory, a non-finite log
            density at an initial point (naming the chain).
        SymmetryError: init params that do not fit the symmetry, or a
            declared group that is not a symmetry of the model.

    Example:
        >>> from symbayes import sample
        >>> from symbayes.models import MLP
        >>> from symbayes.datasets import load
        >>> data = load("sinusoidal")
        >>> result = sample(MLP((1, 3, 1)), data=data, num_chains=2, key=0,
        ...                 num_warmup=50, num_samples=50, quotient="fold",
        ...                 progress_bar=False)  # doctest: +SKIP
    """
    _validate(
        quotient,
        num_chains,
        num_warmup,
        num_samples,
        thinning,
        chunk_size,
        chain_method,
        canonical_method,
        reparam_check,
    )
    if init_per_chain is not None and not isinstance(init_per_chain, bool):
        raise ValueError(
            f"init_per_chain must be True, False or None, got {init_per_chain!r}"
        )
    kernel_obj = make_kernel(kernel, kernel_options)
    kernel_obj.check_run(int(num_warmup))
    layout = layout_for(devices, num_chains, kernel_obj)
    if quotient not in kernel_obj.quotients:
        raise ValueError(
            f"kernel {kernel_obj.name!r} does not support quotient={quotient!r}; it "
            f"supports {', '.join(kernel_obj.quotients)}"
        )
    if checkpoint is not None:
        Checkpoint.check_folder(checkpoint)
    info = _problem(model_or_logdensity_fn, symmetry, data, minibatch_logdensity_fn)
    if kernel_obj.minibatch and (
        info.problem.minibatch_logdensity is None or not info.num_data
    ):
        raise ValueError(
            f"{kernel_obj.name} needs minibatches: pass a model with data=, or "
            "minibatch_logdensity_fn= and data= with a bare log density"
        )
    if kernel_obj.minibatch:
        kernel_obj.resolved_batch_size(info.num_data)
    method = driver.resolve_chain_method(chain_method)
    if layout is not None and chain_method == "auto":
        method = "sequential" if layout.devices[0].platform == "cpu" else "vectorized"
    if kernel_obj.cross_chain and method != "vectorized":
        method = "vectorized"
    drawn = key is None
    key, seed = normalize_key(key)
    if drawn and layout is not None and layout.process_count > 1:
        seed = common_seed(seed, layout)  # every process samples the same run
        key = jax.random.key(seed)
    init_key, setup_key, run_key = jax.random.split(key, 3)
    ensemble_report = None
    if isinstance(init_params, str):
        init_params, ensemble_report = _ensemble(info, init_params, num_chains, key)
    per_chain = ensemble_report is not None
    if init_params is not None and not per_chain:
        per_chain = _init_per_chain(
            info, init_params, num_chains, init_key, init_per_chain
        )
    template_shape = _template(info, init_params, init_key, per_chain)
    num_params = num_coordinates(template_shape)
    warmup_chunk, sample_chunk = _chunk_sizes(
        num_warmup, num_samples, thinning, num_chains, num_params, chunk_size
    )
    check_memory(
        estimate_memory(
            num_params,
            num_chains,
            num_samples,
            sample_chunk,
            dense=bool(getattr(kernel_obj, "dense_mass", False)),
        ),
        sample_chunk,
        num_chains,
    )
    params = _initial_params(info, init_params, num_chains, init_key, per_chain)
    template = jax.tree_util.tree_map(lambda x: x[0], params)
    info.symmetry.validate(template)
    if check_symmetry:

        def build(data_: tuple) -> tuple[Callable, Callable | None]:
            function = info.function(data_) if info.function is not None else None
            return info.problem.logdensity(data_), function

        verify_symmetry(
            build,
            info.data,
            template,
            info.symmetry,
            jax.random.fold_in(setup_key, 1),
            has_function=info.function is not None,
            cache_key=info.problem.identity,
        )
    reparam_symmetry, key_choices, pilot_logdensity = None, (), None
    if quotient == "reparam":
        reparam_symmetry, key_choices, pilot_logdensity = _choose_reparam_keys(
            info,
            params,
            template,
            kernel_obj,
            num_warmup=num_warmup,
            pilot_draws=int(reparam_pilot_draws),
            key=jax.random.fold_in(setup_key, 2),
            reparam_check=reparam_check,
            chain_method=chain_method,
        )
    quotient_obj = build_quotient(
        quotient,
        template,
        info.symmetry,
        reparam_gap=reparam_gap,
        reparam_symmetry=reparam_symmetry,
        key_choices=key_choices,
    )
    kernel_obj.validate(quotient_obj, template, num_warmup)
    quotient_key = (*_quotient_key(quotient_obj), driver._signature(template))
    program, _ = driver.compiled(
        ("from_params", quotient_key),
        lambda: jax.vmap(quotient_obj.from_params),
        params,
    )
    positions = program(params)
    _check_initial_logdensity(info, quotient_obj, positions, quotient_key)
    if layout is not None:
        positions = local_block(positions, layout)
    settings = driver.Settings(
        num_chains=int(num_chains if layout is None else layout.num_local),
        num_warmup=int(num_warmup),
        thinning=int(thinning),
        chain_method=method,
        warmup_chunk=int(warmup_chunk),
        sample_chunk=int(sample_chunk),
        progress=bool(progress_bar),
    )
    runners = driver.Runners(
        kernel_obj,
        quotient_obj,
        quotient_key,
        info.problem,
        jax.tree_util.tree_map(lambda x: jnp.zeros_like(x), template),
        settings,
        info.num_data,
        layout,
    )
    config = {
        "kernel": kernel_obj.name,
        "kernel_options": repr(kernel_obj),
        "ensemble": ensemble_report,
        "quotient": quotient,
        "num_chains": int(num_chains),
        "num_warmup": settings.num_warmup,
        "num_samples": int(num_samples),
        "thinning": settings.thinning,
        "chain_method": method,
        "num_params": int(num_params),
        "log10_group_order": info.symmetry.log10_order(),
        "key": np.asarray(jax.random.key_data(key)).tolist(),
        "seed": seed,
        "canonical_method": canonical_method,
        "warmup_chunk": settings.warmup_chunk,
        "sample_chunk": settings.sample_chunk,
    }
    if layout is not None:
        config.update(devices=layout.num_devices, processes=layout.process_count)
    if key_choices:
        config["reparam_keys"] = [
            {
                "axis": c.axis,
                "sort_key": None
                if c.sort_key is None
                else "/".join(c.sort_key.path) + str(list(c.sort_key.index)),
                "crossing": c.crossing,
                "default_crossing": c.default_crossing,
            }
            for c in key_choices
        ]
    store = None
    if checkpoint is not None:
        if layout is not None and layout.process_count > 1:
            checkpoint = Path(checkpoint) / f"process-{layout.process_index}"
        store = _open_checkpoint(
            checkpoint, info, config, runners, positions, run_key, num_samples
        )
    total = settings.num_warmup + int(num_samples) * settings.thinning
    bar = None
    if progress_bar:
        bar = tqdm(
            total=total * settings.num_chains,  # padding chains included
            desc=f"{kernel_obj.name}/{quotient}",
            unit="step",
            leave=False,
        )
    try:
        out = driver.run(
            runners,
            positions,
            info.data,
            run_key,
            num_samples=int(num_samples),
            bar=bar,
            checkpoint=store,
        )
    finally:
        if bar is not None:
            bar.close()
    if layout is not None:
        out = gather_output(out, layout)
    config["pooling"] = out.pooling
    if pilot_logdensity is not None:
        _check_reparam_draws(
            pilot_logdensity,
            _draw_logdensity(info, out.positions),
            reparam_check,
        )
    draws = _postprocess(info, out.positions)
    start = time.perf_counter()
    canonical = _canonical_draws(draws, info.symmetry, canonical_method)
    canonical_seconds = time.perf_counter() - start
    return SampleResult(
        draws=canonical,
        raw_draws=draws if quotient == "none" else None,
        sample_stats=out.stats,
        timings=Timings(
            out.compile_seconds,
            out.warmup_seconds,
            out.sampling_seconds,
            canonical_seconds,
            out.num_grad_evals,
        ),
        config=config,
        adaptation=out.parameters,
        symmetry=info.symmetry,
    )


def _open_checkpoint(
    folder: Any,
    info: ProblemInfo,
    config: dict,
    runners: driver.Runners,
    positions: Any,
    run_key: jax.Array,
    num_samples: int,
) -> Checkpoint:
    """Open the checkpoint with a fingerprint of model, data, symmetry, settings."""
    init_root, _ = jax.random.split(run_key)
    keys = driver._chain_keys(init_root, runners.settings.num_chains)
    program, _ = runners.init(positions, info.data, keys)
    carry = program.out_info
    draws_shape = jax.eval_shape(
        lambda p: jax.vmap(runners.quotient.to_params)(p), positions
    )
    settings = {k: v for k, v in config.items() if k not in ("seed",)}
    parts = {
        "model": info.problem.description,
        "data": data_hash(info.data),
        "symmetry": info.symmetry.describe(),
        "settings": settings,
    }
    return Checkpoint.open(
        folder, parts, carry, jax.tree_util.tree_structure(draws_shape)
    )
