"""Gradient-free training with Nevergrad: ``cmaes`` (whole policy) and ``retrofit`` (a few
parameters of a trained policy, on a non-differentiable objective).

``cmaes``
    Optimises every parameter of a :class:`~diffsim.controllers.policies.ControlPolicy`
    (the same network class BPTT trains) on the true episode return, with any Nevergrad
    optimiser by name (``optimizer="CMA"`` by default: ``ParametrizedCMA`` with exactly
    ``popsize`` candidates per generation; ``"NGOpt"``, ``"OnePlusOne"``, ``"TwoPointsDE"``
    … take ``popsize`` as ``num_workers``). The default networks are small, as such search
    needs: CartPole a linear map without bias (4 weights, the policy BPTT uses); Pendulum
    an MLP with one hidden layer of 16 tanh units (81 weights), observation scaled by
    (1, 1, 8); any other system the same MLP unscaled (:data:`CMAES_GENERIC`). One update
    is one generation: ask ``popsize`` candidates, play each from the same ``episodes``
    initial states (drawn afresh from the reset distribution each
    generation: common random numbers), all ``popsize × episodes`` episodes in **one**
    batched rollout of :func:`diffsim.envs.rollout` over the env's physics with its time
    limit (candidates' weights stacked, the network applied with ``torch.func.vmap``; no
    Python loop over candidates), the deterministic action (greedy sign, mean torque),
    then tell each candidate its mean return. ``transitions`` = every simulated step of
    every element (``T × popsize × episodes``; a rollout stops once every episode has
    terminated, as CartPole's do). The policy reported and evaluated is CMA's
    search-distribution mean (other optimisers: Nevergrad's recommendation), see
    :func:`recommendation`.

``retrofit``
    Starts from a trained ControlPolicy run (``source``: its directory, e.g. a bptt run;
    ``diffsim train ENV --method retrofit --from DIR``) and optimises a small subset of its
    parameters (``parameters``): ``"last_layer"`` (the weights and bias of the output
    layer; for CartPole's linear policy, all four weights) or ``"output_scale"`` (a gain
    ``g`` and an offset ``c`` of the network's output, ``u → g·u + c``, folded into the last
    layer when saved; with a sign head and no bias it could change nothing and is refused).
    The objective is what the gradient never saw, on a fixed set of ``episodes`` initial
    states drawn from the reset distribution and scaled by ``start_scale`` (perturbed
    starts), under physics changed by ``params_override`` (e.g. a heavier pole):
    ``"episode_length"`` (mean steps before termination, CartPole's default),
    ``"worst_episode_length"`` (the shortest one) or ``"return"`` (mean return, Pendulum's
    default). It is piecewise constant in the parameters: no gradient exists. The policy
    kept is the best candidate seen (the objective is deterministic on the fixed set), so
    the objective never falls below the start. Metrics report the start and the current
    objective on that set and on a held-out set of as many starts (another seed), and the
    gains; measuring the kept policy on them is evaluation, not counted as transitions.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from diffsim._validation import check_choice
from diffsim.envs.rollout import Task, get_task, rollout

from ._fields import check_fields
from .baselines import require
from .checkpoint import CheckpointError, PolicyAgent, load_policy
from .policies import ControlPolicy, build_policy, spec_for_task
from .trainer import ControlPolicyTrainer

OBJECTIVES = ("episode_length", "worst_episode_length", "return")
PARAMETER_SETS = ("last_layer", "output_scale")


COMMON_OPTIMIZERS = ("CMA", "DiagonalCMA", "NGOpt", "OnePlusOne", "TwoPointsDE", "PSO")
"""A few of Nevergrad's optimisers that suit these problems (any registered name works)."""


def optimizer_names() -> list[str]:
    """Every optimiser name Nevergrad registers."""
    return sorted(require("nevergrad").optimizers.registry)


def check_optimizer(name: str) -> None:
    """Raise a ValueError naming close matches if Nevergrad has no optimiser ``name``."""
    import difflib

    names = optimizer_names()
    if name in names:
        return
    close = difflib.get_close_matches(str(name), names, n=5)
    raise ValueError(
        f"unknown Nevergrad optimizer {name!r}"
        + (f"; did you mean {', '.join(close)}?" if close else "")
        + f" Common choices: {', '.join(COMMON_OPTIMIZERS)} ({len(names)} in "
        "nevergrad.optimizers.registry)"
    )


