"""``symbayes diagnose RUN.nc``: diagnose a saved run from the command line.

The file is a netCDF written by arviz (``idata.to_netcdf``, e.g. after
``az.from_numpyro``, ``pm.sample`` or ``az.from_cmdstanpy``) or by symbayes
(:meth:`SampleResult.save <symbayes.results.SampleResult.save>`). A symbayes
run is already canonical; other draws need their symmetry, declared on the
variable names with one ``--axis NAME GROUPS ENTRIES`` per hidden axis::

    symbayes diagnose run.nc \\
        --axis hidden permutation,sign W1:1:in,b1:0:in,W2:0:out

``GROUPS`` is a comma-separated subset of ``permutation,sign,scale``;
``ENTRIES`` lists ``VARIABLE:AXIS:ROLE`` (role ``in``, ``out`` or
``permute``; the axis indexes the variable's per-draw shape). The axis size
is read from the first entry. Prints the diagnostics table, one line per
canonical mode, and the unseen-mode mass; ``--json PATH`` also writes them.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_parser", "parse_axis", "run"]

_GROUPS = ("permutation", "sign", "scale")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``diagnose`` subcommand on ``commands`` (argparse subparsers)."""
    parser = commands.add_parser(
        "diagnose",
        help="diagnose a saved run (arviz or symbayes netCDF)",
        description=(
            "ESS, R-hat, modes and unseen-mode mass of a saved run on raw, "
            "canonical (and, for symbayes runs, no function) coordinates. Draws "
            "not written by symbayes need --axis to declare their symmetry."
        ),
    )
    parser.add_argument("run", help="netCDF file (arviz InferenceData or symbayes)")
    parser.add_argument(
        "--axis",
        nargs=3,
        action="append",
        default=[],
        metavar=("NAME", "GROUPS", "ENTRIES"),
        help="a hidden axis: name, groups (e.g. permutation,sign) and entries "
        "VARIABLE:AXIS:ROLE,... (repeat for several axes)",
    )
    parser.add_argument(
        "--var-names", help="comma-separated variables to diagnose (default all)"
    )
    parser.add_argument("--group", default="posterior", help="group of the draws")
    parser.add_argument(
        "--threshold", type=float, default=1.1, help="R-hat threshold of the modes"
    )
    parser.add_argument(
        "--canonical",
        default="sort",
        choices=("sort", "relabel"),
        help="canonical map for raw draws",
    )
    parser.add_argument("--json", dest="json_path", help="also write JSON here")
    return parser


def parse_axis(name: str, groups: str, entries: str, shapes: dict[str, tuple]) -> Any:
    """A :class:`~symbayes.symmetry.HiddenAxis` from the three ``--axis`` words.

    Args:
        name: the axis name.
        groups: comma-separated groups.
        entries: ``VARIABLE:AXIS:ROLE`` items, comma-separated.
        shapes: per-draw shape of every variable (for the size, and checks).

    Raises:
        ValueError: naming the malformed part.
    """
    from symbayes.symmetry import AxisEntry, HiddenAxis

    chosen = tuple(g.strip() for g in groups.split(",") if g.strip())
    unknown = [g for g in chosen if g not in _GROUPS]
    if unknown or not chosen:
        raise ValueError(
            f"--axis {name}: groups {groups!r} must be a comma-separated subset of "
            f"{','.join(_GROUPS)}"
        )
    built = []
    for item in entries.split(","):
        parts = item.strip().split(":")
        if len(parts) not in (2, 3):
            raise ValueError(
                f"--axis {name}: entry {item!r} is not VARIABLE:AXIS[:ROLE]"
            )
        variable, axis = parts[0], parts[1]
        role = parts[2] if len(parts) == 3 else "in"
        if variable not in shapes:
            raise ValueError(
                f"--axis {name}: variable {variable!r} is not in the run; "
                f"variables: {sorted(shapes)}"
            )
        try:
            index = int(axis)
        except ValueError as error:
            raise ValueError(
                f"--axis {name}: axis {axis!r} of {variable!r} is not an integer"
            ) from error
        shape = shapes[variable]
        if not -len(shape) <= index < len(shape):
            raise ValueError(
                f"--axis {name}: variable {variable!r} has per-draw shape {shape}, "
                f"without axis {index}"
            )
        built.append(AxisEntry((variable,), index, role))
    first = built[0]
    size = shapes[first.path[0]][first.axis]
    return HiddenAxis(name, size, tuple(built), groups=chosen)


def _open(path: Path) -> Any:
    """The run as arviz InferenceData (arviz < 1) or an xarray DataTree."""
    from symbayes.results import ARVIZ_MAJOR

    if ARVIZ_MAJOR >= 1:
        import xarray as xr

        return xr.open_datatree(str(path)).load()
    import arviz as az

    return az.from_netcdf(str(path))


def _finite(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return int(value) if isinstance(value, np.integer) else value


def run(arguments: argparse.Namespace) -> int:
    """Run ``symbayes diagnose`` with parsed arguments."""
    from symbayes.diagnostics import diagnose
    from symbayes.draws import as_draws
    from symbayes.symmetry import Symmetry

    path = Path(arguments.run)
    if not path.is_file():
        raise FileNotFoundError(f"no run file at {path}")
    var_names: Sequence[str] | None = None
    if arguments.var_names:
        var_names = [v.strip() for v in arguments.var_names.split(",") if v.strip()]
    data = _open(path)
    read = as_draws(data, var_names=var_names, group=arguments.group)
    symmetry = None
    if arguments.axis:
        shapes = {
            name: np.shape(value)[2:] for name, value in dict(read.params).items()
        }
        symmetry = Symmetry(
            tuple(parse_axis(*words, shapes=shapes) for words in arguments.axis)
        )
    elif not read.canonical:
        raise ValueError(
            f"{path} was not written by symbayes: declare its symmetry with --axis "
            "NAME GROUPS VARIABLE:AXIS:ROLE,..."
        )
    report = diagnose(
        data,
        symmetry=symmetry,
        threshold=arguments.threshold,
        canonical=arguments.canonical,
        var_names=var_names,
        group=arguments.group,
    )
    print(report.table())
    modes = report.canonical.modes.modes
    for index, mode in enumerate(modes):
        print(
            f"canonical mode {index}: {len(mode.chains)} chain(s) {list(mode.chains)}, "
            f"weight {mode.weight:.2f}, {'settled' if mode.settled else 'not settled'}"
        )
    unseen = report.canonical.unseen
    low, high = unseen.interval
    print(
        f"unseen-mode mass (canonical): {unseen.good_turing:.3f} "
        f"[{low:.3f}, {high:.3f}] at {unseen.level:.0%}; Chao1 {unseen.chao1:.1f} modes"
    )
    if arguments.json_path is not None:
        out = {
            "run": str(path),
            "summary": {k: _finite(v) for k, v in report.summary().items()},
            "canonical_modes": [
                {
                    "chains": list(mode.chains),
                    "weight": mode.weight,
                    "settled": mode.settled,
                }
                for mode in modes
            ],
        }
        json_path = Path(arguments.json_path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(out, indent=2))
    return 0
