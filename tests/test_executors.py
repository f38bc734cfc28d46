"""controllers.executors and ``compare(executor=...)``: serial and Ray give the same figures.

The Ray tests share one local instance of 2 CPUs (module-scoped fixture). Ray writes an auth
token under ``$HOME/.ray`` when it starts, so HOME points into the session's temporary
directory (``conftest.ray_home``); its session files go to the executor's own ``/tmp/dsray*``
directory, which closing removes (checked).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from diffsim.controllers.compare import cell_dir, compare
from diffsim.controllers.executors import (
    RAY_MISSING,
    Job,
    RayExecutor,
    SerialExecutor,
    make_executor,
)
from diffsim.scripts.main import main

TINY = dict(budget=600, eval_every=300, eval_episodes=5, progress=False)
"""A comparison cell of a second or two: CartPole, BPTT, two evaluations after the first."""


# Job functions: module level, so that Ray workers can run them (pickled by value below).


def _value_or_raise(x: int) -> int:
    if x == 1:
        raise ValueError(f"job {x} refuses")
    return 10 * x


def _threads() -> int:
    return torch.get_num_threads()


def _die_once(marker: str) -> str:
    if not os.path.exists(marker):
        Path(marker).write_text("died once")
        os._exit(1)  # the worker process dies, as on a crash or a lost node
    return "second try"


def _die_always() -> None:
    os._exit(1)


def _train_then_die(marker: str, **cell: Any) -> dict[str, Any]:
    """The compare cell, killed on its first try after 3 updates (the checkpoint is at the
    evaluation of 300 transitions, after 2); the retry records how far the run directory's
    checkpoint had got before it ran the cell."""
    from diffsim.controllers.compare import run_cell
    from diffsim.controllers.training import train

    if not os.path.exists(marker):
        Path(marker).write_text("died once")
        kwargs = {k: v for k, v in cell.items() if k not in ("out", "run", "env_id", "progress")}
        train(cell["env_id"], out=cell["run"], stop_when_solved=False, progress=False,
              max_updates=3, **kwargs)  # fmt: skip
        os._exit(1)
    saved = torch.load(Path(cell["run"]) / "checkpoint.pt", weights_only=False)["loop"]
    return {"resumed_at": saved["transitions"], "cell": run_cell(**cell)}


def _deterministic(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures that must not depend on the executor: everything but seconds."""
    cells = []
    for c in result["cells"]:
        cells.append(
            {
                "method": c["method"],
                "seed": c["seed"],
                "run_dir": c["run_dir"],
                "config": c["config"],
                "final_return": c["final_return"],
                "solved_at": None
                if c["solved_at"] is None
                else {k: v for k, v in c["solved_at"].items() if k != "train_seconds"},
                "curve": {k: v for k, v in c["curve"].items() if k != "train_seconds"},
            }
        )
    return cells


# Without Ray.


def test_serial_executor_reports_an_exception_and_goes_on():
    jobs = [Job(f"x/{x}", _value_or_raise, {"x": x}) for x in (0, 1, 2)]
    outcomes = list(SerialExecutor().run(jobs))
    assert [o.key for o in outcomes] == ["x/0", "x/1", "x/2"]
    assert [o.value for o in outcomes] == [0, None, 20]
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error == "ValueError: job 1 refuses"
    assert "_value_or_raise" in outcomes[1].traceback and outcomes[0].traceback == ""


def test_job_keys_must_be_unique():
    jobs = [Job("a", _threads), Job("b", _threads), Job("a", _threads)]
    with pytest.raises(ValueError, match="unique, repeated: a$"):
        list(SerialExecutor().run(jobs))


