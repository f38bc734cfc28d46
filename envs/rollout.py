"""The differentiable rollout: a policy × a batch of initial states × T steps → tensors.

This is the API the BPTT trainer is built on, and a user can write their own trainer on it
in a few lines::

    import torch
    from diffsim.envs import rollout

    policy = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(policy.parameters(), lr=1e-3)
    for it in range(3):
        out = rollout(lambda obs: 2 * torch.tanh(policy(obs)), "pendulum", horizon=50,
                      batch_size=64, seed=it, truncate_every=25)
        loss = -out.rewards.sum(0).mean()
        opt.zero_grad(); loss.backward(); opt.step()

A :class:`Task` binds a registered :class:`~diffsim.systems.System` (its step, observation,
reward, termination and initial-state distribution) to the registered environment it
mirrors (a :class:`~diffsim.systems.TaskSpec`: time limit, thresholds, parameter variant);
:func:`get_task` accepts the id, a short name (``cartpole``, ``cartpole-continuous``,
``pendulum``, ``pendulum-2019``, or any registered later) or a :class:`Task`. Everything is
read from the registry of :mod:`diffsim.systems` when it is asked for, so a system a user
registers (``diffsim.systems.register_system``) rolls out like the built-in ones.

Actions: the policy maps observations ``[B, obs_dim]`` to *physical* actions ``[B]`` or
``[B, 1]``: CartPole's push in [−1, 1] (a discrete policy passes its output through a
straight-through estimator first, see :mod:`diffsim.controllers.estimators`), Pendulum's
torque in N·m. The physics clips them as the environment does.

Termination (``on_terminate``):

- ``"mask"`` (default): once an element terminates, its state is frozen and its later
  rewards are zero; ``alive[t]`` is 1 for every step taken while the episode ran (the
  terminating step included, as Gymnasium rewards it). Frozen states carry no gradient to
  later steps. This is the episode as the environment would run it.
- ``"continue"``: every element keeps simulating; ``terminated`` still reports the first
  termination, and rewards are not masked.
- ``"reset"``: a terminated element restarts from a fresh initial state (as a vector env's
  autoreset would); ``alive`` marks steps of the episode that started the rollout.

Gradient truncation: ``truncate_every=k`` detaches the state every k steps, so each
gradient path spans at most k steps (truncated BPTT).

Every simulated step of every element counts as a transition: ``out.transitions = T × B``.

Fast path: ``fast=True`` runs each step's physics, reward, termination and masking as one
compiled function (:mod:`diffsim.fast`); the policy stays eager. Results and gradients
equal the eager ones within the tolerance stated there (not bitwise); the first call
compiles (seconds).

Validation: both paths check the initial state and the parameters once, and each action's
shape and dtype; the steps themselves run unchecked (no per-step Python checks, no host
sync). Under :func:`diffsim.debug_checks` the eager path steps through the systems'
validating public ``step`` instead, which also checks every state and action for
non-finite values (how the BPTT trainer locates a NaN).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Optional, Union

import torch

from diffsim import systems
from diffsim._debug import checks_enabled
from diffsim._params import Params
from diffsim._validation import check_choice, check_param_shapes, check_state
from diffsim.integrators import Integrator, get_integrator
from diffsim.systems import System, TaskSpec

Policy = Callable[[torch.Tensor], torch.Tensor]
ON_TERMINATE = ("mask", "continue", "reset")


@dataclass(frozen=True)
class Task:
    """A control task on a registered :class:`~diffsim.systems.System`, mirroring one
    registered environment (:class:`~diffsim.systems.TaskSpec`).

    Built from the registry by :func:`get_task` (``Task.from_spec``); every figure comes from
    the system's description and the task's spec.

    Attributes:
        env_id: The registered Gymnasium id it mirrors.
        system: The :class:`~diffsim.systems.System` description (a physics module given
            here, as older code did, is replaced by its ``SYSTEM``).
        params: Its physical parameters (the system's defaults with the task's overrides).
        max_episode_steps: The environment's time limit (steps), or None for none.
        action_low, action_high: Bounds of the physical action (push or torque), from
            :attr:`System.action_bounds` (for a discrete task: its extreme actions).
        discrete: Whether the registered env's action space is ``Discrete``.
        reward_threshold: The registered threshold for "solved", or ``None``.
        solved_return: The evaluation mean return that counts as solved (the spec's, else its
            reward threshold), or ``None`` for a task without one.
        spec: The :class:`~diffsim.systems.TaskSpec` it was built from (None for a task
            built by hand).
        discrete_actions: The physical action of each discrete action index
            (:attr:`System.discrete_actions`) for a discrete task; empty for a continuous one.
    """

    env_id: str
    system: System
    params: Params
    max_episode_steps: Optional[int]
    action_low: float
    action_high: float
    discrete: bool
    reward_threshold: Optional[float]
    solved_return: Optional[float]
    spec: Optional[TaskSpec] = None
    discrete_actions: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.system, ModuleType) and isinstance(
            getattr(self.system, "SYSTEM", None), System
        ):
            object.__setattr__(self, "system", self.system.SYSTEM)
        if not isinstance(self.system, System):
            raise TypeError(
                f"Task {self.env_id!r}: system must be a diffsim.systems.System, "
                f"got {self.system!r}"
            )

    @classmethod
    def from_spec(cls, spec: TaskSpec) -> Task:
        """The task of a registered spec (its system loaded now).

        Raises:
            ValueError: when the spec's system is not a registered :class:`System` (a
                one-shot task such as the trebuchet).
        """
        if spec.system not in systems.system_names():
            raise ValueError(
                f"{spec.env_id} is not a rollout task: its system {spec.system!r} has no "
                "System description (a one-shot task, such as the trebuchet, has no "
                f"multi-step dynamics to roll out); rollout tasks: {', '.join(_rollout_ids())}"
            )
        system = systems.get_system(spec.system)
        params = systems.task_params(spec)
        if spec.discrete:
            if not system.discrete:
                raise ValueError(
                    f"{spec.env_id} is discrete but the {system.title} system has no "
                    "discrete actions (System.discrete_actions is empty)"
                )
            actions = tuple(float(a) for a in system.discrete_actions)
            low, high = min(actions), max(actions)
        else:
            actions = ()
            low, high = system.action_bounds(params)
        solved = spec.solved_return if spec.solved_return is not None else spec.reward_threshold
        return cls(
            spec.env_id,
            system,
            params,
            spec.max_episode_steps,
            float(low),
            float(high),
            spec.discrete,
            spec.reward_threshold,
            None if solved is None else float(solved),
            spec,
            actions,
        )

    @property
    def module(self) -> ModuleType:
        """The system's physics module (``diffsim.cartpole``), imported now; kept for code
        that used :attr:`system` as the module."""
        return importlib.import_module(self.system.module)

    @property
    def integrator(self) -> Integrator:
        """The system's default integrator."""
        return get_integrator(self.system.default_integrator)

    @property
    def state_size(self) -> int:
        return self.system.state_size

    @property
    def obs_size(self) -> int:
        return self.system.obs_size

    @property
    def dt(self) -> float:
        """Seconds per step under the task's parameters."""
        return self.system.dt(self.params)

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        """The environment's observation of ``state`` (as a tensor of the state's dtype)."""
        return self.system.observe(state)

    def reward(
        self, state: torch.Tensor, action: torch.Tensor, next_state: torch.Tensor
    ) -> torch.Tensor:
        """The environment's reward for one step, ``[B]``."""
        return self.system.reward(state, action, next_state, self.params)

    def terminated(self, state: torch.Tensor) -> torch.Tensor:
        """Boolean ``[B]``: the state ends the episode."""
        return self.system.terminated(state, self.params)

    def sample_initial(
        self,
        batch_size: int,
        generator: Optional[torch.Generator] = None,
        dtype: Optional[torch.dtype] = None,
        device: Union[str, torch.device, None] = None,
    ) -> torch.Tensor:
        """Initial states ``[batch_size, n]`` from the environment's reset distribution."""
        return self.system.sample_initial(
            batch_size, generator=generator, dtype=dtype, device=device
        )


