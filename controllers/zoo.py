"""RL Baselines3 Zoo's tuned hyperparameters for CartPole-v1 and Pendulum-v1, kept verbatim.

Source: DLR-RM/rl-baselines3-zoo, release v2.8.0 (commit
``fa5daa8f0b78a88d44068850e74393ec7dd568cf``; the entries are unchanged at ``22e3ff2``),
files ``hyperparams/{ppo,dqn,a2c,sac,td3}.yml``, entries ``CartPole-v1`` and ``Pendulum-v1``.
Every key and value below is the zoo's, spelled as in the YAML (schedules as ``"lin_<x>"``,
``policy_kwargs`` as the Python expression string the zoo evaluates). The zoo has no entry
for DQN on Pendulum (a Box action space), nor for SAC or TD3 on CartPole (a Discrete one).

:func:`prepare` turns an entry into SB3's constructor arguments the way the zoo's
``ExperimentManager`` does (``rl_zoo3/exp_manager.py``): ``n_envs`` copies of the env in a
``DummyVecEnv`` (each in a ``Monitor``), seeded ``seed + i``; ``normalize`` wraps them in
``VecNormalize`` with the algorithm's ``gamma``; ``lin_<x>`` becomes a linear schedule from x
to 0 (the zoo's ``SimpleLinearSchedule``: ``progress_remaining · x``); ``noise_type:
normal`` with ``noise_std`` becomes a ``NormalActionNoise``; ``policy_kwargs`` strings are
evaluated; ``n_timesteps`` is the zoo's training length, over which the schedules run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Optional

ZOO_SOURCE = (
    "rl-baselines3-zoo v2.8.0 (commit fa5daa8f0b78a88d44068850e74393ec7dd568cf), "
    "hyperparams/{algo}.yml, entry {entry}"
)
"""Where each entry comes from (``str.format`` with ``algo`` and ``entry``)."""

ZOO: dict[str, dict[str, dict[str, Any]]] = {
    "ppo": {
        "CartPole-v1": {
            "n_envs": 8,
            "n_timesteps": 100_000,
            "policy": "MlpPolicy",
            "n_steps": 32,
            "batch_size": 256,
            "gae_lambda": 0.8,
            "gamma": 0.98,
            "n_epochs": 20,
            "ent_coef": 0.0,
            "learning_rate": "lin_0.001",
            "clip_range": "lin_0.2",
        },
        "Pendulum-v1": {
            "n_envs": 4,
            "n_timesteps": 100_000,
            "policy": "MlpPolicy",
            "n_steps": 1024,
            "gae_lambda": 0.95,
            "gamma": 0.9,
            "n_epochs": 10,
            "ent_coef": 0.0,
            "learning_rate": 1e-3,
            "clip_range": 0.2,
            "use_sde": True,
            "sde_sample_freq": 4,
        },
    },
    "a2c": {
        "CartPole-v1": {
            "n_envs": 8,
            "n_timesteps": 500_000,
            "policy": "MlpPolicy",
            "ent_coef": 0.0,
        },
        "Pendulum-v1": {
            "normalize": True,
            "n_envs": 8,
            "n_timesteps": 1_000_000,
            "policy": "MlpPolicy",
            "ent_coef": 0.0,
            "max_grad_norm": 0.5,
            "n_steps": 8,
            "gae_lambda": 0.9,
            "vf_coef": 0.4,
            "gamma": 0.9,
            "use_rms_prop": True,
            "normalize_advantage": False,
            "learning_rate": "lin_7e-4",
            "use_sde": True,
            "policy_kwargs": "dict(log_std_init=-2, ortho_init=False)",
        },
    },
    "dqn": {
        "CartPole-v1": {
            "n_timesteps": 50_000,
            "policy": "MlpPolicy",
            "learning_rate": 2.3e-3,
            "batch_size": 64,
            "buffer_size": 100_000,
            "learning_starts": 1000,
            "gamma": 0.99,
            "target_update_interval": 10,
            "train_freq": 256,
            "gradient_steps": 128,
            "exploration_fraction": 0.16,
            "exploration_final_eps": 0.04,
            "policy_kwargs": "dict(net_arch=[256, 256])",
        },
    },
    "sac": {
        "Pendulum-v1": {
            "n_timesteps": 20_000,
            "policy": "MlpPolicy",
            "learning_rate": 1e-3,
        },
    },
    "td3": {
        "Pendulum-v1": {
            "n_timesteps": 20_000,
            "policy": "MlpPolicy",
            "gamma": 0.98,
            "buffer_size": 200_000,
            "learning_starts": 10_000,
            "noise_type": "normal",
            "noise_std": 0.1,
            "gradient_steps": 1,
            "train_freq": 1,
            "learning_rate": 1e-3,
            "policy_kwargs": "dict(net_arch=[400, 300])",
        },
    },
}
"""The zoo's entries by algorithm and zoo environment id (see the module docstring)."""


def zoo_entries() -> dict[str, str]:
    """Which zoo environment entry each environment uses, read from the registry of
    :mod:`diffsim.systems` now.

    A task whose :attr:`~diffsim.systems.TaskSpec.gymnasium_id` is a zoo environment uses
    that entry, as does Gymnasium's own id; a task without one uses the entry of another task
    of the same system and action kind that has one (``diffsim/Pendulum2019-v1``, the 2019
    post's physics with the same spaces, uses Pendulum-v1's). A task with neither has no
    entry: ``diffsim/CartPoleContinuous-v1`` (the zoo tunes nothing for a continuous
    CartPole, and reusing the discrete task's values for a Gaussian policy would be an
    untuned baseline presented as a tuned one), and a new system until the zoo has its id.
    """
    from diffsim import systems

    tuned = {name for entries in ZOO.values() for name in entries}
    specs = list(systems.task_specs().values())
    by_kind = {
        (s.system, s.action): s.gymnasium_id
        for s in reversed(specs)  # the first registered task of a kind wins
        if s.gymnasium_id in tuned
    }
    table: dict[str, str] = {}
    for spec in specs:
        if spec.gymnasium_id in tuned:
            table[spec.env_id] = spec.gymnasium_id
        elif (spec.system, spec.action) in by_kind:
            table[spec.env_id] = by_kind[spec.system, spec.action]
    for spec in specs:
        if spec.gymnasium_id in tuned:
            table[spec.gymnasium_id] = spec.gymnasium_id
    return table


