"""Lazy package attributes (PEP 562), written once for ``diffsim``, ``diffsim.envs`` and
``diffsim.controllers``: their public names load their submodule on first use, so that
``import diffsim`` and the command line's ``--help`` start without torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterable
from typing import Any


def make_lazy(
    package: str,
    attributes: dict[str, str],
    submodules: Iterable[str] = (),
    functions: Iterable[str] = (),
) -> None:
    """Give ``package`` a module ``__getattr__`` and ``__dir__`` that load names on use.

    Args:
        package: The package's ``__name__`` (it must be in ``sys.modules``: call this from
            its ``__init__``).
        attributes: Public name → the submodule (relative) it is loaded from; the value is
            cached in the package's namespace on first access.
        submodules: Submodules loaded on first attribute access (``diffsim.cartpole``).
        functions: Public functions that share their name with their submodule
            (``diffsim.envs.rollout``): importing the submodule sets the package attribute
            to the module, so such an attribute is read through a module subclass that gives
            the function instead.
    """
    module = sys.modules[package]
    submodules = tuple(submodules)

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        if name in attributes:
            value = getattr(importlib.import_module(f"{package}.{attributes[name]}"), name)
            setattr(module, name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(module), *submodules, *attributes})

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    module.__dir__ = __dir__  # type: ignore[method-assign]
    shadowed = frozenset(functions)
    if shadowed:

        class _Package(types.ModuleType):
            def __getattribute__(self, name: str) -> Any:
                value = super().__getattribute__(name)
                if name in shadowed and isinstance(value, types.ModuleType):
                    return getattr(value, name)
                return value

        module.__class__ = _Package
