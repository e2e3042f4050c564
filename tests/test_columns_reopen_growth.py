"""The first write after reopening does not copy a memory-mapped column (issue 15): a large
numeric column grows in place over its snapshot file's pages (mapped privately, copy on write),
so the insert costs the rows it adds, not the column's size. The rows read back exactly, the
snapshot file is never written through the mapping, and a writer killed after such writes (with
a checkpoint appending to the very file it maps) reopens with every acknowledged row."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from embedb.engine import Database, columns
from embedb.schema import CollectionSchema, DataType

DIM = 256
N = 40_000   # a 40 MB vector column, a 320 KB key column

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the overlay is Linux-only")


def _schema() -> CollectionSchema:
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("tag", DataType.VARCHAR, max_length=16)
    return s


_TABLE = np.random.default_rng(0).standard_normal((997, DIM)).astype(np.float32)


def _vectors(start: int, n: int) -> np.ndarray:
    """The vector of each id in [start, start + n): a function of the id alone."""
    ids = np.arange(start, start + n)
    return _TABLE[ids % 997] + (ids[:, None] * np.float32(1e-3)).astype(np.float32)


def _rows(start: int, n: int) -> list[dict]:
    v = _vectors(start, n)
    return [{"id": start + i, "v": v[i], "tag": f"t{(start + i) % 7}"} for i in range(n)]


def _build(path: Path) -> None:
    db = Database.open(path, durability="process")
    c = db.create_collection("c", _schema())
    for start in range(0, N, 10_000):
        c.insert(_rows(start, 10_000))
    db.close()


def _anon_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def _check_rows(coll, spans: list[tuple[int, int]]) -> None:
    """Every row of the (start, n) insert calls is there with its own vector and tag."""
    vals = coll.dense_vectors("v")
    for start, n in spans:
        rows = coll.rows_of(list(range(start, start + n)))
        assert (rows >= 0).all()
        np.testing.assert_array_equal(vals[rows], _vectors(start, n))
        tags = coll.query(f"id >= {start} and id < {start + n}", output_fields=["tag"])
        assert sorted((t["id"], t["tag"]) for t in tags) == [(i, f"t{i % 7}") for i in range(start, start + n)]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_first_insert_after_reopen_maps_instead_of_copying(tmp_path):
    path = tmp_path / "db"
    _build(path)
    part = next((path / "collections").rglob("v.values.npy"))
    digest = _file_digest(part)
    db = Database.open(path, durability="process")
    c = db.get_collection("c")
    c._verify_columns()   # the checksum pass reads the mapped pages first (file pages, not anonymous)
    before = dict(columns.stats)
    anon = _anon_kib()
    c.insert(_rows(N, 1000))
    copied = columns.stats["copied_bytes"] - before["copied_bytes"]
    overlaid = columns.stats["overlaid_bytes"] - before["overlaid_bytes"]
    grown_kib = _anon_kib() - anon
    assert overlaid >= N * DIM * 4, columns.stats
    assert copied < N * DIM * 4 // 20, copied   # the small columns only (key, partition, time)
    # the 40 MB column was not copied (a copy adds >= 40 MB; the whole pytest process is measured,
    # so other tests' threads and the look-ahead page faulting add up to ~24 MB under load)
    assert grown_kib * 1024 < N * DIM * 4 * 3 // 4, grown_kib
    assert c._columns["tag"]._pending is not None   # nor was the stored text decoded for a write
    _check_rows(c, [(0, N), (N, 1000)])
    c.delete(ids=[3, N + 5])   # tombstones and later inserts on the grown column
    c.insert(_rows(N + 1000, 1000))
    assert _file_digest(part) == digest   # nothing reached the snapshot file through the mapping
    db.flush()   # a checkpoint appends the new rows to the same file the column maps
    c.insert(_rows(N + 2000, 1000))
    assert c.num_rows == N + 3000 - 2
    _check_rows(c, [(0, 3), (4, N - 4), (N, 5), (N + 6, 2994)])
    db.close()
    db = Database.open(path)
    _check_rows(db.get_collection("c"), [(0, 3), (4, N - 4), (N, 5), (N + 6, 2994)])
    db.close()


CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_columns_reopen_growth import _rows, _check_rows, N
    from embedb.engine import Database, columns
    db = Database.open({path!r}, durability={durability!r})
    c = db.get_collection("c")
    c.insert(_rows(N, 1000))
    assert columns.stats["overlaid_bytes"] > 0
    db.flush()
    c.insert(_rows(N + 1000, 1000))
    c.insert(_rows(N + 2000, 500))
    _check_rows(c, [(0, N + 2500)])
    print("acked", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.parametrize("durability", ["fsync", "process"])
def test_killed_after_growing_a_mapped_column_reopens_with_every_row(tmp_path, durability):
    path = tmp_path / "db"
    _build(path)
    tests = str(Path(__file__).parent)
    code = CHILD.format(tests=tests, path=str(path), durability=durability)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    assert "acked" in out.stdout
    db = Database.open(path)   # replays the log after the flush's snapshot
    c = db.get_collection("c")
    assert c.num_rows == N + 2500
    _check_rows(c, [(0, N + 2500)])
    c.insert(_rows(N + 2500, 500))   # and grows in place again, over the appended file
    _check_rows(c, [(0, N + 3000)])
    db.close()
    from embedb.engine.check import check_database

    problems, _ = check_database(path)
    assert not problems, problems


def _text_rows(start: int, n: int) -> list[dict]:
    return [{"id": i, "v": [float(i % 5)] * 4, "tag": f"é{i % 13}", "doc": None if i % 4 == 0 else {"k": i, "s": [i, "x"]},
             "extra": f"d{i}"} for i in range(start, start + n)]


@pytest.mark.parametrize("flush_between", [False, True])
def test_text_and_json_columns_take_writes_before_their_first_decode(tmp_path, flush_between):
    """A reopened collection's VARCHAR, nullable JSON and dynamic-field columns stay undecoded
    through inserts (and a checkpoint of the new rows); the first read sees stored and new rows
    in row order, NULLs included, and so does the next open."""
    s = CollectionSchema(enable_dynamic_field=True)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("tag", DataType.VARCHAR, max_length=16)
    s.add_field("doc", DataType.JSON, nullable=True)
    path = tmp_path / "db"
    db = Database.open(path)
    db.create_collection("c", s).insert(_text_rows(0, 500))
    db.close()
    db = Database.open(path)
    c = db.get_collection("c")
    c.insert(_text_rows(500, 300))
    if flush_between:
        db.flush()
    c.insert(_text_rows(800, 200))
    assert all(c._columns[k]._pending is not None for k in ("tag", "doc", "$meta"))
    want = [{"id": r["id"], "tag": r["tag"], "doc": r["doc"], "extra": r["extra"]} for r in _text_rows(0, 1000)]
    assert c.query("", output_fields=["tag", "doc", "extra"]) == want
    c.insert(_text_rows(1000, 10))   # after the decode: the ordinary path
    want += [{"id": r["id"], "tag": r["tag"], "doc": r["doc"], "extra": r["extra"]} for r in _text_rows(1000, 10)]
    db.close()
    db = Database.open(path)
    assert db.get_collection("c").query("", output_fields=["tag", "doc", "extra"]) == want
    db.close()
