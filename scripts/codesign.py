"""``diffsim codesign trebuchet``: the trebuchet's geometry optimised through ``aim``'s solution.

Gradient descent on the outer objective of :mod:`diffsim.controllers.codesign` — the mean
counterweight that :func:`diffsim.solvers.aim` needs over a fixed sample of the 2019 post's
(wind, target) pairs — with the gradient of aim's solution by the implicit function theorem;
``--cmaes-budget N`` runs Nevergrad's CMA-ES on the same objective beside it. Writes
``DIR/codesign.json`` (the command, the machine, the problem and each run's history) and
``DIR/codesign.png`` (the objective against outer evaluations; the design before and after;
the counterweight needed against the target before and after)::

    diffsim codesign trebuchet --out runs/codesign
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import add_threads_option, apply_threads

SYSTEMS = ("trebuchet",)


def field_list(text: str) -> tuple[str, ...]:
    """``--fields``: comma-separated TrebuchetParams field names."""
    fields = tuple(f.strip() for f in text.split(",") if f.strip())
    if not fields:
        raise argparse.ArgumentTypeError(f"expected field names separated by commas, got {text!r}")
    return fields


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "codesign",
        help="optimise the trebuchet's design through aim's solution (implicit gradients)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("system", choices=SYSTEMS, help="the system to co-design")
    p.add_argument(
        "--fields",
        type=field_list,
        default=("sling_length", "arm_short"),
        help="TrebuchetParams fields to design (default: sling_length,arm_short)",
    )
    p.add_argument("--targets", type=int, default=32, help="(wind, target) pairs (default: 32)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the pairs and of CMA-ES (default: 0)"
    )
    p.add_argument("--iterations", type=int, default=15, help="gradient steps (default: 15)")
    p.add_argument("--lr", type=float, default=0.05, help="Adam's rate on log factors (0.05)")
    p.add_argument(
        "--preset",
        choices=("corrected", "reference"),
        default="corrected",
        help="the trebuchet the design starts from (default: corrected)",
    )
    p.add_argument(
        "--cmaes-budget",
        type=int,
        default=0,
        help="also run CMA-ES with this many outer evaluations (default: 0, none)",
    )
    p.add_argument("--popsize", type=int, default=6, help="CMA-ES's population (default: 6)")
    p.add_argument("--out", type=Path, required=True, help="directory to write into")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_threads_option(p)
    p.set_defaults(func=run)


def _weights_against_target(problem: Any, factors: list[float]) -> dict[str, list[float]]:
    import torch

    with torch.no_grad():
        _, res = problem.evaluate(torch.tensor([factors], dtype=torch.float64))
    return {
        "target": problem.target.tolist(),
        "wind": problem.wind.tolist(),
        "weight_lb": res.weight_lb[0].tolist(),
        "reached": res.reached[0].tolist(),
    }


def plot(result: dict[str, Any], path: Path) -> None:
    """The figure of ``codesign.json``: objective, design, counterweight against target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax = axes[0]
    for run in result["runs"]:
        xs = [e["evaluation"] for e in run["history"]]
        ys = [e["objective"] for e in run["history"]]
        if run["method"] == "cmaes":
            best = [min(ys[: i + 1]) for i in range(len(ys))]
            ax.plot(xs, ys, ".", alpha=0.35, color="C1")
            ax.plot(xs, best, "-", color="C1", label="CMA-ES (best so far)")
        else:
            ax.plot(xs, ys, "o-", color="C0", label="gradient (implicit)")
    ax.set_xlabel("outer evaluations")
    ax.set_ylabel("mean counterweight needed (lb)")
    ax.set_title("outer objective")
    ax.legend()
    ax = axes[1]
    fields = result["problem"]["fields"]
    grad = next(r for r in result["runs"] if r["method"] == "gradient")
    x = range(len(fields))
    ax.bar([i - 0.2 for i in x], [1.0] * len(fields), 0.4, label="before (preset)")
    ax.bar([i + 0.2 for i in x], grad["best"]["factors"], 0.4, label="after (gradient)")
    ax.set_xticks(list(x), fields)
    ax.set_ylabel("design / preset")
    ax.set_title("design")
    ax.legend()
    ax = axes[2]
    for key, label, color in (("before", "before", "C7"), ("after", "after", "C0")):
        d = result["weights"][key]
        pts = [(t, w) for t, w, ok in zip(d["target"], d["weight_lb"], d["reached"]) if ok]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, color=color, label=label)
    ax.set_xlabel("target (m)")
    ax.set_ylabel("least counterweight (lb)")
    ax.set_title("counterweight needed (pairs within reach)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from diffsim.controllers.checkpoint import write_json
    from diffsim.controllers.codesign import CodesignProblem, cmaes, codesign
    from diffsim.controllers.training import versions

    apply_threads(args)
    if args.targets < 1 or args.iterations < 1:
        raise ValueError("--targets and --iterations must be at least 1")
    if args.cmaes_budget < 0:
        raise ValueError(f"--cmaes-budget must be >= 0, got {args.cmaes_budget}")
    problem = CodesignProblem.draw(args.targets, args.seed, args.fields, args.preset)
    runs = [codesign(problem, args.iterations, args.lr, progress=not args.quiet)]
    if args.cmaes_budget:
        runs.append(
            cmaes(problem, args.cmaes_budget, args.popsize, seed=args.seed, progress=not args.quiet)
        )
    grad = runs[0]
    result = {
        "command": " ".join(["diffsim", *sys.argv[1:]]),
        "machine": versions(),
        "problem": {
            "fields": list(problem.fields),
            "targets": args.targets,
            "seed": args.seed,
            "preset": args.preset,
            "bounds": list(problem.bounds),
            "weight_bounds_lb": list(problem.weight_bounds_lb),
            "kappa": problem.kappa,
            "base": {f: float(getattr(problem.base, f)) for f in problem.fields},
        },
        "runs": [r.to_dict() for r in runs],
        "weights": {
            "before": _weights_against_target(problem, [1.0] * len(problem.fields)),
            "after": _weights_against_target(problem, grad.best["factors"]),
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "codesign.json", result)
    plot(result, args.out / "codesign.png")
    b = grad.best
    design = ", ".join(f"{f} ×{v:.3f}" for f, v in zip(problem.fields, b["factors"]))
    print(
        f"gradient: objective {grad.history[0]['objective']:.2f} -> {b['objective']:.2f} lb "
        f"(evaluation {b['evaluation']} of {len(grad.history)}; {design})"
    )
    for r in runs[1:]:
        print(
            f"cmaes: best {r.best['objective']:.2f} lb at evaluation {r.best['evaluation']} of "
            f"{len(r.history)}; gradient reached it at "
            f"{grad.evaluations_to_reach(r.best['objective'])}"
        )
    print(f"wrote {args.out / 'codesign.json'} and {args.out / 'codesign.png'}")
    return 0
