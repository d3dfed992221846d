"""Helpers the scenario builders share: writing generated images, the README, a fresh output folder."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PIL import Image


def fresh_folder(folder: Path) -> Path:
    """`folder`, created empty if missing. Builders write into the staging folder `build_scenario` gives them,
    which is new and empty: an earlier build is replaced by the swap, never merged or deleted here."""
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty; scenarios are built into a fresh folder")
    return folder


def save_images(folder: Path, images: Iterable[tuple[str, Image.Image]], *, layout: str = "folders") -> Path:
    """Save labelled images as `folder/<label>/<i>.png` ("folders") or `folder/<label>_<i>.png` ("names")."""
    counters: dict[str, int] = {}
    for label, image in images:
        index = counters.get(label, 0)
        counters[label] = index + 1
        path = folder / label / f"{index:03d}.png" if layout == "folders" else folder / f"{label}_{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG", optimize=False)
    return folder


def write_readme(folder: Path, title: str, body: str) -> Path:
    path = folder / "README.md"
    path.write_text(f"# Scenario: {title}\n\n{body.strip()}\n", encoding="utf-8")
    return path
