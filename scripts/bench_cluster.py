"""Measure what the Ray executor buys: ``diffsim compare`` serial against Ray, 1 against 2
workers, and estimates of larger comparisons from the committed per-cell costs.

Usage::

    python -m diffsim.scripts.bench_cluster --out docs/results/cluster.json [--repeats 3]
    python -m diffsim.scripts.report_docs          # renders docs/scaling.md from it

Protocol (written into the result file):

- Each timed run is one whole ``diffsim compare`` process (Python start-up, Ray start-up
  and shut-down included) into a fresh output directory, so nothing is resumed. The runs of
  the compared variants alternate (serial, ray, serial, ray, …) so that a change of machine
  load hits both alike; each variant's figure is its best (minimum) over ``--repeats``.
- ``speedup`` compares ``--executor serial`` with ``--executor ray --cpus-per-cell 1`` (a
  local instance with one worker per core); ``scaling`` compares a local instance of 1 CPU
  with that one (both Ray, so start-up costs cancel).
- The sweep variants time a 16-trial ``diffsim sweep`` without pruning (16 full trainings
  one after another), and with the median pruner serially and on a local Ray instance.
- Every run's ``results.json`` is checked against the first serial run's: the deterministic
  figures (transitions to solve, final returns, the curves' transitions, updates and
  returns) must be identical, or the script fails.
- ``estimates`` take the per-cell cost (training + evaluation seconds) of every committed
  comparison under ``docs/results/*/results.json`` and schedule the cells on N workers,
  longest first onto the least loaded worker (an upper bound within 4/3 of the best
  schedule), adding the measured Ray start-up once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

TARGET = [
    "cartpole",
    "--methods",
    "bptt,ppo",
    "--seeds",
    "4",
    "--budget",
    "bptt=10000,ppo=20000",
    "--threads",
    "1",
    "--quiet",
]
"""The comparison the issue's target names (``diffsim compare`` arguments, without --out)."""

VARIANTS: dict[str, list[str]] = {
    "serial": ["--executor", "serial"],
    "ray": ["--executor", "ray", "--cpus-per-cell", "1"],
    "ray_1cpu": ["--executor", "ray", "--cpus-per-cell", "1", "--num-cpus", "1"],
}
"""Each timed comparison variant's extra ``diffsim compare`` arguments (``ray``: a local
instance with one CPU per core of this machine; ``ray_1cpu``: with one CPU)."""

SWEEP_TARGET = [
    "cartpole",
    "--method",
    "bptt",
    "--space",
    "lr=loguniform(0.01, 3)",
    "--trials",
    "16",
    "--budget",
    "12000",
    "--eval-every",
    "2000",
    "--eval-episodes",
    "20",
    "--quiet",
]
"""The sweep the issue's second target names (``diffsim sweep`` arguments, without --out)."""

SWEEP_VARIANTS: dict[str, list[str]] = {
    "sweep_no_pruning": ["--executor", "serial", "--pruner", "none"],
    "sweep_serial": ["--executor", "serial", "--pruner", "median"],
    "sweep_ray": ["--executor", "ray", "--pruner", "median", "--cpus-per-trial", "1"],
}
"""Each timed sweep variant's extra arguments: 16 full serial trainings (no pruning), and
the pruned sweep serially and on a local Ray instance."""

DETERMINISTIC = ("transitions", "updates", "eval_return_mean", "eval_return_std")
"""The curve entries that must agree between executors (seconds do not)."""


def deterministic_figures(result: dict[str, Any]) -> list[Any]:
    """The figures of a comparison result that do not depend on timing, cell by cell."""
    figures = []
    for cell in sorted(result["cells"], key=lambda c: (c["method"], c["seed"])):
        solved = cell["solved_at"]
        figures.append(
            {
                "method": cell["method"],
                "seed": cell["seed"],
                "solved_at": None
                if solved is None
                else {k: solved[k] for k in ("transitions", "updates", "eval_return_mean")},
                "final_return": cell["final_return"],
                "curve": {k: cell["curve"][k] for k in DETERMINISTIC},
            }
        )
    return figures


def time_command(
    command: str, args: Sequence[str], workdir: Path, result_file: str
) -> tuple[float, dict[str, Any]]:
    """Run one ``diffsim COMMAND`` process into a fresh directory; (wall seconds, the
    result file it wrote)."""
    out = Path(tempfile.mkdtemp(prefix=command, dir=workdir))
    shutil.rmtree(out)
    argv = [sys.executable, "-m", "diffsim.scripts.main", command, *args, "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    result = json.loads((out / result_file).read_text())
    shutil.rmtree(out, ignore_errors=True)
    return seconds, result


def sweep_figures(result: dict[str, Any]) -> dict[str, Any]:
    """How many trials ended in which state, and the best trial's value."""
    states: dict[str, int] = {}
    for trial in result["trials"]:
        states[trial["state"]] = states.get(trial["state"], 0) + 1
    best = result.get("best") or {}
    return {"states": states, "best_value": best.get("value"), "best_params": best.get("params")}


def ray_startup_seconds(repeats: int) -> Optional[float]:
    """Best wall time of starting and stopping a 2-CPU local Ray instance in a fresh
    process (None when Ray is not installed)."""
    code = (
        "from diffsim.controllers.executors import RayExecutor\nRayExecutor(num_cpus=2).close()\n"
    )
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True)
        if done.returncode != 0:
            return None
        times.append(time.perf_counter() - started)
    return min(times)


