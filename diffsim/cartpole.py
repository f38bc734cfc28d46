"""Differentiable CartPole: a pole hinged on a cart that moves along a frictionless track.

Source of the equations: Gymnasium's ``CartPole-v1``
(``gymnasium/envs/classic_control/cartpole.py``), which follows Florian, "Correct
equations for the dynamics of the cart-pole system" (2007) and Barto, Sutton & Anderson
(1983). The constants and update order are summarised in ``docs/reference_dynamics.md``;
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

Arrays: :func:`step`, :func:`reward`, :func:`terminated` and :func:`observe` take torch
tensors (gradients, GPU, ``torch.compile``) or NumPy arrays (no gradients; what the
Gymnasium envs step on); the result is of the input's library. The equations are written
once (:mod:`diffsim._array`); on NumPy float64 they are Gymnasium's own operations in
Gymnasium's order, hence bitwise equal to it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
import torch

from ._array import Array, ops, rand, scalars
from ._params import Params
from ._validation import Scalar, checked_step, stack_components
from .integrators import Integrator
from .systems import System, option_number

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


def unpack(state: Array) -> tuple[Array, Array, Array, Array]:
    """Split a state ``[..., 4]`` into ``(x, x_dot, theta, theta_dot)``, each ``[...]``.

    A single NumPy state ``[4]`` gives scalars (:func:`diffsim._array.scalars`: Python floats
    for float64), as Gymnasium's own ``x, x_dot, theta, theta_dot = self.state``.
    """
    if isinstance(state, np.ndarray) and state.ndim == 1:
        return scalars(state)
    return state[..., 0], state[..., 1], state[..., 2], state[..., 3]


def pack(x: Array, x_dot: Array, theta: Array, theta_dot: Array) -> Array:
    """Stack ``(x, x_dot, theta, theta_dot)`` (broadcast together) into a state ``[..., 4]``.

    The result is laid out component-major (a ``movedim`` view of a ``[4, ...]`` tensor or
    NumPy array): each component is then contiguous, which makes the next step's arithmetic
    faster than an interleaved copy would. Call ``.contiguous()`` (``np.ascontiguousarray``)
    where a row-major layout is needed.
    """
    return stack_components(x, x_dot, theta, theta_dot)


def discrete_to_action(action: Array, dtype: Any = torch.float32) -> Array:
    """Map Gymnasium's discrete action (0 = push left, 1 = push right) to −1 / +1.

    ``action`` is an integer tensor (``dtype`` a torch dtype) or NumPy array/integer
    (``dtype`` a NumPy dtype, e.g. ``np.float64``).
    """
    if isinstance(action, torch.Tensor):
        return action.to(dtype) * 2 - 1
    return np.asarray(action).astype(dtype) * 2 - 1


def accelerations(
    state: Array, force: Array, params: CartPoleParams = DEFAULT_PARAMS
) -> tuple[Array, Array]:
    """Return ``(ẍ, θ̈)`` in m/s² and rad/s² for a state and a force in newtons."""
    _, _, theta, theta_dot = unpack(state)
    return _accelerations(theta, theta_dot, force, params, state, ops(state))


def _accelerations(theta, theta_dot, force, params, like, xp):
    if params._tensor_fields:
        g, m_pole, length = (
            xp.cast(p, like) for p in (params.gravity, params.masspole, params.length)
        )
        total_mass = xp.cast(params.masspole, like) + xp.cast(params.masscart, like)
    else:  # float parameters are used as they are (a cast would return them unchanged)
        g, m_pole, length = params.gravity, params.masspole, params.length
        total_mass = m_pole + params.masscart
    polemass_length = m_pole * length
    sintheta = xp.sin(theta)
    costheta = xp.cos(theta)
    temp = (force + polemass_length * xp.square(theta_dot) * sintheta) / total_mass
    thetaacc = (g * sintheta - costheta * temp) / (
        length * (4.0 / 3.0 - m_pole * xp.square(costheta) / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    return xacc, thetaacc


def step(
    state: Array,
    action: Array,
    params: Optional[CartPoleParams] = None,
    integrator: Union[str, Integrator] = DEFAULT_INTEGRATOR,
) -> Array:
    """Advance CartPole by one time step ``params.tau``.

    Args:
        state: ``[..., 4]`` floating tensor (or NumPy array) ``(x, x_dot, theta, theta_dot)``
            in m, m/s, rad, rad/s.
        action: ``[...]`` or ``[..., 1]`` push in [−1, 1] (clipped beyond); floating dtype,
            of the state's library.
        params: Physical parameters (defaults: Gymnasium's CartPole-v1). A tensor field's
            shape must broadcast to the state's batch shape ``state.shape[:-1]`` (e.g.
            ``[B]`` or ``()`` for a ``[B, 4]`` state); the result keeps that batch shape.
        integrator: ``"euler"`` (default, Gymnasium's), ``"semi_implicit_euler"``, ``"rk4"``
            or an :class:`~diffsim.integrators.Integrator`.

    Returns:
        The next state, ``[..., 4]``, of the state's library, dtype and device.

    Raises:
        TypeError, ValueError: for a state or action of the wrong type, dtype or shape, a
            tensor parameter whose shape does not broadcast to the state's batch shape, or
            an unknown integrator. No check reads tensor values (no host synchronisation)
            unless :func:`diffsim.debug_checks` is active.
    """
    return checked_step(
        "CartPole", STATE_SIZE, DEFAULT_PARAMS, _step, state, action, params, integrator
    )


def _step(state: Array, action: Array, params: CartPoleParams, integrator: Integrator) -> Array:
    """The unchecked step (no validation, no host synchronisation)."""
    xp = ops(state)
    if params._tensor_fields:
        force_mag, tau = xp.cast(params.force_mag, state), xp.cast(params.tau, state)
    else:
        force_mag, tau = params.force_mag, params.tau
    force = xp.clip(action, -1.0, 1.0) * force_mag
    x, x_dot, theta, theta_dot = unpack(state)

    def accel(q, v):
        return _accelerations(q[1], v[1], force, params, state, xp)

    (x, theta), (x_dot, theta_dot) = integrator(accel, (x, theta), (x_dot, theta_dot), tau)
    return xp.stack(x, x_dot, theta, theta_dot)  # pack()


def reward(
    state: Array,
    action: Optional[Array],
    next_state: Array,
    params: Optional[CartPoleParams] = None,
) -> Array:
    """Gymnasium's reward: 1.0 for every step taken (shape ``[...]``, the state's dtype)."""
    return ops(next_state).full(next_state.shape[:-1], 1.0, next_state)


def terminated(state: Array, params: Optional[CartPoleParams] = None) -> Array:
    """Boolean ``[...]``: the cart left the track or the pole fell past the threshold."""
    params = DEFAULT_PARAMS if params is None else params
    x, _, theta, _ = unpack(state)
    if params._tensor_fields:
        xp = ops(state)
        x_limit = xp.cast(params.x_threshold, state)
        theta_limit = xp.cast(params.theta_threshold, state)
    else:
        x_limit, theta_limit = params.x_threshold, params.theta_threshold
    # |x| > L is x < −L or x > L (both False for NaN), in two operations fewer.
    return (abs(x) > x_limit) | (abs(theta) > theta_limit)


def observe(state: Array) -> Array:
    """Gymnasium's observation: the state itself (the env layer casts it to float32)."""
    return state