def make_optimizer(
    name: str, init: np.ndarray, sigma: Any, budget: int, popsize: int, seed: int
) -> Any:
    """A Nevergrad optimiser over a vector started at ``init`` with step size ``sigma``.

    Args:
        name: A name of ``nevergrad.optimizers.registry`` (``"CMA"``: ``ParametrizedCMA``
            with exactly ``popsize`` candidates per generation).
        init: Initial point ``[d]``.
        sigma: Initial step size (a number, or one per coordinate).
        budget: Nevergrad's budget (candidate evaluations; some optimisers plan with it).
        popsize: Candidates asked before they are told (``num_workers``).
        seed: Seeds the parametrization's generator, from which the optimiser draws.
    """
    ng = require("nevergrad")
    check_optimizer(name)
    param = ng.p.Array(init=np.asarray(init, dtype=np.float64)).set_mutation(
        sigma=np.broadcast_to(np.asarray(sigma, dtype=np.float64), init.shape).copy()
    )
    param.random_state = np.random.RandomState(seed)
    if name == "CMA":
        family = ng.optimizers.ParametrizedCMA(popsize=popsize)
        return family(parametrization=param, budget=budget, num_workers=popsize)
    return ng.optimizers.registry[name](parametrization=param, budget=budget, num_workers=popsize)


def recommendation(optimizer: Any) -> np.ndarray:
    """The point to use now: CMA's search-distribution mean (``xfavorite``: under a noisy
    objective its best-ever point is a lucky draw that stays the recommendation for good),
    else Nevergrad's own recommendation."""
    es = getattr(optimizer, "_es", None)  # Nevergrad's CMA keeps its cma.CMAEvolutionStrategy
    if es is not None and hasattr(es, "result"):
        child = optimizer.parametrization.spawn_child()
        return child.set_standardized_data(es.result.xfavorite).value
    return optimizer.provide_recommendation().value


