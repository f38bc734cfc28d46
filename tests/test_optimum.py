"""The optimal-return yardstick (``diffsim optimum``, :mod:`diffsim.controllers.optimum`)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from diffsim import mountain_car as mc
from diffsim import pendulum
from diffsim.controllers.optimum import GridOptimum, optimum
from diffsim.scripts.main import main


def test_one_step_values_are_the_best_reward_by_hand():
    """With one step left the value of a grid state is its best reward: for Pendulum
    −(θ² + 0.1·θ̇² + 0.001·u²) at u = 0 (θ already in [−π, π))."""
    dp = GridOptimum("pendulum", (8, 5), actions=5, horizon=1)
    theta = -math.pi + 2 * math.pi * np.arange(8) / 8
    speed = np.linspace(-8, 8, 5)
    expected = -(theta[:, None] ** 2 + 0.1 * speed[None, :] ** 2)
    torch.testing.assert_close(dp.values[0], torch.tensor(expected.reshape(-1)))
    assert torch.equal(dp.values[1], torch.zeros(40, dtype=torch.float64))
    states = torch.tensor([[0.3, 1.0], [-2.0, -5.0]], dtype=torch.float64)
    assert dp.q_values(states, 0).argmax(0).tolist() == [2, 2]  # the zero torque


def test_interpolation_is_bilinear_and_periodic_in_the_angle():
    dp = GridOptimum("pendulum", (12, 7), actions=3, horizon=1)
    theta = -math.pi + 2 * math.pi * torch.arange(12, dtype=torch.float64) / 12
    speed = torch.linspace(-8, 8, 7, dtype=torch.float64)
    # A field linear in the speed and periodic (a cosine, sampled) in the angle.
    field = 3.0 * speed[None, :] + torch.cos(theta)[:, None]
    dp.values[0] = field.reshape(-1)
    gen = torch.Generator().manual_seed(0)
    s = torch.stack([torch.rand(50, generator=gen) * 2 * math.pi - math.pi,
                     torch.rand(50, generator=gen) * 16 - 8], -1).double()  # fmt: skip
    # Between two angle points the field is interpolated linearly in the angle, exactly.
    h = 2 * math.pi / 12
    k = torch.floor((s[:, 0] + math.pi) / h)
    u = (s[:, 0] + math.pi) / h - k
    cos_lin = (1 - u) * torch.cos(-math.pi + k * h) + u * torch.cos(-math.pi + (k + 1) * h)
    torch.testing.assert_close(dp.value(s), 3.0 * s[:, 1] + cos_lin)
    # An angle past π wraps: the same value as its image 2π lower, and speeds beyond the
    # grid's bounds take the boundary's value.
    wrapped = s + torch.tensor([2 * math.pi, 0.0], dtype=torch.float64)
    torch.testing.assert_close(dp.value(wrapped), dp.value(s))
    fast = torch.tensor([[0.1, 20.0]], dtype=torch.float64)
    torch.testing.assert_close(dp.value(fast), dp.value(torch.tensor([[0.1, 8.0]]).double()))


def test_the_greedy_policy_beats_pushing_along_the_velocity(tmp_path):
    """On a coarse grid the discrete car's greedy policy reaches the goal sooner than pushing
    along the velocity (-119.47 on the protocol's starts, docs/results/
    mountaincar_optimum.json, by an independent NumPy loop), and the value at the starts
    agrees with the evaluated return."""
    result = optimum("mountaincar", [(46, 36), (91, 71)], progress=False)
    coarse, fine = result["grids"]
    assert result["optimum"] == fine["eval_return_mean"] > -115
    assert len(fine["eval_returns"]) == 100 and min(fine["eval_returns"]) >= -200
    assert abs(fine["value_start_mean"] - fine["eval_return_mean"]) < 0.05 * 115
    assert result["actions"] == 3 and result["env_id"] == "diffsim/MountainCar-v0"
    assert result["standard_error"] == pytest.approx(fine["eval_return_std"] / math.sqrt(99))


def test_optimum_command_writes_its_result(tmp_path, capsys):
    out = tmp_path / "opt.json"
    args = ["optimum", "pendulum", "--grids", "24x17", "--actions", "9", "--episodes", "4"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert data["env_id"] == "diffsim/Pendulum-v1" and data["episodes"] == 4
    assert data["grids"][0]["grid"] == [24, 17] and data["actions"] == 9
    assert isinstance(data["command"], str) and "torch" in data["machine"]
    assert "diffsim/Pendulum-v1: optimum" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["cartpole"], "states no state bounds"),
        (["pendulum", "--episodes", "0"], "--episodes must be at least 1"),
    ],
)
def test_optimum_refuses_a_task_without_bounds_or_episodes(args, message, tmp_path, capsys):
    out = tmp_path / "opt.json"
    assert main(["optimum", *args, "--out", str(out), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "grids, message", [("1x5", "at least 2x2"), ("20by5", "expected grid sizes NxM")]
)
def test_optimum_refuses_bad_grids(grids, message, tmp_path, capsys):
    out = tmp_path / "opt.json"
    with pytest.raises(SystemExit) as stop:
        main(["optimum", "pendulum", "--grids", grids, "--out", str(out)])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_state_bounds_and_observations_of_the_systems():
    assert pendulum.SYSTEM.state_bounds(pendulum.DEFAULT_PARAMS) == (
        (-math.pi, math.pi, True),
        (-8.0, 8.0, False),
    )
    assert mc.SYSTEM.state_bounds(mc.DEFAULT_PARAMS) == ((-1.2, 0.6, False), (-0.07, 0.07, False))
    theta = np.array([0.5, -3.0, math.pi])
    obs = pendulum.observe(np.stack([theta, np.array([1.0, 2.0, 3.0])], -1))
    back = pendulum.state_from_observation(obs)
    np.testing.assert_allclose(back[:, 0], theta, atol=1e-12)
    torch.testing.assert_close(
        pendulum.state_from_observation(torch.as_tensor(obs)), torch.as_tensor(back)
    )
