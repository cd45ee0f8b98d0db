"""Quotient modes: turn ``(logdensity, symmetry)`` into what a kernel needs.

Four ways to sample on the quotient of a parameter space by the finite
(permutation x sign) part of its symmetry group, which is an exact posterior
symmetry (positive rescaling is not, see :mod:`symbayes.symmetry`):

* ``none``: sample the full space, canonicalise the draws afterwards. Always
  exact: each draw is marginally from the posterior, so its canonical image
  is from the quotient posterior.
* ``reparam``: a smooth bijection from R^n onto the interior of the sort
  domain (ordered and positive transforms of the keys), log-Jacobian added.
  Always exact, any kernel, any mass matrix.
* ``reflect``: HMC/NUTS inside the sort domain; the position update reflects
  the momentum at each wall it hits, in the metric of the mass matrix. Always
  exact: the reflective leapfrog is volume preserving and reversible.
* ``fold``: canonicalise the state after every transition. Exact only when
  the kernel is G-equivariant: the mass matrix must be tied across the units
  of every axis (:func:`tie_inverse_mass_matrix`).

The *sort domain* of an axis is ``{sign keys >= 0, sort keys ascending}``: a
polyhedral cone given by walls ``x[plus] - x[minus] >= 0`` on the flattened
position (``minus`` absent for sign walls). A draw of the posterior restricted
to it, times the group order, is the quotient posterior; its image under the
sort canonical map is the same distribution as the canonical image of a draw
of the full posterior.

The chains carry a :class:`TrackedPosition`: the sampler's coordinates plus a
counter of wall reflections, which no momentum moves (its momentum is always
zero under :func:`tracked_metric`), so blackjax kernels report reflections
through their ordinary states.

References:
    Neal (2011), "MCMC using Hamiltonian dynamics", section 5.5.1.5
    (constraints by reflection). Afshar & Domke (2015), "Reflection,
    refraction, and Hamiltonian Monte Carlo", NeurIPS. Pakman & Paninski
    (2014), "Exact HMC for truncated multivariate Gaussians", JCGS.
    Stan Reference Manual, "Ordered vector" and "positive ordered" transforms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.mcmc import integrators, metrics
from jax.flatten_util import ravel_pytree

from symbayes.symmetry import HiddenAxis, Symmetry, _key_to_str, leaf_paths

__all__ = [
    "QUOTIENT_MODES",
    "OrderedTransform",
    "TrackedPosition",
    "Walls",
    "in_domain",
    "reflective_drift",
    "reflective_integrator",
    "sort_domain_walls",
    "tie_inverse_mass_matrix",
    "tracked_metric",
]

QuotientMode = Literal["none", "reparam", "reflect", "fold"]
QUOTIENT_MODES = ("none", "reparam", "reflect", "fold")


class TrackedPosition(NamedTuple):
    """A chain position: the sampler's coordinates and a reflection counter.

    ``reflections`` counts the wall reflections of the integrator since the
    counter was last reset (at the start of every transition). It is a float
    so it shares the pytree machinery of the coordinates; its momentum is
    always zero and the log density ignores it, so it never moves the chain.
    """

    coordinates: Any
    reflections: jax.Array


def _coordinates_part(momentum: Any) -> Any:
    """The coordinates' momentum, from a TrackedPosition or its ravelled vector.

    blackjax's iterative U-turn check ravels momenta before the metric sees
    them; the counter is the last entry of the ravelled vector.
    """
    if isinstance(momentum, TrackedPosition):
        return momentum.coordinates
    return momentum[:-1]


def tracked_metric(inverse_mass_matrix: jax.Array) -> metrics.Metric:
    """A blackjax Gaussian Euclidean metric acting on the coordinates only.

    Momentum of the reflection counter is sampled as zero and ignored by the
    kinetic energy, the U-turn criterion and the scaling.
    """
    base = metrics.gaussian_euclidean(inverse_mass_matrix)

    def sample_momentum(key: jax.Array, position: TrackedPosition) -> TrackedPosition:
        momentum = base.sample_momentum(key, position.coordinates)
        return TrackedPosition(momentum, jnp.zeros_like(position.reflections))

    def kinetic_energy(
        momentum: TrackedPosition, position: TrackedPosition | None = None
    ) -> jax.Array:
        del position
        return base.kinetic_energy(momentum.coordinates)

    def check_turning(
        momentum_left: TrackedPosition,
        momentum_right: TrackedPosition,
        momentum_sum: TrackedPosition,
        position_left: TrackedPosition | None = None,
        position_right: TrackedPosition | None = None,
    ) -> jax.Array:
        del position_left, position_right
        return base.check_turning(
            _coordinates_part(momentum_left),
            _coordinates_part(momentum_right),
            _coordinates_part(momentum_sum),
        )

    def scale(
        position: TrackedPosition, element: TrackedPosition, *, inv: bool, trans: bool
    ) -> TrackedPosition:
        scaled = base.scale(
            position.coordinates, element.coordinates, inv=inv, trans=trans
        )
        return TrackedPosition(scaled, element.reflections)

    return metrics.Metric(sample_momentum, kinetic_energy, check_turning, scale)


# ------------------------------------------------------------------- domains
class Walls(NamedTuple):
    """Linear walls ``x[plus] - x[minus] >= 0`` (``minus = -1``: ``x[plus] >= 0``).

    Indices refer to the flattened position (``jax.flatten_util.ravel_pytree``
    order).
    """

    plus: np.ndarray
    minus: np.ndarray

    @property
    def num_walls(self) -> int:
        return int(self.plus.shape[0])


def _flat_indices(template: Any) -> Any:
    """A pytree like ``template`` whose entries are their flat (ravel) indices."""
    flat, unravel = ravel_pytree(template)
    return jax.tree_util.tree_map(
        lambda x: np.asarray(x).astype(np.int64),
        unravel(jnp.arange(flat.shape[0], dtype=jnp.float32)),
    )


def _key_indices(
    symmetry: Symmetry, axis: HiddenAxis, kind: str, template: Any, indices: Any
) -> np.ndarray:
    key = symmetry.resolve_key(axis, kind, template)
    return np.asarray(symmetry.unit_values(indices, key, axis)).astype(np.int64)


def sort_domain_walls(template: Any, symmetry: Symmetry) -> Walls:
    """The walls of the sort domain of the finite part of ``symmetry``.

    Per axis: sign walls ``key_j >= 0`` and order walls ``sort_{j+1} - sort_j
    >= 0``. When the sign key is the sort key (the bias, by default) only the
    smallest unit needs a sign wall; the others follow from the ordering.

    Args:
        template: one params pytree (shapes and structure).
        symmetry: the symmetry; scaling groups are ignored.

    Returns:
        :class:`Walls` in the flat coordinates of ``template``.
    """
    symmetry = symmetry.without_scale()
    symmetry.validate(template)
    indices = _flat_indices(template)
    plus, minus = [], []
    for axis in symmetry.axes:
        sort_idx = sign_idx = None
        if axis.has_permutation:
            sort_idx = _key_indices(symmetry, axis, "sort", template, indices)
            plus += list(sort_idx[1:])
            minus += list(sort_idx[:-1])
        if axis.has_sign:
            sign_idx = _key_indices(symmetry, axis, "sign", template, indices)
            same = sort_idx is not None and np.array_equal(sign_idx, sort_idx)
            chosen = sign_idx[:1] if same else sign_idx
            plus += list(chosen)
            minus += [-1] * len(chosen)
    return Walls(np.asarray(plus, np.int64), np.asarray(minus, np.int64))


def _wall_values(x: jax.Array, walls: Walls) -> jax.Array:
    """``x[plus] - x[minus]`` for every wall (``x[plus]`` for sign walls)."""
    has_minus = jnp.asarray(walls.minus >= 0)
    minus = jnp.where(has_minus, x[jnp.asarray(np.maximum(walls.minus, 0))], 0.0)
    return x[jnp.asarray(walls.plus)] - minus


def in_domain(x: jax.Array, walls: Walls, tolerance: float = 0.0) -> jax.Array:
    """Whether flat ``x`` satisfies every wall up to ``tolerance (1 + |x|)``."""
    if walls.num_walls == 0:
        return jnp.asarray(True)
    values = _wall_values(x, walls)
    slack = tolerance * (1.0 + jnp.abs(x[jnp.asarray(walls.plus)]))
    return jnp.all(values >= -slack)


def reflective_drift(
    x: jax.Array,
    momentum: jax.Array,
    time: jax.Array,
    walls: Walls,
    inverse_mass_apply: Callable[[jax.Array], jax.Array],
    max_reflections: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Move ``x`` along ``v = M^-1 p`` for ``time``, reflecting at the walls.

    The straight path ``x + t v`` meets wall ``w`` (value ``f_w = n_w . x``) at
    ``t_w = f_w / (-n_w . v)`` when ``n_w . v < 0``. At the first wall hit the
    momentum is reflected in the metric of the mass matrix,

    .. math:: p \\leftarrow p - 2 \\frac{n \\cdot v}{n^T M^{-1} n} n,

    which reverses the velocity's component normal to the wall (``n . v``
    changes sign) and keeps the kinetic energy ``p^T M^-1 p / 2``. The map
    ``(x, p) -> (x', p')`` is volume preserving and reversible (Afshar &
    Domke 2015), so the reflective leapfrog keeps HMC and NUTS exact. After
    ``max_reflections`` reflections the rest of the path is taken straight;
    the log density is ``-inf`` outside the domain, so such a step shows up
    as a divergence and is rejected.

    Args:
        x: flat position inside the domain.
        momentum: flat momentum.
        time: the drift time (the step size; negative integrates backwards).
        walls: the domain's walls.
        inverse_mass_apply: ``p -> M^-1 p`` on flat vectors.
        max_reflections: cap on reflections for this drift.

    Returns:
        ``(x_new, p_new, num_reflections)``.
    """
    if walls.num_walls == 0:
        moved = x + time * inverse_mass_apply(momentum)
        return moved, momentum, jnp.zeros((), x.dtype)
    plus = jnp.asarray(walls.plus)
    minus = jnp.asarray(np.maximum(walls.minus, 0))
    has_minus = jnp.asarray(walls.minus >= 0)
    size = x.shape[0]
    normals = jax.nn.one_hot(plus, size, dtype=x.dtype) - jnp.where(
        has_minus[:, None], jax.nn.one_hot(minus, size, dtype=x.dtype), 0.0
    )

    def along_normal(vector: jax.Array) -> jax.Array:
        return vector[plus] - jnp.where(has_minus, vector[minus], 0.0)

    def keep_going(carry):
        _, _, remaining, count = carry
        return (remaining > 0) & (count < max_reflections)

    def step(carry):
        position, p, remaining, count = carry
        velocity = inverse_mass_apply(p)
        rate = along_normal(velocity)
        value = jnp.maximum(along_normal(position), 0.0)
        approaching = rate < 0
        hit_time = jnp.where(
            approaching, value / jnp.where(approaching, -rate, 1.0), jnp.inf
        )
        wall = jnp.argmin(hit_time)
        first_hit = hit_time[wall]
        hits = first_hit < remaining
        travel = jnp.where(hits, first_hit, remaining)
        position = position + travel * velocity
        normal = normals[wall]
        curvature = jnp.dot(normal, inverse_mass_apply(normal))
        reflected = p - 2.0 * rate[wall] / curvature * normal
        p = jnp.where(hits, reflected, p)
        return position, p, remaining - travel, count + hits.astype(count.dtype)

    # A negative time (NUTS integrates backwards) is a forward drift with the
    # momentum flipped, flipped back afterwards.
    time = jnp.asarray(time, x.dtype)
    direction = jnp.where(time < 0, -1.0, 1.0).astype(x.dtype)
    start = (x, direction * momentum, jnp.abs(time), jnp.zeros((), x.dtype))
    position, p, remaining, count = jax.lax.while_loop(keep_going, step, start)
    # past the cap: finish the path straight (it may leave the domain)
    position = position + remaining * inverse_mass_apply(p)
    return position, direction * p, count


