"""Bad input at the physics and env boundaries: refused with a clear error, or handled.

Each test here failed before the fix it covers (issue 12, item 5): vector envs that could
not be pickled, the unclipped Pendulum's unbounded torque, parameter batches that do not
fit the state, and trebuchet release angles outside [0°, 90°].
"""

from __future__ import annotations

import copy
import pickle

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
    "cls",
    [
        vector.CartPoleVectorEnv,
        vector.CartPoleContinuousVectorEnv,
        vector.PendulumVectorEnv,
        vector.Pendulum2019VectorEnv,
        vector.TrebuchetVectorEnv,
    ],
)
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_vector_env_copy_continues_the_same_trajectory(cls, how):
    env = cls(num_envs=3, max_episode_steps=7)
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
    env = vector.CartPoleVectorEnv(num_envs=2, fast=True)
    env.reset(seed=0)
    twin = pickle.loads(pickle.dumps(env))
    assert twin._transition.fast and twin._transition._compiled is None
    np.testing.assert_array_equal(twin.state, env.state)
