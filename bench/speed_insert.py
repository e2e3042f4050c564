"""Durable insert rate (issue 15): embedb beside LanceDB (and Milvus Lite), one run, interleaved.

    .venv/bin/python bench/speed_insert.py                 # 100k rows, marks at 20k and 100k
    .venv/bin/python bench/speed_insert.py --n 1000000     # marks at 20k, 100k, 200k, 500k, 1M
    .venv/bin/python bench/speed_insert.py --milvus        # also Milvus Lite (slow; small --n)
    .venv/bin/python bench/speed_insert.py --no-process    # without embedb's durability="process"
    .venv/bin/python bench/speed_insert.py --n 1000000 --every 100000 --procs   # flat to 1M? RSS

Each system gets the same rows, as the same Python objects: 1,000-row calls of a clustered
384-d float32 vector, an int64 primary key and a short VARCHAR. Calls alternate between the
systems (embedb's call, then LanceDB's, ...), so the shared machine's noise hits both alike.
A call is timed from entry to return, so a checkpoint that runs inside a call is paid by it;
"rows/s" at a mark is over the calls since the previous mark. ``close`` is timed apart.
``--every K`` puts a mark every K rows (is the rate flat as the collection grows?).

``--procs`` runs each system in a process of its own, driven in lock step by this one (the
same calls, interleaved the same way; each process builds the same batches from the seed), so
each one's resident memory (RSS, MiB) is printed at every mark, and one system's background
threads compete with another's calls for the cores but not for one interpreter's GIL.

Durability on return, as each system does it:

* embedb: the call's rows are in the write log, fsynced (``fdatasync``) before it returns
  (docs/storage.md, Durability); a checkpoint appends columns later, off the caller's path.
* embedb-process: ``MilvusClient(uri, durability="process")``: the log entry is committed
  without fsync (SQLite WAL, ``synchronous=NORMAL``), in the OS page cache on return: it
  survives kill -9 of the process, not a power cut: the guarantee LanceDB's ``add`` gives.
* LanceDB 0.40 ``table.add``: writes a new data file and a new manifest version through the
  Lance object store. ``--strace`` (Linux) counts the fsync family calls of each system's
  process-wide writes over a few calls, so the table says what each one actually syncs.
* Milvus Lite: a local server process; ``insert`` returns once the server has the rows.

Set ``EMBEDB_SRC`` to run another checkout's ``src`` (e.g. the previous commit, for before/after).
``--before-src PATH`` (with ``--procs``) adds that checkout's embedb (fsync and process) as
systems of their own, "embedb@before" and "embedb-process@before", in the same interleaved run.
``--reopen`` instead times the first insert call after reopening a database of ``--n`` rows
(and the anonymous memory it adds: a checkout that copies the mapped columns into memory on
the first write shows it), for this checkout and ``--before-src``, reopens interleaved.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("EMBEDB_SRC") or str(ROOT / "src"))

DIM = 384
BATCH = 1000


def make_batches(n: int, seed: int = 0):
    """Yield 1,000-row batches (list of dicts) of clustered vectors, ids and short tags."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((64, DIM)).astype(np.float32)
    for start in range(0, n, BATCH):
        k = min(BATCH, n - start)
        v = centers[rng.integers(0, 64, k)] + 0.1 * rng.standard_normal((k, DIM)).astype(np.float32)
        yield [{"id": start + i, "vector": v[i], "tag": f"tag{(start + i) % 97}"} for i in range(k)]


# ------------------------------------------------------------------------------- systems
class Embedb:
    name = "embedb"
    durability = "fsync"

    def __init__(self, path: Path):
        from embedb import DataType, MilvusClient

        self.client = MilvusClient(str(path), durability=self.durability)
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        schema.add_field("tag", DataType.VARCHAR, max_length=32)
        self.client.create_collection("c", schema=schema)

    def add(self, rows: list[dict]) -> None:
        self.client.insert("c", rows)

    def count(self) -> int:
        return int(self.client.get_collection_stats("c")["row_count"])

    def close(self) -> None:
        self.client.close()


class EmbedbProcess(Embedb):
    name = "embedb-process"
    durability = "process"


