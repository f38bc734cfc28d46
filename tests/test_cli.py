"""The command line: each subcommand runs on a tiny input and writes what it says."""

import json
import sys

import numpy as np
import pytest

from diffsim.scripts.main import main


def _png_pixels(path):
    from matplotlib.image import imread

    return imread(path)


def test_bench_quick_writes_json_and_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnax", None)  # unimportable, whether installed or not
    out = tmp_path / "bench.json"
    rc = main(["bench", "--quick", "--paths", "eager", "--threads", "1", "--out", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert {r["kind"] for r in result["results"]} == {"step", "bptt", "env"}
    steps = [r for r in result["results"] if r["kind"] == "step"]
    from diffsim.envs.registration import ENV_IDS  # the built-in ids
    from diffsim.systems import get_task_spec

    built_in = {get_task_spec(i).system for i in ENV_IDS if get_task_spec(i).generic}
    assert {r["system"] for r in steps} == built_in  # every registered system, by default
    assert all(r["steps_per_s"] > 0 for r in result["results"]) and not result["errors"]
    assert set(result["gymnax"]) == {"available", "note"} and not result["gymnax"]["available"]
    assert result["gymnax"]["note"].startswith("gymnax not measured: ModuleNotFoundError: ")
    assert "torch" in result["machine"] and result["config"]["threads"] == 1
    assert result["command"].startswith("diffsim bench") and "--quick" in result["command"]
    text = capsys.readouterr().out
    assert "vs gym 1" in text and "Gymnasium API envs" in text


def test_bench_systems_are_the_registered_ones(capsys):
    from diffsim.systems import system_names

    assert main(["bench", "--systems", "cartpole,cartpol", "--no-envs"]) == 2
    err = capsys.readouterr().err
    assert "unknown system(s) ['cartpol']" in err
    assert f"expected some of: {', '.join(system_names())}" in err and "pendulum" in err
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "cartpole,pendulum" in capsys.readouterr().out


@pytest.mark.parametrize(
    "env,starts",
    [("cartpole", 3), ("cartpole-continuous", 2), ("pendulum", 2), ("pendulum-2019", 1)],
)
def test_plot_trajectory_writes_nonblank_png(tmp_path, env, starts):
    out = tmp_path / "t.png"
    assert (
        main(
            [
                "plot",
                "trajectory",
                env,
                "--starts",
                str(starts),
                "--steps",
                "60",
                "--policy",
                "random",
                "--out",
                str(out),
                "--dpi",
                "50",
            ]
        )
        == 0
    )
    img = _png_pixels(out)
    assert img.shape[0] > 100 and img.shape[1] > 200
    assert np.std(img[..., :3]) > 0.05  # not a blank canvas


def test_plot_unknown_env_is_a_clear_error(capsys):
    assert main(["plot", "trajectory", "cartpol"]) == 2
    from diffsim.scripts.plot import task_names

    assert f"expected one of: {', '.join(sorted(task_names()))}" in capsys.readouterr().err


def test_train_set_of_the_wrong_type_names_the_option_value_and_type(tmp_path, capsys):
    rc = main(["train", "cartpole", "--set", "lr=abc", "--quiet", "--out", str(tmp_path / "r")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "BPTTConfig.lr must be a float" in err
    assert "'abc'" in err
    assert not (tmp_path / "r").exists()  # refused before anything is written


@pytest.mark.parametrize(
    "env,method", [("cartpole", "bptt"), ("pendulum", "shac"), ("cartpole", "cmaes")]
)
def test_an_unsolved_run_says_so_with_its_best_evaluation(tmp_path, capsys, env, method):
    from diffsim.controllers.checkpoint import read_metrics
    from diffsim.envs.rollout import TASKS, resolve_env_id

    out = tmp_path / "r"
    args = ["train", env, "--method", method, "--budget", "1", "--eval-episodes", "2"]
    assert main([*args, "--quiet", "--out", str(out)]) == 0
    rows = read_metrics(out)
    best = max(rows, key=lambda r: r["eval_return_mean"])
    threshold = TASKS[resolve_env_id(env)].solved_return
    assert best["eval_return_mean"] < threshold  # the premise: one update does not solve
    expected = (
        f"not solved: best eval {best['eval_return_mean']:.1f} at "
        f"{int(best['transitions']):,} transitions (solved means >= {threshold:g})"
    )
    assert expected in capsys.readouterr().out.splitlines()


def test_a_solved_run_says_when_it_solved():
    from pathlib import Path

    from diffsim.controllers.training import TrainResult, outcome

    rows = [
        {"transitions": 0.0, "eval_return_mean": 9.0},
        {"transitions": 3000.0, "eval_return_mean": 500.0},
    ]
    solved = {"transitions": 3000.0, "train_seconds": 1.234, "updates": 2.0}
    result = TrainResult(None, rows, Path("r"), solved, "diffsim/CartPole-v1", 475.0)
    assert outcome(result) == "solved at 3000 transitions, 1.23 s"
    unsolved = TrainResult(None, rows[:1], Path("r"), None, "diffsim/CartPole-v1", 475.0)
    assert outcome(unsolved) == "not solved: best eval 9.0 at 0 transitions (solved means >= 475)"
