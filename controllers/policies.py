"""Policy networks with action heads that respect the action space.

A :class:`ControlPolicy` maps observations ``[B, obs]`` (float tensors, Gymnasium's
observation) to *physical* actions ``[B]``:

- continuous tasks (``head="tanh"``): ``action_scale · tanh(net(obs))``, within the bounds
  ±action_scale (CartPole's push ±1, Pendulum's torque ±2 N·m);
- binary tasks (``head="binary"``): ``net(obs)`` is a score ``u`` and a gradient estimator of
  :mod:`diffsim.controllers.estimators` turns it into a push of ±1 (``st_sign`` by default);
- unbounded continuous actions (``head="linear"``): ``action_scale · net(obs)``, for the 2019
  pendulum whose torque is never clipped (the post's policy had no bound either).

``net`` is an MLP (configurable sizes and activation) or a linear map. Observations are
divided by ``obs_scale`` first (a fixed, documented normalisation, default 1).
Everything needed to rebuild a policy is in its :class:`PolicySpec` (saved in checkpoints).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

import torch
from torch import nn

from diffsim._validation import check_choice

from .estimators import ESTIMATORS, get_estimator

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}
KINDS = ("mlp", "linear")
HEADS = ("tanh", "binary", "linear")


@dataclass
class PolicySpec:
    """How to build a policy (stored as JSON in every run directory).

    Attributes:
        obs_size: Length of the observation vector.
        kind: ``"mlp"`` or ``"linear"``.
        hidden: Hidden layer sizes of the MLP.
        activation: One of ``tanh``, ``relu``, ``elu``, ``gelu``, ``silu``.
        head: ``"tanh"`` (bounded continuous action), ``"binary"`` (±1 via an estimator) or
            ``"linear"`` (unbounded continuous action).
        action_scale: Bound of the continuous action (physical units), or 1 for binary.
        estimator: Gradient estimator of a binary head (``st_sign``, ``st_gumbel``,
            ``expected``).
        temperature: Gumbel-softmax temperature (``st_gumbel`` only).
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
    estimator: str = "st_sign"
    temperature: float = 1.0
    obs_scale: Optional[tuple[float, ...]] = None
    init_scale: float = 1.0
    bias: bool = True

    def __post_init__(self) -> None:
        check_choice("policy kind", self.kind, KINDS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("policy head", self.head, HEADS)
        check_choice("estimator", self.estimator, ESTIMATORS)
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
        last = nn.Linear(sizes[-1], 1, bias=spec.bias)
        with torch.no_grad():
            for p in last.parameters():
                p.mul_(spec.init_scale)
        layers.append(last)
        self.net = nn.Sequential(*layers)
        scale = torch.tensor(spec.obs_scale) if spec.obs_scale else torch.ones(spec.obs_size)
        self.register_buffer("obs_scale", scale, persistent=False)
        self._scaled = spec.obs_scale is not None  # dividing by ones is skipped (exact)
        self.estimator = get_estimator(spec.estimator, spec.temperature)

    def score(self, obs: torch.Tensor) -> torch.Tensor:
        """The network's raw output ``[B]`` (before the head)."""
        obs = obs.to(self.obs_scale.dtype)
        return self.net(obs / self.obs_scale if self._scaled else obs)[..., 0]

    def forward(
        self, obs: torch.Tensor, generator: Optional[torch.Generator] = None
    ) -> torch.Tensor:
        """Training action ``[B]`` in physical units (stochastic for ``st_gumbel``)."""
        u = self.score(obs)
        if self.spec.head == "binary":
            return self.estimator(u, generator)
        if self.spec.head == "linear":
            return self.spec.action_scale * u
        return self.spec.action_scale * torch.tanh(u)

    @torch.no_grad()
    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """Greedy action ``[B]`` in physical units (±1 for a binary head)."""
        u = self.score(obs)
        if self.spec.head == "binary":
            return self.estimator(u, deterministic=True)
        if self.spec.head == "linear":
            return self.spec.action_scale * u
        return self.spec.action_scale * torch.tanh(u)


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