class EmbedbMemory(Embedb):
    """An in-memory database (``--memory``): the engine's own insert path (validation, columns,
    key index) without the log or any file, so its CPU alone."""

    name = "embedb-memory"

    def __init__(self, path: Path):
        from embedb import DataType, MilvusClient

        self.client = MilvusClient(":memory:")
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        schema.add_field("tag", DataType.VARCHAR, max_length=32)
        self.client.create_collection("c", schema=schema)


class Lance:
    name = "lancedb"

    def __init__(self, path: Path):
        import lancedb
        import pyarrow as pa

        self.db = lancedb.connect(str(path))
        schema = pa.schema([pa.field("id", pa.int64()), pa.field("vector", pa.list_(pa.float32(), DIM)),
                            pa.field("tag", pa.string())])
        self.table = self.db.create_table("c", schema=schema)

    def add(self, rows: list[dict]) -> None:
        self.table.add(rows)

    def count(self) -> int:
        return self.table.count_rows()

    def close(self) -> None:
        pass


class MilvusLite:
    name = "milvus-lite"

    def __init__(self, path: Path):
        from pymilvus import DataType, MilvusClient

        self.client = MilvusClient(str(path / "milvus.db"))
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        schema.add_field("tag", DataType.VARCHAR, max_length=32)
        self.client.create_collection("c", schema=schema)

    def add(self, rows: list[dict]) -> None:
        self.client.insert("c", rows)   # pymilvus takes NumPy vectors as they are

    def count(self) -> int:
        return self.client.query("c", output_fields=["count(*)"])[0]["count(*)"]

    def close(self) -> None:
        self.client.close()


# ------------------------------------------------------------------------------- the run
def marks_for(n: int, every: int = 0) -> list[int]:
    if every:
        return [m for m in range(every, n, every)] + [n]
    return [m for m in (20_000, 100_000, 200_000, 500_000, 1_000_000) if m < n] + [n]


def rss_mib() -> float:
    """This process's resident memory (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


class Remote:
    """One system in a child process: ``add`` sends the batch number, the child builds that
    batch from the seed, times its own call and answers (seconds, RSS MiB)."""

    def __init__(self, kind, path: Path, n: int, seed: int, src: str | None = None, label: str = ""):
        self.name = kind.name + label
        self.rss = self.cpu = 0.0   # resident MiB now; CPU seconds (every thread) inside the add calls
        env = dict(os.environ)
        if src:
            env["EMBEDB_SRC"] = src
        code = f"""
import sys, time; sys.path.insert(0, {str(ROOT / 'bench')!r})
import speed_insert as b
from pathlib import Path
kinds = {{k.name: k for k in (b.Embedb, b.EmbedbProcess, b.EmbedbMemory, b.Lance, b.MilvusLite)}}
s = kinds[{kind.name!r}](Path({str(path)!r}))
batches = b.make_batches({n}, {seed})
print('ready', flush=True)
cpu = 0.0
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == 'add':
        rows = next(batches)
        c0 = time.process_time()
        t0 = time.perf_counter(); s.add(rows); dt = time.perf_counter() - t0
        cpu += time.process_time() - c0
        print(dt, b.rss_mib(), cpu, flush=True)
    elif cmd[0] == 'count':
        print(s.count(), flush=True)
    elif cmd[0] == 'close':
        t0 = time.perf_counter(); s.close(); print(time.perf_counter() - t0, flush=True)
        break
