"""SHAC: short-horizon actor-critic through the differentiable Pendulum.

Reference: J. Xu, V. Makoviychuk, Y. Narang, F. Ramos, W. Matusik, A. Garg and M. Macklin,
"Accelerated Policy Learning with Parallel Differentiable Simulation", ICLR 2022
(arXiv:2204.07137). This is an independent implementation of the method for this project's
Pendulum (Gymnasium ``Pendulum-v1`` dynamics, or the 2019 post's unclipped variant).

Algorithm (one :meth:`SHACTrainer.update`):

1. ``num_envs`` pendulums continue their episodes from where the previous update left them
   (the state buffer persists across updates; an element restarts from the reset
   distribution when its episode reaches ``episode_length`` steps, episodes staggered);
   with ``fresh_starts`` (the default) every window starts from fresh states instead.
2. The deterministic actor ``u = 2·tanh(MLP(obs))`` (N·m) acts for ``horizon`` steps through
   the differentiable physics (:func:`diffsim.pendulum._step`); the actor loss is

       L = −1/(h·N) Σ_envs [ Σ_t γ^t r_t + γ^h V'(s_h) ]

   with ``V'`` the target critic (no bootstrap term without ``use_critic``), bootstrapping
   also at the step where an episode ends inside the window. The gradient flows through the
   dynamics and through ``V'(s_h)`` into the actor; its norm is clipped, then Adam steps.
3. The critic ``V(obs)`` regresses, for ``critic_iterations`` epochs of minibatches, onto
   TD(λ) targets computed from the window's rewards and the target critic; the target
   critic then follows it by Polyak averaging.

Learning cost: by default Gymnasium's own cost ``angle_normalize(θ)² + 0.1·θ̇² + 0.001·u²``
(``surrogate="true"``), scaled by ``reward_scale``, plus a penalty on the actor's pre-tanh
output beyond ±``saturation_threshold`` (``saturation_weight``), which keeps the tanh head out
of deep saturation where its gradient vanishes and the policy freezes. Options for
experiments: the smooth ``2·(1 − cos θ)`` angle term (``surrogate="cosine"``) and an
energy-shaping term (``energy_weight``). With the smooth term, hanging still is a strict local
minimum of any short-window cost (the 0.1·θ̇² of a small oscillation outweighs its angle gain);
the wrapped angle's kink at the bottom (slope 2π) pushes the pendulum out of it. Evaluation
always uses the true Gymnasium return (see ``scripts/research_pendulum.py`` and
``docs/pendulum_research.md``).

The tuned defaults run short-window BPTT from fresh, wide starts without the critic
(``use_critic=False, fresh_starts=True``): on Pendulum every critic variant did worse (see the
research notes). ``use_critic=True, fresh_starts=False`` gives SHAC as published.

All randomness (initial weights, initial states, exploration noise, critic minibatches) comes
from ``torch.Generator`` objects seeded from the trainer's seed; no global RNG is used.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from diffsim import pendulum, systems
from diffsim._validation import check_choice
from diffsim.integrators import get_integrator

from ._fields import check_fields

SYSTEM = "pendulum"
"""The registry name of the system SHAC trains on (its reward shaping is the pendulum's)."""


def shac_tasks() -> dict[str, str]:
    """Short name → id of every registered task of the pendulum system (read now)."""
    return {s.short_name: s.env_id for s in systems.task_specs().values() if s.system == SYSTEM}


def _task_params(task: str) -> pendulum.PendulumParams:
    """The parameters of a pendulum task given by short name or id.

    Raises:
        ValueError: for a task that is not one of the pendulum system's (listing them).
    """
    tasks = shac_tasks()
    if task not in tasks and task not in tasks.values():
        raise ValueError(f"task must be one of {tuple(tasks)}, got {task!r}")
    return systems.task_params(systems.get_task_spec(task))


def __getattr__(name: str) -> Any:
    if name == "TASKS":  # the short names, as a tuple (read from the registry now)
        return tuple(shac_tasks())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class SHACConfig:
    """Hyperparameters of :class:`SHACTrainer`; the defaults solve Gymnasium's Pendulum-v1."""

    num_envs: int = 64
    """Parallel pendulums N (batch size of every window)."""
    horizon: int = 32
    """Window length h, steps: the gradient spans at most h steps of the dynamics."""
    episode_length: int = 200
    """Steps after which an episode restarts from the reset distribution (Gymnasium's
    truncation)."""
    fresh_starts: bool = True
    """Start every window from fresh reset-distribution states instead of continuing the
    episodes (then there is no episode bookkeeping and no in-window reset)."""
    use_critic: bool = False
    """Learn a value critic and bootstrap the window with it (SHAC); False gives plain
    short-window BPTT (the window's rewards only)."""
    start_max_speed: float = 4.0
    """Training starts draw θ̇ ~ U(−s, s), rad/s (Gymnasium's reset: 1; larger values explore
    the energy spectrum). θ ~ U(−π, π) always."""
    stagger_episodes: bool = True
    """Start the N episodes at random step counts, so that resets are spread over windows."""
    gamma: float = 0.99
    """Discount factor per step."""
    lam: float = 0.95
    """λ of the critic's TD(λ) targets."""
    actor_lr: float = 2e-2
    """Adam learning rate of the actor at the first update."""
    critic_lr: float = 2e-3
    """Adam learning rate of the critic at the first update."""
    lr_final_fraction: float = 0.1
    """Learning rates decay linearly to this fraction of their start over ``lr_decay_updates``."""
    lr_decay_updates: int = 200
    """Number of updates of the linear learning-rate decay (constant afterwards)."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam's (β1, β2) for both networks (SHAC used (0.7, 0.95))."""
    actor_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor MLP (ELU activations)."""
    critic_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the critic MLP (ELU activations)."""
    critic_iterations: int = 16
    """Epochs of critic regression per update."""
    critic_minibatches: int = 4
    """Minibatches per critic epoch (the N·h samples are shuffled each epoch)."""
    target_alpha: float = 0.2
    """Polyak factor: target ← α·target + (1 − α)·critic after each update."""
    grad_clip: float = 1.0
    """Maximum global L2 norm of the actor's gradient (and of the critic's)."""
    surrogate: str = "true"
    """Training cost: ``"cosine"`` (2(1 − cos θ) + 0.1θ̇² + 0.001u², smooth) or ``"true"``
    (Gymnasium's angle_normalize(θ)² + …)."""
    speed_weight: float = 0.1
    """Weight of θ̇² in the training cost at the first update (Gymnasium: 0.1)."""
    speed_weight_final: float = 0.1
    """Weight of θ̇² in the training cost after ``speed_weight_updates`` updates (linear ramp
    from ``speed_weight``)."""
    speed_weight_updates: int = 0
    """Length of the speed-weight ramp, updates (0: ``speed_weight_final`` throughout)."""
    energy_weight: float = 0.0
    """Weight of the energy-shaping term ``(e/e₀)²`` added to the training cost, where
    ``e = θ̇²/2 + (3g/2l)(cos θ − 1)`` is the pendulum's mechanical energy per unit inertia
    relative to resting upright (rad²/s²) and ``e₀ = 3g/l`` its magnitude hanging at rest;
    0 disables it."""
    energy_weight_final: float | None = None
    """Energy-shaping weight after ``energy_weight_updates`` updates (linear ramp from
    ``energy_weight``); None keeps ``energy_weight`` throughout."""
    energy_weight_updates: int = 0
    """Length of the energy-weight ramp, updates."""
    saturation_weight: float = 0.01
    """Weight of the penalty ``mean(relu(|z| − saturation_threshold)²)`` on the actor's
    pre-tanh output z, added to the actor loss: it keeps the tanh head out of deep saturation,
    where its gradient vanishes and the policy can freeze (e.g. at a constant −2 N·m)."""
    saturation_threshold: float = 2.5
    """|z| beyond which the saturation penalty acts (tanh(2.5) = 0.987)."""
    reward_scale: float = 0.1
    """Factor applied to the per-step rewards used for learning (values of order one)."""
    action_noise: float = 0.0
    """Standard deviation (N·m) of Gaussian noise added to the actor's torque during training
    windows (before the ±2 N·m clip of the physics); 0 disables it."""
    speed_scale: float = 8.0
    """θ̇ is divided by this (rad/s) in the networks' input (fixed observation scaling)."""
    dtype: str = "float32"
    """Floating dtype of the training simulation and networks."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes (ignored by the trainer; recorded with the configuration)."""

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice("surrogate", self.surrogate, ("cosine", "true"))
        check_choice("dtype", self.dtype, ("float32", "float64"))


def _mlp(sizes: list[int], generator: torch.Generator, dtype: torch.dtype) -> nn.Sequential:
    """An ELU MLP with orthogonal-ish (Kaiming-uniform) initialisation drawn from ``generator``."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b, dtype=dtype)
        bound = 1.0 / math.sqrt(a)
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=generator)
            lin.bias.uniform_(-bound, bound, generator=generator)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """Deterministic actor: observation ``[B, 3]`` (cos θ, sin θ, θ̇) → torque ``[B, 1]``, N·m.

    The output is ``max_torque·tanh(MLP(x))``, so it always lies within ±max_torque and the
    physics' clip never zeroes its gradient.
    """

    def __init__(
        self,
        hidden: tuple[int, ...],
        generator: torch.Generator,
        dtype: torch.dtype,
        max_torque: float = 2.0,
        speed_scale: float = 8.0,
    ) -> None:
        super().__init__()
        self.net = _mlp([3, *hidden, 1], generator, dtype)
        with torch.no_grad():  # start near zero torque
            self.net[-1].weight.mul_(0.1)
            self.net[-1].bias.zero_()
        self.max_torque = float(max_torque)
        self.speed_scale = float(speed_scale)

    def preactivation(self, obs: torch.Tensor) -> torch.Tensor:
        """The MLP's output z ``[B, 1]`` before the ``max_torque·tanh`` head."""
        obs = obs.to(self.net[0].weight.dtype)
        x = torch.cat((obs[..., :2], obs[..., 2:] / self.speed_scale), dim=-1)
        return self.net(x)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Torque ``[B, 1]`` in N·m for observations ``[B, 3]``."""
        return self.max_torque * torch.tanh(self.preactivation(obs))


class Critic(nn.Module):
    """State-value network: observation ``[B, 3]`` → value ``[B]`` (scaled reward units)."""

    def __init__(
        self,
        hidden: tuple[int, ...],
        generator: torch.Generator,
        dtype: torch.dtype,
        speed_scale: float = 8.0,
    ) -> None:
        super().__init__()
        self.net = _mlp([3, *hidden, 1], generator, dtype)
        self.speed_scale = float(speed_scale)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Value ``[B]`` for observations ``[B, 3]``."""
        x = torch.cat((obs[..., :2], obs[..., 2:] / self.speed_scale), dim=-1)
        return self.net(x).squeeze(-1)


def _global_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors]))


