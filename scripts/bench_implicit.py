"""Measure aim's implicit gradients: agreement with finite differences, and cost against
backpropagating through aim's iterations.

1. **Finite differences.** ``--pairs`` (wind, target) pairs of the 2019 post's distribution
   whose solution is interior (the ridge condition, both variables inside the box), each
   solved with every input perturbed by ±ε — the wind, the target and every
   :class:`~diffsim.trebuchet.TrebuchetParams` field, each as a per-pair tensor — all in one
   batched :func:`~diffsim.solvers.aim`; the implicit gradient of the angle and of the
   counterweight against the central differences (float64; ε = 1e-4 for the wind and the
   target, 1e-5 × the value for a field, 1e-6 × for the time step ``dt``, along which the
   solution curves strongly, and 1e-4 × for ``weight_inertia``, whose effect on the angle is
   so weak that at 1e-5 × the solve's rounding dominates the difference). Left out of the
   comparison: an entry whose perturbed solves change condition (the solution map has a kink
   there), and one whose central differences at ε and ε/10, or whose one-sided differences,
   disagree by more than 1 % (the solution jumps within the step: the top of the range has
   two maxima a fraction of a degree apart, and a perturbation moves the solve from one to
   the other).
2. **Cost.** For ``--cost-pairs`` interior pairs: the gradient of (angle, weight) with
   respect to the wind, the target and the sling length, (a) by the implicit function
   theorem (the solve unrecorded, then the adjoint solve in the backward pass) and (b) by
   backpropagating through the same solve recorded with its derivatives' graphs
   (``create_graph``). Time: the backward pass alone, best of ``--repeats``. Memory: the
   bytes of the tensors autograd saves for the backward pass (unique storages, counted with
   ``torch.autograd.graph.saved_tensors_hooks``) — the recorded solve's for (b), the
   optimality condition's graph built inside the backward pass for (a).

Writes ``docs/results/implicit.json``, from which ``python -m diffsim.scripts.report_docs``
renders the tables of ``docs/implicit.md``::

    python scripts/bench_implicit.py    # about 10 min on one CPU thread
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from diffsim import solvers
from diffsim.controllers.training import versions
from diffsim.trebuchet import TrebuchetParams

F64 = torch.float64
FIELDS = tuple(f for f in TrebuchetParams.field_names() if f not in TrebuchetParams._flags)


class SavedBytes:
    """Sums the bytes of the tensors autograd saves inside the context (unique storages)."""

    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()
        self.bytes = 0

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in self.seen:
            self.seen.add(key)
            self.bytes += t.untyped_storage().nbytes()
        return t

    def __enter__(self) -> SavedBytes:
        self.ctx = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)
        self.ctx.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.ctx.__exit__(*exc)


def interior_pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pairs of the post's distribution whose aim is interior (ridge condition)."""
    rng = np.random.default_rng(seed)
    wind = torch.as_tensor(rng.normal(0.0, 5.0, 4 * n))
    target = torch.as_tensor(rng.uniform(20.0, 100.0, 4 * n))
    res = solvers.aim(wind, target)
    keep = (res.condition == solvers.RIDGE).nonzero().squeeze(1)[:n]
    if keep.numel() < n:
        raise RuntimeError(f"only {keep.numel()} interior pairs among {4 * n} drawn")
    return wind[keep], target[keep]


def finite_differences(n: int, seed: int) -> dict:
    wind0, target0 = interior_pairs(n, seed)
    base = TrebuchetParams()
    inputs = ["wind", "target", *FIELDS]
    values = {"wind": wind0, "target": target0}
    values.update({f: torch.full((n,), float(getattr(base, f)), dtype=F64) for f in FIELDS})
    # central-difference steps: 1e-4 for the wind (m/s) and the target (m), 1e-5 x the value
    # for a field; 1e-6 x for the time step, along which the solution curves strongly, and
    # 1e-4 x for weight_inertia, whose effect on the angle is so weak that a 1e-5 x step
    # moves it by less than 1e-7 degrees, where the solve's own rounding dominates
    rel = {"dt": 1e-6, "weight_inertia": 1e-4}
    eps = {
        k: (1e-4 if k in ("wind", "target") else rel.get(k, 1e-5) * abs(float(getattr(base, k))))
        for k in inputs
    }
    # the batch: the n pairs, then each input's +eps, -eps, +eps/10 and -eps/10 blocks
    steps = (1.0, -1.0, 0.1, -0.1)
    cols = {k: [v] for k, v in values.items()}
    for k in inputs:
        for sign in steps:
            for j in inputs:
                cols[j].append(values[j] + (sign * eps[k] if j == k else 0.0))
    batch = {k: torch.cat(v).requires_grad_(True) for k, v in cols.items()}
    params = base.replace(**{f: batch[f] for f in FIELDS})
    start = time.perf_counter()
    res = solvers.aim(batch["wind"], batch["target"], params)
    solve_s = time.perf_counter() - start
    leaves = [batch[k] for k in inputs]
    start = time.perf_counter()
    grads = {
        out: torch.autograd.grad(getattr(res, out)[:n].sum(), leaves, retain_graph=True)
        for out in ("angle_deg", "weight_lb")
    }
    backward_s = time.perf_counter() - start
    blocks = 1 + len(steps) * len(inputs)
    cond = res.condition.reshape(blocks, n)
    rows = []
    worst = 0.0
    compared = changed = jumped = 0
    for q, k in enumerate(inputs):
        first = 1 + len(steps) * q
        plus, minus, plus10, minus10 = range(first, first + 4)
        same = (cond[[plus, minus, plus10, minus10]] == solvers.RIDGE).all(0)
        for out in ("angle_deg", "weight_lb"):
            v = getattr(res, out).detach().reshape(blocks, n)
            fd = (v[plus] - v[minus]) / (2 * eps[k])
            fd10 = (v[plus10] - v[minus10]) / (0.2 * eps[k])
            # smooth where the two steps agree: else the solution jumps inside the step (the
            # range's top has two maxima within a fraction of a degree; see docs/implicit.md)
            right, left = (v[plus] - v[0]) / eps[k], (v[0] - v[minus]) / eps[k]
            smooth = ((fd - fd10).abs() <= 1e-2 * fd.abs() + 1e-9) & (
                (right - left).abs() <= 1e-2 * fd.abs() + 1e-9
            )
            ok = same & smooth
            g = grads[out][q][:n]
            rel = ((g - fd).abs() / fd.abs().clamp_min(1e-12))[ok]
            compared += int(ok.sum())
            changed += int((~same).sum())
            jumped += int((same & ~smooth).sum())
            if rel.numel():
                worst = max(worst, float(rel.max()))
            rows.append(
                {
                    "input": k,
                    "output": out,
                    "compared": int(ok.sum()),
                    "max_rel_error": float(rel.max()) if rel.numel() else None,
                    "median_abs_gradient": float(g[ok].abs().median()) if rel.numel() else None,
                }
            )
    return {
        "pairs": n,
        "seed": seed,
        "entries": int(res.condition.numel()),
        "solve_seconds": solve_s,
        "backward_seconds": backward_s,
        "compared": compared,
        "skipped_condition_changed": changed,
        "skipped_jump": jumped,
        "max_rel_error": worst,
        "rows": rows,
    }


