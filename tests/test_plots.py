"""Pictures: every ``diffsim plot`` kind and ``diffsim animate`` on tiny inputs.

Each command writes an image of the size its figure says (pixels checked, not just the
file), with more than a background in it; the animation has one frame per step; bad inputs
are exit code 2 with a message that says what was wrong.
"""

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from diffsim.scripts import animate, plot, plots
from diffsim.scripts.main import main

RESULT = Path(__file__).resolve().parents[1] / "docs/results/cartpole_bptt/results.json"
DPI = 40


def _image(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _check_picture(path, fig, dpi=DPI):
    """The PNG has the figure's pixel size and more than a blank canvas in it."""
    img = _image(path)
    w, h = (fig.get_size_inches() * dpi).round().astype(int)
    assert img.shape == (h, w, 3)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20
    assert (img.min(-1) < 200).mean() > 0.01  # drawn pixels, not only the white background


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two small CartPole run directories in the trainers' format (an untrained policy and
    made-up evaluations: what is drawn, not what is learnt, is under test here)."""
    from diffsim.controllers.checkpoint import save_policy, write_json, write_metrics
    from diffsim.controllers.policies import ControlPolicy, PolicySpec

    root = tmp_path_factory.mktemp("runs")
    dirs = []
    for seed in (0, 1):
        run = root / f"cp{seed}"
        run.mkdir()
        policy = ControlPolicy(PolicySpec(obs_size=4, hidden=(8,), head="binary"))
        save_policy(run / "policy.pt", policy, "diffsim/CartPole-v1", True, "bptt")
        write_json(
            run / "config.json",
            {"env_id": "diffsim/CartPole-v1", "method": "bptt", "seed": seed, "eval_episodes": 5},
        )
        rows = [
            {"transitions": n, "train_seconds": 0.1 * k, "eval_return_mean": 20.0 + 100 * k + seed}
            for k, n in enumerate((0, 300, 600))
        ]
        write_metrics(run / "metrics.csv", rows)
        dirs.append(run)
    return dirs


@pytest.fixture(scope="module")
def aiming_run(tmp_path_factory):
    """An (untrained) trebuchet aiming network's run directory."""
    from diffsim.controllers.aiming import AimingNetwork

    run = tmp_path_factory.mktemp("aim")
    AimingNetwork().save(run / "policy.pt")
    return run


# --- trajectory ----------------------------------------------------------------------------


@pytest.mark.parametrize("env,starts", [("pendulum", 2), ("cartpole", 3)])
def test_plot_trajectory_named_env(tmp_path, capsys, env, starts):
    out = tmp_path / "t.png"
    args = ["--starts", str(starts), "--steps", "40", "--policy", "random"]
    assert main(["plot", "trajectory", env, *args, "--out", str(out), "--dpi", str(DPI)]) == 0
    assert str(out) in capsys.readouterr().out
    _check_picture(out, plot.trajectory(env, "random", 40, starts))


def test_plot_trajectory_of_a_run_dir(runs, tmp_path):
    out = tmp_path / "t.png"
    argv = ["plot", "trajectory", str(runs[0]), "--steps", "30", "--out", str(out), "--dpi", "40"]
    assert main(argv) == 0
    _check_picture(out, plot.trajectory(runs[0], steps=30))
    assert main(["plot", "trajectory", str(runs[0]), "--policy", "zero"]) == 2


def _time_axes(fig):
    return [ax for ax in fig.axes if ax.get_xlabel() == "time (s)"]


def test_trajectory_shows_the_first_second_one_legend_entry_per_start(runs, tmp_path):
    fig = plot.trajectory(runs[0], starts=3)
    assert len(fig.axes) == 5  # x, ẋ, θ, θ̇ and the push spanning the bottom row
    assert all(ax.get_visible() and ax.has_data() for ax in fig.axes)  # no empty panel
    assert [ax.get_xlim() for ax in _time_axes(fig)] == [(0.0, 1.0)] * 5
    (legend,) = fig.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert [t.split(":")[0] for t in texts[:3]] == ["start 1", "start 2", "start 3"]
    assert "termination threshold (±2.4 m, ±12°)" in texts
    assert "action bounds (±1)" in texts  # CartPole's push box, System.action_bounds
    assert fig._suptitle.get_text().endswith("the first 1 s of the 10 s episode")
    full = plot.trajectory(runs[0], starts=2, full=True)
    assert len(full.legends[0].get_texts()) >= 2 + 2
    # the untrained policy may end early; its traces stop there, the axes span the episode
    assert [ax.get_xlim() for ax in _time_axes(full)] == [(0.0, 10.0)] * 5
    out = tmp_path / "t.png"
    assert main(["plot", "trajectory", str(runs[0]), "--full", "--out", str(out)]) == 0
    assert out.is_file()


