"""Comparisons: every method × seed on one task, one result file, one summary table.

:func:`compare` trains each (method, seed) cell with :func:`diffsim.controllers.train` (the
same evaluation schedule, evaluation function and transition counting for every method),
into ``OUT/runs/<env>__<method>__<seed>``, and gathers the cells' learning curves into
``OUT/results.json`` (strict JSON: ``solved_return`` is ``null`` for a task without one) with
the machine, the versions, the command, the seeds and the executor, written atomically.
A cell whose run directory is already finished is read back here, not retrained, so an
interrupted comparison resumes where it stopped (an unfinished cell resumes from its
``checkpoint.pt``).

Each remaining cell is one :class:`~diffsim.controllers.executors.Job` (:func:`run_cell`)
for an executor: one after another in this process (serial, the default) or as Ray tasks
(:class:`~diffsim.controllers.executors.RayExecutor`, a local instance or a cluster). A cell
that raises is listed under ``failed`` with its error and the other cells go on. With equal
torch thread counts per cell, every deterministic figure (transitions, updates, returns,
``solved_at`` but its seconds) is the same whatever the executor; seconds, paths, the
command and ``executor`` differ.

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

from .checkpoint import CheckpointError, read_json, write_json
from .executors import Executor, Job, SerialExecutor
from .training import finished_run, get_method, train, versions

RESULT_FORMAT = "diffsim-compare"
RESULT_VERSION = 1


def cell_dir(out: Path, env_id: str, method: str, seed: int) -> Path:
    """The run directory of one cell."""
    return out / "runs" / f"{env_id.split('/')[-1]}__{method}__{seed}"


CURVE_KEYS = ("transitions", "train_seconds", "updates", "eval_return_mean", "eval_return_std")
"""The evaluation-row columns a cell's ``curve`` keeps."""


def cell_record(
    out: Path, run: Path, method: str, seed: int, rows: list[dict[str, float]], solved_at: Any
) -> dict[str, Any]:
    """One cell of ``results.json`` from its run's evaluation rows (and its ``config.json``)."""
    return {
        "method": method,
        "seed": seed,
        "run_dir": str(run.relative_to(out)),
        "config": read_json(run / "config.json")["config"],
        "solved_at": solved_at,
        "final_return": rows[-1]["eval_return_mean"],
        "eval_seconds_total": sum(r["eval_seconds"] for r in rows),
        "curve": {k: [r[k] for r in rows] for k in CURVE_KEYS},
    }


