"""MountainCar-v0 and MountainCarContinuous-v0 (diffsim.mountain_car,
diffsim.continuous_mountain_car) against Gymnasium's own envs, hand-derived steps and float64
finite differences.

Parity is bitwise on the NumPy path: observations compared as bytes, rewards by type and
value, terminated and truncated exactly, over seeded episodes with resets on termination and
truncation. The policies mix random actions with an energy-pumping rule (push along the
velocity) so that episodes terminate at the goal and the left wall is hit; the continuous
actions include values beyond ±1, whose force is clipped while the reward takes them as
given.
"""

from __future__ import annotations

import json
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_match import check_environments_match
from torch.autograd import gradcheck

from diffsim import continuous_mountain_car as cmc
from diffsim import mountain_car as mc
from diffsim import systems
from diffsim.envs import rollout
from diffsim.integrators import get_integrator

IDS = ["MountainCar-v0", "MountainCarContinuous-v0"]
SEMI = get_integrator("semi_implicit_euler")
EXACT = cmc.ContinuousMountainCarParams(float32_rounding=False)
"""The continuous car's plain float64 equations (what gradcheck can check)."""


def _policy(obs: np.ndarray, rng: np.random.Generator, discrete: bool) -> np.ndarray:
    """Random actions mixed with pushes along the velocity (60 %), for one obs [2] or a batch
    [N, 2]; continuous actions in [−1.5, 1.5] (float32), beyond the Box on purpose."""
    v = obs[..., 1]
    shape = np.shape(v)
    pump = rng.random(shape) < 0.6
    if discrete:
        return np.where(pump, np.where(v >= 0, 2, 0), rng.integers(0, 3, size=shape))
    along = np.sign(v + 1e-9) * rng.uniform(0.3, 1.4, size=shape)
    out = np.where(pump, along, rng.uniform(-1.5, 1.5, size=shape))
    return out[..., None].astype(np.float32)


def _same(a, b) -> bool:
    return type(a) is type(b) and np.asarray(a).tobytes() == np.asarray(b).tobytes()


# --- registration --------------------------------------------------------------------------


def test_registered_tasks_and_systems():
    for gid, name, action, limit, threshold in [
        ("MountainCar-v0", "mountaincar", "discrete", 200, -110.0),
        ("MountainCarContinuous-v0", "mountaincar-continuous", "continuous", 999, 90.0),
    ]:
        task = systems.get_task_spec(name)
        assert task.env_id == f"diffsim/{gid}" and task.gymnasium_id == gid
        assert task.action == action and task.system == name
        assert task.max_episode_steps == limit == gym.spec(gid).max_episode_steps
        assert task.reward_threshold == threshold == gym.spec(gid).reward_threshold
        assert task.solved_return == threshold
        spec = gym.spec(task.env_id)
        assert spec.max_episode_steps == limit and spec.reward_threshold == threshold
        assert systems.get_system(name).name == name
    assert systems.get_system("mountaincar") is mc.SYSTEM
    assert systems.get_system("mountaincar-continuous") is cmc.SYSTEM
    assert mc.SYSTEM.discrete_actions == (-1.0, 0.0, 1.0)
    assert mc.SYSTEM.render_fps == cmc.SYSTEM.render_fps == 30
    assert gym.make("MountainCar-v0").metadata["render_fps"] == 30


@pytest.mark.parametrize("gid", IDS)
def test_spaces_and_attributes_are_gymnasiums(gid):
    ref, ours = gym.make(gid).unwrapped, gym.make(f"diffsim/{gid}").unwrapped
    assert ours.action_space == ref.action_space
    for name in ours.system.env_attributes:
        assert getattr(ours, name) == getattr(ref, name), name
    with pytest.raises(AttributeError, match="read-only|params"):
        ours.max_speed = 1.0
    assert np.all(ours.observation_space.low <= ref.observation_space.low)
    assert np.all(ours.observation_space.high >= ref.observation_space.high)


@pytest.mark.parametrize("gid", IDS)
def test_observation_space_equals_gymnasiums(gid):
    assert gym.make(f"diffsim/{gid}").observation_space == gym.make(gid).observation_space


@pytest.mark.parametrize("gid", IDS)
def test_gymnasium_check_env(gid, monkeypatch):
    from gymnasium.utils.env_checker import check_env

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(gym.make(f"diffsim/{gid}").unwrapped)
    assert not [str(w.message) for w in caught]


# --- parity with Gymnasium -----------------------------------------------------------------


