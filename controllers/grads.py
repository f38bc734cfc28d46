"""Gradient health: how far the policy gradient through the simulator can be trusted.

BPTT differentiates a loss over an H-step rollout with respect to the policy's weights. How
useful that gradient is depends on the horizon: through a stable closed loop it is a clean
signal, through a chaotic or clipped one its norm explodes or vanishes and its direction
changes from one batch of starts to the next. :func:`gradient_health` measures, for each
horizon H of a list, on one policy (a fresh one of the task's BPTT configuration, or a
trained one):

- ``grad_norm``: the norm ‖g‖ of the loss gradient of one batch of starts (median and
  quartiles over ``samples`` independent batches), the loss being BPTT's default loss for
  the task (its return, or its system's training loss where the reward has no gradient),
  averaged over the batch;
- ``snr``: the signal-to-noise ratio ‖ḡ‖² / mean_s ‖g_s − ḡ‖² over the batches, ḡ their
  mean: above 1 the batches agree on a direction, far below 1 each batch's gradient is mostly
  noise (the quantity depends on the batch size, which the result records);
- ``fd_rel_error``: the directional derivative along a random unit direction v of the
  weights, autograd's g·v against the central finite difference
  (L(θ + εv) − L(θ − εv)) / 2ε, in float64 on the first batch, as
  |g·v − fd| / max(|g·v|, |fd|): near 1e-6 or below where the loss is smooth at the scale ε,
  near 1 where it is not (or, for a straight-through estimator, by design: its backward pass
  is not the derivative of its forward one);
- ``lyapunov``: the finite-time Lyapunov exponent of the closed loop as the backward pass
  sees it, (1 / (H·dt)) · log σ_max(∂x_H / ∂x_0), per start (median and quartiles, in 1/s),
  over the starts whose episode lasts the whole horizon (a terminated episode's state is
  frozen and passes no gradient; ``lyapunov_starts`` says how many remained). A positive
  exponent means that perturbations, and with them gradients, grow like exp(λ·t).

For a discrete-action task each gradient estimator of
:mod:`diffsim.controllers.estimators` is also compared (``estimators``) with an unbiased
reference, the score-function (REINFORCE) gradient of the *stochastic* relaxation of the
policy — actions drawn from Bernoulli(σ(u)) for a binary head, from Categorical(softmax(z))
for a categorical one — over ``reference_samples`` episodes, with a leave-one-out baseline
(Williams 1992). Per estimator: ``rel_bias`` = ‖E g_est − g_ref‖ / ‖g_ref‖, ``cosine``
between them, and ``rel_std`` = sqrt(mean_s ‖g_s − E g_est‖²) / ‖g_ref‖ (one batch's spread).
``st_sign`` and ``st_argmax`` act deterministically in the forward pass, so part of their
bias is the difference between the deterministic and the stochastic policy's objectives; the
reference's own relative standard error is ``reference_rel_stderr``.

The starts are drawn from the task's reset distribution with the given seed (never the
benchmark protocol's evaluation starts). ``diffsim grads ENV`` runs this and draws it
(``docs/gradients.md``).
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Optional, Union

import torch

from diffsim.controllers.policies import ControlPolicy, build_policy
from diffsim.envs.rollout import Rollout, Task, get_task, rollout

DEFAULT_HORIZONS = (10, 20, 50, 100, 200)
"""Horizons (steps) measured when none are given (:func:`default_horizons`: those within the
task's time limit)."""


def _objective(task: Task, loss: str) -> Callable[[Rollout], torch.Tensor]:
    """The per-start loss ``[B]`` of BPTT's ``loss`` setting."""
    from diffsim.controllers.bptt import start_losses

    return lambda out: start_losses(task, loss, out)


def default_horizons(task: Union[str, Task]) -> list[int]:
    """:data:`DEFAULT_HORIZONS` up to the task's time limit (all of them without one)."""
    limit = get_task(task).max_episode_steps
    return [h for h in DEFAULT_HORIZONS if limit is None or h <= limit]


def _check_positive_int(name: str, value: Any, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an int of at least {least}, got {value!r}")
    return value


def _policy(task: Task, policy: Optional[Any], seed: int) -> ControlPolicy:
    from diffsim.controllers.bptt import default_config, policy_spec_for

    if policy is None:
        spec = policy_spec_for(task, default_config(task))
        net = build_policy(spec, torch.Generator().manual_seed(seed))
    else:
        net = getattr(policy, "policy", policy)
        if not isinstance(net, ControlPolicy):
            raise TypeError(
                "grads needs a policy network trained by bptt or shac (a ControlPolicy, or "
                f"the agent load_policy returns for one), got {type(policy).__name__}"
            )
        if net.spec.obs_size != task.obs_size:
            raise ValueError(
                f"the policy reads {net.spec.obs_size} observations and {task.env_id} has "
                f"{task.obs_size}: it was trained on another task"
            )
        net = copy.deepcopy(net)
    return net.to(torch.float64).eval()


def _grads(outputs: Sequence[torch.Tensor], params: list[torch.Tensor]) -> list[torch.Tensor]:
    """The flat gradient of each scalar in ``outputs`` with respect to ``params``.

    One backward pass, vectorised over the outputs (``is_grads_batched``): the losses at
    several horizons share one rollout, and a prefix's backward still runs through every
    step the stacked tensors hold, so separate passes would cost one full pass each.
    """
    stacked = torch.stack(list(outputs))
    n = stacked.shape[0]
    eye = torch.eye(n, dtype=stacked.dtype, device=stacked.device)
    grads = torch.autograd.grad(
        stacked, params, grad_outputs=eye, is_grads_batched=True, allow_unused=True
    )
    flat = torch.cat(
        [
            (
                torch.zeros((n, p.numel()), dtype=p.dtype, device=p.device) if g is None else g
            ).reshape(n, -1)
            for g, p in zip(grads, params)
        ],
        dim=1,
    )
    return list(flat.unbind(0))


def _spread(values: torch.Tensor) -> dict[str, float]:
    q = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75], dtype=values.dtype))
    return {"q25": float(q[0]), "median": float(q[1]), "q75": float(q[2])}