def test_serial_executor_sets_the_jobs_threads_and_restores_the_callers():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    [outcome] = SerialExecutor(threads_per_job=target).run([Job("t", _threads)])
    assert outcome.value == target
    assert torch.get_num_threads() == before
    assert SerialExecutor(threads_per_job=3).describe() == {
        "name": "serial",
        "threads_per_job": 3,
    }


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: SerialExecutor(threads_per_job=0), ValueError, "threads_per_job must be positive"),
        (lambda: SerialExecutor(threads_per_job=1.5), TypeError, "threads_per_job must be an int"),
        (lambda: RayExecutor(cpus_per_job=0), ValueError, "cpus_per_job must be positive, got 0"),
        (lambda: RayExecutor(gpus_per_job=-1), ValueError, "gpus_per_job must be non-negative"),
        (lambda: RayExecutor(max_retries=True), TypeError, "max_retries must be an integer"),
        (lambda: RayExecutor(num_cpus=2, address="auto"), ValueError, "num_cpus=2 is for a local"),
        (lambda: RayExecutor(address=" "), ValueError, "address must be 'auto' or 'HOST:PORT'"),
        (lambda: RayExecutor(num_cpus=1, cpus_per_job=2), ValueError, "cpus_per_job=2 exceeds"),
        (lambda: make_executor("dask"), ValueError, "'dask'; expected one of: serial, ray"),
        (lambda: make_executor("serial", cpus=1), TypeError, "cpus"),
    ],
)
def test_argument_errors_name_the_argument(make, error, words):
    # Each is refused before Ray is imported or started.
    with pytest.raises(error, match=words):
        make()


def test_ray_executor_without_ray_gives_the_install_hint(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ImportError) as info:
        RayExecutor()
    assert str(info.value) == RAY_MISSING
    assert "pip install 'diffsim[cluster]'" in RAY_MISSING
    out = tmp_path / "cmp"
    assert main(["compare", "cartpole", "--methods", "bptt", "--out", str(out), "--executor",
                 "ray"]) == 2  # fmt: skip
    assert capsys.readouterr().err == f"diffsim compare: error: {RAY_MISSING}\n"
    assert not out.exists()  # nothing ran


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--address", "auto"], "--address is for --executor ray only"),
        (["--cpus-per-cell", "2", "--gpus-per-cell", "1"], "--cpus-per-cell, --gpus-per-cell are"),
        (["--num-cpus", "2"], "--num-cpus is for --executor ray only"),
        (["--executor", "ray", "--address", "auto", "--num-cpus", "2"], "--num-cpus 2 is for a"),
        (["--executor", "ray", "--cpus-per-cell", "0"], "--cpus-per-cell must be positive, got 0"),
        (["--executor", "ray", "--gpus-per-cell", "-1"], "--gpus-per-cell must be non-negative"),
        (["--executor", "ray", "--gpus-per-cell", "1"], "--gpus-per-cell 1 reserves GPUs that"),
        (["--executor", "ray", "--device", "cuda"], "--device cuda with --executor ray needs"),
    ],
)
def test_compare_refuses_executor_options_that_do_not_apply(extra, words, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "cartpole", "--methods", "bptt", "--out", str(out), *extra]) == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_compare_reads_finished_cells_back_without_a_job(tmp_path):
    class Recording(SerialExecutor):
        def run(self, jobs):
            self.keys = [j.key for j in jobs]
            return super().run(jobs)

    first = compare("cartpole", ["bptt"], [0], tmp_path, **TINY)
    assert first["executor"] == {"name": "serial", "threads_per_job": None}
    again = Recording()
    second = compare("cartpole", ["bptt"], [0, 1], tmp_path, executor=again, **TINY)
    assert again.keys == ["bptt/1"]  # seed 0 was read back
    assert second["cells"][0] == first["cells"][0]
    assert [c["seed"] for c in second["cells"]] == [0, 1]
    third = Recording()
    assert (
        compare("cartpole", ["bptt"], [0, 1], tmp_path, executor=third, **TINY)["cells"]
        == (second["cells"])
    )
    assert third.keys == []
    # Another budget over the same directory: each cell is reported, none is retrained.
    fourth = Recording()
    changed = compare("cartpole", ["bptt"], [0, 1], tmp_path, executor=fourth, **{**TINY,
                      "budget": 900})  # fmt: skip
    assert fourth.keys == [] and changed["cells"] == []
    assert [(f["seed"], f["error"].split(":")[0]) for f in changed["failed"]] == [
        (0, "CheckpointError"),
        (1, "CheckpointError"),
    ]
    assert "budget: saved 600, requested 900" in changed["failed"][0]["error"]


