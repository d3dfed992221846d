"""A real, small job bundle (the third-party TicTacToe model, four examples) copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded"


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    target = tmp_path / "jobs" / "tictactoe-0001"
    shutil.copytree(RECORDED / "jobs" / "tictactoe-0001", target)
    return target
