"""Baselines: SB3 agents with the zoo's hyperparameters, Nevergrad's cmaes and retrofit.

Every method trains for a tiny budget through the generic loop and writes a policy that
``load_policy`` and ``diffsim eval`` read; resuming an interrupted run gives the same
evaluations as an uninterrupted one; errors name what was wrong and what fits.
"""

import json
import tempfile

import numpy as np
import pytest

from diffsim.controllers import baselines, gradient_free, load_policy, train, zoo
from diffsim.controllers.checkpoint import CheckpointError
from diffsim.controllers.evaluate import evaluate
from diffsim.scripts.main import main

pytest.importorskip("stable_baselines3")  # the baselines extra
pytest.importorskip("nevergrad")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# Small versions of the zoo's settings, so that each run takes about a second.
TINY = {
    "ppo": ("cartpole", 256, {}),
    "a2c": ("cartpole", 200, {}),
    "dqn": ("cartpole", 512, {"learning_starts": 256, "gradient_steps": 8}),
    "sac": ("pendulum", 150, {"learning_starts": 100, "batch_size": 32}),
    "td3": ("pendulum", 150, {"learning_starts": 100, "batch_size": 32}),
}
SMALL_NET = {"policy_kwargs": "dict(net_arch=[32, 32])"}


def _run(tmp_path, method, env=None, budget=None, overrides=None, **kwargs):
    env_default, budget_default, tiny = TINY[method]
    config = {"overrides": {**tiny, **(overrides or {})}}
    return train(
        env or env_default,
        method=method,
        seed=0,
        out=tmp_path / method,
        config=config,
        budget=budget or budget_default,
        eval_every=kwargs.pop("eval_every", 100),
        eval_episodes=kwargs.pop("eval_episodes", 2),
        stop_when_solved=False,
        progress=False,
        **kwargs,
    )


@pytest.mark.parametrize("method", sorted(TINY))
def test_sb3_method_trains_and_writes_a_loadable_policy(tmp_path, method):
    result = _run(tmp_path, method)
    rows = result.metrics
    assert rows[-1]["transitions"] >= TINY[method][1]
    assert rows[-1]["gradient_steps"] > 0
    agent = load_policy(result.out)
    env_id = json.loads((result.out / "config.json").read_text())["env_id"]
    assert agent.env_id == env_id
    # The saved policy acts as the trained one did at its last evaluation.
    assert evaluate(agent, env_id, 2).mean == rows[-1]["eval_return_mean"]
    obs = np.zeros((3, 4 if method in ("ppo", "a2c", "dqn") else 3), np.float32)
    batch, single = agent.act(obs), agent.act(obs[0])
    if env_id.endswith("CartPole-v1"):
        assert isinstance(single, int) and batch.dtype == np.int64 and batch.shape == (3,)
    else:
        assert single.dtype == np.float32 and single.shape == (1,)
        assert batch.shape == (3, 1) and np.all(np.abs(batch) <= 2)


def test_sb3_training_and_resume_write_nothing_in_the_temporary_directory(tmp_path, monkeypatch):
    # SB3's default logger makes an empty SB3-<date> folder in the temporary directory on
    # every learn() call; the trainers give their models a logger that writes nothing.
    scratch = tmp_path / "system_tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    kw = dict(budget=256, eval_every=128)
    _run(tmp_path / "run", "ppo", max_updates=1, **kw)
    _run(tmp_path / "run", "ppo", **kw)  # resumed: the loaded model gets the logger too
    assert [p.name for p in scratch.iterdir() if p.name.startswith("SB3-")] == []


