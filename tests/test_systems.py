"""The registry of systems and tasks (:mod:`diffsim.systems`) and the generic Gymnasium
adapters over a user's own system.

A toy system defined here (a block sliding with friction, pushed by a force) is registered
from the test with ids of its own namespace; ``gymnasium.make`` and ``make_vec`` must then
serve it through :class:`SystemEnv` / :class:`SystemVectorEnv` without any code of its own,
pass Gymnasium's env checker, and (with no vector draw) step exactly as Gymnasium's
``SyncVectorEnv`` over the single env does.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.env_match import check_environments_match

from diffsim import systems
from diffsim._params import Params
from diffsim.envs.env import SystemEnv
from diffsim.envs.vector import SystemVectorEnv
from diffsim.systems import System, TaskSpec

NAME = "slide_test"
ENV_ID = "test_systems/Slide-v0"
BATCH_ENV_ID = "test_systems/SlideDiscrete-v0"


@dataclasses.dataclass(frozen=True)
class SlideParams(Params):
    mass: float = 2.0  # kg
    friction: float = 0.3  # N·s/m
    force: float = 4.0  # N for a full push
    dt: float = 0.1  # s
    x_limit: float = 3.0  # m
    _positive = ("mass", "friction", "force", "dt", "x_limit")


def _step(state, action, params, integrator):
    """Explicit Euler on (x m, v m/s); the push is clipped to [-1, 1]. Row-major output
    (``np.stack(..., -1)``), unlike the built-in systems' component-major one."""
    x, v = state[..., 0], state[..., 1]
    a = (params.force * np.clip(action, -1.0, 1.0) - params.friction * v) / params.mass
    return np.stack([x + params.dt * v, v + params.dt * a], -1)


def _reward(state, action, next_state, params):
    return -(next_state[..., 0] ** 2) - 0.01 * np.square(action)


def _terminated(state, params):
    return np.abs(state[..., 0]) > params.x_limit


def _reset_state(np_random, options=None):
    spread = systems.option_number(options, "spread", 1.0)
    return np_random.uniform(low=-spread, high=spread, size=(2,))


def _reset_batch(np_random, count, options=None):
    spread = systems.option_number(options, "spread", 1.0)
    return np_random.uniform(low=-spread, high=spread, size=(2, count))


def _env_reward(state, action, next_state, terminated, params, options):
    return _reward(state, action, next_state, params) * options["scale"]


SLIDE = System(
    name=NAME,
    title="Slide",
    module=__name__,
    state_names=("x", "v"),
    state_units=("m", "m/s"),
    observation_names=("x", "v"),
    params_type=SlideParams,
    default_params=SlideParams(),
    dt_field="dt",
    default_integrator="euler",
    action_unit="push in [-1, 1]",
    action_bounds=lambda params: (-1.0, 1.0),
    discrete_actions=(-1.0, 0.0, 1.0),
    step=_step,
    step_unchecked=_step,
    reward=_reward,
    terminated=_terminated,
    observe=lambda state: state,
    observation_high=lambda params: (2 * params.x_limit, math.inf),
    sample_initial=lambda *args, **kwargs: None,
    reset_state=_reset_state,
    env_options={"scale": 1.0},
    env_reward=_env_reward,
    env_attributes={"mass": "mass", "x_threshold": "x_limit"},
)
TASKS = [
    TaskSpec(ENV_ID, NAME, "slide-test", max_episode_steps=30, reward_threshold=-5.0),
    TaskSpec(BATCH_ENV_ID, NAME, "slide-test-discrete", "discrete", max_episode_steps=25),
]


@pytest.fixture(scope="module", autouse=True)
def registered():
    """The toy system registered for this module's tests, and the registries (ours and
    Gymnasium's) restored afterwards, so that later test modules see only the built-ins."""
    saved_systems, saved_tasks = dict(systems._SYSTEMS), dict(systems._TASKS)
    saved_gym = dict(gym.registry)
    systems.register_system(NAME, SLIDE, TASKS)
    yield
    systems._SYSTEMS.clear()
    systems._SYSTEMS.update(saved_systems)
    systems._TASKS.clear()
    systems._TASKS.update(saved_tasks)
    gym.registry.clear()
    gym.registry.update(saved_gym)


# --- the registry ------------------------------------------------------------------------------