def _prefix(out: Rollout, horizon: int) -> Rollout:
    """The first ``horizon`` steps of a rollout: what a rollout of that length returns (the
    steps, the estimators' noise and the masks are causal)."""
    return Rollout(
        out.states[: horizon + 1],
        out.observations[:horizon],
        out.actions[:horizon],
        out.rewards[:horizon],
        out.terminated[:horizon],
        out.alive[:horizon],
        horizon * out.states.shape[1],
    )


class _Loss:
    """The batch-mean loss of ``net`` from fixed starts with fixed estimator noise, at each
    of several horizons from one rollout of the longest."""

    def __init__(self, task: Task, objective: Callable[[Rollout], torch.Tensor]) -> None:
        self.task, self.objective = task, objective

    def rollout(
        self, net: ControlPolicy, starts: torch.Tensor, horizon: int, noise_seed: int
    ) -> Rollout:
        gen = torch.Generator().manual_seed(noise_seed)
        return rollout(lambda o: net(o, gen), self.task, starts, horizon, on_terminate="mask")

    def __call__(
        self, net: ControlPolicy, starts: torch.Tensor, horizons: Sequence[int], noise_seed: int
    ) -> list[torch.Tensor]:
        out = self.rollout(net, starts, max(horizons), noise_seed)
        return [self.objective(_prefix(out, h)).mean() for h in horizons]

    def gradients(
        self,
        net: ControlPolicy,
        starts: torch.Tensor,
        horizons: Sequence[int],
        noise_seed: int,
    ) -> tuple[list[torch.Tensor], list[float]]:
        """The flat weight gradient and the value of the loss at each horizon."""
        params = list(net.parameters())
        values = self(net, starts, horizons, noise_seed)
        return _grads(values, params), [float(v.detach()) for v in values]


