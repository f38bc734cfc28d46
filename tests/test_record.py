"""``diffsim record`` / :func:`diffsim.envs.recording.record`: the data format of ``diffsim fit``
from any Gymnasium id, constants changed with their derived attributes re-derived."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from diffsim.envs.recording import Recording, record
from diffsim.identify import load_data
from diffsim.scripts.main import main


def test_gymnasium_cartpole_with_changed_constants_is_diffsims_with_those_params():
    # Gymnasium's CartPole takes length and masspole only as attributes; its constructor
    # derives total_mass and polemass_length, which record re-derives. diffsim's env is
    # bitwise Gymnasium's on the NumPy path, so the two recordings must agree exactly.
    changes = {"length": 0.8, "masspole": 0.2}
    theirs = record("CartPole-v1", 4, seed=3, set_attr=changes)
    ours = record("diffsim/CartPole-v1", 4, seed=3, set_attr=changes)
    assert theirs.meta["rederived"] == {"total_mass": 1.2, "polemass_length": 0.2 * 0.8}
    assert ours.meta["rederived"] == {} and "params" in ours.meta["note"]
    np.testing.assert_array_equal(theirs.mask, ours.mask)
    np.testing.assert_array_equal(theirs.actions, ours.actions)
    np.testing.assert_array_equal(theirs.observations, ours.observations)
    assert theirs.observations.dtype == np.float32 and theirs.actions.dtype == np.int64
    assert theirs.observations.shape == (4, 501, 4) and theirs.actions.shape == (4, 500)

    # Without the re-derivation the same seed gives another trajectory: the stale
    # polemass_length is not a detail.
    env = gym.make("CartPole-v1")
    env.unwrapped.length, env.unwrapped.masspole = 0.8, 0.2
    obs, _ = env.reset(seed=3)
    stale = [obs]
    for a in theirs.actions[0, :10]:
        stale.append(env.step(int(a))[0])
    assert not np.array_equal(np.array(stale), theirs.observations[0, :11])


def test_padding_after_an_episode_ends():
    rec = record("CartPole-v1", 3, seed=0)
    lengths = rec.mask.sum(1)
    assert (lengths < 500).all()  # random actions topple the pole early
    for e, n in enumerate(lengths):
        assert rec.mask[e, :n].all() and not rec.mask[e, n:].any()
        assert (rec.actions[e, n:] == 0).all()
        assert (rec.observations[e, n + 1 :] == rec.observations[e, n]).all()
    assert rec.meta["transitions"] == int(lengths.sum())
    assert rec.meta["returns"] == [float(n) for n in lengths]  # +1 per step


def test_continuous_actions_steps_and_pendulum_constants():
    rec = record("Pendulum-v1", 2, steps=30, seed=1, set_attr={"m": 1.3, "l": 0.8})
    same = record(
        "Pendulum-v1",
        2,
        seed=1,
        set_attr={"m": 1.3, "l": 0.8},
        make_kwargs={"max_episode_steps": 30},
    )
    np.testing.assert_array_equal(same.observations, rec.observations)
    assert rec.actions.shape == (2, 30, 1) and rec.actions.dtype == np.float32
    assert rec.observations.shape == (2, 31, 3) and rec.mask.all()
    assert rec.meta["rederived"] == {}  # Pendulum derives nothing from m or l
    # The recorded steps are the physics with those parameters (Pendulum-v1's equation,
    # th'' = 3g/(2l) sin th + 3/(m l^2) u, one semi-implicit Euler step of 0.05 s).
    cos, sin, thdot = rec.observations[0, :-1].T.astype(np.float64)
    th = np.arctan2(sin, cos)
    u = np.clip(rec.actions[0, :, 0].astype(np.float64), -2, 2)
    new_thdot = np.clip(
        thdot + (3 * 10.0 / (2 * 0.8) * np.sin(th) + 3 / (1.3 * 0.64) * u) * 0.05, -8, 8
    )
    np.testing.assert_allclose(rec.observations[0, 1:, 2], new_thdot, atol=2e-5)


def test_a_run_directory_and_a_callable_as_the_policy(tmp_path):
    from diffsim.controllers.checkpoint import save_policy
    from diffsim.controllers.policies import ControlPolicy, PolicySpec

    torch.manual_seed(0)
    policy = ControlPolicy(PolicySpec(obs_size=4, hidden=(8,), action_scale=1.0))
    (tmp_path / "run").mkdir()
    save_policy(tmp_path / "run" / "policy.pt", policy, "diffsim/CartPole-v1", True, "bptt")
    rec = record("CartPole-v1", 2, tmp_path / "run", seed=0)
    from diffsim.controllers import load_policy

    agent = load_policy(tmp_path / "run")
    valid = rec.mask
    expected = agent.act(rec.observations[:, :-1][valid])
    np.testing.assert_array_equal(rec.actions[valid], expected)
    assert rec.meta["policy"] == str(tmp_path / "run")

    always_left = record("CartPole-v1", 1, lambda obs: 0, seed=0)
    assert (always_left.actions[always_left.mask] == 0).all()


def test_save_and_load_round_trip_and_fit_reads_it(tmp_path):
    rec = record("CartPole-v1", 2, seed=0, set_attr={"length": 0.7})
    path = rec.save(tmp_path / "sub" / "data.npz")
    back = Recording.load(path)
    for name in ("observations", "actions", "mask"):
        np.testing.assert_array_equal(getattr(back, name), getattr(rec, name))
    assert back.meta == json.loads(json.dumps(rec.meta))
    with np.load(path, allow_pickle=False) as d:  # a plain npz: no pickled objects
        assert set(d.files) == {"observations", "actions", "mask", "meta"}
    data = load_data(path, "cartpole")
    assert data.observations.shape[0] == 2


def test_bad_arguments_are_refused_with_what_was_expected():
    with pytest.raises(ValueError, match="unknown Gymnasium id 'CartPole-v9'.*CartPole-v1"):
        record("CartPole-v9", 1)
    with pytest.raises(ValueError, match="episodes must be an integer >= 1, got 0"):
        record("CartPole-v1", 0)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        record("CartPole-v1", 1, steps=0)
    with pytest.raises(ValueError, match="no attribute 'lenght'; expected one of: .*length"):
        record("CartPole-v1", 1, set_attr={"lenght": 0.8})
    with pytest.raises(ValueError, match="total_mass is computed from other parameters"):
        record("diffsim/CartPole-v1", 1, set_attr={"total_mass": 2.0})
    with pytest.raises(ValueError, match="max_episode_steps=5 contradicts steps=6"):
        record("CartPole-v1", 1, steps=6, make_kwargs={"max_episode_steps": 5})
    with pytest.raises(TypeError, match="set_attr must be a mapping"):
        record("CartPole-v1", 1, set_attr=[("length", 0.8)])
    with pytest.raises(TypeError, match="policy must be 'random', a run directory"):
        record("CartPole-v1", 1, policy=3)
    with pytest.raises(ValueError, match="outside CartPole-v1's action space"):
        record("CartPole-v1", 1, policy=lambda obs: 2)


def test_the_command_writes_the_format_and_refuses_bad_options(tmp_path, capsys):
    out = tmp_path / "cp.npz"
    argv = ["record", "CartPole-v1", "--episodes", "3", "--out", str(out), "--quiet"]
    assert main([*argv, "--set-attr", "length=0.8", "--set-attr", "masspole=0.2"]) == 0
    text = capsys.readouterr().out
    assert "3 episodes" in text and "re-derived total_mass=1.2" in text and str(out) in text
    rec = Recording.load(out)
    assert rec.meta["set_attr"] == {"length": 0.8, "masspole": 0.2}
    assert rec.observations.shape[:2] == (3, 501)

    with pytest.raises(SystemExit):  # argparse's usage error
        main([*argv, "--set-attr", "length"])
    assert "expected NAME=VALUE, got 'length'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--make-kwargs", "[1]"])
    assert "expected a JSON object" in capsys.readouterr().err
    assert main([*argv, "--set-attr", "nope=1"]) == 2
    assert "has no attribute 'nope'" in capsys.readouterr().err
