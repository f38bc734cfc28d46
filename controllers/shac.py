"""SHAC: short-horizon actor-critic through a differentiable continuous-action system.

Reference: J. Xu, V. Makoviychuk, Y. Narang, F. Ramos, W. Matusik, A. Garg and M. Macklin,
"Accelerated Policy Learning with Parallel Differentiable Simulation", ICLR 2022
(arXiv:2204.07137). This is an independent implementation of the method on this project's
rollout (:func:`diffsim.envs.rollout`): it trains every registered continuous-action task
whose system has a :class:`~diffsim.systems.System` description (:func:`shac_task_ids`).
Everything about the task (dynamics, integrator, observation, reward, termination, reset
distribution, action bounds, observation bounds, training loss) is read from its
:class:`~diffsim.envs.rollout.Task`.

Algorithm (one :meth:`SHACTrainer.update`):

1. ``num_envs`` elements start the window from fresh draws of the task's reset distribution
   (``fresh_starts``, widened by ``start_options``), or continue their episodes from the
   persistent state buffer left by the previous update.
2. The deterministic actor (a :class:`~diffsim.controllers.policies.ControlPolicy`: an ELU
   MLP of the observation divided by the observation scale, and a tanh head spanning the
   task's action bounds) acts for ``horizon`` steps through :func:`diffsim.envs.rollout` with
   ``on_terminate="mask"``: an element whose episode terminates inside the window is frozen
   there and its later rewards are zero. The actor loss is

       L = −1/(h·N) Σ_envs [ Σ_t γ^t r_t + γ^h · alive_h · V'(s_h) ]

   with ``V'`` the target critic; a terminated element's value is zero (no bootstrap), and
   without ``use_critic`` there is no bootstrap term at all (short-window BPTT). The
   gradient flows through the dynamics and through ``V'(s_h)`` into the actor; its global
   norm is clipped to ``grad_clip``, then Adam steps.
3. The critic ``V(obs)`` regresses, for ``critic_iterations`` epochs of minibatches, onto
   TD(λ) targets computed from the window's rewards and the target critic (zero after a
   termination), over the steps taken while the episodes ran; the target critic then
   follows it by Polyak averaging.
4. Elements whose episode terminated in the window, or has run ``episode_length`` steps,
   restart from the reset distribution for the next window. The time limit is therefore
   applied at window boundaries (an episode lasts less than ``episode_length + horizon``
   steps); a time-limit restart is a truncation, bootstrapped by the critic like any window
   end, not a termination.

Learning reward ``r_t`` (``reward_scale`` times):

- the task's reward where it is differentiable: a system without a
  :attr:`~diffsim.systems.System.training_loss` (Pendulum: ``−(angle² + 0.1 θ̇² + 0.001 u²)``);
- where the system declares a training loss (CartPole: its reward, +1 per step, has no
  gradient), the task's reward minus the per-step training loss. The loss is evaluated on
  each step as a one-step trajectory ``(s_t, s_{t+1})``, so it must be a sum over steps
  (as :func:`diffsim.cartpole.balance_loss` is). Its gradient drives the actor; the task's
  reward carries no gradient but is kept so that the critic values the episode going on:
  with the cost alone, a terminated element (value zero) would look better to the critic
  than one still paying the cost.

The saturation penalty ``saturation_weight · mean(relu(|z| − saturation_threshold)²)`` on the
actor's pre-tanh score ``z`` is added to the actor loss: it keeps the tanh head out of deep
saturation, where its gradient vanishes and the policy can freeze at a bound.

Defaults: :func:`default_config` gives the tuned configuration of each built-in task
(:data:`TUNED`) and :class:`SHACConfig`'s generic defaults for any other; Pendulum's is
short-window BPTT from wide fresh starts without the critic (``use_critic=False``); the
published SHAC is ``use_critic=True, fresh_starts=False``. Measurements and the tuning
study are in ``docs/pendulum_research.md`` (``scripts/research_pendulum.py``).

All randomness (initial weights, initial states, exploration noise, critic minibatches) comes
from ``torch.Generator`` objects seeded from the trainer's seed; no global RNG is used.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Union

import torch

from diffsim import systems
from diffsim._params import Params
from diffsim._validation import check_choice
from diffsim.envs.rollout import Rollout, Task, get_task, resolve_env_id, rollout
from diffsim.systems import tuned_budgets, tuned_configs

from ._fields import check_fields
from .checkpoint import PolicyAgent, save_policy
from .policies import ControlPolicy, PolicySpec, build_policy, param_norm, spec_for_task

METHOD = "shac"
"""The method's name in run files."""


