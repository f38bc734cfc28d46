"""Frames of every system, drawn with NumPy only, and a window for ``human`` rendering.

CartPole and Pendulum are drawn with Gymnasium's geometry (``gymnasium.envs.classic_control``,
``CartPoleEnv.render`` and ``PendulumEnv.render``, Gymnasium 1.x): the same screen sizes,
scales, part sizes, colours, offsets and torque arrow, rasterised by the rules of the
``pygame.gfxdraw`` primitives Gymnasium calls (truncated integer vertices, scan-line polygon
fill, anti-aliased edges, midpoint circles), so :func:`cartpole_frame` and
:func:`pendulum_frame` give Gymnasium's ``rgb_array`` frames without pygame. The drawing code
here is NumPy; only the numbers and the rasterisation rules are Gymnasium's and pygame's.

The ``*_geometry`` functions give the same parts in world coordinates (metres, x to the right,
y up) for animations and figures. :func:`rasterize` draws a list of :class:`Shape` (the
trebuchet scene) onto an ``H×W×3`` uint8 image.

Conventions: CartPole's θ is measured from upright, positive leaning right (the pole tip is
at ``x + 2l·sin θ``); Pendulum's θ from upright, positive counter-clockwise (the tip is at
``(−l·sin θ, l·cos θ)``), as Gymnasium draws them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

if TYPE_CHECKING:  # the parameter classes' modules import torch
    from diffsim.acrobot import AcrobotParams
    from diffsim.cartpole import CartPoleParams
    from diffsim.pendulum import PendulumParams

Color = tuple[int, int, int]

# --- Gymnasium's screen geometry -------------------------------------------------------------
# Facts from Gymnasium 1.x, gymnasium/envs/classic_control/cartpole.py (CartPoleEnv.__init__
# and .render) and pendulum.py (PendulumEnv.__init__ and .render). Pixel coordinates below are
# pygame's (row 0 at the top) before Gymnasium's final vertical flip.

CARTPOLE_SCREEN = (600, 400)
"""CartPole's ``(width, height)`` in pixels."""
CART_SIZE_PX = (50.0, 30.0)
"""CartPole's cart ``(width, height)``, px."""
POLE_WIDTH_PX = 10.0
"""CartPole's pole width, px; the axle's radius is half of it."""
CART_Y_PX = 100
"""Row of the cart's centre and of the track line (before the flip)."""
AXLE_OFFSET_PX = CART_SIZE_PX[1] / 4
"""The axle is this far above the cart's centre (before the flip: below), px."""
CART_COLOR: Color = (0, 0, 0)
POLE_COLOR: Color = (202, 152, 101)
AXLE_COLOR: Color = (129, 132, 203)
TRACK_COLOR: Color = (0, 0, 0)

PENDULUM_SCREEN = 500
"""Pendulum's square screen side, px."""
PENDULUM_BOUND = 2.2
"""Half the world width Pendulum's screen shows, in Gymnasium's screen units (the rod is drawn
1 unit long whatever ``l`` is)."""
ROD_LENGTH = 1.0
"""Drawn rod length, screen units (Gymnasium does not use ``l`` for drawing)."""
ROD_WIDTH = 0.2
"""Drawn rod width, screen units; the circles at both rod ends have half of it as radius."""
PENDULUM_AXLE_RADIUS = 0.05
"""Radius of the black axle, screen units."""
ROD_COLOR: Color = (204, 77, 77)
PENDULUM_AXLE_COLOR: Color = (0, 0, 0)
ARROW_IMAGE = ("gymnasium.envs.classic_control", "assets/clockwise.png")
"""Package and path of Gymnasium's torque-arrow image (black, with alpha): it is scaled to
``scale·|u|/2`` px square, mirrored left-right for ``u > 0`` and centred on the pivot."""

CART_WIDTH = CART_SIZE_PX[0] / 125.0
"""Drawn width of the cart, m, at the default scale (125 px/m, ``x_threshold`` 2.4 m)."""
CART_HEIGHT = CART_SIZE_PX[1] / 125.0
"""Drawn height of the cart, m, at the default scale."""
POLE_WIDTH = POLE_WIDTH_PX / 125.0
"""Drawn width of the pole, m, at the default scale."""


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


def _cartpole_scale(x_threshold: float) -> float:
    """Gymnasium's CartPole pixels per metre: the screen shows ``±x_threshold``."""
    world_width = x_threshold * 2
    return CARTPOLE_SCREEN[0] / world_width


def _rotated_rect(base: np.ndarray, angle: float, length: float, width: float) -> np.ndarray:
    """Corners ``[4, 2]`` of a bar of ``length`` from ``base`` in direction ``angle`` (rad from
    +y, clockwise)."""
    d = np.array([math.sin(angle), math.cos(angle)])
    n = np.array([d[1], -d[0]]) * width / 2
    tip = base + d * length
    return np.stack([base - n, base + n, tip + n, tip - n])


def cartpole_geometry(
    state: Sequence[float], length: float = 0.5, x_threshold: float = 2.4
) -> dict[str, np.ndarray]:
    """World coordinates of CartPole's parts as :func:`cartpole_frame` draws them.

    The origin is on the track line below the cart's centre at ``x = 0`` shifted down by half
    the cart's height: the cart's bottom is at ``y = 0`` and the track runs through the cart's
    middle, as in Gymnasium. The part sizes are Gymnasium's pixel sizes at its scale of
    ``600 / (2 x_threshold)`` px/m.

    Args:
        state: ``(x, x_dot, theta, theta_dot)`` in m, m/s, rad, rad/s.
        length: Half the pole's length, m (``CartPoleParams.length``); the pole is 2l long.
        x_threshold: ``CartPoleParams.x_threshold``, m (sets the scale).

    Returns:
        ``cart`` ``[4, 2]`` corners, ``axle`` ``[2]``, ``pole`` ``[4, 2]`` corners of the
        drawn bar (from half a pole width behind the axle to half a width short of the tip),
        ``pole_tip`` ``[2]`` (the axle plus ``2l`` along the pole), ``track`` ``[2, 2]`` (from
        ``−x_threshold`` to ``x_threshold``).
    """
    scale = _cartpole_scale(float(x_threshold))
    cw, ch = CART_SIZE_PX[0] / scale, CART_SIZE_PX[1] / scale
    pw = POLE_WIDTH_PX / scale
    x, theta = float(state[0]), float(state[2])
    cart = np.array([[x - cw / 2, 0.0], [x + cw / 2, 0.0], [x + cw / 2, ch], [x - cw / 2, ch]])
    axle = np.array([x, ch / 2 + AXLE_OFFSET_PX / scale])
    direction = np.array([math.sin(theta), math.cos(theta)])
    pole = _rotated_rect(axle - direction * pw / 2, theta, 2 * float(length), pw)
    return {
        "cart": cart,
        "axle": axle,
        "pole": pole,
        "pole_tip": axle + 2 * float(length) * direction,
        "track": np.array([[-float(x_threshold), ch / 2], [float(x_threshold), ch / 2]]),
    }


