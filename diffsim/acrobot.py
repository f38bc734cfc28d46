"""Differentiable Acrobot: two links hanging from a fixed bar, driven at the joint between them.

Sources: Sutton & Barto, *Reinforcement Learning: An Introduction* (MIT Press, 1998), §11.3
(the acrobot's equations of motion and the goal: swing the tip above the bar by one link
length); Sutton, "Generalization in reinforcement learning: successful examples
using sparse coarse coding", NIPS 8 (1996) (the same system; its printed equation for θ̈2
lacks one term, the ``nips_dynamics`` flag below); Gymnasium's ``Acrobot-v1``
(``gymnasium/envs/classic_control/acrobot.py``), whose defaults, step order and conventions
are reproduced here (float64 NumPy steps bit for bit). The constants and the order of one
step are summarised in ``docs/reference_dynamics.md``.

State ``[..., 4]`` in Gymnasium's order (:func:`unpack` / :func:`pack` name them):

==========  ============  ==============================================================
index       name          meaning
==========  ============  ==============================================================
0           theta1        first link's angle from hanging straight down, rad, in [−π, π]
1           theta2        second link's angle relative to the first, rad, in [−π, π]
2           theta1_dot    first link's angular velocity, rad/s, in [−4π, 4π]
3           theta2_dot    second link's angular velocity relative to the first, rad/s,
                          in [−9π, 9π]
==========  ============  ==============================================================

Action ``[...]`` or ``[..., 1]``: the torque at the joint between the links, N·m. Gymnasium's
discrete actions 0, 1, 2 are −1, 0, +1 N·m (:data:`TORQUES`). Torques beyond ±``max_torque``
(1 N·m) are clipped; the clip passes gradients at and inside the bounds, none beyond.

Dynamics (Sutton & Barto's "book" equations, Gymnasium's default), with a the torque,
φ's and d's as in the book::

    d1  = m1·lc1² + m2·(l1² + lc2² + 2·l1·lc2·cos θ2) + I1 + I2
    d2  = m2·(lc2² + l1·lc2·cos θ2) + I2
    φ2  = m2·lc2·g·cos(θ1 + θ2 − π/2)
    φ1  = −m2·l1·lc2·θ̇2²·sin θ2 − 2·m2·l1·lc2·θ̇2·θ̇1·sin θ2 + (m1·lc1 + m2·l1)·g·cos(θ1 − π/2) + φ2
    θ̈2  = (a + d2/d1·φ1 − m2·l1·lc2·θ̇1²·sin θ2 − φ2) / (m2·lc2² + I2 − d2²/d1)
    θ̈1  = −(d2·θ̈2 + φ1) / d1

(the NIPS paper's θ̈2 omits the term ``m2·l1·lc2·θ̇1²·sin θ2``). One step is one classical
RK4 step of ``dt`` = 0.2 s on ``(θ1, θ2, θ̇1, θ̇2)`` with the torque held constant
(:func:`rk4_step`, Gymnasium's operation order), then both angles are wrapped into [−π, π]
(:func:`wrap`, Gymnasium's repeated ±2π) and the velocities clipped to ±``max_vel_1``,
±``max_vel_2``.

Termination: the tip rises above the bar by ``goal_height`` (1 m, one link length):
``−l1·cos θ1 − l2·cos(θ1 + θ2) > goal_height`` (:func:`terminated`, :func:`tip_height`).
Reward: −1 per step, 0 on the terminating step (:func:`reward`). Gymnasium truncates
episodes at 500 steps. Initial states: every entry ~ U(−0.1, 0.1) (:func:`sample_initial`;
Gymnasium's env rounds the draw to float32, :func:`reset_state`).

Gradients: the dynamics are smooth; the velocity clip passes no gradient beyond its bound,
:func:`wrap` has slope 1 except at its jump (±π), and the termination and the reward are
piecewise constant (no gradient), which is why a gradient method needs a smooth surrogate:
:func:`swing_energy_loss`, the system's training loss, blends :func:`swing_loss` (the tip's
depth below the goal line) with the :func:`energy` the links lack for the upright pose.

Arrays: :func:`step`, :func:`reward`, :func:`terminated` and :func:`observe` take torch
tensors or NumPy arrays and return the input's library (one set of equations,
:mod:`diffsim._array`). Bitwise parity with Gymnasium on NumPy float64 needs two details
that the other systems do not: Gymnasium squares NumPy scalars (``θ̇²``, ``d2²``) with C's
``pow``, which differs from ``x·x`` in the last bit for some arguments, so
batched float64 NumPy arrays are squared with ``np.float_power`` (the same ``pow``; see
:func:`_square`); and Gymnasium observes its
float32 reset state with float32 ``cos``/``sin`` (see :func:`observe`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Optional, Union

import numpy as np
import torch

from ._array import Array, ops, rand, scalars
from ._params import Params
from ._validation import Scalar, checked_step, stack_components
from .integrators import Integrator
from .systems import System, option_number

STATE_NAMES = ("theta1", "theta2", "theta1_dot", "theta2_dot")
"""Names of the state entries, in order."""
STATE_UNITS = ("rad", "rad", "rad/s", "rad/s")
"""SI units of the state entries, in order."""
OBSERVATION_NAMES = (
    "cos_theta1",
    "sin_theta1",
    "cos_theta2",
    "sin_theta2",
    "theta1_dot",
    "theta2_dot",
)
"""Names of the observation entries (:func:`observe`), in order."""
STATE_SIZE = 4
DEFAULT_INTEGRATOR = "rk4"
TORQUES = (-1.0, 0.0, 1.0)
"""The torque (N·m) of each of Gymnasium's discrete actions 0, 1, 2."""
RESET_BOUND = 0.1
"""Gymnasium's reset draw: every state entry ~ U(−0.1, 0.1)."""
WRAP_EXACT_LIMIT = 4096.0
"""Angles (rad) up to this magnitude are wrapped by Gymnasium's repeated ±2π (bit for bit);
larger ones, for which Gymnasium's loop runs hundreds of iterations (and never ends for
infinite or astronomically large angles), with one ``mod`` (to within an ulp of 2π)."""

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_SCALARS = frozenset({float, np.float64, np.float32})


