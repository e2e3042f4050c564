"""Fusion of several ranked result lists (hybrid search): RRF and weighted scores, as Milvus.

- RRF: ``score(row) = sum over lists of 1 / (k + rank)``, rank counted from 1.
- Weighted: ``score(row) = sum of weight_i * f_i(distance_i)`` where, with ``norm_score``,
  ``f`` maps each metric into [0, 1]: COSINE ``(1 + d) / 2``, IP ``0.5 + atan(d) / pi``, BM25
  ``2 atan(d) / pi``, and distance metrics (L2, HAMMING, JACCARD) ``1 - 2 atan(d) / pi``. Without
  ``norm_score`` similarity scores are used as they are and distances get the last mapping so
  that larger is always better (Milvus does the same).

Score fusions measured in docs/search.md (embedb's own, beside Milvus's two):

- DBSF (distribution-based score fusion, as Qdrant): each list's scores of one query are mapped
  with ``(s - (mu - 3 sigma)) / (6 sigma)`` (population sigma; a list with one hit or equal
  scores gives 0.5), then summed (times an optional weight per list).
- Convex combination: each list's scores of one query min-max scaled into [0, 1] (``(s - min) /
  (max - min)``, equal scores give 1), then ``sum alpha_i * s_i`` with the weights scaled to sum
  to 1.

In both a row missing from a list adds nothing for that list; distances (L2, HAMMING, JACCARD)
are negated first so that larger is better.

Inputs are ``(rows (nq, k_i), dist (nq, k_i))`` per list with -1 padding; the output is
``(rows (nq, k), scores (nq, k))`` best first, ties by primary key.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ParamError
from .index import topk

NORMALIZERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "COSINE": lambda d: (1.0 + d) * 0.5,
    "IP": lambda d: 0.5 + np.arctan(d) / np.pi,
    "BM25": lambda d: 2.0 * np.arctan(d) / np.pi,
}
LARGER_IS_BETTER = ("COSINE", "IP", "BM25")


def _distance_to_score(d: np.ndarray) -> np.ndarray:
    return 1.0 - 2.0 * np.arctan(d) / np.pi


def normalize(dist: np.ndarray, metric_type: str, norm_score: bool) -> np.ndarray:
    metric = metric_type.upper()
    if metric not in LARGER_IS_BETTER:
        return _distance_to_score(dist)
    return NORMALIZERS[metric](dist) if norm_score else dist


def _fuse(contribs: list[tuple[np.ndarray, np.ndarray]], k: int, pk_of) -> tuple[np.ndarray, np.ndarray]:
    """Sum per-(query, row) contributions and keep the best k per query."""
    nq = contribs[0][0].shape[0]
    rows = np.concatenate([c[0] for c in contribs], axis=1)
    vals = np.concatenate([c[1] for c in contribs], axis=1).astype(np.float64)
    q = np.broadcast_to(np.arange(nq)[:, None], rows.shape)
    valid = rows >= 0
    rows, vals, q = rows[valid], vals[valid], q[valid]
    if len(rows) == 0:
        return np.full((nq, k), -1, np.int64), np.full((nq, k), np.nan)
    key = q.astype(np.int64) * (int(rows.max()) + 1) + rows
    uniq, inv = np.unique(key, return_inverse=True)
    sums = np.bincount(inv, weights=vals)
    uq = uniq // (int(rows.max()) + 1)
    ur = uniq % (int(rows.max()) + 1)
    counts = np.bincount(uq, minlength=nq)
    width = int(counts.max())
    pos = np.arange(len(uniq)) - np.repeat(np.cumsum(counts) - counts, counts)
    grid_keys = np.full((nq, width), np.inf)
    grid_rows = np.full((nq, width), -1, dtype=np.int64)
    grid_keys[uq, pos] = -sums
    grid_rows[uq, pos] = ur
    out_rows, keys = topk.select(grid_keys, grid_rows, k, pk_of)
    return out_rows, -keys


def rrf(results: list[tuple[np.ndarray, np.ndarray]], k: int, rrf_k: float = 60.0,
        pk_of=None) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal rank fusion of ``results`` (each best first) into the best ``k`` rows."""
    contribs = []
    for rows, _ in results:
        ranks = np.arange(1, rows.shape[1] + 1, dtype=np.float64)
        contribs.append((rows, np.broadcast_to(1.0 / (rrf_k + ranks), rows.shape)))
    return _fuse(contribs, k, pk_of)