_BUILT: dict[str, Task] = {}


def _rollout_ids() -> list[str]:
    """The ids of the registered tasks whose system has a :class:`System` description."""
    names = set(systems.system_names())
    return [i for i, s in systems.task_specs().items() if s.system in names]


def _task_of(env_id: str) -> Task:
    """The :class:`Task` of a registered rollout id, built once per spec."""
    spec = systems.task_specs()[env_id]
    task = _BUILT.get(env_id)
    if task is None or task.spec is not spec:
        task = _BUILT[env_id] = Task.from_spec(spec)
    return task


short_names = systems.short_names
gymnasium_twins = systems.gymnasium_twins


TASKS: Mapping[str, Task] = systems.RegistryView(_rollout_ids, _task_of)
"""Tasks with multi-step dynamics, by registered id: every registered task whose system has a
:class:`~diffsim.systems.System` (the trebuchet is a one-shot task). A read-only view of
:mod:`diffsim.systems`' registry: tasks registered later appear in it."""

SHORT_NAMES: Mapping[str, str] = systems.RegistryView.of(short_names)
"""Short names accepted by the command line and :func:`get_task`, with their ids (a view of
the registry: :attr:`TaskSpec.short_name`)."""

GYMNASIUM_TWINS: Mapping[str, str] = systems.RegistryView.of(gymnasium_twins)
"""Gymnasium's own ids that :func:`resolve_env_id` also accepts (the baselines' equivalence
check trains and evaluates on them), with the diffsim id each is equivalent to (whose
:class:`Task` gives the solved return): the registry's :attr:`TaskSpec.gymnasium_id`.
:func:`get_task` does not accept them: the rollout runs diffsim's physics only."""