def lpt_makespan(costs: Sequence[float], workers: int) -> float:
    """The makespan of scheduling ``costs`` on ``workers``, longest first onto the least
    loaded worker (Graham's LPT rule)."""
    loads = [0.0] * workers
    for cost in sorted(costs, reverse=True):
        i = loads.index(min(loads))
        loads[i] += cost
    return max(loads)


def cell_costs(results_dir: Path) -> dict[str, dict[str, list[float]]]:
    """Per committed comparison and method: each cell's training + evaluation seconds."""
    costs: dict[str, dict[str, list[float]]] = {}
    for path in sorted(results_dir.glob("*/results.json")):
        result = json.loads(path.read_text())
        per_method: dict[str, list[float]] = {}
        for cell in result["cells"]:
            cost = cell["curve"]["train_seconds"][-1] + cell["eval_seconds_total"]
            per_method.setdefault(cell["method"], []).append(cost)
        costs[path.parent.name] = per_method
    return costs


def estimates(
    costs: dict[str, dict[str, list[float]]],
    startup: float,
    workers: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    seeds: int = 100,
) -> dict[str, Any]:
    """Wall-time estimates: the committed benchmark as it stands, and ``seeds`` seeds of
    every committed (comparison, method), on each number of workers."""
    committed = [c for per in costs.values() for cells in per.values() for c in cells]
    scaled = [statistics.median(cells) for per in costs.values() for cells in per.values()] * seeds
    longest = max(
        (
            (name, method, max(cells))
            for name, per in costs.items()
            for method, cells in per.items()
        ),
        key=lambda item: item[2],
    )
    return {
        "workers": list(workers),
        "longest_cell": {"comparison": longest[0], "method": longest[1], "seconds": longest[2]},
        "committed_cells": len(committed),
        "committed_cell_seconds": sum(committed),
        "committed_wall_seconds": {
            str(n): lpt_makespan(committed, n) + (startup if n > 1 else 0.0) for n in workers
        },
        "seeds": seeds,
        "scaled_cells": len(scaled),
        "scaled_cell_seconds": sum(scaled),
        "scaled_wall_seconds": {
            str(n): lpt_makespan(scaled, n) + (startup if n > 1 else 0.0) for n in workers
        },
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="result JSON to write")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant (default: 3)")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("docs/results"),
        help="folder of committed comparisons for the estimates (default: docs/results)",
    )
    parser.add_argument(
        "--compare-args",
        default=None,
        help="replace the target comparison's arguments (a quoted string; for quick checks)",
    )
    parser.add_argument(
        "--sweep-args",
        default=None,
        help="replace the target sweep's arguments (split on spaces; for quick checks)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be positive, got {args.repeats}")
    from diffsim.controllers.training import versions

    target = args.compare_args.split() if args.compare_args else TARGET
    sweep_target = args.sweep_args.split() if args.sweep_args else SWEEP_TARGET
    seconds: dict[str, list[float]] = {name: [] for name in [*VARIANTS, *SWEEP_VARIANTS]}
    sweeps: dict[str, list[dict[str, Any]]] = {name: [] for name in SWEEP_VARIANTS}
    reference = None
    with tempfile.TemporaryDirectory(prefix="bench_cluster") as tmp:
        for repeat in range(args.repeats):
            for name, extra in VARIANTS.items():
                wall, result = time_command("compare", [*target, *extra], Path(tmp), "results.json")
                figures = deterministic_figures(result)
                if reference is None:
                    reference = figures
                elif figures != reference:
                    raise SystemExit(f"{name} (repeat {repeat}) differs from the first serial run")
                seconds[name].append(wall)
                print(f"{name:16} repeat {repeat}: {wall:.1f} s", flush=True)
            for name, extra in SWEEP_VARIANTS.items():
                wall, result = time_command(
                    "sweep", [*sweep_target, *extra], Path(tmp), "sweep.json"
                )
                seconds[name].append(wall)
                sweeps[name].append(sweep_figures(result))
                print(f"{name:16} repeat {repeat}: {wall:.1f} s", flush=True)
    best = {name: min(times) for name, times in seconds.items()}
    startup = ray_startup_seconds(args.repeats) or 0.0
    report = {
        "format": "diffsim-bench-cluster",
        "command": " ".join(["python -m diffsim.scripts.bench_cluster", *sys.argv[1:]]),
        "target": "diffsim compare " + " ".join(target),
        "variants": {name: " ".join(extra) for name, extra in VARIANTS.items()},
        "repeats": args.repeats,
        "seconds": seconds,
        "best_seconds": best,
        "speedup": best["serial"] / best["ray"],
        "scaling": best["ray_1cpu"] / best["ray"],
        "sweep_target": "diffsim sweep " + " ".join(sweep_target),
        "sweep_variants": {name: " ".join(extra) for name, extra in SWEEP_VARIANTS.items()},
        "sweeps": sweeps,
        "identical_figures": True,
        "ray_startup_seconds": startup,
        "estimates": estimates(cell_costs(args.results), startup),
        "machine": versions(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    print(f"speed-up ray/serial {report['speedup']:.2f}x, 2 vs 1 workers {report['scaling']:.2f}x")
    for name in SWEEP_VARIANTS:
        print(f"{name}: {best[name]:.1f} s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
