"""Gymnasium environments over diffsim's physics (registered on ``import diffsim``).

Ids (see :mod:`diffsim.envs.registration`): ``diffsim/CartPole-v1``,
``diffsim/CartPoleContinuous-v1``, ``diffsim/Pendulum-v1``, ``diffsim/Pendulum2019-v1``,
``diffsim/Trebuchet-v0``. Each has a single env (``gymnasium.make``) and a batched torch
vector env (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``).
:func:`rollout` is the differentiable rollout over the same physics (``envs/rollout.py``).
Nothing heavy is imported here: rendering is NumPy-only, the trebuchet physics loads on use.
"""

from .cartpole_env import CartPoleContinuousEnv, CartPoleEnv
from .pendulum_env import Pendulum2019Env, PendulumEnv
from .registration import ENV_IDS, register_envs
from .rollout import rollout
from .trebuchet_env import TrebuchetEnv
from .vector import (
    CartPoleContinuousVectorEnv,
    CartPoleVectorEnv,
    Pendulum2019VectorEnv,
    PendulumVectorEnv,
    TrebuchetVectorEnv,
)

register_envs()

__all__ = [
    "ENV_IDS",
    "CartPoleContinuousEnv",
    "CartPoleContinuousVectorEnv",
    "CartPoleEnv",
    "CartPoleVectorEnv",
    "Pendulum2019Env",
    "Pendulum2019VectorEnv",
    "PendulumEnv",
    "PendulumVectorEnv",
    "TrebuchetEnv",
    "TrebuchetVectorEnv",
    "register_envs",
    "rollout",
]
