"""``diffsim bench``: steps per second of the batched physics against Gymnasium.

Steps/s counts batch elements: ``batch × steps ÷ seconds``. Each measurement is a rollout of
``--steps`` steps (200 by default) with actions drawn beforehand; the figure reported is
the median of ``--repeats`` timed runs after one warm-up run. Modes:

- ``forward``: the rollout under ``torch.no_grad()``;
- ``forward+backward``: the rollout with actions requiring grad, then ``backward()`` of the
  sum of the final states (the cost of one BPTT iteration without a policy).

The rollout validates its inputs once through the public ``step`` and then loops over the
unchecked step, as the rollout API does. Gymnasium's ``CartPole-v1`` (one env, random
actions, reset on termination) and its vectorized numpy CartPole (``make_vec`` with the
vector entry point, 1,024 envs) are measured in the same run for the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import cartpole, pendulum
from .._machine import machine_info
from ..integrators import get_integrator
from .common import add_threads_option, apply_threads

SYSTEMS = {"cartpole": cartpole, "pendulum": pendulum}
DEFAULT_BATCHES = (1, 64, 4096, 262144)


def _timed(fn: Callable[[], Any], repeats: int, device: torch.device) -> float:
    """Median wall-clock seconds of ``fn`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_physics(
    system: str,
    batch: int,
    steps: int,
    mode: str,
    *,
    repeats: int = 3,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
) -> float:
    """Steps/s of a ``steps``-long rollout of ``system`` at ``batch`` (see module docstring)."""
    module = SYSTEMS[system]
    dev = torch.device(device)
    g = torch.Generator(device=dev).manual_seed(0)
    state0 = module.sample_initial(batch, generator=g, dtype=dtype, device=dev)
    actions = torch.rand((steps, batch), generator=g, dtype=dtype, device=dev) * 2 - 1
    params = module.DEFAULT_PARAMS
    integrator = get_integrator(module.DEFAULT_INTEGRATOR)

    def rollout(acts: torch.Tensor) -> torch.Tensor:
        state = module.step(state0, acts[0], params, integrator)  # validates once
        for t in range(1, steps):
            state = module._step(state, acts[t], params, integrator)
        return state

    if mode == "forward":

        def run() -> None:
            with torch.no_grad():
                rollout(actions)

    elif mode == "forward+backward":
        leaf = actions.clone().requires_grad_()

        def run() -> None:
            leaf.grad = None
            rollout(leaf).sum().backward()

    else:
        raise ValueError(f"unknown mode {mode!r}; expected forward or forward+backward")
    return batch * steps / _timed(run, repeats, dev)


def bench_gymnasium_single(steps: int = 20_000) -> float:
    """Steps/s of Gymnasium's ``CartPole-v1`` (one env, random actions, reset when done)."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, size=steps)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(int(a))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def bench_gymnasium_vector(num_envs: int = 1024, steps: int = 500) -> float:
    """Steps/s of Gymnasium's vectorized numpy CartPole at ``num_envs`` (autoreset)."""
    import gymnasium as gym

    envs = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, size=(steps, num_envs))
    envs.step(actions[0])
    start = time.perf_counter()
    for a in actions:
        envs.step(a)
    elapsed = time.perf_counter() - start
    envs.close()
    return num_envs * steps / elapsed


def run_bench(
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    steps: int = 200,
    repeats: int = 3,
    device: str = "cpu",
    gym_steps: int = 20_000,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every measurement and return the result dictionary (see :func:`format_table`)."""
    from tqdm.auto import tqdm

    jobs = [(s, b, m) for s in SYSTEMS for m in ("forward", "forward+backward") for b in batches]
    rows = []
    for system, batch, mode in tqdm(jobs, desc="bench", disable=not progress):
        # Fewer repeats at large batches keeps the whole bench to a minute or two.
        reps = repeats if batch * steps <= 1_000_000 else max(1, repeats // 2)
        sps = bench_physics(system, batch, steps, mode, repeats=reps, device=device)
        rows.append(
            {
                "system": system,
                "batch": batch,
                "mode": mode,
                "steps": steps,
                "device": device,
                "steps_per_s": sps,
            }
        )
    reference = {
        "gymnasium_cartpole_single": bench_gymnasium_single(gym_steps),
        "gymnasium_cartpole_vector_1024": bench_gymnasium_vector(1024, max(50, gym_steps // 40)),
    }
    return {"machine": machine_info(), "results": rows, "reference": reference}


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of a :func:`run_bench` result, with ratios to Gymnasium."""
    ref = result["reference"]
    single, vector = ref["gymnasium_cartpole_single"], ref["gymnasium_cartpole_vector_1024"]
    lines = [
        f"machine: {result['machine']['cpu']} ({result['machine']['cores']} cores, "
        f"torch {result['machine']['torch']}, {result['machine']['torch_threads']} threads)",
        f"Gymnasium CartPole-v1, one env:            {single:12.3g} steps/s",
        f"Gymnasium CartPole-v1, numpy vector x1024: {vector:12.3g} steps/s",
        "",
        f"{'system':10} {'mode':17} {'batch':>8} {'steps/s':>10} {'vs gym 1 env':>13} "
        f"{'vs gym vec':>11}",
    ]
    for r in result["results"]:
        lines.append(
            f"{r['system']:10} {r['mode']:17} {r['batch']:8d} {r['steps_per_s']:10.3g} "
            f"{r['steps_per_s'] / single:13.3g} {r['steps_per_s'] / vector:11.3g}"
        )
    return "\n".join(lines)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure steps/s of the physics against Gymnasium",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--batches",
        type=lambda s: tuple(int(b) for b in s.split(",")),
        default=DEFAULT_BATCHES,
        help="comma-separated batch sizes (default: 1,64,4096,262144)",
    )
    p.add_argument("--steps", type=int, default=200, help="rollout length (default: 200)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    add_threads_option(p)
    p.add_argument(
        "--gym-steps",
        type=int,
        default=20_000,
        help="steps for Gymnasium's single env (default: 20000)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/bench.json"),
        help="JSON result file (default: runs/bench.json)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.repeats < 1 or any(b < 1 for b in args.batches):
        raise ValueError("--steps, --repeats and --batches must be positive")
    apply_threads(args)
    result = run_bench(args.batches, args.steps, args.repeats, args.device, args.gym_steps)
    result["command"] = "diffsim bench " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in vars(args).items()
        if k not in ("func", "command")
    )
    print(format_table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0
