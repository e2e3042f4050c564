"""Single-query latency (issue 15): embedb's client against its own saved faiss index called
directly (the index object embedb loaded from its file: the same graph) and against hnswlib
built with the same M / efConstruction, interleaved in one run.

    .venv/bin/python bench/speed_single.py [--n 20000] [--reps 5] [--ef 16] [--limit 10]
                                           [--interleave pass|step] [--clock wall|cpu]

One 384-d clustered collection (COSINE, HNSW M=16 efConstruction=200). The contenders alternate
pass by pass over all queries (``--interleave step``: call by call; see interleaved_p50), so
noise on the shared machine falls on all of them alike. Printed: p50 per query, the ratio to
faiss on embedb's index (the same graph, so the gap is embedb's own overhead), the fixed
overhead (embedb p50 minus faiss p50), and checks: embedb returns faiss's rows, one query
answers as in a batch. ``embedb general path`` is the engine's full search (what every call ran
before the plain-call fast path), for a before/after in the same run. ``EMBEDB_SRC=<a
checkout's src>`` runs another version (e.g. the commit before the fast path).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("EMBEDB_SRC") or str(ROOT / "src"))   # another checkout's src
sys.path.insert(1, str(ROOT / "bench"))


def interleaved_p50(fns: dict, queries: list, reps: int, mode: str = "pass",
                    clock=time.perf_counter_ns) -> dict:
    """p50 (us) of each fn(query) over ``reps`` passes over all queries.

    ``pass``: each fn runs all queries in a row, the fns alternating pass by pass (rotating
    order), as bench_speed.py does. ``step``: every step runs every fn once, in a rotating
    order, each on a different query (fn j on query i + j * stride, so that no fn finds the
    graph nodes of its query warm from the fn before it); the harsher regime for Python code,
    whose own state the other fns evict from the CPU caches between two calls. ``clock``:
    wall time by default; ``time.thread_time_ns`` counts only this thread's CPU time (steadier
    on a machine shared with other work: time spent descheduled is left out)."""
    names = list(fns)
    times: dict = {name: [] for name in names}
    nq, stride = len(queries), max(1, len(queries) // len(names))
    if mode == "pass":
        for rep in range(reps):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                fn, out = fns[name], times[name]
                for q in queries:
                    t0 = clock()
                    fn(q)
                    out.append(clock() - t0)
        return {name: float(np.percentile(t, 50)) / 1e3 for name, t in times.items()}
    for rep in range(reps):
        for i in range(nq):
            shift = (i + rep) % len(names)
            for name in names[shift:] + names[:shift]:
                fn = fns[name]
                q = queries[(i + names.index(name) * stride) % nq]
                t0 = clock()
                fn(q)
                times[name].append(clock() - t0)
    return {name: float(np.percentile(t, 50)) / 1e3 for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ef", type=int, default=16)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--interleave", choices=["pass", "step"], default="pass",
                    help="alternate the contenders pass by pass (default) or call by call")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall time (default) or this thread's CPU time (for a busy machine)")
    args = ap.parse_args()

    import faiss
    import hnswlib

    import embedb
    from bench_speed import clustered, hnsw_database
    from embedb.engine import search as engine_search
    from embedb.engine.index.manager import indexes_of

    dim, k = 384, args.limit
    x = clustered(args.n, dim)
    queries = list(clustered(args.queries, dim, seed=1))
    tmp = Path(tempfile.mkdtemp(prefix="speed-single-"))
    try:
        path = tmp / "single.db"
        built = hnsw_database(path, x)
        client = embedb.MilvusClient(str(path))
        sp = {"metric_type": "COSINE", "params": {"ef": args.ef}}
        coll = client._loaded_collection("c")
        client.search("c", queries[:1], limit=k, search_params=sp)   # loads the saved index
        # the faiss index embedb loaded from its saved file (graph + vectors), called directly
        index = indexes_of(coll).for_field("v").impl.index
        params = faiss.SearchParametersHNSW(efSearch=max(args.ef, k))

        def faiss_direct(q):   # the saved index holds normalised vectors
            return index.search(q[None, :] / np.linalg.norm(q), k, params=params)

        t0 = time.perf_counter()
        hnsw = hnswlib.Index(space="cosine", dim=dim)
        hnsw.init_index(max_elements=args.n, M=16, ef_construction=200, random_seed=100)
        hnsw.set_num_threads(1)
        hnsw.add_items(x, np.arange(args.n))
        hnsw_built = time.perf_counter() - t0
        hnsw.set_ef(max(args.ef, k))

        fns = {
            "embedb search": lambda q: client.search("c", [q], limit=k, search_params=sp),
            "embedb general path": lambda q: engine_search.search(coll, [q], limit=k, search_params=sp),
            "faiss direct": faiss_direct,
            "hnswlib": lambda q: hnsw.knn_query(q, k=k),
        }
        for q in queries[:20]:   # warm every path (first-use imports, checksum of the columns)
            for fn in fns.values():
                fn(q)
        clock = time.perf_counter_ns if args.clock == "wall" else time.thread_time_ns
        p50 = interleaved_p50(fns, queries, args.reps, args.interleave, clock)

        same_rows = all([h["id"] for h in client.search("c", [q], limit=k, search_params=sp)[0]]
                        == faiss_direct(q)[1][0].tolist() for q in queries)
        batch = client.search("c", queries, limit=k, search_params=sp)
        same_batch = all(client.search("c", [q], limit=k, search_params=sp)[0] == batch[i]
                         for i, q in enumerate(queries))
        client.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base = p50["faiss direct"]
    print(f"single query: {args.n:,} x {dim} clustered, COSINE, HNSW M=16 efC=200 (embedb built "
          f"in {built:.1f} s, hnswlib {hnsw_built:.1f} s), ef={args.ef}, limit {k}, "
          f"{args.queries} queries x {args.reps} passes, interleaved by {args.interleave}, "
          f"{args.clock} clock")
    print(f"{'':22s} {'p50 us':>8s} {'vs faiss':>9s}")
    for name, v in p50.items():
        print(f"{name:22s} {v:8.1f} {v / base:8.2f}x")
    print(f"fixed overhead per call (embedb search - faiss direct): {p50['embedb search'] - base:.1f} us "
          f"(general path: {p50['embedb general path'] - base:.1f} us)")
    print(f"embedb rows == faiss rows on every query: {same_rows}; single query == batch: {same_batch}")


if __name__ == "__main__":
    main()
