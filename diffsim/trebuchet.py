"""A differentiable trebuchet: a torch port of the model in FluxML/Trebuchet.jl.

Sources
    The equations of motion are those of Trebuchet.jl (https://github.com/FluxML/Trebuchet.jl,
    ``src/simulate.jl``, ``src/defs.jl``, ``src/utils.jl``, ``src/transition.jl``), which
    credits virtualtrebuchet.com (http://www.virtualtrebuchet.com/#documentation_EquationsOfMotion).
    Trebuchet.jl is the simulator behind FluxML's 2019 post on differentiable programming
    versus reinforcement learning (https://fluxml.ai/2019/03/05/dp-vs-rl.html). This module
    is an independent implementation of the same physics, batched over shots and
    differentiable through its events.

Geometry
    A beam (the arm) turns about a pivot at height ``a`` above the ground; the origin is the
    pivot, x points towards the target, y up, so the ground is the line ``y = -a``. The long
    arm (length ``b``) carries a sling of length ``e`` holding the projectile; the short arm
    (length ``c``) carries a counterweight hinged on a rod of length ``d``.

State (stages 1 and 2): a tensor ``[..., 6]`` in the reference's order
    ``(Aq, Wq, Sq, Aw, Ww, Sw)``: the arm angle (rad), the counterweight angle relative to the
    arm (rad), the sling angle relative to the arm (rad), and their rates (rad/s). The arm tip
    is at ``(-b sin Aq, b cos Aq)``, the sling end at the arm tip plus
    ``(-e sin(Aq+Sq), e cos(Aq+Sq))``, the counterweight at
    ``(c sin Aq + d sin(Aq+Wq), -c cos Aq - d cos(Aq+Wq))`` (metres). The shot starts at rest
    with the arm tip on the ground and the sling flat: ``Aq = pi/2 + asin(a/b)``,
    ``Sq = pi - asin(a/b)``, ``Wq = -Aq``.

State (stage 3): a tensor ``[..., 4]``, the projectile's ``(x, y, vx, vy)`` (m, m/s).

Stages and the events that end them
    1. Ground: the projectile slides on the ground, dragged by the sling (two degrees of
       freedom; the sling's rate follows from the ground constraint). Ends at lift-off, the
       sign change of ``m_p g - T cos(theta)`` with ``theta = Aq + Sq - pi`` and the sling
       tension ``T = -a_x m_p / sin(theta)``, where ``a_x`` is the sling end's horizontal
       acceleration taken, as in the reference, as a finite difference of its velocity over
       the last step. A negative tension before lift-off means a slack sling: the
       counterweight is too light and the shot fails.
    2. Hang: the projectile swings in the sling (three degrees of freedom). Ends at release,
       the sign change of ``sin(angle(v) - r)``, with ``v`` the sling end's velocity and
       ``r = asin(sin(release angle))``.
    3. Released: a point mass with quadratic drag against air that moves at the horizontal
       wind speed ``w``: ``a_x = -rho Cd A (vx - w)|v_rel| / (2 m_p)``,
       ``a_y = -g - rho Cd A vy |v_rel| / (2 m_p)``, ``|v_rel| = sqrt(vy^2 + (w - vx)^2)``,
       ``A = pi z^2``. Wind acts in this stage only. Ends at ground contact, ``y = -a``.

    The distance of a shot is the projectile's x at ground contact (metres from the pivot).

Integration and events
    Explicit Euler at a fixed step ``dt`` (1/60 s in the reference). Each event is located
    inside the step in which its function changes sign, on the cubic Hermite interpolant of
    the step (built from the state and its derivative at both ends, the dense output that
    OrdinaryDiffEq gives Euler), and the next stage starts from the interpolated state at the
    located time. The fraction of the step is found by a bracketing root-finder without
    gradient, then corrected by one Newton step with gradient, so that its derivative is the
    implicit-function-theorem one, ``ds/dp = -(dg/dp) / (dg/ds)``: gradients flow through the
    event times.

    Lift-off follows the reference exactly: its event function, evaluated inside the step,
    measures the finite difference from the step's start, where the reference takes the
    tension as zero. When that function has already crossed just after the start, the
    reference's root-finder returns the start of the step, and so does this port (the
    lift-off time then carries no gradient; the state does). ``smooth_liftoff=True`` (the
    corrected preset) instead interpolates the end-of-step values linearly.

Failures
    Detected per shot, with a code and reason (:data:`FAILURE_REASONS`): a slack sling
    before lift-off (counterweight too light), no lift-off within 5 s, no release before
    the projectile hits the ground (sling end 5 cm below it, or release point below it), no
    landing within 60 s, a non-finite state. A failed shot's distance is NaN. Failed shots are
    held at a finite state, so that (short of a non-finite state) no NaN reaches the gradients
    of the other shots or of shared parameters.

Batching
    Every shot carries its own clock; the stages run one after another for all shots at once
    (a fixed loop of steps with per-shot masks), each shot reaching its events at its own step.
    The per-step physics holds no host synchronisation; the loops check "all shots done" on
    the host every few steps, at the boundary.

Units
    SI inside (m, kg, s, rad). The public functions take the inputs as the post does: wind in
    m/s, release angle in degrees, counterweight in pounds.

The reference quirk
    Trebuchet.jl hands the arm's and the counterweight's moments of inertia to the equations
    of motion swapped: the arm term receives the counterweight's 1 lb ft^2 (0.04214 kg m^2)
    and the counterweight term receives the arm's ``m_arm (b + c)^2 / 12``.
    ``TrebuchetParams.reference()`` (the default) keeps the swap, as ``swap_inertias=True``,
    so as to reproduce the reference's figures; ``TrebuchetParams.corrected()`` undoes it.
"""

from __future__ import annotations

import dataclasses
import math
import time as _time
from typing import ClassVar, Optional

import torch

from ._params import Params
from ._validation import Scalar, check_choice, check_scalar

__all__ = [
    "FAILURE_REASONS",
    "AimResult",
    "ShotFailedError",
    "SimulationResult",
    "TrebuchetParams",
    "aim",
    "initial_state",
    "shoot",
    "simulate",
]

FT = 0.3048
"""Metres per foot."""
LB = 0.45359237
"""Kilograms per pound."""

OK, SLACK_SLING, NO_LIFTOFF, NO_RELEASE, NO_LANDING, NON_FINITE = range(6)
FAILURE_REASONS: tuple[str, ...] = (
    "ok",
    "slack sling: the counterweight is too light to lift the projectile",
    "no lift-off within the time limit",
    "no release before the projectile hit the ground",
    "no landing within the time limit",
    "non-finite state",
)
"""Failure codes (indices) and their descriptions; code 0 means the shot succeeded."""

