"""Bayesian Gaussian mixtures and their label-switching symmetry.

.. math::

    p(x \\mid \\theta) = \\sum_{k=1}^K w_k \\prod_{j=1}^d
        \\mathcal N(x_j;\\ \\mu_{kj}, \\sigma_{kj}^2), \\qquad
    w = \\operatorname{softmax}(z).

Relabelling the components leaves the likelihood and the exchangeable prior
unchanged, so the ``K!`` permutations of the component axis are exact posterior
symmetries (the label-switching problem: Stephens 2000; Jasra, Holmes &
Stephens 2005).

Prior on the weights: ``exp(z_k) ~ Gamma(alpha, 1)`` i.i.d., so that
``w = softmax(z)`` is ``Dirichlet(alpha, ..., alpha)`` (normalised Gamma
variables; Devroye 1986, ch. XI.4). With the Jacobian ``e^z`` of
``z -> e^z`` the density of each ``z_k`` is ``alpha z_k - e^{z_k} -
lgamma(alpha)`` (a log-Gamma distribution). Unlike a stick-breaking
parametrisation of the simplex, ``z`` lives in ``R^K`` and is permuted by the
relabelling, which keeps the symmetry a plain coordinate permutation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.models.base import (
    BayesianModel,
    Data,
    Params,
    check_array,
    normal_logpdf,
)
from symbayes.models.base import probe_inputs as _probe_inputs
from symbayes.symmetry import AxisEntry, HiddenAxis, Symmetry, UnitKey

__all__ = ["GaussianMixture"]


@dataclass(frozen=True)
class GaussianMixture(BayesianModel):
    """A ``K``-component mixture of diagonal Gaussians with conjugate-style priors.

    Params: ``{"means": (K, dim), "log_scales": (K, dim), "log_weights": (K,)}``.

    Priors: ``means ~ Normal(0, mean_prior_scale^2)``, ``log_scales ~
    Normal(log_scale_prior[0], log_scale_prior[1]^2)``, and
    ``exp(log_weights_k) ~ Gamma(dirichlet_concentration, 1)`` so that the
    weights ``softmax(log_weights)`` are ``Dirichlet(dirichlet_concentration)``.

    Symmetry: one axis ``"component"`` of size ``K``, permutations only; the
    sort key is the first coordinate of each mean.

    Args:
        num_components: ``K >= 1``.
        dim: data dimension ``d``.
        mean_prior_scale: prior standard deviation of the means.
        log_scale_prior: ``(mean, std)`` of the Normal prior on log scales.
        dirichlet_concentration: ``alpha > 0``.
    """

    num_components: int
    dim: int = 1
    mean_prior_scale: float = 5.0
    log_scale_prior: tuple[float, float] = (0.0, 1.0)
    dirichlet_concentration: float = 1.0
    _symmetry: Symmetry = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for attribute in ("num_components", "dim"):
            value = getattr(self, attribute)
            if int(value) != value or value < 1:
                raise ValueError(f"{attribute} must be a positive integer, got {value}")
            object.__setattr__(self, attribute, int(value))
        if not self.mean_prior_scale > 0:
            raise ValueError(
                f"mean_prior_scale must be positive, got {self.mean_prior_scale}"
            )
        mean, std = self.log_scale_prior
        if not std > 0:
            raise ValueError(f"log_scale_prior std must be positive, got {std}")
        object.__setattr__(self, "log_scale_prior", (float(mean), float(std)))
        if not self.dirichlet_concentration > 0:
            raise ValueError(
                "dirichlet_concentration must be positive, got "
                f"{self.dirichlet_concentration}"
            )
        key = UnitKey("means", (0,))
        axis = HiddenAxis(
            "component",
            self.num_components,
            (
                AxisEntry("means", 0, "permute"),
                AxisEntry("log_scales", 0, "permute"),
                AxisEntry("log_weights", 0, "permute"),
            ),
            groups=("permutation",),
            sort_key=key,
            # No sign group; symmetry.validate still resolves a sign key.
            sign_key=key,
        )
        object.__setattr__(self, "_symmetry", Symmetry((axis,)))

    @property
    def symmetry(self) -> Symmetry:
        return self._symmetry

    @property
    def name(self) -> str:
        return f"gmm_{self.num_components}x{self.dim}d"

    def _inputs(self, X: jax.Array) -> jax.Array:
        X = jnp.asarray(X)
        if X.ndim == 1 and self.dim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(
                f"data must have shape (n, {self.dim}), got {tuple(X.shape)}"
            )
        return X

    # ------------------------------------------------------------ data
    def check_data(self, data: Data) -> None:
        """Check that ``X`` (the first array) is finite, of shape ``(n, dim)``.

        A 1-D ``X`` is read as ``(n, 1)`` when ``dim = 1``. Further
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
        if len(shape) == 1 and self.dim == 1:
            shape = (shape[0], 1)
            X = np.reshape(X, shape)
        if len(shape) != 2 or shape[1] != self.dim:
            raise ValueError(
                f"X must have shape (n, {self.dim}): {type(self).__name__}"
                f"(dim={self.dim}) takes one column per data dimension; got "
                f"shape {shape}"
            )
        check_array("X", X, ndim=2)

    # ------------------------------------------------------------ model
    def init(self, key: jax.Array, data: Data | None = None) -> Params:
        """A prior draw, with the means spread over the data when given.

        Without data every parameter is drawn from the prior. With data the
        means are ``K`` distinct training points drawn at random (a dispersed,
        data-scaled start; the wide prior on the means would otherwise put
        most components far from the data), and the log scales are
        ``log std(X)`` plus ``Normal(0, 0.1^2)`` jitter; the log weights are
        still prior draws.

        Args:
            key: a JAX PRNG key.
            data: optional ``(X,)``.

        Returns:
            One params pytree.
        """
        k_mean, k_scale, k_weight = jax.random.split(key, 3)
        shape = (self.num_components, self.dim)
        alpha = self.dirichlet_concentration
        log_weights = jax.random.loggamma(k_weight, alpha, (self.num_components,))
        if data is None:
            mean, std = self.log_scale_prior
            return {
                "means": self.mean_prior_scale * jax.random.normal(k_mean, shape),
                "log_scales": mean + std * jax.random.normal(k_scale, shape),
                "log_weights": log_weights,
            }
        X = self._inputs(data[0])
        n = X.shape[0]
        rows = jax.random.choice(
            k_mean, n, (self.num_components,), replace=n < self.num_components
        )
        spread = jnp.log(jnp.std(X, axis=0) + jnp.finfo(X.dtype).tiny)
        jitter = 0.1 * jax.random.normal(k_scale, shape, X.dtype)
        return {
            "means": X[rows],
            "log_scales": spread + jitter,
            "log_weights": log_weights.astype(X.dtype),
        }

    def log_prior(self, params: Params) -> jax.Array:
        """Normal priors on means and log scales, log-Gamma on the log weights."""
        mean, std = self.log_scale_prior
        alpha = self.dirichlet_concentration
        z = params["log_weights"]
        log_gamma_density = alpha * z - jnp.exp(z) - math.lgamma(alpha)
        return (
            jnp.sum(normal_logpdf(params["means"], 0.0, self.mean_prior_scale))
            + jnp.sum(normal_logpdf(params["log_scales"], mean, std))
            + jnp.sum(log_gamma_density)
        )

    def component_log_densities(self, params: Params, X: jax.Array) -> jax.Array:
        """``log w_k + log N(x_i; mu_k, diag sigma_k^2)``, shape ``(n, K)``."""
        X = self._inputs(X)
        per_coordinate = normal_logpdf(
            X[:, None, :], params["means"], jnp.exp(params["log_scales"])
        )
        log_weights = jax.nn.log_softmax(params["log_weights"])
        return per_coordinate.sum(axis=2) + log_weights

    def log_likelihood(self, params: Params, batch: Data) -> jax.Array:
        """``log sum_k w_k N(x_i; mu_k, sigma_k^2)`` per row (logsumexp), ``(n,)``."""
        joint = self.component_log_densities(params, batch[0])
        return jax.scipy.special.logsumexp(joint, axis=1)

    def allocation_probabilities(self, params: Params, X: jax.Array) -> jax.Array:
        """Responsibilities ``P(z_i = k | x_i, theta)``, shape ``(n, K)``.

        Under a relabelling ``g`` the columns permute like the components:
        ``allocation(g . theta)[:, j] == allocation(theta)[:, pi(j)]``.
        """
        return jax.nn.softmax(self.component_log_densities(params, X), axis=1)

    def function_fn(
        self, data: Data, num_probe: int = 16
    ) -> Callable[[Params], jax.Array]:
        """Mixture log density at probe points and the total log-likelihood.

        Probe points: evenly spaced over the data range for ``dim = 1``, else
        a fixed subset of data rows. Invariant under relabelling.

        Args:
            data: ``(X,)``.
            num_probe: number of probe points.

        Returns:
            ``params -> concat(log p(probes | theta), [sum_i log p(x_i | theta)])``.
        """
        probes = _probe_inputs(self._inputs(data[0]), num_probe)

        def function(params: Params) -> jax.Array:
            at_probes = self.log_likelihood(params, (probes,))
            total = jnp.sum(self.log_likelihood(params, data))
            return jnp.concatenate([at_probes, total[None]])

        return function
