r"""ChEES-HMC (Hoffman, Radul & Sountsov 2021): jittered HMC tuned across chains.

Each transition is HMC (velocity Verlet, identity metric) whose number of
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

The final parameters are the moving averages of warmup, frozen: sampling
is exact HMC with a jittered, fixed-distribution trajectory length.

**Quotients.** ``none``; ``fold`` canonicalises position and gradient after
every transition (momenta are redrawn each transition); the identity
metric is tied across units, so the folded chain is exact for the quotient
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
from blackjax.mcmc import dynamic_hmc
from jax.flatten_util import ravel_pytree

from symbayes.kernels.base import (
    Kernel,
    Target,
    Transitions,
    fill_stats,
    positive_float,
    positive_int,
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
    """

    state: Any
    step_size: jax.Array
    num_leapfrog_steps: jax.Array


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

    def __post_init__(self) -> None:
        positive_float("initial_step_size", self.initial_step_size)
        positive_float("learning_rate", self.learning_rate)
        positive_int("max_leapfrog_steps", self.max_leapfrog_steps)
        for name in ("target_acceptance_rate", "decay_rate"):
            if not 0 < float(getattr(self, name)) < 1:
                raise ValueError(
                    f"{name} must lie in (0, 1), got {getattr(self, name)!r}"
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

        def transition(key, state, step_size, num_leapfrog_steps):
            new, info = step_fn(
                key,
                state,
                logdensity,
                step_size,
                ones,
                integration_steps_params=(num_leapfrog_steps,),
            )
            if quotient.folds:
                new = fold_integrator_state(quotient, new, momentum=False)
            return new, info

        def init(coordinates: Any, key: jax.Array) -> ChEESChain:
            del key
            state = dynamic_hmc.init(coordinates, logdensity, jnp.zeros((), jnp.int32))
            step = jnp.asarray(self.initial_step_size, dtype)
            return ChEESChain(state, step, jnp.ones((), dtype))

        def flatten(tree: Any) -> jax.Array:
            return jax.vmap(lambda x: ravel_pytree(x)[0])(tree)

        def warmup_all(keys, chains, num_steps, chain_method):
            del chain_method  # cross-chain: always vectorised
            adaptation = adapt_init(
                jnp.zeros((), jnp.int32), jnp.asarray(self.initial_step_size, dtype)
            )

            def one_step(carry, t):
                states, adaptation = carry
                step_keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(keys)
                length = adaptation.trajectory_length / adaptation.step_size
                new, info = jax.vmap(
                    lambda k, s: transition(k, s, adaptation.step_size, length)
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
                    ones,
                )
                return (new, adaptation), info.num_integration_steps

            (states, adaptation), grads = jax.lax.scan(
                one_step, (chains.state, adaptation), jnp.arange(num_steps)
            )
            step = jnp.exp(adaptation.log_step_size_moving_average).astype(dtype)
            length = jnp.exp(
                adaptation.log_trajectory_length_moving_average
                - adaptation.log_step_size_moving_average
            ).astype(dtype)
            count = states.logdensity.shape[0]
            chains = ChEESChain(
                states, jnp.full((count,), step), jnp.full((count,), length)
            )
            return chains, grads.sum(axis=0).astype(jnp.int32)

        def sample_step(key: jax.Array, chain: ChEESChain):
            state, info = transition(
                key, chain.state, chain.step_size, chain.num_leapfrog_steps
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

        def parameters(chain: ChEESChain) -> dict:
            return {
                "step_size": chain.step_size,
                "num_leapfrog_steps": chain.num_leapfrog_steps,
            }

        return Transitions(
            init=init,
            warmup_step=None,
            warmup_all=warmup_all,
            end_warmup=lambda chain: chain,
            sample_step=sample_step,
            position=lambda chain: chain.state.position,
            parameters=parameters,
        )