def pendulum_geometry(state: Sequence[float], length: float = 1.0) -> dict[str, np.ndarray]:
    """World coordinates of Pendulum's parts: ``pivot`` ``[2]``, ``tip`` ``[2]``, ``rod``
    ``[4, 2]`` (``0.2·length`` wide), for ``state = (theta, theta_dot)`` in rad, rad/s and the
    rod's ``length`` in m. :func:`pendulum_frame` draws this with ``length = 1`` screen unit,
    as Gymnasium does for any ``l``."""
    theta = float(state[0])
    pivot = np.zeros(2)
    tip = length * np.array([-math.sin(theta), math.cos(theta)])
    rod = _rotated_rect(pivot, -theta, length, ROD_WIDTH * length)
    return {"pivot": pivot, "tip": tip, "rod": rod}


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


# --- pygame.gfxdraw-compatible rasterisation -----------------------------------------------
# The rules are those of SDL_gfx's primitives as pygame.gfxdraw runs them (pygame 2.x,
# src_c/SDL_gfx/SDL_gfxPrimitives.c): vertices are truncated to integers; a translucent pixel
# becomes ``d + ((c − d)·α >> 8)`` (α = 255 stores ``c``); a weighted pixel has
# ``α = 255·w >> 8``. Every function draws onto ``canvas`` (uint8 ``[H, W, 3]``, pygame's rows,
# row 0 at the top) and clips to it.


def _int16(v: float) -> int:
    """``v`` as pygame passes a coordinate to SDL_gfx: truncated toward zero, then Sint16."""
    i = int(v)
    return ((i + 0x8000) & 0xFFFF) - 0x8000


def _put(canvas: np.ndarray, xs: Any, ys: Any, color: Color, alpha: Any) -> None:
    """Blend ``color`` at the pixels ``(xs, ys)`` (each at most once) with ``alpha`` (0–255,
    one per pixel or one for all; 255 stores the colour); pixels off the canvas are skipped."""
    h, w = canvas.shape[:2]
    xs, ys = np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.int64)
    alpha = np.asarray(alpha, dtype=np.int64)
    keep = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    if not keep.all():
        xs, ys = xs[keep], ys[keep]
        alpha = alpha[keep] if alpha.ndim else alpha
    alpha = alpha[..., None]
    c = np.asarray(color, dtype=np.int64)
    d = canvas[ys, xs].astype(np.int64)
    canvas[ys, xs] = np.where(alpha == 255, c, d + (((c - d) * alpha) >> 8))


def _hline(canvas: np.ndarray, x1: int, x2: int, y: int, color: Color) -> None:
    """An opaque horizontal run from ``x1`` to ``x2`` (inclusive, either order) on row ``y``."""
    h, w = canvas.shape[:2]
    lo, hi = min(x1, x2), max(x1, x2)
    if 0 <= y < h and hi >= 0 and lo < w:
        canvas[y, max(lo, 0) : min(hi, w - 1) + 1] = color


def _vline(canvas: np.ndarray, x: int, y1: int, y2: int, color: Color) -> None:
    """An opaque vertical run from ``y1`` to ``y2`` (inclusive, either order) in column ``x``."""
    h, w = canvas.shape[:2]
    lo, hi = min(y1, y2), max(y1, y2)
    if 0 <= x < w and hi >= 0 and lo < h:
        canvas[max(lo, 0) : min(hi, h - 1) + 1, x] = color


