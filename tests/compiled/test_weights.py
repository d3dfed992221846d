"""The espresso blob table: any table round-trips, and every truncation or extension is refused."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlupdate.compiled.weights import parse_blob_table
from mlupdate.errors import CompiledModelError

WHERE = Path("model.espresso.weights")
blob_tables = st.dictionaries(st.integers(0, 40), st.binary(max_size=24), max_size=8)


def encode(blobs: dict[int, bytes]) -> bytes:
    ids = sorted(blobs)
    table = struct.pack("<Q", len(ids)) + b"".join(struct.pack("<QQ", i, len(blobs[i])) for i in ids)
    return table + b"".join(blobs[i] for i in ids)


@given(blob_tables)
def test_any_blob_table_round_trips(blobs: dict[int, bytes]) -> None:
    assert parse_blob_table(encode(blobs), WHERE).blobs == blobs


@given(blob_tables, st.data())
def test_every_truncation_is_refused(blobs: dict[int, bytes], data: st.DataObject) -> None:
    encoded = encode(blobs)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(CompiledModelError) as info:
        parse_blob_table(encoded[:cut], WHERE)
    assert info.value.where == str(WHERE)


@given(blob_tables, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(blobs: dict[int, bytes], extra: bytes) -> None:
    with pytest.raises(CompiledModelError, match="trailing bytes"):
        parse_blob_table(encode(blobs) + extra, WHERE)


def test_unsorted_ids_are_refused() -> None:
    table = struct.pack("<QQQQQ", 2, 5, 0, 3, 0)
    with pytest.raises(CompiledModelError, match="not unique and increasing"):
        parse_blob_table(table, WHERE)


def test_unreferenced_blobs_with_content_are_listed() -> None:
    table = parse_blob_table(encode({0: b"\0" * 8, 1: b"", 2: b"abcd", 3: b"efgh"}), WHERE)
    assert table.unreferenced({3}) == [0, 2]
