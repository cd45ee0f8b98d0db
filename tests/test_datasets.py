"""Tests of symbayes.datasets: bundled data, CSV loading and generators."""

from __future__ import annotations

import io
from importlib import resources

import numpy as np
import pytest

from symbayes import datasets
from symbayes.datasets import (
    Dataset,
    available,
    load,
    load_csv,
    make_gaussian_mixture,
    make_ppca,
    make_sinusoidal,
    make_teacher_mlp,
)

# name -> (train rows, test rows, features) for split 0
EXPECTED = {
    "sinusoidal": (135, 15, 1),
    "izmailov": (360, 40, 1),
    "regression2d": (230, 26, 2),
    "yacht": (277, 31, 6),
    "energy": (691, 77, 8),
    "concrete": (927, 103, 8),
    "wine-quality-red": (1439, 160, 11),
    "power-plant": (8611, 957, 4),
}
TOY = ("sinusoidal", "izmailov", "regression2d")
UCI = ("yacht", "energy", "concrete", "wine-quality-red", "power-plant")


def raw_table(name: str) -> np.ndarray:
    text = (
        resources.files("symbayes")
        .joinpath("data", f"{name}.csv")
        .read_text(encoding="utf-8")
    )
    return np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, ndmin=2)


def sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


# --------------------------------------------------------------------------
# bundled datasets
# --------------------------------------------------------------------------


def test_available_lists_every_bundled_set() -> None:
    assert available() == tuple(EXPECTED)


def test_data_files_and_readme_are_packaged() -> None:
    data_dir = resources.files("symbayes").joinpath("data")
    readme = data_dir.joinpath("README.md").read_text(encoding="utf-8")
    for name in available():
        assert data_dir.joinpath(f"{name}.csv").is_file()
        assert f"{name}.csv" in readme
    for name in UCI:
        assert data_dir.joinpath(f"{name}.splits.json").is_file()
        assert f"{name}.splits.json" in readme


@pytest.mark.parametrize("name", list(EXPECTED))
def test_load_shapes_and_standardisation(name: str) -> None:
    n_train, n_test, d = EXPECTED[name]
    data = load(name)
    assert isinstance(data, Dataset)
    assert data.name == name
    assert data.X_train.shape == (n_train, d)
    assert data.y_train.shape == (n_train,)
    assert data.X_test.shape == (n_test, d)
    assert data.y_test.shape == (n_test,)
    assert data.num_features == d == len(data.feature_names)
    assert data.num_train == n_train and data.num_test == n_test
    assert data.x_mean.shape == data.x_std.shape == (d,)
    assert isinstance(data.y_mean, float) and isinstance(data.y_std, float)
    assert "\n" not in data.source and data.source
    for array in (data.X_train, data.y_train, data.X_test, data.y_test):
        assert array.dtype == np.float32
        assert np.all(np.isfinite(array))
    np.testing.assert_allclose(data.X_train.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.X_train.std(0), 1.0, atol=1e-4)
    assert abs(data.y_train.mean()) < 1e-5
    assert abs(data.y_train.std() - 1.0) < 1e-4
    # test rows are standardised with the training statistics, not their own
    if name in UCI:
        assert abs(data.y_test.mean()) > 1e-4


@pytest.mark.parametrize("name", ["yacht", "sinusoidal"])
def test_load_float64_matches_float32(name: str) -> None:
    d32 = load(name, split=1)
    d64 = load(name, split=1, dtype=np.float64)
    for a32, a64 in zip(d32[1:5], d64[1:5]):
        assert a64.dtype == np.float64
        np.testing.assert_allclose(a32, a64, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="floating"):
        load(name, dtype=np.int32)


@pytest.mark.parametrize("name", ["concrete", "regression2d"])
def test_unstandardize_round_trips_to_the_csv_values(name: str) -> None:
    table = raw_table(name)
    data = load(name, split=2, dtype=np.float64)
    train = np.column_stack(
        [data.unstandardize_x(data.X_train), data.unstandardize_y(data.y_train)]
    )
    test = np.column_stack(
        [data.unstandardize_x(data.X_test), data.unstandardize_y(data.y_test)]
    )
    both = np.concatenate([train, test])
    np.testing.assert_allclose(sorted_rows(both), sorted_rows(table), atol=1e-9)
    # unstandardize_y is the inverse of the stored affine map
    y = np.linspace(-2.0, 2.0, 5)
    raw = data.unstandardize_y(y)
    np.testing.assert_allclose((raw - data.y_mean) / data.y_std, y)


