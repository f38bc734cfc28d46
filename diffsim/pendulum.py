"""Differentiable Pendulum: a rigid rod swung up by a torque at its pivot.

Source of the equations: Gymnasium's ``Pendulum-v1``
(``gymnasium/envs/classic_control/pendulum.py``), summarised in
``docs/reference_dynamics.md``. The defaults reproduce it step for step (see
"Precision" below); :meth:`PendulumParams.variant_2019` is the version the 2019 "∂P vs RL"
post trained on (Gym.jl): torque never clipped, angle updated with the *unclipped* speed.

State ``[..., 2]`` in Gymnasium's order (:func:`unpack` / :func:`pack`):

=====  ==========  ==============================================================
index  name        meaning
=====  ==========  ==============================================================
0      theta       angle from upright, rad (not wrapped; 0 = upright)
1      theta_dot   angular velocity, rad/s
=====  ==========  ==============================================================

Action ``[...]`` or ``[..., 1]``: torque at the pivot, N·m. With the default parameters it
is clipped to ±``max_torque`` (2 N·m), as Gymnasium does; the clip passes gradients inside
the bounds and zero gradient beyond them.

One step, in Gymnasium's order (semi-implicit Euler by default)::

    u      = clip(u, −max_torque, max_torque)
    θ̇'     = clip(θ̇ + (3g/(2l)·sin θ + 3/(m·l²)·u)·dt, −max_speed, max_speed)
    θ'     = θ + θ̇'·dt

The speed clip saturates the gradient: in a clipped state ∂θ̇'/∂(θ, θ̇, u) = 0, which is the
true derivative of these dynamics. Other integrators (``"euler"``, ``"rk4"``) are offered
for experiments; they apply the speed clip at the end of the step.

Cost, on the pre-step state and the clipped torque (:func:`cost`; the reward is −cost)::

    angle_normalize(θ)² + 0.1·θ̇² + 0.001·u²,   angle_normalize(x) = ((x + π) mod 2π) − π

``mod`` is piecewise linear with slope 1, so the cost's gradient is 2·angle_normalize(θ)
everywhere except at the wrap θ = π (mod 2π), where it jumps. Pendulum never terminates;
its episodes are truncated at 200 steps by the environment.
Initial states: θ ~ U(−π, π), θ̇ ~ U(−1, 1) (:func:`sample_initial`).

Precision: Gymnasium keeps its state in float64 but, under NumPy 2's promotion rules, forms
the torque term 3/(m·l²)·u in float32. A float64 step here therefore agrees with it to float32
rounding of that term, and whole trajectories drift apart slowly because the swing is chaotic.

Arrays: :func:`step`, :func:`cost`, :func:`reward`, :func:`terminated` and :func:`observe`
take torch tensors or NumPy arrays and return the input's library, as
:mod:`diffsim.cartpole` does (one set of equations, :mod:`diffsim._array`).
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
from ._validation import (
    Scalar,
    check_action,
    check_param_shapes,
    checked_step,
    stack_components,
)
from .integrators import Integrator
from .systems import System, option_number

STATE_NAMES = ("theta", "theta_dot")
"""Names of the state entries, in order."""
STATE_UNITS = ("rad", "rad/s")
"""SI units of the state entries, in order."""
STATE_SIZE = 2
DEFAULT_INTEGRATOR = "semi_implicit_euler"
UNCLIPPED_TORQUE_FACTOR = 500.0
"""The unclipped variant's torque bound in units of ``max_torque``
(:attr:`PendulumParams.torque_bound`)."""


@dataclasses.dataclass(frozen=True)
class PendulumParams(Params):
    """Physical parameters of Pendulum; defaults are Gymnasium's ``Pendulum-v1``.

    Every numeric field may be a Python float or a tensor (per batch element, requiring
    grad). The two flags select the update rule; :meth:`variant_2019` sets both off.
    """

    max_speed: Scalar = 8.0
    """Limit on the angular speed, rad/s."""
    max_torque: Scalar = 2.0
    """Limit on the applied torque, N·m (when ``clip_torque``)."""
    dt: Scalar = 0.05
    """Time step, s."""
    g: Scalar = 10.0
    """Gravitational acceleration, m/s²."""
    m: Scalar = 1.0
    """Mass of the rod, kg."""
    l: Scalar = 1.0  # noqa: E741 (Gymnasium's name)
    """Length of the rod, m."""
    clip_torque: bool = True
    """Clip the torque to ±max_torque (Gymnasium). False in the 2019 variant."""
    position_uses_clipped_speed: bool = True
    """Update θ with the clipped speed (Gymnasium); False in the 2019 variant, which updates θ
    with the unclipped speed and clips afterwards."""

    _positive = ("max_speed", "max_torque", "dt", "g", "m", "l")
    _flags = ("clip_torque", "position_uses_clipped_speed")

    @classmethod
    def variant_2019(cls, **changes: Scalar) -> PendulumParams:
        """The Gym.jl pendulum of the 2019 post: unclipped torque, θ from the unclipped speed."""
        return cls(clip_torque=False, position_uses_clipped_speed=False, **changes)

    @property
    def torque_bound(self) -> Scalar:
        """The largest torque magnitude (N·m) accepted when the torque is not clipped:
        ``UNCLIPPED_TORQUE_FACTOR · max_torque`` (1000 N·m with the defaults).

        Only the unclipped variant (``clip_torque=False``) needs a bound: a clipped torque
        never exceeds ``max_torque``. The envs refuse larger actions (``ValueError``), as
        does :func:`step` under :func:`diffsim.debug_checks`.
        """
        # Why 500·max_torque: with the defaults a torque of about 110 N·m already takes the
        # speed from −8 to +8 rad/s in one step, so beyond it a torque changes only θ (moved
        # with the unclipped speed) and the cost; 1000 N·m leaves a 9× margin above that,
        # while one step then moves θ by at most about 8 rad and costs at most about 1.1e3,
        # far from float32's overflow (3.4e38).
        return UNCLIPPED_TORQUE_FACTOR * self.max_torque

    @property
    def inertia(self) -> Scalar:
        """The rod's moment of inertia about its end, m·l²/3, kg·m²."""
        return self.m * self.l**2 / 3.0


