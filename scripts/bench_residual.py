"""The learned residual against the simulator alone and a network alone (``diffsim.hybrid``).

The "real" system is Pendulum-v1 with viscous joint friction (``diffsim.hybrid.friction_system``,
friction 0.1 N·m·s/rad), an effect Pendulum-v1's equations lack. From random-action
trajectories of it (training and held-out episodes drawn apart), four one-step models
predict the held-out trajectories open-loop up to 50 steps ahead from every start:

- the simulator with Pendulum-v1's default constants;
- the simulator with ``m`` and ``l`` fitted to the training data (``diffsim.identify.fit``);
- the hybrid: the fitted simulator plus a residual network (``HybridModel``);
- a network alone trained on the same data (``NeuralModel``).

The networks are trained with several seeds. Writes ``docs/results/residual.json`` and the
figure ``docs/results/residual/prediction.png``; ``report_docs`` renders ``docs/residual.md``
(``render_residual``)::

    python -m diffsim.scripts.bench_residual --out docs/results/residual.json
    python -m diffsim.scripts.bench_residual --out docs/results/residual.json --plot-only
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Optional

MODELS = ("default simulator", "fitted simulator", "hybrid", "network alone")
"""The models compared, in the tables' order."""


def run(
    friction: float,
    train_episodes: int,
    test_episodes: int,
    steps: int,
    seeds: list[int],
    iterations: int,
    horizon: int,
) -> dict[str, Any]:
    """Fit and compare the four models (module docstring); the result file's body."""
    import torch

    from diffsim import pendulum
    from diffsim.hybrid import (
        HybridModel,
        NeuralModel,
        fit_dynamics,
        friction_system,
        prediction_error,
        simulate,
    )
    from diffsim.identify import fit
    from diffsim.integrators import get_integrator

    real = friction_system(friction)
    obs, act, mask = simulate(real, train_episodes, steps, seed=0)
    test = simulate(real, test_episodes, steps, seed=1)
    t0 = time.perf_counter()
    identified = fit("pendulum", obs, act, ["m", "l"], mask=mask)
    fit_seconds = time.perf_counter() - t0
    fitted = pendulum.DEFAULT_PARAMS.replace(**identified.params)
    integ = get_integrator(pendulum.DEFAULT_INTEGRATOR)

    def sim(params: Any) -> Any:
        return lambda s, a: pendulum._step(s, a, params, integ)

    errors: dict[str, list[dict[str, Any]]] = {
        "default simulator": [prediction_error(sim(pendulum.DEFAULT_PARAMS), "pendulum", *test)],
        "fitted simulator": [prediction_error(sim(fitted), "pendulum", *test)],
        "hybrid": [],
        "network alone": [],
    }
    seconds: dict[str, list[float]] = {"hybrid": [], "network alone": []}
    for seed in seeds:
        for name, cls in (("hybrid", HybridModel), ("network alone", NeuralModel)):
            print(f"{name}, seed {seed}", flush=True)
            torch.manual_seed(seed)
            model = cls("pendulum", fitted, seed=seed)
            t0 = time.perf_counter()
            losses = fit_dynamics(
                model, obs, act, mask, horizon=horizon, iterations=iterations, seed=seed
            )
            seconds[name].append(time.perf_counter() - t0)
            err = prediction_error(model, "pendulum", *test)
            err["seed"], err["final_loss"] = seed, losses[-1]
            errors[name].append(err)
    summary = {}
    for name, runs in errors.items():
        one = [r["rmse"][0] for r in runs]
        fifty = [r["rmse"][-1] for r in runs]
        summary[name] = {
            "one_step_median": statistics.median(one),
            "h_step_median": statistics.median(fifty),
            "h_step_max": max(fifty),
            "runs": len(runs),
            "train_seconds_median": statistics.median(seconds[name]) if name in seconds else None,
        }
    fitted_h = summary["fitted simulator"]["h_step_median"]
    return {
        "settings": {
            "friction": friction,
            "train_episodes": train_episodes,
            "test_episodes": test_episodes,
            "steps": steps,
            "train_transitions": int(mask.sum()),
            "seeds": seeds,
            "iterations": iterations,
            "window": horizon,
            "horizon": len(errors["fitted simulator"][0]["rmse"]),
            "hidden": [64, 64],
        },
        "identified": {
            "params": identified.params,
            "std": identified.std,
            "seconds": fit_seconds,
        },
        "summary": summary,
        "ratios": {
            "fitted_over_hybrid": fitted_h / summary["hybrid"]["h_step_max"],
            "network_over_hybrid": summary["network alone"]["h_step_median"]
            / summary["hybrid"]["h_step_median"],
        },
        "errors": errors,
    }


def plot(r: dict[str, Any]) -> Any:
    """The median RMSE of each model against the prediction horizon (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name in MODELS:
        curves = np.array([e["rmse"] for e in r["errors"][name]])
        steps = np.arange(1, curves.shape[1] + 1)
        (line,) = ax.plot(steps, np.median(curves, 0), label=name)
        if len(curves) > 1:  # the seeds' range
            ax.fill_between(steps, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("steps predicted ahead (0.05 s each)")
    ax.set_ylabel("RMSE over the state's spread")
    ax.set_title(
        f"Pendulum-v1 with joint friction {r['settings']['friction']:g} N·m·s/rad: held-out "
        "prediction",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def main(argv: Optional[list[str]] = None) -> int:
    from diffsim.controllers.checkpoint import write_json
    from diffsim.scripts.common import result_header

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("docs/results/residual.json"))
    parser.add_argument("--friction", type=float, default=0.1)
    parser.add_argument("--train-episodes", type=int, default=10)
    parser.add_argument("--test-episodes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--figure", type=Path, default=None, help="default: beside --out")
    parser.add_argument("--plot-only", action="store_true", help="redraw from --out")
    args = parser.parse_args(argv)
    figure = args.figure or args.out.parent / "residual" / "prediction.png"
    if args.plot_only:
        import json

        result = json.loads(args.out.read_text())
    else:
        import torch

        torch.set_num_threads(1)
        t0 = time.perf_counter()
        body = run(
            args.friction,
            args.train_episodes,
            args.test_episodes,
            args.steps,
            [int(x) for x in args.seeds.split(",") if x],
            args.iterations,
            args.window,
        )
        result = {
            **result_header("bench_residual", argv),
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
