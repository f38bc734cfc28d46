"""``diffsim plot``: pictures of what the physics and the controllers do.

``diffsim plot trajectory ENV`` rolls out a named system from its reset distribution with a
simple policy (``zero`` or ``random``); ``diffsim plot trajectory RUN_DIR`` rolls out the
trained policy of a run directory (deterministically) on the system it was trained on.
Either draws the states and actions against time, with the termination marked (CartPole)
and a phase portrait (Pendulum).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import numpy as np
import torch

from .. import cartpole, pendulum
from .._validation import check_choice


@dataclass(frozen=True)
class _System:
    module: ModuleType
    params: Any
    labels: tuple[str, ...]
    action_label: str
    action_scale: float
    limits: Optional[tuple[Optional[float], ...]] = None
    phase: Optional[tuple[int, int]] = None
    default_steps: int = 200


SYSTEMS = {
    "cartpole": _System(
        cartpole,
        cartpole.CartPoleParams(),
        ("x (m)", "ẋ (m/s)", "θ (rad)", "θ̇ (rad/s)"),
        "push (−1…1, ×10 N)",
        1.0,
        limits=(2.4, None, cartpole.CartPoleParams().theta_threshold, None),
        default_steps=500,
    ),
    "pendulum": _System(
        pendulum,
        pendulum.PendulumParams(),
        ("θ (rad)", "θ̇ (rad/s)"),
        "torque (N·m)",
        2.0,
        phase=(0, 1),
    ),
    "pendulum-2019": _System(
        pendulum,
        pendulum.PendulumParams.variant_2019(),
        ("θ (rad)", "θ̇ (rad/s)"),
        "torque (N·m)",
        2.0,
        phase=(0, 1),
    ),
}


def simulate_system(
    name: str, policy: str = "zero", steps: Optional[int] = None, starts: int = 1, seed: int = 0
) -> dict[str, np.ndarray]:
    """Roll out ``starts`` initial states of a named system under a simple policy.

    Returns times ``[T+1]`` (s), states ``[T+1, K, n]``, actions ``[T, K]`` and ``ended_at``
    (per start, the index of the terminating state, or -1).
    """
    check_choice("system", name, SYSTEMS)
    check_choice("policy", policy, ("zero", "random"))
    spec = SYSTEMS[name]
    steps = spec.default_steps if steps is None else steps
    if steps < 1 or starts < 1:
        raise ValueError(f"steps and starts must be positive, got {steps} and {starts}")
    g = torch.Generator().manual_seed(seed)
    state = spec.module.sample_initial(starts, generator=g, dtype=torch.float64)
    states, actions = [state], []
    ended = torch.full((starts,), -1)
    for t in range(steps):
        if policy == "zero":
            a = torch.zeros(starts, dtype=torch.float64)
        else:
            a = (torch.rand(starts, generator=g, dtype=torch.float64) * 2 - 1) * spec.action_scale
        state = spec.module.step(state, a, spec.params)
        states.append(state)
        actions.append(a)
        done = spec.module.terminated(state, spec.params) & (ended < 0)
        ended = torch.where(done, torch.tensor(t + 1), ended)
    dt = spec.params.tau if name == "cartpole" else spec.params.dt
    return {
        "times": np.arange(steps + 1) * float(dt),
        "states": torch.stack(states).numpy(),
        "actions": torch.stack(actions).numpy(),
        "ended_at": ended.numpy(),
    }


def simulate_run(
    run_dir: Path, steps: Optional[int] = None, starts: int = 1, seed: int = 0
) -> tuple[str, dict[str, np.ndarray]]:
    """Roll out the trained policy of ``run_dir`` (deterministic); returns (system, data)."""
    from diffsim.controllers import load_policy
    from diffsim.envs.rollout import get_task, rollout

    agent = load_policy(run_dir)
    task = get_task(agent.env_id)
    name = {"diffsim/Pendulum2019-v1": "pendulum-2019"}.get(
        task.env_id, "cartpole" if task.system is cartpole else "pendulum"
    )
    steps = task.max_episode_steps if steps is None else steps
    with torch.no_grad():
        out = rollout(agent.policy.deterministic, task, horizon=steps, batch_size=starts, seed=seed)
    ended = torch.where(
        out.terminated.any(0), out.terminated.float().argmax(0) + 1, torch.tensor(-1)
    )
    return name, {
        "times": np.arange(steps + 1) * task.dt,
        "states": out.states.double().numpy(),
        "actions": out.actions.double().numpy(),
        "ended_at": ended.numpy(),
    }


def trajectory(
    target: str, policy: str = "zero", steps: Optional[int] = None, starts: int = 1, seed: int = 0
):
    """The trajectory figure of a named system under a simple policy, or of a run directory's
    trained policy (see :func:`diffsim.scripts.plots.trajectory_figure`)."""
    from .plots import trajectory_figure

    if Path(target).is_dir():
        name, data = simulate_run(Path(target), steps, starts, seed)
        what = f"trained policy of {Path(target).name}"
    elif "/" in target:
        raise FileNotFoundError(f"run directory {target} does not exist")
    else:
        name, data = target, simulate_system(target, policy, steps, starts, seed)
        what = f"{policy} policy"
    spec = SYSTEMS[name]
    ended = [int(e) if e >= 0 else None for e in data["ended_at"]]
    return trajectory_figure(
        data["times"],
        data["states"],
        data["actions"],
        spec.labels,
        spec.action_label,
        ended_at=ended,
        limits=spec.limits,
        phase=spec.phase,
        title=f"{name}: {what}, {starts} start{'s' if starts > 1 else ''} (seed {seed})",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plot", help="draw trajectories")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    t = kinds.add_parser("trajectory", help="states and actions against time")
    t.add_argument(
        "target", metavar="ENV|RUN_DIR", help=f"a system ({', '.join(SYSTEMS)}) or a run directory"
    )
    t.add_argument("--policy", default="zero", help="zero or random (default: zero)")
    t.add_argument(
        "--steps", type=int, default=None, help="steps to simulate (default: the env's time limit)"
    )
    t.add_argument("--starts", type=int, default=1, help="initial states drawn (default: 1)")
    t.add_argument("--seed", type=int, default=0, help="seed of the initial states")
    t.add_argument(
        "--out", type=Path, default=None, help="PNG to write (default: runs/<ENV>_trajectory.png)"
    )
    t.add_argument("--dpi", type=int, default=110, help="resolution of the PNG")
    t.set_defaults(func=run_trajectory)


def run_trajectory(args: argparse.Namespace) -> int:
    fig = trajectory(args.target, args.policy, args.steps, args.starts, args.seed)
    out = args.out or (
        Path(args.target) / "trajectory.png"
        if Path(args.target).is_dir()
        else Path("runs") / f"{args.target}_trajectory.png"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=args.dpi)
    print(f"wrote {out}")
    return 0