@pytest.mark.parametrize("gid", IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_env_equals_gymnasium_bitwise(gid, seed):
    discrete = gid == "MountainCar-v0"
    ref, ours = gym.make(gid), gym.make(f"diffsim/{gid}")
    rng = np.random.default_rng(seed)
    obs, _ = ref.reset(seed=seed)
    assert _same(ours.reset(seed=seed)[0], obs)
    ends = walls = 0
    for t in range(1200):
        action = _policy(obs, rng, discrete)
        action = int(action) if discrete else action
        expected, got = ref.step(action), ours.step(action)
        assert _same(got[0], expected[0]), (t, got[0], expected[0])
        assert _same(got[1], expected[1]), (t, got[1], expected[1])  # reward: type and bits
        assert got[2] is expected[2] and got[3] is expected[3], t
        obs = expected[0]
        walls += bool(obs[0] == np.float32(-1.2))
        if expected[2] or expected[3]:
            ends += 1
            obs, _ = ref.reset()
            assert _same(ours.reset()[0], obs)
    assert ends >= 4 and walls >= 1  # goals reached and the wall hit along the way


@pytest.mark.parametrize("gid", IDS)
def test_check_environments_match(gid):
    check_environments_match(
        gym.make(f"diffsim/{gid}"), gym.make(gid), 1000, seed=4, skip_render=True
    )


@pytest.mark.parametrize("gid", IDS)
def test_reset_draw_and_options_as_gymnasium(gid):
    ref, ours = gym.make(gid).unwrapped, gym.make(f"diffsim/{gid}").unwrapped
    for seed, options in [(0, None), (5, {"low": -0.7, "high": 0.5}), (6, {"high": -0.45})]:
        a, b = ref.reset(seed=seed, options=options)[0], ours.reset(seed=seed, options=options)[0]
        assert _same(a, b) and np.array_equal(ours.state, ref.state)
        assert ours.state.dtype == np.float64 and ours.state[1] == 0.0
    for bad in ({"low": 0.1, "high": -0.1}, {"high": "high"}):
        with pytest.raises(ValueError):
            ours.reset(options=bad)
        with pytest.raises(ValueError):
            ref.reset(options=bad)
    with pytest.raises(ValueError, match="finite"):  # Gymnasium: numpy's OverflowError
        ours.reset(options={"low": float("nan")})


@pytest.mark.parametrize("gid", IDS)
def test_goal_velocity_option_as_gymnasium(gid):
    discrete = gid == "MountainCar-v0"
    ref = gym.make(gid, goal_velocity=0.02)
    ours = gym.make(f"diffsim/{gid}", goal_velocity=0.02)
    assert ours.unwrapped.goal_velocity == ours.unwrapped.params.goal_velocity == 0.02
    rng = np.random.default_rng(9)
    obs, _ = ref.reset(seed=9)
    ours.reset(seed=9)
    ends = 0
    for _ in range(600):
        action = _policy(obs, rng, discrete)
        action = int(action) if discrete else action
        expected, got = ref.step(action), ours.step(action)
        assert all(_same(g, e) for g, e in zip(got[:4], expected[:4]))
        obs = expected[0]
        if expected[2] or expected[3]:
            ends += 1
            obs, _ = ref.reset()
            ours.reset()
    assert ends >= 1


@pytest.mark.parametrize("gid", IDS)
def test_vector_env_equals_sync_vector_env(gid):
    discrete = gid == "MountainCar-v0"
    ref = gym.make_vec(gid, 4, vectorization_mode="sync")
    ours = gym.make_vec(f"diffsim/{gid}", 4)
    rng = np.random.default_rng(3)
    obs, _ = ref.reset(seed=11)
    assert _same(ours.reset(seed=11)[0], obs)
    autoresets = 0
    for t in range(400):
        action = _policy(obs, rng, discrete)
        expected, got = ref.step(action), ours.step(action)
        for e, g in zip(expected[:4], got[:4]):
            assert e.dtype == g.dtype and e.tobytes() == g.tobytes(), (t, e, g)
        autoresets += int((expected[2] | expected[3]).sum())
        obs = expected[0]
    assert expected[1].dtype == np.float64 and autoresets >= 2


def test_float32_rounding_is_what_makes_the_continuous_car_bitwise():
    # The plain float64 equations drift from Gymnasium's float32 state within an episode.
    ref = gym.make("MountainCarContinuous-v0")
    ours = gym.make("diffsim/MountainCarContinuous-v0", params=EXACT)
    rng = np.random.default_rng(0)
    obs, _ = ref.reset(seed=0)
    ours.reset(seed=0)
    differ = 0
    for _ in range(200):
        action = _policy(obs, rng, False)
        obs, got = ref.step(action)[0], ours.step(action)[0]
        differ += not _same(obs, got)
    assert differ > 0


def test_fresh_float64_states_step_in_float64_and_float32_states_in_float32():
    # Gymnasium's first step after a reset starts from the float64 draw; later steps from
    # its float32 state. The step reads which from the position.
    ref = gym.make("MountainCarContinuous-v0").unwrapped
    x64 = -0.5123456789012345
    for state in ([x64, 0.0], [float(np.float32(x64)), float(np.float32(0.0123))]):
        ref.reset(seed=0)
        ref.state = np.array(state) if state[0] == x64 else np.array(state, np.float32)
        action = np.array([0.7], np.float32)
        ref.step(action)
        ours = cmc.step(np.array(state), action[0:1].reshape(()))
        assert ours.dtype == np.float64 and np.array_equal(ours, ref.state.astype(np.float64))
        assert np.array_equal(ours, ours.astype(np.float32))  # float32 values


# --- the equations by hand -----------------------------------------------------------------


def test_discrete_step_by_hand():
    x, v = -0.5, 0.01
    for push in (-1.0, 0.0, 1.0):
        v1 = v + (push * 0.001 - 0.0025 * math.cos(3 * x))
        expected = np.array([x + v1, v1])
        assert np.array_equal(mc.step(np.array([x, v]), np.array(push)), expected)
    # the speed clip, the right end, the wall, the push clip
    assert mc.step(np.array([-0.5236, 0.0695]), np.array(1.0))[1] == 0.07
    assert mc.step(np.array([0.58, 0.05]), np.array(1.0))[0] == 0.6
    np.testing.assert_array_equal(mc.step(np.array([-1.18, -0.05]), np.array(-1.0)), [-1.2, 0])
    np.testing.assert_array_equal(
        mc.step(np.array([-0.5, 0.0]), np.array(3.0)), mc.step(np.array([-0.5, 0.0]), np.array(1.0))
    )
    terminated = mc.terminated(np.array([[0.5, 0.0], [0.5, -1e-9], [0.49, 0.01]]))
    assert terminated.tolist() == [True, False, False]
    assert mc.reward(np.zeros(2), np.array(1.0), np.zeros((3, 2))).tolist() == [-1.0] * 3


def test_continuous_step_and_reward_by_hand():
    x, v, a = -0.5, 0.01, 0.6
    v1 = v + (a * 0.0015 - 0.0025 * math.cos(3 * x))
    np.testing.assert_array_equal(cmc.step(np.array([x, v]), np.array(a), EXACT), [x + v1, v1])
    # Beyond ±1 the force is clipped, the reward takes the action as given.
    assert np.array_equal(
        cmc.step(np.array([x, v]), np.array(2.5), EXACT),
        cmc.step(np.array([x, v]), np.array(1.0), EXACT),
    )
    below, at_goal = np.array([0.3, 0.01]), np.array([0.46, 0.01])
    assert cmc.reward(below, np.array(2.5), below) == -0.1 * 2.5**2
    assert cmc.reward(below, np.array(-0.5), at_goal) == 100.0 - 0.1 * 0.25
    assert bool(cmc.terminated(at_goal)) and not cmc.terminated(np.array([0.46, -0.01]))
    # Gymnasium compares its float32 state with float32 thresholds: float32(0.45) < 0.45.
    goal32 = float(np.float32(0.45))
    assert goal32 < 0.45 and bool(cmc.terminated(np.array([goal32, 0.0])))
    assert not cmc.terminated(np.array([goal32, 0.0]), EXACT)


def test_params_are_validated():
    with pytest.raises(ValueError, match="min_position"):
        mc.MountainCarParams(min_position=0.7)
    with pytest.raises(ValueError, match="min_action"):
        cmc.ContinuousMountainCarParams(min_action=1.0, max_action=-1.0)
    with pytest.raises(ValueError, match="max_speed"):
        cmc.ContinuousMountainCarParams(max_speed=0.0)
    with pytest.raises(TypeError, match="float32_rounding"):
        cmc.ContinuousMountainCarParams(float32_rounding=1)
    with pytest.raises(ValueError, match="shape"):
        cmc.step(torch.zeros(3, 2), torch.zeros(4))


# --- torch --------------------------------------------------------------------------------


def _random_batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-0.6, -0.4, n), np.zeros(n)], -1), rng


