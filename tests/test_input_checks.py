"""Bad input at the physics and env boundaries: refused with a clear error, or handled.

Each test here failed before the fix it covers (issue 12, item 5): vector envs that could
not be pickled, the unclipped Pendulum's unbounded torque, parameter batches that do not
fit the state, and trebuchet release angles outside [0°, 90°].
"""

from __future__ import annotations

import copy
import pickle
import re

import gymnasium as gym
import numpy as np
import pytest

from diffsim.envs import vector

# --- item 1: vector envs pickle and continue the same trajectory ---------------------------


def _actions(env: gym.vector.VectorEnv, n: int, seed: int) -> list[np.ndarray]:
    space = copy.deepcopy(env.action_space)
    space.seed(seed)
    return [space.sample() for _ in range(n)]


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: vector.SystemVectorEnv("diffsim/CartPole-v1", **kw),
        lambda **kw: vector.SystemVectorEnv("diffsim/CartPoleContinuous-v1", **kw),
        lambda **kw: vector.SystemVectorEnv("diffsim/Pendulum-v1", **kw),
        lambda **kw: vector.SystemVectorEnv("diffsim/Pendulum2019-v1", **kw),
        vector.TrebuchetVectorEnv,
    ],
    ids=["cartpole", "cartpole-continuous", "pendulum", "pendulum-2019", "trebuchet"],
)
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_vector_env_copy_continues_the_same_trajectory(make, how):
    env = make(num_envs=3, max_episode_steps=7)
    cls = type(env)
    env.reset(seed=1)
    # A trebuchet episode is one shot (each shot ~0.5 s): a few steps cover its autoreset.
    n_before, n_after = (1, 3) if cls is vector.TrebuchetVectorEnv else (5, 12)
    before = _actions(env, n_before, seed=2)
    for a in before:
        env.step(a)
    twin = pickle.loads(pickle.dumps(env)) if how == "pickle" else copy.deepcopy(env)
    assert type(twin) is cls
    np.testing.assert_array_equal(twin.state, env.state)
    # The steps after the copy run through truncation at 7 (or the trebuchet's one-shot
    # episodes) and NEXT_STEP autoresets, which draw from the copied generator: the copy
    # must draw the same new initial states.
    for a in _actions(env, n_after, seed=3):
        obs, rew, term, trunc, _ = env.step(a)
        obs2, rew2, term2, trunc2, _ = twin.step(a)
        assert env.state.tobytes() == twin.state.tobytes()
        assert obs.tobytes() == obs2.tobytes()
        assert rew.tobytes() == rew2.tobytes()
        np.testing.assert_array_equal(term, term2)
        np.testing.assert_array_equal(trunc, trunc2)


def test_fast_vector_env_pickles_without_its_compiled_function():
    env = vector.SystemVectorEnv("cartpole", num_envs=2, fast=True)
    env.reset(seed=0)
    twin = pickle.loads(pickle.dumps(env))
    assert twin._transition.fast and twin._transition._compiled is None
    np.testing.assert_array_equal(twin.state, env.state)


# --- item 2: the unclipped Pendulum's torque is bounded; no cast overflows to inf ---------


def _pendulum_2019(kind: str):
    if kind == "single":
        env = gym.make("diffsim/Pendulum2019-v1").unwrapped
        env.reset(options={"state": [0.5, 1.0]})
        return env, (1,)
    env = vector.SystemVectorEnv("diffsim/Pendulum2019-v1", num_envs=3)
    env.reset(options={"state": [[0.5] * 3, [1.0] * 3]})  # [n, num_envs]: one column each
    return env, (3, 1)


