"""`mlharness` turns operating-system errors no library check caught into one `error:` line and exit 2."""

from __future__ import annotations

import argparse

import pytest

from mlharness.cli import EXIT_ERROR, main
from mlharness.cli import models as models_cli


def test_a_path_error_names_the_path_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unreadable(args: argparse.Namespace) -> int:
        raise PermissionError(13, "Permission denied", str(args.model))

    monkeypatch.setattr(models_cli, "run_inspect", unreadable)
    assert main(["inspect", "locked.mlmodel"]) == EXIT_ERROR
    assert capsys.readouterr().err == (
        "error: locked.mlmodel: Permission denied\n"
        "  fix: check the paths given: inputs must exist and be readable, outputs must be folders you can write\n"
    )


def test_an_error_without_a_path_points_to_the_verbose_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    def dropped(args: argparse.Namespace) -> int:
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(models_cli, "run_inspect", dropped)
    with caplog.at_level("DEBUG", logger="mlharness.cli"):
        assert main(["-vv", "inspect", "any.mlmodel"]) == EXIT_ERROR
    assert capsys.readouterr().err == (
        "error: Connection reset by peer\n  fix: run again with -vv to see where it failed\n"
    )
    assert any(record.exc_info and record.exc_info[0] is ConnectionResetError for record in caplog.records)
