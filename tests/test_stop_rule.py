"""The stop rule: training stops at an evaluation that passes the task's solved return by
its stop margin (TaskSpec.stop_margin_se standard errors of the evaluation's mean)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diffsim import systems
from diffsim.controllers import training
from diffsim.controllers.evaluate import EvalResult


def test_passes_uses_the_standard_error_of_the_mean():
    # 101 episodes with std 10 (no Bessel correction): SE = 10 / sqrt(100) = 1.
    row = {"eval_return_mean": -108.0, "eval_return_std": 10.0}
    assert training.passes(row, 101, -110.0, 2.0)  # -108 - 2·1 = -110 >= -110
    assert not training.passes({**row, "eval_return_mean": -108.5}, 101, -110.0, 2.0)
    assert training.passes({**row, "eval_return_mean": -110.0}, 101, -110.0, 0.0)
    assert not training.passes({**row, "eval_return_mean": -110.5}, 101, -110.0, 0.0)
    assert training.passes(row, 1, -108.0, 2.0)  # one episode: its mean alone


def test_the_new_classic_control_tasks_stop_two_standard_errors_above_the_threshold():
    specs = systems.task_specs()
    margins = {tid: specs[tid].stop_margin_se for tid in specs}
    assert margins["diffsim/Acrobot-v1"] == 2.0
    assert margins["diffsim/MountainCar-v0"] == 2.0
    assert margins["diffsim/MountainCarContinuous-v0"] == 2.0
    assert margins["diffsim/CartPole-v1"] == 0.0
    assert margins["diffsim/Pendulum-v1"] == 0.0


def test_a_negative_or_non_numeric_margin_is_refused():
    for bad in (-1.0, "2", math.nan):
        with pytest.raises(ValueError, match="stop_margin_se must be a number >= 0"):
            systems.TaskSpec("x/Y-v0", "cartpole", "y", stop_margin_se=bad)


def _scripted(monkeypatch, means, std):
    """evaluate() returns episodes with these means (one per call) and this std."""
    calls = iter(means)

    def fake_evaluate(agent, env_id, episodes, *args, **kwargs):
        mean = next(calls)
        half = np.full(episodes // 2, std)
        returns = mean + np.concatenate([half, -half])
        return EvalResult(returns, np.full(episodes, 100), 0.0)

    monkeypatch.setattr(training, "evaluate", fake_evaluate)


def test_training_goes_on_past_a_mean_that_only_scrapes_the_threshold(tmp_path, monkeypatch):
    # MountainCar-v0 (solved -110, margin 2): with std 10 over 100 episodes the standard error
    # is 10/sqrt(99) ≈ 1.005, so -109 passes the threshold but not by 2 SE; -107 does.
    _scripted(monkeypatch, [-200.0, -109.0, -107.0, -100.0, -100.0], std=10.0)
    result = training.train(
        "mountaincar",
        method="bptt",
        out=tmp_path / "run",
        config={"horizon": 20},
        budget=4 * 320,
        eval_every=320,
        eval_episodes=100,
        progress=False,
    )
    assert [r["eval_return_mean"] for r in result.metrics] == [-200.0, -109.0, -107.0]
    assert result.solved_at["eval_return_mean"] == -109.0  # "solved at": the first >= -110
    config = training.read_run_config(tmp_path / "run" / "config.json")
    assert config["stop_margin_se"] == 2.0


def test_a_zero_margin_task_stops_at_the_first_evaluation_reaching_it(tmp_path, monkeypatch):
    _scripted(monkeypatch, [0.0, 476.0, 500.0], std=50.0)
    result = training.train(
        "cartpole",
        method="bptt",
        out=tmp_path / "run",
        budget=3000,
        eval_every=500,
        eval_episodes=10,
        progress=False,
    )
    assert [r["eval_return_mean"] for r in result.metrics] == [0.0, 476.0]