"""
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        assert self._ask(None) == "ready", self.name

    def _ask(self, cmd: str | None) -> str:
        if cmd is not None:
            self.proc.stdin.write(cmd + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"{self.name}: the child process ended (rc {self.proc.poll()})")
        return line

    def add_timed(self) -> float:
        dt, rss, cpu = map(float, self._ask("add").split())
        self.rss, self.cpu = rss, cpu
        return dt

    def count(self) -> int:
        return int(self._ask("count"))

    def close(self) -> float:
        dt = float(self._ask("close"))
        self.proc.wait(timeout=60)
        return dt


def run(args, tmp: Path) -> None:
    ours = [Embedb] + ([] if args.no_process else [EmbedbProcess]) + ([EmbedbMemory] if args.memory else [])
    kinds = ours + [Lance] + ([MilvusLite] if args.milvus else [])
    systems = []
    for kind in kinds:
        d = tmp / kind.name
        d.mkdir()
        path = d / "db" if kind is not MilvusLite else d
        systems.append(Remote(kind, path, args.n, args.seed) if args.procs else kind(path))
    if args.before_src:
        if not args.procs:
            raise SystemExit("--before-src needs --procs (one checkout per process)")
        at = [s.name for s in systems].index("lancedb")
        for kind in ours:
            d = tmp / (kind.name + "-before")
            d.mkdir()
            systems.insert(at, Remote(kind, d / "db", args.n, args.seed, args.before_src, "@before"))
            at += 1
    marks = marks_for(args.n, args.every)
    if args.procs:
        run_procs(args, systems, marks)
        return
    spent = {s.name: 0.0 for s in systems}
    window = {s.name: 0.0 for s in systems}
    rows_done, last_mark = 0, 0
    table = []
    for rows in make_batches(args.n, args.seed):
        order = systems if (rows_done // BATCH) % 2 == 0 else systems[::-1]   # alternate who goes first
        for s in order:
            t0 = time.perf_counter()
            s.add(rows)
            dt = time.perf_counter() - t0
            spent[s.name] += dt
            window[s.name] += dt
        rows_done += len(rows)
        if rows_done in marks:
            span = rows_done - last_mark
            table.append((rows_done, {name: span / t for name, t in window.items()}))
            print(f"  {rows_done:>9,} rows: " + "  ".join(f"{name} {span / t:>9,.0f} rows/s"
                                                          for name, t in window.items()), flush=True)
            window = {name: 0.0 for name in window}
            last_mark = rows_done
    closing = {}
    for s in systems:
        assert s.count() == args.n, (s.name, s.count())
        t0 = time.perf_counter()
        s.close()
        closing[s.name] = time.perf_counter() - t0
    names = [s.name for s in systems]
    ours = [n for n in names if n.startswith("embedb")]
    print()
    print("| rows (window) | " + " | ".join(f"{n} rows/s" for n in names) + " | "
          + " | ".join(f"{n} / lancedb" for n in ours) + " |")
    print("|---|" + "---|" * (len(names) + len(ours)))
    prev = 0
    for mark, rates in table:
        print(f"| {prev:,}–{mark:,} | " + " | ".join(f"{rates[n]:,.0f}" for n in names)
              + " | " + " | ".join(f"{rates[n] / rates['lancedb']:.2f}x" for n in ours) + " |")
        prev = mark
    print("| all rows | " + " | ".join(f"{args.n / spent[n]:,.0f}" for n in names)
          + " | " + " | ".join(f"{spent['lancedb'] / spent[n]:.2f}x" for n in ours) + " |")
    print("close (s): " + ", ".join(f"{n} {closing[n]:.2f}" for n in names))
    print(f"machine: {os.cpu_count()} cores; batches of {BATCH:,} rows, {DIM}-d float32 + int64 + VARCHAR")


def run_procs(args, systems: list[Remote], marks: list[int]) -> None:
    """``run`` with each system in its own process: rows/s and RSS per mark."""
    names = [s.name for s in systems]
    spent = dict.fromkeys(names, 0.0)
    window = dict.fromkeys(names, 0.0)
    rows_done, last_mark, table = 0, 0, []
    for start in range(0, args.n, BATCH):
        k = min(BATCH, args.n - start)
        order = systems if (start // BATCH) % 2 == 0 else systems[::-1]
        for s in order:
            dt = s.add_timed()
            spent[s.name] += dt
            window[s.name] += dt
        rows_done += k
        if rows_done in marks:
            span = rows_done - last_mark
            rates = {name: span / t for name, t in window.items()}
            rss = {s.name: s.rss for s in systems}
            table.append((rows_done, rates, rss))
            print(f"  {rows_done:>9,} rows: " + "  ".join(f"{n} {rates[n]:>8,.0f}/s {rss[n]:>6,.0f} MiB"
                                                          for n in names), flush=True)
            window = dict.fromkeys(names, 0.0)
            last_mark = rows_done
    closing = {}
    for s in systems:
        got = s.count()
        closing[s.name] = s.close()
        assert got == args.n, (s.name, got)
    ours = [n for n in names if n.startswith("embedb")]
    print()
    print("| rows (window) | " + " | ".join(f"{n} rows/s" for n in names) + " | "
          + " | ".join(f"{n} / lancedb" for n in ours) + " | " + " | ".join(f"{n} RSS MiB" for n in names) + " |")
    print("|---|" + "---|" * (2 * len(names) + len(ours)))
    prev = 0
    for mark, rates, rss in table:
        print(f"| {prev:,}–{mark:,} | " + " | ".join(f"{rates[n]:,.0f}" for n in names)
              + " | " + " | ".join(f"{rates[n] / rates['lancedb']:.2f}x" for n in ours)
              + " | " + " | ".join(f"{rss[n]:,.0f}" for n in names) + " |")
        prev = mark
    print("| all rows | " + " | ".join(f"{args.n / spent[n]:,.0f}" for n in names)
          + " | " + " | ".join(f"{spent['lancedb'] / spent[n]:.2f}x" for n in ours) + " |" + " |" * len(names))
    print("close (s): " + ", ".join(f"{n} {closing[n]:.2f}" for n in names))
    cpu = {s.name: s.cpu for s in systems}
    print("CPU s inside the add calls, every thread (less noisy than wall time on a shared machine): "
          + ", ".join(f"{n} {cpu[n]:.2f}" for n in names))
    print("CPU / lancedb's: " + ", ".join(f"{n} {cpu[n] / cpu['lancedb']:.2f}x" for n in ours))
    from bench_speed import write_json   # (bench/ is this script's directory)
    write_json(args.json, {"rows_per_s": {n: args.n / spent[n] for n in names},
                           "windows": [{"rows": mark, "rows_per_s": rates} for mark, rates, _ in table],
                           "cpu_s": cpu})
    print(f"machine: {os.cpu_count()} cores; one process per system; batches of {BATCH:,} rows, "
          f"{DIM}-d float32 + int64 + VARCHAR")


# ------------------------------------------------------------------------------- strace
def count_syncs(kind_name: str, tmp: Path) -> str:
    """fsync-family calls (and the files they sync) of 5 add calls of one system."""
    code = f"""
