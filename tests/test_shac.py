"""Tests of the SHAC / short-window BPTT trainer (diffsim.controllers.shac)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from diffsim.controllers import shac
from diffsim.controllers.evaluate import evaluate
from diffsim.controllers.policies import ControlPolicy
from diffsim.controllers.shac import SHACConfig, SHACTrainer

PENDULUM = "diffsim/Pendulum-v1"
PENDULUM_2019 = "diffsim/Pendulum2019-v1"
CARTPOLE = "diffsim/CartPoleContinuous-v1"

SMALL = SHACConfig(num_envs=8, horizon=6, critic_iterations=2, critic_minibatches=2)
VARIANTS = {
    "default": SMALL,
    "shac": replace(SMALL, use_critic=True, fresh_starts=False, episode_length=10),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("env_id", [PENDULUM, CARTPOLE])
def test_update_returns_finite_metrics(name: str, env_id: str) -> None:
    trainer = SHACTrainer(env_id, VARIANTS[name], seed=0)
    for _ in range(3):
        metrics = trainer.update()
    assert metrics["transitions"] == 8 * 6
    assert trainer.transitions == 3 * 8 * 6
    for key in ("loss", "grad_norm", "param_norm", "train_return", "critic_loss"):
        assert math.isfinite(metrics[key]), key


def test_short_names_and_ids_resolve() -> None:
    assert SHACTrainer("pendulum", SMALL).env_id == PENDULUM
    assert SHACTrainer("cartpole-continuous", SMALL).env_id == CARTPOLE


def test_task_ids_are_the_continuous_rollout_tasks() -> None:
    ids = shac.shac_task_ids()
    assert {PENDULUM, PENDULUM_2019, CARTPOLE} <= set(ids)
    assert "diffsim/CartPole-v1" not in ids  # discrete
    assert "diffsim/Trebuchet-v0" not in ids  # no System


@pytest.mark.parametrize(
    "env", ["cartpole", "diffsim/Acrobot-v1", "trebuchet", "Pendulum-v1", "no-such-env"]
)
def test_unsupported_env_raises_naming_the_trained_ids(env: str) -> None:
    with pytest.raises(ValueError) as info:
        SHACTrainer(env, SMALL)
    if env != "no-such-env":  # an unknown name is refused by resolve_env_id's own list
        assert PENDULUM in str(info.value) and CARTPOLE in str(info.value)
    for function in (shac.default_config, shac.default_budget):
        with pytest.raises(ValueError):
            function(env)


def test_default_config_and_budget_per_task() -> None:
    assert shac.default_config(PENDULUM).start_options == {"max_speed": 4.0}
    assert shac.default_config("pendulum-2019").start_options == {"max_speed": 4.0}
    assert not shac.default_config(CARTPOLE).fresh_starts
    assert shac.default_config(CARTPOLE).use_critic
    for env_id in shac.shac_task_ids():
        assert isinstance(shac.default_config(env_id), SHACConfig)
        assert shac.default_budget(env_id) > 0


def test_pendulum_actor_is_the_control_policy_of_the_old_function() -> None:
    """2·tanh(ELU-MLP(cos θ, sin θ, θ̇/8)), with ±2 N·m and 8 rad/s from the system."""
    trainer = SHACTrainer(PENDULUM, SMALL, seed=0)
    policy = trainer.policy
    assert isinstance(policy, ControlPolicy)
    assert policy.spec.obs_scale == (1.0, 1.0, 8.0)
    assert policy.spec.action_scale == 2.0 and policy.spec.head == "tanh"
    obs = torch.randn(50, 3, generator=torch.Generator().manual_seed(1)) * 3
    linears = [m for m in policy.net if isinstance(m, torch.nn.Linear)]
    x = obs * torch.tensor([1.0, 1.0, 1.0 / 8.0])
    for lin in linears[:-1]:
        x = torch.nn.functional.elu(x @ lin.weight.T + lin.bias)
    expected = 2.0 * torch.tanh(x @ linears[-1].weight.T + linears[-1].bias)[:, 0]
    with torch.no_grad():
        torch.testing.assert_close(policy(obs), expected)


@pytest.mark.parametrize("env_id,bound", [(PENDULUM, 2.0), (CARTPOLE, 1.0)])
def test_policy_output_within_the_action_bounds(env_id: str, bound: float) -> None:
    trainer = SHACTrainer(env_id, SMALL, seed=0)
    with torch.no_grad():
        for p in trainer.policy.parameters():
            p.mul_(100.0)
    obs = torch.randn(1000, trainer.task.obs_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        u = trainer.policy(obs * 10)
    assert u.shape == (1000,)
    assert float(u.abs().max()) <= bound
    assert float(u.abs().max()) > 0.99 * bound


def _fd_check(trainer: SHACTrainer, start: torch.Tensor, coords: int = 6) -> None:
    """Autograd gradient of the actor loss vs central finite differences (float64)."""
    params = list(trainer.policy.parameters())
    loss, _, _ = trainer.actor_loss(start)
    grads = torch.autograd.grad(loss, params)
    gen = torch.Generator().manual_seed(0)
    eps = 1e-6
    for p, g in zip(params, grads):
        flat, gflat = p.data.view(-1), g.reshape(-1)
        for i in torch.randperm(flat.numel(), generator=gen)[:coords].tolist():
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + eps
                up = float(trainer.actor_loss(start)[0])
                flat[i] = old - eps
                down = float(trainer.actor_loss(start)[0])
                flat[i] = old
            fd = (up - down) / (2 * eps)
            assert abs(fd - float(gflat[i])) <= 1e-6 + 1e-5 * abs(fd), (p.shape, i)


def test_window_gradient_matches_finite_differences_pendulum() -> None:
    config = replace(SMALL, dtype="float64", use_critic=True, saturation_threshold=0.1)
    trainer = SHACTrainer(PENDULUM, config, seed=0)
    with torch.no_grad():  # larger outputs, so that the saturation penalty acts
        trainer.policy.net[-1].weight.mul_(30.0)
    start = trainer.task.sample_initial(8, torch.Generator().manual_seed(2), torch.float64)
    _fd_check(trainer, start)


def _terminating_start(trainer: SHACTrainer) -> torch.Tensor:
    """Four CartPole starts: element 0 falls within two steps, the others stay up."""
    start = trainer.task.sample_initial(4, torch.Generator().manual_seed(3), torch.float64)
    start[0] = torch.tensor([0.0, 0.0, 0.2, 2.0], dtype=torch.float64)
    return start


def test_window_gradient_matches_finite_differences_with_a_termination() -> None:
    config = replace(SMALL, num_envs=4, dtype="float64", use_critic=True)
    trainer = SHACTrainer(CARTPOLE, config, seed=0)
    start = _terminating_start(trainer)
    _, out, rewards = trainer.actor_loss(start)
    assert bool(out.terminated[:2, 0].any()) and not bool(out.terminated[:, 1:].any())
    assert float(rewards[-1, 0].detach()) == 0.0  # nothing after the termination
    _fd_check(trainer, start)


def test_terminated_element_gets_no_bootstrap_value() -> None:
    """An element whose episode ended in the window has value zero: its loss is the same
    with and without the critic's bootstrap term."""
    config = replace(SMALL, num_envs=1, dtype="float64", saturation_weight=0.0)
    with_critic = SHACTrainer(CARTPOLE, replace(config, use_critic=True), seed=0)
    without = SHACTrainer(CARTPOLE, config, seed=0)
    with torch.no_grad():  # a critic far from zero, so that a bootstrap would show
        with_critic.target_critic.net[-1].bias.fill_(100.0)
    start = _terminating_start(with_critic)[:1]

    def loss(trainer: SHACTrainer, start: torch.Tensor) -> float:
        return float(trainer.actor_loss(start)[0].detach())

    assert loss(with_critic, start) == pytest.approx(loss(without, start), abs=1e-12)
    upright = torch.zeros(1, 4, dtype=torch.float64)  # does not terminate in 6 steps
    assert loss(with_critic, upright) < loss(without, upright) - 1


