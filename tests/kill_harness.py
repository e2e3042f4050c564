"""The machinery of the kill -9 and full-disk tests (test_qa_kill_background.py,
test_qa2_kill_bulk.py, test_qa2_full_disk_background.py, test_trust_diskfull.py) and of the
readers beside a writer (``read_beside_writer``: test_qa3_reader_beside_writer.py,
test_qa4_wlog_reader_rotation.py).

Two kinds of writer. A call writer (``qa_kill_writer.py``, ``qa2_kill_bulk_writer.py``) runs in its own process and
prints ``begin <json call>`` before each write call and ``ack`` after it returned; the parent
kills it with SIGKILL at a random moment (``kill_loop``), then checks the database: ``embedb
check`` passes, it opens, and its rows are exactly the acknowledged calls applied in order,
plus the one call in flight either whole or not at all; every stored vector is the one its
call wrote and the index answers as brute force does (``stored_model``). The batch writer
(``kill_batch_writer.py``: test_durability.py, test_durability_process.py,
test_checkpoint_background.py) prints each batch number once its insert (and delete) returned;
``batch_kill_loop`` checks that every acknowledged batch is stored and none partially.

Writers import this module too (their folder is on ``sys.path``): only NumPy and embedb at
import, no pytest.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

HERE = Path(__file__).parent
BATCH = 50   # rows per call of the batch writer


# ------------------------------------------------------------------------------ writer side
def background_checkpoints(log_bytes: int) -> None:
    """Automatic checkpoints every ``log_bytes`` of log, always on the background thread."""
    import embedb.engine.database as dbmod

    dbmod.CHECKPOINT_LOG_BYTES = log_bytes
    dbmod.BACKGROUND_CHECKPOINT_BYTES = 0
    dbmod.BACKGROUND_LAG = 1_000_000   # never inline


def vector(i: int, ver: int, dim: int) -> np.ndarray:
    """Row ``i`` as written at version ``ver``: a vector the parent can recompute."""
    return np.random.default_rng(i * 1000 + ver).random(dim, dtype=np.float32)


def call_writer_collection(client: Any, dim: int) -> None:
    """``qa_kill_writer.py``'s collection "c" (id, v: HNSW L2 M=8 efConstruction=32, ver, t),
    unless the database has it."""
    from embedb import DataType

    if client.has_collection("c"):
        return
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=dim)
    s.add_field("ver", DataType.INT64)
    s.add_field("t", DataType.VARCHAR, max_length=64)
    ix = client.prepare_index_params()
    ix.add_index("v", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
    client.create_collection("c", schema=s, index_params=ix)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def write_forever(next_call: Callable[[int], tuple[dict, Callable[[], Any]]]) -> None:
    """The writer's loop: ``next_call(step)`` gives the call (as the parent replays it) and a
    function making it; each is announced before it is made and acknowledged after."""
    step = 0
    while True:
        step += 1
        call, run = next_call(step)
        say("begin " + json.dumps(call))
        run()
        say("ack")


# ------------------------------------------------------------------------------ parent side
def apply_call(model: dict, call: dict) -> dict:
    """``model`` (primary key -> version) after ``call``."""
    model = dict(model)
    if call["op"] in ("insert", "upsert"):
        for i in call["ids"]:
            model[i] = call["ver"]
    elif call["op"] == "delete":
        for i in call["ids"]:
            model.pop(i, None)
    return model


def replay(model: dict, lines: list[str]) -> tuple[dict, dict | None, int]:
    """(model after the acknowledged calls, the call in flight or None, calls acknowledged)."""
    pending, acked = None, 0
    for line in lines:
        if line.startswith("begin "):
            try:
                pending = json.loads(line[6:])
            except ValueError:   # torn print of "begin": the call never started
                pending = None
        elif line == "ack":
            model = apply_call(model, pending)
            acked += 1
            pending = None
    return model, pending, acked


def check_cli(path: Path) -> None:
    """``embedb check PATH`` (the CLI, in its own process) finds no damage."""
    proc = subprocess.run([sys.executable, "-m", "embedb.cli", "check", str(path), "--json"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"embedb check: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")


def kill_writer(args: list[str], delay: float, wait_first: bool = True) -> tuple[list[str], bool, str]:
    """Run a writer script, SIGKILL it ``delay`` s after its first output line (after its
    start when not ``wait_first``). Returns (its output lines, whether the kill ended it, its
    stderr)."""
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        if wait_first:
            first = proc.stdout.readline()   # wait until it is writing
            if not first:
                raise AssertionError(proc.stderr.read())
            lines.append(first.rstrip("\n"))
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        # the rest through the same text streams: the readline above may have read past its
        # line, into the stream's buffer, what the writer printed meanwhile; communicate()
        # never sees that (it reads the pipe's descriptor itself): an "ack" and a "begin" lost
        # there left an acknowledged call out of the model (its rows then "extra")
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return lines + out.splitlines(), proc.returncode == -signal.SIGKILL, err


def kill_loop(path: Path, *, writer: str, writer_args: Callable[[int, int], list[str]],
              stored: Callable[[int], dict], rounds: int, seed: int,
              pause: tuple[float, float], label: str) -> int:
    """``rounds`` times: start ``writer`` (a script beside this file) with
    ``[path, *writer_args(round, next_id)]``, kill it after a random pause, check the database
    with the CLI and compare ``stored(round)`` (primary key -> version) with the acknowledged
    calls (the call in flight whole or absent). Returns the number of acknowledged calls."""
    rnd = random.Random(seed)
    model: dict[int, int] = {}
    next_id = 0
    acked = 0
    for rnd_i in range(rounds):
        lines, killed, err = kill_writer([str(HERE / writer), str(path), *writer_args(rnd_i, next_id)],
                                         rnd.uniform(*pause))
        assert killed, f"the writer died on its own\n{err[-3000:]}"
        model, pending, n = replay(model, lines)
        acked += n
        if pending:
            next_id = max([next_id, *pending.get("ids", [])]) + 1
        next_id = max([next_id, *model]) + 1 if model else next_id
        check_cli(path)
        got = stored(rnd_i)
        allowed = [model] + ([apply_call(model, pending)] if pending else [])
        if got not in allowed:
            missing = set(model) - set(got)
            extra = set(got) - set(model)
            changed = {i for i in set(model) & set(got) if model[i] != got[i]}
            raise AssertionError(f"round {rnd_i} ({label}): rows differ from the acknowledged "
                                 f"calls; in flight {_short(pending)}; missing {len(missing)} "
                                 f"{sorted(missing)[:10]}, extra {len(extra)} {sorted(extra)[:10]}, "
                                 f"other version {len(changed)} {sorted(changed)[:10]}")
        model = got   # the in-flight call, if it landed, is now part of the history
    check_cli(path)
    return acked


def read_beside_writer(args: list[str], path: Path, *, durability: str, read: Callable[[Any], Any],
                       ready: Callable[[list[str]], bool], seconds: float, reopen_every: int,
                       max_reads: int | None = None) -> tuple[list[str], list[Any], list[str]]:
    """Run a call writer (``args``: its script and arguments) and, meanwhile, read the
    database read-only again and again: a fresh ``MilvusClient(read_only=True)`` every
    ``reopen_every`` reads, a ``Database.refresh`` of the open one between, from when
    ``ready(lines so far)`` until ``seconds`` passed or ``max_reads`` states were read.
    ``read(client)`` returns what it read (a digest of the state); an AssertionError it
    raises fails the test, any other error of a reader is collected. The writer is then
    killed with SIGKILL. Returns its output lines, what each read returned and the errors."""
    from embedb import MilvusClient

    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reading = threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in proc.stdout),
                               daemon=True)
    reading.start()
    seen: list[Any] = []
    errors: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not ready(lines) and time.monotonic() < deadline:
            time.sleep(0.02)
        stop = time.monotonic() + seconds
        reader = None
        n = 0
        while time.monotonic() < stop and (max_reads is None or len(seen) < max_reads):
            n += 1
            try:
                if reader is None or n % reopen_every == 0:
                    if reader is not None:
                        reader.close()
                    reader = MilvusClient(str(path), read_only=True, durability=durability)
                else:
                    reader._database.refresh()
                reader.load_collection("c")
                seen.append(read(reader))
            except AssertionError:
                raise
            except Exception as exc:   # noqa: BLE001 - any error of a reader is a finding
                errors.append(f"read {n}: {exc!r}")
                reader = None
        if reader is not None:
            reader.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        reading.join(10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-3000:]
    return lines, seen, errors


def _short(call: dict | None) -> dict | None:
    return call and {k: v[:5] if isinstance(v, list) else v for k, v in call.items()}


def stored_model(path: Path, *, durability: str, read_only: bool, dim: int,
                 extra_fields: tuple[str, ...] = (), check_row: Callable[[dict], None] | None = None,
                 check_index: Callable[[Any, list, dict], None] | None = None) -> dict:
    """The database's rows of collection "c" as primary key -> version, each row's vector
    checked against the one its call wrote (``vector``), then ``check_row`` on each row and
    ``check_index(client, rows, model)`` on the whole."""
    from embedb import MilvusClient

    c = MilvusClient(str(path), read_only=read_only, durability=durability)
    try:
        c.load_collection("c")
        rows = c.query("c", filter="", output_fields=["ver", "v", *extra_fields])
        out = {}
        for r in rows:
            if check_row is not None:
                check_row(r)
            assert np.array_equal(np.float32(r["v"]), vector(r["id"], r["ver"], dim)), r["id"]
            out[r["id"]] = r["ver"]
        if rows and check_index is not None:
            check_index(c, rows, out)
    finally:
        c.close()
    return out


def search_equals_brute_force(dim: int, limit: int = 5, ef: int = 512) -> Callable:
    """A ``check_index``: three queries through the index answer as brute force over the rows
    does (ties by primary key); above 400 rows a graph may miss one of the ``limit``."""
    def check(c: Any, rows: list, model: dict) -> None:
        ids = np.array(sorted(model))
        x = np.stack([vector(i, model[i], dim) for i in ids])
        q = np.random.default_rng(len(ids)).random((3, dim), dtype=np.float32)
        hits = c.search("c", q, limit=limit, search_params={"params": {"ef": ef}})
        for qi, h in enumerate(hits):
            d = ((x - q[qi]) ** 2).sum(1)
            want = ids[np.lexsort((ids, d))[:limit]].tolist()
            got = [x["id"] for x in h]
            assert got == want or len(ids) > 400 and len(set(got) & set(want)) >= limit - 1, \
                (got, want)
    return check


def nearest_is_itself(c: Any, rows: list, model: dict) -> None:
    """A ``check_index`` for an exact index: a stored row's own vector finds a row at distance 0."""
    q = np.float32(rows[len(rows) // 2]["v"])
    hit = c.search("c", [q], limit=1)[0][0]
    assert hit["distance"] <= 1e-4, hit


def run_or_fail(args: list[str], timeout: float, what: str) -> tuple[int, str]:
    """Run ``python *args`` in a session of its own (stdout and stderr together). Past
    ``timeout`` s its process group (it and every child it forked) is killed and the test
    fails with ``what`` hung: a hang never hangs the test run. Returns (exit code, output)."""
    import pytest

    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{what} hung\n{out[-3000:]}")
    return proc.returncode, out


# ------------------------------------------------------------------------------ the batch writer
def check_batches(coll: Any, acked: set[int], deleted_first: set[int]) -> int:
    """Every acknowledged batch is stored, no batch partially (a batch whose delete of its
    first row was acknowledged lacks that row; an unacknowledged one may or may not); each row
    names its batch. Returns the highest batch stored (-1 when none)."""
    by_batch: dict[int, set[int]] = {}
    for r in coll.query(output_fields=["batch", "txt"]):
        by_batch.setdefault(r["batch"], set()).add(r["id"])
        assert r["txt"] == f"batch {r['batch']} row {r['id'] - r['batch'] * BATCH}"
    for b in acked:
        assert b in by_batch, f"acknowledged batch {b} is missing"
    for b, ids in by_batch.items():
        full = set(range(b * BATCH, (b + 1) * BATCH))
        if b in deleted_first:
            assert ids == full - {b * BATCH}, f"batch {b}: partially present, or its acknowledged delete undone"
        else:
            assert ids in (full, full - {b * BATCH}), f"batch {b} partially present"
    return max(by_batch, default=-1)


def batch_kill_loop(path: Path, *, rounds: int, seed: int, pause: tuple[float, float],
                    durability: str = "fsync", dim: int = 16, background: bool = False,
                    wait_first: bool = True, read_only: bool = False) -> tuple[int, set[int]]:
    """``rounds`` times: start ``kill_batch_writer.py``, SIGKILL it after a random pause
    (counted from its first acknowledged batch when ``wait_first``, else from its start, so a
    kill may land before any), open the database (read-only or as a writer) and
    ``check_batches``. Returns (writers killed, acknowledged batches)."""
    from embedb.engine import Database

    rnd = random.Random(seed)
    acked: set[int] = set()
    deleted_first: set[int] = set()
    next_batch = kills = 0
    for _ in range(rounds):
        lines, killed, _ = kill_writer([str(HERE / "kill_batch_writer.py"), str(path),
                                        str(next_batch), durability, str(dim),
                                        "1" if background else "0"],
                                       rnd.uniform(*pause), wait_first)
        kills += killed
        for line in lines:
            b = int(line)
            acked.add(b)
            if b % 5 == 4:   # printed after its delete returned: that delete is acknowledged too
                deleted_first.add(b)
        if not acked:   # killed before its first batch returned: nothing to check yet
            continue
        db = Database.open(path, read_only=read_only, durability=durability)   # opens after every kill
        try:
            last = check_batches(db.get_collection("c"), acked, deleted_first)
        finally:
            db.close()
        next_batch = max(last, max(acked)) + 1
    return kills, acked


# ------------------------------------------------------------------------------ a crash with a WAL
CRASHING_WRITER = """
import os, sys
from embedb.engine import Database
from embedb.schema import CollectionSchema, DataType
db = Database.open(sys.argv[1], durability=sys.argv[2])
s = CollectionSchema()
s.add_field("id", DataType.INT64, is_primary=True)
s.add_field("v", DataType.FLOAT_VECTOR, dim=64)
c = db.create_collection("c", s)
for b in range(4):
    c.insert([{"id": b * 1000 + i, "v": [float(i)] * 64} for i in range(300)])
os._exit(0)
"""


def crashed_with_wal(path: Path, durability: str = "fsync") -> tuple[bytes, int, list[int]]:
    """A database at ``path`` whose writer died (``os._exit``) after four calls of 300 rows
    (ids ``b * 1000 + i``), all of them still in SQLite's WAL. Returns (the WAL file's bytes,
    its frame size, the indexes of its commit frames)."""
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(path), durability], check=True,
                   timeout=120)
    data = (path / "embedb.sqlite3-wal").read_bytes()
    frame = 24 + int.from_bytes(data[8:12], "big")
    commits = [i for i in range((len(data) - 32) // frame)
               if int.from_bytes(data[32 + i * frame + 4: 32 + i * frame + 8], "big")]
    return data, frame, commits


# ------------------------------------------------------------------------------ a real full disk
def mounted_tmpfs(tmp_path: Path, size: str) -> Iterator[Path]:
    """A fixture's body: a tmpfs of ``size`` (e.g. "24m") mounted under ``tmp_path``, unmounted
    after; the test is skipped where mounting is refused (it needs root)."""
    import pytest

    mnt = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=20)
