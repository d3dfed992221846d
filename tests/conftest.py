"""Shared test fixtures: where the real third-party models live, and copies that tests may modify."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"


def real_models_dir() -> Path:
    """`../shared/fixtures/real-models` beside the checkout, or $MLUPDATE_REAL_MODELS."""
    override = os.environ.get("MLUPDATE_REAL_MODELS")
    return Path(override) if override else REPO.parent / "shared" / "fixtures" / "real-models"


@pytest.fixture(scope="session")
def real_models() -> Path:
    path = real_models_dir()
    if not path.is_dir():
        pytest.skip(
            f"real-model fixtures not found at {path} (check out ../shared beside the repo, "
            "or set MLUPDATE_REAL_MODELS)"
        )
    return path


@pytest.fixture
def real_model_copy(real_models: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Copy one fixture model into tmp_path, so a test can change it without touching the original."""

    def copy(relative: str) -> Path:
        source = real_models / relative
        target = tmp_path / source.name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        return target

    return copy
