"""An fsync or write that fails inside the BACKGROUND checkpointer (the part files, the
manifest, the WAL-file fsync of ``Storage.sync_wal`` after the log trim): every acknowledged
write is still stored (now, after a crash, and after a clean close), the failure surfaces once
as a warning, and the next checkpoint, once the disk works again, succeeds (the log shrinks).

Each case runs in its own process with a timeout (a background thread that hangs or kills the
process fails the test instead of hanging the run). The failing layer is the one of
tests/test_trust_diskfull.py, restricted to one kind of call."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(r'''
    import errno, os, sys, warnings
    sys.path.insert(0, {tests!r})
    import numpy as np
    import embedb.engine.database as dbmod
    from embedb.engine import Database, storage
    from test_trust_diskfull import FailingFS, _schema, _abandon

    KIND, CODE, SKIP = {kind!r}, {code}, {skip}
    dbmod.CHECKPOINT_LOG_BYTES = 20_000
    dbmod.BACKGROUND_CHECKPOINT_BYTES = 0
    dbmod.BACKGROUND_LAG = 1_000_000          # every automatic checkpoint in the background

    class OnlyKind(FailingFS):
        """Fails every call of one kind after the first SKIP of them (a disk that broke)."""
        def __init__(self):
            super().__init__(None)
            self.seen = 0
        def fsync(self, fh):
            name = getattr(getattr(fh, "_fh", fh), "name", "")
            if KIND == "walfsync" and str(name).endswith("-wal"):
                self.step("walfsync")
            super().fsync(fh)
        def step(self, what):
            if what == KIND:
                self.seen += 1
                if self.seen > SKIP:
                    raise OSError(CODE, os.strerror(CODE) + " (injected at " + what + ")")

    def rows(a, n):
        return [{{"id": i, "v": [i, 1, 2, 3], "t": f"t{{i}}"}} for i in range(a, a + n)]

    def state(db):
        return sorted(r["id"] for r in db.get_collection("c").query(output_fields=["id"]))

    path = sys.argv[1]
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    c.insert(rows(0, 200)); db.flush()
    acked = list(range(200))
    layer = OnlyKind()
    storage.fs = layer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(10):   # each call passes the threshold: the background thread is woken
            c.insert(rows(1000 + 100 * k, 100)); acked += list(range(1000 + 100 * k, 1100 + 100 * k))
            assert db._checkpointer.wait_idle(30), "background checkpoint hung"
        c.delete(ids=[5, 6]); acked.remove(5); acked.remove(6)
        assert db._checkpointer.wait_idle(30)
    msgs = [str(w.message) for w in caught if "checkpoint" in str(w.message)]
    assert layer.seen > SKIP, f"the failing call was never reached ({{layer.seen}} {{KIND}} calls)"
    assert len(msgs) == 1, msgs                      # surfaced, once
    assert state(db) == sorted(acked)
    stuck = db._log_bytes
    assert stuck > 0
    storage.fs = storage.FileOps()                   # the disk works again
    c.insert(rows(5000, 100)); acked += list(range(5000, 5100))
    for _ in range(5):
        assert db._checkpointer.wait_idle(30)
        if db._log_bytes < stuck: break
        c.insert(rows(6000 + _ * 10, 10)); acked += list(range(6000 + _ * 10, 6010 + _ * 10))
    assert db._log_bytes < stuck, ("no retry", db._log_bytes, stuck)   # the retry went through
    assert state(db) == sorted(acked)
    if {crash}:
        _abandon(db)
    else:
        db.close()
    db = Database.open(path)
    assert state(db) == sorted(acked)
    db.close()
    print("OK", KIND, layer.seen)
''')


@pytest.mark.parametrize("kind,skip,crash", [
    ("fsync", 0, True),        # the first fsync: part files
    ("fsync", 2, False),
    ("fsync", 5, True),        # later ones: the manifest, the WAL fsync after the trim
    ("write", 0, False),
    ("write", 3, True),
    ("rename", 0, True),
    ("walfsync", 0, False),    # Storage.sync_wal: the fsync of SQLite's WAL after the trim
    ("walfsync", 1, True),
])
@pytest.mark.parametrize("code", [errno.EIO])
def test_background_checkpoint_io_failure(tmp_path, kind, skip, crash, code):
    src = CHILD.format(tests=str(__import__("pathlib").Path(__file__).parent), kind=kind, code=code,
                       skip=skip, crash=crash)
    proc = subprocess.run([sys.executable, "-c", src, str(tmp_path / "d.db")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr[-4000:]
