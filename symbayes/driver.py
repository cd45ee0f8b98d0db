"""The driver: runs a built kernel over many chains, in compiled chunks.

A run is init, warmup and sampling. Warmup and sampling are cut into chunks
of transitions; each chunk is one compiled call, and between chunks the host
updates the progress bar, saves a checkpoint and, at the pooling steps of a
kernel (ends of slow windows for pooled warmup), lets the kernel combine
what its chains learnt. Sampling chunks return only the kept draws: thinning
happens on the device, and warmup transitions never leave it.

**Chain execution.** ``chain_method="sequential"`` runs chains one after the
other inside one program (``jax.lax.map``): on XLA:CPU a vmapped NUTS is
slow (batched reductions, and all chains wait for the deepest tree), and a
sequential map is several times faster per gradient. ``"vectorized"``
vmaps the chains (the right choice on GPU/TPU). ``"auto"`` picks sequential
on CPU and vectorized elsewhere. The random key of chain ``c`` at transition
``t`` is ``fold_in(fold_in(key, c), t)`` whatever the method and chunking,
so the draws do not depend on either (up to floating-point reassociation
between vmapped and unvmapped code).

**Several devices.** With a :class:`symbayes.devices.ChainLayout`
(``sample(devices=...)``) every program is wrapped in ``shard_map`` over the
chain axis and the keys are those of the global chain indices, so the draws
do not depend on the number of devices either (:mod:`symbayes.devices`).

**Compiled runners are cached** per kernel, quotient mode, problem, shapes
and settings (:func:`cache_info`): a second ``sample()`` call with the same
model and sizes compiles nothing, even with other data of the same shape
(data is an argument, not a constant). Across processes, JAX's persistent
compilation cache (``jax.config.update("jax_compilation_cache_dir", ...)``)
keeps the compiled programs.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.kernels.base import Kernel, Target, Transitions

__all__ = [
    "CHAIN_METHODS",
    "Problem",
    "RunOutput",
    "cache_info",
    "clear_cache",
    "map_chains",
    "resolve_chain_method",
]

ChainMethod = Literal["auto", "vectorized", "sequential"]
CHAIN_METHODS = ("auto", "vectorized", "sequential")
_CACHE_SIZE = 64
_PROGRESS_TICKS = 40


# ---------------------------------------------------------------- problems
@dataclass(frozen=True, eq=False)
class Problem:
    """How to build the log densities of a run from its data (traced arrays).

    Attributes:
        logdensity: ``data -> (params -> log density)``.
        minibatch_logdensity: ``num_data -> ((params, batch) -> estimate)``,
            or ``None``.
        identity: a hashable that identifies the model (the model object
            itself when it is hashable, else the function objects): part of
            the key of cached runners.
        description: how the problem reads in messages and fingerprints.
    """

    logdensity: Callable[[Any], Callable[[Any], jax.Array]]
    minibatch_logdensity: Callable[[int], Callable[[Any, Any], jax.Array]] | None
    identity: Hashable
    description: str = ""

    def target(self, quotient: Any, data: Any, num_data: int | None) -> Target:
        """The :class:`~symbayes.kernels.base.Target` in sampler coordinates."""
        logdensity = quotient.logdensity(self.logdensity(data))
        minibatch = None
        if self.minibatch_logdensity is not None and num_data:
            minibatch = quotient.minibatch_logdensity(
                self.minibatch_logdensity(num_data)
            )
        return Target(logdensity, minibatch, data, num_data)


# ---------------------------------------------------------------- caching
class _CacheStats:
    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0


_RUNNERS: OrderedDict[Hashable, Any] = OrderedDict()
_STATS = _CacheStats()


class CacheInfo(NamedTuple):
    """Hits and misses of the compiled-runner cache, and its size."""

    hits: int
    misses: int
    size: int


def cache_info() -> CacheInfo:
    """How often a compiled runner was reused (hits) or compiled (misses)."""
    return CacheInfo(_STATS.hits, _STATS.misses, len(_RUNNERS))


def clear_cache() -> None:
    """Forget every compiled runner."""
    _RUNNERS.clear()
    _STATS.hits = _STATS.misses = 0


def _signature(tree: Any) -> Hashable:
    """Shapes, dtypes and structure of a pytree of arrays (a cache key part)."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return (
        treedef,
        tuple((tuple(np.shape(x)), str(jnp.asarray(x).dtype)) for x in leaves),
    )