@dataclass
class SHACConfig:
    """Hyperparameters of :class:`SHACTrainer` (generic defaults; :func:`default_config`
    gives each task's tuned ones)."""

    num_envs: int = 64
    """Parallel elements N (batch size of every window)."""
    horizon: int = 32
    """Window length h, steps: the gradient spans at most h steps of the dynamics."""
    episode_length: Optional[int] = None
    """Steps after which a training episode restarts from the reset distribution, checked at
    window boundaries; None: the task's time limit (no limit for a task without one)."""
    fresh_starts: bool = True
    """Start every window from fresh states instead of continuing the episodes (then there
    is no episode bookkeeping)."""
    use_critic: bool = False
    """Learn a value critic and bootstrap the window with it (SHAC); False gives plain
    short-window BPTT (the window's rewards only)."""
    start_options: dict[str, float] = field(default_factory=dict)
    """Keyword arguments of the system's ``sample_initial`` for the training starts and
    restarts (a system's own options, e.g. Pendulum's ``max_speed``: θ̇ ~ U(−s, s) rad/s);
    empty: the task's reset distribution. Evaluation always uses the env's own reset."""
    stagger_episodes: bool = True
    """Start the N episodes at random step counts, so that time-limit restarts are spread
    over windows (``fresh_starts=False`` only)."""
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
    actor_init_scale: float = 0.1
    """Multiplier of the actor's last-layer initial weights (small: start near the middle of
    the action range)."""
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
    saturation_weight: float = 0.01
    """Weight of the penalty ``mean(relu(|z| − saturation_threshold)²)`` on the actor's
    pre-tanh score z, added to the actor loss (see the module docstring); 0 disables it."""
    saturation_threshold: float = 2.5
    """|z| beyond which the saturation penalty acts (tanh(2.5) = 0.987)."""
    reward_scale: float = 0.1
    """Factor applied to the per-step learning rewards (values of order one)."""
    action_noise: float = 0.0
    """Standard deviation of Gaussian noise added to the actor's action during training
    windows, in the action's physical units (before the physics' own clip); 0 disables it."""
    dtype: str = "float32"
    """Floating dtype of the training simulation and networks."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes (ignored by the trainer; recorded with the configuration)."""

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice("dtype", self.dtype, ("float32", "float64"))
        positive = {
            "num_envs": self.num_envs,
            "horizon": self.horizon,
            "critic_iterations": self.critic_iterations,
            "critic_minibatches": self.critic_minibatches,
        }
        bad = {k: v for k, v in positive.items() if v < 1}
        if self.episode_length is not None and self.episode_length < 1:
            bad["episode_length"] = self.episode_length
        if bad:
            raise ValueError(f"SHACConfig: these must be positive: {bad}")
        if not 0.0 < self.gamma <= 1.0 or not 0.0 <= self.lam <= 1.0:
            raise ValueError(
                f"SHACConfig: need 0 < gamma <= 1 and 0 <= lam <= 1, got {self.gamma}, {self.lam}"
            )


TUNED: Mapping[str, Mapping[str, Any]] = tuned_configs("shac")
""":class:`SHACConfig` overrides per task id (``diffsim train ENV --method shac`` with no
options): each task's ``tuned["shac"]`` in the registry (:attr:`diffsim.systems.TaskSpec.
tuned`); tasks without one get the generic defaults."""

DEFAULT_BUDGETS: Mapping[str, int] = tuned_budgets("shac")
"""Training transitions per task id with no ``--budget``: each task's ``budgets["shac"]`` in
the registry; others: :data:`DERIVED_BUDGET`."""

DERIVED_BUDGET = 200_000
"""The default budget (transitions) of a task without a :data:`DEFAULT_BUDGETS` entry."""


