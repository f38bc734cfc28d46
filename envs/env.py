"""One Gymnasium env over any registered :class:`~diffsim.systems.System`: :class:`SystemEnv`.

``SystemEnv("diffsim/CartPole-v1")`` (or a short name, ``SystemEnv("cartpole")``) is the env
that ``gymnasium.make`` builds for every task without entry points of its own (the
registered kwargs are ``{"task": env_id}``). The System supplies the physics and the
Gymnasium conventions; this class holds the generator, the state and the spaces and checks
the actions at the boundary (:mod:`diffsim.envs._checks`) before calling
``system.step_unchecked`` on a NumPy float64 state.

What equals Gymnasium's own env (``CartPole-v1``, ``Pendulum-v1``; ``tests/test_gym_parity.py``
runs Gymnasium's ``check_environments_match`` with nothing skipped but rendering):

- spaces: ``Discrete(len(system.discrete_actions))`` for a discrete task, else a float32
  ``Box`` of shape (1,) over ``system.action_bounds(params)``; the observation a float32
  ``Box(low, high)`` with ``high = system.observation_high(params)`` and ``low =
  system.observation_low(params)`` (``-high`` when the System gives none);
- ``reset(seed, options)``: ``system.reset_state(self.np_random, options)``, Gymnasium's own
  draw from the same generator (CartPole's ``low``/``high``, Pendulum's ``x_init``/``y_init``);
  ``options={"state": ...}`` starts from a given state instead;
- ``step``: the same float64 operations in the same order (CartPole bit for bit; Pendulum's
  torque reaches the physics as float32, the action space's dtype, so its torque term rounds
  as Gymnasium's); the reward of ``system.reward_type`` (CartPole: ``float``, Pendulum:
  ``numpy.float64``); ``terminated`` a ``bool``; ``truncated`` always False (the
  ``TimeLimit`` wrapper that ``gymnasium.make`` adds truncates); ``info`` empty;
- steps after termination warn once and pay ``system.after_termination_reward(options)``
  where Gymnasium does (CartPole: 0, or −1 with ``sutton_barto_reward``);
- Gymnasium's constructor options (``system.env_options``: CartPole's ``sutton_barto_reward``,
  Pendulum's ``g``) and its public attributes (``gravity``, ``theta_threshold_radians``,
  ``kinematics_integrator``, ``max_torque``, ...) as read-only views onto ``params``; a
  settable ``state``.

Deliberate differences:

- bad actions raise ``TypeError``/``ValueError`` naming what was expected (Gymnasium asserts,
  or for Pendulum silently accepts a wrong shape), and the env stays usable;
- ``diffsim/Pendulum2019-v1`` never clips the torque (the 2019 post's Gym.jl pendulum): its
  action space keeps the Box(−2, 2) that policies are scaled to, an action beyond it is
  applied as given, and one beyond ``system.action_limit(params)`` (±1000 N·m) is refused;
- ``params`` and ``integrator`` choose other physics (Gymnasium's attributes follow them);
- the attributes are read-only: assigning one raises ``AttributeError`` saying how to build
  the env with other parameters (on Gymnasium's env it silently changes the physics).

Pickling: the env keeps its task (the :class:`~diffsim.systems.TaskSpec`, plain data) and
looks its System up by name when unpickled, so a pickled env of a user's system needs that
system registered in the process that loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Union

import gymnasium as gym
import numpy as np
from gymnasium import logger, spaces
from gymnasium.error import ResetNeeded

from diffsim import systems
from diffsim.integrators import Integrator, get_integrator

from . import _checks

RENDER_MODES = ("human", "rgb_array")
"""The render modes of :class:`SystemEnv` (``human`` needs pygame)."""


_INDEX_TYPES = frozenset((int, np.int64, np.int32))
"""Types of a discrete action looked up directly (others go through the full check)."""


def resolve_task(task: Union[str, systems.TaskSpec]) -> systems.TaskSpec:
    """The :class:`~diffsim.systems.TaskSpec` of a registered id or short name (a TaskSpec is
    returned as it is).

    Raises:
        TypeError: for anything but a name or a TaskSpec.
        ValueError: for an unknown name (listing the valid ones), or a task with entry points
            of its own (the generic adapters serve only the tasks of a System).
    """
    if isinstance(task, systems.TaskSpec):
        spec = task
    elif isinstance(task, str):
        spec = systems.get_task_spec(task)
    else:
        raise TypeError(f"task must be a registered id or short name, got {type(task).__name__}")
    if not spec.generic:
        raise ValueError(
            f"task {spec.env_id!r} has entry points of its own ({spec.entry_point}): use "
            f"gymnasium.make({spec.env_id!r}); the generic adapters serve only tasks of a System"
        )
    return spec


def env_params(system: systems.System, task: systems.TaskSpec, params: Any) -> Any:
    """The parameters of an env: the task's (``params`` None) or ``params`` checked.

    Raises:
        TypeError: for parameters of another type, or holding tensors (an env steps NumPy
            float64 states; use the physics module directly for tensor parameters).
    """
    if params is None:
        return systems.task_params(task)
    if not isinstance(params, system.params_type):
        raise TypeError(
            f"params must be a {system.params_type.__name__} (the {system.title} system's), "
            f"got {type(params).__name__}"
        )
    tensors = params.tensors() if hasattr(params, "tensors") else {}
    if tensors:
        raise TypeError(
            f"an env's {system.params_type.__name__} must hold Python floats, got tensors in "
            f"{sorted(tensors)}; use {system.module} directly for tensor parameters"
        )
    return params


def resolve_options(
    owner: str, system: systems.System, params: Any, given: Mapping[str, Any], explicit: bool
) -> tuple[Any, dict[str, Any]]:
    """Apply Gymnasium's constructor options to the parameters.

    Args:
        owner: The env's name, for messages.
        system: The env's system.
        params: The parameters (the task's, or the caller's when ``explicit``).
        given: The options passed explicitly.
        explicit: Whether the caller passed ``params``.

    Returns:
        ``(params, options)``: the parameters ``system.apply_options`` gives, and every option
        (``system.env_options``' defaults updated with ``given``).

    Raises:
        TypeError: for an option the system does not have (the message lists its options).
        ValueError: for an option that changes a parameter the caller's ``params`` also set to
            another value (Pendulum's ``g=9.81`` with ``params.g == 10``): pass it inside
            ``params`` instead (``params.replace(g=9.81)``).
    """
    unknown = [name for name in given if name not in system.env_options]
    if unknown:
        valid = ", ".join(system.env_options) or "none"
        raise TypeError(
            f"{owner}: unknown option(s) {', '.join(map(repr, unknown))}; the {system.title} "
            f"system's options are: {valid} (besides render_mode, params, integrator and "
            "clip_actions)"
        )
    options = {**system.env_options, **given}
    if given and system.apply_options is not None:
        changed = system.apply_options(params, dict(given))
        if explicit and changed != params:
            raise ValueError(
                f"{owner}: the option(s) {', '.join(f'{k}={v!r}' for k, v in given.items())} "
                f"change parameters that params= also sets ({params!r}); give one of them, e.g. "
                "params=params.replace(...) with the option's value"
            )
        params = changed
    return params, options


def action_space(system: systems.System, task: systems.TaskSpec, params: Any) -> spaces.Space:
    """A task's single action space: ``Discrete(len(system.discrete_actions))`` or a float32
    ``Box`` of shape (1,) over ``system.action_bounds(params)``.

    Raises:
        ValueError: for a discrete task of a system without discrete actions.
    """
    if task.discrete:
        if not system.discrete:
            raise ValueError(
                f"task {task.env_id!r} is discrete but the {system.title} system has no "
                "discrete_actions"
            )
        return spaces.Discrete(len(system.discrete_actions))
    low, high = system.action_bounds(params)
    return spaces.Box(float(low), float(high), shape=(1,), dtype=np.float32)


def observation_space(system: systems.System, params: Any) -> spaces.Box:
    """A system's float32 observation Box from ``observation_low`` to ``observation_high``
    (``-observation_high`` when the System gives no lower bound)."""
    high = np.array(system.observation_high(params), dtype=np.float32)
    if system.observation_low is None:
        return spaces.Box(-high, high, dtype=np.float32)
    low = np.array(system.observation_low(params), dtype=np.float32)
    return spaces.Box(low, high, dtype=np.float32)


def action_clipping(
    system: systems.System, params: Any, clip_actions: Optional[bool], discrete: bool, owner: str
) -> tuple[bool, Optional[float]]:
    """``(clip, bound)`` of an env's continuous actions.

    ``clip`` defaults to whether the physics clips the action itself
    (``system.action_limit(params) is None``); ``bound`` is the largest |action| accepted when
    neither the env nor the physics clips (``system.action_limit(params)``), else None.

    Raises:
        TypeError: for ``clip_actions`` given to a discrete task.
    """
    if discrete:
        if clip_actions is not None:
            raise TypeError(
                f"{owner}: clip_actions applies to continuous actions; this task is discrete"
            )
        return False, None
    limit = system.action_limit(params)
    clip = (limit is None) if clip_actions is None else bool(clip_actions)
    return clip, (None if clip or limit is None else float(limit))


class SystemAttributes:
    """Gymnasium's public attributes of a system as read-only views (a mixin of the generic
    env and vector env).

    An instance has ``params``, ``integrator``, ``options`` and ``task`` in its ``__dict__``,
    and ``_system`` once bound. Reading ``system.env_attributes``' names gives the parameter
    each names, ``system.integrator_attribute`` the integrator's name, an option's name its
    value; assigning any of them, or an attribute of :attr:`_fixed`, raises
    ``AttributeError`` saying how to build the env with another value.
    """

    _fixed: frozenset[str] = frozenset(
        {"task", "params", "integrator", "options", "clip_actions", "action_bound"}
    )
    """Attributes fixed at construction (the spaces and checks derive from them)."""

    def __getattr__(self, name: str) -> Any:
        # Called only when the normal lookup fails. Private names (and everything before
        # the System is bound, e.g. while unpickling) are not served here.
        d = self.__dict__
        system = d.get("_system")
        if system is None or name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if name in system.env_attributes:
            return getattr(d["params"], system.env_attributes[name])
        if name == system.integrator_attribute:
            return d["integrator"].name
        if name in d["options"]:
            return d["options"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        system = self.__dict__.get("_system")
        if system is not None and (
            name in system.env_attributes
            or name == system.integrator_attribute
            or name in self.__dict__["options"]
            or name in self._fixed
        ):
            raise AttributeError(_checks.read_only_message(self, name, system, value))
        object.__setattr__(self, name, value)


class SystemEnv(SystemAttributes, gym.Env[np.ndarray, Union[int, np.ndarray]]):
    """A Gymnasium env over a registered task (see the module docstring for the contract).

    Args:
        task: A registered id (``"diffsim/CartPole-v1"``) or short name (``"cartpole"``) of a
            task served by the generic adapters (:func:`diffsim.systems.task_specs`).
        render_mode: None, ``"rgb_array"`` (:meth:`render` returns a uint8 ``[H, W, 3]``
            frame) or ``"human"`` (a window, needs pygame; drawn on every reset and step).
        params: Physical parameters (Python floats) replacing the task's; its system's
            ``params_type``. None: the task's (``diffsim.systems.task_params``).
        integrator: An integrator's name or object (the system's default if None).
        clip_actions: Continuous tasks: clip actions to the action space (default: whether
            the physics clips them itself). An env that clips neither applies an action as
            given and refuses |action| > :attr:`action_bound` with ``ValueError``.
        **options: Gymnasium's constructor options of the system (``system.env_options``:
            CartPole's ``sutton_barto_reward``, Pendulum's ``g``). An option that changes a
            parameter (``g``) may be combined with ``params`` only when they agree.

    Attributes:
        task: The :class:`~diffsim.systems.TaskSpec`; ``system`` its System; ``params``,
            ``integrator``, ``options`` (every option, defaults included).
        state: The current state (float64 ``[n]``, SI units, ``system.state_names``' order;
            None before reset): read as a read-only view; assigned as any array-like of ``n``
            finite reals (a float64 copy; ``TypeError``/``ValueError`` otherwise, nothing
            changed); the next step continues from it.
        clip_actions, action_bound: The continuous actions' clipping (see above).
        last_action: The physical action of the last step (None after reset), for rendering.
        Gymnasium's public attributes of the system (``system.env_attributes``, e.g.
        ``gravity``, ``theta_threshold_radians``, ``max_torque``), its integrator's name
        (``kinematics_integrator`` for CartPole) and the options by name
        (``sutton_barto_reward``): read-only; assigning raises ``AttributeError``.

    Raises:
        TypeError, ValueError: for an unknown task, option, render mode or integrator,
            parameters of the wrong type, or an option contradicting ``params``.
    """

    metadata: dict[str, Any] = {"render_modes": list(RENDER_MODES), "render_fps": 30}

    def __init__(
        self,
        task: Union[str, systems.TaskSpec],
        render_mode: Optional[str] = None,
        params: Any = None,
        integrator: Union[str, Integrator, None] = None,
        clip_actions: Optional[bool] = None,
        **options: Any,
    ) -> None:
        spec = resolve_task(task)
        system = systems.get_system(spec.system)
        owner = f"{type(self).__name__}({spec.env_id!r})"
        modes = list(RENDER_MODES) if system.render is not None else []
        if render_mode is not None and render_mode not in modes:
            raise ValueError(
                f"{owner}: render_mode must be None or one of {modes}, got {render_mode!r}"
                + ("" if modes else f" (the {system.title} system is not drawn: System.render)")
            )
        explicit = params is not None
        params = env_params(system, spec, params)
        params, all_options = resolve_options(owner, system, params, options, explicit)
        clip, bound = action_clipping(system, params, clip_actions, spec.discrete, owner)
        d = self.__dict__  # the read-only attribute guard (__setattr__) needs _system last
        d["task"] = spec
        d["params"] = params
        d["integrator"] = get_integrator(
            system.default_integrator if integrator is None else integrator
        )
        d["options"] = all_options
        d["render_mode"] = render_mode
        d["clip_actions"] = clip
        d["action_bound"] = bound
        d["_owner"] = owner
        self._bind(system)
        self._state: Optional[np.ndarray] = None
        self._steps_beyond_terminated: Optional[int] = None
        self.last_action: Optional[float] = None
        self._window: Any = None

    def _bind(self, system: systems.System) -> None:
        """Set what derives from the System (at construction and when unpickled)."""
        d = self.__dict__
        spec, params = d["task"], d["params"]
        modes = list(RENDER_MODES) if system.render is not None else []
        d["metadata"] = {"render_modes": modes, "render_fps": system.render_fps}
        d["observation_space"] = observation_space(system, params)
        d["action_space"] = action_space(system, spec, params)
        d["_discrete"] = spec.discrete
        d["_forces"] = tuple(float(a) for a in system.discrete_actions)
        d["_force_of"] = dict(enumerate(d["_forces"]))  # Discrete(n) starts at 0
        d["_float64_action"] = system.env_action_dtype == "float64"
        uses_env_reward = system.env_reward is not None and d["options"] != dict(system.env_options)
        d["_env_reward"] = system.env_reward if uses_env_reward else None
        d["_after_termination"] = (
            None
            if system.after_termination_reward is None
            else system.after_termination_reward(d["options"])
        )
        d["_system"] = system

    @property
    def system(self) -> systems.System:
        """The env's :class:`~diffsim.systems.System`."""
        return self._system

    @property
    def state(self) -> Optional[np.ndarray]:
        """The current state (float64 ``[n]``: ``system.state_names``, SI units): a read-only
        view, or None before reset. Assign ``n`` finite reals to continue from them
        (``TypeError``/``ValueError`` otherwise, with nothing changed)."""
        if self._state is None:
            return None
        view = self._state.view()
        view.flags.writeable = False
        return view

    @state.setter
    def state(self, value: Any) -> None:
        self._state = _checks.state_array(value, self._system.state_names, self._owner)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_system"]  # looked up by name when unpickled (it may hold closures)
        state["_window"] = None  # a window is not copied
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind(systems.get_system(state["task"].system))

    @property
    def steps_beyond_terminated(self) -> Optional[int]:
        """Gymnasium's CartPole counter, read-only: None before the episode terminates, 0 on
        the terminating step, then one more per step taken after it (None throughout for
        systems without ``after_termination_reward``)."""
        return self._steps_beyond_terminated

    # -- the env ------------------------------------------------------------------------------
    def _action(self, action: Any) -> Any:
        """The checked action as the physics takes it (a float, or a float32 scalar)."""
        if self._discrete:
            if type(action) in _INDEX_TYPES:  # the common case: an index as sampled; no copy
                force = self._force_of.get(action)
                if force is not None:
                    return force
            return self._forces[_checks.discrete_action(action, self.action_space, self._owner)]
        u = _checks.box_action(
            action, self.action_space, self._owner, self.clip_actions, self.action_bound
        )
        return float(u[0]) if self._float64_action else u[0]

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        """Apply one action for one time step.

        Args:
            action: An int of the ``Discrete`` space, or an array-like of shape (1,) in the
                system's action unit (clipped to the space when :attr:`clip_actions`).

        Returns:
            ``(observation float32, reward of system.reward_type, terminated bool, False,
            {})``.

        Raises:
            ResetNeeded: before the first :meth:`reset`.
            TypeError, ValueError: for an action outside the action space's type, shape or
                values, non-finite, beyond float32's range, or beyond :attr:`action_bound`
                (nothing changes; the env stays usable).
        """
        d = self.__dict__  # plain reads and writes: no attribute guard in the hot path
        state = d["_state"]
        if state is None:
            raise ResetNeeded(f"{d['_owner']}: call reset() before step()")
        system, params = d["_system"], d["params"]
        u = self._action(action)
        next_state = system.step_unchecked(state, u, params, d["integrator"])
        terminated = bool(system.terminated(next_state, params))
        env_reward = d["_env_reward"]
        if env_reward is not None:
            reward = env_reward(state, u, next_state, terminated, params, d["options"])
        else:
            reward = system.reward(state, u, next_state, params)
        reward = system.reward_type(reward)
        d["_state"] = next_state
        d["last_action"] = float(u)
        if terminated and d["_after_termination"] is not None:
            beyond = d["_steps_beyond_terminated"]
            if beyond is None:
                d["_steps_beyond_terminated"] = 0
            else:
                if beyond == 0:
                    logger.warn(
                        "You are calling 'step()' even though this environment has already "
                        "returned terminated = True. You should always call 'reset()' once you "
                        "receive 'terminated = True' -- any further steps are undefined behavior."
                    )
                d["_steps_beyond_terminated"] = beyond + 1
                reward = system.reward_type(d["_after_termination"])
        if d["render_mode"] == "human":
            self.render()
        return self._obs(), reward, terminated, False, {}

    def _obs(self) -> np.ndarray:
        return np.asarray(self._system.observe(self._state)).astype(np.float32)

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw a new initial state: ``system.reset_state(self.np_random, options)``.

        Args:
            seed: Seeds ``self.np_random`` (the same seed gives Gymnasium's initial state).
            options: The system's reset options as Gymnasium's env parses them (CartPole's
                ``low``/``high``, Pendulum's ``x_init``/``y_init``), or ``{"state": [n]}`` to
                start from a given state (SI units; drawn nothing).

        Raises:
            TypeError, ValueError: for a bad option or state.
        """
        super().reset(seed=seed)
        if options is not None and "state" in options:
            self._state = _checks.state_array(
                options["state"], self._system.state_names, self._owner, "options['state']"
            )
        else:
            state = np.asarray(self._system.reset_state(self.np_random, options), np.float64)
            self._state = state
        self._steps_beyond_terminated = None
        self.last_action = None
        if self.render_mode == "human":
            self.render()
        return self._obs(), {}

    def render(self) -> Optional[np.ndarray]:
        """The current frame: a uint8 ``[H, W, 3]`` array in ``"rgb_array"`` mode; in
        ``"human"`` mode the frame is shown in a window (``None`` returned).

        Raises:
            ResetNeeded: before the first reset.
            gymnasium.error.DependencyNotInstalled: in ``"human"`` mode without pygame.
        """
        if not _checks.ready_to_render(self, self._state):
            return None
        frame = self._system.renderer()(self._state, self.params, self.last_action)
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            from .render import HumanWindow

            self._window = HumanWindow(self._system.title, frame.shape[1], frame.shape[0])
        self._window.show(frame, self.metadata["render_fps"])
        return None

    def close(self) -> None:
        """Close the ``human`` window, if one was opened."""
        if self._window is not None:
            self._window.close()
            self._window = None
        super().close()
