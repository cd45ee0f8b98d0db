"""Test-session hygiene: run jax on the CPU unless JAX_PLATFORMS says otherwise."""

import os

import jax

if "JAX_PLATFORMS" not in os.environ:
    jax.config.update("jax_platforms", "cpu")
