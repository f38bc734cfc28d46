"""Hypergradients of BPTT training, measured (``diffsim.controllers.hypergrad``).

Three parts, each its own result file under ``docs/results/``; ``report_docs`` renders the
blocks of ``docs/hypertune.md`` from them::

    python -m diffsim.scripts.bench_hypergrad fd      # hypergrad_fd.json
    python -m diffsim.scripts.bench_hypergrad bias    # hypergrad_bias.json
    python -m diffsim.scripts.bench_hypergrad tuning  # hypertune_compare.json

``fd``
    The hypergradient of the validation loss after K BPTT updates (the tuned configuration
    of each task, float64) against central finite differences of whole K-update trainings,
    at steps 1e-6 and 1e-7 of each hyperparameter, for several seeds.
``bias``
    Short-horizon bias: the validation loss after K updates on a grid of learning rates,
    for several K (mean over seeds): which learning rate a K-update unroll prefers.
``tuning``
    Three tuners with the same number of K-update training runs and the same objective
    (the validation loss after K updates): hypergradient descent (``hypertune``), a grid
    over (lr, start_spread) and Nevergrad's ``NGOpt``; and hypertune again with a third of
    the meta-iterations at three times the meta step (a meta-iteration costs about three
    plain trainings, so this one's tuning takes about the grid's seconds); each tuned
    configuration, and the
    defaults, then trained in full on fresh seeds by the benchmark protocol's schedule
    (:func:`diffsim.controllers.train`): seeds solved, transitions and seconds to solve,
    final return.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any, Optional

TASKS = ("cartpole", "pendulum")
NAMES = ("log_lr", "start_spread")


def _cfg(task: str):
    from diffsim.controllers import bptt

    return dataclasses.replace(bptt.default_config(task), dtype="float64")


def _value(task: str, cfg, point: dict[str, float], updates: int, seed: int, val) -> float:
    from diffsim.controllers.hypergrad import unrolled_training, with_hparams

    out = unrolled_training(
        task, with_hparams(cfg, point), {}, updates, seed, val, create_graph=False
    )
    return float(out.value)


def fd_part(seeds: list[int], updates: list[int], steps: tuple[float, ...]) -> dict[str, Any]:
    """Hypergradients against finite differences (module docstring)."""
    from diffsim.controllers.hypergrad import hparam_values, hypergradient, validation_starts

    rows = []
    for task in TASKS:
        cfg = _cfg(task)
        val = validation_starts(task, 32, 10_000)
        base = hparam_values(cfg)
        for k, seed in itertools.product(updates, seeds):
            t0 = time.perf_counter()
            value, grads, _ = hypergradient(task, cfg, NAMES, k, seed, val)
            seconds = time.perf_counter() - t0
            fd: dict[str, dict[str, float]] = {}
            t0 = time.perf_counter()
            for name in NAMES:
                fd[name] = {}
                for h in steps:
                    up = _value(task, cfg, {**base, name: base[name] + h}, k, seed, val)
                    down = _value(task, cfg, {**base, name: base[name] - h}, k, seed, val)
                    fd[name][str(h)] = (up - down) / (2 * h)
            fd_seconds = (time.perf_counter() - t0) / (2 * len(steps) * len(NAMES))
            rel = {
                n: {h: abs(grads[n] - v) / max(abs(v), 1e-300) for h, v in fd[n].items()}
                for n in NAMES
            }
            rows.append(
                {
                    "task": task,
                    "updates": k,
                    "seed": seed,
                    "value": value,
                    "hypergradient": grads,
                    "fd": fd,
                    "rel_error": rel,
                    "hypergradient_seconds": seconds,
                    "training_seconds": fd_seconds,
                }
            )
            print(task, k, seed, {n: min(r.values()) for n, r in rel.items()}, flush=True)
    return {"steps": list(steps), "val_starts": 32, "rows": rows}


def bias_part(seeds: list[int], updates: list[int], factors: list[float]) -> dict[str, Any]:
    """The validation loss after K updates against the learning rate (module docstring)."""
    from diffsim.controllers.hypergrad import hparam_values, validation_starts

    out: dict[str, Any] = {"factors": factors, "seeds": seeds, "updates": updates, "tasks": {}}
    for task in TASKS:
        cfg = _cfg(task)
        val = validation_starts(task, 32, 10_000)
        base = hparam_values(cfg)
        table = {}
        for k in updates:
            means = []
            for f in factors:
                point = {**base, "log_lr": base["log_lr"] + math.log(f)}
                means.append(statistics.mean(_value(task, cfg, point, k, s, val) for s in seeds))
            best = factors[min(range(len(factors)), key=means.__getitem__)]
            table[str(k)] = {"values": means, "best_factor": best}
            print(task, k, best, flush=True)
        out["tasks"][task] = {"default_lr": cfg.lr, "by_updates": table}
    return out


def _tune_grid(task, cfg, val, updates, runs) -> tuple[dict[str, float], int, float]:
    from diffsim.controllers.hypergrad import hparam_values

    base = hparam_values(cfg)
    lr_f = (0.1, 0.3, 1.0, 3.0)
    spreads = (0.5, 1.0, 2.0)
    points = [
        {"log_lr": base["log_lr"] + math.log(f), "start_spread": s}
        for f, s in itertools.product(lr_f, spreads)
    ][:runs]
    t0 = time.perf_counter()
    scored = [(_value(task, cfg, p, updates, 0, val), p) for p in points]
    best = min(scored, key=lambda x: x[0])[1]
    return best, len(points), time.perf_counter() - t0


def _tune_nevergrad(task, cfg, val, updates, runs, seed) -> tuple[dict[str, float], int, float]:
    import nevergrad as ng
    import numpy as np

    from diffsim.controllers.hypergrad import hparam_values

    base = hparam_values(cfg)
    param = ng.p.Array(init=np.array([base["log_lr"], 0.0])).set_mutation(sigma=1.0)
    param.random_state = np.random.RandomState(seed)
    opt = ng.optimizers.NGOpt(parametrization=param, budget=runs)
    t0 = time.perf_counter()
    for _ in range(runs):
        cand = opt.ask()
        z = cand.value
        point = {"log_lr": float(z[0]), "start_spread": math.exp(float(z[1]))}
        opt.tell(cand, _value(task, cfg, point, updates, 0, val))
    z = opt.provide_recommendation().value
    return (
        {"log_lr": float(z[0]), "start_spread": math.exp(float(z[1]))},
        runs,
        time.perf_counter() - t0,
    )


def _full_training(task: str, config, seeds: list[int]) -> dict[str, Any]:
    import tempfile

    from diffsim.controllers import train

    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            r = train(
                task,
                method="bptt",
                config=config,
                seed=seed,
                out=Path(tmp) / "run",
                progress=False,
            )
        last = r.metrics[-1]
        rows.append(
            {
                "seed": seed,
                "solved_transitions": None if r.solved_at is None else r.solved_at["transitions"],
                "solved_seconds": None if r.solved_at is None else r.solved_at["train_seconds"],
                "final_return": last["eval_return_mean"],
                "transitions": last["transitions"],
                "train_seconds": last["train_seconds"],
            }
        )
    return {"runs": rows}


def tuning_part(seeds: list[int], updates: int, runs: int) -> dict[str, Any]:
    """Tuners compared at equal training runs, then full trainings (module docstring)."""
    from diffsim.controllers.hypergrad import (
        hparam_values,
        hypertune,
        validation_starts,
        with_hparams,
    )

    out: dict[str, Any] = {"updates": updates, "runs": runs, "seeds": seeds, "tasks": {}}
    for task in TASKS:
        cfg = _cfg(task)
        val = validation_starts(task, 32, 10_000)
        tuned: dict[str, dict[str, Any]] = {}
        # hypertune at the grid's number of runs, and at a third of them with a 3x step:
        # a meta-iteration costs about three plain trainings (the fd part's timings)
        for key, iterations, meta_lr in (
            ("hypertune", runs, 0.1),
            ("hypertune_third", max(1, runs // 3), 0.3),
        ):
            t0 = time.perf_counter()
            ht = hypertune(
                task,
                cfg,
                NAMES,
                unroll=updates,
                meta_iterations=iterations,
                meta_lr=meta_lr,
                progress=False,
            )
            tuned[key] = {
                "hparams": ht["tuned"],
                "tuning_runs": iterations,
                "meta_lr": meta_lr,
                "seconds": time.perf_counter() - t0,
                "history": ht["history"],
            }
        point, n, seconds = _tune_grid(task, cfg, val, updates, runs)
        tuned["grid"] = {"hparams": point, "tuning_runs": n, "seconds": seconds}
        point, n, seconds = _tune_nevergrad(task, cfg, val, updates, runs, 0)
        tuned["nevergrad"] = {"hparams": point, "tuning_runs": n, "seconds": seconds}
        tuned["defaults"] = {"hparams": hparam_values(cfg), "tuning_runs": 0, "seconds": 0.0}
        for name, entry in tuned.items():
            full = with_hparams(dataclasses.replace(cfg, dtype="float32"), entry["hparams"])
            changes = {"lr": full.lr, "start_spread": full.start_spread}
            if name == "defaults":
                changes = {}
            entry["config_changes"] = changes
            entry.update(_full_training(task, changes, seeds))
            solved = [r for r in entry["runs"] if r["solved_transitions"] is not None]
            print(task, name, entry["hparams"], f"{len(solved)}/{len(seeds)} solved", flush=True)
        out["tasks"][task] = tuned
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["fd", "bias", "tuning"])
    parser.add_argument("--out", type=Path, default=None, help="the result file")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--updates", type=int, nargs="+", default=None)
    parser.add_argument("--runs", type=int, default=12, help="tuning: training runs per tuner")
    args = parser.parse_args(argv)
    import torch

    from .common import result_header

    torch.set_num_threads(1)
    header = result_header("bench_hypergrad", argv)
    t0 = time.perf_counter()
    if args.part == "fd":
        body = fd_part(args.seeds or [0, 1, 2, 3, 4], args.updates or [10, 20], (1e-6, 1e-7))
        default = "hypergrad_fd.json"
    elif args.part == "bias":
        factors = [2.0**e for e in range(-4, 3)]
        body = bias_part(args.seeds or [0, 1, 2], args.updates or [1, 5, 10, 20, 40], factors)
        default = "hypergrad_bias.json"
    else:
        body = tuning_part(
            args.seeds or [100, 101, 102, 103, 104], (args.updates or [10])[0], args.runs
        )
        default = "hypertune_compare.json"
    out = args.out or Path("docs/results") / default
    result = {**header, "torch_threads": 1, "seconds": time.perf_counter() - t0, **body}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
