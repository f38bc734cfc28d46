"""CartPole: equivalence with Gymnasium's CartPole-v1, gradients, batching, validation."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from diffsim import cartpole
from diffsim.cartpole import CartPoleParams

F64 = torch.float64


def _reference_env(seed):
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=seed)
    return env


@pytest.mark.filterwarnings("ignore:.*already returned terminated")
@pytest.mark.parametrize("seed", range(20))
def test_single_steps_equal_gymnasium(seed):
    """One step at a time from the reference's own state, equal to float64 rounding."""
    env = _reference_env(seed)
    rng = np.random.default_rng(seed)
    for _ in range(60):
        before = np.array(env.state, dtype=np.float64)
        a = int(rng.integers(2))
        env.step(a)
        ours = cartpole.step(
            torch.tensor(before), cartpole.discrete_to_action(torch.tensor(a), F64)
        )
        np.testing.assert_allclose(ours.numpy(), np.array(env.state), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("seed", range(20))
def test_whole_trajectory_terminates_on_same_step(seed):
    env = _reference_env(seed)
    rng = np.random.default_rng(100 + seed)
    state = torch.tensor(np.array(env.state), dtype=F64)
    for t in range(500):
        a = int(rng.integers(2))
        _, r, ref_done, _, _ = env.step(a)
        state = cartpole.step(state, cartpole.discrete_to_action(torch.tensor(a), F64))
        np.testing.assert_allclose(state.numpy(), np.array(env.state), rtol=1e-12, atol=1e-13)
        assert r == cartpole.reward(state, None, state).item()
        assert bool(cartpole.terminated(state)) == ref_done, f"step {t}"
        if ref_done:
            break
    assert ref_done, "random actions should topple the pole within 500 steps"


def test_initial_state_distribution():
    g = torch.Generator().manual_seed(0)
    s = cartpole.sample_initial((10_000,), generator=g, dtype=F64)
    assert s.shape == (10_000, 4) and s.dtype == F64
    assert s.min() >= -0.05 and s.max() <= 0.05
    assert abs(s.mean()) < 2e-3
    g2 = torch.Generator().manual_seed(0)
    assert torch.equal(s, cartpole.sample_initial(10_000, generator=g2, dtype=F64))


def test_hand_derived_jacobian_at_rest():
    """At the upright rest state, linearised dynamics give ∂θ̇'/∂F and ∂ẋ'/∂F in closed form.

    With θ = θ̇ = 0: θ̈ = −(F/M) / (l·(4/3 − m_p/M)), ẍ = F/M − m_p·l·θ̈/M; Euler multiplies by τ.
    """
    p = CartPoleParams()
    a = torch.zeros((), dtype=F64, requires_grad=True)
    nxt = cartpole.step(torch.zeros(4, dtype=F64), a, p)
    M, mp, half, fm, tau = p.total_mass, p.masspole, p.length, p.force_mag, p.tau
    dthetaacc_dF = -(1 / M) / (half * (4 / 3 - mp / M))
    dxacc_dF = 1 / M - mp * half * dthetaacc_dF / M
    grads = [torch.autograd.grad(nxt[i], a, retain_graph=True)[0].item() for i in range(4)]
    assert grads[0] == 0 and grads[2] == 0  # positions move with the old velocities (Euler)
    assert grads[1] == pytest.approx(tau * fm * dxacc_dF, rel=1e-12)
    assert grads[3] == pytest.approx(tau * fm * dthetaacc_dF, rel=1e-12)


@pytest.mark.parametrize("integrator", ["euler", "semi_implicit_euler", "rk4"])
def test_gradcheck_step_state_action_params(integrator):
    g = torch.Generator().manual_seed(1)
    state = (torch.rand(3, 4, generator=g, dtype=F64) - 0.5).requires_grad_()
    action = (torch.rand(3, generator=g, dtype=F64) * 1.6 - 0.8).requires_grad_()
    names = CartPoleParams._positive[:6]
    values = [
        torch.tensor(getattr(CartPoleParams(), n), dtype=F64, requires_grad=True) for n in names
    ]

    def f(s, a, *vals):
        p = CartPoleParams(**dict(zip(names, vals)))
        return cartpole.step(s, a, p, integrator=integrator)

    assert torch.autograd.gradcheck(f, (state, action, *values))


def test_gradcheck_through_50_step_rollout_with_per_element_lengths():
    state0 = torch.tensor(
        [[0.01, -0.02, 0.03, 0.0], [0.0, 0.1, -0.02, 0.05]], dtype=F64, requires_grad=True
    )
    actions = torch.linspace(-0.9, 0.9, 50, dtype=F64).repeat(2, 1).T.contiguous()
    actions.requires_grad_()
    length = torch.tensor([0.5, 0.7], dtype=F64, requires_grad=True)

    def f(s, acts, length):
        p = CartPoleParams(length=length)
        for t in range(acts.shape[0]):
            s = cartpole.step(s, acts[t], p)
        return s

    assert torch.autograd.gradcheck(f, (state0, actions, length))


def test_action_clipped_beyond_bounds_with_zero_gradient():
    s = torch.zeros(4, dtype=F64)
    a = torch.tensor([3.0, 1.0, -1.0, -7.0], dtype=F64, requires_grad=True)
    nxt = cartpole.step(s.expand(4, 4), a)
    assert torch.equal(nxt[0], nxt[1]) and torch.equal(nxt[2], nxt[3])
    nxt[:, 1].sum().backward()
    assert a.grad[0] == 0 and a.grad[3] == 0
    assert a.grad[1] > 0 and a.grad[2] > 0  # the straight-through ±1 sits inside the clip


def test_batched_rollout_equals_per_element_and_any_batch_shape():
    g = torch.Generator().manual_seed(3)
    s = cartpole.sample_initial((2, 3), generator=g, dtype=F64)
    acts = torch.rand(20, 2, 3, generator=g, dtype=F64) * 2 - 1
    masses = torch.tensor([[0.1, 0.2, 0.3]], dtype=F64)
    batched = s
    for t in range(20):
        batched = cartpole.step(batched, acts[t], CartPoleParams(masspole=masses))
    for i in range(2):
        for j in range(3):
            single = s[i, j]
            p = CartPoleParams(masspole=float(masses[0, j]))
            for t in range(20):
                single = cartpole.step(single, acts[t, i, j], p)
            torch.testing.assert_close(batched[i, j], single, rtol=1e-14, atol=1e-15)


def test_float32_follows_float64():
    s64 = cartpole.sample_initial(64, generator=torch.Generator().manual_seed(0), dtype=F64)
    a = torch.sign(torch.randn(64, dtype=F64, generator=torch.Generator().manual_seed(1)))
    s32 = s64.float()
    for _ in range(30):
        s64, s32 = cartpole.step(s64, a), cartpole.step(s32, a.float())
    assert s32.dtype == torch.float32
    torch.testing.assert_close(s32.double(), s64, rtol=1e-4, atol=1e-5)


def test_result_keeps_state_dtype_with_float64_tensor_params():
    p = CartPoleParams(length=torch.tensor(0.6, dtype=F64))
    out = cartpole.step(torch.zeros(4), torch.zeros(()), p)
    assert out.dtype == torch.float32


def test_integrators_converge_to_rk4():
    """Halving tau halves Euler's error after a fixed time (first order)."""
    s0 = torch.tensor([0.0, 0.5, 0.1, -0.3], dtype=F64)

    def run(integrator, tau, t_end=0.4):
        s = s0
        for _ in range(round(t_end / tau)):
            s = cartpole.step(s, torch.tensor(0.3, dtype=F64), CartPoleParams(tau=tau), integrator)
        return s

    exact = run("rk4", 0.0005)
    e1 = (run("euler", 0.02) - exact).abs().max()
    e2 = (run("euler", 0.01) - exact).abs().max()
    assert 1.7 < e1 / e2 < 2.3
    r1 = (run("rk4", 0.02) - exact).abs().max()
    r2 = (run("rk4", 0.01) - exact).abs().max()
    assert r1 / r2 > 12  # fourth order: ~16


def test_termination_thresholds():
    p = CartPoleParams()
    s = torch.tensor(
        [[2.39, 0, 0, 0], [2.41, 0, 0, 0], [0, 0, -0.21, 0], [0, 0, 0.2, 0]], dtype=F64
    )
    assert cartpole.terminated(s, p).tolist() == [False, True, True, False]
    assert p.theta_threshold == pytest.approx(12 * math.pi / 180)


def test_derived_quantities_follow_changes():
    p = CartPoleParams().replace(masspole=0.2, length=0.25)
    assert p.total_mass == pytest.approx(1.2) and p.polemass_length == pytest.approx(0.05)


@pytest.mark.parametrize(
    "field,value",
    [
        ("masscart", -1.0),
        ("length", 0.0),
        ("tau", -0.01),
        ("gravity", float("nan")),
        ("masspole", torch.tensor([0.1, -0.1])),
    ],
)
def test_bad_parameters_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        CartPoleParams(**{field: value})


def test_bad_inputs_give_clear_errors():
    s = torch.zeros(5, 4)
    with pytest.raises(ValueError, match=r"shape \[\.\.\., 4\]"):
        cartpole.step(torch.zeros(5, 3), torch.zeros(5))
    with pytest.raises(ValueError, match="action must have shape"):
        cartpole.step(s, torch.zeros(4))
    with pytest.raises(TypeError, match="floating dtype"):
        cartpole.step(s, torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match="floating dtype"):
        cartpole.step(torch.zeros(5, 4, dtype=torch.int32), torch.zeros(5))
    with pytest.raises(TypeError, match="torch.Tensor"):
        cartpole.step(np.zeros(4), torch.zeros(()))
    with pytest.raises(ValueError, match="euler, rk4, semi_implicit_euler"):
        cartpole.step(s, torch.zeros(5), integrator="midpoint")
    with pytest.raises(ValueError, match="expected one of"):
        CartPoleParams().replace(pole_mass=0.2)
    # [..., 1] actions are accepted
    assert cartpole.step(s, torch.zeros(5, 1)).shape == (5, 4)


def test_debug_checks_catch_non_finite_only_when_enabled():
    import diffsim

    s = torch.zeros(2, 4)
    a = torch.tensor([0.0, float("nan")])
    out = cartpole.step(s, a)  # no check, no sync: NaN propagates
    assert torch.isnan(out[1]).any()
    with diffsim.debug_checks(), pytest.raises(diffsim.NonFiniteError, match=r"action.*\(1,\)"):
        cartpole.step(s, a)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    s = cartpole.sample_initial(1024, generator=torch.Generator().manual_seed(0), dtype=F64)
    a = torch.rand(1024, dtype=F64) * 2 - 1
    p = CartPoleParams(length=torch.full((1024,), 0.6, dtype=F64))
    cpu = cartpole.step(s, a, p)
    gpu = cartpole.step(s.cuda(), a.cuda(), p.to("cuda"))
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-12, atol=1e-12)
