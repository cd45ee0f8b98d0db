"""Canonical maps: invariance, idempotence, same function; relabelling."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symbayes.canonical import (
    align,
    canonicalize,
    relabel,
    sort_canonicalize,
)
from symbayes.canonical.align import _sort_rows
from symbayes.canonical.sort import _stable_argsort
from symbayes.models import MLP, PPCA, GaussianMixture
from symbayes.symmetry import SymmetryError

NUM_ELEMENTS = 16
X_PROBE = jnp.linspace(-2.0, 2.0, 9).reshape(-1, 1)

MODELS = {
    "tanh_1-4-1": MLP((1, 4, 1), "tanh"),
    "tanh_1-3-3-1": MLP((1, 3, 3, 1), "tanh"),
    "relu_1-3-1": MLP((1, 3, 1), "relu"),
    "mixture_3": GaussianMixture(3, dim=2),
    "ppca_4x2": PPCA(4, 2),
}


def stack(trees):
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *trees)


def take(tree, index):
    return jax.tree_util.tree_map(lambda x: x[index], tree)


def max_difference(a, b) -> float:
    return float(
        max(
            jax.tree_util.tree_leaves(
                jax.tree_util.tree_map(lambda x, y: jnp.max(jnp.abs(x - y)), a, b)
            )
        )
    )


def orbit(model, params, key, num=NUM_ELEMENTS):
    """``num`` random images ``g . params`` (leading batch axis)."""
    elements = jax.vmap(model.symmetry.random_element)(jax.random.split(key, num))
    return jax.vmap(model.symmetry.act, (0, None))(elements, params)


def outputs(model, params):
    if isinstance(model, MLP):
        return model.apply(params, X_PROBE)
    # In float64: with a small noise scale the PPCA covariance is ill-conditioned
    # and its float32 log density changes by ~1e-3 relative under a symmetry.
    with jax.enable_x64(True):
        as64 = partial(jax.tree_util.tree_map, lambda x: jnp.asarray(x, jnp.float64))
        return model.logdensity_fn(as64(DATA[model.name]))(as64(params))


DATA = {
    MODELS["mixture_3"].name: (
        jnp.asarray(np.random.default_rng(0).normal(size=(20, 2)), jnp.float32),
    ),
    MODELS["ppca_4x2"].name: (
        jnp.asarray(np.random.default_rng(1).normal(size=(20, 4)), jnp.float32),
    ),
}


@pytest.mark.parametrize("method", ["sort", "align"])
@pytest.mark.parametrize("name", list(MODELS))
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_canonicalize_is_invariant_idempotent_and_keeps_the_function(
    name, method, seed
):
    model = MODELS[name]
    keys = jax.random.split(jax.random.key(seed), 3)
    theta = model.init(keys[0])
    pivot = model.init(keys[1]) if method == "align" else None
    images = orbit(model, theta, keys[2])
    canonical = canonicalize(images, model.symmetry, method, pivot=pivot, batch_ndim=1)
    reference = canonicalize(theta, model.symmetry, method, pivot=pivot)
    # invariance: every image of theta has the same canonical form
    assert (
        max_difference(
            canonical,
            jax.tree_util.tree_map(
                lambda x: jnp.broadcast_to(x, (NUM_ELEMENTS, *x.shape)), reference
            ),
        )
        < 1e-4
    )
    # idempotence
    again = canonicalize(reference, model.symmetry, method, pivot=pivot)
    assert max_difference(again, reference) < 1e-5
    # the canonical parameters compute the same function / posterior density
    np.testing.assert_allclose(
        outputs(model, reference), outputs(model, theta), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("name", list(MODELS))
def test_returned_element_maps_input_to_canonical(name):
    model = MODELS[name]
    theta = stack([model.init(k) for k in jax.random.split(jax.random.key(3), 4)])
    canonical, elements = canonicalize(
        theta, model.symmetry, batch_ndim=1, return_element=True
    )
    assert (
        max_difference(jax.vmap(model.symmetry.act)(elements, theta), canonical) < 1e-5
    )


def test_sort_lands_in_the_fundamental_domain():
    model = MLP((1, 5, 4, 1), "tanh")
    theta = stack([model.init(k) for k in jax.random.split(jax.random.key(4), 32)])
    canonical = canonicalize(theta, model.symmetry, batch_ndim=1)
    for bias in (canonical["b1"], canonical["b2"]):
        assert bool(jnp.all(bias >= 0))
        assert bool(jnp.all(jnp.diff(bias, axis=-1) >= 0))


def test_scale_axes_are_normalised():
    model = MODELS["relu_1-3-1"]
    theta = model.init(jax.random.key(5))
    canonical, _ = sort_canonicalize(theta, model.symmetry)
    norms = jnp.sqrt(canonical["W1"][0] ** 2 + canonical["b1"] ** 2)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)
    assert bool(jnp.all(jnp.diff(canonical["b1"]) >= 0))


def test_align_finds_the_exact_copy_in_a_two_layer_network():
    """Aligning g . theta to theta returns theta for random g (16-16 units)."""
    model = MLP((1, 16, 16, 1), "tanh")
    theta = model.init(jax.random.key(6))
    images = orbit(model, theta, jax.random.key(7), num=32)
    aligned, _ = align(images, theta, model.symmetry, batch_ndim=1)
    assert (
        max_difference(
            aligned,
            jax.tree_util.tree_map(
                lambda x: jnp.broadcast_to(x, (32, *x.shape)), theta
            ),
        )
        < 1e-5
    )


# --------------------------------------------------------------------- relabel
@pytest.fixture(scope="module")
def planted_modes():
    """3 functionally distinct modes, 2 chains each, draws hit by random g."""
    model = MLP((1, 6, 6, 1), "tanh")
    modes = [model.init(k) for k in jax.random.split(jax.random.key(10), 3)]
    num_chains, num_draws, noise = 6, 150, 0.02
    labels = np.repeat(np.arange(num_chains) % 3, num_draws)
    truth = take(stack(modes), labels)
    keys = jax.random.split(jax.random.key(11), 2)
    leaves, treedef = jax.tree_util.tree_flatten(truth)
    noisy = [
        x + noise * jax.random.normal(k, x.shape)
        for x, k in zip(leaves, jax.random.split(keys[0], len(leaves)))
    ]
    draws = jax.tree_util.tree_unflatten(treedef, noisy)
    elements = jax.vmap(model.symmetry.random_element)(
        jax.random.split(keys[1], labels.size)
    )
    draws = jax.vmap(model.symmetry.act)(elements, draws)
    draws = jax.tree_util.tree_map(
        lambda x: x.reshape(num_chains, num_draws, *x.shape[1:]), draws
    )
    return model, modes, labels, draws, noise


def test_relabel_recovers_planted_modes(planted_modes):
    model, modes, labels, draws, noise = planted_modes
    result = relabel(draws, model.symmetry)
    assert result.converged
    flat = jax.tree_util.tree_map(lambda x: x.reshape(-1, *x.shape[2:]), result.draws)
    for mode_index, mode in enumerate(modes):
        members = take(flat, labels == mode_index)
        representative = jax.tree_util.tree_map(lambda x: x.mean(0), members)
        # every draw within noise (6 standard deviations) of its mode's representative
        spread = max_difference(
            members,
            jax.tree_util.tree_map(
                lambda x, r: jnp.broadcast_to(r, x.shape), members, representative
            ),
        )
        assert spread < 6 * noise
        # and the representative is a copy of the true mode
        truth, _ = align(mode, representative, model.symmetry)
        assert max_difference(truth, representative) < 6 * noise / np.sqrt(300)
    # the elements reproduce the relabelled draws from the input
    moved = jax.vmap(jax.vmap(model.symmetry.act))(result.elements, draws)
    assert max_difference(moved, result.draws) < 1e-5


def test_relabel_without_chains_and_with_a_pivot(planted_modes):
    model, modes, labels, draws, noise = planted_modes
    one_mode = take(draws, 0)  # chain 0: one functional mode
    result = relabel(one_mode, model.symmetry, batch_ndim=1)
    assert result.converged
    centre = jax.tree_util.tree_map(lambda x: x.mean(0), result.draws)
    assert (
        max_difference(result.draws, jax.tree_util.tree_map(lambda x: x[None], centre))
        < 6 * noise
    )
    fixed = relabel(one_mode, model.symmetry, batch_ndim=1, pivot=modes[0])
    assert (
        max_difference(fixed.draws, jax.tree_util.tree_map(lambda x: x[None], modes[0]))
        < 6 * noise
    )


def test_relabel_tolerance_stops_early_and_keeps_the_draws_consistent(planted_modes):
    model, _, _, draws, _ = planted_modes
    exact = relabel(draws, model.symmetry)
    loose = relabel(draws, model.symmetry, tolerance=0.5)
    # the first check (after iteration 2) moves less than half of the draws
    assert loose.converged and loose.num_iterations == 2
    assert loose.num_iterations <= exact.num_iterations
    moved = jax.vmap(jax.vmap(model.symmetry.act))(loose.elements, draws)
    assert max_difference(moved, loose.draws) < 1e-5
    with pytest.raises(ValueError, match="tolerance must lie in"):
        relabel(draws, model.symmetry, tolerance=1.0)


def test_relabel_input_is_left_untouched(planted_modes):
    """The alignment updates buffers in place; never the caller's."""
    model, _, _, draws, _ = planted_modes
    before = jax.tree_util.tree_map(np.array, draws)
    relabel(draws, model.symmetry)
    align(take(draws, 0), take(take(draws, 0), 0), model.symmetry, batch_ndim=1)
    after = jax.tree_util.tree_map(np.asarray, draws)
    assert max_difference(before, after) == 0.0