def test_pendulum_trajectory_fills_a_two_by_two_grid():
    fig = plot.trajectory("pendulum", starts=2)
    assert len(fig.axes) == 4 and all(ax.has_data() for ax in fig.axes)
    assert [ax.get_xlim() for ax in _time_axes(fig)] == [(0.0, 10.0)] * 3
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[0].startswith("start 1: from θ = ") and texts[-1] == "action bounds (±2 N·m)"


def test_trajectory_figure_wraps_angles_and_marks_termination():
    t = np.arange(4) * 0.1
    states = np.array([[3.0, 0.0], [3.2, 1.0], [3.4, 1.0], [3.5, 0.5]])
    fig = plots.trajectory_figure(
        t, states, np.zeros(3), ["θ (rad)", "θ̇ (rad/s)"], "u", angles=(0,), ended_at=[2]
    )
    line = fig.axes[0].lines[0]
    y = np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(y).sum() == 1  # broken once, where 3.2 rad wraps to −3.08 rad
    assert np.nanmax(np.abs(y)) <= np.pi
    assert len(y) == 3 + 1  # stopped at the terminating state (index 2), plus the break
    x, yb = plots._break_jumps(np.arange(3.0), np.array([3.0, -3.0, -2.9]), np.array([3, -3, -2.9]))
    assert np.isnan(x[1]) and np.isnan(yb[1])


# --- trebuchet shot ------------------------------------------------------------------------


def test_plot_shot_several_triples_with_target(tmp_path, capsys):
    out = tmp_path / "s.png"
    shots = ["--shot=-2,45,200", "--shot", "2,35,300"]
    assert main(["plot", "shot", *shots, "--target", "80", "--out", str(out), "--dpi", "40"]) == 0
    assert str(out) in capsys.readouterr().out
    fig = plots.shot_figure([(-2, 45, 200), (2, 35, 300)], target=80)
    _check_picture(out, fig)
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend[0].startswith("-2 m/s, 45°, 200 lb → 74.7 m (miss -5.3 m)")
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert "74.7 m" in texts and "target 80 m" in texts


def test_plot_shot_of_an_aiming_network(aiming_run, tmp_path):
    out = tmp_path / "s.png"
    argv = ["plot", "shot", str(aiming_run), "--target", "50", "--out", str(out), "--dpi", "40"]
    assert main(argv) == 0
    _check_picture(out, plot.shot(run_dir=aiming_run, target=50.0))


def _targets_and_names(fig):
    flags = [t.get_text() for t in fig.axes[1].texts if t.get_text().startswith("target")]
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    return flags, [entry.split(":")[0] for entry in legend]


def test_plot_shot_of_an_aiming_network_without_target_aims_across_the_range(aiming_run, tmp_path):
    from diffsim.envs.trebuchet_env import TARGET_RANGE

    out = tmp_path / "s.png"
    assert main(["plot", "shot", str(aiming_run), "--out", str(out), "--dpi", "40"]) == 0
    fig = plot.shot(run_dir=aiming_run)
    _check_picture(out, fig)
    flags, names = _targets_and_names(fig)
    assert flags == ["target 30 m", "target 50 m", "target 70 m"]
    assert names == ["network at 30 m", "network at 50 m", "network at 70 m"]
    assert all(TARGET_RANGE[0] < t < TARGET_RANGE[1] for t in plot.DEFAULT_TARGETS)
    # --target repeats: the network aims at each; a --shot is measured against a single one
    argv = ["plot", "shot", str(aiming_run), "--target", "25", "--target", "60"]
    assert main([*argv, "--out", str(out), "--dpi", "40"]) == 0
    flags, names = _targets_and_names(plot.shot(run_dir=aiming_run, target=[25.0, 60.0]))
    assert flags == ["target 25 m", "target 60 m"]
    assert names == ["network at 25 m", "network at 60 m"]


