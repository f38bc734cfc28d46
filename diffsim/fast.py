"""The opt-in fast path: compiled physics for batched torch rollouts and BPTT iterations.

Eager torch launches one kernel per arithmetic operation, each paying a fixed cost of
dispatch on the CPU (and of launch on a GPU), so small and medium batches are dominated by
overhead. Compilation fuses a step's operations into one loop (a C++ kernel on the CPU, a
Triton kernel on a GPU). This module compiles *one step* (or one transition, or a short
block of steps), never a whole unrolled rollout, whose graph and backward grow with the
horizon: the one compiled step is reused for every step.

- :func:`compile_step` — ``(state, action) -> next_state`` of a system, its parameters and
  integrator; differentiable.
- :func:`compile_transition` — ``(state, action) -> (next_state, reward, terminated)``,
  what a vector env needs.
- :func:`compile_block` — ``(state, actions [K, B]) -> state`` after K steps fused in one
  kernel, for open-loop stepping (actions known beforehand).
- :func:`fast_function` — the same machinery for any function of tensors built from the
  physics (the rollout's per-step transition uses it).
- :class:`CudaGraphIteration` — a whole BPTT iteration (rollout, loss, backward) captured
  in one CUDA graph and replayed: on a GPU a step's kernels are too small to hide their
  launch latency, and a replay launches the whole iteration at once.

Users rarely call these directly: ``diffsim.envs.rollout(..., fast=True)``,
``BPTTConfig(fast=True)``, the vector envs' ``fast=True`` and ``diffsim bench`` use them.

Two compilers sit behind a :class:`FastFunction`, chosen per call:

- *no gradient wanted* (grad mode off, or no input requiring grad, and float
  parameters): the function is traced once per input signature (shapes, strides, dtypes,
  device) with ``make_fx`` and compiled by TorchInductor directly, and called through
  Inductor's own entry point where that gives the same result. This skips TorchDynamo's
  frame evaluation and guards and AOTAutograd's runtime wrapper, a cost paid on every call
  whatever the batch size.
- *gradients*: ``torch.compile(fn, fullgraph=True)``, whose AOTAutograd also compiles
  the backward, and whose guards handle tensor parameters that require grad.

Precision: fused kernels round differently from eager ones (contracted multiply-adds,
reciprocal multiplications, vectorised ``sin``/``cos``), by an ulp here and there; the
chaotic dynamics then amplify that as they amplify any float32 rounding. In float32,
element-wise in SI units, ``|fast − eager| ≤ 1e-5 · (|eager| + 1)`` over 50 CartPole steps
and over 20 Pendulum steps, and gradients likewise (relative to their largest entry);
Pendulum's swing amplifies rounding faster: over 50 steps the bound is 1e-3, the size of
float32 eager's own drift from float64 there. ``tests/test_fast.py`` checks these bounds.
Nothing is bitwise equal to the eager path, nor to Gymnasium.

Cost: the first call for a new system, parameters, integrator, dtype, device or batch size
compiles (``docs/speed.md`` gives the measured first-call times; Inductor's on-disk cache
serves later processes). Compiling needs a C++ compiler on the CPU (``gcc``)
and Triton on a GPU. When it pays: see ``docs/speed.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional, Union

import torch

from ._params import Params
from .integrators import Integrator, get_integrator
from .systems import System, system_names

_CACHE: dict[tuple, FastFunction] = {}


class FastFunction:
    """A function of tensors, compiled on first use for each input signature.

    Args:
        fn: A function of tensor arguments (``None`` allowed) returning a tensor or a tuple
            of tensors; pure (no side effects, no host synchronisation, no Python branch
            on tensor values).
        name: For messages and ``repr``.
        traceable: Whether the no-gradient calls may use the trace-and-compile path (False
            when ``fn`` closes over tensors, e.g. tensor parameters, whose values a trace
            would freeze).
    """

    def __init__(self, fn: Callable[..., Any], name: str, traceable: bool = True) -> None:
        self.fn = fn
        self.name = name
        self.traceable = traceable
        self._traced: dict[tuple, tuple[Callable, bool]] = {}
        self._compiled: Optional[Callable] = None

    def __repr__(self) -> str:
        return f"FastFunction({self.name}, {len(self._traced)} traced signature(s))"

    def __call__(self, *args: Optional[torch.Tensor]) -> Any:
        """``fn(*args)``, compiled (see the module docstring for which compiler runs)."""
        if self.traceable and not (
            torch.is_grad_enabled() and any(a is not None and a.requires_grad for a in args)
        ):
            return self._call_traced(args)
        if self._compiled is None:
            self._compiled = torch.compile(self.fn, fullgraph=True)
        return self._compiled(*args)

    def _entry(self, args: Sequence[Optional[torch.Tensor]]) -> tuple[Callable, bool]:
        """``(compiled, single)`` for ``args``' signature: ``compiled(*tensors)`` returns the
        sequence of outputs; ``single`` says whether ``fn`` returns one tensor."""
        key = tuple(None if a is None else (a.shape, a.stride(), a.dtype, a.device) for a in args)
        entry = self._traced.get(key)
        if entry is None:
            entry = self._traced[key] = _trace_and_compile(self.fn, args)
        return entry

    def _call_traced(self, args: Sequence[Optional[torch.Tensor]]) -> Any:
        compiled, single = self._entry(args)
        out = compiled(*[a for a in args if a is not None])
        return out[0] if single else tuple(out)

    def specialize(self, *example: torch.Tensor) -> Callable[..., Sequence[torch.Tensor]]:
        """The traced, compiled function for exactly ``example``'s signature (shapes,
        strides, dtypes, device; no None), with none of the per-call dispatch: it returns
        the sequence of outputs, and the caller promises tensors of that signature that do
        not require grad (a wrong shape or stride raises ``AssertionError``). For hot loops
        with fixed inputs, such as a vector env's step."""
        if not self.traceable:
            raise ValueError(f"{self.name}: closes over tensors, it cannot be specialised")
        return self._entry(example)[0]


