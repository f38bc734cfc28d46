"""``diffsim animate ENV|RUN_DIR``: a GIF (or MP4) of a rollout or a trebuchet shot.

The frames are drawn by each system's own frame function (:attr:`System.render
<diffsim.systems.System.render>`, loaded by ``System.renderer()``), the one its envs'
``rgb_array`` rendering draws, so an animation and ``env.render()`` never disagree.

- A task of a registered stepping system by its short name (``cartpole``,
  ``cartpole-continuous``, ``pendulum``, ``pendulum-2019``, and any system registered since):
  a rollout from the reset distribution (``--seed``) with a ``zero`` or ``random`` policy
  (``--policy``), one frame per step, ending at termination or after ``--steps`` steps
  (default: the env's time limit); the same rollout as ``diffsim plot trajectory`` with the
  same options. Frame ``k`` is drawn from state ``k`` and the action that led to it (none for
  the first). A system without a frame function is an error (``plot trajectory`` draws it).
- A run directory of such a task: its trained policy, deterministically.
- ``trebuchet``: one shot, ``--shot WIND,ANGLE,WEIGHT`` (m/s, degrees, lb; default the
  post's -2,45,200), from the start to the landing, frames every 1/``--fps`` s of the shot:
  a close-up of the machine on the left, the env's whole scene on the right.
- A run directory of the trebuchet aiming network: the shot it chooses for ``--target``
  and ``--wind`` (default: a task drawn from the env's distribution with ``--seed``).

A rollout plays in real time by default: one frame per step at 1/dt frames per second.
GIF is written with Pillow (installed with matplotlib); MP4 needs ``ffmpeg`` on PATH.
Identical consecutive frames are stored once in a GIF, their durations summed; the last
frame is held for a second before the animation loops.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .plot import TREBUCHET, parse_shot, task_names

FORMATS = ("gif", "mp4")
"""The animation formats (``mp4`` needs ``ffmpeg`` on PATH)."""
DEFAULT_SHOT = (-2.0, 45.0, 200.0)
"""The shot animated by default: the 2019 post's (wind m/s, angle degrees, weight lb)."""
TREBUCHET_FPS = 25.0
"""Default frames per second of a shot (its frames are taken every 1/fps s of the shot)."""
HOLD_LAST_S = 1.0
"""How long a GIF shows its last frame before it loops, s."""


@dataclass
class Clip:
    """Frames and how to play them.

    Attributes:
        frames: ``[F, H, W, 3]`` uint8 RGB frames.
        fps: Playback frames per second.
        title: What the clip shows.
    """

    frames: np.ndarray
    fps: float
    title: str


def _given(**options: object) -> str:
    """``"--a and --b apply"`` for the options given (not None), or ``""``."""
    names = [f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None]
    if not names:
        return ""
    return " and ".join(names) + (" applies" if len(names) == 1 else " apply")


def frame_function(name: str) -> Callable[..., np.ndarray]:
    """The frame function of a task's system: ``(state float64 [n], params, last_action or
    None) -> uint8 [H, W, 3]`` (:meth:`diffsim.systems.System.renderer`).

    Raises:
        ValueError: an unknown task, a system without a renderer (``System.render`` is
            None), or a ``System.render`` entry that does not load.
    """
    from .plot import system_view

    system = system_view(name).system
    if system.render is None:
        raise ValueError(
            f"cannot animate {name}: the {system.title} system has no frame function "
            "(System.render is None); `diffsim plot trajectory "
            f"{name}` draws its trajectory"
        )
    try:
        return system.renderer()
    except (ImportError, AttributeError) as exc:
        raise ValueError(
            f"cannot animate {name}: the {system.title} system's frame function "
            f"{system.render!r} does not load ({type(exc).__name__}: {exc})"
        ) from exc