def test_registering_registers_with_gymnasium_at_once():
    spec = gym.spec(ENV_ID)
    assert spec.entry_point == "diffsim.envs.env:SystemEnv"
    assert spec.vector_entry_point == "diffsim.envs.vector:SystemVectorEnv"
    assert spec.kwargs == {"task": ENV_ID}
    assert spec.max_episode_steps == 30 and spec.reward_threshold == -5.0
    assert systems.get_task_spec("slide-test") is systems.task_specs()[ENV_ID]
    assert systems.get_system(NAME) is SLIDE


def test_registering_the_same_again_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Gymnasium warns when an id is registered twice
        systems.register_system(NAME, SLIDE, TASKS)
    assert [t for t in systems.task_specs() if t.startswith("test_systems/")] == [
        ENV_ID,
        BATCH_ENV_ID,
    ]


def test_conflicting_registrations_raise_and_change_nothing():
    before = systems.task_specs()
    other = dataclasses.replace(SLIDE, title="Other slide")
    with pytest.raises(ValueError, match=f"a system named '{NAME}' is already registered"):
        systems.register_system(NAME, other)
    with pytest.raises(ValueError, match=f"the id '{ENV_ID}' is already registered"):
        systems.register_system(NAME, SLIDE, [dataclasses.replace(TASKS[0], max_episode_steps=9)])
    renamed = dataclasses.replace(SLIDE, name="slide_test_other")
    with pytest.raises(ValueError, match="the short name 'slide-test' already names"):
        systems.register_system(
            "slide_test_other",
            renamed,
            [TaskSpec("test_systems/Other-v0", renamed.name, "slide-test")],
        )
    with pytest.raises(ValueError, match="the System is named"):
        systems.register_system("slide_test_x", SLIDE)
    assert systems.task_specs() == before
    assert "test_systems/Other-v0" not in gym.registry


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=rf"unknown system 'slid'; expected one of: .*{NAME}"):
        systems.get_system("slid")
    with pytest.raises(ValueError, match=r"unknown task 'slid'.*slide-test.*test_systems/Slide-v0"):
        systems.get_task_spec("slid")
    with pytest.raises(ValueError, match="unknown task 'slid'.*cartpole"):
        SystemEnv("slid")
    with pytest.raises(ValueError, match="unknown task 'slid'"):
        SystemVectorEnv("slid", 2)


def test_a_system_named_by_module_path_loads_on_first_use():
    name = "slide_test_lazy"
    lazy = dataclasses.replace(SLIDE, name=name)
    globals()["LAZY"] = lazy  # what the "module:attr" string names
    systems.register_system(
        name, f"{__name__}:LAZY", [TaskSpec("test_systems/Lazy-v0", name, "slide-test-lazy")]
    )
    assert gym.spec("test_systems/Lazy-v0").kwargs == {"task": "test_systems/Lazy-v0"}
    env = gym.make("test_systems/Lazy-v0")
    assert env.unwrapped.system is lazy
    assert env.reset(seed=0)[0].shape == (2,)


# --- the generic adapters over the toy ---------------------------------------------------------


def _checked(env):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    # Gymnasium's own classic-control envs get the same warning for unbounded boxes.
    bad = [str(w.message) for w in caught if "infinity" not in str(w.message)]
    assert not bad, bad


@pytest.mark.parametrize("env_id", [ENV_ID, BATCH_ENV_ID])
def test_gymnasium_check_env_passes(env_id):
    _checked(gym.make(env_id).unwrapped)


def test_single_env_follows_the_description():
    env = gym.make(ENV_ID)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    high = np.array([6.0, np.inf], np.float32)
    assert env.observation_space == gym.spaces.Box(-high, high, dtype=np.float32)
    obs, _ = env.reset(seed=3)
    expected = np.random.Generator(np.random.PCG64(3)).uniform(-1.0, 1.0, size=(2,))
    np.testing.assert_array_equal(env.unwrapped.state, expected)  # reset_state's draw
    action = np.array([0.5], np.float32)
    obs, reward, terminated, truncated, info = env.step(action)
    x, v = expected
    a = (4.0 * np.float32(0.5) - 0.3 * v) / 2.0
    np.testing.assert_array_equal(env.unwrapped.state, [x + 0.1 * v, v + 0.1 * a])
    # The action reaches the physics as float32 (System.env_action_dtype's default).
    assert type(reward) is float and reward == -((x + 0.1 * v) ** 2) - 0.01 * np.float32(0.25)
    assert (terminated, truncated, info) == (False, False, {})
    assert env.unwrapped.mass == 2.0 and env.unwrapped.x_threshold == 3.0
    with pytest.raises(AttributeError, match="read-only"):
        env.unwrapped.x_threshold = 4.0
    scaled = gym.make(ENV_ID, scale=2.0)  # the system's own option, through env_reward
    scaled.reset(seed=3)
    assert scaled.step(action)[1] == 2 * reward
    with pytest.raises(TypeError, match="options are: scale"):
        gym.make(ENV_ID, sutton_barto_reward=True)
    assert env.metadata["render_modes"] == []  # no System.render: nothing to draw
    with pytest.raises(ValueError, match="not drawn"):
        gym.make(ENV_ID, render_mode="rgb_array")
    with pytest.raises(ValueError, match="not drawn"):
        gym.make_vec(ENV_ID, 2, render_mode="rgb_array")


