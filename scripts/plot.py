"""``diffsim plot``: pictures of what the physics and the controllers do.

``diffsim plot trajectory ENV`` rolls out a registered task (its short name, e.g.
``cartpole``) from its reset distribution with a simple policy (``zero`` or ``random``);
``diffsim plot trajectory RUN_DIR`` rolls out the trained policy of a run directory
(deterministically) on the task it was trained on. Either draws the states and actions
against time, with the termination limits marked and, for a two-entry state, a phase
portrait. What is drawn is read from the system's description
(:class:`diffsim.systems.System`), so a newly registered system is drawn as the built-in ones.

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
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from .. import systems as registry

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from diffsim.systems import System, TaskSpec

POLICIES = ("zero", "random")
"""The simple policies of ``plot trajectory ENV``: no action (0), or uniform random actions
(in the action box :attr:`System.action_bounds`; among :attr:`System.discrete_actions` for a
discrete-action task)."""
DEFAULT_STEPS = 200
"""Steps simulated by default for a task without a time limit."""
DISCRETE_VIEW_STEPS = 50
"""How many steps of a discrete-action task's episode ``plot trajectory`` draws by default
(CartPole: the first 1 s of 10 s), where the pushes of a bang-bang policy, one decision per
step, can still be told apart; other tasks are drawn whole."""
TREBUCHET = "trebuchet"
"""The trebuchet's system name: a one-shot task without a trajectory in time (``plot shot``)."""

PROBE_RANGE = (1e-6, 1e6)
"""The magnitudes, in each state entry's unit, searched for a termination limit
(:func:`termination_limits`)."""
PROBE_POINTS = 1201
"""Points of the geometric grid over :data:`PROBE_RANGE`."""
PROBE_BISECTIONS = 64
"""Bisection steps refining a grid crossing to the last non-terminating value (to float64
resolution)."""


def task_names() -> tuple[str, ...]:
    """The names ``plot trajectory`` and ``animate`` roll out: the short names of the tasks of
    the registered stepping systems (those with a :class:`~diffsim.systems.System`; not the
    trebuchet, whose one-shot task has ``plot shot``), in registration order.

    Reads only :mod:`diffsim.systems` (standard library): no physics or torch is imported.
    """
    stepping = set(registry.system_names())
    return tuple(t.short_name for t in registry.task_specs().values() if t.system in stepping)


def __getattr__(name: str) -> Any:
    # SYSTEM_NAMES is computed on each access, so that it follows the registry.
    if name == "SYSTEM_NAMES":
        return task_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SYSTEM_NAMES: tuple[str, ...]
"""The names ``plot trajectory`` and ``animate`` roll out: :func:`task_names`, read from the
registry on each access (kept for compatibility)."""


# --- what a trajectory draws, from the System ---------------------------------------------

_GREEK = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "epsilon": "ε",
    "eta": "η",
    "theta": "θ",
    "kappa": "κ",
    "lambda": "λ",
    "mu": "μ",
    "nu": "ν",
    "xi": "ξ",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "phi": "φ",
    "chi": "χ",
    "psi": "ψ",
    "omega": "ω",
}
_DERIVATIVES = (("_ddot", "\u0308", 2), ("_dot", "\u0307", 1))


def state_symbol(name: str) -> str:
    """The symbol of a state entry named as the physics modules name them.

    A Greek letter's name becomes the letter (``theta`` → ``θ``); a ``_dot`` (``_ddot``)
    suffix is a time derivative, a dot (two dots) over a one-letter symbol (``x_dot`` → ``ẋ``,
    ``theta_dot`` → ``θ̇``) and ``d…/dt`` over a longer one (``pos_dot`` → ``dpos/dt``).
    """
    order, mark = 0, ""
    for suffix, dots, k in _DERIVATIVES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name, order, mark = name[: -len(suffix)], k, dots
            break
    base = _GREEK.get(name, name)
    if order == 0:
        return base
    if len(base) == 1:
        return unicodedata.normalize("NFC", base + mark)
    return f"d{base}/dt" if order == 1 else f"d²{base}/dt²"


