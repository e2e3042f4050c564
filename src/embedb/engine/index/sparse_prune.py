"""Exact top-k sparse inner product with dynamic pruning (SPARSE_WAND, and SPARSE_INVERTED_INDEX
with ``inverted_index_algo`` DAAT_WAND / DAAT_MAXSCORE).

The threshold algorithm over impact-ordered posting lists, the list-level form of WAND and
MaxScore: each column's entries are kept ordered by value (built once per index state). For
one query, the rows at the head of some list (by ``q_c * value``, descending) are candidates; a
row outside every head scores at most the sum of each list's contribution at its depth. A
cheap float64 estimate of the candidates' scores gives a k-th score; once the bound lies below
it (with a margin far wider than float32 rounding), no other row can enter the top k. The
candidates' rows are then scored by ``sparse.sparse_ip_search`` itself, so scores and tie order
are exactly those of the exhaustive search.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from . import topk

FIRST_DEPTH = 64      # entries of each list read by the first, shallow pass
_MARGIN = 1e-4        # relative to the query's largest possible score: float32 rounding is far below


class ImpactLists:
    """Columns of a CSC matrix ordered by value (descending), and the matrix as CSR rows."""

    def __init__(self, csc: sp.csc_array) -> None:
        self.csc = csc
        self.csr = sp.csr_array(csc)
        self._order: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def column(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, values) of column ``c`` by decreasing value."""
        got = self._order.get(c)
        if got is None:
            a, b = int(self.csc.indptr[c]), int(self.csc.indptr[c + 1])
            rows = np.asarray(self.csc.indices[a:b], dtype=np.int64)
            vals = np.asarray(self.csc.data[a:b], dtype=np.float64)
            order = np.argsort(-vals, kind="stable")
            got = self._order[c] = (rows[order], vals[order])
        return got


def _heads(columns: list, weights: np.ndarray, depth: int) -> tuple[np.ndarray, float]:
    """Sorted distinct rows among each list's first ``depth`` by contribution ``w * value``, and
    the largest contribution a row outside them can get (a row absent from a list gains 0)."""
    parts, bound = [], 0.0
    for (rows, vals), w in zip(columns, weights):
        if w < 0:   # the most positive contributions are the smallest values
            rows, vals = rows[::-1], vals[::-1]
        parts.append(rows[:depth])
        if depth < len(vals):
            bound += max(float(w * vals[depth]), 0.0)
    cand = np.sort(np.concatenate(parts))
    if len(cand) > 1:
        cand = cand[np.concatenate(([True], cand[1:] != cand[:-1]))]
    return cand, bound


def _bound(columns: list, weights: np.ndarray, depth: int) -> float:
    total = 0.0
    for (_, vals), w in zip(columns, weights):
        if depth < len(vals):
            total += max(float(w * (vals[depth] if w >= 0 else vals[len(vals) - 1 - depth])), 0.0)
    return total


def search_pruned(lists: ImpactLists, queries: sp.csr_array, k: int, allowed: np.ndarray | None,
                  pk_of: topk.PkOf | None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k rows and keys (``-score``) of each query, as ``sparse_ip_search``."""
    from .sparse import sparse_ip_search

    q = sp.csr_array(queries)
    nq = q.shape[0]
    out_rows = np.full((nq, k), -1, dtype=np.int64)
    out_keys = np.full((nq, k), np.inf, dtype=np.float32)
    n, dim = lists.csc.shape
    for i in range(nq):
        a, b = int(q.indptr[i]), int(q.indptr[i + 1])
        cols = np.asarray(q.indices[a:b], dtype=np.int64)
        weights = np.asarray(q.data[a:b], dtype=np.float64)
        inside = cols < dim
        cols, weights = cols[inside], weights[inside]
        if not len(cols) or n == 0:
            continue
        order = np.argsort(cols)
        cols, weights = cols[order], weights[order]
        found = _candidates(lists, cols, weights, k, allowed)
        if found is None:   # pruning would read most entries: the exhaustive search
            rows, keys = sparse_ip_search(lists.csc, q[i : i + 1], k, allowed=allowed, pk_of=pk_of)
        else:
            cand, sub = found
            if not len(cand):
                continue
            # the candidates' rows over the query's columns (sorted, as sparse_ip_search takes
            # them): the same products summed in the same order as the full gather
            q_sub = sp.csr_array((weights.astype(np.float32), np.arange(len(cols)), [0, len(cols)]),
                                 shape=(1, len(cols)))
            local_pk = None if pk_of is None else (lambda local, cand=cand: pk_of(cand[np.asarray(local)]))
            rows, keys = sparse_ip_search(sp.csc_array(sub), q_sub, k, pk_of=local_pk)
            rows = np.where(rows >= 0, cand[np.maximum(rows, 0)], -1)
        out_rows[i], out_keys[i] = rows[0], keys[0]
    return out_rows, out_keys


def _candidates(lists: ImpactLists, cols: np.ndarray, weights: np.ndarray, k: int,
                allowed: np.ndarray | None) -> tuple[np.ndarray, sp.csr_array] | None:
    """Sorted rows holding every row of the exact top k (ties with the k-th included) and their
    CSR rows over ``cols``, or None when pruning would read most entries. A shallow first pass
    gives a k-th score estimate; the depth is then the smallest whose bound lies below it
    (bisection: the bound only falls with depth), so a second pass holds the top k."""
    columns = [lists.column(int(c)) for c in cols]
    sizes = np.array([len(r) for r, _ in columns])
    longest = int(sizes.max())
    margin = _MARGIN * sum(abs(float(w)) * float(np.abs(v).max()) for (_, v), w in zip(columns, weights) if len(v))
    depth = min(max(2 * k, FIRST_DEPTH), longest)
    kth = None
    while 3 * np.minimum(sizes, depth).sum() <= sizes.sum():
        cand, bound = _heads(columns, weights, depth)
        if allowed is not None:
            cand = cand[np.asarray(allowed, dtype=bool)[cand]]
        if len(cand) >= k:
            sub = sp.csr_array(lists.csr[cand][:, cols])
            est = np.asarray(sub @ weights, dtype=np.float64)
            kth = float(np.partition(est, len(cand) - k)[len(cand) - k])
            if bound + margin < kth - margin:
                return cand, sub
        if depth >= longest:
            break
        if kth is None:
            depth = min(depth * 4, longest)
            continue
        lo, hi = depth + 1, longest
        while lo < hi:
            mid = (lo + hi) // 2
            if _bound(columns, weights, mid) + margin < kth - margin:
                hi = mid
            else:
                lo = mid + 1
        depth = lo
    return None