def test_zoo_entries_and_their_preparation():
    ppo = baselines.default_config("ppo", "diffsim/CartPole-v1")
    assert ppo.merged["n_envs"] == 8 and ppo.merged["learning_rate"] == "lin_0.001"
    assert "fa5daa8f" in ppo.zoo_entry and "ppo.yml" in ppo.zoo_entry
    prepared = zoo.prepare(ppo.merged, 0)
    assert prepared.kwargs["learning_rate"](0.25) == pytest.approx(0.25e-3)
    assert prepared.n_timesteps == 100_000 and prepared.normalize is None
    a2c = zoo.prepare(baselines.default_config("a2c", "diffsim/Pendulum-v1").merged, 1)
    assert a2c.normalize == {"gamma": 0.9} and a2c.n_envs == 8
    assert a2c.kwargs["policy_kwargs"] == {"log_std_init": -2, "ortho_init": False}
    td3 = zoo.prepare(baselines.default_config("td3", "diffsim/Pendulum-v1").merged, 1)
    assert np.allclose(td3.kwargs["action_noise"]._sigma, [0.1])
    assert baselines.default_budget("sac", "diffsim/Pendulum-v1") == 20_000


def test_zoo_entries_follow_the_registry():
    # Each task with a zoo twin uses its entry; the 2019 pendulum (same system and action
    # kind as Pendulum-v1) uses Pendulum-v1's; the continuous CartPole has none.
    classic = ("Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0")
    assert dict(zoo.ZOO_ENTRY) == {
        "diffsim/CartPole-v1": "CartPole-v1",
        "diffsim/Pendulum-v1": "Pendulum-v1",
        "diffsim/Pendulum2019-v1": "Pendulum-v1",
        **{f"diffsim/{name}": name for name in classic},
        "CartPole-v1": "CartPole-v1",
        "Pendulum-v1": "Pendulum-v1",
        **{name: name for name in classic},
    }
    assert zoo.entry("sac", "diffsim/Pendulum2019-v1") == "Pendulum-v1"
    assert zoo.entry("ppo", "diffsim/CartPoleContinuous-v1") is None
    assert zoo.entry("dqn", "diffsim/Pendulum-v1") is None  # the zoo has no DQN on a Box


def test_cmaes_and_retrofit_defaults_are_read_by_system_name():
    from diffsim.controllers import gradient_free as gf

    for env_id in ("cartpole", "diffsim/CartPoleContinuous-v1"):
        assert gf.cmaes_default_config(env_id).policy == {"kind": "linear", "bias": False}
        assert gf.cmaes_default_budget(env_id) == 200_000
        assert gf.retrofit_default_config(env_id).params_override == {"masspole": 1.0}
    for env_id in ("pendulum", "pendulum-2019"):
        assert gf.cmaes_default_config(env_id).popsize == 16
        assert gf.cmaes_default_budget(env_id) == 2_000_000
        assert gf.retrofit_default_config(env_id).objective == "return"


def test_schedules_run_over_the_zoos_length_not_each_learn_call(tmp_path):
    result = _run(tmp_path, "ppo", budget=512, eval_every=256)
    # lin_0.001 over 100k transitions: after 512 steps 1e-3 · (1 − 512/100k), as one long run.
    assert result.metrics[-1]["learning_rate"] == pytest.approx(1e-3 * (1 - 512 / 100_000))


@pytest.mark.parametrize(("ours", "theirs", "method"), [("cartpole", "CartPole-v1", "ppo")])
def test_training_on_our_id_and_on_gymnasiums_gives_the_same_run(tmp_path, ours, theirs, method):
    # The equivalence check of docs/benchmarks.md at its root: the same method, seed and
    # budget on our env and on Gymnasium's give the same training and the same evaluations
    # (the envs step alike, and the vector envs evaluate from the same starts).
    kw = dict(budget=1024, eval_every=512, eval_episodes=8)
    a = _run(tmp_path / "ours", method, env=ours, **kw).metrics
    b = _run(tmp_path / "theirs", method, env=theirs, **kw).metrics
    skip = ("train_seconds", "eval_seconds")
    assert [{k: v for k, v in r.items() if k not in skip} for r in a] == [
        {k: v for k, v in r.items() if k not in skip} for r in b
    ]
    assert len(a) == 3


