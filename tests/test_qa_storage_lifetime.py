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

import os
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("qa_lifetime_driver.py")


def _run(tmp_path, mode: str, seconds: float, *extra: str, timeout: float = 120) -> str:
    proc = subprocess.Popen([sys.executable, str(DRIVER), str(tmp_path), mode, str(seconds), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        pytest.fail(f"{mode}: hung\n{out[-3000:]}")
    assert proc.returncode == 0, f"{mode}: exit code {proc.returncode} (negative: a signal)\n{out[-3000:]}"
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
