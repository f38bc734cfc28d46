"""Single-env parity with Gymnasium's own ``CartPole-v1`` and ``Pendulum-v1`` (issue #13):
Gymnasium's ``check_environments_match`` with no skip flag but ``skip_render``, the reward
types, the ``sutton_barto_reward`` option, a settable ``state`` and the public attributes,
all through the generic :class:`~diffsim.envs.env.SystemEnv`; its constructor options, its
pickling, and the deprecated per-system aliases."""

from __future__ import annotations

import copy
import math
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_match import check_environments_match

import diffsim  # noqa: F401  (registers the ids)
from diffsim import cartpole, pendulum
from diffsim.envs.env import SystemEnv


def CartPoleEnv(**kwargs):
    return SystemEnv("diffsim/CartPole-v1", **kwargs)


def PendulumEnv(**kwargs):
    return SystemEnv("diffsim/Pendulum-v1", **kwargs)


PAIRS = [("diffsim/CartPole-v1", "CartPole-v1"), ("diffsim/Pendulum-v1", "Pendulum-v1")]

CARTPOLE_ATTRS = (
    "gravity",
    "masscart",
    "masspole",
    "total_mass",
    "length",
    "polemass_length",
    "force_mag",
    "tau",
    "kinematics_integrator",
    "theta_threshold_radians",
    "x_threshold",
)
PENDULUM_ATTRS = ("max_speed", "max_torque", "dt", "g", "m", "l")


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_check_environments_match(ours, theirs):
    # 600 CartPole steps cross several terminations and resets; 600 Pendulum steps cross
    # three 200-step truncations.
    a, b = gym.make(ours), gym.make(theirs)
    check_environments_match(a, b, num_steps=600, seed=3, skip_render=True)


def test_pendulum_reward_is_numpy_float64_like_gymnasium():
    ours, theirs = gym.make("diffsim/Pendulum-v1"), gym.make("Pendulum-v1")
    ours.reset(seed=0)
    theirs.reset(seed=0)
    for u in (0.0, 1.5, -2.0, 7.0):
        action = np.array([u], dtype=np.float32)
        r_ours = ours.step(action)[1]
        r_theirs = theirs.step(action)[1]
        assert type(r_theirs) is np.float64  # the reference, as read in Gymnasium 1.x
        assert type(r_ours) is np.float64
        assert r_ours.tobytes() == r_theirs.tobytes()


def test_pendulum2019_reward_is_numpy_float64():
    env = SystemEnv("pendulum-2019")
    env.reset(seed=0)
    assert type(env.step(np.array([3.0], dtype=np.float32))[1]) is np.float64


def test_cartpole_reward_is_python_float_like_gymnasium():
    ours, theirs = gym.make("diffsim/CartPole-v1"), gym.make("CartPole-v1")
    ours.reset(seed=0)
    theirs.reset(seed=0)
    r_ours, r_theirs = ours.step(1)[1], theirs.step(1)[1]
    assert type(r_theirs) is float
    assert type(r_ours) is float
    assert r_ours == r_theirs == 1.0


@pytest.mark.parametrize("sutton_barto", [True, False])
def test_sutton_barto_reward_matches_gymnasium_over_episodes(sutton_barto):
    ours = gym.make("diffsim/CartPole-v1", sutton_barto_reward=sutton_barto)
    theirs = gym.make("CartPole-v1", sutton_barto_reward=sutton_barto)
    # Always pushing right ends an episode by termination in a few dozen steps; then two
    # more steps past termination (Gymnasium warns and keeps paying its post-end reward).
    for seed in (0, 1):
        ours.reset(seed=seed)
        theirs.reset(seed=seed)
        rewards_ours, rewards_theirs = [], []
        terminated = False
        steps = 0
        while not terminated:
            _, r_a, terminated, _, _ = ours.step(1)
            _, r_b, term_b, _, _ = theirs.step(1)
            assert terminated == term_b
            rewards_ours.append(r_a)
            rewards_theirs.append(r_b)
            steps += 1
        with pytest.warns(UserWarning):
            for _ in range(2):
                rewards_ours.append(ours.unwrapped.step(1)[1])
                rewards_theirs.append(theirs.unwrapped.step(1)[1])
        assert ours.unwrapped.steps_beyond_terminated == theirs.unwrapped.steps_beyond_terminated
        assert rewards_ours == rewards_theirs
        assert [type(r) for r in rewards_ours] == [type(r) for r in rewards_theirs]
        if sutton_barto:
            assert rewards_ours == [0.0] * (steps - 1) + [-1.0, -1.0, -1.0]
        else:
            assert rewards_ours == [1.0] * steps + [0.0, 0.0]