def compiled(
    key: Hashable,
    build: Callable[[], Callable],
    *args: Any,
    in_shardings: Any = None,
) -> tuple[Any, float]:
    """A compiled program for ``key`` and the shapes of ``args``, and its compile time.

    ``build()`` returns the function to ``jax.jit``; it is called only on a
    cache miss. ``in_shardings`` go to ``jax.jit`` (sharded runs). Returns
    ``(executable, seconds spent compiling)``.
    """
    full_key = (key, _signature(args))
    if full_key in _RUNNERS:
        _STATS.hits += 1
        _RUNNERS.move_to_end(full_key)
        return _RUNNERS[full_key], 0.0
    _STATS.misses += 1
    start = time.perf_counter()
    options = {} if in_shardings is None else {"in_shardings": in_shardings}
    executable = jax.jit(build(), **options).lower(*args).compile()
    seconds = time.perf_counter() - start
    _RUNNERS[full_key] = executable
    while len(_RUNNERS) > _CACHE_SIZE:
        _RUNNERS.popitem(last=False)
    return executable, seconds


# ------------------------------------------------------------ chain methods
def resolve_chain_method(method: str) -> str:
    """``auto`` -> ``sequential`` on CPU, ``vectorized`` on accelerators."""
    if method not in CHAIN_METHODS:
        raise ValueError(
            f"unknown chain_method {method!r}; choose one of {CHAIN_METHODS}"
        )
    if method != "auto":
        return method
    return "sequential" if jax.default_backend() == "cpu" else "vectorized"


def map_chains(fn: Callable, method: str, *args: Any) -> Any:
    """Apply ``fn`` to every chain of ``args`` (leading axis): vmap or lax.map."""
    if method == "vectorized":
        return jax.vmap(fn)(*args)
    return jax.lax.map(lambda xs: fn(*xs), args)


# ----------------------------------------------------------------- progress
class ProgressSink:
    """Where a compiled runner's host callbacks report progress.

    The callback is part of the compiled program, which is cached and reused
    by later runs; each run points the sink at its own bar while it runs.
    """

    def __init__(self) -> None:
        self.update: Callable[[int, int], None] | None = None

    def __call__(self, chain: Any, step: Any) -> None:
        if self.update is not None:
            self.update(int(chain), int(step))


@dataclass
class Progress:
    """Per-chain progress of the current phase, shown on a tqdm bar."""

    bar: Any
    num_chains: int
    offset: int = 0
    done: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def start_chunk(self, start: int, method: str) -> None:
        if self.done.size != self.num_chains:
            self.done = np.zeros(self.num_chains, np.int64)
        self.chunk_start = start
        self.method = method
        self.base = self.done.copy()

    def update(self, chain: int, step: int) -> None:
        if self.bar is None:
            return
        steps = step - self.chunk_start + 1
        if self.method == "vectorized" or chain < 0:
            self.done[:] = self.base + steps
        else:
            self.done[chain] = self.base[chain] + steps
        total = int(self.done.sum())
        self.bar.n = min(self.offset + total, self.bar.total)
        self.bar.refresh()

    def end_chunk(self, transitions: int) -> None:
        self.done = self.base + transitions


