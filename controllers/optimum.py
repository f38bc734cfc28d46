"""The optimal return of a task, as the yardstick of its comparisons: finite-horizon dynamic
programming on a grid of states.

For a task whose system has a two-dimensional state with known bounds
(:attr:`diffsim.systems.System.state_bounds`: Pendulum's angle and speed, the mountain cars'
position and velocity), :class:`GridOptimum` computes the optimal value of every grid state
at every time step of the episode by backward induction over a grid of actions (a discrete
task's own actions; ``actions`` evenly spaced values over a continuous task's bounds):

    V_T(s) = 0,    V_t(s) = max_a [ r(s, a, s') + (1 − done(s')) · V_{t+1}(s') ],  s' = f(s, a)

with the system's own step ``f``, reward ``r`` and termination (the physics the envs run,
Gymnasium's equations), ``T`` the time limit, and ``V_{t+1}(s')`` interpolated bilinearly
between the grid states (periodically along an angle). :meth:`GridOptimum.agent` acts
greedily with these values: at step ``t`` of an episode it takes the action that maximises
``r + (1 − done)·V_{t+1}(s')`` from the true state, looking one step ahead through the exact
dynamics. That agent is a policy like any other, so its evaluated return (the protocol's
100 episodes: :func:`optimum`) is a return some controller reaches; the grid's interpolation
error only costs return, so the optimum is at least as good, and refining the grid raises
the figure towards it (:func:`optimum` reports the figure of each grid it is given, the
grid's convergence). The value ``V_0`` at the episode's start estimates the optimum from
above or below, depending on the interpolation error; the evaluated return is the figure to
quote.

Cost: ``T × A`` steps and bilinear lookups of the whole grid (``A`` actions), in torch on
the CPU: Pendulum-v1 on a 360 × 241 grid with 41 torques (200 steps) takes about a minute
on one core here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
import torch

from diffsim.envs.rollout import Task, get_task


class GridOptimum:
    """Finite-horizon dynamic programming for one task on a grid of states (see the module
    docstring).

    Args:
        task: A task id, short name or :class:`~diffsim.envs.rollout.Task` whose system has
            a two-dimensional state and :attr:`~diffsim.systems.System.state_bounds`.
        grid: Grid points per state coordinate (a periodic coordinate's points are evenly
            spaced over its period, the last one short of it; a bounded one's include both
            ends).
        actions: Evenly spaced actions over a continuous task's bounds (ignored for a
            discrete task, which uses its own).
        horizon: Steps of the episode (default: the task's time limit).
        progress: Show a progress bar over the backward steps.

    Raises:
        ValueError: for a system without state bounds, a state that is not two-dimensional,
            no horizon, a grid of fewer than 2 points per coordinate, or fewer than 2
            actions.
    """

    def __init__(
        self,
        task: Union[str, Task],
        grid: Sequence[int],
        actions: int = 41,
        horizon: Optional[int] = None,
        progress: bool = False,
    ):
        from tqdm.auto import tqdm

        self.task = task = get_task(task)
        system = task.system
        if system.state_bounds is None:
            raise ValueError(
                f"the {system.title} system states no state bounds (System.state_bounds), so "
                "it has no grid: dynamic programming needs a bounded state"
            )
        bounds = tuple(system.state_bounds(task.params))
        if len(bounds) != 2 or len(system.state_names) != 2:
            raise ValueError(
                f"the grid dynamic programming takes a two-dimensional state; the "
                f"{system.title} state has {len(system.state_names)} coordinates"
            )
        grid = tuple(int(n) for n in grid)
        if len(grid) != 2 or min(grid) < 2:
            raise ValueError(f"grid must be two sizes of at least 2 points, got {grid}")
        self.horizon = task.max_episode_steps if horizon is None else int(horizon)
        if self.horizon is None or self.horizon < 1:
            raise ValueError(f"{task.env_id} has no time limit: give a horizon of >= 1 step")
        if task.discrete:
            self.actions = torch.tensor(task.discrete_actions, dtype=torch.float64)
        else:
            if actions < 2:
                raise ValueError(f"actions must be at least 2, got {actions}")
            self.actions = torch.linspace(task.action_low, task.action_high, actions).double()
        self.grid, self.bounds = grid, bounds
        self.axes = [self._axis(n, b) for n, b in zip(grid, bounds)]
        mesh = torch.meshgrid(*self.axes, indexing="ij")
        states = torch.stack([m.reshape(-1) for m in mesh], -1)  # [N, 2], row-major
        started = time.perf_counter()
        rewards, alive, index, weight = [], [], [], []
        for a in self.actions:  # A steps of the whole grid, precomputed once
            r, keep, i, w = self._look_ahead(states, a)
            rewards.append(r)
            alive.append(keep)
            index.append(i)
            weight.append(w)
        r, keep = torch.stack(rewards), torch.stack(alive)  # [A, N]
        i, w = torch.stack(index), torch.stack(weight)  # [A, N, 4]
        values = [torch.zeros(len(states), dtype=torch.float64)]  # V_T
        for _ in tqdm(range(self.horizon), desc="backward steps", disable=not progress):
            nxt = values[-1]
            q = r + keep * (nxt[i] * w).sum(-1)
            values.append(q.max(0).values)
        values.reverse()  # values[t] = V_t, t = 0..T
        self.values = torch.stack(values)  # [T+1, N]
        self.solve_seconds = time.perf_counter() - started

    @staticmethod
    def _axis(n: int, bound: tuple[float, float, bool]) -> torch.Tensor:
        low, high, periodic = bound
        if periodic:
            return low + (high - low) * torch.arange(n, dtype=torch.float64) / n
        return torch.linspace(low, high, n, dtype=torch.float64)

    def _cell(self, x: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Lower and upper grid indices along coordinate ``d`` and the weight of the upper."""
        n = self.grid[d]
        low, high, periodic = self.bounds[d]
        if periodic:
            f = torch.remainder(x - low, high - low) / (high - low) * n
            i = torch.floor(f).long().clamp(0, n - 1)
            return i, (i + 1) % n, f - i
        f = (x.clamp(low, high) - low) / (high - low) * (n - 1)
        i = torch.floor(f).long().clamp(0, n - 2)
        return i, i + 1, f - i

    def _look_ahead(
        self, states: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """For action ``action`` from ``states [N, 2]``: the reward, 1 − done, and the four
        grid indices and bilinear weights of the next states."""
        system, params = self.task.system, self.task.params
        a = torch.full((len(states),), float(action), dtype=torch.float64)
        nxt = system.step(states, a, params)
        reward = system.reward(states, a, nxt, params).to(torch.float64)
        keep = 1.0 - torch.as_tensor(system.terminated(nxt, params), dtype=torch.float64)
        return (reward, keep, *self._corners(nxt))

    def _corners(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The flat indices of the four grid states around each of ``states [B, 2]`` and
        their bilinear weights, each ``[B, 4]``."""
        (i0, i1, u), (j0, j1, v) = self._cell(states[:, 0], 0), self._cell(states[:, 1], 1)
        m = self.grid[1]
        index = torch.stack([i0 * m + j0, i0 * m + j1, i1 * m + j0, i1 * m + j1], -1)
        weight = torch.stack([(1 - u) * (1 - v), (1 - u) * v, u * (1 - v), u * v], -1)
        return index, weight

    def q_values(self, states: torch.Tensor, t: int) -> torch.Tensor:
        """``r + (1 − done)·V_{t+1}(s')`` of every action from ``states [B, 2]`` at step
        ``t``, ``[A, B]`` (past the horizon: the reward alone)."""
        nxt = self.values[min(t + 1, self.horizon)]
        rows = []
        for a in self.actions:
            r, keep, i, w = self._look_ahead(states, a)
            rows.append(r + keep * (nxt[i] * w).sum(-1))
        return torch.stack(rows)

    def value(self, states: torch.Tensor, t: int = 0) -> torch.Tensor:
        """``V_t`` interpolated at ``states [B, 2]``, ``[B]``."""
        index, weight = self._corners(states)
        return (self.values[t][index] * weight).sum(-1)

    def agent(self) -> GreedyAgent:
        """A fresh greedy agent (its step counter at 0) for the task's envs."""
        return GreedyAgent(self)


class GreedyAgent:
    """Acts greedily with a :class:`GridOptimum`'s values; counts its calls as the episode's
    step, so it plays one batch of episodes started together (as
    :func:`diffsim.controllers.evaluate` runs them), then a fresh one is needed."""

    def __init__(self, optimum: GridOptimum):
        self.optimum = optimum
        self.t = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        task = self.optimum.task
        obs = np.asarray(obs, dtype=np.float64)
        to_state = task.system.state_from_observation
        states = torch.as_tensor(to_state(obs) if to_state is not None else obs)
        best = self.optimum.q_values(states.reshape(-1, 2), self.t).argmax(0)
        self.t += 1
        if task.discrete:
            return best.numpy()
        return self.optimum.actions[best].numpy().astype(np.float32)[:, None]


def optimum(
    task: Union[str, Task],
    grids: Sequence[Sequence[int]],
    actions: int = 41,
    episodes: int = 100,
    progress: bool = True,
) -> dict[str, Any]:
    """The optimal return of ``task`` on the benchmark protocol's evaluation starts, by
    :class:`GridOptimum` on each grid of ``grids`` (coarse to fine: the last is the figure).

    Returns:
        ``env_id``, ``episodes``, ``actions`` (the action grid's size), and ``grids``: one
        record per grid with ``grid``, ``solve_seconds``, ``eval_return_mean``,
        ``eval_return_std`` and ``eval_returns`` (every episode's return, in the protocol's
        order of starts: :func:`diffsim.controllers.evaluate`), and ``value_start_mean``
        (``V_0`` interpolated at the same starts); ``eval_return_mean`` of the finest grid is
        repeated at the top level as the task's optimum.
    """
    from .evaluate import evaluate

    task = get_task(task)
    records = []
    for grid in grids:
        dp = GridOptimum(task, grid, actions=actions, progress=progress)
        ev = evaluate(dp.agent(), task.env_id, episodes)
        starts = ev.first_obs
        to_state = task.system.state_from_observation
        s0 = torch.as_tensor(to_state(starts) if to_state is not None else starts).double()
        records.append(
            {
                "grid": list(dp.grid),
                "solve_seconds": round(dp.solve_seconds, 2),
                "eval_return_mean": ev.mean,
                "eval_return_std": ev.std,
                "eval_returns": [float(x) for x in ev.returns],
                "value_start_mean": float(dp.value(s0.reshape(-1, 2)).mean()),
            }
        )
        if progress:
            print(
                f"grid {dp.grid[0]}x{dp.grid[1]}: {ev.mean:.2f} ± {ev.std:.2f} "
                f"({dp.solve_seconds:.1f} s)"
            )
    return {
        "env_id": task.env_id,
        "episodes": episodes,
        "actions": len(dp.actions),
        "optimum": records[-1]["eval_return_mean"],
        "standard_error": records[-1]["eval_return_std"] / math.sqrt(max(episodes - 1, 1)),
        "grids": records,
    }
