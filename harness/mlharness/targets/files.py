"""Host-side file work of the folder-backed targets (Simulator, mac, fake): their containers are host folders the
companion app writes, so everything read or copied from them is hostile input.

`copy_tree` never follows a link (a link inside the app's outbox is refused, not copied through to a host file or
to `/dev/zero`), refuses pipes and devices, stays within `mlupdate.limits` (depth, entries, bytes), creates
folders with the user's umask and no missing parents, and stops as soon as the step's deadline has passed
(`mlharness.deadline.cancelled`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mlharness.deadline import cancelled
from mlharness.errors import TargetError
from mlupdate import limits
from mlupdate.errors import MlupdateError
from mlupdate.output_folder import remove_tree

# A results bundle: parameters, probe outputs and a compiled model; far below this.
MAX_TREE_BYTES = 16 * limits.GiB
_CHUNK = 1 << 20
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FIX = "the app's folder holds a link, a special file or more than a bundle can: rebuild the app or reinstall it"

__all__ = ["copy_tree", "read_events", "remove_tree"]


def _refuse(what: str, where: Path, step: str) -> TargetError:
    return TargetError(f"{what}: {where}", target="host files", step=step, fix=_FIX)


def copy_tree(source: Path, dest: Path, *, step: str = "pull") -> None:
    """Copy the folder `source` to the new folder `dest` (its parent must exist), refusing links and special files."""
    info = source.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise _refuse("not a folder (links are never followed)", source, step)
    pending: list[tuple[Path, Path, int]] = [(source, dest, 0)]
    entries = copied = 0
    while pending:
        folder, target, depth = pending.pop()
        _check_cancelled(step)
        target.mkdir()  # no parents: a staging folder removed after a timeout is not created again
        with os.scandir(folder) as listing:
            children = sorted(listing, key=lambda entry: entry.name)
        entries += len(children)
        if entries > limits.TREE_ENTRIES or depth >= limits.TREE_DEPTH:
            raise _refuse("more entries or deeper folders than a bundle can hold", folder, step)
        for child in children:
            mode = child.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                pending.append((Path(child.path), target / child.name, depth + 1))
            elif stat.S_ISREG(mode):
                copied += _copy_file(Path(child.path), target / child.name, MAX_TREE_BYTES - copied, step)
            else:
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                raise _refuse(f"{child.name} is {kind}", Path(child.path), step)


def _copy_file(source: Path, dest: Path, budget: int, step: str) -> int:
    fd = os.open(source, _READ)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refuse("not a regular file", source, step)
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        written = 0
        try:
            while chunk := os.read(fd, _CHUNK):
                _check_cancelled(step)
                written += len(chunk)
                if written > budget:
                    raise _refuse(f"more than {MAX_TREE_BYTES} bytes in one bundle", source, step)
                os.write(out, chunk)
        finally:
            os.close(out)
        return written
    finally:
        os.close(fd)


def _check_cancelled(step: str) -> None:
    if cancelled():
        raise TargetError(
            "stopped copying: the step's deadline passed", target="host files", step=step, fix="raise the deadline"
        )


def read_events(path: Path) -> str:
    """The app's live `events.jsonl` ("" while absent), read within the events limit and never through a link."""
    try:
        data = limits.read_bounded(
            path, limits.EVENTS_BYTES, error=_events_error, what="the live events.jsonl", fix=_FIX
        )
    except FileNotFoundError:
        return ""
    return data.decode("utf-8", errors="replace")


def _events_error(what: str, *, where: str | None = None, fix: str | None = None) -> MlupdateError:
    return TargetError(what, target=where or "host files", step="read events", fix=fix)
