"""``diffsim grads ENV``: the health of the policy gradient through the simulator.

For each horizon H, on a fresh policy of the task's BPTT configuration or a trained one
(``--policy DIR``, a bptt or shac run): the gradient's norm and its signal-to-noise ratio
over independent batches of starts, its agreement with a float64 finite difference, the
closed loop's finite-time Lyapunov exponent, and for a discrete task each gradient
estimator's bias against a REINFORCE reference (:mod:`diffsim.controllers.grads`; what each
number means and when to trust the gradient: ``docs/gradients.md``). Writes
``DIR/grads.json`` and ``DIR/grads.png`` and prints a table::

    diffsim grads pendulum --out runs/grads-pendulum
    diffsim grads cartpole --policy runs/cartpole-bptt --horizons 10,50,200 --out runs/g
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import add_threads_option, apply_threads


def int_list(text: str) -> list[int]:
    """``--horizons``: positive integers separated by commas."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas, got {text!r}"
        )
    return values


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from diffsim.controllers._names import TASK_NAMES

    p = subparsers.add_parser(
        "grads",
        help="the policy gradient's health against the horizon (norm, SNR, FD, Lyapunov)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "env", help=f"a rollout task: {', '.join(TASK_NAMES)} or a diffsim id (diffsim/…)"
    )
    p.add_argument("--policy", type=Path, default=None, help="a bptt or shac run directory")
    p.add_argument(
        "--horizons",
        type=int_list,
        default=None,
        help="horizons in steps (default: 10,20,50,100,200, up to the task's time limit)",
    )
    p.add_argument("--samples", type=int, default=16, help="batches of starts (default: 16)")
    p.add_argument("--batch", type=int, default=64, help="starts per batch (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of starts and noise (default: 0)")
    p.add_argument(
        "--reference-samples",
        type=int,
        default=8192,
        help="episodes of the REINFORCE reference, discrete tasks (default: 8192)",
    )
    p.add_argument(
        "--fd-eps", type=float, default=1e-6, help="finite-difference step (default: 1e-6)"
    )
    p.add_argument("--out", type=Path, required=True, help="directory for grads.json and .png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=run)


def table(result: dict[str, Any]) -> str:
    """The printed table of one result."""
    rows = result["horizons"]
    names = list(rows[0].get("estimators", {}))
    head = ["H", "|grad| median", "SNR", "FD rel. error", "Lyapunov 1/s"]
    head += [f"bias {n}" for n in names]
    lines = ["  ".join(f"{h:>13}" for h in head)]
    for row in rows:
        lyap = row["lyapunov"]
        cells = [
            f"{row['horizon']}",
            f"{row['grad_norm']['median']:.3g}",
            f"{row['snr']:.3g}",
            f"{row['fd_rel_error']:.1e}",
            "—" if lyap is None else f"{lyap['median']:.3g}",
        ]
        cells += [f"{row['estimators'][n]['rel_bias']:.3g}" for n in names]
        lines.append("  ".join(f"{c:>13}" for c in cells))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from diffsim.controllers.checkpoint import load_policy, write_json
    from diffsim.controllers.grads import default_horizons, gradient_health
    from diffsim.controllers.training import versions
    from diffsim.envs.rollout import get_task
    from diffsim.scripts.plots import gradient_health_figure, save_figure

    apply_threads(args)
    task = get_task(args.env)
    horizons = default_horizons(task) if args.horizons is None else args.horizons
    policy = None if args.policy is None else load_policy(args.policy)
    result = gradient_health(
        task,
        policy,
        horizons=horizons,
        samples=args.samples,
        batch=args.batch,
        seed=args.seed,
        fd_eps=args.fd_eps,
        reference_samples=args.reference_samples,
        progress=not args.quiet,
    )
    if args.policy is not None:
        result["policy"] = str(args.policy)
    result = {"command": " ".join(["diffsim", *sys.argv[1:]]), "machine": versions(), **result}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "grads.json", result)
    save_figure(gradient_health_figure([result], title=task.env_id), args.out / "grads.png", 100)
    print(table(result))
    print(f"wrote {args.out / 'grads.json'} and {args.out / 'grads.png'}")
    return 0
