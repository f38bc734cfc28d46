"""Controllers: estimators, BPTT trainer, run directories, resume, errors, CLI."""

import io
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from diffsim.controllers import (
    CheckpointError,
    NonFiniteTrainingError,
    evaluate,
    get_estimator,
    load_policy,
    read_metrics,
    train,
)
from diffsim.controllers.bptt import BPTTConfig, BPTTTrainer, default_config
from diffsim.scripts.main import main

TINY = dict(budget=600, eval_every=300, eval_episodes=5, progress=False)


# -- estimators ----------------------------------------------------------------------------
def test_st_sign_forward_is_pm_one_and_backward_is_identity():
    u = torch.tensor([-2.0, -1e-3, 0.0, 0.4, 3.0], requires_grad=True)
    a = get_estimator("st_sign")(u)
    assert a.tolist() == [-1, -1, 1, 1, 1]
    a.backward(torch.arange(5.0))
    assert u.grad.tolist() == [0, 1, 2, 3, 4]


def test_expected_estimator_is_the_mean_action_with_its_true_gradient():
    u = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    a = get_estimator("expected")(u)
    torch.testing.assert_close(a, 2 * torch.sigmoid(u.detach()) - 1)
    a.sum().backward()
    torch.testing.assert_close(u.grad, 0.5 * (1 - torch.tanh(u.detach() / 2) ** 2))


def test_st_gumbel_samples_bernoulli_sigmoid_and_passes_the_soft_gradient():
    g = torch.Generator().manual_seed(0)
    u = torch.full((20_000,), 0.8, requires_grad=True)
    est = get_estimator("st_gumbel", temperature=0.5)
    a = est(u, g)
    assert set(a.unique().tolist()) == {-1.0, 1.0}
    p_right = (a > 0).float().mean().item()
    assert p_right == pytest.approx(torch.sigmoid(torch.tensor(0.8)).item(), abs=0.015)
    a.sum().backward()
    # d/du [2σ((u + L)/τ) − 1] = 2σ'(·)/τ, in (0, 1/(2τ)]
    assert (u.grad >= 0).all() and u.grad.mean() > 0.1 and u.grad.max() <= 1 / (2 * 0.5) + 1e-6


@pytest.mark.parametrize("name", ["st_sign", "st_gumbel", "expected"])
def test_deterministic_action_is_the_greedy_sign(name):
    u = torch.tensor([-0.3, 0.0, 0.2])
    assert get_estimator(name)(u, deterministic=True).tolist() == [-1, 1, 1]


def test_unknown_estimator_lists_the_valid_ones():
    with pytest.raises(ValueError, match="expected, st_gumbel, st_sign"):
        get_estimator("reinforce")


# -- training, run directories, evaluation -------------------------------------------------
@pytest.mark.parametrize("env", ["cartpole", "cartpole-continuous", "pendulum", "pendulum-2019"])
def test_tiny_train_writes_a_loadable_run(tmp_path, env):
    config = {"horizon": 20, "batch_size": 4} if "pendulum" in env else None  # BPTT's fields
    result = train(env, method="bptt", seed=0, out=tmp_path / "run", config=config, **TINY)
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"policy.pt", "config.json", "metrics.csv", "checkpoint.pt"} <= files
    rows = read_metrics(tmp_path / "run")
    assert rows[0]["transitions"] == 0
    assert {
        "transitions",
        "train_seconds",
        "eval_return_mean",
        "eval_return_std",
        "eval_seconds",
        "loss",
        "grad_norm",
        "param_norm",
    } <= set(rows[-1])
    assert rows[-1]["transitions"] >= 300
    agent = load_policy(tmp_path / "run")
    obs, _ = gym.make(agent.env_id).reset(seed=0)
    action = agent.act(obs)
    space = gym.make(agent.env_id).action_space
    if agent.env_id == "diffsim/Pendulum2019-v1":
        # The 2019 pendulum never clips the torque and its tuned policy is unbounded: the
        # action has the space's shape and dtype, not necessarily its bounds.
        assert action.shape == space.shape and action.dtype == space.dtype
        assert np.isfinite(action).all()
    else:
        assert space.contains(action)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["env_id"] == agent.env_id
    # metrics.csv holds every row of the result, under the union of their keys, read back as
    # floats; a key a row lacks (the first evaluation has no loss) is an empty cell, NaN.
    columns = set().union(*result.metrics)
    assert all(set(row) == columns for row in rows)
    expected = [
        {k: math.nan if row.get(k) is None else float(row[k]) for k in columns}
        for row in result.metrics
    ]
    np.testing.assert_equal(rows, expected)


