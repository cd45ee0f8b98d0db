"""Symmetric test targets whose canonical moments are known by exact sampling."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.canonical import canonicalize
from symbayes.symmetry import AxisEntry, HiddenAxis, Symmetry

# correlated Gaussian block, untouched by the symmetry
Z_MEAN = np.array([1.0, -0.5])
Z_COV = np.array([[1.0, 0.8], [0.8, 1.5]])
# three exchangeable, correlated units (permutation symmetry)
U_MEAN, U_SD, U_RHO = 0.5, 1.0, 0.3
# two units, each a symmetric two-component mixture of (a, c) (sign x perm)
AC_MEAN = np.array([1.5, 1.0])
AC_SD = 0.6

SYMMETRY = Symmetry(
    (
        HiddenAxis("u", 3, (AxisEntry("u", 0, "in"),), groups=("permutation",)),
        HiddenAxis(
            "ac",
            2,
            (AxisEntry("a", 0, "in"), AxisEntry("c", 0, "out")),
            groups=("permutation", "sign"),
        ),
    )
)


def _u_cov() -> np.ndarray:
    return U_SD**2 * ((1 - U_RHO) * np.eye(3) + U_RHO * np.ones((3, 3)))


def logdensity(params: dict) -> jax.Array:
    """Log density (up to a constant) of the product target."""
    z = params["z"] - Z_MEAN
    z_precision = jnp.asarray(np.linalg.inv(Z_COV), z.dtype)
    log_z = -0.5 * z @ z_precision @ z
    u = params["u"] - U_MEAN
    u_precision = jnp.asarray(np.linalg.inv(_u_cov()), u.dtype)
    log_u = -0.5 * u @ u_precision @ u
    ac = jnp.stack([params["a"], params["c"]], axis=-1)  # (2 units, 2)
    mean = jnp.asarray(AC_MEAN, ac.dtype)
    plus = -0.5 * jnp.sum((ac - mean) ** 2, axis=-1) / AC_SD**2
    minus = -0.5 * jnp.sum((ac + mean) ** 2, axis=-1) / AC_SD**2
    log_ac = jnp.sum(jnp.logaddexp(plus, minus))
    return log_z + log_u + log_ac


def exact_draws(num: int, seed: int = 0) -> dict:
    """Exact independent draws of the target (numpy)."""
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(Z_MEAN, Z_COV, size=num)
    u = rng.multivariate_normal(np.full(3, U_MEAN), _u_cov(), size=num)
    signs = rng.choice([-1.0, 1.0], size=(num, 2, 1))
    ac = signs * AC_MEAN + AC_SD * rng.normal(size=(num, 2, 2))
    return {
        "z": z.astype(np.float32),
        "u": u.astype(np.float32),
        "a": ac[..., 0].astype(np.float32),
        "c": ac[..., 1].astype(np.float32),
    }


class Truth(NamedTuple):
    """Canonical means and standard deviations of every coordinate."""

    mean: dict
    sd: dict


def canonical_truth(num: int = 400_000, seed: int = 0) -> Truth:
    draws = canonicalize(exact_draws(num, seed), SYMMETRY, batch_ndim=1)
    draws = jax.tree_util.tree_map(np.asarray, draws)
    return Truth(
        {k: v.mean(axis=0) for k, v in draws.items()},
        {k: v.std(axis=0) for k, v in draws.items()},
    )


def initial_params(num_chains: int, seed: int = 1) -> dict:
    """Dispersed starting points: exact draws (all copies of the orbit)."""
    return jax.tree_util.tree_map(jnp.asarray, exact_draws(num_chains, seed))
