"""Figures, as a Python API: each function returns a ``matplotlib.figure.Figure``.

The command line (``diffsim plot ...``) saves these figures; a notebook user calls the same
functions. Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, so no
GUI backend is needed and nothing global changes); matplotlib is imported on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def trajectory_figure(
    times: np.ndarray,
    states: np.ndarray,
    actions: np.ndarray,
    state_labels: Sequence[str],
    action_label: str,
    *,
    ended_at: Optional[Sequence[Optional[int]]] = None,
    end_label: str = "terminated",
    limits: Optional[Sequence[Optional[float]]] = None,
    phase: Optional[tuple[int, int]] = None,
    title: str = "",
) -> Figure:
    """State components and actions against time, for one or several initial states.

    Args:
        times: ``[T+1]`` times of the states, s.
        states: ``[T+1, n]`` or ``[T+1, K, n]`` states (K rollouts from different starts).
        actions: ``[T]`` or ``[T, K]`` actions.
        state_labels: ``n`` axis labels with units, e.g. ``"θ (rad)"``.
        action_label: The action axis label with its unit.
        ended_at: Per rollout, the index of the state where the episode ended (terminated);
            marked with a cross, and the trace stops there. ``None`` entries ran to the end.
        end_label: Legend text for that marker.
        limits: Per state component, a symmetric bound (e.g. CartPole's termination
            thresholds) drawn as dashed lines; ``None`` for none.
        phase: ``(i, j)``: add a phase portrait of component j against component i.
        title: Figure title.
    """
    from matplotlib.figure import Figure

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
    ended_at = list(ended_at) if ended_at is not None else [None] * n_runs
    panels = n + 1 + (1 if phase else 0)
    cols = 2 if panels > 3 else 1
    rows = -(-panels // cols)
    fig = Figure(figsize=(5.2 * cols, 2.1 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    colors = [f"C{k % 10}" for k in range(n_runs)]
    for i in range(n):
        ax = axes[i]
        for k in range(n_runs):
            end = ended_at[k] if ended_at[k] is not None else n_steps - 1
            ax.plot(times[: end + 1], states[: end + 1, k, i], color=colors[k], lw=1.2)
            if ended_at[k] is not None:
                ax.plot(
                    times[end],
                    states[end, k, i],
                    "x",
                    color=colors[k],
                    ms=7,
                    mew=2,
                    label=end_label if k == 0 and i == 0 else None,
                )
        if limits is not None and limits[i] is not None:
            for sign in (-1, 1):
                ax.axhline(sign * limits[i], color="0.4", ls="--", lw=0.8)
        ax.set_ylabel(state_labels[i])
        ax.set_xlabel("time (s)")
        ax.grid(alpha=0.3)
    if any(e is not None for e in ended_at):
        axes[0].legend(loc="best", fontsize="small")
    ax = axes[n]
    for k in range(n_runs):
        end = ended_at[k] if ended_at[k] is not None else n_steps - 1
        ax.step(times[:end], actions[:end, k], where="post", color=colors[k], lw=1.0)
    ax.set_ylabel(action_label)
    ax.set_xlabel("time (s)")
    ax.grid(alpha=0.3)
    if phase:
        i, j = phase
        ax = axes[n + 1]
        for k in range(n_runs):
            end = ended_at[k] if ended_at[k] is not None else n_steps - 1
            ax.plot(states[: end + 1, k, i], states[: end + 1, k, j], color=colors[k], lw=1.0)
            ax.plot(states[0, k, i], states[0, k, j], "o", color=colors[k], ms=4)
        ax.set_xlabel(state_labels[i])
        ax.set_ylabel(state_labels[j])
        ax.set_title("phase portrait (o = start)", fontsize="medium")
        ax.grid(alpha=0.3)
    for ax in axes[panels:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def _on_grid(xs: np.ndarray, ys: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The last evaluation at or before each grid point (NaN before the first; a finished run
    keeps its final value, since its final policy is what it delivers)."""
    idx = np.searchsorted(xs, grid, side="right") - 1
    return np.where(idx >= 0, ys[np.clip(idx, 0, None)], np.nan)


def curves_figure(
    curves: dict[str, list[dict[str, Sequence[float]]]],
    *,
    solved_return: Optional[float] = None,
    title: str = "",
    points: int = 200,
) -> Figure:
    """Learning curves: evaluation return against transitions and against training seconds.

    Args:
        curves: For each method (legend label), one curve per seed, each a dict with
            ``transitions``, ``train_seconds`` and ``eval_return_mean`` sequences.
        solved_return: Drawn as a dashed line when given.
        title: Figure title.
        points: Resolution of the common grid the seeds are resampled on (step-wise: a
            seed's value at x is its last evaluation at or before x).

    The line is the median across seeds and the band their range (min to max); a seed that
    finished earlier than others (in transitions or seconds) holds its final value.
    """
    from matplotlib.figure import Figure

    if not curves or any(not runs for runs in curves.values()):
        raise ValueError("curves_figure needs at least one curve per method")
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
            end = max(x[-1] for x in xs)
            start = min(x[0] for x in xs)
            grid = np.linspace(start, end, points) if end > start else np.array([start])
            stack = np.stack([_on_grid(x, y, grid) for x, y in zip(xs, ys)])
            ax.plot(
                grid,
                np.nanmedian(stack, 0),
                color=color,
                lw=1.8,
                label=f"{label} ({len(runs)} seed{'s' if len(runs) > 1 else ''})",
            )
            if len(runs) > 1:
                ax.fill_between(
                    grid, np.nanmin(stack, 0), np.nanmax(stack, 0), color=color, alpha=0.2, lw=0
                )
            ax.set_xlabel(xlabel)
    for ax in axes:
        if solved_return is not None:
            ax.axhline(solved_return, color="0.3", ls="--", lw=0.9, label="solved")
        ax.set_ylabel("evaluation return (100-episode mean)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