import sys, time; sys.path.insert(0, {str(ROOT / 'bench')!r}); sys.path.insert(0, {sys.path[0]!r})
import speed_insert as b
from pathlib import Path
kind = {{'embedb': b.Embedb, 'embedb-process': b.EmbedbProcess, 'lancedb': b.Lance}}[{kind_name!r}]
s = kind(Path({str(tmp / ('strace-' + kind_name))!r}))
batches = list(b.make_batches(6000))
s.add(batches[0])
print('MARK-START', flush=True); open('/dev/null', 'rb').close(); time.sleep(0.01)
for rows in batches[1:]: s.add(rows)
open('/dev/zero', 'rb').close()   # the end of the counted calls (exit's own checkpoint is not one)
"""
    out = subprocess.run(["strace", "-f", "-e", "trace=fsync,fdatasync,sync_file_range,openat,msync,write",
                          "-e", "signal=none", "-o", str(tmp / f"{kind_name}.strace"), sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return f"{kind_name}: strace run failed: {out.stderr[-300:]}"
    lines = (tmp / f"{kind_name}.strace").read_text().splitlines()
    start = next((i for i, ln in enumerate(lines) if "/dev/null" in ln), 0)
    stop = next((i for i, ln in enumerate(lines) if "/dev/zero" in ln), len(lines))
    syncs = [ln for ln in lines[start:stop] if "sync" in ln.split("(")[0]]
    return f"{kind_name}: {len(syncs)} fsync-family calls in 5 add calls: " + \
        ", ".join(sorted({ln.split(None, 1)[1].split("(")[0] for ln in syncs})) if syncs else \
        f"{kind_name}: no fsync, fdatasync or msync in 5 add calls"


# ------------------------------------------------------------------------------- reopen
REOPEN_CHILD = """
import sys, time; sys.path.insert(0, {bench!r})
import speed_insert as b
from pathlib import Path
from embedb import MilvusClient
def anon_mib():
    for line in open('/proc/self/status'):
        if line.startswith('RssAnon:'):
            return int(line.split()[1]) / 1024
    return 0.0
