"""Gymnasium CartPole over :mod:`diffsim.cartpole` (ids ``diffsim/CartPole-v1`` and
``diffsim/CartPoleContinuous-v1``).

The env holds the RNG, the current state (a float64 NumPy array ``[4]``, as Gymnasium's), the
spaces and the numpy conversion; the dynamics, reward and termination are
:mod:`diffsim.cartpole`'s, run on NumPy (no gradient is wanted here, and NumPy steps one small
state several times faster than torch). With the default parameters a trajectory equals
Gymnasium's ``CartPole-v1`` bit for bit for the same seed and actions (same initial-state
draw from ``self.np_random``, the same float64 operations in the same order).

Spaces:
    observation: ``Box(-high, high, (4,), float32)``, ``high = [2·x_threshold, inf,
    2·theta_threshold, inf] = [4.8, inf, 0.4189, inf]``: ``(x m, ẋ m/s, θ rad, θ̇ rad/s)``.
    action: ``Discrete(2)`` (0 pushes left with −10 N, 1 pushes right with +10 N), or for the
    continuous id ``Box(−1, 1, (1,), float32)``: the force is ``action·force_mag`` N;
    actions beyond ±1 are clipped to ±1.
Reward (a Python float, as Gymnasium's): +1 per step, the terminating step included; a step
taken after termination warns and earns 0 (Gymnasium's behaviour). With
``sutton_barto_reward=True`` (Gymnasium's option, same meaning): 0 per non-terminating step,
−1 for the terminating step and for every step after it.
Termination: ``|x| > 2.4`` m or ``|θ| > 12°``.
Truncation: by the ``TimeLimit`` wrapper that ``gymnasium.make`` adds (500 steps).

Gymnasium's public attributes (``gravity``, ``masscart``, ``masspole``, ``total_mass``,
``length``, ``polemass_length``, ``force_mag``, ``tau``, ``kinematics_integrator``,
``theta_threshold_radians``, ``x_threshold``) are read-only views onto ``params`` (and the
integrator's name); ``state`` can be assigned, as on Gymnasium's env.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import gymnasium as gym
import numpy as np
from gymnasium import logger, spaces
from gymnasium.envs.classic_control import utils
from gymnasium.error import ResetNeeded

from diffsim import cartpole
from diffsim.integrators import Integrator, get_integrator

from . import _checks, render

_P = "CartPoleParams"
_STATE_NAMES = ("x", "x_dot", "theta", "theta_dot")


def observation_space(params: cartpole.CartPoleParams) -> spaces.Box:
    """CartPole's float32 observation Box (twice the termination thresholds)."""
    high = np.array(
        [2 * float(params.x_threshold), np.inf, 2 * float(params.theta_threshold), np.inf],
        dtype=np.float32,
    )
    return spaces.Box(-high, high, dtype=np.float32)


def float_params(params: Optional[cartpole.CartPoleParams]) -> cartpole.CartPoleParams:
    """Default or check the parameters of an env (Python floats, one set for every step)."""
    params = cartpole.CartPoleParams() if params is None else params
    if not isinstance(params, cartpole.CartPoleParams):
        raise TypeError(f"params must be a CartPoleParams, got {type(params).__name__}")
    if params.tensors():
        raise TypeError(
            "an env's CartPoleParams must hold Python floats, got tensors in "
            f"{sorted(params.tensors())}; use diffsim.cartpole directly for tensor parameters"
        )
    return params


