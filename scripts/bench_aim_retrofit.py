"""The aiming network retrofitted on its miss fraction (``diffsim.controllers.aiming_retrofit``).

For each seed: train the aiming network with its defaults (``diffsim train trebuchet
--method bptt``'s run), then retrofit it twice with the default retrofit configuration, once
on its last layer and once on its output scales, and measure the source and the retrofitted
network on the held-out pairs (the post's distribution, never used to choose a candidate):
the fraction of misses past 0.1 % and past 0.5 %, and the median miss, with the retrofit's
cost in shots and seconds. Seeds run in ``--jobs`` processes of one torch thread each.
Writes ``docs/results/aiming_retrofit.json`` and ``docs/results/aiming_retrofit/misses.png``;
``report_docs`` renders the block of ``docs/aiming.md``::

    python -m diffsim.scripts.bench_aim_retrofit --out docs/results/aiming_retrofit.json
    python -m diffsim.scripts.bench_aim_retrofit --out docs/results/aiming_retrofit.json --plot-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

PARAMETERS = ("last_layer", "output_scale")


def run_seed(seed: int, updates: Optional[int] = None, generations: Optional[int] = None) -> dict:
    """Train one aiming network and retrofit it with each parameter set (module docstring).

    Args:
        seed: Seeds the training and the retrofits.
        updates: Training updates (``None``: the tuned 250).
        generations: Retrofit generations (``None``: the default evaluations / popsize).
    """
    import dataclasses

    import torch

    from diffsim.controllers.aiming import AimingConfig, AimingTrainer
    from diffsim.controllers.aiming_retrofit import AimingRetrofitConfig, AimingRetrofitTrainer

    torch.set_num_threads(1)
    config = AimingConfig() if updates is None else AimingConfig(updates=updates)
    t0 = time.perf_counter()
    trainer = AimingTrainer(config=config, seed=seed)
    for _ in range(config.updates):
        trainer.update()
    out: dict[str, Any] = {"seed": seed, "train_seconds": time.perf_counter() - t0}
    with tempfile.TemporaryDirectory() as tmp:
        trainer.save(Path(tmp) / "policy.pt")
        for parameters in PARAMETERS:
            rc = dataclasses.replace(AimingRetrofitConfig(), source=tmp, parameters=parameters)
            n_gen = generations if generations is not None else rc.evaluations // rc.popsize
            t0 = time.perf_counter()
            retro = AimingRetrofitTrainer(config=rc, seed=seed)
            setup = time.perf_counter() - t0
            shots = 0
            t0 = time.perf_counter()
            for _ in range(n_gen):
                shots += retro.update()["transitions"]
            seconds = time.perf_counter() - t0
            out[parameters] = {
                "generations": n_gen,
                "evaluations": retro.evaluations,
                "shots": shots,
                "seconds": seconds,
                "setup_seconds": setup,
                "train_pairs": len(retro.train_set.wind),
                "train_unreachable": retro.train_set.unreachable,
                "test_pairs": len(retro.test_set.wind),
                "test_unreachable": retro.test_set.unreachable,
                "start": retro.start,
                "retrofit": retro.best,
            }
    return out


def _one(args: tuple[int, Optional[int], Optional[int]]) -> dict:
    return run_seed(*args)


def plot(result: dict[str, Any], path: Path) -> None:
    """Held-out miss fraction (> 0.1 %) of each seed, before and after each retrofit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=False)
    seeds = [r["seed"] for r in result["seeds"]]
    for ax, key, label in (
        (axes[0], "miss_fraction", "misses > 0.1 %"),
        (axes[1], "median_rel_miss", "median miss"),
    ):
        for i, parameters in enumerate(PARAMETERS):
            before = [100 * r[parameters]["start"]["test"][key] for r in result["seeds"]]
            after = [100 * r[parameters]["retrofit"]["test"][key] for r in result["seeds"]]
            x = [s + (i - 0.5) * 0.25 for s in seeds]
            for xi, b, a in zip(x, before, after):
                ax.annotate("", (xi, a), (xi, b), arrowprops=dict(arrowstyle="->", color=f"C{i}"))
            ax.scatter(x, before, color="0.6", s=14, zorder=3)
            ax.scatter(x, after, color=f"C{i}", s=14, zorder=3, label=parameters)
        ax.set_xticks(seeds)
        ax.set_xlabel("seed")
        ax.set_ylabel(f"{label} (%, held-out)")
        ax.grid(alpha=0.3)
    axes[0].legend(title="retrofit (grey: source)", fontsize=8)
    fig.suptitle("aiming network retrofitted on its miss fraction", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Medians over seeds and the targets' checks, per parameter set."""
    out = {}
    for parameters in PARAMETERS:
        rows = [r[parameters] for r in result["seeds"]]
        drop = [
            r["start"]["test"]["miss_fraction"] - r["retrofit"]["test"]["miss_fraction"]
            for r in rows
        ]
        med = [
            r["retrofit"]["test"]["median_rel_miss"] - r["start"]["test"]["median_rel_miss"]
            for r in rows
        ]
        out[parameters] = {
            "lowered_miss_fraction": sum(d > 0 for d in drop),
            "median_not_raised": sum(m <= 0 for m in med),
            "seeds": len(rows),
            "median_drop": statistics.median(drop),
            "min_drop": min(drop),
            "median_seconds": statistics.median(r["seconds"] for r in rows),
            "median_shots": statistics.median(r["shots"] for r in rows),
        }
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/results/aiming_retrofit.json"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=2, help="processes (default: 2)")
    parser.add_argument("--updates", type=int, default=None, help="training updates (tests)")
    parser.add_argument("--generations", type=int, default=None, help="retrofit generations")
    parser.add_argument("--plot-only", action="store_true", help="redraw from --out")
    args = parser.parse_args(argv)
    figure = args.out.parent / args.out.stem / "misses.png"
    if args.plot_only:
        plot(json.loads(args.out.read_text()), figure)
        print(f"wrote {figure}")
        return 0
    from .common import result_header

    header = result_header("bench_aim_retrofit", argv)
    jobs = [(s, args.updates, args.generations) for s in args.seeds]
    t0 = time.perf_counter()
    if args.jobs > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(min(args.jobs, len(jobs))) as pool:
            rows = []
            for row in pool.imap(_one, jobs):
                rows.append(row)
                print(f"seed {row['seed']} done", flush=True)
    else:
        rows = [_one(j) for j in jobs]
    result = {**header, "jobs": args.jobs, "wall_seconds": time.perf_counter() - t0, "seeds": rows}
    result["summary"] = summary(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    plot(result, figure)
    print(json.dumps(result["summary"], indent=1))
    print(f"wrote {args.out} and {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
