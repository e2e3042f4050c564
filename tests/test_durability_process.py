"""durability="process": write calls append their log records without fsync (wlog/ segment files,
in the OS page cache). What such a call promises is that it survives kill -9 of the process; what
a power cut may tear is the unsynced end of the write log, and the database must then open with
a prefix of the calls."""

from __future__ import annotations

import os
import time

import pytest
from kill_harness import batch_kill_loop, crashed_with_wal

from embedb import MilvusClient
from embedb.engine import Database, writelog
from embedb.errors import ParamError
from embedb.schema import CollectionSchema, DataType


def test_sigkill_in_process_mode_loses_no_acknowledged_write(tmp_path):
    """The kill -9 loop of test_durability, in "process" mode (kills land inside inserts,
    deletes and the frequent checkpoints the writer is set up for)."""
    kills, acked = batch_kill_loop(tmp_path / "crash.db", rounds=8, seed=11, pause=(0.0, 0.3),
                                   durability="process")
    assert kills >= 7 and len(acked) > 8


def test_bad_durability_is_an_error_naming_the_levels_and_creates_nothing(tmp_path):
    for bad in ("none", "FSYNC", None, 1):
        with pytest.raises(ParamError, match="durability must be one of 'fsync', 'process'"):
            Database.open(tmp_path / "a.db", durability=bad)
        with pytest.raises(ParamError, match="durability must be one of 'fsync', 'process'"):
            MilvusClient(str(tmp_path / "b.db"), durability=bad)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ParamError, match="durability must be one of"):
        Database.open(None, durability="power")


def test_the_level_is_reported_and_a_shared_open_keeps_the_stronger_one(tmp_path):
    path = tmp_path / "s.db"
    a = MilvusClient(str(path), durability="process")
    assert a._db.durability == "process"
    b = MilvusClient(str(path), durability="process")
    assert b._db is a._db and a._db.durability == "process"
    c = MilvusClient(str(path))   # the default, "fsync", is stronger: the shared database takes it
    assert c._db is a._db and a._db.durability == "fsync"
    d = MilvusClient(str(path), durability="process")   # never weakened while shared
    assert d._db.durability == "fsync"
    for client in (a, b, c, d):
        client.close()
    assert Database.open(None, durability="process").durability == "process"


def test_process_mode_rows_round_trip_through_checkpoints_and_reopen(tmp_path):
    path = tmp_path / "r.db"
    db = Database.open(path, durability="process")
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    c = db.create_collection("c", s)
    c.insert([{"id": i, "v": [float(i)] * 4} for i in range(100)])
    db.flush()   # a checkpoint (its manifest written after the log is synced)
    c.insert([{"id": 100 + i, "v": [1.0] * 4} for i in range(50)])
    c.delete(ids=[0, 120])
    db.close()
    db = Database.open(path)   # any level opens it
    assert db.durability == "fsync"
    ids = sorted(r["id"] for r in db.get_collection("c").query(output_fields=["id"]))
    assert ids == [i for i in range(150) if i not in (0, 120)]
    db.close()


@pytest.mark.parametrize("level", ["fsync", "process"])
def test_a_torn_write_log_opens_with_a_prefix_only_after_process_mode(tmp_path, level):
    """A power cut during "process" writes can leave a damaged record with a later intact one
    on disk (unsynced pages reach the disk in any order): that database opens with the calls
    before the damage, whole. After "fsync" writes the same picture is damage, and is refused
    with an error naming the segment file."""
    import shutil

    from embedb.errors import StorageError

    base = tmp_path / "wal.db"
    crashed_with_wal(base, level)   # four 300-row calls, then the writer dies
    [segment] = writelog.segment_files(base)
    from test_durability_log_format import wlog_scan

    records = wlog_scan(base).records
    assert len(records) == 4
    copy = tmp_path / "torn.db"
    shutil.copytree(base, copy)
    raw = bytearray(segment.read_bytes())
    raw[records[-2].offset + 100] ^= 0xFF   # the third insert's record, with the fourth intact after it
    (copy / writelog.DIR / segment.name).write_bytes(bytes(raw))
    if level == "fsync":
        with pytest.raises(StorageError, match=r"wlog/0+\d+\.log holds a record whose checksum"):
            Database.open(copy)
        return
    db = Database.open(copy)
    ids = sorted(r["id"] for r in db.get_collection("c").query(output_fields=["id"]))
    db.close()
    whole = [b * 1000 + i for b in range(4) for i in range(300)]
    assert ids == whole[:600]   # a prefix of whole calls: the two before the damage
    db = Database.open(copy)   # the damaged end was cut off: it opens again, and takes writes
    db.get_collection("c").insert([{"id": 9999, "v": [0.0] * 64}])
    db.close()
    db = Database.open(copy, read_only=True)
    assert sorted(r["id"] for r in db.get_collection("c").query(output_fields=["id"])) == whole[:600] + [9999]
    db.close()


