"""A read-only opener and ``Database.refresh`` in this process while a writer process rotates a
write log segment at every call and deletes segments after each background checkpoint: a reader
never raises (no FileNotFoundError, no raw OSError, no StorageError about a segment the writer
just let go of), and every state it reads is the database after a prefix of the writer's calls
(no row missing, none twice, never half a call).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kill_harness import HERE, read_beside_writer

from embedb import MilvusClient


MASK = (1 << 64) - 1


def _digest(model: dict) -> int:
    """An order-free digest of the rows (a sum of each row's hash), updated per call below
    (a long run has thousands of calls over thousands of rows)."""
    return sum(hash(kv) for kv in model.items()) & MASK


def _after(model: dict, digest: int, call: dict) -> int:
    """The digest of ``model`` after ``call``, ``model`` unchanged."""
    touched = {i: model[i] for i in call.get("ids", []) if i in model}
    new = {} if call["op"] == "delete" else {i: call["ver"] for i in call.get("ids", [])}
    return (digest - sum(hash(kv) for kv in touched.items())
            + sum(hash(kv) for kv in new.items())) & MASK


def _state(client: MilvusClient) -> dict:
    state = {}
    for r in client.query("c", filter="", output_fields=["ver"]):
        assert r["id"] not in state, f"row {r['id']} twice"
        state[r["id"]] = r["ver"]
    return state


def _run(path: Path, durability: str, segment: int, seconds: float) -> None:
    lines, seen, errors = read_beside_writer(
        [str(HERE / "qa4_wlog_writer.py"), str(path), str(segment), durability, "7", "0", "0.01"],
        path, durability=durability, read=lambda reader: _digest(_state(reader)),
        ready=lambda lines: lines.count("ack") >= 2, seconds=seconds, reopen_every=4)
    assert not errors, f"{len(errors)} of {len(seen) + len(errors)} reads failed: {errors[:5]}"
    model: dict = {}
    digest = 0
    prefixes = {digest}
    pending = None
    for line in lines:
        if line.startswith("begin "):
            pending = json.loads(line[6:])
            prefixes.add(_after(model, digest, pending))
        elif line == "ack":
            digest = _after(model, digest, pending)
            if pending["op"] == "delete":
                for i in pending["ids"]:
                    model.pop(i, None)
            else:
                model.update({i: pending["ver"] for i in pending.get("ids", [])})
            assert digest == _digest(model) or len(model) > 2000
            prefixes.add(digest)
    bad = [n for n, d in enumerate(seen) if d not in prefixes]
    assert not bad, f"reads {bad[:10]} of {len(seen)} saw a state after no prefix of the calls"
    assert len(seen) > 10


@pytest.mark.parametrize("durability", ["fsync", "process"])
def test_a_reader_beside_rotating_and_deleting_segments(tmp_path, durability):
    _run(tmp_path / "r.db", durability, 1, 12)


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["fsync", "process"])
@pytest.mark.parametrize("segment", [1, 4096])
def test_a_reader_beside_rotating_and_deleting_segments_long(tmp_path, durability, segment):
    _run(tmp_path / "r.db", durability, segment, 90)
