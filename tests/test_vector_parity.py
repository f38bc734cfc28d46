"""Vector-env parity with Gymnasium (issue #13): diffsim's :class:`SystemVectorEnv` against
Gymnasium's ``CartPoleVectorEnv`` (``make_vec("CartPole-v1", N)``) and against
``make_vec("Pendulum-v1", N, vectorization_mode="sync")``, stepped side by side with the
same seeds and actions across autoresets.

Everything is compared exactly (bytes) but Pendulum's rewards: Gymnasium's ``SyncVectorEnv``
computes each sub-env's cost on NumPy scalars, where ``x ** 2`` is C's ``pow`` (``powf`` for
the float32 torque), and diffsim's batched cost on arrays, where NumPy squares by
multiplication. ``pow`` is not always correctly rounded: about 1 in 1,000 random values
square to a result one ulp away. The float32 torque term ``0.001·u²`` (float32 on both
sides, as Gymnasium forms it) may then differ by one float32 ulp, at most 2^-31 ≈ 4.7e-10
for |u| ≤ 2 N·m, and the float64 angle and speed terms by an ulp each (relative 1e-14 covers
them). The state, hence the observations, never goes through ``pow`` and agrees bit for bit.
"""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_match import check_environments_match

import diffsim  # noqa: F401  (registers the ids)
from diffsim.envs import vector
from diffsim.envs.vector import SystemVectorEnv

REWARD_ATOL = 2.0**-31
"""Pendulum's reward tolerance: one float32 ulp of the torque term (module docstring)."""
REWARD_RTOL = 1e-14
"""Pendulum's reward tolerance for its float64 terms (module docstring)."""


def _theirs(env_id: str, n: int, **kwargs):
    if "CartPole" in env_id:
        return gym.make_vec("CartPole-v1", n, **kwargs)
    return gym.make_vec("Pendulum-v1", n, vectorization_mode="sync", **kwargs)


def _ours(env_id: str, n: int, **kwargs):
    return gym.make_vec(env_id, n, **kwargs)


def _their_state(env) -> np.ndarray:
    """The reference's state in the ``[n, N]`` layout (CartPoleVectorEnv keeps it so)."""
    if hasattr(env.unwrapped, "envs"):
        return np.stack([np.asarray(e.unwrapped.state) for e in env.unwrapped.envs], axis=1)
    return env.unwrapped.state


def _their_steps(env) -> np.ndarray:
    if hasattr(env.unwrapped, "envs"):  # each sub-env's TimeLimit counts its steps
        return np.array([e._elapsed_steps for e in env.unwrapped.envs])
    return env.unwrapped.steps


def _their_prev_done(env) -> np.ndarray:
    if hasattr(env.unwrapped, "envs"):
        return env.unwrapped._autoreset_envs
    return env.unwrapped.prev_done


def _same_step(env_id, out_a, out_b):
    (obs_a, rew_a, term_a, trunc_a, info_a), (obs_b, rew_b, term_b, trunc_b, info_b) = (
        out_a,
        out_b,
    )
    assert obs_a.dtype == obs_b.dtype == np.float32 and obs_a.shape == obs_b.shape
    assert obs_a.tobytes() == obs_b.tobytes()
    assert rew_a.dtype == rew_b.dtype and rew_a.shape == rew_b.shape
    if "CartPole" in env_id:
        np.testing.assert_array_equal(rew_a, rew_b)
    else:
        np.testing.assert_allclose(rew_a, rew_b, rtol=REWARD_RTOL, atol=REWARD_ATOL)
    assert term_a.dtype == term_b.dtype == np.bool_ and trunc_a.dtype == np.bool_
    np.testing.assert_array_equal(term_a, term_b)
    np.testing.assert_array_equal(trunc_a, trunc_b)
    assert info_a == info_b == {}


