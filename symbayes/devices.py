"""Chains over several devices and hosts, on JAX's own sharding and distributed runtime.

``sample(..., devices=...)`` splits the chain axis over devices:

* **Layout.** The ``C`` chains are padded to ``P = ceil(C / D) * D`` for
  ``D`` devices; device ``d`` runs the chains ``d * P / D, ...`` one block
  each. The ``P - C`` padding chains are dummies (copies of the last real
  chain's initial point, with their own keys); they are dropped from the
  draws, the statistics, the gradient count and the pooled warmup, so the
  result is that of a ``C``-chain run.
* **Same draws on any layout.** The key of chain ``c`` at transition ``t``
  is ``fold_in(fold_in(key, c), t)`` with ``c`` the *global* chain index,
  whatever the number of devices or processes, so ``devices=4`` gives the
  draws of ``devices=None`` (one device) for the same key and chains.
* **Inside a process** the chains of its devices form one array sharded
  with :class:`jax.sharding.NamedSharding` over a one-axis
  :class:`jax.sharding.Mesh` (axis ``"chains"``); every compiled program of
  the driver (:mod:`symbayes.driver`) is wrapped in :func:`jax.shard_map`,
  and each device runs its block with the run's chain method (``lax.map``
  on CPU, ``vmap`` on GPU/TPU).
* **Across processes** (after :func:`jax.distributed.initialize`), process
  ``k`` runs the chains of its own devices only: chains never communicate
  while sampling, so the compiled programs span a process's local devices
  and need no collective. Cross-process steps are host-side
  :func:`jax.experimental.multihost_utils.process_allgather` calls: the
  pooling steps of pooled warmup (every process pools all real chains, then
  keeps its block) and the final gather of draws, statistics and tuned
  parameters, after which *every* process (process 0 included) holds the
  same full :class:`~symbayes.results.SampleResult`. Each process writes its
  own checkpoint shard, ``<checkpoint>/process-<k>/``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "AXIS",
    "ChainLayout",
    "chain_layout",
    "gather_chains",
    "gather_output",
    "layout_for",
    "local_block",
    "resolve_devices",
]

AXIS = "chains"


# ------------------------------------------------------------------ devices
def resolve_devices(devices: Any) -> tuple[jax.Device, ...] | None:
    """Check ``devices`` and return the devices that run chains (cheap, no JIT).

    Args:
        devices: ``None`` (one device; all devices of all processes after
            :func:`jax.distributed.initialize` with several processes), an
            int ``n`` (the first ``n`` of :func:`jax.devices`), or a sequence
            of :class:`jax.Device`.

    Returns:
        The devices, in :func:`jax.devices` order, or ``None`` for the
        unsharded one-device path.

    Raises:
        TypeError: ``devices`` is not ``None``, an int or a sequence of devices.
        ValueError: too many or too few devices, duplicates, mixed platforms,
            devices unknown to JAX, or processes holding different numbers
            of the chosen devices.
    """
    available = jax.devices()
    if devices is None:
        if jax.process_count() == 1:
            return None
        chosen = list(available)
    elif isinstance(devices, bool):
        raise TypeError(
            f"devices must be None, an int or a list of devices, got {devices!r}"
        )
    elif isinstance(devices, int | np.integer):
        if devices < 1:
            raise ValueError(f"devices must be >= 1, got {devices!r}")
        if devices > len(available):
            raise ValueError(
                f"devices={int(devices)} but JAX sees {len(available)} device(s) "
                f"({available[0].platform}); on CPU set XLA_FLAGS="
                "--xla_force_host_platform_device_count=N before importing jax"
            )
        chosen = list(available[: int(devices)])
    elif isinstance(devices, Sequence) and not isinstance(devices, str | bytes):
        chosen = list(devices)
        if not chosen:
            raise ValueError("devices is an empty sequence; give at least one device")
        bad = [d for d in chosen if not isinstance(d, jax.Device)]
        if bad:
            raise TypeError(
                "devices must hold jax.Device objects (from jax.devices()), "
                f"got {bad[0]!r}"
            )
        ids = [d.id for d in chosen]
        if len(set(ids)) != len(ids):
            raise ValueError(f"devices holds a device twice (ids {ids})")
        known = {d.id for d in available}
        unknown = [d for d in chosen if d.id not in known]
        if unknown:
            raise ValueError(f"device {unknown[0]} is not one of jax.devices()")
        platforms = sorted({d.platform for d in chosen})
        if len(platforms) > 1:
            raise ValueError(f"devices mixes platforms {platforms}; choose one")
    else:
        raise TypeError(
            "devices must be None, an int or a list of devices, got "
            f"{type(devices).__name__}"
        )
    order = {d.id: i for i, d in enumerate(available)}
    chosen.sort(key=lambda d: order[d.id])
    counts = [
        sum(d.process_index == k for d in chosen) for k in range(jax.process_count())
    ]
    if len(set(counts)) > 1 or counts[0] == 0:
        raise ValueError(
            f"the chosen devices are spread unevenly over the processes ({counts} "
            "per process); every process must hold the same number (>= 1) of them"
        )
    return tuple(chosen)


# ------------------------------------------------------------------- layout
class ChainLayout(NamedTuple):
    """Which chains run where (see the module docstring).

    Attributes:
        num_chains: the real chains ``C`` of the run.
        num_padded: ``P``, a multiple of the number of devices.
        devices: this process's devices (the mesh of its programs).
        num_devices: devices over all processes ``D``.
        process_index: this process.
        process_count: number of processes.
        start: global index of this process's first chain.
        num_local: chains of this process (padding included), ``P / processes``.
    """

    num_chains: int
    num_padded: int
    devices: tuple
    num_devices: int
    process_index: int
    process_count: int
    start: int
    num_local: int

    @property
    def mesh(self) -> Mesh:
        """The one-axis mesh (``"chains"``) of this process's devices."""
        return Mesh(np.asarray(self.devices, dtype=object), (AXIS,))

    @property
    def indices(self) -> np.ndarray:
        """Global chain indices of this process's chains (they pick the keys)."""
        return np.arange(self.start, self.start + self.num_local)

    @property
    def real(self) -> np.ndarray:
        """Mask of this process's chains that are real (not padding)."""
        return self.indices < self.num_chains

    @property
    def key(self) -> tuple:
        """A hashable of the layout (part of the key of compiled runners)."""
        return ("devices", tuple(d.id for d in self.devices), self.num_local)


