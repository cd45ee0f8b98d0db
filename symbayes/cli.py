"""The ``symbayes`` command line.

``symbayes compare`` samples one posterior naively and on the quotient,
prints the diagnostics table and writes a report folder (JSON, PNG figures,
``index.html``). Bad input gives one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from symbayes import diagnose_cli
from symbayes._version import __version__

EXIT_USAGE = 2
DEFAULT_OUTPUT = "symbayes-report"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symbayes`` command."""
    from symbayes.compare import DEFAULTS, MODELS, QUOTIENT_MODES

    parser = _Parser(
        prog="symbayes",
        description=(
            "Bayesian posterior sampling on parameter spaces with symmetries: "
            "HMC, NUTS, SGLD and SGHMC on the quotient, with symmetry-aware "
            "diagnostics."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"symbayes {__version__}"
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )
    compare = commands.add_parser(
        "compare",
        help="naive vs quotient sampling on one problem: table and report",
        description=(
            "Sample one posterior with naive (quotient 'none') and quotient "
            "samplers, diagnose every run on raw, canonical and function "
            "coordinates, print the table and write a report folder. Without "
            "arguments: a 1-3-1 tanh BNN on the bundled sinusoidal data, NUTS, "
            "none vs reparam, reflect and fold, 8 chains."
        ),
    )
    compare.add_argument("--model", default=DEFAULTS["model"], help=f"{MODELS}")
    compare.add_argument(
        "--layers", default=DEFAULTS["layers"], help="MLP sizes (default 1-3-1)"
    )
    compare.add_argument(
        "--activation", default=DEFAULTS["activation"], help="MLP activation"
    )
    compare.add_argument(
        "--components",
        type=_positive,
        default=DEFAULTS["components"],
        help="mixture components (gmm)",
    )
    compare.add_argument(
        "--latent",
        type=_positive,
        default=DEFAULTS["latent"],
        help="latent dimension (ppca)",
    )
    compare.add_argument(
        "--dataset",
        default=DEFAULTS["dataset"],
        help="bundled dataset name or CSV path (default per model)",
    )
    compare.add_argument(
        "--kernel", default=DEFAULTS["kernel"], choices=("nuts", "hmc", "sgld", "sghmc")
    )
    compare.add_argument(
        "--quotient",
        default=",".join(DEFAULTS["quotient"]),
        help=f"comma-separated modes from {', '.join(QUOTIENT_MODES)}",
    )
    compare.add_argument("--chains", type=int, default=DEFAULTS["chains"])
    compare.add_argument("--warmup", type=int, default=DEFAULTS["warmup"])
    compare.add_argument("--samples", type=int, default=DEFAULTS["samples"])
    compare.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    compare.add_argument(
        "--output", default=DEFAULT_OUTPUT, help="report folder (created)"
    )
    compare.add_argument("--json", dest="json_path", help="also write the JSON here")
    compare.add_argument("--quiet", action="store_true", help="no progress lines")
    diagnose_cli.add_parser(commands)
    return parser


def _check_output(path: Path, what: str) -> None:
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} exists and is not a folder")


def run_compare(arguments: argparse.Namespace) -> int:
    """Run ``symbayes compare`` with parsed arguments."""
    from symbayes.compare import build_problem, compare
    from symbayes.report import comparison_table, write_report

    output = Path(arguments.output)
    _check_output(output, "output folder")
    if arguments.json_path is not None:
        json_path = Path(arguments.json_path)
        if json_path.is_dir():
            raise ValueError(f"--json {json_path} is a folder, not a file")
        _check_output(json_path.parent, "folder of --json")
    if arguments.chains < 1:
        raise ValueError(f"--chains must be >= 1, got {arguments.chains}")
    quotient = tuple(q.strip() for q in arguments.quotient.split(",") if q.strip())
    problem = build_problem(
        arguments.model,
        arguments.dataset,
        layers=arguments.layers,
        activation=arguments.activation,
        components=arguments.components,
        latent=arguments.latent,
        seed=arguments.seed,
    )
    say = (
        (lambda line: None)
        if arguments.quiet
        else (lambda line: print(line, file=sys.stderr, flush=True))
    )
    say(
        f"{problem.description} on {problem.dataset.name}: {arguments.kernel}, "
        f"{', '.join(quotient)}; {arguments.chains} chains x {arguments.samples} "
        f"draws ({arguments.warmup} warmup)"
    )
    report, runs = compare(
        problem,
        kernel=arguments.kernel,
        quotient=quotient,
        chains=arguments.chains,
        warmup=arguments.warmup,
        samples=arguments.samples,
        seed=arguments.seed,
        progress=say,
    )
    print(comparison_table(report))
    index = write_report(output, report, runs, model=problem.model, data=problem.data)
    if arguments.json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2))
    print(f"report: {index}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symbayes`` console script."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 0
    try:
        if arguments.command == "diagnose":
            return diagnose_cli.run(arguments)
        return run_compare(arguments)
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"symbayes {arguments.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