def test_time_limit_and_termination():
    env = gym.make(ENV_ID)
    env.reset(options={"state": [0.0, 0.0]})
    for _ in range(30):
        *_, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
    assert truncated and not terminated
    env.reset(options={"state": [2.95, 1.0]})
    assert env.step(np.ones(1, np.float32))[2]


def test_vector_without_a_vector_draw_equals_sync_vector_env():
    ours = gym.make_vec(ENV_ID, 4)
    theirs = gym.make_vec(ENV_ID, 4, vectorization_mode="sync")
    assert type(ours) is SystemVectorEnv and type(theirs) is gym.vector.SyncVectorEnv
    a, b = (
        ours.reset(seed=7, options={"spread": 2.0}),
        theirs.reset(seed=7, options={"spread": 2.0}),
    )
    assert a[0].tobytes() == b[0].tobytes()
    space = ours.action_space
    space.seed(7)
    resets = 0
    for _ in range(120):  # 30-step truncations and terminations at |x| > 3, autoresets
        actions = space.sample()
        out_a, out_b = ours.step(actions), theirs.step(actions)
        for x, y in zip(out_a[:4], out_b[:4]):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
        resets += int(ours.unwrapped.prev_done.sum())
    assert resets >= 8
    check_environments_match(
        gym.make_vec(ENV_ID, 1), gym.make_vec(ENV_ID, 1, vectorization_mode="sync"), 200, seed=1
    )


def test_vector_with_a_vector_draw_uses_one_generator():
    system = dataclasses.replace(SLIDE, name="slide_test_batch", reset_batch=_reset_batch)
    env_id = "test_systems/SlideBatch-v0"
    systems.register_system(
        system.name,
        system,
        [TaskSpec(env_id, system.name, "slide-test-batch", "discrete", max_episode_steps=20)],
    )
    env = gym.make_vec(env_id, 5)
    assert env.action_space == gym.spaces.MultiDiscrete([3] * 5)
    env.reset(seed=2, options={"spread": 0.5})
    generator = np.random.Generator(np.random.PCG64(2))
    expected = generator.uniform(-0.5, 0.5, size=(2, 5))  # one [n, N] draw
    np.testing.assert_array_equal(env.unwrapped.state, expected)
    state = expected
    done = np.zeros(5, dtype=bool)
    for t in range(45):  # truncations at 20, autoresets redrawn with the reset's spread
        actions = np.array([t % 3, 0, 1, 2, 1])
        obs, reward, terminated, truncated, _ = env.step(actions)
        push = np.array([-1.0, 0.0, 1.0])[actions]
        new = _step(state.T, push, SlideParams(), None).T
        if done.any():
            new[:, done] = generator.uniform(-0.5, 0.5, size=(2, int(done.sum())))
        np.testing.assert_array_equal(env.unwrapped.state, new)
        np.testing.assert_array_equal(obs, new.T.astype(np.float32))
        assert reward.dtype == np.float64 and (reward[done] == 0).all()
        state, done = new, terminated | truncated
    assert pickle.loads(pickle.dumps(env)).unwrapped.state.tobytes() == state.tobytes()


def test_toy_envs_pickle_though_the_system_holds_lambdas():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    twin = pickle.loads(pickle.dumps(env))
    assert twin.unwrapped.system is SLIDE  # looked up by name
    action = np.array([0.3], np.float32)
    assert env.step(action)[0].tobytes() == twin.step(action)[0].tobytes()