def test_resume_equals_an_uninterrupted_run(tmp_path):
    kw = dict(budget=4000, eval_every=1000, eval_episodes=5, progress=False, stop_when_solved=False)
    full = train("cartpole", seed=3, out=tmp_path / "full", **kw)
    train("cartpole", seed=3, out=tmp_path / "part", max_updates=2, **kw)  # "interrupted"
    resumed = train("cartpole", seed=3, out=tmp_path / "part", **kw)
    a = torch.load(tmp_path / "full" / "policy.pt", weights_only=True)["payload"]["state_dict"]
    b = torch.load(tmp_path / "part" / "policy.pt", weights_only=True)["payload"]["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["eval_return_mean"] for r in full.metrics] == [
        r["eval_return_mean"] for r in resumed.metrics
    ]
    assert [r["transitions"] for r in full.metrics] == [r["transitions"] for r in resumed.metrics]


def test_mismatched_resume_and_corrupt_checkpoints_are_clear_errors(tmp_path):
    run = tmp_path / "run"
    train("cartpole", seed=0, out=run, **TINY)
    with pytest.raises(CheckpointError, match="another configuration.*seed"):
        train("cartpole", seed=1, out=run, **TINY)
    (run / "policy.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(run)
    torch.save({"format": "something-else"}, run / "policy.pt")
    with pytest.raises(CheckpointError, match="not a diffsim policy"):
        load_policy(run)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_policy(tmp_path / "missing")
    (run / "checkpoint.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="cannot be resumed"):
        train("cartpole", seed=0, out=run, **TINY)


def test_unknown_options_are_rejected_with_the_valid_names(tmp_path):
    with pytest.raises(ValueError, match="expected one of:.*horizon"):
        train("cartpole", out=tmp_path / "r", config={"horizn": 5}, **TINY)
    with pytest.raises(ValueError, match="method"):
        train("cartpole", method="magic", out=tmp_path / "r", **TINY)
    with pytest.raises(ValueError, match="environment"):
        train("cartpol", out=tmp_path / "r", **TINY)


def test_planted_non_finite_value_is_caught_and_located():
    trainer = BPTTTrainer("pendulum", default_config("pendulum"), seed=0)
    trainer.config.horizon = 30
    before = [p.detach().clone() for p in trainer.policy.parameters()]
    # Plant a NaN: the policy's torque at rollout step 11 (its 12th call) is NaN.
    calls = {"n": 0}
    original = trainer.policy.forward

    def planted(obs, generator=None):
        calls["n"] += 1
        out = original(obs, generator)
        return out * float("nan") if calls["n"] % 30 == 12 else out

    trainer.policy.forward = planted
    with pytest.raises(NonFiniteTrainingError, match=r"rollout step 11.*not finite"):
        trainer.update()
    after = list(trainer.policy.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after))  # parameters untouched


def test_evaluate_is_deterministic_and_works_on_gymnasiums_own_env(tmp_path):
    train("cartpole", seed=0, out=tmp_path / "run", **TINY)
    agent = load_policy(tmp_path / "run")
    a = evaluate(agent, "CartPole-v1", episodes=7)
    b = evaluate(agent, "CartPole-v1", episodes=7)
    assert np.array_equal(a.returns, b.returns) and len(a.returns) == 7


# -- command line --------------------------------------------------------------------------
def test_cli_train_eval_and_plot(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "cartpole",
                "--out",
                str(run),
                "--budget",
                "600",
                "--eval-every",
                "300",
                "--eval-episodes",
                "5",
                "--quiet",
            ]
        )
        == 0
    )
    assert "wrote" in capsys.readouterr().out
    assert main(["eval", str(run), "--episodes", "5", "--env", "CartPole-v1"]) == 0
    assert "CartPole-v1: mean return" in capsys.readouterr().out
    assert main(["eval", str(run), "--env", "Pendulum-v1"]) == 2
    assert "observation_space" in capsys.readouterr().err
    assert (
        main(
            [
                "plot",
                "trajectory",
                str(run),
                "--steps",
                "50",
                "--out",
                str(tmp_path / "t.png"),
                "--dpi",
                "40",
            ]
        )
        == 0
    )
    assert (tmp_path / "t.png").stat().st_size > 1000
    assert main(["train", "cartpole", "--set", "horizn=3", "--out", str(tmp_path / "x")]) == 2
    assert "horizon" in capsys.readouterr().err