def _system_clip(
    source: Union[str, Path],
    policy: Optional[str],
    steps: Optional[int],
    seed: Optional[int],
    fps: Optional[float],
) -> Clip:
    from .plot import rollout_data, system_view

    if not Path(source).is_dir() and str(source) in task_names():
        frame_function(str(source))  # a system that cannot be drawn fails before simulating
    name, what, data = rollout_data(source, policy, steps, 1, 0 if seed is None else seed)
    view = system_view(name)
    draw = frame_function(name)
    end = int(data["ended_at"][0])
    states = data["states"][: (end + 1 if end >= 0 else None), 0]
    actions = data["actions"][:, 0]
    frames = [
        draw(states[k], view.params, None if k == 0 else float(actions[k - 1]))
        for k in range(len(states))
    ]
    rate = 1.0 / view.dt if fps is None else fps
    return Clip(np.stack(frames), rate, f"{name}: {what}")


def _trebuchet_clip(
    shot: tuple[float, float, float], target: Optional[float], fps: Optional[float], title: str
) -> Clip:
    import torch

    from diffsim import trebuchet
    from diffsim.envs import render

    wind, angle, weight = shot
    p = trebuchet.TrebuchetParams.reference()
    lengths = {
        "pivot_height": float(p.pivot_height),
        "arm_long": float(p.arm_long),
        "arm_short": float(p.arm_short),
    }
    with torch.no_grad():
        res = trebuchet.simulate(float(wind), float(angle), float(weight), p)
    keep = res.stage.numpy() > 0
    t = res.time.numpy()[keep]
    stage = res.stage.numpy()[keep]
    parts = [
        getattr(res, k).numpy()[keep]
        for k in ("arm_tip", "counterweight", "sling_end", "projectile")
    ]
    proj = parts[3]
    distance = float(res.distance)
    rate = TREBUCHET_FPS if fps is None else fps
    size = (300, 600)  # the env's frame; a close-up of the machine goes on its left
    b, e = float(p.arm_long), float(p.sling_length)
    half = 0.5 * (b + e) + 1.5
    closeup = (
        (-half, half),
        (-float(p.pivot_height) - 0.3, 2 * half - float(p.pivot_height) - 0.3),
    )
    gap = np.full((size[0], 2, 3), 160, dtype=np.uint8)
    # One window for the whole clip: the target, the landing and the top of the flight.
    apex = float(np.max(proj[:, 1]))
    far = max(target or 0.0, float(np.max(proj[:, 0])))
    far = max(far, ((apex + 5.0) * size[1] / size[0] - 10.0) / 1.1)
    n = int(math.floor(t[-1] * rate + 1e-9)) + 1
    # A frame every 1/fps s of the shot; the last one is the landing, with its marker.
    picks = [int(np.searchsorted(t, k / rate, side="right")) - 1 for k in range(n - 1)]
    picks.append(len(t) - 1)
    frames = []
    for i in picks:
        pose = render.trebuchet_pose_geometry(
            *(part[i] for part in parts),
            arm_long=lengths["arm_long"],
            arm_short=lengths["arm_short"],
        )
        trail = proj[np.flatnonzero(stage[: i + 1] == 3)]
        near = render.render_trebuchet(
            wind,
            target,
            size=(size[0], size[0]),
            pose=pose,
            trail=trail,
            window=closeup,
            **lengths,
        )
        scene = render.render_trebuchet(
            wind,
            target,
            distance=distance if i == len(t) - 1 else None,
            size=size,
            pose=pose,
            trail=trail[::3],
            far=far,
            **lengths,
        )
        frames.append(np.concatenate([near, gap, scene], axis=1))
    failed = bool(res.failed.item())
    title += f" → failed: {res.reasons[0]}" if failed else f" → {distance:.1f} m"
    return Clip(np.stack(frames), rate, title)


def _rollout_titles() -> str:
    """``"CartPole and Pendulum"``: the titles of the registered stepping systems."""
    from diffsim.systems import get_system, system_names

    titles = [get_system(name).title for name in system_names()]
    return ", ".join(titles[:-1]) + " and " + titles[-1] if len(titles) > 1 else "".join(titles)


