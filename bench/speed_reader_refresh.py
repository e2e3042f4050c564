"""A read-only client's refresh beside a writer holding a large write log (wlog/).

    .venv/bin/python bench/speed_reader_refresh.py --before-src /tmp/wt/before/src
    .venv/bin/python bench/speed_reader_refresh.py --before-src A/src --after-src B/src --log-mib 64

A writer process (``--after-src``'s embedb) inserts 1,000-row calls of 384-d float32 vectors
until the write log holds ``--log-mib`` MiB (60: just below the 64 MiB at which a checkpoint
runs), then waits; a reader process per checkout opens the
database read-only. Each round the writer makes one small call (one row) and every reader, in
turn (the order alternating), times

* ``refresh``: ``Database.refresh()`` and the collection's row count (the catalog read again,
  each collection reloaded: the snapshot mapped and the log after it replayed), and
* ``scan``: after the next small call, the write log's scan alone (``Storage._records()``: what
  the reader reads of wlog/ to find the records),

with the bytes each read from files meanwhile (``rchar`` of ``/proc/self/io``). Two states of
the log: **uncovered** (no checkpoint since the log began: every record is replayed at each
refresh) and **covered** (the writer flushed: a snapshot covers the log, and what is left of
it is the newest segment, up to 32 MiB (28 of the 60), scanned but not replayed; the state after
every background checkpoint).
Medians over ``--rounds``; "before" and "after" run in the same rounds, beside the same writer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WRITER = r"""
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from embedb.engine import Database
from embedb.schema import CollectionSchema, DataType
path, log_mib = sys.argv[2], int(sys.argv[3])
db = Database.open(path)
s = CollectionSchema()
s.add_field("id", DataType.INT64, is_primary=True)
s.add_field("v", DataType.FLOAT_VECTOR, dim=384)
c = db.create_collection("c", s)
rng = np.random.default_rng(3)
n = 0
while n * 384 * 4 < log_mib * (1 << 20):
    c.insert([{"id": n + i, "v": v} for i, v in enumerate(rng.random((1000, 384), dtype=np.float32))])
    n += 1000
print("ready", n, flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "call":
        c.insert([{"id": n, "v": np.zeros(384, np.float32)}])
        n += 1
    elif cmd == "flush":
        db.flush()
    elif cmd == "close":
        db.close()
        print("closed", flush=True)
        break
    print("ok", n, flush=True)
"""

READER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from embedb.engine import Database

def rchar():
    with open("/proc/self/io") as fh:
        return int(next(l for l in fh if l.startswith("rchar:")).split()[1])

db = Database.open(sys.argv[2], read_only=True)
print("ready", db.get_collection("c").num_rows, flush=True)
for line in sys.stdin:
    cmd = line.split()
    r0 = rchar(); t0 = time.perf_counter()
    if cmd[0] == "refresh":
        db.refresh()
        rows = db.get_collection("c").num_rows
    elif cmd[0] == "scan":
        rows = len(db._storage._records())
    else:
        break
    dt = time.perf_counter() - t0
    print(dt, rchar() - r0, rows, flush=True)
"""


class Child:
    def __init__(self, code: str, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def ask(self, cmd: str | None = None) -> list[str]:
        if cmd is not None:
            self.proc.stdin.write(cmd + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline().split()
        if not line:
            raise RuntimeError(f"child ended (rc {self.proc.poll()})")
        return line

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=120)


def measure(writer: Child, readers: dict[str, Child], rounds: int) -> dict[str, dict[str, list]]:
    out = {name: {"refresh": [], "scan": [], "refresh_mib": [], "scan_mib": []} for name in readers}
    names = list(readers)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for what in ("refresh", "scan"):
            rows = int(writer.ask("call")[1])
            for name in order:
                dt, nbytes, got = readers[name].ask(what)
                if what == "refresh":
                    assert int(got) == rows, (name, got, rows)   # every acknowledged call seen
                out[name][what].append(float(dt))
                out[name][what + "_mib"].append(int(nbytes) / (1 << 20))
    return out


def wlog_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in (path / "wlog").glob("*.log")) / (1 << 20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before-src", required=True, help="the checkout to compare with (its src/)")
    ap.add_argument("--after-src", default=str(ROOT / "src"))
    ap.add_argument("--log-mib", type=int, default=60,
                    help="log written before measuring (below the 64 MiB checkpoint threshold: none runs)")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "refresh.db"
        writer = Child(WRITER, args.after_src, str(path), str(args.log_mib))
        print(f"writer: {writer.ask()[1]} rows in calls of 1,000 x 384-d")
        readers = {"before": Child(READER, args.before_src, str(path)),
                   "after": Child(READER, args.after_src, str(path))}
        for child in readers.values():
            child.ask()
        results = {}
        for state in ("uncovered", "covered"):
            if state == "covered":
                writer.ask("flush")
            size = wlog_mib(path)
            results[state] = (size, measure(writer, readers, args.rounds))
        for child in readers.values():
            child.stop()
        writer.ask("close")
        writer.stop()
    print()
    print("| log state | wlog MiB | refresh ms before / after | after / before | MiB read per refresh "
          "before / after | scan ms before / after | MiB read per scan before / after |")
    print("|---|---|---|---|---|---|---|")
    med = statistics.median
    for state, (size, res) in results.items():
        b, a = res["before"], res["after"]
        print(f"| {state} | {size:.1f} | {med(b['refresh']) * 1e3:.1f} / {med(a['refresh']) * 1e3:.1f} | "
              f"{med(a['refresh']) / med(b['refresh']):.2f}x | {med(b['refresh_mib']):.1f} / "
              f"{med(a['refresh_mib']):.1f} | {med(b['scan']) * 1e3:.1f} / {med(a['scan']) * 1e3:.2f} | "
              f"{med(b['scan_mib']):.1f} / {med(a['scan_mib']):.3f} |")


if __name__ == "__main__":
    main()
