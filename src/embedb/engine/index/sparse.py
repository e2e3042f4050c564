"""Sparse float vector indexes: SPARSE_INVERTED_INDEX and SPARSE_WAND, metric IP.

The index is the covered rows as a CSC matrix (one posting list per dimension). A query gathers
only its own columns (bm25s style), scores the rows they touch, and keeps the top k. Rows that
share no dimension with a query are not results (as in Milvus). SPARSE_WAND (and a DAAT
``inverted_index_algo``) prunes dynamically (sparse_prune.py): only the heads of the
value-ordered lists are scored, with the same exact results as the full gather.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import topk
from .base import SearchRequest, VectorIndex, float_param, load_npy, save_npy

_ENTRIES = 1 << 23   # touched rows x queries scored at once


class _ScipySparse:
    """``scipy.sparse``, imported on first use: its import costs 0.2-0.6 s, which a collection
    without sparse fields should not pay at start-up (the engine imports this module always)."""

    def __getattr__(self, name: str) -> Any:
        import scipy.sparse

        return getattr(scipy.sparse, name)


sp = _ScipySparse()


# Dimension ids reach 2**32 - 2 in Milvus. A CSC matrix as wide as the largest id would need an
# indptr of that many entries (32 GiB), so matrices are kept over the *used* ids only: ``dims``
# (sorted) names the id of each compact column.
def used_dims(m: sp.csr_array) -> np.ndarray:
    """The sorted distinct dimension ids that ``m`` uses."""
    return np.unique(np.asarray(m.indices, dtype=np.int64))


def remap_columns(m: sp.csr_array, dims: np.ndarray) -> sp.csr_array:
    """``m`` with each column id replaced by its position in the sorted ``dims``; entries in
    columns outside ``dims`` are dropped. The result has ``len(dims)`` columns."""
    m = sp.csr_array(m)
    idx = np.asarray(m.indices, dtype=np.int64)
    pos = np.searchsorted(dims, idx)
    keep = pos < len(dims)
    keep[keep] = dims[pos[keep]] == idx[keep]
    row_of = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row_of, minlength=m.shape[0]))])
    return sp.csr_array((np.asarray(m.data, dtype=np.float32)[keep], pos[keep], indptr),
                        shape=(m.shape[0], len(dims)))


def exact_sparse_search(x: sp.csr_array, queries: sp.csr_array, k: int, *,
                        allowed: np.ndarray | None = None, row_offset: int = 0,
                        pk_of: topk.PkOf | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner product of ``queries`` against the rows of ``x`` (any width): only the
    columns the queries use are gathered, renumbered compactly."""
    dims = used_dims(sp.csr_array(queries))
    x_c = sp.csc_array(remap_columns(x, dims))
    return sparse_ip_search(x_c, remap_columns(queries, dims), k, allowed=allowed,
                            row_offset=row_offset, pk_of=pk_of)


def drop_smallest(m: sp.csr_array, ratio: float) -> sp.csr_array:
    """Drop, in each row, the ``floor(ratio * nnz)`` entries of smallest absolute value."""
    m = sp.csr_array(m)
    if ratio <= 0 or m.nnz == 0:
        return m
    counts = np.diff(m.indptr)
    row_of = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((np.abs(m.data), row_of))          # by row, then |value| ascending
    rank = np.empty(m.nnz, dtype=np.int64)
    rank[order] = np.arange(m.nnz) - m.indptr[row_of[order]]
    keep = rank >= np.floor(ratio * counts[row_of]).astype(np.int64)
    out = sp.csr_array((m.data[keep], m.indices[keep], np.concatenate(
        [[0], np.cumsum(np.bincount(row_of[keep], minlength=m.shape[0]))])), shape=m.shape)
    return out


