"""Checks shared by the job and results readers: the manifest's `files` against the folder on disk."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlupdate import limits
from mlupdate.bundle.hashing import sha256_file
from mlupdate.bundle.paths import check_entry, resolve_entry, walk_files
from mlupdate.bundle.schema import parse_json
from mlupdate.errors import HashMismatchError, IncompleteBundleError, SchemaError, UnsafePathError
from mlupdate.output_folder import MARKER as OUTPUT_MARKER


def verify_files(root: Path, files: Mapping[str, str], *, exempt: Iterable[str], where: str) -> None:
    """Every listed file present, safe and matching its hash; no unlisted file (except `exempt`, and the marker a
    host command leaves in the output folder it owns: `mlupdate.output_folder.MARKER`)."""
    for entry in files:
        check_entry(entry, where=f"{where}: files")
    try:
        on_disk = set(walk_files(root)) - {*exempt, OUTPUT_MARKER}
    except OSError as exc:
        raise IncompleteBundleError(f"cannot list the bundle: {exc.strerror}", where=str(root)) from None
    unlisted = sorted(on_disk - set(files))
    if unlisted:
        raise HashMismatchError(
            f"{unlisted[0]!r} is in the bundle but not in the manifest's `files`"
            + (f" (and {len(unlisted) - 1} more)" if len(unlisted) > 1 else ""),
            where=str(root / unlisted[0]),
            fix="every file must be listed with its sha256; remove stray files or rebuild the bundle",
        )
    missing = sorted(set(files) - on_disk)
    if missing:
        if (root / missing[0]).is_dir():  # the walk refused links and special files: a folder is what remains
            raise UnsafePathError(
                f"{missing[0]!r} is listed in `files` as a file but is a folder",
                where=str(root / missing[0]),
                fix="the bundle is not of this contract: write or pull it again",
            )
        raise IncompleteBundleError(
            f"{missing[0]!r} is listed in `files` but missing"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            where=str(root / missing[0]),
            fix="the bundle was copied incompletely: copy or pull it again",
        )
    for entry in sorted(files):
        path = resolve_entry(root, entry, where=where)
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise IncompleteBundleError(f"cannot read {entry!r}: {exc.strerror}", where=str(path)) from None
        if actual != files[entry]:
            raise HashMismatchError(
                f"{entry!r} has sha256 {actual}, the manifest records {files[entry]}",
                where=str(path),
                fix="the file changed after the bundle was written: copy or pull the bundle again",
            )


def require_listed(files: Mapping[str, str], entry: str, *, field: str, where: str) -> None:
    """A file the manifest refers to must be one of its listed (hashed) files."""
    check_entry(entry, where=f"{where}: {field}")
    if entry not in files:
        raise IncompleteBundleError(
            f"{field} refers to {entry!r}, which is not listed in `files`",
            where=f"{where}: {field}",
            fix="list every file of the bundle with its sha256",
        )


def require_folder(files: Mapping[str, str], entry: str, *, field: str, where: str) -> list[str]:
    """The listed files under folder `entry` (at least one), sorted."""
    check_entry(entry, where=f"{where}: {field}")
    inside = sorted(name for name in files if name.startswith(entry + "/"))
    if not inside:
        raise IncompleteBundleError(
            f"{field} refers to folder {entry!r}, but no listed file is inside it",
            where=f"{where}: {field}",
            fix="list every file of the bundle with its sha256",
        )
    return inside


def read_regular(root: Path, name: str, *, where: str, limit: int) -> bytes:
    """The bytes of a top-level file that must exist, must not be a link and must be at most `limit` bytes
    (job.json, results.json, DONE)."""
    try:
        path = resolve_entry(root, name, where=where)
        return limits.read_bounded(
            path, limit, error=SchemaError, what=name, fix="the file is not of this contract: pull or write it again"
        )
    except FileNotFoundError:
        raise IncompleteBundleError(
            f"{name} is missing", where=str(root / name), fix="the bundle is incomplete: write or pull it again"
        ) from None


def read_json_file(path: Path, *, limit: int, where: str) -> Any:
    """A JSON file inside a bundle (a label list), read within `limit` bytes and parsed strictly."""
    try:
        data = limits.read_bounded(path, limit, error=SchemaError, what=path.name, fix="rebuild the bundle")
    except FileNotFoundError:
        raise IncompleteBundleError(
            f"{path.name} is missing", where=where, fix="write or pull the bundle again"
        ) from None
    return parse_json(data, where=where)


def check_root(root: Path) -> None:
    if root.is_symlink():
        raise UnsafePathError("the bundle folder is a symbolic link", where=str(root), fix="pass the real folder")
    if not root.is_dir():
        raise IncompleteBundleError(
            "no such bundle folder", where=str(root), fix="check the path, or wait until the bundle is written"
        )


def schema_problem(what: str, *, field: str, where: str) -> SchemaError:
    return SchemaError(what, where=f"{where}: {field}", fix="rebuild the bundle with a writer of this contract")