def _fill_polygon(canvas: np.ndarray, vx: Sequence[int], vy: Sequence[int], color: Color) -> None:
    """SDL_gfx's filled polygon: for each row from the lowest to the highest vertex, the edges
    that cross it (an edge counts from its upper end, not its lower one, except on the last
    row) give 16.16 fixed-point crossings, sorted and filled pairwise, each span rounded one
    pixel inwards from both crossings."""
    h, w = canvas.shape[:2]
    vx, vy = np.asarray(vx, dtype=np.int64), np.asarray(vy, dtype=np.int64)
    miny, maxy = int(vy.min()), int(vy.max())
    rows = np.arange(max(miny, 0), min(maxy, h - 1) + 1)
    if rows.size == 0:
        return
    n = len(vx)
    ints = np.full((rows.size, n), np.iinfo(np.int64).max)
    for i in range(n):
        ya, yb, xa, xb = vy[i - 1], vy[i], vx[i - 1], vx[i]
        if ya == yb:
            continue
        if ya > yb:
            ya, yb, xa, xb = yb, ya, xb, xa
        hit = ((rows >= ya) & (rows < yb)) | ((rows == maxy) & (rows > ya) & (rows <= yb))
        cross = ((65536 * (rows - ya)) // (yb - ya)) * (xb - xa) + 65536 * xa
        ints[:, i] = np.where(hit, cross, ints[:, i])
    ints.sort(axis=1)
    count = (ints != np.iinfo(np.int64).max).sum(axis=1)
    c0, c1 = max(int(vx.min()) - 1, 0), min(int(vx.max()) + 1, w - 1)
    if c0 > c1:
        return
    cols = np.arange(c0, c1 + 1)
    mask = np.zeros((rows.size, cols.size), dtype=bool)
    for k in range(n // 2):
        ok = count >= 2 * k + 2
        a = np.where(ok, ints[:, 2 * k], 0) + 1
        b = np.where(ok, ints[:, 2 * k + 1], 0) - 1
        xa = (a >> 16) + ((a & 32768) >> 15)
        xb = (b >> 16) + ((b & 32768) >> 15)
        lo, hi = np.minimum(xa, xb)[:, None], np.maximum(xa, xb)[:, None]
        mask |= ok[:, None] & (cols >= lo) & (cols <= hi)
    canvas[rows[0] : rows[-1] + 1, c0 : c1 + 1][mask] = color


def _clip_line(x1: int, y1: int, x2: int, y2: int, w: int, h: int) -> Optional[tuple[int, ...]]:
    """SDL_gfx's Cohen–Sutherland clip of a segment to the canvas (float32 slopes, truncated
    intersections); None when nothing is visible. The end points may come back swapped."""
    left, right, top, bottom = 0, w - 1, 0, h - 1

    def code(x: int, y: int) -> int:
        c = 1 if x < left else 2 if x > right else 0
        return c | (8 if y < top else 4 if y > bottom else 0)

    for _ in range(64):
        c1, c2 = code(x1, y1), code(x2, y2)
        if not (c1 | c2):
            return x1, y1, x2, y2
        if c1 & c2:
            return None
        if not c1:
            x1, y1, x2, y2, c1, c2 = x2, y2, x1, y1, c2, c1
        m = np.float32(y2 - y1) / np.float32(x2 - x1) if x2 != x1 else np.float32(1.0)
        if c1 & 1:
            y1, x1 = y1 + int(np.float32(left - x1) * m), left
        elif c1 & 2:
            y1, x1 = y1 + int(np.float32(right - x1) * m), right
        elif c1 & 4:
            x1, y1 = (x1 + int(np.float32(bottom - y1) / m) if x2 != x1 else x1), bottom
        else:
            x1, y1 = (x1 + int(np.float32(top - y1) / m) if x2 != x1 else x1), top
    return None


def _aa_line(canvas: np.ndarray, x1: int, y1: int, x2: int, y2: int, color: Color) -> None:
    """SDL_gfx's anti-aliased line without its end point (as a polygon edge): Wu's algorithm
    with a 32-bit error accumulator whose top 8 bits weight the pixel pair straddling the
    line; the first point is drawn opaque."""
    h, w = canvas.shape[:2]
    clipped = _clip_line(x1, y1, x2, y2, w, h)
    if clipped is None:
        return
    x1, y1, x2, y2 = clipped
    xx0, yy0, xx1, yy1 = (x2, y2, x1, y1) if y1 > y2 else (x1, y1, x2, y2)
    dx, dy = xx1 - xx0, yy1 - yy0
    if dx == 0:
        if dy > 0:
            _vline(canvas, x1, yy0, yy0 + dy, color)
        else:
            _put(canvas, [x1], [y1], color, 255)
        return
    if dy == 0:
        _hline(canvas, xx0, xx0 + dx, y1, color)
        return
    xdir = 1 if dx >= 0 else -1
    dx = abs(dx)
    major, minor = (dy, dx) if dy > dx else (dx, dy)
    erradj = (((minor << 16) // major) << 16) & 0xFFFFFFFF
    k = np.arange(1, major, dtype=np.int64)
    acc = (k * erradj) & 0xFFFFFFFF
    steps = k if erradj == 0 else (k * erradj) >> 32
    wgt = (acc >> 24) & 255
    alpha = np.concatenate([[255], (255 * (255 - wgt)) >> 8, (255 * wgt) >> 8])
    if dy > dx:
        px, py = xx0 + xdir * steps, yy0 + k
        xs, ys = np.concatenate([[x1], px, px + xdir]), np.concatenate([[y1], py, py])
    else:
        px, py = xx0 + xdir * k, yy0 + steps
        xs, ys = np.concatenate([[x1], px, px]), np.concatenate([[y1], py, py + 1])
    _put(canvas, xs, ys, color, alpha)  # the pixels are distinct: one step each


def _aa_polygon(canvas: np.ndarray, vx: Sequence[int], vy: Sequence[int], color: Color) -> None:
    """SDL_gfx's anti-aliased polygon outline: its edges in order, the last closing it."""
    n = len(vx)
    for i in range(n):
        j = (i + 1) % n
        _aa_line(canvas, vx[i], vy[i], vx[j], vy[j], color)


@functools.lru_cache(maxsize=32)
def _aa_circle_ops(r: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """The pixel writes of SDL_gfx's anti-aliased circle of radius ``r`` around the origin,
    as ``(dx, dy, alpha)`` layers: in each layer a pixel occurs at most once, and a pixel's
    writes keep their order across the layers (some pixels are written twice)."""
    ops: list[tuple[int, int, int]] = []
    solid, a2 = 255, r * r
    sab = math.sqrt(a2 + a2)
    ds = dt = 2 * a2

    def weighted(x: int, y: int, weight: int) -> None:
        ops.append((x, y, (255 * weight) >> 8))

    def weight_of(num: int, den: int) -> int:
        cp = np.float32(abs(num)) / np.float32(abs(den)) if den != 0 else np.float32(1.0)
        return int(np.float32(min(cp, np.float32(1.0))) * np.float32(255))

    xp, yp = 0, -r
    t, s, d = 0, -2 * a2 * r, 0
    ops += [(xp, yp, solid), (-xp, yp, solid), (xp, -yp, solid), (-xp, -yp, solid)]
    for _ in range(round(a2 / sab)):
        xp -= 1
        d += t - a2
        if d >= 0:
            ys = yp - 1
        elif d - s - a2 > 0:
            if 2 * d - s - a2 >= 0:
                ys = yp + 1
            else:
                ys = yp
                yp += 1
                d -= s + a2
                s += ds
        else:
            yp += 1
            ys = yp + 1
            d -= s + a2
            s += ds
        t -= dt
        wt = weight_of(d, s)
        for x, y, wgt in ((xp, yp, 255 - wt), (-xp, yp, 255 - wt), (xp, ys, wt), (-xp, ys, wt)):
            weighted(x, y, wgt)
        for x, y, wgt in ((xp, -yp, 255 - wt), (-xp, -yp, 255 - wt), (xp, -ys, wt), (-xp, -ys, wt)):
            weighted(x, y, wgt)
    for _ in range(round(a2 / sab)):
        yp += 1
        d -= s + a2
        if d <= 0:
            xs = xp + 1
        elif d + t - a2 < 0:
            if 2 * d + t - a2 <= 0:
                xs = xp - 1
            else:
                xs = xp
                xp -= 1
                d += t - a2
                t -= dt
        else:
            xp -= 1
            xs = xp - 1
            d += t - a2
            t -= dt
        s += ds
        wt = weight_of(d, t)
        for x, y, wgt in ((xp, yp, 255 - wt), (-xp, yp, 255 - wt), (xp, -yp, 255 - wt)):
            weighted(x, y, wgt)
        for x, y, wgt in ((-xp, -yp, 255 - wt), (xs, yp, wt), (-xs, yp, wt)):
            weighted(x, y, wgt)
        for x, y, wgt in ((xs, -yp, wt), (-xs, -yp, wt)):
            weighted(x, y, wgt)
    seen: dict[tuple[int, int], int] = {}
    layers: list[list[tuple[int, int, int]]] = []
    for x, y, a in ops:
        n = seen.get((x, y), 0)
        seen[(x, y)] = n + 1
        if n == len(layers):
            layers.append([])
        layers[n].append((x, y, a))
    return tuple(tuple(np.array(c, dtype=np.int64) for c in zip(*layer)) for layer in layers)


def _aa_circle(canvas: np.ndarray, x: int, y: int, r: int, color: Color) -> None:
    """SDL_gfx's anti-aliased circle outline of radius ``r`` (px) centred on ``(x, y)``."""
    if r <= 0:
        if r == 0:
            _put(canvas, [x], [y], color, 255)
        return
    for dx, dy, alpha in _aa_circle_ops(r):
        _put(canvas, x + dx, y + dy, color, alpha)


@functools.lru_cache(maxsize=32)
def _disc_mask(r: int) -> np.ndarray:
    """The ``[2r+1, 2r+1]`` pixels of SDL_gfx's filled circle of radius ``r``: its midpoint
    algorithm draws the rows at ``±cy`` once, with the run ``±cx`` of the first step that
    reaches that ``cy``, and the rows at ``±cx`` with the run ``±cy`` (not the exact disc)."""
    mask = np.zeros((2 * r + 1, 2 * r + 1), dtype=bool)
    cx, cy, df, d_e, d_se = 0, r, 1 - r, 3, -2 * r + 5
    ocx = ocy = -1
    while True:
        if ocy != cy:
            mask[r + cy, r - cx : r + cx + 1] = mask[r - cy, r - cx : r + cx + 1] = True
            ocy = cy
        if ocx != cx:
            if cx != cy:
                mask[r + cx, r - cy : r + cy + 1] = mask[r - cx, r - cy : r + cy + 1] = True
            ocx = cx
        if df < 0:
            df, d_e, d_se = df + d_e, d_e + 2, d_se + 2
        else:
            df, d_e, d_se, cy = df + d_se, d_e + 2, d_se + 4, cy - 1
        cx += 1
        if cx > cy:
            return mask


def _filled_circle(canvas: np.ndarray, x: int, y: int, r: int, color: Color) -> None:
    """SDL_gfx's filled circle of radius ``r`` (px) centred on ``(x, y)``, opaque."""
    h, w = canvas.shape[:2]
    mask = _disc_mask(max(r, 0))
    y0, x0 = y - r, x - r
    ya, yb = max(y0, 0), min(y0 + mask.shape[0], h)
    xa, xb = max(x0, 0), min(x0 + mask.shape[1], w)
    if ya < yb and xa < xb:
        canvas[ya:yb, xa:xb][mask[ya - y0 : yb - y0, xa - x0 : xb - x0]] = color


# --- Gymnasium's torque arrow ----------------------------------------------------------------
# pygame.transform.smoothscale's x86-64 (SSE) filters, pygame 2.x src_c/scale_mmx64_gcc.c:
# shrinking averages areas in 2^14 fixed point, growing interpolates with 8-bit weights; x
# first, then y.


@functools.lru_cache(maxsize=64)
def _shrink_plan(n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The area-averaging shrink along one axis from ``n_src`` to ``n_dst`` samples: for each
    output, the source sample that straddles its far boundary, that sample's weight before the
    boundary and after it (2^14 units; the part after goes to the next output); the samples
    in between count whole. Last, the 2^14-unit reciprocal of the output width."""
    space = 0x4000 * n_src // n_dst
    ends, before, after = [], [], []
    counter = space
    for i in range(n_src):
        if counter > 0x4000:
            counter -= 0x4000
        else:
            ends.append(i)
            before.append(counter)
            after.append(0x4000 - counter)
            counter += space - 0x4000
    as_array = functools.partial(np.array, dtype=np.int64)
    return as_array(ends), as_array(before), as_array(after), 0x40000000 // space


def _shrink(v: np.ndarray, n_dst: int) -> np.ndarray:
    """Area-averaging shrink of the last axis of ``v`` (uint8) to ``n_dst`` samples."""
    ends, before, after, recip = _shrink_plan(v.shape[-1], n_dst)
    v = v.astype(np.int64)
    prefix = np.concatenate([np.zeros(v.shape[:-1] + (1,), np.int64), v.cumsum(-1)], axis=-1)
    starts = np.concatenate([[0], ends[:-1] + 1])
    straddling = v[..., ends] * 4
    acc = prefix[..., ends] - prefix[..., starts]  # the whole samples
    acc[..., 1:] += (straddling[..., :-1] * after[:-1]) >> 16  # the previous one's remainder
    total = ((acc & 0xFFFF) + ((straddling * before) >> 16)) & 0xFFFF
    out = (total * recip) >> 16
    return np.where(out < 256, out, np.where(out < 0x8000, 255, 0)).astype(np.uint8)


def _expand(v: np.ndarray, n_dst: int) -> np.ndarray:
    """Bilinear growth of the last axis of ``v`` (uint8) to ``n_dst`` samples, 8-bit weights."""
    n_src = v.shape[-1]
    x = np.arange(n_dst)
    idx = x * (n_src - 1) // n_dst
    m1 = 0x100 * ((x * (n_src - 1)) % n_dst) // n_dst
    v = v.astype(np.int64)
    return ((v[..., idx] * (0x100 - m1) + v[..., idx + 1] * m1) >> 8).astype(np.uint8)


def _smoothscale(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """``img`` (uint8 ``[h, w]``) scaled to ``[height, width]`` as pygame's smoothscale."""
    if width <= 0 or height <= 0:
        return np.zeros((max(height, 0), max(width, 0)), dtype=np.uint8)
    out = img
    if width < out.shape[1]:
        out = _shrink(out, width)
    elif width > out.shape[1]:
        out = _expand(out, width)
    if height < out.shape[0]:
        out = _shrink(out.T, height).T
    elif height > out.shape[0]:
        out = _expand(out.T, height).T
    return out


@functools.lru_cache(maxsize=1)
def _arrow_alpha() -> Optional[np.ndarray]:
    """Gymnasium's torque-arrow image's alpha (uint8 ``[h, w]``; the image is black), read
    with matplotlib; None, with a warning, when it cannot be read."""
    try:
        from importlib.resources import files

        import matplotlib.image

        package, name = ARROW_IMAGE
        with (files(package) / name).open("rb") as f:
            rgba = matplotlib.image.imread(f, format="png")
    except (ImportError, OSError, ValueError) as e:
        warnings.warn(
            f"cannot read Gymnasium's torque arrow {ARROW_IMAGE[1]!r} ({e}); Pendulum frames "
            "are drawn without it",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return np.round(np.asarray(rgba)[..., 3] * 255).astype(np.uint8)


@functools.lru_cache(maxsize=256)
def _arrow(size: int, mirrored: bool) -> Optional[np.ndarray]:
    """The arrow's alpha scaled to ``size`` px square, mirrored left-right when ``mirrored``,
    in the canvas' row order (upside down: Gymnasium flips it before its final flip)."""
    alpha = _arrow_alpha()
    if alpha is None:
        return None
    out = _smoothscale(alpha, size, size)[::-1]
    out = out[:, ::-1] if mirrored else out
    out.setflags(write=False)
    return out


def _blit_black(canvas: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Blend black with per-pixel ``alpha`` (uint8 ``[h, w]``) onto ``canvas`` with its top-left
    corner at ``(x, y)`` (SDL's blend of an RGBA image onto an RGB surface)."""
    h, w = canvas.shape[:2]
    ya, yb, xa, xb = max(y, 0), min(y + alpha.shape[0], h), max(x, 0), min(x + alpha.shape[1], w)
    if ya >= yb or xa >= xb:
        return
    a = alpha[ya - y : yb - y, xa - x : xb - x, None].astype(np.int64)
    d = canvas[ya:yb, xa:xb].astype(np.int64)
    canvas[ya:yb, xa:xb] = d + ((-d * a) >> 8)


# --- CartPole and Pendulum frames ----------------------------------------------------------


def _state_vector(state: Any, names: tuple[str, ...], system: str) -> np.ndarray:
    """``state`` as a float64 ``[len(names)]`` array of finite reals (ValueError otherwise)."""
    try:
        s = np.asarray(state, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{system} state must be {len(names)} reals {names}, got {state!r}") from e
    if s.shape != (len(names),):
        raise ValueError(
            f"{system} state must have shape ({len(names)},) {names}, got shape {s.shape}"
        )
    if not np.isfinite(s).all():
        raise ValueError(f"{system} state must be finite, got {s.tolist()}")
    return s


def _rotate(points: Sequence[tuple[float, float]], angle: float) -> list[tuple[float, float]]:
    """``points`` rotated by ``angle`` (rad) as ``pygame.math.Vector2.rotate_rad`` does it:
    the angle reduced to ``[0, 2π)``, exact quarter turns within 1e-6 rad, else cos/sin."""
    angle = math.fmod(angle, 2 * math.pi)
    if angle < 0:
        angle += 2 * math.pi
    eps = 1e-6
    if math.fmod(angle + eps, math.pi / 2) < 2 * eps:
        quarter = int((angle + eps) / (math.pi / 2)) % 4
        turn = [lambda x, y: (x, y), lambda x, y: (-y, x), lambda x, y: (-x, -y)]
        turn.append(lambda x, y: (y, -x))
        return [turn[quarter](x, y) for x, y in points]
    c, s = math.cos(angle), math.sin(angle)
    return [(c * x - s * y, s * x + c * y) for x, y in points]


def _polygon(canvas: np.ndarray, points: Sequence[tuple[float, float]], color: Color) -> None:
    """Gymnasium's polygon: the anti-aliased outline, then the fill over it."""
    vx = [_int16(x) for x, _ in points]
    vy = [_int16(y) for _, y in points]
    _aa_polygon(canvas, vx, vy, color)
    _fill_polygon(canvas, vx, vy, color)


def _circle(canvas: np.ndarray, x: int, y: int, r: int, color: Color) -> None:
    """Gymnasium's circle: the anti-aliased outline, then the filled disc over it."""
    _aa_circle(canvas, _int16(x), _int16(y), r, color)
    _filled_circle(canvas, _int16(x), _int16(y), r, color)


def cartpole_frame(
    state: np.ndarray, params: CartPoleParams, last_action: Optional[float] = None
) -> np.ndarray:
    """One CartPole frame, as Gymnasium's ``CartPoleEnv.render()`` in ``rgb_array`` mode.

    Geometry (Gymnasium 1.x ``cartpole.py``): a 600×400 white screen showing
    ``±x_threshold`` (125 px/m by default); a black 50×30 px cart centred on row 100 (counted
    from the bottom after the flip) at ``x·scale + 300``; a (202, 152, 101) pole 10 px wide
    and ``2l·scale`` long, pivoted 7.5 px above the cart's centre, rotated by θ and reaching
    half its width behind the axle; a (129, 132, 203) axle of radius 5 px; a black track line
    through the cart's centre. Pixels follow pygame.gfxdraw's rules (see the module's
    docstring), so frames equal Gymnasium's but for rounding in anti-aliased pixels.

    Args:
        state: ``(x, x_dot, theta, theta_dot)`` in m, m/s, rad, rad/s (float64 ``[4]``).
        params: A ``CartPoleParams`` (or any object with ``x_threshold`` and ``length``, m):
            ``x_threshold`` sets the scale, ``length`` (half the pole) the pole's length.
        last_action: Unused (CartPole draws no action); accepted for the common signature.

    Returns:
        uint8 ``[400, 600, 3]``, RGB.

    Raises:
        ValueError: ``state`` is not 4 finite reals, or a parameter is not positive.
    """
    del last_action
    x = _state_vector(state, ("x", "x_dot", "theta", "theta_dot"), "CartPole")
    x_threshold, length = float(params.x_threshold), float(params.length)
    if not (x_threshold > 0 and length > 0):
        raise ValueError(
            f"CartPole params must have x_threshold > 0 and length > 0, got "
            f"x_threshold={x_threshold}, length={length}"
        )
    width, height = CARTPOLE_SCREEN
    scale = _cartpole_scale(x_threshold)
    polewidth, polelen = POLE_WIDTH_PX, scale * (2 * length)
    cartwidth, cartheight = CART_SIZE_PX
    frame = np.full((height, width, 3), 255, dtype=np.uint8)
    canvas = frame[::-1]  # drawn in pygame's rows; the frame is Gymnasium's flip of them

    left, right, top, bottom = -cartwidth / 2, cartwidth / 2, cartheight / 2, -cartheight / 2
    corners = [(left, bottom), (left, top), (right, top), (right, bottom)]
    cartx, carty = x[0] * scale + width / 2.0, CART_Y_PX
    cart = [(cx + cartx, cy + carty) for cx, cy in corners]
    _polygon(canvas, cart, CART_COLOR)

    left, right, top, bottom = (
        -polewidth / 2,
        polewidth / 2,
        polelen - polewidth / 2,
        -polewidth / 2,
    )
    pole = _rotate([(left, bottom), (left, top), (right, top), (right, bottom)], -x[2])
    _polygon(canvas, [(px + cartx, py + carty + AXLE_OFFSET_PX) for px, py in pole], POLE_COLOR)

    _circle(canvas, int(cartx), int(carty + AXLE_OFFSET_PX), int(polewidth / 2), AXLE_COLOR)
    _hline(canvas, 0, width, carty, TRACK_COLOR)
    return frame


def pendulum_frame(
    state: np.ndarray, params: PendulumParams, last_action: Optional[float] = None
) -> np.ndarray:
    """One Pendulum frame, as Gymnasium's ``PendulumEnv.render()`` in ``rgb_array`` mode.

    Geometry (Gymnasium 1.x ``pendulum.py``): a 500×500 white screen showing ±2.2 screen
    units around the pivot (113.6 px/unit); a (204, 77, 77) rod 1 unit long and 0.2 wide
    from the pivot, rotated by θ, with discs of radius ``int(0.1·scale)`` = 11 px at both
    ends; Gymnasium's ``clockwise.png`` arrow scaled to ``scale·|u|/2`` px square, centred on
    the pivot and mirrored left-right for ``u > 0``; a black axle of radius 5 px. The rod's
    drawn length does not depend on ``l`` (Gymnasium does not use it). Pixels follow
    pygame.gfxdraw's and smoothscale's rules (see the module's docstring). The arrow image is
    read from the installed Gymnasium with matplotlib; without it the frame has no arrow (a
    RuntimeWarning says so once).

    Args:
        state: ``(theta, theta_dot)`` in rad, rad/s (float64 ``[2]``).
        params: A ``PendulumParams`` (or any object with ``max_torque``, N·m, and optionally
            ``clip_torque``): the torque is clipped to ``±max_torque`` when ``clip_torque``
            (default True), as the torque Gymnasium draws is the clipped one.
        last_action: The last torque, N·m (a real or a one-element array), or None for no
            arrow (as Gymnasium after ``reset``).

    Returns:
        uint8 ``[500, 500, 3]``, RGB.

    Raises:
        ValueError: ``state`` is not 2 finite reals, or ``last_action`` is not one finite
            real.
    """
    th = _state_vector(state, ("theta", "theta_dot"), "Pendulum")[0]
    u = None
    if last_action is not None:
        a = np.asarray(last_action, dtype=np.float64).reshape(-1)
        if a.shape != (1,) or not np.isfinite(a[0]):
            raise ValueError(
                f"Pendulum last_action must be one finite torque (N·m) or None, got {last_action!r}"
            )
        u = float(a[0])
        if getattr(params, "clip_torque", True):
            u = float(np.clip(u, -float(params.max_torque), float(params.max_torque)))
    dim = PENDULUM_SCREEN
    scale = dim / (PENDULUM_BOUND * 2)
    offset = dim // 2
    frame = np.full((dim, dim, 3), 255, dtype=np.uint8)
    canvas = frame[::-1]  # drawn in pygame's rows; the frame is Gymnasium's flip of them

    rod_length, rod_width = ROD_LENGTH * scale, ROD_WIDTH * scale
    left, right, top, bottom = 0, rod_length, rod_width / 2, -rod_width / 2
    rod = _rotate([(left, bottom), (left, top), (right, top), (right, bottom)], th + np.pi / 2)
    _polygon(canvas, [(x + offset, y + offset) for x, y in rod], ROD_COLOR)
    _circle(canvas, offset, offset, int(rod_width / 2), ROD_COLOR)
    ((ex, ey),) = _rotate([(rod_length, 0)], th + np.pi / 2)
    _circle(canvas, int(ex + offset), int(ey + offset), int(rod_width / 2), ROD_COLOR)

    if u is not None:
        size = int(float(scale * abs(u) / 2))
        arrow = _arrow(size, u > 0) if size > 0 else None
        if arrow is not None:
            _blit_black(canvas, arrow, offset - size // 2, offset - size // 2)

    axle = int(PENDULUM_AXLE_RADIUS * scale)
    _circle(canvas, offset, offset, axle, PENDULUM_AXLE_COLOR)
    return frame


# --- Acrobot frame ---------------------------------------------------------------------------
# Facts from Gymnasium 1.x, gymnasium/envs/classic_control/acrobot.py (AcrobotEnv.render).

ACROBOT_SCREEN = 500
"""Acrobot's square screen side, px."""
ACROBOT_MARGIN = 0.2
"""The screen shows ±(l1 + l2 + 0.2) m around the bar."""
ACROBOT_LINK_WIDTH = 0.2
"""Drawn width of each link, m."""
ACROBOT_JOINT_RADIUS = 0.1
"""Radius of the joint discs at each link's base, m (truncated to whole pixels)."""
ACROBOT_TARGET_LINE = (2.2, 1.0)
"""The target line's half-length and height above the bar, in Gymnasium's screen units
(fixed: 2.2 and 1.0 at any link lengths)."""
ACROBOT_LINK_COLOR: Color = (0, 204, 204)
ACROBOT_JOINT_COLOR: Color = (204, 204, 0)
ACROBOT_TARGET_COLOR: Color = (0, 0, 0)


def _acrobot_float32(s: np.ndarray) -> np.ndarray:
    """``s`` as float32 when its entries are all float32 values (Gymnasium holds its reset
    draw in float32 and draws it with float32 arithmetic), else as it is."""
    with np.errstate(over="ignore", invalid="ignore"):
        s32 = s.astype(np.float32)
    return s32 if (s32 == s).all() else s


def acrobot_frame(
    state: np.ndarray, params: AcrobotParams, last_action: Optional[float] = None
) -> np.ndarray:
    """One Acrobot frame, as Gymnasium's ``AcrobotEnv.render()`` in ``rgb_array`` mode.

    Geometry (Gymnasium 1.x ``acrobot.py``): a 500×500 white screen showing
    ``±(l1 + l2 + 0.2)`` m around the bar (113.6 px/m by default); a black one-pixel target
    line from −2.2 to 2.2 screen units at height 1.0 (pygame.draw.line's truncated end
    points); each link a (0, 204, 204) bar ``0.2`` m wide from its base, at ``θ1`` and
    ``θ1 + θ2`` from hanging down, with a (204, 204, 0) disc of radius ``int(0.1·scale)`` px
    (11 px) at its base, drawn in the order bar 1, disc 1, bar 2, disc 2. A state whose
    entries are all float32 values is drawn with float32 arithmetic, as Gymnasium draws its
    float32 reset state. Pixels follow pygame.gfxdraw's rules (see the module's docstring).

    Args:
        state: ``(θ1, θ2, θ̇1, θ̇2)`` in rad, rad, rad/s, rad/s (float64 ``[4]``).
        params: An ``AcrobotParams`` (or any object with ``link_length_1`` and
            ``link_length_2``, m): they set the scale and the links' drawn lengths.
        last_action: Unused (Gymnasium draws no action for the Acrobot); accepted for the
            common signature.

    Returns:
        uint8 ``[500, 500, 3]``, RGB.

    Raises:
        ValueError: ``state`` is not 4 finite reals, or a link length is not positive.
    """
    del last_action
    names = ("theta1", "theta2", "theta1_dot", "theta2_dot")
    s = _acrobot_float32(_state_vector(state, names, "Acrobot"))
    l1, l2 = float(params.link_length_1), float(params.link_length_2)
    if not (l1 > 0 and l2 > 0 and math.isfinite(l1 + l2)):
        raise ValueError(
            f"Acrobot params must have finite link_length_1 > 0 and link_length_2 > 0, got "
            f"link_length_1={l1}, link_length_2={l2}"
        )
    dim = ACROBOT_SCREEN
    scale = dim / ((l1 + l2 + ACROBOT_MARGIN) * 2)
    offset = dim / 2
    frame = np.full((dim, dim, 3), 255, dtype=np.uint8)
    canvas = frame[::-1]  # drawn in pygame's rows; the frame is Gymnasium's flip of them

    half, height = ACROBOT_TARGET_LINE
    ends = int(-half * scale + offset), int(half * scale + offset)
    _hline(canvas, *ends, int(height * scale + offset), ACROBOT_TARGET_COLOR)

    s0, s1 = s[0], s[1]
    elbow = (-l1 * np.cos(s0) * scale, l1 * np.sin(s0) * scale)
    bases = [(0.0, 0.0), (float(elbow[1]), float(elbow[0]))]
    angles = [s0 - np.pi / 2, s0 + s1 - np.pi / 2]
    radius = int(ACROBOT_JOINT_RADIUS * scale)
    for (bx, by), angle, length in zip(bases, angles, (l1 * scale, l2 * scale)):
        x, y = bx + offset, by + offset
        w = ACROBOT_LINK_WIDTH / 2 * scale
        link = _rotate([(0, -w), (0, w), (length, w), (length, -w)], float(angle))
        _polygon(canvas, [(px + x, py + y) for px, py in link], ACROBOT_LINK_COLOR)
        _circle(canvas, int(x), int(y), radius, ACROBOT_JOINT_COLOR)
    return frame


# --- MountainCar frame -----------------------------------------------------------------------
# Facts from Gymnasium 1.x, gymnasium/envs/classic_control/mountain_car.py and
# continuous_mountain_car.py (``render``, the same code for both; the flag stands at each
# one's goal_position). The track is drawn with ``pygame.draw.aalines``, whose segments
# follow pygame 2.x's own anti-aliased line (src_c/draw.c, ``draw_aaline``: float32
# arithmetic, a one-pixel-wide line blended into the surface, each endpoint weighted by its
# pixel's overlap); the car, its wheels and the flag are ``pygame.gfxdraw`` primitives.

MOUNTAIN_CAR_SCREEN = (600, 400)
"""MountainCar's ``(width, height)`` in pixels; the screen shows the whole track."""
MOUNTAIN_CAR_SIZE_PX = (40, 20)
"""The car's ``(width, height)``, px."""
MOUNTAIN_CAR_CLEARANCE_PX = 10
"""How far the car's bottom is drawn above the track, px."""
MOUNTAIN_CAR_TRACK_POINTS = 100
"""Number of points of the drawn track (a polyline over ``[min_position, max_position]``)."""
MOUNTAIN_CAR_FLAG_PX = (50, 25, 10)
"""The flag's pole height, its pennant's length and its pennant's height, px."""
MOUNTAIN_CAR_COLOR: Color = (0, 0, 0)
MOUNTAIN_CAR_WHEEL_COLOR: Color = (128, 128, 128)
MOUNTAIN_CAR_FLAG_COLOR: Color = (204, 204, 0)
MOUNTAIN_CAR_TRACK_COLOR: Color = (0, 0, 0)


def _blend_pixel(canvas: np.ndarray, x: int, y: int, color: Color, brightness: Any) -> None:
    """pygame's anti-aliased pixel: ``(Uint8)(b·c + (1 − b)·d)`` per channel in float32 (``d``
    the pixel's colour), nothing off the canvas."""
    h, w = canvas.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        return
    b = np.float32(brightness)
    d = canvas[y, x].tolist()
    canvas[y, x] = [int(b * c + (1 - b) * di) & 0xFF for c, di in zip(color, d)]


def _pg_aaline(
    canvas: np.ndarray, from_x: float, from_y: float, to_x: float, to_y: float, color: Color
) -> None:
    """One segment of ``pygame.draw.aalines`` (blend on), in pygame 2.x's float32 steps: the
    end points are rounded to float32, the segment clipped to a one-pixel-wider canvas, each
    column (row, for a steep segment) weighted between the two pixels it straddles, the end
    pixels weighted by their overlap with the segment."""
    f32 = np.float32
    h, w = canvas.shape[:2]
    fx, fy, tx, ty = f32(from_x), f32(from_y), f32(to_x), f32(to_y)
    dx, dy = tx - fx, ty - fy
    if abs(float(dx)) < 0.0001 and abs(float(dy)) < 0.0001:
        _blend_pixel(canvas, math.floor(float(fx) + 0.5), math.floor(float(fy) + 0.5), color, 1.0)
        return
    clip_left, clip_top = f32(-1.0), f32(-1.0)
    clip_right, clip_bottom = clip_left + w + f32(1.0), clip_top + h + f32(1.0)
    steep = abs(dx) < abs(dy)
    if steep:
        fx, fy, tx, ty, dx, dy = fy, fx, ty, tx, dy, dx
        clip_left, clip_top, clip_right, clip_bottom = clip_top, clip_left, clip_bottom, clip_right
    if dx < 0:
        fx, tx, fy, ty, dx, dy = tx, fx, ty, fy, -dx, -dy
    if tx <= clip_left or fx >= clip_right:
        return
    gradient = dy / dx
    if fx < clip_left:
        fy += gradient * (clip_left - fx)
        fx = clip_left
    if tx > clip_right:
        ty += gradient * (clip_right - tx)
        tx = clip_right
    if gradient > 0:
        if ty <= clip_top or fy >= clip_bottom:
            return
        if fy < clip_top:
            fx += (clip_top - fy) / gradient
            fy = clip_top
        if ty > clip_bottom:
            tx += (clip_bottom - ty) / gradient
            ty = clip_bottom
    else:
        if fy <= clip_top or ty >= clip_bottom:
            return
        if ty < clip_top:
            tx += (clip_top - ty) / gradient
            ty = clip_top
        if fy > clip_bottom:
            fx += (clip_bottom - fy) / gradient
            fy = clip_bottom
    fy, ty = fy + f32(1.0), ty + f32(1.0)  # one pixel down: int() then rounds down

    def plot(major: int, minor: int, brightness: Any) -> None:
        if steep:
            _blend_pixel(canvas, minor, major, color, brightness)
        else:
            _blend_pixel(canvas, major, minor, color, brightness)

    def endpoint(major: int, y_end: Any, gap: Any) -> None:
        minor = int(y_end)
        brightness = y_end - minor
        if minor < y_end:
            plot(major, minor, brightness * gap)
        plot(major, minor - 1, (1 - brightness) * gap)

    start = int(fx)
    intersect = fy + gradient * (start - fx)
    if tx > clip_left + f32(1.0):
        endpoint(start, intersect, 1 + start - fx)
        intersect += gradient
        start += 1
    end = math.ceil(float(tx))
    if fx < clip_right - f32(1.0):
        endpoint(end, ty + gradient * (end - tx), (1 - end) + tx)
    for major in range(start, end):
        minor = int(intersect)
        brightness = 1 - intersect + minor
        plot(major, minor - 1, brightness)
        if minor < intersect:
            plot(major, minor, 1 - brightness)
        intersect += gradient


def _mountain_car_height(x: Any) -> Any:
    """Gymnasium's ``_height``: ``sin(3x)·0.45 + 0.55`` with NumPy's ``sin`` (in float32 for a
    float32 ``x``)."""
    return np.sin(3 * x) * 0.45 + 0.55


@functools.lru_cache(maxsize=8)
def _mountain_car_track(min_position: float, max_position: float) -> np.ndarray:
    """The white screen with the track drawn (the frame's rows, read-only), for a track's
    ends in m: Gymnasium's 100-point polyline, ``pygame.draw.aalines`` segment by segment."""
    width, height = MOUNTAIN_CAR_SCREEN
    scale = width / (max_position - min_position)
    frame = np.full((height, width, 3), 255, dtype=np.uint8)
    canvas = frame[::-1]
    xs = np.linspace(min_position, max_position, MOUNTAIN_CAR_TRACK_POINTS)
    ys = _mountain_car_height(xs)
    px, py = ((xs - min_position) * scale).tolist(), (ys * scale).tolist()
    for i in range(1, len(px)):
        _pg_aaline(canvas, px[i - 1], py[i - 1], px[i], py[i], MOUNTAIN_CAR_TRACK_COLOR)
    frame.setflags(write=False)
    return frame


def mountain_car_frame(
    state: np.ndarray, params: Any, last_action: Optional[float] = None
) -> np.ndarray:
    """One MountainCar (or MountainCarContinuous) frame, as Gymnasium's ``render()`` in
    ``rgb_array`` mode.

    Geometry (Gymnasium 1.x ``mountain_car.py``, ``continuous_mountain_car.py``): a 600×400
    white screen showing the track ``[min_position, max_position]`` (333.3 px/m by default);
    the track, 100 points of the height ``0.45·sin(3x) + 0.55`` scaled alike, as a black
    anti-aliased polyline; a black 40×20 px car 10 px above the track at the car's position,
    turned by ``cos(3x)`` rad (Gymnasium's angle: not the track's slope); two grey wheels of
    radius 8 px a quarter of the car's width from its centre; at ``goal_position`` a black
    pole 50 px high with a (204, 204, 0) pennant 25×10 px. Pixels follow pygame.gfxdraw's and
    pygame.draw.aalines' rules (see the module's docstring and the section's comment).
    Where the parameters round to float32 (``float32_rounding``, MountainCarContinuous) and
    the position is a float32 value, the car's coordinates are computed in float32, as
    Gymnasium's float32 state makes them.

    Args:
        state: ``(position, velocity)`` in m, m/s (float64 ``[2]``).
        params: A ``MountainCarParams`` or ``ContinuousMountainCarParams`` (or any object with
            ``min_position``, ``max_position`` and ``goal_position``, m).
        last_action: Unused (Gymnasium draws no action); accepted for the common signature.

    Returns:
        uint8 ``[400, 600, 3]``, RGB.

    Raises:
        ValueError: ``state`` is not 2 finite reals, or ``min_position`` is not below
            ``max_position``.
    """
    del last_action
    pos = float(_state_vector(state, ("position", "velocity"), "MountainCar")[0])
    lo, hi = float(params.min_position), float(params.max_position)
    goal = float(params.goal_position)
    if not lo < hi:
        raise ValueError(
            f"MountainCar params must have min_position < max_position, got {lo} and {hi}"
        )
    if getattr(params, "float32_rounding", False) and pos == float(np.float32(pos)):
        pos = np.float32(pos)  # Gymnasium's float32 state computes the car in float32
    width, _ = MOUNTAIN_CAR_SCREEN
    scale = width / (hi - lo)
    frame = _mountain_car_track(lo, hi).copy()
    canvas = frame[::-1]  # drawn in pygame's rows; the frame is Gymnasium's flip of them

    carwidth, carheight = MOUNTAIN_CAR_SIZE_PX
    clearance = MOUNTAIN_CAR_CLEARANCE_PX
    angle = math.cos(3 * pos)
    left, right, top, bottom = -carwidth / 2, carwidth / 2, carheight, 0
    corners = _rotate([(left, bottom), (left, top), (right, top), (right, bottom)], angle)
    car_x = (pos - lo) * scale
    car_y = _mountain_car_height(pos) * scale
    _polygon(
        canvas, [(cx + car_x, cy + clearance + car_y) for cx, cy in corners], MOUNTAIN_CAR_COLOR
    )
    for cx, cy in _rotate([(carwidth / 4, 0), (-carwidth / 4, 0)], angle):
        wheel_x, wheel_y = int(cx + car_x), int(cy + clearance + car_y)
        _circle(canvas, wheel_x, wheel_y, int(carheight / 2.5), MOUNTAIN_CAR_WHEEL_COLOR)

    pole, length, pennant = MOUNTAIN_CAR_FLAG_PX
    flag_x = int((goal - lo) * scale)
    flag_y1 = int(_mountain_car_height(goal) * scale)
    flag_y2 = flag_y1 + pole
    _vline(canvas, flag_x, flag_y1, flag_y2, MOUNTAIN_CAR_COLOR)
    pennant_points = [
        (flag_x, flag_y2),
        (flag_x, flag_y2 - pennant),
        (flag_x + length, flag_y2 - pennant // 2),
    ]
    _polygon(canvas, pennant_points, MOUNTAIN_CAR_FLAG_COLOR)
    return frame


@dataclasses.dataclass(frozen=True)
class _Lengths:
    """The parameters the compatibility wrappers pass to the frame functions."""

    length: float = 0.5
    x_threshold: float = 2.4
    max_torque: float = 2.0
    clip_torque: bool = True


def _resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` resampled (nearest pixel) to ``size = (height, width)``."""
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be (height, width) in pixels, both positive, got {size}")
    if (h, w) == frame.shape[:2]:
        return frame
    rows = np.arange(h) * frame.shape[0] // h
    cols = np.arange(w) * frame.shape[1] // w
    return np.ascontiguousarray(frame[rows[:, None], cols[None, :]])


def render_cartpole(
    state: Sequence[float], length: float = 0.5, size: tuple[int, int] = (400, 600)
) -> np.ndarray:
    """Deprecated: use :func:`cartpole_frame`. A CartPole frame of Gymnasium's geometry with
    ``x_threshold = 2.4`` m and the pole's half-length ``length`` (m), resampled to
    ``size = (height, width)`` when that is not 400×600; uint8 ``[H, W, 3]``."""
    return _resized(cartpole_frame(state, _Lengths(length=float(length))), size)


def render_pendulum(
    state: Sequence[float],
    length: float = 1.0,
    size: tuple[int, int] = (500, 500),
    last_action: Optional[float] = None,
) -> np.ndarray:
    """Deprecated: use :func:`pendulum_frame`. A Pendulum frame of Gymnasium's geometry
    (``length`` is accepted and, as in Gymnasium's drawing, unused), with the torque arrow of
    ``last_action`` (N·m, clipped to ±2) if given, resampled to ``size = (height, width)``
    when that is not 500×500; uint8 ``[H, W, 3]``."""
    del length
    return _resized(pendulum_frame(state, _Lengths(), last_action), size)


def cartpole_shapes(state: Sequence[float], length: float = 0.5) -> list[Shape]:
    """The shapes of :func:`cartpole_geometry` (track, cart, pole, axle), for
    :func:`rasterize`."""
    g = cartpole_geometry(state, length)
    return [
        Shape("line", g["track"], TRACK_COLOR, width=0.01),
        Shape("polygon", g["cart"], CART_COLOR),
        Shape("polygon", g["pole"], POLE_COLOR),
        Shape("circle", g["axle"][None], AXLE_COLOR, radius=POLE_WIDTH / 2),
    ]


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


# --- human mode ------------------------------------------------------------------------------


class HumanWindow:
    """A pygame window showing frames, as Gymnasium's ``render_mode="human"``.

    The window opens on the first :meth:`show`; each call blits the frame, pumps pygame's
    events and waits on a clock ticking at ``fps`` before flipping the display, the order of
    Gymnasium's classic-control envs. pygame is imported here only (``pip install
    "diffsim[render]"``).

    Args:
        title: The window's caption.
        width, height: The window's size in pixels; frames must be ``[height, width, 3]``.

    Raises:
        gymnasium.error.DependencyNotInstalled: pygame is not installed.
        ValueError: ``width`` or ``height`` is not a positive integer.
    """

    def __init__(self, title: str, width: int, height: int) -> None:
        if int(width) != width or int(height) != height or width <= 0 or height <= 0:
            raise ValueError(
                f"HumanWindow needs a positive integer width and height, got {width}×{height}"
            )
        self._pygame = _import_pygame()
        self.title, self.width, self.height = str(title), int(width), int(height)
        self._screen: Any = None
        self._clock: Any = None

    @property
    def is_open(self) -> bool:
        """Whether the window is open (after the first :meth:`show`, before :meth:`close`)."""
        return self._screen is not None

    def show(self, frame: np.ndarray, fps: int) -> None:
        """Show ``frame`` (uint8 ``[height, width, 3]``), then wait for the next tick of a
        clock at ``fps`` frames per second.

        Raises:
            ValueError: ``frame`` has another shape or dtype, or ``fps`` is not positive.
        """
        frame = np.asarray(frame)
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"HumanWindow {self.title!r} shows uint8 frames of shape "
                f"({self.height}, {self.width}, 3), got {frame.dtype} {frame.shape}"
            )
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        pygame = self._pygame
        if self._screen is None:
            pygame.display.init()
            pygame.display.set_caption(self.title)
            self._screen = pygame.display.set_mode((self.width, self.height))
            self._clock = pygame.time.Clock()
        surface = pygame.surfarray.make_surface(np.swapaxes(frame, 0, 1))
        self._screen.blit(surface, (0, 0))
        pygame.event.pump()
        self._clock.tick(fps)
        pygame.display.flip()

    def close(self) -> None:
        """Close the window (if open); a later :meth:`show` opens a new one."""
        if self._screen is not None:
            self._pygame.display.quit()
            self._screen = self._clock = None


def _import_pygame() -> Any:
    """pygame, or :class:`gymnasium.error.DependencyNotInstalled` naming the extra."""
    try:
        import pygame
    except ImportError as e:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled(
            'human rendering needs pygame; install it with `pip install "diffsim[render]"`'
        ) from e
    return pygame