def _side_by_side(env_id, ours, theirs, steps, seed, check_counters=True):
    """Step both with the same sampled actions; return how many sub-env resets were crossed
    and how many rewards were bitwise equal."""
    space = copy.deepcopy(theirs.action_space)
    space.seed(seed)
    resets = exact = total = 0
    for _ in range(steps):
        actions = space.sample()
        a, b = ours.step(actions), theirs.step(actions)
        _same_step(env_id, a, b)
        assert ours.unwrapped.state.tobytes() == _their_state(theirs).tobytes()
        if check_counters:
            assert ours.unwrapped.steps.dtype == np.int32  # CartPoleVectorEnv's
            np.testing.assert_array_equal(ours.unwrapped.steps, _their_steps(theirs))
            np.testing.assert_array_equal(ours.unwrapped.prev_done, _their_prev_done(theirs))
        resets += int(np.count_nonzero(ours.unwrapped.prev_done))
        exact += int(np.count_nonzero(a[1] == b[1]))
        total += a[1].size
    return resets, exact / total


PAIRS = ["diffsim/CartPole-v1", "diffsim/Pendulum-v1"]


@pytest.mark.parametrize("env_id", PAIRS)
def test_check_environments_match_one_env(env_id):
    # make_vec's defaults on both sides: ours and CartPoleVectorEnv by their vector entry
    # points, Pendulum-v1 as SyncVectorEnv. 600 steps cross terminations / truncations.
    ours, theirs = _ours(env_id, 1), _theirs(env_id, 1)
    assert type(ours) is SystemVectorEnv
    assert ours.metadata["autoreset_mode"] == theirs.metadata["autoreset_mode"]
    check_environments_match(ours, theirs, num_steps=600, seed=3, skip_render=True)


def test_check_environments_match_sutton_barto_vector():
    ours = _ours("diffsim/CartPole-v1", 1, sutton_barto_reward=True)
    theirs = _theirs("diffsim/CartPole-v1", 1, sutton_barto_reward=True)
    check_environments_match(ours, theirs, num_steps=300, seed=1, skip_render=True)


@pytest.mark.parametrize("env_id", PAIRS)
@pytest.mark.parametrize("limit", [None, 37])
def test_four_envs_side_by_side_across_autoresets(env_id, limit):
    kwargs = {} if limit is None else {"max_episode_steps": limit}
    ours, theirs = _ours(env_id, 4, **kwargs), _theirs(env_id, 4, **kwargs)
    a, b = ours.reset(seed=11), theirs.reset(seed=11)
    assert a[0].tobytes() == b[0].tobytes() and a[1] == b[1] == {}
    resets, exact = _side_by_side(env_id, ours, theirs, steps=320, seed=11)
    assert resets >= 4  # terminations or truncations, each followed by an autoreset
    if "Pendulum" in env_id:
        assert exact > 0.9  # the last-bit differences are rare
    # A reset without a seed continues the generators on both sides.
    a, b = ours.reset(), theirs.reset()
    assert a[0].tobytes() == b[0].tobytes()
    _side_by_side(env_id, ours, theirs, steps=40, seed=12)


@pytest.mark.parametrize(
    ("env_id", "options"),
    [
        ("diffsim/CartPole-v1", {"low": -0.2, "high": 0.3}),
        ("diffsim/Pendulum-v1", {"x_init": 0.5, "y_init": 0.25}),
    ],
)
def test_reset_options_as_gymnasium(env_id, options):
    # CartPoleVectorEnv keeps low/high for its autoresets; SyncVectorEnv resets its
    # sub-envs without options. A short time limit makes autoresets frequent.
    ours = _ours(env_id, 4, max_episode_steps=9)
    theirs = _theirs(env_id, 4, max_episode_steps=9)
    a, b = ours.reset(seed=2, options=dict(options)), theirs.reset(seed=2, options=dict(options))
    assert a[0].tobytes() == b[0].tobytes()
    high = options.get("high", options.get("x_init"))
    assert np.abs(ours.unwrapped.state[0]).max() <= high
    resets, _ = _side_by_side(env_id, ours, theirs, steps=60, seed=2)
    assert resets >= 8


