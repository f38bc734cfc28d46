"""Fixed-step integrators for second-order systems ``q'' = a(q, q')``.

Every system in diffsim is mechanical: a configuration ``q`` (positions, angles) and its
rate ``v``. An integrator advances ``(q, v)`` by one step ``dt`` given the acceleration
function ``accel(q, v) -> a``. Integrators are small named objects with an ``order`` (the
global order of accuracy), chosen by name or passed as an object, in the manner of
torchdiffeq's solver table:

=====================  =======  ==========================================================
name                   order    update
=====================  =======  ==========================================================
``euler``              1        q' = q + dt·v,  v' = v + dt·a(q, v)  (Gymnasium CartPole's
                                default, "euler")
``semi_implicit_euler`` 1       v' = v + dt·a(q, v),  q' = q + dt·v'  (symplectic Euler;
                                Gymnasium CartPole's "semi-implicit euler" and Pendulum's
                                update)
``rk4``                4        classical Runge-Kutta on the first-order system (q, v)
=====================  =======  ==========================================================

``q`` and ``v`` are tuples with one tensor per degree of freedom (component-wise updates:
stacking small tensors costs more than the arithmetic). ``velocity_limit`` is an optional
function applied to the new velocity (e.g. Pendulum's
clip to ±8 rad/s). The semi-implicit scheme applies it before the position update, so the
position moves with the limited velocity (Gymnasium Pendulum's order); the others apply it
at the end of the step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional, Union

import torch

from ._choice import check_choice

Vec = tuple[torch.Tensor, ...]
"""Generalised coordinates (or their rates), one tensor ``[...]`` per degree of freedom."""
Accel = Callable[[Vec, Vec], Vec]
Limit = Optional[Callable[[Vec], Vec]]


def _axpy(y: Vec, dt: Union[float, torch.Tensor], x: Vec) -> Vec:
    # y + dt·x, one component at a time (stacking small tensors costs more than the math).
    # Two roundings, as Gymnasium computes it: torch.add(y, x, alpha=dt) would be one kernel
    # fewer but may fuse into one rounding (FMA) and so differ from the reference by an ulp.
    # One and two degrees of freedom (every built-in system) are written out: a
    # comprehension is a function call of its own, which a single env's step notices.
    n = len(y)
    if n == 2:
        return (y[0] + dt * x[0], y[1] + dt * x[1])
    if n == 1:
        return (y[0] + dt * x[0],)
    return tuple([yi + dt * xi for yi, xi in zip(y, x)])  # a list: faster than a generator


def _limit(v: Vec, velocity_limit: Limit) -> Vec:
    return v if velocity_limit is None else velocity_limit(v)


@dataclass(frozen=True)
class Integrator:
    """Base class: a named fixed-step scheme for ``q'' = accel(q, q')``.

    ``q`` and ``v`` are tuples with one tensor per degree of freedom; ``accel`` maps them to
    a tuple of accelerations of the same length.
    """

    name: str = "integrator"
    order: int = 0

    def __call__(
        self,
        accel: Accel,
        q: Vec,
        v: Vec,
        dt: Union[float, torch.Tensor],
        velocity_limit: Limit = None,
    ) -> tuple[Vec, Vec]:
        """Advance ``(q, v)`` by ``dt`` seconds; returns the new ``(q, v)``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Euler(Integrator):
    """Explicit (forward) Euler: both updates from the pre-step values."""

    name: str = "euler"
    order: int = 1

    def __call__(self, accel, q, v, dt, velocity_limit=None):
        a = accel(q, v)
        return _axpy(q, dt, v), _limit(_axpy(v, dt, a), velocity_limit)


@dataclass(frozen=True)
class SemiImplicitEuler(Integrator):
    """Symplectic Euler: velocity first, then the position with the new velocity."""

    name: str = "semi_implicit_euler"
    order: int = 1

    def __call__(self, accel, q, v, dt, velocity_limit=None):
        v_new = _limit(_axpy(v, dt, accel(q, v)), velocity_limit)
        return _axpy(q, dt, v_new), v_new


@dataclass(frozen=True)
class RK4(Integrator):
    """Classical fourth-order Runge-Kutta on the first-order system ``(q, v)``."""

    name: str = "rk4"
    order: int = 4

    def __call__(self, accel, q, v, dt, velocity_limit=None):
        k1q, k1v = v, accel(q, v)
        q2, v2 = _axpy(q, 0.5 * dt, k1q), _axpy(v, 0.5 * dt, k1v)
        k2q, k2v = v2, accel(q2, v2)
        q3, v3 = _axpy(q, 0.5 * dt, k2q), _axpy(v, 0.5 * dt, k2v)
        k3q, k3v = v3, accel(q3, v3)
        q4, v4 = _axpy(q, dt, k3q), _axpy(v, dt, k3v)
        k4q, k4v = v4, accel(q4, v4)

        def combine(y, k1, k2, k3, k4):
            return tuple(
                yi + dt / 6.0 * (a + 2 * b + 2 * c + d) for yi, a, b, c, d in zip(y, k1, k2, k3, k4)
            )

        q_new = combine(q, k1q, k2q, k3q, k4q)
        v_new = combine(v, k1v, k2v, k3v, k4v)
        return q_new, _limit(v_new, velocity_limit)


INTEGRATORS: dict[str, Integrator] = {i.name: i for i in (Euler(), SemiImplicitEuler(), RK4())}
"""The integrators available by name."""


def get_integrator(integrator: Union[str, Integrator]) -> Integrator:
    """Return the integrator named ``integrator`` (or the object itself).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
        TypeError: for anything that is neither a name nor an :class:`Integrator`.
    """
    if isinstance(integrator, Integrator):
        return integrator
    if isinstance(integrator, str):
        check_choice("integrator", integrator, INTEGRATORS)
        return INTEGRATORS[integrator]
    raise TypeError(
        f"integrator must be a name ({', '.join(INTEGRATORS)}) or an Integrator, "
        f"got {type(integrator).__name__}"
    )
