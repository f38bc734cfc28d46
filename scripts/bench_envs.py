"""Steps per second of every registered diffsim env against Gymnasium's, in one run.

For each id (and Gymnasium's ``CartPole-v1`` / ``Pendulum-v1``) it measures:

- ``single``: one env made with ``gymnasium.make`` (wrappers included, as users get it),
  random actions drawn beforehand, reset on termination or truncation; steps/s.
- ``vector``: ``gymnasium.make_vec(id, num_envs=N)`` with the vector entry point (Gymnasium's
  ``Pendulum-v1`` has none: it is measured as ``SyncVectorEnv``, its default); env-steps/s
  = ``N × step calls ÷ seconds`` (autoreset calls included, as a trainer sees them).

Each figure is the best of ``--repeats`` timed runs of at least ``--min-time`` seconds after
a warm-up. Prints a table and writes JSON (``--out``). Run with
``python scripts/bench_envs.py`` or ``python -m diffsim.scripts.bench_envs``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

import diffsim  # noqa: F401  (registers the ids)
from diffsim.envs import ENV_IDS
from diffsim.scripts.bench import machine_info

REFERENCES = ("CartPole-v1", "Pendulum-v1")
"""Gymnasium's own envs, measured in the same run."""


@dataclasses.dataclass
class BenchConfig:
    """Options of the env benchmark (each becomes a ``--flag``)."""

    num_envs: int = 1024
    """Sub-envs of the vector measurements."""
    min_time: float = 1.0
    """Least seconds per timed run."""
    repeats: int = 3
    """Timed runs per figure (the best is kept)."""
    threads: int = 1
    """torch intra-op threads (1: fair against single-threaded NumPy)."""
    ids: str = ",".join((*ENV_IDS, *REFERENCES))
    """Comma-separated ids to measure."""
    out: str = "bench_envs.json"
    """Where to write the JSON result."""


def _rate(chunk: Callable[[], int], cfg: BenchConfig) -> float:
    """Best units/s of ``chunk`` (which returns how many units it did) over the repeats."""
    chunk()  # warm-up
    best = 0.0
    for _ in range(cfg.repeats):
        done, start = 0, time.perf_counter()
        while True:
            done += chunk()
            elapsed = time.perf_counter() - start
            if elapsed >= cfg.min_time:
                break
        best = max(best, done / elapsed)
    return best


def bench_single(env_id: str, cfg: BenchConfig) -> float:
    """Steps/s of one env made with ``gymnasium.make``."""
    env = gym.make(env_id)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(256)]
    env.reset(seed=0)
    n = 8 if "Trebuchet" in env_id else 256

    def chunk() -> int:
        for a in actions[:n]:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        return n

    return _rate(chunk, cfg)


def bench_vector(env_id: str, cfg: BenchConfig) -> tuple[float, str]:
    """Env-steps/s of ``make_vec`` at ``cfg.num_envs`` and the vectorization mode used."""
    mode = "vector_entry_point" if gym.spec(env_id).vector_entry_point else "sync"
    env = gym.make_vec(env_id, num_envs=cfg.num_envs, vectorization_mode=mode)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(16)]
    env.reset(seed=0)
    n = 2 if ("Trebuchet" in env_id or mode == "sync") else 16

    def chunk() -> int:
        for a in actions[:n]:
            env.step(a)
        return n * cfg.num_envs

    return _rate(chunk, cfg), mode


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Measure every id of ``cfg.ids``; returns the result dict (also written to JSON)."""
    torch.set_num_threads(cfg.threads)
    rows = []
    for env_id in cfg.ids.split(","):
        single = bench_single(env_id, cfg)
        vector, mode = bench_vector(env_id, cfg)
        rows.append(
            {
                "id": env_id,
                "single_steps_per_s": single,
                "vector_env_steps_per_s": vector,
                "vector_mode": mode,
            }
        )
        print(f"  measured {env_id}", flush=True)
    ref = {r["id"]: r for r in rows}
    for r in rows:
        base = "Pendulum-v1" if "Pendulum" in r["id"] else "CartPole-v1"
        if base in ref and ("Pendulum" in r["id"] or "CartPole" in r["id"]):
            r["vs"] = base
            r["single_ratio"] = r["single_steps_per_s"] / ref[base]["single_steps_per_s"]
            r["vector_ratio"] = r["vector_env_steps_per_s"] / ref[base]["vector_env_steps_per_s"]
    return {"config": dataclasses.asdict(cfg), "machine": machine_info(), "results": rows}


def format_table(result: dict[str, Any]) -> str:
    """The result as a fixed-width text table."""
    n = result["config"]["num_envs"]
    head = (
        f"{'id':32s} {'single steps/s':>15s} {f'vector@{n} env-steps/s':>24s} "
        f"{'mode':>19s} {'vs':>12s} {'single×':>8s} {'vector×':>8s}"
    )
    lines = [head, "-" * len(head)]
    for r in result["results"]:
        lines.append(
            f"{r['id']:32s} {r['single_steps_per_s']:15,.0f} {r['vector_env_steps_per_s']:24,.0f} "
            f"{r['vector_mode']:>19s} {r.get('vs', ''):>12s} "
            f"{r.get('single_ratio', float('nan')):8.2f} {r.get('vector_ratio', float('nan')):8.2f}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser, one flag per :class:`BenchConfig` field."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    docs = {
        "num_envs": "sub-envs of the vector measurements",
        "min_time": "least seconds per timed run",
        "repeats": "timed runs per figure (the best is kept)",
        "threads": "torch intra-op threads",
        "ids": "comma-separated ids to measure",
        "out": "JSON output path",
    }
    for f in dataclasses.fields(BenchConfig):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=type(f.default),
            default=f.default,
            help=f"{docs[f.name]} (default: %(default)s)",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line."""
    cfg = BenchConfig(**vars(build_parser().parse_args(argv)))
    result = run_bench(cfg)
    print(format_table(result))
    Path(cfg.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {cfg.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
