"""Deprecated: Pendulum's env classes, now aliases of the generic
:class:`~diffsim.envs.env.SystemEnv` (ids ``diffsim/Pendulum-v1`` and
``diffsim/Pendulum2019-v1``).

``gymnasium.make("diffsim/Pendulum-v1")`` builds ``SystemEnv("diffsim/Pendulum-v1")``; see
:mod:`diffsim.envs.env` for the contract (Gymnasium's ``Pendulum-v1``, its ``g`` option,
the 2019 variant's unclipped torque, read-only attributes, settable state). The classes
below keep their old constructor signatures and warn with ``DeprecationWarning``.
"""

from __future__ import annotations

import warnings
from typing import Optional, Union

from gymnasium import spaces

from diffsim import pendulum, systems
from diffsim.integrators import Integrator

from . import env as _env
from .env import SystemEnv


def observation_space(params: pendulum.PendulumParams) -> spaces.Box:
    """Pendulum's float32 observation Box ``(cos θ, sin θ, θ̇)``."""
    return _env.observation_space(pendulum.SYSTEM, params)


def action_space(params: pendulum.PendulumParams) -> spaces.Box:
    """Pendulum's float32 torque Box ``[−max_torque, max_torque]`` (N·m), shape (1,)."""
    return _env.action_space(pendulum.SYSTEM, systems.get_task_spec("diffsim/Pendulum-v1"), params)


def action_bound(params: pendulum.PendulumParams, clip_actions: bool) -> Optional[float]:
    """The largest |action| (N·m) an env refuses beyond, or None when nothing needs a bound
    (the env or the physics clips)."""
    return _env.action_clipping(pendulum.SYSTEM, params, clip_actions, False, "Pendulum")[1]


def float_params(params: Optional[pendulum.PendulumParams], g: float) -> pendulum.PendulumParams:
    """Default (with gravity ``g``) or check the parameters of an env (Python floats)."""
    if params is None:
        return pendulum.PendulumParams(g=g)
    return _env.env_params(pendulum.SYSTEM, systems.get_task_spec("diffsim/Pendulum-v1"), params)


def _deprecated(cls: type, task: str) -> None:
    warnings.warn(
        f"{cls.__name__} is deprecated: use SystemEnv({task!r}, ...) or gymnasium.make({task!r}) "
        "(the same env)",
        DeprecationWarning,
        stacklevel=3,
    )


class PendulumEnv(SystemEnv):
    """Deprecated alias: ``SystemEnv("diffsim/Pendulum-v1", ...)``.

    Args:
        render_mode, params, integrator, clip_actions: As
            :class:`~diffsim.envs.env.SystemEnv`'s.
        g: Gravity, m/s² (Gymnasium's option); a value other than 10 must agree with
            ``params.g`` when ``params`` is given (``ValueError`` otherwise).
    """

    def __init__(
        self,
        render_mode: Optional[str] = None,
        g: float = 10.0,
        params: Optional[pendulum.PendulumParams] = None,
        integrator: Union[str, Integrator] = pendulum.DEFAULT_INTEGRATOR,
        clip_actions: Optional[bool] = None,
    ) -> None:
        _deprecated(type(self), "diffsim/Pendulum-v1")
        super().__init__(
            "diffsim/Pendulum-v1",
            render_mode,
            params,
            integrator,
            clip_actions,
            **({} if g == 10.0 else {"g": g}),
        )


class Pendulum2019Env(SystemEnv):
    """Deprecated alias: ``SystemEnv("diffsim/Pendulum2019-v1", ...)``, the Gym.jl pendulum
    of the 2019 post (torque never clipped, up to ``action_bound`` = ±1000 N·m; θ updated
    with the unclipped speed)."""

    def __init__(
        self,
        render_mode: Optional[str] = None,
        g: float = 10.0,
        integrator: Union[str, Integrator] = pendulum.DEFAULT_INTEGRATOR,
    ) -> None:
        _deprecated(type(self), "diffsim/Pendulum2019-v1")
        super().__init__(
            "diffsim/Pendulum2019-v1",
            render_mode,
            integrator=integrator,
            **({} if g == 10.0 else {"g": g}),
        )
