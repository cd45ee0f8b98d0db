"""Quotient modes: the pieces that turn a log density and a symmetry into a sampler.

Four ways to sample on the quotient of a parameter space by the finite
(permutation x sign) part of its symmetry group, which is an exact posterior
symmetry (positive rescaling is not, see :mod:`symbayes.symmetry`):

===========  ========================================  ==========================  =====
mode         what it does                              exact for                   cuts?
===========  ========================================  ==========================  =====
``none``     samples the full space; draws are         the quotient posterior,     never
             canonicalised afterwards                  always
``fold``     canonicalises the state after every       the quotient posterior,     never
             transition (position, gradient and        with a metric tied across
             persistent momentum)                      units (symbayes ties it)
``glue``     HMC/NUTS inside the sort domain; a        the quotient posterior,     never
             drift that meets a wall applies the       with a tied metric: it is
             group element identifying its two         the full-space flow folded
             sides (:mod:`~symbayes.quotient.glue`)    into the domain
``reparam``  an ordered, positive bijection onto the   the posterior *restricted*  where
             sort domain, log-Jacobian added           to the domain               keys
                                                                                   overlap
===========  ========================================  ==========================  =====

``reparam`` is refused unless a pilot run of ``none`` shows keys whose walls
no chain crosses (:mod:`~symbayes.quotient.reparam`). A mirror reflection at
the walls (an earlier ``reflect`` mode) also restricts the posterior and cut
it in practice; it is gone, and ``quotient="reflect"`` says so.

A mode is a :class:`Quotient`: a small bundle of composable pieces that any
kernel of :mod:`symbayes.kernels` takes: a coordinate map with its
log-Jacobian (``reparam``), an integrator (``glue``), a post-transition map
that also acts on gradients and persistent momenta (``fold``) and a metric
projection (ties, ``fold`` and ``glue``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from symbayes.canonical import sort_canonicalize
from symbayes.quotient.glue import (
    GluedMomentum,
    GluedPosition,
    glued_drift,
    glued_integrator,
    glued_metric,
)
from symbayes.quotient.reparam import (
    KeyChoice,
    OrderedTransform,
    choose_keys,
    key_crossings,
)
from symbayes.quotient.ties import is_tied, tie_inverse_mass_matrix, tying_core
from symbayes.quotient.walls import (
    Walls,
    check_gluable,
    in_domain,
    sort_domain_walls,
    wall_values,
)
from symbayes.symmetry import GroupElement, Symmetry

__all__ = [
    "QUOTIENT_MODES",
    "GluedMomentum",
    "GluedPosition",
    "KeyChoice",
    "OrderedTransform",
    "Quotient",
    "Walls",
    "build_quotient",
    "choose_keys",
    "glued_drift",
    "glued_integrator",
    "glued_metric",
    "in_domain",
    "is_tied",
    "key_crossings",
    "sort_domain_walls",
    "tie_inverse_mass_matrix",
    "tying_core",
    "wall_values",
]

QuotientMode = Literal["none", "reparam", "glue", "fold"]
QUOTIENT_MODES = ("none", "reparam", "glue", "fold")
REMOVED_MODES = {
    "reflect": (
        "quotient='reflect' (mirror reflection at the walls of the sort domain) "
        "restricted the posterior to the domain and trapped chains where units' "
        "keys overlap; it was replaced by quotient='glue' (glued walls: exact, "
        "never cuts) and quotient='fold'"
    )
}


class Quotient(NamedTuple):
    """The pieces of one quotient mode, built for one params template.

    Attributes:
        mode: the mode's name.
        symmetry: the finite part of the symmetry (for ``reparam``, with the
            keys it orders by).
        transform: the ordered bijection (``reparam``), else ``None``.
        walls: the sort domain and its glue elements (``glue``), else ``None``.
        folds: whether the state is canonicalised after every transition.
        tied: whether the kernel's metric must be tied across units.
        key_choices: for ``reparam``, the keys chosen per axis and their
            crossing scores (empty otherwise).
    """

    mode: str
    symmetry: Symmetry
    transform: OrderedTransform | None = None
    walls: Walls | None = None
    folds: bool = False
    tied: bool = False
    key_choices: tuple[KeyChoice, ...] = ()

    def to_params(self, coordinates: Any) -> Any:
        """The params at sampler coordinates."""
        if self.transform is None:
            return coordinates
        return self.transform.forward(coordinates)[0]

    def from_params(self, params: Any) -> Any:
        """Initial sampler coordinates: canonical (in the domain) unless ``none``."""
        if self.mode == "none":
            return params
        canonical, _ = sort_canonicalize(params, self.symmetry)
        if self.transform is not None:
            return self.transform.inverse(canonical)
        return canonical

    def logdensity(self, logdensity_fn: Callable[[Any], jax.Array]) -> Callable:
        """The log density in sampler coordinates (log-Jacobian added); NaN: -inf."""
        transform = self.transform

        def in_coordinates(coordinates: Any) -> jax.Array:
            if transform is not None:
                params, log_jacobian = transform.forward(coordinates)
                value = logdensity_fn(params) + log_jacobian
            else:
                value = logdensity_fn(coordinates)
            return jnp.where(jnp.isfinite(value), value, -jnp.inf)

        return in_coordinates

    def minibatch_logdensity(self, minibatch_fn: Callable) -> Callable:
        """A minibatch log density ``(coordinates, batch)`` in sampler coordinates."""
        transform = self.transform

        def in_coordinates(coordinates: Any, batch: Any) -> jax.Array:
            if transform is not None:
                params, log_jacobian = transform.forward(coordinates)
                return minibatch_fn(params, batch) + log_jacobian
            return minibatch_fn(coordinates, batch)

        return in_coordinates

    def fold(self, coordinates: Any) -> tuple[Any, GroupElement]:
        """Canonicalise (sort) coordinates; return the element applied."""
        return sort_canonicalize(coordinates, self.symmetry)

    def act(self, element: GroupElement, tree: Any) -> Any:
        """Apply a group element to a pytree shaped like the params (a gradient)."""
        return self.symmetry.act(element, tree)

    def project(self, template: Any) -> Callable[[jax.Array], jax.Array] | None:
        """The metric projection (ties) for this mode, or ``None``."""
        if not self.tied:
            return None
        symmetry = self.symmetry

        def project(matrix: jax.Array) -> jax.Array:
            return tie_inverse_mass_matrix(matrix, template, symmetry)

        return project


def check_mode(mode: str) -> None:
    """Raise a clear error for an unknown or removed quotient mode."""
    if mode in REMOVED_MODES:
        raise ValueError(REMOVED_MODES[mode])
    if mode not in QUOTIENT_MODES:
        raise ValueError(
            f"unknown quotient mode {mode!r}; choose one of {QUOTIENT_MODES}"
        )


def build_quotient(
    mode: str,
    template: Any,
    symmetry: Symmetry,
    *,
    reparam_gap: Literal["softplus", "exp"] = "softplus",
    reparam_symmetry: Symmetry | None = None,
    key_choices: tuple[KeyChoice, ...] = (),
) -> Quotient:
    """The :class:`Quotient` of ``mode`` for params shaped like ``template``.

    Args:
        mode: one of :data:`QUOTIENT_MODES`.
        template: one params pytree.
        symmetry: the model's symmetry (its finite part is used).
        reparam_gap: gaps of the ordered transform, ``"softplus"`` or ``"exp"``.
        reparam_symmetry: the symmetry with the keys ``reparam`` orders by
            (from :func:`choose_keys`); default the declared keys.
        key_choices: the :class:`KeyChoice` records behind ``reparam_symmetry``.

    Raises:
        ValueError: an unknown or removed mode.
        SymmetryError: keys that ``glue`` cannot use.
    """
    check_mode(mode)
    finite = symmetry.without_scale()
    if mode == "none":
        return Quotient("none", finite)
    if mode == "fold":
        return Quotient("fold", finite, folds=True, tied=True)
    if mode == "glue":
        check_gluable(template, finite)
        return Quotient(
            "glue", finite, walls=sort_domain_walls(template, finite), tied=True
        )
    ordered = (reparam_symmetry or finite).without_scale()
    transform = OrderedTransform.build(template, ordered, reparam_gap)
    return Quotient("reparam", ordered, transform=transform, key_choices=key_choices)
