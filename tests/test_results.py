"""Saved results keep the user's pytree structure (no sampling: built by hand)."""

from __future__ import annotations

import collections
import json

import jax
import numpy as np
import pytest

from symbayes.results import SampleResult, Timings, load_result, pytree_structure

Pair = collections.namedtuple("Pair", ["weight", "bias"])


def draws(*shape: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(2, 5, *shape))


PYTREES = {
    "dict": {"b": draws(3, seed=0), "a": draws(seed=1)},
    "nested dict": {"net": {"W": draws(2, 3, seed=2), "b": draws(3, seed=3)}},
    "list": [draws(3, seed=4), draws(2, 2, seed=5)],
    "tuple": (draws(3, seed=6), {"noise": draws(seed=7)}),
    "list of dicts": {"layers": [{"W": draws(2, seed=8)}, {"W": draws(1, seed=9)}]},
    "namedtuple": Pair(draws(4, seed=10), draws(4, seed=11)),
    "with None": {"W": draws(2, seed=12), "unused": None},
}


def result_of(tree) -> SampleResult:
    return SampleResult(
        draws=tree,
        raw_draws=jax.tree_util.tree_map(lambda leaf: leaf + 1.0, tree),
        sample_stats={"diverging": np.zeros((2, 5), dtype=bool)},
        timings=Timings(1.0, 2.0, 3.0, 0.5, 100),
        config={"kernel": "nuts", "quotient": "none"},
    )


def assert_same_tree(loaded, original) -> None:
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(
        original
    )
    for got, want in zip(
        jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(original)
    ):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", [k for k in PYTREES if k != "namedtuple"])
def test_load_result_keeps_the_pytree_structure(kind, tmp_path):
    tree = PYTREES[kind]
    saved = result_of(tree)
    loaded = load_result(saved.save(tmp_path / "run.nc"))
    assert_same_tree(loaded.draws, tree)
    assert_same_tree(loaded.raw_draws, saved.raw_draws)
    assert type(loaded.draws) is type(tree)
    if isinstance(tree, dict):
        assert list(loaded.draws) == list(tree)  # the user's key order


def test_named_tuples_come_back_with_their_name_and_fields(tmp_path):
    tree = PYTREES["namedtuple"]
    loaded = load_result(result_of(tree).save(tmp_path / "run.nc"))
    assert type(loaded.draws).__name__ == "Pair"
    assert loaded.draws._fields == ("weight", "bias")
    np.testing.assert_array_equal(loaded.draws.bias, tree.bias)
    # draws and raw draws share one rebuilt class
    assert type(loaded.raw_draws) is type(loaded.draws)
    # like= gives the original class back
    exact = load_result(tmp_path / "run.nc", like=Pair(np.zeros(4), np.zeros(4)))
    assert_same_tree(exact.draws, tree)


def test_like_must_have_the_saved_variables(tmp_path):
    path = result_of(PYTREES["dict"]).save(tmp_path / "run.nc")
    with pytest.raises(ValueError, match=r"like= has the variables \['a', 'c'\]"):
        load_result(path, like={"a": np.zeros(()), "c": np.zeros(3)})


def test_the_structure_is_json_in_the_posterior_attributes(tmp_path):
    tree = PYTREES["list of dicts"]
    structure = pytree_structure(tree)
    layer = [{"dict": [["W", {"leaf": f"layers.{i}.W"}]]} for i in (0, 1)]
    assert structure == {"dict": [["layers", {"list": layer}]]}
    data = result_of(tree).to_inference_data()
    assert json.loads(data["posterior"].attrs["symbayes_structure"]) == structure


def test_a_file_without_a_structure_loads_as_nested_dicts(tmp_path, monkeypatch):
    import symbayes.results

    monkeypatch.setattr(symbayes.results, "pytree_structure", lambda tree: None)
    path = result_of(PYTREES["list"]).save(tmp_path / "old.nc")
    monkeypatch.undo()
    loaded = load_result(path)
    assert sorted(loaded.draws) == ["0", "1"]
    np.testing.assert_array_equal(loaded.draws["1"], PYTREES["list"][1])
