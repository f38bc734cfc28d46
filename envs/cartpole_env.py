"""Deprecated: CartPole's env classes, now aliases of the generic
:class:`~diffsim.envs.env.SystemEnv` (ids ``diffsim/CartPole-v1`` and
``diffsim/CartPoleContinuous-v1``).

``gymnasium.make("diffsim/CartPole-v1")`` builds ``SystemEnv("diffsim/CartPole-v1")``; see
:mod:`diffsim.envs.env` for the contract (Gymnasium's ``CartPole-v1`` bit for bit, its
``sutton_barto_reward`` option, read-only attributes, settable state). The classes below
keep their old constructor signatures and warn with ``DeprecationWarning``.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional, Union

from gymnasium import spaces

from diffsim import cartpole, systems
from diffsim.integrators import Integrator

from . import env as _env
from .env import SystemEnv


def observation_space(params: cartpole.CartPoleParams) -> spaces.Box:
    """CartPole's float32 observation Box (twice the termination thresholds)."""
    return _env.observation_space(cartpole.SYSTEM, params)


def float_params(params: Optional[cartpole.CartPoleParams]) -> cartpole.CartPoleParams:
    """Default or check the parameters of an env (Python floats, one set for every step)."""
    return _env.env_params(cartpole.SYSTEM, systems.get_task_spec("diffsim/CartPole-v1"), params)


class CartPoleEnv(SystemEnv):
    """Deprecated alias: ``SystemEnv("diffsim/CartPole-v1", ...)``, or
    ``SystemEnv("diffsim/CartPoleContinuous-v1", ...)`` with ``continuous=True``.

    Args:
        render_mode, params, integrator: As :class:`~diffsim.envs.env.SystemEnv`'s.
        continuous: Use ``Box(−1, 1, (1,))`` actions instead of ``Discrete(2)``.
        sutton_barto_reward: Gymnasium's option (reward 0 per step, −1 at termination).
    """

    def __init__(
        self,
        render_mode: Optional[str] = None,
        params: Optional[cartpole.CartPoleParams] = None,
        integrator: Union[str, Integrator] = cartpole.DEFAULT_INTEGRATOR,
        continuous: bool = False,
        sutton_barto_reward: bool = False,
    ) -> None:
        task = "diffsim/CartPoleContinuous-v1" if continuous else "diffsim/CartPole-v1"
        warnings.warn(
            f"{type(self).__name__} is deprecated: use SystemEnv({task!r}, ...) or "
            f"gymnasium.make({task!r}) (the same env)",
            DeprecationWarning,
            stacklevel=2,
        )
        options: dict[str, Any] = {"sutton_barto_reward": True} if sutton_barto_reward else {}
        super().__init__(task, render_mode, params, integrator, **options)

    @property
    def continuous(self) -> bool:
        """Whether the actions are continuous pushes (``Box(−1, 1, (1,))``)."""
        return not self.task.discrete


class CartPoleContinuousEnv(CartPoleEnv):
    """Deprecated alias: ``SystemEnv("diffsim/CartPoleContinuous-v1", ...)`` (a continuous
    push in [−1, 1]; force = action·10 N, clipped)."""

    def __init__(
        self,
        render_mode: Optional[str] = None,
        params: Optional[cartpole.CartPoleParams] = None,
        integrator: Union[str, Integrator] = cartpole.DEFAULT_INTEGRATOR,
        sutton_barto_reward: bool = False,
    ) -> None:
        super().__init__(
            render_mode,
            params,
            integrator,
            continuous=True,
            sutton_barto_reward=sutton_barto_reward,
        )
