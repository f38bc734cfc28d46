"""Differentiable MountainCar: an underpowered car in a valley, pushed left or right.

Source: Gymnasium's ``MountainCar-v0`` (``gymnasium/envs/classic_control/mountain_car.py``),
after Moore, "Efficient Memory-based Learning for Robot Control", PhD thesis, University of
Cambridge, 1990, and Sutton & Barto, *Reinforcement Learning: An Introduction*, 1998,
Example 8.2; summarised in ``docs/reference_dynamics.md``. The defaults reproduce
Gymnasium's env step for step, bit for bit on NumPy float64.
:mod:`diffsim.continuous_mountain_car` is the continuous variant
(``MountainCarContinuous-v0``); it shares this module's track, reset draw and walls.

State ``[..., 2]`` in Gymnasium's order (:func:`unpack` / :func:`pack`):

=====  ==========  ==============================================================
index  name        meaning
=====  ==========  ==============================================================
0      position    the car's position along the x axis, m (the valley's bottom is near
                   −0.52; the goal flag stands at 0.5)
1      velocity    its velocity, m/s (one step is one second: ``dt = 1``)
=====  ==========  ==============================================================

Action ``[...]`` or ``[..., 1]``: a push in [−1, 1] (clipped beyond). Gymnasium's discrete
action 0 / 1 / 2 is the push −1 / 0 / +1 (:data:`SYSTEM`'s ``discrete_actions``); a
continuous push is what a gradient flows through (the differentiable rollout passes the
policy's output as it is).

One step, in Gymnasium's order (a semi-implicit Euler step of ``dt``, :data:`DEFAULT_INTEGRATOR`)::

    v' = clip(v + dt·(push·force − gravity·cos(3x)), −max_speed, max_speed)
    x' = clip(x + dt·v', min_position, max_position)
    v' = 0  if x' == min_position and v' < 0          (the inelastic left wall)

with ``force`` 0.001, ``gravity`` 0.0025, ``max_speed`` 0.07 and the track [−1.2, 0.6];
``dt = 1`` makes the products exact, so the float64 step is Gymnasium's own operations.
The track's height is ``0.45·sin(3x) + 0.55`` (:func:`height`; drawn, not integrated: the
gravity term is Gymnasium's ``cos(3x)``, not the slope of that curve).

Reward −1 per step (:func:`reward`). Termination when ``x ≥ goal_position`` (0.5) and
``v ≥ goal_velocity`` (0, Gymnasium's constructor option ``goal_velocity``). Reset:
``x ~ U(−0.6, −0.4)`` by one draw, ``v = 0`` (:func:`reset_state`; Gymnasium's
``reset(options={"low": ..., "high": ...})`` changes the bounds).

Gradients: the velocity clip, the position clip and the wall have zero gradient where they
act (a clipped quantity does not depend on its input; at the wall the velocity is set to 0)
and the clip's gradient is 1 inside and at its bounds; the reward is constant and the
termination a boolean, so gradient methods train on :func:`time_loss` (this car's
``System.training_loss``): :func:`energy_loss`, the energy the car still lacks for the goal
per step, plus :func:`arrival_time`, the episode's length with its last step counted by when
the car crossed the flag, whose gradient is the crossing time's (the continuous car trains on
:func:`speed_loss`).

Arrays: :func:`step`, :func:`reward`, :func:`terminated` and :func:`observe` take torch
tensors or NumPy arrays and return the input's library (one set of equations,
:mod:`diffsim._array`). On a single NumPy state the cosine is the C library's
(``math.cos``), as Gymnasium's; on arrays it is NumPy's, which equals it on the machines
the tests run on (``tests/test_mountain_car.py`` checks the vector env against
Gymnasium's).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import torch

from ._array import Array, ops, rand, scalars
from ._params import Params
from ._validation import Scalar, checked_step, stack_components
from .integrators import Integrator
from .systems import System, option_number

STATE_NAMES = ("position", "velocity")
"""Names of the state entries, in order (Gymnasium's)."""
STATE_UNITS = ("m", "m/s")
"""Units of the state entries, in order (one step is one second)."""
STATE_SIZE = 2
DEFAULT_INTEGRATOR = "semi_implicit_euler"
TRACK_FREQUENCY = 3.0
"""Angular frequency of the track, rad/m: the gravity term is ``cos(3x)`` and the drawn
height ``0.45·sin(3x) + 0.55`` (Gymnasium's constant 3)."""
TRACK_AMPLITUDE = 0.45
"""Amplitude of the drawn track's height, m (Gymnasium's ``_height``)."""
TRACK_OFFSET = 0.55
"""Offset of the drawn track's height, m (Gymnasium's ``_height``)."""
RESET_BOUNDS = (-0.6, -0.4)
"""Gymnasium's default bounds of the initial position, m (``reset(options={"low", "high"})``)."""


def _check_track(params: Any) -> None:
    """The track's bounds must be ordered (float fields only: tensors are not read)."""
    lo, hi = params.min_position, params.max_position
    if isinstance(lo, float) and isinstance(hi, float) and not lo < hi:
        raise ValueError(
            f"{type(params).__name__}: min_position ({lo}) must be below max_position ({hi})"
        )


@dataclasses.dataclass(frozen=True)
class MountainCarParams(Params):
    """Parameters of MountainCar; defaults are Gymnasium's ``MountainCar-v0``.

    Every field may be a Python float or a tensor (per batch element, requiring grad).
    Velocities are per step and one step is ``dt`` = 1 s, so that Gymnasium's per-step
    constants read as SI accelerations.
    """

    force: Scalar = 0.001
    """Acceleration of a full push (push ±1), m/s² (Gymnasium's ``force``)."""
    gravity: Scalar = 0.0025
    """Amplitude of the track's gravity term ``−gravity·cos(3x)``, m/s²."""
    max_speed: Scalar = 0.07
    """Limit on |velocity|, m/s."""
    min_position: Scalar = -1.2
    """The left end of the track (the inelastic wall), m."""
    max_position: Scalar = 0.6
    """The right end of the track, m (the position is clipped there; no wall)."""
    goal_position: Scalar = 0.5
    """Position at and beyond which the episode terminates (with ``goal_velocity``), m."""
    goal_velocity: Scalar = 0.0
    """Velocity the car must have at least at the goal, m/s (Gymnasium's option)."""
    dt: Scalar = 1.0
    """Time step, s (Gymnasium's step is one time unit)."""

    _positive = ("gravity", "max_speed", "dt")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_track(self)


DEFAULT_PARAMS = MountainCarParams()


def unpack(state: Array) -> tuple[Array, Array]:
    """Split a state ``[..., 2]`` into ``(position, velocity)``, each ``[...]`` (Python floats
    for a single NumPy float64 state ``[2]``, as :func:`diffsim.cartpole.unpack`)."""
    if isinstance(state, np.ndarray) and state.ndim == 1:
        x, v = scalars(state)
        return x, v
    return state[..., 0], state[..., 1]


def pack(position: Array, velocity: Array) -> Array:
    """Stack ``(position, velocity)`` (broadcast together) into a state ``[..., 2]``
    (component-major, as :func:`diffsim.cartpole.pack`)."""
    return stack_components(position, velocity)


def cos_track(x: Array) -> Array:
    """``cos(3x)``: the C library's cosine for a Python float (Gymnasium's ``math.cos``),
    else the array library's."""
    if isinstance(x, float):
        return math.cos(TRACK_FREQUENCY * x)
    return ops(x).cos(TRACK_FREQUENCY * x)


def height(x: Array) -> Array:
    """The drawn track's height ``0.45·sin(3x) + 0.55``, m (Gymnasium's ``_height``; NumPy
    for floats and arrays, torch for tensors)."""
    sin = torch.sin if isinstance(x, torch.Tensor) else np.sin
    return sin(TRACK_FREQUENCY * x) * TRACK_AMPLITUDE + TRACK_OFFSET


def select(condition: Any, yes: Any, no: Any) -> Any:
    """``yes`` where ``condition`` holds, else ``no``: a Python conditional for a scalar
    condition, ``torch.where`` / ``numpy.where`` for arrays."""
    if isinstance(condition, (bool, np.bool_)):
        return yes if condition else no
    if isinstance(condition, torch.Tensor):
        return torch.where(condition, yes, no)
    return np.where(condition, yes, no)


def walls(position: Array, velocity: Array, params: Any, like: Array) -> tuple[Array, Array]:
    """Gymnasium's ends of the track: the position clipped to ``[min_position,
    max_position]``, then the velocity set to 0 where the car stands at the left end moving
    left (the inelastic wall). Returns ``(position, velocity)``."""
    xp = ops(like)
    lo = xp.cast(params.min_position, like)
    hi = xp.cast(params.max_position, like)
    position = xp.clip(position, lo, hi)
    at_wall = (position == lo) & (velocity < 0)
    return position, select(at_wall, 0.0, velocity)


def clip_speed(velocity: Array, params: Any, like: Array) -> Array:
    """The velocity clipped to ``±max_speed``."""
    xp = ops(like)
    limit = xp.cast(params.max_speed, like)
    return xp.clip(velocity, -limit, limit)


def step(
    state: Array,
    action: Array,
    params: Optional[MountainCarParams] = None,
    integrator: Union[str, Integrator] = DEFAULT_INTEGRATOR,
) -> Array:
    """Advance MountainCar by one time step ``params.dt``.

    Args:
        state: ``[..., 2]`` floating tensor (or NumPy array) ``(position, velocity)`` in m,
            m/s.
        action: ``[...]`` or ``[..., 1]`` push in [−1, 1] (clipped beyond; Gymnasium's
            discrete action minus 1); floating dtype, of the state's library.
        params: Parameters (defaults: Gymnasium's MountainCar-v0). A tensor field's shape
            must broadcast to the state's batch shape ``state.shape[:-1]``.
        integrator: ``"semi_implicit_euler"`` (default, Gymnasium's order), ``"euler"``,
            ``"rk4"`` or an :class:`~diffsim.integrators.Integrator`; the velocity clip is
            the integrator's velocity limit, the position clip and the wall follow the step.

    Returns:
        The next state, ``[..., 2]``, of the state's library, dtype and device.

    Raises:
        TypeError, ValueError: for a state or action of the wrong type, dtype or shape,
            parameters whose batch shape does not fit the state's, or an unknown integrator
            (no host synchronisation unless :func:`diffsim.debug_checks` is active).
    """
    return checked_step(
        "MountainCar", STATE_SIZE, DEFAULT_PARAMS, _step, state, action, params, integrator
    )


def _step(state: Array, action: Array, params: MountainCarParams, integrator: Integrator) -> Array:
    """The unchecked step (no validation, no host synchronisation)."""
    xp = ops(state)
    if isinstance(action, np.generic):
        action = float(action)
    push = xp.clip(action, -1.0, 1.0)
    force = push * xp.cast(params.force, state)
    gravity = xp.cast(params.gravity, state)

    def accel(q, v):
        return (force - gravity * cos_track(q[0]),)

    def limit(v):
        return (clip_speed(v[0], params, state),)

    x, v = unpack(state)
    (x,), (v,) = integrator(accel, (x,), (v,), xp.cast(params.dt, state), limit)
    x, v = walls(x, v, params, state)
    return pack(x, v)


def reward(
    state: Array,
    action: Optional[Array],
    next_state: Array,
    params: Optional[MountainCarParams] = None,
) -> Array:
    """Gymnasium's reward: −1.0 for every step (shape ``[...]``, the state's dtype)."""
    return ops(next_state).full(next_state.shape[:-1], -1.0, next_state)


def terminated(state: Array, params: Optional[MountainCarParams] = None) -> Array:
    """Boolean ``[...]``: the car is at or beyond the goal, moving right at least at
    ``goal_velocity``."""
    params = DEFAULT_PARAMS if params is None else params
    xp = ops(state)
    x, v = unpack(state)
    return (x >= xp.cast(params.goal_position, state)) & (v >= xp.cast(params.goal_velocity, state))


def observe(state: Array) -> Array:
    """Gymnasium's observation: the state itself (the env layer casts it to float32)."""
    return state


def sample_initial(
    batch_shape: Union[int, Sequence[int]] = (),
    *,
    generator: Union[torch.Generator, np.random.Generator, None] = None,
    dtype: Any = None,
    device: Union[str, torch.device, None] = None,
    low: float = RESET_BOUNDS[0],
    high: float = RESET_BOUNDS[1],
) -> Array:
    """Draw initial states ``[*batch_shape, 2]``: position ~ U(low, high), velocity 0.

    ``generator``, ``dtype`` and ``device`` as :func:`diffsim.cartpole.sample_initial`'s (a
    ``numpy.random.Generator`` gives a NumPy array). One uniform draw per state.
    """
    shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
    u = rand(shape, generator, dtype, device)
    x = low + (high - low) * u
    return pack(x, 0.0 * u)


def reset_bounds(options: Optional[Mapping[str, Any]]) -> tuple[float, float]:
    """Gymnasium's ``reset(options={"low": ..., "high": ...})`` bounds of the initial
    position (−0.6, −0.4 by default).

    Raises:
        ValueError: for a bound that is not a finite real number, or ``low > high``.
    """
    low = option_number(options, "low", RESET_BOUNDS[0])
    high = option_number(options, "high", RESET_BOUNDS[1])
    if low > high:
        raise ValueError(f"reset options: low ({low}) must not exceed high ({high})")
    return low, high


def reset_state(
    np_random: np.random.Generator, options: Optional[Mapping[str, Any]] = None
) -> np.ndarray:
    """Gymnasium's reset draw: ``[np_random.uniform(low, high), 0]`` (one draw), float64."""
    low, high = reset_bounds(options)
    return np.array([np_random.uniform(low=low, high=high), 0.0])


def apply_goal_velocity(params: Any, options: Mapping[str, Any]) -> Any:
    """Gymnasium's constructor option ``goal_velocity`` (m/s) replaces
    ``params.goal_velocity``."""
    if "goal_velocity" not in options:
        return params
    value = option_number(options, "goal_velocity", 0.0, "option")
    return dataclasses.replace(params, goal_velocity=value)


def observation_high(params: Any) -> tuple[float, ...]:
    """The observation Box's upper bounds, Gymnasium's: ``(max_position, max_speed)``."""
    return (float(params.max_position), float(params.max_speed))


def observation_low(params: Any) -> tuple[float, ...]:
    """The observation Box's lower bounds, Gymnasium's: ``(min_position, −max_speed)``."""
    return (float(params.min_position), -float(params.max_speed))


def track_bounds(params: Any) -> tuple[tuple[float, float, bool], ...]:
    """The position's clip ``[min_position, max_position]`` and the velocity's
    ``±max_speed`` (both cars)."""
    speed = float(params.max_speed)
    return (
        (float(params.min_position), float(params.max_position), False),
        (-speed, speed, False),
    )


def energy(state: Array, params: Any = None) -> Array:
    """The car's mechanical energy per unit mass ``[...]``, m²/s²:
    ``gravity/3·sin(3x) + v²/2``, whose potential term is the one of the gravity term
    ``−gravity·cos(3x)`` (the unforced, unclipped dynamics keep it nearly constant)."""
    params = DEFAULT_PARAMS if params is None else params
    x, v = unpack(state)
    return params.gravity / TRACK_FREQUENCY * ops(state).sin(TRACK_FREQUENCY * x) + 0.5 * v * v


def energy_loss(states: Any, alive: Any, params: Any = None) -> Any:
    """The differentiable stand-in for the mountain car's return, per element ``[B]``.

    ``sum_t alive[t] · (E_goal − E(s_{t+1})) / (E_goal − E_min)`` over the states
    ``[T+1, B, 2]`` after each step, with :func:`energy` ``E``, ``E_goal`` the energy of the
    car at ``goal_position`` moving at ``max(goal_velocity, 0)`` and ``E_min = −gravity/3``
    the valley's bottom at rest: every step of the episode costs the energy the car still
    lacks, between 1 (at rest at the bottom) and about 0 (at the goal). Reaching the goal
    needs that energy (the push adds less than gravity takes on the climb), and the rewards
    (−1 per step; the continuous car's ``100·[terminated]``) are piecewise constant in the
    policy, while this cost is smooth: its gradient pumps energy into the swing at every
    step, and it is lowest for episodes that gain the energy early and end soon. It is a
    proxy: the policy is judged on the return. It works for both cars' parameters (the
    continuous car's action cost is not in it).
    """
    return (energy_deficit(states[1:], params) * alive).sum(0)


def energy_deficit(states: Any, params: Any = None) -> Any:
    """The energy the car lacks, ``(E_goal − E(s)) / (E_goal − E_min)`` per state ``[...]``
    (torch), as :func:`energy_loss` defines it: 1 at rest at the valley's bottom, 0 at the
    goal moving at ``max(goal_velocity, 0)``, negative beyond."""
    params = DEFAULT_PARAMS if params is None else params
    g = params.gravity
    goal_v = params.goal_velocity
    goal_v = goal_v.clamp(min=0.0) if isinstance(goal_v, torch.Tensor) else max(goal_v, 0.0)
    goal_x = params.goal_position
    sin_goal = (torch.sin if isinstance(goal_x, torch.Tensor) else math.sin)(
        TRACK_FREQUENCY * goal_x
    )
    e_goal = g / TRACK_FREQUENCY * sin_goal + 0.5 * goal_v * goal_v
    e_min = -g / TRACK_FREQUENCY
    return (e_goal - energy(states, params)) / (e_goal - e_min)


ARRIVAL_WEIGHT = 100.0
"""Weight of :func:`arrival_time` against :func:`energy_loss` in :func:`time_loss` (one step
of arrival time costs as much as a hundred steps at the valley's bottom, so that once the car
reaches the goal the time dominates the gradient)."""


def arrival_time(states: Any, alive: Any, params: Any = None) -> Any:
    """The episode's length in steps, with the last step counted by when it crossed the goal,
    per element ``[B]``.

    With ``alive`` ``[T, B]`` (1 for the steps taken in the episode) and the states
    ``[T+1, B, 2]`` (frozen after the end, as :func:`~diffsim.envs.rollout.rollout`'s
    ``on_terminate="mask"`` leaves them): ``sum_t alive[t] − (1 − f)`` for an episode that
    ended by reaching the goal at step ``k`` (``alive[k]`` and :func:`terminated` of
    ``s_{k+1}``), where ``f = (goal_position − x_k) / (x_{k+1} − x_k)`` in (0, 1] is the
    fraction of that step the car took to reach the flag, its positions interpolated
    linearly within the step; ``sum_t alive[t]`` (the length) otherwise. Its value is at most
    the return's ``−1`` per step away from ``−return`` (less than one step), and its gradient
    is that of the crossing time: ``−(∂x/∂θ at the crossing) / (x_{k+1} − x_k)``, the event
    time's sensitivity (the same rule as the trebuchet's landing time). Episodes that did not
    reach the goal, and a crossing from a start already past the flag (``x_k ≥
    goal_position``, or ``x_{k+1} = x_k`` at the right wall), count whole steps and have zero
    gradient: :func:`time_loss` adds the energy deficit for them.
    """
    params = DEFAULT_PARAMS if params is None else params
    x = states[..., 0]
    before, after = x[:-1], x[1:]
    ended = (alive > 0) & terminated(states[1:], params)
    goal = params.goal_position
    moved = after - before
    crossing = ended & (before < goal) & (moved > 0)
    safe = torch.where(crossing, moved, torch.ones_like(moved))
    fraction = torch.where(crossing, (goal - before) / safe, torch.ones_like(moved))
    return alive.sum(0) - (ended.to(x.dtype) * (1.0 - fraction)).sum(0)


def time_loss(states: Any, alive: Any, params: Any = None) -> Any:
    """The discrete car's differentiable stand-in for its return (``System.training_loss``),
    per element ``[B]``: ``energy_loss + ARRIVAL_WEIGHT · arrival_time``.

    The return is minus the number of steps before the goal. While the car does not reach
    the goal, :func:`arrival_time` is the horizon and has no gradient, and the energy deficit
    (:func:`energy_loss`) pumps energy into the swing; once it reaches the goal, the arrival
    time's gradient asks for an earlier crossing, which is what the return rewards. The
    energy deficit alone is not enough: its integrand is about 0 at the goal, so ending a
    step sooner barely lowers it, and a policy that pumps along the velocity (about 120
    steps on Gymnasium's starts) is near its optimum, where the fastest policies need about
    100 (``docs/reference_dynamics.md``). Torch tensors only. It is a proxy: the policy is
    judged on the return.
    """
    return energy_loss(states, alive, params) + ARRIVAL_WEIGHT * arrival_time(states, alive, params)


def speed_loss(states: Any, alive: Any, params: Any = None) -> Any:
    """The continuous car's differentiable stand-in for its return, per element ``[B]``.

    ``sum_t alive[t] · (1 − (v_{t+1} / max_speed)²)`` over the states ``[T+1, B, 2]`` after
    each step: every step of the episode costs the speed the car lacks, between 1 (at rest)
    and 0 (at the speed limit). Unlike :func:`energy_loss`, it gives nothing for height
    alone: a constant push that holds the car still on a slope (a force beyond gravity's
    pull ``gravity·cos(3x)``, which the continuous car's full power exceeds on most of the
    valley) costs the full 1 per step, where its height would make it a local optimum of the
    energy deficit. Speed is gained by pushing along the velocity, and the energy that
    carries the car to the goal is gained the same way. It is a proxy: the policy is judged
    on the return (BPTT's ``loss="shaped"`` adds the return's own differentiable part, the
    continuous car's ``−0.1·a²``). It works for both cars' parameters.
    """
    params = DEFAULT_PARAMS if params is None else params
    speed = states[1:, ..., 1] / params.max_speed
    return ((1.0 - speed * speed) * alive).sum(0)


def _push_bounds(params: MountainCarParams) -> tuple[float, float]:
    return (-1.0, 1.0)


SYSTEM = System(
    name="mountaincar",
    title="MountainCar",
    module=__name__,
    state_names=STATE_NAMES,
    state_units=STATE_UNITS,
    observation_names=STATE_NAMES,
    params_type=MountainCarParams,
    default_params=DEFAULT_PARAMS,
    dt_field="dt",
    default_integrator=DEFAULT_INTEGRATOR,
    action_unit="push in [-1, 1] (acceleration = push · force m/s²)",
    action_bounds=_push_bounds,
    discrete_actions=(-1.0, 0.0, 1.0),
    step=step,
    step_unchecked=_step,
    reward=reward,
    terminated=terminated,
    observe=observe,
    observation_high=observation_high,
    observation_low=observation_low,
    sample_initial=sample_initial,
    reset_state=reset_state,
    reward_type=float,
    vector_reward_dtype="float64",
    env_options={"goal_velocity": 0.0},
    apply_options=apply_goal_velocity,
    state_bounds=track_bounds,
    training_loss=time_loss,
    render="diffsim.envs.render:mountain_car_frame",
    render_fps=30,
    env_attributes={
        name: name
        for name in (
            "min_position",
            "max_position",
            "max_speed",
            "goal_position",
            "goal_velocity",
            "force",
            "gravity",
        )
    },
    env_action_dtype="float64",
)
"""MountainCar's :class:`~diffsim.systems.System` description (registered as
``"mountaincar"``).

Discrete actions 0 / 1 / 2 push with −1 / 0 / +1. Gymnasium's option ``goal_velocity`` sets
:attr:`MountainCarParams.goal_velocity`. Gymnasium has no vector MountainCar: the vector
adapter seeds one generator per sub-env, as ``make_vec(..., vectorization_mode="sync")``
does, whose rewards are float64; the single env's reward is a Python float, as Gymnasium's.
Gymnasium's public attributes ``min_position, max_position, max_speed, goal_position,
goal_velocity, force, gravity`` are read-only views onto the parameters.
"""
