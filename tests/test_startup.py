"""Start-up cost, the light name table, per-task default methods and install shadowing.

The import checks run in subprocesses: this test process has imported torch long ago.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from diffsim.controllers import _names
from diffsim.scripts.main import SUBCOMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "stable_baselines3", "nevergrad")
METHOD_MODULES = (
    "diffsim.controllers.training",
    "diffsim.controllers.bptt",
    "diffsim.controllers.shac",
    "diffsim.controllers.baselines",
    "diffsim.controllers.aiming",
)


def _imported_after(code: str, watch: tuple[str, ...] = HEAVY + METHOD_MODULES) -> list[str]:
    """Run ``code`` in a fresh interpreter; the modules of ``watch`` it left in sys.modules."""
    probe = (
        "import sys\n"
        f"{code}\n"
        f"print('LOADED=' + ','.join(m for m in {watch!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT.parent
    )
    assert out.returncode == 0, out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("LOADED=")][-1]
    return [m for m in line.removeprefix("LOADED=").split(",") if m]


def _help_of(argv: list[str]) -> str:
    return (
        "import contextlib, io\n"
        "from diffsim.scripts.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
    )


def test_building_the_parser_imports_no_torch_or_method_module():
    assert _imported_after("import diffsim.scripts.main as m\nm.build_parser()") == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["train", "--help"],
        ["compare", "--help"],
        ["eval", "--help"],
        ["bench", "--help"],
        ["sweep", "--help"],
        ["plot", "--help"],
        ["plot", "trajectory", "--help"],
        ["animate", "--help"],
    ],
)
def test_help_imports_no_torch_or_method_module(argv):
    assert _imported_after(_help_of(argv)) == []


def test_machine_info_reads_optional_versions_without_importing_them():
    code = (
        "from diffsim._machine import machine_info\n"
        "import json\n"
        "print('INFO=' + json.dumps(machine_info()))\n"
    )
    assert _imported_after(code, ("stable_baselines3", "nevergrad", "ray", "optuna")) == []
    sb3 = pytest.importorskip("stable_baselines3")
    ng = pytest.importorskip("nevergrad")
    from diffsim._machine import machine_info

    info = machine_info()
    assert info["stable_baselines3"] == sb3.__version__
    assert info["nevergrad"] == ng.__version__
    ray = pytest.importorskip("ray")
    optuna = pytest.importorskip("optuna")
    assert info["ray"] == ray.__version__
    assert info["optuna"] == optuna.__version__


def test_import_diffsim_registers_the_ids_without_torch():
    code = (
        "import diffsim\n"
        "assert 'torch' not in sys.modules\n"
        "import gymnasium as gym\n"
        "assert 'diffsim/CartPole-v1' in gym.registry\n"
        "env = gym.make('diffsim/Pendulum-v1')\n"
        "obs, _ = env.reset(seed=0)\n"
        "assert obs.shape == (3,)\n"
    )
    # Making an env loads its module (and torch): only the start is light.
    assert "torch" in _imported_after(code, ("torch",))


def test_the_physics_imports_no_gymnasium():
    code = "import diffsim.cartpole, diffsim.pendulum, diffsim.integrators"
    assert _imported_after(code, ("gymnasium", "torch")) == ["torch"]


@pytest.mark.parametrize(
    "first",
    ["import diffsim", "import diffsim.cartpole", "import gymnasium as gym\nimport diffsim"],
)
def test_the_ids_are_registered_whichever_comes_first(first):
    # diffsim first: nothing of Gymnasium is imported until the program imports it; then
    # the ids are there, and the one-shot finder is gone with Gymnasium's loader as it was.
    code = (
        f"{first}\n"
        f"assert ('gymnasium' in sys.modules) == {'gymnasium' in first}\n"
        "import gymnasium as gym\n"
        "assert [i for i in gym.registry if i.startswith('diffsim/')] == [\n"
        "    'diffsim/CartPole-v1', 'diffsim/CartPoleContinuous-v1', 'diffsim/Pendulum-v1',\n"
        "    'diffsim/Pendulum2019-v1', 'diffsim/Trebuchet-v0', 'diffsim/Acrobot-v1',\n"
        "    'diffsim/MountainCar-v0', 'diffsim/MountainCarContinuous-v0']\n"
        "assert not [f for f in sys.meta_path if type(f).__module__.startswith('diffsim')]\n"
        "assert 'exec_module' not in vars(gym.__spec__.loader)\n"
        "import diffsim._gymnasium as hook\n"
        "hook.register_on_gymnasium_import()  # again: no second registration, no finder\n"
        "assert not [f for f in sys.meta_path if type(f).__module__.startswith('diffsim')]\n"
        "assert gym.make('diffsim/CartPole-v1').reset(seed=0)[0].shape == (4,)\n"
    )
    assert _imported_after(code, ("gymnasium",)) == ["gymnasium"]


def test_without_gymnasium_the_package_and_physics_still_import():
    # sys.modules[name] = None makes every import of name fail, as if it were not installed.
    code = (
        "sys.modules['gymnasium'] = None\n"
        "import torch, diffsim\n"
        "from diffsim import cartpole\n"
        "assert cartpole.step(torch.zeros(4), torch.ones(())).shape == (4,)\n"
        "try:\n"
        "    import diffsim.envs\n"
        "except ImportError as err:\n"
        "    assert 'gymnasium' in str(err), err\n"
        "else:\n"
        "    raise AssertionError('diffsim.envs imported without Gymnasium')\n"
    )
    assert _imported_after(code, ("diffsim.envs",)) == []


def test_lazy_public_names_are_the_submodules_objects():
    import diffsim.cartpole
    import diffsim.envs.cartpole_env
    import diffsim.envs.rollout
    import diffsim.integrators
    from diffsim import CartPoleParams, PendulumParams, debug_checks, get_integrator
    from diffsim import envs as envs_pkg
    from diffsim.controllers import evaluate as evaluate_fn
    from diffsim.envs import CartPoleEnv, rollout

    assert CartPoleParams is diffsim.cartpole.CartPoleParams
    assert PendulumParams is diffsim.pendulum.PendulumParams
    assert get_integrator is diffsim.integrators.get_integrator
    assert debug_checks is diffsim._debug.debug_checks
    assert CartPoleEnv is diffsim.envs.cartpole_env.CartPoleEnv
    # The functions that share their submodule's name stay the functions.
    assert rollout is sys.modules["diffsim.envs.rollout"].rollout
    assert envs_pkg.rollout is rollout
    assert evaluate_fn is sys.modules["diffsim.controllers.evaluate"].evaluate
    assert diffsim.trebuchet.__name__ == "diffsim.trebuchet"
    for package in (diffsim, diffsim.envs, diffsim.controllers):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        diffsim.nope  # noqa: B018


def test_subcommand_help_lines_agree_with_their_modules():
    parser = build_parser(load_all=True)
    action = next(a for a in parser._actions if a.dest == "command")
    assert action.filler.helps == SUBCOMMANDS


# -- the name table and the per-task default methods ------------------------------------------


def test_name_table_agrees_with_the_registries():
    from diffsim.controllers import training
    from diffsim.controllers.evaluate import EVAL_EPISODES
    from diffsim.envs import registration
    from diffsim.envs.rollout import GYMNASIUM_TWINS, SHORT_NAMES

    training.get_method("bptt")  # registers the built-in methods
    assert list(_names.METHOD_NAMES) == list(training.METHODS)
    assert _names.TASK_NAMES == SHORT_NAMES
    assert _names.GYMNASIUM_TWIN_NAMES == GYMNASIUM_TWINS
    assert set(_names.DEFAULT_METHODS) <= {*registration.ENV_IDS, *GYMNASIUM_TWINS}
    for env_id in registration.ENV_IDS:  # tasks without published results: the derived default
        if env_id not in _names.DEFAULT_METHODS:
            assert _names.default_method(env_id) == _names.DERIVED_DEFAULT_METHOD, env_id
    assert _names.EVAL_EPISODES == EVAL_EPISODES


def test_each_default_method_is_one_that_trains_its_task():
    from diffsim.controllers import methods

    for env_id, name in _names.DEFAULT_METHODS.items():
        method = methods.get_method(name, env_id)
        assert method.accepts(env_id) and env_id in method.env_ids(), (env_id, name)
        if env_id in _names.GYMNASIUM_TWIN_NAMES:
            assert method.gymnasium_ids, env_id
        if name == "shac":
            from diffsim.controllers.shac import shac_task_ids

            assert env_id in shac_task_ids()


def test_default_methods_solved_every_seed_in_the_published_results():
    # Every task with a published comparison (docs/results/*/results.json): its default
    # method solved all of its seeds in at least one of them (Pendulum-v1's bptt-only run,
    # which solved none, is why its default is shac). cartpole-continuous and the trebuchet
    # have no comparison file (the trebuchet's aiming network: docs/results/aiming.json).
    solved_by: dict[str, set[str]] = {}
    for path in sorted((ROOT / "docs" / "results").glob("*/results.json")):
        result = json.loads(path.read_text())
        for method, row in result["summary"].items():
            if row["seeds_solved"] == row["seeds"]:
                solved_by.setdefault(result["env_id"], set()).add(method)
    assert set(solved_by) >= {
        "diffsim/CartPole-v1",
        "diffsim/Pendulum-v1",
        "diffsim/Pendulum2019-v1",
        "CartPole-v1",
        "Pendulum-v1",
    }
    for env_id, methods in solved_by.items():
        assert _names.default_method(env_id) in methods, env_id


def test_default_method_accepts_short_names_and_ids_and_names_a_bad_one():
    assert _names.default_method("pendulum") == "shac"
    assert _names.default_method("diffsim/Pendulum-v1") == "shac"
    assert _names.default_method("cartpole") == "bptt"
    with pytest.raises(ValueError, match=r"unknown environment 'pendulm'.*pendulum-2019"):
        _names.default_method("pendulm")


@pytest.mark.parametrize(
    ("env", "module", "config"),
    [
        ("pendulum", "shac", "SHACConfig"),
        ("cartpole", "bptt", "BPTTConfig"),
        ("pendulum-2019", "bptt", "BPTTConfig"),
    ],
)
def test_train_without_method_uses_the_tasks_default(env, module, config, capsys):
    import importlib

    config_class = getattr(importlib.import_module(f"diffsim.controllers.{module}"), config)
    assert main(["train", env, "--show-config"]) == 0
    shown = [line.split(" = ")[0] for line in capsys.readouterr().out.splitlines()]
    assert shown == [f.name for f in dataclasses.fields(config_class)]


def test_pendulum_2019_default_is_bptt_with_the_linear_head(capsys):
    assert main(["train", "pendulum-2019", "--show-config"]) == 0
    out = capsys.readouterr().out
    assert "'head': 'linear'" in out


def test_train_help_lists_every_method_task_and_default(capsys):
    from diffsim.controllers import training
    from diffsim.envs.rollout import GYMNASIUM_TWINS, SHORT_NAMES

    training.get_method("bptt")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    # argparse may wrap a line after a hyphen ("cartpole-" / "continuous"): join those back.
    text = re.sub(r"-\s+", "-", " ".join(capsys.readouterr().out.split()))
    for name in [*training.METHODS, *SHORT_NAMES, *SHORT_NAMES.values(), *GYMNASIUM_TWINS]:
        assert name in text, name
    assert "pendulum: shac" in text
    assert "cartpole: bptt" in text


def test_compare_without_methods_uses_the_tasks_default(monkeypatch, tmp_path):
    from diffsim.scripts import compare

    seen = {}
    monkeypatch.setattr(compare, "run", lambda args: seen.setdefault("methods", args.methods))
    main(["compare", "pendulum", "--out", str(tmp_path)])
    assert seen["methods"] == "shac"


# -- the repository's diffsim/ folder shadowing a regular installation ------------------------


def _python_without_site(cwd: Path, first: Path) -> list[str]:
    """An interpreter that sees ``first`` (then site-packages) without running .pth files.

    ``-S`` skips ``site``, so the editable install's import hook (a .pth file) is not
    installed: like a regular install, only the folders on sys.path count.
    """
    paths = [str(first), *site.getsitepackages()]
    return [
        sys.executable,
        "-S",
        "-B",
        "-c",
        f"import sys; sys.path[:0] = {paths!r}\n"
        "import diffsim, gymnasium as gym\n"
        "print(len([i for i in gym.registry if i.startswith('diffsim/')]))",
    ]


def test_repository_folder_shadowing_an_install_is_a_clear_error(tmp_path):
    checkout = tmp_path / "checkout"  # the repository root: diffsim/ without its subpackages
    shutil.copytree(ROOT / "diffsim", checkout / "diffsim", ignore=shutil.ignore_patterns("*.pyc"))
    out = subprocess.run(
        _python_without_site(checkout, checkout),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=checkout,
    )
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: diffsim was imported from")
    assert "shadowing the installed package" in last
    assert "Run from another directory" in last
    assert "pip install -e ." in last


def test_a_regular_install_layout_imports_and_registers(tmp_path):
    # The layout `pip install .` writes: the root folders copied into the package.
    package = tmp_path / "site" / "diffsim"
    ignore = shutil.ignore_patterns("*.pyc", "__pycache__")
    shutil.copytree(ROOT / "diffsim", package, ignore=ignore)
    for sub in ("envs", "controllers", "scripts"):
        shutil.copytree(ROOT / sub, package / sub, ignore=ignore)
    out = subprocess.run(
        _python_without_site(tmp_path, tmp_path / "site"),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    from diffsim.envs.registration import ENV_IDS  # the built-in ids, fixed at import

    assert out.stdout.strip() == str(len(ENV_IDS))


def test_library_train_without_method_uses_the_tasks_default(tmp_path):
    import json

    from diffsim.controllers import training

    result = training.train(
        "pendulum", out=tmp_path / "run", budget=1, eval_episodes=1, progress=False, max_updates=1
    )
    assert json.loads((tmp_path / "run" / "config.json").read_text())["method"] == "shac"
    assert result.env_id == "diffsim/Pendulum-v1"
