"""CartPole and Pendulum frames against Gymnasium's own renders, their geometry by hand, and
the ``human`` window.

The comparisons with Gymnasium need pygame (Gymnasium draws with it; the ``dev`` extra
installs it); the other tests run without it. "Differ" below means a pixel whose RGB is not
exactly Gymnasium's; the contract is at most 0.5 % of the pixels of any frame.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from diffsim.cartpole import SYSTEM as CARTPOLE
from diffsim.cartpole import CartPoleParams
from diffsim.envs import render
from diffsim.pendulum import SYSTEM as PENDULUM
from diffsim.pendulum import PendulumParams

ROOT = Path(__file__).resolve().parents[1]
MAX_DIFFERING = 0.005
"""Largest fraction of a frame's pixels allowed to differ from Gymnasium's frame."""

WHITE = (255, 255, 255)


def _differing(ours: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of pixels whose RGB differs, after checking shape and dtype agree."""
    assert ours.shape == reference.shape and ours.dtype == reference.dtype == np.uint8
    return float(np.any(ours != reference, axis=-1).mean())


def _cartpole_states() -> list[np.ndarray]:
    """Edge positions (the screen's borders and beyond), large angles (quarter turns, upside
    down, several turns) and seeded random states."""
    rng = np.random.default_rng(0)
    edges = [
        np.array([x, 0.0, th, 0.0])
        for x in (-2.9, -2.4, -1.0, 0.0, 0.37, 2.4, 2.7)
        for th in (0.0, 0.1, -0.2, -1.3, np.pi / 2, -np.pi / 2, np.pi, 2.5, 7.0)
    ]
    rand = [np.array([rng.uniform(-3, 3), 0.0, rng.uniform(-4, 4), 0.0]) for _ in range(20)]
    return edges + rand


def _pendulum_cases() -> list[tuple[float, float | None]]:
    """(θ, torque or None): quarter turns and random angles, no torque, zero, the limits, small
    (an arrow of 0 px) and random torques of both signs."""
    rng = np.random.default_rng(1)
    grid = [
        (th, u)
        for th in (0.0, np.pi / 2, np.pi, -np.pi / 2, 0.3, -2.0, 7.0)
        for u in (None, 0.0, 2.0, -2.0, 0.5, -1.3, 0.01)
    ]
    rand = [(rng.uniform(-7, 7), float(np.float32(rng.uniform(-2, 2)))) for _ in range(20)]
    return grid + rand


# --- against Gymnasium's pygame renders ----------------------------------------------------


@pytest.fixture(scope="module")
def gym_envs():
    pytest.importorskip("pygame")
    import gymnasium as gym

    cartpole = gym.make("CartPole-v1", render_mode="rgb_array")
    pendulum = gym.make("Pendulum-v1", render_mode="rgb_array")
    cartpole.reset(seed=0)
    pendulum.reset(seed=0)
    yield cartpole.unwrapped, pendulum.unwrapped
    cartpole.close()
    pendulum.close()


def test_cartpole_frames_are_gymnasiums(gym_envs):
    env = gym_envs[0]
    worst = 0.0
    for state in _cartpole_states():
        env.state = state.copy()
        worst = max(worst, _differing(render.cartpole_frame(state, CartPoleParams()), env.render()))
    print(f"CartPole: at most {worst:.4%} of the pixels differ from Gymnasium's")
    assert worst <= MAX_DIFFERING
    # Stricter than the contract: these frames use only pygame.gfxdraw (SDL_gfx's integer
    # code, the same on every platform), whose rules the renderer follows pixel for pixel.
    assert worst == 0.0, "gfxdraw's rasterisation is no longer reproduced exactly"


@pytest.mark.parametrize("length,x_threshold", [(0.25, 2.4), (1.0, 3.0), (2.0, 1.5)])
def test_cartpole_frames_follow_the_params_as_gymnasiums(gym_envs, length, x_threshold):
    env = gym_envs[0]
    params = CartPoleParams(length=length, x_threshold=x_threshold)
    env.length, env.x_threshold = length, x_threshold  # Gymnasium's render reads these
    try:
        for state in _cartpole_states()[::5]:
            env.state = state.copy()
            ours = render.cartpole_frame(state, params)
            assert _differing(ours, env.render()) <= MAX_DIFFERING, state
    finally:
        env.length, env.x_threshold = 0.5, 2.4


