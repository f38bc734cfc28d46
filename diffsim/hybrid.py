"""Learned dynamics: a simulator plus a neural residual, fitted to recorded trajectories.

A simulator whose constants were fitted (:mod:`diffsim.identify`) still lacks whatever its
equations leave out. :class:`HybridModel` adds a small network to one step of a system's
physics,

    x_{k+1} = step(x_k, u_k; θ) + s ⊙ f_w(features(x_k, u_k)),

so that the network learns only what the equations miss (NeuralSim, Heiden et al. 2021,
augments a differentiable simulator the same way). :class:`NeuralModel` is the baseline that
learns the whole step, ``x_{k+1} = x_k + s ⊙ f_w(features)``. The features are the system's
observation of ``x_k`` (Pendulum: ``cos θ, sin θ, θ̇``, so angles need no wrapping) over its
bound and the action over its limit; ``s`` is the spread of the one-step state change in the
training data. The last layer starts at zero: an unfitted hybrid *is* the simulator.

:func:`fit_dynamics` trains either model on the data format of :mod:`diffsim.identify`
(observations ``[E, T+1, obs]``, actions, mask) by Adam on multi-step rollouts: windows of
``horizon`` recorded transitions are rolled out from their observed first state with the
recorded actions, and the squared error of the predicted observations (each entry over its
spread in the data) is minimised. :func:`prediction_error` measures any one-step model
``H`` steps ahead on held-out data. :meth:`HybridModel.system` wraps a fitted model as a
:class:`~diffsim.systems.System`, so that :func:`diffsim.envs.rollout.rollout` and the
trainers run on it with gradients (through the network and the physics).

A system with an effect the simulator lacks, for the experiments: :func:`friction_system`,
Pendulum-v1 with viscous friction in its joint (see :func:`friction_step`).

Sources: E. Heiden, D. Millard, E. Coumans, Y. Sheng, G. S. Sukhatme, "NeuralSim:
Augmenting differentiable simulators with neural networks", ICRA 2021.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn

from . import pendulum
from .identify import Trajectories, _physical_actions, _windows, check_data
from .integrators import Integrator, get_integrator
from .systems import System, get_system

FRICTION = 0.1
"""The default viscous friction coefficient of :func:`friction_system`, N·m·s/rad."""


def friction_step(
    state: torch.Tensor,
    action: torch.Tensor,
    params: Optional[pendulum.PendulumParams] = None,
    integrator: Union[str, Integrator] = pendulum.DEFAULT_INTEGRATOR,
    *,
    friction: float = FRICTION,
) -> torch.Tensor:
    """One step of Pendulum-v1 with viscous joint friction.

    The torque on the rod is the applied torque, clipped to ``±max_torque`` as Pendulum-v1
    clips it, plus the friction torque ``−friction · θ̇_k`` (θ̇ at the step's start); the
    rest is Pendulum-v1's step (:func:`diffsim.pendulum.step`'s equations, called with that
    total torque and the clip switched off), so the angular acceleration gains
    ``−3 · friction · θ̇_k / (m l²)``. With ``friction = 0`` it is Pendulum-v1's step.

    Args:
        state: ``[..., 2]`` ``(θ, θ̇)`` in rad, rad/s.
        action: ``[...]`` or ``[..., 1]`` applied torque, N·m.
        params: Pendulum's parameters (default Pendulum-v1's); ``clip_torque`` must be True.
        integrator: As :func:`diffsim.pendulum.step`'s.
        friction: The coefficient, N·m·s/rad (≥ 0).

    Returns:
        The next state ``[..., 2]``.
    """
    params = pendulum.DEFAULT_PARAMS if params is None else params
    integ = get_integrator(integrator) if isinstance(integrator, str) else integrator
    if action.dim() == state.dim():
        action = action[..., 0]
    limit = params.max_torque
    torque = action.clamp(-limit, limit) - friction * state[..., 1]
    return pendulum._step(state, torque, params.replace(clip_torque=False), integ)


def friction_system(friction: float = FRICTION) -> System:
    """Pendulum-v1 with viscous joint friction (:func:`friction_step`) as a System: the
    "real" system of the residual experiments (``name="pendulum-friction"``, not registered).

    Raises:
        ValueError: ``friction`` negative or not finite.
    """
    if not (isinstance(friction, (int, float)) and math.isfinite(friction) and friction >= 0):
        raise ValueError(f"friction must be a finite number >= 0 (N·m·s/rad), got {friction!r}")

    def step(state, action, params=None, integrator=pendulum.DEFAULT_INTEGRATOR):
        return friction_step(state, action, params, integrator, friction=friction)

    return dataclasses.replace(
        pendulum.SYSTEM,
        name="pendulum-friction",
        title=f"Pendulum with joint friction {friction:g} N·m·s/rad",
        step=step,
        step_unchecked=step,
    )


class _LearnedDynamics(nn.Module):
    """The shared parts of :class:`HybridModel` and :class:`NeuralModel`."""

    uses_physics: bool = True

    def __init__(
        self,
        system: Union[str, System],
        params: Any = None,
        hidden: Sequence[int] = (64, 64),
        *,
        integrator: Optional[str] = None,
        seed: int = 0,
    ):
        super().__init__()
        self.base = get_system(system) if isinstance(system, str) else system
        self.params = self.base.default_params if params is None else params
        self.integrator = get_integrator(integrator or self.base.default_integrator)
        n_obs, n_state = len(self.base.observation_names), len(self.base.state_names)
        if any(int(h) < 1 for h in hidden):
            raise ValueError(f"hidden layer sizes must be >= 1, got {tuple(hidden)}")
        generator = torch.Generator().manual_seed(seed)
        sizes = [n_obs + 1, *[int(h) for h in hidden], n_state]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layer = nn.Linear(a, b, dtype=torch.float64)
            with torch.no_grad():
                bound = 1 / math.sqrt(a)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
                if i == len(sizes) - 2:  # the last layer: zero, so the model starts as x + 0
                    layer.weight.zero_()
                    layer.bias.zero_()
            layers += [layer, nn.Tanh()]
        self.net = nn.Sequential(*layers[:-1])
        high = torch.as_tensor(self.base.observation_high(self.params), dtype=torch.float64)
        limit = self.base.action_limit(self.params)
        self.register_buffer("obs_scale", 1 / high.clamp_min(1e-12))
        self.register_buffer("action_scale", torch.tensor(1 / (limit or 1.0), dtype=torch.float64))
        self.register_buffer("out_scale", torch.ones(n_state, dtype=torch.float64))

    def features(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The network's input ``[..., obs + 1]``: observation over its bound, action over
        its limit."""
        if action.dim() == state.dim():
            action = action[..., 0]
        obs = self.base.observe(state) * self.obs_scale
        return torch.cat([obs, (action * self.action_scale)[..., None]], -1)

    def forward(
        self, state: torch.Tensor, action: torch.Tensor, params: Any = None
    ) -> torch.Tensor:
        """The predicted next state ``[..., n]`` of states ``[..., n]`` and actions ``[...]``
        (or ``[..., 1]``); ``params`` replaces the physics' parameters (hybrid only)."""
        if self.uses_physics:
            p = self.params if params is None else params
            nxt = self.base.step_unchecked(state, action, p, self.integrator)
        else:
            nxt = state
        return nxt + self.net(self.features(state, action)) * self.out_scale

    def system(self, name: Optional[str] = None) -> System:
        """This model as a :class:`~diffsim.systems.System` (the base system's description
        with its step replaced): a task built on it (``dataclasses.replace(task,
        system=model.system())``) runs in :func:`diffsim.envs.rollout.rollout` and the
        trainers. The step's ``params`` argument feeds the physics; the integrator is the
        model's own."""

        def step(state, action, params=None, integrator=None):
            return self(state, action, params)

        kind = "hybrid" if self.uses_physics else "neural"
        return dataclasses.replace(
            self.base,
            name=name or f"{self.base.name}-{kind}",
            title=f"{self.base.title} ({kind} model)",
            step=step,
            step_unchecked=step,
        )