def test_sutton_barto_reward_passes_check_environments_match():
    a = gym.make("diffsim/CartPole-v1", sutton_barto_reward=True)
    b = gym.make("CartPole-v1", sutton_barto_reward=True)
    check_environments_match(a, b, num_steps=300, seed=5, skip_render=True)


def test_continuous_cartpole_accepts_sutton_barto_reward():
    env = gym.make("diffsim/CartPoleContinuous-v1", sutton_barto_reward=True)
    env.reset(seed=0)
    assert env.step(np.array([0.0], dtype=np.float32))[1] == 0.0
    assert SystemEnv("cartpole-continuous", sutton_barto_reward=True).sutton_barto_reward is True
    assert SystemEnv("cartpole-continuous").sutton_barto_reward is False


@pytest.mark.parametrize(
    ("ours", "theirs", "state"),
    [
        ("diffsim/CartPole-v1", "CartPole-v1", np.array([0.3, -0.2, 0.1, 0.4])),
        ("diffsim/Pendulum-v1", "Pendulum-v1", np.array([2.5, -3.0])),
    ],
)
def test_state_setter_continues_like_gymnasium(ours, theirs, state):
    a, b = gym.make(ours), gym.make(theirs)
    a.reset(seed=0)
    b.reset(seed=0)
    a.unwrapped.state = state
    b.unwrapped.state = state.copy()
    np.testing.assert_array_equal(a.unwrapped.state, state)
    assert a.unwrapped.state.dtype == np.float64
    state[0] = 99.0  # the env keeps its own copy
    assert a.unwrapped.state[0] != 99.0
    a.action_space.seed(1)
    for _ in range(40):
        action = a.action_space.sample()
        out_a, out_b = a.step(action), b.step(action)
        assert out_a[0].tobytes() == out_b[0].tobytes()
        assert out_a[1] == out_b[1] and out_a[2] == out_b[2]
        assert a.unwrapped.state.tobytes() == np.asarray(b.unwrapped.state).tobytes()
        if out_a[2]:
            break


def test_state_setter_accepts_a_list_and_ints():
    env = PendulumEnv()
    env.reset(seed=0)
    env.state = [1, 0]
    assert env.state.dtype == np.float64
    np.testing.assert_array_equal(env.state, [1.0, 0.0])


@pytest.mark.parametrize(
    ("make", "bad", "error", "words"),
    [
        (CartPoleEnv, [0.0, 0.0, 0.0], ValueError, "shape (4,)"),
        (CartPoleEnv, np.zeros((1, 4)), ValueError, "got shape (1, 4)"),
        (CartPoleEnv, [0.0, np.nan, 0.0, 0.0], ValueError, "finite"),
        (CartPoleEnv, ["a", "b", "c", "d"], TypeError, "x, x_dot, theta, theta_dot"),
        (CartPoleEnv, np.array([True, False, True, False]), TypeError, "real numbers"),
        (PendulumEnv, [0.0, np.inf], ValueError, "theta, theta_dot"),
        (PendulumEnv, np.array([1j, 0.0]), TypeError, "complex"),
        (PendulumEnv, None, TypeError, "NoneType"),
    ],
)
def test_bad_state_assignment_is_refused_and_env_stays_usable(make, bad, error, words):
    env = make()
    env.reset(seed=0)
    before = env.state.copy()
    with pytest.raises(error) as info:
        env.state = bad
    assert words in str(info.value)
    assert type(env).__name__ in str(info.value)
    np.testing.assert_array_equal(env.state, before)
    action = env.action_space.sample()
    obs, *_ = env.step(action)
    assert np.isfinite(obs).all()


