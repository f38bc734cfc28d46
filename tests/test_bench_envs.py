"""scripts/bench_envs.py: the protocol's structure on tiny runs (no timing assertions), and
the docs/envs.md speed table rendered from its result."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

from diffsim.scripts import bench_envs, report_docs

TINY = ["--num-envs", "3", "--repeats", "2", "--min-time", "0.01", "--warmup", "0",
        "--pool", "4", "--threads", "0", "--pairs", "cartpole,pendulum"]  # fmt: skip


def _cfg(**changes):
    values = dict(num_envs=3, repeats=2, min_time=0.01, warmup=0.0, pool=4, threads=0)
    values.update(changes)
    return bench_envs.BenchConfig(**values)


def test_tiny_run_writes_every_variant_with_ratios_and_the_report_renders_it(tmp_path):
    out = tmp_path / "bench_envs.json"
    assert bench_envs.main([*TINY, "--no-fast", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["config"]["repeats"] == 2 and result["config"]["fast"] is False
    assert result["command"].startswith("python scripts/bench_envs.py --num-envs 3")
    assert {"cpu", "numpy", "gymnasium", "simd"} <= set(result["machine"])
    assert len(result["load_before"]) == 3 and len(result["load_after"]) == 3
    rows = {(r["id"], r["mode"]): r for r in result["results"]}
    assert set(rows) == {
        (i, m)
        for i in ("CartPole-v1", "diffsim/CartPole-v1", "Pendulum-v1", "diffsim/Pendulum-v1")
        for m in ("vector", "single")
    }
    # make_vec's defaults: Gymnasium's vector CartPole, its SyncVectorEnv Pendulum, ours.
    assert rows["CartPole-v1", "vector"]["env_type"] == "CartPoleVectorEnv"
    assert rows["CartPole-v1", "vector"]["vectorization"] == "vector_entry_point"
    assert rows["Pendulum-v1", "vector"]["vectorization"] == "sync"
    assert rows["diffsim/Pendulum-v1", "vector"]["env_type"] == "SystemVectorEnv"
    assert rows["diffsim/CartPole-v1", "single"]["num_envs"] == 1
    for (env_id, mode), r in rows.items():
        assert len(r["runs"]) == 2
        assert all(run["wall_s"] >= 0.01 and run["calls"] >= 1 for run in r["runs"])
        rates = [run["env_steps_per_s"] for run in r["runs"]]
        assert r["best"] == max(rates) and min(rates) <= r["median"] <= max(rates)
        if env_id.startswith("diffsim/"):
            ref = rows[env_id.removeprefix("diffsim/"), mode]
            assert r["vs"]["id"] == ref["id"]
            assert r["ratio_best"] == pytest.approx(r["best"] / ref["best"])
            assert r["ratio_median"] == pytest.approx(r["median"] / ref["median"])
        else:
            assert "ratio_best" not in r
    block = report_docs.render_envs(result)
    assert "`gym.make_vec('diffsim/CartPole-v1', num_envs=3)` | vector_entry_point |" in block
    assert "`gym.make('Pendulum-v1')` | one env |" in block
    assert block.count("\n| ") == 1 + len(rows)  # the header, one line per row


def test_repeats_are_interleaved_across_the_variants(monkeypatch):
    order = []

    def timed(self, min_time):
        order.append(self.variant.name)
        return {"calls": 1, "wall_s": 1.0, "cpu_s": 1.0, "env_steps_per_s": 1.0,
                "cpu_env_steps_per_s": 1.0}  # fmt: skip

    monkeypatch.setattr(bench_envs.Stepper, "timed", timed)
    rows = bench_envs.measure_pair("cartpole", _cfg(repeats=3, fast=False), log=lambda s: None)
    names = [r["name"] for r in rows]
    assert names == ["Gymnasium vector", "ours vector", "Gymnasium single", "ours single"]
    assert order == names * 3


def test_actions_come_from_a_pool_drawn_before_timing_and_single_envs_reset():
    variant = bench_envs.pair_variants("cartpole", _cfg(fast=False))[-1]
    assert variant.name == "ours single"
    stepper = bench_envs.Stepper(variant, _cfg(pool=5))

    def refuse():
        raise AssertionError("sampled while timing")

    stepper.env.action_space.sample = refuse
    with warnings.catch_warnings():  # stepping past termination would warn
        warnings.filterwarnings("error", message=".*already returned terminated.*")
        stepper.warm_up(0.0)
        run = stepper.timed(0.05)
    assert run["calls"] >= 1 and run["env_steps_per_s"] > 0
    stepper.close()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"pairs": "cartpole,nope"}, "cartpole, pendulum"),
        ({"repeats": 0}, "--repeats"),
        ({"min_time": 0.0}, "--min-time"),
        ({"num_envs": 0}, "--num-envs"),
    ],
)
def test_bad_options_are_refused_with_the_valid_ones(changes, match):
    with pytest.raises(ValueError, match=match):
        bench_envs.check_config(_cfg(**changes))


def test_all_pairs_names_every_known_pair():
    assert bench_envs.check_config(_cfg(pairs="all")) == list(bench_envs.PAIRS)
    assert bench_envs.check_config(_cfg()) == list(bench_envs.PAIRS)  # the default: all
    assert bench_envs.check_config(_cfg(pairs="cartpole,pendulum")) == ["cartpole", "pendulum"]


def test_help_is_fast_and_does_not_import_torch():
    code = (
        "import sys\n"
        "from diffsim.scripts import bench_envs\n"
        "bench_envs.build_parser().format_help()\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_fast_variant_is_built_with_fast_true(tmp_path):
    out = tmp_path / "bench_envs.json"
    bench_envs.main([*TINY, "--pairs", "cartpole", "--out", str(out)])
    rows = json.loads(out.read_text())["results"]
    fast = [r for r in rows if r["fast"]]
    assert [r["call"] for r in fast] == [
        "gym.make_vec('diffsim/CartPole-v1', num_envs=3, fast=True)"
    ]
    assert fast[0]["vs"]["id"] == "CartPole-v1" and fast[0]["ratio_best"] > 0
