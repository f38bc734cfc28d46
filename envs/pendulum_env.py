"""Gymnasium Pendulum over :mod:`diffsim.pendulum` (ids ``diffsim/Pendulum-v1`` and
``diffsim/Pendulum2019-v1``).

The env holds the RNG, the state (a float64 NumPy array ``[2]``, as Gymnasium's), the spaces
and the numpy conversion; dynamics and cost are :mod:`diffsim.pendulum`'s, run on NumPy (no
gradient is wanted here; NumPy steps one small state several times faster than torch).

Spaces:
    observation: ``Box(−[1, 1, 8], [1, 1, 8], (3,), float32)``: ``(cos θ, sin θ, θ̇ rad/s)``.
    action: ``Box(−2, 2, (1,), float32)``, the torque in N·m.
Reward (an ``np.float64``, as Gymnasium's): ``−(angle_normalize(θ)² + 0.1·θ̇² + 0.001·u²)``
on the pre-step state (at most 0, at least about −16.27). Never terminates;
``gymnasium.make`` truncates at 200 steps.

Clipping: ``diffsim/Pendulum-v1`` clips actions beyond ±2 N·m to ±2, as Gymnasium does.
``diffsim/Pendulum2019-v1`` (``PendulumParams.variant_2019()``, the Gym.jl pendulum of the
2019 post) never clips the torque: its action space keeps the Box(−2, 2) bounds that
policies are scaled to (and that Stable-Baselines3 clips to), but an action beyond them is
applied as given (``clip_actions=False``), and θ is updated with the unclipped speed. It
applies any torque up to ``params.torque_bound`` (±1000 N·m, 500× the space's bound; see
:attr:`diffsim.pendulum.PendulumParams.torque_bound` for why) and refuses a larger one with
``ValueError``, so that no step produces an infinite or NaN state, reward or observation.
The action space keeps Box(−2, 2) all the same: it is the scale policies are built for.

Precision: the action reaches the physics as float32 (the space's dtype), so the torque term
is formed in float32 exactly as Gymnasium's (NumPy 2 promotion) while the state stays
float64; see ``docs/reference_dynamics.md`` (Precision) on how far trajectories then agree.

Gymnasium's public attributes ``max_speed, max_torque, dt, g, m, l`` are read-only views
onto ``params``; ``state`` can be assigned, as on Gymnasium's env.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Union

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import utils
from gymnasium.error import ResetNeeded

from diffsim import pendulum
from diffsim.integrators import Integrator, get_integrator

from . import _checks, render

_P = "PendulumParams"


def observation_space(params: pendulum.PendulumParams) -> spaces.Box:
    """Pendulum's float32 observation Box ``(cos θ, sin θ, θ̇)``."""
    high = np.array([1.0, 1.0, float(params.max_speed)], dtype=np.float32)
    return spaces.Box(-high, high, dtype=np.float32)


def action_space(params: pendulum.PendulumParams) -> spaces.Box:
    """Pendulum's float32 torque Box ``[−max_torque, max_torque]`` (N·m), shape (1,)."""
    limit = float(params.max_torque)
    return spaces.Box(-limit, limit, shape=(1,), dtype=np.float32)


def action_bound(params: pendulum.PendulumParams, clip_actions: bool) -> Optional[float]:
    """The largest |action| (N·m) an env refuses beyond, or None when nothing needs a bound.

    Only an env that neither clips its actions nor has the physics clip the torque applies
    an action as given; it takes torques up to ``params.torque_bound``.
    """
    if clip_actions or params.clip_torque:
        return None
    return float(params.torque_bound)


def float_params(params: Optional[pendulum.PendulumParams], g: float) -> pendulum.PendulumParams:
    """Default (with gravity ``g``) or check the parameters of an env (Python floats)."""
    if params is None:
        return pendulum.PendulumParams(g=g)
    if not isinstance(params, pendulum.PendulumParams):
        raise TypeError(f"params must be a PendulumParams, got {type(params).__name__}")
    if params.tensors():
        raise TypeError(
            "an env's PendulumParams must hold Python floats, got tensors in "
            f"{sorted(params.tensors())}; use diffsim.pendulum directly for tensor parameters"
        )
    return params


