"""Gymnasium ids of diffsim's environments, registered when this package is imported.

``import diffsim`` imports it as soon as Gymnasium is imported (at once if it already is;
:mod:`diffsim._gymnasium`), so the ids are there whichever of the two comes first.

Every task of the registry (:func:`diffsim.systems.task_specs`) is registered with
Gymnasium: a task of a :class:`~diffsim.systems.System` with the generic adapters
(``diffsim.envs.env:SystemEnv`` and ``diffsim.envs.vector:SystemVectorEnv``, with
``kwargs={"task": env_id}``), a task with entry points of its own (the trebuchet) with
those; the time limit and reward threshold are the task's. A task registered later
(``diffsim.systems.register_system(...)`` after this module's import) is registered with
Gymnasium at once (:func:`diffsim.systems.on_register`); one registered before it, when
this module is imported.

Registration is idempotent: an id already in ``gymnasium.registry`` is left as it is, so
re-importing (or calling :func:`register_envs` again) neither duplicates nor warns.
``gymnasium.make("diffsim:diffsim/CartPole-v1")`` works too: Gymnasium imports ``diffsim``
first, which registers the ids. Registering imports neither torch nor the physics (the entry
points are strings, imported when an env is made).

The built-in ids, with their action spaces, time limits and reward thresholds, are listed in
``docs/systems.md`` (a test checks that list against the registry); :data:`ENV_IDS` holds
them.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from diffsim import systems


def spec_kwargs(task: systems.TaskSpec) -> dict[str, Any]:
    """The keyword arguments of ``gymnasium.register`` for a task."""
    if task.generic:
        entry_point = systems.GENERIC_ENTRY_POINT
        vector_entry_point = task.vector_entry_point or systems.GENERIC_VECTOR_ENTRY_POINT
        kwargs: dict[str, Any] = {"task": task.env_id}
    else:
        entry_point, vector_entry_point, kwargs = task.entry_point, task.vector_entry_point, {}
    out: dict[str, Any] = {
        "entry_point": entry_point,
        "vector_entry_point": vector_entry_point,
        "kwargs": kwargs,
    }
    if task.max_episode_steps is not None:
        out["max_episode_steps"] = task.max_episode_steps
    if task.reward_threshold is not None:
        out["reward_threshold"] = task.reward_threshold
    return out


def _register(task: systems.TaskSpec) -> None:
    if task.env_id not in gymnasium.registry:
        gymnasium.register(id=task.env_id, **spec_kwargs(task))


ENV_SPECS: dict[str, dict[str, Any]] = {
    env_id: spec_kwargs(task) for env_id, task in systems.task_specs().items()
}
"""Keyword arguments of ``gymnasium.register`` for each id registered when this module was
imported (later registrations: :func:`diffsim.systems.task_specs`)."""

ENV_IDS: list[str] = list(ENV_SPECS)
"""The ids registered when this module was imported (the built-in ones; a list computed
once, so that it can be imported by name). Every id, later ones included:
``list(diffsim.systems.task_specs())``."""

_listening = False


def register_envs() -> list[str]:
    """Register every task of the registry not yet in ``gymnasium.registry``, and every task
    registered from now on; returns every registered id (a new list)."""
    global _listening
    for task in systems.task_specs().values():
        _register(task)
    if not _listening:
        systems.on_register(_register)
        _listening = True
    return list(systems.task_specs())
