"""The ``symbayes`` command line.

``symbayes compare`` samples one posterior naively and on the quotient,
prints the diagnostics table and writes a report folder (JSON, PNG figures,
``index.html``). Every argument and output path is checked before anything
is compiled or sampled; bad input gives one line on stderr, naming the flag,
and exit code 2.

Each subcommand is a parser built by a ``_add_<name>`` function and a
``run_<name>`` function of the parsed arguments, dispatched on
``arguments.command`` by :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from symbayes._version import __version__

EXIT_USAGE = 2
DEFAULT_OUTPUT = "symbayes-report"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class UsageError(ValueError):
    """Bad input to a subcommand, naming the flag: one line, exit code 2.

    :func:`main` prints every ``ValueError``, ``FileNotFoundError`` and
    ``NotADirectoryError`` of a subcommand the same way.
    """


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _compare_epilog() -> str:
    from symbayes import datasets
    from symbayes.models import ACTIVATIONS

    def listing(label: str, names: Sequence[str]) -> str:
        return textwrap.fill(
            ", ".join(names),
            79,
            initial_indent=label,
            subsequent_indent="  ",
            break_on_hyphens=False,
        )

    return f"""\
models and the options they take:
  mlp   Gaussian-regression BNN with learned noise: --layers, --activation
  gmm   Gaussian mixture of every data column: --components
  ppca  Bayesian PCA (ARD prior) of every data column: --latent
  An option of another model is refused.

--layers: every size IN-HIDDEN...-OUT (1-3-1), or the hidden sizes with ? for
  the sizes the data give: ?-16-16-? takes the input size from the data's
  feature columns and one output; a single number, 16, means ?-16-?.

{listing("activations: ", tuple(ACTIVATIONS))}
  (odd ones add sign flips to the symmetry; relu-like ones a continuous
  rescaling, a function symmetry only)

{listing("datasets: ", datasets.available())}
  (bundled: the training split), or the path of a CSV file: comma-separated
  UTF-8 text, a header row of column names, then one row per data point,
  every field a number (no NaN, no empty fields). mlp: the features, then
  the target in the last column; gmm and ppca use every column. Every row
  is used; each column is standardised.
  Default per model: mlp sinusoidal; gmm 200 draws of a 1-D 3-component
  mixture; ppca 200 rows of 5-column data with 3 latent dimensions.

outputs: the report folder (--output) and --json are checked before any
sampling: writable, a folder and a file as asked; existing files of the
report are overwritten.

example: symbayes compare --model gmm --components 3 --chains 4 --quotient none,fold
"""


def _add_compare(commands: argparse._SubParsersAction) -> None:
    from symbayes.compare import DEFAULTS, KERNELS, MODELS, QUOTIENT_MODES
    from symbayes.models import ACTIVATIONS

    compare = commands.add_parser(
        "compare",
        help="naive vs quotient sampling on one problem: table and report",
        description=textwrap.fill(
            "Sample one posterior with naive (quotient 'none') and quotient "
            "samplers, diagnose every run on raw, canonical and function "
            "coordinates, print the table and write a report folder. Without "
            "arguments: a 1-3-1 tanh BNN on the bundled sinusoidal data, NUTS, "
            "none vs reparam, glue and fold, 8 chains x 400 draws.",
            79,
        ),
        epilog=_compare_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "--model",
        default=DEFAULTS["model"],
        choices=MODELS,
        help=f"the model (default {DEFAULTS['model']})",
    )
    compare.add_argument(
        "--layers",
        help=f"mlp layer sizes (default {DEFAULTS['layers']}: 3 hidden units, "
        "input size from the data)",
    )
    compare.add_argument(
        "--activation",
        choices=tuple(ACTIVATIONS),
        metavar="NAME",
        help=f"mlp activation (default {DEFAULTS['activation']}; listed below)",
    )
    compare.add_argument(
        "--components",
        type=_positive,
        help=f"gmm mixture components (default {DEFAULTS['components']})",
    )
    compare.add_argument(
        "--latent",
        type=_positive,
        help=f"ppca latent dimension (default {DEFAULTS['latent']})",
    )
    compare.add_argument(
        "--dataset",
        metavar="NAME_OR_CSV",
        help="bundled dataset name or CSV path (default per model; see below)",
    )
    compare.add_argument(
        "--kernel",
        default=DEFAULTS["kernel"],
        choices=KERNELS,
        help=f"transition kernel (default {DEFAULTS['kernel']})",
    )
    compare.add_argument(
        "--quotient",
        default=None,
        metavar="MODES",
        help=f"comma-separated modes from {', '.join(QUOTIENT_MODES)} "
        f"(default {','.join(DEFAULTS['quotient'])}: those the kernel supports)",
    )
    compare.add_argument(
        "--chains",
        type=_integer,
        default=DEFAULTS["chains"],
        help=f"chains per mode, >= 2 (default {DEFAULTS['chains']})",
    )
    compare.add_argument(
        "--warmup",
        type=_integer,
        default=DEFAULTS["warmup"],
        help=f"warmup transitions per chain (default {DEFAULTS['warmup']})",
    )
    compare.add_argument(
        "--samples",
        type=_integer,
        default=DEFAULTS["samples"],
        help=f"kept draws per chain, >= 4 (default {DEFAULTS['samples']})",
    )
    compare.add_argument(
        "--seed",
        type=_integer,
        default=DEFAULTS["seed"],
        help="seed of the initial points, the sampler and synthetic data "
        f"(default {DEFAULTS['seed']})",
    )
    compare.add_argument(
        "--output",
        default=DEFAULT_OUTPUT,
        metavar="FOLDER",
        help=f"report folder, created if needed (default {DEFAULT_OUTPUT})",
    )
    compare.add_argument(
        "--json", dest="json_path", metavar="FILE", help="also write the JSON here"
    )
    compare.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="TARGET",
        help="also run, per method, batches of --chains chains until the "
        "canonical unseen-mode mass (Good-Turing) is below TARGET, e.g. 0.05, "
        "and report the chains and gradients it took",
    )
    compare.add_argument(
        "--budget-max-chains",
        type=_integer,
        default=64,
        metavar="N",
        help="cap on chains of --budget (default 64)",
    )
    compare.add_argument(
        "--quiet", action="store_true", help="no progress lines on stderr"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symbayes`` command."""
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
    _add_compare(commands)
    _add_diagnose(commands)
    return parser


