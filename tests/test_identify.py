"""System identification (diffsim.identify, ``diffsim fit``): recovery of known constants
from data of Gymnasium's own envs, identifiability, uncertainty, Jacobians against finite
differences, and every bad-data error."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from diffsim.identify import _jacobians, check_data, fit, fit_shots, load_data
from diffsim.scripts.main import main


def gym_data(env_id: str, episodes: int, steps: int, seed: int = 0, **constants: float):
    """Random-action episodes of a Gymnasium env whose constants were changed (CartPole's
    derived ``total_mass`` and ``polemass_length`` re-derived as its constructor does)."""
    env = gym.make(env_id)
    u = env.unwrapped
    for name, value in constants.items():
        setattr(u, name, value)
    if hasattr(u, "polemass_length"):
        u.total_mass = u.masspole + u.masscart
        u.polemass_length = u.masspole * u.length
    env.action_space.seed(seed)
    obs, acts, mask = [], [], []
    for e in range(episodes):
        o, _ = env.reset(seed=seed if e == 0 else None)
        os_, as_, ms = [o], [], []
        for _ in range(steps):
            a = env.action_space.sample()
            o, _, term, trunc, _ = env.step(a)
            os_.append(o)
            as_.append(a)
            ms.append(True)
            if term or trunc:
                break
        while len(as_) < steps:
            os_.append(os_[-1])
            as_.append(np.zeros_like(as_[-1]))
            ms.append(False)
        obs.append(os_)
        acts.append(as_)
        mask.append(ms)
    return np.array(obs), np.array(acts), np.array(mask)


@pytest.fixture(scope="module")
def pendulum_data():
    return gym_data("Pendulum-v1", 2, 100, m=1.3, l=0.8)


@pytest.fixture(scope="module")
def cartpole_data():
    return gym_data("CartPole-v1", 25, 60, length=0.8, masspole=0.2)


def test_pendulum_constants_recovered_from_gymnasium_data(pendulum_data):
    obs, act, mask = pendulum_data
    res = fit("pendulum", obs, act, ["m", "l"], mask=mask)
    assert res.converged
    assert res.params["m"] == pytest.approx(1.3, rel=1e-5)
    assert res.params["l"] == pytest.approx(0.8, rel=1e-5)
    assert res.n_transitions == 200
    # float32 observations: the estimated noise is float32's rounding, not zero
    assert 0 < res.noise_std["theta_dot"] < 1e-5


def test_cartpole_constants_recovered_through_terminations(cartpole_data):
    obs, act, mask = cartpole_data
    assert not mask.all()  # episodes terminated early: the mask matters
    res = fit("cartpole", obs, act, ["length", "masspole"], mask=mask)
    assert res.params["length"] == pytest.approx(0.8, rel=1e-5)
    assert res.params["masspole"] == pytest.approx(0.2, rel=1e-5)
    lo, hi = res.interval95["length"]
    assert lo <= 0.8 <= hi and lo > 0


def test_padding_is_ignored(cartpole_data):
    obs, act, mask = cartpole_data
    garbage = obs.copy()
    pad = np.concatenate([np.zeros((mask.shape[0], 1), bool), ~mask], 1)
    garbage[pad] = 123.0  # finite nonsense where the steps were not taken
    a = fit("cartpole", obs, act, ["length"], mask=mask, rounds=1)
    b = fit("cartpole", garbage, act, ["length"], mask=mask, rounds=1)
    assert a.params["length"] == pytest.approx(b.params["length"], rel=1e-9)


def test_pendulum_g_m_l_together_are_reported_not_identifiable(pendulum_data):
    obs, act, mask = pendulum_data
    res = fit("pendulum", obs, act, ["g", "m", "l"], mask=mask)
    assert res.params == {"g": None, "m": None, "l": None}
    assert res.identifiable == {"g": False, "m": False, "l": False}
    (direction,) = res.unidentified
    # g/l and 1/(m l²) fixed: d log g = d log l = -d log m / 2
    assert direction["m"] == pytest.approx(1.0, abs=1e-3)
    assert direction["g"] == pytest.approx(-0.5, abs=1e-3)
    assert direction["l"] == pytest.approx(-0.5, abs=1e-3)
    assert "not identifiable" in res.table()


def test_a_termination_only_constant_is_not_identifiable(cartpole_data):
    obs, act, mask = cartpole_data
    res = fit("cartpole", obs, act, ["length", "x_threshold"], mask=mask, rounds=1)
    assert res.identifiable == {"length": True, "x_threshold": False}
    assert res.params["x_threshold"] is None and res.std["x_threshold"] is None


def test_noisy_fit_interval_is_honest(pendulum_data):
    obs, act, mask = pendulum_data
    rng = np.random.default_rng(3)
    spread = obs[:, :-1][mask].std(0)
    noisy = obs + rng.normal(size=obs.shape) * 0.01 * spread
    res = fit("pendulum", noisy, act, ["m", "l"], mask=mask)
    for name, truth in (("m", 1.3), ("l", 0.8)):
        assert abs(res.params[name] - truth) < 4 * res.std[name]
        assert 0 < res.std[name] / truth < 0.03
    # the noise level is estimated: 1 % of each entry's spread
    assert res.noise_std["theta_dot"] == pytest.approx(0.01 * spread[2], rel=0.15)


def test_residual_jacobians_match_finite_differences(pendulum_data):
    from diffsim.integrators import get_integrator
    from diffsim.pendulum import SYSTEM, PendulumParams

    obs, act, _ = pendulum_data
    y = torch.as_tensor(obs[:, :6], dtype=torch.float64)
    a = torch.as_tensor(act[:, :5, 0], dtype=torch.float64)
    stepper = get_integrator("semi_implicit_euler")

    def residual(z, x):
        p = PendulumParams(m=z[..., 0].exp(), l=z[..., 1].exp())
        s, outs = x, [SYSTEM.observe(x)]
        for k in range(5):
            s = SYSTEM.step_unchecked(s, a[:, k], p, stepper)
            outs.append(SYSTEM.observe(s))
        return (torch.stack(outs, -2) - y).flatten(-2)

    z = torch.tensor([0.2, -0.1], dtype=torch.float64)
    x = SYSTEM.state_from_observation(y[:, 0]) + 0.01
    r, A, B = _jacobians(residual, z, x)
    h = 1e-6
    for j in range(2):
        dz = torch.zeros(2, dtype=torch.float64)
        dz[j] = h
        fd = (residual(z + dz, x) - residual(z - dz, x)) / (2 * h)
        torch.testing.assert_close(A[..., j], fd, rtol=1e-6, atol=1e-8)
    for i in range(2):
        dx = torch.zeros_like(x)
        dx[:, i] = h
        fd = (residual(z, x + dx) - residual(z, x - dx)) / (2 * h)
        torch.testing.assert_close(B[..., i], fd, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(r, residual(z, x))


def test_acrobot_state_from_observation_inverts_observe():
    from diffsim.acrobot import SYSTEM

    s = torch.tensor([[3.0, -2.5, 1.2, -9.0], [0.1, 0.2, 0.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(SYSTEM.state_from_observation(SYSTEM.observe(s)), s)
    np.testing.assert_allclose(SYSTEM.state_from_observation(SYSTEM.observe(s.numpy())), s.numpy())


def test_wind_recovered_from_landing_distances():
    from diffsim.trebuchet import shoot

    angle = np.array([35.0, 45.0, 55.0, 40.0])
    weight = np.array([150.0, 200.0, 120.0, 240.0])
    with torch.no_grad():
        dist = shoot(
            torch.tensor(-3.2, dtype=torch.float64), torch.tensor(angle), torch.tensor(weight)
        )
    res = fit_shots(angle, weight, dist.numpy(), ["wind"], wind=-2.0, rounds=1, max_iter=20)
    assert res.params["wind"] == pytest.approx(-3.2, abs=1e-6)
    assert res.n_transitions == 4


def test_a_calm_day_is_an_estimate_not_an_unidentified_wind():
    # A signed parameter near zero has a huge relative spread yet is well determined: it
    # must be reported with its interval (the relative-spread rule is for positive ones).
    from diffsim.trebuchet import shoot

    rng = np.random.default_rng(0)
    angle, weight = rng.uniform(30, 60, 10), rng.uniform(100, 250, 10)
    with torch.no_grad():
        dist = shoot(
            torch.tensor(0.03, dtype=torch.float64), torch.tensor(angle), torch.tensor(weight)
        )
    dist = dist.numpy() + rng.normal(size=10) * 2.0
    res = fit_shots(angle, weight, dist, ["wind"])
    assert res.identifiable["wind"]
    lo, hi = res.interval95["wind"]
    assert lo < 0.03 < hi and hi - lo < 2.0  # well determined: under 2 m/s wide


def _bad(match: str, *args, **kwargs):
    with pytest.raises(ValueError, match=match):
        check_data(*args, **kwargs)


def test_bad_data_gets_a_clear_error(cartpole_data):
    obs, act, mask = cartpole_data
    _bad(r"observations must have shape \[E, T\+1, 4\]", "cartpole", obs[..., :3], act)
    _bad(r"observations must have shape", "cartpole", obs[0], act)
    nan = obs.copy()
    nan[1, 2, 3] = np.nan
    _bad(r"observations must be finite, got nan at index \[1, 2, 3\]", "cartpole", nan, act)
    _bad(r"actions must have shape \[E, T\] = \[25, 60\]", "cartpole", obs, act[:, :-1])
    _bad(r"actions must have shape \[E, T\] = \[25, 60\]", "cartpole", obs, act[:-1])
    _bad(r"actions must be indices in 0..1", "cartpole", obs, act + 1)
    _bad(r"mask must be bool", "cartpole", obs, act, mask.astype(int))
    _bad(r"mask must have shape \[E, T\] = \[25, 60\]", "cartpole", obs, act, mask[:, 1:])
    _bad(r"the data hold 0 valid transitions; at least 10", "cartpole", obs, act, mask & False)
    _bad(r"observations must hold T\+1 >= 2", "cartpole", obs[:, :1], act[:, :0])
    pobs, pact, _ = gym_data("Pendulum-v1", 1, 20)
    _bad(
        r"actions must have shape \[E, T, act_dim\] = \[1, 20, act_dim\]",
        "pendulum",
        pobs,
        pact[..., 0],
    )
    inf = pact.copy()
    inf[0, 0, 0] = np.inf
    _bad(r"actions must be finite floats", "pendulum", pobs, inf)


def test_bad_fit_arguments(cartpole_data):
    obs, act, mask = cartpole_data
    with pytest.raises(ValueError, match="unknown CartPole parameter 'lenght'; expected one of"):
        fit("cartpole", obs, act, ["lenght"], mask=mask)
    with pytest.raises(ValueError, match="names a parameter twice"):
        fit("cartpole", obs, act, ["length", "length"], mask=mask)
    with pytest.raises(ValueError, match="at least one parameter"):
        fit("cartpole", obs, act, [], mask=mask)
    with pytest.raises(ValueError, match="window must be an integer >= 1, got 0"):
        fit("cartpole", obs, act, ["length"], mask=mask, window=0)
    with pytest.raises(ValueError, match="starting value of length must be > 0"):
        fit("cartpole", obs, act, ["length"], mask=mask, init={"length": -1.0})
    with pytest.raises(ValueError, match="unknown system"):
        fit("cartpol", obs, act, ["length"], mask=mask)
    with pytest.raises(ValueError, match="one equal length N >= 2"):
        fit_shots([40.0, 45.0], [100.0], [50.0, 60.0])
    with pytest.raises(ValueError, match="unknown Trebuchet parameter 'wnd'"):
        fit_shots([40.0, 45.0], [100.0, 120.0], [50.0, 60.0], ["wnd"])


def test_load_data_names_a_missing_array(tmp_path, cartpole_data):
    obs, act, mask = cartpole_data
    path = tmp_path / "d.npz"
    np.savez(path, observations=obs, mask=mask)
    with pytest.raises(ValueError, match="lacks the array\\(s\\) actions"):
        load_data(path, "cartpole")
    with pytest.raises(FileNotFoundError, match="no data file"):
        load_data(tmp_path / "none.npz", "cartpole")
    np.savez(path, observations=obs, actions=act, mask=mask)
    assert load_data(path, "cartpole").n_transitions == int(mask.sum())


def test_fit_command_writes_fit_json(tmp_path, pendulum_data, capsys):
    obs, act, mask = pendulum_data
    np.savez(tmp_path / "p.npz", observations=obs, actions=act, mask=mask)
    out = tmp_path / "fit"
    args = ["fit", "pendulum", str(tmp_path / "p.npz"), "--out", str(out), "--quiet"]
    assert main([*args, "--params", "m", "--known", "l=0.8"]) == 0
    data = json.loads((out / "fit.json").read_text())
    assert set(data["params"]) == {"m"} and set(data["std"]) == {"m"}
    assert math.isclose(data["params"]["m"], 1.3, rel_tol=1e-5)  # only with l known as 0.8
    assert data["n_transitions"] == 200 and data["settings"]["window"] == 20
    assert data["loss"] < 1e-10 and "estimate" in capsys.readouterr().out
    assert main([*args, "--params", "m,q"]) == 2
    assert "unknown Pendulum parameter 'q'" in capsys.readouterr().err
    assert main([*args, "--params", "m", "--known", "q=1"]) == 2
    assert "PendulumParams field 'q'" in capsys.readouterr().err


def test_the_docs_examples_run_as_written(tmp_path, monkeypatch, capsys):
    import re
    import shlex
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "identify.md").read_text()
    shell = re.findall(r"```bash\n(.*?)```", text, re.S)[0]
    python = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    monkeypatch.chdir(tmp_path)
    for line in shell.strip().splitlines():
        argv = shlex.split(line)
        assert argv[0] == "diffsim"
        assert main([*argv[1:], "--quiet"]) == 0
    fitted = json.loads((tmp_path / "runs" / "fit-cp" / "fit.json").read_text())
    assert fitted["params"] == pytest.approx({"length": 0.8, "masspole": 0.2}, rel=1e-6)
    namespace: dict = {}
    exec(compile(python, "docs/identify.md python block", "exec"), namespace)
    assert namespace["result"].params == pytest.approx(fitted["params"], rel=1e-9)
    assert "length" in capsys.readouterr().out
