"""Figures, as a Python API: each function returns a ``matplotlib.figure.Figure``.

The command line (``diffsim plot ...``) saves these figures; a notebook user calls the same
functions. Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, so no
GUI backend is needed and nothing global changes); matplotlib is imported on first use.

- :func:`trajectory_figure`: states and actions against time, termination marked, an
  optional phase portrait (``diffsim plot trajectory``).
- :func:`shot_figure`: trebuchet shots, the machine at its stage boundaries and the flight
  paths (``diffsim plot shot``).
- :func:`curves_figure`: learning curves against transitions and training seconds
  (``diffsim plot curves``, ``diffsim compare``, ``scripts/report.py``).
- :func:`gradient_health_figure`: the policy gradient's health against the horizon, one
  line per task (``diffsim grads``, ``scripts/bench_grads.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

    from diffsim.trebuchet import TrebuchetParams

BANDS = ("range", "iqr", "none")
"""What the band around a median learning curve shows: min–max, 25–75 %, or nothing."""


# --- trajectories --------------------------------------------------------------------------


def _wrap_angle(values: np.ndarray) -> np.ndarray:
    """Angles wrapped to [−π, π) rad."""
    return (values + math.pi) % (2 * math.pi) - math.pi


def _break_jumps(x: np.ndarray, y: np.ndarray, wrapped: np.ndarray) -> tuple[np.ndarray, ...]:
    """``x`` and ``y`` with a NaN inserted wherever ``wrapped`` jumps by more than π, so that a
    wrapped angle is drawn without a line across the axes."""
    cut = np.flatnonzero(np.abs(np.diff(wrapped)) > math.pi) + 1
    return np.insert(x, cut, np.nan), np.insert(y, cut, np.nan)


def _angle_ticks(ax: Axes, axis: str) -> None:
    """Ticks at multiples of π/2 on an axis that shows a wrapped angle."""
    ticks = np.arange(-2, 3) * math.pi / 2
    labels = ["−π", "−π/2", "0", "π/2", "π"]
    if axis == "x":
        ax.set_xticks(ticks, labels)
        ax.set_xlim(-math.pi * 1.05, math.pi * 1.05)
    else:
        ax.set_yticks(ticks, labels)
        ax.set_ylim(-math.pi * 1.1, math.pi * 1.1)


def _panel_layout(panels: int) -> list[list[int]]:
    """A mosaic of ``panels`` panels: one column up to three, else two columns, the last
    panel spanning the bottom row when their number is odd (so that no cell is empty)."""
    if panels <= 3:
        return [[k] for k in range(panels)]
    rows = [[k, k + 1] for k in range(0, panels - 1, 2)]
    if panels % 2:
        rows.append([panels - 1, panels - 1])
    return rows


def _bounds(
    limit: Union[float, tuple[Optional[float], Optional[float]], None],
) -> list[float]:
    """The values drawn for one entry of ``trajectory_figure``'s ``limits``."""
    if limit is None:
        return []
    if isinstance(limit, (tuple, list)):
        if len(limit) != 2:
            raise ValueError(f"a limit must be a number or a (low, high) pair, got {limit!r}")
        return [float(v) for v in limit if v is not None]
    return [-float(limit), float(limit)]


