"""label.switching parity: ECR (from z, several pivots), its iterative forms,
Stephens, PRA, data-based, SJW, and the entry that runs several of them.

Synthetic output of a 3-component 1-d Gaussian mixture whose draws are hit by
known label permutations (numpy only, no compilation except the relabel
front door on ``(m, K, J)`` arrays).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from symbayes.canonical import mixture as mx
from symbayes.canonical import relabel

K, M = 3, 120
MEANS = np.array([-3.0, 0.0, 3.0])


@pytest.fixture(scope="module")
def switched():
    """Draws of a well-separated mixture under random label permutations.

    ``perms[b]`` was applied to draw ``b`` (new k takes old ``perms[b, k]``),
    so relabelling must give back ``perms[b]`` up to one global relabelling.
    """
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(MEANS[k], 0.5, 20) for k in range(K)])
    truth = np.repeat(np.arange(K), 20)
    perms = np.array([rng.permutation(K) for _ in range(M)])
    base = np.stack([MEANS, np.full(K, 0.5), np.full(K, 1 / 3)], axis=-1)
    mcmc = np.stack([base[p] + 0.05 * rng.standard_normal((K, 3)) for p in perms])
    z = np.stack([np.argsort(p)[truth] for p in perms])  # relabelled allocations
    noise = rng.random(z.shape) < 0.05
    z[noise] = rng.integers(0, K, noise.sum())
    density = mcmc[:, None, :, 2] * norm.pdf(
        x[None, :, None], mcmc[:, None, :, 0], mcmc[:, None, :, 1]
    )
    p = density / density.sum(axis=2, keepdims=True)
    return {"x": x, "truth": truth, "perms": perms, "mcmc": mcmc, "z": z, "p": p}


def complete(data, z, theta):
    """Complete-data log-likelihood of a 1-d Gaussian mixture (SJW)."""
    return float(
        np.sum(np.log(theta[z, 2]) + norm.logpdf(data, theta[z, 0], theta[z, 1]))
    )


def undoes(permutations: np.ndarray, perms: np.ndarray) -> bool:
    """``permutations`` undo ``perms`` up to one global relabelling.

    Draw ``b`` is ``base[perms[b]]``; relabelled, new label ``k`` holds
    ``base[perms[b][permutations[b, k]]]``: the same for every draw.
    """
    relabelled = np.take_along_axis(perms, permutations, axis=1)
    return bool(np.all(relabelled == relabelled[0]))


def test_permutation_convention_new_label_k_takes_old_label_perm_k(switched):
    perms, mcmc = switched["perms"], switched["mcmc"]
    relabelled = mx.permute_mcmc(mcmc, np.argsort(perms, axis=1))
    np.testing.assert_allclose(relabelled[:, :, 0].mean(axis=0), MEANS, atol=0.05)
    assert np.array_equal(mx.permute_mcmc(mcmc[:1], perms[:1])[0], mcmc[0][perms[0]])


def test_ecr_from_allocations_equals_ecr_from_one_hot(switched):
    z = switched["z"]
    from_z = mx.ecr(z, K, z[0])
    assert undoes(from_z, switched["perms"])
    params, symmetry = mx.mcmc_to_params(switched["mcmc"], ("mean", "sd", "weight"))
    one_hot = relabel(
        params,
        symmetry,
        method="ecr",
        batch_ndim=1,
        allocation_probabilities=np.eye(K)[z],
    )
    from_allocations = relabel(
        params, symmetry, method="ecr", batch_ndim=1, allocations=z
    )
    np.testing.assert_array_equal(np.asarray(one_hot.elements.permutations[0]), from_z)
    np.testing.assert_array_equal(
        np.asarray(from_allocations.elements.permutations[0]), from_z
    )


def test_ecr_with_several_pivots_in_one_call(switched):
    z = switched["z"]
    pivots = np.stack([z[0], z[5], switched["truth"]])
    several = mx.ecr(z, K, pivots)
    assert several.shape == (3, M, K)
    for pivot, permutations in zip(pivots, several, strict=True):
        np.testing.assert_array_equal(permutations, mx.ecr(z, K, pivot))
        assert undoes(permutations, switched["perms"])


@pytest.mark.parametrize("method", ["ecr-iterative-1", "ecr-iterative-2", "stephens"])
def test_iterative_methods_undo_the_switching(switched, method):
    result = relabel(
        switched["mcmc"],
        columns=("mean", "sd", "weight"),
        method=method,
        batch_ndim=1,
        allocations=switched["z"],
        allocation_probabilities=switched["p"],
    )
    assert result.draws.shape == switched["mcmc"].shape  # (m, K, J) back
    assert undoes(np.asarray(result.elements.permutations[0]), switched["perms"])
    means = np.sort(result.draws[:, :, 0].mean(axis=0))
    np.testing.assert_allclose(means, MEANS, atol=0.05)
    assert result.converged


def test_pra_is_alignment_to_a_fixed_pivot(switched):
    pivot = np.stack([MEANS, np.full(K, 0.5), np.full(K, 1 / 3)], axis=-1)
    permutations = mx.pra(switched["mcmc"], pivot)
    np.testing.assert_array_equal(permutations, np.argsort(switched["perms"], axis=1))
    params, symmetry = mx.mcmc_to_params(switched["mcmc"], ("mean", "sd", "weight"))
    named = relabel(
        params,
        symmetry,
        method="pra",
        batch_ndim=1,
        pivot={"mean": MEANS, "sd": pivot[:, 1], "weight": pivot[:, 2]},
    )
    np.testing.assert_array_equal(
        np.asarray(named.elements.permutations[0]), permutations
    )


def test_data_based_and_sjw_undo_the_switching(switched):
    permutations, _ = mx.data_based(switched["x"], K, switched["z"])
    assert undoes(permutations, switched["perms"])
    permutations, _ = mx.sjw(
        switched["mcmc"][:40], switched["z"][:40], complete, switched["x"]
    )
    assert undoes(permutations, switched["perms"][:40])


def test_label_switching_runs_several_methods_and_reports_agreement(switched):
    pivot = np.stack([MEANS, np.full(K, 0.5), np.full(K, 1 / 3)], axis=-1)
    out = mx.label_switching(
        ["ECR", "ECR-ITERATIVE-1", "ECR-ITERATIVE-2", "STEPHENS", "PRA", "DATA-BASED"],
        z=switched["z"],
        pivot_allocation=np.stack([switched["z"][0], switched["truth"]]),
        probabilities=switched["p"],
        mcmc=switched["mcmc"],
        pra_pivot=pivot,
        data=switched["x"],
    )
    assert out.names[:2] == ("ECR-1", "ECR-2")
    # every method agrees, after the global relabelling to the first method
    np.testing.assert_array_equal(out.similarity, np.ones((7, 7)))
    np.testing.assert_array_equal(out.draw_agreement, np.ones((7, 7)))
    first = out.permutations["ECR-1"]
    for permutations in out.permutations.values():
        np.testing.assert_array_equal(permutations, first)


def test_bad_inputs_name_the_problem(switched):
    z = switched["z"]
    with pytest.raises(ValueError, match="unknown method"):
        mx.label_switching(["KMEANS"], z=z)
    with pytest.raises(ValueError, match="STEPHENS needs probabilities"):
        mx.label_switching(["STEPHENS"], z=z)
    with pytest.raises(ValueError, match=r"values must lie in \[0, 3\)"):
        mx.ecr(z + 1, K, z[0])
    with pytest.raises(ValueError, match="integer array"):
        mx.ecr(z.astype(float), K, z[0])
    with pytest.raises(ValueError, match=r"\(m, K, J\)"):
        mx.pra(switched["mcmc"][0], np.zeros((K, 3)))
    with pytest.raises(ValueError, match="columns must name the 3"):
        relabel(switched["mcmc"], columns=("mean", "sd"))
    with pytest.raises(ValueError, match="allocations has shape"):
        relabel(
            switched["mcmc"],
            columns=("mean", "sd", "weight"),
            method="ecr-iterative-1",
            batch_ndim=1,
            allocations=z[:, :5, None],
        )
    with pytest.raises(ValueError, match="needs the data"):
        relabel(
            switched["mcmc"],
            columns=("mean", "sd", "weight"),
            method="data-based",
            allocations=z,
        )