@dataclasses.dataclass(frozen=True)
class AcrobotParams(Params):
    """Physical parameters of the Acrobot; defaults are Gymnasium's ``Acrobot-v1`` (Sutton &
    Barto's values).

    Every numeric field may be a Python float or a tensor (per batch element, requiring
    grad). ``nips_dynamics`` selects the NIPS paper's equation for θ̈2.
    """

    link_length_1: Scalar = 1.0
    """Length of the first link (bar to joint), m (Gymnasium's ``LINK_LENGTH_1``)."""
    link_length_2: Scalar = 1.0
    """Length of the second link (joint to tip), m (``LINK_LENGTH_2``; the dynamics do not
    use it: it places the tip, for :func:`tip_height` and the frames)."""
    link_mass_1: Scalar = 1.0
    """Mass of the first link, kg (``LINK_MASS_1``)."""
    link_mass_2: Scalar = 1.0
    """Mass of the second link, kg (``LINK_MASS_2``)."""
    link_com_1: Scalar = 0.5
    """Distance from the bar to the first link's centre of mass, m (``LINK_COM_POS_1``)."""
    link_com_2: Scalar = 0.5
    """Distance from the joint to the second link's centre of mass, m (``LINK_COM_POS_2``)."""
    link_moi: Scalar = 1.0
    """Moment of inertia of each link about its centre of mass, kg·m² (``LINK_MOI``; one
    value for both links, as in Gymnasium and the book)."""
    gravity: Scalar = 9.8
    """Gravitational acceleration, m/s²."""
    dt: Scalar = 0.2
    """Time step, s (one RK4 step)."""
    max_vel_1: Scalar = 4 * math.pi
    """Limit on |θ̇1|, rad/s (``MAX_VEL_1``)."""
    max_vel_2: Scalar = 9 * math.pi
    """Limit on |θ̇2|, rad/s (``MAX_VEL_2``)."""
    max_torque: Scalar = 1.0
    """Limit on the joint torque, N·m (Gymnasium's torques are −1, 0, +1)."""
    goal_height: Scalar = 1.0
    """Height of the tip above the bar that ends the episode, m (one link length)."""
    nips_dynamics: bool = False
    """Use the NIPS paper's θ̈2 (Gymnasium's ``book_or_nips = "nips"``) instead of the book's."""

    _positive = (
        "link_length_1",
        "link_length_2",
        "link_mass_1",
        "link_mass_2",
        "link_com_1",
        "link_com_2",
        "link_moi",
        "gravity",
        "dt",
        "max_vel_1",
        "max_vel_2",
        "max_torque",
    )
    _flags = ("nips_dynamics",)

    @property
    def book_or_nips(self) -> str:
        """Gymnasium's name of the equations in use: ``"book"`` or ``"nips"``."""
        return "nips" if self.nips_dynamics else "book"


DEFAULT_PARAMS = AcrobotParams()


