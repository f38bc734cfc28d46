"""``diffsim compare ENV --methods bptt,... --seeds N --out DIR``: methods side by side.

Every method × seed is trained on the same evaluation schedule (``--eval-every``
transitions, 100 evaluation episodes, fixed evaluation seed, deterministic policy) into
``DIR/runs/``; the learning curves, machine, versions and command go to
``DIR/results.json``; the summary table is printed and written to ``DIR/summary.txt``; the
learning curves are drawn to ``DIR/curves.png``. Rerunning the command resumes an
interrupted comparison: finished cells are read back, not retrained.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Union

from diffsim.controllers._names import METHOD_NAMES, default_method, defaults_help

from .common import add_schedule_options, add_threads_option, apply_threads, env_help


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="train several methods × seeds and compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("env", metavar="ENV", help=env_help())
    p.add_argument(
        "--methods",
        default=None,
        help=f"comma-separated methods, of {', '.join(METHOD_NAMES)} (default: the task's "
        f"default method: {defaults_help()})",
    )
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per method (default: 5)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument(
        "--budget",
        type=parse_budget,
        default=None,
        help="training transitions per run: N for every method, or per method "
        "'bptt=10000,ppo=50000' (default: each method's own)",
    )
    add_schedule_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_threads_option(p)
    p.set_defaults(func=_run_with_default_methods)


def _run_with_default_methods(args: argparse.Namespace) -> int:
    """:func:`run` with ``args.methods`` resolved: no ``--methods`` means the task's default."""
    if args.methods is None:
        args.methods = default_method(args.env)
    return run(args)


def parse_budget(text: str) -> Union[int, dict[str, int]]:
    """``N`` or ``METHOD=N,METHOD=N`` (transitions) → an int or a dict."""
    try:
        if "=" not in text:
            return int(text)
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return {name.strip(): int(value) for name, value in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected N or METHOD=N,METHOD=N (integers), got {text!r}"
        ) from None


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    from diffsim.controllers.checkpoint import write_atomically
    from diffsim.controllers.compare import compare, format_summary

    from .plots import curves_figure

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    result = compare(
        args.env,
        methods,
        args.seeds,
        args.out,
        budget=args.budget,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        progress=not args.quiet,
    )
    table = format_summary(result)
    print(table)
    write_atomically(args.out / "summary.txt", lambda f: f.write(table + "\n"), text=True)
    curves = {m: [c["curve"] for c in result["cells"] if c["method"] == m] for m in methods}
    fig = curves_figure(
        curves,
        solved_return=result["solved_return"],
        title=f"{result['env_id']}: median and range over seeds",
    )
    write_atomically(args.out / "curves.png", lambda f: fig.savefig(f, format="png", dpi=110))
    print(
        f"wrote {args.out / 'results.json'}, {args.out / 'summary.txt'}, {args.out / 'curves.png'}"
    )
    return 0
