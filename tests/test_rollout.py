"""The differentiable rollout API: shapes, termination modes, truncation, gradients."""

import pytest
import torch

from diffsim import cartpole, pendulum
from diffsim.envs.rollout import SHORT_NAMES, TASKS, Task, get_task, rollout

F64 = torch.float64


def linear(weight):
    return lambda obs: obs @ weight


def test_shapes_and_transition_count():
    w = torch.zeros(3)
    out = rollout(linear(w), "pendulum", horizon=7, batch_size=5, seed=0)
    assert out.states.shape == (8, 5, 2)
    assert out.observations.shape == (7, 5, 3)
    assert out.actions.shape == out.rewards.shape == out.alive.shape == (7, 5)
    assert out.transitions == 35
    assert out.terminated.dtype == torch.bool and not out.terminated.any()


def test_rollout_equals_stepping_the_physics_by_hand():
    w = torch.tensor([0.3, -0.2, 0.1], dtype=F64)
    s0 = pendulum.sample_initial(4, generator=torch.Generator().manual_seed(1), dtype=F64)
    out = rollout(linear(w), "pendulum", s0, horizon=10)
    s, total = s0, torch.zeros(4, dtype=F64)
    for _ in range(10):
        a = pendulum.observe(s) @ w
        total = total + pendulum.reward(s, a, None)
        s = pendulum.step(s, a)
    torch.testing.assert_close(out.states[-1], s)
    torch.testing.assert_close(out.returns, total)


def test_seed_is_reproducible_and_gymnasium_reset_distribution():
    a = rollout(linear(torch.zeros(4)), "cartpole", horizon=3, batch_size=1000, seed=3)
    b = rollout(linear(torch.zeros(4)), "cartpole", horizon=3, batch_size=1000, seed=3)
    assert torch.equal(a.states, b.states)
    assert a.states[0].abs().max() <= 0.05


def test_mask_freezes_terminated_elements_and_zeroes_their_rewards():
    push = lambda obs: torch.ones(obs.shape[0])  # noqa: E731  (topples the pole)
    out = rollout(push, "cartpole", horizon=80, batch_size=3, seed=0, on_terminate="mask")
    lengths = out.episode_lengths
    assert (lengths < 80).all()
    for b in range(3):
        n = int(lengths[b])
        assert out.terminated[n - 1, b] and out.terminated[:, b].sum() == 1
        assert torch.equal(out.states[n:, b], out.states[n, b].expand(81 - n, 4))
        assert out.rewards[:n, b].eq(1).all() and out.rewards[n:, b].eq(0).all()
        assert cartpole.terminated(out.states[n, b]) and not cartpole.terminated(
            out.states[n - 1, b]
        )
    assert torch.equal(out.returns, lengths)


def test_continue_and_reset_modes():
    push = lambda obs: torch.ones(obs.shape[0])  # noqa: E731
    cont = rollout(push, "cartpole", horizon=80, batch_size=2, seed=0, on_terminate="continue")
    assert cont.rewards.eq(1).all()  # kept simulating and counting
    assert cont.states[-1, :, 2].abs().min() > 1.0  # the pole fell far past the threshold
    reset = rollout(push, "cartpole", horizon=200, batch_size=2, seed=0, on_terminate="reset")
    assert reset.states[:, :, 2].abs().max() <= 0.3  # restarted instead of falling further
    assert torch.equal(reset.terminated.sum(0) >= 1, torch.tensor([True, True]))


def test_stop_when_all_done_counts_only_simulated_steps():
    push = lambda obs: torch.ones(obs.shape[0])  # noqa: E731
    out = rollout(push, "cartpole", horizon=500, batch_size=4, seed=0, stop_when_all_done=True)
    assert out.actions.shape[0] < 100 and out.transitions == out.actions.shape[0] * 4
    assert out.terminated.any(0).all()  # every element ended inside the simulated steps


def test_gradients_match_finite_differences_pendulum():
    s0 = pendulum.sample_initial(3, generator=torch.Generator().manual_seed(0), dtype=F64)
    w = torch.tensor([0.5, -0.3, 0.2], dtype=F64, requires_grad=True)
    mass = torch.tensor(1.0, dtype=F64, requires_grad=True)

    def f(w, mass):
        p = pendulum.PendulumParams(m=mass)
        return rollout(lambda o: 2 * torch.tanh(o @ w), "pendulum", s0, 15, params=p).returns

    assert torch.autograd.gradcheck(f, (w, mass))