def test_unstandardize_y_float32() -> None:
    data = load("yacht")
    raw = data.unstandardize_y(data.y_test)
    assert raw.dtype == np.float32
    exact = load("yacht", standardize=False, dtype=np.float64).y_test
    np.testing.assert_allclose(raw, exact, rtol=1e-5, atol=1e-5)


def test_standardize_false_returns_raw_values() -> None:
    table = raw_table("energy")
    data = load("energy", split=None, standardize=False, dtype=np.float64)
    np.testing.assert_array_equal(data.X_train, table[:, :-1])
    np.testing.assert_array_equal(data.y_train, table[:, -1])
    np.testing.assert_array_equal(data.x_mean, 0.0)
    np.testing.assert_array_equal(data.x_std, 1.0)
    assert (data.y_mean, data.y_std) == (0.0, 1.0)


@pytest.mark.parametrize("name", UCI)
def test_published_splits_partition_the_rows(name: str) -> None:
    n = raw_table(name).shape[0]
    first = load(name, split=0, standardize=False)
    last = load(name, split=4, standardize=False)
    for data in (first, last):
        assert data.num_train + data.num_test == n
    assert not np.array_equal(first.y_test, last.y_test)


def test_split_none_puts_every_row_in_train() -> None:
    for name in ("yacht", "izmailov"):
        n = raw_table(name).shape[0]
        data = load(name, split=None)
        d = data.num_features
        assert data.X_train.shape == (n, d)
        assert data.X_test.shape == (0, d)
        assert data.y_test.shape == (0,)
        assert data.X_test.dtype == np.float32


def test_toy_splits_are_deterministic_and_documented() -> None:
    a = load("sinusoidal", split=3)
    b = load("sinusoidal", split=3)
    c = load("sinusoidal", split=4)
    for x, y in zip(a[1:5], b[1:5]):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.y_test, c.y_test)
    # exactly the documented rule: default_rng(k).permutation, first 10 % test
    table = raw_table("sinusoidal")
    perm = np.random.default_rng(3).permutation(len(table))
    raw = load("sinusoidal", split=3, standardize=False, dtype=np.float64)
    np.testing.assert_array_equal(raw.y_test, table[perm[:15], -1])
    np.testing.assert_array_equal(raw.y_train, table[perm[15:], -1])


def test_load_rejects_bad_names_and_splits() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'boston'.*yacht"):
        load("boston")
    with pytest.raises(ValueError, match="out of range.*0 to 4"):
        load("yacht", split=5)
    with pytest.raises(ValueError, match="out of range"):
        load("yacht", split=-1)
    with pytest.raises(ValueError, match="out of range"):
        load("izmailov", split=-1)
    with pytest.raises(ValueError, match="int or None"):
        load("yacht", split=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="int or None"):
        load("yacht", split=True)


def test_toy_split_accepts_any_nonnegative_seed() -> None:
    assert load("regression2d", split=17).X_test.shape == (26, 2)


# --------------------------------------------------------------------------
# load_csv
# --------------------------------------------------------------------------


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def good_csv(n: int = 20) -> str:
    rows = "".join(f"{i},{(i * 7) % 5},{0.5 * i - 1}\n" for i in range(n))
    return "a,b,target\n" + rows


def test_load_csv_reads_a_file(tmp_path) -> None:
    path = write(tmp_path, good_csv(20), "toy.csv")
    data = load_csv(path, split=0.25, seed=1)
    assert data.name == "toy"
    assert data.feature_names == ("a", "b")
    assert data.X_train.shape == (15, 2) and data.X_test.shape == (5, 2)
    assert data.X_train.dtype == np.float32
    assert str(path) in data.source
    np.testing.assert_allclose(data.X_train.mean(0), 0.0, atol=1e-6)
    again = load_csv(str(path), split=0.25, seed=1, name="other")
    assert again.name == "other"
    np.testing.assert_array_equal(data.y_test, again.y_test)
    other_seed = load_csv(path, split=0.25, seed=2)
    assert not np.array_equal(data.y_test, other_seed.y_test)
    # round trip to the file's values
    raw = np.sort(np.concatenate([data.unstandardize_y(y) for y in data[2:5:2]]))
    np.testing.assert_allclose(raw, 0.5 * np.arange(20) - 1, atol=1e-5)


