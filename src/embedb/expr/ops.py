"""Vectorised operators of the filter language over :class:`~embedb.expr.values.Val` columns.

Each operator checks the classes of its operands (a type error raises :class:`OpError`, which
the compiler turns into a FilterError pointing at the node), then works on whole columns. JSON
operands are split by the class of each row's value; rows of another class are UNKNOWN.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from .like import compile_like
from .regex import RegexError, search_mask
from .strings import NUL, compare_rows, has_nul
from .values import (
    BOOL, CONST, JSON, NUM, UNBOUND, Val, and_known, class_of_python, const,
    json_as, json_strings, value_class,
)


class OpError(Exception):
    """A type or value error inside an operator; the compiler adds the position."""


_UNBOUND = Val(UNBOUND, None)

_CMP = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
        ">": np.greater, ">=": np.greater_equal}
_PY_CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
           ">": operator.gt, ">=": operator.ge}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_CLASS_NAMES = {"num": "a number", "str": "a string", "bool": "a boolean", "list": "a list",
                "dict": "an object", "array": "an ARRAY field", "json": "a JSON value"}


def describe(val: Val) -> str:
    if val.desc:
        return val.desc
    if val.kind == CONST:
        return f"{_CLASS_NAMES.get(class_of_python(val.v), 'a value')} {val.v!r}"
    return _CLASS_NAMES.get(value_class(val), val.kind)


def _static_class(val: Val) -> str:
    """The class a JSON value is known to have (ARRAY elements), else its value_class."""
    c = value_class(val)
    return val.elem if (c == "json" and val.elem) else c


# ---- comparisons --------------------------------------------------------------------------

def compare(op: str, a: Val, b: Val) -> Val:
    ca, cb = value_class(a), value_class(b)
    if UNBOUND in (ca, cb):
        return _UNBOUND
    for c, val in ((ca, a), (cb, b)):
        if c in ("list", "dict", "array"):
            raise OpError(f"cannot compare {describe(val)} with '{op}'; use json_contains, "
                          "array_contains or array_length")
    if ca == "json" and cb == "json":
        return _compare_json_json(op, a, b)
    if ca == "json":
        return _compare_json_static(op, a, b)
    if cb == "json":
        return _compare_json_static(_FLIP[op], b, a)
    if ca != cb:
        raise OpError(f"cannot compare {describe(a)} with {describe(b)}")
    if ca == "bool" and op not in ("==", "!="):
        raise OpError(f"booleans can only be compared with == and !=, not '{op}'")
    if a.kind == CONST and b.kind == CONST:
        return const(_PY_CMP[op](a.v, b.v))
    if ca == "str" and _numpy_inexact(a, b):
        return Val(BOOL, compare_rows(op, a.v, b.v), and_known(a.k, b.k))
    return Val(BOOL, _CMP[op](a.v, b.v), and_known(a.k, b.k))


def holds_nul(val: Val) -> bool:
    """Whether a string operand holds a NUL anywhere: a str constant, a VARCHAR column (the
    source's cached answer), or the string rows of a JSON value."""
    if val.kind == CONST:
        return type(val.v) is str and NUL in val.v
    if val.kind == JSON:   # joined from the Python strings: no string array round trip
        return val.cached("nul_str", lambda: NUL in "".join(json_strings(val)))
    return val.cached("nul", val.nul or (lambda: has_nul(val.v)))


def _numpy_inexact(a: Val, b: Val) -> bool:
    """NumPy's comparison of two string operands would be wrong for some row: a literal with a
    NUL (its trailing NULs are dropped), or NULs on both sides (strncmp stops at a shared
    NUL). A NUL-free literal, or one NUL-free column, compares exactly (strings.py)."""
    if a.kind == CONST:
        return holds_nul(a)
    if b.kind == CONST:
        return holds_nul(b)
    return holds_nul(a) and holds_nul(b)


def _compare_json_static(op: str, a: Val, b: Val) -> Val:
    cls = value_class(b)
    if a.elem and a.elem != cls:
        raise OpError(f"cannot compare {describe(a)} with {describe(b)}")
    if cls == "bool" and op not in ("==", "!="):
        raise OpError(f"booleans can only be compared with == and !=, not '{op}'")
    values, ok = json_as(a, cls)
    if cls == "str" and _numpy_inexact(a, b):
        return Val(BOOL, compare_rows(op, values, b.v), and_known(ok, b.k))
    return Val(BOOL, _CMP[op](values, b.v), and_known(ok, b.k))


def _compare_json_json(op: str, a: Val, b: Val) -> Val:
    n = len(a.v)
    result = np.zeros(n, dtype=bool)
    known = np.zeros(n, dtype=bool)
    classes = ("num", "str", "bool") if op in ("==", "!=") else ("num", "str")
    for cls in classes:
        if a.elem and a.elem != cls or b.elem and b.elem != cls:
            continue
        av, aok = json_as(a, cls)
        bv, bok = json_as(b, cls)
        both = aok & bok
        exact = cls == "str" and _numpy_inexact(a, b)
        result |= (compare_rows(op, av, bv) if exact else _CMP[op](av, bv)) & both
        known |= both
    return Val(BOOL, result, known)


# ---- numbers ------------------------------------------------------------------------------

def _num_operand(val: Val, what: str) -> tuple[Any, Any, bool]:
    """(values, known, integer semantics) of a numeric operand; OpError if not numeric."""
    c = value_class(val)
    if c == "num":
        return val.v, val.k, val.is_int
    if c == "json":
        if val.elem and val.elem != "num":
            raise OpError(f"{what} needs numbers, got {describe(val)}")
        values, ok = json_as(val, "num")
        return values, ok, val.is_int
    raise OpError(f"{what} needs numbers, got {describe(val)}")


def _trunc_div_py(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _const_arith(op: str, a: Any, b: Any) -> Any:
    both_int = type(a) is int and type(b) is int
    if op in ("/", "%") and b == 0:
        raise OpError("division by zero")
    try:
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif op == "/":
            r = _trunc_div_py(a, b) if both_int else a / b
        elif op == "%":
            r = a - b * _trunc_div_py(a, b) if both_int else math.fmod(a, b)
        elif op == "**":
            r = math.pow(a, b)
        else:
            r = _const_bitwise(op, a, b)
    except (ValueError, OverflowError, ZeroDivisionError) as e:
        raise OpError(f"cannot compute {a!r} {op} {b!r}: {e}") from None
    if type(r) is int and not -(2**63) <= r < 2**63:
        raise OpError(f"integer overflow in {a!r} {op} {b!r}")
    if type(r) is float and not math.isfinite(r):
        raise OpError(f"{a!r} {op} {b!r} is not a finite number")
    return r


def _const_bitwise(op: str, a: int, b: int) -> int:
    if op == "&":
        return a & b
    if op == "|":
        return a | b
    if op == "^":
        return a ^ b
    if not 0 <= b < 64:
        raise OpError(f"shift count {b} is out of range 0..63")
    return a << b if op == "<<" else a >> b


_BITWISE = {"&": np.bitwise_and, "|": np.bitwise_or, "^": np.bitwise_xor,
            "<<": np.left_shift, ">>": np.right_shift}


def arith(op: str, a: Val, b: Val) -> Val:
    if UNBOUND in (value_class(a), value_class(b)):
        return _UNBOUND
    what = f"operator '{op}'"
    av, ak, aint = _num_operand(a, what)
    bv, bk, bint = _num_operand(b, what)
    if op in _BITWISE and not (aint and bint):
        raise OpError(f"{what} needs integer operands, got {describe(a)} and {describe(b)}")
    if a.kind == CONST and b.kind == CONST:
        return const(_const_arith(op, av, bv))
    known = and_known(ak, bk)
    both_int = aint and bint
    av, bv = np.asarray(av), np.asarray(bv)
    with np.errstate(all="ignore"):
        if op == "+":
            r = av + bv
        elif op == "-":
            r = av - bv
        elif op == "*":
            r = av * bv
        elif op in ("/", "%"):
            zero = bv == 0
            if zero.any():
                known = and_known(known, ~zero)
                bv = np.where(zero, 1, bv)
            if both_int:
                rem = np.fmod(av, bv)
                r = rem if op == "%" else (av - rem) // bv
            else:
                af, bf = av.astype(np.float64), bv.astype(np.float64)
                r = np.fmod(af, bf) if op == "%" else af / bf
        elif op == "**":
            r = np.power(av.astype(np.float64), bv.astype(np.float64))
            known = and_known(known, np.isfinite(r))
        else:  # bitwise / shifts on int64
            av, bv = av.astype(np.int64), bv.astype(np.int64)
            if op in ("<<", ">>"):
                bad = (bv < 0) | (bv > 63)
                if bad.any():
                    known = and_known(known, ~bad)
                    bv = np.where(bad, 0, bv)
            r = _BITWISE[op](av, bv)
    return Val(NUM, r, known, is_int=both_int and op != "**")


def unary(op: str, a: Val) -> Val:
    if value_class(a) == UNBOUND:
        return _UNBOUND
    what = f"unary '{op}'"
    v, k, is_int = _num_operand(a, what)
    if op == "~" and not is_int:
        raise OpError(f"{what} needs an integer operand, got {describe(a)}")
    if a.kind == CONST:
        return const(-v if op == "-" else (~v if op == "~" else v))
    v = np.asarray(v)
    r = -v if op == "-" else (np.invert(v.astype(np.int64)) if op == "~" else v)
    return Val(NUM, r, k, is_int=is_int)


# ---- booleans -----------------------------------------------------------------------------

def as_bool(val: Val) -> tuple[Any, Any]:
    """(values, known) of a predicate; a JSON value counts only when it is true/false."""
    c = value_class(val)
    if c == "bool":
        if val.kind == CONST:
            return np.bool_(val.v), None
        return val.v, val.k
    if c == "json" and (not val.elem or val.elem == "bool"):
        return json_as(val, "bool")
    raise OpError(f"expected a boolean expression, got {describe(val)}")


# ---- membership ---------------------------------------------------------------------------

def _py_class_eq(x: Any, y: Any) -> bool:
    return class_of_python(x) == class_of_python(y) and x == y


def in_list(a: Val, options: Val, negate: bool) -> Val:
    if UNBOUND in (value_class(a), value_class(options)):
        return _UNBOUND
    if options.kind != CONST or type(options.v) is not list:
        raise OpError(f"IN needs a list, got {describe(options)}")
    items = options.v
    by_class: dict[str, list] = {}
    for item in items:
        c = class_of_python(item)
        if c not in ("num", "str", "bool"):
            raise OpError(f"IN lists may hold numbers, strings and booleans, not {item!r}")
        by_class.setdefault(c, []).append(item)
    ca = _static_class(a)
    if ca in ("list", "dict", "array"):
        raise OpError(f"IN cannot test {describe(a)}; use array_contains_any")
    if not items:  # an empty OR is FALSE for every row
        return const(bool(negate))
    if ca != "json":
        wrong = [x for c, xs in by_class.items() if c != ca for x in xs]
        if wrong:
            raise OpError(f"IN list element {wrong[0]!r} does not match {describe(a)}")
    if a.kind == CONST:
        hit = any(_py_class_eq(a.v, x) for x in items)
        return const(hit != negate)
    if a.kind != JSON:
        result, known = _isin(a.v, items, ca), a.k
    else:
        n = len(a.v)
        result = np.zeros(n, dtype=bool)
        value_ok = None
        for cls, xs in by_class.items():
            values, ok = json_as(a, cls)
            result |= ok & _isin(values, xs, cls)
            value_ok = ok
        # x IN [..] is OR of x == item: a row is FALSE only when every item has its class
        known = result | value_ok if len(by_class) == 1 else result
    return Val(BOOL, ~result if negate else result, known)


def _isin(values: np.ndarray, items: list, cls: str) -> np.ndarray:
    # A few equalities beat a sort; numpy's isin on StringDType is quadratic-ish, so long
    # string lists use one hash lookup per row instead, and so do lists holding a NUL
    # (NumPy's == is exact only against NUL-free strings, see strings.py).
    if len(items) <= (8 if cls == "str" else 16) and not (cls == "str" and NUL in "".join(items)):
        out = values == items[0]
        for x in items[1:]:
            out |= values == x
        return out
    if cls == "str":
        wanted = set(items)
        return np.fromiter((s in wanted for s in values.tolist()), dtype=bool, count=len(values))
    return np.isin(values, np.array(items))


# ---- strings ------------------------------------------------------------------------------

def _string_operand(a: Val, what: str) -> tuple[Any, Any]:
    c = _static_class(a)
    if a.kind == JSON and c in ("json", "str"):
        return json_as(a, "str")
    if c == "str":
        return a.v, a.k
    raise OpError(f"{what} needs a string, got {describe(a)}")


def _pattern(p: Val, what: str) -> str:
    if p.kind != CONST or type(p.v) is not str:
        raise OpError(f"{what} needs a string pattern, got {describe(p)}")
    return p.v


def like(a: Val, p: Val) -> Val:
    if UNBOUND in (value_class(a), value_class(p)):
        return _UNBOUND
    pattern = _pattern(p, "LIKE")
    values, known = _string_operand(a, "LIKE")
    match = compile_like(pattern)
    if a.kind == CONST:
        return const(bool(match.exact(values)))
    return Val(BOOL, match(values, nul=lambda: holds_nul(a)), known)


def regex(a: Val, p: Val, negate: bool) -> Val:
    if UNBOUND in (value_class(a), value_class(p)):
        return _UNBOUND
    op = "!~" if negate else "=~"
    pattern = _pattern(p, op)
    values, known = _string_operand(a, op)
    try:
        if a.kind == CONST:
            return const(bool(search_mask(pattern, [values])[0]) != negate)
        hits = search_mask(pattern, values.tolist())
    except RegexError as e:
        raise OpError(str(e)) from None
    return Val(BOOL, ~hits if negate else hits, known)