def weighted(results: list[tuple[np.ndarray, np.ndarray]], metrics: list[str], weights: list[float],
             k: int, norm_score: bool = True, pk_of=None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sum of (normalised) scores of ``results``."""
    if len(weights) != len(results):
        raise ParamError(f"WeightedRanker has {len(weights)} weights for {len(results)} search "
                         "requests: give one weight per AnnSearchRequest")
    contribs = []
    for (rows, dist), metric, w in zip(results, metrics, weights):
        contribs.append((rows, float(w) * normalize(np.asarray(dist, dtype=np.float64), metric,
                                                    norm_score)))
    return _fuse(contribs, k, pk_of)


def _as_scores(dist: np.ndarray, metric_type: str) -> np.ndarray:
    d = np.asarray(dist, dtype=np.float64)
    return d if metric_type.upper() in LARGER_IS_BETTER else -d


def _list_weights(weights: list[float] | None, n: int, name: str) -> list[float]:
    if weights is None or len(weights) == 0:
        return [1.0] * n
    if len(weights) != n:
        raise ParamError(f"{name} ranker has {len(weights)} weights for {n} search requests: "
                         "give one weight per AnnSearchRequest")
    out = [float(w) for w in weights]
    if any(not np.isfinite(w) or w < 0 for w in out):
        raise ParamError(f"{name} ranker weights must be finite numbers >= 0, got {weights!r}")
    return out


def dbsf_normalize(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per query (row of the arrays): ``(s - (mu - 3 sigma)) / (6 sigma)`` over the valid hits."""
    valid = rows >= 0
    n = valid.sum(axis=1, keepdims=True)
    safe_n = np.maximum(n, 1)
    s = np.where(valid, scores, 0.0)
    mu = s.sum(axis=1, keepdims=True) / safe_n
    var = (np.where(valid, scores - mu, 0.0) ** 2).sum(axis=1, keepdims=True) / safe_n
    sigma = np.sqrt(var)
    flat = sigma <= 1e-12 * np.maximum(np.abs(mu), 1.0)
    out = (scores - (mu - 3.0 * sigma)) / np.where(flat, 1.0, 6.0 * sigma)
    return np.where(valid, np.where(flat, 0.5, out), 0.0)


def minmax_normalize(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per query: ``(s - min) / (max - min)`` over the valid hits (1.0 when all are equal)."""
    valid = rows >= 0
    lo = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    hi = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
    span = hi - lo
    flat = ~(span > 0)
    out = (scores - np.where(np.isfinite(lo), lo, 0.0)) / np.where(flat, 1.0, span)
    return np.where(valid, np.where(flat, 1.0, out), 0.0)


def dbsf(results: list[tuple[np.ndarray, np.ndarray]], metrics: list[str], k: int,
         weights: list[float] | None = None, pk_of=None) -> tuple[np.ndarray, np.ndarray]:
    """Distribution-based score fusion of ``results`` (see the module docstring)."""
    ws = _list_weights(weights, len(results), "dbsf")
    contribs = [(rows, w * dbsf_normalize(rows, _as_scores(dist, metric)))
                for (rows, dist), metric, w in zip(results, metrics, ws)]
    return _fuse(contribs, k, pk_of)


def convex(results: list[tuple[np.ndarray, np.ndarray]], metrics: list[str], k: int,
           weights: list[float] | None = None, pk_of=None) -> tuple[np.ndarray, np.ndarray]:
    """Convex combination of min-max scaled scores (see the module docstring)."""
    ws = _list_weights(weights, len(results), "convex")
    total = sum(ws)
    if total <= 0:
        raise ParamError("convex ranker weights must not all be 0")
    contribs = [(rows, (w / total) * minmax_normalize(rows, _as_scores(dist, metric)))
                for (rows, dist), metric, w in zip(results, metrics, ws)]
    return _fuse(contribs, k, pk_of)
