"""RL Baselines3 Zoo's tuned hyperparameters for the classic-control tasks, kept verbatim.

Source: DLR-RM/rl-baselines3-zoo, release v2.8.0 (commit
``fa5daa8f0b78a88d44068850e74393ec7dd568cf``; the entries are unchanged at ``22e3ff2``),
files ``hyperparams/{ppo,dqn,a2c,sac,td3}.yml``. Every entry the zoo has there for these
environments, by algorithm:

============================  ====  ====  ====  ====  ====
zoo environment               ppo   a2c   dqn   sac   td3
============================  ====  ====  ====  ====  ====
``CartPole-v1``               yes   yes   yes
``Pendulum-v1``               yes   yes         yes   yes
``Acrobot-v1``                yes   yes   yes
``MountainCar-v0``            yes   yes   yes
``MountainCarContinuous-v0``  yes   yes         yes   yes
============================  ====  ====  ====  ====  ====

Every key and value below is the zoo's, spelled as in the YAML (schedules as ``"lin_<x>"``,
``policy_kwargs`` as the Python expression string the zoo evaluates, ``n_timesteps`` written
as an int where the YAML has ``!!float 1e5``). The blanks are the zoo's: DQN acts only in a
Discrete action space, SAC and TD3 only in a Box one.

:func:`prepare` turns an entry into SB3's constructor arguments the way the zoo's
``ExperimentManager`` does (``rl_zoo3/exp_manager.py``): ``n_envs`` copies of the env in a
``DummyVecEnv`` (each in a ``Monitor``), seeded ``seed + i``; ``normalize`` (``True``, a
dict, or a string of one) wraps them in ``VecNormalize`` with those keyword arguments and the
algorithm's ``gamma``; ``lin_<x>`` becomes a linear schedule from x to 0 (the zoo's
``SimpleLinearSchedule``: ``progress_remaining · x``); ``noise_type`` ``normal`` or
``ornstein-uhlenbeck`` with ``noise_std`` becomes SB3's ``NormalActionNoise`` or
``OrnsteinUhlenbeckActionNoise``; ``policy_kwargs`` and ``replay_buffer_kwargs`` strings are
evaluated; every other key (``use_sde``, ``sde_sample_freq``, ``train_freq``,
``gradient_steps``, …) goes to the algorithm's constructor as it is; ``n_timesteps`` is the
zoo's training length, over which the schedules run. The zoo keys that change the
environment or the training loop beyond this (:data:`UNSUPPORTED_KEYS`: wrappers, frame
stacking, callbacks, env and monitor arguments, a custom replay buffer or policy class) are
refused with an error rather than ignored; none of the entries above has one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
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
        "MountainCar-v0": {
            "normalize": True,
            "n_envs": 16,
            "n_timesteps": 1_000_000,
            "policy": "MlpPolicy",
            "n_steps": 16,
            "gae_lambda": 0.98,
            "gamma": 0.99,
            "n_epochs": 4,
            "ent_coef": 0.0,
        },
        "MountainCarContinuous-v0": {
            "normalize": True,
            "n_envs": 1,
            "n_timesteps": 20_000,
            "policy": "MlpPolicy",
            "batch_size": 256,
            "n_steps": 8,
            "gamma": 0.9999,
            "learning_rate": 7.77e-05,
            "ent_coef": 0.00429,
            "clip_range": 0.1,
            "n_epochs": 10,
            "gae_lambda": 0.9,
            "max_grad_norm": 5,
            "vf_coef": 0.19,
            "use_sde": True,
            "policy_kwargs": "dict(log_std_init=-3.29, ortho_init=False)",
        },
        "Acrobot-v1": {
            "normalize": True,
            "n_envs": 16,
            "n_timesteps": 1_000_000,
            "policy": "MlpPolicy",
            "n_steps": 256,
            "gae_lambda": 0.94,
            "gamma": 0.99,
            "n_epochs": 4,
            "ent_coef": 0.0,
        },
    },
    "a2c": {
        "CartPole-v1": {
            "n_envs": 8,
            "n_timesteps": 500_000,
            "policy": "MlpPolicy",
            "ent_coef": 0.0,
        },
        "MountainCar-v0": {
            "normalize": True,
            "n_envs": 16,
            "n_timesteps": 1_000_000,
            "policy": "MlpPolicy",
            "ent_coef": 0.0,
        },
        "Acrobot-v1": {
            "normalize": True,
            "n_envs": 16,
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
        "MountainCarContinuous-v0": {
            "normalize": True,
            "n_envs": 4,
            "n_steps": 100,
            "n_timesteps": 100_000,
            "policy": "MlpPolicy",
            "ent_coef": 0.0,
            "use_sde": True,
            "sde_sample_freq": 16,
            "policy_kwargs": "dict(log_std_init=0.0, ortho_init=False)",
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
        "MountainCar-v0": {
            "n_timesteps": 120_000,
            "policy": "MlpPolicy",
            "learning_rate": 4e-3,
            "batch_size": 128,
            "buffer_size": 10_000,
            "learning_starts": 1000,
            "gamma": 0.98,
            "target_update_interval": 600,
            "train_freq": 16,
            "gradient_steps": 8,
            "exploration_fraction": 0.2,
            "exploration_final_eps": 0.07,
            "policy_kwargs": "dict(net_arch=[256, 256])",
        },
        "Acrobot-v1": {
            "n_timesteps": 100_000,
            "policy": "MlpPolicy",
            "learning_rate": 6.3e-4,
            "batch_size": 128,
            "buffer_size": 50_000,
            "learning_starts": 0,
            "gamma": 0.99,
            "target_update_interval": 250,
            "train_freq": 4,
            "gradient_steps": -1,
            "exploration_fraction": 0.12,
            "exploration_final_eps": 0.1,
            "policy_kwargs": "dict(net_arch=[256, 256])",
        },
    },
    "sac": {
        "MountainCarContinuous-v0": {
            "n_timesteps": 50_000,
            "policy": "MlpPolicy",
            "learning_rate": 3e-4,
            "buffer_size": 50_000,
            "batch_size": 512,
            "ent_coef": 0.1,
            "train_freq": 32,
            "gradient_steps": 32,
            "gamma": 0.9999,
            "tau": 0.01,
            "learning_starts": 0,
            "use_sde": True,
            "policy_kwargs": "dict(log_std_init=-3.67, net_arch=[64, 64])",
        },
        "Pendulum-v1": {
            "n_timesteps": 20_000,
            "policy": "MlpPolicy",
            "learning_rate": 1e-3,
        },
    },
    "td3": {
        "MountainCarContinuous-v0": {
            "n_timesteps": 300_000,
            "policy": "MlpPolicy",
            "noise_type": "ornstein-uhlenbeck",
            "noise_std": 0.5,
            "gradient_steps": 1,
            "train_freq": 1,
            "learning_rate": 1e-3,
            "batch_size": 256,
            "policy_kwargs": "dict(net_arch=[400, 300])",
        },
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
``diffsim/Pendulum2019-v1`` and ``Pendulum-v1`` → ``Pendulum-v1``; likewise every other
registered task with a ``gymnasium_id``."""

SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")
"""Hyperparameters the zoo turns into schedules (``"lin_<x>"``) — ``delta_std`` is ARS's."""

NOISE_TYPES = ("normal", "ornstein-uhlenbeck")
"""The zoo's ``noise_type`` values (SB3's ``NormalActionNoise``,
``OrnsteinUhlenbeckActionNoise``)."""

UNSUPPORTED_KEYS = (
    "env_wrapper",
    "vec_env_wrapper",
    "frame_stack",
    "callback",
    "env_kwargs",
    "monitor_kwargs",
    "replay_buffer_class",
)
"""Zoo keys :func:`prepare` refuses: they wrap or change the environment (and so the
observations the saved policy acts on) or the training loop, which this project's trainer
builds itself."""

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
        normalize: ``VecNormalize`` keyword arguments (``{}`` for its defaults), or None for
            no normalisation.
        n_timesteps: The zoo's training length (transitions), over which schedules run.
    """

    policy: str
    kwargs: dict[str, Any]
    n_envs: int
    normalize: Optional[dict[str, Any]]
    n_timesteps: int


def entry(algo: str, env_id: str) -> Optional[str]:
    """The zoo entry (a key of ``ZOO[algo]``, e.g. ``"Acrobot-v1"``) ``algo`` uses on
    ``env_id``, or None when the zoo has none (see :func:`zoo_entries`)."""
    name = zoo_entries().get(env_id)
    return name if name is not None and name in ZOO.get(algo, {}) else None


class _HasEntry:
    """``(env_id) -> bool`` for one algorithm: whether :func:`entry` finds a zoo entry."""

    def __init__(self, algo: str):
        self.algo = algo

    def __call__(self, env_id: str) -> bool:
        return entry(self.algo, env_id) is not None

    def __repr__(self) -> str:
        return f"zoo.HAS_ENTRY.{self.algo}"


HAS_ENTRY = SimpleNamespace(**{algo: _HasEntry(algo) for algo in ZOO})
"""``HAS_ENTRY.<algo>(env_id)``: whether the zoo tunes ``algo`` for ``env_id``; the SB3
methods' ``has_config_path`` in :mod:`diffsim.controllers.methods`."""


