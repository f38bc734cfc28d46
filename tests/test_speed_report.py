"""docs/speed.md generation (scripts/report_speed.py) from ``diffsim bench`` JSON."""

import json
from pathlib import Path

import pytest

from diffsim.scripts import report_speed

ROOT = Path(__file__).resolve().parents[1]
MACHINE = {
    "cpu": "Test CPU",
    "cores": 2,
    "torch_threads": 1,
    "gpu": None,
    "python": "3.11",
    "torch": "2.x",
    "numpy": "2.x",
    "gymnasium": "1.x",
}


def _step(system, path, batch, sps, first=0.0, device="cpu"):
    return dict(kind="step", system=system, device=device, path=path, batch=batch, steps=200,
                seconds=batch * 200 / sps, steps_per_s=sps, first_call_s=first)  # fmt: skip


def _env(env_id, impl, mode, sps, fast=False, how="make"):
    system = "cartpole" if "CartPole" in env_id else "pendulum"
    return dict(kind="env", id=env_id, system=system, impl=impl, mode=mode, vectorization=how,
                num_envs=1 if mode == "single" else 1024, fast=fast, steps_per_s=sps)  # fmt: skip


def _result(gpu=None, extra=()):
    rows = [
        _step("cartpole", "eager", 4096, 1e7),
        _step("cartpole", "fast", 4096, 3e7, first=4.0),
        _step("pendulum", "eager", 4096, 2e7),
        _step("pendulum", "fast", 4096, 3e7, first=3.0),
        dict(kind="bptt", system="cartpole", device="cpu", path="eager", batch=1024, steps=200,
             seconds=2.0, iteration_ms=2000.0, steps_per_s=1024 * 100, first_call_s=2.0),
        dict(kind="bptt", system="cartpole", device="cpu", path="fast", batch=1024, steps=200,
             seconds=1.0, iteration_ms=1000.0, steps_per_s=1024 * 200, first_call_s=9.0),
        _env("CartPole-v1", "gymnasium", "single", 1e5),
        _env("diffsim/CartPole-v1", "diffsim", "single", 5e4),
        _env("CartPole-v1", "gymnasium", "vector", 1e7, how="vector_entry_point"),
        _env("diffsim/CartPole-v1", "diffsim", "vector", 1e7, how="vector_entry_point"),
        _env("diffsim/CartPole-v1", "diffsim", "vector", 1.6e7, True, "vector_entry_point"),
        *extra,
    ]  # fmt: skip
    return {
        "machine": {**MACHINE, "gpu": gpu},
        "config": {"num_envs": 1024, "threads": 1, "cold_compile_cache": True},
        "gymnax": {"available": False, "note": "gymnax not measured: ModuleNotFoundError"},
        "command": "diffsim bench --threads 1",
        "results": rows,
        "errors": [],
    }


def test_page_computes_targets_ratios_and_when_it_pays():
    page = report_speed.render([_result()], ["cpu.json"])
    assert "| CPU: cartpole fast stepping ≥ 2× eager at batch 4,096 | 3.00× | **met** |" in page
    assert "| CPU: pendulum fast stepping ≥ 2× eager at batch 4,096 | 1.50× | **not met** |" in page
    # The envs' targets are bench_envs' (docs/envs.md), not diffsim bench's env rows.
    assert "Gymnasium's NumPy vector env |" not in page and "[envs.md](envs.md#speed)" in page
    assert page.count("**open**: no GPU result yet") == 2
    assert "| cartpole | 4,096 | 1e+07 | 3e+07 | 3.00× | 4.0 s | 300.00× | 3.00× | — |" in page
    assert "fast at 1,024: 2.00× (first call 9.0 s)" in page
    assert "compiles on its first call: 3.0–4.0 s here (cold Inductor cache)" in page
    assert "Machine: Test CPU, 2 cores (1 torch thread(s)), no GPU" in page
    assert "Gymnax not measured" in page and "pip download" in page


def test_gpu_result_closes_the_gpu_targets():
    gpu_rows = [
        _step("cartpole", "fast", 1024, 2e8, device="cuda"),
        _step("cartpole", "fast", 65536, 8e9, device="cuda"),
        dict(kind="gymnax", system="cartpole", device="cuda", path="gymnax", batch=1024,
             steps=200, seconds=1.0, steps_per_s=1e8, first_call_s=1.0),
        dict(kind="gymnax", system="cartpole", device="cuda", path="gymnax", batch=65536,
             steps=200, seconds=1.0, steps_per_s=1e10, first_call_s=1.0),
        dict(kind="bptt", system="cartpole", device="cuda", path="fast", batch=4096, steps=200,
             seconds=0.03, iteration_ms=30.0, steps_per_s=4096 * 200 / 0.03, first_call_s=20.0),
    ]  # fmt: skip
    page = report_speed.render([_result(), _result("H100", gpu_rows)], ["cpu.json", "gpu.json"])
    assert "(least ratio) | 0.80× | **not met** |" in page  # 8e9 / 1e10 at 65,536
    assert "200 steps ≤ 40 ms | 30.0 ms | **met** |" in page
    assert "## GPU run: `gpu.json`" in page and "**open**" not in page


def test_committed_page_is_generated_from_the_committed_results():
    results = sorted((ROOT / "docs" / "results").glob("speed_*.json"))
    if not results:
        pytest.skip("no committed bench results")
    paths = [str(p.relative_to(ROOT)) for p in results]
    page = report_speed.render([json.loads(p.read_text()) for p in results], paths)
    assert (ROOT / "docs" / "speed.md").read_text() == page


def test_the_committed_page_is_generated_from_the_committed_result():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    path = "docs/results/speed_cpu.json"
    result = json.loads((root / path).read_text())
    assert (root / "docs" / "speed.md").read_text() == report_speed.render([result], [path]), (
        "docs/speed.md is stale: python -m diffsim.scripts.report_speed "
        "docs/results/speed_cpu.json > docs/speed.md"
    )
