"""Unpacking a sealed results bundle that came back as a zip attachment: hostile input, bounded and link-free.

A zip from a device or a farm is read like device output everywhere in the harness: no absolute paths, no `..`,
no links, no duplicate or encrypted entries, a bounded number of entries and of bytes (counted as they are
written, not as the headers claim). It is unpacked beside `dest` and renamed into place only when complete,
so `dest` either holds the whole bundle or does not exist.
"""

from __future__ import annotations

import secrets
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from mlupdate.errors import BundleError, UnsafePathError

# A results bundle holds a compiled model, parameters and probe outputs: large models reach hundreds of MB.
MAX_BYTES = 4 << 30
MAX_ENTRIES = 100_000
_CHUNK = 1 << 20


def extract_results_zip(
    archive: Path, dest: Path, *, where: str, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES
) -> Path:
    """Unpack `archive` (entries relative to the bundle root) into `dest`, which must not exist yet."""
    if dest.exists() or dest.is_symlink():
        raise BundleError(
            f"{dest} already exists",
            where=where,
            fix="extract into a new folder: results are never written over an existing one",
        )
    try:
        with zipfile.ZipFile(archive) as bundle:
            entries = _checked_entries(bundle, where, max_entries)
            dest.parent.mkdir(parents=True, exist_ok=True)
            # Not mkdtemp: its 0700 would be the results folder's mode. An unpredictable name, the user's umask.
            staging = dest.parent / f".{dest.name}.{secrets.token_hex(8)}.partial"
            staging.mkdir()
            try:
                _unpack(bundle, entries, staging, where, max_bytes)
                staging.rename(dest)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise BundleError(
            f"not a readable zip archive ({exc})", where=where, fix="the attachment was cut short: run the job again"
        ) from None
    return dest


def _checked_entries(bundle: zipfile.ZipFile, where: str, max_entries: int) -> list[zipfile.ZipInfo]:
    entries = bundle.infolist()
    if len(entries) > max_entries:
        raise BundleError(
            f"{len(entries)} entries, more than the {max_entries} a results bundle may have",
            where=where,
            fix="this is not a results bundle written by the companion app",
        )
    seen: set[str] = set()
    for info in entries:
        name = _safe_name(info.filename, where)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafePathError(f"entry {info.filename!r} is a link", where=where, fix="bundles hold no links")
        if info.flag_bits & 0x1:
            raise BundleError(f"entry {info.filename!r} is encrypted", where=where, fix="bundles are not encrypted")
        if name in seen:
            raise BundleError(f"entry {info.filename!r} appears twice", where=where, fix="run the job again")
        seen.add(name)
    return entries


def _safe_name(name: str, where: str) -> str:
    path = PurePosixPath(name)
    parts = [part for part in path.parts if part not in ("", ".")]
    if not parts or name.startswith("/") or "\\" in name or ".." in parts or ":" in parts[0]:
        raise UnsafePathError(
            f"entry {name!r} is not a relative path inside the bundle",
            where=where,
            fix="refused: a results bundle's paths are relative, without `..`",
        )
    return "/".join(parts)


def _unpack(bundle: zipfile.ZipFile, entries: list[zipfile.ZipInfo], root: Path, where: str, max_bytes: int) -> None:
    written = 0
    for info in entries:
        target = root / _safe_name(info.filename, where)
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as source, target.open("xb") as sink:
                while chunk := source.read(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise BundleError(
                            f"unpacks to more than {max_bytes} bytes",
                            where=where,
                            fix="refused as a zip bomb; a results bundle this large is not expected",
                        )
                    sink.write(chunk)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise BundleError(
                f"entry {info.filename!r} collides with another entry (a file where a folder is, or the reverse)",
                where=where,
                fix="this is not a results bundle written by the companion app",
            ) from None
