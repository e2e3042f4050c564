"""Chunk ids of a whole batch of texts in NumPy, for the standard tokenizer's pre-split.

The standard tokenizer pre-splits a text at ASCII separators (``bytes.translate`` + ``split``)
into chunks, and the analyzer memoises each distinct chunk's output tokens under a chunk id.
Looking a chunk up in a dict costs a bytes object and a hash per token; here the whole batch is
one translated byte buffer instead:

* chunk spans are the runs of non-separator bytes (a few vectorised passes over the buffer);
* a chunk of at most 16 bytes is the exact key ``(w0, w1)``: its bytes, little-endian, zero
  padded (a chunk never holds a zero byte: NUL is a separator), read as two unaligned uint64;
* the keys are looked up in open-addressing hash tables of NumPy arrays (``ChunkIndex``): one
  keyed by ``w0`` alone for chunks of at most 8 bytes (most words: ``w1`` is 0, and a lookup
  is a hash, two gathers and one comparison), one keyed by both words for 9-16 bytes
  (``ChunkKeys`` holds the pair).

Longer chunks (rare) keep the dict path. Nothing here is approximate: a key is the chunk's bytes.
"""

from __future__ import annotations

import numpy as np

LONG = 16   # chunks longer than this many bytes are not keyed here
WORD = 8    # chunks of at most this many bytes are keyed by w0 alone
_SPACE = 0x20
# _LOW[l]: the low l bytes of a uint64 (l = 0..8)
_LOW = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_MUL1 = np.uint64(0x9E3779B97F4A7C15)
_MUL2 = np.uint64(0xC2B2AE3D27D4EB4F)
_WINDOW = 4   # slots a displaced key's lookup scans per round (at load < 1/2, 9 in 10 of them lie within 4)
_STEPS = np.arange(1, _WINDOW + 1, dtype=np.int64)