def sample_initial(
    batch_shape: Union[int, Sequence[int]] = (),
    *,
    generator: Union[torch.Generator, np.random.Generator, None] = None,
    dtype: Any = None,
    device: Union[str, torch.device, None] = None,
    low: float = -0.05,
    high: float = 0.05,
) -> Array:
    """Draw initial states ``[*batch_shape, 4]`` with every entry ~ U(low, high).

    Args:
        batch_shape: Leading shape of the batch (an int for one dimension).
        generator: A ``torch.Generator`` for reproducibility (no hidden global RNG when
            given; torch's default generator otherwise), or a ``numpy.random.Generator``
            for a NumPy result (as the vector envs draw, from their ``np_random``).
        dtype, device: Of the result (torch's defaults otherwise; NumPy: a NumPy dtype,
            float64 by default, and no device).
        low, high: Bounds of the uniform distribution (Gymnasium: ±0.05).
    """
    shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
    u = rand((*shape, STATE_SIZE), generator, dtype, device)
    return low + (high - low) * u


def _reset_bounds(options: Optional[dict]) -> tuple[float, float]:
    """Gymnasium's ``reset(options={"low": ..., "high": ...})`` bounds (±0.05 by default)."""
    if not options:  # the vector env's every autoreset: nothing to parse
        return -0.05, 0.05
    low = option_number(options, "low", -0.05)
    high = option_number(options, "high", 0.05)
    if low > high:
        raise ValueError(f"reset options: low ({low}) must not exceed high ({high})")
    return low, high


def reset_state(np_random: np.random.Generator, options: Optional[dict] = None) -> np.ndarray:
    """Gymnasium's single-env reset draw: ``np_random.uniform(low, high, size=(4,))``."""
    low, high = _reset_bounds(options)
    return np_random.uniform(low=low, high=high, size=(STATE_SIZE,))


