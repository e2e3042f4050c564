"""Bad rows are rejected with the field and row named, and the whole batch is left out."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from embedb.engine import Database
from embedb.errors import DataError, ReadOnlyError
from embedb.schema import CollectionSchema, DataType


def schema(dynamic=False) -> CollectionSchema:
    s = CollectionSchema(enable_dynamic_field=dynamic)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("i8", DataType.INT8)
    s.add_field("flag", DataType.BOOL)
    s.add_field("x", DataType.FLOAT)
    s.add_field("s", DataType.VARCHAR, max_length=5)
    s.add_field("arr", DataType.ARRAY, element_type=DataType.INT32, max_capacity=3)
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("bin", DataType.BINARY_VECTOR, dim=8)
    s.add_field("i8v", DataType.INT8_VECTOR, dim=2)
    s.add_field("opt", DataType.INT32, nullable=True)
    s.add_field("dflt", DataType.VARCHAR, max_length=8, default_value="dv")
    return s


def good(i: int) -> dict:
    return {"id": i, "vec": [0.1, 0.2, 0.3, 0.4], "i8": 1, "flag": True, "x": 1, "s": "abc",
            "arr": [1, 2], "sp": {1: 0.5}, "bin": b"\x0f", "i8v": [1, -1]}


BAD_CASES = [
    ("vec", [0.1] * 3, "expected 4 floats, got 3"),
    ("vec", [0.1, float("nan"), 0.0, 0.0], "NaN"),
    ("vec", [0.1, float("inf"), 0.0, 0.0], "infinity"),
    ("vec", "abcd", "expected a list of 4 floats"),
    ("i8", 300, "out of range"),
    ("i8", True, "expected an integer"),
    ("i8", 1.5, "expected an integer"),
    ("flag", 1, "expected a bool"),
    ("x", "1.0", "expected a number"),
    ("s", "toolong", "exceeds max_length 5"),
    ("s", 5, "expected a string"),
    ("arr", [1, 2, 3, 4], "exceeds max_capacity 3"),
    ("arr", [1, "a"], "not a valid INT32"),
    ("arr", 7, "expected a list"),
    ("sp", {-1: 0.5}, "indices must be within"),
    ("sp", {1: float("nan")}, "NaN"),
    ("sp", [0.5], "expected a sparse vector"),
    ("bin", b"\x00\x01", "expected 1 bytes, got 2"),
    ("bin", [0, 1, 2, 0, 0, 0, 0, 0], "bits must be 0 or 1"),
    ("i8v", [1, 200], "within [-128, 127]"),
    ("opt", "x", "expected an integer"),
]


@pytest.mark.parametrize("field,value,message", BAD_CASES)
def test_bad_value_names_field_and_row_and_writes_nothing(tmp_path, field, value, message):
    db = Database.open(tmp_path / "v.db")
    c = db.create_collection("c", schema())
    c.insert([good(0)])
    rows = [good(1), good(2), good(3)]
    rows[2][field] = value
    with pytest.raises(DataError) as info:
        c.insert(rows)
    assert f"row 2, field {field!r}" in info.value.message
    assert message in info.value.message
    assert c.num_rows == 1 and c.num_rows_total == 1
    db.close()
    db = Database.open(tmp_path / "v.db")  # nothing of the batch reached the log
    assert db.get_collection("c").num_rows == 1
    db.close()


def test_missing_fields_nulls_and_defaults():
    db = Database.open(None)
    c = db.create_collection("c", schema())
    r = good(1)
    del r["vec"]
    with pytest.raises(DataError, match=r"row 0, field 'vec': is missing"):
        c.insert([r])
    r = good(1)
    r["i8"] = None
    with pytest.raises(DataError, match="not nullable"):
        c.insert([r])
    r = good(1)
    with pytest.raises(DataError, match=r"row 0, field 'extra'.*dynamic fields are disabled"):
        c.insert([{**r, "extra": 1}])
    c.insert([good(1), {**good(2), "opt": 5, "dflt": "given"}, {**good(3), "opt": None, "dflt": None}])
    got = c.query(output_fields=["opt", "dflt"])
    assert got == [{"id": 1, "opt": None, "dflt": "dv"}, {"id": 2, "opt": 5, "dflt": "given"},
                   {"id": 3, "opt": None, "dflt": "dv"}]
    with pytest.raises(DataError, match="primary key"):
        c.insert([{k: v for k, v in good(4).items() if k != "id"}])
    with pytest.raises(DataError, match="row 1: expected a dict"):
        c.insert([good(5), 7])


def test_accepted_vector_spellings():
    db = Database.open(None)
    c = db.create_collection("c", schema())
    rows = [good(i) for i in range(4)]
    rows[0]["vec"] = np.arange(4, dtype=np.float64)
    rows[1]["vec"] = (1, 2, 3, 4)  # ints accepted for floats
    rows[1]["sp"] = sp.csr_array(np.array([[0, 0, 2.5]]))
    rows[2]["bin"] = [0, 0, 0, 0, 1, 1, 1, 1]
    rows[3]["i8v"] = np.array([5, -5], dtype=np.int8)
    c.insert(rows)
    got = c.query(output_fields=["vec", "sp", "bin", "i8v"])
    assert got[0]["vec"] == [0.0, 1.0, 2.0, 3.0]
    assert got[1]["sp"] == {2: 2.5}
    assert got[2]["bin"] == b"\x0f"
    assert np.frombuffer(got[3]["i8v"], np.int8).tolist() == [5, -5]


def test_dynamic_values_must_be_json():
    db = Database.open(None)
    c = db.create_collection("c", schema(dynamic=True))
    with pytest.raises(DataError, match=r"row 1, field 'blob': dynamic field value"):
        c.insert([good(0), {**good(1), "blob": object()}])
    assert c.num_rows == 0


def test_read_only_database_rejects_writes(tmp_path):
    db = Database.open(tmp_path / "r.db")
    db.create_collection("c", schema()).insert([good(0)])
    db.close()
    ro = Database.open(tmp_path / "r.db", read_only=True)
    c = ro.get_collection("c")
    assert c.query(output_fields=["id"]) == [{"id": 0}]
    with pytest.raises(ReadOnlyError):
        c.insert([good(1)])
    with pytest.raises(ReadOnlyError):
        ro.create_collection("d", schema())
    with pytest.raises(ReadOnlyError):
        c.delete(ids=[0])
    ro.close()
