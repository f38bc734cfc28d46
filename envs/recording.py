"""Recording trajectories from any Gymnasium env in the data format of :mod:`diffsim.identify`.

:func:`record` runs episodes of a Gymnasium id (diffsim's own, ``diffsim/CartPole-v1``, or
Gymnasium's, ``CartPole-v1``) under a policy and returns a :class:`Recording`:

- ``observations`` ``[E, T+1, obs_dim]``: what ``reset`` and ``step`` returned, in the
  observation space's dtype;
- ``actions`` ``[E, T]`` (``int64`` indices, discrete spaces) or ``[E, T, act_dim]`` (the
  action space's dtype): what was passed to ``step``;
- ``mask`` ``[E, T]``: True for the steps taken. An episode that ended (terminated or
  truncated) before ``T`` steps is padded: its last observation repeated, zero actions,
  ``mask`` False.

:meth:`Recording.save` writes these three arrays and a ``meta`` JSON string (how the data
were made) to an ``.npz`` that ``np.load(path, allow_pickle=False)`` reads; ``diffsim fit``
reads it (:func:`diffsim.identify.load_data`).

Changing a constant (``set_attr``): Gymnasium's classic-control envs take most constants only
as attributes set after ``make``, and some constructors derive attributes from others
(CartPole's ``total_mass = masspole + masscart`` and ``polemass_length = masspole *
length``, ``cartpole.py`` lines 105–108 in Gymnasium 1.x), which setting the first would
leave stale. :func:`record` therefore re-derives every attribute that the system's
description (``System.env_attributes``) maps to a computed parameter rather than a field, from
the attributes after the change, and lists them in ``meta["rederived"]``. For diffsim's own
envs, whose attributes are read-only views of their parameters, the env is made again with
``params`` changed instead. An env with no diffsim system description gets the attribute
only (``meta["rederived"]`` is empty and says so).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

Policy = Union[str, Path, Callable[[np.ndarray], Any]]
"""``"random"`` (the action space's sample, seeded), a run directory holding a trained
``policy.pt`` (:func:`diffsim.controllers.load_policy`), or a callable observation → action."""


@dataclasses.dataclass(frozen=True)
class Recording:
    """Recorded episodes (see the module docstring for the arrays' contract).

    Attributes:
        observations: ``[E, T+1, obs_dim]``.
        actions: ``[E, T]`` int64 or ``[E, T, act_dim]``.
        mask: ``[E, T]`` bool, True for the steps taken.
        meta: How the data were made: ``env_id``, ``episodes``, ``steps``, ``policy``,
            ``seed``, ``make_kwargs``, ``set_attr``, ``rederived`` (attribute → value),
            ``transitions``, ``returns`` (per episode), versions.
    """

    observations: np.ndarray
    actions: np.ndarray
    mask: np.ndarray
    meta: dict[str, Any]

    def save(self, path: Union[str, Path]) -> Path:
        """Write the ``.npz`` (``observations``, ``actions``, ``mask``, ``meta`` as a JSON
        string); parent folders are created. Returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:  # np.savez would append .npz to a name without it
            np.savez(
                f,
                observations=self.observations,
                actions=self.actions,
                mask=self.mask,
                meta=np.array(json.dumps(self.meta, default=str)),
            )
        return path

    @classmethod
    def load(cls, path: Union[str, Path]) -> Recording:
        """Read a file :meth:`save` wrote (``meta`` is empty when the file has none).

        Raises:
            FileNotFoundError: no such file.
            ValueError: ``observations`` or ``actions`` is missing.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no recording {path}")
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("observations", "actions") if k not in data.files]
            if missing:
                raise ValueError(f"{path} lacks the array(s) {', '.join(missing)}")
            obs, act = data["observations"], data["actions"]
            mask = data["mask"] if "mask" in data.files else np.ones(act.shape[:2], bool)
            meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
        return cls(obs, act, mask, meta)


def _system_of(env_id: str) -> tuple[Any, Any]:
    """The (System, task parameters) describing ``env_id`` (diffsim's or its Gymnasium
    twin), or ``(None, None)``."""
    from diffsim import systems

    twins = systems.gymnasium_twins()
    name = twins.get(env_id, env_id)
    if name not in systems.task_specs():
        return None, None
    task = systems.get_task_spec(name)
    return systems.get_system(task.system), systems.task_params(task)


def _check_set_attr(set_attr: Any) -> dict[str, Any]:
    if set_attr is None:
        return {}
    if not isinstance(set_attr, Mapping) or not all(isinstance(k, str) for k in set_attr):
        raise TypeError(
            f"set_attr must be a mapping of attribute names to values, got {set_attr!r}"
        )
    return dict(set_attr)


def _set_gymnasium_attributes(
    env: Any, env_id: str, changes: dict[str, Any]
) -> tuple[dict[str, Any], Optional[str]]:
    """Set ``changes`` on ``env.unwrapped`` and re-derive the derived attributes.

    Returns (re-derived attribute → new value, a note when nothing could be re-derived)."""
    unwrapped = env.unwrapped
    system, params = _system_of(env_id)
    for name in changes:
        if name.startswith("_") or not hasattr(unwrapped, name):
            if system is not None:
                known = [a for a in system.env_attributes if hasattr(unwrapped, a)]
            else:
                known = sorted(k for k in vars(unwrapped) if not k.startswith("_"))
            raise ValueError(
                f"{env_id}'s env ({type(unwrapped).__name__}) has no attribute {name!r}; "
                f"expected one of: {', '.join(known)}"
            )
    for name, value in changes.items():
        setattr(unwrapped, name, value)
    if system is None:
        return {}, f"{env_id} has no diffsim system description: no attribute was re-derived"
    fields = {f.name for f in dataclasses.fields(params)}
    current = {
        field: getattr(unwrapped, attr)
        for attr, field in system.env_attributes.items()
        if field in fields and hasattr(unwrapped, attr)
    }
    params = params.replace(**current)
    rederived = {}
    for attr, field in system.env_attributes.items():
        if field in fields or not hasattr(unwrapped, attr) or attr in changes:
            continue
        old = getattr(unwrapped, attr)
        new = type(old)(getattr(params, field)) if isinstance(old, (float, int)) else old
        if new != old:
            setattr(unwrapped, attr, new)
            rederived[attr] = new
    return rederived, None


def _diffsim_params(env: Any, env_id: str, changes: dict[str, Any], make_kwargs: dict) -> Any:
    """The parameters of a diffsim env with the attributes ``changes`` applied."""
    unwrapped = env.unwrapped
    system = unwrapped.system
    params = make_kwargs.get("params") or unwrapped.params
    fields = {f.name for f in dataclasses.fields(params)}
    update = {}
    for name, value in changes.items():
        field = system.env_attributes.get(name, name if name in fields else None)
        if field is None:
            raise ValueError(
                f"{env_id} has no constant {name!r}; expected one of: "
                f"{', '.join(system.env_attributes)}"
            )
        if field not in fields:
            raise ValueError(
                f"{env_id}'s {name} is computed from other parameters ({type(params).__name__}."
                f"{field}); set the fields it derives from instead (one of: {', '.join(fields)})"
            )
        update[field] = value
    return params.replace(**update)


def make_changed(
    env_id: str, set_attr: Optional[Mapping[str, Any]] = None, **make_kwargs: Any
) -> tuple[Any, dict[str, Any], Optional[str]]:
    """``gymnasium.make(env_id, **make_kwargs)`` with constants changed (module docstring).

    Args:
        env_id: A registered Gymnasium id.
        set_attr: Attribute → value to change on ``env.unwrapped`` (Gymnasium's envs, derived
            attributes re-derived) or, for diffsim's envs, in the parameters it is made with.
        **make_kwargs: Passed to ``gymnasium.make``.

    Returns:
        (the env, the re-derived attributes → their new values, a note on how the change
        was made or None).

    Raises:
        TypeError: ``set_attr`` is not a mapping of names.
        ValueError: an unknown attribute, or one diffsim's env computes from others.
    """
    import gymnasium as gym

    changes = _check_set_attr(set_attr)
    env = gym.make(env_id, **make_kwargs)
    if not changes:
        return env, {}, None
    from .env import SystemEnv

    if isinstance(env.unwrapped, SystemEnv):
        try:
            params = _diffsim_params(env, env_id, changes, make_kwargs)
        finally:
            env.close()
        env = gym.make(env_id, **{**make_kwargs, "params": params})
        return env, {}, "diffsim env: made with params changed"
    try:
        rederived, note = _set_gymnasium_attributes(env, env_id, changes)
    except ValueError:
        env.close()
        raise
    return env, rederived, note


def _policy_fn(policy: Policy, env: Any, seed: int) -> tuple[Callable[[np.ndarray], Any], str]:
    if isinstance(policy, str) and policy == "random":
        env.action_space.seed(seed)
        return (lambda obs: env.action_space.sample()), "random"
    if isinstance(policy, (str, Path)):
        from diffsim.controllers import load_policy

        agent = load_policy(policy)
        return agent.act, str(policy)
    if callable(policy):
        return policy, getattr(policy, "__name__", type(policy).__name__)
    raise TypeError(
        "policy must be 'random', a run directory with a policy.pt, or a callable "
        f"observation -> action; got {policy!r}"
    )


def record(
    env_id: str,
    episodes: int,
    policy: Policy = "random",
    *,
    steps: Optional[int] = None,
    seed: int = 0,
    make_kwargs: Optional[Mapping[str, Any]] = None,
    set_attr: Optional[Mapping[str, Any]] = None,
    progress: bool = False,
) -> Recording:
    """Run ``episodes`` episodes of ``env_id`` under ``policy`` and keep what the env returned.

    Args:
        env_id: A registered Gymnasium id (diffsim's or Gymnasium's own).
        episodes: How many episodes (≥ 1).
        policy: ``"random"``, a run directory, or a callable (:data:`Policy`).
        steps: Steps per episode at most (``T``; the env is made with this time limit);
            default the id's ``max_episode_steps``.
        seed: The first reset's seed (later episodes continue the env's generator, as
            Gymnasium's convention is) and the random policy's action-space seed.
        make_kwargs: Keyword arguments of ``gymnasium.make``.
        set_attr: Constants to change on ``env.unwrapped`` after ``make`` (attribute →
            value), derived attributes re-derived (see the module docstring).
        progress: Show a progress bar (tqdm) over the episodes.

    Returns:
        A :class:`Recording`.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: an unknown id, ``episodes`` or ``steps`` below 1, no time limit and no
            ``steps``, an unknown attribute, an attribute computed from others (diffsim's
            envs), or an action the env refuses.
    """
    import gymnasium as gym

    import diffsim  # noqa: F401  (registers diffsim's ids)

    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a Gymnasium id (str), got {type(env_id).__name__}")
    if env_id not in gym.registry:
        near = difflib.get_close_matches(env_id, list(gym.registry), n=5, cutoff=0.6)
        raise ValueError(
            f"unknown Gymnasium id {env_id!r}"
            + (f"; similar ids: {', '.join(near)}" if near else "")
        )
    for name, value, low in (("episodes", episodes, 1), ("steps", steps, 1)):
        if value is None and name == "steps":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    kwargs = dict(make_kwargs or {})
    changes = _check_set_attr(set_attr)
    limit = kwargs.pop("max_episode_steps", None)
    if limit is not None and steps is not None and limit != steps:
        raise ValueError(
            f"make_kwargs' max_episode_steps={limit!r} contradicts steps={steps!r}; give one"
        )
    steps = steps if steps is not None else limit
    if steps is None:
        steps = gym.spec(env_id).max_episode_steps
        if steps is None:
            raise ValueError(f"{env_id} has no time limit: pass steps (the episode length)")
    env, rederived, note = make_changed(env_id, changes, max_episode_steps=int(steps), **kwargs)
    act, policy_name = _policy_fn(policy, env, int(seed))

    obs_space, act_space = env.observation_space, env.action_space
    discrete = isinstance(act_space, gym.spaces.Discrete)
    T = int(steps)
    observations = np.zeros((episodes, T + 1, *obs_space.shape), obs_space.dtype)
    act_shape = () if discrete else act_space.shape
    actions = np.zeros((episodes, T, *act_shape), np.int64 if discrete else act_space.dtype)
    mask = np.zeros((episodes, T), bool)
    returns = np.zeros(episodes)

    from tqdm.auto import tqdm

    for e in tqdm(range(episodes), desc=f"recording {env_id}", disable=not progress):
        obs, _ = env.reset(seed=int(seed) if e == 0 else None)
        observations[e, 0] = obs
        for t in range(T):
            a = act(obs)
            if a not in act_space:
                env.close()
                raise ValueError(
                    f"the policy gave the action {a!r}, outside {env_id}'s action space {act_space}"
                )
            obs, reward, terminated, truncated, _ = env.step(a)
            actions[e, t], mask[e, t] = a, True
            observations[e, t + 1] = obs
            returns[e] += float(reward)
            if terminated or truncated:
                observations[e, t + 2 :] = obs
                break
    env.close()
    meta = {
        "env_id": env_id,
        "episodes": int(episodes),
        "steps": T,
        "policy": policy_name,
        "seed": int(seed),
        "make_kwargs": {k: v for k, v in kwargs.items() if k != "params"},
        "set_attr": changes,
        "rederived": rederived,
        "transitions": int(mask.sum()),
        "returns": returns.tolist(),
        "gymnasium": gym.__version__,
        "diffsim": diffsim.__version__,
    }
    if note:
        meta["note"] = note
    return Recording(observations, actions, mask, meta)
