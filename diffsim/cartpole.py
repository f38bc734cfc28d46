"""Differentiable CartPole: a pole hinged on a cart that moves along a frictionless track.

Source of the equations: Gymnasium's ``CartPole-v1``
(``gymnasium/envs/classic_control/cartpole.py``), which follows Florian, "Correct
equations for the dynamics of the cart-pole system" (2007) and Barto, Sutton & Anderson
(1983). The constants and update order are summarised in ``shared/specs/classic_control.md``;
the defaults below reproduce Gymnasium exactly (float64 step equal to float64 rounding).

State ``[..., 4]`` in Gymnasium's order (use :func:`unpack` / :func:`pack` to name them):

==========  ===========  ======================================================
index       name         meaning
==========  ===========  ======================================================
0           x            cart position, m (0 at the track centre, + to the right)
1           x_dot        cart velocity, m/s
2           theta        pole angle from upright, rad (+ clockwise, i.e. leaning right)
3           theta_dot    pole angular velocity, rad/s
==========  ===========  ======================================================

Action ``[...]`` or ``[..., 1]``: a continuous push in [−1, 1]; the force on the cart is
``clip(action, −1, 1) · force_mag`` newtons. Gymnasium's discrete action 0/1 is −1/+1
(:func:`discrete_to_action`). Actions beyond ±1 are clipped, as Gymnasium clips Pendulum's
torque; the clip passes gradients at and inside the bounds and zero gradient beyond them.

Dynamics, with F the force, M = m_cart + m_pole (:attr:`CartPoleParams.total_mass`) and
m_p·l (:attr:`CartPoleParams.polemass_length`)::

    temp   = (F + m_p·l·θ̇²·sin θ) / M
    θ̈      = (g·sin θ − cos θ·temp) / (l·(4/3 − m_p·cos²θ / M))
    ẍ      = temp − m_p·l·θ̈·cos θ / M

integrated over ``tau`` seconds by explicit Euler (Gymnasium's default), semi-implicit
Euler or RK4 (:mod:`diffsim.integrators`).

Reward: +1 on every step, the terminating one included (:func:`reward`).
Termination: ``|x| > x_threshold`` (2.4 m) or ``|θ| > theta_threshold`` (12°)
(:func:`terminated`); it is a boolean, so it carries no gradient. Time limits (500 steps for
v1) belong to the environment, not to the dynamics.
Initial states: every entry ~ U(−0.05, 0.05) (:func:`sample_initial`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Optional, Union

import torch

from ._params import Params
from ._validation import Scalar, checked_step, stack_components
from .integrators import Integrator

STATE_NAMES = ("x", "x_dot", "theta", "theta_dot")
"""Names of the state entries, in order."""
STATE_UNITS = ("m", "m/s", "rad", "rad/s")
"""SI units of the state entries, in order."""
STATE_SIZE = 4
DEFAULT_INTEGRATOR = "euler"


@dataclasses.dataclass(frozen=True)
class CartPoleParams(Params):
    """Physical parameters of CartPole; defaults are Gymnasium's ``CartPole-v1``.

    Every field may be a Python float or a tensor (per batch element, requiring grad).
    """

    gravity: Scalar = 9.8
    """Gravitational acceleration, m/s²."""
    masscart: Scalar = 1.0
    """Cart mass, kg."""
    masspole: Scalar = 0.1
    """Pole mass, kg."""
    length: Scalar = 0.5
    """Half the pole's length (pivot to centre of mass), m."""
    force_mag: Scalar = 10.0
    """Force applied for a full push (action ±1), N."""
    tau: Scalar = 0.02
    """Time step, s."""
    x_threshold: Scalar = 2.4
    """Cart position beyond which the episode terminates, m."""
    theta_threshold: Scalar = 12 * 2 * math.pi / 360
    """Pole angle beyond which the episode terminates, rad (12°)."""

    _positive = (
        "gravity",
        "masscart",
        "masspole",
        "length",
        "force_mag",
        "tau",
        "x_threshold",
        "theta_threshold",
    )

    @property
    def total_mass(self) -> Scalar:
        """Cart plus pole mass, kg."""
        return self.masspole + self.masscart

    @property
    def polemass_length(self) -> Scalar:
        """Pole mass times half-length, kg·m."""
        return self.masspole * self.length


DEFAULT_PARAMS = CartPoleParams()