def test_compare_command_reports_a_failing_cell_and_exits_1(tmp_path, capsys):
    out = tmp_path / "cmp"
    blocked = cell_dir(out, "diffsim/CartPole-v1", "bptt", 1)
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the run directory goes")  # train() cannot make it
    args = ["compare", "cartpole", "--methods", "bptt", "--seeds", "2", "--out", str(out)]
    args += ["--budget", "600", "--eval-every", "300", "--eval-episodes", "5", "--quiet"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "diffsim compare: cell bptt seed 1 failed: FileExistsError: " in captured.err
    assert "1 of 2 cells failed" in captured.err
    data = json.loads((out / "results.json").read_text())
    assert [c["seed"] for c in data["cells"]] == [0]
    assert [(f["method"], f["seed"]) for f in data["failed"]] == [("bptt", 1)]
    assert data["summary"]["bptt"]["seeds"] == 1 and data["summary"]["bptt"]["seeds_failed"] == 1
    assert "failed: bptt seed 1" in (out / "summary.txt").read_text()
    assert (out / "curves.png").stat().st_size > 0


def test_compare_merges_an_earlier_comparison_of_other_methods(tmp_path, capsys):
    earlier = tmp_path / "first"
    compare(
        "cartpole",
        ["cmaes"],
        [0],
        earlier,
        **{**TINY, "configs": {"cmaes": {"popsize": 4, "episodes": 1}}},
    )
    out = tmp_path / "second"
    args = ["compare", "cartpole", "--methods", "bptt", "--seeds", "1", "--out", str(out)]
    args += ["--budget", "600", "--eval-every", "300", "--eval-episodes", "5", "--quiet"]
    assert main([*args, "--merge", str(earlier / "results.json")]) == 0
    data = json.loads((out / "results.json").read_text())
    first = json.loads((earlier / "results.json").read_text())
    assert data["methods"] == ["cmaes", "bptt"]
    assert [c["method"] for c in data["cells"]] == ["cmaes", "bptt"]
    assert data["cells"][0] == first["cells"][0]  # read back as it was
    assert set(data["summary"]) == {"cmaes", "bptt"}
    assert data["command"].startswith(first["command"] + " && ")
    assert [p["command"] for p in data["parts"]] == data["command"].split(" && ")
    assert data["wall_seconds"] == pytest.approx(sum(p["wall_seconds"] for p in data["parts"]))
    table = (out / "summary.txt").read_text()
    assert "cmaes" in table and "bptt" in table
    assert (out / "curves.png").stat().st_size > 0
    capsys.readouterr()
    # a different schedule, or a method in both, is refused before anything runs
    with pytest.raises(ValueError, match="eval_every differ: 300 and 200"):
        compare(
            "cartpole", ["bptt"], [0], tmp_path / "x", **{**TINY, "eval_every": 200}, merge=earlier
        )
    with pytest.raises(ValueError, match="cmaes seed 0 is in both"):
        compare("cartpole", ["cmaes"], [0, 1], tmp_path / "y", **TINY, merge=earlier)
    with pytest.raises(ValueError, match="cmaes ran with budget 600 .* and 900"):
        compare("cartpole", ["cmaes"], [1], tmp_path / "z", **{**TINY, "budget": 900},
                merge=earlier)  # fmt: skip
    for d in "xyz":
        assert not (tmp_path / d / "runs").exists()


def test_compare_merges_more_seeds_of_a_method(tmp_path, capsys):
    cmaes = {"configs": {"cmaes": {"popsize": 4, "episodes": 1}}}
    earlier = tmp_path / "first"
    compare("cartpole", ["cmaes", "bptt"], [0], earlier, **TINY, **cmaes)
    out = tmp_path / "second"
    later = compare("cartpole", ["cmaes"], [2, 1], out, **TINY, **cmaes, merge=earlier)
    first = json.loads((earlier / "results.json").read_text())
    assert later["methods"] == ["cmaes", "bptt"]
    assert [(c["method"], c["seed"]) for c in later["cells"]] == [
        ("cmaes", 0), ("cmaes", 1), ("cmaes", 2), ("bptt", 0)
    ]  # fmt: skip
    assert later["cells"][0] == first["cells"][0] and later["cells"][3] == first["cells"][1]
    assert later["seeds"] == [0, 1, 2]
    assert later["summary"]["cmaes"]["seeds"] == 3 and later["summary"]["bptt"]["seeds"] == 1
    assert json.loads((out / "results.json").read_text()) == later
    capsys.readouterr()


def test_compare_replaces_a_method_of_an_earlier_comparison(tmp_path, capsys):
    cmaes = {"configs": {"cmaes": {"popsize": 4, "episodes": 1}}}
    earlier = tmp_path / "first"
    compare("cartpole", ["cmaes", "bptt"], [0, 1], earlier, **TINY, **cmaes)
    first = json.loads((earlier / "results.json").read_text())
    out = tmp_path / "second"
    args = ["compare", "cartpole", "--methods", "bptt", "--seeds", "1", "--out", str(out)]
    args += ["--budget", "300", "--eval-every", "300", "--eval-episodes", "5", "--quiet"]
    assert main([*args, "--merge", str(earlier), "--replace"]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["methods"] == ["cmaes", "bptt"]
    assert [(c["method"], c["seed"]) for c in data["cells"]] == [
        ("cmaes", 0), ("cmaes", 1), ("bptt", 0)
    ]  # fmt: skip
    assert data["cells"][:2] == first["cells"][:2]
    assert data["cells"][2]["curve"]["transitions"] == [0, 300]  # the new budget's cell
    assert data["budget"] == {"cmaes": 600, "bptt": 300}
    assert [p.get("replaced") for p in data["parts"]] == [["bptt"], None]
    assert data["summary"]["bptt"]["seeds"] == 1 and data["summary"]["cmaes"]["seeds"] == 2
    capsys.readouterr()
    with pytest.raises(ValueError, match="replace=True needs merge"):
        compare("cartpole", ["bptt"], [0], tmp_path / "x", **TINY, replace=True)
    assert not (tmp_path / "x").exists()


SEED_TEXTS = [("5", 5), ("3,4", [3, 4]), ("0", None), ("1,1", None), ("a", None), ("-1,2", None)]


@pytest.mark.parametrize("text, expected", SEED_TEXTS)
def test_compare_seeds_option(text, expected, capsys):
    import argparse

    from diffsim.scripts.compare import seed_list

    if expected is not None:
        assert seed_list(text) == expected
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
            seed_list(text)


# With a local Ray instance.


@pytest.fixture(scope="module")
def ray_executor(ray_home):
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the job functions
    if ray.is_initialized():  # another module's instance left running would be reused
        ray.shutdown()
    executor = RayExecutor(num_cpus=2, cpus_per_job=1, max_retries=1)
    session = Path(executor._temp_dir)
    try:
        yield executor
    finally:
        executor.close()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert not session.exists()  # the session files went with the instance
    assert not ray.is_initialized()


def test_ray_executor_runs_jobs_reports_errors_and_records_its_options(ray_executor):
    jobs = [Job(f"x/{x}", _value_or_raise, {"x": x}) for x in (0, 1, 2)]
    outcomes = {o.key: o for o in ray_executor.run(jobs)}
    assert {k: o.value for k, o in outcomes.items()} == {"x/0": 0, "x/1": None, "x/2": 20}
    assert outcomes["x/1"].error == "ValueError: job 1 refuses"
    [threads] = ray_executor.run([Job("t", _threads)])
    assert threads.value == 1  # the job's CPU reservation
    assert ray_executor.describe() == {
        "name": "ray",
        "address": None,
        "num_cpus": 2,
        "cpus_per_job": 1,
        "gpus_per_job": 0,
        "threads_per_job": 1,
        "max_retries": 1,
    }
    with pytest.raises(ValueError, match="unique, repeated: t$"):
        list(ray_executor.run([Job("t", _threads), Job("t", _threads)]))


def test_ray_retries_a_job_whose_worker_died(ray_executor, tmp_path):
    marker = tmp_path / "marker"
    [outcome] = ray_executor.run([Job("die-once", _die_once, {"marker": str(marker)})])
    assert (outcome.value, outcome.error) == ("second try", None)
    assert marker.read_text() == "died once"
    [dead] = ray_executor.run([Job("die-always", _die_always)])  # 1 try + max_retries=1
    assert dead.value is None and dead.error.startswith("WorkerCrashedError")


def test_serial_and_ray_compare_give_the_same_figures(ray_executor, tmp_path):
    serial = compare(
        "cartpole", ["bptt"], 2, tmp_path / "serial", executor=SerialExecutor(1), **TINY
    )
    ray = compare("cartpole", ["bptt"], 2, tmp_path / "ray", executor=ray_executor, **TINY)
    assert [(c["method"], c["seed"]) for c in ray["cells"]] == [("bptt", 0), ("bptt", 1)]
    assert _deterministic(ray) == _deterministic(serial)
    assert serial["cells"][0]["curve"]["transitions"] == [0, 300, 600]
    assert ray["failed"] == [] and ray["executor"]["name"] == "ray"
    on_disk = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert _deterministic(on_disk) == _deterministic(serial)
    assert on_disk["executor"] == ray_executor.describe()


def test_a_failing_ray_cell_does_not_stop_the_others(ray_executor, tmp_path):
    blocked = cell_dir(tmp_path, "diffsim/CartPole-v1", "bptt", 1)
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the run directory goes")  # fails inside the job
    result = compare("cartpole", ["bptt"], 3, tmp_path, executor=ray_executor, **TINY)
    assert [c["seed"] for c in result["cells"]] == [0, 2]
    [failed] = result["failed"]
    assert (failed["method"], failed["seed"]) == ("bptt", 1)
    assert failed["error"].startswith("FileExistsError: ")
    assert "train" in failed["traceback"]
    assert json.loads((tmp_path / "results.json").read_text())["failed"] == [failed]


def test_a_cell_killed_mid_run_is_retried_and_resumes(ray_executor, tmp_path):
    serial = compare(
        "cartpole", ["bptt"], [0], tmp_path / "serial", executor=SerialExecutor(1), **TINY
    )
    out = (tmp_path / "ray").resolve()
    run = cell_dir(out, "diffsim/CartPole-v1", "bptt", 0)
    cell = dict(out=str(out), run=str(run), env_id="diffsim/CartPole-v1", method="bptt", seed=0)
    cell.update(progress=False, config=None, budget=600, eval_every=300, eval_episodes=5)
    marker = tmp_path / "marker"
    job = Job("bptt/0", _train_then_die, {"marker": str(marker), **cell})
    [outcome] = ray_executor.run([job])
    assert outcome.ok, outcome.traceback
    assert outcome.value["resumed_at"] == 300  # the retry found the first try's checkpoint
    assert _deterministic({"cells": [outcome.value["cell"]]}) == _deterministic(serial)


def test_the_compare_parser_and_the_executors_module_import_no_ray_or_torch():
    code = (
        "import sys\n"
        "from diffsim.controllers import executors\n"
        "from diffsim.scripts.main import build_parser\n"
        "build_parser().parse_args(['compare', 'cartpole', '--out', 'x', '--executor', 'ray'])\n"
        "print('LOADED=' + ','.join(m for m in ('ray', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "LOADED="


def test_ray_preload_warms_one_worker_per_slot_and_refuses_unknown_modules(ray_executor):
    import ray

    with pytest.raises(ValueError, match="no_such_module_here"):
        RayExecutor(cpus_per_job=1, preload=("colorsys", "no_such_module_here"))
    with pytest.raises(TypeError, match="preload"):
        RayExecutor(cpus_per_job=1, preload="colorsys")
    warm = RayExecutor(cpus_per_job=1, preload=("colorsys",))  # joins the running instance
    assert len(warm._warm_refs) == 2  # two CPUs, one per job
    assert ray.get(warm._warm_refs, timeout=60) == [None, None]
    warm.close()
    assert ray.is_initialized()  # the instance it joined is left running
    jobs = [Job("after", _value_or_raise, {"x": 2})]
    assert [o.value for o in ray_executor.run(jobs)] == [20]
