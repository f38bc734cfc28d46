"""The RL Baselines3 Zoo's entries for Acrobot-v1, MountainCar-v0 and MountainCarContinuous-v0.

The expected values are typed from the zoo's YAML files (DLR-RM/rl-baselines3-zoo, commit
fa5daa8f0b78a88d44068850e74393ec7dd568cf, ``hyperparams/{ppo,a2c,dqn,sac,td3}.yml``), so the
tests check this project's table against the source, then what :func:`zoo.prepare` and the
SB3 trainer build from it, then short runs on this project's ids and Gymnasium's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffsim.controllers import baselines, train, zoo

pytest.importorskip("stable_baselines3")  # the baselines extra

# The zoo's YAML at fa5daa8, entry by entry (``!!float 1e6`` written 1_000_000).
YAML = {
    ("ppo", "Acrobot-v1"): {
        "normalize": True,
        "n_envs": 16,
        "n_timesteps": 1_000_000,
        "policy": "MlpPolicy",
        "n_steps": 256,
        "gae_lambda": 0.94,
        "gamma": 0.99,
        "n_epochs": 4,
        "ent_coef": 0.0,
    },
    ("ppo", "MountainCar-v0"): {
        "normalize": True,
        "n_envs": 16,
        "n_timesteps": 1_000_000,
        "policy": "MlpPolicy",
        "n_steps": 16,
        "gae_lambda": 0.98,
        "gamma": 0.99,
        "n_epochs": 4,
        "ent_coef": 0.0,
    },
    ("ppo", "MountainCarContinuous-v0"): {
        "normalize": True,
        "n_envs": 1,
        "n_timesteps": 20_000,
        "policy": "MlpPolicy",
        "batch_size": 256,
        "n_steps": 8,
        "gamma": 0.9999,
        "learning_rate": 7.77e-05,
        "ent_coef": 0.00429,
        "clip_range": 0.1,
        "n_epochs": 10,
        "gae_lambda": 0.9,
        "max_grad_norm": 5,
        "vf_coef": 0.19,
        "use_sde": True,
        "policy_kwargs": "dict(log_std_init=-3.29, ortho_init=False)",
    },
    ("a2c", "Acrobot-v1"): {
        "normalize": True,
        "n_envs": 16,
        "n_timesteps": 500_000,
        "policy": "MlpPolicy",
        "ent_coef": 0.0,
    },
    ("a2c", "MountainCar-v0"): {
        "normalize": True,
        "n_envs": 16,
        "n_timesteps": 1_000_000,
        "policy": "MlpPolicy",
        "ent_coef": 0.0,
    },
    ("a2c", "MountainCarContinuous-v0"): {
        "normalize": True,
        "n_envs": 4,
        "n_steps": 100,
        "n_timesteps": 100_000,
        "policy": "MlpPolicy",
        "ent_coef": 0.0,
        "use_sde": True,
        "sde_sample_freq": 16,
        "policy_kwargs": "dict(log_std_init=0.0, ortho_init=False)",
    },
    ("dqn", "Acrobot-v1"): {
        "n_timesteps": 100_000,
        "policy": "MlpPolicy",
        "learning_rate": 6.3e-4,
        "batch_size": 128,
        "buffer_size": 50_000,
        "learning_starts": 0,
        "gamma": 0.99,
        "target_update_interval": 250,
        "train_freq": 4,
        "gradient_steps": -1,
        "exploration_fraction": 0.12,
        "exploration_final_eps": 0.1,
        "policy_kwargs": "dict(net_arch=[256, 256])",
    },
    ("dqn", "MountainCar-v0"): {
        "n_timesteps": 120_000,
        "policy": "MlpPolicy",
        "learning_rate": 4e-3,
        "batch_size": 128,
        "buffer_size": 10_000,
        "learning_starts": 1000,
        "gamma": 0.98,
        "target_update_interval": 600,
        "train_freq": 16,
        "gradient_steps": 8,
        "exploration_fraction": 0.2,
        "exploration_final_eps": 0.07,
        "policy_kwargs": "dict(net_arch=[256, 256])",
    },
    ("sac", "MountainCarContinuous-v0"): {
        "n_timesteps": 50_000,
        "policy": "MlpPolicy",
        "learning_rate": 3e-4,
        "buffer_size": 50_000,
        "batch_size": 512,
        "ent_coef": 0.1,
        "train_freq": 32,
        "gradient_steps": 32,
        "gamma": 0.9999,
        "tau": 0.01,
        "learning_starts": 0,
        "use_sde": True,
        "policy_kwargs": "dict(log_std_init=-3.67, net_arch=[64, 64])",
    },
    ("td3", "MountainCarContinuous-v0"): {
        "n_timesteps": 300_000,
        "policy": "MlpPolicy",
        "noise_type": "ornstein-uhlenbeck",
        "noise_std": 0.5,
        "gradient_steps": 1,
        "train_freq": 1,
        "learning_rate": 1e-3,
        "batch_size": 256,
        "policy_kwargs": "dict(net_arch=[400, 300])",
    },
}
CLASSIC = ("Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(("algo", "name"), sorted(YAML))
def test_each_entry_is_the_zoos_yaml(algo, name):
    assert zoo.ZOO[algo][name] == YAML[algo, name]
    assert list(zoo.ZOO[algo][name]) == list(YAML[algo, name])  # the YAML's key order too
    for env_id in (f"diffsim/{name}", name):
        assert zoo.entry(algo, env_id) == name
        config = baselines.default_config(algo, env_id)
        assert config.merged == YAML[algo, name]
        assert config.zoo_entry.endswith(f"hyperparams/{algo}.yml, entry {name}")
        assert baselines.default_budget(algo, env_id) == YAML[algo, name]["n_timesteps"]


def test_the_table_has_every_entry_the_zoo_has_for_these_envs_and_no_other():
    have = {(algo, name) for algo, entries in zoo.ZOO.items() for name in entries}
    assert {pair for pair in have if pair[1] in CLASSIC} == set(YAML)
    for algo, env_id in [("dqn", "diffsim/MountainCarContinuous-v0"), ("sac", "Acrobot-v1")]:
        assert zoo.entry(algo, env_id) is None and not getattr(zoo.HAS_ENTRY, algo)(env_id)
    assert zoo.HAS_ENTRY.dqn("MountainCar-v0") and zoo.HAS_ENTRY.td3("diffsim/Pendulum-v1")


def test_prepare_normalizes_with_the_algorithms_gamma_or_vecnormalizes_defaults():
    ppo = zoo.prepare(zoo.ZOO["ppo"]["Acrobot-v1"], 0)
    assert ppo.n_envs == 16 and ppo.n_timesteps == 1_000_000
    assert ppo.normalize == {"gamma": 0.99}
    assert ppo.kwargs == {"n_steps": 256, "gae_lambda": 0.94, "gamma": 0.99, "n_epochs": 4,
                          "ent_coef": 0.0}  # fmt: skip
    a2c = zoo.prepare(zoo.ZOO["a2c"]["MountainCar-v0"], 0)
    assert a2c.normalize == {} and a2c.n_envs == 16  # no gamma in the entry: SB3's default
    mcc = zoo.prepare(zoo.ZOO["ppo"]["MountainCarContinuous-v0"], 1)
    assert mcc.normalize == {"gamma": 0.9999} and mcc.n_envs == 1
    assert mcc.kwargs["learning_rate"] == 7.77e-05  # a constant, not a schedule
    # normalize as the zoo also writes it: a dict, or a string of one (either spelling).
    for value in (
        "{'norm_obs': True, 'norm_reward': False}",
        "dict(norm_obs=True, norm_reward=False)",
        {"norm_obs": True, "norm_reward": False},
    ):
        prepared = zoo.prepare({**zoo.ZOO["ppo"]["Acrobot-v1"], "normalize": value}, 0)
        assert prepared.normalize == {"norm_obs": True, "norm_reward": False, "gamma": 0.99}
    assert zoo.prepare({**zoo.ZOO["ppo"]["Acrobot-v1"], "normalize": False}, 0).normalize is None


def test_prepare_gives_the_gsde_the_noise_and_the_off_policy_settings():
    sac = zoo.prepare(zoo.ZOO["sac"]["MountainCarContinuous-v0"], 1)
    assert sac.kwargs["use_sde"] is True and sac.normalize is None and sac.n_envs == 1
    assert sac.kwargs["policy_kwargs"] == {"log_std_init": -3.67, "net_arch": [64, 64]}
    assert (sac.kwargs["train_freq"], sac.kwargs["gradient_steps"]) == (32, 32)
    a2c = zoo.prepare(zoo.ZOO["a2c"]["MountainCarContinuous-v0"], 1)
    assert a2c.kwargs["sde_sample_freq"] == 16 and a2c.n_envs == 4
    assert a2c.kwargs["policy_kwargs"] == {"log_std_init": 0.0, "ortho_init": False}
    ppo = zoo.prepare(zoo.ZOO["ppo"]["MountainCarContinuous-v0"], 1)
    assert ppo.kwargs["policy_kwargs"] == {"log_std_init": -3.29, "ortho_init": False}
    dqn = zoo.prepare(zoo.ZOO["dqn"]["Acrobot-v1"], 0)
    assert dqn.kwargs["gradient_steps"] == -1 and dqn.kwargs["train_freq"] == 4
    assert dqn.kwargs["policy_kwargs"] == {"net_arch": [256, 256]}
    from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise

    td3 = zoo.prepare(zoo.ZOO["td3"]["MountainCarContinuous-v0"], 1)
    noise = td3.kwargs["action_noise"]
    assert isinstance(noise, OrnsteinUhlenbeckActionNoise)
    assert np.array_equal(noise._sigma, [0.5]) and np.array_equal(noise._mu, [0.0])
    assert "noise_type" not in td3.kwargs and "noise_std" not in td3.kwargs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"frame_stack": 4}, "frame_stack are not supported"),
        ({"env_wrapper": ["gymnasium.wrappers.TimeAwareObservation"]}, "env_wrapper"),
        ({"callback": "rl_zoo3.callbacks.ParallelTrainCallback"}, "callback"),
        ({"policy": "my_package.MyPolicy"}, "SB3's policy names"),
        ({"normalize": "dict(norm_obs=True"}, "normalize must be written"),
        ({"normalize": 1.0}, "normalize must be True, False"),
        ({"noise_type": "pink", "noise_std": 0.1}, "normal, ornstein-uhlenbeck.*'pink'"),
        ({"noise_type": "normal", "noise_std": None}, "needs noise_std"),
        ({"noise_type": None}, "noise_std needs a noise_type"),
        ({"policy_kwargs": "dict(net_arch=NETS)"}, "policy_kwargs must be written"),
    ],
)
def test_prepare_refuses_what_it_cannot_reproduce(change, message):
    with pytest.raises(ValueError, match=message):
        zoo.prepare({**zoo.ZOO["td3"]["MountainCarContinuous-v0"], **change}, 1)


@pytest.mark.parametrize(
    ("algo", "env_id"),
    [
        ("ppo", "diffsim/Acrobot-v1"),
        ("a2c", "MountainCar-v0"),
        ("ppo", "diffsim/MountainCarContinuous-v0"),
        ("sac", "MountainCarContinuous-v0"),
        ("td3", "diffsim/MountainCarContinuous-v0"),
        ("dqn", "diffsim/Acrobot-v1"),
    ],
)
def test_the_trainer_builds_sb3_with_the_entry(algo, env_id):
    from stable_baselines3.common.vec_env import VecNormalize

    hp = zoo.ZOO[algo][zoo.entry(algo, env_id)]
    trainer = baselines.TRAINERS[algo](env_id, baselines.default_config(algo, env_id), seed=0)
    model, env = trainer.model, trainer.model.get_env()
    assert env.num_envs == hp.get("n_envs", 1)
    assert isinstance(env, VecNormalize) == bool(hp.get("normalize"))
    if isinstance(env, VecNormalize):
        assert env.gamma == hp.get("gamma", 0.99) and env.norm_obs and env.norm_reward
    assert model.schedule_timesteps == hp["n_timesteps"]
    assert getattr(model, "use_sde", False) == hp.get("use_sde", False)
    log_std_init = zoo.prepare(hp, 1).kwargs.get("policy_kwargs", {}).get("log_std_init")
    if log_std_init is not None:
        assert (
            torch.all(model.policy.log_std == log_std_init)
            if algo != "sac"
            else torch.all(model.actor.log_std == log_std_init)
        )
    for key in ("n_steps", "train_freq", "gradient_steps", "batch_size", "gamma", "tau"):
        if key in hp:
            value = getattr(model, key)
            assert (value.frequency if key == "train_freq" else value) == hp[key], key


def _run(tmp_path, env, method, budget, overrides):
    return train(
        env,
        method=method,
        seed=0,
        out=tmp_path,
        config={"overrides": overrides},
        budget=budget,
        eval_every=budget,
        eval_episodes=1,
        stop_when_solved=False,
        progress=False,
    )


# Short versions of the entries (smaller networks and rollouts), one per algorithm and env.
SHORT = {
    ("dqn", "acrobot"): (128, {"policy_kwargs": "dict(net_arch=[32, 32])", "batch_size": 32}),
    ("ppo", "mountaincar"): (256, {"n_envs": 4, "n_steps": 32}),
    ("sac", "mountaincar-continuous"): (
        32,
        {"policy_kwargs": "dict(log_std_init=-3.67, net_arch=[16, 16])", "batch_size": 32},
    ),
}


@pytest.mark.parametrize(("method", "env"), sorted(SHORT))
def test_a_short_run_on_our_id_is_the_run_on_gymnasiums(tmp_path, method, env):
    # The equivalence check of docs/benchmarks.md: the same entry, seed and budget give the
    # same training and evaluations on this project's env and on Gymnasium's twin.
    from diffsim import systems

    budget, overrides = SHORT[method, env]
    ours_id = systems.short_names()[env]
    theirs_id = {v: k for k, v in systems.gymnasium_twins().items()}[ours_id]
    ours = _run(tmp_path / "ours", env, method, budget, overrides).metrics
    theirs = _run(tmp_path / "theirs", theirs_id, method, budget, overrides).metrics
    skip = ("train_seconds", "eval_seconds")
    assert [{k: v for k, v in r.items() if k not in skip} for r in ours] == [
        {k: v for k, v in r.items() if k not in skip} for r in theirs
    ]
    assert len(ours) == 2 and ours[-1]["transitions"] >= budget
    assert ours[-1]["gradient_steps"] > 0
