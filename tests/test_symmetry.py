"""Symmetry groups: validation, group laws, the action and invariance checks."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symbayes.models import MLP
from symbayes.symmetry import (
    AxisEntry,
    HiddenAxis,
    Symmetry,
    SymmetryError,
    UnitKey,
    check_invariance,
)

TANH = MLP((2, 3, 4, 1), "tanh")
RELU = MLP((2, 3, 1), "relu")
IDENTITY = MLP((1, 3, 1), "identity")


def tree_max_difference(a, b) -> float:
    differences = jax.tree_util.tree_map(lambda x, y: jnp.max(jnp.abs(x - y)), a, b)
    return float(max(jax.tree_util.tree_leaves(differences)))


def element_max_difference(g, h) -> float:
    return tree_max_difference(g, h)


@pytest.mark.parametrize("model", [TANH, RELU, IDENTITY], ids=lambda m: m.name)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_group_laws(model, seed):
    """act(g o h) = act(g) act(h); g o g^-1 = e; (g o h) o k = g o (h o k)."""
    symmetry = model.symmetry
    keys = jax.random.split(jax.random.key(seed), 4)
    params = model.init(keys[0])
    g, h, k = (symmetry.random_element(key) for key in keys[1:])
    composed = symmetry.act(symmetry.compose(g, h), params)
    sequential = symmetry.act(g, symmetry.act(h, params))
    assert tree_max_difference(composed, sequential) < 1e-5
    identity = symmetry.identity()
    assert (
        element_max_difference(symmetry.compose(g, symmetry.inverse(g)), identity)
        < 1e-5
    )
    assert (
        element_max_difference(symmetry.compose(symmetry.inverse(g), g), identity)
        < 1e-5
    )
    left = symmetry.compose(symmetry.compose(g, h), k)
    right = symmetry.compose(g, symmetry.compose(h, k))
    assert element_max_difference(left, right) < 1e-5
    assert tree_max_difference(symmetry.act(identity, params), params) == 0.0


def test_action_moves_whole_units():
    """Unit j of the output is unit pi(j) of the input, flipped by s_j."""
    symmetry = TANH.symmetry
    params = TANH.init(jax.random.key(1))
    g = symmetry.random_element(jax.random.key(2))
    moved = symmetry.act(g, params)
    perm, sign = np.asarray(g.permutations[0]), np.asarray(g.signs[0])
    np.testing.assert_allclose(moved["W1"], params["W1"][:, perm] * sign)
    np.testing.assert_allclose(moved["b1"], params["b1"][perm] * sign)
    perm2, sign2 = np.asarray(g.permutations[1]), np.asarray(g.signs[1])
    expected_w2 = params["W2"][perm][:, perm2] * sign[:, None] * sign2[None, :]
    np.testing.assert_allclose(moved["W2"], expected_w2, rtol=1e-6)
    np.testing.assert_allclose(moved["W3"], params["W3"][perm2] * sign2[:, None])
    np.testing.assert_array_equal(moved["b3"], params["b3"])


def test_scaling_multiplies_in_and_divides_out():
    symmetry = RELU.symmetry
    params = RELU.init(jax.random.key(3))
    g = symmetry.random_element(jax.random.key(4), groups=("scale",))
    moved = symmetry.act(g, params)
    a = np.asarray(g.scales[0])
    np.testing.assert_allclose(moved["W1"], params["W1"] * a, rtol=1e-6)
    np.testing.assert_allclose(moved["b1"], params["b1"] * a, rtol=1e-6)
    np.testing.assert_allclose(moved["W2"], params["W2"] / a[:, None], rtol=1e-6)
    np.testing.assert_array_equal(g.permutations[0], np.arange(3))


def test_permute_role_is_only_gathered():
    symmetry = Symmetry(
        (
            HiddenAxis(
                "latent",
                3,
                (AxisEntry("W", 1, "in"), AxisEntry("precision", 0, "permute")),
                groups=("permutation", "sign"),
                sign_key=UnitKey("W", (0,)),
                sort_key=UnitKey("precision"),
            ),
        )
    )
    params = {"W": jnp.arange(6.0).reshape(2, 3) + 1.0, "precision": jnp.arange(3.0)}
    symmetry.validate(params)
    g = symmetry.random_element(jax.random.key(5))
    moved = symmetry.act(g, params)
    perm, sign = np.asarray(g.permutations[0]), np.asarray(g.signs[0])
    np.testing.assert_array_equal(moved["precision"], params["precision"][perm])
    np.testing.assert_array_equal(moved["W"], params["W"][:, perm] * sign)


def test_log10_order():
    assert MLP((1, 3, 1), "tanh").symmetry.log10_order() == pytest.approx(
        math.log10(48)
    )
    expected = math.log10(math.factorial(16) * 2**16) * 2
    assert MLP((1, 16, 16, 1)).symmetry.log10_order() == pytest.approx(expected)
    # scaling groups are continuous: only the permutation part is counted
    assert RELU.symmetry.log10_order() == pytest.approx(math.log10(6))


def test_random_permutations_are_uniform():
    """Chi-square test of the 3! permutations over 6000 draws.

    Fixed seed; the 0.1% critical value of chi^2 with 5 degrees of freedom is
    20.5, so a correct sampler fails with probability 0.001.
    """
    symmetry = MLP((1, 3, 1)).symmetry
    elements = jax.vmap(symmetry.random_element)(
        jax.random.split(jax.random.key(6), 6000)
    )
    perms = np.asarray(elements.permutations[0])
    codes = perms[:, 0] * 9 + perms[:, 1] * 3 + perms[:, 2]
    _, counts = np.unique(codes, return_counts=True)
    assert counts.size == 6
    chi2 = float(np.sum((counts - 1000.0) ** 2 / 1000.0))
    assert chi2 < 20.5
    signs = np.asarray(elements.signs[0])
    # each sign is +-1 with probability 1/2: 18000 flips, 4 standard errors
    assert abs(np.mean(signs > 0) - 0.5) < 4 * 0.5 / np.sqrt(18000)


def test_check_invariance_detects_broken_symmetry():
    params = TANH.init(jax.random.key(7))
    X = jnp.linspace(-1, 1, 10).reshape(5, 2)

    def invariant(p):
        return TANH.apply(p, X)

    def not_invariant(p):
        return p["W1"][0]

    key = jax.random.key(8)
    assert check_invariance(invariant, params, TANH.symmetry, key).is_invariant(1e-5)
    report = check_invariance(not_invariant, params, TANH.symmetry, key, num=8)
    assert not report.is_invariant(1e-5)
    assert report.num_elements == 8


# ------------------------------------------------------------------ bad inputs
def mlp_axis(**overrides):
    arguments = dict(
        name="hidden",
        size=3,
        entries=(
            AxisEntry("W1", 1, "in"),
            AxisEntry("b1", 0, "in"),
            AxisEntry("W2", 0, "out"),
        ),
        groups=("permutation", "sign"),
    )
    arguments.update(overrides)
    return HiddenAxis(**arguments)


PARAMS = {"W1": jnp.ones((1, 3)), "b1": jnp.ones(3), "W2": jnp.ones((3, 1))}


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        (
            mlp_axis(entries=(AxisEntry("W9", 1, "in"),)),
            "parameter path 'W9' does not exist; params have: W1, W2, b1",
        ),
        (mlp_axis(size=4), "axis 'hidden' has size 4 but W1 has length 3"),
        (mlp_axis(entries=(AxisEntry("b1", 2, "in"),)), "has no axis 2"),
        (
            mlp_axis(entries=(AxisEntry("b1", 0, "in"), AxisEntry("b1", -1, "out"))),
            "claimed by both",
        ),
        (mlp_axis(sort_key=UnitKey("W2")), "key index"),
        (mlp_axis(sign_key=UnitKey("W7")), "not one of the axis's entries"),
    ],
)
def test_validate_reports_the_problem(axis, message):
    with pytest.raises(SymmetryError, match=message):
        Symmetry((axis,)).validate(PARAMS)


def test_declaration_errors():
    with pytest.raises(SymmetryError, match="unknown group"):
        mlp_axis(groups=("permutation", "rotation"))
    with pytest.raises(SymmetryError, match="role must be one of"):
        AxisEntry("W1", 1, "sideways")
    with pytest.raises(SymmetryError, match="has no entries"):
        mlp_axis(entries=())
    with pytest.raises(SymmetryError, match="size must be >= 1"):
        mlp_axis(size=0)
    with pytest.raises(SymmetryError, match="names must be unique"):
        Symmetry((mlp_axis(), mlp_axis()))
    with pytest.raises(SymmetryError, match="empty parameter path"):
        AxisEntry("", 0)


def test_key_on_a_shared_leaf_is_refused():
    symmetry = TANH.symmetry
    axis = symmetry.axes[1]
    shared_key = HiddenAxis(
        axis.name, axis.size, axis.entries, axis.groups, sort_key=UnitKey("W2", (0,))
    )
    broken = Symmetry((symmetry.axes[0], shared_key))
    with pytest.raises(SymmetryError, match="also moved by another hidden axis"):
        broken.validate(TANH.init(jax.random.key(0)))


def test_nested_paths_and_describe():
    params = {"layer": [{"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}]}
    symmetry = Symmetry(
        (
            HiddenAxis(
                "h", 3, (AxisEntry("layer/0/w", 1), AxisEntry(("layer", 0, "b"), 0))
            ),
        )
    )
    symmetry.validate(params)
    assert "layer/0/w[axis 1, in]" in symmetry.describe()
    moved = symmetry.act(symmetry.random_element(jax.random.key(0)), params)
    assert jax.tree_util.tree_structure(moved) == jax.tree_util.tree_structure(params)
