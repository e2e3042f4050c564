"""Runtime values of the filter evaluator and SQL three-valued logic on whole columns.

Every node evaluates to a :class:`Val`: a constant, or a column of ``n`` values with a ``known``
mask (``None`` = every row known). UNKNOWN rows (NULL operands, missing JSON keys, JSON type
mismatches, division by zero) have ``known == False``; their ``v`` entries are meaningless.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

STRING_DTYPE = np.dtypes.StringDType()

# Val kinds
CONST = "const"      # v: a Python bool/int/float/str/list
BOOL = "bool"        # v: bool ndarray
NUM = "num"          # v: int64 or float64 ndarray; is_int: integer semantics (/ truncates)
STR = "str"          # v: StringDType ndarray
JSON = "json"        # v: object ndarray of Python values; MISSING where a path does not resolve
ARRAY = "array"      # v: object ndarray of lists (None where NULL)
UNBOUND = "unbound"  # a template during the compile-time dry run: type checks are deferred


class _Missing:
    """A JSON path that does not resolve (missing key, index out of range, non-container)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class Val:
    __slots__ = ("kind", "v", "k", "is_int", "elem", "desc", "nul", "_cache")

    def __init__(self, kind: str, v: Any, k: np.ndarray | None = None, *, is_int: bool = False,
                 elem: str | None = None, desc: str = "") -> None:
        self.kind = kind
        self.v = v
        self.k = k
        self.is_int = is_int
        # JSON from an ARRAY element (arr[0]) or ARRAY: the static element class ("num"...)
        self.elem = elem
        self.desc = desc  # what this is, for error messages ("INT64 field 'age'")
        # STR columns: () -> whether any value holds a NUL (a source's cached answer); None:
        # scan the values when an operator needs to know (see strings.py)
        self.nul: Callable[[], bool] | None = None
        self._cache: dict | None = None

    def cached(self, key: str, make):
        if self._cache is None:
            self._cache = {}
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


def const(value: Any) -> Val:
    return Val(CONST, value, is_int=type(value) is int)


def class_of_python(value: Any) -> str:
    """The comparison class of a Python/JSON value: bool, num, str, list, dict or null."""
    t = type(value)
    if t is bool:
        return "bool"
    if t is int or t is float:
        return "num"
    if t is str:
        return "str"
    if t is list:
        return "list"
    if t is dict:
        return "dict"
    return "null"


def value_class(val: Val) -> str:
    """The static class of a Val: bool/num/str/list/array, or json (decided per row)."""
    if val.kind == CONST:
        return class_of_python(val.v)
    if val.kind == JSON:
        return "json"
    return val.kind  # bool, num, str, array, unbound


# ---- JSON extraction: once per (value, class) per evaluation ------------------------------

def json_as(val: Val, cls: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, ok) for the rows of JSON ``val`` that hold a ``cls`` value (num, str or bool)."""
    return val.cached("as_" + cls, lambda: _extract(val.v, cls, val))


def json_strings(val: Val) -> list:
    """The Python strings behind ``json_as(val, "str")`` ("" where a row holds none)."""
    values, _ = json_as(val, "str")   # which keeps them
    return val.cached("str_list", values.tolist)


def _extract(obj: np.ndarray, cls: str, val: Val) -> tuple[np.ndarray, np.ndarray]:
    # list comprehensions, not generators: this is the per-row part of JSON filters
    items = obj.tolist()
    n = len(items)
    if cls == "num":
        ok_list = [t is int or t is float for t in map(type, items)]
        ok = np.array(ok_list, dtype=bool) if n else np.zeros(0, dtype=bool)
        raw = items if ok.all() else [x if o else 0 for x, o in zip(items, ok_list)]
        values = np.array(raw) if n else np.zeros(0, dtype=np.int64)
        if values.dtype.kind not in "if":  # ints beyond int64: compare as doubles
            values = np.array([_as_double(x) for x in raw], dtype=np.float64)
        return values, ok
    if cls == "str":
        ok_list = [t is str for t in map(type, items)]
        ok = np.array(ok_list, dtype=bool) if n else np.zeros(0, dtype=bool)
        raw = items if ok.all() else [x if o else "" for x, o in zip(items, ok_list)]
        val.cached("str_list", lambda: raw)   # kept for a NUL test (a join, no array round trip)
        return np.array(raw, dtype=STRING_DTYPE), ok
    if cls == "bool":
        ok = np.array([t is bool for t in map(type, items)], dtype=bool) if n else np.zeros(0, bool)
        values = np.array([x is True for x in items], dtype=bool) if n else np.zeros(0, bool)
        return values, ok
    raise ValueError(cls)


def _as_double(x: Any) -> float:
    """A JSON number as a double; an integer beyond the double range is +-infinity."""
    try:
        return float(x)
    except OverflowError:
        return float("inf") if x > 0 else float("-inf")


def present_mask(val: Val) -> np.ndarray:
    """Rows where a JSON/ARRAY value is neither NULL nor missing."""
    return val.cached("present", lambda: np.fromiter(
        (x is not None and x is not MISSING for x in val.v.tolist()), dtype=bool, count=len(val.v)))


def list_mask(val: Val) -> np.ndarray:
    return val.cached("is_list", lambda: np.fromiter(
        (type(x) is list for x in val.v.tolist()), dtype=bool, count=len(val.v)))


# ---- three-valued logic -------------------------------------------------------------------

def and_known(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def and3(av, ak, bv, bk):
    """SQL AND: TRUE if both TRUE; FALSE if either is a known FALSE; else UNKNOWN."""
    if ak is None and bk is None:
        return av & bv, None
    at = av if ak is None else (av & ak)
    bt = bv if bk is None else (bv & bk)
    af = ~av if ak is None else (~av & ak)
    bf = ~bv if bk is None else (~bv & bk)
    return at & bt, (at & bt) | af | bf


def or3(av, ak, bv, bk):
    """SQL OR: TRUE if either is a known TRUE; FALSE if both FALSE; else UNKNOWN."""
    if ak is None and bk is None:
        return av | bv, None
    at = av if ak is None else (av & ak)
    bt = bv if bk is None else (bv & bk)
    af = ~av if ak is None else (~av & ak)
    bf = ~bv if bk is None else (~bv & bk)
    return at | bt, (at | bt) | (af & bf)


def true_mask(v, k, n: int) -> np.ndarray:
    """The rows that are TRUE, as a fresh bool array of length n."""
    v = np.asarray(v, dtype=bool)
    if k is not None:
        v = v & k
    if v.shape != (n,):
        v = np.broadcast_to(v, (n,))
    return np.array(v, dtype=bool, copy=True)
