"""The background copy of SQLite's WAL into its main file (``Storage.copy_back_wal``): a read
transaction in another process makes it retry later, without holding the writer, flush or
the snapshot lock behind that reader; a real failure (a full disk) is a warning, given once,
and loses nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest
from kill_harness import mounted_tmpfs
from test_writelog import _rows, _schema   # an 8-d vector collection, rows of known vectors

import embedb.engine.database as dbmod
from embedb.engine import Database, storage



def _ids(db: Database) -> set[int]:
    return {r["id"] for r in db.get_collection("c").query(output_fields=["id"])}


READER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, isolation_level=None)
    conn.execute("BEGIN")
    print(conn.execute("SELECT count(*) FROM collections").fetchone()[0], flush=True)
    sys.stdin.readline()   # holds its read transaction (an old snapshot of the WAL) until told
    conn.execute("COMMIT")
""")


def test_a_reader_in_another_process_holds_up_neither_the_writer_nor_a_flush(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "WAL_RESTART_WAIT_MS", 60_000)   # retries until the reader ends
    results: list[bool] = []
    real_copy = storage.Storage.copy_back_wal

    def recorded_copy(self, wait_ms=None):
        results.append(real_copy(self, wait_ms))
        return results[-1]

    monkeypatch.setattr(storage.Storage, "copy_back_wal", recorded_copy)
    path = tmp_path / "w.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.insert(_rows(range(0, 200)))
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path / storage.SQLITE_NAME)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert int(reader.stdout.readline()) == 1   # its snapshot: before the rows below
        c.insert(_rows(range(200, 400)))   # frames past the reader's snapshot
        # one background pass (the checkpointer's), on a thread of the test's own
        monkeypatch.setattr(dbmod, "CHECKPOINT_LOG_BYTES", 1)
        copier = threading.Thread(target=db._background_checkpoint)
        copier.start()
        deadline = time.monotonic() + 60
        while db._storage._wal_conn is None and copier.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)   # the pass reached its WAL copy
        assert copier.is_alive(), "the copy ended while the reader still uses the WAL"
        monkeypatch.setattr(dbmod, "CHECKPOINT_LOG_BYTES", 64 * 1024 * 1024)   # no other pass
        # the copy keeps retrying; a write, a flush (snapshot lock) and the writer's SQLite
        # lock are all free meanwhile
        c.insert(_rows(range(400, 600)))
        c.delete(ids=[5])
        db.flush()
        assert copier.is_alive() and results == []
    finally:
        reader.stdin.write("\n")
        reader.stdin.close()
        reader.wait(timeout=60)
    copier.join(timeout=60)
    assert not copier.is_alive() and results == [True]   # copied whole once the reader ended
    db.close()
    db = Database.open(path, read_only=True)
    assert _ids(db) == set(range(600)) - {5}
    db.close()


def test_the_copy_gives_up_after_its_wait_and_the_next_one_succeeds(tmp_path):
    path = tmp_path / "g.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.insert(_rows(range(100)))
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path / storage.SQLITE_NAME)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        reader.stdout.readline()
        c.insert(_rows(range(100, 200)))
        assert db._storage.copy_back_wal(wait_ms=100) is False   # the reader pins the WAL
    finally:
        reader.stdin.write("\n")
        reader.stdin.close()
        reader.wait(timeout=60)
    assert db._storage.copy_back_wal(wait_ms=0) is True
    c.insert(_rows(range(200, 300)))
    db.close()
    assert db._storage.copy_back_wal() is False   # closed: nothing runs
    db = Database.open(path, read_only=True)
    assert _ids(db) == set(range(300))
    db.close()


@pytest.fixture
def small_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path, "8m")


def _fill(path) -> None:
    with open(path, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass


def test_a_wal_copy_that_fails_on_a_full_disk_warns_once_and_loses_nothing(small_disk):
    path = small_disk / "full.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    for start in range(0, 300, 100):   # commits in the WAL, not yet in the main file
        c.insert(_rows(range(start, start + 100)))
    filler = small_disk / "filler"
    _fill(filler)
    with pytest.warns(RuntimeWarning, match="write-ahead log .* failed .*nothing is lost"):
        assert db._storage.copy_back_wal(wait_ms=0) is False
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # once: the second failure is silent
        assert db._storage.copy_back_wal(wait_ms=0) is False
    filler.unlink()
    assert db._storage.copy_back_wal(wait_ms=0) is True
    assert _ids(db) == set(range(300))
    db.close()
    db = Database.open(path, read_only=True)
    assert _ids(db) == set(range(300))
    db.close()
