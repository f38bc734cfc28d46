"""Solvers over the differentiable physics: :func:`aim` finds the trebuchet's controls.

:func:`aim` is the gradient-descent aiming of FluxML's 2019 post on differentiable
programming versus reinforcement learning (https://fluxml.ai/2019/03/05/dp-vs-rl.html),
batched over targets, through :func:`diffsim.trebuchet.shoot`. Its default search box is the
aiming box of :mod:`diffsim.trebuchet.params` (:data:`~diffsim.trebuchet.ANGLE_BOUNDS_DEG`,
:data:`~diffsim.trebuchet.WEIGHT_BOUNDS_LB`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from typing import Optional

import torch

from ._validation import Scalar
from .trebuchet.params import ANGLE_BOUNDS_DEG, ANGLE_LIMITS_DEG, WEIGHT_BOUNDS_LB, TrebuchetParams
from .trebuchet.simulation import shoot

__all__ = ["AimResult", "aim"]

_DTYPES = (torch.float32, torch.float64)
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8  # Adam's constants (Kingma & Ba, 2015)


@dataclasses.dataclass
class AimResult:
    """The result of :func:`aim`, for targets of batch shape ``B``.

    It unpacks as ``(angle_deg, weight_lb)``; the other fields say how well each target
    was met.

    Attributes:
        angle_deg: Release angle found per target (degrees), shape ``B``.
        weight_lb: Counterweight found per target (lb), shape ``B``.
        distance: Distance that (angle_deg, weight_lb) gives (m), shape ``B``.
        miss: ``distance - target`` (m), shape ``B``.
        reached: Whether ``|miss| <= tolerance_m``, bool, shape ``B``; False marks a target
            out of reach within the search box (or not met in the steps given).
        steps: Number of optimiser steps taken.
        seconds: Wall-clock time of the whole batched search (s).
        seconds_per_aim: ``seconds`` divided by the number of targets (s).
    """

    angle_deg: torch.Tensor
    weight_lb: torch.Tensor
    distance: torch.Tensor
    miss: torch.Tensor
    reached: torch.Tensor
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
    name: str,
    box: object,
    start: object,
    start_name: str,
    limits: Optional[tuple[float, float]],
    unit: str,
) -> tuple[float, float]:
    """The search box ``(low, high)`` as floats, checked against ``limits`` (None: positive)
    and against its start."""
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
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise TypeError(f"{start_name} must be a float, got {type(start).__name__}")
    if not lo < start < hi:
        raise ValueError(
            f"{name} must satisfy low < start < high, got {(lo, hi)} and {start_name}={start}"
        )
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
    """``wind`` and ``target_m`` checked, detached and broadcast to one shape, dtype, device."""
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
    wind_t = torch.as_tensor(wind, dtype=dtype, device=device).detach()
    target = torch.as_tensor(target_m, dtype=dtype, device=device).detach()
    if not bool((target > 0).all()):
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
# The search


def _logit(x: float, lo: float, hi: float) -> float:
    f = (x - lo) / (hi - lo)
    return math.log(f / (1 - f))


@dataclasses.dataclass
class _Search:
    """The per-target state of the search, each ``[N]`` (``[N, 2]`` for the variables)."""

    uv: torch.Tensor  # the unconstrained (angle, weight) variables
    m: torch.Tensor  # Adam's first moment
    s2: torch.Tensor  # Adam's second moment
    rate: torch.Tensor  # the per-target learning rate
    count: torch.Tensor  # Adam steps taken per target
    last_sign: torch.Tensor  # the sign of the last miss
    best_err: torch.Tensor  # the smallest |miss| so far (m)
    best_uv: torch.Tensor  # the variables that gave it
    stale: torch.Tensor  # steps since the best |miss| last shrank by 0.1 %

    @classmethod
    def start(cls, uv0: torch.Tensor, n: int, lr: float) -> _Search:
        uv = uv0.repeat(n, 1)
        zero = torch.zeros_like(uv[:, 0])
        return cls(
            uv=uv,
            m=torch.zeros_like(uv),
            s2=torch.zeros_like(uv),
            rate=torch.full_like(zero, lr),
            count=zero.clone(),
            last_sign=zero.clone(),
            best_err=torch.full_like(zero, float("inf")),
            best_uv=uv.clone(),
            stale=torch.zeros(n, dtype=torch.long, device=uv.device),
        )

    def searching(self, tolerance_m: float, patience: int) -> torch.Tensor:
        """Indices of the targets neither reached nor given up (one host synchronisation)."""
        return ((self.best_err > tolerance_m) & (self.stale < patience)).nonzero().squeeze(1)

    @torch.no_grad()
    def update(
        self, idx: torch.Tensor, x: torch.Tensor, miss: torch.Tensor, grad: torch.Tensor
    ) -> None:
        """Keep the best iterate of targets ``idx`` and take their Adam step.

        Adam on the squared miss, with a per-target step that halves (and a first moment
        that resets) whenever the target's miss changes sign, so that each target settles
        instead of jittering. ``torch.optim.Adam`` keeps one rate and one step count per
        tensor, not per target, hence the update written out here.

        Args:
            idx: The targets searched this step ``[K]``.
            x: Their variables ``[K, 2]``.
            miss: ``distance - target`` (m) ``[K]``; NaN for a failed shot.
            grad: d distance / d x ``[K, 2]``.
        """
        err = miss.abs()
        better = torch.isfinite(err) & (err < self.best_err[idx])
        improved = better & (err < self.best_err[idx] * (1 - 1e-3) - 1e-9)
        self.best_err[idx] = torch.where(better, err, self.best_err[idx])
        self.best_uv[idx] = torch.where(better.unsqueeze(-1), x, self.best_uv[idx])
        self.stale[idx] = torch.where(improved, 0, self.stale[idx] + 1)
        # gradient of the squared miss; a failed shot gives no direction: zero
        g = torch.nan_to_num(2 * miss.unsqueeze(-1) * grad, nan=0.0, posinf=0.0, neginf=0.0)
        sign = torch.sign(torch.nan_to_num(miss, nan=0.0))
        flip = sign * self.last_sign[idx] < 0
        self.last_sign[idx] = sign
        r = torch.where(flip, self.rate[idx] * 0.5, self.rate[idx])
        self.rate[idx] = r
        mi = _BETA1 * torch.where(flip.unsqueeze(-1), 0.0, self.m[idx]) + (1 - _BETA1) * g
        si = _BETA2 * self.s2[idx] + (1 - _BETA2) * g**2
        c = self.count[idx] + 1
        self.m[idx], self.s2[idx], self.count[idx] = mi, si, c
        m_hat = mi / (1 - _BETA1**c).unsqueeze(-1)
        s_hat = si / (1 - _BETA2**c).unsqueeze(-1)
        self.uv[idx] = x - r.unsqueeze(-1) * m_hat / (s_hat.sqrt() + _EPS)


def aim(
    wind: Scalar,
    target_m: Scalar,
    params: Optional[TrebuchetParams] = None,
    *,
    steps: int = 150,
    lr: float = 0.2,
    tolerance_m: float = 0.1,
    angle_bounds_deg: tuple[float, float] = ANGLE_BOUNDS_DEG,
    weight_bounds_lb: tuple[float, float] = WEIGHT_BOUNDS_LB,
    angle0_deg: float = 45.0,
    weight0_lb: float = 200.0,
    patience: int = 40,
) -> AimResult:
    """Find a release angle and counterweight that hit each target, by gradient descent.

    All targets are aimed at once: one batched :func:`~diffsim.trebuchet.shoot` per step and
    Adam on the squared miss (per target, the step halves and the first moment resets each
    time the miss changes sign), over unconstrained variables mapped into the search box by
    sigmoids (``angle = lo + (hi - lo) sigmoid(u)``, likewise the weight). The best iterate of
    each target is kept. A target stops once within ``tolerance_m``, or after ``patience`` of
    its steps without progress; only the targets still searched are shot at each step, and
    the search ends when every target has stopped.

    Args:
        wind: Wind speed (m/s; positive blows towards the target): a float, or a float32 or
            float64 tensor of any shape (0-dim included), broadcast against ``target_m``.
        target_m: Target distances from the pivot (m), > 0: a float or a float32/float64
            tensor. The targets' batch shape ``B`` is the broadcast shape of both inputs; the
            dtype is theirs promoted (float64 for floats), the device theirs. Tensors are
            used detached (the result carries no gradient).
        params: The trebuchet (default: the reference preset); used as constants here.
        steps: Maximum number of Adam steps, a positive int.
        lr: Adam's initial learning rate on the unconstrained variables, > 0 (per target, it
            halves each time that target's miss changes sign).
        tolerance_m: A target is reached when ``|distance - target| <= tolerance_m`` (m), >= 0.
        angle_bounds_deg: Search box for the release angle (degrees), within
            :data:`~diffsim.trebuchet.ANGLE_LIMITS_DEG`; default
            :data:`~diffsim.trebuchet.ANGLE_BOUNDS_DEG`.
        weight_bounds_lb: Search box for the counterweight (lb), positive; default
            :data:`~diffsim.trebuchet.WEIGHT_BOUNDS_LB`.
        angle0_deg: Starting angle (degrees), strictly inside the box.
        weight0_lb: Starting counterweight (lb), strictly inside the box.
        patience: A target whose best miss has not shrunk (by 0.1 %) for this many of its
            steps is given up (out of reach), a positive int.

    Returns:
        An :class:`AimResult` of batch shape ``B``; ``reached`` is False for targets out of
        reach (within the box).

    Raises:
        TypeError: ``wind`` or ``target_m`` is not a number or tensor, ``params`` is not a
            :class:`~diffsim.trebuchet.TrebuchetParams`.
        ValueError: a tensor input of another dtype than float32/float64, non-finite values,
            ``target_m <= 0``, inputs that do not broadcast together or lie on two devices,
            a search box outside its limits or not containing its start, or a bad option.

    Example:
        >>> res = aim(0.0, torch.tensor([60.0, 500.0]), steps=30, patience=5)
        >>> res.reached.tolist()
        [True, False]
    """
    if params is not None and not isinstance(params, TrebuchetParams):
        raise TypeError(f"params must be a TrebuchetParams (or None), got {type(params).__name__}")
    _check_count("steps", steps)
    _check_count("patience", patience)
    _check_positive("lr", lr)
    _check_positive("tolerance_m", tolerance_m, strict=False)
    alo, ahi = _check_box(
        "angle_bounds_deg", angle_bounds_deg, angle0_deg, "angle0_deg", ANGLE_LIMITS_DEG, "degrees"
    )
    wlo, whi = _check_box(
        "weight_bounds_lb", weight_bounds_lb, weight0_lb, "weight0_lb", None, "lb"
    )
    wind_t, target = _inputs(wind, target_m)
    dtype, device, shape = target.dtype, target.device, target.shape
    wind_f, target_f = wind_t.reshape(-1), target.reshape(-1)
    n = target_f.numel()
    uv0 = torch.tensor(
        [_logit(angle0_deg, alo, ahi), _logit(weight0_lb, wlo, whi)], dtype=dtype, device=device
    )
    search = _Search.start(uv0, n, lr)

    def to_box(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return alo + (ahi - alo) * torch.sigmoid(x[..., 0]), wlo + (whi - wlo) * torch.sigmoid(
            x[..., 1]
        )

    start = time.perf_counter()
    taken = 0
    for taken in range(1, steps + 1):  # noqa: B007
        # only targets still being searched are shot (host-side compaction: aim is a boundary)
        idx = search.searching(tolerance_m, patience)
        if idx.numel() == 0:
            taken -= 1
            break
        x = search.uv[idx].requires_grad_(True)
        dist = shoot(wind_f[idx], *to_box(x), params, on_failure="nan")
        (grad,) = torch.autograd.grad(torch.where(torch.isfinite(dist), dist, 0.0).sum(), x)
        search.update(idx, x.detach(), dist.detach() - target_f[idx], grad)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        angle, weight = (y.reshape(shape) for y in to_box(search.best_uv))
        dist = shoot(wind_t, angle, weight, params, on_failure="nan")
    miss = dist - target
    return AimResult(
        angle_deg=angle,
        weight_lb=weight,
        distance=dist,
        miss=miss,
        reached=miss.abs() <= tolerance_m,
        steps=taken,
        seconds=seconds,
        seconds_per_aim=seconds / max(n, 1),
    )