def test_load_csv_without_test_set_and_blank_lines(tmp_path) -> None:
    path = write(tmp_path, "x, y\n\n1,2\n2,4\n\n3,5\n\n")
    data = load_csv(path, split=None, dtype=np.float64, standardize=False)
    assert data.feature_names == ("x",)
    assert data.X_train.shape == (3, 1) and data.X_test.shape == (0, 1)
    np.testing.assert_array_equal(data.y_train, [2.0, 4.0, 5.0])
    assert load_csv(path, split=0.0).num_test == 0
    tiny = load_csv(path, split=0.01)
    assert (tiny.num_train, tiny.num_test) == (2, 1)


def test_load_csv_constant_feature_gets_unit_std(tmp_path) -> None:
    path = write(tmp_path, "c,x,y\n" + "".join(f"3,{i},{i}\n" for i in range(6)))
    data = load_csv(path, split=None)
    assert data.x_std[0] == 1.0 and data.x_mean[0] == pytest.approx(3.0)
    np.testing.assert_array_equal(data.X_train[:, 0], 0.0)


def test_load_csv_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.csv does not exist"):
        load_csv(tmp_path / "nope.csv")


def test_load_csv_empty_file(tmp_path) -> None:
    with pytest.raises(ValueError, match="empty.csv is empty"):
        load_csv(write(tmp_path, "\n\n", "empty.csv"))


def test_load_csv_one_column(tmp_path) -> None:
    path = write(tmp_path, "y\n1\n2\n3\n", "one.csv")
    with pytest.raises(ValueError, match="one.csv has 1 column.*at least 2"):
        load_csv(path)


def test_load_csv_wrong_column_count(tmp_path) -> None:
    path = write(tmp_path, "a,b,y\n1,2,3\n4,5,6\n7,8\n", "ragged.csv")
    with pytest.raises(ValueError, match="ragged.csv: line 4 has 2 field.*expected 3"):
        load_csv(path)


def test_load_csv_non_numeric(tmp_path) -> None:
    path = write(tmp_path, "a,b,y\n1,2,3\n4,five,6\n7,8,9\n", "words.csv")
    with pytest.raises(
        ValueError, match=r"words.csv: line 3, column 2 \('b'\): 'five' is not a number"
    ):
        load_csv(path)


def test_load_csv_nan_and_inf(tmp_path) -> None:
    path = write(tmp_path, "a,y\n1,2\n2,nan\n3,4\ninf,5\n", "holes.csv")
    with pytest.raises(
        ValueError, match=r"holes.csv has 2 NaN/inf value.*line 3, column 2 \('y'\)"
    ):
        load_csv(path)


def test_load_csv_too_few_rows(tmp_path) -> None:
    path = write(tmp_path, "a,y\n1,2\n", "short.csv")
    with pytest.raises(ValueError, match="short.csv has 1 data row.*at least 2"):
        load_csv(path)


def test_load_csv_bad_split(tmp_path) -> None:
    path = write(tmp_path, good_csv())
    for split in (1.0, -0.1, "0.1"):
        with pytest.raises(ValueError, match="test fraction"):
            load_csv(path, split=split)  # type: ignore[arg-type]


def test_load_csv_warns_about_a_numeric_header(tmp_path) -> None:
    path = write(tmp_path, "1,2\n3,4\n5,6\n")
    with pytest.warns(UserWarning, match="looks numeric"):
        data = load_csv(path, split=None)
    assert data.num_train == 2


# --------------------------------------------------------------------------
# generators
# --------------------------------------------------------------------------


def assert_same(a: Dataset, b: Dataset) -> None:
    for x, y in zip(a[1:5], b[1:5]):
        np.testing.assert_array_equal(x, y)


def test_make_sinusoidal() -> None:
    data = make_sinusoidal(seed=1)
    assert data.X_train.shape == (150, 1) and data.y_train.shape == (150,)
    assert data.X_test.shape == (0, 1)
    assert data.source.startswith("synthetic:")
    assert_same(data, make_sinusoidal(seed=1))
    assert not np.array_equal(data.y_train, make_sinusoidal(seed=2).y_train)
    np.testing.assert_allclose(data.X_train.mean(), 0.0, atol=1e-6)
    raw = make_sinusoidal(80, noise=0.0, seed=4, num_test=20, standardize=False)
    assert raw.X_test.shape == (20, 1)
    assert raw.X_train.min() >= 0.0 and raw.X_train.max() <= 8.0
    np.testing.assert_allclose(raw.y_train, np.sin(raw.X_train[:, 0]), atol=1e-6)
    # the training draws do not depend on num_test
    np.testing.assert_array_equal(
        raw.X_train, make_sinusoidal(80, 0.0, 4, standardize=False).X_train
    )