def test_plot_shot_help_names_the_default_targets(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["plot", "shot", "--help"])
    assert exit_.value.code == 0
    assert "default: 30, 50 and 70 m" in " ".join(capsys.readouterr().out.split())


def test_several_targets_without_an_aiming_network_is_a_clear_error(capsys):
    argv = ["plot", "shot", "--shot", "0,45,200", "--target", "30", "--target", "60"]
    assert main(argv) == 2
    assert "--target 30, 60" in capsys.readouterr().err


def test_shot_geometry_is_the_envs():
    from diffsim.envs import render

    g = render.trebuchet_pose_geometry([-2.0, 0.5], [0.3, -0.2], [-1.0, -1.5], [-1.0, -1.5])
    np.testing.assert_allclose(g["arm"][0], [2.0 * 0.533 / 2.070, -0.5 * 0.533 / 2.070])
    frame = render.render_trebuchet(0.0, 40.0, pose=g)
    weight = np.array(render.TREBUCHET_COLORS["weight"], dtype=np.uint8)
    assert (frame == weight).all(-1).any()  # the counterweight is drawn


# --- learning curves -----------------------------------------------------------------------


def test_plot_curves_from_run_dirs_and_result_file(runs, tmp_path, capsys):
    out = tmp_path / "c.png"
    assert main(["plot", "curves", *map(str, runs), "--out", str(out), "--dpi", "40"]) == 0
    assert str(out) in capsys.readouterr().out
    fig = plot.curves(runs)
    _check_picture(out, fig)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["bptt (2 seeds)", "solved (475)"]
    assert fig.axes[0].collections  # the band across the two seeds
    out = tmp_path / "r.png"
    argv = ["plot", "curves", str(RESULT), "--band", "iqr", "--out", str(out), "--dpi", "40"]
    assert main(argv) == 0
    _check_picture(out, plot.curves([RESULT], band="iqr"))


def test_curve_axes_are_log_scaled_from_the_first_positive_x(runs):
    """Both x-axes are logarithmic; the evaluations at 0 transitions and 0 s (the untrained
    policy) cannot be drawn there, so the curves start at the first positive x: 300
    transitions and 0.1 s in the ``runs`` fixture."""
    for fig in (plot.curves(runs), plot.curves(runs[:1])):  # a median with a band; one seed
        assert [ax.get_xscale() for ax in fig.axes] == ["log", "log"]
        for ax, first in zip(fig.axes, (300.0, 0.1)):
            x = np.asarray(ax.lines[0].get_xdata(), dtype=float)
            assert x.min() == pytest.approx(first)
            assert ax.get_xlim()[0] > 0


def test_curves_figure_checks_its_input():
    with pytest.raises(ValueError, match="lacks"):
        plots.curves_figure({"m": [{"transitions": [0, 1]}]})
    with pytest.raises(ValueError, match="band"):
        plots.curves_figure({"m": [dict.fromkeys(plots._CURVE_KEYS, [1.0])]}, band="sd")


# --- animation -----------------------------------------------------------------------------


