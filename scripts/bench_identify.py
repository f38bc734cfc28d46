"""Known-truth recovery: ``diffsim.identify`` on data recorded from Gymnasium's own envs.

Each case records a random-action dataset from a Gymnasium environment whose constants were
changed (``diffsim.envs.recording.record`` with ``set_attr``: Gymnasium's CartPole takes its
constants only as attributes), keeps its first ``transitions`` valid transitions, adds
observation noise (Gaussian, standard deviation ``noise`` times each observation entry's
standard deviation over the data; fresh noise for each repetition), and fits the named
parameters from the system's defaults. Recorded per repetition: the estimate, its standard
deviation and 95 % interval, whether each parameter was identified; per case: the largest
and median relative error and how many intervals cover the truth. Also: the cases the
dynamics cannot identify (their reported directions), the error against the number of
transitions, and the trebuchet's wind recovered from landing distances at known controls.
Writes ``docs/results/identify.json``; ``report_docs`` renders ``docs/identify.md``::

    python -m diffsim.scripts.bench_identify --out docs/results/identify.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

CASES: list[dict[str, Any]] = [
    {
        "name": "cartpole",
        "system": "cartpole",
        "env_id": "CartPole-v1",
        "set_attr": {"length": 0.8, "masspole": 0.2},
        "params": ["length", "masspole", "masscart"],
        "truth": {"length": 0.8, "masspole": 0.2, "masscart": 1.0},
        "window": 20,
    },
    {
        "name": "pendulum",
        "system": "pendulum",
        "env_id": "Pendulum-v1",
        "set_attr": {"m": 1.3, "l": 0.8},
        "params": ["m", "l"],
        "truth": {"m": 1.3, "l": 0.8},
        "window": 20,
    },
    {
        "name": "acrobot",
        "system": "acrobot",
        "env_id": "Acrobot-v1",
        "set_attr": {"LINK_MASS_2": 1.3, "LINK_LENGTH_1": 1.2},
        "params": ["link_mass_2", "link_length_1"],
        "truth": {"link_mass_2": 1.3, "link_length_1": 1.2},
        "window": 10,
    },
]
"""The recovery cases: Gymnasium id, the constants changed, the fitted fields and truth."""

UNIDENTIFIABLE: list[dict[str, Any]] = [
    {
        "name": "pendulum g, m, l",
        "system": "pendulum",
        "env_id": "Pendulum-v1",
        "set_attr": {"m": 1.3, "l": 0.8},
        "params": ["g", "m", "l"],
        "why": "the dynamics depend on g/l and 1/(m l²) only",
    },
    {
        "name": "cartpole force, masses",
        "system": "cartpole",
        "env_id": "CartPole-v1",
        "set_attr": {"length": 0.8, "masspole": 0.2},
        "params": ["force_mag", "masscart", "masspole"],
        "why": "scaling the force and both masses together leaves every acceleration unchanged",
    },
]
"""Parameter sets the dynamics themselves cannot identify: the fit must say so."""


def first_transitions(mask: np.ndarray, n: int) -> np.ndarray:
    """``mask`` with only its first ``n`` valid transitions (episode-major order) kept."""
    flat = mask.reshape(-1)
    keep = flat & (np.cumsum(flat) <= n)
    return keep.reshape(mask.shape)


def dataset(case: dict[str, Any], transitions: int, seed: int) -> tuple[np.ndarray, ...]:
    """Record enough random-action episodes for ``transitions`` valid transitions."""
    from diffsim.envs.recording import record

    episodes = 1
    while True:
        rec = record(case["env_id"], episodes, "random", seed=seed, set_attr=case["set_attr"])
        if int(rec.mask.sum()) >= transitions:
            break
        episodes = max(episodes + 1, int(episodes * transitions / max(int(rec.mask.sum()), 1)) + 1)
    mask = first_transitions(rec.mask, transitions)
    used = mask.any(1)  # the episodes holding the kept transitions (a prefix)
    return rec.observations[used], rec.actions[used], mask[used]


def noisy(obs: np.ndarray, mask: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """Observations plus Gaussian noise of ``level`` × each entry's spread over the data."""
    if level == 0:
        return obs
    spread = obs[:, :-1][mask].std(0)
    return obs + rng.normal(size=obs.shape) * level * spread


def recovery(
    case: dict[str, Any], transitions: int, noise: float, repetitions: int, seed: int
) -> dict[str, Any]:
    """Fit ``case`` on fresh noise ``repetitions`` times; errors, coverage, seconds."""
    from diffsim.identify import fit

    obs, act, mask = dataset(case, transitions, seed)
    rows, seconds = [], []
    for rep in range(repetitions):
        rng = np.random.default_rng(1000 * seed + rep)
        t0 = time.perf_counter()
        res = fit(
            case["system"],
            noisy(obs, mask, noise, rng),
            act,
            case["params"],
            mask=mask,
            window=case["window"],
        )
        seconds.append(time.perf_counter() - t0)
        rows.append(
            {
                "params": res.params,
                "std": res.std,
                "interval95": {k: list(v) if v else None for k, v in res.interval95.items()},
                "identifiable": res.identifiable,
                "iterations": res.iterations,
            }
        )
    summary = {}
    for name, truth in case["truth"].items():
        errors = [
            abs(r["params"][name] / truth - 1) if r["params"][name] is not None else None
            for r in rows
        ]
        found = [e for e in errors if e is not None]
        covered = sum(
            1
            for r in rows
            if r["interval95"][name]
            and r["interval95"][name][0] <= truth <= r["interval95"][name][1]
        )
        summary[name] = {
            "truth": truth,
            "identified": len(found),
            "max_rel_error": max(found) if found else None,
            "median_rel_error": statistics.median(found) if found else None,
            "median_rel_std": statistics.median(
                r["std"][name] / r["params"][name] for r in rows if r["std"][name] is not None
            )
            if found
            else None,
            "covered": covered,
        }
    return {
        "case": case["name"],
        "system": case["system"],
        "env_id": case["env_id"],
        "set_attr": case["set_attr"],
        "params": case["params"],
        "window": case["window"],
        "transitions": int(mask.sum()),
        "noise": noise,
        "repetitions": repetitions,
        "seconds_per_fit": statistics.median(seconds),
        "summary": summary,
        "runs": rows,
    }


