"""Solvers over the differentiable physics: :func:`aim` finds the trebuchet's controls.

:func:`aim` answers the aiming question of FluxML's 2019 post on differentiable programming
versus reinforcement learning (https://fluxml.ai/2019/03/05/dp-vs-rl.html) — which release
angle and counterweight land the projectile on a target? — with one documented answer per
target, solved by Newton's method through :func:`diffsim.trebuchet.shoot`'s first and
second derivatives, and differentiable with respect to the wind, the target and every
:class:`~diffsim.trebuchet.TrebuchetParams` field by the implicit function theorem
(:mod:`diffsim.implicit`). ``docs/trebuchet.md`` ("Aiming") states the solution and its
optimality conditions; its default search box is the aiming box of
:mod:`diffsim.trebuchet.params` (:data:`~diffsim.trebuchet.ANGLE_BOUNDS_DEG`,
:data:`~diffsim.trebuchet.WEIGHT_BOUNDS_LB`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from typing import Optional

import torch

from . import implicit
from ._validation import Scalar
from .trebuchet.params import ANGLE_BOUNDS_DEG, ANGLE_LIMITS_DEG, WEIGHT_BOUNDS_LB, TrebuchetParams
from .trebuchet.simulation import shoot

__all__ = ["CONDITIONS", "AimResult", "aim"]

_DTYPES = (torch.float32, torch.float64)

RIDGE, LIGHTEST, EDGE, TOO_SHORT, TOO_FAR, TOO_FAR_AT_BOUND, NOT_CONVERGED = range(7)
CONDITIONS: tuple[str, ...] = (
    "hit: the least counterweight, released at the angle of greatest range",
    "hit: the lightest counterweight of the box, at the steeper of its two angles",
    "hit: the least counterweight, with the release angle at a bound of the box",
    "out of reach, too short: the closest shot is the steepest angle, lightest weight",
    "out of reach, too far: the closest shot is the farthest of the scanned counterweights",
    "out of reach, too far: the closest shot is the farthest at the heaviest counterweight",
    "not converged within max_iter Newton steps",
)
"""What :attr:`AimResult.condition` codes mean (its index); the first three are hits."""


@dataclasses.dataclass
class AimResult:
    """The result of :func:`aim`, for targets of batch shape ``B``.

    It unpacks as ``(angle_deg, weight_lb)``; the other fields say how well each target
    was met. ``angle_deg``, ``weight_lb``, ``distance`` and ``miss`` carry gradients with
    respect to the inputs that require grad (implicit function theorem).

    Attributes:
        angle_deg: Release angle per target (degrees), shape ``B``.
        weight_lb: Counterweight per target (lb), shape ``B``.
        distance: Distance that (angle_deg, weight_lb) gives (m), shape ``B``.
        miss: ``distance - target`` (m), shape ``B``.
        reached: Whether the target is hit, ``|miss| <= tolerance_m``, bool, shape ``B``;
            False marks a target out of reach within the box.
        condition: Which optimality conditions hold per target, an index into
            :data:`CONDITIONS`, int64, shape ``B``.
        steps: Batched shots the solve took (each with its backward pass).
        seconds: Wall-clock time of the whole batched solve (s).
        seconds_per_aim: ``seconds`` divided by the number of targets (s).
    """

    angle_deg: torch.Tensor
    weight_lb: torch.Tensor
    distance: torch.Tensor
    miss: torch.Tensor
    reached: torch.Tensor
    condition: torch.Tensor
    steps: int
    seconds: float
    seconds_per_aim: float

    def __iter__(self) -> Iterator[torch.Tensor]:
        """Unpack as ``angle_deg, weight_lb = aim(...)``."""
        return iter((self.angle_deg, self.weight_lb))


# --------------------------------------------------------------------------------------
# Input checks


def _check_input(name: str, value: object, what: str) -> None:
    """Raise unless ``value`` is a real number or a float32/float64 tensor of finite values."""
    if isinstance(value, bool) or not isinstance(value, (int, float, torch.Tensor)):
        raise TypeError(
            f"{name} ({what}) must be a float or a float32/float64 torch.Tensor, "
            f"got {type(value).__name__}"
        )
    if isinstance(value, torch.Tensor):
        if value.dtype not in _DTYPES:
            raise ValueError(
                f"{name} ({what}) must be a float32 or float64 tensor, got dtype {value.dtype}"
            )
        finite = bool(torch.isfinite(value.detach()).all())
    else:
        finite = math.isfinite(value)
    if not finite:
        raise ValueError(f"{name} ({what}) must be finite, got {_show(value)}")


def _show(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor with values {value.detach().flatten()[:6].tolist()}"
    return repr(value)


def _check_box(
    name: str, box: object, limits: Optional[tuple[float, float]], unit: str
) -> tuple[float, float]:
    """The search box ``(low, high)`` as floats, checked against ``limits`` (None: positive)."""
    try:
        lo, hi = (float(v) for v in box)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {box!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be finite with low < high, got {(lo, hi)}")
    if limits is None and lo <= 0:
        raise ValueError(f"{name} must be positive ({unit}), got {(lo, hi)}")
    if limits is not None and not limits[0] <= lo < hi <= limits[1]:
        raise ValueError(f"{name} must lie within {list(limits)} {unit}, got {(lo, hi)}")
    return lo, hi


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_positive(name: str, value: object, *, strict: bool = True) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    ok = ok and math.isfinite(value) and (value > 0 if strict else value >= 0)
    if not ok:
        raise ValueError(
            f"{name} must be a finite number {'>' if strict else '>='} 0, got {value!r}"
        )


def _inputs(wind: object, target_m: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``wind`` and ``target_m`` checked and broadcast to one shape, dtype and device."""
    _check_input("wind", wind, "wind speed, m/s")
    _check_input("target_m", target_m, "target distance from the pivot, m")
    tensors = [v for v in (wind, target_m) if isinstance(v, torch.Tensor)]
    devices = {v.device for v in tensors}
    if len(devices) > 1:
        raise ValueError(
            f"wind and target_m must be on one device, got {sorted(map(str, devices))}"
        )
    dtype = torch.float64
    device = tensors[0].device if tensors else torch.device("cpu")
    if tensors:
        dtype = torch.promote_types(tensors[0].dtype, tensors[-1].dtype)
    wind_t = torch.as_tensor(wind, dtype=dtype, device=device)
    target = torch.as_tensor(target_m, dtype=dtype, device=device)
    if not bool((target.detach() > 0).all()):
        raise ValueError(
            f"target_m (distance from the pivot, m) must be > 0, got {_show(target_m)}"
        )
    try:
        wind_t, target = torch.broadcast_tensors(wind_t, target)
    except RuntimeError:
        raise ValueError(
            "wind and target_m must broadcast together, got shapes "
            f"{tuple(wind_t.shape)} and {tuple(target.shape)}"
        ) from None
    return wind_t, target


