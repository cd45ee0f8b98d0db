"""Chains over 4 forced host devices (run by ``tests/test_devices.py`` in a subprocess).

``XLA_FLAGS=--xla_force_host_platform_device_count=4`` must be set before
jax is imported, so these cases run in their own pytest process; the file
name keeps a plain ``pytest`` from collecting them in the main process.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import targets

import symbayes.checkpoint
from symbayes import sample

# HMC with pooled warmup: the pooling step (at warmup step 26 of 30) must
# see the 6 real chains only, never the 2 padding chains of 4 devices
RUN = dict(
    kernel="hmc",
    num_integration_steps=4,
    adaptation="pooled",
    num_chains=6,
    num_warmup=30,
    num_samples=20,
    key=3,
    progress_bar=False,
    chunk_size=10,
)


def run(**overrides):
    arguments = dict(RUN)
    arguments.update(overrides)
    return sample(
        targets.logdensity, targets.initial_params(6), targets.SYMMETRY, **arguments
    )


def assert_same(first, second):
    for name in first.draws:
        np.testing.assert_array_equal(first.draws[name], second.draws[name])
    for name in first.sample_stats:
        np.testing.assert_array_equal(
            first.sample_stats[name], second.sample_stats[name]
        )
    for name in first.adaptation:
        np.testing.assert_array_equal(first.adaptation[name], second.adaptation[name])
    assert first.timings.num_grad_evals == second.timings.num_grad_evals


@pytest.fixture(scope="module")
def reference():
    assert len(jax.devices()) == 4, "run with --xla_force_host_platform_device_count=4"
    return run()


def test_six_chains_on_four_devices_equal_one_device(reference):
    sharded = run(devices=4)
    assert sharded.draws["z"].shape == (6, 20, 2)
    assert sharded.config["devices"] == 4
    assert len(sharded.config["pooling"]) == len(reference.config["pooling"]) == 1
    assert_same(reference, sharded)


def test_a_list_of_two_devices_gives_the_same_draws(reference):
    devices = jax.devices()
    assert_same(reference, run(devices=[devices[3], devices[1]]))


def test_sharded_run_resumes_draw_for_draw(tmp_path, monkeypatch, reference):
    """Kill the 4-device run after 3 chunks, resume it: the uninterrupted draws."""
    original = symbayes.checkpoint.Checkpoint.save_chunk
    calls = {"count": 0}

    def save_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["count"] += 1
        if calls["count"] == 3:
            raise KeyboardInterrupt("simulated kill")

    folder = tmp_path / "run"
    monkeypatch.setattr(symbayes.checkpoint.Checkpoint, "save_chunk", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(devices=4, checkpoint=folder)
    monkeypatch.undo()
    assert_same(reference, run(devices=4, checkpoint=folder))
    # the layout is part of the run's identity
    with pytest.raises(ValueError, match="belongs to a different run"):
        run(devices=2, checkpoint=folder)


def test_vectorized_chains_per_device_give_the_vectorized_draws():
    """The GPU path (vmap inside each device) on 2 of the 4 CPU devices."""
    one = run(chain_method="vectorized")
    assert_same(one, run(chain_method="vectorized", devices=2))
