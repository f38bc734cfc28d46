"""``diffsim plot``: pictures of what the physics and the controllers do.

``diffsim plot trajectory ENV`` rolls out a named system from its reset distribution with a
simple policy (``zero`` or ``random``); ``diffsim plot trajectory RUN_DIR`` rolls out the
trained policy of a run directory (deterministically) on the system it was trained on.
Either draws the states and actions against time, with the termination marked (CartPole)
and a phase portrait (Pendulum).

``diffsim plot shot --shot WIND,ANGLE,WEIGHT ...`` draws trebuchet shots (m/s, degrees,
lb): the machine at its stage boundaries and the flights; ``diffsim plot shot RUN_DIR
[--target T ...]`` shoots where a trained aiming network aims (default: at 30, 50 and 70 m).

``diffsim plot curves RUN_DIR... | RESULT.json ...`` draws learning curves (evaluation
return against transitions and against training seconds), the median and spread of the
seeds of each method.

Every command prints the path it wrote. The figures come from :mod:`diffsim.scripts.plots`.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

POLICIES = ("zero", "random")
"""The simple policies of ``plot trajectory ENV``: no action, or uniform in the action box."""


@dataclass(frozen=True)
class _System:
    module: ModuleType
    params: Any
    labels: tuple[str, ...]
    action_label: str
    action_scale: float
    limits: Optional[tuple[Optional[float], ...]] = None
    phase: Optional[tuple[int, int]] = None
    angles: tuple[int, ...] = ()
    phase_goal: Optional[str] = None
    default_steps: int = 200
    view_seconds: Optional[float] = None
    """What ``plot trajectory`` shows by default: the first seconds (``None``: the episode)."""
    limit_label: str = "termination threshold"
    action_limit_label: str = "action bound"

    dt_field: str = "dt"
    """The parameters' field holding the time step (CartPole's is ``tau``)."""

    @property
    def dt(self) -> float:
        """The time step, s."""
        return float(getattr(self.params, self.dt_field))


_PENDULUM_LABELS = ("θ from upright (rad)", "θ̇ (rad/s)")

SYSTEM_NAMES = ("cartpole", "pendulum", "pendulum-2019")
"""The systems ``plot trajectory`` and ``animate`` roll out by name (see :func:`systems`)."""


@functools.lru_cache(maxsize=1)
def systems() -> dict[str, _System]:
    """The systems of :data:`SYSTEM_NAMES`, each with its physics module and parameters (built
    on first use: the command line's ``--help`` imports no torch)."""
    from .. import cartpole, pendulum

    swing = _System(
        pendulum,
        pendulum.PendulumParams(),
        _PENDULUM_LABELS,
        "torque (N·m)",
        2.0,
        phase=(0, 1),
        angles=(0,),
        phase_goal="upright at rest",
        action_limit_label="torque bounds (±2 N·m)",
    )
    return {
        "cartpole": _System(
            cartpole,
            cartpole.CartPoleParams(),
            ("x (m)", "ẋ (m/s)", "θ from upright (rad)", "θ̇ (rad/s)"),
            "push (−1…1, ×10 N)",
            1.0,
            limits=(2.4, None, cartpole.CartPoleParams().theta_threshold, None),
            default_steps=500,
            view_seconds=1.0,
            dt_field="tau",
            limit_label="termination threshold (±2.4 m, ±12°)",
            action_limit_label="push bounds (±1 = ±10 N)",
        ),
        "pendulum": swing,
        "pendulum-2019": replace(swing, params=pendulum.PendulumParams.variant_2019()),
    }


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")


def simulate_system(
    name: str, policy: str = "zero", steps: Optional[int] = None, starts: int = 1, seed: int = 0
) -> dict[str, np.ndarray]:
    """Roll out ``starts`` initial states of a named system under a simple policy.

    Args:
        name: One of :data:`SYSTEM_NAMES`.
        policy: ``"zero"`` (no force or torque) or ``"random"`` (uniform in the action box).
        steps: Steps to simulate (default: the env's time limit).
        starts: Initial states, drawn from the system's reset distribution.
        seed: Seeds the initial states and the random policy.

    Returns:
        times ``[T+1]`` (s), states ``[T+1, K, n]``, actions ``[T, K]`` and ``ended_at``
        (per start, the index of the terminating state, or -1).
    """
    import torch

    from .._validation import check_choice

    check_choice("system", name, SYSTEM_NAMES)
    check_choice("policy", policy, POLICIES)
    spec = systems()[name]
    steps = spec.default_steps if steps is None else steps
    _check_positive(steps=steps, starts=starts)
    g = torch.Generator().manual_seed(seed)
    state = spec.module.sample_initial(starts, generator=g, dtype=torch.float64)
    states, actions = [state], []
    ended = torch.full((starts,), -1)
    for t in range(steps):
        if policy == "zero":
            a = torch.zeros(starts, dtype=torch.float64)
        else:
            a = (torch.rand(starts, generator=g, dtype=torch.float64) * 2 - 1) * spec.action_scale
        state = spec.module.step(state, a, spec.params)
        states.append(state)
        actions.append(a)
        done = spec.module.terminated(state, spec.params) & (ended < 0)
        ended = torch.where(done, torch.tensor(t + 1), ended)
    return {
        "times": np.arange(steps + 1) * spec.dt,
        "states": torch.stack(states).numpy(),
        "actions": torch.stack(actions).numpy(),
        "ended_at": ended.numpy(),
    }


def _load_agent(run_dir: Path) -> Any:
    """The policy of a run directory; a missing directory is a FileNotFoundError."""
    from diffsim.controllers import load_policy

    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    return load_policy(run_dir)


def _is_trebuchet(env_id: str) -> bool:
    return "Trebuchet" in env_id


def simulate_run(
    run_dir: Path, steps: Optional[int] = None, starts: int = 1, seed: int = 0
) -> tuple[str, dict[str, np.ndarray]]:
    """Roll out the trained policy of ``run_dir`` (deterministic); returns (system, data).

    The data are as :func:`simulate_system`'s, ``seed`` seeding the initial states.
    """
    import torch

    from diffsim import cartpole
    from diffsim.envs.rollout import get_task, rollout

    agent = _load_agent(Path(run_dir))
    if _is_trebuchet(agent.env_id):
        raise ValueError(
            f"{run_dir} holds a trebuchet aiming network, which has no trajectory in time: "
            f"draw its shots with `diffsim plot shot {run_dir} [--target METRES]`"
        )
    task = get_task(agent.env_id)
    name = {"diffsim/Pendulum2019-v1": "pendulum-2019"}.get(
        task.env_id, "cartpole" if task.system is cartpole else "pendulum"
    )
    steps = task.max_episode_steps if steps is None else steps
    _check_positive(steps=steps, starts=starts)
    with torch.no_grad():
        out = rollout(agent.policy.deterministic, task, horizon=steps, batch_size=starts, seed=seed)
    ended = torch.where(
        out.terminated.any(0), out.terminated.float().argmax(0) + 1, torch.tensor(-1)
    )
    return name, {
        "times": np.arange(steps + 1) * task.dt,
        "states": out.states.double().numpy(),
        "actions": out.actions.double().numpy(),
        "ended_at": ended.numpy(),
    }


def rollout_data(
    target: Union[str, Path],
    policy: Optional[str] = None,
    steps: Optional[int] = None,
    starts: int = 1,
    seed: int = 0,
) -> tuple[str, str, dict[str, np.ndarray]]:
    """Roll out a named system (with a simple policy) or a run directory's trained policy.

    Returns:
        ``(system name, description of the policy, data)`` with the data of
        :func:`simulate_system`.
    """
    path = Path(target)
    if path.is_dir():
        if policy is not None:
            raise ValueError(
                f"--policy {policy} applies to a named system; {target} is a run directory, "
                "whose trained policy is rolled out"
            )
        name, data = simulate_run(path, steps, starts, seed)
        return name, f"trained policy of {path.name}", data
    if "/" in str(target) or "\\" in str(target):
        raise FileNotFoundError(f"run directory {target} does not exist")
    policy = "zero" if policy is None else policy
    return (
        str(target),
        f"{policy} policy",
        simulate_system(str(target), policy, steps, starts, seed),
    )


def _window(
    data: dict[str, np.ndarray], steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Optional[int]]]:
    """The first ``steps`` steps of a rollout: times, states, actions and the terminations
    inside them (``None`` for a rollout that had not terminated by then)."""
    ended = [int(e) if 0 <= e <= steps else None for e in data["ended_at"]]
    return data["times"][: steps + 1], data["states"][: steps + 1], data["actions"][:steps], ended


