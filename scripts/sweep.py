"""``diffsim sweep ENV --method M --space NAME=DIST ... --trials N --out DIR``: a search.

Each trial trains ENV with METHOD for the same ``--budget`` and ``--seed``, with
``--no-stop`` semantics, its configuration's fields NAME drawn from DIST, one of
``uniform(a,b)``, ``loguniform(a,b)``, ``int(a,b)``, ``choice(x,y,...)``
(``diffsim train ENV --method M --show-config`` lists the fields). At each evaluation a
pruner (Optuna's) stops a trial whose curve falls behind the others'. Trials run one after
another (``--executor serial``) or as parallel Ray tasks (``--executor ray``). DIR gets
``sweep.json`` (every trial), ``summary.txt`` (the table printed), ``trials.png`` and the
trials' run directories; the best configuration is printed as a ready ``diffsim train``
line. Rerunning the same command on DIR continues the sweep. See docs/sweep.md.

Example: diffsim sweep cartpole --method bptt --space "lr=loguniform(0.01, 3)" --trials 16
--budget 6000 --eval-every 1500 --out sweeps/cartpole-lr
"""

from __future__ import annotations

import argparse
from pathlib import Path

from diffsim.controllers._names import METHOD_NAMES, defaults_help
from diffsim.controllers.sweep import OBJECTIVES, PRUNERS, SAMPLERS  # light: no torch, no optuna

from .common import add_schedule_options, add_set_option, env_help, with_default_method


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="search a method's hyperparameters, with early stopping (Optuna; serial or Ray)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("env", metavar="ENV", help=env_help())
    p.add_argument(
        "--method",
        default=None,
        help=f"the method whose configuration is searched, one of {', '.join(METHOD_NAMES)} "
        f"(default: the task's: {defaults_help()})",
    )
    p.add_argument(
        "--space",
        action="append",
        default=[],
        required=True,
        metavar="NAME=DIST",
        help="a field of the method's configuration and its distribution: uniform(a,b), "
        "loguniform(a,b), int(a,b) or choice(x,y,...) (repeatable)",
    )
    p.add_argument("--trials", type=int, default=16, help="number of trials (default: 16)")
    p.add_argument(
        "--budget",
        type=int,
        default=None,
        help="training transitions of every trial (default: the method's per-task budget)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="every trial's seed and the sampler's (default: 0)"
    )
    add_schedule_options(p)
    add_set_option(p, "a fixed override of the method's configuration for every trial")
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="final",
        help="a complete trial's value: its final, best or mean evaluation return (default: final)",
    )
    p.add_argument(
        "--pruner",
        choices=PRUNERS,
        default="median",
        help="median: stop a trial below the median of earlier trials at the same evaluation; "
        "halving: successive halving (ASHA's rule); none (default: median)",
    )
    p.add_argument(
        "--startup-trials",
        type=int,
        default=2,
        help="median pruner: trials that complete before any is pruned (default: 2)",
    )
    p.add_argument(
        "--warmup-evals",
        type=int,
        default=0,
        help="evaluations after training a trial gets before it may be pruned (default: 0)",
    )
    p.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="tpe",
        help="Optuna's TPE (random for its first 10 trials) or random sampling (default: tpe)",
    )
    p.add_argument(
        "--executor",
        choices=("serial", "ray"),  # executors.EXECUTORS
        default="serial",
        help="run the trials one after another, or as parallel Ray tasks (default: serial)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="ray: a running cluster to join ('auto' or HOST:PORT; default: start a local one)",
    )
    p.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="ray: CPUs of the local instance (default: this machine's)",
    )
    p.add_argument(
        "--cpus-per-trial",
        type=float,
        default=1,
        help="ray: CPUs reserved per trial; torch threads per trial (default: 1)",
    )
    p.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="trials per wave (default: 1 serial; ray: cluster CPUs / --cpus-per-trial)",
    )
    p.add_argument("--out", type=Path, required=True, help="the sweep's directory")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=with_default_method(run))


def run(args: argparse.Namespace) -> int:
    from diffsim.controllers.checkpoint import write_atomically
    from diffsim.controllers.sweep import format_summary, sweep, trials_figure

    from .train import parse_overrides

    result = sweep(
        args.env,
        args.method,
        args.space,
        args.trials,
        args.out,
        budget=args.budget,
        seed=args.seed,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        config=parse_overrides(args.overrides),
        objective=args.objective,
        pruner=args.pruner,
        startup_trials=args.startup_trials,
        warmup_evals=args.warmup_evals,
        sampler=args.sampler,
        executor=args.executor,
        address=args.address,
        num_cpus=args.num_cpus,
        cpus_per_trial=args.cpus_per_trial,
        parallel=args.parallel,
        device=args.device,
        progress=not args.quiet,
    )
    table = format_summary(result)
    print(table)
    write_atomically(args.out / "summary.txt", lambda f: f.write(table + "\n"), text=True)
    fig = trials_figure(result)
    write_atomically(args.out / "trials.png", lambda f: fig.savefig(f, format="png", dpi=110))
    print(f"wrote {args.out / 'sweep.json'}, {args.out / 'summary.txt'}, {args.out / 'trials.png'}")
    return 0