def _trace_and_compile(fn: Callable, args: Sequence[Optional[torch.Tensor]]) -> tuple:
    """Trace ``fn`` on ``args`` (None entries held fixed) and compile it with Inductor."""
    from torch._inductor import compile as inductor_compile
    from torch.fx.experimental.proxy_tensor import make_fx

    positions = [i for i, a in enumerate(args) if a is not None]
    tensors = [args[i] for i in positions]

    def flat(*tensor_args: torch.Tensor) -> list[torch.Tensor]:
        full: list[Optional[torch.Tensor]] = [None] * len(args)
        for i, t in zip(positions, tensor_args):
            full[i] = t
        out = fn(*full)
        return [out] if isinstance(out, torch.Tensor) else list(out)

    with torch.no_grad():
        expected = fn(*args)
        single = isinstance(expected, torch.Tensor)
        graph = make_fx(flat)(*tensors)
        compiled = inductor_compile(graph, tensors)
        return _unwrapped(compiled, tensors), single


def _unwrapped(compiled: Callable, tensors: list[torch.Tensor]) -> Callable:
    """``compiled`` or, where it gives the same result, Inductor's own entry point under it.

    AOTAutograd's runtime wrapper around an Inductor graph adds a cost to every call and
    does nothing for a graph without gradients, input mutations or aliased outputs, which is
    what is traced here. The entry point (``current_callable``) is internal to torch: it is
    used only where present and where it reproduces the wrapper's outputs exactly; both
    return the sequence of outputs.
    """
    inner = getattr(compiled, "current_callable", None)
    if inner is None:
        return compiled
    expected = compiled(*tensors)
    try:
        got = inner(list(tensors))
    except Exception:
        return compiled
    same = len(got) == len(expected) and all(
        isinstance(x, torch.Tensor) and x.stride() == y.stride() and torch.equal(x, y)
        for x, y in zip(got, expected)
    )
    return (lambda *args: inner(list(args))) if same else compiled


def fast_function(key: tuple, fn: Callable[..., Any], traceable: bool = True) -> FastFunction:
    """The :class:`FastFunction` of ``fn``, cached under ``key`` (a hashable description of
    everything ``fn`` closes over: the same key returns the same compiled function)."""
    if key not in _CACHE:
        _CACHE[key] = FastFunction(fn, str(key[0]), traceable)
    return _CACHE[key]