def _lyapunov(
    loss: _Loss,
    net: ControlPolicy,
    starts: torch.Tensor,
    horizons: Sequence[int],
    noise_seed: int,
) -> list[tuple[Optional[dict[str, float]], int]]:
    """Per horizon: the finite-time exponents' quartiles over the starts alive throughout
    (None if none is), and how many those are."""
    x0 = starts.clone().requires_grad_(True)
    out = loss.rollout(net, x0, max(horizons), noise_seed)
    alive = out.alive.sum(0)
    n = out.states.shape[-1]
    # Row i of each start's Jacobian at every horizon, in one batched backward pass.
    sums = [out.states[h][:, i].sum() for h in horizons for i in range(n)]
    rows = _grads(sums, [x0])
    result = []
    for k, horizon in enumerate(horizons):
        block = rows[k * n : (k + 1) * n]
        jac = torch.stack([r.view_as(x0) for r in block], dim=1)  # [B, n, n]: d x_H[i] / d x_0[j]
        jac = jac[alive >= horizon]
        if jac.shape[0] == 0:
            result.append((None, 0))
            continue
        sigma = torch.linalg.matrix_norm(jac, ord=2)
        tiny = torch.finfo(sigma.dtype).tiny
        exponent = torch.log(sigma.clamp(min=tiny)) / (horizon * loss.task.dt)
        result.append((_spread(exponent), int(jac.shape[0])))
    return result


