"""Chunk ids of a whole batch of texts in NumPy, for the standard tokenizer's pre-split.

The standard tokenizer pre-splits a text at ASCII separators (``bytes.translate`` + ``split``)
into chunks, and the analyzer memoises each distinct chunk's output tokens under a chunk id.
Looking a chunk up in a dict costs a bytes object and a hash per token; here the whole batch is
one translated byte buffer instead:

* chunk spans are the runs of non-separator bytes (a few vectorised passes over the buffer);
* a chunk of at most 16 bytes is the exact key ``(w0, w1)``: its bytes, little-endian, zero
  padded (a chunk never holds a zero byte: NUL is a separator), read as two unaligned uint64;
* the keys are looked up in an open-addressing hash table of NumPy arrays (``ChunkIndex``).

Longer chunks (rare) keep the dict path. Nothing here is approximate: a key is the chunk's bytes.
"""

from __future__ import annotations

import numpy as np

LONG = 16   # chunks longer than this many bytes are not keyed here
_SPACE = 0x20
# _LOW[l]: the low l bytes of a uint64 (l = 0..8)
_LOW = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_MUL1 = np.uint64(0x9E3779B97F4A7C15)
_MUL2 = np.uint64(0xC2B2AE3D27D4EB4F)


def spans(translated: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of bytes other than space in ``translated``: exactly the
    pieces ``translated.split()`` returns once every separator is a space."""
    buf = np.frombuffer(translated, dtype=np.uint8)
    word = np.zeros(len(buf) + 2, dtype=np.bool_)   # padded: every run starts and ends inside
    np.not_equal(buf, _SPACE, out=word[1:-1])
    edges = np.flatnonzero(word[1:] != word[:-1])   # alternately a run's start and its end
    return edges[0::2], edges[1::2]


def keys(translated: bytes, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact keys ``(w0, w1)`` of chunks of at most 16 bytes (longer ones: meaningless)."""
    padded = translated + bytes(24)
    words = np.ndarray((len(translated) + 16,), dtype="<u8", buffer=padded, strides=(1,))   # unaligned reads
    w0 = words[starts]
    w1 = np.zeros(len(starts), dtype=np.uint64)
    part = np.flatnonzero(lengths < 8)
    w0[part] &= _LOW[lengths[part]]
    long = np.flatnonzero(lengths > 8)
    if len(long):
        w1[long] = words[starts[long] + 8] & _LOW[np.minimum(lengths[long] - 8, 8)]
    return w0, w1


class ChunkIndex:
    """Open-addressing (linear probing) hash table ``(w0, w1) -> chunk id`` in NumPy arrays.

    Readers need no lock: an entry's key words are written before its id, and a resize builds
    new arrays and publishes them in one assignment. Writers hold the analyzer's lock.
    """

    def __init__(self, bits: int = 12) -> None:
        self.count = 0
        self._arrays = _empty(bits)

    def lookup(self, w0: np.ndarray, w1: np.ndarray) -> np.ndarray:
        """Chunk id of each key, -1 where absent."""
        k0, k1, ids, bits = self._arrays
        mask = np.uint64((1 << bits) - 1)
        pos = _slot(w0, w1, bits)
        v = ids[pos]
        hit = k0[pos] == w0   # an empty slot holds (0, 0), which no chunk's key is
        hit &= k1[pos] == w1
        if hit.all():   # the common case: every chunk known, at its first slot
            return v
        out = np.where(hit, v, -1)
        more = ~hit & (v >= 0)
        todo = np.flatnonzero(more)
        pos = pos[more]
        while len(todo):
            pos = (pos + np.uint64(1)) & mask
            v = ids[pos]
            q0, q1 = w0[todo], w1[todo]
            hit = (k0[pos] == q0) & (k1[pos] == q1)
            out[todo[hit]] = v[hit]
            more = ~hit & (v >= 0)
            todo, pos = todo[more], pos[more]
        return out

    def add(self, w0: np.ndarray, w1: np.ndarray, chunk_ids: np.ndarray) -> None:
        """Insert distinct keys that are not in the table yet (callers hold the analyzer's lock)."""
        if not len(w0):
            return
        k0, k1, ids, bits = self._arrays
        if 2 * (self.count + len(w0)) > (1 << bits):   # keep the load under one half
            while 2 * (self.count + len(w0)) > (1 << bits):
                bits += 1
            used = np.flatnonzero(ids >= 0)
            arrays = _empty(bits)
            _place(arrays, k0[used], k1[used], ids[used])
            _place(arrays, w0, w1, chunk_ids)
            self._arrays = arrays   # published whole
        else:
            _place(self._arrays, w0, w1, chunk_ids)
        self.count += len(w0)


def _empty(bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    size = 1 << bits
    return np.zeros(size, np.uint64), np.zeros(size, np.uint64), np.full(size, -1, np.int64), bits


def _slot(w0: np.ndarray, w1: np.ndarray, bits: int) -> np.ndarray:
    # multiplicative hashing of the two words (w1 mixed first: w0 == w1 must not cancel)
    return ((w0 ^ (w1 * _MUL2)) * _MUL1) >> np.uint64(64 - bits)


def _place(arrays: tuple, w0: np.ndarray, w1: np.ndarray, chunk_ids: np.ndarray) -> None:
    """Linear-probing insertion of distinct new keys, all at once: in each round every key
    takes its slot if free (the first of several keys aiming at one free slot wins), the rest
    move one slot on."""
    k0, k1, ids, bits = arrays
    mask = np.uint64((1 << bits) - 1)
    pending = np.arange(len(w0))
    pos = _slot(w0, w1, bits)
    while len(pending):
        free = ids[pos] < 0
        _, first = np.unique(pos[free], return_index=True)
        win = np.flatnonzero(free)[first]
        at, who = pos[win], pending[win]
        k0[at], k1[at] = w0[who], w1[who]
        ids[at] = chunk_ids[who]   # last: a reader never sees an id without its key
        stay = np.ones(len(pending), dtype=bool)
        stay[win] = False
        pending = pending[stay]
        pos = (pos[stay] + np.uint64(1)) & mask
