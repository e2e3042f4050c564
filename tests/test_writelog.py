"""The write calls' log records in wlog/ segment files (engine/writelog.py): a torn end is the
call in flight (absent, and cut off before the next write), a segment the catalog lists that is
missing or of another length is an error naming it, full segments are sealed and deleted once a
snapshot covers them, readers and refresh() see the writer's records, and partition drops (rows
of SQLite's log) replay in order with them."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from embedb.engine import Database, writelog
from embedb.engine.check import check_database
from embedb.errors import StorageError
from embedb.schema import CollectionSchema, DataType
from test_durability_log_format import _abandon, wlog_scan

DIM = 8


def _schema() -> CollectionSchema:
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    return s


def _rows(ids) -> list[dict]:
    return [{"id": int(i), "v": np.full(DIM, i, dtype=np.float32)} for i in ids]


def _ids(db: Database, name: str = "c") -> list[int]:
    return sorted(r["id"] for r in db.get_collection(name).query(output_fields=["id"]))


def _registry(path) -> dict:
    con = sqlite3.connect(path / "embedb.sqlite3")
    try:
        return {k[5:]: (int(v) if v else None) for k, v in con.execute("SELECT key, value FROM meta WHERE key LIKE 'wlog/%'")}
    finally:
        con.close()


def _a_segment_per_call(path, monkeypatch, calls: int) -> Database:
    """A writer on ``path`` whose collection "c" took ``calls`` calls of 10 rows (ids 0 on),
    each in a segment of its own; still open."""
    monkeypatch.setattr(writelog, "SEGMENT_BYTES", 1)   # a segment per call
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    for b in range(calls):
        c.insert(_rows(range(b * 10, b * 10 + 10)))
    return db


def crashed_with_a_torn_end(path) -> tuple:
    """A database whose writer crashed after three acknowledged calls (ids 0-29) while a
    fourth was being appended: (its one segment, the segment's length before the torn end)."""
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    for b in range(3):
        c.insert(_rows(range(b * 10, b * 10 + 10)))
    _abandon(db)
    [segment] = writelog.segment_files(path)
    whole = segment.stat().st_size
    payload = b"EMBLOG3\n" + bytes(500)
    with open(segment, "ab") as fh:   # the fourth call, cut short by the crash
        fh.write((writelog.head(999, 1, payload) + payload)[:300])
    return segment, whole


def test_a_torn_end_is_the_call_in_flight_absent_and_cut_off(tmp_path):
    path = tmp_path / "t.db"
    segment, whole = crashed_with_a_torn_end(path)
    ro = Database.open(path, read_only=True)   # a reader drops it, and changes nothing
    assert _ids(ro) == list(range(30))
    ro.close()
    assert segment.stat().st_size == whole + 300
    db = Database.open(path)
    assert _ids(db) == list(range(30)) and segment.stat().st_size == whole   # cut off
    assert _registry(path)[segment.name] == whole   # sealed: a new segment takes the next call
    db.get_collection("c").insert(_rows(range(30, 40)))
    _abandon(db)
    db = Database.open(path)
    assert _ids(db) == list(range(40))
    db.close()


def test_a_listed_segment_missing_or_of_another_length_is_an_error_naming_it(tmp_path, monkeypatch):
    path = tmp_path / "m.db"
    db = _a_segment_per_call(path, monkeypatch, 4)
    _abandon(db)
    segs = writelog.segment_files(path)
    assert len(segs) == 4
    reg = _registry(path)
    assert [reg[p.name] for p in segs[:3]] == [p.stat().st_size for p in segs[:3]] and reg[segs[3].name] is None
    raw = segs[1].read_bytes()
    segs[1].write_bytes(raw[:-50])   # a sealed segment cut short: not a crash
    for read_only in (True, False):
        with pytest.raises(StorageError, match=rf"{segs[1].name} is damaged: \d+ bytes, the catalog records"):
            Database.open(path, read_only=read_only)
    segs[1].write_bytes(raw)
    segs[3].unlink()   # the newest, deleted
    with pytest.raises(StorageError, match=rf"{segs[3].name} is missing \(the catalog lists it"):
        Database.open(path)
    from click.testing import CliRunner

    from embedb.cli import cli
    result = CliRunner().invoke(cli, ["check", str(path), "--json"])
    assert result.exit_code == 1 and f"wlog/{segs[3].name}" in result.output, result.output


def test_full_segments_are_sealed_and_deleted_once_covered(tmp_path, monkeypatch):
    monkeypatch.setattr(writelog, "SEGMENT_BYTES", 3000)
    path = tmp_path / "r.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    d = db.create_collection("d", _schema())
    for b in range(20):
        (c if b % 2 else d).insert(_rows(range(b * 10, b * 10 + 10)))
    assert len(writelog.segment_files(path)) > 3
    c.delete(ids=[11])
    db.flush()   # both collections covered: every closed segment goes
    assert len(writelog.segment_files(path)) == 1 and list(_registry(path).values()) == [None]
    assert db._storage.log_entries(c.id, 0) == [] and db._storage.log_entries(d.id, 0) == []
    c.insert(_rows([500]))
    db.close()   # the newest too, sealed and covered
    assert writelog.segment_files(path) == [] and _registry(path) == {}
    db = Database.open(path, read_only=True)
    assert _ids(db, "c") == sorted(set(range(10, 200, 20)).union(*[range(b * 10, b * 10 + 10) for b in range(1, 20, 2)]) - {11} | {500})
    db.close()


def test_a_segment_stays_while_a_collection_it_holds_is_not_covered(tmp_path, monkeypatch):
    monkeypatch.setattr(writelog, "SEGMENT_BYTES", 1)
    path = tmp_path / "k.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    d = db.create_collection("d", _schema())
    c.insert(_rows(range(10)))
    d.insert(_rows(range(10)))
    c.insert(_rows(range(10, 20)))
    db.flush("c")   # only c's snapshot: d's record keeps its segment
    names = {p.name for p in writelog.segment_files(path)}
    assert len(names) == 2   # d's (closed, not covered) and the newest
    db.drop_collection("d")   # its records are no one's now
    c.insert(_rows(range(20, 30)))
    db.flush("c")
    assert len(writelog.segment_files(path)) == 1
    db.close()
    db = Database.open(path)
    assert _ids(db) == list(range(30)) and not db.has_collection("d")
    db.close()


def test_a_reader_and_refresh_see_the_writers_records(tmp_path, monkeypatch):
    monkeypatch.setattr(writelog, "SEGMENT_BYTES", 2000)
    path = tmp_path / "rd.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.insert(_rows(range(10)))
    ro = Database.open(path, read_only=True)
    assert _ids(ro) == list(range(10))
    for b in range(1, 8):
        c.insert(_rows(range(b * 10, b * 10 + 10)))
    c.delete(ids=[3])
    ro.refresh()
    assert _ids(ro) == [i for i in range(80) if i != 3]
    db.flush()   # segments deleted under the reader's feet
    c.insert(_rows(range(80, 90)))
    ro.refresh()
    assert _ids(ro) == [i for i in range(90) if i != 3]
    ro.close()
    db.close()


def test_partition_drops_replay_in_order_with_the_records(tmp_path):
    path = tmp_path / "p.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.create_partition("p")
    c.insert(_rows(range(10)), partition="p")
    c.insert(_rows(range(10, 20)))
    c.drop_partition("p")   # a row of SQLite's log, between wlog records
    c.create_partition("p")
    c.insert(_rows(range(20, 25)), partition="p")
    c.insert(_rows(range(5)))   # ids of the dropped partition, again
    expect = _ids(db)
    assert expect == list(range(5)) + list(range(10, 25))
    _abandon(db)
    db = Database.open(path)
    assert _ids(db) == expect and db.get_collection("c").partition_num_rows("p") == 5
    db.close()


def test_at_process_a_synced_catalog_change_makes_earlier_calls_durable_first(tmp_path):
    path = tmp_path / "o.db"
    db = Database.open(path, durability="process")
    c = db.create_collection("c", _schema())
    c.insert(_rows(range(10)))
    side = db._storage._side
    assert side.dirty   # in the page cache only
    c.create_partition("p")   # a synced commit: a power cut must not keep it without the insert
    assert not side.dirty
    c.insert(_rows(range(10, 20)))
    assert side.dirty
    db.close()
    db = Database.open(path)
    assert _ids(db) == list(range(20))
    db.close()


def test_a_record_that_cannot_be_written_stores_nothing(tmp_path):
    """A real failing write: the file-size limit (RLIMIT_FSIZE) in a child process stops the
    append part way; the call fails, the segment ends with the last acknowledged record, and
    the next call (limit lifted) and a reopen see exactly the acknowledged ones."""
    import subprocess
    import sys
    import textwrap

    child = textwrap.dedent("""
        import resource, signal, sys
        import numpy as np
        from embedb.engine import Database
        from embedb.errors import StorageError
        from embedb.schema import CollectionSchema, DataType
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        s = CollectionSchema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=64)
        db = Database.open(sys.argv[1])
        c = db.create_collection("c", s)
        rows = lambda ids: [{"id": i, "v": np.full(64, i, np.float32)} for i in ids]
        c.insert(rows(range(100)))   # opens the segment
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (db._storage._side.size + 5000, hard))
        try:
            c.insert(rows(range(100, 300)))
            print("stored")
        except StorageError as exc:
            print("failed:", exc.message)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        c.insert(rows(range(300, 310)))
        print(sorted(r["id"] for r in c.query(output_fields=["id"]))[-1], len(c.query(output_fields=["id"])))
        import os
        os._exit(0)   # no checkpoint: the next open replays the log
    """)
    path = tmp_path / "f.db"
    done = subprocess.run([sys.executable, "-c", child, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("failed: writing the write log") and "nothing of this call was stored" in lines[0]
    assert lines[1] == "309 110"
    db = Database.open(path)
    assert _ids(db) == list(range(100)) + list(range(300, 310))
    db.close()


def test_a_lost_or_replaced_catalog_never_costs_a_segment(tmp_path):
    path = tmp_path / "l.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.insert(_rows(range(10)))
    _abandon(db)
    # a catalog replaced by a copy from before the segment existed: refused, the file kept
    con = sqlite3.connect(path / "embedb.sqlite3")
    with con:
        con.execute("DELETE FROM meta WHERE key LIKE 'wlog/%'")
    con.close()
    [segment] = writelog.segment_files(path)
    problems, _ = check_database(path)   # embedb check says what the open refuses
    assert [(p["file"], p["kind"]) for p in problems] == [(f"wlog/{segment.name}", "log")], problems
    assert "not listed by the catalog but holds writes" in problems[0]["problem"]
    with pytest.raises(StorageError, match=rf"{segment.name} is not listed by the catalog .* holds writes"):
        Database.open(path)
    assert segment.exists()
    for name in ("embedb.sqlite3-wal", "embedb.sqlite3-shm"):
        (path / name).unlink(missing_ok=True)
    (path / "embedb.sqlite3").unlink()   # lost: not an empty new database over the segments
    with pytest.raises(StorageError, match="is missing but .*wlog holds write log segments"):
        Database.open(path)
    assert segment.exists()


def test_an_unlisted_covered_segment_is_a_leftover_not_damage(tmp_path, monkeypatch):
    """A deletion cut short (the catalog let go of the segment, the file stayed): embedb check
    reports nothing, and the next writer removes the file."""
    path = tmp_path / "u.db"
    db = _a_segment_per_call(path, monkeypatch, 3)
    first = writelog.segment_files(path)[0]
    kept = first.read_bytes()
    db.flush()   # a snapshot covers every call: their segments go
    db.close()
    assert not first.exists()
    first.write_bytes(kept)
    assert check_database(path)[0] == []
    db = Database.open(path)
    assert _ids(db) == list(range(30)) and not first.exists()
    db.close()
