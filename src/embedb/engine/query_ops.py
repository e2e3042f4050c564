"""Ordering and grouping of query results: ``order_by_fields`` and ``group_by_fields`` with the
aggregates ``count(*)``, ``count(f)``, ``sum(f)``, ``avg(f)``, ``min(f)``, ``max(f)``.

Ordering ranks each named column once (``np.unique``), then sorts all rows with one
``np.lexsort``; ties keep ascending primary key; NULLs come last ascending and first
descending unless ``:nulls_first`` / ``:nulls_last`` says otherwise (the server's rules).
Queries order by schema scalar fields; searches also by JSON paths and dynamic keys. Grouping
turns each key column into integer codes, combines them into one group id per row and reduces
each aggregate with ``np.bincount`` over the rows sorted by group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import ParamError

_AGG_RE = re.compile(r"^\s*(count|sum|avg|min|max)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*|\*)\s*\)\s*$",
                     re.IGNORECASE)
_NUMERIC = ("INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE")
_GROUPABLE = _NUMERIC + ("BOOL", "VARCHAR", "STRING", "TIMESTAMPTZ")


@dataclass(frozen=True)
class Aggregate:
    op: str          # count | sum | avg | min | max
    field: str       # "*" for count(*)
    label: str       # the output key, e.g. "sum(price)"


class OrderKey(NamedTuple):
    field: str
    desc: bool
    nulls_first: bool   # default: NULLS LAST ascending, NULLS FIRST descending (the server's)


_DIRECTIONS = {"asc": False, "ascending": False, "desc": True, "descending": True}


def parse_order_by(value: Any, where: str = "query") -> list[OrderKey]:
    """``"price:desc,id"``, ``["price:desc:nulls_last"]`` or
    ``[{"field": "price", "order": "desc"}]`` -> order keys. ``where`` ("query" or "search")
    picks the server's wording of the errors, which differs between the two."""
    if value is None or value == "" or value == []:
        return []
    items: list[Any]
    if isinstance(value, str):
        items = [p for p in value.split(",") if p.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ParamError(f"order_by_fields must be a str or a list, got {type(value).__name__}")
    out = []
    for item in items:
        nulls = None
        if isinstance(item, dict):
            name, direction = item.get("field"), str(item.get("order", "asc"))
            if where == "search" and not name:   # pymilvus's own check on the search path
                raise ParamError("Invalid order_by_fields item: 'field' key is required and "
                                 "cannot be empty")
        elif isinstance(item, str):
            name, _, rest = item.strip().partition(":")
            direction, _, nulls = rest.partition(":")
            direction = direction or "asc"
        else:
            raise ParamError(f"Invalid order_by_fields item format, expect dict with 'field' and "
                             f"'order' keys, got {type(item)}")
        name = (name or "").strip() if isinstance(name, str) else name
        if not isinstance(name, str) or not name:
            raise ParamError(f"order_by field '{name or ''}' does not exist in collection schema")
        key = direction.strip().lower()
        if key not in _DIRECTIONS:
            expect = "expected" if where == "search" else "must be"
            raise ParamError(f"invalid order direction '{direction}' for field '{name}', "
                             f"{expect} 'asc' or 'desc'")
        desc = _DIRECTIONS[key]
        nulls = (nulls or "").strip().lower()
        if nulls not in ("", "nulls_first", "nulls_last"):
            raise ParamError(f"invalid nulls ordering '{nulls}' for field '{name}', expected "
                             "'nulls_first' or 'nulls_last'")
        out.append(OrderKey(name, desc, nulls == "nulls_first" if nulls else desc))
    return out


def parse_aggregates(output_fields: list[str] | None) -> tuple[list[str], list[Aggregate]]:
    """Split output fields into plain field names and aggregate expressions."""
    plain, aggs = [], []
    for name in output_fields or []:
        m = _AGG_RE.match(name) if isinstance(name, str) else None
        if m is None:
            plain.append(name)
            continue
        op, field = m.group(1).lower(), m.group(2)
        if field == "*" and op != "count":
            raise ParamError(f"{name!r}: only count accepts '*'")
        aggs.append(Aggregate(op, field, f"{op}({field})"))
    return plain, aggs


def _scalar_field(collection: Any, name: str, what: str, allowed: tuple[str, ...]) -> Any:
    f = collection.schema.field(name)
    if f is None:
        raise ParamError(f"{what}: field {name!r} does not exist in collection {collection.name!r}")
    if f.dtype.name not in allowed:
        raise ParamError(f"{what}: field {name!r} has type {f.dtype.name}; valid types: "
                         f"{list(allowed)}")
    return f


def _codes(collection: Any, name: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dense rank of each row's value, valid mask); equal values share a code."""
    column = collection.source.column(name)
    vals = column.values[rows]
    if vals.dtype == object:
        vals = vals.astype(str)
    if vals.dtype.kind == "T":   # exact with NUL characters (the column's cached answer)
        from ..expr.strings import source_has_nul, unique_inverse

        inv = unique_inverse(vals, source_has_nul(collection.source, name, column.values))
    else:
        _, inv = np.unique(vals, return_inverse=True)
    inv = inv.astype(np.int64).reshape(-1)
    valid = np.ones(len(rows), dtype=bool) if column.valid is None else column.valid[rows]
    return inv, valid


_PATH_RE = re.compile(r"""^\s*([A-Za-z_$][A-Za-z0-9_]*)((?:\s*\[\s*(?:"[^"]*"|'[^']*'|-?\d+)\s*\])*)\s*$""")
_KEY_RE = re.compile(r"""\[\s*(?:"([^"]*)"|'([^']*)'|(-?\d+))\s*\]""")


# Milvus's display names of the types, as its order_by errors print them
_TYPE_NAMES = {"BOOL": "Bool", "INT8": "Int8", "INT16": "Int16", "INT32": "Int32",
               "INT64": "Int64", "FLOAT": "Float", "DOUBLE": "Double", "VARCHAR": "VarChar",
               "STRING": "String", "JSON": "JSON", "ARRAY": "Array", "GEOMETRY": "Geometry",
               "TIMESTAMPTZ": "Timestamptz", "FLOAT_VECTOR": "FloatVector",
               "BINARY_VECTOR": "BinaryVector", "FLOAT16_VECTOR": "Float16Vector",
               "BFLOAT16_VECTOR": "BFloat16Vector", "SPARSE_FLOAT_VECTOR": "SparseFloatVector",
               "INT8_VECTOR": "Int8Vector"}


def check_order_by(collection: Any, order_by: list[OrderKey], where: str = "query") -> None:
    """The server's checks of order-by keys: queries sort by schema scalar fields only;
    searches also by JSON paths (``meta["age"]``) and dynamic keys."""
    for key in order_by:
        _order_source(collection, key.field, where)


def _order_source(collection: Any, name: str, where: str) -> tuple[Any, str, list]:
    missing = ParamError(f"order_by field '{name}' does not exist in collection schema")
    m = _PATH_RE.match(name)
    if m is None:
        raise missing
    base, path = m.group(1), m.group(2)
    f = collection.schema.field(base)
    if path and where != "search":
        raise missing   # the server orders query results by schema fields only
    if f is None:
        if where != "search" or not collection.schema.enable_dynamic_field:
            raise missing
        return None, base, _path_keys(path)
    if path and f.dtype.name == "JSON":
        return f, base, _path_keys(path)
    if path or f.dtype.name not in _GROUPABLE:
        tname = _TYPE_NAMES.get(f.dtype.name, f.dtype.name)
        if where == "search":
            raise ParamError(f"order_by field '{name}' has unsortable type {tname}; supported "
                             "types: bool, int8/16/32/64, float, double, string, varchar; for "
                             "JSON fields use path syntax like field[\"key\"]")
        raise ParamError(f"order_by field '{name}' has type {tname} which is not sortable")
    return f, base, []


def _path_keys(path: str) -> list:
    return [int(num) if num else (dq or sq) for dq, sq, num in _KEY_RE.findall(path)]


def _order_codes(collection: Any, name: str, rows: np.ndarray,
                 where: str = "query") -> tuple[np.ndarray, np.ndarray]:
    """Ranks for one order-by key: a scalar field, a JSON path (``meta["age"]``) or a dynamic
    key. JSON values rank numbers before strings before anything else; absent is NULL."""
    f, base, keys = _order_source(collection, name, where)
    if f is not None and f.dtype.name != "JSON":
        return _codes(collection, base, rows)
    if f is not None:
        values = collection.source.column(base).values[rows]
    else:
        values = [d.get(base) if isinstance(d, dict) else None
                  for d in collection.source.column("$meta").values[rows]]
    out = []
    for v in values:
        for k in keys:
            if isinstance(k, int) and isinstance(v, list) and -len(v) <= k < len(v):
                v = v[k]
            elif isinstance(k, str) and isinstance(v, dict):
                v = v.get(k)
            else:
                v = None
                break
        out.append(v)

    def sort_key(v: Any) -> tuple:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (0, float(v), "")
        if isinstance(v, str):
            return (1, 0.0, v)
        import json

        return (2, 0.0, json.dumps(v, sort_keys=True))

    valid = np.fromiter((v is not None for v in out), dtype=bool, count=len(out))
    distinct = sorted({sort_key(v) for v in out if v is not None})
    rank = {k: i for i, k in enumerate(distinct)}
    codes = np.fromiter((rank[sort_key(v)] if v is not None else 0 for v in out),
                        dtype=np.int64, count=len(out))
    return codes, valid


def order_rows(collection: Any, rows: np.ndarray, order_by: list[OrderKey]) -> np.ndarray:
    """``rows`` sorted by the ``order_by`` keys, ties by ascending primary key."""
    check_order_by(collection, order_by)
    if not order_by or len(rows) < 2:
        return rows
    from ..expr.strings import unique_inverse

    tie = unique_inverse(collection.pk_values(rows))   # str keys with NULs: exact ranks
    return rows[order_values(collection, rows, order_by, tie=tie)]


def order_values(collection: Any, rows: np.ndarray, order_by: list[OrderKey],
                 tie: np.ndarray | None = None, where: str = "query") -> np.ndarray:
    """The permutation that sorts ``rows`` by the ``order_by`` keys; ties by ``tie`` (default:
    the current order)."""
    keys = [np.arange(len(rows)) if tie is None else tie]
    for key in reversed(order_by):
        code, valid = _order_codes(collection, key.field, rows, where)
        keys.append(-code if key.desc else code)
        keys.append(valid if key.nulls_first else ~valid)   # the more significant key
    return np.lexsort(keys)


def group_query(collection: Any, rows: np.ndarray, group_by: list[str], aggs: list[Aggregate],
                plain: list[str], order_by: list[OrderKey], limit: int | None,
                offset: int) -> list[dict]:
    """One dict per group: the group's key fields plus each aggregate."""
    for name in plain:
        if name not in group_by:
            raise ParamError(f"output field {name!r} is neither a group_by_fields field nor an "
                             "aggregate such as count(*), sum(f), avg(f), min(f), max(f)")
    for name in group_by:
        _scalar_field(collection, name, "group_by_fields", _GROUPABLE)
    for key in order_by:
        if key.field not in group_by:
            raise ParamError(f"ORDER BY can only reference GROUP BY columns: "
                             f"{key.field!r} is not one of {list(group_by)}")
    for a in aggs:
        if a.field != "*":
            allowed = _NUMERIC if a.op in ("sum", "avg") else _GROUPABLE
            _scalar_field(collection, a.field, a.label, allowed)
    if group_by and len(rows):
        parts = []
        for name in group_by:
            code, valid = _codes(collection, name, rows)
            parts.append(np.where(valid, code, -1))       # NULL is a group of its own
        _, gid = np.unique(np.stack(parts, axis=1), axis=0, return_inverse=True)
        gid = gid.reshape(-1)
    else:
        gid = np.zeros(len(rows), dtype=np.int64)
    n_groups = int(gid.max()) + 1 if len(rows) else (0 if group_by else 1)
    order = np.argsort(gid, kind="stable")
    srows, sgid = rows[order], gid[order]
    starts = np.searchsorted(sgid, np.arange(n_groups))
    if group_by:
        out = collection.entities(srows[starts], list(group_by)) if n_groups else []
    else:
        out = [{}]
    for a in aggs:
        values = _aggregate(collection, a, srows, sgid, starts, n_groups)
        for d, v in zip(out, values):
            d[a.label] = v
    for key in reversed(order_by):   # stable sorts, least significant key first
        present = [d for d in out if d[key.field] is not None]
        present.sort(key=lambda d: d[key.field], reverse=key.desc)
        nulls = [d for d in out if d[key.field] is None]
        out = nulls + present if key.nulls_first else present + nulls
    stop = None if limit is None else offset + limit
    return out[offset:stop]


def _aggregate(collection: Any, a: Aggregate, srows: np.ndarray, sgid: np.ndarray,
               starts: np.ndarray, n_groups: int) -> list:
    if a.field == "*":
        return np.bincount(sgid, minlength=n_groups).tolist()
    column = collection.source.column(a.field)
    valid = np.ones(len(srows), dtype=bool) if column.valid is None else column.valid[srows]
    counts = np.bincount(sgid[valid], minlength=n_groups)
    if a.op == "count":
        return counts.tolist()
    vals = column.values[srows]
    dtype_name = collection.schema.field(a.field).dtype.name
    if a.op in ("sum", "avg"):
        is_int = dtype_name.startswith("INT")
        acc = vals[valid].astype(np.int64 if is_int else np.float64)
        sums = np.bincount(sgid[valid], weights=acc, minlength=n_groups) if not is_int else \
            _int_sums(sgid[valid], acc, n_groups)
        if a.op == "sum":
            return [s if c else None for s, c in zip(sums.tolist(), counts.tolist())]
        return [float(s) / c if c else None for s, c in zip(sums.tolist(), counts.tolist())]
    # min / max: per group over the valid values (Python objects for strings)
    out: list = []
    vv, gv = vals[valid], sgid[valid]
    bounds = np.searchsorted(gv, np.arange(n_groups + 1))
    fn = min if a.op == "min" else max
    for g in range(n_groups):
        lo, hi = bounds[g], bounds[g + 1]
        if lo == hi:
            out.append(None)
            continue
        chunk = vv[lo:hi]
        if chunk.dtype.kind in "iufb":
            r = chunk.min() if a.op == "min" else chunk.max()
            out.append(r.item())
        else:
            out.append(fn(chunk.tolist()))
    return out


def _int_sums(gid: np.ndarray, vals: np.ndarray, n_groups: int) -> np.ndarray:
    """Exact int64 sums per group (bincount's float weights would round large integers)."""
    out = np.zeros(n_groups, dtype=np.int64)
    np.add.at(out, gid, vals)
    return out
