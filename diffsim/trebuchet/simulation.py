"""The trebuchet's shots: one stage loop for all three stages, :func:`simulate`, :func:`shoot`.

The stages, their events, failures and the batching are described in the package docstring
of :mod:`diffsim.trebuchet` (sources: Trebuchet.jl's ``src/simulate.jl`` and
``src/transition.jl``; spec: ``docs/reference_dynamics.md``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Optional

import torch

from .._validation import Scalar, check_choice, check_scalar
from . import dynamics, events
from .dynamics import Consts, col
from .params import ANGLE_LIMITS_DEG, LB, TrebuchetParams

__all__ = [
    "FAILURE_REASONS",
    "NON_FINITE",
    "NO_LANDING",
    "NO_LIFTOFF",
    "NO_RELEASE",
    "OK",
    "SLACK_SLING",
    "ShotFailedError",
    "SimulationResult",
    "initial_state",
    "shoot",
    "simulate",
]

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
_ON_FAILURE = ("nan", "raise")


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


# --------------------------------------------------------------------------------------
# The stage loop


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


def _record_state(rec: _Recorder, x, t, stage: int, mask, k: Consts, frozen) -> None:
    if stage < 3:
        tip, cw, sling = dynamics.arm_points(x[..., :3], k)
        rec.add(t, stage, mask, tip, cw, sling, sling)
    else:
        tip, cw, sling = frozen
        rec.add(t, stage, mask, tip, cw, sling, x[..., :2])


def _rest_value(x: torch.Tensor, k: Consts) -> torch.Tensor:
    """The lift-off value at rest, where the reference takes the sling's tension as zero."""
    return torch.ones_like(x[..., 0]) * (k.m_p * k.g)


@dataclasses.dataclass(frozen=True)
class _Stage:
    """One stage of a shot, as the stage loop runs it."""

    number: int
    """1 ground, 2 hang, 3 flight (the ``stage`` of the recorded samples)."""
    deriv: Callable[[torch.Tensor, Consts], torch.Tensor]
    """The state's time derivative (:mod:`~diffsim.trebuchet.dynamics`)."""
    event: Callable[[torch.Tensor, torch.Tensor, Consts], tuple]
    """``(g, bad)`` at a step's end (:mod:`~diffsim.trebuchet.events`). In a stage that does
    not hold its shots, run without recording, it is called on blocks of steps stacked along
    a leading dimension, so there it must act elementwise over leading dimensions."""
    start_value: Optional[Callable[[torch.Tensor, Consts], torch.Tensor]]
    """The event value at the stage's start; None: ``event(x, x, k)``'s."""
    hold: bool
    """Hold a shot at its last state once its event is found or it fails (the arm's
    equations turn singular past the event); else it runs on, unmasked."""
    fail_code: int
    """The code of a shot flagged ``bad`` by ``event`` (held stages)."""
    timeout_code: int
    """The code of a shot whose event is not found within ``limit_s``."""
    limit_s: float
    """The stage's time limit (s)."""


_GROUND = _Stage(
    1, dynamics.ground_deriv, events.ground_event, _rest_value, True, SLACK_SLING, NO_LIFTOFF, 5.0
)
_HANG = _Stage(2, dynamics.hang_deriv, events.hang_event, None, True, NO_RELEASE, NO_RELEASE, 5.0)
_FLIGHT = _Stage(3, dynamics.flight_deriv, events.flight_event, None, False, OK, NO_LANDING, 60.0)


def _stacked(rows: list[tuple[torch.Tensor, ...]]) -> list[torch.Tensor]:
    """The history ``rows`` (one tuple of quantities per step) as one tensor per quantity,
    stacked over the steps (dimension 0)."""
    return [torch.stack(column, 0) for column in zip(*rows)]


