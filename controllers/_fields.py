"""Type checks of the methods' configuration dataclasses, read from their field annotations.

Every method config (:class:`~diffsim.controllers.bptt.BPTTConfig`, ``SHACConfig``,
``AimingConfig``, ``CMAESConfig``, ``RetrofitConfig``, ``SB3Config``) calls
:func:`check_fields` first in its ``__post_init__``, so a value of the wrong type (e.g.
``diffsim train cartpole --set lr=abc``) is refused with a message that names the field, the
value and the expected type, before any range check compares it with a number.

The rules, per annotation:

- ``int``: an integer (``numbers.Integral``), not a bool;
- ``float``: a real number (``numbers.Real``): ints are accepted (and kept as given), bools
  are not;
- ``bool``: ``True`` or ``False`` only (``1`` and ``0`` are refused: a bool option given as
  a number is more likely a mistake than a choice);
- ``str``: a string (choice lists are then checked by the config itself);
- ``tuple[X, ...]`` / ``tuple[X, Y]``: a tuple or a list (JSON and ``--set`` give lists) of
  elements of those types, of the right length for a fixed-length tuple; stored as a tuple;
- ``list[X]``: a list or tuple of ``X``, stored as a list;
- ``dict[K, V]``: a dict whose keys are ``K`` and values ``V``;
- ``Optional[X]`` / ``X | None``: ``None`` or an ``X``; other unions: any of their members;
- ``Any`` and annotations not listed here: anything.
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from typing import Any

_MISSING = object()


def check_fields(config: Any) -> None:
    """Check every field of the dataclass instance ``config`` against its annotation.

    Lists given for tuple fields are stored as tuples (and tuples for list fields as lists),
    on the instance itself; nothing else is converted.

    Args:
        config: A dataclass instance (its class's annotations are resolved with
            :func:`typing.get_type_hints`).

    Raises:
        TypeError: a field's value does not fit its annotation; the message names the
            config class, the field, the value and the expected type.
    """
    cls = type(config)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(config):
        hint = hints.get(f.name, Any)
        value = getattr(config, f.name)
        fixed = _conform(value, hint)
        if fixed is _MISSING:
            raise TypeError(
                f"{cls.__name__}.{f.name} must be {describe(hint)}, got {value!r} "
                f"({type(value).__name__})"
            )
        if fixed is not value:
            object.__setattr__(config, f.name, fixed)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_float(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _conform(value: Any, hint: Any) -> Any:
    """``value`` (converted where the rules say so) if it fits ``hint``, else ``_MISSING``."""
    if hint is Any or hint is object:
        return value
    if hint is type(None):
        return value if value is None else _MISSING
    if hint is bool:
        return value if isinstance(value, bool) else _MISSING
    if hint is int:
        return value if _is_int(value) else _MISSING
    if hint is float:
        return value if _is_float(value) else _MISSING
    if hint is str:
        return value if isinstance(value, str) else _MISSING
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        for member in args:
            fixed = _conform(value, member)
            if fixed is not _MISSING:
                return fixed
        return _MISSING
    if origin is tuple or hint is tuple:
        return _sequence(value, args, tuple)
    if origin is list or hint is list:
        return _sequence(value, (args[0], ...) if args else (), list)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return _MISSING
        if len(args) == 2:
            key_hint, value_hint = args
            for k, v in value.items():
                if _conform(k, key_hint) is _MISSING or _conform(v, value_hint) is _MISSING:
                    return _MISSING
        return value
    if isinstance(hint, type):
        return value if isinstance(value, hint) else _MISSING
    return value  # an annotation these rules do not cover: not checked


def _sequence(value: Any, args: tuple, kind: type) -> Any:
    if not isinstance(value, (list, tuple)):
        return _MISSING
    if len(args) == 2 and args[1] is Ellipsis:
        hints = [args[0]] * len(value)
    elif args:
        if len(value) != len(args):
            return _MISSING
        hints = list(args)
    else:
        hints = [Any] * len(value)
    items = [_conform(v, h) for v, h in zip(value, hints)]
    if any(item is _MISSING for item in items):
        return _MISSING
    if isinstance(value, kind) and all(a is b for a, b in zip(items, value)):
        return value
    return kind(items)


def describe(hint: Any) -> str:
    """``hint`` in words, as used in :func:`check_fields`' messages (e.g. ``"a float (an int
    is accepted)"``, ``"None or an int"``, ``"a tuple of 2 elements (float, float)"``)."""
    if hint is Any or hint is object:
        return "any value"
    if hint is type(None):
        return "None"
    if hint is bool:
        return "a bool (True or False; 1 and 0 are not accepted)"
    if hint is int:
        return "an int"
    if hint is float:
        return "a float (an int is accepted)"
    if hint is str:
        return "a string"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        words = " or ".join(describe(a) for a in members)
        return f"None or {words}" if len(members) < len(args) else words
    if origin is tuple or hint is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a tuple (or list) of {_short(args[0])}"
        if args:
            return (
                f"a tuple (or list) of {len(args)} elements ({', '.join(_short(a) for a in args)})"
            )
        return "a tuple (or list)"
    if origin is list or hint is list:
        return f"a list of {_short(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        if len(args) == 2 and args[1] is not Any:
            return f"a dict of {_short(args[0])} to {_short(args[1])}"
        return f"a dict with {_short(args[0])} keys" if args else "a dict"
    return getattr(hint, "__name__", str(hint))


def _short(hint: Any) -> str:
    if hint is Any:
        return "any"
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")