def _system(system: Any) -> System:
    """The :class:`~diffsim.systems.System` of a System, a registered name (``"cartpole"``)
    or a physics module with a ``SYSTEM`` (``diffsim.cartpole``, for older callers).

    Raises:
        ValueError: for an unknown name (the message lists the registered systems).
        TypeError: for anything else.
    """
    from types import ModuleType

    from .systems import get_system

    if isinstance(system, (str, System)):
        return get_system(system)
    if isinstance(system, ModuleType) and isinstance(getattr(system, "SYSTEM", None), System):
        return system.SYSTEM
    raise TypeError(
        "system must be a diffsim.systems.System, a registered system name "
        f"({', '.join(system_names())}) or a physics module with a SYSTEM, got {system!r}"
    )


def resolve(
    system: Any, params: Optional[Params], integrator: Union[str, Integrator, None]
) -> tuple[System, Params, Integrator]:
    """The :class:`~diffsim.systems.System` (from a System, a name or a physics module),
    its parameters (the defaults if None) and the integrator object (its default if None).

    Raises:
        ValueError, TypeError: as :func:`_system`; TypeError for parameters of another type.
    """
    system = _system(system)
    params = system.default_params if params is None else params
    if not isinstance(params, system.params_type):
        raise TypeError(
            f"params must be a {system.params_type.__name__} for the {system.title} system, "
            f"got {type(params).__name__}"
        )
    integrator = get_integrator(system.default_integrator if integrator is None else integrator)
    return system, params, integrator


def key_of(kind: str, system: Any, params: Params, integrator: Integrator, *extra: Any) -> tuple:
    """The cache key of a compiled function of the physics.

    ``system`` as :func:`resolve` takes it; the key holds its registry name. Float
    parameters compare by value; a container with tensor fields by identity (its tensors may
    change in place), and then it is not traced (see :class:`FastFunction`).
    """
    by_value = not params.tensors()
    name = _system(system).name
    return (kind, name, params if by_value else id(params), integrator, *extra)


def compile_step(
    system: Any,
    params: Optional[Params] = None,
    integrator: Union[str, Integrator, None] = None,
) -> FastFunction:
    """The compiled unchecked step ``(state [B, n], action [B]) -> next_state [B, n]``.

    Args:
        system: A :class:`~diffsim.systems.System`, a registered system's name
            (``"cartpole"``) or a physics module with a ``SYSTEM`` (``diffsim.cartpole``).
        params: Physical parameters (the system's defaults if None).
        integrator: A name or :class:`~diffsim.integrators.Integrator` (the system's default
            if None).

    Returns:
        A function equal to ``system.step_unchecked(state, action, params, integrator)``
        within the
        tolerance in the module docstring, differentiable in ``state``, ``action`` and tensor
        parameters. The same arguments return the same compiled function.
    """
    system, params, integrator = resolve(system, params, integrator)
    fn = functools.partial(_step, system=system, params=params, integrator=integrator)
    key = key_of("step", system, params, integrator)
    return fast_function(key, fn, traceable=not params.tensors())


def _step(state, action, *, system, params, integrator):
    return system.step_unchecked(state, action, params, integrator)


def _transition(state, action, *, system, params, integrator, reward_dtype=None):
    next_state = system.step_unchecked(state, action, params, integrator)
    reward = system.reward(state, action, next_state, params)
    if reward_dtype is not None:
        reward = reward.to(reward_dtype)
    return next_state, reward, system.terminated(next_state, params)


def compile_transition(
    system: Any,
    params: Optional[Params] = None,
    integrator: Union[str, Integrator, None] = None,
    reward_dtype: Optional[torch.dtype] = None,
) -> FastFunction:
    """The compiled ``(state, action) -> (next_state, reward, terminated)`` of a system.

    ``reward`` ``[B]`` is the system's reward for the step (Pendulum's: −cost of the pre-step
    state), cast to ``reward_dtype`` if given (in the kernel: what a vector env returns,
    e.g. CartPole's float32), ``terminated`` ``[B]`` the boolean termination of
    ``next_state``. Other arguments as :func:`compile_step`'s; the vector envs' ``fast=True``
    steps with it.
    """
    system, params, integrator = resolve(system, params, integrator)
    fn = functools.partial(
        _transition,
        system=system,
        params=params,
        integrator=integrator,
        reward_dtype=reward_dtype,
    )
    extra = () if reward_dtype is None else (reward_dtype,)
    key = key_of("transition", system, params, integrator, *extra)
    return fast_function(key, fn, traceable=not params.tensors())


