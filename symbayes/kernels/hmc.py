"""HMC (Duane et al. 1987; Neal 2011) with Stan's windowed adaptation.

The transition is blackjax's ``hmc.build_kernel`` (``nuts.build_kernel`` for
:class:`~symbayes.kernels.nuts.NUTS`, which shares this file's machinery),
with the integrator and metric of the quotient mode: velocity Verlet for
``none``, ``fold`` and ``reparam``; the glued leapfrog and the glued metric
(U-turn criterion on unfolded momenta) for ``glue``. ``fold`` canonicalises
position and gradient after every transition. Warmup is
:func:`symbayes.adaptation.window_adaptation` per chain, or pooled by mode
(``adaptation="pooled"``) or over all chains (``"raw_pooled"``) at the end
of every slow window (:func:`symbayes.adaptation.pool_window`).

References:
    Duane, Kennedy, Pendleton & Roweth (1987), "Hybrid Monte Carlo", Phys.
    Lett. B 195. Neal (2011), "MCMC using Hamiltonian dynamics", Handbook of
    MCMC. Hoffman & Gelman (2014), "The No-U-Turn sampler", JMLR 15 (initial
    step size heuristic, dual averaging).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.staged_adaptation import StagedAdaptationState
from blackjax.adaptation.step_size import find_reasonable_step_size
from blackjax.mcmc import integrators, metrics
from jax.flatten_util import ravel_pytree

from symbayes.adaptation import (
    ADAPTATIONS,
    cluster_chains,
    map_moments,
    pool_window,
    welford_moments,
    window_adaptation,
    window_schedule,
)
from symbayes.canonical import canonicalize
from symbayes.kernels.base import (
    Kernel,
    Target,
    Transitions,
    fill_stats,
    positive_float,
    positive_int,
)
from symbayes.kernels.nuts_machine import desynchronised_chunks
from symbayes.quotient.glue import (
    glued_integrator,
    glued_metric,
    initial_position,
    reset_frame,
)
from symbayes.quotient.ties import is_tied
from symbayes.symmetry import Symmetry

__all__ = ["HMC", "FrozenArray", "HMCChain"]


class FrozenArray:
    """A read-only numpy array that hashes by value (a static kernel option)."""

    def __init__(self, value: Any) -> None:
        array = np.array(value, copy=True)
        array.setflags(write=False)
        self.value = array

    def __hash__(self) -> int:
        return hash((self.value.shape, str(self.value.dtype), self.value.tobytes()))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FrozenArray)
            and self.value.shape == other.value.shape
            and self.value.dtype == other.value.dtype
            and bool(np.array_equal(self.value, other.value))
        )

    def __repr__(self) -> str:
        return f"FrozenArray(shape={self.value.shape})"


class HMCChain(NamedTuple):
    """Per-chain carry of HMC/NUTS.

    Attributes:
        state: blackjax ``HMCState`` (position: coordinates, or a
            :class:`~symbayes.quotient.glue.GluedPosition`).
        adaptation: the window adaptation state.
        step_size: the step size of sampling (set at the end of warmup).
        inverse_mass_matrix: the inverse mass matrix of sampling.
    """

    state: Any
    adaptation: StagedAdaptationState
    step_size: jax.Array
    inverse_mass_matrix: jax.Array


@dataclass(frozen=True)
class HMC(Kernel):
    """Hamiltonian Monte Carlo with a fixed number of leapfrog steps.

    Args:
        step_size: a fixed step size (no step-size adaptation); default:
            Hoffman & Gelman's heuristic, then dual averaging in warmup.
        inverse_mass_matrix: a fixed inverse mass matrix, flat ``(n,)`` or
            ``(n, n)`` in ``ravel_pytree`` order (no metric adaptation).
        dense_mass: adapt a dense mass matrix (not with ``fold``/``glue``).
        target_acceptance_rate: dual-averaging target.
        adaptation: ``"per_chain"`` (Stan), ``"pooled"`` (chains of one
            canonical mode share one metric estimate, mapped into each
            chain's copy) or ``"raw_pooled"`` (all chains, raw coordinates).
        num_integration_steps: leapfrog steps per transition.
        max_glues: cap on glues per drift (``glue``); beyond it the step is
            rejected as a divergence.
    """

    name: ClassVar[str] = "hmc"
    quotients: ClassVar[tuple[str, ...]] = ("none", "reparam", "glue", "fold")

    step_size: float | None = None
    inverse_mass_matrix: Any = None
    dense_mass: bool = False
    target_acceptance_rate: float = 0.8
    adaptation: str = "per_chain"
    num_integration_steps: int = 16
    max_glues: int = 1000

    def __post_init__(self) -> None:
        matrix = self.inverse_mass_matrix
        if matrix is not None and not isinstance(matrix, FrozenArray):
            object.__setattr__(self, "inverse_mass_matrix", FrozenArray(matrix))
        if self.step_size is not None and not callable(self.step_size):
            positive_float("step_size", self.step_size)
            object.__setattr__(self, "step_size", float(self.step_size))
        elif callable(self.step_size):
            raise ValueError(
                f"{self.name} takes a fixed step_size (a positive float); schedules "
                "are for the SG kernels"
            )
        if not 0 < float(self.target_acceptance_rate) < 1:
            raise ValueError(
                "target_acceptance_rate must lie in (0, 1), got "
                f"{self.target_acceptance_rate!r}"
            )
        if self.adaptation not in ADAPTATIONS:
            raise ValueError(
                f"unknown adaptation {self.adaptation!r}; choose one of {ADAPTATIONS}"
            )
        positive_int("max_glues", self.max_glues)
        self._check_trajectory()

    def _check_trajectory(self) -> None:
        positive_int("num_integration_steps", self.num_integration_steps)

    # ------------------------------------------------------------ checks
    def validate(self, quotient: Any, template: Any, num_warmup: int) -> None:
        super().validate(quotient, template, num_warmup)
        size = int(ravel_pytree(template)[0].shape[0])
        matrix = (
            None if self.inverse_mass_matrix is None else self.inverse_mass_matrix.value
        )
        if matrix is not None:
            expected = {(size,), (size, size)}
            if matrix.shape not in expected:
                raise ValueError(
                    f"inverse_mass_matrix has shape {matrix.shape}; the position has "
                    f"{size} coordinates, so use ({size},) or ({size}, {size})"
                )
            if not np.all(np.isfinite(matrix)):
                raise ValueError("inverse_mass_matrix contains NaN or inf")
        if quotient.tied:
            if self.dense_mass or (matrix is not None and matrix.ndim == 2):
                raise ValueError(
                    f"quotient={quotient.mode!r} is exact only with a mass matrix tied "
                    "across the units of every axis; symbayes ties diagonal ones only: "
                    "use dense_mass=False, or quotient 'none' (exact with a dense "
                    "metric)"
                )
            if matrix is not None and not is_tied(matrix, template, quotient.symmetry):
                raise ValueError(
                    f"quotient={quotient.mode!r} with this inverse_mass_matrix is not "
                    "exact: it is not tied across the units of every axis (entries of "
                    "exchangeable units differ); tie it with "
                    "symbayes.quotient.tie_inverse_mass_matrix or let symbayes adapt it"
                )
        if self.adaptation != "per_chain" and (
            self.inverse_mass_matrix is not None or num_warmup < 20
        ):
            raise ValueError(
                f"adaptation={self.adaptation!r} pools metric estimates at the ends "
                "of slow warmup windows: it needs an adapted mass matrix "
                "(inverse_mass_matrix=None) and num_warmup >= 20"
            )

    # -------------------------------------------------------------- kernel
    def _blackjax_kernel(self, integrator: Any) -> Any:
        return blackjax.hmc.build_kernel(integrator=integrator)

    def _extra(self) -> tuple:
        return (self.num_integration_steps,)

    def _trajectory_stats(self, info: Any, glued: bool) -> dict:
        glues = info.proposal.position.glues if glued else 0
        return {"tree_depth": 0, "glues": glues}

    def build(
        self, target: Target, quotient: Any, template: Any, num_warmup: int
    ) -> Transitions:
        size = int(ravel_pytree(template)[0].shape[0])
        dtype = ravel_pytree(template)[0].dtype
        glued = quotient.walls is not None
        logdensity = target.logdensity

        def position_logdensity(position: Any) -> jax.Array:
            return logdensity(position.coordinates if glued else position)

        if glued:
            integrator = glued_integrator(quotient.walls, self.max_glues)

            def metric_of(matrix: jax.Array) -> metrics.Metric:
                return glued_metric(matrix, size)
        else:
            integrator = integrators.velocity_verlet

            def metric_of(matrix: jax.Array) -> metrics.Metric:
                return metrics.default_metric(matrix)

        kernel = self._blackjax_kernel(integrator)
        probe = blackjax.hmc.build_kernel(integrator=integrator)
        extra = self._extra()
        adapt_step = self.step_size is None
        adapt_metric = self.inverse_mass_matrix is None
        adapt = window_adaptation(
            target_acceptance_rate=self.target_acceptance_rate,
            dense=self.dense_mass,
            project=quotient.project(template),
            adapt_step_size=adapt_step,
            adapt_metric=adapt_metric,
            defer_window_end=self.adaptation != "per_chain",
        )
        stages, window_ends = window_schedule(num_warmup)
        stages_j = jnp.asarray(stages if stages.size else np.zeros(1, np.int32))
        ends_j = jnp.asarray(window_ends if window_ends.size else np.zeros(1, bool))
        if adapt_metric:
            initial_matrix = (
                jnp.eye(size, dtype=dtype) if self.dense_mass else jnp.ones(size, dtype)
            )
        else:
            initial_matrix = jnp.asarray(self.inverse_mass_matrix.value, dtype)

        def coordinates_of(position: Any) -> Any:
            return position.coordinates if glued else position

        def transition(key, state, step_size, matrix):
            if glued:
                state = state._replace(position=reset_frame(state.position))
            new, info = kernel(
                key, state, position_logdensity, step_size, metric_of(matrix), *extra
            )
            return complete(new, info, step_size)

        def complete(new, info, step_size):
            """The post-transition map (``fold``) and the transition's stats."""
            if quotient.folds:
                folded, element = quotient.fold(new.position)
                gradient = quotient.act(element, new.logdensity_grad)
                new = new._replace(position=folded, logdensity_grad=gradient)
            stats = fill_stats(
                dtype,
                acceptance_rate=info.acceptance_rate,
                diverging=info.is_divergent,
                num_grad_evals=info.num_integration_steps,
                energy=info.energy,
                logdensity=new.logdensity,
                step_size=step_size,
                **self._trajectory_stats(info, glued),
            )
            return new, stats

        def reasonable_step_size(key, state, matrix, start):
            """Hoffman & Gelman's heuristic from ``start``, and its gradients.

            The search evaluates one leapfrog step at ``start`` and at every
            doubling or halving until the acceptance crosses the target, so
            it costs ``1 + |log2(step / start)|`` gradients.
            """

            def generator(step):
                return lambda k, s: probe(
                    k, s, position_logdensity, step, metric_of(matrix), 1
                )

            start = jnp.asarray(start, dtype)
            step = find_reasonable_step_size(
                key, generator, state, start, self.target_acceptance_rate
            )
            grads = 1 + jnp.round(jnp.abs(jnp.log2(step / start))).astype(jnp.int32)
            return jnp.clip(step, 1e-6, 10.0).astype(dtype), grads

        def init(coordinates: Any, key: jax.Array) -> HMCChain:
            position = initial_position(coordinates) if glued else coordinates
            state = blackjax.hmc.init(position, position_logdensity)
            if adapt_step:
                step, _ = reasonable_step_size(key, state, initial_matrix, 0.1)
            else:
                step = jnp.asarray(self.step_size, dtype)
            return HMCChain(
                state, adapt.init(size, step, initial_matrix), step, initial_matrix
            )

        # per-chain windows end inside the step; pooled ones on the host
        restart_step = adapt_step and adapt_metric and self.adaptation == "per_chain"

        def restart(key, state, adaptation, grads):
            if glued:
                state = state._replace(position=reset_frame(state.position))
            step, extra = reasonable_step_size(
                jax.random.fold_in(key, 1),
                state,
                adaptation.inverse_mass_matrix,
                adaptation.step_size,
            )
            return adapt.restart(adaptation, step), grads + extra

        def restart_chain(key: jax.Array, chain: HMCChain):
            """The restart of a chain whose slow window has just ended."""
            adaptation, grads = restart(key, chain.state, chain.adaptation, 0)
            return chain._replace(adaptation=adaptation), grads

        def warmup_step(key: jax.Array, chain: HMCChain, t: jax.Array):
            adaptation = chain.adaptation
            state, stats = transition(
                key, chain.state, adaptation.step_size, adaptation.inverse_mass_matrix
            )
            return adapted(key, chain, state, stats, t)

        def adapted(key, chain: HMCChain, state, stats: dict, t, inline: bool = True):
            """Warmup step ``t``'s adaptation after its transition to ``state``.

            ``inline=False`` leaves the step-size restart at a window end to
            the caller (:func:`restart_chain`).
            """
            adaptation = chain.adaptation
            flat = ravel_pytree(coordinates_of(state.position))[0]
            index = jnp.clip(t, 0, max(num_warmup - 1, 0))
            adaptation = adapt.update(
                adaptation,
                stages_j[index],
                ends_j[index],
                flat,
                stats["acceptance_rate"],
            )
            if restart_step and inline:  # Stan: the heuristic with the new metric
                adaptation, grads = jax.lax.cond(
                    ends_j[index],
                    lambda a: restart(key, state, a, stats["num_grad_evals"]),
                    lambda a: (a, stats["num_grad_evals"]),
                    adaptation,
                )
                stats = {**stats, "num_grad_evals": grads}
            return chain._replace(state=state, adaptation=adaptation), stats

        def end_warmup(chain: HMCChain) -> HMCChain:
            if num_warmup == 0:
                return chain
            step, matrix = adapt.final(chain.adaptation)
            return chain._replace(
                step_size=step.astype(dtype), inverse_mass_matrix=matrix
            )

        def sample_step(key: jax.Array, chain: HMCChain):
            state, stats = transition(
                key, chain.state, chain.step_size, chain.inverse_mass_matrix
            )
            return chain._replace(state=state), stats

        def parameters(chain: HMCChain) -> dict:
            return {
                "step_size": chain.step_size,
                "inverse_mass_matrix": chain.inverse_mass_matrix,
            }

        run_chunk = None
        if self._desynchronised(glued):
            run_chunk = desynchronised_chunks(
                position_logdensity,
                self.max_num_doublings,
                complete=complete,
                adapted=lambda *args: adapted(*args, inline=False),
                restart=restart_chain if restart_step else None,
                window_end=lambda t: ends_j[jnp.clip(t, 0, max(num_warmup - 1, 0))],
            )
        return Transitions(
            init=init,
            warmup_step=warmup_step,
            warmup_all=None,
            end_warmup=end_warmup,
            sample_step=sample_step,
            position=lambda chain: coordinates_of(chain.state.position),
            parameters=parameters,
            run_chunk=run_chunk,
        )

    def _desynchronised(self, glued: bool) -> bool:
        """Whether vmapped chains run one leapfrog step at a time (NUTS)."""
        return False

    # ------------------------------------------------------------ pooling
    def pool_steps(self, num_warmup: int) -> np.ndarray:
        if self.adaptation == "per_chain" or self.inverse_mass_matrix is not None:
            return np.zeros(0, np.int64)
        _, window_ends = window_schedule(num_warmup)
        return np.flatnonzero(window_ends).astype(np.int64)

    def pool(self, chains: HMCChain, quotient: Any, template: Any) -> tuple[Any, dict]:
        states = chains.adaptation
        means, variances = welford_moments(states)
        codes = None
        if self.adaptation == "raw_pooled":
            labels = np.zeros(means.shape[0], np.int64)
        elif quotient.mode == "reparam":
            labels = cluster_chains(means, variances)
        else:
            labels, codes = mode_frames(means, variances, quotient.symmetry, template)
        new, report = pool_window(
            states,
            labels=labels,
            codes=codes,
            dense=self.dense_mass,
            project=quotient.project(template),
            adapt_step_size=self.step_size is None,
            target_acceptance_rate=self.target_acceptance_rate,
        )
        chains = chains._replace(
            adaptation=new,
            step_size=np.asarray(new.step_size),
            inverse_mass_matrix=np.asarray(new.inverse_mass_matrix),
        )
        return chains, {"pooled_modes": report.num_modes}


def _element_codes(symmetry: Symmetry, elements: Any, template: Any) -> np.ndarray:
    """``(B, n)`` flat signed-permutation codes of a batch of elements."""
    flat, unravel = ravel_pytree(template)
    codes_tree = unravel(jnp.arange(1, flat.shape[0] + 1, dtype=flat.dtype))
    moved = jax.vmap(lambda g: ravel_pytree(symmetry.act(g, codes_tree))[0])(elements)
    return np.asarray(moved, np.float64)


def mode_frames(
    means: np.ndarray, variances: np.ndarray, symmetry: Symmetry, template: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Modes of chains and the element mapping each chain into its mode's frame.

    Chain means are sort-canonicalised and clustered
    (:func:`symbayes.adaptation.cluster_chains`); each mode's pivot is the
    canonical mean of its medoid chain, and every member's raw mean is
    aligned to it (:func:`symbayes.canonical.canonicalize` with ``"align"``),
    which is stable where sort keys nearly tie.

    Returns:
        ``(labels, codes)``: ``(C,)`` modes and ``(C, n)`` codes.
    """
    _, unravel = ravel_pytree(template)
    dtype = ravel_pytree(template)[0].dtype
    batch = jax.vmap(unravel)(jnp.asarray(means, dtype))
    _, sort_elements = canonicalize(
        batch, symmetry, "sort", batch_ndim=1, return_element=True
    )
    sort_codes = _element_codes(symmetry, sort_elements, template)
    mapped_means, mapped_variances = map_moments(means, variances, sort_codes)
    labels = cluster_chains(mapped_means, mapped_variances)
    codes = np.empty_like(sort_codes)
    for mode in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == mode)
        sub_means = mapped_means[members]
        sub_variances = mapped_variances[members]
        spread = np.maximum(sub_variances[:, None] + sub_variances[None], 1e-12)
        distance = np.mean((sub_means[:, None] - sub_means[None]) ** 2 / spread, axis=2)
        medoid = members[int(np.argmin(distance.sum(axis=1)))]
        pivot = unravel(jnp.asarray(mapped_means[medoid], dtype))
        members_batch = jax.tree_util.tree_map(lambda x, m=members: x[m], batch)
        _, elements = canonicalize(
            members_batch,
            symmetry,
            "align",
            pivot=pivot,
            batch_ndim=1,
            return_element=True,
        )
        codes[members] = _element_codes(symmetry, elements, template)
    return labels, codes
