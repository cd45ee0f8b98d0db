"""Test-session hygiene: CPU unless JAX_PLATFORMS says otherwise, and a compile cache.

Compilation dominates the suite's time. Runners are cached in memory by
``symbayes.driver`` within the process; JAX's persistent compilation cache
(``.jax-cache/`` at the repository root, ignored by git) keeps compiled
programs across processes (the notebooks, a second ``pytest`` run).
"""

import os
from pathlib import Path

import jax

if "JAX_PLATFORMS" not in os.environ:
    jax.config.update("jax_platforms", "cpu")

CACHE = Path(__file__).resolve().parent.parent / ".jax-cache"
jax.config.update("jax_compilation_cache_dir", str(CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
