"""A real disk (a small tmpfs) fills up while 1,000 x 384-d calls stream in with every
automatic checkpoint on the background thread (part files, the WAL-file fsync, the background
WAL copy into SQLite's main file, which grows it): every acknowledged call is stored, a refused
call stores nothing, and after room is made the database opens with exactly those rows and
``embedb check`` passes. In a child process with a timeout; needs root to mount (skipped
otherwise)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from kill_harness import check_cli, mounted_tmpfs

CHILD = textwrap.dedent(r'''
    import sys, warnings
    import numpy as np
    import embedb.engine.database as dbmod
    from embedb.engine import Database
    from embedb.errors import StorageError
    from embedb.schema import CollectionSchema, DataType

    dbmod.CHECKPOINT_LOG_BYTES = 2_000_000
    dbmod.BACKGROUND_CHECKPOINT_BYTES = 0
    dbmod.BACKGROUND_LAG = 1_000_000
    root = sys.argv[1]
    path = root + "/full.db"
    ballast = root + "/ballast"
    open(ballast, "wb").write(bytes(6 << 20))
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=384)
    c = db.create_collection("c", s)
    acked, refused, nid = [], 0, 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(200):
            ids = list(range(nid, nid + 1000)); nid += 1000
            v = np.random.default_rng(ids[0]).random((1000, 384), dtype=np.float32)
            try:
                c.insert([{"id": i, "v": v[k]} for k, i in enumerate(ids)])
            except StorageError as exc:
                refused += 1
                if refused >= 4:
                    break
                continue
            acked += ids
            db._checkpointer.wait_idle(30)
        assert refused, "the disk never filled up"
        got = sorted(r["id"] for r in c.query(output_fields=["id"]))
        assert got == acked, (len(got), len(acked))
        try:
            db.close()
        except StorageError:
            pass
    print("warnings:", sorted({str(w.message)[:80] for w in caught})[:5])
    import os
    os.unlink(ballast)
    db = Database.open(path)
    c = db.get_collection("c")
    got = {r["id"]: r["v"] for r in c.query(output_fields=["id", "v"])}
    assert sorted(got) == acked, (len(got), len(acked))
    for i in acked[::997]:
        want = np.random.default_rng(i // 1000 * 1000).random((1000, 384), dtype=np.float32)[i % 1000]
        assert np.array_equal(np.float32(got[i]), want), i
    db.close()
    print("OK", len(acked), refused)
''')


@pytest.fixture
def small_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path, "24m")


def test_a_full_disk_under_background_checkpoints_keeps_exactly_the_acknowledged_calls(small_disk):
    proc = subprocess.run([sys.executable, "-c", CHILD, str(small_disk)], capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-5000:]
    check_cli(small_disk / "full.db")