def clip(
    source: Union[str, Path],
    *,
    policy: Optional[str] = None,
    steps: Optional[int] = None,
    seed: Optional[int] = None,
    fps: Optional[float] = None,
    shot: Optional[Sequence[float]] = None,
    target: Optional[float] = None,
    wind: Optional[float] = None,
) -> Clip:
    """The frames of an animation and their playback rate (see the module docstring).

    Args:
        source: A task name (:func:`diffsim.scripts.plot.task_names`: ``cartpole``,
            ``pendulum``, ...), ``trebuchet`` or a run directory.
        policy: ``"zero"`` (default) or ``"random"``, for a named task.
        steps: Steps to simulate, for a rollout (default: the env's time limit).
        seed: Seeds the initial state and random policy, or the aiming network's task.
        fps: Frames per second (default: real time, 1/dt for a rollout; 25 for a shot,
            whose frames are taken every 1/fps s, so it always plays in real time).
        shot: ``(wind m/s, angle degrees, weight lb)`` for ``trebuchet``.
        target: Target distance, m: marked in a shot, and aimed at by an aiming network.
        wind: Wind, m/s, for an aiming network.

    Raises:
        ValueError: an option that does not apply to ``source`` (it is not ignored), an
            unknown name (the message lists the valid ones), or a system without a frame
            function; FileNotFoundError: a missing run directory.
    """
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"--fps must be positive, got {fps}")
    path = Path(source)
    aiming = False
    if path.is_dir():
        from .plot import _is_trebuchet, _load_agent

        aiming = _is_trebuchet(_load_agent(path).env_id)
    if str(source) == TREBUCHET or aiming:
        wrong = _given(policy=policy, steps=steps)
        if wrong:
            raise ValueError(
                f"{wrong} to {_rollout_titles()}; a trebuchet shot runs "
                "from the start to its landing (--fps sets how many frames it gets)"
            )
        if aiming:
            if shot is not None:
                raise ValueError(f"{source} aims the shot itself; --shot applies to 'trebuchet'")
            if target is None or wind is None:
                from diffsim.envs.trebuchet_env import TrebuchetEnv

                drawn, _ = TrebuchetEnv().reset(seed=0 if seed is None else seed)
                wind = float(drawn[0]) if wind is None else wind
                target = float(drawn[1]) if target is None else target
            from .plot import aimed_shot

            chosen = aimed_shot(path, wind, target)
            title = f"trebuchet: the aiming network of {path.name} at {target:.1f} m"
            return _trebuchet_clip(chosen, target, fps, title)
        wrong = _given(seed=seed, wind=wind)
        if wrong:
            raise ValueError(
                f"{wrong} to an aiming network's run directory; "
                "--shot WIND,ANGLE,WEIGHT carries its own wind"
            )
        chosen = tuple(float(v) for v in (DEFAULT_SHOT if shot is None else shot))
        if len(chosen) != 3:
            raise ValueError(f"shot must be (wind m/s, angle degrees, weight lb), got {shot}")
        w, a, m = chosen
        return _trebuchet_clip((w, a, m), target, fps, f"trebuchet: {w:+g} m/s, {a:g}°, {m:g} lb")
    wrong = _given(shot=shot, target=target, wind=wind)
    if wrong:
        raise ValueError(f"{wrong} to a trebuchet shot, not to {source}")
    names = task_names()
    if not path.is_dir() and str(source) not in names and "/" not in str(source):
        from diffsim._validation import check_choice

        check_choice("system", str(source), [*names, TREBUCHET])
    return _system_clip(source, policy, steps, seed, fps)


def frames(source: Union[str, Path], **options: object) -> np.ndarray:
    """The ``[F, H, W, 3]`` uint8 frames of :func:`animate` (same arguments as :func:`clip`)."""
    return clip(source, **options).frames  # type: ignore[arg-type]


