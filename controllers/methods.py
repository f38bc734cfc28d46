"""The registry of training methods: names and ``"module:attr"`` entry points, no imports.

A :class:`Method` says where a method's pieces live (its trainer class, config class,
default config and default budget, as Gymnasium's ``register(id, entry_point=...)`` says
where an env lives), which registered tasks it trains (:class:`Tasks`, read from the task
specs of :mod:`diffsim.systems`), whether it also takes Gymnasium's own ids, and which
policy kind its ``policy.pt`` holds. Nothing is imported until it is used: this module
imports only the standard library and :mod:`diffsim.systems`, so the command line's help,
``diffsim.controllers._names`` and :func:`diffsim.controllers.load_policy` read it without
importing any method, and no method module imports back into it.

A name may have more than one entry: ``bptt`` is backpropagation through the rollout on
the tasks with multi-step dynamics, and the aiming network of
:mod:`diffsim.controllers.aiming` on the one-shot trebuchet. :func:`get_method` picks the
entry that trains the task and raises for a task none of them trains.

A user's own method is one :func:`register_method` call; its trainer follows
:class:`diffsim.controllers.trainer.Trainer`. Entries may be ``"module:attr"`` strings
(loaded on first use) or the objects themselves::

    from diffsim.controllers import methods, train

    methods.register_method(
        methods.Method(
            "mine",
            config_path="my_package.training:MyConfig",
            trainer_path="my_package.training:MyTrainer",  # (env_id, config, seed, device)
            default_config_path="my_package.training:default_config",  # (env_id) -> MyConfig
            default_budget_path="my_package.training:default_budget",  # (env_id) -> int
            tasks=methods.Tasks(action="continuous"),
            description="my method",
        )
    )
    train("pendulum", method="mine")

A policy kind other than :data:`CONTROL_POLICY` names its loader
(``loader_path="module:attr"``, called as ``loader(path, data) -> agent`` with ``policy.pt``'s
contents); :func:`policy_loader` finds it for :func:`~diffsim.controllers.load_policy`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

from diffsim import systems
from diffsim._choice import check_choice

EntryPoint = Union[str, Callable[..., Any]]
"""A ``"module:attr"`` string (``attr`` may be dotted), loaded on first use, or the object."""

ACTIONS = ("any", "continuous", "discrete")
CONTROL_POLICY = "control_policy"
"""The policy kind of a :class:`~diffsim.controllers.policies.ControlPolicy`."""

_CONTROLLERS = "diffsim.controllers"


def resolve(entry: EntryPoint) -> Any:
    """The object an entry point names (a string is imported now; an object is returned).

    Raises:
        ImportError, AttributeError: the string names no importable module or attribute.
    """
    if isinstance(entry, str):
        if ":" not in entry:
            raise ValueError(f"entry point {entry!r} must be 'module:attr'")
        return systems.load(entry)
    return entry


@dataclass(frozen=True)
class Tasks:
    """Which registered tasks a method trains, read from :func:`diffsim.systems.task_specs`.

    A task is trained when it passes every condition given.

    Attributes:
        action: ``"continuous"``, ``"discrete"`` or ``"any"``: the task's
            :attr:`~diffsim.systems.TaskSpec.action`.
        rollout: ``True``: tasks whose system has a :class:`~diffsim.systems.System`
            description (multi-step dynamics, :data:`diffsim.envs.rollout.TASKS`);
            ``False``: one-shot tasks without one (the trebuchet); ``None``: either.
        ids: Only these task ids (``None``: no restriction by id).
    """

    action: str = "any"
    rollout: Optional[bool] = True
    ids: Optional[tuple[str, ...]] = None

    def __post_init__(self) -> None:
        check_choice("Tasks action", self.action, ACTIONS)
        if self.ids is not None:
            object.__setattr__(self, "ids", tuple(self.ids))

    def accepts(self, spec: systems.TaskSpec) -> bool:
        """Whether the task ``spec`` passes every condition."""
        if self.ids is not None and spec.env_id not in self.ids:
            return False
        if self.action != "any" and spec.action != self.action:
            return False
        if self.rollout is not None and (spec.system in systems.system_names()) != self.rollout:
            return False
        return True

    def env_ids(self) -> list[str]:
        """The registered task ids it accepts now, in registration order."""
        return [env_id for env_id, spec in systems.task_specs().items() if self.accepts(spec)]

    def describe(self) -> str:
        """The condition in words (``"continuous-action tasks with multi-step dynamics"``)."""
        what = "tasks" if self.action == "any" else f"{self.action}-action tasks"
        if self.rollout is True:
            what += " with multi-step dynamics"
        elif self.rollout is False:
            what = "one-shot " + what
        return what


@dataclass(frozen=True)
class Method:
    """One training method: where its pieces live and what it trains.

    Attributes:
        name: The method's name (``train(..., method=name)``, ``diffsim train --method``).
        config_path: Its config class (a dataclass; ``--set`` overrides its fields).
        trainer_path: Its trainer class, called as ``trainer(env_id, config, seed,
            device)``; it follows :class:`diffsim.controllers.trainer.Trainer`.
        default_config_path: ``(env_id) -> config``, the tuned configuration of a task.
        default_budget_path: ``(env_id) -> int``, training transitions when no budget is
            given.
        gymnasium_ids: Whether it also trains on Gymnasium's own ids of the registered
            tasks' twins (``CartPole-v1``; the SB3 baselines' equivalence check).
        tasks: The registered tasks it trains.
        policy_kind: The ``kind`` its ``policy.pt`` holds.
        loader_path: ``(path, data) -> agent``, the loader of ``policy_kind`` (``None``: the
            kind's loader is registered already, e.g. :data:`CONTROL_POLICY`'s).
        has_config_path: ``(env_id) -> bool``, whether ``default_config_path`` has a
            configuration of the task; a task among ``tasks`` it says no to is not trained
            (the SB3 methods: the tasks the RL Baselines3 Zoo tunes). ``None``: every task.

    Each ``*_path`` is an :data:`EntryPoint`: a ``"module:attr"`` string, imported on first
    use, or the object itself.
        stops_when_solved: ``False`` for a method whose objective is not the task's (it
            never stops at the task's solved return).
        description: One line for ``--help``.
    """

    name: str
    config_path: EntryPoint
    trainer_path: EntryPoint
    default_config_path: EntryPoint
    default_budget_path: EntryPoint
    gymnasium_ids: bool = False
    tasks: Tasks = Tasks(rollout=None)
    policy_kind: str = CONTROL_POLICY
    loader_path: Optional[EntryPoint] = None
    stops_when_solved: bool = True
    description: str = ""
    has_config_path: Optional[EntryPoint] = None

    @property
    def config_class(self) -> type:
        """The config class (imported now)."""
        return resolve(self.config_path)

    @property
    def trainer_class(self) -> type:
        """The trainer class (imported now)."""
        return resolve(self.trainer_path)

    def default_config(self, env_id: str) -> Any:
        """The tuned configuration of ``env_id`` (``default_config_path`` imported and called)."""
        return resolve(self.default_config_path)(env_id)

    def default_budget(self, env_id: str) -> int:
        """The default budget (transitions) of ``env_id``."""
        return int(resolve(self.default_budget_path)(env_id))

    def accepts(self, env_id: str) -> bool:
        """Whether it trains ``env_id`` (a registered id, or a Gymnasium twin's id when
        :attr:`gymnasium_ids`, that ``has_config_path`` does not refuse)."""
        specs = systems.task_specs()
        if env_id in specs:
            listed = self.tasks.accepts(specs[env_id])
        else:
            twin = systems.gymnasium_twins().get(env_id)
            listed = self.gymnasium_ids and twin is not None and self.tasks.accepts(specs[twin])
        return listed and self._has_config(env_id)

    def env_ids(self) -> list[str]:
        """Every id it trains now: registered tasks, then Gymnasium twins if it takes them."""
        ids = self.tasks.env_ids()
        if self.gymnasium_ids:
            ids += [gym_id for gym_id, twin in systems.gymnasium_twins().items() if twin in ids]
        return [env_id for env_id in ids if self._has_config(env_id)]

    def _has_config(self, env_id: str) -> bool:
        return self.has_config_path is None or bool(resolve(self.has_config_path)(env_id))


_ENTRIES: dict[str, list[Method]] = {}
_LOADERS: dict[str, EntryPoint] = {
    CONTROL_POLICY: f"{_CONTROLLERS}.checkpoint:load_control_policy",
}


def register_method(method: Method, *, alongside: bool = False) -> None:
    """Make ``method`` available to :func:`~diffsim.controllers.train` and ``diffsim train``.

    Args:
        method: The entry. A new name is listed after the others.
        alongside: Keep the entries already registered under ``method.name`` and add this
            one after them (another set of tasks for the same name, as ``bptt`` on the
            trebuchet); ``False`` (the default) replaces them.

    Its policy kind's loader, when given, is registered too (:func:`register_policy_kind`).

    Raises:
        TypeError: ``method`` is not a :class:`Method`.
    """
    if not isinstance(method, Method):
        raise TypeError(
            f"register_method takes a diffsim.controllers.methods.Method, got "
            f"{type(method).__name__}"
        )
    if alongside and method.name in _ENTRIES:
        _ENTRIES[method.name] = [*(m for m in _ENTRIES[method.name] if m != method), method]
    else:
        _ENTRIES[method.name] = [method]
    if method.loader_path is not None:
        register_policy_kind(method.policy_kind, method.loader_path)


def register_policy_kind(kind: str, loader: EntryPoint) -> None:
    """Register ``loader(path, data) -> agent`` for ``policy.pt`` files of ``kind``."""
    _LOADERS[kind] = loader


def policy_kinds() -> list[str]:
    """The policy kinds this installation reads."""
    return list(_LOADERS)


def policy_loader(kind: str) -> Optional[Callable[..., Any]]:
    """The loader of ``kind`` (imported now), or ``None`` for a kind nobody registered."""
    entry = _LOADERS.get(kind)
    return None if entry is None else resolve(entry)


def method_entries(name: str) -> list[Method]:
    """Every entry of ``name``, in the order :func:`get_method` tries them."""
    check_choice("method", name, _ENTRIES)
    return list(_ENTRIES[name])


def get_method(name: str, env_id: Optional[str] = None) -> Method:
    """The method ``name``, for ``env_id`` when given.

    Args:
        name: A registered method name.
        env_id: A registered task id or short name, or one of Gymnasium's ids the methods
            with :attr:`Method.gymnasium_ids` take; ``None``: the name's first entry.

    Returns:
        The first entry of ``name`` that trains ``env_id`` (``bptt`` on the trebuchet:
        the aiming network's entry).

    Raises:
        ValueError: an unknown name (the message lists the registered ones), or a task that
            no entry of ``name`` trains (the message names the tasks it trains).
    """
    entries = method_entries(name)
    if env_id is None:
        return entries[0]
    env_id = systems.short_names().get(env_id, env_id)
    for method in entries:
        if method.accepts(env_id):
            return method
    twins = systems.gymnasium_twins()
    if env_id in twins and not any(m.gymnasium_ids for m in entries):
        takes = [n for n, ms in _ENTRIES.items() if any(m.gymnasium_ids for m in ms)]
        raise ValueError(
            f"Gymnasium's own {env_id} is for the equivalence check of the methods "
            f"{', '.join(takes)}; {name} trains on {twins[env_id]}"
        )
    what = "; ".join(
        f"{m.tasks.describe()}: {', '.join(m.env_ids()) or 'none registered'}" for m in entries
    )
    raise ValueError(f"{name} trains {what}; got {env_id}")


def method_names() -> dict[str, str]:
    """Method name → its one-line description, in registration order."""
    return {name: entries[0].description for name, entries in _ENTRIES.items()}


def build_config(method: Method, env_id: str, overrides: Optional[Mapping[str, Any]]) -> Any:
    """The method's tuned config for ``env_id`` with ``overrides`` applied.

    Raises:
        ValueError: an override names no field of the config (the message lists them).
    """
    config = method.default_config(env_id)
    if overrides:
        valid = [f.name for f in dataclasses.fields(config)]
        for name in overrides:
            check_choice(f"{method.name} option", name, valid)
        config = dataclasses.replace(config, **overrides)
    return config


METHODS: Mapping[str, Method] = systems.RegistryView(
    lambda: list(_ENTRIES), lambda n: _ENTRIES[n][0]
)
"""Every registered method by name (its first entry; :func:`get_method` picks per task)."""


# -- the built-in methods ------------------------------------------------------------------
def _builtin() -> None:
    c = _CONTROLLERS
    register_method(
        Method(
            "bptt",
            config_path=f"{c}.bptt:BPTTConfig",
            trainer_path=f"{c}.bptt:BPTTTrainer",
            default_config_path=f"{c}.bptt:default_config",
            default_budget_path=f"{c}.bptt:default_budget",
            tasks=Tasks(rollout=True),
            description="backpropagation through the simulator (on trebuchet: the aiming network)",
        )
    )
    # The one-shot trebuchet has no multi-step rollout: bptt there is the aiming network,
    # trained through the differentiable shot (diffsim.controllers.aiming).
    register_method(
        Method(
            "bptt",
            config_path=f"{c}.aiming:AimingConfig",
            trainer_path=f"{c}.aiming:AimingTrainer",
            default_config_path=f"{c}.aiming:default_config",
            default_budget_path=f"{c}.aiming:default_budget",
            tasks=Tasks(rollout=False, ids=("diffsim/Trebuchet-v0",)),
            policy_kind="aiming_network",
            loader_path=f"{c}.aiming:load_aiming_policy",
            description="the trebuchet's aiming network, trained through the simulated shot",
        ),
        alongside=True,
    )
    register_method(
        Method(
            "shac",
            config_path=f"{c}.shac:SHACConfig",
            trainer_path=f"{c}.shac:SHACTrainer",
            default_config_path=f"{c}.shac:default_config",
            default_budget_path=f"{c}.shac:default_budget",
            tasks=Tasks(action="continuous", rollout=True),
            description="short-horizon actor-critic through the simulator (continuous actions)",
        )
    )
    sb3 = {
        "ppo": ("any", "SB3 PPO (baselines extra)"),
        "a2c": ("any", "SB3 A2C (baselines extra)"),
        "dqn": ("discrete", "SB3 DQN, discrete actions only (baselines extra)"),
        "sac": ("continuous", "SB3 SAC, continuous actions only (baselines extra)"),
        "td3": ("continuous", "SB3 TD3, continuous actions only (baselines extra)"),
    }
    for algo, (action, description) in sb3.items():
        trainer = f"{c}.baselines:{algo.upper()}Trainer"
        register_method(
            Method(
                algo,
                config_path=f"{c}.baselines:SB3Config",
                trainer_path=trainer,
                default_config_path=f"{trainer}.default_config",
                default_budget_path=f"{trainer}.default_budget",
                gymnasium_ids=True,
                tasks=Tasks(action=action, rollout=None),
                policy_kind="sb3",
                loader_path=f"{c}.baselines:load_sb3",
                has_config_path=f"{c}.zoo:HAS_ENTRY.{algo}",
                description=description,
            )
        )
    register_method(
        Method(
            "cmaes",
            config_path=f"{c}.gradient_free:CMAESConfig",
            trainer_path=f"{c}.gradient_free:CMAESTrainer",
            default_config_path=f"{c}.gradient_free:cmaes_default_config",
            default_budget_path=f"{c}.gradient_free:cmaes_default_budget",
            tasks=Tasks(rollout=True),
            description="CMA-ES on the policy's parameters (Nevergrad, baselines extra)",
        )
    )
    register_method(
        Method(
            "retrofit",
            config_path=f"{c}.gradient_free:RetrofitConfig",
            trainer_path=f"{c}.gradient_free:RetrofitTrainer",
            default_config_path=f"{c}.gradient_free:retrofit_default_config",
            default_budget_path=f"{c}.gradient_free:retrofit_default_budget",
            tasks=Tasks(rollout=True),
            stops_when_solved=False,
            description="gradient-free refinement of a trained run (--from DIR; baselines extra)",
        )
    )
    # On the trebuchet, retrofit refines the aiming network on its miss fraction.
    register_method(
        Method(
            "retrofit",
            config_path=f"{c}.aiming_retrofit:AimingRetrofitConfig",
            trainer_path=f"{c}.aiming_retrofit:AimingRetrofitTrainer",
            default_config_path=f"{c}.aiming_retrofit:default_config",
            default_budget_path=f"{c}.aiming_retrofit:default_budget",
            tasks=Tasks(rollout=False, ids=("diffsim/Trebuchet-v0",)),
            policy_kind="aiming_network",
            loader_path=f"{c}.aiming:load_aiming_policy",
            stops_when_solved=False,
            description="the aiming network's last layer refined on its miss fraction",
        ),
        alongside=True,
    )


_builtin()
