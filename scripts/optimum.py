"""``diffsim optimum TASK``: the optimal return of a task on the benchmark protocol's starts.

Finite-horizon dynamic programming on a grid of states (:mod:`diffsim.controllers.optimum`):
the optimal value of every grid state at every step of the episode, by backward induction
through the system's own step and reward, then the greedy policy played on the protocol's
evaluation (100 episodes from the fixed evaluation seed, on the task's env). Each grid of
``--grids`` (coarse to fine) gives its evaluated return, which shows the grid's
convergence; the finest is the figure. The greedy policy is a policy, so its return is
reached, and the optimum is at least as good. Tasks whose system has a two-dimensional,
bounded state: pendulum, pendulum-2019, mountaincar, mountaincar-continuous.

Writes ``--out`` (JSON: the command, the machine, each grid's figures and every episode's
return) and prints one line per grid::

    diffsim optimum pendulum --out docs/results/optimum_pendulum.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import env_help


def grid_list(text: str) -> list[tuple[int, int]]:
    """``--grids``: comma-separated ``NxM`` sizes (``90x61,180x121``), each at least 2x2."""
    grids = []
    for part in text.split(","):
        try:
            n, m = (int(x) for x in part.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected grid sizes NxM separated by commas (e.g. 90x61,180x121), got {text!r}"
            ) from None
        if min(n, m) < 2:
            raise argparse.ArgumentTypeError(f"a grid needs at least 2x2 points, got {part!r}")
        grids.append((n, m))
    return grids


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "optimum",
        help="the optimal return of a task on the protocol's starts (dynamic programming)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("env", metavar="TASK", help=env_help())
    p.add_argument(
        "--grids",
        type=grid_list,
        default=[(90, 61), (180, 121), (360, 241)],
        metavar="NxM,...",
        help="grid sizes (points per state coordinate), coarse to fine; the last is the "
        "figure (default: 90x61,180x121,360x241)",
    )
    p.add_argument(
        "--actions",
        type=int,
        default=41,
        help="evenly spaced actions of a continuous task (a discrete one uses its own; "
        "default: 41)",
    )
    p.add_argument("--episodes", type=int, default=100, help="evaluation episodes (default: 100)")
    p.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diffsim.controllers.checkpoint import write_json
    from diffsim.controllers.optimum import optimum
    from diffsim.controllers.training import versions

    if args.episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {args.episodes}")
    result = optimum(args.env, args.grids, args.actions, args.episodes, progress=not args.quiet)
    result["command"] = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    result["machine"] = versions()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(
        f"{result['env_id']}: optimum {result['optimum']:.2f} (standard error "
        f"{result['standard_error']:.2f}) over {args.episodes} episodes; wrote {args.out}"
    )
    return 0
