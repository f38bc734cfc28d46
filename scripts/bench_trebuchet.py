"""Measure the differentiable trebuchet: the post's point, time per shot, time per aim."""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

import diffsim.trebuchet as trebuchet


def _opt(default, help_text):
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass
class Options:
    """Command-line options (each stated once, with its help)."""

    threads: int = _opt(1, "torch CPU threads")
    batches: tuple[int, ...] = _opt((1, 4096), "batch sizes at which to time shoot")
    repeats: int = _opt(3, "timed repetitions per batch size (the best is reported)")
    aim_batch: int = _opt(256, "number of targets aimed at once")
    aim_steps: int = _opt(150, "maximum Adam steps of aim")
    dtype: str = _opt("float64", "float32 or float64")


def parse() -> Options:
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
    args = parser.parse_args()
    return Options(**{k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items()})


def main() -> None:
    opt = parse()
    torch.set_num_threads(opt.threads)
    dtype = getattr(torch, opt.dtype)
    xs = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in (-2.0, 45.0, 200.0)]
    d = trebuchet.shoot(*xs)
    d.backward()
    print(f"shoot(-2, 45, 200) = {float(d.detach()):.4f} m")
    print("gradient (wind, angle_deg, weight_lb) =", tuple(round(float(x.grad), 4) for x in xs))
    print("post's gradient                       = (4.02, -0.99, 0.051)")
    for n in opt.batches:
        g = torch.Generator().manual_seed(0)
        inputs = (
            torch.randn(n, generator=g, dtype=dtype) * 3,
            30 + 30 * torch.rand(n, generator=g, dtype=dtype),
            150 + 100 * torch.rand(n, generator=g, dtype=dtype),
        )
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
    g = torch.Generator().manual_seed(1)
    wind = torch.randn(opt.aim_batch, generator=g, dtype=dtype) * 5
    target = 20 + 80 * torch.rand(opt.aim_batch, generator=g, dtype=dtype)
    res = trebuchet.aim(wind, target, steps=opt.aim_steps)
    reached = res.reached
    print(
        f"aim: {opt.aim_batch} targets (wind ~ N(0, 5^2), target ~ U(20, 100)), {res.steps} steps,"
        f" {res.seconds:.1f} s, {res.seconds_per_aim * 1e3:.1f} ms per aim;"
        f" reached {int(reached.sum())}/{reached.numel()},"
        f" median |miss| of reached {float(res.miss[reached].abs().median()):.3f} m"
    )


if __name__ == "__main__":
    main()