@pytest.mark.parametrize("length", [0, 1, 2, 3, 7, 16, 31, 32, 33])
def test_sorting_network_sorts(length):
    rows = jax.random.normal(jax.random.key(length), (50, 3, length))
    rows = rows.at[:, 0].set(jnp.round(rows[:, 0]))  # ties
    np.testing.assert_array_equal(_sort_rows(rows), jnp.sort(rows, axis=-1))


@pytest.mark.parametrize("length", [1, 2, 5, 16, 50, 64, 65])
def test_rank_argsort_is_the_stable_argsort(length):
    keys = jnp.round(2 * jax.random.normal(jax.random.key(length), (40, length)))
    keys = keys.at[:, 0].set(-0.0)  # ties, and -0.0 == 0.0 as for jnp.argsort
    np.testing.assert_array_equal(
        jax.vmap(_stable_argsort)(keys), jnp.argsort(keys, axis=1, stable=True)
    )


@pytest.fixture(scope="module")
def mixture_draws():
    """Draws of a well separated 3-component mixture with switched labels."""
    model = GaussianMixture(3, dim=1)
    rng = np.random.default_rng(12)
    means = np.array([[-4.0], [0.0], [4.0]])
    X = (means[rng.integers(0, 3, 90)] + 0.5 * rng.normal(size=(90, 1))).astype(
        np.float32
    )
    truth = {
        "means": jnp.asarray(means, jnp.float32),
        "log_scales": jnp.full((3, 1), np.log(0.5), jnp.float32),
        "log_weights": jnp.zeros(3, jnp.float32),
    }
    num = 200
    noisy = jax.tree_util.tree_map(
        lambda x: x + 0.1 * jnp.asarray(rng.normal(size=(num, *x.shape)), x.dtype),
        truth,
    )
    elements = jax.vmap(model.symmetry.random_element)(
        jax.random.split(jax.random.key(13), num)
    )
    draws = jax.vmap(model.symmetry.act)(elements, noisy)
    probabilities = jax.vmap(model.allocation_probabilities, (0, None))(draws, X)
    draws = jax.tree_util.tree_map(lambda x: x.reshape(2, 100, *x.shape[1:]), draws)
    probabilities = probabilities.reshape(2, 100, *probabilities.shape[1:])
    return model, draws, probabilities