DEFAULT_PARAMS = PendulumParams()


def unpack(state: Array) -> tuple[Array, Array]:
    """Split a state ``[..., 2]`` into ``(theta, theta_dot)``, each ``[...]`` (NumPy scalars for
    a single NumPy state ``[2]``, as :func:`diffsim.cartpole.unpack`)."""
    if isinstance(state, np.ndarray) and state.ndim == 1:
        theta, theta_dot = scalars(state)
        return theta, theta_dot
    return state[..., 0], state[..., 1]


def pack(theta: Array, theta_dot: Array) -> Array:
    """Stack ``(theta, theta_dot)`` (broadcast together) into a state ``[..., 2]``.

    Laid out component-major, like :func:`diffsim.cartpole.pack` (``.contiguous()`` for
    row-major).
    """
    return stack_components(theta, theta_dot)


def angle_normalize(theta: Array) -> Array:
    """Wrap an angle to [−π, π): ``((θ + π) mod 2π) − π``."""
    return ops(theta).remainder(theta + math.pi, 2 * math.pi) - math.pi


def _torque(action: Array, params: PendulumParams, like: Array) -> Array:
    if not params.clip_torque:
        return action
    xp = ops(like)
    limit = xp.cast(params.max_torque, like) if params._tensor_fields else params.max_torque
    return xp.clip(action, -limit, limit)


def _clip_speed(v: Array, params: PendulumParams, like: Array) -> Array:
    xp = ops(like)
    limit = xp.cast(params.max_speed, like) if params._tensor_fields else params.max_speed
    return xp.clip(v, -limit, limit)


def step(
    state: Array,
    action: Array,
    params: Optional[PendulumParams] = None,
    integrator: Union[str, Integrator] = DEFAULT_INTEGRATOR,
) -> Array:
    """Advance Pendulum by one time step ``params.dt``.

    Args:
        state: ``[..., 2]`` floating tensor (or NumPy array) ``(theta, theta_dot)`` in rad,
            rad/s.
        action: ``[...]`` or ``[..., 1]`` torque in N·m (clipped to ±max_torque unless the
            params say otherwise); floating dtype, of the state's library.
        params: Physical parameters (defaults: Gymnasium's Pendulum-v1). A tensor field's
            shape must broadcast to the state's batch shape ``state.shape[:-1]`` (e.g.
            ``[B]`` or ``()`` for a ``[B, 2]`` state); the result keeps that batch shape.
        integrator: ``"semi_implicit_euler"`` (default, Gymnasium's order), ``"euler"``,
            ``"rk4"`` or an :class:`~diffsim.integrators.Integrator`.

    Returns:
        The next state, ``[..., 2]``, of the state's library, dtype and device.

    Raises:
        TypeError, ValueError: for a state or action of the wrong type, dtype or shape,
            parameters whose batch shape does not fit the state's, or an unknown integrator
            (no host synchronisation unless debug checks are on). Under
            :func:`diffsim.debug_checks`, also ``ValueError`` for an unclipped torque
            (``clip_torque=False``) beyond :attr:`PendulumParams.torque_bound`, and
            :class:`~diffsim.NonFiniteError` for a non-finite input or result.
    """
    return checked_step(
        "Pendulum",
        STATE_SIZE,
        DEFAULT_PARAMS,
        _step,
        state,
        action,
        params,
        integrator,
        debug_check=_check_torque_bound,
    )