class _EntryView(Mapping):
    """:func:`zoo_entries` as a read-only mapping, recomputed on every access."""

    def __getitem__(self, env_id: str) -> str:
        return zoo_entries()[env_id]

    def __iter__(self) -> Iterator[str]:
        return iter(zoo_entries())

    def __len__(self) -> int:
        return len(zoo_entries())

    def __repr__(self) -> str:
        return repr(zoo_entries())


ZOO_ENTRY: Mapping[str, str] = _EntryView()
"""Which zoo entry each environment uses (:func:`zoo_entries`, a view of the registry):
``diffsim/CartPole-v1`` and ``CartPole-v1`` → ``CartPole-v1``; ``diffsim/Pendulum-v1``,
``diffsim/Pendulum2019-v1`` and ``Pendulum-v1`` → ``Pendulum-v1``."""

SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")
"""Hyperparameters the zoo turns into schedules (``"lin_<x>"``) — ``delta_std`` is ARS's."""

_NOT_SB3 = ("n_envs", "n_timesteps", "normalize", "noise_type", "noise_std", "policy")


class ZooLinearSchedule:
    """The zoo's ``SimpleLinearSchedule``: ``progress_remaining · initial_value``.

    Args:
        initial_value: The value at the start of training (falls linearly to 0).
    """

    def __init__(self, initial_value: float):
        self.initial_value = float(initial_value)

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.initial_value

    def __repr__(self) -> str:
        return f"ZooLinearSchedule(initial_value={self.initial_value})"


@dataclass
class Prepared:
    """A zoo entry turned into what SB3 needs (see :func:`prepare`).

    Attributes:
        policy: SB3's policy name (``"MlpPolicy"``).
        kwargs: Keyword arguments of the algorithm's constructor.
        n_envs: Number of envs in the ``DummyVecEnv``.
        normalize: ``VecNormalize`` keyword arguments, or None for no normalisation.
        n_timesteps: The zoo's training length (transitions), over which schedules run.
    """

    policy: str
    kwargs: dict[str, Any]
    n_envs: int
    normalize: Optional[dict[str, Any]]
    n_timesteps: int


def entry(algo: str, env_id: str) -> Optional[str]:
    """The zoo entry (``"CartPole-v1"``, ``"Pendulum-v1"``) ``algo`` uses on ``env_id``, or
    None when the zoo has none (see :func:`zoo_entries`)."""
    name = zoo_entries().get(env_id)
    return name if name is not None and name in ZOO.get(algo, {}) else None


def _eval_kwargs(text: str) -> dict[str, Any]:
    # The zoo evaluates "dict(a=1, b=[2, 3])"; parse that form without eval().
    tree = ast.parse(text, mode="eval").body
    if not (isinstance(tree, ast.Call) and getattr(tree.func, "id", None) == "dict"):
        raise ValueError(f"policy_kwargs must be written dict(...), got {text!r}")
    return {kw.arg: ast.literal_eval(kw.value) for kw in tree.keywords}


def prepare(hyperparams: dict[str, Any], n_actions: int) -> Prepared:
    """Turn a zoo entry into SB3 constructor arguments as the zoo's ExperimentManager does.

    Args:
        hyperparams: A zoo entry (possibly with changed values).
        n_actions: Size of a Box action space (for action noise), 0 for a Discrete one.
    """
    hp = dict(hyperparams)
    kwargs = {k: v for k, v in hp.items() if k not in _NOT_SB3}
    for key in SCHEDULE_KEYS:
        value = kwargs.get(key)
        if isinstance(value, str):
            kind, _, initial = value.partition("_")
            if kind != "lin":
                raise ValueError(f"{key}: only lin_<x> schedules exist in the zoo, got {value!r}")
            kwargs[key] = ZooLinearSchedule(float(initial))
    if isinstance(kwargs.get("policy_kwargs"), str):
        kwargs["policy_kwargs"] = _eval_kwargs(kwargs["policy_kwargs"])
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    if hp.get("noise_type") is not None:
        import numpy as np
        from stable_baselines3.common.noise import NormalActionNoise

        if hp["noise_type"].strip() != "normal" or n_actions < 1:
            raise ValueError(
                f"only normal action noise on a Box space is supported, got {hp['noise_type']!r}"
            )
        sigma = float(hp["noise_std"]) * np.ones(n_actions)
        kwargs["action_noise"] = NormalActionNoise(mean=np.zeros(n_actions), sigma=sigma)
    normalize = None
    if hp.get("normalize"):
        value = hp["normalize"]
        normalize = dict(_eval_kwargs(value) if isinstance(value, str) else {})
        if isinstance(value, dict):
            normalize = dict(value)
        if "gamma" in hp:
            normalize["gamma"] = hp["gamma"]
    return Prepared(
        policy=hp.get("policy", "MlpPolicy"),
        kwargs=kwargs,
        n_envs=int(hp.get("n_envs", 1)),
        normalize=normalize,
        n_timesteps=int(hp["n_timesteps"]),
    )