@pytest.mark.parametrize("module", [mc, cmc], ids=["discrete", "continuous"])
def test_torch_float64_follows_numpy(module):
    """300 steps of 64 pumping cars from the reset distribution: torch float64 within 1e-9
    of NumPy's float64 (the same roundings; only torch's cos may differ by an ulp)."""
    state, rng = _random_batch(64, 0)
    tstate = torch.from_numpy(state.copy())
    worst = 0.0
    for _ in range(300):
        push = np.sign(state[:, 1] + 1e-9) * rng.uniform(0.0, 1.3, 64)
        state = module.step(state, push)
        tstate = module.step(tstate, torch.from_numpy(push))
        worst = max(worst, float(np.abs(tstate.numpy() - state).max()))
    assert worst <= 1e-9
    assert (state[:, 0] >= 0.45).any()  # some reached the goal region


def test_torch_float32_step():
    state = torch.tensor([[-0.5, 0.01], [0.2, -0.03]])
    for module in (mc, cmc):
        out = module.step(state, torch.tensor([0.5, -0.5]))
        ref = module.step(state.double(), torch.tensor([0.5, -0.5], dtype=torch.float64))
        assert out.dtype == torch.float32 and torch.allclose(out.double(), ref, atol=1e-6)


# --- gradients ------------------------------------------------------------------------------

INTERIOR = torch.tensor(
    [[-0.5, 0.01], [-0.3, -0.02], [0.1, 0.03], [-0.9, 0.0]], dtype=torch.float64
)
"""States away from the clips and the wall (with forces inside ±1)."""
FORCES = torch.tensor([0.3, -0.7, 0.9, -0.2], dtype=torch.float64)


