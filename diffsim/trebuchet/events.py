"""The events that end the trebuchet's stages, the step's interpolant and the root-finder.

Each stage ends where its event function changes sign: lift-off (stage 1), release
(stage 2) and ground contact (stage 3), as in Trebuchet.jl (``src/simulate.jl``,
``src/transition.jl``; spec: ``docs/reference_dynamics.md``). The package docstring of
:mod:`diffsim.trebuchet` gives the functions and how their roots carry gradients.

Two forms of each function:

- ``*_event(x1, x0, k) -> (g, bad)``: the value at the end of a step ``x0 -> x1``, which the
  stage loop watches for a sign change, and a per-shot failure flag (or None);
- ``g_*(s, ctx, k)``: the value at a fraction ``s`` of a step, on the step's cubic Hermite
  interpolant, which :func:`locate` finds the root of.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Optional

import torch

from .._validation import Scalar
from .dynamics import Consts, col, detach_consts, safe_sqrt, sling_end, sling_velocity

__all__ = [
    "GROUND_TOL",
    "ROOT_ITERS",
    "flight_event",
    "g_flight",
    "g_ground",
    "g_hang",
    "ground_event",
    "hang_event",
    "hermite",
    "interp",
    "liftoff_value",
    "locate",
    "release_value",
]

ROOT_ITERS = 20
"""Bracketing iterations of the event root-finder."""
GROUND_TOL = 0.05
"""How far (m) below the ground the sling end may dip before release."""

StepContext = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""One step per shot: the states at its start and end and their time derivatives."""


def hermite(
    x0: torch.Tensor,
    x1: torch.Tensor,
    f0: torch.Tensor,
    f1: torch.Tensor,
    s: torch.Tensor,
    dt: Scalar,
) -> torch.Tensor:
    """Cubic Hermite interpolant of one step at fraction ``s`` (shaped like ``x0[..., 0]``).

    Args:
        x0, x1: States at the step's start and end, ``[..., n]``.
        f0, f1: Their time derivatives, ``[..., n]``.
        s: Fraction of the step in [0, 1] (extrapolates outside), ``[...]``.
        dt: The step (s), a float or a column broadcasting against ``x0``.
    """
    s = s.unsqueeze(-1)
    return (
        (1 - s) * x0
        + s * x1
        + s * (s - 1) * ((1 - 2 * s) * (x1 - x0) + (s - 1) * dt * f0 + s * dt * f1)
    )


def interp(ctx: StepContext, s: torch.Tensor, dt: Scalar) -> torch.Tensor:
    """The step ``ctx``'s interpolated state at fraction ``s``; ``dt`` is a float or ``[N]``."""
    x0, x1, f0, f1 = ctx
    return hermite(x0, x1, f0, f1, s, col(dt))


