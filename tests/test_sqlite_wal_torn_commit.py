"""A writer killed between the two writes SQLite makes for one WAL frame (its 24-byte header,
then its page) leaves the new header, with the commit mark and a checksum of the new page,
over the page of an older frame when the log had been restarted from its start. SQLite drops
that transaction (it never returned: the call in flight); embedb took the failing commit
frame for damage in the middle of the log and refused to open the database, and `embedb
check` reported it (seen once in 8 runs of test_qa4_wlog_ddl_replay's kill test under load).
The same picture at the end of the file, or a failing frame with a commit after it, is still
damage (test_trust_damage)."""

from __future__ import annotations

import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kill_harness import check_cli

from embedb.engine import Database
from embedb.engine.integrity import wal_checksum
from embedb.errors import StorageError

# catalog commits, SQLite's WAL copied back and restarted (RESTART: the next commit writes
# from frame 1 under a new salt, over the older frames), one more commit, then the WAL as it
# was before that last commit is kept and the writer dies
WRITER = """
import os, shutil, sqlite3, sys
from embedb.engine import Database
from embedb.schema import CollectionSchema, DataType
path = sys.argv[1]
db = Database.open(path)
s = CollectionSchema()
s.add_field("id", DataType.INT64, is_primary=True)
s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
c = db.create_collection("c", s)
for p in range(12):
    c.create_partition(f"p{p}")
    c.insert([{"id": p * 10 + i, "v": [float(i)] * 4} for i in range(10)], partition=f"p{p}")
con = sqlite3.connect(os.path.join(path, "embedb.sqlite3"))
assert con.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0] == 0
con.close()
c.create_partition("after_restart")
shutil.copy(os.path.join(path, "embedb.sqlite3-wal"), sys.argv[2])
c.create_partition("in_flight")
os._exit(0)
"""


def _frames(wal: bytes) -> tuple[int, list[tuple[int, bytes, bool]]]:
    """(frame size, [(offset, salt, commit) of each whole frame])."""
    frame = 24 + int.from_bytes(wal[8:12], "big")
    return frame, [(32 + i * frame, wal[32 + i * frame + 8: 32 + i * frame + 16],
                    int.from_bytes(wal[32 + i * frame + 4: 32 + i * frame + 8], "big") != 0)
                   for i in range((len(wal) - 32) // frame)]


def test_a_commit_frame_torn_over_an_older_frame_is_the_call_in_flight(tmp_path):
    path, before = tmp_path / "t.db", tmp_path / "wal-before"
    subprocess.run([sys.executable, "-c", WRITER, str(path), str(before)], check=True, timeout=120)
    old, new = before.read_bytes(), (path / "embedb.sqlite3-wal").read_bytes()
    frame, frames = _frames(new)
    salt = new[16:24]
    ours = [i for i, (_, s, _) in enumerate(frames) if s == salt]
    last = ours[-1]   # the in-flight call's commit frame, the last written under the new salt
    assert frames[last][2] and last + 1 < len(frames) and frames[last + 1][1] != salt, \
        "the restarted log should end over older frames"
    off = frames[last][0]
    torn = bytearray(new)
    torn[off + 24: off + frame] = old[off + 24: off + frame]   # its page not written yet
    assert bytes(torn) != new
    (path / "embedb.sqlite3-wal").write_bytes(bytes(torn))

    check_cli(path)   # not damage: the call in flight at a crash
    ro = Database.open(path, read_only=True)
    assert "after_restart" in ro.get_collection("c").list_partitions()
    assert "in_flight" not in ro.get_collection("c").list_partitions()
    ro.close()
    db = Database.open(path)
    c = db.get_collection("c")
    assert c.num_rows == 120 and "after_restart" in c.list_partitions()
    assert "in_flight" not in c.list_partitions()   # absent, as the call never returned
    c.create_partition("in_flight")
    db.close()
    check_cli(path)


def test_the_same_commit_frame_failing_at_the_end_of_the_log_is_damage(tmp_path):
    path, before = tmp_path / "e.db", tmp_path / "wal-before"
    subprocess.run([sys.executable, "-c", WRITER, str(path), str(before)], check=True, timeout=120)
    new = (path / "embedb.sqlite3-wal").read_bytes()
    frame, frames = _frames(new)
    salt = new[16:24]
    last = [i for i, (_, s, _) in enumerate(frames) if s == salt][-1]
    damaged = bytearray(new[:frames[last][0] + frame])   # the log ends with that frame
    damaged[frames[last][0] + 100] ^= 0xFF
    (path / "embedb.sqlite3-wal").write_bytes(bytes(damaged))
    with pytest.raises(StorageError, match="embedb.sqlite3-wal is damaged"):
        Database.open(path)


def _word_loop(s: tuple[int, int], data: bytes, order: str) -> tuple[int, int]:
    """SQLite's WAL checksum as its C code computes it, word pair by word pair."""
    s0, s1 = s
    for x0, x1 in struct.iter_unpack(order + "II", data):
        s0 = (s0 + x0 + s1) & 0xFFFFFFFF
        s1 = (s1 + x1 + s0) & 0xFFFFFFFF
    return s0, s1


def test_the_wal_checksum_is_sqlites(tmp_path):
    """``integrity.wal_checksum`` (the closed form in NumPy) against the word loop on random
    bytes in both byte orders, from any start, and against the checksums SQLite itself stored
    in every frame of a real WAL (each frame's continues the one before)."""
    rng = np.random.default_rng(7)
    for size in (8, 4104, 65544):
        for order in "<>":
            for start in [(0, 0), (0xFFFFFFFF, 0xFFFFFFFF), tuple(int(v) for v in rng.integers(0, 2**32, 2))]:
                data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
                assert wal_checksum(start, data, order) == _word_loop(start, data, order)
    db_file = tmp_path / "w.sqlite3"
    con = sqlite3.connect(db_file)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("CREATE TABLE t(x BLOB)")
    for i in range(20):
        con.execute("INSERT INTO t VALUES(?)", (rng.integers(0, 256, 3000 * i, dtype=np.uint8).tobytes(),))
        con.commit()
    wal = db_file.with_name(db_file.name + "-wal").read_bytes()
    con.close()
    order = ">" if wal[3] & 1 else "<"
    frame = 24 + int.from_bytes(wal[8:12], "big")
    s = struct.unpack(">II", wal[24:32])
    frames = (len(wal) - 32) // frame
    assert frames > 20
    for i in range(frames):
        data = wal[32 + i * frame:32 + (i + 1) * frame]
        s = wal_checksum(s, data[:8] + data[24:], order)
        assert s == struct.unpack(">II", data[16:24]), f"frame {i + 1}"
