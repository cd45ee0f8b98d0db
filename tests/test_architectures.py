"""Convolutional, attention, linear and radial networks: symmetries derived and checked.

For every model and group: random group elements (64 per test) leave outputs
and log density invariant where they should, rescaling and GL maps are
reported as function symmetries only, and wrong declarations are caught;
canonical forms are invariant, idempotent and keep the function
(hypothesis); short NUTS runs with ``none`` and ``fold`` go through
``diagnose``.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symbayes
from symbayes.canonical import canonicalize
from symbayes.datasets import (
    SIGNAL_MOTIFS,
    make_sequence_regression,
    make_signal_classification,
)
from symbayes.models import CNN, AttentionNet, LinearNet, RadialNet
from symbayes.symmetry import (
    ContinuousSymmetry,
    HiddenAxis,
    MatrixAxis,
    MatrixEntry,
    Symmetry,
    SymmetryError,
    canonicalize_continuous,
    check_invariance,
    classify_symmetry,
)

NUM_ELEMENTS = 64  # random group elements per invariance test (>= 50)
RTOL = 1e-5  # float32

MODELS = {
    "cnn1d_tanh_avg": CNN(
        (12, 1),
        channels=(2, 3),
        dense=(3, 2),
        pooling="avg",
        likelihood="categorical",
    ),
    "cnn2d_relu_max": CNN((6, 6, 2), channels=(3,), pooling="max", activation="relu"),
    "cnn1d_tanh_max": CNN((12, 1), channels=(2,), dense=(3, 1), pooling="max"),
    "cnn1d_identity": CNN((10, 1), channels=(2,), activation="identity"),
    "attention": AttentionNet((5, 3), num_heads=2, head_dim=2, mlp=(3, 1)),
    "linear": LinearNet((4, 2, 3)),
    "linear_deep": LinearNet((3, 2, 2, 3)),
    "radial": RadialNet((2, 3, 1)),
    "radial_deep": RadialNet((2, 3, 2, 1), radial_activation="rational"),
}


def example_data(model, n: int = 10, seed: int = 1):
    """Inputs of the model's shape and targets that fit its likelihood."""
    rng = np.random.default_rng(seed)
    shape = getattr(model, "input_shape", None) or (model.layer_sizes[0],)
    X = rng.standard_normal((n, *shape)).astype(np.float32)
    if model.likelihood == "categorical":
        y = rng.integers(0, model.num_outputs, n)
    elif model.num_outputs == 1:
        y = rng.standard_normal(n).astype(np.float32)
    else:
        y = rng.standard_normal((n, model.num_outputs)).astype(np.float32)
    return jnp.asarray(X), jnp.asarray(y)


def max_difference(a, b) -> float:
    """Largest absolute difference of two pytrees (in NumPy: no compilation)."""
    leaves = jax.tree_util.tree_map(
        lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))), a, b
    )
    return max(jax.tree_util.tree_leaves(leaves))


def with_first(theta, images):
    """``theta`` stacked before its images: one batch, one compilation."""
    return jax.tree_util.tree_map(
        lambda t, x: jnp.concatenate([t[None], x]), theta, images
    )


def first(tree):
    return jax.tree_util.tree_map(lambda x: x[0], tree)


def assert_one_orbit_point(canonical, tolerance=1e-4):
    """Every row of a canonical batch equals the first (theta's) row."""
    reference = first(canonical)
    spread = jax.tree_util.tree_map(lambda x, r: x - r[None], canonical, reference)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, spread)
    assert max_difference(spread, zeros) < tolerance


# Jitted once per model: op-by-op dispatch would compile every primitive of
# these small networks separately, which costs more than running them.
@functools.cache
def jitted_init(name):
    return jax.jit(MODELS[name].init)


@functools.cache
def jitted_apply(name):
    return jax.jit(MODELS[name].apply)