def reset_batch(
    np_random: np.random.Generator, count: int, options: Optional[dict] = None
) -> np.ndarray:
    """Gymnasium's ``CartPoleVectorEnv`` draw: ``uniform(low, high, size=(4, count))``."""
    low, high = _reset_bounds(options)
    return np_random.uniform(low=low, high=high, size=(STATE_SIZE, count))


def balance_loss(states: Any, alive: Any, params: Optional[CartPoleParams] = None) -> Any:
    """The differentiable stand-in for CartPole's return, per element ``[B]``.

    ``sum_t alive[t] · ((x_{t+1} / x_threshold)² + (θ_{t+1} / θ_threshold)²)`` over the
    states ``[T+1, B, 4]`` after each step: the squared distance from the upright centred
    state, in units of the termination thresholds, while the episode runs. The +1 reward
    per step is piecewise constant in the policy (no gradient); this cost is smooth and is
    lowest where the episode lasts.
    """
    params = DEFAULT_PARAMS if params is None else params
    x, _, theta, _ = unpack(states[1:])
    cost = (x / params.x_threshold) ** 2 + (theta / params.theta_threshold) ** 2
    return (cost * alive).sum(0)


def _env_reward(state, action, next_state, terminated, params, options):
    """Gymnasium's reward under the ``sutton_barto_reward`` option (see :data:`SYSTEM`):
    0 per step, −1 at termination; else :func:`reward`."""
    if not options.get("sutton_barto_reward", False):
        return reward(state, action, next_state, params)
    if isinstance(terminated, (bool, np.bool_)):
        return -1.0 if terminated else 0.0
    if isinstance(terminated, torch.Tensor):
        return torch.where(terminated, -1.0, 0.0).to(next_state.dtype)
    return np.where(terminated, -1.0, 0.0)


def _after_termination_reward(options: dict) -> float:
    return -1.0 if options.get("sutton_barto_reward", False) else 0.0


def _observation_high(params: CartPoleParams) -> tuple[float, ...]:
    return (2 * float(params.x_threshold), math.inf, 2 * float(params.theta_threshold), math.inf)


def _push_bounds(params: CartPoleParams) -> tuple[float, float]:
    return (-1.0, 1.0)


SYSTEM = System(
    name="cartpole",
    title="CartPole",
    module=__name__,
    state_names=STATE_NAMES,
    state_units=STATE_UNITS,
    observation_names=STATE_NAMES,
    params_type=CartPoleParams,
    default_params=DEFAULT_PARAMS,
    dt_field="tau",
    default_integrator=DEFAULT_INTEGRATOR,
    action_unit="push in [-1, 1] (force = push · force_mag N)",
    action_bounds=_push_bounds,
    discrete_actions=(-1.0, 1.0),
    step=step,
    step_unchecked=_step,
    reward=reward,
    terminated=terminated,
    observe=observe,
    observation_high=_observation_high,
    sample_initial=sample_initial,
    reset_state=reset_state,
    reset_batch=reset_batch,
    reward_type=float,
    vector_reward_dtype="float32",
    env_options={"sutton_barto_reward": False},
    env_reward=_env_reward,
    after_termination_reward=_after_termination_reward,
    training_loss=balance_loss,
    render="diffsim.envs.render:cartpole_frame",
    render_fps=50,
    env_attributes={
        "gravity": "gravity",
        "masscart": "masscart",
        "masspole": "masspole",
        "total_mass": "total_mass",
        "length": "length",
        "polemass_length": "polemass_length",
        "force_mag": "force_mag",
        "tau": "tau",
        "theta_threshold_radians": "theta_threshold",
        "x_threshold": "x_threshold",
    },
    integrator_attribute="kinematics_integrator",
    env_action_dtype="float64",
)
"""CartPole's :class:`~diffsim.systems.System` description (registered as ``"cartpole"``).

Gymnasium's options: ``sutton_barto_reward`` (reward 0 per step, −1 at termination and
after it). Steps taken after termination warn and pay 0 (−1 with that option), as Gymnasium's
env does. Vector rewards are float32, as Gymnasium's ``CartPoleVectorEnv``'s, whose reset
draw ``uniform(low, high, size=(4, count))`` :func:`reset_batch` is. Gymnasium's public
attributes (``gravity``, ..., ``theta_threshold_radians``, ``kinematics_integrator``) are
read-only views onto the parameters. A continuous push reaches the physics as float64 (the
float32 action's value, exactly).
"""
