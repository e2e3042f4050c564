"""Built-in full-text search: embedb vs Milvus Lite 3.x, side by side in one run.

msmarco-5k (43 judged queries): nDCG@10, recall@100 and single-query latency (p50/p95 over
``--reps`` passes) of
* the built-in BM25 function (schema Function, raw query text) with the ``standard`` analyzer
  (the only one Milvus Lite accepts) and, for embedb, ``{"type": "english"}``;
* rank_bm25 BM25Okapi with embedb's English analyzer (the quality reference: embedb's English
  BM25 must be within 0.01 nDCG@10 of it);
* dense all-MiniLM-L6-v2 (COSINE, FLAT) and the hybrid BM25 + dense RRF(60) in one collection,
  when ``embedb.model.DefaultEmbeddingFunction`` is available (the 5k document vectors are
  cached in ``.bench-cache/``; both systems search the same vectors);
then BM25 query latency and insert throughput on a synthetic corpus (``--synthetic-n``, default
100k documents of Zipf-distributed words).

    .venv/bin/python bench/bench_fulltext.py [--reps 3] [--synthetic-n 100000] [--skip-dense]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from embedb.eval import load_beir, ndcg_at_k, recall_at_k  # noqa: E402

# the shared data set sits beside the repository (override with EMBEDB_DATA_DIR)
DATA = Path(os.environ.get("EMBEDB_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data" / "msmarco-5k")
CACHE = ROOT / ".bench-cache"
BATCH = 1000


# --------------------------------------------------------------------------------- clients
def client_module(system: str):
    if system == "embedb":
        import embedb

        return embedb
    import pymilvus

    return pymilvus


def make_collection(system: str, path: Path, analyzer_params, dense_dim: int | None):
    mod = client_module(system)
    client = mod.MilvusClient(str(path))
    DataType, Function, FunctionType = mod.DataType, mod.Function, mod.FunctionType
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    kwargs = {"enable_analyzer": True}
    if analyzer_params is not None:
        kwargs["analyzer_params"] = analyzer_params
    schema.add_field("text", DataType.VARCHAR, max_length=65535, **kwargs)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    if dense_dim:
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dense_dim)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    if dense_dim:
        index.add_index(field_name="dense", index_type="FLAT", metric_type="COSINE")
    client.create_collection("docs", schema=schema, index_params=index)
    return client


def insert_all(client, texts, dense=None) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        rows = [{"id": start + i, "text": t} for i, t in enumerate(texts[start:start + BATCH])]
        if dense is not None:
            for i, r in enumerate(rows):
                r["dense"] = dense[start + i]
        client.insert("docs", rows)
    client.flush("docs") if hasattr(client, "flush") else None
    return time.perf_counter() - t0


def timed_runs(fn, queries, reps):
    """Run fn(query) for every query, reps times; (p50 ms, p95 ms, results of the last pass)."""
    p50s, p95s, results = [], [], []
    for _ in range(reps):
        times, results = [], []
        for q in queries:
            t0 = time.perf_counter()
            results.append(fn(q))
            times.append(time.perf_counter() - t0)
        p50s.append(np.percentile(times, 50) * 1e3)
        p95s.append(np.percentile(times, 95) * 1e3)
    return float(np.median(p50s)), float(np.median(p95s)), results


def to_run(results, query_ids, doc_ids):
    # rank order as returned (Milvus Lite returns negated BM25 distances, ascending)
    run = {}
    for qid, hits in zip(query_ids, results):
        n = len(hits)
        run[qid] = {doc_ids[h["id"]]: float(n - rank) for rank, h in enumerate(hits)}
    return run


def quality(run, qrels):
    return (float(np.mean(list(ndcg_at_k(run, qrels, 10).values()))),
            float(np.mean(list(recall_at_k(run, qrels, 100).values()))))


# ------------------------------------------------------------------------------ msmarco
def dense_vectors(docs, queries):
    from embedb.model import DefaultEmbeddingFunction

    ef = DefaultEmbeddingFunction()
    CACHE.mkdir(exist_ok=True)
    path = CACHE / "msmarco5k_minilm_docs.npy"
    if path.exists():
        d = np.load(path, allow_pickle=False)
    else:
        print(f"encoding {len(docs)} documents with MiniLM (cached in {path}) ...", flush=True)
        d = np.asarray(ef.encode_documents(docs), dtype=np.float32)
        np.save(path, d, allow_pickle=False)
    q = np.asarray(ef.encode_queries(queries), dtype=np.float32)
    return d, q


def msmarco(args, tmp: Path):
    ds = load_beir(DATA)
    doc_ids = list(ds.corpus)
    docs = [ds.document_text(d) for d in ds.corpus.values()]
    judged = ds.judged_queries()
    qids, queries = list(judged), list(judged.values())
    rows = []
    dense = qdense = None
    if not args.skip_dense:
        try:
            dense, qdense = dense_vectors(docs, queries)
        except Exception as exc:  # the dense model is another engineer's; report, don't die
            print(f"dense MiniLM skipped: {exc}")
    dim = None if dense is None else dense.shape[1]

    configs = [("embedb", {"type": "english"}, "english", True), ("embedb", None, "standard", False),
               ("milvus-lite", None, "standard", True)]
    for system, params, label, use_dense in configs:
        if system not in args.systems:
            continue
        with_dense = dim if use_dense else None
        path = tmp / f"{system}-{label}.db"
        client = make_collection(system, path, params, with_dense)
        ins = insert_all(client, docs, dense if with_dense else None)
        search = lambda q: client.search("docs", data=[q], anns_field="sparse", limit=100,
                                         search_params={"metric_type": "BM25"})[0]
        search(queries[0])  # first search builds lazy structures in both systems
        p50, p95, res = timed_runs(search, queries, args.reps)
        nd, rc = quality(to_run(res, qids, doc_ids), ds.qrels)
        rows.append((f"{system}: BM25 function ({label})", nd, rc, p50, p95, len(docs) / ins))
        if with_dense:
            mod = client_module(system)
            dsearch = lambda i: client.search("docs", data=[qdense[i]], anns_field="dense", limit=100,
                                              search_params={"metric_type": "COSINE"})[0]
            p50, p95, res = timed_runs(dsearch, range(len(queries)), args.reps)
            nd, rc = quality(to_run(res, qids, doc_ids), ds.qrels)
            rows.append((f"{system}: dense MiniLM (FLAT)", nd, rc, p50, p95, float("nan")))

            def hybrid(i):
                reqs = [mod.AnnSearchRequest(data=[queries[i]], anns_field="sparse",
                                             param={"metric_type": "BM25"}, limit=100),
                        mod.AnnSearchRequest(data=[qdense[i]], anns_field="dense",
                                             param={"metric_type": "COSINE"}, limit=100)]
                return client.hybrid_search("docs", reqs, mod.RRFRanker(60), limit=100)[0]

            p50, p95, res = timed_runs(hybrid, range(len(queries)), args.reps)
            nd, rc = quality(to_run(res, qids, doc_ids), ds.qrels)
            rows.append((f"{system}: hybrid BM25({label}) + dense, RRF(60)", nd, rc, p50, p95, float("nan")))
        client.close()

    import rank_bm25

    from embedb.text import analyzer_for_language

    analyzer = analyzer_for_language("en")
    ref = rank_bm25.BM25Okapi(analyzer.tokenize_batch(docs))
    run = {}
    for qid, q in zip(qids, queries):
        s = ref.get_scores(analyzer(q))
        top = np.argsort(-s, kind="stable")[:100]
        run[qid] = {doc_ids[d]: float(s[d]) for d in top if s[d] > 0}
    nd, rc = quality(run, ds.qrels)
    rows.append(("rank_bm25 BM25Okapi (embedb english analyzer)", nd, rc, float("nan"), float("nan"), float("nan")))

    print(f"\nmsmarco-5k: {len(docs)} documents, {len(queries)} judged queries; latency = one query "
          f"per call, median over {args.reps} passes")
    header = f"{'method':52s} {'nDCG@10':>8s} {'R@100':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'insert docs/s':>14s}"
    print(header)
    print("-" * len(header))
    for name, nd, rc, p50, p95, ins in rows:
        print(f"{name:52s} {nd:8.4f} {rc:7.4f} {p50:8.2f} {p95:8.2f} {ins:14,.0f}")


# ---------------------------------------------------------------------------- synthetic
def synthetic_corpus(n: int, seed: int = 7, vocab: int = 30000):
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(vocab)])
    ranks = np.arange(1, vocab + 1)
    p = 1.0 / ranks ** 1.1
    p /= p.sum()
    lengths = rng.integers(20, 80, n)
    tokens = words[rng.choice(vocab, size=int(lengths.sum()), p=p)]
    cuts = np.cumsum(lengths)[:-1]
    docs = [" ".join(chunk) for chunk in np.split(tokens, cuts)]
    q_words = words[rng.choice(np.arange(50, 5000), size=(50, 4))]
    queries = [" ".join(q[: rng.integers(2, 5)]) for q in q_words]
    return docs, queries


def synthetic(args, tmp: Path):
    n = args.synthetic_n
    docs, queries = synthetic_corpus(n)
    print(f"\nsynthetic: {n:,} documents (Zipf words, 20-80 tokens), {len(queries)} queries of 2-4 words, "
          f"standard analyzer, top 10")
    header = f"{'system':16s} {'insert docs/s':>14s} {'first query ms':>15s} {'p50 ms':>8s} {'p95 ms':>8s}"
    print(header)
    print("-" * len(header))
    for system in args.systems:
        client = make_collection(system, tmp / f"{system}-synthetic.db", None, None)
        ins = insert_all(client, docs)
        search = lambda q: client.search("docs", data=[q], anns_field="sparse", limit=10,
                                         search_params={"metric_type": "BM25"})[0]
        t0 = time.perf_counter()
        search(queries[0])
        first = (time.perf_counter() - t0) * 1e3
        p50, p95, _ = timed_runs(search, queries, args.reps)
        print(f"{system:16s} {n / ins:14,.0f} {first:15.1f} {p50:8.2f} {p95:8.2f}")
        client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--synthetic-n", type=int, default=100_000)
    ap.add_argument("--skip-dense", action="store_true")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--systems", default="embedb,milvus-lite", type=lambda v: v.split(","))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fulltext-"))
    try:
        msmarco(args, tmp)
        if not args.skip_synthetic:
            synthetic(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