def _tick_every(chunk_length: int) -> int:
    return max(1, chunk_length // _PROGRESS_TICKS)


# ----------------------------------------------------------------- runners
class Settings(NamedTuple):
    """Static settings of the runners of one run (part of the cache key)."""

    num_chains: int
    num_warmup: int
    thinning: int
    chain_method: str
    warmup_chunk: int
    sample_chunk: int
    progress: bool


class RunOutput(NamedTuple):
    """What :func:`run` returns (host arrays, leading axis chain)."""

    positions: Any  # params of kept draws, (chain, draw, ...)
    stats: dict[str, np.ndarray]
    chains: Any
    parameters: dict[str, np.ndarray]
    compile_seconds: float
    warmup_seconds: float
    sampling_seconds: float
    num_grad_evals: int
    pooling: list


def _chain_keys(root: jax.Array, num_chains: int, indices: Any = None) -> jax.Array:
    """Key of chain ``c``: ``fold_in(root, c)``, ``c`` the global chain index."""
    indices = jnp.arange(num_chains) if indices is None else jnp.asarray(indices)
    return jax.vmap(lambda c: jax.random.fold_in(root, c))(indices)


class Runners:
    """Build (and cache) the compiled programs of one run."""

    def __init__(
        self,
        kernel: Kernel,
        quotient: Any,
        quotient_key: Hashable,
        problem: Problem,
        template: Any,
        settings: Settings,
        num_data: int | None,
        layout: Any = None,
    ) -> None:
        self.kernel = kernel
        self.layout = layout  # a symbayes.devices.ChainLayout, or None
        self.quotient = quotient
        self.problem = problem
        self.template = template
        self.settings = settings
        self.num_data = num_data
        self.key = (
            kernel,
            quotient_key,
            problem.identity,
            settings,
            num_data,
            _signature(template),
            None if layout is None else layout.key,
        )
        sink_key = ("sink", *self.key)
        if sink_key not in _SINKS:
            _SINKS[sink_key] = ProgressSink()
        self.sink = _SINKS[sink_key]

    def transitions(self, data: Any) -> Transitions:
        target = self.problem.target(self.quotient, data, self.num_data)
        return self.kernel.build(
            target, self.quotient, self.template, self.settings.num_warmup
        )

    def _compiled(self, name: str, build: Callable, batched: tuple, *args: Any):
        """:func:`compiled`, wrapped in ``shard_map`` over the chains when sharded."""
        if self.layout is None:
            return compiled((*self.key, name), build, *args)
        from symbayes.devices import Placed, shard_build

        build, shardings = shard_build(build, self.layout, batched)
        program, seconds = compiled(
            (*self.key, name), build, *args, in_shardings=shardings
        )
        return Placed(program, shardings), seconds

    def _indices(self, keys: jax.Array) -> jax.Array:
        """Indices (within the process) of the chains of ``keys``, for progress."""
        from symbayes.devices import device_offset

        count = keys.shape[0]
        return jnp.arange(count) + device_offset(self.layout, count)

    # ------------------------------------------------------------- phases
    def init(self, positions: Any, data: Any, keys: jax.Array):
        method = self.settings.chain_method

        def build():
            def run(positions, data, keys):
                transitions = self.transitions(data)
                return map_chains(transitions.init, method, positions, keys)

            return run

        return self._compiled("init", build, (True, False, True), positions, data, keys)

    def warmup_chunk(self, chains: Any, data: Any, keys: jax.Array, start, end):
        settings = self.settings
        length = settings.warmup_chunk
        method = settings.chain_method
        sink = self.sink if settings.progress else None
        every = _tick_every(length)

        def build():
            def run(chains, data, keys, start, end):
                transitions = self.transitions(data)

                def one_step(chain, key, t, chain_index):
                    def active(chain):
                        new, stats = transitions.warmup_step(
                            jax.random.fold_in(key, t), chain, t
                        )
                        return new, stats["num_grad_evals"], stats["diverging"]

                    def idle(chain):
                        return chain, jnp.zeros((), jnp.int32), jnp.zeros((), bool)

                    out = jax.lax.cond(t < end, active, idle, chain)
                    if sink is not None and chain_index is not None:
                        _tick(sink, chain_index, t, start, end, every)
                    return out

                steps = start + jnp.arange(length)
                if method == "vectorized" and transitions.run_chunk is not None:
                    chains, (grads, divergent) = transitions.run_chunk(
                        "warmup", keys, chains, start, end - start, 1, length, None
                    )
                    if sink is not None:
                        _tick(sink, jnp.asarray(-1), end - 1, start, end, every)
                    return chains, grads, divergent
                if method == "vectorized":

                    def body(chains, t):
                        new, grads, divergent = jax.vmap(
                            lambda c, k: one_step(c, k, t, None)
                        )(chains, keys)
                        if sink is not None:
                            _tick(sink, jnp.asarray(-1), t, start, end, every)
                        return new, (grads, divergent)

                    chains, (grads, divergent) = jax.lax.scan(body, chains, steps)
                    return chains, grads.sum(axis=0), divergent.sum(axis=0)

                def per_chain(chain, key, index):
                    def body(chain, t):
                        new, grads, divergent = one_step(chain, key, t, index)
                        return new, (grads, divergent)

                    chain, (grads, divergent) = jax.lax.scan(body, chain, steps)
                    return chain, grads.sum(), divergent.sum()

                indices = self._indices(keys)
                return map_chains(per_chain, method, chains, keys, indices)

            return run

        batched = (True, False, True, False, False)
        return self._compiled("warmup", build, batched, chains, data, keys, start, end)

    def end_warmup(self, chains: Any, data: Any):
        method = self.settings.chain_method

        def build():
            def run(chains, data):
                transitions = self.transitions(data)

                def one(chain):
                    chain = transitions.end_warmup(chain)
                    return chain, transitions.parameters(chain)

                return map_chains(one, method, chains)

            return run

        return self._compiled("end_warmup", build, (True, False), chains, data)

    def warmup_all(self, chains: Any, data: Any, keys: jax.Array):
        method = self.settings.chain_method
        num_steps = self.settings.num_warmup

        def build():
            def run(chains, data, keys):
                transitions = self.transitions(data)
                return transitions.warmup_all(keys, chains, num_steps, method)

            return run

        return self._compiled(
            "warmup_all", build, (True, False, True), chains, data, keys
        )

    def sample_chunk(self, chains: Any, data: Any, keys: jax.Array, start, end):
        """Draws ``[start, end)`` (kept-draw indices) of every chain."""
        settings = self.settings
        length = settings.sample_chunk
        thinning = settings.thinning
        method = settings.chain_method
        sink = self.sink if settings.progress else None
        every = _tick_every(length)
        quotient = self.quotient

        def build():
            def run(chains, data, keys, start, end):
                transitions = self.transitions(data)

                def one_draw(chain, key, d, chain_index):
                    def active(chain):
                        def inner(chain, j):
                            t = settings.num_warmup + d * thinning + j
                            return transitions.sample_step(
                                jax.random.fold_in(key, t), chain
                            )

                        chain, stats = jax.lax.scan(inner, chain, jnp.arange(thinning))
                        kept = {name: value[-1] for name, value in stats.items()}
                        kept["num_grad_evals"] = stats["num_grad_evals"].sum()
                        kept["diverging"] = stats["diverging"].any()
                        params = quotient.to_params(transitions.position(chain))
                        return chain, (params, kept)

                    shapes = jax.eval_shape(active, chain)[1]

                    def idle(chain):
                        zeros = jax.tree_util.tree_map(
                            lambda s: jnp.zeros(s.shape, s.dtype), shapes
                        )
                        return chain, zeros

                    out = jax.lax.cond(d < end, active, idle, chain)
                    if sink is not None and chain_index is not None:
                        _tick(sink, chain_index, d, start, end, every)
                    return out

                draws = start + jnp.arange(length)
                if method == "vectorized" and transitions.run_chunk is not None:
                    chains, out = transitions.run_chunk(
                        "sampling",
                        keys,
                        chains,
                        settings.num_warmup + start * thinning,
                        end - start,
                        thinning,
                        length,
                        lambda chain: quotient.to_params(transitions.position(chain)),
                    )
                    if sink is not None:
                        _tick(sink, jnp.asarray(-1), end - 1, start, end, every)
                    return chains, out
                if method == "vectorized":

                    def body(chains, d):
                        new, out = jax.vmap(lambda c, k: one_draw(c, k, d, None))(
                            chains, keys
                        )
                        if sink is not None:
                            _tick(sink, jnp.asarray(-1), d, start, end, every)
                        return new, out

                    chains, out = jax.lax.scan(body, chains, draws)
                    out = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), out)
                    return chains, out

                def per_chain(chain, key, index):
                    return jax.lax.scan(
                        lambda c, d: one_draw(c, key, d, index), chain, draws
                    )

                indices = self._indices(keys)
                return map_chains(per_chain, method, chains, keys, indices)

            return run

        batched = (True, False, True, False, False)
        return self._compiled("sample", build, batched, chains, data, keys, start, end)