def shac_task_ids() -> list[str]:
    """The id of every registered task SHAC trains: continuous actions and a
    :class:`~diffsim.systems.System` description (read from the registry now)."""
    names = set(systems.system_names())
    return [i for i, s in systems.task_specs().items() if not s.discrete and s.system in names]


def shac_tasks() -> dict[str, str]:
    """Short name → id of every task SHAC trains (:func:`shac_task_ids`)."""
    specs = systems.task_specs()
    return {specs[i].short_name: i for i in shac_task_ids()}


def resolve_shac_task(env_id: str) -> Task:
    """The :class:`~diffsim.envs.rollout.Task` of a registered id or short name SHAC trains.

    Raises:
        ValueError: for an unknown name, or a task SHAC does not train (discrete actions, or
            no multi-step System such as the trebuchet); the message lists the ids it trains.
    """
    resolved = resolve_env_id(env_id)
    ids = shac_task_ids()
    if resolved not in ids:
        spec = systems.task_specs().get(resolved)
        if spec is None:
            why = "it is not a diffsim task (Gymnasium's own id?)"
        elif spec.discrete:
            why = "its actions are discrete (SHAC differentiates a continuous action)"
        else:
            why = f"its system {spec.system!r} has no multi-step System description"
        raise ValueError(f"shac cannot train {env_id!r}: {why}; shac trains {', '.join(ids)}")
    return get_task(resolved)


def default_config(env_id: str) -> SHACConfig:
    """The tuned configuration of a task id or short name (:data:`TUNED`), else the generic
    defaults.

    Raises:
        ValueError: for a task SHAC does not train (see :func:`resolve_shac_task`).
    """
    task = resolve_shac_task(env_id)
    return SHACConfig(**copy.deepcopy(TUNED.get(task.env_id, {})))


def default_budget(env_id: str) -> int:
    """The default training budget (transitions) of a task id or short name.

    Raises:
        ValueError: for a task SHAC does not train (see :func:`resolve_shac_task`).
    """
    return DEFAULT_BUDGETS.get(resolve_shac_task(env_id).env_id, DERIVED_BUDGET)


def observation_scale(task: Task) -> tuple[float, ...]:
    """Divisors of the networks' inputs: per observation entry, the half-extent
    ``max(|low|, |high|)`` of the task's observation Box where it is finite and positive,
    else 1 (Pendulum: ``(1, 1, 8)``, its speed limit in rad/s)."""
    system, params = task.system, task.params
    high = [float(h) for h in system.observation_high(params)]
    low = (
        [-h for h in high]
        if system.observation_low is None
        else [float(v) for v in system.observation_low(params)]
    )
    scale = []
    for lo, hi in zip(low, high):
        s = max(abs(lo), abs(hi))
        scale.append(s if math.isfinite(s) and s > 0 else 1.0)
    return tuple(scale)


def actor_spec(task: Task, config: SHACConfig) -> PolicySpec:
    """The actor's :class:`PolicySpec`: an ELU MLP of ``config.actor_hidden`` on the
    observation divided by :func:`observation_scale`, with the tanh head (scale and offset)
    spanning the task's action bounds."""
    return spec_for_task(
        task,
        dict(
            kind="mlp",
            hidden=tuple(config.actor_hidden),
            activation="elu",
            obs_scale=observation_scale(task),
            init_scale=config.actor_init_scale,
        ),
    )


def critic_spec(task: Task, config: SHACConfig) -> PolicySpec:
    """The critic's network, built as a :class:`ControlPolicy` with a linear head of scale 1:
    its output is the value (scaled reward units) of an observation, same MLP family and
    input scaling as the actor."""
    return PolicySpec(
        obs_size=task.obs_size,
        kind="mlp",
        hidden=tuple(config.critic_hidden),
        activation="elu",
        head="linear",
        action_scale=1.0,
        obs_scale=observation_scale(task),
    )


