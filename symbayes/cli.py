"""The ``symbayes`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from symbayes._version import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symbayes`` command."""
    parser = argparse.ArgumentParser(
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
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symbayes`` console script."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
