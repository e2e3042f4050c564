"""The database format number guards readers that cannot read what a newer embedb wrote.

Checksum records became CRC-32C (``{"alg": "crc32c", "chunks": [...]}``) in format 2. embedb of
format 1 (e.g. commit 216104b) reads such a record as a list of zlib CRCs and reports every file
as damaged ("restore the database directory from a backup"), which is wrong and alarming. Its
writer open refuses a database whose catalog says a newer format ("database format 2 is newer
than this embedb (1)"), so every database that can hold a CRC-32C record says format 2: a new
one at creation, an older one from the first writer open of this version on (before its first
checkpoint writes a CRC-32C record). A read-only open and ``embedb check`` refuse a newer format
too, instead of misreading it.

Format 3 (2026-12-03): write calls' log entries live in ``wlog/`` segment files, which embedb of
format 2 would not read (acknowledged writes missing); embedb of format 2 refuses format 3 the
same way ("database format 3 is newer than this embedb (2)", its own test of this file).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from embedb import MilvusClient
from embedb.engine import Database, storage
from embedb.errors import StorageError


def _format(path) -> str:
    con = sqlite3.connect(str(path / storage.SQLITE_NAME))
    try:
        return con.execute("SELECT value FROM meta WHERE key='format'").fetchone()[0]
    finally:
        con.close()


def _set_format(path, value: str) -> None:
    con = sqlite3.connect(str(path / storage.SQLITE_NAME))
    with con:
        con.execute("UPDATE meta SET value=? WHERE key='format'", (value,))
    con.close()


def _make(path, n=50) -> None:
    c = MilvusClient(str(path))
    c.create_collection("c", dimension=4)
    c.insert("c", [{"id": i, "vector": np.full(4, i, np.float32)} for i in range(n)])
    c.delete("c", ids=[0])
    c.close()


def _records(path) -> list:
    out = []
    for m in path.glob("collections/*/manifest.json"):
        body = json.loads(m.read_text())
        out += [f["crc"] for f in body["files"].values() if "crc" in f]
    return out


def test_a_database_with_crc32c_records_and_a_wlog_says_format_3(tmp_path):
    path = tmp_path / "n.db"
    _make(path)
    assert any(isinstance(r, dict) and r.get("alg") == "crc32c" for r in _records(path))
    assert int(_format(path)) == storage.FORMAT_VERSION == 3


def test_an_older_database_is_upgraded_at_its_first_writer_open(tmp_path):
    path = tmp_path / "o.db"
    _make(path)
    _set_format(path, "1")   # what a format-1 embedb wrote
    ro = Database.open(path, read_only=True)   # a reader reads it and writes nothing
    ro.close()
    assert _format(path) == "1"
    c = MilvusClient(str(path))
    assert _format(path) == "3"   # before anything of this version is checkpointed or logged
    c.insert("c", [{"id": 100, "vector": np.zeros(4, np.float32)}])
    c.close()
    c = MilvusClient(str(path))
    c.load_collection("c")
    assert c.query("c", filter="", output_fields=["count(*)"])[0]["count(*)"] == 50
    c.close()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_newer_format_is_refused_clearly_and_left_alone(tmp_path, read_only):
    path = tmp_path / "f.db"
    _make(path)
    _set_format(path, "4")
    def files():   # SQLite's -wal/-shm side files may appear on opening; the files of record
        return {p: p.read_bytes() for p in path.rglob("*")
                if p.is_file() and not p.name.endswith(("-wal", "-shm"))}

    before = files()
    with pytest.raises(StorageError, match=r"database format 4 is newer than this embedb \(3\)"):
        Database.open(path, read_only=read_only)
    assert _format(path) == "4"
    assert files() == before


def test_check_refuses_a_newer_format_instead_of_reporting_damage(tmp_path):
    path = tmp_path / "f.db"
    _make(path)
    _set_format(path, "4")
    proc = subprocess.run([sys.executable, "-m", "embedb.cli", "check", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "newer than this embedb" in text, text
    assert "checksum mismatch" not in text
