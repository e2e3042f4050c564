"""kill -9 while 1,000 x 384-d calls stream in: the background WAL copy (PASSIVE then
RESTART), the WAL-file fsync of checkpoints, EMBLOG3 log entries and the column prefaulter all
run when the kill lands (durability "fsync" and "process"; one variant with the writer's own
SQLite autocheckpoint lowered so it runs inside commits as well).

The writer (``qa2_kill_bulk_writer.py``) prints each call before making it and ``ack`` after.
After every kill: ``embedb check`` passes, the database opens, and its rows are exactly the
acknowledged calls applied in order plus the in-flight call whole or not at all; every stored
vector is the one its call wrote.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embedb import MilvusClient

WRITER = Path(__file__).with_name("qa2_kill_bulk_writer.py")
DIM = 384


def _apply(model: dict, call: dict) -> dict:
    model = dict(model)
    if call["op"] in ("insert", "upsert"):
        for i in call["ids"]:
            model[i] = call["ver"]
    elif call["op"] == "delete":
        for i in call["ids"]:
            model.pop(i, None)
    return model


def _stored(path: Path, durability: str, read_only: bool) -> dict:
    c = MilvusClient(str(path), read_only=read_only, durability=durability)
    c.load_collection("c")
    rows = c.query("c", filter="", output_fields=["ver", "v"])
    out = {}
    for r in rows:
        want = np.random.default_rng(r["id"] * 1000 + r["ver"]).random(DIM, dtype=np.float32)
        assert np.array_equal(np.float32(r["v"]), want), r["id"]
        out[r["id"]] = r["ver"]
    if rows:   # the FLAT index answers as brute force does
        q = np.float32(rows[len(rows) // 2]["v"])
        hit = c.search("c", [q], limit=1)[0][0]
        assert hit["distance"] <= 1e-4, hit
    c.close()
    return out


def _check_cli(path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "embedb.cli", "check", str(path), "--json"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"embedb check: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")


def _kill_loop(tmp_path: Path, durability: str, rounds: int, seed: int, small_wal: bool) -> None:
    path = tmp_path / "k.db"
    rnd = random.Random(seed)
    model: dict[int, int] = {}
    next_id = 0
    acked = 0
    for rnd_i in range(rounds):
        proc = subprocess.Popen([sys.executable, str(WRITER), str(path), durability,
                                 str(seed * 100 + rnd_i), str(next_id), "1" if small_wal else "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stdout.readline()
            if not first:
                raise AssertionError(proc.stderr.read())
            time.sleep(rnd.uniform(0.8, 2.0))
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL, f"the writer died on its own\n{err[-3000:]}"
        pending = None
        for line in [first.rstrip("\n"), *out.splitlines()]:
            if line.startswith("begin "):
                try:
                    pending = json.loads(line[6:])
                except ValueError:   # torn print of "begin": the call never started
                    pending = None
            elif line == "ack":
                model = _apply(model, pending)
                acked += 1
                pending = None
        if pending:
            next_id = max([next_id, *pending.get("ids", [])]) + 1
        next_id = max([next_id, *model]) + 1 if model else next_id
        _check_cli(path)
        stored = _stored(path, durability, read_only=rnd_i % 2 == 1)
        allowed = [model] + ([_apply(model, pending)] if pending else [])
        if stored not in allowed:
            missing = set(model) - set(stored)
            extra = set(stored) - set(model)
            changed = {i for i in set(model) & set(stored) if model[i] != stored[i]}
            raise AssertionError(f"round {rnd_i} ({durability}): rows differ from the acknowledged "
                                 f"calls; in flight {pending and pending['op']}; missing {len(missing)} "
                                 f"{sorted(missing)[:5]}, extra {len(extra)}, other version {len(changed)}")
        model = stored
    assert acked >= rounds
    _check_cli(path)


@pytest.mark.parametrize("durability,small_wal", [("fsync", False), ("process", True)])
def test_kill_9_during_bulk_inserts_loses_no_acknowledged_call(tmp_path, durability, small_wal):
    _kill_loop(tmp_path, durability, rounds=2, seed=11 if durability == "fsync" else 12, small_wal=small_wal)


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["fsync", "process"])
@pytest.mark.parametrize("small_wal", [False, True])
def test_kill_9_during_bulk_inserts_long(tmp_path, durability, small_wal):
    _kill_loop(tmp_path, durability, rounds=12, seed=21 + small_wal * 2 + (durability == "fsync"),
               small_wal=small_wal)
