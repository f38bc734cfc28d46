"""Generate ``docs/speed.md`` from ``diffsim bench`` result files.

Usage::

    python -m diffsim.scripts.report_speed docs/results/speed_cpu.json [GPU.json ...] \\
        > docs/speed.md

Every figure, ratio, target verdict and "when it pays" sentence on the page is computed
from the JSON files given (one per machine: the CPU run, and a GPU run when there is one);
nothing is typed by hand except the fixed explanations (what is measured, how to carry
the dependencies to a GPU machine).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

from .bench import env_ratios, step_ratios

TARGET_FAST_OVER_EAGER_CPU = 2.0
TARGET_VS_GYMNAX_GPU = 1.0
TARGET_BPTT_GPU_MS = 40.0
BPTT_TARGET_BATCH = 4096


def _g(x: Optional[float], spec: str = ".3g") -> str:
    return "—" if x is None else format(x, spec)


def _x(x: Optional[float]) -> str:
    return "—" if x is None else f"{x:.2f}×"


def _find(rows: list[dict], **match: Any) -> Optional[dict]:
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def _verdict(value: Optional[float], target: float, higher: bool = True) -> str:
    if value is None:
        return "not measured"
    met = value >= target if higher else value <= target
    return "**met**" if met else "**not met**"


def machine_line(result: dict[str, Any]) -> str:
    """One line naming the machine and the versions of a result."""
    m = result["machine"]
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU"
    jx = result.get("gymnax", {})
    gymnax = (
        f"gymnax {jx['gymnax']} (JAX {jx['jax']}, {jx['jax_device']})"
        if jx.get("available")
        else "gymnax not importable"
    )
    return (
        f"{m['cpu']}, {m['cores']} cores ({result['config'].get('threads', m['torch_threads'])} "
        f"torch thread(s)){gpu}; Python {m['python']}, torch {m['torch']}, NumPy {m['numpy']}, "
        f"Gymnasium {m['gymnasium']}, {gymnax}"
    )


def targets(results: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, each with the measured figure and a verdict."""
    cpu = next((r for r in results if not r["machine"].get("gpu")), None)
    gpu = next((r for r in results if r["machine"].get("gpu")), None)
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    if cpu is not None:
        steps = step_ratios(cpu)
        for system in ("cartpole", "pendulum"):
            row = _find(steps, device="cpu", path="fast", system=system, batch=4096)
            value = row["vs_eager"] if row else None
            lines.append(
                f"| CPU: {system} fast stepping ≥ {TARGET_FAST_OVER_EAGER_CPU:g}× eager at batch "
                f"4,096 | {_x(value)} | {_verdict(value, TARGET_FAST_OVER_EAGER_CPU)} |"
            )
    if gpu is None:
        lines.append(
            f"| GPU: stepping ≥ {TARGET_VS_GYMNAX_GPU:g}× gymnax at batch ≥ 1,024 | — | "
            "**open**: no GPU result yet |"
        )
        lines.append(
            f"| GPU: BPTT iteration at batch {BPTT_TARGET_BATCH:,}, 200 steps ≤ "
            f"{TARGET_BPTT_GPU_MS:g} ms | — | **open**: no GPU result yet |"
        )
    else:
        steps = step_ratios(gpu)
        for system in ("cartpole", "pendulum"):
            ratios = [
                r["vs_gymnax"]
                for r in steps
                if r["device"] == "cuda"
                and r["path"] == "fast"
                and r["system"] == system
                and r["batch"] >= 1024
                and r["vs_gymnax"] is not None
            ]
            value = min(ratios) if ratios else None
            lines.append(
                f"| GPU: {system} fast stepping ≥ {TARGET_VS_GYMNAX_GPU:g}× gymnax at every batch "
                f"≥ 1,024 (least ratio) | {_x(value)} | {_verdict(value, TARGET_VS_GYMNAX_GPU)} |"
            )
        best = [
            r["iteration_ms"]
            for r in gpu["results"]
            if r["kind"] == "bptt"
            and r["device"] == "cuda"
            and r["batch"] == BPTT_TARGET_BATCH
            and r["steps"] == 200
            and r["path"] != "eager"
        ]
        value = min(best) if best else None
        lines.append(
            f"| GPU: BPTT iteration at batch {BPTT_TARGET_BATCH:,}, 200 steps ≤ "
            f"{TARGET_BPTT_GPU_MS:g} ms | {_g(value, '.1f')} ms | "
            f"{_verdict(value, TARGET_BPTT_GPU_MS, higher=False)} |"
        )
    return lines


