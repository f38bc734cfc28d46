"""From simulation to a different "real" system: train, measure the loss, fit, retrain.

The "real" system is Gymnasium's own Pendulum-v1 with stronger gravity (``g = 15`` m/s²
instead of 10, set on the env as an attribute); the simulator is diffsim's Pendulum-v1 with
its defaults. For each seed the loop is:

1. train the default method (``shac``, its default budget) on the nominal simulator and
   evaluate it on the real system (the benchmark protocol: 100 episodes, the fixed
   evaluation seed);
2. record random-action episodes of the real system (``diffsim.envs.recording.record``),
   add observation noise (``--noise`` times each entry's spread), and keep the first N
   transitions, for each N of ``--sizes`` (at most 1,000);
3. fit the simulator's ``g`` and ``m`` to them (``diffsim.identify.fit``), retrain with the
   same seed on the refined simulator (``SHACTrainer(params=...)``) and evaluate on the
   real system;
4. the reference: the same training on the real constants (the oracle).

Every controller is trained ``--restarts`` times from different seeds and keeps the policy
that scored best on fixed starts of the simulator it was trained on (checked every
``--select-every`` transitions; never on the real system).

The gap closed is ``(R_refined − R_nominal) / (R_oracle − R_nominal)`` on the real system.
Writes ``docs/results/sim_to_real.json`` and the figure
``docs/results/sim_to_real/return.png``; ``report_docs`` renders ``docs/sim_to_real.md``::

    python -m diffsim.scripts.sim_to_real --out docs/results/sim_to_real.json
    python -m diffsim.scripts.sim_to_real --out docs/results/sim_to_real.json --plot-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

REAL: dict[str, float] = {"g": 15.0}
"""The real system's constants that differ from the simulator's (Pendulum-v1 attributes)."""

FITTED = ("g", "m")
"""The simulator's fields fitted to the real data."""


def gap_closed(refined: float, nominal: float, oracle: float) -> float:
    """``(refined − nominal) / (oracle − nominal)``: 1 when retraining on the refined
    simulator does as well as training on the real constants, 0 when it gains nothing.

    Raises:
        ValueError: ``oracle == nominal`` (there is no gap to close).
    """
    if oracle == nominal:
        raise ValueError("the oracle and the nominal controller score the same: no gap")
    return (refined - nominal) / (oracle - nominal)


def _first(mask: np.ndarray, n: int) -> np.ndarray:
    """``mask`` keeping only its first ``n`` valid transitions (episode-major)."""
    flat = mask.reshape(-1)
    return (flat & (np.cumsum(flat) <= n)).reshape(mask.shape)


SELECT_SEED = 20_000
"""Seeds the simulator starts on which a training run's best policy is selected (not the
evaluation's: selection never sees the real system or its starts)."""


RESTART_STRIDE = 1000
"""Restart ``k`` of a training with seed ``s`` uses seed ``s + k * RESTART_STRIDE``."""


def _train(params: Any, seed: int, budget: int, select_every: int, restarts: int = 2) -> Any:
    """SHAC on the simulator with ``params``, ``restarts`` times from different seeds; the
    policy kept is the one that scored best on 100 fixed simulator starts over all restarts,
    checked every ``select_every`` transitions and at the end of each (model selection on the
    simulator the controller is trained on, as a practitioner without access to the real
    system would do it). Nominal, oracle and refined controllers are all trained this way."""
    import copy

    import torch

    from diffsim.controllers.shac import SHACTrainer
    from diffsim.envs.rollout import rollout

    best, kept, trainer = -float("inf"), None, None
    for k in range(restarts):
        trainer = SHACTrainer("pendulum", seed=seed + k * RESTART_STRIDE, params=params)
        gen = torch.Generator().manual_seed(SELECT_SEED)
        starts = trainer.task.system.sample_initial((100,), generator=gen, dtype=torch.float32)
        check = select_every
        while trainer.transitions < budget:
            trainer.update()
            if trainer.transitions >= min(check, budget):
                check += select_every
                policy = trainer.policy
                with torch.no_grad():
                    out = rollout(
                        lambda o, policy=policy: policy.deterministic(o).reshape(-1),
                        trainer.task,
                        starts,
                        trainer.task.max_episode_steps,
                    )
                score = float(out.rewards.sum(0).mean())
                if score > best:
                    best, kept = score, copy.deepcopy(trainer.policy.state_dict())
    assert trainer is not None and kept is not None
    trainer.policy.load_state_dict(kept)
    return trainer.agent()


