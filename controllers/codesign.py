"""Co-design of the trebuchet: its geometry optimised through the solution of ``aim``.

The bilevel problem (``docs/implicit.md``, "Co-design"): the inner problem is aiming —
:func:`diffsim.solvers.aim` gives, for a design θ (a few :class:`TrebuchetParams` fields)
and each (wind, target) pair, the least counterweight w*(θ) that hits the target; the outer
objective is the mean over a fixed sample of the 2019 post's pairs (wind ~ N(0, 5²) m/s,
target ~ U(20, 100) m) of the counterweight needed,

    J(θ) = mean_i c_i(θ),   c_i = w*_i(θ) if pair i is within reach,
                           c_i = w_i + κ (target_i − d_i(θ)) if not,

with (w_i, d_i) the closest shot's counterweight and distance, so that a design pays for
the targets it cannot reach, about continuously at the edge of reach (exactly where the
closest shot is at the box's heaviest counterweight). The counterweight box is (50, 300)
lb by default, where the preset's range rises smoothly with the counterweight (above about
350 lb the reference trebuchet's range turns irregular: ``docs/trebuchet.md``); for some
changed geometries the range peaks below 300 lb, the closest shot is then the farthest
scanned counterweight, and J jumps where that choice moves (``docs/implicit.md``,
"Co-design"). κ = 20 lb/m. ∇J
comes from aim's implicit gradients (no differentiation through aim's iterations);
:func:`codesign` descends it with Adam on the logarithm of the design factors (each field
as a multiple of the preset's value, kept within ``bounds``). :func:`cmaes` runs
Nevergrad's CMA-ES on the same J, a generation's candidates aimed in one batched
:func:`~diffsim.solvers.aim`.

The preset is :meth:`TrebuchetParams.corrected` by default: with the reference preset's
swapped inertias and pinned lift-off the range jumps (by metres) at some release angles
for changed geometries, where no gradient exists (``docs/implicit.md``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any, Optional

import numpy as np
import torch

from diffsim.solvers import aim
from diffsim.trebuchet import WEIGHT_BOUNDS_LB, TrebuchetParams

from .baselines import require
from .gradient_free import recommendation

__all__ = [
    "DESIGN_FIELDS",
    "CodesignProblem",
    "CodesignRun",
    "cmaes",
    "codesign",
]

DESIGN_FIELDS: tuple[str, ...] = ("sling_length", "arm_short")
"""The default design: the sling's length e and the short arm's length c (m)."""

_PRESETS = ("corrected", "reference")


@dataclasses.dataclass
class CodesignRun:
    """The history of one co-design run (gradient or CMA-ES).

    Attributes:
        method: ``"gradient"`` or ``"cmaes"``.
        fields: The design's field names.
        history: One entry per outer evaluation, in order: ``evaluation`` (1-based),
            ``objective`` (lb), ``factors`` (design / preset, per field), ``reached``
            (pairs within reach), ``seconds`` (wall-clock since the start).
        best: The entry of the lowest objective.
        final: For ``gradient``, the last entry; for ``cmaes``, the search mean evaluated.
    """

    method: str
    fields: tuple[str, ...]
    history: list[dict[str, Any]]
    best: dict[str, Any]
    final: dict[str, Any]

    def evaluations_to_reach(self, objective: float) -> Optional[int]:
        """The first outer evaluation whose objective is at most ``objective`` (None: never)."""
        for entry in self.history:
            if entry["objective"] <= objective:
                return int(entry["evaluation"])
        return None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CodesignProblem:
    """The outer objective J on a fixed sample of (wind, target) pairs.

    Build it with :meth:`draw`. ``factors`` (design / preset value, one per field) of shape
    ``[C, F]`` evaluate C candidate designs in one batched :func:`~diffsim.solvers.aim`.
    """

    wind: torch.Tensor
    target: torch.Tensor
    base: TrebuchetParams
    fields: tuple[str, ...]
    bounds: tuple[float, float]
    weight_bounds_lb: tuple[float, float]
    kappa: float

    @classmethod
    def draw(
        cls,
        n: int = 32,
        seed: int = 0,
        fields: tuple[str, ...] = DESIGN_FIELDS,
        preset: str = "corrected",
        bounds: tuple[float, float] = (0.6, 1.5),
        weight_bounds_lb: tuple[float, float] = (WEIGHT_BOUNDS_LB[0], 300.0),
        kappa: float = 20.0,
    ) -> CodesignProblem:
        """``n`` pairs of the post's distribution drawn with ``numpy.random.default_rng(seed)``.

        Raises:
            ValueError: ``n < 1``, an unknown field or preset, a field that is a flag, or
                bounds not ``0 < low < 1 < high``.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n (pairs of the outer objective) must be a positive int, got {n!r}")
        if preset not in _PRESETS:
            raise ValueError(f"preset must be one of {list(_PRESETS)}, got {preset!r}")
        base = TrebuchetParams.corrected() if preset == "corrected" else TrebuchetParams()
        names = TrebuchetParams.field_names()
        fields = tuple(fields)
        for f in fields:
            if f not in names or f in TrebuchetParams._flags or f == "dt":
                allowed = [x for x in names if x not in TrebuchetParams._flags and x != "dt"]
                raise ValueError(f"unknown design field {f!r}; choose from {allowed}")
        if not fields or len(set(fields)) != len(fields):
            raise ValueError(f"fields must name distinct design fields, got {list(fields)}")
        lo, hi = (float(b) for b in bounds)
        if not 0 < lo < 1 < hi:
            raise ValueError(f"bounds must satisfy 0 < low < 1 < high, got {bounds!r}")
        rng = np.random.default_rng(seed)
        wind = torch.as_tensor(rng.normal(0.0, 5.0, n))
        target = torch.as_tensor(rng.uniform(20.0, 100.0, n))
        if not kappa >= 0:
            raise ValueError(f"kappa (lb per m short of a target) must be >= 0, got {kappa!r}")
        box = (float(weight_bounds_lb[0]), float(weight_bounds_lb[1]))
        return cls(wind, target, base, fields, (lo, hi), box, float(kappa))

    def evaluate(self, factors: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """J for each candidate design ``factors`` ``[C, F]`` (gradients flow to it).

        Returns:
            ``(objective [C], AimResult of shape [C, N])``.
        """
        c, n = factors.shape[0], self.target.numel()
        changes = {
            name: (factors[:, j] * getattr(self.base, name)).unsqueeze(1).expand(c, n)
            for j, name in enumerate(self.fields)
        }
        params = self.base.replace(**changes)
        target = self.target.expand(c, n)
        res = aim(self.wind.expand(c, n), target, params, weight_bounds_lb=self.weight_bounds_lb)
        short = res.weight_lb + self.kappa * (target - res.distance)
        cost = torch.where(res.reached, res.weight_lb, short)
        return cost.mean(-1), res


def _entry(
    i: int, j: torch.Tensor, f: torch.Tensor, reached: torch.Tensor, start: float
) -> dict[str, Any]:
    """One history entry: evaluation ``i``, objective ``j``, factors ``f``, the pairs hit."""
    return {
        "evaluation": i,
        "objective": float(j.detach()),
        "factors": [float(v) for v in f.detach()],
        "reached": int(reached.sum()),
        "seconds": time.perf_counter() - start,
    }


def codesign(
    problem: CodesignProblem,
    iterations: int = 15,
    lr: float = 0.05,
    start: Optional[list[float]] = None,
    progress: bool = True,
    callback: Optional[Callable[[dict[str, Any]], None]] = None,
) -> CodesignRun:
    """Gradient descent on J through aim's implicit gradients (Adam on log factors).

    Args:
        problem: The outer objective.
        iterations: Outer evaluations (each one batched aim and its implicit backward pass).
        lr: Adam's learning rate on the log factors.
        start: Initial factors (default: all 1, the preset).
        progress: Show a progress bar.
        callback: Called with each history entry.

    Raises:
        ValueError: a non-positive ``iterations`` or ``lr``, or ``start`` of the wrong
            length or outside the bounds.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    lo, hi = problem.bounds
    f0 = [1.0] * len(problem.fields) if start is None else [float(v) for v in start]
    if len(f0) != len(problem.fields) or not all(lo <= v <= hi for v in f0):
        raise ValueError(
            f"start must hold {len(problem.fields)} factors within {problem.bounds}, got {start!r}"
        )
    from tqdm.auto import tqdm

    x = torch.tensor(np.log(f0), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    bar = tqdm(range(iterations), desc="co-design (gradient)", disable=not progress)
    for i in bar:
        factors = x.exp()
        j, res = problem.evaluate(factors.unsqueeze(0))
        opt.zero_grad()
        j.sum().backward()
        entry = _entry(i + 1, j[0], factors, res.reached, t0)
        history.append(entry)
        bar.set_postfix(objective=f"{entry['objective']:.2f} lb")
        if callback is not None:
            callback(entry)
        opt.step()
        with torch.no_grad():
            x.clamp_(math.log(lo), math.log(hi))
    best = min(history, key=lambda e: e["objective"])
    return CodesignRun("gradient", problem.fields, history, best, history[-1])


def cmaes(
    problem: CodesignProblem,
    budget: int = 90,
    popsize: int = 6,
    sigma: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> CodesignRun:
    """Nevergrad's CMA-ES on J over the log factors, a generation aimed in one batch.

    Each candidate is one outer evaluation; the run ends after ``budget`` of them (whole
    generations), and ``final`` evaluates the search mean once more (not counted).

    Raises:
        ValueError: a non-positive ``budget``, ``popsize`` or ``sigma``.
        ImportError: Nevergrad is missing (the ``baselines`` extra).
    """
    for name, v in (("budget", budget), ("popsize", popsize)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not (isinstance(sigma, (int, float)) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    ng = require("nevergrad")
    from tqdm.auto import tqdm

    lo, hi = (math.log(b) for b in problem.bounds)
    d = len(problem.fields)
    param = ng.p.Array(init=np.zeros(d), lower=lo, upper=hi).set_mutation(sigma=sigma)
    param.random_state = np.random.RandomState(seed)
    opt = ng.optimizers.ParametrizedCMA(popsize=popsize)(
        parametrization=param, budget=budget, num_workers=popsize
    )
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    bar = tqdm(total=budget, desc="co-design (CMA-ES)", disable=not progress)
    while len(history) < budget:
        cands = [opt.ask() for _ in range(min(popsize, budget - len(history)))]
        factors = torch.as_tensor(np.exp(np.stack([c.value for c in cands])))
        with torch.no_grad():
            j, res = problem.evaluate(factors)
        for k, cand in enumerate(cands):
            opt.tell(cand, float(j[k]))
            history.append(_entry(len(history) + 1, j[k], factors[k], res.reached[k], t0))
        bar.update(len(cands))
        bar.set_postfix(best=f"{min(e['objective'] for e in history):.2f} lb")
    bar.close()
    mean = np.clip(np.asarray(recommendation(opt), dtype=np.float64), lo, hi)
    factors = torch.as_tensor(np.exp(mean)).unsqueeze(0)
    with torch.no_grad():
        j, res = problem.evaluate(factors)
    final = _entry(len(history), j[0], factors[0], res.reached, t0)
    best = min(history, key=lambda e: e["objective"])
    return CodesignRun("cmaes", problem.fields, history, best, final)