_CHECK_EVERY = 8  # host check for "all shots done" every this many steps
_STAGE_LIMIT_S = (5.0, 5.0, 60.0)  # time limits of the three stages (seconds)
_ROOT_ITERS = 20  # bracketing iterations of the event root-finder
_ON_FAILURE = ("nan", "raise")
ANGLE_LIMITS_DEG = (0.0, 90.0)
"""The release angles (degrees above the horizontal) :func:`shoot` and :func:`simulate`
accept; outside them the release condition would wrap the angle silently (−10° would
release like 10°), so they raise ``ValueError`` instead."""
_GROUND_TOL = 0.05  # how far (m) below the ground the sling end may dip before release


@dataclasses.dataclass(frozen=True)
class TrebuchetParams(Params):
    """Physical parameters of the trebuchet (SI units; defaults are the reference's).

    The counterweight's mass is not a parameter: it is the shot's ``weight_lb`` input.
    """

    pivot_height: Scalar = 5.0 * FT
    """Height a of the pivot above the ground (m); the reference's 5 ft."""
    arm_long: Scalar = 6.792 * FT
    """Length b of the long arm, pivot to sling (m)."""
    arm_short: Scalar = 1.75 * FT
    """Length c of the short arm, pivot to counterweight hinge (m)."""
    weight_rod: Scalar = 2.0 * FT
    """Length d from the counterweight hinge to the counterweight's centre (m)."""
    sling_length: Scalar = 6.833 * FT
    """Length e of the sling (m)."""
    projectile_radius: Scalar = 0.1245 * FT
    """Radius z of the projectile (m); its drag area is pi z^2."""
    projectile_mass: Scalar = 0.328 * LB
    """Mass of the projectile (kg); the reference's 0.328 lb."""
    arm_mass: Scalar = 10.65 * LB
    """Mass of the arm (kg); the reference's 10.65 lb."""
    weight_inertia: Scalar = LB * FT * FT
    """Moment of inertia of the counterweight about its centre (kg m^2); 1 lb ft^2."""
    drag_coefficient: Scalar = 1.0
    """Drag coefficient Cd of the projectile (dimensionless; 0 turns drag off)."""
    air_density: Scalar = 1.0
    """Density rho of the air (kg/m^3); the reference uses 1.0."""
    gravity: Scalar = 9.80665
    """Gravitational acceleration g (m/s^2)."""
    dt: Scalar = 1.0 / 60.0
    """Time step of the explicit Euler integrator (s)."""
    swap_inertias: bool = True
    """Reproduce the reference's quirk: the arm and counterweight inertias passed swapped."""
    smooth_liftoff: bool = False
    """Locate lift-off by linear interpolation of the end-of-step event values (continuous in
    the inputs) instead of the reference's root-finding on its finite-difference tension,
    which pins lift-off to the start of the step whenever the tension inside the step has
    already crossed (so lift-off times then carry no gradient)."""

    _positive: ClassVar[tuple[str, ...]] = (
        "pivot_height",
        "arm_long",
        "arm_short",
        "weight_rod",
        "sling_length",
        "projectile_radius",
        "projectile_mass",
        "arm_mass",
        "weight_inertia",
        "gravity",
        "dt",
    )
    _flags: ClassVar[tuple[str, ...]] = ("swap_inertias", "smooth_liftoff")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("drag_coefficient", "air_density"):
            value = getattr(self, name)
            low = float(value.detach().min()) if isinstance(value, torch.Tensor) else value
            if low < 0:
                raise ValueError(f"TrebuchetParams.{name} must be >= 0, got {value!r}")
        a, b = self.pivot_height, self.arm_long
        if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
            ok = bool((torch.as_tensor(a) < torch.as_tensor(b)).all())
        else:
            ok = a < b
        if not ok:
            raise ValueError(
                "TrebuchetParams.pivot_height must be smaller than arm_long (the arm tip "
                f"starts on the ground), got pivot_height={a!r}, arm_long={b!r}"
            )

    @classmethod
    def reference(cls) -> TrebuchetParams:
        """The reference preset: Trebuchet.jl's constants, swapped inertias included."""
        return cls()

    @classmethod
    def corrected(cls) -> TrebuchetParams:
        """The reference's constants, the inertias where they belong, a smooth lift-off."""
        return cls(swap_inertias=False, smooth_liftoff=True)

    @property
    def arm_inertia(self) -> Scalar:
        """Moment of inertia of the arm about its centre, m_arm (b + c)^2 / 12 (kg m^2)."""
        return self.arm_mass * (self.arm_long + self.arm_short) ** 2 / 12.0

    @property
    def arm_cg(self) -> Scalar:
        """Distance from the pivot to the arm's centre of mass, (b - c) / 2 (m)."""
        return (self.arm_long - self.arm_short) / 2.0

    @property
    def projectile_area(self) -> Scalar:
        """Drag area of the projectile, pi z^2 (m^2)."""
        return math.pi * self.projectile_radius**2

    @property
    def inertias_used(self) -> tuple[Scalar, Scalar]:
        """The (arm, counterweight) inertias that the equations of motion use (kg m^2)."""
        if self.swap_inertias:
            return self.weight_inertia, self.arm_inertia
        return self.arm_inertia, self.weight_inertia


class ShotFailedError(RuntimeError):
    """Raised by :func:`shoot` when shots fail; ``codes`` holds the per-shot failure codes."""

    def __init__(self, message: str, codes: torch.Tensor) -> None:
        super().__init__(message)
        self.codes = codes


@dataclasses.dataclass
class SimulationResult:
    """Everything :func:`simulate` computes, for shots of batch shape ``B``.

    Attributes:
        distance: Landing x of each shot (m), shape ``B``; NaN for failed shots.
        failed: Whether each shot failed, bool, shape ``B``.
        failure_code: Failure code per shot (int64, shape ``B``; 0 = success), an index
            into :data:`FAILURE_REASONS`.
        reasons: Flat list (row-major over ``B``) of each shot's reason (``"ok"`` if fine).
        liftoff_time: Time of lift-off (s), shape ``B`` (NaN if not reached).
        release_time: Time of release (s), shape ``B`` (NaN if not reached).
        landing_time: Time of ground contact (s), shape ``B`` (NaN if not reached).
        liftoff_state: Arm state ``(Aq, Wq, Sq, Aw, Ww, Sw)`` at lift-off, shape ``B + (6,)``.
        release_state: Arm state at release, shape ``B + (6,)``.
        release_position: Projectile position at release (m), shape ``B + (2,)``.
        release_velocity: Projectile velocity at release (m/s), shape ``B + (2,)``.
        time: Trajectory times (s), shape ``(T,) + B``; NaN where a shot has no sample.
        stage: Stage of each sample (1 ground, 2 hang, 3 flight; 0 = no sample), int64,
            shape ``(T,) + B``. Rows are in time order for every shot; each stage's last
            sample of a shot is its located event (lift-off, release, landing).
        arm_tip: Arm tip (sling attachment) positions (m), shape ``(T,) + B + (2,)``.
        counterweight: Counterweight centre positions (m), shape ``(T,) + B + (2,)``.
        sling_end: Sling end positions (m), shape ``(T,) + B + (2,)``; frozen after release.
        projectile: Projectile positions (m), shape ``(T,) + B + (2,)``.

    The trajectory tensors are detached (for plotting); the distance, event times and event
    states carry gradients.
    """

    distance: torch.Tensor
    failed: torch.Tensor
    failure_code: torch.Tensor
    reasons: list[str]
    liftoff_time: torch.Tensor
    release_time: torch.Tensor
    landing_time: torch.Tensor
    liftoff_state: torch.Tensor
    release_state: torch.Tensor
    release_position: torch.Tensor
    release_velocity: torch.Tensor
    time: torch.Tensor
    stage: torch.Tensor
    arm_tip: torch.Tensor
    counterweight: torch.Tensor
    sling_end: torch.Tensor
    projectile: torch.Tensor


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

    def __iter__(self):
        """Unpack as ``angle_deg, weight_lb = aim(...)``."""
        return iter((self.angle_deg, self.weight_lb))


