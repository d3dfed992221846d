"""Where a run happened, recorded beside its outputs and named in every row of the cross-device table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlupdate.errors import InputError
from mlupdate.parity.crossdevice import (
    COLUMNS,
    NOT_RECORDED,
    WHERE_FILE,
    Where,
    find_where,
    load_row,
    markdown_table,
    write_where,
)

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "contract" / "results" / "succeeded"


@pytest.mark.parametrize(
    ("where", "label"),
    [
        (Where("desk"), "desk"),
        (Where("remote", host="lab-mac.local:49151"), "remote lab-mac.local:49151"),
        (Where("farm", farm="aws-device-farm", pool="top-ios"), "farm aws-device-farm · pool top-ios"),
    ],
)
def test_where_round_trips_through_its_file(tmp_path: Path, where: Where, label: str) -> None:
    write_where(tmp_path, where)
    assert find_where(tmp_path) == where
    assert json.loads((tmp_path / WHERE_FILE).read_text(encoding="utf-8"))["label"] == label


def test_a_row_names_where_it_ran_from_the_nearest_record(tmp_path: Path) -> None:
    cell = tmp_path / "matrix" / "lab-phone"
    results = cell / "device" / "golden-classifier-image"
    shutil.copytree(GOLDEN, results)
    write_where(tmp_path / "matrix", Where("desk"))  # a record further up loses to the cell's own
    write_where(cell, Where("remote", host="lab-mac.local:49151"))

    row = load_row(results)

    assert row.where == "remote lab-mac.local:49151"
    assert "where" in COLUMNS
    assert "| remote lab-mac.local:49151 |" in markdown_table([row])


def test_a_row_without_a_record_says_so(tmp_path: Path) -> None:
    results = tmp_path / "a" / "b" / "c" / "golden-classifier-image"
    shutil.copytree(GOLDEN, results)
    write_where(tmp_path, Where("desk"))  # three folders above: not this run's record
    assert load_row(results).where == NOT_RECORDED


@pytest.mark.parametrize(
    ("document", "what"),
    [
        ({"kind": "something else"}, "not a mlupdate.where document"),
        ({"kind": "mlupdate.where", "route": "cloud"}, "route 'cloud' is not one of"),
        ({"kind": "mlupdate.where", "route": "remote"}, "a remote run needs `host`"),
        ({"kind": "mlupdate.where", "route": "farm", "farm": "aws-device-farm"}, "a farm run needs `pool`"),
        ({"kind": "mlupdate.where", "route": "remote", "host": "h" * 500}, "host must be a short string"),
        ([], "not a mlupdate.where document"),
    ],
)
def test_a_bad_record_is_refused_naming_the_file(tmp_path: Path, document: object, what: str) -> None:
    (tmp_path / WHERE_FILE).write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        find_where(tmp_path)
    assert what in caught.value.what
    assert WHERE_FILE in (caught.value.where or "")


def test_an_oversized_or_broken_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / WHERE_FILE).write_text("{" * 10, encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        find_where(tmp_path)
    (tmp_path / WHERE_FILE).write_text(" " * 10_000, encoding="utf-8")
    with pytest.raises(InputError, match="more than the"):
        find_where(tmp_path)
