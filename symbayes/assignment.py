"""Linear assignment of square cost matrices, in JAX and batched over draws.

This module owns the *linear assignment problem*

.. math::

    \\pi^\\star = \\operatorname*{arg\\,min}_{\\pi \\in S_n}
        \\sum_{i=0}^{n-1} C_{i, \\pi(i)},

the step shared by aligning a draw to a reference (match hidden units by a
distance matrix) and by relabelling draws of a mixture (match components). A
posterior run produces one cost matrix per draw, so the solver is written to be
``jax.jit``-ed and ``jax.vmap``-ed, and :func:`batched_linear_assignment` wraps
it for numpy batches of hundreds of thousands of small matrices.

:func:`linear_assignment` is the shortest-augmenting-path form of the Hungarian
algorithm with dual potentials ``u`` (rows) and ``v`` (columns). Rows are added
one at a time; each addition grows a Dijkstra-like tree of alternating paths on
the reduced costs ``C[i, j] - u[i] - v[j] >= 0`` until it reaches a free
column, then flips the path. Every row costs ``O(n^2)``, the whole solve
``O(n^3)``.

:func:`batched_linear_assignment` first tries the trivial certificate: if the
row-wise minima of a matrix already sit in distinct columns, that permutation
attains the lower bound ``sum_i min_j C[i, j]`` and is optimal. Only the
remaining *hard* matrices go to the vmapped solver. For near-diagonal costs
(draws already close to the reference labelling) this skips almost all work.

Costs must be finite: the solver replaces infinity by a large finite sentinel
internally and gives meaningless answers for ``nan`` or ``inf`` inputs.
:func:`batched_linear_assignment` checks this and raises :class:`ValueError`.

References:
    Kuhn (1955), "The Hungarian method for the assignment problem", Naval
    Research Logistics Quarterly 2. Jonker & Volgenant (1987), "A shortest
    augmenting path algorithm for dense and sparse linear assignment
    problems", Computing 38. Burkard, Dell'Amico & Martello (2012),
    "Assignment Problems", SIAM, section 4.4 (shortest augmenting paths with
    dual potentials).
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "assignment_cost",
    "batched_linear_assignment",
    "linear_assignment",
]

DEFAULT_CHUNK_SIZE = 65536
MINIMUM_PADDED_BATCH = 8
SCIPY_BLOCK_SIZE = 4096


def _sentinel(dtype: Any) -> jax.Array:
    """A large finite stand-in for infinity, safe to subtract costs from."""
    return jnp.asarray(jnp.finfo(dtype).max / 4, dtype=dtype)


def _as_float_cost(cost: Any) -> jax.Array:
    """The cost as a JAX array of a floating dtype (integers are promoted)."""
    cost = jnp.asarray(cost)
    if not jnp.issubdtype(cost.dtype, jnp.floating):
        cost = cost.astype(jnp.result_type(float))
    return cost


def _add_row(row: jax.Array, state: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
    """Insert one row into the assignment by a shortest augmenting path.

    Layout: real columns are ``0 .. n-1``; column ``n`` is the root of the
    search tree and holds the new row. ``row_of_column[j] == n`` marks a free
    column. ``extended_cost`` is ``cost`` padded with a zero row and column so
    that these sentinel indices can be looked up without branches.
    """
    extended_cost, row_potential, column_potential, row_of_column, predecessor = state
    size = row_of_column.shape[0] - 1
    dtype = extended_cost.dtype
    sentinel = _sentinel(dtype)
    root = size
    row_of_column = row_of_column.at[root].set(row)

    def reaches_free_column(search: tuple[jax.Array, ...]) -> jax.Array:
        column = search[0]
        row_of_column = search[6]
        return row_of_column[column] != size

    def grow_tree(search: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        (
            column,
            slack,
            column_in_tree,
            row_in_tree,
            row_potential,
            column_potential,
            row_of_column,
            predecessor,
        ) = search
        column_in_tree = column_in_tree.at[column].set(True)
        current_row = row_of_column[column]
        row_in_tree = row_in_tree.at[current_row].set(True)
        reduced = (
            extended_cost[current_row] - row_potential[current_row] - column_potential
        )
        improves = (~column_in_tree) & (reduced < slack)
        slack = jnp.where(improves, reduced, slack)
        predecessor = jnp.where(improves, column, predecessor)
        candidate_slack = jnp.where(column_in_tree, sentinel, slack)
        next_column = jnp.argmin(candidate_slack).astype(jnp.int32)
        delta = candidate_slack[next_column]
        row_potential = jnp.where(row_in_tree, row_potential + delta, row_potential)
        column_potential = jnp.where(
            column_in_tree, column_potential - delta, column_potential
        )
        slack = jnp.where(column_in_tree, slack, slack - delta)
        return (
            next_column,
            slack,
            column_in_tree,
            row_in_tree,
            row_potential,
            column_potential,
            row_of_column,
            predecessor,
        )

    search = (
        jnp.asarray(root, dtype=jnp.int32),
        jnp.full((size + 1,), sentinel, dtype=dtype),
        jnp.zeros((size + 1,), dtype=bool),
        jnp.zeros((size + 1,), dtype=bool),
        row_potential,
        column_potential,
        row_of_column,
        predecessor,
    )
    search = jax.lax.while_loop(reaches_free_column, grow_tree, search)
    free_column = search[0]
    row_potential, column_potential, row_of_column, predecessor = search[4:]

    def not_at_root(flip: tuple[jax.Array, jax.Array]) -> jax.Array:
        return flip[0] != root

    def flip_edge(flip: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        column, row_of_column = flip
        previous = predecessor[column]
        row_of_column = row_of_column.at[column].set(row_of_column[previous])
        return previous, row_of_column

    _, row_of_column = jax.lax.while_loop(
        not_at_root, flip_edge, (free_column, row_of_column)
    )
    return (
        extended_cost,
        row_potential,
        column_potential,
        row_of_column,
        predecessor,
    )


def linear_assignment(cost: jax.Array) -> jax.Array:
    """Solve one square linear assignment problem in pure JAX.

    Finds the permutation

    .. math::

        \\pi^\\star = \\operatorname*{arg\\,min}_{\\pi} \\sum_i C_{i, \\pi(i)}

    by the Hungarian algorithm in shortest-augmenting-path form: row ``i`` is
    inserted by a Dijkstra search on the reduced costs
    ``C[i, j] - u[i] - v[j]``, tracking the best slack ``minv[j]`` and the
    predecessor column ``way[j]`` of every column, and the dual potentials are
    shifted by the smallest slack at each step so that reduced costs stay
    non-negative and are zero on the matched edges. ``O(n^3)`` in total.

    The function is traceable: it can be wrapped in :func:`jax.jit` and
    :func:`jax.vmap` (under ``vmap`` each loop runs until every member of the
    batch has finished). Ties are broken towards the smallest column index.

    Args:
        cost: array of shape ``(n, n)``, float32 or float64 (integers are
            promoted to the default float dtype). All entries must be finite;
            ``nan`` or ``inf`` give an arbitrary result. Magnitudes must stay
            well below a quarter of the dtype's largest value, which is used
            as the internal stand-in for infinity.

    Returns:
        ``perm``, int32 array of shape ``(n,)``: ``perm[i]`` is the column
        assigned to row ``i``.

    Raises:
        ValueError: if ``cost`` is not a square matrix.

    References:
        Kuhn (1955); Jonker & Volgenant (1987); Burkard, Dell'Amico & Martello
        (2012), "Assignment Problems", algorithm 4.9.
    """
    cost = _as_float_cost(cost)
    if cost.ndim != 2 or cost.shape[0] != cost.shape[1]:
        raise ValueError(f"cost must be a square (n, n) matrix, got {cost.shape}")
    size = cost.shape[0]
    dtype = cost.dtype
    extended_cost = jnp.pad(cost, ((0, 1), (0, 1)))
    state = (
        extended_cost,
        jnp.zeros((size + 1,), dtype=dtype),
        jnp.zeros((size + 1,), dtype=dtype),
        jnp.full((size + 1,), size, dtype=jnp.int32),
        jnp.full((size + 1,), size, dtype=jnp.int32),
    )
    state = jax.lax.fori_loop(0, size, _add_row, state)
    row_of_column = state[3][:size]
    columns = jnp.arange(size, dtype=jnp.int32)
    return jnp.zeros((size,), dtype=jnp.int32).at[row_of_column].set(columns)


_trace_count = 0


def _solve_stack(cost: jax.Array) -> jax.Array:
    """``vmap`` of :func:`linear_assignment`; counts its own traces for tests."""
    global _trace_count
    _trace_count += 1
    return jax.vmap(linear_assignment)(cost)


_solve_stack_compiled = jax.jit(_solve_stack)


def _padded_length(length: int, chunk_size: int) -> int:
    """Next power of two at or above ``length`` (at least 8), capped by the chunk."""
    power_of_two = max(MINIMUM_PADDED_BATCH, 1 << max(length - 1, 0).bit_length())
    return min(power_of_two, max(length, chunk_size))


def _validate_batch(cost: np.ndarray) -> None:
    """Raise ValueError unless ``cost`` is a finite ``(B, n, n)`` stack."""
    if cost.ndim != 3 or cost.shape[1] != cost.shape[2]:
        raise ValueError(
            f"cost must have shape (B, n, n) with square matrices, got {cost.shape}"
        )
    finite_members = np.isfinite(cost).all(axis=(1, 2))
    bad_count = int(cost.shape[0] - np.count_nonzero(finite_members))
    if bad_count:
        raise ValueError(
            f"cost must be finite: {bad_count} of {cost.shape[0]} batch members "
            "contain NaN or inf"
        )


def _rows_pick_distinct_columns(row_argmin: np.ndarray) -> np.ndarray:
    """For each batch member, whether its row argmins form a permutation."""
    size = row_argmin.shape[1]
    return (np.sort(row_argmin, axis=1) == np.arange(size)).all(axis=1)


def _solve_hard_members(
    cost: np.ndarray, members: np.ndarray, chunk_size: int
) -> np.ndarray:
    """Run the vmapped solver on ``cost[members]`` in padded chunks."""
    solutions = []
    for start in range(0, members.shape[0], chunk_size):
        chunk = members[start : start + chunk_size]
        padded_length = _padded_length(chunk.shape[0], chunk_size)
        padding = np.full(padded_length - chunk.shape[0], chunk[0])
        stack = cost[np.concatenate([chunk, padding])]
        # Subtracting each row's minimum leaves the optimal permutation
        # unchanged and keeps float32 arithmetic relative to the row's scale.
        stack = stack - stack.min(axis=2, keepdims=True)
        solved = np.asarray(_solve_stack_compiled(jnp.asarray(stack)))
        solutions.append(solved[: chunk.shape[0]])
    return np.concatenate(solutions, axis=0)


def _solve_hard_members_scipy(
    cost: np.ndarray, members: np.ndarray, block_size: int = SCIPY_BLOCK_SIZE
) -> np.ndarray:
    """Solve ``cost[members]`` one by one with scipy's C implementation.

    Each matrix is first reduced in float64, by its row minima and then its
    column minima (the first step of the Hungarian method). That changes the
    cost of every permutation by the same amount, so not the optimum, and
    scipy's solver, which starts from zero dual potentials, then finds much
    of the assignment on zero-cost entries (about a quarter faster on random
    and on alignment costs). Members are converted in blocks of
    ``block_size`` to bound the memory.
    """
    solutions = np.empty((members.shape[0], cost.shape[1]), dtype=np.int32)
    for start in range(0, members.shape[0], block_size):
        block = cost[members[start : start + block_size]].astype(np.float64)
        block -= block.min(axis=2, keepdims=True)
        block -= block.min(axis=1, keepdims=True)
        for row, matrix in enumerate(block, start):
            solutions[row] = linear_sum_assignment(matrix)[1]
    return solutions


def _default_solver() -> str:
    """scipy on a CPU backend (faster per hard matrix), the JAX solver elsewhere."""
    return "scipy" if jax.default_backend() == "cpu" else "jax"


def batched_linear_assignment(
    cost: Any,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    solver: Literal["auto", "jax", "scipy"] = "auto",
    shortcut: bool = True,
) -> np.ndarray:
    """Solve a batch of square linear assignment problems.

    For each member ``b`` returns ``perm[b] = argmin_pi sum_i C[b, i, pi(i)]``.
    With ``shortcut``, members whose row-wise argmins are already distinct
    columns are answered directly: each row then gets its own minimum, so the
    sum equals the lower bound ``sum_i min_j C[b, i, j]`` and is optimal. The
    other members (all of them without ``shortcut``) are
    solved either by a jitted ``jax.vmap`` of :func:`linear_assignment`, in
    chunks of at most ``chunk_size`` members, each chunk padded (by repeating
    a member) to the next power of two, at least 8, so only a few shapes are
    compiled; or by scipy's ``linear_sum_assignment`` member by member, after
    subtracting each matrix's row minima and then its column minima (which
    leaves the optimum unchanged and speeds scipy up a little). On a CPU the scipy
    loop is several times faster per hard matrix (the vmapped solver runs
    every member as long as the slowest), so ``solver="auto"`` takes scipy
    there and the JAX solver on accelerators. The JAX solver
    works in JAX's default float dtype (float32 unless 64-bit mode is
    enabled), after subtracting each row's minimum in the input's dtype.

    Args:
        cost: array-like of shape ``(B, n, n)`` (numpy or JAX), finite.
        chunk_size: most members sent to the solver at once; bounds memory.
        solver: ``"jax"``, ``"scipy"`` or ``"auto"`` (scipy on CPU) for the
            members the shortcut does not settle.
        shortcut: try the row-argmin shortcut first. Turn it off for members
            already known to fail it (it costs a pass over the costs).

    Returns:
        numpy int32 array of shape ``(B, n)``; row ``b`` is the permutation
        for member ``b`` (``perm[b, i]`` is the column of row ``i``).

    Raises:
        ValueError: if ``cost`` is not ``(B, n, n)``, if any entry is ``nan``
            or infinite (the message counts the affected members), if
            ``chunk_size < 1``, or for an unknown solver.

    References:
        Kuhn (1955); Jonker & Volgenant (1987).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if solver not in ("auto", "jax", "scipy"):
        raise ValueError(f"solver must be 'auto', 'jax' or 'scipy', got {solver!r}")
    solver = _default_solver() if solver == "auto" else solver
    cost = np.asarray(cost)
    if not np.issubdtype(cost.dtype, np.floating):
        cost = cost.astype(np.float64)
    _validate_batch(cost)
    batch_size, size, _ = cost.shape
    if batch_size == 0 or size == 0:
        return np.zeros((batch_size, size), dtype=np.int32)
    if shortcut:
        row_argmin = cost.argmin(axis=2).astype(np.int32)
        hard_members = np.flatnonzero(~_rows_pick_distinct_columns(row_argmin))
    else:
        row_argmin = np.empty((batch_size, size), dtype=np.int32)
        hard_members = np.arange(batch_size)
    if hard_members.size and solver == "scipy":
        row_argmin[hard_members] = _solve_hard_members_scipy(cost, hard_members)
    elif hard_members.size:
        row_argmin[hard_members] = _solve_hard_members(cost, hard_members, chunk_size)
    return row_argmin


def assignment_cost(cost: Any, perm: Any) -> Any:
    """Total cost ``sum_i C[..., i, perm[..., i]]`` of an assignment.

    Args:
        cost: array of shape ``(..., n, n)``.
        perm: integer array of shape ``(..., n)`` with matching leading
            dimensions, ``perm[..., i]`` the column of row ``i``.

    Returns:
        Array of shape ``(...)``: a numpy array when both inputs are numpy
        arrays (keeping their precision), otherwise a JAX array (traceable).
    """
    use_numpy = isinstance(cost, np.ndarray) and isinstance(perm, np.ndarray)
    array_module: Any = np if use_numpy else jnp
    cost = array_module.asarray(cost)
    perm = array_module.asarray(perm)
    picked = array_module.take_along_axis(cost, perm[..., None], axis=-1)
    return picked[..., 0].sum(axis=-1)