def stepping_table(result: dict[str, Any], device: str) -> list[str]:
    """Open-loop stepping: eager and fast per system and batch, with the ratios."""
    steps = [r for r in step_ratios(result) if r["device"] == device]
    if not steps:
        return []
    lines = [
        "| system | batch | eager steps/s | fast steps/s | fast ÷ eager | fast first call | "
        "fast ÷ Gymnasium single | fast ÷ Gymnasium vector | fast ÷ gymnax |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for system in ("cartpole", "pendulum"):
        batches = sorted({r["batch"] for r in steps if r["system"] == system})
        for batch in batches:
            eager = _find(steps, system=system, batch=batch, path="eager")
            fast = _find(steps, system=system, batch=batch, path="fast")
            lines.append(
                f"| {system} | {batch:,} | {_g(eager and eager['steps_per_s'])} | "
                f"{_g(fast and fast['steps_per_s'])} | {_x(fast and fast['vs_eager'])} | "
                f"{_g(fast and fast['first_call_s'], '.1f')} s | "
                f"{_x(fast and fast['vs_gym_single'])} | {_x(fast and fast['vs_gym_vector'])} | "
                f"{_x(fast and fast['vs_gymnax'])} |"
            )
    return lines


def gymnax_table(result: dict[str, Any]) -> list[str]:
    rows = [r for r in result["results"] if r["kind"] == "gymnax"]
    if not rows:
        return []
    lines = ["| system | device | batch | gymnax steps/s |", "|---|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['system']} | {r['device']} | {r['batch']:,} | {_g(r['steps_per_s'])} |")
    return lines


def bptt_table(result: dict[str, Any]) -> list[str]:
    rows = [r for r in result["results"] if r["kind"] == "bptt"]
    if not rows:
        return []
    lines = [
        "| device | path | batch | steps | ms / iteration | steps/s | ÷ eager | first call |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        eager = _find(rows, device=r["device"], path="eager", batch=r["batch"])
        ratio = eager["seconds"] / r["seconds"] if eager else None
        lines.append(
            f"| {r['device']} | {r['path']} | {r['batch']:,} | {r['steps']} | "
            f"{r['iteration_ms']:.1f} | {_g(r['steps_per_s'])} | {_x(ratio)} | "
            f"{r['first_call_s']:.1f} s |"
        )
    return lines


def env_table(result: dict[str, Any]) -> list[str]:
    envs = env_ratios(result)
    if not envs:
        return []
    lines = [
        "| env | mode | envs | path | steps/s | Gymnasium's (same mode) | ratio |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for r in envs:
        ref = r["reference"]
        ref_text = f"{_g(ref['steps_per_s'])} ({ref['id']}, {ref['vectorization']})" if ref else "—"
        path = "fast=True" if r["fast"] else "NumPy"
        lines.append(
            f"| {r['id']} | {r['mode']} | {r['num_envs']:,} | {path} | {_g(r['steps_per_s'])} | "
            f"{ref_text} | {_x(r['ratio'])} |"
        )
    return lines


def when_it_pays(result: dict[str, Any]) -> list[str]:
    """Sentences on where the fast path wins, computed from a result."""
    out = []
    steps = step_ratios(result)
    for device in sorted({r["device"] for r in steps}):
        fast = [r for r in steps if r["device"] == device and r["path"] == "fast"]
        if not fast:
            continue
        wins = sorted({r["batch"] for r in fast if (r["vs_eager"] or 0) > 1})
        ratios = ", ".join(
            f"{r['system']} {r['batch']:,}: {r['vs_eager']:.1f}×" for r in fast if r["vs_eager"]
        )
        firsts = [r["first_call_s"] for r in fast]
        out.append(
            f"- Stepping on {device}: the fast path beats eager at batch "
            f"{', '.join(f'{b:,}' for b in wins) or 'none'} ({ratios}). Each new batch size "
            f"compiles on its first call: {min(firsts):.1f}–{max(firsts):.1f} s here"
            f"{' (cold Inductor cache)' if result['config'].get('cold_compile_cache') else ''}; "
            f"it pays once a run saves more than that."
        )
    bptt = [r for r in result["results"] if r["kind"] == "bptt"]
    for device in sorted({r["device"] for r in bptt}):
        parts = []
        for r in bptt:
            eager = _find(bptt, device=device, path="eager", batch=r["batch"])
            if r["device"] == device and r["path"] != "eager" and eager:
                parts.append(
                    f"{r['path']} at {r['batch']:,}: {eager['seconds'] / r['seconds']:.2f}× "
                    f"(first call {r['first_call_s']:.1f} s)"
                )
        if parts:
            out.append(f"- BPTT iterations on {device}: " + "; ".join(parts) + ".")
    envs = [r for r in env_ratios(result) if r["mode"] == "vector"]
    for r in envs:
        if r["fast"] and r["reference"]:
            numpy = _find(envs, system=r["system"], fast=False)
            ref = r["reference"]
            kind = "NumPy vector env" if ref["vectorization"] != "sync" else "SyncVectorEnv"
            out.append(
                f"- Vector {r['system']} env at {r['num_envs']:,} envs against Gymnasium's "
                f"{kind}: `fast=True` {_x(r['ratio'])}, NumPy {_x(numpy and numpy['ratio'])}."
            )
    return out


WHEELS = """\
## Running the bench on a GPU machine without a package index

The GPU machines this project can borrow hold PyTorch, Triton, JAX, Flax, NumPy, tqdm and
matplotlib but neither Gymnasium nor gymnax, and reach no package index. Bring those as
wheels, downloaded here for the remote Python (3.12 on those machines), then install them
there with no index:

```bash
# here, in the repository root (.whl/ is ignored by git)
echo /.whl/ >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \\
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \\
    --platform manylinux2014_x86_64 -d .whl \\
    gymnax==1.0.1 gymnasium==1.3.0 farama-notifications
# list what else a wheel needs: unzip -p .whl/NAME-*.whl '*/METADATA' | grep ^Requires-Dist

# there, in the repository root (the copy of the working tree), before the bench
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e .   # diffsim itself
python3 -m diffsim.scripts bench --threads 1 --out docs/results/speed_gpu.json
```

gymnax 1.0.1 requires Gymnasium < 1.4 (diffsim works with any Gymnasium ≥ 1.0), and JAX,
Flax, matplotlib and seaborn, which those machines have. On a machine with a package index
`pip install gymnax` is all it takes. Then regenerate this page with both files:
`python -m diffsim.scripts.report_speed docs/results/speed_cpu.json
docs/results/speed_gpu.json > docs/speed.md`.
"""


def render(results: list[dict[str, Any]], paths: list[str]) -> str:
    """The whole page."""
    lines = [
        "# Speed",
        "",
        "<!-- Generated by `python -m diffsim.scripts.report_speed "
        + " ".join(paths)
        + " > docs/speed.md`; do not edit by hand. -->",
        "",
        "Steps per second count batch elements (batch × steps ÷ seconds); each figure is the "
        "least time of a few runs after a first, untimed call, and every ratio compares "
        "figures taken in the same run. *Eager* is plain torch, one kernel per operation; "
        "*fast* is `diffsim.fast` (the step compiled with TorchInductor, 8 steps fused per "
        "kernel for open-loop stepping; the per-step transition compiled for BPTT; on a GPU "
        "the BPTT iteration replayed as one CUDA graph). The single and vector envs step on "
        "NumPy by default, bitwise equal to Gymnasium's equations; the vector envs take "
        "`fast=True` for the compiled step. What is measured and why: `diffsim bench --help`.",
        "",
        "The fast path needs a C++ compiler on the CPU (`gcc`) and Triton on a GPU. It is not "
        "bitwise equal to the eager path: in float32, states, rewards and gradients agree "
        "within 1e-5 × (|x| + 1) over 50 CartPole or 20 Pendulum steps, and over 50 Pendulum "
        "steps within 1e-3, the size of float32's own drift from float64 there (see "
        "`diffsim.fast` and `tests/test_fast.py`). Each new function, batch size, dtype or "
        "device compiles on its first call; Inductor caches compiled code on disk, so later "
        "processes start faster than the cold first calls below.",
        "",
        "## Targets",
        "",
        *targets(results),
        "",
        "The envs' targets (the vector CartPole at 1,024 envs against Gymnasium's "
        "`CartPoleVectorEnv`, the single envs against Gymnasium's) are measured by the "
        "protocol of `scripts/bench_envs.py` (make_vec's defaults, actions from the action "
        "space, interleaved repeats) and reported in [envs.md](envs.md#speed); the env rows "
        "of `diffsim bench` below follow another protocol and are not those figures.",
        "",
    ]
    for result, path in zip(results, paths):
        gpu = result["machine"].get("gpu")
        load = result.get("load_average") or [None, None]
        busy = (
            f" The 1-minute load average was {load[0]:.1f} before and {load[1]:.1f} after the "
            f"run on {result['machine']['cores']} cores"
            + (
                ": the machine was shared with other work, so absolute figures are low and "
                "noisy; the ratios compare figures taken in the same run."
                if max(load) > result["machine"]["cores"]
                else "."
            )
            if None not in load
            else ""
        )
        lines += [
            f"## {'GPU' if gpu else 'CPU'} run: `{path}`",
            "",
            f"Machine: {machine_line(result)}.{busy}",
            "",
            f"Command: `{result.get('command', 'diffsim bench')}`"
            + (
                " (first calls compiled into an empty Inductor cache)."
                if result["config"].get("cold_compile_cache")
                else "."
            ),
            "",
        ]
        note = result.get("gymnax", {}).get("note")
        if note:
            lines += [f"{note[0].upper()}{note[1:]}.", ""]
        lines += ["### When the fast path pays", "", *when_it_pays(result), ""]
        for device in ("cpu", "cuda"):
            table = stepping_table(result, device)
            if table:
                lines += [
                    f"### Open-loop stepping, {device}",
                    "",
                    *table,
                    "",
                    "Gymnasium single: `gymnasium.make` of `CartPole-v1` / `Pendulum-v1`, one env; "
                    f"Gymnasium vector: at {result['config']['num_envs']:,} envs, its NumPy "
                    "`CartPoleVectorEnv` for CartPole and `SyncVectorEnv` for Pendulum (which has "
                    "no vector version).",
                    "",
                ]
        table = gymnax_table(result)
        if table:
            lines += ["### gymnax", "", *table, ""]
        table = bptt_table(result)
        if table:
            lines += [
                "### BPTT iterations (CartPole, MLP 4-64-64-1, straight-through sign, "
                "forward and backward)",
                "",
                *table,
                "",
            ]
        table = env_table(result)
        if table:
            lines += ["### Gymnasium-API environments (CPU)", "", *table, ""]
        for e in result.get("errors", []):
            lines.append(f"- failed: {e['what']}: `{e['error']}`")
        if result.get("errors"):
            lines.append("")
    lines.append(WHEELS)
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    """Print the page for the result files given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="diffsim bench JSON files")
    args = parser.parse_args(argv)
    results = [json.loads(p.read_text()) for p in args.results]
    sys.stdout.write(render(results, [str(p) for p in args.results]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
