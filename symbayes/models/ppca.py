"""Bayesian probabilistic PCA with automatic relevance determination.

Probabilistic PCA (Tipping & Bishop 1999) with the ARD prior of Bayesian PCA
(Bishop 1999, "Bayesian PCA", NIPS 11):

.. math::

    x_i = \\mu + W z_i + \\varepsilon_i,\\quad z_i \\sim \\mathcal N(0, I_q),\\
    \\varepsilon_i \\sim \\mathcal N(0, \\sigma^2 I_d)
    \\ \\Longrightarrow\\ x_i \\sim \\mathcal N(\\mu,\\ W W^\\top + \\sigma^2 I_d),

    w_k \\sim \\mathcal N(0, \\alpha_k^{-1} I_d)\\ \\text{(column k of W)},\\quad
    \\log \\alpha_k \\sim \\mathcal N(m_\\alpha, s_\\alpha^2).

Symmetries. The marginal likelihood depends on ``W`` only through ``W W^T``,
so it is invariant under every rotation ``W -> W R`` with ``R`` orthogonal
(``q x q``): a continuous *function* symmetry. The ARD prior, with one
precision ``alpha_k`` per column, is not rotation invariant unless all
precisions are equal; it is invariant only under permuting the columns
together with their precisions, and flipping the sign of a column. The
*posterior* symmetry is therefore exactly the group of signed permutations
``(Z/2)^q x S_q`` declared here; the remaining rotational freedom is not a
symmetry of the posterior (though for nearly equal precisions the posterior is
nearly flat along it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import jax.scipy.linalg
import numpy as np

from symbayes.models.base import (
    BayesianModel,
    Data,
    Params,
    check_array,
    normal_logpdf,
)
from symbayes.symmetry import AxisEntry, HiddenAxis, Symmetry, UnitKey

__all__ = ["PPCA"]

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class PPCA(BayesianModel):
    """Bayesian PCA with per-column ARD precisions (Bishop 1999).

    Params: ``{"W": (dim, latent), "log_alpha": (latent,), "mean": (dim,),
    "log_noise": ()}``, with ``sigma = exp(log_noise)``.

    Priors: column ``k`` of ``W`` ``~ Normal(0, exp(-log_alpha_k) I)``;
    ``log_alpha ~ Normal(*log_alpha_prior)``; ``mean ~ Normal(0,
    mean_prior_scale^2)``; ``log_noise ~ Normal(*log_noise_prior)`` (each
    prior ``(mean, std)``).

    Likelihood: ``x_i ~ Normal(mean, W W^T + sigma^2 I)`` evaluated through a
    Cholesky factor.

    Symmetry: axis ``"latent"``: permutations and sign flips of the columns
    of ``W`` (role ``"in"``), with ``log_alpha`` permuted along (role
    ``"permute"``: a precision is never flipped). Sort key ``log_alpha``,
    sign key ``W[0, k]``. See the module docstring for why rotations are a
    function symmetry but not a posterior one.

    Args:
        dim: data dimension ``d``.
        latent: number of latent dimensions ``q``.
        log_alpha_prior: ``(mean, std)`` of the Normal prior on ``log_alpha``.
        log_noise_prior: ``(mean, std)`` of the Normal prior on ``log_noise``.
        mean_prior_scale: prior standard deviation of ``mean``.
    """

    dim: int
    latent: int
    log_alpha_prior: tuple[float, float] = (0.0, 1.0)
    log_noise_prior: tuple[float, float] = (-1.0, 1.0)
    mean_prior_scale: float = 3.0
    _symmetry: Symmetry = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for attribute in ("dim", "latent"):
            value = getattr(self, attribute)
            if int(value) != value or value < 1:
                raise ValueError(f"{attribute} must be a positive integer, got {value}")
            object.__setattr__(self, attribute, int(value))
        for attribute in ("log_alpha_prior", "log_noise_prior"):
            mean, std = getattr(self, attribute)
            if not std > 0:
                raise ValueError(f"{attribute} std must be positive, got {std}")
            object.__setattr__(self, attribute, (float(mean), float(std)))
        if not self.mean_prior_scale > 0:
            raise ValueError(
                f"mean_prior_scale must be positive, got {self.mean_prior_scale}"
            )
        axis = HiddenAxis(
            "latent",
            self.latent,
            (AxisEntry("W", 1, "in"), AxisEntry("log_alpha", 0, "permute")),
            groups=("permutation", "sign"),
            sort_key=UnitKey("log_alpha"),
            sign_key=UnitKey("W", (0,)),
        )
        object.__setattr__(self, "_symmetry", Symmetry((axis,)))

    @property
    def symmetry(self) -> Symmetry:
        return self._symmetry

    @property
    def name(self) -> str:
        return f"ppca_{self.dim}x{self.latent}"

    # ------------------------------------------------------------ data
    def check_data(self, data: Data) -> None:
        """Check that ``X`` (the first array) is finite, of shape ``(n, dim)``.

        Further
        arrays of the data tuple (such as a :class:`~symbayes.datasets.Dataset`'s
        ``y_train``) are not used by the likelihood and are not checked.

        Args:
            data: ``(X,)`` (or ``(X, ...)``).

        Raises:
            ValueError: naming ``X``, the expected shape, or the row and value
                of its first NaN or inf entry.
        """
        X = self._data_arrays(data)[0]
        shape = np.shape(X)
        if len(shape) != 2 or shape[1] != self.dim:
            raise ValueError(
                f"X must have shape (n, {self.dim}): {type(self).__name__}"
                f"(dim={self.dim}) takes one column per data dimension; got "
                f"shape {shape}"
            )
        check_array("X", X, ndim=2)

    # ------------------------------------------------------------ model
    def init(self, key: jax.Array, data: Data | None = None) -> Params:
        """A draw from the prior, with ``mean`` at the sample mean when data are given.

        Args:
            key: a JAX PRNG key.
            data: optional ``(X,)``; only its column means are used.

        Returns:
            One params pytree.
        """
        k_alpha, k_w, k_mean, k_noise = jax.random.split(key, 4)
        alpha_mean, alpha_std = self.log_alpha_prior
        noise_mean, noise_std = self.log_noise_prior
        log_alpha = alpha_mean + alpha_std * jax.random.normal(k_alpha, (self.latent,))
        W = jnp.exp(-0.5 * log_alpha) * jax.random.normal(k_w, (self.dim, self.latent))
        if data is None:
            mean = self.mean_prior_scale * jax.random.normal(k_mean, (self.dim,))
        else:
            mean = jnp.mean(jnp.asarray(data[0]), axis=0).astype(W.dtype)
        return {
            "W": W,
            "log_alpha": log_alpha,
            "mean": mean,
            "log_noise": noise_mean + noise_std * jax.random.normal(k_noise, ()),
        }

    def log_prior(self, params: Params) -> jax.Array:
        """ARD prior on ``W``, Normal priors on ``log_alpha``, ``mean``, ``log_noise``.

        ``log N(w_k; 0, alpha_k^-1 I) = d/2 log alpha_k - alpha_k |w_k|^2 / 2
        - d/2 log 2 pi`` for each column ``k``.
        """
        W, log_alpha = params["W"], params["log_alpha"]
        column_norms = jnp.sum(W * W, axis=0)
        log_p_w = jnp.sum(
            0.5 * self.dim * (log_alpha - LOG_2PI)
            - 0.5 * jnp.exp(log_alpha) * column_norms
        )
        return (
            log_p_w
            + jnp.sum(normal_logpdf(log_alpha, *self.log_alpha_prior))
            + jnp.sum(normal_logpdf(params["mean"], 0.0, self.mean_prior_scale))
            + normal_logpdf(params["log_noise"], *self.log_noise_prior)
        )

    def covariance(self, params: Params) -> jax.Array:
        """The implied data covariance ``W W^T + sigma^2 I``, ``(dim, dim)``."""
        W = params["W"]
        noise_variance = jnp.exp(2.0 * params["log_noise"])
        return W @ W.T + noise_variance * jnp.eye(self.dim, dtype=W.dtype)

    def log_likelihood(self, params: Params, batch: Data) -> jax.Array:
        """``log N(x_i; mean, W W^T + sigma^2 I)`` per row, shape ``(n,)``.

        With ``C = L L^T`` (Cholesky) and ``r_i = L^{-1}(x_i - mean)``:
        ``-|r_i|^2 / 2 - sum log diag L - d/2 log 2 pi``. (For ``d >> q`` the
        Woodbury identity would be cheaper; ``d`` is small here.)
        """
        X = jnp.asarray(batch[0])
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"data must have shape (n, {self.dim}), got {X.shape}")
        cholesky = jnp.linalg.cholesky(self.covariance(params))
        residuals = jax.scipy.linalg.solve_triangular(
            cholesky, (X - params["mean"]).T, lower=True
        )
        log_det_half = jnp.sum(jnp.log(jnp.diagonal(cholesky)))
        return (
            -0.5 * jnp.sum(residuals * residuals, axis=0)
            - log_det_half
            - 0.5 * self.dim * LOG_2PI
        )

    def function_fn(
        self, data: Data, num_probe: int = 16
    ) -> Callable[[Params], jax.Array]:
        """Upper triangle of ``W W^T + sigma^2 I`` and the total log-likelihood.

        Both are invariant under signed permutations (and rotations) of the
        columns of ``W``. ``num_probe`` is unused (kept for a uniform API).

        Args:
            data: ``(X,)``.
            num_probe: unused.

        Returns:
            ``params -> concat(triu(C), [sum_i log p(x_i | theta)])``.
        """
        rows, cols = jnp.triu_indices(self.dim)

        def function(params: Params) -> jax.Array:
            upper = self.covariance(params)[rows, cols]
            total = jnp.sum(self.log_likelihood(params, data))
            return jnp.concatenate([upper, total[None]])

        return function
