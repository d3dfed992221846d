"""The owned-output rule: a command replaces only its own earlier output, only once the new one is complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlupdate import output_folder
from mlupdate.errors import OutputFolderError
from mlupdate.output_folder import MARKER, clean_stale, owned_output, read_marker


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_new_folder_is_written_aside_then_appears_whole_with_its_marker(tmp_path: Path) -> None:
    final = tmp_path / "out" / "catdog"
    with owned_output(final, command="scenario") as output:
        write(output.staging, {"model.mlmodel": "m", "job/job.json": "{}"})
        assert not final.exists()
    assert tree(final) == {MARKER: tree(final)[MARKER], "job/job.json": "{}", "model.mlmodel": "m"}
    assert read_marker(final) == "scenario"
    assert sorted(p.name for p in final.parent.iterdir()) == ["catdog"]  # no staging folder, no lock left


def test_an_earlier_output_of_the_same_command_is_replaced(tmp_path: Path) -> None:
    final = tmp_path / "catdog"
    for text in ("first", "second"):
        with owned_output(final, command="scenario") as output:
            write(output.staging, {"a.txt": text} if text == "first" else {"b.txt": text})
    assert set(tree(final)) == {MARKER, "b.txt"}


def test_a_failing_writer_leaves_the_previous_output_untouched(tmp_path: Path) -> None:
    final = tmp_path / "catdog"
    with owned_output(final, command="scenario") as output:
        write(output.staging, {"a.txt": "verified"})
    before = tree(final)
    with pytest.raises(RuntimeError), owned_output(final, command="scenario") as output:
        write(output.staging, {"a.txt": "half"})
        raise RuntimeError("the rerun failed")
    assert tree(final) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catdog"]


def test_a_users_folder_is_refused_with_the_way_out_and_left_alone(tmp_path: Path) -> None:
    final = tmp_path / "catdog"
    write(final, {"notes.txt": "mine"})
    with pytest.raises(OutputFolderError) as refused, owned_output(final, command="scenario"):
        pytest.fail("must not get here")
    assert "did not write" in refused.value.what and "notes.txt" in refused.value.what
    assert "--force" in (refused.value.fix or "") and "another folder" in (refused.value.fix or "")
    assert tree(final) == {"notes.txt": "mine"}


def test_another_commands_output_is_refused_but_force_replaces_it(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with owned_output(final, command="reference") as output:
        write(output.staging, {"x": "1"})
    with pytest.raises(OutputFolderError, match="written by `mlharness reference`"), owned_output(final, command="run"):
        pass
    with owned_output(final, command="run", force=True) as output:
        write(output.staging, {"y": "2"})
    assert read_marker(final) == "run" and "y" in tree(final)


def test_an_empty_folder_may_be_used(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with owned_output(tmp_path / "empty", command="report") as output:
        write(output.staging, {"r": "1"})
    assert "r" in tree(tmp_path / "empty")


@pytest.mark.parametrize("where", ["inside", "same", "holding"])
def test_output_inside_or_around_an_input_is_refused_even_with_force(tmp_path: Path, where: str) -> None:
    job = tmp_path / "jobs" / "job-1"
    write(job, {"job.json": "{}"})
    final = {"inside": job / "results", "same": job, "holding": tmp_path / "jobs"}[where]
    with pytest.raises(OutputFolderError, match="input"), owned_output(final, command="run", inputs=[job], force=True):
        pass
    assert tree(job) == {"job.json": "{}"}


def test_links_files_home_and_the_current_folder_are_refused_even_with_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "file").write_text("x")
    monkeypatch.chdir(tmp_path / "real")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    for final, reason in [
        (tmp_path / "link", "symbolic link"),
        (tmp_path / "file", "a file stands where a folder is needed"),
        (tmp_path / "home", "home folder"),
        (tmp_path, "current directory"),
    ]:
        with pytest.raises(OutputFolderError, match=reason), owned_output(final, command="demo", force=True):
            pass


def test_published_sub_folder_is_what_appears(tmp_path: Path) -> None:
    final = tmp_path / "results" / "job-1"
    with owned_output(final, command="reference") as output:
        write(output.staging / "job-1", {"DONE": "job-1\n"})
        output.publish(output.staging / "job-1")
        assert output.final_path(output.staging / "job-1" / "DONE") == final / "DONE"
    assert set(tree(final)) == {MARKER, "DONE"}


def test_a_dead_writers_staging_folder_is_cleaned_but_a_live_ones_is_kept(tmp_path: Path) -> None:
    final = tmp_path / "catdog"
    dead = tmp_path / ".catdog.mlh-0123456789abcdef"
    write(dead, {"half.png": "x"})
    (tmp_path / ".catdog.mlh-0123456789abcdef.lock").write_text("")  # nobody holds it: the writer was killed
    orphan_lock = tmp_path / ".catdog.mlh-fedcba9876543210.lock"
    orphan_lock.write_text("")
    with owned_output(final, command="scenario") as live:
        assert clean_stale(final) == []  # the live writer's folder is not touched
        assert live.staging.is_dir()
        write(live.staging, {"a": "1"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catdog"]


def test_a_writer_killed_between_the_fallback_renames_gets_its_previous_output_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = tmp_path / "catdog"
    with owned_output(final, command="scenario") as output:
        write(output.staging, {"a": "previous"})
    # Simulate the crash window of the two-rename fallback: the old output parked, the new one not yet moved.
    area = tmp_path / ".catdog.mlh-00000000000000aa"
    area.mkdir()
    final.rename(area / ".previous")
    clean_stale(final)
    assert tree(final)["a"] == "previous"
    assert not area.exists()
    os.fstat(1)  # a staging folder without its lock file made the cleaner close file descriptor True == 1


def test_without_an_atomic_exchange_the_two_rename_fallback_still_swaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output_folder, "exchange", lambda *_: False)
    final = tmp_path / "catdog"
    for text in ("one", "two"):
        with owned_output(final, command="scenario") as output:
            write(output.staging, {"a": text})
    assert tree(final)["a"] == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catdog"]


def test_folders_and_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with owned_output(tmp_path / "out", command="report") as output:
            write(output.staging, {"r.txt": "1"})
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "out" / MARKER).stat().st_mode & 0o777 == 0o644