def unpack(state: Array) -> tuple[Array, Array, Array, Array]:
    """Split a state ``[..., 4]`` into ``(theta1, theta2, theta1_dot, theta2_dot)``, each
    ``[...]`` (Python floats for a single float64 NumPy state, as
    :func:`diffsim.cartpole.unpack`)."""
    if isinstance(state, np.ndarray) and state.ndim == 1:
        theta1, theta2, dtheta1, dtheta2 = scalars(state)
        return theta1, theta2, dtheta1, dtheta2
    return state[..., 0], state[..., 1], state[..., 2], state[..., 3]


def pack(theta1: Array, theta2: Array, theta1_dot: Array, theta2_dot: Array) -> Array:
    """Stack the four components (broadcast together) into a state ``[..., 4]``, laid out
    component-major as :func:`diffsim.cartpole.pack` (``.contiguous()`` for row-major)."""
    return stack_components(theta1, theta2, theta1_dot, theta2_dot)


def discrete_to_action(action: Array, dtype: Any = torch.float32) -> Array:
    """Map Gymnasium's discrete action (0, 1, 2) to its torque (−1, 0, +1 N·m).

    ``action`` is an integer tensor (``dtype`` a torch dtype) or NumPy array/integer
    (``dtype`` a NumPy dtype, e.g. ``np.float64``).
    """
    if isinstance(action, torch.Tensor):
        return action.to(dtype) - 1
    return np.asarray(action).astype(dtype) - 1


def _square(x: Array) -> Array:
    """``x²`` as Gymnasium's ``x**2`` rounds it on NumPy scalars (C's ``pow``).

    A float64 NumPy array is squared by ``np.float_power``, whose loop calls the C
    library's ``pow`` per element. ``x * x`` (correctly rounded) and ``np.power`` differ from
    ``pow`` in the last bit for some arguments: ``np.power`` has SIMD loops that round in
    their own way on some CPUs and NumPy releases, and with a scalar exponent 2 it
    multiplies. Other NumPy dtypes use ``np.power``; tensors are squared by
    ``torch.square``.
    """
    if type(x) in _SCALARS:  # the single env's path: first
        return x**2
    if isinstance(x, torch.Tensor):
        return torch.square(x)
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return x[()] ** 2
        if x.dtype == np.float64:
            return np.float_power(x, 2.0)
        return np.power(x, np.full(x.shape, 2.0, dtype=x.dtype))
    return x**2


def accelerations(
    state: Array, torque: Array, params: AcrobotParams = DEFAULT_PARAMS
) -> tuple[Array, Array]:
    """Return ``(θ̈1, θ̈2)`` in rad/s² for a state ``[..., 4]`` and a joint torque (N·m)
    ``[...]`` (not clipped here), by the book's equations or the NIPS paper's (see the
    module docstring)."""
    theta1, theta2, dtheta1, dtheta2 = unpack(state)
    k = _coefficients(params, state)
    return _accelerations(theta1, theta2, dtheta1, dtheta2, torque, k, ops(state))


class _Coefficients(NamedTuple):
    """The parameters' products in ``_dsdt``, each formed as Gymnasium forms it (left to
    right), once per step instead of once per RK4 stage: the same roundings."""

    inertia: Any  # I
    m2: Any  # m2
    m1_lc1_sq: Any  # m1·lc1²
    l1_sq_lc2_sq: Any  # l1² + lc2²
    two_l1_lc2: Any  # 2·l1·lc2
    lc2_sq: Any  # lc2²
    l1_lc2: Any  # l1·lc2
    m2_lc2_g: Any  # m2·lc2·g
    minus_m2_l1_lc2: Any  # −m2·l1·lc2
    two_m2_l1_lc2: Any  # 2·m2·l1·lc2
    gravity_torque: Any  # (m1·lc1 + m2·l1)·g
    m2_lc2_sq_i: Any  # m2·lc2² + I
    m2_l1_lc2: Any  # m2·l1·lc2
    nips: bool


def _coefficients(params: AcrobotParams, like: Array) -> _Coefficients:
    """The coefficients in ``like``'s dtype (Python floats for float parameters, formed once
    per parameter set)."""
    if not params._tensor_fields:
        return _float_coefficients(params)
    xp = ops(like)
    return _products(
        *(xp.cast(getattr(params, name), like) for name in _COEFFICIENT_FIELDS), params
    )


_COEFFICIENT_FIELDS = (
    "link_mass_1",
    "link_mass_2",
    "link_length_1",
    "link_com_1",
    "link_com_2",
    "link_moi",
    "gravity",
)


@functools.lru_cache(maxsize=32)
def _float_coefficients(params: AcrobotParams) -> _Coefficients:
    return _products(*(getattr(params, name) for name in _COEFFICIENT_FIELDS), params)