def reflective_integrator(walls: Walls, max_reflections: int = 100) -> Callable:
    """A blackjax integrator factory: velocity Verlet with a reflective drift.

    Use it as ``blackjax.hmc.build_kernel(integrator=...)`` /
    ``blackjax.nuts.build_kernel(integrator=...)`` with positions of type
    :class:`TrackedPosition` and the metric of :func:`tracked_metric`. Every
    reflection increments ``position.reflections``.

    Args:
        walls: the domain (flat coordinates of ``position.coordinates``).
        max_reflections: cap on reflections per drift.

    Returns:
        ``integrator(logdensity_fn, kinetic_energy_fn) -> one_step``.
    """

    def build(logdensity_fn: Callable, kinetic_energy_fn: Callable) -> Callable:
        value_and_grad = jax.value_and_grad(logdensity_fn)

        def one_step(
            state: integrators.IntegratorState, step_size: float
        ) -> integrators.IntegratorState:
            position, momentum, _, gradient = state
            half = jax.tree_util.tree_map(
                lambda p, g: p + 0.5 * step_size * g, momentum, gradient
            )
            flat_x, unravel = ravel_pytree(position.coordinates)
            flat_p, _ = ravel_pytree(half.coordinates)
            zero = jnp.zeros_like(position.reflections)

            def inverse_mass_apply(vector: jax.Array) -> jax.Array:
                tracked = TrackedPosition(unravel(vector), zero)
                velocity = jax.grad(kinetic_energy_fn)(tracked)
                return ravel_pytree(velocity.coordinates)[0]

            new_x, new_p, count = reflective_drift(
                flat_x, flat_p, step_size, walls, inverse_mass_apply, max_reflections
            )
            new_position = TrackedPosition(unravel(new_x), position.reflections + count)
            logdensity, new_gradient = value_and_grad(new_position)
            half = TrackedPosition(unravel(new_p), half.reflections)
            new_momentum = jax.tree_util.tree_map(
                lambda p, g: p + 0.5 * step_size * g, half, new_gradient
            )
            return integrators.IntegratorState(
                new_position, new_momentum, logdensity, new_gradient
            )

        return one_step

    return build


