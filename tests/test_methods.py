"""The method registry, the trainer protocol, the one policy.pt writer, the one observation check.

The registry (``diffsim.controllers.methods``) holds names and ``"module:attr"`` strings and
imports no method; ``train()`` calls the members of ``diffsim.controllers.trainer.Trainer``
and refuses a trainer without them; every method's ``policy.pt`` has the same top-level keys;
every agent checks its observations with ``checkpoint.check_observations``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from diffsim.controllers import checkpoint, methods, train
from diffsim.controllers.trainer import TRAINER_MEMBERS, Trainer, check_trainer

METHOD_MODULES = (
    "aiming",
    "baselines",
    "bptt",
    "checkpoint",
    "gradient_free",
    "shac",
    "trainer",
    "training",
    "_loaders",
)


@pytest.fixture
def registry():
    """Restore the registry's entries and policy kinds after a test that registers some."""
    entries = {name: list(ms) for name, ms in methods._ENTRIES.items()}
    loaders = dict(methods._LOADERS)
    yield methods
    methods._ENTRIES.clear()
    methods._ENTRIES.update(entries)
    methods._LOADERS.clear()
    methods._LOADERS.update(loaders)


def test_the_registry_imports_no_method_module():
    code = textwrap.dedent(
        """
        import sys
        from diffsim.controllers import methods
        methods.get_method("bptt", "diffsim/Trebuchet-v0")
        list(methods.METHODS), methods.method_names(), methods.get_method("shac").env_ids()
        from diffsim.controllers import _names
        _names.METHOD_NAMES["ppo"]
        ours = "diffsim.controllers."
        loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith(ours))
        print(",".join(loaded))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    loaded = set(out.split(","))
    assert "torch" not in loaded
    assert not loaded & {f"diffsim.controllers.{m}" for m in METHOD_MODULES}, loaded


def test_entries_resolve_on_first_use(registry, tmp_path, monkeypatch):
    (tmp_path / "my_method_pkg.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import dataclass

            @dataclass
            class Config:
                lr: float = 0.1

            def default_config(env_id):
                return Config()

            def default_budget(env_id):
                return 123
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_method_pkg", raising=False)
    registry.register_method(
        registry.Method(
            "mine",
            config_path="my_method_pkg:Config",
            trainer_path="my_method_pkg:Trainer",  # not defined: never needed below
            default_config_path="my_method_pkg:default_config",
            default_budget_path="my_method_pkg:default_budget",
            tasks=registry.Tasks(action="continuous"),
            description="a test method",
        )
    )
    m = registry.get_method("mine", "pendulum")
    assert "my_method_pkg" not in sys.modules  # registered and looked up: nothing imported
    assert registry.build_config(m, "diffsim/Pendulum-v1", {"lr": 0.5}).lr == 0.5
    assert "my_method_pkg" in sys.modules
    assert m.default_budget("diffsim/Pendulum-v1") == 123
    assert registry.method_names()["mine"] == "a test method"
    with pytest.raises(AttributeError, match="Trainer"):
        m.trainer_class  # noqa: B018
    # Objects work as entries too (the positional order of the earlier training.Method).
    direct = registry.Method("direct", dict, object, lambda env: {}, lambda env: 1)
    assert direct.config_class is dict and direct.default_budget("x") == 1


def test_unsupported_pairs_name_the_tasks_the_method_trains():
    with pytest.raises(ValueError, match=r"shac trains continuous-action tasks.*Pendulum-v1"):
        methods.get_method("shac", "diffsim/CartPole-v1")
    with pytest.raises(ValueError, match=r"cmaes trains tasks with multi-step dynamics: .*Pole"):
        methods.get_method("cmaes", "trebuchet")
    with pytest.raises(ValueError, match=r"sac trains continuous-action tasks"):
        methods.get_method("sac", "CartPole-v1")
    with pytest.raises(ValueError, match="Gymnasium's own CartPole-v1.*ppo.*bptt trains on"):
        methods.get_method("bptt", "CartPole-v1")
    with pytest.raises(ValueError, match="expected one of:.*bptt.*retrofit"):
        methods.get_method("magic")
    with pytest.raises(ValueError, match="cmaes trains"):
        train("trebuchet", method="cmaes", progress=False)


def test_sb3_methods_list_only_the_tasks_the_zoo_tunes():
    # The zoo tunes nothing for the continuous CartPole or the one-shot trebuchet, so the
    # SB3 methods do not list them (their default_config would refuse them).
    from diffsim.controllers import zoo

    for name in ("ppo", "a2c", "sac", "td3"):
        method = methods.get_method(name)
        for env_id in ("diffsim/CartPoleContinuous-v1", "diffsim/Trebuchet-v0"):
            assert not method.accepts(env_id) and env_id not in method.env_ids(), (name, env_id)
        assert method.env_ids() and all(zoo.entry(name, i) for i in method.env_ids())
    assert methods.get_method("ppo").accepts("diffsim/Acrobot-v1")
    assert methods.get_method("dqn").accepts("MountainCar-v0")
    assert methods.get_method("sac").accepts("MountainCarContinuous-v0")
    with pytest.raises(ValueError, match=r"ppo trains .*Acrobot-v1.*got diffsim/CartPoleCont"):
        methods.get_method("ppo", "cartpole-continuous")


def test_has_config_path_narrows_a_methods_tasks():
    only_pendulum = methods.Method(
        "narrow",
        dict,
        object,
        lambda env: {},
        lambda env: 1,
        tasks=methods.Tasks(action="continuous"),
        has_config_path=lambda env_id: env_id == "diffsim/Pendulum-v1",
    )
    assert only_pendulum.env_ids() == ["diffsim/Pendulum-v1"]
    assert only_pendulum.accepts("diffsim/Pendulum-v1")
    assert not only_pendulum.accepts("diffsim/Pendulum2019-v1")
    assert not only_pendulum.accepts("diffsim/CartPole-v1")  # not among its tasks at all


def test_the_sb3_task_lists_read_the_zoo_without_importing_sb3_or_torch():
    code = textwrap.dedent(
        """
        import json, sys
        from diffsim.controllers import methods
        ids = {n: methods.get_method(n).env_ids() for n in ("ppo", "a2c", "dqn", "sac", "td3")}
        loaded = [m for m in ("torch", "stable_baselines3") if m in sys.modules]
        print(json.dumps({"ids": ids, "loaded": loaded}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert "diffsim/CartPoleContinuous-v1" not in result["ids"]["ppo"]
    assert "diffsim/Trebuchet-v0" not in result["ids"]["sac"]
    assert "Acrobot-v1" in result["ids"]["dqn"]
    assert "MountainCarContinuous-v0" in result["ids"]["td3"]


def test_bptt_on_the_trebuchet_is_an_explicit_listed_entry():
    entries = methods.method_entries("bptt")
    assert [m.trainer_path for m in entries] == [
        "diffsim.controllers.bptt:BPTTTrainer",
        "diffsim.controllers.aiming:AimingTrainer",
    ]
    assert methods.get_method("bptt", "diffsim/Trebuchet-v0") is entries[1]
    assert methods.get_method("bptt", "cartpole") is entries[0]
    assert entries[1].env_ids() == ["diffsim/Trebuchet-v0"]
    assert "diffsim/Trebuchet-v0" not in entries[0].env_ids()
    assert list(methods.METHODS).count("bptt") == 1


def test_each_task_list_is_read_from_the_task_specs():
    from diffsim import systems

    specs = systems.task_specs()
    continuous = [i for i, s in specs.items() if s.action == "continuous"]
    rollout = [i for i, s in specs.items() if s.system in systems.system_names()]
    assert methods.get_method("shac").env_ids() == [i for i in continuous if i in rollout]
    assert methods.get_method("cmaes").env_ids() == rollout
    dqn = methods.get_method("dqn").env_ids()
    assert all(specs[systems.gymnasium_twins().get(i, i)].discrete for i in dqn)
    assert "CartPole-v1" in dqn and "Pendulum-v1" not in dqn


def test_shac_entry_agrees_with_the_trainers_own_list():
    shac = pytest.importorskip("diffsim.controllers.shac")
    if not hasattr(shac, "shac_task_ids"):
        pytest.fail("diffsim.controllers.shac has no shac_task_ids() yet (the SHAC rewrite)")
    assert methods.get_method("shac").env_ids() == list(shac.shac_task_ids())


@pytest.mark.parametrize("name", ["bptt", "shac", "cmaes", "retrofit", "ppo", "sac"])
def test_every_registered_trainer_class_has_the_protocols_methods(name):
    if name in ("cmaes", "retrofit", "ppo", "sac"):
        pytest.importorskip("nevergrad" if name in ("cmaes", "retrofit") else "stable_baselines3")
    import inspect

    for m in methods.method_entries(name):
        cls = m.trainer_class
        for member in ("update", "agent", "save", "state_dict", "load_state_dict"):
            assert callable(getattr(cls, member, None)), f"{cls.__name__} lacks {member}"
        assert "max_transitions" in inspect.signature(cls.update).parameters, cls.__name__


def test_the_built_in_trainers_follow_the_protocol():
    from diffsim.controllers.aiming import AimingConfig, AimingTrainer
    from diffsim.controllers.bptt import BPTTTrainer, default_config

    bptt = BPTTTrainer("cartpole", default_config("cartpole"), 0)
    small = AimingConfig(reach_filter=False, reach_feature=False, batch_size=4)
    for trainer in (bptt, AimingTrainer("trebuchet", small, 0)):
        assert isinstance(trainer, Trainer)
        assert check_trainer(trainer, "bptt") is trainer
        assert isinstance(trainer.policy, torch.nn.Module)
        metrics = trainer.update(max_transitions=4)
        assert metrics["transitions"] >= 1


class _NoSave:
    """A trainer without ``save`` (and otherwise complete)."""

    def __init__(self, env_id, config, seed, device="cpu"):
        self.policy = torch.nn.Linear(1, 1)

    def update(self, max_transitions=None):
        return {"transitions": 1}

    def agent(self):
        raise AssertionError("not reached")

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


@dataclass
class _Config:
    x: int = 0


def test_a_trainer_without_a_protocol_member_is_a_type_error_at_train(registry, tmp_path):
    registry.register_method(
        registry.Method(
            "nosave",
            _Config,
            _NoSave,
            lambda env: _Config(),
            lambda env: 10,
            tasks=registry.Tasks(),
        )
    )
    with pytest.raises(TypeError, match=r"'nosave'.*_NoSave.*has no save \(a trainer has policy"):
        train("cartpole", method="nosave", out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "config.json").exists()
    assert set(TRAINER_MEMBERS) == {
        "policy",
        "update",
        "agent",
        "save",
        "state_dict",
        "load_state_dict",
    }


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _policy_files(tmp_path):
    """``policy.pt`` of each method family, written by its own trainer's ``save``."""
    from diffsim.controllers.aiming import AimingConfig, AimingTrainer
    from diffsim.controllers.bptt import BPTTTrainer, default_config

    files = {}
    files["bptt"] = tmp_path / "bptt.pt"
    BPTTTrainer("cartpole", default_config("cartpole"), 0).save(files["bptt"])
    files["aiming"] = tmp_path / "aiming.pt"
    small = AimingConfig(reach_filter=False, reach_feature=False, batch_size=4)
    AimingTrainer("trebuchet", small, 0).save(files["aiming"])
    if _installed("nevergrad"):
        from diffsim.controllers import gradient_free

        cfg = gradient_free.CMAESConfig(popsize=2, episodes=1)
        files["cmaes"] = tmp_path / "cmaes.pt"
        gradient_free.CMAESTrainer("cartpole", cfg, 0).save(files["cmaes"])
    if _installed("stable_baselines3"):
        from diffsim.controllers import baselines

        cfg = baselines.PPOTrainer.default_config("diffsim/CartPole-v1")
        files["ppo"] = tmp_path / "ppo.pt"
        baselines.PPOTrainer("diffsim/CartPole-v1", cfg, 0).save(files["ppo"])
    return files


def test_every_methods_policy_file_has_the_same_top_level_keys(tmp_path):
    files = _policy_files(tmp_path)
    kinds = {}
    for name, path in files.items():
        data = torch.load(path, weights_only=True)
        assert set(data) == {*checkpoint.POLICY_KEYS, "payload"}, name
        assert data["format"] == checkpoint.POLICY_FORMAT
        assert data["version"] == checkpoint.RUN_FORMAT
        kinds[name] = data["kind"]
    assert kinds["bptt"] == "control_policy" and kinds["aiming"] == "aiming_network"
    assert kinds.get("ppo", "sb3") == "sb3"
    assert kinds.get("cmaes", "control_policy") == "control_policy"


def test_check_observations_gives_a_batch_and_names_the_expected_shapes():
    batch, single = checkpoint.check_observations([1.0, 2.0, 3.0], 3)
    assert single and batch.shape == (1, 3) and batch.dtype == np.float32
    batch, single = checkpoint.check_observations(np.zeros((5, 3)), 3)
    assert not single and batch.shape == (5, 3)
    for bad in (np.zeros(4), np.zeros((2, 4)), np.zeros((2, 2, 3)), 1.0):
        with pytest.raises(ValueError, match=r"expected observations of shape \[3\] or \[B, 3\]"):
            checkpoint.check_observations(bad, 3)


def test_every_agent_uses_the_one_observation_check(tmp_path):
    files = _policy_files(tmp_path)
    for name, path in files.items():
        run = tmp_path / name
        run.mkdir()
        run.joinpath("policy.pt").write_bytes(path.read_bytes())
        agent = checkpoint.load_policy(run)
        size = 2 if name == "aiming" else 4
        with pytest.raises(ValueError, match=rf"expected observations of shape \[{size}\] or"):
            agent.act(np.zeros((2, size + 1), np.float32))
        single, batch = agent.act(np.zeros(size, np.float32)), agent.act(np.zeros((3, size)))
        assert np.shape(batch)[0] == 3
        assert np.shape(single) == np.shape(batch)[1:]


class _Zeros:
    def act(self, obs):
        return np.zeros(len(obs), np.int64)


class _NoTransitions(_NoSave):
    """A complete trainer whose update forgets ``"transitions"``."""

    def update(self, max_transitions=None):
        return {"loss": 0.0}

    def agent(self):
        return _Zeros()

    def save(self, path):
        checkpoint.write_policy(
            path, "test", {}, env_id="diffsim/CartPole-v1", discrete=True, method="notr"
        )


def test_an_update_without_transitions_is_a_type_error(registry, tmp_path):
    registry.register_method(
        registry.Method("notr", _Config, _NoTransitions, lambda e: _Config(), lambda e: 10)
    )
    with pytest.raises(TypeError, match=r"_NoTransitions.update\(\) returned no 'transitions'"):
        train("cartpole", method="notr", out=tmp_path / "r", eval_episodes=2, progress=False)


def test_the_moved_names_warn_and_point_to_the_registry(registry):
    from diffsim.controllers import _loaders, aiming, training

    with pytest.warns(DeprecationWarning, match=r"methods.get_method\('bptt', 'diffsim/Treb"):
        entry = aiming.METHOD
    assert entry is methods.get_method("bptt", "diffsim/Trebuchet-v0")
    with pytest.warns(DeprecationWarning, match="methods.register_policy_kind"):
        _loaders.register_loader("mine", lambda path, data: "agent")
    assert methods.policy_loader("mine")(None, None) == "agent"
    assert training.get_method is methods.get_method and training.METHODS is methods.METHODS
