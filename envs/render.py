"""Geometry of every system, drawn once, and a small NumPy rasteriser.

The ``*_geometry`` functions turn a state into world coordinates (metres, x to the right,
y up) of the parts to draw; they are what an animation reuses. :func:`rasterize` draws
a list of :class:`Shape` onto an ``H×W×3`` uint8 image with NumPy only (no pygame, no
matplotlib), so ``render_mode="rgb_array"`` works anywhere, without a display.

Conventions: CartPole's θ is measured from upright, positive leaning right (the pole tip is
at ``x + 2l·sin θ``); Pendulum's θ from upright, positive counter-clockwise (the tip is at
``(−l·sin θ, l·cos θ)``), as Gymnasium draws them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Optional

import numpy as np

Color = tuple[int, int, int]

CART_WIDTH = 0.4
"""Drawn width of the cart, m (Gymnasium's 50 px at 125 px/m)."""
CART_HEIGHT = 0.24
"""Drawn height of the cart, m."""
POLE_WIDTH = 0.08
"""Drawn width of the pole, m."""


@dataclasses.dataclass(frozen=True)
class Shape:
    """One thing to draw, in world coordinates (m).

    Attributes:
        kind: ``"polygon"`` (``points`` ``[k, 2]``), ``"circle"`` (``points`` ``[1, 2]``, the
            centre, with ``radius``) or ``"line"`` (``points`` ``[2, 2]``, with ``width``).
        points: World coordinates, m.
        color: RGB, 0–255.
        radius: Circle radius, m.
        width: Line width, m.
    """

    kind: str
    points: np.ndarray
    color: Color
    radius: float = 0.0
    width: float = 0.0


def _rotated_rect(base: np.ndarray, angle: float, length: float, width: float) -> np.ndarray:
    """Corners ``[4, 2]`` of a bar of ``length`` from ``base`` in direction ``angle`` (rad from
    +y, clockwise)."""
    d = np.array([math.sin(angle), math.cos(angle)])
    n = np.array([d[1], -d[0]]) * width / 2
    tip = base + d * length
    return np.stack([base - n, base + n, tip + n, tip - n])


def cartpole_geometry(state: Sequence[float], length: float = 0.5) -> dict[str, np.ndarray]:
    """World coordinates of CartPole's parts.

    Args:
        state: ``(x, x_dot, theta, theta_dot)`` in m, m/s, rad, rad/s.
        length: Half the pole's length, m (``CartPoleParams.length``); the pole drawn is 2l.

    Returns:
        ``cart`` ``[4, 2]`` corners, ``axle`` ``[2]``, ``pole`` ``[4, 2]`` corners, ``pole_tip``
        ``[2]``, ``track`` ``[2, 2]`` (a segment along y = 0 from x = −2.4 to 2.4 m).
    """
    x, theta = float(state[0]), float(state[2])
    cart = np.array(
        [
            [x - CART_WIDTH / 2, 0.0],
            [x + CART_WIDTH / 2, 0.0],
            [x + CART_WIDTH / 2, CART_HEIGHT],
            [x - CART_WIDTH / 2, CART_HEIGHT],
        ]
    )
    axle = np.array([x, CART_HEIGHT * 0.75])
    pole = _rotated_rect(axle, theta, 2 * length, POLE_WIDTH)
    tip = axle + 2 * length * np.array([math.sin(theta), math.cos(theta)])
    return {
        "cart": cart,
        "axle": axle,
        "pole": pole,
        "pole_tip": tip,
        "track": np.array([[-2.4, 0.0], [2.4, 0.0]]),
    }


def pendulum_geometry(state: Sequence[float], length: float = 1.0) -> dict[str, np.ndarray]:
    """World coordinates of Pendulum's parts: ``pivot`` ``[2]``, ``tip`` ``[2]``, ``rod``
    ``[4, 2]`` (0.2 m wide), for ``state = (theta, theta_dot)`` in rad, rad/s and the rod's
    ``length`` in m."""
    theta = float(state[0])
    pivot = np.zeros(2)
    tip = length * np.array([-math.sin(theta), math.cos(theta)])
    return {"pivot": pivot, "tip": tip, "rod": _rotated_rect(pivot, -theta, length, 0.2)}


def trebuchet_geometry(
    wind: float,
    target: Optional[float],
    angle_deg: Optional[float] = None,
    distance: Optional[float] = None,
    pivot_height: float = 1.524,
    arm_long: float = 2.070,
    arm_short: float = 0.533,
    far: Optional[float] = None,
) -> dict[str, np.ndarray]:
    """World coordinates of the trebuchet scene (origin at the pivot, ground at ``y = −a``).

    Args:
        wind: Wind speed, m/s (drawn as an arrow of 1 m per m/s above the target).
        target: Target distance from the pivot, m, or ``None`` for no target.
        angle_deg: Release angle, degrees (drawn as a 3 m ray from the arm tip), if known.
        distance: Where the shot landed, m from the pivot, if it was shot.
        pivot_height, arm_long, arm_short: ``a``, ``b``, ``c`` of ``TrebuchetParams``, m.
        far: The farthest x the scene must show, m (default: the target or the landing,
            whichever is farther); the ground runs 5 m beyond ``1.1 × far``.

    Returns:
        ``ground`` ``[2, 2]``, ``frame`` ``[3, 2]`` (a triangle under the pivot), ``arm``
        ``[2, 2]`` (drawn upright, at release), ``wind`` ``[2, 2]``, ``target`` ``[2]`` when
        given, and ``release`` ``[2, 2]`` and ``landing`` ``[2]`` when given.
    """
    a = pivot_height
    landed = distance is not None and math.isfinite(distance)
    if far is None:
        far = max(target or 0.0, distance if landed else 0.0)
    wind_at = target if target is not None else far / 2
    geo = {
        "ground": np.array([[-5.0, -a], [far * 1.1 + 5.0, -a]]),
        "frame": np.array([[-0.6 * a, -a], [0.6 * a, -a], [0.0, 0.0]]),
        "arm": np.array([[0.0, -arm_short], [0.0, arm_long]]),
        "wind": np.array([[wind_at, 4.0], [wind_at + wind, 4.0]]),
    }
    if target is not None:
        geo["target"] = np.array([target, -a])
    if angle_deg is not None:
        r = math.radians(angle_deg)
        geo["release"] = np.array([[0.0, arm_long], [3 * math.cos(r), arm_long + 3 * math.sin(r)]])
    if landed:
        geo["landing"] = np.array([distance, -a])
    return geo


def trebuchet_pose_geometry(
    arm_tip: Sequence[float],
    counterweight: Sequence[float],
    sling_end: Sequence[float],
    projectile: Sequence[float],
    arm_long: float = 2.070,
    arm_short: float = 0.533,
) -> dict[str, np.ndarray]:
    """World coordinates of the moving parts at one instant of a shot.

    The inputs are the positions that :func:`diffsim.trebuchet.simulate` records (m, origin
    at the pivot); the arm is straight through the pivot, so its short end (the
    counterweight's hinge) is ``−arm_tip · c / b``.

    Args:
        arm_tip: Long-arm tip (sling attachment), ``[2]`` m.
        counterweight: Counterweight centre, ``[2]`` m.
        sling_end: Sling end, ``[2]`` m (the projectile until release, then held there).
        projectile: Projectile centre, ``[2]`` m.
        arm_long, arm_short: ``b`` and ``c`` of ``TrebuchetParams``, m.

    Returns:
        ``arm`` ``[2, 2]`` (short end to tip), ``weight_rod`` ``[2, 2]`` (hinge to
        counterweight), ``weight`` ``[2]``, ``sling`` ``[2, 2]`` (tip to sling end) and
        ``projectile`` ``[2]``.
    """
    tip = np.asarray(arm_tip, dtype=np.float64)
    hinge = -tip * (arm_short / arm_long)
    weight = np.asarray(counterweight, dtype=np.float64)
    return {
        "arm": np.stack([hinge, tip]),
        "weight_rod": np.stack([hinge, weight]),
        "weight": weight,
        "sling": np.stack([tip, np.asarray(sling_end, dtype=np.float64)]),
        "projectile": np.asarray(projectile, dtype=np.float64),
    }


def _fill(img: np.ndarray, mask_fn, bbox, color: Color) -> None:
    h, w, _ = img.shape
    x0, y0, x1, y1 = (
        int(math.floor(bbox[0])),
        int(math.floor(bbox[1])),
        int(math.ceil(bbox[2])) + 1,
        int(math.ceil(bbox[3])) + 1,
    )
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1]
    mask = mask_fn(xs + 0.5, ys + 0.5)
    img[y0:y1, x0:x1][mask] = color


