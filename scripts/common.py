"""Pieces shared by the subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, Optional


def env_help() -> str:
    """The help text of an ENV argument: every valid task name and id (imports no torch)."""
    from diffsim.controllers._names import GYMNASIUM_TWIN_NAMES, TASK_NAMES

    return (
        f"a task: a short name ({', '.join(TASK_NAMES)}) or this project's id "
        f"({', '.join(TASK_NAMES.values())}); the SB3 baselines also take Gymnasium's "
        f"{' and '.join(GYMNASIUM_TWIN_NAMES)}"
    )


def add_schedule_options(parser: argparse.ArgumentParser) -> None:
    """``--eval-every`` and ``--eval-episodes``: the benchmark protocol's evaluation schedule."""
    from diffsim.controllers._names import EVAL_EPISODES

    parser.add_argument(
        "--eval-every",
        type=int,
        default=1000,
        help="evaluation interval in transitions (default: 1000)",
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=EVAL_EPISODES,
        help=f"episodes per evaluation (default: {EVAL_EPISODES})",
    )


def add_set_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set NAME=VALUE`` (repeatable), collected as strings in ``args.overrides``; parsed
    by :func:`diffsim.scripts.train.parse_overrides`."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"{help} (repeatable)",
    )


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch's CPU thread count for the command."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice)",
    )


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's CPU threads from ``args.threads`` (if given; must be positive)."""
    if args.threads is None:
        return
    import torch

    if args.threads < 1:
        raise ValueError(f"--threads must be positive, got {args.threads}")
    torch.set_num_threads(args.threads)


def with_default_method(
    run: Callable[[argparse.Namespace], int], dest: str = "method"
) -> Callable[[argparse.Namespace], int]:
    """``run`` with ``args.<dest>`` resolved first: ``None`` (the option not given) becomes the
    task's default method (:func:`diffsim.controllers._names.default_method`)."""

    def resolved(args: argparse.Namespace) -> int:
        if getattr(args, dest) is None:
            from diffsim.controllers._names import default_method

            setattr(args, dest, default_method(args.env))
        return run(args)

    return resolved


def result_header(module: str, argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """The ``command`` (``python -m diffsim.scripts.MODULE ARGS``, ``argv`` or the process's
    arguments) and ``machine`` (:func:`diffsim.controllers.training.versions`) fields that a
    measurement script's result file opens with."""
    from diffsim.controllers.training import versions

    args = list(argv) if argv is not None else sys.argv[1:]
    return {
        "command": " ".join([f"python -m diffsim.scripts.{module}", *args]),
        "machine": versions(),
    }
