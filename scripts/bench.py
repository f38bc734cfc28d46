"""``diffsim bench``: steps per second of the physics, eager and fast, against Gymnasium and
gymnax, on the CPU and (when present) a GPU, in one run.

Every figure counts batch elements: steps/s = batch × steps ÷ seconds, and is the best
(least time) of ``--repeats`` timed runs after one untimed first call (on a shared machine
the least time estimates the undisturbed cost; compare ratios taken in the same run).
Measurements (each is a row of the JSON ``results``):

- ``step``: open-loop stepping of each registered system (``cartpole``, ``pendulum`` and any
  system registered since; ``--systems`` picks some) in float32, actions drawn beforehand
  uniformly in the system's action box (:attr:`System.action_bounds
  <diffsim.systems.System.action_bounds>`), no gradient, for ``--steps`` steps at each
  batch. ``eager`` loops over the unchecked step (``System.step_unchecked``); ``fast``
  runs blocks of 8 steps compiled into one kernel
  (:func:`diffsim.fast.compile_block`). The first call's time (compilation included) is
  recorded as ``first_call_s``.
- ``bptt``: one BPTT iteration on CartPole as the trainer runs it: an MLP policy 4-64-64-1
  with the straight-through sign estimator, ``--steps`` steps with termination
  masking, the balance loss, forward and backward. ``eager``; ``fast`` (the compiled
  per-step transition of ``rollout(fast=True)``, and on a GPU the whole iteration replayed
  as one CUDA graph); ``graph`` (GPU only: the eager iteration captured in a CUDA graph).
- ``gymnax``: gymnax's ``step_env`` of the same task (``CartPole-v1`` / ``Pendulum-v1``: the
  system's first task with a Gymnasium counterpart, :attr:`TaskSpec.gymnasium_id
  <diffsim.systems.TaskSpec.gymnasium_id>`, under that id) under ``jit(scan(vmap))`` on
  JAX's default device, same batches and steps, when ``import gymnax`` works (otherwise a
  note says why it was skipped).
- ``env``: each system's first registered task (``diffsim/CartPole-v1``,
  ``diffsim/Pendulum-v1``) and its Gymnasium counterpart (``CartPole-v1``, ``Pendulum-v1``)
  as users get them (``gymnasium.make``: one env; ``make_vec`` at ``--num-envs``:
  Gymnasium's NumPy vector CartPole, its ``SyncVectorEnv`` Pendulum, diffsim's vector envs
  on NumPy and with ``fast=True``); CPU, random actions drawn beforehand.

The printed tables give each figure's ratio to its Gymnasium or gymnax counterpart.
``--quick`` shrinks everything for a smoke run (seconds, plus compilation). See
``docs/speed.md`` (generated from a result file by ``python -m diffsim.scripts.report_speed``)
for the measured tables and how to run this on a GPU machine without a package index.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .. import systems as registry
from .._machine import machine_info
from .common import add_threads_option, apply_threads

if TYPE_CHECKING:
    import torch

__all__ = ["machine_info", "run_bench", "format_table"]

PATHS = ("eager", "fast", "graph")
BLOCK = 8
"""Steps fused in one compiled kernel for the ``fast`` stepping path."""


def bench_systems() -> tuple[str, ...]:
    """The systems benchmarked by default: every registered stepping system, in
    registration order (read from :mod:`diffsim.systems`, without importing the physics)."""
    return tuple(registry.system_names())


def check_systems(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple, each a registered system.

    Raises:
        ValueError: for any other name (the message lists the registered ones).
    """
    valid = bench_systems()
    bad = [s for s in names if s not in valid]
    if bad:
        raise ValueError(f"unknown system(s) {bad}; expected some of: {', '.join(valid)}")
    return tuple(names)


def primary_task(system: str) -> registry.TaskSpec:
    """The system's first registered task (``diffsim/CartPole-v1`` for ``cartpole``)."""
    for task in registry.task_specs().values():
        if task.system == system:
            return task
    raise ValueError(f"the system {system!r} has no registered task")


