"""The aiming network's retrofit on its miss fraction (diffsim.controllers.aiming_retrofit)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

pytest.importorskip("nevergrad")

from diffsim.controllers import load_policy  # noqa: E402
from diffsim.controllers.aiming import AimingConfig, AimingTrainer  # noqa: E402
from diffsim.controllers.aiming_retrofit import (  # noqa: E402
    AimingRetrofitConfig,
    AimingRetrofitTrainer,
    miss_statistics,
)
from diffsim.controllers.checkpoint import CheckpointError  # noqa: E402
from diffsim.scripts.main import main  # noqa: E402
from diffsim.trebuchet import shoot  # noqa: E402

SMALL = dict(
    pairs=300,
    test_pairs=300,
    val_pairs=300,
    popsize=8,
    sigma=0.01,
    threshold=0.01,
    evaluations=80,
    reach_check=False,
)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A small aiming network, trained a little (its misses leave room to retrofit)."""
    path = tmp_path_factory.mktemp("aim")
    config = AimingConfig(
        hidden=(8,), batch_size=256, updates=15, reach_filter=False, reach_feature=False
    )
    trainer = AimingTrainer(config=config, seed=0)
    for _ in range(config.updates):
        trainer.update()
    trainer.save(path / "policy.pt")
    return path


def _fraction_of(agent, pairs, threshold):
    obs = torch.stack((pairs.wind, pairs.target), -1).float().numpy()
    act = torch.as_tensor(agent.act(obs), dtype=torch.float64)
    # the agent's float32 actions, shot in float64 as the trainer shoots its own
    d = shoot(pairs.wind, act[:, 0], act[:, 1], on_failure="nan")
    return float(miss_statistics(d, pairs.target, threshold)["miss_fraction"])


@pytest.mark.parametrize("parameters", ["last_layer", "output_scale"])
def test_retrofit_lowers_its_criterion_and_saves_what_it_measured(source, tmp_path, parameters):
    config = AimingRetrofitConfig(source=str(source), parameters=parameters, **SMALL)
    trainer = AimingRetrofitTrainer(config=config, seed=0)
    start = trainer.start["train"]["miss_fraction"]
    assert 0 < start < 1
    shots = 0
    for _ in range(4):
        metrics = trainer.update()
        shots += metrics["transitions"]
    # every candidate shot at the retrofit pairs, each improving one at the validation pairs
    n_train, n_val = len(trainer.train_set.wind), len(trainer.val_set.wind)
    assert shots == trainer.shots
    assert (shots - 32 * n_train) % n_val == 0 and shots > 32 * n_train
    assert metrics["miss_fraction"] < start
    assert metrics["median_rel_miss"] <= metrics["median_rel_miss_start"]  # the guard
    # kept because it is better on the validation pairs too, their median not raised
    assert metrics["val_miss_fraction"] < metrics["val_miss_fraction_start"]
    assert metrics["val_median_rel_miss"] <= metrics["val_median_rel_miss_start"]
    # The written policy is the kept candidate: it gives the kept fraction (float32 actions,
    # as the env acts, may move a pair across the threshold: at most one in a hundred).
    trainer.save(tmp_path / "policy.pt")
    agent = load_policy(tmp_path)
    again = _fraction_of(agent, trainer.train_set, config.threshold)
    assert again == pytest.approx(metrics["miss_fraction"], abs=0.01)
    assert again < start


def test_validation_pairs_choose_among_the_candidates_that_improve_on_the_retrofit_pairs(
    source,
):
    config = AimingRetrofitConfig(source=str(source), **SMALL)
    with_val = AimingRetrofitTrainer(config=config, seed=2)
    without = AimingRetrofitTrainer(config=dataclasses.replace(config, val_pairs=0), seed=2)
    assert without.val_set is None and "val_miss_fraction" not in without.update()
    for _ in range(3):
        m = with_val.update()
    for _ in range(2):
        without.update()
    # without validation pairs the kept candidate is the best one on the retrofit pairs
    assert without.best["train"]["miss_fraction"] == without.best_value
    # with them, the optimiser's best on the retrofit pairs may be better than the kept one,
    # never worse; the kept one is the best of the improvers on the validation pairs
    assert with_val.best_value <= m["miss_fraction"]
    assert with_val.kept_value == m["val_miss_fraction"] <= m["val_miss_fraction_start"]
    # the validation set is drawn apart from the other two
    assert not torch.equal(with_val.val_set.wind, with_val.train_set.wind)
    assert not torch.equal(with_val.val_set.wind, with_val.test_set.wind)
    with pytest.raises(ValueError, match="val_pairs must be 0"):
        AimingRetrofitConfig(val_pairs=-1)


