"""Row dicts -> a validated column batch.

``build_batch`` checks a whole list of rows against a schema and converts each field to its
column form in one vectorised step per field. The first bad row raises ``DataError`` naming the
row (0-based position in the list) and the field; nothing is returned, so nothing is written.
"""

from __future__ import annotations

import math
import numbers
from itertools import repeat
from operator import is_not, itemgetter
from datetime import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field as dc_field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import DataError
from ..schema import CollectionSchema, DataType, FieldSchema
from ..geometry import GeometryError
from ..timestamptz import UTC, TimestampError, to_micros
from .columns import STRING_DTYPE, spec_for_field
from .jsonvalues import is_utf8, decode_texts, encode_values

if TYPE_CHECKING:
    import scipy.sparse as sp


class _Missing:
    """Marks a field absent from a row dict."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()
META = "$meta"

_INT_RANGES = {
    DataType.INT8: (-(2**7), 2**7 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_BOOL_TYPES = (bool, np.bool_)
_SEQ_TYPES = (list, tuple, np.ndarray)


@dataclass
class ColumnBatch:
    """Validated rows in column form: field name -> values (and validity for nullable)."""

    n: int
    values: dict[str, Any]
    valid: dict[str, np.ndarray | None] = dc_field(default_factory=dict)
    partition: np.ndarray | None = None  # int16 partition id per row
    # JSON text of JSON and $meta values from validation, so the log does not encode them again
    texts: dict[str, list[str]] = dc_field(default_factory=dict)

    def select(self, idx: np.ndarray) -> "ColumnBatch":
        values = {k: v[idx] for k, v in self.values.items()}
        valid = {k: (None if v is None else v[idx]) for k, v in self.valid.items()}
        part = None if self.partition is None else self.partition[idx]
        keep = np.asarray(idx).tolist()
        texts = {k: [t[i] for i in keep] for k, t in self.texts.items()}
        return ColumnBatch(len(idx), values, valid, part, texts)


def _err(row: int, name: str, what: str) -> DataError:
    return DataError(f"row {row}, field {name!r}: {what}")


def _show(v: Any) -> str:
    """A value for an error message, cut short (an int may have hundreds of digits)."""
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _type_name(v: Any) -> str:
    return type(v).__name__


def _first_row(vals: list, bad: Callable[[Any], bool]) -> int:
    for i, v in enumerate(vals):
        if bad(v):
            return i
    return -1


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, _BOOL_TYPES)


def _is_number(v: Any) -> bool:
    return isinstance(v, (numbers.Real, np.floating, np.integer)) and not isinstance(v, _BOOL_TYPES)


# ------------------------------------------------------------------- scalar converters
def _convert_bool(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    if not types <= {bool, np.bool_}:
        i = _first_row(vals, lambda v: not isinstance(v, _BOOL_TYPES))
        raise _err(i, f.name, f"expected a bool, got {_type_name(vals[i])}")
    return np.asarray(vals, dtype=np.bool_)


def _convert_int(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    if not all(issubclass(t, (int, np.integer)) and not issubclass(t, _BOOL_TYPES) for t in types):
        i = _first_row(vals, lambda v: not _is_int(v))
        raise _err(i, f.name, f"expected an integer ({f.dtype.name}), got {_type_name(vals[i])}")
    lo, hi = _INT_RANGES[f.dtype]
    try:
        arr = np.asarray(vals, dtype=np.int64)
    except OverflowError:
        i = _first_row(vals, lambda v: not (lo <= int(v) <= hi))
        raise _err(i, f.name, f"{_show(vals[i])} is out of range for {f.dtype.name}") from None
    if f.dtype != DataType.INT64 and len(arr):
        bad = (arr < lo) | (arr > hi)
        if bad.any():
            i = int(np.argmax(bad))
            raise _err(i, f.name, f"{_show(vals[i])} is out of range for {f.dtype.name} [{lo}, {hi}]")
    return arr.astype(spec_for_field(f).dtype, copy=False)


def _convert_float(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    if not all(issubclass(t, (numbers.Real, np.floating, np.integer)) and not issubclass(t, _BOOL_TYPES) for t in types):
        i = _first_row(vals, lambda v: not _is_number(v))
        raise _err(i, f.name, f"expected a number ({f.dtype.name}), got {_type_name(vals[i])}")
    try:
        arr = np.asarray(vals, dtype=np.float64)
    except OverflowError:  # an int beyond any double, e.g. 10**400
        i = _first_row(vals, lambda v: not _fits_double(v))
        raise _err(i, f.name, f"{_show(vals[i])} is out of range for {f.dtype.name}") from None
    if f.dtype == DataType.FLOAT:
        with np.errstate(over="ignore"):
            arr32 = arr.astype(np.float32)
        _check_finite_scalars(f, arr32, arr)
        return arr32
    _check_finite_scalars(f, arr, arr)
    return arr


def _fits_double(v: Any) -> bool:
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _check_finite_scalars(f: FieldSchema, stored: np.ndarray, given: np.ndarray) -> None:
    """Milvus refuses NaN and infinity in FLOAT/DOUBLE fields; a double beyond float32 would
    silently become infinity in a FLOAT field."""
    finite = np.isfinite(stored)
    if not finite.all():
        i = int(np.argmin(finite))
        what = ("is NaN or infinity" if not np.isfinite(given[i])
                else f"is out of range for {f.dtype.name}")
        raise _err(i, f.name, f"value {_show(float(given[i]))} {what}")


def _convert_varchar(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    if not all(issubclass(t, str) for t in types):
        i = _first_row(vals, lambda v: not isinstance(v, str))
        raise _err(i, f.name, f"expected a string, got {_type_name(vals[i])}")
    try:
        arr = np.array(vals, dtype=STRING_DTYPE) if vals else np.empty(0, STRING_DTYPE)
    except UnicodeEncodeError:  # a lone surrogate: the stores hold UTF-8
        i = _first_row(vals, lambda v: not is_utf8(v))
        raise _err(i, f.name, "string holds a lone surrogate character, which is not valid "
                              "Unicode (strings must be valid UTF-8)") from None
    max_len = f.max_length or 65535
    if len(arr):
        lengths = np.fromiter(map(len, vals), np.int64, len(vals))   # str_len drops trailing NULs
        over = lengths > max_len
        if over.any():
            i = int(np.argmax(over))
            raise _err(i, f.name, f"string of length {int(lengths[i])} exceeds max_length {max_len}")
    return arr



def _convert_json(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    # Checked (limits, UTF-8) and stored as fresh canonical copies; NumPy values become Python
    return decode_texts(_json_texts(f, vals))


def _json_texts(f: FieldSchema, vals: list) -> list[str]:
    return encode_values(vals, lambda i, what: _err(i, f.name, f"value {what}"))


def _array_element_ok(et: DataType, f: FieldSchema) -> Callable[[Any], bool]:
    if et == DataType.BOOL:
        return lambda x: isinstance(x, _BOOL_TYPES)
    if et in _INT_RANGES:
        lo, hi = _INT_RANGES[et]
        return lambda x: _is_int(x) and lo <= x <= hi
    if et in (DataType.FLOAT, DataType.DOUBLE):  # finite, and within float32 for FLOAT
        bound = _FLOAT32_MAX if et == DataType.FLOAT else math.inf
        return lambda x: (_is_number(x) and _fits_double(x) and math.isfinite(float(x))
                          and abs(float(x)) <= bound)
    max_len = f.max_length or 65535
    return lambda x: isinstance(x, str) and len(x) <= max_len


def _convert_array(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    et = f.element_type
    cap = f.max_capacity or 4096
    ok = _array_element_ok(et, f)
    out = np.empty(len(vals), dtype=object)
    for i, v in enumerate(vals):
        if v is None:
            continue
        if not isinstance(v, _SEQ_TYPES):
            raise _err(i, f.name, f"expected a list of {et.name}, got {_type_name(v)}")
        items = v.tolist() if isinstance(v, np.ndarray) else list(v)
        if len(items) > cap:
            raise _err(i, f.name, f"array length {len(items)} exceeds max_capacity {cap}")
        for x in items:
            if not ok(x):
                raise _err(i, f.name, f"array element {_show(x)} is not a valid {et.name}")
        if et in (DataType.FLOAT, DataType.DOUBLE):
            items = [float(x) for x in items]
        elif et in _INT_RANGES:
            items = [int(x) for x in items]
        elif et == DataType.BOOL:
            items = [bool(x) for x in items]
        elif not is_utf8("".join(items)):
            raise _err(i, f.name, "array element holds a lone surrogate character, which is "
                                  "not valid Unicode (strings must be valid UTF-8)")
        out[i] = items
    return out


# ------------------------------------------------------------------- vector converters
def _dense_slow_check(f: FieldSchema, vals: list, width: int, unit: str) -> None:
    """Find the row that made the vectorised conversion fail and name it."""
    for i, v in enumerate(vals):
        if not isinstance(v, _SEQ_TYPES):
            raise _err(i, f.name, f"expected a list of {width} {unit}, got {_type_name(v)}")
        n = len(v)
        if n != width:
            raise _err(i, f.name, f"expected {width} {unit}, got {n}")
        try:
            np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise _err(i, f.name, f"expected {width} {unit}, got non-numeric values") from None
        except OverflowError:  # an int beyond any double, e.g. 10**400
            raise _err(i, f.name, "vector holds a value out of the float range") from None
    raise DataError(f"field {f.name!r}: vectors could not be converted")


def _stack(f: FieldSchema, vals: list, dtype: Any, width: int, unit: str, types: set | None = None) -> np.ndarray:
    if not all(issubclass(t, _SEQ_TYPES) for t in (set(map(type, vals)) if types is None else types)):
        _dense_slow_check(f, vals, width, unit)
    try:
        with np.errstate(over="ignore"):  # beyond float32 becomes inf: _check_finite names it
            arr = np.asarray(vals, dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        _dense_slow_check(f, vals, width, unit)
        raise
    if arr.ndim != 2 or arr.shape[1] != width:
        _dense_slow_check(f, vals, width, unit)
    return arr


def _bytes_rows(f: FieldSchema, vals: list, nbytes: int, dtype: Any) -> list:
    """Turn bytes rows into arrays of ``dtype`` (other rows pass through)."""
    out = list(vals)
    for i, v in enumerate(vals):
        if isinstance(v, (bytes, bytearray, memoryview)):
            if len(v) != nbytes:
                raise _err(i, f.name, f"expected {nbytes} bytes, got {len(v)}")
            out[i] = np.frombuffer(v, dtype=dtype)
    return out


def _check_finite(f: FieldSchema, arr: np.ndarray) -> None:
    flat = arr.reshape(-1)
    if arr.dtype == np.float32 and len(flat) and np.isfinite(np.dot(flat, flat)):
        return   # one BLAS pass: NaN or infinity anywhere makes the sum of squares non-finite
    finite = np.isfinite(arr)   # (a finite sum that overflowed comes here too: the exact check)
    if not finite.all():
        i = int(np.argmin(finite.all(axis=1)))
        raise _err(i, f.name, "vector contains NaN or infinity")


def _convert_float_vector(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    # one np.asarray for the whole batch: NumPy checks every row's length and converts in C
    # (rows from an embedding model are ndarrays; no per-row shape set or concatenate first)
    arr = _stack(f, vals, np.float32, f.dim, "floats", types)
    _check_finite(f, arr)
    return arr


def _convert_float16_vector(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    dim = f.dim
    if types & {bytes, bytearray, memoryview}:
        vals = _bytes_rows(f, vals, 2 * dim, np.float16)
    arr = _stack(f, vals, np.float32, dim, "floats").astype(np.float16)
    _check_finite(f, arr)
    return arr


def float32_to_bfloat16_bits(arr: np.ndarray) -> np.ndarray:
    """Round float32 to the nearest bfloat16 (ties to even) and return the uint16 bits."""
    bits = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32)
    rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def bfloat16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def _convert_bfloat16_vector(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    dim = f.dim
    rows = list(vals)
    raw = np.zeros(len(rows), dtype=bool)  # rows already given as bfloat16 bits
    for i, v in enumerate(rows):
        if isinstance(v, (bytes, bytearray, memoryview)):
            if len(v) != 2 * dim:
                raise _err(i, f.name, f"expected {2 * dim} bytes, got {len(v)}")
            rows[i] = np.frombuffer(v, dtype=np.uint16)
            raw[i] = True
        elif isinstance(v, np.ndarray) and v.dtype.name == "bfloat16":
            rows[i] = v.view(np.uint16)
            raw[i] = True
    if raw.all():
        arr = _stack(f, rows, np.uint16, dim, "values")
    else:
        floats = [bfloat16_bits_to_float32(r) if is_raw else r for r, is_raw in zip(rows, raw)]
        f32 = _stack(f, floats, np.float32, dim, "floats")
        _check_finite(f, f32)
        arr = float32_to_bfloat16_bits(f32)
    if not np.isfinite(bfloat16_bits_to_float32(arr)).all():
        _check_finite(f, bfloat16_bits_to_float32(arr))
    return arr


def _convert_int8_vector(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    dim = f.dim
    if types & {bytes, bytearray, memoryview}:
        vals = _bytes_rows(f, vals, dim, np.int8)
    arr = _stack(f, vals, np.int64, dim, "int8 values")
    bad = (arr < -128) | (arr > 127)
    if bad.any():
        i = int(np.argmax(bad.any(axis=1)))
        raise _err(i, f.name, "int8 vector values must be within [-128, 127]")
    return arr.astype(np.int8)


def _convert_binary_vector(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    dim = f.dim
    nbytes = dim // 8
    rows = list(vals)
    if types & {bytes, bytearray, memoryview}:
        for i, v in enumerate(rows):
            if isinstance(v, (bytes, bytearray, memoryview)):
                if len(v) != nbytes:
                    raise _err(i, f.name, f"expected {nbytes} bytes, got {len(v)}")
                rows[i] = np.unpackbits(np.frombuffer(v, dtype=np.uint8))
    bits = _stack(f, rows, np.int64, dim, "bits (0/1) or bytes")
    bad = (bits != 0) & (bits != 1)
    if bad.any():
        i = int(np.argmax(bad.any(axis=1)))
        raise _err(i, f.name, "binary vector bits must be 0 or 1")
    return np.packbits(bits.astype(np.uint8), axis=1)


class SparseRows:
    """Sparse vectors the engine computed for a whole batch (a schema function's output, e.g.
    BM25 term frequencies) as CSR arrays: ``indptr`` (n + 1), ``indices`` (int64, ascending and
    unique in each row, in [0, 2^32 - 1)) and ``data`` (finite float32). ``row(i)`` is what
    goes into row ``i``'s dict; when a column holds exactly the rows of one batch in order,
    ``build_batch`` takes the arrays whole: no dict or array per row."""

    __slots__ = ("indptr", "indices", "data")

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> None:
        self.indptr, self.indices, self.data = indptr, indices, data

    def row(self, i: int) -> "SparseRow":
        return SparseRow(self, i)


class SparseRow(Mapping):
    """Row ``i`` of a :class:`SparseRows`; reads as the ``{index: value}`` dict it stands for."""

    __slots__ = ("rows", "i")

    def __init__(self, rows: SparseRows, i: int) -> None:
        self.rows, self.i = rows, i

    def parts(self) -> tuple[np.ndarray, np.ndarray]:
        a, b = int(self.rows.indptr[self.i]), int(self.rows.indptr[self.i + 1])
        return self.rows.indices[a:b], self.rows.data[a:b]

    def __getitem__(self, key: Any) -> float:
        ind, dat = self.parts()
        at = int(np.searchsorted(ind, key)) if isinstance(key, (int, np.integer)) else len(ind)
        if at == len(ind) or ind[at] != key:
            raise KeyError(key)
        return float(dat[at])

    def __iter__(self):
        return iter(self.parts()[0].tolist())

    def __len__(self) -> int:
        return int(self.rows.indptr[self.i + 1] - self.rows.indptr[self.i])


def _whole_sparse_batch(vals: list) -> SparseRows | None:
    """The batch when ``vals`` are rows 0..n-1 of one SparseRows, in order, else None."""
    first = vals[0]
    if not isinstance(first, SparseRow) or len(first.rows.indptr) != len(vals) + 1:
        return None
    batch = first.rows
    for i, v in enumerate(vals):
        if type(v) is not SparseRow or v.rows is not batch or v.i != i:
            return None
    return batch


def _whole_csr(whole: SparseRows, n: int) -> sp.csr_array:
    """A computed batch as the column's CSR matrix (no check: valid by construction)."""
    import scipy.sparse as sp

    ncols = int(whole.indices.max()) + 1 if len(whole.indices) else 1
    return sp.csr_array((np.asarray(whole.data, dtype=np.float32), whole.indices, whole.indptr),
                        shape=(n, ncols))


