"""The script that runs Gymnasium's own env tests over our ids, on a stand-in checkout: the
test file it runs sees diffsim's environments instead of Gymnasium's, and every outcome
(pass, failure with its message) reaches the result."""

from __future__ import annotations

import json
import textwrap

import pytest

from diffsim.scripts import gymnasium_env_tests as gt

# A checkout's layout: tests/envs/utils.py builds the list of envs at import (as Gymnasium's
# does, over Gymnasium's own registry), tests/envs/test_envs.py parametrises over it.
UTILS = """
import gymnasium as gym
all_testing_initialised_envs = [gym.make("CartPole-v1").unwrapped]
all_testing_env_specs = [e.spec for e in all_testing_initialised_envs]
"""
TESTS = """
import pytest
from tests.envs.utils import all_testing_env_specs

@pytest.mark.parametrize("spec", all_testing_env_specs, ids=[s.id for s in all_testing_env_specs])
def test_is_ours(spec):
    assert spec.id.startswith("diffsim/"), spec.id

@pytest.mark.parametrize("spec", all_testing_env_specs, ids=[s.id for s in all_testing_env_specs])
def test_not_pendulum(spec):
    assert "Pendulum" not in spec.id, "a pendulum"
"""


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "gym"
    (root / "tests" / "envs").mkdir(parents=True)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "envs" / "__init__.py").write_text("")
    (root / "tests" / "envs" / "utils.py").write_text(textwrap.dedent(UTILS))
    (root / "tests" / "envs" / "test_envs.py").write_text(textwrap.dedent(TESTS))
    return root


def test_runs_the_checkout_tests_over_our_ids(checkout, tmp_path, capsys):
    out = tmp_path / "res.json"
    ids = "diffsim/CartPole-v1,diffsim/Pendulum-v1"
    assert gt.main(["--gymnasium", str(checkout), "--out", str(out), "--ids", ids]) == 1
    result = json.loads(out.read_text())
    assert result["ids"] == ids.split(",")
    outcomes = {t["test"]: t["outcome"] for t in result["tests"]}
    assert outcomes == {
        "test_is_ours[diffsim/CartPole-v1]": "passed",
        "test_is_ours[diffsim/Pendulum-v1]": "passed",
        "test_not_pendulum[diffsim/CartPole-v1]": "passed",
        "test_not_pendulum[diffsim/Pendulum-v1]": "failed",
    }
    failed = [t for t in result["tests"] if t["outcome"] == "failed"]
    assert "a pendulum" in failed[0]["message"]
    assert result["summary"] == {
        "counts": {"passed": 3, "failed": 1},
        "defects": ["test_not_pendulum[diffsim/Pendulum-v1]"],
    }
    assert "DEFECT" in capsys.readouterr().out
    # The checkout itself is left as it was (the run works on a copy).
    assert sorted(p.name for p in (checkout / "tests" / "envs").iterdir()) == [
        "__init__.py",
        "test_envs.py",
        "utils.py",
    ]


def test_a_folder_without_the_test_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="Gymnasium checkout"):
        gt.run(tmp_path)