def _run_label(k: int, spec: _System, data: dict[str, np.ndarray]) -> str:
    """A rollout's legend entry: how its episode ended (CartPole) or where it began."""
    label = f"start {k + 1}"
    end, duration = int(data["ended_at"][k]), float(data["times"][-1])
    if spec.limits is not None:
        if end >= 0:
            return f"{label}: terminated at {float(data['times'][end]):.2f} s"
        return f"{label}: not terminated in {duration:g} s"
    if spec.angles:
        i = spec.angles[0]
        theta = float((data["states"][0, k, i] + math.pi) % (2 * math.pi) - math.pi)
        return f"{label}: from θ = {theta:+.2f} rad"
    return label


def trajectory(
    target: Union[str, Path],
    policy: Optional[str] = None,
    steps: Optional[int] = None,
    starts: int = 1,
    seed: int = 0,
    full: bool = False,
) -> Figure:
    """The trajectory figure of a named system under a simple policy (default ``zero``), or
    of a run directory's trained policy (see :func:`diffsim.scripts.plots.trajectory_figure`).

    By default the whole episode (the env's time limit) is simulated and its first seconds
    drawn: 1 s (50 steps) of CartPole's 10 s, where a bang-bang policy's pushes can still be
    told apart; Pendulum's whole 10 s. The legend says, per start, how its whole episode
    ended (CartPole) or its initial angle (Pendulum); the title says what part is shown.

    Args:
        target: A system name (:data:`SYSTEM_NAMES`) or a run directory.
        policy: ``"zero"`` or ``"random"``, for a named system only.
        steps: Steps to simulate and draw (default: the episode, of which the first
            seconds are drawn).
        starts: Initial states drawn, one colour each.
        seed: Seeds the initial states (and the random policy).
        full: Draw the whole simulated episode, not only its first seconds.

    Raises:
        ValueError: an unknown system or policy, a policy with a run directory, or
            ``steps``/``starts`` below 1.
        FileNotFoundError: a run directory that does not exist.
    """
    from .plots import trajectory_figure

    name, what, data = rollout_data(target, policy, steps, starts, seed)
    spec = systems()[name]
    total = len(data["actions"])
    shown = total
    if steps is None and not full and spec.view_seconds is not None:
        shown = min(total, round(spec.view_seconds / spec.dt))
    times, states, actions, ended = _window(data, shown)
    title = f"{name}, {what}"
    if shown < total:
        title += f": the first {times[-1]:g} s of the {data['times'][-1]:g} s episode"
    return trajectory_figure(
        times,
        states,
        actions,
        spec.labels,
        spec.action_label,
        ended_at=ended,
        limits=spec.limits,
        limit_label=spec.limit_label,
        action_limits=(-spec.action_scale, spec.action_scale),
        action_limit_label=spec.action_limit_label,
        angles=spec.angles,
        phase=spec.phase,
        phase_goal=spec.phase_goal,
        run_labels=[_run_label(k, spec, data) for k in range(starts)],
        title=title,
    )