# --------------------------------------------------------------------------------------
# The physics (pure functions of tensors; no host synchronisation)


@dataclasses.dataclass(frozen=True)
class _Consts:
    """The quantities that the equations use, each a float or a flat tensor ``[N]``."""

    a: Scalar
    b: Scalar
    c: Scalar
    d: Scalar
    e: Scalar
    lcg: Scalar
    m_a: Scalar
    m_p: Scalar
    m_w: torch.Tensor
    i_a: Scalar
    i_w: Scalar
    g: Scalar
    k_drag: Scalar  # rho Cd A / (2 m_p), 1/m
    wind: torch.Tensor
    r: torch.Tensor
    dt: Scalar


def _safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """``sqrt`` with a finite derivative at 0 (keeps held, inactive shots free of NaN grads)."""
    return torch.sqrt(x.clamp_min(1e-30))


def _split(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return x.unbind(-1)


def _ground_accel(q: torch.Tensor, w: torch.Tensor, k: _Consts) -> torch.Tensor:
    """Stage 1: angular accelerations with the projectile constrained to the ground."""
    aq, wq, sq = _split(q)
    aw, ww, sw = _split(w)
    b, c, d, e, m_p, m_w, m_a = k.b, k.c, k.d, k.e, k.m_p, k.m_w, k.m_a
    s_a, c_a = torch.sin(aq), torch.cos(aq)
    s_as, c_as = torch.sin(aq + sq), torch.cos(aq + sq)
    s_s, c_s = torch.sin(sq), torch.cos(sq)
    s_w, c_w = torch.sin(wq), torch.cos(wq)
    s_aw = torch.sin(aq + wq)
    cot = c_as / s_as
    lever = cot + b * c_a / (e * s_as)  # coefficient of Aw^2 in the constraint
    swing = cot * sw * (sw + 2 * aw) + lever * aw**2
    m11 = (
        -m_p * b**2 * (-1 + 2 * s_a * c_s / s_as)
        + k.i_a
        + k.i_w
        + m_a * k.lcg**2
        + m_p * b**2 * s_a**2 / s_as**2
        + m_w * (c**2 + d**2 + 2 * c * d * c_w)
    )
    m12 = k.i_w + d * m_w * (d + c * c_w)
    m22 = k.i_w + m_w * d**2
    r1 = (
        k.g * k.lcg * m_a * s_a
        + b * e * m_p * (s_s * (aw + sw) ** 2 + c_s * swing)
        + b * m_p * s_a * (b * s_s * aw**2 - e * swing) / s_as
        - k.g * m_w * (c * s_a + d * s_aw)
        - c * d * m_w * s_w * (aw**2 - (aw + ww) ** 2)
    )
    r2 = -d * m_w * (k.g * s_aw + c * s_w * aw**2)
    det = m11 * m22 - m12 * m12
    daw = (r1 * m22 - r2 * m12) / det
    dww = -(r1 * m12 - r2 * m11) / det
    dsw = -swing - (b * s_a + e * s_as) * daw / (e * s_as)
    return torch.stack((daw, dww, dsw), -1)


def _hang_accel(q: torch.Tensor, w: torch.Tensor, k: _Consts) -> torch.Tensor:
    """Stage 2: angular accelerations with the projectile swinging freely in the sling."""
    aq, wq, sq = _split(q)
    aw, ww, sw = _split(w)
    b, c, d, e, m_p, m_w, m_a = k.b, k.c, k.d, k.e, k.m_p, k.m_w, k.m_a
    s_a = torch.sin(aq)
    s_s, c_s = torch.sin(sq), torch.cos(sq)
    s_w, c_w = torch.sin(wq), torch.cos(wq)
    s_as, s_aw = torch.sin(aq + sq), torch.sin(aq + wq)
    m11 = (
        k.i_a
        + k.i_w
        + m_a * k.lcg**2
        + m_p * (b**2 + e**2 + 2 * b * e * c_s)
        + m_w * (c**2 + d**2 + 2 * c * d * c_w)
    )
    m12 = k.i_w + d * m_w * (d + c * c_w)
    m13 = e * m_p * (e + b * c_s)
    m22 = k.i_w + m_w * d**2
    m33 = m_p * e**2
    r1 = (
        k.g * k.lcg * m_a * s_a
        + k.g * m_p * (b * s_a + e * s_as)
        - k.g * m_w * (c * s_a + d * s_aw)
        - b * e * m_p * s_s * (aw**2 - (aw + sw) ** 2)
        - c * d * m_w * s_w * (aw**2 - (aw + ww) ** 2)
    )
    r2 = -d * m_w * (k.g * s_aw + c * s_w * aw**2)
    r3 = e * m_p * (k.g * s_as - b * s_s * aw**2)
    den = m13 * m22 * m13 - m33 * (m11 * m22 - m12 * m12)
    daw = -(r1 * m22 * m33 - r2 * m12 * m33 - r3 * m13 * m22) / den
    dww = (r1 * m12 * m33 - r2 * (m11 * m33 - m13 * m13) - r3 * m13 * m12) / den
    dsw = (r1 * m22 * m13 - r2 * m12 * m13 - r3 * (m11 * m22 - m12 * m12)) / den
    return torch.stack((daw, dww, dsw), -1)


def _flight_accel(p: torch.Tensor, v: torch.Tensor, k: _Consts) -> torch.Tensor:
    """Stage 3: the projectile's acceleration under gravity and drag in the wind."""
    vx, vy = _split(v)
    rel = _safe_sqrt(vy**2 + (k.wind - vx) ** 2)
    ax = -k.k_drag * (vx - k.wind) * rel
    ay = -k.g - k.k_drag * vy * rel
    return torch.stack((ax, ay), -1)


def _sling_end(q: torch.Tensor, k: _Consts) -> torch.Tensor:
    aq, _, sq = _split(q)
    return torch.stack(
        (
            -k.b * torch.sin(aq) - k.e * torch.sin(aq + sq),
            k.b * torch.cos(aq) + k.e * torch.cos(aq + sq),
        ),
        -1,
    )


def _sling_velocity(q: torch.Tensor, w: torch.Tensor, k: _Consts) -> torch.Tensor:
    aq, _, sq = _split(q)
    aw, _, sw = _split(w)
    return torch.stack(
        (
            -k.e * (sw + aw) * torch.cos(aq + sq) - k.b * aw * torch.cos(aq),
            -k.e * (sw + aw) * torch.sin(aq + sq) - k.b * aw * torch.sin(aq),
        ),
        -1,
    )


def _arm_points(q: torch.Tensor, k: _Consts) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Arm tip, counterweight centre and sling end positions (m)."""
    aq, wq, _ = _split(q)
    tip = torch.stack((-k.b * torch.sin(aq), k.b * torch.cos(aq)), -1)
    cw = torch.stack(
        (
            k.c * torch.sin(aq) + k.d * torch.sin(aq + wq),
            -k.c * torch.cos(aq) - k.d * torch.cos(aq + wq),
        ),
        -1,
    )
    return tip, cw, _sling_end(q, k)


def _mechanical_energy(
    state: torch.Tensor, weight_kg: Scalar, params: TrebuchetParams
) -> torch.Tensor:
    """Kinetic plus potential energy (J) of the arm system in state ``[..., 6]``.

    Uses the inertias as the equations do (swapped in the reference preset), so that the
    energy is the one the stage 1 and 2 equations conserve when integrated exactly.
    """
    k = _consts(params, torch.as_tensor(weight_kg), 0.0, 0.0, state.dtype, state.device, None)
    q, w = state[..., :3], state[..., 3:]
    aq, wq, sq = _split(q)
    aw, ww, sw = _split(w)
    v_p = _sling_velocity(q, w, k)
    v_w = torch.stack(
        (
            k.c * torch.cos(aq) * aw + k.d * torch.cos(aq + wq) * (aw + ww),
            k.c * torch.sin(aq) * aw + k.d * torch.sin(aq + wq) * (aw + ww),
        ),
        -1,
    )
    kinetic = 0.5 * (
        (k.i_a + k.m_a * k.lcg**2) * aw**2
        + k.i_w * (aw + ww) ** 2
        + k.m_w * (v_w**2).sum(-1)
        + k.m_p * (v_p**2).sum(-1)
    )
    potential = k.g * (
        k.m_a * k.lcg * torch.cos(aq)
        + k.m_p * (k.b * torch.cos(aq) + k.e * torch.cos(aq + sq))
        - k.m_w * (k.c * torch.cos(aq) + k.d * torch.cos(aq + wq))
    )
    return kinetic + potential


def _hermite(x0, x1, f0, f1, s, dt):
    """Cubic Hermite interpolant of one step at fraction ``s`` (shaped like ``x0[..., 0]``)."""
    s = s.unsqueeze(-1)
    return (
        (1 - s) * x0
        + s * x1
        + s * (s - 1) * ((1 - 2 * s) * (x1 - x0) + (s - 1) * dt * f0 + s * dt * f1)
    )


def _col(x: Scalar) -> Scalar:
    return x.unsqueeze(-1) if isinstance(x, torch.Tensor) and x.ndim > 0 else x


# --------------------------------------------------------------------------------------
# Event functions. Each takes the step's captured context and a fraction s of the step.


def _liftoff_value(q, w, q0, w0, h, k: _Consts) -> tuple[torch.Tensor, torch.Tensor]:
    """``m_p g - T cos(theta)`` and the tension T, with a_x a finite difference over ``h`` s."""
    theta = q[..., 0] + q[..., 2] - math.pi
    ax = (_sling_velocity(q, w, k)[..., 0] - _sling_velocity(q0, w0, k)[..., 0]) / h
    tension = -ax * k.m_p / torch.sin(theta)
    return k.m_p * k.g - tension * torch.cos(theta), tension


def _release_value(q, w, k: _Consts) -> torch.Tensor:
    """``sin(angle(v) - r)`` for the sling end's velocity v, written without atan2."""
    vx, vy = _split(_sling_velocity(q, w, k))
    return (vy * torch.cos(k.r) - vx * torch.sin(k.r)) / _safe_sqrt(vx**2 + vy**2)


def _interp(ctx, s, dt):
    x0, x1, f0, f1 = ctx
    return _hermite(x0, x1, f0, f1, s, _col(dt))


def _g_ground(s, ctx, k):
    x = _interp(ctx, s, k.dt)
    x0 = ctx[0]
    return _liftoff_value(x[..., :3], x[..., 3:], x0[..., :3], x0[..., 3:], s * k.dt, k)[0]


def _g_hang(s, ctx, k):
    x = _interp(ctx, s, k.dt)
    return _release_value(x[..., :3], x[..., 3:], k)


def _g_flight(s, ctx, k):
    return _interp(ctx, s, k.dt)[..., 1] + k.a


def _locate(gfun, ctx, k: _Consts, g0, g1, found, pin_at_start=False):
    """Fraction ``s`` in [0, 1] of the step where ``gfun`` changes sign, differentiably.

    A bracketing root-finder (Illinois regula falsi) runs without gradient; one Newton step
    with gradient then gives s the implicit-function derivative ``-(dg/dp)/(dg/ds)``.
    Entries where ``found`` is False get s = 0 (with zero gradient).

    With ``pin_at_start``, ``g0`` is a left value that ``gfun`` need not approach as s -> 0
    (the reference's lift-off): where ``gfun`` just after the step's start already has the
    sign of ``g1``, the crossing is the jump at s = 0, and s is pinned there (no gradient),
    as the reference's root-finder pins it.
    """
    if gfun is None:  # linear interpolation of the event values at the step's ends
        den = g0 - g1
        ok = found & (den != 0)
        s = torch.where(ok, g0 / torch.where(ok, den, 1.0), 0.0)
        return s.clamp(0.0, 1.0)
    det = tuple(x.detach() for x in ctx)
    kd = _detach_consts(k)
    with torch.no_grad():
        lo = torch.zeros_like(g0)
        hi = torch.ones_like(g0)
        glo, ghi = g0.detach().clone(), g1.detach().clone()
        side = torch.zeros_like(g0)
        for _ in range(_ROOT_ITERS):
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
    g_at = gfun(torch.where(ok, s_star, 0.5), ctx, k)
    s = torch.where(ok, s_star - g_at / slope, s_star)
    return torch.where(found, s, 0.0)


def _detach_consts(k: _Consts) -> _Consts:
    changes = {
        f.name: getattr(k, f.name).detach()
        for f in dataclasses.fields(k)
        if isinstance(getattr(k, f.name), torch.Tensor)
    }
    return dataclasses.replace(k, **changes)


# --------------------------------------------------------------------------------------
# The stage loops


class _Recorder:
    """Collects trajectory rows (detached) for :func:`simulate`."""

    def __init__(self) -> None:
        self.rows: list[tuple[torch.Tensor, ...]] = []

    def add(self, t, stage: int, mask, tip, cw, sling, proj) -> None:
        nan = torch.full_like(t, float("nan")).detach()
        m2 = mask.unsqueeze(-1)
        self.rows.append(
            (
                torch.where(mask, t.detach(), nan),
                torch.where(mask, stage, 0),
                torch.where(m2, tip.detach(), float("nan")),
                torch.where(m2, cw.detach(), float("nan")),
                torch.where(m2, sling.detach(), float("nan")),
                torch.where(m2, proj.detach(), float("nan")),
            )
        )


def _run_stage(x, t, active, stage: int, k: _Consts, rec: Optional[_Recorder], frozen=None):
    """Integrate one stage for all shots until each meets its event or fails.

    Args:
        x: Start state per shot ``[N, n]`` (6 for the arm stages, 4 for flight).
        t: Start time per shot ``[N]``.
        active: Shots that take part ``[N]`` (the others are held).
        stage: 1 ground, 2 hang, 3 flight.

    In the arm stages a shot is held at its last state once its event is found (their
    equations turn singular past it); in flight a shot simply falls on below the ground,
    which costs no masking, and its crossing step is picked from the history.

    Returns:
        ``(ctx, t_step, g0, g1, found, code)``: the crossing step's context (states and
        derivatives at both ends), its start time, the event values at both ends, whether
        the event was found, and the failure code per shot.
    """
    n3 = x.shape[-1] // 2
    hold = stage < 3

    def deriv(xx):
        q, w = xx[..., :n3], xx[..., n3:]
        if stage == 1:
            acc = _ground_accel(q, w, k)
        elif stage == 2:
            acc = _hang_accel(q, w, k)
        else:
            acc = _flight_accel(q, w, k)
        return torch.cat((w, acc), -1)

    def value(xx, xprev):
        if stage == 1:
            g, tension = _liftoff_value(
                xx[..., :3], xx[..., 3:], xprev[..., :3], xprev[..., 3:], k.dt, k
            )
            return g, tension < 0
        if stage == 2:
            low = _sling_end(xx[..., :3], k)[..., 1] < -k.a - _GROUND_TOL
            return _release_value(xx[..., :3], xx[..., 3:], k), low
        return xx[..., 1] + k.a, None

    if not hold and rec is None:
        return _run_flight(x, t, active, k)
    f = deriv(x)
    if stage == 1:
        g = torch.ones_like(t) * (k.m_p * k.g)  # zero tension at rest
    else:
        g, _ = value(x, x)
    code = torch.zeros(t.shape, dtype=torch.long, device=t.device)
    found = torch.zeros_like(active)
    index = torch.zeros(t.shape, dtype=torch.long, device=t.device)
    live = active.clone()
    history: list[tuple[torch.Tensor, ...]] = []
    dt_min = float(k.dt.detach().min()) if isinstance(k.dt, torch.Tensor) else k.dt
    limit = int(math.ceil(_STAGE_LIMIT_S[stage - 1] / dt_min)) + 1
    dt_col = _col(k.dt)
    fail_kind = {1: SLACK_SLING, 2: NO_RELEASE}.get(stage, OK)
    step = 0
    while step < limit:
        x1 = x + dt_col * f
        f1 = deriv(x1)
        g1, bad = value(x1, x)
        history.append((x, x1, f, f1, g, g1))
        with torch.no_grad():
            crossed = live & ((g1 > 0) != (g > 0))
            index = torch.where(crossed, step, index)
            found = found | crossed
            go = live & ~crossed
            if hold:
                finite = torch.isfinite(x1).all(-1) & torch.isfinite(f1).all(-1)
                fail = go & (bad | ~(finite & torch.isfinite(g1)))
                code = torch.where(fail, torch.where(finite, fail_kind, NON_FINITE), code)
                go = go & ~fail
        if hold:
            mg = go.unsqueeze(-1)
            x, f, g = torch.where(mg, x1, x), torch.where(mg, f1, f), torch.where(go, g1, g)
        else:
            x, f, g = x1, f1, g1
        if rec is not None:
            _record_state(rec, x1, t + (step + 1) * k.dt, stage, go, k, frozen)
        live = go
        step += 1
        if step % _CHECK_EVERY == 0 and not bool(live.any()):
            break
    timeout = {1: NO_LIFTOFF, 2: NO_RELEASE, 3: NO_LANDING}[stage]
    code = torch.where(live, timeout, code)
    cols = [torch.stack(col, 0) for col in zip(*history)]
    idx = index.view(1, -1)
    picked = []
    for col in cols:
        i = idx.view((1, -1) + (1,) * (col.ndim - 2)).expand((1,) + col.shape[1:])
        picked.append(col.gather(0, i)[0])
    x0c, x1c, f0c, f1c, g0c, g1c = picked
    return (x0c, x1c, f0c, f1c), t + index * k.dt, g0c, g1c, found, code


def _run_flight(x, t, active, k: _Consts):
    """Stage 3 without recording: the same steps as :func:`_run_stage`, fewer operations.

    Shots fall on below the ground after landing (no masking); the landing step of each shot
    is found after the loop from the history of ``y + a``.
    """
    n = x.shape[0]
    wind = torch.stack((k.wind, torch.zeros_like(k.wind)), -1)
    gravity = torch.stack((torch.zeros_like(k.wind), -torch.ones_like(k.wind)), -1) * _col(k.g)
    drag = _col(k.k_drag)
    dt_col = _col(k.dt)

    def deriv(xx):
        v = xx[..., 2:]
        rel = v - wind
        speed = _safe_sqrt(rel.square().sum(-1, keepdim=True))
        return torch.cat((v, gravity - drag * speed * rel), -1)

    f = deriv(x)
    xs, fs = [x], [f]
    dt_min = float(k.dt.detach().min()) if isinstance(k.dt, torch.Tensor) else k.dt
    limit = int(math.ceil(_STAGE_LIMIT_S[2] / dt_min)) + 1
    for step in range(1, limit + 1):
        x = x + dt_col * f
        f = deriv(x)
        xs.append(x)
        fs.append(f)
        if step % _CHECK_EVERY == 0 and not bool((active & (x[:, 1] + k.a > 0)).any()):
            break
    xh, fh = torch.stack(xs, 0), torch.stack(fs, 0)  # [S + 1, N, 4]
    gh = xh[..., 1] + k.a
    above = gh.detach() > 0
    change = above[1:] != above[:-1]  # [S, N]
    found = active & change.any(0)
    index = change.to(x.dtype).argmax(0)  # the first change (argmax returns the first maximum)
    code = torch.where(
        active & ~found, NO_LANDING, torch.zeros(n, dtype=torch.long, device=x.device)
    )
    cols = []
    for h, offset in ((xh, 0), (xh, 1), (fh, 0), (fh, 1)):
        i = (index + offset).view(1, -1, 1).expand(1, n, h.shape[-1])
        cols.append(h.gather(0, i)[0])
    g0 = gh.gather(0, index.view(1, -1))[0]
    g1 = gh.gather(0, (index + 1).view(1, -1))[0]
    return tuple(cols), t + index * k.dt, g0, g1, found, code


def _record_state(rec: _Recorder, x, t, stage, mask, k, frozen) -> None:
    if stage < 3:
        tip, cw, sling = _arm_points(x[..., :3], k)
        rec.add(t, stage, mask, tip, cw, sling, sling)
    else:
        tip, cw, sling = frozen
        rec.add(t, stage, mask, tip, cw, sling, x[..., :2])


# --------------------------------------------------------------------------------------
# Inputs and the core


def initial_state(
    params: Optional[TrebuchetParams] = None, dtype=torch.float64, device=None
) -> torch.Tensor:
    """The state ``(Aq, Wq, Sq, Aw, Ww, Sw)`` at rest before a shot (rad, rad/s), shape ``[6]``.

    Args:
        params: The trebuchet (default: the reference preset).
        dtype: Floating dtype of the result.
        device: Device of the result.
    """
    p = TrebuchetParams.reference() if params is None else params
    a = torch.as_tensor(p.pivot_height, dtype=dtype, device=device)
    b = torch.as_tensor(p.arm_long, dtype=dtype, device=device)
    th = torch.asin(a / b)
    aq = math.pi / 2 + th
    zero = torch.zeros_like(aq)
    return torch.stack((aq, -aq, math.pi - th, zero, zero, zero), -1)


def _consts(p: TrebuchetParams, m_w, wind, angle_rad, dtype, device, shape) -> _Consts:
    def conv(v):
        if isinstance(v, torch.Tensor):
            v = v.to(dtype=dtype, device=device)
            if shape is not None:
                v = v.expand(shape).reshape(-1)
        return v

    i_a, i_w = p.inertias_used
    m_p = conv(p.projectile_mass)
    r = torch.as_tensor(angle_rad, dtype=dtype, device=device)
    return _Consts(
        a=conv(p.pivot_height),
        b=conv(p.arm_long),
        c=conv(p.arm_short),
        d=conv(p.weight_rod),
        e=conv(p.sling_length),
        lcg=conv(p.arm_cg),
        m_a=conv(p.arm_mass),
        m_p=m_p,
        m_w=torch.as_tensor(m_w, dtype=dtype, device=device),
        i_a=conv(i_a),
        i_w=conv(i_w),
        g=conv(p.gravity),
        k_drag=conv(
            p.air_density * p.drag_coefficient * p.projectile_area / (2 * p.projectile_mass)
        ),
        wind=torch.as_tensor(wind, dtype=dtype, device=device),
        # the reference's r = asin(sin(angle)), written with atan2 to stay finite at 90 deg
        r=torch.atan2(torch.sin(r), torch.cos(r).abs()),
        dt=conv(p.dt),
    )


def _check_angle(angle_deg: Scalar) -> None:
    """Raise ``ValueError`` unless every release angle lies in :data:`ANGLE_LIMITS_DEG`.

    Reads the values (one host synchronisation for a tensor), like the finiteness checks of
    :func:`_prepare` before it: shooting reads values anyway (event location, failures).
    """
    lo, hi = ANGLE_LIMITS_DEG
    if isinstance(angle_deg, torch.Tensor):
        a = angle_deg.detach()
        outside = (a < lo) | (a > hi)
        if not bool(outside.any()):
            return
        index = tuple(outside.nonzero()[0].tolist())
        value, where = float(a[index]), f" at index {index}" if index else ""
    elif lo <= angle_deg <= hi:
        return
    else:
        value, where = float(angle_deg), ""
    raise ValueError(
        f"angle_deg (the release angle above the horizontal) must lie within [{lo:g}, {hi:g}] "
        f"degrees, got {value:g}{where}"
    )


def _prepare(wind, angle_deg, weight_lb, params):
    """Validate the public inputs; return them as tensors of one dtype, device and shape."""
    if params is None:
        params = TrebuchetParams.reference()
    if not isinstance(params, TrebuchetParams):
        raise TypeError(f"params must be a TrebuchetParams (or None), got {type(params).__name__}")
    inputs = {"wind": wind, "angle_deg": angle_deg, "weight_lb": weight_lb}
    for name, value in inputs.items():
        check_scalar(name, value, positive=name == "weight_lb")
    _check_angle(angle_deg)
    tensors = [
        v for v in (*inputs.values(), *params.tensors().values()) if isinstance(v, torch.Tensor)
    ]
    devices = {v.device for v in tensors}
    if len(devices) > 1:
        raise ValueError(
            f"inputs and parameters must be on one device, got {sorted(map(str, devices))}"
        )
    device = devices.pop() if devices else torch.device("cpu")
    dtype = torch.float64
    if tensors:
        dtype = tensors[0].dtype
        for v in tensors[1:]:
            dtype = torch.promote_types(dtype, v.dtype)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"trebuchet inputs must be float32 or float64, got {dtype}")
    try:
        shape = torch.broadcast_shapes(*(v.shape for v in tensors)) if tensors else torch.Size()
    except RuntimeError:
        shapes = {n: tuple(v.shape) for n, v in inputs.items() if isinstance(v, torch.Tensor)}
        shapes.update({n: tuple(v.shape) for n, v in params.tensors().items()})
        raise ValueError(
            f"inputs and parameters must broadcast together, got shapes {shapes}"
        ) from None
    conv = [
        torch.as_tensor(v, dtype=dtype, device=device).expand(shape).reshape(-1)
        for v in inputs.values()
    ]
    return conv, params, dtype, device, shape


