r"""MCLMC (Robnik et al. 2023): microcanonical Langevin dynamics, unadjusted.

The position ``x`` moves with a unit-norm velocity ``u`` (in the
preconditioned coordinates ``x = sqrt(M^{-1}) y``) along the isokinetic
dynamics

.. math::

    \dot y = u, \qquad \dot u = (I - u u^\top) \nabla \log p(y) / (d - 1),

whose stationary law has the target as its marginal; a partial refresh of
``u`` after every step (decoherence length ``L``) makes it ergodic. Each
transition is one step of blackjax's isokinetic McLachlan integrator (two
gradients) with that refresh (``blackjax.mclmc.build_kernel``).

**Bias.** There is no Metropolis correction: the chain's stationary law is
the target only as the step size goes to zero. blackjax's tuner
(``blackjax.mclmc_find_L_and_step_size``, Robnik et al. 2023, section 4)
picks the step size whose energy error per dimension has variance
``desired_energy_var``. symbayes' default is ``1e-4``, five times below
blackjax's ``5e-4``: on the 1-3-1 tanh and 1-16-1 ReLU BNNs of the
benchmark suite (``benchmarks/mclmc_bias.py``, against NUTS) ``5e-4`` moves
the posterior predictive mean by a median 1.7 and 1.2 MCSE per test point
(a fifth to a third of the points beyond 2 MCSE), ``1e-4`` by 0.4 and 0.2
(none beyond 2), at 0.70x and 0.83x the speed. The bias grows with the step
size, with heavy tails and with strongly varying curvature (funnels,
saturated network units), where the energy error is large in a small
region the tuner averages over. For exact draws use
:class:`~symbayes.kernels.adjusted_mclmc.AdjustedMCLMC`.

**Quotients.** ``none``; ``fold`` canonicalises the position after every
transition and applies the same signed permutation to the persistent
velocity and the gradient (a signed permutation is orthogonal, so the
isokinetic flow commutes with it when the preconditioner is tied across
units, which the kernel enforces by projecting every preconditioner it is
given, the tuner's included).

**Warmup** is whole (:attr:`Kernel.whole_warmup`): each chain runs blackjax's
tuner for ``num_warmup`` transitions: a third adapting the step size, a
third estimating the diagonal preconditioner (then re-adapting the step),
the rest estimating ``L`` from the autocorrelation time.

References:
    Robnik, De Luca, Silverstein & Seljak (2023), "Microcanonical Hamiltonian
    Monte Carlo", JMLR 24. Robnik & Seljak (2024), "Fluctuation without
    dissipation: Microcanonical Langevin Monte Carlo", AABI. Sommer, Wimmer,
    Papamarkou, Bothmann, Bischl & Rügamer (2025), "Microcanonical Langevin
    ensembles: advancing the sampling of Bayesian neural networks", ICLR
    (MILE: ensemble initialisation, then MCLMC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState
from blackjax.mcmc.integrators import isokinetic_mclachlan
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

__all__ = [
    "DEFAULT_DESIRED_ENERGY_VAR",
    "MCLMC",
    "MCLMCChain",
    "fold_integrator_state",
    "map_over_chains",
]

# gradient evaluations per step of the isokinetic McLachlan integrator
GRADS_PER_STEP = 2
# the tuner's target energy-error variance per dimension (blackjax: 5e-4,
# biased in BNN predictions; see the module docstring)
DEFAULT_DESIRED_ENERGY_VAR = 1e-4


class MCLMCChain(NamedTuple):
    """Per-chain carry of MCLMC.

    Attributes:
        state: blackjax ``IntegratorState`` (position, unit velocity, log
            density and its gradient).
        L: the momentum decoherence length.
        step_size: the integrator step size.
        inverse_mass_matrix: the diagonal preconditioner ``(n,)``.
    """

    state: Any
    L: jax.Array
    step_size: jax.Array
    inverse_mass_matrix: jax.Array


def fold_integrator_state(quotient: Any, state: Any, momentum: bool = True) -> Any:
    """Canonicalise a blackjax state's position; move gradient (and momentum) along.

    Args:
        quotient: a :class:`~symbayes.quotient.Quotient` with ``folds``.
        state: a NamedTuple with ``position`` and ``logdensity_grad`` (and
            ``momentum`` when ``momentum``).
        momentum: whether the state carries a persistent momentum.

    Returns:
        The state with the sorted position and the same group element applied
        to the gradient (and the momentum): the element is a signed
        permutation, so it maps the flow at ``x`` onto the flow at ``g x``.
    """
    folded, element = quotient.fold(state.position)
    new = state._replace(
        position=folded,
        logdensity_grad=quotient.act(element, state.logdensity_grad),
    )
    if momentum:
        new = new._replace(momentum=quotient.act(element, state.momentum))
    return new


def map_over_chains(fn: Any, method: str, *args: Any) -> Any:
    """``fn`` over the leading axis of ``args``: vmap or ``lax.map``."""
    if method == "vectorized":
        return jax.vmap(fn)(*args)
    return jax.lax.map(lambda xs: fn(*xs), args)


def tuner_steps(num_steps: int, fractions: tuple, diagonal: bool) -> int:
    """Transitions that ``blackjax.mclmc_find_L_and_step_size`` runs."""
    first, second = round(num_steps * fractions[0]), round(num_steps * fractions[1])
    third = round(num_steps * fractions[2])
    readjust = round(second / 3) if diagonal and second > 1 else 0
    return first + second + readjust + (third if third >= 2 else 0)


def check_fixed_pair(kernel: Kernel, num_warmup: int, minimum: int) -> None:
    """Both of ``L`` and ``step_size`` or neither; enough warmup to tune them."""
    fixed = (kernel.L is not None, kernel.step_size is not None)
    if fixed[0] != fixed[1]:
        raise ValueError(
            f"{kernel.name}: give both L and step_size (no tuning) or neither "
            "(both tuned in warmup)"
        )
    if not fixed[0] and num_warmup < minimum:
        raise ValueError(
            f"{kernel.name} tunes L and step_size in warmup: num_warmup must be >= "
            f"{minimum}, got {num_warmup} (or give L= and step_size=)"
        )


@dataclass(frozen=True)
class MCLMC(Kernel):
    """Unadjusted microcanonical Langevin Monte Carlo (see the module docstring).

    Args:
        L: a fixed decoherence length (with ``step_size``: no tuning).
        step_size: a fixed step size (with ``L``).
        diagonal_preconditioning: tune a diagonal preconditioner.
        desired_energy_var: the tuner's target variance of the energy error
            per dimension; smaller is less biased and slower (default
            :data:`DEFAULT_DESIRED_ENERGY_VAR`, see the module docstring).
        num_effective_samples: the tuner's averaging window.
        l_factor: ``L = l_factor * step_size * tau``, with ``tau`` the mean
            integrated autocorrelation time (in steps) the tuner's last phase
            measures (blackjax's ``l_factor``, default 0.4). On the 1-3-1 tanh
            BNN of the benchmark suite 0.8 doubles the smallest function-space
            ESS at 8 x 1000 draws; on the 1-16-1 ReLU BNN, the mixture and
            PPCA it changes it by -4% to +3%, and on the ReLU BNN it triples
            the median bias of the predictive means in MCSE (0.24 -> 0.69),
            hence the default (``benchmarks/README.md``).
    """

    name: ClassVar[str] = "mclmc"
    exact: ClassVar[bool] = False
    whole_warmup: ClassVar[bool] = True
    quotients: ClassVar[tuple[str, ...]] = ("none", "fold")

    L: float | None = None
    step_size: float | None = None
    diagonal_preconditioning: bool = True
    desired_energy_var: float = DEFAULT_DESIRED_ENERGY_VAR
    num_effective_samples: int = 150
    l_factor: float = 0.4

    def __post_init__(self) -> None:
        positive_float("L", self.L, allow_none=True)
        positive_float("step_size", self.step_size, allow_none=True)
        positive_float("desired_energy_var", self.desired_energy_var)
        positive_int("num_effective_samples", self.num_effective_samples, 2)
        positive_float("l_factor", self.l_factor)
        if not isinstance(self.diagonal_preconditioning, bool):
            raise ValueError(
                "diagonal_preconditioning must be True or False, got "
                f"{self.diagonal_preconditioning!r}"
            )

    def validate(self, quotient: Any, template: Any, num_warmup: int) -> None:
        super().validate(quotient, template, num_warmup)
        if int(ravel_pytree(template)[0].shape[0]) < 2:
            raise ValueError("mclmc needs at least 2 coordinates")
        self.check_run(num_warmup)

    def check_run(self, num_warmup: int) -> None:
        check_fixed_pair(self, num_warmup, 30)

    def build(
        self, target: Target, quotient: Any, template: Any, num_warmup: int
    ) -> Transitions:
        flat, _ = ravel_pytree(template)
        size, dtype = int(flat.shape[0]), flat.dtype
        logdensity = target.logdensity
        project = quotient.project(template) or (lambda matrix: matrix)
        blackjax_kernel = blackjax.mclmc.build_kernel(
            integrator=isokinetic_mclachlan,
            desired_energy_var=self.desired_energy_var,
        )

        def kernel(rng_key, state, logdensity_fn, inverse_mass_matrix, L, step_size):
            """blackjax's transition, tied metric, folded (the tuner calls it too)."""
            new, info = blackjax_kernel(
                rng_key,
                state,
                logdensity_fn,
                project(inverse_mass_matrix),
                L,
                step_size,
            )
            if quotient.folds:
                new = fold_integrator_state(quotient, new)
            return new, info

        def init(coordinates: Any, key: jax.Array) -> MCLMCChain:
            state = blackjax.mclmc.init(coordinates, logdensity, key)
            if self.L is not None:
                L, step = jnp.asarray(self.L, dtype), jnp.asarray(self.step_size, dtype)
            else:
                L = jnp.sqrt(jnp.asarray(size, dtype))
                step = 0.25 * L
            return MCLMCChain(state, L, step, jnp.ones(size, dtype))

        # a third of warmup per phase (the preconditioner phase re-adapts the
        # step for a third of its length: 1/3 + 1/4 * 4/3 + ... = num_warmup)
        fractions = (1 / 3, 0.25, 1 - 1 / 3 - 0.25 * 4 / 3)

        tuning_steps = tuner_steps(num_warmup, fractions, self.diagonal_preconditioning)

        def tune(key: jax.Array, chain: MCLMCChain):
            if self.L is not None:
                return chain, jnp.zeros((), jnp.int32)
            state, params, _ = blackjax.mclmc_find_L_and_step_size(
                mclmc_kernel=kernel,
                num_steps=num_warmup,
                state=chain.state,
                rng_key=jax.random.fold_in(key, 0),
                logdensity_fn=logdensity,
                frac_tune1=fractions[0],
                frac_tune2=fractions[1],
                frac_tune3=fractions[2],
                desired_energy_var=self.desired_energy_var,
                num_effective_samples=self.num_effective_samples,
                diagonal_preconditioning=self.diagonal_preconditioning,
                l_factor=self.l_factor,
            )
            params = MCLMCAdaptationState(*params)
            chain = MCLMCChain(
                state,
                jnp.asarray(params.L, dtype),
                jnp.asarray(params.step_size, dtype),
                project(jnp.broadcast_to(params.inverse_mass_matrix, (size,))).astype(
                    dtype
                ),
            )
            return chain, jnp.asarray(GRADS_PER_STEP * tuning_steps, jnp.int32)

        def warmup_all(keys, chains, num_steps, chain_method):
            del num_steps
            return map_over_chains(tune, chain_method, keys, chains)

        def sample_step(key: jax.Array, chain: MCLMCChain):
            state, info = kernel(
                key,
                chain.state,
                logdensity,
                chain.inverse_mass_matrix,
                chain.L,
                chain.step_size,
            )
            stats = fill_stats(
                dtype,
                acceptance_rate=1.0,
                diverging=~info.nonans,
                num_grad_evals=GRADS_PER_STEP,
                energy=info.energy_change,
                logdensity=state.logdensity,
                step_size=chain.step_size,
            )
            return chain._replace(state=state), stats

        return whole_warmup_transitions(
            init, warmup_all, sample_step, ("L", "step_size", "inverse_mass_matrix")
        )
