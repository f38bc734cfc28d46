"""Run files: every one is written atomically, JSON is valid JSON, outcomes are stated."""

import csv
import json

import pytest
import torch

from diffsim.controllers import checkpoint, load_policy, training


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "cp"
    training.train("cartpole", "bptt", seed=0, out=out, budget=1, eval_episodes=2, progress=False)
    return out


def _files(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def atomic_writes(monkeypatch):
    """The names of the files written through checkpoint.write_atomically, in order."""
    written = []
    real = checkpoint.write_atomically

    def recording(path, write, **kwargs):
        written.append(path.name)
        real(path, write, **kwargs)

    monkeypatch.setattr(checkpoint, "write_atomically", recording)
    return written


def test_every_run_file_goes_through_the_one_atomic_helper(tmp_path, atomic_writes):
    written = atomic_writes
    out = tmp_path / "cp"
    training.train("cartpole", "bptt", out=out, budget=1, eval_episodes=2, progress=False)
    assert set(written) == {"config.json", "metrics.csv", "policy.pt", "checkpoint.pt"}
    assert set(written) == set(_files(out))  # no other file, no leftover temporary file


def _breaks_midway(monkeypatch, target, name):
    """Make ``target.name`` write a little and then fail, as an interrupted write would."""

    def broken(*args, **kwargs):
        handle = next(a for a in args if hasattr(a, "write"))
        handle.write(b"partial" if "b" in getattr(handle, "mode", "") else "partial")
        raise KeyboardInterrupt("interrupted during the write")

    monkeypatch.setattr(target, name, broken)


def test_an_interrupted_policy_write_leaves_the_previous_policy(run_dir, monkeypatch):
    before = (run_dir / "policy.pt").read_bytes()
    agent = load_policy(run_dir)
    _breaks_midway(monkeypatch, torch, "save")
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_policy(run_dir / "policy.pt", agent.policy, agent.env_id, True, "bptt")
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_torch(run_dir / "checkpoint.pt", {"x": 1})
    monkeypatch.undo()
    assert (run_dir / "policy.pt").read_bytes() == before
    assert load_policy(run_dir).env_id == "diffsim/CartPole-v1"
    assert "loop" in torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert not [n for n in _files(run_dir) if n.endswith(".tmp")]


def test_an_interrupted_metrics_write_leaves_the_previous_metrics(run_dir, monkeypatch):
    before = (run_dir / "metrics.csv").read_text()
    rows = checkpoint.read_metrics(run_dir)

    def one_row_then_fail(writer, rows):
        writer.writerow(rows[0])
        raise KeyboardInterrupt("interrupted during the write")

    monkeypatch.setattr(csv.DictWriter, "writerows", one_row_then_fail)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.write_metrics(run_dir / "metrics.csv", rows + rows)
    assert (run_dir / "metrics.csv").read_text() == before
    assert not [n for n in _files(run_dir) if n.endswith(".tmp")]


def test_a_failed_json_write_leaves_the_previous_config(run_dir):
    before = (run_dir / "config.json").read_text()
    with pytest.raises(TypeError):  # a set is not JSON and has no str() fallback here
        checkpoint.write_atomically(
            run_dir / "config.json", lambda f: (f.write("{"), json.dump({1, 2}, f)), text=True
        )
    assert (run_dir / "config.json").read_text() == before
    assert json.loads(before)["env_id"] == "diffsim/CartPole-v1"
    assert not [n for n in _files(run_dir) if n.endswith(".tmp")]


def test_atomic_files_get_the_usual_permissions(tmp_path):
    import os

    path = tmp_path / "f.txt"
    checkpoint.write_atomically(path, lambda f: f.write("x"), text=True)
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert path.read_text() == "x"


# -- the trebuchet's evaluation figures and strict JSON -------------------------------------
TREB_ARGS = [
    "train",
    "trebuchet",
    "--budget",
    "32",
    "--eval-every",
    "32",
    "--eval-episodes",
    "20",
    "--set",
    "batch_size=32",
    "--set",
    "reach_filter=False",
    "--set",
    "reach_feature=False",
]


@pytest.fixture(scope="module")
def treb(tmp_path_factory):
    import contextlib
    import io

    from diffsim.scripts.main import main

    out = tmp_path_factory.mktemp("treb") / "run"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        assert main([*TREB_ARGS, "--out", str(out)]) == 0
    return out, stdout.getvalue(), stderr.getvalue()


def _strict_json(text):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_trebuchet_metrics_give_the_relative_miss_measured_shot_by_shot(treb):
    import gymnasium as gym
    import numpy as np

    from diffsim.controllers.evaluate import EVAL_SEED
    from diffsim.envs.trebuchet_env import TrebuchetEnv

    out, _, _ = treb
    with (out / "metrics.csv").open() as f:
        header = next(csv.reader(f))
    common = ["transitions", "updates", "train_seconds", "eval_seconds"]
    common += ["eval_return_mean", "eval_return_std", "eval_length_mean"]
    assert header[: len(common)] == common  # users' scripts read these names
    assert {"eval_miss_median_pct", "eval_miss_p95_pct"} <= set(header)
    last = checkpoint.read_metrics(out)[-1]
    # The same 20 evaluation tasks, each shot again in a single env and measured by its miss.
    envs = gym.make_vec(
        "diffsim/Trebuchet-v0", num_envs=20, vectorization_mode="vector_entry_point"
    )
    obs, _ = envs.reset(seed=EVAL_SEED)
    envs.close()
    actions = load_policy(out).act(obs)
    env = TrebuchetEnv()
    rel = []
    for (wind, target), action in zip(obs, actions):
        env.reset(options={"wind": float(wind), "target": float(target)})
        _, _, _, _, info = env.step(action)
        rel.append(100 * (abs(info["miss"]) if not info["failed"] else target) / target)
    assert last["eval_miss_median_pct"] == pytest.approx(np.median(rel), rel=1e-3)
    assert last["eval_miss_p95_pct"] == pytest.approx(np.percentile(rel, 95), rel=1e-3)


def test_trebuchet_progress_bar_and_final_line_show_the_miss(treb):
    _, stdout, stderr = treb
    last = checkpoint.read_metrics(treb[0])[-1]
    assert f"median {last['eval_miss_median_pct']:.3g}% p95 {last['eval_miss_p95_pct']:.3g}%" in (
        stderr
    )
    final = next(line for line in stdout.splitlines() if line.startswith("final evaluation"))
    assert f"median miss {last['eval_miss_median_pct']:.3g} %" in final
    assert f"p95 {last['eval_miss_p95_pct']:.3g} %" in final
    assert "diffsim/Trebuchet-v0 has no solved return" in stdout


def test_trebuchet_config_is_strict_json_with_a_null_solved_return(treb):
    config = _strict_json((treb[0] / "config.json").read_text())
    assert config["env_id"] == "diffsim/Trebuchet-v0"
    assert config["solved_return"] is None


def test_a_run_written_with_infinity_still_resumes(treb, tmp_path):
    import shutil

    from diffsim.scripts.main import main

    run = tmp_path / "old"
    shutil.copytree(treb[0], run)
    text = (run / "config.json").read_text()
    (run / "config.json").write_text(
        text.replace('"solved_return": null', '"solved_return": Infinity')
    )
    assert main([*TREB_ARGS, "--quiet", "--out", str(run)]) == 0  # resumes: nothing to redo


def test_write_json_refuses_nan_and_infinity_and_keeps_the_file(tmp_path):
    path = tmp_path / "x.json"
    checkpoint.write_json(path, {"a": 1.5})
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="Out of range float values are not JSON"):
            checkpoint.write_json(path, {"a": bad})
    assert _strict_json(path.read_text()) == {"a": 1.5}
    assert _files(tmp_path) == ["x.json"]


