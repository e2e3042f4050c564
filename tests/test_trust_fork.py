"""fork() and processes: an inherited handle never acknowledges a write it would lose.

After ``os.fork()`` (the default start method of ``multiprocessing`` on Linux) the child holds a
copy of the parent's handle: its SQLite connection, its write lock, its in-memory state. Writes
through it were acknowledged and then lost. Now every call on an inherited handle raises
``ForeignProcessError`` telling the user to open the database in the child, the child can open
the database itself (read-only while the parent writes), and the parent keeps working with
every write it made. The multiprocessing patterns documented in docs/storage.md are run here.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from embedb import MilvusClient
from embedb.engine import Database
from embedb.errors import DatabaseLockedError, ForeignProcessError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

DIM = 4


def _rows(lo, hi):
    rng = np.random.default_rng(lo)
    return [{"id": i, "vector": rng.random(DIM).tolist()} for i in range(lo, hi)]


def _open(path, n=100):
    c = MilvusClient(str(path))
    c.create_collection("c", dimension=DIM)
    c.insert("c", _rows(0, n))
    return c


def _in_child(work) -> dict:
    """Run ``work()`` in a fork child; return the dict it returns (as JSON through a pipe).
    A child that does not finish within 30 s is killed and the test fails."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            out = work()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out, code = {"crash": repr(exc)}, 1
        os.write(w, json.dumps(out).encode())
        os._exit(code)
    os.close(w)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the fork child hung")
        time.sleep(0.02)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    out = json.loads(data or b"{}")
    assert "crash" not in out, out["crash"]
    return out


def _refused(call) -> str:
    try:
        call()
    except ForeignProcessError as exc:
        return str(exc)
    return "accepted"


def _count(path, read_only=False) -> int:
    c = MilvusClient(str(path), read_only=read_only)
    c.load_collection("c")
    n = c.query("c", filter="", output_fields=["count(*)"])[0]["count(*)"]
    c.close()
    return n


def _locked_for_writing(path) -> bool:
    """Whether another process would be refused the write lock (asked in a fresh interpreter)."""
    code = ("import sys\nfrom embedb.engine import Database\nfrom embedb.errors import DatabaseLockedError\n"
            "try:\n    Database.open(sys.argv[1]).close()\nexcept DatabaseLockedError:\n    sys.exit(3)\n")
    return subprocess.run([sys.executable, "-c", code, str(path)], timeout=60).returncode == 3


def test_an_inherited_handle_refuses_every_call_and_the_parent_keeps_its_writes(tmp_path):
    path = tmp_path / "f.db"
    c = _open(path)
    coll = c._collection("c")   # an engine handle taken before the fork, too

    def child():
        out = {
            "insert": _refused(lambda: c.insert("c", _rows(1000, 1010))),
            "upsert": _refused(lambda: c.upsert("c", _rows(0, 5))),
            "delete": _refused(lambda: c.delete("c", ids=[1, 2])),
            "query": _refused(lambda: c.query("c", filter="id >= 0")),
            "search": _refused(lambda: c.search("c", [[0.1] * DIM], limit=3)),
            "flush": _refused(lambda: c.flush("c")),
            "engine insert": _refused(lambda: coll.insert(_rows(2000, 2001))),
            "engine query": _refused(lambda: coll.query("id >= 0")),
        }
        try:   # the parent holds the write lock: the child may read, not write
            MilvusClient(str(path))
            out["open for writing"] = "opened"
        except DatabaseLockedError as exc:
            out["open for writing"] = str(exc)
        out["read-only rows"] = _count(path, read_only=True)
        c.close()   # detaches only: the parent's files and lock are not touched
        from embedb.engine import database

        database._close_all_at_exit()   # what a normal exit of the child runs
        return out

    out = _in_child(child)
    for call in ("insert", "upsert", "delete", "query", "search", "flush", "engine insert", "engine query"):
        assert "open the database in the child process" in out[call], (call, out[call])
        assert f"opened by process {os.getpid()}" in out[call]
    assert "open for writing by pid" in out["open for writing"]
    assert out["read-only rows"] == 100
    # the parent still holds the lock and writes on; nothing of the child's calls is there
    assert _locked_for_writing(path)
    c.insert("c", _rows(100, 200))
    c.delete("c", ids=[0])
    c.close()
    assert not _locked_for_writing(path)
    assert _count(path) == 199
    c = MilvusClient(str(path))
    c.load_collection("c")
    assert c.query("c", filter="id >= 1000", output_fields=["count(*)"])[0]["count(*)"] == 0
    assert c.get("c", ids=[0]) == []
    c.close()


