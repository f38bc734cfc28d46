"""``diffsim hypertune ENV --method bptt``: hypergradient descent on BPTT's hyperparameters.

Each meta-iteration trains the task's BPTT for ``--unroll`` updates from fresh weights and
starts, differentiates the validation loss on held-out starts through those updates with
respect to the hyperparameters (:mod:`diffsim.controllers.hypergrad`), and takes one Adam
step on them. Writes ``DIR/hypertune.json`` (the history and the tuned configuration) and
``DIR/hypertune.png``, and prints the tuned values as a ready ``--set`` line for
``diffsim train`` (``docs/hypertune.md``)::

    diffsim hypertune cartpole --method bptt --hparams log_lr,start_spread --unroll 10 --out runs/ht
    diffsim train cartpole --method bptt --set lr=... --set start_spread=...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_set_option, add_threads_option, apply_threads


def name_list(text: str) -> list[str]:
    """``--hparams``: names separated by commas (checked against the differentiable ones)."""
    from diffsim.controllers.hypergrad import check_hparams

    try:
        return list(check_hparams([n for n in text.split(",") if n.strip()]))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from diffsim.controllers._names import TASK_NAMES

    p = subparsers.add_parser(
        "hypertune",
        help="tune BPTT's learning rate, start spread and loss weight by hypergradients",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "env", help=f"a rollout task: {', '.join(TASK_NAMES)} or a diffsim id (diffsim/…)"
    )
    p.add_argument(
        "--method", choices=["bptt"], default="bptt", help="the method tuned (only bptt)"
    )
    p.add_argument(
        "--hparams",
        type=name_list,
        default=["log_lr", "start_spread"],
        help="hyperparameters to tune, from log_lr,start_spread,return_weight (return_weight: "
        "loss=shaped only; default: log_lr,start_spread)",
    )
    p.add_argument("--unroll", type=int, default=10, help="BPTT updates unrolled (default: 10)")
    p.add_argument(
        "--meta-iterations", type=int, default=20, help="hypergradient steps (default: 20)"
    )
    p.add_argument(
        "--meta-lr", type=float, default=0.1, help="Adam's step on log hparams (default: 0.1)"
    )
    p.add_argument(
        "--val-starts", type=int, default=32, help="held-out starts of the loss (default: 32)"
    )
    p.add_argument(
        "--objective",
        choices=["loss", "return"],
        default="loss",
        help="validation: BPTT's training loss or the negative return (default: loss)",
    )
    add_set_option(p, "override a field of the BPTT configuration tuned from")
    p.add_argument("--seed", type=int, default=0, help="seed of the trainings (default: 0)")
    p.add_argument("--out", type=Path, required=True, help="directory for hypertune.json/.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diffsim.controllers import methods
    from diffsim.controllers.checkpoint import write_json
    from diffsim.controllers.hypergrad import hypertune
    from diffsim.controllers.training import versions
    from diffsim.envs.rollout import get_task
    from diffsim.scripts.plots import hypertune_figure, save_figure
    from diffsim.scripts.train import parse_overrides

    apply_threads(args)
    task = get_task(args.env)
    method = methods.get_method("bptt", task.env_id)
    config = methods.build_config(method, task.env_id, parse_overrides(args.overrides))
    result = hypertune(
        task,
        config,
        args.hparams,
        unroll=args.unroll,
        meta_iterations=args.meta_iterations,
        meta_lr=args.meta_lr,
        val_count=args.val_starts,
        seed=args.seed,
        objective=args.objective,
        progress=not args.quiet,
    )
    result = {"command": " ".join(["diffsim", *sys.argv[1:]]), "machine": versions(), **result}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "hypertune.json", result)
    fig = hypertune_figure(result, title=f"hypertune {task.env_id} (K = {args.unroll})")
    save_figure(fig, args.out / "hypertune.png", 100)
    first, last = result["history"][0], result["history"][-1]
    print(
        f"validation {args.objective} {first['value']:.4g} (meta-iteration 0) -> "
        f"{last['value']:.4g} (meta-iteration {last['iteration']}); "
        f"{result['training_updates']} BPTT updates, {result['seconds']:.1f} s"
    )
    tuned = tuple(part.split("=")[0] + "=" for part in result["set"].split() if "=" in part)
    kept = [f"--set {o}" for o in args.overrides if not o.startswith(tuned)]
    print(f"tuned: diffsim train {args.env} --method bptt {' '.join([*kept, result['set']])}")
    print(f"wrote {args.out / 'hypertune.json'} and {args.out / 'hypertune.png'}")
    return 0