# --------------------------------------------------------------------------------------
# The solve (float64, no graph to the inputs, first derivatives only)

_H_DEG = 1e-4  # the step of the central difference for ∂d/∂a in the optimality conditions
_GRID = 12  # counterweights scanned, geometrically spaced over the box
_GRID_EVEN = 23  # then, for the targets not covered, evenly spaced (25 lb for the default box)


@dataclasses.dataclass
class _Shot:
    """The distance and its first derivatives in (angle°, weight lb) at K points, ``[K]``."""

    d: torch.Tensor
    da: torch.Tensor
    dw: torch.Tensor


def _shot(
    wind: torch.Tensor,
    a: torch.Tensor,
    w: torch.Tensor,
    params: TrebuchetParams,
    record: bool = False,
) -> _Shot:
    """Shoot at (a, w) and differentiate once (NaN for failed shots).

    The results are detached unless ``record`` (the unrolled differentiation that
    ``scripts/bench_implicit.py`` measures against the implicit gradient): then the first
    derivatives keep their graph (``create_graph``) back to ``a``, ``w``, the wind and the
    parameters.
    """
    if not (record and a.requires_grad):
        a = a.detach().requires_grad_(True)
    if not (record and w.requires_grad):
        w = w.detach().requires_grad_(True)
    with torch.enable_grad():
        d = shoot(wind, a, w, params, on_failure="nan")
        ok = torch.isfinite(d)
        if d.requires_grad:
            da, dw = torch.autograd.grad(torch.where(ok, d, 0.0).sum(), (a, w), create_graph=record)
        else:  # every shot failed
            da = dw = torch.zeros_like(d)
    if not record:
        d, da, dw = d.detach(), da.detach(), dw.detach()
    nan = torch.full_like(da, float("nan"))
    return _Shot(d, torch.where(ok, da, nan), torch.where(ok, dw, nan))


