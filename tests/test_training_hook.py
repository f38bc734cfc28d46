"""train()'s on_evaluation hook: called with each new evaluation row; True stops training."""

from __future__ import annotations

from diffsim.controllers import training


def _train(out, **kwargs):
    return training.train(
        "cartpole",
        method="bptt",
        out=out,
        budget=2000,
        eval_every=500,
        eval_episodes=2,
        stop_when_solved=False,
        progress=False,
        **kwargs,
    )


def test_on_evaluation_sees_each_row_and_stops_training_when_it_returns_true(tmp_path):
    seen = []

    def hook(row):
        seen.append(row["transitions"])
        return row["transitions"] >= 1000

    stopped = _train(tmp_path / "run", on_evaluation=hook)
    assert seen == [0, 500, 1000]
    assert [r["transitions"] for r in stopped.metrics] == [0, 500, 1000]

    # The directory is an interrupted run's: train() resumes it to the budget, and the hook
    # is called for the new rows only.
    later = []
    resumed = _train(tmp_path / "run", on_evaluation=lambda row: later.append(row["transitions"]))
    assert [r["transitions"] for r in resumed.metrics] == [0, 500, 1000, 1500, 2000]
    assert resumed.metrics[:3] == stopped.metrics
    assert later == [1500]  # the final evaluation (at the budget) ends the run without a call
