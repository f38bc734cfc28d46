"""``diffsim eval RUN_DIR``: evaluate a saved policy by the benchmark protocol.

100 episodes (``--episodes``) from the environment's reset distribution under the fixed
evaluation seed, deterministic policy. RUN_DIR's ``config.json`` must be valid JSON and name
the env id and method that ``policy.pt`` was saved with (else exit 2, naming config.json).
``--env`` evaluates on another Gymnasium id with the same spaces, e.g. Gymnasium's own
``CartPole-v1`` for a policy trained on ``diffsim/CartPole-v1``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a trained policy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    p.add_argument("--episodes", type=int, default=100, help="episodes (default: 100)")
    p.add_argument(
        "--env", default=None, help="Gymnasium id to evaluate on (default: the one trained on)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="evaluation reset seed (default: the protocol's fixed seed)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import gymnasium as gym
    import numpy as np

    import diffsim  # noqa: F401  (registers the ids)
    from diffsim.controllers import evaluate, load_policy
    from diffsim.controllers.checkpoint import check_run_config
    from diffsim.controllers.evaluate import EVAL_SEED
    from diffsim.envs.rollout import SHORT_NAMES

    agent = load_policy(args.run_dir)
    check_run_config(args.run_dir)  # config.json readable and of the same run as policy.pt
    env_id = SHORT_NAMES.get(args.env, args.env) if args.env else agent.env_id
    if env_id not in gym.registry:
        raise ValueError(f"unknown Gymnasium id {env_id!r}")
    ours, theirs = gym.make(agent.env_id), gym.make(env_id)
    for what in ("observation_space", "action_space"):
        a, b = getattr(ours, what), getattr(theirs, what)
        same = (
            type(a) is type(b)
            and a.shape == b.shape
            and (not hasattr(a, "n") or a.n == b.n)
            and (not hasattr(a, "low") or np.allclose(a.low, b.low) and np.allclose(a.high, b.high))
        )
        if not same:
            raise ValueError(
                f"{env_id} has {what} {b}, but the policy was trained on {agent.env_id} with {a}"
            )
    result = evaluate(agent, env_id, args.episodes, EVAL_SEED if args.seed is None else args.seed)
    print(
        f"{env_id}: mean return {result.mean:.2f} ± {result.std:.2f} over {args.episodes} "
        f"episodes (min {result.returns.min():.1f}, max {result.returns.max():.1f}, mean "
        f"length {result.lengths.mean():.1f}; {result.seconds:.2f} s)"
    )
    return 0
