"""Crash safety and process rules on a real directory: SIGKILL at random moments, the write
lock against a second writer process, readers beside a writer."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from kill_harness import batch_kill_loop

from embedb.engine import Database
from embedb.errors import DatabaseLockedError
from embedb.schema import CollectionSchema, DataType

@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_write(tmp_path):
    """The batch writer (tests/kill_batch_writer.py: inserts, a delete every fifth batch,
    inline checkpoints every ~200 KB) killed 22 times; after each kill the database opens as a
    writer with every acknowledged batch and none partially (kill_harness.batch_kill_loop)."""
    kills, acked = batch_kill_loop(tmp_path / "crash.db", rounds=22, seed=7, pause=(0.0, 0.35))
    assert kills >= 20
    assert len(acked) > 40


def _hold_writer(path) -> subprocess.Popen:
    code = textwrap.dedent(
        f"""
        import sys, time
        from embedb.engine import Database
        db = Database.open({str(path)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        db.close()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_second_writer_process_gets_error_naming_the_holder(tmp_path):
    path = tmp_path / "lock.db"
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    db.create_collection("c", s).insert([{"id": 1, "v": [1, 2]}])
    db.close()
    holder = _hold_writer(path)
    try:
        with pytest.raises(DatabaseLockedError) as info:
            Database.open(path)
        assert f"pid {holder.pid}" in info.value.message
        assert "read_only=True" in info.value.message
        reader = Database.open(path, read_only=True)  # readers may open it meanwhile
        assert reader.get_collection("c").query(output_fields=["id"]) == [{"id": 1}]
        reader.close()
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    Database.open(path).close()  # the lock is free again once the holder closed


def test_lock_is_released_when_the_holder_is_killed(tmp_path):
    path = tmp_path / "k.db"
    holder = _hold_writer(path)
    holder.kill()
    holder.wait()
    Database.open(path).close()


def test_reader_process_sees_a_writers_acknowledged_rows(tmp_path):
    path = tmp_path / "rw.db"
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    c = db.create_collection("c", s)
    c.insert([{"id": i, "v": [i, 0]} for i in range(10)])
    db.flush()
    c.insert([{"id": i, "v": [i, 0]} for i in range(10, 15)])  # only in the log
    code = textwrap.dedent(
        f"""
        from embedb.engine import Database
        db = Database.open({str(path)!r}, read_only=True)
        c = db.get_collection("c")
        print(c.num_rows, c.query(ids=[12], output_fields=["v"])[0]["v"])
        db.close()
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(maxsplit=1) == ["15", "[12.0, 0.0]\n"]
    db.close()


def test_interrupted_checkpoint_leftovers_are_ignored(tmp_path):
    """Bytes appended past a part file's valid length (a checkpoint killed before its manifest
    was renamed) must not show up, and the next checkpoint overwrites them."""
    path = tmp_path / "ck.db"
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    c = db.create_collection("c", s)
    c.insert([{"id": i, "v": [i, i]} for i in range(5)])
    db.flush()
    c.insert([{"id": 5, "v": [5, 5]}])
    db._storage.conn.close()  # simulate a crash: no checkpoint, keep the log as it is
    db._lock_file.release()
    from embedb.engine import database as dbmod
    dbmod._open_writers.clear()
    gen = next(p for p in (path / "collections" / "1").iterdir() if p.name.startswith("g"))
    with open(gen / "v.values.npy", "ab") as fh:  # garbage after the valid rows
        fh.write(np.full((3, 2), 99, np.float32).tobytes())
    db = Database.open(path)
    c = db.get_collection("c")
    assert c.num_rows == 6 and c.dense_vectors("v")[-1].tolist() == [5.0, 5.0]
    db.close()
    db = Database.open(path)
    assert db.get_collection("c").dense_vectors("v").tolist() == [[i, i] for i in range(6)]
    db.close()


def test_reader_refresh_sees_later_commits_and_checkpoints(tmp_path):
    path = tmp_path / "refresh.db"
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    c = db.create_collection("c", s)
    c.insert([{"id": 0, "v": [0, 0]}])
    reader = Database.open(path, read_only=True)
    assert reader.get_collection("c").num_rows == 1
    c.insert([{"id": i, "v": [i, 0]} for i in range(1, 5)])
    assert reader.get_collection("c").num_rows == 1  # the state at open time
    reader.refresh()
    assert reader.get_collection("c").num_rows == 5
    db.flush()  # the log it read is trimmed; the snapshot now holds the rows
    c.delete(ids=[0])
    reader.refresh()
    rc = reader.get_collection("c")
    assert rc.num_rows == 4 and rc.dense_vectors("v").tolist()[1:] == [[i, 0] for i in range(1, 5)]
    reader.close()
    db.close()
