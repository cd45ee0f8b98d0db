"""A Bayesian multi-head self-attention network with its symmetries derived.

For a sequence ``x`` of ``T`` tokens of dimension ``d`` (``x`` is ``(T, d)``)
and ``H`` heads of dimension ``k``:

.. math::

    Q_h = x W^Q_h,\\ K_h = x W^K_h,\\ V_h = x W^V_h, \\qquad
    A_h = \\mathrm{softmax}\\big(Q_h K_h^\\top / \\sqrt{k}\\big),

    z = x + \\sum_h A_h V_h W^O_h, \\qquad
    f(x) = \\mathrm{MLP}\\Big(\\frac{1}{T}\\sum_t z_t\\Big),

with ``W^Q, W^K, W^V`` stored as ``(d, H, k)`` arrays and ``W^O`` as
``(H, k, d)`` (the head axis is a real array axis). There is no embedding
layer and no bias inside the block: the residual stream stays in the data's
coordinates, so no ``GL(d)`` map of the stream is a symmetry, and no key bias
(which a softmax cannot see) is left unidentified.

Symmetries (derived here and checked numerically by the tests):

* **head permutation** ``S_H``: the head blocks of ``W^Q, W^K, W^V, W^O``
  move together; the sum over heads is unchanged. A posterior symmetry
  (i.i.d. Gaussian prior). Quotiented (the finite :attr:`symmetry`).
* **query-key map** ``GL(k)`` per head: ``W^Q_h A, W^K_h A^{-T}`` leaves
  ``Q_h K_h^\\top`` unchanged: a *function* symmetry. Under the Gaussian
  prior the log density changes unless ``A`` is orthogonal (``|W A|^2 =
  |W|^2`` only then): ``O(k)`` is a posterior symmetry.
* **value-output map** ``GL(k)`` per head: ``W^V_h A, A^{-1} W^O_h``; the
  same function / posterior split.
* the hidden units of the MLP head: permutations, sign flips (odd
  activation), positive scaling (homogeneous activation, function only).

The continuous groups are in :attr:`AttentionNet.continuous_symmetry`: they
are *diagnosed* (:func:`~symbayes.symmetry.classify_symmetry`) and have a
canonical form (:func:`~symbayes.symmetry.canonicalize_continuous`,
:meth:`AttentionNet.canonicalize`), but the samplers do not quotient them:
``fold`` is exact only for a kernel equivariant under the group, and a
diagonal adapted metric is not ``O(k)``-equivariant. Quotienting the head
permutation alone leaves every chain free to drift along its ``O(k) x O(k)``
orbits, so raw *and* sort-canonical coordinates of a run stay
non-identified; canonicalise with :meth:`AttentionNet.canonicalize` (or use
function coordinates) before reading R-hat on parameters.

References:
    Vaswani et al. (2017), "Attention is all you need"; Zhao, Walters & Yu
    (2025), "Symmetry in neural network parameter spaces"; Zhang et al.
    (2025), "Beyond the permutation symmetry of transformers: the role of
    rotation for model fusion".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from symbayes.models._network import (
    SupervisedNetwork,
    activation_groups,
    check_activation,
    check_input_shape,
    check_likelihood,
    check_prior_scales,
    check_sizes,
    dense_apply,
    dense_axes,
    dense_shapes,
    reshape_inputs,
)
from symbayes.models.base import Params
from symbayes.models.mlp import ACTIVATIONS
from symbayes.symmetry import (
    AxisEntry,
    ContinuousSymmetry,
    HiddenAxis,
    MatrixAxis,
    MatrixEntry,
    Symmetry,
)

__all__ = ["AttentionNet"]

_ATTENTION_LEAVES = ("attn_Q", "attn_K", "attn_V", "attn_O")


@dataclass(frozen=True)
class AttentionNet(SupervisedNetwork):
    """One multi-head self-attention block, mean pooling and an MLP head.

    Params: ``attn_Q``, ``attn_K``, ``attn_V`` of shape ``(d, H, k)``,
    ``attn_O`` ``(H, k, d)``; ``mlp_W{l}``, ``mlp_b{l}`` of the MLP head
    (``mlp_W1`` is ``(d, h_1)``); ``log_noise`` when a gaussian noise is
    learned.

    Priors: the attention weights i.i.d. ``Normal(0, prior_scale_0^2)``, MLP
    layer ``l`` i.i.d. ``Normal(0, prior_scale_l^2)``.

    Symmetry: axis ``"heads"`` (permutation of the head blocks; sort key
    ``attn_Q[0, h, 0]``) and one axis ``mlp_hidden_{l}`` per hidden MLP
    layer. :attr:`continuous_symmetry`: ``qk_head_{h}`` and ``vo_head_{h}``,
    ``GL(k)`` each (function symmetries; ``O(k)`` posterior symmetries).

    Args:
        input_shape: ``(length, d)``: tokens per sequence and their dimension
            (the model width). Inputs may come as ``(n, length, d)`` or
            flattened ``(n, length * d)``.
        num_heads: number of heads ``H``.
        head_dim: dimension ``k`` of each head.
        mlp: widths of the MLP head: hidden layers, then the outputs.
        activation: hidden activation of the MLP head.
        likelihood: ``"gaussian"``, ``"bernoulli"`` or ``"categorical"``.
        prior_scale: one prior standard deviation, or ``1 + len(mlp)``: the
            attention block's, then one per MLP layer.
        noise: fixed gaussian noise standard deviation, or ``None`` to learn it.
        noise_prior: ``(mean, std)`` of the Normal prior on ``log_noise``.

    Raises:
        ValueError: at construction, naming the bad argument.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = AttentionNet((6, 2), num_heads=2, head_dim=1, mlp=(4, 1))
        >>> params = model.init(jax.random.key(0))
        >>> params["attn_O"].shape
        (2, 1, 2)
        >>> model.apply(params, jnp.zeros((3, 12))).shape
        (3, 1)
        >>> model.symmetry.axis_names
        ('heads', 'mlp_hidden_1')
    """

    input_shape: Sequence[int]
    num_heads: int = 2
    head_dim: int = 2
    mlp: Sequence[int] = (8, 1)
    activation: str = "tanh"
    likelihood: str = "gaussian"
    prior_scale: float | Sequence[float] = 1.0
    noise: float | None = 0.1
    noise_prior: tuple[float, float] = (-1.0, 1.0)
    _symmetry: Symmetry = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shape = check_input_shape(self.input_shape, (2,))
        object.__setattr__(self, "input_shape", shape)
        (heads,) = check_sizes("num_heads", (self.num_heads,))
        (head_dim,) = check_sizes("head_dim", (self.head_dim,))
        object.__setattr__(self, "num_heads", heads)
        object.__setattr__(self, "head_dim", head_dim)
        object.__setattr__(self, "mlp", check_sizes("mlp", self.mlp))
        check_activation(self.activation)
        noise_prior = check_likelihood(
            self.likelihood, self.mlp[-1], self.noise, self.noise_prior
        )
        object.__setattr__(self, "noise_prior", noise_prior)
        scales = check_prior_scales(self.prior_scale, 1 + len(self.mlp))
        object.__setattr__(self, "prior_scale", scales)
        object.__setattr__(self, "_symmetry", self._build_symmetry())

    # ------------------------------------------------------------ structure
    @property
    def model_dim(self) -> int:
        """Token dimension ``d`` (the residual stream)."""
        return self.input_shape[1]

    @property
    def num_outputs(self) -> int:
        return self.mlp[-1]

    @property
    def name(self) -> str:
        length, dim = self.input_shape
        mlp = "-".join(str(m) for m in self.mlp)
        return (
            f"attention_{length}x{dim}_h{self.num_heads}x{self.head_dim}_mlp{mlp}_"
            f"{self.activation}_{self.likelihood}"
        )

    @property
    def symmetry(self) -> Symmetry:
        return self._symmetry

    def _build_symmetry(self) -> Symmetry:
        heads = HiddenAxis(
            "heads",
            self.num_heads,
            (
                AxisEntry("attn_Q", 1, "in"),
                AxisEntry("attn_K", 1, "in"),
                AxisEntry("attn_V", 1, "in"),
                AxisEntry("attn_O", 0, "out"),
            ),
            groups=("permutation",),
        )
        sizes = (self.model_dim, *self.mlp)
        mlp_axes = dense_axes("mlp_", sizes, activation_groups(self.activation))
        return Symmetry((heads, *mlp_axes))

    @property
    def continuous_symmetry(self) -> ContinuousSymmetry:
        """Per head, ``GL(k)`` on the query-key and on the value-output pair."""
        axes = []
        for head in range(self.num_heads):
            at = ((1, head),)
            axes.append(
                MatrixAxis(
                    f"qk_head_{head}",
                    self.head_dim,
                    (
                        MatrixEntry("attn_Q", 2, "in", at),
                        MatrixEntry("attn_K", 2, "out", at),
                    ),
                    groups=("general_linear",),
                )
            )
            axes.append(
                MatrixAxis(
                    f"vo_head_{head}",
                    self.head_dim,
                    (
                        MatrixEntry("attn_V", 2, "in", at),
                        MatrixEntry("attn_O", 1, "out", ((0, head),)),
                    ),
                    groups=("general_linear",),
                )
            )
        return ContinuousSymmetry(tuple(axes))

    # ------------------------------------------------------------ model
    def leaf_shapes(self) -> dict[str, tuple[int, ...]]:
        d, heads, k = self.model_dim, self.num_heads, self.head_dim
        shapes = {name: (d, heads, k) for name in _ATTENTION_LEAVES[:3]}
        shapes["attn_O"] = (heads, k, d)
        shapes.update(dense_shapes("mlp_", (d, *self.mlp)))
        return shapes

    def prior_scales(self) -> dict[str, float]:
        scales = {name: self.prior_scale[0] for name in _ATTENTION_LEAVES}
        for layer in range(1, len(self.mlp) + 1):
            for kind in "Wb":
                scales[f"mlp_{kind}{layer}"] = self.prior_scale[layer]
        return scales

    def attention_weights(self, params: Params, X: jax.Array) -> jax.Array:
        """Attention probabilities ``A_h``, shape ``(n, H, T, T)``."""
        tokens = reshape_inputs(jnp.asarray(X), self.input_shape)
        tokens = tokens.astype(params["attn_Q"].dtype)
        queries = jnp.einsum("ntd,dhk->nhtk", tokens, params["attn_Q"])
        keys = jnp.einsum("ntd,dhk->nhtk", tokens, params["attn_K"])
        scores = jnp.einsum("nhtk,nhsk->nhts", queries, keys)
        return jax.nn.softmax(scores / math.sqrt(self.head_dim), axis=-1)

    def block(self, params: Params, X: jax.Array) -> jax.Array:
        """The residual stream after the attention block, ``(n, T, d)``."""
        tokens = reshape_inputs(jnp.asarray(X), self.input_shape)
        tokens = tokens.astype(params["attn_Q"].dtype)
        weights = self.attention_weights(params, tokens)
        values = jnp.einsum("ntd,dhk->nhtk", tokens, params["attn_V"])
        heads = jnp.einsum("nhts,nhsk->nhtk", weights, values)
        return tokens + jnp.einsum("nhtk,hkd->ntd", heads, params["attn_O"])

    def apply(self, params: Params, X: jax.Array) -> jax.Array:
        """Network outputs (regression means or logits), shape ``(n, d_out)``.

        Args:
            params: one params pytree.
            X: inputs ``(n, length, d)`` or ``(n, length * d)``.

        Returns:
            ``f(X)``, shape ``(n, d_out)``.

        Raises:
            ValueError: inputs of neither shape.
        """
        pooled = jnp.mean(self.block(params, X), axis=1)
        phi = ACTIVATIONS[self.activation].fn
        return dense_apply(params, "mlp_", len(self.mlp), phi, pooled)
