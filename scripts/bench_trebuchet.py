"""Measure the differentiable trebuchet: the post's point, time per shot, time per aim.

Prints the figures and writes them as JSON (default ``docs/results/trebuchet.json``), from
which ``python -m diffsim.scripts.report_docs`` renders the table of ``docs/trebuchet.md``::

    python scripts/bench_trebuchet.py            # about 1.5 min on one CPU thread
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import torch

import diffsim.trebuchet as trebuchet
from diffsim.solvers import aim


def _opt(default, help_text):
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass
class Options:
    """Command-line options (each stated once, with its help)."""

    threads: int = _opt(1, "torch CPU threads")
    batches: tuple[int, ...] = _opt((1, 4096), "batch sizes at which to time shoot")
    repeats: int = _opt(3, "timed repetitions per batch size (the best is reported)")
    aim_batch: int = _opt(256, "number of targets aimed at once")
    dtype: str = _opt("float64", "float32 or float64")
    precision_shots: int = _opt(512, "random shots compared in float32 against float64")
    out: str = _opt("docs/results/trebuchet.json", "where to write the JSON result")


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__)
    for f in dataclasses.fields(Options):
        default = f.default
        kind = type(default[0]) if isinstance(default, tuple) else type(default)
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            type=kind,
            default=default,
            nargs="+" if isinstance(default, tuple) else None,
            help=f"{f.metadata['help']} (default: {default})",
        )
    args = parser.parse_args(argv)
    return Options(**{k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items()})


def _random_shots(n: int, seed: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """``n`` shots: wind ~ N(0, 3²) m/s, angle ~ U(30, 60)°, weight ~ U(150, 250) lb."""
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, generator=g, dtype=dtype) * 3,
        30 + 30 * torch.rand(n, generator=g, dtype=dtype),
        150 + 100 * torch.rand(n, generator=g, dtype=dtype),
    )


def _load() -> tuple[float, ...]:
    """The 1-, 5- and 15-minute load averages (empty where the OS has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return ()


def _float32_error(n: int) -> dict[str, float]:
    """Largest relative difference of float32 from float64 distances, per preset."""
    shots = _random_shots(n, 2, torch.float64)
    out = {}
    for name in ("reference", "corrected"):
        params = getattr(trebuchet.TrebuchetParams, name)()
        d64 = trebuchet.shoot(*shots, params)
        d32 = trebuchet.shoot(*(x.float() for x in shots), params).double()
        out[name] = float(((d32 - d64).abs() / d64.abs()).max())
    return out


def main(argv: list[str] | None = None) -> None:
    opt = parse(argv)
    torch.set_num_threads(opt.threads)
    dtype = getattr(torch, opt.dtype)
    result: dict = {
        "command": "python scripts/bench_trebuchet.py",
        "options": dataclasses.asdict(opt),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "load_average_before": list(_load()),
        "batches": [],
    }
    xs = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in (-2.0, 45.0, 200.0)]
    d = trebuchet.shoot(*xs)
    d.backward()
    result["shot"] = {"inputs": [-2.0, 45.0, 200.0], "distance_m": float(d.detach())}
    result["gradient"] = [float(x.grad) for x in xs]
    print(f"shoot(-2, 45, 200) = {float(d.detach()):.4f} m")
    print("gradient (wind, angle_deg, weight_lb) =", tuple(round(float(x.grad), 4) for x in xs))
    print("post's gradient                       = (4.02, -0.99, 0.051)")
    for n in opt.batches:
        inputs = _random_shots(n, 0, dtype)
        trebuchet.shoot(*(x[:1] for x in inputs))  # warm up
        fwd, both = [], []
        for _ in range(opt.repeats):
            leaves = [x.clone().requires_grad_(True) for x in inputs]
            t0 = time.perf_counter()
            d = trebuchet.shoot(*leaves)
            t1 = time.perf_counter()
            d.sum().backward()  # gradients with respect to all three inputs
            t2 = time.perf_counter()
            fwd.append(t1 - t0)
            both.append(t2 - t0)
        f, b = min(fwd), min(both)
        print(
            f"batch {n:5d}: forward {f * 1e3:8.1f} ms ({f / n * 1e3:.3f} ms/shot),"
            f" forward+backward {b * 1e3:8.1f} ms ({b / n * 1e3:.3f} ms/shot)"
            f" (best of {opt.repeats})"
        )
        result["batches"].append({"batch": n, "forward_s": f, "forward_backward_s": b})
    g = torch.Generator().manual_seed(1)
    wind = torch.randn(opt.aim_batch, generator=g, dtype=dtype) * 5
    target = 20 + 80 * torch.rand(opt.aim_batch, generator=g, dtype=dtype)
    res = aim(wind, target)
    reached = res.reached
    print(
        f"aim: {opt.aim_batch} targets (wind ~ N(0, 5^2), target ~ U(20, 100)), {res.steps}"
        " batched shots,"
        f" {res.seconds:.1f} s, {res.seconds_per_aim * 1e3:.1f} ms per aim;"
        f" reached {int(reached.sum())}/{reached.numel()},"
        f" largest |miss| of reached {float(res.miss[reached].abs().max()):.1e} m"
    )
    result["aim"] = {
        "targets": opt.aim_batch,
        "batched_shots": res.steps,
        "seconds": res.seconds,
        "seconds_per_aim": res.seconds_per_aim,
        "reached": int(reached.sum()),
        "max_abs_miss_reached_m": float(res.miss[reached].abs().max()),
    }
    result["float32_rel_error"] = _float32_error(opt.precision_shots)
    print("float32 against float64, largest relative difference:", result["float32_rel_error"])
    result["load_average_after"] = list(_load())
    out = Path(opt.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
