"""Symmetries derived from flax (linen, nnx) and equinox MLPs (optional extras)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbayes.canonical import canonicalize
from symbayes.models.nn_bridge import activation_groups, dense_symmetry
from symbayes.symmetry import SymmetryError, check_invariance

X = jnp.linspace(-2.0, 2.0, 7)[:, None]


@pytest.mark.parametrize(
    ("activation", "groups"),
    [
        (jnp.tanh, ("permutation", "sign")),
        (jax.nn.relu, ("permutation", "scale")),
        (jax.nn.gelu, ("permutation",)),
        (lambda x: x, ("permutation", "sign", "scale")),
        ("sin", ("permutation", "sign")),
    ],
)
def test_activation_groups_are_tested_not_assumed(activation, groups):
    assert activation_groups(activation) == groups


def test_flax_linen_mlp():
    nn = pytest.importorskip("flax.linen")

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            for width in (4, 3):
                x = nn.tanh(nn.Dense(width)(x))
            return nn.Dense(1)(x)

    net = Net()
    variables = net.init(jax.random.key(0), X)
    from symbayes.models import flax_symmetry

    symmetry = flax_symmetry(variables, nn.tanh)
    assert [axis.size for axis in symmetry.axes] == [4, 3]
    assert symmetry.axes[0].groups == ("permutation", "sign")
    report = check_invariance(
        lambda v: net.apply(v, X), variables, symmetry, jax.random.key(1), num=8
    )
    assert report.is_invariant(rtol=1e-5)
    canonical = canonicalize(variables, symmetry)
    bias = canonical["params"]["Dense_0"]["bias"]
    assert bool(jnp.all(bias >= 0) & jnp.all(jnp.diff(bias) >= 0))
    np.testing.assert_allclose(
        net.apply(canonical, X), net.apply(variables, X), rtol=1e-5, atol=1e-6
    )


def test_flax_nnx_mlp():
    nnx = pytest.importorskip("flax.nnx")
    rngs = nnx.Rngs(0)
    model = nnx.Sequential(
        nnx.Linear(1, 5, rngs=rngs), nnx.relu, nnx.Linear(5, 1, rngs=rngs)
    )
    graph, state = nnx.split(model)
    from symbayes.models import flax_symmetry

    symmetry = flax_symmetry(model, nnx.relu)
    assert symmetry.axes[0].groups == ("permutation", "scale")
    assert symmetry == flax_symmetry(state, nnx.relu)
    report = check_invariance(
        lambda s: nnx.merge(graph, s)(X), state, symmetry, jax.random.key(2), num=8
    )
    assert report.is_invariant(rtol=1e-5)


def test_equinox_mlp():
    eqx = pytest.importorskip("equinox")
    model = eqx.nn.MLP(1, 1, 4, 2, activation=jax.nn.tanh, key=jax.random.key(0))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    from symbayes.models import equinox_symmetry

    symmetry = equinox_symmetry(model)  # activation read from the model
    assert [axis.size for axis in symmetry.axes] == [4, 4]
    assert symmetry.axes[0].entries[0].path == ("layers", "0", "weight")
    assert symmetry.axes[0].entries[0].axis == 0  # (out, in) layout

    def apply(p):
        return jax.vmap(eqx.combine(p, static))(X)

    report = check_invariance(apply, params, symmetry, jax.random.key(3), num=8)
    assert report.is_invariant(rtol=1e-5)


def test_layers_that_do_not_chain_are_refused():
    params = {
        "a": {"kernel": jnp.ones((1, 4)), "bias": jnp.zeros(4)},
        "b": {"kernel": jnp.ones((3, 1)), "bias": jnp.zeros(1)},
    }
    with pytest.raises(SymmetryError, match="do not chain"):
        dense_symmetry(params, jnp.tanh)
    with pytest.raises(SymmetryError, match="no dense layers"):
        dense_symmetry({"w": jnp.ones(3)}, jnp.tanh)
    with pytest.raises(SymmetryError, match="bias a/bias has shape"):
        dense_symmetry(
            {"a": {"kernel": jnp.ones((1, 4)), "bias": jnp.zeros(3)}}, jnp.tanh
        )
    with pytest.raises(SymmetryError, match="no hidden units"):
        dense_symmetry({"a": {"kernel": jnp.ones((1, 4))}}, jnp.tanh)