def resolve_env_id(name: str) -> str:
    """Map a short name, a registered id of this project, or one of Gymnasium's ids in
    :data:`GYMNASIUM_TWINS` to the id.

    Raises:
        ValueError: for any other name (the message lists the valid ones).
    """
    names = short_names()
    if name in names:
        return names[name]
    check_choice("environment", name, [*names, *names.values(), *gymnasium_twins()])
    return name


def get_task(task: Union[str, Task]) -> Task:
    """The :class:`Task` for an id, a short name or a task.

    Raises:
        TypeError: for anything but a name or a Task.
        ValueError: for an unknown name (the message lists the valid ones), one of
            Gymnasium's ids, or a task without a :class:`~diffsim.systems.System` (the
            trebuchet).
    """
    if isinstance(task, Task):
        return task
    if not isinstance(task, str):
        raise TypeError(f"task must be a name, an id or a Task, got {type(task).__name__}")
    env_id = resolve_env_id(task)
    if env_id not in systems.task_specs():
        raise ValueError(
            f"{env_id} is Gymnasium's own environment; the rollout runs diffsim's physics: "
            f"use its twin {gymnasium_twins()[env_id]}"
        )
    return _task_of(env_id)


@dataclass
class Rollout:
    """The tensors of a rollout (T steps, batch B). Every tensor keeps its autograd graph.

    Attributes:
        states: ``[T+1, B, n]`` states, the initial one first.
        observations: ``[T, B, obs]`` observations the policy acted on.
        actions: ``[T, B]`` physical actions as the policy returned them (before clipping).
        rewards: ``[T, B]`` rewards (zero after termination under ``on_terminate="mask"``).
        terminated: ``[T, B]`` bool, True at the step whose next state terminated.
        alive: ``[T, B]`` float, 1 for steps taken inside the first episode.
        transitions: simulated steps, ``T × B``.
    """

    states: torch.Tensor
    observations: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    alive: torch.Tensor
    transitions: int

    @property
    def returns(self) -> torch.Tensor:
        """``[B]`` sum of the rewards of each element."""
        return self.rewards.sum(0)

    @property
    def episode_lengths(self) -> torch.Tensor:
        """``[B]`` steps taken inside the first episode."""
        return self.alive.sum(0)