def _products(m1, m2, l1, lc1, lc2, i, g, params: AcrobotParams) -> _Coefficients:
    return _Coefficients(
        i,
        m2,
        m1 * lc1**2,
        l1**2 + lc2**2,
        2 * l1 * lc2,
        lc2**2,
        l1 * lc2,
        m2 * lc2 * g,
        -m2 * l1 * lc2,
        2 * m2 * l1 * lc2,
        (m1 * lc1 + m2 * l1) * g,
        m2 * lc2**2 + i,
        m2 * l1 * lc2,
        params.nips_dynamics,
    )


def _accelerations(theta1, theta2, dtheta1, dtheta2, a, k: _Coefficients, xp):
    """The equations in Gymnasium's ``_dsdt`` operation order (bitwise on NumPy float64)."""
    cos2 = xp.cos(theta2)
    sin2 = xp.sin(theta2)
    d1 = k.m1_lc1_sq + k.m2 * (k.l1_sq_lc2_sq + k.two_l1_lc2 * cos2) + k.inertia + k.inertia
    d2 = k.m2 * (k.lc2_sq + k.l1_lc2 * cos2) + k.inertia
    phi2 = k.m2_lc2_g * xp.cos(theta1 + theta2 - math.pi / 2.0)
    phi1 = (
        k.minus_m2_l1_lc2 * _square(dtheta2) * sin2
        - k.two_m2_l1_lc2 * dtheta2 * dtheta1 * sin2
        + k.gravity_torque * xp.cos(theta1 - math.pi / 2)
        + phi2
    )
    denominator = k.m2_lc2_sq_i - _square(d2) / d1
    if k.nips:
        ddtheta2 = (a + d2 / d1 * phi1 - phi2) / denominator
    else:
        ddtheta2 = (a + d2 / d1 * phi1 - k.m2_l1_lc2 * _square(dtheta1) * sin2 - phi2) / denominator
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return ddtheta1, ddtheta2


Components = tuple[Array, ...]


def rk4_step(derivative: Callable[[Components], Components], y: Components, dt: Any) -> Components:
    """One classical fourth-order Runge-Kutta step of ``y' = derivative(y)`` over ``dt``.

    The operations are those of Gymnasium's ``rk4`` (``acrobot.py``) in its order, component
    by component: ``k1 = f(y)``, ``k2 = f(y + dt/2·k1)``, ``k3 = f(y + dt/2·k2)``,
    ``k4 = f(y + dt·k3)``, ``y + dt/6·(k1 + 2·k2 + 2·k3 + k4)`` (summed left to right), so a
    NumPy float64 step rounds exactly as Gymnasium's. Gymnasium integrates the state
    augmented with the torque, whose derivative is 0: the torque stays exactly constant, as
    it does here, where ``derivative`` closes over it.

    Args:
        derivative: Maps the components ``(y_0, ..., y_{n-1})`` to their rates.
        y: The components, each ``[...]`` (tensors, NumPy arrays or scalars).
        dt: The step, in the time unit of the rates.

    Returns:
        The components after the step.
    """
    dt2 = dt / 2.0
    k1 = derivative(y)
    k2 = derivative(tuple([yi + dt2 * ki for yi, ki in zip(y, k1)]))
    k3 = derivative(tuple([yi + dt2 * ki for yi, ki in zip(y, k2)]))
    k4 = derivative(tuple([yi + dt * ki for yi, ki in zip(y, k3)]))
    return tuple(
        [yi + dt / 6.0 * (a + 2 * b + 2 * c + d) for yi, a, b, c, d in zip(y, k1, k2, k3, k4)]
    )