def test_pendulum_frames_are_gymnasiums(gym_envs):
    env = gym_envs[1]
    worst = {"without torque": 0.0, "with torque": 0.0}
    for th, u in _pendulum_cases():
        env.state = np.array([th, 0.0])
        env.last_u = None if u is None else np.float32(u)
        ours = render.pendulum_frame(np.array([th, 0.0]), PendulumParams(), u)
        key = "without torque" if u is None else "with torque"
        worst[key] = max(worst[key], _differing(ours, env.render()))
    print(f"Pendulum: at most {worst} of the pixels differ from Gymnasium's")
    assert max(worst.values()) <= MAX_DIFFERING
    # Without the arrow (SDL's blitter and pygame's smoothscale backend), exactly: see above.
    assert worst["without torque"] == 0.0, "gfxdraw's rasterisation is no longer reproduced"


def test_pendulum_frames_along_gymnasiums_steps(gym_envs):
    """The torque Gymnasium draws is the one it applied (clipped); the frame function gets
    the raw action, some beyond ±2 N·m, and clips it the same way."""
    env = gym_envs[1]
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    for _ in range(30):
        action = np.array([rng.uniform(-3, 3)], dtype=np.float32)
        env.step(action)
        ours = render.pendulum_frame(np.asarray(env.state), PendulumParams(), float(action[0]))
        assert _differing(ours, env.render()) <= MAX_DIFFERING


@pytest.mark.parametrize("u", [6.0, -8.0, 15.0])
def test_unclipped_large_torques_grow_the_arrow_as_gymnasium(gym_envs, u):
    """The 2019 variant does not clip: an arrow larger than Gymnasium's image (grown, not
    shrunk)."""
    env = gym_envs[1]
    env.state, env.last_u = np.array([0.4, 0.0]), u
    ours = render.pendulum_frame(np.array([0.4, 0.0]), PendulumParams.variant_2019(), u)
    assert _differing(ours, env.render()) <= MAX_DIFFERING


# --- without pygame ----------------------------------------------------------------------------


def test_frame_shapes_dtypes_and_determinism():
    for frame, shape in [
        (lambda: render.cartpole_frame(np.array([0.3, 0.0, 0.2, 0.0]), CartPoleParams()), 400),
        (lambda: render.pendulum_frame(np.array([0.3, 0.0]), PendulumParams(), 1.2), 500),
    ]:
        a, b = frame(), frame()
        assert a.dtype == np.uint8 and a.shape == (shape, 600 if shape == 400 else 500, 3)
        np.testing.assert_array_equal(a, b)
        a[:] = 0  # a fresh, writable array each call
        assert not np.array_equal(frame(), a)


def test_the_systems_name_the_frame_functions():
    state = np.array([0.1, 0.0, -0.1, 0.0])
    cartpole = CARTPOLE.renderer()(state, CARTPOLE.default_params, None)
    assert cartpole.shape == (400, 600, 3)
    pendulum = PENDULUM.renderer()(np.array([1.0, 0.0]), PENDULUM.default_params, -1.0)
    assert pendulum.shape == (500, 500, 3)


def _black_columns(frame: np.ndarray, row: int) -> np.ndarray:
    return np.flatnonzero(np.all(frame[row] == 0, axis=-1))


def test_the_cart_is_where_gymnasiums_geometry_puts_it():
    """Hand-derived from Gymnasium's numbers: 125 px/m, the cart 50×30 px centred at column
    ``300 + 125 x`` and on row 100 from the bottom (rows 85–115 from the bottom, 284–314 from
    the top), the track line on row 299 from the top."""
    params = CartPoleParams()
    for x, left in [(0.0, 275), (1.0, 400), (-0.8, 175)]:
        frame = render.cartpole_frame(np.array([x, 0.0, 0.0, 0.0]), params)
        # Row 309 from the top (90 from the bottom) crosses the cart below the pole.
        np.testing.assert_array_equal(_black_columns(frame, 309), np.arange(left, left + 51))
        assert _black_columns(frame, 299).size == 600  # the track spans the screen
        rows = np.flatnonzero(np.all(frame[:, left + 3] == 0, axis=-1))
        assert rows.min() == 399 - 115 and rows.max() == 399 - 85


