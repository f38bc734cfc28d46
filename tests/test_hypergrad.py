"""Hypergradients of BPTT training (diffsim.controllers.hypergrad)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from diffsim.controllers import bptt
from diffsim.controllers.hypergrad import (
    check_hparams,
    hypergradient,
    unrolled_training,
    validation_starts,
    with_hparams,
)


def _config(task, **changes):
    return dataclasses.replace(bptt.default_config(task), dtype="float64", **changes)


@pytest.mark.parametrize(
    "task, changes",
    [
        ("cartpole", dict(start_spread=1.5, horizon=100)),  # normalized_sgd, linear policy
        ("pendulum", dict(start_spread=0.7, horizon=30, lr_half_life=2)),  # adam, clipping
    ],
)
def test_the_unroll_is_the_trainers_training(task, changes):
    cfg = _config(task, **changes)
    trainer = bptt.BPTTTrainer(task, cfg, seed=3)
    for _ in range(3):
        trainer.update()
    val = validation_starts(task, 4, 11)
    out = unrolled_training(task, cfg, {}, 3, 3, val, create_graph=False)
    trained = dict(trainer.policy.named_parameters())
    for name, p in out.params.items():
        torch.testing.assert_close(p.detach(), trained[name].detach(), rtol=1e-12, atol=1e-12)
    assert out.transitions > 0 and len(out.train_losses) == 3


def _fd(task, cfg, name, updates, val, h):
    base = {
        "log_lr": math.log(cfg.lr),
        "start_spread": cfg.start_spread or 1.0,
        "return_weight": cfg.return_weight,
    }
    values = []
    for sign in (1, -1):
        point = dict(base)
        point[name] += sign * h
        if name == "return_weight":  # through the training only: the yardstick stays cfg's
            given = {name: torch.tensor(point[name], dtype=torch.float64)}
            run = unrolled_training(task, cfg, given, updates, 0, val, create_graph=False)
        else:
            run = unrolled_training(
                task, with_hparams(cfg, point), {}, updates, 0, val, create_graph=False
            )
        values.append(float(run.value))
    return (values[0] - values[1]) / (2 * h)


def test_cartpole_hypergradients_agree_with_finite_differences_of_whole_trainings():
    # K = 10 updates of the tuned CartPole BPTT (normalized SGD), rollouts shortened to 60
    # steps to keep the test in seconds; the committed check (bench_hypergrad) uses 500.
    cfg = _config("cartpole", horizon=60)
    val = validation_starts("cartpole", 8, 123)
    value, grads, _ = hypergradient("cartpole", cfg, ["log_lr", "start_spread"], 10, 0, val)
    assert value > 0
    for name in ("log_lr", "start_spread"):
        fd = _fd("cartpole", cfg, name, 10, val, 1e-6)
        assert grads[name] == pytest.approx(fd, rel=1e-3), name
        assert abs(grads[name]) > 1e-3  # a real dependence, not two zeros


def test_pendulum_hypergradients_agree_on_short_rollouts():
    # Adam with clipping; 30-step rollouts (the tuned 200 steps are chaotic: hypertune.md)
    cfg = _config("pendulum", horizon=30, batch_size=4)
    val = validation_starts("pendulum", 4, 7)
    _, grads, _ = hypergradient("pendulum", cfg, ["log_lr", "start_spread"], 3, 0, val)
    for name in ("log_lr", "start_spread"):
        assert grads[name] == pytest.approx(_fd("pendulum", cfg, name, 3, val, 1e-6), rel=1e-3)


def test_the_hypergradient_of_a_loss_weight_agrees_with_finite_differences():
    # MountainCarContinuous trains on loss="shaped": its training loss minus w * return.
    # Normalised SGD: its step follows the direction of the mixed gradient, which w turns
    # (Adam's first steps are nearly the gradient's signs, on which w has little hold).
    # Gymnasium's float32 re-cast of the state is switched off: at float32 precision no
    # finite difference resolves the derivative.
    from diffsim.envs.rollout import get_task

    base_task = get_task("mountaincar-continuous")
    task = dataclasses.replace(base_task, params=base_task.params.replace(float32_rounding=False))
    cfg = _config(
        base_task,
        horizon=40,
        batch_size=4,
        return_weight=20.0,
        optimizer="normalized_sgd",
        lr=0.05,
        grad_clip=None,
        lr_half_life=None,
    )
    val = validation_starts(task, 4, 9)
    value, grads, _ = hypergradient(task, cfg, ["return_weight", "log_lr"], 3, 0, val)
    for name in ("return_weight", "log_lr"):
        fd = _fd(task, cfg, name, 3, val, 1e-4)
        assert grads[name] == pytest.approx(fd, rel=1e-5), name
    assert abs(grads["return_weight"]) > 1e-4  # about 1.3e-3: not two zeros that agree
    # the validation loss weighs the return by the config's w, not by the tuned tensor
    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    out = unrolled_training(task, cfg, {"return_weight": w}, 1, 0, val)
    base = unrolled_training(
        task, dataclasses.replace(cfg, return_weight=0.9), {"return_weight": w}, 1, 0, val
    )
    assert float(out.value.detach()) != float(
        base.value.detach()
    )  # the yardstick's w is the config's
    torch.testing.assert_close(out.params, base.params)  # training used the tensor's


def test_return_weight_is_refused_where_no_loss_reads_it():
    with pytest.raises(ValueError, match="return_weight weighs the return"):
        _config("cartpole", return_weight=2.0)
    with pytest.raises(ValueError, match="finite and non-negative"):
        _config("mountaincar-continuous", return_weight=float("nan"))
    val = validation_starts("cartpole", 2, 0)
    w = torch.tensor(1.0, dtype=torch.float64)
    with pytest.raises(ValueError, match="loss='shaped'"):
        unrolled_training(
            "cartpole", _config("cartpole", horizon=5), {"return_weight": w}, 1, 0, val
        )


def test_the_hypergradient_of_a_spread_follows_the_starts():
    # With a single update from zero weights and normalized SGD, the trained weights are
    # lr times the first gradient's direction: nothing but the starts depends on the spread.
    cfg = _config("cartpole", horizon=60)
    val = validation_starts("cartpole", 4, 5)
    _, grads, _ = hypergradient("cartpole", cfg, ["start_spread"], 1, 0, val)
    fd = _fd("cartpole", cfg, "start_spread", 1, val, 1e-6)
    assert grads["start_spread"] == pytest.approx(fd, rel=1e-4)


def test_start_spread_scales_the_trainers_starts():
    cfg = _config("cartpole", horizon=5)
    base = bptt.BPTTTrainer("cartpole", cfg, seed=1)
    wide = bptt.BPTTTrainer("cartpole", dataclasses.replace(cfg, start_spread=2.0), seed=1)
    draws = []
    for trainer in (base, wide):
        seen = []
        original = trainer._rollout
        trainer._rollout = lambda s0, g, h, seen=seen, f=original: seen.append(s0) or f(s0, g, h)
        trainer.update()
        draws.append(seen[0])
    torch.testing.assert_close(draws[1], 2.0 * draws[0])
    with pytest.raises(ValueError, match="start_spread must be a positive factor"):
        dataclasses.replace(cfg, start_spread=0.0)


def test_bad_hyperparameters_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown hyperparameter 'lr'.*log_lr"):
        check_hparams(["lr"])
    with pytest.raises(ValueError, match="repeated"):
        check_hparams(["log_lr", "log_lr"])
    with pytest.raises(ValueError, match="at least one"):
        check_hparams([])
    val = validation_starts("cartpole", 2, 0)
    cfg = _config("cartpole", horizon=5)
    with pytest.raises(ValueError, match="0-dim tensor"):
        unrolled_training("cartpole", cfg, {"log_lr": 0.1}, 1, 0, val)
    with pytest.raises(ValueError, match="start_spread must be positive"):
        unrolled_training("cartpole", cfg, {"start_spread": torch.tensor(-1.0)}, 1, 0, val)
    with pytest.raises(ValueError, match="fast=False"):
        unrolled_training("cartpole", dataclasses.replace(cfg, fast=True), {}, 1, 0, val)
    with pytest.raises(ValueError, match="objective"):
        unrolled_training("cartpole", cfg, {}, 1, 0, val, objective="reward")


def test_hypertune_through_the_command_line(tmp_path, capsys):
    import json

    from diffsim.scripts.main import main

    out = tmp_path / "ht"
    rc = main(
        ["hypertune", "cartpole", "--method", "bptt", "--hparams", "log_lr,start_spread"]
        + ["--unroll", "2", "--meta-iterations", "2", "--val-starts", "4"]
        + ["--set", "horizon=40", "--out", str(out), "--quiet"]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "hypertune.json").read_text())
    assert (out / "hypertune.png").stat().st_size > 0
    assert len(result["history"]) == 2 and result["training_updates"] == 4
    # the meta step moved both hyperparameters, and the printed line sets what was tuned
    first = result["history"][0]["hparams"]
    assert result["tuned"]["log_lr"] != first["log_lr"]
    assert result["tuned"]["start_spread"] != first["start_spread"]
    lr = math.exp(result["tuned"]["log_lr"])
    assert f"--set horizon=40 --set lr={lr:.6g}" in printed
    with pytest.raises(SystemExit) as exc:
        main(["hypertune", "cartpole", "--hparams", "lr", "--out", str(out)])
    assert exc.value.code == 2
    assert "unknown hyperparameter 'lr'" in capsys.readouterr().err
