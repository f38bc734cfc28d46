"""The Acrobot (``diffsim.acrobot``, ``diffsim/Acrobot-v1``) against Gymnasium's ``Acrobot-v1``:
bitwise parity of the single env and of the vector env with ``SyncVectorEnv``, the float32
reset observation, the wrap and the squares at their edges, the NIPS variant, the torch path
within a stated tolerance, float64 finite-difference gradients, the zero gradient at the
velocity clip and the training loss."""

from __future__ import annotations

import math
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control import acrobot as gym_acrobot
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.env_match import check_environments_match

import diffsim  # noqa: F401  (registers the ids)
from diffsim import acrobot
from diffsim.acrobot import AcrobotParams
from diffsim.envs import rollout

ID, GYM_ID = "diffsim/Acrobot-v1", "Acrobot-v1"


def _swinging_action(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Torque along θ̇2 (pumps energy: episodes reach the goal in about 100 steps), mixed with
    random actions (most episodes of random actions alone are truncated at 500)."""
    pump = np.where(obs[..., 5] > 0, 2, 0)
    return np.where(rng.random(pump.shape) < 0.7, pump, rng.integers(0, 3, pump.shape))


def _gym_step(env, state: np.ndarray, action: int) -> np.ndarray:
    """Gymnasium's next state from ``state`` (its own step, from a state we set)."""
    env.state = state.copy()
    env.step(action)
    return np.asarray(env.state, dtype=np.float64)


# --- the single env ----------------------------------------------------------------------------


def test_single_env_is_gymnasiums_bit_for_bit_across_resets():
    ours, theirs = gym.make(ID), gym.make(GYM_ID)
    ends = {"terminated": 0, "truncated": 0}
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        obs_a, _ = ours.reset(seed=seed)
        obs_b, _ = theirs.reset(seed=seed)
        for t in range(1000):
            assert obs_a.dtype == obs_b.dtype == np.float32
            assert obs_a.tobytes() == obs_b.tobytes(), (seed, t)
            action = int(_swinging_action(obs_b, rng) if t % 600 < 400 else rng.integers(3))
            obs_a, r_a, term_a, trunc_a, info_a = ours.step(action)
            obs_b, r_b, term_b, trunc_b, info_b = theirs.step(action)
            assert type(r_b) is float  # the reference, as read in Gymnasium 1.x
            assert type(r_a) is float and r_a == r_b
            assert (term_a, trunc_a, info_a) == (term_b, trunc_b, info_b)
            state_b = np.asarray(theirs.unwrapped.state, dtype=np.float64)
            assert ours.unwrapped.state.tobytes() == state_b.tobytes(), (seed, t)
            if term_a or trunc_a:
                ends["terminated" if term_a else "truncated"] += 1
                obs_a, _ = ours.reset()
                obs_b, _ = theirs.reset()
    assert ends["terminated"] >= 5 and ends["truncated"] >= 1, ends


def test_check_environments_match():
    check_environments_match(
        gym.make(ID), gym.make(GYM_ID), num_steps=1000, seed=4, skip_render=True
    )


def test_check_env_passes():
    env = gym.make(ID, render_mode="rgb_array")
    check_env(env.unwrapped)
    env.close()


def test_spaces_metadata_and_attributes_are_gymnasiums():
    ours, theirs = gym.make(ID).unwrapped, gym.make(GYM_ID).unwrapped
    assert ours.observation_space == theirs.observation_space
    assert ours.action_space == theirs.action_space
    assert ours.metadata["render_fps"] == theirs.metadata["render_fps"] == 15
    for name in (
        "dt",
        "LINK_LENGTH_1",
        "LINK_LENGTH_2",
        "LINK_MASS_1",
        "LINK_MASS_2",
        "LINK_COM_POS_1",
        "LINK_COM_POS_2",
        "LINK_MOI",
        "MAX_VEL_1",
        "MAX_VEL_2",
        "book_or_nips",
    ):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert [float(a) for a in theirs.AVAIL_TORQUE] == list(acrobot.TORQUES)
    with pytest.raises(AttributeError, match="LINK_MASS_1"):
        ours.LINK_MASS_1 = 2.0


def test_reset_observation_is_computed_in_float32_as_gymnasiums():
    """Gymnasium observes its float32 reset state with float32 cos/sin: for about 0.2 % of
    seeds that differs from the float64 observation rounded to float32, and ours follows it."""
    ours, theirs = gym.make(ID), gym.make(GYM_ID)
    found = []
    for seed in range(20000):
        obs_b, _ = theirs.reset(seed=seed)
        s = np.asarray(theirs.unwrapped.state, dtype=np.float64)
        float64_obs = np.array(
            [np.cos(s[0]), np.sin(s[0]), np.cos(s[1]), np.sin(s[1]), s[2], s[3]]
        ).astype(np.float32)
        if float64_obs.tobytes() != obs_b.tobytes():
            found.append(seed)
            obs_a, _ = ours.reset(seed=seed)
            assert obs_a.tobytes() == obs_b.tobytes(), seed
            if len(found) == 3:
                break
    assert len(found) == 3, "no seed whose float32 and float64 observations differ"


def test_reset_draw_is_float32_and_options_as_gymnasiums():
    ours, theirs = gym.make(ID).unwrapped, gym.make(GYM_ID).unwrapped
    for options in (None, {"low": -0.2, "high": 0.2}, {"low": -3.0}, {"high": 0.5}):
        obs_a, _ = ours.reset(seed=5, options=options)
        obs_b, _ = theirs.reset(seed=5, options=options)
        assert obs_a.tobytes() == obs_b.tobytes()
        assert theirs.state.dtype == np.float32
        assert ours.state.dtype == np.float64
        assert ours.state.tobytes() == theirs.state.astype(np.float64).tobytes()
        for _ in range(5):  # wide bounds: the first steps wrap several turns
            assert ours.step(2)[0].tobytes() == theirs.step(2)[0].tobytes()
    for bad in ({"low": 0.3, "high": 0.1}, {"low": "x"}):
        with pytest.raises(ValueError):
            theirs.reset(seed=0, options=bad)
        with pytest.raises(ValueError):
            ours.reset(seed=0, options=bad)


def test_batched_numpy_steps_are_gymnasiums_from_any_state():
    """Random states over the whole range (velocities at and beyond the clips), every torque:
    each element of one batched step equals Gymnasium's step from it, bit for bit."""
    env = gym.make(GYM_ID).unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n = 300
    high = np.array([np.pi, np.pi, 4 * np.pi, 9 * np.pi])
    states = rng.uniform(-high, high, (n, 4))
    states[:40, 2:] = high[2:] * np.sign(rng.uniform(-1, 1, (40, 2)))  # at the clips
    actions = rng.integers(0, 3, n)
    ours = acrobot.step(states, actions.astype(np.float64) - 1)
    theirs = np.stack([_gym_step(env, s, int(a)) for s, a in zip(states, actions)])
    assert ours.tobytes() == np.ascontiguousarray(theirs).tobytes()
    single = np.stack([acrobot.step(s, np.float64(a - 1)) for s, a in zip(states[:50], actions)])
    assert single.tobytes() == np.ascontiguousarray(theirs[:50]).tobytes()


def test_nips_variant_is_gymnasiums_nips():
    env = gym.make(GYM_ID).unwrapped
    env.reset(seed=0)
    env.book_or_nips = "nips"
    params = AcrobotParams(nips_dynamics=True)
    rng = np.random.default_rng(1)
    high = np.array([np.pi, np.pi, 12.0, 28.0])
    states = rng.uniform(-high, high, (100, 4))
    actions = rng.integers(0, 3, 100)
    ours = acrobot.step(states, actions.astype(np.float64) - 1, params)
    theirs = np.stack([_gym_step(env, s, int(a)) for s, a in zip(states, actions)])
    assert ours.tobytes() == np.ascontiguousarray(theirs).tobytes()
    book = acrobot.step(states, actions.astype(np.float64) - 1)
    assert not np.array_equal(book, ours)  # the variants differ
    ours_env = gym.make(ID, params=params).unwrapped
    assert ours_env.book_or_nips == "nips"


# --- the vector env ----------------------------------------------------------------------------


def test_vector_env_is_sync_vector_envs_across_autoresets():
    ours = gym.make_vec(ID, 4)
    theirs = gym.make_vec(GYM_ID, 4, vectorization_mode="sync")
    rng = np.random.default_rng(7)
    obs_a, _ = ours.reset(seed=7)
    obs_b, _ = theirs.reset(seed=7)
    ended = 0
    for t in range(400):
        assert obs_a.tobytes() == obs_b.tobytes(), t
        actions = _swinging_action(obs_b, rng)
        obs_a, r_a, term_a, trunc_a, _ = ours.step(actions)
        obs_b, r_b, term_b, trunc_b, _ = theirs.step(actions)
        assert r_a.dtype == r_b.dtype == np.float64
        assert r_a.tobytes() == r_b.tobytes()
        assert np.array_equal(term_a, term_b) and np.array_equal(trunc_a, trunc_b)
        ended += int((term_a | trunc_a).sum())
    assert ended >= 8, ended


# --- the wrap and the squares ------------------------------------------------------------------


def _wrap_cases() -> np.ndarray:
    pi = np.pi
    edges = [0.0, pi, -pi, 2 * pi, -2 * pi, 3 * pi, -3 * pi, 5 * pi, -7 * pi, 27.3, -26.8]
    edges = [e for x in edges for e in (x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf))]
    rng = np.random.default_rng(0)
    return np.concatenate([edges, rng.uniform(-30, 30, 2000), rng.uniform(-4096, 4096, 200)])


