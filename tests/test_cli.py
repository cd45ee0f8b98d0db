"""The ``symbayes`` command: --help, --version, ``compare`` end to end, errors.

Every model ``compare`` offers runs end to end once, at tiny size (the time is
compilation). Every bad input is refused with one line and exit code 2
before anything is sampled: the error tests replace the sampler by one that
fails the test if it is ever called.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import symbayes.compare
from symbayes import __version__
from symbayes.cli import main
from symbayes.compare import RUN_KEYS, build_problem
from symbayes.models import ACTIVATIONS
from symbayes.report import REPORT_FILES

TINY = ["--chains", "2", "--warmup", "20", "--samples", "10", "--quiet"]

# per model: the run's options and what the JSON and the folder must show
SMOKE = {
    "mlp": {
        "arguments": ["--chains", "3", "--quotient", "none,fold"],
        "model": "mlp 1-3-1 tanh",
        "dataset": "sinusoidal",
        "num_params": 11,  # 3 + 3 + 3 + 1 + log_noise
        "group_order": "3! x 2^3",  # 48
        "predictive": True,
    },
    "gmm": {
        "arguments": ["--model", "gmm", "--quotient", "none"],
        "model": "gmm 3 components x 1d",
        "dataset": "gaussian-mixture",
        "num_params": 9,  # 3 means, 3 log scales, 3 log weights
        "group_order": "3!",
        "predictive": True,  # a density band: 1-D data
    },
    "ppca": {
        "arguments": ["--model", "ppca", "--quotient", "none"],
        "model": "ppca 5x2",
        "dataset": "ppca",
        "num_params": 18,  # W 5x2, log_alpha 2, mean 5, log_noise
        "group_order": "2! x 2^2",
        "predictive": False,  # 5-D data: no 1-D band
    },
}


def test_console_script_help_and_version():
    done = subprocess.run(
        [sys.executable, "-m", "symbayes.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == f"symbayes {__version__}"


def test_compare_help_lists_choices_defaults_and_the_csv_layout(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in (*ACTIVATIONS, "sinusoidal", "yacht", "power-plant"):
        assert name in text
    for default in ("default mlp", "default ?-3-?", "default tanh", "default 8"):
        assert default in text
    assert "header row" in text and "target in the last column" in text
    assert "?-16-16-?" in text and "--quotient" in text and "--json" in text


@pytest.fixture(scope="module", params=sorted(SMOKE))
def compared(request, tmp_path_factory):
    model = request.param
    folder = tmp_path_factory.mktemp(f"compare-{model}")
    json_path = folder / "out" / "result.json"
    code = main(
        ["compare", *TINY, *SMOKE[model]["arguments"]]
        + ["--output", str(folder / "report"), "--json", str(json_path)]
    )
    return model, code, folder / "report", json.loads(json_path.read_text())


def test_compare_runs_every_model_end_to_end(compared, capsys):
    """One tiny run per model: exit 0, the JSON, every figure, the page."""
    model, code, folder, report = compared
    expected = SMOKE[model]
    assert code == 0
    problem = report["problem"]
    assert problem["model"] == expected["model"]
    assert problem["dataset"] == expected["dataset"]
    assert problem["num_params"] == expected["num_params"]
    assert problem["group_order"] == expected["group_order"]
    quotient = report["settings"]["quotient"]
    assert [run["method"] for run in report["runs"]] == quotient
    chains = report["settings"]["chains"]
    for run in report["runs"]:
        assert set(RUN_KEYS) <= set(run)
        assert run["chains"] == chains and run["draws"] == 10
        assert run["grad_evals"] > 0 and run["wall_seconds"] > 0
        raw = run["modes_raw"]  # None for fold: no raw draws
        assert run["modes_canonical"] <= (chains if raw is None else raw) <= chains
    page = (folder / "index.html").read_text()
    images = set(re.findall(r'<img src="([^"]+)"', page))
    figures = {"traces.png", "chain_rhat.png", "modes.png"}
    assert figures <= images
    assert ("predictive.png" in images) == expected["predictive"]
    for name in images:
        assert (folder / name).stat().st_size > 1000
    assert json.loads((folder / "compare.json").read_text()) == report
    assert "redundant = chains that landed in a canonical mode" in page


def test_the_mlp_group_order_is_48():
    problem = build_problem("mlp")
    assert round(10 ** problem.model.symmetry.log10_order()) == 48


@pytest.fixture
def no_sampling(monkeypatch):
    """Fail the test if ``compare`` ever reaches the sampler."""

    def sample(*args, **kwargs):
        raise AssertionError("sampling started")

    monkeypatch.setattr(symbayes.compare, "sample", sample)


def run_refused(arguments: list[str], capsys) -> str:
    """Run ``symbayes compare``, expect exit code 2, return the one line."""
    try:
        code = main(["compare", *TINY, *arguments])
    except SystemExit as exit_:  # argparse's own checks exit
        code = exit_.code
    assert code == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, error
    assert "Traceback" not in error
    return error.strip()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "forest"], "argument --model: invalid choice: 'forest'"),
        (["--dataset", "nowhere"], "--dataset: unknown dataset 'nowhere'"),
        (["--chains", "0"], "--chains: must be >= 2"),
        (["--chains", "1"], "--chains: must be >= 2"),
        (["--chains", "two"], "argument --chains: not an integer: 'two'"),
        (["--samples", "3"], "--samples: must be >= 4"),
        (["--warmup", "-1"], "--warmup: must be >= 0"),
        (["--seed", "-1"], "--seed: must be between 0 and"),
        (["--quotient", "none,spin"], "--quotient: unknown mode(s) 'spin'"),
        (["--quotient", "none,none"], "--quotient: modes repeat"),
        (["--quotient", ","], "--quotient: unknown mode(s) (none given)"),
        (["--layers", "2-3-1"], "--layers: 2-3-1 takes 2 input(s) but dataset"),
        (["--layers", "1-3-2"], "--layers: 1-3-2 has 2 outputs"),
        (["--layers", "1-3"], "--layers: '1-3' has no hidden layer"),
        (["--layers", "3-?-1"], "--layers: '3-?-1': ? stands only for"),
        (["--layers", "1-x-1"], "--layers: '1-x-1' is not a list of sizes"),
        (["--layers", "1-0-1"], "--layers: '1-0-1': sizes must be >= 1"),
        (["--activation", "cosh"], "argument --activation: invalid choice"),
        (["--kernel", "gibbs"], "argument --kernel: invalid choice: 'gibbs'"),
        (["--components", "3"], "--components applies to --model gmm only"),
        (["--latent", "2"], "--latent applies to --model ppca only"),
        (["--model", "gmm", "--layers", "1-3-1"], "--layers applies to --model mlp"),
        (["--model", "ppca", "--activation", "relu"], "--activation applies to"),
        (["--model", "mlp", "--components", "0"], "argument --components: must be"),
        (["--model", "ppca", "--latent", "9"], "--latent: must be between 1 and 5"),
        (
            ["--kernel", "mclmc", "--quotient", "none,reparam"],
            "--quotient: kernel 'mclmc' does not support reparam",
        ),
        (["--kernel", "sgld", "--quotient", "glue"], "does not support glue"),
        (["--budget", "2"], "--budget: must lie in (0, 1)"),
        (["--budget", "0.05", "--budget-max-chains", "1"], "--budget-max-chains: must"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_code_2(
    arguments, message, capsys, no_sampling
):
    assert message in run_refused(arguments, capsys)


def test_default_quotients_are_those_the_kernel_supports():
    from symbayes.compare import default_quotients

    assert default_quotients("nuts") == ("none", "reparam", "glue", "fold")
    assert default_quotients("sgld") == ("none", "reparam", "fold")
    assert default_quotients("mclmc") == ("none", "fold")


def test_bad_csv_is_a_one_line_error_naming_the_flag(tmp_path, capsys, no_sampling):
    with_nan = tmp_path / "nan.csv"
    with_nan.write_text("x,y\n1,2\n3,nan\n4,5\n")
    short_row = tmp_path / "short.csv"
    short_row.write_text("x,y\n1,2\n3\n4,5\n")
    cases = [
        (with_nan, "NaN"),
        (short_row, "line 3 has 1 field(s)"),
        (tmp_path / "missing.csv", "no CSV file"),
    ]
    for path, message in cases:
        error = run_refused(["--dataset", str(path)], capsys)
        assert error.startswith("symbayes compare: error: --dataset: ")
        assert message in error


def test_layers_take_their_input_size_from_a_csv(tmp_path):
    table = tmp_path / "three.csv"
    rows = "".join(f"{i},{i % 3},{i % 5},{i % 7}\n" for i in range(12))
    table.write_text("a,b,c,target\n" + rows)
    for layers, sizes in [
        ("4", (3, 4, 1)),
        ("?-4-?", (3, 4, 1)),
        ("?-4-2-?", (3, 4, 2, 1)),
        ("3-4-1", (3, 4, 1)),
    ]:
        problem = build_problem("mlp", str(table), layers=layers)
        assert problem.model.layer_sizes == sizes
        assert problem.data[0].shape == (12, 3)  # every row is used
    problem = build_problem("gmm", str(table), components=2)
    assert problem.data[0].shape == (12, 4)  # every column


@pytest.fixture
def outputs(tmp_path):
    """A regular file, and a report folder and --json file holding old results."""
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    old = tmp_path / "old"
    old.mkdir()
    (old / "index.html").write_text("old report")
    (old / "old.json").write_text("{}")
    return tmp_path, a_file, old


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else b""
        for path in sorted(folder.rglob("*"))
    }


def test_unwritable_outputs_are_refused_before_sampling(outputs, capsys, no_sampling):
    """Paths under a regular file fail for every user, root included."""
    tmp_path, a_file, old = outputs
    before = _snapshot(tmp_path)
    cases = [
        (["--output", str(a_file)], "--output: ", "exists and is not a folder"),
        (["--output", str(a_file / "sub")], "--output: ", "which is a file"),
        (["--json", str(a_file / "r.json")], "--json: ", "which is a file"),
        (["--json", str(old)], "--json: ", "is a folder, not a file"),
        (["--output", str(old / "index.html")], "--output: ", "is not a folder"),
    ]
    for arguments, flag, message in cases:
        error = run_refused(["--output", str(old), *arguments], capsys)
        assert f"error: {flag}" in error and message in error
    assert _snapshot(tmp_path) == before  # nothing written, nothing lost


def test_a_read_only_output_folder_is_refused_before_sampling(
    outputs, capsys, no_sampling
):
    tmp_path, _, old = outputs
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        probe = locked / "probe"
        try:
            probe.write_text("")
        except PermissionError:
            pass
        else:  # root: permission bits do not stop writes
            probe.unlink()
            pytest.skip("permission bits do not stop this user from writing")
        before = _snapshot(tmp_path)
        for arguments, flag in [
            (["--output", str(locked / "report")], "--output"),
            (["--output", str(old), "--json", str(locked / "r.json")], "--json"),
        ]:
            error = run_refused(arguments, capsys)
            assert f"error: {flag}: " in error and "cannot write in" in error
        assert _snapshot(tmp_path) == before
    finally:
        locked.chmod(0o755)


def test_a_read_only_report_file_is_refused_before_sampling(
    outputs, capsys, no_sampling
):
    _, _, old = outputs
    index = old / "index.html"
    index.chmod(0o444)
    try:
        if os.access(index, os.W_OK):
            pytest.skip("permission bits do not stop this user from writing")
        error = run_refused(["--output", str(old)], capsys)
        assert "--output: " in error and "index.html: cannot write it" in error
    finally:
        index.chmod(0o644)
    assert index.read_text() == "old report"


def test_report_files_are_the_ones_write_report_writes(compared):
    _, _, folder, _ = compared
    written = {path.name for path in folder.iterdir()}
    assert written <= set(REPORT_FILES)


def test_the_console_script_exits_2_without_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "symbayes.cli", "compare", "--model", "gmm"]
        + ["--layers", "1-3-1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "symbayes compare: error: --layers applies to --model mlp only, not --model gmm"
    )


def test_compare_checks_a_hand_made_problem_before_sampling(no_sampling):
    problem = build_problem("gmm")
    points = problem.data[0].copy()
    points[3, 0] = float("nan")
    bad = problem._replace(data=(points,))
    with pytest.raises(ValueError, match="X has 1 non-finite value.*NaN at row 3"):
        symbayes.compare.compare(bad, chains=2, samples=4)
