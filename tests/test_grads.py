"""Gradient health (``diffsim grads``): each measurement against an independent value, the
REINFORCE reference against the exact expectation, the command and its errors."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from diffsim.controllers import grads
from diffsim.controllers.bptt import default_config, policy_spec_for
from diffsim.controllers.policies import ControlPolicy, build_policy
from diffsim.envs.rollout import get_task
from diffsim.scripts.main import main


def _zero_policy(task_name: str) -> ControlPolicy:
    task = get_task(task_name)
    spec = replace(policy_spec_for(task, default_config(task)), init_scale=0.0)
    return build_policy(spec, torch.Generator().manual_seed(0)).to(torch.float64)


def test_the_lyapunov_exponent_of_the_upright_pendulum_is_that_of_its_linearisation():
    # Pendulum2019 with a zero torque, started exactly upright: the state stays there and the
    # Jacobian of H steps is M^H, M the semi-implicit Euler step's linearisation
    # (θ̇' = θ̇ + 3g/(2l)·θ·dt, θ' = θ + θ̇'·dt).
    task = get_task("pendulum-2019")
    net = _zero_policy("pendulum-2019")
    p = task.params
    a, dt = 3 * p.g / (2 * p.l), p.dt
    step = np.array([[1 + a * dt * dt, dt], [a * dt, 1.0]])
    starts = torch.zeros(3, 2, dtype=torch.float64)
    loss = grads._Loss(task, grads._objective(task, "return"))
    for horizon, (spread, kept) in zip((5, 40), grads._lyapunov(loss, net, starts, [5, 40], 0)):
        sigma = np.linalg.norm(np.linalg.matrix_power(step, horizon), 2)
        assert kept == 3
        assert spread["median"] == pytest.approx(math.log(sigma) / (horizon * dt), rel=1e-10)
    # Long horizons tend to the log of the unstable eigenvalue per second.
    mu = max(abs(np.linalg.eigvals(step)))
    ((spread, _),) = grads._lyapunov(loss, net, starts, [200], 0)
    assert spread["median"] == pytest.approx(math.log(mu) / dt, rel=2e-2)


def test_a_terminated_start_is_left_out_of_the_exponent():
    task = get_task("cartpole")
    net = _zero_policy("cartpole")
    loss = grads._Loss(task, grads._objective(task, "balance"))
    starts = torch.zeros(2, 4, dtype=torch.float64)
    starts[1, 2] = 0.2  # past the 12° threshold: terminates at the first step
    ((_, kept),) = grads._lyapunov(loss, net, starts, [20], 0)
    assert kept == 1
    ((spread, kept),) = grads._lyapunov(loss, net, starts[1:], [20], 0)
    assert spread is None and kept == 0


@pytest.mark.parametrize("task_name", ["cartpole", "acrobot"])
def test_the_reinforce_reference_is_the_gradient_of_the_expected_loss(task_name, monkeypatch):
    # Two steps from one start (repeated): the exact gradient of E_a[L] is the policy's
    # probabilities differentiated, each action sequence's loss enumerated; REINFORCE must agree
    # within a few of its standard errors.
    from diffsim.envs.rollout import rollout

    task = get_task(task_name)
    start = task.sample_initial(1, torch.Generator().manual_seed(11), torch.float64)
    monkeypatch.setattr(
        type(task), "sample_initial", lambda self, n, *a, **k: start.expand(n, -1).clone()
    )
    spec = policy_spec_for(task, default_config(task))
    net = build_policy(replace(spec, init_scale=1.0), torch.Generator().manual_seed(3))
    net = net.to(torch.float64)
    objective = grads._objective(task, default_config(task).loss)
    if spec.head == "binary":
        values = [1.0, -1.0]
    else:
        values = [float(v) for v in net.actions]
    horizon = 2
    total = torch.zeros((), dtype=torch.float64)
    for sequence in itertools.product(range(len(values)), repeat=horizon):
        logps = []

        def act(obs, sequence=sequence, logps=logps):
            k = sequence[len(logps)]
            u = net.score(obs.detach())
            if spec.head == "binary":
                logps.append(torch.nn.functional.logsigmoid(u if k == 0 else -u))
            else:
                logps.append(torch.log_softmax(u, -1)[..., k])
            v = spec.action_scale * values[k] + spec.action_offset
            return torch.full((obs.shape[0],), v, dtype=obs.dtype)

        out = rollout(act, task, start, horizon)
        total = total + torch.stack(logps).sum(0).exp().mean() * objective(out).detach().mean()
    (exact,) = grads._grads([total], list(net.parameters()))
    ((ref, rel_stderr),) = grads._reinforce(task, net, objective, [horizon], 16384, seed=5)
    assert 0 < rel_stderr < 0.05
    error = float((ref - exact).norm() / exact.norm())
    assert error < 4 * rel_stderr


@pytest.mark.parametrize("estimator", ["st_argmax", "st_gumbel", "expected"])
def test_one_batched_backward_equals_one_pass_per_horizon(estimator):
    # _grads vectorises the backward pass over the horizons' losses (vmap, through the
    # estimators' custom autograd functions); each row must be that loss's own gradient.
    task = get_task("acrobot")
    spec = replace(policy_spec_for(task, default_config(task)), estimator=estimator)
    net = build_policy(spec, torch.Generator().manual_seed(1)).to(torch.float64)
    params = list(net.parameters())
    loss = grads._Loss(task, grads._objective(task, "balance"))
    starts = task.sample_initial(5, torch.Generator().manual_seed(2), torch.float64)
    values = loss(net, starts, [3, 7, 12], noise_seed=4)
    singles = []
    for value in values:
        single = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
        flat = [torch.zeros_like(p) if g is None else g for g, p in zip(single, params)]
        singles.append(torch.cat([f.reshape(-1) for f in flat]))
    for row, flat in zip(grads._grads(values, params), singles):
        assert flat.abs().max() > 0
        torch.testing.assert_close(row, flat, rtol=1e-12, atol=1e-14)


def test_measurements_on_a_smooth_task(tmp_path):
    r = grads.gradient_health("pendulum", horizons=[5, 20], samples=3, batch=8)
    assert [row["horizon"] for row in r["horizons"]] == [5, 20]
    for row in r["horizons"]:
        assert row["fd_rel_error"] < 1e-6  # float64 autograd = central difference
        assert row["grad_norm"]["q25"] <= row["grad_norm"]["median"] <= row["grad_norm"]["q75"]
        assert row["snr"] > 0 and row["lyapunov_starts"] == 8
        assert "estimators" not in row
    assert r["loss"] == "return" and r["policy"] == "fresh" and r["settings"]["batch"] == 8


def test_the_signal_to_noise_ratio_is_its_definition(monkeypatch):
    # Equal batches: no noise, an infinite ratio; two batches g and −g: no signal, ratio 0.
    task = get_task("pendulum")
    same = task.sample_initial(4, torch.Generator().manual_seed(0), torch.float64)
    monkeypatch.setattr(type(task), "sample_initial", lambda self, *a, **k: same.clone())
    r = grads.gradient_health(task, horizons=[5], samples=2, batch=4)
    assert r["horizons"][0]["snr"] == math.inf


def test_a_discrete_task_compares_every_estimator():
    r = grads.gradient_health("cartpole", horizons=[5], samples=2, batch=4, reference_samples=200)
    row = r["horizons"][0]
    assert set(row["estimators"]) == {"st_sign", "st_gumbel", "expected"}
    for v in row["estimators"].values():
        assert v["rel_bias"] >= 0 and -1 <= v["cosine"] <= 1 and v["rel_std"] >= 0
    assert r["estimator"] == "expected" and r["loss"] == "balance"


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match="past diffsim/Pendulum-v1's time limit of 200"):
        grads.gradient_health("pendulum", horizons=[300])
    with pytest.raises(ValueError, match="samples must be an int of at least 2, got 1"):
        grads.gradient_health("pendulum", samples=1)
    with pytest.raises(ValueError, match="each horizon must be an int of at least 1"):
        grads.gradient_health("pendulum", horizons=[0])
    with pytest.raises(ValueError, match="fd_eps must be a positive number"):
        grads.gradient_health("pendulum", fd_eps=0.0)
    with pytest.raises(ValueError, match="reference_samples must be an int of at least 100"):
        grads.gradient_health("cartpole", reference_samples=10)
    with pytest.raises(TypeError, match="a ControlPolicy"):
        grads.gradient_health("pendulum", policy=object())
    with pytest.raises(ValueError, match="reads 4 observations and diffsim/Pendulum-v1 has 3"):
        grads.gradient_health("pendulum", policy=_zero_policy("cartpole"))
    with pytest.raises(ValueError, match="not a rollout task"):
        grads.gradient_health("trebuchet")


def test_the_command_writes_its_result_figure_and_table(tmp_path, capsys):
    out = tmp_path / "g"
    args = ["grads", "pendulum", "--horizons", "5,10", "--samples", "2", "--batch", "4"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    r = json.loads((out / "grads.json").read_text())
    assert r["env_id"] == "diffsim/Pendulum-v1" and r["command"].startswith("diffsim")
    assert (out / "grads.png").stat().st_size > 10_000
    table = capsys.readouterr().out
    assert "FD rel. error" in table and "grads.json" in table
    with pytest.raises(SystemExit):
        main([*args[:3], "5,x", "--out", str(out)])
    assert "expected positive integers" in capsys.readouterr().err


def test_the_command_reads_a_trained_run(tmp_path, capsys):
    from diffsim.controllers import train

    run = tmp_path / "run"
    train("cartpole", method="bptt", seed=0, out=run, budget=1000, progress=False)
    out = tmp_path / "g"
    argv = ["grads", "cartpole", "--policy", str(run), "--horizons", "5", "--samples", "2"]
    argv += ["--batch", "4", "--reference-samples", "100", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    r = json.loads((out / "grads.json").read_text())
    assert r["policy"] == str(run) and "bias st_sign" in capsys.readouterr().out


def test_the_figure_refuses_empty_input():
    from diffsim.scripts.plots import gradient_health_figure

    with pytest.raises(ValueError, match="at least one"):
        gradient_health_figure([])
    with pytest.raises(ValueError, match="has no horizons"):
        gradient_health_figure([{"env_id": "x", "horizons": []}])


def test_the_docs_python_example_runs(capsys):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "gradients.md").read_text()
    (python,) = re.findall(r"```python\n(.*?)```", text, re.S)
    namespace: dict = {}
    exec(compile(python, "docs/gradients.md python block", "exec"), namespace)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["10", "50"]
    assert namespace["result"]["env_id"] == "diffsim/Pendulum-v1"


def test_default_horizons_stop_at_the_time_limit(monkeypatch):
    assert grads.default_horizons("pendulum") == [10, 20, 50, 100, 200]
    monkeypatch.setattr(grads, "DEFAULT_HORIZONS", (10, 300, 600))
    assert grads.default_horizons("cartpole") == [10, 300]


def test_the_benchmark_writes_its_result_and_figures(tmp_path, capsys):
    from diffsim.scripts import bench_grads

    out = tmp_path / "grads.json"
    argv = ["--out", str(out), "--tasks", "pendulum", "--trained", "", "--samples", "2"]
    assert bench_grads.main([*argv, "--batch", "4", "--quiet"]) == 0
    r = json.loads(out.read_text())
    (result,) = r["results"]
    assert result["policy"] == "fresh" and result["seconds"] > 0
    assert [row["horizon"] for row in result["horizons"]] == [10, 20, 50, 100, 200]
    figure = tmp_path / "grads" / "fresh.png"
    assert figure.stat().st_size > 10_000 and not (tmp_path / "grads" / "trained.png").exists()
    figure.unlink()
    assert bench_grads.main(["--out", str(out), "--plot-only"]) == 0
    assert figure.exists() and "wrote" in capsys.readouterr().out
