"""Distance kernels: small pure functions over arrays, dispatched from a table by metric name.

Every kernel takes queries ``(nq, d)`` and a block of stored vectors ``(n, d)`` and returns an
``(nq, n)`` float32 matrix in the metric's own convention (Milvus): L2 is the squared distance
(smaller is better), IP and COSINE are similarities (larger is better), HAMMING is a bit count and
JACCARD is ``1 - |a & b| / |a | b|`` (both smaller is better).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...errors import ParamError


# up to this many queries, ``dot`` runs einsum's loop one query at a time (each product summed
# over its own d values alike: what exact._rescore computes for a larger batch after BLAS)
SMALL_NQ = 8


def dot(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``q @ x.T``. A few queries go through einsum's own loop, one query at a time: a
    multi-threaded BLAS gemv can be 10x slower on a busy small machine (threads spin and
    contend), while for many queries BLAS gemm wins."""
    if len(q) > SMALL_NQ:
        return q @ x.T
    out = np.empty((len(q), len(x)), dtype=np.result_type(q, x))
    for i in range(len(q)):
        np.einsum("j,kj->k", q[i], x, out=out[i])
    return out


def _ip(q: np.ndarray, x: np.ndarray, x_sqnorm: np.ndarray | None = None) -> np.ndarray:
    return dot(q, x)


def _l2(q: np.ndarray, x: np.ndarray, x_sqnorm: np.ndarray | None = None) -> np.ndarray:
    # |q|^2 + |x|^2 - 2 q.x, clipped at 0 against rounding; |x|^2 may come precomputed
    if x_sqnorm is None:
        x_sqnorm = np.einsum("ij,ij->i", x, x)
    d = dot(q, x)
    d *= -2.0
    d += np.einsum("ij,ij->i", q, q)[:, None]
    d += x_sqnorm[None, :]
    return np.maximum(d, 0.0, out=d)


def _cosine(q: np.ndarray, x: np.ndarray, x_sqnorm: np.ndarray | None = None) -> np.ndarray:
    if x_sqnorm is None:
        x_sqnorm = np.einsum("ij,ij->i", x, x)
    qn = np.sqrt(np.einsum("ij,ij->i", q, q))
    xn = np.sqrt(x_sqnorm)
    qn[qn == 0] = 1.0
    xn = np.where(xn == 0, 1.0, xn)
    d = dot(q, x)
    d /= qn[:, None]
    d /= xn[None, :]
    return d


def _popcount_rows(a: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a).sum(-1, dtype=np.int32)


def _hamming(q: np.ndarray, x: np.ndarray, x_sqnorm: None = None) -> np.ndarray:
    # q (nq, nbytes) uint8, x (n, nbytes) uint8
    return _popcount_rows(q[:, None, :] ^ x[None, :, :]).astype(np.float32)


def _jaccard(q: np.ndarray, x: np.ndarray, x_sqnorm: None = None) -> np.ndarray:
    inter = _popcount_rows(q[:, None, :] & x[None, :, :])
    union = _popcount_rows(q[:, None, :] | x[None, :, :])
    out = np.zeros(inter.shape, dtype=np.float32)
    nz = union > 0
    out[nz] = 1.0 - inter[nz] / union[nz]
    return out


@dataclass(frozen=True)
class Metric:
    name: str
    kernel: Callable[..., np.ndarray]   # (queries, block, x_sqnorm=None) -> (nq, n)
    larger_is_better: bool
    binary: bool = False


METRICS: dict[str, Metric] = {
    "L2": Metric("L2", _l2, False),
    "IP": Metric("IP", _ip, True),
    "COSINE": Metric("COSINE", _cosine, True),
    "HAMMING": Metric("HAMMING", _hamming, False, binary=True),
    "JACCARD": Metric("JACCARD", _jaccard, False, binary=True),
}

# metric names accepted per kind of vector field
FLOAT_METRICS = ("COSINE", "IP", "L2")
BINARY_METRICS = ("HAMMING", "JACCARD")
SPARSE_METRICS = ("IP", "BM25")
LARGER_IS_BETTER = {"IP", "COSINE", "BM25"}


def get_metric(name: str) -> Metric:
    """The metric named ``name`` (case-insensitive); ParamError listing the valid names if unknown."""
    key = str(name).upper() if name is not None else ""
    try:
        return METRICS[key]
    except KeyError:
        raise ParamError(f"unknown metric_type {name!r}; valid: {sorted(METRICS)}") from None


def larger_is_better(metric_type: str) -> bool:
    return str(metric_type).upper() in LARGER_IS_BETTER


def to_key(dist: np.ndarray, metric_type: str) -> np.ndarray:
    """Sort key where smaller is better, whatever the metric."""
    return -dist if larger_is_better(metric_type) else dist


def in_range(dist: np.ndarray, metric_type: str, radius: float | None,
             range_filter: float | None) -> np.ndarray:
    """Milvus range search: L2-like ``range_filter <= d < radius``; IP-like ``radius < d <= range_filter``."""
    ok = np.ones(dist.shape, dtype=bool)
    if larger_is_better(metric_type):
        if radius is not None:
            ok &= dist > radius
        if range_filter is not None:
            ok &= dist <= range_filter
    else:
        if radius is not None:
            ok &= dist < radius
        if range_filter is not None:
            ok &= dist >= range_filter
    return ok
