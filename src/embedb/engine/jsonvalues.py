"""JSON, ARRAY and dynamic-field values in their canonical stored form, and copies of them.

A value is stored as what its JSON text decodes to, the same text the write log and the
snapshots hold, so what a query serves before a reopen equals what it serves after: object keys
are strings (``{1: "a"}`` -> ``{"1": "a"}``, ``{True: 1}`` -> ``{"true": 1}``), tuples are
lists, NumPy scalars and arrays are plain Python values. Encoding and decoding also make the
stored value a fresh object, so mutating the dict given to ``insert`` changes nothing stored.

Limits are checked here, at the door, because each one would otherwise fail later (at a
checkpoint or on log replay, where the row is already acknowledged): a value must be JSON
(no NaN/Infinity, no cycles, string keys or keys JSON turns into strings), valid Unicode (no
lone surrogates: the stores hold UTF-8), at most ``MAX_JSON_BYTES`` of UTF-8 text and at most
``MAX_JSON_DEPTH`` levels of nested objects/arrays (decoding recurses once per level).
"""

from __future__ import annotations

import json
import marshal
import re
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable

import numpy as np

from ..errors import DataError

MAX_JSON_BYTES = 65_536  # Milvus: "JSON fields are limited to 65,536 bytes"
MAX_JSON_DEPTH = 100     # nesting levels of objects/arrays; far inside Python's recursion limit


def _numpy_default(value: Any) -> Any:
    """json's fallback for types it does not know: NumPy scalars/arrays become Python values."""
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The log and snapshot encoding (columns.dump_json_values) plus the NumPy fallback.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                            default=_numpy_default)
_encode = _ENCODER.encode
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # a JSON string literal, unrolled
_BRACKETS = np.zeros(256, dtype=np.int8)
_BRACKETS[[ord("["), ord("{")]] = 1
_BRACKETS[[ord("]"), ord("}")]] = -1


def json_depth(text: str) -> int:
    """Nesting depth of compact JSON text (``[[1]]`` -> 2), without recursion."""
    skeleton = _STRING.sub("", text).encode("ascii", "ignore")
    if not skeleton:
        return 0
    steps = _BRACKETS[np.frombuffer(skeleton, dtype=np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def encode_values(values: list, err: Callable[[int, str], DataError], *,
                  max_bytes: int | None = MAX_JSON_BYTES) -> list[str]:
    """Compact JSON text of each value; ``err(row, what)`` builds the DataError of a bad row."""
    texts = []
    for i, v in enumerate(values):
        try:
            texts.append(_encode(v))
        except (TypeError, ValueError) as exc:
            raise err(i, f"is not JSON-serialisable ({exc})") from None
        except RecursionError:
            raise err(i, f"is nested more than {MAX_JSON_DEPTH} levels deep") from None
    if not texts:
        return texts
    joined = "\x00".join(texts)  # NUL cannot occur in compact JSON text (it is escaped)
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        i = next(i for i, t in enumerate(texts) if not is_utf8(t))
        raise err(i, "holds a lone surrogate character, which is not valid Unicode "
                     "(strings must be valid UTF-8)") from None
    if joined.count("[") + joined.count("{") > MAX_JSON_DEPTH:
        for i, t in enumerate(texts):
            if t.count("[") + t.count("{") > MAX_JSON_DEPTH and json_depth(t) > MAX_JSON_DEPTH:
                raise err(i, f"is nested more than {MAX_JSON_DEPTH} levels deep")
    if max_bytes is not None and len(joined) > max_bytes // 4:
        for i, t in enumerate(texts):
            if len(t) > max_bytes // 4 and len(t.encode("utf-8")) > max_bytes:
                raise err(i, f"is {len(t.encode('utf-8'))} bytes as JSON, more than the "
                             f"limit of {max_bytes}")
    return texts


def check_setting(value: Any, what: str) -> None:
    """ParamError unless ``value`` (collection properties, index parameters: kept in the
    catalog as JSON) is JSON within the limits, so the catalog always reads back."""
    from ..errors import ParamError

    encode_values([value], lambda _i, reason: ParamError(f"{what} {reason}"))


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_texts(texts: list[str]) -> np.ndarray:
    """Fresh Python values of JSON texts, as an object array (one json.loads for all)."""
    if not texts:
        return np.empty(0, dtype=object)
    values = deep_safe(json.loads, "[" + ",".join(texts) + "]")
    # fromiter keeps list values as elements instead of broadcasting them into a 2-D array
    return np.fromiter(values, dtype=object, count=len(values))


def dump_texts(values: Any) -> list[str]:
    """Compact JSON text of stored values (the log and snapshot form)."""
    return deep_safe(lambda: [_encode(v) for v in values])


# ---- values stored before the depth limit ---------------------------------------------------
# Before MAX_JSON_DEPTH, values nested up to about 1,000 levels were accepted; decoding them on
# log replay (or encoding them at a checkpoint) can exhaust Python's recursion limit. Such a
# database must still open and close, so a RecursionError is retried once with the limit
# raised far enough for any value that could have been stored (bounded: never unbounded).
_LEGACY_DEPTH = 1_000
_deep_lock = threading.Lock()
_deep_users = 0
_saved_limit = 0


@contextmanager
def _deeper_stack():
    global _deep_users, _saved_limit
    with _deep_lock:
        if _deep_users == 0:
            _saved_limit = sys.getrecursionlimit()
            sys.setrecursionlimit(_saved_limit + 4 * _LEGACY_DEPTH)
        _deep_users += 1
    try:
        yield
    finally:
        with _deep_lock:
            _deep_users -= 1
            if _deep_users == 0:
                sys.setrecursionlimit(_saved_limit)


def deep_safe(fn: Callable, *args: Any) -> Any:
    """``fn(*args)``, retried with a raised recursion limit if it ran out (legacy deep values)."""
    try:
        return fn(*args)
    except RecursionError:
        with _deeper_stack():
            return fn(*args)


def canonical_values(values: list, err: Callable[[int, str], DataError], *,
                     max_bytes: int | None = MAX_JSON_BYTES) -> np.ndarray:
    """Checked, canonical, freshly made copies of ``values`` (see the module docstring)."""
    return decode_texts(encode_values(values, err, max_bytes=max_bytes))


def copy_out(values: list) -> list:
    """Copies of stored JSON values for a caller (who may mutate them): containers are copied
    deeply, immutable scalars are shared. The copy is an in-memory marshal round trip (never
    stored): it keeps every JSON type exactly and measured 4-5x faster than a JSON round trip
    or a Python-level deep copy; format 2 shares no sub-object between copies."""
    containers = [i for i, v in enumerate(values) if type(v) is dict or type(v) is list]
    if not containers:
        return list(values)
    out = list(values)
    fresh = marshal.loads(marshal.dumps([values[i] for i in containers], 2))
    for i, v in zip(containers, fresh):
        out[i] = v
    return out
