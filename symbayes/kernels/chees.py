r"""ChEES-HMC (Hoffman, Radul & Sountsov 2021): jittered HMC tuned across chains.

Each transition is HMC (velocity Verlet, diagonal metric) whose number of
steps is ``ceil(h_t * T / eps)`` with ``h_t`` a Halton-sequence jitter in
``(0, 1]``: the trajectory length ``T`` is shared by all chains. Warmup
adapts the step size ``eps`` by dual averaging of the mean acceptance over
chains and ``T`` by Adam ascent of the ChEES criterion (the change in the
estimator of the expected square, a cross-chain measure of how far a
trajectory moves the ensemble), both from blackjax's
``blackjax.adaptation.chees_adaptation.base``. All chains take the same
number of steps, so a vectorised (GPU) step wastes no work waiting for the
longest trajectory, unlike NUTS; this is the kernel for many chains on an
accelerator. Warmup couples chains (``cross_chain``), so it runs vectorised.

**Metric** (``diagonal_metric=True``, the default). The first half of
warmup runs with the identity metric; over its second quarter every chain
keeps a Welford estimate of its own variance per coordinate (blackjax's
``welford_algorithm``). At mid-warmup the inverse metric becomes the mean of
the per-chain variances, shrunk towards ``1e-3`` as Stan does
(``n / (n + 5)`` weight), tied across units by the quotient's projection;
the adaptation restarts from the step size and trajectory length rescaled
to the new metric (``eps / sqrt(min Sigma)``, ``T / sqrt(max Sigma)``), and
the second half adapts both again. Within-chain variances, not the
variance pooled across chains: under ``quotient="none"`` chains sit in
different symmetric copies, whose pooled variance is that of the copies'
spread, not of one mode (``benchmarks/many_chains.py`` measures what raw
cross-chain pooling costs NUTS). ``diagonal_metric=False`` keeps the
identity metric throughout.

The final parameters are the moving averages of warmup, frozen: sampling
is exact HMC with a jittered, fixed-distribution trajectory length.

**Quotients.** ``none``; ``fold`` canonicalises position and gradient after
every transition (momenta are redrawn each transition); the metric is
tied across units, so the folded chain is exact for the quotient
posterior.

blackjax's own ``chees_adaptation(...).run`` builds its transition inside,
with no hook for a post-transition map; this file runs the same scan with
blackjax's ``base`` (init/update of the adaptation) and ``dynamic_hmc``
kernel, adding the fold.

References:
    Hoffman, Radul & Sountsov (2021), "An adaptive MCMC scheme for setting
    trajectory lengths in Hamiltonian Monte Carlo", AISTATS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import optax
from blackjax.adaptation.chees_adaptation import base as chees_base
from blackjax.adaptation.mass_matrix import (
    MassMatrixAdaptationState,
    mass_matrix_adaptation,
    welford_algorithm,
)
from blackjax.mcmc import dynamic_hmc
from jax.flatten_util import ravel_pytree

from symbayes.kernels.base import (
    Kernel,
    Target,
    Transitions,
    fill_stats,
    positive_float,
    positive_int,
    whole_warmup_transitions,
)
from symbayes.kernels.mclmc import fold_integrator_state

__all__ = ["ChEES", "ChEESChain"]

# bits of the Halton jitter sequence: distinct jitters for 2**20 transitions
HALTON_BITS = 20


class ChEESChain(NamedTuple):
    """Per-chain carry of ChEES-HMC.

    Attributes:
        state: blackjax ``DynamicHMCState`` (its ``random_generator_arg`` is
            the transition counter indexing the Halton jitter).
        step_size: the step size of sampling.
        num_leapfrog_steps: the mean trajectory length in steps, ``T / eps``
            before jitter.
        inverse_mass_matrix: the diagonal inverse metric ``(n,)``.
    """

    state: Any
    step_size: jax.Array
    num_leapfrog_steps: jax.Array
    inverse_mass_matrix: jax.Array


def jitter(index: jax.Array, amount: float) -> jax.Array:
    """Halton jitter in ``[1 - amount, 1]`` for transition ``index``."""
    return dynamic_hmc.halton_sequence(index, HALTON_BITS) * amount + (1.0 - amount)


@dataclass(frozen=True)
class ChEES(Kernel):
    """Jittered HMC with ChEES trajectory-length adaptation (module docstring).

    Args:
        initial_step_size: the step size warmup starts from.
        learning_rate: Adam's learning rate for the log trajectory length
            (0.025 as in Hoffman et al. 2021).
        target_acceptance_rate: dual-averaging target (0.651, optimal for HMC).
        jitter_amount: fraction of the trajectory length that is jittered.
        decay_rate: weight of recent warmup steps in the moving averages.
        max_leapfrog_steps: cap on steps per trajectory.
        diagonal_metric: estimate a diagonal metric at mid-warmup (module
            docstring); ``False``: the identity metric.
    """

    name: ClassVar[str] = "chees"
    whole_warmup: ClassVar[bool] = True
    cross_chain: ClassVar[bool] = True
    quotients: ClassVar[tuple[str, ...]] = ("none", "fold")

    initial_step_size: float = 0.1
    learning_rate: float = 0.025
    target_acceptance_rate: float = 0.651
    jitter_amount: float = 1.0
    decay_rate: float = 0.5
    max_leapfrog_steps: int = 1000
    diagonal_metric: bool = True

    def __post_init__(self) -> None:
        positive_float("initial_step_size", self.initial_step_size)
        positive_float("learning_rate", self.learning_rate)
        positive_int("max_leapfrog_steps", self.max_leapfrog_steps)
        for name in ("target_acceptance_rate", "decay_rate"):
            if not 0 < float(getattr(self, name)) < 1:
                raise ValueError(
                    f"{name} must lie in (0, 1), got {getattr(self, name)!r}"
                )
        if not isinstance(self.diagonal_metric, bool):
            raise ValueError(
                f"diagonal_metric must be True or False, got {self.diagonal_metric!r}"
            )
        if not 0 <= float(self.jitter_amount) <= 1:
            raise ValueError(
                f"jitter_amount must lie in [0, 1], got {self.jitter_amount!r}"
            )

    def check_run(self, num_warmup: int) -> None:
        if num_warmup < 20:
            raise ValueError(
                "chees adapts step size and trajectory length across chains in "
                f"warmup: num_warmup must be >= 20, got {num_warmup}"
            )

    def validate(self, quotient: Any, template: Any, num_warmup: int) -> None:
        super().validate(quotient, template, num_warmup)
        self.check_run(num_warmup)

    def build(
        self, target: Target, quotient: Any, template: Any, num_warmup: int
    ) -> Transitions:
        flat, _ = ravel_pytree(template)
        size, dtype = int(flat.shape[0]), flat.dtype
        logdensity = target.logdensity
        ones = jnp.ones(size, dtype)
        amount = float(self.jitter_amount)
        project = quotient.project(template) or (lambda matrix: matrix)

        def integration_steps_fn(index, num_leapfrog_steps):
            steps = jnp.ceil(jitter(index, amount) * num_leapfrog_steps)
            return jnp.clip(steps, 1, self.max_leapfrog_steps).astype(jnp.int32)

        step_fn = dynamic_hmc.build_kernel(
            next_random_arg_fn=lambda index: index + 1,
            integration_steps_fn=integration_steps_fn,
        )
        adapt_init, adapt_update = chees_base(
            lambda index: jitter(index, amount),
            lambda index: index + 1,
            optax.adam(self.learning_rate),
            self.target_acceptance_rate,
            self.decay_rate,
            self.max_leapfrog_steps,
        )
        welford_init, welford_update, _ = welford_algorithm(is_diagonal_matrix=True)
        _, _, regularised = mass_matrix_adaptation(is_diagonal_matrix=True)

        def transition(key, state, step_size, num_leapfrog_steps, metric):
            new, info = step_fn(
                key,
                state,
                logdensity,
                step_size,
                metric,
                integration_steps_params=(num_leapfrog_steps,),
            )
            if quotient.folds:
                new = fold_integrator_state(quotient, new, momentum=False)
            return new, info

        def init(coordinates: Any, key: jax.Array) -> ChEESChain:
            del key
            state = dynamic_hmc.init(coordinates, logdensity, jnp.zeros((), jnp.int32))
            step = jnp.asarray(self.initial_step_size, dtype)
            return ChEESChain(state, step, jnp.ones((), dtype), ones)

        def flatten(tree: Any) -> jax.Array:
            return jax.vmap(lambda x: ravel_pytree(x)[0])(tree)

        def run_phase(keys, states, adaptation, metric, steps, offset, accumulate):
            """Cross-chain transitions ``offset, ..., offset + steps - 1``.

            At ``metric``, adapting step size and trajectory length. With
            ``accumulate`` (a transition index), per-chain Welford statistics
            of the positions accumulate from that transition on.
            """
            count = states.logdensity.shape[0]
            welford = None
            if accumulate is not None:
                welford = jax.tree_util.tree_map(
                    lambda x: jnp.broadcast_to(jnp.asarray(x), (count, *jnp.shape(x))),
                    welford_init(size),
                )

            def one_step(carry, t):
                states, adaptation, welford = carry
                step_keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(keys)
                length = adaptation.trajectory_length / adaptation.step_size
                new, info = jax.vmap(
                    lambda k, s: transition(k, s, adaptation.step_size, length, metric)
                )(step_keys, states)
                # flat (chain, n) arrays: blackjax's weighted mean mis-broadcasts
                # leaves of more than two axes
                adaptation = adapt_update(
                    adaptation,
                    flatten(info.proposal.position),
                    flatten(info.proposal.momentum),
                    flatten(states.position),
                    info.acceptance_rate,
                    info.is_divergent,
                    metric,
                )
                if accumulate is not None:
                    updated = jax.vmap(welford_update)(welford, flatten(new.position))
                    welford = jax.tree_util.tree_map(
                        lambda a, b: jnp.where(t >= accumulate, a, b),
                        updated,
                        welford,
                    )
                return (new, adaptation, welford), info.num_integration_steps

            (states, adaptation, welford), grads = jax.lax.scan(
                one_step, (states, adaptation, welford), offset + jnp.arange(steps)
            )
            return states, adaptation, welford, grads.sum(axis=0).astype(jnp.int32)

        def estimate_metric(welford) -> jax.Array:
            """Mean within-chain variance, regularised as Stan's, tied.

            The chains' ``m2`` (equal counts) averaged into one Welford state,
            regularised by blackjax's window-end rule (``n / (n + 5)`` towards
            ``1e-3``), then projected by the quotient.
            """
            within = welford._replace(
                mean=welford.mean[0],
                m2=jnp.mean(welford.m2, axis=0),
                sample_size=welford.sample_size[0],
            )
            state = regularised(MassMatrixAdaptationState(ones, within))
            return project(state.inverse_mass_matrix).astype(dtype)

        def warmup_all(keys, chains, num_steps, chain_method):
            del chain_method  # cross-chain: always vectorised
            step0 = jnp.asarray(self.initial_step_size, dtype)
            adaptation = adapt_init(jnp.zeros((), jnp.int32), step0)
            states, metric, offset = chains.state, ones, 0
            grads = jnp.zeros(states.logdensity.shape, jnp.int32)
            if self.diagonal_metric:
                offset = num_steps // 2
                states, adaptation, welford, first = run_phase(
                    keys, states, adaptation, ones, offset, 0, offset // 2
                )
                grads = grads + first
                metric = estimate_metric(welford)
                # restart the adaptation at the scales of the new metric
                step = adaptation.step_size / jnp.sqrt(jnp.min(metric))
                length = adaptation.trajectory_length / jnp.sqrt(jnp.max(metric))
                adaptation = adapt_init(adaptation.random_generator_arg, step)
                adaptation = adaptation._replace(
                    trajectory_length=jnp.maximum(length, step)
                )
            states, adaptation, _, rest = run_phase(
                keys, states, adaptation, metric, num_steps - offset, offset, None
            )
            grads = grads + rest
            step = jnp.exp(adaptation.log_step_size_moving_average).astype(dtype)
            length = jnp.exp(
                adaptation.log_trajectory_length_moving_average
                - adaptation.log_step_size_moving_average
            ).astype(dtype)
            count = states.logdensity.shape[0]
            chains = ChEESChain(
                states,
                jnp.full((count,), step),
                jnp.full((count,), length),
                jnp.broadcast_to(metric, (count, size)),
            )
            return chains, grads

        def sample_step(key: jax.Array, chain: ChEESChain):
            state, info = transition(
                key,
                chain.state,
                chain.step_size,
                chain.num_leapfrog_steps,
                chain.inverse_mass_matrix,
            )
            stats = fill_stats(
                dtype,
                acceptance_rate=info.acceptance_rate,
                diverging=info.is_divergent,
                num_grad_evals=info.num_integration_steps,
                energy=info.energy,
                logdensity=state.logdensity,
                step_size=chain.step_size,
            )
            return chain._replace(state=state), stats

        return whole_warmup_transitions(
            init,
            warmup_all,
            sample_step,
            ("step_size", "num_leapfrog_steps", "inverse_mass_matrix"),
        )