def test_serve_takes_the_level_and_refuses_another(tmp_path):
    pytest.importorskip("grpc")
    from click.testing import CliRunner

    from embedb.cli import cli
    from embedb.server import MilvusServer

    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "x.db"), "--durability", "power"])
    assert result.exit_code == 2 and "--durability" in result.output
    assert not (tmp_path / "x.db").exists()
    server = MilvusServer(str(tmp_path / "s.db"), port=0, durability="process")
    try:
        assert server._client._db.durability == "process"
    finally:
        server.stop(0)


@pytest.mark.parametrize("background", [False, True])
def test_a_process_mode_checkpoint_syncs_the_log_before_renaming_its_manifest(tmp_path, monkeypatch, background):
    """What keeps a power cut from leaving a manifest ahead of the log: an fsync of SQLite's
    WAL file (which holds every unsynced commit, written in order) comes before the rename.
    Watched through SQLite's statement trace and the file layer every checkpoint goes through."""
    import embedb.engine.database as dbmod
    from embedb.engine import storage as storage_mod

    path = tmp_path / "o.db"
    db = Database.open(path, durability="process")
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=64)
    c = db.create_collection("c", s)
    events: list[str] = []
    db._storage.conn.set_trace_callback(lambda sql: events.append(sql.strip().split("\n")[0]))
    real, real_fsync = storage_mod.fs.replace, storage_mod.fs.fsync

    def replace(src, dst):
        events.append(f"rename {os.path.basename(str(dst))}")
        real(src, dst)

    def fsync(fh):
        events.append(f"fsync {os.path.basename(str(fh.name))}")
        real_fsync(fh)

    monkeypatch.setattr(storage_mod.fs, "replace", replace)
    monkeypatch.setattr(storage_mod.fs, "fsync", fsync)
    real_append, real_sync = writelog.Appender.append, writelog.Appender.sync

    def append(self, seq, cid, payload, sync):   # the real append, watched
        events.append(f"append wlog sync={sync}")
        return real_append(self, seq, cid, payload, sync)

    def sync(self):
        if self.dirty:
            events.append("sync wlog")
        real_sync(self)

    monkeypatch.setattr(writelog.Appender, "append", append)
    monkeypatch.setattr(writelog.Appender, "sync", sync)
    if background:   # the background checkpointer, as a large log wakes it
        monkeypatch.setattr(dbmod, "CHECKPOINT_LOG_BYTES", 4 * 1024 * 1024)
    for b in range(30 if background else 3):
        c.insert([{"id": b * 1000 + i, "v": [float(i)] * 64} for i in range(1000)])
    if background:
        deadline = time.time() + 30
        while "rename manifest.json" not in events and time.time() < deadline:
            time.sleep(0.05)
        assert db._checkpointer.wait_idle(timeout=30)   # its trim, after the rename, too
    else:
        db.flush()
    assert "rename manifest.json" in events
    logged = [i for i, e in enumerate(events) if e.startswith("append wlog")]
    first_rename = events.index("rename manifest.json")
    assert logged and logged[0] < first_rename
    assert all(events[i] == "append wlog sync=False" for i in logged)   # the inserts' own records
    # the sync: the write log fdatasynced between the log entries and the rename (inserts
    # racing a background checkpoint may append, unsynced, in between: not in its job)
    assert "sync wlog" in events[logged[0]:first_rename]
    # and the trim that records the snapshot is made durable after the rename
    record = max(i for i, e in enumerate(events) if "INTO checkpoints" in e)
    assert "fsync embedb.sqlite3-wal" in events[record:]
    db._storage.conn.set_trace_callback(None)
    db.close()
