"""Draws from numpyro's own MCMC, diagnosed and canonicalised by symbayes.

A 1-2-1 tanh BNN sampled with numpyro's NUTS (not symbayes), four chains
started in four symmetric copies of one network, converted with
``az.from_numpyro``: raw R-hat is high (label switching), while canonical
and function R-hat are below 1.01 and the chains share one canonical mode.
One module-scoped run (about 20 s on 2 CPU cores, most of it compilation).
"""

from __future__ import annotations

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS

import symbayes
from symbayes.models import MLP, site_axis
from symbayes.symmetry import Symmetry

NOISE = 0.1
X = jnp.linspace(-2.0, 2.0, 40)[:, None]
TRUE = {
    "W1": jnp.array([[2.0, -1.5]]),
    "b1": jnp.array([0.5, -2.0]),  # |b| well apart: the sort map is stable
    "W2": jnp.array([[1.5], [1.0]]),
    "b2": jnp.array([0.3]),
}
MODEL = MLP((1, 2, 1), "tanh", noise=NOISE)
Y = MODEL.apply(TRUE, X)[:, 0] + NOISE * jax.random.normal(jax.random.key(1), (40,))


def bnn(X, y=None):
    W1 = numpyro.sample("W1", dist.Normal(0, 1).expand([1, 2]).to_event(2))
    b1 = numpyro.sample("b1", dist.Normal(0, 1).expand([2]).to_event(1))
    W2 = numpyro.sample("W2", dist.Normal(0, 1).expand([2, 1]).to_event(2))
    b2 = numpyro.sample("b2", dist.Normal(0, 1).expand([1]).to_event(1))
    mean = (jnp.tanh(X @ W1 + b1) @ W2 + b2)[:, 0]
    numpyro.sample("y", dist.Normal(mean, NOISE), obs=y)


# the symmetry declared on the numpyro sample sites
pytestmark = pytest.mark.slow  # one numpyro MCMC run: ~20-40 s, compilation

SYMMETRY = Symmetry(
    (
        site_axis(
            "hidden",
            2,
            [("W1", 1, "in"), ("b1", 0, "in"), ("W2", 0, "out")],
            groups=("permutation", "sign"),
        ),
    )
)


@pytest.fixture(scope="module")
def inference_data():
    keys = jax.random.split(jax.random.key(2), 4)
    elements = [SYMMETRY.random_element(key) for key in keys]
    starts = [SYMMETRY.act(g, TRUE) for g in elements]
    init = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *starts)
    mcmc = MCMC(
        NUTS(bnn),
        num_warmup=400,
        num_samples=1200,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), X, y=Y, init_params=init)
    return az.from_numpyro(mcmc)


@pytest.fixture(scope="module")
def report(inference_data):
    return symbayes.diagnose(
        inference_data, symmetry=SYMMETRY, function=MODEL.function_fn((X, Y))
    )


def test_label_switching_is_not_a_convergence_problem(report):
    assert report.raw.rhat_max > 1.5  # chains in different copies
    assert report.canonical.rhat_max < 1.01
    assert report.function.rhat_max < 1.01
    assert report.canonical.modes.count == 1
    assert report.function.modes.count == 1
    assert report.raw.modes.count == 4
    summary = report.summary()
    assert summary["unseen_mass_canonical"] == 0.0
    assert summary["unseen_mass_raw"] == 1.0


def test_representative_is_checked_against_the_log_likelihood_group(report):
    """From az.from_numpyro's log_likelihood group, summed per draw."""
    mode = report.canonical.modes.modes[0]
    assert np.isfinite(mode.representative_log_likelihood)
    assert 0.05 < mode.log_likelihood_quantile < 1.0


def test_canonicalize_numpyro_inference_data(inference_data):
    canonical = symbayes.canonicalize(inference_data, SYMMETRY)
    assert isinstance(canonical, type(inference_data))
    assert {"posterior", "raw_posterior", "log_likelihood"} <= set(canonical.groups())
    bias = canonical.posterior["b1"].values
    assert np.all(bias >= 0) and np.all(np.diff(bias, axis=-1) >= 0)
    np.testing.assert_array_equal(
        canonical.raw_posterior["W1"].values, inference_data.posterior["W1"].values
    )