def test_the_pole_and_the_rod_have_gymnasiums_lengths():
    """The pole reaches ``2l·125 − 5`` px above the axle (7.5 px above the cart's centre,
    row 107.5 from the bottom): its top is at row ``399 − int(107.5 + 125 − 5) = 172``. The
    rod is 1 screen unit (113.6 px) long whatever ``l``; the disc of radius 11 at its tip
    (centre ``int(250 + 113.6)`` = 363 from the bottom) tops out at row 499 − 374 = 125."""
    pole = np.array(render.POLE_COLOR)
    frame = render.cartpole_frame(np.zeros(4), CartPoleParams())
    assert np.flatnonzero(np.all(frame[:, 300] == pole, axis=-1)).min() == 172
    frame = render.cartpole_frame(np.zeros(4), CartPoleParams(length=1.0))
    assert np.flatnonzero(np.all(frame[:, 300] == pole, axis=-1)).min() == 399 - 352
    rod = np.array(render.ROD_COLOR)
    for rod_length in (1.0, 2.5):
        frame = render.pendulum_frame(np.zeros(2), PendulumParams(l=rod_length))
        assert np.flatnonzero(np.all(frame[:, 250] == rod, axis=-1)).min() == 125
    # θ = π/2 (counter-clockwise): the rod points left, its tip disc (centre column
    # int(250 − 113.6) = 136, on row 249 from the top) ends 11 px further left.
    frame = render.pendulum_frame(np.array([np.pi / 2, 0.0]), PendulumParams())
    assert np.flatnonzero(np.all(frame[249] == rod, axis=-1)).min() == 136 - 11


def _arrow_pixels(u: float | None) -> np.ndarray:
    """Pixels the torque arrow changed in a frame of the pendulum hanging down."""
    state = np.array([np.pi, 0.0])
    bare = render.pendulum_frame(state, PendulumParams(), None)
    return np.any(render.pendulum_frame(state, PendulumParams(), u) != bare, axis=-1)


