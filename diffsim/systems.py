"""One description per physical system, and the registry of systems and tasks by name.

A :class:`System` says everything the rest of the project needs to know about a system:
its state (names, units), its action (kind, bounds, units), its pure functions (``step``,
``reward``, ``terminated``, ``observe``, ``sample_initial``), its default parameters and
time step, Gymnasium's reset draw and constructor options, the differentiable training
loss where the reward has no useful gradient, and where its picture is drawn. Each physics
module builds its own (``diffsim.cartpole.SYSTEM``); the generic layers read it: the
Gymnasium adapters (:mod:`diffsim.envs.env`, :mod:`diffsim.envs.vector`), the
differentiable rollout (:mod:`diffsim.envs.rollout`), the compiled path
(:mod:`diffsim.fast`), the trainers, the plots, the animations and the bench.

A :class:`TaskSpec` is one registered environment on a system: its Gymnasium id, short
name, action kind (a system may offer a discrete and a continuous interface), time limit,
thresholds and parameter variant. :func:`register_system` records a system and its tasks
and registers the tasks' ids with Gymnasium.

This module imports only the standard library: ``import diffsim`` registers every id from
the tables here without importing torch or the physics; :func:`get_system` imports a
system's module on first use (Gymnasium's ``"module:attr"`` entry points work the same way).

Adding a system is one physics module that ends with ``SYSTEM = System(...)`` plus one
:func:`register_system` call (here for the built-in systems, anywhere for a user's own;
``docs/systems.md`` has a runnable example).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Optional, Union

ACTION_KINDS = ("continuous", "discrete")


def _no_limit(params: Any) -> Optional[float]:
    """The default :attr:`System.action_limit`: the physics clips the action itself."""
    return None


@dataclasses.dataclass(frozen=True)
class System:
    """The description of one physical system (see the module docstring).

    Array conventions are the physics modules' (``docs/architecture.md``): states ``[..., n]``
    in the order of :attr:`state_names`, actions ``[...]`` (physical units), torch tensors or
    NumPy arrays in, the same library out.

    Attributes:
        name: Registry name, lower case (``"cartpole"``).
        title: Display name (``"CartPole"``), used in messages, plots and tables.
        module: The physics module's import path (``"diffsim.cartpole"``): where the
            equations, their sources and the units are documented.
        state_names, state_units: One name and one SI unit per state entry.
        observation_names: One name per observation entry (:attr:`observe`'s output).
        params_type: The parameter container's class (a :class:`diffsim._params.Params`).
        default_params: The parameters of the reference environment.
        dt_field: The name of the time-step field of the parameters (``"tau"``, ``"dt"``).
        default_integrator: Name of the integrator the reference uses.
        action_unit: Unit of the physical action (``"push in [-1, 1]"``, ``"N·m"``).
        action_bounds: ``params -> (low, high)``: the range of the physical action a
            continuous action space spans (float).
        action_limit: ``params -> None or float``: None when the physics clips the action
            itself; else the largest |action| the envs accept (they refuse larger ones with
            ``ValueError`` so that no step overflows).
        discrete_actions: The physical action of each discrete action index (CartPole:
            ``(-1.0, 1.0)``); empty when the system has no discrete interface.
        step: The checked public step ``(state, action, params=None, integrator=...)``.
        step_unchecked: The same step without validation ``(state, action, params,
            integrator)``, what the envs and compiled paths call after checking once.
        reward: ``(state, action, next_state, params) -> [...]``, the reference's reward.
        terminated: ``(state, params) -> bool [...]``.
        observe: ``state -> observation [..., obs]`` (float64 on NumPy float64 states).
        observation_high: ``params -> sequence of float``: the upper bounds of the
            observation Box (``inf`` where unbounded).
        observation_low: ``params -> sequence of float``: its lower bounds; None for a
            symmetric Box (``-observation_high``).
        sample_initial: ``(batch_shape, *, generator, dtype, device) -> [*batch_shape, n]``,
            the reference's reset distribution for torch (or NumPy, with a NumPy generator).
        reset_state: ``(np_random, options) -> float64 [n]``: the reference single env's
            reset draw, options (Gymnasium's ``reset(options=...)``) parsed as it parses them;
            bitwise the same state for the same generator.
        reset_batch: ``(np_random, count, options) -> float64 [n, count]``: the draw of the
            reference's *vector* env for systems that have one (CartPole); None for systems
            without one, whose vector adapter seeds one generator per sub-env as Gymnasium's
            ``SyncVectorEnv`` does.
        reward_type: The type of the single env's reward (Gymnasium's CartPole: ``float``,
            Pendulum: ``numpy.float64``).
        vector_reward_dtype: The NumPy dtype name of the vector env's rewards (Gymnasium's
            ``CartPoleVectorEnv``: ``"float32"``; ``SyncVectorEnv``: ``"float64"``).
        env_options: Gymnasium's constructor options of the reference env, name → default
            (CartPole: ``sutton_barto_reward``, Pendulum: ``g``).
        apply_options: ``(params, options) -> params``: the parameters the options give
            (Pendulum's ``g``); None when no option changes them.
        env_reward: ``(state, action, next_state, terminated, params, options) -> reward``
            for options that change the reward (CartPole's ``sutton_barto_reward``); None to
            use :attr:`reward`.
        after_termination_reward: ``options -> float`` when the reference warns on steps
            taken after termination and pays this reward for them (Gymnasium's CartPole);
            None when it does not.
        training_loss: ``(states [T+1, B, n], alive [T, B], params) -> [B]`` torch loss to
            minimise where the reward has no useful gradient (CartPole's +1 per step); None
            where the return itself is differentiated.
        render: ``"module:function"`` drawing one frame, ``(state float64 [n], params,
            last_action or None) -> uint8 [H, W, 3]`` (imported on first render); None when
            the system is not drawn.
        render_fps: Frames per second of ``human`` rendering and animations.
        env_attributes: Gymnasium's public attribute names of the reference env → the
            parameter attribute each reads (CartPole: ``{"theta_threshold_radians":
            "theta_threshold", "total_mass": "total_mass", ...}``): the envs offer them as
            read-only views onto their parameters (a derived value, such as a property of the
            parameters, is named like a field).
        integrator_attribute: The name under which the reference env exposes its integrator's
            name (CartPole: ``"kinematics_integrator"``), or None.
        env_action_dtype: The NumPy dtype in which the envs hand a continuous action to the
            physics: ``"float32"``, the action space's (Gymnasium's Pendulum forms its torque
            term in float32 from it), or ``"float64"`` (the float32 value, exactly).
        state_bounds: ``params -> ((low, high, periodic), ...)``, one triple per state
            coordinate: the interval the dynamics keep it in (a clip, a wall) or, with
            ``periodic`` True, its period (an angle, ``(-π, π, True)``); None where some
            coordinate is unbounded. What a grid over the state space needs
            (:mod:`diffsim.controllers.optimum`'s dynamic programming).
        state_from_observation: ``observations [..., obs] -> states [..., state]``, the
            inverse of :attr:`observe` (Pendulum: ``(cos θ, sin θ, θ̇) → (θ, θ̇)``, θ in
            (−π, π]); None when the observation is the state.
    """

    name: str
    title: str
    module: str
    state_names: tuple[str, ...]
    state_units: tuple[str, ...]
    observation_names: tuple[str, ...]
    params_type: type
    default_params: Any
    dt_field: str
    default_integrator: str
    action_unit: str
    action_bounds: Callable[[Any], tuple[float, float]]
    step: Callable[..., Any]
    step_unchecked: Callable[..., Any]
    reward: Callable[..., Any]
    terminated: Callable[..., Any]
    observe: Callable[[Any], Any]
    observation_high: Callable[[Any], Sequence[float]]
    sample_initial: Callable[..., Any]
    reset_state: Callable[[Any, Optional[Mapping[str, Any]]], Any]
    action_limit: Callable[[Any], Optional[float]] = dataclasses.field(
        default_factory=lambda: _no_limit
    )
    discrete_actions: tuple[float, ...] = ()
    reset_batch: Optional[Callable[[Any, int, Optional[Mapping[str, Any]]], Any]] = None
    reward_type: type = float
    vector_reward_dtype: str = "float64"
    env_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    apply_options: Optional[Callable[[Any, Mapping[str, Any]], Any]] = None
    env_reward: Optional[Callable[..., Any]] = None
    after_termination_reward: Optional[Callable[[Mapping[str, Any]], float]] = None
    training_loss: Optional[Callable[..., Any]] = None
    observation_low: Optional[Callable[[Any], Sequence[float]]] = None
    render: Optional[str] = None
    render_fps: int = 30
    env_attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    integrator_attribute: Optional[str] = None
    env_action_dtype: str = "float32"
    state_bounds: Optional[Callable[[Any], Sequence[tuple[float, float, bool]]]] = None
    state_from_observation: Optional[Callable[[Any], Any]] = None

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.lower() or " " in self.name:
            raise ValueError(f"System.name must be a lower-case word, got {self.name!r}")
        if len(self.state_names) != len(self.state_units):
            raise ValueError(
                f"System {self.name!r}: {len(self.state_names)} state names but "
                f"{len(self.state_units)} units"
            )
        if not isinstance(self.default_params, self.params_type):
            raise TypeError(
                f"System {self.name!r}: default_params must be a {self.params_type.__name__}, "
                f"got {type(self.default_params).__name__}"
            )
        if not hasattr(self.default_params, self.dt_field):
            raise ValueError(
                f"System {self.name!r}: the parameters have no time-step field {self.dt_field!r}"
            )
        if self.env_action_dtype not in ("float32", "float64"):
            raise ValueError(
                f"System {self.name!r}: env_action_dtype must be 'float32' or 'float64', "
                f"got {self.env_action_dtype!r}"
            )
        if self.render is not None and ":" not in self.render:
            raise ValueError(
                f"System {self.name!r}: render must be 'module:function', got {self.render!r}"
            )

    @property
    def state_size(self) -> int:
        """Number of state entries ``n``."""
        return len(self.state_names)

    @property
    def obs_size(self) -> int:
        """Number of observation entries."""
        return len(self.observation_names)

    @property
    def discrete(self) -> bool:
        """Whether the system offers a discrete action interface."""
        return bool(self.discrete_actions)

    def dt(self, params: Any = None) -> float:
        """Seconds per step under ``params`` (the defaults if None)."""
        params = self.default_params if params is None else params
        return float(getattr(params, self.dt_field))

    def renderer(self) -> Callable[..., Any]:
        """The frame-drawing function named by :attr:`render` (imported now).

        Raises:
            ValueError: when the system has no renderer.
        """
        if self.render is None:
            raise ValueError(f"the {self.title} system has no renderer (System.render is None)")
        return load(self.render)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One registered environment over a system.

    Attributes:
        env_id: The Gymnasium id (``"diffsim/CartPole-v1"``).
        system: The registry name of its system (``"cartpole"``).
        short_name: The command line's name (``"cartpole"``).
        action: ``"discrete"`` (``Discrete(len(system.discrete_actions))``) or
            ``"continuous"`` (a float32 Box over :attr:`System.action_bounds`).
        max_episode_steps: The time limit, or None for none.
        reward_threshold: Gymnasium's registered threshold, or None.
        solved_return: The evaluation mean return that counts as solved.
        stop_margin_se: How far above :attr:`solved_return` an evaluation's mean return must
            be for training to stop there, in standard errors of that mean
            (``std / sqrt(episodes - 1)`` over the evaluation's episodes): 0 stops at the
            first evaluation that reaches it; 2 (the classic-control tasks added with
            Acrobot) stops only at one that passes it by two standard errors, so that a
            policy that scraped past the threshold on one set of starts is trained on.
            "Solved at" (the comparisons' figure) is still the first evaluation at or above
            the solved return.
        param_overrides: Fields replaced in the system's default parameters
            (``diffsim/Pendulum2019-v1``: the 2019 post's update rule).
        gymnasium_id: Gymnasium's own id of the same task, if any (``"CartPole-v1"``): the
            baselines' equivalence check runs on it, the RL Zoo's tuned entries are keyed by
            it, and the parity tests compare against it.
        entry_point, vector_entry_point: Gymnasium entry points; None for the generic
            adapters (a one-shot task such as the trebuchet names its own).
        description: One line for ``--help`` and docs.
        tuned: The tuned configuration of each training method that has one for this task:
            method name (``"bptt"``, ``"shac"``) → fields of that method's configuration
            (:class:`~diffsim.controllers.bptt.BPTTConfig`, ...). ``diffsim train ENV
            --method M`` with no options uses it (the method's ``default_config``); a method
            without an entry derives its settings from the system description.
        budgets: Default training transitions per method (``diffsim train`` without
            ``--budget``); a method without an entry uses its generic default.
        default_method: The method ``diffsim train`` uses on this task without
            ``--method`` (the one that solves it in the published comparisons); None: the
            command line's generic default.
        twin_default_method: The same for :attr:`gymnasium_id` (the baselines' default on
            Gymnasium's own id); None: the generic default of a Gymnasium twin.
    """

    env_id: str
    system: str
    short_name: str
    action: str = "continuous"
    max_episode_steps: Optional[int] = None
    reward_threshold: Optional[float] = None
    solved_return: Optional[float] = None
    stop_margin_se: float = 0.0
    param_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    gymnasium_id: Optional[str] = None
    entry_point: Optional[str] = None
    vector_entry_point: Optional[str] = None
    description: str = ""
    tuned: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    budgets: Mapping[str, int] = dataclasses.field(default_factory=dict)
    default_method: Optional[str] = None
    twin_default_method: Optional[str] = None

    def __post_init__(self) -> None:
        for method, settings in self.tuned.items():
            if not isinstance(settings, Mapping):
                raise ValueError(
                    f"TaskSpec {self.env_id!r}: tuned[{method!r}] must be a mapping of "
                    f"configuration fields, got {type(settings).__name__}"
                )
        for method, budget in self.budgets.items():
            if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
                raise ValueError(
                    f"TaskSpec {self.env_id!r}: budgets[{method!r}] must be a positive int "
                    f"(training transitions), got {budget!r}"
                )
        if not (isinstance(self.stop_margin_se, (int, float)) and self.stop_margin_se >= 0):
            raise ValueError(
                f"TaskSpec {self.env_id!r}: stop_margin_se must be a number >= 0 (standard "
                f"errors), got {self.stop_margin_se!r}"
            )
        if self.action not in ACTION_KINDS:
            raise ValueError(
                f"TaskSpec {self.env_id!r}: action must be one of {ACTION_KINDS}, "
                f"got {self.action!r}"
            )
        if self.max_episode_steps is not None and (
            not isinstance(self.max_episode_steps, int) or self.max_episode_steps < 1
        ):
            raise ValueError(
                f"TaskSpec {self.env_id!r}: max_episode_steps must be a positive int or None, "
                f"got {self.max_episode_steps!r}"
            )

    @property
    def discrete(self) -> bool:
        return self.action == "discrete"

    @property
    def generic(self) -> bool:
        """Whether the generic adapters serve this task (no entry point of its own)."""
        return self.entry_point is None


GENERIC_ENTRY_POINT = "diffsim.envs.env:SystemEnv"
GENERIC_VECTOR_ENTRY_POINT = "diffsim.envs.vector:SystemVectorEnv"

_SYSTEMS: dict[str, Union[str, System]] = {}
_TASKS: dict[str, TaskSpec] = {}
_listeners: list[Callable[[TaskSpec], None]] = []


def load(entry: str) -> Any:
    """Import ``"module:attr"`` (``attr`` may be dotted) and return the attribute."""
    module, _, attr = entry.partition(":")
    value: Any = importlib.import_module(module)
    for part in attr.split("."):
        value = getattr(value, part)
    return value


def option_number(
    options: Optional[Mapping[str, Any]], key: str, default: float, what: str = "reset option"
) -> float:
    """A number among Gymnasium's ``reset(options=...)`` (``default`` when absent), as a float.

    ``what`` names the kind of option in the message (``"option"`` for a constructor's).

    Raises:
        ValueError: for a value that is not a real number, or not finite.
    """
    if not options or key not in options:
        return float(default)
    value = options[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        and not hasattr(value, "__float__")
    ):
        raise ValueError(f"{what} {key!r} must be a real number, got {value!r}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{what} {key!r} must be finite, got {value!r}")
    return number


def register_system(name: str, system: Union[str, System], tasks: Sequence[TaskSpec] = ()) -> None:
    """Record a system under ``name`` and its tasks (ids registered with Gymnasium too).

    Args:
        name: The registry name (lower case); must equal the loaded system's ``name``.
        system: A :class:`System`, or ``"module:attr"`` naming one (imported on first
            :func:`get_system`, so that registering imports nothing).
        tasks: Its environments; each id and short name must be new.

    Raises:
        TypeError: for a ``system`` that is neither.
        ValueError: for a name, id or short name already registered to something else (the
            registry is unchanged).
    """
    if not isinstance(system, (str, System)):
        raise TypeError(f"system must be a System or 'module:attr', got {type(system).__name__}")
    if isinstance(system, System) and system.name != name:
        raise ValueError(f"register_system({name!r}, ...): the System is named {system.name!r}")
    if isinstance(system, str) and ":" not in system:
        raise ValueError(f"system must be 'module:attr', got {system!r}")
    previous = _SYSTEMS.get(name)
    if previous is not None and previous is not system and previous != system:
        raise ValueError(f"a system named {name!r} is already registered ({previous!r})")
    for task in tasks:
        if not isinstance(task, TaskSpec):
            raise TypeError(f"tasks must be TaskSpec records, got {type(task).__name__}")
        if task.system != name:
            raise ValueError(f"task {task.env_id!r} names system {task.system!r}, not {name!r}")
        _check_new(task)
    _SYSTEMS[name] = system
    for task in tasks:
        _TASKS[task.env_id] = task
        for listener in _listeners:
            listener(task)


def register_task(task: TaskSpec) -> None:
    """Record a task with entry points of its own (a one-shot task such as the trebuchet,
    which has no :class:`System`), or one more task of a registered system.

    Raises:
        ValueError: for an id or short name already registered to another task, or a task
            of an unregistered system without its own entry point.
    """
    if task.system in _SYSTEMS:
        register_system(task.system, _SYSTEMS[task.system], [task])
        return
    if task.entry_point is None:
        raise ValueError(
            f"task {task.env_id!r}: register its system {task.system!r} first "
            "(register_system), or give the task its own entry_point"
        )
    _check_new(task)
    _TASKS[task.env_id] = task
    for listener in _listeners:
        listener(task)


def _check_new(task: TaskSpec) -> None:
    if task.env_id in _TASKS and _TASKS[task.env_id] != task:
        raise ValueError(f"the id {task.env_id!r} is already registered")
    for other in _TASKS.values():
        if other.short_name == task.short_name and other.env_id != task.env_id:
            raise ValueError(f"the short name {task.short_name!r} already names {other.env_id!r}")


def on_register(listener: Callable[[TaskSpec], None]) -> None:
    """Call ``listener(task)`` for every task registered from now on (how
    :mod:`diffsim.envs.registration` registers later tasks with Gymnasium)."""
    _listeners.append(listener)


def system_names() -> list[str]:
    """The registered system names, in registration order."""
    return list(_SYSTEMS)


def get_system(name: Union[str, System]) -> System:
    """The :class:`System` registered as ``name`` (a System is returned as it is).

    Raises:
        TypeError: for anything but a name or a System.
        ValueError: for an unknown name (the message lists the registered ones), or an entry
            that does not load a System of that name.
    """
    if isinstance(name, System):
        return name
    if not isinstance(name, str):
        raise TypeError(f"system must be a name or a System, got {type(name).__name__}")
    if name not in _SYSTEMS:
        raise ValueError(f"unknown system {name!r}; expected one of: {', '.join(_SYSTEMS)}")
    entry = _SYSTEMS[name]
    if isinstance(entry, str):
        loaded = load(entry)
        if not isinstance(loaded, System) or loaded.name != name:
            raise ValueError(f"{entry!r} does not give a System named {name!r}: {loaded!r}")
        _SYSTEMS[name] = entry = loaded
    return entry


def task_specs() -> dict[str, TaskSpec]:
    """Every registered task, by Gymnasium id (a copy)."""
    return dict(_TASKS)


def get_task_spec(name: str) -> TaskSpec:
    """The :class:`TaskSpec` of a Gymnasium id or a short name.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).
    """
    if name in _TASKS:
        return _TASKS[name]
    for task in _TASKS.values():
        if task.short_name == name:
            return task
    valid = [t.short_name for t in _TASKS.values()] + list(_TASKS)
    raise ValueError(f"unknown task {name!r}; expected one of: {', '.join(valid)}")


def short_names() -> dict[str, str]:
    """Short name → id of every registered task (the trebuchet's included)."""
    return {t.short_name: t.env_id for t in _TASKS.values()}


def gymnasium_twins() -> dict[str, str]:
    """Gymnasium's own id → the registered task equivalent to it (:attr:`TaskSpec.gymnasium_id`)."""
    return {t.gymnasium_id: t.env_id for t in _TASKS.values() if t.gymnasium_id}


class RegistryView(Mapping):
    """A read-only mapping computed from the registry on every access, so that systems and
    tasks registered later appear in it (``diffsim.envs.rollout.TASKS``, the command line's
    name tables).

    Args:
        keys: Returns the current keys, in order.
        value: Returns the value of a current key.
    """

    def __init__(self, keys: Callable[[], Sequence[str]], value: Callable[[str], Any]):
        self._keys = keys
        self._value = value

    @classmethod
    def of(cls, table: Callable[[], Mapping[str, Any]]) -> RegistryView:
        """The view of a table recomputed on every access."""
        return cls(lambda: list(table()), lambda key: table()[key])

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return self._value(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __repr__(self) -> str:
        return repr(dict(self))


def tuned_configs(method: str) -> RegistryView:
    """Task id → the :attr:`TaskSpec.tuned` settings of ``method`` (a training method's name,
    ``"bptt"``), for every registered task that has them: a view of the registry, so that
    tasks registered later appear in it."""
    return RegistryView.of(
        lambda: {t.env_id: t.tuned[method] for t in _TASKS.values() if method in t.tuned}
    )


def tuned_budgets(method: str) -> RegistryView:
    """Task id → the :attr:`TaskSpec.budgets` entry of ``method``, for every registered task
    that has one (a view of the registry, as :func:`tuned_configs`)."""
    return RegistryView.of(
        lambda: {t.env_id: t.budgets[method] for t in _TASKS.values() if method in t.budgets}
    )


def task_params(task: TaskSpec) -> Any:
    """The parameters of a task: its system's defaults with :attr:`TaskSpec.param_overrides`."""
    system = get_system(task.system)
    if not task.param_overrides:
        return system.default_params
    return dataclasses.replace(system.default_params, **dict(task.param_overrides))


# -- the built-in systems: one registration each ------------------------------------------
#
# Each task's entry holds its tuned training settings (``tuned``, ``budgets``); the results
# behind them are in docs/benchmarks.md.

# BPTT on CartPole: three starts per update, no mirrored pairs (the linear policy without
# bias is odd and CartPole is symmetric, so a mirrored pair would give the same gradient
# twice for twice the transitions). With normalized SGD the step length lr only sets how
# sharp the relaxed action is (the direction's change per step shrinks as the weights grow).
_BPTT_CARTPOLE: dict[str, Any] = dict(
    horizon=500,
    batch_size=3,
    lr=1.0,
    loss="balance",
    grad_clip=None,
    mirror_starts=False,
    optimizer="normalized_sgd",
    policy=dict(kind="linear", head="binary", estimator="expected", init_scale=0.0, bias=False),
)
# SHAC on the pendulums: short-window BPTT from wide fresh starts (θ̇ ~ U(−4, 4) rad/s), no
# critic: the study in docs/pendulum_research.md. Both pendulum tasks share it.
_SHAC_PENDULUM: dict[str, Any] = dict(start_options={"max_speed": 4.0})

register_system(
    "cartpole",
    "diffsim.cartpole:SYSTEM",
    tasks=[
        TaskSpec(
            "diffsim/CartPole-v1",
            "cartpole",
            "cartpole",
            action="discrete",
            max_episode_steps=500,
            reward_threshold=475.0,
            solved_return=475.0,
            gymnasium_id="CartPole-v1",
            description="Gymnasium's CartPole-v1: push left or right (Discrete(2))",
            default_method="bptt",
            twin_default_method="ppo",
            tuned={"bptt": _BPTT_CARTPOLE},
            budgets={"bptt": 20_000},
        ),
        TaskSpec(
            "diffsim/CartPoleContinuous-v1",
            "cartpole",
            "cartpole-continuous",
            max_episode_steps=500,
            reward_threshold=475.0,
            solved_return=475.0,
            description="CartPole with a continuous push in [-1, 1] (Box(-1, 1, (1,)))",
            default_method="bptt",
            tuned={
                # The continuous push needs its gain to grow, not only its direction: Adam,
                # not normalized SGD (which keeps the step length fixed).
                "bptt": {
                    **_BPTT_CARTPOLE,
                    "batch_size": 1,
                    "lr": 0.1,
                    "optimizer": "adam",
                    "policy": dict(kind="linear", head="tanh", init_scale=0.0, bias=False),
                },
                "shac": dict(fresh_starts=False, use_critic=True, num_envs=32, horizon=32),
            },
            budgets={"bptt": 20_000, "shac": 200_000},
        ),
    ],
)
register_system(
    "pendulum",
    "diffsim.pendulum:SYSTEM",
    tasks=[
        TaskSpec(
            "diffsim/Pendulum-v1",
            "pendulum",
            "pendulum",
            max_episode_steps=200,
            solved_return=-200.0,
            gymnasium_id="Pendulum-v1",
            description="Gymnasium's Pendulum-v1: swing up with a torque clipped to ±2 N·m",
            default_method="shac",
            twin_default_method="sac",
            tuned={
                # Full-horizon BPTT: the plain baseline. It does not solve the torque-limited
                # task (it stalls near -1,000); the short-window method shac does.
                "bptt": dict(
                    horizon=200,
                    batch_size=16,
                    lr=3e-3,
                    loss="return",
                    grad_clip=1.0,
                    policy=dict(kind="mlp", hidden=(32, 32), head="tanh", action_scale=2.0),
                ),
                "shac": _SHAC_PENDULUM,
            },
            budgets={"bptt": 100_000, "shac": 200_000},
        ),
        TaskSpec(
            "diffsim/Pendulum2019-v1",
            "pendulum",
            "pendulum-2019",
            max_episode_steps=200,
            solved_return=-200.0,
            param_overrides={"clip_torque": False, "position_uses_clipped_speed": False},
            description="the 2019 post's Gym.jl pendulum: the torque is never clipped",
            default_method="bptt",
            tuned={
                # The post's pendulum never clips the torque, and its policy was unbounded:
                # so is this one (a linear head). Short 50-step windows from 4 reset starts
                # per update.
                "bptt": dict(
                    horizon=50,
                    batch_size=4,
                    lr=0.03,
                    loss="return",
                    grad_clip=1.0,
                    policy=dict(kind="mlp", hidden=(32, 32), head="linear", action_scale=2.0),
                ),
                "shac": _SHAC_PENDULUM,
            },
            budgets={"bptt": 20_000, "shac": 200_000},
        ),
    ],
)
register_task(
    TaskSpec(
        "diffsim/Trebuchet-v0",
        "trebuchet",
        "trebuchet",
        entry_point="diffsim.envs.trebuchet_env:TrebuchetEnv",
        vector_entry_point="diffsim.envs.vector:TrebuchetVectorEnv",
        description="the 2019 post's trebuchet: one shot (release angle, weight) at a target",
        default_method="bptt",
    )
)
register_system(
    "acrobot",
    "diffsim.acrobot:SYSTEM",
    tasks=[
        TaskSpec(
            "diffsim/Acrobot-v1",
            "acrobot",
            "acrobot",
            action="discrete",
            max_episode_steps=500,
            reward_threshold=-100.0,
            solved_return=-100.0,
            stop_margin_se=2.0,
            gymnasium_id="Acrobot-v1",
            description="Gymnasium's Acrobot-v1: swing the tip above the bar (torque -1/0/+1)",
            default_method="bptt",
            twin_default_method="ppo",
            tuned={
                # 50-step truncation windows (the double pendulum is chaotic: gradients
                # through whole episodes explode), on the system's blend of the tip's depth
                # and the energy the links lack; a categorical head over the three torques.
                # With 16 starts, the rollout before each evaluation 1000 transitions apart
                # is cut to 62 steps.
                "bptt": dict(
                    horizon=500,
                    batch_size=16,
                    truncate_every=50,
                    lr=3e-3,
                    loss="balance",
                    grad_clip=1.0,
                    policy=dict(
                        kind="mlp", hidden=(64, 64), head="categorical", actions=(-1.0, 0.0, 1.0)
                    ),
                ),
            },
            budgets={"bptt": 200_000},
        )
    ],
)
register_system(
    "mountaincar",
    "diffsim.mountain_car:SYSTEM",
    tasks=[
        TaskSpec(
            "diffsim/MountainCar-v0",
            "mountaincar",
            "mountaincar",
            action="discrete",
            max_episode_steps=200,
            reward_threshold=-110.0,
            solved_return=-110.0,
            stop_margin_se=2.0,
            gymnasium_id="MountainCar-v0",
            description="Gymnasium's MountainCar-v0: drive up the right hill (push -1/0/+1)",
            default_method="bptt",
            twin_default_method="dqn",
            tuned={
                # The time loss (the energy deficit until the car reaches the goal, then the
                # arrival time): a binary push (the fastest policies are bang-bang) with hard
                # straight-through actions, and observations fed without their gradient, so
                # that each push gets the costate's gradient of its own effect; the velocity
                # divided by about one step of gravity's pull so that the first layer sees
                # its sign. Four starts per update, so that a 200-step rollout fits between
                # two evaluations 1000 transitions apart (a shortened rollout does not reach
                # the flag, and only the deficit trains).
                "bptt": dict(
                    horizon=200,
                    batch_size=4,
                    lr=3e-3,
                    loss="balance",
                    grad_clip=1.0,
                    detach_observations=True,
                    policy=dict(
                        kind="mlp",
                        hidden=(32, 32),
                        head="binary",
                        action_scale=1.0,
                        estimator="st_sign",
                        obs_scale=(1.0, 0.003),
                    ),
                ),
            },
            budgets={"bptt": 2_000_000},
        )
    ],
)
register_system(
    "mountaincar-continuous",
    "diffsim.continuous_mountain_car:SYSTEM",
    tasks=[
        TaskSpec(
            "diffsim/MountainCarContinuous-v0",
            "mountaincar-continuous",
            "mountaincar-continuous",
            max_episode_steps=999,
            reward_threshold=90.0,
            solved_return=90.0,
            stop_margin_se=2.0,
            gymnasium_id="MountainCarContinuous-v0",
            description="Gymnasium's MountainCarContinuous-v0: reach the flag with a force "
            "in [-1, 1] (Box(-1, 1, (1,)))",
            default_method="bptt",
            twin_default_method="sac",
            tuned={
                # The goal loss (the energy its best moment lacked while the car does not
                # reach the goal) and the action cost (loss "shaped": the return), 300-step
                # rollouts never cut at an evaluation (a cut one is too short for a gentle
                # policy to reach the goal), the learning rate halved every 15 updates (near
                # the optimum, next to the cliff where every episode fails, Adam's steps of a
                # constant size cross it); observations divided by their bounds, so that the
                # velocity (|v| <= 0.07) is seen.
                "bptt": dict(
                    horizon=300,
                    batch_size=8,
                    lr=0.01,
                    lr_half_life=15,
                    loss="shaped",
                    grad_clip=1.0,
                    whole_rollouts=True,
                    policy=dict(kind="mlp", hidden=(64, 64), head="tanh", obs_scale=(1.2, 0.07)),
                ),
            },
            budgets={"bptt": 100_000},
        )
    ],
)
