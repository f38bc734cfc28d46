"""The trebuchet aiming network: (wind, target) → (release angle, counterweight), trained
through the differentiable :func:`diffsim.trebuchet.shoot`.

Design
    After FluxML's 2019 post "Differentiable Control Problems" (∂P vs RL,
    https://fluxml.ai/2019/03/05/dp-vs-rl.html): a small MLP reads the wind and the target
    and answers with the two controls of the trebuchet; its loss is the miss of the shot that
    those controls give, differentiated through the simulator, on batches of targets and
    winds drawn afresh at every update. This module is an independent implementation.

What is differentiated
    For each sampled pair ``(w, t)`` the network gives ``(angle, weight)``, the trebuchet
    shoots once (float64) and the loss is the *relative squared miss* ``((d − t) / t)²``
    averaged over the shots that succeeded. Failed shots (``shoot`` returns NaN, e.g. a slack
    sling) are masked out of that mean — a NaN never reaches the gradient, because
    ``torch.where`` selects the finite branch and ``shoot`` holds failed shots at a finite
    state — and instead add ``failure_penalty · (((angle − 45) / 80)² + ((weight − 300) /
    550)²)``, which pulls their controls towards the middle of the action box, where every
    shot of the task succeeds.

Training distribution
    Wind ~ U(−``wind_max``, ``wind_max``) m/s and target ~ U(``target_min``, ``target_max``) m,
    keeping only the pairs inside the trebuchet's reach (a grid search of the action box at
    each wind, :func:`reach_table`, with a small margin): an unreachable target has no
    solution and its large miss would dominate the gradient. The default covers both the
    env's task (wind in ±5 m/s, targets 20–80 m) and the post's (wind ~ N(0, 5²), targets
    20–100 m) up to ±15 m/s of wind.

Optimiser
    By default a damped Gauss-Newton (Levenberg–Marquardt) step per batch on the residuals
    ``(d − t) / t`` (:meth:`AimingTrainer._gauss_newton_step`); ``optimizer="adam"`` gives
    Adam with gradient-norm clipping on the same loss. Measured figures of both:
    ``docs/aiming.md`` and ``docs/results/aiming.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn

from diffsim.trebuchet import ANGLE_BOUNDS_DEG, WEIGHT_BOUNDS_LB

from ._fields import check_fields
from .checkpoint import CheckpointError, check_observations, write_policy

ENV_ID = "diffsim/Trebuchet-v0"
ANGLE_BOUNDS = ANGLE_BOUNDS_DEG
"""The env's release-angle bounds (degrees): :data:`diffsim.trebuchet.ANGLE_BOUNDS_DEG`."""
WEIGHT_BOUNDS = WEIGHT_BOUNDS_LB
"""The env's counterweight bounds (lb): :data:`diffsim.trebuchet.WEIGHT_BOUNDS_LB`."""
KIND = "aiming_network"
"""The policy kind written to ``policy.pt``."""

__all__ = [
    "KIND",
    "AimingAgent",
    "AimingConfig",
    "AimingNetwork",
    "AimingTrainer",
    "default_budget",
    "default_config",
    "evaluate_aiming",
    "load_aiming_policy",
    "reach_table",
]