def _convert_sparse(f: FieldSchema, vals: list, types: set) -> sp.csr_array:
    import scipy.sparse as sp

    whole = _whole_sparse_batch(vals) if types == {SparseRow} else None
    if whole is not None:   # valid by construction (see SparseRows)
        return _whole_csr(whole, len(vals))
    n = len(vals)
    lengths = np.zeros(n, dtype=np.int64)
    idx_chunks: list = []
    val_chunks: list = []
    for i, v in enumerate(vals):
        if isinstance(v, SparseRow):   # rows of a computed batch, mixed with others
            ind, dat = v.parts()
            ind, dat = np.asarray(ind, dtype=np.int64), np.asarray(dat, dtype=np.float64)
        elif isinstance(v, dict):
            keys = list(v.keys())
            try:
                ind = np.asarray(keys, dtype=np.int64) if keys else np.empty(0, np.int64)
                dat = np.asarray(list(v.values()), dtype=np.float64) if keys else np.empty(0)
            except (TypeError, ValueError, OverflowError):
                raise _err(i, f.name, "sparse vector must map integer indices to floats") from None
            if any(isinstance(k, _BOOL_TYPES) or not isinstance(k, (int, np.integer)) for k in keys):
                raise _err(i, f.name, "sparse vector indices must be integers")
        elif sp.issparse(v):
            if v.ndim == 2 and v.shape[0] != 1:
                raise _err(i, f.name, f"expected a sparse row of shape (1, n), got {v.shape}")
            coo = sp.coo_array(v)
            coo.sum_duplicates()
            ind = np.asarray(coo.coords[-1], dtype=np.int64)
            dat = np.asarray(coo.data, dtype=np.float64)
        else:
            raise _err(i, f.name, f"expected a sparse vector (dict or scipy sparse row), got {_type_name(v)}")
        if len(ind):
            if (ind < 0).any() or (ind >= 2**32 - 1).any():
                raise _err(i, f.name, "sparse vector indices must be within [0, 2^32 - 1)")
            if not np.isfinite(dat).all():
                raise _err(i, f.name, "sparse vector contains NaN or infinity")
            order = np.argsort(ind, kind="stable")
            ind, dat = ind[order], dat[order]
        lengths[i] = len(ind)
        idx_chunks.append(ind)
        val_chunks.append(dat)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.concatenate(idx_chunks) if idx_chunks else np.empty(0, np.int64)
    data = np.concatenate(val_chunks).astype(np.float32) if val_chunks else np.empty(0, np.float32)
    ncols = int(indices.max()) + 1 if len(indices) else 1
    return sp.csr_array((data, indices, indptr), shape=(n, ncols))


