"""Folders that appear whole or not at all: build under a hidden temporary name, then rename into place."""

from __future__ import annotations

import hashlib
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlupdate.errors import BundleError


class HashingWriter:
    """A binary sink that writes to a file and keeps the sha256 of everything written."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("wb")
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return self._handle.write(data)

    def close(self) -> str:
        self._handle.close()
        return self._digest.hexdigest()


def write_hashed(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


@contextmanager
def staging_folder(final: Path) -> Iterator[Path]:
    """A fresh hidden folder beside `final`; removed on any exception, left for the caller to publish."""
    if final.exists() or final.is_symlink():
        raise BundleError(
            "the destination already exists", where=str(final), fix="remove it first, or choose another job id"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp: its 0700 would be the published bundle's mode. An unpredictable name, the user's umask.
    staging = final.parent / f".{final.name}.{secrets.token_hex(8)}.partial"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish(staging: Path, final: Path) -> Path:
    """Rename the finished staging folder to `final` (atomic on one file system)."""
    try:
        staging.rename(final)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BundleError(
            f"cannot move the finished bundle into place: {exc.strerror}",
            where=str(final),
            fix="remove the existing destination, or choose another job id",
        ) from None
    return final