def test_wrap_is_gymnasiums_loop_bit_for_bit():
    x = _wrap_cases()
    reference = np.array([gym_acrobot.wrap(v, -np.pi, np.pi) for v in x.tolist()])
    assert acrobot.wrap(x).tobytes() == reference.tobytes()
    assert np.array([acrobot.wrap(v) for v in x.tolist()]).tobytes() == reference.tobytes()
    assert acrobot.wrap(np.pi) == np.pi and acrobot.wrap(-np.pi) == -np.pi  # kept, as Gymnasium
    # Tensors: bitwise within one turn of the range; beyond, one exact remainder, where
    # Gymnasium's loop rounds once per turn (±π being the same angle).
    t = acrobot.wrap(torch.from_numpy(x)).numpy()
    near = np.abs(x) <= 3 * np.pi
    assert t[near].tobytes() == reference[near].tobytes()
    diff = np.abs(t - reference)
    diff = np.minimum(diff, 2 * np.pi - diff)
    assert np.all(diff <= (np.abs(x) / (2 * np.pi) + 1) * np.spacing(np.abs(x) + 2 * np.pi))
    assert np.all((t >= -np.pi) & (t <= np.pi))


def test_wrap_of_non_finite_and_huge_angles_ends():
    out = acrobot.wrap(np.array([np.inf, -np.inf, np.nan, 1e300]))
    assert np.isnan(out[:3]).all() and -np.pi <= out[3] <= np.pi
    assert math.isnan(acrobot.wrap(math.inf))
    t = acrobot.wrap(torch.tensor([math.inf, math.nan, 1e300], dtype=torch.float64))
    assert torch.isnan(t[:2]).all() and abs(float(t[2])) <= math.pi


