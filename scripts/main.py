"""The ``diffsim`` command: one entry point, one subcommand per module of this package.

Each subcommand module defines ``add_parser(subparsers)`` (every option stated once, with
its help text) and a ``run(args) -> int`` that calls the library; nothing else lives here.

Start-up is kept short: the parser lists the subcommands from :data:`SUBCOMMANDS` and imports
a subcommand's module only when that subcommand is given (``diffsim train ...``), so
``diffsim --help`` imports none of them, and the light subcommand modules (train, eval,
compare, sweep) import neither torch nor the method modules until they run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, Optional

from .. import __version__

SUBCOMMANDS: dict[str, str] = {
    "train": "train a controller",
    "eval": "evaluate a trained policy",
    "compare": "train several methods × seeds and compare",
    "plot": "draw trajectories, trebuchet shots and learning curves",
    "animate": "a GIF or MP4 of a rollout or a trebuchet shot",
    "bench": "steps/s of the physics (eager, fast) against Gymnasium and gymnax",
    "sweep": "search a method's hyperparameters, with early stopping (Optuna; serial or Ray)",
    "optimum": "the optimal return of a task on the protocol's starts (dynamic programming)",
    "codesign": "optimise the trebuchet's design through aim's solution (implicit gradients)",
    "record": "record trajectories of any Gymnasium env for diffsim fit (.npz)",
    "fit": "estimate a system's physical parameters from recorded data (system identification)",
    "grads": "the policy gradient's health against the horizon (norm, SNR, FD, Lyapunov)",
    "hypertune": "tune BPTT's learning rate, start spread and loss weight by hypergradients",
}
"""Subcommand → its one-line help (the module's ``add_parser`` states the same line)."""


class _Filler:
    """The ``subparsers`` a module's ``add_parser`` receives when it is loaded lazily.

    ``add_parser(name, help=..., description=..., formatter_class=...)`` fills the
    placeholder parser already listed under ``name`` and returns it; the help line the
    module states is kept in :attr:`helps` (tests compare it with :data:`SUBCOMMANDS`).
    """

    def __init__(self, action: _LazySubcommands):
        self.action = action
        self.helps: dict[str, Optional[str]] = {}

    def add_parser(self, name: str, help: Optional[str] = None, **kwargs: Any):  # noqa: A002
        parser = self.action.choices[name]
        for key, value in kwargs.items():
            if not hasattr(parser, key):
                raise TypeError(f"add_parser({name!r}) got an unknown argument {key!r}")
            setattr(parser, key, value)
        self.helps[name] = help
        return parser


class _LazySubcommands(argparse._SubParsersAction):
    """Subparsers whose options are added by the subcommand's module when it is chosen."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.loaded: set[str] = set()
        self.filler = _Filler(self)

    def load(self, name: str) -> argparse.ArgumentParser:
        """Import subcommand ``name``'s module and add its options (once)."""
        if name not in self.loaded:
            importlib.import_module(f"{__package__}.{name}").add_parser(self.filler)
            self.loaded.add(name)
        return self.choices[name]

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        if values and values[0] in self.choices:
            self.load(values[0])
        super().__call__(parser, namespace, values, option_string)


def build_parser(load_all: bool = False) -> argparse.ArgumentParser:
    """The ``diffsim`` argument parser.

    Args:
        load_all: Import every subcommand's module now and add its options (for
            documentation and tests). By default a subcommand's module is imported when the
            parsed arguments name it, so building the parser and ``diffsim --help`` import
            none of them.

    Returns:
        The parser; ``parse_args`` returns a namespace whose ``func`` runs the subcommand.
    """
    parser = argparse.ArgumentParser(
        prog="diffsim",
        description="Differentiable physics for control: train, evaluate, compare, plot, animate.",
    )
    parser.add_argument("--version", action="version", version=f"diffsim {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, action=_LazySubcommands
    )
    for name, help_line in SUBCOMMANDS.items():
        subparsers.add_parser(name, help=help_line)
    if load_all:
        for name in SUBCOMMANDS:
            subparsers.load(name)
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
