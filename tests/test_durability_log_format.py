"""The write log's entry formats: new entries carry a CRC-32C (EMBLOG3) and live in wlog/ segment
files (format 3); entries written before (rows of SQLite's table ``log``: EMBLOG3, EMBLOG2 with
zlib CRC-32, EMBLOG1 before checksums) still replay, in any mix with the new ones, and damage to
either kind is an error, never data."""

from __future__ import annotations

import os
import sqlite3
import struct
import zlib

import numpy as np
import pytest

from embedb.engine import Database, codec, writelog
from embedb.engine import database as dbmod
from embedb.errors import StorageError
from embedb.schema import CollectionSchema, DataType

HEAD = len(codec.MAGIC) + 8   # magic, u64 header length; then the u32 CRC


def as_v2(payload: bytes) -> bytes:
    """An EMBLOG3 entry rewritten as the commit before wrote it: EMBLOG2 with zlib's CRC-32."""
    assert payload[:len(codec.MAGIC)] == codec.MAGIC
    body = payload[HEAD + 4:]
    return codec.MAGIC_V2 + payload[len(codec.MAGIC):HEAD] + struct.pack("<I", zlib.crc32(body)) + body


def test_new_entries_are_crc32c_and_every_older_format_decodes():
    arrays = {"id/values": np.arange(5, dtype=np.int64), "v/values": np.ones((5, 3), np.float32)}
    new = bytes(codec.encode_payload("write", {"n": 5}, arrays))
    assert new.startswith(b"EMBLOG3\n")
    v1 = codec.MAGIC_V1 + new[len(codec.MAGIC):HEAD] + new[HEAD + 4:]
    for payload in (new, as_v2(new), v1):
        op, info, got = codec.decode_payload(payload)
        assert op == "write" and info == {"n": 5}
        assert all(np.array_equal(got[k], arrays[k]) for k in arrays)
    for payload in (new, as_v2(new)):   # a flipped byte anywhere after the magic: an error
        for pos in range(len(codec.MAGIC), len(payload), 7):
            bad = bytearray(payload)
            bad[pos] ^= 0x04
            with pytest.raises(StorageError, match="damaged"):
                codec.decode_payload(bytes(bad))
    # the CRC field is the algorithm the magic names: a v2 entry relabelled v3 is damage
    relabelled = codec.MAGIC + as_v2(new)[len(codec.MAGIC):]
    with pytest.raises(StorageError, match="checksum mismatch"):
        codec.decode_payload(relabelled)


def wlog_scan(path) -> "writelog.Scan":
    """The wlog/ segments the catalog lists, read as opening reads them."""
    con = sqlite3.connect(path / "embedb.sqlite3")
    try:
        registry = {k[5:]: (int(v) if v else None)
                    for k, v in con.execute("SELECT key, value FROM meta WHERE key LIKE 'wlog/%'")}
    finally:
        con.close()
    return writelog.scan(path, registry)


def as_format_2(path) -> None:
    """Rewrite an abandoned database as embedb of format 2 left it: each wlog/ record that no
    snapshot covers a row of SQLite's table ``log`` (same sequence number), no wlog/."""
    import shutil

    con = sqlite3.connect(path / "embedb.sqlite3")
    covered = dict(con.execute("SELECT cid, log_seq FROM checkpoints"))
    with con:
        for r in wlog_scan(path).records:
            if r.seq > covered.get(r.cid, 0):
                con.execute("INSERT INTO log(seq, cid, payload) VALUES(?, ?, ?)",
                            (r.seq, r.cid, writelog.read_payload(r)))
        con.execute("UPDATE meta SET value='2' WHERE key='format'")
        con.execute("DELETE FROM meta WHERE key LIKE 'wlog/%'")
    con.close()
    shutil.rmtree(path / writelog.DIR)


def _abandon(db) -> None:
    """Leave a database as a killed process would (no checkpoint; the log stays)."""
    if db._storage._side is not None:
        db._storage._side.close()
    db._storage.conn.close()
    db._lock_file.release()
    db._closed = True
    dbmod._open_writers.pop(os.path.realpath(db.path), None)


def test_a_log_of_older_entries_replays_and_new_entries_follow_it(tmp_path):
    path = tmp_path / "mixed.db"
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("t", DataType.VARCHAR, max_length=20)
    c = db.create_collection("c", s)
    rows = [{"id": i, "v": [i, 1, 2, 3], "t": f"r{i}"} for i in range(300)]
    c.insert(rows[:100])
    db.flush()
    c.insert(rows[100:200])
    c.delete(ids=[5, 150])
    _abandon(db)
    as_format_2(path)
    con = sqlite3.connect(path / "embedb.sqlite3")   # what the commit before left in the log
    logged = con.execute("SELECT seq, payload FROM log").fetchall()
    assert logged and all(p.startswith(codec.MAGIC) for _, p in logged)
    for seq, payload in logged:
        con.execute("UPDATE log SET payload=? WHERE seq=?", (as_v2(payload), seq))
    con.commit()
    con.close()

    db = Database.open(path)
    c = db.get_collection("c")
    c.insert(rows[200:])   # a new-format entry after the old ones
    _abandon(db)
    con = sqlite3.connect(path / "embedb.sqlite3")
    old = con.execute("SELECT seq, payload FROM log ORDER BY seq").fetchall()
    con.close()
    assert {p[:len(codec.MAGIC)] for _, p in old} == {codec.MAGIC_V2}
    [new] = wlog_scan(path).records   # the new entry: in wlog/, after the old ones
    assert writelog.read_payload(new).startswith(codec.MAGIC) and new.seq > max(q for q, _ in old)

    db = Database.open(path)
    c = db.get_collection("c")
    got = c.query(output_fields=["v", "t"])
    expect = [r for r in rows if r["id"] not in (5, 150)]
    assert [r["id"] for r in got] == [r["id"] for r in expect]
    assert all(g["t"] == e["t"] and list(g["v"]) == e["v"] for g, e in zip(got, expect))
    db.close()
    db = Database.open(path)   # and after the checkpoint that trimmed the mixed log
    assert db.get_collection("c").num_rows == 298
    db.close()