def _at(h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``h[index[i], i, ...]`` for each shot ``i``: a history read at each shot's step."""
    i = index.view((1, -1) + (1,) * (h.ndim - 2)).expand((1,) + h.shape[1:])
    return h.gather(0, i)[0]


def _run_stage(
    x: torch.Tensor,
    t: torch.Tensor,
    active: torch.Tensor,
    stage: _Stage,
    k: Consts,
    rec: Optional[_Recorder],
    frozen: Optional[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None,
):
    """Integrate one stage for all shots (explicit Euler) until each meets its event or fails.

    Args:
        x: Start state per shot ``[N, n]`` (6 for the arm stages, 4 for flight).
        t: Start time per shot ``[N]`` (s).
        active: Shots that take part ``[N]`` (the others are held, or run on unwatched).
        stage: The stage.
        k: The constants.
        rec: Where to record the trajectory (None: nothing recorded).
        frozen: The arm's points at release, recorded with the flight's samples.

    A shot's crossing step is the first step at whose end its event value has changed sign;
    the step's start and end are read back from the history kept during the loop. A stage
    that holds its shots (or records them) watches the event at every step, as the masks
    need it; one that does neither evaluates it on the history, a block of steps at each
    host check, the crossing steps then being the history's first sign changes.

    Returns:
        ``(ctx, t_step, g0, g1, found, code)``: the crossing step's context (states and
        derivatives at both ends), its start time, the event values at both ends, whether
        the event was found, and the failure code per shot.
    """
    deriv = stage.deriv
    f = deriv(x, k)
    g = stage.start_value(x, k) if stage.start_value is not None else stage.event(x, x, k)[0]
    code = torch.zeros(t.shape, dtype=torch.long, device=t.device)
    found = torch.zeros_like(active)
    index = torch.zeros(t.shape, dtype=torch.long, device=t.device)
    live = active.clone()
    watch = stage.hold or rec is not None  # the event at every step, else per block
    starts = [(x, f, g)]  # the (held) state at each step's start, and after the last step
    ends = []  # each step's end, where shots are held (else it is the next step's start)
    xs, fs, gs = [x], [f], [g.unsqueeze(0)]  # unwatched: the states and the event's blocks
    above = g > 0  # unwatched: the event's sign at the last state evaluated, xs[seen - 1]
    seen = 1
    dt_min = float(k.dt.detach().min()) if isinstance(k.dt, torch.Tensor) else k.dt
    limit = int(math.ceil(stage.limit_s / dt_min)) + 1
    dt_col = col(k.dt)
    for step in range(limit):
        x1 = x + dt_col * f
        f1 = deriv(x1, k)
        if not watch:
            x, f = x1, f1
            xs.append(x1)
            fs.append(f1)
            if (step + 1) % _CHECK_EVERY == 0:
                g_block, live, above = _watch_block(xs[seen - 1 :], live, above, stage, k)
                gs.append(g_block)
                seen = len(xs)
                if not bool(live.any()):
                    break
            continue
        g1, bad = stage.event(x1, x, k)
        crossed = live & ((g1 > 0) != (g > 0))
        index = torch.where(crossed, step, index)
        found = found | crossed
        go = live & ~crossed
        if stage.hold:
            finite = torch.isfinite(x1).all(-1) & torch.isfinite(f1).all(-1)
            fail = go & (bad | ~(finite & torch.isfinite(g1)))
            code = torch.where(fail, torch.where(finite, stage.fail_code, NON_FINITE), code)
            go = go & ~fail
            ends.append((x1, f1, g1))
            mg = go.unsqueeze(-1)
            x, f, g = torch.where(mg, x1, x), torch.where(mg, f1, f), torch.where(go, g1, g)
        else:
            x, f, g = x1, f1, g1
        starts.append((x, f, g))
        if rec is not None:
            _record_state(rec, x1, t + (step + 1) * k.dt, stage.number, go, k, frozen)
        live = go
        if (step + 1) % _CHECK_EVERY == 0 and not bool(live.any()):
            break
    if not watch:
        if seen < len(xs):  # the states after the last host check
            gs.append(_watch_block(xs[seen - 1 :], live, above, stage, k)[0])
        gh = torch.cat(gs, 0)
        sign = gh > 0
        change = sign[1:] != sign[:-1]  # [steps, N]: the sign changes over each step
        found = active & change.any(0)
        # the first change (argmax returns the first of equal maxima)
        index = torch.where(found, change.to(torch.uint8).argmax(0), 0)
        live = active & ~found
        history = [torch.stack(xs, 0), torch.stack(fs, 0), gh]
    elif not stage.hold:
        history = _stacked(starts)
    code = torch.where(live, stage.timeout_code, code)
    if stage.hold:
        x0c, f0c, g0c = (_at(h, index) for h in _stacked(starts[:-1]))
        x1c, f1c, g1c = (_at(h, index) for h in _stacked(ends))
    else:  # one history: a step's end is the next step's start
        x0c, f0c, g0c = (_at(h, index) for h in history)
        x1c, f1c, g1c = (_at(h, index + 1) for h in history)
    return (x0c, x1c, f0c, f1c), t + index * k.dt, g0c, g1c, found, code


def _watch_block(
    xs: list[torch.Tensor],
    live: torch.Tensor,
    above: torch.Tensor,
    stage: _Stage,
    k: Consts,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The event over a block of steps, from the states ``xs`` (``[N, n]`` each; the first is
    the block's start, whose event sign is ``above``).

    Returns:
        ``(g, live, above)``: the event at the block's step ends ``[len(xs) - 1, N]``,
        ``live`` less the shots whose event changed sign in the block, and the sign at its
        last state.
    """
    g = stage.event(torch.stack(xs[1:], 0), torch.stack(xs[:-1], 0), k)[0]
    sign = torch.cat((above.unsqueeze(0), g > 0), 0)
    return g, live & ~(sign[1:] != sign[:-1]).any(0), sign[-1]


# --------------------------------------------------------------------------------------
# Inputs and the core


def initial_state(
    params: Optional[TrebuchetParams] = None,
    dtype: torch.dtype = torch.float64,
    device: Optional[torch.device | str] = None,
) -> torch.Tensor:
    """The state ``(Aq, Wq, Sq, Aw, Ww, Sw)`` at rest before a shot (rad, rad/s).

    Args:
        params: The trebuchet (default: the reference preset).
        dtype: Floating dtype of the result.
        device: Device of the result.

    Returns:
        Shape ``[6]``; ``B + (6,)`` when ``pivot_height`` or ``arm_long`` is a tensor of
        batch shape ``B``.
    """
    p = TrebuchetParams.reference() if params is None else params
    a = torch.as_tensor(p.pivot_height, dtype=dtype, device=device)
    b = torch.as_tensor(p.arm_long, dtype=dtype, device=device)
    th = torch.asin(a / b)
    aq = math.pi / 2 + th
    zero = torch.zeros_like(aq)
    return torch.stack((aq, -aq, math.pi - th, zero, zero, zero), -1)


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
    k = dynamics.consts(p, weight_t * LB, wind_t, angle_t * (math.pi / 180), dtype, device, shape)
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
        s = events.locate(gfun, ctx, k, g0, g1, found, pin)
        x = events.interp(ctx, s, k.dt)
        x = torch.where(found.unsqueeze(-1), x, ctx[0])
        return x, t_step + s * k.dt

    # stage 1: ground
    ctx, ts, g0, g1, found1, code = _run_stage(x0, t0, everyone, _GROUND, k, rec)
    if p.smooth_liftoff:
        x_lift, t_lift = event(ctx, ts, g0, g1, found1, None)
    else:  # the reference's left value: zero tension at the step's start
        g_rest = _rest_value(ctx[0], k)
        x_lift, t_lift = event(ctx, ts, g_rest, g1, found1, events.g_ground, pin=True)
    if rec is not None:
        _record_state(rec, x_lift, t_lift, 1, found1, k, None)
    # stage 2: hang
    ctx, ts, g0, g1, found2, code2 = _run_stage(x_lift, t_lift, found1, _HANG, k, rec)
    found2 = found2 & found1
    code = torch.where(found1, code2, code)
    x_rel, t_rel = event(ctx, ts, g0, g1, found2, events.g_hang)
    if rec is not None:
        _record_state(rec, x_rel, t_rel, 2, found2, k, None)
    # stage 3: flight
    p_rel = dynamics.sling_end(x_rel[..., :3], k)
    v_rel = dynamics.sling_velocity(x_rel[..., :3], x_rel[..., 3:], k)
    xf = torch.cat((p_rel, v_rel), -1)
    below = found2 & (p_rel[..., 1] < -k.a)
    code = torch.where(below, NO_RELEASE, code)
    frozen = dynamics.arm_points(x_rel[..., :3], k) if rec is not None else None
    ctx, ts, g0, g1, found3, code3 = _run_stage(xf, t_rel, found2 & ~below, _FLIGHT, k, rec, frozen)
    found3 = found3 & found2 & ~below
    code = torch.where(found2 & ~below, code3, code)
    x_land, t_land = event(ctx, ts, g0, g1, found3, events.g_flight)
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