def run_cell(
    out: str, run: str, env_id: str, method: str, seed: int, progress: bool, **train_kwargs: Any
) -> dict[str, Any]:
    """Train one cell into its run directory (resuming from its ``checkpoint.pt`` if there is
    one) and return its :func:`cell_record`: the job an executor runs for each cell.

    Args:
        out: The comparison's output directory (absolute: the job may run on another node).
        run: The cell's run directory (under ``out``).
        env_id, method, seed: The cell.
        progress: Show the cell's own progress bar.
        **train_kwargs: ``config``, ``budget``, ``eval_every``, ``eval_episodes``, ``device`` for
            :func:`diffsim.controllers.train` (``stop_when_solved`` is off: comparisons run
            the whole budget).
    """
    result = train(
        env_id,
        method=method,
        seed=seed,
        out=run,
        stop_when_solved=False,
        progress=progress,
        **train_kwargs,
    )
    return cell_record(Path(out), Path(run), method, seed, result.metrics, result.solved_at)


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
    executor: Optional[Executor] = None,
    device: str = "cpu",
    merge: Union[str, Path, None] = None,
    replace: bool = False,
) -> dict[str, Any]:
    """Run every method × seed and write ``OUT/results.json`` (see the module docstring).

    Args:
        env: A short name or a registered id of this project.
        methods: Method names (each must be registered; checked before anything runs).
        seeds: A number of seeds (0..N−1) or an explicit list.
        out: Output directory (on a cluster: a path every node mounts at the same place).
        budget: Training transitions per cell: one number for every method, or a dict
            ``{method: transitions}`` (methods left out, and ``None``, use their defaults).
        eval_every, eval_episodes: The evaluation schedule, the same for every method.
        configs: Per-method overrides of the tuned configurations.
        progress: Show one progress bar over the cells; with an executor that runs the
            cells in this process (the serial one) each cell's own bar shows under it.
        executor: Where the cells run (:mod:`diffsim.controllers.executors`; ``None``: a
            :class:`~diffsim.controllers.executors.SerialExecutor` leaving torch's thread
            count as it is). The caller keeps ownership (it is not closed here).
        device: Torch device of every cell's trainer (``"cuda"`` with the Ray executor
            needs GPUs reserved per job: ``RayExecutor(gpus_per_job=…)``).
        merge: An earlier comparison's ``results.json`` (or its directory) of the same task
            and schedule, with other cells (other methods, or other seeds of a method run
            with the same budget): ``OUT/results.json`` then holds both
            (:func:`merge_results`). Read and checked (:func:`check_mergeable`) before any
            cell runs.
        replace: With ``merge``: this run's methods replace the earlier comparison's cells of
            the same methods (:func:`without_methods`; e.g. a method rerun after its tuned
            configuration changed), instead of being refused.

    Returns:
        The result as written to ``results.json``: ``cells`` (the cells that finished,
        ordered by method, then seed, whatever order they ran in), ``failed`` (``method``,
        ``seed``, ``run_dir``, ``error`` as ``"Type: message"`` and ``traceback`` of each
        cell that raised; empty when none did), ``executor`` (its name and options),
        ``summary`` and the settings.

    Raises:
        ValueError: no method or no seed, an unknown method, a budget or config for a method
            not compared, settings :func:`~diffsim.controllers.train` refuses, or a ``merge``
            file that is not a comparison or does not fit (all before any cell runs).
    """
    from tqdm.auto import tqdm

    env_id = resolve_env_id(env)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not methods or not seed_list:
        raise ValueError("give at least one method and one seed")
    if len(set(methods)) != len(methods) or len(set(seed_list)) != len(seed_list):
        raise ValueError(f"methods and seeds must not repeat, got {methods} and {seed_list}")
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
    earlier = None
    if replace and merge is None:
        raise ValueError("replace=True needs merge: the comparison whose cells it replaces")
    if merge is not None:
        earlier = load_result(merge)
        if replace:
            earlier = without_methods(earlier, methods)
        settings = {
            "env_id": env_id,
            "eval_every": eval_every,
            "eval_episodes": eval_episodes,
            "solved_return": _solved_return(env_id),
        }
        check_mergeable(earlier, settings, {m: seed_list for m in methods}, budgets)
    if executor is None:
        executor = SerialExecutor()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    started = time.perf_counter()
    done: dict[tuple[str, int], dict[str, Any]] = {}
    failed: dict[tuple[str, int], dict[str, Any]] = {}
    jobs = []
    for method in methods:
        for seed in seed_list:
            run = cell_dir(root, env_id, method, seed)
            train_kwargs = {
                "config": configs.get(method),
                "budget": budgets.get(method),
                "eval_every": eval_every,
                "eval_episodes": eval_episodes,
                "device": device,
            }
            try:  # a finished cell is read back here, not retrained (resume)
                loop = finished_run(
                    run, env_id, method, seed, stop_when_solved=False, **train_kwargs
                )
            except CheckpointError as exc:  # another configuration, or a corrupt checkpoint
                failed[method, seed] = _failure(root, run, method, seed, exc, "")
                continue
            if loop is not None:
                done[method, seed] = cell_record(
                    root, run, method, seed, loop["rows"], loop["solved_at"]
                )
                continue
            kwargs = {"out": str(root), "run": str(run), "env_id": env_id, "method": method}
            kwargs.update(seed=seed, progress=progress and executor.in_process, **train_kwargs)
            jobs.append(Job(f"{method}/{seed}", run_cell, kwargs))
    cells_bar = tqdm(
        total=len(methods) * len(seed_list),
        initial=len(done) + len(failed),
        unit="cell",
        desc=f"compare {env_id.split('/')[-1]} ({getattr(executor, 'name', 'executor')})",
        disable=not progress,
        dynamic_ncols=True,
    )
    by_key = {job.key: job for job in jobs}
    try:
        for outcome in executor.run(jobs):
            job = by_key[outcome.key]
            cell = (job.kwargs["method"], job.kwargs["seed"])
            if outcome.ok:
                done[cell] = outcome.value
            else:
                run = Path(job.kwargs["run"])
                failed[cell] = _failure(root, run, *cell, outcome.error, outcome.traceback)
            cells_bar.update(1)
            cells_bar.set_postfix({"last": outcome.key, "failed": len(failed)})
    finally:
        cells_bar.close()
    order = [(m, s) for m in methods for s in seed_list]
    describe = getattr(executor, "describe", None)
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
        "executor": describe() if describe else {"name": getattr(executor, "name", "?")},
        "wall_seconds": time.perf_counter() - started,
        "cells": [done[c] for c in order if c in done],
        "failed": [failed[c] for c in order if c in failed],
    }
    result["summary"] = summarize(result)
    if earlier is not None:
        result = merge_results(earlier, result)
    write_json(out / "results.json", result)
    return result


