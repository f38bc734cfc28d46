"""The sim-to-real loop: evaluation on a changed "real" system, training on refined
parameters, the gap-closure figure, and a tiny run of the whole script."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffsim import pendulum
from diffsim.controllers.evaluate import evaluate
from diffsim.controllers.shac import SHACTrainer
from diffsim.scripts import sim_to_real


class Pump:
    """A fixed policy that depends on the state (so that the constants matter)."""

    def act(self, obs):
        return np.clip(2.0 * obs[:, 2:3] * obs[:, 0:1], -2, 2).astype(np.float32)


def test_evaluation_on_a_changed_system_is_that_system():
    # Gymnasium's env with g set as an attribute and diffsim's made with g in its params
    # play the same episodes; the default g plays others.
    theirs = evaluate(Pump(), "Pendulum-v1", 5, set_attr={"g": 15.0})
    ours = evaluate(Pump(), "diffsim/Pendulum-v1", 5, set_attr={"g": 15.0})
    nominal = evaluate(Pump(), "Pendulum-v1", 5)
    np.testing.assert_array_equal(theirs.returns, ours.returns)
    np.testing.assert_array_equal(nominal.first_obs, theirs.first_obs)  # same starts
    assert not np.array_equal(nominal.returns, theirs.returns)
    with pytest.raises(ValueError, match="has no attribute 'gg'"):
        evaluate(Pump(), "Pendulum-v1", 2, set_attr={"gg": 15.0})


def test_shac_trains_on_the_parameters_it_is_given():
    trainer = SHACTrainer("pendulum", seed=0, params=pendulum.DEFAULT_PARAMS.replace(g=15.0))
    assert trainer.task.params.g == 15.0
    assert SHACTrainer("pendulum", seed=0).task.params.g == 10.0
    with pytest.raises(TypeError, match="params must be PendulumParams"):
        SHACTrainer("pendulum", params={"g": 15.0})


def test_gap_closed():
    assert sim_to_real.gap_closed(-200.0, -800.0, -180.0) == pytest.approx(600 / 620)
    assert sim_to_real.gap_closed(-800.0, -800.0, -180.0) == 0.0
    with pytest.raises(ValueError, match="no gap"):
        sim_to_real.gap_closed(-1.0, -5.0, -5.0)


def test_a_tiny_loop_writes_its_result_and_figure(tmp_path, capsys):
    out = tmp_path / "s2r.json"
    argv = ["--out", str(out), "--sizes", "50,100", "--seeds", "0", "--budget", "1"]
    argv += ["--noise", "0", "--eval-episodes", "3", "--select-every", "1", "--quiet"]
    assert sim_to_real.main(argv) == 0
    r = json.loads(out.read_text())
    assert r["real"] == {"g": 15.0} and r["settings"]["sizes"] == [50, 100]
    (run,) = r["runs"]
    for row in run["refined"]:  # noise-free data: the fit finds the real constants
        assert row["fitted"]["g"] == pytest.approx(15.0, rel=1e-5)
        assert row["fitted"]["m"] == pytest.approx(1.0, rel=1e-5)
        expected = sim_to_real.gap_closed(row["return"], run["nominal"], run["oracle"])
        assert row["gap_closed"] == pytest.approx(expected)
    figure = tmp_path / "sim_to_real" / "return.png"
    assert figure.stat().st_size > 10_000
    figure.unlink()
    assert sim_to_real.main(["--out", str(out), "--plot-only"]) == 0
    assert figure.exists() and "wrote" in capsys.readouterr().out


def test_sizes_outside_what_is_recorded_are_refused():
    for sizes in ([5], [2000]):
        with pytest.raises(ValueError, match="sizes must be between 10 and 1000"):
            sim_to_real.run_loop({"g": 15.0}, sizes, [0], budget=1, noise=0, eval_episodes=2)
    with pytest.raises(ValueError, match="restarts must be at least 1, got 0"):
        sim_to_real.run_loop(
            {"g": 15.0}, [100], [0], budget=1, noise=0, eval_episodes=2, restarts=0
        )


def test_the_docs_python_example_runs(capsys):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "sim_to_real.md").read_text()
    (python,) = re.findall(r"```python\n(.*?)```", text, re.S)
    assert "budget=200_000" in python
    python = python.replace("budget=200_000", "budget=5_000")  # the same calls, shorter
    namespace: dict = {}
    exec(compile(python, "docs/sim_to_real.md python block", "exec"), namespace)
    # Noise-free data of Gymnasium's env with g = 15: the fit finds it (float32 observations).
    assert namespace["fitted"].params == pytest.approx({"g": 15.0, "m": 1.0}, rel=1e-5)
    assert namespace["refined"].policy is not namespace["nominal"].policy
    out = capsys.readouterr().out
    assert "nominal, real system: -" in out and "refined, real system: -" in out