def _flag(option: str) -> str:
    return "--json" if option == "json_path" else f"--{option}"


def _model_options(arguments: argparse.Namespace) -> dict[str, object]:
    """The model options given, checked against ``--model``, with defaults."""
    from symbayes.compare import DEFAULTS, MODEL_OPTIONS

    options: dict[str, object] = {}
    for option, models in MODEL_OPTIONS.items():
        value = getattr(arguments, option)
        if value is not None and arguments.model not in models:
            takers = ", ".join(models)
            raise UsageError(
                f"{_flag(option)} applies to --model {takers} only, not "
                f"--model {arguments.model}"
            )
        options[option] = DEFAULTS[option] if value is None else value
    return options


def run_compare(arguments: argparse.Namespace) -> int:
    """Run ``symbayes compare`` with parsed arguments.

    Order: the options, the output paths, the data and the model (each
    checked, before anything is compiled), then the sampling, the table and
    the report.

    Raises:
        UsageError: naming the flag.
    """
    from symbayes.compare import (
        OptionError,
        build_problem,
        check_settings,
        compare,
        default_quotients,
    )
    from symbayes.report import (
        check_output_file,
        check_report_folder,
        comparison_table,
        write_report,
    )

    options = _model_options(arguments)
    if arguments.quotient is None:
        quotient = default_quotients(arguments.kernel)
    else:
        quotient = tuple(q.strip() for q in arguments.quotient.split(",") if q.strip())
    output = Path(arguments.output)
    json_path = None if arguments.json_path is None else Path(arguments.json_path)
    try:
        check_settings(
            kernel=arguments.kernel,
            quotient=quotient,
            chains=arguments.chains,
            warmup=arguments.warmup,
            samples=arguments.samples,
        )
        for option, check, path in (
            ("output", check_report_folder, output),
            ("json_path", check_output_file, json_path),
        ):
            if path is None:
                continue
            try:
                check(path)
            except ValueError as error:
                raise OptionError(option, str(error)) from None
        problem = build_problem(
            arguments.model, arguments.dataset, seed=arguments.seed, **options
        )
    except OptionError as error:
        raise UsageError(f"{_flag(error.option)}: {error.message}") from None
    say: Callable[[str], None] = (
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
        budget=arguments.budget,
        budget_max_chains=arguments.budget_max_chains,
    )
    print(comparison_table(report))
    index = write_report(output, report, runs, model=problem.model, data=problem.data)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2))
    print(f"report: {index}")
    return 0


def _add_diagnose(commands: argparse._SubParsersAction) -> None:
    from symbayes import diagnose_cli

    diagnose_cli.add_parser(commands)


def run_diagnose(arguments: argparse.Namespace) -> int:
    """Run ``symbayes diagnose`` with parsed arguments."""
    from symbayes import diagnose_cli

    return diagnose_cli.run(arguments)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "compare": run_compare,
    "diagnose": run_diagnose,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symbayes`` console script."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[arguments.command](arguments)
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"symbayes {arguments.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