def _check_torque_bound(state: Array, action: Array, params: PendulumParams) -> None:
    """Debug check (reads values): an unclipped torque must lie within ``torque_bound``."""
    if params.clip_torque:
        return

    def host(x: Any) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            return x.detach().to(device="cpu", dtype=torch.float64).numpy()
        return np.asarray(x, dtype=np.float64)

    torque, bound = host(action), host(params.torque_bound)
    over = np.abs(torque) > bound
    if over.any():
        index = tuple(np.argwhere(over)[0].tolist())
        value = np.broadcast_to(torque, over.shape)[index]
        limit = np.broadcast_to(bound, over.shape)[index]
        raise ValueError(
            f"Pendulum action (torque) must lie within ±torque_bound = ±{limit:g} N·m "
            f"({UNCLIPPED_TORQUE_FACTOR:g}·max_torque) when the torque is not clipped "
            f"(clip_torque=False), got {value:g} N·m at batch index {index}"
        )


def _step(state: Array, action: Array, params: PendulumParams, integrator: Integrator) -> Array:
    """The unchecked step (no validation, no host synchronisation)."""
    xp = ops(state)
    u = _torque(action, params, state)
    if params._tensor_fields:
        g, m, length = (xp.cast(p, state) for p in (params.g, params.m, params.l))
        dt = xp.cast(params.dt, state)
    else:  # float parameters are used as they are (a cast would return them unchanged)
        g, m, length, dt = params.g, params.m, params.l, params.dt
    torque_term = 3.0 / (m * length**2) * u

    def accel(q, v):
        return (3 * g / (2 * length) * xp.sin(q[0]) + torque_term,)

    def limit(v):
        return (_clip_speed(v[0], params, state),)

    theta, theta_dot = unpack(state)
    if params.position_uses_clipped_speed:
        (theta,), (theta_dot,) = integrator(accel, (theta,), (theta_dot,), dt, limit)
    else:
        (theta,), (theta_dot,) = integrator(accel, (theta,), (theta_dot,), dt)
        (theta_dot,) = limit((theta_dot,))
    return xp.stack(theta, theta_dot)  # pack()


def cost(state: Array, action: Array, params: Optional[PendulumParams] = None) -> Array:
    """Gymnasium's cost ``[...]`` of taking ``action`` in ``state`` (pre-step, torque clipped).

    Shapes as :func:`step`'s (``ValueError`` for an action or tensor parameter that does not
    broadcast to the state's batch shape; no host synchronisation).
    """
    params = DEFAULT_PARAMS if params is None else params
    check_param_shapes(params, state.shape[:-1], "Pendulum")
    return _cost(state, check_action(action, state, "Pendulum"), params)


def _cost(state: Array, action: Array, params: PendulumParams) -> Array:
    """The unchecked :func:`cost` (the action already has the state's batch shape)."""
    u = _torque(action, params, state)
    theta, theta_dot = unpack(state)
    return angle_normalize(theta) ** 2 + 0.1 * theta_dot**2 + 0.001 * u**2


def reward(
    state: Array,
    action: Array,
    next_state: Array,
    params: Optional[PendulumParams] = None,
) -> Array:
    """Gymnasium's reward: −:func:`cost` of the pre-step state and the action."""
    return -cost(state, action, params)


def terminated(state: Array, params: Optional[PendulumParams] = None) -> Array:
    """Pendulum never terminates: all False, shape ``[...]``."""
    xp = ops(state)
    return xp.full(state.shape[:-1], False, state, dtype=xp.bool)


def observe(state: Array) -> Array:
    """Gymnasium's observation ``[..., 3]``: ``(cos θ, sin θ, θ̇)`` (row-major)."""
    xp = ops(state)
    theta, theta_dot = unpack(state)
    return xp.stack_rows(xp.cos(theta), xp.sin(theta), theta_dot)