class HybridModel(_LearnedDynamics):
    """The system's step plus a learned residual (module docstring).

    Args:
        system: The System (or its name) whose physics the model starts from.
        params: The physics' parameters (e.g. fitted by :func:`diffsim.identify.fit`);
            default the system's.
        hidden: The residual network's hidden layer sizes (tanh).
        integrator: The physics' integrator (default the system's).
        seed: Seeds the network's initial weights.

    Raises:
        ValueError: a hidden size below 1.
    """

    uses_physics = True


class NeuralModel(_LearnedDynamics):
    """A network alone predicting the state change (the baseline; arguments as
    :class:`HybridModel`'s, ``params`` used only to scale the features)."""

    uses_physics = False


def _as_data(system: System, observations: Any, actions: Any, mask: Any) -> Trajectories:
    if system.state_from_observation is None and len(system.observation_names) != len(
        system.state_names
    ):
        raise ValueError(f"{system.title}'s observations cannot be mapped to states")
    return check_data(system, observations, actions, mask)


def _to_state(system: System, obs: torch.Tensor) -> torch.Tensor:
    return obs if system.state_from_observation is None else system.state_from_observation(obs)


def _window_tensors(
    system: System, data: Trajectories, horizon: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Windows of ``horizon`` transitions: observations ``[W, H+1, obs]``, physical actions
    ``[W, H]`` and validity ``[W, H+1]`` (padding beyond a short window's end is invalid)."""
    ep, first, length = _windows(data, horizon)
    idx = np.minimum(first[:, None] + np.arange(horizon + 1)[None], data.observations.shape[1] - 1)
    valid = np.arange(horizon + 1)[None] <= length[:, None]
    phys = _physical_actions(system, data.actions)
    a_idx = np.minimum(idx[:, :-1], phys.shape[1] - 1)
    actions = np.where(valid[:, 1:], phys[ep[:, None], a_idx], 0.0)
    obs = torch.as_tensor(data.observations[ep[:, None], idx], dtype=torch.float64)
    return obs, torch.as_tensor(actions, dtype=torch.float64), torch.as_tensor(valid)


def _roll(model: Callable, x0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """States ``[W, H+1, n]`` of one-step model ``model(state, action)`` from ``x0``."""
    states = [x0]
    for k in range(actions.shape[1]):
        states.append(model(states[-1], actions[:, k]))
    return torch.stack(states, 1)


def fit_dynamics(
    model: _LearnedDynamics,
    observations: Any,
    actions: Any,
    mask: Any = None,
    *,
    horizon: int = 10,
    iterations: int = 2000,
    lr: float = 3e-3,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
) -> list[float]:
    """Fit a :class:`HybridModel` or :class:`NeuralModel` to trajectories, in place.

    Args:
        model: The model (its network's weights are trained; the physics' parameters stay).
        observations, actions, mask: The data, as :func:`diffsim.identify.check_data`
            takes them (observations exactly as the env returns them).
        horizon: Transitions per training window (rolled out from the window's observed
            first state; 1 fits one-step predictions).
        iterations: Adam steps.
        lr: Adam's learning rate (decayed by cosine annealing to 1 % of it).
        batch_size: Windows per step (all windows when fewer).
        seed: Seeds the minibatch draws.
        progress: Show a progress bar (tqdm).

    Returns:
        The training loss of each step (mean squared observation error over each entry's
        spread in the data).

    Raises:
        ValueError: bad data (:func:`~diffsim.identify.check_data`), or ``horizon``,
            ``iterations`` or ``batch_size`` below 1, or ``lr`` not positive.
    """
    system = model.base
    data = _as_data(system, observations, actions, mask)
    for what, value in (
        ("horizon", horizon),
        ("iterations", iterations),
        ("batch_size", batch_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    obs, act, valid = _window_tensors(system, data, horizon)
    spread = obs[valid].std(0).clamp_min(1e-12)
    x0 = _to_state(system, obs[:, 0])
    with torch.no_grad():  # the residual's output scale: the spread of the one-step change
        states = _to_state(system, obs)
        change = (states[:, 1:] - states[:, :-1])[valid[:, 1:]]
        bounds = system.state_bounds(model.params) if system.state_bounds else ()
        for j, (low, high, periodic) in enumerate(bounds):
            if periodic:
                period = high - low
                change[:, j] = torch.remainder(change[:, j] + period / 2, period) - period / 2
        model.out_scale.copy_(change.std(0).clamp_min(1e-12))
    optimiser = torch.optim.Adam(model.net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, iterations, eta_min=lr / 100)
    generator = torch.Generator().manual_seed(seed)
    weight = valid[:, 1:].to(torch.float64)
    losses = []
    from tqdm.auto import tqdm

    for _ in tqdm(range(iterations), desc=f"fitting {type(model).__name__}", disable=not progress):
        pick = torch.randperm(len(obs), generator=generator)[:batch_size]
        pred = model.base.observe(_roll(model, x0[pick], act[pick])[:, 1:])
        err = ((pred - obs[pick, 1:]) / spread) ** 2
        loss = (err.mean(-1) * weight[pick]).sum() / weight[pick].sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    return losses


def prediction_error(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    system: Union[str, System],
    observations: Any,
    actions: Any,
    mask: Any = None,
    *,
    horizon: int = 50,
    params: Any = None,
) -> dict[str, Any]:
    """How far a one-step model's open-loop predictions drift from recorded trajectories.

    From every recorded step with ``horizon`` valid transitions after it, the model is rolled
    out ``horizon`` steps with the recorded actions from the observed state; the predicted
    states are compared with the observed ones (periodic coordinates' differences wrapped).

    Args:
        model: ``(state [N, n], action [N]) -> next state [N, n]``.
        system: The System (or name) that maps observations to states.
        observations, actions, mask: Held-out data (:func:`diffsim.identify.check_data`).
        horizon: The prediction horizon, steps.
        params: Parameters for the system's ``state_bounds`` (default the system's).

    Returns:
        ``{"rmse": [H] per-step RMSE over coordinates, each over its spread in the data,
        "rmse_state": {name: [H]} in the state's units, "starts": N}`` (index k is k+1
        steps ahead).

    Raises:
        ValueError: bad data, or no start with ``horizon`` valid transitions after it.
    """
    system = get_system(system) if isinstance(system, str) else system
    data = _as_data(system, observations, actions, mask)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    count = np.concatenate([np.zeros((len(data.mask), 1), int), np.cumsum(data.mask, 1)], 1)
    ok = count[:, horizon:] - count[:, :-horizon] == horizon  # [E, T-H+1]: H valid steps on
    ep, t0 = np.nonzero(ok)
    if len(ep) == 0:
        raise ValueError(
            f"no recorded start has {horizon} valid transitions after it; record longer "
            "episodes or lower horizon"
        )
    idx = t0[:, None] + np.arange(horizon + 1)[None]
    obs = torch.as_tensor(data.observations[ep[:, None], idx], dtype=torch.float64)
    phys = _physical_actions(system, data.actions)
    act = torch.as_tensor(phys[ep[:, None], idx[:, :-1]], dtype=torch.float64)
    truth = _to_state(system, obs)
    with torch.no_grad():
        pred = _roll(model, truth[:, 0], act)
    diff = pred[:, 1:] - truth[:, 1:]
    params = system.default_params if params is None else params
    bounds = system.state_bounds(params) if system.state_bounds else ()
    for j, (low, high, periodic) in enumerate(bounds):
        if periodic:
            period = high - low
            diff[..., j] = torch.remainder(diff[..., j] + period / 2, period) - period / 2
    spread = truth.reshape(-1, truth.shape[-1]).std(0).clamp_min(1e-12)
    rmse_state = diff.pow(2).mean(0).sqrt()  # [H, n]
    rmse = (diff / spread).pow(2).mean((0, 2)).sqrt()
    return {
        "rmse": rmse.tolist(),
        "rmse_state": {n: rmse_state[:, j].tolist() for j, n in enumerate(system.state_names)},
        "starts": int(len(ep)),
    }


def simulate(
    system: System,
    episodes: int,
    steps: int,
    *,
    params: Any = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random-action trajectories of a continuous-action ``system`` in the data format:
    observations ``[E, T+1, obs]``, actions ``[E, T, 1]`` uniform over the action bounds,
    mask ``[E, T]`` (all True; these systems do not terminate). Starts from
    ``system.sample_initial``; float64 throughout."""
    params = system.default_params if params is None else params
    g = torch.Generator().manual_seed(seed)
    low, high = system.action_bounds(params)
    x = system.sample_initial((episodes,), generator=g, dtype=torch.float64)
    u = low + (high - low) * torch.rand((episodes, steps), generator=g, dtype=torch.float64)
    integ = get_integrator(system.default_integrator)
    with torch.no_grad():
        states = _roll(lambda s, a: system.step_unchecked(s, a, params, integ), x, u)
    obs = system.observe(states).numpy()
    return obs, u[..., None].numpy(), np.ones((episodes, steps), bool)