def wrap(x: Array, low: float = -math.pi, high: float = math.pi) -> Array:
    """Wrap ``x`` into ``[low, high]`` as Gymnasium's ``wrap`` does: subtract ``high − low``
    while ``x > high``, then add it while ``x < low`` (``high`` and ``low`` stay as they are).

    Batched without a loop over elements: NumPy arrays repeat one masked subtraction (or
    addition) over the whole array while any element needs it, which rounds every element
    exactly as Gymnasium's loop does (for ``|x| ≤`` :data:`WRAP_EXACT_LIMIT`; larger values,
    and infinities, are reduced with one ``mod`` first). Tensors take one masked pass each
    way, bitwise Gymnasium's for ``|x| ≤ high + (high − low)`` (every angle within one turn
    of the range), then an exact ``mod`` for what is left (Gymnasium's loop rounds once per
    turn there, so the two differ by at most that many ulps of ``|x|``, and ``high`` may
    come out as ``low``); no host synchronisation. NaN stays NaN.

    The result's gradient with respect to ``x`` is 1 (the jump at the range's ends has no
    derivative).

    Args:
        x: Angles, rad: a tensor, NumPy array or scalar.
        low, high: The range (Gymnasium's ``m``, ``M``; default ``[−π, π]``).

    Returns:
        ``x`` wrapped, of its library and dtype.
    """
    span = high - low
    if isinstance(x, torch.Tensor):
        x = torch.where(x > high, x - span, x)
        x = torch.where(x > high, low + torch.remainder(x - low, span), x)
        x = torch.where(x < low, x + span, x)
        return torch.where(x < low, low + torch.remainder(x - low, span), x)
    if isinstance(x, np.ndarray) and x.ndim:
        huge = ~(np.abs(x) <= WRAP_EXACT_LIMIT) & ~np.isnan(x)
        if huge.any():
            with np.errstate(invalid="ignore"):  # an infinity becomes NaN
                x = np.where(huge, low + np.remainder(x - low, span), x)
        over = x > high
        while over.any():
            x = np.where(over, x - span, x)
            over = x > high
        under = x < low
        while under.any():
            x = np.where(under, x + span, x)
            under = x < low
        return x
    if not abs(x) <= WRAP_EXACT_LIMIT and x == x:
        with np.errstate(invalid="ignore"):  # an infinity becomes NaN
            x = low + np.remainder(x - low, span)
    while x > high:
        x = x - span
    while x < low:
        x = x + span
    return x


def step(
    state: Array,
    action: Array,
    params: Optional[AcrobotParams] = None,
    integrator: Union[str, Integrator] = DEFAULT_INTEGRATOR,
) -> Array:
    """Advance the Acrobot by one time step ``params.dt``.

    Args:
        state: ``[..., 4]`` floating tensor (or NumPy array) ``(θ1, θ2, θ̇1, θ̇2)`` in rad,
            rad, rad/s, rad/s.
        action: ``[...]`` or ``[..., 1]`` joint torque in N·m (clipped to ±max_torque);
            floating dtype, of the state's library.
        params: Physical parameters (defaults: Gymnasium's Acrobot-v1). A tensor field's
            shape must broadcast to the state's batch shape ``state.shape[:-1]``.
        integrator: ``"rk4"`` (default: :func:`rk4_step`, Gymnasium's RK4 in its operation
            order), or ``"euler"``, ``"semi_implicit_euler"`` or an
            :class:`~diffsim.integrators.Integrator` for experiments (any integrator named
            ``"rk4"`` runs :func:`rk4_step`).

    Returns:
        The next state ``[..., 4]`` (angles wrapped into [−π, π], velocities clipped), of the
        state's library, dtype and device.

    Raises:
        TypeError, ValueError: for a state or action of the wrong type, dtype or shape, a
            tensor parameter whose shape does not broadcast to the state's batch shape, or
            an unknown integrator (no host synchronisation unless :func:`diffsim.debug_checks`
            is active).
    """
    return checked_step(
        "Acrobot", STATE_SIZE, DEFAULT_PARAMS, _step, state, action, params, integrator
    )


def _step(state: Array, action: Array, params: AcrobotParams, integrator: Integrator) -> Array:
    """The unchecked step (no validation, no host synchronisation)."""
    xp = ops(state)
    limit = xp.cast(params.max_torque, state)
    torque = xp.clip(action, -limit, limit)
    theta1, theta2, dtheta1, dtheta2 = unpack(state)
    dt = xp.cast(params.dt, state)
    k = _coefficients(params, state)
    if integrator.name == "rk4":

        def derivative(y):
            dd1, dd2 = _accelerations(y[0], y[1], y[2], y[3], torque, k, xp)
            return (y[2], y[3], dd1, dd2)

        theta1, theta2, dtheta1, dtheta2 = rk4_step(
            derivative, (theta1, theta2, dtheta1, dtheta2), dt
        )
    else:

        def accel(q, v):
            return _accelerations(q[0], q[1], v[0], v[1], torque, k, xp)

        (theta1, theta2), (dtheta1, dtheta2) = integrator(
            accel, (theta1, theta2), (dtheta1, dtheta2), dt
        )
    v1 = xp.cast(params.max_vel_1, state)
    v2 = xp.cast(params.max_vel_2, state)
    return pack(
        wrap(theta1),
        wrap(theta2),
        xp.clip(dtheta1, -v1, v1),
        xp.clip(dtheta2, -v2, v2),
    )


def tip_height(state: Array, params: Optional[AcrobotParams] = None) -> Array:
    """Height of the second link's tip above the bar, m, ``[...]``:
    ``−l1·cos θ1 − l2·cos(θ1 + θ2)`` (−2 m hanging straight down, +2 m straight up)."""
    params = DEFAULT_PARAMS if params is None else params
    xp = ops(state)
    theta1, theta2, _, _ = unpack(state)
    l1 = xp.cast(params.link_length_1, state)
    l2 = xp.cast(params.link_length_2, state)
    return -l1 * xp.cos(theta1) - l2 * xp.cos(theta2 + theta1)


