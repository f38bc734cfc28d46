"""Loaders for policy kinds other than diffsim's own networks (e.g. baseline agents).

Each method that saves another kind of policy registers a loader here with
:func:`register_loader`; :func:`diffsim.controllers.load_policy` dispatches on the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

_LOADERS: dict[str, Callable[[Path, dict[str, Any]], Any]] = {}


def register_loader(kind: str, loader: Callable[[Path, dict[str, Any]], Any]) -> None:
    """Register ``loader(path, data) -> agent`` for ``policy.pt`` files of ``kind``."""
    _LOADERS[kind] = loader


def load(kind: Any, path: Path, data: dict[str, Any]) -> Any:
    from .checkpoint import CheckpointError

    if kind not in _LOADERS:
        raise CheckpointError(
            f"{path}: unknown policy kind {kind!r}; this installation reads "
            f"{', '.join(['control_policy', *sorted(_LOADERS)])}"
        )
    return _LOADERS[kind](path, data)