def test_terminated_element_restarts_from_the_reset_distribution() -> None:
    config = replace(SMALL, num_envs=4, use_critic=True, fresh_starts=False)
    trainer = SHACTrainer(CARTPOLE, config, seed=0)
    trainer.state = _terminating_start(trainer).float()
    trainer.episode_step = torch.tensor([7, 7, 7, 7])
    metrics = trainer.update()
    assert metrics["episodes_ended"] == 1.0
    assert trainer.episode_step.tolist() == [0, 13, 13, 13]
    assert float(trainer.state[0].abs().max()) <= 0.05  # Gymnasium's reset: U(-0.05, 0.05)


def test_time_limit_restarts_at_window_boundaries() -> None:
    config = replace(SMALL, fresh_starts=False, stagger_episodes=False, episode_length=10)
    trainer = SHACTrainer(PENDULUM, config, seed=0)
    trainer.update()
    assert trainer.episode_step.tolist() == [6] * 8
    metrics = trainer.update()  # 12 steps >= 10: every episode restarts
    assert metrics["episodes_ended"] == 8.0
    assert trainer.episode_step.tolist() == [0] * 8


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("env_id", [PENDULUM, PENDULUM_2019, CARTPOLE])
def test_state_dict_round_trip_resumes_identically(name: str, env_id: str) -> None:
    config = replace(VARIANTS[name], action_noise=0.1)
    original = SHACTrainer(env_id, config, seed=3)
    original.update()
    saved = original.state_dict()
    expected = [original.update() for _ in range(2)]

    resumed = SHACTrainer(env_id, config, seed=99)  # different seed: everything comes from d
    resumed.load_state_dict(saved)
    got = [resumed.update() for _ in range(2)]
    assert got == expected
    for a, b in zip(original.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(original.target_critic.parameters(), resumed.target_critic.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(original.state, resumed.state)
    assert torch.equal(original.episode_step, resumed.episode_step)


def test_state_dict_of_another_task_is_refused() -> None:
    saved = SHACTrainer(PENDULUM, SMALL).state_dict()
    with pytest.raises(ValueError, match="CartPoleContinuous"):
        SHACTrainer(CARTPOLE, SMALL).load_state_dict(saved)


def test_max_transitions_is_exceeded_by_less_than_one_window() -> None:
    trainer = SHACTrainer(PENDULUM, SMALL, seed=0)
    window = SMALL.num_envs * SMALL.horizon
    for left in (1, window - 1, window, 10 * window):
        consumed = trainer.update(max_transitions=left)["transitions"]
        assert consumed < left + window
    for bad in (0, -5):
        with pytest.raises(ValueError, match="max_transitions"):
            trainer.update(max_transitions=bad)


def test_same_seed_same_result_and_no_global_rng() -> None:
    config = replace(SMALL, action_noise=0.2, use_critic=True)
    a = SHACTrainer(CARTPOLE, config, seed=5)
    torch.manual_seed(0)
    ma = a.update()
    b = SHACTrainer(CARTPOLE, config, seed=5)
    torch.manual_seed(123)
    mb = b.update()
    assert ma == mb
    assert SHACTrainer(CARTPOLE, config, seed=6).update() != ma


def test_planted_nan_raises_and_does_not_step() -> None:
    trainer = SHACTrainer(PENDULUM, SMALL, seed=0)
    with torch.no_grad():
        trainer.policy.net[0].weight[0, 0] = float("nan")
    before = [p.clone() for p in trainer.policy.parameters()]
    with pytest.raises(FloatingPointError, match="not finite"):
        trainer.update()
    for a, b in zip(before, trainer.policy.parameters()):
        assert torch.allclose(a, b, equal_nan=True)


def test_planted_nan_in_state_raises() -> None:
    trainer = SHACTrainer(PENDULUM, replace(SMALL, fresh_starts=False), seed=0)
    trainer.state[0, 1] = float("nan")
    with pytest.raises(FloatingPointError):
        trainer.update()


def test_bad_start_options_are_refused() -> None:
    with pytest.raises(ValueError, match="start_options"):
        SHACTrainer(CARTPOLE, replace(SMALL, start_options={"max_speed": 4.0}))


def test_agent_and_save(tmp_path) -> None:
    from diffsim.controllers.checkpoint import load_policy

    trainer = SHACTrainer(PENDULUM, SMALL, seed=0)
    obs = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -3.0]], dtype=np.float32)
    actions = trainer.agent().act(obs)
    assert actions.shape == (2, 1) and actions.dtype == np.float32
    trainer.save(tmp_path / "policy.pt")
    loaded = load_policy(tmp_path)
    np.testing.assert_array_equal(loaded.act(obs), actions)


