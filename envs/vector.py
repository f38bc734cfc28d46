"""Vector environments backed by one batched state (not N Python envs): :class:`SystemVectorEnv`.

``SystemVectorEnv("diffsim/CartPole-v1", num_envs=N)`` is what ``gymnasium.make_vec`` builds
for every task without entry points of its own (``vectorization_mode`` None or
``"vector_entry_point"``). The state of all sub-envs is one float64 NumPy array, stepped by
the System's batched ``step_unchecked``; actions are checked once per call at the boundary
(type, shape, range, finiteness) and handed over without copies.

What equals Gymnasium (``tests/test_vector_parity.py`` steps both side by side, across
autoresets, and runs ``check_environments_match`` at ``num_envs=1``):

- Systems with a vector reset draw (``System.reset_batch``: CartPole) behave as Gymnasium's
  ``CartPoleVectorEnv`` (``gymnasium.make_vec("CartPole-v1", N)``): one generator
  ``self.np_random`` seeded by ``reset(seed=int)``; the reset draw
  ``reset_batch(np_random, N, options)`` (``uniform(low, high, size=(4, N))``), the reset
  options (``low``/``high``) kept for the autoresets; the ``state`` attribute ``[n, N]``
  float64 (one column per sub-env), ``steps`` int32, ``prev_done`` bool; rewards float32
  (``System.vector_reward_dtype``). Same seed and actions: the same starts and trajectories,
  bit for bit.
- Systems without one (Pendulum) behave as ``gymnasium.make_vec(id, N,
  vectorization_mode="sync")``: sub-env i has its own generator, seeded with ``seed + i``
  (or the i-th of a list of seeds, as ``SyncVectorEnv``; None keeps it); each reset and
  autoreset draws ``system.reset_state(generator_i, options)`` (autoresets with no options,
  as ``SyncVectorEnv`` resets its sub-envs); ``np_random`` is the tuple of the generators;
  rewards float64; truncation at ``max_episode_steps`` as ``TimeLimit``'s. Drawing from N
  generators takes a Python loop over the sub-envs being reset: that is what reproducing
  ``SyncVectorEnv``'s starts requires, and it runs only at reset and autoreset; stepping
  stays batched. Same starts; the same trajectories (observations, terminated, truncated
  bit for bit; Pendulum's rewards to the last bit or two: Gymnasium squares scalars with
  C's ``pow``, the batched cost squares arrays with a multiplication).
- Autoreset ``AutoresetMode.NEXT_STEP`` (Gymnasium 1.x's default): a sub-env that returned
  terminated or truncated is reset during the next ``step``, which ignores its action and
  returns its new first observation with reward 0 and terminated = truncated = False;
  ``info`` is always ``{}``; observations float32 ``[N, obs]``; every returned array fresh.

Deliberate differences: bad actions raise ``TypeError``/``ValueError`` (Gymnasium asserts),
discrete actions must be integers, and nothing changes on a refused call;
``reset(options={"state": [n, N]})`` starts from given states (the ``state`` attribute's
layout); ``reset(options={"reset_mask": mask})`` resets only the masked sub-envs for every
system (Gymnasium's ``SyncVectorEnv`` does, its ``CartPoleVectorEnv`` ignores the mask and
resets all); ``max_episode_steps=None`` never truncates; ``fast=True`` steps with the
compiled torch step of :mod:`diffsim.fast` (float64 rounding of fused kernels, not bit for
bit); the 2019 pendulum never clips the torque (see :mod:`diffsim.envs.env`).

The vector envs pickle and ``copy.deepcopy`` (Stable-Baselines3's ``SubprocVecEnv``): the
System is looked up by name when unpickled and a compiled function is compiled again.
:class:`TrebuchetVectorEnv` is the trebuchet's own one-shot vector env (state ``[N, 2]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
import torch
from gymnasium import logger
from gymnasium.error import ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from diffsim import systems
from diffsim.integrators import Integrator, get_integrator

from . import _checks, render, trebuchet_env
from .env import (
    SystemAttributes,
    action_clipping,
    action_space,
    env_params,
    observation_space,
    resolve_options,
    resolve_task,
)

TASK_LIMIT = "task"
"""``max_episode_steps``' default: the task's registered time limit."""


def _check_num_envs(num_envs: Any) -> int:
    if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    return int(num_envs)


def _check_limit(max_episode_steps: Any) -> Optional[int]:
    if max_episode_steps is None:
        return None
    if (
        isinstance(max_episode_steps, bool)
        or not isinstance(max_episode_steps, (int, np.integer))
        or max_episode_steps < 1
    ):
        raise ValueError(
            f"max_episode_steps must be a positive integer, None (never truncate) or "
            f"{TASK_LIMIT!r} (the task's), got {max_episode_steps!r}"
        )
    return int(max_episode_steps)


_BOOL = np.dtype(np.bool_)
_ONE = np.int32(1)


def _fresh(array: Any, dtype: np.dtype, n: int, owned: bool = False) -> np.ndarray:
    """``array`` as a fresh writeable ``[n]`` array of ``dtype``: no copy when the physics
    already returned one (a new ``[n]`` array owning its memory, or ``owned``: memory that
    belongs to this call alone, e.g. a compiled call's new output)."""
    if (
        type(array) is np.ndarray
        and array.shape == (n,)
        and (owned or array.base is None)
        and array.flags.writeable
    ):
        return array if array.dtype == dtype else array.astype(dtype)
    out = np.asarray(array, dtype=dtype)
    if out.base is not None or not out.flags.writeable or out.shape != (n,):
        out = np.array(np.broadcast_to(out, (n,)), dtype=dtype)
    return out


class SystemVectorEnv(SystemAttributes, VectorEnv):
    """``num_envs`` copies of a registered task in one batched state (see the module
    docstring for the contract).

    Args:
        task: A registered id or short name, as :class:`~diffsim.envs.env.SystemEnv`'s.
        num_envs: Number of sub-envs.
        render_mode: None or ``"rgb_array"`` (:meth:`render` returns one frame per sub-env).
        params, integrator, clip_actions, **options: As :class:`~diffsim.envs.env.SystemEnv`'s.
        max_episode_steps: Truncation length; ``"task"`` (default) the task's registered
            limit, None never truncates.
        fast: Step with the compiled torch step (:func:`diffsim.fast.compile_transition`;
            the built-in systems) instead of NumPy; compiles on the first step (seconds).

    Attributes:
        state: ``[n, num_envs]`` float64 (row j: ``system.state_names[j]``; column i: sub-env
            i; None before reset): a read-only view; assign an array-like of that shape of
            finite reals to continue from it (a copy; ``TypeError``/``ValueError``
            otherwise, nothing changed).
        steps: int32 ``[num_envs]``: steps since each sub-env's reset (read-only view).
        prev_done: bool ``[num_envs]``: the sub-envs the next step resets (read-only view).
        Gymnasium's public attributes, ``params``, ``options``, ``clip_actions`` and
        ``action_bound``: read-only, as the single env's.
    """

    metadata: dict[str, Any] = {
        "render_modes": ["rgb_array"],
        "render_fps": 30,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }
    _fixed = SystemAttributes._fixed | {"num_envs", "max_episode_steps", "fast"}

    def __init__(
        self,
        task: Union[str, systems.TaskSpec],
        num_envs: int = 1,
        render_mode: Optional[str] = None,
        params: Any = None,
        integrator: Union[str, Integrator, None] = None,
        clip_actions: Optional[bool] = None,
        max_episode_steps: Union[int, None, str] = TASK_LIMIT,
        fast: bool = False,
        **options: Any,
    ) -> None:
        spec = resolve_task(task)
        system = systems.get_system(spec.system)
        owner = f"{type(self).__name__}({spec.env_id!r})"
        modes = ["rgb_array"] if system.render is not None else []
        if render_mode is not None and render_mode not in modes:
            raise ValueError(
                f"{owner}: render_mode must be None or one of {modes}, got {render_mode!r}"
                + ("" if modes else f" (the {system.title} system is not drawn: System.render)")
            )
        if max_episode_steps == TASK_LIMIT:
            max_episode_steps = spec.max_episode_steps
        explicit = params is not None
        params = env_params(system, spec, params)
        params, all_options = resolve_options(owner, system, params, options, explicit)
        clip, bound = action_clipping(system, params, clip_actions, spec.discrete, owner)
        d = self.__dict__  # set before _system: the read-only attribute guard reads them
        d["task"] = spec
        d["params"] = params
        d["integrator"] = get_integrator(
            system.default_integrator if integrator is None else integrator
        )
        d["options"] = all_options
        d["clip_actions"] = clip
        d["action_bound"] = bound
        d["num_envs"] = _check_num_envs(num_envs)
        d["max_episode_steps"] = _check_limit(max_episode_steps)
        d["fast"] = bool(fast)
        d["render_mode"] = render_mode
        d["_owner"] = owner
        self._bind(system)
        n = self.num_envs
        self._state: Optional[np.ndarray] = None
        self._steps = np.zeros(n, dtype=np.int32)
        self._prev_done = np.zeros(n, dtype=np.bool_)
        self._reset_options: Optional[dict[str, Any]] = None
        self._generators: list[Optional[np.random.Generator]] = [None] * n
        self._generator_seeds: list[Optional[int]] = [None] * n
        self._last_actions: Optional[np.ndarray] = None

    def _bind(self, system: systems.System) -> None:
        """Set what derives from the System (at construction and when unpickled)."""
        d = self.__dict__
        spec, params, n = d["task"], d["params"], d["num_envs"]
        d["metadata"] = {
            **type(self).metadata,
            "render_modes": ["rgb_array"] if system.render is not None else [],
            "render_fps": system.render_fps,
        }
        d["single_observation_space"] = observation_space(system, params)
        d["single_action_space"] = action_space(system, spec, params)
        d["observation_space"] = batch_space(d["single_observation_space"], n)
        d["action_space"] = batch_space(d["single_action_space"], n)
        d["_discrete"] = spec.discrete
        d["_table"] = np.array(system.discrete_actions, dtype=np.float64)
        d["_float64_action"] = system.env_action_dtype == "float64"
        d["_reward_dtype"] = np.dtype(system.vector_reward_dtype)
        d["_per_env"] = system.reset_batch is None
        d["_limit"] = d["max_episode_steps"]
        changed = system.env_reward is not None and d["options"] != dict(system.env_options)
        d["_env_reward"] = system.env_reward if changed else None
        # The compiled step casts the reward to the env's dtype in its kernel.
        d["_transition"] = _Transition(
            system.name, params, d["integrator"], d["fast"], system.vector_reward_dtype
        )
        d["_system"] = system

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_system"]  # looked up by name when unpickled (it may hold closures)
        del state["_transition"]  # rebuilt with the System (a compiled function is not copied)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind(systems.get_system(state["task"].system))

    @property
    def system(self) -> systems.System:
        """The env's :class:`~diffsim.systems.System`."""
        return self._system

    # -- attributes ---------------------------------------------------------------------------
    @property
    def state(self) -> Optional[np.ndarray]:
        """The batched state ``[n, num_envs]`` float64 (a read-only view; None before reset).

        Assign an array-like of that shape to continue from it (finite reals, SI units)."""
        if self._state is None:
            return None
        view = self._state.view()
        view.flags.writeable = False
        return view

    @state.setter
    def state(self, value: Any) -> None:
        self._state = _checks.state_array(
            value, self._system.state_names, self._owner, num_envs=self.num_envs
        )

    @property
    def steps(self) -> np.ndarray:
        """int32 ``[num_envs]``: each sub-env's steps since its reset (a read-only view)."""
        view = self._steps.view()
        view.flags.writeable = False
        return view

    @property
    def prev_done(self) -> np.ndarray:
        """bool ``[num_envs]``: the sub-envs that ended at the last step, reset by the next
        (a read-only view)."""
        view = self._prev_done.view()
        view.flags.writeable = False
        return view

    @property
    def np_random(self) -> Any:
        """The generator of the reset draws: one ``numpy.random.Generator`` for a system with
        a vector draw (CartPole), else the tuple of the sub-envs' generators (as
        ``SyncVectorEnv``'s), each created from fresh entropy if never seeded."""
        if not self._per_env:
            return VectorEnv.np_random.fget(self)
        return tuple(self._generator(i) for i in range(self.num_envs))

    @np_random.setter
    def np_random(self, value: Any) -> None:
        if not self._per_env:
            VectorEnv.np_random.fset(self, value)
            return
        if not isinstance(value, Sequence) or len(value) != self.num_envs:
            raise TypeError(
                f"{self._owner}: np_random must be a sequence of {self.num_envs} generators "
                "(one per sub-env)"
            )
        self._generators = list(value)
        self._generator_seeds = [-1] * self.num_envs

    @property
    def np_random_seed(self) -> Any:
        """The seed of :attr:`np_random` (a tuple, one per sub-env, where it is a tuple)."""
        if not self._per_env:
            return VectorEnv.np_random_seed.fget(self)
        for i in range(self.num_envs):
            self._generator(i)
        return tuple(self._generator_seeds)

    def _generator(self, i: int) -> np.random.Generator:
        gen = self._generators[i]
        if gen is None:
            gen, seed = seeding.np_random()
            self._generators[i], self._generator_seeds[i] = gen, seed
        return gen

    # -- reset ----------------------------------------------------------------------------------
    def _seeds(self, seed: Any) -> list[Optional[int]]:
        """SyncVectorEnv's seeds: None → None each, an int s → s + i, a list as given."""
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        if isinstance(seed, (list, tuple)) and len(seed) == self.num_envs:
            return list(seed)
        raise ValueError(
            f"{self._owner}: seed must be None, an int (sub-env i seeded with seed + i) or a "
            f"list of {self.num_envs} ints or None, got {seed!r}"
        )

    def _reset_mask(self, mask: Any) -> np.ndarray:
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise TypeError(
                f"{self._owner}: options['reset_mask'] must be a numpy bool array, got "
                f"{_checks._describe(mask)}"
            )
        if mask.shape != (self.num_envs,):
            raise ValueError(
                f"{self._owner}: options['reset_mask'] must have shape ({self.num_envs},), "
                f"got {mask.shape}"
            )
        if not mask.any():
            raise ValueError(f"{self._owner}: options['reset_mask'] resets no sub-env")
        if self._state is None:
            raise ResetNeeded(f"{self._owner}: reset every sub-env before a masked reset")
        return mask

    def reset(
        self,
        *,
        seed: Union[int, Sequence[Optional[int]], None] = None,
        options: Optional[dict[str, Any]] = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env (or those of ``options["reset_mask"]``).

        Args:
            seed: A system with a vector draw: an int seeds :attr:`np_random`. Else as
                ``SyncVectorEnv``: an int s seeds sub-env i with s + i, a list seeds each
                (None entries keep their generator).
            options: The system's reset options (CartPole's ``low``/``high``, kept for the
                autoresets; Pendulum's ``x_init``/``y_init``, for this reset only, as
                ``SyncVectorEnv`` passes them), ``"state"``: an array ``[n, num_envs]`` to
                start from (the :attr:`state` layout; nothing drawn), ``"reset_mask"``: a
                bool ``[num_envs]`` array of the sub-envs to reset (the others continue).

        Raises:
            TypeError, ValueError: for a bad seed, state or mask (nothing changed), or a bad
                reset option (raised by the draw, after the seeding, as Gymnasium's).
            ResetNeeded: for a masked reset before a full one.
        """
        options = dict(options) if options else {}
        mask = options.pop("reset_mask", None)
        given = options.pop("state", None)
        n = self.num_envs
        mask = None if mask is None else self._reset_mask(mask)
        index = np.arange(n) if mask is None else np.flatnonzero(mask)
        if given is not None:
            given = _checks.state_array(
                given, self._system.state_names, self._owner, "options['state']", num_envs=n
            )
        if self._per_env:
            seeds = self._seeds(seed)
            for i in index.tolist():
                if seeds[i] is not None:
                    self._generators[i], self._generator_seeds[i] = seeding.np_random(seeds[i])
        elif seed is not None and not isinstance(seed, (int, np.integer)):
            raise TypeError(
                f"{self._owner}: seed must be an int or None: one generator draws every "
                f"sub-env's start (Gymnasium's vector {self._system.title}), got {seed!r}"
            )
        else:
            super().reset(seed=None if seed is None else int(seed))
        if given is not None:
            draw = given[:, index]
        elif self._per_env:
            draw = self._draw_each(index, options or None)
        else:
            draw = np.asarray(self._system.reset_batch(self.np_random, len(index), options or None))
        if not self._per_env:
            self._reset_options = options or None
        if mask is None:
            self._state = np.array(draw, dtype=np.float64, order="C")
            self._steps = np.zeros(n, dtype=np.int32)
            self._prev_done = np.zeros(n, dtype=np.bool_)
        else:
            state = self._state.copy()
            state[:, index] = draw
            self._state = state
            self._steps[index] = 0
            prev_done = self._prev_done.copy()
            prev_done[index] = False
            self._prev_done = prev_done
        self._last_actions = None
        return self._observe(self._state), {}

    def _draw_each(self, index: np.ndarray, options: Optional[dict[str, Any]]) -> np.ndarray:
        """One ``reset_state`` draw per listed sub-env, each from its own generator."""
        draw = np.empty((self._system.state_size, len(index)))
        for k, i in enumerate(index.tolist()):
            draw[:, k] = self._system.reset_state(self._generator(i), options)
        return draw

    # -- step -----------------------------------------------------------------------------------
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every sub-env (reset those done at the previous call instead).

        Args:
            actions: Integers ``[num_envs]`` of the ``Discrete`` space, or ``[num_envs, 1]``
                reals in the system's action unit (clipped as :attr:`clip_actions` says).

        Returns:
            ``(observations float32 [N, obs], rewards [N] of the system's
            vector_reward_dtype, terminated bool [N], truncated bool [N], {})``.

        Raises:
            ResetNeeded: before the first :meth:`reset`.
            TypeError, ValueError: for actions outside the action space (nothing changes).
        """
        d = self.__dict__  # plain reads and writes: no attribute guard in the hot path
        state = d["_state"]
        if state is None:
            raise ResetNeeded(f"{self._owner}: call reset() before step()")
        params, system = d["params"], d["_system"]
        if d["_discrete"]:
            u = _checks.discrete_lookup(actions, d["_table"], d["action_space"], d["_owner"])
        else:
            u = _checks.box_action(
                actions, d["action_space"], d["_owner"], d["clip_actions"], d["action_bound"]
            )[:, 0]
            if d["_float64_action"]:
                u = u.astype(np.float64)
        # The physics takes [N, n] (a transposed view of the [n, N] state: each component
        # contiguous) and returns the next state laid out so, whose transpose is [n, N].
        x, env_reward, fast = state.T, d["_env_reward"], d["fast"]
        if fast:  # new arrays of this call (the transition copies any that would alias)
            next_x, reward, terminated = d["_transition"](x, u)
        else:
            next_x = system.step_unchecked(x, u, params, d["integrator"])
            terminated = system.terminated(next_x, params)
            if env_reward is None:
                reward = system.reward(x, u, next_x, params)
        if env_reward is not None:
            reward = env_reward(x, u, next_x, terminated, params, d["options"])
        new = next_x.T
        if not new.flags.c_contiguous:
            new = np.ascontiguousarray(new)
        n = d["num_envs"]
        reward = _fresh(reward, d["_reward_dtype"], n, fast and env_reward is None)
        terminated = _fresh(terminated, _BOOL, n, fast)
        steps = d["_steps"]
        steps += _ONE  # an int32 scalar: no Python int to convert on every step
        limit = d["_limit"]
        truncated = np.zeros(n, dtype=np.bool_) if limit is None else steps >= limit
        done = d["_prev_done"].nonzero()[0]  # the sub-envs reset now
        if len(done):
            if d["_per_env"]:
                new[:, done] = self._draw_each(done, None)
            else:
                rng = d.get("_np_random") or self.np_random  # seeded by reset
                new[:, done] = system.reset_batch(rng, len(done), d["_reset_options"])
            steps[done] = 0
            reward[done] = 0.0
            terminated[done] = False
            truncated[done] = False
        d["_state"] = new
        d["_prev_done"] = terminated | truncated
        d["_last_actions"] = u
        return system.observe(new.T).astype(np.float32), reward, terminated, truncated, {}

    def _observe(self, state: np.ndarray) -> np.ndarray:
        return self._system.observe(state.T).astype(np.float32)

    def render(self) -> Optional[tuple[np.ndarray, ...]]:
        """One uint8 ``[H, W, 3]`` frame per sub-env in ``"rgb_array"`` mode (None and a
        warning without a render mode).

        Raises:
            ResetNeeded: before the first reset.
        """
        if self.render_mode is None:
            logger.warn("render() needs render_mode='rgb_array' at construction")
            return None
        if self._state is None:
            raise ResetNeeded(f"{self._owner}: call reset() before render()")
        draw = self._system.renderer()
        last = self._last_actions
        return tuple(
            draw(self._state[:, i], self.params, None if last is None else float(last[i]))
            for i in range(self.num_envs)
        )


def _deprecated(old: str, new: str) -> None:
    import warnings

    warnings.warn(
        f"{old} is deprecated: use {new} (the same env)", DeprecationWarning, stacklevel=3
    )


class CartPoleVectorEnv(SystemVectorEnv):
    """Deprecated alias of ``SystemVectorEnv("diffsim/CartPole-v1", ...)`` (or
    ``"diffsim/CartPoleContinuous-v1"`` with ``continuous=True``), with its old signature."""

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: Optional[int] = 500,
        render_mode: Optional[str] = None,
        params: Any = None,
        integrator: Union[str, Integrator] = "euler",
        continuous: bool = False,
        fast: bool = False,
    ) -> None:
        task = "diffsim/CartPoleContinuous-v1" if continuous else "diffsim/CartPole-v1"
        _deprecated(type(self).__name__, f"SystemVectorEnv({task!r}, ...)")
        super().__init__(
            task,
            num_envs,
            render_mode,
            params,
            integrator,
            max_episode_steps=max_episode_steps,
            fast=fast,
        )

    @property
    def continuous(self) -> bool:
        """Whether the actions are continuous pushes (``Box(−1, 1, (1,))``)."""
        return not self._discrete


class CartPoleContinuousVectorEnv(CartPoleVectorEnv):
    """Deprecated alias of ``SystemVectorEnv("diffsim/CartPoleContinuous-v1", ...)``."""

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: Optional[int] = 500,
        render_mode: Optional[str] = None,
        params: Any = None,
        integrator: Union[str, Integrator] = "euler",
        fast: bool = False,
    ) -> None:
        super().__init__(
            num_envs, max_episode_steps, render_mode, params, integrator, True, fast=fast
        )


