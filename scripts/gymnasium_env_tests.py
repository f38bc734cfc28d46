"""Run Gymnasium's own environment tests over diffsim's ids (a repository tool, not in CI).

Gymnasium's ``tests/envs/test_envs.py`` checks every environment it registers: the env
checker with no unexpected warning (``test_all_env_api``), the passive checker that
``gymnasium.make`` adds (``test_all_env_passive_env_checker``), determinism of a seeded
50-step rollout (``test_env_determinism_rollout``) and pickling mid-episode
(``test_pickle_env``). This script runs that file, unchanged, over diffsim's registered ids
instead of Gymnasium's: it copies the checkout's ``tests/`` folder into a temporary
directory and adds a ``conftest.py`` that replaces the list of environments the file
parametrises over (``tests.envs.utils.all_testing_initialised_envs`` and
``all_testing_env_specs``) by diffsim's, before the test module is collected.

Usage, from a Gymnasium checkout of the installed release::

    git clone --depth 1 --branch v1.4.0 https://github.com/Farama-Foundation/Gymnasium /tmp/gym
    python -m diffsim.scripts.gymnasium_env_tests --gymnasium /tmp/gym \\
        --out docs/results/gymnasium_env_tests.json

It writes every test's outcome (and the failure message) to ``--out`` and prints a summary;
``python -m diffsim.scripts.report_docs`` turns the file into the table of ``docs/envs.md``.
Each failure is either listed in :data:`DELIBERATE` (a difference the project keeps on
purpose, with its reason) or is a defect; the exit status is 1 when any failure is not
deliberate. CI does not run it (it needs a Gymnasium checkout); ``tests/test_envs.py`` and
``tests/test_gym_parity.py`` cover the same checks in CI.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

TEST_FILE = "tests/envs/test_envs.py"

DELIBERATE: dict[str, str] = {}
"""Test ids (``test_name[env_id]``) expected to fail, with the reason the project keeps the
difference. Empty: every test passes over every id (see ``docs/envs.md``)."""

_CONFTEST = '''\
"""Written by diffsim.scripts.gymnasium_env_tests: Gymnasium's env tests over diffsim's ids."""

import gymnasium as gym

import diffsim  # noqa: F401  (registers the ids)
import tests.envs.utils as utils

IDS = {ids!r}

_envs = [gym.spec(env_id).make(disable_env_checker=True).unwrapped for env_id in IDS]
utils.all_testing_initialised_envs[:] = _envs
utils.all_testing_env_specs[:] = [env.spec for env in _envs]
'''


def diffsim_ids() -> list[str]:
    """Every id diffsim registers with Gymnasium (built-in systems and tasks)."""
    from diffsim.systems import task_specs

    return list(task_specs())


def _checkout_version(checkout: Path) -> Optional[str]:
    """The checkout's release: ``git describe``, else ``gymnasium/__init__.py``'s version."""
    try:
        out = subprocess.run(
            ["git", "-C", str(checkout), "describe", "--tags", "--always"],
            capture_output=True,
            text=True,
            check=True,
        )
        if out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    init = checkout / "gymnasium" / "__init__.py"
    if init.is_file():
        match = re.search(r'^__version__\s*=\s*"([^"]+)"', init.read_text(), re.M)
        if match:
            return f"v{match.group(1)}"
    return None


def _outcomes(junit: Path) -> list[dict[str, Any]]:
    """One record per test case of a JUnit XML report: id, outcome, message."""
    cases = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (node.get("message") or "").strip()
                break
        cases.append({"test": case.get("name"), "outcome": outcome, "message": message[:500]})
    return cases


def run(checkout: Path, ids: Optional[list[str]] = None) -> dict[str, Any]:
    """Run the checkout's ``tests/envs/test_envs.py`` over ``ids`` (default: all of diffsim's).

    Returns:
        ``{"tests": [{"test", "outcome", "message", "deliberate"}], "summary": {...}, ...}``.

    Raises:
        FileNotFoundError: when ``checkout`` has no ``tests/envs/test_envs.py``.
    """
    import gymnasium

    checkout = Path(checkout)
    if not (checkout / TEST_FILE).is_file():
        raise FileNotFoundError(
            f"{checkout} has no {TEST_FILE}: give the root of a Gymnasium checkout "
            "(git clone --branch v<release> https://github.com/Farama-Foundation/Gymnasium)"
        )
    ids = diffsim_ids() if ids is None else list(ids)
    with tempfile.TemporaryDirectory(prefix="diffsim-gymtests-") as tmp:
        root = Path(tmp)
        shutil.copytree(checkout / "tests", root / "tests")
        (root / "conftest.py").write_text(_CONFTEST.format(ids=ids))
        # An empty ini file of our own: neither the checkout's settings nor ours apply.
        (root / "pytest.ini").write_text("[pytest]\n")
        junit = root / "junit.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            TEST_FILE,
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(root),
            "-c",
            str(root / "pytest.ini"),
            f"--junitxml={junit}",
        ]
        proc = subprocess.run(command, cwd=root, capture_output=True, text=True)
        if not junit.exists():
            raise RuntimeError(
                f"pytest did not run (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                f"{proc.stderr[-3000:]}"
            )
        tests = _outcomes(junit)
    for t in tests:
        t["deliberate"] = DELIBERATE.get(t["test"])
    counts: dict[str, int] = {}
    for t in tests:
        counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
    defects = [
        t["test"] for t in tests if t["outcome"] in ("failed", "error") and not t["deliberate"]
    ]
    return {
        "format": 1,
        "command": "python -m diffsim.scripts.gymnasium_env_tests --gymnasium CHECKOUT",
        "test_file": TEST_FILE,
        "checkout": _checkout_version(checkout),
        "gymnasium": gymnasium.__version__,
        "python": platform.python_version(),
        "ids": ids,
        "tests": tests,
        "summary": {"counts": counts, "defects": defects},
    }


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diffsim.scripts.gymnasium_env_tests",
        description="Run Gymnasium's tests/envs/test_envs.py over diffsim's registered ids.",
    )
    parser.add_argument(
        "--gymnasium", type=Path, required=True, help="root of a Gymnasium checkout"
    )
    parser.add_argument("--out", type=Path, help="write the outcomes to this JSON file")
    parser.add_argument(
        "--ids", help="comma-separated ids to test (default: every id diffsim registers)"
    )
    args = parser.parse_args(argv)
    ids = args.ids.split(",") if args.ids else None
    result = run(args.gymnasium, ids)
    if args.out is not None:
        from diffsim.controllers.checkpoint import write_atomically

        args.out.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=2, allow_nan=False) + "\n"
        write_atomically(args.out, lambda f: f.write(text), text=True)
    counts = result["summary"]["counts"]
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for t in result["tests"]:
        if t["outcome"] in ("failed", "error"):
            why = f"deliberate: {t['deliberate']}" if t["deliberate"] else "DEFECT"
            print(f"  {t['outcome']}: {t['test']} ({why}): {t['message'][:200]}")
    return 1 if result["summary"]["defects"] else 0


if __name__ == "__main__":
    sys.exit(main())