def _block(state, actions, *, system, params, integrator, block):
    for k in range(block):
        state = system.step_unchecked(state, actions[k], params, integrator)
    return state


def compile_block(
    system: Any,
    params: Optional[Params] = None,
    integrator: Union[str, Integrator, None] = None,
    block: int = 8,
) -> FastFunction:
    """The compiled ``(state [B, n], actions [block, B]) -> state [B, n]`` after ``block``
    steps, fused in one kernel (the state stays in registers between the steps).

    For open-loop stepping (actions known beforehand); a closed-loop rollout needs the
    policy between steps and uses :func:`compile_step`. Compile time grows with ``block``
    (``docs/speed.md`` gives the first-call times of the default). Differentiable like
    :func:`compile_step`.
    """
    if not isinstance(block, int) or isinstance(block, bool) or block < 1:
        raise ValueError(f"block must be a positive int, got {block!r}")
    system, params, integrator = resolve(system, params, integrator)
    fn = functools.partial(_block, system=system, params=params, integrator=integrator, block=block)
    key = key_of("block", system, params, integrator, block)
    return fast_function(key, fn, traceable=not params.tensors())


def step_open_loop(
    block_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    step_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    state: torch.Tensor,
    actions: torch.Tensor,
    block: int,
) -> torch.Tensor:
    """Advance ``state`` through ``actions [T, B]``: ``T // block`` calls of ``block_fn``
    (:func:`compile_block`), then the remaining steps with ``step_fn``; the final state."""
    horizon = actions.shape[0]
    whole = horizon - horizon % block
    for t in range(0, whole, block):
        state = block_fn(state, actions[t : t + block])
    for t in range(whole, horizon):
        state = step_fn(state, actions[t])
    return state


def component_major(state: torch.Tensor) -> torch.Tensor:
    """``state [B, n]`` laid out as the physics returns states (each component contiguous),
    so that a compiled step sees one layout from the first call on (a layout change would
    compile a second time)."""
    return torch.stack(state.unbind(-1)).movedim(0, -1)


class CudaGraphIteration:
    """One training iteration (forward and backward) captured in a CUDA graph.

    ``fn()`` must compute a scalar loss (or a tuple whose first entry is the loss and the
    others tensors to report) from tensors that live across calls (the policy's
    parameters, and input buffers the caller refills in place before each call, e.g. the
    initial states) and must not synchronise with the host (no ``.item()``, no early stop
    on a condition read from the GPU). The first call warms up on a side stream and
    captures ``out = fn(); loss.backward()``; each call then replays the graph and returns
    ``out`` (the same tensors, refilled), the parameters' ``.grad`` refilled in place (their
    storage is owned by the graph: never set them to None; the backward overwrites them,
    so they need no zeroing). Optimiser steps and gradient clipping stay outside the graph.

    Args:
        fn: The forward pass returning the loss (or ``(loss, *extras)``).
        params: The parameters whose gradients the backward computes.
        warmup: Eager iterations on a side stream before capture (lets cuBLAS and the
            compiler settle; 3 is the PyTorch recipe).

    Raises:
        RuntimeError: when CUDA is not available.
    """

    def __init__(
        self, fn: Callable[[], Any], params: Iterable[torch.Tensor], warmup: int = 3
    ) -> None:
        if not torch.cuda.is_available():
            raise RuntimeError("CudaGraphIteration needs a CUDA device; none is available")
        self.fn = fn
        self.params = list(params)
        self.warmup = warmup
        self._graph: Optional[torch.cuda.CUDAGraph] = None
        self._out: Any = None

    def _forward_backward(self) -> Any:
        out = self.fn()
        (out[0] if isinstance(out, tuple) else out).backward()
        return out

    def _capture(self) -> None:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(self.warmup):
                for p in self.params:
                    p.grad = None
                self._forward_backward()
        torch.cuda.current_stream().wait_stream(stream)
        for p in self.params:
            p.grad = None
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self._forward_backward()
        self._graph, self._out = graph, out

    def __call__(self) -> Any:
        """Run the iteration (capturing on the first call); returns ``fn()``'s tensors."""
        if self._graph is None:
            self._capture()
        self._graph.replay()
        return self._out


def clear_cache() -> None:
    """Forget every compiled function (and reset ``torch.compile``'s caches)."""
    _CACHE.clear()
    torch._dynamo.reset()
