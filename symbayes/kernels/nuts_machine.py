r"""NUTS one leapfrog step at a time, so that vmapped chains need not wait.

Vmapped over chains, blackjax's NUTS transition (like numpyro's) is a loop of
tree doublings with a loop of leapfrog steps inside: every chain waits, at
every transition, for the chain with the deepest tree. On PPCA (8 chains,
half the transitions at the depth cap) about 28% of the vmapped gradient
evaluations are such waiting. Here the same algorithm is a per-chain state
machine that advances by exactly one leapfrog step per call (``tick`` of
:func:`build_machine`).
One ``while_loop`` ticks all chains together until every chain has made its
own number of transitions; a chain whose tree is done starts its next
transition at the next tick, so chains only wait for each other at the end
of a run of transitions (Radul et al. 2020 call this program-counter
autobatching; here it is written out for NUTS alone).

The transition is blackjax's ``nuts.build_kernel`` step for step: the same
momentum and direction draws from the same key, multinomial sampling inside
a subtree (``progressive_uniform_sampling``), biased progressive sampling
between subtrees (``progressive_biased_sampling``), numpyro's iterative
U-turn checkpoints (``termination.iterative_uturn_numpyro``) and the U-turn
check of the merged trajectory (``metric.check_turning``). Given one key,
one state, step size and metric, a chain's next state is blackjax's, up to
floating-point rounding (tested).

References:
    Hoffman & Gelman (2014), "The No-U-Turn sampler", JMLR 15.
    Betancourt (2017), "A conceptual introduction to Hamiltonian Monte Carlo"
    (multinomial sampling, biased progressive sampling). Phan, Pradhan &
    Jankowiak (2019), "Composable effects for flexible and accelerated
    probabilistic programming in NumPyro" (iterative NUTS).
    Radul, Patton, Maclaurin, Hoffman & Saurous (2020), "Automatically
    batching control-intensive programs for modern accelerators", MLSys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
from blackjax.mcmc import hmc, integrators, metrics, termination
from blackjax.mcmc.proposal import (
    Proposal,
    progressive_biased_sampling,
    progressive_uniform_sampling,
    proposal_generator,
)
from blackjax.mcmc.trajectory import (
    Trajectory,
    append_to_trajectory,
    hmc_energy,
    merge_trajectories,
)

__all__ = ["Machine", "TransitionInfo", "build_machine", "desynchronised_chunks"]


class TransitionInfo(NamedTuple):
    """What a finished transition reports (blackjax ``NUTSInfo``'s fields).

    Attributes:
        acceptance_rate: mean Metropolis acceptance over the trajectory.
        is_divergent: a step's energy error exceeded the threshold.
        energy: energy of the selected state.
        num_integration_steps: leapfrog steps (gradients) of the transition.
        num_trajectory_expansions: tree doublings.
    """

    acceptance_rate: jax.Array
    is_divergent: jax.Array
    energy: jax.Array
    num_integration_steps: jax.Array
    num_trajectory_expansions: jax.Array


class Machine(NamedTuple):
    """One chain's NUTS transition, paused between two leapfrog steps.

    Attributes:
        state: the chain's state at the start of the current transition.
        fresh: the next tick starts a new transition (the last one ended).
        key: the transition's integrator key (blackjax's ``key_integrator``).
        subtree_key: the current doubling's key for sampling inside it.
        proposal_key: the current doubling's key for the merge.
        energy0: the energy at the start of the transition.
        proposal: the state selected from the whole tree so far.
        trajectory: the whole tree so far.
        criterion: the iterative U-turn checkpoints.
        depth: doublings completed in this transition.
        direction: ``+1`` or ``-1``, the current doubling's direction.
        sub_step: leapfrog steps done in the current doubling (0: none).
        sub_proposal: the state selected from the current subtree.
        sub_trajectory: the current subtree, built to its right.
    """

    state: hmc.HMCState
    fresh: jax.Array
    key: jax.Array
    subtree_key: jax.Array
    proposal_key: jax.Array
    energy0: jax.Array
    proposal: Proposal
    trajectory: Trajectory
    criterion: Any
    depth: jax.Array
    direction: jax.Array
    sub_step: jax.Array
    sub_proposal: Proposal
    sub_trajectory: Trajectory


def _typed(key: jax.Array) -> jax.Array:
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(key)


def _where(flag: jax.Array, a: Any, b: Any) -> Any:
    """``a`` where ``flag`` else ``b``, leaf by leaf (``flag`` leads the axes)."""

    def pick(x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.where(
            jnp.reshape(flag, flag.shape + (1,) * (x.ndim - flag.ndim)), x, y
        )

    return jax.tree_util.tree_map(pick, a, b)


def _masked(mask: jax.Array, update: Callable, machines: Any, *args: Any) -> Any:
    """``update`` on the chains in ``mask``; skipped when no chain is in it.

    The condition is over the whole batch, so the work of the rare phases of
    a transition (its start, a doubling's start and end) is done only at the
    ticks where some chain needs it, not as a select at every tick.
    """

    def run(machines: Any) -> Any:
        return _where(mask, update(machines, *args), machines)

    return jax.lax.cond(jnp.any(mask), run, lambda m: m, machines)


def _info_like(state: hmc.HMCState) -> TransitionInfo:
    """A :class:`TransitionInfo` of zeros (for the shapes of the stats)."""
    zero = jnp.zeros((), jnp.result_type(state.logdensity))
    count = jnp.zeros((), jnp.int32)
    return TransitionInfo(zero, jnp.asarray(False), zero, count, count)


def _reverse(trajectory: Trajectory) -> Trajectory:
    return Trajectory(
        trajectory.rightmost_state,
        trajectory.leftmost_state,
        trajectory.momentum_sum,
        trajectory.num_states,
    )


def build_machine(
    logdensity_fn: Callable,
    integrator: Callable = integrators.velocity_verlet,
    max_num_doublings: int = 10,
    divergence_threshold: float = 1000.0,
) -> tuple[Callable, Callable]:
    """``(init, tick)`` of the one-step NUTS machine, over a batch of chains.

    Every argument and result has a leading chain axis.

    * ``init(states, keys) -> Machine``: machines about to start a transition
      at the blackjax ``HMCState`` ``states`` (``keys``: keys of the kind the
      ticks will get).
    * ``tick(machines, keys, step_sizes, inverse_mass_matrices, active)
      -> (machines, done, new_states, info)``: one leapfrog step of every
      chain. ``keys()`` returns the chains' keys for the transitions they
      are about to start (blackjax's kernel key); it is called only at the
      ticks where some active chain starts one. Where ``done`` a
      transition ended at this step, ``new_states`` holds its result and
      ``info`` its :class:`TransitionInfo`; that machine starts its next
      transition from there at its next tick, if it is ``active``. An
      inactive chain starts nothing, its ``done`` is false and its
      ``state`` is kept; the rest of its machine is scratch.

    Args:
        logdensity_fn: the log density of the position.
        integrator: a blackjax integrator builder (velocity Verlet).
        max_num_doublings: the tree depth cap (blackjax's
            ``max_num_doublings``).
        divergence_threshold: energy error that marks a divergence.
    """
    _, update_criterion, _ = termination.iterative_uturn_numpyro(None)

    def parts(inverse_mass_matrix: jax.Array):
        metric = metrics.default_metric(inverse_mass_matrix)
        step = integrator(logdensity_fn, metric.kinetic_energy)
        _, generate = proposal_generator(hmc_energy(metric.kinetic_energy))
        _, _, criterion_met = termination.iterative_uturn_numpyro(metric.check_turning)
        return metric, step, generate, criterion_met

    def init_one(state: hmc.HMCState, key: jax.Array) -> Machine:
        position = state.position
        flat = jax.flatten_util.ravel_pytree(position)[0]
        zeros = jnp.zeros((max_num_doublings, flat.shape[0]), flat.dtype)
        zero = jnp.zeros((), jnp.int32)
        dtype = jnp.result_type(state.logdensity)
        scalar = jnp.zeros((), dtype)
        momentum = jax.tree_util.tree_map(jnp.zeros_like, position)
        istate = integrators.IntegratorState(
            position, momentum, state.logdensity, state.logdensity_grad
        )
        proposal = Proposal(istate, scalar, scalar, scalar)
        trajectory = Trajectory(istate, istate, momentum, zero)
        key = _typed(key)
        return Machine(
            state=state,
            fresh=jnp.asarray(True),
            key=key,
            subtree_key=key,
            proposal_key=key,
            energy0=scalar,
            proposal=proposal,
            trajectory=trajectory,
            criterion=termination.IterativeUTurnState(zeros, zeros, zero, zero),
            depth=zero,
            direction=jnp.ones((), jnp.int32),
            sub_step=zero,
            sub_proposal=proposal,
            sub_trajectory=trajectory,
        )

    # a new transition: momentum, H0, the one-point tree (blackjax's kernel)
    def begin(m: Machine, key: jax.Array, inverse_mass_matrix) -> Machine:
        metric = metrics.default_metric(inverse_mass_matrix)
        dtype = m.energy0.dtype
        key_momentum, key_integrator = jax.random.split(_typed(key), 2)
        position = m.state.position
        momentum = metric.sample_momentum(key_momentum, position)
        istate = integrators.IntegratorState(
            position, momentum, m.state.logdensity, m.state.logdensity_grad
        )
        energy0 = (-istate.logdensity + metric.kinetic_energy(momentum)).astype(dtype)
        minus_inf = jnp.asarray(-jnp.inf, dtype)
        return m._replace(
            fresh=jnp.asarray(False),
            key=key_integrator,
            energy0=energy0,
            proposal=Proposal(istate, energy0, jnp.zeros((), dtype), minus_inf),
            trajectory=Trajectory(istate, istate, momentum, jnp.zeros((), jnp.int32)),
            criterion=jax.tree_util.tree_map(jnp.zeros_like, m.criterion),
            depth=jnp.zeros((), jnp.int32),
            sub_step=jnp.zeros((), jnp.int32),
        )

    # a new doubling: direction, the subtree starts at that end of the tree
    def begin_doubling(m: Machine, inverse_mass_matrix) -> Machine:
        _, _, generate, _ = parts(inverse_mass_matrix)
        expansion_key = jax.random.fold_in(m.key, m.depth)
        direction_key, subtree_key, proposal_key = jax.random.split(expansion_key, 3)
        direction = jnp.where(jax.random.bernoulli(direction_key), 1, -1)
        start = _where(
            direction > 0, m.trajectory.rightmost_state, m.trajectory.leftmost_state
        )
        return m._replace(
            subtree_key=subtree_key,
            proposal_key=proposal_key,
            direction=direction.astype(jnp.int32),
            sub_proposal=generate(m.energy0, start),
            sub_trajectory=Trajectory(
                start, start, start.momentum, jnp.zeros((), jnp.int32)
            ),
        )

    # one leapfrog step (blackjax's dynamic_progressive_integration body)
    def leapfrog(m: Machine, step_size, inverse_mass_matrix):
        _, step, generate, criterion_met = parts(inverse_mass_matrix)
        new_state = step(m.sub_trajectory.rightmost_state, m.direction * step_size)
        new_proposal = generate(m.energy0, new_state)
        diverging = -new_proposal.weight > divergence_threshold
        first = m.sub_step == 0
        sub_trajectory = _where(
            first,
            Trajectory(
                new_state, new_state, new_state.momentum, jnp.ones((), jnp.int32)
            ),
            append_to_trajectory(m.sub_trajectory, new_state),
        )
        sampled = progressive_uniform_sampling(
            jax.random.fold_in(m.subtree_key, m.sub_step), m.sub_proposal, new_proposal
        )
        sub_proposal = _where(first, new_proposal, sampled)
        criterion = update_criterion(
            m.criterion, sub_trajectory.momentum_sum, new_state.momentum, m.sub_step
        )
        turning = criterion_met(
            criterion, sub_trajectory.momentum_sum, new_state.momentum
        )
        sub_step = m.sub_step + 1
        length = jnp.left_shift(jnp.ones((), jnp.int32), m.depth)
        m = m._replace(
            criterion=criterion,
            sub_step=sub_step,
            sub_proposal=sub_proposal,
            sub_trajectory=sub_trajectory,
        )
        return m, (sub_step >= length) | turning | diverging, turning, diverging

    # the doubling ends: merge (blackjax's dynamic_multiplicative_expansion)
    def end_doubling(m: Machine, inverse_mass_matrix, turning, diverging) -> Machine:
        metric = metrics.default_metric(inverse_mass_matrix)
        oriented = _where(m.direction > 0, m.sub_trajectory, _reverse(m.sub_trajectory))
        stopped = turning | diverging
        kept = m.proposal._replace(
            sum_log_p_accept=jnp.logaddexp(
                m.proposal.sum_log_p_accept, m.sub_proposal.sum_log_p_accept
            )
        )
        biased = progressive_biased_sampling(m.proposal_key, m.proposal, m.sub_proposal)
        left = _where(m.direction > 0, m.trajectory, oriented)
        right = _where(m.direction > 0, oriented, m.trajectory)
        merged = merge_trajectories(left, right)
        merged_turning = metric.check_turning(
            merged.leftmost_state.momentum,
            merged.rightmost_state.momentum,
            merged.momentum_sum,
        )
        depth = m.depth + 1
        done = (depth >= max_num_doublings) | stopped | merged_turning
        return m._replace(
            proposal=_where(stopped, kept, biased),
            trajectory=merged,
            depth=depth,
            sub_step=jnp.zeros((), jnp.int32),
            fresh=done,
        )

    def init(states: hmc.HMCState, keys: jax.Array) -> Machine:
        return jax.vmap(init_one)(states, keys)

    def tick(
        machines: Machine,
        keys: Callable[[], jax.Array],
        step_sizes: jax.Array,
        inverse_mass_matrices: jax.Array,
        active: jax.Array,
    ):
        def start(machines: Machine) -> Machine:
            return jax.vmap(begin)(machines, keys(), inverse_mass_matrices)

        machines = _masked(machines.fresh & active, start, machines)
        machines = _masked(
            machines.sub_step == 0,
            jax.vmap(begin_doubling),
            machines,
            inverse_mass_matrices,
        )
        machines, subtree_done, turning, diverging = jax.vmap(leapfrog)(
            machines, step_sizes, inverse_mass_matrices
        )
        ended = _masked(
            subtree_done,
            jax.vmap(end_doubling),
            machines,
            inverse_mass_matrices,
            turning,
            diverging,
        )
        done = ended.fresh & subtree_done & active
        chosen = ended.proposal
        new_states = hmc.HMCState(
            chosen.state.position, chosen.state.logdensity, chosen.state.logdensity_grad
        )
        info = TransitionInfo(
            acceptance_rate=jnp.exp(chosen.sum_log_p_accept)
            / jnp.maximum(ended.trajectory.num_states, 1),
            is_divergent=diverging,
            energy=chosen.energy,
            num_integration_steps=ended.trajectory.num_states,
            num_trajectory_expansions=ended.depth,
        )
        ended = ended._replace(state=_where(done, new_states, ended.state))
        return ended, done, new_states, info

    return init, tick


def desynchronised_chunks(
    logdensity_fn: Callable,
    max_num_doublings: int,
    *,
    complete: Callable,
    adapted: Callable,
    restart: Callable | None = None,
    window_end: Callable | None = None,
) -> Callable:
    """The driver's chunk of vmapped NUTS transitions, chains not waiting.

    Args:
        logdensity_fn: the log density of the sampler's position.
        max_num_doublings: the tree depth cap.
        complete: ``(state, info, step_size) -> (state, stats)``, the
            kernel's post-transition map and stats (as after blackjax's step).
        adapted: ``(key, chain, state, stats, t) -> (chain, stats)``, warmup
            step ``t``'s adaptation, without the step-size restart.
        restart: ``(key, chain) -> (chain, grads)``, the step-size heuristic
            at the end of a slow window (``None``: none), run only for the
            chains whose window ends at that transition...
        window_end: ``t -> bool``: ...whether warmup step ``t`` ends one.

    Returns:
        ``run_chunk(phase, keys, chains, first, count, thinning, length,
        record) -> (chains, out)``. Transition ``first + i`` of a chain uses
        the key ``fold_in(key, first + i)``, as the driver's per-transition
        path does, so the draws are the same. ``"warmup"``: ``count``
        transitions; ``out`` is ``(grads, divergences)`` per chain.
        ``"sampling"``: ``count`` kept draws, one every ``thinning``
        transitions, in rows of ``length``-row buffers; ``out`` is
        ``(record(chain) per draw, stats per draw)`` (a draw's stats are its
        last transition's, with gradients summed and divergences or-ed over
        its ``thinning`` transitions).
    """
    init, tick = build_machine(logdensity_fn, max_num_doublings=max_num_doublings)

    def run_chunk(
        phase: str,
        keys: jax.Array,
        chains: Any,
        first: jax.Array,
        count: jax.Array,
        thinning: int,
        length: int,
        record: Callable | None,
    ):
        warmup = phase == "warmup"
        total = count if warmup else count * thinning
        num_chains = keys.shape[0]

        def key_of(key: jax.Array, n: jax.Array) -> jax.Array:
            return jax.random.fold_in(key, first + n)

        def parameters(chains: Any) -> tuple[jax.Array, jax.Array]:
            if warmup:
                return (
                    chains.adaptation.step_size,
                    chains.adaptation.inverse_mass_matrix,
                )
            return chains.step_size, chains.inverse_mass_matrix

        def finish_one(chain, new_state, info, step_size, key, n, acc):
            state, stats = complete(new_state, info, step_size)
            grads, divergences = acc
            if warmup:
                chain, stats = adapted(key_of(key, n), chain, state, stats, first + n)
                grads = grads + stats["num_grad_evals"]
                divergences = divergences + stats["diverging"].astype(divergences.dtype)
                return chain, (grads, divergences), None
            chain = chain._replace(state=state)
            grads = grads + stats["num_grad_evals"]
            divergent = divergences | stats["diverging"]
            last = (n + 1) % thinning == 0
            kept = {**stats, "num_grad_evals": grads, "diverging": divergent}
            acc = (
                jnp.where(last, jnp.zeros_like(grads), grads),
                divergent & ~last,
            )
            return chain, acc, ((record(chain), kept), last)

        def body(carry):
            machines, chains, n, acc, buffers = carry
            active = n < total
            step_size, matrix = parameters(chains)
            machines, done, new_states, info = tick(
                machines, lambda: jax.vmap(key_of)(keys, n), step_size, matrix, active
            )

            def finish(args):
                machines, chains, acc, row = args
                new_chains, new_acc, new_row = jax.vmap(finish_one)(
                    chains, new_states, info, step_size, keys, n, acc
                )
                chains = _where(done, new_chains, chains)
                acc = _where(done, new_acc, acc)
                if warmup and restart is not None:
                    chains, acc = _restart(chains, acc, done, n)
                if not warmup:
                    row = (new_row[0], done & new_row[1])
                machines = machines._replace(
                    state=_where(done, chains.state, machines.state)
                )
                return machines, chains, acc, row

            row = None if warmup else (pending, jnp.zeros(num_chains, bool))
            machines, chains, acc, row = jax.lax.cond(
                jnp.any(done), finish, lambda a: a, (machines, chains, acc, row)
            )
            if not warmup:  # a small masked scatter, in place in the loop
                values, write = row
                index = jnp.minimum(n // thinning, length - 1)
                buffers = jax.tree_util.tree_map(
                    lambda b, v: b.at[rows, index].set(
                        _where(write, v, b[rows, index])
                    ),
                    buffers,
                    values,
                )
            return machines, chains, n + done, acc, buffers

        def _restart(chains, acc, done, n):
            ends = done & jax.vmap(window_end)(first + n)

            def run(carry):
                chains, grads = carry
                new, extra = jax.vmap(lambda k, c, m: restart(key_of(k, m), c))(
                    keys, chains, n
                )
                return _where(ends, new, chains), grads + jnp.where(ends, extra, 0)

            chains, grads = jax.lax.cond(
                jnp.any(ends), run, lambda c: c, (chains, acc[0])
            )
            return chains, (grads, acc[1])

        rows = jnp.arange(num_chains)
        chain0 = jax.tree_util.tree_map(lambda x: x[0], chains)
        stats0 = jax.eval_shape(
            lambda c: complete(c.state, _info_like(c.state), 1.0)[1], chain0
        )
        grads0 = jnp.zeros(num_chains, stats0["num_grad_evals"].dtype)
        buffers = pending = None
        if warmup:
            acc = (grads0, jnp.zeros_like(grads0))
        else:
            acc = (grads0, jnp.zeros(num_chains, bool))
            shapes = (jax.eval_shape(record, chain0), stats0)
            buffers = jax.tree_util.tree_map(
                lambda s: jnp.zeros((num_chains, length, *s.shape), s.dtype), shapes
            )
            pending = jax.tree_util.tree_map(
                lambda s: jnp.zeros((num_chains, *s.shape), s.dtype), shapes
            )
        machines = init(chains.state, keys)
        n = jnp.zeros(num_chains, jnp.int32)
        _, chains, _, acc, buffers = jax.lax.while_loop(
            lambda carry: jnp.any(carry[2] < total),
            body,
            (machines, chains, n, acc, buffers),
        )
        return chains, (acc if warmup else buffers)

    return run_chunk
