"""Procedural "photos" for the `catdog` and `lunch` scenarios, drawn with pillow.

They are not photographs: they are simple, varied scenes whose classes differ in shape and colour the way the
seed stories' classes do (pointed vs floppy ears; green salad vs brown burger and fries), with random
background, pose, scale, palette and pixel noise, so a small CNN can learn them and retraining can move it.
Deterministic for a given numpy Generator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

_CANVAS = 128

Painter = Callable[[ImageDraw.ImageDraw, np.random.Generator], None]


def _colour(rng: np.random.Generator, base: tuple[int, int, int], spread: int = 30) -> tuple[int, int, int]:
    r, g, b = (int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255)) for c in base)
    return (r, g, b)


def _head(rng: np.random.Generator) -> tuple[float, float, float]:
    cx, cy = rng.uniform(50, 78, size=2)
    r = rng.uniform(24, 34)
    return float(cx), float(cy), float(r)


def paint_cat(pen: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    cx, cy, r = _head(rng)
    fur = _colour(rng, [(230, 140, 60), (130, 130, 130), (60, 60, 60)][int(rng.integers(3))])
    for side in (-1, 1):  # pointed ears above the head
        pen.polygon(
            [
                (cx + side * r * 0.9, cy - r * 0.3),
                (cx + side * r * 0.65, cy - r * 1.45),
                (cx + side * r * 0.15, cy - r * 0.8),
            ],
            fill=fur,
        )
    pen.ellipse([cx - r, cy - r * 0.9, cx + r, cy + r * 0.9], fill=fur)
    for side in (-1, 1):  # slit eyes and whiskers
        pen.ellipse(
            [cx + side * r * 0.4 - 5, cy - r * 0.25 - 7, cx + side * r * 0.4 + 5, cy - r * 0.25 + 7], fill=(90, 200, 90)
        )
        for k in (-1, 0, 1):
            pen.line(
                [(cx + side * r * 0.2, cy + r * 0.3), (cx + side * r * 1.2, cy + r * 0.3 + k * 8)],
                fill=(240, 240, 240),
                width=1,
            )


def paint_dog(pen: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    cx, cy, r = _head(rng)
    fur = _colour(rng, [(150, 100, 50), (210, 180, 130), (90, 60, 30)][int(rng.integers(3))])
    ear = _colour(rng, (70, 45, 25))
    pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fur)
    for side in (-1, 1):  # floppy ears hanging beside the head
        pen.ellipse(
            [cx + side * r * 0.75 - r * 0.35, cy - r * 0.7, cx + side * r * 0.75 + r * 0.35, cy + r * 0.7], fill=ear
        )
    pen.ellipse([cx - r * 0.45, cy + r * 0.1, cx + r * 0.45, cy + r * 0.75], fill=_colour(rng, (235, 220, 200)))
    pen.ellipse([cx - 7, cy + r * 0.1, cx + 7, cy + r * 0.1 + 10], fill=(20, 20, 20))  # nose
    for side in (-1, 1):
        pen.ellipse(
            [cx + side * r * 0.35 - 5, cy - r * 0.3 - 5, cx + side * r * 0.35 + 5, cy - r * 0.3 + 5], fill=(30, 20, 10)
        )


def paint_healthy(pen: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    plate = _colour(rng, (235, 235, 235), 15)
    pen.ellipse([14, 14, 114, 114], fill=plate)
    for _ in range(int(rng.integers(10, 18))):  # leaves, tomatoes, cucumber slices
        x, y = rng.uniform(30, 98, size=2)
        w, h = rng.uniform(8, 20, size=2)
        colour = [(60, 170, 60), (40, 130, 40), (220, 40, 40), (150, 210, 100)][int(rng.integers(4))]
        pen.ellipse([x - w, y - h, x + w, y + h], fill=_colour(rng, colour, 20))


def paint_unhealthy(pen: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    tray = _colour(rng, (200, 60, 50), 20)
    pen.rectangle([8, 20, 120, 108], fill=tray)
    x, y = rng.uniform(40, 60), rng.uniform(50, 70)
    bun = _colour(rng, (200, 140, 60))
    pen.ellipse([x - 30, y - 25, x + 30, y + 5], fill=bun)  # burger: bun, patty, bun
    pen.rectangle([x - 30, y - 2, x + 30, y + 8], fill=_colour(rng, (90, 50, 20)))
    pen.ellipse([x - 30, y + 5, x + 30, y + 22], fill=bun)
    for _ in range(int(rng.integers(6, 12))):  # fries
        fx, fy = rng.uniform(85, 112), rng.uniform(30, 95)
        pen.rectangle([fx - 2, fy - 14, fx + 2, fy + 14], fill=_colour(rng, (240, 200, 60), 15))


PAINTERS: dict[str, Painter] = {
    "Cat": paint_cat,
    "Dog": paint_dog,
    "healthy": paint_healthy,
    "unhealthy": paint_unhealthy,
}


def draw_photo(label: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One RGB image of class `label`, `size` x `size`, with background, blur and noise."""
    background = _colour(rng, tuple(int(c) for c in rng.integers(40, 220, size=3)), 0)  # type: ignore[arg-type]
    canvas = Image.new("RGB", (_CANVAS, _CANVAS), background)
    PAINTERS[label](ImageDraw.Draw(canvas), rng)
    canvas = canvas.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.0, 1.2))))
    pixels = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float32)
    pixels += rng.normal(0.0, 6.0, size=pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
