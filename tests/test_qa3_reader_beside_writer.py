"""A read-only opener beside a writer process: every state a reader sees is the database after
some prefix of the writer's calls, whole (never half a call), and answers consistently.

The writer (``qa_kill_writer.py``: inserts, upserts, deletes, flushes and compactions with
checkpoints on the background thread) runs in its own process while this one opens the
database read-only again and again, and refreshes an open reader in between
(``Database.refresh``). Each state read must be one of the writer's prefix states (the
acknowledged calls in order, plus the one in flight), every row's vector and text the ones its
call wrote, and a search through the HNSW index (loaded, or rebuilt from the columns) must
answer as brute force over that same state. Then the writer is killed with SIGKILL and the
database holds exactly the acknowledged calls (``kill_harness``).

The ``reopened`` variant starts the writer on a closed database of 40,000 rows: its first
insert grows the 1.25 MiB vector column over the snapshot file's private map instead of a
copy (``columns.overlay_array``), and its text column takes new rows beside the still
undecoded snapshot text (``Column._tail``), which background checkpoints write alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from kill_harness import (HERE, apply_call, call_writer_collection, check_cli, read_beside_writer, replay,
                          stored_model, vector)

from embedb import MilvusClient

DIM = 8
PREFILL = 40_000   # x 8 float32: a 1.25 MiB vector column, past columns.OVERLAY_MIN


def _prefill(path: Path, n: int) -> dict:
    """The writer's collection (qa_kill_writer.py's schema) with rows 0..n-1 at version 0,
    closed: snapshot files and the graph saved."""
    c = MilvusClient(str(path))
    call_writer_collection(c, DIM)
    for lo in range(0, n, 10_000):
        c.insert("c", [{"id": i, "v": vector(i, 0, DIM), "ver": 0, "t": f"{i}:0"}
                       for i in range(lo, min(n, lo + 10_000))])
    c.close()
    return {i: 0 for i in range(n)}


_VECTORS: dict = {}


def _vector(i: int, ver: int) -> np.ndarray:   # kill_harness.vector, kept (40k rows per read)
    v = _VECTORS.get((i, ver))
    if v is None:
        v = _VECTORS[(i, ver)] = vector(i, ver, DIM)
    return v


def _digest(model: dict) -> str:
    return hashlib.sha1(json.dumps(sorted(model.items())).encode()).hexdigest()


def _read_state(client: MilvusClient) -> dict:
    """The reader's rows as primary key -> version, each row checked, and the index checked
    against brute force over those rows (the reader's state is fixed between refreshes)."""
    rows = client.query("c", filter="", output_fields=["ver", "t", "v"])
    state = {}
    for r in rows:
        assert r["id"] not in state, f"row {r['id']} twice"
        assert r["t"] == f"{r['id']}:{r['ver']}", r
        assert np.array_equal(np.float32(r["v"]), _vector(r["id"], r["ver"])), r["id"]
        state[r["id"]] = r["ver"]
    if state:
        ids = np.array(sorted(state))
        x = np.stack([_vector(i, state[i]) for i in ids])
        q = np.random.default_rng(len(ids)).random((2, DIM), dtype=np.float32)
        for qi in range(2):   # single queries: the fast path
            hits = client.search("c", [q[qi]], limit=5, search_params={"params": {"ef": 512}})[0]
            d = ((x - q[qi]) ** 2).sum(1)
            want = ids[np.lexsort((ids, d))[:5]].tolist()
            got = [h["id"] for h in hits]
            assert set(got) <= set(state), f"a search served rows not in the state: {set(got) - set(state)}"
            assert got == want or len(ids) > 400 and len(set(got) & set(want)) >= 4, (got, want)
    return state


@pytest.mark.parametrize("durability,prefill", [
    ("fsync", 0), ("process", 0),
    pytest.param("fsync", PREFILL, marks=pytest.mark.slow),   # ~85 s: 40k-row reads
], ids=["fsync", "process", "reopened"])
def test_a_reader_beside_a_writer_sees_whole_calls_only(tmp_path, durability, prefill):
    path = tmp_path / "rw.db"
    start = _prefill(path, prefill) if prefill else {}
    lines, seen, errors = read_beside_writer(
        [str(HERE / "qa_kill_writer.py"), str(path), durability, "31", str(prefill), "0.2"],  # ~5 calls/s
        path, durability=durability, read=lambda reader: _digest(_read_state(reader)),
        ready=lambda lines: "ack" in lines[:3],   # the collection exists
        seconds=40 if prefill else 20, reopen_every=3, max_reads=8)
    assert not errors, errors[:5]
    # every state read was the database after a prefix of the calls
    model: dict = dict(start)
    prefixes = {_digest(model)}
    pending = None
    for line in lines:
        if line.startswith("begin "):
            try:
                pending = json.loads(line[6:])
            except ValueError:
                pending = None
                continue
            prefixes.add(_digest(apply_call(model, pending)))   # the call in flight, landed
        elif line == "ack":
            model = apply_call(model, pending)
            prefixes.add(_digest(model))
    stray = [i for i, d in enumerate(seen) if d not in prefixes]
    assert len(seen) >= 3 and not stray, f"{len(stray)} of {len(seen)} reader states were no prefix state"
    # and after the kill: exactly the acknowledged calls, the in-flight one whole or absent
    model, pending, _ = replay(start, lines)
    check_cli(path)
    got = stored_model(path, durability=durability, read_only=True, dim=DIM, extra_fields=("t",))
    assert got in [model] + ([apply_call(model, pending)] if pending else [])