def test_deprecated_names_warn_or_explain() -> None:
    with pytest.warns(DeprecationWarning, match="shac_tasks"):
        assert "pendulum" in shac.TASKS
    with pytest.raises(AttributeError, match="ControlPolicy"):
        shac.Actor  # noqa: B018

    class Zero(torch.nn.Module):
        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return torch.zeros(obs.shape[0], 1)

    init = torch.tensor([[0.0, 0.0], [math.pi, 0.0]], dtype=torch.float64)
    with pytest.warns(DeprecationWarning, match="evaluate"):
        ret = shac.evaluate_batched(Zero(), init, steps=10)
    assert ret[0].item() == pytest.approx(0.0)
    assert ret[1].item() == pytest.approx(-10 * math.pi**2, rel=1e-6)


def test_short_training_improves_cartpole_continuous() -> None:
    torch.set_num_threads(1)
    trainer = SHACTrainer(CARTPOLE, seed=0)
    before = evaluate(trainer.agent(), CARTPOLE, 10).mean
    while trainer.transitions < 16_384:
        trainer.update()
    after = evaluate(trainer.agent(), CARTPOLE, 10).mean
    assert before < 100 and after > 200


def test_research_script_tiny_run(tmp_path) -> None:
    import json

    from diffsim.scripts import research_pendulum

    out = tmp_path / "r.json"
    argv = ["--seeds", "1", "--budget-transitions", "2048", "--eval-every", "2048"]
    research_pendulum.main([*argv, "--set", "num_envs=8", "--out", str(out)])
    written = json.loads(out.read_text())
    assert written["task"] == "pendulum" and written["config"]["num_envs"] == 8
    (run,) = written["runs"]
    assert run["curve"][-1]["transitions"] >= 2048
    assert math.isfinite(run["final_return_gymnasium"])
    with pytest.raises(SystemExit):
        research_pendulum.main(["--task", "cartpole", "--out", str(out)])


def _solve(env_id: str, seed: int = 0, every: int = 8192) -> float:
    torch.set_num_threads(1)
    trainer = SHACTrainer(env_id, seed=seed)
    budget, solved = shac.default_budget(env_id), trainer.task.solved_return
    best, next_eval = -math.inf, every
    while trainer.transitions < budget and best < solved:
        trainer.update()
        if trainer.transitions >= next_eval:
            next_eval += every
            best = max(best, evaluate(trainer.agent(), env_id, 100).mean)
    return best


@pytest.mark.slow
@pytest.mark.parametrize("env_id", [PENDULUM, CARTPOLE])
def test_default_config_solves_within_the_default_budget(env_id: str) -> None:
    from diffsim.envs.rollout import get_task

    assert _solve(env_id) >= get_task(env_id).solved_return