def rollout(
    policy: Policy,
    task: Union[str, Task],
    initial_state: Optional[torch.Tensor] = None,
    horizon: Optional[int] = None,
    *,
    batch_size: Optional[int] = None,
    seed: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
    truncate_every: Optional[int] = None,
    on_terminate: str = "mask",
    dtype: torch.dtype = torch.float32,
    device: Union[str, torch.device, None] = None,
    params: Optional[Params] = None,
    stop_when_all_done: bool = False,
    fast: bool = False,
) -> Rollout:
    """Roll ``policy`` out on ``task`` for ``horizon`` steps, keeping gradients.

    Args:
        policy: Maps observations ``[B, obs]`` to physical actions ``[B]`` or ``[B, 1]``.
        task: A :class:`Task`, a registered id or a short name.
        initial_state: ``[B, n]`` initial states; drawn from the reset distribution when
            omitted (then ``batch_size`` is required).
        horizon: Steps to simulate (default: the task's time limit).
        batch_size: Number of initial states to draw when ``initial_state`` is omitted.
        seed, generator: Randomness of the initial states (and resets); a seed builds a
            fresh ``torch.Generator``. With neither, torch's default generator is used.
        truncate_every: Detach the state every this many steps (None: never).
        on_terminate: ``"mask"``, ``"continue"`` or ``"reset"`` (see the module docstring).
        dtype, device: Of drawn initial states (an explicit ``initial_state`` keeps its own).
        params: Physical parameters replacing the task's (e.g. tensors requiring grad);
            a tensor field's shape must broadcast to the batch ``[B]`` (``[B]`` or ``()``).
        stop_when_all_done: End the rollout early once every element has terminated
            (``on_terminate="mask"`` only). It reads ``alive`` on the host every 10 steps;
            the steps not simulated are not counted as transitions.
        fast: Run each step as one compiled function (see the module docstring).

    Returns:
        A :class:`Rollout`.
    """
    task = get_task(task)
    check_choice("on_terminate mode", on_terminate, ON_TERMINATE)
    params = task.params if params is None else params
    if not isinstance(params, type(task.params)):
        raise TypeError(
            f"params must be a {type(task.params).__name__} for {task.env_id}, "
            f"got {type(params).__name__}"
        )
    if horizon is None:
        if task.max_episode_steps is None:
            raise ValueError(f"{task.env_id} has no time limit: give the rollout a horizon")
        horizon = task.max_episode_steps
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive int, got {horizon!r}")
    if truncate_every is not None and (not isinstance(truncate_every, int) or truncate_every < 1):
        raise ValueError(f"truncate_every must be a positive int or None, got {truncate_every!r}")
    if generator is None and seed is not None:
        generator = torch.Generator(device=device or "cpu").manual_seed(seed)
    if initial_state is None:
        if batch_size is None or batch_size < 1:
            raise ValueError("give initial_state [B, n] or a positive batch_size")
        initial_state = task.sample_initial(batch_size, generator, dtype, device)
    if not isinstance(initial_state, torch.Tensor):
        raise TypeError(
            f"initial_state must be a torch.Tensor [B, {task.state_size}], "
            f"got {type(initial_state).__name__}"
        )
    state = check_state(initial_state, task.state_size, task.env_id)
    if state.ndim != 2:
        raise ValueError(
            f"initial_state must have shape [B, {task.state_size}], got {tuple(state.shape)}"
        )
    check_param_shapes(params, state.shape[:-1], task.env_id)
    if stop_when_all_done and on_terminate != "mask":
        raise ValueError("stop_when_all_done needs on_terminate='mask'")
    return _run(
        policy,
        task,
        params,
        state,
        horizon,
        generator,
        truncate_every,
        on_terminate,
        stop_when_all_done,
        fast,
    )


