"""The names of the training methods and tasks, and each task's default method.

A light module (standard library only): the command line's parsers and help read it without
importing torch or the method modules. The tasks are read from the registry of
:mod:`diffsim.systems` and the methods from :mod:`diffsim.controllers.methods` (both
standard library only, neither importing a method) whenever they are asked for, so a task or
method registered later is listed too.

Each task's default method is the one that solves it in the project's published results
(``docs/benchmarks.md``; the result files named below, under ``docs/results/``):

=======================================  ========  =======================================
task                                     default   published result
=======================================  ========  =======================================
cartpole (diffsim/CartPole-v1)           bptt      ``cartpole_bptt/results.json``
cartpole-continuous                      bptt      the method tuned for it (no SB3 method
(diffsim/CartPoleContinuous-v1)                    has a zoo entry; no comparison file)
pendulum (diffsim/Pendulum-v1)           shac      ``pendulum/results.json`` (bptt's:
                                                   ``pendulum_bptt/results.json``)
pendulum-2019 (diffsim/Pendulum2019-v1)  bptt      ``pendulum2019_bptt/results.json``, with
                                                   its tuned unbounded ('linear') head
trebuchet (diffsim/Trebuchet-v0)         bptt      the aiming network (``aiming.json``)
Gymnasium's CartPole-v1                  ppo       ``cartpole_gymnasium/results.json``
Gymnasium's Pendulum-v1                  sac       ``pendulum_gymnasium/results.json``
=======================================  ========  =======================================

``tests/test_startup.py`` checks that each default solved every seed of a published
comparison.

Any other registered task (a user's own system) defaults to ``bptt``, whose configuration
is then derived from the system's description (:func:`diffsim.controllers.bptt.
derived_config`); another Gymnasium id registered as a task's twin defaults to ``ppo`` (the
SB3 method that takes any action space). Gymnasium's own ids take only the SB3 methods (the
baselines extra).
"""

from __future__ import annotations

from collections.abc import Mapping

from diffsim import systems

from . import methods

EVAL_EPISODES = 100
"""Episodes per evaluation of the benchmark protocol (as
:data:`diffsim.controllers.evaluate.EVAL_EPISODES`, for the command line's defaults)."""

METHOD_NAMES: Mapping[str, str] = systems.RegistryView.of(methods.method_names)
"""Every registered training method, with a one-line description (the order of ``--help``;
a view of :func:`diffsim.controllers.methods.method_names`)."""


task_names = systems.short_names
"""Short task name → this project's Gymnasium id, for every registered task."""

gymnasium_twin_names = systems.gymnasium_twins
"""Gymnasium's own ids that the SB3 baselines also train on → this project's twin."""


TASK_NAMES: Mapping[str, str] = systems.RegistryView.of(task_names)
"""Short task name → this project's Gymnasium id (a view of the registry)."""

GYMNASIUM_TWIN_NAMES: Mapping[str, str] = systems.RegistryView.of(gymnasium_twin_names)
"""Gymnasium's own ids that the SB3 baselines also train on → this project's twin (a view
of the registry's :attr:`~diffsim.systems.TaskSpec.gymnasium_id`)."""

DERIVED_DEFAULT_METHOD = "bptt"
"""The default method of a registered task without an entry in :data:`DEFAULT_METHODS`."""

TWIN_DEFAULT_METHOD = "ppo"
"""The default method of a Gymnasium twin without an entry in :data:`DEFAULT_METHODS`."""


def _default_methods() -> dict[str, str]:
    table = {}
    for spec in systems.task_specs().values():
        if spec.default_method is not None:
            table[spec.env_id] = spec.default_method
        if spec.gymnasium_id is not None and spec.twin_default_method is not None:
            table[spec.gymnasium_id] = spec.twin_default_method
    return table


DEFAULT_METHODS: Mapping[str, str] = systems.RegistryView.of(_default_methods)
"""Task id → the method that solves it (the default of ``diffsim train`` and ``train()``),
read from the registry (:attr:`~diffsim.systems.TaskSpec.default_method`, and
``twin_default_method`` for the task's Gymnasium id); other tasks:
:data:`DERIVED_DEFAULT_METHOD` (see the module docstring)."""


def default_method(env: str) -> str:
    """The default training method of a task.

    Args:
        env: A short task name (``pendulum``), one of this project's ids
            (``diffsim/Pendulum-v1``) or one of Gymnasium's ids the baselines take
            (``Pendulum-v1``).

    Returns:
        The method's name, a key of :data:`METHOD_NAMES`: the task's entry of
        :data:`DEFAULT_METHODS`, else :data:`DERIVED_DEFAULT_METHOD` for a registered task
        and :data:`TWIN_DEFAULT_METHOD` for a Gymnasium twin.

    Raises:
        ValueError: ``env`` names no known task (the message lists the valid names).
    """
    names, twins = task_names(), gymnasium_twin_names()
    env_id = names.get(env, env)
    if env_id in DEFAULT_METHODS:
        return DEFAULT_METHODS[env_id]
    if env_id in systems.task_specs():
        return DERIVED_DEFAULT_METHOD
    if env_id in twins:
        return TWIN_DEFAULT_METHOD
    valid = [*names, *names.values(), *twins]
    raise ValueError(f"unknown environment {env!r}; expected one of: {', '.join(valid)}")


def defaults_help() -> str:
    """``"cartpole: bptt, …, Pendulum-v1: sac"``: every task's default method, for help text."""
    names = {**{v: k for k, v in task_names().items()}, **{k: k for k in gymnasium_twin_names()}}
    return ", ".join(f"{name}: {default_method(env_id)}" for env_id, name in names.items())
