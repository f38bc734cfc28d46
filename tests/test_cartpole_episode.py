"""The CartPole-in-one-episode measurement: a tiny run and its errors."""

from __future__ import annotations

import json

import pytest

from diffsim.scripts import cartpole_episode


def test_a_tiny_run_judges_the_solving_policy_on_gymnasium(tmp_path, capsys):
    out = tmp_path / "ce.json"
    argv = ["--out", str(out), "--seeds", "0", "--budget", "1000", "--eval-every", "100"]
    assert cartpole_episode.main(argv) == 0
    r = json.loads(out.read_text())
    (row,) = r["runs"]
    assert r["settings"]["eval_every"] == 100 and r["command"].endswith("--eval-every 100")
    assert row["solved_at_transitions"] is not None and row["solved_at_transitions"] <= 1000
    assert row["solved_at_transitions"] % 100 == 0
    # Gymnasium's own env by the protocol plays the starts the run was judged on.
    assert row["return_gymnasium"] == row["return_diffsim"] >= 475.0
    assert r["median_transitions"] == row["solved_at_transitions"]
    assert "judged solved on Gymnasium" in capsys.readouterr().out


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="at least one seed"):
        cartpole_episode.run([], 100, 1000)
    with pytest.raises(ValueError, match="must be positive, got 0, 1000"):
        cartpole_episode.run([0], 0, 1000)
