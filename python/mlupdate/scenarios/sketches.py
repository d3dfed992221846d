"""Hand-drawn-looking sketches for the `stickers` scenario, drawn with pillow.

Each sketch is a shape traced as a polyline with per-point jitter, random scale, rotation, offset and stroke
width, drawn white on black at 10x and box-downsampled to 28x28, the way MNIST-style drawing classifiers
expect their input. Deterministic for a given numpy Generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

SIZE = 28
_SCALE = 10

Outline = list[list[tuple[float, float]]]  # strokes of points in the unit square, y down


def _circle(
    cx: float, cy: float, r: float, start: float = 0.0, end: float = 2 * math.pi, n: int = 24
) -> list[tuple[float, float]]:
    return [
        (cx + r * math.cos(start + (end - start) * i / n), cy + r * math.sin(start + (end - start) * i / n))
        for i in range(n + 1)
    ]


def star() -> Outline:
    points = []
    for i in range(11):
        radius = 0.42 if i % 2 == 0 else 0.17
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((0.5 + radius * math.cos(angle), 0.52 + radius * math.sin(angle)))
    return [points]


def heart() -> Outline:
    points = []
    for i in range(41):
        t = 2 * math.pi * i / 40
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        points.append((0.5 + x / 40, 0.48 - y / 40))
    return [points]


def house() -> Outline:
    body = [(0.25, 0.45), (0.25, 0.85), (0.75, 0.85), (0.75, 0.45)]
    roof = [(0.18, 0.5), (0.5, 0.15), (0.82, 0.5)]
    door = [(0.45, 0.85), (0.45, 0.65), (0.57, 0.65), (0.57, 0.85)]
    return [body, roof, door]


def smiley() -> Outline:
    return [
        _circle(0.5, 0.5, 0.38),
        _circle(0.5, 0.5, 0.22, 0.2 * math.pi, 0.8 * math.pi, 12),
        _circle(0.36, 0.4, 0.03, n=6),
        _circle(0.64, 0.4, 0.03, n=6),
    ]


SHAPES: dict[str, Callable[[], Outline]] = {"star": star, "heart": heart, "house": house, "smiley": smiley}


def draw_sketch(shape: str, rng: np.random.Generator) -> Image.Image:
    """One 28x28 grayscale ("L") sketch of `shape`, white strokes on black."""
    outline = SHAPES[shape]()
    angle = rng.normal(0.0, 0.12)
    scale = rng.uniform(0.8, 1.05)
    dx, dy = rng.normal(0.0, 0.04, size=2)
    width = int(rng.integers(14, 22))
    canvas = Image.new("L", (SIZE * _SCALE, SIZE * _SCALE), 0)
    pen = ImageDraw.Draw(canvas)
    cos, sin = math.cos(angle), math.sin(angle)
    for stroke in outline:
        jitter = rng.normal(0.0, 0.012, size=(len(stroke), 2))
        points = []
        for (x, y), (jx, jy) in zip(stroke, jitter, strict=True):
            x, y = (x - 0.5) * scale, (y - 0.5) * scale
            x, y = x * cos - y * sin, x * sin + y * cos
            points.append(((x + 0.5 + dx + jx) * SIZE * _SCALE, (y + 0.5 + dy + jy) * SIZE * _SCALE))
        pen.line(points, fill=255, width=width, joint="curve")
    return canvas.resize((SIZE, SIZE), Image.Resampling.BOX)