def state_labels(system: System) -> tuple[str, ...]:
    """Axis labels ``"symbol (unit)"`` of the state entries (:func:`state_symbol`)."""
    return tuple(
        f"{state_symbol(n)} ({u})" if u else state_symbol(n)
        for n, u in zip(system.state_names, system.state_units)
    )


Limit = Optional[tuple[Optional[float], Optional[float]]]
"""Per state entry, ``(low, high)``: the last values, below and above 0, at which the system
does not terminate (None on a side without a limit); None for an entry without either."""


def termination_limits(system: System, params: Any = None) -> tuple[Limit, ...]:
    """Where the system's termination depends on each state entry alone.

    From the zero state, each entry is moved alone away from 0, both ways, over the
    magnitudes of :data:`PROBE_RANGE` (a geometric grid of :data:`PROBE_POINTS`, in the
    entry's unit); the first value at which ``system.terminated`` is true is refined by
    bisection to the last value at which it is not (float64). CartPole gives
    ``(±x_threshold, None, ±theta_threshold, None)``; a system that never terminates (the
    pendulum), all None, as does one whose zero state already terminates. A termination that
    depends on entries only jointly, or only beyond the first limit found, is not seen.

    Args:
        system: The description (its ``terminated`` is called on float64 NumPy states).
        params: Its parameters (the defaults if None).

    Returns:
        One :data:`Limit` per state entry.
    """
    params = system.default_params if params is None else params
    n = system.state_size

    def terminates(magnitudes: np.ndarray) -> np.ndarray:
        """``[2n, k]`` magnitudes → bool ``[2n, k]``: row ``2i`` moves entry ``i`` up, ``2i+1``
        down, from the zero state."""
        rows, k = magnitudes.shape
        states = np.zeros((rows, k, n))
        entry = np.repeat(np.arange(n), 2)
        sign = np.tile([1.0, -1.0], n)
        states[np.arange(rows)[:, None], np.arange(k)[None, :], entry[:, None]] = (
            sign[:, None] * magnitudes
        )
        return np.broadcast_to(np.asarray(system.terminated(states, params), dtype=bool), (rows, k))

    if bool(np.asarray(system.terminated(np.zeros((1, n)), params), dtype=bool).any()):
        return (None,) * n
    grid = np.geomspace(*PROBE_RANGE, PROBE_POINTS)
    hit = terminates(np.broadcast_to(grid, (2 * n, len(grid))))
    found = hit.any(1)
    first = hit.argmax(1)
    hi = grid[first]
    lo = np.where(first > 0, grid[np.maximum(first - 1, 0)], 0.0)
    for _ in range(PROBE_BISECTIONS):
        mid = 0.5 * (lo + hi)
        ends = terminates(mid[:, None])[:, 0]
        hi, lo = np.where(ends, mid, hi), np.where(ends, lo, mid)
    limits: list[Limit] = []
    for i in range(n):
        up = float(lo[2 * i]) if found[2 * i] else None
        down = -float(lo[2 * i + 1]) if found[2 * i + 1] else None
        limits.append(None if up is None and down is None else (down, up))
    return tuple(limits)


def _amount(value: float, unit: str) -> str:
    """``2.4 m``; an angle in degrees (``12°``)."""
    if unit == "rad":
        return f"{math.degrees(value):.4g}°"
    return f"{value:.4g} {unit}" if unit else f"{value:.4g}"


def _range_text(low: Optional[float], high: Optional[float], unit: str) -> str:
    """``±2.4 m`` (symmetric), ``-1 … 3 m``, ``≤ 3 m`` or ``≥ -1 m``."""
    if low is not None and high is not None:
        if math.isclose(-low, high, rel_tol=1e-9):
            return f"±{_amount(high, unit)}"
        if unit == "rad":
            return f"{_amount(low, unit)} … {_amount(high, unit)}"
        return f"{low:.4g} … {_amount(high, unit)}"
    return f"≤ {_amount(high, unit)}" if high is not None else f"≥ {_amount(low, unit)}"  # type: ignore[arg-type]


