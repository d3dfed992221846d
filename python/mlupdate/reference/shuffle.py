"""Bit-exact port of the libc++ pieces Core ML's `MLShufflingBatchProvider` uses.

`std::minstd_rand`, `std::uniform_int_distribution<ptrdiff_t>` (through `__independent_bits_engine`),
`std::shuffle` (libc++ walks forward) and `std::seed_seq::generate`. Python integers stand in for the C++
unsigned types; every mask reproduces the wrap-around of the C++ arithmetic. Pinned against sequences from
a real libc++ in tests/reference/test_shuffle.py.

`shuffle_array` is the same shuffle with the engine run in numpy blocks: the scalar port walks ~2 engine
values per element in Python, which was ~40% of a training run at 16k examples.
"""

from __future__ import annotations

from collections.abc import MutableSequence, Sequence
from typing import Any

import numpy as np

MINSTD_MULTIPLIER = 48271
MINSTD_MODULUS = 2**31 - 1
_MINSTD_MIN, _MINSTD_MAX = 1, MINSTD_MODULUS - 1
_ENGINE_RANGE = _MINSTD_MAX - _MINSTD_MIN + 1  # libc++ _Rp
_ENGINE_BITS = _ENGINE_RANGE.bit_length() - 1  # floor(log2(_Rp)) = 30: bits one engine call yields
_WORKING_BITS = 64  # uniform_int_distribution<ptrdiff_t> works in uint64
_MASK32 = 0xFFFFFFFF


class MinstdRand:
    """`std::minstd_rand`: x = x * 48271 mod (2^31 - 1); the default seed is 1."""

    def __init__(self, seed: int = 1) -> None:
        self.state = 1
        self.seed(seed)

    def seed(self, value: int) -> None:
        """`engine.seed(value)`: value mod (2^31 - 1), where 0 becomes 1."""
        state = value % MINSTD_MODULUS
        self.state = state if state != 0 else 1

    def seed_sequence(self, seq: SeedSeq) -> None:
        """`engine.seed(seed_seq)`: generate 4 words, keep word[3] mod (2^31 - 1), 0 becomes 1."""
        words = seq.generate(4)
        state = words[3] % MINSTD_MODULUS
        self.state = state if state != 0 else 1

    def __call__(self) -> int:
        self.state = self.state * MINSTD_MULTIPLIER % MINSTD_MODULUS
        return self.state


def _independent_bits(engine: MinstdRand, width: int) -> int:
    """`__independent_bits_engine<minstd_rand, uint64_t>(engine, width)()`."""
    words = width // _ENGINE_BITS + (width % _ENGINE_BITS != 0)
    word_bits = width // words
    limit0 = (_ENGINE_RANGE >> word_bits) << word_bits if word_bits < _WORKING_BITS else 0
    if _ENGINE_RANGE - limit0 > limit0 // words:
        words += 1
        word_bits = width // words
        limit0 = (_ENGINE_RANGE >> word_bits) << word_bits if word_bits < _WORKING_BITS else 0
    short_words = words - width % words
    limit1 = (_ENGINE_RANGE >> (word_bits + 1)) << (word_bits + 1) if word_bits < _WORKING_BITS - 1 else 0
    mask0 = (1 << word_bits) - 1
    mask1 = (1 << (word_bits + 1)) - 1
    result = 0
    for _ in range(short_words):
        u = engine() - _MINSTD_MIN
        while u >= limit0:
            u = engine() - _MINSTD_MIN
        result = ((result << word_bits) + (u & mask0)) & (2**_WORKING_BITS - 1)
    for _ in range(short_words, words):
        u = engine() - _MINSTD_MIN
        while u >= limit1:
            u = engine() - _MINSTD_MIN
        result = ((result << (word_bits + 1)) + (u & mask1)) & (2**_WORKING_BITS - 1)
    return result


def uniform_int(engine: MinstdRand, low: int, high: int) -> int:
    """`std::uniform_int_distribution<ptrdiff_t>(low, high)(engine)`, both ends included."""
    span = (high - low + 1) % 2**_WORKING_BITS
    if span == 1:
        return low
    if span == 0:
        return low + _independent_bits(engine, _WORKING_BITS)
    width = span.bit_length() - 1
    if span & ((1 << width) - 1):  # not a power of two: one more bit
        width += 1
    value = _independent_bits(engine, width)
    while value >= span:
        value = _independent_bits(engine, width)
    return low + value