def unidentifiable(case: dict[str, Any], transitions: int, seed: int) -> dict[str, Any]:
    """The fit of a parameter set the dynamics cannot identify (noise-free data)."""
    from diffsim.identify import fit

    obs, act, mask = dataset(case, transitions, seed)
    res = fit(case["system"], obs, act, case["params"], mask=mask)
    return {
        "case": case["name"],
        "env_id": case["env_id"],
        "set_attr": case["set_attr"],
        "params": case["params"],
        "why": case["why"],
        "transitions": int(mask.sum()),
        "identifiable": res.identifiable,
        "reported": res.params,
        "directions": res.unidentified,
        "table": res.table(),
    }


def trebuchet(shots: int, noise_m: float, repetitions: int, seed: int) -> dict[str, Any]:
    """The wind recovered from ``shots`` landing distances at known random controls."""
    import torch

    from diffsim.identify import fit_shots
    from diffsim.trebuchet import shoot

    rows = []
    for rep in range(repetitions):
        rng = np.random.default_rng(10_000 + 1000 * seed + rep)
        wind = float(rng.normal(0.0, 5.0))  # the post's wind distribution
        angle = rng.uniform(30.0, 60.0, shots)
        weight = rng.uniform(100.0, 250.0, shots)
        with torch.no_grad():
            dist = shoot(
                torch.tensor(wind, dtype=torch.float64), torch.tensor(angle), torch.tensor(weight)
            )
        dist = dist.numpy() + rng.normal(size=shots) * noise_m
        t0 = time.perf_counter()
        res = fit_shots(angle, weight, dist, ["wind"])
        lo, hi = res.interval95["wind"]
        rows.append(
            {
                "wind": wind,
                "estimate": res.params["wind"],
                "std": res.std["wind"],
                "interval95": [lo, hi],
                "covered": lo <= wind <= hi,
                "seconds": time.perf_counter() - t0,
            }
        )
    errors = [abs(r["estimate"] - r["wind"]) for r in rows]
    return {
        "shots": shots,
        "noise_m": noise_m,
        "repetitions": repetitions,
        "max_abs_error": max(errors),
        "median_abs_error": statistics.median(errors),
        "median_std": statistics.median(r["std"] for r in rows),
        "covered": sum(r["covered"] for r in rows),
        "seconds_per_fit": statistics.median(r["seconds"] for r in rows),
        "runs": rows,
    }


def main(argv: Optional[list[str]] = None) -> int:
    from diffsim.controllers.checkpoint import write_json
    from diffsim.scripts.common import result_header

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("docs/results/identify.json"))
    parser.add_argument("--transitions", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument(
        "--noise", default="0.005,0.01,0.02", help="noise levels (fractions of the spread)"
    )
    parser.add_argument(
        "--sizes", default="100,250,500,1000", help="transitions of the sample-size sweep"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", default=",".join(c["name"] for c in CASES))
    args = parser.parse_args(argv)
    levels = [float(x) for x in args.noise.split(",") if x]
    sizes = [int(x) for x in args.sizes.split(",") if x]
    chosen = [c for c in CASES if c["name"] in args.cases.split(",")]
    t0 = time.perf_counter()
    recoveries = []
    for case in chosen:
        for noise in [0.0, *levels]:
            reps = 1 if noise == 0 else args.repetitions
            print(f"{case['name']}: noise {noise:g}, {reps} fit(s)", flush=True)
            recoveries.append(recovery(case, args.transitions, noise, reps, args.seed))
    sample_size = []
    for case in chosen[:2]:
        for n in sizes:
            for noise in (0.0, 0.01):
                reps = 1 if noise == 0 else 5
                print(f"{case['name']}: {n} transitions, noise {noise:g}", flush=True)
                r = recovery(case, n, noise, reps, args.seed)
                sample_size.append(
                    {k: r[k] for k in ("case", "transitions", "noise", "repetitions", "summary")}
                )
    unident = [unidentifiable(c, args.transitions, args.seed) for c in UNIDENTIFIABLE]
    treb = [trebuchet(10, noise, args.repetitions, args.seed) for noise in (0.0, 0.5, 2.0)]
    result = {
        **result_header("bench_identify", argv),
        "settings": {
            "transitions": args.transitions,
            "repetitions": args.repetitions,
            "noise": levels,
            "sizes": sizes,
            "seed": args.seed,
            "policy": "random (the action space's sample)",
        },
        "recovery": recoveries,
        "sample_size": sample_size,
        "unidentifiable": unident,
        "trebuchet": treb,
        "seconds": time.perf_counter() - t0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"wrote {args.out} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
