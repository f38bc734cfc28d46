"""Comparisons: every method × seed on one task, one result file, one summary table.

:func:`compare` trains each (method, seed) cell with :func:`diffsim.controllers.train` (the
same evaluation schedule, evaluation function and transition counting for every method),
into ``OUT/runs/<env>__<method>__<seed>``, and gathers the cells' learning curves into
``OUT/results.json`` (strict JSON: ``solved_return`` is ``null`` for a task without one) with
the machine, the versions, the command and the seeds, written atomically. A cell
whose run directory is already finished is read back, not retrained, so an interrupted
comparison resumes where it stopped.

Summary per method (:func:`summarize`): seeds solved; median and range of the transitions
and training seconds at the first evaluation that reached the task's solved return; the
median and range of the final evaluation return.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional, Union

from diffsim.envs.rollout import resolve_env_id

from .checkpoint import read_json, write_json
from .training import get_method, train, versions

RESULT_FORMAT = "diffsim-compare"
RESULT_VERSION = 1


def cell_dir(out: Path, env_id: str, method: str, seed: int) -> Path:
    """The run directory of one cell."""
    return out / "runs" / f"{env_id.split('/')[-1]}__{method}__{seed}"


def compare(
    env: str,
    methods: list[str],
    seeds: Union[int, list[int]],
    out: Union[str, Path],
    budget: Union[int, dict[str, int], None] = None,
    eval_every: int = 1000,
    eval_episodes: int = 100,
    configs: Optional[dict[str, dict[str, Any]]] = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every method × seed and write ``OUT/results.json`` (see the module docstring).

    Args:
        env: A short name or a registered id of this project.
        methods: Method names (each must be registered; checked before anything runs).
        seeds: A number of seeds (0..N−1) or an explicit list.
        out: Output directory.
        budget: Training transitions per cell: one number for every method, or a dict
            ``{method: transitions}`` (methods left out, and ``None``, use their defaults).
        eval_every, eval_episodes: The evaluation schedule, the same for every method.
        configs: Per-method overrides of the tuned configurations.
        progress: Show progress bars.
    """
    env_id = resolve_env_id(env)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not methods or not seed_list:
        raise ValueError("give at least one method and one seed")
    for m in methods:
        get_method(m)  # unknown names fail here, before any training
    budgets = budget if isinstance(budget, dict) else {m: budget for m in methods}
    for name in budgets:
        if name not in methods:
            raise ValueError(f"a budget is given for {name!r}, which is not among {methods}")
    configs = configs or {}
    for name in configs:
        if name not in methods:
            raise ValueError(f"configs given for {name!r}, which is not among {methods}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cells = []
    started = time.perf_counter()
    for method in methods:
        for seed in seed_list:
            run = cell_dir(out, env_id, method, seed)
            result = train(
                env_id,
                method=method,
                seed=seed,
                out=run,
                config=configs.get(method),
                budget=budgets.get(method),
                eval_every=eval_every,
                eval_episodes=eval_episodes,
                stop_when_solved=False,
                progress=progress,
            )
            rows = result.metrics
            cells.append(
                {
                    "method": method,
                    "seed": seed,
                    "run_dir": str(run.relative_to(out)),
                    "config": read_json(run / "config.json")["config"],
                    "solved_at": result.solved_at,
                    "final_return": rows[-1]["eval_return_mean"],
                    "eval_seconds_total": sum(r["eval_seconds"] for r in rows),
                    "curve": {
                        k: [r[k] for r in rows]
                        for k in (
                            "transitions",
                            "train_seconds",
                            "updates",
                            "eval_return_mean",
                            "eval_return_std",
                        )
                    },
                }
            )
    result = {
        "format": RESULT_FORMAT,
        "version": RESULT_VERSION,
        "env_id": env_id,
        "methods": methods,
        "seeds": seed_list,
        "budget": budgets,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "solved_return": _solved_return(env_id),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": versions(),
        "wall_seconds": time.perf_counter() - started,
        "cells": cells,
    }
    result["summary"] = summarize(result)
    write_json(out / "results.json", result)
    return result


def _solved_return(env_id: str) -> Optional[float]:
    from .training import _solved_return as solved

    value = solved(env_id)
    return None if value == float("inf") else value


def _stats(values: list[float]) -> Optional[dict[str, float]]:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per method: seeds solved, transitions/seconds to solve, final return (see module)."""
    summary = {}
    for method in result["methods"]:
        cells = [c for c in result["cells"] if c["method"] == method]
        solved = [c["solved_at"] for c in cells if c["solved_at"]]
        summary[method] = {
            "seeds": len(cells),
            "seeds_solved": len(solved),
            "transitions_to_solve": _stats([s["transitions"] for s in solved]),
            "seconds_to_solve": _stats([s["train_seconds"] for s in solved]),
            "final_return": _stats([c["final_return"] for c in cells]),
        }
    return summary


def format_summary(result: dict[str, Any]) -> str:
    """The summary table as text (medians with [min, max] across seeds)."""

    def fmt(stats: Optional[dict[str, float]], spec: str) -> str:
        if stats is None:
            return "—"
        return f"{stats['median']:{spec}} [{stats['min']:{spec}}, {stats['max']:{spec}}]"

    threshold = result["solved_return"]
    solved = "no solved return" if threshold is None else f"solved = mean return ≥ {threshold}"
    lines = [
        f"{result['env_id']}: {solved} over "
        f"{result['eval_episodes']} episodes, evaluated every {result['eval_every']} transitions",
        f"{'method':8} {'solved':>7}  {'transitions to solve':>26}  {'seconds to solve':>24}  "
        f"{'final return':>26}",
    ]
    for method, s in result["summary"].items():
        lines.append(
            f"{method:8} {s['seeds_solved']:>3}/{s['seeds']:<3}  "
            f"{fmt(s['transitions_to_solve'], '.0f'):>26}  {fmt(s['seconds_to_solve'], '.2f'):>24}"
            f"  {fmt(s['final_return'], '.1f'):>26}"
        )
    return "\n".join(lines)


def load_result(path: Union[str, Path]) -> dict[str, Any]:
    """Read a ``results.json`` (or the one in a directory), checking its format."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    data = read_json(path)
    if data.get("format") != RESULT_FORMAT:
        raise ValueError(
            f"{path} is not a diffsim comparison result (format {data.get('format')!r})"
        )
    return data