def trajectory_figure(
    times: np.ndarray,
    states: np.ndarray,
    actions: np.ndarray,
    state_labels: Sequence[str],
    action_label: str,
    *,
    ended_at: Optional[Sequence[Optional[int]]] = None,
    end_label: str = "episode terminated",
    limits: Optional[Sequence[Union[float, tuple[Optional[float], Optional[float]], None]]] = None,
    limit_label: str = "termination threshold",
    action_limits: Optional[tuple[float, float]] = None,
    action_limit_label: str = "action bound",
    angles: Sequence[int] = (),
    phase: Optional[tuple[int, int]] = None,
    phase_goal: Optional[str] = None,
    run_labels: Optional[Sequence[str]] = None,
    title: str = "",
) -> Figure:
    """State components and actions against time, for one or several initial states.

    One panel per state component, one for the action (a step plot: the action holds over
    its time step; a bang-bang action of several rollouts is drawn widest for the first
    rollout, narrowest for the last, so that all show) and optionally a phase portrait, in
    two columns (one up to three panels); when their number is odd the last one spans the
    bottom row, so no panel is empty. The time axes run exactly from the first to the last
    time given. One legend below the panels names each rollout (one colour each) and the
    dashed and dotted bounds.

    Args:
        times: ``[T+1]`` times of the states, s.
        states: ``[T+1, n]`` or ``[T+1, K, n]`` states (K rollouts from different starts).
        actions: ``[T]`` or ``[T, K]`` actions.
        state_labels: ``n`` axis labels with units, e.g. ``"θ (rad)"``.
        action_label: The action axis label with its unit.
        ended_at: Per rollout, the index of the state where the episode ended (terminated);
            marked with a cross, and the trace stops there. ``None`` entries ran to the end.
        end_label: Legend text for that marker.
        limits: Per state component, its bounds drawn as dashed lines: a number ``b`` for
            ``±b`` (e.g. CartPole's termination thresholds), a ``(low, high)`` pair (either
            may be ``None``), or ``None`` for none.
        limit_label: Legend text for the dashed lines of ``limits``.
        action_limits: ``(low, high)`` bounds of the action, drawn as dotted lines.
        action_limit_label: Legend text for those.
        angles: Indices of the components that are angles (rad): drawn wrapped to [−π, π)
            with ticks at multiples of π/2, the line broken where it wraps.
        phase: ``(i, j)``: add a phase portrait of component j against component i.
        phase_goal: What the origin of the phase portrait is (e.g. ``"upright at rest"``);
            starred and named in the panel's title when given.
        run_labels: Per rollout, its legend entry (default ``"start 1"``, ``"start 2"``, ...).
        title: Figure title (none when empty).

    Raises:
        ValueError: shapes that do not agree, or as many labels as components or rollouts.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    times = np.asarray(times, dtype=float)
    states = np.asarray(states, dtype=float)
    actions = np.asarray(actions, dtype=float)
    if states.ndim == 2:
        states, actions = states[:, None, :], actions[:, None]
    if states.ndim != 3 or actions.ndim != 2:
        raise ValueError(
            f"states must be [T+1, n] or [T+1, K, n] and actions [T] or [T, K]; got "
            f"{states.shape} and {actions.shape}"
        )
    n_steps, n_runs, n = states.shape
    if len(state_labels) != n:
        raise ValueError(f"expected {n} state labels, got {len(state_labels)}")
    if limits is not None and len(limits) != n:
        raise ValueError(f"expected {n} limits (one per state component), got {len(limits)}")
    if times.shape != (n_steps,):
        raise ValueError(f"times must have shape ({n_steps},), got {times.shape}")
    run_labels = (
        list(run_labels) if run_labels is not None else [f"start {k + 1}" for k in range(n_runs)]
    )
    if len(run_labels) != n_runs:
        raise ValueError(f"expected {n_runs} run labels (one per rollout), got {len(run_labels)}")
    angles = set(angles)
    shown = states.copy()
    for i in angles:
        shown[..., i] = _wrap_angle(shown[..., i])
    ended_at = list(ended_at) if ended_at is not None else [None] * n_runs
    ends = [e if e is not None else n_steps - 1 for e in ended_at]
    panels = n + 1 + (1 if phase else 0)
    layout = _panel_layout(panels)
    cols = len(layout[0])
    fig = Figure(figsize=(5.2 * cols, 2.0 * len(layout) + 1.0), layout="constrained")
    mosaic = fig.subplot_mosaic(layout)
    axes = [mosaic[k] for k in range(panels)]
    colors = [f"C{k % 10}" for k in range(n_runs)]
    lw = 1.2 if n_steps <= 200 else 0.6  # long, chattering traces stay legible when thin
    bound = {"color": "0.35", "lw": 0.9}
    for i in range(n):
        ax = axes[i]
        for k in range(n_runs):
            end = ends[k]
            x, y = times[: end + 1], shown[: end + 1, k, i]
            if i in angles:
                x, y = _break_jumps(x, y, y)
            ax.plot(x, y, color=colors[k], lw=lw, alpha=0.9)
            if ended_at[k] is not None:
                ax.plot(times[end], shown[end, k, i], "x", color=colors[k], ms=7, mew=2)
        for value in _bounds(limits[i] if limits is not None else None):
            ax.axhline(value, ls="--", **bound)
        if i in angles:
            _angle_ticks(ax, "y")
        ax.set_ylabel(state_labels[i])
    ax = axes[n]
    finite = actions[np.isfinite(actions)]
    bang_bang = n_runs > 1 and len(np.unique(finite)) <= 3
    for k in range(n_runs):
        # A bang-bang action (at most three values) that several rollouts share: earlier
        # rollouts drawn wider, so that every colour shows, not only the last one drawn.
        wide = lw * (1.0 + 1.6 * (n_runs - 1 - k) / (n_runs - 1)) if bang_bang else lw
        ax.step(times[: ends[k]], actions[: ends[k], k], where="post", color=colors[k], lw=wide)
    if action_limits is not None:
        for value in action_limits:
            ax.axhline(value, ls=":", **bound)
        pad = 0.08 * (action_limits[1] - action_limits[0])
        low = min(action_limits[0], float(np.nanmin(actions))) if actions.size else 0.0
        high = max(action_limits[1], float(np.nanmax(actions))) if actions.size else 0.0
        ax.set_ylim(low - pad, high + pad)
    ax.set_ylabel(action_label)
    for ax in axes[: n + 1]:
        ax.set_xlabel("time (s)")
        ax.set_xlim(times[0], times[-1])
        ax.grid(alpha=0.3)
    if phase:
        i, j = phase
        ax = axes[n + 1]
        for k in range(n_runs):
            x, y = shown[: ends[k] + 1, k, i], shown[: ends[k] + 1, k, j]
            if i in angles:
                x, y = _break_jumps(x, y, x)
            ax.plot(x, y, color=colors[k], lw=lw)
            ax.plot(shown[0, k, i], shown[0, k, j], "o", color=colors[k], ms=4)
        heading = "phase portrait (o = start"
        if phase_goal:
            ax.plot(0.0, 0.0, "*", color="k", ms=9, zorder=5)
            heading += f", ★ = {phase_goal}"
        if i in angles:
            _angle_ticks(ax, "x")
        ax.set_xlabel(state_labels[i])
        ax.set_ylabel(state_labels[j])
        ax.set_title(heading + ")", fontsize="medium")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, lw=1.8, label=label) for c, label in zip(colors, run_labels)]
    if limits is not None and any(_bounds(v) for v in limits):
        handles.append(Line2D([], [], ls="--", label=limit_label, **bound))
    if action_limits is not None:
        handles.append(Line2D([], [], ls=":", label=action_limit_label, **bound))
    if any(e is not None for e in ended_at):
        handles.append(Line2D([], [], ls="", marker="x", color="0.2", mew=2, label=end_label))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 3 if cols == 1 else 4),
        fontsize="small",
        frameon=False,
    )
    if title:
        fig.suptitle(title)
    return fig


# --- trebuchet shots -----------------------------------------------------------------------


def _parse_shots(shots: Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(shots, dtype=float)
    if arr.ndim == 1 and arr.shape == (3,):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) == 0:
        raise ValueError(
            "shots must be a list of (wind m/s, release angle degrees, counterweight lb) "
            f"triples, got an array of shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"shots must be finite, got {arr.tolist()}")
    if (arr[:, 2] <= 0).any():
        raise ValueError(f"counterweights must be positive (lb), got {arr[:, 2].tolist()}")
    return arr


def _stage_ends(stage: np.ndarray) -> list[int]:
    """Indices of the shot's start, lift-off and release samples (the last sample of stages
    1 and 2 is the located event); fewer when the shot failed before an event."""
    idx = [0]
    for s in (1, 2):
        hits = np.flatnonzero(stage == s)
        if len(hits) and (stage[hits[-1] + 1 :] > s).any():
            idx.append(int(hits[-1]))
    return idx


def shot_figure(
    shots: Sequence[Sequence[float]],
    *,
    target: Optional[float] = None,
    targets: Optional[Sequence[Optional[float]]] = None,
    params: Optional[TrebuchetParams] = None,
    names: Optional[Sequence[Optional[str]]] = None,
    title: str = "",
) -> Figure:
    """Trebuchet shots: the machine at its stage boundaries, and the projectiles' paths.

    The left panel shows the machine (the same geometry as the environment's frames,
    :mod:`diffsim.envs.render`) at the start of the shot (projectile on the ground), at
    lift-off and at release: arm, counterweight and sling, and the projectile's path
    through the two arm stages. The right panel shows each whole flight to its landing,
    with the distance written at the landing point, and the target when given.

    Args:
        shots: One or several ``(wind m/s, release angle degrees, counterweight lb)``.
        target: Target distance from the pivot, m (a red flag; the miss goes in the legend).
        targets: Instead of ``target``, per shot the target it was aimed at (``None`` for
            none): each distinct target is flagged, each shot's miss is from its own target.
        params: The trebuchet (default ``TrebuchetParams.reference()``).
        names: Per shot, a name put before its inputs and distance in the legend (``None``
            for none).
        title: Figure title.

    Heights are drawn above the ground (the physics' origin is the pivot, ``a`` above it);
    distances are from the pivot, as :func:`diffsim.trebuchet.shoot` returns them.
    """
    import torch
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from diffsim import trebuchet
    from diffsim.envs import render

    arr = _parse_shots(shots)
    names = list(names) if names is not None else [None] * len(arr)
    if len(names) != len(arr):
        raise ValueError(f"expected {len(arr)} names, got {len(names)}")
    if targets is None:
        aims = [target] * len(arr)
    elif target is not None:
        raise ValueError("give target (one for all shots) or targets (one per shot), not both")
    else:
        aims = list(targets)
        if len(aims) != len(arr):
            raise ValueError(f"expected {len(arr)} targets (one per shot), got {len(aims)}")
    for aim in aims:
        if aim is not None and not (math.isfinite(aim) and aim > 0):
            raise ValueError(f"target must be a positive distance in m, got {aim}")
    flags = sorted({float(aim) for aim in aims if aim is not None})
    p = params if params is not None else trebuchet.TrebuchetParams.reference()
    a, b, c = float(p.pivot_height), float(p.arm_long), float(p.arm_short)
    t = torch.as_tensor(arr, dtype=torch.float64)
    with torch.no_grad():
        res = trebuchet.simulate(t[:, 0], t[:, 1], t[:, 2], p)
    stage = res.stage.numpy()
    parts = {k: getattr(res, k).numpy() for k in ("arm_tip", "counterweight", "sling_end")}
    proj = res.projectile.numpy()
    distance = res.distance.numpy()

    fig = Figure(figsize=(11.0, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1.0, 2.4))
    colors = [f"C{k % 10}" for k in range(len(arr))]
    lift = np.array([0.0, a])  # the figure's y is height above the ground
    paths = [proj[stage[:, k] > 0, k] + lift for k in range(len(arr))]
    far = max([*flags, 0.0] + [float(np.nanmax(path[:, 0])) for path in paths])
    apex = max(float(np.nanmax(path[:, 1])) for path in paths)
    scene = render.trebuchet_geometry(0.0, None, pivot_height=a, arm_long=b, arm_short=c)
    rgb = {k: tuple(v / 255 for v in col) for k, col in render.TREBUCHET_COLORS.items()}
    for ax in (left, right):
        ax.fill(*(scene["frame"] + lift).T, color=rgb["frame"], alpha=0.45, lw=0, zorder=1)
        ax.axhline(0.0, color=rgb["ground"], lw=2.0, zorder=1)
        ax.plot(0.0, a, "o", color="k", ms=3, zorder=6)

    def machine(geo: dict[str, np.ndarray], color: str, ls: str, lw: float) -> list[np.ndarray]:
        from matplotlib.patches import Circle

        pts = {k: v + lift for k, v in geo.items()}
        left.plot(*pts["sling"].T, color=color, ls=ls, lw=0.9 * lw, zorder=3)
        left.plot(*pts["weight_rod"].T, color=color, ls=ls, lw=lw, zorder=3)
        left.plot(*pts["arm"].T, color=color, ls=ls, lw=2.6 * lw, zorder=4)
        solid = ls == "-"
        left.add_patch(
            Circle(
                tuple(pts["weight"]),
                render.WEIGHT_RADIUS,
                facecolor=color if solid else "none",
                edgecolor=color,
                ls=ls,
                lw=lw,
                zorder=4,
            )
        )
        left.plot(*pts["projectile"], "o", color=color, ms=4, zorder=5)
        return [pts["arm"], pts["sling"], pts["weight"][None] + [[0, -render.WEIGHT_RADIUS]]]

    style = {0: ("0.45", ":"), 1: (None, "--"), 2: (None, "-")}
    seen: list[np.ndarray] = []
    for k in range(len(arr)):
        rows = np.flatnonzero(stage[:, k] > 0)
        st = stage[rows, k]
        for n_event, i in enumerate(_stage_ends(st)):
            if n_event == 0 and k > 0:
                continue  # every shot starts from the same pose
            geo = render.trebuchet_pose_geometry(
                *(parts[name][rows[i], k] for name in ("arm_tip", "counterweight", "sling_end")),
                proj[rows[i], k],
                arm_long=b,
                arm_short=c,
            )
            color, ls = style[n_event]
            seen += machine(geo, color or colors[k], ls, 1.0)
        swing = paths[k][st < 3]
        left.plot(*swing.T, color=colors[k], lw=0.8, alpha=0.7, zorder=2)
        seen.append(swing)
        wind, angle, weight = arr[k]
        label = f"{names[k]}: " if names[k] else ""
        label += f"{wind:+g} m/s, {angle:g}°, {weight:g} lb"
        if np.isfinite(distance[k]):
            label += f" → {distance[k]:.1f} m"
            if aims[k] is not None:
                label += f" (miss {distance[k] - aims[k]:+.1f} m)"
        else:
            label += f" → failed: {res.reasons[k]}"
        right.plot(*paths[k].T, color=colors[k], lw=1.5, label=label, zorder=3)
    # Distances under the ground line, stacked in rows where they would overlap.
    landed = sorted((float(distance[k]), k) for k in range(len(arr)) if np.isfinite(distance[k]))
    row, last = 0, -math.inf
    for d, k in landed:
        row = row + 1 if d - last < 0.09 * far else 0
        last = d
        right.plot(d, 0.0, "v", color=colors[k], ms=7, zorder=4)
        right.annotate(
            f"{d:.1f} m",
            (d, 0.0),
            xytext=(0, -11 - 10 * row),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize="small",
            color=colors[k],
        )
    flag = 0.12 * max(apex, 0.2 * far)
    for aim in flags:
        right.plot([aim, aim], [0.0, flag], color=rgb["target"], lw=1.5, zorder=4)
        right.plot(aim, flag, ">", color=rgb["target"], ms=8, zorder=4)
        right.annotate(
            f"target {aim:g} m",
            (aim, flag),
            xytext=(7, 0),
            textcoords="offset points",
            va="center",
            color=rgb["target"],
            fontsize="small",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
        )
    styles = [
        Line2D([], [], color="0.45", ls=":", label="start (on the ground)"),
        Line2D([], [], color="0.2", ls="--", label="lift-off"),
        Line2D([], [], color="0.2", ls="-", label="release"),
    ]
    left.legend(handles=styles, loc="upper left", fontsize="small", framealpha=0.9)
    pts = np.concatenate([np.atleast_2d(x) for x in seen])
    lo, hi = np.nanmin(pts, 0), np.nanmax(pts, 0)
    left.set_xlim(min(lo[0], -a) - 0.4, max(hi[0], a) + 0.4)
    left.set_ylim(-0.3, hi[1] + 1.4)  # room for the legend
    left.set_aspect("equal")
    left.set_title("the machine at its stage boundaries", fontsize="medium")
    right.set_xlim(-0.03 * far, 1.08 * far)
    right.set_ylim(-0.16 * max(apex, 0.2 * far), 1.25 * max(apex, flag))
    right.set_aspect("equal", adjustable="box")
    right.set_title("flight to landing", fontsize="medium")
    right.legend(loc="upper right", fontsize="small", framealpha=0.9)
    for ax in (left, right):
        ax.set_xlabel("distance from the pivot (m)")
        ax.set_ylabel("height above the ground (m)")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


# --- learning curves -----------------------------------------------------------------------


def _on_grid(xs: np.ndarray, ys: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The last evaluation at or before each grid point (NaN before the first; a finished run
    keeps its final value, since its final policy is what it delivers)."""
    idx = np.searchsorted(xs, grid, side="right") - 1
    return np.where(idx >= 0, ys[np.clip(idx, 0, None)], np.nan)


_CURVE_KEYS = ("transitions", "train_seconds", "eval_return_mean")


def _check_curves(curves: dict[str, list[dict[str, Sequence[float]]]]) -> None:
    if not curves or any(not runs for runs in curves.values()):
        raise ValueError("curves_figure needs at least one curve per method")
    for label, runs in curves.items():
        for k, run in enumerate(runs):
            missing = [key for key in _CURVE_KEYS if key not in run]
            if missing:
                raise ValueError(
                    f"curve {k} of {label!r} lacks {missing}; each curve needs "
                    f"{list(_CURVE_KEYS)} (it has {sorted(run)})"
                )
            sizes = {len(run[key]) for key in _CURVE_KEYS}
            if len(sizes) != 1 or 0 in sizes:
                raise ValueError(
                    f"curve {k} of {label!r} must have as many (≥ 1) transitions, "
                    f"train_seconds and eval_return_mean values; got lengths "
                    f"{[len(run[key]) for key in _CURVE_KEYS]}"
                )


def curves_figure(
    curves: dict[str, list[dict[str, Sequence[float]]]],
    *,
    solved_return: Optional[float] = None,
    title: str = "",
    points: int = 200,
    band: str = "range",
    ylabel: str = "evaluation return (100-episode mean)",
    fig: Union[Figure, SubFigure, None] = None,
) -> Union[Figure, SubFigure]:
    """Learning curves: evaluation return against transitions and against training seconds.

    Args:
        curves: For each method (legend label), one curve per seed, each a dict with
            ``transitions``, ``train_seconds`` (s) and ``eval_return_mean`` sequences.
        solved_return: Drawn as a dashed line when given.
        title: Figure title.
        points: Resolution of the common grid the seeds are resampled on (step-wise: a
            seed's value at x is its last evaluation at or before x).
        band: Around the median of several seeds: ``"range"`` (min to max), ``"iqr"`` (25th
            to 75th percentile) or ``"none"``.
        ylabel: The return axis label.
        fig: Draw into this figure or subfigure (e.g. one of ``Figure.subfigures``) instead
            of a new one; it is returned.

    The line is the median across seeds and the band their spread; a seed that finished
    earlier than others (in transitions or seconds) holds its final value. A single seed is
    drawn as its own step curve, with a dot at each evaluation.

    Both x-axes are logarithmic, so that a method that solves in a thousand transitions or a
    second shares the axis with one that needs a million or an hour. An evaluation at x = 0
    (the untrained policy, which the trainers evaluate before the first update) has no place
    on a log axis: each curve is drawn from its first positive x on (the median from the
    smallest first positive x of its seeds, on a geometric grid), and a curve with no positive
    x is listed in the legend only.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter, FuncFormatter

    from diffsim._validation import check_choice

    _check_curves(curves)
    check_choice("band", band, BANDS)
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    if fig is None:
        fig = Figure(figsize=(10.5, 3.9), layout="constrained")
    axes = fig.subplots(1, 2)
    for k, (label, runs) in enumerate(curves.items()):
        color = f"C{k % 10}"
        for ax, key, xlabel in (
            (axes[0], "transitions", "environment transitions"),
            (axes[1], "train_seconds", "training time (s)"),
        ):
            xs = [np.asarray(r[key], dtype=float) for r in runs]
            ys = [np.asarray(r["eval_return_mean"], dtype=float) for r in runs]
            legend = f"{label} ({len(runs)} seed{'s' if len(runs) > 1 else ''})"
            ax.set_xlabel(xlabel)
            positive = [x[x > 0] for x in xs]
            if not any(len(x) for x in positive):
                ax.plot([], [], color=color, lw=1.8, label=legend)
                continue
            if len(runs) == 1:
                keep = xs[0] > 0
                ax.step(xs[0][keep], ys[0][keep], where="post", color=color, lw=1.8, label=legend)
                ax.plot(xs[0][keep], ys[0][keep], ".", color=color, ms=4)
                continue
            end = max(x[-1] for x in xs)
            start = min(x[0] for x in positive if len(x))
            grid = np.geomspace(start, end, points) if end > start else np.array([start])
            stack = np.stack([_on_grid(x, y, grid) for x, y in zip(xs, ys)])
            ax.plot(grid, np.nanmedian(stack, 0), color=color, lw=1.8, label=legend)
            if band != "none":
                q = (0, 100) if band == "range" else (25, 75)
                low, high = np.nanpercentile(stack, q, axis=0)
                ax.fill_between(grid, low, high, color=color, alpha=0.2, lw=0)
    for ax in axes:
        ax.set_xscale("log")
    axes[0].xaxis.set_major_formatter(EngFormatter(sep=""))
    axes[1].xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    for ax in axes:
        if solved_return is not None:
            ax.axhline(
                solved_return, color="0.3", ls="--", lw=0.9, label=f"solved ({solved_return:g})"
            )
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


# --- gradient health ---------------------------------------------------------------------


def gradient_health_figure(results: Sequence[dict], *, title: str = "") -> Figure:
    """The gradient-health measurements of :func:`diffsim.controllers.grads.gradient_health`
    against the horizon: the gradient norm (median, quartile band), the signal-to-noise
    ratio, the finite-difference disagreement and the closed loop's finite-time Lyapunov
    exponent; with a fifth panel, each discrete estimator's relative bias against the
    REINFORCE reference, when a result is of a discrete task. One line (colour) per result.

    Raises:
        ValueError: no results, or a result without ``horizons``.
    """
    from matplotlib.figure import Figure

    if not results:
        raise ValueError("expected at least one gradient-health result")
    for r in results:
        if not r.get("horizons"):
            raise ValueError(f"a gradient-health result has no horizons: {sorted(r)}")
    discrete = [r for r in results if any("estimators" in h for h in r["horizons"])]
    cols = 3 if discrete else 2
    fig = Figure(figsize=(4.2 * cols, 7.0), layout="constrained")
    axes = fig.subplots(2, cols, squeeze=False)
    panels = [
        (axes[0][0], "gradient norm ‖∇L‖ (median, IQR)", "log"),
        (axes[0][1], "signal-to-noise ‖E g‖² / E‖g − E g‖²", "log"),
        (axes[1][0], "finite-difference disagreement", "log"),
        (axes[1][1], "finite-time Lyapunov exponent (1/s)", "linear"),
    ]
    for k, r in enumerate(results):
        color = f"C{k % 10}"
        rows = r["horizons"]
        h = np.array([row["horizon"] for row in rows], dtype=float)
        norm = np.array([[row["grad_norm"][q] for q in ("q25", "median", "q75")] for row in rows])
        label = r["env_id"].removeprefix("diffsim/")
        if r.get("policy") not in (None, "fresh"):
            label += f" ({r['policy']})"
        ax = panels[0][0]
        ax.plot(h, norm[:, 1], "o-", color=color, label=label, ms=3)
        ax.fill_between(h, norm[:, 0], norm[:, 2], color=color, alpha=0.15, lw=0)
        panels[1][0].plot(h, [row["snr"] for row in rows], "o-", color=color, ms=3)
        fd = np.maximum([row["fd_rel_error"] for row in rows], 1e-16)
        panels[2][0].plot(h, fd, "o-", color=color, ms=3)
        lyap = [(row["horizon"], row["lyapunov"]) for row in rows if row["lyapunov"]]
        if lyap:
            lh = np.array([x for x, _ in lyap], dtype=float)
            lv = np.array([[v[q] for q in ("q25", "median", "q75")] for _, v in lyap])
            panels[3][0].plot(lh, lv[:, 1], "o-", color=color, ms=3)
            panels[3][0].fill_between(lh, lv[:, 0], lv[:, 2], color=color, alpha=0.15, lw=0)
    panels[1][0].axhline(1.0, color="0.5", ls=":", lw=1)
    panels[3][0].axhline(0.0, color="0.5", ls=":", lw=1)
    for ax, name, scale in panels:
        ax.set_title(name, fontsize=9)
        ax.set_xscale("log")
        ax.set_yscale(scale)
        ax.set_xlabel("horizon H (steps)")
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    if discrete:
        ax = axes[0][2]
        styles = ["o-", "s--", "^:"]
        for k, r in enumerate(results):
            if r not in discrete:
                continue
            rows = [row for row in r["horizons"] if "estimators" in row]
            names = list(rows[0]["estimators"])
            for j, name in enumerate(names):
                ax.plot(
                    [row["horizon"] for row in rows],
                    [row["estimators"][name]["rel_bias"] for row in rows],
                    styles[j % 3],
                    color=f"C{k % 10}",
                    ms=3,
                    label=f"{r['env_id'].removeprefix('diffsim/')}: {name}",
                )
        ax.set_title("estimator bias ‖E g − g_REINFORCE‖ / ‖g_REINFORCE‖", fontsize=9)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("horizon H (steps)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
        axes[1][2].set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def hypertune_figure(result: dict, *, title: str = "") -> Figure:
    """A hypertune run (:func:`diffsim.controllers.hypergrad.hypertune`) against its
    meta-iterations: one panel per hyperparameter (the learning rate on a log axis) and one
    of the validation loss after the unrolled updates.

    Raises:
        ValueError: a result without ``history``.
    """
    from matplotlib.figure import Figure

    rows = result.get("history")
    if not rows:
        raise ValueError(f"a hypertune result has no history: {sorted(result)}")
    names = list(result["names"])
    fig = Figure(figsize=(3.6 * (len(names) + 1), 3.2), layout="constrained")
    axes = fig.subplots(1, len(names) + 1, squeeze=False)[0]
    it = np.array([r["iteration"] for r in rows])
    for ax, name in zip(axes, names):
        values = np.array([r["hparams"][name] for r in rows])
        if name == "log_lr":
            ax.semilogy(it, np.exp(values), "o-", ms=3)
            ax.set_ylabel("learning rate")
        else:
            ax.plot(it, values, "o-", ms=3)
            ax.set_ylabel(name)
        ax.set_xlabel("meta-iteration")
        ax.grid(alpha=0.3)
    ax = axes[-1]
    ax.plot(it, [r["value"] for r in rows], "o-", ms=3, color="C3")
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel(f"validation {result.get('objective', 'loss')} after {result['unroll']} updates")
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_figure(fig: Union[Figure, SubFigure], out: Union[str, Path], dpi: int) -> None:
    """Save ``fig`` to ``out`` (parents created) at ``dpi``; the PNG's pixel size is exactly
    the figure's size in inches × ``dpi``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