def test_squares_round_as_gymnasiums_pow():
    """Gymnasium squares NumPy scalars with C's pow; batched squares must round the same,
    which a plain multiplication does not for some arguments."""
    x = np.random.default_rng(3).uniform(-30, 30, 100_000)
    reference = np.array([v**2 for v in x.tolist()])
    assert acrobot._square(x).tobytes() == reference.tobytes()
    assert (x * x != reference).any()  # the reason for the C library's pow (np.float_power)
    assert acrobot._square(np.float64(x[0])) == reference[0]
    assert acrobot._square(np.array(x[0])) == reference[0]


# --- the torch path ----------------------------------------------------------------------------


def test_torch_float64_step_agrees_with_numpy_within_stated_tolerance():
    """One step: |torch − NumPy| ≤ 1e-12 (torch's vectorised sin/cos and x·x squares differ
    from the C library's in the last bit). Over 50 steps of an energy-pumping policy from
    reset states the difference stays below 1e-12; the swing is chaotic, so it grows beyond
    (measured about 1e-10 after 100 steps)."""
    rng = np.random.default_rng(0)
    high = np.array([np.pi, np.pi, 4 * np.pi, 9 * np.pi])
    s = rng.uniform(-high, high, (2000, 4))
    u = rng.integers(0, 3, 2000) - 1.0
    one = acrobot.step(torch.from_numpy(s), torch.from_numpy(u)).numpy()
    diff = np.abs(one - acrobot.step(s, u))
    diff[:, :2] = np.minimum(diff[:, :2], 2 * np.pi - diff[:, :2])  # a wrap either side of ±π
    assert diff.max() <= 1e-12
    x = acrobot.sample_initial(256, generator=np.random.default_rng(1))
    xt = torch.from_numpy(x.copy())
    for _ in range(50):
        a = np.where(x[:, 3] > 0, 1.0, -1.0)
        x, xt = acrobot.step(x, a), acrobot.step(xt, torch.from_numpy(a))
    diff = np.abs(x - xt.numpy())
    diff[:, :2] = np.minimum(diff[:, :2], 2 * np.pi - diff[:, :2])
    assert diff.max() <= 1e-12


