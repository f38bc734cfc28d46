"""Policy networks with action heads that respect the action space.

A :class:`ControlPolicy` maps observations ``[B, obs]`` (float tensors, Gymnasium's
observation) to *physical* actions ``[B]``:

- continuous tasks (``head="tanh"``): ``action_scale · tanh(net(obs))``, within the bounds
  ±action_scale (CartPole's push ±1, Pendulum's torque ±2 N·m);
- binary tasks (``head="binary"``): ``net(obs)`` is a score ``u`` and a gradient estimator of
  :mod:`diffsim.controllers.estimators` turns it into a push of ±1 (``st_sign`` by default),
  times ``action_scale``;
- tasks with k discrete actions (``head="categorical"``): ``net(obs)`` is ``[B, k]`` logits,
  one per action of ``actions`` (the physical values, the system's ``discrete_actions``), and a
  categorical estimator turns them into one of those values (``st_argmax`` by default), times
  ``action_scale``;
- unbounded continuous actions (``head="linear"``): ``action_scale · net(obs)``, for the 2019
  pendulum whose torque is never clipped (the post's policy had no bound either).

Every head then adds ``action_offset`` (default 0): an action range ``[low, high]`` that is
not symmetric is reached with ``action_scale = (high − low) / 2`` and ``action_offset =
(high + low) / 2`` (a binary head then picks ``low`` or ``high``). A categorical head's
``actions`` are physical already: its scale and offset stay 1 and 0 unless set.

``net`` is an MLP (configurable sizes and activation) or a linear map. Observations are
divided by ``obs_scale`` first (a fixed, documented normalisation, default 1).
Everything needed to rebuild a policy is in its :class:`PolicySpec` (saved in checkpoints).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

import torch
from torch import nn

from diffsim._validation import check_choice

from .estimators import (
    CATEGORICAL_ESTIMATORS,
    ESTIMATORS,
    get_categorical_estimator,
    get_estimator,
)

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}
KINDS = ("mlp", "linear")
HEADS = ("tanh", "binary", "linear", "categorical")
DEFAULT_ESTIMATORS = {"binary": "st_sign", "categorical": "st_argmax"}
"""The estimator a head gets when a spec names none (the other heads keep ``st_sign``,
which they do not use)."""


@dataclass
class PolicySpec:
    """How to build a policy (stored as JSON in every run directory).

    Attributes:
        obs_size: Length of the observation vector.
        kind: ``"mlp"`` or ``"linear"``.
        hidden: Hidden layer sizes of the MLP.
        activation: One of ``tanh``, ``relu``, ``elu``, ``gelu``, ``silu``.
        head: ``"tanh"`` (bounded continuous action), ``"binary"`` (±1 via an estimator),
            ``"linear"`` (unbounded continuous action) or ``"categorical"`` (one of
            ``actions`` via an estimator).
        action_scale: Bound of the continuous action (physical units); the magnitude of a
            binary head's two actions (1: ±1); a factor on a categorical head's ``actions``.
        action_offset: Added to every head's action (physical units; see the module
            docstring). Specs saved without it read as 0.
        estimator: Gradient estimator of a binary head (``st_sign``, ``st_gumbel``,
            ``expected``) or of a categorical head (``st_argmax``, ``st_gumbel``,
            ``expected``); None (the default) takes the head's default
            (:data:`DEFAULT_ESTIMATORS`: ``st_sign``; ``st_argmax`` for a categorical head).
        temperature: Gumbel-softmax temperature (``st_gumbel`` only), > 0.
        actions: The physical value of each action of a categorical head (at least two,
            finite, distinct), in the order of the environment's action indices; empty for
            the other heads. Specs saved without it read as empty.
        obs_scale: Divisors applied to the observation (default: ones).
        init_scale: Multiplier of the last layer's initial weights (0 starts from a
            zero output).
        bias: Whether the layers have biases. Without them, an MLP with odd activations
            (tanh) and a linear policy are odd functions, mirroring the symmetry of
            CartPole and Pendulum (s → −s, a → −a).
    """

    obs_size: int
    kind: str = "mlp"
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    head: str = "tanh"
    action_scale: float = 1.0
    action_offset: float = 0.0
    estimator: Optional[str] = None
    temperature: float = 1.0
    obs_scale: Optional[tuple[float, ...]] = None
    init_scale: float = 1.0
    bias: bool = True
    actions: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check_choice("policy kind", self.kind, KINDS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("policy head", self.head, HEADS)
        if self.estimator is None:
            self.estimator = DEFAULT_ESTIMATORS.get(self.head, "st_sign")
        if self.head == "categorical":
            check_choice("estimator of a categorical head", self.estimator, CATEGORICAL_ESTIMATORS)
        else:
            check_choice("estimator", self.estimator, ESTIMATORS)
        if not self.temperature > 0:
            raise ValueError(f"the Gumbel-softmax temperature must be > 0, got {self.temperature}")
        self.actions = tuple(float(a) for a in self.actions)
        if self.head == "categorical":
            values = self.actions
            if len(values) < 2 or not all(map(math.isfinite, values)):
                raise ValueError(
                    "a categorical head needs the physical values of at least two actions "
                    f"(finite numbers), got actions={values}; a discrete task's are its "
                    "System.discrete_actions"
                )
            if len(set(values)) != len(values):
                raise ValueError(f"a categorical head's actions must be distinct, got {values}")
        elif self.actions:
            raise ValueError(
                f"actions={self.actions} is only used by a categorical head, not by head "
                f"{self.head!r}: drop it or use head='categorical'"
            )
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.obs_size < 1 or any(h < 1 for h in self.hidden):
            raise ValueError(
                f"sizes must be positive: obs_size={self.obs_size}, hidden={self.hidden}"
            )
        if self.obs_scale is not None:
            self.obs_scale = tuple(float(s) for s in self.obs_scale)
            if len(self.obs_scale) != self.obs_size or min(self.obs_scale) <= 0:
                raise ValueError(
                    f"obs_scale must be {self.obs_size} positive numbers, got {self.obs_scale}"
                )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (inverse: ``PolicySpec(**d)``)."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["obs_scale"] = list(self.obs_scale) if self.obs_scale is not None else None
        d["actions"] = list(self.actions)
        return d


class ControlPolicy(nn.Module):
    """A policy network with its action head (see the module docstring)."""

    def __init__(self, spec: PolicySpec):
        super().__init__()
        self.spec = spec
        sizes = [spec.obs_size, *(spec.hidden if spec.kind == "mlp" else ())]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b, bias=spec.bias), ACTIVATIONS[spec.activation]()]
        self._categorical = spec.head == "categorical"
        last = nn.Linear(sizes[-1], len(spec.actions) if self._categorical else 1, bias=spec.bias)
        with torch.no_grad():
            for p in last.parameters():
                p.mul_(spec.init_scale)
        layers.append(last)
        self.net = nn.Sequential(*layers)
        scale = torch.tensor(spec.obs_scale) if spec.obs_scale else torch.ones(spec.obs_size)
        self.register_buffer("obs_scale", scale, persistent=False)
        self._scaled = spec.obs_scale is not None  # dividing by ones is skipped (exact)
        if self._categorical:
            self.estimator = get_categorical_estimator(spec.estimator, spec.temperature)
        else:
            self.estimator = get_estimator(spec.estimator, spec.temperature)
        self.register_buffer("actions", torch.tensor(spec.actions), persistent=False)

    def score(self, obs: torch.Tensor) -> torch.Tensor:
        """The network's raw output before the head: ``[B]``, or the logits ``[B, k]`` of a
        categorical head."""
        obs = obs.to(self.obs_scale.dtype)
        out = self.net(obs / self.obs_scale if self._scaled else obs)
        return out if self._categorical else out[..., 0]

    def head(
        self,
        u: torch.Tensor,
        generator: Optional[torch.Generator] = None,
        deterministic: bool = False,
    ) -> torch.Tensor:
        """The physical action ``[B]`` of scores ``u [B]`` (logits ``[B, k]`` for a categorical
        head; see the module docstring); ``deterministic`` takes the greedy action of a binary
        or categorical head."""
        spec = self.spec
        if spec.head == "binary":
            a = self.estimator(u, generator, deterministic)
            if spec.action_scale != 1.0:
                a = spec.action_scale * a
        elif self._categorical:
            a = self.estimator(u, self.actions, generator, deterministic)
            if spec.action_scale != 1.0:
                a = spec.action_scale * a
        elif spec.head == "linear":
            a = spec.action_scale * u
        else:
            a = spec.action_scale * torch.tanh(u)
        return a + spec.action_offset if spec.action_offset else a

    def forward(
        self, obs: torch.Tensor, generator: Optional[torch.Generator] = None
    ) -> torch.Tensor:
        """Training action ``[B]`` in physical units (stochastic for ``st_gumbel``)."""
        return self.head(self.score(obs), generator)

    @torch.no_grad()
    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """Greedy action ``[B]`` in physical units (``±action_scale + action_offset`` for a
        binary head, the value of the largest logit for a categorical one)."""
        return self.head(self.score(obs), deterministic=True)


def head_settings(
    discrete: bool, low: float, high: float, *, actions: Sequence[float] = ()
) -> dict[str, Any]:
    """The head that spans the physical action range ``[low, high]``, or picks among a
    discrete task's actions.

    Args:
        discrete: A discrete task: a ``categorical`` head over ``actions`` when they are
            more than two, else a ``binary`` head picking ``low`` or ``high``. Otherwise a
            ``tanh`` head over the range.
        low, high: The action bounds (physical units), ``low < high``.
        actions: The physical value of each discrete action (a discrete task's
            :attr:`~diffsim.systems.System.discrete_actions`); empty, the default, gives the
            binary head as before.

    Returns:
        :class:`PolicySpec` keyword arguments: ``head`` and ``actions`` for a categorical
        head; else ``head``, ``action_scale`` and, for a range not centred on 0,
        ``action_offset``.

    Raises:
        ValueError: for bounds that are not finite or not increasing, or ``actions`` given
            for a continuous task.
    """
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(
            f"the action bounds must be finite with low < high, got [{low}, {high}]: give the "
            "policy's head, action_scale and action_offset explicitly"
        )
    actions = tuple(float(a) for a in actions)
    if actions and not discrete:
        raise ValueError(
            f"actions={actions} were given for a continuous task (discrete=False): a "
            "continuous task has no discrete actions"
        )
    if len(actions) > 2:
        return {"head": "categorical", "actions": actions}
    settings: dict[str, Any] = {
        "head": "binary" if discrete else "tanh",
        "action_scale": (high - low) / 2,
    }
    if high + low:
        settings["action_offset"] = (high + low) / 2
    return settings


def spec_for_task(task: Any, settings: dict[str, Any]) -> PolicySpec:
    """A :class:`PolicySpec` for a task from ``settings`` (:class:`PolicySpec` fields without
    ``obs_size``); the head and the action range it leaves out come from the task's actions
    (:func:`head_settings`): a categorical head for a task with more than two discrete
    actions, a binary one for two, a tanh head over the bounds of a continuous task.

    Args:
        task: A :class:`diffsim.envs.rollout.Task` (its ``obs_size``, ``discrete``,
            ``discrete_actions``, ``action_low`` and ``action_high`` are read).
        settings: The configured policy settings. A configured ``head`` is kept: a
            categorical one takes the task's discrete actions (unless ``actions`` is set),
            any other the scale and offset of the action bounds.
    """
    full = dict(settings)
    low, high = task.action_low, task.action_high
    actions = task.discrete_actions
    derived = head_settings(task.discrete, low, high, actions=actions)
    if full.setdefault("head", derived["head"]) == "categorical":
        full.setdefault("actions", actions)
    else:
        for key, value in head_settings(task.discrete, low, high).items():
            full.setdefault(key, value)
    return PolicySpec(obs_size=task.obs_size, **full)


def build_policy(spec: PolicySpec, generator: Optional[torch.Generator] = None) -> ControlPolicy:
    """Build a policy; its initial weights are drawn from ``generator`` when given."""
    if generator is None:
        return ControlPolicy(spec)
    # nn.Linear draws from torch's default generator: fork it so no global state changes.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        return ControlPolicy(spec)


def param_norm(module: nn.Module) -> float:
    """The L2 norm of all parameters of ``module``."""
    return float(torch.sqrt(sum((p.detach() ** 2).sum() for p in module.parameters())))
