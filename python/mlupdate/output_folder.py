"""Output folders a command owns: nothing a user made is ever replaced, and nothing is lost half-way.

`owned_output(final, command=...)` is how every command writes its output folder:

- `final` may be replaced only if it is missing, empty, or carries the marker file `.mlharness-output.json` of an
  earlier run of the same command; anything else is refused (say another folder with -o, or --force). A folder
  inside an input (or holding one), a link, a file, the home folder and the current directory are refused even
  with `force`.
- The new output is written aside, in a hidden staging folder beside `final`, and swapped in only when the `with`
  block ends without an exception: one atomic exchange of the two folders where the system has one (Linux
  `renameat2`, macOS `renamex_np`), otherwise two renames that the next run can undo. `final` holds the previous
  complete output or the new complete output at every moment.
- Each staging folder has a lock file held while its writer lives; the next run for the same `final` removes
  staging folders whose writer died (killed, power cut) and, after a crash between the two fallback renames,
  puts the previous output back.

Usage::

    with owned_output(out / name, command="scenario", inputs=[models]) as output:
        build(output.staging)               # write everything into the staging folder
    # out/name now holds the new output, marked as written by `scenario`

A writer that makes its own sub-folder (a results bundle written as `<parent>/<job_id>`) calls
`output.publish(output.staging / job_id)` to choose that folder as the one swapped in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import json
import logging
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path

from mlupdate.errors import OutputFolderError

log = logging.getLogger(__name__)

MARKER = ".mlharness-output.json"
MARKER_KIND = "mlharness.output"
_MARKER_MAX_BYTES = 4096
_STAGING_TAG = ".mlh-"
_LOCK_SUFFIX = ".lock"
_PREVIOUS = ".previous"  # inside a staging folder: the old output, during the two-rename fallback only
_FIX = "choose another folder with -o (a new or empty one), or pass --force to replace this one"


@dataclass
class OwnedOutput:
    """The folder being written: `staging` now, `final` once the `with` block ends without an exception."""

    final: Path
    command: str
    staging: Path
    _published: Path | None = field(default=None, repr=False)

    def publish(self, folder: Path) -> None:
        """Swap in `folder` (the staging folder or a folder inside it) instead of the whole staging folder."""
        if folder != self.staging and self.staging not in folder.parents:
            raise ValueError(f"{folder} is not inside the staging folder {self.staging}")
        self._published = folder

    def final_path(self, path: Path) -> Path:
        """Where `path`, written inside the published folder, will be once the output is in place."""
        return self.final / path.relative_to(self._published or self.staging)


@contextmanager
def owned_output(
    final: str | os.PathLike[str],
    *,
    command: str,
    force: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
    also_owned: Callable[[Path], bool] | None = None,
) -> Iterator[OwnedOutput]:
    """Write a command's output folder aside and swap it into `final` on success (see the module docstring).

    `inputs` are the folders and files the command reads; `also_owned(folder)` recognises this command's output
    from before the marker existed."""
    target = Path(final)
    check = partial(check_destination, target, command=command, force=force, inputs=inputs, also_owned=also_owned)
    check()
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    area, lock = _open_staging(target)
    try:
        output = OwnedOutput(target, command, area)
        yield output
        published = output._published or area
        check()  # the destination may have changed while the output was written
        write_marker(published, command)
        _swap_in(published, target, area)
    finally:
        remove_tree(area)
        _release(lock, area)


def check_destination(
    final: Path,
    *,
    command: str,
    force: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
    also_owned: Callable[[Path], bool] | None = None,
) -> None:
    """Refuse `final` (OutputFolderError) unless `command` may replace it."""
    where = str(final)
    try:
        info = final.lstat()
    except FileNotFoundError:
        info = None
    except NotADirectoryError:
        raise OutputFolderError(
            "a file stands where a folder is needed on the way to it", where=where, fix=_FIX
        ) from None
    except OSError as exc:
        raise OutputFolderError(f"cannot inspect the output folder: {exc.strerror}", where=where, fix=_FIX) from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise OutputFolderError("the output folder is a symbolic link", where=where, fix=_FIX)
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise OutputFolderError("a file stands where a folder is needed (the output folder)", where=where, fix=_FIX)
    _refuse_inputs(final, inputs)
    _refuse_protected(final)
    if info is None or _is_empty(final):
        return
    owner = read_marker(final)
    if owner == command or (owner is None and also_owned is not None and also_owned(final)):
        return
    if force:
        log.warning("--force: replacing %s (%s)", final, f"written by `{owner}`" if owner else "not written by us")
        return
    with os.scandir(final) as entries:
        held = sorted(entry.name for entry in entries)
    what = (
        f"refusing to replace a folder written by `mlharness {owner}`, not by `mlharness {command}`"
        if owner
        else f"refusing to replace a folder `mlharness {command}` did not write (it holds {', '.join(held[:5])}"
        + (", ..." if len(held) > 5 else "")
        + ")"
    )
    raise OutputFolderError(what, where=where, fix=_FIX)


def _is_empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


def _refuse_inputs(final: Path, inputs: Sequence[str | os.PathLike[str]]) -> None:
    out = final.resolve()
    for given in inputs:
        source = Path(given).resolve()
        if out == source or source in out.parents:
            raise OutputFolderError(
                f"the output folder is inside the input {given}",
                where=str(final),
                fix="write the output outside every input folder (inputs are never modified)",
            )
        if out in source.parents:
            raise OutputFolderError(
                f"the output folder holds the input {given}, which replacing it would delete",
                where=str(final),
                fix="write the output to a folder that holds none of the inputs",
            )


def _refuse_protected(final: Path) -> None:
    out = final.resolve()
    home = Path.home().resolve()
    cwd = Path.cwd().resolve()
    if out in (home, Path(out.anchor)) or out == cwd or out in cwd.parents:
        raise OutputFolderError(
            "refusing to replace the home folder, the file system root or a folder holding the current directory",
            where=str(final),
            fix="pass a sub-folder with -o, e.g. -o out/run1",
        )


def read_marker(folder: Path) -> str | None:
    """The command named by `folder`'s marker file; None when there is no readable marker."""
    path = folder / MARKER
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(_MARKER_MAX_BYTES + 1)
    try:
        document = json.loads(data) if len(data) <= _MARKER_MAX_BYTES else None
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("kind") != MARKER_KIND:
        return None
    command = document.get("command")
    return command if isinstance(command, str) else None