def _convert_timestamptz(f: FieldSchema, vals: list, timezone: str) -> np.ndarray:
    """ISO-8601 text (or datetime) -> int64 UTC microseconds; None marks a NULL slot."""
    out = np.zeros(len(vals), dtype=np.int64)
    for i, v in enumerate(vals):
        if v is None:
            continue
        if not isinstance(v, (str, datetime)):
            raise _err(i, f.name, f"expected an ISO 8601 timestamp string, got {_type_name(v)}")
        try:
            out[i] = to_micros(v, timezone)
        except (TimestampError, OverflowError) as exc:
            raise _err(i, f.name, f"got invalid timestamptz string {v!r}: {exc}") from None
    return out


def _convert_geometry(f: FieldSchema, vals: list, types: set) -> np.ndarray:
    """WKT text -> normalised WKT (shapely parses it once for the whole batch)."""
    from ..geometry import normalize_wkt

    for i, v in enumerate(vals):
        if v is not None and not isinstance(v, str):
            raise _err(i, f.name, f"expected a WKT string, got {_type_name(v)}")
    try:
        texts = normalize_wkt(vals)
    except GeometryError as exc:
        # Milvus answers a WKT syntax error with code 1001
        raise DataError(_err(exc.row, f.name, str(exc)).message, code=1001) from None
    return np.array(texts, dtype=STRING_DTYPE) if texts else np.empty(0, STRING_DTYPE)