# -- the network ---------------------------------------------------------------------------
@dataclass
class AimingConfig:
    """Every hyperparameter of the aiming network and its training (defaults: tuned).

    Attributes:
        hidden: Hidden layer sizes of the MLP.
        activation: Hidden activation, ``"tanh"``, ``"silu"`` or ``"sigmoid"``.
        angle_bounds: Output range of the release angle (degrees), within the env's
            :data:`ANGLE_BOUNDS`.
        weight_bounds: Output range of the counterweight (lb), within the env's
            :data:`WEIGHT_BOUNDS`.
            The default stops just past the weight of the farthest throw (heavier weights
            throw shorter; ``docs/aiming.md``).
        angle0: Release angle of the untrained network (degrees; sets the output bias).
        weight0: Counterweight of the untrained network (lb; sets the output bias). The
            default is a light start, clear of the release event's change of regime at
            heavier weights (``docs/aiming.md``, "A jump in the physics").
        wind_scale: Input normalisation: wind / wind_scale (m/s).
        target_center: Input normalisation: (target − target_center) / target_scale (m).
        target_scale: See ``target_center`` (m).
        wind_max: Training winds ~ U(−wind_max, wind_max) (m/s).
        target_min: Training targets ~ U(target_min, target_max) (m).
        target_max: See ``target_min`` (m).
        reach_margin: A training pair is kept if its target lies inside the reach at its wind,
            shrunk by this fraction at both ends (dimensionless).
        reach_feature: Give the network a third input, the target over the farthest reach at
            its wind (``target / far(wind)``, linear interpolation of :func:`reach_table` on a
            0.5 m/s grid over ±(wind_max + 0.5), clamped beyond; a buffer of the network):
            the edge of the reach, where the far targets need the heaviest counterweight,
            becomes the plane ``u = 1``.
        reach_filter: Filter the training pairs by reach (False: keep every sampled pair,
            e.g. for the env's own box, all within reach, without computing the table).
        batch_size: Shots per update (one shot = one transition).
        updates: Updates of the tuned run (the default budget is updates × batch_size).
        lr: Adam's learning rate at the start.
        lr_final: Learning rate at the end of a cosine decay over ``updates`` (then constant).
        grad_clip: Maximum global gradient norm.
        failure_penalty: Weight of the pull of failed shots' controls towards the middle of
            the box (see the module docstring).
        dtype: ``"float64"`` or ``"float32"``: the network's and the simulation's precision.
    """

    hidden: tuple[int, ...] = (32, 32)
    activation: str = "tanh"
    angle_bounds: tuple[float, float] = ANGLE_BOUNDS
    weight_bounds: tuple[float, float] = (50.0, 550.0)
    angle0: float = 45.0
    weight0: float = 120.0
    wind_scale: float = 5.0
    target_center: float = 60.0
    target_scale: float = 25.0
    wind_max: float = 15.0
    target_min: float = 20.0
    target_max: float = 100.0
    reach_margin: float = 0.003
    reach_filter: bool = True
    reach_feature: bool = True
    batch_size: int = 1024
    updates: int = 250
    lr: float = 3e-3
    lr_final: float = 3e-5
    grad_clip: float = 1.0
    failure_penalty: float = 1.0
    dtype: str = "float64"
    optimizer: str = "gauss_newton"
    gn_damping: float = 1e-3
    max_step: float = 1.0

    def __post_init__(self) -> None:
        check_fields(self)
        self.hidden = tuple(int(h) for h in self.hidden)
        self.angle_bounds = tuple(float(v) for v in self.angle_bounds)
        self.weight_bounds = tuple(float(v) for v in self.weight_bounds)
        lo, hi = self.angle_bounds
        if not ANGLE_BOUNDS[0] <= lo < hi <= ANGLE_BOUNDS[1]:
            raise ValueError(f"angle_bounds must lie within {ANGLE_BOUNDS}, got {(lo, hi)}")
        lo, hi = self.weight_bounds
        if not WEIGHT_BOUNDS[0] <= lo < hi <= WEIGHT_BOUNDS[1]:
            raise ValueError(f"weight_bounds must lie within {WEIGHT_BOUNDS}, got {(lo, hi)}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.optimizer not in ("adam", "gauss_newton"):
            raise ValueError(f"optimizer must be 'adam' or 'gauss_newton', got {self.optimizer!r}")
        if self.batch_size < 1 or self.updates < 1:
            raise ValueError("batch_size and updates must be positive")

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON-able values."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @property
    def obs_size(self) -> int:
        """Length of the observation (wind, target): 2 (for :class:`PolicyAgent`)."""
        return 2

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


_ACTIVATIONS = {"tanh": nn.Tanh, "silu": nn.SiLU, "sigmoid": nn.Sigmoid}


def _bounded(o: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    lo, hi = bounds
    return lo + (hi - lo) * torch.sigmoid(o)


def _logit(x: float, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    p = (x - lo) / (hi - lo)
    return math.log(p / (1 - p))


class AimingNetwork(nn.Module):
    """MLP (wind m/s, target m) → (release angle deg, counterweight lb), within the bounds.

    ``angle = lo_a + (hi_a − lo_a) sigmoid(o1)`` and ``weight = lo_w + (hi_w − lo_w)
    sigmoid(o2)``, so every output lies in the config's bounds, themselves within the env's
    action box ``ANGLE_BOUNDS × WEIGHT_BOUNDS``. The inputs are normalised as ``wind / wind_scale``
    and ``(target − target_center) / target_scale``. The last layer starts at zero weights
    with biases that give ``(angle0, weight0)``.

    Args:
        config: The architecture and bounds (:class:`AimingConfig`); kept as ``spec``.
        generator: Seeds the initial weights.
    """

    policy_kind = KIND
    """What :func:`~diffsim.controllers.checkpoint.save_policy` should write as ``kind``."""

    def __init__(
        self, config: Optional[AimingConfig] = None, generator: Optional[torch.Generator] = None
    ):
        super().__init__()
        self.spec = config if config is not None else AimingConfig()
        c = self.spec
        layers: list[nn.Module] = []
        sizes = (3 if c.reach_feature else 2, *c.hidden)
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), _ACTIVATIONS[c.activation]()]
        last = nn.Linear(sizes[-1], 2)
        layers.append(last)
        self.net = nn.Sequential(*layers)
        with torch.no_grad():
            for m in self.net:
                if isinstance(m, nn.Linear) and m is not last:
                    bound = 1.0 / math.sqrt(m.in_features)
                    m.weight.copy_(torch.rand(m.weight.shape, generator=generator) * 2 - 1)
                    m.weight.mul_(bound * math.sqrt(3.0))
                    m.bias.copy_((torch.rand(m.bias.shape, generator=generator) * 2 - 1) * bound)
            last.weight.zero_()
            last.bias.copy_(
                torch.tensor([_logit(c.angle0, c.angle_bounds), _logit(c.weight0, c.weight_bounds)])
            )
        self.to(c.torch_dtype)
        scale = torch.tensor([1.0 / c.wind_scale, 1.0 / c.target_scale], dtype=c.torch_dtype)
        shift = torch.tensor([0.0, c.target_center], dtype=c.torch_dtype)
        self.register_buffer("in_scale", scale, persistent=False)
        self.register_buffer("in_shift", shift, persistent=False)
        if c.reach_feature:
            winds = torch.as_tensor(_reach_winds(c.wind_max), dtype=c.torch_dtype)
            self.register_buffer("reach_winds", winds, persistent=False)
            self.register_buffer("reach_far", torch.full_like(winds, 100.0))

    def set_reach(self, far: np.ndarray) -> None:
        """Set the farthest reach (m) at the winds of :func:`_reach_winds` (``reach_feature``)."""
        with torch.no_grad():
            self.reach_far.copy_(torch.as_tensor(far, dtype=self.reach_far.dtype))

    def _features(self, obs: torch.Tensor) -> torch.Tensor:
        x = (obs.to(self.in_scale.dtype) - self.in_shift) * self.in_scale
        if not self.spec.reach_feature:
            return x
        winds, far = self.reach_winds, self.reach_far
        step = float(winds[1] - winds[0])
        w = obs[..., 0].to(winds.dtype).clamp(float(winds[0]), float(winds[-1]))
        i = ((w - winds[0]) / step).floor().clamp(0, len(winds) - 2).long()
        frac = (w - winds[i]) / step
        reach = far[i] * (1 - frac) + far[i + 1] * frac
        u = obs[..., 1].to(winds.dtype) / reach
        return torch.cat((x, ((u - 0.6) / 0.3)[..., None]), -1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Controls ``[..., 2]`` = (angle deg, weight lb) for observations ``[..., 2]``
        = (wind m/s, target m)."""
        o = self.net(self._features(obs))
        return torch.stack(
            (
                _bounded(o[..., 0], self.spec.angle_bounds),
                _bounded(o[..., 1], self.spec.weight_bounds),
            ),
            dim=-1,
        )

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward` (the network is deterministic); ``[B, 2]`` → ``[B, 2]``."""
        return self.forward(obs)

    def save(self, path: Union[str, Path], env_id: str = ENV_ID, method: str = "bptt") -> None:
        """Write ``policy.pt`` of kind ``"aiming_network"`` (payload: the config and the
        weights) through :func:`~diffsim.controllers.checkpoint.write_policy`; read back by
        :func:`~diffsim.controllers.load_policy`."""
        write_policy(
            path,
            KIND,
            {
                "spec": self.spec.to_dict(),
                "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            },
            env_id=env_id,
            discrete=False,
            method=method,
        )


class AimingAgent:
    """``act(obs)``: observations ``[2]`` or ``[B, 2]`` (wind m/s, target m), numpy →
    float32 actions ``[2]`` / ``[B, 2]`` (angle deg, weight lb) in the env's action box."""

    def __init__(self, policy: AimingNetwork, env_id: str = ENV_ID):
        self.policy = policy.eval()
        self.env_id = env_id

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The controls for one observation or a batch (see the class).

        Raises:
            ValueError: ``obs`` is not ``[2]`` or ``[B, 2]``.
        """
        batch, single = check_observations(obs, 2)
        with torch.no_grad():
            a = self.policy(torch.as_tensor(batch)).cpu().numpy().astype(np.float32)
        lo = np.array([ANGLE_BOUNDS[0], WEIGHT_BOUNDS[0]], dtype=np.float32)
        hi = np.array([ANGLE_BOUNDS[1], WEIGHT_BOUNDS[1]], dtype=np.float32)
        a = np.clip(a, lo, hi)  # float32 rounding only; the network is within the bounds
        return a[0] if single else a


def load_aiming_policy(path: Path, data: dict[str, Any]) -> AimingAgent:
    """The loader of ``policy.pt`` files of kind ``"aiming_network"`` (``data`` as
    :func:`~diffsim.controllers.checkpoint.read_policy_file` gives it).

    A config saved before ``reach_feature`` existed had no reach input: it loads with
    ``reach_feature=False``.

    Raises:
        CheckpointError: the weights do not fit the saved config.
    """
    payload = data["payload"]
    try:
        spec = AimingConfig(**{"reach_feature": False, **payload["spec"]})
        net = AimingNetwork(spec)
        net.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the weights do not match the aiming spec: {exc}") from None
    return AimingAgent(net, data.get("env_id") or ENV_ID)


# -- reach ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _reach_cached(
    winds: tuple[float, ...], angle_bounds: tuple[float, float], weight_bounds: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    from diffsim.trebuchet import shoot

    w = torch.tensor(winds, dtype=torch.float64)
    lo_a, hi_a = angle_bounds
    lo_w, hi_w = weight_bounds
    far_a = torch.arange(lo_a, min(hi_a, 60.0) + 1e-9, 2.5, dtype=torch.float64)
    far_w = torch.linspace(max(lo_w, hi_w - 100), hi_w, 5, dtype=torch.float64)
    near_a = torch.arange(max(lo_a, 60.0), hi_a + 1e-9, 2.5, dtype=torch.float64)
    near_w = torch.linspace(lo_w, min(hi_w, lo_w + 100), 3, dtype=torch.float64)
    out = []
    for a, wt in ((far_a, far_w), (near_a, near_w)):
        ww, aa, kk = torch.meshgrid(w, a, wt, indexing="ij")
        with torch.no_grad():
            d = shoot(ww, aa, kk, on_failure="nan")
        out.append(d.reshape(len(winds), -1))
    far = torch.nan_to_num(out[0], nan=-math.inf).amax(1)
    near = torch.nan_to_num(out[1], nan=math.inf).amin(1)
    return far.numpy(), near.numpy()


def reach_table(
    winds: np.ndarray,
    angle_bounds: tuple[float, float] = ANGLE_BOUNDS,
    weight_bounds: tuple[float, float] = WEIGHT_BOUNDS,
) -> tuple[np.ndarray, np.ndarray]:
    """Farthest and nearest landing (m) at each wind (m/s), by a grid search of the box.

    The farthest: angles from the low bound to 60° (step 2.5°) × the top 100 lb of
    weights; the nearest: angles from 60° to the top bound × the lowest 100 lb (reference
    trebuchet). A grid underestimates the true reach by a fraction of a percent.
    """
    key = tuple(float(x) for x in np.asarray(winds, dtype=np.float64).ravel())
    far, near = _reach_cached(key, tuple(angle_bounds), tuple(weight_bounds))
    return far.copy(), near.copy()


def _reach_winds(wind_max: float, step: float = 0.5) -> np.ndarray:
    """The winds (m/s) of the reach grid: multiples of ``step`` over ±(wind_max + step)."""
    n = int(math.ceil(wind_max / step)) + 1
    return np.arange(-n, n + 1) * step


class _Reach:
    """Reach as a function of wind: linear interpolation of :func:`reach_table` on a grid."""

    def __init__(self, wind_max: float, angle_bounds, weight_bounds):
        self.winds = _reach_winds(wind_max)
        self.far, self.near = reach_table(self.winds, angle_bounds, weight_bounds)

    def __call__(self, wind: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = wind.detach().double().numpy()
        far = np.interp(w, self.winds, self.far)
        near = np.interp(w, self.winds, self.near)
        return torch.from_numpy(far).to(wind.dtype), torch.from_numpy(near).to(wind.dtype)


# -- training ------------------------------------------------------------------------------
def default_budget(env_id: str = ENV_ID) -> int:
    """Training transitions (shots) of the tuned run: updates × batch size."""
    c = AimingConfig()
    return c.updates * c.batch_size


def default_config(env_id: str = ENV_ID) -> AimingConfig:
    """The tuned configuration (:class:`AimingConfig`'s defaults)."""
    return AimingConfig()


class AimingTrainer:
    """Trains an :class:`AimingNetwork` through :func:`diffsim.trebuchet.shoot`; a
    :class:`~diffsim.controllers.trainer.Trainer`.

    ``update()`` returns metrics with ``"transitions"`` (shots simulated), ``policy`` is the
    network, ``agent()`` an :class:`AimingAgent`, ``save`` writes the network's
    ``policy.pt``, ``state_dict`` / ``load_state_dict`` hold the network, the optimiser,
    the update count and the sampling generator.

    Args:
        task: The env id (``"diffsim/Trebuchet-v0"``); only its trebuchet is supported.
        config: Hyperparameters (default: the tuned :class:`AimingConfig`).
        seed: Seeds the initial weights and the sampling generator.
        device: Torch device (the reach table is computed on the CPU).
    """

    def __init__(
        self,
        task: str = ENV_ID,
        config: Optional[AimingConfig] = None,
        seed: int = 0,
        device: str = "cpu",
    ):
        if task not in (ENV_ID, "trebuchet"):
            raise ValueError(f"AimingTrainer trains the trebuchet ({ENV_ID}), got {task!r}")
        self.config = c = config if config is not None else AimingConfig()
        self.device = torch.device(device)
        init = torch.Generator().manual_seed(int(seed))
        self.policy = AimingNetwork(c, init).to(self.device)
        self.generator = torch.Generator().manual_seed(int(seed) + 1_000_003)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=c.lr)
        self.n_updates = 0
        need = c.reach_filter or c.reach_feature
        reach = _Reach(c.wind_max, c.angle_bounds, c.weight_bounds) if need else None
        self._reach = reach if c.reach_filter else None
        if c.reach_feature:
            self.policy.set_reach(reach.far)

    def _lr(self) -> float:
        c = self.config
        frac = min(self.n_updates / c.updates, 1.0)
        return c.lr_final + 0.5 * (c.lr - c.lr_final) * (1 + math.cos(math.pi * frac))

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` reachable training pairs (wind m/s, target m) from the generator."""
        c = self.config
        winds, targets, have = [], [], 0
        while have < n:
            m = 2 * (n - have) + 16
            u = torch.rand(m, 2, generator=self.generator, dtype=torch.float64)
            w = (2 * u[:, 0] - 1) * c.wind_max
            t = c.target_min + (c.target_max - c.target_min) * u[:, 1]
            if self._reach is None:
                ok = torch.ones_like(w, dtype=torch.bool)
            else:
                far, near = self._reach(w)
                ok = (t <= far * (1 - c.reach_margin)) & (t >= near * (1 + c.reach_margin))
            winds.append(w[ok])
            targets.append(t[ok])
            have += int(ok.sum())
        dt = c.torch_dtype
        w = torch.cat(winds)[:n].to(self.device, dt)
        t = torch.cat(targets)[:n].to(self.device, dt)
        return w, t

    def loss(self, wind: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Mean relative squared miss over successful shots + the failure penalty."""
        from diffsim.trebuchet import shoot

        c = self.config
        act = self.policy(torch.stack((wind, target), -1))
        angle, weight = act[..., 0], act[..., 1]
        d = shoot(wind, angle, weight, on_failure="nan")
        ok = torch.isfinite(d)
        rel = torch.where(ok, (d - target) / target, torch.zeros_like(d))
        n_ok = ok.sum().clamp_min(1)
        fit = (rel**2).sum() / n_ok
        pen = ((angle - 45.0) / 80.0) ** 2 + ((weight - 300.0) / 550.0) ** 2
        penalty = c.failure_penalty * torch.where(ok, torch.zeros_like(pen), pen).mean()
        rel_abs = rel.detach().abs()[ok]
        stats = {
            "failed": float((~ok).sum()),
            "median_rel_miss": float(rel_abs.median()) if rel_abs.numel() else math.nan,
        }
        return fit + penalty, stats

    def update(self, max_transitions: Optional[int] = None) -> dict[str, float]:
        """One step on a fresh batch; returns the metrics (see the class docstring).

        Args:
            max_transitions: Not used: a batch of ``batch_size`` shots is the smallest unit.
        """
        c = self.config
        wind, target = self.sample(c.batch_size)
        self.policy.train()
        if c.optimizer == "gauss_newton":
            loss, stats, gnorm = self._gauss_newton_step(wind, target)
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = self._lr()
            loss_t, stats = self.loss(wind, target)
            self.optimizer.zero_grad(set_to_none=True)
            loss_t.backward()
            loss = float(loss_t.detach())
            gnorm = float(torch.nn.utils.clip_grad_norm_(self.policy.parameters(), c.grad_clip))
            if not (math.isfinite(loss) and math.isfinite(gnorm)):
                raise FloatingPointError(
                    f"aiming update {self.n_updates}: non-finite loss ({loss}) or "
                    f"gradient norm ({gnorm}); the parameters were left unchanged"
                )
            self.optimizer.step()
        self.n_updates += 1
        pnorm = math.sqrt(sum(float(p.detach().pow(2).sum()) for p in self.policy.parameters()))
        return {
            "transitions": int(c.batch_size),
            "loss": float(loss),
            "grad_norm": float(gnorm),
            "param_norm": pnorm,
            "lr": self._lr(),
            **stats,
        }

    def _gauss_newton_step(
        self, wind: torch.Tensor, target: torch.Tensor
    ) -> tuple[float, dict, float]:
        """A damped Gauss-Newton (Levenberg-Marquardt) step on the batch's residuals.

        Residuals per shot: ``(d − t) / t`` for a successful shot; for a failed one, the two
        terms of the failure penalty, ``sqrt(p) (angle − 45) / 80`` and
        ``sqrt(p) (weight − 300) / 550``. Their Jacobian is the chain of the per-shot
        derivatives of ``d`` with respect to (angle, weight) — one backward pass through
        ``shoot``, whose shots are independent — and the per-shot Jacobian of the network.
        The step solves ``(JᵀJ + λ I) δ = −Jᵀ r`` with ``λ = gn_damping · mean diag(JᵀJ)``
        (or its dual form when the batch is smaller than the parameter count) and is
        scaled down to at most ``max_step`` in norm; the learning rate of the schedule
        multiplies it (``lr / config.lr``, 1 at the start).
        """
        from torch.func import functional_call, jacrev, vmap

        from diffsim.trebuchet import shoot

        c = self.config
        net = self.policy
        obs = torch.stack((wind, target), -1)
        with torch.no_grad():
            act = net(obs)
        angle = act[:, 0].clone().requires_grad_(True)
        weight = act[:, 1].clone().requires_grad_(True)
        d = shoot(wind, angle, weight, on_failure="nan")
        ok = torch.isfinite(d)
        g_a, g_w = torch.autograd.grad(
            torch.where(ok, d, torch.zeros_like(d)).sum(), (angle, weight)
        )
        d = d.detach()
        rel = torch.where(ok, (d - target) / target, torch.zeros_like(d))
        sp = math.sqrt(c.failure_penalty)
        zero = torch.zeros_like(d)
        r = torch.stack(
            (
                torch.where(ok, rel, sp * (act[:, 0] - 45.0) / 80.0),
                torch.where(ok, zero, sp * (act[:, 1] - 300.0) / 550.0),
            ),
            -1,
        )  # [N, 2]
        coef = torch.stack(
            (
                torch.stack(
                    (
                        torch.where(ok, g_a / target, zero + sp / 80.0),
                        torch.where(ok, g_w / target, zero),
                    ),
                    -1,
                ),
                torch.stack((zero, torch.where(ok, zero, zero + sp / 550.0)), -1),
            ),
            -2,
        )  # [N, 2 residuals, 2 actions]
        names = [n for n, _ in net.named_parameters()]
        params = {n: p.detach() for n, p in net.named_parameters()}

        def f(pr: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(net, pr, (x[None],))[0]

        jac = vmap(jacrev(f), in_dims=(None, 0))(params, obs)  # name -> [N, 2, *shape]
        ja = torch.cat([jac[n].reshape(len(obs), 2, -1) for n in names], -1)  # [N, 2, P]
        jr = torch.einsum("nra,nap->nrp", coef, ja).reshape(-1, ja.shape[-1])  # [2N, P]
        rv = r.reshape(-1)
        rows = torch.stack((torch.ones_like(ok), ~ok), -1).reshape(-1)  # drop zero rows
        jr, rv = jr[rows], rv[rows]
        n_ok = ok.sum().clamp_min(1)
        loss = float((rel**2).sum() / n_ok + (r[:, 0][~ok] ** 2 + r[:, 1][~ok] ** 2).sum() / len(d))
        grad = jr.T @ rv
        if not (torch.isfinite(jr).all() and torch.isfinite(rv).all()):
            raise FloatingPointError(
                f"aiming update {self.n_updates}: non-finite residuals or Jacobian; "
                "the parameters were left unchanged"
            )
        n_rows, n_par = jr.shape
        if n_rows >= n_par:
            a = jr.T @ jr
            lam = c.gn_damping * float(a.diagonal().mean())
            a.diagonal().add_(lam)
            step = -torch.linalg.solve(a, grad)
        else:
            a = jr @ jr.T
            lam = c.gn_damping * float(a.diagonal().mean())
            a.diagonal().add_(lam)
            step = -jr.T @ torch.linalg.solve(a, rv)
        norm = float(step.norm())
        scale = (self._lr() / c.lr) * min(1.0, c.max_step / max(norm, 1e-30))
        with torch.no_grad():
            i = 0
            for p in net.parameters():
                k = p.numel()
                p.add_(scale * step[i : i + k].view_as(p))
                i += k
        rel_abs = rel.abs()[ok]
        stats = {
            "failed": float((~ok).sum()),
            "median_rel_miss": float(rel_abs.median()) if rel_abs.numel() else math.nan,
            "step_norm": norm * scale,
        }
        return loss, stats, float(grad.norm())

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (deep copy): network, optimiser, sampling generator, update count."""
        return copy.deepcopy(
            {
                "policy": self.policy.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "n_updates": self.n_updates,
            }
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.n_updates = int(state["n_updates"])

    def save(self, path: Union[str, Path]) -> None:
        """Write the network's ``policy.pt`` (see :meth:`AimingNetwork.save`)."""
        self.policy.save(path)

    def agent(self) -> AimingAgent:
        """The current network behind ``act(obs)``."""
        return AimingAgent(self.policy)


def __getattr__(name: str) -> Any:
    if name == "METHOD":  # deprecated: the entry lives in the registry now
        import warnings

        from . import methods

        warnings.warn(
            "diffsim.controllers.aiming.METHOD is deprecated: the trebuchet's entry is "
            "diffsim.controllers.methods.get_method('bptt', 'diffsim/Trebuchet-v0')",
            DeprecationWarning,
            stacklevel=2,
        )
        return methods.get_method("bptt", ENV_ID)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- evaluation ----------------------------------------------------------------------------
def make_test_set(
    n: int = 1000, seed: int = 0, distribution: str = "post"
) -> tuple[np.ndarray, ...]:
    """A fixed test set of ``n`` (wind m/s, target m) pairs (float64).

    ``"env"``: the env's, wind ~ U(−5, 5), target ~ U(20, 80). ``"post"``: the 2019 post's,
    wind ~ N(0, 5²), target ~ U(20, 100) (unreachable pairs included; see
    :func:`evaluate_aiming`).
    """
    rng = np.random.default_rng(seed)
    if distribution == "env":
        return rng.uniform(-5, 5, n), rng.uniform(20, 80, n)
    if distribution == "post":
        return rng.normal(0.0, 5.0, n), rng.uniform(20, 100, n)
    raise ValueError(f"distribution must be 'env' or 'post', got {distribution!r}")


def _reachable(wind: np.ndarray, target: np.ndarray, aim_check: bool = True) -> np.ndarray:
    """Which pairs are within reach in the env's action box.

    :func:`reach_table` on a grid of winds (0.25 m/s steps, interpolated), then
    ``diffsim.solvers.aim`` (a hit, or out of reach) for the pairs the grid leaves in doubt
    (outside the grid's reach or within 2 % of its edge)."""
    from diffsim.solvers import aim

    grid = np.arange(-80, 81) * 0.25  # winds (m/s), ±20
    wide = np.abs(wind) > 20
    far_g, near_g = reach_table(grid)
    far, near = np.interp(wind, grid, far_g), np.interp(wind, grid, near_g)
    if wide.any():  # rare winds beyond the grid
        far[wide], near[wide] = reach_table(wind[wide])
    inside = (target <= far) & (target >= near)
    doubt = (target > 0.98 * far) | (target < 1.02 * near)
    idx = np.nonzero(doubt)[0]
    if aim_check and len(idx):
        res = aim(
            torch.as_tensor(wind[idx]), torch.as_tensor(target[idx]), weight_bounds_lb=WEIGHT_BOUNDS
        )
        inside[idx] = inside[idx] | res.reached.numpy()
    return inside


def evaluate_aiming(
    policy: Union[AimingNetwork, AimingAgent],
    n: int = 1000,
    seed: int = 0,
    distributions: tuple[str, ...] = ("post", "env"),
    aim_subset: int = 4,
    timing_batch: int = 1000,
    aim_check: bool = True,
    reach_check: bool = True,
) -> dict[str, Any]:
    """Misses of ``policy`` over fixed test sets, and its time per aim against ``aim``'s.

    For each distribution of :func:`make_test_set` (``n`` pairs, ``seed``): the pairs out of
    reach (:func:`_reachable`) are counted and left out; for the others the network aims
    (float32 observations, as the env gives them), the trebuchet shoots in float64, and the
    relative miss ``|d − t| / t`` gives the median, 95th percentile, maximum, the share
    within 0.05 %, the absolute median miss (m) and the failed shots.

    Timing (same run): the network's time per aim in a batch of ``timing_batch`` (no
    gradient, best of 20 repeats, µs) and the time per aim of ``diffsim.solvers.aim``
    (Newton on its optimality conditions, its defaults but the env's weight bounds) on the
    first ``aim_subset`` reachable pairs of the first distribution, aimed one by one (ms)
    and as one batch (none when ``aim_subset`` is 0). ``aim_check=False`` decides reach by
    the grid alone; ``reach_check=False`` evaluates every pair (for quick checks).

    Returns:
        ``{"post": {...}, "env": {...}, "network_us_per_aim": ..., "aim_ms_per_aim_single":
        ..., ...}`` (relative misses as fractions: 0.001 = 0.1 %).
    """
    from diffsim.solvers import aim
    from diffsim.trebuchet import shoot

    net = policy.policy if isinstance(policy, AimingAgent) else policy
    net = net.eval()
    out: dict[str, Any] = {"n": n, "seed": seed}
    first = None
    for dist in distributions:
        wind, target = make_test_set(n, seed, dist)
        if reach_check:
            ok = _reachable(wind, target, aim_check)
        else:
            ok = np.ones(len(wind), dtype=bool)
        w, t = wind[ok], target[ok]
        if first is None:
            first = (w, t)
        obs = torch.as_tensor(np.stack((w, t), -1).astype(np.float32))
        with torch.no_grad():
            act = net(obs).double()
            d = shoot(torch.as_tensor(w), act[:, 0], act[:, 1], on_failure="nan").numpy()
        failed = ~np.isfinite(d)
        rel = np.where(failed, 1.0, np.abs(d - t) / t)
        out[dist] = {
            "pairs": int(n),
            "unreachable": int((~ok).sum()),
            "evaluated": int(ok.sum()),
            "failed_shots": int(failed.sum()),
            "median_rel_miss": float(np.median(rel)),
            "p95_rel_miss": float(np.percentile(rel, 95)),
            "max_rel_miss": float(rel.max()),
            "share_within_0.05%": float((rel <= 5e-4).mean()),
            "median_abs_miss_m": float(np.median(np.where(failed, t, np.abs(d - t)))),
        }
    # timing: the network in a batch
    rng = np.random.default_rng(seed + 1)
    obs = torch.as_tensor(
        np.stack((rng.normal(0, 5, timing_batch), rng.uniform(20, 100, timing_batch)), -1).astype(
            np.float32
        )
    )
    with torch.no_grad():
        net(obs)
        best = math.inf
        for _ in range(20):
            start = time.perf_counter()
            net(obs)
            best = min(best, time.perf_counter() - start)
    out["network_us_per_aim"] = best / timing_batch * 1e6
    out["network_timing_batch"] = timing_batch
    # timing: gradient-descent aiming
    w, t = first
    k = min(aim_subset, len(w))
    if k == 0:
        return out
    start = time.perf_counter()
    reached = 0
    for i in range(k):
        r = aim(float(w[i]), float(t[i]), weight_bounds_lb=WEIGHT_BOUNDS)
        reached += int(r.reached)
    single = (time.perf_counter() - start) / max(k, 1)
    r = aim(torch.as_tensor(w[:k]), torch.as_tensor(t[:k]), weight_bounds_lb=WEIGHT_BOUNDS)
    out["aim_ms_per_aim_single"] = single * 1e3
    out["aim_ms_per_aim_batched"] = r.seconds_per_aim * 1e3
    out["aim_pairs"] = k
    out["aim_reached_0.1m"] = reached
    out["speedup_vs_aim_single"] = single * 1e6 / out["network_us_per_aim"]
    return out