class CartPoleEnv(gym.Env[np.ndarray, Union[int, np.ndarray]]):
    """CartPole with Gymnasium's API and spaces, stepping :func:`diffsim.cartpole._step`.

    Args:
        render_mode: ``None`` or ``"rgb_array"`` (a ``[400, 600, 3]`` uint8 frame).
        params: Physical parameters (Gymnasium's by default); Python floats only.
        integrator: ``"euler"`` (Gymnasium's default), ``"semi_implicit_euler"``, ``"rk4"``.
        continuous: Use ``Box(−1, 1, (1,))`` actions instead of ``Discrete(2)``.
        sutton_barto_reward: Gymnasium's option: reward 0 per non-terminating step and −1 for
            the terminating one and any later step (default: +1 per step).

    Attributes:
        state: The current ``(x m, ẋ m/s, θ rad, θ̇ rad/s)``, float64 ``[4]`` (None before
            reset); read as a read-only view, assigned as any array-like of 4 finite reals
            (stored as a float64 copy; ``TypeError``/``ValueError`` otherwise, nothing
            changed). The next :meth:`step` continues from it.
        gravity, masscart, masspole, total_mass, length, polemass_length, force_mag, tau,
        x_threshold, theta_threshold_radians: Gymnasium's names, read-only views onto
            ``params`` (SI units; ``theta_threshold_radians`` is ``params.theta_threshold``).
            Assigning raises ``AttributeError``: build the env with other ``params``.
        kinematics_integrator: The integrator's name (``"euler"`` by default), read-only.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        render_mode: Optional[str] = None,
        params: Optional[cartpole.CartPoleParams] = None,
        integrator: Union[str, Integrator] = cartpole.DEFAULT_INTEGRATOR,
        continuous: bool = False,
        sutton_barto_reward: bool = False,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.params = float_params(params)
        self.integrator = get_integrator(integrator)
        self.continuous = bool(continuous)
        self.sutton_barto_reward = bool(sutton_barto_reward)
        self.observation_space = observation_space(self.params)
        if self.continuous:
            self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        else:
            self.action_space = spaces.Discrete(2)
        self._state: Optional[np.ndarray] = None
        self._steps_beyond_terminated: Optional[int] = None
        # discrete_to_action of 0 and 1, looked up per step.
        self._forces = tuple(cartpole.discrete_to_action(np.arange(2), np.float64).tolist())

    gravity = _checks.param_view("gravity", "gravity", "Gravity, m/s² (read-only).", _P)
    masscart = _checks.param_view("masscart", "masscart", "Cart mass, kg (read-only).", _P)
    masspole = _checks.param_view("masspole", "masspole", "Pole mass, kg (read-only).", _P)
    total_mass = _checks.param_view(
        "total_mass",
        "total_mass",
        "Cart plus pole mass, kg (read-only).",
        _P,
        "masscart and masspole",
    )
    length = _checks.param_view("length", "length", "Pole half-length, m (read-only).", _P)
    polemass_length = _checks.param_view(
        "polemass_length",
        "polemass_length",
        "Pole mass × half-length, kg·m (read-only).",
        _P,
        "masspole and length",
    )
    force_mag = _checks.param_view("force_mag", "force_mag", "Push force, N (read-only).", _P)
    tau = _checks.param_view("tau", "tau", "Time step, s (read-only).", _P)
    x_threshold = _checks.param_view(
        "x_threshold", "x_threshold", "Termination |x|, m (read-only).", _P
    )
    theta_threshold_radians = _checks.param_view(
        "theta_threshold_radians", "theta_threshold", "Termination |θ|, rad (read-only).", _P
    )

    @property
    def kinematics_integrator(self) -> str:
        """The integrator's name (Gymnasium's attribute; ``"euler"`` by default), read-only."""
        return self.integrator.name

    state = _checks.state_property(_STATE_NAMES, "m, m/s, rad, rad/s")

    def _push(self, action: Any) -> float:
        """The checked action as the physics' push in [−1, 1] (a float)."""
        name = type(self).__name__
        if self.continuous:
            return float(_checks.box_action(action, self.action_space, name)[0])
        return self._forces[_checks.discrete_action(action, self.action_space, name)]

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply one action for ``tau`` seconds (see the module docstring for the spaces).

        Raises:
            ResetNeeded: before the first :meth:`reset`.
            TypeError, ValueError: for an action outside the action space's type, shape or
                values (nothing changes; the env stays usable).
        """
        if self._state is None:
            raise ResetNeeded(f"{type(self).__name__}: call reset() before step()")
        push = self._push(action)
        state = cartpole._step(self._state, push, self.params, self.integrator)
        terminated = bool(cartpole.terminated(state, self.params))
        if self.sutton_barto_reward:
            reward = -1.0 if terminated else 0.0
        else:
            reward = float(cartpole.reward(self._state, push, state, self.params))
        self._state = state
        if terminated:
            if self._steps_beyond_terminated is None:
                self._steps_beyond_terminated = 0
            else:
                if self._steps_beyond_terminated == 0:
                    logger.warn(
                        "You are calling 'step()' even though this environment has already "
                        "returned terminated = True. You should always call 'reset()' once you "
                        "receive 'terminated = True' -- any further steps are undefined behavior."
                    )
                self._steps_beyond_terminated += 1
                reward = -1.0 if self.sutton_barto_reward else 0.0
        return self._obs(), reward, terminated, False, {}

    def _obs(self) -> np.ndarray:
        return cartpole.observe(self._state).astype(np.float32)

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw every state entry from U(low, high) with ``self.np_random`` (Gymnasium's draw).

        Args:
            seed: Seeds ``self.np_random`` (the same seed gives Gymnasium's initial state).
            options: ``{"low": float, "high": float}`` as Gymnasium's CartPole, or
                ``{"state": array [4]}`` to start from a given state (m, m/s, rad, rad/s).
        """
        super().reset(seed=seed)
        if options is not None and "state" in options:
            state = np.asarray(options["state"], dtype=np.float64)
            if state.shape != (4,) or not np.isfinite(state).all():
                raise ValueError(
                    f"options['state'] must be 4 finite numbers (x, x_dot, theta, theta_dot), "
                    f"got {options['state']!r}"
                )
            self._state = state.copy()
        else:
            low, high = utils.maybe_parse_reset_bounds(options, -0.05, 0.05)
            self._state = self.np_random.uniform(low=low, high=high, size=(4,))
        self._steps_beyond_terminated = None
        return self._obs(), {}

    def render(self) -> Optional[np.ndarray]:
        """An ``[400, 600, 3]`` uint8 frame in ``"rgb_array"`` mode (None and a warning else)."""
        if not _checks.ready_to_render(self, self._state):
            return None
        return render.render_cartpole(self._state.tolist(), float(self.params.length))


class CartPoleContinuousEnv(CartPoleEnv):
    """CartPole with a continuous push ``Box(−1, 1, (1,))`` (force = action·10 N, clipped)."""

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
