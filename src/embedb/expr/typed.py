"""TIMESTAMPTZ and GEOMETRY in filters.

TIMESTAMPTZ values are ``Val(TIME, int64 UTC microseconds)``. ``ISO '...'`` literals (and plain
string constants compared with a TIMESTAMPTZ) are read in the source's time zone when they carry
no offset; ``INTERVAL 'P1D'`` is a ``Val(INTERVAL, (months, microseconds))`` that may be added
to or subtracted from a TIMESTAMPTZ. Comparisons are exact int64 comparisons over the column
with SQL NULL semantics. GEOMETRY fields appear only as the first argument of ``ST_*``
functions, evaluated by :mod:`embedb.geometry` over the whole column.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import geometry, timestamptz as tsz
from .ops import OpError, describe
from .values import BOOL, CONST, UNBOUND, Val, and_known

TIME = "time"          # v: int64 ndarray (a column) or a Python int (a constant), UTC microseconds
INTERVAL = "interval"  # v: (months, microseconds)

_CMP = {
    "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
    ">": np.greater, ">=": np.greater_equal,
}


def source_timezone(source: Any) -> str:
    """The zone naive timestamps are read in: the source's (a collection's), else UTC."""
    tz = getattr(source, "timezone", None)
    return tz if isinstance(tz, str) and tz else tsz.UTC


def iso_value(text: str, zone: str) -> Val:
    try:
        micros = tsz.parse_iso(text, zone)
    except tsz.TimestampError as exc:
        raise OpError(str(exc)) from None
    return Val(TIME, micros, None, desc=f"ISO {text!r}")


def interval_value(text: str) -> Val:
    try:
        months, micros = tsz.parse_duration(text)
    except tsz.TimestampError as exc:
        raise OpError(str(exc)) from None
    return Val(INTERVAL, (months, micros), None, desc=f"INTERVAL {text!r}")


def _as_time(val: Val, other: Val, zone: str) -> Val:
    """A string constant beside a TIMESTAMPTZ reads as an ISO timestamp."""
    if val.kind == TIME:
        return val
    if val.kind == CONST and type(val.v) is str:
        return iso_value(val.v, zone)
    if other.kind == TIME and other.k is None and not isinstance(other.v, np.ndarray):
        raise OpError(f"{describe(other)} can only be compared with a TIMESTAMPTZ field, "
                      f"not with {describe(val)}")
    raise OpError(f"cannot compare {describe(other)} with {describe(val)}; "
                  f"write a timestamp as ISO '2025-01-01T00:00:00Z'")


def compare(op: str, a: Val, b: Val, zone: str) -> Val | None:
    """``a op b`` when either side is a TIMESTAMPTZ (None: not a time comparison)."""
    if TIME not in (a.kind, b.kind):
        if INTERVAL in (a.kind, b.kind):
            raise OpError(f"an INTERVAL can only be added to or subtracted from a TIMESTAMPTZ, "
                          f"not compared")
        return None
    if UNBOUND in (a.kind, b.kind):
        return Val(UNBOUND, None)
    a, b = _as_time(a, b, zone), _as_time(b, a, zone)
    result = _CMP[op](a.v, b.v)
    if isinstance(result, np.ndarray):
        return Val(BOOL, result, and_known(a.k, b.k))
    return Val(CONST, bool(result))


def arith(op: str, a: Val, b: Val) -> Val | None:
    """``TIMESTAMPTZ ± INTERVAL`` (and ``INTERVAL + TIMESTAMPTZ``); None when no time operand."""
    kinds = (a.kind, b.kind)
    if TIME not in kinds and INTERVAL not in kinds:
        return None
    if UNBOUND in kinds:
        return Val(UNBOUND, None)
    if op == "+" and a.kind == INTERVAL and b.kind == TIME:
        a, b = b, a
    if a.kind == TIME and b.kind == INTERVAL and op in ("+", "-"):
        months, micros = b.v
        if op == "-":
            months, micros = -months, -micros
        out = tsz.add_interval(a.v, months, micros)
        value = out if isinstance(a.v, np.ndarray) else int(out)
        return Val(TIME, value, a.k, desc=a.desc)
    raise OpError(f"unsupported operation {describe(a)} {op} {describe(b)}: only "
                  f"TIMESTAMPTZ + INTERVAL and TIMESTAMPTZ - INTERVAL are defined")


# ---- geometry --------------------------------------------------------------------------------

def column_geometries(source: Any, name: str, column: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """The source's parsed geometries when it keeps them (a collection caches), else parsed now."""
    cached = getattr(source, "geometries", None)
    return cached(name) if cached is not None else geometry.column_geometries(column, valid)


def geometry_predicate(name: str, load: Any, valid: np.ndarray | None, query: Val,
                       distance: Val | None, dry: bool) -> Val:
    """``name(geo, 'WKT'[, meters])`` over the whole column; ``load()`` gives its geometries."""
    if query.kind == UNBOUND or (distance is not None and distance.kind == UNBOUND):
        return Val(UNBOUND, None)
    if query.kind != CONST or type(query.v) is not str:
        raise OpError(f"{name}() needs a WKT string as its second argument, got {describe(query)}")
    meters = None
    if distance is not None:
        if distance.kind != CONST or type(distance.v) not in (int, float) or distance.v < 0:
            raise OpError(f"{name}() needs a non-negative distance in meters, got {describe(distance)}")
        meters = float(distance.v)
    try:
        target = geometry.parse_one(query.v, f"{name}() geometry")
        if meters is not None and geometry.shapely_module().get_type_id(target) != 0:
            raise geometry.GeometryError(
                f"{name}() needs a POINT as its second argument, got {query.v!r}")
        if dry:
            return Val(BOOL, np.zeros(0, dtype=bool), None)
        geoms = load()
        hits = (geometry.dwithin(geoms, target, meters) if meters is not None
                else geometry.predicate(name, geoms, target))
    except geometry.GeometryError as exc:
        raise OpError(str(exc)) from None
    return Val(BOOL, hits, valid)


def geometry_is_valid(load: Any, valid: np.ndarray | None, dry: bool) -> Val:
    if dry:
        return Val(BOOL, np.zeros(0, dtype=bool), None)
    shapely = geometry.shapely_module()
    return Val(BOOL, np.asarray(shapely.is_valid(load()), dtype=bool), valid)