def _failure(
    out: Path, run: Path, method: str, seed: int, error: Union[str, Exception], trace: str
) -> dict[str, Any]:
    if isinstance(error, Exception):
        error = f"{type(error).__name__}: {error}"
    return {
        "method": method,
        "seed": seed,
        "run_dir": str(run.relative_to(out)),
        "error": error,
        "traceback": trace,
    }


def _solved_return(env_id: str) -> Optional[float]:
    from .training import _solved_return as solved

    value = solved(env_id)
    return None if value == float("inf") else value


def _stats(values: list[float]) -> Optional[dict[str, float]]:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per method: seeds solved, transitions/seconds to solve, final return (see module).

    ``seeds`` counts the cells that finished; ``seeds_failed`` those that raised (the
    ``failed`` list, absent from results written before it existed).
    """
    summary = {}
    for method in result["methods"]:
        cells = [c for c in result["cells"] if c["method"] == method]
        solved = [c["solved_at"] for c in cells if c["solved_at"]]
        summary[method] = {
            "seeds": len(cells),
            "seeds_failed": sum(f["method"] == method for f in result.get("failed", [])),
            "seeds_solved": len(solved),
            "transitions_to_solve": _stats([s["transitions"] for s in solved]),
            "seconds_to_solve": _stats([s["train_seconds"] for s in solved]),
            "final_return": _stats([c["final_return"] for c in cells]),
        }
    return summary


def format_summary(result: dict[str, Any]) -> str:
    """The summary table as text (medians with [min, max] across the seeds that finished),
    then one line per failed cell."""

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
    for f in result.get("failed", []):
        lines.append(f"failed: {f['method']} seed {f['seed']} ({f['run_dir']}): {f['error']}")
    return "\n".join(lines)


MERGED_KEYS = ("env_id", "eval_every", "eval_episodes", "solved_return")
"""The settings two comparisons must share to be merged into one table."""


def check_mergeable(
    earlier: dict[str, Any],
    settings: dict[str, Any],
    seeds: dict[str, list[int]],
    budgets: dict[str, Optional[int]],
) -> None:
    """Check that a comparison with ``settings`` (the keys of :data:`MERGED_KEYS`) running
    ``seeds[method]`` of each method with ``budgets[method]`` can be merged into ``earlier``.

    Raises:
        ValueError: a setting of :data:`MERGED_KEYS` differs (naming it and both values), a
            cell (method and seed) is in both, or a method in both ran with another budget
            (naming the method and both budgets).
    """
    for key in MERGED_KEYS:
        if earlier.get(key) != settings.get(key):
            raise ValueError(
                f"cannot merge comparisons whose {key} differ: {earlier.get(key)!r} and "
                f"{settings.get(key)!r}"
            )
    held = {(c["method"], c["seed"]) for c in [*earlier["cells"], *earlier.get("failed", [])]}
    both = [f"{m} seed {s}" for m, ss in seeds.items() for s in ss if (m, s) in held]
    if both:
        raise ValueError(
            f"cannot merge: {', '.join(both)} is in both comparisons; merge comparisons of "
            "different methods or seeds (rerun a cell into the comparison that holds it)"
        )
    earlier_budgets = earlier.get("budget", {})
    for method in seeds:
        if method in earlier["methods"] and earlier_budgets.get(method) != budgets.get(method):
            raise ValueError(
                f"cannot merge: {method} ran with budget {earlier_budgets.get(method)!r} in the "
                f"earlier comparison and {budgets.get(method)!r} in this one"
            )


def without_methods(result: dict[str, Any], methods: list[str]) -> dict[str, Any]:
    """``result`` without the cells, failures, budgets and summary rows of ``methods``
    (those it does not hold are ignored); its ``parts`` gain ``replaced``: the methods a
    later part replaced, so that the merged record still says what each command's cells
    became. Its commands are kept: run in order, they regenerate the merged comparison."""
    dropped = [m for m in result["methods"] if m in methods]
    if not dropped:
        return result
    kept = dict(result)
    kept["methods"] = [m for m in result["methods"] if m not in methods]
    kept["cells"] = [c for c in result["cells"] if c["method"] not in methods]
    kept["failed"] = [f for f in result.get("failed", []) if f["method"] not in methods]
    kept["budget"] = {m: b for m, b in result.get("budget", {}).items() if m not in methods}
    keys = ("command", "machine", "executor", "wall_seconds")
    parts = result.get("parts") or [{k: result.get(k) for k in keys}]
    kept["parts"] = [
        {**part, "replaced": sorted({*part.get("replaced", []), *dropped})} for part in parts
    ]
    kept["summary"] = summarize(kept)
    return kept


def merge_results(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """One comparison from two of the same task that ran different cells (other methods, or
    other seeds of a method, e.g. in two sittings: a comparison's run directories need not
    survive between them).

    The cells (ordered by method, ``earlier``'s methods first, then seed), failures, methods,
    seeds and budgets are joined and the summary recomputed. ``command`` becomes both
    commands joined by `` && `` (what regenerates the whole), ``wall_seconds`` their sum, and
    ``parts`` lists each comparison's ``command``, ``machine``, ``executor`` and
    ``wall_seconds`` (an earlier merge's parts are kept as they are); ``machine`` and
    ``executor`` are ``later``'s. Seconds measured in different sittings are comparable only
    on a machine equally loaded in both.

    Raises:
        ValueError: as :func:`check_mergeable`.
    """
    later_seeds: dict[str, list[int]] = {m: [] for m in later["methods"]}
    for c in [*later["cells"], *later.get("failed", [])]:
        later_seeds[c["method"]].append(c["seed"])
    check_mergeable(earlier, later, later_seeds, later.get("budget", {}))

    def parts(result: dict[str, Any]) -> list[dict[str, Any]]:
        if "parts" in result:
            return list(result["parts"])
        keys = ("command", "machine", "executor", "wall_seconds")
        return [{k: result.get(k) for k in keys}]

    methods = [*earlier["methods"], *(m for m in later["methods"] if m not in earlier["methods"])]

    def ordered(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(records, key=lambda c: (methods.index(c["method"]), c["seed"]))

    merged = dict(later)
    merged["methods"] = methods
    merged["seeds"] = sorted(set(earlier["seeds"]) | set(later["seeds"]))
    merged["budget"] = {**earlier.get("budget", {}), **later.get("budget", {})}
    merged["command"] = f"{earlier['command']} && {later['command']}"
    merged["wall_seconds"] = earlier["wall_seconds"] + later["wall_seconds"]
    merged["parts"] = parts(earlier) + parts(later)
    merged["cells"] = ordered([*earlier["cells"], *later["cells"]])
    merged["failed"] = ordered([*earlier.get("failed", []), *later.get("failed", [])])
    merged["summary"] = summarize(merged)
    return merged


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
