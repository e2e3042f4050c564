"""Top-k selection over sort keys (smaller is better) with ties broken by primary key.

``argpartition`` then a sort of the k survivors (bm25s style). Exactness under ties: when the
k-th key is shared by more rows than fit, the tied rows are resolved by primary key ascending,
so exact paths return exactly the brute-force order ``(key, pk)``.
"""

from __future__ import annotations

import operator
from typing import Callable

import numpy as np

_INF = float("inf")

PkOf = Callable[[np.ndarray], np.ndarray]   # row numbers -> primary keys (sortable array)


def _pk_ranks(pk_of: PkOf, rows: np.ndarray) -> np.ndarray:
    """Rank of each row's primary key among ``rows`` (works for int and string keys)."""
    pks = np.asarray(pk_of(rows.ravel()))
    return np.unique(pks, return_inverse=True)[1].reshape(rows.shape)


def _take(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.take_along_axis(a, idx, axis=1)


def select(keys: np.ndarray, rows: np.ndarray, k: int, pk_of: PkOf | None) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of each query row of ``keys`` (nq, m), sorted by (key, pk).

    ``rows`` is (nq, m) or (m,) (the same row numbers for every query); entries with key ``inf``
    or row ``-1`` are empty. Returns ``(rows (nq, k), keys (nq, k))`` padded with -1 / inf.
    """
    keys = np.asarray(keys)
    nq, m = keys.shape
    if nq == 1 and m == k > 1 and rows.ndim == 2:
        # one query's full list that comes sorted (faiss): strictly increasing finite keys have
        # nothing to select and no tie; checked on k Python floats (cheaper than array passes)
        kl = keys[0].tolist()
        if kl[-1] < _INF and all(map(operator.lt, kl, kl[1:])) and min(rows[0].tolist()) >= 0:
            return rows.astype(np.int64), keys.astype(np.float64 if keys.dtype == np.float64 else np.float32)
    if rows.ndim == 1:
        rows = np.broadcast_to(rows, (nq, m))
    keys = np.where(rows < 0, np.inf, keys)
    if m <= k and m > 1:
        # fast path for lists that come sorted (faiss): nothing to select, nothing tied
        ahead, behind = keys[:, 1:], keys[:, :-1]
        if (ahead >= behind).all() and not ((ahead == behind) & np.isfinite(ahead)).any():
            out_rows = np.where(np.isfinite(keys), rows, -1).astype(np.int64)
            out_keys = keys.astype(np.float64 if keys.dtype == np.float64 else np.float32)
            if m < k:
                out_rows = np.concatenate([out_rows, np.full((nq, k - m), -1, np.int64)], axis=1)
                out_keys = np.concatenate([out_keys, np.full((nq, k - m), np.inf, out_keys.dtype)],
                                          axis=1)
            return out_rows, out_keys
    kk = min(k, m)
    fix: np.ndarray = np.zeros(0, dtype=np.int64)
    if m > kk and kk > 0:
        part = np.argpartition(keys, kk - 1, axis=1)[:, :kk]
        sel_keys = _take(keys, part)
        kth = sel_keys.max(axis=1)
        # more rows tie with the k-th key than were kept: resolve those queries by pk below
        fix = np.flatnonzero(np.isfinite(kth) & ((keys <= kth[:, None]).sum(1) > kk))
    else:
        part = np.broadcast_to(np.arange(m), (nq, m))
        sel_keys = keys
    order = np.argsort(sel_keys, axis=1, kind="stable")
    idx = _take(part, order)
    out_keys = _take(sel_keys, order)
    out_rows = _take(rows, idx).copy()
    out_keys = out_keys.astype(np.float64 if keys.dtype == np.float64 else np.float32, copy=True)
    if pk_of is not None and kk > 1:
        same = (out_keys[:, 1:] == out_keys[:, :-1]) & np.isfinite(out_keys[:, 1:])
        tied = np.flatnonzero(same.any(axis=1))
        if len(fix):
            tied = np.setdiff1d(tied, fix)
        if len(tied):
            r = out_rows[tied]
            ranks = _pk_ranks(pk_of, np.where(r < 0, r.max(initial=0), r))
            o = np.lexsort((ranks, out_keys[tied]), axis=-1)
            out_rows[tied] = _take(r, o)
            out_keys[tied] = _take(out_keys[tied], o)
    for q in fix:
        cand = np.flatnonzero(keys[q] <= out_keys[q, kk - 1])
        cand_rows = rows[q, cand]
        if pk_of is not None:
            ranks = _pk_ranks(pk_of, cand_rows)
            o = np.lexsort((ranks, keys[q, cand]))[:kk]
        else:
            o = np.lexsort((cand_rows, keys[q, cand]))[:kk]
        out_rows[q] = cand_rows[o]
        out_keys[q] = keys[q, cand[o]]
    empty = ~np.isfinite(out_keys)
    out_rows[empty] = -1
    if kk < k:
        pad = k - kk
        out_rows = np.concatenate([out_rows, np.full((nq, pad), -1, dtype=out_rows.dtype)], axis=1)
        out_keys = np.concatenate([out_keys, np.full((nq, pad), np.inf, dtype=out_keys.dtype)], axis=1)
    return out_rows.astype(np.int64, copy=False), out_keys


def merge(parts: list[tuple[np.ndarray, np.ndarray]], k: int, pk_of: PkOf | None) -> tuple[np.ndarray, np.ndarray]:
    """Merge several ``(rows, keys)`` top-k results of the same queries into one top-k."""
    parts = [p for p in parts if p[0].shape[1]]
    if not parts:
        raise ValueError("merge() needs at least one non-empty part")
    if len(parts) == 1:
        rows, keys = parts[0]
        if rows.shape[1] == k:
            return rows, keys
    rows = np.concatenate([p[0] for p in parts], axis=1)
    keys = np.concatenate([p[1] for p in parts], axis=1)
    return select(keys, rows, k, pk_of)