def chain_layout(num_chains: int, devices: tuple[jax.Device, ...]) -> ChainLayout:
    """The layout of ``num_chains`` chains over ``devices`` (see resolve_devices)."""
    num_devices = len(devices)
    per_device = -(-num_chains // num_devices)
    padded = per_device * num_devices
    process = jax.process_index()
    count = jax.process_count()
    local = tuple(d for d in devices if d.process_index == process)
    num_local = per_device * len(local)
    return ChainLayout(
        num_chains=int(num_chains),
        num_padded=int(padded),
        devices=local,
        num_devices=num_devices,
        process_index=process,
        process_count=count,
        start=process * num_local,
        num_local=num_local,
    )


def layout_for(devices: Any, num_chains: int, kernel: Any) -> ChainLayout | None:
    """The layout of a run, or ``None`` for one device; checks before any JIT.

    Raises:
        TypeError, ValueError: bad ``devices`` (:func:`resolve_devices`), or a
            kernel whose warmup couples chains inside one program (they would
            only see the chains of their device).
    """
    chosen = resolve_devices(devices)
    if chosen is None:
        return None
    if getattr(kernel, "cross_chain", False) and len(chosen) > 1:
        raise ValueError(
            f"kernel {kernel.name!r} couples chains during warmup inside one "
            "program, which cannot be split over devices; use devices=None"
        )
    return chain_layout(int(num_chains), chosen)


def local_block(tree: Any, layout: ChainLayout) -> Any:
    """This process's chains of a ``(C, ...)`` pytree; padding repeats chain ``C-1``."""
    rows = np.minimum(layout.indices, layout.num_chains - 1)
    return jax.tree_util.tree_map(lambda x: x[rows], tree)


# ------------------------------------------------------------- programs
class Placed:
    """A compiled sharded program that first puts its arguments where it wants them."""

    def __init__(self, executable: Any, shardings: tuple) -> None:
        self.executable = executable
        self.shardings = shardings

    def __call__(self, *args: Any) -> Any:
        placed = [
            jax.device_put(a, s) for a, s in zip(args, self.shardings, strict=True)
        ]
        return self.executable(*placed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.executable, name)


def shard_build(
    build: Callable[[], Callable], layout: ChainLayout, batched: tuple[bool, ...]
) -> tuple[Callable[[], Callable], tuple]:
    """Wrap a driver program in :func:`jax.shard_map` over the chain axis.

    Args:
        build: returns the program (its outputs all have a leading chain axis).
        layout: the run's layout.
        batched: per positional argument, whether it has a leading chain axis
            (split over the devices) or is replicated (data, chunk bounds).

    Returns:
        ``(build, in_shardings)`` for :func:`symbayes.driver.compiled`.
    """
    mesh = layout.mesh
    specs = tuple(PartitionSpec(AXIS) if b else PartitionSpec() for b in batched)

    def sharded_build() -> Callable:
        return jax.shard_map(
            build(),
            mesh=mesh,
            in_specs=specs,
            out_specs=PartitionSpec(AXIS),
            check_vma=False,
        )

    return sharded_build, tuple(NamedSharding(mesh, s) for s in specs)


def device_offset(layout: ChainLayout | None, per_device: int) -> Any:
    """Index of a device's first chain within its process (0 unsharded)."""
    if layout is None:
        return 0
    return jax.lax.axis_index(AXIS) * per_device


# ------------------------------------------------------------------ gathers
def gather_chains(tree: Any, layout: ChainLayout) -> Any:
    """All real chains of a pytree of this process's ``(num_local, ...)`` host arrays.

    With several processes this is a
    :func:`~jax.experimental.multihost_utils.process_allgather` (every
    process calls it and gets the same ``(C, ...)`` arrays).
    """
    tree = jax.tree_util.tree_map(np.asarray, tree)
    if layout.process_count > 1:
        from jax.experimental import multihost_utils

        tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[: layout.num_chains], tree)