def terminated(state: Array, params: Optional[AcrobotParams] = None) -> Array:
    """Boolean ``[...]``: the tip is above the bar by more than ``goal_height`` (Gymnasium's
    ``−cos θ1 − cos(θ1 + θ2) > 1``, to the last bit with the defaults)."""
    params = DEFAULT_PARAMS if params is None else params
    return tip_height(state, params) > ops(state).cast(params.goal_height, state)


def reward(
    state: Array,
    action: Optional[Array],
    next_state: Array,
    params: Optional[AcrobotParams] = None,
) -> Array:
    """Gymnasium's reward ``[...]``: −1.0 per step, 0.0 on the step that reaches the goal
    (:func:`terminated` of ``next_state``); the state's dtype."""
    done = terminated(next_state, params)
    if isinstance(next_state, torch.Tensor):
        return torch.where(done, 0.0, -1.0).to(next_state.dtype)
    if next_state.ndim == 1:  # one state: a scalar of its dtype
        return next_state.dtype.type(0.0 if done else -1.0)
    return np.where(done, 0.0, -1.0).astype(next_state.dtype)


def _float32_rows(state: np.ndarray) -> Any:
    """Whether each state ``[..., 4]`` holds float32 values only (a bool, or ``[...]``)."""
    if state.ndim == 1:  # one state: stops at the first entry that is not a float32 value
        return all(abs(v) <= _FLOAT32_MAX and float(np.float32(v)) == v for v in state.tolist())
    with np.errstate(over="ignore", invalid="ignore"):
        exact = state.astype(np.float32) == state
    return exact.all(axis=-1)


def _trig(theta: Array, as_float32: Any) -> tuple[Array, Array]:
    """``(cos θ, sin θ)``, in float32 where ``as_float32`` (a bool or a bool array)."""
    if isinstance(as_float32, (bool, np.bool_)):
        if not as_float32:
            return np.cos(theta), np.sin(theta)
        t32 = np.float32(theta)
        return np.float64(np.cos(t32)), np.float64(np.sin(t32))
    with np.errstate(over="ignore", invalid="ignore"):
        t32 = theta.astype(np.float32)
    cos = np.where(as_float32, np.cos(t32).astype(np.float64), np.cos(theta))
    sin = np.where(as_float32, np.sin(t32).astype(np.float64), np.sin(theta))
    return cos, sin


def observe(state: Array) -> Array:
    """Gymnasium's observation ``[..., 6]``: ``(cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2)``
    (row-major; the env layer casts it to float32).

    Gymnasium holds its reset state in float32 (its draw rounded to float32) and computes
    the first observation's cosines and sines in float32, whose rounding differs from
    float64's rounded to float32 for some angles; after a step its state is
    float64. The envs here hold every state in float64, so on NumPy float64 a state whose
    four entries are all float32 values (as a reset draw's are, and a float64 RK4 result
    in practice never is) is observed the way Gymnasium observes its float32 reset state.
    Tensors are observed in their own dtype.
    """
    theta1, theta2, dtheta1, dtheta2 = unpack(state)
    if isinstance(state, np.ndarray) and state.dtype == np.float64:
        held32 = _float32_rows(state)
        (c1, s1), (c2, s2) = _trig(theta1, held32), _trig(theta2, held32)
        return ops(state).stack_rows(c1, s1, c2, s2, dtheta1, dtheta2)
    xp = ops(state)
    return xp.stack_rows(
        xp.cos(theta1), xp.sin(theta1), xp.cos(theta2), xp.sin(theta2), dtheta1, dtheta2
    )


def state_from_observation(obs: Array) -> Array:
    """The state ``(θ1, θ2, θ̇1, θ̇2)`` ``[..., 4]`` of observations ``[..., 6]`` (the inverse
    of :func:`observe`; angles in (−π, π], to the observation's precision)."""
    if isinstance(obs, torch.Tensor):
        atan2, stack = torch.atan2, torch.stack
    else:
        obs = np.asarray(obs, dtype=np.float64)
        atan2, stack = np.arctan2, np.stack
    return stack(
        [
            atan2(obs[..., 1], obs[..., 0]),
            atan2(obs[..., 3], obs[..., 2]),
            obs[..., 4],
            obs[..., 5],
        ],
        -1,
    )


