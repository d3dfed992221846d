"""`mlharness calibrate` on a host without targets: clear errors, no profile written."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlharness.cli import EXIT_ERROR, main


def test_help_describes_the_target_and_the_profile(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["calibrate", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--target ID" in out
    assert "semantics-<os>-<version>-<class>.json" in out


def test_unknown_target_exits_2_with_the_reason_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Real discovery: on this host (and any host without such a device) the id matches nothing.
    profile = tmp_path / "profile.json"
    code = main(["calibrate", "--target", "iPhone-404", "-o", str(profile), "--work-dir", str(tmp_path / "w")])
    assert code == EXIT_ERROR
    err = capsys.readouterr().err
    assert "no target 'iPhone-404'" in err
    assert "this host sees no Simulator and no device at all" in err
    assert not profile.exists()