def liftoff_value(
    q: torch.Tensor,
    w: torch.Tensor,
    q0: torch.Tensor,
    w0: torch.Tensor,
    h: Scalar,
    k: Consts,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``m_p g - T cos(theta)`` (N) and the sling tension T (N), from a_x as a finite difference.

    Args:
        q, w: Angles (rad) and rates (rad/s) where the value is taken, ``[..., 3]`` each.
        q0, w0: Angles and rates ``h`` seconds earlier (the step's start).
        h: The time between them (s).
        k: The constants.
    """
    theta = q[..., 0] + q[..., 2] - math.pi
    ax = (sling_velocity(q, w, k)[..., 0] - sling_velocity(q0, w0, k)[..., 0]) / h
    tension = -ax * k.m_p / torch.sin(theta)
    return k.m_p * k.g - tension * torch.cos(theta), tension


def release_value(q: torch.Tensor, w: torch.Tensor, k: Consts) -> torch.Tensor:
    """``sin(angle(v) - r)`` for the sling end's velocity v, written without atan2."""
    vx, vy = sling_velocity(q, w, k).unbind(-1)
    return (vy * torch.cos(k.r) - vx * torch.sin(k.r)) / safe_sqrt(vx**2 + vy**2)


def ground_event(
    x1: torch.Tensor, x0: torch.Tensor, k: Consts
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 1 at the end of a step: the lift-off value and whether the sling is slack."""
    g, tension = liftoff_value(x1[..., :3], x1[..., 3:], x0[..., :3], x0[..., 3:], k.dt, k)
    return g, tension < 0


def hang_event(x1: torch.Tensor, x0: torch.Tensor, k: Consts) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 2 at the end of a step: the release value and whether the sling end is more than
    :data:`GROUND_TOL` below the ground."""
    low = sling_end(x1[..., :3], k)[..., 1] < -k.a - GROUND_TOL
    return release_value(x1[..., :3], x1[..., 3:], k), low


def flight_event(x1: torch.Tensor, x0: torch.Tensor, k: Consts) -> tuple[torch.Tensor, None]:
    """Stage 3 at the end of a step: the height above the ground ``y + a`` (m); no failure."""
    return x1[..., 1] + k.a, None


def g_ground(s: torch.Tensor, ctx: StepContext, k: Consts) -> torch.Tensor:
    """The lift-off value at fraction ``s`` of the step, a_x measured from the step's start."""
    x = interp(ctx, s, k.dt)
    x0 = ctx[0]
    return liftoff_value(x[..., :3], x[..., 3:], x0[..., :3], x0[..., 3:], s * k.dt, k)[0]


def g_hang(s: torch.Tensor, ctx: StepContext, k: Consts) -> torch.Tensor:
    """The release value at fraction ``s`` of the step."""
    x = interp(ctx, s, k.dt)
    return release_value(x[..., :3], x[..., 3:], k)


def g_flight(s: torch.Tensor, ctx: StepContext, k: Consts) -> torch.Tensor:
    """The height above the ground (m) at fraction ``s`` of the step."""
    return interp(ctx, s, k.dt)[..., 1] + k.a


EventFunction = Callable[[torch.Tensor, StepContext, Consts], torch.Tensor]


def locate(
    gfun: Optional[EventFunction],
    ctx: StepContext,
    k: Consts,
    g0: torch.Tensor,
    g1: torch.Tensor,
    found: torch.Tensor,
    pin_at_start: bool = False,
) -> torch.Tensor:
    """Fraction ``s`` in [0, 1] of the step where ``gfun`` changes sign, differentiably.

    A bracketing root-finder (Illinois regula falsi, :data:`ROOT_ITERS` iterations) runs
    without gradient; one Newton step with gradient then gives s the implicit-function
    derivative ``-(dg/dp)/(dg/ds)``, and, when gradients are recorded, a second step makes
    its second derivative exact too (``docs/trebuchet.md``, "Events and gradients").
    Entries where ``found`` is False get s = 0 (with zero gradient).

    Args:
        gfun: The event function ``g(s, ctx, k)``; None interpolates ``g0``, ``g1``
            linearly instead (the smooth lift-off).
        ctx: The crossing step of each shot.
        k: The constants.
        g0, g1: The event values at the step's start and end, ``[N]``.
        found: Whether each shot's event was found in its step, bool ``[N]``.
        pin_at_start: ``g0`` is a left value that ``gfun`` need not approach as s -> 0 (the
            reference's lift-off): where ``gfun`` just after the step's start already has
            the sign of ``g1``, the crossing is the jump at s = 0, and s is pinned there (no
            gradient), as the reference's root-finder pins it.

    Returns:
        The fraction ``s`` per shot, ``[N]``.
    """
    if gfun is None:  # linear interpolation of the event values at the step's ends
        den = g0 - g1
        ok = found & (den != 0)
        s = torch.where(ok, g0 / torch.where(ok, den, 1.0), 0.0)
        return s.clamp(0.0, 1.0)
    det = tuple(x.detach() for x in ctx)
    kd = detach_consts(k)
    with torch.no_grad():
        lo = torch.zeros_like(g0)
        hi = torch.ones_like(g0)
        glo, ghi = g0.detach().clone(), g1.detach().clone()
        side = torch.zeros_like(g0)
        for _ in range(ROOT_ITERS):
            den = glo - ghi
            mid = torch.where(
                den != 0, (lo * -ghi + hi * glo) / torch.where(den != 0, den, 1), 0.5 * (lo + hi)
            )
            mid = torch.where((mid > lo) & (mid < hi), mid, 0.5 * (lo + hi))
            gm = gfun(mid, det, kd)
            left = (gm > 0) == (glo > 0)  # root in [mid, hi]
            lo = torch.where(left, mid, lo)
            hi = torch.where(left, hi, mid)
            glo_new = torch.where(left, gm, glo)
            ghi_new = torch.where(left, ghi, gm)
            # Illinois: halve the stale end's value when the same end is kept twice
            ghi_new = torch.where(left & (side > 0), 0.5 * ghi_new, ghi_new)
            glo_new = torch.where(~left & (side < 0), 0.5 * glo_new, glo_new)
            side = torch.where(left, torch.ones_like(side), -torch.ones_like(side))
            glo, ghi = glo_new, ghi_new
        s_star = torch.where(found, torch.where(ghi == 0, hi, 0.5 * (lo + hi)), 0.5)
        s_star = torch.where(torch.isfinite(s_star), s_star, 0.5)
        eps = 1e-4 if g0.dtype == torch.float64 else 1e-2
        sp, sm = (s_star + eps).clamp(max=1.5), (s_star - eps).clamp(min=eps * 0.5)
        slope = (gfun(sp, det, kd) - gfun(sm, det, kd)) / (sp - sm)
        ok = found & torch.isfinite(slope) & (slope != 0)
        if pin_at_start:
            # just after the start: as close as the dtype's finite difference allows
            start = gfun(torch.full_like(g0, 1e-6 if g0.dtype == torch.float64 else 1e-3), det, kd)
            pinned = (start > 0) == (g1.detach() > 0)
            ok = ok & ~pinned
            s_star = torch.where(found & pinned, 0.0, s_star)
        slope = torch.where(ok, slope, 1.0)
    s0 = torch.where(ok, s_star, 0.5)
    s1 = s0 - gfun(s0, ctx, k) / slope
    # a second Newton step, its slope recorded too: the first step from the detached root
    # gives s its exact first derivative, the second its exact second derivative (the
    # Newton map's own derivative in s vanishes at the root), so that the distance's second
    # derivatives hold (a Hessian, or backpropagation through aim's recorded iterations)
    if torch.is_grad_enabled():
        s1p, s1m = s1 + eps, s1 - eps
        slope1 = (gfun(s1p, ctx, k) - gfun(s1m, ctx, k)) / (2 * eps)
        slope1 = torch.where(ok, slope1, 1.0)
        s1 = s1 - gfun(s1, ctx, k) / slope1
    s = torch.where(ok, s1, s_star)
    return torch.where(found, s, 0.0)
