"""Bit-exact port of the libc++ pieces Core ML's `MLShufflingBatchProvider` uses.

`std::minstd_rand`, `std::uniform_int_distribution<ptrdiff_t>` (through `__independent_bits_engine`),
`std::shuffle` (libc++ walks forward) and `std::seed_seq::generate`. Python integers stand in for the C++
unsigned types; every mask reproduces the wrap-around of the C++ arithmetic. Pinned against sequences from
a real libc++ in tests/reference/test_shuffle.py.
"""

from __future__ import annotations

from collections.abc import MutableSequence, Sequence

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
        self._order = list(range(count))
        self._shuffle = shuffle
        self._engine = engine
        if shuffle:
            shuffle_in_place(self._order, engine)

    @property
    def order(self) -> list[int]:
        return list(self._order)

    def reshuffle(self) -> None:
        if self._shuffle:
            shuffle_in_place(self._order, self._engine)
