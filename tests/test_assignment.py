"""Tests for symbayes.assignment against scipy's linear_sum_assignment."""

from __future__ import annotations

import re

import hypothesis.extra.numpy as hypothesis_numpy
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from symbayes import assignment
from symbayes.assignment import (
    assignment_cost,
    batched_linear_assignment,
    linear_assignment,
)

SIZES = (1, 2, 3, 5, 8)
solve_one = jax.jit(linear_assignment)
solve_stack = jax.jit(jax.vmap(linear_assignment))


def optimal_cost(cost: np.ndarray) -> float:
    """Scipy's optimal total cost, in float64."""
    cost = np.asarray(cost, dtype=np.float64)
    rows, columns = linear_sum_assignment(cost)
    return float(cost[rows, columns].sum())


def achieved_cost(cost: np.ndarray, perm: np.ndarray) -> float:
    """Total cost of ``perm``, in float64."""
    cost = np.asarray(cost, dtype=np.float64)
    return float(assignment_cost(cost, np.asarray(perm)))


def assert_is_permutation(perm: np.ndarray, size: int) -> None:
    assert perm.shape == (size,)
    np.testing.assert_array_equal(np.sort(perm), np.arange(size))


def assert_optimal(cost: np.ndarray, perm: np.ndarray, relative: float) -> None:
    """``perm`` is a permutation whose cost matches scipy's optimum."""
    cost = np.asarray(cost, dtype=np.float64)
    assert_is_permutation(np.asarray(perm), cost.shape[0])
    tolerance = relative * cost.shape[0] * max(1.0, float(np.abs(cost).max()))
    assert achieved_cost(cost, perm) == pytest.approx(optimal_cost(cost), abs=tolerance)


def random_stack(
    rng: np.random.Generator, batch_size: int, size: int, dtype=np.float32
) -> np.ndarray:
    return rng.normal(size=(batch_size, size, size)).astype(dtype)


def hard_stack(rng: np.random.Generator, batch_size: int, size: int) -> np.ndarray:
    """Matrices whose row minima all fall in column 0 (needs the solver)."""
    cost = rng.uniform(0.0, 1.0, size=(batch_size, size, size))
    cost[:, :, 0] -= 10.0
    return cost


@st.composite
def cost_matrices(draw, elements: st.SearchStrategy) -> np.ndarray:
    size = draw(st.sampled_from(SIZES))
    return draw(hypothesis_numpy.arrays(np.float32, (size, size), elements=elements))


tied_costs = st.integers(min_value=-3, max_value=3).map(float)
real_costs = st.floats(min_value=-100.0, max_value=100.0, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(cost=cost_matrices(tied_costs))
def test_matches_scipy_with_many_ties(cost: np.ndarray) -> None:
    assert_optimal(cost, np.asarray(solve_one(cost)), relative=1e-6)


@settings(max_examples=40, deadline=None)
@given(cost=cost_matrices(real_costs))
def test_matches_scipy_on_signed_real_costs(cost: np.ndarray) -> None:
    assert_optimal(cost, np.asarray(solve_one(cost)), relative=1e-5)


def test_returns_int32_permutation_for_single_entry() -> None:
    perm = linear_assignment(jnp.array([[-2.5]]))
    assert perm.dtype == jnp.int32
    np.testing.assert_array_equal(perm, [0])


def test_integer_costs_are_promoted() -> None:
    cost = np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    assert_optimal(cost, np.asarray(linear_assignment(cost)), relative=0.0)


def test_non_square_cost_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"square.*\(2, 3\)"):
        linear_assignment(jnp.zeros((2, 3)))


@pytest.mark.parametrize("size", [3, 8])
def test_vmap_agrees_with_single_solves(size: int) -> None:
    cost = random_stack(np.random.default_rng(size), 16, size)
    batched = np.asarray(solve_stack(cost))
    for member in range(cost.shape[0]):
        np.testing.assert_array_equal(batched[member], solve_one(cost[member]))
        assert_optimal(cost[member], batched[member], relative=1e-5)


def test_float64_solves_to_double_precision() -> None:
    rng = np.random.default_rng(1)
    # Ties broken at 1e-9: float32 cannot resolve them, float64 must.
    cost = rng.integers(0, 3, size=(12, 5, 5)) + 1e-9 * rng.normal(size=(12, 5, 5))
    was_enabled = jax.config.jax_enable_x64
    with jax.enable_x64(True):
        perm = solve_stack(jnp.asarray(cost))
        assert perm.dtype == jnp.int32
        for member in range(cost.shape[0]):
            assert_optimal(cost[member], np.asarray(perm[member]), relative=1e-14)
        batched = batched_linear_assignment(hard_stack(rng, 3, 4))
        assert batched.shape == (3, 4)
    assert jax.config.jax_enable_x64 == was_enabled