def _core(wind, angle_deg, weight_lb, params, record: bool):
    (wind_t, angle_t, weight_t), p, dtype, device, shape = _prepare(
        wind, angle_deg, weight_lb, params
    )
    n = wind_t.shape[0]
    k = _consts(p, weight_t * LB, wind_t, angle_t * (math.pi / 180), dtype, device, shape)
    rec = _Recorder() if record else None
    x0 = initial_state(p, dtype, device)
    if x0.ndim > 1:
        x0 = x0.expand(*shape, 6).reshape(n, 6)
    else:
        x0 = x0.expand(n, 6)
    t0 = torch.zeros(n, dtype=dtype, device=device)
    everyone = torch.ones(n, dtype=torch.bool, device=device)
    if rec is not None:
        _record_state(rec, x0, t0, 1, everyone, k, None)

    nan = torch.full_like(t0, float("nan"))

    def event(ctx, t_step, g0, g1, found, gfun, pin=False):
        s = _locate(gfun, ctx, k, g0, g1, found, pin)
        x = _interp(ctx, s, k.dt)
        x = torch.where(found.unsqueeze(-1), x, ctx[0])
        return x, t_step + s * k.dt

    # stage 1: ground
    ctx, ts, g0, g1, found1, code = _run_stage(x0, t0, everyone, 1, k, rec)
    if p.smooth_liftoff:
        x_lift, t_lift = event(ctx, ts, g0, g1, found1, None)
    else:  # the reference's left value: zero tension at the step's start
        g_rest = torch.ones_like(g0) * (k.m_p * k.g)
        x_lift, t_lift = event(ctx, ts, g_rest, g1, found1, _g_ground, pin=True)
    if rec is not None:
        _record_state(rec, x_lift, t_lift, 1, found1, k, None)
    # stage 2: hang
    ctx, ts, g0, g1, found2, code2 = _run_stage(x_lift, t_lift, found1, 2, k, rec)
    found2 = found2 & found1
    code = torch.where(found1, code2, code)
    x_rel, t_rel = event(ctx, ts, g0, g1, found2, _g_hang)
    if rec is not None:
        _record_state(rec, x_rel, t_rel, 2, found2, k, None)
    # stage 3: flight
    p_rel = _sling_end(x_rel[..., :3], k)
    v_rel = _sling_velocity(x_rel[..., :3], x_rel[..., 3:], k)
    xf = torch.cat((p_rel, v_rel), -1)
    below = found2 & (p_rel[..., 1] < -k.a)
    code = torch.where(below, NO_RELEASE, code)
    frozen = _arm_points(x_rel[..., :3], k) if rec is not None else None
    ctx, ts, g0, g1, found3, code3 = _run_stage(xf, t_rel, found2 & ~below, 3, k, rec, frozen)
    found3 = found3 & found2 & ~below
    code = torch.where(found2 & ~below, code3, code)
    x_land, t_land = event(ctx, ts, g0, g1, found3, _g_flight)
    if rec is not None:
        _record_state(rec, x_land, t_land, 3, found3, k, frozen)
    landed_badly = found3 & ~torch.isfinite(x_land).all(-1)
    code = torch.where(landed_badly & (code == OK), NON_FINITE, code)
    failed = code != OK
    distance = torch.where(failed, nan, x_land[..., 0])

    def out(v, mask):
        v = torch.where(mask.reshape(mask.shape + (1,) * (v.ndim - 1)), v, float("nan"))
        return v.reshape(tuple(shape) + tuple(v.shape[1:]))

    res = {
        "distance": distance.reshape(shape),
        "failed": failed.reshape(shape),
        "failure_code": code.reshape(shape),
        "liftoff_time": out(t_lift, found1),
        "release_time": out(t_rel, found2),
        "landing_time": out(t_land, found3 & ~failed),
        "liftoff_state": out(x_lift, found1),
        "release_state": out(x_rel, found2),
        "release_position": out(p_rel, found2),
        "release_velocity": out(v_rel, found2),
    }
    if rec is not None:
        cols = list(zip(*rec.rows))
        names = ("time", "stage", "arm_tip", "counterweight", "sling_end", "projectile")
        for name, col in zip(names, cols):
            v = torch.stack(col, 0)
            res[name] = v.reshape((v.shape[0],) + tuple(shape) + tuple(v.shape[2:]))
    return res