def _write_gif(c: Clip, out: Path) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in c.frames]
    step = 1000.0 / c.fps
    durations = [round(step)] * len(images)
    durations[-1] = max(durations[-1], round(HOLD_LAST_S * 1000))
    images[0].save(out, save_all=True, append_images=images[1:], duration=durations, loop=0)


def _ffmpeg() -> str:
    """The path of ``ffmpeg``; a ValueError saying how to get it when it is not on PATH."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ValueError(
            "--format mp4 needs ffmpeg on PATH (e.g. `apt install ffmpeg` or `conda install "
            "ffmpeg`); --format gif needs nothing more"
        )
    return ffmpeg


def _write_mp4(c: Clip, out: Path) -> None:
    ffmpeg = _ffmpeg()
    _, h, w, _ = c.frames.shape
    cmd = [
        ffmpeg,
        "-y",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{w}x{h}",
        "-r",
        f"{c.fps:g}",
        "-i",
        "-",
        "-vf",
        "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        "-pix_fmt",
        "yuv420p",
        str(out),
    ]
    done = subprocess.run(cmd, input=np.ascontiguousarray(c.frames).tobytes(), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {done.stderr.decode()[-2000:]}")


def animate(
    source: Union[str, Path],
    out: Union[str, Path, None] = None,
    *,
    format: Optional[str] = None,  # noqa: A002 (the command-line option's name)
    **options: object,
) -> Path:
    """Write an animation of ``source`` and return its path.

    Args:
        source: As :func:`clip`.
        out: File to write (default: ``RUN_DIR/animation.<format>`` for a run directory,
            else ``runs/<ENV>.<format>``).
        format: ``"gif"`` or ``"mp4"`` (default: ``out``'s suffix, else gif).
        **options: ``policy``, ``steps``, ``seed``, ``fps``, ``shot``, ``target``, ``wind``
            (see :func:`clip`).
    """
    from diffsim._validation import check_choice

    if format is None:
        suffix = Path(out).suffix.lower().lstrip(".") if out is not None else ""
        format = suffix if suffix in FORMATS else "gif"
    check_choice("format", format, FORMATS)
    if out is None:
        path = Path(source)
        out = path / f"animation.{format}" if path.is_dir() else Path("runs") / f"{source}.{format}"
    out = Path(out)
    if format == "mp4":
        _ffmpeg()  # before the simulation: a missing ffmpeg fails at once
    c = clip(source, **options)  # type: ignore[arg-type]
    out.parent.mkdir(parents=True, exist_ok=True)
    (_write_gif if format == "gif" else _write_mp4)(c, out)
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "animate",
        help="a GIF or MP4 of a rollout or a trebuchet shot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        metavar="ENV|RUN_DIR",
        help=f"a system's task ({', '.join([*task_names(), TREBUCHET])}) or a run directory",
    )
    p.add_argument(
        "--policy",
        choices=("zero", "random"),
        default=None,
        help="a named task: zero or random actions (default: zero)",
    )
    p.add_argument(
        "--steps", type=int, default=None, help="a rollout's steps (default: the time limit)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the initial state, or of an aiming network's task (default: 0)",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="frames per second (default: real time; 25 for a shot)",
    )
    p.add_argument(
        "--shot",
        type=parse_shot,
        default=None,
        metavar="WIND,ANGLE,WEIGHT",
        help="trebuchet: the shot, m/s, degrees, lb (default: -2,45,200; write a negative "
        "wind as --shot=-2,45,200)",
    )
    p.add_argument("--target", type=float, default=None, help="trebuchet: target distance, m")
    p.add_argument("--wind", type=float, default=None, help="aiming network: wind, m/s")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="gif or mp4 (mp4 needs ffmpeg; default: from --out's suffix, else gif)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="file to write (default: RUN_DIR/animation.gif or runs/ENV.gif)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = animate(
        args.source,
        args.out,
        format=args.format,
        policy=args.policy,
        steps=args.steps,
        seed=args.seed,
        fps=args.fps,
        shot=args.shot,
        target=args.target,
        wind=args.wind,
    )
    print(f"wrote {out}")
    return 0