_SINKS: dict[Hashable, ProgressSink] = {}


def _tick(sink: ProgressSink, chain: jax.Array, t: jax.Array, start, end, every: int):
    """Report ``(chain, t)`` to the host every ``every`` steps and at the end."""
    last = (t == end - 1) | ((t - start) % every == every - 1)

    def report():
        jax.debug.callback(sink, chain, t)

    jax.lax.cond(last & (t < end), report, lambda: None)


# --------------------------------------------------------------------- run
def chunk_plan(
    num_warmup: int,
    num_samples: int,
    warmup_chunk: int,
    sample_chunk: int,
    pool_steps: np.ndarray,
    stepwise: bool,
) -> list[tuple[str, int, int]]:
    """Chunks ``(phase, start, end)``: warmup steps, then kept-draw indices.

    Warmup chunks end after every pooling step; a whole (non-stepwise)
    warmup is one chunk.
    """
    plan: list[tuple[str, int, int]] = []
    if num_warmup > 0:
        if not stepwise:
            plan.append(("warmup", 0, num_warmup))
        else:
            cuts = sorted({int(p) + 1 for p in pool_steps if 0 <= p < num_warmup - 1})
            edges = [0, *cuts, num_warmup]
            for left, right in zip(edges[:-1], edges[1:], strict=True):
                for start in range(left, right, warmup_chunk):
                    plan.append(("warmup", start, min(start + warmup_chunk, right)))
    for start in range(0, num_samples, sample_chunk):
        plan.append(("sampling", start, min(start + sample_chunk, num_samples)))
    return plan