def sample_initial(
    batch_shape: Union[int, Sequence[int]] = (),
    *,
    generator: Union[torch.Generator, np.random.Generator, None] = None,
    dtype: Any = None,
    device: Union[str, torch.device, None] = None,
    max_angle: float = math.pi,
    max_speed: float = 1.0,
) -> Array:
    """Draw initial states ``[*batch_shape, 2]``: θ ~ U(−max_angle, max_angle), θ̇ ~ U(−max_speed,
    max_speed) (Gymnasium: π and 1).

    ``generator``, ``dtype`` and ``device`` as :func:`diffsim.cartpole.sample_initial`'s (a
    ``numpy.random.Generator`` gives a NumPy array).
    """
    shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
    u = rand((*shape, STATE_SIZE), generator, dtype, device)
    if isinstance(u, np.ndarray):
        high = np.array([max_angle, max_speed], dtype=u.dtype)
    else:
        high = torch.tensor([max_angle, max_speed], dtype=u.dtype, device=u.device)
    return (2 * u - 1) * high


def reset_state(np_random: np.random.Generator, options: Optional[dict] = None) -> np.ndarray:
    """Gymnasium's reset draw: θ ~ U(−x_init, x_init), θ̇ ~ U(−y_init, y_init), with
    ``reset(options={"x_init": π, "y_init": 1.0})`` (Gymnasium's defaults)."""
    x = option_number(options, "x_init", math.pi)
    y = option_number(options, "y_init", 1.0)
    high = np.array([x, y])
    return np_random.uniform(low=-high, high=high)


def _apply_options(params: PendulumParams, options: dict) -> PendulumParams:
    """Gymnasium's constructor option ``g`` (gravity, m/s²) replaces ``params.g``."""
    if "g" not in options:
        return params
    return dataclasses.replace(params, g=option_number(options, "g", 10.0, "option"))


def _observation_high(params: PendulumParams) -> tuple[float, ...]:
    return (1.0, 1.0, float(params.max_speed))


def _torque_bounds(params: PendulumParams) -> tuple[float, float]:
    return (-float(params.max_torque), float(params.max_torque))


def _torque_limit(params: PendulumParams) -> Optional[float]:
    return None if params.clip_torque else float(params.torque_bound)


def _state_bounds(params: PendulumParams) -> tuple[tuple[float, float, bool], ...]:
    """θ is an angle (period 2π; the dynamics leave it unwrapped), θ̇ is clipped to
    ``±max_speed``."""
    speed = float(params.max_speed)
    return ((-math.pi, math.pi, True), (-speed, speed, False))


def state_from_observation(obs: Array) -> Array:
    """The state ``(θ, θ̇)`` ``[..., 2]`` of observations ``(cos θ, sin θ, θ̇)`` ``[..., 3]``,
    θ in (−π, π] (float32 observations give θ to float32's precision)."""
    if isinstance(obs, torch.Tensor):
        return torch.stack([torch.atan2(obs[..., 1], obs[..., 0]), obs[..., 2]], -1)
    obs = np.asarray(obs, dtype=np.float64)
    return np.stack([np.arctan2(obs[..., 1], obs[..., 0]), obs[..., 2]], -1)


SYSTEM = System(
    name="pendulum",
    title="Pendulum",
    module=__name__,
    state_names=STATE_NAMES,
    state_units=STATE_UNITS,
    observation_names=("cos_theta", "sin_theta", "theta_dot"),
    params_type=PendulumParams,
    default_params=DEFAULT_PARAMS,
    dt_field="dt",
    default_integrator=DEFAULT_INTEGRATOR,
    action_unit="N·m",
    action_bounds=_torque_bounds,
    action_limit=_torque_limit,
    step=step,
    step_unchecked=_step,
    reward=reward,
    terminated=terminated,
    observe=observe,
    observation_high=_observation_high,
    sample_initial=sample_initial,
    reset_state=reset_state,
    reward_type=np.float64,
    vector_reward_dtype="float64",
    env_options={"g": 10.0},
    apply_options=_apply_options,
    render="diffsim.envs.render:pendulum_frame",
    render_fps=30,
    env_attributes={name: name for name in ("max_speed", "max_torque", "dt", "g", "m", "l")},
    env_action_dtype="float32",
    state_bounds=_state_bounds,
    state_from_observation=state_from_observation,
)
"""Pendulum's :class:`~diffsim.systems.System` description (registered as ``"pendulum"``).

Gymnasium's option ``g`` sets gravity. Gymnasium has no vector Pendulum: the vector adapter
seeds one generator per sub-env, as ``make_vec(..., vectorization_mode="sync")`` does.
The torque reaches the physics as float32 (the action space's dtype), so that its term is
formed in float32 as in Gymnasium. Gymnasium's public attributes ``max_speed, max_torque,
dt, g, m, l`` are read-only views onto the parameters.
"""
