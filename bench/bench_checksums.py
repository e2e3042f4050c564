"""What checksums cost: insert throughput, and open + first query, with and without them.

    python bench/bench_checksums.py --n 100000
    python bench/bench_checksums.py --n 1000000          # the 1M-row figure (a few minutes)

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


def build(path: str, n: int, batch: int, checksums: bool) -> dict:
    import numpy as np

    if not checksums:
        import embedb.engine.checksum as checksum
        import embedb.engine.codec as codec

        class _NoCRC:  # the engine's only checksum function, made free
            @staticmethod
            def crc32(data, value=0):
                return 0

        checksum.zlib = _NoCRC
        codec.zlib = _NoCRC
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
    return {"insert_rows_s": n / spent}


def open_and_query(path: str) -> dict:
    import numpy as np

    t = time.perf_counter()
    from embedb.engine import Database
    from embedb.engine.search import search  # noqa: F401 - imported before timing the search

    t = time.perf_counter()
    db = Database.open(path)
    c = db.get_collection("bench")
    c.query("category == 1", output_fields=["id"], limit=1)
    first_query = time.perf_counter() - t
    q = np.random.default_rng(1).random((1, DIM), dtype=np.float32)
    t2 = time.perf_counter()
    vectors = c.dense_vectors("vector")   # verified on this first use
    d = ((vectors - q) ** 2).sum(axis=1)
    int(np.argmin(d))
    first_search = time.perf_counter() - t2
    db.close()
    return {"open_first_query_s": first_query, "open_first_query_search_s": first_query + first_search}


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
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-checksums", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    tmp = tempfile.mkdtemp(prefix="bench_checksums_")
    try:
        with_crc = os.path.join(tmp, "with.db")
        without = os.path.join(tmp, "without.db")
        ons, offs = [], []
        for _ in range(args.builds):  # alternate: fsync timing on a shared disk drifts
            shutil.rmtree(without, ignore_errors=True)
            offs.append(run(args, "--worker", "build", "--path", without, "--no-checksums")["insert_rows_s"])
            shutil.rmtree(without, ignore_errors=True)
            shutil.rmtree(with_crc, ignore_errors=True)  # the last one built stays, for the opens
            ons.append(run(args, "--worker", "build", "--path", with_crc)["insert_rows_s"])
        ins_on, ins_off = statistics.median(ons), statistics.median(offs)
        on, off = [], []
        for _ in range(args.repeat):  # alternate, so drift on a shared machine hits both alike
            off.append(run(args, "--worker", "open", "--path", with_crc, env={"EMBEDB_VERIFY": "0"}))
            on.append(run(args, "--worker", "open", "--path", with_crc, env={"EMBEDB_VERIFY": "1"}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    table = [
        ("insert + flush (rows/s)", ins_off, ins_on, (ins_off / ins_on - 1) * 100),
        ("open + first query (s)", med(off, "open_first_query_s"), med(on, "open_first_query_s"), None),
        ("open + first query + first full vector scan (s)", med(off, "open_first_query_search_s"),
         med(on, "open_first_query_search_s"), None),
    ]
    print(f"\nchecksums, {args.n:,} rows of {DIM}-d float32 + 3 scalars (median of {args.builds} builds "
          f"and {args.repeat} opens per variant)\n")
    print(f"| {'measure':<50} | {'without':>12} | {'with':>12} | {'cost':>7} |")
    print(f"|{'-' * 52}|{'-' * 14}:|{'-' * 14}:|{'-' * 8}:|")
    for name, a, b, cost in table:
        if cost is None:
            cost = (b / a - 1) * 100
        fmt = (lambda v: f"{v:,.0f}") if "rows/s" in name else (lambda v: f"{v:.3f}")
        print(f"| {name:<50} | {fmt(a):>12} | {fmt(b):>12} | {cost:>6.1f}% |")


if __name__ == "__main__":
    main()