def test_wrong_action_space_and_untuned_pairs_are_refused():
    with pytest.raises(ValueError, match=r"dqn needs a Discrete action space.*Pendulum-v1"):
        baselines.default_config("dqn", "diffsim/Pendulum-v1")
    with pytest.raises(ValueError, match=r"sac needs a Box action space.*Discrete"):
        baselines.default_config("sac", "diffsim/CartPole-v1")
    with pytest.raises(ValueError, match=r"no tuned hyperparameters of td3.*Continuous"):
        baselines.default_config("td3", "diffsim/CartPoleContinuous-v1")
    # train() refuses the pair from the registry, before building anything.
    with pytest.raises(
        ValueError,
        match=r"dqn trains discrete-action tasks: .*CartPole-v1.*"
        r"got diffsim/Pendulum-v1",
    ):
        train("pendulum", method="dqn", budget=10, progress=False)


def test_gymnasium_ids_train_baselines_only(tmp_path):
    result = _run(tmp_path, "ppo", env="CartPole-v1")
    saved = json.loads((result.out / "config.json").read_text())
    assert saved["env_id"] == "CartPole-v1" and saved["solved_return"] == 475.0
    assert load_policy(result.out).env_id == "CartPole-v1"
    with pytest.raises(ValueError, match="Gymnasium's own CartPole-v1.*bptt"):
        train("CartPole-v1", method="bptt", out=tmp_path / "b", progress=False)


@pytest.mark.parametrize("method", ["ppo", "dqn", "sac", "a2c-pendulum"])
def test_sb3_resume_repeats_the_uninterrupted_run(tmp_path, method):
    # a2c on Pendulum: the zoo's VecNormalize (statistics and running returns) is resumed too.
    method, _, env = method.partition("-")
    over = SMALL_NET if method == "sac" else {}
    budget = {"ppo": 768, "dqn": 768, "sac": 200, "a2c": 256}[method]
    every = {"ppo": 256, "dqn": 256, "sac": 50, "a2c": 64}[method]
    kw = dict(env=env or None, budget=budget, overrides=over, eval_every=every)
    whole = _run(tmp_path / "a", method, **kw)
    _run(tmp_path / "b", method, max_updates=1, **kw)
    resumed = _run(tmp_path / "b", method, **kw)
    skip = ("train_seconds", "eval_seconds")
    strip = [{k: v for k, v in r.items() if k not in skip} for r in whole.metrics]
    assert [{k: v for k, v in r.items() if k not in skip} for r in resumed.metrics] == strip


def test_cmaes_trains_one_batched_generation_and_resumes(tmp_path):
    kwargs = dict(
        method="cmaes",
        seed=1,
        config={"popsize": 4, "episodes": 2},
        budget=6000,
        eval_every=1,
        eval_episodes=5,
        stop_when_solved=False,
        progress=False,
    )
    whole = train("cartpole", out=tmp_path / "a", **kwargs)
    rows = whole.metrics
    assert rows[1]["policy_evaluations"] == 4
    # One generation = one rollout of popsize × episodes elements: a multiple of 8 steps.
    assert rows[1]["transitions"] % 8 == 0 and rows[1]["transitions"] <= 8 * 500
    agent = load_policy(whole.out)
    assert isinstance(agent.act(np.zeros(4, np.float32)), int)
    train("cartpole", out=tmp_path / "b", max_updates=1, **kwargs)
    resumed = train("cartpole", out=tmp_path / "b", **kwargs)
    key = ("transitions", "eval_return_mean", "train_return")
    assert [[r.get(k) for k in key] for r in resumed.metrics] == [
        [r.get(k) for k in key] for r in rows
    ]


