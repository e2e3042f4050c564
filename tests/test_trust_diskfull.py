"""Disk full and I/O errors: the outcome of every write call is exact.

If a call raises, nothing of it is stored; if it returns, it is stored, whatever fails after
its commit (an automatic checkpoint is retried later and reported once, as a warning). Two
ways to make the disk fail: a file layer in front of ``engine.storage.fs`` that fails the k-th
open/write/truncate/fsync/rename/mkdir of a checkpoint, for every k, with ENOSPC and with EIO;
and a real, small tmpfs that fills up (needs root; skipped where mounting is refused)."""

from __future__ import annotations

import errno
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from kill_harness import mounted_tmpfs

import embedb.engine.database as dbmod
from embedb.engine import Database, storage
from embedb.errors import StorageError
from embedb.schema import CollectionSchema, DataType

DIM = 4


class _File:
    """A file object whose writes, truncates and fsyncs go through the failing layer."""

    def __init__(self, layer: "FailingFS", fh) -> None:
        self._layer, self._fh = layer, fh

    def write(self, data):
        self._layer.step("write")
        return self._fh.write(data)

    def truncate(self, size=None):
        self._layer.step("truncate")
        return self._fh.truncate(size)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


class FailingFS(storage.FileOps):
    """Counts file-system calls; the ``fail_at``-th one (and, when ``sticky``, every later one,
    as a full disk would) raises OSError(code)."""

    def __init__(self, fail_at: int | None, code: int = errno.ENOSPC, sticky: bool = False) -> None:
        self.fail_at, self.code, self.sticky, self.calls = fail_at, code, sticky, 0

    def step(self, what: str) -> None:
        self.calls += 1
        if self.fail_at is not None and (self.calls == self.fail_at or (self.sticky and self.calls > self.fail_at)):
            raise OSError(self.code, f"{os.strerror(self.code)} (injected at {what} #{self.calls})")

    def open(self, path, mode):
        self.step("open")
        return _File(self, super().open(path, mode))

    def fsync(self, fh):
        self.step("fsync")
        super().fsync(fh._fh if isinstance(fh, _File) else fh)

    def replace(self, src, dst):
        self.step("rename")
        super().replace(src, dst)

    def mkdir(self, path):
        self.step("mkdir")
        super().mkdir(path)


def _schema() -> CollectionSchema:
    s = CollectionSchema(enable_dynamic_field=True)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("t", DataType.VARCHAR, max_length=40, nullable=True)
    return s


def _rows(start: int, n: int) -> list[dict]:
    return [{"id": i, "v": [i, 1, 2, 3], "t": None if i % 3 == 0 else f"t{i}", "k": i % 5}
            for i in range(start, start + n)]


def _state(db: Database) -> dict:
    c = db.get_collection("c")
    return {r["id"]: (r["v"], r["t"], r.get("k")) for r in c.query(output_fields=["*"])}


def _abandon(db: Database) -> None:
    """Leave the database as a killed process would: no checkpoint, the log stays."""
    db._storage.conn.close()
    db._lock_file.release()
    db._closed = True
    dbmod._open_writers.pop(os.path.realpath(db.path), None)


@pytest.fixture
def template(tmp_path) -> Path:
    """A database with a snapshot, more rows and deletes in the log, closed as by a crash."""
    path = tmp_path / "template.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.insert(_rows(0, 50))
    db.flush()
    c.insert(_rows(50, 30))
    c.delete(ids=[1, 2, 55])
    c.upsert([{"id": 3, "v": [9, 9, 9, 9], "t": "up"}])
    _abandon(db)
    return path


@pytest.fixture
def fail_layer(monkeypatch):
    def install(layer):
        monkeypatch.setattr(storage, "fs", layer)
        return layer
    yield install
    monkeypatch.setattr(storage, "fs", storage.FileOps())


def _checkpoint_calls(template: Path, tmp_path: Path, fail_layer) -> int:
    copy = tmp_path / "count.db"
    shutil.copytree(template, copy)
    db = Database.open(copy)
    counter = fail_layer(FailingFS(None))
    db.flush()
    fail_layer(storage.FileOps())
    db.close()
    assert counter.calls > 5
    return counter.calls


