"""docs/systems.md's example (a system of the user's own, registered from outside the
package) runs as written and prints what the page says it prints.

It runs in a fresh interpreter: registering a system changes the process-wide registries
(diffsim's and Gymnasium's), which the other tests read.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "systems.md").read_text()


def test_the_example_runs_and_prints_its_output(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", PAGE, re.S)
    assert len(blocks) == 1, "docs/systems.md should hold one Python example"
    expected = re.search(r"Output:\n\n```\n(.*?)```", PAGE, re.S)
    assert expected, "docs/systems.md should show the example's output"
    script = tmp_path / "drag_example.py"
    script.write_text(blocks[0])
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == expected.group(1)


def test_the_table_lists_every_built_in_system_and_task():
    from diffsim.envs.registration import ENV_IDS  # the built-in ids, fixed at import
    from diffsim.systems import get_task_spec

    for env_id in ENV_IDS:
        spec = get_task_spec(env_id)
        assert f"`{spec.short_name}`: `{env_id}`" in PAGE, env_id
        if spec.generic:
            assert f"| `{spec.system}` |" in PAGE, spec.system
