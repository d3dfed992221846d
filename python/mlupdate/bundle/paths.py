"""Path safety for bundle entries: relative, `/`-separated, no `.`/`..`, no links, inside the bundle.

Every check names the offending entry, because the person fixing it has to find it in a folder of thousands.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from mlupdate import limits
from mlupdate.errors import UnsafePathError

_FIX = "bundle entries must be relative `/`-separated paths to regular files inside the bundle (no links)"


def check_entry(entry: str, *, where: str) -> str:
    """Refuse an entry that is not a plain relative path; return it unchanged."""
    problem = _entry_problem(entry)
    if problem:
        raise UnsafePathError(f"unsafe path {entry!r}: {problem}", where=where, fix=_FIX)
    return entry


def _entry_problem(entry: str) -> str | None:
    if not entry:
        return "empty path"
    if any(ord(character) < 0x20 or character == "\x7f" for character in entry):
        return "contains a control character"
    if "\\" in entry:
        return "contains a backslash"
    if entry.startswith("/") or (len(entry) > 1 and entry[1] == ":"):
        return "absolute path"
    segments = entry.split("/")
    if any(segment == "" for segment in segments):
        return "empty path segment"
    if any(segment in (".", "..") for segment in segments):
        return "`.` or `..` segment"
    if not entry.isascii() and unicodedata.normalize("NFC", entry) != entry:
        return "not in Unicode NFC (Apple's file systems take it for its NFC twin)"
    return None


def resolve_entry(root: Path, entry: str, *, where: str, directory: bool = False) -> Path:
    """`root/entry` after checking the entry and that no component on disk is a link.

    Does not require the entry to exist; if it exists it must be a regular file (or a directory when
    `directory` is true).
    """
    check_entry(entry, where=where)
    current = root
    segments = entry.split("/")
    for index, segment in enumerate(segments):
        current = current / segment
        try:
            info = current.lstat()
        except FileNotFoundError:
            return root.joinpath(*segments)
        except OSError as exc:
            raise UnsafePathError(f"cannot inspect {entry!r}: {exc.strerror}", where=where, fix=_FIX) from None
        last = index == len(segments) - 1
        if stat.S_ISLNK(info.st_mode):
            raise UnsafePathError(f"{entry!r} goes through a symbolic link", where=where, fix=_FIX)
        if not last and not stat.S_ISDIR(info.st_mode):
            raise UnsafePathError(f"{entry!r}: {segment!r} is not a directory", where=where, fix=_FIX)
        if last and not (stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)):
            kind = "directory" if directory else "regular file"
            raise UnsafePathError(f"{entry!r} is not a {kind}", where=where, fix=_FIX)
    return current


def walk_files(root: Path) -> Iterator[str]:
    """Every regular file under `root` as a relative `/` path, refusing links and special files, and trees deeper
    or larger than `mlupdate.limits` allows (walked without recursion, so depth costs no stack)."""
    pending: list[tuple[Path, int]] = [(root, 0)]
    seen = 0
    while pending:
        directory, depth = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            raise UnsafePathError(
                f"cannot list {_relative(root, directory) or '.'!r}: {exc.strerror}", where=str(root), fix=_FIX
            ) from None
        seen += len(entries)
        twins = _normalisation_twins(entry.name for entry in entries)
        if twins:
            raise UnsafePathError(
                f"{_relative(root, directory / twins)!r} and another name here are equal after Unicode normalisation",
                where=str(root),
                fix=_FIX,
            )
        if seen > limits.TREE_ENTRIES:
            raise UnsafePathError(f"holds more than {limits.TREE_ENTRIES} entries", where=str(root), fix=_FIX)
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            mode = entry.stat(follow_symlinks=False).st_mode
            relative = _relative(root, path)
            if stat.S_ISLNK(mode):
                raise UnsafePathError(f"{relative!r} is a symbolic link", where=str(root), fix=_FIX)
            if stat.S_ISDIR(mode):
                if depth + 1 >= limits.TREE_DEPTH:
                    raise UnsafePathError(
                        f"{relative[:200]!r}... nests folders more than {limits.TREE_DEPTH} deep",
                        where=str(root),
                        fix=_FIX,
                    )
                subfolders.append((path, depth + 1))
            elif stat.S_ISREG(mode):
                yield relative
            else:
                raise UnsafePathError(f"{relative!r} is not a regular file", where=str(root), fix=_FIX)
        pending.extend(reversed(subfolders))


def _normalisation_twins(names: Iterator[str]) -> str | None:
    """A name equal to an earlier one after NFC normalisation (one file on Apple's file systems), if any."""
    seen: set[str] = set()
    for name in names:
        key = name if name.isascii() else unicodedata.normalize("NFC", name)
        if key in seen:
            return name
        seen.add(key)
    return None


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
