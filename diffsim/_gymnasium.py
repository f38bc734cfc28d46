"""Registering diffsim's Gymnasium ids when Gymnasium is, or gets, imported.

``import diffsim`` calls :func:`register_on_gymnasium_import`: when ``gymnasium`` is already
in ``sys.modules``, the ids are registered at once (by importing :mod:`diffsim.envs`);
otherwise a finder on ``sys.meta_path`` waits for the first ``import gymnasium`` and
registers the ids as soon as Gymnasium's package has finished executing, then removes
itself. Either way ``gymnasium.make("diffsim/CartPole-v1")`` works after ``import diffsim``,
and ``import diffsim.cartpole`` (which runs ``diffsim/__init__``) imports no Gymnasium.
When Gymnasium is not installed the finder finds nothing and nothing is registered.

Gymnasium 1.x loads no plugin entry points (the ``gymnasium.envs`` group that Gymnasium 0.2x
read at import is gone), so an installed package cannot have its ids registered otherwise.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Optional

_MODULE = "gymnasium"


def _register() -> None:
    importlib.import_module("diffsim.envs")  # its import registers every task's id


class _AfterGymnasiumImport(importlib.abc.MetaPathFinder):
    """A one-shot finder: registers the ids once ``gymnasium``'s package has executed.

    It finds ``gymnasium`` through the other finders and hooks the module's loader, so the
    module, its spec and its loader stay Gymnasium's own.
    """

    def __init__(self) -> None:
        self._searching = False
        self.hooked: Optional[importlib.abc.Loader] = None

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]],
        target: Optional[types.ModuleType] = None,
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != _MODULE or self._searching:
            return None
        self._searching = True
        try:
            spec = importlib.util.find_spec(fullname)  # the other finders' answer
        finally:
            self._searching = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None  # not installed (or a legacy loader: the import goes on without us)
        loader = spec.loader
        execute = loader.exec_module

        def exec_module(module: types.ModuleType) -> None:
            execute(module)
            _remove()
            _register()

        try:
            loader.exec_module = exec_module  # type: ignore[method-assign]
        except (AttributeError, TypeError):  # a loader that takes no attributes
            return None
        self.hooked = loader
        return spec


_finder: Optional[_AfterGymnasiumImport] = None


def _remove() -> None:
    global _finder
    finder, _finder = _finder, None
    if finder is None:
        return
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
    loader = finder.hooked  # once executed, Gymnasium's loader reads as it did
    if loader is not None and "exec_module" in vars(loader):
        del loader.exec_module


def register_on_gymnasium_import() -> None:
    """Register diffsim's Gymnasium ids now if Gymnasium is imported, else on its import.

    Idempotent: calling it again (or re-importing ``diffsim``) installs no second finder,
    and registering an id already in ``gymnasium.registry`` leaves it as it is.
    """
    global _finder
    if sys.modules.get(_MODULE) is not None:  # None: imports of it are blocked
        _remove()
        _register()
        return
    if _finder is None:
        _finder = _AfterGymnasiumImport()
        sys.meta_path.insert(0, _finder)
