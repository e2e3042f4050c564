"""Speed to the limit (issue 15): embedb beside its reference, in one run, as ratios.

    .venv/bin/python bench/bench_speed.py bm25   [--n 100000] [--reps 5]
    .venv/bin/python bench/bench_speed.py sparse [--n 100000] [--reps 5]
    .venv/bin/python bench/bench_speed.py single [--n 20000] [--reps 5] [--ef 16] [--before-src SRC]
    .venv/bin/python bench/bench_speed.py startup [--n 20000] [--metric COSINE|L2|IP]
    .venv/bin/python bench/bench_speed.py build [--n 10000] [--reps 5]

* ``bm25``: a synthetic corpus (bench_fulltext's Zipf words, 20-80 tokens), indexed by embedb's
  BM25 function (standard analyzer) and by bm25s (``method="lucene"``, same k1/b, given embedb's
  tokens, so both score the same tokens). Query p50 of embedb's client search (from raw text)
  against bm25s ``retrieve`` (pre-tokenised, single thread) and against bm25s's ``get_scores``
  with a top-k of its own (``retrieve``'s NumPy top-k is slow on NumPy 2.x; ratios are to the
  faster of the two), interleaved pass by pass; the
  top-10 scores must agree (embedb's BM25 carries Milvus's (k1 + 1) factor, divided out here).
  Also the engine's exhaustive scorer (every posting scored, the pre-pruning algorithm), the
  first query after reopening the database, and indexing beside LanceDB's native full-text index
  (documents added in 1,000-row calls, then the index built with the same tokenizer rules: no
  stemming or stop words; query p50 too).
* ``sparse``: SPARSE_WAND (dynamic pruning) against the exhaustive SPARSE_INVERTED_INDEX gather
  on Zipf-distributed sparse vectors, at the index, with a check that rows and scores agree.
* ``single``: one-vector search at limit 10 on an HNSW collection (clustered, COSINE, M=16,
  efConstruction=200, ``--ef``, default 16) against embedb's own faiss index searched directly
  and hnswlib, and the fixed per-call overhead (the client's time minus faiss's): runs
  ``bench/speed_single.py`` (``--before-src``: the commit before in the same run; ``--clock``).
* ``startup``: a fresh process from start to its first search result, embedb opening its
  database against faiss reading its index file (both timed in subprocesses); also with a
  filter in the first query (the filter parser loads too).
* ``build``: HNSW (COSINE, M=16, efConstruction=200) built by embedb's create_index, by faiss
  IndexHNSWFlat.add on the same normalised vectors and by hnswlib, interleaved; wall and CPU time.

Set ``EMBEDB_SRC`` to run another checkout's ``src`` (e.g. the previous commit, for before/after).
"""

from __future__ import annotations

import argparse
import json
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


