"""A results zip is hostile input: paths, links, size and duplicates are checked before anything is trusted."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from mlharness.xctest.archive import extract_results_zip
from mlupdate.errors import BundleError, UnsafePathError


def make_zip(path: Path, entries: dict[str, bytes], *, link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def test_a_clean_zip_unpacks_into_the_new_folder(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "r.zip", {"results.json": b"{}", "model/a.bin": b"\x00" * 10})

    dest = extract_results_zip(archive, tmp_path / "out" / "job", where="case")

    assert (dest / "model" / "a.bin").read_bytes() == b"\x00" * 10
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["job"]


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/owned", "a/../../b", "C:/x", "a\\..\\b"])
def test_paths_that_leave_the_bundle_are_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "r.zip", {"results.json": b"{}", name: b"x"})

    with pytest.raises(UnsafePathError):
        extract_results_zip(archive, tmp_path / "out" / "job", where="case")
    assert not (tmp_path / "out" / "job").exists()
    assert not (tmp_path / "escape.txt").exists()


def test_a_link_entry_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "r.zip", {"results.json": b"{}"}, link="model")

    with pytest.raises(UnsafePathError, match="link"):
        extract_results_zip(archive, tmp_path / "job", where="case")


def test_a_zip_bomb_stops_at_the_byte_limit_and_leaves_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("results.json", b"\x00" * (5 << 20))

    with pytest.raises(BundleError, match="zip bomb"):
        extract_results_zip(archive, tmp_path / "out" / "job", where="case", max_bytes=1 << 20)
    assert list((tmp_path / "out").iterdir()) == []


def test_too_many_entries_are_refused_before_unpacking(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "r.zip", {f"f{i}": b"" for i in range(20)})

    with pytest.raises(BundleError, match="20 entries"):
        extract_results_zip(archive, tmp_path / "job", where="case", max_entries=10)
    assert not (tmp_path / "job").exists()


def test_an_existing_destination_is_never_replaced(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "r.zip", {"results.json": b"{}"})
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "mine.txt").write_text("keep", encoding="utf-8")

    with pytest.raises(BundleError, match="already exists"):
        extract_results_zip(archive, tmp_path / "job", where="case")
    assert (tmp_path / "job" / "mine.txt").read_text(encoding="utf-8") == "keep"


def test_a_truncated_zip_is_a_bundle_error(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "r.zip", {"results.json": b"{}" * 100})
    archive.write_bytes(archive.read_bytes()[:40])

    with pytest.raises(BundleError, match="not a readable zip"):
        extract_results_zip(archive, tmp_path / "job", where="case")


def test_a_file_where_a_folder_must_be_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "r.zip", {"model": b"file", "model/weights.bin": b"x"})

    with pytest.raises(BundleError, match="collides"):
        extract_results_zip(archive, tmp_path / "job", where="case")
    assert not (tmp_path / "job").exists()