@functools.cache
def jitted_images(name, kind):
    """``key, theta -> 8 images g . theta``: the finite group, the posterior
    group (finite and orthogonal), or the general linear maps."""
    model = MODELS[name]

    def images(key, theta):
        keys = jax.random.split(key, 8)
        if kind == "finite":
            elements = jax.vmap(model.symmetry.random_element)(keys)
            return jax.vmap(model.symmetry.act, (0, None))(elements, theta)
        if kind == "general_linear":
            symmetry = model.continuous_symmetry
            elements = jax.vmap(symmetry.random_element)(keys)
            return jax.vmap(symmetry.act, (0, None))(elements, theta)
        return jax.vmap(lambda k: posterior_image(model, theta, k))(keys)

    return jax.jit(images)


# ------------------------------------------------------------------ derivation
def test_groups_are_derived_from_activation_and_pooling():
    groups = {name: [a.groups for a in m.symmetry.axes] for name, m in MODELS.items()}
    assert groups["cnn1d_tanh_avg"] == [("permutation", "sign")] * 3
    assert groups["cnn2d_relu_max"] == [("permutation", "scale")]
    # max(-x) = -min(x): no sign flips under max pooling, the dense units keep them
    assert groups["cnn1d_tanh_max"] == [("permutation",), ("permutation", "sign")]
    assert groups["attention"] == [("permutation",), ("permutation", "sign")]
    assert groups["linear"] == [("permutation", "sign", "scale")]
    assert groups["radial"] == [("permutation", "sign")]
    assert MODELS["cnn1d_tanh_max"].continuous_symmetry is None
    assert MODELS["cnn1d_identity"].continuous_symmetry.axis_names == ("channels_1",)
    attention = MODELS["attention"].continuous_symmetry
    assert attention.axis_names == ("qk_head_0", "vo_head_0", "qk_head_1", "vo_head_1")
    assert MODELS["radial"].continuous_symmetry.axes[0].groups == ("orthogonal",)


def test_flatten_keeps_the_channel_axis():
    model = MODELS["cnn1d_tanh_avg"]
    params = model.init(jax.random.key(0))
    # 12 samples, SAME padding, two poolings by 2: 3 positions x 3 channels
    assert params["dense_W1"].shape == (3, 3, 3)
    assert model.feature_shape == (3,)
    entry = model.symmetry.axis("channels_2").entries[-1]
    assert (entry.path, entry.axis, entry.role) == (("dense_W1",), 1, "out")


def test_log10_order_counts_the_finite_part():
    expected = {
        "cnn1d_tanh_avg": np.log10(2 * 2**2 * 6 * 2**3 * 6 * 2**3),
        "cnn2d_relu_max": np.log10(6),
        "attention": np.log10(2 * 6 * 2**3),
        "linear": np.log10(2 * 2**2),
        "radial": np.log10(6 * 2**3),
    }
    for name, value in expected.items():
        assert MODELS[name].symmetry.log10_order() == pytest.approx(value)
    # continuous groups: two connected components per axis
    assert MODELS["attention"].continuous_symmetry.log10_order() == pytest.approx(
        4 * np.log10(2)
    )
    assert MODELS["attention"].continuous_symmetry.dimension() == 4 * 4
    assert MODELS["radial"].continuous_symmetry.dimension() == 3


# ------------------------------------------------------------------ invariance
def continuous_head(model):
    """The continuous axes of one head (all heads differ only by the index)."""
    symmetry = model.continuous_symmetry
    return None if symmetry is None else ContinuousSymmetry(symmetry.axes[:2])


