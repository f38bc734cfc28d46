"""Stable-Baselines3 agents (PPO, A2C, DQN, SAC, TD3) behind the generic training loop.

Each method trains SB3's algorithm with the RL Baselines3 Zoo's tuned hyperparameters
(:mod:`diffsim.controllers.zoo`) on a Gymnasium id (this project's, or for the equivalence
check Gymnasium's own twin such as ``CartPole-v1``) through the Gymnasium API: a
``DummyVecEnv`` of ``gymnasium.make(id)``, as the zoo builds it. Results:
``docs/baselines.md`` and ``docs/benchmarks.md``.

Updates and transitions
    :meth:`SB3Trainer.update` calls ``model.learn(n, reset_num_timesteps=False)`` with ``n``
    the distance to the next evaluation point (the training loop's ``max_transitions``), or
    to the next multiple of ``chunk`` when that is set (or when called outside the loop:
    :data:`DEFAULT_CHUNK`). SB3 stops only at the end of a rollout (``n_steps × n_envs``
    steps for PPO and A2C, ``train_freq × n_envs`` for DQN, SAC and TD3), so an update ends
    at the first such boundary at or past that point. ``transitions`` is the growth of
    SB3's ``num_timesteps``: every step of every env of the ``DummyVecEnv``. A sequence of
    such calls trains as one long ``learn`` call would, schedules included: SB3 computes
    them (``lin_<x>`` learning rates and clip ranges, DQN's exploration) from the progress
    of the *current* ``learn`` call, and here progress is ``num_timesteps /
    schedule_timesteps`` (the zoo's ``n_timesteps``), as in the zoo's single run. Past
    ``schedule_timesteps`` the schedules hold their final value.

Resume (``state_dict``)
    A checkpoint holds the model (SB3's zip: weights, optimiser states and every attribute,
    the last observations included), the training envs pickled mid-episode (their states,
    time-limit counters, RNGs and ``VecNormalize`` statistics), the filled part of the
    replay buffer (off-policy), and the generators SB3 draws from: torch's, NumPy's and
    Python's global ones and the action space's. A resumed run continues as the
    uninterrupted one. Not restored: SB3's logger and its timing fields, which do not
    affect training. SB3 draws from the *global* generators, so anything else in the
    process drawing from them between updates changes the run.

Policy file
    ``policy.pt`` of kind ``"sb3"`` (written by
    :func:`~diffsim.controllers.checkpoint.write_policy`): its payload holds the algorithm,
    SB3's zip bytes and the ``VecNormalize`` observation statistics if any. :func:`load_sb3`
    rebuilds an :class:`SB3Agent` whose ``act(obs)`` gives SB3's deterministic action in
    the env's space.
"""

from __future__ import annotations

import copy
import io
import pickle
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from . import zoo
from ._fields import check_fields
from .checkpoint import CheckpointError, check_observations, write_policy

KIND = "sb3"
"""The policy kind written to ``policy.pt``."""

ALGOS = ("ppo", "a2c", "dqn", "sac", "td3")
SPACES = {"ppo": "any", "a2c": "any", "dqn": "Discrete", "sac": "Box", "td3": "Box"}
"""The action spaces each algorithm handles (SB3's own restrictions)."""

DEFAULT_CHUNK = 1000
"""Transitions per ``update()`` called outside the training loop without ``chunk``."""


def require(package: str) -> Any:
    """Import an optional dependency, or raise an ImportError naming the extra."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise ImportError(
            f"this method needs {package}, which is not installed: "
            "pip install 'diffsim[baselines]' (or pip install -e '.[baselines]' in a clone)"
        ) from None


def _algo_class(algo: str) -> type:
    sb3 = require("stable_baselines3")
    return getattr(sb3, algo.upper())


def action_space(env_id: str) -> Any:
    """The action space of a registered Gymnasium id."""
    import gymnasium as gym

    env = gym.make(env_id)
    try:
        return env.action_space
    finally:
        env.close()


def check_space(algo: str, env_id: str) -> Any:
    """The env's action space, or a ValueError if ``algo`` cannot act in it."""
    space = action_space(env_id)
    needed = SPACES[algo]
    if needed != "any" and type(space).__name__ != needed:
        fits = [a for a, s in SPACES.items() if s in ("any", type(space).__name__)]
        raise ValueError(
            f"{algo} needs a {needed} action space; {env_id} has {space}. "
            f"Methods for this env's space: {', '.join(fits)}"
        )
    return space


