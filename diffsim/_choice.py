"""The check of a name against the valid choices, shared by every public boundary.

A module of its own, below :mod:`diffsim._validation` and :mod:`diffsim.integrators`, so
that both can use it and the dependency between them runs one way (``_validation`` imports
``integrators`` for :func:`diffsim._validation.checked_step`). It imports nothing from
diffsim.
"""

from __future__ import annotations

from collections.abc import Iterable


def check_choice(kind: str, name: str, valid: Iterable[str]) -> None:
    """Raise if ``name`` is not one of ``valid``.

    Args:
        kind: What is being chosen (``"integrator"``), used in the error message.
        name: The name given.
        valid: The valid names.

    Raises:
        ValueError: ``name`` is not in ``valid``; the message lists the valid names, sorted.
    """
    valid = sorted(valid)
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; expected one of: {', '.join(valid)}")
