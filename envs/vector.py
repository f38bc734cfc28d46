"""Vector environments backed by one batched state (not N Python envs).

Each class implements :class:`gymnasium.vector.VectorEnv` for ``num_envs`` copies of a
system: the state is a single float64 NumPy array ``[num_envs, n]`` (component-major, as the
physics packs it) stepped by the physics' batched ``_step`` on NumPy, which at these sizes
beats torch's per-operation overhead and equals the single envs bit for bit (but for
Pendulum's reward, which may differ in the last bit: its squares are ``x**2`` as in
Gymnasium, the C library's ``pow`` on the single env's scalars, a product on arrays); actions are
checked once per call at the boundary (shape, dtype, range, finiteness) and then handed
over without copies. The classic-control envs take ``fast=True`` to step with the compiled
torch step of :mod:`diffsim.fast` instead (see its docstring for when that pays; it
agrees with the NumPy step to float64 rounding, not bit for bit).

Autoreset follows Gymnasium 1.x's default ``AutoresetMode.NEXT_STEP``: a sub-env that
returned ``terminated`` or ``truncated`` is reset during the *next* ``step`` call, which
ignores its action for it and returns its new initial observation with reward 0 and
``terminated = truncated = False``. All new initial states of a call come from one batched
draw of the physics' ``sample_initial`` from ``self.np_random`` (seeded by
``reset(seed=...)``); no Python loop over sub-envs.
Rewards are float64 arrays, observations float32 arrays ``[num_envs, obs]``.

Truncation: ``max_episode_steps`` (500 for CartPole, 200 for Pendulum, as registered; the
vector envs count steps themselves since Gymnasium's ``TimeLimit`` wraps single envs only).
``reset(options={"state": array [num_envs, n]})`` starts from given states (float64, SI).
"""

from __future__ import annotations

import importlib
from typing import Any, Optional, Union

import numpy as np
import torch
from gymnasium import logger, spaces
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from diffsim import cartpole, pendulum
from diffsim.integrators import Integrator, get_integrator

from . import _checks, cartpole_env, pendulum_env, render, trebuchet_env