def pool_chains(
    pool: Callable[[Any], tuple[Any, dict]], chains: Any, layout: ChainLayout
) -> tuple[Any, dict]:
    """Run a kernel's pooling step on the real chains of all processes.

    Padding chains take no part (the pooled warmup is that of a ``C``-chain
    run); every process pools the same gathered chains and keeps its block.
    """
    pooled, report = pool(gather_chains(chains, layout))
    return local_block(pooled, layout), report


def common_seed(seed: int, layout: ChainLayout) -> int:
    """Process 0's seed on every process (``key=None`` draws one per process)."""
    if layout.process_count == 1:
        return seed
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.asarray(seed, np.int64)))


def sum_over_processes(value: float, layout: ChainLayout, op: str = "sum") -> float:
    """A host number summed (or maxed) over processes."""
    if layout.process_count == 1:
        return value
    from jax.experimental import multihost_utils

    values = np.asarray(multihost_utils.process_allgather(np.asarray([value])))
    return float(values.max() if op == "max" else values.sum())


def gather_output(out: Any, layout: ChainLayout) -> Any:
    """A :class:`symbayes.driver.RunOutput` of the real chains of all processes.

    Draws, statistics and tuned parameters are gathered (padding dropped);
    gradient evaluations are summed and times are the slowest process's.
    ``chains`` (the final chain states) stay this process's, padding included.
    """
    positions, stats, parameters = gather_chains(
        (out.positions, out.stats, out.parameters), layout
    )
    return out._replace(
        positions=positions,
        stats=stats,
        parameters=parameters,
        compile_seconds=sum_over_processes(out.compile_seconds, layout, "max"),
        warmup_seconds=sum_over_processes(out.warmup_seconds, layout, "max"),
        sampling_seconds=sum_over_processes(out.sampling_seconds, layout, "max"),
        num_grad_evals=int(sum_over_processes(out.num_grad_evals, layout)),
    )
