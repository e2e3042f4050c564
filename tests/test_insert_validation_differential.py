"""The vectorised insert validation (engine/rows.py build_batch) against a plain per-row
reference written here: random batches of good and bad rows must be accepted or rejected alike,
a rejection must name the same row, field and kind of fault, an accepted batch must hold the same
values, and a rejected insert must leave the collection as it was."""

from __future__ import annotations

import math
import re
from collections import OrderedDict, defaultdict

import numpy as np
import pytest

from embedb.engine import Database
from embedb.engine.rows import build_batch
from embedb.errors import DataError
from embedb.schema import CollectionSchema, DataType

DIM = 4
MAX_LEN = 5
FIELDS = ("id", "v", "tag", "small", "x")


def _schema() -> CollectionSchema:
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("tag", DataType.VARCHAR, max_length=MAX_LEN)
    s.add_field("small", DataType.INT16, nullable=True)
    s.add_field("x", DataType.FLOAT, default_value=1.5)
    return s


# ----------------------------------------------------------------------------- the reference
class Fault(Exception):
    def __init__(self, row: int, field: str | None, kind: str) -> None:
        super().__init__(row, field, kind)
        self.key = (row, field, kind)


_MISSING = object()


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _vector_row(v):
    """(kind of fault or None, float32 row)."""
    if not isinstance(v, (list, tuple, np.ndarray)):
        return "type", None
    if len(v) != DIM or (isinstance(v, np.ndarray) and v.ndim != 1):
        return "type", None
    out = []
    for x in (v.tolist() if isinstance(v, np.ndarray) else v):
        if isinstance(x, (bool, np.bool_)):
            x = float(x)   # NumPy reads True as 1.0, as the fast path does
        if not _is_real(x):
            return "type", None
        out.append(x)
    return None, np.asarray(out, dtype=np.float64).astype(np.float32)


def reference(rows: list) -> dict:
    """Plain per-row validation: the fault the engine must report, or the converted columns.
    Within a field, structural faults (missing, wrong type, wrong length) are reported before
    value faults (range, NaN, max_length), each at the first row that has one, fields in
    schema order, keys outside the schema last."""
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise Fault(i, None, "row")
    cols = {}
    for name in FIELDS:
        vals = [r.get(name, _MISSING) for r in rows]
        for i, v in enumerate(vals):   # missing or None where neither NULL nor a default is allowed
            if (v is _MISSING or v is None) and name in ("id", "v", "tag"):
                raise Fault(i, name, "missing")
        valid = [not (v is _MISSING or v is None) for v in vals]
        if name == "x":
            vals = [1.5 if v is _MISSING or v is None else v for v in vals]
        if name == "small":
            vals = [0 if v is _MISSING or v is None else v for v in vals]
        if name in ("id", "small"):
            for i, v in enumerate(vals):
                if not _is_int(v):
                    raise Fault(i, name, "type")
            lo, hi = (-(2**63), 2**63 - 1) if name == "id" else (-(2**15), 2**15 - 1)
            for i, v in enumerate(vals):
                if not lo <= int(v) <= hi:
                    raise Fault(i, name, "value")
            cols[name] = np.array([int(v) for v in vals], dtype=np.int64 if name == "id" else np.int16)
        elif name == "x":
            for i, v in enumerate(vals):
                if not _is_real(v):
                    raise Fault(i, name, "type")
            out = []
            for i, v in enumerate(vals):
                f = float(v)
                if not math.isfinite(f) or abs(f) > float(np.finfo(np.float32).max):
                    raise Fault(i, name, "value")
                out.append(f)
            cols[name] = np.array(out, dtype=np.float64).astype(np.float32)
        elif name == "tag":
            for i, v in enumerate(vals):
                if not isinstance(v, str):
                    raise Fault(i, name, "type")
            for i, v in enumerate(vals):
                if len(v) > MAX_LEN:
                    raise Fault(i, name, "value")
            cols[name] = list(vals)
        else:   # the vector
            out = []
            for i, v in enumerate(vals):
                kind, row = _vector_row(v)
                if kind:
                    raise Fault(i, name, kind)
                out.append(row)
            for i, row in enumerate(out):
                if not np.isfinite(row).all():
                    raise Fault(i, name, "value")
            cols[name] = np.stack(out) if out else np.zeros((0, DIM), np.float32)
        if name == "small":
            cols["small_valid"] = np.array(valid, dtype=bool)
    for i, r in enumerate(rows):
        extra = sorted(map(str, set(r) - set(FIELDS)))
        if extra:
            raise Fault(i, extra[0], "extra")
    return cols


def _kind_of(message: str) -> str:
    m = message.lower()
    if "unexpected field" in m:
        return "extra"
    if "missed an field" in m or "is missing" in m:
        return "missing"
    if "expected a dict" in m:
        return "row"
    if any(w in m for w in ("out of range", "nan or infinity", "exceeds max_length", "is nan")):
        return "value"
    if "expected" in m:
        return "type"
    return "other: " + message


def _fault_of(exc: DataError) -> tuple:
    msg = str(exc)
    m = re.search(r"row (\d+)(?:, field '([^']*)')?", msg)
    assert m, msg
    return int(m.group(1)), m.group(2), _kind_of(msg)


