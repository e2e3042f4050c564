"""kill -9 during inserts, upserts, deletes, flushes and compactions with checkpoints on the
background thread, at durability="fsync" and "process".

The writer (``qa_kill_writer.py``) prints each call before making it and ``ack`` when it
returned; ``kill_harness.kill_loop`` kills it. After every kill: ``embedb check`` (the CLI) finds no damage (a kill tears nothing:
SQLite's WAL is in the page cache whatever the level), the database opens (read-only, or as a
writer that replays and checkpoints), and its rows are exactly the acknowledged calls applied
in order, plus the one call in flight either whole or not at all (never part of it). Vector
search answers through the HNSW index equal brute force over those rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kill_harness import kill_loop, search_equals_brute_force, stored_model

DIM = 8


def _check_text(r: dict) -> None:
    assert r["t"] == f"{r['id']}:{r['ver']}", r


def _kill_loop(tmp_path: Path, durability: str, rounds: int, seed: int) -> None:
    path = tmp_path / "k.db"
    other = "process" if durability == "fsync" else "fsync"   # either level opens it

    def stored(rnd_i: int) -> dict:   # read-only or as a writer that replays and checkpoints
        return stored_model(path, durability=durability if rnd_i % 3 else other,
                            read_only=rnd_i % 2 == 0, dim=DIM, extra_fields=("t",),
                            check_row=_check_text, check_index=search_equals_brute_force(DIM))

    acked = kill_loop(path, writer="qa_kill_writer.py", rounds=rounds, seed=seed,
                      writer_args=lambda rnd_i, next_id: [durability, str(seed * 100 + rnd_i),
                                                          str(next_id)],
                      stored=stored, pause=(0.2, 1.2), label=durability)
    assert acked > rounds * 3


@pytest.mark.parametrize("durability", ["fsync", "process"])
def test_kill_9_with_background_checkpoints_loses_no_acknowledged_call(tmp_path, durability):
    _kill_loop(tmp_path, durability, rounds=2, seed=1 if durability == "fsync" else 2)


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["fsync", "process"])
def test_kill_9_with_background_checkpoints_long(tmp_path, durability):
    _kill_loop(tmp_path, durability, rounds=25, seed=3 if durability == "fsync" else 4)