def test_show_config_prints_the_tuned_defaults(capsys):
    assert main(["train", "cartpole", "--show-config"]) == 0
    out = capsys.readouterr().out
    assert "loss = 'balance'" in out and "batch_size = 3" in out


def test_bptt_updates_stop_at_the_evaluation_points(tmp_path):
    # Rollouts of up to 70 steps (fewer when the pole falls) do not add up to 100; the
    # limit passed to update() makes every evaluation fall exactly on a multiple of 100.
    result = train(
        "cartpole",
        seed=0,
        out=tmp_path / "run",
        config={"horizon": 70},
        budget=300,
        eval_every=100,
        stop_when_solved=False,
        progress=False,
    )
    assert [row["transitions"] for row in result.metrics] == [0, 100, 200, 300]


@pytest.mark.slow
def test_bptt_solves_cartpole_on_gymnasiums_own_env(tmp_path):
    result = train("cartpole", seed=1, out=tmp_path / "run", progress=False)
    assert result.solved_at is not None
    agent = load_policy(tmp_path / "run")
    assert evaluate(agent, "CartPole-v1").mean >= 475


def test_compare_writes_results_table_and_plot_and_resumes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # any default path lands here, not in the repository
    out = tmp_path / "cmp"
    args = [
        "compare",
        "cartpole",
        "--methods",
        "bptt",
        "--seeds",
        "2",
        "--out",
        str(out),
        "--budget",
        "600",
        "--eval-every",
        "300",
        "--eval-episodes",
        "5",
        "--quiet",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "transitions to solve" in text and "bptt" in text
    from diffsim.controllers.compare import load_result

    result = load_result(out)
    assert result["summary"]["bptt"]["seeds"] == 2 and len(result["cells"]) == 2
    assert result["machine"]["torch"] == torch.__version__
    assert all(c["curve"]["transitions"][0] == 0 for c in result["cells"])
    from matplotlib.image import imread

    img = imread(out / "curves.png")
    assert img.shape[1] > 600 and np.std(img[..., :3]) > 0.05
    stamp = (out / "runs" / "CartPole-v1__bptt__0" / "checkpoint.pt").stat().st_mtime_ns
    assert main(args) == 0  # resumed: finished cells are read back, not retrained
    assert (out / "runs" / "CartPole-v1__bptt__0" / "checkpoint.pt").stat().st_mtime_ns == stamp
    assert main(["compare", "cartpole", "--methods", "bptt,nope", "--out", str(out)]) == 2
    from diffsim.scripts import report

    assert report.main(["--results", str(tmp_path), "--out", str(tmp_path / "r.md")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp", "r.md"]
    page = (tmp_path / "r.md").read_text()
    assert "| bptt | " in page and "curves.png" in page and "diffsim/CartPole-v1" in page


def test_tiny_trebuchet_train_eval_through_the_generic_loop(tmp_path):
    run = tmp_path / "treb"
    train(
        "trebuchet",
        seed=0,
        out=run,
        budget=64,
        eval_every=32,
        eval_episodes=8,
        progress=False,
        config={"batch_size": 32, "updates": 2},
    )
    rows = read_metrics(run)
    assert rows[-1]["transitions"] == 64 and rows[-1]["eval_return_mean"] <= 0
    agent = load_policy(run)
    env = gym.make("diffsim/Trebuchet-v0")
    obs, _ = env.reset(seed=0)
    assert env.action_space.contains(agent.act(obs))


def test_linear_head_is_unbounded():
    from diffsim.controllers import ControlPolicy, PolicySpec

    policy = ControlPolicy(
        PolicySpec(obs_size=3, kind="linear", head="linear", action_scale=2.0, bias=False)
    )
    with torch.no_grad():
        policy.net[0].weight.fill_(1.0)
    obs = torch.tensor([[1.0, 2.0, 3.0]])
    # 2 · (1 + 2 + 3) = 12 N·m: far beyond the ±2 a tanh head would allow.
    assert policy(obs).item() == 12.0 and policy.deterministic(obs).item() == 12.0


def test_action_offset_maps_each_head_onto_an_asymmetric_range():
    from diffsim.controllers import ControlPolicy, PolicySpec
    from diffsim.controllers.policies import head_settings

    # [0, 4]: scale (4 − 0)/2 = 2, offset (4 + 0)/2 = 2.
    assert head_settings(False, 0.0, 4.0) == {
        "head": "tanh",
        "action_scale": 2.0,
        "action_offset": 2.0,
    }
    assert head_settings(True, -1.0, 1.0) == {"head": "binary", "action_scale": 1.0}
    with pytest.raises(ValueError, match="low < high"):
        head_settings(False, 1.0, float("inf"))
    u = torch.tensor([-50.0, 0.0, 50.0])
    tanh = ControlPolicy(PolicySpec(obs_size=1, action_scale=2.0, action_offset=2.0))
    torch.testing.assert_close(tanh.head(u), torch.tensor([0.0, 2.0, 4.0]))
    binary = ControlPolicy(
        PolicySpec(obs_size=1, head="binary", action_scale=1.0, action_offset=1.0)
    )
    torch.testing.assert_close(binary.head(u, deterministic=True), torch.tensor([0.0, 2.0, 2.0]))
    # CartPole's binary head (scale 1, no offset) still pushes ±1.
    plain = ControlPolicy(PolicySpec(obs_size=1, head="binary"))
    torch.testing.assert_close(plain.head(u, deterministic=True), torch.tensor([-1.0, 1.0, 1.0]))


def test_tuned_bptt_configs_are_kept_and_other_tasks_derive_theirs():
    from diffsim.controllers import bptt

    for env_id, tuned in bptt.TUNED.items():
        assert bptt.default_config(env_id) == bptt.BPTTConfig(**tuned)
        assert bptt.default_budget(env_id) == bptt.DEFAULT_BUDGETS[env_id]
    # What CartPole's tuned entry would be derived as, from its description alone.
    derived = bptt.derived_config("cartpole")
    assert derived == {
        "horizon": 500,
        "loss": "balance",
        "policy": {"head": "binary", "action_scale": 1.0},
    }
    assert bptt.derived_config("pendulum")["loss"] == "return"
    assert bptt.derived_config("pendulum")["policy"] == {"head": "tanh", "action_scale": 2.0}


def test_balance_loss_is_cartpoles_training_loss():
    from diffsim import cartpole
    from diffsim.controllers import bptt

    trainer = bptt.BPTTTrainer("cartpole", bptt.default_config("cartpole"), seed=0)
    s0 = cartpole.sample_initial(3, generator=torch.Generator().manual_seed(0))
    out = trainer._rollout(s0, trainer.generator.get_state(), 40)
    x, theta = out.states[1:, :, 0], out.states[1:, :, 2]
    # Σ_t alive_t · ((x_t / 2.4)² + (θ_t / (12·2π/360))²), averaged over the batch.
    cost = (x / 2.4) ** 2 + (theta / (12 * 2 * math.pi / 360)) ** 2
    torch.testing.assert_close(trainer._loss(out), (cost * out.alive).sum(0).mean())


def test_detached_observations_give_each_action_its_own_gradient():
    """BPTT with ``detach_observations``: the weights' gradient equals that of an open-loop
    replay of the same actions (the loss's gradient with respect to each action, through the
    dynamics after it, termination included) contracted with each action's gradient with
    respect to the weights at its recorded observation; the full BPTT gradient differs."""
    from diffsim import mountain_car as mc
    from diffsim.envs import rollout

    config = {**default_config("mountaincar").to_dict(), "dtype": "float64"}
    trainer = BPTTTrainer("mountaincar", BPTTConfig(**config), seed=0)
    assert trainer.config.detach_observations
    params = list(trainer.policy.parameters())
    # two starts in the valley and two near the flag, which end inside the 40 steps
    s0 = mc.pack(
        torch.tensor([-0.5, -0.45, 0.3, 0.38], dtype=torch.float64),
        torch.tensor([0.0, 0.0, 0.035, 0.03], dtype=torch.float64),
    )
    out = trainer._rollout(s0, trainer.generator.get_state(), 40)
    assert bool(out.terminated[:, 2:].any(0).all()) and not bool(out.terminated[:, :2].any())
    detached = torch.autograd.grad(trainer._loss(out), params)

    actions = out.actions.detach().clone().requires_grad_()
    steps = iter(range(40))
    replay = rollout(
        lambda obs: actions[next(steps)],
        "mountaincar",
        s0,
        40,
        on_terminate="mask",
    )
    loss = mc.time_loss(replay.states, replay.alive).mean()
    (per_action,) = torch.autograd.grad(loss, actions)
    scores = trainer.policy(out.observations.detach().reshape(-1, 2)).reshape(actions.shape)
    by_hand = torch.autograd.grad((scores * per_action).sum(), params)
    for a, b in zip(detached, by_hand):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)

    full = BPTTTrainer("mountaincar", BPTTConfig(**{**config, "detach_observations": False}), 0)
    full.policy.load_state_dict(trainer.policy.state_dict())
    out_full = full._rollout(s0, full.generator.get_state(), 40)
    torch.testing.assert_close(out_full.states, out.states)  # the same trajectory ...
    grads = torch.autograd.grad(full._loss(out_full), list(full.policy.parameters()))
    assert max(float((a - b).abs().max()) for a, b in zip(grads, detached)) > 1e-3  # ... not


def test_lr_half_life_halves_the_rate_and_survives_a_resume():
    config = {**default_config("cartpole").to_dict(), "lr_half_life": 2, "optimizer": "adam"}
    trainer = BPTTTrainer("cartpole", BPTTConfig(**config), seed=0)
    lr = trainer.config.lr
    for _ in range(3):
        trainer.update()
    # the third step (updates = 2 before it) ran at half the initial rate
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(lr * 0.5)
    saved = io.BytesIO()  # as a checkpoint holds it (an in-memory state shares tensors)
    torch.save(trainer.state_dict(), saved)
    saved.seek(0)
    resumed = BPTTTrainer("cartpole", BPTTConfig(**config), seed=0)
    resumed.load_state_dict(torch.load(saved, weights_only=False))
    assert resumed.updates == 3
    trainer.update()
    resumed.update()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(lr * 0.5**1.5)
    for a, b in zip(trainer.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="lr_half_life must be a positive number"):
        BPTTConfig(**{**config, "lr_half_life": 0})


def test_whole_rollouts_are_never_cut_at_an_evaluation(tmp_path):
    base = {**default_config("pendulum-2019").to_dict(), "horizon": 40, "batch_size": 4}
    cut = BPTTTrainer("pendulum-2019", BPTTConfig(**base), seed=0)
    whole = BPTTTrainer("pendulum-2019", BPTTConfig(**{**base, "whole_rollouts": True}), seed=0)
    assert cut.update(max_transitions=60)["transitions"] == 60  # 15 steps of 4 starts
    assert whole.update(max_transitions=60)["transitions"] == 160
    # In the training loop: evaluations fall at the first update boundary past the schedule.
    config = {**base, "whole_rollouts": True}
    result = train(
        "pendulum-2019", method="bptt", config=config, budget=400, eval_every=100,
        eval_episodes=2, out=tmp_path / "run", progress=False, stop_when_solved=False,
    )  # fmt: skip
    assert [row["transitions"] for row in result.metrics] == [0, 160, 320, 480]


def test_tuned_settings_are_the_registrys_and_bad_ones_are_refused():
    from diffsim import systems
    from diffsim.controllers import shac

    for env_id, spec in systems.task_specs().items():
        if "bptt" in spec.tuned:
            assert default_config(env_id).to_dict() == BPTTConfig(**spec.tuned["bptt"]).to_dict()
        assert (env_id in shac.TUNED) == ("shac" in spec.tuned)
    with pytest.raises(ValueError, match=r"budgets\['bptt'\] must be a positive int"):
        systems.TaskSpec("x/X-v0", "cartpole", "x", budgets={"bptt": 0})
    with pytest.raises(ValueError, match=r"tuned\['bptt'\] must be a mapping"):
        systems.TaskSpec("x/X-v0", "cartpole", "x", tuned={"bptt": [("lr", 1.0)]})
