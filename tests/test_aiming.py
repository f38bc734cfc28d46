"""The trebuchet aiming network: bounds, updates, resume, failed shots, policy.pt, learning."""

import math

import numpy as np
import pytest
import torch

import diffsim.trebuchet as trebuchet
from diffsim.controllers import load_policy
from diffsim.controllers.aiming import (
    AimingAgent,
    AimingConfig,
    AimingNetwork,
    AimingTrainer,
    evaluate_aiming,
)

# the env's own box (all within reach): no reach table to compute
SMALL = dict(hidden=(8, 8), batch_size=16, updates=20, wind_max=5.0, target_max=80.0)
SMALL["reach_filter"] = False


def _params(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


@pytest.mark.parametrize("weight_bounds", [(50.0, 525.0), (50.0, 600.0)])
def test_outputs_within_the_action_bounds(weight_bounds):
    net = AimingNetwork(AimingConfig(weight_bounds=weight_bounds), torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 30.0)  # saturate the sigmoids
        obs = torch.tensor([[-50.0, -100.0], [0.0, 50.0], [50.0, 500.0], [5.0, 20.0]])
        a = net(obs)
    assert a.shape == (4, 2)
    assert ((a[:, 0] >= 5.0) & (a[:, 0] <= 85.0)).all()
    assert ((a[:, 1] >= weight_bounds[0]) & (a[:, 1] <= weight_bounds[1])).all()
    with pytest.raises(ValueError):
        AimingConfig(weight_bounds=(40.0, 600.0))


@pytest.mark.parametrize("optimizer", ["gauss_newton", "adam"])
def test_update_returns_finite_metrics(optimizer):
    trainer = AimingTrainer(config=AimingConfig(optimizer=optimizer, **SMALL), seed=1)
    before = _params(trainer.policy)
    m = trainer.update()
    assert m["transitions"] == 16
    for key in ("loss", "grad_norm", "param_norm", "median_rel_miss"):
        assert math.isfinite(m[key]), key
    assert not torch.equal(before, _params(trainer.policy))


def test_state_dict_round_trip_resumes_identically():
    config = AimingConfig(**SMALL)
    a = AimingTrainer(config=config, seed=3)
    a.update()
    state = a.state_dict()
    b = AimingTrainer(config=config, seed=99)
    b.load_state_dict(state)
    ma, mb = a.update(), b.update()
    assert ma == mb
    assert torch.equal(_params(a.policy), _params(b.policy))
    adam = AimingConfig(optimizer="adam", **SMALL)
    a, b = AimingTrainer(config=adam, seed=3), AimingTrainer(config=adam, seed=4)
    a.update()
    b.load_state_dict(a.state_dict())
    assert a.update() == b.update()
    assert torch.equal(_params(a.policy), _params(b.policy))


@pytest.mark.parametrize("optimizer", ["gauss_newton", "adam"])
def test_failed_shots_do_not_poison_the_gradient(optimizer, monkeypatch):
    real = trebuchet.shoot

    def half_failed(wind, angle, weight, params=None, on_failure="raise"):
        d = real(wind, angle, weight, params, on_failure="nan")
        fail = torch.arange(d.numel()).reshape(d.shape) % 2 == 0
        return torch.where(fail, torch.full_like(d, float("nan")), d)

    monkeypatch.setattr(trebuchet, "shoot", half_failed)
    config = AimingConfig(optimizer=optimizer, weight0=500.0, **SMALL)
    trainer = AimingTrainer(config=config, seed=0)
    if optimizer == "adam":
        w, t = trainer.sample(16)
        loss, stats = trainer.loss(w, t)
        loss.backward()
        grads = torch.cat([p.grad.reshape(-1) for p in trainer.policy.parameters()])
        assert torch.isfinite(grads).all() and grads.abs().sum() > 0
        assert stats["failed"] == 8
        trainer.policy.zero_grad()
    m = trainer.update()
    assert m["failed"] == 8
    assert math.isfinite(m["loss"]) and math.isfinite(m["grad_norm"])
    assert torch.isfinite(_params(trainer.policy)).all()

    def all_failed(wind, angle, weight, params=None, on_failure="raise"):
        d = real(wind, angle, weight, params, on_failure="nan")
        return torch.where(torch.ones_like(d, dtype=torch.bool), float("nan"), d)

    monkeypatch.setattr(trebuchet, "shoot", all_failed)
    w0 = trainer.policy(torch.tensor([[0.0, 60.0]])).detach()
    for _ in range(10):
        m = trainer.update()
    assert m["failed"] == 16 and torch.isfinite(_params(trainer.policy)).all()
    w1 = trainer.policy(torch.tensor([[0.0, 60.0]])).detach()
    # the penalty pulls the controls towards (45°, 300 lb)
    assert abs(float(w1[0, 1]) - 300.0) < abs(float(w0[0, 1]) - 300.0)


def test_policy_file_round_trip_gives_the_same_actions(tmp_path):
    trainer = AimingTrainer(config=AimingConfig(**SMALL), seed=0)
    trainer.update()
    trainer.save(tmp_path / "policy.pt")
    agent = load_policy(tmp_path)
    assert isinstance(agent, AimingAgent)
    obs = np.array([[-3.0, 25.0], [0.0, 50.0], [4.5, 79.0]], dtype=np.float32)
    a = agent.act(obs)
    assert a.shape == (3, 2) and a.dtype == np.float32
    expected = trainer.agent().act(obs)
    np.testing.assert_array_equal(a, expected)
    one = agent.act(obs[1])
    assert one.shape == (2,) and one.dtype == np.float32
    np.testing.assert_array_equal(one, expected[1])
    import gymnasium as gym

    import diffsim.envs  # noqa: F401  (registers the ids)

    space = gym.make("diffsim/Trebuchet-v0").action_space
    assert all(space.contains(row) for row in a)


def test_evaluate_aiming_reports_the_figures():
    net = AimingNetwork(AimingConfig(**SMALL))
    ev = evaluate_aiming(net, n=40, aim_subset=0, reach_check=False, timing_batch=64)
    for dist in ("post", "env"):
        r = ev[dist]
        assert r["evaluated"] + r["unreachable"] == 40
        assert 0 <= r["median_rel_miss"] <= r["p95_rel_miss"] <= r["max_rel_miss"]
    assert ev["network_us_per_aim"] > 0


@pytest.mark.slow
def test_short_training_reduces_the_median_miss():
    config = AimingConfig(hidden=(16, 16), batch_size=128, updates=30)
    trainer = AimingTrainer(config=config, seed=0)
    w, t = trainer.sample(256)

    def median_miss() -> float:
        with torch.no_grad():
            a = trainer.policy(torch.stack((w, t), -1))
            d = trebuchet.shoot(w, a[:, 0], a[:, 1], on_failure="nan")
        return float(((d - t).abs() / t).nan_to_num(1.0).median())

    before = median_miss()
    for _ in range(config.updates):
        trainer.update()
    after = median_miss()
    assert after < 0.2 * before and after < 0.02, (before, after)