class _BatchedVectorEnv(VectorEnv):
    """Shared machinery: batched state, step counters, NEXT_STEP autoreset, seeding."""

    metadata: dict[str, Any] = {
        "render_modes": ["rgb_array"],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }
    state_size: int = 0

    def _setup(
        self, num_envs: int, max_episode_steps: Optional[int], render_mode: Optional[str]
    ) -> None:
        if (
            isinstance(num_envs, bool)
            or not isinstance(num_envs, (int, np.integer))
            or num_envs < 1
        ):
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or int(max_episode_steps) != max_episode_steps
            or max_episode_steps < 1
        ):
            raise ValueError(
                f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}"
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.num_envs = int(num_envs)
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.render_mode = render_mode
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._state: Optional[np.ndarray] = None
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self._prev_done = np.zeros(self.num_envs, dtype=bool)

    # -- to be provided by each system ------------------------------------------------------
    def _sample(self, n: int) -> np.ndarray:  # new initial states [n, state_size], float64
        raise NotImplementedError

    def _observe(self, state: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------
    @property
    def state(self) -> Optional[np.ndarray]:
        """The batched state ``[num_envs, n]`` as a float64 copy (None before reset)."""
        return None if self._state is None else self._state.copy()

    def reset(
        self, *, seed: Optional[Union[int, list]] = None, options: Optional[dict[str, Any]] = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env from one batched draw.

        Args:
            seed: An int seeds ``self.np_random``, which draws every initial state.
            options: ``{"state": array [num_envs, n]}`` to start from given states.
        """
        if isinstance(seed, (list, tuple)):
            raise TypeError(
                "seed must be an int or None: one batched generator serves every sub-env "
                f"(got a {type(seed).__name__})"
            )
        super().reset(seed=seed)
        if options is not None and "state" in options:
            state = np.array(options["state"], dtype=np.float64)
            if state.shape != (self.num_envs, self.state_size) or not np.isfinite(state).all():
                raise ValueError(
                    f"options['state'] must be finite, of shape ({self.num_envs}, "
                    f"{self.state_size}), got shape {state.shape}"
                )
        else:
            state = self._sample(self.num_envs)
        # Component-major, the layout the physics returns: one layout from the first step.
        self._state = np.asfortranarray(state)
        self._steps[:] = 0
        self._prev_done[:] = False
        return self._observe(self._state), {}

    def _finish(
        self, state: np.ndarray, reward: np.ndarray, terminated: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Count steps, truncate, autoreset the sub-envs done at the previous call.

        ``state``, ``reward`` and ``terminated`` are fresh arrays of this call (changed in
        place for the sub-envs being reset).
        """
        self._steps += 1
        if self.max_episode_steps is None:
            truncated = np.zeros(self.num_envs, dtype=bool)
        else:
            truncated = self._steps >= self.max_episode_steps
        idx = np.flatnonzero(self._prev_done)
        if len(idx):
            state[idx] = self._sample(len(idx))
            self._steps[idx] = 0
            reward[idx] = 0.0
            terminated[idx] = False
            truncated[idx] = False
        self._state = state
        self._prev_done = terminated | truncated
        return self._observe(state), reward, terminated, truncated, {}

    def _require_reset(self) -> None:
        if self._state is None:
            raise ResetNeeded(f"{type(self).__name__}: call reset() before step()")

    def render(self) -> Optional[tuple[np.ndarray, ...]]:
        """One ``[H, W, 3]`` uint8 frame per sub-env in ``"rgb_array"`` mode."""
        if self.render_mode is None:
            logger.warn("render() needs render_mode='rgb_array' at construction")
            return None
        if self._state is None:
            raise ResetNeeded(f"{type(self).__name__}: call reset() before render()")
        return tuple(self._render_one(i) for i in range(self.num_envs))

    def _render_one(self, i: int) -> np.ndarray:
        raise NotImplementedError


class CartPoleVectorEnv(_BatchedVectorEnv):
    """``num_envs`` CartPoles in one ``[num_envs, 4]`` float64 state (see the module docstring).

    Args:
        num_envs: Number of sub-envs.
        max_episode_steps: Truncation length (500 as registered; None never truncates).
        render_mode: ``None`` or ``"rgb_array"``.
        params: Physical parameters (Gymnasium's by default; Python floats).
        integrator: As :class:`~diffsim.envs.CartPoleEnv`.
        continuous: ``Box(−1, 1, (1,))`` actions (clipped) instead of ``Discrete(2)``.
        fast: Step with the compiled torch step (:func:`diffsim.fast.compile_transition`)
            instead of NumPy; compiles on the first step (seconds).
    """

    state_size = cartpole.STATE_SIZE

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: Optional[int] = 500,
        render_mode: Optional[str] = None,
        params: Optional[cartpole.CartPoleParams] = None,
        integrator: Union[str, Integrator] = cartpole.DEFAULT_INTEGRATOR,
        continuous: bool = False,
        fast: bool = False,
    ) -> None:
        self.params = cartpole_env.float_params(params)
        self.integrator = get_integrator(integrator)
        self.continuous = bool(continuous)
        self.single_observation_space = cartpole_env.observation_space(self.params)
        if self.continuous:
            self.single_action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        else:
            self.single_action_space = spaces.Discrete(2)
        # discrete_to_action for every discrete action, looked up per step.
        self._forces = cartpole.discrete_to_action(np.arange(2), np.float64)
        self._setup(num_envs, max_episode_steps, render_mode)
        self._transition = _Transition(cartpole, self.params, self.integrator, fast)

    def _sample(self, n: int) -> np.ndarray:
        return cartpole.sample_initial(n, generator=self.np_random)

    def _observe(self, state: np.ndarray) -> np.ndarray:
        return cartpole.observe(state).astype(np.float32)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every sub-env; ``actions`` ``[num_envs]`` ints in {0, 1} (or ``[num_envs, 1]``
        floats for the continuous version, clipped to [−1, 1])."""
        self._require_reset()
        name = type(self).__name__
        if self.continuous:
            push = _checks.box_action(actions, self.action_space, name)[:, 0].astype(np.float64)
        else:
            push = self._forces[_checks.discrete_actions(actions, self.action_space, name)]
        state, reward, terminated = self._transition(self._state, push)
        return self._finish(state, reward, terminated)

    def _render_one(self, i: int) -> np.ndarray:
        return render.render_cartpole(self._state[i].tolist(), float(self.params.length))


class CartPoleContinuousVectorEnv(CartPoleVectorEnv):
    """Vector CartPole with ``Box(−1, 1, (1,))`` actions (force = action·10 N, clipped)."""

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: Optional[int] = 500,
        render_mode: Optional[str] = None,
        params: Optional[cartpole.CartPoleParams] = None,
        integrator: Union[str, Integrator] = cartpole.DEFAULT_INTEGRATOR,
        fast: bool = False,
    ) -> None:
        super().__init__(
            num_envs, max_episode_steps, render_mode, params, integrator, True, fast=fast
        )


class PendulumVectorEnv(_BatchedVectorEnv):
    """``num_envs`` Pendulums in one ``[num_envs, 2]`` float64 state.

    Args:
        num_envs: Number of sub-envs.
        max_episode_steps: Truncation length (200 as registered).
        render_mode: ``None`` or ``"rgb_array"``.
        g: Gravity, m/s² (ignored when ``params`` given).
        params: Physical parameters (Gymnasium's by default; Python floats).
        integrator: As :class:`~diffsim.envs.PendulumEnv`.
        clip_actions: Clip actions to ±max_torque (default ``params.clip_torque``).
        fast: Step with the compiled torch step instead of NumPy (as CartPole's).

    Actions are checked as :class:`~diffsim.envs.PendulumEnv`'s: when neither the env nor the
    physics clips, any |torque| beyond ``action_bound`` (``params.torque_bound``, 1000 N·m
    for the 2019 variant) raises ``ValueError`` and nothing changes.
    """

    state_size = pendulum.STATE_SIZE

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: Optional[int] = 200,
        render_mode: Optional[str] = None,
        g: float = 10.0,
        params: Optional[pendulum.PendulumParams] = None,
        integrator: Union[str, Integrator] = pendulum.DEFAULT_INTEGRATOR,
        clip_actions: Optional[bool] = None,
        fast: bool = False,
    ) -> None:
        self.params = pendulum_env.float_params(params, g)
        self.integrator = get_integrator(integrator)
        self.clip_actions = self.params.clip_torque if clip_actions is None else bool(clip_actions)
        self.single_observation_space = pendulum_env.observation_space(self.params)
        self.single_action_space = pendulum_env.action_space(self.params)
        self.action_bound = pendulum_env.action_bound(self.params, self.clip_actions)
        self._setup(num_envs, max_episode_steps, render_mode)
        self._transition = _Transition(pendulum, self.params, self.integrator, fast)

    def _sample(self, n: int) -> np.ndarray:
        return pendulum.sample_initial(n, generator=self.np_random)

    def _observe(self, state: np.ndarray) -> np.ndarray:
        return pendulum.observe(state).astype(np.float32)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every sub-env; ``actions`` ``[num_envs, 1]`` torques in N·m."""
        self._require_reset()
        u = _checks.box_action(
            actions, self.action_space, type(self).__name__, self.clip_actions, self.action_bound
        )
        torque = u[:, 0]  # float32, as the single env
        state, reward, terminated = self._transition(self._state, torque)
        return self._finish(state, reward, terminated)

    def _render_one(self, i: int) -> np.ndarray:
        return render.render_pendulum(self._state[i].tolist(), float(self.params.l))


class Pendulum2019VectorEnv(PendulumVectorEnv):
    """Vector version of the 2019 Gym.jl pendulum (torque never clipped; refused beyond
    ``action_bound`` = ±1000 N·m)."""

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: Optional[int] = 200,
        render_mode: Optional[str] = None,
        g: float = 10.0,
        integrator: Union[str, Integrator] = pendulum.DEFAULT_INTEGRATOR,
        fast: bool = False,
    ) -> None:
        super().__init__(
            num_envs,
            max_episode_steps,
            render_mode,
            params=pendulum.PendulumParams.variant_2019(g=g),
            integrator=integrator,
            fast=fast,
        )


class TrebuchetVectorEnv(_BatchedVectorEnv):
    """``num_envs`` one-shot aiming tasks; one batched ``shoot`` per step.

    The state ``[num_envs, 2]`` is ``(wind m/s, target m)``. Every shot terminates its
    episode, so with NEXT_STEP autoreset every other call resets all sub-envs (reward 0).

    Args:
        num_envs: Number of sub-envs.
        max_episode_steps: Accepted for Gymnasium (episodes end after one shot anyway).
        render_mode: ``None`` or ``"rgb_array"``.
        params: The trebuchet (reference preset by default).
    """

    state_size = 2

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: Optional[int] = None,
        render_mode: Optional[str] = None,
        params: Any = None,
    ) -> None:
        if params is not None and not isinstance(params, trebuchet_env.physics().TrebuchetParams):
            raise TypeError(f"params must be a TrebuchetParams, got {type(params).__name__}")
        self.params = params
        self.single_observation_space = trebuchet_env.observation_space()
        self.single_action_space = trebuchet_env.action_space()
        self._setup(num_envs, max_episode_steps, render_mode)
        self._last = None

    def _sample(self, n: int) -> np.ndarray:
        low = np.array([trebuchet_env.WIND_RANGE[0], trebuchet_env.TARGET_RANGE[0]])
        high = np.array([trebuchet_env.WIND_RANGE[1], trebuchet_env.TARGET_RANGE[1]])
        return self.np_random.uniform(low, high, size=(n, 2))

    def _observe(self, state: np.ndarray) -> np.ndarray:
        return state.astype(np.float32)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Shoot every sub-env that is not being reset; ``actions`` ``[num_envs, 2]`` of
        (angle deg, weight lb), clipped to the action box. ``info["distance"]`` (m, NaN for a
        failed or not-shot sub-env) and ``info["failed"]`` are arrays ``[num_envs]``."""
        self._require_reset()
        act = _checks.box_action(actions, self.action_space, type(self).__name__)
        act = torch.from_numpy(act.astype(np.float64))
        shoot = ~self._prev_done
        state = torch.from_numpy(self._state)  # the trebuchet's physics is torch's
        wind, target = state[:, 0], state[:, 1]
        distance = torch.full((self.num_envs,), float("nan"), dtype=torch.float64)
        reward = np.zeros(self.num_envs)
        failed = np.zeros(self.num_envs, dtype=bool)
        if shoot.any():
            idx = torch.from_numpy(np.flatnonzero(shoot))
            d = trebuchet_env.physics().shoot(
                wind[idx], act[idx, 0], act[idx, 1], self.params, on_failure="nan"
            )
            r, f = trebuchet_env.shot_rewards(d, target[idx])
            distance[idx] = d
            reward[idx.numpy()] = r.numpy()
            failed[idx.numpy()] = f.numpy()
        terminated = shoot.copy()
        obs, reward, terminated, truncated, info = self._finish(
            self._state.copy(), reward, terminated
        )
        info = {"distance": distance.numpy(), "failed": failed}
        return obs, reward, terminated, truncated, info

    def _render_one(self, i: int) -> np.ndarray:
        wind, target = self._state[i].tolist()
        return render.render_trebuchet(wind, target)


class _Transition:
    """``(state, action) -> (next_state, reward, terminated)`` on NumPy arrays: the physics on
    NumPy, or (``fast``) its compiled torch step on the same memory.

    A picklable callable (no closures): it holds the physics module's *name*, the parameters
    and the integrator, so that a vector env survives ``pickle`` / ``copy.deepcopy`` (what
    Stable-Baselines3's ``SubprocVecEnv`` does). The compiled function of the fast path is not
    pickled; a copy compiles its own on its first step.
    """

    def __init__(self, system: Any, params: Any, integrator: Integrator, fast: bool) -> None:
        self.system_name = system.__name__
        self.params = params
        self.integrator = integrator
        self.fast = bool(fast)
        self._setup()

    def _setup(self) -> None:
        self.system = importlib.import_module(self.system_name)
        self._compiled: Any = None
        self._fast_transition: Any = None
        if self.fast:
            from diffsim import fast as fast_path

            self._fast_transition = fast_path.compile_transition(
                self.system, self.params, self.integrator
            )

    def __getstate__(self) -> dict[str, Any]:
        return {
            "system_name": self.system_name,
            "params": self.params,
            "integrator": self.integrator,
            "fast": self.fast,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    def __call__(self, state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, ...]:
        if not self.fast:
            system = self.system
            next_state = system._step(state, action, self.params, self.integrator)
            reward = system.reward(state, action, next_state, self.params)
            return next_state, reward, system.terminated(next_state, self.params)
        # The inputs' signature never changes: the state is component-major float64 [N, n]
        # (reset makes it so, the step returns it so), the action a contiguous [N] array of
        # the space's dtype cast as the step casts it. Specialised once, on the first step.
        args = (torch.from_numpy(state), torch.from_numpy(action))
        if self._compiled is None:
            self._compiled = self._fast_transition.specialize(*args)
        next_state, reward, terminated = self._compiled(*args)
        return next_state.numpy(), reward.numpy(), terminated.numpy()