@dataclass
class SB3Config:
    """An SB3 algorithm's hyperparameters (default: the zoo's tuned entry for the task).

    Attributes:
        hyperparams: The zoo's entry as in its YAML (see :mod:`diffsim.controllers.zoo`),
            ``n_envs``, ``n_timesteps``, ``normalize``, ``noise_type`` and schedules ``"lin_<x>"``
            included. Replacing it replaces the whole entry.
        overrides: Changes to single entries of ``hyperparams`` (e.g.
            ``{"learning_rate": 1e-3}``), applied on top of it.
        zoo_entry: Where ``hyperparams`` comes from (repository, version, file, entry).
        schedule_timesteps: Transitions over which the schedules run (None: the zoo's
            ``n_timesteps``).
        chunk: Transitions per ``update()`` (rounded up to whole rollouts; None: up to the
            training loop's next evaluation point, 1,000 outside it).
    """

    hyperparams: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    zoo_entry: str = ""
    schedule_timesteps: Optional[int] = None
    chunk: Optional[int] = None

    def __post_init__(self) -> None:
        check_fields(self)
        if "n_timesteps" not in {**self.hyperparams, **self.overrides}:
            raise ValueError("hyperparams must hold the zoo's n_timesteps")
        for name in ("schedule_timesteps", "chunk"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")

    @property
    def merged(self) -> dict[str, Any]:
        """``hyperparams`` with ``overrides`` applied."""
        return {**self.hyperparams, **self.overrides}


def default_config(algo: str, env_id: str) -> SB3Config:
    """The zoo's tuned configuration of ``algo`` for ``env_id`` (errors name what fits)."""
    check_space(algo, env_id)
    name = zoo.entry(algo, env_id)
    if name is None:
        have = [e for e, n in zoo.ZOO_ENTRY.items() if n in zoo.ZOO[algo]]
        raise ValueError(
            f"the RL Baselines3 Zoo has no tuned hyperparameters of {algo} for {env_id}; "
            f"{algo} is available on {', '.join(have)}"
        )
    return SB3Config(
        hyperparams=copy.deepcopy(zoo.ZOO[algo][name]),
        zoo_entry=zoo.ZOO_SOURCE.format(algo=algo, entry=name),
    )


def default_budget(algo: str, env_id: str) -> int:
    """The zoo's ``n_timesteps`` for ``algo`` on ``env_id`` (its whole schedule)."""
    return int(default_config(algo, env_id).merged["n_timesteps"])


_SCHEDULED: dict[str, type] = {}


def _scheduled_class(algo: str) -> type:
    """SB3's class for ``algo`` with progress measured against ``schedule_timesteps``."""
    if algo not in _SCHEDULED:
        base = _algo_class(algo)

        def _update_current_progress_remaining(
            self: Any, num_timesteps: int, total_timesteps: int
        ) -> None:
            total = self.schedule_timesteps
            base._update_current_progress_remaining(self, min(num_timesteps, total), total)

        _SCHEDULED[algo] = type(
            base.__name__,
            (base,),
            {
                "_update_current_progress_remaining": _update_current_progress_remaining,
                "__module__": __name__,
                "__doc__": f"SB3's {base.__name__}; schedules run over schedule_timesteps.",
            },
        )
    return _SCHEDULED[algo]


def _quiet_logger() -> Any:
    """An SB3 logger that writes nothing anywhere.

    Without one, every ``learn`` call configures SB3's default logger, which creates an
    empty ``SB3-<date>`` directory in the system's temporary directory even at
    ``verbose=0``; the training loop keeps its own metrics in the run directory.
    """
    from stable_baselines3.common.logger import Logger

    return Logger(folder=None, output_formats=[])


class SB3Trainer:
    """An SB3 algorithm as a :class:`~diffsim.controllers.trainer.Trainer` (see the module
    docstring); :data:`TRAINERS` holds one subclass per algorithm.

    Args:
        env_id: A Gymnasium id (this project's, or Gymnasium's twin of one: a key of
            :data:`~diffsim.controllers.zoo.ZOO_ENTRY`).
        config: The hyperparameters (:func:`default_config`).
        seed: Seeds SB3 (its model, the global generators it uses) and the envs
            (``seed + i`` for env ``i``), as the zoo does.
        device: Torch device of the networks.
    """

    algo: str = ""
    """The algorithm (a key of :data:`SPACES`), set by each subclass."""

    @classmethod
    def default_config(cls, env_id: str) -> SB3Config:
        """The zoo's tuned configuration of this algorithm for ``env_id``
        (:func:`default_config`)."""
        return default_config(cls.algo, env_id)

    @classmethod
    def default_budget(cls, env_id: str) -> int:
        """The zoo's ``n_timesteps`` of this algorithm for ``env_id`` (:func:`default_budget`)."""
        return default_budget(cls.algo, env_id)

    def __init__(self, env_id: str, config: SB3Config, seed: int, device: str = "cpu"):
        space = check_space(self.algo, env_id)
        self.env_id = env_id
        self.config = config
        self.seed = int(seed)
        self.device = device
        self.discrete = type(space).__name__ == "Discrete"
        n_actions = 0 if self.discrete else int(np.prod(space.shape))
        self.prepared = zoo.prepare(config.merged, n_actions)
        self.chunk = config.chunk or DEFAULT_CHUNK
        env = self._make_env()
        cls = _scheduled_class(self.algo)
        self.model = cls(
            self.prepared.policy,
            env,
            seed=self.seed,
            device=device,
            verbose=0,
            **self.prepared.kwargs,
        )
        self.model.set_logger(_quiet_logger())
        self.model.schedule_timesteps = config.schedule_timesteps or self.prepared.n_timesteps

    def _make_env(self) -> Any:
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

        env = make_vec_env(
            self.env_id, n_envs=self.prepared.n_envs, seed=self.seed, vec_env_cls=DummyVecEnv
        )
        if self.prepared.normalize is not None:
            env = VecNormalize(env, **self.prepared.normalize)
        return env

    @property
    def policy(self) -> torch.nn.Module:
        """SB3's policy network (the loop puts it back in training mode after evaluating)."""
        return self.model.policy

    def update(self, max_transitions: Optional[int] = None) -> dict[str, float]:
        """``model.learn`` up to the next evaluation point, or the next multiple of ``chunk``.

        Args:
            max_transitions: Transitions left before the training loop's next evaluation;
                SB3 finishes its current rollout, so it may go past (see the module).
        """
        model = self.model
        start = model.num_timesteps
        if self.config.chunk is None and max_transitions is not None:
            steps = max(1, max_transitions)
        else:
            steps = (start // self.chunk + 1) * self.chunk - start
        model.learn(steps, reset_num_timesteps=False, progress_bar=False)
        metrics: dict[str, float] = {
            "transitions": model.num_timesteps - start,
            "gradient_steps": float(model._n_updates),
        }
        if model.ep_info_buffer:
            metrics["train_return"] = float(np.mean([ep["r"] for ep in model.ep_info_buffer]))
        for key in ("train/loss", "train/learning_rate"):
            if key in model.logger.name_to_value:
                metrics[key.split("/")[1]] = float(model.logger.name_to_value[key])
        return metrics

    # -- acting and saving ------------------------------------------------------------
    def _obs_stats(self) -> Optional[dict[str, Any]]:
        vec_normalize = self.model.get_vec_normalize_env()
        if vec_normalize is None or not vec_normalize.norm_obs:
            return None
        return {
            "mean": torch.from_numpy(np.array(vec_normalize.obs_rms.mean, dtype=np.float64)),
            "var": torch.from_numpy(np.array(vec_normalize.obs_rms.var, dtype=np.float64)),
            "epsilon": float(vec_normalize.epsilon),
            "clip_obs": float(vec_normalize.clip_obs),
        }

    def agent(self) -> SB3Agent:
        """The current policy behind ``act(obs)`` (normalisation statistics frozen)."""
        return SB3Agent(self.model.policy, self.env_id, self.discrete, self._obs_stats())

    def save(self, path: Union[str, Path]) -> None:
        """Write ``policy.pt`` of kind ``"sb3"`` (see the module docstring), atomically."""
        buffer = io.BytesIO()
        self.model.save(buffer, exclude=["replay_buffer"])
        write_policy(
            path,
            KIND,
            {"algo": self.algo, "sb3_zip": buffer.getvalue(), "obs_stats": self._obs_stats()},
            env_id=self.env_id,
            discrete=self.discrete,
            method=self.algo,
        )

    # -- checkpointing ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Model, envs, replay buffer and generators (see the module docstring)."""
        from stable_baselines3.common.vec_env import VecNormalize

        model = self.model
        buffer = io.BytesIO()
        model.save(buffer)
        env = model.get_env()
        normalize = env if isinstance(env, VecNormalize) else None
        venv = normalize.venv if normalize is not None else env
        return {
            "model": buffer.getvalue(),
            "venv": pickle.dumps(venv),
            "normalize": pickle.dumps(normalize) if normalize is not None else None,
            "normalize_returns": normalize.returns.copy() if normalize is not None else None,
            "replay_buffer": _buffer_state(getattr(model, "replay_buffer", None)),
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),  # noqa: NPY002 (SB3 draws from it)
                "python": random.getstate(),
                "action_space": model.action_space.np_random.bit_generator.state,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        venv = pickle.loads(state["venv"])
        env = venv
        if state["normalize"] is not None:
            env = pickle.loads(state["normalize"])
            env.set_venv(venv)
            env.returns = state["normalize_returns"].copy()
        pending_seeds = list(venv._seeds)
        cls = _scheduled_class(self.algo)
        self.model = cls.load(
            io.BytesIO(state["model"]), env=env, device=self.device, force_reset=False
        )
        self.model.set_logger(_quiet_logger())
        venv._seeds = pending_seeds  # load() re-seeds the envs' next reset; undo that
        if state["replay_buffer"] is not None:
            _load_buffer(self.model.replay_buffer, state["replay_buffer"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])  # noqa: NPY002
        random.setstate(rng["python"])
        self.model.action_space.np_random.bit_generator.state = rng["action_space"]


def _buffer_state(buffer: Any) -> Optional[dict[str, Any]]:
    """The filled part of an SB3 replay buffer (its arrays cut to the stored length)."""
    if buffer is None:
        return None
    n = buffer.buffer_size if buffer.full else buffer.pos
    arrays = {
        k: v[:n].copy()
        for k, v in vars(buffer).items()
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == buffer.buffer_size
    }
    return {"pos": buffer.pos, "full": buffer.full, "arrays": arrays}


def _load_buffer(buffer: Any, state: dict[str, Any]) -> None:
    for name, values in state["arrays"].items():
        getattr(buffer, name)[: len(values)] = values
    buffer.pos = state["pos"]
    buffer.full = state["full"]


class PPOTrainer(SB3Trainer):
    """SB3's PPO (:class:`SB3Trainer`)."""

    algo = "ppo"


class A2CTrainer(SB3Trainer):
    """SB3's A2C (:class:`SB3Trainer`)."""

    algo = "a2c"


class DQNTrainer(SB3Trainer):
    """SB3's DQN (:class:`SB3Trainer`)."""

    algo = "dqn"


class SACTrainer(SB3Trainer):
    """SB3's SAC (:class:`SB3Trainer`)."""

    algo = "sac"


class TD3Trainer(SB3Trainer):
    """SB3's TD3 (:class:`SB3Trainer`)."""

    algo = "td3"


TRAINERS: dict[str, type[SB3Trainer]] = {
    cls.algo: cls for cls in (PPOTrainer, A2CTrainer, DQNTrainer, SACTrainer, TD3Trainer)
}
"""The trainer class of each algorithm (the registry's ``diffsim.controllers.baselines:
<ALGO>Trainer`` entries)."""


def trainer_class(algo: str) -> type[SB3Trainer]:
    """The :class:`SB3Trainer` subclass for ``algo`` (:data:`TRAINERS`)."""
    return TRAINERS[algo]


class SB3Agent:
    """An SB3 policy behind the env's action space: ``act(obs)`` → deterministic action.

    ``obs`` is one observation or a batch ``[B, obs]``. CartPole's action is an int (an
    ``int64`` array ``[B]`` for a batch); a Box action is ``float32`` ``[dim]`` (or
    ``[B, dim]``), clipped to the space as SB3's ``predict`` does. With ``obs_stats`` the
    observation is first normalised as SB3's ``VecNormalize`` does (frozen statistics).
    """

    def __init__(
        self,
        policy: Any,
        env_id: str,
        discrete: bool,
        obs_stats: Optional[dict[str, Any]] = None,
    ):
        self.policy = policy
        self.env_id = env_id
        self.discrete = discrete
        self.obs_stats = obs_stats
        self.obs_shape = tuple(policy.observation_space.shape)
        if len(self.obs_shape) != 1:
            raise ValueError(
                f"SB3Agent acts on vector observations; {env_id}'s policy takes shape "
                f"{list(self.obs_shape)}"
            )

    def act(self, obs: np.ndarray) -> Union[int, np.ndarray]:
        """SB3's deterministic action of one observation or a batch (see the class).

        Raises:
            ValueError: ``obs`` is not ``[obs]`` or ``[B, obs]``.
        """
        batch, single = check_observations(obs, self.obs_shape[0])
        if self.obs_stats is not None:
            s = self.obs_stats
            std = np.sqrt(s["var"].numpy() + s["epsilon"])
            batch = np.clip((batch - s["mean"].numpy()) / std, -s["clip_obs"], s["clip_obs"])
        actions, _ = self.policy.predict(batch, deterministic=True)
        if self.discrete:
            actions = np.asarray(actions, dtype=np.int64).reshape(len(batch))
            return int(actions[0]) if single else actions
        actions = np.asarray(actions, dtype=np.float32)
        return actions[0] if single else actions


def load_sb3(path: Path, data: dict[str, Any]) -> SB3Agent:
    """The loader of ``policy.pt`` files of kind ``"sb3"`` (``data`` as
    :func:`~diffsim.controllers.checkpoint.read_policy_file` gives it).

    Raises:
        CheckpointError: the payload is not an SB3 policy, or SB3 cannot read its zip.
    """
    payload = data["payload"]
    algo = payload.get("algo")
    if algo not in ALGOS or not isinstance(payload.get("sb3_zip"), bytes):
        raise CheckpointError(f"{path}: not an SB3 policy file (algo {algo!r})")
    cls = _algo_class(algo)
    kwargs = {"buffer_size": 1} if algo in ("dqn", "sac", "td3") else {}
    try:
        model = cls.load(io.BytesIO(payload["sb3_zip"]), device="cpu", **kwargs)
    except Exception as exc:  # SB3 raises many kinds for a damaged zip
        raise CheckpointError(
            f"{path}: the SB3 model cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    return SB3Agent(model.policy, data["env_id"], bool(data["discrete"]), payload.get("obs_stats"))


def methods() -> list[Any]:
    """Deprecated: the baselines' entries of :mod:`diffsim.controllers.methods` (SB3's five
    algorithms, ``cmaes`` and ``retrofit``); read them there with
    :func:`~diffsim.controllers.methods.get_method`."""
    from . import methods as registry

    warnings.warn(
        "diffsim.controllers.baselines.methods() is deprecated: the methods are entries of "
        "diffsim.controllers.methods (get_method(name), METHODS)",
        DeprecationWarning,
        stacklevel=2,
    )
    return [registry.get_method(name) for name in (*ALGOS, "cmaes", "retrofit")]
