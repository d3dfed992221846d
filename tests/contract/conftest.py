"""The Swift side of the contract, built once per test session."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ios_app"
BUILD_TIMEOUT = 1800


@pytest.fixture(scope="session")
def companion_cli() -> Path:
    """Build `companion-cli` once per session and return the executable."""
    swift = shutil.which("swift")
    if swift is None:
        pytest.skip("swift is not on PATH: install a Swift 6 toolchain to test the Swift side of the contract")
    build = [swift, "build", "--package-path", str(PACKAGE), "--product", "companion-cli"]
    subprocess.run(build, check=True, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    bin_path = subprocess.run(
        [*build[:-2], "--show-bin-path"], check=True, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    ).stdout.strip()
    return Path(bin_path) / "companion-cli"