def spans(translated: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of bytes other than space in ``translated``: exactly the
    pieces ``translated.split()`` returns once every separator is a space."""
    buf = np.frombuffer(translated, dtype=np.uint8)
    word = np.zeros(len(buf) + 2, dtype=np.bool_)   # padded: every run starts and ends inside
    np.not_equal(buf, _SPACE, out=word[1:-1])
    edges = np.flatnonzero(word[1:] != word[:-1])   # alternately a run's start and its end
    return edges[0::2], edges[1::2]


def keys(translated: bytes, starts: np.ndarray, lengths: np.ndarray, *, first_only: bool = False
         ) -> tuple[np.ndarray, np.ndarray | None]:
    """The exact keys ``(w0, w1)`` of chunks of at most 16 bytes (longer ones: meaningless).
    ``first_only``: the caller knows every chunk has at most 8 bytes; ``w1`` (all 0) is None."""
    padded = translated + bytes(24)
    words = np.ndarray((len(translated) + 16,), dtype="<u8", buffer=padded, strides=(1,))   # unaligned reads
    w0 = words.take(starts)   # take: about twice as fast as fancy indexing on this strided view
    if first_only:
        w0 &= _LOW.take(lengths)
        return w0, None
    w0 &= _LOW.take(np.minimum(lengths, WORD))
    w1 = np.zeros(len(starts), dtype=np.uint64)
    long = np.flatnonzero(lengths > WORD)
    if len(long):
        w1[long] = words.take(starts[long] + WORD) & _LOW.take(np.minimum(lengths[long] - WORD, WORD))
    return w0, w1


class ChunkKeys:
    """chunk bytes (at most 16) -> chunk id: a one-word ``ChunkIndex`` for chunks of at most 8
    bytes and a two-word one for 9-16 bytes (keys of different widths never meet)."""

    def __init__(self) -> None:
        self.short = ChunkIndex(words=1)
        self.mid = ChunkIndex(words=2)

    @property
    def count(self) -> int:
        return self.short.count + self.mid.count

    def lookup(self, w0: np.ndarray, w1: np.ndarray | None, lengths: np.ndarray) -> np.ndarray:
        """Chunk id of each key (lengths <= 16; ``w1`` None: all <= 8 bytes), -1 where absent."""
        if w1 is None:
            return self.short.lookup(w0)
        short = lengths <= WORD
        out = np.empty(len(w0), dtype=np.int64)
        at = np.flatnonzero(short)
        out[at] = self.short.lookup(w0[at])
        at = np.flatnonzero(~short)
        if len(at):
            out[at] = self.mid.lookup(w0[at], w1[at])
        return out

    def add(self, w0: np.ndarray, w1: np.ndarray | None, lengths: np.ndarray, chunk_ids: np.ndarray) -> None:
        """Insert distinct keys that are not in the tables yet (callers hold the analyzer's lock)."""
        if w1 is None:
            self.short.add(w0, None, chunk_ids)
            return
        short = lengths <= WORD
        self.short.add(w0[short], None, chunk_ids[short])
        self.mid.add(w0[~short], w1[~short], chunk_ids[~short])


class ChunkIndex:
    """Open-addressing (linear probing) hash table ``(w0, w1) -> chunk id`` in NumPy arrays, or
    ``w0 -> chunk id`` with ``words=1`` (lookups and adds then pass ``w1=None``).

    Readers need no lock: an entry's key words are written before its id, and a resize builds
    new arrays and publishes them in one assignment. Writers hold the analyzer's lock.
    """

    def __init__(self, bits: int = 12, words: int = 2) -> None:
        if words not in (1, 2):
            raise ValueError("words must be 1 or 2")
        self.count = 0
        self.words = words
        self._arrays = _empty(bits, words)

    def lookup(self, w0: np.ndarray, w1: np.ndarray | None = None) -> np.ndarray:
        """Chunk id of each key, -1 where absent."""
        k0, k1, ids, bits = self._arrays
        pos = _slot(w0, w1, bits)
        v = ids.take(pos)
        hit = k0.take(pos) == w0   # an empty slot holds key 0, which no chunk's key is
        if k1 is not None:
            hit &= k1.take(pos) == w1
        if hit.all():   # the common case: every chunk known, at its first slot
            return v
        # the displaced keys (~5% of a Zipf batch's tokens, at most ~10 slots on) scan the next
        # _WINDOW slots at once: a round of a few NumPy calls per window, not per slot
        mask = (1 << bits) - 1
        out = np.where(hit, v, -1)
        todo = np.flatnonzero(~hit & (v >= 0))
        home = pos[todo]
        while len(todo):
            slots = (home[:, None] + _STEPS) & mask
            found = ids.take(slots)
            match = k0.take(slots) == w0[todo, None]
            if k1 is not None:
                match &= k1.take(slots) == w1[todo, None]
            stop = match | (found < 0)   # the key, or an empty slot: it is absent
            at = stop.argmax(axis=1)
            rows = np.arange(len(todo))
            done = stop[rows, at]
            hits = done & match[rows, at]
            out[todo[hits]] = found[rows[hits], at[hits]]
            todo, home = todo[~done], (home[~done] + _WINDOW) & mask
        return out

    def add(self, w0: np.ndarray, w1: np.ndarray | None, chunk_ids: np.ndarray) -> None:
        """Insert distinct keys that are not in the table yet (callers hold the analyzer's lock)."""
        if not len(w0):
            return
        k0, k1, ids, bits = self._arrays
        if 2 * (self.count + len(w0)) > (1 << bits):   # keep the load under one half
            while 2 * (self.count + len(w0)) > (1 << bits):
                bits += 1
            used = np.flatnonzero(ids >= 0)
            arrays = _empty(bits, self.words)
            _place(arrays, k0[used], None if k1 is None else k1[used], ids[used])
            _place(arrays, w0, w1, chunk_ids)
            self._arrays = arrays   # published whole
        else:
            _place(self._arrays, w0, w1, chunk_ids)
        self.count += len(w0)


def _empty(bits: int, words: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, int]:
    size = 1 << bits
    k1 = np.zeros(size, np.uint64) if words == 2 else None
    return np.zeros(size, np.uint64), k1, np.full(size, -1, np.int64), bits


def _slot(w0: np.ndarray, w1: np.ndarray | None, bits: int) -> np.ndarray:
    """Home slot of each key (int64, ready to index with): multiplicative hashing of the words
    (w1 mixed first: w0 == w1 must not cancel)."""
    if w1 is None:
        h = w0 * _MUL1
    else:
        h = w1 * _MUL2
        h ^= w0
        h *= _MUL1
    h >>= np.uint64(64 - bits)
    return h.view(np.int64)


def _place(arrays: tuple, w0: np.ndarray, w1: np.ndarray | None, chunk_ids: np.ndarray) -> None:
    """Linear-probing insertion of distinct new keys, all at once: in each round every key
    takes its slot if free (the first of several keys aiming at one free slot wins), the rest
    move one slot on."""
    k0, k1, ids, bits = arrays
    mask = (1 << bits) - 1
    pending = np.arange(len(w0))
    pos = _slot(w0, w1, bits)
    while len(pending):
        free = ids[pos] < 0
        _, first = np.unique(pos[free], return_index=True)
        win = np.flatnonzero(free)[first]
        at, who = pos[win], pending[win]
        k0[at] = w0[who]
        if k1 is not None:
            k1[at] = w1[who]
        ids[at] = chunk_ids[who]   # last: a reader never sees an id without its key
        stay = np.ones(len(pending), dtype=bool)
        stay[win] = False
        pending = pending[stay]
        pos = (pos[stay] + 1) & mask