def test_animate_writes_one_frame_per_step(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "p.gif"
    argv = ["animate", "pendulum", "--policy", "random", "--steps", "12", "--out", str(out)]
    assert main(argv) == 0
    assert str(out) in capsys.readouterr().out
    frames = animate.frames("pendulum", policy="random", steps=12)
    assert frames.shape == (13, 500, 500, 3) and frames.dtype == np.uint8
    with Image.open(out) as im:
        assert im.n_frames == 13 and im.size == (500, 500)
        stored = []
        for k in (0, 5):
            im.seek(k)
            stored.append(np.asarray(im.convert("RGB")).astype(int))
    # The first frame (no torque arrow yet) has under 256 colours: a GIF palette keeps it.
    assert len(np.unique(frames[0].reshape(-1, 3), axis=0)) <= 256
    assert np.array_equal(stored[0], frames[0])
    # Later frames draw the smoothly scaled arrow (more colours): quantised, barely.
    error = np.abs(stored[1] - frames[5])
    assert (
        error.max() <= 16 and error.mean() < 0.05 * np.abs(frames[5] - frames[4].astype(int)).mean()
    )


def test_animation_frames_are_the_envs_render():
    import gymnasium as gym

    env = gym.make("diffsim/CartPoleContinuous-v1", render_mode="rgb_array")
    data = plot.simulate_system("cartpole", "zero", steps=3, seed=4)
    frames = animate.frames("cartpole", steps=3, seed=4)
    assert frames.shape[0] == 4
    for state, frame in zip(data["states"][:, 0], frames):
        env.reset(options={"state": state})
        assert np.array_equal(frame, env.render())


def test_animate_a_trebuchet_shot_and_an_aiming_network(aiming_run, tmp_path):
    from PIL import Image

    out = tmp_path / "t.gif"
    assert main(["animate", "trebuchet", "--shot=-2,45,200", "--fps", "4", "--out", str(out)]) == 0
    from diffsim import trebuchet

    clip = animate.clip("trebuchet", shot=(-2, 45, 200), fps=4)
    landing = float(trebuchet.simulate(-2.0, 45.0, 200.0).landing_time)  # 5.83 s
    assert len(clip.frames) == int(landing * 4) + 1
    with Image.open(out) as im:
        assert im.n_frames == len(clip.frames) and im.size == clip.frames.shape[2:0:-1]
    path = animate.animate(aiming_run, tmp_path / "a.gif", fps=2, target=40.0, wind=1.0)
    assert path.stat().st_size > 1000


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not on PATH")
def test_animate_mp4(tmp_path):
    out = animate.animate("pendulum", tmp_path / "p.mp4", steps=10)
    assert out.suffix == ".mp4" and out.stat().st_size > 1000


def test_animate_mp4_without_ffmpeg_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(animate.shutil, "which", lambda name: None)
    assert main(["animate", "pendulum", "--format", "mp4", "--out", str(tmp_path / "p")]) == 2
    assert "ffmpeg" in capsys.readouterr().err


# --- bad inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv,message",
    [
        (["plot", "trajectory", "cartpol"], "'cartpol'; expected one of: acrobot, cartpole, cart"),
        (["plot", "trajectory", "runs/missing"], "does not exist"),
        (["plot", "curves", "runs/missing"], "does not exist"),
        (["plot", "shot"], "give at least one --shot"),
        (
            ["animate", "cartpol"],
            "expected one of: acrobot, cartpole, cartpole-continuous, mountaincar, "
            "mountaincar-continuous, pendulum, pendulum-2019, ",
        ),
        (["animate", "runs/missing"], "does not exist"),
        (["animate", "trebuchet", "--steps", "3"], "--steps applies to CartPole"),
        (["animate", "pendulum", "--target", "30"], "--target applies to a trebuchet shot"),
    ],
)
def test_bad_inputs_are_clear_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_empty_or_headless_metrics_file_is_a_clear_error(tmp_path, capsys):
    for text in ("", "transitions,train_seconds,eval_return_mean\n"):
        (tmp_path / "metrics.csv").write_text(text)
        assert main(["plot", "curves", str(tmp_path)]) == 2
        assert "has no evaluation rows" in capsys.readouterr().err


