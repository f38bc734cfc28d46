"""``diffsim compare ENV --methods bptt,... --seeds N --out DIR``: methods side by side.

Every method × seed is trained on the same evaluation schedule (``--eval-every``
transitions, 100 evaluation episodes, fixed evaluation seed, deterministic policy) into
``DIR/runs/``; the learning curves, machine, versions and command go to
``DIR/results.json``; the summary table is printed and written to ``DIR/summary.txt``; the
learning curves are drawn to ``DIR/curves.png``. Rerunning the command resumes an
interrupted comparison: finished cells are read back, not retrained. ``--merge RESULTS``
adds an earlier comparison of other cells (other methods, or other seeds: ``--seeds 3,4``) on
the same task and schedule to this one's files, so that a long comparison can be run one
method per sitting; with ``--replace`` this run's methods replace that comparison's cells of
the same methods.

Executors (docs/cluster.md): ``--executor serial`` (default) trains the cells one after
another in this process; ``--executor ray`` runs each cell as a Ray task, on a local
instance started for the command (``--num-cpus``, default all cores) or, with ``--address
auto`` / ``HOST:PORT``, on a running cluster (DIR must then be on a filesystem every node
mounts at the same path). A cell that fails is reported and the others go on; the command
then exits 1 after writing everything else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Union

from diffsim.controllers._names import METHOD_NAMES, defaults_help
from diffsim.controllers.executors import EXECUTORS  # stdlib only: the help stays light

from .common import (
    add_schedule_options,
    add_threads_option,
    apply_threads,
    env_help,
    with_default_method,
)


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
    p.add_argument(
        "--seeds",
        type=seed_list,
        default=5,
        metavar="N|S,S,...",
        help="seeds 0..N-1 per method, or a comma-separated list of seeds (e.g. 3,4, to add "
        "seeds to an earlier comparison with --merge) (default: 5)",
    )
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument(
        "--budget",
        type=parse_budget,
        default=None,
        help="training transitions per run: N for every method, or per method "
        "'bptt=10000,ppo=50000' (default: each method's own)",
    )
    add_schedule_options(p)
    p.add_argument(
        "--merge",
        type=Path,
        default=None,
        metavar="RESULTS",
        help="an earlier comparison's results.json (or its directory) of the same task and "
        "schedule with other cells (other methods, or other seeds of a method: --seeds 3,4): "
        "DIR/results.json, summary.txt and curves.png then hold both (e.g. one method per "
        "sitting)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="with --merge: this run's methods replace the earlier comparison's cells of the "
        "same methods (e.g. a method rerun with a new tuned configuration)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device of every cell (default: cpu; cuda with --executor ray needs "
        "--gpus-per-cell)",
    )
    add_threads_option(p)
    cluster = p.add_argument_group(
        "executor",
        "where the cells run (docs/cluster.md; the ray executor needs the "
        "cluster extra: pip install 'diffsim[cluster]')",
    )
    cluster.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="serial",
        help="serial: one cell after another in this process (default); ray: each cell a Ray task",
    )
    cluster.add_argument(
        "--address",
        default=None,
        help="ray only: 'auto' or HOST:PORT joins a running Ray cluster (default: start a "
        "local instance for this command)",
    )
    cluster.add_argument(
        "--cpus-per-cell",
        type=float,
        default=None,
        help="ray only: CPUs reserved for each cell (default: 1); each cell's torch threads "
        "default to this, rounded up (--threads sets them)",
    )
    cluster.add_argument(
        "--gpus-per-cell",
        type=float,
        default=None,
        help="ray only: GPUs reserved for each cell (default: 0; a fraction shares a GPU)",
    )
    cluster.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="ray only, local instance only: its CPUs (default: this machine's cores)",
    )
    p.set_defaults(func=with_default_method(run, "methods"))


_RAY_ONLY = {
    "address": "--address",
    "cpus_per_cell": "--cpus-per-cell",
    "gpus_per_cell": "--gpus-per-cell",
    "num_cpus": "--num-cpus",
}


def executor_options(args: argparse.Namespace) -> dict[str, object]:
    """The executor's keyword arguments from the command line.

    Raises:
        ValueError: a ray-only option given with ``--executor serial``, or ``--num-cpus``
            with ``--address`` (the message names them).
    """
    given = [flag for name, flag in _RAY_ONLY.items() if getattr(args, name) is not None]
    if args.executor == "serial":
        if given:
            raise ValueError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --executor ray "
                "only; drop it, or add --executor ray"
            )
        return {"threads_per_job": args.threads}
    for flag, value, least in (
        ("--cpus-per-cell", args.cpus_per_cell, "positive"),
        ("--gpus-per-cell", args.gpus_per_cell, "non-negative"),
        ("--num-cpus", args.num_cpus, "positive"),
    ):
        if value is not None and (value < 0 or (value == 0 and least == "positive")):
            raise ValueError(f"{flag} must be {least}, got {value:g}")
    gpus = args.gpus_per_cell or 0
    if gpus > 0 and not args.device.startswith("cuda"):
        raise ValueError(
            f"--gpus-per-cell {gpus:g} reserves GPUs that --device {args.device} would not "
            "use; add --device cuda"
        )
    if gpus == 0 and args.device.startswith("cuda"):
        raise ValueError(
            f"--device {args.device} with --executor ray needs --gpus-per-cell above 0 (Ray "
            "hides the GPUs from a task that reserves none)"
        )
    if args.address is not None and args.num_cpus is not None:
        raise ValueError(
            f"--num-cpus {args.num_cpus} is for a local instance; with --address "
            f"{args.address} the cluster's own CPUs are used"
        )
    options: dict[str, object] = {
        "address": args.address,
        "num_cpus": args.num_cpus,
        "cpus_per_job": 1 if args.cpus_per_cell is None else args.cpus_per_cell,
        "gpus_per_job": 0 if args.gpus_per_cell is None else args.gpus_per_cell,
        "threads_per_job": args.threads,
        "preload": ("diffsim.controllers.training",),
    }
    return options


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


def seed_list(text: str) -> Union[int, list[int]]:
    """``--seeds``: ``N`` (seeds 0..N−1) or a comma-separated list of distinct seeds ≥ 0."""
    try:
        if "," not in text:
            n = int(text)
            if n < 1:
                raise ValueError
            return n
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of seeds N ≥ 1 or a comma-separated list of seeds, got {text!r}"
        ) from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct and ≥ 0, got {text!r}")
    return seeds


def run(args: argparse.Namespace) -> int:
    """Run the comparison; 0 when every cell finished, 1 when some failed (reported on
    stderr, everything else written), 2 for a usage error (Ray missing included)."""
    options = executor_options(args)  # usage errors before anything heavy is imported
    from diffsim.controllers.executors import RAY_MISSING, make_executor

    try:  # a Ray instance starts first, so that its workers warm up while torch loads here
        executor = make_executor(args.executor, **options)
    except ImportError as exc:
        if str(exc) != RAY_MISSING:
            raise
        print(f"diffsim compare: error: {RAY_MISSING}", file=sys.stderr)
        return 2
    apply_threads(args)
    from diffsim.controllers.checkpoint import write_atomically
    from diffsim.controllers.compare import compare, format_summary

    from .plots import curves_figure

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    with executor:
        result = compare(
            args.env,
            methods,
            args.seeds,
            args.out,
            budget=args.budget,
            eval_every=args.eval_every,
            eval_episodes=args.eval_episodes,
            progress=not args.quiet,
            executor=executor,
            device=args.device,
            merge=args.merge,
            replace=args.replace,
        )
    table = format_summary(result)
    print(table)
    write_atomically(args.out / "summary.txt", lambda f: f.write(table + "\n"), text=True)
    written = [args.out / "results.json", args.out / "summary.txt"]
    curves = {
        m: [c["curve"] for c in result["cells"] if c["method"] == m] for m in result["methods"]
    }
    curves = {m: c for m, c in curves.items() if c}  # a method whose every cell failed: none
    if curves:
        fig = curves_figure(
            curves,
            solved_return=result["solved_return"],
            title=f"{result['env_id']}: median and range over seeds",
        )
        write_atomically(args.out / "curves.png", lambda f: fig.savefig(f, format="png", dpi=110))
        written.append(args.out / "curves.png")
    print(f"wrote {', '.join(str(p) for p in written)}")
    for f in result["failed"]:
        print(
            f"diffsim compare: cell {f['method']} seed {f['seed']} failed: {f['error']}",
            file=sys.stderr,
        )
    if result["failed"]:
        print(
            f"diffsim compare: {len(result['failed'])} of "
            f"{len(result['failed']) + len(result['cells'])} cells failed (tracebacks in "
            f"{args.out / 'results.json'}, 'failed'); rerunning the command retries them "
            "and reads the finished cells back",
            file=sys.stderr,
        )
        return 1
    return 0