_CONVERTERS: dict[DataType, Callable[[FieldSchema, list, set], Any]] = {
    DataType.BOOL: _convert_bool,
    DataType.INT8: _convert_int,
    DataType.INT16: _convert_int,
    DataType.INT32: _convert_int,
    DataType.INT64: _convert_int,
    DataType.FLOAT: _convert_float,
    DataType.DOUBLE: _convert_float,
    DataType.VARCHAR: _convert_varchar,
    DataType.JSON: _convert_json,
    DataType.ARRAY: _convert_array,
    DataType.FLOAT_VECTOR: _convert_float_vector,
    DataType.FLOAT16_VECTOR: _convert_float16_vector,
    DataType.BFLOAT16_VECTOR: _convert_bfloat16_vector,
    DataType.INT8_VECTOR: _convert_int8_vector,
    DataType.BINARY_VECTOR: _convert_binary_vector,
    DataType.SPARSE_FLOAT_VECTOR: _convert_sparse,
    DataType.GEOMETRY: _convert_geometry,
}

_NULL_FILL = {  # placeholder stored in NULL slots (masked by `valid`)
    DataType.BOOL: False,
    DataType.VARCHAR: "",
    DataType.JSON: None,
    DataType.ARRAY: None,
    DataType.TIMESTAMPTZ: None,
    DataType.GEOMETRY: None,
}


