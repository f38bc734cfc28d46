"""Env-steps per second of diffsim's envs against Gymnasium's, measured as a user would.

The protocol (``docs/envs.md``, "Speed", states it too; anyone can repeat it):

1. **Pairs.** Each of ours against Gymnasium's counterpart: ``diffsim/CartPole-v1`` vs
   ``CartPole-v1`` and ``diffsim/Pendulum-v1`` vs ``Pendulum-v1`` (``--pairs``; every known
   pair with ``--pairs all``, see :data:`PAIRS`).
2. **Variants**, all built in the same process:

   - ``vector``: ``gymnasium.make_vec(id, num_envs=N)`` with no other argument, i.e.
     ``make_vec``'s defaults: the spec's vector entry point where it has one (all of ours;
     Gymnasium's ``CartPole-v1``: its NumPy ``CartPoleVectorEnv``), else a
     ``SyncVectorEnv`` of N envs (Gymnasium's ``Pendulum-v1`` has no vector env). The mode
     each got is recorded (``vectorization``).
   - ``vector`` with ``fast=True`` (ours only): ``make_vec(id, num_envs=N, fast=True)``,
     the compiled torch step; it compiles during the warm-up, which is not timed.
   - ``single``: ``gymnasium.make(id)``, wrappers included (``TimeLimit``,
     ``OrderEnforcing``, ``PassiveEnvChecker``), as users get it.

3. **Actions**: random, from the env's own ``action_space.sample()`` after
   ``action_space.seed(seed)``: a pool of ``--pool`` samples (a vector sample holds one
   action per sub-env) drawn *before* timing and cycled, so sampling is timed on neither
   side. Each env is ``reset(seed=seed)`` once; vector envs then autoreset (Gymnasium 1.x's
   next-step mode, on both sides); a single env is ``reset()`` when an episode ends, inside
   the timed loop, as a training loop does.
4. **Warm-up**: each variant steps for ``--warmup`` seconds first (at least one step).
5. **Repeats, interleaved**: ``--repeats`` rounds (≥ 5 for a published figure); each round
   times every variant of the pair once, in a fixed order (A B C D E, A B C D E, ...), so
   load drifts hit all variants alike. A timed run steps in chunks until ``--min-time``
   seconds of wall clock have passed (≥ 1 s for a published figure).
6. **Figures**: env-steps/s = steps × num_envs ÷ wall seconds of each timed run (CPU seconds
   of the process are recorded too); the **best** and the **median** over the repeats.
   Ratios: ours ÷ Gymnasium's of the same mode from the same run (vector ÷ vector,
   single ÷ single), best ÷ best and median ÷ median.
7. **Recorded** in the JSON (``--out``): the command, the configuration, the machine
   (:func:`diffsim.scripts.bench.machine_info`, plus the SIMD extensions NumPy and torch
   use, which set the cost of ``sin``/``cos``), the load average before and after, every
   timed run.

torch runs on ``--threads`` threads (1 by default: NumPy and Gymnasium's envs use one core;
0 leaves torch's default). Run on a quiet machine (the load average before and after says
how quiet it was)::

    python scripts/bench_envs.py --out docs/results/bench_envs.json

(or ``python -m diffsim.scripts.bench_envs``); then ``python -m diffsim.scripts.report_docs``
rewrites the speed table of ``docs/envs.md`` from that file.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional


def _pairs() -> dict[str, tuple[str, str]]:
    from diffsim import systems

    specs = (systems.get_task_spec(name) for name in systems.task_specs())
    return {t.short_name: (t.env_id, t.gymnasium_id) for t in specs if t.gymnasium_id}


PAIRS: dict[str, tuple[str, str]] = _pairs()
"""Known pairs, by task short name: (our id, Gymnasium's id), every registered task with a
Gymnasium twin (``TaskSpec.gymnasium_id``)."""

DEFAULT_PAIRS = "all"
"""The pairs measured by default: every one of :data:`PAIRS`."""

CHUNK_SECONDS = 0.02
"""Wall-clock length of one chunk of steps between two clock reads (about)."""


@dataclasses.dataclass
class BenchConfig:
    """Options of the env benchmark (each becomes a ``--flag``)."""

    num_envs: int = 1024
    """Sub-envs of the vector variants."""
    repeats: int = 5
    """Interleaved timed runs per variant (best and median are reported)."""
    min_time: float = 1.0
    """Least wall-clock seconds of one timed run."""
    warmup: float = 1.0
    """Seconds of untimed stepping per variant before the first timed run."""
    pool: int = 64
    """Action samples drawn before timing and cycled."""
    seed: int = 0
    """Seed of every reset and of the action spaces."""
    threads: int = 1
    """torch intra-op threads (0: torch's default)."""
    pairs: str = DEFAULT_PAIRS
    """Comma-separated pair names (keys of PAIRS) or ``all``."""
    fast: bool = True
    """Measure the ``fast=True`` variants (each compiles for seconds in its warm-up)."""
    out: str = "bench_envs.json"
    """Where to write the JSON result."""


HELP = {
    "num_envs": "sub-envs of the vector variants",
    "repeats": "interleaved timed runs per variant (>= 5 for a published figure)",
    "min_time": "least wall-clock seconds per timed run (>= 1 for a published figure)",
    "warmup": "untimed seconds of stepping per variant first",
    "pool": "action samples drawn before timing and cycled",
    "seed": "seed of the resets and the action spaces",
    "threads": "torch intra-op threads (0: torch's default)",
    "pairs": f"comma-separated pairs ({', '.join(PAIRS)}) or 'all'",
    "fast": "measure the fast=True variants (--no-fast skips them)",
    "out": "JSON output path",
}


@dataclasses.dataclass
class Variant:
    """One env to time: how it is built and what it is compared with."""

    name: str
    """Short label (``"ours vector fast=True"``)."""
    id: str
    impl: str
    """``"diffsim"`` or ``"gymnasium"``."""
    mode: str
    """``"vector"`` or ``"single"``."""
    fast: bool
    make: Callable[[], Any]
    """Builds the env."""
    call: str
    """The call that builds it, as a user writes it."""


def check_config(cfg: BenchConfig) -> list[str]:
    """The pair names of ``cfg``, after checking every option.

    Raises:
        ValueError: for a non-positive size, count or time, a negative warm-up or thread
            count, or an unknown pair (the message lists the known ones).
    """
    for name in ("num_envs", "repeats", "pool"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(cfg, name)}")
    if not cfg.min_time > 0:
        raise ValueError(f"--min-time must be > 0 seconds, got {cfg.min_time}")
    if cfg.warmup < 0 or cfg.threads < 0:
        raise ValueError(f"--warmup and --threads must be >= 0, got {cfg.warmup}, {cfg.threads}")
    names = list(PAIRS) if cfg.pairs == "all" else [p for p in cfg.pairs.split(",") if p]
    bad = [p for p in names if p not in PAIRS]
    if bad or not names:
        raise ValueError(
            f"unknown pair(s) {bad or names!r} in --pairs; expected a comma-separated list "
            f"of: {', '.join(PAIRS)} (or 'all')"
        )
    return names


def pair_variants(pair: str, cfg: BenchConfig) -> list[Variant]:
    """The variants of one pair, in their timing order: Gymnasium's vector env, ours
    (NumPy, then ``fast=True`` unless ``cfg.fast`` is False), Gymnasium's single env, ours."""
    import gymnasium as gym

    import diffsim  # noqa: F401  (registers our ids)

    ours, theirs = PAIRS[pair]
    n = cfg.num_envs

    def vec(env_id: str, **kw: Any) -> Callable[[], Any]:
        return lambda: gym.make_vec(env_id, num_envs=n, **kw)

    def one(env_id: str) -> Callable[[], Any]:
        return lambda: gym.make(env_id)

    out = [
        Variant("Gymnasium vector", theirs, "gymnasium", "vector", False, vec(theirs),
                f"gym.make_vec({theirs!r}, num_envs={n})"),
        Variant("ours vector", ours, "diffsim", "vector", False, vec(ours),
                f"gym.make_vec({ours!r}, num_envs={n})"),
    ]  # fmt: skip
    if cfg.fast:
        out.append(
            Variant("ours vector fast=True", ours, "diffsim", "vector", True,
                    vec(ours, fast=True), f"gym.make_vec({ours!r}, num_envs={n}, fast=True)")
        )  # fmt: skip
    out += [
        Variant("Gymnasium single", theirs, "gymnasium", "single", False, one(theirs),
                f"gym.make({theirs!r})"),
        Variant("ours single", ours, "diffsim", "single", False, one(ours),
                f"gym.make({ours!r})"),
    ]  # fmt: skip
    return out


def vectorization(env: Any) -> str:
    """The ``make_vec`` mode an env was built with: ``"sync"``, ``"async"`` or
    ``"vector_entry_point"`` (any other vector env: its own class)."""
    from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

    if isinstance(env, SyncVectorEnv):
        return "sync"
    if isinstance(env, AsyncVectorEnv):
        return "async"
    return "vector_entry_point"


class Stepper:
    """A built env with its action pool, stepped in timed chunks.

    Args:
        variant: What to build.
        cfg: The seed and the pool size.
    """

    def __init__(self, variant: Variant, cfg: BenchConfig) -> None:
        self.variant = variant
        self.env = variant.make()
        self.env.action_space.seed(cfg.seed)
        pool = [self.env.action_space.sample() for _ in range(cfg.pool)]
        self.env.reset(seed=cfg.seed)
        self._actions = itertools.cycle(pool)
        self.num_envs = cfg.num_envs if variant.mode == "vector" else 1
        self.chunk = 1
        self.warm_up_s = 0.0

    def _run(self, k: int) -> None:
        step, actions = self.env.step, self._actions
        if self.variant.mode == "vector":
            for _ in range(k):
                step(next(actions))
            return
        reset = self.env.reset
        for _ in range(k):
            _, _, terminated, truncated, _ = step(next(actions))
            if terminated or truncated:
                reset()

    def warm_up(self, seconds: float) -> None:
        """Step (untimed) for ``seconds`` (at least one step, which compiles ``fast=True``),
        then size the chunks to about :data:`CHUNK_SECONDS` each."""
        first = time.perf_counter()
        self._run(1)
        start, done = time.perf_counter(), 0
        while True:
            self._run(self.chunk)
            done += self.chunk
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
            self.chunk = min(2 * self.chunk, max(1, int(done / elapsed * CHUNK_SECONDS)))
        self.chunk = max(1, int(done / max(elapsed, 1e-9) * CHUNK_SECONDS))
        self.warm_up_s = time.perf_counter() - first

    def timed(self, min_time: float) -> dict[str, float]:
        """One timed run of at least ``min_time`` wall-clock seconds: its step calls, wall
        and CPU seconds and env-steps/s (wall and CPU)."""
        gc.collect()
        calls, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
        while True:
            self._run(self.chunk)
            calls += self.chunk
            wall = time.perf_counter() - wall0
            if wall >= min_time:
                break
        cpu = time.process_time() - cpu0
        env_steps = calls * self.num_envs
        return {
            "calls": calls,
            "wall_s": wall,
            "cpu_s": cpu,
            "env_steps_per_s": env_steps / wall,
            "cpu_env_steps_per_s": env_steps / cpu if cpu > 0 else float("nan"),
        }

    def close(self) -> None:
        """Close the env."""
        self.env.close()


def measure_pair(pair: str, cfg: BenchConfig, log: Callable[[str], None] = print) -> list[dict]:
    """Build, warm up and time every variant of ``pair`` (interleaved repeats); one result
    row per variant, with its ratios to Gymnasium's variant of the same mode."""
    steppers = []
    for variant in pair_variants(pair, cfg):
        stepper = Stepper(variant, cfg)
        stepper.warm_up(cfg.warmup)
        steppers.append(stepper)
    runs: list[list[dict[str, float]]] = [[] for _ in steppers]
    for r in range(cfg.repeats):
        for i, stepper in enumerate(steppers):
            runs[i].append(stepper.timed(cfg.min_time))
        log(f"  {pair}: round {r + 1}/{cfg.repeats} done")
    rows = []
    for stepper, timed in zip(steppers, runs):
        v = stepper.variant
        rates = [t["env_steps_per_s"] for t in timed]
        cpu_rates = [t["cpu_env_steps_per_s"] for t in timed]
        rows.append(
            {
                "pair": pair,
                "name": v.name,
                "id": v.id,
                "impl": v.impl,
                "mode": v.mode,
                "fast": v.fast,
                "num_envs": stepper.num_envs,
                "call": v.call,
                "vectorization": vectorization(stepper.env) if v.mode == "vector" else "make",
                "env_type": type(stepper.env.unwrapped).__name__,
                "warm_up_s": stepper.warm_up_s,
                "chunk": stepper.chunk,
                "runs": timed,
                "best": max(rates),
                "median": statistics.median(rates),
                "cpu_best": max(cpu_rates),
                "cpu_median": statistics.median(cpu_rates),
            }
        )
        stepper.close()
    add_ratios(rows)
    return rows


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Give each of our rows ``vs`` (Gymnasium's row of its pair and mode: id and
    vectorization) and its ratios to it: ``ratio_best``, ``ratio_median`` (wall clock) and
    ``cpu_ratio_best``, ``cpu_ratio_median`` (CPU time)."""
    for r in rows:
        if r["impl"] != "diffsim":
            continue
        ref = next(
            (
                g
                for g in rows
                if g["impl"] == "gymnasium" and g["pair"] == r["pair"] and g["mode"] == r["mode"]
            ),
            None,
        )
        if ref is None:
            continue
        r["vs"] = {"id": ref["id"], "vectorization": ref["vectorization"]}
        for key in ("best", "median", "cpu_best", "cpu_median"):
            prefix, stat = ("cpu_", key[4:]) if key.startswith("cpu_") else ("", key)
            r[f"{prefix}ratio_{stat}"] = r[key] / ref[key]


def simd_info() -> dict[str, Any]:
    """The SIMD extensions NumPy's ufuncs may dispatch to on this CPU and torch's CPU
    capability (what the compiled kernels use)."""
    import torch

    info: dict[str, Any] = {"torch": torch.backends.cpu.get_cpu_capability()}
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # a NumPy without these (private) names
        info["numpy"] = None
    else:
        info["numpy"] = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    return info


def _load() -> Optional[list[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on this platform
        return None


def run_bench(
    cfg: BenchConfig, argv: Optional[Sequence[str]] = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Measure every pair of ``cfg`` by the protocol of the module docstring.

    Args:
        cfg: The options.
        argv: The command-line arguments, recorded as the command (``sys.argv[1:]`` if None).
        log: Where progress lines go.

    Returns:
        The result dict (``protocol``, ``command``, ``config``, ``machine``, ``load_before``,
        ``load_after``, ``results``: one row per variant), as written to JSON by
        :func:`main`.

    Raises:
        ValueError: for bad options (:func:`check_config`).
    """
    pairs = check_config(cfg)
    import torch

    from diffsim.scripts.bench import machine_info

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    argv = sys.argv[1:] if argv is None else list(argv)
    load_before = _load()
    rows = []
    for pair in pairs:
        rows += measure_pair(pair, cfg, log)
    machine = machine_info()
    machine["simd"] = simd_info()
    return {
        "protocol": (
            "gymnasium.make_vec(id, num_envs=N) (make_vec defaults) and our fast=True; "
            "gymnasium.make(id) for one env; random actions from env.action_space.sample(), "
            "a seeded pool drawn before timing; warm-up; interleaved repeats of >= min_time "
            "s wall clock each; env-steps/s best and median; ratios to Gymnasium's env of "
            "the same mode in the same run"
        ),
        "command": " ".join(["python", "scripts/bench_envs.py", *map(shlex.quote, argv)]),
        "config": dataclasses.asdict(cfg),
        "machine": machine,
        "load_before": load_before,
        "load_after": _load(),
        "results": rows,
    }


def format_table(result: dict[str, Any]) -> str:
    """The result as a fixed-width text table (env-steps/s, best and median; ratios)."""
    head = (
        f"{'variant':24s} {'id':32s} {'envs':>5s} {'best/s':>13s} {'median/s':>13s} "
        f"{'x best':>7s} {'x median':>8s} {'x cpu':>6s}  vectorization"
    )
    lines = [head, "-" * len(head)]
    for r in result["results"]:

        def ratio(key: str, r: dict = r) -> str:
            return f"{r[key]:.2f}" if key in r else "-"

        lines.append(
            f"{r['name']:24s} {r['id']:32s} {r['num_envs']:5d} {r['best']:13,.0f} "
            f"{r['median']:13,.0f} {ratio('ratio_best'):>7s} {ratio('ratio_median'):>8s} "
            f"{ratio('cpu_ratio_best'):>6s}  {r['vectorization']}"
        )
    lines.append(f"load average before {result['load_before']}, after {result['load_after']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser, one flag per :class:`BenchConfig` field."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Protocol: see the module docstring (python -m pydoc diffsim.scripts.bench_envs).",
    )
    for f in dataclasses.fields(BenchConfig):
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=f.default, help=HELP[f.name]
            )
            continue
        parser.add_argument(
            flag,
            type=type(f.default),
            default=f.default,
            help=f"{HELP[f.name]} (default: %(default)s)",
        )
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark from the command line; prints a table, writes ``--out``."""
    args = sys.argv[1:] if argv is None else argv
    cfg = BenchConfig(**vars(build_parser().parse_args(args)))
    result = run_bench(cfg, args)
    print(format_table(result))
    Path(cfg.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {cfg.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
