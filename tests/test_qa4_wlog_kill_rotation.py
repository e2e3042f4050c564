"""kill -9 of a writer whose write log segments rotate at almost every call (segments of a few
KB) and are deleted after each background checkpoint (every ~60 KB of log): after each kill
``embedb check`` is clean and the rows are the acknowledged calls, the one in flight whole or
absent (``kill_harness.kill_loop``), at durability="fsync" and "process", reopened at either.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kill_harness import kill_loop, search_equals_brute_force, stored_model

DIM = 8


def _loop(tmp_path: Path, durability: str, segment: int, rounds: int, seed: int) -> None:
    path = tmp_path / "k.db"
    other = "process" if durability == "fsync" else "fsync"

    def stored(rnd_i: int) -> dict:
        return stored_model(path, durability=durability if rnd_i % 3 else other,
                            read_only=rnd_i % 2 == 0, dim=DIM, extra_fields=("t",),
                            check_index=search_equals_brute_force(DIM))

    acked = kill_loop(path, writer="qa4_wlog_writer.py", rounds=rounds, seed=seed,
                      writer_args=lambda rnd_i, next_id: [str(segment), durability,
                                                          str(seed * 100 + rnd_i), str(next_id)],
                      stored=stored, pause=(0.1, 1.0), label=f"{durability} seg {segment}")
    assert acked > rounds * 2


@pytest.mark.parametrize("durability", ["fsync", "process"])
@pytest.mark.parametrize("segment", [1, 4096])
def test_kill_9_around_segment_rotation_and_deletion(tmp_path, durability, segment):
    _loop(tmp_path, durability, segment, rounds=3, seed=segment % 7 + (durability == "fsync"))


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["fsync", "process"])
@pytest.mark.parametrize("segment", [1, 4096, 65536])
def test_kill_9_around_segment_rotation_and_deletion_long(tmp_path, durability, segment):
    _loop(tmp_path, durability, segment, rounds=30, seed=11 + segment % 13 + (durability == "fsync"))
