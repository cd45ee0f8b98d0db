"""``symbayes diagnose RUN.nc``: saved arviz and symbayes runs, errors."""

from __future__ import annotations

import json
import re

import arviz as az
import jax
import numpy as np
import pytest
from test_draws import CHAINS, MODEL, raw_posterior

from symbayes.canonical import canonicalize
from symbayes.cli import main
from symbayes.results import SampleResult, Timings

AXIS = ["--axis", "hidden_1", "permutation,sign", "W1:1:in,b1:0:in,W2:0:out"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diagnose")
    posterior = raw_posterior()
    foreign = folder / "numpyro_like.nc"
    az.from_dict(posterior=posterior).to_netcdf(str(foreign))
    canonical = canonicalize(posterior, MODEL.symmetry, batch_ndim=2)
    ours = SampleResult(
        draws=jax.tree_util.tree_map(np.asarray, canonical),
        raw_draws=posterior,
        sample_stats={},
        timings=Timings(0.0, 0.0, 0.0, 0.0, 0),
        config={"quotient": "none"},
        symmetry=MODEL.symmetry,
    ).save(folder / "symbayes.nc")
    return folder, foreign, ours


def test_diagnose_a_foreign_run_with_declared_axes(saved, capsys):
    folder, foreign, _ = saved
    json_path = folder / "out" / "report.json"
    code = main(["diagnose", str(foreign), *AXIS, "--json", str(json_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "canonical mode 0: 3 chain(s) [0, 1, 2]" in out
    assert "unseen-mode mass (canonical): 0.000" in out
    report = json.loads(json_path.read_text())
    assert report["summary"]["modes_canonical"] == 1
    assert report["summary"]["modes_raw"] == CHAINS
    assert report["canonical_modes"][0]["chains"] == [0, 1, 2]


def test_diagnose_a_symbayes_run_needs_no_axes(saved, capsys):
    _, _, ours = saved
    assert main(["diagnose", str(ours)]) == 0
    assert "canonical mode 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing.nc"], "no run file at missing.nc"),
        ([], "was not written by symbayes: declare its symmetry with --axis"),
        (["--axis", "h", "rotation", "W1:1"], "groups 'rotation' must be"),
        (["--axis", "h", "sign", "W9:1"], "variable 'W9' is not in the run"),
        (["--axis", "h", "sign", "W1:x"], "axis 'x' of 'W1' is not an integer"),
        (["--axis", "h", "sign", "W1"], "entry 'W1' is not VARIABLE:AXIS"),
        (["--var-names", "W7"], r"no variable\(s\) \['W7'\]"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(saved, capsys, arguments, message):
    folder, foreign, _ = saved
    if arguments and arguments[0] == "missing.nc":
        command = ["diagnose", *arguments]
    else:
        command = ["diagnose", str(foreign), *arguments]
    assert main(command) == 2
    error = capsys.readouterr().err
    assert error.startswith("symbayes diagnose: error: ")
    assert len(error.strip().splitlines()) == 1
    assert re.search(message, error)