@pytest.mark.parametrize("kind", ["single", "vector"])
@pytest.mark.parametrize(
    "value, dtype",
    [(1e30, np.float32), (1e300, np.float64), (-1000.5, np.float64), (3e38, np.float32)],
)
def test_unclipped_pendulum_refuses_torques_beyond_its_bound(kind, value, dtype):
    env, shape = _pendulum_2019(kind)
    before = env.state
    action = np.zeros(shape, dtype)
    action.flat[-1] = value  # the last sub-env, for the vector env
    shown = re.escape(repr(float(dtype(value))))  # the value as the env received it
    with pytest.raises(ValueError, match=f"within ±1000 .*got \\[{shown}\\]"):
        env.step(action)
    np.testing.assert_array_equal(env.state, before)  # nothing changed
    assert env.action_bound == 1000.0
    obs, reward, *_ = env.step(np.full(shape, 1000.0, np.float32))  # the bound itself is taken
    assert np.isfinite(obs).all() and np.isfinite(reward).all() and np.isfinite(env.state).all()


def test_unclipped_pendulum_still_applies_torques_beyond_the_space_unclipped():
    env, _ = _pendulum_2019("single")
    env.reset(options={"state": [0.0, 0.0]})
    env.step(np.array([100.0], np.float32))  # beyond the space's ±2, within the bound
    assert env.state[1] == 8.0  # 3·100·0.05 = 15 rad/s, then the speed clip at 8
    assert env.state[0] == pytest.approx(15.0 * 0.05, rel=1e-12)  # θ moved with 15 rad/s


def test_torque_bound_is_documented_on_the_params():
    from diffsim import pendulum

    assert pendulum.PendulumParams.variant_2019().torque_bound == 1000.0
    assert pendulum.PendulumParams(max_torque=3.0).torque_bound == 1500.0


def test_float32_cast_never_turns_a_finite_action_into_inf():
    from diffsim.envs import _checks
    from diffsim.envs.env import SystemEnv

    space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    with pytest.raises(ValueError, match=r"float32 .*1e\+300"):
        _checks.box_action(np.array([1e300]), space, "Env", clip=False)
    # An env that does not clip but whose physics does (so no torque bound applies).
    env = SystemEnv("pendulum", clip_actions=False)
    env.reset(seed=0)
    before = env.state
    with pytest.raises(ValueError, match="SystemEnv.*Pendulum-v1.*float32"):
        env.step(np.array([-1e300]))
    np.testing.assert_array_equal(env.state, before)
    env.step(np.array([1e30]))  # finite in float32: the physics clips it to 2 N·m
    assert np.isfinite(env.state).all()
    assert env.action_bound is None


def test_torch_pendulum_checks_the_torque_bound_only_under_debug_checks():
    import torch

    import diffsim
    from diffsim import pendulum

    params = pendulum.PendulumParams.variant_2019()
    state = torch.zeros(4, 2, dtype=torch.float64)
    action = torch.tensor([0.0, 2.0, -1e4, 5.0], dtype=torch.float64)
    pendulum.step(state, action, params)  # unchecked: no value is read without debug checks
    with diffsim.debug_checks():
        with pytest.raises(ValueError, match=r"±1000 N·m.*-10000 N·m at batch index \(2,\)"):
            pendulum.step(state, action, params)
        pendulum.step(state, action.clamp(-1000, 1000), params)
        pendulum.step(state, action, pendulum.PendulumParams())  # clipped: nothing to bound


# --- item 3: tensor parameters must broadcast to the state's batch shape -----------------


def _systems():
    import torch

    from diffsim import cartpole, pendulum

    return [
        (cartpole, cartpole.CartPoleParams, "length", 0.5, torch.zeros(3, 4, dtype=torch.float64)),
        (pendulum, pendulum.PendulumParams, "l", 1.0, torch.zeros(3, 2, dtype=torch.float64)),
    ]