def gymnasium_id(system: str) -> Optional[str]:
    """The Gymnasium id of the system's first task that has one (``CartPole-v1``), or None."""
    for task in registry.task_specs().values():
        if task.system == system and task.gymnasium_id:
            return task.gymnasium_id
    return None


def system_of(env_id: str) -> str:
    """The system of a registered id or short name, or of a Gymnasium id that a registered
    task names as its counterpart (``CartPole-v1`` → ``cartpole``).

    Raises:
        ValueError: for an id neither names (the message lists the registered ones).
    """
    for task in registry.task_specs().values():
        if task.gymnasium_id == env_id:
            return task.system
    return registry.get_task_spec(env_id).system


def __getattr__(name: str) -> Any:
    # The name tables of earlier versions, now read from the registry on each access.
    if name == "SYSTEMS":
        return bench_systems()
    if name == "GYM_IDS":
        return {s: gymnasium_id(s) for s in bench_systems() if gymnasium_id(s)}
    if name == "DIFFSIM_IDS":
        return {s: primary_task(s).env_id for s in bench_systems()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


FULL = dict(
    batches=(1, 1024, 4096, 65536),
    gpu_batches=(1, 1024, 65536, 1048576),
    bptt_batches=(1, 1024, 4096),
    gpu_bptt_batches=(256, 1024, 4096, 65536),
    steps=200,
    bptt_steps=200,
    repeats=3,
    env_time=1.0,
)
QUICK = dict(
    batches=(1, 256),
    gpu_batches=(1, 1024),
    bptt_batches=(16,),
    gpu_bptt_batches=(256,),
    steps=16,
    bptt_steps=16,
    repeats=1,
    env_time=0.05,
)


# -- timing --------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], repeats: int, device: torch.device) -> tuple[float, float]:
    """``(first_call_s, best_s)``: the first call (compilation included), then the least
    wall-clock time of ``repeats`` calls."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return first, best


def _rate(chunk: Callable[[], int], repeats: int, min_time: float) -> float:
    """Best units/s of ``chunk`` (returning how many units it did) over ``repeats`` runs of
    at least ``min_time`` seconds each, after one warm-up chunk."""
    chunk()
    best = 0.0
    for _ in range(repeats):
        done, start = 0, time.perf_counter()
        while True:
            done += chunk()
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        best = max(best, done / elapsed)
    return best


# -- diffsim: stepping and BPTT --------------------------------------------------------------


def bench_step(
    system: str, batch: int, steps: int, path: str, device: str, repeats: int
) -> dict[str, Any]:
    """One ``step`` row: open-loop stepping of a registered system (module docstring).

    Args:
        system: A registered system's name (:func:`bench_systems`).
        batch, steps: States stepped together, and steps.
        path: ``"eager"`` (``System.step_unchecked`` in a Python loop over the steps) or
            ``"fast"`` (:func:`diffsim.fast.compile_block`).
        device: A torch device.
        repeats: Timed calls after the first (the least time is kept).

    Raises:
        ValueError: an unknown system or path.
    """
    import torch

    from .. import fast
    from ..integrators import get_integrator

    check_systems([system])
    description = registry.get_system(system)
    params = description.default_params
    integrator = get_integrator(description.default_integrator)
    dev = torch.device(device)
    g = torch.Generator(device=dev).manual_seed(0)
    state0 = fast.component_major(
        torch.as_tensor(description.sample_initial(batch, generator=g, device=dev), device=dev)
    )
    low, high = (float(v) for v in description.action_bounds(params))
    actions = low + (high - low) * torch.rand((steps, batch), generator=g, device=dev)
    step_unchecked = description.step_unchecked

    if path == "eager":

        def run() -> torch.Tensor:
            state = state0
            for t in range(steps):
                state = step_unchecked(state, actions[t], params, integrator)
            return state

    elif path == "fast":
        block, step = fast.compile_block(system, block=BLOCK), fast.compile_step(system)

        def run() -> torch.Tensor:
            return fast.step_open_loop(block, step, state0, actions, BLOCK)

    else:
        raise ValueError(f"unknown stepping path {path!r}; expected eager or fast")
    with torch.no_grad():
        first, best = _timed(run, repeats, dev)
    return {
        "kind": "step",
        "system": system,
        "device": dev.type,
        "path": path,
        "batch": batch,
        "steps": steps,
        "seconds": best,
        "steps_per_s": batch * steps / best,
        "first_call_s": first,
    }


def bench_bptt(batch: int, steps: int, path: str, device: str, repeats: int) -> dict[str, Any]:
    """One ``bptt`` row: a CartPole BPTT iteration, forward and backward (module docstring)."""
    import torch

    from .. import cartpole, fast
    from ..controllers.policies import PolicySpec, build_policy
    from ..envs.rollout import rollout

    dev = torch.device(device)
    if path == "graph" and dev.type != "cuda":
        raise ValueError("the graph path needs a CUDA device")
    spec = PolicySpec(obs_size=4, hidden=(64, 64), head="binary", estimator="st_sign")
    policy = build_policy(spec, torch.Generator().manual_seed(0)).to(dev)
    params = list(policy.parameters())
    start = cartpole.sample_initial(batch, generator=torch.Generator().manual_seed(1)).to(dev)
    p = cartpole.DEFAULT_PARAMS

    def loss() -> torch.Tensor:
        out = rollout(policy, "cartpole", start, steps, on_terminate="mask", fast=path == "fast")
        x, _, theta, _ = cartpole.unpack(out.states[1:])
        cost = (x / p.x_threshold) ** 2 + (theta / p.theta_threshold) ** 2
        return (cost * out.alive).sum(0).mean()

    if dev.type == "cuda" and path in ("fast", "graph"):
        run: Callable[[], Any] = fast.CudaGraphIteration(loss, params)
    else:

        def run() -> None:
            for q in params:
                q.grad = None
            loss().backward()

    first, best = _timed(run, repeats, dev)
    return {
        "kind": "bptt",
        "system": "cartpole",
        "device": dev.type,
        "path": path,
        "batch": batch,
        "steps": steps,
        "seconds": best,
        "iteration_ms": best * 1e3,
        "steps_per_s": batch * steps / best,
        "first_call_s": first,
    }


# -- gymnax ------------------------------------------------------------------------------------


def gymnax_status() -> dict[str, Any]:
    """Whether gymnax (and JAX) can be imported here, with versions or the reason not."""
    import torch

    # JAX takes 75 % of the GPU's memory at start by default; torch has run before it.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        import gymnax
        import jax
    except Exception as exc:  # ImportError, or a broken JAX install
        return {"available": False, "note": f"gymnax not measured: {type(exc).__name__}: {exc}"}
    return {
        "available": True,
        "gymnax": getattr(gymnax, "__version__", "?"),
        "jax": jax.__version__,
        "jax_device": str(jax.devices()[0]),
        "jax_gpu": jax.default_backend() != "cpu",
    }


def bench_gymnax(system: str, batch: int, steps: int, repeats: int) -> dict[str, Any]:
    """One ``gymnax`` row: ``step_env`` of gymnax's env under ``jit(scan(vmap))``, the env
    named by the system's Gymnasium id (:func:`gymnasium_id`), with random actions of the
    task's kind (discrete indices, or uniform in the action box).

    Raises:
        ValueError: a system without a Gymnasium counterpart.
    """
    import gymnax
    import jax
    import jax.numpy as jnp
    import torch

    gym_id = gymnasium_id(system)
    if gym_id is None:
        raise ValueError(f"the system {system!r} has no task with a Gymnasium id for gymnax")
    task = next(t for t in registry.task_specs().values() if t.system == system and t.gymnasium_id)
    description = registry.get_system(system)
    env, env_params = gymnax.make(gym_id)
    key = jax.random.PRNGKey(0)
    keys = jax.random.split(key, batch)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)
    if task.discrete:
        actions = jax.random.randint(key, (steps, batch), 0, len(description.discrete_actions))
    else:
        low, high = (float(v) for v in description.action_bounds(registry.task_params(task)))
        actions = jax.random.uniform(key, (steps, batch), minval=low, maxval=high)
    step = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))

    def body(carry, action):
        state, total = carry
        _, state, reward, _, _ = step(keys, state, action, env_params)
        return (state, total + reward), None

    @jax.jit
    def run(state, actions):
        (state, total), _ = jax.lax.scan(body, (state, jnp.zeros(batch)), actions)
        return total

    first, best = _timed(
        lambda: jax.block_until_ready(run(state, actions)), repeats, torch.device("cpu")
    )
    return {
        "kind": "gymnax",
        "system": system,
        "device": "cpu" if jax.default_backend() == "cpu" else "cuda",
        "path": "gymnax",
        "batch": batch,
        "steps": steps,
        "seconds": best,
        "steps_per_s": batch * steps / best,
        "first_call_s": first,
    }


# -- Gymnasium API envs ------------------------------------------------------------------------


def bench_env(
    env_id: str,
    mode: str,
    num_envs: int,
    repeats: int,
    min_time: float,
    kwargs: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """One ``env`` row: steps/s of ``gymnasium.make`` (``mode="single"``) or ``make_vec``
    (``"vector"``: the vector entry point where the id has one, else ``SyncVectorEnv``),
    with the env's keyword arguments ``kwargs`` (e.g. ``{"fast": True}``)."""
    kwargs = kwargs or {}
    import gymnasium as gym

    import diffsim  # noqa: F401  (registers the ids)

    if mode == "single":
        env = gym.make(env_id, **kwargs)
        env.action_space.seed(0)
        actions = [env.action_space.sample() for _ in range(256)]
        env.reset(seed=0)

        def chunk() -> int:
            for a in actions:
                _, _, term, trunc, _ = env.step(a)
                if term or trunc:
                    env.reset()
            return len(actions)

        how = "make"
    else:
        how = "vector_entry_point" if gym.spec(env_id).vector_entry_point else "sync"
        env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=how, **kwargs)
        env.action_space.seed(0)
        actions = [env.action_space.sample() for _ in range(16 if how != "sync" else 2)]
        env.reset(seed=0)

        def chunk() -> int:
            for a in actions:
                env.step(a)
            return len(actions) * num_envs

    rate = _rate(chunk, repeats, min_time)
    env.close()
    return {
        "kind": "env",
        "id": env_id,
        "system": system_of(env_id),
        "impl": "diffsim" if env_id.startswith("diffsim/") else "gymnasium",
        "mode": mode,
        "vectorization": how,
        "num_envs": 1 if mode == "single" else num_envs,
        "fast": bool(kwargs.get("fast", False)),
        "steps_per_s": rate,
    }