def test_pendulum_seed_lists_and_reset_mask_as_sync_vector_env():
    env_id = "diffsim/Pendulum-v1"
    ours, theirs = _ours(env_id, 4), _theirs(env_id, 4)
    seeds = [10, 3, 7, 1]
    a, b = ours.reset(seed=seeds), theirs.reset(seed=seeds)
    assert a[0].tobytes() == b[0].tobytes()
    assert ours.unwrapped.np_random_seed == tuple(seeds)
    assert len(ours.unwrapped.np_random) == 4  # one generator per sub-env, as SyncVectorEnv
    _side_by_side(env_id, ours, theirs, steps=15, seed=4)
    mask = np.array([True, False, False, True])
    options = {"reset_mask": mask, "x_init": 0.1}
    a, b = ours.reset(seed=5, options=dict(options)), theirs.reset(seed=5, options=dict(options))
    assert a[0].tobytes() == b[0].tobytes()
    np.testing.assert_array_equal(ours.unwrapped.steps, _their_steps(theirs))
    _side_by_side(env_id, ours, theirs, steps=15, seed=5)
    with pytest.raises(ValueError, match="seed must be None, an int"):
        ours.reset(seed=[1, 2])


def test_cartpole_has_one_generator_and_refuses_seed_lists():
    ours = _ours("diffsim/CartPole-v1", 3)
    with pytest.raises(TypeError, match="one generator"):
        ours.reset(seed=[1, 2, 3])
    ours.reset(seed=4)
    assert isinstance(ours.unwrapped.np_random, np.random.Generator)
    assert ours.unwrapped.np_random_seed == 4


@pytest.mark.parametrize("env_id", PAIRS)
def test_state_attribute_layout_and_assignment_as_gymnasium(env_id):
    n = 5
    ours, theirs = _ours(env_id, n), _theirs(env_id, n)
    ours.reset(seed=0)
    theirs.reset(seed=0)
    size = ours.unwrapped.system.state_size
    state = ours.unwrapped.state
    assert state.shape == (size, n) and state.dtype == np.float64  # [n, num_envs]
    assert state.tobytes() == _their_state(theirs).tobytes()
    with pytest.raises(ValueError, match="read-only"):
        state[0, 0] = 1.0
    new = np.random.default_rng(1).uniform(-0.1, 0.1, size=(size, n))
    ours.unwrapped.state = new
    if hasattr(theirs.unwrapped, "envs"):
        for i, e in enumerate(theirs.unwrapped.envs):
            e.unwrapped.state = new[:, i].copy()
    else:
        theirs.unwrapped.state = new.copy()
    new[0, 0] = 99.0  # the env keeps its own copy
    assert ours.unwrapped.state[0, 0] != 99.0
    _side_by_side(env_id, ours, theirs, steps=30, seed=1)
    before = ours.unwrapped.state
    with pytest.raises(ValueError, match=rf"shape \({size}, {n}\).*one column per sub-env"):
        ours.unwrapped.state = before.T
    with pytest.raises(ValueError, match="finite"):
        ours.unwrapped.state = np.full((size, n), np.nan)
    np.testing.assert_array_equal(ours.unwrapped.state, before)


@pytest.mark.parametrize("env_id", PAIRS)
def test_reset_from_given_states_in_the_state_layout(env_id):
    n = 3
    ours, theirs = _ours(env_id, n), _theirs(env_id, n)
    size = ours.unwrapped.system.state_size
    given = np.random.default_rng(2).uniform(-0.04, 0.04, size=(size, n))
    ours.reset(seed=6)  # the same draw on both sides (a given state draws nothing) ...
    theirs.reset(seed=6)
    ours.reset(options={"state": given})  # ... then both continue from the given states
    if hasattr(theirs.unwrapped, "envs"):
        for i, e in enumerate(theirs.unwrapped.envs):
            e.unwrapped.state = given[:, i].copy()
    else:
        theirs.unwrapped.state = given.copy()
    assert ours.unwrapped.state.tobytes() == given.tobytes()
    _side_by_side(env_id, ours, theirs, steps=30, seed=6)
    with pytest.raises(ValueError, match=r"options\['state'\] must be .*shape"):
        ours.reset(options={"state": given.T})


def test_reward_dtypes():
    cart, pend = _ours("diffsim/CartPole-v1", 2), _ours("diffsim/Pendulum-v1", 2)
    cart.reset(seed=0)
    pend.reset(seed=0)
    assert cart.step(np.array([0, 1]))[1].dtype == np.float32  # CartPoleVectorEnv's
    assert pend.step(np.zeros((2, 1), np.float32))[1].dtype == np.float64  # SyncVectorEnv's
    cont = _ours("diffsim/CartPoleContinuous-v1", 2)
    cont.reset(seed=0)
    assert cont.step(np.zeros((2, 1), np.float32))[1].dtype == np.float32