def test_gradients_match_finite_differences_cartpole_with_termination_mask():
    s0 = cartpole.sample_initial(3, generator=torch.Generator().manual_seed(0), dtype=F64)
    w = torch.tensor([0.1, 0.2, 3.0, 0.5], dtype=F64, requires_grad=True)

    def f(w):
        out = rollout(lambda o: torch.tanh(o @ w), "cartpole-continuous", s0, 20)
        x, _, th, _ = cartpole.unpack(out.states[1:])
        return ((x**2 + th**2) * out.alive).sum(0)

    assert torch.autograd.gradcheck(f, (w,))


def test_truncation_cuts_the_gradient_path():
    s0 = pendulum.sample_initial(
        2, generator=torch.Generator().manual_seed(0), dtype=F64
    ).requires_grad_()
    out = rollout(lambda o: 0.5 * o[:, 2], "pendulum", s0, 10, truncate_every=4)
    (g,) = torch.autograd.grad(out.states[-1].sum(), s0, retain_graph=True)
    assert g.abs().sum() == 0  # the last cut (step 8) separates the end from the start
    (g,) = torch.autograd.grad(out.states[3].sum(), s0)
    assert g.abs().sum() > 0


def test_every_task_and_short_name_resolves():
    for short, env_id in SHORT_NAMES.items():
        if env_id in TASKS:
            assert get_task(short) is get_task(env_id)
    assert get_task("pendulum-2019").params.clip_torque is False


def test_tasks_are_built_from_the_registry():
    from diffsim import systems

    specs = systems.task_specs()
    # Every task of a System is a rollout task; the one-shot trebuchet is not.
    assert set(TASKS) == {i for i, s in specs.items() if s.system in systems.system_names()}
    assert "diffsim/Trebuchet-v0" not in TASKS and "diffsim/Trebuchet-v0" in specs
    builtin = {"diffsim/CartPole-v1", "diffsim/CartPoleContinuous-v1", "diffsim/Pendulum-v1"}
    assert builtin | {"diffsim/Pendulum2019-v1"} <= set(TASKS)
    assert dict(SHORT_NAMES) == {s.short_name: i for i, s in specs.items()}
    cart, pend = get_task("cartpole"), get_task("pendulum")
    assert cart.system is cartpole.SYSTEM and cart.module is cartpole
    assert pend.system is pendulum.SYSTEM and pend.module is pendulum
    # The figures the old per-task table held, now read from the descriptions.
    assert (cart.obs_size, cart.state_size, cart.dt, cart.discrete) == (4, 4, 0.02, True)
    assert (pend.obs_size, pend.state_size, pend.dt, pend.discrete) == (3, 2, 0.05, False)
    assert (pend.action_low, pend.action_high) == (-2.0, 2.0)
    assert (cart.max_episode_steps, cart.reward_threshold, cart.solved_return) == (500, 475, 475)
    assert (pend.max_episode_steps, pend.reward_threshold, pend.solved_return) == (200, None, -200)
    assert not get_task("cartpole-continuous").discrete
    assert cart.integrator.name == "euler" and pend.integrator.name == "semi_implicit_euler"
    # A task built by hand from a physics module, as before, holds the module's System.
    own = Task("own", pendulum, pendulum.PendulumParams(), 5, -2.0, 2.0, False, None, None)
    assert own.system is pendulum.SYSTEM
    assert rollout(linear(torch.zeros(3)), own, batch_size=2).transitions == 5 * 2


def test_non_rollout_names_say_why():
    with pytest.raises(ValueError, match="Trebuchet-v0 is not a rollout task.*one-shot"):
        get_task("trebuchet")
    with pytest.raises(ValueError, match="Gymnasium's own environment.*diffsim/Pendulum-v1"):
        get_task("Pendulum-v1")
    with pytest.raises(ValueError, match="expected one of.*cartpole-continuous"):
        get_task("cartpol")


def test_bad_inputs():
    w = torch.zeros(3)
    with pytest.raises(ValueError, match="expected one of"):
        rollout(linear(w), "pendulumm", horizon=3, batch_size=2)
    with pytest.raises(ValueError, match="on_terminate mode"):
        rollout(linear(w), "pendulum", horizon=3, batch_size=2, on_terminate="stop")
    with pytest.raises(ValueError, match="horizon"):
        rollout(linear(w), "pendulum", horizon=0, batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        rollout(linear(w), "pendulum", horizon=3)
    with pytest.raises(ValueError, match=r"shape \[2\] or \[2, 1\]"):
        rollout(lambda o: torch.zeros(2, 2), "pendulum", horizon=3, batch_size=2)
    with pytest.raises(TypeError, match="CartPoleParams"):
        rollout(linear(w), "pendulum", horizon=3, batch_size=2, params=cartpole.CartPoleParams())
    # The steps run unchecked, so the rollout checks each action's dtype itself.
    with pytest.raises(TypeError, match="state's dtype torch.float32"):
        rollout(lambda o: torch.zeros(2, dtype=torch.float64), "pendulum", horizon=3, batch_size=2)
