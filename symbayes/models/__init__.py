"""Standard Bayesian models with their parameter-space symmetries.

* :class:`MLP`: Bayesian neural networks (permutation, sign flip, rescaling).
* :class:`GaussianMixture`: label switching of mixture components.
* :class:`PPCA`: Bayesian PCA with ARD (signed permutations of latent axes).
* :class:`NumpyroModel`: a user's numpyro model with a symmetry declared on
  its sample sites (:func:`site_axis`).
* :func:`flax_symmetry`, :func:`equinox_symmetry`: the symmetry of an MLP
  written with flax (linen, nnx) or equinox (:mod:`~symbayes.models.nn_bridge`).
* :class:`CNN`: 1-D and 2-D convolutional networks (channel permutations,
  sign flips, rescaling).
* :class:`AttentionNet`: multi-head self-attention with an MLP head (head
  permutations; ``GL(k)`` query-key and value-output maps, diagnosed).
* :class:`LinearNet`: deep linear networks (``GL(h)``, diagnosed, with a
  canonical form).
* :class:`RadialNet`: radial rescaling activations (``O(h)``, diagnosed, with
  a canonical form).

All implement :class:`BayesianModel`.
"""

from symbayes.models._network import SupervisedNetwork
from symbayes.models.attention import AttentionNet
from symbayes.models.base import BayesianModel, Data, Params, probe_inputs
from symbayes.models.cnn import CNN, POOLINGS
from symbayes.models.linear import LinearNet
from symbayes.models.mixture import GaussianMixture
from symbayes.models.mlp import ACTIVATIONS, LIKELIHOODS, MLP, Activation, Predictive
from symbayes.models.nn_bridge import (
    dense_symmetry,
    equinox_symmetry,
    flax_symmetry,
)
from symbayes.models.numpyro_bridge import NumpyroModel, from_numpyro, site_axis
from symbayes.models.ppca import PPCA
from symbayes.models.radial import RADIAL_ACTIVATIONS, RadialNet

__all__ = [
    "ACTIVATIONS",
    "CNN",
    "LIKELIHOODS",
    "MLP",
    "POOLINGS",
    "PPCA",
    "RADIAL_ACTIVATIONS",
    "Activation",
    "AttentionNet",
    "BayesianModel",
    "Data",
    "GaussianMixture",
    "LinearNet",
    "NumpyroModel",
    "Params",
    "Predictive",
    "dense_symmetry",
    "equinox_symmetry",
    "flax_symmetry",
    "RadialNet",
    "SupervisedNetwork",
    "from_numpyro",
    "probe_inputs",
    "site_axis",
]