class _Batched:
    """A ControlPolicy's network evaluated for P weight vectors at once (``vmap``)."""

    def __init__(self, policy: ControlPolicy):
        self.policy = policy
        self.names = [n for n, _ in policy.net.named_parameters()]
        self.shapes = [p.shape for _, p in policy.net.named_parameters()]
        self.sizes = [p.numel() for _, p in policy.net.named_parameters()]

    @property
    def size(self) -> int:
        return sum(self.sizes)

    def flat(self) -> np.ndarray:
        """The policy's current weights as one float64 vector."""
        return (
            torch.cat([p.detach().reshape(-1) for p in self.policy.net.parameters()])
            .to(torch.float64)
            .numpy()
        )

    def assign(self, vector: np.ndarray) -> None:
        """Write a weight vector into the policy."""
        theta = torch.as_tensor(np.asarray(vector))
        with torch.no_grad():
            for p, chunk in zip(self.policy.net.parameters(), theta.split(self.sizes)):
                p.copy_(chunk.reshape(p.shape).to(p.dtype))

    def scores(self, theta: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """Scores ``[P, E]`` (logits ``[P, E, k]`` of a categorical head) for weights
        ``theta [P, d]`` and observations ``[P, E, obs]``."""
        parts = theta.split(self.sizes, dim=1)
        stacked = {n: c.reshape(-1, *s) for n, c, s in zip(self.names, parts, self.shapes)}
        net = self.policy.net
        logits = self.policy.spec.head == "categorical"

        def one(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            out = torch.func.functional_call(net, params, (x,))
            return out if logits else out[..., 0]

        x = obs.to(theta.dtype) / self.policy.obs_scale.to(theta.dtype)
        return torch.func.vmap(one)(stacked, x)

    def head(self, u: torch.Tensor) -> torch.Tensor:
        """The deterministic physical action of scores ``u`` (as the evaluated policy acts)."""
        return self.policy.head(u, deterministic=True)


def _play(
    task: Task,
    starts: torch.Tensor,
    population: int,
    scores: Callable[[torch.Tensor], torch.Tensor],
    head: Callable[[torch.Tensor], torch.Tensor],
    params: Any = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Play ``population`` policies from the same ``starts [E, n]`` in one batched rollout.

    ``scores`` maps observations ``[P, E, obs]`` to scores ``[P, E]`` (or logits
    ``[P, E, k]``). Returns each element's return and episode length, both ``[P, E]``, and
    the transitions simulated (the rollout stops once every episode has terminated, which
    only a system that terminates reaches).
    """
    episodes = starts.shape[0]
    initial = starts.repeat(population, 1)  # candidate-major: [P·E, n]

    def act(obs: torch.Tensor) -> torch.Tensor:
        u = scores(obs.reshape(population, episodes, -1))
        return head(u.reshape(population * episodes, *u.shape[2:]))

    with torch.no_grad():
        out = rollout(
            act,
            task,
            initial,
            on_terminate="mask",
            params=params,
            stop_when_all_done=True,
        )
    shape = (population, episodes)
    return out.returns.reshape(shape), out.episode_lengths.reshape(shape), out.transitions


def _check_common(optimizer: str, popsize: int, episodes: int, sigma: float) -> None:
    if popsize < 1 or episodes < 1 or not sigma > 0:
        raise ValueError(
            f"popsize, episodes and sigma must be positive, got {popsize}, {episodes}, {sigma}"
        )
    check_optimizer(optimizer)


# -- cmaes ---------------------------------------------------------------------------------
@dataclass
class CMAESConfig:
    """Hyperparameters of ``cmaes`` (see the module docstring; defaults per task below).

    Attributes:
        optimizer: A Nevergrad optimiser name (``"CMA"``, ``"NGOpt"``, ``"OnePlusOne"`` …).
        popsize: Candidates per update (CMA's population; ``num_workers`` for others).
        episodes: Episodes per candidate, from the same initial states for all candidates
            of an update.
        sigma: Initial step size, in weight units.
        evaluations: Nevergrad's budget in candidate evaluations (a planning hint; the
            training loop's budget in transitions is what stops training).
        policy: :class:`PolicySpec` settings without ``obs_size``.
        dtype: ``"float64"`` (the envs' precision) or ``"float32"``.
    """

    optimizer: str = "CMA"
    popsize: int = 8
    episodes: int = 4
    sigma: float = 0.5
    evaluations: int = 10_000
    policy: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float64"

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice("dtype", self.dtype, ("float32", "float64"))
        _check_common(self.optimizer, self.popsize, self.episodes, self.sigma)


CMAES_TUNED: dict[str, dict[str, Any]] = {
    "cartpole": dict(popsize=8, episodes=4, policy=dict(kind="linear", bias=False)),
    "pendulum": dict(
        popsize=16,
        episodes=8,
        policy=dict(kind="mlp", hidden=(16,), activation="tanh", obs_scale=(1.0, 1.0, 8.0)),
    ),
}
"""Tuned ``cmaes`` settings per system name (both CartPole ids share one, both Pendulum ids
the other); a system not listed gets :data:`CMAES_GENERIC`."""

CMAES_GENERIC: dict[str, Any] = dict(
    popsize=16, episodes=8, policy=dict(kind="mlp", hidden=(16,), activation="tanh")
)
"""The ``cmaes`` settings of a system without a tuned entry: an MLP with one hidden layer of
16 tanh units, 16 candidates of 8 episodes each per generation (the head and the action
scale follow the task: categorical for more than two discrete actions, binary for two, else
tanh over the action bound)."""

CMAES_BUDGETS = {"cartpole": 200_000, "pendulum": 2_000_000}
"""Default ``cmaes`` budgets (transitions) per system name; others: :data:`CMAES_GENERIC_BUDGET`."""

CMAES_GENERIC_BUDGET = 1_000_000


def _system_name(env_id: str) -> str:
    """The registry name of the system of a task id or short name."""
    return get_task(env_id).system.name


def cmaes_default_config(env_id: str) -> CMAESConfig:
    """The default ``cmaes`` configuration for a task id: its system's tuned entry
    (:data:`CMAES_TUNED`), else :data:`CMAES_GENERIC`."""
    settings = CMAES_TUNED.get(_system_name(env_id), CMAES_GENERIC)
    return CMAESConfig(**copy.deepcopy(settings))


def cmaes_default_budget(env_id: str) -> int:
    """Training transitions of ``diffsim train ENV --method cmaes`` with no ``--budget``."""
    return CMAES_BUDGETS.get(_system_name(env_id), CMAES_GENERIC_BUDGET)


class CMAESTrainer(ControlPolicyTrainer):
    """Nevergrad on every weight of a ControlPolicy (see the module docstring), a
    :class:`~diffsim.controllers.trainer.Trainer`.

    Args:
        env_id: A task id (or short name) of :data:`diffsim.envs.rollout.TASKS`.
        config: The hyperparameters.
        seed: Seeds the initial weights, the optimiser and the initial states.
        device: Torch device of the rollouts.
    """

    method = "cmaes"

    def __init__(self, env_id: str, config: CMAESConfig, seed: int, device: str = "cpu"):
        self.task = get_task(env_id)
        self.env_id, self.discrete = self.task.env_id, self.task.discrete
        self.config = config
        self.device = torch.device(device)
        self.dtype = getattr(torch, config.dtype)
        self.generator = torch.Generator().manual_seed(int(seed))
        spec = spec_for_task(self.task, config.policy)
        self.policy = build_policy(spec, self.generator).to(self.device, self.dtype)
        self.batched = _Batched(self.policy)
        self.optimizer = make_optimizer(
            config.optimizer,
            self.batched.flat(),
            config.sigma,
            config.evaluations,
            config.popsize,
            int(seed),
        )
        self.evaluations = 0

    def update(self, max_transitions: Optional[int] = None) -> dict[str, float]:
        """One generation: ask, one batched rollout, tell; the policy = recommendation.

        Args:
            max_transitions: Not used: a generation is the smallest unit of work (the
                training loop evaluates after the generation that reaches its next point).
        """
        cfg = self.config
        candidates = [self.optimizer.ask() for _ in range(cfg.popsize)]
        theta = torch.as_tensor(np.stack([c.value for c in candidates]), dtype=self.dtype)
        starts = self.task.sample_initial(cfg.episodes, self.generator, self.dtype)
        returns, _, transitions = _play(
            self.task,
            starts.to(self.device),
            cfg.popsize,
            lambda obs: self.batched.scores(theta.to(self.device), obs),
            self.batched.head,
        )
        means = returns.mean(1).double().cpu().numpy()
        for cand, value in zip(candidates, means):
            self.optimizer.tell(cand, -float(value))
        self.evaluations += cfg.popsize
        self.batched.assign(recommendation(self.optimizer))
        return {
            "transitions": transitions,
            "policy_evaluations": float(self.evaluations),
            "train_return": float(means.mean()),
            "best_candidate_return": float(means.max()),
        }

    def state_dict(self) -> dict[str, Any]:
        """Optimiser (pickled, with its generator), policy, sampling generator, counter."""
        return {
            "optimizer": pickle.dumps(self.optimizer),
            "policy": self.policy.state_dict(),
            "generator": self.generator.get_state(),
            "evaluations": self.evaluations,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer = pickle.loads(state["optimizer"])
        self.policy.load_state_dict(state["policy"])
        self.generator.set_state(state["generator"])
        self.evaluations = int(state["evaluations"])


# -- retrofit ------------------------------------------------------------------------------
@dataclass
class RetrofitConfig:
    """Hyperparameters of ``retrofit`` (see the module docstring).

    Attributes:
        source: The run directory of the ControlPolicy to refine (``--from DIR``).
        parameters: ``"last_layer"`` or ``"output_scale"``.
        objective: ``"episode_length"``, ``"worst_episode_length"`` or ``"return"``.
        params_override: Physical parameters of the objective's physics that differ from
            the task's (e.g. ``{"masspole": 0.5}`` kg: a pole five times heavier).
        start_scale: Initial states are the reset distribution's draws times this factor.
        episodes: Initial states in the objective's fixed set (and in the held-out set).
        optimizer: A Nevergrad optimiser name.
        popsize: Candidates per update.
        sigma: Initial step size, relative: times the RMS of the last layer's weights for
            ``last_layer``; absolute on ``g`` and ``c`` for ``output_scale``.
        evaluations: Nevergrad's budget in candidate evaluations (a planning hint).
        dtype: ``"float64"`` or ``"float32"``.
    """

    source: str = ""
    parameters: str = "last_layer"
    objective: str = "episode_length"
    params_override: dict[str, Any] = field(default_factory=dict)
    start_scale: float = 1.0
    episodes: int = 32
    optimizer: str = "CMA"
    popsize: int = 8
    sigma: float = 0.2
    evaluations: int = 2000
    dtype: str = "float64"

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice("retrofit parameters", self.parameters, PARAMETER_SETS)
        check_choice("retrofit objective", self.objective, OBJECTIVES)
        check_choice("dtype", self.dtype, ("float32", "float64"))
        _check_common(self.optimizer, self.popsize, self.episodes, self.sigma)
        if not self.start_scale > 0:
            raise ValueError(f"start_scale must be positive, got {self.start_scale}")


RETROFIT_TUNED: dict[str, dict[str, Any]] = {
    "cartpole": dict(
        objective="episode_length", params_override={"masspole": 1.0}, start_scale=4.0
    ),
    "pendulum": dict(objective="return", params_override={"m": 1.2}),
}
"""Default objectives per system name: CartPole with a pole ten times heavier (1 kg) and
starts four times as far from upright (each state entry U(±0.2)); Pendulum's return with a
20 % heavier rod (its torque limit then matters more). A system not listed gets
:data:`RETROFIT_GENERIC`."""

RETROFIT_GENERIC: dict[str, Any] = dict(objective="return")
"""The ``retrofit`` settings of a system without a tuned entry: the task's own return, on the
task's physics and reset distribution (every system has a return; not every one terminates)."""


def retrofit_default_config(env_id: str) -> RetrofitConfig:
    """The default ``retrofit`` configuration for a task id (``source`` still to give): its
    system's entry of :data:`RETROFIT_TUNED`, else :data:`RETROFIT_GENERIC`."""
    settings = RETROFIT_TUNED.get(_system_name(env_id), RETROFIT_GENERIC)
    return RetrofitConfig(**copy.deepcopy(settings))


def retrofit_default_budget(env_id: str) -> int:
    """Training transitions of ``--method retrofit`` with no ``--budget``."""
    return 2_000_000


def load_source(source: str, env_id: str) -> ControlPolicy:
    """The ControlPolicy of run directory ``source``, checked against ``env_id``.

    Raises:
        ValueError: no ``source``, or a run of another task.
        CheckpointError: ``source`` is not a run directory of a ControlPolicy.
    """
    if not source:
        raise ValueError(
            "retrofit needs the run to start from: diffsim train ENV --method retrofit "
            "--from DIR (or config={'source': DIR}), DIR holding a ControlPolicy run "
            "such as a bptt or cmaes one"
        )
    path = Path(source)
    if not path.is_dir():
        raise CheckpointError(f"retrofit source {source!r} is not a directory")
    agent = load_policy(path)
    if not isinstance(agent, PolicyAgent):
        raise CheckpointError(
            f"retrofit refines a ControlPolicy (a bptt, shac, cmaes or retrofit run); "
            f"{path / 'policy.pt'} holds a {type(agent).__name__}"
        )
    if agent.env_id != env_id:
        raise ValueError(
            f"the retrofit source {source} was trained on {agent.env_id}, not {env_id}; "
            f"train on {agent.env_id} or choose a run of {env_id}"
        )
    return agent.policy


class RetrofitTrainer(ControlPolicyTrainer):
    """Nevergrad on a few parameters of a trained policy (see the module docstring), a
    :class:`~diffsim.controllers.trainer.Trainer`. Its objective is not the task's return,
    so its registry entry never stops at the task's solved return.

    Args:
        env_id: The task id; must be the source run's.
        config: The hyperparameters (``source`` required).
        seed: Seeds the objective's fixed starts, the held-out starts and the optimiser.
        device: Torch device of the rollouts.
    """

    method = "retrofit"

    def __init__(self, env_id: str, config: RetrofitConfig, seed: int, device: str = "cpu"):
        self.task = get_task(env_id)
        self.env_id, self.discrete = self.task.env_id, self.task.discrete
        self.config = config
        self.device = torch.device(device)
        self.dtype = getattr(torch, config.dtype)
        source = load_source(config.source, self.task.env_id)
        self.policy = copy.deepcopy(source).to(self.device, self.dtype).train()
        self.base = _Batched(copy.deepcopy(self.policy))
        last = self.policy.net[-1]
        self.last_size = sum(p.numel() for p in last.parameters())
        if config.parameters == "output_scale":
            if self.policy.spec.head == "categorical":
                raise ValueError(
                    "output_scale cannot retrofit a categorical head: one gain and one "
                    "offset for all its logits change no action (a positive gain) or pick "
                    "the smallest logit (a negative one); use parameters='last_layer'"
                )
            if self.policy.spec.head == "binary" and last.bias is None:
                raise ValueError(
                    "output_scale cannot change this policy: with a sign head and no bias, "
                    "a gain leaves every action as it is; use parameters='last_layer'"
                )
            init = np.array([1.0, 0.0] if last.bias is not None else [1.0])
            sigma = config.sigma
        else:
            init = self.base.flat()[-self.last_size :]
            rms = float(np.sqrt(np.mean(init**2)))
            sigma = config.sigma * (rms if rms > 0 else 1.0)
        self.params = self.task.params.replace(**config.params_override)
        self.starts = self._starts(int(seed))
        self.test_starts = self._starts(int(seed) + 1_000_003)
        self.optimizer = make_optimizer(
            config.optimizer, init, sigma, config.evaluations, config.popsize, int(seed)
        )
        self.best_z = init.copy()
        self.start = {
            "objective": self._objective(init[None], self.starts)[0][0],
            "test": self._objective(init[None], self.test_starts)[0][0],
        }
        self.best = dict(self.start)
        self.evaluations = 0

    def _starts(self, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        s0 = self.task.sample_initial(self.config.episodes, gen, self.dtype)
        return (s0 * self.config.start_scale).to(self.device)

    def _theta(self, z: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Full weights ``[P, d]`` and the output affine ``[P, 2]`` (or None) for ``z``."""
        base = torch.as_tensor(self.base.flat(), dtype=self.dtype, device=self.device)
        full = base.expand(z.shape[0], -1).clone()
        if self.config.parameters == "last_layer":
            full[:, -self.last_size :] = z
            return full, None
        return full, z

    def _objective(self, z: np.ndarray, starts: torch.Tensor) -> tuple[np.ndarray, int]:
        """The objective of each candidate ``z [P, k]`` on ``starts``, and the transitions."""
        zt = torch.as_tensor(np.asarray(z), dtype=self.dtype, device=self.device)
        theta, affine = self._theta(zt)

        def scores(obs: torch.Tensor) -> torch.Tensor:
            u = self.base.scores(theta, obs)
            if affine is None:
                return u
            gain = affine[:, :1]
            return gain * u + (affine[:, 1:2] if affine.shape[1] > 1 else 0.0)

        returns, lengths, transitions = _play(
            self.task, starts, zt.shape[0], scores, self.base.head, self.params
        )
        objective = self.config.objective
        if objective == "return":
            values = returns.mean(1)
        elif objective == "episode_length":
            values = lengths.mean(1)
        else:
            values = lengths.min(1).values
        return values.double().cpu().numpy(), transitions

    def _apply(self, z: np.ndarray) -> None:
        """Write the subset ``z`` into :attr:`policy` (output_scale folded into the last layer)."""
        theta, affine = self._theta(torch.as_tensor(z[None], dtype=self.dtype))
        _Batched(self.policy).assign(theta[0].cpu().numpy())
        if affine is not None:
            last = self.policy.net[-1]
            with torch.no_grad():
                last.weight.mul_(affine[0, 0])
                if last.bias is not None:
                    last.bias.mul_(affine[0, 0]).add_(affine[0, 1])

    def update(self, max_transitions: Optional[int] = None) -> dict[str, float]:
        """One generation on the fixed starts; keeps the best candidate seen.

        Args:
            max_transitions: Not used: a generation is the smallest unit of work.
        """
        cfg = self.config
        candidates = [self.optimizer.ask() for _ in range(cfg.popsize)]
        z = np.stack([c.value for c in candidates])
        values, transitions = self._objective(z, self.starts)
        for cand, value in zip(candidates, values):
            self.optimizer.tell(cand, -float(value))
        self.evaluations += cfg.popsize
        i = int(np.argmax(values))
        if values[i] > self.best["objective"]:
            self.best_z = z[i].copy()
            self.best = {
                "objective": float(values[i]),
                "test": float(self._objective(z[i][None], self.test_starts)[0][0]),
            }
            self._apply(self.best_z)
        return {
            "transitions": transitions,
            "policy_evaluations": float(self.evaluations),
            "objective_start": float(self.start["objective"]),
            "objective": float(self.best["objective"]),
            "objective_gain": float(self.best["objective"] - self.start["objective"]),
            "test_objective_start": float(self.start["test"]),
            "test_objective": float(self.best["test"]),
            "test_objective_gain": float(self.best["test"] - self.start["test"]),
            "generation_best": float(values[i]),
        }

    def state_dict(self) -> dict[str, Any]:
        """Optimiser (pickled), the kept policy and subset, the measured objectives."""
        return {
            "optimizer": pickle.dumps(self.optimizer),
            "policy": self.policy.state_dict(),
            "best_z": self.best_z,
            "best": dict(self.best),
            "evaluations": self.evaluations,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer = pickle.loads(state["optimizer"])
        self.policy.load_state_dict(state["policy"])
        self.best_z = np.asarray(state["best_z"])
        self.best = dict(state["best"])
        self.evaluations = int(state["evaluations"])


__all__ = [
    "OBJECTIVES",
    "PARAMETER_SETS",
    "CMAESConfig",
    "CMAESTrainer",
    "RetrofitConfig",
    "RetrofitTrainer",
    "make_optimizer",
    "optimizer_names",
]