def sample_initial(
    batch_shape: Union[int, Sequence[int]] = (),
    *,
    generator: Union[torch.Generator, np.random.Generator, None] = None,
    dtype: Any = None,
    device: Union[str, torch.device, None] = None,
    low: float = -RESET_BOUND,
    high: float = RESET_BOUND,
) -> Array:
    """Draw initial states ``[*batch_shape, 4]`` with every entry ~ U(low, high) (Gymnasium:
    ±0.1). ``generator``, ``dtype`` and ``device`` as :func:`diffsim.cartpole.sample_initial`'s
    (a ``numpy.random.Generator`` gives a NumPy array)."""
    shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
    u = rand((*shape, STATE_SIZE), generator, dtype, device)
    return low + (high - low) * u


def reset_state(np_random: np.random.Generator, options: Optional[dict] = None) -> np.ndarray:
    """Gymnasium's reset draw: ``np_random.uniform(low, high, size=(4,))`` rounded to float32,
    returned as float64 (the same values). ``reset(options={"low": ..., "high": ...})`` sets
    the bounds (±0.1 by default).

    Raises:
        ValueError: for a bound that is not a finite real, or ``low > high``.
    """
    low = option_number(options, "low", -RESET_BOUND)
    high = option_number(options, "high", RESET_BOUND)
    if low > high:
        raise ValueError(f"reset options: low ({low}) must not exceed high ({high})")
    draw = np_random.uniform(low=low, high=high, size=(STATE_SIZE,))
    return draw.astype(np.float32).astype(np.float64)


def swing_loss(states: Any, alive: Any, params: Optional[AcrobotParams] = None) -> Any:
    """The differentiable stand-in for the Acrobot's return, per element ``[B]``.

    ``sum_t alive[t] · (goal_height − tip_height(s_{t+1})) / (goal_height + l1 + l2)`` over
    the states ``[T+1, B, 4]`` after each step: every step of the episode costs the tip's
    depth below the goal line, in units of the largest depth (hanging straight down), so a
    step costs between 0 (tip at the goal) and 1 (straight down) where the reward pays −1
    per step whatever the pose. The return is piecewise constant in the policy (no
    gradient); this cost is smooth, its gradient raises the tip at every step, and it is
    lowest for episodes that bring the tip up early and end soon (the step that reaches the
    goal costs slightly less than 0). It is a proxy: the policy is judged on the return.
    """
    params = DEFAULT_PARAMS if params is None else params
    reach = params.goal_height + params.link_length_1 + params.link_length_2
    depth = (params.goal_height - tip_height(states[1:], params)) / reach
    return (depth * alive).sum(0)


def energy(state: Array, params: Optional[AcrobotParams] = None) -> Array:
    """Mechanical energy of the two links, J, ``[...]``: kinetic plus gravitational potential
    energy, the potential's zero at the bar's height.

    ``½·(d1·θ̇1² + 2·d2·θ̇1·θ̇2 + (m2·lc2² + I2)·θ̇2²) − g·(m1·lc1·cos θ1 + m2·(l1·cos θ1 +
    lc2·cos(θ1 + θ2)))``, with ``d1``, ``d2`` the mass-matrix entries of the module
    docstring's equations (whose Lagrangian this is). Without torque the dynamics keep it
    constant; the joint torque ``a`` changes it at the rate ``a·θ̇2``. Hanging at rest it is
    ``−`` :func:`upright_energy`, at rest straight up ``+`` :func:`upright_energy`.
    """
    params = DEFAULT_PARAMS if params is None else params
    xp = ops(state)
    theta1, theta2, dtheta1, dtheta2 = unpack(state)
    m1, m2, l1, lc1, lc2, inertia, g = (
        xp.cast(getattr(params, name), state) for name in _COEFFICIENT_FIELDS
    )
    cos2 = xp.cos(theta2)
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos2) + 2 * inertia
    d2 = m2 * (lc2**2 + l1 * lc2 * cos2) + inertia
    d3 = m2 * lc2**2 + inertia
    kinetic = 0.5 * (d1 * dtheta1**2 + 2 * d2 * dtheta1 * dtheta2 + d3 * dtheta2**2)
    cos1 = xp.cos(theta1)
    potential = -g * (m1 * lc1 * cos1 + m2 * (l1 * cos1 + lc2 * xp.cos(theta1 + theta2)))
    return kinetic + potential


def upright_energy(params: Optional[AcrobotParams] = None) -> Any:
    """:func:`energy` of the links at rest straight up, J: ``g·(m1·lc1 + m2·(l1 + lc2))``
    (a float, or a tensor for tensor parameters)."""
    params = DEFAULT_PARAMS if params is None else params
    m1, m2, l1 = params.link_mass_1, params.link_mass_2, params.link_length_1
    return params.gravity * (m1 * params.link_com_1 + m2 * (l1 + params.link_com_2))