# --------------------------------------------------------------------------------------
# Public API


def simulate(
    wind: Scalar,
    angle_deg: Scalar,
    weight_lb: Scalar,
    params: Optional[TrebuchetParams] = None,
) -> SimulationResult:
    """Simulate shots and return everything: distances, failures, events, trajectories.

    Args:
        wind: Horizontal wind speed (m/s; positive blows towards the target).
        angle_deg: Release angle of the projectile's velocity above the horizontal (degrees),
            in [0, 90] (:data:`ANGLE_LIMITS_DEG`).
        weight_lb: Mass of the counterweight (lb), > 0.
        params: The trebuchet (default :meth:`TrebuchetParams.reference`).

    The inputs are floats or tensors broadcast together (with any tensor parameters) to the
    batch shape ``B``; the dtype is that of the tensors (float64 when all are floats) and the
    device follows them. Failed shots do not raise: see ``failed`` and ``reasons``.

    Returns:
        A :class:`SimulationResult`.

    Raises:
        TypeError, ValueError: for a non-numeric or non-finite input, ``weight_lb <= 0``,
            ``angle_deg`` outside [0, 90], or inputs that do not broadcast together.

    Example:
        >>> res = simulate(-2.0, 45.0, 200.0)
        >>> round(float(res.distance), 1), res.reasons
        (74.7, ['ok'])
    """
    res = _core(wind, angle_deg, weight_lb, params, record=True)
    res["reasons"] = [FAILURE_REASONS[c] for c in res["failure_code"].reshape(-1).tolist()]
    return SimulationResult(**res)