path = Path({path!r})
batches = b.make_batches({n} + 2 * b.BATCH, {seed})
if {build}:
    s = b.Embedb(path)
    for _ in range({n} // b.BATCH):
        s.add(next(batches))
    s.close()
    print('built', flush=True)
    raise SystemExit
for _ in range({n} // b.BATCH):
    next(batches)
t0 = time.perf_counter()
client = MilvusClient(str(path))
t_open = time.perf_counter() - t0
a0 = anon_mib()
t0 = time.perf_counter(); client.insert('c', next(batches)); first = time.perf_counter() - t0
a1 = anon_mib()
t0 = time.perf_counter(); client.insert('c', next(batches)); second = time.perf_counter() - t0
client.close()
print(t_open, first, second, a1 - a0, flush=True)
"""


def reopen_stall(args, tmp: Path) -> None:
    """The first insert call after reopening a database of ``--n`` rows (built by that same
    checkout, fsync level), for this checkout and ``--before-src``: the call's time and how
    much anonymous memory it added (the snapshot's mapped columns copied into memory, or not)."""
    srcs = [("embedb", None)] + ([("embedb@before", args.before_src)] if args.before_src else [])
    results = {name: [] for name, _ in srcs}
    for name, src in srcs:
        env = dict(os.environ)
        if src:
            env["EMBEDB_SRC"] = src
        path = tmp / (name.replace("@", "-") + "-reopen") / "db"
        path.parent.mkdir()
        code = REOPEN_CHILD.format(bench=str(ROOT / "bench"), path=str(path), n=args.n, seed=args.seed, build=True)
        subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    for r in range(args.rounds):   # interleaved: each round reopens both databases once
        for name, src in (srcs if r % 2 == 0 else srcs[::-1]):
            env = dict(os.environ)
            if src:
                env["EMBEDB_SRC"] = src
            path = tmp / (name.replace("@", "-") + "-reopen") / "db"
            code = REOPEN_CHILD.format(bench=str(ROOT / "bench"), path=str(path), n=args.n, seed=args.seed,
                                       build=False)
            out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
            results[name].append([float(x) for x in out.stdout.split()])
    print(f"first insert after reopening {args.n:,} rows (median of {args.rounds} reopens, each adds 2,000 rows)")
    print("| checkout | open s | first insert s | second insert s | anonymous RSS added by the first, MiB |")
    print("|---|---|---|---|---|")
    for name, _ in srcs:
        med = np.median(np.array(results[name]), axis=0)
        print(f"| {name} | {med[0]:.3f} | {med[1]:.3f} | {med[2]:.3f} | {med[3]:,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="rows to insert into each system")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--milvus", action="store_true", help="also Milvus Lite (slow)")
    ap.add_argument("--no-process", action="store_true", help="leave out embedb with durability='process'")
    ap.add_argument("--memory", action="store_true",
                    help="also embedb in memory (no log, no files: the engine's insert CPU alone)")
    ap.add_argument("--strace", action="store_true", help="count what each system fsyncs per call")
    ap.add_argument("--every", type=int, default=0, help="a mark every this many rows (default: 20k, 100k, ...)")
    ap.add_argument("--procs", action="store_true", help="each system in its own process; prints RSS per mark")
    ap.add_argument("--before-src", help="with --procs: also run this checkout's src (embedb@before)")
    ap.add_argument("--reopen", action="store_true",
                    help="time the first insert after reopening --n rows instead (with --before-src)")
    ap.add_argument("--rounds", type=int, default=3, help="with --reopen: reopens per checkout")
    ap.add_argument("--json", default=None, help="with --procs: also write the key numbers to this file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="speed-insert-", dir=os.environ.get("BENCH_TMP")))
    if args.reopen:
        try:
            reopen_stall(args, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        print(f"durable 1,000-row insert calls, {args.n:,} rows, interleaved")
        run(args, tmp)
        if args.strace and shutil.which("strace"):
            for name in ("embedb", "embedb-process", "lancedb"):
                print(count_syncs(name, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
