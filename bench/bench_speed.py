"""Speed to the limit (issue 15): embedb beside its reference, in one run, as ratios.

    .venv/bin/python bench/bench_speed.py bm25   [--n 100000] [--reps 5]
    .venv/bin/python bench/bench_speed.py sparse [--n 100000] [--reps 5]
    .venv/bin/python bench/bench_speed.py single [--n 20000] [--reps 5]
    .venv/bin/python bench/bench_speed.py startup [--n 20000]

* ``bm25``: a synthetic corpus (bench_fulltext's Zipf words, 20-80 tokens), indexed by embedb's
  BM25 function (standard analyzer) and by bm25s (``method="lucene"``, same k1/b, given embedb's
  tokens, so both score the same tokens). Query p50 of embedb's client search (from raw text)
  against bm25s ``retrieve`` (pre-tokenised, single thread), interleaved pass by pass; the
  top-10 scores must agree (embedb's BM25 carries Milvus's (k1 + 1) factor, divided out here).
  Also the engine's exhaustive scorer (every posting scored, the pre-pruning algorithm) and the
  first query after reopening the database.
* ``sparse``: SPARSE_WAND (dynamic pruning) against the exhaustive SPARSE_INVERTED_INDEX gather
  on Zipf-distributed sparse vectors, at the index, with a check that rows and scores agree.
* ``single``: one-vector search at limit 10 on an HNSW collection (clustered, COSINE, M=16,
  efConstruction=200, ef=16) against embedb's own saved faiss index searched directly, and the
  fixed per-call overhead (the client's time minus faiss's).
* ``startup``: a fresh process from start to its first search result, embedb opening its
  database against faiss reading its index file (both timed in subprocesses).

Set ``EMBEDB_SRC`` to run another checkout's ``src`` (e.g. the previous commit, for before/after).
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
sys.path.insert(1, str(ROOT / "bench"))

K = 10


def p50_interleaved(fns: dict, queries: list, reps: int) -> dict:
    """p50 (ms) of each fn(query) over all queries; passes alternate between the fns."""
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            for q in queries:
                t0 = time.perf_counter()
                fn(q)
                times[name].append(time.perf_counter() - t0)
    return {name: float(np.percentile(t, 50) * 1e3) for name, t in times.items()}


# ------------------------------------------------------------------------------------ bm25
def bench_bm25(args, tmp: Path) -> None:
    import bm25s

    import embedb
    from bench_fulltext import insert_all, make_collection, synthetic_corpus
    from embedb.engine import fulltext
    from embedb.text import build_analyzer

    docs, queries = synthetic_corpus(args.n)
    analyzer = build_analyzer(None)   # the standard analyzer, as the collection's
    print(f"bm25: {args.n:,} documents, {len(queries)} queries of 2-4 words, top {K}, "
          f"best-of-{args.reps} interleaved passes")
    path = tmp / "bm25.db"
    client = make_collection("embedb", path, None, None)
    t_insert = insert_all(client, docs)
    search = lambda q: client.search("docs", data=[q], anns_field="sparse", limit=K,  # noqa: E731
                                     search_params={"metric_type": "BM25"})[0]
    t0 = time.perf_counter()
    search(queries[0])
    t_index = time.perf_counter() - t0   # the first query builds the posting lists
    client.close()

    t0 = time.perf_counter()
    client = embedb.MilvusClient(str(path))
    search(queries[1])
    t_first = time.perf_counter() - t0

    tokens = analyzer.tokenize_batch(docs)
    t0 = time.perf_counter()
    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    retriever.index(tokens, show_progress=False)
    t_bm25s_index = time.perf_counter() - t0
    q_tokens = {q: analyzer(q) for q in queries}
    bm25s_search = lambda q: retriever.retrieve([q_tokens[q]], k=K, show_progress=False,  # noqa: E731
                                                n_threads=1)

    coll = client._db.get_collection("docs")
    fns = {"embedb search": search, "bm25s retrieve": bm25s_search}
    if "exhaustive" in fulltext.search_bm25.__code__.co_varnames:
        fns["engine exhaustive"] = lambda q: fulltext.search_bm25(coll, "sparse", [q], K, None, {},
                                                                 exhaustive=True)
        fns["engine pruned"] = lambda q: fulltext.search_bm25(coll, "sparse", [q], K, None, {})
    p50 = p50_interleaved(fns, queries, args.reps)

    worst = 0.0
    for q in queries:
        ours = sorted((h["distance"] / 2.2 for h in search(q)), reverse=True)
        _, theirs = bm25s_search(q)
        theirs = sorted(theirs[0].tolist(), reverse=True)[: len(ours)]
        worst = max(worst, float(np.max(np.abs(np.array(ours) - np.array(theirs)) / np.maximum(theirs, 1e-9))))
    client.close()

    print(f"{'':24s} {'p50 ms':>8s} {'vs bm25s':>9s}")
    for name, v in p50.items():
        print(f"{name:24s} {v:8.3f} {v / p50['bm25s retrieve']:8.2f}x")
    print(f"top-{K} scores, embedb / (k1 + 1) vs bm25s: max relative difference {worst:.1e}")
    print(f"embedb insert {args.n / t_insert:,.0f} docs/s; posting lists built by the first query "
          f"{t_index:.2f} s; first query after reopening {t_first * 1e3:.0f} ms")
    print(f"bm25s index {t_bm25s_index:.2f} s (pre-tokenised)")


# ---------------------------------------------------------------------------------- sparse
def bench_sparse(args) -> None:
    """SPARSE_WAND (pruned) against the exhaustive SPARSE_INVERTED_INDEX, index level."""
    import scipy.sparse as sp

    from embedb.engine.index.base import SearchRequest
    from embedb.engine.index.sparse import SparseInvertedIndex, SparseWandIndex

    rng = np.random.default_rng(3)
    dim = 30_000
    p = 1.0 / np.arange(1, dim + 1) ** 1.1
    p /= p.sum()

    def vectors(n, lo, hi):
        nnz = rng.integers(lo, hi, n)
        cols = rng.choice(dim, size=int(nnz.sum()), p=p)
        rows = np.repeat(np.arange(n), nnz)
        m = sp.csr_array((rng.random(len(cols)).astype(np.float32) ** 2 + 0.01, (rows, cols)), shape=(n, dim))
        m.sum_duplicates()
        return m

    x = vectors(args.n, 20, 80)
    queries = [vectors(1, 4, 24) for _ in range(50)]
    exhaustive, wand = SparseInvertedIndex("IP", {}, dim), SparseWandIndex("IP", {}, dim)
    for index in (exhaustive, wand):
        index.add(x)
    req = SearchRequest(k=K, pk_of=lambda rows: np.asarray(rows))
    same = all(np.array_equal(exhaustive.search(q, None, req)[0], wand.search(q, None, req)[0]) and
               np.array_equal(exhaustive.search(q, None, req)[1], wand.search(q, None, req)[1])
               for q in queries)
    p50 = p50_interleaved({"SPARSE_INVERTED_INDEX": lambda q: exhaustive.search(q, None, req),
                           "SPARSE_WAND": lambda q: wand.search(q, None, req)}, queries, args.reps)
    print(f"sparse IP: {args.n:,} rows (20-80 Zipf dims of {dim:,}), 50 queries of 4-24 dims, top {K}")
    for name, v in p50.items():
        print(f"{name:24s} {v:8.3f} ms  {v / p50['SPARSE_INVERTED_INDEX']:5.2f}x")
    print(f"identical rows and scores: {same}")


# ---------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["bm25", "sparse", "single", "startup"])
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    try:
        if args.what == "bm25":
            args.n = args.n or 100_000
            bench_bm25(args, tmp)
        elif args.what == "sparse":
            args.n = args.n or 100_000
            bench_sparse(args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
