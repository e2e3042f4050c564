"""A segment a crashed durability="process" writer left open holds records only in the page
cache. The next opener seals it: records its length in the catalog, durably, and appends after
it in a new segment (at "fsync", acknowledged calls). Unless it fsyncs the segment first, a
power cut can leave that file shorter than the length the catalog records: the next open is a
StorageError ("damaged: N bytes, the catalog records M") and the calls acknowledged after it,
at "fsync" too, are lost with it. Checked with strace on a real reopen: the open segment is
fsynced before the call after it is acknowledged.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WRITER = """
import os, sys
from embedb import MilvusClient
c = MilvusClient(sys.argv[1], durability=sys.argv[2])
if not c.has_collection("a"):
    c.create_collection("a", dimension=4)
c.insert("a", [{"id": int(sys.argv[3]) + i, "vector": [1.0, 2.0, 3.0, 4.0]} for i in range(5)])
print("ack", flush=True)
os._exit(0)
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
@pytest.mark.parametrize("reopen", ["fsync", "process"])
def test_a_segment_left_open_is_synced_before_it_is_sealed(tmp_path, reopen):
    path = tmp_path / "p.db"
    subprocess.run([sys.executable, "-c", WRITER, str(path), "process", "0"], check=True,
                   capture_output=True, timeout=60)
    seg = sorted((path / "wlog").iterdir())[0].name
    proc = subprocess.run(["strace", "-f", "-y", "-e", "trace=fsync,fdatasync,write",
                           sys.executable, "-c", WRITER, str(path), reopen, "100"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip("ptrace not permitted here")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trace = proc.stderr
    ack = trace.find('"ack')
    assert ack > 0, trace[-2000:]
    synced = re.search(r"f(data)?sync\(\d+<[^>]*/wlog/" + re.escape(seg) + ">", trace[:ack])
    assert synced, f"{seg}, left open by a crashed process-level writer, was sealed and a call " \
                   "after it acknowledged without an fsync of it"
