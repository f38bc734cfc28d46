"""Training by backpropagation through time (BPTT) over the differentiable rollout.

One update (:meth:`BPTTTrainer.update`), in the manner of brax's analytic policy gradients:

1. draw ``batch_size`` initial states from the task's reset distribution;
2. roll the policy out for ``horizon`` steps with :func:`diffsim.envs.rollout` (gradients
   truncated every ``truncate_every`` steps if set);
3. loss = the mean over the batch of the objective below; backward through the simulator;
4. clip the gradient's global norm to ``grad_clip``; one optimiser step: Adam, or
   ``normalized_sgd`` (a step of length ``lr`` along the gradient's direction, whatever its
   norm). The latter suits CartPole's linear sign policy, whose behaviour depends only on
   the direction of its weight vector: a fixed-angle step is what matters, and Adam's
   per-coordinate scaling distorts that direction (the comparison: ``docs/benchmarks.md``).

It consumes ``batch_size × horizon`` transitions. What is differentiated (``loss``):

- ``"return"``: −(sum of the task's rewards) — Pendulum's reward is a smooth cost of the
  state and torque, so its return is differentiable as it stands.
- ``"balance"``: the system's own training loss (:attr:`diffsim.systems.System.
  training_loss`, ``(states, alive, params) -> [B]``), for systems whose reward has no useful
  gradient; the name is CartPole's, kept for existing configurations and run files, and a
  system without a training loss refuses it. CartPole's reward is +1 per step: its return is
  piecewise constant in the policy's parameters. Its training loss
  (:func:`diffsim.cartpole.balance_loss`) is, over the steps of each episode
  (``on_terminate="mask"``: terminated elements stop contributing), the squared distance
  from the upright, centred state, each coordinate divided by its termination threshold:
  Σ_t alive_t · ((x_t/2.4)² + (θ_t/0.2094)²). Keeping the pole upright and the cart centred
  is what keeps the episode going. (Simulating past the termination instead lets the fallen
  pole's large, chaotic angles dominate the gradient.) With this loss the rollout ends once
  every element has terminated, and only the steps simulated are counted.
- ``"shaped"``: the system's training loss minus the return, for rewards that have a useful
  gradient in part only: MountainCarContinuous's ``100·[goal] − 0.1·a²`` passes the action
  cost's gradient, and its training loss (:func:`diffsim.continuous_mountain_car.goal_loss`)
  stands in for the goal bonus. The rollout ends as for ``"balance"``.

Defaults: :data:`TUNED` holds the tuned configuration of each built-in task; any other
registered task (a user's own system) gets :func:`derived_config`, read from its
description: horizon = the task's episode length, loss = the system's training loss if it
has one, else the return; a ``binary`` head for a two-action task, a ``categorical`` one
for more actions, else ``tanh``; the action scale (and offset) from the action bounds; the
other fields are :class:`BPTTConfig`'s generic defaults. Its default budget is
:data:`DERIVED_BUDGET` transitions.

``mirror_starts`` draws half the initial states and adds their mirror images (s → −s):
CartPole and Pendulum are symmetric under s → −s, a → −a, and mirrored pairs cancel the
spurious asymmetric part of the gradient (e.g. a drift of the bias) early in training. For
an odd policy (no biases, odd activations) the mirrored rollout is the exact mirror image of
the original and contributes the same gradient: there it only doubles the transitions.

``detach_observations`` feeds the policy its observations without their gradient. The
gradient with respect to the weights is then ``Σ_t (∂L/∂a_t) · ∂π(o_t)/∂θ``: each action's
own effect on the loss through the dynamics after it (the costate of trajectory
optimisation, Pontryagin's adjoint), applied to the policy at the state where it acted, and
nothing through how an action changed what the policy observed next. With hard
straight-through actions (``st_sign``) the full gradient compounds that second path, the
surrogate derivative of the switch times the state's sensitivity, step after step, and
explodes where the policy switches; the detached gradient stays bounded. MountainCar-v0's
tuned configuration uses it (``docs/reference_dynamics.md``).

Non-finite values: the physics never raises (it stays free of host syncs). The trainer
checks the loss and the gradient norm after each backward pass; when either is not finite
it re-runs the same rollout under :func:`diffsim.debug_checks` to find the first step where
a NaN or infinity appeared, and raises :class:`NonFiniteTrainingError` naming it, before
the optimiser touches the parameters.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Union

import torch

from diffsim import debug_checks
from diffsim._debug import NonFiniteError
from diffsim._validation import check_choice
from diffsim.envs.rollout import Rollout, Task, get_task, rollout
from diffsim.systems import tuned_budgets, tuned_configs

from ._fields import check_fields
from .policies import PolicySpec, build_policy, head_settings, param_norm, spec_for_task
from .trainer import ControlPolicyTrainer

LOSSES = ("return", "balance", "shaped")
OPTIMIZERS = ("adam", "normalized_sgd")


class NonFiniteTrainingError(FloatingPointError):
    """The loss or its gradient was not finite; the message says where it first appeared."""


@dataclass
class BPTTConfig:
    """Hyperparameters of BPTT (defaults are generic; see ``TUNED`` for per-task ones).

    Attributes:
        horizon: Steps per rollout.
        batch_size: Initial states per rollout.
        truncate_every: Detach the state every this many steps (None: full horizon).
        lr: Adam learning rate (the initial one with ``lr_half_life``).
        lr_half_life: Halve the learning rate every this many updates, continuously
            (``lr · 0.5^(updates / lr_half_life)`` at each step; None: constant). A constant
            rate keeps Adam's steps about ``lr`` long near an optimum, where they make the
            policy wander.
        grad_clip: Maximum global gradient norm (None: no clipping).
        loss: ``"return"``, ``"balance"`` (the system's training loss) or ``"shaped"`` (that
            loss minus the return); see the module docstring.
        policy: Policy network settings (a :class:`PolicySpec` without ``obs_size``).
        dtype: ``"float32"`` or ``"float64"``.
        mirror_starts: Use mirrored pairs of initial states (``batch_size`` must be even).
        optimizer: ``"adam"`` or ``"normalized_sgd"`` (see the module docstring).
        detach_observations: Feed the policy its observations without their gradient: the
            weights then get the gradient of each action's own effect on the loss (through
            the dynamics that follow it) and none through how earlier actions changed what
            the policy observed. This is the costate's gradient of trajectory optimisation
            applied to every action the policy took; with a hard (straight-through) action
            it keeps the gradient from compounding through the policy's response to the
            state, which explodes where a policy switches its push. False (default):
            the full BPTT gradient.
        whole_rollouts: Never shorten a rollout to end at the training loop's next
            evaluation: every update simulates its full ``horizon`` (or until every episode
            has ended), and an evaluation falls at the first update boundary past its
            scheduled count (the count reached is what its row records). False (default):
            the update before an evaluation is cut to the transitions left, so that
            evaluations fall on the schedule; a cut rollout may be too short to reach a
            goal, and its gradient is then that of a different problem.
        start_spread: The spread of the training starts as a multiple of the reset draw:
            each initial state is a draw of the task's reset distribution times this factor
            (1 or None: the reset distribution itself; 2: CartPole's U(±0.05) becomes
            U(±0.1)). It scales about zero, so it suits the tasks whose reset distribution
            is centred on 0 (CartPole, Pendulum, Acrobot; not the cars, whose starts lie
            around −0.5 m). A differentiable hyperparameter of
            :mod:`diffsim.controllers.hypergrad`.
        return_weight: The weight ``w`` of the return in the ``"shaped"`` loss, training
            loss − ``w`` · return (1 by default; another value with another loss is
            refused, as nothing would read it). A differentiable hyperparameter of
            :mod:`diffsim.controllers.hypergrad`: the weight of the loss's two terms.
        fast: Run each rollout step as one compiled function (:mod:`diffsim.fast`); on a
            CUDA device with ``loss="return"`` and a noise-free estimator, also replay the
            whole forward and backward pass as one CUDA graph. Equal to the eager updates
            within the fast path's stated tolerance; the first update compiles (seconds).
    """

    horizon: int = 50
    batch_size: int = 16
    truncate_every: Optional[int] = None
    lr: float = 1e-2
    lr_half_life: Optional[int] = None
    grad_clip: Optional[float] = 1.0
    loss: str = "return"
    policy: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    mirror_starts: bool = False
    optimizer: str = "adam"
    detach_observations: bool = False
    whole_rollouts: bool = False
    start_spread: Optional[float] = None
    return_weight: float = 1.0
    fast: bool = False

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice("loss", self.loss, LOSSES)
        check_choice("dtype", self.dtype, ("float32", "float64"))
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.mirror_starts and self.batch_size % 2:
            raise ValueError(f"mirror_starts needs an even batch_size, got {self.batch_size}")
        if self.lr_half_life is not None and self.lr_half_life < 1:
            raise ValueError(
                f"lr_half_life must be a positive number of updates or None, "
                f"got {self.lr_half_life}"
            )
        if self.start_spread is not None and not (
            self.start_spread > 0 and math.isfinite(self.start_spread)
        ):
            raise ValueError(
                f"start_spread must be a positive factor on the reset draw or None, "
                f"got {self.start_spread}"
            )
        if not (self.return_weight >= 0 and math.isfinite(self.return_weight)):
            raise ValueError(
                f"return_weight must be finite and non-negative, got {self.return_weight}"
            )
        if self.return_weight != 1.0 and self.loss != "shaped":
            raise ValueError(
                f"return_weight weighs the return in loss='shaped'; with loss={self.loss!r} "
                f"it would be ignored (got return_weight={self.return_weight})"
            )
        if self.horizon < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(
                "horizon, batch_size and lr must be positive, got "
                f"{self.horizon}, {self.batch_size}, {self.lr}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


TUNED: Mapping[str, Mapping[str, Any]] = tuned_configs("bptt")
"""The tuned configuration per task id (``diffsim train ENV --method bptt`` with no
options): each task's ``tuned["bptt"]`` in the registry (:attr:`diffsim.systems.TaskSpec.
tuned`, where each entry says why it is so); tasks without one get :func:`derived_config`."""


def derived_config(task: Union[str, Task]) -> dict[str, Any]:
    """The default BPTT settings of a task without a :data:`TUNED` entry, read from its
    description (see the module docstring).

    Args:
        task: A task id, short name or :class:`~diffsim.envs.rollout.Task`.

    Returns:
        :class:`BPTTConfig` keyword arguments.

    Raises:
        ValueError: for a task without a time limit (the horizon has nothing to follow).
    """
    task = get_task(task)
    if task.max_episode_steps is None:
        raise ValueError(
            f"{task.env_id} has no time limit (max_episode_steps), so BPTT has no default "
            "horizon: give one (config={'horizon': T} or --set horizon=T)"
        )
    return dict(
        horizon=task.max_episode_steps,
        loss="balance" if task.system.training_loss is not None else "return",
        policy=head_settings(
            task.discrete, task.action_low, task.action_high, actions=task.discrete_actions
        ),
    )


def default_config(task: Union[str, Task]) -> BPTTConfig:
    """The tuned configuration of a task id or short name (:data:`TUNED`), else the one
    derived from its description (:func:`derived_config`)."""
    task = get_task(task)
    settings = TUNED.get(task.env_id)
    return BPTTConfig(**copy.deepcopy(settings if settings is not None else derived_config(task)))


def policy_spec_for(task: Task, config: BPTTConfig) -> PolicySpec:
    """The full :class:`PolicySpec` for a task: the observation size, and the head, action
    scale and offset that the config leaves out from the task's action bounds
    (:func:`~diffsim.controllers.policies.head_settings`)."""
    return spec_for_task(task, config.policy)


def _check_loss(task: Task, loss: str) -> None:
    if loss in ("balance", "shaped") and task.system.training_loss is None:
        raise ValueError(
            f"loss {loss!r} uses the system's training loss, and the {task.system.title} "
            f"system ({task.env_id}) has none (System.training_loss is None); use "
            "loss='return', which differentiates the return"
        )


def start_losses(
    task: Task, loss: str, out: Rollout, return_weight: Union[float, torch.Tensor] = 1.0
) -> torch.Tensor:
    """BPTT's loss of each start of a rollout, ``[B]``, for the ``loss`` setting
    (:class:`BPTTConfig`): ``"return"`` the negative return, ``"balance"`` the system's
    training loss, ``"shaped"`` the training loss minus ``return_weight`` times the return
    (a float, or a 0-dim tensor that carries a hypergradient). The trainer minimises their
    mean; :mod:`diffsim.controllers.grads` measures its gradient."""
    if loss == "return":
        return -out.returns
    value = task.system.training_loss(out.states, out.alive, task.params)
    return value - return_weight * out.returns if loss == "shaped" else value


def training_rollout(
    task: Task,
    config: BPTTConfig,
    policy: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    initial_state: torch.Tensor,
    generator_state: torch.Tensor,
    horizon: int,
) -> Rollout:
    """BPTT's training rollout of ``policy`` from ``initial_state`` ``[B, n]``.

    ``policy(obs, gen)`` gives the actions; ``gen`` is a generator on ``initial_state``'s
    device restored to ``generator_state``, so the estimator's noise of a rollout is fixed
    by that state. ``config`` sets what the trainer sets: ``detach_observations``,
    ``truncate_every``, ``fast``, and whether the rollout may stop once every start has
    terminated (not with ``loss="return"``). Shared by :class:`BPTTTrainer` and
    :func:`diffsim.controllers.hypergrad.unrolled_training`, whose rollouts must agree.
    """
    gen = torch.Generator(device=initial_state.device)
    gen.set_state(generator_state)
    if config.detach_observations:

        def act(obs: torch.Tensor) -> torch.Tensor:
            return policy(obs.detach(), gen)

    else:

        def act(obs: torch.Tensor) -> torch.Tensor:
            return policy(obs, gen)

    return rollout(
        act,
        task,
        initial_state,
        horizon,
        truncate_every=config.truncate_every,
        on_terminate="mask",
        stop_when_all_done=config.loss != "return",
        fast=config.fast,
    )


class BPTTTrainer(ControlPolicyTrainer):
    """BPTT on one task (see the module docstring), a
    :class:`~diffsim.controllers.trainer.Trainer`.

    Args:
        task: A rollout task's id or short name.
        config: The hyperparameters.
        seed: Seeds the initial weights, the initial states and the estimator's noise.
        device: Torch device.

    Attributes:
        policy: The :class:`~diffsim.controllers.policies.ControlPolicy` being trained.

    Raises:
        ValueError: a task without a rollout (the trebuchet) or a loss the task lacks.
    """

    method = "bptt"

    def __init__(self, task: str, config: BPTTConfig, seed: int, device: str = "cpu"):
        self.task = get_task(task)
        self.env_id, self.discrete = self.task.env_id, self.task.discrete
        _check_loss(self.task, config.loss)
        self.config = config
        self.device = torch.device(device)
        self.dtype = getattr(torch, config.dtype)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.spec = policy_spec_for(self.task, config)
        self.policy = build_policy(self.spec, self.generator).to(self.device, self.dtype)
        if config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        else:
            self.optimizer = torch.optim.SGD(self.policy.parameters(), lr=config.lr)
        self._graphs: dict[int, tuple] = {}  # CUDA graphs of updates, by horizon (fast)
        self.updates = 0

    # -- one update -------------------------------------------------------------------
    def _rollout(
        self, initial_state: torch.Tensor, generator_state: torch.Tensor, horizon: int
    ) -> Rollout:
        return training_rollout(
            self.task, self.config, self.policy, initial_state, generator_state, horizon
        )

    def _loss(self, out: Rollout) -> torch.Tensor:
        return start_losses(self.task, self.config.loss, out, self.config.return_weight).mean()

    def update(self, max_transitions: Optional[int] = None) -> dict[str, float]:
        """One rollout and one optimiser step; returns its metrics (``transitions`` included).

        Args:
            max_transitions: Shorten the rollout's horizon so that it simulates at most this
                many transitions (the training loop passes the count left before the next
                evaluation, so that evaluations fall exactly on their schedule). Below
                ``batch_size`` the update is one step from that many starts (or, with
                ``mirror_starts`` or a CUDA graph, one step of the full batch, exceeding it).
        """
        cfg = self.config
        horizon, batch = cfg.horizon, cfg.batch_size
        if max_transitions is not None and not cfg.whole_rollouts:
            horizon = max(1, min(horizon, max_transitions // batch))
            if max_transitions < batch and not (cfg.mirror_starts or self._graphable()):
                batch = max(1, max_transitions)
        n = batch // 2 if cfg.mirror_starts else batch
        s0 = self.task.sample_initial(n, self.generator, self.dtype, self.device)
        if cfg.start_spread is not None:
            s0 = s0 * cfg.start_spread
        if cfg.mirror_starts:
            s0 = torch.cat([s0, -s0])
        noise_state = self.generator.get_state()
        # Advance the generator past what the rollout may draw (estimator noise), so that
        # the next update's draws do not overlap this one's.
        torch.randint(0, 2, (1,), generator=self.generator)
        if self._graphable():
            loss, returns = self._graphed_forward_backward(s0, horizon)
            transitions = horizon * cfg.batch_size
        else:
            out = self._rollout(s0, noise_state, horizon)
            loss = self._loss(out)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            returns, transitions = out.returns.detach(), out.transitions
        params = [p for p in self.policy.parameters() if p.grad is not None]
        clip = cfg.grad_clip if cfg.grad_clip is not None else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
        if not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
            self._locate_non_finite(s0, noise_state, horizon, loss, grad_norm)
        if cfg.optimizer == "normalized_sgd":
            norm = torch.sqrt(sum((p.grad**2).sum() for p in params))
            scale = 1.0 / max(float(norm), 1e-12)
            for p in params:
                p.grad.mul_(scale)
        if cfg.lr_half_life is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.lr * 0.5 ** (self.updates / cfg.lr_half_life)
        self.optimizer.step()
        self.updates += 1
        return {
            "transitions": transitions,
            "loss": float(loss.detach()),
            "grad_norm": float(grad_norm),
            "param_norm": param_norm(self.policy),
            "train_return": float(returns.mean()),
        }

    def _graphable(self) -> bool:
        """Whether updates replay a CUDA graph: fast path on CUDA, fixed-length rollouts
        (``loss="return"``) and no estimator noise (its generator cannot be captured)."""
        return (
            self.config.fast
            and self.device.type == "cuda"
            and self.config.loss == "return"
            and self.spec.estimator != "st_gumbel"
        )

    def _graphed_forward_backward(
        self, s0: torch.Tensor, horizon: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and returns of the rollout from ``s0``, gradients in ``.grad``, by replaying
        one CUDA graph per horizon (:class:`diffsim.fast.CudaGraphIteration`)."""
        from diffsim.fast import CudaGraphIteration

        graphs = self._graphs
        if horizon not in graphs:
            start = torch.empty_like(s0)

            def iteration() -> tuple[torch.Tensor, torch.Tensor]:
                out = self._rollout(start, self.generator.get_state(), horizon)
                return self._loss(out), out.returns.detach()

            graphs[horizon] = (start, CudaGraphIteration(iteration, self.policy.parameters()))
        start, graph = graphs[horizon]
        start.copy_(s0)
        return graph()

    def _locate_non_finite(
        self,
        s0: torch.Tensor,
        noise_state: torch.Tensor,
        horizon: int,
        loss: torch.Tensor,
        grad_norm: torch.Tensor,
    ) -> None:
        what = "loss" if not torch.isfinite(loss) else "gradient norm"
        self.optimizer.zero_grad(set_to_none=True)
        where = "no non-finite value in the forward rollout: it arose in the backward pass"
        for name, p in self.policy.named_parameters():
            if not torch.isfinite(p).all():
                where = f"the policy parameter {name!r} is already non-finite"
                break
        else:
            step_counter = _StepCounter()
            try:
                with debug_checks():
                    self.policy.register_forward_pre_hook(step_counter)
                    self._rollout(s0, noise_state, horizon)
            except NonFiniteError as exc:
                where = f"rollout step {step_counter.calls - 1}: {exc}"
            finally:
                self.policy._forward_pre_hooks.clear()
        raise NonFiniteTrainingError(
            f"non-finite {what} ({float(loss.detach()) if what == 'loss' else float(grad_norm)}); "
            f"first appeared at {where}. The parameters were not updated."
        )

    # -- checkpointing ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (policy, optimiser, generator)."""
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.updates = int(state.get("updates", 0))  # checkpoints before lr_half_life: 0


class _StepCounter:
    """Forward pre-hook counting policy calls (one per rollout step)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, module: torch.nn.Module, args: Any) -> None:
        self.calls += 1
        obs = args[0]
        if not torch.isfinite(obs).all():
            rows = (~torch.isfinite(obs)).any(-1).nonzero()[:, 0].tolist()[:5]
            raise NonFiniteError(f"the observation given to the policy is not finite (rows {rows})")


DEFAULT_BUDGETS: Mapping[str, int] = tuned_budgets("bptt")
"""Training transitions of ``diffsim train ENV --method bptt`` with no ``--budget``, per task
id: each task's ``budgets["bptt"]`` in the registry (others: :data:`DERIVED_BUDGET`)."""

DERIVED_BUDGET = 100_000
"""The default budget (transitions) of a task without a :data:`DEFAULT_BUDGETS` entry."""


def default_budget(task: Union[str, Task]) -> int:
    """The default training budget (transitions) for a task id or short name."""
    return DEFAULT_BUDGETS.get(get_task(task).env_id, DERIVED_BUDGET)
