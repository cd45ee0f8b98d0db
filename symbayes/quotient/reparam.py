"""Ordering constraints (``reparam``): a bijection onto the sort domain; when it cuts.

:class:`OrderedTransform` maps unconstrained coordinates onto the interior of
the sort domain (Stan's ordered and positive-ordered transforms), with its
log-Jacobian, so any kernel samples the posterior *restricted* to the domain.
That restriction is the quotient posterior only where no mass of the full
posterior straddles a wall: a point on the wall ``b_i = b_j`` is identified
with the point whose *other* coordinates of units ``i`` and ``j`` are
swapped, not with its mirror image, so a region of the full space that
crosses the wall is cut into pieces that the restricted chain cannot join
(measured on a 1-2-1 tanh BNN: chain means 17 Monte Carlo standard errors
off at 8 x 2000 draws).

:func:`key_crossings` measures, on draws of the full posterior (a short
pilot with ``quotient="none"``), how often each candidate key would carry a
chain through a wall; :func:`choose_keys` picks per axis the key that
crosses least and refuses, naming the axis and the units, when even that one
crosses more than a tolerance. A unit's identity is stable within a chain of
``none`` except where the chain itself moves through a wall, so crossings are
counted chain by chain:

* order walls: for units ``i, j`` of one chain, ``min(P(k_i < k_j), P(k_i >
  k_j))`` over its draws, keys after sign normalisation;
* sign walls: ``min(P(s_j > 0), P(s_j < 0))`` of unit ``j``'s sign key.

The score of a key is the largest of these over chains and units. Zero means
the pilot never saw a crossing: the ordering separates the units and
``reparam`` samples the quotient posterior.

References:
    Stan Reference Manual, "Ordered vector" and "Positive ordered vector"
    transforms. Jasra, Holmes & Stephens (2005), "Markov chain Monte Carlo
    methods and the label switching problem in Bayesian mixture modeling",
    Statistical Science 20 (identifiability constraints and their bias).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from symbayes.quotient.walls import flat_indices, key_indices
from symbayes.symmetry import HiddenAxis, Symmetry, UnitKey, leaf_paths

__all__ = [
    "KeyChoice",
    "OrderedTransform",
    "choose_keys",
    "key_crossings",
]


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
        indices = flat_indices(template)
        groups = []
        for axis in symmetry.axes:
            sort_idx = sign_idx = None
            if axis.has_permutation:
                sort_idx = key_indices(symmetry, axis, "sort", template, indices)
            if axis.has_sign:
                sign_idx = key_indices(symmetry, axis, "sign", template, indices)
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


# ------------------------------------------------------------ key crossings
class KeyChoice(NamedTuple):
    """The keys chosen for one axis and how often the pilot crossed their walls.

    Attributes:
        axis: the axis name.
        sort_key: the chosen sort key.
        sign_key: the chosen sign key (``None`` without a sign group).
        crossing: the key's score: the largest within-chain share of draws on
            the minority side of any of its walls (0: never crossed).
        worst: where that happens, in words.
        default_crossing: the score of the declared (or default) keys.
    """

    axis: str
    sort_key: UnitKey | None
    sign_key: UnitKey | None
    crossing: float
    worst: str
    default_crossing: float


def _own_entries(symmetry: Symmetry, axis: HiddenAxis, roles: tuple[str, ...]):
    return [
        e
        for e in axis.entries
        if e.role in roles and len(symmetry._entries_by_path.get(e.path, ())) == 1
    ]


def _candidate_keys(
    symmetry: Symmetry,
    axis: HiddenAxis,
    template: Any,
    roles: tuple[str, ...],
    limit: int = 64,
) -> list[UnitKey]:
    """Scalars per unit that only this axis touches (bias, own weights...)."""
    leaves = leaf_paths(template)
    keys = []
    for entry in _own_entries(symmetry, axis, roles):
        shape = list(np.shape(leaves[entry.path]))
        del shape[entry.axis % len(shape)]
        for index in np.ndindex(*shape):
            keys.append(UnitKey(entry.path, tuple(int(i) for i in index)))
            if len(keys) >= limit:
                return keys
    return keys


def _key_values(draws: Any, axis: HiddenAxis, key: UnitKey) -> np.ndarray:
    """``(C, N, h)`` values of ``key`` of every unit in every draw."""
    leaf = np.asarray(leaf_paths(draws)[key.path])
    entry = next(e for e in axis.entries if e.path == key.path)
    dim = 2 + entry.axis % (leaf.ndim - 2)
    moved = np.moveaxis(leaf, dim, 2)
    return moved[(slice(None), slice(None), slice(None), *key.index)]


def _flat_draws(draws: Any) -> np.ndarray:
    """``(C, N, n)`` draws in ``ravel_pytree`` order."""
    leaves = jax.tree_util.tree_leaves(draws)
    chains, num = np.shape(leaves[0])[:2]
    columns = [np.asarray(x, np.float64).reshape(chains, num, -1) for x in leaves]
    return np.concatenate(columns, axis=2)


def _unit_codes(
    symmetry: Symmetry, axis_name: str, template: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Flat codes of every transposition ``(i, j)`` and every flip ``j`` of an axis.

    Returns ``(swaps, flips)`` of shapes ``(h, h, n)`` and ``(h, n)``.
    """
    index = symmetry.axis_names.index(axis_name)
    axis = symmetry.axes[index]
    identity = symmetry.identity(jnp.float32)
    h = axis.size
    flat, unravel = ravel_pytree(template)
    codes_tree = unravel(jnp.arange(1, flat.shape[0] + 1, dtype=jnp.float32))

    def code(permutation: np.ndarray, sign: np.ndarray) -> np.ndarray:
        permutations = list(identity.permutations)
        signs = list(identity.signs)
        permutations[index] = jnp.asarray(permutation, jnp.int32)
        signs[index] = jnp.asarray(sign, jnp.float32)
        element = type(identity)(tuple(permutations), tuple(signs), identity.scales)
        return np.asarray(ravel_pytree(symmetry.act(element, codes_tree))[0])

    swaps = np.zeros((h, h, flat.shape[0]))
    flips = np.zeros((h, flat.shape[0]))
    ones = np.ones(h, np.float32)
    for i in range(h):
        if axis.has_sign:
            sign = ones.copy()
            sign[i] = -1.0
            flips[i] = code(np.arange(h), sign)
        if axis.has_permutation:
            for j in range(i + 1, h):
                order = np.arange(h)
                order[[i, j]] = order[[j, i]]
                swaps[i, j] = swaps[j, i] = code(order, ones)
    return swaps, flips