def test_make_teacher_mlp() -> None:
    data = make_teacher_mlp(50, 3, hidden=(8, 4), seed=5, num_test=10)
    assert data.X_train.shape == (50, 3) and data.X_test.shape == (10, 3)
    assert data.feature_names == ("x1", "x2", "x3")
    assert data.X_train.dtype == np.float32
    assert abs(data.y_train.std() - 1.0) < 1e-4
    assert_same(data, make_teacher_mlp(50, 3, hidden=(8, 4), seed=5, num_test=10))
    other = make_teacher_mlp(50, 3, hidden=(8, 4), seed=6, num_test=10)
    assert not np.array_equal(data.y_train, other.y_train)
    for activation in ("relu", "sigmoid", "sin", "linear"):
        assert make_teacher_mlp(10, 2, activation=activation).y_train.shape == (10,)
    assert make_teacher_mlp(10, 2, hidden=()).num_features == 2
    with pytest.raises(ValueError, match="unknown activation"):
        make_teacher_mlp(10, 2, activation="swish")
    with pytest.raises(ValueError, match="num_features"):
        make_teacher_mlp(10, 0)


def test_make_gaussian_mixture() -> None:
    data = make_gaussian_mixture(seed=3)
    assert data.X_train.shape == (300, 1) and data.y_train.shape == (300,)
    assert (data.x_mean[0], data.x_std[0], data.y_mean, data.y_std) == (0, 1, 0, 1)
    labels = data.y_train.astype(int)
    assert set(labels.tolist()) == {0, 1, 2}
    means = [data.X_train[labels == k, 0].mean() for k in range(3)]
    np.testing.assert_allclose(means, [-3.0, 0.0, 3.0], atol=0.3)
    assert_same(data, make_gaussian_mixture(seed=3))
    skewed = make_gaussian_mixture(2000, means=(0.0, 5.0), scales=(1.0, 1.0),
                                   weights=(3.0, 1.0), seed=0)  # fmt: skip
    assert abs(skewed.y_train.mean() - 0.25) < 0.04
    scaled = make_gaussian_mixture(seed=3, standardize=True)
    assert abs(scaled.X_train.mean()) < 1e-5
    np.testing.assert_array_equal(scaled.y_train, data.y_train)  # labels kept
    with pytest.raises(ValueError, match="same length"):
        make_gaussian_mixture(means=(0.0, 1.0), scales=(1.0,))
    with pytest.raises(ValueError, match="weights"):
        make_gaussian_mixture(weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        make_gaussian_mixture(scales=(1.0, 0.0, 1.0))


def test_make_ppca() -> None:
    data = make_ppca(seed=2, num_test=7)
    assert data.X_train.shape == (200, 5) and data.X_test.shape == (7, 5)
    np.testing.assert_array_equal(data.y_train, 0.0)
    assert_same(data, make_ppca(seed=2, num_test=7))
    assert not np.array_equal(data.X_train, make_ppca(seed=3).X_train)
    # three latent directions of distinct scale 3, 2, 1 above the noise floor
    big = make_ppca(20000, dim=5, latent=3, noise=0.1, seed=0, dtype=np.float64)
    eig = np.sort(np.linalg.eigvalsh(np.cov(big.X_train.T)))[::-1]
    np.testing.assert_allclose(eig, [9.01, 4.01, 1.01, 0.01, 0.01], rtol=0.06)
    scaled = make_ppca(seed=2, standardize=True)
    np.testing.assert_allclose(scaled.X_train.std(0), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="latent"):
        make_ppca(dim=2, latent=3)


def test_generators_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_points"):
        make_sinusoidal(0)
    with pytest.raises(ValueError, match="noise"):
        make_sinusoidal(noise=-1.0)
    with pytest.raises(ValueError, match="floating"):
        make_ppca(dtype=np.int64)


def test_public_api() -> None:
    assert set(datasets.__all__) == {
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
    }
