"""MilvusClient API benchmark: the same pymilvus-style script on embedb.MilvusClient and on
pymilvus.MilvusClient with Milvus Lite (a .db path), in one run; prints a table.

Everything goes through the public client API (argument checks, result shaping included):
quick-mode create, insert of N rows (128-d vector + dynamic fields) in batches, get of 100 ids,
filtered queries at 10 % and 1 % selectivity, count(*), a full query_iterator scan, upsert and
delete by filter of 1 %, then close + reopen until the first query answers.

    .venv/bin/python bench/bench_client.py             # N = 20000
    .venv/bin/python bench/bench_client.py --n 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 128


def make_rows(n: int, start: int = 0) -> list[dict]:
    rng = np.random.default_rng(start)
    vectors = rng.random((n, DIM), dtype=np.float32)
    return [{"id": start + i, "vector": vectors[i].tolist(), "category": (start + i) % 10,
             "score": float((start + i) % 1000) / 1000, "title": f"title {start + i}"}
            for i in range(n)]


def timed(fn, repeat: int = 1) -> float:
    """Median wall time of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def run(client_cls, path: str, n: int, repeat: int) -> dict[str, float]:
    out: dict[str, float] = {}
    rows = make_rows(n)
    ids = np.random.default_rng(1).choice(n, 100, replace=False).tolist()
    client = client_cls(path)
    out["create (quick mode)"] = timed(lambda: client.create_collection("bench", dimension=DIM))

    def insert():
        for i in range(0, n, 5000):
            client.insert("bench", rows[i:i + 5000])

    out[f"insert {n} rows"] = timed(insert)
    q = "bench"
    out["get 100 ids"] = timed(lambda: client.get(q, ids, output_fields=["category", "title"]), repeat)
    out["query 10% (limit 1000)"] = timed(
        lambda: client.query(q, filter="category == 3", output_fields=["score", "title"], limit=1000), repeat)
    out["query 1% (all)"] = timed(
        lambda: client.query(q, filter="score < 0.01", output_fields=["score", "title"]), repeat)
    out["count(*) 10%"] = timed(
        lambda: client.query(q, filter="category == 3", output_fields=["count(*)"]), repeat)

    def scan():
        it = client.query_iterator(q, batch_size=1000, output_fields=["category"])
        total = 0
        while batch := it.next():
            total += len(batch)
        it.close()
        assert total == n, total

    out["query_iterator scan"] = timed(scan)
    out["upsert 1000 rows"] = timed(lambda: client.upsert(q, make_rows(1000, start=0)))
    out["delete 1% by filter"] = timed(lambda: client.delete(q, filter="score < 0.01"))
    client.close()

    def reopen():
        c = client_cls(path)
        c.query(q, filter="category == 1", output_fields=["title"], limit=10)
        c.close()

    out["reopen + first query"] = timed(reopen)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-lite", action="store_true", help="embedb only")
    args = ap.parse_args()

    import embedb

    systems = [("embedb", embedb.MilvusClient)]
    if not args.skip_lite:
        try:
            import milvus_lite  # noqa: F401
            import pymilvus

            systems.append(("Milvus Lite", pymilvus.MilvusClient))
        except ImportError:
            print("milvus-lite is not installed: embedb only")
    tmp = Path(tempfile.mkdtemp(prefix="bench_client_"))
    results = {}
    try:
        for name, cls in systems:
            results[name] = run(cls, str(tmp / f"{name.replace(' ', '_')}.db"), args.n, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    names = list(results)
    ops = list(results[names[0]])
    width = max(len(o) for o in ops) + 2
    print(f"\nMilvusClient API, N={args.n}, dim={DIM}, median of {args.repeat} (ms)")
    print("operation".ljust(width) + "".join(n.rjust(14) for n in names)
          + ("  Lite/embedb" if len(names) == 2 else ""))
    for op in ops:
        line = op.ljust(width) + "".join(f"{results[n][op]:14.1f}" for n in names)
        if len(names) == 2:
            line += f"  {results[names[1]][op] / max(results[names[0]][op], 1e-9):10.1f}x"
        print(line)
    if len(names) == 2:
        print("reopen: Milvus Lite keeps its in-process server after close(), so its row is a "
              "reconnect; embedb's reopens the database (maps the snapshot, replays the log).")


if __name__ == "__main__":
    main()
