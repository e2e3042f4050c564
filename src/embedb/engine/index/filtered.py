"""Filtered dense search: which strategy, and the exact one without copying the survivors.

A filter leaves ``count`` of ``total`` rows. Two strategies, chosen per query from ``count``
and ``total`` only, never from the batch size, so a query's answer does not depend on the
queries sent with it:

* **exact** when few rows survive (``use_exact``: few rows, little scoring work, or a small
  fraction of the collection): every surviving row is scored where it is stored. HNSW keeps its
  vectors in a flat faiss storage (normalised for COSINE); FLAT searches the column with its
  kept squared norms. faiss's ``fvec_*_by_idx`` kernels read the surviving rows in place, so
  nothing is gathered or re-normalised. Below a few percent a graph search with a filter also
  loses recall quickly (the admissible nodes stop being connected), which exact search never does.
* **index** otherwise: the ANN index with the mask as a bitmap selector; the index widens its
  search by the selectivity (``dense.HNSWIndex._search_parameters``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import topk
from .metrics import get_metric

# filtered searches whose surviving rows are this few, this little work (rows x dim: the
# scoring of about 1,400 rows of 384-d costs what a widened graph search does) or this small a
# fraction (where a filtered graph search loses recall) run exactly
EXACT_MAX_ROWS = 1024
EXACT_MAX_WORK = 1 << 19
EXACT_MAX_FRACTION = 0.04


def use_exact(count: int, total: int, dim: int = 0) -> bool:
    """Whether a filter leaving ``count`` of ``total`` rows (vectors of ``dim`` numbers) is
    searched exactly."""
    return count <= EXACT_MAX_ROWS or count * dim <= EXACT_MAX_WORK or \
        count <= EXACT_MAX_FRACTION * total


def filtered_ef(ef: int, k: int, selectivity: float) -> int:
    """HNSW ``ef`` for a search that admits a ``selectivity`` fraction of the rows.

    faiss keeps ``ef`` admissible results but visits rows of every kind, so a filter leaves
    fewer useful candidates per ``ef``. Measured on clustered data (100k x 384 and 4k x 32,
    M=16), the ef that reaches a given recall@10 grows about 1.45x at 10% selectivity, 1.8x at
    5% and 2.5x at 3% over the unfiltered one: ``selectivity ** -1/3`` (2.15x at 10%) covers
    that with a margin. The base is at least 32 (about recall 0.95 unfiltered at k=10 on the
    larger set), so a filtered search keeps recall >= 0.95 even when the caller's ef is small."""
    base = max(ef, k, 32)
    return int(min(base * selectivity ** (-1.0 / 3.0), max(ef, 4096)))


def stored_base(impl: Any, vectors: np.ndarray, metric: str) -> tuple[np.ndarray, int, bool, Any] | None:
    """``(base, covered rows, normalised, squared norms)``: a float32 matrix whose rows
    ``[0, covered)`` are the rows' vectors as the index scores them, read in place; None when
    there is none (IVF, float16 / int8 columns without a flat storage)."""
    stored = getattr(impl, "stored_vectors", None)
    base = stored() if stored is not None else None
    if base is not None:
        return base, len(base), metric == "COSINE", None
    if vectors.dtype != np.float32 or vectors.ndim != 2 or not vectors.flags.c_contiguous:
        return None
    sqnorms = getattr(impl, "sqnorms", None)
    if metric == "COSINE":
        if sqnorms is None or len(sqnorms) < len(vectors):
            return None
        return vectors, len(vectors), False, sqnorms
    return vectors, len(vectors), False, None


def _by_idx(q: np.ndarray, base: np.ndarray, rows: np.ndarray, inner: bool) -> np.ndarray:
    """``q @ base[rows].T`` (inner) or squared L2 distances, without gathering ``base[rows]``."""
    from .dense import faiss_module

    faiss = faiss_module()
    kernel = faiss.fvec_inner_products_by_idx if inner else faiss.fvec_L2sqr_by_idx
    nq, d = q.shape
    out = np.empty((nq, len(rows)), dtype=np.float32)
    m = len(rows)
    y = faiss.swig_ptr(base)
    if nq > 1:
        # queries in parallel (the kernel's OpenMP loop runs over queries and takes one id
        # list per query): each score is the same dot product as for a single query
        step = max(1, (1 << 20) // max(1, m))
        tiled = np.broadcast_to(rows, (min(step, nq), m)).copy()
        for s in range(0, nq, step):
            e = min(nq, s + step)
            kernel(faiss.swig_ptr(out[s:e]), faiss.swig_ptr(q[s:e]), y, faiss.swig_ptr(tiled),
                   d, e - s, m)
        return out
    # for one query the kernel still opens an OpenMP region: on a busy machine, waiting for the
    # idle team costs milliseconds. One thread for this call (the setting is per calling thread)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        kernel(faiss.swig_ptr(out), faiss.swig_ptr(q), y, faiss.swig_ptr(rows), d, 1, m)
    finally:
        faiss.omp_set_num_threads(threads)
    return out


def exact_rows(queries: np.ndarray, stored: tuple, rows: np.ndarray, metric_type: str, k: int,
               pk_of: topk.PkOf | None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of ``queries`` among ``rows`` (ascending, all ``< covered``) of ``stored`` (from
    :func:`stored_base`). Keys as :func:`metrics.to_key` (smaller is better)."""
    from .dense import normalized
    from .exact import as_float32

    base, _, is_normalised, sqnorms = stored
    metric = get_metric(metric_type).name
    q = np.ascontiguousarray(as_float32(queries), dtype=np.float32)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if metric == "L2":
        keys = _by_idx(q, base, rows, inner=False)
    elif metric == "COSINE" and is_normalised:
        keys = _by_idx(normalized(q), base, rows, inner=True)   # as the index scores it
        np.negative(keys, out=keys)
    else:
        keys = _by_idx(q, base, rows, inner=True)
        if metric == "COSINE":   # the column's own vectors: divide by both norms (metrics._cosine)
            qn = np.sqrt(np.einsum("ij,ij->i", q, q))
            qn[qn == 0] = 1.0
            xn = np.sqrt(sqnorms[rows])
            xn[xn == 0] = 1.0
            keys /= qn[:, None]
            keys /= xn[None, :]
        np.negative(keys, out=keys)
    if len(keys) == 1:
        out = _select_one(keys[0], rows, k)
        if out is not None:
            return out
    return topk.select(keys, rows, k, pk_of)


def _select_one(keys: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """One query's top-k in a few array calls; None when a tie (or a NaN) needs the general
    :func:`topk.select`, which orders tied rows by primary key."""
    m = len(keys)
    kk = min(k, m)
    if kk < 2 or m <= kk:
        return None
    part = np.argpartition(keys, kk - 1)[:kk]
    best = keys[part]
    order = np.argsort(best)
    best = best[order]
    # the k-th key shared with a row left out, two kept rows tied, or NaN: the general path
    if not (best[-1] < np.inf) or np.count_nonzero(keys <= best[-1]) != kk or \
            not (best[1:] > best[:-1]).all():
        return None
    out_rows = np.full((1, k), -1, dtype=np.int64)
    out_keys = np.full((1, k), np.inf, dtype=np.float32)
    out_rows[0, :kk] = rows[part[order]]
    out_keys[0, :kk] = best
    return out_rows, out_keys
