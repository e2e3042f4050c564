"""Exact string answers beside NumPy's StringDType kernels, which mishandle NUL characters.

NumPy treats trailing NULs as padding even for StringDType (``np.strings.str_len('ab\\x00')``
is 2, ``endswith`` looks past them, a Python literal ``'ab\\x00'`` becomes ``'ab'``), and it
compares two strings with ``strncmp``, which stops at a NUL both hold at the same place
(``'a\\x00b' == 'a\\x00c'``; sorting and ``np.unique`` go wrong the same way). Milvus compares
byte strings. What stays exact, and so stays vectorised:

- comparing a column with a literal that holds no NUL (``==`` ... ``>=``, ``startswith``
  with or without an offset): ``strncmp`` can then only stop where the bytes differ, so it
  equals ``memcmp``, and UTF-8 byte order is code-point order;
- comparing two columns when one of them holds no NUL; sorting/``np.unique`` of a column
  without NUL.

Lengths (``str_len``), ``endswith``, and everything above with NULs on both sides, take a
per-row Python path. Whether a column holds a NUL is one scan, kept per collection
generation by :func:`cached_has_nul` (columns only grow within a generation).
"""

from __future__ import annotations

import operator
import threading
from typing import Any, Callable

import numpy as np

NUL = "\x00"
_SCAN_CHUNK = 1 << 16   # rows joined per scan step: bounded memory, an early stop
_CACHE_LOCK = threading.Lock()

PY_CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
          ">": operator.gt, ">=": operator.ge}


def first_nul(values: Any, start: int = 0) -> int:
    """Row number (from 0) of the first of ``values[start:]`` holding a NUL, or -1."""
    n = len(values)
    for lo in range(start, n, _SCAN_CHUNK):
        part = values[lo:lo + _SCAN_CHUNK]
        items = part.tolist() if isinstance(part, np.ndarray) else list(part)
        if NUL in "".join(items):
            return lo + next(i for i, s in enumerate(items) if NUL in s)
    return -1


def has_nul(values: Any) -> bool:
    """Whether any string of ``values`` (a StringDType/object array or a list) holds a NUL."""
    return first_nul(values) >= 0


def cached_has_nul(store: dict, field: str, generation: int, values: np.ndarray) -> bool:
    """``has_nul(values)`` for an append-only column, kept in ``store`` (a collection's
    ``extensions``) as (generation, rows scanned, first NUL row or -1): only rows appended
    since the last call are scanned, and a reader of fewer rows gets its own exact answer."""
    n = len(values)
    key = ("string_nul", field)
    with _CACHE_LOCK:
        entry = store.get(key)
    start = 0
    if entry is not None and entry[0] == generation:
        scanned, found = entry[1], entry[2]
        if found >= 0:   # the column's first NUL row: rows before it hold none
            return found < n
        if scanned >= n:
            return False
        start = scanned
    hit = first_nul(values, start)
    with _CACHE_LOCK:
        current = store.get(key)
        if current is None or current[0] != generation or (current[2] < 0 and current[1] < n):
            store[key] = (generation, n, hit)
    return hit >= 0


def source_has_nul(source: Any, field: str, values: np.ndarray) -> bool:
    """Whether VARCHAR column ``field`` of ``source`` holds a NUL: the source's cached answer
    when it keeps one (a collection), else a scan of ``values``."""
    probe = getattr(source, "string_has_nul", None)
    return bool(probe(field)) if probe is not None else has_nul(values)


def compare_rows(op: str, a: Any, b: Any) -> np.ndarray:
    """``a op b`` per row in Python (exact); each side a string array or one ``str``."""
    fn = PY_CMP[op]
    left = a.tolist() if isinstance(a, np.ndarray) else a
    right = b.tolist() if isinstance(b, np.ndarray) else b
    if isinstance(left, str):
        out = [fn(left, y) for y in right]
    elif isinstance(right, str):
        out = [fn(x, right) for x in left]
    else:
        out = list(map(fn, left, right))
    return np.array(out, dtype=bool) if out else np.zeros(0, dtype=bool)


def each_row(values: np.ndarray, fn: Callable[[str], bool]) -> np.ndarray:
    return np.fromiter(map(fn, values.tolist()), dtype=bool, count=len(values))


def key_array(keys: list) -> np.ndarray:
    """A list of keys (int or str) as an array that sorts and compares exactly: str keys
    holding a NUL become an object array (a fixed-width ``<U`` array drops trailing NULs)."""
    if keys and type(keys[0]) is str and has_nul(keys):
        return np.array(keys, dtype=object)
    return np.asarray(keys)


def unique_inverse(values: Any, nul: bool | None = None) -> np.ndarray:
    """Dense ranks of ``values`` in byte order (``np.unique``'s inverse), exact with NULs:
    a StringDType array holding a NUL (``nul``; scanned when None) is ranked as Python
    strings; a list goes through :func:`key_array`."""
    if isinstance(values, list):
        values = key_array(values)
    if values.dtype.kind == "T" and (has_nul(values) if nul is None else nul):
        values = values.astype(object)
    return np.unique(values, return_inverse=True)[1].reshape(-1)
