"""Standard Bayesian models with their parameter-space symmetries.

* :class:`MLP`: Bayesian neural networks (permutation, sign flip, rescaling).
* :class:`GaussianMixture`: label switching of mixture components.
* :class:`PPCA`: Bayesian PCA with ARD (signed permutations of latent axes).
* :class:`NumpyroModel`: a user's numpyro model with a symmetry declared on
  its sample sites (:func:`site_axis`).
* :func:`flax_symmetry`, :func:`equinox_symmetry`: the symmetry of an MLP
  written with flax (linen, nnx) or equinox (:mod:`~symbayes.models.nn_bridge`).

All implement :class:`BayesianModel`.
"""

from symbayes.models.base import BayesianModel, Data, Params, probe_inputs
from symbayes.models.mixture import GaussianMixture
from symbayes.models.mlp import ACTIVATIONS, LIKELIHOODS, MLP, Activation, Predictive
from symbayes.models.nn_bridge import (
    dense_symmetry,
    equinox_symmetry,
    flax_symmetry,
)
from symbayes.models.numpyro_bridge import NumpyroModel, from_numpyro, site_axis
from symbayes.models.ppca import PPCA

__all__ = [
    "ACTIVATIONS",
    "LIKELIHOODS",
    "MLP",
    "PPCA",
    "Activation",
    "BayesianModel",
    "Data",
    "GaussianMixture",
    "NumpyroModel",
    "Params",
    "Predictive",
    "dense_symmetry",
    "equinox_symmetry",
    "flax_symmetry",
    "from_numpyro",
    "probe_inputs",
    "site_axis",
]
