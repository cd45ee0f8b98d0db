"""Where and with what a benchmark ran: machine, load, library versions, commit.

Every benchmark script stamps its JSON with these, so that numbers from
different machines (CPU, GPU) and different states of the code can be told
apart. JAX and the libraries are imported where they are asked about, so
that plain helpers (:func:`shown`, :func:`load_average`) cost no JAX start-up.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (logs name no host paths)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (other processes skew timings)."""
    if not hasattr(os, "getloadavg"):
        return None
    return [round(x, 2) for x in os.getloadavg()]


def source_version() -> dict[str, Any]:
    """The git commit of the checkout and whether symbayes/ has local changes."""

    def git(*command: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *command], cwd=ROOT, capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--", "symbayes")
    return {
        "commit": git("rev-parse", "HEAD"),
        "symbayes_modified": None if status is None else bool(status),
    }


def machine_info() -> dict[str, Any]:
    """Processor, CPU count, JAX backend and devices (no host name)."""
    import jax

    uname = platform.uname()
    info = {
        "processor": platform.processor() or uname.machine,
        "uname": " ".join([uname.system, uname.release, uname.machine]),
        "cpu_count": os.cpu_count(),
        "affinity_cpu_count": (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        ),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
    }
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        names = [
            line.split(":", 1)[1].strip() for line in lines if "model name" in line
        ]
        if names:
            info["cpu_model"] = names[0]
    except OSError:
        pass
    return info


def versions() -> dict[str, Any]:
    """Versions of Python and of every library a benchmark may use."""
    import arviz
    import blackjax
    import jax
    import numpy as np
    import numpyro
    import scipy

    import symbayes

    out = {
        "python": sys.version.split()[0],
        "symbayes": symbayes.__version__,
        "jax": jax.__version__,
        "jaxlib": getattr(jax.lib, "__version__", None),
        "blackjax": blackjax.__version__,
        "numpyro": numpyro.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "arviz": arviz.__version__,
    }
    try:
        import httpstan
        import stan

        out["pystan"] = stan.__version__
        out["httpstan"] = httpstan.__version__
    except ImportError:
        out["pystan"] = None
    return out