def _run(
    policy: Policy,
    task: Task,
    params: Params,
    state: torch.Tensor,
    horizon: int,
    generator: Optional[torch.Generator],
    truncate_every: Optional[int],
    on_terminate: str,
    stop_when_all_done: bool = False,
    fast: bool = False,
) -> Rollout:
    advance = functools.partial(
        _advance,
        system=task.system,
        params=params,
        integrator=task.integrator,
        on_terminate=on_terminate,
        # The boundary checks of every step only matter to find a non-finite value (the
        # initial state, the parameters and each action's shape and dtype are checked here);
        # under debug_checks the eager path steps through the checking public step.
        checked=not fast and checks_enabled(),
    )
    if fast:
        from diffsim import fast as fast_path

        key = fast_path.key_of("rollout", task.system, params, task.integrator, on_terminate)
        advance = fast_path.fast_function(key, advance, traceable=not params.tensors())
        state = fast_path.component_major(state)  # one layout, one compilation
    batch = state.shape[0]
    alive = torch.ones(batch, dtype=torch.bool, device=state.device)
    states, observations, actions, rewards, terms, alives = [state], [], [], [], [], []
    fresh = None
    for t in range(horizon):
        if truncate_every is not None and t > 0 and t % truncate_every == 0:
            state = state.detach()
        obs = task.observe(state)
        action = _as_action(policy(obs), batch, task, state.dtype)
        if on_terminate == "reset":
            fresh = task.sample_initial(batch, generator, state.dtype, state.device)
        alives.append(alive)
        next_state, reward, first, alive = advance(state, action, alive, fresh)
        states.append(next_state)
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
        terms.append(first)
        state = next_state
        if stop_when_all_done and (t + 1) % 10 == 0 and not bool(alive.any()):
            break
    return Rollout(
        states=torch.stack(states),
        observations=torch.stack(observations),
        actions=torch.stack(actions),
        rewards=torch.stack(rewards),
        terminated=torch.stack(terms),
        alive=torch.stack(alives).to(state.dtype),
        transitions=len(actions) * batch,
    )


def _advance(
    state: torch.Tensor,
    action: torch.Tensor,
    alive: torch.Tensor,
    fresh: Optional[torch.Tensor],
    *,
    system: System,
    params: Params,
    integrator: Any,
    on_terminate: str,
    checked: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of every element: ``(next_state, reward, first termination, alive after)``.

    ``alive`` (bool) is True while the element's first episode runs; ``fresh`` holds the new
    initial states for ``on_terminate="reset"`` (None otherwise). ``checked`` steps through the
    system's public (validating) ``step``; the compiled fast path uses the unchecked one.
    """
    step = system.step if checked else system.step_unchecked
    next_state = step(state, action, params, integrator)
    reward = system.reward(state, action, next_state, params)
    done = system.terminated(next_state, params)
    first = done & alive
    if on_terminate == "mask":
        reward = reward * alive
        next_state = torch.where(alive[:, None], next_state, state)
    elif on_terminate == "reset":
        next_state = torch.where(done[:, None], fresh, next_state)
    return next_state, reward, first, alive & ~done


def _as_action(action: Any, batch: int, task: Task, dtype: torch.dtype) -> torch.Tensor:
    if not isinstance(action, torch.Tensor):
        raise TypeError(f"the policy must return a torch.Tensor, got {type(action).__name__}")
    if action.ndim == 2 and action.shape[1] == 1:
        action = action[:, 0]
    if action.shape != (batch,):
        raise ValueError(
            f"the policy must return actions of shape [{batch}] or [{batch}, 1] for "
            f"{task.env_id}, got {tuple(action.shape)}"
        )
    if action.dtype != dtype:
        raise TypeError(
            f"the policy must return actions of the state's dtype {dtype} for "
            f"{task.env_id}, got {action.dtype}"
        )
    return action
