"""The app's two Teams icons, drawn from simple geometry so they need no design tool or Pillow.

The mark is a speech bubble carrying a check: a CRM you talk to. The PNGs are generated once
and committed under ``manifest/assets/`` (regenerate with ``python -m manifest.icons``): the
package build only reads them, they can be reviewed like any other file, and a designer may
replace them later. A test redraws them and compares pixels, so the code and the committed
files cannot drift apart unnoticed while this drawing is the source.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from manifest.png import RGBA, encode_rgba

COLOR_SIZE = 192
OUTLINE_SIZE = 32
ACCENT = (0x0F, 0x76, 0x6E)  # teal: readable under white, unlike Teams' own purple
WHITE = (0xFF, 0xFF, 0xFF)

ASSETS = Path(__file__).resolve().parent / "assets"
COLOR_FILE = "color.png"
OUTLINE_FILE = "outline.png"

Point = tuple[float, float]
Distance = Callable[[float, float], float]


def accent_hex() -> str:
    """The accent colour as the manifest's ``accentColor`` wants it, so both stay one value."""
    return "#{:02x}{:02x}{:02x}".format(*ACCENT)


def _rounded_box(cx: float, cy: float, hx: float, hy: float, radius: float) -> Distance:
    def distance(x: float, y: float) -> float:
        qx = abs(x - cx) - hx + radius
        qy = abs(y - cy) - hy + radius
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        return outside + min(max(qx, qy), 0.0) - radius

    return distance


def _convex_polygon(*corners: Point) -> Distance:
    """Exact inside and along edges, bevelled beyond corners: enough for one pixel of anti-alias."""
    cx = sum(x for x, _ in corners) / len(corners)
    cy = sum(y for _, y in corners) / len(corners)
    edges = []
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True):
        nx, ny = by - ay, ax - bx
        length = math.hypot(nx, ny)
        nx, ny = nx / length, ny / length
        if (cx - ax) * nx + (cy - ay) * ny > 0:  # make every normal point outwards
            nx, ny = -nx, -ny
        edges.append((ax, ay, nx, ny))

    def distance(x: float, y: float) -> float:
        return max((x - ax) * nx + (y - ay) * ny for ax, ay, nx, ny in edges)

    return distance


def _stroke(points: Sequence[Point], half_width: float) -> Distance:
    segments = list(itertools.pairwise(points))

    def to_segment(x: float, y: float, a: Point, b: Point) -> float:
        (ax, ay), (bx, by) = a, b
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
        return math.hypot(x - ax - t * dx, y - ay - t * dy)

    def distance(x: float, y: float) -> float:
        return min(to_segment(x, y, a, b) for a, b in segments) - half_width

    return distance


def _union(*shapes: Distance) -> Distance:
    return lambda x, y: min(shape(x, y) for shape in shapes)


# The mark in its own unit square: a bubble (body and tail) and a check inside it.
_BUBBLE = _union(
    _rounded_box(0.5, 0.42, 0.5, 0.36, 0.16),
    _convex_polygon((0.16, 0.66), (0.42, 0.76), (0.08, 0.98)),
)
_CHECK_PATH = ((0.28, 0.42), (0.44, 0.57), (0.74, 0.26))


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where the mark's unit square sits on the canvas, in pixels."""

    left: float
    top: float
    size: float

    def mark(self, px: float, py: float) -> Point:
        return (px - self.left) / self.size, (py - self.top) / self.size

    def coverage(self, shape: Distance, px: float, py: float) -> float:
        """How much of the pixel centred at (px, py) the shape covers, from its distance."""
        x, y = self.mark(px, py)
        return max(0.0, min(1.0, 0.5 - shape(x, y) * self.size))


def _mix(under: tuple[int, int, int], over: tuple[int, int, int], amount: float) -> RGBA:
    r, g, b = (round(u + (o - u) * amount) for u, o in zip(under, over, strict=True))
    return r, g, b, 255


def draw_color(size: int = COLOR_SIZE) -> list[list[RGBA]]:
    """Full-bleed accent background with a white bubble and an accent check.

    Teams asks for the symbol in the central half of the colour icon and rounds the corners
    itself, hence the square, opaque background and the generous margin.
    """
    frame = _Frame(left=size * 0.25, top=size * 0.25, size=size * 0.5)
    check = _stroke(_CHECK_PATH, 0.065)
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            px, py = x + 0.5, y + 0.5
            bubble = frame.coverage(_BUBBLE, px, py)
            pixel = _mix(ACCENT, WHITE, bubble)
            tick = frame.coverage(check, px, py) * bubble
            row.append(_mix(pixel[:3], ACCENT, tick))
        rows.append(row)
    return rows


def draw_outline(size: int = OUTLINE_SIZE) -> list[list[RGBA]]:
    """The same mark as white lines on transparency, nearly edge to edge as Teams asks.

    Every pixel is pure white; only alpha varies, so the anti-aliased edges stay white too.
    """
    frame = _Frame(left=size * 0.03, top=size * 0.03, size=size * 0.94)
    line = 1.0 / frame.size  # half a line width of one pixel: two-pixel lines
    ring = _BUBBLE
    check = _stroke(_CHECK_PATH, line * 1.1)
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            px, py = x + 0.5, y + 0.5
            mx, my = frame.mark(px, py)
            outline = abs(ring(mx, my) + line) - line  # a line just inside the bubble's edge
            distance = min(outline, check(mx, my))
            alpha = max(0.0, min(1.0, 0.5 - distance * frame.size))
            row.append((*WHITE, round(alpha * 255)))
        rows.append(row)
    return rows


def color_png() -> bytes:
    return encode_rgba(draw_color())


def outline_png() -> bytes:
    return encode_rgba(draw_outline())


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the committed icons after a change to the drawing."""
    target = Path(argv[0]) if argv else ASSETS
    target.mkdir(parents=True, exist_ok=True)
    (target / COLOR_FILE).write_bytes(color_png())
    (target / OUTLINE_FILE).write_bytes(outline_png())
    sys.stdout.write(f"wrote {target / COLOR_FILE} and {target / OUTLINE_FILE}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
