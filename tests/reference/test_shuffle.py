"""The libc++ port reproduces a real libc++ bit for bit (compiled here when clang++ with libc++ works)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlupdate.reference.shuffle import (
    EpochOrder,
    MinstdRand,
    SeedSeq,
    engine_for,
    shuffle_array,
    shuffle_in_place,
    uniform_int,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "reference"


def _libcxx_sequences(tmp_dir: Path) -> dict[str, Any]:
    """Fresh output of the C++ program when clang++ -stdlib=libc++ builds it, else the committed copy."""
    clang = shutil.which("clang++")
    if clang is not None:
        binary = tmp_dir / "libcxx_shuffle"
        build = subprocess.run(
            [clang, "-std=c++17", "-stdlib=libc++", "-O1", str(DATA / "libcxx_shuffle.cpp"), "-o", str(binary)],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if build.returncode == 0:
            run = subprocess.run([str(binary)], capture_output=True, timeout=60, check=True)
            return json.loads(run.stdout)  # type: ignore[no-any-return]
    return json.loads((DATA / "libcxx_shuffle.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def libcxx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _libcxx_sequences(tmp_path_factory.mktemp("libcxx"))


def test_committed_sequences_match_a_fresh_libcxx_build(libcxx: dict[str, Any]) -> None:
    assert libcxx == json.loads((DATA / "libcxx_shuffle.json").read_text())


def test_minstd_rand_default_seed_matches_libcxx(libcxx: dict[str, Any]) -> None:
    engine = MinstdRand()
    assert [engine() for _ in range(10)] == libcxx["engine_default"]


def test_seed_seq_generates_the_libcxx_words(libcxx: dict[str, Any]) -> None:
    for case in libcxx["seed_seq"]:
        assert SeedSeq([case["seed"]]).generate(4) == case["words"], case["seed"]


def test_uniform_int_matches_libcxx_for_narrow_and_multi_word_ranges(libcxx: dict[str, Any]) -> None:
    for case in libcxx["uniform_int"]:
        engine = MinstdRand()
        assert [uniform_int(engine, 0, case["high"]) for _ in range(8)] == case["draws"], case["high"]


def test_repeated_shuffles_match_libcxx_for_every_size_and_seed(libcxx: dict[str, Any]) -> None:
    assert len(libcxx["shuffles"]) >= 30
    for case in libcxx["shuffles"]:
        engine = engine_for(case["seed"], seeded_shuffle="seed_seq")
        order = list(range(case["n"]))
        for expected in case["orders"]:
            shuffle_in_place(order, engine)
            assert order == expected, (case["n"], case["seed"])


def test_epoch_order_reshuffles_with_the_same_engine(libcxx: dict[str, Any]) -> None:
    case = next(c for c in libcxx["shuffles"] if c["n"] == 405 and c["seed"] is None)
    epochs = EpochOrder(405, shuffle=True, engine=engine_for(None))
    assert epochs.order == case["orders"][0]
    epochs.reshuffle()
    assert epochs.order == case["orders"][1]


def test_epoch_order_without_shuffle_is_the_bundle_order() -> None:
    epochs = EpochOrder(5, shuffle=False, engine=engine_for(None))
    epochs.reshuffle()
    assert epochs.order == [0, 1, 2, 3, 4]


def test_direct_seed_maps_zero_to_one() -> None:
    assert engine_for(0, seeded_shuffle="direct").state == 1
    assert engine_for(2**31 - 1 + 5, seeded_shuffle="direct").state == 5


@pytest.mark.parametrize("seed", [1, 7, 48271, 2**31 - 2])
def test_the_block_shuffle_equals_the_scalar_port_in_order_and_engine_state(seed: int) -> None:
    """Sizes around the scalar tail (64), the block (8192) and powers of two, three reshuffles each."""
    for n in [*range(0, 140), 255, 256, 257, 405, 1000, 4097, 8193, 16384]:
        scalar_engine, block_engine = MinstdRand(seed), MinstdRand(seed)
        items, array = list(range(n)), np.arange(n)
        for _ in range(3):
            shuffle_in_place(items, scalar_engine)
            shuffle_array(array, block_engine)
            assert array.tolist() == items, n
            assert block_engine.state == scalar_engine.state, n