class PendulumVectorEnv(SystemVectorEnv):
    """Deprecated alias of ``SystemVectorEnv("diffsim/Pendulum-v1", ...)`` with its old
    signature (``g`` other than 10 is passed as the option, which must agree with
    ``params`` when both are given)."""

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: Optional[int] = 200,
        render_mode: Optional[str] = None,
        g: float = 10.0,
        params: Any = None,
        integrator: Union[str, Integrator] = "semi_implicit_euler",
        clip_actions: Optional[bool] = None,
        fast: bool = False,
    ) -> None:
        _deprecated(type(self).__name__, "SystemVectorEnv('diffsim/Pendulum-v1', ...)")
        super().__init__(
            "diffsim/Pendulum-v1",
            num_envs,
            render_mode,
            params,
            integrator,
            clip_actions,
            max_episode_steps=max_episode_steps,
            fast=fast,
            **({} if g == 10.0 else {"g": g}),
        )


class Pendulum2019VectorEnv(SystemVectorEnv):
    """Deprecated alias of ``SystemVectorEnv("diffsim/Pendulum2019-v1", ...)`` (torque never
    clipped; refused beyond ``action_bound`` = ±1000 N·m)."""

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: Optional[int] = 200,
        render_mode: Optional[str] = None,
        g: float = 10.0,
        integrator: Union[str, Integrator] = "semi_implicit_euler",
        fast: bool = False,
    ) -> None:
        _deprecated(type(self).__name__, "SystemVectorEnv('diffsim/Pendulum2019-v1', ...)")
        super().__init__(
            "diffsim/Pendulum2019-v1",
            num_envs,
            render_mode,
            integrator=integrator,
            max_episode_steps=max_episode_steps,
            fast=fast,
            **({} if g == 10.0 else {"g": g}),
        )


