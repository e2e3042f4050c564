"""``embedb check`` beside a live writer process that rotates a write log segment at nearly
every call and deletes segments after each background checkpoint (and flushes and compacts),
or that drops and creates collections all the time: check never reports damage on the healthy
database (a segment the writer let go of after a snapshot covered it is not "missing", nor a
folder made after check read the catalog "unknown"), and still reports a listed segment that
is truly gone and a folder the catalog does not list.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import textwrap
from kill_harness import HERE

from embedb.engine import writelog
from embedb.engine.check import check_database


def _checks_beside_writer(path: Path, segment: int, seconds: float) -> tuple[int, list]:
    proc = subprocess.Popen([sys.executable, str(HERE / "qa4_wlog_writer.py"), str(path), str(segment),
                             "fsync", "11", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reading = threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in proc.stdout), daemon=True)
    reading.start()
    runs, found = 0, []
    try:
        deadline = time.monotonic() + 60
        while lines.count("ack") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            problems, checked = check_database(path)
            runs += 1
            assert checked > 1
            if problems:
                found.append((runs, problems))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        reading.join(10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-3000:]
    assert lines.count("ack") > 20, "the writer made too few calls for the test to mean anything"
    return runs, found


@pytest.mark.parametrize("segment", [1, 4096])
def test_check_beside_a_writer_deleting_segments_reports_nothing(tmp_path, segment):
    path = tmp_path / "live.db"
    runs, found = _checks_beside_writer(path, segment, 10)
    assert runs >= 5 and not found, f"{len(found)} of {runs} checks reported damage: {found[:3]}"
    # the killed writer's database is healthy; a listed segment deleted is still reported
    assert check_database(path)[0] == []
    import sqlite3
    con = sqlite3.connect(path / "embedb.sqlite3")
    listed = sorted(k[5:] for (k,) in con.execute("SELECT key FROM meta WHERE key LIKE 'wlog/%'"))
    con.close()
    assert listed
    (path / writelog.DIR / listed[0]).unlink()
    problems, _ = check_database(path)
    assert [p["file"] for p in problems] == [f"wlog/{listed[0]}"], problems
    assert "missing" in problems[0]["problem"]


@pytest.mark.slow
def test_check_beside_a_writer_deleting_segments_long(tmp_path):
    runs, found = _checks_beside_writer(tmp_path / "live.db", 1, 60)
    assert not found, f"{len(found)} of {runs} checks reported damage: {found[:3]}"


DDL_WRITER = textwrap.dedent("""
    import sys
    from embedb import MilvusClient
    client = MilvusClient(sys.argv[1])
    i = 0
    while True:
        name = f"t{i % 3}"
        if client.has_collection(name):
            client.drop_collection(name)
        client.create_collection(name, dimension=4)
        client.insert(name, [{"id": j, "vector": [j, 1, 2, 3]} for j in range(50)])
        if i % 2:
            client.flush(name)
        i += 1
        print("ack", flush=True)
""")


def test_check_beside_a_writer_dropping_and_creating_collections_reports_nothing(tmp_path):
    path = tmp_path / "ddl.db"
    proc = subprocess.Popen([sys.executable, "-c", DDL_WRITER, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    runs, found, acks = 0, [], 0
    try:
        assert proc.stdout.readline().strip() == "ack", proc.stderr.read()[-3000:]
        stop = time.monotonic() + 10
        while time.monotonic() < stop:
            problems, _ = check_database(path)
            runs += 1
            if problems:
                found.append(problems)
    finally:
        proc.send_signal(signal.SIGKILL)
        acks = len(proc.communicate(timeout=60)[0].split())
    assert acks > 20 and runs >= 5
    assert not found, f"{len(found)} of {runs} checks reported damage: {found[:3]}"
    (path / "collections" / "9999").mkdir()   # a folder no collection of the catalog owns
    problems, _ = check_database(path)
    assert [p["file"] for p in problems] == ["collections/9999"], problems
