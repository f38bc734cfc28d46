"""The benchmark protocol's evaluation: one function for every method.

``evaluate(agent, env_id)`` plays ``episodes`` (100) episodes of a Gymnasium environment
with a deterministic agent, from the environment's own reset distribution under a fixed
evaluation seed, with the registered time limit, and returns every episode's return.
All episodes run at once in a Gymnasium vector env (the id's ``vector_entry_point`` where it
has one, else ``SyncVectorEnv``); each sub-env plays exactly one episode (later autoreset
steps are ignored). The same call evaluates a diffsim id or Gymnasium's own
(``CartPole-v1``, ``Pendulum-v1``), which is how the equivalence of the two is shown.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, Protocol

import gymnasium as gym
import numpy as np

from diffsim._validation import check_choice

EVAL_EPISODES = 100
EVAL_SEED = 10_000
"""The fixed seed of evaluation resets (training seeds are small integers: no overlap)."""


class Agent(Protocol):
    """Anything with ``act(obs) -> action`` for a batch of observations."""

    def act(self, obs: np.ndarray) -> np.ndarray: ...


@dataclass
class EvalResult:
    """Returns and lengths of the evaluation episodes, the seconds it took, and the
    episodes' first observations (``[episodes, obs]``, as the agent saw them at reset)."""

    returns: np.ndarray
    lengths: np.ndarray
    seconds: float
    first_obs: Optional[np.ndarray] = None

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def std(self) -> float:
        return float(self.returns.std())


VECTORIZATION = ("auto", "sync")


def make_eval_env(env_id: str, episodes: int, vectorization: str = "auto") -> gym.vector.VectorEnv:
    """A vector env of ``episodes`` copies of ``env_id``.

    ``"auto"``: the id's vector entry point if it has one (diffsim's batched envs, Gymnasium's
    NumPy CartPole), else ``SyncVectorEnv``. ``"sync"``: always ``SyncVectorEnv`` of the single
    env, sub-env i reset with seed ``seed + i``; diffsim's single envs reset exactly as
    Gymnasium's do, so a diffsim id and its Gymnasium twin then start from the same states.
    """
    check_choice("vectorization", vectorization, VECTORIZATION)
    spec = gym.spec(env_id)
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    if vectorization == "sync":
        mode = "sync"
    return gym.make_vec(env_id, num_envs=episodes, vectorization_mode=mode)


def evaluate(
    agent: Agent,
    env_id: str,
    episodes: int = EVAL_EPISODES,
    seed: int = EVAL_SEED,
    vectorization: str = "auto",
    set_attr: Optional[Mapping[str, Any]] = None,
) -> EvalResult:
    """Mean return of ``agent`` over ``episodes`` episodes (see the module docstring).

    Args:
        agent: Maps a batch of observations ``[episodes, ...]`` to a batch of actions in the
            env's action space (deterministically).
        env_id: A registered Gymnasium id.
        episodes: Number of episodes, all run at once.
        seed: The reset seed (fixed, so every evaluation sees the same initial states).
        vectorization: ``"auto"`` or ``"sync"`` (see :func:`make_eval_env`).
        set_attr: Constants to change in every episode's env (a "real" system that differs
            from the simulator): attribute → value, set on ``env.unwrapped`` with what the env
            derives from it re-derived (:func:`diffsim.envs.recording.make_changed`); the
            episodes then run in a ``SyncVectorEnv``, sub-env i reset with seed ``seed + i``.

    Raises:
        ValueError: ``episodes`` below 1, an unknown ``vectorization``, or a ``set_attr``
            attribute the env lacks.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be positive, got {episodes}")
    start = time.perf_counter()
    if set_attr:
        from diffsim.envs.recording import make_changed

        check_choice("vectorization", vectorization, VECTORIZATION)
        make_changed(env_id, set_attr)[0].close()  # a bad attribute fails here, once
        envs = gym.vector.SyncVectorEnv(
            [lambda: make_changed(env_id, set_attr)[0] for _ in range(episodes)]
        )
    else:
        envs = make_eval_env(env_id, episodes, vectorization)
    try:
        obs, _ = envs.reset(seed=seed)
        first_obs = np.array(obs, copy=True)
        returns = np.zeros(episodes)
        lengths = np.zeros(episodes, dtype=np.int64)
        running = np.ones(episodes, dtype=bool)
        while running.any():
            actions = agent.act(obs)
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            returns += np.where(running, rewards, 0.0)
            lengths += running
            running &= ~(terminated | truncated)
    finally:
        envs.close()
    return EvalResult(returns, lengths, time.perf_counter() - start, first_obs)