class _BatchedVectorEnv(VectorEnv):
    """The trebuchet's vector machinery (state ``[num_envs, n]``, one generator, NEXT_STEP
    autoreset), kept as it was: the trebuchet has no System (its task is one shot)."""

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
    """The compiled ``(state, action) -> (next_state, reward, terminated)`` of ``fast=True``:
    the System's compiled torch step (:func:`diffsim.fast.compile_transition`, the reward
    cast to ``reward_dtype`` in the kernel) on the NumPy arrays' memory.

    A picklable callable: it holds the system's *name*, the parameters, the integrator and
    the reward dtype, so that a vector env survives ``pickle`` / ``copy.deepcopy`` (what
    Stable-Baselines3's ``SubprocVecEnv`` does). The compiled function is not pickled; a copy
    compiles its own on its first step. With ``fast=False`` it holds nothing to compile (the
    env steps the System's NumPy functions itself).
    """

    def __init__(
        self,
        system_name: str,
        params: Any,
        integrator: Integrator,
        fast: bool,
        reward_dtype: Optional[str] = None,
    ) -> None:
        self.system_name = system_name
        self.params = params
        self.integrator = integrator
        self.fast = bool(fast)
        self.reward_dtype = reward_dtype
        self._setup()

    def _setup(self) -> None:
        self._compiled: Any = None
        self._shared: Optional[tuple[bool, ...]] = None
        self._fast_transition: Any = None
        if self.fast:
            from diffsim import fast as fast_path

            dtype = None if self.reward_dtype is None else getattr(torch, self.reward_dtype)
            self._fast_transition = fast_path.compile_transition(
                self.system_name, self.params, self.integrator, dtype
            )

    def __getstate__(self) -> dict[str, Any]:
        return {
            "system_name": self.system_name,
            "params": self.params,
            "integrator": self.integrator,
            "fast": self.fast,
            "reward_dtype": self.reward_dtype,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"reward_dtype": None, **state})
        self._setup()

    def _specialise(self, args: tuple[torch.Tensor, ...]) -> Any:
        """Compile for ``args``' signature; find which outputs share memory with an input
        or an earlier output (those are copied on every call, so that each is fresh)."""
        compiled = self._fast_transition.specialize(*args)
        seen = {a.untyped_storage().data_ptr() for a in args}
        shared = []
        for out in compiled(*args):
            ptr = out.untyped_storage().data_ptr()
            shared.append(ptr in seen)
            seen.add(ptr)
        self._shared = tuple(shared) if any(shared) else None
        self._compiled = compiled
        return compiled

    def __call__(self, state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(next_state, reward, terminated)`` as NumPy arrays, each new memory of this call.

        The inputs' signature never changes: the state is component-major float64 [N, n] (a
        transposed C-contiguous [n, N] array), the action a contiguous [N] array of the dtype
        the env casts it to. Specialised once, on the first step."""
        args = (torch.from_numpy(state), torch.from_numpy(action))
        compiled = self._compiled
        if compiled is None:
            compiled = self._specialise(args)
        outs = compiled(*args)
        if self._shared is None:
            next_state, reward, terminated = outs
            return next_state.numpy(), reward.numpy(), terminated.numpy()
        return tuple(
            o.numpy().copy(order="K") if c else o.numpy() for o, c in zip(outs, self._shared)
        )