def _null_fill(f: FieldSchema) -> Any:
    """The placeholder a NULL slot holds: zeros for a nullable vector (search skips the row)."""
    if f.dtype.is_dense_vector:
        return [0] * int(f.dim or 0)
    if f.dtype == DataType.SPARSE_FLOAT_VECTOR:
        return {}
    return _NULL_FILL.get(f.dtype, 0)


def _convert_field(f: FieldSchema, vals: list, timezone: str = UTC,
                   texts: dict[str, list[str]] | None = None) -> tuple[Any, np.ndarray | None]:
    """Convert one field's values (MISSING where absent) into (column values, valid);
    ``timezone`` reads naive TIMESTAMPTZ text; a JSON field's text goes into ``texts``."""
    types = set(map(type, vals))
    valid = None
    if _Missing in types or type(None) in types:
        default = f.default_value
        missing = np.fromiter((v is MISSING or v is None for v in vals), bool, len(vals))
        if default is None and not f.nullable:
            i = int(np.argmax(missing))
            what = "is missing" if vals[i] is MISSING else "is None but the field is not nullable"
            # pymilvus's words first: code matching on them finds them
            raise DataError(f"Insert missed an field `{f.name}` to collection without set "
                            f"nullable==true or set default_value: row {i}, field {f.name!r}: "
                            f"{what} (and has no default_value)")
        vals = list(vals)
        if default is not None:
            for i in np.flatnonzero(missing):
                vals[i] = default
        else:
            fill = _null_fill(f)
            for i in np.flatnonzero(missing):
                vals[i] = fill
            valid = ~missing
        types = set(map(type, vals))
    if f.nullable and valid is None:
        valid = np.ones(len(vals), dtype=bool)
    if f.dtype == DataType.TIMESTAMPTZ:
        return _convert_timestamptz(f, vals, timezone), valid
    if f.dtype == DataType.JSON and texts is not None:
        texts[f.name] = _json_texts(f, vals)
        return decode_texts(texts[f.name]), valid
    return _CONVERTERS[f.dtype](f, vals, types), valid