@pytest.mark.parametrize("env_id", PAIRS)
def test_pickled_vector_env_continues_like_gymnasium(env_id):
    ours, theirs = _ours(env_id, 4, max_episode_steps=13), _theirs(env_id, 4, max_episode_steps=13)
    ours.reset(seed=8)
    theirs.reset(seed=8)
    _side_by_side(env_id, ours, theirs, steps=10, seed=8)
    twin = pickle.loads(pickle.dumps(ours))
    # The copy draws its autoresets from the copied generator(s): it continues as the
    # original would have, i.e. as Gymnasium's env.
    _side_by_side(env_id, twin, theirs, steps=40, seed=9)


@pytest.mark.slow  # compiles (about 10 s)
def test_fast_vector_env_matches_gymnasium_to_rounding():
    pytest.importorskip("torch")
    ours = SystemVectorEnv("cartpole", num_envs=4, max_episode_steps=500, fast=True)
    theirs = _theirs("diffsim/CartPole-v1", 4)
    ours.reset(seed=3)
    theirs.reset(seed=3)
    space = copy.deepcopy(theirs.action_space)
    space.seed(3)
    for _ in range(20):
        actions = space.sample()
        obs_a, rew_a, term_a, *_ = ours.step(actions)
        obs_b, rew_b, term_b, *_ = theirs.step(actions)
        np.testing.assert_allclose(obs_a, obs_b, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(rew_a, rew_b)
        assert rew_a.dtype == np.float32


def test_autoreset_ignores_the_action_and_pays_zero():
    env = SystemVectorEnv("cartpole", num_envs=2)
    env.reset(options={"state": [[2.39, 0.0], [5.0, 0.0], [0.0, 0.0], [0.0, 0.0]]})
    _, rew, term, trunc, _ = env.step(np.array([1, 0]))
    assert term.tolist() == [True, False] and rew.tolist() == [1.0, 1.0]
    assert env.prev_done.tolist() == [True, False]
    obs, rew, term, trunc, _ = env.step(np.array([1, 0]))
    assert rew.tolist() == [0.0, 1.0] and not term.any() and not trunc.any()
    assert np.abs(obs[0]).max() <= 0.05 and env.steps.tolist() == [0, 2]


@pytest.mark.parametrize(
    ("name", "kwargs", "env_id"),
    [
        ("CartPoleVectorEnv", {}, "diffsim/CartPole-v1"),
        ("CartPoleVectorEnv", {"continuous": True}, "diffsim/CartPoleContinuous-v1"),
        ("CartPoleContinuousVectorEnv", {}, "diffsim/CartPoleContinuous-v1"),
        ("PendulumVectorEnv", {"g": 9.0}, "diffsim/Pendulum-v1"),
        ("Pendulum2019VectorEnv", {}, "diffsim/Pendulum2019-v1"),
    ],
)
def test_deprecated_vector_classes_are_the_generic_env(name, kwargs, env_id):
    with pytest.warns(DeprecationWarning, match=f"{name} is deprecated"):
        old = getattr(vector, name)(num_envs=1, **kwargs)
    assert isinstance(old, SystemVectorEnv) and old.task.env_id == env_id
    new = SystemVectorEnv(env_id, 1, **{k: v for k, v in kwargs.items() if k != "continuous"})
    assert old.params == new.params and old.max_episode_steps == new.max_episode_steps
    check_environments_match(old, new, num_steps=50, seed=2, skip_render=True)


def test_bad_reset_masks_are_refused():
    env = SystemVectorEnv("pendulum", num_envs=2)
    with pytest.raises(Exception, match="reset every sub-env"):
        env.reset(options={"reset_mask": np.array([True, False])})
    env.reset(seed=0)
    for mask, err in [
        ([True, False], TypeError),
        (np.array([1, 0]), TypeError),
        (np.array([True]), ValueError),
        (np.array([False, False]), ValueError),
    ]:
        with pytest.raises(err, match="reset_mask"):
            env.reset(options={"reset_mask": mask})