class SHACTrainer:
    """Short-horizon actor-critic (Xu et al. 2022) / short-window BPTT on a differentiable pendulum.

    Args:
        task: ``"pendulum"`` (Gymnasium Pendulum-v1 dynamics, torque clipped to ±2 N·m),
            ``"pendulum-2019"`` (:meth:`~diffsim.pendulum.PendulumParams.variant_2019`), or
            any registered task of the pendulum system (short name or id, :func:`shac_tasks`);
            its parameters are the registry's (:func:`diffsim.systems.task_params`).
        config: Hyperparameters.
        seed: Seed of every generator (weights, initial states, noise, minibatches).
        device: Torch device of the simulation and networks.

    Attributes:
        policy: The deterministic actor, observation ``[B, 3]`` float32 → torque ``[B, 1]``.
        critic: The value network V.
        target_critic: The Polyak-averaged copy of V used for bootstrapping and targets.
        updates: Number of updates done.
        transitions: Environment steps consumed so far (N·h per update).
    """

    def __init__(
        self, task: str, config: SHACConfig | None = None, seed: int = 0, device: str = "cpu"
    ) -> None:
        params = _task_params(task)
        self.task = task
        self.config = config = SHACConfig() if config is None else config
        if config.surrogate not in ("cosine", "true"):
            raise ValueError(f"surrogate must be 'cosine' or 'true', got {config.surrogate!r}")
        self.seed = int(seed)
        self.device = torch.device(device)
        self.dtype = getattr(torch, config.dtype)
        self.params = params
        self.integrator = get_integrator(pendulum.DEFAULT_INTEGRATOR)

        init_gen = torch.Generator().manual_seed(self.seed)
        self.env_gen = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        self.noise_gen = torch.Generator(device=self.device).manual_seed(self.seed + 2)
        self.batch_gen = torch.Generator().manual_seed(self.seed + 3)

        self.policy = Actor(
            config.actor_hidden, init_gen, self.dtype, speed_scale=config.speed_scale
        ).to(self.device)
        self.critic = Critic(
            config.critic_hidden, init_gen, self.dtype, speed_scale=config.speed_scale
        ).to(self.device)
        self.target_critic = copy.deepcopy(self.critic)
        for p in self.target_critic.parameters():
            p.requires_grad_(False)

        self.actor_opt = torch.optim.Adam(
            self.policy.parameters(), lr=config.actor_lr, betas=config.betas
        )
        self.critic_opt = torch.optim.Adam(
            self.critic.parameters(), lr=config.critic_lr, betas=config.betas
        )
        decay = max(1, config.lr_decay_updates)
        final = config.lr_final_fraction

        def schedule(k: int) -> float:
            return 1.0 - (1.0 - final) * min(k, decay) / decay

        self.actor_sched = torch.optim.lr_scheduler.LambdaLR(self.actor_opt, schedule)
        self.critic_sched = torch.optim.lr_scheduler.LambdaLR(self.critic_opt, schedule)

        n = config.num_envs
        self.state = self._sample_initial(n)
        if config.stagger_episodes:
            self.episode_step = torch.randint(
                0, config.episode_length, (n,), generator=self.env_gen, device=self.device
            )
        else:
            self.episode_step = torch.zeros(n, dtype=torch.long, device=self.device)
        self.episode_return = torch.zeros(n, dtype=torch.float64, device=self.device)
        self.completed_returns: list[float] = []
        self.updates = 0
        self.transitions = 0

    # ------------------------------------------------------------------ helpers
    def _sample_initial(self, n: int) -> torch.Tensor:
        return pendulum.sample_initial(
            n,
            generator=self.env_gen,
            dtype=self.dtype,
            device=self.device,
            max_speed=self.config.start_max_speed,
        )

    def _training_reward(self, state: torch.Tensor, torque: torch.Tensor) -> torch.Tensor:
        """Per-step learning reward ``[B]`` (scaled, surrogate or true)."""
        theta, theta_dot = state[:, 0], state[:, 1]
        u = torque if not self.params.clip_torque else torque.clamp(-2.0, 2.0)
        if self.config.surrogate == "cosine":
            angle_cost = 2.0 * (1.0 - torch.cos(theta))
        else:
            angle_cost = pendulum.angle_normalize(theta) ** 2
        c = angle_cost + self._speed_weight() * theta_dot**2 + 0.001 * u**2
        ew = self._energy_weight()
        if ew > 0:
            w2 = 1.5 * self.params.g / self.params.l
            e = 0.5 * theta_dot**2 + w2 * (torch.cos(theta) - 1.0)
            c = c + ew * (e / (2.0 * w2)) ** 2
        return -self.config.reward_scale * c

    def _speed_weight(self) -> float:
        cfg = self.config
        if cfg.speed_weight_updates <= 0:
            return cfg.speed_weight_final
        f = min(self.updates, cfg.speed_weight_updates) / cfg.speed_weight_updates
        return cfg.speed_weight + f * (cfg.speed_weight_final - cfg.speed_weight)

    def _energy_weight(self) -> float:
        cfg = self.config
        if cfg.energy_weight_final is None or cfg.energy_weight_updates <= 0:
            return cfg.energy_weight
        f = min(self.updates, cfg.energy_weight_updates) / cfg.energy_weight_updates
        return cfg.energy_weight + f * (cfg.energy_weight_final - cfg.energy_weight)

    @staticmethod
    def _true_reward(state: torch.Tensor, torque: torch.Tensor, clip: bool) -> torch.Tensor:
        u = torque.clamp(-2.0, 2.0) if clip else torque
        theta, theta_dot = state[:, 0], state[:, 1]
        return -(pendulum.angle_normalize(theta) ** 2 + 0.1 * theta_dot**2 + 0.001 * u**2)

    # ------------------------------------------------------------------ update
    def update(self) -> dict[str, float]:
        """One SHAC update: an actor step through an h-step window, then critic regression.

        Returns:
            Metrics: ``transitions`` (N·h steps consumed by this update), ``loss`` (actor
            loss), ``critic_loss``, ``grad_norm`` (actor gradient norm before clipping),
            ``param_norm`` (actor), ``train_return`` (mean true Gymnasium return of the
            training episodes that ended during this update, or of the running episodes'
            per-step reward × 200 when none ended), ``value_mean``, ``actor_lr``.

        Raises:
            FloatingPointError: if the actor loss or its gradient is not finite (the
                optimiser is not stepped).
        """
        cfg = self.config
        n, h, gamma = cfg.num_envs, cfg.horizon, cfg.gamma
        policy, target = self.policy, self.target_critic
        clip = self.params.clip_torque

        if cfg.fresh_starts:
            self.state = self._sample_initial(n)
            self.episode_step = torch.zeros_like(self.episode_step)
            self.episode_return = torch.zeros_like(self.episode_return)
        state = self.state.detach()
        obs_buf = torch.empty(h, n, 3, dtype=self.dtype, device=self.device)
        rew_buf = torch.empty(h, n, dtype=self.dtype, device=self.device)
        next_val_buf = torch.zeros(h, n, dtype=self.dtype, device=self.device)
        done_buf = torch.zeros(h, n, dtype=torch.bool, device=self.device)
        true_rew_sum = torch.zeros((), dtype=torch.float64, device=self.device)

        discount = torch.ones(n, dtype=self.dtype, device=self.device)
        acc = torch.zeros(n, dtype=self.dtype, device=self.device)
        ep_step = self.episode_step.clone()
        ep_ret = self.episode_return.clone()
        finished: list[torch.Tensor] = []
        sat = torch.zeros((), dtype=self.dtype, device=self.device)
        for t in range(h):
            obs = pendulum.observe(state)
            obs_buf[t] = obs.detach()
            z = policy.preactivation(obs).squeeze(-1)
            torque = policy.max_torque * torch.tanh(z)
            if cfg.saturation_weight > 0:
                sat = sat + torch.relu(z.abs() - cfg.saturation_threshold).pow(2).sum()
            if cfg.action_noise > 0:
                noise = torch.randn(
                    n, generator=self.noise_gen, dtype=self.dtype, device=self.device
                )
                torque = torque + cfg.action_noise * noise
            r = self._training_reward(state, torque)
            true_r = self._true_reward(state.detach(), torque.detach(), clip).double()
            ep_ret = ep_ret + true_r
            true_rew_sum = true_rew_sum + true_r.sum()
            next_state = pendulum._step(state, torque, self.params, self.integrator)
            acc = acc + discount * r
            rew_buf[t] = r.detach()
            discount = discount * gamma
            ep_step = ep_step + 1
            done = ep_step >= cfg.episode_length
            if cfg.fresh_starts:
                done = torch.zeros_like(done)
            any_done = bool(done.any())
            done_buf[t] = done
            if not cfg.use_critic:
                pass
            elif t == h - 1:
                v_next = target(pendulum.observe(next_state))
                next_val_buf[t] = v_next.detach()
                acc = acc + discount * v_next
            elif any_done:
                v_next = target(pendulum.observe(next_state))
                next_val_buf[t] = v_next.detach()
                # Bootstrap and restart the elements whose episode ends here.
                acc = acc + torch.where(done, discount * v_next, torch.zeros_like(v_next))
                discount = torch.where(done, torch.ones_like(discount), discount)
            if any_done:
                finished.append(ep_ret[done])
                fresh = self._sample_initial(n)
                next_state = torch.where(done[:, None], fresh, next_state)
                ep_ret = torch.where(done, torch.zeros_like(ep_ret), ep_ret)
                ep_step = torch.where(done, torch.zeros_like(ep_step), ep_step)
            state = next_state

        loss = -acc.sum() / (n * h) + cfg.saturation_weight * sat / (n * h)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"SHAC update {self.updates}: actor loss is not finite ({loss.item()}); "
                "optimiser not stepped"
            )
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in policy.parameters() if p.grad is not None]
        grad_norm = _global_norm(grads)
        if not torch.isfinite(grad_norm):
            bad = [
                name
                for name, p in policy.named_parameters()
                if p.grad is not None and not torch.isfinite(p.grad).all()
            ]
            raise FloatingPointError(
                f"SHAC update {self.updates}: actor gradient is not finite in {bad}; "
                "optimiser not stepped"
            )
        torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
        self.actor_opt.step()

        if cfg.use_critic:
            critic_loss_val, value_mean = self._update_critic(
                obs_buf, rew_buf, next_val_buf, done_buf
            )
        else:
            critic_loss_val, value_mean = torch.zeros(()), torch.zeros(())

        self.actor_sched.step()
        if cfg.use_critic:
            self.critic_sched.step()
        self.state = state.detach()
        self.episode_step = ep_step
        self.episode_return = ep_ret
        self.updates += 1
        self.transitions += n * h
        if finished:
            ended = torch.cat(finished)
            train_return = float(ended.mean())
            self.completed_returns.extend(ended.tolist())
        else:
            train_return = float(true_rew_sum) / (n * h) * cfg.episode_length
        with torch.no_grad():
            param_norm = _global_norm([p.detach() for p in policy.parameters()])
        return {
            "transitions": float(n * h),
            "loss": float(loss.detach()),
            "critic_loss": float(critic_loss_val),
            "grad_norm": float(grad_norm),
            "param_norm": float(param_norm),
            "train_return": train_return,
            "value_mean": float(value_mean),
            "actor_lr": float(self.actor_opt.param_groups[0]["lr"]),
        }

    def _update_critic(
        self,
        obs_buf: torch.Tensor,
        rew_buf: torch.Tensor,
        next_val_buf: torch.Tensor,
        done_buf: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Regress the critic on TD(λ) targets of one window; Polyak-update the target.

        Args:
            obs_buf: ``[h, N, 3]`` observations of the window's pre-step states.
            rew_buf: ``[h, N]`` scaled learning rewards.
            next_val_buf: ``[h, N]`` target values of the post-step states (pre-reset).
            done_buf: ``[h, N]`` True where an episode ended at that step.

        Returns:
            The last epoch's mean critic loss and the mean target value.
        """
        cfg = self.config
        h, n = rew_buf.shape
        gamma, target = cfg.gamma, self.target_critic
        # Critic: TD(λ) targets from the window (truncations bootstrap with V'(s_end)).
        with torch.no_grad():
            # V'(s_{t+1}) for non-terminal steps is V'(obs_{t+1}); terminal ones were stored.
            v_obs = target(obs_buf[1:].reshape(-1, 3)).reshape(h - 1, n)
            next_val_buf[:-1] = torch.where(done_buf[:-1], next_val_buf[:-1], v_obs)
            targets = torch.empty(h, n, dtype=self.dtype, device=self.device)
            g = next_val_buf[h - 1]
            for t in range(h - 1, -1, -1):
                nv = next_val_buf[t]
                if t == h - 1:
                    g = rew_buf[t] + gamma * nv
                else:
                    lam_ret = rew_buf[t] + gamma * ((1 - cfg.lam) * nv + cfg.lam * g)
                    g = torch.where(done_buf[t], rew_buf[t] + gamma * nv, lam_ret)
                targets[t] = g
        obs_flat = obs_buf.reshape(-1, 3)
        tgt_flat = targets.reshape(-1)
        m = obs_flat.shape[0]
        mb = max(1, m // cfg.critic_minibatches)
        critic_loss_val = torch.zeros((), dtype=self.dtype)
        for _ in range(cfg.critic_iterations):
            perm = torch.randperm(m, generator=self.batch_gen).to(self.device)
            total = torch.zeros((), dtype=self.dtype)
            for k in range(cfg.critic_minibatches):
                idx = perm[k * mb : (k + 1) * mb]
                pred = self.critic(obs_flat[idx])
                closs = ((pred - tgt_flat[idx]) ** 2).mean()
                self.critic_opt.zero_grad(set_to_none=True)
                closs.backward()
                torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip)
                self.critic_opt.step()
                total = total + closs.detach()
            critic_loss_val = total / cfg.critic_minibatches
        if not torch.isfinite(critic_loss_val):
            raise FloatingPointError(f"SHAC update {self.updates}: critic loss is not finite")
        with torch.no_grad():
            a = cfg.target_alpha
            for pt, p in zip(self.target_critic.parameters(), self.critic.parameters()):
                pt.mul_(a).add_(p, alpha=1 - a)
        return critic_loss_val, tgt_flat.mean()

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (networks, optimisers, schedulers, generators,
        episode buffers, counters)."""
        return {
            "task": self.task,
            "seed": self.seed,
            "config": asdict(self.config),
            "policy": copy.deepcopy(self.policy.state_dict()),
            "critic": copy.deepcopy(self.critic.state_dict()),
            "target_critic": copy.deepcopy(self.target_critic.state_dict()),
            "actor_opt": copy.deepcopy(self.actor_opt.state_dict()),
            "critic_opt": copy.deepcopy(self.critic_opt.state_dict()),
            "actor_sched": self.actor_sched.state_dict(),
            "critic_sched": self.critic_sched.state_dict(),
            "env_gen": self.env_gen.get_state(),
            "noise_gen": self.noise_gen.get_state(),
            "batch_gen": self.batch_gen.get_state(),
            "state": self.state.clone(),
            "episode_step": self.episode_step.clone(),
            "episode_return": self.episode_return.clone(),
            "completed_returns": list(self.completed_returns),
            "updates": self.updates,
            "transitions": self.transitions,
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (same task and network sizes)."""
        if d["task"] != self.task:
            raise ValueError(f"checkpoint is for task {d['task']!r}, trainer is {self.task!r}")
        self.policy.load_state_dict(d["policy"])
        self.critic.load_state_dict(d["critic"])
        self.target_critic.load_state_dict(d["target_critic"])
        self.actor_opt.load_state_dict(d["actor_opt"])
        self.critic_opt.load_state_dict(d["critic_opt"])
        self.actor_sched.load_state_dict(d["actor_sched"])
        self.critic_sched.load_state_dict(d["critic_sched"])
        self.env_gen.set_state(d["env_gen"])
        self.noise_gen.set_state(d["noise_gen"])
        self.batch_gen.set_state(d["batch_gen"])
        self.state = d["state"].clone().to(self.device)
        self.episode_step = d["episode_step"].clone().to(self.device)
        self.episode_return = d["episode_return"].clone().to(self.device)
        self.completed_returns = list(d["completed_returns"])
        self.updates = int(d["updates"])
        self.transitions = int(d["transitions"])


@torch.no_grad()
def evaluate_batched(
    policy: nn.Module,
    initial_states: torch.Tensor,
    task: str = "pendulum",
    steps: int = 200,
) -> torch.Tensor:
    """True Gymnasium returns ``[E]`` of a deterministic policy from given initial states.

    Args:
        policy: observation ``[E, 3]`` float32 → torque ``[E, 1]`` (N·m).
        initial_states: ``[E, 2]`` (θ rad, θ̇ rad/s), simulated in their dtype (float64
            recommended, as Gymnasium).
        task: ``"pendulum"``, ``"pendulum-2019"`` or another pendulum task (as
            :class:`SHACTrainer`'s).
        steps: Episode length (200 in Pendulum-v1).

    Returns:
        Undiscounted sums of Gymnasium's reward, float64 ``[E]``.
    """
    params = _task_params(task)
    integ = get_integrator(pendulum.DEFAULT_INTEGRATOR)
    state = initial_states.clone()
    total = torch.zeros(state.shape[0], dtype=torch.float64, device=state.device)
    for _ in range(steps):
        obs = pendulum.observe(state).to(torch.float32)
        u = policy(obs).reshape(-1).to(state.dtype)
        total += pendulum.reward(state, u, None, params).double()
        state = pendulum._step(state, u, params, integ)
    return total
