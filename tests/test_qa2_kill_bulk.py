"""kill -9 while 1,000 x 384-d calls stream in: the background WAL copy (PASSIVE then
RESTART), the WAL-file fsync of checkpoints, EMBLOG3 log entries and the column prefaulter all
run when the kill lands (durability "fsync" and "process"; one variant with the writer's own
SQLite autocheckpoint lowered so it runs inside commits as well).

The writer (``qa2_kill_bulk_writer.py``) prints each call before making it and ``ack`` after;
``kill_harness.kill_loop`` kills it. After every kill: ``embedb check`` passes, the database opens, and its rows are exactly the
acknowledged calls applied in order plus the in-flight call whole or not at all; every stored
vector is the one its call wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kill_harness import kill_loop, nearest_is_itself, stored_model

DIM = 384


def _kill_loop(tmp_path: Path, durability: str, rounds: int, seed: int, small_wal: bool) -> None:
    path = tmp_path / "k.db"

    def stored(rnd_i: int) -> dict:   # the FLAT index answers as brute force does
        return stored_model(path, durability=durability, read_only=rnd_i % 2 == 1, dim=DIM,
                            check_index=nearest_is_itself)

    acked = kill_loop(path, writer="qa2_kill_bulk_writer.py", rounds=rounds, seed=seed,
                      writer_args=lambda rnd_i, next_id: [durability, str(seed * 100 + rnd_i),
                                                          str(next_id), "1" if small_wal else "0"],
                      stored=stored, pause=(0.8, 2.0), label=durability)
    assert acked >= rounds


@pytest.mark.parametrize("durability,small_wal", [("fsync", False), ("process", True)])
def test_kill_9_during_bulk_inserts_loses_no_acknowledged_call(tmp_path, durability, small_wal):
    _kill_loop(tmp_path, durability, rounds=2, seed=11 if durability == "fsync" else 12, small_wal=small_wal)


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["fsync", "process"])
@pytest.mark.parametrize("small_wal", [False, True])
def test_kill_9_during_bulk_inserts_long(tmp_path, durability, small_wal):
    _kill_loop(tmp_path, durability, rounds=12, seed=21 + small_wal * 2 + (durability == "fsync"),
               small_wal=small_wal)
