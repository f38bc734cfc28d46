"""One physics, two array libraries: torch tensors or NumPy arrays (private).

The systems' equations are written once, as plain arithmetic on the state's components
plus the few functions below. Each step takes its array namespace from its inputs
(:func:`ops`): torch tensors run on torch (gradients, GPU, ``torch.compile``), NumPy arrays
and NumPy scalars run on NumPy, with less overhead per call than torch for one small state
when no gradient is wanted (the Gymnasium envs' path). The same expressions in the same
order give the same IEEE roundings in both, so a NumPy step equals Gymnasium's NumPy code
bit for bit, and equals the torch step to within the two libraries' ``sin``/``cos`` (torch's
vectorised CPU kernels may differ from the C library's by an ulp). Squares go through
``square`` (one rounded product, as Gymnasium's ``np.square``): ``x**2`` on a NumPy or Python
scalar calls the C library's ``pow``, which may differ from ``x*x`` by an ulp.

Only what the physics needs is here: ``sin``, ``cos``, ``square``, ``remainder``, ``clip``,
``stack``
(component-major ``[..., n]``), ``stack_rows`` (row-major), ``full``, ``bool`` (the boolean
dtype) and ``cast`` (a parameter in the state's dtype).
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np
import torch

Array = Union[torch.Tensor, np.ndarray, np.floating]
"""A state, action or component: a torch tensor, a NumPy array or a NumPy scalar."""


class TorchOps:
    """The namespace for torch tensors (the differentiable path)."""

    name = "torch"
    bool = torch.bool
    sin = staticmethod(torch.sin)
    cos = staticmethod(torch.cos)
    square = staticmethod(torch.square)
    remainder = staticmethod(torch.remainder)

    @staticmethod
    def clip(x: torch.Tensor, low, high) -> torch.Tensor:
        """``x`` clipped to ``[low, high]``; float bounds pass gradient at and inside them."""
        if isinstance(low, torch.Tensor) or isinstance(high, torch.Tensor):
            return torch.minimum(torch.maximum(x, low), high)
        return torch.clamp(x, low, high)

    @staticmethod
    def stack(*components: torch.Tensor) -> torch.Tensor:
        """Stack ``n`` tensors ``[...]`` (broadcast together) into ``[..., n]``.

        The result is a ``movedim`` view of an ``[n, ...]`` tensor: each component stays
        contiguous, which makes the next step's arithmetic faster than an interleaved copy.
        """
        shape = components[0].shape
        if any(c.shape != shape for c in components[1:]):
            components = torch.broadcast_tensors(*components)
        return torch.stack(components).movedim(0, -1)

    @staticmethod
    def stack_rows(*components: torch.Tensor) -> torch.Tensor:
        """Stack ``n`` tensors ``[...]`` into a row-major ``[..., n]`` (a copy)."""
        return torch.stack(components, dim=-1)

    @staticmethod
    def full(shape: tuple[int, ...], value, like: torch.Tensor, dtype=None) -> torch.Tensor:
        """A tensor of ``shape`` filled with ``value`` (``like``'s dtype unless given)."""
        return torch.full(shape, value, dtype=dtype or like.dtype, device=like.device)

    @staticmethod
    def cast(value, like: torch.Tensor):
        """A tensor parameter in ``like``'s dtype; Python floats stay floats (exact)."""
        return value.to(like.dtype) if isinstance(value, torch.Tensor) else value


class NumpyOps:
    """The namespace for NumPy arrays and scalars (no gradients; the envs' fast path)."""

    name = "numpy"
    bool = np.bool_
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    square = staticmethod(np.square)
    remainder = staticmethod(np.remainder)

    @staticmethod
    def clip(x, low, high):
        """``x`` clipped to ``[low, high]`` (``np.clip``'s values, NaN kept, less overhead)."""
        if isinstance(x, np.ndarray):
            return np.minimum(np.maximum(x, low), high)
        return min(max(x, low), high)  # a scalar: Python's min/max, cheaper than ufuncs

    @staticmethod
    def stack(*components) -> np.ndarray:
        """Stack ``n`` arrays ``[...]`` (broadcast together) into ``[..., n]``, component-major
        (each component contiguous, as :meth:`TorchOps.stack`); scalars give an array ``[n]``."""
        first = components[0]
        if type(first) is np.ndarray and first.ndim == 1:  # the batched step: [N] each
            shape = first.shape
            for c in components:
                if type(c) is not np.ndarray or c.shape != shape:
                    break
            else:
                return np.array(components).T  # one copy into [n, N], as np.stack's
        for c in components:
            if isinstance(c, np.ndarray) and c.ndim:
                break
        else:
            return np.array(components)  # scalars: a single state [n]
        shape = np.shape(components[0])
        if any(np.shape(c) != shape for c in components[1:]):
            components = np.broadcast_arrays(*components)
        stacked = np.stack(components)
        return stacked.T if stacked.ndim == 2 else np.moveaxis(stacked, 0, -1)

    @staticmethod
    def stack_rows(*components) -> np.ndarray:
        """Stack ``n`` arrays ``[...]`` into a row-major ``[..., n]`` (a copy)."""
        if not isinstance(components[0], np.ndarray) or components[0].ndim == 0:
            return np.array(components)  # scalars: a single state
        return np.stack(components, axis=-1)

    @staticmethod
    def full(shape: tuple[int, ...], value, like, dtype=None):
        """An array of ``shape`` filled with ``value`` (``like``'s dtype unless given); a
        NumPy scalar of that dtype for ``shape == ()`` (a single state)."""
        if not shape:
            return np.dtype(dtype or like.dtype).type(value)
        return np.full(shape, value, dtype=dtype or like.dtype)

    @staticmethod
    def cast(value, like):
        """Python floats stay floats; a tensor parameter cannot act on a NumPy state."""
        if isinstance(value, torch.Tensor):
            raise TypeError(
                "tensor parameters need a torch state: convert the state with "
                "torch.as_tensor(), or use float parameters with a NumPy state"
            )
        return value


TORCH = TorchOps()
NUMPY = NumpyOps()


def scalars(state: np.ndarray) -> tuple:
    """The entries of a 1-D NumPy state as scalars, for the fast single-state path.

    Python floats for float64 (IEEE double arithmetic like NumPy's float64, with less
    overhead; converted at once by ``tolist``), NumPy scalars for other dtypes (so that
    float32 arithmetic stays float32).
    """
    return tuple(state.tolist()) if state.dtype.char == "d" else tuple(state)


def rand(shape: tuple[int, ...], generator: Any, dtype: Any, device: Any) -> Array:
    """U(0, 1) draws of ``shape``: a NumPy array when ``generator`` is a
    ``numpy.random.Generator`` (``dtype`` a NumPy float dtype or None for float64; no
    ``device``), else a torch tensor (``torch.rand``'s arguments)."""
    if isinstance(generator, np.random.Generator):
        if device is not None:
            raise ValueError("a numpy.random.Generator draws NumPy arrays: device must be None")
        return generator.random(shape, dtype=np.float64 if dtype is None else dtype)
    return torch.rand(shape, generator=generator, dtype=dtype, device=device)


def ops(x: Array) -> Union[TorchOps, NumpyOps]:
    """The namespace for ``x``: :data:`TORCH` for a tensor, :data:`NUMPY` otherwise."""
    return TORCH if isinstance(x, torch.Tensor) else NUMPY