def test_torch_step_keeps_dtype_device_and_batch_shape():
    s = acrobot.sample_initial((3, 5), generator=torch.Generator().manual_seed(0))
    out = acrobot.step(s, torch.zeros(3, 5))
    assert out.shape == (3, 5, 4) and out.dtype == torch.float32
    obs = acrobot.observe(out)
    assert obs.shape == (3, 5, 6)
    assert acrobot.terminated(out).shape == (3, 5) and acrobot.reward(s, None, out).shape == (3, 5)


# --- gradients ---------------------------------------------------------------------------------


def _interior_state(seed: int, batch: int = 3) -> torch.Tensor:
    """States whose steps stay away from the clips and the wrap (|θ| ≤ 1, |θ̇| ≤ 1.5)."""
    g = torch.Generator().manual_seed(seed)
    high = torch.tensor([1.0, 1.0, 1.5, 1.5], dtype=torch.float64)
    return (2 * torch.rand(batch, 4, generator=g, dtype=torch.float64) - 1) * high


@pytest.mark.parametrize("nips", [False, True])
def test_gradcheck_one_step(nips):
    state = _interior_state(0).requires_grad_()
    torque = torch.tensor([-0.7, 0.2, 0.9], dtype=torch.float64, requires_grad=True)
    mass = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    com = torch.tensor([0.4, 0.5, 0.6], dtype=torch.float64, requires_grad=True)

    def f(s, u, m2, lc2):
        params = AcrobotParams(link_mass_2=m2, link_com_2=lc2, nips_dynamics=nips)
        nxt = acrobot.step(s, u, params)
        assert nxt[:, :2].abs().max() < 3.0 and nxt[:, 2].abs().max() < 4 * math.pi
        return nxt

    assert torch.autograd.gradcheck(f, (state, torque, mass, com))


def test_gradcheck_five_step_open_loop_rollout():
    s0 = _interior_state(1, 2).requires_grad_()
    torques = torch.tensor(  # inside ±1 N·m: the clip's kink is no finite difference's
        [[0.9, -0.9], [0.5, 0.9], [-0.9, 0.3], [0.8, -0.2], [0.0, 0.9]],
        dtype=torch.float64,
        requires_grad=True,
    )
    mass = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)

    def f(s, us, m1):
        params = AcrobotParams(link_mass_1=m1)
        for u in us:
            s = acrobot.step(s, u, params)
            assert s[:, :2].abs().max() < 3.0
        return torch.cat([s, acrobot.tip_height(s, params)[:, None]], dim=1)

    assert torch.autograd.gradcheck(f, (s0, torques, mass))


def test_velocity_clip_passes_no_gradient():
    params = AcrobotParams(max_vel_2=0.1)
    state = torch.tensor([[0.3, -0.2, 0.5, 5.0]], dtype=torch.float64, requires_grad=True)
    torque = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    unclipped = acrobot.step(state.detach(), torque.detach())[0, 3]
    assert unclipped > 0.1  # so the clipped step saturates
    nxt = acrobot.step(state, torque, params)
    assert nxt[0, 3].item() == 0.1
    g_state, g_torque = torch.autograd.grad(nxt[0, 3], (state, torque), retain_graph=True)
    assert torch.all(g_state == 0) and torch.all(g_torque == 0)
    # the other components still depend on the state
    assert torch.autograd.grad(nxt[0, 0], state)[0].abs().sum() > 0


