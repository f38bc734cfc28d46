"""Opt-in debugging checks for the physics (off by default: they synchronise with the device).

Inside ``with diffsim.debug_checks():`` every public ``step`` verifies that its inputs and
its result are finite and raises ``NonFiniteError`` naming the system, the quantity and
the first offending batch index. The BPTT trainer re-runs a failed rollout under this
context to say at which step a NaN or infinity first appeared.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Union

import numpy as np
import torch

_enabled = False


class NonFiniteError(FloatingPointError):
    """A NaN or infinity was found while debug checks were on."""


def checks_enabled() -> bool:
    """Whether :func:`debug_checks` is active."""
    return _enabled


@contextmanager
def debug_checks(enabled: bool = True) -> Iterator[None]:
    """Context manager that turns the per-step finiteness checks on (or off)."""
    global _enabled
    previous, _enabled = _enabled, enabled
    try:
        yield
    finally:
        _enabled = previous


def check_finite(what: str, value: Union[torch.Tensor, np.ndarray]) -> None:
    """Raise :class:`NonFiniteError` if ``value`` (a tensor or NumPy array) holds a NaN or an
    infinity."""
    if isinstance(value, torch.Tensor):
        bad = ~torch.isfinite(value.detach())
        first = lambda: bad.nonzero()[0].tolist()
    else:
        bad = ~np.isfinite(value)
        first = lambda: np.argwhere(bad)[0].tolist()
    if bool(bad.any()):
        index = tuple(first())
        raise NonFiniteError(f"{what} is not finite (first at index {index})")
