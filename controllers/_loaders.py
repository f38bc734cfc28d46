"""Deprecated: policy-kind loaders are registered in :mod:`diffsim.controllers.methods`.

:func:`register_loader` and :func:`load` forward to
:func:`diffsim.controllers.methods.register_policy_kind` and
:func:`diffsim.controllers.load_policy`'s lookup (:func:`~diffsim.controllers.methods.
policy_loader`), with a DeprecationWarning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import methods
from .checkpoint import load_policy_kind


def register_loader(kind: str, loader: Callable[[Path, dict[str, Any]], Any]) -> None:
    """Deprecated: :func:`diffsim.controllers.methods.register_policy_kind`."""
    warnings.warn(
        "diffsim.controllers._loaders.register_loader is deprecated: use "
        "diffsim.controllers.methods.register_policy_kind (or Method(loader_path=...))",
        DeprecationWarning,
        stacklevel=2,
    )
    methods.register_policy_kind(kind, loader)


def load(kind: Any, path: Path, data: dict[str, Any]) -> Any:
    """Deprecated: the loader of ``kind`` (:func:`diffsim.controllers.methods.policy_loader`)
    called on ``data``.

    Raises:
        CheckpointError: no loader is registered for ``kind``.
    """
    warnings.warn(
        "diffsim.controllers._loaders.load is deprecated: use "
        "diffsim.controllers.methods.policy_loader(kind)(path, data)",
        DeprecationWarning,
        stacklevel=2,
    )
    return load_policy_kind(kind, path, data)