def write_marker(folder: Path, command: str) -> None:
    document = {"kind": MARKER_KIND, "command": command}
    (folder / MARKER).write_text(json.dumps(document) + "\n", encoding="utf-8")


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write the file `path` whole or not at all: a temporary file with an unpredictable name beside it, created
    with the user's umask like any file they make, then one rename over `path`."""
    final = Path(path)
    while True:
        temporary = final.with_name(f".{final.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        temporary.replace(final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return final


def remove_tree(path: Path) -> None:
    """`shutil.rmtree(path, ignore_errors=True)` without recursion and in linear time: a 1,000-deep tree (a hostile
    app can write one) would exhaust the interpreter's stack inside shutil, and walking it by full paths costs the
    square of its depth. Descends through directory descriptors, one open at a time; links are removed, never
    followed."""
    try:
        if not stat.S_ISDIR(path.lstat().st_mode):
            path.unlink()
            return
        fd = os.open(path, _DIRECTORY_FLAGS)
    except OSError:
        return
    names: list[str] = []  # the folders descended into, below `path`
    while True:
        child = _clear_files(fd)
        if child is not None:
            try:
                inner = os.open(child, _DIRECTORY_FLAGS, dir_fd=fd)
            except OSError:
                break  # cannot go further: leave what remains, like ignore_errors
            os.close(fd)
            fd, names = inner, [*names, child]
            continue
        if not names:
            os.close(fd)
            with suppress(OSError):
                path.rmdir()
            return
        try:
            parent = os.open("..", _DIRECTORY_FLAGS, dir_fd=fd)
        except OSError:
            break
        os.close(fd)
        fd = parent
        with suppress(OSError):
            os.rmdir(names.pop(), dir_fd=fd)
    os.close(fd)


_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _clear_files(fd: int) -> str | None:
    """Remove every non-folder entry of the open directory `fd`; return one sub-folder's name, if any is left."""
    folder = None
    with suppress(OSError), os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folder = folder or entry.name
            else:
                with suppress(OSError):
                    os.unlink(entry.name, dir_fd=fd)
    return folder


# -- staging folders and their locks ---------------------------------------------------------------------------


def _staging_prefix(final: Path) -> str:
    return f".{final.name}{_STAGING_TAG}"


def _open_staging(final: Path) -> tuple[Path, int]:
    """A new empty staging folder beside `final` and the open, locked descriptor of its lock file."""
    while True:
        area = final.parent / f"{_staging_prefix(final)}{secrets.token_hex(8)}"
        lock_path = Path(f"{area}{_LOCK_SUFFIX}")
        fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A cleaner that ran between create and lock may have taken this file for a dead writer's and unlinked it.
        if os.fstat(fd).st_ino == _inode(lock_path):
            break
        os.close(fd)
    try:
        area.mkdir()
    except BaseException:
        _release(fd, area)
        raise
    return area, fd


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _release(fd: int, area: Path) -> None:
    with suppress(FileNotFoundError):
        Path(f"{area}{_LOCK_SUFFIX}").unlink()
    os.close(fd)


def clean_stale(final: Path) -> list[Path]:
    """Remove the staging folders of dead writers of `final`; restore `final` if one died mid-swap."""
    prefix = _staging_prefix(final)
    try:
        with os.scandir(final.parent) as entries:
            names = [entry.name for entry in entries if entry.name.startswith(prefix)]
    except FileNotFoundError:
        return []
    removed = []
    for name in sorted(names):
        if name.endswith(_LOCK_SUFFIX):
            continue
        area = final.parent / name
        alive, fd = _writer_state(Path(f"{area}{_LOCK_SUFFIX}"))
        if alive:
            continue
        try:
            _recover(area, final)
            remove_tree(area)
            removed.append(area)
            log.info("removed %s, left by an interrupted writer", area)
        finally:
            if fd is not None:
                _release(fd, area)
    for name in names:  # lock files whose staging folder is already gone
        area = final.parent / name.removesuffix(_LOCK_SUFFIX)
        if name.endswith(_LOCK_SUFFIX) and not area.exists():
            alive, fd = _writer_state(final.parent / name)
            if fd is not None:
                _release(fd, area)
    return removed


def _writer_state(lock_path: Path) -> tuple[bool, int | None]:
    """(alive, fd): whether the writer holding `lock_path` still runs; when it is gone, `fd` is the lock file opened
    and locked by us (None when there is no lock file at all: the writer died while removing its own)."""
    try:
        fd = os.open(lock_path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False, None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return True, None
    return False, fd


def _recover(area: Path, final: Path) -> None:
    previous = area / _PREVIOUS
    if previous.is_dir() and not previous.is_symlink() and not os.path.lexists(final):
        previous.rename(final)
        log.warning("restored the previous %s: a writer died between its two renames", final)


# -- the swap ----------------------------------------------------------------------------------------------------


def _swap_in(new: Path, final: Path, area: Path) -> None:
    if not os.path.lexists(final):
        new.rename(final)
        return
    if exchange(new, final):
        return
    # No atomic exchange here: park the old output inside the staging folder, where the next run finds it.
    final.rename(area / _PREVIOUS)
    new.rename(final)


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths on one file system; False where the system cannot (then nothing changed)."""
    call = _exchange_call()
    if call is None:
        return False
    result = call(os.fsencode(a), os.fsencode(b))
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # e.g. a file system without exchange support
    raise OSError(err, os.strerror(err), str(a), None, str(b))


_RENAME_EXCHANGE = 2  # linux/fs.h
_RENAME_SWAP = 2  # macOS sys/stdio.h
_AT_FDCWD = -100


@cache
def _exchange_call() -> Callable[[bytes, bytes], int] | None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        renameat2 = libc.renameat2
        renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
        return lambda a, b: int(renameat2(_AT_FDCWD, a, _AT_FDCWD, b, _RENAME_EXCHANGE))
    if sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        renamex = libc.renamex_np
        renamex.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint)
        return lambda a, b: int(renamex(a, b, _RENAME_SWAP))
    return None
