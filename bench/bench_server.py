"""embedb serve vs Milvus Lite 3.2.2's gRPC server: the same pymilvus calls, in one run.

Both servers run in this process (as ``pymilvus.MilvusClient("x.db")`` starts Milvus Lite's):
embedb through ``embedb.serve_in_thread``, Milvus Lite through pymilvus's own ``.db`` URI
handling. One collection of ``--n`` rows: a ``--dim`` float vector (HNSW, COSINE), a 32-d
second vector (HNSW, L2) and an int ``tag``. Measured through real pymilvus over loopback:

* insert rows/s (batches of 1,000 rows)
* search p50 (one query, top 10), batched QPS (nq=100 per call, top 10)
* query p50 (filter ``tag == k``, limit 10), hybrid p50 (two AnnSearchRequests, RRF)

and, for embedb, the same search in-process (what the wire adds).

    .venv/bin/python bench/bench_server.py [--n 10000] [--dim 128] [--reps 200]   # ~2 minutes
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import embedb  # noqa: E402


def p50_ms(fn, reps: int) -> float:
    times = []
    for i in range(reps):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def build(client, n: int, dim: int, rng) -> dict:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("vec2", DataType.FLOAT_VECTOR, dim=32)
    schema.add_field("tag", DataType.INT64)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 100})
    index.add_index("vec2", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 100})
    client.create_collection("bench", schema=schema, index_params=index)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x2 = rng.standard_normal((n, 32)).astype(np.float32)
    t = time.perf_counter()
    for start in range(0, n, 1000):
        stop = min(n, start + 1000)
        client.insert("bench", [{"id": i, "vec": x[i].tolist(), "vec2": x2[i].tolist(), "tag": i % 100}
                                for i in range(start, stop)])
    insert_s = time.perf_counter() - t
    client.flush("bench")
    return {"insert": n / insert_s}


def measure(client, dim: int, reps: int, rng) -> dict:
    from pymilvus import AnnSearchRequest, RRFRanker

    q = rng.standard_normal((reps, dim)).astype(np.float32)
    q2 = rng.standard_normal((reps, 32)).astype(np.float32)
    params = {"metric_type": "COSINE", "params": {"ef": 64}}
    client.search("bench", [q[0].tolist()], anns_field="vec", limit=10, search_params=params)  # warm
    out = {"search": p50_ms(lambda i: client.search("bench", [q[i].tolist()], anns_field="vec",
                                                    limit=10, search_params=params), reps)}
    batch = rng.standard_normal((100, dim)).astype(np.float32).tolist()
    calls = max(3, reps // 40)
    t = time.perf_counter()
    for _ in range(calls):
        client.search("bench", batch, anns_field="vec", limit=10, search_params=params)
    out["qps"] = 100 * calls / (time.perf_counter() - t)
    out["query"] = p50_ms(lambda i: client.query("bench", filter=f"tag == {i % 100}",
                                                 output_fields=["id", "tag"], limit=10), reps)

    def hybrid(i):
        reqs = [AnnSearchRequest([q[i].tolist()], "vec", params, 10),
                AnnSearchRequest([q2[i].tolist()], "vec2", {"metric_type": "L2", "params": {"ef": 64}}, 10)]
        client.hybrid_search("bench", reqs, RRFRanker(60), limit=10)

    out["hybrid"] = p50_ms(hybrid, max(20, reps // 2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--skip-lite", action="store_true",
                    help="embedb only (for sizes where Milvus Lite would take too long)")
    args = ap.parse_args()
    import pymilvus

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        with embedb.serve_in_thread(str(Path(tmp) / "embedb.db")) as uri:
            client = pymilvus.MilvusClient(uri=uri)
            results["embedb serve"] = build(client, args.n, args.dim, np.random.default_rng(0))
            results["embedb serve"].update(measure(client, args.dim, args.reps, np.random.default_rng(1)))
            client.close()
            local = embedb.MilvusClient(str(Path(tmp) / "embedb.db"))
            q = np.random.default_rng(1).standard_normal((args.reps, args.dim)).astype(np.float32)
            params = {"metric_type": "COSINE", "params": {"ef": 64}}
            in_process = p50_ms(lambda i: local.search("bench", [q[i]], anns_field="vec", limit=10,
                                                       search_params=params), args.reps)
            local.close()
        if not args.skip_lite:
            lite = pymilvus.MilvusClient(uri=str(Path(tmp) / "lite.db"))
            results["Milvus Lite 3.2.2"] = build(lite, args.n, args.dim, np.random.default_rng(0))
            results["Milvus Lite 3.2.2"].update(measure(lite, args.dim, args.reps, np.random.default_rng(1)))
            lite.close()

    e = results["embedb serve"]
    m = results.get("Milvus Lite 3.2.2", {})
    print(f"\n{args.n:,} rows x {args.dim}-d (HNSW), pymilvus {pymilvus.__version__} over loopback gRPC")
    print(f"{'':24}{'embedb serve':>14}{'Milvus Lite':>14}{'ratio':>9}")
    rows = [("insert rows/s", "insert", True), ("search p50 ms", "search", False),
            ("batched QPS (nq=100)", "qps", True), ("query p50 ms", "query", False),
            ("hybrid p50 ms", "hybrid", False)]
    for label, key, higher in rows:
        if args.skip_lite:
            print(f"{label:24}{e[key]:>14,.2f}{'-':>14}{'-':>9}")
            continue
        ratio = e[key] / m[key] if higher else m[key] / e[key]
        print(f"{label:24}{e[key]:>14,.2f}{m[key]:>14,.2f}{ratio:>8.1f}x")
    print(f"embedb in-process search p50: {in_process:.3f} ms (the wire adds "
          f"{e['search'] - in_process:.3f} ms)")


if __name__ == "__main__":
    main()
