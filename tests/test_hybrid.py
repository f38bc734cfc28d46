"""``diffsim.hybrid``: the friction pendulum, the hybrid and network models, their fit, their
prediction error, and the hybrid as a System the rollout runs on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from diffsim import pendulum
from diffsim.hybrid import (
    HybridModel,
    NeuralModel,
    fit_dynamics,
    friction_step,
    friction_system,
    prediction_error,
    simulate,
)
from diffsim.identify import fit
from diffsim.integrators import get_integrator

P = pendulum.DEFAULT_PARAMS


def _states(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 2, generator=g, dtype=torch.float64) * 2 - 1) * torch.tensor([3.0, 4.0])
    u = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * 2.5  # some beyond ±2
    return x, u


def test_friction_step_is_pendulum_v1_plus_the_friction_torque():
    x, u = _states()
    torch.testing.assert_close(
        friction_step(x, u, friction=0.0), pendulum.step(x, u), rtol=0, atol=0
    )
    b, dt = 0.3, P.dt
    got = friction_step(x, u, friction=b)
    # By hand: θ̈ = 3g/(2l) sin θ + 3/(m l²)(clip(u) − b θ̇), semi-implicit Euler, speed clip.
    acc = 3 * P.g / (2 * P.l) * torch.sin(x[:, 0]) + 3 / (P.m * P.l**2) * (
        u.clamp(-2, 2) - b * x[:, 1]
    )
    v = (x[:, 1] + acc * dt).clamp(-P.max_speed, P.max_speed)
    torch.testing.assert_close(got, torch.stack([x[:, 0] + v * dt, v], -1), rtol=1e-14, atol=1e-14)
    with pytest.raises(ValueError, match="friction must be a finite number >= 0"):
        friction_system(-0.1)


def test_unfitted_models_start_as_the_simulator_and_as_no_change():
    x, u = _states()
    hybrid, neural = HybridModel("pendulum"), NeuralModel("pendulum")
    with torch.no_grad():
        torch.testing.assert_close(hybrid(x, u), pendulum.step(x, u), rtol=0, atol=0)
        torch.testing.assert_close(neural(x, u), x, rtol=0, atol=0)
    with pytest.raises(ValueError, match="hidden layer sizes must be >= 1"):
        HybridModel("pendulum", hidden=(0,))


def test_the_hybrid_step_has_the_gradients_of_finite_differences():
    model = HybridModel("pendulum", hidden=(8,), seed=1)
    with torch.no_grad():
        for p in model.net.parameters():
            p.normal_(0, 0.5)
    x, u = _states(6)
    x[:, 1] = x[:, 1].clamp(-3, 3)  # away from the speed clip, where the step is smooth
    u = u.clamp(-1.5, 1.5)  # and from the torque clip
    assert torch.autograd.gradcheck(lambda s: model(s, u), (x.requires_grad_(),))
    weight = model.net[-1].weight
    out = model(x.detach(), u).sum()
    (g,) = torch.autograd.grad(out, weight)
    eps, k = 1e-6, (1, 3)
    with torch.no_grad():
        weight[k] += eps
        up = model(x.detach(), u).sum()
        weight[k] -= 2 * eps
        down = model(x.detach(), u).sum()
        weight[k] += eps
    assert float(g[k]) == pytest.approx(float((up - down) / (2 * eps)), rel=1e-6)


def test_a_small_fit_learns_the_friction_the_simulator_lacks():
    torch.manual_seed(0)
    real = friction_system(0.2)
    train, test = simulate(real, 4, 100, seed=0), simulate(real, 3, 100, seed=1)
    ident = fit("pendulum", *train[:2], ["m", "l"], mask=train[2])
    fitted = P.replace(**ident.params)
    integ = get_integrator("semi_implicit_euler")
    alone = prediction_error(
        lambda s, a: pendulum._step(s, a, fitted, integ), "pendulum", *test, horizon=20
    )
    model = HybridModel("pendulum", fitted, hidden=(32,))
    losses = fit_dynamics(model, *train, iterations=150, lr=1e-2, horizon=5)
    assert losses[-1] < 0.2 * losses[0]
    hybrid = prediction_error(model, "pendulum", *test, horizon=20)
    assert hybrid["starts"] == 3 * 81 and len(hybrid["rmse"]) == 20
    assert hybrid["rmse"][-1] < 0.5 * alone["rmse"][-1]
    assert set(hybrid["rmse_state"]) == {"theta", "theta_dot"}


def test_the_hybrid_is_a_system_the_rollout_differentiates_through():
    from diffsim.envs.rollout import get_task, rollout

    model = HybridModel("pendulum", hidden=(8,), seed=0)
    with torch.no_grad():
        model.net[-1].weight.normal_(0, 0.1)
    task = dataclasses.replace(get_task("pendulum"), system=model.system())
    assert task.system.name == "pendulum-hybrid"
    policy = torch.nn.Linear(3, 1, dtype=torch.float64)
    out = rollout(policy, task, batch_size=4, horizon=15, seed=0, dtype=torch.float64)
    loss = -out.rewards.sum()
    loss.backward()
    assert torch.isfinite(policy.weight.grad).all() and policy.weight.grad.abs().sum() > 0
    assert model.net[-1].weight.grad.abs().sum() > 0  # the model's weights get gradients too


def test_bad_input_is_refused():
    obs, act, mask = simulate(pendulum.SYSTEM, 2, 30, seed=0)
    model = HybridModel("pendulum")
    for kw, match in (
        ({"horizon": 0}, "horizon must be an integer >= 1"),
        ({"iterations": 0}, "iterations must be an integer >= 1"),
        ({"lr": -1.0}, "lr must be a positive number"),
    ):
        with pytest.raises(ValueError, match=match):
            fit_dynamics(model, obs, act, mask, **kw)
    with pytest.raises(ValueError, match="observations must have shape"):
        fit_dynamics(model, obs[..., :2], act, mask)
    with pytest.raises(ValueError, match="no recorded start has 50 valid transitions"):
        prediction_error(model, "pendulum", obs, act, mask, horizon=50)
    assert np.isfinite(
        prediction_error(model, "pendulum", obs, act, mask, horizon=30)["rmse"]
    ).all()


def test_the_docs_example_runs_as_written(capsys):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "residual.md").read_text()
    block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    namespace: dict = {}
    exec(compile(block, "docs/residual.md python block", "exec"), namespace)
    printed = float(capsys.readouterr().out.strip())
    assert 0 < printed < 0.2  # well below the fitted simulator alone (its drift: residual.md)
    assert namespace["task"].system.name == "pendulum-hybrid"
