"""The yardstick of MountainCar-v0: the return of a near-optimal policy, by dynamic programming.

The car's time-optimal control has no closed form. This script computes it approximately:
value iteration of the minimum number of steps to the goal on a grid of (position, velocity)
states, with diffsim's own step (:func:`diffsim.mountain_car.step`, Gymnasium's equations) and
bilinear interpolation of the value between grid points, then acts greedily with that value
on the protocol's evaluation (100 episodes of Gymnasium's own ``MountainCar-v0`` from the
fixed reset seed, :func:`diffsim.controllers.evaluate`). The greedy policy is a policy like
any other, so its evaluated return is one that can be reached: the optimum is at least as
good (the grid's interpolation error can only cost steps). It also reports the mean number
of steps from 201 evenly spaced starts of the reset range, and the same figures for
"push along the velocity" (right at rest), the policy the energy deficit alone converges to.

For MountainCarContinuous-v0, whose return ``100 − 0.1·Σa²`` rewards gentle pushes that
still reach the goal, it evaluates pushing with force ``±c`` along the velocity (``+c`` at
rest) for a few ``c`` on the same protocol (Gymnasium's own env): how the return grows as the
push weakens, up to the point where the car no longer reaches the goal in 999 steps.

It writes ``docs/results/mountaincar_optimum.json``, which ``docs/reference_dynamics.md``
quotes::

    python -m diffsim.scripts.mountaincar_optimum          # about a minute on one core
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from diffsim import mountain_car as mc

ACTIONS = (-1.0, 0.0, 1.0)
"""The pushes of Gymnasium's actions 0, 1, 2."""


class GridValue:
    """The minimum steps to the goal on a ``positions × velocities`` grid (see the module
    docstring), and the greedy policy it defines."""

    def __init__(self, positions: int, velocities: int, tolerance: float, max_iterations: int):
        p = mc.DEFAULT_PARAMS
        self.x = np.linspace(p.min_position, p.max_position, positions)
        self.v = np.linspace(-p.max_speed, p.max_speed, velocities)
        grid = np.stack(np.meshgrid(self.x, self.v, indexing="ij"), -1).reshape(-1, 2)
        self.shape = (positions, velocities)
        self.next_states = [mc.step(grid, np.full(len(grid), a)) for a in ACTIONS]
        self.ends = [mc.terminated(s) for s in self.next_states]
        self.value = np.zeros(len(grid))
        self.iterations = 0
        for self.iterations in range(1, max_iterations + 1):
            new = np.min(self._q(self.next_states, self.ends), axis=0)
            change = float(np.abs(new - self.value).max())
            self.value = new
            if change < tolerance:
                break
        self.change = change

    def _interpolate(self, states: np.ndarray) -> np.ndarray:
        nx, nv = self.shape
        fx = (states[:, 0] - self.x[0]) / (self.x[-1] - self.x[0]) * (nx - 1)
        fv = (states[:, 1] - self.v[0]) / (self.v[-1] - self.v[0]) * (nv - 1)
        i = np.clip(np.floor(fx).astype(int), 0, nx - 2)
        j = np.clip(np.floor(fv).astype(int), 0, nv - 2)
        a, b = fx - i, fv - j
        value = self.value.reshape(self.shape)
        return (
            value[i, j] * (1 - a) * (1 - b)
            + value[i + 1, j] * a * (1 - b)
            + value[i, j + 1] * (1 - a) * b
            + value[i + 1, j + 1] * a * b
        )

    def _q(self, next_states: list, ends: list) -> np.ndarray:
        return np.stack(
            [1.0 + np.where(e, 0.0, self._interpolate(s)) for s, e in zip(next_states, ends)]
        )

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Gymnasium's action (0, 1, 2) of the greedy policy for observations ``[N, 2]``."""
        states = np.asarray(obs, dtype=np.float64).reshape(-1, 2)
        nexts = [mc.step(states, np.full(len(states), a)) for a in ACTIONS]
        return np.argmin(self._q(nexts, [mc.terminated(s) for s in nexts]), axis=0)


class AlongVelocity:
    """Push along the velocity, right at rest (Gymnasium's actions)."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(obs).reshape(-1, 2)[:, 1] >= 0, 2, 0)


class ScaledAlongVelocity:
    """The continuous car's force ``±c`` along the velocity, ``+c`` at rest."""

    def __init__(self, c: float):
        self.c = c

    def act(self, obs: np.ndarray) -> np.ndarray:
        v = np.asarray(obs, dtype=np.float64).reshape(-1, 2)[:, 1]
        return np.where(v >= 0, self.c, -self.c).astype(np.float32)[:, None]


CONTINUOUS_FORCES = (1.0, 0.8, 0.6, 0.4, 0.3, 0.25, 0.2, 0.15)
"""The forces ``c`` of :class:`ScaledAlongVelocity` evaluated."""


def steps_from_starts(agent: Any, starts: np.ndarray) -> np.ndarray:
    """Steps to the goal (at most 200) from rest at each start position, all at once."""
    state = np.stack([starts, np.zeros_like(starts)], -1)
    steps = np.zeros(len(starts), dtype=int)
    running = np.ones(len(starts), dtype=bool)
    for _ in range(200):
        push = np.asarray(ACTIONS)[agent.act(state)]
        state = np.where(running[:, None], mc.step(state, push), state)
        steps += running
        running &= ~mc.terminated(state)
        if not running.any():
            break
    return steps


def main(argv: Any = None) -> None:
    from diffsim.controllers import evaluate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", type=int, default=901, help="grid points in position")
    parser.add_argument("--velocities", type=int, default=701, help="grid points in velocity")
    parser.add_argument("--tolerance", type=float, default=1e-6, help="value iteration stop")
    parser.add_argument("--out", default="docs/results/mountaincar_optimum.json")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    dp = GridValue(args.positions, args.velocities, args.tolerance, max_iterations=1000)
    solve_seconds = time.perf_counter() - start
    lo, hi = mc.RESET_BOUNDS
    starts = np.linspace(lo, hi, 201)
    result: dict[str, Any] = {
        "grid": [args.positions, args.velocities],
        "iterations": dp.iterations,
        "last_change": dp.change,
        "solve_seconds": round(solve_seconds, 1),
        "policies": {},
    }
    for name, agent in (("grid_dp_greedy", dp), ("along_velocity", AlongVelocity())):
        ev = evaluate(agent, "MountainCar-v0", 100)
        steps = steps_from_starts(agent, starts)
        result["policies"][name] = {
            "eval_return_mean": ev.mean,
            "eval_return_std": ev.std,
            "mean_steps_201_starts": float(steps.mean()),
            "max_steps_201_starts": int(steps.max()),
        }
        print(f"{name}: {ev.mean:.2f} ± {ev.std:.2f} on the protocol; {steps.mean():.2f} steps")
    result["continuous_along_velocity"] = {}
    for c in CONTINUOUS_FORCES:
        ev = evaluate(ScaledAlongVelocity(c), "MountainCarContinuous-v0", 100)
        result["continuous_along_velocity"][str(c)] = {
            "eval_return_mean": ev.mean,
            "eval_return_std": ev.std,
        }
        print(f"MountainCarContinuous, force ±{c} along the velocity: {ev.mean:.2f} ± {ev.std:.2f}")
    result["command"] = "python -m diffsim.scripts.mountaincar_optimum"
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
