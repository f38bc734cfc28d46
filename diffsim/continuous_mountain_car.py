"""Differentiable MountainCarContinuous: the mountain car with a continuous force.

Source: Gymnasium's ``MountainCarContinuous-v0``
(``gymnasium/envs/classic_control/continuous_mountain_car.py``), the continuous version of
:mod:`diffsim.mountain_car` (Moore 1990; Sutton & Barto 1998); summarised in
``docs/reference_dynamics.md``. The track, the reset draw, the clips and the left wall are
:mod:`diffsim.mountain_car`'s; the state is the same ``(position m, velocity m/s)``.

Action ``[...]`` or ``[..., 1]``: the force, in [−1, 1] (Gymnasium's ``Box(-1, 1, (1,),
float32)``). One step (semi-implicit Euler, ``dt = 1``)::

    f  = min(max(a, min_action), max_action)                     (the clipped force)
    v' = clip(v + dt·(f·power − gravity·cos(3x)), −max_speed, max_speed)
    x' = clip(x + dt·v', min_position, max_position)
    v' = 0  if x' == min_position and v' < 0                       (the left wall)

with ``power`` 0.0015, ``gravity`` 0.0025, ``max_speed`` 0.07 and the track [−1.2, 0.6].
Termination when ``x' ≥ goal_position`` (0.45) and ``v' ≥ goal_velocity`` (0). The reward
takes the *unclipped* action: ``100·[terminated] − 0.1·a²`` (:func:`reward`), so an action
beyond ±1 pushes no harder but costs more; the envs therefore do not clip actions
(:data:`SYSTEM`'s ``action_limit`` is float32's largest value).

Precision (:attr:`ContinuousMountainCarParams.float32_rounding`, on by default): Gymnasium
re-casts its state to float32 at the end of every step, and under NumPy 2's promotion rules
(a Python float meeting a float32 scalar takes float32) the next step computes in float32:
``3·x`` and the force term ``f·power`` are float32 products, the velocity and position
updates float32 sums, while ``0.0025·cos(3x)`` is a double (``math.cos``) rounded to float32
where it meets a float32. The first step after a reset starts from the float64 draw and
computes in float64, but for the float32 force term. With the flag, a float64 step here
rounds the same intermediate results to float32 (a float64 operation on two float32 values
rounded to float32 is the float32 operation: float64 carries more than twice float32's
precision), so a NumPy float64 step equals Gymnasium's bit for bit. Which of the two a
state gets is read from its position: a float32 value steps as Gymnasium's float32 state,
any other (a fresh draw) as its float64 reset state; the result always holds float32
values (in the input's dtype). On torch float64 the same roundings are applied with
straight-through gradients (the value rounded, the gradient that of the unrounded
operation), so gradients are those of the float64 equations evaluated along the rounded
trajectory. ``float32_rounding=False`` gives the plain float64 equations (smooth between
the clips; what ``torch.autograd.gradcheck`` can check). Float32 states compute in
float32 either way.

Gradients: the force clip passes no gradient beyond ±1 (the reward's ``−0.1·a²`` still
does), and the velocity clip, the position clip and the wall none where they act, as in
:mod:`diffsim.mountain_car`; ``100·[terminated]`` is a step function (no gradient).
Gradient methods train on :func:`goal_loss`, the system's ``training_loss``: the goal bonus's
step replaced by the energy the car's best moment lacked, for episodes that miss the goal;
with the action cost (BPTT's ``loss="shaped"``) it is the return made differentiable. The
energy deficit summed over the steps (what the discrete car trains on) has a local optimum
here, a constant push holding the car high on the slope, which full power can do; the
speed deficit summed over the steps (:func:`diffsim.mountain_car.speed_loss`) asks for full
power all the way, about 8 points of return below the gentle pumping that is optimal.

gymnax (``RobertTLange/gymnax``, ``gymnax/environments/classic_control/
continuous_mountain_car.py`` at commit 086ad95697d5898b95ce3b14fa25f2b0bae4a1fc, line 65:
``velocity = velocity * (1 - (position >= params.goal_position) * (velocity < 0))``) zeroes
the velocity when the car is at or past the goal moving left, and has no left wall; its
discrete ``mountain_car.py`` tests ``position == params.min_position`` as Gymnasium does.
Gymnasium's left wall is the reference here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Union

import numpy as np
import torch

from ._array import Array, ops
from ._params import Params
from ._validation import Scalar, checked_step
from .integrators import Integrator
from .mountain_car import (
    DEFAULT_INTEGRATOR,
    STATE_NAMES,
    STATE_SIZE,
    STATE_UNITS,
    TRACK_FREQUENCY,
    _check_track,
    apply_goal_velocity,
    clip_speed,
    energy_deficit,
    observation_high,
    observation_low,
    pack,
    reset_state,
    sample_initial,
    select,
    track_bounds,
    unpack,
)
from .systems import System

__all__ = [
    "DEFAULT_PARAMS",
    "ContinuousMountainCarParams",
    "SYSTEM",
    "observe",
    "reward",
    "step",
    "terminated",
]

FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest |action| the envs accept (any finite float32: Gymnasium accepts any action)."""