@pytest.mark.parametrize(
    "name", [n for n in MODELS if n not in ("linear_deep", "radial")]
)
def test_groups_leave_outputs_and_log_density_invariant_where_they_should(name):
    """64 random elements each: the posterior groups leave outputs and log
    density invariant; rescaling and GL maps the outputs only."""
    model = MODELS[name]
    params = jitted_init(name)(jax.random.key(0))
    data = example_data(model)
    logdensity = jax.jit(model.logdensity_fn(data))
    outputs = jax.jit(lambda p: model.apply(p, data[0]))
    both = jax.jit(lambda p: (logdensity(p), outputs(p)))

    key = jax.random.key(10)
    finite = model.symmetry.without_scale()
    report = check_invariance(both, params, finite, key, num=NUM_ELEMENTS)
    assert report.is_invariant(RTOL) and report.num_elements == NUM_ELEMENTS, report
    if model.symmetry.has_scale:
        scale = ("scale",)
        sym = model.symmetry
        report = check_invariance(outputs, params, sym, key, NUM_ELEMENTS, scale)
        assert report.is_invariant(RTOL), report
        report = check_invariance(logdensity, params, sym, key, NUM_ELEMENTS, scale)
        assert not report.is_invariant(RTOL), report
    continuous = continuous_head(model)
    if continuous is None:
        return
    orthogonal = ("orthogonal",)
    report = check_invariance(both, params, continuous, key, NUM_ELEMENTS, orthogonal)
    assert report.is_invariant(RTOL), report
    if any(a.has_general_linear for a in continuous.axes):
        general = ("general_linear",)
        report = check_invariance(
            outputs, params, continuous, key, NUM_ELEMENTS, general
        )
        assert report.is_invariant(RTOL), report
        report = check_invariance(logdensity, params, continuous, key, 16, general)
        assert not report.is_invariant(RTOL), report


@pytest.mark.parametrize("name", ["cnn2d_relu_max", "attention"])
def test_classify_symmetry_reports_function_and_posterior_symmetries(name):
    model = MODELS[name]
    params = model.init(jax.random.key(1))
    data = example_data(model)
    if name == "attention":
        symmetry = ContinuousSymmetry(model.continuous_symmetry.axes[:1])
        expected = {
            ("qk_head_0", "orthogonal"): "posterior symmetry",
            ("qk_head_0", "general_linear"): "function symmetry only",
        }
    else:
        symmetry = model.symmetry
        expected = {
            ("channels_1", "permutation"): "posterior symmetry",
            ("channels_1", "scale"): "function symmetry only",
        }
    result = classify_symmetry(
        model.logdensity_fn(data),
        params,
        symmetry,
        jax.random.key(2),
        function_fn=lambda p: model.apply(p, data[0]),
        num=NUM_ELEMENTS,
        rtol=RTOL,
    )
    lines = result.summary().splitlines()
    assert lines == [
        f"{axis} / {group}: {kind}" for (axis, group), kind in expected.items()
    ]


def test_wrong_declarations_are_caught():
    """Sign flips under max pooling and GL maps of a radial net are no symmetry."""
    model = MODELS["cnn1d_tanh_max"]
    params = model.init(jax.random.key(4))
    X, _ = example_data(model)
    entries = model.symmetry.axis("channels_1").entries
    with_sign = Symmetry(
        (HiddenAxis("channels_1", 2, entries, groups=("permutation", "sign")),)
    )
    report = check_invariance(
        lambda p: model.apply(p, X), params, with_sign, jax.random.key(5), num=16
    )
    assert not report.is_invariant(1e-3)
    radial = MODELS["radial"]
    params = radial.init(jax.random.key(6))
    X, _ = example_data(radial)
    axis = radial.continuous_symmetry.axes[0]
    general = ContinuousSymmetry(
        (MatrixAxis(axis.name, axis.size, axis.entries, groups=("general_linear",)),)
    )
    outputs = lambda p: radial.apply(p, X)  # noqa: E731
    key = jax.random.key(7)
    assert check_invariance(
        outputs, params, general, key, groups=("orthogonal",)
    ).is_invariant(RTOL)
    assert not check_invariance(outputs, params, general, key).is_invariant(1e-3)


def test_matrix_group_laws():
    symmetry = MODELS["attention"].continuous_symmetry
    params = MODELS["attention"].init(jax.random.key(8))
    keys = jax.random.split(jax.random.key(9), 2)
    g, h = (symmetry.random_element(k) for k in keys)
    composed = symmetry.act(symmetry.compose(g, h), params)
    assert max_difference(composed, symmetry.act(g, symmetry.act(h, params))) < 1e-4
    back = symmetry.act(symmetry.inverse(g), symmetry.act(g, params))
    assert max_difference(back, params) < 1e-4
    assert max_difference(symmetry.act(symmetry.identity(), params), params) == 0.0
    orthogonal = symmetry.random_element(keys[0], ("orthogonal",))
    for matrix in orthogonal.matrices:
        np.testing.assert_allclose(matrix @ matrix.T, np.eye(2), atol=1e-5)


