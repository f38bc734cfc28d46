"""The trebuchet's parameters, its units and the one source of its control bounds.

Sources: the constants are Trebuchet.jl's (``src/defs.jl``, ``src/simulate.jl``); see the
package docstring of :mod:`diffsim.trebuchet` and ``docs/reference_dynamics.md``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from .._params import Params
from .._validation import Scalar

__all__ = [
    "ANGLE_BOUNDS_DEG",
    "ANGLE_LIMITS_DEG",
    "FT",
    "LB",
    "WEIGHT_BOUNDS_LB",
    "TrebuchetParams",
]

FT = 0.3048
"""Metres per foot."""
LB = 0.45359237
"""Kilograms per pound."""

ANGLE_LIMITS_DEG: tuple[float, float] = (0.0, 90.0)
"""The release angles (degrees above the horizontal) :func:`~diffsim.trebuchet.shoot` and
:func:`~diffsim.trebuchet.simulate` accept; outside them the release condition would wrap the
angle silently (−10° would release like 10°), so they raise ``ValueError`` instead."""

ANGLE_BOUNDS_DEG: tuple[float, float] = (5.0, 85.0)
"""The aiming box's release angles (degrees above the horizontal), within
:data:`ANGLE_LIMITS_DEG`: the action space of ``diffsim/Trebuchet-v0``, the range of the
aiming network and the default search box of :func:`diffsim.solvers.aim`."""

WEIGHT_BOUNDS_LB: tuple[float, float] = (50.0, 600.0)
"""The aiming box's counterweights (lb): the action space of ``diffsim/Trebuchet-v0``, the
range of the aiming network and the default search box of :func:`diffsim.solvers.aim`."""


@dataclasses.dataclass(frozen=True)
class TrebuchetParams(Params):
    """Physical parameters of the trebuchet (SI units; defaults are the reference's).

    The counterweight's mass is not a parameter: it is the shot's ``weight_lb`` input.

    Raises:
        TypeError, ValueError: (on construction) a non-numeric or non-finite field, a
            non-positive length, mass, inertia, gravity or step, a negative drag coefficient
            or air density, or ``pivot_height >= arm_long`` (the arm tip must start on the
            ground).
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
