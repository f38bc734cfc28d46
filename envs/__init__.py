"""Gymnasium environments over diffsim's physics (registered on ``import diffsim`` once
Gymnasium is imported, see :mod:`diffsim`; and on importing this package).

Ids (see :mod:`diffsim.envs.registration`): ``diffsim/CartPole-v1``,
``diffsim/CartPoleContinuous-v1``, ``diffsim/Pendulum-v1``, ``diffsim/Pendulum2019-v1``,
``diffsim/Trebuchet-v0``, and any task registered later (:mod:`diffsim.systems`). Every
task of a System is served by two generic adapters: :class:`SystemEnv` (``gymnasium.make``;
:mod:`diffsim.envs.env`) and the batched :class:`SystemVectorEnv` (``gymnasium.make_vec``;
:mod:`diffsim.envs.vector`), which behave as Gymnasium's own envs (see their modules).
The per-system classes (``CartPoleEnv``, ``PendulumVectorEnv``, ...) are deprecated aliases.
:func:`rollout` is the differentiable rollout over the same physics (``envs/rollout.py``).

Importing this package registers the ids (with entry-point strings: Gymnasium imports an
env's module when it is made) and imports nothing else: the classes below and
:func:`rollout` load torch and the physics on first use (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diffsim._lazy import make_lazy

from .registration import ENV_IDS, register_envs

register_envs()

_ATTRIBUTES: dict[str, str] = {
    "SystemEnv": "env",
    "SystemVectorEnv": "vector",
    "CartPoleContinuousEnv": "cartpole_env",
    "CartPoleEnv": "cartpole_env",
    "Pendulum2019Env": "pendulum_env",
    "PendulumEnv": "pendulum_env",
    "TrebuchetEnv": "trebuchet_env",
    "rollout": "rollout",
    "CartPoleContinuousVectorEnv": "vector",
    "CartPoleVectorEnv": "vector",
    "Pendulum2019VectorEnv": "vector",
    "PendulumVectorEnv": "vector",
    "TrebuchetVectorEnv": "vector",
}
"""Public names of the package and the submodule each is loaded from on first use."""

__all__ = [
    "ENV_IDS",
    "SystemEnv",
    "SystemVectorEnv",
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

if TYPE_CHECKING:
    from .cartpole_env import CartPoleContinuousEnv, CartPoleEnv
    from .env import SystemEnv
    from .pendulum_env import Pendulum2019Env, PendulumEnv
    from .rollout import rollout
    from .trebuchet_env import TrebuchetEnv
    from .vector import (
        CartPoleContinuousVectorEnv,
        CartPoleVectorEnv,
        Pendulum2019VectorEnv,
        PendulumVectorEnv,
        SystemVectorEnv,
        TrebuchetVectorEnv,
    )


make_lazy(__name__, _ATTRIBUTES, functions=("rollout",))
