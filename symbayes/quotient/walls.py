"""The sort domain: its walls, and the group element that glues each wall.

The *sort domain* of the finite (permutation x sign) part of a symmetry is
the image of the sort canonical map
(:func:`symbayes.canonical.sort_canonicalize`): per axis, every sign key
``>= 0`` and the sort keys ascending. It is a polyhedral cone cut out by
linear walls ``x[plus] - x[minus] >= 0`` on the flattened position
(``jax.flatten_util.ravel_pytree`` order; ``minus`` absent for sign walls).

Each wall is a fixed set of a group element ``g_w``: the transposition of
the two unit *slots* ``j, j + 1`` for the order wall between them, the flip
of slot ``j`` for its sign wall. A point on the wall is identified with its
image under ``g_w``, which is in general a *different* point of the same wall
(the other coordinates of the two units are swapped, or the unit's other
coordinates change sign). This is why the walls are not mirror planes, why
restricting a posterior to the domain can cut it, and what the glued
integrator of :mod:`symbayes.quotient.glue` uses instead.

Group elements here are *flat signed permutations*: ``(g x)_i = s_i
x_{pi_i}`` on the flattened position, stored as one float code per entry,
``s_i (pi_i + 1)``, exact in float32 up to 2^24 coordinates.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from symbayes.symmetry import GroupElement, HiddenAxis, Symmetry, SymmetryError

__all__ = [
    "Walls",
    "apply_code",
    "compose_codes",
    "flat_indices",
    "identity_code",
    "in_domain",
    "invert_code",
    "key_indices",
    "sort_domain_walls",
    "wall_values",
]


class Walls(NamedTuple):
    """Linear walls ``x[plus] - x[minus] >= 0`` and their glue elements.

    Attributes:
        plus: ``(W,)`` flat index of the larger side.
        minus: ``(W,)`` flat index of the smaller side, ``-1`` for a sign wall
            (``x[plus] >= 0``).
        glue: ``(W, n)`` float codes of the element that identifies the two
            sides of each wall (see the module docstring).
        axis: ``(W,)`` index of the hidden axis of each wall.
    """

    plus: np.ndarray
    minus: np.ndarray
    glue: np.ndarray
    axis: np.ndarray

    @property
    def num_walls(self) -> int:
        return int(self.plus.shape[0])


def flat_indices(template: Any) -> Any:
    """A pytree like ``template`` whose entries are their flat (ravel) indices."""
    flat, unravel = ravel_pytree(template)
    return jax.tree_util.tree_map(
        lambda x: np.asarray(x).astype(np.int64),
        unravel(jnp.arange(flat.shape[0], dtype=jnp.float32)),
    )


def key_indices(
    symmetry: Symmetry, axis: HiddenAxis, kind: str, template: Any, indices: Any
) -> np.ndarray:
    key = symmetry.resolve_key(axis, kind, template)
    return np.asarray(symmetry.unit_values(indices, key, axis)).astype(np.int64)


def _element_code(
    symmetry: Symmetry, element: GroupElement, template: Any
) -> np.ndarray:
    """The flat signed-permutation code of ``element`` acting on ``template``."""
    flat, unravel = ravel_pytree(template)
    codes = jnp.arange(1, flat.shape[0] + 1, dtype=jnp.float32)
    moved = symmetry.act(element, unravel(codes.astype(flat.dtype)))
    return np.asarray(ravel_pytree(moved)[0], np.float32)


def _slot_element(
    symmetry: Symmetry,
    axis_index: int,
    *,
    swap: int | None = None,
    flip: int | None = None,
) -> GroupElement:
    """Transposition of slots ``swap, swap + 1`` or flip of slot ``flip``."""
    identity = symmetry.identity(jnp.float32)
    permutations = list(identity.permutations)
    signs = list(identity.signs)
    if swap is not None:
        order = np.arange(symmetry.axes[axis_index].size)
        order[[swap, swap + 1]] = order[[swap + 1, swap]]
        permutations[axis_index] = jnp.asarray(order, jnp.int32)
    if flip is not None:
        sign = np.ones(symmetry.axes[axis_index].size, np.float32)
        sign[flip] = -1.0
        signs[axis_index] = jnp.asarray(sign)
    return GroupElement(tuple(permutations), tuple(signs), identity.scales)


def sort_domain_walls(template: Any, symmetry: Symmetry) -> Walls:
    """The walls of the sort domain of the finite part of ``symmetry``.

    Per axis: sign walls ``key_j >= 0`` and order walls ``sort_{j+1} - sort_j
    >= 0``. When the sign key is the sort key (the bias, by default) only the
    smallest unit needs a sign wall; the others follow from the ordering.

    Args:
        template: one params pytree (shapes and structure).
        symmetry: the symmetry; scaling groups are ignored.

    Returns:
        :class:`Walls` in the flat coordinates of ``template``, with the glue
        element of every wall.
    """
    symmetry = symmetry.without_scale()
    symmetry.validate(template)
    indices = flat_indices(template)
    plus, minus, glue, axes = [], [], [], []
    for axis_index, axis in enumerate(symmetry.axes):
        sort_idx = sign_idx = None
        if axis.has_permutation:
            sort_idx = key_indices(symmetry, axis, "sort", template, indices)
            for slot in range(axis.size - 1):
                plus.append(sort_idx[slot + 1])
                minus.append(sort_idx[slot])
                element = _slot_element(symmetry, axis_index, swap=slot)
                glue.append(_element_code(symmetry, element, template))
                axes.append(axis_index)
        if axis.has_sign:
            sign_idx = key_indices(symmetry, axis, "sign", template, indices)
            same = sort_idx is not None and np.array_equal(sign_idx, sort_idx)
            for slot in range(1 if same else axis.size):
                plus.append(sign_idx[slot])
                minus.append(-1)
                element = _slot_element(symmetry, axis_index, flip=slot)
                glue.append(_element_code(symmetry, element, template))
                axes.append(axis_index)
    size = int(ravel_pytree(template)[0].shape[0])
    return Walls(
        np.asarray(plus, np.int64),
        np.asarray(minus, np.int64),
        np.asarray(glue, np.float32).reshape(len(plus), size),
        np.asarray(axes, np.int64),
    )


def check_gluable(template: Any, symmetry: Symmetry) -> None:
    """Refuse keys for which the walls' elements do not keep the domain.

    Gluing a sign wall flips one unit; that must not reorder the units, so
    on an axis with both groups the sort key must be the sign key, or an
    entry that sign flips do not change (role ``"permute"``).

    Raises:
        SymmetryError: naming the axis.
    """
    symmetry = symmetry.without_scale()
    for axis in symmetry.axes:
        if not (axis.has_sign and axis.has_permutation):
            continue
        sort_key = symmetry.resolve_key(axis, "sort", template)
        sign_key = symmetry.resolve_key(axis, "sign", template)
        role = next(e.role for e in axis.entries if e.path == sort_key.path)
        if sort_key != sign_key and role != "permute":
            raise SymmetryError(
                f"axis {axis.name!r}: quotient='glue' needs the sort key to be the "
                "sign key (the default) or an entry that sign flips leave alone "
                "(role 'permute'); with these keys a flip reorders the units. Use "
                "quotient='fold' (exact with any keys) or declare matching keys"
            )


def wall_values(x: jax.Array, walls: Walls) -> jax.Array:
    """``x[plus] - x[minus]`` for every wall (``x[plus]`` for sign walls)."""
    has_minus = jnp.asarray(walls.minus >= 0)
    minus = jnp.where(has_minus, x[jnp.asarray(np.maximum(walls.minus, 0))], 0.0)
    return x[jnp.asarray(walls.plus)] - minus


def in_domain(x: jax.Array, walls: Walls, tolerance: float = 0.0) -> jax.Array:
    """Whether flat ``x`` satisfies every wall up to ``tolerance (1 + |x|)``."""
    if walls.num_walls == 0:
        return jnp.asarray(True)
    values = wall_values(x, walls)
    slack = tolerance * (1.0 + jnp.abs(x[jnp.asarray(walls.plus)]))
    return jnp.all(values >= -slack)


# ------------------------------------------------------- flat signed perms
def identity_code(size: int, dtype: Any = jnp.float32) -> jax.Array:
    """The code of the identity: ``(1, 2, ..., n)``."""
    return jnp.arange(1, size + 1, dtype=dtype)


def _split(code: jax.Array) -> tuple[jax.Array, jax.Array]:
    index = (jnp.abs(code) - 1).round().astype(jnp.int32)
    return index, jnp.sign(code)


def apply_code(code: jax.Array, x: jax.Array) -> jax.Array:
    """``g x`` for the element with this code: ``(g x)_i = s_i x_{pi_i}``."""
    index, sign = _split(code)
    return sign.astype(x.dtype) * x[index]


def invert_code(code: jax.Array, x: jax.Array) -> jax.Array:
    """``g^-1 x``: ``(g^-1 x)_{pi_i} = s_i x_i``."""
    index, sign = _split(code)
    return jnp.zeros_like(x).at[index].set(sign.astype(x.dtype) * x)


def compose_codes(g: jax.Array, h: jax.Array) -> jax.Array:
    """The code of ``g o h`` (apply ``h`` first): ``s_g s_h[pi_g] (pi_h[pi_g] + 1)``."""
    index, sign = _split(g)
    return sign * h[index]
