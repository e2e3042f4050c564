"""A reader's refresh reads only what the writer appended since its last scan
(``writelog.Follower``): per segment the offset scanned so far, sealed segments read once,
deleted ones forgotten, a record the writer cut back off (a failed sync) noticed. Beside a
writer process that rotates and deletes segments, a reader that only refreshes always sees the
database after a prefix of the acknowledged calls, and finally what a fresh open sees."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from kill_harness import HERE, apply_call, replay
from test_qa4_wlog_reader_rotation import _after, _digest, _state
from test_writelog import _ids, _rows, _schema, crashed_with_a_torn_end

from embedb import MilvusClient
from embedb.engine import Database, writelog
from embedb.errors import StorageError


def _follower(db: Database) -> writelog.Follower:
    return db._storage._follower


def test_a_refresh_reads_only_the_bytes_appended_since(tmp_path, monkeypatch):
    monkeypatch.setattr(writelog, "SEGMENT_BYTES", 3000)
    path = tmp_path / "f.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.insert(_rows(range(10)))
    ro = Database.open(path, read_only=True)
    assert _ids(ro) == list(range(10))
    read = _follower(ro).bytes_read
    assert read == sum(p.stat().st_size for p in writelog.segment_files(path))
    ro.refresh()   # nothing new: nothing read
    assert _follower(ro).bytes_read == read
    for b in range(1, 12):
        before = {p.name: p.stat().st_size for p in writelog.segment_files(path)}
        c.insert(_rows(range(b * 10, b * 10 + 10)))
        grown = sum(p.stat().st_size - before.get(p.name, 0) for p in writelog.segment_files(path))
        ro.refresh()
        assert _follower(ro).bytes_read - read == grown   # the new record, not the segments again
        read = _follower(ro).bytes_read
        assert _ids(ro) == list(range(b * 10 + 10))
    assert len(writelog.segment_files(path)) >= 3   # sealed ones among them
    db.flush()   # covered segments deleted under the reader's feet: forgotten
    c.insert(_rows(range(120, 130)))
    ro.refresh()
    assert _ids(ro) == list(range(130))
    assert set(_follower(ro)._seen) == {p.name for p in writelog.segment_files(path)}
    ro.close()
    db.close()


def test_a_record_cut_back_off_after_a_reader_saw_it_is_noticed(tmp_path, monkeypatch):
    """A write whose fdatasync fails is cut back off the segment (it raised: never
    acknowledged) and the next record takes its place: the reader reads that segment again."""
    path = tmp_path / "u.db"
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.insert(_rows(range(10)))
    ro = Database.open(path, read_only=True)
    assert _ids(ro) == list(range(10))
    real = os.fdatasync
    seen = []

    def failing_once(fd):
        if not seen:
            ro.refresh()   # the record is whole in the file now: the reader takes it
            seen.append(_ids(ro))
            raise OSError(errno.EIO, "I/O error")
        return real(fd)

    monkeypatch.setattr(writelog.os, "fdatasync", failing_once)
    with pytest.raises(StorageError, match="nothing of this call was stored"):
        c.insert(_rows(range(100, 110)))
    monkeypatch.setattr(writelog.os, "fdatasync", real)
    assert seen == [list(range(10)) + list(range(100, 110))]   # (a reader may see it meanwhile)
    c.insert(_rows(range(10, 21)))   # at the same offset, where the failed record was
    ro.refresh()
    assert _ids(ro) == list(range(21)) == _ids(db)
    fresh = Database.open(path, read_only=True)
    assert _ids(fresh) == list(range(21))
    fresh.close()
    ro.close()
    db.close()


def _refresh_beside_writer(path, segment: int, seconds: float) -> None:
    proc = subprocess.Popen([sys.executable, str(HERE / "qa4_wlog_writer.py"), str(path), str(segment),
                             "fsync", "5", "0", "0.005"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reading = threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in proc.stdout), daemon=True)
    reading.start()
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while lines.count("ack") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        reader = MilvusClient(str(path), read_only=True)
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            reader._database.refresh()
            reader.load_collection("c")
            seen.append(_digest(_state(reader)))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        reading.join(10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-3000:]
    model: dict = {}
    digest, prefixes, pending = 0, {0}, None
    for line in lines:
        if line.startswith("begin "):
            pending = json.loads(line[6:])
            prefixes.add(_after(model, digest, pending))
        elif line == "ack":
            digest = _after(model, digest, pending)
            model = apply_call(model, pending)
            prefixes.add(digest)
    bad = [i for i, d in enumerate(seen) if d not in prefixes]
    assert not bad, f"refreshes {bad[:10]} of {len(seen)} saw a state after no prefix of the calls"
    assert len(seen) > 10 and len(set(seen)) > 3
    # the writer is gone: the last refresh equals a fresh open, every acknowledged call in it
    reader._database.refresh()
    reader.load_collection("c")
    final = _state(reader)
    reader.close()
    fresh = MilvusClient(str(path), read_only=True)
    fresh.load_collection("c")
    assert _state(fresh) == final
    fresh.close()
    acked, in_flight, _ = replay({}, lines)
    assert final == acked or (in_flight is not None and final == apply_call(acked, in_flight))


@pytest.mark.parametrize("segment", [1, 4096])
def test_a_reader_that_only_refreshes_beside_a_writer_sees_prefixes_then_all(tmp_path, segment):
    _refresh_beside_writer(tmp_path / "r.db", segment, 10)


@pytest.mark.slow
def test_a_reader_that_only_refreshes_beside_a_writer_long(tmp_path):
    _refresh_beside_writer(tmp_path / "r.db", 65536, 60)


def test_a_torn_end_a_reader_saw_then_cut_off_by_the_next_writer(tmp_path):
    """The reader stops before the torn record; the next writer cuts it off, seals the segment
    and begins another: the reader goes on from where it stopped, reading no segment again."""
    path = tmp_path / "t.db"
    segment, whole = crashed_with_a_torn_end(path)
    ro = Database.open(path, read_only=True)
    assert _ids(ro) == list(range(30))
    read = _follower(ro).bytes_read
    db = Database.open(path)   # cuts the torn end off, seals the segment
    assert segment.stat().st_size == whole
    db.get_collection("c").insert(_rows(range(30, 40)))
    ro.refresh()
    assert _ids(ro) == list(range(40))
    new = [p for p in writelog.segment_files(path) if p != segment]
    assert _follower(ro).bytes_read - read == sum(p.stat().st_size for p in new)
    ro.close()
    db.close()