def shoot(
    wind: Scalar,
    angle_deg: Scalar,
    weight_lb: Scalar,
    params: Optional[TrebuchetParams] = None,
    on_failure: str = "raise",
) -> torch.Tensor:
    """Landing distance of each shot (m), differentiable with respect to every input.

    Args:
        wind: Horizontal wind speed (m/s; positive blows towards the target).
        angle_deg: Release angle of the projectile's velocity above the horizontal (degrees),
            in [0, 90] (:data:`ANGLE_LIMITS_DEG`).
        weight_lb: Mass of the counterweight (lb), > 0.
        params: The trebuchet (default :meth:`TrebuchetParams.reference`); its tensor
            fields get gradients too.
        on_failure: ``"raise"`` (default) raises :class:`ShotFailedError` naming the failed
            shots and why; ``"nan"`` returns NaN for them.

    Returns:
        The x of the projectile at ground contact (m from the pivot), of the broadcast shape
        of the inputs (and tensor parameters), in their dtype and on their device.

    Raises:
        TypeError, ValueError: as :func:`simulate` (``angle_deg`` outside [0, 90] included).
        ShotFailedError: for a failed shot with ``on_failure="raise"``.

    Example:
        >>> w = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
        >>> d = shoot(w, 45.0, 200.0)
        >>> d.backward()
        >>> round(float(w.grad), 2)
        4.02
    """
    check_choice("on_failure", on_failure, _ON_FAILURE)
    res = _core(wind, angle_deg, weight_lb, params, record=False)
    failed = res["failed"]
    if on_failure == "raise" and bool(failed.any()):
        codes = res["failure_code"]
        idx = failed.nonzero().tolist()

        def name(i: list[int]) -> str:
            return "the shot" if not i else f"shot {i[0] if len(i) == 1 else tuple(i)}"

        shown = "; ".join(f"{name(i)}: {FAILURE_REASONS[int(codes[tuple(i)])]}" for i in idx[:10])
        more = f" (and {len(idx) - 10} more)" if len(idx) > 10 else ""
        raise ShotFailedError(
            f"{len(idx)} of {failed.numel()} shot(s) failed: {shown}{more}. "
            "Pass on_failure='nan' to get NaN for failed shots instead.",
            codes,
        )
    return res["distance"]


