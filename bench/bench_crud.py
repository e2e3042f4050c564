"""CRUD benchmark: embedb's engine vs Milvus Lite (pymilvus MilvusClient on a .db path).

    python bench/bench_crud.py --n 100000
    python bench/bench_crud.py --n 1000000 --embedb-only      # the open-time check at 1M rows
    python bench/bench_crud.py --n 100000 --with-client       # + the same workload via embedb.MilvusClient

Each system runs in its own subprocess (so RSS is its own) on the same generated data:
N rows of a 384-d float32 vector plus three scalar fields (category INT64 in 0..9, score
DOUBLE uniform in [0, 1), title VARCHAR), inserted in batches of 10k. Then: query by filter at
10% (`category == 3`) and 1% (`score < 0.01`) selectivity returning the scalar fields, get of
100 random ids (all fields), close + reopen (until the first query answers), and RSS.
Latencies are the median of --repeat runs. A table is printed at the end.
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
FILTER_10 = "category == 3"
FILTER_1 = "score < 0.01"
SCALARS = ["id", "category", "score", "title"]


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def make_batches(n: int, batch: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    for start in range(0, n, batch):
        m = min(batch, n - start)
        vecs = rng.random((m, DIM), dtype=np.float32)
        cats = rng.integers(0, 10, m)
        scores = rng.random(m)
        yield [
            {"id": start + i, "vector": vecs[i], "category": int(cats[i]), "score": float(scores[i]),
             "title": f"document number {start + i}"}
            for i in range(m)
        ]


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, out


# ------------------------------------------------------------------- embedb
def run_embedb(path: str, n: int, batch: int, repeat: int) -> dict:
    import numpy as np

    from embedb.engine import Database
    from embedb.schema import CollectionSchema, DataType

    res: dict = {"system": "embedb"}
    t0 = time.perf_counter()
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("category", DataType.INT64)
    s.add_field("score", DataType.DOUBLE)
    s.add_field("title", DataType.VARCHAR, max_length=128)
    c = db.create_collection("bench", s)
    c.load()
    insert_s = 0.0
    for rows in make_batches(n, batch):
        t = time.perf_counter()
        c.insert(rows)
        insert_s += time.perf_counter() - t
    res["insert_rows_s"] = n / insert_s
    t = time.perf_counter()
    db.flush()
    res["flush_s"] = time.perf_counter() - t
    res["q10_ms"], out = timed(lambda: c.query(FILTER_10, output_fields=SCALARS), repeat)
    res["q10_rows"] = len(out)
    res["q1_ms"], out = timed(lambda: c.query(FILTER_1, output_fields=SCALARS), repeat)
    res["q1_rows"] = len(out)
    ids = np.random.default_rng(1).choice(n, 100, replace=False).tolist()
    res["get100_ms"], out = timed(lambda: c.query(ids=ids, output_fields=["*"]), repeat)
    res["get100_rows"] = len(out)
    res["rss_mb"] = rss_mb()
    t = time.perf_counter()
    db.close()
    res["close_s"] = time.perf_counter() - t
    res["disk_mb"] = dir_mb(path)
    res["total_s"] = time.perf_counter() - t0
    return res


# ------------------------------------------------------------------- Milvus Lite
def run_milvus(path: str, n: int, batch: int, repeat: int, embedb_client: bool = False) -> dict:
    """The MilvusClient workload: pymilvus + Milvus Lite, or the same code on embedb.MilvusClient."""
    import numpy as np

    if embedb_client:
        from embedb import DataType, MilvusClient
    else:
        from pymilvus import DataType, MilvusClient

    res: dict = {"system": "embedb-client" if embedb_client else "milvus-lite"}
    t0 = time.perf_counter()
    client = MilvusClient(path)
    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("category", DataType.INT64)
    s.add_field("score", DataType.DOUBLE)
    s.add_field("title", DataType.VARCHAR, max_length=128)
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    client.create_collection("bench", schema=s, index_params=ip)
    insert_s = 0.0
    for rows in make_batches(n, batch):
        t = time.perf_counter()
        client.insert("bench", rows)
        insert_s += time.perf_counter() - t
    res["insert_rows_s"] = n / insert_s
    t = time.perf_counter()
    client.flush("bench")
    res["flush_s"] = time.perf_counter() - t
    res["q10_ms"], out = timed(lambda: client.query("bench", filter=FILTER_10, output_fields=SCALARS), repeat)
    res["q10_rows"] = len(out)
    res["q1_ms"], out = timed(lambda: client.query("bench", filter=FILTER_1, output_fields=SCALARS), repeat)
    res["q1_rows"] = len(out)
    ids = np.random.default_rng(1).choice(n, 100, replace=False).tolist()
    res["get100_ms"], out = timed(lambda: client.get("bench", ids=ids), repeat)
    res["get100_rows"] = len(out)
    res["rss_mb"] = rss_mb()
    t = time.perf_counter()
    client.close()
    res["close_s"] = time.perf_counter() - t
    res["disk_mb"] = dir_mb(path)
    res["total_s"] = time.perf_counter() - t0
    return res


def milvus_open(path: str, embedb_client: bool = False) -> dict:
    if embedb_client:
        from embedb import MilvusClient
    else:
        from pymilvus import MilvusClient

    t = time.perf_counter()
    client = MilvusClient(path)
    client.load_collection("bench")  # 3.x releases collections on restart
    opened = time.perf_counter() - t
    client.query("bench", filter="category == 1", output_fields=["id"], limit=1)
    out = {"open_s": opened, "open_first_query_s": time.perf_counter() - t, "rss_mb": rss_mb()}
    if embedb_client:
        client.close()
    return out


def embedb_open(path: str) -> dict:
    from embedb.engine import Database

    t = time.perf_counter()
    db = Database.open(path)
    c = db.get_collection("bench")
    opened = time.perf_counter() - t
    c.query("category == 1", output_fields=["id"], limit=1)
    out = {"open_s": opened, "open_first_query_s": time.perf_counter() - t, "rss_mb": rss_mb()}
    db.close()
    return out


def dir_mb(path: str) -> float:
    total = 0
    if os.path.isfile(path):
        return os.path.getsize(path) / 2**20
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total / 2**20


# ------------------------------------------------------------------- driver
def worker(args) -> None:
    if args.worker.endswith("-open"):  # reopen in a fresh process (Milvus Lite keeps its
        # in-process server and lock until the process exits, so the same process cannot reopen)
        if args.worker == "embedb-open":
            print(json.dumps(embedb_open(args.path)))
        else:
            print(json.dumps(milvus_open(args.path, embedb_client=args.worker == "embedb-client-open")))
        return
    if args.worker == "embedb":
        print(json.dumps(run_embedb(args.path, args.n, args.batch, args.repeat)))
    else:
        print(json.dumps(run_milvus(args.path, args.n, args.batch, args.repeat,
                                    embedb_client=args.worker == "embedb-client")))


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "rows/s":
        return f"{v:,.0f}"
    if unit == "ms":
        return f"{v:.2f}"
    if unit == "s":
        return f"{v:.3f}"
    return f"{v:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--embedb-only", action="store_true")
    ap.add_argument("--with-client", action="store_true",
                    help="also run the MilvusClient workload on embedb.MilvusClient (facade overhead)")
    ap.add_argument("--dir", default=None, help="where to put the databases (default: a temp dir)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    base = tempfile.mkdtemp(prefix="bench_crud_", dir=args.dir)
    results = []
    try:
        systems = ["embedb"] + (["embedb-client"] if args.with_client else [])
        if not args.embedb_only:
            systems.append("milvus")
        for system in systems:
            path = os.path.join(base, f"{system}.db")
            cmd = [sys.executable, __file__, "--worker", system, "--path", path, "--n", str(args.n),
                   "--batch", str(args.batch), "--repeat", str(args.repeat)]
            print(f"running {system} ({args.n:,} rows)...", file=sys.stderr, flush=True)
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                raise SystemExit(f"{system} failed")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            out = subprocess.run([sys.executable, __file__, "--worker", f"{system}-open", "--path", path],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                raise SystemExit(f"{system} reopen failed")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            res.update(open_s=r["open_s"], open_first_query_s=r["open_first_query_s"], rss_after_open_mb=r["rss_mb"])
            results.append(res)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    metrics = [
        ("insert throughput", "insert_rows_s", "rows/s", True),
        ("flush", "flush_s", "s", False),
        ("query 10% (" + FILTER_10 + ")", "q10_ms", "ms", False),
        ("query 1% (" + FILTER_1 + ")", "q1_ms", "ms", False),
        ("get 100 ids", "get100_ms", "ms", False),
        ("close", "close_s", "s", False),
        ("open", "open_s", "s", False),
        ("open + first query", "open_first_query_s", "s", False),
        ("RSS after workload", "rss_mb", "MiB", False),
        ("RSS after reopen", "rss_after_open_mb", "MiB", False),
        ("size on disk", "disk_mb", "MiB", False),
    ]
    names = [r["system"] for r in results]
    head = f"{'metric (' + format(args.n, ',') + ' rows x ' + str(DIM) + '-d)':<40}" + "".join(f"{n:>14}" for n in names)
    compare = len(results) >= 2 and results[-1]["system"] == "milvus-lite"
    if compare:
        head += f"{'engine speedup':>16}"
    print(head)
    print("-" * len(head))
    for label, key, unit, higher_better in metrics:
        line = f"{label + ' [' + unit + ']':<40}" + "".join(f"{fmt(r.get(key), unit):>14}" for r in results)
        if compare:
            a, b = results[0].get(key), results[-1].get(key)
            # no ratio for near-zero times (nothing left to do) or for Milvus Lite's no-op close
            if a and b and min(a, b) >= 1e-3 and key != "close_s" and unit in ("rows/s", "ms", "s"):
                ratio = a / b if higher_better else b / a
                line += f"{ratio:>15.1f}x"
        print(line)
    print(f"(rows returned: q10 {results[0]['q10_rows']}, q1 {results[0]['q1_rows']}, get {results[0]['get100_rows']})")


if __name__ == "__main__":
    main()