def cost(n: int, seed: int, repeats: int) -> dict:
    wind0, target0 = interior_pairs(n, seed + 1)
    sling0 = torch.full((n,), TrebuchetParams().sling_length, dtype=F64)
    box_a, box_w = solvers.ANGLE_BOUNDS_DEG, solvers.WEIGHT_BOUNDS_LB
    out: dict = {"pairs": n}
    # (a) implicit
    times, grads_imp = [], None
    for _ in range(repeats):
        wind, target, sling = (v.clone().requires_grad_(True) for v in (wind0, target0, sling0))
        start = time.perf_counter()
        res = solvers.aim(wind, target, TrebuchetParams(sling_length=sling))
        forward = time.perf_counter() - start
        x = torch.stack((res.angle_deg, res.weight_lb), -1)
        with SavedBytes() as saved:
            start = time.perf_counter()
            grads_imp = torch.autograd.grad(x.sum(), (wind, target, sling))
            times.append(time.perf_counter() - start)
        out["implicit"] = {"forward_s": forward, "saved_bytes": saved.bytes}
    out["implicit"]["backward_s"] = min(times)
    # (b) unrolled: the same solve recorded
    times = []
    for _ in range(repeats):
        wind, target, sling = (v.clone().requires_grad_(True) for v in (wind0, target0, sling0))
        params = TrebuchetParams(sling_length=sling)
        with SavedBytes() as saved:
            start = time.perf_counter()
            a, w, cond, shots = solvers._solve(
                wind, target, params, box_a, box_w, 50, 1e-10, record=True
            )
            forward = time.perf_counter() - start
        start = time.perf_counter()
        grads_unr = torch.autograd.grad((a + w).sum(), (wind, target, sling))
        times.append(time.perf_counter() - start)
        out["unrolled"] = {"forward_s": forward, "saved_bytes": saved.bytes, "shots": shots}
        del a, w
    out["unrolled"]["backward_s"] = min(times)
    diff = max(
        float(((gi - gu).abs() / gi.abs().clamp_min(1e-9)).max())
        for gi, gu in zip(grads_imp, grads_unr)
    )
    out["max_rel_difference_implicit_unrolled"] = diff
    out["backward_speedup"] = out["unrolled"]["backward_s"] / out["implicit"]["backward_s"]
    out["memory_ratio"] = out["unrolled"]["saved_bytes"] / max(out["implicit"]["saved_bytes"], 1)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=24, help="interior pairs for the FD check")
    p.add_argument("--cost-pairs", type=int, default=4, help="pairs for the cost measurement")
    p.add_argument("--repeats", type=int, default=2, help="timed repetitions (best kept)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("docs/results/implicit.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {
        "command": " ".join(["python scripts/bench_implicit.py", *sys.argv[1:]]),
        "machine": versions(),
        "threads": args.threads,
        "load_average_before": list(os.getloadavg()),
    }
    result["finite_differences"] = finite_differences(args.pairs, args.seed)
    fd = result["finite_differences"]
    print(
        f"FD: {fd['compared']} gradient entries compared, largest relative error "
        f"{fd['max_rel_error']:.1e} (left out: {fd['skipped_condition_changed']} where the "
        f"condition changed, {fd['skipped_jump']} where the solution jumps)"
    )
    result["cost"] = cost(args.cost_pairs, args.seed, args.repeats)
    c = result["cost"]
    print(
        f"backward: implicit {c['implicit']['backward_s']:.2f} s, unrolled "
        f"{c['unrolled']['backward_s']:.2f} s ({c['backward_speedup']:.1f}x); saved bytes "
        f"{c['implicit']['saved_bytes'] / 2**20:.1f} MiB vs "
        f"{c['unrolled']['saved_bytes'] / 2**20:.1f} MiB ({c['memory_ratio']:.1f}x); "
        f"gradients differ by {c['max_rel_difference_implicit_unrolled']:.1e}"
    )
    result["load_average_after"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
