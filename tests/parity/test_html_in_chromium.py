"""The HTML report opened in headless Chromium, with the network cut off: it renders, and every plot it shows
has data in it (no placeholder box standing in for a plot with nothing to show)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mlupdate.parity import evaluate
from mlupdate.parity.plots import DEVICE, REFERENCE
from mlupdate.parity.provenance import provenance
from mlupdate.parity.report import build_report, write_reports

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not found: apt-get install -y chromium (Debian package)"
)
SLOT = (900, 420)  # width, height of the page area each figure is laid out in for the per-plot screenshot
# The old hand-drawn placeholder: a grey box with a sentence where a plot would be.
PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="720" height="300" viewBox="0 0 720 300">'
    '<text x="16" y="22">Ensemble spread with the device marked</text>'
    '<rect x="40" y="40" width="660" height="230" fill="#f6f8fa" stroke="#d0d7de"/>'
    '<text x="370" y="160" text-anchor="middle">no ensemble</text></svg>'
)


def screenshot(html: Path, png: Path, profile: Path, size: tuple[int, int]) -> np.ndarray:
    argv = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        # No network at all: every host name fails to resolve and any proxy connection is refused.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--disable-background-networking",
        f"--window-size={size[0]},{size[1]}",
        f"--screenshot={png}",
        html.as_uri(),
    ]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return np.asarray(Image.open(png).convert("RGB"))


def colour_pixels(image: np.ndarray, hex_colour: str, slack: int = 40) -> int:
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.sum(np.all(np.abs(image[:, :, :3].astype(int) - target) <= slack, axis=2)))


def figures(html: str) -> list[str]:
    return re.findall(r"<figure[^>]*>(.*?)</figure>", html, flags=re.S)


def plots_without_data(html: str, work: Path) -> list[int]:
    """The figures of a report page that show no data: each is laid out alone in a fixed slot, the page is
    screenshot once, and a slot without the judged results' strokes (every plot draws them) is a placeholder."""
    shown = figures(html)
    scaled = [svg.replace("<svg ", '<svg style="width:100%;height:auto" ', 1) for svg in shown]
    slots = "".join(
        f'<div style="width:{SLOT[0]}px;height:{SLOT[1]}px;overflow:hidden;margin:0">'
        f'<div style="width:{SLOT[0] - 20}px">{svg}</div></div>'
        for svg in scaled
    )
    page = work / "figures.html"
    page.write_text(f'<!DOCTYPE html><html><body style="margin:0;background:#fff">{slots}</body></html>')
    image = screenshot(page, work / "figures.png", work / "profile", (SLOT[0], SLOT[1] * max(1, len(shown))))
    empty = []
    for index in range(len(shown)):
        crop = image[index * SLOT[1] : (index + 1) * SLOT[1]]
        if colour_pixels(crop, DEVICE) < 150:
            empty.append(index)
    return empty


def device_report(write_results: Any, reference_ingredients: Any, device_ingredients: Any, out: Path) -> Path:
    reference = write_results(reference_ingredients, "r")
    changed = device_ingredients.copy()
    changed.parameters[("drawing_dense1_fwd", "weights")][0, 0] += 0.01
    device = write_results(changed, "d")
    verdict = evaluate(reference, device)
    prov = provenance(
        job_id=device.job_id, producer=device.producer, device=device.device, model_path=None, results_path=device.path
    )
    return write_reports(build_report(verdict, prov, device.tasks), out).html


@needs_chromium
def test_report_html_renders_with_its_plots_in_headless_chromium(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any, tmp_path: Path
) -> None:
    html = device_report(write_results, reference_ingredients, device_ingredients, tmp_path / "report")
    image = screenshot(html, tmp_path / "shot.png", tmp_path / "profile", (1000, 2600))
    non_white = np.mean(np.any(image < 235, axis=2))
    assert non_white > 0.02, f"the page looks blank ({non_white:.1%} non-white pixels)"
    # Curves and bars in the reference's and the judged results' colours.
    assert colour_pixels(image, REFERENCE) > 300
    assert colour_pixels(image, DEVICE) > 300


@needs_chromium
def test_no_plot_of_the_report_is_a_placeholder(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any, tmp_path: Path
) -> None:
    html = device_report(write_results, reference_ingredients, device_ingredients, tmp_path / "report").read_text()
    assert len(figures(html)) == 4  # loss, parameter errors, epoch times, memory (no ensemble at step level)
    assert plots_without_data(html, tmp_path) == []


@needs_chromium
def test_a_placeholder_plot_in_the_page_is_caught(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any, tmp_path: Path
) -> None:
    html = device_report(write_results, reference_ingredients, device_ingredients, tmp_path / "report").read_text()
    first, rest = html.split("<figure", 1)
    with_placeholder = f"{first}<figure>{PLACEHOLDER}</figure><figure{rest}"
    assert plots_without_data(with_placeholder, tmp_path) == [0]
