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

References:
    Hecht-Nielsen (1990), "On the algebraic structure of feedforward network
    weight spaces". Chen, Lu & Hecht-Nielsen (1993), "On the geometry of
    feedforward neural network error surfaces". Zhao, Walters & Yu (2025),
    "Symmetry in neural network parameter spaces" (survey).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "AxisEntry",
    "GroupElement",
    "HiddenAxis",
    "InvarianceReport",
    "Symmetry",
    "SymmetryError",
    "UnitKey",
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
    symmetry: Symmetry,
    key: jax.Array,
    num: int = 64,
    groups: Iterable[str] = GROUPS,
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

    Args:
        fn: callable of one params pytree returning an array or pytree of arrays.
        params: one params pytree (validated against ``symmetry``).
        symmetry: the symmetry to test.
        key: PRNG key for the random elements.
        num: number of random elements.
        groups: restrict the random elements to these group kinds.
        scale_log_std: spread of the log scale factors.

    Returns:
        An :class:`InvarianceReport`; ``report.is_invariant(rtol)`` decides.
    """
    symmetry.validate(params)
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
    symmetry: Symmetry,
    key: jax.Array,
    function_fn: Callable[[Any], Any] | None = None,
    num: int = 32,
    rtol: float = 1e-5,
    atol: float = 0.0,
    scale_log_std: float = 0.5,
) -> SymmetryClassification:
    """Test every (axis, group) on its own: function symmetry and posterior symmetry.

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
        single = Symmetry((axis,))
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