@dataclasses.dataclass(frozen=True)
class ContinuousMountainCarParams(Params):
    """Parameters of MountainCarContinuous; defaults are Gymnasium's
    ``MountainCarContinuous-v0``.

    Every numeric field may be a Python float or a tensor (per batch element, requiring
    grad); ``float32_rounding`` selects Gymnasium's float32 arithmetic (module docstring).
    """

    power: Scalar = 0.0015
    """Acceleration per unit of force, m/s² (Gymnasium's ``power``)."""
    gravity: Scalar = 0.0025
    """Amplitude of the track's gravity term ``−gravity·cos(3x)``, m/s²."""
    max_speed: Scalar = 0.07
    """Limit on |velocity|, m/s."""
    min_position: Scalar = -1.2
    """The left end of the track (the inelastic wall), m."""
    max_position: Scalar = 0.6
    """The right end of the track, m."""
    goal_position: Scalar = 0.45
    """Position at and beyond which the episode terminates (with ``goal_velocity``), m."""
    goal_velocity: Scalar = 0.0
    """Velocity the car must have at least at the goal, m/s (Gymnasium's option)."""
    min_action: Scalar = -1.0
    """Lower bound of the force (the action is clipped to it for the dynamics)."""
    max_action: Scalar = 1.0
    """Upper bound of the force."""
    goal_reward: Scalar = 100.0
    """Reward of the terminating step (before the action cost)."""
    action_cost: Scalar = 0.1
    """Coefficient of the action cost ``action_cost·a²`` (a unclipped), per step."""
    dt: Scalar = 1.0
    """Time step, s (Gymnasium's step is one time unit)."""
    float32_rounding: bool = True
    """Round as Gymnasium's float32 state and float32 force term do (module docstring);
    False: the plain equations in the state's dtype."""

    _positive = ("gravity", "max_speed", "dt")
    _flags = ("float32_rounding",)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_track(self)
        lo, hi = self.min_action, self.max_action
        if isinstance(lo, float) and isinstance(hi, float) and not lo < hi:
            raise ValueError(
                f"ContinuousMountainCarParams: min_action ({lo}) must be below max_action ({hi})"
            )


DEFAULT_PARAMS = ContinuousMountainCarParams()


# -- float32 rounding -------------------------------------------------------------------------
# ``r(y)`` rounds to a float32 value (kept in float64); ``rm(y)`` rounds only where the step
# runs in float32 (the pre-step position is a float32 value), as Gymnasium's float32 state.


def _f32(y: float) -> float:
    return float(np.float32(y))


class _Exact:
    """No rounding: the plain equations (``float32_rounding=False``, or a non-float64 state)."""

    active = False

    @staticmethod
    def r(y: Any) -> Any:
        return y

    @staticmethod
    def rm(y: Any) -> Any:
        return y

    @staticmethod
    def eq(y: Any, bound: Any) -> Any:
        return y == bound


class _ScalarRounding:
    """A single NumPy float64 state, its entries Python floats."""

    active = True

    def __init__(self, in_float32: bool) -> None:
        self.in_float32 = in_float32

    @staticmethod
    def r(y: float) -> float:
        return _f32(y)

    def rm(self, y: float) -> float:
        return _f32(y) if self.in_float32 else y

    def eq(self, y: float, bound: float) -> bool:
        """``y == rm(bound)``: the comparison of Gymnasium's float32 or float64 state."""
        return y == self.rm(bound)


