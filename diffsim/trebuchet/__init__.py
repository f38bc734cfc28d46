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
    Every shot carries its own clock; the stages run one after another for all shots at once,
    each through the same stage loop (a fixed loop of steps with per-shot masks), each shot
    reaching its events at its own step. :func:`simulate` and :func:`shoot` run the same loop
    (one records the trajectory, the other does not), so their distances agree exactly. The
    per-step physics holds no host synchronisation; the loop checks "all shots done" on the
    host every few steps, at the boundary.

Units
    SI inside (m, kg, s, rad). The public functions take the inputs as the post does: wind in
    m/s, release angle in degrees, counterweight in pounds.

Bounds (one source, :mod:`diffsim.trebuchet.params`)
    :data:`ANGLE_LIMITS_DEG` (0, 90): the release angles :func:`shoot` and :func:`simulate`
    accept. :data:`ANGLE_BOUNDS_DEG` (5, 85) degrees and :data:`WEIGHT_BOUNDS_LB` (50, 600) lb:
    the aiming box, used by the env's action space, the aiming network and
    :func:`diffsim.solvers.aim`'s default search box.

Modules
    :mod:`~diffsim.trebuchet.params` (parameters, units, bounds),
    :mod:`~diffsim.trebuchet.dynamics` (the equations), :mod:`~diffsim.trebuchet.events` (event
    functions, interpolation, root location), :mod:`~diffsim.trebuchet.simulation` (the stage
    loop, :func:`simulate`, :func:`shoot`). Aiming by gradient descent is
    :func:`diffsim.solvers.aim` (``diffsim.trebuchet.aim`` is its deprecated alias).

The reference quirk
    Trebuchet.jl hands the arm's and the counterweight's moments of inertia to the equations
    of motion swapped: the arm term receives the counterweight's 1 lb ft^2 (0.04214 kg m^2)
    and the counterweight term receives the arm's ``m_arm (b + c)^2 / 12``.
    ``TrebuchetParams.reference()`` (the default) keeps the swap, as ``swap_inertias=True``,
    so as to reproduce the reference's figures; ``TrebuchetParams.corrected()`` undoes it.
"""

from __future__ import annotations

import warnings
from typing import Any

from .dynamics import mechanical_energy as _mechanical_energy  # noqa: F401  (used by tests)
from .params import ANGLE_BOUNDS_DEG, ANGLE_LIMITS_DEG, FT, LB, WEIGHT_BOUNDS_LB, TrebuchetParams
from .simulation import (
    FAILURE_REASONS,
    NO_LANDING,
    NO_LIFTOFF,
    NO_RELEASE,
    NON_FINITE,
    OK,
    SLACK_SLING,
    ShotFailedError,
    SimulationResult,
    initial_state,
    shoot,
    simulate,
)

__all__ = [
    "ANGLE_BOUNDS_DEG",
    "ANGLE_LIMITS_DEG",
    "FAILURE_REASONS",
    "FT",
    "LB",
    "NON_FINITE",
    "NO_LANDING",
    "NO_LIFTOFF",
    "NO_RELEASE",
    "OK",
    "SLACK_SLING",
    "WEIGHT_BOUNDS_LB",
    "ShotFailedError",
    "SimulationResult",
    "TrebuchetParams",
    "initial_state",
    "shoot",
    "simulate",
]

_MOVED = {"aim": "diffsim.solvers.aim", "AimResult": "diffsim.solvers.AimResult"}
"""Names that moved to :mod:`diffsim.solvers`, still reachable here with a warning."""


def __getattr__(name: str) -> Any:
    """The deprecated aliases ``aim`` and ``AimResult`` (moved to :mod:`diffsim.solvers`).

    Imported on access, so that :mod:`diffsim.solvers` (which imports this package) and this
    package do not import each other at load time.

    Raises:
        AttributeError: for any other unknown name.
    """
    if name in _MOVED:
        warnings.warn(
            f"diffsim.trebuchet.{name} is deprecated; use {_MOVED[name]} instead",
            DeprecationWarning,
            stacklevel=2,
        )
        from .. import solvers

        return getattr(solvers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
