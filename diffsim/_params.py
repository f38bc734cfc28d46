"""The base of every physical-parameter container in diffsim.

A parameter container is a frozen dataclass with one field per physical quantity (SI
units, documented on each field). A field holds a Python float (the defaults, so that a
float64 rollout is exact) or a tensor of any dtype and device, possibly batched (one value
per batch element, broadcast against the state's batch shape) and possibly requiring grad.
Derived quantities are properties, computed on use, never stored.

Validation happens once, when the container is built: non-finite values anywhere, and
non-positive values in the fields listed in ``_positive``, raise a clear error.

Broadcasting rule: a tensor field's shape must broadcast *to* the state's batch shape
``state.shape[:-1]`` (right-aligned, each dimension 1 or equal; fewer dimensions are fine),
so that a step's result keeps the state's batch shape. The systems' ``step`` functions
check it on every call (:func:`diffsim._validation.check_param_shapes`; shapes only, no
host synchronisation) and raise ``ValueError`` naming the field, its shape and the batch
shape.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

import torch

from ._validation import check_choice, check_scalar

P = TypeVar("P", bound="Params")


@dataclasses.dataclass(frozen=True)
class Params:
    """Base class for parameter containers (see the module docstring)."""

    _positive: ClassVar[tuple[str, ...]] = ()
    _flags: ClassVar[tuple[str, ...]] = ()
    _tensor_fields: ClassVar[tuple[str, ...]] = ()
    """The names of the fields holding tensors (set per instance when it is built)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in self._flags:
                if not isinstance(value, bool):
                    raise TypeError(f"{owner}.{f.name} must be a bool, got {value!r}")
                continue
            check_scalar(f.name, value, positive=f.name in self._positive, owner=owner)
        # The names of the tensor fields, found once (a frozen instance never changes):
        # the per-step shape check then costs nothing for float-only parameters.
        names = [f.name for f in dataclasses.fields(self)]
        tensor_fields = tuple(n for n in names if isinstance(getattr(self, n), torch.Tensor))
        object.__setattr__(self, "_tensor_fields", tensor_fields)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the container's fields."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self: P, **changes: Any) -> P:
        """Return a copy with some fields changed (validated again; unknown names raise)."""
        for name in changes:
            check_choice(f"{type(self).__name__} field", name, self.field_names())
        return dataclasses.replace(self, **changes)

    def to(self: P, *args: Any, **kwargs: Any) -> P:
        """Return a copy whose tensor fields are moved with ``Tensor.to(*args, **kwargs)``.

        Float fields are left as Python floats: they take the state's dtype where used.
        """
        changes = {
            f.name: getattr(self, f.name).to(*args, **kwargs)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return dataclasses.replace(self, **changes)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The fields that hold tensors, by name (e.g. to hand to an optimiser)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