@pytest.mark.parametrize("index", [0, 1], ids=["cartpole", "pendulum"])
@pytest.mark.parametrize("shape", [(5,), (3, 1), (2, 3), (1, 3)])
def test_parameter_batch_must_broadcast_to_the_state_batch(index, shape):
    import torch

    system, cls, field, value, state = _systems()[index]
    params = cls(**{field: torch.full(shape, value, dtype=torch.float64)})
    action = torch.zeros(3, dtype=torch.float64)
    message = rf"{cls.__name__}\.{field} has shape {re.escape(str(shape))}.*batch shape \(3,\)"
    with pytest.raises(ValueError, match=message):
        system.step(state, action, params)
    # Everything stays usable: the same call with fitting parameters steps.
    for ok in [(3,), (), (1,)]:
        fitting = cls(**{field: torch.full(ok, value, dtype=torch.float64)})
        assert system.step(state, action, fitting).shape == state.shape


def test_pendulum_cost_and_rollout_check_parameter_shapes():
    import torch

    from diffsim import pendulum
    from diffsim.envs.rollout import rollout

    params = pendulum.PendulumParams(m=torch.ones(3, 1, dtype=torch.float64))
    state = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"PendulumParams\.m has shape \(3, 1\)"):
        pendulum.cost(state, torch.zeros(3, dtype=torch.float64), params)
    with pytest.raises(ValueError, match=r"PendulumParams\.m has shape \(3, 1\)"):
        rollout(lambda obs: obs[:, :1] * 0, "pendulum", state, horizon=2, params=params)


def test_action_must_broadcast_to_the_state_batch():
    import torch

    from diffsim import cartpole

    state = torch.zeros(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"action must have shape \(3,\).*got \(2, 3\)"):
        cartpole.step(state, torch.zeros(2, 3, dtype=torch.float64))
    assert cartpole.step(state, torch.zeros(1, dtype=torch.float64)).shape == (3, 4)


# --- item 4: the trebuchet's release angle lies in [0°, 90°] --------------------------------


@pytest.mark.parametrize("fn", ["shoot", "simulate"])
@pytest.mark.parametrize("angle", [-10.0, 1000.0, 90.5, -1e-9])
def test_trebuchet_refuses_release_angles_outside_0_to_90_degrees(fn, angle):
    from diffsim import trebuchet

    with pytest.raises(ValueError, match=rf"angle_deg .* within \[0, 90\] degrees, got {angle:g}$"):
        getattr(trebuchet, fn)(-2.0, angle, 200.0)


def test_trebuchet_names_the_first_bad_angle_of_a_batch():
    import torch

    from diffsim import trebuchet
    from diffsim.solvers import aim

    angles = torch.tensor([[45.0, 30.0], [95.0, -5.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"got 95 at index \(1, 0\)"):
        trebuchet.shoot(0.0, angles, 200.0, on_failure="nan")
    with pytest.raises(ValueError, match=r"angle_bounds_deg must lie within \[0.0, 90.0\]"):
        aim(0.0, 50.0, angle_bounds_deg=(-10.0, 85.0))


def test_trebuchet_still_shoots_at_the_ends_of_the_range():
    import torch

    from diffsim import trebuchet

    angles = torch.tensor([0.0, 90.0], dtype=torch.float64)
    d = trebuchet.shoot(0.0, angles, 200.0, on_failure="nan")  # refused nothing
    assert d.shape == (2,) and bool(torch.isfinite(d).all())
    # A flat release carries forward; a vertical one comes down within a few metres of
    # the pivot (the release point is near it), instead of wrapping to another angle.
    assert float(d[0]) > 20.0
    assert abs(float(d[1])) < 5.0


@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_box_action_returns_a_new_array_of_the_space_dtype(clip, dtype):
    from diffsim.envs import _checks

    space = gym.spaces.Box(-2.0, 2.0, (3, 1), np.float32)
    action = np.array([[0.5], [-3.0], [1.0]], dtype=dtype)
    out = _checks.box_action(action, space, "Env", clip=clip)
    assert out.dtype == np.float32 and not np.shares_memory(out, action)
    expected = np.clip(action, -2.0, 2.0) if clip else action
    np.testing.assert_array_equal(out, expected.astype(np.float32))
