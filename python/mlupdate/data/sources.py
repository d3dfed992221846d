"""Where examples come from, before they are fitted to a model.

A source lists its examples when it is built (so the count and an empty set are known at once) and reads
them one at a time when iterated; nothing holds the whole set in memory unless it arrived as one array.

- `image_folder(root)`: `root/<label>/<image>`; the label is the sub-folder name.
- `labelled_files(root)`: `root/<label>_<index>.png` (the convention of seed 001, e.g. `7_12.png`).
- `image_files(root)`: every image in `root`, unlabelled (a probe set).
- `array_file(path, labels=...)`: `.npy` [N, ...] or `.npz` (one array [N, ...], or one array per example),
  with labels from a `.json` list or a `.txt` file of one label per line.
- `csv_table(path, target=..., header=..., delimiter=...)`: one example per row; the feature columns form the
  input multiArray, the target column is the label; with or without a header row, any one-character delimiter.
"""

from __future__ import annotations

import csv
import json
import re
import stat
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlupdate.data.images import IMAGE_SUFFIXES
from mlupdate.errors import DataError

Label = str | int | float | None
_LABELLED_NAME = re.compile(r"(?P<label>.+)_(?P<index>\d+)")


@dataclass(frozen=True)
class RawExample:
    """One example as found: an image file or an array, its label (None for probe sets), and where it is."""

    origin: str
    value: Path | np.ndarray
    label: Label


@dataclass(frozen=True)
class Source:
    """`count` raw examples, read lazily (each iteration reads the files again)."""

    origin: str
    count: int
    produce: Callable[[], Iterator[RawExample]]

    def __iter__(self) -> Iterator[RawExample]:
        return self.produce()

    def __len__(self) -> int:
        return self.count


def _files(files: Sequence[tuple[Path, Label]], origin: str) -> Source:
    if not files:
        raise DataError(
            "no images found", where=origin, fix=f"add images ({', '.join(IMAGE_SUFFIXES)}) or check the path"
        )
    return Source(origin, len(files), lambda: (RawExample(str(path), path, label) for path, label in files))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _folder(root: str | Path) -> Path:
    folder = Path(root)
    if not folder.is_dir():
        raise DataError("no such folder", where=str(folder), fix="pass a folder of images")
    return folder


def image_folder(root: str | Path) -> Source:
    """Images in `root/<label>/`, labels = sub-folder names; ordered by label, then file name."""
    folder = _folder(root)
    files: list[tuple[Path, Label]] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files.extend((path, sub.name) for path in _images_in(sub))
    return _files(files, str(folder))


def labelled_files(root: str | Path) -> Source:
    """Images named `<label>_<index>.<ext>` in `root`; ordered by label, then numeric index."""
    folder = _folder(root)
    keyed: list[tuple[str, int, Path]] = []
    for path in _images_in(folder):
        match = _LABELLED_NAME.fullmatch(path.stem)
        if match is None:
            raise DataError(
                "the file name is not `<label>_<index>`",
                where=str(path),
                fix="rename it like `7_12.png` (label 7, example 12), or use image_folder()",
            )
        keyed.append((match["label"], int(match["index"]), path))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return _files([(path, label) for label, _, path in keyed], str(folder))