# ------------------------------------------------------------------ canonical
def posterior_image(model, params, key):
    """``g . params`` for a random element of the whole posterior group."""
    finite_key, continuous_key = jax.random.split(key)
    finite = model.symmetry.without_scale()
    moved = params
    if model.continuous_symmetry is not None:
        element = model.continuous_symmetry.random_element(
            continuous_key, ("orthogonal",)
        )
        moved = model.continuous_symmetry.act(element, moved)
    return finite.act(finite.random_element(finite_key), moved)


FINITE_CASES = [
    ("cnn1d_tanh_avg", "sort"),
    ("cnn1d_tanh_avg", "align"),
    ("attention", "sort"),
]


@pytest.mark.parametrize(("name", "method"), FINITE_CASES)
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_finite_canonical_forms(name, method, seed):
    """canonicalize(g . theta) == canonicalize(theta), idempotent, same outputs."""
    model = MODELS[name]
    keys = jax.random.split(jax.random.key(seed), 3)
    theta = jitted_init(name)(keys[0])
    pivot = jitted_init(name)(keys[1]) if method == "align" else None
    batch = with_first(theta, jitted_images(name, "finite")(keys[2], theta))
    canonical = canonicalize(batch, model.symmetry, method, pivot=pivot, batch_ndim=1)
    assert_one_orbit_point(canonical)
    again = canonicalize(canonical, model.symmetry, method, pivot=pivot, batch_ndim=1)
    assert max_difference(again, canonical) < 1e-5
    reference = first(canonical)
    X, _ = example_data(model)
    np.testing.assert_allclose(
        jitted_apply(name)(reference, X),
        jitted_apply(name)(theta, X),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("name", ["attention", "linear_deep", "radial_deep"])
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_posterior_canonical_form_with_continuous_groups(name, seed):
    """model.canonicalize: orthogonal SVD form, then the sort map of the finite part."""
    model = MODELS[name]
    keys = jax.random.split(jax.random.key(seed), 2)
    theta = jitted_init(name)(keys[0])
    batch = with_first(theta, jitted_images(name, "posterior")(keys[1], theta))
    canonical = model.canonicalize(batch, batch_ndim=1)
    assert_one_orbit_point(canonical)
    again = model.canonicalize(canonical, batch_ndim=1)
    assert max_difference(again, canonical) < 1e-5
    reference = first(canonical)
    X, _ = example_data(model)
    np.testing.assert_allclose(
        jitted_apply(name)(reference, X),
        jitted_apply(name)(theta, X),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("name", ["attention", "linear"])
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_general_linear_canonical_form(name, seed):
    """The SVD-of-the-product form is invariant under GL, idempotent, same function."""
    model = MODELS[name]
    symmetry = model.continuous_symmetry
    keys = jax.random.split(jax.random.key(seed), 2)
    theta = jitted_init(name)(keys[0])
    batch = with_first(theta, jitted_images(name, "general_linear")(keys[1], theta))
    canonical = canonicalize_continuous(batch, symmetry, "general_linear", batch_ndim=1)
    assert_one_orbit_point(canonical, tolerance=1e-3)
    again = canonicalize_continuous(canonical, symmetry, "general_linear", batch_ndim=1)
    assert max_difference(again, canonical) < 1e-4
    reference = first(canonical)
    X, _ = example_data(model)
    np.testing.assert_allclose(
        jitted_apply(name)(reference, X),
        jitted_apply(name)(theta, X),
        rtol=1e-4,
        atol=1e-4,
    )
    if name == "linear":
        # [W1; b1] = U Sigma^(1/2), W2^T = V Sigma^(1/2): equal column norms, ordered
        incoming = jnp.concatenate([reference["W1"], reference["b1"][None]], axis=0)
        norms_in = jnp.linalg.norm(incoming, axis=0)
        np.testing.assert_allclose(
            norms_in, jnp.linalg.norm(reference["W2"], axis=1), rtol=1e-4
        )
        assert bool(jnp.all(jnp.diff(norms_in) <= 1e-6))
        gram = incoming.T @ incoming
        np.testing.assert_allclose(gram - jnp.diag(jnp.diag(gram)), 0.0, atol=1e-4)


# ------------------------------------------------------------------ errors
def test_bad_configurations_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown pooling"):
        CNN((8, 1), channels=(2,), pooling="min")
    with pytest.raises(ValueError, match="too small"):
        CNN((4, 1), channels=(2, 2), pooling="max", pool_size=3)
    with pytest.raises(ValueError, match="kernel_size"):
        CNN((8, 8, 1), channels=(2,), kernel_size=(3, 3, 3))
    with pytest.raises(ValueError, match="input_shape"):
        CNN((8,), channels=(2,))
    with pytest.raises(ValueError, match="unknown padding"):
        CNN((8, 1), channels=(2,), padding="same")
    with pytest.raises(ValueError, match="categorical likelihood"):
        AttentionNet((4, 2), mlp=(1,), likelihood="categorical")
    with pytest.raises(ValueError, match="num_heads"):
        AttentionNet((4, 2), num_heads=0)
    with pytest.raises(ValueError, match="prior_scale has 2 entries"):
        AttentionNet((4, 2), mlp=(3, 1), prior_scale=(1.0, 1.0))
    with pytest.raises(ValueError, match="unknown radial_activation"):
        RadialNet((2, 3, 1), radial_activation="relu")
    with pytest.raises(ValueError, match="at least 3 entries"):
        LinearNet((2, 1))
    model = MODELS["cnn1d_tanh_avg"]
    with pytest.raises(ValueError, match="fit neither"):
        model.apply(model.init(jax.random.key(0)), jnp.zeros((3, 11)))


def test_bad_matrix_declarations_raise_clear_errors():
    params = {"W1": jnp.ones((3, 2)), "W2": jnp.ones((2, 3)), "W3": jnp.ones((3, 2))}
    with pytest.raises(SymmetryError, match="role must be one of"):
        MatrixEntry("W1", 1, "permute")
    with pytest.raises(SymmetryError, match="unknown matrix group"):
        MatrixAxis("h", 2, (MatrixEntry("W1", 1),), groups=("unitary",))
    wrong_size = ContinuousSymmetry((MatrixAxis("h", 3, (MatrixEntry("W1", 1),)),))
    with pytest.raises(SymmetryError, match="has size 3"):
        wrong_size.validate(params)
    missing = ContinuousSymmetry((MatrixAxis("h", 2, (MatrixEntry("V", 1),)),))
    with pytest.raises(SymmetryError, match="does not exist"):
        missing.validate(params)
    bad_select = ContinuousSymmetry(
        (MatrixAxis("h", 2, (MatrixEntry("W1", 1, "in", ((0, 5),)),)),)
    )
    with pytest.raises(SymmetryError, match="out of range"):
        bad_select.validate(params)
    clash = ContinuousSymmetry(
        (
            MatrixAxis("a", 2, (MatrixEntry("W1", 1),)),
            MatrixAxis("b", 2, (MatrixEntry("W1", 1),)),
        )
    )
    with pytest.raises(SymmetryError, match="acted on by both"):
        clash.validate(params)
    deep = MODELS["linear_deep"]
    theta = deep.init(jax.random.key(0))
    with pytest.raises(SymmetryError, match="no other axis touches"):
        canonicalize_continuous(theta, deep.continuous_symmetry, "general_linear")
    with pytest.raises(SymmetryError, match="no other axis touches"):
        deep.canonicalize(theta, continuous="general_linear")
    narrow = ContinuousSymmetry(
        (
            MatrixAxis(
                "h",
                2,
                (MatrixEntry("W1", 1), MatrixEntry("W2", 0, "out")),
                groups=("general_linear",),
            ),
        )
    )
    with pytest.raises(SymmetryError, match="rows of 'in' entries"):
        canonicalize_continuous(
            {"W1": jnp.ones((1, 2)), "W2": jnp.ones((2, 3))}, narrow, "general_linear"
        )
    with pytest.raises(ValueError, match="NaN or inf"):
        canonicalize_continuous(
            {**theta, "W1": theta["W1"] * jnp.nan}, deep.continuous_symmetry
        )
    with pytest.raises(ValueError, match="unknown matrix group"):
        canonicalize_continuous(theta, deep.continuous_symmetry, "special")
    with pytest.raises(SymmetryError, match="unknown matrix group"):
        deep.continuous_symmetry.random_element(jax.random.key(0), ("permutation",))


# ------------------------------------------------------------------ datasets
def test_signal_classification_data():
    data = make_signal_classification(90, length=16, num_classes=4, num_test=30)
    assert data.X_train.shape == (90, 16) and data.X_test.shape == (30, 16)
    labels = data.y_train.astype(int)
    assert set(labels.tolist()) == {0, 1, 2, 3}
    again = make_signal_classification(90, length=16, num_classes=4, num_test=30)
    np.testing.assert_array_equal(data.X_train, again.X_train)
    # the noiseless motifs are what the classes differ by
    clean = make_signal_classification(40, length=32, num_classes=2, noise=0.0)
    bumps = clean.X_train[clean.y_train == 0]
    assert bool((bumps.min(axis=1) >= 0).all()) and bool(
        (bumps.max(axis=1) > 0.7).all()
    )
    assert len(SIGNAL_MOTIFS) == 4
    with pytest.raises(ValueError, match="num_classes must be <= 4"):
        make_signal_classification(10, num_classes=5)
    with pytest.raises(ValueError, match="length must be >= 8"):
        make_signal_classification(10, length=4)


def test_sequence_regression_is_computed_by_an_attention_head():
    """A 2-head AttentionNet with planted weights reproduces the noiseless target."""
    length, beta = 5, 2.0
    data = make_sequence_regression(
        30, length=length, num_features=2, sharpness=beta, noise=0.0, standardize=False
    )
    model = AttentionNet((length, 2), num_heads=2, head_dim=1, mlp=(1,))
    e0, e1 = jnp.eye(2)
    params = {
        # head 0: similarity of the key features, reads the value feature
        "attn_Q": jnp.stack([beta * e1, jnp.zeros(2)], axis=1)[:, :, None],
        "attn_K": jnp.stack([e1, jnp.zeros(2)], axis=1)[:, :, None],
        "attn_V": jnp.stack([e0, e0], axis=1)[:, :, None],
        # head 1 attends uniformly and cancels the residual copy of x_0
        "attn_O": jnp.stack([e0, -e0])[:, None, :],
        "mlp_W1": e0[:, None],
        "mlp_b1": jnp.zeros(1),
    }
    predicted = model.apply(params, jnp.asarray(data.X_train))[:, 0]
    np.testing.assert_allclose(predicted, data.y_train, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="num_features must be >= 2"):
        make_sequence_regression(10, num_features=1)


# ------------------------------------------------------------------ NUTS runs
def map_estimate(model, data, key, steps=300):
    """A posterior mode by Adam: the point whose images start the chains."""
    logdensity = model.logdensity_fn(data)
    params = model.init(key)
    optimizer = optax.adam(0.05)

    def step(carry, _):
        params, state = carry
        grads = jax.grad(lambda p: -logdensity(p))(params)
        updates, state = optimizer.update(grads, state)
        return (optax.apply_updates(params, updates), state), None

    carry = (params, optimizer.init(params))
    (params, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, None, steps))(carry)
    return params


def chain_starts(model, theta, key, num_chains):
    """Random images of one point under the posterior group, one per chain.

    The chains start in different copies (finite and, for attention, the
    O(1) signs of each head's query-key and value-output pairs), so raw
    coordinates are inflated by construction, whatever the sampler's random
    stream.
    """
    images = [
        posterior_image(model, theta, k) for k in jax.random.split(key, num_chains)
    ]
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *images)


