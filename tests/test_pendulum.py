"""Pendulum: equivalence with Gymnasium's Pendulum-v1, the 2019 variant, gradients, batching."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from diffsim import pendulum
from diffsim.pendulum import PendulumParams

F64 = torch.float64
# The reference forms its torque term in float32 (see the spec): one step agrees to that.
TORQUE_TERM_TOL = dict(rtol=0, atol=3 * 2**-24 * 6 * 0.05)


@pytest.mark.parametrize("seed", range(20))
def test_single_steps_equal_gymnasium(seed):
    env = gym.make("Pendulum-v1").unwrapped
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(100):
        before = np.array(env.state, dtype=np.float64)
        u = rng.uniform(-3, 3, size=(1,)).astype(np.float32)  # beyond ±2 too: clipped
        _, r, terminated, truncated, _ = env.step(u)
        s = torch.tensor(before)
        a = torch.tensor(u, dtype=F64)
        ours = pendulum.step(s, a)
        np.testing.assert_allclose(ours.numpy(), env.state, **TORQUE_TERM_TOL)
        assert pendulum.reward(s, a, ours).item() == pytest.approx(r, rel=1e-6, abs=1e-6)
        assert not terminated and not pendulum.terminated(s).item()


def test_whole_trajectory_drift_is_small_and_chaotic_only():
    """Whole 200-step trajectories agree to ~1e-3: the chaos the spec describes, no more."""
    env = gym.make("Pendulum-v1").unwrapped
    env.reset(seed=7)
    rng = np.random.default_rng(7)
    s = torch.tensor(np.array(env.state))
    for _ in range(200):
        u = rng.uniform(-2, 2, size=(1,)).astype(np.float32)
        env.step(u)
        s = pendulum.step(s, torch.tensor(u, dtype=F64))
    np.testing.assert_allclose(s.numpy(), env.state, atol=1e-2)


def test_observation_matches_gymnasium():
    env = gym.make("Pendulum-v1").unwrapped
    obs, _ = env.reset(seed=3)
    ours = pendulum.observe(torch.tensor(np.array(env.state))).numpy().astype(np.float32)
    np.testing.assert_array_equal(ours, obs)


def test_hand_derived_jacobian_unsaturated():
    """∂θ̇'/∂u = 3/(m·l²)·dt and ∂θ'/∂u = 3/(m·l²)·dt² when nothing clips."""
    p = PendulumParams(m=1.3, l=0.8)
    u = torch.tensor(0.5, dtype=F64, requires_grad=True)
    nxt = pendulum.step(torch.tensor([0.4, 1.0], dtype=F64), u, p)
    (dthetadot,) = torch.autograd.grad(nxt[1], u, retain_graph=True)
    (dtheta,) = torch.autograd.grad(nxt[0], u)
    k = 3 / (p.m * p.l**2)
    assert dthetadot.item() == pytest.approx(k * p.dt, rel=1e-13)
    assert dtheta.item() == pytest.approx(k * p.dt**2, rel=1e-13)


def test_saturated_speed_and_torque_give_zero_gradient():
    s = torch.tensor([[0.5, 7.99], [0.5, 0.0]], dtype=F64, requires_grad=True)
    u = torch.tensor([2.0, 5.0], dtype=F64, requires_grad=True)  # 2nd torque beyond the clip
    nxt = pendulum.step(s, u)
    assert nxt[0, 1].item() == 8.0
    nxt[:, 1].sum().backward()
    assert s.grad[0].abs().sum() == 0 and u.grad[0] == 0  # speed clip saturated
    assert u.grad[1] == 0  # torque clip saturated
    assert s.grad[1, 1] == 1.0


@pytest.mark.parametrize("integrator", ["semi_implicit_euler", "euler", "rk4"])
@pytest.mark.parametrize("speed", [0.3, 7.9])  # ordinary, and saturating the speed clip
def test_gradcheck_step(integrator, speed):
    state = torch.tensor([[0.3, speed], [-2.0, -0.5]], dtype=F64, requires_grad=True)
    action = torch.tensor([1.5, -0.7], dtype=F64, requires_grad=True)
    names = ("dt", "g", "m", "l", "max_torque", "max_speed")
    values = [
        torch.tensor(getattr(PendulumParams(), n), dtype=F64, requires_grad=True) for n in names
    ]

    def f(s, a, *vals):
        return pendulum.step(s, a, PendulumParams(**dict(zip(names, vals))), integrator)

    assert torch.autograd.gradcheck(f, (state, action, *values))


def test_gradcheck_50_step_rollout_with_cost():
    s0 = torch.tensor([[2.5, 0.0], [0.5, -0.5]], dtype=F64, requires_grad=True)
    acts = (0.9 * torch.sin(torch.arange(50, dtype=F64))).repeat(2, 1).T.contiguous()
    acts.requires_grad_()
    mass = torch.tensor([1.0, 1.2], dtype=F64, requires_grad=True)

    def f(s, acts, mass):
        p = PendulumParams(m=mass)
        total = torch.zeros((), dtype=F64)
        for t in range(50):
            total = total + pendulum.cost(s, acts[t], p).sum()
            s = pendulum.step(s, acts[t], p)
        return total, s

    assert torch.autograd.gradcheck(f, (s0, acts, mass))


def test_variant_2019_unclipped_torque_and_position_update():
    p = PendulumParams.variant_2019()
    s = torch.tensor([0.0, 7.9], dtype=F64)
    u = torch.tensor(10.0, dtype=F64)
    nxt = pendulum.step(s, u, p)
    raw_speed = 7.9 + 3 * 10.0 * 0.05  # no torque clip, speed clipped afterwards
    assert nxt[1].item() == 8.0
    assert nxt[0].item() == pytest.approx(raw_speed * 0.05, rel=1e-14)
    gym_like = pendulum.step(s, u)
    assert gym_like[0].item() == pytest.approx(8.0 * 0.05, rel=1e-14)
    assert pendulum.cost(s, u, p).item() == pytest.approx(0.1 * 7.9**2 + 0.001 * 100)


def test_angle_normalize_and_cost_gradient():
    th = torch.tensor([3 * math.pi / 2, -3 * math.pi / 2, 0.5], dtype=F64, requires_grad=True)
    wrapped = pendulum.angle_normalize(th)
    torch.testing.assert_close(wrapped, torch.tensor([-math.pi / 2, math.pi / 2, 0.5], dtype=F64))
    c = pendulum.cost(torch.stack([th, torch.zeros_like(th)], -1), torch.zeros(3, dtype=F64))
    c.sum().backward()
    torch.testing.assert_close(th.grad, 2 * wrapped.detach())


def test_batched_equals_per_element_with_per_element_lengths():
    g = torch.Generator().manual_seed(0)
    s = pendulum.sample_initial(4, generator=g, dtype=F64)
    lengths = torch.tensor([0.5, 1.0, 1.5, 2.0], dtype=F64)
    acts = torch.rand(30, 4, 1, generator=g, dtype=F64) * 4 - 2
    b = s
    for t in range(30):
        b = pendulum.step(b, acts[t], PendulumParams(l=lengths))
    for i in range(4):
        x = s[i]
        for t in range(30):
            x = pendulum.step(x, acts[t, i], PendulumParams(l=float(lengths[i])))
        torch.testing.assert_close(b[i], x, rtol=1e-14, atol=1e-14)


def test_initial_distribution_and_float32():
    s = pendulum.sample_initial((100, 50), generator=torch.Generator().manual_seed(0))
    assert s.shape == (100, 50, 2) and s.dtype == torch.float32
    assert s[..., 0].abs().max() <= math.pi and s[..., 1].abs().max() <= 1
    assert s[..., 0].abs().max() > 3.0
    assert pendulum.step(s, torch.zeros(100, 50)).dtype == torch.float32


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        pendulum.step(torch.zeros(3), torch.zeros(()))
    with pytest.raises(ValueError, match="m must be > 0"):
        PendulumParams(m=0.0)
    with pytest.raises(TypeError, match="clip_torque must be a bool"):
        PendulumParams(clip_torque=1.0)
    with pytest.raises(TypeError, match="PendulumParams"):
        pendulum.step(torch.zeros(2), torch.zeros(()), params={"g": 9.8})