def _eval_kwargs(text: str, key: str) -> dict[str, Any]:
    # The zoo evaluates "dict(a=1, b=[2, 3])" or "{'a': 1}"; parse those forms without eval().
    try:
        tree = ast.parse(text, mode="eval").body
        if isinstance(tree, ast.Dict):
            value = ast.literal_eval(tree)
            if all(isinstance(k, str) for k in value):
                return value
        elif isinstance(tree, ast.Call) and getattr(tree.func, "id", None) == "dict":
            if not tree.args and all(kw.arg is not None for kw in tree.keywords):
                return {kw.arg: ast.literal_eval(kw.value) for kw in tree.keywords}
    except (SyntaxError, ValueError):
        pass
    raise ValueError(
        f"{key} must be written dict(name=value, ...) or {{'name': value, ...}} with literal "
        f"values, got {text!r}"
    )


def _normalize_kwargs(hp: dict[str, Any]) -> Optional[dict[str, Any]]:
    # The zoo's _preprocess_normalization: True, a dict, or a string of one; gamma added.
    value = hp.get("normalize")
    if value is None or value is False:
        return None
    if value is True:
        normalize: dict[str, Any] = {}
    elif isinstance(value, dict):
        normalize = dict(value)
    elif isinstance(value, str):
        normalize = _eval_kwargs(value, "normalize")
    else:
        raise ValueError(
            f"normalize must be True, False, a dict of VecNormalize arguments or a string of "
            f"one, got {value!r}"
        )
    if "gamma" in hp:
        normalize["gamma"] = hp["gamma"]
    return normalize


def _action_noise(hp: dict[str, Any], n_actions: int) -> Any:
    import numpy as np
    from stable_baselines3.common import noise

    kind = str(hp["noise_type"]).strip()
    if kind not in NOISE_TYPES:
        raise ValueError(f"noise_type must be one of {', '.join(NOISE_TYPES)}, got {kind!r}")
    if n_actions < 1:
        raise ValueError(f"action noise ({kind}) needs a Box action space")
    if hp.get("noise_std") is None:
        raise ValueError(f"noise_type {kind!r} needs noise_std")
    cls = noise.NormalActionNoise if kind == "normal" else noise.OrnsteinUhlenbeckActionNoise
    sigma = float(hp["noise_std"]) * np.ones(n_actions)
    return cls(mean=np.zeros(n_actions), sigma=sigma)


def prepare(hyperparams: dict[str, Any], n_actions: int) -> Prepared:
    """Turn a zoo entry into SB3 constructor arguments as the zoo's ExperimentManager does
    (see the module docstring).

    Args:
        hyperparams: A zoo entry (possibly with changed values).
        n_actions: Size of a Box action space (for action noise), 0 for a Discrete one.

    Returns:
        The policy name, constructor arguments, number of envs, ``VecNormalize`` arguments
        and the zoo's training length.

    Raises:
        ValueError: a key of :data:`UNSUPPORTED_KEYS` or a custom policy class; a schedule
            other than ``lin_<x>``; a ``noise_type`` not in :data:`NOISE_TYPES`, without
            ``noise_std``, or on a Discrete space; a ``noise_std`` without ``noise_type``; a
            ``normalize``, ``policy_kwargs`` or ``replay_buffer_kwargs`` value of another
            form than the zoo's.
    """
    hp = dict(hyperparams)
    refused = [k for k in UNSUPPORTED_KEYS if k in hp]
    if refused:
        raise ValueError(
            f"zoo keys {', '.join(refused)} are not supported by diffsim's SB3 trainer (it "
            f"cannot reproduce them; refused: {', '.join(UNSUPPORTED_KEYS)})"
        )
    policy = hp.get("policy", "MlpPolicy")
    if not isinstance(policy, str) or "." in policy:
        raise ValueError(f"policy must be one of SB3's policy names, got {policy!r}")
    kwargs = {k: v for k, v in hp.items() if k not in _NOT_SB3}
    for key in SCHEDULE_KEYS:
        value = kwargs.get(key)
        if isinstance(value, str):
            kind, _, initial = value.partition("_")
            if kind != "lin":
                raise ValueError(f"{key}: only lin_<x> schedules exist in the zoo, got {value!r}")
            kwargs[key] = ZooLinearSchedule(float(initial))
    for key in ("policy_kwargs", "replay_buffer_kwargs"):
        if isinstance(kwargs.get(key), str):
            kwargs[key] = _eval_kwargs(kwargs[key], key)
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    if hp.get("noise_type") is not None:
        kwargs["action_noise"] = _action_noise(hp, n_actions)
    elif hp.get("noise_std") is not None:
        raise ValueError(f"noise_std needs a noise_type ({', '.join(NOISE_TYPES)})")
    return Prepared(
        policy=policy,
        kwargs=kwargs,
        n_envs=int(hp.get("n_envs", 1)),
        normalize=_normalize_kwargs(hp),
        n_timesteps=int(hp["n_timesteps"]),
    )
