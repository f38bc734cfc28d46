"""Evaluate trained policies on this project's env and on Gymnasium's own, from the same starts.

Usage::

    python -m diffsim.scripts.cross_eval RUN_DIR... --out docs/results/cross_eval.json

The equivalence check (``docs/benchmarks.md``) trains the RL baselines on both
``diffsim/Pendulum-v1`` and Gymnasium's ``Pendulum-v1``. Their learning curves are each
evaluated by their own env's default evaluation (diffsim's batched vector env, Gymnasium's
``SyncVectorEnv``), which draw *different* sets of 100 initial states from the same seed;
on Pendulum, where the return depends strongly on the start, that alone shifts the mean
return (``docs/benchmarks.md`` gives by how much). This script removes that difference:
every final policy is evaluated on the Gymnasium id and on its diffsim twin with
``vectorization="sync"`` (the same 100 initial states, since diffsim's single envs reset
exactly as Gymnasium's), and also by the diffsim twin's default evaluation. Equal figures in
the first two columns mean the environments are the same task; the third shows the
start-set effect.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

from tqdm.auto import tqdm


def cross_evaluate(run_dirs: list[Path], episodes: int = 100) -> dict[str, Any]:
    """Per run: its method, seed, training env and the three evaluations (see module)."""
    from diffsim.controllers.checkpoint import load_policy, read_json
    from diffsim.controllers.evaluate import evaluate
    from diffsim.controllers.training import versions
    from diffsim.envs.rollout import GYMNASIUM_TWINS

    twins = {v: k for k, v in GYMNASIUM_TWINS.items()}  # diffsim id -> Gymnasium id
    rows = []
    for run in tqdm(run_dirs, desc="cross-evaluating", unit="run"):
        config = read_json(run / "config.json")
        trained_on = config["env_id"]
        ours = GYMNASIUM_TWINS.get(trained_on, trained_on)
        if ours not in twins:
            raise ValueError(f"{run}: {trained_on} has no Gymnasium twin to compare with")
        gym_id = twins[ours]
        agent = load_policy(run)
        rows.append(
            {
                "run": run.name,
                "method": config["method"],
                "seed": config["seed"],
                "trained_on": trained_on,
                "gymnasium": gym_id,
                "diffsim": ours,
                "return_gymnasium": evaluate(agent, gym_id, episodes, vectorization="sync").mean,
                "return_diffsim_same_starts": evaluate(
                    agent, ours, episodes, vectorization="sync"
                ).mean,
                "return_diffsim_default": evaluate(agent, ours, episodes).mean,
            }
        )
    return {
        "format": "diffsim-cross-eval",
        "episodes": episodes,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": versions(),
        "runs": rows,
    }


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="trained run dirs")
    p.add_argument("--episodes", type=int, default=100, help="episodes per evaluation")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = p.parse_args(argv)
    result = cross_evaluate(args.runs, args.episodes)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