class _ArrayRounding:
    """A batch of NumPy float64 states."""

    active = True

    def __init__(self, in_float32: np.ndarray) -> None:
        self.in_float32 = in_float32

    @staticmethod
    def r(y: Any) -> Any:
        if isinstance(y, float):
            return _f32(y)
        return np.asarray(y, dtype=np.float64).astype(np.float32).astype(np.float64)

    def rm(self, y: Any) -> Any:
        return np.where(self.in_float32, self.r(y), y)

    def eq(self, y: Any, bound: Any) -> Any:
        return np.where(self.in_float32, y == self.r(bound), y == bound)


class _TorchRounding:
    """A batch of torch float64 states: rounded values, straight-through gradients."""

    active = True

    def __init__(self, in_float32: torch.Tensor) -> None:
        self.in_float32 = in_float32

    @staticmethod
    def r(y: Any) -> Any:
        if isinstance(y, float):
            return _f32(y)
        # y + (round(y) − y) is round(y) exactly (the difference is exact: Sterbenz).
        return y + (y.detach().to(torch.float32).to(y.dtype) - y.detach())

    def rm(self, y: torch.Tensor) -> torch.Tensor:
        return torch.where(self.in_float32, self.r(y), y)

    def eq(self, y: torch.Tensor, bound: Any) -> torch.Tensor:
        return torch.where(self.in_float32, y == self.r(bound), y == bound)


def _rounding(state: Array, x: Any, params: ContinuousMountainCarParams) -> Any:
    """The rounding of a step from ``state`` (position ``x``) under ``params``."""
    if not params.float32_rounding:
        return _Exact
    if isinstance(state, torch.Tensor):
        if state.dtype != torch.float64:
            return _Exact
        xd = x.detach()
        return _TorchRounding(xd == xd.to(torch.float32).to(torch.float64))
    if state.dtype != np.float64:
        return _Exact
    if isinstance(x, float):
        return _ScalarRounding(x == _f32(x))
    return _ArrayRounding(x == x.astype(np.float32).astype(np.float64))


def _threshold_rounding(state: Array, params: ContinuousMountainCarParams) -> Any:
    """How :func:`terminated` rounds its thresholds: to float32 where the state holds
    Gymnasium's float32 values (NumPy 2 compares a float32 with a Python float in float32)."""
    if not params.float32_rounding:
        return _Exact
    if isinstance(state, torch.Tensor):
        return _TorchRounding if state.dtype == torch.float64 else _Exact
    return _ArrayRounding if state.dtype == np.float64 else _Exact


def _action_values(action: Array, state: Array, x: Any) -> Array:
    """The action in the state's precision (a float32 action's value exactly): a Python
    float on the single-state path."""
    if isinstance(action, torch.Tensor):
        return action.to(state.dtype)
    if isinstance(x, float) and np.ndim(action) == 0:
        return float(action)
    if isinstance(action, np.generic):
        return action.astype(state.dtype)
    return np.asarray(action).astype(state.dtype, copy=False)


def _cos(y: Any) -> Any:
    """The C library's cosine for a Python float (Gymnasium's ``math.cos``), else the array
    library's."""
    return math.cos(y) if isinstance(y, float) else ops(y).cos(y)


def step(
    state: Array,
    action: Array,
    params: Optional[ContinuousMountainCarParams] = None,
    integrator: Union[str, Integrator] = DEFAULT_INTEGRATOR,
) -> Array:
    """Advance MountainCarContinuous by one time step ``params.dt``.

    Args:
        state: ``[..., 2]`` floating tensor (or NumPy array) ``(position, velocity)`` in m,
            m/s.
        action: ``[...]`` or ``[..., 1]`` force (clipped to ``[min_action, max_action]``
            for the dynamics); floating dtype, of the state's library.
        params: Parameters (defaults: Gymnasium's MountainCarContinuous-v0, with its float32
            rounding). A tensor field's shape must broadcast to ``state.shape[:-1]``.
        integrator: ``"semi_implicit_euler"`` (default, Gymnasium's order), ``"euler"``,
            ``"rk4"`` or an :class:`~diffsim.integrators.Integrator`.

    Returns:
        The next state, ``[..., 2]``, of the state's library, dtype and device (float32
        values in a float64 state under ``float32_rounding``).

    Raises:
        TypeError, ValueError: for a state or action of the wrong type, dtype or shape,
            parameters whose batch shape does not fit the state's, or an unknown integrator
            (no host synchronisation unless :func:`diffsim.debug_checks` is active).
    """
    return checked_step(
        "MountainCarContinuous",
        STATE_SIZE,
        DEFAULT_PARAMS,
        _step,
        state,
        action,
        params,
        integrator,
    )


