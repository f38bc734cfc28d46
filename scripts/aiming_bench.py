"""Train the trebuchet aiming network (or load a run directory) and measure it.

Trains :class:`diffsim.controllers.aiming.AimingTrainer` with its tuned defaults on one CPU
thread (or loads ``--run DIR``'s ``policy.pt``), evaluates it on the fixed test sets of
:func:`diffsim.controllers.aiming.evaluate_aiming` (the 2019 post's distribution, reachable
pairs only, and the env's), times the network and ``trebuchet.aim`` in the same run and
writes the figures as JSON (default ``docs/results/aiming.json``)::

    python -m diffsim.scripts.aiming_bench            # train (≈ 3 min) + evaluate
    python -m diffsim.scripts.aiming_bench --run DIR  # evaluate a saved policy.pt
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from diffsim.controllers import load_policy
from diffsim.controllers.aiming import AimingConfig, AimingTrainer, evaluate_aiming

TARGETS = {"median_rel_miss": 1e-3, "p95_rel_miss": 5e-3, "network_us_per_aim": 5.0}
"""The issue's targets (post distribution): relative misses and µs per aim in a batch."""


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="evaluate DIR/policy.pt")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--save", type=Path, default=None, help="write policy.pt into DIR")
    parser.add_argument("--n", type=int, default=1000, help="pairs per test set")
    parser.add_argument("--test-seed", type=int, default=0, help="seed of the test sets")
    parser.add_argument("--aim-subset", type=int, default=4, help="pairs timed with aim")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=Path("docs/results/aiming.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    result: dict = {
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
    }
    if args.run is not None:
        agent = load_policy(args.run)
        net = agent.policy
        result["run"] = str(args.run)
    else:
        config = AimingConfig()
        start = time.perf_counter()
        trainer = AimingTrainer(config=config, seed=args.seed)
        setup = time.perf_counter() - start
        curve = []
        start = time.perf_counter()
        for i in range(config.updates):
            m = trainer.update()
            if (i + 1) % 25 == 0 or i == 0:
                curve.append(
                    {
                        "update": i + 1,
                        "seconds": round(time.perf_counter() - start, 2),
                        "batch_median_rel_miss": m["median_rel_miss"],
                        "loss": m["loss"],
                    }
                )
                print(curve[-1], flush=True)
        train_seconds = time.perf_counter() - start
        net = trainer.policy
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            trainer.save(args.save / "policy.pt")
        result.update(
            seed=args.seed,
            config=config.to_dict(),
            setup_seconds=round(setup, 2),
            train_seconds=round(train_seconds, 2),
            transitions=config.updates * config.batch_size,
            curve=curve,
        )
    start = time.perf_counter()
    ev = evaluate_aiming(net, n=args.n, seed=args.test_seed, aim_subset=args.aim_subset)
    result["eval_seconds"] = round(time.perf_counter() - start, 2)
    result["evaluation"] = ev
    post = ev["post"]
    result["targets"] = {
        "median_rel_miss": [post["median_rel_miss"], TARGETS["median_rel_miss"]],
        "p95_rel_miss": [post["p95_rel_miss"], TARGETS["p95_rel_miss"]],
        "network_us_per_aim": [ev["network_us_per_aim"], TARGETS["network_us_per_aim"]],
        "met": bool(
            post["median_rel_miss"] <= TARGETS["median_rel_miss"]
            and post["p95_rel_miss"] <= TARGETS["p95_rel_miss"]
            and ev["network_us_per_aim"] <= TARGETS["network_us_per_aim"]
            and result.get("train_seconds", 0.0) <= 300.0
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(ev, indent=2))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