def _polygon_mask(pts: np.ndarray):
    def inside(px, py):
        # Even-odd rule: count the edges a ray to +x crosses.
        res = np.zeros(px.shape, dtype=bool)
        k = len(pts)
        for i in range(k):
            (xa, ya), (xb, yb) = pts[i], pts[(i + 1) % k]
            if ya == yb:
                continue
            cond = (ya > py) != (yb > py)
            xc = xa + (py - ya) * (xb - xa) / (yb - ya)
            res ^= cond & (px < xc)
        return res

    return inside


def rasterize(
    shapes: Sequence[Shape],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    size: tuple[int, int] = (400, 600),
    background: Color = (255, 255, 255),
) -> np.ndarray:
    """Draw ``shapes`` (in order) onto a fresh ``[H, W, 3]`` uint8 image.

    Args:
        shapes: What to draw, in world coordinates (m).
        xlim, ylim: The world window shown, m (y up; the image's row 0 is ``ylim[1]``).
        size: ``(height, width)`` in pixels.
        background: RGB of the empty canvas.
    """
    h, w = size
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:] = background
    sx = w / (xlim[1] - xlim[0])
    sy = h / (ylim[1] - ylim[0])

    def to_px(p: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(np.asarray(p, dtype=np.float64))
        return np.stack([(p[:, 0] - xlim[0]) * sx, (ylim[1] - p[:, 1]) * sy], axis=1)

    for shape in shapes:
        if shape.kind == "line":
            (xa, ya), (xb, yb) = np.asarray(shape.points, dtype=np.float64)
            d = np.array([xb - xa, yb - ya])
            norm = float(np.hypot(*d)) or 1.0
            n = np.array([-d[1], d[0]]) / norm * max(shape.width, 1.5 / sx) / 2
            a, b = np.array([xa, ya]), np.array([xb, yb])
            shape = Shape("polygon", np.stack([a - n, a + n, b + n, b - n]), shape.color)
        if shape.kind == "polygon":
            pts = to_px(shape.points)
            bbox = (*pts.min(axis=0), *pts.max(axis=0))
            _fill(img, _polygon_mask(pts), bbox, shape.color)
        elif shape.kind == "circle":
            c = to_px(shape.points)[0]
            r = max(shape.radius * sx, 1.0)

            def disc(px, py, c=c, r=r):
                return (px - c[0]) ** 2 + (py - c[1]) ** 2 <= r * r

            _fill(img, disc, (c[0] - r, c[1] - r, c[0] + r, c[1] + r), shape.color)
        elif shape.kind != "polygon":
            raise ValueError(
                f"unknown shape kind {shape.kind!r}; expected 'polygon', 'circle' or 'line'"
            )
    return img


def cartpole_shapes(state: Sequence[float], length: float = 0.5) -> list[Shape]:
    """The shapes of one CartPole frame (track, cart, pole, axle)."""
    g = cartpole_geometry(state, length)
    return [
        Shape("line", g["track"], (0, 0, 0), width=0.01),
        Shape("polygon", g["cart"], (0, 0, 0)),
        Shape("polygon", g["pole"], (202, 152, 101)),
        Shape("circle", g["axle"][None], (129, 132, 203), radius=POLE_WIDTH / 2),
    ]


def render_cartpole(
    state: Sequence[float], length: float = 0.5, size: tuple[int, int] = (400, 600)
) -> np.ndarray:
    """An ``[H, W, 3]`` uint8 frame of CartPole (the track spans the width, as Gymnasium's)."""
    return rasterize(cartpole_shapes(state, length), (-2.4, 2.4), (-0.8, 2.4), size)


def render_pendulum(
    state: Sequence[float], length: float = 1.0, size: tuple[int, int] = (500, 500)
) -> np.ndarray:
    """An ``[H, W, 3]`` uint8 frame of Pendulum (rod and pivot)."""
    g = pendulum_geometry(state, length)
    shapes = [
        Shape("polygon", g["rod"], (204, 77, 77)),
        Shape("circle", g["tip"][None], (204, 77, 77), radius=0.1),
        Shape("circle", g["pivot"][None], (0, 0, 0), radius=0.05),
    ]
    span = 1.1 * length + 0.1
    return rasterize(shapes, (-span, span), (-span, span), size)


TREBUCHET_COLORS: dict[str, Color] = {
    "ground": (60, 140, 60),
    "frame": (120, 80, 40),
    "arm": (80, 50, 20),
    "weight": (70, 70, 70),
    "sling": (150, 120, 60),
    "projectile": (0, 0, 0),
    "target": (220, 30, 30),
    "wind": (90, 90, 200),
    "landing": (30, 30, 220),
}
"""RGB of each part of the trebuchet scene (shared by the frames and the figures)."""
WEIGHT_RADIUS = 0.3
"""Drawn radius of the counterweight, m."""


def render_trebuchet(
    wind: float,
    target: Optional[float],
    angle_deg: Optional[float] = None,
    distance: Optional[float] = None,
    size: tuple[int, int] = (300, 600),
    *,
    pose: Optional[dict[str, np.ndarray]] = None,
    trail: Optional[np.ndarray] = None,
    far: Optional[float] = None,
    window: Optional[tuple[tuple[float, float], tuple[float, float]]] = None,
    **lengths: float,
) -> np.ndarray:
    """An ``[H, W, 3]`` uint8 frame of the trebuchet scene (target red, landing blue).

    Args:
        wind, target, angle_deg, distance, far: As :func:`trebuchet_geometry`.
        size: ``(height, width)`` in pixels.
        pose: The moving parts (:func:`trebuchet_pose_geometry`); drawn in place of the
            upright arm when given.
        trail: ``[k, 2]`` projectile positions so far (m), drawn as dots.
        window: ``((x0, x1), (y0, y1))``, the part of the world shown, m (default: the whole
            scene, from 5 m behind the pivot to beyond the target and the landing, with the
            frame's aspect ratio). The projectile, the trail and the counterweight keep a
            visible size in pixels at any scale.
        **lengths: ``pivot_height``, ``arm_long``, ``arm_short`` (m).
    """
    g = trebuchet_geometry(wind, target, angle_deg, distance, far=far, **lengths)
    c = TREBUCHET_COLORS
    shapes = [
        Shape("line", g["ground"], c["ground"], width=0.3),
        Shape("polygon", g["frame"], c["frame"]),
        Shape("line", g["wind"], c["wind"], width=0.3),
    ]
    if "target" in g:
        shapes.append(Shape("circle", g["target"][None], c["target"], radius=1.5))
    if pose is None:
        shapes.append(Shape("line", g["arm"], c["arm"], width=0.25))
    if "release" in g:
        shapes.append(Shape("line", g["release"], (0, 0, 0), width=0.2))
    if "landing" in g:
        shapes.append(Shape("circle", g["landing"][None], c["landing"], radius=1.2))
    if window is None:
        x1 = float(g["ground"][1, 0])
        window = ((-5.0, x1), (-3.0, (x1 + 5.0) * size[0] / size[1] - 3.0))
    px = (window[0][1] - window[0][0]) / size[1]  # metres per pixel
    if trail is not None:
        shapes += [
            Shape("circle", p[None], c["projectile"], radius=1.2 * px) for p in np.asarray(trail)
        ]
    if pose is not None:
        shapes += [
            Shape("line", pose["sling"], c["sling"], width=0.04),
            Shape("line", pose["weight_rod"], c["arm"], width=0.06),
            Shape("line", pose["arm"], c["arm"], width=0.12),
            Shape("circle", pose["weight"][None], c["weight"], radius=max(WEIGHT_RADIUS, 3 * px)),
            Shape("circle", pose["projectile"][None], c["projectile"], radius=2.5 * px),
        ]
    return rasterize(shapes, window[0], window[1], size)
