"""Filter functions: json_contains* / array_contains*, array_length, text_match, phrase_match,
random_sample. Each takes evaluated argument Vals and returns a Val (or raises OpError).

Containment compares elements by JSON equality: numbers equal numbers (1 == 1.0), strings equal
strings, booleans equal booleans, lists element-wise; ``true`` never equals ``1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ops import OpError, describe
from .values import ARRAY, BOOL, CONST, NUM, UNBOUND, Val, class_of_python, value_class

_UNBOUND = Val(UNBOUND, None)

# Names of the server grammar that embedb does not implement: a clear error, never a guess.
UNSUPPORTED = {
    "element_filter", "match_all", "match_any", "match_least", "match_most", "match_exact",
}


def json_key(x: Any) -> Any:
    """A hashable key with JSON equality (bools apart from numbers, 1 == 1.0)."""
    t = type(x)
    if t is bool:
        return ("b", x)
    if t is int or t is float:
        return ("n", x)
    if t is str:
        return ("s", x)
    if t is list:
        return ("l", tuple(json_key(e) for e in x))
    if t is dict:
        return ("d", tuple(sorted((k, json_key(v)) for k, v in x.items())))
    return ("z", None)


def _container(val: Val, fname: str) -> Val:
    if value_class(val) in ("json", "array"):
        return val
    raise OpError(f"{fname} needs a JSON or ARRAY field as its first argument, "
                  f"got {describe(val)}")


def _check_element(container: Val, value: Any, fname: str) -> None:
    """ARRAY fields have one element type: a value of another class is a type error."""
    if container.kind == ARRAY and container.elem:
        c = class_of_python(value)
        if c != container.elem:
            raise OpError(f"{fname}: {value!r} does not match the elements of {describe(container)}")


def contains(fname: str, mode: str, target: Val, value: Val) -> Val:
    """mode: 'one' (json_contains), 'all' (json_contains_all), 'any' (json_contains_any)."""
    if UNBOUND in (value_class(target), value_class(value)):
        return _UNBOUND
    target = _container(target, fname)
    if value.kind != CONST:
        raise OpError(f"{fname} needs a constant as its second argument, got {describe(value)}")
    if mode == "one":
        wanted = [value.v]
    else:
        if type(value.v) is not list:
            raise OpError(f"{fname} needs a list as its second argument, got {describe(value)}")
        wanted = value.v
    for w in wanted:
        _check_element(target, w, fname)
    keys = {json_key(w) for w in wanted}
    rows = target.v.tolist()
    n = len(rows)
    is_list = np.fromiter((type(r) is list for r in rows), dtype=bool, count=n)
    if mode == "one":
        (key,) = keys
        hits = (r is not None and type(r) is list and any(json_key(e) == key for e in r)
                for r in rows)
    elif mode == "all":
        hits = (type(r) is list and keys <= {json_key(e) for e in r} for r in rows)
    else:
        hits = (type(r) is list and not keys.isdisjoint(json_key(e) for e in r) for r in rows)
    result = np.fromiter(hits, dtype=bool, count=n)
    return Val(BOOL, result, is_list)


def array_length(target: Val) -> Val:
    if value_class(target) == UNBOUND:
        return _UNBOUND
    target = _container(target, "array_length")
    rows = target.v.tolist()
    n = len(rows)
    is_list = np.fromiter((type(r) is list for r in rows), dtype=bool, count=n)
    lengths = np.fromiter((len(r) if type(r) is list else 0 for r in rows), dtype=np.int64, count=n)
    return Val(NUM, lengths, is_list, is_int=True)


def int_option(val: Val, what: str, minimum: int) -> int | None:
    """A constant integer argument (None while a template is unbound during the dry run)."""
    if val.kind == UNBOUND:
        return None
    if val.kind != CONST or type(val.v) is not int or val.v < minimum:
        raise OpError(f"{what} must be an integer >= {minimum}, got {describe(val)}")
    return val.v


def string_option(val: Val, what: str) -> str | None:
    if val.kind == UNBOUND:
        return None
    if val.kind != CONST or type(val.v) is not str:
        raise OpError(f"{what} must be a string, got {describe(val)}")
    return val.v


def ratio_option(val: Val) -> float | None:
    if val.kind == UNBOUND:
        return None
    if val.kind != CONST or class_of_python(val.v) != "num" or not 0 < val.v < 1:
        raise OpError("the sample factor should be between 0 and 1 and not too close to 0 or 1: "
                      f"random_sample needs a ratio strictly between 0 and 1, got {describe(val)}")
    return float(val.v)


def random_sample(ratio: float, n: int) -> Val:
    return Val(BOOL, np.random.default_rng().random(n) < ratio, None)



