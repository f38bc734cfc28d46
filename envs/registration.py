"""Gymnasium ids of diffsim's environments, registered on ``import diffsim``.

Registration is idempotent: an id already in ``gymnasium.registry`` is left as it is, so
re-importing (or calling :func:`register_envs` again) neither duplicates nor warns.
``gymnasium.make("diffsim:diffsim/CartPole-v1")`` works too: Gymnasium imports ``diffsim``
first, which registers the ids.

=============================  ==================  ============  =================
id                             action space        time limit    reward threshold
=============================  ==================  ============  =================
diffsim/CartPole-v1            Discrete(2)         500           475.0
diffsim/CartPoleContinuous-v1  Box(−1, 1, (1,))    500           475.0
diffsim/Pendulum-v1            Box(−2, 2, (1,))    200           none
diffsim/Pendulum2019-v1        Box(−2, 2, (1,))    200           none
diffsim/Trebuchet-v0           Box([5, 50],        none (one     none
                               [85, 600], (2,))    shot)
=============================  ==================  ============  =================
"""

from __future__ import annotations

import gymnasium

_MODULE = "diffsim.envs"

ENV_SPECS: dict[str, dict] = {
    "diffsim/CartPole-v1": {
        "entry_point": f"{_MODULE}.cartpole_env:CartPoleEnv",
        "vector_entry_point": f"{_MODULE}.vector:CartPoleVectorEnv",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
    },
    "diffsim/CartPoleContinuous-v1": {
        "entry_point": f"{_MODULE}.cartpole_env:CartPoleContinuousEnv",
        "vector_entry_point": f"{_MODULE}.vector:CartPoleContinuousVectorEnv",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
    },
    "diffsim/Pendulum-v1": {
        "entry_point": f"{_MODULE}.pendulum_env:PendulumEnv",
        "vector_entry_point": f"{_MODULE}.vector:PendulumVectorEnv",
        "max_episode_steps": 200,
    },
    "diffsim/Pendulum2019-v1": {
        "entry_point": f"{_MODULE}.pendulum_env:Pendulum2019Env",
        "vector_entry_point": f"{_MODULE}.vector:Pendulum2019VectorEnv",
        "max_episode_steps": 200,
    },
    "diffsim/Trebuchet-v0": {
        "entry_point": f"{_MODULE}.trebuchet_env:TrebuchetEnv",
        "vector_entry_point": f"{_MODULE}.vector:TrebuchetVectorEnv",
    },
}
"""Keyword arguments of ``gymnasium.register`` for each id."""

ENV_IDS: list[str] = list(ENV_SPECS)
"""Every id this package registers."""


def register_envs() -> list[str]:
    """Register every id not yet in ``gymnasium.registry``; returns :data:`ENV_IDS`."""
    for env_id, kwargs in ENV_SPECS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, **kwargs)
    return ENV_IDS
