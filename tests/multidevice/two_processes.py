"""One of two local processes of a ``jax.distributed`` run (tests/test_devices.py).

Usage: ``python two_processes.py PROCESS_ID PORT OUTPUT_FOLDER``. Each process
has 2 forced host devices (``XLA_FLAGS`` set by the caller). It runs the
6-chain case of ``sharded_cases.py`` over the 4 devices of both processes
uninterrupted, then again with a checkpoint that is killed after 3 chunks
and resumed, and writes both results' draws to
``OUTPUT_FOLDER/process-<k>-{full,resumed}.npz``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax


def main() -> None:
    process_id, port, output = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    jax.config.update("jax_platforms", "cpu")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=process_id,
        initialization_timeout=120,
    )
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sharded_cases

    import symbayes.checkpoint

    assert jax.process_count() == 2 and len(jax.devices()) == 4

    def save(result, name):
        arrays = {f"draw_{k}": v for k, v in result.draws.items()}
        arrays.update({f"stat_{k}": v for k, v in result.sample_stats.items()})
        arrays["num_grad_evals"] = np.asarray(result.timings.num_grad_evals)
        np.savez(output / f"process-{process_id}-{name}.npz", **arrays)

    save(sharded_cases.run(), "full")
    original = symbayes.checkpoint.Checkpoint.save_chunk
    calls = {"count": 0}

    def save_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["count"] += 1
        if calls["count"] == 3:
            raise KeyboardInterrupt("simulated kill")

    folder = output / "checkpoint"
    symbayes.checkpoint.Checkpoint.save_chunk = save_then_die
    try:
        sharded_cases.run(checkpoint=folder)
        raise AssertionError("the run was not interrupted")
    except KeyboardInterrupt:
        pass
    symbayes.checkpoint.Checkpoint.save_chunk = original
    assert (folder / f"process-{process_id}" / "meta.json").exists()
    save(sharded_cases.run(checkpoint=folder), "resumed")
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
