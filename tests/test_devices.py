"""``sample(devices=...)``: bad values refused before compiling; sharded runs.

Forced host devices (``XLA_FLAGS=--xla_force_host_platform_device_count``)
and ``jax.distributed`` need a fresh process, so the sharded cases
(``tests/multidevice/``) run as subprocesses of these tests, bounded by a
timeout, and a plain ``pytest`` runs them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import targets

from symbayes import driver, sample
from symbayes.devices import chain_layout, resolve_devices

ROOT = Path(__file__).resolve().parent.parent
MULTIDEVICE = Path(__file__).resolve().parent / "multidevice"


def _environment(num_devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "")
        + f" --xla_force_host_platform_device_count={num_devices}"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def _check(completed: subprocess.CompletedProcess) -> None:
    assert completed.returncode == 0, (
        f"subprocess failed ({completed.returncode}):\n"
        f"{completed.stdout[-6000:]}\n{completed.stderr[-6000:]}"
    )


@pytest.mark.parametrize(
    ("devices", "error", "match"),
    [
        (0, ValueError, "devices must be >= 1"),
        (10_000, ValueError, "xla_force_host_platform_device_count"),
        (True, TypeError, "devices must be None, an int or a list"),
        ("cpu", TypeError, "devices must be None, an int or a list"),
        ([], ValueError, "empty sequence"),
        ([0, 1], TypeError, "jax.Device objects"),
    ],
)
def test_bad_devices_are_refused_before_compiling(devices, error, match):
    before = driver.cache_info().misses
    with pytest.raises(error, match=match):
        sample(
            targets.logdensity,
            targets.initial_params(2),
            targets.SYMMETRY,
            num_chains=2,
            devices=devices,
            progress_bar=False,
        )
    assert driver.cache_info().misses == before


def test_a_device_twice_is_refused():
    device = jax.devices()[0]
    with pytest.raises(ValueError, match="device twice"):
        resolve_devices([device, device])


def test_layout_pads_chains_to_a_multiple_of_the_devices():
    layout = chain_layout(6, tuple(jax.devices()[:1]))
    assert (layout.num_padded, layout.num_local, layout.start) == (6, 6, 0)
    assert resolve_devices(None) is None
    assert resolve_devices(1) == (jax.devices()[0],)


@pytest.mark.slow
def test_sharded_cases_on_four_host_devices():
    """6 chains on 4 devices equal one device; a list of 2 devices; resume."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(MULTIDEVICE / "sharded_cases.py"),
        ],
        cwd=ROOT,
        env=_environment(4),
        capture_output=True,
        text=True,
        timeout=600,
    )
    _check(completed)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_two_processes_give_the_draws_of_one(tmp_path):
    """``jax.distributed`` on localhost, 2 processes x 2 devices; resume too."""
    sys.path.insert(0, str(MULTIDEVICE))
    try:
        import sharded_cases
    finally:
        sys.path.remove(str(MULTIDEVICE))
    port = _free_port()
    command = [sys.executable, str(MULTIDEVICE / "two_processes.py")]
    env = _environment(2)
    workers = [
        subprocess.Popen(
            [*command, str(k), str(port), str(tmp_path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in range(2)
    ]
    try:
        outputs = [worker.communicate(timeout=400)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-6000:]
    reference = sharded_cases.run()  # one process, one device
    for k in range(2):
        assert (tmp_path / "checkpoint" / f"process-{k}" / "meta.json").exists()
        for name in ("full", "resumed"):
            with np.load(tmp_path / f"process-{k}-{name}.npz") as saved:
                for leaf, value in reference.draws.items():
                    np.testing.assert_array_equal(saved[f"draw_{leaf}"], value)
                for stat, value in reference.sample_stats.items():
                    np.testing.assert_array_equal(saved[f"stat_{stat}"], value)
                assert int(saved["num_grad_evals"]) == reference.timings.num_grad_evals