def test_continuous_step_gradcheck_state_action_power():
    power = torch.tensor(0.0015, dtype=torch.float64, requires_grad=True)
    gravity = torch.full((4,), 0.0025, dtype=torch.float64, requires_grad=True)

    def f(s, a, p, g):
        return cmc.step(s, a, EXACT.replace(power=p, gravity=g))

    args = (INTERIOR.clone().requires_grad_(), FORCES.clone().requires_grad_(), power, gravity)
    assert gradcheck(f, args)
    a = FORCES.clone().requires_grad_()
    assert gradcheck(lambda a: cmc.reward(INTERIOR, a, INTERIOR, EXACT), (a,))


def test_discrete_step_gradcheck_state_push_force():
    force = torch.tensor(0.001, dtype=torch.float64, requires_grad=True)

    def f(s, a, p):
        return mc.step(s, a, mc.MountainCarParams(force=p))

    args = (INTERIOR.clone().requires_grad_(), FORCES.clone().requires_grad_(), force)
    assert gradcheck(f, args)


@pytest.mark.parametrize("module", [mc, cmc], ids=["discrete", "continuous"])
def test_multistep_gradcheck(module):
    params = EXACT if module is cmc else mc.DEFAULT_PARAMS

    def run(s, a):
        for k in range(6):
            s = module.step(s, a[k], params)
        return s

    s = INTERIOR.clone().requires_grad_()
    a = (0.5 * torch.ones(6, 4, dtype=torch.float64) * FORCES).requires_grad_()
    assert gradcheck(run, (s, a))


def test_straight_through_rounding_keeps_the_float64_gradient():
    s = INTERIOR.clone().requires_grad_()
    rounded = cmc.step(s, FORCES)
    (g_rounded,) = torch.autograd.grad(rounded.sum(), s)
    plain = cmc.step(s, FORCES, EXACT)
    (g_plain,) = torch.autograd.grad(plain.sum(), s)
    assert torch.equal(rounded, rounded.float().double())  # float32 values
    assert (rounded - plain).abs().max() < 1e-7 and (rounded != plain).any()
    torch.testing.assert_close(g_rounded, g_plain, rtol=1e-6, atol=1e-9)


def _jacobian(module, state, action, params):
    s = torch.tensor(state, dtype=torch.float64, requires_grad=True)
    a = torch.tensor(action, dtype=torch.float64, requires_grad=True)
    out = module.step(s, a, params)
    rows = [torch.autograd.grad(out[i], (s, a), retain_graph=True) for i in range(2)]
    return out.detach(), [[float(g) for g in row[0]] + [float(row[1])] for row in rows]


@pytest.mark.parametrize("module", [mc, cmc], ids=["discrete", "continuous"])
def test_zero_gradient_at_the_clips_and_the_wall(module):
    params = EXACT if module is cmc else mc.DEFAULT_PARAMS
    # Velocity clip (cos(3x) ≈ 0 there): v' = max_speed depends on nothing; x' = x + v'.
    out, jac = _jacobian(module, [-0.5236, 0.0695], 1.0, params)
    assert out[1] == 0.07 and jac[1] == [0.0, 0.0, 0.0] and jac[0] == [1.0, 0.0, 0.0]
    # Position clip at the right end: x' = 0.6; v' unclipped keeps its gradient.
    out, jac = _jacobian(module, [0.58, 0.05], 1.0, params)
    assert out[0] == 0.6 and jac[0] == [0.0, 0.0, 0.0] and jac[1][1] == 1.0
    # The wall: x' = min_position and v' = 0, neither depends on anything.
    out, jac = _jacobian(module, [-1.18, -0.05], -1.0, params)
    assert out.tolist() == [-1.2, 0.0] and jac == [[0.0] * 3, [0.0] * 3]
    # A push or force beyond ±1 is clipped: no gradient through the dynamics.
    out, jac = _jacobian(module, [-0.5, 0.01], 1.5, params)
    assert jac[0][2] == jac[1][2] == 0.0
    out, jac = _jacobian(module, [-0.5, 0.01], 0.5, params)
    assert jac[1][2] > 0