def new_auto_ids(last: int, n: int) -> np.ndarray:
    """Server-style 64-bit ids: (milliseconds << 18) + counter, unique and increasing."""
    import time

    start = max(last + 1, int(time.time() * 1000) << 18)
    return np.arange(start, start + n, dtype=np.int64)


def build_batch(
    schema: CollectionSchema,
    rows: list[dict],
    *,
    auto_id_source: Callable[[int], np.ndarray] | None = None,
    require_pk: bool = False,
    timezone: str = UTC,
    computed: Mapping[str, SparseRows] | None = None,
) -> ColumnBatch:
    """Validate ``rows`` against ``schema`` and return them in column form.

    ``timezone`` (an IANA name) is the zone of naive TIMESTAMPTZ text.

    ``auto_id_source(k)`` supplies k new primary keys for rows that leave out an auto_id key.
    With ``require_pk`` (upsert) every row must name its primary key.
    ``computed``: columns the engine made for the batch (schema functions' outputs, e.g. BM25),
    taken whole; the rows do not hold these fields.
    """
    if isinstance(rows, dict):
        rows = [rows]
    n = len(rows)
    row_types = set(map(type, rows))
    if not all(issubclass(t, dict) for t in row_types):
        for i, r in enumerate(rows):
            if not isinstance(r, dict):
                raise DataError(f"row {i}: expected a dict of field values, got {_type_name(r)}")
    plain = row_types <= {dict}   # plain dicts: a missing key is a KeyError, never a default
    pk = schema.primary_field
    values: dict[str, Any] = {}
    valid: dict[str, np.ndarray | None] = {}
    texts: dict[str, list[str]] = {}
    known = {f.name for f in schema.fields}
    matched = 0  # keys of the rows that are schema fields
    for f in schema.fields:
        if computed and f.name in computed:   # valid by construction (see SparseRows)
            values[f.name] = _whole_csr(computed[f.name], n)
            if f.nullable:
                valid[f.name] = np.ones(n, dtype=bool)
            continue
        vals, everywhere = _field_values(rows, f.name, plain)
        matched += n if everywhere else sum(map(is_not, vals, repeat(MISSING, n)))
        if f.is_primary and f.auto_id and not require_pk:
            miss = np.fromiter((v is MISSING or v is None for v in vals), bool, n)
            if miss.any():
                if auto_id_source is None:
                    raise DataError(f"field {f.name!r}: auto_id keys cannot be generated here")
                generated = auto_id_source(int(miss.sum()))
                as_text = f.dtype == DataType.VARCHAR  # the server's VARCHAR auto ids: the int64 as text
                for j, i in enumerate(np.flatnonzero(miss)):
                    vals[i] = str(int(generated[j])) if as_text else int(generated[j])
        if f.is_primary:
            types = set(map(type, vals))
            if _Missing in types or type(None) in types:
                i = _first_row(vals, lambda v: v is MISSING or v is None)
                raise DataError(f"Insert missed an field `{f.name}` to collection without set "
                                f"nullable==true or set default_value: row {i}, field {f.name!r}: "
                                "the primary key is missing")
            values[f.name] = _CONVERTERS[f.dtype](f, vals, types)
            continue
        values[f.name], v = _convert_field(f, vals, timezone, texts)
        if f.nullable:
            valid[f.name] = v
    if schema.enable_dynamic_field:
        texts[META] = _dynamic_texts(rows, known)
        values[META] = decode_texts(texts[META])
    elif sum(map(len, rows)) != matched:   # some row has a key outside the schema: find it
        for i, r in enumerate(rows):
            extra = r.keys() - known
            if extra:
                name = sorted(map(str, extra))[0]
                raise DataError(f"Attempt to insert an unexpected field `{name}` to collection without "
                                f"enabling dynamic field: row {i}, field {name!r}: is not in the schema "
                                "(dynamic fields are disabled)")
    return ColumnBatch(n, values, valid, texts=texts)


