"""Gymnasium trebuchet aiming task over :func:`diffsim.trebuchet.shoot` (``diffsim/Trebuchet-v0``).

One step per episode: the env shows a wind and a target, the agent answers with a release
angle and a counterweight, the trebuchet shoots once and the episode ends (terminated).

Spaces:
    observation: ``Box([−5, 20], [5, 80], (2,), float32)``: ``(wind m/s, target m)``; wind
    positive blows towards the target. Reset draws wind ~ U(−5, 5) m/s and target
    ~ U(20, 80) m from ``self.np_random``.
    action: ``Box([5, 50], [85, 600], (2,), float32)``: ``(release angle in degrees above the
    horizontal, counterweight in lb)``, the units ``shoot`` takes; the bounds are the
    trebuchet's aiming box, :data:`diffsim.trebuchet.ANGLE_BOUNDS_DEG` and
    :data:`diffsim.trebuchet.WEIGHT_BOUNDS_LB`. Actions beyond the bounds are clipped to them.
Coverage: every target in the observation box is reachable with an action in the box
(checked in tests/test_envs.py; docs/envs.md gives the reach). The 2019 post sampled wind
~ N(0, 5²) and targets up to 100 m, which include unreachable pairs, hence the narrower,
bounded task here.
Reward: ``−|distance − target|`` in metres (0 is a perfect hit). A failed shot (slack sling:
counterweight too light; no release; non-finite state) counts as landing at the pivot
(distance 0 m) and earns ``−target``; ``info["failed"]`` is then True.
Info after the shot: ``distance`` (m, NaN if failed), ``failed`` (bool), ``miss`` (m).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import gymnasium as gym
import numpy as np
import torch
from gymnasium import logger, spaces
from gymnasium.error import ResetNeeded

from diffsim.trebuchet.params import ANGLE_BOUNDS_DEG, WEIGHT_BOUNDS_LB

from . import _checks, render

if TYPE_CHECKING:
    from diffsim.trebuchet import TrebuchetParams


def physics():
    """The :mod:`diffsim.trebuchet` module, the physics the env shoots with."""
    from diffsim import trebuchet

    return trebuchet


WIND_RANGE = (-5.0, 5.0)
"""Range of the sampled wind speed, m/s."""
TARGET_RANGE = (20.0, 80.0)
"""Range of the sampled target distance, m."""
ANGLE_RANGE = ANGLE_BOUNDS_DEG
"""Bounds of the release angle, degrees (:data:`diffsim.trebuchet.ANGLE_BOUNDS_DEG`)."""
WEIGHT_RANGE = WEIGHT_BOUNDS_LB
"""Bounds of the counterweight, lb (:data:`diffsim.trebuchet.WEIGHT_BOUNDS_LB`)."""


def observation_space() -> spaces.Box:
    """The ``(wind m/s, target m)`` float32 Box."""
    return spaces.Box(
        np.array([WIND_RANGE[0], TARGET_RANGE[0]], dtype=np.float32),
        np.array([WIND_RANGE[1], TARGET_RANGE[1]], dtype=np.float32),
        dtype=np.float32,
    )


def action_space() -> spaces.Box:
    """The ``(release angle deg, counterweight lb)`` float32 Box."""
    return spaces.Box(
        np.array([ANGLE_RANGE[0], WEIGHT_RANGE[0]], dtype=np.float32),
        np.array([ANGLE_RANGE[1], WEIGHT_RANGE[1]], dtype=np.float32),
        dtype=np.float32,
    )


def shot_rewards(distance: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(reward, failed)``: ``−|distance − target|`` m, and ``−target`` where the shot failed
    (``distance`` NaN)."""
    failed = ~torch.isfinite(distance)
    landed = torch.where(failed, torch.zeros_like(distance), distance)
    return -(landed - target).abs(), failed


class TrebuchetEnv(gym.Env[np.ndarray, np.ndarray]):
    """One-shot trebuchet aiming (see the module docstring for spaces and reward).

    Args:
        render_mode: ``None`` or ``"rgb_array"`` (a ``[300, 600, 3]`` uint8 frame).
        params: The trebuchet (``TrebuchetParams.reference()`` by default).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        render_mode: Optional[str] = None,
        params: Optional[TrebuchetParams] = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        if params is not None and not isinstance(params, physics().TrebuchetParams):
            raise TypeError(f"params must be a TrebuchetParams, got {type(params).__name__}")
        self.render_mode = render_mode
        self.params = params
        self.observation_space = observation_space()
        self.action_space = action_space()
        self._task: Optional[np.ndarray] = None  # (wind, target), float64
        self._shot: Optional[tuple[float, float, float]] = None  # (angle, weight, distance)

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw wind ~ U(−5, 5) m/s and target ~ U(20, 80) m with ``self.np_random``.

        Args:
            seed: Seeds ``self.np_random``.
            options: ``{"wind": m/s, "target": m}`` to set either (within the observation box).
        """
        super().reset(seed=seed)
        wind, target = self.np_random.uniform(
            low=[WIND_RANGE[0], TARGET_RANGE[0]], high=[WIND_RANGE[1], TARGET_RANGE[1]]
        )
        options = {} if options is None else options
        wind = float(options.get("wind", wind))
        target = float(options.get("target", target))
        task = np.array([wind, target])
        if not self.observation_space.contains(task.astype(np.float32)):
            raise ValueError(
                f"options: wind must be in {list(WIND_RANGE)} m/s and target in "
                f"{list(TARGET_RANGE)} m, got wind={wind}, target={target}"
            )
        self._task = task
        self._shot = None
        return task.astype(np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Shoot once with ``(angle deg, weight lb)`` (clipped to the action box); terminated.

        Raises:
            ResetNeeded: before the first :meth:`reset`.
            TypeError, ValueError: for a non-numeric, wrongly shaped or non-finite action.
        """
        if self._task is None:
            raise ResetNeeded("TrebuchetEnv: call reset() before step()")
        act = _checks.box_action(action, self.action_space, "TrebuchetEnv").astype(np.float64)
        if self._shot is not None:
            logger.warn(
                "You are calling 'step()' even though this environment has already returned "
                "terminated = True (one shot per episode); call 'reset()' first. "
                "The same task is shot again."
            )
        wind, target = (torch.tensor(v, dtype=torch.float64) for v in self._task)
        distance = physics().shoot(
            wind, torch.tensor(act[0]), torch.tensor(act[1]), self.params, on_failure="nan"
        )
        reward, failed = shot_rewards(distance, target)
        self._shot = (float(act[0]), float(act[1]), float(distance))
        info = {
            "distance": float(distance),
            "failed": bool(failed),
            "miss": float(distance - target),
        }
        return self._task.astype(np.float32), float(reward), True, False, info

    def render(self) -> Optional[np.ndarray]:
        """A ``[300, 600, 3]`` uint8 frame: target (red), wind arrow, release ray and landing."""
        if not _checks.ready_to_render(self, self._task):
            return None
        p = self.params if self.params is not None else physics().TrebuchetParams()
        angle, _, distance = self._shot if self._shot is not None else (None, None, None)
        return render.render_trebuchet(
            float(self._task[0]),
            float(self._task[1]),
            angle,
            distance,
            pivot_height=float(p.pivot_height),
            arm_long=float(p.arm_long),
            arm_short=float(p.arm_short),
        )
