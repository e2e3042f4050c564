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



PREFAULT_RSS = """
import time
import numpy as np
from embedb.engine import columns

def rss_anon_mib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

start = rss_anon_mib()
grows = [columns.GrowArray(np.int64) for _ in range(30)]
chunk = np.ones(1000, dtype=np.int64)   # a scalar field of 1,000-row insert calls: 8 KB each
for _ in range(330):                    # 2.5 MiB of rows per column, in buffers that grew 4x
    for g in grows:
        g.append(chunk)
deadline = time.time() + 20
time.sleep(0.5)
while time.time() < deadline and columns._prefaulter._jobs:
    time.sleep(0.05)
time.sleep(0.5)   # the last job runs after it left the queue
print(rss_anon_mib() - start, sum(g._buf.nbytes for g in grows) / 2**20)
"""


def test_pages_faulted_ahead_follow_the_appends_not_the_buffer():
    """A growing column's next pages are faulted in ahead of the writer, a few appends' worth:
    thirty scalar columns of 8 KB appends do not each hold the rest of their 4x buffer (up to
    32 MiB) as resident pages no row uses."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PREFAULT_RSS], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    grown, buffers = (float(v) for v in done.stdout.split()[-2:])
    rows = 30 * 330 * 8000 / 2**20   # MiB of rows written
    assert buffers > 2 * rows   # capacity past the rows exists: it must not all be resident
    # (the allocator keeps some freed buffers of earlier growth steps: a margin for them)
    assert grown < rows + 0.4 * (buffers - rows), \
        f"{grown:.0f} MiB resident for {rows:.0f} MiB of rows in {buffers:.0f} MiB of buffers"


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_csr_over_a_grown_buffer_reads_it_in_place(index_dtype):
    """A sparse column's rows as a CSR matrix over its (grown-ahead) buffers: the same matrix as
    SciPy's checked constructor, without copying the payload; unsorted rows stay correct (SciPy
    computes its sorted/canonical flags on first use)."""
    import scipy.sparse as sp

    rng = np.random.default_rng(4)
    n = 500
    counts = rng.integers(0, 9, n)
    nnz = int(counts.sum())
    indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(counts, out=indptr[1:])
    indices_buf = rng.integers(0, 300, 3 * nnz).astype(index_dtype)   # unsorted within rows
    values_buf = rng.random(3 * nnz).astype(np.float32)
    got = columns.csr_over(indptr, indices_buf[:nnz], values_buf[:nnz], (n, 300))
    want = sp.csr_array((values_buf[:nnz].copy(), indices_buf[:nnz].copy(), indptr.copy()),
                        shape=(n, 300))
    assert np.shares_memory(got.data, values_buf) and np.shares_memory(got.indices, indices_buf)
    assert (abs(got - want)).sum() == 0 and got.shape == want.shape
    assert np.array_equal(got.toarray(), want.toarray())
    rows = rng.integers(0, n, 40)
    assert np.array_equal(got[rows].toarray(), want[rows].toarray())
    mixed = columns.csr_over(indptr.astype(np.int64), indices_buf[:nnz].astype(np.int32),
                             values_buf[:nnz], (n, 300))
    assert np.array_equal(mixed.toarray(), want.toarray())