# ----------------------------------------------------------------------------- random batches
def _good_row(rng: np.random.Generator, i: int) -> dict:
    style = rng.integers(0, 4)
    vec = rng.standard_normal(DIM).astype(np.float32)
    v = (vec, vec.tolist(), tuple(vec.tolist()), vec.astype(np.float64))[style]
    row = {"id": int(i) if rng.random() < 0.8 else np.int64(i), "v": v,
           "tag": "".join(rng.choice(list("abcé"), rng.integers(0, MAX_LEN + 1)))}
    if rng.random() < 0.7:
        row["small"] = int(rng.integers(-300, 300)) if rng.random() < 0.9 else None
    if rng.random() < 0.7:
        row["x"] = float(rng.standard_normal()) if rng.random() < 0.8 else int(rng.integers(0, 9))
    return row


def _spoil(rng: np.random.Generator, row: dict):
    """One random fault (or a harmless variant) in a row."""
    if not isinstance(row, dict):
        return row
    k = int(rng.integers(0, 22))
    if k == 0:
        row.pop(rng.choice(["id", "v", "tag"]))
    elif k == 1:
        row[rng.choice(["id", "v", "tag"])] = None
    elif k == 2:
        row["id"] = str(row["id"])
    elif k == 3:
        row["id"] = True
    elif k == 4:
        row["id"] = 2**63 + int(rng.integers(0, 5))
    elif k == 5:
        row["small"] = 2**15 + int(rng.integers(0, 5))
    elif k == 6:
        row["small"] = 1.5
    elif k == 7:
        row["v"] = rng.standard_normal(DIM + int(rng.choice([-1, 1]))).astype(np.float32)
    elif k == 8:
        row["v"] = [0.1] * (DIM - 1) + [float("nan")]
    elif k == 9:
        bad = rng.standard_normal(DIM).astype(np.float32)
        bad[int(rng.integers(0, DIM))] = np.inf
        row["v"] = bad
    elif k == 10:
        row["v"] = "abcd"
    elif k == 11:
        row["v"] = [1, 2, "x", 4]
    elif k == 12:
        row["v"] = np.ones((1, DIM), np.float32)
    elif k == 13:
        row["tag"] = "x" * (MAX_LEN + 1)
    elif k == 14:
        row["tag"] = 7
    elif k == 15:
        row["x"] = float("nan")
    elif k == 16:
        row["x"] = 1e300
    elif k == 17:
        row["x"] = "1.0"
    elif k == 18:
        row["extra"] = 1
    elif k == 19:
        return [row["id"]]   # not a dict
    elif k == 20:
        return OrderedDict(row)   # a dict subclass: fine
    else:
        d = defaultdict(lambda: 0)   # a defaultdict must not invent missing fields
        d.update(row)
        d.pop("tag", None)
        return d
    return row


def _batch(rng: np.random.Generator, seed: int) -> list:
    n = int(rng.choice([1, 2, 5, 40, 300]))
    rows = [_good_row(rng, seed * 1000 + i) for i in range(n)]
    for _ in range(int(rng.choice([0, 0, 1, 2, 3]))):
        at = int(rng.integers(0, n))
        rows[at] = _spoil(rng, rows[at])
    return rows


def _same_columns(batch, ref: dict) -> None:
    np.testing.assert_array_equal(batch.values["id"], ref["id"])
    assert batch.values["v"].dtype == np.float32
    np.testing.assert_array_equal(batch.values["v"], ref["v"])
    assert batch.values["tag"].tolist() == ref["tag"]
    np.testing.assert_array_equal(batch.values["small"], ref["small"])
    np.testing.assert_array_equal(batch.valid["small"], ref["small_valid"])
    np.testing.assert_array_equal(batch.values["x"], ref["x"])


@pytest.mark.parametrize("seed", range(6))
def test_build_batch_accepts_and_rejects_as_the_per_row_reference(seed):
    schema = _schema()
    rng = np.random.default_rng(seed)
    outcomes = {"ok": 0, "bad": 0}
    for b in range(120):
        rows = _batch(rng, b)
        try:
            ref = reference(rows)
        except Fault as fault:
            with pytest.raises(DataError) as info:
                build_batch(schema, rows)
            assert _fault_of(info.value) == fault.key, (str(info.value), fault.key)
            outcomes["bad"] += 1
            continue
        _same_columns(build_batch(schema, rows), ref)
        outcomes["ok"] += 1
    assert outcomes["ok"] > 20 and outcomes["bad"] > 20, outcomes


def test_a_rejected_insert_changes_nothing():
    db = Database.open(None)
    coll = db.create_collection("c", _schema())
    rng = np.random.default_rng(99)
    rejected = 0
    for b in range(60):
        rows = _batch(rng, b)
        before = coll.query("", output_fields=["id", "tag", "small", "x"])
        try:
            reference(rows)
        except Fault:
            with pytest.raises(DataError):
                coll.insert(rows)
            assert coll.query("", output_fields=["id", "tag", "small", "x"]) == before
            assert coll.num_rows == len(before)
            rejected += 1
            continue
        ids = coll.insert(rows)
        assert coll.num_rows == len({r["id"] for r in before} | set(ids))
    assert rejected > 5
    db.close()