def test_compare_summary_of_a_task_without_solved_return():
    from diffsim.controllers.compare import format_summary

    result = {
        "env_id": "diffsim/Trebuchet-v0",
        "solved_return": None,
        "eval_episodes": 20,
        "eval_every": 32,
        "summary": {},
    }
    head = format_summary(result).splitlines()[0]
    assert head.startswith("diffsim/Trebuchet-v0: no solved return over 20 episodes")
    assert "None" not in head


# -- diffsim eval reads config.json ----------------------------------------------------------
def _copy_run(run_dir, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(run_dir, run)
    return run


@pytest.mark.parametrize(
    "content,words",
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "holds a JSON list"),
        (None, "does not exist"),
        (b"\xff\xfe{", "cannot be read"),
    ],
)
def test_eval_refuses_an_unreadable_config_json(run_dir, tmp_path, capsys, content, words):
    from diffsim.scripts.main import main

    run = _copy_run(run_dir, tmp_path)
    path = run / "config.json"
    if content is None:
        path.unlink()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert main(["eval", str(run), "--episodes", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and words in err


@pytest.mark.parametrize(
    "key,value", [("env_id", "diffsim/Pendulum-v1"), ("method", "ppo"), ("method", None)]
)
def test_eval_refuses_a_config_json_of_another_run(run_dir, tmp_path, capsys, key, value):
    from diffsim.scripts.main import main

    run = _copy_run(run_dir, tmp_path)
    config = json.loads((run / "config.json").read_text())
    if value is None:
        del config[key]
    else:
        config[key] = value
    (run / "config.json").write_text(json.dumps(config))
    assert main(["eval", str(run), "--episodes", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{run / 'config.json'} does not belong to its policy.pt: {key} is {value!r}" in err


def test_eval_of_a_consistent_run_directory_still_works(run_dir, capsys):
    from diffsim.scripts.main import main

    assert main(["eval", str(run_dir), "--episodes", "2"]) == 0
    assert "diffsim/CartPole-v1: mean return" in capsys.readouterr().out


def test_compare_writes_each_of_its_files_through_the_atomic_helper(tmp_path, atomic_writes):
    from diffsim.scripts.main import main

    written = atomic_writes
    out = tmp_path / "cmp"
    args = ["compare", "cartpole", "--methods", "bptt", "--seeds", "1", "--out", str(out)]
    args += ["--budget", "300", "--eval-every", "300", "--eval-episodes", "2", "--quiet"]
    assert main(args) == 0
    assert {"results.json", "summary.txt", "curves.png"} <= set(written)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [n for n in _files(out) if n.endswith(".tmp")]


# -- run directories of earlier versions ----------------------------------------------------
# Run format 1 is what diffsim wrote before the format was recorded (git history of
# controllers/checkpoint.py and controllers/training.py): policy.pt {"format":
# "diffsim-policy", "version": 1, "kind", "env_id", "discrete", "method", then the kind's
# own fields at the top level}; config.json and checkpoint.pt without "run_format"; the
# earliest config.json with "solved_return": Infinity, the first ControlPolicy specs with an
# (empty) "extra" field and no "bias"/"action_offset", the first aiming specs without
# "reach_feature".
V1_COMMON = ("format", "version", "kind", "env_id", "discrete", "method")
CARTPOLE = dict(budget=300, eval_every=100, eval_episodes=3, progress=False)
CARTPOLE_CONFIG = {"horizon": 50, "batch_size": 2}


def _as_format_1(run, old):
    """A copy of the run directory ``run`` at ``old``, as run format 1 wrote it."""
    import shutil

    shutil.copytree(run, old)
    data = torch.load(old / "policy.pt", weights_only=True)
    torch.save(
        {**{k: data[k] for k in V1_COMMON}, "version": 1, **data["payload"]}, old / "policy.pt"
    )
    config = json.loads((old / "config.json").read_text())
    del config["run_format"], config["diffsim_version"]
    (old / "config.json").write_text(json.dumps(config))
    state = torch.load(old / "checkpoint.pt", weights_only=False)
    del state["run_format"], state["diffsim_version"]
    torch.save(state, old / "checkpoint.pt")
    return old


def _cartpole(out, **kwargs):
    return training.train(
        "cartpole",
        "bptt",
        seed=2,
        out=out,
        config=CARTPOLE_CONFIG,
        stop_when_solved=False,
        **CARTPOLE,
        **kwargs,
    )


def test_every_run_file_records_the_run_format_and_the_diffsim_version(run_dir):
    from diffsim import __version__

    config = json.loads((run_dir / "config.json").read_text())
    policy = torch.load(run_dir / "policy.pt", weights_only=True)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert (config["run_format"], config["diffsim_version"]) == (2, __version__)
    assert (policy["version"], policy["diffsim_version"]) == (2, __version__)
    assert (state["run_format"], state["diffsim_version"]) == (2, __version__)


def test_a_format_1_run_directory_loads_and_resumes_as_the_uninterrupted_run(tmp_path):
    whole = _cartpole(tmp_path / "whole")
    _cartpole(tmp_path / "part", max_updates=2)  # interrupted
    old = _as_format_1(tmp_path / "part", tmp_path / "old")
    assert checkpoint.read_run_config(old / "config.json")["run_format"] == 1
    assert checkpoint.read_run_config(old / "config.json")["diffsim_version"] == "0.1.0"
    policy = checkpoint.read_policy_file(old / "policy.pt")
    assert policy["version"] == 1 and set(policy["payload"]) == {"spec", "state_dict"}
    obs = torch.linspace(-0.1, 0.1, 12).reshape(3, 4).numpy()
    assert (load_policy(old).act(obs) == load_policy(tmp_path / "part").act(obs)).all()
    assert checkpoint.check_run_config(old)["method"] == "bptt"
    resumed = _cartpole(old)
    assert [r["eval_return_mean"] for r in resumed.metrics] == [
        r["eval_return_mean"] for r in whole.metrics
    ]
    assert torch.load(old / "policy.pt", weights_only=True)["version"] == 2  # rewritten


def test_the_first_format_1_policy_files_load(tmp_path):
    from diffsim.controllers import ControlPolicy, PolicySpec
    from diffsim.controllers.aiming import AimingConfig, AimingNetwork

    # A ControlPolicy spec of the first version: an unused "extra", no bias/action_offset.
    policy = ControlPolicy(PolicySpec(obs_size=4, hidden=(8,), action_scale=2.0))
    spec = {k: v for k, v in policy.spec.to_dict().items() if k not in ("bias", "action_offset")}
    (tmp_path / "cp").mkdir()
    torch.save(
        {
            "format": "diffsim-policy",
            "version": 1,
            "kind": "control_policy",
            "env_id": "diffsim/Pendulum-v1",
            "discrete": False,
            "method": "bptt",
            "spec": {**spec, "extra": {}},
            "state_dict": policy.state_dict(),
        },
        tmp_path / "cp" / "policy.pt",
    )
    obs = torch.linspace(-1, 1, 16).reshape(4, 4).numpy()
    with torch.no_grad():
        expected = policy.deterministic(torch.as_tensor(obs)).numpy()[:, None]
    assert torch.allclose(
        torch.as_tensor(load_policy(tmp_path / "cp").act(obs)),
        torch.as_tensor(expected, dtype=torch.float32),
    )
    # An aiming network saved before reach_feature existed (it had no reach input).
    net = AimingNetwork(AimingConfig(reach_feature=False))
    (tmp_path / "aim").mkdir()
    torch.save(
        {
            "format": "diffsim-policy",
            "version": 1,
            "kind": "aiming_network",
            "env_id": "diffsim/Trebuchet-v0",
            "discrete": False,
            "method": "bptt",
            "spec": {k: v for k, v in net.spec.to_dict().items() if k != "reach_feature"},
            "state_dict": net.state_dict(),
        },
        tmp_path / "aim" / "policy.pt",
    )
    agent = load_policy(tmp_path / "aim")
    assert agent.policy.spec.reach_feature is False
    pairs = [[0.0, 40.0], [3.0, 70.0]]
    with torch.no_grad():
        expected = net(torch.tensor(pairs, dtype=torch.float32)).numpy()
    assert abs(agent.act(pairs) - expected).max() < 1e-4


@pytest.mark.parametrize("where", ["policy.pt", "config.json", "checkpoint.pt"])
def test_a_newer_run_format_names_both_formats_and_what_to_do(run_dir, tmp_path, where):
    import shutil

    run = tmp_path / "new"
    shutil.copytree(run_dir, run)
    if where == "config.json":
        config = json.loads((run / where).read_text())
        (run / where).write_text(
            json.dumps({**config, "run_format": 3, "diffsim_version": "0.3.0"})
        )
    else:
        data = torch.load(run / where, weights_only=False)
        key = "version" if where == "policy.pt" else "run_format"
        torch.save({**data, key: 3, "diffsim_version": "0.3.0"}, run / where)
    words = (
        rf"{where} has run format 3, written by diffsim 0.3.0; this diffsim \(0.1.0\) reads "
        r"run formats 1, 2\. To use it, install the diffsim version that wrote it \(0.3.0\), "
        r"or train anew into another directory \(diffsim train ENV --method METHOD --out "
    )
    with pytest.raises(checkpoint.CheckpointError, match=words):
        if where == "policy.pt":
            load_policy(run)
        elif where == "config.json":
            checkpoint.check_run_config(run)
        else:
            training.train(
                "cartpole", "bptt", seed=0, out=run, budget=1, eval_episodes=2, progress=False
            )


def test_a_policy_file_without_a_readable_version_is_refused(tmp_path):
    (tmp_path / "r").mkdir()
    torch.save(
        {"format": "diffsim-policy", "version": "one", "kind": "control_policy"},
        tmp_path / "r" / "policy.pt",
    )
    with pytest.raises(checkpoint.CheckpointError, match=r"run format 'one'.*reads run formats"):
        load_policy(tmp_path / "r")


def test_a_format_1_checkpoint_whose_trainer_state_changed_says_what_to_do(tmp_path):
    _cartpole(tmp_path / "part", max_updates=1)
    old = _as_format_1(tmp_path / "part", tmp_path / "old")
    state = torch.load(old / "checkpoint.pt", weights_only=False)
    state["trainer"] = {"actor": {}, "critic": {}, "actor_opt": {}}  # another trainer layout
    torch.save(state, old / "checkpoint.pt")
    words = (
        r"checkpoint.pt has run format 1 and this diffsim \(0.1.0\) writes run format 2; its "
        r"trainer state does not fit this diffsim's trainer \(KeyError: 'policy'\)\. Its "
        r"policy.pt and metrics.csv still load; to continue training, resume it with diffsim "
        r"0.1.0, or train anew into another directory \(diffsim train ENV --method METHOD "
        r"--out NEW_DIR\)"
    )
    with pytest.raises(checkpoint.CheckpointError, match=words):
        _cartpole(old)
    assert load_policy(old).act([0.0, 0.0, 0.0, 0.0]) in (0, 1)
    assert checkpoint.read_metrics(old)[0]["transitions"] == 0
