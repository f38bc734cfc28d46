"""One physics on two array libraries: NumPy runs the same equations as torch.

- NumPy float64 steps are Gymnasium's own operations in Gymnasium's order: bitwise equal.
- NumPy and torch agree to float rounding: their ``sin``/``cos`` differ by at most an ulp
  (torch's vectorised CPU kernels against the C library), so one step differs by at most
  a few ulps of the state's scale: ``|numpy − torch| ≤ 4·eps·(1 + |x|)`` element-wise.
- Results keep the input's library and dtype; mixing libraries is an error.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch

from diffsim import cartpole, pendulum
from diffsim.integrators import INTEGRATORS

INTEGRATOR_NAMES = sorted(INTEGRATORS)


@pytest.mark.filterwarnings("ignore:.*already returned terminated")
@pytest.mark.parametrize("seed", range(10))
def test_numpy_cartpole_is_bitwise_gymnasium(seed):
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=seed)
    state = np.array(env.state)
    rng = np.random.default_rng(seed)
    for _ in range(100):
        a = int(rng.integers(2))
        env.step(a)
        state = cartpole.step(state, np.float64(2 * a - 1))
        assert isinstance(state, np.ndarray) and state.dtype == np.float64
        np.testing.assert_array_equal(state, env.state)
        assert bool(cartpole.terminated(state)) == bool(
            abs(env.state[0]) > 2.4 or abs(env.state[2]) > 12 * 2 * np.pi / 360
        )


@pytest.mark.parametrize("seed", range(10))
def test_numpy_pendulum_is_bitwise_gymnasium(seed):
    """Gymnasium forms the torque term in float32 (NumPy 2 promotion); a float32 action
    does the same here, so the float64 state and the reward agree bit for bit."""
    env = gym.make("Pendulum-v1").unwrapped
    env.reset(seed=seed)
    state = np.array(env.state)
    rng = np.random.default_rng(seed)
    for _ in range(200):
        u = rng.uniform(-3, 3, size=(1,)).astype(np.float32)
        obs, r, *_ = env.step(u)
        reward = pendulum.reward(state, u, None)
        state = pendulum.step(state, u)
        np.testing.assert_array_equal(state, env.state)
        assert float(reward) == r
        np.testing.assert_array_equal(pendulum.observe(state).astype(np.float32), obs)


def _close_to_rounding(a: np.ndarray, b: np.ndarray) -> None:
    eps = np.finfo(a.dtype).eps
    bound = 4 * eps * (1 + np.abs(b))
    assert (np.abs(a.astype(np.float64) - b) <= bound).all(), np.max(np.abs(a - b) / bound)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("integrator", INTEGRATOR_NAMES)
def test_numpy_equals_torch_cartpole_to_rounding(dtype, integrator):
    rng = np.random.default_rng(0)
    s = rng.uniform(-0.3, 0.3, (20_000, 4)).astype(dtype)
    a = rng.uniform(-1.5, 1.5, 20_000).astype(dtype)
    ours = cartpole.step(s, a, integrator=integrator)
    ref = cartpole.step(torch.from_numpy(s), torch.from_numpy(a), integrator=integrator)
    assert isinstance(ours, np.ndarray) and ours.dtype == dtype and ours.shape == s.shape
    _close_to_rounding(ours, ref.numpy())
    np.testing.assert_array_equal(
        cartpole.terminated(ours), cartpole.terminated(torch.from_numpy(ours)).numpy()
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "params", [pendulum.PendulumParams(), pendulum.PendulumParams.variant_2019()]
)
def test_numpy_equals_torch_pendulum_to_rounding(dtype, params):
    rng = np.random.default_rng(1)
    s = np.stack([rng.uniform(-4, 4, 20_000), rng.uniform(-9, 9, 20_000)], -1).astype(dtype)
    a = rng.uniform(-3, 3, 20_000).astype(dtype)
    ts, ta = torch.from_numpy(s), torch.from_numpy(a)
    _close_to_rounding(pendulum.step(s, a, params), pendulum.step(ts, ta, params).numpy())
    # no transcendental function in the cost: identical
    np.testing.assert_array_equal(
        pendulum.cost(s, a, params), pendulum.cost(ts, ta, params).numpy()
    )
    _close_to_rounding(pendulum.observe(s), pendulum.observe(ts).numpy())
    assert pendulum.terminated(s).dtype == np.bool_ and not pendulum.terminated(s).any()


def test_results_keep_the_library_layout_and_scalars_work():
    s = np.zeros((3, 4))
    out = cartpole.step(s, np.ones((3, 1)))
    assert isinstance(out, np.ndarray) and out.shape == (3, 4)
    assert all(out[..., i].flags.c_contiguous for i in range(4))  # component-major
    assert cartpole.reward(s, None, out).dtype == np.float64
    one = cartpole.step(np.zeros(4), np.float64(1.0))  # a single state: scalars inside
    np.testing.assert_array_equal(one, out[0])
    assert pendulum.step(np.zeros(2, np.float32), np.float32(1.0)).dtype == np.float32


def test_initial_states_from_a_numpy_generator():
    s = cartpole.sample_initial(1000, generator=np.random.default_rng(0))
    assert isinstance(s, np.ndarray) and s.shape == (1000, 4) and s.dtype == np.float64
    assert np.abs(s).max() <= 0.05
    np.testing.assert_array_equal(
        s, cartpole.sample_initial(1000, generator=np.random.default_rng(0))
    )
    p = pendulum.sample_initial((10, 3), generator=np.random.default_rng(0), dtype=np.float32)
    assert p.shape == (10, 3, 2) and p.dtype == np.float32 and np.abs(p[..., 0]).max() <= np.pi
    with pytest.raises(ValueError, match="device"):
        cartpole.sample_initial(2, generator=np.random.default_rng(0), device="cpu")


def test_mixed_libraries_and_tensor_params_rejected():
    with pytest.raises(TypeError, match="not mixed"):
        cartpole.step(np.zeros(4), torch.zeros(()))
    with pytest.raises(TypeError, match="not mixed"):
        cartpole.step(torch.zeros(4), np.zeros(()))
    with pytest.raises(TypeError, match="floating dtype"):
        cartpole.step(np.zeros((2, 4)), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="action must have shape"):
        pendulum.step(np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(TypeError, match="tensor parameters need a torch state"):
        cartpole.step(np.zeros(4), np.zeros(()), cartpole.CartPoleParams(length=torch.tensor(0.5)))
