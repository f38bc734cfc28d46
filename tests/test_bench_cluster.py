"""The pieces of scripts/bench_cluster.py that turn measurements into docs/scaling.md."""

import json

from diffsim.scripts import bench_cluster


def _cell(method, seed, seconds, returns):
    return {
        "method": method,
        "seed": seed,
        "solved_at": None,
        "final_return": returns[-1],
        "eval_seconds_total": 1.0,
        "curve": {
            "transitions": [0, 100],
            "train_seconds": [0.0, seconds],
            "updates": [0, 3],
            "eval_return_mean": returns,
            "eval_return_std": [0.0, 0.0],
        },
    }


def test_lpt_makespan_is_grahams_rule():
    # Graham's example: LPT puts 3,3 on the two workers, then 2,2 and the last 2: 7 (best: 6).
    assert bench_cluster.lpt_makespan([2, 3, 2, 3, 2], 2) == 7
    assert bench_cluster.lpt_makespan([5, 1, 1], 1) == 7
    assert bench_cluster.lpt_makespan([5, 1, 1], 4) == 5


def test_deterministic_figures_ignore_seconds_and_cell_order():
    a = {"cells": [_cell("bptt", 0, 1.0, [9.0, 500.0]), _cell("bptt", 1, 2.0, [9.0, 480.0])]}
    b = {"cells": [_cell("bptt", 1, 7.5, [9.0, 480.0]), _cell("bptt", 0, 3.0, [9.0, 500.0])]}
    assert bench_cluster.deterministic_figures(a) == bench_cluster.deterministic_figures(b)
    c = {"cells": [_cell("bptt", 0, 1.0, [9.0, 499.0]), _cell("bptt", 1, 2.0, [9.0, 480.0])]}
    assert bench_cluster.deterministic_figures(a) != bench_cluster.deterministic_figures(c)


def test_estimates_schedule_the_committed_cells(tmp_path):
    (tmp_path / "cmp").mkdir()
    cells = [_cell("bptt", 0, 3.0, [0.0, 1.0]), _cell("ppo", 0, 9.0, [0.0, 1.0])]
    (tmp_path / "cmp" / "results.json").write_text(json.dumps({"cells": cells}))
    costs = bench_cluster.cell_costs(tmp_path)
    assert costs == {"cmp": {"bptt": [4.0], "ppo": [10.0]}}  # training + evaluation seconds
    est = bench_cluster.estimates(costs, startup=2.0, workers=(1, 2), seeds=3)
    assert est["committed_wall_seconds"] == {"1": 14.0, "2": 12.0}  # the start-up once
    assert est["scaled_cells"] == 6
    # 10, 10, 10, 4, 4, 4 longest first: (10, 10) → (20, 10) → (20, 14) → (20, 18) → (20, 22)
    assert est["scaled_wall_seconds"] == {"1": 42.0, "2": 24.0}
    assert est["longest_cell"] == {"comparison": "cmp", "method": "ppo", "seconds": 10.0}
