"""Upserts and deletes whose records land in later segments than the inserts they change (a
segment per call), across crashes (``os._exit``: no close, the next open replays) whose
reopens switch durability fsync <-> process each time: every acknowledged call is there, in
order, ``embedb check`` is clean, and a segment a crashed writer left open is sealed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kill_harness import HERE, apply_call, check_cli

from embedb import MilvusClient

WRITER = """
import json, os, sys
sys.path.insert(0, sys.argv[4])
import embedb.engine.writelog as writelog
from qa4_wlog_ddl_writer import run_step
from embedb import MilvusClient
writelog.SEGMENT_BYTES = int(sys.argv[3])
c = MilvusClient(sys.argv[1], durability=sys.argv[2])
if not c.has_collection("a"):
    run_step(c, ["create", "a"])
for step in json.loads(sys.stdin.read()):
    run_step(c, step)
os._exit(0)
"""


def _round(path: Path, durability: str, segment: int, steps: list) -> None:
    subprocess.run([sys.executable, "-c", WRITER, str(path), durability, str(segment), str(HERE)],
                   input=json.dumps(steps), text=True, check=True, timeout=120)


def _stored(path: Path, durability: str) -> dict:
    c = MilvusClient(str(path), durability=durability)
    try:
        c.load_collection("a")
        rows = c.query("a", filter="", output_fields=["ver", "v"])
        for r in rows:
            assert [float(x) for x in r["v"]] == [float(r["id"]), float(r["ver"]), 0.0, 1.0], r
        return {r["id"]: r["ver"] for r in rows}
    finally:
        c.close()


def _switching(tmp_path: Path, rounds: int, segment: int) -> None:
    path = tmp_path / "s.db"
    model: dict = {}
    ver = 0
    for rnd in range(rounds):
        durability = ["fsync", "process"][rnd % 2]
        steps = []
        for k in range(6):
            ver += 1
            base = rnd * 20
            steps.append(["insert", "a", "", list(range(base, base + 10)), ver])
            ver += 1
            old = sorted(model) or [base]
            steps.append(["upsert", "a", "", old[::3] + [base + 10 + k], ver])
            steps.append(["delete", "a", old[1::4]])
            for s in steps[-3:]:
                call = ({"op": s[0], "ids": s[3], "ver": s[4]} if s[0] != "delete"
                        else {"op": "delete", "ids": s[2]})
                model = apply_call(model, call)
        _round(path, durability, segment, steps)
        check_cli(path)
        reopen = ["process", "fsync"][rnd % 2]   # the other level
        assert _stored(path, reopen) == model, f"round {rnd} ({durability} -> {reopen})"
    c = MilvusClient(str(path))
    c.close()
    check_cli(path)
    assert _stored(path, "fsync") == model


@pytest.mark.parametrize("segment", [1, 3000])
def test_upserts_and_deletes_after_rotation_across_durability_switches(tmp_path, segment):
    _switching(tmp_path, 4, segment)


@pytest.mark.slow
def test_upserts_and_deletes_after_rotation_across_durability_switches_long(tmp_path):
    _switching(tmp_path, 20, 1)