def test_state_view_cannot_be_written_in_place():
    env = CartPoleEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="read-only"):
        env.state[0] = 1.0


def test_cartpole_attributes_equal_gymnasium():
    ours, theirs = gym.make("diffsim/CartPole-v1").unwrapped, gym.make("CartPole-v1").unwrapped
    for name in CARTPOLE_ATTRS:
        assert getattr(ours, name) == getattr(theirs, name), name
        assert type(getattr(ours, name)) is type(getattr(theirs, name)), name


def test_pendulum_attributes_equal_gymnasium():
    ours, theirs = gym.make("diffsim/Pendulum-v1").unwrapped, gym.make("Pendulum-v1").unwrapped
    for name in PENDULUM_ATTRS:
        assert getattr(ours, name) == getattr(theirs, name), name
    ours, theirs = PendulumEnv(g=9.81), gym.make("Pendulum-v1", g=9.81).unwrapped
    assert ours.g == theirs.g == 9.81
    ours, theirs = gym.make("diffsim/Pendulum-v1", g=3.0), gym.make("Pendulum-v1", g=3.0)
    check_environments_match(ours, theirs, num_steps=50, seed=1, skip_render=True)


def test_attributes_follow_the_params():
    params = cartpole.CartPoleParams(gravity=3.0, masspole=0.2, length=0.25, tau=0.01)
    env = CartPoleEnv(params=params, integrator="semi_implicit_euler")
    assert env.gravity == 3.0 and env.tau == 0.01 and env.masspole == 0.2
    assert env.total_mass == pytest.approx(1.2) and env.polemass_length == pytest.approx(0.05)
    assert env.kinematics_integrator == "semi_implicit_euler"
    assert env.theta_threshold_radians == 12 * 2 * math.pi / 360
    p_env = PendulumEnv(params=pendulum.PendulumParams(m=2.0, dt=0.01))
    assert p_env.m == 2.0 and p_env.dt == 0.01


@pytest.mark.parametrize(
    ("env", "attr", "field"),
    [
        (CartPoleEnv(), "gravity", "gravity"),
        (CartPoleEnv(), "theta_threshold_radians", "theta_threshold"),
        (PendulumEnv(), "max_torque", "max_torque"),
        (CartPoleEnv(), "total_mass", "total_mass"),
    ],
)
def test_assigning_an_attribute_says_it_is_read_only(env, attr, field):
    before = getattr(env, attr)
    with pytest.raises(AttributeError) as info:
        setattr(env, attr, 1.0)
    assert "read-only" in str(info.value)
    assert f"params.{field}" in str(info.value) and "replace(" in str(info.value)
    assert getattr(env, attr) == before


@pytest.mark.parametrize(
    ("attr", "words"),
    [
        ("kinematics_integrator", "integrator="),
        ("sutton_barto_reward", "sutton_barto_reward="),
        ("params", "fixed at construction"),
        ("clip_actions", "fixed at construction"),
    ],
)
def test_other_fixed_attributes_are_read_only(attr, words):
    env = CartPoleEnv()
    before = getattr(env, attr)
    with pytest.raises(AttributeError, match="read-only") as info:
        setattr(env, attr, "semi_implicit_euler")
    assert words in str(info.value)
    assert getattr(env, attr) == before
    env.render_mode = "rgb_array"  # an ordinary attribute stays assignable, as on Gymnasium's


# --- SystemEnv's constructor -------------------------------------------------------------------


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(TypeError, match=r"unknown option\(s\) 'gravity'.*sutton_barto_reward"):
        SystemEnv("cartpole", gravity=3.0)
    with pytest.raises(TypeError, match=r"'sutton_barto_reward'.*options are: g\b"):
        gym.make("diffsim/Pendulum-v1", sutton_barto_reward=True)


