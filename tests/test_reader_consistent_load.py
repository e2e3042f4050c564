"""A read-only open (and refresh) never serves a state the writer never had: a load the
writer's checkpoints race is read again until one pass saw nothing move, for at most
``database.READ_RETRY_S`` seconds, then a StorageError; damage on files that did not move is
raised at once.

The race is made deterministic: a real writer (another handle on the same path, in this
process) checkpoints and writes at the moment the reader has mapped a snapshot and is about to
read the log after it (``Storage.log_entries``, called through unchanged). The checkpoint
records a newer position than the reader's manifest and deletes the segments it covers, so that
pass would replay the log after the newer position onto the older snapshot: a batch missing
while a later one is there."""

from __future__ import annotations

import time

import numpy as np
import pytest

import embedb.engine.database as dbmod
from embedb.engine import Database, writelog
from embedb.engine.storage import Storage
from embedb.errors import StorageError
from embedb.schema import CollectionSchema, DataType

DIM = 4
BATCH = 5


def _schema() -> CollectionSchema:
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    return s


def _batch(b: int) -> list[dict]:
    return [{"id": b * BATCH + i, "v": np.full(DIM, b, dtype=np.float32)} for i in range(BATCH)]


def _ids(db: Database) -> list[int]:
    return sorted(r["id"] for r in db.get_collection("c").query(output_fields=["id"]))


class _Writer:
    """The writer: batches 0..n-1 inserted, each flushed but the last (it is in the log after
    the snapshot). ``race()`` flushes it and inserts the next: the snapshot moves past the
    batch a reader's older manifest lacks, and the segments holding it go."""

    def __init__(self, path, monkeypatch):
        monkeypatch.setattr(writelog, "SEGMENT_BYTES", 1)   # a segment per call: flush deletes them
        self.db = Database.open(path)
        self.coll = self.db.create_collection("c", _schema())
        self.n = 0
        for _ in range(3):
            self.race()

    def race(self) -> None:
        self.db.flush()
        self.coll.insert(_batch(self.n))
        self.n += 1

    def states(self) -> list[list[int]]:
        return [list(range(k * BATCH)) for k in range(self.n + 1)]


def _race_reader_loads(monkeypatch, writer: _Writer, times: float) -> list[int]:
    """Make the writer race each of the next ``times`` reader passes; returns the count."""
    left = [times]
    original = Storage.reader_records

    def reader_records(self):
        if self.read_only and left[0] > 0:
            left[0] -= 1
            writer.race()
        return original(self)

    monkeypatch.setattr(Storage, "reader_records", reader_records)
    return left


def test_a_reader_raced_by_checkpoints_reads_again_until_consistent(tmp_path, monkeypatch):
    writer = _Writer(tmp_path / "r.db", monkeypatch)
    _race_reader_loads(monkeypatch, writer, 12)   # more passes than the 8 tries of before
    ro = Database.open(tmp_path / "r.db", read_only=True)
    got = _ids(ro)
    assert got in writer.states(), f"a state the writer never had: {len(got)} rows, " \
                                   f"batches {sorted({i // BATCH for i in got})} of {writer.n}"
    assert got == writer.states()[-1]   # the races are over: the writer's state now
    # refresh takes the same way
    _race_reader_loads(monkeypatch, writer, 10)
    ro.refresh()
    assert _ids(ro) == writer.states()[-1]
    ro.close()
    writer.db.close()


def test_a_reader_raced_without_end_raises_instead_of_serving_a_mixed_state(tmp_path, monkeypatch):
    writer = _Writer(tmp_path / "e.db", monkeypatch)
    ro = Database.open(tmp_path / "e.db", read_only=True)
    before = _ids(ro)
    monkeypatch.setattr(dbmod, "READ_RETRY_S", 0.3)
    _race_reader_loads(monkeypatch, writer, float("inf"))
    with pytest.raises(StorageError, match="could not read a consistent state"):
        Database.open(tmp_path / "e.db", read_only=True)
    with pytest.raises(StorageError, match="could not read a consistent state"):
        ro.refresh()
    assert _ids(ro) == before   # a failed refresh keeps the state it had
    ro.close()
    writer.db.close()


def test_damage_that_does_not_move_is_raised_at_once(tmp_path, monkeypatch):
    path = tmp_path / "d.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.insert(_batch(0))
    db.flush()
    c.insert(_batch(1))
    db.close()
    manifest = path / "collections" / str(c.id) / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:-20])
    monkeypatch.setattr(dbmod, "READ_RETRY_S", 60.0)
    start = time.monotonic()
    with pytest.raises(StorageError, match="manifest.json is damaged"):
        Database.open(path, read_only=True)
    assert time.monotonic() - start < 10   # not retried for READ_RETRY_S
