"""Column buffers that grow inside a reserved mapping (columns.reserved_array): the same values
as a plain array, views taken earlier never change, and a collection over such buffers stores
and reopens exactly what a Python model holds. The threshold is lowered so that small data
takes the path a 1M-row vector column takes."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.engine import Database, columns
from embedb.engine.columns import GrowArray
from embedb.schema import CollectionSchema, DataType


@pytest.fixture
def reserve_small(monkeypatch):
    monkeypatch.setattr(columns, "RESERVE_BYTES", 256)
    monkeypatch.setattr(columns, "RESERVE_FACTOR", 8)
    monkeypatch.setattr(columns, "RESERVE_MIN", 0)   # so reservations fill up and move too


@pytest.mark.parametrize("dtype, tail", [(np.float32, (5,)), (np.int64, ()), (np.bool_, ())])
def test_growth_in_a_reservation_keeps_every_value_and_every_older_view(reserve_small, dtype, tail):
    rng = np.random.default_rng(0)
    grow = GrowArray(dtype, tail)
    reference = np.empty((0,) + tail, dtype=dtype)
    views = []
    buffers = set()
    for step in range(60):
        chunk = (rng.random((int(rng.integers(0, 40)),) + tail) * 100).astype(dtype)
        grow.append(chunk)
        reference = np.concatenate([reference, chunk])
        views.append((grow.view, reference.copy()))
        buffers.add(id(grow._buf))
    assert np.array_equal(grow.view, reference)
    for view, expected in views:   # read views hold these: appends never write into them
        assert np.array_equal(view, expected)
    if columns.reserved_array((1,), np.dtype(np.int8)) is not None:   # the platform reserves
        assert len(buffers) <= 6, "a reserved buffer was copied again and again"


def test_a_collection_over_reserved_buffers_stores_exactly_the_model(tmp_path, reserve_small):
    rng = np.random.default_rng(1)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=6)
    s.add_field("n", DataType.DOUBLE, nullable=True)
    path = tmp_path / "grow.db"
    db = Database.open(path)
    c = db.create_collection("c", s)
    model: dict = {}
    for step in range(30):
        ids = rng.choice(400, 25, replace=False)
        rows = [{"id": int(i), "v": rng.random(6, dtype=np.float32), "n": None if i % 4 == 0 else float(i)}
                for i in ids]
        (c.upsert if step % 3 else c.insert)(rows)
        model.update({r["id"]: (tuple(r["v"].tolist()), r["n"]) for r in rows})
        gone = [int(i) for i in rng.choice(400, 5, replace=False)]
        c.delete(ids=gone)
        for i in gone:
            model.pop(i, None)
        if step == 10:
            db.flush()
        if step == 20:
            c.compact()

    def state(database):
        rows = database.get_collection("c").query(output_fields=["v", "n"])
        return {r["id"]: (tuple(np.float32(r["v"]).tolist()), r["n"]) for r in rows}

    assert state(db) == model
    db.close()
    db = Database.open(path)
    assert state(db) == model
    c = db.get_collection("c")
    c.insert([{"id": 1000 + i, "v": rng.random(6, dtype=np.float32), "n": 1.0} for i in range(50)])
    assert c.num_rows == len(model) + 50   # appends after opening copy the mapped snapshot once
    db.close()
