"""Parameter-space symmetry groups: hidden axes, group elements and their action.

A *hidden axis* is a set of array axes, spread over the leaves of a parameter
pytree, that are indexed by the same units: in layer ``l`` of an MLP the columns
``W_l[:, j]`` and entries ``b_l[j]`` (role ``"in"``) and the rows
``W_{l+1}[j, :]`` (role ``"out"``) all belong to unit ``j``. Each axis carries
a product of groups acting unit by unit:

===========  ===========================  ===================================
group        valid for                    action on unit ``j``
===========  ===========================  ===================================
permutation  always                       entries of unit ``pi(j)`` move to ``j``
sign         odd activations (tanh, sin)  *in* and *out* entries times ``s_j``
scale        homogeneous (ReLU)           *in* times ``a_j``, *out* / ``a_j``
===========  ===========================  ===================================

The full symmetry group is the direct product over axes. With
:math:`\\pi, s, a` indexed by the *new* unit position, an element acts as

.. math::

    (g\\cdot\\theta)_{j} = s_j\\, a_j^{\\pm 1}\\, \\theta_{\\pi(j)},

with exponent ``+1`` on *in* entries and ``-1`` on *out* entries. Composition
``compose(g, h)`` is the element ``g o h`` (apply ``h`` first); it has
permutation ``pi_h[pi_g]`` and sign ``s_g * s_h[pi_g]``.

Permutations and sign flips are orthogonal linear maps (``|det| = 1``) that
leave an exchangeable, sign-symmetric prior unchanged: they are exact
*posterior* symmetries. Positive rescaling leaves a homogeneous network's
outputs unchanged but not a Gaussian prior, and it is not volume preserving:
it is a *function* symmetry only. :func:`check_invariance` measures which is
which numerically instead of assuming it.

Continuous matrix groups (:class:`ContinuousSymmetry` of :class:`MatrixAxis`)
generalise the table: an invertible ``A`` acts as ``x A`` on *in* entries and
``x A^{-T}`` on *out* entries (``A = P S D`` gives back the finite groups).
``GL(h)`` is a function symmetry of linear layers and of an attention head's
query-key and value-output products; under a Gaussian prior only its
subgroup ``O(h)`` is a posterior symmetry, as it is for radial activations.
They are checked by the same :func:`check_invariance` and
:func:`classify_symmetry` and have canonical forms
(:func:`canonicalize_continuous`, through an SVD), but the samplers quotient
only the finite :class:`Symmetry`.

References:
    Hecht-Nielsen (1990), "On the algebraic structure of feedforward network
    weight spaces". Chen, Lu & Hecht-Nielsen (1993), "On the geometry of
    feedforward neural network error surfaces". Zhao, Walters & Yu (2025),
    "Symmetry in neural network parameter spaces" (survey).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg
import numpy as np

__all__ = [
    "MATRIX_GROUPS",
    "AxisEntry",
    "ContinuousSymmetry",
    "GroupElement",
    "HiddenAxis",
    "InvarianceReport",
    "MatrixAxis",
    "MatrixElement",
    "MatrixEntry",
    "Symmetry",
    "SymmetryError",
    "UnitKey",
    "canonical_continuous_element",
    "canonicalize_continuous",
    "check_invariance",
    "classify_symmetry",
    "format_path",
    "leaf_paths",
    "normalize_path",
]

Path = tuple[str, ...]
PathLike = str | Sequence[str | int]
Role = Literal["in", "out", "permute"]
GROUPS = ("permutation", "sign", "scale")
ROLES = ("in", "out", "permute")
MATRIX_GROUPS = ("orthogonal", "general_linear")
MATRIX_ROLES = ("in", "out")


class SymmetryError(ValueError):
    """A symmetry declaration that does not fit the parameters it is used with."""


def normalize_path(path: PathLike) -> Path:
    """Turn ``"a/b/0"``, ``"a"`` or ``("a", "b", 0)`` into ``("a", "b", "0")``."""
    if isinstance(path, str):
        parts = tuple(part for part in path.split("/") if part != "")
    else:
        parts = tuple(str(part) for part in path)
    if not parts:
        raise SymmetryError(f"empty parameter path {path!r}")
    return parts


def format_path(path: Path) -> str:
    """The ``a/b/0`` spelling of a normalised path, used in messages."""
    return "/".join(path)


def _key_to_str(key: Any) -> str:
    for attribute in ("key", "idx", "name"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def leaf_paths(params: Any) -> dict[Path, Any]:
    """Map every leaf of a pytree to its normalised path."""
    flat, _ = jax.tree_util.tree_flatten_with_path(params)
    return {tuple(_key_to_str(k) for k in key_path): leaf for key_path, leaf in flat}


@dataclass(frozen=True)
class AxisEntry:
    """One array axis of one leaf that a hidden axis indexes.

    Attributes:
        path: leaf path (``"W1"``, ``"layers/0/W"`` or a tuple of keys).
        axis: the array axis of that leaf (negative values count from the end).
        role: ``"in"`` for weights and biases feeding the unit, ``"out"`` for
            the weights it feeds. Sign flips act on both; a scale factor
            multiplies ``"in"`` entries and divides ``"out"`` entries.
            ``"permute"`` entries move with their unit but are never flipped or
            scaled (a mixture weight, a unit's own prior precision).
    """

    path: Path
    axis: int
    role: Role = "in"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", normalize_path(self.path))
        if self.role not in ROLES:
            raise SymmetryError(f"role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.axis, int | np.integer):
            raise SymmetryError(f"axis must be an int, got {self.axis!r}")
        object.__setattr__(self, "axis", int(self.axis))


@dataclass(frozen=True)
class UnitKey:
    """A scalar per unit: the leaf, hidden axis moved first, at ``[j][index]``.

    Used as the *sort key* (units are ordered by it) and the *sign key* (each
    unit is flipped so that it is non-negative) of the sort canonical map. A
    valid key is touched by its own unit's group element only: its leaf must
    carry no other hidden axis. A bias qualifies, so do first-layer incoming
    and last-layer outgoing weights.
    """

    path: Path
    index: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", normalize_path(self.path))
        object.__setattr__(self, "index", tuple(int(i) for i in self.index))


@dataclass(frozen=True)
class HiddenAxis:
    """A set of units sharing one index across several leaves.

    Attributes:
        name: a unique name, e.g. ``"hidden_0"``.
        size: number of units ``h``.
        entries: the leaf axes indexed by the units.
        groups: subset of ``("permutation", "sign", "scale")``.
        sort_key: scalar per unit used to order units (default: the first
            one-dimensional entry, i.e. the bias, else the first element of the
            first entry's unit slice).
        sign_key: scalar per unit made non-negative by sign flips (same
            default as ``sort_key``).
    """

    name: str
    size: int
    entries: tuple[AxisEntry, ...]
    groups: tuple[str, ...] = ("permutation",)
    sort_key: UnitKey | None = None
    sign_key: UnitKey | None = None

    def __post_init__(self) -> None:
        entries = tuple(
            e if isinstance(e, AxisEntry) else AxisEntry(*e) for e in self.entries
        )
        object.__setattr__(self, "entries", entries)
        groups = tuple(self.groups)
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise SymmetryError(
                f"axis {self.name!r}: unknown group(s) {unknown}; choose from {GROUPS}"
            )
        if not groups:
            raise SymmetryError(f"axis {self.name!r}: declare at least one group")
        object.__setattr__(self, "groups", tuple(g for g in GROUPS if g in groups))
        if int(self.size) < 1:
            raise SymmetryError(f"axis {self.name!r}: size must be >= 1")
        object.__setattr__(self, "size", int(self.size))
        if not entries:
            raise SymmetryError(f"axis {self.name!r} has no entries")
        for attribute in ("sort_key", "sign_key"):
            key = getattr(self, attribute)
            if key is not None and not isinstance(key, UnitKey):
                object.__setattr__(self, attribute, UnitKey(*key))

    @property
    def has_permutation(self) -> bool:
        return "permutation" in self.groups

    @property
    def has_sign(self) -> bool:
        return "sign" in self.groups

    @property
    def has_scale(self) -> bool:
        return "scale" in self.groups

    def log10_order(self) -> float:
        """log10 of the finite part of the group: ``h!``, times ``2^h`` with signs."""
        order = math.lgamma(self.size + 1) / math.log(10) if self.has_permutation else 0
        if self.has_sign:
            order += self.size * math.log10(2)
        return order


class GroupElement(NamedTuple):
    """An element of the product group: one array of each kind per hidden axis.

    ``permutations[i]`` is int32 ``(h_i,)``; ``signs[i]`` and ``scales[i]`` are
    float ``(h_i,)`` (ones where the axis lacks that group). A pytree, so it
    vmaps over batches of elements.
    """

    permutations: tuple[jax.Array, ...]
    signs: tuple[jax.Array, ...]
    scales: tuple[jax.Array, ...]


class InvarianceReport(NamedTuple):
    """Largest deviation of ``fn(g . theta)`` from ``fn(theta)`` over random ``g``.

    Attributes:
        max_abs_error: ``max_g max_i |fn(g theta)_i - fn(theta)_i|``.
        max_rel_error: per output array, the largest deviation divided by the
            largest ``|fn(theta)_i|`` of that array (so outputs crossing zero
            do not inflate it); the maximum over arrays.
        num_elements: how many random elements were tried.
    """

    max_abs_error: float
    max_rel_error: float
    num_elements: int

    def is_invariant(self, rtol: float = 1e-5, atol: float = 0.0) -> bool:
        """True when the relative error is <= ``rtol`` or the absolute <= ``atol``."""
        return bool(self.max_rel_error <= rtol or self.max_abs_error <= atol)


@dataclass(frozen=True)
class Symmetry:
    """The product of the groups of several hidden axes acting on a params pytree.

    Hashable and immutable, so it can be a static argument of ``jax.jit``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from symbayes.symmetry import Symmetry, HiddenAxis, AxisEntry
        >>> sym = Symmetry((HiddenAxis("hidden", 3, (
        ...     AxisEntry("W1", 1, "in"), AxisEntry("b1", 0, "in"),
        ...     AxisEntry("W2", 0, "out")), groups=("permutation", "sign")),))
        >>> params = {"W1": jnp.ones((1, 3)), "b1": jnp.arange(3.0),
        ...           "W2": jnp.ones((3, 1))}
        >>> g = sym.random_element(jax.random.key(0))
        >>> moved = sym.act(g, params)
        >>> back = sym.act(sym.inverse(g), moved)
        >>> bool(jnp.allclose(back["b1"], params["b1"]))
        True
    """

    axes: tuple[HiddenAxis, ...]
    _entries_by_path: dict = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        axes = tuple(self.axes)
        object.__setattr__(self, "axes", axes)
        names = [axis.name for axis in axes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SymmetryError(f"hidden axis names must be unique: {duplicates}")
        by_path: dict[Path, list[tuple[int, AxisEntry]]] = {}
        for index, axis in enumerate(axes):
            for entry in axis.entries:
                by_path.setdefault(entry.path, []).append((index, entry))
        object.__setattr__(
            self, "_entries_by_path", {k: tuple(v) for k, v in by_path.items()}
        )

    # ------------------------------------------------------------------ queries
    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(axis.name for axis in self.axes)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(axis.size for axis in self.axes)

    @property
    def has_scale(self) -> bool:
        """Whether any axis carries positive rescaling (a function symmetry only)."""
        return any(axis.has_scale for axis in self.axes)

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every leaf path some axis touches."""
        return tuple(self._entries_by_path)

    def without_scale(self) -> Symmetry:
        """The finite part (permutations and sign flips): the posterior symmetry.

        Positive rescaling is a function symmetry only (see
        :func:`check_invariance`), so the samplers quotient by this part alone.
        Axes left with no group are dropped.
        """
        axes = []
        for axis in self.axes:
            groups = tuple(g for g in axis.groups if g != "scale")
            if groups:
                axes.append(
                    HiddenAxis(
                        axis.name,
                        axis.size,
                        axis.entries,
                        groups,
                        axis.sort_key,
                        axis.sign_key,
                    )
                )
        return Symmetry(tuple(axes))

    def axis(self, name: str) -> HiddenAxis:
        """The hidden axis called ``name``."""
        for axis in self.axes:
            if axis.name == name:
                return axis
        raise SymmetryError(f"no hidden axis {name!r}; axes: {list(self.axis_names)}")

    def log10_order(self) -> float:
        """log10 of the order of the finite (permutation x sign) part of the group.

        A tanh layer of ``h`` units contributes ``log10(h! 2^h)``; continuous
        scaling groups are infinite and not counted.
        """
        return float(sum(axis.log10_order() for axis in self.axes))

    def describe(self) -> str:
        """One line per axis: name, size, groups and entries."""
        lines = []
        for axis in self.axes:
            entries = ", ".join(
                f"{format_path(e.path)}[axis {e.axis}, {e.role}]" for e in axis.entries
            )
            lines.append(
                f"{axis.name}: {axis.size} units, {'x'.join(axis.groups)}; {entries}"
            )
        return "\n".join(lines)

    # -------------------------------------------------------------- validation
    def validate(self, params: Any) -> None:
        """Check that every declared entry exists and fits ``params`` (one draw).

        Raises:
            SymmetryError: naming the axis and entry, for a path that does not
                exist, an axis out of range, a length different from the axis
                size, two axes on one array dimension, or an invalid unit key.
        """
        leaves = leaf_paths(params)
        available = ", ".join(format_path(p) for p in list(leaves)[:12])
        claimed: dict[tuple[Path, int], str] = {}
        for axis in self.axes:
            for entry in axis.entries:
                if entry.path not in leaves:
                    raise SymmetryError(
                        f"axis {axis.name!r}: parameter path "
                        f"{format_path(entry.path)!r} does not exist; "
                        f"params have: {available}"
                    )
                shape = np.shape(leaves[entry.path])
                if not -len(shape) <= entry.axis < len(shape):
                    raise SymmetryError(
                        f"axis {axis.name!r}: {format_path(entry.path)} has shape "
                        f"{shape}, which has no axis {entry.axis}"
                    )
                dim = entry.axis % len(shape)
                if shape[dim] != axis.size:
                    raise SymmetryError(
                        f"axis {axis.name!r} has size {axis.size} but "
                        f"{format_path(entry.path)} has length {shape[dim]} along "
                        f"axis {entry.axis} (shape {shape})"
                    )
                owner = claimed.get((entry.path, dim))
                if owner is not None:
                    raise SymmetryError(
                        f"{format_path(entry.path)} axis {dim} is claimed by both "
                        f"{owner!r} and {axis.name!r}"
                    )
                claimed[(entry.path, dim)] = axis.name
            kinds = [("sort", axis.has_permutation), ("sign", axis.has_sign)]
            for kind, needed in kinds:
                if needed:
                    key = self.resolve_key(axis, kind, params)
                    self._validate_key(axis, kind, key, leaves)

    def _validate_key(
        self, axis: HiddenAxis, kind: str, key: UnitKey, leaves: dict[Path, Any]
    ) -> None:
        entry = next((e for e in axis.entries if e.path == key.path), None)
        if entry is None:
            raise SymmetryError(
                f"axis {axis.name!r}: key path {format_path(key.path)!r} is not "
                "one of the axis's entries"
            )
        others = [i for i, _ in self._entries_by_path[key.path]]
        if len(others) > 1:
            raise SymmetryError(
                f"axis {axis.name!r}: key {format_path(key.path)!r} is also moved "
                "by another hidden axis; choose a key only this axis touches "
                "(a bias, a first-layer or a last-layer weight)"
            )
        if kind == "sign" and axis.has_sign and entry.role == "permute":
            raise SymmetryError(
                f"axis {axis.name!r}: sign key {format_path(key.path)!r} has role "
                "'permute', which sign flips do not change; choose an 'in' or 'out' "
                "entry"
            )
        shape = list(np.shape(leaves[key.path]))
        del shape[entry.axis % len(shape)]
        if len(key.index) != len(shape) or any(
            not 0 <= i < n for i, n in zip(key.index, shape, strict=False)
        ):
            raise SymmetryError(
                f"axis {axis.name!r}: key index {key.index} does not fit the unit "
                f"slice of {format_path(key.path)!r}, shape {tuple(shape)}"
            )

    def resolve_key(self, axis: HiddenAxis, kind: str, params: Any) -> UnitKey:
        """The sort or sign key of ``axis``, with defaults filled in from ``params``.

        Default: the first ``"in"`` entry whose unit slice is a scalar (a bias)
        and that no other axis touches; else the first element of the first
        such entry (for the sign key: the first such ``"in"``/``"out"`` entry).
        """
        key = axis.sort_key if kind == "sort" else axis.sign_key
        if key is not None:
            return key
        leaves = leaf_paths(params)
        own = [
            e
            for e in axis.entries
            if len(self._entries_by_path.get(e.path, ())) == 1
            and e.path in leaves
            and (kind == "sort" or e.role != "permute")
        ]
        for entry in own:
            if entry.role == "in" and np.ndim(leaves[entry.path]) == 1:
                return UnitKey(entry.path)
        if not own:
            raise SymmetryError(
                f"axis {axis.name!r}: no entry is touched by this axis alone, so "
                "there is no default sort/sign key; declare sort_key and sign_key"
            )
        entry = own[0]
        return UnitKey(entry.path, (0,) * (np.ndim(leaves[entry.path]) - 1))

    # ---------------------------------------------------------------- elements
    def identity(self, dtype: Any = None) -> GroupElement:
        """The neutral element (float dtype defaults to jax's default float)."""
        dtype = dtype or jnp.zeros(()).dtype
        return GroupElement(
            tuple(jnp.arange(a.size, dtype=jnp.int32) for a in self.axes),
            tuple(jnp.ones(a.size, dtype) for a in self.axes),
            tuple(jnp.ones(a.size, dtype) for a in self.axes),
        )

    def random_element(
        self,
        key: jax.Array,
        groups: Iterable[str] = GROUPS,
        scale_log_std: float = 0.5,
        dtype: Any = None,
    ) -> GroupElement:
        """Draw an element: uniform permutations and signs, log-normal scales.

        Args:
            key: a JAX PRNG key.
            groups: restrict to these group kinds (others are the identity);
                e.g. ``("scale",)`` tests scaling alone.
            scale_log_std: standard deviation of ``log a_j`` for scaling axes.
            dtype: float dtype of signs and scales.

        Returns:
            A :class:`GroupElement`; the finite part is uniform on the group.
        """
        groups = tuple(groups)
        dtype = dtype or jnp.zeros(()).dtype
        perms, signs, scales = [], [], []
        for axis, axis_key in zip(
            self.axes, jax.random.split(key, len(self.axes)), strict=True
        ):
            k_perm, k_sign, k_scale = jax.random.split(axis_key, 3)
            n = axis.size
            if axis.has_permutation and "permutation" in groups:
                perms.append(jax.random.permutation(k_perm, n).astype(jnp.int32))
            else:
                perms.append(jnp.arange(n, dtype=jnp.int32))
            if axis.has_sign and "sign" in groups:
                flips = jax.random.bernoulli(k_sign, 0.5, (n,))
                signs.append(jnp.where(flips, -1.0, 1.0).astype(dtype))
            else:
                signs.append(jnp.ones(n, dtype))
            if axis.has_scale and "scale" in groups:
                log_scale = scale_log_std * jax.random.normal(k_scale, (n,), dtype)
                scales.append(jnp.exp(log_scale))
            else:
                scales.append(jnp.ones(n, dtype))
        return GroupElement(tuple(perms), tuple(signs), tuple(scales))

    def compose(self, g: GroupElement, h: GroupElement) -> GroupElement:
        """The element ``g o h``: ``act(compose(g, h), x) == act(g, act(h, x))``."""
        perms = tuple(ph[pg] for pg, ph in zip(g.permutations, h.permutations))
        signs = tuple(
            sg * sh[pg] for sg, sh, pg in zip(g.signs, h.signs, g.permutations)
        )
        scales = tuple(
            ag * ah[pg] for ag, ah, pg in zip(g.scales, h.scales, g.permutations)
        )
        return GroupElement(perms, signs, scales)

    def inverse(self, g: GroupElement) -> GroupElement:
        """The element ``g^-1`` with ``compose(g, inverse(g)) == identity``."""
        inverse_perms = tuple(jnp.argsort(p).astype(jnp.int32) for p in g.permutations)
        signs = tuple(s[q] for s, q in zip(g.signs, inverse_perms))
        scales = tuple(1.0 / a[q] for a, q in zip(g.scales, inverse_perms))
        return GroupElement(inverse_perms, signs, scales)

    def act(self, g: GroupElement, params: Any) -> Any:
        """Apply ``g`` to one params pytree (vmap for batches).

        Each leaf touched by an axis is gathered along that axis by the
        permutation and multiplied by ``s_j a_j`` (role *in*) or ``s_j / a_j``
        (role *out*); role *permute* entries are only gathered. Leaves of no
        axis are returned unchanged.
        """

        def transform(key_path: Any, leaf: jax.Array) -> jax.Array:
            path = tuple(_key_to_str(k) for k in key_path)
            for axis_index, entry in self._entries_by_path.get(path, ()):
                dim = entry.axis % leaf.ndim
                perm = g.permutations[axis_index]
                leaf = jnp.take(leaf, perm, axis=dim)
                if entry.role == "permute":
                    continue
                scale = g.scales[axis_index]
                factor = g.signs[axis_index] * (
                    scale if entry.role == "in" else 1 / scale
                )
                shape = [1] * leaf.ndim
                shape[dim] = -1
                leaf = leaf * factor.astype(leaf.dtype).reshape(shape)
            return leaf

        return jax.tree_util.tree_map_with_path(transform, params)

    def unit_values(self, params: Any, key: UnitKey, axis: HiddenAxis) -> jax.Array:
        """The scalar ``key`` of every unit of ``axis``: shape ``(axis.size,)``."""
        leaf = leaf_paths(params)[key.path]
        entry = next(e for e in axis.entries if e.path == key.path)
        moved = jnp.moveaxis(leaf, entry.axis % leaf.ndim, 0)
        return moved[(slice(None), *key.index)]

    def elements_equal(self, g: GroupElement, h: GroupElement) -> jax.Array:
        """True where the finite parts (permutations and signs) agree; batches ok."""
        same = [
            jnp.all(a == b, axis=-1) for a, b in zip(g.permutations, h.permutations)
        ]
        same += [jnp.all(a == b, axis=-1) for a, b in zip(g.signs, h.signs)]
        return jnp.stack(same).all(axis=0)


def check_invariance(
    fn: Callable[[Any], Any],
    params: Any,
    symmetry: Symmetry | ContinuousSymmetry,
    key: jax.Array,
    num: int = 64,
    groups: Iterable[str] | None = None,
    scale_log_std: float = 0.5,
) -> InvarianceReport:
    """Largest deviation of ``fn(g . theta)`` from ``fn(theta)`` over random ``g``.

    Use it with the network outputs ``fn = lambda p: apply(p, X)`` to verify a
    *function* symmetry and with the log-density to verify a *posterior*
    symmetry. Permutations and sign flips of an odd activation pass both.
    Positive rescaling of a ReLU unit passes the first and fails the second
    under a Gaussian prior: the log prior changes by
    ``-(a^2 - 1)|w_in|^2 / 2 sigma^2 - (a^-2 - 1)|w_out|^2 / 2 sigma^2``, and
    the map ``(w_in, w_out) -> (a w_in, w_out / a)`` has Jacobian
    ``a^(n_in - n_out)``, so it does not preserve the posterior measure even
    under a flat prior unless ``n_in = n_out``.

    A :class:`ContinuousSymmetry` is tested the same way, with Haar-random
    orthogonal matrices or random invertible ones (see
    :meth:`ContinuousSymmetry.random_element`): ``W_Q A, W_K A^{-T}`` in an
    attention head passes the output test for every invertible ``A`` and the
    log-density test under a Gaussian prior only for orthogonal ``A``.

    Args:
        fn: callable of one params pytree returning an array or pytree of arrays.
        params: one params pytree (validated against ``symmetry``).
        symmetry: the symmetry to test: a :class:`Symmetry` or a
            :class:`ContinuousSymmetry`.
        key: PRNG key for the random elements.
        num: number of random elements.
        groups: restrict the random elements to these group kinds (default:
            every kind the symmetry declares).
        scale_log_std: spread of the log scale factors (of the log singular
            values for ``general_linear``).

    Returns:
        An :class:`InvarianceReport`; ``report.is_invariant(rtol)`` decides.
    """
    symmetry.validate(params)
    if groups is None:
        groups = MATRIX_GROUPS if isinstance(symmetry, ContinuousSymmetry) else GROUPS
    groups = tuple(groups)
    reference = jax.tree_util.tree_leaves(fn(params))
    elements = jax.vmap(lambda k: symmetry.random_element(k, groups, scale_log_std))(
        jax.random.split(key, num)
    )
    moved = jax.jit(jax.vmap(lambda g: fn(symmetry.act(g, params))))(elements)
    abs_errors, rel_errors = [], []
    for ref, out in zip(reference, jax.tree_util.tree_leaves(moved), strict=True):
        ref = np.asarray(ref, np.float64)
        deviation = np.abs(np.asarray(out, np.float64) - ref)
        abs_errors.append(float(np.max(deviation, initial=0.0)))
        scale = max(float(np.max(np.abs(ref), initial=0.0)), 1e-30)
        rel_errors.append(float(np.max(deviation, initial=0.0)) / scale)
    return InvarianceReport(max(abs_errors), max(rel_errors), num)


class SymmetryClassification(NamedTuple):
    """Per axis and group kind, whether it is a function and a posterior symmetry."""

    function: dict[tuple[str, str], bool]
    posterior: dict[tuple[str, str], bool]
    reports: dict[tuple[str, str, str], InvarianceReport]

    def summary(self) -> str:
        lines = []
        for (axis, group), is_function in self.function.items():
            is_posterior = self.posterior.get((axis, group))
            kind = (
                "posterior symmetry"
                if is_posterior
                else "function symmetry only"
                if is_function
                else "not a symmetry"
            )
            lines.append(f"{axis} / {group}: {kind}")
        return "\n".join(lines)


def classify_symmetry(
    logdensity_fn: Callable[[Any], jax.Array],
    params: Any,
    symmetry: Symmetry | ContinuousSymmetry,
    key: jax.Array,
    function_fn: Callable[[Any], Any] | None = None,
    num: int = 32,
    rtol: float = 1e-5,
    atol: float = 0.0,
    scale_log_std: float = 0.5,
) -> SymmetryClassification:
    """Test every (axis, group) on its own: function symmetry and posterior symmetry.

    Works for a :class:`Symmetry` (groups ``permutation``, ``sign``,
    ``scale``) and a :class:`ContinuousSymmetry` (``orthogonal``,
    ``general_linear``) alike; each axis is tested on its own.

    Args:
        logdensity_fn: unnormalised log posterior of one params pytree.
        params: a typical params pytree.
        symmetry: the declared symmetry.
        key: PRNG key.
        function_fn: the model's outputs as a function of params (skipped if None).
        num: random elements per test.
        rtol: relative tolerance for "invariant".
        atol: absolute tolerance for "invariant".
        scale_log_std: spread of the log scale factors of scaling groups.

    Returns:
        A :class:`SymmetryClassification` (``.summary()`` reads well).
    """
    function, posterior, reports = {}, {}, {}
    for axis_index, axis in enumerate(symmetry.axes):
        single = type(symmetry)((axis,))
        for group_index, group in enumerate(axis.groups):
            sub_key = jax.random.fold_in(key, 8 * axis_index + group_index)
            log_report = check_invariance(
                logdensity_fn, params, single, sub_key, num, (group,), scale_log_std
            )
            posterior[(axis.name, group)] = log_report.is_invariant(rtol, atol)
            reports[(axis.name, group, "logdensity")] = log_report
            if function_fn is not None:
                fn_report = check_invariance(
                    function_fn, params, single, sub_key, num, (group,), scale_log_std
                )
                function[(axis.name, group)] = fn_report.is_invariant(rtol, atol)
                reports[(axis.name, group, "function")] = fn_report
            else:
                function[(axis.name, group)] = posterior[(axis.name, group)]
    return SymmetryClassification(function, posterior, reports)


# ======================================================================
# Continuous matrix groups: O(h) and GL(h) acting on a hidden space
# ======================================================================
#
# A matrix ``A`` acting on an ``h``-dimensional hidden space moves every
# *in* entry (the weights and bias that produce the hidden vector ``z``) to
# ``x A`` and every *out* entry (the weights that read ``z``) to ``x A^{-T}``,
# the acted-on array axis moved last: ``z -> z A`` and ``W_out -> A^{-1}
# W_out``, so ``z W_out`` is unchanged. The finite groups above are the
# special case ``A = P S D`` (permutation, signs, positive diagonal): then
# ``A^{-T} = P S D^{-1}``, the ``in``/``out`` rule of :class:`AxisEntry`.


@dataclass(frozen=True)
class MatrixEntry:
    """One array axis of one leaf, or of a fixed slice of it, that a matrix acts on.

    With the acted-on axis moved last, an entry with role ``"in"`` becomes
    ``x A`` and one with role ``"out"`` becomes ``x A^{-T}`` (for an
    orthogonal ``A`` both are ``x A``).

    Attributes:
        path: leaf path.
        axis: the acted-on axis of the (whole) leaf; negative counts from the
            end.
        role: ``"in"`` or ``"out"``.
        select: ``((dim, position), ...)``: other axes of the leaf held fixed,
            so that the matrix acts on ``leaf[..., position, ...]`` only. The
            query weights of head ``h``, ``W_Q[:, h, :]`` of a
            ``(d_model, heads, d_head)`` array, are ``MatrixEntry("W_Q", 2,
            "in", ((1, h),))``.
    """

    path: Path
    axis: int
    role: Literal["in", "out"] = "in"
    select: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", normalize_path(self.path))
        if self.role not in MATRIX_ROLES:
            raise SymmetryError(
                f"matrix entry {format_path(self.path)!r}: role must be one of "
                f"{MATRIX_ROLES}, got {self.role!r}"
            )
        if not isinstance(self.axis, int | np.integer):
            raise SymmetryError(f"axis must be an int, got {self.axis!r}")
        object.__setattr__(self, "axis", int(self.axis))
        try:
            select = tuple((int(d), int(p)) for d, p in self.select)
        except (TypeError, ValueError) as error:
            raise SymmetryError(
                f"matrix entry {format_path(self.path)!r}: select must be "
                f"((dim, position), ...), got {self.select!r}"
            ) from error
        object.__setattr__(self, "select", select)


@dataclass(frozen=True)
class MatrixAxis:
    """A hidden space on which a continuous matrix group acts.

    Attributes:
        name: a unique name, e.g. ``"qk_head_0"``.
        size: the dimension ``h`` of the hidden space.
        entries: the leaf axes the matrix acts on.
        groups: subset of ``("orthogonal", "general_linear")``: ``O(h)``
            (``A^T A = I``) or ``GL(h)`` (any invertible ``A``). Declaring
            ``general_linear`` declares its subgroup ``orthogonal`` too.
    """

    name: str
    size: int
    entries: tuple[MatrixEntry, ...]
    groups: tuple[str, ...] = ("orthogonal",)

    def __post_init__(self) -> None:
        entries = tuple(
            e if isinstance(e, MatrixEntry) else MatrixEntry(*e) for e in self.entries
        )
        object.__setattr__(self, "entries", entries)
        groups = tuple(self.groups)
        unknown = [g for g in groups if g not in MATRIX_GROUPS]
        if unknown:
            raise SymmetryError(
                f"axis {self.name!r}: unknown matrix group(s) {unknown}; choose "
                f"from {MATRIX_GROUPS}"
            )
        if not groups:
            raise SymmetryError(f"axis {self.name!r}: declare at least one group")
        if "general_linear" in groups:
            groups = (*groups, "orthogonal")
        object.__setattr__(
            self, "groups", tuple(g for g in MATRIX_GROUPS if g in groups)
        )
        if int(self.size) < 1:
            raise SymmetryError(f"axis {self.name!r}: size must be >= 1")
        object.__setattr__(self, "size", int(self.size))
        if not entries:
            raise SymmetryError(f"axis {self.name!r} has no entries")

    @property
    def has_general_linear(self) -> bool:
        return "general_linear" in self.groups

    def dimension(self) -> int:
        """Dimension of the largest declared group: ``h^2`` (GL) or ``h(h-1)/2``."""
        h = self.size
        return h * h if self.has_general_linear else h * (h - 1) // 2

    def log10_order(self) -> float:
        """log10 of the finite part: the number of connected components, 2.

        ``O(h)`` and ``GL(h)`` each have two components (``det > 0`` and
        ``det < 0``), which no continuous path along an orbit joins; for
        ``h = 1``, ``O(1) = {+1, -1}`` is that finite group.
        """
        return math.log10(2.0)


class MatrixElement(NamedTuple):
    """An element of a :class:`ContinuousSymmetry`: one ``(h_i, h_i)`` matrix per axis.

    A pytree, so it vmaps over batches of elements.
    """

    matrices: tuple[jax.Array, ...]


def _entry_index(entry: MatrixEntry, ndim: int) -> tuple[tuple, int]:
    """The index selecting the entry's slice and its acted-on axis in that slice."""
    dim = entry.axis % ndim
    index: list[Any] = [slice(None)] * ndim
    for selected, position in entry.select:
        index[selected % ndim] = position
    removed = sum(1 for selected, _ in entry.select if selected % ndim < dim)
    return tuple(index), dim - removed


def _entry_rows(leaf: jax.Array, entry: MatrixEntry) -> jax.Array:
    """The entry's slice with the acted-on axis last, other axes as rows: ``(m, h)``."""
    index, local = _entry_index(entry, leaf.ndim)
    moved = jnp.moveaxis(leaf[index], local, -1)
    return moved.reshape(-1, moved.shape[-1])


def _transform_entry(
    leaf: jax.Array, entry: MatrixEntry, matrix: jax.Array
) -> jax.Array:
    """``x -> x @ matrix`` along the entry's axis, on its slice only."""
    index, local = _entry_index(entry, leaf.ndim)
    part = jnp.moveaxis(leaf[index], local, -1) @ matrix.astype(leaf.dtype)
    part = jnp.moveaxis(part, -1, local)
    if not entry.select:
        return part
    return leaf.at[index].set(part)


def _entries_overlap(a: MatrixEntry, b: MatrixEntry) -> bool:
    """Whether two entries touch a common element of a common leaf."""
    if a.path != b.path:
        return False
    fixed = dict(a.select)
    return not any(dim in fixed and fixed[dim] != pos for dim, pos in b.select)


@dataclass(frozen=True)
class ContinuousSymmetry:
    """Continuous matrix groups (``O(h)``, ``GL(h)``) acting on a params pytree.

    The product over axes of :class:`MatrixAxis` groups; an element is one
    matrix per axis (:class:`MatrixElement`). It offers the interface of
    :class:`Symmetry` that :func:`check_invariance` and
    :func:`classify_symmetry` use (``validate``, ``random_element``,
    ``act``), so function and posterior invariance are measured the same way.

    These groups are *diagnosed*, not quotiented by the samplers:
    :func:`canonicalize_continuous` maps draws to a canonical form after
    sampling (exact: it is the image of the full-space posterior), and the
    samplers quotient only the finite :class:`Symmetry` of a model.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> sym = ContinuousSymmetry((MatrixAxis("hidden", 2, (
        ...     MatrixEntry("W1", 1, "in"), MatrixEntry("W2", 0, "out")),
        ...     groups=("general_linear",)),))
        >>> params = {"W1": jnp.ones((3, 2)), "W2": jnp.arange(4.0).reshape(2, 2)}
        >>> g = sym.random_element(jax.random.key(0))
        >>> moved = sym.act(g, params)
        >>> bool(jnp.allclose(moved["W1"] @ moved["W2"],
        ...                   params["W1"] @ params["W2"], atol=1e-5))
        True
    """

    axes: tuple[MatrixAxis, ...]

    def __post_init__(self) -> None:
        axes = tuple(self.axes)
        object.__setattr__(self, "axes", axes)
        names = [axis.name for axis in axes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SymmetryError(f"matrix axis names must be unique: {duplicates}")

    # ------------------------------------------------------------ queries
    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(axis.name for axis in self.axes)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(axis.size for axis in self.axes)

    def axis(self, name: str) -> MatrixAxis:
        """The matrix axis called ``name``."""
        for axis in self.axes:
            if axis.name == name:
                return axis
        raise SymmetryError(f"no matrix axis {name!r}; axes: {list(self.axis_names)}")

    def log10_order(self) -> float:
        """log10 of the finite part: ``2`` components per axis."""
        return float(sum(axis.log10_order() for axis in self.axes))

    def dimension(self) -> int:
        """Dimension of the group (of every generic orbit): the sum over axes."""
        return int(sum(axis.dimension() for axis in self.axes))

    def describe(self) -> str:
        """One line per axis: name, size, groups and entries."""
        lines = []
        for axis in self.axes:
            entries = ", ".join(
                f"{format_path(e.path)}[axis {e.axis}"
                + "".join(f", dim {d}={p}" for d, p in e.select)
                + f", {e.role}]"
                for e in axis.entries
            )
            groups = "GL" if axis.has_general_linear else "O"
            lines.append(f"{axis.name}: {groups}({axis.size}); {entries}")
        return "\n".join(lines)

    def own_entries(self, axis_index: int) -> tuple[MatrixEntry, ...]:
        """The entries of an axis that no other axis touches."""
        others = [
            e
            for i, axis in enumerate(self.axes)
            if i != axis_index
            for e in axis.entries
        ]
        return tuple(
            entry
            for entry in self.axes[axis_index].entries
            if not any(_entries_overlap(entry, other) for other in others)
        )

    # ------------------------------------------------------------ validation
    def validate(self, params: Any) -> None:
        """Check that every entry exists and fits ``params`` (one draw).

        Raises:
            SymmetryError: naming the axis and entry, for a path that does not
                exist, an axis or a selected position out of range, a length
                different from the axis size, or two axes acting on the same
                array axis of the same elements.
        """
        leaves = leaf_paths(params)
        available = ", ".join(format_path(p) for p in list(leaves)[:12])
        for axis in self.axes:
            for entry in axis.entries:
                label = format_path(entry.path)
                if entry.path not in leaves:
                    raise SymmetryError(
                        f"axis {axis.name!r}: parameter path {label!r} does not "
                        f"exist; params have: {available}"
                    )
                shape = np.shape(leaves[entry.path])
                ndim = len(shape)
                if not -ndim <= entry.axis < ndim:
                    raise SymmetryError(
                        f"axis {axis.name!r}: {label} has shape {shape}, which has "
                        f"no axis {entry.axis}"
                    )
                dim = entry.axis % ndim
                if shape[dim] != axis.size:
                    raise SymmetryError(
                        f"axis {axis.name!r} has size {axis.size} but {label} has "
                        f"length {shape[dim]} along axis {entry.axis} (shape {shape})"
                    )
                seen = set()
                for selected, position in entry.select:
                    if not -ndim <= selected < ndim:
                        raise SymmetryError(
                            f"axis {axis.name!r}: {label} has shape {shape}, which "
                            f"has no axis {selected} to select"
                        )
                    if selected % ndim == dim or selected % ndim in seen:
                        raise SymmetryError(
                            f"axis {axis.name!r}: {label} selects axis {selected} "
                            "twice or selects the acted-on axis"
                        )
                    seen.add(selected % ndim)
                    if not 0 <= position < shape[selected % ndim]:
                        raise SymmetryError(
                            f"axis {axis.name!r}: {label} position {position} out of "
                            f"range for axis {selected} of shape {shape}"
                        )
        for i, first in enumerate(self.axes):
            for second in self.axes[i:]:
                for a in first.entries:
                    for b in second.entries:
                        if a is b or not _entries_overlap(a, b):
                            continue
                        ndim = np.ndim(leaves[a.path])
                        if a.axis % ndim == b.axis % ndim:
                            raise SymmetryError(
                                f"{format_path(a.path)} axis {a.axis % ndim} is "
                                f"acted on by both {first.name!r} and "
                                f"{second.name!r} on overlapping elements"
                            )

    # ------------------------------------------------------------ elements
    def identity(self, dtype: Any = None) -> MatrixElement:
        """The neutral element (identity matrices)."""
        dtype = dtype or jnp.zeros(()).dtype
        return MatrixElement(tuple(jnp.eye(a.size, dtype=dtype) for a in self.axes))

    def random_element(
        self,
        key: jax.Array,
        groups: Iterable[str] = MATRIX_GROUPS,
        scale_log_std: float = 0.5,
        dtype: Any = None,
    ) -> MatrixElement:
        """Draw an element: Haar orthogonal, or a random invertible matrix.

        For ``general_linear`` axes (when ``"general_linear"`` is in
        ``groups``): ``A = U diag(exp(scale_log_std z)) V^T`` with ``U, V``
        Haar-distributed on ``O(h)`` and ``z ~ N(0, I)``, so both components
        and a spread of condition numbers are drawn. Otherwise, when
        ``"orthogonal"`` is in ``groups``: ``A = U`` (Haar; Mezzadri 2007).
        Axes whose groups are not requested get the identity.

        Args:
            key: a JAX PRNG key.
            groups: restrict to these group kinds.
            scale_log_std: spread of the log singular values of GL elements.
            dtype: float dtype of the matrices.

        Returns:
            A :class:`MatrixElement`.

        Raises:
            SymmetryError: a group name that is not a matrix group (e.g.
                ``"permutation"``, which belongs to :class:`Symmetry`).
        """
        groups = tuple(groups)
        unknown = [g for g in groups if g not in MATRIX_GROUPS]
        if unknown:
            raise SymmetryError(
                f"unknown matrix group(s) {unknown}; a ContinuousSymmetry has "
                f"{MATRIX_GROUPS}"
            )
        dtype = dtype or jnp.zeros(()).dtype
        matrices = []
        for axis, axis_key in zip(
            self.axes, jax.random.split(key, len(self.axes)), strict=True
        ):
            k_left, k_right, k_scale = jax.random.split(axis_key, 3)
            n = axis.size
            left = jax.random.orthogonal(k_left, n, dtype=dtype)
            if axis.has_general_linear and "general_linear" in groups:
                right = jax.random.orthogonal(k_right, n, dtype=dtype)
                spread = jnp.exp(
                    scale_log_std * jax.random.normal(k_scale, (n,), dtype)
                )
                matrices.append((left * spread[None, :]) @ right.T)
            elif "orthogonal" in groups:
                matrices.append(left)
            else:
                matrices.append(jnp.eye(n, dtype=dtype))
        return MatrixElement(tuple(matrices))

    def compose(self, g: MatrixElement, h: MatrixElement) -> MatrixElement:
        """``g o h``, the matrices ``A_h A_g``: ``act(g o h) = act(g) act(h)``."""
        return MatrixElement(tuple(b @ a for a, b in zip(g.matrices, h.matrices)))

    def inverse(self, g: MatrixElement) -> MatrixElement:
        """``g^-1``: the inverse matrices."""
        return MatrixElement(tuple(jnp.linalg.inv(a) for a in g.matrices))

    def act(self, g: MatrixElement, params: Any) -> Any:
        """Apply ``g`` to one params pytree: ``x A`` on *in*, ``x A^{-T}`` on *out*."""
        by_path: dict[Path, list[tuple[MatrixEntry, jax.Array]]] = {}
        for axis, matrix in zip(self.axes, g.matrices, strict=True):
            dual = None
            for entry in axis.entries:
                if entry.role == "out" and dual is None:
                    dual = jnp.linalg.inv(matrix).T
                chosen = matrix if entry.role == "in" else dual
                by_path.setdefault(entry.path, []).append((entry, chosen))

        def transform(key_path: Any, leaf: jax.Array) -> jax.Array:
            path = tuple(_key_to_str(k) for k in key_path)
            for entry, matrix in by_path.get(path, ()):
                leaf = _transform_entry(leaf, entry, matrix)
            return leaf

        return jax.tree_util.tree_map_with_path(transform, params)

    # ------------------------------------------------------------ canonical
    def check_canonical_form(self, params: Any, group: str) -> None:
        """Raise unless :func:`canonicalize_continuous` has a canonical form here.

        ``orthogonal``: every ``O(h)`` axis needs at least ``h`` rows in all
        (so its Gram matrix is generically of full rank) and an entry that no
        other axis touches (its sign reference). ``general_linear``: every
        ``GL(h)`` axis needs ``h`` rows of *in* and ``h`` rows of *out*
        entries, and no entry shared with another axis (the product
        ``M_in M_out^T`` must belong to this axis alone).

        Raises:
            SymmetryError: naming the axis and what is missing.
            ValueError: an unknown group.
        """
        if group not in MATRIX_GROUPS:
            raise ValueError(f"unknown matrix group {group!r}; use {MATRIX_GROUPS}")
        leaves = leaf_paths(params)

        def rows(entries: Iterable[MatrixEntry]) -> int:
            return sum(int(_entry_rows(leaves[e.path], e).shape[0]) for e in entries)

        for index, axis in enumerate(self.axes):
            if group not in axis.groups:
                continue
            own = self.own_entries(index)
            if group == "orthogonal":
                if rows(axis.entries) < axis.size:
                    raise SymmetryError(
                        f"axis {axis.name!r}: the O({axis.size}) canonical form "
                        f"needs at least {axis.size} rows, the entries have "
                        f"{rows(axis.entries)}"
                    )
                if not own:
                    raise SymmetryError(
                        f"axis {axis.name!r}: every entry is shared with another "
                        "axis, so no sign reference is left for the canonical form"
                    )
                continue
            if len(own) != len(axis.entries):
                raise SymmetryError(
                    f"axis {axis.name!r}: the GL({axis.size}) canonical form is "
                    "defined for an axis whose entries no other axis touches (one "
                    "hidden layer of a linear network, one attention head)"
                )
            for role in MATRIX_ROLES:
                count = rows(e for e in axis.entries if e.role == role)
                if count < axis.size:
                    raise SymmetryError(
                        f"axis {axis.name!r}: the GL({axis.size}) canonical form "
                        f"needs at least {axis.size} rows of {role!r} entries, "
                        f"got {count}"
                    )


def _stack_rows(params: Any, entries: Iterable[MatrixEntry]) -> jax.Array:
    leaves = leaf_paths(params)
    return jnp.concatenate([_entry_rows(leaves[e.path], e) for e in entries], axis=0)


def _reference_signs(rows: jax.Array) -> jax.Array:
    """Per column, the sign of its entry of largest magnitude (+1 at zero)."""
    largest = jnp.argmax(jnp.abs(rows), axis=0)
    picked = rows[largest, jnp.arange(rows.shape[1])]
    return jnp.where(picked < 0, -1.0, 1.0).astype(rows.dtype)


def _orthogonal_canonical_matrix(
    params: Any, symmetry: ContinuousSymmetry, index: int
) -> jax.Array:
    """``V S``: principal axes of the stacked rows, signs fixed on own rows."""
    axis = symmetry.axes[index]
    stacked = _stack_rows(params, axis.entries)
    _, _, vt = jnp.linalg.svd(stacked, full_matrices=False)
    matrix = vt.T
    own = _stack_rows(params, symmetry.own_entries(index)) @ matrix
    return matrix * _reference_signs(own)[None, :]


def _general_linear_canonical_matrix(
    params: Any, symmetry: ContinuousSymmetry, index: int
) -> jax.Array:
    """``A`` with ``M_in A = U Sigma^(1/2)``, ``M_out A^-T = V Sigma^(1/2)``."""
    axis = symmetry.axes[index]
    incoming = _stack_rows(params, (e for e in axis.entries if e.role == "in"))
    outgoing = _stack_rows(params, (e for e in axis.entries if e.role == "out"))
    _, r_in = jnp.linalg.qr(incoming)
    _, r_out = jnp.linalg.qr(outgoing)
    u, singular, _ = jnp.linalg.svd(r_in @ r_out.T)
    matrix = jax.scipy.linalg.solve_triangular(
        r_in, u * jnp.sqrt(singular)[None, :], lower=False
    )
    return matrix * _reference_signs(incoming @ matrix)[None, :]


def canonical_continuous_element(
    params: Any, symmetry: ContinuousSymmetry, group: str = "orthogonal"
) -> MatrixElement:
    """The element that :func:`canonicalize_continuous` applies to one draw."""
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    matrices = []
    for index, axis in enumerate(symmetry.axes):
        if group not in axis.groups:
            matrices.append(jnp.eye(axis.size, dtype=dtype))
        elif group == "orthogonal":
            matrices.append(_orthogonal_canonical_matrix(params, symmetry, index))
        else:
            matrices.append(_general_linear_canonical_matrix(params, symmetry, index))
    return MatrixElement(tuple(matrices))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _canonicalize_continuous_batch(
    params: Any, symmetry: ContinuousSymmetry, group: str
) -> tuple[Any, MatrixElement]:
    def one(draw: Any) -> tuple[Any, MatrixElement]:
        element = canonical_continuous_element(draw, symmetry, group)
        return symmetry.act(element, draw), element

    return jax.vmap(one)(params)


def canonicalize_continuous(
    params: Any,
    symmetry: ContinuousSymmetry,
    group: Literal["orthogonal", "general_linear"] = "orthogonal",
    *,
    batch_ndim: int = 0,
    return_element: bool = False,
) -> Any:
    """Canonical form of parameters under continuous ``O(h)`` or ``GL(h)`` groups.

    ``orthogonal`` (a posterior symmetry under isotropic Gaussian priors:
    radial networks, linear networks, attention heads): per axis, stack the
    rows of every entry into ``M`` (``m x h``; ``M -> M A`` under the group).
    With the SVD ``M = U Sigma V^T`` the canonical matrix is ``A = V S``:
    ``M A = U Sigma S`` has orthogonal columns ordered by decreasing singular
    value, and ``S`` makes the largest-magnitude entry of each column on the
    axis's own entries (those no other axis touches) positive. The Gram
    matrix ``M^T M`` is unchanged by every other axis's orthogonal action, so
    the axes are canonicalised independently.

    ``general_linear`` (a function symmetry only: the Gaussian prior changes):
    per axis, with ``M_in`` the stacked *in* rows and ``M_out`` the *out*
    rows, the product ``P = M_in M_out^T`` (the linear map through the
    hidden space: ``W_1 W_2`` of a linear network, ``W_Q W_K^T`` of an
    attention head) determines the function. With its SVD ``P = U Sigma V^T``
    (rank ``h``) the canonical form is ``M_in = U Sigma^{1/2}``, ``M_out = V
    Sigma^{1/2}``, unique up to the signs of the pairs ``(u_j, v_j)``, fixed
    as above on ``U``, and the order, fixed by decreasing singular value;
    computed through the QR factors of ``M_in`` and ``M_out`` and the SVD of
    the ``h x h`` matrix ``R_in R_out^T``.

    Both maps are invariant on orbits (up to ties of singular values or of
    the sign references, a null set), idempotent, and keep the function.
    Applied to the draws of a full-space run they give exact draws of the
    quotient (the image measure); the samplers do not use them as a fold.

    Args:
        params: params pytree with ``batch_ndim`` leading batch axes.
        symmetry: the continuous symmetry.
        group: ``"orthogonal"`` or ``"general_linear"``; axes that do not
            declare it are left as they are.
        batch_ndim: number of leading batch axes.
        return_element: also return the :class:`MatrixElement` applied.

    Returns:
        The canonical params (and the elements).

    Raises:
        SymmetryError: the symmetry does not fit the params, or has no
            canonical form here (:meth:`ContinuousSymmetry.check_canonical_form`).
        ValueError: an unknown group, a bad ``batch_ndim``, NaN or inf.

    References:
        Ganev, van Laarhoven & Walters (2022), "Universal approximation and
        model compression for radial neural networks" (the ``O(h)`` symmetry
        of radial networks); Baldi & Hornik (1989), "Neural networks and
        principal component analysis" (linear networks and the SVD).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> sym = ContinuousSymmetry((MatrixAxis("hidden", 2, (
        ...     MatrixEntry("W1", 1, "in"), MatrixEntry("W2", 0, "out")),
        ...     groups=("general_linear",)),))
        >>> params = {"W1": jax.random.normal(jax.random.key(0), (3, 2)),
        ...           "W2": jax.random.normal(jax.random.key(1), (2, 3))}
        >>> moved = sym.act(sym.random_element(jax.random.key(2)), params)
        >>> a = canonicalize_continuous(params, sym, "general_linear")
        >>> b = canonicalize_continuous(moved, sym, "general_linear")
        >>> bool(jnp.allclose(a["W1"], b["W1"], atol=1e-4))
        True
    """
    if group not in MATRIX_GROUPS:
        raise ValueError(f"unknown matrix group {group!r}; use {MATRIX_GROUPS}")
    if not isinstance(batch_ndim, int) or batch_ndim < 0:
        raise ValueError(f"batch_ndim must be an int >= 0, got {batch_ndim!r}")
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params has no leaves")
    batch_shape = tuple(np.shape(leaves[0])[:batch_ndim])
    for leaf in leaves:
        if tuple(np.shape(leaf)[:batch_ndim]) != batch_shape:
            raise ValueError(
                f"every leaf needs the same {batch_ndim} leading batch axes "
                f"{batch_shape}, got shape {np.shape(leaf)}"
            )
        if not np.all(np.isfinite(np.asarray(leaf))):
            raise ValueError(
                "params hold NaN or inf; canonical forms need finite values"
            )
    first = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[(0,) * batch_ndim], params)
    symmetry.validate(first)
    symmetry.check_canonical_form(first, group)
    count = math.prod(batch_shape)
    flat = jax.tree_util.tree_map(
        lambda x: jnp.reshape(jnp.asarray(x), (count, *np.shape(x)[batch_ndim:])),
        params,
    )
    canonical, elements = _canonicalize_continuous_batch(flat, symmetry, group)

    def unflatten(tree: Any) -> Any:
        return jax.tree_util.tree_map(
            lambda x: x.reshape(batch_shape + x.shape[1:]), tree
        )

    canonical = unflatten(canonical)
    if not return_element:
        return canonical
    return canonical, unflatten(elements)
