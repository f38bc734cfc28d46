"""The names of the training methods and tasks, and each task's default method.

A light module (standard library only): the command line's parsers and help read it without
importing torch or the method modules. The real registries are
:data:`diffsim.controllers.training.METHODS` (methods), :data:`diffsim.envs.rollout.SHORT_NAMES`
and :data:`diffsim.envs.rollout.GYMNASIUM_TWINS` (tasks); ``tests/test_startup.py`` checks
that this table agrees with them.

Each task's default method is the one that solves it in the project's published results
(``docs/benchmarks.md``, ``docs/results/``, ``docs/aiming.md``):

=====================================  ========  ==============================================
task                                   default   evidence
=====================================  ========  ==============================================
cartpole (diffsim/CartPole-v1)         bptt      ``results/cartpole_bptt``: 10/10 seeds solved
cartpole-continuous                    bptt      the only method tuned for it (no SB3 method
(diffsim/CartPoleContinuous-v1)                  takes it; no published comparison)
pendulum (diffsim/Pendulum-v1)         shac      ``results/pendulum``: 5/5 (bptt: 0/5,
                                                 ``results/pendulum_bptt``)
pendulum-2019 (diffsim/Pendulum2019-v1) bptt     ``results/pendulum2019_bptt``: 5/5, with its
                                                 tuned unbounded ('linear') head
trebuchet (diffsim/Trebuchet-v0)       bptt      the aiming network (``results/aiming.json``)
Gymnasium's CartPole-v1                ppo       ``results/cartpole_gymnasium``: 5/5
Gymnasium's Pendulum-v1                sac       ``results/pendulum_gymnasium``: 5/5
=====================================  ========  ==============================================

Gymnasium's own ids take only the SB3 methods (the baselines extra).
"""

from __future__ import annotations

EVAL_EPISODES = 100
"""Episodes per evaluation of the benchmark protocol (as
:data:`diffsim.controllers.evaluate.EVAL_EPISODES`, for the command line's defaults)."""

METHOD_NAMES: dict[str, str] = {
    "bptt": "backpropagation through the simulator (on trebuchet: the aiming network)",
    "shac": "short-horizon actor-critic through the simulator (pendulum, pendulum-2019)",
    "ppo": "SB3 PPO (baselines extra)",
    "a2c": "SB3 A2C (baselines extra)",
    "dqn": "SB3 DQN, discrete actions only (baselines extra)",
    "sac": "SB3 SAC, continuous actions only (baselines extra)",
    "td3": "SB3 TD3, continuous actions only (baselines extra)",
    "cmaes": "CMA-ES on the policy's parameters (Nevergrad, baselines extra)",
    "retrofit": "gradient-free refinement of a trained run (--from DIR; baselines extra)",
}
"""Every training method, with a one-line description (the order of ``--help``)."""

TASK_NAMES: dict[str, str] = {
    "cartpole": "diffsim/CartPole-v1",
    "cartpole-continuous": "diffsim/CartPoleContinuous-v1",
    "pendulum": "diffsim/Pendulum-v1",
    "pendulum-2019": "diffsim/Pendulum2019-v1",
    "trebuchet": "diffsim/Trebuchet-v0",
}
"""Short task name → this project's Gymnasium id."""

GYMNASIUM_TWIN_NAMES: dict[str, str] = {
    "CartPole-v1": "diffsim/CartPole-v1",
    "Pendulum-v1": "diffsim/Pendulum-v1",
}
"""Gymnasium's own ids that the SB3 baselines also train on → this project's twin."""

DEFAULT_METHODS: dict[str, str] = {
    "diffsim/CartPole-v1": "bptt",
    "diffsim/CartPoleContinuous-v1": "bptt",
    "diffsim/Pendulum-v1": "shac",
    "diffsim/Pendulum2019-v1": "bptt",
    "diffsim/Trebuchet-v0": "bptt",
    "CartPole-v1": "ppo",
    "Pendulum-v1": "sac",
}
"""Task id → the method that solves it (the default of ``diffsim train`` and ``train()``)."""


def default_method(env: str) -> str:
    """The default training method of a task.

    Args:
        env: A short task name (``pendulum``), one of this project's ids
            (``diffsim/Pendulum-v1``) or one of Gymnasium's ids the baselines take
            (``Pendulum-v1``).

    Returns:
        The method's name, a key of :data:`METHOD_NAMES`.

    Raises:
        ValueError: ``env`` names no known task (the message lists the valid names).
    """
    env_id = TASK_NAMES.get(env, env)
    if env_id not in DEFAULT_METHODS:
        valid = [*TASK_NAMES, *TASK_NAMES.values(), *GYMNASIUM_TWIN_NAMES]
        raise ValueError(f"unknown environment {env!r}; expected one of: {', '.join(valid)}")
    return DEFAULT_METHODS[env_id]


def defaults_help() -> str:
    """``"cartpole: bptt, …, Pendulum-v1: sac"``: every task's default method, for help text."""
    names = {**{v: k for k, v in TASK_NAMES.items()}, **{k: k for k in GYMNASIUM_TWIN_NAMES}}
    return ", ".join(f"{names[env_id]}: {m}" for env_id, m in DEFAULT_METHODS.items())
