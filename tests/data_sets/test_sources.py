"""Sources list their examples up front (count, empty set) and read them lazily."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlupdate.data import array_file, csv_table, image_files, image_folder, labelled_files, read_labels
from mlupdate.errors import DataError


def _png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (3, 3), value).save(path)
    return path


def test_image_folder_labels_are_subfolder_names_in_sorted_order(tmp_path: Path) -> None:
    _png(tmp_path / "dog" / "b.png")
    _png(tmp_path / "cat" / "z.png")
    _png(tmp_path / "dog" / "a.png")
    (tmp_path / "dog" / "readme.txt").write_text("ignored")
    source = image_folder(tmp_path)
    assert source.count == 3
    assert [(Path(e.origin).name, e.label) for e in source] == [("z.png", "cat"), ("a.png", "dog"), ("b.png", "dog")]


def test_labelled_files_order_by_label_then_numeric_index(tmp_path: Path) -> None:
    for name in ("7_10.png", "7_2.png", "3_1.png", "my_label_0.png"):
        _png(tmp_path / name)
    assert [(e.label, Path(e.origin).name) for e in labelled_files(tmp_path)] == [
        ("3", "3_1.png"),
        ("7", "7_2.png"),
        ("7", "7_10.png"),
        ("my_label", "my_label_0.png"),
    ]


def test_labelled_files_refuse_a_name_without_index(tmp_path: Path) -> None:
    _png(tmp_path / "seven.png")
    with pytest.raises(DataError, match="<label>_<index>") as info:
        labelled_files(tmp_path)
    assert info.value.where == str(tmp_path / "seven.png")


def test_empty_folder_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no images"):
        image_folder(tmp_path)
    with pytest.raises(DataError, match="no images"):
        image_files(tmp_path)


def test_npy_with_txt_labels_and_npz_with_json_labels(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(6, dtype=np.float32).reshape(3, 2))
    (tmp_path / "labels.txt").write_text("a\nb\n\nc\n")
    source = array_file(tmp_path / "x.npy", labels=tmp_path / "labels.txt")
    assert [e.label for e in source] == ["a", "b", "c"]
    assert np.array_equal(next(iter(source)).value, [0, 1])
    np.savez(tmp_path / "x.npz", np.zeros(2), np.ones(3))  # one array per example: arr_0, arr_1
    (tmp_path / "labels.json").write_text(json.dumps([1, 2]))
    examples = list(array_file(tmp_path / "x.npz", labels=tmp_path / "labels.json"))
    assert [e.value.shape for e in examples] == [(2,), (3,)] and [e.label for e in examples] == [1, 2]


def test_label_count_must_match_example_count(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "labels.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="2 labels for 3 examples") as info:
        array_file(tmp_path / "x.npy", labels=tmp_path / "labels.json")
    assert info.value.where == str(tmp_path / "labels.json")


def test_pickled_or_corrupt_arrays_and_bad_label_files_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="cannot read the arrays"):
        array_file(tmp_path / "objects.npy")
    (tmp_path / "broken.npz").write_bytes(b"PK not a zip")
    with pytest.raises(DataError, match="corrupt, or pickled Python objects, refused") as info:
        array_file(tmp_path / "broken.npz")
    assert "allow_pickle" not in info.value.message and info.value.where == str(tmp_path / "broken.npz")
    (tmp_path / "labels.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_labels(tmp_path / "labels.json")
    (tmp_path / "labels.csv").write_text("a")
    with pytest.raises(DataError, match="unknown labels file"):
        read_labels(tmp_path / "labels.csv")


def test_csv_feature_columns_and_target(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("a,b,label,c\n1,2,yes,3\n4,5,no,6\n")
    rows = list(csv_table(table, target="label"))
    assert [r.label for r in rows] == ["yes", "no"]
    assert np.array_equal(rows[1].value, [4, 5, 6])
    assert rows[0].origin == f"{table}:2"
    only_b = list(csv_table(table, target="label", columns=["b"]))
    assert np.array_equal(only_b[0].value, [2])


def test_csv_errors_name_line_and_column(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n1,2,3\n1,oops,3\n")
    with pytest.raises(DataError, match="'b' holds 'oops'") as info:
        list(csv_table(table))
    assert info.value.where == f"{table}:3"
    table.write_text("a,b,y\n1,2\n")
    with pytest.raises(DataError, match="2 cells"):
        csv_table(table)
    table.write_text("a,b,y\n")
    with pytest.raises(DataError, match="no rows"):
        csv_table(table)
    table.write_text("a,b,y\n1,2,3\n")
    with pytest.raises(DataError, match="no target column 'z'"):
        csv_table(table, target="z")
