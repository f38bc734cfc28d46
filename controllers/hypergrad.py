"""Hypergradients of BPTT training: the gradient of a validation loss with respect to the
hyperparameters of training, by differentiating through ``K`` unrolled BPTT updates.

After Maclaurin, Duvenaud & Adams (2015), "Gradient-based Hyperparameter Optimization
through Reversible Learning" (ICML; arXiv:1502.03492): the trained weights ``θ_K`` are a
differentiable function of the hyperparameters ``η`` through the updates that produced
them, ``θ_{k+1} = θ_k − lr_k · step(∇L_k(θ_k; η))``, so the validation loss ``V(θ_K)`` has
a gradient ``dV/dη`` that backpropagation through the ``K`` updates computes — through
each update's own gradient, which is itself a backward pass through the simulator (a
second-order derivative of the rollout). Here the whole chain is kept in memory
(``create_graph=True``); Maclaurin et al. instead reverse the updates to save memory.

What is unrolled
    :func:`unrolled_training` reproduces :class:`~diffsim.controllers.bptt.BPTTTrainer`'s
    updates exactly (same initial weights, same starts, same estimator noise for a seed;
    tested): the policy is called with :func:`torch.func.functional_call` on a dict of
    weight tensors that each update replaces (a *functional* optimiser), never written in
    place. Supported: ``adam`` (torch's update rule, bias corrections included),
    ``normalized_sgd`` (a step of length ``lr`` along the gradient's direction), gradient
    clipping, ``lr_half_life``, ``mirror_starts``, ``truncate_every``, every loss. The one
    difference from the trainer: the trainer divides by the gradient norm as a number (no
    gradient through it); the unroll differentiates through it, as the training map
    itself depends on it.

Hyperparameters (:data:`HPARAMS`)
    ``log_lr``: the natural log of the learning rate (the initial one with
    ``lr_half_life``). ``start_spread``: the factor on the reset draw of the training starts
    (:attr:`~diffsim.controllers.bptt.BPTTConfig.start_spread`); its derivative flows
    through the starts into every rollout. ``return_weight``: the weight of the return in
    the ``"shaped"`` loss (:attr:`~diffsim.controllers.bptt.BPTTConfig.return_weight`), a
    loss weight; only with ``loss="shaped"``. All enter as 0-dim float64 tensors.

The validation loss (``objective``)
    ``"loss"``: BPTT's own training loss (``config.loss``, with the config's own ``return_weight``,
    never the tuned one, which would otherwise tune the yardstick) of the trained policy on fixed
    held-out starts, drawn from the reset distribution (never scaled by ``start_spread``) with a
    seed of their own; ``"return"``: the negative mean return there. Both are of the training
    rollout (the training actions, e.g. the expected action of a binary head).

Why unroll
    At an optimum of the training loss the implicit function theorem gives the weights'
    dependence on hyperparameters that change the loss (``start_spread``), but the
    optimum does not depend on the learning rate at all: its implicit hypergradient is
    zero. Only the unrolled, truncated training sees the learning rate, and a short
    unroll favours small learning rates (Wu, Ren, Liao & Grosse 2018, "Understanding
    Short-Horizon Bias in Stochastic Meta-Optimization", ICLR; arXiv:1803.02021): measured
    for this project in ``docs/hypertune.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import torch
from torch.func import functional_call

from diffsim.envs.rollout import Task, get_task

from .bptt import (
    BPTTConfig,
    _check_loss,
    default_config,
    policy_spec_for,
    start_losses,
    training_rollout,
)
from .policies import build_policy

HPARAMS = ("log_lr", "start_spread", "return_weight")
"""The hyperparameters that :func:`unrolled_training` differentiates."""

OBJECTIVES = ("loss", "return")

_CONFIG_FIELDS = {"log_lr": "lr", "start_spread": "start_spread", "return_weight": "return_weight"}
"""The :class:`~diffsim.controllers.bptt.BPTTConfig` field each hyperparameter sets."""

__all__ = [
    "HPARAMS",
    "OBJECTIVES",
    "Unrolled",
    "check_hparams",
    "hparam_values",
    "hypergradient",
    "hypertune",
    "unrolled_training",
    "validation_starts",
    "with_hparams",
]


def check_hparams(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple, each checked against :data:`HPARAMS` (no repeats).

    Raises:
        ValueError: an unknown or repeated name, or none at all.
    """
    names = tuple(n.strip() for n in names)
    if not names:
        raise ValueError(f"give at least one hyperparameter, from {', '.join(HPARAMS)}")
    unknown = [n for n in names if n not in HPARAMS]
    if unknown:
        raise ValueError(
            f"unknown hyperparameter {unknown[0]!r}: differentiable ones are {', '.join(HPARAMS)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"hyperparameters repeated in {','.join(names)}")
    return names


def hparam_values(config: BPTTConfig) -> dict[str, float]:
    """The values of :data:`HPARAMS` that ``config`` sets (``start_spread`` None → 1)."""
    spread = 1.0 if config.start_spread is None else float(config.start_spread)
    return {
        "log_lr": math.log(config.lr),
        "start_spread": spread,
        "return_weight": float(config.return_weight),
    }


def validation_starts(
    task: Union[str, Task], count: int, seed: int, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """``count`` held-out starts ``[count, n]`` from the reset distribution (seed ``seed``)."""
    task = get_task(task)
    return task.sample_initial(count, torch.Generator().manual_seed(int(seed)), dtype)


@dataclass
class Unrolled:
    """The result of :func:`unrolled_training`.

    Attributes:
        value: The validation loss (0-dim, differentiable with respect to the hparams).
        params: The trained weights by name (differentiable likewise).
        train_losses: The training loss of each update (floats).
        transitions: Transitions simulated by the ``K`` updates (validation not counted).
    """

    value: torch.Tensor
    params: dict[str, torch.Tensor]
    train_losses: list[float]
    transitions: int


def unrolled_training(
    task: Union[str, Task],
    config: Optional[BPTTConfig],
    hparams: Mapping[str, torch.Tensor],
    updates: int,
    seed: int,
    val_starts: torch.Tensor,
    *,
    objective: str = "loss",
    create_graph: bool = True,
) -> Unrolled:
    """``updates`` BPTT updates as one differentiable function of the hyperparameters.

    Args:
        task: A rollout task's id or short name.
        config: The BPTT configuration (None: the task's tuned one); its ``lr`` and
            ``start_spread`` are replaced by ``hparams`` where given. The weights and the
            rollout use ``config.dtype`` (float64 for finite-difference checks).
        hparams: Values of :data:`HPARAMS` (0-dim tensors; those requiring grad get a
            hypergradient); a name left out keeps the config's value.
        updates: ``K``, the BPTT updates unrolled.
        seed: Seeds the initial weights, the training starts and the estimator's noise,
            as :class:`~diffsim.controllers.bptt.BPTTTrainer` with this seed does.
        val_starts: Held-out starts ``[N, n]`` (:func:`validation_starts`).
        objective: ``"loss"`` or ``"return"`` (module docstring).
        create_graph: Keep the graph of each update's gradient (needed for the
            hypergradient; ``False`` gives the same values at the cost of a plain training).

    Returns:
        :class:`Unrolled`.

    Raises:
        ValueError: an unknown hyperparameter or objective, ``updates`` < 1, a loss the task
            lacks, or a config with ``fast=True`` (the compiled step is not unrolled).
    """
    task = get_task(task)
    cfg = default_config(task) if config is None else config
    if hparams:
        check_hparams(list(hparams))
    if "return_weight" in hparams and cfg.loss != "shaped":
        raise ValueError(
            f"return_weight weighs the return in loss='shaped'; this config's loss is "
            f"{cfg.loss!r}, whose training loss does not depend on it"
        )
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if updates < 1:
        raise ValueError(f"updates must be at least 1, got {updates}")
    if cfg.fast:
        raise ValueError("hypergradients unroll the eager rollout: set fast=False")
    _check_loss(task, cfg.loss)
    dtype = getattr(torch, cfg.dtype)
    default = hparam_values(cfg)
    log_lr = _hparam(hparams, "log_lr", default, dtype)
    spread = _hparam(hparams, "start_spread", default, dtype)
    weight = _hparam(hparams, "return_weight", default, dtype)

    gen = torch.Generator().manual_seed(int(seed))
    policy = build_policy(policy_spec_for(task, cfg), gen).to(dtype)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in policy.named_parameters()}
    names = list(params)
    exp_avg = {n: torch.zeros_like(p) for n, p in params.items()}
    exp_avg_sq = {n: torch.zeros_like(p) for n, p in params.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults, as the trainer uses

    def run(weights: dict[str, torch.Tensor], starts: torch.Tensor, noise: torch.Tensor):
        def policy_fn(obs: torch.Tensor, noise_gen: torch.Generator) -> torch.Tensor:
            return functional_call(policy, weights, (obs, noise_gen))

        return training_rollout(task, cfg, policy_fn, starts, noise, cfg.horizon)

    losses: list[float] = []
    transitions = 0
    n = cfg.batch_size // 2 if cfg.mirror_starts else cfg.batch_size
    for k in range(updates):
        s0 = task.sample_initial(n, gen, dtype) * spread
        if cfg.mirror_starts:
            s0 = torch.cat([s0, -s0])
        noise = gen.get_state()
        torch.randint(0, 2, (1,), generator=gen)  # as the trainer advances its generator
        out = run(params, s0, noise)
        loss = start_losses(task, cfg.loss, out, weight).mean()
        grads = torch.autograd.grad(
            loss, [params[m] for m in names], create_graph=create_graph, allow_unused=True
        )
        g = {m: torch.zeros_like(params[m]) if gi is None else gi for m, gi in zip(names, grads)}
        losses.append(float(loss.detach()))
        transitions += out.transitions
        if cfg.grad_clip is not None:  # torch.nn.utils.clip_grad_norm_'s rule
            total = torch.sqrt(sum((gi**2).sum() for gi in g.values()))
            coef = torch.clamp(cfg.grad_clip / (total + 1e-6), max=1.0)
            g = {m: gi * coef for m, gi in g.items()}
        lr = torch.exp(log_lr)
        if cfg.lr_half_life is not None:
            lr = lr * 0.5 ** (k / cfg.lr_half_life)
        if cfg.optimizer == "normalized_sgd":
            norm = torch.sqrt(sum((gi**2).sum() for gi in g.values())).clamp_min(1e-12)
            params = {m: params[m] - lr * g[m] / norm for m in names}
        else:  # torch.optim.Adam (no weight decay, no amsgrad), step k + 1
            step = k + 1
            c1, c2 = 1 - beta1**step, 1 - beta2**step
            new = {}
            for m in names:
                exp_avg[m] = beta1 * exp_avg[m] + (1 - beta1) * g[m]
                exp_avg_sq[m] = beta2 * exp_avg_sq[m] + (1 - beta2) * g[m] * g[m]
                denom = exp_avg_sq[m].sqrt() / math.sqrt(c2) + eps
                new[m] = params[m] - (lr / c1) * exp_avg[m] / denom
            params = new
        if not create_graph:  # a plain training: nothing to keep of this update's graph
            params = {m: p.detach().requires_grad_(True) for m, p in params.items()}
    if not create_graph:
        params = {m: p.detach() for m, p in params.items()}
    val = run(params, val_starts.to(dtype), torch.Generator().manual_seed(0).get_state())
    if objective == "loss":
        value = start_losses(task, cfg.loss, val, cfg.return_weight).mean()
    else:
        value = -val.returns.mean()
    return Unrolled(value, params, losses, int(transitions))


def _hparam(
    hparams: Mapping[str, torch.Tensor], name: str, default: Mapping[str, float], dtype
) -> torch.Tensor:
    if name in hparams:
        value = hparams[name]
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise ValueError(f"hyperparameter {name} must be a 0-dim tensor, got {value!r}")
        if name == "start_spread" and not bool(value > 0):
            raise ValueError(f"start_spread must be positive, got {float(value)}")
        if name == "return_weight" and not bool(value >= 0):
            raise ValueError(f"return_weight must be non-negative, got {float(value)}")
        return value.to(dtype)
    return torch.tensor(default[name], dtype=dtype)


def hypergradient(
    task: Union[str, Task],
    config: Optional[BPTTConfig],
    names: Sequence[str],
    updates: int,
    seed: int,
    val_starts: torch.Tensor,
    *,
    objective: str = "loss",
) -> tuple[float, dict[str, float], Unrolled]:
    """The validation loss after ``updates`` BPTT updates and its gradient with respect to
    the hyperparameters ``names`` at the values of ``config``.

    Returns:
        ``(value, {name: dV/dname}, unrolled)``.
    """
    task = get_task(task)
    cfg = default_config(task) if config is None else config
    names = check_hparams(names)
    values = hparam_values(cfg)
    h = {n: torch.tensor(values[n], dtype=torch.float64, requires_grad=True) for n in names}
    out = unrolled_training(task, cfg, h, updates, seed, val_starts, objective=objective)
    grads = torch.autograd.grad(out.value, [h[n] for n in names], allow_unused=True)
    return (
        float(out.value.detach()),
        {n: 0.0 if g is None else float(g) for n, g in zip(names, grads)},
        out,
    )


def with_hparams(config: BPTTConfig, values: Mapping[str, float]) -> BPTTConfig:
    """``config`` with the hyperparameters ``values`` (``log_lr`` becomes ``lr``)."""
    changes: dict[str, Any] = {}
    if "log_lr" in values:
        changes["lr"] = math.exp(float(values["log_lr"]))
    if "start_spread" in values:
        changes["start_spread"] = float(values["start_spread"])
    if "return_weight" in values:
        changes["return_weight"] = float(values["return_weight"])
    return dataclasses.replace(config, **changes)


def hypertune(
    task: Union[str, Task],
    config: Optional[BPTTConfig] = None,
    names: Sequence[str] = HPARAMS,
    *,
    unroll: int = 10,
    meta_iterations: int = 20,
    meta_lr: float = 0.1,
    val_count: int = 32,
    seed: int = 0,
    objective: str = "loss",
    progress: bool = True,
) -> dict[str, Any]:
    """Hypergradient descent on the hyperparameters ``names`` of BPTT on ``task``.

    Each meta-iteration ``i`` unrolls ``unroll`` BPTT updates from the weights and starts of
    seed ``seed + i`` (a fresh training each time, so the tuned values do not fit one draw),
    takes the hypergradient of the validation loss on ``val_count`` fixed held-out starts
    (seed ``10_000 + seed``), and moves the hyperparameters by one Adam step of size
    ``meta_lr`` in log space (``log_lr`` as it is; ``start_spread`` and ``return_weight``
    as their logarithms, which keeps them positive).

    Args:
        task: A rollout task's id or short name.
        config: The BPTT configuration to start from (None: the task's tuned one).
        names: Hyperparameters to tune (:data:`HPARAMS`).
        unroll: ``K``, the BPTT updates of each meta-iteration.
        meta_iterations: Hypergradient steps.
        meta_lr: Adam's step size on the log-space hyperparameters.
        val_count: Held-out starts of the validation loss.
        seed: Seeds the trainings (``seed + i``) and the held-out starts.
        objective: ``"loss"`` or ``"return"`` (:func:`unrolled_training`).
        progress: Show a progress bar.

    Returns:
        ``{"task", "names", "unroll", …, "history": [{"iteration", "hparams", "value",
        "hypergradient", "seconds"}, …], "tuned": {name: value}, "config": {…}, "set":
        "--set lr=… --set start_spread=…", "training_updates", "transitions", "seconds"}``.

    Raises:
        ValueError: bad names, counts or step size.
    """
    import time

    from tqdm.auto import tqdm

    task = get_task(task)
    cfg = default_config(task) if config is None else config
    names = check_hparams(names)
    if unroll < 1 or meta_iterations < 1 or val_count < 1:
        raise ValueError(
            f"unroll, meta_iterations and val_count must be positive, got {unroll}, "
            f"{meta_iterations}, {val_count}"
        )
    if not (meta_lr > 0 and math.isfinite(meta_lr)):
        raise ValueError(f"meta_lr must be positive and finite, got {meta_lr}")
    val = validation_starts(task, val_count, 10_000 + int(seed), getattr(torch, cfg.dtype))
    start = hparam_values(cfg)
    if "return_weight" in names and not start["return_weight"] > 0:
        raise ValueError("hypertune moves return_weight in log space: start it above 0")
    z = torch.tensor(
        [start[n] if n == "log_lr" else math.log(start[n]) for n in names],
        dtype=torch.float64,
        requires_grad=True,
    )
    meta = torch.optim.Adam([z], lr=meta_lr)
    history: list[dict[str, Any]] = []
    transitions = 0
    t0 = time.perf_counter()
    bar = tqdm(range(meta_iterations), desc=f"hypertune {task.env_id}", disable=not progress)
    for i in bar:
        t1 = time.perf_counter()
        h = {n: z[j] if n == "log_lr" else torch.exp(z[j]) for j, n in enumerate(names)}
        out = unrolled_training(task, cfg, h, unroll, int(seed) + i, val, objective=objective)
        (grad_z,) = torch.autograd.grad(out.value, [z])
        if not torch.isfinite(grad_z).all():
            raise FloatingPointError(
                f"meta-iteration {i}: non-finite hypergradient {grad_z.tolist()}; the "
                "hyperparameters were left unchanged (try a smaller unroll or meta_lr)"
            )
        values = {n: float(h[n].detach()) for n in names}
        # dV/d(name): chain back from log space for the others than log_lr
        hyper = {
            n: float(grad_z[j]) if n == "log_lr" else float(grad_z[j]) / values[n]
            for j, n in enumerate(names)
        }
        history.append(
            {
                "iteration": i,
                "hparams": values,
                "value": float(out.value.detach()),
                "hypergradient": hyper,
                "train_loss_last": out.train_losses[-1],
                "seconds": time.perf_counter() - t1,
            }
        )
        transitions += out.transitions
        bar.set_postfix(value=f"{history[-1]['value']:.4g}")
        z.grad = grad_z
        meta.step()
    zf = z.detach()
    final = {
        n: float(zf[j]) if n == "log_lr" else math.exp(float(zf[j])) for j, n in enumerate(names)
    }
    tuned_cfg = with_hparams(cfg, final)
    set_line = " ".join(
        f"--set {field}={getattr(tuned_cfg, field):.6g}"
        for name, field in _CONFIG_FIELDS.items()
        if name in names
    )
    return {
        "task": task.env_id,
        "method": "bptt",
        "names": list(names),
        "unroll": unroll,
        "meta_iterations": meta_iterations,
        "meta_lr": meta_lr,
        "val_count": val_count,
        "objective": objective,
        "seed": int(seed),
        "start": {n: start[n] for n in names},
        "history": history,
        "tuned": final,
        "config": tuned_cfg.to_dict(),
        "set": set_line,
        "training_updates": unroll * meta_iterations,
        "transitions": transitions,
        "seconds": time.perf_counter() - t0,
    }