def _reinforce(
    task: Task,
    net: ControlPolicy,
    objective: Callable[[Rollout], torch.Tensor],
    horizons: Sequence[int],
    samples: int,
    seed: int,
) -> list[tuple[torch.Tensor, float]]:
    """Per horizon: the score-function gradient of the stochastic relaxation's mean loss,
    and its relative standard error (over chunks of episodes)."""
    params = list(net.parameters())
    spec = net.spec
    chunk = min(samples, 2048)
    chunks = max(2, samples // chunk)
    chunk = samples // chunks
    gen = torch.Generator().manual_seed(seed)
    estimates: list[list[torch.Tensor]] = [[] for _ in horizons]
    for _ in range(chunks):
        starts = task.sample_initial(chunk, gen, torch.float64)
        logps: list[torch.Tensor] = []

        def act(obs: torch.Tensor, logps: list[torch.Tensor] = logps) -> torch.Tensor:
            u = net.score(obs.detach())
            if spec.head == "binary":
                plus = torch.rand(u.shape, generator=gen, dtype=u.dtype) < torch.sigmoid(u)
                logps.append(
                    torch.where(
                        plus, torch.nn.functional.logsigmoid(u), torch.nn.functional.logsigmoid(-u)
                    )
                )
                a = torch.where(plus, 1.0, -1.0).to(u.dtype)
            else:
                logp = torch.log_softmax(u, dim=-1)
                idx = torch.multinomial(logp.detach().exp(), 1, generator=gen)
                logps.append(logp.gather(-1, idx)[..., 0])
                a = net.actions.to(u.dtype)[idx[..., 0]]
            a = spec.action_scale * a + spec.action_offset
            return a.detach()

        out = rollout(act, task, starts, max(horizons), on_terminate="mask")
        steps = torch.cumsum(torch.stack(logps) * out.alive, 0)  # [T, B]: prefix sums
        surrogates = []
        for horizon in horizons:
            value = objective(_prefix(out, horizon)).detach()
            baseline = (value.sum() - value) / (value.shape[0] - 1)
            surrogates.append(((value - baseline) * steps[horizon - 1]).mean())
        for k, grad in enumerate(_grads(surrogates, params)):
            estimates[k].append(grad)
    result = []
    for per_chunk in estimates:
        stacked = torch.stack(per_chunk)
        mean = stacked.mean(0)
        stderr = stacked.std(0) / math.sqrt(chunks)
        result.append((mean, float(stderr.norm() / mean.norm().clamp(min=1e-300))))
    return result


def gradient_health(
    env: Union[str, Task],
    policy: Optional[Any] = None,
    *,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    samples: int = 16,
    batch: int = 64,
    seed: int = 0,
    fd_eps: float = 1e-6,
    reference_samples: int = 8192,
    progress: bool = False,
) -> dict[str, Any]:
    """The gradient-health measurements of the module docstring, per horizon.

    Args:
        env: A rollout task's id or short name (``pendulum``, ``diffsim/CartPole-v1``, …).
        policy: A :class:`~diffsim.controllers.policies.ControlPolicy` or the agent
            :func:`~diffsim.controllers.checkpoint.load_policy` returns for one (bptt, shac
            runs); None: a fresh policy of the task's BPTT configuration, weights from
            ``seed``. It is copied to float64; the caller's policy is not changed.
        horizons: Rollout lengths H (steps), each at most the task's time limit.
        samples: Independent batches of starts (at least 2, for the spread and the SNR).
        batch: Starts per batch (the loss is their mean).
        seed: Seeds the starts, the estimators' noise, the FD direction and a fresh policy.
        fd_eps: The finite-difference step along the unit direction (weights' units).
        reference_samples: Episodes of the REINFORCE reference (discrete tasks; at least 100).
        progress: Show a progress bar.

    Returns:
        A JSON-ready dict: ``env_id``, ``dt`` (s), ``loss`` (BPTT's loss setting),
        ``estimator`` (the policy's, discrete tasks), ``discrete``, ``policy``
        (``"fresh"`` or ``"given"``), ``settings``, and ``horizons``: one dict per H with
        ``horizon``, ``grad_norm`` ({q25, median, q75}), ``snr``, ``loss`` (median over the
        batches), ``fd`` ({autograd, finite_difference, rel_error}), ``fd_rel_error``,
        ``lyapunov`` ({q25, median, q75} in 1/s, or None), ``lyapunov_starts`` and, for a
        discrete task, ``estimators`` ({name: {rel_bias, cosine, rel_std}}) and
        ``reference_rel_stderr``.

    Raises:
        ValueError: an unknown task or one without a rollout, a horizon past the task's time
            limit or not a positive int, ``samples`` below 2, ``batch`` below 1,
            ``fd_eps`` not positive, ``reference_samples`` below 100, or a policy trained on
            another task.
        TypeError: ``policy`` is not a ControlPolicy (an SB3 or aiming policy).
    """
    from tqdm.auto import tqdm

    from diffsim.controllers.bptt import default_config
    from diffsim.controllers.estimators import CATEGORICAL_ESTIMATORS, ESTIMATORS

    task = get_task(env)
    horizons = [_check_positive_int("each horizon", h) for h in horizons]
    if not horizons:
        raise ValueError("expected at least one horizon")
    limit = task.max_episode_steps
    if limit is not None and max(horizons) > limit:
        raise ValueError(
            f"horizon {max(horizons)} is past {task.env_id}'s time limit of {limit} steps"
        )
    _check_positive_int("samples", samples, 2)
    _check_positive_int("batch", batch)
    _check_positive_int("reference_samples", reference_samples, 100)
    if not (isinstance(fd_eps, (int, float)) and fd_eps > 0 and math.isfinite(fd_eps)):
        raise ValueError(f"fd_eps must be a positive number, got {fd_eps!r}")
    loss_name = default_config(task).loss
    objective = _objective(task, loss_name)
    net = _policy(task, policy, seed)
    params = list(net.parameters())
    loss = _Loss(task, objective)
    gen = torch.Generator().manual_seed(seed)
    starts = [task.sample_initial(batch, gen, torch.float64) for _ in range(samples)]
    direction = torch.randn(sum(p.numel() for p in params), generator=gen, dtype=torch.float64)
    direction /= direction.norm()
    theta = torch.nn.utils.parameters_to_vector(params).detach()
    shifted = copy.deepcopy(net)
    noise = [seed * 100_003 + s for s in range(samples)]

    def losses_at(weights: torch.Tensor) -> list[float]:
        torch.nn.utils.vector_to_parameters(weights, shifted.parameters())
        with torch.no_grad():
            return [float(v) for v in loss(shifted, starts[0], horizons, noise[0])]

    estimators: list[str] = []
    if task.discrete:
        names = ESTIMATORS if net.spec.head == "binary" else CATEGORICAL_ESTIMATORS
        estimators = list(names)
    others = [n for n in estimators if n != net.spec.estimator]
    bar = tqdm(
        total=samples * (1 + len(others)) + 1 + bool(estimators),
        desc=f"grads {task.env_id}",
        disable=not progress,
    )
    # g[name][k]: [samples, P] gradients at horizons[k] (name None: the policy's estimator).
    g: dict[Optional[str], list[torch.Tensor]] = {}
    values: list[list[float]] = []
    for name in [None, *others]:
        if name is None:
            model = net
        else:
            model = ControlPolicy(replace(net.spec, estimator=name)).to(torch.float64)
            model.load_state_dict(net.state_dict())
        per_sample = []
        for s in range(samples):
            sample_grads, sample_values = loss.gradients(model, starts[s], horizons, noise[s])
            per_sample.append(sample_grads)
            if name is None:
                values.append(sample_values)
            bar.update()
        g[name] = [torch.stack([row[k] for row in per_sample]) for k in range(len(horizons))]
    if task.discrete:
        g[net.spec.estimator] = g[None]
    ad = [float(gk[0] @ direction) for gk in g[None]]
    plus, minus = losses_at(theta + fd_eps * direction), losses_at(theta - fd_eps * direction)
    lyapunov = _lyapunov(loss, net, starts[0], horizons, noise[0])
    bar.update()
    reference = (
        _reinforce(task, net, objective, horizons, reference_samples, seed + 1)
        if estimators
        else []
    )
    bar.update(bool(estimators))
    bar.close()
    rows = []
    for k, horizon in enumerate(horizons):
        gk = g[None][k]
        mean = gk.mean(0)
        noise_power = ((gk - mean) ** 2).sum(1).mean()
        snr = float(mean.pow(2).sum() / noise_power) if noise_power > 0 else math.inf
        fd = (plus[k] - minus[k]) / (2 * fd_eps)
        rel = abs(ad[k] - fd) / max(abs(ad[k]), abs(fd), 1e-300)
        lyap, kept = lyapunov[k]
        row: dict[str, Any] = {
            "horizon": horizon,
            "grad_norm": _spread(gk.norm(dim=1)),
            "snr": snr,
            "loss": statistics.median(v[k] for v in values),
            "fd": {"autograd": ad[k], "finite_difference": fd, "rel_error": rel},
            "fd_rel_error": rel,
            "lyapunov": lyap,
            "lyapunov_starts": kept,
        }
        if estimators:
            ref, ref_err = reference[k]
            ref_norm = float(ref.norm())
            row["reference_rel_stderr"] = ref_err
            row["estimators"] = {}
            for name in estimators:
                ge = g[name][k]
                emean = ge.mean(0)
                spread = float(((ge - emean) ** 2).sum(1).mean().sqrt())
                row["estimators"][name] = {
                    "rel_bias": float((emean - ref).norm()) / ref_norm,
                    "cosine": float(emean @ ref / (emean.norm() * ref.norm()).clamp(min=1e-300)),
                    "rel_std": spread / ref_norm,
                }
        rows.append(row)
    return {
        "env_id": task.env_id,
        "dt": task.dt,
        "loss": loss_name,
        "discrete": task.discrete,
        "estimator": net.spec.estimator if task.discrete else None,
        "policy": "fresh" if policy is None else "given",
        "settings": {
            "samples": samples,
            "batch": batch,
            "seed": seed,
            "fd_eps": fd_eps,
            "reference_samples": reference_samples if task.discrete else None,
            "parameters": int(theta.numel()),
        },
        "horizons": rows,
    }