def _field_values(rows: list[dict], name: str, plain: bool) -> tuple[list, bool]:
    """Each row's value of ``name`` (MISSING where absent) and whether every row has it: plain
    dicts are read with one C-level map (a missing key is a KeyError, then each row by
    ``get``); dict subclasses always by ``get`` (a defaultdict must not invent a value)."""
    if plain:
        try:
            return list(map(itemgetter(name), rows)), True
        except KeyError:
            pass
    return [r.get(name, MISSING) for r in rows], False


def _dynamic_texts(rows: list[dict], known: set[str]) -> list[str]:
    """Each row's keys outside the schema (and a nested ``$meta`` dict), in row order, as
    checked JSON object text (see jsonvalues.py); decoded, they are the stored values."""
    metas = []
    for r in rows:
        d = {k: v for k, v in r.items() if k not in known and k != META}
        nested = r.get(META)
        if isinstance(nested, dict):
            d.update(nested)
        metas.append(d)

    def error(i: int, what: str) -> DataError:
        for key, value in metas[i].items():  # name the dynamic key at fault when one is
            try:
                encode_values([value], lambda *_: DataError(""))
            except DataError:
                return _err(i, str(key), f"dynamic field value {what}")
        return _err(i, META, f"dynamic field object {what}")

    return encode_values(metas, error)


def dedupe_last_wins(batch: ColumnBatch, pks: np.ndarray) -> ColumnBatch:
    """Keep only the last row of each primary key within the batch."""
    if batch.n < 2:
        return batch
    rev = pks[::-1]
    if rev.dtype.kind == "T":  # compare Python strings (see pkindex.py on StringDType sorting)
        rev = rev.astype(object)
    _, first_in_reversed = np.unique(rev, return_index=True)
    if len(first_in_reversed) == batch.n:
        return batch
    keep = np.sort(batch.n - 1 - first_in_reversed)
    return batch.select(keep)