def test_cmaes_any_nevergrad_optimizer_and_unknown_names(tmp_path):
    result = train(
        "pendulum",
        method="cmaes",
        config={"optimizer": "OnePlusOne", "popsize": 3, "episodes": 1},
        budget=600,
        eval_episodes=2,
        out=tmp_path / "p",
        progress=False,
    )
    assert result.metrics[-1]["transitions"] == 600  # 3 candidates × 1 episode × 200 steps
    with pytest.raises(ValueError, match=r"unknown Nevergrad optimizer 'CMa'.*CMA"):
        train("cartpole", method="cmaes", config={"optimizer": "CMa"}, progress=False)


# A flat objective (every candidate at the time limit) makes Nevergrad restart CMA, which
# then warns about the candidates asked before the restart.
@pytest.mark.filterwarnings("ignore:orphanated injected solution")
def test_retrofit_reports_start_and_final_objective(tmp_path, capsys):
    src = tmp_path / "bptt"
    train("cartpole", method="bptt", budget=1000, eval_episodes=2, out=src, progress=False)
    rc = main(
        [
            "train",
            "cartpole",
            "--method",
            "retrofit",
            "--from",
            str(src),
            "--set",
            "popsize=4",
            "--set",
            "episodes=4",
            "--budget",
            "20000",
            "--eval-episodes",
            "2",
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    assert rc == 0
    assert "on the optimised starts" in capsys.readouterr().out
    last = load_metrics(tmp_path / "r")[-1]
    assert last["objective"] >= last["objective_start"] > 0
    assert last["objective_gain"] == last["objective"] - last["objective_start"]
    assert "test_objective" in last
    agent = load_policy(tmp_path / "r")
    assert isinstance(agent.act(np.zeros(4, np.float32)), int)
    # Errors: no source, another env's run, a method without --from, an SB3 run.
    assert main(["train", "cartpole", "--method", "retrofit", "--budget", "1"]) == 2
    assert main(["train", "pendulum", "--method", "retrofit", "--from", str(src)]) == 2
    assert main(["train", "cartpole", "--method", "ppo", "--from", str(src)]) == 2
    sb3_run = _run(tmp_path, "ppo").out
    with pytest.raises(CheckpointError, match="ControlPolicy"):
        gradient_free.load_source(str(sb3_run), "diffsim/CartPole-v1")


def load_metrics(run):
    from diffsim.controllers import read_metrics

    return read_metrics(run)


def test_diffsim_eval_reads_an_sb3_run(tmp_path, capsys):
    run = _run(tmp_path, "ppo").out
    assert main(["eval", str(run), "--episodes", "3"]) == 0
    assert "diffsim/CartPole-v1" in capsys.readouterr().out


def test_compare_two_baselines_writes_results_and_resumes_finished_cells(tmp_path):
    from diffsim.controllers.compare import compare

    kwargs = dict(
        budget=256,
        eval_every=256,
        eval_episodes=2,
        configs={"cmaes": {"popsize": 4, "episodes": 1}},
        progress=False,
    )
    result = compare("cartpole", ["ppo", "cmaes"], 1, tmp_path, **kwargs)
    data = json.loads((tmp_path / "results.json").read_text())
    assert {c["method"] for c in data["cells"]} == {"ppo", "cmaes"}
    assert set(result["summary"]) == {"ppo", "cmaes"}
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("checkpoint.pt")}
    assert len(stamps) == 2
    again = compare("cartpole", ["ppo", "cmaes"], 1, tmp_path, **kwargs)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # not retrained
    assert [c["curve"] for c in again["cells"]] == [c["curve"] for c in result["cells"]]


def test_sb3_updates_stop_at_the_evaluation_points_and_the_budget(tmp_path):
    # SAC steps one transition per rollout, so the loop's max_transitions is met exactly:
    # evaluations every 120 transitions, and the last update stops at the budget (300).
    result = train(
        "pendulum",
        method="sac",
        budget=300,
        eval_every=120,
        eval_episodes=2,
        out=tmp_path / "sac",
        stop_when_solved=False,
        progress=False,
    )
    assert [row["transitions"] for row in result.metrics] == [0, 120, 240, 300]