def test_torque_clip_passes_gradient_at_the_bound_and_none_beyond():
    state = _interior_state(2, 1)
    for u, expected_zero in ((1.0, False), (-1.0, False), (1.5, True), (-3.0, True)):
        torque = torch.tensor([u], dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(acrobot.step(state, torque)[0, 2], torque)
        assert (float(g) == 0.0) == expected_zero, u


def test_wrap_has_slope_one_and_the_step_jumps_by_a_turn():
    x = torch.tensor([0.5, 4.0, -4.0, 10.0, -25.0, math.pi], dtype=torch.float64)
    x.requires_grad_()
    (g,) = torch.autograd.grad(acrobot.wrap(x).sum(), x)
    assert torch.all(g == 1.0)
    # A step that carries θ1 across π comes back near −π: the state jumps by 2π there, and
    # the gradient is that of the unwrapped angle (the jump itself has no derivative), which
    # central differences on the same side of the jump reproduce.
    zero = torch.zeros(1, dtype=torch.float64)
    s = torch.tensor([[3.1, 0.0, 2.0, 0.0]], dtype=torch.float64, requires_grad=True)
    nxt = acrobot.step(s, zero)
    assert nxt[0, 0].item() < -2.5
    (g_wrapped,) = torch.autograd.grad(nxt[0, 0], s)
    eps = 1e-6
    shift = torch.tensor([[0.0, 0.0, eps, 0.0]], dtype=torch.float64)
    fd = (acrobot.step(s.detach() + shift, zero) - acrobot.step(s.detach() - shift, zero)) / (
        2 * eps
    )
    assert abs(float(g_wrapped[0, 2]) - float(fd[0, 0])) < 1e-6


def test_termination_and_reward_carry_no_gradient():
    s = torch.tensor([[math.pi, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    s.requires_grad_()
    assert acrobot.terminated(s).tolist() == [True, False]
    r = acrobot.reward(None, None, s)
    assert r.tolist() == [0.0, -1.0] and not r.requires_grad


def test_tip_height_and_swing_loss_by_hand():
    pi = math.pi
    s = torch.tensor(
        [[0.0, 0.0, 0, 0], [pi, 0.0, 0, 0], [pi / 2, 0.0, 0, 0], [pi / 2, pi / 2, 0, 0]],
        dtype=torch.float64,
    )
    h = acrobot.tip_height(s)
    assert torch.allclose(h, torch.tensor([-2.0, 2.0, 0.0, 1.0], dtype=torch.float64))
    states = s[None].expand(2, 4, 4)  # [T+1 = 2, B = 4, 4]
    alive = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    loss = acrobot.swing_loss(states, alive)
    # depth (goal 1 − height) / (1 + 1 + 1): 1, −1/3, 1/3; the fourth is not alive
    assert torch.allclose(loss, torch.tensor([1.0, -1 / 3, 1 / 3, 0.0], dtype=torch.float64))


def test_energy_by_hand():
    pi = math.pi
    s = torch.tensor(
        [[0.0, 0.0, 0, 0], [pi, 0, 0, 0], [pi / 2, 0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 2.0]],
        dtype=torch.float64,
    )
    # potential −g·(m1·lc1 + m2·(l1 + lc2))·cos θ1 = ∓19.6 J straight; 0 with the links level.
    # d1 = 0.25 + 1·(1 + 0.25 + 2·0.5) + 2 = 4.5 at θ2 = 0, so θ̇1 = 1 adds 2.25 J;
    # θ̇2 = 2 adds ½·(0.25 + 1)·4 = 2.5 J.
    expected = [-19.6, 19.6, 0.0, -19.6 + 2.25, -19.6 + 2.5]
    assert torch.allclose(acrobot.energy(s), torch.tensor(expected, dtype=torch.float64))
    assert acrobot.upright_energy() == pytest.approx(19.6)
    assert acrobot.upright_energy(AcrobotParams(link_mass_2=2.0)) == pytest.approx(9.8 * 3.5)


def test_energy_is_conserved_without_torque_and_the_torque_adds_torque_times_theta2_dot():
    params = AcrobotParams(dt=1e-3, max_vel_1=1e3, max_vel_2=1e3)
    s0 = torch.tensor([[0.7, -1.1, 1.5, -2.0], [2.0, 0.5, -0.5, 3.0]], dtype=torch.float64)
    s = s0
    for _ in range(200):
        s = acrobot.step(s, torch.zeros(2, dtype=torch.float64), params)
    assert torch.allclose(acrobot.energy(s, params), acrobot.energy(s0, params), atol=1e-9)
    torque = torch.tensor([1.0, -1.0], dtype=torch.float64)
    s1 = acrobot.step(s0, torque, params)
    rate = (acrobot.energy(s1, params) - acrobot.energy(s0, params)) / params.dt
    power = torque * (s0[:, 3] + s1[:, 3]) / 2
    assert torch.allclose(rate, power, atol=1e-5)


def test_swing_energy_loss_by_hand_and_is_the_training_loss():
    pi = math.pi
    s = torch.tensor([[0.0, 0.0, 0, 0], [pi, 0.0, 0, 0], [pi / 2, 0.0, 0, 0]], dtype=torch.float64)
    states = s[None].expand(3, 3, 4)  # [T+1 = 3, B = 3, 4]
    alive = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]], dtype=torch.float64)
    loss = acrobot.swing_energy_loss(states, alive, energy_weight=0.25)
    # per step 0.75·depth + 0.25·deficit: hanging 0.75 + 0.25; upright 0.75·(−1/3) + 0 (one
    # step alive); level 0.75·(1/3) + 0.25·(19.6/39.2)
    per_step = torch.tensor([1.0, -0.25, 0.25 + 0.125], dtype=torch.float64)
    assert torch.allclose(loss, per_step * torch.tensor([2.0, 1.0, 2.0], dtype=torch.float64))
    swing = acrobot.swing_energy_loss(states, alive, energy_weight=0.0)
    assert torch.equal(swing, acrobot.swing_loss(states, alive))
    assert acrobot.SYSTEM.training_loss is acrobot.swing_energy_loss
    with pytest.raises(ValueError, match=r"energy_weight must be in \[0, 1\], got 1.5"):
        acrobot.swing_energy_loss(states, alive, energy_weight=1.5)


def test_gradcheck_swing_energy_loss():
    generator = torch.Generator().manual_seed(3)
    states = torch.rand(4, 3, 4, generator=generator, dtype=torch.float64) * 4 - 2
    states[:, 0, 0] = 3.0  # near upright: an energy above E_up, the clamp's flat side
    alive = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    states.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: acrobot.swing_energy_loss(x, alive), (states,))