def _step(
    state: Array, action: Array, params: ContinuousMountainCarParams, integrator: Integrator
) -> Array:
    """The unchecked step (no validation, no host synchronisation)."""
    xp = ops(state)
    x, v = unpack(state)
    a = _action_values(action, state, x)
    rnd = _rounding(state, x, params)
    lo_a, hi_a = xp.cast(params.min_action, state), xp.cast(params.max_action, state)
    force = xp.clip(a, lo_a, hi_a)
    inside = (a >= lo_a) & (a <= hi_a)  # Gymnasium's force is then the float32 action itself
    power = xp.cast(params.power, state)
    gravity = xp.cast(params.gravity, state)
    power32 = rnd.r(power)

    def accel(q, vq):
        c = gravity * _cos(rnd.rm(TRACK_FREQUENCY * q[0]))
        # A float32 force meets the Python floats in float32; a clipped force (±1.0, a
        # Python float) makes a double, rounded where it meets a float32 velocity.
        in_range = rnd.r(rnd.r(force * power32) - rnd.r(c))
        clipped = rnd.rm(force * power - c)
        return (select(inside, in_range, clipped),)

    def limit(vq):
        return (rnd.rm(clip_speed(rnd.rm(vq[0]), params, state)),)

    (x,), (v,) = integrator(accel, (x,), (v,), xp.cast(params.dt, state), limit)
    lo = xp.cast(params.min_position, state)
    hi = xp.cast(params.max_position, state)
    x = rnd.rm(xp.clip(rnd.rm(x), lo, hi))
    v = select(rnd.eq(x, lo) & (v < 0), 0.0, v)
    if rnd.active:
        x, v = rnd.r(x), rnd.r(v)
    return pack(x, v)


def terminated(state: Array, params: Optional[ContinuousMountainCarParams] = None) -> Array:
    """Boolean ``[...]``: the car is at or beyond ``goal_position``, moving right at least at
    ``goal_velocity`` (thresholds rounded to float32 under ``float32_rounding``, as
    Gymnasium compares its float32 state)."""
    params = DEFAULT_PARAMS if params is None else params
    xp = ops(state)
    rnd = _threshold_rounding(state, params)
    x, v = unpack(state)
    goal_x = rnd.r(xp.cast(params.goal_position, state))
    goal_v = rnd.r(xp.cast(params.goal_velocity, state))
    return (x >= goal_x) & (v >= goal_v)


def reward(
    state: Array,
    action: Array,
    next_state: Array,
    params: Optional[ContinuousMountainCarParams] = None,
) -> Array:
    """Gymnasium's reward ``[...]``: ``goal_reward·[terminated(next_state)] −
    action_cost·a²`` with the *unclipped* action ``a`` (the state's dtype; Gymnasium's
    operations: ``(100.0 or 0) − a²·0.1``)."""
    params = DEFAULT_PARAMS if params is None else params
    xp = ops(next_state)
    x, _ = unpack(next_state)
    a = _action_values(action, next_state, x)
    done = terminated(next_state, params)
    goal = xp.cast(params.goal_reward, next_state)
    cost = xp.cast(params.action_cost, next_state)
    if isinstance(done, (bool, np.bool_)):
        base = goal if done else 0.0
    elif isinstance(done, torch.Tensor):
        base = done.to(next_state.dtype) * goal
    else:
        base = done.astype(next_state.dtype) * goal
    return base - a * a * cost


