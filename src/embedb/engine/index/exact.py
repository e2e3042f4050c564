"""Exact (brute-force) search over dense float or packed binary vectors, in row blocks.

The backbone of FLAT, BIN_FLAT, the unindexed tail of every ANN index, and filtered searches whose
surviving rows are few. Vectorised over queries and rows; memory stays bounded by the block size.
"""

from __future__ import annotations

import numpy as np

from . import topk
from .metrics import SMALL_NQ, get_metric, in_range, to_key

_BLOCK_ENTRIES = 1 << 22      # nq * block rows scored at once (16 MiB of float32)
# candidates kept past k for the rescore (``_rescore``): rows within a rounding error of the
# k-th place are decided by the rescored distances, not by the batch-dependent first pass
_RESCORE_PAD = 8
_BINARY_BLOCK_BYTES = 1 << 24  # nq * block * nbytes for the popcount kernels


def as_float32(x: np.ndarray, stored: str | None = None) -> np.ndarray:
    """Stored vectors (float32 | float16 | bfloat16 bits in uint16 | int8) as float32."""
    if x.dtype == np.float32:
        return x
    if x.dtype == np.uint16 or stored == "bfloat16":
        return (x.astype(np.uint32) << 16).view(np.float32)
    return x.astype(np.float32)


def exact_search(
    queries: np.ndarray,
    vectors: np.ndarray,
    metric_type: str,
    k: int,
    *,
    allowed: np.ndarray | None = None,
    row_offset: int = 0,
    sqnorms: np.ndarray | None = None,
    radius: float | None = None,
    range_filter: float | None = None,
    pk_of: topk.PkOf | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of ``queries`` against ``vectors`` (rows ``row_offset + i``).

    ``allowed`` (bool, len(vectors)) restricts the rows; ``sqnorms`` are precomputed squared norms
    of ``vectors`` (float metrics). Returns ``(rows (nq, k) int64, keys (nq, k))`` with keys as in
    :func:`metrics.to_key` (smaller is better), padded with -1 / inf.
    """
    metric = get_metric(metric_type)
    nq = len(queries)
    n = len(vectors)
    best = (np.full((nq, 0), -1, dtype=np.int64), np.zeros((nq, 0), dtype=np.float32))
    if n == 0 or k <= 0:
        return topk.select(best[1], best[0], k, pk_of)
    # BLAS (a batch) rounds apart from the per-query loop, and L2's first pass is an expansion:
    # the winners are scored again as a few queries' first pass scores them (``_rescore``)
    rescore = metric.name == "L2" or (not metric.binary and nq > SMALL_NQ)
    final_k, k = k, (k + _RESCORE_PAD if rescore else k)
    # gather the survivors when they are few: cheaper than scoring every row
    cand: np.ndarray | None = None
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)[:n]
        count = int(allowed.sum())
        if count == 0:
            return topk.select(best[1], best[0], final_k, pk_of)
        if count < n // 5:
            cand = np.flatnonzero(allowed)
    total = n if cand is None else len(cand)
    if metric.binary:
        block = max(1, _BINARY_BLOCK_BYTES // max(1, nq * vectors.shape[1]))
    else:
        block = max(1024, _BLOCK_ENTRIES // max(1, nq))
    if cand is not None and nq <= 8:
        block = min(block, 2048)   # gathered rows stay in cache between the copy and the product
    q = queries if metric.binary else as_float32(queries)
    if rescore and total <= k:   # every row is a candidate: the second pass alone
        local = np.arange(n) if allowed is None else np.flatnonzero(allowed)
        return _rescore(q, vectors, local + row_offset, row_offset, final_k, pk_of, metric.name, radius,
                        range_filter)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, total, block):
        stop = min(total, start + block)
        if cand is None:
            local = np.arange(start, stop)
            x = vectors[start:stop]
            norms = None if sqnorms is None else sqnorms[start:stop]
        else:
            local = cand[start:stop]
            x = vectors[local]
            norms = None if sqnorms is None else sqnorms[local]
        if not metric.binary:
            x = as_float32(x)
        dist = metric.kernel(q, x, norms)
        keys = to_key(dist, metric.name).astype(np.float32, copy=False)
        if cand is None and allowed is not None:
            keys[:, ~allowed[start:stop]] = np.inf
        if radius is not None or range_filter is not None:
            keys[~in_range(dist, metric.name, radius, range_filter)] = np.inf
        parts.append(topk.select(keys, local + row_offset, k, pk_of))
        if len(parts) >= 8:
            parts = [topk.merge(parts, k, pk_of)]
    rows, keys = topk.merge(parts, k, pk_of)
    if not rescore:   # bit counts, or the per-query loop's scores: already what a single query gets
        return rows, keys
    return _rescore(q, vectors, rows, row_offset, final_k, pk_of, metric.name, radius, range_filter)


def _rescore(q, vectors, rows, row_offset, k, pk_of, metric, radius, range_filter):
    """Score the first pass's winners again and keep the best ``k``. Why: the first pass's
    products go through BLAS for a batch and through einsum's loop per query for a few queries
    (``metrics.dot``), whose roundings differ in the last bit, so a single query and the same
    query in a batch would report different distances (and could order a near tie
    differently). Here each (query, row) pair is summed over its own ``d`` values by that same
    einsum loop, bit for bit what a single query's first pass gives, whatever the batch or the
    row's place (tests/test_single_vs_batch.py). ``rows``: (nq, m) row numbers (-1: none), or
    (m,) shared by every query. For L2 it is sum((q - x)^2): the |q|^2 + |x|^2 - 2 q.x
    expansion of the first pass loses precision when vectors are long and close (float32
    cancellation)."""
    shared = rows.ndim == 1
    valid = rows >= 0
    x = as_float32(vectors[np.where(valid, rows - row_offset, 0).ravel()])
    if shared:
        if metric == "L2":
            diff = q[:, None, :] - x[None, :, :]
            dist = np.einsum("qkd,qkd->qk", diff, diff)
        else:
            dist = np.einsum("qd,kd->qk", q, x)
            if metric == "COSINE":
                xsq = np.einsum("kd,kd->k", x, x)[None, :]
        rows = np.broadcast_to(rows, dist.shape)
        valid = np.broadcast_to(valid, dist.shape)
    else:
        x = x.reshape(rows.shape + (-1,))
        if metric == "L2":
            diff = x - q[:, None, :]
            dist = np.einsum("qkd,qkd->qk", diff, diff)
        else:
            dist = np.einsum("qkd,qd->qk", x, q)
            if metric == "COSINE":
                xsq = np.einsum("qkd,qkd->qk", x, x)
    if metric == "COSINE":   # as metrics._cosine: a zero norm counts as 1
        qn = np.sqrt(np.einsum("qd,qd->q", q, q))
        xn = np.sqrt(xsq)
        qn[qn == 0] = 1.0
        xn = np.where(xn == 0, 1.0, xn)
        dist /= qn[:, None]
        dist /= xn
    dist = dist.astype(np.float32, copy=False)
    keys = to_key(dist, metric)
    keys[~valid] = np.inf
    if radius is not None or range_filter is not None:
        keys[~in_range(dist, metric, radius, range_filter)] = np.inf
    return topk.select(keys, rows, k, pk_of)


def count_in_range(
    queries: np.ndarray, vectors: np.ndarray, metric_type: str, radius, range_filter,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """Per query, how many rows lie inside the range (used by tests and range checks)."""
    metric = get_metric(metric_type)
    q = queries if metric.binary else as_float32(queries)
    x = vectors if metric.binary else as_float32(vectors)
    ok = in_range(metric.kernel(q, x, None), metric.name, radius, range_filter)
    if allowed is not None:
        ok &= allowed[None, :]
    return ok.sum(1)