def _short_action_unit(system: System) -> str:
    """The action's unit without its parenthesised explanation (``"push in [-1, 1]"``)."""
    return system.action_unit.split(" (")[0].strip()


@dataclass(frozen=True)
class SystemView:
    """What ``plot trajectory`` and ``animate`` draw of one task, derived from its System.

    Attributes:
        task: The task (:class:`diffsim.systems.TaskSpec`).
        system: Its system's description.
        params: The task's parameters (:func:`diffsim.systems.task_params`).
        labels: Per state entry, ``"symbol (unit)"`` (:func:`state_labels`).
        action_label: ``"action (unit)"``, the unit from :attr:`System.action_unit`.
        action_bounds: :attr:`System.action_bounds` under ``params``, the dotted lines.
        limits: :func:`termination_limits`, the dashed lines (None where the system never
            terminates on any entry alone).
        angles: The entries drawn wrapped to [−π, π): those in ``rad`` that the termination
            does not bound (a bounded angle, CartPole's θ, stays inside its limits).
        phase: ``(0, 1)`` for a two-entry state (a coordinate and its rate): the phase
            portrait; None otherwise.
        phase_goal: The phase portrait's starred origin (``"θ = θ̇ = 0"``).
        default_steps: Steps simulated by default: the time limit (:data:`DEFAULT_STEPS`
            without one).
        view_steps: Steps drawn by default: :data:`DISCRETE_VIEW_STEPS` for a
            discrete-action task, None (all) otherwise.
        limit_label, action_limit_label: The legend entries of the dashed and dotted lines.
    """

    task: TaskSpec
    system: System
    params: Any
    labels: tuple[str, ...]
    action_label: str
    action_bounds: tuple[float, float]
    limits: Optional[tuple[Limit, ...]]
    angles: tuple[int, ...]
    phase: Optional[tuple[int, int]]
    phase_goal: Optional[str]
    default_steps: int
    view_steps: Optional[int]
    limit_label: str
    action_limit_label: str

    @property
    def name(self) -> str:
        """The task's short name."""
        return self.task.short_name

    @property
    def dt(self) -> float:
        """The time step, s."""
        return self.system.dt(self.params)


def system_view(name: str) -> SystemView:
    """The :class:`SystemView` of a task of a registered stepping system.

    Args:
        name: One of :func:`task_names`.

    Raises:
        ValueError: for any other name (the message lists the valid ones).
    """
    from .._validation import check_choice

    check_choice("system", name, task_names())
    task = registry.get_task_spec(name)
    system = registry.get_system(task.system)
    params = registry.task_params(task)
    found = termination_limits(system, params)
    limits = found if any(v is not None for v in found) else None
    units = system.state_units
    angles = tuple(i for i, u in enumerate(units) if u == "rad" and found[i] is None)
    symbols = [state_symbol(s) for s in system.state_names]
    low, high = (float(v) for v in system.action_bounds(params))
    unit = _short_action_unit(system)
    bounds = _range_text(low, high, unit if unit and " " not in unit else "")
    limit_parts = [_range_text(*v, units[i]) for i, v in enumerate(found) if v is not None]
    return SystemView(
        task=task,
        system=system,
        params=params,
        labels=state_labels(system),
        action_label=f"action ({unit})" if unit else "action",
        action_bounds=(low, high),
        limits=limits,
        angles=angles,
        phase=(0, 1) if system.state_size == 2 else None,
        phase_goal=f"{symbols[0]} = {symbols[1]} = 0" if system.state_size == 2 else None,
        default_steps=task.max_episode_steps or DEFAULT_STEPS,
        view_steps=DISCRETE_VIEW_STEPS if task.discrete else None,
        limit_label="termination threshold"
        + (f" ({', '.join(limit_parts)})" if limit_parts else ""),
        action_limit_label=f"action bounds ({bounds})",
    )