RUN = dict(
    kernel="nuts",
    num_chains=4,
    num_warmup=200,
    num_samples=60,
    key=3,
    progress_bar=False,
    max_num_doublings=5,
)


def runs(model, data, quotients=("none", "fold")):
    theta = map_estimate(model, data, jax.random.key(0))
    init = chain_starts(model, theta, jax.random.key(1), RUN["num_chains"])
    return {
        quotient: symbayes.sample(model, init, data=data, quotient=quotient, **RUN)
        for quotient in quotients
    }


@pytest.fixture(scope="module")
def cnn_runs():
    signals = make_signal_classification(48, length=16, num_classes=3, seed=1)
    data = (jnp.asarray(signals.X_train), jnp.asarray(signals.y_train))
    model = CNN(
        (16, 1),
        channels=(2,),
        dense=(3,),
        pooling="avg",
        pool_size=4,
        likelihood="categorical",
    )
    return model, data, runs(model, data)


@pytest.fixture(scope="module")
def attention_runs():
    sequences = make_sequence_regression(16, length=4, num_features=2, seed=1)
    data = (jnp.asarray(sequences.X_train), jnp.asarray(sequences.y_train))
    model = AttentionNet(
        (4, 2),
        num_heads=2,
        head_dim=1,
        mlp=(2, 1),
        noise=0.5,
        prior_scale=(0.5, 1.0, 1.0),
    )
    return model, data, runs(model, data, ("none",))


