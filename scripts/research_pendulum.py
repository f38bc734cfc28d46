"""Train :class:`~diffsim.controllers.shac.SHACTrainer` on Pendulum for several seeds and
measure transitions and seconds to solve (100-episode mean return ≥ the task's solved return,
−200).

Protocol: training uses one CPU thread (``torch.set_num_threads(1)``). After every update whose
cumulative transitions crossed the next multiple of ``--eval-every``, the deterministic policy
is evaluated by :func:`diffsim.controllers.evaluate.evaluate` on 100 episodes of the task's
registered env, reset with seeds 1000..1099 (evaluation time is excluded from
``train_seconds``). The final policy is also evaluated on Gymnasium's own twin of the task
(``Pendulum-v1``; same seeds), where it has one. Writes a JSON with per-seed curves and a
summary.

Usage::

    python -m diffsim.scripts.research_pendulum --seeds 10 --budget-transitions 400000 \\
        --eval-every 8192 --out docs/results/pendulum_research_final.json \\
        [--task pendulum] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import time
from dataclasses import asdict, fields, replace
from typing import Any, Optional

import torch

from diffsim import systems
from diffsim.controllers.evaluate import evaluate
from diffsim.controllers.shac import SHACConfig, SHACTrainer, default_config, resolve_shac_task

EVAL_SEED = 1000
"""The first reset seed of the evaluation episodes (episode i is reset with seed 1000 + i)."""
EVAL_EPISODES = 100


def evaluate_returns(trainer: SHACTrainer, env_id: Optional[str] = None) -> Any:
    """Returns ``[100]`` of the trainer's deterministic policy on ``env_id`` (default: its
    task's env), episodes reset with seeds 1000..1099."""
    env_id = trainer.env_id if env_id is None else env_id
    result = evaluate(trainer.agent(), env_id, EVAL_EPISODES, seed=EVAL_SEED, vectorization="sync")
    trainer.policy.train()
    return result.returns


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` → config overrides (values parsed as Python literals)."""
    names = {f.name for f in fields(SHACConfig)}
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in names:
            raise SystemExit(f"unknown SHACConfig field {key!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def run_seed(
    task: str, config: SHACConfig, seed: int, budget: int, eval_every: int, gym_final: bool
) -> dict[str, Any]:
    """Train one seed; return its curve and figures."""
    trainer = SHACTrainer(task, config, seed)
    solved = trainer.task.solved_return
    curve: list[dict[str, float]] = []
    train_seconds = 0.0
    next_eval = eval_every
    first_solve: dict[str, float] | None = None
    last: dict[str, float] = {}
    while trainer.transitions < budget:
        t0 = time.perf_counter()
        last = trainer.update()
        train_seconds += time.perf_counter() - t0
        if trainer.transitions >= next_eval or trainer.transitions >= budget:
            while next_eval <= trainer.transitions:
                next_eval += eval_every
            ret = evaluate_returns(trainer)
            point = {
                "transitions": trainer.transitions,
                "updates": trainer.updates,
                "train_seconds": round(train_seconds, 3),
                "eval_return_mean": float(ret.mean()),
                "eval_return_std": float(ret.std()),
                "loss": last["loss"],
                "grad_norm": last["grad_norm"],
            }
            curve.append(point)
            if first_solve is None and solved is not None and point["eval_return_mean"] >= solved:
                first_solve = point
    result: dict[str, Any] = {
        "seed": seed,
        "curve": curve,
        "solved": first_solve is not None,
        "transitions_to_solve": first_solve["transitions"] if first_solve else None,
        "seconds_to_solve": first_solve["train_seconds"] if first_solve else None,
        "final_return": curve[-1]["eval_return_mean"],
        "best_return": max(p["eval_return_mean"] for p in curve),
        "total_train_seconds": round(train_seconds, 3),
    }
    twin = systems.task_specs()[trainer.env_id].gymnasium_id
    if gym_final and twin is not None:
        returns = evaluate_returns(trainer, twin)
        result["final_return_gymnasium"] = float(returns.mean())
        result["final_return_gymnasium_std"] = float(returns.std())
    return result


def _med_range(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(results: list[dict[str, Any]], solved_return: float = -200.0) -> dict[str, Any]:
    """Median and range of the per-seed figures (``solved_return``: the task's)."""
    solved = [r for r in results if r["solved"]]
    summary = {
        "seeds": len(results),
        "seeds_solved": len(solved),
        "transitions_to_solve": _med_range([r["transitions_to_solve"] for r in solved]),
        "seconds_to_solve": _med_range([r["seconds_to_solve"] for r in solved]),
        "final_return": _med_range([r["final_return"] for r in results]),
        "total_train_seconds": _med_range([r["total_train_seconds"] for r in results]),
    }
    gym_returns = [r["final_return_gymnasium"] for r in results if "final_return_gymnasium" in r]
    if gym_returns:
        summary["final_return_gymnasium"] = _med_range(gym_returns)
        summary["final_gymnasium_seeds_solved"] = sum(g >= solved_return for g in gym_returns)
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the written result."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="5", help="a count N (seeds 0..N-1) or a list 3,4,7")
    ap.add_argument("--budget-transitions", type=int, default=200_000)
    ap.add_argument("--eval-every", type=int, default=8192)
    ap.add_argument(
        "--task", default="pendulum", help="a task SHAC trains (pendulum, pendulum-2019, ...)"
    )
    ap.add_argument("--set", nargs="*", default=[], help="SHACConfig overrides key=value")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-gym", action="store_true", help="skip the final Gymnasium evaluation")
    ap.add_argument("--out", default="pendulum_research.json")
    ap.add_argument("--label", default="")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    seeds = (
        list(range(int(args.seeds)))
        if "," not in args.seeds
        else [int(s) for s in args.seeds.split(",")]
    )
    try:
        task = resolve_shac_task(args.task)
    except ValueError as exc:
        ap.error(str(exc))
    config = replace(default_config(task.env_id), **parse_overrides(args.set))
    results = []
    for seed in seeds:
        budget, every = args.budget_transitions, args.eval_every
        r = run_seed(task.env_id, config, seed, budget, every, not args.no_gym)
        results.append(r)
        print(
            f"seed {seed}: solved={r['solved']} transitions={r['transitions_to_solve']} "
            f"seconds={r['seconds_to_solve']} final={r['final_return']:.1f} "
            f"gym={r.get('final_return_gymnasium', float('nan')):.1f}",
            flush=True,
        )
    out = {
        "label": args.label,
        "task": args.task,
        "config": asdict(config),
        "budget_transitions": args.budget_transitions,
        "eval_every": args.eval_every,
        "threads": args.threads,
        "torch": torch.__version__,
        "summary": summarise(results, task.solved_return),
        "runs": results,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out["summary"], indent=1))
    return out


if __name__ == "__main__":
    main()