def test_fork_while_another_thread_holds_the_database_lock(tmp_path):
    """A lock held by a parent thread at the fork must not hang the child."""
    path = tmp_path / "f.db"
    c = _open(path)
    holding, release = threading.Event(), threading.Event()

    def hold():   # a parent thread in the middle of a database call
        with c._database._lock:
            holding.set()
            release.wait(30)

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    assert holding.wait(10)
    try:
        out = _in_child(lambda: {"insert": _refused(lambda: c.insert("c", _rows(500, 501))),
                                 "read-only rows": _count(path, read_only=True)})
    finally:
        release.set()
        t.join(10)
    assert "open the database in the child process" in out["insert"]
    assert out["read-only rows"] == 100
    c.insert("c", _rows(100, 110))
    c.close()
    assert _count(path) == 110


def test_the_child_can_write_once_the_parent_closed(tmp_path):
    path = tmp_path / "f.db"
    _open(path).close()

    def child():
        own = MilvusClient(str(path))   # opened in the child: its own handle and lock
        own.insert("c", _rows(100, 150))
        own.close()
        return {}

    _in_child(child)
    assert _count(path) == 150


# ----------------------------------------------------------------------- multiprocessing
def _worker_insert(path, lo, hi):
    c = MilvusClient(path)
    c.insert("c", _rows(lo, hi))
    c.close()


def _worker_count(path, queue):
    queue.put(_count(path, read_only=True))


def _worker_use_inherited(queue):
    queue.put(_refused(lambda: _INHERITED["client"].insert("c", _rows(900, 901))))


_INHERITED: dict = {}


def test_multiprocessing_spawn_worker_opens_the_database_itself(tmp_path):
    path = tmp_path / "m.db"
    _open(path).close()   # one writer at a time: the parent lets go first
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=_worker_insert, args=(str(path), 100, 160))
    p.start()
    p.join(120)
    assert p.exitcode == 0
    assert _count(path) == 160


def test_multiprocessing_fork_workers_read_while_the_parent_writes(tmp_path):
    path = tmp_path / "m.db"
    c = _open(path)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    readers = [ctx.Process(target=_worker_count, args=(str(path), queue)) for _ in range(2)]
    _INHERITED["client"] = c
    misuser = ctx.Process(target=_worker_use_inherited, args=(queue,))
    for p in readers + [misuser]:
        p.start()
    got = [queue.get(timeout=120) for _ in range(3)]
    for p in readers + [misuser]:
        p.join(60)
        assert p.exitcode == 0
    _INHERITED.clear()
    assert sorted(got, key=str)[:2] == [100, 100]
    assert "open the database in the child process" in [g for g in got if isinstance(g, str)][0]
    c.insert("c", _rows(100, 120))
    c.close()
    assert _count(path) == 120


def test_engine_database_in_the_child(tmp_path):
    """The engine door refuses the same way (Database and Collection methods)."""
    db = Database.open(tmp_path / "e.db")
    from embedb.schema import CollectionSchema, DataType

    schema = CollectionSchema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    coll = db.create_collection("c", schema)
    coll.insert([{"id": 1, "v": [0.0, 1.0]}])
    out = _in_child(lambda: {
        "list": _refused(db.list_collections),
        "create": _refused(lambda: db.create_collection("d", schema)),
        "get": _refused(lambda: db.get_collection("c")),
        "mask": _refused(lambda: coll.mask("id > 0")),
        "insert": _refused(lambda: coll.insert([{"id": 2, "v": [1.0, 0.0]}])),
    })
    assert all("open the database in the child process" in v for v in out.values()), out
    assert db.list_collections() == ["c"]
    assert coll.query("id > 0", output_fields=["id"]) == [{"id": 1}]
    db.close()
