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


def test_every_run_file_goes_through_the_one_atomic_helper(tmp_path, monkeypatch):
    written = []
    real = checkpoint.write_atomically

    def recording(path, write, **kwargs):
        written.append(path.name)
        real(path, write, **kwargs)

    monkeypatch.setattr(checkpoint, "write_atomically", recording)
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