# -- the run -----------------------------------------------------------------------------------


def _attempt(rows: list, errors: list, what: str, fn: Callable[..., dict], *args: Any) -> None:
    """Append ``fn(*args)``'s row, or record its error (a failed path must not lose the run)."""
    try:
        rows.append(fn(*args))
    except Exception as exc:
        errors.append({"what": what, "error": f"{type(exc).__name__}: {exc}"})
        print(f"  {what}: FAILED ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)


def run_bench(
    devices: tuple[str, ...] = ("cpu",),
    paths: tuple[str, ...] = ("eager", "fast"),
    systems: Optional[tuple[str, ...]] = None,
    quick: bool = False,
    num_envs: int = 1024,
    measure_envs: bool = True,
    measure_gymnax: bool = True,
    batches: Optional[tuple[int, ...]] = None,
    steps: Optional[int] = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every measurement; returns the result dictionary (see the module docstring).

    ``systems`` defaults to every registered system (:func:`bench_systems`); an unknown one
    is a ValueError listing the registered ones.
    """
    systems = check_systems(bench_systems() if systems is None else systems)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    sizes = dict(QUICK if quick else FULL)
    if steps is not None:
        sizes["steps"] = sizes["bptt_steps"] = steps
    repeats = sizes["repeats"]
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    for device in devices:
        gpu = device.startswith("cuda")
        step_batches = batches or sizes["gpu_batches" if gpu else "batches"]
        for system in systems:
            for path in (p for p in paths if p in ("eager", "fast")):
                for batch in step_batches:
                    what = f"step {system} {device} {path} batch {batch}"
                    say(what)
                    args = (system, batch, sizes["steps"], path, device, repeats)
                    _attempt(rows, errors, what, bench_step, *args)
        for path in (p for p in paths if gpu or p != "graph"):
            for batch in sizes["gpu_bptt_batches" if gpu else "bptt_batches"]:
                what = f"bptt cartpole {device} {path} batch {batch}"
                say(what)
                args = (batch, sizes["bptt_steps"], path, device, repeats)
                _attempt(rows, errors, what, bench_bptt, *args)
    gymnax = gymnax_status() if measure_gymnax else {"available": False, "note": "not asked"}
    if gymnax["available"]:
        jax_batches = batches or sizes["gpu_batches" if gymnax["jax_gpu"] else "batches"]
        for system in (s for s in systems if gymnasium_id(s) is not None):
            for batch in jax_batches:
                what = f"gymnax {system} batch {batch}"
                say(what)
                _attempt(rows, errors, what, bench_gymnax, system, batch, sizes["steps"], repeats)
    else:
        say(gymnax["note"])
    if measure_envs:
        env_jobs = []
        tasked = {t.system for t in registry.task_specs().values()}
        for system in (s for s in systems if s in tasked):  # an env is a task of a system
            reference, ours = gymnasium_id(system), primary_task(system).env_id
            for mode in ("single", "vector"):
                if reference is not None:
                    env_jobs.append((reference, mode, {}))
                env_jobs.append((ours, mode, {}))
            if "fast" in paths:
                env_jobs.append((ours, "vector", {"fast": True}))
        for env_id, mode, kwargs in env_jobs:
            what = f"env {env_id} {mode}{' fast' if kwargs else ''}"
            say(what)
            args = (env_id, mode, num_envs, repeats, sizes["env_time"], kwargs)
            _attempt(rows, errors, what, bench_env, *args)
    return {
        "machine": machine_info(),
        "config": {
            "devices": list(devices),
            "paths": list(paths),
            "systems": list(systems),
            "quick": quick,
            "num_envs": num_envs,
            "block": BLOCK,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()},
            "batches_override": list(batches) if batches else None,
        },
        "gymnax": gymnax,
        # The 1-minute load average before and after: above the core count, the run shared
        # the machine with other work (its ratios, taken in the same run, still compare).
        "load_average": [load_before, os.getloadavg()[0] if load_before is not None else None],
        "results": rows,
        "errors": errors,
    }


# -- ratios and the printed tables -------------------------------------------------------------


def _find(rows: list[dict], **match: Any) -> Optional[dict]:
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def env_ratios(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each diffsim env row with its Gymnasium counterpart (same system and mode) and ratio."""
    rows = result["results"]
    out = []
    for r in rows:
        if r["kind"] != "env" or r["impl"] != "diffsim":
            continue
        ref = _find(rows, kind="env", impl="gymnasium", system=r["system"], mode=r["mode"])
        ratio = r["steps_per_s"] / ref["steps_per_s"] if ref else None
        out.append({**r, "reference": ref, "ratio": ratio})
    return out


def step_ratios(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each ``step`` row with ratios to the eager row, Gymnasium's single and vector env of
    its system, and gymnax at the same batch (where measured)."""
    rows = result["results"]
    out = []
    for r in rows:
        if r["kind"] != "step":
            continue
        eager = _find(
            rows,
            kind="step",
            system=r["system"],
            device=r["device"],
            path="eager",
            batch=r["batch"],
        )
        single = _find(rows, kind="env", impl="gymnasium", system=r["system"], mode="single")
        vector = _find(rows, kind="env", impl="gymnasium", system=r["system"], mode="vector")
        jx = _find(rows, kind="gymnax", system=r["system"], batch=r["batch"])
        sps = r["steps_per_s"]
        out.append(
            {
                **r,
                "vs_eager": sps / eager["steps_per_s"] if eager else None,
                "vs_gym_single": sps / single["steps_per_s"] if single else None,
                "vs_gym_vector": sps / vector["steps_per_s"] if vector else None,
                "vs_gymnax": sps / jx["steps_per_s"] if jx else None,
                "gymnax_device": jx["device"] if jx else None,
            }
        )
    return out


def _x(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.3g}×"


def format_table(result: dict[str, Any]) -> str:
    """Plain-text tables of a :func:`run_bench` result, with the ratios."""
    m = result["machine"]
    lines = [
        f"machine: {m['cpu']} ({m['cores']} cores, {m['torch_threads']} torch threads), "
        f"GPU: {m['gpu'] or 'none'}; torch {m['torch']}, numpy {m['numpy']}, "
        f"gymnasium {m['gymnasium']}",
        result["gymnax"].get("note")
        or f"gymnax {result['gymnax'].get('gymnax')} on {result['gymnax'].get('jax_device')}",
        "",
        "stepping (open loop, float32):",
        f"{'system':9} {'device':6} {'path':6} {'batch':>8} {'steps/s':>10} {'first call':>11} "
        f"{'vs eager':>9} {'vs gym 1':>9} {'vs gym vec':>10} {'vs gymnax':>9}",
    ]
    for r in step_ratios(result):
        lines.append(
            f"{r['system']:9} {r['device']:6} {r['path']:6} {r['batch']:8d} "
            f"{r['steps_per_s']:10.3g} {r['first_call_s']:10.2f}s {_x(r['vs_eager']):>9} "
            f"{_x(r['vs_gym_single']):>9} {_x(r['vs_gym_vector']):>10} {_x(r['vs_gymnax']):>9}"
        )
    bptt = [r for r in result["results"] if r["kind"] == "bptt"]
    if bptt:
        lines += [
            "",
            "BPTT iteration (CartPole, MLP 4-64-64-1, st_sign, forward+backward):",
            f"{'device':6} {'path':6} {'batch':>8} {'steps':>6} {'ms/iter':>9} {'steps/s':>10} "
            f"{'first call':>11} {'vs eager':>9}",
        ]
        for r in bptt:
            eager = _find(bptt, device=r["device"], path="eager", batch=r["batch"])
            lines.append(
                f"{r['device']:6} {r['path']:6} {r['batch']:8d} {r['steps']:6d} "
                f"{r['iteration_ms']:9.2f} {r['steps_per_s']:10.3g} {r['first_call_s']:10.2f}s "
                f"{_x(eager['seconds'] / r['seconds'] if eager else None):>9}"
            )
    jx = [r for r in result["results"] if r["kind"] == "gymnax"]
    if jx:
        lines += ["", "gymnax (jit(scan(vmap(step_env)))):"]
        for r in jx:
            lines.append(
                f"{r['system']:9} {r['device']:6} {r['batch']:8d} {r['steps_per_s']:10.3g}"
            )
    envs = env_ratios(result)
    if envs:
        lines += [
            "",
            "Gymnasium API envs (CPU):",
            f"{'id':22} {'mode':7} {'num_envs':>8} {'fast':>5} {'steps/s':>10} "
            f"{'Gymnasium':>10} {'ratio':>7}",
        ]
        for r in envs:
            ref = r["reference"]
            lines.append(
                f"{r['id']:22} {r['mode']:7} {r['num_envs']:8d} {str(r['fast']):>5} "
                f"{r['steps_per_s']:10.3g} "
                f"{(ref['steps_per_s'] if ref else float('nan')):10.3g} {_x(r['ratio']):>7}"
            )
    for e in result["errors"]:
        lines.append(f"FAILED {e['what']}: {e['error']}")
    return "\n".join(lines)


# -- the command line --------------------------------------------------------------------------


def _csv(kind: Callable[[str], Any]) -> Callable[[str], tuple]:
    return lambda text: tuple(kind(x) for x in text.split(",") if x)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="steps/s of the physics (eager, fast) against Gymnasium and gymnax",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--devices",
        type=_csv(str),
        default=None,
        help="comma-separated torch devices (default: cpu, and cuda when available)",
    )
    p.add_argument(
        "--paths",
        type=_csv(str),
        default=PATHS,
        help="comma-separated paths among eager, fast, graph (graph: GPU BPTT only; default: all)",
    )
    p.add_argument(
        "--systems",
        type=_csv(str),
        default=None,
        help=f"comma-separated registered systems among {','.join(bench_systems())} (default: all)",
    )
    p.add_argument(
        "--batches",
        type=_csv(int),
        default=None,
        help="stepping batch sizes (default: 1,1024,4096,65536 on the CPU, "
        "1,1024,65536,1048576 on a GPU)",
    )
    p.add_argument(
        "--steps", type=int, default=None, help="steps per rollout and BPTT iteration (200)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes (batches 1,256; 16 steps; one timed run): a smoke run in seconds, "
        "plus the fast path's compilation",
    )
    p.add_argument("--num-envs", type=int, default=1024, help="vector env size (default: 1024)")
    p.add_argument("--no-envs", action="store_true", help="skip the Gymnasium-API env rows")
    p.add_argument("--no-gymnax", action="store_true", help="skip gymnax even if importable")
    p.add_argument(
        "--cold",
        action="store_true",
        help="compile into a fresh, empty Inductor cache, so first-call times are cold",
    )
    add_threads_option(p)
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/bench.json"),
        help="JSON result file (default: runs/bench.json)",
    )
    p.set_defaults(func=run)


def _command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (every option spelled out)."""
    parts = ["diffsim", "bench"]
    for name, value in vars(args).items():
        flag = "--" + name.replace("_", "-")
        if name in ("func", "command") or value is None or value is False:
            continue
        if value is True:
            parts.append(flag)
        elif isinstance(value, tuple):
            parts += [flag, ",".join(str(v) for v in value)]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed arguments; prints the tables, writes the JSON."""
    import torch

    bad = [p for p in args.paths if p not in PATHS]
    if bad:
        raise ValueError(f"unknown path(s) {bad}; expected some of: {', '.join(PATHS)}")
    systems = check_systems(bench_systems() if args.systems is None else args.systems)
    if (args.steps is not None and args.steps < 1) or any(b < 1 for b in args.batches or ()):
        raise ValueError("--steps and --batches must be positive")
    apply_threads(args)
    if args.cold:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="diffsim-inductor-")
    devices = args.devices or (("cpu", "cuda") if torch.cuda.is_available() else ("cpu",))
    result = run_bench(
        devices=tuple(devices),
        paths=tuple(args.paths),
        systems=systems,
        quick=args.quick,
        num_envs=args.num_envs,
        measure_envs=not args.no_envs,
        measure_gymnax=not args.no_gymnax,
        batches=args.batches,
        steps=args.steps,
    )
    result["command"] = _command_line(args)
    result["config"]["threads"] = torch.get_num_threads()
    result["config"]["cold_compile_cache"] = args.cold
    print(format_table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0