def run(
    runners: Runners,
    positions: Any,
    data: Any,
    key: jax.Array,
    *,
    num_samples: int,
    bar: Any = None,
    checkpoint: Any = None,
) -> RunOutput:
    """Init, warm up and sample every chain (see the module docstring).

    Args:
        runners: the run's :class:`Runners`.
        positions: initial sampler coordinates, leading axis chain.
        data: the data tuple (or ``()``).
        key: the run's key.
        num_samples: kept draws per chain.
        bar: a tqdm bar (total: warmup + sampling transitions), or ``None``.
        checkpoint: an open :class:`~symbayes.checkpoint.Checkpoint`, or ``None``.

    Returns:
        A :class:`RunOutput`.
    """
    settings = runners.settings
    kernel = runners.kernel
    num_chains = settings.num_chains
    init_root, run_root = jax.random.split(key)
    layout = runners.layout
    indices = None if layout is None else layout.indices
    init_keys = _chain_keys(init_root, num_chains, indices)
    chain_keys = _chain_keys(run_root, num_chains, indices)
    transitions_probe = kernel_is_stepwise(kernel)
    pool_steps = kernel.pool_steps(settings.num_warmup)
    plan = chunk_plan(
        settings.num_warmup,
        num_samples,
        settings.warmup_chunk,
        settings.sample_chunk,
        pool_steps,
        transitions_probe,
    )
    compile_seconds = 0.0
    if bar is not None:
        bar.set_description(f"{kernel.name}/{runners.quotient.mode}: compiling")
    init, seconds = runners.init(positions, data, init_keys)
    compile_seconds += seconds
    chains = init(positions, data, init_keys)
    kept_params: list = []
    kept_stats: list = []
    phase_seconds = {"warmup": 0.0, "sampling": 0.0}
    num_grad_evals = 0
    pooling: list = []
    first = 0
    if checkpoint is not None and checkpoint.completed:
        chains, first, saved = checkpoint.resume(chains)
        kept_params, kept_stats = saved.params, saved.stats
        phase_seconds = saved.phase_seconds
        num_grad_evals = saved.num_grad_evals
        pooling = list(saved.extra.get("pooling", []))
    progress = Progress(bar, num_chains)
    if bar is not None and first:
        done = sum(
            (end - start) * (1 if phase == "warmup" else settings.thinning)
            for phase, start, end in plan[:first]
        )
        progress.offset = done * num_chains
        bar.n = progress.offset
        bar.refresh()
    runners.sink.update = progress.update if bar is not None else None
    last_warmup = max(
        (i for i, (phase, _, _) in enumerate(plan) if phase == "warmup"), default=-1
    )
    pool_after = {int(p) + 1 for p in pool_steps}
    try:
        for index in range(first, len(plan)):
            phase, start, end = plan[index]
            start_j, end_j = jnp.asarray(start), jnp.asarray(end)
            if phase == "warmup":
                if bar is not None:
                    bar.set_description(
                        f"{kernel.name}/{runners.quotient.mode}: compiling"
                    )
                if transitions_probe:
                    program, seconds = runners.warmup_chunk(
                        chains, data, chain_keys, start_j, end_j
                    )
                    compile_seconds += seconds
                    _describe(bar, kernel, runners, "warmup")
                    progress.start_chunk(start, settings.chain_method)
                    tick = time.perf_counter()
                    chains, grads, _ = program(chains, data, chain_keys, start_j, end_j)
                    num_grad_evals += _real_sum(grads, layout)
                else:
                    program, seconds = runners.warmup_all(chains, data, chain_keys)
                    compile_seconds += seconds
                    _describe(bar, kernel, runners, "warmup")
                    tick = time.perf_counter()
                    chains, grads = program(chains, data, chain_keys)
                    num_grad_evals += _real_sum(grads, layout)
                if end in pool_after and end < settings.num_warmup:
                    host = jax.device_get(chains)
                    if layout is None:
                        host, report = kernel.pool(
                            host, runners.quotient, runners.template
                        )
                    else:
                        from symbayes.devices import pool_chains

                        host, report = pool_chains(
                            lambda c: kernel.pool(
                                c, runners.quotient, runners.template
                            ),
                            host,
                            layout,
                        )
                    chains = jax.device_put(host)
                    pooling.append({"step": end, **report})
                if index == last_warmup:
                    program, seconds = runners.end_warmup(chains, data)
                    compile_seconds += seconds
                    chains, _ = program(chains, data)
                jax.block_until_ready(chains)
                phase_seconds["warmup"] += time.perf_counter() - tick
                progress.offset += (end - start) * num_chains
                progress.done = np.zeros(num_chains, np.int64)
                draws = stats = None
            else:
                program, seconds = runners.sample_chunk(
                    chains, data, chain_keys, start_j, end_j
                )
                compile_seconds += seconds
                _describe(bar, kernel, runners, "sampling")
                progress.start_chunk(start, settings.chain_method)
                tick = time.perf_counter()
                chains, (draws, stats) = program(
                    chains, data, chain_keys, start_j, end_j
                )
                draws, stats = jax.device_get((draws, stats))
                phase_seconds["sampling"] += time.perf_counter() - tick
                used = end - start
                draws = jax.tree_util.tree_map(
                    lambda x, u=used: np.asarray(x[:, :u]), draws
                )
                stats = {k: np.asarray(v[:, :used]) for k, v in stats.items()}
                num_grad_evals += _real_sum(stats["num_grad_evals"], layout)
                kept_params.append(draws)
                kept_stats.append(stats)
                progress.offset += used * settings.thinning * num_chains
                progress.done = np.zeros(num_chains, np.int64)
            if bar is not None:
                bar.n = min(progress.offset, bar.total)
                divergences = int(sum(np.sum(s["diverging"]) for s in kept_stats))
                bar.set_postfix(divergences=divergences)
                bar.refresh()
            if checkpoint is not None:
                checkpoint.save_chunk(
                    index,
                    chains,
                    draws,
                    stats,
                    phase_seconds,
                    num_grad_evals,
                    {"pooling": pooling},
                )
    finally:
        runners.sink.update = None
    parameters = _parameters(runners, chains, data)
    positions_out = jax.tree_util.tree_map(
        lambda *x: np.concatenate(x, axis=1), *kept_params
    )
    stats_out = {
        k: np.concatenate([s[k] for s in kept_stats], axis=1) for k in kept_stats[0]
    }
    return RunOutput(
        positions_out,
        stats_out,
        chains,
        parameters,
        compile_seconds,
        phase_seconds["warmup"],
        phase_seconds["sampling"],
        num_grad_evals,
        pooling,
    )


def _parameters(runners: Runners, chains: Any, data: Any) -> dict[str, np.ndarray]:
    method = runners.settings.chain_method

    def build():
        def run(chains, data):
            transitions = runners.transitions(data)
            return map_chains(transitions.parameters, method, chains)

        return run

    program, _ = runners._compiled("parameters", build, (True, False), chains, data)
    return {k: np.asarray(v) for k, v in jax.device_get(program(chains, data)).items()}


def _real_sum(counts: Any, layout: Any) -> int:
    """Sum of per-chain counts over the real chains (padding chains dropped)."""
    counts = np.asarray(jax.device_get(counts))
    if layout is not None:
        counts = counts[layout.real]
    return int(counts.sum())


def _describe(bar: Any, kernel: Kernel, runners: Runners, phase: str) -> None:
    if bar is not None:
        bar.set_description(f"{kernel.name}/{runners.quotient.mode}: {phase}")


def kernel_is_stepwise(kernel: Kernel) -> bool:
    """Whether the kernel warms up one transition at a time (chunked)."""
    return not kernel.whole_warmup
