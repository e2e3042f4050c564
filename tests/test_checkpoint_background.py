"""Automatic checkpoints on the background thread (engine/checkpointer.py): the write path's
guarantees stay exact. Differential against a Python model: rows, deletes and upserts while
background checkpoints run, then compaction, truncate and drop racing them; SIGKILL of a
writer whose checkpoints run in the background; a failing background checkpoint is reported
once and loses nothing."""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
import warnings

import numpy as np
import pytest
from kill_harness import batch_kill_loop

import embedb.engine.database as dbmod
from embedb.engine import Database, storage
from embedb.schema import CollectionSchema, DataType

DIM = 8


@pytest.fixture
def background(monkeypatch):
    """Checkpoint after ~40 KB of log, always on the background thread."""
    monkeypatch.setattr(dbmod, "CHECKPOINT_LOG_BYTES", 40_000)
    monkeypatch.setattr(dbmod, "BACKGROUND_CHECKPOINT_BYTES", 0)
    monkeypatch.setattr(dbmod, "BACKGROUND_LAG", 1_000_000)   # never fall back to inline


def _schema() -> CollectionSchema:
    s = CollectionSchema(enable_dynamic_field=True)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("t", DataType.VARCHAR, max_length=40, nullable=True)
    return s


def _rows(ids, rng) -> list[dict]:
    return [{"id": int(i), "v": rng.random(DIM, dtype=np.float32), "t": None if i % 7 == 0 else f"t{i}",
             "k": int(i) % 5} for i in ids]


def _state(db: Database) -> dict:
    c = db.get_collection("c")
    return {r["id"]: (tuple(np.float32(r["v"]).tolist()), r["t"], r.get("k"))
            for r in c.query(output_fields=["*"])}


def _as_model(rows: list[dict]) -> dict:
    return {r["id"]: (tuple(r["v"].tolist()), r["t"], r["k"]) for r in rows}


def _stored_rows(db: Database) -> int:
    """Rows the collection's manifest on disk covers (0 without one)."""
    m = db._storage.read_manifest(db.get_collection("c").id)
    return 0 if m is None else int(m["num_rows"])


def test_background_checkpoints_store_exactly_the_model(tmp_path, background):
    rng = np.random.default_rng(1)
    path = tmp_path / "bg.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    model: dict = {}
    next_id = 0
    for step in range(60):
        ids = range(next_id, next_id + 40)
        next_id += 40
        rows = _rows(ids, rng)
        c.insert(rows)
        model.update(_as_model(rows))
        if step % 4 == 1:   # deletes and upserts of older rows land between checkpoints
            gone = [int(i) for i in rng.choice(next_id, 10, replace=False)]
            c.delete(ids=gone)
            for i in gone:
                model.pop(i, None)
        if step % 5 == 2:
            again = _rows(rng.choice(next_id, 8, replace=False), rng)
            c.upsert(again)
            model.update(_as_model(again))
    assert db._checkpointer.wait_idle(30)
    assert _stored_rows(db) > 0, "no background checkpoint ran"
    # the log holds only what the newest background snapshot does not cover
    m = db._storage.read_manifest(c.id)
    assert all(seq > m["log_seq"] for seq, _ in db._storage.log_entries(c.id, 0))
    assert _state(db) == model
    db.close()
    db = Database.open(path)
    assert _state(db) == model
    db.close()


def test_compact_truncate_and_drop_racing_background_checkpoints(tmp_path, background):
    rng = np.random.default_rng(2)
    path = tmp_path / "race.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    model: dict = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def writer(start: int) -> None:
        r = np.random.default_rng(start)
        try:
            for b in range(25):
                rows = _rows(range(start + b * 20, start + b * 20 + 20), r)
                with lock:   # the model follows the order the writes commit in
                    c.insert(rows)
                    model.update(_as_model(rows))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in (0, 100_000)]
    for t in threads:
        t.start()
    for i in range(6):
        time.sleep(0.02)
        with lock:
            gone = [k for k in list(model)[:: 9]]
            c.delete(ids=gone) if gone else None
            for k in gone:
                model.pop(k, None)
            c.compact() if i % 2 == 0 else db.flush()
    for t in threads:
        t.join()
    assert not errors, errors
    assert db._checkpointer.wait_idle(30)
    assert _state(db) == model
    db.close()
    db = Database.open(path)
    assert _state(db) == model
    c = db.get_collection("c")
    c.insert(_rows(range(500_000, 500_300), rng))   # background checkpoints again, then truncate
    c.truncate()
    assert _state(db) == {}
    c.insert(_rows(range(600_000, 600_400), rng))
    db.drop_collection("c")                          # a drop waits for one in flight
    assert db._checkpointer.wait_idle(30)
    assert not (path / "collections" / str(c.id)).exists()
    db.close()
    db = Database.open(path)
    assert not db.has_collection("c")
    db.close()