def write_json(path: str | None, numbers: dict) -> None:
    """``--json PATH``: the run's key numbers, for ``bench/speed_targets.py`` (nothing when
    no path was given)."""
    if path:
        Path(path).write_text(json.dumps(numbers, indent=1))


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

    firsts = []
    for i in range(3):   # reopen: the saved posting lists are read and verified by the first query
        client = embedb.MilvusClient(str(path))
        t0 = time.perf_counter()
        search(queries[1 + i])
        firsts.append(time.perf_counter() - t0)
        if i < 2:
            client.close()
    t_first = float(np.median(firsts))
    lance_add, lance_index, lance_first, lance_search = lancedb_fts(docs, tmp / "lance")

    tokens = analyzer.tokenize_batch(docs)
    t0 = time.perf_counter()
    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    retriever.index(tokens, show_progress=False)
    t_bm25s_index = time.perf_counter() - t0
    q_tokens = {q: analyzer(q) for q in queries}
    bm25s_search = lambda q: retriever.retrieve([q_tokens[q]], k=K, show_progress=False,  # noqa: E731
                                                n_threads=1)

    def bm25s_scores_topk(q):
        # bm25s's own scores, then a top-k that avoids NumPy 2.x's slow argpartition of an
        # array of mostly equal values (retrieve's numpy backend partitions the scores
        # themselves, nearly all 0.0: ~16 ms at 100k documents; the negated array: ~0.6 ms)
        scores = retriever.get_scores(q_tokens[q])
        top = np.argpartition(-scores, K)[:K]
        return top[np.argsort(-scores[top], kind="stable")]

    coll = client._db.get_collection("docs")
    fns = {"embedb search": search, "bm25s retrieve": bm25s_search,
           "bm25s scores + top-k": bm25s_scores_topk, "lancedb fts search": lance_search}
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

    ref = min(p50["bm25s retrieve"], p50["bm25s scores + top-k"])   # bm25s at its faster
    print(f"{'':24s} {'p50 ms':>8s} {'vs bm25s':>9s}")
    for name, v in p50.items():
        print(f"{name:24s} {v:8.3f} {v / ref:8.2f}x")
    print(f"top-{K} scores, embedb / (k1 + 1) vs bm25s: max relative difference {worst:.1e}")
    embedb_total, lance_total = t_insert + t_index, lance_add + lance_index
    print(f"\nindexing {args.n:,} documents (1,000-document calls, then everything searchable):")
    print(f"{'':24s} {'ingest s':>9s} {'index s':>8s} {'total s':>8s} {'docs/s':>9s} {'first query ms':>15s}")
    print(f"{'embedb':24s} {t_insert:9.2f} {t_index:8.2f} {embedb_total:8.2f} {args.n / embedb_total:9,.0f} "
          f"{t_first * 1e3:15.1f}")
    print(f"{'lancedb (native FTS)':24s} {lance_add:9.2f} {lance_index:8.2f} {lance_total:8.2f} "
          f"{args.n / lance_total:9,.0f} {lance_first * 1e3:15.1f}")
    print(f"embedb / lancedb indexing time: {embedb_total / lance_total:.2f}x")
    write_json(args.json, {"query_p50_ms": p50, "max_score_rel_diff": worst,
                           "index_s": {"embedb": embedb_total, "lancedb": lance_total},
                           "first_query_ms": {"embedb": t_first * 1e3, "lancedb": lance_first * 1e3}})
    print(f"  embedb: ingest = {-(-args.n // 1000)} insert calls, each durable on return (log fsynced; the BM25 function analyses "
          "the text), then flush (columns written); index = the first query, which builds the posting lists "
          "(saved at the next checkpoint); first query ms = after reopening, median of 3")
    print("  lancedb: ingest = create_table/add per 1,000 rows (no fsync); index = create_fts_index(use_tantivy="
          "False) with embedb's standard analyzer's rules (simple tokenizer, lowercase; no stemming, stop words "
          "or ASCII folding, which LanceDB 0.40 applies by default), index files written, not fsynced")
    print("  bench/speed_bm25_ingest.py times the same in fresh processes with CPU seconds, durability='process' "
          "and a before checkout")
    print(f"bm25s index {t_bm25s_index:.2f} s (pre-tokenised)")


def lancedb_fts(docs: list[str], path: Path):
    """LanceDB: the documents added in 1,000-row calls, then its native full-text index with
    embedb's standard analyzer's rules (lowercase only); (add s, index s, first query s, search
    function)."""
    import warnings

    import lancedb
    import pyarrow as pa

    from speed_bm25_ingest import LANCE_STANDARD   # the tokenizer configured as embedb's standard analyzer

    db = lancedb.connect(str(path))
    t0 = time.perf_counter()
    table = None
    for s in range(0, len(docs), 1000):
        batch = pa.table({"id": np.arange(s, min(s + 1000, len(docs))), "text": docs[s:s + 1000]})
        table = db.create_table("docs", data=batch) if table is None else table
        if s:
            table.add(batch)
    t_add = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():   # create_fts_index is deprecated for create_index(FTS()) in 0.25+
        warnings.simplefilter("ignore")
        table.create_fts_index("text", use_tantivy=False, **LANCE_STANDARD)
    t_index = time.perf_counter() - t0
    search = lambda q: table.search(q, query_type="fts").limit(K).to_list()  # noqa: E731
    t0 = time.perf_counter()
    search("w100 w2000")
    return t_add, t_index, time.perf_counter() - t0, search


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
    write_json(args.json, {"p50_ms": p50, "same": same})


# ---------------------------------------------------------------------------------- single
class LockStepWorker:
    """Another checkout's embedb in a worker process (``code``, run with ``EMBEDB_SRC=src``),
    driven in lock step: it prints "ready", then answers each command line with one JSON line
    (``ask``); "quit" ends it (``close``)."""

    def __init__(self, code: str, src: str) -> None:
        env = dict(os.environ, EMBEDB_SRC=src)   # (bench_speed puts it first on sys.path)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the --before-src worker did not start")

    def ask(self, line: str):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(n // 500, 8), dim)).astype(np.float32)
    return (centers[rng.integers(0, len(centers), n)] + 0.35 * rng.standard_normal((n, dim))).astype(np.float32)


def hnsw_database(path: Path, x: np.ndarray, metric: str = "COSINE") -> float:
    """An embedb database with an HNSW (COSINE, M=16, efC=200) collection of ``x``; build s."""
    import embedb

    client = embedb.MilvusClient(str(path))
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=x.shape[1])
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type=metric, params={"M": 16, "efConstruction": 200})
    client.create_collection("c", schema=schema, index_params=index)
    t0 = time.perf_counter()
    for s in range(0, len(x), 10_000):
        client.insert("c", [{"id": s + i, "v": v} for i, v in enumerate(x[s:s + 10_000])])
    client.search("c", [x[0]], limit=K)   # the index is built on first use
    client.flush("c")
    built = time.perf_counter() - t0
    client.close()
    return built