def test_the_arrow_appears_only_with_a_torque():
    assert not _arrow_pixels(0.0).any()  # Gymnasium scales it to 0 px
    assert not _arrow_pixels(0.01).any()  # int(113.6 · 0.01 / 2) = 0 px
    sizes = {}
    for u in (0.5, 1.0, 2.0, -2.0):
        changed = _arrow_pixels(u)
        rows, cols = np.nonzero(changed)
        side = int(500 / 4.4 * abs(u) / 2)  # Gymnasium's arrow: scale·|u|/2 px square
        lo = 250 - side // 2
        assert cols.min() >= lo and cols.max() < lo + side, (u, side)
        assert rows.min() >= 499 - (lo + side - 1) and rows.max() <= 499 - lo, (u, side)
        assert changed.sum() > 0.04 * side * side  # the arrow's strokes cover ~9 % of it
        sizes[u] = changed.sum()
    assert sizes[0.5] < sizes[1.0] < sizes[2.0]
    # Opposite torques give arrows mirrored left-right in their box, but for the axle drawn
    # over them (its disc is centred on row 249, column 250, and is not mirrored).
    for u in (1.0, 2.0):
        side = int(500 / 4.4 * u / 2)
        box = slice(250 - side // 2, 250 - side // 2 + side)
        plus, minus = _arrow_pixels(u)[:, box], _arrow_pixels(-u)[:, box][:, ::-1]
        assert not np.array_equal(plus, minus[:, ::-1])  # the arrow itself is not symmetric
        rows, cols = np.nonzero(plus != minus)
        assert np.all(np.abs(rows - 249) <= 6), u
        centre, mirrored = 250 - box.start, box.stop - 1 - 250
        assert np.all(np.minimum(abs(cols - centre), abs(cols - mirrored)) <= 6), u


def test_the_torque_is_clipped_unless_the_params_say_not():
    state = np.array([0.7, 0.0])
    np.testing.assert_array_equal(
        render.pendulum_frame(state, PendulumParams(), 5.0),
        render.pendulum_frame(state, PendulumParams(), 2.0),
    )
    unclipped = PendulumParams.variant_2019()
    assert not np.array_equal(
        render.pendulum_frame(state, unclipped, 5.0), render.pendulum_frame(state, unclipped, 2.0)
    )
    # A one-element action array is the torque it holds.
    np.testing.assert_array_equal(
        render.pendulum_frame(state, PendulumParams(), np.array([1.5], dtype=np.float32)),
        render.pendulum_frame(state, PendulumParams(), 1.5),
    )


def test_bad_inputs_name_what_was_expected():
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        render.cartpole_frame(np.zeros(2), CartPoleParams())
    with pytest.raises(ValueError, match="finite"):
        render.cartpole_frame(np.array([np.nan, 0, 0, 0]), CartPoleParams())
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        render.pendulum_frame(np.zeros(3), PendulumParams())
    with pytest.raises(ValueError, match="one finite torque"):
        render.pendulum_frame(np.zeros(2), PendulumParams(), [1.0, 2.0])
    with pytest.raises(ValueError, match="one finite torque"):
        render.pendulum_frame(np.zeros(2), PendulumParams(), float("inf"))


def test_the_old_entry_points_draw_the_new_frames():
    state = [0.4, 0.0, -0.3, 0.0]
    np.testing.assert_array_equal(
        render.render_cartpole(state, 0.8), render.cartpole_frame(state, CartPoleParams(length=0.8))
    )
    np.testing.assert_array_equal(
        render.render_pendulum([1.0, 0.0], 1.0), render.pendulum_frame([1.0, 0.0], PendulumParams())
    )
    assert render.render_cartpole(state, 0.5, size=(200, 300)).shape == (200, 300, 3)
    geometry = render.cartpole_geometry(state)  # world coordinates, still there for animations
    np.testing.assert_allclose(geometry["pole_tip"] - geometry["axle"], [np.sin(-0.3), np.cos(0.3)])


def test_frames_take_a_few_milliseconds():
    """Loose bounds (a loaded machine); a loop over pixels would take a second."""
    cp, pe = CartPoleParams(), PendulumParams()
    render.pendulum_frame(np.zeros(2), pe, 1.0)  # reads the arrow image once
    start = time.perf_counter()
    for i in range(20):
        render.cartpole_frame(np.array([0.05 * i, 0.0, 0.1 * i, 0.0]), cp)
        render.pendulum_frame(np.array([0.3 * i, 0.0]), pe, 0.2 * i - 2.0)
    assert (time.perf_counter() - start) / 20 < 0.05


def test_importing_the_renderer_imports_no_pygame():
    code = "import sys, diffsim.envs.render; print('pygame' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT.parent
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


# --- human mode --------------------------------------------------------------------------------


def test_human_window_shows_the_frames(monkeypatch):
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    window = render.HumanWindow("diffsim CartPole", 600, 400)
    assert not window.is_open
    try:
        for x in (0.0, 1.0):
            frame = render.cartpole_frame(np.array([x, 0.0, 0.2, 0.0]), CartPoleParams())
            window.show(frame, fps=1000)
            shown = pygame.surfarray.array3d(pygame.display.get_surface()).swapaxes(0, 1)
            np.testing.assert_array_equal(shown, frame)
        assert window.is_open and pygame.display.get_caption()[0] == "diffsim CartPole"
        with pytest.raises(ValueError, match=r"\(400, 600, 3\)"):
            window.show(np.zeros((500, 500, 3), dtype=np.uint8), fps=30)
        with pytest.raises(ValueError, match="fps"):
            window.show(frame, fps=0)
    finally:
        window.close()
    assert not window.is_open and not pygame.display.get_init()


def test_human_window_without_pygame_says_how_to_install_it(monkeypatch):
    from gymnasium.error import DependencyNotInstalled

    monkeypatch.setitem(sys.modules, "pygame", None)  # makes `import pygame` fail
    with pytest.raises(DependencyNotInstalled, match=r"diffsim\[render\]"):
        render.HumanWindow("x", 600, 400)
    with pytest.raises(ValueError, match="positive integer"):
        render.HumanWindow("x", 0, 400)
