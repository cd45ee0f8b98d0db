"""The front doors: :func:`canonicalize` (one draw or a batch) and :func:`relabel`.

Both take a params pytree with leading batch axes, and also whole runs: an
arviz ``InferenceData`` / ``DataTree``, an ``xarray.Dataset`` or a
:class:`~symbayes.results.SampleResult` (:mod:`symbayes.draws`), giving back
the same kind of object with canonical draws (for arviz data: ``posterior``
canonical, the draws as read kept in ``raw_posterior``). :func:`relabel` also
takes label.switching's R-shaped ``(m, K, J)`` arrays with named columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.canonical.align import (
    _align_flat,
    _check_pivot,
    _stack_one,
    _zeros_groups,
    align,
)
from symbayes.canonical.common import (
    RelabelResult,
    _act_batch,
    _check_batch,
    _flatten_batch,
    _float_dtype,
    _single_axis_element,
    _unflatten_batch,
)
from symbayes.canonical.mixture import (
    _check_allocations,
    _check_z,
    _ecr,
    _permutation_axis,
    _stephens,
    data_based,
    ecr,
    ecr_iterative_1,
    ecr_iterative_2,
    mcmc_to_params,
    params_to_mcmc,
)
from symbayes.canonical.pivot import _relabel_pivot
from symbayes.canonical.sort import _sort_batch
from symbayes.draws import (
    as_draws,
    check_symmetry_variables,
    is_run,
    like_source,
)
from symbayes.symmetry import Symmetry

__all__ = ["canonicalize", "relabel"]

Method = Literal["sort", "align"]
RelabelMethod = Literal[
    "pivot",
    "stephens",
    "ecr",
    "ecr-iterative-1",
    "ecr-iterative-2",
    "pra",
    "data-based",
]
_RELABEL_METHODS = (
    "pivot",
    "stephens",
    "ecr",
    "ecr-iterative-1",
    "ecr-iterative-2",
    "pra",
    "data-based",
)


def _run_draws(
    run: Any, symmetry: Symmetry | None, var_names: Sequence[str] | None, group: str
) -> tuple[Any, Any, Symmetry]:
    """``(read, raw params, symmetry)`` of a whole run, checked."""
    read = as_draws(run, var_names=var_names, group=group)
    symmetry = symmetry if symmetry is not None else read.symmetry
    if symmetry is None:
        raise ValueError(
            "canonicalising a run needs symmetry=... (declared on its variable "
            "names, e.g. with symbayes.models.site_axis)"
        )
    raw = read.raw if read.canonical and read.raw is not None else read.params
    check_symmetry_variables(raw, symmetry, "the draws")
    return read, raw, symmetry


def canonicalize(
    params: Any,
    symmetry: Symmetry | None,
    method: Method = "sort",
    *,
    pivot: Any = None,
    batch_ndim: int = 0,
    return_element: bool = False,
    max_sweeps: int = 20,
    var_names: Sequence[str] | None = None,
    group: str = "posterior",
) -> Any:
    """Map parameters to canonical (quotient) coordinates.

    ``canonicalize(g . theta) == canonicalize(theta)`` for every group element
    ``g`` (up to exact ties of keys or alignment scores), the map is
    idempotent, and the canonical parameters compute the same function.

    Args:
        params: params pytree with ``batch_ndim`` leading batch axes; or a
            whole run (``InferenceData``, ``DataTree``, ``xarray.Dataset``,
            :class:`~symbayes.results.SampleResult`, leading axes ``(chain,
            draw)``), returned as the same kind of object.
        symmetry: the symmetry (for a SampleResult, ``None`` takes its own).
        method: ``"sort"`` (fundamental domain by signs and ordering, see
            :func:`sort_canonicalize`) or ``"align"`` (closest element to
            ``pivot``, starting from the sort representative so that the
            result depends on the orbit only).
        pivot: one params pytree (required by ``"align"``).
        batch_ndim: number of leading batch axes, e.g. 2 for (chain, draw)
            (runs always have 2).
        return_element: also return the element applied to each draw (not
            for runs).
        max_sweeps: coordinate-descent cap for ``"align"``.
        var_names: the variables of a run to read (default all).
        group: the group of an InferenceData / DataTree to read.

    Returns:
        The canonical params (and the elements with ``return_element``); for
        a run, the same kind of object: an InferenceData / DataTree whose
        ``posterior`` is canonical and whose ``raw_posterior`` holds the
        draws as read, a Dataset of canonical values, or a SampleResult with
        canonical ``draws`` (recomputed from its raw draws when it has them).

    Raises:
        SymmetryError: the symmetry does not fit the params.
        ValueError: NaN or inf in the params, an unknown method, a missing or
            mismatched pivot, a run whose variables the symmetry does not
            find (named).

    Example:
        >>> from symbayes.models import MLP
        >>> import jax
        >>> model = MLP((1, 3, 1), "tanh")
        >>> theta = model.init(jax.random.key(0))
        >>> canonical = canonicalize(theta, model.symmetry)
        >>> bias = canonical["b1"]
        >>> bool((bias >= 0).all() and (jnp.diff(bias) >= 0).all())
        True
    """
    if method not in ("sort", "align"):
        raise ValueError(f"unknown canonical method {method!r}; use 'sort' or 'align'")
    if is_run(params):
        if return_element:
            raise ValueError("return_element is for params pytrees, not whole runs")
        read, raw, symmetry = _run_draws(params, symmetry, var_names, group)
        canonical = canonicalize(
            raw, symmetry, method, pivot=pivot, batch_ndim=2, max_sweeps=max_sweeps
        )
        return like_source(read, jax.tree_util.tree_map(np.asarray, canonical))
    if symmetry is None:
        raise ValueError("canonicalize needs a symmetry for a params pytree")
    batch_shape = _check_batch(params, symmetry, batch_ndim)
    if method == "align":
        _check_pivot(pivot, params, symmetry, batch_ndim)
    flat = _flatten_batch(params, batch_ndim)
    canonical, elements = _sort_batch(flat, symmetry)
    if method == "align":
        canonical, elements, _ = _align_flat(
            canonical,
            _stack_one(pivot),
            _zeros_groups(canonical),
            symmetry,
            max_sweeps,
            total=elements,
        )
    canonical = _unflatten_batch(canonical, batch_shape)
    if not return_element:
        return canonical
    return canonical, _unflatten_batch(elements, batch_shape)


def _mode_groups(modes: Any, num_chains: int) -> np.ndarray:
    """Chain labels ``0 .. G-1`` from a ``Modes`` object or ``(C,)`` labels."""
    labels = np.asarray(getattr(modes, "labels", modes))
    if labels.shape != (num_chains,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"modes must be a Modes object or {num_chains} integer labels (one per "
            f"chain, the first batch axis), got shape {labels.shape} of "
            f"{labels.dtype}"
        )
    return np.unique(labels, return_inverse=True)[1].astype(np.int32)


def _allocations(
    allocations: Any,
    probabilities: np.ndarray | None,
    batch_shape: tuple,
    num_components: int,
) -> np.ndarray:
    """Flat ``(B, n)`` allocations: given, or the argmax of the probabilities."""
    if allocations is None:
        if probabilities is None:
            raise ValueError(
                "this method needs allocations (*batch, num_data) or "
                "allocation_probabilities (*batch, num_data, num_components)"
            )
        return probabilities.argmax(axis=2)
    allocations = np.asarray(allocations)
    if allocations.shape[: len(batch_shape)] != batch_shape or allocations.ndim != (
        len(batch_shape) + 1
    ):
        raise ValueError(
            f"allocations has shape {allocations.shape}; expected {batch_shape} + "
            "(num_data,)"
        )
    return _check_z(allocations.reshape(-1, allocations.shape[-1]), num_components)


def relabel(
    draws: Any,
    symmetry: Symmetry | None = None,
    *,
    method: RelabelMethod = "pivot",
    batch_ndim: int = 2,
    pivot: Any = None,
    by_chain: bool = True,
    modes: Any = None,
    allocation_probabilities: Any = None,
    allocations: Any = None,
    pivot_allocation: Any = None,
    data: Any = None,
    axis: str | None = None,
    columns: Sequence[str] | None = None,
    max_iterations: int = 100,
    max_sweeps: int = 20,
    tolerance: float = 0.0,
    var_names: Sequence[str] | None = None,
    group: str = "posterior",
) -> RelabelResult:
    """Relabel a whole set of draws consistently (undo label switching).

    ``method="pivot"`` (any symmetry): start from the sort representatives;
    repeat {align every draw to the pivot (:func:`align`); pivot <- mean of
    the aligned draws} until no draw changes (by default; see ``tolerance``).
    Each iteration does not increase ``sum_b ||g_b theta_b - pivot||^2`` (the
    k-means argument), so it stops. With ``by_chain`` (the default, for
    ``batch_ndim >= 2`` and no given pivot) every chain - the first batch
    axis - gets its own pivot, and the chain pivots are then labelled
    consistently through a minimum spanning tree of their aligned distances
    (each chain aligned to its nearest already-labelled chain). A single
    pivot for draws of several *functionally distinct* modes is the mean of
    unrelated networks: aligning a mode's draws to it is decided by nearly
    tied scores (a sign of an inner product close to zero), so the draws of
    one mode would be split over several labellings. With ``modes`` (the
    canonical modes of :func:`~symbayes.diagnostics.diagnose`, or one label
    per chain) the chains of each mode share one pivot: draws of one mode
    from different chains get one representative, and each pivot is sharp.

    ``method="pra"``: the pivotal reordering algorithm (Marin, Mengersen &
    Robert 2005): every draw aligned to the fixed ``pivot`` (required), no
    iteration; exact per axis (linear assignment), for any symmetry.

    Mixture methods (one permutation axis, e.g. mixture components; the
    methods of the R package ``label.switching``, see
    :mod:`symbayes.canonical.mixture` for the algorithms):
    ``"stephens"`` (KL algorithm, needs ``allocation_probabilities``);
    ``"ecr"`` (agreement with ``pivot_allocation``, default the first draw's
    allocations; from ``allocations`` z, or the argmax of the
    probabilities, which gives the same result); ``"ecr-iterative-1"``
    (allocations); ``"ecr-iterative-2"`` (allocations or probabilities, and
    probabilities); ``"data-based"`` (allocations and the ``data``).

    Permutation convention: new label ``k`` takes old label ``perm[k]``.

    Args:
        draws: params pytree with ``batch_ndim`` leading axes (chain, draw);
            or a whole run (as for :func:`canonicalize`), returned in
            ``RelabelResult.draws`` as the same kind of object; or, with
            ``columns``, an R-shaped ``(m, K, J)`` array.
        symmetry: the symmetry (default: a SampleResult's own; for ``(m, K,
            J)`` arrays, one permutation axis over the components).
        method: see above.
        batch_ndim: number of leading batch axes (runs: 2; arrays: 1).
        pivot: a fixed starting pivot for ``"pivot"`` (then one pivot for all
            draws; default: per-chain means of the sort representatives);
            the fixed pivot of ``"pra"``.
        by_chain: one pivot per chain (first batch axis) before the chains
            are relabelled among themselves.
        modes: one pivot per mode: a ``Modes`` object or ``(C,)`` labels.
        allocation_probabilities: ``(*batch, n, K)``.
        allocations: ``(*batch, n)`` integer allocations ``z`` (labels from 0).
        pivot_allocation: ``(n,)`` integer allocations for ECR.
        data: ``(n,)`` or ``(n, d)`` observations for ``"data-based"``.
        axis: the permutation axis that the mixture methods relabel (default:
            the only axis).
        columns: names of the ``J`` parameters of an ``(m, K, J)`` array.
        max_iterations: iteration cap.
        max_sweeps: coordinate-descent cap per alignment.
        tolerance: ``"pivot"`` stops once an iteration (after the first)
            changes the element of at most this fraction of the draws. The
            default 0 iterates until no draw changes. A small positive value
            (say ``1e-3``) saves the last iterations, in which a few draws
            with nearly tied alignments flip while the pivot settles; those
            draws may then keep a labelling that one more iteration would
            change.
        var_names: the variables of a run to read (default all).
        group: the group of an InferenceData / DataTree to read.

    Returns:
        A :class:`RelabelResult`.

    Raises:
        ValueError: an unknown method, a method without its inputs, inputs of
            the wrong shape (named), NaN or inf.

    References:
        Stephens (2000), "Dealing with label switching in mixture models",
        JRSS B 62(4). Papastamoulis & Iliopoulos (2010), "An artificial
        allocations based solution to the label switching problem", JCGS
        19(2). Papastamoulis (2016), "label.switching: an R package", JSS 69.
        Marin, Mengersen & Robert (2005), "Bayesian modelling and inference
        on mixtures of distributions". Rodriguez & Walker (2014), "Label
        switching in Bayesian mixture models: deterministic relabeling
        strategies", JCGS 23(1).
    """
    if method not in _RELABEL_METHODS:
        raise ValueError(
            f"unknown relabel method {method!r}; use one of {_RELABEL_METHODS}"
        )
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must lie in [0, 1), got {tolerance}")
    if columns is not None:
        params, own = mcmc_to_params(draws, columns)
        result = relabel(
            params,
            symmetry if symmetry is not None else own,
            method=method,
            batch_ndim=1,
            pivot=pivot,
            allocation_probabilities=allocation_probabilities,
            allocations=allocations,
            pivot_allocation=pivot_allocation,
            data=data,
            axis=axis,
            max_iterations=max_iterations,
            max_sweeps=max_sweeps,
            tolerance=tolerance,
        )
        relabelled = jax.tree_util.tree_map(np.asarray, result.draws)
        return result._replace(draws=params_to_mcmc(relabelled, columns))
    if is_run(draws):
        read, raw, symmetry = _run_draws(draws, symmetry, var_names, group)
        result = relabel(
            jax.tree_util.tree_map(np.asarray, raw),
            symmetry,
            method=method,
            batch_ndim=2,
            pivot=pivot,
            by_chain=by_chain,
            modes=modes,
            allocation_probabilities=allocation_probabilities,
            allocations=allocations,
            pivot_allocation=pivot_allocation,
            data=data,
            axis=axis,
            max_iterations=max_iterations,
            max_sweeps=max_sweeps,
            tolerance=tolerance,
        )
        canonical = jax.tree_util.tree_map(np.asarray, result.draws)
        return result._replace(draws=like_source(read, canonical))
    if symmetry is None:
        raise ValueError("relabel needs a symmetry for a params pytree")
    batch_shape = _check_batch(draws, symmetry, batch_ndim)
    if method in ("pivot", "pra") and pivot is not None:
        _check_pivot(pivot, draws, symmetry, batch_ndim)
    if method == "pra":
        if pivot is None:
            raise ValueError("PRA needs a fixed pivot: one params pytree")
        aligned, elements = align(
            draws, pivot, symmetry, batch_ndim=batch_ndim, max_sweeps=max_sweeps
        )
        return RelabelResult(aligned, elements, pivot, 1, True)
    flat = _flatten_batch(draws, batch_ndim)
    if method == "pivot":
        groups = None
        if modes is not None:
            if batch_ndim < 2:
                raise ValueError("modes= needs a chain axis: batch_ndim >= 2")
            groups = _mode_groups(modes, batch_shape[0])
        return _relabel_pivot(
            flat,
            symmetry,
            batch_shape,
            pivot,
            by_chain and batch_ndim >= 2,
            max_iterations,
            max_sweeps,
            tolerance,
            chain_groups=groups,
        )
    axis_index = _permutation_axis(symmetry, axis)
    size = symmetry.axes[axis_index].size
    probabilities = None
    if allocation_probabilities is not None or method in ("stephens",):
        probabilities = _check_allocations(allocation_probabilities, batch_shape, size)
    iterations, converged = 1, True
    if method == "stephens":
        permutations, iterations, converged = _stephens(probabilities, max_iterations)
    elif method == "ecr" and allocations is None:
        permutations = _ecr(probabilities, pivot_allocation)
    else:
        z = _allocations(allocations, probabilities, batch_shape, size)
        if method == "ecr":
            pivot_z = z[0] if pivot_allocation is None else pivot_allocation
            if np.ndim(pivot_z) != 1:
                raise ValueError(
                    "relabel takes one pivot_allocation of shape (num_data,); for "
                    "several pivots use symbayes.canonical.mixture.ecr or "
                    "label_switching"
                )
            permutations = ecr(z, size, pivot_z)
        elif method == "ecr-iterative-1":
            permutations, iterations = ecr_iterative_1(
                z, size, max_iterations=max_iterations
            )
        elif method == "ecr-iterative-2":
            if probabilities is None:
                raise ValueError("ecr-iterative-2 needs allocation_probabilities")
            permutations, iterations = ecr_iterative_2(
                z,
                size,
                probabilities,
                max_iterations=max_iterations,
            )
        else:
            if data is None:
                raise ValueError("data-based relabelling needs the data (data=...)")
            permutations, iterations = data_based(
                data, size, z, max_iterations=max_iterations
            )
        converged = iterations < max_iterations
    dtype = _float_dtype(flat)
    elements = jax.vmap(
        lambda perm: _single_axis_element(
            symmetry, axis_index, permutation=perm, dtype=dtype
        )
    )(jnp.asarray(permutations))
    relabelled = _act_batch(elements, flat, symmetry)
    return RelabelResult(
        _unflatten_batch(relabelled, batch_shape),
        _unflatten_batch(elements, batch_shape),
        None,
        iterations,
        converged,
    )