def faiss_index_file(path: Path, metric: str = "COSINE") -> Path:
    """embedb's saved HNSW graph (``ext/*.hnsw``, the graph only) and its vectors (the column
    ``v.values.npy``, normalised as the index searches them) as one faiss index file, graph +
    vectors, as faiss itself saves an index: the reference faiss reads and searches."""
    import faiss

    out = path.parent / (path.name + ".reference.faiss")
    if not out.exists():
        graph = faiss.read_index(str(next(path.rglob("*.hnsw"))))
        x = np.array(np.load(next(path.rglob("v.values.npy")), mmap_mode="r")[: graph.ntotal],
                     dtype=np.float32)
        if metric == "COSINE":
            x /= np.linalg.norm(x, axis=1, keepdims=True)   # as embedb normalises
        flat = faiss.IndexFlatL2(graph.d) if metric == "L2" else faiss.IndexFlatIP(graph.d)
        flat.add(x)
        flat.this.disown()   # the graph owns it from here
        graph.storage = flat
        graph.own_fields = True
        faiss.write_index(graph, str(out))
    return out


def bench_single(args, tmp: Path) -> None:
    """``bench/speed_single.py`` (one implementation of this measurement): embedb's client,
    the engine's general path, faiss on embedb's own index (with and without its Python
    wrapper), hnswlib and, with ``--before-src``, another checkout, interleaved in one run."""
    cmd = [sys.executable, str(ROOT / "bench" / "speed_single.py"), "--n", str(args.n),
           "--reps", str(args.reps), "--ef", str(args.ef), "--clock", args.clock]
    if args.before_src:
        cmd += ["--before-src", args.before_src]
    if args.json:
        cmd += ["--json", args.json]
    subprocess.run(cmd, check=True)


# --------------------------------------------------------------------------------- startup
_EMBEDB_FIRST = """
import sys; sys.path.insert(0, {src!r})
import numpy as np, embedb
client = embedb.MilvusClient({path!r})
hits = client.search("c", [np.ones({dim}, dtype=np.float32)], limit=10, filter={filter!r})
assert len(hits[0]) == 10
print("scipy.sparse" in sys.modules)
"""
_FAISS_FIRST = """
import numpy as np, faiss
index = faiss.read_index({file!r})
q = np.ones((1, {dim}), dtype=np.float32)
_, rows = index.search(q / np.linalg.norm(q), 10)
assert (rows >= 0).all()
"""


def bench_startup(args, tmp: Path) -> None:
    """Process start to first result, in fresh interpreters, alternating embedb and faiss."""
    dim = 384
    path = tmp / "startup.db"
    hnsw_database(path, clustered(args.n, dim), args.metric)
    src = os.environ.get("EMBEDB_SRC") or str(ROOT / "src")
    flt = "id >= 0 and id % 2 == 0"   # a filter in the first query: the parser loads too
    scripts = {"embedb open + search": _EMBEDB_FIRST.format(src=src, path=str(path), dim=dim, filter=""),
               "embedb open + filtered": _EMBEDB_FIRST.format(src=src, path=str(path), dim=dim, filter=flt),
               "faiss read_index + search": _FAISS_FIRST.format(file=str(faiss_index_file(path, args.metric)),
                                                                dim=dim)}
    if args.before_src:   # another checkout's src (e.g. the commit before a change), same run,
        # on a database that checkout wrote (its files as it writes them: checksums, index)
        before = tmp / "startup-before.db"
        subprocess.run([sys.executable, "-c", f"import sys; sys.path[:0] = [{args.before_src!r}, "
                        f"{str(Path(__file__).parent)!r}]; import embedb; from pathlib import Path; "
                        f"from bench_speed import clustered, hnsw_database; "
                        f"hnsw_database(Path({str(before)!r}), clustered({args.n}, {dim}), {args.metric!r})"],
                       check=True)
        scripts["embedb before"] = _EMBEDB_FIRST.format(src=args.before_src, path=str(before), dim=dim, filter="")
        scripts["embedb before, filtered"] = _EMBEDB_FIRST.format(src=args.before_src, path=str(before),
                                                                  dim=dim, filter=flt)
    import resource  # noqa: PLC0415

    times: dict[str, list[float]] = {name: [] for name in scripts}
    cpu: dict[str, list[float]] = {name: [] for name in scripts}   # the child's user + system time
    scipy_loaded = None
    # as installed: byte code cached (a first, untimed run writes it), whatever this shell says
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for rep in range(args.reps + 1):
        for name, code in scripts.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                 env=env)
            if rep:
                times[name].append(time.perf_counter() - t0)
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
            if name == "embedb open + search":
                scipy_loaded = out.stdout.strip()
    med = {name: float(np.median(t)) for name, t in times.items()}
    med_cpu = {name: float(np.median(t)) for name, t in cpu.items()}
    ref = "faiss read_index + search"
    print(f"start-up: {args.n:,} x {dim} HNSW {args.metric} collection, process start to first result, "
          f"median of {args.reps} fresh processes each (wall clock; CPU: the process's user + system "
          f"time, less blurred by a busy machine)")
    for name, v in med.items():
        print(f"{name:28s} {v:6.2f} s  {v / med[ref]:5.2f}x   CPU {med_cpu[name]:6.2f} s  "
              f"{med_cpu[name] / med_cpu[ref]:5.2f}x")
    print(f"scipy.sparse imported by embedb: {scipy_loaded}")
    write_json(args.json, {"wall_s": med, "cpu_s": med_cpu, "scipy_sparse": scipy_loaded})


