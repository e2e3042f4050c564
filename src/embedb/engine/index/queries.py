"""Turning the ``data`` of a search call into query arrays for one vector field, with clear
errors (ParamError naming the field, the query and what was expected)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:   # imported where sparse queries are converted: dense collections never pay it
    import scipy.sparse as sp

from ...errors import ParamError
from ...schema import DataType

MAX_NQ = 16384


def _check_count(n: int, field: str) -> None:
    if n == 0:
        raise ParamError(f"search data for field {field!r} is empty: pass at least one query vector")
    if n > MAX_NQ:
        raise ParamError(f"nq [{n}] is invalid, nq (number of search vector per search request) "
                         f"should be in range [1, {MAX_NQ}], but got {n} (field {field!r})")


def dense_queries(data: Any, field: str, dtype: DataType, dim: int) -> np.ndarray:
    """(nq, dim) float32 queries for a FLOAT/FLOAT16/BFLOAT16/INT8 vector field."""
    if data is None:
        raise ParamError(f"search data for field {field!r} is empty: pass at least one query vector")
    if type(data) is list and len(data) == 1 and type(data[0]) is np.ndarray and \
            data[0].dtype == np.float32 and data[0].shape == (dim,):
        data = data[0][None, :]   # the common single query: skip the per-row checks below
    if isinstance(data, np.ndarray) and data.ndim == 1 and data.dtype != object:
        data = data[None, :]
    elif isinstance(data, (list, tuple)) and data and all(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in data):
        data = [data]   # one flat vector
    if isinstance(data, (bytes, str, dict)):
        raise ParamError(f"search data for {dtype.name} field {field!r} must be a list of vectors, "
                         f"got {type(data).__name__}")
    rows = list(data) if not isinstance(data, np.ndarray) else data
    _check_count(len(rows), field)
    if isinstance(rows, np.ndarray) and rows.ndim == 2 and rows.dtype != object:
        arr = rows
    else:
        out = []
        for i, v in enumerate(rows):
            if isinstance(v, (bytes, bytearray)) and dtype in (DataType.FLOAT16_VECTOR,
                                                               DataType.BFLOAT16_VECTOR):
                raw = np.frombuffer(bytes(v), dtype=np.uint16)
                v = raw.view(np.float16) if dtype == DataType.FLOAT16_VECTOR else \
                    (raw.astype(np.uint32) << 16).view(np.float32)
            try:
                with np.errstate(over="ignore"):  # beyond float32 is inf: refused below as such
                    a = np.asarray(v, dtype=np.float32)
            except (TypeError, ValueError, OverflowError):  # OverflowError: e.g. 10**400
                raise ParamError(f"query {i} for field {field!r} is not a numeric vector") from None
            if a.ndim != 1:
                raise ParamError(f"query {i} for field {field!r} must be a 1-D vector, got shape "
                                 f"{a.shape}")
            if len(a) != dim:
                raise ParamError(f"query {i} for field {field!r} has dim {len(a)}, expected {dim}")
            out.append(a)
        arr = np.stack(out)
    if arr.shape[1] != dim:
        raise ParamError(f"query vectors for field {field!r} have dim {arr.shape[1]}, "
                         f"expected {dim}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ParamError(f"query vectors for field {field!r} contain NaN or infinity")
    return arr


def binary_queries(data: Any, field: str, dim: int) -> np.ndarray:
    """(nq, dim/8) uint8 packed queries: bytes, uint8 arrays of dim/8, or 0/1 lists of dim."""
    nbytes = dim // 8
    if isinstance(data, (bytes, bytearray)) or (isinstance(data, np.ndarray) and data.ndim == 1):
        data = [data]
    if data is None:
        raise ParamError(f"search data for field {field!r} is empty: pass at least one query vector")
    rows = list(data)
    _check_count(len(rows), field)
    out = np.empty((len(rows), nbytes), dtype=np.uint8)
    for i, v in enumerate(rows):
        if isinstance(v, (bytes, bytearray)):
            a = np.frombuffer(bytes(v), dtype=np.uint8)
        else:
            a = np.asarray(v)
            if a.ndim == 1 and len(a) == dim and dim != nbytes and np.isin(a, (0, 1)).all():
                a = np.packbits(a.astype(np.uint8))
            elif a.dtype.kind in "iu" and (a.min(initial=0) < 0 or a.max(initial=0) > 255):
                raise ParamError(f"query {i} for binary field {field!r}: bytes must be in 0..255")
            a = a.astype(np.uint8)
        if a.ndim != 1 or len(a) != nbytes:
            raise ParamError(f"query {i} for binary field {field!r} must be {nbytes} bytes "
                             f"(dim {dim}), got {a.size}")
        out[i] = a
    return out


def sparse_queries(data: Any, field: str) -> sp.csr_array:
    """(nq, D) float32 CSR queries from dicts {index: value}, scipy sparse rows, or lists of them."""
    import scipy.sparse as sp

    if data is None:
        raise ParamError(f"search data for field {field!r} is empty: pass at least one query vector")
    if sp.issparse(data):
        m = sp.csr_array(data, dtype=np.float32)
        _check_count(m.shape[0], field)
        return m
    if isinstance(data, dict):
        data = [data]
    rows = list(data)
    _check_count(len(rows), field)
    indptr, indices, values = [0], [], []
    width = 0
    for i, v in enumerate(rows):
        if sp.issparse(v):
            m = sp.csr_array(v)
            if m.shape[0] != 1:
                raise ParamError(f"query {i} for sparse field {field!r} must be one row")
            idx, val = m.indices.astype(np.int64), m.data.astype(np.float32)
            width = max(width, m.shape[1])
        elif isinstance(v, dict):
            try:
                idx = np.fromiter((int(k) for k in v.keys()), dtype=np.int64, count=len(v))
                val = np.fromiter((float(x) for x in v.values()), dtype=np.float32, count=len(v))
            except (TypeError, ValueError):
                raise ParamError(f"query {i} for sparse field {field!r}: keys must be integers "
                                 "and values numbers") from None
        else:
            raise ParamError(f"query {i} for sparse field {field!r} must be a dict "
                             f"{{index: value}} or a scipy sparse row, got {type(v).__name__}")
        if len(idx) and (idx.min() < 0 or idx.max() >= 2**32 - 1):
            raise ParamError(f"query {i} for sparse field {field!r}: indices must be in [0, 2^32-1)")
        if not np.isfinite(val).all():
            raise ParamError(f"query {i} for sparse field {field!r} contains NaN or infinity")
        indices.append(idx)
        values.append(val)
        indptr.append(indptr[-1] + len(idx))
        if len(idx):
            width = max(width, int(idx.max()) + 1)
    m = sp.csr_array((np.concatenate(values) if values else np.zeros(0, np.float32),
                      np.concatenate(indices) if indices else np.zeros(0, np.int64),
                      np.asarray(indptr)), shape=(len(rows), max(width, 1)))
    m.sum_duplicates()
    return m


def text_queries(data: Any, field: str) -> list[str]:
    if isinstance(data, str):
        data = [data]
    if data is None:
        raise ParamError(f"search data for field {field!r} is empty: pass at least one query text")
    texts = list(data)
    _check_count(len(texts), field)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ParamError(f"query {i} for BM25 field {field!r} must be a text string, "
                             f"got {type(t).__name__}")
    return texts