@pytest.mark.parametrize("solver", ["jax", "scipy", "auto"])
def test_batched_mixed_easy_and_hard_members_match_scipy(solver: str) -> None:
    rng = np.random.default_rng(2)
    size = 6
    easy = -5.0 * np.eye(size) + 0.1 * rng.normal(size=(20, size, size))
    hard = hard_stack(rng, 13, size)
    cost = np.concatenate([easy, hard])[rng.permutation(33)]
    perm = batched_linear_assignment(cost, solver=solver)
    assert perm.shape == (33, size)
    assert np.issubdtype(perm.dtype, np.integer)
    for member in range(cost.shape[0]):
        assert_optimal(cost[member], perm[member], relative=1e-5)


@pytest.mark.parametrize("solver", ["jax", "scipy"])
def test_batched_without_shortcut_solves_every_member(solver: str) -> None:
    rng = np.random.default_rng(5)
    size = 5
    easy = -5.0 * np.eye(size) + 0.1 * rng.normal(size=(6, size, size))
    cost = np.concatenate([easy, hard_stack(rng, 6, size)])
    perm = batched_linear_assignment(cost, solver=solver, shortcut=False)
    np.testing.assert_array_equal(perm, batched_linear_assignment(cost))
    for member in range(cost.shape[0]):
        assert_optimal(cost[member], perm[member], relative=1e-5)


def test_batched_accepts_jax_input_and_small_chunks() -> None:
    cost = hard_stack(np.random.default_rng(3), 11, 5)
    perm = batched_linear_assignment(jnp.asarray(cost), chunk_size=4, solver="jax")
    np.testing.assert_array_equal(perm, batched_linear_assignment(cost))
    for member in range(cost.shape[0]):
        assert_optimal(cost[member], perm[member], relative=1e-5)


@pytest.mark.parametrize("solver", ["jax", "scipy"])
def test_batched_larger_matrices_match_scipy(solver: str) -> None:
    cost = random_stack(np.random.default_rng(4), 64, 50, dtype=np.float64)
    perm = batched_linear_assignment(cost, solver=solver)
    for member in range(cost.shape[0]):
        assert_optimal(cost[member], perm[member], relative=1e-5)


def test_batched_empty_batch() -> None:
    perm = batched_linear_assignment(np.zeros((0, 4, 4)))
    assert perm.shape == (0, 4)
    assert np.issubdtype(perm.dtype, np.integer)


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 4), (1, 2, 2, 2)])
def test_batched_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(B, n, n\).*" + re.escape(str(shape))):
        batched_linear_assignment(np.zeros(shape))


def test_batched_rejects_non_finite_members() -> None:
    cost = np.zeros((5, 3, 3))
    cost[1, 0, 0] = np.nan
    cost[3, 2, 1] = np.inf
    cost[3, 1, 1] = -np.inf
    with pytest.raises(ValueError, match="2 of 5 batch members contain NaN or inf"):
        batched_linear_assignment(cost)


def test_batched_rejects_bad_chunk_size_and_solver() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        batched_linear_assignment(np.zeros((1, 2, 2)), chunk_size=0)
    with pytest.raises(ValueError, match="solver must be"):
        batched_linear_assignment(np.zeros((1, 2, 2)), solver="hungarian")


def test_second_call_with_same_padded_size_does_not_retrace() -> None:
    rng = np.random.default_rng(5)
    batched_linear_assignment(hard_stack(rng, 3, 7), solver="jax")
    traces_after_first_call = assignment._trace_count
    batched_linear_assignment(hard_stack(rng, 6, 7), solver="jax")
    assert assignment._trace_count == traces_after_first_call
    # Nine hard members pad to 16: a new shape, so the counter does move.
    batched_linear_assignment(hard_stack(rng, 9, 7), solver="jax")
    assert assignment._trace_count == traces_after_first_call + 1


def test_assignment_cost_single_and_batched() -> None:
    cost = np.arange(18.0).reshape(2, 3, 3)
    perm = np.array([[0, 1, 2], [2, 0, 1]])
    np.testing.assert_allclose(assignment_cost(cost, perm), [12.0, 11 + 12 + 16])
    assert float(assignment_cost(jnp.asarray(cost[0]), jnp.asarray(perm[1]))) == 12.0