class _BrokenDisk(storage.FileOps):
    """Every checkpoint file operation fails with ENOSPC (the write log is SQLite's)."""

    def open(self, path, mode):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_failing_background_checkpoint_is_reported_once_and_loses_nothing(tmp_path, background, monkeypatch):
    rng = np.random.default_rng(3)
    path = tmp_path / "full.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    model: dict = {}
    monkeypatch.setattr(storage, "fs", _BrokenDisk())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for b in range(30):
            rows = _rows(range(b * 30, b * 30 + 30), rng)
            c.insert(rows)   # stored: the call returns
            model.update(_as_model(rows))
            assert db._checkpointer.wait_idle(30)
    failures = [w for w in caught if "checkpoint of" in str(w.message)]
    assert len(failures) == 1, [str(w.message) for w in caught]
    assert _stored_rows(db) == 0 and _state(db) == model
    monkeypatch.setattr(storage, "fs", storage.FileOps())   # the disk works again
    more = _rows(range(5000, 5200), rng)
    c.insert(more)
    model.update(_as_model(more))
    assert db._checkpointer.wait_idle(30)
    assert _stored_rows(db) > 0
    db.close()
    db = Database.open(path)
    assert _state(db) == model
    db.close()


@pytest.mark.slow
def test_sigkill_during_background_checkpoints_loses_no_acknowledged_write(tmp_path):
    """The batch writer (tests/kill_batch_writer.py) with every automatic checkpoint on the
    background thread, killed 12 times from its start (kills land before its first batch
    too); after each kill a reader sees every acknowledged batch and none partially."""
    path = tmp_path / "kill.db"
    batch_kill_loop(path, rounds=12, seed=15, pause=(0.5, 1.5), dim=32, background=True,
                    wait_first=False, read_only=True)
    reader = Database.open(path, read_only=True)
    assert _stored_rows(reader) > 0, "the killed writers never checkpointed in the background"
    reader.close()
    writer_db = Database.open(path)   # a writer opens it too, and a checkpoint closes it
    writer_db.close()


def test_readers_see_every_acknowledged_batch_while_background_checkpoints_run(tmp_path, background):
    """A read-only handle opened (or refreshed) at any moment sees every batch acknowledged
    before, whole: the manifest it maps and the log it replays agree, even while the
    background thread appends, renames the manifest and trims the log."""
    path = tmp_path / "readers.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    acked = [0]
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        r = np.random.default_rng(4)
        try:
            b = 0
            while not stop.is_set() and b < 150:
                c.insert(_rows(range(b * 25, b * 25 + 25), r))
                b += 1
                acked[0] = b
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    reader = Database.open(path, read_only=True)
    checks = 0
    try:
        while t.is_alive() or checks < 3:
            before = acked[0]
            reader.refresh()
            ids = [r["id"] for r in reader.get_collection("c").query(output_fields=["id"])]
            assert len(ids) % 25 == 0 and len(ids) >= before * 25, (len(ids), before)
            assert sorted(ids) == list(range(len(ids)))
            checks += 1
    finally:
        stop.set()
        t.join()
        reader.close()
    assert not errors, errors
    assert db._checkpointer.wait_idle(30) and _stored_rows(db) > 0
    db.close()


@pytest.mark.slow   # about 30 reopenings
def test_column_data_fsynced_in_pieces_fails_exactly(tmp_path, monkeypatch):
    """A checkpoint appends column data in fsynced pieces: a failure at any of those steps
    leaves the old snapshot and the whole log (every row back after reopening), and a
    checkpoint that completes stores every byte."""
    from test_trust_diskfull import FailingFS

    monkeypatch.setattr(storage, "SYNC_PIECE_BYTES", 64)   # many pieces per file
    rng = np.random.default_rng(5)
    base = tmp_path / "base.db"
    db = Database.open(base)
    c = db.create_collection("c", _schema())
    first = _rows(range(0, 30), rng)
    c.insert(first)
    db.flush()
    more = _rows(range(30, 90), rng)
    c.insert(more)
    model = _as_model(first + more)
    db._storage.conn.close()   # as a killed process: the rows after the flush stay in the log
    db._lock_file.release()
    db._closed = True
    dbmod._open_writers.pop(os.path.realpath(db.path), None)
    shutil.copytree(base, tmp_path / "probe.db")
    probe = Database.open(tmp_path / "probe.db")   # count the file operations of one checkpoint
    counter = FailingFS(None)
    monkeypatch.setattr(storage, "fs", counter)
    probe.flush()
    total = counter.calls
    monkeypatch.setattr(storage, "fs", storage.FileOps())
    probe.close()
    assert total > 20
    for k in range(1, total + 1, 4):
        copy = tmp_path / f"k{k}.db"
        shutil.copytree(base, copy)
        db = Database.open(copy)
        monkeypatch.setattr(storage, "fs", FailingFS(k, errno.EIO))
        try:
            db.flush()
        except Exception as exc:  # noqa: BLE001 - a StorageError naming the failure
            assert "Input/output error" in str(exc), exc
        monkeypatch.setattr(storage, "fs", storage.FileOps())
        assert _state(db) == model, k
        db.close()
        db = Database.open(copy)
        assert _state(db) == model, k
        db.close()
