"""The ``symbayes`` command: --help, --version, ``compare`` end to end, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from symbayes import __version__
from symbayes.cli import main
from symbayes.compare import RUN_KEYS

TINY = ["--chains", "3", "--warmup", "30", "--samples", "20", "--quiet"]


def test_console_script_help_and_version():
    done = subprocess.run(
        [sys.executable, "-m", "symbayes.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == f"symbayes {__version__}"
    done = subprocess.run(
        [sys.executable, "-m", "symbayes.cli", "compare", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--quotient" in done.stdout and "--json" in done.stdout


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    json_path = folder / "out" / "result.json"
    code = main(
        ["compare", *TINY, "--quotient", "none,fold"]
        + ["--output", str(folder / "report"), "--json", str(json_path)]
    )
    return code, folder / "report", json.loads(json_path.read_text())


def test_compare_writes_json_with_every_key(compared):
    code, _, report = compared
    assert code == 0
    problem = report["problem"]
    assert problem["model"] == "mlp 1-3-1 tanh"
    assert problem["dataset"] == "sinusoidal"
    assert problem["num_params"] == 11  # 3 + 3 + 3 + 1 + log_noise
    assert problem["log10_group_order"] == pytest.approx(1.6812, abs=1e-3)  # 48
    assert [run["method"] for run in report["runs"]] == ["none", "fold"]
    for run in report["runs"]:
        assert set(RUN_KEYS) <= set(run)
        assert run["chains"] == 3 and run["draws"] == 20
        assert run["grad_evals"] > 0 and run["wall_seconds"] > 0
        raw = run["modes_raw"]  # None for fold: no raw draws
        assert run["modes_canonical"] <= (3 if raw is None else raw) <= 3


def test_compare_html_references_existing_images(compared):
    _, folder, _ = compared
    page = (folder / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert {"traces.png", "chain_rhat.png", "modes.png", "predictive.png"} <= set(
        images
    )
    for name in images:
        assert (folder / name).stat().st_size > 1000
    assert json.loads((folder / "compare.json").read_text())["runs"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "forest"], "unknown model 'forest'"),
        (["--dataset", "nowhere"], "unknown dataset 'nowhere'"),
        (["--chains", "0"], "--chains must be >= 1"),
        (["--chains", "1"], "chains must be >= 2"),
        (["--quotient", "none,spin"], "unknown quotient mode"),
        (["--layers", "2-3-1"], "1 feature column(s) but the MLP 2-3-1"),
        (["--kernel", "gibbs"], "invalid choice: 'gibbs'"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_code_2(arguments, message, capsys):
    try:
        code = main(["compare", *TINY, *arguments])
    except SystemExit as exit_:  # argparse's own checks exit
        code = exit_.code
    assert code == 2
    error = capsys.readouterr().err
    assert message in error
    assert len(error.strip().splitlines()) == 1
    assert "Traceback" not in error


def test_bad_csv_and_output_are_one_line_errors(tmp_path, capsys):
    with_nan = tmp_path / "nan.csv"
    with_nan.write_text("x,y\n1,2\n3,nan\n4,5\n")
    short_row = tmp_path / "short.csv"
    short_row.write_text("x,y\n1,2\n3\n4,5\n")
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    cases = [
        (["--dataset", str(with_nan)], "NaN"),
        (["--dataset", str(short_row)], "line 3 has 1 field(s)"),
        (["--dataset", str(tmp_path / "missing.csv")], "no CSV file"),
        (["--output", str(a_file)], "is not a folder"),
    ]
    for arguments, message in cases:
        assert main(["compare", *TINY, *arguments]) == 2
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1
    assert a_file.read_text() == "not a folder"


def test_the_console_script_exits_2_without_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "symbayes.cli", "compare", "--model", "forest"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "symbayes compare: error: unknown model 'forest'; choose from mlp, gmm, ppca"
    )