def _glue_distance(
    flat: np.ndarray, code: np.ndarray, keep: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Standardised RMS distance ``|g x - x|`` over the moved non-key coordinates."""
    index = (np.abs(code) - 1).round().astype(np.int64)
    sign = np.sign(code)
    moved = flat[..., index] * sign
    changed = (index != np.arange(index.size)) | (sign < 0)
    changed &= keep
    if not changed.any():
        return np.zeros(flat.shape[:-1])
    difference = (moved - flat)[..., changed] / scale[changed]
    return np.sqrt(np.mean(difference**2, axis=-1))


def key_crossings(
    draws: Any,
    symmetry: Symmetry,
    axis_name: str,
    sort_key: UnitKey | None,
    sign_key: UnitKey | None,
    template: Any | None = None,
) -> tuple[float, str]:
    """How often chains of the full posterior cross the walls of these keys, harmfully.

    A crossing matters in proportion to how far the wall's glue element moves
    the point: a wall whose element moves nothing but the keys is a mirror
    plane (restricting to it cuts nothing), one whose element swaps units
    that differ by several posterior standard deviations separates regions
    that the full space connects. So each wall's score is the within-chain
    share of draws on the minority side times ``min(1, d)``, where ``d`` is
    the median over those draws of the standardised RMS distance between the
    draw and its image under the glue element, over the other coordinates it
    moves (standard deviations of the pooled draws).

    Args:
        draws: raw draws of the full posterior, leaves ``(chain, draw, ...)``
            (``quotient="none"``, not canonicalised).
        symmetry: the symmetry.
        axis_name: the axis.
        sort_key: its sort key (``None`` without permutations).
        sign_key: its sign key (``None`` without sign flips).
        template: one params pytree (default: the first draw).

    Returns:
        ``(score, where)``: the largest score over the walls and a sentence
        naming the units.
    """
    axis = symmetry.axis(axis_name)
    if template is None:
        template = jax.tree_util.tree_map(lambda x: np.asarray(x)[0, 0], draws)
    flat = _flat_draws(draws)
    scale = np.maximum(flat.reshape(-1, flat.shape[-1]).std(axis=0), 1e-12)
    indices = flat_indices(template)
    keys_used = [k for k in (sort_key, sign_key) if k is not None]
    keep = np.ones(flat.shape[-1], bool)
    for key in keys_used:
        keep[np.asarray(symmetry.unit_values(indices, key, axis)).astype(int)] = False
    swaps, flips = _unit_codes(symmetry, axis_name, template)
    score, where = 0.0, "no chain crossed a wall"
    signs = None
    if axis.has_sign and sign_key is not None:
        signs = np.sign(_key_values(draws, axis, sign_key))
        positive = np.mean(signs > 0, axis=1)
        share = np.minimum(positive, np.mean(signs < 0, axis=1))  # (C, h)
        for c, j in zip(*np.nonzero(share > 0), strict=True):
            minority = signs[c, :, j] == (1.0 if positive[c, j] < 0.5 else -1.0)
            distance = _glue_distance(flat[c][minority], flips[j], keep, scale)
            value = float(share[c, j] * min(1.0, float(np.median(distance))))
            if value > score:
                score = value
                where = (
                    f"unit {j}'s sign key {_describe(sign_key)} changes sign in "
                    f"{100 * share[c, j]:.1f}% of chain {c}'s draws, and its flip "
                    f"moves the unit by {np.median(distance):.2g} sd"
                )
    if axis.has_permutation and sort_key is not None:
        keys = _key_values(draws, axis, sort_key)
        entry = next(e for e in axis.entries if e.path == sort_key.path)
        if signs is not None and entry.role != "permute":
            keys = keys * np.where(signs < 0, -1.0, 1.0)
        less = keys[:, :, :, None] < keys[:, :, None, :]  # (C, N, h, h)
        share_less = np.mean(less, axis=1)
        share = np.minimum(share_less, np.swapaxes(share_less, 1, 2))
        for c, i, j in zip(*np.nonzero(np.triu(share > 0, k=1)), strict=True):
            minority = less[c, :, i, j] == (share_less[c, i, j] < 0.5)
            distance = _glue_distance(flat[c][minority], swaps[i, j], keep, scale)
            value = float(share[c, i, j] * min(1.0, float(np.median(distance))))
            if value > score:
                score = value
                where = (
                    f"units {i} and {j} swap order by {_describe(sort_key)} in "
                    f"{100 * share[c, i, j]:.1f}% of chain {c}'s draws, and "
                    f"swapping them moves the units by {np.median(distance):.2g} sd"
                )
    return score, where


def _describe(key: UnitKey) -> str:
    index = f"[{', '.join(map(str, key.index))}]" if key.index else ""
    return "/".join(key.path) + index


def choose_keys(
    draws: Any, symmetry: Symmetry, template: Any
) -> tuple[Symmetry, tuple[KeyChoice, ...]]:
    """Per axis, the sort and sign keys whose walls the pilot crossed least.

    Candidates are every scalar of a unit that only this axis touches (the
    bias, a first-layer incoming or last-layer outgoing weight, a mixture
    component's coordinate, ...). Where the sign key is the sort key (the
    default) they stay equal (a positive-ordered transform); otherwise the
    sign key is chosen first, then the sort key given it. Ties keep the
    declared keys.

    Args:
        draws: raw pilot draws ``(chain, draw, ...)`` of ``quotient="none"``.
        symmetry: the finite part of the symmetry.
        template: one params pytree.

    Returns:
        The symmetry with the chosen keys and one :class:`KeyChoice` per axis.
    """
    axes, choices = [], []
    for axis in symmetry.axes:
        sort_key = (
            symmetry.resolve_key(axis, "sort", template)
            if axis.has_permutation
            else None
        )
        sign_key = (
            symmetry.resolve_key(axis, "sign", template) if axis.has_sign else None
        )
        default_score, default_where = key_crossings(
            draws, symmetry, axis.name, sort_key, sign_key, template
        )
        best = (default_score, default_where, sort_key, sign_key)
        joint = sort_key is not None and sort_key == sign_key
        if joint:
            for candidate in _candidate_keys(symmetry, axis, template, ("in", "out")):
                score, where = key_crossings(
                    draws, symmetry, axis.name, candidate, candidate, template
                )
                if score < best[0]:
                    best = (score, where, candidate, candidate)
        else:
            if sign_key is not None:
                for candidate in _candidate_keys(
                    symmetry, axis, template, ("in", "out")
                ):
                    score, _ = key_crossings(
                        draws, symmetry, axis.name, None, candidate, template
                    )
                    current, _ = key_crossings(
                        draws, symmetry, axis.name, None, best[3], template
                    )
                    if score < current:
                        best = (best[0], best[1], best[2], candidate)
            if sort_key is not None:
                roles = ("in", "out") if axis.has_sign else ("in", "out", "permute")
                roles = (*roles, "permute")
                for candidate in _candidate_keys(symmetry, axis, template, roles):
                    score, where = key_crossings(
                        draws, symmetry, axis.name, candidate, best[3], template
                    )
                    if score < best[0]:
                        best = (score, where, candidate, best[3])
            best = (
                *key_crossings(draws, symmetry, axis.name, best[2], best[3], template),
                best[2],
                best[3],
            )
        score, where, chosen_sort, chosen_sign = best
        axes.append(
            dataclasses.replace(axis, sort_key=chosen_sort, sign_key=chosen_sign)
        )
        choices.append(
            KeyChoice(axis.name, chosen_sort, chosen_sign, score, where, default_score)
        )
    return Symmetry(tuple(axes)), tuple(choices)
