"""NUTS (Hoffman & Gelman 2014): blackjax's iterative multinomial NUTS.

Everything but the trajectory is :class:`~symbayes.kernels.hmc.HMC`'s: the
quotient pieces (with ``glue``, the U-turn criterion is computed on unfolded
momenta, so glued NUTS is the folded image of full-space NUTS), the
windowed adaptation per chain or pooled by mode.

References:
    Hoffman & Gelman (2014), "The No-U-Turn sampler", JMLR 15. Betancourt
    (2017), "A conceptual introduction to Hamiltonian Monte Carlo"
    (multinomial sampling, generalised U-turn criterion). Phan, Pradhan &
    Jankowiak (2019), "Composable effects for flexible and accelerated
    probabilistic programming in NumPyro" (iterative NUTS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import blackjax
import jax

from symbayes.kernels.base import positive_int
from symbayes.kernels.hmc import HMC

__all__ = ["NUTS"]


@dataclass(frozen=True)
class NUTS(HMC):
    """The No-U-Turn sampler.

    Args:
        step_size: a fixed step size (default: adapted).
        inverse_mass_matrix: a fixed inverse mass matrix (default: adapted).
        dense_mass: adapt a dense mass matrix (not with ``fold``/``glue``).
        target_acceptance_rate: dual-averaging target.
        adaptation: ``"per_chain"``, ``"pooled"`` or ``"raw_pooled"`` (see
            :class:`~symbayes.kernels.hmc.HMC`).
        num_integration_steps: unused by NUTS (kept for a uniform signature).
        max_glues: cap on glues per drift (``glue``).
        max_num_doublings: tree depth cap (``2^depth - 1`` leapfrog steps).
        desynchronise: with vmapped chains, advance every chain one leapfrog
            step at a time so that none waits for the deepest tree
            (:mod:`symbayes.kernels.nuts_machine`; the same draws). ``None``
            (default): on CPU. Not with ``glue``.
    """

    name: ClassVar[str] = "nuts"

    max_num_doublings: int = 10
    desynchronise: bool | None = None

    def _check_trajectory(self) -> None:
        positive_int("max_num_doublings", self.max_num_doublings)
        if not (self.desynchronise is None or isinstance(self.desynchronise, bool)):
            raise ValueError(
                f"desynchronise must be None, True or False, got {self.desynchronise!r}"
            )

    def _desynchronised(self, glued: bool) -> bool:
        if glued:  # the glued integrator and metric stay on blackjax's kernel
            return False
        if self.desynchronise is None:
            return jax.default_backend() == "cpu"
        return self.desynchronise

    def _blackjax_kernel(self, integrator: Any) -> Any:
        return blackjax.nuts.build_kernel(integrator=integrator)

    def _extra(self) -> tuple:
        return (self.max_num_doublings,)

    def _trajectory_stats(self, info: Any, glued: bool) -> dict:
        glues = 0
        if glued:
            glues = (
                info.trajectory_leftmost_state.position.glues
                + info.trajectory_rightmost_state.position.glues
            )
        return {"tree_depth": info.num_trajectory_expansions, "glues": glues}