class SHACTrainer:
    """SHAC (Xu et al. 2022) / short-window BPTT on one task (see the module docstring).

    Args:
        env_id: A registered id or short name of a task SHAC trains (:func:`shac_task_ids`).
        config: Hyperparameters (default: :func:`default_config` of the task).
        seed: Seed of every generator (weights, initial states, noise, minibatches).
        device: Torch device of the simulation and networks.
        params: Physical parameters to train with instead of the task's (its system's
            ``params_type``): a simulator refined by identification (``docs/sim_to_real.md``).

    Raises:
        ValueError: for a task SHAC does not train (the message lists those it trains), or
            ``start_options`` the system's ``sample_initial`` does not accept.
        TypeError: ``params`` not of the system's ``params_type``.

    Attributes:
        env_id: The registered id trained on.
        task: Its :class:`~diffsim.envs.rollout.Task`.
        policy: The actor, a :class:`~diffsim.controllers.policies.ControlPolicy`:
            observations ``[B, obs]`` → physical actions ``[B]`` within the action bounds.
        critic: The value network V (a ControlPolicy with a linear head; ``critic.score``).
        target_critic: The Polyak-averaged copy of V used for bootstrapping and targets.
        state: ``[N, n]`` the persistent state buffer (the next window's starts).
        updates: Number of updates done.
        transitions: Simulated steps consumed so far (N·h per update).
    """

    def __init__(
        self,
        env_id: str,
        config: Optional[SHACConfig] = None,
        seed: int = 0,
        device: Union[str, torch.device] = "cpu",
        params: Optional[Params] = None,
    ) -> None:
        self.task = resolve_shac_task(env_id)
        if params is not None:
            ptype = self.task.system.params_type
            if not isinstance(params, ptype):
                raise TypeError(
                    f"params must be {ptype.__name__} (the {self.task.system.title} system's), "
                    f"got {type(params).__name__}"
                )
            self.task = replace(self.task, params=params)
        self.env_id = self.task.env_id
        self.config = config = default_config(self.env_id) if config is None else config
        self.seed = int(seed)
        self.device = torch.device(device)
        self.dtype = getattr(torch, config.dtype)
        limit = config.episode_length or self.task.max_episode_steps
        self.episode_length: Optional[int] = limit

        init_gen = torch.Generator().manual_seed(self.seed)
        self.env_gen = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        self.noise_gen = torch.Generator(device=self.device).manual_seed(self.seed + 2)
        self.batch_gen = torch.Generator().manual_seed(self.seed + 3)

        self.spec = actor_spec(self.task, config)
        self.policy = build_policy(self.spec, init_gen).to(self.device, self.dtype)
        self.critic = build_policy(critic_spec(self.task, config), init_gen).to(
            self.device, self.dtype
        )
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
        if config.stagger_episodes and limit is not None and not config.fresh_starts:
            self.episode_step = torch.randint(
                0, limit, (n,), generator=self.env_gen, device=self.device
            )
        else:
            self.episode_step = torch.zeros(n, dtype=torch.long, device=self.device)
        self.episode_return = torch.zeros(n, dtype=torch.float64, device=self.device)
        self.updates = 0
        self.transitions = 0

    # -- the training loop's contract ---------------------------------------------------
    def agent(self) -> PolicyAgent:
        """The policy behind the env's (continuous) action space."""
        return PolicyAgent(self.policy, self.env_id, False)

    def save(self, path: Union[str, Path]) -> None:
        """Write the policy to ``path`` (``policy.pt``:
        :func:`~diffsim.controllers.checkpoint.save_policy`)."""
        save_policy(Path(path), self.policy, self.env_id, False, METHOD)

    # -- helpers ------------------------------------------------------------------------
    def _sample_initial(self, n: int) -> torch.Tensor:
        try:
            return self.task.system.sample_initial(
                n,
                generator=self.env_gen,
                dtype=self.dtype,
                device=self.device,
                **self.config.start_options,
            )
        except TypeError as exc:
            if not self.config.start_options:
                raise
            raise ValueError(
                f"start_options {self.config.start_options} are not options of the "
                f"{self.task.system.title} system's sample_initial ({exc})"
            ) from None

    def _learning_rewards(self, out: Rollout) -> torch.Tensor:
        """``[h, N]`` per-step learning rewards (scaled; zero after a termination)."""
        rewards = out.rewards
        loss_fn = self.task.system.training_loss
        if loss_fn is not None:
            h, n = out.alive.shape
            # Each step as a one-step trajectory (s_t, s_{t+1}): [2, h·N, n].
            pairs = torch.stack((out.states[:-1], out.states[1:])).reshape(2, h * n, -1)
            cost = loss_fn(pairs, out.alive.reshape(1, h * n), self.task.params).reshape(h, n)
            rewards = rewards - cost
        return self.config.reward_scale * rewards * out.alive

    def _value(self, network: ControlPolicy, states: torch.Tensor) -> torch.Tensor:
        """Values ``[...]`` of states ``[..., n]``."""
        obs = self.task.observe(states)
        return network.score(obs.reshape(-1, obs.shape[-1])).reshape(obs.shape[:-1])

    # -- one update ---------------------------------------------------------------------
    def update(self, max_transitions: Optional[int] = None) -> dict[str, float]:
        """One SHAC update: an actor step through an h-step window, then critic regression.

        Args:
            max_transitions: The transitions the caller has left (the training loop's count
                to its next evaluation). An update always simulates one full window of
                ``N·h`` steps, so it exceeds this by less than one window; the algorithm
                does not depend on it. Must be positive when given.

        Returns:
            Metrics: ``transitions`` (N·h steps simulated by this update), ``loss`` (actor
            loss), ``critic_loss``, ``grad_norm`` (actor gradient norm before clipping),
            ``param_norm`` (actor), ``train_return`` (mean task return of the training
            episodes that ended in this update; with fresh starts, or when none ended, the
            mean per-step task reward times the episode length), ``value_mean``,
            ``actor_lr``, ``episodes_ended``.

        Raises:
            ValueError: for a ``max_transitions`` below 1.
            FloatingPointError: if the actor loss or its gradient is not finite (the
                optimiser is not stepped).
        """
        if max_transitions is not None and max_transitions < 1:
            raise ValueError(f"max_transitions must be positive, got {max_transitions}")
        cfg = self.config
        n = cfg.num_envs
        if cfg.fresh_starts:
            self.state = self._sample_initial(n)
        loss, out, rewards = self.actor_loss(self.state.detach())

        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.grad_clip)
        if not bool(torch.isfinite(loss) & torch.isfinite(grad_norm)):
            self.actor_opt.zero_grad(set_to_none=True)
            what = "loss" if not torch.isfinite(loss) else "gradient"
            raise FloatingPointError(
                f"SHAC update {self.updates} on {self.env_id}: the actor {what} is not finite "
                f"(loss {float(loss)}, gradient norm {float(grad_norm)}); optimiser not stepped"
            )
        self.actor_opt.step()

        critic_loss = value_mean = torch.zeros((), dtype=self.dtype)
        if cfg.use_critic:
            critic_loss, value_mean = self._update_critic(out, rewards.detach())
            self.critic_sched.step()
        self.actor_sched.step()
        train_return, ended = self._advance_episodes(out)
        self.updates += 1
        self.transitions += out.transitions
        return {
            "transitions": float(out.transitions),
            "loss": float(loss.detach()),
            "critic_loss": float(critic_loss),
            "grad_norm": float(grad_norm),
            "param_norm": param_norm(self.policy),
            "train_return": train_return,
            "value_mean": float(value_mean),
            "actor_lr": float(self.actor_opt.param_groups[0]["lr"]),
            "episodes_ended": float(ended),
        }

    def actor_loss(self, start: torch.Tensor) -> tuple[torch.Tensor, Rollout, torch.Tensor]:
        """The actor loss of one window from ``start`` (module docstring, step 2), with the
        saturation penalty; differentiable in the actor's parameters (and ``start``).

        Args:
            start: ``[N, n]`` states of the window's first step.

        Returns:
            ``(loss, rollout, learning rewards [h, N])``.
        """
        cfg = self.config
        n, h = start.shape[0], cfg.horizon
        out, scores = self._window(start)
        rewards = self._learning_rewards(out)
        alive_end = out.alive[-1] * (~out.terminated[-1]).to(out.alive.dtype)
        discounts = cfg.gamma ** torch.arange(h, dtype=rewards.dtype, device=rewards.device)
        acc = (discounts[:, None] * rewards).sum(0)
        if cfg.use_critic:
            acc = acc + cfg.gamma**h * alive_end * self._value(self.target_critic, out.states[-1])
        loss = -acc.sum() / (n * h)
        if cfg.saturation_weight > 0:
            excess = torch.relu(scores.abs() - cfg.saturation_threshold).pow(2) * out.alive
            loss = loss + cfg.saturation_weight * excess.sum() / (n * h)
        return loss, out, rewards

    def _window(self, start: torch.Tensor) -> tuple[Rollout, torch.Tensor]:
        """The window's rollout from ``start`` and the actor's pre-tanh scores ``[h, N]``."""
        cfg, policy = self.config, self.policy
        scores: list[torch.Tensor] = []

        def act(obs: torch.Tensor) -> torch.Tensor:
            z = policy.score(obs)
            scores.append(z)
            action = policy.head(z)
            if cfg.action_noise > 0:
                noise = torch.randn(
                    z.shape, generator=self.noise_gen, dtype=z.dtype, device=z.device
                )
                action = action + cfg.action_noise * noise
            return action

        out = rollout(act, self.task, start, cfg.horizon, on_terminate="mask")
        return out, torch.stack(scores)

    def _advance_episodes(self, out: Rollout) -> tuple[float, torch.Tensor]:
        """Update the episode buffers after a window; restart ended episodes (see the module
        docstring, step 4). Returns ``(train_return, number of episodes that ended)``."""
        cfg = self.config
        n, h = cfg.num_envs, cfg.horizon
        window_return = out.rewards.detach().sum(0).double()
        per_step = float(window_return.sum()) / (n * h) * (self.episode_length or h)
        if cfg.fresh_starts:
            self.state = out.states[-1].detach()
            return per_step, torch.zeros(())
        self.episode_return = self.episode_return + window_return
        self.episode_step = self.episode_step + h
        ended = out.terminated.any(0)
        if self.episode_length is not None:
            ended = ended | (self.episode_step >= self.episode_length)
        count = ended.sum()
        finished = (self.episode_return * ended).sum()
        fresh = self._sample_initial(n)
        self.state = torch.where(ended[:, None], fresh, out.states[-1].detach())
        self.episode_step = torch.where(ended, 0, self.episode_step)
        self.episode_return = torch.where(ended, 0.0, self.episode_return)
        if int(count) == 0:
            return per_step, count
        return float(finished) / int(count), count

    def _update_critic(
        self, out: Rollout, rewards: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Regress the critic on TD(λ) targets of one window; Polyak-update the target.

        Args:
            out: The window's rollout.
            rewards: ``[h, N]`` its learning rewards (detached).

        Returns:
            The last epoch's mean critic loss and the mean target value.
        """
        cfg = self.config
        h, n = rewards.shape
        with torch.no_grad():
            live = (~out.terminated).to(self.dtype)  # V(terminal) = 0
            next_values = self._value(self.target_critic, out.states[1:].detach()) * live
            targets = torch.empty_like(rewards)
            g = next_values[h - 1]
            for t in range(h - 1, -1, -1):
                blend = (
                    next_values[t] if t == h - 1 else (1 - cfg.lam) * next_values[t] + cfg.lam * g
                )
                g = rewards[t] + cfg.gamma * live[t] * blend
                targets[t] = g
        obs_flat = out.observations.detach().reshape(h * n, -1)
        tgt_flat = targets.reshape(-1)
        weight = out.alive.detach().reshape(-1)  # only steps taken while the episode ran
        m = obs_flat.shape[0]
        mb = max(1, m // cfg.critic_minibatches)
        critic_loss = torch.zeros((), dtype=self.dtype, device=self.device)
        for _ in range(cfg.critic_iterations):
            perm = torch.randperm(m, generator=self.batch_gen).to(self.device)
            total = torch.zeros((), dtype=self.dtype, device=self.device)
            for k in range(cfg.critic_minibatches):
                idx = perm[k * mb : (k + 1) * mb]
                w = weight[idx]
                err = (self.critic.score(obs_flat[idx]) - tgt_flat[idx]) ** 2
                closs = (w * err).sum() / w.sum().clamp_min(1.0)
                self.critic_opt.zero_grad(set_to_none=True)
                closs.backward()
                torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip)
                self.critic_opt.step()
                total = total + closs.detach()
            critic_loss = total / cfg.critic_minibatches
        if not torch.isfinite(critic_loss):
            raise FloatingPointError(
                f"SHAC update {self.updates} on {self.env_id}: the critic loss is not finite"
            )
        with torch.no_grad():
            a = cfg.target_alpha
            for pt, p in zip(self.target_critic.parameters(), self.critic.parameters()):
                pt.mul_(a).add_(p, alpha=1 - a)
        mean = (tgt_flat * weight).sum() / weight.sum().clamp_min(1.0)
        return critic_loss, mean

    # -- checkpointing ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: networks, optimisers, schedulers, every
        generator, the state buffer and episode counters."""
        return {
            "env_id": self.env_id,
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
            "state": self.state.detach().clone(),
            "episode_step": self.episode_step.clone(),
            "episode_return": self.episode_return.clone(),
            "updates": self.updates,
            "transitions": self.transitions,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (same task and network sizes).

        Raises:
            ValueError: for a state saved on another task.
        """
        saved = state.get("env_id")
        if saved != self.env_id:
            raise ValueError(
                f"the SHAC state is for task {saved!r}, this trainer trains {self.env_id!r}"
            )
        self.policy.load_state_dict(state["policy"])
        self.critic.load_state_dict(state["critic"])
        self.target_critic.load_state_dict(state["target_critic"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.actor_sched.load_state_dict(state["actor_sched"])
        self.critic_sched.load_state_dict(state["critic_sched"])
        self.env_gen.set_state(state["env_gen"])
        self.noise_gen.set_state(state["noise_gen"])
        self.batch_gen.set_state(state["batch_gen"])
        self.state = state["state"].clone().to(self.device)
        self.episode_step = state["episode_step"].clone().to(self.device)
        self.episode_return = state["episode_return"].clone().to(self.device)
        self.updates = int(state["updates"])
        self.transitions = int(state["transitions"])


@torch.no_grad()
def evaluate_batched(
    policy: torch.nn.Module,
    initial_states: torch.Tensor,
    task: str = "pendulum",
    steps: int = 200,
) -> torch.Tensor:
    """Deprecated: use :func:`diffsim.controllers.evaluate.evaluate` (the env itself) or
    :func:`diffsim.envs.rollout`. Returns ``[E]`` float64 sums of the task's reward of
    ``policy`` (float32 observations → actions ``[E]`` or ``[E, 1]``) from
    ``initial_states``, over ``steps`` steps."""
    warnings.warn(
        "diffsim.controllers.shac.evaluate_batched is deprecated: use "
        "diffsim.controllers.evaluate.evaluate(agent, env_id) or diffsim.envs.rollout",
        DeprecationWarning,
        stacklevel=2,
    )

    def act(obs: torch.Tensor) -> torch.Tensor:
        return policy(obs.to(torch.float32)).reshape(-1).to(obs.dtype)

    out = rollout(act, resolve_shac_task(task), initial_states, steps)
    return out.rewards.sum(0).double()


_REMOVED = {
    "Actor": "the actor is a ControlPolicy: SHACTrainer(...).policy, or "
    "build_policy(actor_spec(task, config)) from diffsim.controllers.shac",
    "Critic": "the critic is a ControlPolicy with a linear head: SHACTrainer(...).critic, or "
    "build_policy(critic_spec(task, config))",
    "SYSTEM": "SHAC trains any continuous-action system: see shac_task_ids()",
}


def __getattr__(name: str) -> Any:
    if name == "TASKS":
        warnings.warn(
            "diffsim.controllers.shac.TASKS is deprecated: use shac_tasks() (short name → id) "
            "or shac_task_ids()",
            DeprecationWarning,
            stacklevel=2,
        )
        return tuple(shac_tasks())
    if name in _REMOVED:
        raise AttributeError(f"diffsim.controllers.shac.{name} was removed: {_REMOVED[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