@pytest.mark.slow   # every k: about 30 reopenings per error code
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_failing_automatic_checkpoint_never_fails_the_stored_write(template, tmp_path, fail_layer, monkeypatch, code):
    monkeypatch.setattr(dbmod, "CHECKPOINT_LOG_BYTES", 1)   # every write checkpoints
    total = _checkpoint_calls(template, tmp_path, fail_layer)
    for k in range(1, total + 1):
        for crash in ((k % 2 == 0),):   # then a clean close or a crash, on alternate k
            copy = tmp_path / f"k{k}{crash}.db"
            shutil.copytree(template, copy)
            db = Database.open(copy)
            model = _state(db)
            fail_layer(FailingFS(k, code, sticky=True))   # the disk stays broken
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                c = db.get_collection("c")
                assert c.insert(_rows(100, 5)) == list(range(100, 105))   # stored: it returns
                assert c.delete(ids=[4]) == 1
                assert c.insert(_rows(200, 2)) == [200, 201]
            failures = [w for w in caught if "checkpoint" in str(w.message)]
            assert len(failures) == 1, [str(w.message) for w in failures]   # it failed, reported once
            model.update({r["id"]: ([float(x) for x in r["v"]], r["t"], r["k"]) for r in _rows(100, 5) + _rows(200, 2)})
            del model[4]
            assert _state(db) == model
            fail_layer(storage.FileOps())                 # the disk works again
            if crash:
                _abandon(db)
            else:
                c.insert(_rows(300, 1))                   # the retried checkpoint succeeds
                model[300] = ([300.0, 1.0, 2.0, 3.0], None, 0)
                db.close()
            db = Database.open(copy)
            assert _state(db) == model, f"k={k} crash={crash}"
            db.close()
            shutil.rmtree(copy)


@pytest.mark.slow
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_explicit_flush_truncate_and_compact_raise_and_change_nothing(template, tmp_path, fail_layer, code):
    total = _checkpoint_calls(template, tmp_path, fail_layer)
    for k in range(1, total + 1, 2):
        for op in ("flush", "truncate", "compact"):
            copy = tmp_path / f"{op}{k}.db"
            shutil.copytree(template, copy)
            db = Database.open(copy)
            model = _state(db)
            c = db.get_collection("c")
            fail_layer(FailingFS(k, code))
            try:
                getattr(db if op == "flush" else c, op)()
                done = True
            except StorageError as exc:
                assert os.strerror(code) in exc.message
                done = False
            fail_layer(storage.FileOps())
            expected = {} if op == "truncate" and done else model
            assert _state(db) == expected, f"{op} k={k}"
            _abandon(db)
            db = Database.open(copy)
            assert _state(db) == expected, f"{op} k={k} after reopening"
            db.close()
            shutil.rmtree(copy)


def test_a_checkpoint_that_keeps_failing_is_reported_once(template, fail_layer, monkeypatch):
    monkeypatch.setattr(dbmod, "CHECKPOINT_LOG_BYTES", 1)
    db = Database.open(template)
    c = db.get_collection("c")
    fail_layer(FailingFS(1, errno.ENOSPC, sticky=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(5):
            c.insert(_rows(1000 + i, 1))
        db.close()   # its checkpoint fails too: still no exception, the log keeps everything
    assert len([w for w in caught if "checkpoint of" in str(w.message)]) == 1
    fail_layer(storage.FileOps())
    db = Database.open(template)
    assert {1000, 1004} <= set(_state(db))
    db.close()


# ---------------------------------------------------------------- a real full disk
@pytest.fixture
def small_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path, "3m")


def test_a_full_tmpfs_stores_exactly_the_acknowledged_writes(small_disk, monkeypatch):
    monkeypatch.setattr(dbmod, "CHECKPOINT_LOG_BYTES", 64 * 1024)   # checkpoints while filling up
    path = small_disk / "full.db"
    ballast = small_disk / "ballast"
    ballast.write_bytes(bytes(512 * 1024))   # freed at the end, as a user would make room
    rng = np.random.default_rng(0)
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=64)
    c = db.create_collection("c", s)
    model: dict[int, list[float]] = {}
    refused = 0
    next_id = 0
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        for _ in range(400):
            batch = [{"id": next_id + i, "v": rng.random(64, dtype=np.float32)} for i in range(200)]
            next_id += 200
            try:
                c.insert(batch)
            except StorageError as exc:   # nothing of it stored; any other exception fails the test
                assert "full" in exc.message.lower() or "space" in exc.message.lower(), exc.message
                refused += 1
                if refused >= 5:
                    break
                continue
            model.update({r["id"]: r["v"].tolist() for r in batch})
        assert refused >= 1, "the disk never filled up"
        assert set(r["id"] for r in c.query(output_fields=["id"])) == set(model)
        db.close()   # may not manage to checkpoint: a warning, never an exception
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:   # still full: opening may work, or fail with a clear error; nothing is lost
            Database.open(path).close()
        except StorageError as exc:
            assert "free space" in exc.message, exc.message
    ballast.unlink()
    db = Database.open(path)
    got = {r["id"]: r["v"] for r in db.get_collection("c").query(output_fields=["id", "v"])}
    assert set(got) == set(model)
    assert all(np.allclose(got[i], model[i]) for i in list(model)[:: max(1, len(model) // 50)])
    db.close()
