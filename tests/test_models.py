"""Models: log densities, function-space outputs and their symmetries."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax.flatten_util import ravel_pytree

from symbayes.models import (
    MLP,
    PPCA,
    BayesianModel,
    GaussianMixture,
    NumpyroModel,
    from_numpyro,
    probe_inputs,
    site_axis,
)
from symbayes.symmetry import (
    GROUPS,
    Symmetry,
    SymmetryError,
    check_invariance,
    classify_symmetry,
)

RTOL = 1e-5
NUM_ELEMENTS = 50


def regression_data(d_in: int, n: int = 24, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2.0, 2.0, (n, d_in)).astype(np.float32)
    y = np.sin(X.sum(axis=1)) + 0.1 * rng.normal(size=n)
    return jnp.asarray(X), jnp.asarray(y, jnp.float32)


def cluster_data(dim: int, n: int = 30, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    centres = np.array([-3.0, 0.0, 3.0])[:, None] * np.ones(dim)
    X = centres[rng.integers(0, 3, n)] + 0.5 * rng.normal(size=(n, dim))
    return (jnp.asarray(X, jnp.float32),)


def max_scaled_deviation(fn, params, symmetry, key, groups=GROUPS, spread=0.5):
    """Largest |fn(g theta) - fn(theta)| over random g, each output scaled by its
    own size max|fn(theta)|: a relative error that does not blow up at zeros."""
    reference = fn(params)
    sizes = jax.tree_util.tree_map(
        lambda r: jnp.maximum(jnp.max(jnp.abs(r)), 1e-30), reference
    )

    def scaled(p):
        return jax.tree_util.tree_map(lambda out, s: out / s, fn(p), sizes)

    report = check_invariance(
        scaled, params, symmetry, key, NUM_ELEMENTS, groups, scale_log_std=spread
    )
    return report.max_abs_error


# ---------------------------------------------------------------- MLP
@pytest.mark.parametrize(
    ("sizes", "activation"),
    [
        ((1, 3, 1), "tanh"),
        ((2, 4, 3, 1), "tanh"),
        ((1, 3, 1), "sin"),
        ((1, 3, 1), "erf"),
    ],
)
def test_odd_activation_permutation_and_sign_are_posterior_symmetries(
    sizes, activation
):
    model = MLP(sizes, activation)
    assert model.activation_is_odd and not model.activation_is_homogeneous
    assert [axis.name for axis in model.symmetry.axes] == [
        f"hidden_{layer}" for layer in range(1, len(sizes) - 1)
    ]
    assert all(a.groups == ("permutation", "sign") for a in model.symmetry.axes)
    data = regression_data(sizes[0])
    params = model.init(jax.random.key(0))
    logdensity, function = model.logdensity_fn(data), model.function_fn(data)

    def outputs(p):
        return model.apply(p, data[0]), function(p), logdensity(p)

    deviation = max_scaled_deviation(outputs, params, model.symmetry, jax.random.key(1))
    assert deviation < RTOL


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_homogeneous_activation_scale_is_a_function_symmetry_only(activation):
    model = MLP((1, 4, 1), activation)
    assert model.symmetry.axes[0].groups == ("permutation", "scale")
    data = regression_data(1)
    params = model.init(jax.random.key(2))
    logdensity = model.logdensity_fn(data)
    result = classify_symmetry(
        logdensity,
        params,
        model.symmetry,
        jax.random.key(3),
        function_fn=model.function_fn(data),
        num=NUM_ELEMENTS,
    )
    assert result.function[("hidden_1", "permutation")]
    assert result.posterior[("hidden_1", "permutation")]
    assert result.function[("hidden_1", "scale")]
    assert not result.posterior[("hidden_1", "scale")]
    # with a wide spread of scale factors the log prior clearly changes
    report = check_invariance(
        lambda p: model.log_prior(p),
        params,
        model.symmetry,
        jax.random.key(4),
        NUM_ELEMENTS,
        ("scale",),
        scale_log_std=1.0,
    )
    assert report.max_rel_error > 1e-2


def test_non_odd_non_homogeneous_activation_has_permutations_only():
    model = MLP((1, 4, 1), "gelu")
    assert model.symmetry.axes[0].groups == ("permutation",)
    assert MLP((1, 2, 1), "identity").symmetry.axes[0].groups == GROUPS
    data = regression_data(1)
    params = model.init(jax.random.key(5))
    result = classify_symmetry(
        model.logdensity_fn(data),
        params,
        model.symmetry,
        jax.random.key(6),
        function_fn=model.function_fn(data),
        num=NUM_ELEMENTS,
    )
    assert result.posterior == {("hidden_1", "permutation"): True}
    assert result.function == {("hidden_1", "permutation"): True}


def test_bernoulli_and_categorical_match_a_hand_computation():
    X = jnp.array([[0.5, -1.0], [-1.0, 2.0], [0.0, 0.3]], jnp.float32)
    W1 = np.array([[0.3, -0.7], [1.1, 0.2]], np.float32)
    b1 = np.array([0.1, -0.4], np.float32)
    hidden = np.tanh(np.asarray(X) @ W1 + b1)

    binary = MLP((2, 2, 1), "tanh", likelihood="bernoulli")
    params = {
        "W1": W1,
        "b1": b1,
        "W2": np.array([[2.0], [-1.5]]),
        "b2": np.array([0.25]),
    }
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
    y = jnp.array([1, 0, 1])
    logits = hidden @ np.array([2.0, -1.5]) + 0.25
    prob = 1 / (1 + np.exp(-logits))
    expected = np.where(np.asarray(y) == 1, np.log(prob), np.log1p(-prob))
    np.testing.assert_allclose(
        binary.log_likelihood(params, (X, y)), expected, rtol=1e-5
    )
    huge = jax.tree_util.tree_map(lambda a: 1e3 * a, params)
    assert np.isfinite(binary.log_likelihood(huge, (X, y))).all()

    classes = MLP((2, 2, 3), "tanh", likelihood="categorical")
    W2 = np.array([[1.0, -0.5, 0.3], [0.2, 0.8, -1.2]], np.float32)
    b2 = np.array([0.0, 0.1, -0.2], np.float32)
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    params = jax.tree_util.tree_map(jnp.asarray, params)
    labels = jnp.array([0, 2, 1])
    logits = hidden @ W2 + b2
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = log_probs[np.arange(3), np.asarray(labels)]
    np.testing.assert_allclose(
        classes.log_likelihood(params, (X, labels)), expected, rtol=1e-5
    )
    huge = jax.tree_util.tree_map(lambda a: 1e3 * a, params)
    assert np.isfinite(classes.log_likelihood(huge, (X, labels))).all()


def test_minibatch_logdensity_with_the_full_batch_equals_logdensity():
    model = MLP((2, 3, 1), "tanh", noise=None)
    data = regression_data(2)
    params = model.init(jax.random.key(7))
    assert "log_noise" in params
    full = model.logdensity_fn(data)(params)
    minibatch = model.minibatch_logdensity_fn(data[0].shape[0])
    np.testing.assert_allclose(minibatch(params, data), full, rtol=1e-6)
    half = tuple(a[:12] for a in data)
    expected = model.log_prior(params) + 2 * model.log_likelihood(params, half).sum()
    np.testing.assert_allclose(minibatch(params, half), expected, rtol=1e-6)


def test_mlp_helpers_names_probes_and_vmapped_predictive():
    model = MLP((2, 3, 1), "tanh")
    params = model.init(jax.random.key(8))
    names = BayesianModel.parameter_names(params)
    assert model.num_params(params) == len(names) == 2 * 3 + 3 + 3 + 1
    assert names[:2] == ["W1[0,0]", "W1[0,1]"] and names[-1] == "b2[0]"
    flat, _ = ravel_pytree(params)
    assert flat[1] == params["W1"][0, 1]

    X, y = regression_data(2)
    assert probe_inputs(X).shape == (16, 2)
    one_d = probe_inputs(jnp.array([[3.0], [-1.0], [0.0]]), 5)
    np.testing.assert_allclose(one_d[:, 0], np.linspace(-1, 3, 5))
    assert model.function_fn((X, y))(params).shape == (17,)

    draws = jax.jit(jax.vmap(jax.vmap(model.init)))(
        jax.random.split(jax.random.key(9), 6).reshape(2, 3)
    )
    predictive = model.predictive(draws, X, jax.random.key(10))
    assert predictive.mean.shape == predictive.samples.shape == (2, 3, X.shape[0])
    np.testing.assert_allclose(
        predictive.mean[1, 2],
        model.apply(jax.tree_util.tree_map(lambda a: a[1, 2], draws), X)[:, 0],
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layer_sizes": (1, 3, 1), "activation": "swoosh"}, "unknown activation"),
        ({"layer_sizes": (1, 3, 1), "likelihood": "poisson"}, "unknown likelihood"),
        ({"layer_sizes": (1, 0, 1)}, "positive integers"),
        ({"layer_sizes": (2, 1)}, "at least one hidden layer"),
        ({"layer_sizes": (1, 3, 1), "prior_scale": 0.0}, "prior_scale must be"),
        ({"layer_sizes": (1, 3, 1), "prior_scale": (1.0, -1.0)}, "prior_scale must"),
        ({"layer_sizes": (1, 3, 1), "prior_scale": (1.0,)}, "2 weight layers"),
        ({"layer_sizes": (1, 3, 2), "likelihood": "bernoulli"}, "one output"),
        ({"layer_sizes": (1, 3, 1), "likelihood": "categorical"}, "one output per"),
        ({"layer_sizes": (1, 3, 1), "noise": -0.1}, "noise must be positive"),
    ],
)
def test_mlp_rejects_bad_configurations(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match="tanh.*relu.*gelu"):
        MLP((1, 3, 1), "swoosh")


# ---------------------------------------------------------------- mixture
@pytest.mark.parametrize("dim", [1, 2])
def test_mixture_relabelling_is_a_posterior_symmetry(dim):
    model = GaussianMixture(3, dim)
    data = cluster_data(dim)
    params = model.init(jax.random.key(11), data)
    assert params["means"].shape == params["log_scales"].shape == (3, dim)
    logdensity, function = model.logdensity_fn(data), model.function_fn(data)
    deviation = max_scaled_deviation(
        lambda p: (logdensity(p), function(p)),
        params,
        model.symmetry,
        jax.random.key(12),
    )
    assert deviation < RTOL

    X = data[0]
    allocation = model.allocation_probabilities(params, X)
    np.testing.assert_allclose(allocation.sum(axis=1), 1.0, rtol=1e-5)
    symmetry = model.symmetry
    elements = jax.jit(jax.vmap(symmetry.random_element))(
        jax.random.split(jax.random.key(13), NUM_ELEMENTS)
    )
    moved = jax.jit(
        jax.vmap(lambda g: model.allocation_probabilities(symmetry.act(g, params), X))
    )(elements)
    expected = jax.vmap(lambda perm: allocation[:, perm])(elements.permutations[0])
    np.testing.assert_allclose(moved, expected, atol=1e-5)
    assert np.abs(moved - allocation).max() > 0.1  # the relabelling does act


def test_mixture_prior_on_log_weights_is_a_dirichlet_in_disguise():
    model = GaussianMixture(2, 1, dirichlet_concentration=2.0)
    params = model.init(jax.random.key(14))
    z = params["log_weights"]
    rest = {**params, "log_weights": jnp.zeros(2)}
    log_gamma = np.sum(2.0 * np.asarray(z) - np.exp(np.asarray(z)))  # lgamma(2) = 0
    np.testing.assert_allclose(
        model.log_prior(params) - model.log_prior(rest), log_gamma + 2.0, rtol=1e-5
    )


# ---------------------------------------------------------------- PPCA
@pytest.fixture(scope="module")
def ppca_setup():
    model = PPCA(dim=5, latent=3)
    rng = np.random.default_rng(1)
    W = rng.normal(size=(5, 3))
    X = rng.normal(size=(40, 3)) @ W.T + 0.3 * rng.normal(size=(40, 5))
    data = (jnp.asarray(X, jnp.float32),)
    params = model.init(jax.random.key(15), data)
    params["log_alpha"] = jnp.array([-1.0, 0.0, 1.5])
    return model, data, params


def test_ppca_signed_permutations_are_posterior_symmetries(ppca_setup):
    model, data, params = ppca_setup
    assert model.symmetry.axes[0].groups == ("permutation", "sign")
    logdensity, function = model.logdensity_fn(data), model.function_fn(data)
    assert function(params).shape == (5 * 6 // 2 + 1,)
    deviation = max_scaled_deviation(
        lambda p: (logdensity(p), function(p)),
        params,
        model.symmetry,
        jax.random.key(16),
    )
    assert deviation < RTOL
    flipped = model.symmetry.act(
        model.symmetry.random_element(jax.random.key(17), ("sign",)), params
    )
    np.testing.assert_array_equal(flipped["log_alpha"], params["log_alpha"])


def test_ppca_rotation_keeps_the_likelihood_but_not_the_ard_prior(ppca_setup):
    model, data, params = ppca_setup
    rotation, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(18), (3, 3)))
    rotated = {**params, "W": params["W"] @ rotation}
    log_likelihood = model.log_likelihood(params, data).sum()
    np.testing.assert_allclose(
        model.log_likelihood(rotated, data).sum(), log_likelihood, rtol=RTOL
    )
    assert abs(model.log_prior(rotated) - model.log_prior(params)) > 0.1
    X = np.asarray(data[0], np.float64)
    covariance = np.asarray(model.covariance(params), np.float64)
    residual = X - np.asarray(params["mean"])
    _, log_det = np.linalg.slogdet(covariance)
    quadratic = np.einsum("ni,ij,nj->n", residual, np.linalg.inv(covariance), residual)
    expected = -0.5 * (quadratic + log_det + 5 * np.log(2 * np.pi))
    np.testing.assert_allclose(model.log_likelihood(params, data), expected, rtol=1e-4)


# ---------------------------------------------------------------- numpyro
HIDDEN = 3


def numpyro_bnn(X, y=None):
    W1 = numpyro.sample("W1", dist.Normal(0, 1).expand([1, HIDDEN]).to_event(2))
    b1 = numpyro.sample("b1", dist.Normal(0, 1).expand([HIDDEN]).to_event(1))
    W2 = numpyro.sample("W2", dist.Normal(0, 1).expand([HIDDEN, 1]).to_event(2))
    b2 = numpyro.sample("b2", dist.Normal(0, 1).expand([1]).to_event(1))
    mean = (jnp.tanh(X @ W1 + b1) @ W2 + b2)[:, 0]
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("y", dist.Normal(mean, 0.1), obs=y)


def bnn_axis(size=HIDDEN, groups=("permutation", "sign"), w1="W1"):
    return site_axis(
        "hidden", size, [(w1, 1, "in"), ("b1", 0, "in"), ("W2", 0, "out")], groups
    )


@pytest.fixture(scope="module")
def numpyro_setup():
    data = regression_data(1)
    model = NumpyroModel(
        numpyro_bnn,
        Symmetry((bnn_axis(),)),
        X=data[0],
        y=data[1],
        data_kwargs=("X", "y"),
    )
    return model, data


def test_numpyro_bnn_matches_the_pytree_mlp(numpyro_setup):
    model, data = numpyro_setup
    mlp = MLP((1, HIDDEN, 1), "tanh")
    first, second = mlp.init(jax.random.key(19)), mlp.init(jax.random.key(20))
    assert sorted(model.init(jax.random.key(0))) == sorted(first)
    logdensity, reference = model.logdensity_fn(), mlp.logdensity_fn(data)
    np.testing.assert_allclose(
        logdensity(first) - logdensity(second),
        reference(first) - reference(second),
        rtol=RTOL,
    )
    deviation = max_scaled_deviation(
        lambda p: (logdensity(p), model.function_fn()(p)),
        first,
        model.symmetry,
        jax.random.key(21),
    )
    assert deviation < RTOL
    split = model.log_prior(first) + model.log_likelihood(first, data).sum()
    np.testing.assert_allclose(split, logdensity(first), rtol=1e-6)
    minibatch = model.minibatch_logdensity_fn(data[0].shape[0])
    np.testing.assert_allclose(minibatch(first, data), logdensity(first), rtol=1e-6)
    np.testing.assert_allclose(
        model.logdensity_fn(data)(first), logdensity(first), rtol=1e-6
    )


def test_numpyro_positive_site_permutations_commute_with_exp():
    def scaled(X):
        scale = numpyro.sample("scale", dist.HalfNormal(1.0).expand([HIDDEN]))
        W = numpyro.sample("W", dist.Normal(0, 1).expand([1, HIDDEN]))
        numpyro.sample("obs", dist.Normal((X @ (W * scale)).sum(1), 1.0), obs=X[:, 0])

    axis = site_axis("units", HIDDEN, [("scale", 0, "permute"), ("W", 1, "in")])
    model = from_numpyro(
        scaled, [axis], model_args=(regression_data(1)[0],), function=lambda v: v["W"]
    )
    params = model.init(jax.random.key(22))
    constrained = jax.vmap(model.constrain)(
        jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), params)
    )
    np.testing.assert_allclose(constrained["scale"][1], jnp.exp(params["scale"]))
    assert model.function_fn()(params).shape == (HIDDEN + 1,)
    with pytest.raises(NotImplementedError, match="data_kwargs"):
        model.log_likelihood(params, regression_data(1))


def test_numpyro_declaration_errors():
    X, y = regression_data(1, n=6)
    with pytest.raises(SymmetryError, match="'W3' does not exist"):
        NumpyroModel(numpyro_bnn, Symmetry((bnn_axis(w1="W3"),)), X, y)
    with pytest.raises(SymmetryError, match="has size 5"):
        NumpyroModel(numpyro_bnn, Symmetry((bnn_axis(size=5),)), X, y)

    def positive(X):
        W = numpyro.sample("W", dist.HalfNormal(1.0).expand([1, HIDDEN]))
        numpyro.sample("obs", dist.Normal(jnp.tanh(X @ W).sum(1), 1.0), obs=X[:, 0])

    flips = site_axis("units", HIDDEN, [("W", 1, "in")], ("permutation", "sign"))
    with pytest.raises(SymmetryError, match="'W'.*does not commute with the 'sign'"):
        NumpyroModel(positive, Symmetry((flips,)), X)

    def simplex(X):
        weights = numpyro.sample("weights", dist.Dirichlet(jnp.ones(HIDDEN)))
        numpyro.sample("obs", dist.Normal(weights.sum(), 1.0), obs=X[0, 0])

    relabel = site_axis("component", HIDDEN, [("weights", 0, "permute")])
    with pytest.raises(SymmetryError, match="changes the dimension.*Gamma"):
        NumpyroModel(simplex, Symmetry((relabel,)), X)


# ---------------------------------------------------------------- check_data
NAN, INF = float("nan"), float("inf")


def with_value(array, index, value):
    array = np.array(array, dtype=np.float64)
    array[index] = value
    return array


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        # shapes against the layer sizes
        (MLP((2, 3, 1)), (np.zeros((4, 2)),), r"takes data \(X, y\): 2 array"),
        (MLP((2, 3, 1)), (np.zeros(4), np.zeros(4)), r"X must have shape \(n, 2\)"),
        (MLP((1, 3, 1)), (np.zeros(4), np.zeros(4)), r"reshape it: X\[:, None\]"),
        (MLP((2, 3, 1)), (np.zeros((4, 3)), np.zeros(4)), "X has 3 column"),
        (MLP((2, 3, 1)), (np.zeros((4, 2)), np.zeros(5)), "y has 5 rows but X has 4"),
        (
            MLP((2, 3, 2)),
            (np.zeros((4, 2)), np.zeros(4)),
            r"y must have shape \(4, 2\)",
        ),
        (MLP((2, 3, 1)), (np.zeros((0, 2)), np.zeros(0)), "X has no rows"),
        # non-finite data: the array, the row, the value, NaN as NaN
        (
            MLP((2, 3, 1)),
            (with_value(np.zeros((4, 2)), (2, 1), NAN), np.zeros(4)),
            "X has 1 non-finite value.*NaN at row 2, column 1",
        ),
        (
            MLP((2, 3, 1)),
            (np.zeros((4, 2)), with_value(np.zeros(4), 3, INF)),
            "y has 1 non-finite value.*inf at row 3",
        ),
        (
            MLP((2, 3, 1)),
            (np.zeros((4, 2)), np.array(["a", "b", "c", "d"])),
            "y must be a numeric array",
        ),
        # targets against the likelihood
        (
            MLP((2, 3, 1), likelihood="bernoulli"),
            (np.zeros((4, 2)), np.array([0.0, 1.0, 0.3, 2.0])),
            r"y must be 0 or 1 \(bernoulli likelihood\); row 2 is 0.3 \(2 such rows\)",
        ),
        (
            MLP((2, 3, 1), likelihood="bernoulli"),
            (np.zeros((4, 2)), with_value(np.zeros(4), 1, NAN)),
            "y has 1 non-finite value.*NaN at row 1",
        ),
        (
            MLP((2, 3, 3), likelihood="categorical"),
            (np.zeros((4, 2)), np.array([0.0, 2.0, 1.5, 1.0])),
            "integer class labels 0 to 2 .* row 2 is 1.5",
        ),
        (
            MLP((2, 3, 3), likelihood="categorical"),
            (np.zeros((4, 2)), np.array([0, 3, 1, 1])),
            "integer class labels 0 to 2 .* row 1 is 3",
        ),
        (
            MLP((2, 3, 3), likelihood="categorical"),
            (np.zeros((4, 2)), np.array([0, -1, 1, 1])),
            "row 1 is -1",
        ),
        (
            MLP((2, 3, 3), likelihood="categorical"),
            (np.zeros((4, 2)), np.zeros((4, 3))),
            r"one label per row, shape \(4,\)",
        ),
        # mixture and PPCA: finite, the right number of columns
        (GaussianMixture(3, 2), (np.zeros((5, 3)),), r"X must have shape \(n, 2\)"),
        (GaussianMixture(3, 2), (np.zeros(5),), r"got shape \(5,\)"),
        (
            GaussianMixture(2, 1),
            (with_value(np.zeros(5), 4, -INF),),
            "X has 1 non-finite value.*-inf at row 4",
        ),
        (PPCA(4, 2), (np.zeros((6, 3)),), r"X must have shape \(n, 4\).*\(6, 3\)"),
        (
            PPCA(3, 2),
            (with_value(np.zeros((6, 3)), (0, 2), NAN),),
            "NaN at row 0, column 2",
        ),
        (PPCA(3, 2), None, "needs data"),
    ],
)
def test_check_data_names_the_array_the_row_and_the_value(model, data, message):
    with pytest.raises(ValueError, match=message):
        model.check_data(data)


def test_check_data_accepts_what_the_models_take():
    X, y = (np.asarray(a) for a in regression_data(2, n=8))
    MLP((2, 3, 1)).check_data((X, y))
    MLP((2, 3, 1)).check_data([X, y[:, None]])
    MLP((2, 3, 2)).check_data((X, np.stack([y, y], axis=1)))
    MLP((2, 3, 1), likelihood="bernoulli").check_data((X, (y > 0).astype(int)))
    MLP((2, 3, 1), likelihood="bernoulli").check_data((X, y > 0))
    labels = np.arange(8) % 3
    MLP((2, 3, 3), likelihood="categorical").check_data((X, labels.astype(float)))
    GaussianMixture(3, 1).check_data((np.arange(5.0),))  # 1-D X for dim 1
    (points,) = cluster_data(2)
    GaussianMixture(3, 2).check_data((points, np.zeros(30)))  # labels ignored
    PPCA(2, 1).check_data(np.asarray(points))  # one array reads as (X,)
    from symbayes.datasets import load

    MLP((1, 3, 1)).check_data(load("sinusoidal"))


def test_the_default_check_data_wants_finite_arrays_with_one_row_each():
    class Flat(BayesianModel):
        symmetry = Symmetry(())
        init = log_prior = log_likelihood = function_fn = None

    model = Flat()
    model.check_data((np.zeros((3, 2)), np.zeros(3)))
    with pytest.raises(ValueError, match=r"X must be 2-D, got shape \(3,\)"):
        model.check_data((np.zeros(3),))
    with pytest.raises(ValueError, match="data\\[2\\] has 2 rows but X has 3"):
        model.check_data((np.zeros((3, 1)), np.zeros(3), np.zeros(2)))
    with pytest.raises(ValueError, match="y has 1 non-finite value.*NaN at row 0"):
        model.check_data((np.zeros((3, 1)), with_value(np.zeros(3), 0, NAN)))


def test_numpyro_check_data_names_the_keyword(numpyro_setup):
    model, (X, y) = numpyro_setup
    model.check_data()  # the bound data are finite
    model.check_data((X, y))
    with pytest.raises(ValueError, match="y has 1 non-finite value.*NaN at row 5"):
        model.check_data((X, with_value(y, 5, NAN)))
    with pytest.raises(ValueError, match="y has 3 rows but X has 24"):
        model.check_data((X, y[:3]))
    with pytest.raises(ValueError, match="does not match data_kwargs"):
        model.check_data((X,))
    bound = NumpyroModel(
        numpyro_bnn, Symmetry((bnn_axis(),)), X, y=jnp.asarray(with_value(y, 2, INF))
    )
    with pytest.raises(ValueError, match="y has 1 non-finite value.*inf at row 2"):
        bound.check_data()