def run_loop(
    real: Mapping[str, float],
    sizes: Sequence[int],
    seeds: Sequence[int],
    *,
    budget: int,
    noise: float,
    eval_episodes: int,
    select_every: int = 20_000,
    restarts: int = 2,
    progress: bool = True,
) -> dict[str, Any]:
    """The loop of the module docstring; the result file's body.

    Raises:
        ValueError: a size below 10 or above the recorded transitions' 1,000, no seeds, or
            ``restarts`` below 1.
    """
    from diffsim import pendulum
    from diffsim.controllers.evaluate import EVAL_SEED, evaluate
    from diffsim.envs.recording import record
    from diffsim.identify import MIN_TRANSITIONS, fit

    sizes = sorted(int(n) for n in sizes)
    if not seeds:
        raise ValueError("expected at least one seed")
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    if not sizes or sizes[0] < MIN_TRANSITIONS or sizes[-1] > 1000:
        raise ValueError(
            f"sizes must be between {MIN_TRANSITIONS} and 1000 real transitions, got {sizes}"
        )
    nominal_params = pendulum.DEFAULT_PARAMS
    real_params = nominal_params.replace(**real)

    def score(agent: Any) -> float:
        return evaluate(agent, "Pendulum-v1", eval_episodes, EVAL_SEED, set_attr=real).mean

    runs = []
    for seed in seeds:
        say = print if progress else (lambda *a, **k: None)
        say(f"seed {seed}: nominal and oracle controllers", flush=True)
        t0 = time.perf_counter()
        nominal_agent = _train(None, seed, budget, select_every, restarts)
        train_seconds = time.perf_counter() - t0
        nominal = score(nominal_agent)
        nominal_on_sim = evaluate(nominal_agent, "Pendulum-v1", eval_episodes, EVAL_SEED).mean
        oracle = score(_train(real_params, seed, budget, select_every, restarts))
        episodes = -(-sizes[-1] // 200)
        rec = record("Pendulum-v1", episodes, "random", seed=seed, set_attr=real)
        rng = np.random.default_rng(seed)
        obs = rec.observations.astype(np.float64)
        if noise:
            obs = obs + rng.normal(size=obs.shape) * noise * obs[:, :-1][rec.mask].std(0)
        refined = []
        for n in sizes:
            mask = _first(rec.mask, n)
            res = fit("pendulum", obs, rec.actions, list(FITTED), mask=mask)
            values = {k: v for k, v in res.params.items() if v is not None}
            agent = _train(nominal_params.replace(**values), seed, budget, select_every, restarts)
            ret = score(agent)
            say(f"  {n} real transitions: fitted {values}, return {ret:.1f}", flush=True)
            refined.append(
                {
                    "transitions": n,
                    "fitted": res.params,
                    "std": res.std,
                    "return": ret,
                    "gap_closed": gap_closed(ret, nominal, oracle),
                }
            )
        runs.append(
            {
                "seed": seed,
                "nominal_on_simulator": nominal_on_sim,
                "nominal": nominal,
                "oracle": oracle,
                "refined": refined,
                "train_seconds": train_seconds,
            }
        )
    summary = []
    for i, n in enumerate(sizes):
        closed = [r["refined"][i]["gap_closed"] for r in runs]
        summary.append(
            {
                "transitions": n,
                "median_return": statistics.median(r["refined"][i]["return"] for r in runs),
                "median_gap_closed": statistics.median(closed),
                "min_gap_closed": min(closed),
            }
        )
    return {
        "real": dict(real),
        "fitted_params": list(FITTED),
        "settings": {
            "method": "shac",
            "budget": budget,
            "select_every": select_every,
            "restarts": restarts,
            "seeds": list(seeds),
            "sizes": sizes,
            "noise": noise,
            "eval_episodes": eval_episodes,
            "data_policy": "random (the action space's sample)",
        },
        "median_nominal_on_simulator": statistics.median(r["nominal_on_simulator"] for r in runs),
        "median_nominal": statistics.median(r["nominal"] for r in runs),
        "median_oracle": statistics.median(r["oracle"] for r in runs),
        "summary": summary,
        "runs": runs,
    }


def plot(r: dict[str, Any]) -> Any:
    """Return on the real system against the real transitions used (figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s["transitions"] for s in r["summary"]]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for run in r["runs"]:
        ax.plot(sizes, [x["return"] for x in run["refined"]], color="C0", alpha=0.3, lw=1)
    ax.plot(
        sizes,
        [s["median_return"] for s in r["summary"]],
        "o-",
        color="C0",
        label="retrained on the refined simulator (median; seeds faint)",
    )
    for key, color, label in (
        ("oracle", "C2", "trained on the real constants"),
        ("nominal", "C3", "trained on the nominal simulator"),
    ):
        values = [run[key] for run in r["runs"]]
        ax.axhline(r[f"median_{key}"], color=color, ls="--", label=f"{label} (median)")
        ax.axhspan(min(values), max(values), color=color, alpha=0.12, lw=0)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.set_xlabel("real transitions used to fit the simulator")
    ax.set_ylabel("mean return on the real system")
    changed = ", ".join(f"{k} = {v:g}" for k, v in r["real"].items())
    ax.set_title(
        f"Pendulum-v1 with {changed}: sim-to-real with a fitted simulator "
        "(bands: range over seeds)",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="center right")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(argv: Optional[list[str]] = None) -> int:
    from diffsim.controllers.checkpoint import write_json
    from diffsim.scripts.common import result_header

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("docs/results/sim_to_real.json"))
    parser.add_argument("--figure", type=Path, default=None, help="default: beside --out")
    parser.add_argument("--sizes", default="100,250,500,1000", help="real transitions used")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--budget", type=int, default=200_000, help="training transitions")
    parser.add_argument("--noise", type=float, default=0.01, help="observation noise")
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--select-every", type=int, default=20_000)
    parser.add_argument("--restarts", type=int, default=2, help="trainings per controller")
    parser.add_argument("--plot-only", action="store_true", help="redraw from --out")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    figure = args.figure or args.out.parent / "sim_to_real" / "return.png"
    if args.plot_only:
        result = json.loads(args.out.read_text())
    else:
        import torch

        torch.set_num_threads(1)
        t0 = time.perf_counter()
        body = run_loop(
            REAL,
            [int(x) for x in args.sizes.split(",") if x],
            [int(x) for x in args.seeds.split(",") if x],
            budget=args.budget,
            noise=args.noise,
            eval_episodes=args.eval_episodes,
            select_every=args.select_every,
            restarts=args.restarts,
            progress=not args.quiet,
        )
        result = {
            **result_header("sim_to_real", argv),
            **body,
            "seconds": time.perf_counter() - t0,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, result)
        print(f"wrote {args.out} in {result['seconds']:.0f} s")
    figure.parent.mkdir(parents=True, exist_ok=True)
    plot(result).savefig(figure, dpi=110)
    print(f"wrote {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