class PendulumEnv(gym.Env[np.ndarray, np.ndarray]):
    """Pendulum with Gymnasium's API and spaces, stepping :func:`diffsim.pendulum._step`.

    Args:
        render_mode: ``None`` or ``"rgb_array"`` (a ``[500, 500, 3]`` uint8 frame).
        g: Gravity, m/s² (Gymnasium's constructor argument; ignored when ``params`` given).
        params: Physical parameters (Gymnasium's by default); Python floats only.
        integrator: ``"semi_implicit_euler"`` (Gymnasium's order), ``"euler"``, ``"rk4"``.
        clip_actions: Clip actions to the action space (default: ``params.clip_torque``).

    Attributes:
        state: The current ``(θ rad, θ̇ rad/s)``, float64 ``[2]`` (None before reset); read
            as a read-only view, assigned as any array-like of 2 finite reals (stored as a
            float64 copy; ``TypeError``/``ValueError`` otherwise, nothing changed). The next
            :meth:`step` continues from it.
        max_speed, max_torque, dt, g, m, l: Gymnasium's names, read-only views onto
            ``params`` (rad/s, N·m, s, m/s², kg, m). Assigning raises ``AttributeError``:
            build the env with other ``params`` (or ``g=``).
        action_bound: None, or (when neither the env nor the physics clips) the largest
            |torque| in N·m accepted, ``params.torque_bound``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        render_mode: Optional[str] = None,
        g: float = 10.0,
        params: Optional[pendulum.PendulumParams] = None,
        integrator: Union[str, Integrator] = pendulum.DEFAULT_INTEGRATOR,
        clip_actions: Optional[bool] = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.params = float_params(params, g)
        self.integrator = get_integrator(integrator)
        self.clip_actions = self.params.clip_torque if clip_actions is None else bool(clip_actions)
        self.observation_space = observation_space(self.params)
        self.action_space = action_space(self.params)
        self.action_bound = action_bound(self.params, self.clip_actions)
        self._state: Optional[np.ndarray] = None
        self.last_u: Optional[float] = None

    max_speed = _checks.param_view("max_speed", "max_speed", "Speed clip, rad/s (read-only).", _P)
    max_torque = _checks.param_view(
        "max_torque", "max_torque", "Torque bound, N·m (read-only).", _P
    )
    dt = _checks.param_view("dt", "dt", "Time step, s (read-only).", _P)
    g = _checks.param_view("g", "g", "Gravity, m/s² (read-only).", _P)
    m = _checks.param_view("m", "m", "Mass, kg (read-only).", _P)
    l = _checks.param_view("l", "l", "Length, m (read-only).", _P)  # noqa: E741 (Gymnasium's)

    state = _checks.state_property(("theta", "theta_dot"), "rad, rad/s")

    def step(self, action: Any) -> tuple[np.ndarray, np.float64, bool, bool, dict[str, Any]]:
        """Apply a torque (N·m, shape (1,)) for ``dt`` seconds; the reward is an ``np.float64``.

        Raises:
            ResetNeeded: before the first :meth:`reset`.
            TypeError, ValueError: for a non-numeric, wrongly shaped or non-finite action,
                one beyond float32's range, or (unclipped) one beyond ``action_bound``
                (nothing changes; the env stays usable).
        """
        if self._state is None:
            raise ResetNeeded(f"{type(self).__name__}: call reset() before step()")
        u = _checks.box_action(
            action, self.action_space, type(self).__name__, self.clip_actions, self.action_bound
        )
        torque = u[0]  # a float32 scalar: the torque term rounds as Gymnasium's
        reward = np.float64(-pendulum._cost(self._state, torque, self.params))
        self._state = pendulum._step(self._state, torque, self.params, self.integrator)
        self.last_u = float(u[0])
        return self._obs(), reward, False, False, {}

    def _obs(self) -> np.ndarray:
        return pendulum.observe(self._state).astype(np.float32)

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw θ ~ U(−x_init, x_init), θ̇ ~ U(−y_init, y_init) with ``self.np_random``.

        Args:
            seed: Seeds ``self.np_random`` (the same seed gives Gymnasium's initial state).
            options: ``{"x_init": π, "y_init": 1.0}`` as Gymnasium's Pendulum, or
                ``{"state": array [2]}`` to start from a given ``(θ rad, θ̇ rad/s)``.
        """
        super().reset(seed=seed)
        options = {} if options is None else options
        if "state" in options:
            state = np.asarray(options["state"], dtype=np.float64)
            if state.shape != (2,) or not np.isfinite(state).all():
                raise ValueError(
                    f"options['state'] must be 2 finite numbers (theta, theta_dot), "
                    f"got {options['state']!r}"
                )
            self._state = state.copy()
        else:
            x = utils.verify_number_and_cast(options.get("x_init", math.pi))
            y = utils.verify_number_and_cast(options.get("y_init", 1.0))
            high = np.array([x, y])
            self._state = self.np_random.uniform(low=-high, high=high)
        self.last_u = None
        return self._obs(), {}

    def render(self) -> Optional[np.ndarray]:
        """A ``[500, 500, 3]`` uint8 frame in ``"rgb_array"`` mode (None and a warning else)."""
        if not _checks.ready_to_render(self, self._state):
            return None
        return render.render_pendulum(self._state.tolist(), float(self.params.l))


class Pendulum2019Env(PendulumEnv):
    """The Gym.jl pendulum of the 2019 post (``PendulumParams.variant_2019()``): torque never
    clipped (actions beyond ±2 N·m are applied as given, up to ``action_bound`` = ±1000 N·m;
    larger ones raise ``ValueError``), θ updated with the unclipped speed."""

    def __init__(
        self,
        render_mode: Optional[str] = None,
        g: float = 10.0,
        integrator: Union[str, Integrator] = pendulum.DEFAULT_INTEGRATOR,
    ) -> None:
        super().__init__(
            render_mode, params=pendulum.PendulumParams.variant_2019(g=g), integrator=integrator
        )
