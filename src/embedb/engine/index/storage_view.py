"""Flat vector storage for faiss graph indexes without a second copy of the vectors.

An HNSW index is a graph plus a *storage* (an ``IndexFlat`` holding every vector). The
collection already keeps the vectors in its column (a memory map of ``g<n>/<field>.values.npy``
after opening), so embedb writes only the graph to disk (``faiss.IO_FLAG_SKIP_STORAGE``) and, at
load, gives the graph a storage built over the column:

- float32 vectors under L2 or IP: a **view** of the column's array (no copy; the pages of a
  memory-mapped snapshot are the page cache's, shared between processes and evictable);
- COSINE (the index searches normalised vectors) and float16 / bfloat16 / int8 columns (faiss
  needs float32): one converted array in memory, computed from the column; the disk holds the
  vectors once either way.

A faiss ``MaybeOwnedVector`` that does not own its bytes must never be resized (faiss aborts the
process), so a view-backed storage is swapped for an owned copy before faiss adds rows to it
(:meth:`GraphStorage.make_owned`). :class:`GraphStorage` holds whatever storage the graph uses
(and, through a :class:`FlatStorage`, the viewed array) for as long as the graph uses it.
"""

from __future__ import annotations

import numpy as np


def _faiss():
    import faiss  # noqa: PLC0415 - heavy; the callers have imported it already

    return faiss


class FlatStorage:
    """An ``IndexFlat`` over ``array`` (float32, C-contiguous ``(n, dim)``), borrowing its bytes.

    ``array`` stays referenced here, so the memory faiss reads lives as long as this object.
    """

    __slots__ = ("index", "array", "base")

    def __init__(self, array: np.ndarray, metric: int) -> None:
        faiss = _faiss()
        if array.dtype != np.float32 or array.ndim != 2 or not array.flags.c_contiguous:
            raise ValueError(f"a flat storage view needs a C-contiguous float32 (n, dim) array, "
                             f"got {array.dtype} {array.shape}")
        self.array = array
        # the buffer ``array`` starts (a column's rows [0, n) are a prefix of their buffer):
        # another prefix of it is recognised without reading addresses (a few us a search)
        base = array.base
        self.base = base if isinstance(base, np.ndarray) and same_memory(base, array) else None
        index = faiss.IndexFlat(int(array.shape[1]), metric)
        if len(array):
            codes = faiss.MaybeOwnedVectorUInt8()   # owned and empty: turned into a view below
            ptr = faiss.swig_ptr(array.reshape(-1).view(np.uint8))
            codes.is_owned = False
            codes.view_data = ptr
            codes.view_size = array.nbytes
            codes.c_ptr = ptr
            codes.c_size = array.nbytes
            index.codes = codes
            index.ntotal = len(array)
        self.index = index


class GraphStorage:
    """The storage of one faiss HNSW ``graph``: a :class:`FlatStorage` view of an array, or an
    ``IndexFlat`` owned here while faiss adds rows. The graph never owns it; Python frees each
    storage given up (``_held``).

    A storage the graph built itself (faiss's constructor, or a file read with its vectors) is
    never freed through a proxy from ``graph.storage``: with SWIG that corrupts Python's heap.
    So :meth:`own` replaces the constructor's empty one before the first add (leaving those few
    bytes), and a graph loaded with its own vectors (``fixed``) keeps them.
    """

    __slots__ = ("graph", "view", "_held", "fixed")

    def __init__(self, graph) -> None:
        self.graph = graph
        self.view: FlatStorage | None = None
        self._held = None   # the Python proxy of the installed storage (keeps it alive)
        self.fixed = bool(graph.own_fields and graph.storage is not None and graph.ntotal)

    def own(self) -> None:
        """Give a new, empty graph an empty storage owned here, for faiss to add rows to."""
        faiss = _faiss()
        self._install(faiss.IndexFlat(self.graph.d, self.graph.metric_type))

    def use_view(self, array: np.ndarray) -> None:
        """Search ``array`` (rows ``[0, graph.ntotal)``, no copy) from now on."""
        view = FlatStorage(array, self.graph.metric_type)
        self._install(view.index)
        self.view = view

    def follow(self, vectors: np.ndarray, ntotal: int) -> None:
        """View rows ``[0, ntotal)`` of ``vectors`` (all rows of the column, float32) unless the
        installed view already starts where they do: after an add (an owned copy) or when the
        column moved to a new buffer, whose old one would otherwise stay alive for the graph.
        Rows ``[0, ntotal)`` are the same in every buffer of a generation."""
        if vectors.dtype != np.float32 or self.fixed:   # converted once at load / its own copy
            return
        view = self.view
        if view is not None:
            base = vectors.base
            if (base is not None and base is view.base) or same_memory(view.array, vectors):
                return
        if vectors.flags.c_contiguous and len(vectors) >= ntotal:
            self.use_view(vectors[:ntotal])

    def make_owned(self) -> None:
        """Before faiss appends rows: replace a view with an owned copy of its vectors."""
        if self.view is None:
            return
        faiss = _faiss()
        owned = faiss.IndexFlat(self.view.index.d, self.view.index.metric_type)
        if len(self.view.array):
            owned.add(self.view.array)
        self._install(owned)
        self.view = None

    def _install(self, flat) -> None:
        if self.fixed:
            raise ValueError("this graph keeps the vectors it was loaded with")
        graph = self.graph
        graph.storage = flat   # (SWIG hands ``flat`` to the graph here: thisown becomes False)
        graph.own_fields = False
        flat.thisown = True    # ... but the graph does not own it: Python frees it, with _held
        self._held = flat      # the storage installed before is freed here


_BLOCK_BYTES = 1 << 18   # rows converted at a time: about 256 KiB, in the CPU's L2 cache


def normalized_copy(vectors: np.ndarray, to_float32) -> np.ndarray:
    """``vectors`` (n, dim) as float32 rows of unit length (zero rows stay zero), in one new
    array: the storage a COSINE graph searches. One pass in ~256 KiB blocks of rows (each copied,
    converted and normalised while in cache), so no whole-matrix temporary is allocated (a
    collection's column is read once and 1x its float32 size is written). Bit for bit what
    ``dense.normalized`` computes for the whole matrix: the same operations, row by row."""
    n, dim = vectors.shape
    out = np.empty((n, dim), dtype=np.float32)
    rows = max(1, _BLOCK_BYTES // max(1, dim * 4))
    for start in range(0, n, rows):
        block = out[start:start + rows]
        block[...] = to_float32(vectors[start:start + rows])
        norms = np.sqrt(np.add.reduce(block * block, axis=1, keepdims=True))
        norms[norms == 0] = 1.0
        block /= norms
    return out


def same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays start at the same address (the same column buffer)."""
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
