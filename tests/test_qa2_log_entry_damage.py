"""A damaged log entry is never replayed as data: flip one bit at many positions of a real
1,000 x 384-d entry of a crashed database: its wlog/ record (record header, payload CRC,
payload, the end), and, for a database of format 2, its EMBLOG3 row in SQLite's log table
(made through SQLite, a valid catalog, so only the entry's own checksum can catch it). Opening
it then raises StorageError, or `embedb check` fails, and a database that does open never
serves rows other than the written ones."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from embedb.engine import Database
from test_trust_diskfull import _abandon
from embedb.errors import StorageError
from embedb.schema import CollectionSchema, DataType

DIM = 384


@pytest.fixture(scope="module")
def crashed(tmp_path_factory) -> tuple:
    path = tmp_path_factory.mktemp("log") / "c.db"
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("t", DataType.VARCHAR, max_length=20)
    c = db.create_collection("c", s)
    v = np.random.default_rng(0).random((1000, DIM), dtype=np.float32)
    c.insert([{"id": i, "v": v[i], "t": f"r{i}"} for i in range(1000)])
    _abandon(db)   # a crash: no checkpoint, the entry stays in the log
    return path, v


def _rows(path):
    db = Database.open(path, read_only=True)
    try:
        return {r["id"]: (r["v"], r["t"]) for r in db.get_collection("c").query(output_fields=["*"])}
    finally:
        db.close()


def test_flipped_bits_in_a_wlog_record_are_caught(crashed, tmp_path):
    from embedb.engine import writelog

    path, v = crashed
    [segment] = writelog.segment_files(path)
    data = segment.read_bytes()
    n = len(data)
    assert n > 1000 * DIM * 4
    positions = sorted(set([0, 3, 7, 8, 15, 16, 24, 32, 36, 39, 40, 47, 48, 60, 64, n // 3, n // 2,
                            n - 40, n - 5, n - 1] + np.random.default_rng(1).integers(0, n, 5).tolist()))
    for pos in positions:
        copy = tmp_path / f"w{pos}.db"
        shutil.copytree(path, copy)
        bad = bytearray(data)
        bad[pos] ^= 0x10
        (copy / writelog.DIR / segment.name).write_bytes(bytes(bad))
        check = subprocess.run([sys.executable, "-m", "embedb.cli", "check", str(copy), "--json"],
                               capture_output=True, text=True, timeout=120)
        with pytest.raises(StorageError, match=f"{segment.name} holds a .*damaged"):
            _rows(copy)
        assert check.returncode != 0 and segment.name in check.stdout, f"bit flip at byte {pos} of {n} not reported"
        shutil.rmtree(copy)


def test_flipped_bits_in_a_log_entry_are_caught(crashed, tmp_path):
    from test_durability_log_format import as_format_2

    path, v = crashed
    old = tmp_path / "format2.db"
    shutil.copytree(path, old)
    as_format_2(old)
    path = old
    con = sqlite3.connect(path / "embedb.sqlite3")
    seq, payload = con.execute("SELECT seq, payload FROM log ORDER BY length(payload) DESC LIMIT 1").fetchone()
    con.close()
    n = len(payload)
    assert n > 1000 * DIM * 4
    positions = sorted(set([0, 3, 7, 8, 9, 12, 15, 16, 20, 31, 40, 64, n // 3, n // 2, n - 40, n - 5, n - 1]
                           + np.random.default_rng(1).integers(0, n, 5).tolist()))
    for pos in positions:
        copy = tmp_path / f"p{pos}.db"
        shutil.copytree(path, copy)
        con = sqlite3.connect(copy / "embedb.sqlite3")
        bad = bytearray(payload)
        bad[pos] ^= 0x10
        con.execute("UPDATE log SET payload=? WHERE seq=?", (bytes(bad), seq))
        con.commit()
        con.close()
        check = subprocess.run([sys.executable, "-m", "embedb.cli", "check", str(copy), "--json"],
                               capture_output=True, text=True, timeout=120)
        try:
            rows = _rows(copy)
        except StorageError:
            rows = None
        assert check.returncode != 0 or rows is None, f"bit flip at byte {pos} of {n} not reported"
        if rows is not None:   # it opened: whatever it serves is what was written
            for i, (vec, t) in rows.items():
                assert t == f"r{i}" and np.array_equal(np.float32(vec), v[i]), (pos, i)
        shutil.rmtree(copy)