def test_reward_gradient_takes_the_unclipped_action():
    a = torch.tensor([1.5, -0.4], dtype=torch.float64, requires_grad=True)
    s = torch.tensor([[0.46, 0.01], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    r = cmc.reward(s, a, s)
    assert r.tolist() == [100.0 - 0.1 * 1.5**2, -0.1 * 0.4**2]
    ga, gs = torch.autograd.grad(r.sum(), (a, s), allow_unused=True)
    assert ga.tolist() == [-0.2 * 1.5, 0.2 * 0.4]
    assert gs is None  # 100·[terminated] is a step function: the state gets no gradient


# --- the differentiable rollout --------------------------------------------------------------


def _rollout_objective(weights: torch.Tensor, task: str, params) -> torch.Tensor:
    def policy(obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(10 * (obs @ weights[:2]) + weights[2])

    out = rollout(policy, task, horizon=8, batch_size=3, seed=0, dtype=torch.float64, params=params)
    return out.returns.sum() + out.states[-1, :, 0].sum()


def test_rollout_gradient_matches_finite_differences_continuous():
    w = torch.tensor([5.0, 30.0, 0.1], dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda w: _rollout_objective(w, "mountaincar-continuous", EXACT), (w,))
    # With Gymnasium's float32 rounding (straight-through), the gradient stays close.
    (g_default,) = torch.autograd.grad(
        _rollout_objective(w, "mountaincar-continuous", cmc.DEFAULT_PARAMS), w
    )
    (g_exact,) = torch.autograd.grad(_rollout_objective(w, "mountaincar-continuous", EXACT), w)
    torch.testing.assert_close(g_default, g_exact, rtol=1e-4, atol=1e-8)


def test_rollout_of_the_discrete_car_takes_a_continuous_push():
    """The generic rollout hands the policy's output to the physics as the push: a
    continuous push in [−1, 1] drives the discrete car (the relaxed Discrete(3)); its −1
    reward has no gradient, the final state does."""
    w = torch.tensor([5.0, 30.0, 0.1], dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda w: _rollout_objective(w, "mountaincar", mc.DEFAULT_PARAMS), (w,))
    out = rollout(
        lambda obs: 0.5 * torch.ones(obs.shape[0], dtype=obs.dtype),
        "mountaincar",
        horizon=3,
        initial_state=torch.tensor([[-0.5, 0.0]], dtype=torch.float64),
    )
    assert out.rewards.tolist() == [[-1.0]] * 3
    expected = mc.step(np.array([-0.5, 0.0]), np.array(0.5))
    assert out.states[1, 0].tolist() == expected.tolist()


def test_sample_initial_is_the_reset_distribution():
    for module in (mc, cmc):
        g = torch.Generator().manual_seed(0)
        s = module.sample_initial(1000, generator=g, dtype=torch.float64)
        assert s.shape == (1000, 2) and (s[:, 1] == 0).all()
        assert s[:, 0].min() >= -0.6 and s[:, 0].max() <= -0.4 and s[:, 0].std() > 0.05
        n = module.sample_initial((2, 3), generator=np.random.default_rng(0))
        assert isinstance(n, np.ndarray) and n.shape == (2, 3, 2)


# --- the training loss ----------------------------------------------------------------------


def test_energy_is_the_potential_of_the_gravity_term():
    """Unforced, away from the clips, one step changes the energy by O(dt²) of a swing; a push
    along the velocity raises it by about push·force·v."""
    state = INTERIOR.clone()
    before = mc.energy(state)
    idle = mc.energy(mc.step(state, torch.zeros(4, dtype=torch.float64)))
    pushed = mc.energy(mc.step(state, torch.sign(state[:, 1])))
    scale = mc.DEFAULT_PARAMS.gravity * 2 / 3  # the energy's range along the track
    assert ((idle - before).abs() < 0.01 * scale).all()
    moving = state[:, 1] != 0
    expected = 0.001 * state[:, 1].abs()
    torch.testing.assert_close((pushed - idle)[moving], expected[moving], rtol=0.1, atol=0.0)


def test_energy_loss_costs_the_missing_energy():
    params = mc.DEFAULT_PARAMS
    bottom = torch.tensor([[[-math.pi / 6, 0.0]]] * 2, dtype=torch.float64)
    goal = torch.tensor([[[-0.5, 0.0]], [[0.5, 0.0]]], dtype=torch.float64)
    alive = torch.ones(1, 1, dtype=torch.float64)
    torch.testing.assert_close(
        mc.energy_loss(bottom, alive, params), torch.ones(1, dtype=torch.float64)
    )
    assert abs(float(mc.energy_loss(goal, alive, params))) < 1e-12
    assert float(mc.energy_loss(goal, 0 * alive, params)) == 0.0  # steps after the end: free
    states = torch.randn(6, 3, 2, dtype=torch.float64) * torch.tensor(
        [0.3, 0.03], dtype=torch.float64
    )
    alive = torch.ones(5, 3, dtype=torch.float64)
    assert gradcheck(lambda s: mc.energy_loss(s, alive, EXACT), (states.requires_grad_(),))


def test_speed_loss_costs_the_missing_speed():
    params = cmc.DEFAULT_PARAMS  # max_speed 0.07
    states = torch.tensor(
        [[[-0.5, 0.0], [-0.5, 0.0]], [[-0.5, 0.0], [-0.5, 0.07]], [[-0.4, -0.035], [0.1, -0.07]]],
        dtype=torch.float64,
    )  # [T+1 = 3, B = 2, 2]
    alive = torch.tensor([[1.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    # Element 0: at rest (cost 1), then half the limit (1 - 1/4); element 1: at the limit
    # (cost 0), then past its episode's end (free).
    torch.testing.assert_close(
        mc.speed_loss(states, alive, params), torch.tensor([1.75, 0.0], dtype=torch.float64)
    )
    rand = torch.randn(6, 3, 2, dtype=torch.float64) * torch.tensor([0.3, 0.03])
    ones = torch.ones(5, 3, dtype=torch.float64)
    assert gradcheck(lambda s: mc.speed_loss(s, ones, EXACT), (rand.requires_grad_(),))


def _deficit_by_hand(x: float, v: float) -> float:
    g = 0.0025  # the continuous car's gravity; its goal at x = 0.45 with goal_velocity 0
    e_goal, e_min = g / 3 * math.sin(3 * 0.45), -g / 3
    return (e_goal - (g / 3 * math.sin(3 * x) + v * v / 2)) / (e_goal - e_min)


def test_goal_loss_is_the_best_moments_energy_deficit_of_a_missed_goal():
    states = torch.tensor(
        [
            [[-0.5, 0.0], [-0.5, 0.0], [-0.5, 0.0]],
            [[-0.3, 0.02], [0.3, 0.03], [-0.6, -0.01]],
            [[0.1, 0.01], [0.46, 0.01], [-0.7, 0.0]],
            [[0.2, -0.01], [0.46, 0.01], [-0.2, 0.04]],
        ],
        dtype=torch.float64,
    )  # [T+1 = 4, B = 3, 2]
    alive = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    # Element 0 misses; its best moment is x = 0.1, v = 0.01 (the states after each step).
    # Element 1 reaches the goal at its second step (then frozen, not alive). Element 2
    # misses, and its last state (x = -0.2, v = 0.04) comes after its episode ended.
    expected = [
        100 * min(_deficit_by_hand(-0.3, 0.02), _deficit_by_hand(0.1, 0.01),
                  _deficit_by_hand(0.2, -0.01)),
        0.0,
        100 * min(_deficit_by_hand(-0.6, -0.01), _deficit_by_hand(-0.7, 0.0)),
    ]  # fmt: skip
    torch.testing.assert_close(
        cmc.goal_loss(states, alive, cmc.DEFAULT_PARAMS),
        torch.tensor(expected, dtype=torch.float64),
    )
    # Just short of the goal, the loss is about 0 (no jump where episodes start to reach it).
    near = torch.tensor([[[0.44, 0.0]], [[0.449, 0.0]]], dtype=torch.float64)
    assert 0 < float(cmc.goal_loss(near, torch.ones(1, 1, dtype=torch.float64))) < 0.2
    # An episode that misses has the gradient of its best moment's deficit.
    rand = torch.randn(6, 3, 2, dtype=torch.float64) * torch.tensor([0.2, 0.02]) - torch.tensor(
        [0.4, 0.0]
    )
    ones = torch.ones(5, 3, dtype=torch.float64)
    assert gradcheck(lambda s: cmc.goal_loss(s, ones, EXACT), (rand.requires_grad_(),))
    assert cmc.SYSTEM.training_loss is cmc.goal_loss


def test_shaped_goal_loss_prefers_gentle_pumping_and_the_speed_loss_full_power():
    """Why the continuous car trains on the goal loss: with the action cost, it ranks
    pushing ±0.3 along the velocity (a higher return) above full power, as the return does;
    the speed deficit summed over the steps ranks them the other way."""

    def shaped(c):
        out = rollout(
            lambda obs: c * torch.sign(obs[:, 1] + 1e-9),
            "mountaincar-continuous",
            horizon=300,
            batch_size=8,
            seed=0,
            dtype=torch.float64,
        )
        p = cmc.DEFAULT_PARAMS
        return (
            float((cmc.goal_loss(out.states, out.alive, p) - out.returns).mean()),
            float((mc.speed_loss(out.states, out.alive, p) - out.returns).mean()),
            float(out.returns.mean()),
        )

    gentle, full = shaped(0.3), shaped(1.0)
    assert gentle[2] > full[2] + 5  # the return: 97.7 against 89.3 on the protocol
    assert gentle[0] < full[0]
    assert gentle[1] > full[1]


def test_a_held_push_lowers_the_energy_deficit_but_not_the_speed_deficit():
    """Why the continuous car does not train on the summed energy deficit: full power holds
    the car still on the slope, higher than idling in the valley, so the energy deficit
    prefers holding to idling (a local optimum on the way to pumping); the speed deficit does
    not."""

    def losses(policy):
        out = rollout(
            policy,
            "mountaincar-continuous",
            horizon=50,
            batch_size=8,
            seed=0,
            dtype=torch.float64,
        )
        p = cmc.DEFAULT_PARAMS
        return (
            float(mc.energy_loss(out.states, out.alive, p).mean()),
            float(mc.speed_loss(out.states, out.alive, p).mean()),
        )

    idle = losses(lambda obs: 0 * obs[:, 1])
    hold = losses(lambda obs: 0 * obs[:, 1] + 1)
    pump = losses(lambda obs: torch.sign(obs[:, 1] + 1e-9))
    assert hold[0] < 0.85 * idle[0]  # energy: holding much better than idling
    assert hold[1] > 0.95 * idle[1]  # speed: holding about as bad as idling
    assert pump[1] < hold[1]


def test_the_training_losses_prefer_pumping_and_bptt_uses_them():
    from diffsim.controllers.bptt import default_config, derived_config

    def loss(policy, task):
        out = rollout(policy, task, horizon=200, batch_size=8, seed=0, dtype=torch.float64)
        return float(systems.get_system(task).training_loss(out.states, out.alive).mean())

    for task, ratio in (("mountaincar", 0.65), ("mountaincar-continuous", 0.5)):
        idle = loss(lambda obs: 0 * obs[:, 1], task)
        pump = loss(lambda obs: torch.sign(obs[:, 1] + 1e-9), task)
        assert pump < ratio * idle  # the discrete car's: 100·(about 120 steps against 200)
        assert derived_config(task)["loss"] == "balance"
    assert mc.SYSTEM.training_loss is mc.time_loss
    assert default_config("mountaincar-continuous").loss == "shaped"  # goal minus the return


@pytest.mark.slow
def test_energy_loss_gradient_learns_the_continuous_car():
    """Six Adam steps on a two-parameter policy take the training return from 0 (idle)
    past Gymnasium's threshold of 90."""
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.2)
    params = cmc.DEFAULT_PARAMS
    for it in range(6):
        out = rollout(
            lambda obs: torch.tanh(100 * obs[:, 1] * w[0] + w[1]),
            "mountaincar-continuous",
            horizon=200,
            batch_size=8,
            seed=it,
            dtype=torch.float64,
        )
        loss = mc.energy_loss(out.states, out.alive, params).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(out.returns.detach().mean()) > 90


@pytest.mark.slow
def test_default_bptt_solves_the_discrete_car(tmp_path):
    """``diffsim train mountaincar`` (BPTT's tuned config, the 2-SE stop rule) solves
    MountainCar-v0 on Gymnasium's evaluation protocol within its default budget."""
    from diffsim.controllers import train

    result = train("mountaincar", out=tmp_path / "run", progress=False)
    last = result.metrics[-1]
    assert result.solved_at is not None
    assert last["transitions"] < 2_000_000
    assert last["eval_return_mean"] - 2 * last["eval_return_std"] / math.sqrt(99) >= -110


@pytest.mark.slow
def test_default_bptt_solves_the_continuous_car(tmp_path):
    """``diffsim train mountaincar-continuous`` (BPTT's tuned config, the 2-SE stop rule)
    solves it on Gymnasium's evaluation protocol well within its default budget."""
    from diffsim.controllers import train

    result = train("mountaincar-continuous", out=tmp_path / "run", eval_every=3200, progress=False)
    last = result.metrics[-1]
    assert result.solved_at is not None
    assert last["transitions"] < 50_000
    assert last["eval_return_mean"] - 2 * last["eval_return_std"] / math.sqrt(99) >= 90


def test_the_energy_deficit_ranks_pushing_downhill_first_above_plain_pumping():
    """docs/reference_dynamics.md: among bang-bang policies the discrete car's training loss
    orders "push downhill first, then along the velocity" before "always along the
    velocity", as the return does."""

    def run(policy):
        out = rollout(
            policy, "mountaincar", horizon=200, batch_size=256, seed=1, dtype=torch.float64
        )
        loss = mc.energy_loss(out.states, out.alive, mc.DEFAULT_PARAMS).mean()
        return float(loss), float(out.returns.mean())

    one = torch.tensor(1.0, dtype=torch.float64)
    pump = run(lambda obs: torch.where(obs[:, 1] >= 0, one, -one))
    downhill = run(lambda obs: torch.where(obs[:, 1] - 0.002 * (obs[:, 0] + 0.5) >= 0, one, -one))
    assert downhill[0] < pump[0] - 5  # lower loss ...
    assert downhill[1] > pump[1] + 5  # ... and a higher return, by several steps


def _ended_at_step_one(x0: float, x1: float, x2: float, v2: float) -> tuple:
    """States ``[3, 1, 2]`` of an episode of two steps that ends on reaching ``x2``."""
    states = torch.tensor([[[x0, 0.0]], [[x1, x1 - x0]], [[x2, v2]]], dtype=torch.float64)
    return states, torch.ones(2, 1, dtype=torch.float64)


def test_arrival_time_counts_the_last_step_by_its_crossing_fraction():
    states, alive = _ended_at_step_one(0.3, 0.44, 0.54, 0.1)
    # the flag at 0.5 is crossed 0.06 / 0.10 of the way through the second step
    torch.testing.assert_close(
        mc.arrival_time(states, alive), torch.tensor([1.6], dtype=torch.float64)
    )
    # the gradient is the crossing time's: -1/Δx on x_{k+1} scaled by the fraction ...
    x = states.clone().requires_grad_()
    mc.arrival_time(x, alive).sum().backward()
    grad = x.grad[..., 0].flatten()
    torch.testing.assert_close(
        grad, torch.tensor([0.0, -(1 - 0.6) / 0.1, -0.6 / 0.1], dtype=torch.float64)
    )
    assert float(x.grad[..., 1].abs().sum()) == 0.0
    # ... and the same as float64 central differences of the positions
    assert gradcheck(lambda s: mc.arrival_time(s, alive), (states.clone().requires_grad_(),))


def test_arrival_time_of_episodes_that_do_not_cross_counts_whole_steps():
    # not reached: the length, no gradient
    states, alive = _ended_at_step_one(0.3, 0.35, 0.4, 0.05)
    x = states.clone().requires_grad_()
    out = mc.arrival_time(x, alive)
    assert float(out.detach()) == 2.0
    out.sum().backward()
    assert float(x.grad.abs().sum()) == 0.0
    # ended after the first step, then frozen: the frozen steps do not count
    states, alive = _ended_at_step_one(0.45, 0.55, 0.55, 0.1)
    states[1, 0, 1] = 0.1
    torch.testing.assert_close(
        mc.arrival_time(states, torch.tensor([[1.0], [0.0]], dtype=torch.float64)),
        torch.tensor([0.5], dtype=torch.float64),
    )
    # a start already past the flag, and a car stopped at the right wall: whole steps,
    # finite values and gradients (no 0/0)
    for x0, x1 in ((0.55, 0.58), (0.6, 0.6)):
        states, _ = _ended_at_step_one(x0, x0, x1, 0.01)
        alive = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
        x = states.clone().requires_grad_()
        out = mc.arrival_time(x, alive)
        out.sum().backward()
        assert float(out.detach()) == 1.0 and float(x.grad.abs().sum()) == 0.0


def test_arrival_time_gradient_through_a_rollout_matches_finite_differences():
    """Through 200 steps of the car, the gate on the velocity's sign and the termination:
    d(arrival time)/d(gain) of the policy tanh(gain·v/0.003) in float64, against central
    differences (the crossing stays in the same step for these steps of the gain)."""

    def arrival(gain: torch.Tensor) -> torch.Tensor:
        out = rollout(
            lambda obs: torch.tanh(gain * obs[:, 1] / 0.003),
            "mountaincar",
            horizon=200,
            batch_size=8,
            seed=2,
            dtype=torch.float64,
        )
        assert bool(out.terminated.any(0).all())  # every element crosses
        return mc.arrival_time(out.states, out.alive).mean()

    gain = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(arrival(gain), gain)
    eps = 1e-6
    with torch.no_grad():
        fd = (arrival(gain + eps) - arrival(gain - eps)) / (2 * eps)
    assert float(grad) != 0.0
    torch.testing.assert_close(grad, fd, rtol=1e-5, atol=1e-8)


def test_time_loss_orders_policies_as_the_return_does():
    """The energy deficit barely tells a faster pump from a slower one; the time loss
    follows the return: three bang-bang policies, from slowest to fastest."""

    def run(policy):
        out = rollout(
            policy, "mountaincar", horizon=200, batch_size=256, seed=1, dtype=torch.float64
        )
        arrival = mc.arrival_time(out.states, out.alive)
        assert bool(((arrival <= -out.returns) & (arrival > -out.returns - 1)).all())
        return float(mc.time_loss(out.states, out.alive).mean()), float(out.returns.mean())

    one = torch.tensor(1.0, dtype=torch.float64)
    runs = [
        run(lambda obs: torch.where(obs[:, 1] + 0.002 * (obs[:, 0] + 0.5) >= 0, one, -one)),
        run(lambda obs: torch.where(obs[:, 1] >= 0, one, -one)),
        run(lambda obs: torch.where(obs[:, 1] - 0.002 * (obs[:, 0] + 0.5) >= 0, one, -one)),
    ]
    losses, returns = zip(*runs)
    assert returns[0] < returns[1] - 2 and returns[1] < returns[2] - 2
    assert losses[0] > losses[1] > losses[2]


def test_bptt_shaped_loss_is_the_training_loss_minus_the_return():
    from diffsim.controllers import bptt

    trainer = bptt.BPTTTrainer(
        "mountaincar-continuous", bptt.default_config("mountaincar-continuous"), seed=0
    )
    s0 = trainer.task.sample_initial(4, trainer.generator, trainer.dtype, trainer.device)
    out = trainer._rollout(s0, trainer.generator.get_state(), 30)
    expected = (cmc.goal_loss(out.states, out.alive, trainer.task.params) - out.returns).mean()
    torch.testing.assert_close(trainer._loss(out), expected)
    assert out.returns.requires_grad  # the action cost's gradient reaches the policy


def test_the_optimum_script_writes_its_yardstick(tmp_path):
    """``python -m diffsim.scripts.mountaincar_optimum`` on a coarse grid: a result file
    whose greedy policy beats pushing along the velocity (119.40 steps from 201 starts, as
    an independent NumPy loop of Gymnasium's equations gives)."""
    from diffsim.scripts import mountaincar_optimum

    out = tmp_path / "optimum.json"
    mountaincar_optimum.main(["--positions", "181", "--velocities", "141", "--out", str(out)])
    result = json.loads(out.read_text())
    along, greedy = result["policies"]["along_velocity"], result["policies"]["grid_dp_greedy"]
    assert along["mean_steps_201_starts"] == pytest.approx(119.40298507462687, abs=1e-12)
    assert greedy["mean_steps_201_starts"] < along["mean_steps_201_starts"] - 5
    assert greedy["eval_return_mean"] > along["eval_return_mean"]
    # The continuous car: weaker pushes score more, down to one too weak to reach the goal,
    # whose return is its action cost over the 999 steps, -0.1 * 0.15² * 999.
    continuous = result["continuous_along_velocity"]
    reaching = [continuous[str(c)]["eval_return_mean"] for c in (1.0, 0.6, 0.3, 0.2)]
    assert reaching == sorted(reaching) and reaching[0] > 85
    assert continuous["0.15"]["eval_return_mean"] == pytest.approx(-0.1 * 0.15**2 * 999)
