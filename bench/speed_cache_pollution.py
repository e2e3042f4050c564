"""Why embedb's per-call overhead grows with the collection and with ef (issue 15).

    .venv/bin/python bench/speed_cache_pollution.py             # 100k x 384, about 1 minute
    .venv/bin/python bench/speed_cache_pollution.py --n 20000

``bench/speed_single.py`` reports embedb's fixed overhead (embedb p50 minus faiss p50 on the
same graph) as ~28 us at 20k x 384, ef=16, but ~45 us at 100k or at ef=64, although the Python
embedb runs per call does not depend on either (no per-row work, no O(n) key). This script
shows where the difference goes: the SAME embedb call (a search of a tiny 256-row collection,
whose own index work is a few microseconds) is timed right after a faiss HNSW search of a large
graph at several ``efSearch`` values. The larger the graph search (more vectors, a larger
visited table), the more of the CPU caches it evicts, and the slower the Python that runs
after it: the overhead is the interpreter's working set reloaded from memory, not extra work.
Only less Python per call (fewer objects and calls touched) brings it down.

Printed: p50 CPU time (``time.thread_time_ns``) of the tiny embedb call after each ef, and
back to back (warm).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DIM = 384


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    import faiss

    import embedb

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((max(args.n // 500, 8), DIM)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), args.n)] + 0.35 * rng.standard_normal((args.n, DIM))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    q = x[rng.integers(0, args.n, args.queries)] + 0.05 * rng.standard_normal((args.queries, DIM))
    q = np.ascontiguousarray(q, dtype=np.float32)
    t0 = time.perf_counter()
    graph = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = 40   # the search's memory footprint is what matters here
    graph.add(x)
    built = time.perf_counter() - t0

    client = embedb.MilvusClient(":memory:")
    client.create_collection("tiny", dimension=DIM, metric_type="COSINE")
    client.insert("tiny", [{"id": i, "vector": x[i]} for i in range(256)])
    tiny_q = x[0].copy()
    client.search("tiny", [tiny_q], limit=10)

    def tiny_call() -> None:
        client.search("tiny", [tiny_q], limit=10)

    dist = np.empty((1, 10), dtype=np.float32)
    rows = np.empty((1, 10), dtype=np.int64)
    print(f"{args.n:,} x {DIM} HNSW graph (faiss, M=16, built in {built:.1f} s); the same "
          f"embedb call (tiny collection, limit 10) timed after a graph search")
    print(f"{'before the embedb call':34s} {'p50 us (CPU)':>12} {'vs warm':>8}")
    results = {}
    for ef in (None, 1, 16, 64, 256):
        params = None if ef is None else faiss.SearchParametersHNSW(efSearch=ef)
        times = []
        for _ in range(args.reps):
            for i in range(args.queries):
                if params is not None:
                    graph.search_c(1, faiss.swig_ptr(q[i]), 10, faiss.swig_ptr(dist),
                                   faiss.swig_ptr(rows), params)
                t0 = time.thread_time_ns()
                tiny_call()
                times.append(time.thread_time_ns() - t0)
        results[ef] = float(np.median(times)) / 1e3
    for ef, us in results.items():
        label = "nothing (warm, back to back)" if ef is None else f"graph search, efSearch={ef}"
        print(f"{label:34s} {us:12.1f} {us / results[None]:8.2f}")


if __name__ == "__main__":
    main()
