"""The HTML report opened in headless Chromium, with the network cut off, renders its plots."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mlupdate.parity import evaluate
from mlupdate.parity.provenance import provenance
from mlupdate.parity.report import build_report, write_reports
from mlupdate.parity.svg import PALETTE

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def screenshot(html: Path, png: Path, profile: Path) -> None:
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
        "--window-size=1000,2600",
        f"--screenshot={png}",
        html.as_uri(),
    ]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


def colour_pixels(image: np.ndarray, hex_colour: str, slack: int = 40) -> int:
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.sum(np.all(np.abs(image[:, :, :3].astype(int) - target) <= slack, axis=2)))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not found: apt-get install -y chromium (Debian package)")
def test_report_html_renders_its_plots_in_headless_chromium(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any, tmp_path: Path
) -> None:
    reference = write_results(reference_ingredients, "r")
    device = write_results(device_ingredients, "d")
    verdict = evaluate(reference, device)
    prov = provenance(
        job_id=device.job_id, producer=device.producer, device=device.device, model_path=None, results_path=device.path
    )
    paths = write_reports(build_report(verdict, prov), tmp_path / "report")
    png = tmp_path / "shot.png"
    screenshot(paths.html, png, tmp_path / "profile")

    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[0] > 1000
    non_white = np.mean(np.any(image < 235, axis=2))
    assert non_white > 0.02, f"the page looks blank ({non_white:.1%} non-white pixels)"
    # Plot strokes in the palette's first two colours (reference and device curves, bars, markers).
    assert colour_pixels(image, PALETTE[0]) > 500
    assert colour_pixels(image, PALETTE[1]) > 200