# ------------------------------------------------------------------- reparam
def _softplus_inverse(y: jax.Array) -> jax.Array:
    """``log(exp(y) - 1)`` for ``y > 0``, stable for small and large ``y``."""
    return y + jnp.log(-jnp.expm1(-y))


@dataclass(frozen=True)
class OrderedTransform:
    """Bijection from unconstrained coordinates onto the sort domain's interior.

    The position has the structure of the params; only the key coordinates
    differ. Per axis, with gaps ``d(y) = softplus(y)`` (or ``exp(y)``):

    * sign key = sort key (default, the bias): positive ordered,
      ``k_1 = d(y_1)``, ``k_j = k_{j-1} + d(y_j)``;
    * sort keys alone: ordered, ``k_1 = y_1``, ``k_j = k_{j-1} + d(y_j)``;
    * sign keys alone (or besides different sort keys): ``k_j = d(y_j)``.

    The Jacobian is triangular, so ``log|J| = sum_j log d'(y_j)`` over the
    transformed gaps (``log sigmoid(y)`` for softplus, ``y`` for exp).

    Attributes:
        groups: tuples ``(kind, indices)`` with kind ``"positive_ordered"``,
            ``"ordered"`` or ``"positive"`` and flat indices.
        gap: ``"softplus"`` or ``"exp"``.
    """

    groups: tuple[tuple[str, tuple[int, ...]], ...]
    gap: Literal["softplus", "exp"] = "softplus"

    @classmethod
    def build(
        cls, template: Any, symmetry: Symmetry, gap: Literal["softplus", "exp"]
    ) -> OrderedTransform:
        """The transform for the finite part of ``symmetry`` on ``template``."""
        if gap not in ("softplus", "exp"):
            raise ValueError(f"gap must be 'softplus' or 'exp', got {gap!r}")
        symmetry = symmetry.without_scale()
        symmetry.validate(template)
        indices = _flat_indices(template)
        groups = []
        for axis in symmetry.axes:
            sort_idx = sign_idx = None
            if axis.has_permutation:
                sort_idx = _key_indices(symmetry, axis, "sort", template, indices)
            if axis.has_sign:
                sign_idx = _key_indices(symmetry, axis, "sign", template, indices)
            if sort_idx is not None and sign_idx is not None:
                if np.array_equal(sort_idx, sign_idx):
                    groups.append(("positive_ordered", tuple(sort_idx.tolist())))
                    continue
                if set(sort_idx.tolist()) & set(sign_idx.tolist()):
                    raise ValueError(
                        f"axis {axis.name!r}: sort and sign keys overlap partially; "
                        "use the same key for both or disjoint keys"
                    )
            if sort_idx is not None:
                groups.append(("ordered", tuple(sort_idx.tolist())))
            if sign_idx is not None:
                groups.append(("positive", tuple(sign_idx.tolist())))
        return cls(tuple(groups), gap)

    def _gap(self, y: jax.Array) -> jax.Array:
        return jax.nn.softplus(y) if self.gap == "softplus" else jnp.exp(y)

    def _gap_inverse(self, d: jax.Array) -> jax.Array:
        tiny = jnp.finfo(d.dtype).tiny
        d = jnp.maximum(d, tiny)
        return _softplus_inverse(d) if self.gap == "softplus" else jnp.log(d)

    def _log_gap_derivative(self, y: jax.Array) -> jax.Array:
        return jax.nn.log_sigmoid(y) if self.gap == "softplus" else y

    def forward_flat(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Flat unconstrained ``y`` to flat params ``x`` and ``log|dx/dy|``."""
        x = y
        log_jacobian = jnp.zeros((), y.dtype)
        for kind, index in self.groups:
            idx = jnp.asarray(index)
            values = y[idx]
            if kind == "positive":
                x = x.at[idx].set(self._gap(values))
                log_jacobian += jnp.sum(self._log_gap_derivative(values))
            elif kind == "positive_ordered":
                x = x.at[idx].set(jnp.cumsum(self._gap(values)))
                log_jacobian += jnp.sum(self._log_gap_derivative(values))
            else:
                increments = jnp.concatenate([values[:1], self._gap(values[1:])])
                x = x.at[idx].set(jnp.cumsum(increments))
                log_jacobian += jnp.sum(self._log_gap_derivative(values[1:]))
        return x, log_jacobian

    def inverse_flat(self, x: jax.Array) -> jax.Array:
        """Flat params inside the domain to flat unconstrained coordinates."""
        y = x
        for kind, index in self.groups:
            idx = jnp.asarray(index)
            values = x[idx]
            if kind == "positive":
                y = y.at[idx].set(self._gap_inverse(values))
            elif kind == "positive_ordered":
                gaps = jnp.diff(values, prepend=jnp.zeros((1,), values.dtype))
                y = y.at[idx].set(self._gap_inverse(gaps))
            else:
                gaps = self._gap_inverse(jnp.diff(values))
                y = y.at[idx].set(jnp.concatenate([values[:1], gaps]))
        return y

    def forward(self, position: Any) -> tuple[Any, jax.Array]:
        """Unconstrained position pytree to params pytree and log-Jacobian."""
        flat, unravel = ravel_pytree(position)
        x, log_jacobian = self.forward_flat(flat)
        return unravel(x), log_jacobian

    def inverse(self, params: Any) -> Any:
        """Params pytree (inside the sort domain) to the unconstrained position."""
        flat, unravel = ravel_pytree(params)
        return unravel(self.inverse_flat(flat))


# ---------------------------------------------------------------------- fold
def tie_inverse_mass_matrix(
    inverse_mass_matrix: jax.Array, template: Any, symmetry: Symmetry
) -> jax.Array:
    """Average a diagonal inverse mass matrix over the units of every axis.

    A diagonal metric is invariant under sign flips; it is invariant under
    the permutations of an axis iff the entries of units that a permutation
    exchanges are equal. Replacing each entry by its mean over the unit axes
    of its leaf (the group average, a projection) makes the HMC/NUTS kernel
    G-equivariant, which is what makes ``fold`` exact.

    Args:
        inverse_mass_matrix: flat diagonal ``(n,)`` in ravel order of ``template``.
        template: one params pytree.
        symmetry: the symmetry (its permutation axes are tied).

    Returns:
        The tied diagonal, same shape.

    Raises:
        ValueError: for a dense matrix (tying it is not supported; use a
            diagonal one with ``fold``).
    """
    if jnp.ndim(inverse_mass_matrix) != 1:
        raise ValueError(
            "fold needs a diagonal mass matrix tied across units; a dense mass "
            "matrix is not tied by symbayes (use dense_mass=False, or reflect / "
            "reparam, which are exact with any metric)"
        )
    _, unravel = ravel_pytree(template)
    unit_dims = _permuted_dims(template, symmetry)

    def tie(key_path: Any, leaf: jax.Array) -> jax.Array:
        dims = unit_dims.get(tuple(_key_to_str(k) for k in key_path), ())
        if not dims:
            return leaf
        return jnp.broadcast_to(jnp.mean(leaf, axis=dims, keepdims=True), leaf.shape)

    tied = jax.tree_util.tree_map_with_path(tie, unravel(inverse_mass_matrix))
    return ravel_pytree(tied)[0]


def _permuted_dims(template: Any, symmetry: Symmetry) -> dict:
    """For every leaf, the array dims that some permutation axis acts on."""
    shapes = {path: np.ndim(leaf) for path, leaf in leaf_paths(template).items()}
    dims: dict = {}
    for axis in symmetry.axes:
        if not axis.has_permutation:
            continue
        for entry in axis.entries:
            ndim = shapes[entry.path]
            dims.setdefault(entry.path, ())
            dims[entry.path] = tuple(sorted({*dims[entry.path], entry.axis % ndim}))
    return dims


def is_tied(
    inverse_mass_matrix: jax.Array,
    template: Any,
    symmetry: Symmetry,
    rtol: float = 1e-6,
) -> bool:
    """Whether a diagonal inverse mass matrix is already tied across units."""
    if np.ndim(inverse_mass_matrix) != 1:
        return False
    tied = tie_inverse_mass_matrix(inverse_mass_matrix, template, symmetry)
    return bool(np.allclose(tied, inverse_mass_matrix, rtol=rtol, atol=0.0))
