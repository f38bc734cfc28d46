"""docs/benchmarks.md generation (scripts/report.py) and per-method compare budgets."""

from __future__ import annotations

import argparse
import json

import pytest

from diffsim.controllers.compare import RESULT_FORMAT, RESULT_VERSION, summarize
from diffsim.scripts import report
from diffsim.scripts.compare import parse_budget

MACHINE = {
    "cpu": "test cpu",
    "cores": 2,
    "torch_threads": 1,
    "torch": "x",
    "gymnasium": "y",
    "python": "z",
}


def _cell(method: str, seed: int, solved: float | None, seconds: float, final: float) -> dict:
    return {
        "method": method,
        "seed": seed,
        "run_dir": f"runs/{method}_{seed}",
        "config": {"batch_size": 1},
        "solved_at": None
        if solved is None
        else {
            "transitions": solved,
            "train_seconds": seconds,
            "updates": 4,
            "eval_return_mean": 500,
        },
        "final_return": final,
        "eval_seconds_total": 1.0,
        "curve": {
            "transitions": [0, 1000],
            "train_seconds": [0.0, seconds],
            "updates": [0, 4],
            "eval_return_mean": [10.0, final],
            "eval_return_std": [0.0, 0.0],
        },
    }


def _write(folder, env_id: str, cells: list[dict]) -> None:
    methods = list(dict.fromkeys(c["method"] for c in cells))
    result = {
        "format": RESULT_FORMAT,
        "version": RESULT_VERSION,
        "env_id": env_id,
        "methods": methods,
        "seeds": sorted({c["seed"] for c in cells}),
        "budget": {m: None for m in methods},
        "eval_every": 1000,
        "eval_episodes": 100,
        "solved_return": 475.0,
        "command": f"diffsim compare {env_id}",
        "machine": MACHINE,
        "wall_seconds": 120.0,
        "cells": cells,
    }
    result["summary"] = summarize(result)
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(result))


def test_benchmarks_page_computes_ratios_equivalence_and_claims(tmp_path):
    results = tmp_path / "results"
    # bptt: medians 1000 transitions, 0.5 s. ppo: medians 8000, 3.0 s -> 8.0x and 6.0x.
    _write(
        results / "cartpole",
        "diffsim/CartPole-v1",
        [
            _cell("bptt", 0, 1000, 0.4, 500),
            _cell("bptt", 1, 1000, 0.5, 500),
            _cell("bptt", 2, 2000, 0.9, 480),
            _cell("ppo", 0, 6000, 2.0, 500),
            _cell("ppo", 1, 8000, 3.0, 500),
            _cell("ppo", 2, 12000, 5.0, 500),
            _cell("cmaes", 0, None, 9.0, 100),
        ],
    )
    _write(
        results / "cartpole_gymnasium",
        "CartPole-v1",
        [_cell("ppo", 0, 7000, 2.0, 500), _cell("ppo", 1, 9000, 3.0, 499)],
    )
    page = report.render(results, tmp_path / "benchmarks.md")
    assert "ppo needed 8× more transitions than bptt and trained 6× longer" in page
    assert "| ppo | 3/3 | 8000 [6000, 12000] | 8× | 3.00 [2.00, 5.00] | 6× |" in page
    assert "cmaes solved none of its 1 seeds" in page
    # Equivalence: ppo on both ids, medians 8000 (ours) and 8000 (Gymnasium: 7000, 9000).
    assert "| CartPole-v1 | ppo | 3/3, 8000 [6000, 12000]" in page
    assert "2/2, 8000 [7000, 9000]" in page
    # Seed 0's curves are equal on both ids ([10, 500]); seed 1's differ (500 against 499).
    assert "2/2, 8000 [7000, 9000], 499.5 [499.0, 500.0] | 1/2 |" in page
    # The post's claim: 1000 transitions = 2.0 episodes of 500 steps.
    assert "median of 1000 training transitions, i.e. 2.0 full-length" in page
    assert "All of them together: about 4 minutes here." in page


def test_benchmarks_page_needs_results(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        report.render(tmp_path, tmp_path / "b.md")


def test_per_method_budgets_parse_and_are_checked():
    assert parse_budget("5000") == 5000
    assert parse_budget("bptt=10000,ppo=50000") == {"bptt": 10000, "ppo": 50000}
    with pytest.raises(argparse.ArgumentTypeError, match="METHOD=N"):
        parse_budget("bptt=lots")
    from diffsim.controllers.compare import compare

    with pytest.raises(ValueError, match="'ppo', which is not among"):
        compare("cartpole", ["bptt"], 1, "unused", budget={"ppo": 10})


def test_readme_total_time_is_written_between_its_markers(tmp_path):
    results = tmp_path / "results"
    _write(results / "a", "diffsim/CartPole-v1", [_cell("bptt", 0, 1000, 0.4, 500)])
    _write(results / "b", "diffsim/CartPole-v1", [_cell("ppo", 0, 1000, 0.4, 500)])
    readme = tmp_path / "README.md"
    readme.write_text("before <!-- benchmarks-time -->old<!-- /benchmarks-time --> after\n")
    assert (
        report.main(
            ["--results", str(results), "--out", str(tmp_path / "b.md"), "--readme", str(readme)]
        )
        == 0
    )
    # Two results of 120 s each: 4 minutes.
    assert readme.read_text() == (
        "before <!-- benchmarks-time -->all of them: about 4 minutes here"
        "<!-- /benchmarks-time --> after\n"
    )


MARKED = "before <!-- benchmarks-time -->old<!-- /benchmarks-time --> after\n"


def test_no_readme_is_written_unless_named(tmp_path, monkeypatch):
    # The working directory's README (the repository's, when run from its root) is left alone.
    results = tmp_path / "results"
    _write(results / "a", "diffsim/CartPole-v1", [_cell("bptt", 0, 1000, 0.4, 500)])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text(MARKED)
    assert report.main(["--results", str(results), "--out", str(tmp_path / "b.md")]) == 0
    assert (tmp_path / "README.md").read_text() == MARKED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "b.md", "results"]


