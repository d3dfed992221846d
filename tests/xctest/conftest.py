"""Export folders in the layout `Xcresulttool.export` writes, built from the recorded xcresulttool samples."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
XCRESULTTOOL = DATA / "recorded" / "xcresulttool"
GOLDEN_RESULTS = DATA / "contract" / "results"

# The derived sample's results attachments: exported file -> golden results bundle it carries.
MIXED_ATTACHMENTS = {
    "2F0C9D4E-7A51-4B8C-9E13-5D6A2B7C8F01.zip": "succeeded",  # job golden-classifier-image
    "91B7E2A0-3C64-4F0D-8A2E-6B1F9C0D4E75.zip": "reference-knn",  # job golden-knn-pipeline
}


def zip_bundle(bundle: Path, archive: Path) -> Path:
    """A results bundle as the job case attaches it: entries relative to the bundle root."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(bundle.rglob("*")):
            if path.is_file():
                out.write(path, path.relative_to(bundle).as_posix())
    return archive


@pytest.fixture
def mixed_export(tmp_path: Path) -> Path:
    """The export of a run where jobs passed, crashed, were skipped, failed, lost their attachment or never ran."""
    export = tmp_path / "export"
    attachments = export / "attachments"
    attachments.mkdir(parents=True)
    shutil.copy(XCRESULTTOOL / "jobs-mixed.tests.json", export / "tests.json")
    shutil.copy(XCRESULTTOOL / "jobs-mixed.manifest.json", attachments / "manifest.json")
    for exported, golden in MIXED_ATTACHMENTS.items():
        zip_bundle(GOLDEN_RESULTS / golden, attachments / exported)
    (attachments / "C3D85F12-0B9E-4A77-B6C1-2E4D8F9A1B30.txt").write_text("load failed\n", encoding="utf-8")
    return export