def test_rollout_gradient_wrt_a_link_mass_matches_finite_differences():
    s0 = _interior_state(3, 4)

    def loss(m2):
        params = AcrobotParams(link_mass_2=m2)
        out = rollout(
            lambda obs: torch.tanh(obs[:, 4] - 0.5 * obs[:, 5]),
            "acrobot",
            s0,
            horizon=6,
            params=params,
        )
        assert out.states.shape == (7, 4, 4) and out.rewards.shape == (6, 4)
        return acrobot.swing_loss(out.states, out.alive, params).sum()

    m2 = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(loss(m2), m2)
    eps = 1e-6
    with torch.no_grad():
        m_plus = torch.tensor(1.0 + eps, dtype=torch.float64)
        m_minus = torch.tensor(1.0 - eps, dtype=torch.float64)
        fd = (loss(m_plus) - loss(m_minus)) / (2 * eps)
    assert float(grad) != 0.0
    assert abs(float(grad) - float(fd)) <= 1e-6 * max(1.0, abs(float(fd)))


# --- parameters and inputs ---------------------------------------------------------------------


def test_params_are_validated():
    with pytest.raises(ValueError, match="link_mass_1"):
        AcrobotParams(link_mass_1=0.0)
    with pytest.raises(ValueError, match="dt"):
        AcrobotParams(dt=math.inf)
    with pytest.raises(TypeError, match="nips_dynamics"):
        AcrobotParams(nips_dynamics=1)
    assert AcrobotParams().book_or_nips == "book"


def test_step_refuses_bad_inputs():
    with pytest.raises(ValueError, match=r"\[\.\.\., 4\]"):
        acrobot.step(np.zeros(3), np.zeros(()))
    with pytest.raises(TypeError, match="floating"):
        acrobot.step(torch.zeros(2, 4), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="integrator"):
        acrobot.step(torch.zeros(2, 4), torch.zeros(2), integrator="leapfrog")


def test_discrete_to_action():
    assert acrobot.discrete_to_action(np.array([0, 1, 2]), np.float64).tolist() == [-1, 0, 1]
    assert acrobot.discrete_to_action(torch.tensor([2, 0])).tolist() == [1.0, -1.0]


@pytest.mark.slow
def test_bptt_training_runs_with_the_derived_config(tmp_path):
    from diffsim.controllers.bptt import derived_config

    assert derived_config("acrobot")["loss"] == "balance"  # the system's training loss
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "diffsim.scripts.main", "train", "acrobot", "--method", "bptt"]
    done = subprocess.run(
        [*cmd, "--budget", "2000", "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "policy.pt").exists()


@pytest.mark.slow
def test_default_bptt_solves_the_acrobot(tmp_path):
    """``diffsim train acrobot`` (BPTT's tuned config, the 2-SE stop rule) solves it on the
    evaluation protocol well within its default budget."""
    from diffsim.controllers import train

    result = train("acrobot", out=tmp_path / "run", progress=False)
    last = result.metrics[-1]
    assert result.solved_at is not None
    assert last["transitions"] < 100_000
    assert last["eval_return_mean"] - 2 * last["eval_return_std"] / math.sqrt(99) >= -100