@pytest.mark.parametrize(
    "content,problem",
    [
        (None, "cannot be read"),
        ("no markers here\n", "has no <!-- benchmarks-time --> and no <!-- /benchmarks-time -->"),
        ("<!-- benchmarks-time --> only the start\n", "has no <!-- /benchmarks-time --> marker"),
    ],
)
def test_a_named_readme_that_cannot_take_the_time_is_refused_first(
    tmp_path, capsys, content, problem
):
    results = tmp_path / "results"
    _write(results / "a", "diffsim/CartPole-v1", [_cell("bptt", 0, 1000, 0.4, 500)])
    readme = tmp_path / "README.md"
    if content is not None:
        readme.write_text(content)
    args = ["--results", str(results), "--out", str(tmp_path / "b.md"), "--readme", str(readme)]
    with pytest.raises(SystemExit) as exit_info:
        report.main(args)
    assert exit_info.value.code == 2
    assert f"--readme {readme}: {problem}" in capsys.readouterr().err
    assert not (tmp_path / "b.md").exists()  # nothing written
    assert (readme.read_text() if content is not None else None) == content


def test_cross_eval_gives_equal_returns_on_both_envs_from_the_same_starts(tmp_path):
    from diffsim.controllers import train
    from diffsim.scripts.cross_eval import cross_evaluate

    run = tmp_path / "run"
    train("cartpole", seed=0, out=run, budget=300, eval_episodes=2, progress=False)
    (row,) = cross_evaluate([run], episodes=8)["runs"]
    assert row["gymnasium"] == "CartPole-v1" and row["diffsim"] == "diffsim/CartPole-v1"
    # The physics and the resets are Gymnasium's, bit for bit: the same returns.
    assert row["return_gymnasium"] == row["return_diffsim_same_starts"]


def test_evaluation_vectorization_is_checked():
    from diffsim.controllers.evaluate import make_eval_env

    with pytest.raises(ValueError, match="vectorization"):
        make_eval_env("diffsim/CartPole-v1", 2, vectorization="async")


def test_a_table_with_an_optimum_gets_the_gap_column(tmp_path):
    results = tmp_path / "results"
    cells = [_cell("bptt", 0, 1000, 0.4, 450), _cell("bptt", 1, 1000, 0.5, 400)]
    cells += [_cell("ppo", 0, 6000, 2.0, 500), _cell("ppo", 1, 8000, 3.0, 480)]
    _write(results / "cartpole", "diffsim/CartPole-v1", cells)
    grids = [
        {"grid": [10, 8], "eval_return_mean": 480.0},
        {"grid": [20, 16], "eval_return_mean": 500.0},
    ]
    optimum = {"env_id": "diffsim/CartPole-v1", "optimum": 500.0, "episodes": 100,
               "grids": grids, "command": "diffsim optimum cartpole"}  # fmt: skip
    (results / "optimum_cartpole.json").write_text(json.dumps(optimum))
    page = report.render(results, tmp_path / "benchmarks.md")
    # bptt: finals 450 and 400 (median 425): 15 % below 500, from 10 % to 20 %.
    assert "| 425.0 [400.0, 450.0] | 15.0 % [10.0, 20.0] |" in page
    assert "| 490.0 [480.0, 500.0] | 2.0 % [0.0, 4.0] |" in page
    assert "The optimum on these 100 starts: 500.00 (`diffsim optimum cartpole`" in page
    assert "(by grid: 10×8: 480.00, 20×16: 500.00)" in page
    # Another number of evaluation episodes: other starts, so no reference.
    (results / "optimum_cartpole.json").write_text(json.dumps({**optimum, "episodes": 50}))
    assert "gap to optimum" not in report.render(results, tmp_path / "benchmarks.md")
    (results / "optimum_cartpole.json").write_text(json.dumps({"optimum": 1.0}))
    with pytest.raises(ValueError, match="is not a diffsim optimum result"):
        report.render(results, tmp_path / "benchmarks.md")


def test_a_seed_rerun_in_another_comparison_counts_as_an_equal_curve(tmp_path):
    results = tmp_path / "results"
    ours = [_cell("ppo", 0, 6000, 2.0, 500), _cell("ppo", 1, 8000, 3.0, 500)]
    _write(results / "cartpole", "diffsim/CartPole-v1", [_cell("bptt", 0, 1000, 0.4, 500), *ours])
    theirs = [_cell("ppo", 0, 7000, 2.0, 500), _cell("ppo", 1, 9000, 3.0, 499)]
    _write(results / "cartpole_gymnasium", "CartPole-v1", theirs)
    assert "| 1/2 |" in report.render(results, tmp_path / "benchmarks.md")
    # Seed 1 rerun (e.g. on the other comparison's CPU) gives Gymnasium's curve: 2/2.
    _write(results / "cartpole_rerun", "diffsim/CartPole-v1", [_cell("ppo", 1, 9000, 3.0, 499)])
    assert "| 2/2 |" in report.render(results, tmp_path / "benchmarks.md")