def observe(state: Array) -> Array:
    """Gymnasium's observation: the state itself (the env layer casts it to float32)."""
    return state


def goal_loss(states: Any, alive: Any, params: Any = None) -> Any:
    """The continuous car's differentiable stand-in for its goal bonus (``System.
    training_loss``), per element ``[B]``: ``goal_reward · d_min`` for an episode that has not
    reached the goal within the rollout, where ``d_min`` is the smallest energy deficit of
    its states (:func:`diffsim.mountain_car.energy_deficit`, from 1 at rest at the valley's
    bottom to 0 at the goal, clamped at 0), and 0 for one that has.

    With BPTT's ``loss="shaped"`` (this minus the return) an episode that reaches the goal is
    trained on its true cost, the action cost ``0.1·Σa²``, which asks for gentler pushes; one
    that does not is trained on how far its best moment fell short of the goal's energy,
    which asks for more energy, and the loss does not jump where an episode starts to reach
    the goal (both sides are about 0 there, but for the bonus). The return's optimum is a
    gentle pumping that reaches the goal late: pushing ±c along the velocity scores about 89
    at c = 1 and 98.6 at c = 0.2, and c = 0.15 does not reach it in 999 steps
    (``python -m diffsim.scripts.mountaincar_optimum``),
    so the optimum lies next to a cliff where every episode fails at once (the tuned BPTT
    configuration halves its learning rate as it trains, so that its steps shrink there).
    :func:`~diffsim.mountain_car.speed_loss` instead charges every step short of the speed
    limit, so it asks for full power (about 91). ``states`` ``[T+1, B, 2]`` and ``alive``
    ``[T, B]`` as :func:`~diffsim.envs.rollout.rollout` with ``on_terminate="mask"`` returns
    them. Torch tensors only. It is a proxy: the policy is judged on the return.
    """
    params = DEFAULT_PARAMS if params is None else params
    reached = ((alive > 0) & terminated(states[1:], params)).any(0)
    deficit = energy_deficit(states[1:], params).clamp(min=0.0)
    closest = torch.where(alive > 0, deficit, torch.ones_like(deficit)).amin(0)
    return torch.where(reached, torch.zeros_like(closest), params.goal_reward * closest)


def _force_bounds(params: ContinuousMountainCarParams) -> tuple[float, float]:
    return (float(params.min_action), float(params.max_action))


def _action_limit(params: ContinuousMountainCarParams) -> Optional[float]:
    """The envs must not clip the action (the reward takes it unclipped): any finite float32
    is accepted, as Gymnasium accepts any action."""
    return FLOAT32_MAX


SYSTEM = System(
    name="mountaincar-continuous",
    title="MountainCarContinuous",
    module=__name__,
    state_names=STATE_NAMES,
    state_units=STATE_UNITS,
    observation_names=STATE_NAMES,
    params_type=ContinuousMountainCarParams,
    default_params=DEFAULT_PARAMS,
    dt_field="dt",
    default_integrator=DEFAULT_INTEGRATOR,
    action_unit="force in [-1, 1] (acceleration = force · power m/s²)",
    action_bounds=_force_bounds,
    action_limit=_action_limit,
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
    training_loss=goal_loss,
    render="diffsim.envs.render:mountain_car_frame",
    render_fps=30,
    env_attributes={
        name: name
        for name in (
            "min_action",
            "max_action",
            "min_position",
            "max_position",
            "max_speed",
            "goal_position",
            "goal_velocity",
            "power",
        )
    },
    env_action_dtype="float32",
)
"""MountainCarContinuous's :class:`~diffsim.systems.System` description (registered as
``"mountaincar-continuous"``).

The action reaches the physics as float32 (the action space's dtype), whose force term
Gymnasium forms in float32; the envs do not clip it (the reward takes it unclipped) and
accept any finite float32. The single env's reward is a Python float, the vector env's
float64 (``SyncVectorEnv``'s: Gymnasium has no vector MountainCarContinuous). The state the
envs keep is float64 holding Gymnasium's float32 values (module docstring, "Precision").
Gymnasium's option ``goal_velocity`` and its public attributes ``min_action, max_action,
min_position, max_position, max_speed, goal_position, goal_velocity, power`` are read-only
views onto the parameters.
"""
