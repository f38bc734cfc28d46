"""Validation of actions at the Gymnasium boundary (private).

The physics' unchecked ``_step`` functions are called only with actions that passed these
checks, so a bad action raises here, before anything changes, and the env stays usable.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import numpy as np
from gymnasium import spaces


def _describe(action: Any) -> str:
    if isinstance(action, np.ndarray):
        return f"array of shape {action.shape} and dtype {action.dtype}"
    return f"{type(action).__name__} {action!r}"


def discrete_action(action: Any, space: spaces.Discrete, env: str) -> int:
    """Return a single discrete action as a Python int, or raise.

    Accepts a Python int, a NumPy integer or a 0-d integer array (what Gymnasium's
    ``Discrete.contains`` accepts).

    Raises:
        TypeError: for a bool, a float or any non-integer value.
        ValueError: for an integer outside ``{start, ..., start + n - 1}``.
    """
    if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
        action = action.item()
    if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
        raise TypeError(
            f"{env}: the action must be an integer in {{0, ..., {space.n - 1}}} "
            f"(space {space}), got {_describe(action)}"
        )
    value = int(action)
    start = int(space.start)
    if not start <= value < start + int(space.n):
        raise ValueError(
            f"{env}: the action must be one of {list(range(start, start + int(space.n)))} "
            f"(space {space}), got {value}"
        )
    return value


def discrete_actions(actions: Any, space: spaces.MultiDiscrete, env: str) -> np.ndarray:
    """Return a batch of discrete actions ``[num_envs]`` as an int64 array, or raise."""
    arr = np.asarray(actions) if not isinstance(actions, np.ndarray) else actions
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{env}: the actions must be an integer array of shape {space.shape} "
            f"with values in [0, {int(space.nvec.flat[0]) - 1}], got {_describe(arr)}"
        )
    if arr.shape != space.shape:
        raise ValueError(
            f"{env}: the actions must have shape {space.shape} (one per sub-env), got {arr.shape}"
        )
    if (arr < 0).any() or (arr >= space.nvec).any():
        bad = np.flatnonzero((arr < 0) | (arr >= space.nvec))
        raise ValueError(
            f"{env}: every action must be in [0, {int(space.nvec.flat[0]) - 1}]; sub-env(s) "
            f"{bad[:10].tolist()} got {arr[bad[:10]].tolist()}"
        )
    return arr.astype(np.int64, copy=False)


def box_action(
    action: Any,
    space: spaces.Box,
    env: str,
    clip: bool = True,
    bound: Optional[float] = None,
) -> np.ndarray:
    """Return a continuous action (or batch) as a fresh array of the space's dtype, clipped.

    Args:
        action: Array-like of exactly ``space.shape``, of a real (integer or floating) dtype.
        space: The action space (single or batched).
        env: The env's name, for the message.
        clip: Clip to the space's bounds (else only the checks are made).
        bound: If given, refuse any entry with ``|entry| > bound`` (for an env that does
            not clip, e.g. the unclipped Pendulum's ``torque_bound``), checked on the values
            as given, before the cast.

    Raises:
        TypeError: for a non-numeric, boolean or complex action.
        ValueError: for the wrong shape, a NaN / infinite entry, an entry beyond ``bound``,
            or a finite entry that the cast to the space's dtype would turn into an
            infinity (e.g. 1e300 to float32). Nothing is changed: the env stays usable.
    """
    if (
        bound is None
        and type(action) is np.ndarray
        and action.shape == (1,) == space.shape
        and action.dtype == space.dtype
    ):  # one action of the space's dtype (as sampled): the same checks and clip on a float
        value = action.item()
        if math.isfinite(value):
            if clip:  # np.minimum(np.maximum(...))'s values: equal bounds keep the action's
                value = min(max(value, space.low.item(0)), space.high.item(0))
            return np.array((value,), dtype=space.dtype)
    try:
        arr = action if isinstance(action, np.ndarray) else np.asarray(action)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{env}: the action must be a real array of shape {space.shape}, got "
            f"{_describe(action)}"
        ) from err
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{env}: the action must be a real (integer or floating) array of shape "
            f"{space.shape}, got {_describe(arr)}"
        )
    if arr.shape != space.shape:
        raise ValueError(f"{env}: the action must have shape {space.shape}, got {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(
            f"{env}: the action must be finite (no NaN or inf), got {arr.ravel()[:10].tolist()}"
        )
    if bound is not None and (np.abs(arr) > bound).any():
        bad = np.flatnonzero(np.abs(arr).ravel() > bound)
        raise ValueError(
            f"{env}: the action must lie within ±{bound:g} (the env's action_bound: it applies "
            f"actions unclipped and refuses larger ones to keep the state finite), got "
            f"{arr.ravel()[bad[:10]].tolist()} at flat index {bad[:10].tolist()}"
        )
    # np.clip's values; the ufuncs directly cost less than np.clip's wrapper. Either way the
    # result is a new array (a copy when nothing else makes one), never the caller's.
    out = np.minimum(np.maximum(arr, space.low), space.high) if clip else arr
    if out.dtype == space.dtype:
        return out.copy() if out is action else out
    with np.errstate(over="ignore"):  # an overflow is refused just below, not warned about
        out = out.astype(space.dtype)
    # A narrowing cast (e.g. float64 to float32) overflows to inf above the target's largest
    # value: refuse rather than step with an infinity (the input was finite, checked above).
    if out.dtype.kind == "f":
        if not np.isfinite(out).all():
            bad = np.flatnonzero(~np.isfinite(out).ravel())
            raise ValueError(
                f"{env}: the action must be representable in the action space's "
                f"dtype {space.dtype} (|entry| <= {float(np.finfo(space.dtype).max):g}), got "
                f"{arr.ravel()[bad[:10]].tolist()} at flat index {bad[:10].tolist()}"
            )
    return out


def ready_to_render(env: Any, state: Any) -> bool:
    """Gymnasium's render preconditions: warn and return False without a render mode; raise
    ``ResetNeeded`` when the env has no state yet (``state is None``)."""
    from gymnasium import logger
    from gymnasium.error import ResetNeeded

    if env.render_mode is None:
        logger.warn(
            "You are calling render method without specifying any render mode; pass "
            'render_mode="rgb_array" to the constructor or gymnasium.make.'
        )
        return False
    if state is None:
        raise ResetNeeded(f"{type(env).__name__}: call reset() before render()")
    return True


def state_array(
    value: Any,
    names: tuple[str, ...],
    env: str,
    what: str = "state",
    num_envs: Optional[int] = None,
) -> np.ndarray:
    """Return a state assigned to an env (``env.unwrapped.state = value``) as a fresh
    C-contiguous float64 array, or raise.

    Args:
        value: Array-like of exactly ``(len(names),)`` real (integer or floating) finite
            numbers, in the units of the env's state; ``(len(names), num_envs)`` for a vector
            env (one column per sub-env).
        names: The state entries' names, for the message (e.g. ``("theta", "theta_dot")``).
        env: The env's name, for the message.
        what: What is being set, for the message (``"state"``, ``"options['state']"``).
        num_envs: None for a single env's state, else the vector env's number of sub-envs.

    Raises:
        TypeError: for a non-numeric, boolean, complex or object value.
        ValueError: for the wrong shape or a NaN / infinite entry. Nothing is changed.
    """
    n = len(names)
    if num_envs is None:
        shape: tuple[int, ...] = (n,)
        expected = f"{n} finite real numbers ({', '.join(names)}), shape ({n},)"
    else:
        shape = (n, num_envs)
        expected = (
            f"finite real numbers of shape ({n}, {num_envs}): one row per state entry "
            f"({', '.join(names)}), one column per sub-env"
        )
    try:
        arr = np.array(value, copy=True, order="C")
    except (TypeError, ValueError) as err:
        raise TypeError(f"{env}: {what} must be {expected}, got {_describe(value)}") from err
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{env}: {what} must be {expected}, got {_describe(value)}")
    if arr.shape != shape:
        raise ValueError(f"{env}: {what} must be {expected}, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        bad = arr if num_envs is None else arr[:, ~np.isfinite(arr).all(axis=0)][:, :5]
        raise ValueError(f"{env}: {what} must be {expected}, got {bad.tolist()}")
    return arr


def read_only_message(env: Any, attr: str, system: Any, value: Any) -> str:
    """The ``AttributeError`` message for assigning a read-only attribute of an env: what
    the attribute is a view onto, and how to build an env with another value instead.

    Args:
        env: The env (its ``task``, ``params`` and class name are read).
        attr: The attribute's name.
        system: The env's :class:`~diffsim.systems.System`.
        value: The value that was assigned (shown in the suggestion).
    """
    owner = type(env).__name__
    env_id = env.task.env_id
    if attr in system.env_attributes:
        field = system.env_attributes[attr]
        if field in {f.name for f in dataclasses.fields(env.params)}:
            return (
                f"{owner}.{attr} is read-only (a view onto params.{field}); to change it, build "
                f"the env with other parameters, e.g. gym.make({env_id!r}, "
                f"params=env.unwrapped.params.replace({field}={value!r}))"
            )
        return (
            f"{owner}.{attr} is read-only (params.{field}, computed from other parameters); "
            f"to change it, build the env with other parameters, e.g. gym.make({env_id!r}, "
            "params=env.unwrapped.params.replace(...)) changing the fields it derives from"
        )
    if attr == system.integrator_attribute:
        return (
            f"{owner}.{attr} is read-only (the integrator's name); to change it, build the env "
            f"with another integrator, e.g. gym.make({env_id!r}, integrator={value!r})"
        )
    if attr in env.options:
        return (
            f"{owner}.{attr} is read-only (a constructor option); to change it, build the env "
            f"with it, e.g. gym.make({env_id!r}, {attr}={value!r})"
        )
    return (
        f"{owner}.{attr} is read-only (fixed at construction: the spaces and checks derive "
        f"from it); build another env, e.g. gym.make({env_id!r}, {attr}={value!r})"
    )


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
"""The unsigned integer type of each integer size (bytes), for :func:`discrete_lookup`."""


def discrete_lookup(actions: Any, table: np.ndarray, space: spaces.MultiDiscrete, env: str) -> Any:
    """The physical actions ``table[actions]`` of a batch of discrete actions, checked.

    One pass does the range check and the lookup: the integers are read as unsigned (a
    negative index becomes huge) and ``np.take`` refuses any index beyond the table; a bad
    batch is then described by :func:`discrete_actions`.

    Raises:
        TypeError, ValueError: as :func:`discrete_actions`; nothing is changed.
    """
    arr = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
    kind = arr.dtype.kind
    if (kind == "i" or kind == "u") and arr.shape == space.shape:
        index = arr if kind == "u" else arr.view(_UNSIGNED[arr.dtype.itemsize])
        try:
            return table.take(index)
        except IndexError:
            pass
    discrete_actions(arr, space, env)  # raises with the reason
    raise AssertionError("unreachable: discrete_actions accepted a batch np.take refused")
