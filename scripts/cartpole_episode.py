"""CartPole-v1 in one episode's worth of transitions: BPTT's solving policies judged on
Gymnasium's own env.

For each seed, ``diffsim train cartpole --method bptt`` (its default configuration) is run
with an evaluation every ``--eval-every`` transitions (100: the protocol's schedule made
fine enough to measure below 1,000) and stops at its first solving evaluation (mean return
≥ 475 over the protocol's 100 episodes, on diffsim's twin). The policy it stops with is then
evaluated on **Gymnasium's own** ``CartPole-v1``:

- by the protocol (``evaluate(agent, "CartPole-v1")``: Gymnasium's vector env, the fixed
  evaluation seed, the same starts the training run was judged on);
- on other starts: Gymnasium's ``SyncVectorEnv`` (a different start set from the same seed)
  and 100 starts from a seed no run saw (``--fresh-seed``).

Writes ``docs/results/cartpole_episode.json``; ``report_docs`` renders its table into
``docs/benchmarks.md``::

    python -m diffsim.scripts.cartpole_episode --out docs/results/cartpole_episode.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

FRESH_SEED = 123_456
"""Seed of the 100 evaluation starts no training run was judged on."""


def run(
    seeds: list[int], eval_every: int, budget: int, fresh_seed: int = FRESH_SEED
) -> dict[str, Any]:
    """The measurement of the module docstring; the result file's body.

    Raises:
        ValueError: no seeds, or ``eval_every`` / ``budget`` below 1.
    """
    from diffsim.controllers.evaluate import evaluate
    from diffsim.controllers.training import train

    if not seeds:
        raise ValueError("expected at least one seed")
    if eval_every < 1 or budget < 1:
        raise ValueError(f"eval_every and budget must be positive, got {eval_every}, {budget}")
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            result = train(
                "cartpole",
                method="bptt",
                seed=seed,
                out=tmp,
                eval_every=eval_every,
                budget=budget,
                progress=False,
            )
        solved = result.solved_at
        agent = result.agent
        rows.append(
            {
                "seed": seed,
                "solved_at_transitions": None if solved is None else int(solved["transitions"]),
                "solved_at_seconds": None if solved is None else solved["train_seconds"],
                "updates": None if solved is None else int(solved["updates"]),
                "return_diffsim": None if solved is None else solved["eval_return_mean"],
                "return_gymnasium": evaluate(agent, "CartPole-v1").mean,
                "return_gymnasium_sync": evaluate(agent, "CartPole-v1", vectorization="sync").mean,
                "return_gymnasium_fresh": evaluate(agent, "CartPole-v1", seed=fresh_seed).mean,
            }
        )
    done = [r["solved_at_transitions"] for r in rows if r["solved_at_transitions"] is not None]
    judged = [r for r in rows if r["solved_at_transitions"] is not None]
    return {
        "settings": {
            "method": "bptt",
            "eval_every": eval_every,
            "budget": budget,
            "seeds": seeds,
            "fresh_seed": fresh_seed,
            "solved_return": 475.0,
        },
        "runs": rows,
        "solved": len(done),
        "median_transitions": statistics.median(done) if done else None,
        "max_transitions": max(done) if done else None,
        "solved_on_gymnasium": sum(r["return_gymnasium"] >= 475.0 for r in judged),
    }


def main(argv: Optional[list[str]] = None) -> int:
    from diffsim.controllers.checkpoint import write_json
    from diffsim.scripts.common import result_header

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("docs/results/cartpole_episode.json"))
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--fresh-seed", type=int, default=FRESH_SEED)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    body = run(
        [int(s) for s in args.seeds.split(",") if s], args.eval_every, args.budget, args.fresh_seed
    )
    result = {
        **result_header("cartpole_episode", argv),
        **body,
        "seconds": time.perf_counter() - t0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(
        f"{body['solved']}/{len(body['runs'])} solved, median {body['median_transitions']} "
        f"transitions, {body['solved_on_gymnasium']} judged solved on Gymnasium's CartPole-v1; "
        f"wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