def unpack(state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split a state ``[..., 4]`` into ``(x, x_dot, theta, theta_dot)``, each ``[...]``."""
    return state[..., 0], state[..., 1], state[..., 2], state[..., 3]


def pack(
    x: torch.Tensor, x_dot: torch.Tensor, theta: torch.Tensor, theta_dot: torch.Tensor
) -> torch.Tensor:
    """Stack ``(x, x_dot, theta, theta_dot)`` (broadcast together) into a state ``[..., 4]``.

    The result is laid out component-major (a ``movedim`` view of a ``[4, ...]`` tensor): each
    component is then contiguous, which makes the next step's arithmetic faster than an
    interleaved copy would. Call ``.contiguous()`` where a row-major layout is needed.
    """
    return stack_components(x, x_dot, theta, theta_dot)


def discrete_to_action(action: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Map Gymnasium's discrete action (0 = push left, 1 = push right) to −1 / +1."""
    return action.to(dtype) * 2 - 1


def _cast(value: Scalar, like: torch.Tensor) -> Scalar:
    # Tensor parameters take the state's dtype (the result keeps the state's dtype);
    # Python floats are left alone so that float64 arithmetic is exact.
    return value.to(like.dtype) if isinstance(value, torch.Tensor) else value


def accelerations(
    state: torch.Tensor, force: torch.Tensor, params: CartPoleParams = DEFAULT_PARAMS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(ẍ, θ̈)`` in m/s² and rad/s² for a state and a force in newtons."""
    _, _, theta, theta_dot = unpack(state)
    return _accelerations(theta, theta_dot, force, params, state)


def _accelerations(theta, theta_dot, force, params, like):
    g = _cast(params.gravity, like)
    m_pole = _cast(params.masspole, like)
    length = _cast(params.length, like)
    total_mass = _cast(params.masspole, like) + _cast(params.masscart, like)
    polemass_length = m_pole * length
    sintheta = torch.sin(theta)
    costheta = torch.cos(theta)
    temp = (force + polemass_length * theta_dot**2 * sintheta) / total_mass
    thetaacc = (g * sintheta - costheta * temp) / (
        length * (4.0 / 3.0 - m_pole * costheta**2 / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    return xacc, thetaacc


def step(
    state: torch.Tensor,
    action: torch.Tensor,
    params: Optional[CartPoleParams] = None,
    integrator: Union[str, Integrator] = DEFAULT_INTEGRATOR,
) -> torch.Tensor:
    """Advance CartPole by one time step ``params.tau``.

    Args:
        state: ``[..., 4]`` floating tensor ``(x, x_dot, theta, theta_dot)`` in m, m/s, rad,
            rad/s.
        action: ``[...]`` or ``[..., 1]`` push in [−1, 1] (clipped beyond); floating dtype.
        params: Physical parameters (defaults: Gymnasium's CartPole-v1). Tensor fields
            broadcast against the state's batch shape.
        integrator: ``"euler"`` (default, Gymnasium's), ``"semi_implicit_euler"``, ``"rk4"``
            or an :class:`~diffsim.integrators.Integrator`.

    Returns:
        The next state, ``[..., 4]``, of the state's dtype and device.

    Raises:
        TypeError, ValueError: for a state or action of the wrong type, dtype or shape, or
            an unknown integrator. No check reads tensor values (no host synchronisation)
            unless :func:`diffsim.debug_checks` is active.
    """
    return checked_step(
        "CartPole", STATE_SIZE, DEFAULT_PARAMS, _step, state, action, params, integrator
    )


def _step(
    state: torch.Tensor, action: torch.Tensor, params: CartPoleParams, integrator: Integrator
) -> torch.Tensor:
    """The unchecked step (no validation, no host synchronisation)."""
    force = torch.clamp(action, -1.0, 1.0) * _cast(params.force_mag, state)
    x, x_dot, theta, theta_dot = unpack(state)

    def accel(q, v):
        return _accelerations(q[1], v[1], force, params, state)

    (x, theta), (x_dot, theta_dot) = integrator(
        accel, (x, theta), (x_dot, theta_dot), _cast(params.tau, state)
    )
    return pack(x, x_dot, theta, theta_dot)


def reward(
    state: torch.Tensor,
    action: torch.Tensor,
    next_state: torch.Tensor,
    params: Optional[CartPoleParams] = None,
) -> torch.Tensor:
    """Gymnasium's reward: 1.0 for every step taken (shape ``[...]``, the state's dtype)."""
    return torch.ones(next_state.shape[:-1], dtype=next_state.dtype, device=next_state.device)


def terminated(state: torch.Tensor, params: Optional[CartPoleParams] = None) -> torch.Tensor:
    """Boolean ``[...]``: the cart left the track or the pole fell past the threshold."""
    params = DEFAULT_PARAMS if params is None else params
    x, _, theta, _ = unpack(state)
    x_limit = _cast(params.x_threshold, state)
    theta_limit = _cast(params.theta_threshold, state)
    return (x < -x_limit) | (x > x_limit) | (theta < -theta_limit) | (theta > theta_limit)


def observe(state: torch.Tensor) -> torch.Tensor:
    """Gymnasium's observation: the state itself (the env layer casts it to float32)."""
    return state


def sample_initial(
    batch_shape: Union[int, Sequence[int]] = (),
    *,
    generator: Optional[torch.Generator] = None,
    dtype: Optional[torch.dtype] = None,
    device: Union[str, torch.device, None] = None,
    low: float = -0.05,
    high: float = 0.05,
) -> torch.Tensor:
    """Draw initial states ``[*batch_shape, 4]`` with every entry ~ U(low, high).

    Args:
        batch_shape: Leading shape of the batch (an int for one dimension).
        generator: A ``torch.Generator`` for reproducibility (no hidden global RNG when
            given; torch's default generator otherwise).
        dtype, device: Of the result (torch's defaults otherwise).
        low, high: Bounds of the uniform distribution (Gymnasium: ±0.05).
    """
    shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
    u = torch.rand((*shape, STATE_SIZE), generator=generator, dtype=dtype, device=device)
    return low + (high - low) * u