def sparse_ip_search(x_csc: sp.csc_array, queries: sp.csr_array, k: int, *,
                     allowed: np.ndarray | None = None, row_offset: int = 0,
                     pk_of: topk.PkOf | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner product of sparse ``queries`` against the rows of ``x_csc``."""
    nq = queries.shape[0]
    n, dim = x_csc.shape
    empty = topk.select(np.zeros((nq, 0), np.float32), np.zeros(0, np.int64), k, pk_of)
    q = sp.csr_array(queries)
    if q.shape[1] > dim:   # dimensions no stored row uses contribute nothing
        q = q[:, :dim]
    cols = np.unique(q.indices)
    if n == 0 or len(cols) == 0:
        return empty
    xr = sp.csr_array(x_csc[:, cols])
    touched = np.flatnonzero(np.diff(xr.indptr))
    if allowed is not None:
        touched = touched[np.asarray(allowed, dtype=bool)[touched]]
    if len(touched) == 0:
        return empty
    a = xr[touched]
    a_bin = sp.csr_array((np.ones_like(a.data, dtype=np.float32), a.indices, a.indptr), shape=a.shape)
    qu = q[:, cols]
    parts = []
    step = max(1, _ENTRIES // len(touched))
    for s in range(0, nq, step):
        qs = qu[s:s + step]
        scores = np.asarray(a @ qs.T.toarray(), dtype=np.float32).T            # (nq_s, t)
        q_bin = (qs != 0).astype(np.float32).T.toarray()
        overlap = np.asarray(a_bin @ q_bin).T > 0
        keys = np.where(overlap, -scores, np.inf).astype(np.float32)
        parts.append(topk.select(keys, touched.astype(np.int64) + row_offset, k, pk_of))
    rows = np.concatenate([p[0] for p in parts])
    keys = np.concatenate([p[1] for p in parts])
    return rows, keys


class SparseInvertedIndex(VectorIndex):
    index_type = "SPARSE_INVERTED_INDEX"

    @classmethod
    def validate(cls, params: dict, dim: int) -> dict:
        out = {"drop_ratio_build": float_param(params, "drop_ratio_build", 0.0, 0.0, 1.0,
                                               cls.index_type, hi_open=True)}
        algo = params.get("inverted_index_algo")
        if algo is not None:
            valid = ("DAAT_MAXSCORE", "DAAT_WAND", "TAAT_NAIVE")
            if str(algo).upper() not in valid:
                from ...errors import ParamError

                raise ParamError(f"{cls.index_type}: inverted_index_algo must be one of {valid}, "
                                 f"got {algo!r}")
            out["inverted_index_algo"] = str(algo).upper()
        # BM25 parameters are checked here, at create_index, not first at search time
        for key, lo, hi in (("bm25_k1", 1.2, 3.0), ("bm25_b", 0.0, 1.0), ("bm25_avgdl", 0.0, float("inf"))):
            if key in params:
                out[key] = float_param(params, key, params[key], lo, hi, cls.index_type)
        return out

    def __init__(self, metric_type: str, params: dict[str, Any], dim: int) -> None:
        super().__init__(metric_type, params, dim)
        self.csc = sp.csc_array((0, 0), dtype=np.float32)   # covered rows x used dims
        self.dims = np.empty(0, dtype=np.int64)             # the dimension id of each column
        self._impacts: Any = None                           # sparse_prune.ImpactLists of csc

    @property
    def prunes(self) -> bool:
        """Dynamic pruning (sparse_prune.py): SPARSE_WAND, or a DAAT inverted_index_algo."""
        return self.params.get("inverted_index_algo") in ("DAAT_WAND", "DAAT_MAXSCORE")

    def add(self, vectors: sp.csr_array) -> None:
        new = drop_smallest(sp.csr_array(vectors, dtype=np.float32),
                            float(self.params.get("drop_ratio_build", 0.0)))
        dims = np.union1d(self.dims, used_dims(new))
        if self.ntotal == 0:
            self.csc = sp.csc_array(remap_columns(new, dims))
        else:
            old = self.csc.tocoo()   # old columns move to their place among the new dims
            cols = np.searchsorted(dims, self.dims)[old.col]
            old = sp.csr_array((old.data, (old.row, cols)), shape=(old.shape[0], len(dims)))
            self.csc = sp.csc_array(sp.vstack([old, remap_columns(new, dims)], format="csr"))
        self.dims = dims
        self.ntotal += new.shape[0]
        self._impacts = None

    def search(self, queries, vectors, req: SearchRequest):
        allowed = None if req.allowed is None else req.allowed[: self.ntotal]
        if self.prunes:
            from .sparse_prune import ImpactLists, search_pruned

            lists = self._impacts
            if lists is None or lists.csc is not self.csc:
                lists = self._impacts = ImpactLists(self.csc)
            return search_pruned(lists, remap_columns(queries, self.dims), req.k, allowed, req.pk_of)
        return sparse_ip_search(self.csc, remap_columns(queries, self.dims), req.k,
                                allowed=allowed, pk_of=req.pk_of)

    def save(self, directory: Path, stem: str) -> list[str]:
        c = self.csc
        names = []
        for part, arr in (("data", c.data), ("indices", c.indices), ("indptr", c.indptr),
                          ("shape", np.asarray(c.shape, dtype=np.int64)), ("dims", self.dims)):
            name = f"{stem}.{part}.npy"
            save_npy(directory / name, arr)
            names.append(name)
        return names

    def load(self, directory: Path, stem: str, ntotal: int) -> None:
        get = lambda part: load_npy(directory / f"{stem}.{part}.npy")  # noqa: E731
        shape = tuple(int(v) for v in get("shape"))
        self.csc = sp.csc_array((get("data"), get("indices"), get("indptr")), shape=shape)
        # files written before compact columns have no dims: their columns are the ids
        dims_file = directory / f"{stem}.dims.npy"
        self.dims = load_npy(dims_file) if dims_file.exists() else np.arange(shape[1], dtype=np.int64)
        self.ntotal = shape[0]


class SparseWandIndex(SparseInvertedIndex):
    index_type = "SPARSE_WAND"

    @property
    def prunes(self) -> bool:
        return True


SPARSE_INDEXES: dict[str, type[VectorIndex]] = {
    "SPARSE_INVERTED_INDEX": SparseInvertedIndex,
    "SPARSE_WAND": SparseWandIndex,
}


def parse_drop_ratio_search(params: dict) -> float:
    return float_param(params, "drop_ratio_search", 0.0, 0.0, 1.0, "sparse search", hi_open=True)