def shuffle_in_place(items: MutableSequence[int], engine: MinstdRand) -> None:
    """libc++ `std::shuffle`: for i = 0 .. n-2, j = i + uniform_int(0, n-1-i), swap."""
    n = len(items)
    for i in range(n - 1):
        j = i + uniform_int(engine, 0, n - 1 - i)
        if j != i:
            items[i], items[j] = items[j], items[i]


_BLOCK = 8192  # engine values drawn per numpy block
_SCALAR_TAIL = 64  # the last draws (small ranges, many rejections) run through the scalar port
_REJECTED = np.int64(1) << 62


def _minstd_powers(count: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """48271^k mod (2^31 - 1) for k = 1..count: the engine k steps ahead is state * 48271^k mod (2^31 - 1)."""
    powers = np.empty(count, dtype=np.int64)
    value = 1
    for k in range(count):
        value = value * MINSTD_MULTIPLIER % MINSTD_MODULUS
        powers[k] = value
    return powers


_POWERS = _minstd_powers(_BLOCK)


def _accepted_draws(
    draws: np.ndarray[Any, np.dtype[np.int64]], first: int, n: int
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """For engine draws already reduced to w bits (`_REJECTED` where the engine value was rejected): the
    shuffle step each draw belongs to, when step `first` consumes the first draw.

    Draw k is kept when it is below the range n - step(k), and step(k) = first + (draws kept before k): a
    sequential recurrence. Its solution is the unique fixed point of that map, which iterating reaches (each
    pass settles at least one more leading draw; in practice a handful of passes do all)."""
    steps = np.full(len(draws), first, dtype=np.int64)
    while True:
        kept = draws < n - steps
        settled = np.empty_like(steps)
        settled[0] = first
        np.cumsum(kept[:-1], out=settled[1:])
        settled[1:] += first
        if np.array_equal(settled, steps):
            return steps
        steps = settled


def _offsets(n: int, engine: MinstdRand) -> list[int]:
    """j - i for every step i = 0 .. n-2 of libc++ `std::shuffle` over n items, advancing `engine`."""
    offsets: list[int] = []
    i = 0
    while i < n - 1:
        span = n - i
        width = (span - 1).bit_length()  # ceil(log2(span)) bits, one engine value per try while <= 30
        if span <= _SCALAR_TAIL or width > _ENGINE_BITS:
            offsets.append(uniform_int(engine, 0, span - 1))
            i += 1
            continue
        end = min(n - (1 << (width - 1)), n - _SCALAR_TAIL)  # last step (exclusive) drawing `width` bits
        values = engine.state * _POWERS[: min(_BLOCK, 2 * (end - i) + 16)] % MINSTD_MODULUS
        u = values - _MINSTD_MIN
        limit = (_ENGINE_RANGE >> width) << width
        draws = np.where(u < limit, u & ((1 << width) - 1), _REJECTED)
        steps = _accepted_draws(draws, i, n)
        taken = np.flatnonzero((draws < n - steps) & (steps < end))
        used = int(taken[-1]) + 1 if len(taken) == end - i else len(values)
        offsets += draws[taken].tolist()
        engine.state = int(values[used - 1])
        i += len(taken)
    return offsets


def _swapped(items: np.ndarray[Any, Any], offsets: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, Any]:
    """`items` after swapping i with j = i + offsets[i] for i = 0, 1, ... in turn, without a Python loop.

    Step i fixes position i for good. Let V(p) be the value at position p just before step p (after all steps
    for the last position). Position p > i only changes when a step i' targets it (j_i' = p), which leaves
    V(i') there; so V(p) = V(last i' < p with j_i' = p), or items[p] if none: a chain resolved by pointer
    jumping. Step i then takes V(i) when j = i, else what position j holds: V(the previous step that targeted
    j) or items[j]."""
    n = len(items)
    i = np.arange(n - 1)
    j = i + offsets
    moved = offsets != 0
    last = np.full(n, -1)
    np.maximum.at(last, j[moved], i[moved])  # the last earlier step that targeted each position
    source = np.where(last >= 0, last, np.arange(n))
    while True:
        hop = source[source]
        if np.array_equal(hop, source):
            break
        source = hop
    value = items[source]  # V(p)
    out = value.copy()  # position n-1 keeps V(n-1); positions with j = i take V(i)
    steps, targets = i[moved], j[moved]
    by_target = np.argsort(targets, kind="stable")  # within one target, in step order
    grouped = targets[by_target]
    first = np.ones(len(grouped), dtype=bool)
    first[1:] = grouped[1:] != grouped[:-1]
    earlier = np.where(first, -1, np.concatenate(([-1], steps[by_target][:-1])))
    out[steps[by_target]] = np.where(earlier >= 0, value[np.maximum(earlier, 0)], items[grouped])
    return out


def shuffle_array(items: np.ndarray[Any, Any], engine: MinstdRand) -> None:
    """`shuffle_in_place` for a 1-D array, bit-identical (same order, same engine state after)."""
    if len(items) > 1:
        items[:] = _swapped(items, np.asarray(_offsets(len(items), engine), dtype=np.int64))


class SeedSeq:
    """`std::seed_seq` over 32-bit values ([rand.util.seedseq], as libc++ implements it)."""

    def __init__(self, values: Sequence[int]) -> None:
        self.values = [v & _MASK32 for v in values]

    def generate(self, count: int) -> list[int]:
        if count == 0:
            return []
        out = [0x8B8B8B8B] * count
        n, s = count, len(self.values)
        t = 11 if n >= 623 else 7 if n >= 68 else 5 if n >= 39 else 3 if n >= 7 else (n - 1) // 2
        p = (n - t) // 2
        q = p + t
        m = max(s + 1, n)
        for k in range(m):
            r1 = (1664525 * _twist(out[k % n] ^ out[(k + p) % n] ^ out[(k - 1) % n])) & _MASK32
            if k == 0:
                r2 = r1 + s
            elif k <= s:
                r2 = r1 + k % n + self.values[k - 1]
            else:
                r2 = r1 + k % n
            r2 &= _MASK32
            out[(k + p) % n] = (out[(k + p) % n] + r1) & _MASK32
            out[(k + q) % n] = (out[(k + q) % n] + r2) & _MASK32
            out[k % n] = r2
        for k in range(m, m + n):
            r3 = (1566083941 * _twist((out[k % n] + out[(k + p) % n] + out[(k - 1) % n]) & _MASK32)) & _MASK32
            r4 = (r3 - k % n) & _MASK32
            out[(k + p) % n] ^= r3
            out[(k + q) % n] ^= r4
            out[k % n] = r4
        return out


def _twist(x: int) -> int:
    return x ^ (x >> 27)


def engine_for(seed: int | None, *, seeded_shuffle: str = "seed_seq") -> MinstdRand:
    """The engine `MLShufflingBatchProvider` starts from: seed 1 without a seed, else per the semantics knob."""
    engine = MinstdRand()
    if seed is not None:
        if seeded_shuffle == "seed_seq":
            engine.seed_sequence(SeedSeq([seed]))
        else:
            engine.seed(seed & _MASK32)
    return engine


class EpochOrder:
    """The example order Core ML trains in: shuffled once at start and again whenever `reshuffle` is called."""

    def __init__(self, count: int, *, shuffle: bool, engine: MinstdRand) -> None:
        self._order = np.arange(count, dtype=np.int64)
        self._shuffle = shuffle
        self._engine = engine
        if shuffle:
            shuffle_array(self._order, engine)

    @property
    def order(self) -> list[int]:
        return [int(i) for i in self._order]

    @property
    def array(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The current order (read-only view; the next `reshuffle` changes it)."""
        view = self._order.view()
        view.flags.writeable = False
        return view

    def reshuffle(self) -> None:
        if self._shuffle:
            shuffle_array(self._order, self._engine)


class NumpyOrder:
    """Another engine, for the `shuffle_engine` alternative: numpy's PCG64 permutations from the same seed."""

    def __init__(self, count: int, *, shuffle: bool, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._shuffle = shuffle
        self._order = self._rng.permutation(count) if shuffle else np.arange(count, dtype=np.int64)

    @property
    def array(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        view = self._order.view()
        view.flags.writeable = False
        return view

    def reshuffle(self) -> None:
        if self._shuffle:
            self._order = self._rng.permutation(self._order)


def epoch_order(
    count: int, *, shuffle: bool, seed: int | None, engine: str = "libcxx_minstd", seeded_shuffle: str = "seed_seq"
) -> EpochOrder | NumpyOrder:
    """The order source the `shuffle_engine` knob names, started from the model's seed (1 without one)."""
    if engine == "numpy_pcg64":
        return NumpyOrder(count, shuffle=shuffle, seed=1 if seed is None else seed)
    return EpochOrder(count, shuffle=shuffle, engine=engine_for(seed, seeded_shuffle=seeded_shuffle))
