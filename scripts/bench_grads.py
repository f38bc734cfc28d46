"""Gradient health of every rollout task, fresh and trained: the numbers of ``docs/gradients.md``.

Runs :func:`diffsim.controllers.grads.gradient_health` (what ``diffsim grads`` runs) on a
fresh policy of each task's BPTT configuration, and on the policy that the task's default
method trains with its default budget (``diffsim.controllers.train``, seed 0, no stop at the
solved return) for the tasks in ``--trained``. Writes ``docs/results/grads.json`` and two
figures, ``docs/results/grads/fresh.png`` and ``docs/results/grads/trained.png``;
``report_docs`` renders the tables::

    python -m diffsim.scripts.bench_grads --out docs/results/grads.json
    python -m diffsim.scripts.bench_grads --out docs/results/grads.json --plot-only
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

TASKS = (
    "pendulum",
    "pendulum-2019",
    "cartpole",
    "cartpole-continuous",
    "acrobot",
    "mountaincar",
    "mountaincar-continuous",
)
"""Every rollout task, by short name."""

TRAINED = ("pendulum", "pendulum-2019", "cartpole", "cartpole-continuous")
"""Tasks whose trained policy is measured too (those whose default training takes seconds)."""


def measure(
    task: str, trained: bool, *, samples: int, batch: int, reference_samples: int
) -> dict[str, Any]:
    """One task's result: fresh policy, or the default method's trained one."""
    from diffsim.controllers.grads import default_horizons, gradient_health
    from diffsim.controllers.training import train

    horizons = default_horizons(task)
    policy, about = None, None
    if trained:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = train(task, seed=0, out=tmp, progress=False, stop_when_solved=False)
            last = res.metrics[-1]
            about = {
                "method": _method(Path(tmp)),
                "transitions": int(last["transitions"]),
                "eval_return_mean": float(last["eval_return_mean"]),
                "train_seconds": time.perf_counter() - t0,
            }
            policy = res.agent
    t0 = time.perf_counter()
    result = gradient_health(
        task,
        policy,
        horizons=horizons,
        samples=samples,
        batch=batch,
        reference_samples=reference_samples,
    )
    result["seconds"] = time.perf_counter() - t0
    if trained:
        result["policy"] = "trained"
        result["trained"] = about
    return result


def _method(run_dir: Path) -> str:
    from diffsim.controllers.checkpoint import read_run_config

    return str(read_run_config(run_dir / "config.json")["method"])


def figures(result: dict[str, Any], directory: Path) -> list[Path]:
    """Draw ``fresh.png`` and ``trained.png`` from a result file's body."""
    from diffsim.scripts.plots import gradient_health_figure, save_figure

    written = []
    for kind, title in (
        ("fresh", "fresh policies (the tasks' BPTT configurations, seed 0)"),
        ("trained", "trained policies (each task's default method and budget, seed 0)"),
    ):
        runs = [r for r in result["results"] if (r["policy"] == "fresh") == (kind == "fresh")]
        if runs:
            path = directory / f"{kind}.png"
            save_figure(gradient_health_figure(runs, title=title), path, 100)
            written.append(path)
    return written


def main(argv: Optional[list[str]] = None) -> int:
    from diffsim.controllers.checkpoint import write_json
    from diffsim.scripts.common import result_header

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("docs/results/grads.json"))
    parser.add_argument("--figures", type=Path, default=None, help="default: beside --out")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--trained", default=",".join(TRAINED), help="'' for none")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reference-samples", type=int, default=8192)
    parser.add_argument("--plot-only", action="store_true", help="redraw from --out")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    directory = args.figures or args.out.parent / "grads"
    if args.plot_only:
        result = json.loads(args.out.read_text())
    else:
        import torch

        torch.set_num_threads(1)
        t0 = time.perf_counter()
        jobs = [(t, False) for t in args.tasks.split(",") if t]
        jobs += [(t, True) for t in args.trained.split(",") if t]
        results = []
        for task, trained in jobs:
            r = measure(
                task,
                trained,
                samples=args.samples,
                batch=args.batch,
                reference_samples=args.reference_samples,
            )
            if not args.quiet:
                print(f"{r['env_id']} ({r['policy']}): {r['seconds']:.1f} s", flush=True)
            results.append(r)
        result = {
            **result_header("bench_grads", argv),
            "settings": {
                "samples": args.samples,
                "batch": args.batch,
                "reference_samples": args.reference_samples,
                "torch_threads": 1,
            },
            "results": results,
            "seconds": time.perf_counter() - t0,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, result)
        print(f"wrote {args.out} in {result['seconds']:.0f} s")
    for path in figures(result, directory):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
