"""The trebuchet's equations: accelerations of the three stages, sling geometry, energy.

Pure functions of tensors, free of host synchronisation. Sources: Trebuchet.jl
(``src/simulate.jl``, ``src/utils.jl``), which credits virtualtrebuchet.com's equations of
motion; the spec is ``docs/reference_dynamics.md``. The state layout and the geometry are
described in the package docstring of :mod:`diffsim.trebuchet`.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import torch

from .._validation import Scalar
from .params import TrebuchetParams

__all__ = [
    "Consts",
    "arm_points",
    "col",
    "consts",
    "detach_consts",
    "flight_deriv",
    "ground_accel",
    "ground_deriv",
    "hang_accel",
    "hang_deriv",
    "mechanical_energy",
    "safe_sqrt",
    "sling_end",
    "sling_velocity",
]


@dataclasses.dataclass(frozen=True)
class Consts:
    """The quantities that the equations use, each a float or a flat tensor ``[N]``.

    Lengths in m, masses in kg, inertias in kg m^2 (``i_a``/``i_w``: the arm's and the
    counterweight's as the equations receive them, see
    :attr:`TrebuchetParams.inertias_used`), ``g`` in m/s^2, ``k_drag = rho Cd A / (2 m_p)``
    in 1/m, ``wind`` in m/s, ``r`` the release angle as the reference's
    ``asin(sin(angle))`` (rad), ``dt`` in s.
    """

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
    k_drag: Scalar
    wind: torch.Tensor
    r: torch.Tensor
    dt: Scalar


def consts(
    p: TrebuchetParams,
    m_w: Scalar,
    wind: Scalar,
    angle_rad: Scalar,
    dtype: torch.dtype,
    device: Optional[torch.device],
    shape: Optional[torch.Size],
) -> Consts:
    """The :class:`Consts` of ``p`` for counterweights ``m_w`` (kg), ``wind`` (m/s) and release
    angles ``angle_rad``, in ``dtype`` on ``device``.

    Tensor parameters are broadcast to the batch ``shape`` and flattened (left as they are
    when ``shape`` is None); float parameters stay floats.
    """

    def conv(v):
        if isinstance(v, torch.Tensor):
            v = v.to(dtype=dtype, device=device)
            if shape is not None:
                v = v.expand(shape).reshape(-1)
        return v

    i_a, i_w = p.inertias_used
    m_p = conv(p.projectile_mass)
    r = torch.as_tensor(angle_rad, dtype=dtype, device=device)
    return Consts(
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


def detach_consts(k: Consts) -> Consts:
    """``k`` with every tensor detached."""
    changes = {
        f.name: getattr(k, f.name).detach()
        for f in dataclasses.fields(k)
        if isinstance(getattr(k, f.name), torch.Tensor)
    }
    return dataclasses.replace(k, **changes)


def col(x: Scalar) -> Scalar:
    """A per-shot tensor ``[N]`` as a column ``[N, 1]`` (floats and 0-dim tensors as they are)."""
    return x.unsqueeze(-1) if isinstance(x, torch.Tensor) and x.ndim > 0 else x


def safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """``sqrt`` with a finite derivative at 0 (keeps held, inactive shots free of NaN grads)."""
    return torch.sqrt(x.clamp_min(1e-30))


def _split(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return x.unbind(-1)


def ground_accel(q: torch.Tensor, w: torch.Tensor, k: Consts) -> torch.Tensor:
    """Stage 1: angular accelerations ``[..., 3]`` (rad/s^2), the projectile on the ground.

    Args:
        q: Angles ``(Aq, Wq, Sq)`` (rad), ``[..., 3]``.
        w: Their rates (rad/s), ``[..., 3]``.
        k: The constants.
    """
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


def hang_accel(q: torch.Tensor, w: torch.Tensor, k: Consts) -> torch.Tensor:
    """Stage 2: angular accelerations ``[..., 3]`` (rad/s^2), the projectile in the sling.

    Args:
        q: Angles ``(Aq, Wq, Sq)`` (rad), ``[..., 3]``.
        w: Their rates (rad/s), ``[..., 3]``.
        k: The constants.
    """
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


def ground_deriv(x: torch.Tensor, k: Consts) -> torch.Tensor:
    """Stage 1: the time derivative ``[..., 6]`` of the arm state ``x`` ``[..., 6]``."""
    q, w = x[..., :3], x[..., 3:]
    return torch.cat((w, ground_accel(q, w, k)), -1)


def hang_deriv(x: torch.Tensor, k: Consts) -> torch.Tensor:
    """Stage 2: the time derivative ``[..., 6]`` of the arm state ``x`` ``[..., 6]``."""
    q, w = x[..., :3], x[..., 3:]
    return torch.cat((w, hang_accel(q, w, k)), -1)


def flight_deriv(x: torch.Tensor, k: Consts) -> torch.Tensor:
    """Stage 3: the time derivative ``[..., 4]`` of the projectile state ``(x, y, vx, vy)``.

    Gravity and quadratic drag against air moving at the wind speed:
    ``a = (0, -g) - k_drag |v - (w, 0)| (v - (w, 0))`` (m/s^2).
    """
    v = x[..., 2:]
    vx, vy = _split(v)
    rel_x = vx - k.wind
    k_speed = k.k_drag * safe_sqrt(rel_x.square() + vy.square())  # k_drag |v_rel|, 1/s
    acc = torch.stack((-(k_speed * rel_x), -k.g - k_speed * vy), -1)
    return torch.cat((v, acc), -1)


def sling_end(q: torch.Tensor, k: Consts) -> torch.Tensor:
    """Position ``[..., 2]`` (m) of the sling end for the angles ``q`` ``[..., 3]``."""
    aq, _, sq = _split(q)
    return torch.stack(
        (
            -k.b * torch.sin(aq) - k.e * torch.sin(aq + sq),
            k.b * torch.cos(aq) + k.e * torch.cos(aq + sq),
        ),
        -1,
    )


def sling_velocity(q: torch.Tensor, w: torch.Tensor, k: Consts) -> torch.Tensor:
    """Velocity ``[..., 2]`` (m/s) of the sling end for angles ``q`` and rates ``w``."""
    aq, _, sq = _split(q)
    aw, _, sw = _split(w)
    return torch.stack(
        (
            -k.e * (sw + aw) * torch.cos(aq + sq) - k.b * aw * torch.cos(aq),
            -k.e * (sw + aw) * torch.sin(aq + sq) - k.b * aw * torch.sin(aq),
        ),
        -1,
    )


def arm_points(q: torch.Tensor, k: Consts) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Arm tip, counterweight centre and sling end positions, each ``[..., 2]`` (m)."""
    aq, wq, _ = _split(q)
    tip = torch.stack((-k.b * torch.sin(aq), k.b * torch.cos(aq)), -1)
    cw = torch.stack(
        (
            k.c * torch.sin(aq) + k.d * torch.sin(aq + wq),
            -k.c * torch.cos(aq) - k.d * torch.cos(aq + wq),
        ),
        -1,
    )
    return tip, cw, sling_end(q, k)


def mechanical_energy(
    state: torch.Tensor, weight_kg: Scalar, params: TrebuchetParams
) -> torch.Tensor:
    """Kinetic plus potential energy (J) of the arm system in state ``[..., 6]``.

    Uses the inertias as the equations do (swapped in the reference preset), so that the
    energy is the one the stage 1 and 2 equations conserve when integrated exactly.

    Args:
        state: Arm state ``(Aq, Wq, Sq, Aw, Ww, Sw)`` (rad, rad/s), ``[..., 6]``.
        weight_kg: Mass of the counterweight (kg).
        params: The trebuchet.
    """
    k = consts(params, torch.as_tensor(weight_kg), 0.0, 0.0, state.dtype, state.device, None)
    q, w = state[..., :3], state[..., 3:]
    aq, wq, sq = _split(q)
    aw, ww, sw = _split(w)
    v_p = sling_velocity(q, w, k)
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