# ----------------------------------------------------------------------------------- build
def bench_build(args, tmp: Path) -> None:
    """HNSW build (COSINE, M=16, efConstruction=200) on the same clustered vectors: embedb's
    create_index over an inserted collection, faiss IndexHNSWFlat.add on the normalised vectors
    (what embedb's index holds), hnswlib add_items; interleaved, every library on all cores."""
    import faiss
    import hnswlib

    import embedb

    dim, m, efc = 384, 16, 200
    x = clustered(args.n, dim)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    client = embedb.MilvusClient(str(tmp / "build.db"))
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=dim)
    client.create_collection("c", schema=schema)
    for s in range(0, len(x), 10_000):
        client.insert("c", [{"id": s + i, "v": v} for i, v in enumerate(x[s:s + 10_000])])

    def embedb_build():
        index = client.prepare_index_params()
        index.add_index("v", index_type="HNSW", metric_type="COSINE", params={"M": m, "efConstruction": efc})
        client.create_index("c", index)   # builds now, on a snapshot of the rows
        client.load_collection("c")
        client.search("c", [x[0]], limit=K, search_params={"metric_type": "COSINE"})
        client.release_collection("c")
        client.drop_index("c", "v")

    def faiss_build():
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = efc
        index.add(xn)

    def hnswlib_build():
        index = hnswlib.Index(space="cosine", dim=dim)
        index.init_index(max_elements=len(x), M=m, ef_construction=efc)
        index.add_items(x, num_threads=-1)

    fns = {"embedb create_index": embedb_build, "faiss IndexHNSWFlat.add": faiss_build,
           "hnswlib add_items": hnswlib_build}
    times: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for rep in range(args.reps):
        for name in names[rep % 3:] + names[:rep % 3]:   # a different one first each round
            fn = fns[name]
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    client.close()
    med = {name: float(np.median(t)) for name, t in times.items()}
    med_cpu = {name: float(np.median(t)) for name, t in cpu.items()}
    ref = "faiss IndexHNSWFlat.add"
    print(f"HNSW build: {args.n:,} x {dim} clustered, COSINE, M={m}, efConstruction={efc}, "
          f"faiss threads {faiss.omp_get_max_threads()}, median of {args.reps} interleaved builds")
    print(f"{'':28s} {'wall s':>7s} {'vs faiss':>9s} {'CPU s':>7s} {'vs faiss':>9s} {'cores used':>11s}")
    for name, v in med.items():
        print(f"{name:28s} {v:7.2f} {v / med[ref]:8.2f}x {med_cpu[name]:7.2f} "
              f"{med_cpu[name] / med_cpu[ref]:8.2f}x {med_cpu[name] / v:11.2f}")
    print("(CPU time counts every thread: on a shared machine its ratio is the steadier one)")
    write_json(args.json, {"wall_s": med, "cpu_s": med_cpu})


# ---------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["bm25", "sparse", "single", "startup", "build"])
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--before-src", default=None,
                    help="startup, single: also time this checkout's src")
    ap.add_argument("--ef", type=int, default=16, help="single: the HNSW search ef")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="single: wall time or the thread's CPU time")
    ap.add_argument("--metric", default="COSINE", choices=["COSINE", "L2", "IP"], help="startup: the index metric")
    ap.add_argument("--json", default=None, help="also write the key numbers to this file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    try:
        if args.what == "bm25":
            args.n = args.n or 100_000
            bench_bm25(args, tmp)
        elif args.what == "single":
            args.n = args.n or 20_000
            bench_single(args, tmp)
        elif args.what == "startup":
            args.n = args.n or 20_000
            bench_startup(args, tmp)
        elif args.what == "sparse":
            args.n = args.n or 100_000
            bench_sparse(args)
        elif args.what == "build":
            args.n = args.n or 10_000
            bench_build(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