def test_unknown_task_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown task 'cartpol'.*cartpole-continuous"):
        SystemEnv("cartpol")
    with pytest.raises(ValueError, match="entry points of its own"):
        SystemEnv("trebuchet")


def test_g_option_with_params_must_agree():
    # g= changes params.g: with params= too, they must say the same (else ValueError).
    with pytest.raises(ValueError, match=r"g=9\.81.*params="):
        SystemEnv("pendulum", g=9.81, params=pendulum.PendulumParams())
    env = SystemEnv("pendulum", g=9.81, params=pendulum.PendulumParams(g=9.81, m=2.0))
    assert env.g == 9.81 and env.m == 2.0
    # Without params, g= applies to the task's parameters (the 2019 variant's too).
    env = SystemEnv("pendulum-2019", g=3.0)
    assert env.params == pendulum.PendulumParams.variant_2019(g=3.0)
    with pytest.raises(ValueError, match="^option 'g' must be a real number"):
        SystemEnv("pendulum", g="strong")


def test_params_replace_the_tasks_and_are_checked():
    env = SystemEnv("pendulum-2019", params=pendulum.PendulumParams(max_torque=3.0))
    assert env.params.clip_torque and env.action_space.high[0] == 3.0
    with pytest.raises(TypeError, match="PendulumParams"):
        SystemEnv("pendulum", params=cartpole.CartPoleParams())
    with pytest.raises(TypeError, match="clip_actions applies to continuous"):
        SystemEnv("cartpole", clip_actions=True)
    with pytest.raises(ValueError, match="render_mode"):
        SystemEnv("cartpole", render_mode="humanoid")


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
@pytest.mark.parametrize("env_id", ["diffsim/CartPole-v1", "diffsim/Pendulum-v1"])
def test_pickled_env_continues_identically(env_id, how):
    env = gym.make(env_id, **({"sutton_barto_reward": True} if "Cart" in env_id else {}))
    env.reset(seed=4)
    env.action_space.seed(4)
    for _ in range(5):
        env.step(env.action_space.sample())
    twin = pickle.loads(pickle.dumps(env)) if how == "pickle" else copy.deepcopy(env)
    assert twin.unwrapped.options == env.unwrapped.options
    for _ in range(60):  # through a termination and a reset (CartPole), or 60 swings
        action = env.action_space.sample()
        a, b = env.step(action), twin.step(action)
        assert a[0].tobytes() == b[0].tobytes() and a[1:4] == b[1:4]
        if a[2] or a[3]:
            assert env.reset()[0].tobytes() == twin.reset()[0].tobytes()


# --- the deprecated per-system classes -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "env_id"),
    [
        ("CartPoleEnv", {}, "diffsim/CartPole-v1"),
        ("CartPoleEnv", {"continuous": True}, "diffsim/CartPoleContinuous-v1"),
        ("CartPoleContinuousEnv", {"sutton_barto_reward": True}, "diffsim/CartPoleContinuous-v1"),
        ("PendulumEnv", {"g": 9.0}, "diffsim/Pendulum-v1"),
        ("Pendulum2019Env", {}, "diffsim/Pendulum2019-v1"),
    ],
)
def test_deprecated_classes_are_the_generic_env(name, kwargs, env_id):
    from diffsim import envs

    with pytest.warns(DeprecationWarning, match=f"{name} is deprecated.*SystemEnv"):
        old = getattr(envs, name)(**kwargs)
    assert isinstance(old, SystemEnv) and old.task.env_id == env_id
    new = SystemEnv(env_id, **{k: v for k, v in kwargs.items() if k != "continuous"})
    assert old.params == new.params and old.options == new.options
    check_environments_match(old, new, num_steps=100, seed=2, skip_render=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a copy is made without calling __init__
        assert type(pickle.loads(pickle.dumps(old))) is type(old)
