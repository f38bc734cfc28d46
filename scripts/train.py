"""``diffsim train ENV [--method METHOD]``: train a controller and write its run directory.

Without ``--method`` the task's default method is used: the one that solves it in the
project's benchmarks (docs/benchmarks.md), listed under ``--method`` below. With no options
beyond ``--method``, ``--seed`` and ``--out`` the method's tuned configuration for ENV is
used. Any field of the method's configuration can be overridden
with ``--set NAME=VALUE`` (VALUE is a Python literal: ``--set lr=0.01``,
``--set "policy={'kind': 'mlp', 'hidden': (64, 64)}"``); unknown names are an error that lists
the valid ones. The run directory holds ``policy.pt``, ``config.json`` and ``metrics.csv``;
running the same command again on an interrupted run's directory resumes it.
``--from DIR`` gives the run a method starts from (``--method retrofit --from runs/cp``
refines the trained policy of ``runs/cp``).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path
from typing import Any

from diffsim.controllers._names import METHOD_NAMES, defaults_help

from .common import (
    add_schedule_options,
    add_set_option,
    add_threads_option,
    apply_threads,
    env_help,
    with_default_method,
)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=0.1", "horizon=100"]`` → ``{"lr": 0.1, "horizon": 100}``."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[name.strip()] = raw  # a bare word: a string option such as loss=return
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a controller",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("env", metavar="ENV", help=env_help())
    p.add_argument(
        "--method",
        default=None,
        help=f"training method, one of {', '.join(METHOD_NAMES)} (default: the one that "
        f"solves the task: {defaults_help()})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every generator (default: 0)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="run directory (default: runs/<env>__<method>__<seed>__<time>)",
    )
    p.add_argument(
        "--budget",
        type=int,
        default=None,
        help="training transitions (default: the method's per-task budget)",
    )
    add_schedule_options(p)
    p.add_argument(
        "--no-stop",
        action="store_true",
        help="keep training after the task is solved (default: stop)",
    )
    add_set_option(p, "override a field of the method's configuration")
    p.add_argument(
        "--show-config",
        action="store_true",
        help="print the configuration that would be used and exit",
    )
    p.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        metavar="DIR",
        help="the run directory to start from (--method retrofit: the trained policy to refine)",
    )
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=with_default_method(run))


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    from diffsim.controllers import training as train_mod
    from diffsim.envs.rollout import resolve_env_id

    overrides = parse_overrides(args.overrides)
    if args.source is not None:
        method = train_mod.get_method(args.method, resolve_env_id(args.env))
        if not _has_source(method.config_class):
            takes = [n for n, m in train_mod.METHODS.items() if _has_source(m.config_class)]
            raise ValueError(
                f"--from is for the methods that start from a run ({', '.join(takes)}), "
                f"not {args.method}"
            )
        overrides["source"] = str(args.source)
    if args.show_config:
        method = train_mod.get_method(args.method, resolve_env_id(args.env))
        cfg = train_mod.build_config(method, resolve_env_id(args.env), overrides)
        for k, v in dataclasses.asdict(cfg).items():
            print(f"{k} = {v!r}")
        return 0
    result = train_mod.train(
        args.env,
        method=args.method,
        seed=args.seed,
        out=args.out,
        config=overrides,
        budget=args.budget,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        stop_when_solved=not args.no_stop,
        progress=not args.quiet,
        device=args.device,
    )
    last = result.metrics[-1]
    print(
        f"final evaluation: {train_mod.describe_evaluation(last)} after "
        f"{int(last['transitions'])} transitions, {last['train_seconds']:.2f} s of training"
    )
    if "objective_start" in last:  # retrofit: what the refinement gained on its objective
        print(
            f"objective {last['objective_start']:.4g} -> {last['objective']:.4g} on the "
            f"optimised starts, {last['test_objective_start']:.4g} -> "
            f"{last['test_objective']:.4g} on held-out ones"
        )
    if "miss_fraction_start" in last:  # the trebuchet's retrofit: its miss fraction
        print(
            f"misses past the threshold {100 * last['miss_fraction_start']:.2f} % -> "
            f"{100 * last['miss_fraction']:.2f} % of the retrofit pairs, "
            f"{100 * last['test_miss_fraction_start']:.2f} % -> "
            f"{100 * last['test_miss_fraction']:.2f} % of held-out ones (median miss "
            f"{100 * last['test_median_rel_miss_start']:.4f} % -> "
            f"{100 * last['test_median_rel_miss']:.4f} %)"
        )
    print(train_mod.outcome(result))  # solved when, or not solved and the best evaluation
    print(f"wrote {result.out}")
    return 0


def _has_source(config_class: type) -> bool:
    return "source" in {f.name for f in dataclasses.fields(config_class)}
