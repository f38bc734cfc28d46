"""``diffsim record ENV_ID --episodes N --out DATA.npz``: trajectories for ``diffsim fit``.

Runs episodes of any Gymnasium id (diffsim's ``diffsim/CartPole-v1`` or Gymnasium's own
``CartPole-v1``) under a random or trained policy and writes ``observations [E, T+1,
obs_dim]``, ``actions [E, T]`` or ``[E, T, act_dim]`` and ``mask [E, T]``
(:func:`diffsim.envs.recording.record`). ``--set-attr`` changes a constant on
``env.unwrapped`` after ``make`` and re-derives the attributes the env computes from it
(CartPole's ``total_mass``, ``polemass_length``)::

    diffsim record CartPole-v1 --episodes 50 --set-attr length=0.8 --set-attr masspole=0.2 \\
        --out runs/cartpole.npz
    diffsim record Pendulum-v1 --episodes 5 --make-kwargs '{"g": 9.81}' --out runs/pend.npz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def attribute(text: str) -> tuple[str, Any]:
    """``--set-attr NAME=VALUE``: VALUE read as JSON (a number, true, "text"), else as text."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return name.strip(), parsed


def json_object(text: str) -> dict[str, Any]:
    """``--make-kwargs``: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "record",
        help="record trajectories of any Gymnasium env for diffsim fit (.npz)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("env_id", help="a Gymnasium id (diffsim/CartPole-v1, CartPole-v1, ...)")
    p.add_argument("--episodes", type=int, required=True, help="how many episodes")
    p.add_argument(
        "--policy",
        default="random",
        help="'random' (the action space's seeded sample) or a run directory with a "
        "policy.pt (default: random)",
    )
    p.add_argument("--out", type=Path, required=True, help="the .npz to write")
    p.add_argument(
        "--steps", type=int, default=None, help="steps per episode at most (default: its limit)"
    )
    p.add_argument("--seed", type=int, default=0, help="the first reset's seed (default: 0)")
    p.add_argument(
        "--make-kwargs",
        type=json_object,
        default={},
        metavar="JSON",
        help="keyword arguments of gymnasium.make, as a JSON object",
    )
    p.add_argument(
        "--set-attr",
        type=attribute,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a constant to set on env.unwrapped after make (repeatable)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diffsim.envs.recording import record

    rec = record(
        args.env_id,
        args.episodes,
        args.policy,
        steps=args.steps,
        seed=args.seed,
        make_kwargs=args.make_kwargs,
        set_attr=dict(args.set_attr),
        progress=not args.quiet,
    )
    rec.save(args.out)
    meta = rec.meta
    derived = ", ".join(f"{k}={v!r}" for k, v in meta["rederived"].items())
    print(
        f"{args.env_id}: {meta['episodes']} episodes, {meta['transitions']} transitions "
        f"(mean return {sum(meta['returns']) / meta['episodes']:.1f})"
        + (f"; re-derived {derived}" if derived else "")
        + f"; wrote {args.out}"
    )
    return 0
