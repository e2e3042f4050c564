"""A read-only open and ``Database.refresh`` see every collection at one moment of the writer
(engine/reader_load.py): all snapshots are read first, then the write log once, so a write
the writer makes while the reader loads is seen in every collection or in none after it. A
refresh keeps a collection whose catalog entry and generation did not change and replays only
the entries after what it has; anything else loads the collection again.

The races are deterministic: a real writer (another handle on the same path, in this process)
writes at the moment the reader reads a manifest (``Storage.read_manifest``, called through
unchanged)."""

from __future__ import annotations

import numpy as np
import pytest
from test_writelog import DIM, _ids, _rows, _schema

from embedb.engine import Database, evolution, writelog
from embedb.engine.collection import Collection
from embedb.engine.storage import Storage
from embedb.schema import DataType, FieldSchema

def test_a_write_during_the_load_is_in_every_collection_after_it_or_in_none(tmp_path, monkeypatch):
    """The writer inserts batch k into "a", then into "b", at the moment the reader reads b's
    manifest. Read collection by collection, "a" would lack batch k while "b" has it: a state
    the writer never had."""
    path = tmp_path / "m.db"
    db = Database.open(path)
    a, b = db.create_collection("a", _schema()), db.create_collection("b", _schema())
    step = [0]

    def write_step() -> None:
        k = step[0]
        a.insert(_rows(range(k * 10, k * 10 + 10)))
        b.insert(_rows(range(k * 10, k * 10 + 10)))
        step[0] += 1

    for _ in range(2):
        write_step()
    db.flush()
    write_step()   # in the log after the snapshots
    original = Storage.read_manifest
    left = [3]

    def read_manifest(self, cid):
        if self.read_only and cid == b.id and left[0] > 0:
            left[0] -= 1
            write_step()
        return original(self, cid)

    monkeypatch.setattr(Storage, "read_manifest", read_manifest)
    ro = Database.open(path, read_only=True)
    got_a, got_b = _ids(ro, "a"), _ids(ro, "b")
    assert got_a == got_b == list(range(step[0] * 10)), (len(got_a), len(got_b))
    left[0] = 3
    ro.refresh()
    assert _ids(ro, "a") == _ids(ro, "b") == list(range(step[0] * 10))
    ro.close()
    db.close()


def test_a_raced_load_replays_the_log_once(tmp_path, monkeypatch):
    """Passes that a checkpoint raced are read again, but the log is replayed onto the columns
    once, after the pass that found nothing moved (the expensive part is not repeated)."""
    monkeypatch.setattr(writelog, "SEGMENT_BYTES", 1)   # a segment per call: a flush deletes them
    path = tmp_path / "r.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    n = [0]

    def race() -> None:
        db.flush()
        c.insert(_rows(range(n[0], n[0] + 5)))
        n[0] += 5

    for _ in range(3):
        race()
    original, left = Storage.reader_records, [6]

    def reader_records(self):
        if self.read_only and left[0] > 0:
            left[0] -= 1
            race()
        return original(self)

    replays = []
    real_replay = Collection._replay

    def replay(self, entries):
        entries = list(entries)
        replays.append(len(entries))
        return real_replay(self, entries)

    monkeypatch.setattr(Storage, "reader_records", reader_records)
    monkeypatch.setattr(Collection, "_replay", replay)
    ro = Database.open(path, read_only=True)
    assert left[0] == 0   # every race happened
    assert _ids(ro, "c") == list(range(n[0]))
    assert replays == [1]   # the batch after the last snapshot, replayed once
    ro.close()
    db.close()


def _reader_beside(tmp_path):
    path = tmp_path / "k.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.insert(_rows(range(10)))
    db.flush()
    c.insert(_rows(range(10, 20)))
    return db, c, Database.open(path, read_only=True)


def test_a_refresh_keeps_an_unchanged_collection_and_replays_only_what_is_new(tmp_path, monkeypatch):
    db, c, ro = _reader_beside(tmp_path)
    kept = ro.get_collection("c")
    replays = []
    real_replay = Collection._replay

    def replay(self, entries):
        entries = list(entries)
        replays.append([seq for seq, _ in entries])
        return real_replay(self, entries)

    monkeypatch.setattr(Collection, "_replay", replay)
    c.insert(_rows(range(20, 30)))
    c.delete(ids=[3, 25])
    ro.refresh()
    assert ro.get_collection("c") is kept
    assert replays == [[c._applied_seq - 1, c._applied_seq]]   # the two new calls only
    assert _ids(ro, "c") == sorted(set(range(30)) - {3, 25})
    # a checkpoint that covers no more than the reader has: kept, the entry after it replayed
    db.flush()
    c.insert(_rows(range(30, 35)))
    ro.refresh()
    assert ro.get_collection("c") is kept
    assert _ids(ro, "c") == sorted(set(range(35)) - {3, 25})
    # one that covers more than the reader has (entries it lacks may be gone): loaded again
    c.insert(_rows(range(35, 40)))
    db.flush()
    ro.refresh()
    assert ro.get_collection("c") is not kept
    assert _ids(ro, "c") == sorted(set(range(40)) - {3, 25})
    ro.close()
    db.close()


@pytest.mark.parametrize("change", ["compact", "truncate", "add_field", "recreate", "drop_partition"])
def test_a_refresh_loads_a_changed_collection_again(tmp_path, change):
    db, c, ro = _reader_beside(tmp_path)
    kept = ro.get_collection("c")
    expect = list(range(20))
    if change == "compact":   # a new generation: row numbers change
        c.delete(ids=list(range(5)))
        c.compact()
        expect = list(range(5, 20))
    elif change == "truncate":
        c.truncate()
        c.insert(_rows([7]))
        expect = [7]
    elif change == "add_field":
        evolution.add_field(c, FieldSchema("tag", DataType.VARCHAR, max_length=8, nullable=True))
        c.insert([{"id": 99, "v": np.zeros(DIM, np.float32), "tag": "x"}])
        expect = list(range(20)) + [99]
    elif change == "recreate":
        db.drop_collection("c")
        c = db.create_collection("c", _schema())
        c.insert(_rows([1, 2]))
        expect = [1, 2]
    elif change == "drop_partition":
        c.create_partition("p")
        c.insert(_rows([50, 51]), partition="p")
        ro.refresh()
        kept = ro.get_collection("c")
        c.release()
        c.drop_partition("p")
    ro.refresh()
    got = ro.get_collection("c")
    assert got is not kept
    assert _ids(ro, "c") == expect
    if change == "add_field":
        assert got.query("id == 99", output_fields=["tag"])[0]["tag"] == "x"
    ro.close()
    db.close()