def _regular_file(path: Path, *, fix: str) -> Path:
    """`path`, if it is a regular file (or a link to one): a FIFO would block the reader for ever and a device
    such as /dev/zero would fill the memory, so both are refused before anything opens them."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError("no such file", where=str(path), fix="check the path") from None
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror}", where=str(path), fix="check the path") from None
    if not stat.S_ISREG(info.st_mode):
        raise DataError("is not a regular file (a pipe, socket, device or folder)", where=str(path), fix=fix)
    return path


def image_files(root: str | Path) -> Source:
    """Every image directly in `root`, unlabelled (for probe sets), ordered by file name."""
    folder = _folder(root)
    return _files([(path, None) for path in _images_in(folder)], str(folder))


def read_labels(path: str | Path) -> list[Label]:
    """Labels from a `.json` list or a `.txt` file with one label per line (blank lines ignored)."""
    path = _regular_file(Path(path), fix="pass a UTF-8 .json or .txt file")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"cannot read the labels: {exc}", where=str(path), fix="pass a UTF-8 .json or .txt file"
        ) from None
    if path.suffix.lower() == ".json":
        try:
            labels = json.loads(text)
        except ValueError as exc:
            raise DataError(f"not valid JSON: {exc}", where=str(path), fix="write a JSON list of labels") from None
        if not isinstance(labels, list) or not all(isinstance(v, str | int | float) for v in labels):
            raise DataError("expected a JSON list of strings or numbers", where=str(path), fix="write a flat list")
        return labels
    if path.suffix.lower() == ".txt":
        return [line.strip() for line in text.splitlines() if line.strip()]
    raise DataError("unknown labels file type", where=str(path), fix="use a .json list or a .txt file")


def array_file(path: str | Path, *, labels: str | Path | Sequence[Label] | None = None) -> Source:
    """Examples from a `.npy` [N, ...] or `.npz` file, labelled by a labels file or list (or unlabelled)."""
    path = Path(path)
    examples = _load_arrays(path)
    count = len(examples)
    if count == 0:
        raise DataError("the array file holds no examples", where=str(path), fix="pass at least one example")
    label_list: list[Label] = [None] * count
    if labels is not None:
        label_list = read_labels(labels) if isinstance(labels, str | Path) else list(labels)
        if len(label_list) != count:
            raise DataError(
                f"{len(label_list)} labels for {count} examples",
                where=str(labels) if isinstance(labels, str | Path) else str(path),
                fix="give exactly one label per example, in the same order",
            )

    def produce() -> Iterator[RawExample]:
        for index in range(count):
            yield RawExample(f"{path}[{index}]", np.asarray(examples[index]), label_list[index])

    return Source(str(path), count, produce)


def _load_arrays(path: Path) -> Sequence[Any]:
    _regular_file(path, fix="save the arrays with numpy.save / numpy.savez and pass that file")
    try:
        if path.suffix.lower() == ".npy":
            # Memory-mapped: examples are read one at a time as the set is streamed.
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if array.ndim == 0:
                raise DataError("a 0-d array holds no examples", where=str(path), fix="save an array [N, ...]")
            return array  # type: ignore[no-any-return]
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = sorted(archive.files, key=_natural)
                if len(names) == 1:
                    return archive[names[0]]  # type: ignore[no-any-return]
                return [archive[name] for name in names]
    except FileNotFoundError:
        raise DataError("no such file", where=str(path), fix="check the path") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"cannot read the arrays: {_load_failure(exc)}",
            where=str(path),
            fix="save them with numpy.save / numpy.savez",
        ) from None
    raise DataError("unknown array file type", where=str(path), fix="use a .npy or .npz file")


def _load_failure(exc: Exception) -> str:
    # numpy falls back to unpickling whatever lacks the array or zip magic, so a corrupt file and an object
    # array both surface as its "pickled data / allow_pickle" advice - which we must not follow.
    if isinstance(exc, ValueError) and "pickle" in str(exc):
        return "neither a numeric .npy/.npz array nor readable as one (corrupt, or pickled Python objects, refused)"
    return str(exc)


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def csv_table(
    path: str | Path,
    *,
    target: str | None = None,
    columns: Sequence[str] | None = None,
    header: bool = True,
    delimiter: str = ",",
) -> Source:
    """Rows of a CSV file: `columns` (default: all but the target) -> input, `target` -> label.

    `target` defaults to the last column; `target=""` reads an unlabelled table (a probe set). Without a header
    row (`header=False`) the columns are named by position, "0", "1", ...; `delimiter` is one character.
    """
    path = Path(path)
    if len(delimiter) != 1:
        raise DataError(f"the delimiter {delimiter!r} is not one character", where=str(path), fix="pass e.g. ';'")
    _regular_file(path, fix="pass a UTF-8 CSV file")
    names, rows = _csv_shape(path, header, delimiter)
    label_column = names[-1] if target is None else target
    if label_column and label_column not in names:
        raise DataError(f"no target column {label_column!r} (columns: {names})", where=str(path), fix="pass target=")
    feature_columns = list(columns) if columns is not None else [c for c in names if c != label_column]
    unknown = [c for c in feature_columns if c not in names]
    if unknown or not feature_columns:
        raise DataError(
            f"bad feature columns {feature_columns} (columns: {names})", where=str(path), fix="pass columns="
        )
    positions = [names.index(c) for c in feature_columns]
    label_position = names.index(label_column) if label_column else None

    def produce() -> Iterator[RawExample]:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            if header:
                next(reader)
            for line, row in enumerate(reader, start=2 if header else 1):
                if not row:
                    continue
                where = f"{path}:{line}"
                values = np.array([_number(row[i], names[i], where) for i in positions], dtype=np.float64)
                label = row[label_position] if label_position is not None else None
                yield RawExample(where, values, label)

    if rows == 0:
        raise DataError("the table has no rows", where=str(path), fix="add at least one example row")
    return Source(str(path), rows, produce)


def _csv_shape(path: Path, header: bool, delimiter: str) -> tuple[list[str], int]:
    """The column names and the number of data rows; a row with another number of cells is refused here."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            first = next(reader, None)
            if not first:
                raise DataError(
                    "the file is empty", where=str(path), fix="write a header row, then one row per example"
                )
            names = first if header else [str(i) for i in range(len(first))]
            rows = 0 if header else 1
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(names):
                    raise DataError(
                        f"row has {len(row)} cells, the {'header' if header else 'first row'} has {len(names)}",
                        where=f"{path}:{line}",
                        fix="give every row one cell per column"
                        + ("" if header or delimiter != "," else " (or pass the file's delimiter)"),
                    )
                rows += 1
    except FileNotFoundError:
        raise DataError("no such file", where=str(path), fix="check the path") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read the table: {exc}", where=str(path), fix="pass a UTF-8 CSV file") from None
    return names, rows


def _number(cell: str, column: str, where: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise DataError(
            f"column {column!r} holds {cell!r}, not a number", where=where, fix="fill the cell with a number"
        ) from None
