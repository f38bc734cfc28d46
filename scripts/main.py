"""The ``diffsim`` command: one entry point, one subcommand per module of this package.

Each subcommand module defines ``add_parser(subparsers)`` (every option stated once, with
its help text) and a ``run(args) -> int`` that calls the library; nothing else lives here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional

from .. import __version__

SUBCOMMANDS = ("train", "eval", "compare", "plot", "animate", "bench")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommand modules are imported here)."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="diffsim",
        description="Differentiable physics for control: train, evaluate, compare, plot, animate.",
    )
    parser.add_argument("--version", action="version", version=f"diffsim {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__package__}.{name}").add_parser(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError) as exc:
        print(f"diffsim {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
