"""Input checks used at the public boundaries of diffsim.

These helpers may synchronise with the device (they read tensor values); they are called
when parameters are built and when a public entry point receives its inputs, never inside
the per-step physics, which must stay free of host synchronisation so that it can be
compiled or captured in a CUDA graph.

:func:`check_choice` is defined in :mod:`diffsim._choice` (which :mod:`diffsim.integrators`
uses too) and imported from here as well; :func:`checked_step` uses
:func:`diffsim.integrators.get_integrator`, so this module imports the integrators and never
the reverse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional, Union

import numpy as np
import torch

from . import _debug
from ._array import Array, ops
from ._choice import check_choice
from .integrators import get_integrator

__all__ = [
    "FLOAT_DTYPES",
    "Scalar",
    "check_action",
    "check_choice",
    "check_param_shapes",
    "check_scalar",
    "check_state",
    "checked_step",
    "stack_components",
]

Scalar = Union[float, torch.Tensor]
"""A physical quantity: a Python float, or a tensor (possibly batched, possibly requiring grad)."""

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _all_finite(value: Scalar) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.detach()).all())
    return math.isfinite(float(value))


def _all_positive(value: Scalar) -> bool:
    if isinstance(value, torch.Tensor):
        return bool((value.detach() > 0).all())
    return float(value) > 0


def check_scalar(name: str, value: object, *, positive: bool = False, owner: str = "") -> None:
    """Raise if ``value`` is not a finite real number or floating tensor (positive if asked).

    Args:
        name: The parameter's name, used in the error message.
        value: The value to check.
        positive: Require every entry to be strictly positive.
        owner: The container's name (e.g. ``"CartPoleParams"``), used in the error message.
    """
    where = f"{owner}.{name}" if owner else name
    if isinstance(value, bool) or not isinstance(value, (int, float, torch.Tensor)):
        raise TypeError(
            f"{where} must be a float or a floating-point torch.Tensor, got {type(value).__name__}"
        )
    if isinstance(value, torch.Tensor) and value.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{where} must have a floating dtype, got {value.dtype}")
    if not _all_finite(value):
        raise ValueError(f"{where} must be finite, got {_show(value)}")
    if positive and not _all_positive(value):
        raise ValueError(f"{where} must be > 0, got {_show(value)}")


def _show(value: Scalar) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor with values {value.detach().flatten()[:6].tolist()}"
    return repr(value)


def _is_numpy(x: object) -> bool:
    return isinstance(x, (np.ndarray, np.floating))


def _kind(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return "torch.Tensor"
    return "NumPy array" if _is_numpy(x) else type(x).__name__


def check_state(state: object, n: int, system: str) -> Array:
    """Check that ``state`` is a floating tensor or NumPy array ``[..., n]`` and return it."""
    if isinstance(state, torch.Tensor):
        floating = state.dtype in FLOAT_DTYPES
    elif isinstance(state, np.ndarray):
        floating = state.dtype.kind == "f"
    else:
        raise TypeError(
            f"{system} state must be a torch.Tensor (or a NumPy array, without gradients) of "
            f"shape [..., {n}], got {type(state).__name__}"
        )
    if not floating:
        raise TypeError(
            f"{system} state must have a floating dtype (float32 or float64), got {state.dtype}"
        )
    if state.ndim == 0 or state.shape[-1] != n:
        raise ValueError(f"{system} state must have shape [..., {n}], got {tuple(state.shape)}")
    return state


def check_action(action: object, state: Array, system: str) -> Array:
    """Check an action against its state and return it with shape ``state.shape[:-1]``.

    The action may have shape ``[...]`` or ``[..., 1]``, where ``[...]`` is the state's batch
    shape (or a shape that broadcasts to it: the result keeps the state's batch shape), and
    must be of the state's library: a tensor for a
    tensor state (on its device), a NumPy array or NumPy scalar for a NumPy state. Integer
    and boolean actions are rejected: discrete actions must be mapped to forces by the
    caller (see ``diffsim.cartpole.discrete_to_action``).
    """
    torch_state = isinstance(state, torch.Tensor)
    if torch_state != isinstance(action, torch.Tensor) or not (torch_state or _is_numpy(action)):
        raise TypeError(
            f"{system} action must be of the state's kind (torch.Tensor for a tensor state, "
            f"NumPy array for a NumPy state; not mixed): the state is a {_kind(state)}, "
            f"the action a {_kind(action)}"
        )
    floating = action.dtype in FLOAT_DTYPES if torch_state else action.dtype.kind == "f"
    if not floating:
        raise TypeError(
            f"{system} action must have a floating dtype, got {action.dtype}; "
            "map discrete actions with discrete_to_action() first"
        )
    batch = state.shape[:-1]
    if action.ndim == len(batch) + 1 and action.shape[-1] == 1:
        action = action[..., 0]
    if action.shape == batch and (not torch_state or action.device == state.device):
        return action  # the common case, without the general checks below
    if not _fits(tuple(action.shape), tuple(batch)):
        raise ValueError(
            f"{system} action must have shape {tuple(batch)} or {tuple(batch) + (1,)} "
            f"(the state's batch shape, or a shape that broadcasts to it), "
            f"got {tuple(action.shape)}"
        )
    if torch_state and action.device != state.device:
        raise ValueError(
            f"{system} action is on {action.device} but the state is on {state.device}"
        )
    return action


def _fits(shape: tuple[int, ...], batch: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts *to* ``batch`` (the result keeps ``batch``'s shape)."""
    if len(shape) > len(batch):
        return False
    return all(s == 1 or s == b for s, b in zip(reversed(shape), reversed(batch)))


def check_param_shapes(params: Any, batch: tuple[int, ...], system: str) -> None:
    """Raise ``ValueError`` if a tensor field of ``params`` does not broadcast to ``batch``.

    The rule: every tensor parameter's shape must broadcast to the state's batch shape
    ``batch = state.shape[:-1]`` (right-aligned, each dimension 1 or equal to the batch's),
    so that the step's result has the state's batch shape. Shapes only: no tensor value is
    read (no host synchronisation), cheap enough for every step.
    """
    for name in params._tensor_fields:
        shape = getattr(params, name).shape
        if shape != batch and shape and not _fits(tuple(shape), tuple(batch)):
            shape = tuple(shape)
            raise ValueError(
                f"{system}: {type(params).__name__}.{name} has shape {shape}, which does not "
                f"broadcast to the state's batch shape {tuple(batch)} (state.shape[:-1]); a "
                "tensor parameter must have that shape, or one that broadcasts to it (e.g. "
                f"{tuple(batch)} or ())"
            )


def checked_step(
    system: str,
    state_size: int,
    default_params: Any,
    unchecked: Any,
    state: object,
    action: object,
    params: Any,
    integrator: Any,
    debug_check: Optional[Callable[[Array, Array, Any], None]] = None,
) -> Array:
    """The public ``step`` of a system: boundary checks, then its unchecked step.

    Validates the parameter type, the state, the parameters' and the action's shapes
    against the state's batch shape, the dtypes (metadata only: no host synchronisation)
    and the integrator; with :func:`diffsim.debug_checks` active, also the
    finiteness of the inputs and of the result, and ``debug_check(state, action, params)``
    (a system's own value checks, which may read values) when given.
    """
    params = default_params if params is None else params
    if not isinstance(params, type(default_params)):
        raise TypeError(
            f"params must be a {type(default_params).__name__}, got {type(params).__name__}"
        )
    state = check_state(state, state_size, system)
    if params._tensor_fields:  # the float-only parameters have nothing to check
        check_param_shapes(params, state.shape[:-1], system)
    action = check_action(action, state, system)
    integrator = get_integrator(integrator)
    if _debug.checks_enabled():
        _debug.check_finite(f"{system} state", state)
        _debug.check_finite(f"{system} action", action)
        if debug_check is not None:
            debug_check(state, action, params)
    next_state = unchecked(state, action, params, integrator)
    if _debug.checks_enabled():
        _debug.check_finite(f"{system} next state", next_state)
    return next_state


def stack_components(*components: Array) -> Array:
    """Stack ``n`` components ``[...]`` (broadcast together) into ``[..., n]``, component-major.

    The result is a ``movedim`` view of an ``[n, ...]`` tensor (or NumPy array): each
    component stays contiguous, which makes the next step's arithmetic faster than an
    interleaved copy.
    """
    return ops(components[0]).stack(*components)