# --- trebuchet shots -----------------------------------------------------------------------

SHOT_FORMAT = "WIND,ANGLE,WEIGHT (m/s, degrees, lb), e.g. -2,45,200"


def parse_shot(text: str) -> tuple[float, float, float]:
    """``"WIND,ANGLE,WEIGHT"`` → ``(wind m/s, angle degrees, weight lb)``.

    Raises:
        argparse.ArgumentTypeError: not three finite numbers, or a weight ≤ 0.
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected {SHOT_FORMAT}; got {text!r}")
    if values[2] <= 0:
        raise argparse.ArgumentTypeError(f"the counterweight must be positive (lb); got {text!r}")
    return values  # type: ignore[return-value]


def aimed_shot(run_dir: Union[str, Path], wind: float, target: float) -> tuple[float, float, float]:
    """The shot that a trained aiming network (a run directory) chooses for a task.

    Args:
        run_dir: A run directory of ``diffsim train trebuchet``.
        wind: Wind speed, m/s.
        target: Target distance from the pivot, m.

    Returns:
        ``(wind m/s, release angle degrees, counterweight lb)``.
    """
    agent = _load_agent(Path(run_dir))
    if not _is_trebuchet(agent.env_id):
        raise ValueError(
            f"{run_dir} holds a policy for {agent.env_id}, not a trebuchet aiming network; "
            f"draw it with `diffsim plot trajectory {run_dir}`"
        )
    angle, weight = (float(v) for v in agent.act(np.array([wind, target], dtype=np.float32)))
    return float(wind), angle, weight


DEFAULT_TARGETS = (30.0, 50.0, 70.0)
"""Where ``plot shot RUN_DIR`` aims without ``--target``, m: across the trebuchet env's
target range (``TARGET_RANGE``, 20–80 m), at its sixths 1/6, 1/2 and 5/6."""


def _target_list(target: Union[float, Sequence[float], None]) -> list[float]:
    if target is None:
        return []
    if isinstance(target, (int, float)):
        return [float(target)]
    return [float(t) for t in target]


def shot(
    shots: Sequence[Sequence[float]] = (),
    *,
    run_dir: Union[str, Path, None] = None,
    wind: Optional[float] = None,
    target: Union[float, Sequence[float], None] = None,
) -> Figure:
    """The shot figure (:func:`diffsim.scripts.plots.shot_figure`) of given shots and/or of
    the shots an aiming network chooses.

    Args:
        shots: ``(wind m/s, angle degrees, weight lb)`` triples.
        run_dir: A trained aiming network; it aims at each ``target`` in ``wind`` (default
            0 m/s), one shot per target.
        wind: The aiming network's wind, m/s (only with ``run_dir``).
        target: Target distance(s), m, flagged. With ``run_dir``, where the network aims
            (default :data:`DEFAULT_TARGETS`, 30, 50 and 70 m). The misses of ``shots`` are
            given when there is a single target.

    Raises:
        ValueError: no shot at all, ``wind`` without ``run_dir``, several targets without
            ``run_dir``, or a target that is not a positive distance.
    """
    from .plots import shot_figure

    shots = [tuple(s) for s in shots]
    names: list[Optional[str]] = [None] * len(shots)
    targets = _target_list(target)
    bad = [t for t in targets if not (math.isfinite(t) and t > 0)]
    if bad:
        raise ValueError(f"--target must be a positive distance in m, got {bad[0]:g}")
    title = "trebuchet shots"
    if run_dir is not None:
        aims = targets or list(DEFAULT_TARGETS)
        w = 0.0 if wind is None else float(wind)
        common = aims[0] if len(aims) == 1 else None
        per_shot: list[Optional[float]] = [common] * len(shots)
        for aim in aims:
            shots.append(aimed_shot(run_dir, w, aim))
            names.append(f"network at {aim:g} m")
            per_shot.append(aim)
        title = f"trebuchet: the aiming network of {Path(run_dir).name}, wind {w:+g} m/s"
    elif wind is not None:
        raise ValueError(
            "--wind applies to an aiming network's shot (give RUN_DIR); a --shot carries "
            "its own wind"
        )
    elif len(targets) > 1:
        raise ValueError(
            f"--target {', '.join(f'{t:g}' for t in targets)}: several targets apply to an "
            "aiming network (give RUN_DIR), which aims at each; a --shot is measured against "
            "a single target"
        )
    else:
        per_shot = [targets[0] if targets else None] * len(shots)
    if not shots:
        raise ValueError(f"give at least one --shot {SHOT_FORMAT}, or an aiming RUN_DIR")
    return shot_figure(shots, targets=per_shot, names=names, title=title)


# --- learning curves -----------------------------------------------------------------------


@dataclass
class CurveSet:
    """Learning curves gathered from run directories and comparison result files.

    Attributes:
        curves: Per method label, one curve per seed (``transitions``, ``train_seconds``,
            ``eval_return_mean``), as :func:`diffsim.scripts.plots.curves_figure` takes.
        env_id: The environment they share (``None`` if no source said).
        solved_return: The environment's solved return, if it has one.
        eval_episodes: Episodes per evaluation, if every source says the same.
    """

    curves: dict[str, list[dict[str, list[float]]]] = field(default_factory=dict)
    env_id: Optional[str] = None
    solved_return: Optional[float] = None
    eval_episodes: Optional[int] = None


def _run_curve(run_dir: Path) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """``(config, curve)`` of a run directory (its ``config.json`` may be missing)."""
    from diffsim.controllers.checkpoint import read_json, read_metrics

    from .plots import _CURVE_KEYS

    rows = read_metrics(run_dir / "metrics.csv")
    missing = [k for k in _CURVE_KEYS if k not in rows[0]]
    if missing:
        raise ValueError(
            f"{run_dir / 'metrics.csv'} lacks the columns {missing} (it has {sorted(rows[0])})"
        )
    curve = {k: [row[k] for row in rows] for k in _CURVE_KEYS}
    config = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    return config, curve


def load_curves(paths: Sequence[Union[str, Path]]) -> CurveSet:
    """Gather learning curves from run directories and/or comparison results.

    Args:
        paths: Run directories (``metrics.csv``, ``config.json``), their ``metrics.csv``,
            comparison directories or their ``results.json``. Run directories of one method
            become the seeds of that method; a comparison adds each of its methods. A method
            name met in two comparisons is told apart by the comparison's folder name.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: a path is neither kind, a metrics file is empty, or the sources are of
            different environments.
    """
    from diffsim.controllers.compare import load_result

    if not paths:
        raise ValueError("give at least one run directory or comparison result file")
    sources: list[tuple[str, str, Optional[str], Optional[int], dict[str, list[float]]]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        if path.is_file() and path.name == "metrics.csv":
            path = path.parent
        if path.is_dir() and (path / "metrics.csv").exists():
            config, curve = _run_curve(path)
            method = str(config.get("method", path.name))
            env_id = config.get("env_id")
            sources.append((method, "", env_id, config.get("eval_episodes"), curve))
        elif path.suffix == ".json" or (path / "results.json").is_file():
            result = load_result(path)
            tag = (path.parent if path.is_file() else path).name
            for cell in result["cells"]:
                sources.append(
                    (
                        cell["method"],
                        tag,
                        result["env_id"],
                        result.get("eval_episodes"),
                        cell["curve"],
                    )
                )
        else:
            raise ValueError(
                f"{path} is neither a run directory (with metrics.csv) nor a comparison "
                "(a results.json, or a directory holding one)"
            )
    envs = sorted({s[2] for s in sources if s[2] is not None})
    if len(envs) > 1:
        raise ValueError(
            f"the curves are of different environments ({', '.join(envs)}), whose returns "
            "do not share an axis; plot each environment separately"
        )
    tags_of: dict[str, set[str]] = {}
    for method, tag, *_ in sources:
        tags_of.setdefault(method, set()).add(tag)
    out = CurveSet(env_id=envs[0] if envs else None)
    for method, tag, _, _, curve in sources:
        label = f"{method} ({tag})" if len(tags_of[method]) > 1 and tag else method
        out.curves.setdefault(label, []).append(curve)
    episodes = {s[3] for s in sources}
    if len(episodes) == 1 and None not in episodes:
        out.eval_episodes = int(next(iter(episodes)))
    if out.env_id is not None:
        out.solved_return = _solved_return(out.env_id)
    return out


def _solved_return(env_id: str) -> Optional[float]:
    """The solved return of an environment of this project (``None`` where it has none)."""
    from diffsim.envs.rollout import get_task

    try:
        value = get_task(env_id).solved_return
    except (ValueError, KeyError):
        return None
    return value if math.isfinite(value) else None


def curves(
    paths: Sequence[Union[str, Path]],
    *,
    band: str = "range",
    solved_return: Optional[float] = None,
    title: Optional[str] = None,
) -> Figure:
    """The learning-curve figure (:func:`diffsim.scripts.plots.curves_figure`) of run
    directories and/or comparison results (see :func:`load_curves`).

    Args:
        paths: Run directories, ``metrics.csv`` files, comparison directories or
            ``results.json`` files.
        band: ``"range"``, ``"iqr"`` or ``"none"`` (see ``curves_figure``).
        solved_return: The dashed "solved" line (default: the environment's).
        title: Figure title (default: the environment and what the band shows).
    """
    from .plots import curves_figure

    data = load_curves(paths)
    solved = data.solved_return if solved_return is None else solved_return
    if title is None:
        seeds = max(len(v) for v in data.curves.values())
        spread = {"range": "range", "iqr": "interquartile range", "none": ""}.get(band, band)
        title = data.env_id or "learning curves"
        if seeds > 1 and spread:
            title += f": median and {spread} over seeds"
    episodes = f"{data.eval_episodes}-episode mean" if data.eval_episodes else "mean"
    return curves_figure(
        data.curves,
        solved_return=solved,
        title=title,
        band=band,
        ylabel=f"evaluation return ({episodes})",
    )


# --- the command line ----------------------------------------------------------------------


def _add_output(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--out", type=Path, default=None, help=f"PNG to write (default: {default})")
    p.add_argument("--dpi", type=int, default=110, help="resolution of the PNG (default: 110)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot",
        help="draw trajectories, trebuchet shots and learning curves",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    t = kinds.add_parser("trajectory", help="states and actions against time")
    t.add_argument(
        "target",
        metavar="ENV|RUN_DIR",
        help=f"a system ({', '.join(SYSTEM_NAMES)}) or a run directory",
    )
    t.add_argument(
        "--policy",
        choices=POLICIES,
        default=None,
        help="for a named system: zero or random actions (default: zero)",
    )
    t.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps to simulate and draw (default: the env's time limit, of which CartPole's "
        "first 1 s, 50 steps, is drawn; Pendulum's whole 10 s)",
    )
    t.add_argument(
        "--full",
        action="store_true",
        help="draw the whole episode (CartPole's 10 s), not only its first second",
    )
    t.add_argument("--starts", type=int, default=1, help="initial states drawn (default: 1)")
    t.add_argument("--seed", type=int, default=0, help="seed of the initial states (default: 0)")
    _add_output(t, "RUN_DIR/trajectory.png or runs/ENV_trajectory.png")
    t.set_defaults(func=run_trajectory)

    s = kinds.add_parser(
        "shot", help="trebuchet shots: the machine at its stage boundaries and the flights"
    )
    s.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        nargs="?",
        default=None,
        help="a trained aiming network (diffsim train trebuchet): add its shot at --target",
    )
    s.add_argument(
        "--shot",
        type=parse_shot,
        action="append",
        default=[],
        metavar="WIND,ANGLE,WEIGHT",
        help=f"a shot to draw, {SHOT_FORMAT}; repeat for several; write a negative wind "
        "as --shot=-2,45,200",
    )
    s.add_argument(
        "--target",
        type=float,
        action="append",
        default=None,
        metavar="METRES",
        help="target distance, m, flagged; RUN_DIR's network aims at each (repeat for several; "
        f"default: {', '.join(f'{t:g}' for t in DEFAULT_TARGETS[:-1])} and "
        f"{DEFAULT_TARGETS[-1]:g} m, across the env's 20–80 m target range); with --shot "
        "alone, one target, against which the misses are given",
    )
    s.add_argument(
        "--wind", type=float, default=None, help="wind for the aiming network, m/s (default 0)"
    )
    _add_output(s, "RUN_DIR/shot.png or runs/shot.png")
    s.set_defaults(func=run_shot)

    c = kinds.add_parser("curves", help="learning curves of runs or comparisons")
    c.add_argument(
        "paths",
        metavar="RUN_DIR|RESULT",
        nargs="+",
        help="run directories (metrics.csv) and/or comparison results (results.json or its "
        "directory); run directories of one method are its seeds",
    )
    c.add_argument(
        "--band",
        choices=("range", "iqr", "none"),
        default="range",
        help="spread drawn around the median of several seeds (default: range, min to max)",
    )
    c.add_argument(
        "--solved",
        type=float,
        default=None,
        help="return drawn as the 'solved' line (default: the environment's)",
    )
    _add_output(c, "RUN_DIR/curves.png for one run directory, else runs/curves.png")
    c.set_defaults(func=run_curves)


def _save(fig: Figure, out: Path, dpi: int) -> int:
    from .plots import save_figure

    if dpi < 10:
        raise ValueError(f"--dpi must be at least 10, got {dpi}")
    save_figure(fig, out, dpi)
    print(f"wrote {out}")
    return 0


def run_trajectory(args: argparse.Namespace) -> int:
    fig = trajectory(args.target, args.policy, args.steps, args.starts, args.seed, args.full)
    out = args.out or (
        Path(args.target) / "trajectory.png"
        if Path(args.target).is_dir()
        else Path("runs") / f"{args.target}_trajectory.png"
    )
    return _save(fig, out, args.dpi)


def run_shot(args: argparse.Namespace) -> int:
    fig = shot(args.shot, run_dir=args.run_dir, wind=args.wind, target=args.target)
    out = args.out or (Path(args.run_dir) if args.run_dir else Path("runs")) / "shot.png"
    return _save(fig, out, args.dpi)


def run_curves(args: argparse.Namespace) -> int:
    fig = curves(args.paths, band=args.band, solved_return=args.solved)
    one = len(args.paths) == 1 and (Path(args.paths[0]) / "metrics.csv").is_file()
    out = args.out or (Path(args.paths[0]) if one else Path("runs")) / "curves.png"
    return _save(fig, out, args.dpi)
