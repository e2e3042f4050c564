"""Lifetime of the vectors an HNSW graph reads in place (issue 15's zero-copy storage).

Under L2/IP an HNSW graph has no vectors of its own: faiss reads the column's memory (a memory
map of the part file after opening, an anonymous reserved mapping once rows are appended,
remapped when it outgrows its reservation). A faiss read of memory that was unmapped or reused
is a segfault or a wrong distance. Each scenario runs ``qa_lifetime_driver.py`` in its own
process (a crash is an exit code, a hang a timeout) and checks every hit's distance against the
vector of its id, and the final answers (also after reopening) against brute force:

- grow: two threads search while a writer inserts (the column moves many times: reservations
  of 32 KiB at 2x), upserts, deletes, flushes and compacts; L2, IP, COSINE; with a thread
  calling ``gc.collect()`` without pause;
- lifecycle: searches while another thread releases, loads, drops and recreates the collection,
  inserts, flushes and compacts;
- close: the client is closed under two searching threads, reopened, written and checked;
- exit: the interpreter exits while daemon threads search and insert;
- reopen: many open / write / compact / search / close (or drop the last reference) cycles;
- reader: a read-only process refreshes and searches while this one writes and compacts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kill_harness import run_or_fail

DRIVER = Path(__file__).with_name("qa_lifetime_driver.py")


def _run(tmp_path, mode: str, seconds: float, *extra: str, timeout: float = 120) -> str:
    code, out = run_or_fail([str(DRIVER), str(tmp_path), mode, str(seconds), *extra], timeout, mode)
    assert code == 0, f"{mode}: exit code {code} (negative: a signal)\n{out[-3000:]}"
    assert out.rstrip().endswith("OK") or "\nOK" in out, out[-3000:]
    return out


@pytest.mark.parametrize("mode", ["grow_cos_gc", "lifecycle"])
def test_searches_while_the_column_moves_and_the_collection_changes(tmp_path, mode):
    _run(tmp_path, mode, 1.5)


@pytest.mark.slow
def test_close_under_searching_threads_then_reopen(tmp_path):
    _run(tmp_path, "close", 1)


def test_exit_while_daemon_threads_search_and_write(tmp_path):
    _run(tmp_path, "exit", 0, "0.3", timeout=60)


@pytest.mark.slow
def test_open_write_compact_close_cycles(tmp_path):
    _run(tmp_path, "reopen", 1)


def test_a_reader_process_refreshes_and_searches_while_the_writer_compacts(tmp_path):
    _run(tmp_path, "reader", 1)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["grow", "grow_ip", "grow_ip_gc", "grow_cos_gc", "lifecycle", "close",
                                  "reopen", "reader"])
def test_long_lifetime_stress(tmp_path, mode):
    _run(tmp_path, mode, 20, timeout=600)


@pytest.mark.slow
def test_exit_many_times(tmp_path):
    for i in range(15):
        (tmp_path / str(i)).mkdir()
        _run(tmp_path / str(i), "exit", 0, str(0.02 + 0.07 * i), timeout=60)


REAL_RESERVATION = r'''
import sys, threading
import numpy as np
from embedb import MilvusClient, DataType
from embedb.engine import columns

DIM = 128
row_bytes = DIM * 4
past = columns.RESERVE_BYTES // row_bytes + 4000   # rows that take the column past the line
c = MilvusClient(sys.argv[1])
s = c.create_schema()
s.add_field("id", DataType.INT64, is_primary=True)
s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
ix = c.prepare_index_params()
ix.add_index("v", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 16})
c.create_collection("c", schema=s, index_params=ix)
rng = np.random.default_rng(0)
X = rng.standard_normal((past, DIM)).astype(np.float32)
first = past - 8000
for a in range(0, first, 4000):
    c.insert("c", [{"id": i, "v": X[i]} for i in range(a, min(first, a + 4000))])
c.search("c", X[:1], limit=3)   # the graph now reads the column's buffer in place
errors, stop = [], threading.Event()

def search():
    r = np.random.default_rng(1)
    while not stop.is_set():
        q = X[r.integers(0, first, 2)] + 0.01
        for qi, hits in zip(q, c.search("c", q, limit=4, search_params={"params": {"ef": 32}})):
            for h in hits:
                d = float(((qi - X[h["id"]]) ** 2).sum())
                if abs(d - h["distance"]) > 1e-3 * max(1.0, d):
                    errors.append((h["id"], h["distance"], d))

t = threading.Thread(target=search)
t.start()
for a in range(first, past, 1000):   # the column moves into its reserved mapping meanwhile
    c.insert("c", [{"id": i, "v": X[i]} for i in range(a, min(past, a + 1000))])
c.flush("c")
stop.set()
t.join()
assert not errors, errors[:3]
q = X[-20:] + 0.01   # rows added last, after the move: in the graph, at the right distances
hits = c.search("c", q, limit=10, search_params={"params": {"ef": 512}})
recall = []
for qi, h in zip(q, hits):
    d = ((X - qi) ** 2).sum(1)
    for x in h:
        assert abs(d[x["id"]] - x["distance"]) <= 1e-3 * max(1.0, d[x["id"]]), x
    recall.append(len({x["id"] for x in h} & set(np.argsort(d)[:10].tolist())) / 10)
assert np.mean(recall) >= 0.6, recall   # random 128-d data: faiss alone finds 16 of 20 selves
c.close()
print("OK")
'''


@pytest.mark.slow
def test_searches_while_a_real_column_moves_into_its_reservation(tmp_path):
    """Without shrunken constants: the vector column crosses ``columns.RESERVE_BYTES`` and moves
    into the reserved mapping while another thread searches the graph that reads it."""
    script = tmp_path / "real.py"
    script.write_text(REAL_RESERVATION)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "r.db")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and "OK" in proc.stdout, \
        f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