@pytest.mark.parametrize("method", ["pivot", "stephens", "ecr"])
def test_mixture_relabelling_undoes_label_switching(mixture_draws, method):
    model, draws, probabilities = mixture_draws
    result = relabel(
        draws, model.symmetry, method=method, allocation_probabilities=probabilities
    )
    means = np.asarray(result.draws["means"][..., 0]).reshape(-1, 3)
    # one label per component: each column sits around one true mean
    centres = np.sort(means.mean(axis=0))
    np.testing.assert_allclose(centres, [-4.0, 0.0, 4.0], atol=0.1)
    assert np.max(np.abs(means - means.mean(axis=0))) < 0.6
    moved = jax.vmap(jax.vmap(model.symmetry.act))(result.elements, draws)
    assert max_difference(moved, result.draws) < 1e-6


# ------------------------------------------------------------------ bad inputs
def test_bad_inputs_raise_clear_errors():
    model = MODELS["tanh_1-4-1"]
    theta = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"NaN or inf: W1 \(1 non-finite values\)"):
        canonicalize({**theta, "W1": theta["W1"].at[0, 0].set(jnp.nan)}, model.symmetry)
    with pytest.raises(ValueError, match="align needs a pivot"):
        canonicalize(theta, model.symmetry, "align")
    with pytest.raises(ValueError, match="different pytree structures"):
        canonicalize(theta, model.symmetry, "align", pivot={"W1": theta["W1"]})
    with pytest.raises(ValueError, match="pivot leaf W1 has shape"):
        bad_pivot = {**theta, "W1": jnp.ones((2, 4))}
        canonicalize(theta, model.symmetry, "align", pivot=bad_pivot)
    with pytest.raises(ValueError, match="unknown canonical method"):
        canonicalize(theta, model.symmetry, "cluster")
    with pytest.raises(SymmetryError, match="does not exist"):
        canonicalize({"W": theta["W1"]}, model.symmetry)
    with pytest.raises(SymmetryError, match="has size 4 but W1 has length 5"):
        canonicalize({**theta, "W1": jnp.ones((1, 5))}, model.symmetry)
    with pytest.raises(ValueError, match="same 1 leading batch axes"):
        batch = jax.tree_util.tree_map(lambda x: jnp.stack([x, x]), theta)
        canonicalize({**batch, "b2": theta["b2"][None]}, model.symmetry, batch_ndim=1)
    with pytest.raises(ValueError, match="unknown relabel method"):
        relabel(theta, model.symmetry, batch_ndim=0, method="kmeans")


def test_mixture_relabel_errors(mixture_draws):
    model, draws, probabilities = mixture_draws
    with pytest.raises(ValueError, match="need allocation_probabilities"):
        relabel(draws, model.symmetry, method="stephens")
    with pytest.raises(ValueError, match="allocation_probabilities has shape"):
        relabel(
            draws,
            model.symmetry,
            method="ecr",
            allocation_probabilities=probabilities[..., :2],
        )
    with pytest.raises(ValueError, match="pivot_allocation values must lie"):
        relabel(
            draws,
            model.symmetry,
            method="ecr",
            allocation_probabilities=probabilities,
            pivot_allocation=np.full(probabilities.shape[-2], 7),
        )
    tanh = MODELS["tanh_1-4-1"]
    theta = jax.tree_util.tree_map(lambda x: x[None], tanh.init(jax.random.key(0)))
    with pytest.raises(ValueError, match="permutation-only axes"):
        relabel(
            theta,
            tanh.symmetry,
            batch_ndim=1,
            method="stephens",
            allocation_probabilities=np.ones((1, 2, 4)),
        )
