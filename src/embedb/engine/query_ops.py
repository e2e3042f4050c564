"""Ordering and grouping of query results: ``order_by_fields`` and ``group_by_fields`` with the
aggregates ``count(*)``, ``count(f)``, ``sum(f)``, ``avg(f)``, ``min(f)``, ``max(f)``.

Ordering ranks each named column once (``np.unique``), then sorts all rows with one
``np.lexsort``; ties keep ascending primary key, NULLs sort last in either direction. Grouping
turns each key column into integer codes, combines them into one group id per row and reduces
each aggregate with ``np.bincount`` / ``ufunc.reduceat`` over the rows sorted by group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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


def parse_order_by(value: Any) -> list[tuple[str, bool]]:
    """``"price:desc,id"``, ``["price:desc"]`` or ``[{"field": "price", "order": "desc"}]`` ->
    ``[(field, descending)]``."""
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
        if isinstance(item, dict):
            name, direction = item.get("field"), str(item.get("order", "asc"))
        elif isinstance(item, str):
            name, _, direction = item.strip().partition(":")
            direction = direction or "asc"
        else:
            raise ParamError(f"order_by_fields items must be 'field[:asc|desc]' or "
                             f"{{'field': ..., 'order': ...}}, got {item!r}")
        direction = direction.strip().lower()
        if not isinstance(name, str) or not name.strip():
            raise ParamError("order_by_fields: an item has no field name")
        if direction not in ("asc", "desc"):
            raise ParamError(f"order_by_fields: direction of {name!r} must be 'asc' or 'desc', "
                             f"got {direction!r}")
        out.append((name.strip(), direction == "desc"))
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


def _codes(column: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dense rank of each row's value, valid mask); equal values share a code."""
    vals = column.values[rows]
    if vals.dtype == object:
        vals = vals.astype(str)
    _, inv = np.unique(vals, return_inverse=True)
    inv = inv.astype(np.int64).reshape(-1)
    valid = np.ones(len(rows), dtype=bool) if column.valid is None else column.valid[rows]
    return inv, valid


_PATH_RE = re.compile(r"""^\s*([A-Za-z_$][A-Za-z0-9_]*)((?:\s*\[\s*(?:"[^"]*"|'[^']*'|-?\d+)\s*\])*)\s*$""")
_KEY_RE = re.compile(r"""\[\s*(?:"([^"]*)"|'([^']*)'|(-?\d+))\s*\]""")


def _order_codes(collection: Any, name: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks for one order-by key: a scalar field, a JSON path (``meta["age"]``) or a dynamic
    key. JSON values rank numbers before strings before anything else; absent is NULL."""
    m = _PATH_RE.match(name)
    if m is None:
        raise ParamError(f"order_by_fields: {name!r} is not a field name or JSON path")
    base, path = m.group(1), m.group(2)
    f = collection.schema.field(base)
    if f is not None and not path:
        _scalar_field(collection, base, "order_by_fields", _GROUPABLE)
        return _codes(collection.source.column(base), rows)
    keys: list[Any] = [int(num) if num else (dq or sq) for dq, sq, num in _KEY_RE.findall(path)]
    if f is not None:
        if f.dtype.name != "JSON":
            raise ParamError(f"order_by_fields: {name!r}: only JSON fields take a path")
        values = collection.source.column(base).values[rows]
    elif collection.schema.enable_dynamic_field:
        values = [d.get(base) if isinstance(d, dict) else None
                  for d in collection.source.column("$meta").values[rows]]
    else:
        raise ParamError(f"order_by_fields: field {base!r} does not exist in collection "
                         f"{collection.name!r}")
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


def order_rows(collection: Any, rows: np.ndarray, order_by: list[tuple[str, bool]]) -> np.ndarray:
    """``rows`` sorted by the ``order_by`` fields (NULLs last), ties by ascending primary key."""
    if not order_by or len(rows) < 2:
        return rows
    pks = np.asarray(collection.pk_values(rows))
    return rows[order_values(collection, rows, order_by,
                             tie=np.unique(pks, return_inverse=True)[1].reshape(-1))]


def order_values(collection: Any, rows: np.ndarray, order_by: list[tuple[str, bool]],
                 tie: np.ndarray | None = None) -> np.ndarray:
    """The permutation that sorts ``rows`` by the ``order_by`` fields (NULLs last); ties by
    ``tie`` (default: the current order)."""
    keys = [np.arange(len(rows)) if tie is None else tie]
    for name, desc in reversed(order_by):
        code, valid = _order_codes(collection, name, rows)
        code = -code if desc else code
        keys.append(code)
        keys.append(~valid)          # NULLs after every value (the more significant key)
    return np.lexsort(keys)


def group_query(collection: Any, rows: np.ndarray, group_by: list[str], aggs: list[Aggregate],
                plain: list[str], order_by: list[tuple[str, bool]], limit: int | None,
                offset: int) -> list[dict]:
    """One dict per group: the group's key fields plus each aggregate."""
    for name in plain:
        if name not in group_by:
            raise ParamError(f"output field {name!r} is neither a group_by_fields field nor an "
                             "aggregate such as count(*), sum(f), avg(f), min(f), max(f)")
    for name in group_by:
        _scalar_field(collection, name, "group_by_fields", _GROUPABLE)
    for a in aggs:
        if a.field != "*":
            allowed = _NUMERIC if a.op in ("sum", "avg") else _GROUPABLE
            _scalar_field(collection, a.field, a.label, allowed)
    if group_by and len(rows):
        parts = []
        for name in group_by:
            code, valid = _codes(collection.source.column(name), rows)
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
    if order_by:
        for name, _ in order_by:
            if name not in group_by and name not in {a.label for a in aggs}:
                raise ParamError(f"order_by_fields: {name!r} is not a group key or aggregate of "
                                 "this grouped query")
        for name, desc in reversed(order_by):   # stable sorts, least significant key first
            present = [d for d in out if d[name] is not None]
            present.sort(key=lambda d: d[name], reverse=desc)
            out = present + [d for d in out if d[name] is None]
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