SWING_ENERGY_WEIGHT = 0.5
"""The default weight of the energy term in :func:`swing_energy_loss`."""


def swing_energy_loss(
    states: Any,
    alive: Any,
    params: Optional[AcrobotParams] = None,
    energy_weight: float = SWING_ENERGY_WEIGHT,
) -> Any:
    """The Acrobot's training loss: :func:`swing_loss`'s tip depth blended with the energy
    that the links lack for the upright pose, per element ``[B]``.

    ``sum_t alive[t] · ((1 − w)·depth(s_{t+1}) + w·max(E_up − E(s_{t+1}), 0) / (2·E_up))``
    over the states ``[T+1, B, 4]`` after each step, with ``depth`` :func:`swing_loss`'s
    per-step term, ``E`` :func:`energy`, ``E_up`` :func:`upright_energy` and ``w`` =
    ``energy_weight``. The energy term is 1 hanging at rest and 0 once the links hold the
    energy of the upright pose (more costs nothing); the torque changes the energy at the rate
    ``a·θ̇2`` within the step it acts, so this term's gradient reaches every action directly,
    where the depth's arrives only through the later swing. Like :func:`swing_loss` it is a
    proxy: the policy is judged on the return.

    Args:
        states: ``[T+1, B, 4]`` states of a rollout (tensors).
        alive: ``[T, B]``: 1 for the steps of each episode, 0 after its end.
        params: Physical parameters (default: Gymnasium's).
        energy_weight: ``w`` in [0, 1] (0: :func:`swing_loss`).

    Returns:
        The loss of each element, ``[B]``.

    Raises:
        ValueError: for an ``energy_weight`` outside [0, 1].
    """
    if not 0.0 <= energy_weight <= 1.0:
        raise ValueError(f"energy_weight must be in [0, 1], got {energy_weight!r}")
    params = DEFAULT_PARAMS if params is None else params
    reach = params.goal_height + params.link_length_1 + params.link_length_2
    depth = (params.goal_height - tip_height(states[1:], params)) / reach
    e_up = upright_energy(params)
    deficit = (e_up - energy(states[1:], params)).clamp(min=0.0) / (2 * e_up)
    return (((1.0 - energy_weight) * depth + energy_weight * deficit) * alive).sum(0)


def _observation_high(params: AcrobotParams) -> tuple[float, ...]:
    return (1.0, 1.0, 1.0, 1.0, float(params.max_vel_1), float(params.max_vel_2))


def _torque_bounds(params: AcrobotParams) -> tuple[float, float]:
    return (-float(params.max_torque), float(params.max_torque))


SYSTEM = System(
    name="acrobot",
    title="Acrobot",
    module=__name__,
    state_names=STATE_NAMES,
    state_units=STATE_UNITS,
    observation_names=OBSERVATION_NAMES,
    params_type=AcrobotParams,
    default_params=DEFAULT_PARAMS,
    dt_field="dt",
    default_integrator=DEFAULT_INTEGRATOR,
    action_unit="N·m (torque at the joint between the links)",
    action_bounds=_torque_bounds,
    discrete_actions=TORQUES,
    step=step,
    step_unchecked=_step,
    reward=reward,
    terminated=terminated,
    observe=observe,
    observation_high=_observation_high,
    sample_initial=sample_initial,
    reset_state=reset_state,
    reward_type=float,
    vector_reward_dtype="float64",
    training_loss=swing_energy_loss,
    render="diffsim.envs.render:acrobot_frame",
    render_fps=15,
    env_attributes={
        "dt": "dt",
        "LINK_LENGTH_1": "link_length_1",
        "LINK_LENGTH_2": "link_length_2",
        "LINK_MASS_1": "link_mass_1",
        "LINK_MASS_2": "link_mass_2",
        "LINK_COM_POS_1": "link_com_1",
        "LINK_COM_POS_2": "link_com_2",
        "LINK_MOI": "link_moi",
        "MAX_VEL_1": "max_vel_1",
        "MAX_VEL_2": "max_vel_2",
        "book_or_nips": "book_or_nips",
    },
    env_action_dtype="float64",
    state_from_observation=state_from_observation,
)
"""The Acrobot's :class:`~diffsim.systems.System` description (registered as ``"acrobot"``).

Gymnasium's Acrobot has no constructor options and no vector env: the vector adapter seeds
one generator per sub-env, as ``make_vec(..., vectorization_mode="sync")`` does, whose
rewards are float64; the single env's reward is a Python float, as Gymnasium's. Gymnasium's
public attributes (``dt``, ``LINK_LENGTH_1``, ..., ``MAX_VEL_2``, ``book_or_nips``) are
read-only views onto the parameters.
"""
