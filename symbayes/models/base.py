"""The interface every symbayes model implements.

A model couples a log density on a parameter pytree with the :class:`Symmetry`
of that pytree. Samplers only need :meth:`BayesianModel.logdensity_fn` (full
batch HMC/NUTS) or :meth:`BayesianModel.minibatch_logdensity_fn` (SGLD,
SGHMC); diagnostics also use :meth:`BayesianModel.function_fn`, a vector of
*function-space* quantities that the posterior symmetry leaves unchanged
(predictions at probe inputs, the log-likelihood), on which R-hat and ESS are
meaningful whatever copy of the posterior a chain sits in.

Conventions:
    * ``params`` is a dict of JAX arrays (one draw, no batch axes).
    * ``data`` is a tuple of arrays: ``(X, y)`` for regression and
      classification, ``(X,)`` for unsupervised models, with ``X`` of shape
      ``(n, d)``. A *batch* is a data tuple of ``b`` rows.
    * Arrays keep the float dtype that the keys and data give (float32 by
      default, float64 under ``jax_enable_x64``).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from symbayes.symmetry import Symmetry, format_path, leaf_paths

__all__ = [
    "BayesianModel",
    "Data",
    "Params",
    "check_array",
    "format_value",
    "normal_logpdf",
    "probe_inputs",
]

Params = dict[str, jax.Array]
Data = tuple[jax.Array, ...]
LOG_2PI = math.log(2.0 * math.pi)


def normal_logpdf(x: jax.Array, loc: Any = 0.0, scale: Any = 1.0) -> jax.Array:
    """Elementwise log density of ``Normal(loc, scale^2)`` at ``x``.

    Args:
        x: points.
        loc: mean (broadcast against ``x``).
        scale: standard deviation, positive (broadcast against ``x``).

    Returns:
        ``-((x - loc) / scale)^2 / 2 - log(scale) - log(2 pi) / 2``, shape of
        the broadcast.
    """
    z = (x - loc) / scale
    return -0.5 * z * z - jnp.log(scale) - 0.5 * LOG_2PI


def probe_inputs(X: jax.Array, num_probe: int = 16) -> jax.Array:
    """Fixed inputs at which function-space diagnostics evaluate a model.

    Args:
        X: training inputs, shape ``(n, d)`` (or ``(n,)``, read as ``d = 1``).
        num_probe: number of probe points.

    Returns:
        For ``d = 1``: ``num_probe`` points evenly spaced over
        ``[min X, max X]``, shape ``(num_probe, 1)``. Otherwise a fixed,
        evenly strided subset of ``min(num_probe, n)`` training rows, shape
        ``(min(num_probe, n), d)``. Deterministic, so every chain and every run
        is probed at the same inputs.
    """
    X = jnp.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"inputs must have shape (n, d), got {X.shape}")
    if num_probe < 1:
        raise ValueError(f"num_probe must be >= 1, got {num_probe}")
    if X.shape[1] == 1:
        return jnp.linspace(X.min(), X.max(), num_probe, dtype=X.dtype)[:, None]
    rows = np.unique(np.linspace(0, X.shape[0] - 1, min(num_probe, X.shape[0])))
    return X[rows.round().astype(int)]


def format_value(value: Any) -> str:
    """One number as a message shows it: ``NaN``, ``inf``, ``-inf``, ``0.5``, ``3``.

    Example:
        >>> format_value(float("nan")), format_value(-np.inf), format_value(2.0)
        ('NaN', '-inf', '2')
    """
    value = np.asarray(value).item()
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return str(value)


def _where(index: tuple[int, ...]) -> str:
    """``row 7`` or ``row 7, column 2`` (or ``entry (7, 2, 1)``)."""
    if len(index) == 1:
        return f"row {index[0]}"
    if len(index) == 2:
        return f"row {index[0]}, column {index[1]}"
    return f"entry {tuple(int(i) for i in index)}"


def check_array(
    name: str,
    values: Any,
    *,
    ndim: int | tuple[int, ...] | None = None,
    columns: int | None = None,
    rows: int | None = None,
    rows_of: str = "X",
) -> np.ndarray:
    """Check one data array: numeric, finite, and of the expected shape.

    Args:
        name: the array's name in messages (``"X"``, ``"y"``).
        values: the array (numpy, JAX or nested lists).
        ndim: the allowed number(s) of axes, or ``None`` for any.
        columns: the required size of axis 1 (2-D arrays only), or ``None``.
        rows: the required number of rows (axis 0), or ``None``.
        rows_of: the array that fixed ``rows``, for the message.

    Returns:
        The array as numpy (a host copy of a device array).

    Raises:
        ValueError: naming the array and the problem: a non-numeric dtype, a
            wrong shape (with the expected one), no rows, or the number of
            NaN/inf entries and the first one (its row and value).

    Example:
        >>> check_array("y", [0.0, float("nan")])
        Traceback (most recent call last):
        ...
        ValueError: y has 1 non-finite value(s); the first is NaN at row 1
    """
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got dtype {array.dtype}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and array.ndim not in allowed:
        spelled = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name} must be {spelled}, got shape {array.shape}")
    if array.ndim == 0 or array.shape[0] == 0:
        raise ValueError(f"{name} has no rows (shape {array.shape})")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(
            f"{name} has {array.shape[0]} rows but {rows_of} has {rows}: one "
            f"row per data point in every array (shape {array.shape})"
        )
    if columns is not None and array.ndim == 2 and array.shape[1] != columns:
        raise ValueError(
            f"{name} has {array.shape[1]} column(s), expected {columns} "
            f"(shape {array.shape}, expected ({array.shape[0]}, {columns}))"
        )
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            first = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise ValueError(
                f"{name} has {int(np.size(finite) - np.count_nonzero(finite))} "
                f"non-finite value(s); the first is {format_value(array[first])} "
                f"at {_where(first)}"
            )
    return array


def _data_name(index: int) -> str:
    """``X``, ``y`` for the first two arrays of a data tuple, then ``data[i]``."""
    return ("X", "y")[index] if index < 2 else f"data[{index}]"


class BayesianModel(abc.ABC):
    """A prior, a per-datum likelihood and the symmetry of the parameters.

    Subclasses implement :attr:`symmetry`, :meth:`init`, :meth:`log_prior`,
    :meth:`log_likelihood` and :meth:`function_fn`; the log densities used by
    samplers are derived here:

    .. math::

        \\log p(\\theta \\mid D) = \\log p(\\theta)
            + \\sum_{i=1}^n \\log p(d_i \\mid \\theta) + \\text{const}.
    """

    @property
    @abc.abstractmethod
    def symmetry(self) -> Symmetry:
        """The group acting on the params that leaves the model invariant."""

    @property
    def name(self) -> str:
        """A short human-readable name (used in reports)."""
        return type(self).__name__

    @abc.abstractmethod
    def init(self, key: jax.Array, data: Data | None = None) -> Params:
        """An initial params pytree for one chain.

        Args:
            key: a JAX PRNG key.
            data: optional training data, used by models that spread their
                initialisation over the data; ignored by the others.

        Returns:
            One params pytree (each subclass documents whether it is a prior
            draw).
        """

    @abc.abstractmethod
    def log_prior(self, params: Params) -> jax.Array:
        """The log prior density ``log p(theta)`` (a scalar)."""

    @abc.abstractmethod
    def log_likelihood(self, params: Params, batch: Data) -> jax.Array:
        """Per-datum log-likelihood ``log p(d_i | theta)``, shape ``(n,)``.

        Args:
            params: one params pytree.
            batch: a data tuple (the full data or a minibatch).

        Returns:
            One value per row of the batch.
        """

    @abc.abstractmethod
    def function_fn(
        self, data: Data, num_probe: int = 16
    ) -> Callable[[Params], jax.Array]:
        """A flat vector of function-space quantities, invariant under the symmetry.

        Args:
            data: the training data (fixes the probe inputs).
            num_probe: number of probe inputs.

        Returns:
            A function of one params pytree returning a 1-D array whose last
            entry is the total log-likelihood of ``data``.
        """

    # ------------------------------------------------------------ data
    def check_data(self, data: Any) -> None:
        """Check the data before any compilation or sampling.

        The default accepts a tuple of numeric arrays ``(X, ...)`` (or a
        :class:`~symbayes.datasets.Dataset`, read as ``(X_train, y_train)``)
        whose first array ``X`` is 2-D, whose arrays all have the same number
        of rows, and whose floating entries are all finite. Models override
        it to check shapes against their sizes and targets against their
        likelihood; :func:`symbayes.sample` calls it first.

        Args:
            data: the data as passed to :func:`symbayes.sample`.

        Raises:
            ValueError: naming the array (``X``, ``y``, ``data[2]``), the row
                and the value: missing data, a wrong number of arrays, a
                non-numeric dtype, a wrong shape, NaN or inf.

        Example:
            >>> import numpy as np
            >>> from symbayes.models import MLP
            >>> X = np.zeros((3, 1)); y = np.array([0.0, np.nan, 1.0])
            >>> MLP((1, 2, 1)).check_data((X, y))
            Traceback (most recent call last):
            ...
            ValueError: y has 1 non-finite value(s); the first is NaN at row 1
        """
        arrays = self._data_arrays(data)
        first = check_array(_data_name(0), arrays[0], ndim=2)
        for index, values in enumerate(arrays[1:], start=1):
            check_array(_data_name(index), values, rows=first.shape[0])

    def _data_arrays(self, data: Any, expected: int | None = None) -> tuple:
        """The data as a tuple of arrays, with a message for a wrong count."""
        if data is None:
            raise ValueError(
                f"model {self.name!r} needs data: a tuple (X, y), (X,) or a "
                "symbayes.datasets.Dataset"
            )
        if hasattr(data, "X_train") and hasattr(data, "y_train"):
            data = (data.X_train, data.y_train)
        if not isinstance(data, tuple | list):
            data = (data,)
        if not data:
            raise ValueError(f"model {self.name!r} got an empty data tuple")
        if expected is not None and len(data) != expected:
            spelled = "(X, y)" if expected == 2 else "(X,)"
            raise ValueError(
                f"model {self.name!r} takes data {spelled}: {expected} array(s), "
                f"got {len(data)}"
            )
        return tuple(data)

    # ------------------------------------------------------------ derived
    def logdensity_fn(self, data: Data) -> Callable[[Params], jax.Array]:
        """The unnormalised log posterior on the full data.

        Args:
            data: the data tuple.

        Returns:
            ``params -> log p(theta) + sum_i log p(d_i | theta)``.
        """

        def logdensity(params: Params) -> jax.Array:
            return self.log_prior(params) + jnp.sum(self.log_likelihood(params, data))

        return logdensity

    def minibatch_logdensity_fn(
        self, num_data: int
    ) -> Callable[[Params, Data], jax.Array]:
        """An unbiased minibatch estimate of the log posterior (SGLD, SGHMC).

        For a batch ``B`` of ``b`` rows drawn uniformly from ``n = num_data``,

        .. math::

            \\widehat{\\log p}(\\theta) = \\log p(\\theta)
                + \\frac{n}{b} \\sum_{i \\in B} \\log p(d_i \\mid \\theta),

        whose expectation is the full-data log posterior (Welling & Teh 2011).

        Args:
            num_data: size ``n`` of the full data set.

        Returns:
            ``(params, batch) -> estimate``.
        """
        if num_data < 1:
            raise ValueError(f"num_data must be >= 1, got {num_data}")

        def logdensity(params: Params, batch: Data) -> jax.Array:
            log_likelihood = self.log_likelihood(params, batch)
            scale = num_data / log_likelihood.shape[0]
            return self.log_prior(params) + scale * jnp.sum(log_likelihood)

        return logdensity

    # ------------------------------------------------------------ helpers
    @staticmethod
    def num_params(params: Params) -> int:
        """Total number of scalar coordinates in one params pytree."""
        return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))

    @staticmethod
    def parameter_names(params: Params) -> list[str]:
        """Flat coordinate names, e.g. ``"W1[0,2]"`` or ``"log_noise"``.

        The order is that of ``jax.flatten_util.ravel_pytree(params)[0]``:
        leaves in pytree order, each in C (row-major) order. Useful as arviz
        coordinate labels.

        Args:
            params: one params pytree (no batch axes).

        Returns:
            One name per scalar coordinate.
        """
        names = []
        for path, leaf in leaf_paths(params).items():
            label = format_path(path)
            shape = np.shape(leaf)
            if not shape:
                names.append(label)
                continue
            names.extend(
                f"{label}[{','.join(str(i) for i in index)}]"
                for index in np.ndindex(*shape)
            )
        return names