class _Shooter:
    """Shoots for the solve: entries name their target (``idx``), whose wind and parameters
    they take; counts the batched shots (each with its backward pass)."""

    def __init__(self, wind: torch.Tensor, params: TrebuchetParams, record: bool = False) -> None:
        self.wind = wind
        self.params = params
        self.record = record
        self.fields = params.tensors()  # per-target fields, [n]
        self.calls = 0

    def __call__(self, idx: torch.Tensor, a: torch.Tensor, w: torch.Tensor) -> _Shot:
        self.calls += 1
        p = self.params
        if self.fields:
            p = p.replace(**{k: v[idx] for k, v in self.fields.items()})
        return _shot(self.wind[idx], a, w, p, self.record)


def _capped(step_a: torch.Tensor, step_w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A Newton step scaled down (its direction kept) to at most 10 degrees and 100 lb."""
    scale = torch.maximum(step_a.abs() / 10.0, step_w.abs() / 100.0).clamp_min(1.0)
    scale = torch.where(torch.isfinite(scale), scale, math.inf)
    return step_a / scale, step_w / scale


def _ridge(
    shots: _Shooter,
    idx: torch.Tensor,
    w: torch.Tensor,
    a0: torch.Tensor,
    box_a: tuple[float, float],
    max_iter: int,
    atol: float,
) -> tuple[torch.Tensor, _Shot]:
    """The angle of greatest range at each counterweight ``w`` (``[M]``, of the targets
    ``idx``), from ``a0``.

    Newton on ∂d/∂a = 0 with the curvature a finite difference of ∂d/∂a (both points in
    one batched shot), safeguarded by bisection of the bracket of the slope's sign change
    within the box; an end of the box where the slope points out of it is its answer.

    Args:
        atol: Stop when a step, or the bracket, is this small (degrees).

    Returns:
        ``(a, shot)``: the angles and the shot there (distance and first derivatives).
    """
    alo, ahi = box_a
    m = a0.numel()
    lo, hi = torch.full_like(a0, alo), torch.full_like(a0, ahi)
    a, h = a0.clone(), torch.full_like(a0, 0.05)
    d, da, dw = (torch.full_like(a0, float("nan")) for _ in range(3))
    todo = torch.arange(m, device=a0.device)
    for _ in range(max_iter):
        if todo.numel() == 0:
            break
        x, ht = a[todo], h[todo]
        # the second point on the side away from the box's nearer end
        x2 = torch.where(x + ht <= ahi, x + ht, x - ht)
        s = shots(idx[todo].repeat(2), torch.cat((x, x2)), w[todo].repeat(2))
        k = todo.numel()
        g, g2 = s.da[:k], s.da[k:]
        d[todo], da[todo], dw[todo] = s.d[:k], g, s.dw[:k]
        lo[todo] = torch.where(g > 0, x, lo[todo])
        hi[todo] = torch.where(g > 0, hi[todo], x)
        curv = (g2 - g) / (x2 - x)
        newton = x - g / torch.where(curv < 0, curv, -1.0)
        inside = (curv < 0) & (newton > lo[todo]) & (newton < hi[todo])
        new = torch.where(inside, newton, 0.5 * (lo[todo] + hi[todo]))
        step = (new - x).abs()
        done = (step <= atol) | ((hi[todo] - lo[todo]) <= atol) | (g == 0) | ~torch.isfinite(g)
        a[todo] = torch.where(done, x, new)  # a settled angle keeps its evaluated shot
        h[todo] = (0.1 * step).clamp(1e-5, 0.05)
        todo = todo[~done]
    return a, _Shot(d, da, dw)


def _solve(
    wind: torch.Tensor,
    target: torch.Tensor,
    params: TrebuchetParams,
    box_a: tuple[float, float],
    box_w: tuple[float, float],
    max_iter: int,
    rtol: float,
    record: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """The lexicographic solution of every target: ``(angle, weight, condition, shots)``.

    ``docs/trebuchet.md`` ("Aiming") describes the phases:
    1. the ridge of greatest range R(w) = max_a d(a, w) at :data:`_GRID` counterweights;
    2. targets within R at the lightest weight: safeguarded Newton on d = target along the
       steeper branch at that weight (or too short);
    3. the others: the first scanned counterweight whose ridge covers the target (the
       targets no geometric scan point covers are scanned again at :data:`_GRID_EVEN`
       evenly spaced weights) brackets the least counterweight; Newton on
       (∂d/∂a, d − target) = 0 with a finite-difference Hessian, the counterweight kept in
       its bracket. No scan point covers it: too far, the farthest scanned shot (at the
       heaviest weight, the ridge there).

    ``record`` keeps the graph of every shot's first derivatives (``create_graph``): the
    unrolled differentiation that ``scripts/bench_implicit.py`` measures.
    """
    alo, ahi = box_a
    wlo, whi = box_w
    n = target.numel()
    dev = target.device
    shots = _Shooter(wind, params, record)
    everyone = torch.arange(n, device=dev)
    cond = torch.full((n,), NOT_CONVERGED, dtype=torch.long, device=dev)
    ftol = rtol * target
    atol = 1e-10 * (ahi - alo)

    # 1. the ridge at the scanned counterweights, [G, n]
    def scan(idx: torch.Tensor, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ridge's angles and ranges at ``grid`` for the targets ``idx``, [G, k]."""
        g, k = grid.numel(), idx.numel()
        gw = grid[:, None].expand(g, k).reshape(-1)
        a0 = torch.full_like(gw, min(max(30.0, alo), ahi))
        ra, rs = _ridge(shots, idx.repeat(g), gw, a0, box_a, min(max_iter, 8), 0.05)
        return ra.reshape(g, k), torch.nan_to_num(rs.d, nan=-math.inf).reshape(g, k)

    grid = wlo * (whi / wlo) ** torch.linspace(0, 1, _GRID, dtype=target.dtype, device=dev)
    grid[-1] = whi
    ridge_a, ridge_d = scan(everyone, grid)
    a = ridge_a[0].clone()
    w = torch.full_like(target, wlo)
    # 2. within the lightest weight's range: the steeper branch
    low = target <= ridge_d[0]
    steep = shots(everyone, torch.full_like(a, ahi), w).d
    short = low & (target < steep)
    cond[short], a[short] = TOO_SHORT, ahi
    branch = (low & ~short).nonzero().squeeze(1)
    if branch.numel():
        lo_a, hi_a = a.clone(), torch.full_like(a, ahi)
        frac = (ridge_d[0] - target) / (ridge_d[0] - steep)
        a[branch] = (lo_a + frac.clamp(0, 1) * (hi_a - lo_a))[branch]
        todo = branch
        for _ in range(max_iter):
            if todo.numel() == 0:
                break
            s = shots(todo, a[todo], w[todo])
            r = s.d - target[todo]
            hit = r.abs() <= ftol[todo]
            cond[todo[hit]] = LIGHTEST
            # the branch falls as the angle steepens: r > 0 puts the root above the angle
            lo_t = torch.where(r > 0, a[todo], lo_a[todo])
            hi_t = torch.where(r > 0, hi_a[todo], a[todo])
            lo_a[todo], hi_a[todo] = lo_t, hi_t
            newton = a[todo] - r / torch.where(s.da < 0, s.da, -1.0)
            inside = (s.da < 0) & (newton > lo_t) & (newton < hi_t)
            a[todo] = torch.where(hit, a[todo], torch.where(inside, newton, 0.5 * (lo_t + hi_t)))
            todo = todo[~hit & ((hi_t - lo_t) > atol)]

    # 3. the least counterweight whose ridge reaches the target, else the farthest shot;
    # brackets [wl, wh] of the least counterweight with the ridge's angles at their ends
    rise = ~low
    hit_side = torch.zeros_like(low)
    wl, wh, fl, fh = (torch.zeros_like(target) for _ in range(4))
    a_lo, a_hi = a.clone(), a.clone()
    best_d = torch.full_like(target, -math.inf)
    best_a, best_w = a.clone(), w.clone()

    def take(idx: torch.Tensor, grid: torch.Tensor, ra: torch.Tensor, rd: torch.Tensor) -> None:
        tt, cols = target[idx], torch.arange(idx.numel(), device=dev)
        covers = rd >= tt
        first = covers.to(torch.uint8).argmax(0).clamp(min=1)
        hit_side[idx] = covers.any(0)
        wl[idx], wh[idx] = grid[first - 1], grid[first]
        fl[idx], fh[idx] = rd[first - 1, cols] - tt, rd[first, cols] - tt
        a_lo[idx], a_hi[idx] = ra[first - 1, cols], ra[first, cols]
        kb = rd.argmax(0)
        better = rd[kb, cols] > best_d[idx]
        best_d[idx] = torch.where(better, rd[kb, cols], best_d[idx])
        best_a[idx] = torch.where(better, ra[kb, cols], best_a[idx])
        best_w[idx] = torch.where(better, grid[kb], best_w[idx])

    up = rise.nonzero().squeeze(1)
    take(up, grid, ridge_a[:, up], ridge_d[:, up])
    # not covered by the geometric scan: evenly spaced counterweights as well (the range of
    # the reference trebuchet has a narrow peak near 525 lb that the scan steps over)
    missing = (rise & ~hit_side).nonzero().squeeze(1)
    if missing.numel():
        even = torch.linspace(wlo, whi, _GRID_EVEN, dtype=target.dtype, device=dev)
        take(missing, even, *scan(missing, even))
    far = rise & ~hit_side
    cond[far] = TOO_FAR
    a[far], w[far] = best_a[far], best_w[far]
    # farthest at the heaviest weight: the ridge there, solved to the tolerance
    top = (far & (best_w >= whi)).nonzero().squeeze(1)
    if top.numel():
        a[top] = _ridge(shots, top, w[top], a[top], box_a, max_iter, atol)[0]
        cond[top] = TOO_FAR_AT_BOUND
    frac = (fl / torch.where(fl != fh, fl - fh, 1.0)).clamp(0.0, 1.0)
    w_now = wl + frac * (wh - wl)
    a_now = a_lo + frac * (a_hi - a_lo)
    # Newton on (∂d/∂a, d - target) = 0, its Hessian finite differences of the first
    # derivatives, all three points in one batched shot; the counterweight kept inside its
    # bracket (bisection when it leaves)
    todo = hit_side.nonzero().squeeze(1)
    a[todo], w[todo] = a_now[todo], w_now[todo]
    ha, hw = torch.full_like(a, 0.05), torch.full_like(a, 1.0)
    for _ in range(max_iter):
        if todo.numel() == 0:
            break
        at, wt, tt, k = a[todo], w[todo], target[todo], todo.numel()
        a2 = torch.where(at + ha[todo] <= ahi, at + ha[todo], at - ha[todo])
        w2 = torch.where(wt + hw[todo] <= whi, wt + hw[todo], wt - hw[todo])
        s = shots(todo.repeat(3), torch.cat((at, a2, at)), torch.cat((wt, wt, w2)))
        d0, ga0, gw0 = s.d[:k], s.da[:k], s.dw[:k]
        haa = (s.da[k : 2 * k] - ga0) / (a2 - at)
        haw = (s.da[2 * k :] - ga0) / (w2 - wt)
        r2 = d0 - tt
        det = haa * gw0 - haw * ga0
        good = torch.isfinite(det) & (det != 0) & (haa < 0)
        sdet = torch.where(good, det, 1.0)
        uphill = -ga0 / torch.where(haa < 0, haa, -0.08)
        step_a = torch.where(good, (-ga0 * gw0 + haw * r2) / sdet, uphill)
        step_w = torch.where(good, (-haa * r2 + ga0 * ga0) / sdet, 0.0)
        step_a, step_w = _capped(step_a, step_w)
        # the bracket: a shot at or past the target proves R(w) >= target; one short of it
        # on the ridge, R(w) < target
        wh[todo] = torch.where(d0 >= tt, wt, wh[todo])
        wl[todo] = torch.where((d0 < tt - ftol[todo]) & (ga0.abs() <= 1e-8), wt, wl[todo])
        new_w = wt + step_w
        inside = (new_w >= wl[todo]) & (new_w <= wh[todo])
        new_w = torch.where(inside, new_w, 0.5 * (wl[todo] + wh[todo]))
        # the angle's step for the counterweight's actual step (the ridge's first row,
        # ∂²d/∂a² Δa + ∂²d/∂a∂w Δw = -∂d/∂a), capped
        ridge_step = -(ga0 + haw * (new_w - wt)) / torch.where(haa < 0, haa, -0.08)
        step_a = torch.where(inside, step_a, ridge_step.clamp(-10.0, 10.0))
        new_a = (at + step_a).clamp(alo, ahi)
        converged = (ga0.abs() <= 1e-12) & (r2.abs() <= ftol[todo])
        cond[todo[converged]] = RIDGE
        a[todo] = torch.where(converged, at, new_a)
        w[todo] = torch.where(converged, wt, new_w)
        ha[todo] = (0.1 * (new_a - at).abs()).clamp(1e-5, 0.05)
        hw[todo] = (0.1 * (new_w - wt).abs()).clamp(1e-4, 1.0)
        todo = todo[~converged]
    edge = (cond == RIDGE) & ((a <= alo + atol) | (a >= ahi - atol))
    cond[edge] = EDGE
    return a, w, cond, shots.calls


# --------------------------------------------------------------------------------------
# The optimality conditions (for the implicit gradient)


def _optimality(
    cond: torch.Tensor,
    box_a: tuple[float, float],
    box_w: tuple[float, float],
    params: TrebuchetParams,
    names: tuple[str, ...],
    shape: torch.Size,
):
    """F(x, wind, target, *fields) = 0 at the solution, by condition (``docs/trebuchet.md``)."""
    alo, ahi = box_a
    wlo, whi = box_w
    n = cond.numel()

    def flat(v: torch.Tensor) -> torch.Tensor:
        return v.expand(shape).reshape(n) if v.ndim else v

    def optimality(x: torch.Tensor, wind, target, *fields) -> torch.Tensor:
        def three(v: torch.Tensor) -> torch.Tensor:
            v = flat(v)
            return v.repeat(3) if v.ndim else v

        p = params.replace(**{k: three(v) for k, v in zip(names, fields)}) if names else params
        a, w = x[:, 0], x[:, 1]
        # ∂d/∂a as a central difference (step _H_DEG) of three shots in one batch: F then
        # needs first derivatives only, and its vector-Jacobian products one backward pass
        lo_a, hi_a = ANGLE_LIMITS_DEG
        am, ap = (a - _H_DEG).clamp(min=lo_a), (a + _H_DEG).clamp(max=hi_a)
        shots = shoot(three(wind), torch.cat((am, a, ap)), w.repeat(3), p, on_failure="nan")
        dm, d, dp = shots.reshape(3, n)
        da = (dp - dm) / (ap - am)
        miss = d - flat(target)
        first = torch.where(cond == EDGE, a - torch.where(a <= alo, alo, ahi), da)
        first = torch.where(cond == LIGHTEST, w - wlo, first)
        first = torch.where(cond == TOO_SHORT, a - ahi, first)
        second = torch.where(cond == TOO_SHORT, w - wlo, miss)
        # out of reach, too far: the farthest scanned shot, held (zero gradient); at the
        # heaviest weight, the ridge there (the closest shot's gradient)
        first = torch.where(cond == TOO_FAR, a - a.detach(), first)
        second = torch.where(cond == TOO_FAR, w - w.detach(), second)
        second = torch.where(cond == TOO_FAR_AT_BOUND, w - whi, second)
        return torch.stack((first, second), -1)

    return optimality


# --------------------------------------------------------------------------------------
# aim


def aim(
    wind: Scalar,
    target_m: Scalar,
    params: Optional[TrebuchetParams] = None,
    *,
    tolerance_m: float = 1e-3,
    angle_bounds_deg: tuple[float, float] = ANGLE_BOUNDS_DEG,
    weight_bounds_lb: tuple[float, float] = WEIGHT_BOUNDS_LB,
    max_iter: int = 50,
    rtol: float = 1e-10,
) -> AimResult:
    """The least counterweight that hits each target, and its release angle; differentiable.

    The solution, unique per target (``docs/trebuchet.md``, "Aiming"): of the settings in
    the box that land on the target, the one with the least counterweight and, among those,
    the steepest release angle. Above the box's lightest weight that is the angle of
    greatest range (∂d/∂a = 0), so small angle errors barely move the shot. A target that
    no setting reaches gets the closest shot (``reached`` False). Newton's method on the
    conditions that hold solves each to ``|d − target| <= rtol · target``; the results carry
    gradients with respect to ``wind``, ``target_m`` and the tensor fields of ``params``
    that require grad, by the implicit function theorem on those conditions
    (:func:`diffsim.implicit.root`; an out-of-reach target's gradient is its closest
    shot's, zero for a target too short).

    Args:
        wind: Wind speed (m/s; positive blows towards the target): a float, or a float32 or
            float64 tensor of any shape (0-dim included), broadcast against ``target_m``.
        target_m: Target distances from the pivot (m), > 0: a float or a float32/float64
            tensor. The batch shape ``B`` is the broadcast shape of both inputs; the dtype
            is theirs promoted (float64 for floats; the solve itself runs in float64), the
            device theirs.
        params: The trebuchet (default: the reference preset). Tensor fields broadcast to
            ``B`` (0-dim: shared by every target).
        tolerance_m: ``reached`` is ``|miss| <= tolerance_m`` (m), >= 0.
        angle_bounds_deg: The box's release angles (degrees), within
            :data:`~diffsim.trebuchet.ANGLE_LIMITS_DEG`.
        weight_bounds_lb: The box's counterweights (lb), positive.
        max_iter: Newton steps allowed per phase, a positive int; a target not settled
            in them gets condition ``NOT_CONVERGED`` and ``reached`` False.
        rtol: Relative tolerance of the hit, in (0, 1e-3].

    Returns:
        An :class:`AimResult` of batch shape ``B``.

    Raises:
        TypeError: ``wind`` or ``target_m`` is not a number or tensor, ``params`` is not a
            :class:`~diffsim.trebuchet.TrebuchetParams`.
        ValueError: a tensor input of another dtype than float32/float64, non-finite values,
            ``target_m <= 0``, inputs that do not broadcast together or lie on two devices,
            a search box outside its limits, or a bad option.

    Example:
        >>> res = aim(0.0, torch.tensor([60.0, 500.0]))
        >>> res.reached.tolist(), [round(v, 1) for v in res.weight_lb.tolist()]
        ([True, False], [56.2, 525.0])
    """
    if params is not None and not isinstance(params, TrebuchetParams):
        raise TypeError(f"params must be a TrebuchetParams (or None), got {type(params).__name__}")
    p = TrebuchetParams.reference() if params is None else params
    _check_count("max_iter", max_iter)
    _check_positive("tolerance_m", tolerance_m, strict=False)
    _check_positive("rtol", rtol)
    if rtol > 1e-3:
        raise ValueError(f"rtol must be in (0, 1e-3], got {rtol!r}")
    box_a = _check_box("angle_bounds_deg", angle_bounds_deg, ANGLE_LIMITS_DEG, "degrees")
    box_w = _check_box("weight_bounds_lb", weight_bounds_lb, None, "lb")
    wind_t, target = _inputs(wind, target_m)
    dtype, device, shape = target.dtype, target.device, target.shape
    fields = p.tensors()
    names = tuple(fields)
    try:
        for k, v in fields.items():
            if torch.broadcast_shapes(v.shape, shape) != shape:
                raise RuntimeError
            if v.device != device:
                raise ValueError(
                    f"params.{k} is on {v.device}, the targets on {device}: use one device"
                )
    except RuntimeError:
        raise ValueError(
            f"params' tensor fields must broadcast to the targets' shape {tuple(shape)}, got "
            f"{ {k: tuple(v.shape) for k, v in fields.items()} }"
        ) from None
    n = target.numel()
    f64 = torch.float64
    p64 = p.replace(**{k: v.detach().to(f64).expand(shape).reshape(n) for k, v in fields.items()})
    wind64 = wind_t.detach().to(f64).reshape(n)
    target64 = target.detach().to(f64).reshape(n)
    start = time.perf_counter()
    a, w, cond, steps = _solve(wind64, target64, p64, box_a, box_w, max_iter, rtol)
    x = torch.stack((a, w), -1)
    grads = [v for v in (wind_t, target, *fields.values()) if v.requires_grad]
    if grads:  # attach the implicit gradients (float64 for the adjoint solve)
        pd = p.replace(**{k: v.to(f64) for k, v in fields.items()})
        opt = _optimality(cond, box_a, box_w, pd, names, shape)
        x = implicit.root(
            opt,
            x,
            [wind_t.to(f64), target.to(f64), *(v.to(f64) for v in fields.values())],
            batch_dims=1,
            solve="dense",
        )
    seconds = time.perf_counter() - start
    angle, weight = (v.reshape(shape).to(dtype) for v in x.unbind(-1))
    dist = shoot(wind_t, angle, weight, p, on_failure="nan")
    miss = dist - target
    reached = (miss.detach().abs() <= tolerance_m) & (cond.reshape(shape) <= EDGE)
    return AimResult(
        angle_deg=angle,
        weight_lb=weight,
        distance=dist,
        miss=miss,
        reached=reached,
        condition=cond.reshape(shape),
        steps=steps,
        seconds=seconds,
        seconds_per_aim=seconds / max(n, 1),
    )