@pytest.mark.slow
def test_cnn_nuts_none_and_fold_diagnose(cnn_runs):
    model, data, results = cnn_runs
    none = symbayes.diagnose(results["none"], model=model, data=data)
    # chains in different copies: at 60 draws the Monte Carlo error rule is
    # too cautious to split them, the R-hat rule splits them
    raw = symbayes.diagnose(
        results["none"], model=model, data=data, mode_rule="rhat"
    ).raw
    assert raw.modes.count >= 2
    assert none.canonical.modes.count == 1 == none.function.modes.count
    fold = symbayes.diagnose(results["fold"], model=model, data=data)
    assert fold.raw is None  # fold samples inside one copy: no raw draws
    assert fold.canonical.modes.count == 1
    assert fold.function.modes.count == 1
    # fold's draws lie in the sort domain: channel biases ordered
    assert bool(np.all(np.diff(results["fold"].draws["conv_b1"], axis=-1) >= 0))
    assert results["none"].config["log10_group_order"] == pytest.approx(np.log10(8))
    # predictive helpers on the draws
    lpd = model.log_predictive_density(results["none"].draws, data)
    assert lpd.shape == (data[0].shape[0],)
    assert bool(jnp.all(lpd <= 0)) and float(lpd.mean()) > np.log(1 / 3)
    predictive = model.predictive(results["none"].draws, data[0], jax.random.key(0))
    assert predictive.mean.shape == (4, 60, 48, 3)


@pytest.mark.slow
def test_attention_nuts_diagnose(attention_runs):
    """Raw modes inflated; the head-permutation quotient leaves the O(1) signs,
    which model.canonicalize removes: one mode in canonical and function space.

    ``none`` only: at this size the GL ridges along which the posterior is
    curved by the prior alone mix slowly, and a ``fold`` run tried with two
    seeds once left its chains in 3 canonical modes (function modes 1).
    """
    model, data, results = attention_runs
    for quotient, result in results.items():
        report = symbayes.diagnose(result, model=model, data=data)
        full = symbayes.diagnose(
            dataclasses.replace(
                result, draws=model.canonicalize(result.draws, batch_ndim=2)
            ),
            model=model,
            data=data,
        )
        assert report.function.modes.count == 1, quotient
        assert full.canonical.modes.count == 1, quotient
        rhat = symbayes.diagnose(result, model=model, data=data, mode_rule="rhat")
        assert rhat.raw.modes.count >= rhat.canonical.modes.count >= 2, quotient