def test_the_median_guard_rejects_candidates_that_raise_the_median(source):
    config = AimingRetrofitConfig(source=str(source), **SMALL)
    trainer = AimingRetrofitTrainer(config=config, seed=1)
    stats = dict(trainer.start["train"])
    assert trainer._value(stats) == stats["miss_fraction"]
    stats["median_rel_miss"] *= 1.01
    assert trainer._value(stats) == stats["miss_fraction"] + 1.0
    margined = AimingRetrofitTrainer(config=dataclasses.replace(config, median_margin=0.1), seed=1)
    stats = dict(margined.start["train"])  # the source itself misses a margin of 10 %
    assert margined._value(stats) == stats["miss_fraction"] + 1.0
    unguarded = AimingRetrofitTrainer(
        config=dataclasses.replace(config, median_guard=False), seed=1
    )
    assert unguarded._value(stats) == stats["miss_fraction"]


def test_miss_statistics_counts_failed_shots_as_misses():
    target = torch.tensor([10.0, 20.0, 40.0, 50.0], dtype=torch.float64)
    d = torch.tensor([10.005, 20.05, float("nan"), 50.0], dtype=torch.float64)
    s = miss_statistics(d, target, 1e-3)
    # relative misses 5e-4, 2.5e-3, 1 (failed), 0
    assert float(s["miss_fraction"]) == 0.5
    assert float(s["miss_fraction_0.5%"]) == 0.25
    # torch's median of an even count is the lower middle: 5e-4
    assert float(s["median_rel_miss"]) == pytest.approx(5e-4)


def test_retrofit_through_the_command_line(source, tmp_path, capsys):
    out = tmp_path / "r"
    sets = [x for k, v in SMALL.items() if k != "evaluations" for x in ("--set", f"{k}={v}")]
    rc = main(
        ["train", "trebuchet", "--method", "retrofit", "--from", str(source), *sets]
        + ["--budget", "3000", "--eval-episodes", "4", "--out", str(out), "--quiet"]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "of the retrofit pairs" in printed and "of held-out ones" in printed
    assert json.loads((out / "config.json").read_text())["method"] == "retrofit"
    agent = load_policy(out)
    assert agent.act(np.array([0.0, 50.0], np.float32)).shape == (2,)


def test_bad_sources_and_settings_are_refused_by_name(source, tmp_path):
    with pytest.raises(ValueError, match="--from DIR"):
        AimingRetrofitTrainer(config=AimingRetrofitConfig())
    with pytest.raises(CheckpointError, match="not a directory"):
        AimingRetrofitTrainer(config=AimingRetrofitConfig(source=str(tmp_path / "none")))
    from diffsim.controllers import train

    run = train(
        "cartpole", method="bptt", budget=200, eval_episodes=2, out=tmp_path / "b", progress=False
    )
    with pytest.raises(CheckpointError, match="refines an aiming network"):
        AimingRetrofitTrainer(config=AimingRetrofitConfig(source=str(run.out)))
    with pytest.raises(ValueError, match="threshold is a relative miss"):
        AimingRetrofitConfig(threshold=0.0)
    with pytest.raises(ValueError, match="retrofit parameters"):
        AimingRetrofitConfig(parameters="all")
    with pytest.raises(ValueError, match="sigma"):
        AimingRetrofitConfig(sigma=float("nan"))
    with pytest.raises(ValueError, match="trains the trebuchet"):
        AimingRetrofitTrainer("cartpole", AimingRetrofitConfig(source=str(source)))