def systems() -> dict[str, SystemView]:
    """The :class:`SystemView` of every name of :func:`task_names` (built on each call, from
    the registry as it is then; loads every registered system's physics)."""
    return {name: system_view(name) for name in task_names()}


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")


def simulate_system(
    name: str, policy: str = "zero", steps: Optional[int] = None, starts: int = 1, seed: int = 0
) -> dict[str, np.ndarray]:
    """Roll out ``starts`` initial states of a named task under a simple policy.

    The system's checked step (:attr:`System.step`) under the task's parameters, in float64.

    Args:
        name: One of :func:`task_names`.
        policy: ``"zero"`` (action 0) or ``"random"`` (uniform in the action box; uniform
            among the discrete actions for a discrete-action task).
        steps: Steps to simulate (default: the task's time limit).
        starts: Initial states, drawn from the system's reset distribution.
        seed: Seeds the initial states and the random policy.

    Returns:
        times ``[T+1]`` (s), states ``[T+1, K, n]``, actions ``[T, K]`` and ``ended_at``
        (per start, the index of the first terminating state, or -1).

    Raises:
        ValueError: an unknown name or policy, or ``steps``/``starts`` below 1.
    """
    import torch

    from .._validation import check_choice

    view = system_view(name)
    check_choice("policy", policy, POLICIES)
    system, params = view.system, view.params
    steps = view.default_steps if steps is None else steps
    _check_positive(steps=steps, starts=starts)
    g = torch.Generator().manual_seed(seed)
    state = torch.as_tensor(
        system.sample_initial(starts, generator=g, dtype=torch.float64), dtype=torch.float64
    )
    choices = torch.tensor(system.discrete_actions, dtype=torch.float64)
    low, high = view.action_bounds
    states, actions = [state], []
    ended = torch.full((starts,), -1)
    for t in range(steps):
        if policy == "zero":
            a = torch.zeros(starts, dtype=torch.float64)
        elif view.task.discrete:
            a = choices[torch.randint(len(choices), (starts,), generator=g)]
        else:
            a = low + (high - low) * torch.rand(starts, generator=g, dtype=torch.float64)
        state = system.step(state, a, params)
        states.append(state)
        actions.append(a)
        done = torch.as_tensor(system.terminated(state, params)) & (ended < 0)
        ended = torch.where(done, torch.tensor(t + 1), ended)
    return {
        "times": np.arange(steps + 1) * view.dt,
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
    """Whether ``env_id`` is a task of the trebuchet (its registered system name)."""
    try:
        return registry.get_task_spec(env_id).system == TREBUCHET
    except ValueError:
        return "Trebuchet" in env_id


def simulate_run(
    run_dir: Path, steps: Optional[int] = None, starts: int = 1, seed: int = 0
) -> tuple[str, dict[str, np.ndarray]]:
    """Roll out the trained policy of ``run_dir`` (deterministic) on its task with
    :func:`diffsim.envs.rollout.rollout`; returns ``(task short name, data)``.

    The data are as :func:`simulate_system`'s, ``seed`` seeding the initial states.

    Raises:
        ValueError: the run's task is not one of a stepping system (the trebuchet's aiming
            network: drawn by ``plot shot``), or ``steps``/``starts`` below 1.
    """
    import torch

    from diffsim.envs.rollout import rollout

    agent = _load_agent(Path(run_dir))
    if _is_trebuchet(agent.env_id):
        raise ValueError(
            f"{run_dir} holds a trebuchet aiming network, which has no trajectory in time: "
            f"draw its shots with `diffsim plot shot {run_dir} [--target METRES]`"
        )
    task = registry.get_task_spec(agent.env_id)
    if task.short_name not in task_names():
        raise ValueError(
            f"{run_dir} holds a policy for {agent.env_id}, whose system {task.system!r} is not "
            f"a registered stepping system (one of: {', '.join(registry.system_names())})"
        )
    view = system_view(task.short_name)
    steps = view.default_steps if steps is None else steps
    _check_positive(steps=steps, starts=starts)
    with torch.no_grad():
        out = rollout(
            agent.policy.deterministic, task.env_id, horizon=steps, batch_size=starts, seed=seed
        )
    ended = torch.where(
        out.terminated.any(0), out.terminated.float().argmax(0) + 1, torch.tensor(-1)
    )
    return task.short_name, {
        "times": np.arange(steps + 1) * view.dt,
        "states": out.states.double().numpy(),
        "actions": out.actions.double().reshape(steps, starts).numpy(),
        "ended_at": ended.numpy(),
    }


def rollout_data(
    target: Union[str, Path],
    policy: Optional[str] = None,
    steps: Optional[int] = None,
    starts: int = 1,
    seed: int = 0,
) -> tuple[str, str, dict[str, np.ndarray]]:
    """Roll out a named task (with a simple policy) or a run directory's trained policy.

    Returns:
        ``(task short name, description of the policy, data)`` with the data of
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


def _run_label(k: int, view: SystemView, data: dict[str, np.ndarray]) -> str:
    """A rollout's legend entry: how its episode ended (a system that terminates) or the
    angle it began at (one with a wrapped angle)."""
    label = f"start {k + 1}"
    end, duration = int(data["ended_at"][k]), float(data["times"][-1])
    if view.limits is not None:
        if end >= 0:
            return f"{label}: terminated at {float(data['times'][end]):.2f} s"
        return f"{label}: not terminated in {duration:g} s"
    if view.angles:
        i = view.angles[0]
        theta = float((data["states"][0, k, i] + math.pi) % (2 * math.pi) - math.pi)
        return f"{label}: from {state_symbol(view.system.state_names[i])} = {theta:+.2f} rad"
    return label


def trajectory(
    target: Union[str, Path],
    policy: Optional[str] = None,
    steps: Optional[int] = None,
    starts: int = 1,
    seed: int = 0,
    full: bool = False,
) -> Figure:
    """The trajectory figure of a named task under a simple policy (default ``zero``), or
    of a run directory's trained policy (see :func:`diffsim.scripts.plots.trajectory_figure`).

    What is drawn comes from the task's :class:`SystemView`. By default the whole episode
    (the task's time limit) is simulated; of a discrete-action task its first
    :data:`DISCRETE_VIEW_STEPS` steps are drawn (CartPole's first 1 s of 10 s, where a
    bang-bang policy's pushes can still be told apart), of others all of it. The legend says,
    per start, how its whole episode ended (a system that terminates) or its initial angle;
    the title says what part is shown.

    Args:
        target: A task name (:func:`task_names`) or a run directory.
        policy: ``"zero"`` or ``"random"``, for a named task only.
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
    view = system_view(name)
    total = len(data["actions"])
    shown = total
    if steps is None and not full and view.view_steps is not None:
        shown = min(total, view.view_steps)
    times, states, actions, ended = _window(data, shown)
    title = f"{name}, {what}"
    if shown < total:
        title += f": the first {times[-1]:g} s of the {data['times'][-1]:g} s episode"
    return trajectory_figure(
        times,
        states,
        actions,
        view.labels,
        view.action_label,
        ended_at=ended,
        limits=view.limits,
        limit_label=view.limit_label,
        action_limits=view.action_bounds,
        action_limit_label=view.action_limit_label,
        angles=view.angles,
        phase=view.phase,
        phase_goal=view.phase_goal,
        run_labels=[_run_label(k, view, data) for k in range(starts)],
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
    """The solved return of a registered task (``None`` where it has none or is unknown)."""
    try:
        value = registry.get_task_spec(env_id).solved_return
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


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
        help=f"a system's task ({', '.join(task_names())}) or a run directory",
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
        help="steps to simulate and draw (default: the env's time limit; of a discrete-action "
        f"task its first {DISCRETE_VIEW_STEPS} steps are drawn, CartPole's first 1 s; of "
        "others all, Pendulum's 10 s)",
    )
    t.add_argument(
        "--full",
        action="store_true",
        help="draw the whole episode (CartPole's 10 s), not only its first steps",
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
