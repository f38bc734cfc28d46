"""Tests of the Gymnasium environments (diffsim.envs), driven by the registered ids."""

from __future__ import annotations

import copy
import importlib
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.error import ResetNeeded

import diffsim
from diffsim import envs
from diffsim.envs import ENV_IDS
from diffsim.envs import trebuchet_env as tenv

CLASSIC_IDS = [i for i in ENV_IDS if "Trebuchet" not in i]
# Warnings the checkers also give on Gymnasium's own CartPole / Pendulum.
BENIGN = ("infinity", "symmetric and normalized")


def _checked(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    bad = [str(w.message) for w in caught if not any(b in str(w.message) for b in BENIGN)]
    assert not bad, bad


# --- registration ------------------------------------------------------------------------


def test_registered_ids_and_specs():
    assert ENV_IDS == [
        "diffsim/CartPole-v1",
        "diffsim/CartPoleContinuous-v1",
        "diffsim/Pendulum-v1",
        "diffsim/Pendulum2019-v1",
        "diffsim/Trebuchet-v0",
        "diffsim/Acrobot-v1",
        "diffsim/MountainCar-v0",
        "diffsim/MountainCarContinuous-v0",
    ]
    for env_id in ENV_IDS:
        spec = gym.spec(env_id)
        assert spec.vector_entry_point is not None
    assert gym.spec("diffsim/CartPole-v1").max_episode_steps == 500
    assert gym.spec("diffsim/CartPole-v1").reward_threshold == 475.0
    assert gym.spec("diffsim/Pendulum-v1").max_episode_steps == 200
    assert gym.spec("diffsim/Pendulum-v1").reward_threshold is None
    for env_id in CLASSIC_IDS:  # the generic adapters, told their task
        spec = gym.spec(env_id)
        assert spec.entry_point == "diffsim.envs.env:SystemEnv"
        assert spec.vector_entry_point == "diffsim.envs.vector:SystemVectorEnv"
        assert spec.kwargs == {"task": env_id}
    assert gym.spec("diffsim/Trebuchet-v0").kwargs == {}
    assert gym.make("diffsim/CartPole-v1").action_space == gym.spaces.Discrete(2)
    box = gym.make("diffsim/CartPoleContinuous-v1").action_space
    assert box.shape == (1,) and box.low[0] == -1 and box.high[0] == 1


def test_registration_is_idempotent_and_module_form_works():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(envs.registration)
        envs.register_envs()
        importlib.reload(envs)
    assert sum(k.startswith("diffsim/") for k in gym.registry) == len(ENV_IDS)
    env = gym.make("diffsim:diffsim/CartPole-v1")
    assert env.reset(seed=0)[0].shape == (4,)


def test_import_is_light():
    heavy = ("matplotlib", "pygame", "stable_baselines3")
    code = f"import sys, diffsim; print([m for m in {heavy!r} if m in sys.modules])"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --- checkers ------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_check_env(env_id, monkeypatch):
    from gymnasium.utils.env_checker import check_env

    # The checker also makes the env in every declared render mode: "human" draws into an
    # off-screen pygame window.
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")

    _checked(check_env, gym.make(env_id).unwrapped)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env(env_id):
    sb3 = pytest.importorskip("stable_baselines3.common.env_checker")
    _checked(sb3.check_env, gym.make(env_id))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_step_types_and_fresh_arrays(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=1)
    assert obs.dtype == np.float32 and isinstance(info, dict)
    obs2, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    # Gymnasium's own types: Pendulum's reward is an np.float64, CartPole's a Python float.
    reward_type = np.float64 if "Pendulum" in env_id else float
    assert type(reward) is reward_type and type(terminated) is bool and type(truncated) is bool
    assert obs2.dtype == np.float32 and env.observation_space.contains(obs2)
    assert not np.shares_memory(obs, obs2)
    obs2[:] = 123.0  # mutating what was returned must not touch the env
    if not terminated:
        obs3 = env.step(env.action_space.sample())[0]
        assert not np.any(obs3 == 123.0)


# --- determinism and equivalence with Gymnasium ---------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_determinism(env_id):
    def run(seed):
        env = gym.make(env_id)
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for _ in range(5 if "Trebuchet" in env_id else 30):
            obs, r, term, trunc, _ = env.step(env.action_space.sample())
            out += [obs, np.array([r, term, trunc])]
            if term or trunc:
                out.append(env.reset()[0])
        return np.concatenate([np.ravel(o).astype(np.float64) for o in out])

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


@pytest.mark.parametrize("seed", range(5))
def test_cartpole_equals_gymnasium_exactly(seed):
    ref, ours = gym.make("CartPole-v1"), gym.make("diffsim/CartPole-v1")
    o1, _ = ref.reset(seed=seed)
    o2, _ = ours.reset(seed=seed)
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(ref.unwrapped.state, ours.unwrapped.state)
    rng = np.random.default_rng(seed)
    for n in range(500):
        a = int(rng.integers(2)) if n % 7 else 1
        r1, r2 = ref.step(a), ours.step(a)
        np.testing.assert_array_equal(r1[0], r2[0])
        np.testing.assert_array_equal(ref.unwrapped.state, ours.unwrapped.state)
        assert r1[1:4] == r2[1:4], f"step {n}"
        if r1[2] or r1[3]:
            break
    assert r1[2]  # the episodes do terminate, on the same step


@pytest.mark.parametrize("seed", range(3))
def test_pendulum_equals_gymnasium(seed):
    """The action reaches the physics as float32, so the torque term rounds as Gymnasium's
    (NumPy 2 promotion) and the float64 state agrees step for step. Each step is compared
    from the reference's own state (the spec's recipe) to 1e-12, and the whole 200-step
    trajectory to 1e-6, well inside the chaotic drift (few 1e-3) the spec allows a port
    that forms the torque term in float64; on this platform it is in fact identical."""
    ref, ours = gym.make("Pendulum-v1"), gym.make("diffsim/Pendulum-v1")
    o1, _ = ref.reset(seed=seed)
    o2, _ = ours.reset(seed=seed)
    np.testing.assert_array_equal(o1, o2)
    free = gym.make("diffsim/Pendulum-v1")
    free.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(200):
        a = rng.uniform(-3, 3, size=(1,)).astype(np.float32)  # beyond ±2 is clipped by both
        ours.reset(options={"state": ref.unwrapped.state})
        r1, r2, r3 = ref.step(a), ours.step(a), free.step(a)
        np.testing.assert_allclose(ours.unwrapped.state, ref.unwrapped.state, rtol=0, atol=1e-12)
        np.testing.assert_allclose(r2[1], r1[1], rtol=1e-12)
        np.testing.assert_allclose(r3[0], r1[0], atol=1e-6)
        assert r1[2:4] == r3[2:4] and r1[2] == r2[2] is False
    np.testing.assert_allclose(free.unwrapped.state, ref.unwrapped.state, atol=1e-6)
    assert ref.step(np.zeros(1, np.float32))[3] and free.step(np.zeros(1, np.float32))[3]


def test_pendulum2019_is_the_variant_and_unclipped():
    env = gym.make("diffsim/Pendulum2019-v1").unwrapped
    assert env.params == diffsim.PendulumParams.variant_2019()
    env.reset(options={"state": [0.0, 0.0]})
    env.step(np.array([5.0], np.float32))  # applied as given: 5 N·m, not 2
    clipped = gym.make("diffsim/Pendulum-v1").unwrapped
    clipped.reset(options={"state": [0.0, 0.0]})
    clipped.step(np.array([5.0], np.float32))
    assert env.state[1] == pytest.approx(3 * 5.0 * 0.05)
    assert clipped.state[1] == pytest.approx(3 * 2.0 * 0.05)


# --- vector envs ---------------------------------------------------------------------------


def _single_for(env_id):
    return gym.make(env_id).unwrapped


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_vector_equals_single_envs(env_id):
    n = 6
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point")
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    vec.action_space.seed(0)
    vec.reset(seed=0)
    start = vec.unwrapped.state
    assert start.shape == (vec.unwrapped.system.state_size, n)  # one column per sub-env
    singles = [_single_for(env_id) for _ in range(n)]
    for s, x in zip(singles, start.T):
        s.reset(options={"state": x})
    for _ in range(40):
        actions = vec.action_space.sample()
        obs, rew, term, trunc, _ = vec.step(actions)
        for i, s in enumerate(singles):
            o, r, te, _, _ = s.step(actions[i])
            np.testing.assert_array_equal(obs[i], o)
            assert (rew[i], term[i]) == (r, te)
        if term.any():
            break  # single envs have no autoreset; compared up to the first termination
    # batched: the states equal the singles' (float64)
    np.testing.assert_array_equal(vec.unwrapped.state, np.stack([s.state for s in singles], 1))


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_vector_autoreset_next_step(env_id):
    n = 4
    vec = gym.make_vec(
        env_id, num_envs=n, vectorization_mode="vector_entry_point", max_episode_steps=5
    )
    obs, _ = vec.reset(seed=3)
    vec.action_space.seed(3)
    steps = np.zeros(n, dtype=int)
    prev_done = np.zeros(n, dtype=bool)
    resets = np.zeros(n, dtype=int)
    for _ in range(30):
        before = vec.unwrapped.state
        obs, rew, term, trunc, _ = vec.step(vec.action_space.sample())
        after = vec.unwrapped.state
        for i in range(n):
            if prev_done[i]:  # reset this step: new state, reward 0, not done, action ignored
                assert rew[i] == 0.0 and not term[i] and not trunc[i]
                assert not np.array_equal(before[:, i], after[:, i])
                steps[i] = 0
                resets[i] += 1
            else:
                steps[i] += 1
                assert trunc[i] == (steps[i] >= 5)
        prev_done = term | trunc
        assert vec.observation_space.contains(obs)
    # Truncated after at most 5 steps, reset on the next: every env was reset 5 to 15 times.
    assert resets.min() >= 5 and resets.max() <= 15, resets


def test_vector_initial_states_seeded_and_batched():
    a = gym.make_vec("diffsim/CartPole-v1", num_envs=1000, vectorization_mode="vector_entry_point")
    b = gym.make_vec("diffsim/CartPole-v1", num_envs=1000, vectorization_mode="vector_entry_point")
    oa, _ = a.reset(seed=5)
    ob, _ = b.reset(seed=5)
    np.testing.assert_array_equal(oa, ob)
    assert np.abs(oa).max() <= 0.05 and len(np.unique(oa[:, 0])) == 1000
    assert not np.array_equal(a.reset(seed=6)[0], oa)
    p = gym.make_vec("diffsim/Pendulum-v1", num_envs=1000, vectorization_mode="vector_entry_point")
    assert p.unwrapped.state is None
    p.reset(seed=0)
    st = p.unwrapped.state
    assert np.abs(st[0]).max() <= np.pi and np.abs(st[1]).max() <= 1.0
    assert np.abs(st[0]).max() > 3.0


def test_trebuchet_vector_matches_single_and_resets():
    vec = gym.make_vec("diffsim/Trebuchet-v0", num_envs=3, vectorization_mode="vector_entry_point")
    obs, _ = vec.reset(seed=0)
    actions = np.array([[45, 200], [30, 100], [60, 400]], dtype=np.float32)
    obs1, rew, term, trunc, info = vec.step(actions)
    np.testing.assert_array_equal(obs1, obs)
    assert term.all() and not trunc.any()
    single = gym.make("diffsim/Trebuchet-v0").unwrapped
    for i in range(3):
        single.reset(
            options={
                "wind": float(vec.unwrapped.state[i, 0]),
                "target": float(vec.unwrapped.state[i, 1]),
            }
        )
        _, r, te, _, inf = single.step(actions[i])
        assert te and r == pytest.approx(rew[i], rel=1e-9)
        assert inf["distance"] == pytest.approx(info["distance"][i], rel=1e-9)
    obs2, rew2, term2, _, _ = vec.step(actions)  # NEXT_STEP autoreset: new tasks, reward 0
    assert (rew2 == 0).all() and not term2.any() and not np.array_equal(obs2, obs)


# --- the trebuchet task ----------------------------------------------------------------------


def test_trebuchet_reward_and_coverage():
    shoot = tenv.physics().shoot
    env = gym.make("diffsim/Trebuchet-v0").unwrapped
    env.reset(options={"wind": -2.0, "target": 60.0})
    _, r, term, trunc, info = env.step(np.array([45.0, 200.0], np.float32))
    d = float(
        shoot(
            torch.tensor(-2.0, dtype=torch.float64),
            torch.tensor(45.0, dtype=torch.float64),
            torch.tensor(200.0, dtype=torch.float64),
        )
    )
    assert info["distance"] == pytest.approx(d) and r == pytest.approx(-abs(d - 60.0))
    assert term and not trunc and not info["failed"]
    # A failed shot earns -target.
    r_fail, failed = tenv.shot_rewards(torch.tensor([float("nan")]), torch.tensor([42.0]))
    assert float(r_fail) == -42.0 and bool(failed)
    # Coverage: the action box reaches the farthest target in the strongest headwind and the
    # nearest target in the strongest tailwind.
    angles = torch.linspace(*tenv.ANGLE_RANGE, 33, dtype=torch.float64)
    weights = torch.linspace(*tenv.WEIGHT_RANGE, 8, dtype=torch.float64)
    a, w = torch.meshgrid(angles, weights, indexing="ij")
    far = shoot(torch.full_like(a, tenv.WIND_RANGE[0]), a, w, on_failure="nan")
    near = shoot(torch.full_like(a, tenv.WIND_RANGE[1]), a, w, on_failure="nan")
    assert torch.nan_to_num(far, nan=-1.0).max() >= tenv.TARGET_RANGE[1]
    assert torch.nan_to_num(near, nan=1e9).min() <= tenv.TARGET_RANGE[0]


# --- bad inputs ------------------------------------------------------------------------------

BAD_DISCRETE = [
    (2, ValueError),
    (-1, ValueError),
    (0.5, TypeError),
    (True, TypeError),
    ("1", TypeError),
    (np.array([1]), TypeError),
    (None, TypeError),
]
BAD_BOX = [
    (np.array([np.nan], np.float32), ValueError),
    (np.array([np.inf]), ValueError),
    (np.array([0.1, 0.2]), ValueError),
    (np.array(0.3), ValueError),
    (np.array(["a"]), TypeError),
    (np.array([1 + 1j]), TypeError),
    (np.array([True]), TypeError),
    (None, TypeError),
]


def _assert_still_usable(env, before):
    np.testing.assert_array_equal(env.unwrapped.state, before)
    out = env.step(env.action_space.sample())
    assert len(out) == 5


@pytest.mark.parametrize("action,err", BAD_DISCRETE)
def test_bad_discrete_action(action, err):
    env = gym.make("diffsim/CartPole-v1")
    env.reset(seed=0)
    before = env.unwrapped.state
    with pytest.raises(err, match="action"):
        env.unwrapped.step(action)
    _assert_still_usable(env, before)


@pytest.mark.parametrize(
    "env_id", ["diffsim/CartPoleContinuous-v1", "diffsim/Pendulum-v1", "diffsim/Pendulum2019-v1"]
)
@pytest.mark.parametrize("action,err", BAD_BOX)
def test_bad_box_action(env_id, action, err):
    env = gym.make(env_id)
    env.reset(seed=0)
    before = env.unwrapped.state
    with pytest.raises(err, match="action"):
        env.unwrapped.step(action)
    _assert_still_usable(env, before)


def test_bad_trebuchet_action():
    env = gym.make("diffsim/Trebuchet-v0").unwrapped
    env.reset(seed=0)
    for action, err in [
        (np.array([45.0]), ValueError),
        (np.array([np.nan, 200.0]), ValueError),
        (np.array(["a", "b"]), TypeError),
    ]:
        with pytest.raises(err, match="action"):
            env.step(action)
    assert env.step(np.array([45.0, 200.0]))[2]


@pytest.mark.parametrize("env_id", ["diffsim/CartPoleContinuous-v1", "diffsim/Pendulum-v1"])
def test_box_actions_beyond_bounds_are_clipped(env_id):
    a, b = gym.make(env_id).unwrapped, gym.make(env_id).unwrapped
    a.reset(seed=0)
    b.reset(seed=0)
    high = a.action_space.high
    np.testing.assert_array_equal(a.step(high * 10)[0], b.step(high)[0])


def test_bad_vector_actions_leave_env_usable():
    vec = gym.make_vec("diffsim/CartPole-v1", num_envs=4, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    before = vec.unwrapped.state
    for actions, err in [
        (np.array([0, 1, 2, 0]), ValueError),
        (np.array([0, 1]), ValueError),
        (np.array([0.0, 1.0, 0.0, 1.0]), TypeError),
    ]:
        with pytest.raises(err, match="action"):
            vec.step(actions)
    np.testing.assert_array_equal(vec.unwrapped.state, before)
    vec.step(np.array([0, 1, 0, 1]))
    pv = gym.make_vec("diffsim/Pendulum-v1", num_envs=3, vectorization_mode="vector_entry_point")
    pv.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        pv.step(np.array([[0.0], [np.nan], [1.0]], np.float32))
    with pytest.raises(ValueError, match="shape"):
        pv.step(np.zeros(3, np.float32))
    pv.step(np.zeros((3, 1), np.float32))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_step_before_reset_raises(env_id):
    env = gym.make(env_id)
    with pytest.raises(ResetNeeded):
        env.step(env.action_space.sample())
    with pytest.raises(ResetNeeded, match="reset"):
        env.unwrapped.step(env.action_space.sample())
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    with pytest.raises(ResetNeeded, match="reset"):
        vec.step(vec.action_space.sample())


def test_step_after_termination_warns():
    env = gym.make("diffsim/CartPole-v1").unwrapped
    env.reset(options={"state": [2.39, 5.0, 0.0, 0.0]})
    _, r, term, _, _ = env.step(1)
    assert term and r == 1.0
    with pytest.warns(UserWarning, match="already returned terminated"):
        _, r, term, _, _ = env.step(1)
    assert term and r == 0.0


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r"render_mode must be None or one of \['human'"):
        envs.SystemEnv("cartpole", render_mode="window")
    with pytest.raises(ValueError, match=r"render_mode must be None or one of \['rgb_array'\]"):
        envs.SystemVectorEnv("cartpole", render_mode="human")  # frames, not windows
    with pytest.raises(TypeError, match="CartPoleParams"):
        envs.SystemEnv("cartpole", params=diffsim.PendulumParams())
    with pytest.raises(ValueError, match="num_envs"):
        envs.SystemVectorEnv("cartpole", num_envs=0)
    with pytest.raises(ValueError, match="max_episode_steps"):
        envs.SystemVectorEnv("cartpole", max_episode_steps=0)
    with pytest.raises(TypeError, match="unknown option"):
        gym.make_vec("diffsim/CartPole-v1", 2, sutton_barto=True)
    with pytest.raises(ValueError, match="options"):
        gym.make("diffsim/CartPole-v1").reset(options={"state": [0.0, 1.0]})


# --- rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_rgb_array_render(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 3  # background and two parts
    vec = gym.make_vec(
        env_id, num_envs=2, vectorization_mode="vector_entry_point", render_mode="rgb_array"
    )
    vec.reset(seed=0)
    frames = vec.render()
    assert len(frames) == 2 and all(f.shape == frame.shape for f in frames)


def test_human_mode_opens_its_window_on_first_use_and_closes_it(monkeypatch):
    from diffsim.envs import render

    calls = []

    class Window:  # render.HumanWindow's interface, recording instead of drawing
        def __init__(self, title, width, height):
            calls.append(("open", title, width, height))

        def show(self, frame, fps):
            calls.append(("show", frame.shape, frame.dtype, fps))

        def close(self):
            calls.append(("close",))

    monkeypatch.setattr(render, "HumanWindow", Window)
    env = gym.make("diffsim/Pendulum-v1", render_mode="human")
    assert calls == []  # nothing opened before the first frame
    env.reset(seed=0)
    env.step(np.array([1.0], np.float32))
    assert env.render() is None  # human mode draws, returns nothing (Gymnasium's)
    twin = copy.deepcopy(env)  # a copy has no window of its own until it draws
    assert twin.unwrapped._window is None
    env.close()
    frame = ("show", (500, 500, 3), np.dtype(np.uint8), 30)  # Gymnasium's size and fps
    assert calls == [("open", "Pendulum", 500, 500), frame, frame, frame, ("close",)]


def test_geometry():
    from diffsim.envs import render

    g = render.cartpole_geometry([1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(g["pole_tip"], [1.0, render.CART_HEIGHT * 0.75 + 1.0])
    g = render.pendulum_geometry([np.pi / 2, 0.0])
    np.testing.assert_allclose(g["tip"], [-1.0, 0.0], atol=1e-12)


# --- Stable-Baselines3 -------------------------------------------------------------------------


def _ppo(env_id, steps, venv=None, **kwargs):
    """PPO trained for ``steps`` on ``env_id`` (or on ``venv``), checked to have trained: the
    whole budget stepped in full rollouts, every parameter moved by the updates, and finite
    actions inside the action space."""
    sb3 = pytest.importorskip("stable_baselines3")
    torch.set_num_threads(1)
    env = venv if venv is not None else gym.make(env_id)
    model = sb3.PPO("MlpPolicy", env, seed=0, device="cpu", **kwargs)
    start = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=steps)
    per_rollout = kwargs["n_steps"] * model.n_envs
    assert model.num_timesteps == -(-steps // per_rollout) * per_rollout
    moved = [not torch.equal(a, p) for a, p in zip(start, model.policy.parameters())]
    assert all(moved), moved
    space = gym.make(env_id).action_space
    obs = np.stack([model.observation_space.sample() for _ in range(64)])
    actions, _ = model.predict(obs)  # sampled, as in training
    assert np.isfinite(actions).all() and all(space.contains(a) for a in actions)
    return model


def _check_episodes(model, env_id):
    """The episodes the agent finished (SB3's Monitor) are the env's: CartPole's +1 a step
    up to 500 steps, the pendulums' 200 steps of non-positive reward, Acrobot's −1 a step but
    0 on the terminating one, MountainCar's −1 a step, MountainCarContinuous's at most the
    goal's 100, each within the time limit; the trebuchet's one shot with a reward of minus
    the miss."""
    (monitor,) = model.get_env().envs  # SB3 wraps a single env in its Monitor
    lengths, returns = monitor.get_episode_lengths(), monitor.get_episode_rewards()
    if "Trebuchet" in env_id:
        assert lengths == [1] * model.num_timesteps
        assert all(r <= 0 for r in returns)
        return
    limit = gym.spec(env_id).max_episode_steps
    assert lengths and max(lengths) <= limit
    # Every step is in a finished episode but those of the last, unfinished one.
    assert model.num_timesteps - limit < sum(lengths) <= model.num_timesteps
    if "CartPole" in env_id:
        assert returns == [float(n) for n in lengths]
    elif "Pendulum" in env_id:
        assert lengths == [200] * (model.num_timesteps // 200)
        assert all(r <= 0 for r in returns)
    elif "Acrobot" in env_id:
        assert all(-n <= r <= -(n - 1) for n, r in zip(lengths, returns))
    elif "MountainCarContinuous" in env_id:
        assert all(r <= 100 for r in returns)
    elif "MountainCar" in env_id:
        assert returns == [-float(n) for n in lengths]
    else:
        raise AssertionError(f"no episode check for {env_id}: add one")


def _check_same_as_gymnasiums(model, env_id, max_steps):
    """The trained agent's deterministic trajectory is the same on diffsim's env and on
    Gymnasium's own (bit for bit for CartPole; to 1e-6 for Pendulum, see above)."""
    from diffsim.envs.rollout import GYMNASIUM_TWINS

    twin = {ours: theirs for theirs, ours in GYMNASIUM_TWINS.items()}[env_id]
    trajectories = []
    for env in (gym.make(env_id), gym.make(twin)):
        obs, _ = env.reset(seed=0)
        rows = [obs]
        for _ in range(max_steps):
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, term, trunc, _ = env.step(action)
            rows.append(np.append(obs, [reward, term, trunc]))
            if term or trunc:
                break
        trajectories.append(np.concatenate([np.ravel(r) for r in rows]))
    ours, theirs = trajectories
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=0 if "CartPole" in env_id else 1e-6)


@pytest.mark.parametrize("env_id", ["diffsim/CartPole-v1", "diffsim/Pendulum-v1"])
def test_sb3_ppo_trains_briefly(env_id):
    model = _ppo(env_id, 2048, n_steps=1024, batch_size=256, n_epochs=1)
    _check_episodes(model, env_id)
    _check_same_as_gymnasiums(model, env_id, max_steps=200)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_sb3_ppo_trains_thousands_of_steps(env_id):
    model = _ppo(env_id, 4096, n_steps=1024, batch_size=256, n_epochs=4)
    _check_episodes(model, env_id)


@pytest.mark.slow
def test_sb3_ppo_trebuchet():
    model = _ppo("diffsim/Trebuchet-v0", 256, n_steps=128, batch_size=64, n_epochs=2)
    _check_episodes(model, "diffsim/Trebuchet-v0")


def test_sb3_on_vector_env_runs():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([lambda: gym.make("diffsim/CartPole-v1")] * 2)
    # Two envs × 64 steps a rollout: 128 timesteps, one update.
    model = _ppo("diffsim/CartPole-v1", 128, venv, n_steps=64, batch_size=64, n_epochs=1)
    assert model.n_envs == 2