def aim(
    wind: Scalar,
    target_m: Scalar,
    params: Optional[TrebuchetParams] = None,
    *,
    steps: int = 150,
    lr: float = 0.2,
    tolerance_m: float = 0.1,
    angle_bounds_deg: tuple[float, float] = (5.0, 85.0),
    weight_bounds_lb: tuple[float, float] = (50.0, 400.0),
    angle0_deg: float = 45.0,
    weight0_lb: float = 200.0,
    patience: int = 40,
) -> AimResult:
    """Find a release angle and counterweight that hit each target, by gradient descent.

    All targets are aimed at once: one batched :func:`shoot` per step and Adam on the
    squared miss (per-target step halving on overshoot), over unconstrained variables mapped
    into the search box by sigmoids
    (``angle = lo + (hi - lo) sigmoid(u)``, likewise the weight). The best iterate of each
    target is kept. A target stops once within ``tolerance_m``, or after ``patience`` of its
    steps without progress; only the targets still searched are shot at each step, and the
    search ends when every target has stopped.

    Args:
        wind: Wind speed (m/s), float or tensor, broadcast against ``target_m``.
        target_m: Target distances from the pivot (m).
        params: The trebuchet (default: the reference preset); used as constants here.
        steps: Maximum number of Adam steps.
        lr: Adam's initial learning rate on the unconstrained variables (per target, it
            halves each time that target's miss changes sign).
        tolerance_m: A target is reached when ``|distance - target| <= tolerance_m``.
        angle_bounds_deg: Search box for the release angle (degrees), within [0, 90].
        weight_bounds_lb: Search box for the counterweight (lb).
        angle0_deg: Starting angle (degrees), inside the box.
        weight0_lb: Starting counterweight (lb), inside the box.
        patience: A target whose best miss has not shrunk (by 0.1 %) for this many of its
            steps is given up (out of reach); reached targets stop too, and only the targets
            still searched are shot at each step.

    Returns:
        An :class:`AimResult`; ``reached`` is False for targets out of reach (within the box).

    Example:
        >>> res = aim(0.0, torch.tensor([60.0, 500.0]), steps=30)
        >>> res.reached.tolist()
        [True, False]
    """
    check_scalar("wind", wind)
    check_scalar("target_m", target_m)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    for name, (lo, hi), x0 in (
        ("angle_bounds_deg", angle_bounds_deg, angle0_deg),
        ("weight_bounds_lb", weight_bounds_lb, weight0_lb),
    ):
        if not lo < x0 < hi:
            raise ValueError(f"{name} must satisfy low < start < high, got {(lo, hi)}, {x0}")
    if not ANGLE_LIMITS_DEG[0] <= angle_bounds_deg[0] < angle_bounds_deg[1] <= ANGLE_LIMITS_DEG[1]:
        raise ValueError(
            f"angle_bounds_deg must lie within {list(ANGLE_LIMITS_DEG)} degrees (the release "
            f"angles shoot accepts), got {angle_bounds_deg}"
        )
    if weight_bounds_lb[0] <= 0:
        raise ValueError(f"weight_bounds_lb must be positive, got {weight_bounds_lb}")
    tensors = [v for v in (wind, target_m) if isinstance(v, torch.Tensor)]
    dtype = torch.float64
    device = tensors[0].device if tensors else torch.device("cpu")
    if tensors:
        dtype = torch.promote_types(tensors[0].dtype, tensors[-1].dtype)
    wind_t = torch.as_tensor(wind, dtype=dtype, device=device).detach()
    target = torch.as_tensor(target_m, dtype=dtype, device=device).detach()
    wind_t, target = torch.broadcast_tensors(wind_t, target)

    def logit(x, lo, hi):
        f = (x - lo) / (hi - lo)
        return math.log(f / (1 - f))

    (alo, ahi), (wlo, whi) = angle_bounds_deg, weight_bounds_lb
    shape = target.shape
    wind_f, target_f = wind_t.reshape(-1), target.reshape(-1)
    n = target_f.numel()
    uv = torch.tensor(
        [logit(angle0_deg, alo, ahi), logit(weight0_lb, wlo, whi)], dtype=dtype, device=device
    ).repeat(n, 1)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m, s2 = torch.zeros_like(uv), torch.zeros_like(uv)
    rate = torch.full_like(target_f, lr)
    count = torch.zeros_like(target_f)  # Adam steps taken per target
    last_sign = torch.zeros_like(target_f)
    best_err = torch.full_like(target_f, float("inf"))
    best_uv = uv.clone()
    stale = torch.zeros(n, dtype=torch.long, device=device)

    def to_box(x):
        return alo + (ahi - alo) * torch.sigmoid(x[..., 0]), wlo + (whi - wlo) * torch.sigmoid(
            x[..., 1]
        )

    start = _time.perf_counter()
    taken = 0
    for taken in range(1, steps + 1):  # noqa: B007
        # only targets still being searched are shot (host-side compaction: aim is a boundary)
        idx = ((best_err > tolerance_m) & (stale < patience)).nonzero().squeeze(1)
        if idx.numel() == 0:
            taken -= 1
            break
        x = uv[idx].requires_grad_(True)
        dist = shoot(wind_f[idx], *to_box(x), params, on_failure="nan")
        (grad,) = torch.autograd.grad(torch.where(torch.isfinite(dist), dist, 0.0).sum(), x)
        with torch.no_grad():
            miss = dist - target_f[idx]
            err = miss.abs()
            better = torch.isfinite(err) & (err < best_err[idx])
            improved = better & (err < best_err[idx] * (1 - 1e-3) - 1e-9)
            best_err[idx] = torch.where(better, err, best_err[idx])
            best_uv[idx] = torch.where(better.unsqueeze(-1), x, best_uv[idx])
            stale[idx] = torch.where(improved, 0, stale[idx] + 1)
            # gradient of the squared miss; a failed shot gives no direction: zero
            g = torch.nan_to_num(2 * miss.unsqueeze(-1) * grad, nan=0.0, posinf=0.0, neginf=0.0)
            # Adam, with a per-target step that halves (and momentum that resets) whenever
            # the miss changes sign, so that each target settles instead of jittering
            sign = torch.sign(torch.nan_to_num(miss, nan=0.0))
            flip = sign * last_sign[idx] < 0
            last_sign[idx] = sign
            r = torch.where(flip, rate[idx] * 0.5, rate[idx])
            rate[idx] = r
            mi = beta1 * torch.where(flip.unsqueeze(-1), 0.0, m[idx]) + (1 - beta1) * g
            si = beta2 * s2[idx] + (1 - beta2) * g**2
            c = count[idx] + 1
            m[idx], s2[idx], count[idx] = mi, si, c
            m_hat = mi / (1 - beta1**c).unsqueeze(-1)
            s_hat = si / (1 - beta2**c).unsqueeze(-1)
            uv[idx] = x - r.unsqueeze(-1) * m_hat / (s_hat.sqrt() + eps)
    seconds = _time.perf_counter() - start
    with torch.no_grad():
        angle, weight = (y.reshape(shape) for y in to_box(best_uv))
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
        seconds_per_aim=seconds / max(target.numel(), 1),
    )
