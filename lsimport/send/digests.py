"""Compact sets of 16-byte digests: the keys and fingerprints of projects of a million tasks.

A Python set of 1,000,000 `bytes` costs about 90 MB (49 bytes per object, plus the table);
a `DigestSet` keeps the digests themselves in one bytearray, open addressing with linear
probing: 16 bytes per slot, at most 70 % full, so 1,000,000 digests take 32 MB.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator

DIGEST_SIZE = 16
# Slot markers. A BLAKE2b digest equal to one of them has a chance of 2**-127: such a key
# is held in a small set of its own instead, so even that case is exact.
_EMPTY = bytes(DIGEST_SIZE)
_GONE = b"\xff" * DIGEST_SIZE
_MAX_LOAD = 0.7


def key_digest(key: str) -> bytes:
    """The 16-byte digest of a task key (BLAKE2b of its UTF-8)."""
    return hashlib.blake2b(key.encode(), digest_size=DIGEST_SIZE).digest()


class DigestSet:
    """A set of 16-byte digests in one bytearray: add, discard, `in`, len, iteration."""

    def __init__(self, digests: Iterable[bytes] = (), *, capacity: int = 1024) -> None:
        size = 1024
        while size * _MAX_LOAD < capacity:
            size *= 2
        self._table = bytearray(size * DIGEST_SIZE)
        self._mask = size - 1
        self._used = 0  # live digests plus tombstones: what decides when to grow
        self._len = 0
        self._odd: set[bytes] = set()  # digests equal to a marker (see _EMPTY)
        for d in digests:
            self.add(d)

    def __len__(self) -> int:
        return self._len + len(self._odd)

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, bytes) or len(digest) != DIGEST_SIZE:
            return False
        if digest in (_EMPTY, _GONE):
            return digest in self._odd
        return self._find(digest) >= 0

    def add(self, digest: bytes) -> bool:
        """Add a digest; True when it was not there yet."""
        if len(digest) != DIGEST_SIZE:
            raise ValueError(f"a digest has {DIGEST_SIZE} bytes, not {len(digest)}")
        if digest in (_EMPTY, _GONE):
            new = digest not in self._odd
            self._odd.add(digest)
            return new
        if self._find(digest) >= 0:
            return False
        if (self._used + 1) > (self._mask + 1) * _MAX_LOAD:
            self._grow()
        self._insert(digest)
        return True

    def update(self, digests: Iterable[bytes]) -> None:
        for d in digests:
            self.add(d)

    def discard(self, digest: bytes) -> None:
        if digest in (_EMPTY, _GONE):
            self._odd.discard(digest)
            return
        slot = self._find(digest)
        if slot >= 0:
            off = slot * DIGEST_SIZE
            self._table[off : off + DIGEST_SIZE] = _GONE
            self._len -= 1

    def __iter__(self) -> Iterator[bytes]:
        table = self._table
        for off in range(0, len(table), DIGEST_SIZE):
            d = bytes(table[off : off + DIGEST_SIZE])
            if d != _EMPTY and d != _GONE:
                yield d
        yield from self._odd

    @property
    def nbytes(self) -> int:
        """Bytes held by the table."""
        return len(self._table)

    def _find(self, digest: bytes) -> int:
        table, mask = self._table, self._mask
        i = int.from_bytes(digest[:8], "little") & mask
        while True:
            off = i * DIGEST_SIZE
            slot = table[off : off + DIGEST_SIZE]
            if slot == digest:
                return i
            if slot == _EMPTY:
                return -1
            i = (i + 1) & mask

    def _insert(self, digest: bytes) -> None:
        table, mask = self._table, self._mask
        i = int.from_bytes(digest[:8], "little") & mask
        while True:
            off = i * DIGEST_SIZE
            slot = table[off : off + DIGEST_SIZE]
            if slot in (_EMPTY, _GONE):
                if slot == _EMPTY:
                    self._used += 1
                table[off : off + DIGEST_SIZE] = digest
                self._len += 1
                return
            i = (i + 1) & mask

    def _grow(self) -> None:
        old = self._table
        size = (self._mask + 1) * (2 if self._len + 1 > (self._mask + 1) * _MAX_LOAD / 2 else 1)
        self._table = bytearray(size * DIGEST_SIZE)
        self._mask = size - 1
        self._used = self._len = 0
        for off in range(0, len(old), DIGEST_SIZE):
            d = bytes(old[off : off + DIGEST_SIZE])
            if d != _EMPTY and d != _GONE:
                self._insert(d)


class IdSet:
    """A set of task ids as a bitmap: one bit per id up to the largest, so the ids of a
    project of a million tasks take about 125 kB (a set of ints: about 60 MB)."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._bits = bytearray()
        self._len = 0
        for i in ids:
            self.add(i)

    def add(self, task_id: int) -> None:
        if task_id < 0:
            raise ValueError("task ids are not negative")
        byte, bit = divmod(task_id, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1 - len(self._bits), len(self._bits))))
        if not self._bits[byte] & (1 << bit):
            self._bits[byte] |= 1 << bit
            self._len += 1

    def __contains__(self, task_id: object) -> bool:
        if not isinstance(task_id, int) or task_id < 0:
            return False
        byte, bit = divmod(task_id, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def __len__(self) -> int:
        return self._len


class KeySet:
    """Task keys as 16-byte digests in a DigestSet (a str key costs 109 bytes in a set, its
    digest 16-28): what upload knows is in the project, for projects of a million tasks.
    `normalise` maps each key before it is hashed, on every add and look-up alike
    (--dedupe compares keys without their occurrence)."""

    def __init__(self, normalise: Callable[[str], str] | None = None) -> None:
        self._digests = DigestSet()
        self._normalise = normalise

    def _digest(self, key: str) -> bytes:
        return key_digest(self._normalise(key) if self._normalise is not None else key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._digest(key) in self._digests

    def __len__(self) -> int:
        return len(self._digests)

    def add(self, key: str) -> None:
        self._digests.add(self._digest(key))

    def update(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.add(key)

    def discard(self, key: str) -> None:
        self._digests.discard(self._digest(key))