@pytest.mark.parametrize("shot", ["1,2", "a,45,200", "0,45,-5", "0,45,nan"])
def test_malformed_shot_is_a_usage_error(shot, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["plot", "shot", f"--shot={shot}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "WIND,ANGLE,WEIGHT" in err or "must be positive" in err


# --- a system registered by a user: plotted, animated and benchmarked from its description ---


@dataclasses.dataclass(frozen=True)
class PointMassParams:
    """A damped point mass on a line: ``m ẍ = u − c ẋ``, terminated beyond ``±x_limit``."""

    mass: float = 2.0  # kg
    damping: float = 0.5  # N·s/m
    dt: float = 0.05  # s
    x_limit: float = 1.5  # m


_BENCH_ACTIONS: list = []  # what the bench's eager path handed to step_unchecked


def _lib(state):
    return torch if isinstance(state, torch.Tensor) else np


def _pm_step(state, action, params=None, integrator=None):
    """Semi-implicit Euler: v' = v + (u − c v)/m · dt, x' = x + v' · dt."""
    p = PointMassParams() if params is None else params
    x, v = state[..., 0], state[..., 1]
    v = v + (action - p.damping * v) / p.mass * p.dt
    return _lib(state).stack([x + v * p.dt, v], -1)


def _pm_step_unchecked(state, action, params, integrator):
    _BENCH_ACTIONS.append(torch.as_tensor(action).detach().clone())
    return _pm_step(state, action, params)


def _pm_sample_initial(batch_shape=(), *, generator=None, dtype=None, device=None):
    """x ~ U(−1, 1) m, v ~ U(−2, 2) m/s."""
    shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
    u = torch.rand((*shape, 2), generator=generator, dtype=dtype, device=device)
    return (2 * u - 1) * torch.tensor([1.0, 2.0], dtype=u.dtype, device=u.device)


def _pm_frame(state, params, last_action=None):
    """A 4×6 frame that encodes what it was given: red = position, green = the last action
    (128 when none), blue = 255 when there was no last action."""
    frame = np.zeros((4, 6, 3), dtype=np.uint8)
    frame[..., 0] = np.clip(np.round(128 + 50 * float(state[0])), 0, 255)
    frame[..., 1] = (
        128 if last_action is None else np.clip(np.round(128 + 40 * last_action), 0, 255)
    )
    frame[..., 2] = 255 if last_action is None else 0
    return frame


def _point_mass(name, render):
    from diffsim.systems import System

    return System(
        name=name,
        title="PointMass",
        module=__name__,
        state_names=("x", "x_dot"),
        state_units=("m", "m/s"),
        observation_names=("x", "x_dot"),
        params_type=PointMassParams,
        default_params=PointMassParams(),
        dt_field="dt",
        default_integrator="semi_implicit_euler",
        action_unit="N",
        action_bounds=lambda p: (-0.5, 3.0),
        step=_pm_step,
        step_unchecked=_pm_step_unchecked,
        reward=lambda s, a, s2, p: -(s2[..., 0] ** 2),
        terminated=lambda s, p: abs(s[..., 0]) > p.x_limit,
        observe=lambda s: s,
        observation_high=lambda p: (float("inf"), float("inf")),
        sample_initial=_pm_sample_initial,
        reset_state=lambda rng, options: rng.uniform(-1.0, 1.0, 2),
        render=render,
        render_fps=20,
    )


TOY = "point-mass-test"
"""The task of the toy system registered by the ``toy`` fixture (damping 0.25 N·s/m)."""
DARK = "dark-mass-test"
"""A task of a second toy system without a frame function."""


@pytest.fixture
def toy(monkeypatch):
    """Registers two point-mass systems and their tasks for one test (the registry is
    restored afterwards; nothing reaches Gymnasium's registry)."""
    from diffsim import systems

    monkeypatch.setattr(systems, "_SYSTEMS", dict(systems._SYSTEMS))
    monkeypatch.setattr(systems, "_TASKS", dict(systems._TASKS))
    monkeypatch.setattr(systems, "_listeners", [])
    task = systems.TaskSpec(
        "diffsim-test/PointMass-v0",
        "test_point_mass",
        TOY,
        max_episode_steps=60,
        param_overrides={"damping": 0.25},
    )
    systems.register_system(
        "test_point_mass", _point_mass("test_point_mass", f"{__name__}:_pm_frame"), [task]
    )
    dark = systems.TaskSpec("diffsim-test/DarkMass-v0", "test_dark_mass", DARK)
    systems.register_system("test_dark_mass", _point_mass("test_dark_mass", None), [dark])
    _BENCH_ACTIONS.clear()
    return task


def _reference_rollout(data, damping=0.25, mass=2.0, dt=0.05, limit=1.5):
    """The point mass's states from the first state and the actions, in float64 NumPy, and
    the first index at which |x| > limit (−1 for none), per start."""
    states = [data["states"][0]]
    for a in data["actions"]:
        x, v = states[-1][:, 0], states[-1][:, 1]
        v = v + (a - damping * v) / mass * dt
        states.append(np.stack([x + v * dt, v], -1))
    states = np.stack(states)
    out = np.abs(states[:, :, 0]) > limit
    ended = np.where(out.any(0), out.argmax(0), -1)
    return states, ended


def test_a_registered_system_is_offered_by_plot_and_animate(toy, capsys):
    assert TOY in plot.task_names() and TOY in plot.SYSTEM_NAMES and DARK in plot.SYSTEM_NAMES
    for argv in (["plot", "trajectory", "--help"], ["animate", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert TOY in capsys.readouterr().out
    assert main(["plot", "trajectory", "point-mass"]) == 2
    err = capsys.readouterr().err
    assert "unknown system 'point-mass'" in err and TOY in err and "cartpole" in err
    assert main(["animate", "point-mass"]) == 2
    err = capsys.readouterr().err
    assert TOY in err and "trebuchet" in err


def test_a_registered_systems_rollout_is_its_own_step_under_its_tasks_parameters(toy):
    data = plot.simulate_system(TOY, "random", steps=40, starts=3, seed=1)
    np.testing.assert_allclose(data["times"], np.arange(41) * 0.05)
    states, ended = _reference_rollout(data)  # damping 0.25: the task's, not the default 0.5
    np.testing.assert_allclose(data["states"], states, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(data["ended_at"], ended)
    a = data["actions"]
    assert a.shape == (40, 3) and a.min() >= -0.5 and a.max() <= 3.0  # the action box
    assert a.min() < 0 and a.max() > 2.0  # uniform over all of it, not a fixed ±scale
    zero = plot.simulate_system(TOY, "zero", steps=5)
    assert not zero["actions"].any()


def _dashed(ax, style):
    return sorted(
        float(np.asarray(line.get_ydata(), dtype=float)[0])
        for line in ax.lines
        if line.get_linestyle() == style
    )


def test_a_registered_systems_trajectory_is_drawn_from_its_description(toy, tmp_path):
    fig = plot.trajectory(TOY, "random", steps=40, starts=3, seed=1)
    time_axes = _time_axes(fig)
    assert [ax.get_ylabel() for ax in time_axes] == ["x (m)", "ẋ (m/s)", "action (N)"]
    assert [ax.get_xlim() for ax in time_axes] == [(0.0, 2.0)] * 3  # 40 steps of 0.05 s
    (phase,) = [ax for ax in fig.axes if ax not in time_axes]  # a two-entry state
    assert (phase.get_xlabel(), phase.get_ylabel()) == ("x (m)", "ẋ (m/s)")
    assert _dashed(time_axes[0], "--") == [-1.5, 1.5]  # where it terminates: |x| > x_limit
    assert _dashed(time_axes[1], "--") == []  # the speed does not end an episode
    assert _dashed(time_axes[2], ":") == [-0.5, 3.0]  # System.action_bounds
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "termination threshold (±1.5 m)" in texts
    assert "action bounds (-0.5 … 3 N)" in texts
    data = plot.simulate_system(TOY, "random", steps=40, starts=3, seed=1)
    _, ended = _reference_rollout(data)
    expected = [
        f"start {k + 1}: terminated at {e * 0.05:.2f} s"
        if e >= 0
        else f"start {k + 1}: not terminated in 2 s"
        for k, e in enumerate(ended)
    ]
    assert texts[:3] == expected
    out = tmp_path / "toy.png"
    argv = ["plot", "trajectory", TOY, "--steps", "40", "--starts", "3", "--seed", "1"]
    assert main([*argv, "--policy", "random", "--out", str(out), "--dpi", str(DPI)]) == 0
    _check_picture(out, fig)


def test_termination_limits_are_where_the_description_terminates(toy):
    from diffsim import systems

    cp = systems.get_system("cartpole")
    p = cp.default_params
    limits = plot.termination_limits(cp)
    assert limits[1] is None and limits[3] is None
    np.testing.assert_allclose(limits[0], (-p.x_threshold, p.x_threshold), rtol=1e-12)
    np.testing.assert_allclose(limits[2], (-p.theta_threshold, p.theta_threshold), rtol=1e-12)
    assert plot.termination_limits(systems.get_system("pendulum")) == (None, None)
    toy_system = systems.get_system("test_point_mass")
    limits = plot.termination_limits(toy_system, PointMassParams(x_limit=0.75))
    np.testing.assert_allclose(limits[0], (-0.75, 0.75), rtol=1e-12)
    assert limits[1] is None
    lopsided = dataclasses.replace(
        toy_system, terminated=lambda s, p: (s[..., 1] > 2.0) | (s[..., 1] < -0.5)
    )
    limits = plot.termination_limits(lopsided)
    assert limits[0] is None
    np.testing.assert_allclose(limits[1], (-0.5, 2.0), rtol=1e-12)
    one_sided = dataclasses.replace(toy_system, terminated=lambda s, p: s[..., 0] > 4.0)
    (low, high), speed = plot.termination_limits(one_sided)
    assert low is None and high == pytest.approx(4.0, rel=1e-12) and speed is None
    ended = dataclasses.replace(toy_system, terminated=lambda s, p: s[..., 0] > -1.0)
    assert plot.termination_limits(ended) == (None, None)  # the zero state already ends


def test_state_symbols_come_from_the_names():
    assert [plot.state_symbol(n) for n in ("x", "x_dot", "theta", "theta_dot")] == [
        "x",
        "\u1e8b",
        "θ",
        "θ\u0307",
    ]
    assert plot.state_symbol("phi_ddot") == "φ\u0308"
    assert plot.state_symbol("pos_dot") == "dpos/dt"
    assert plot.state_symbol("_dot") == "_dot"


def test_a_registered_system_is_animated_with_its_frame_function(toy, tmp_path):
    clip = animate.clip(TOY, policy="random", steps=10, seed=2)
    data = plot.simulate_system(TOY, "random", steps=10, seed=2)
    end = int(data["ended_at"][0])
    count = end + 1 if end >= 0 else 11
    assert clip.frames.shape == (count, 4, 6, 3) and clip.fps == pytest.approx(1 / 0.05)
    x = data["states"][:count, 0, 0]
    np.testing.assert_array_equal(clip.frames[:, 0, 0, 0], np.round(128 + 50 * x))
    assert tuple(clip.frames[0, 0, 0, 1:]) == (128, 255)  # no action before the first frame
    a = data["actions"][: count - 1, 0]
    np.testing.assert_array_equal(clip.frames[1:, 0, 0, 1], np.round(128 + 40 * a))
    assert not clip.frames[1:, ..., 2].any()
    out = tmp_path / "toy.gif"
    assert main(["animate", TOY, "--steps", "4", "--out", str(out)]) == 0
    assert out.stat().st_size > 0


def test_a_system_without_a_frame_function_is_drawn_but_not_animated(toy, tmp_path, capsys):
    assert main(["animate", DARK, "--out", str(tmp_path / "d.gif")]) == 2
    err = capsys.readouterr().err
    assert "cannot animate dark-mass-test" in err and "no frame function" in err
    assert not (tmp_path / "d.gif").exists()
    with pytest.raises(ValueError, match="System.render is None"):
        animate.frame_function(DARK)
    out = tmp_path / "d.png"
    assert main(["plot", "trajectory", DARK, "--steps", "8", "--out", str(out)]) == 0
    assert out.is_file()


def test_the_bench_steps_a_registered_system(toy):
    from diffsim.scripts import bench

    assert "test_point_mass" in bench.bench_systems() and "test_point_mass" in bench.SYSTEMS
    row = bench.bench_step("test_point_mass", 4, 3, "eager", "cpu", 1)
    assert row["system"] == "test_point_mass" and row["batch"] == 4 and row["steps_per_s"] > 0
    seen = torch.cat(_BENCH_ACTIONS)
    assert len(_BENCH_ACTIONS) == 3 * 2  # the untimed first call and one timed call
    assert seen.min() >= -0.5 and seen.max() <= 3.0 and seen.max() > 1.0  # action_bounds
    assert bench.system_of("diffsim-test/PointMass-v0") == "test_point_mass"
    assert bench.system_of("CartPole-v1") == "cartpole"
    assert bench.system_of("diffsim/Pendulum2019-v1") == "pendulum"
    assert bench.gymnasium_id("test_point_mass") is None
    assert bench.gymnasium_id("pendulum") == "Pendulum-v1"
    with pytest.raises(ValueError, match="expected some of: cartpole, pendulum, .*test_point_mass"):
        bench.bench_step("point_mass", 4, 3, "eager", "cpu", 1)
    with pytest.raises(ValueError, match="unknown system"):
        bench.run_bench(systems=("nope",), progress=False)
