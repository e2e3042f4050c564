"""What checksums cost: insert throughput, and open + first query, with and without them.

    python bench/bench_checksums.py --n 100000
    python bench/bench_checksums.py --n 1000000          # the 1M-row figure (a few minutes)
    python bench/bench_checksums.py --throughput         # MB/s of zlib CRC-32 and CRC-32C

The data is bench_crud's: N rows of a 384-d float32 vector plus category INT64, score DOUBLE
and title VARCHAR, inserted in 10k-row batches, then flush and close.

- insert: rows/s of the inserts plus the final flush, with checksums as shipped, and with
  ``zlib.crc32`` replaced by a constant in the engine (no checksum computed on the log entries
  or at checkpoints) -- each variant builds its own database in its own process.
- open + first query: a fresh process opens the database built with checksums and runs
  bench_crud's first query (``category == 1``, ids, limit 1), then a first vector search with
  no index (it reads every vector); ``EMBEDB_VERIFY=0`` turns verification on read off for the
  comparison. Median of --repeat fresh processes (warm page cache).

A table is printed at the end: the two variants side by side and the overhead in percent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

DIM = 384
_HASHING = [0.0]  # seconds spent computing or verifying checksums in this process


def time_hashing() -> None:
    """Count the time of every CRC-32 the engine computes (the direct cost of checksums,
    which a shared machine's noise cannot hide)."""
    import zlib

    import embedb.engine.checksum as checksum
    import embedb.engine.codec as codec

    class _TimedCRC:
        @staticmethod
        def crc32(data, value=0):
            t = time.perf_counter()
            try:
                return zlib.crc32(data, value)
            finally:
                _HASHING[0] += time.perf_counter() - t

    hasher = checksum.hasher

    def timed_hasher(alg):   # file checksums: CRC-32C, or zlib's for records from before
        crc = hasher(alg)

        def timed(data, value=0):
            t = time.perf_counter()
            try:
                return crc(data, value)
            finally:
                _HASHING[0] += time.perf_counter() - t
        return timed

    checksum.hasher = timed_hasher
    codec.zlib = _TimedCRC


def build(path: str, n: int, batch: int, checksums: bool) -> dict:
    import numpy as np

    if not checksums:
        import embedb.engine.checksum as checksum
        import embedb.engine.codec as codec

        class _NoCRC:  # the engine's only checksum function, made free
            @staticmethod
            def crc32(data, value=0):
                return 0

        checksum.hasher = lambda alg: _NoCRC.crc32
        codec.zlib = _NoCRC
    else:
        time_hashing()
    from embedb.engine import Database
    from embedb.schema import CollectionSchema, DataType

    rng = np.random.default_rng(0)
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("category", DataType.INT64)
    s.add_field("score", DataType.DOUBLE)
    s.add_field("title", DataType.VARCHAR, max_length=128)
    c = db.create_collection("bench", s)
    spent = 0.0
    for start in range(0, n, batch):
        m = min(batch, n - start)
        vecs = rng.random((m, DIM), dtype=np.float32)
        cats, scores = rng.integers(0, 10, m), rng.random(m)
        rows = [{"id": start + i, "vector": vecs[i], "category": int(cats[i]), "score": float(scores[i]),
                 "title": f"document number {start + i}"} for i in range(m)]
        t = time.perf_counter()
        c.insert(rows)
        spent += time.perf_counter() - t
    t = time.perf_counter()
    db.flush()
    spent += time.perf_counter() - t
    db.close()
    return {"insert_rows_s": n / spent, "insert_s": spent, "hashing_s": _HASHING[0]}


def open_and_query(path: str) -> dict:
    import numpy as np

    from embedb.engine import Database
    from embedb.engine.search import search  # noqa: F401 - imported before timing the search

    time_hashing()

    t = time.perf_counter()
    db = Database.open(path)
    c = db.get_collection("bench")
    c.query("category == 1", output_fields=["id"], limit=1)
    first_query = time.perf_counter() - t
    hashing_query = _HASHING[0]
    q = np.random.default_rng(1).random((1, DIM), dtype=np.float32)
    t2 = time.perf_counter()
    vectors = c.dense_vectors("vector")   # verified on this first use
    d = ((vectors - q) ** 2).sum(axis=1)
    int(np.argmin(d))
    first_search = time.perf_counter() - t2
    db.close()
    return {"open_first_query_s": first_query, "open_first_query_search_s": first_query + first_search,
            "hashing_query_s": hashing_query, "hashing_search_s": _HASHING[0]}


def throughput(mb: int, repeat: int) -> None:
    """MB/s of the two file checksums on ``mb`` MB of random bytes, interleaved: one call on
    one thread (what a checkpoint's append pays), and ``first_bad_chunk`` (what verifying a
    mapped column pays: 16 MiB chunks, on up to 8 threads from 64 MiB)."""
    import zlib

    import numpy as np

    from embedb.engine import checksum

    data = np.random.default_rng(0).integers(0, 256, mb << 20, dtype=np.uint8)
    buf = memoryview(data)
    c32c = checksum.hasher("crc32c")
    records = {"crc32": [zlib.crc32(buf[i:i + checksum.CHUNK]) for i in range(0, len(buf), checksum.CHUNK)],
               "crc32c": checksum.of(data)}
    cases = {"zlib CRC-32, one call": lambda: zlib.crc32(buf),
             "CRC-32C, one call": lambda: c32c(buf),
             "zlib CRC-32, verify (threads)": lambda: checksum.first_bad_chunk(data, records["crc32"]),
             "CRC-32C, verify (threads)": lambda: checksum.first_bad_chunk(data, records["crc32c"])}
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    print(f"\nchecksum throughput on {mb} MB (best of {repeat}, interleaved; {os.cpu_count()} cores; "
          f"CRC-32C in hardware: {_hardware()})\n")
    print(f"| {'':<30} | {'MB/s':>8} | {'vs zlib':>7} |")
    print(f"|{'-' * 32}|{'-' * 9}:|{'-' * 8}:|")
    for name, t in best.items():
        ref = best["zlib CRC-32, " + name.split(", ", 1)[1]]
        print(f"| {name:<30} | {mb / t:>8,.0f} | {ref / t:>6.2f}x |")


def _hardware() -> str:
    try:
        from importlib import import_module

        return str(import_module("crc32c").hardware_based)
    except ImportError:
        return "unknown"


def worker(args) -> None:
    if args.worker == "build":
        out = build(args.path, args.n, args.batch, checksums=not args.no_checksums)
    else:
        out = open_and_query(args.path)
    print(json.dumps(out))


def run(args, *extra: str, env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, *extra, "--n", str(args.n), "--batch", str(args.batch)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        sys.exit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5, help="fresh-process opens per variant")
    ap.add_argument("--builds", type=int, default=3, help="database builds per variant (insert rate)")
    ap.add_argument("--throughput", action="store_true", help="only the MB/s table of the two checksums")
    ap.add_argument("--mb", type=int, default=100, help="--throughput: MB of data")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-checksums", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    if args.throughput:
        throughput(args.mb, args.repeat)
        return
    tmp = tempfile.mkdtemp(prefix="bench_checksums_")
    try:
        with_crc = os.path.join(tmp, "with.db")
        without = os.path.join(tmp, "without.db")
        ons, offs = [], []
        for _ in range(args.builds):  # alternate: fsync timing on a shared disk drifts
            shutil.rmtree(without, ignore_errors=True)
            offs.append(run(args, "--worker", "build", "--path", without, "--no-checksums"))
            shutil.rmtree(without, ignore_errors=True)
            shutil.rmtree(with_crc, ignore_errors=True)  # the last one built stays, for the opens
            ons.append(run(args, "--worker", "build", "--path", with_crc))
        on, off = [], []
        for _ in range(args.repeat):  # alternate, so drift on a shared machine hits both alike
            off.append(run(args, "--worker", "open", "--path", with_crc, env={"EMBEDB_VERIFY": "0"}))
            on.append(run(args, "--worker", "open", "--path", with_crc, env={"EMBEDB_VERIFY": "1"}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    # measured: the two variants' times; hashing: the CRC-32 time inside the "with" runs
    insert_share = med([{"x": r["hashing_s"] / r["insert_s"]} for r in ons], "x")
    table = [
        ("insert + flush (rows/s)", med(offs, "insert_rows_s"), med(ons, "insert_rows_s"),
         med(offs, "insert_rows_s") / med(ons, "insert_rows_s") - 1, insert_share),
        ("open + first query (s)", med(off, "open_first_query_s"), med(on, "open_first_query_s"), None,
         med([{"x": r["hashing_query_s"] / r["open_first_query_s"]} for r in on], "x")),
        ("open + first query + first full vector scan (s)", med(off, "open_first_query_search_s"),
         med(on, "open_first_query_search_s"), None,
         med([{"x": r["hashing_search_s"] / r["open_first_query_search_s"]} for r in on], "x")),
    ]
    print(f"\nchecksums, {args.n:,} rows of {DIM}-d float32 + 3 scalars (median of {args.builds} builds "
          f"and {args.repeat} opens per variant)\n")
    print(f"| {'measure':<50} | {'without':>10} | {'with':>10} | {'difference':>10} | {'CRC-32 time in with':>19} |")
    print(f"|{'-' * 52}|{'-' * 11}:|{'-' * 11}:|{'-' * 11}:|{'-' * 20}:|")
    for name, a, b, diff, share in table:
        if diff is None:
            diff = b / a - 1
        fmt = (lambda v: f"{v:,.0f}") if "rows/s" in name else (lambda v: f"{v:.3f}")
        print(f"| {name:<50} | {fmt(a):>10} | {fmt(b):>10} | {diff * 100:>9.1f}% | {share * 100:>18.1f}% |")
    print("\ndifference: the cost as measured (noisy on a shared machine); CRC-32 time: the share of the "
          "'with' run spent computing or verifying checksums")


if __name__ == "__main__":
    main()
