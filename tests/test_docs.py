"""Every Python example in README.md runs as written.

Examples that need the ``baselines`` extra (stable-baselines3, nevergrad) are skipped, with
the reason, when it is not installed; every other example runs.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
EXTRA_MODULES = ("stable_baselines3", "nevergrad")
"""Top-level modules of the ``baselines`` extra."""


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


def missing_extra(block: str) -> Optional[str]:
    """The skip reason for a block that imports a module of the ``baselines`` extra that is
    not installed; None when the block can run."""
    for module in EXTRA_MODULES:
        if re.search(rf"^\s*(from|import)\s+{module}\b", block, re.M) and _missing(module):
            return f"needs {module}, from the baselines extra, which is not installed"
    return None


def run_block(index: int) -> None:
    """Run README's ``index``-th Python block; a block that reaches a missing module of the
    ``baselines`` extra indirectly (a method by name) is skipped, naming the module."""
    block = BLOCKS[index]
    reason = missing_extra(block)
    if reason:
        pytest.skip(f"README python block {index} {reason}")
    try:
        exec(compile(block, f"README.md python block {index}", "exec"), {})
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top in EXTRA_MODULES and _missing(top):
            pytest.skip(f"README python block {index} needs {top}, from the baselines extra")
        raise


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_block(index)


def test_blocks_needing_the_baselines_extra_skip_without_it(monkeypatch):
    needing = [i for i, b in enumerate(BLOCKS) if "stable_baselines3" in b or "nevergrad" in b]
    assert needing, "README has no example of the baselines extra to check this with"
    for module in EXTRA_MODULES:
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    for index in needing:
        with pytest.raises(pytest.skip.Exception, match=f"README python block {index} needs"):
            run_block(index)
    # A block without them is not skipped by the check.
    assert missing_extra("import torch\nprint(torch.ones(1))\n") is None


def test_an_indirect_import_of_a_missing_extra_skips_and_other_errors_fail(monkeypatch):
    monkeypatch.setitem(sys.modules, "nevergrad", None)
    indirect = "import importlib\nimportlib.import_module('nevergrad')\n"
    monkeypatch.setattr(sys.modules[__name__], "BLOCKS", [indirect, "import not_a_module_xyz\n"])
    with pytest.raises(pytest.skip.Exception, match="block 0 needs nevergrad"):
        run_block(0)
    with pytest.raises(ModuleNotFoundError, match="not_a_module_xyz"):
        run_block(1)
