"""The comparison table, its legend and the figures, on hand-made inputs."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from symbayes.models import MLP, PPCA, GaussianMixture
from symbayes.report import (
    comparison_table,
    format_group_order,
    plot_predictive,
    predictive_kind,
    spread_coordinates,
)
from symbayes.results import SampleResult, Timings


def run_record(method: str, **values) -> dict:
    record = {
        "method": method,
        "kernel": "nuts",
        "chains": 4,
        "draws": 100,
        "wall_seconds": 2.5,
        "grad_evals": 12345,
        "ess_bulk_min_raw": 3.2,
        "ess_bulk_min_canonical": 150.0,
        "ess_bulk_min_function": None,
        "rhat_max_raw": 2.4,
        "rhat_max_canonical": 1.01,
        "rhat_max_function": None,
        "modes_raw": 4,
        "modes_canonical": 1,
        "modes_function": 1,
        "divergences": 0,
        "redundant_chains": 3,
    }
    return record | values


def report_of(*runs: dict, log10_order: float = np.log10(48.0)) -> dict:
    return {
        "problem": {
            "model": "mlp 1-3-1 tanh",
            "dataset": "sinusoidal",
            "num_params": 11,
            "log10_group_order": log10_order,
            "group_order": "3! x 2^3",
        },
        "settings": {"canonical_map": "sort", "mode_threshold": 1.1},
        "runs": list(runs),
    }


def test_the_table_has_full_headers_a_legend_and_the_group_order():
    text = comparison_table(report_of(run_record("none"), run_record("fold")))
    lines = text.splitlines()
    assert lines[0].endswith("symmetry group of order 48 (3! x 2^3)")
    assert "ESS bulk, min" in lines[1] and "R-hat, max" in lines[1]
    header = "method  wall s  grad evals  raw  canon  func  raw  canon  func"
    assert lines[2].split()[:11] == header.split()
    assert lines[2].split()[11:] == ["raw", "canon", "func", "divergent", "redundant"]
    assert lines[4].split()[:3] == ["nuts/none", "2.5", "1.23e+04"]
    assert "n/a" in lines[4]
    legend = " ".join(" ".join(lines[6:]).split())
    for phrase in (
        "grad evals = gradient evaluations",
        "pairwise R-hat is below 1.1",
        "redundant = chains that landed in a canonical mode",
        "canon = every method's draws after the same post-hoc canonical map (sort)",
        "n/a = not finite or not computed",
        "its raw R-hat and raw modes are expected to be high",
    ):
        assert phrase in legend
    assert max(len(line) for line in lines[6:]) <= 88
    # the line about `none` only when `none` ran
    assert "expected to be high" not in comparison_table(report_of(run_record("fold")))


@pytest.mark.parametrize(
    ("log10_order", "factors", "text"),
    [
        (np.log10(48.0), "3! x 2^3", "48 (3! x 2^3)"),
        (0.0, "1", "1"),
        (np.log10(720.0 * 64), None, "46080"),
        (18.1234, "16! x 2^16", "10^18.1 (16! x 2^16)"),
    ],
)
def test_the_group_order_is_a_number_until_it_is_large(log10_order, factors, text):
    assert format_group_order(log10_order, factors) == text


def test_spread_coordinates_pick_where_chain_means_differ():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(4, 50, 5))
    values[:, :, 3] += np.array([-3.0, 3.0, -3.0, 3.0])[:, None]
    values[:, :, 1] += np.array([-1.0, 1.0, 0.0, 0.0])[:, None]
    assert spread_coordinates(values, 2).tolist() == [3, 1]


def prior_draws(model, chains: int = 2, draws: int = 6, data=None):
    keys = jax.random.split(jax.random.key(0), chains * draws)
    flat = jax.vmap(lambda key: model.init(key, data))(keys)
    tree = jax.tree_util.tree_map(
        lambda leaf: np.asarray(leaf).reshape(chains, draws, *leaf.shape[1:]), flat
    )
    return SampleResult(tree, tree, {}, Timings(0.0, 0.0, 0.0, 0.0, 0), {})


def test_the_predictive_figure_fits_regressions_and_1d_densities(tmp_path):
    X = np.linspace(-1.0, 1.0, 20, dtype=np.float32)[:, None]
    y = np.sin(X[:, 0])
    assert predictive_kind(MLP((1, 2, 1)), (X, y)) == "regression"
    assert predictive_kind(GaussianMixture(2, 1), (X,)) == "density"
    assert predictive_kind(PPCA(3, 1), (np.zeros((5, 3)),)) is None
    assert predictive_kind(MLP((2, 2, 1)), (np.zeros((5, 2)), y[:5])) is None
    assert predictive_kind(None, (X,)) is None
    mixture = GaussianMixture(2, 1)
    path = plot_predictive(
        mixture, (X,), {"nuts/none": prior_draws(mixture)}, tmp_path / "p.png"
    )
    assert path.stat().st_size > 1000
    assert (
        plot_predictive(PPCA(3, 1), (np.zeros((5, 3)),), {}, tmp_path / "q.png") is None
    )
    assert not (tmp_path / "q.png").exists()


def test_an_unwritable_folder_is_named_with_the_reason(tmp_path, monkeypatch):
    """The write probe's failure, simulated: permission bits do not stop root."""
    import symbayes.report
    from symbayes.report import check_output_file, check_report_folder

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(symbayes.report.tempfile, "TemporaryFile", refuse)
    with pytest.raises(ValueError, match=r"report: cannot write in .* \(Permission"):
        check_report_folder(tmp_path / "report")
    with pytest.raises(ValueError, match=r"out.json: cannot write in .* \(Permission"):
        check_output_file(tmp_path / "sub" / "out.json")
    assert list(tmp_path.iterdir()) == []  # nothing created
