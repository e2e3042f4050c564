"""BM25 indexing rate (issue 15): documents inserted to searchable, embedb beside LanceDB's
native full-text index, in one interleaved run.

    .venv/bin/python bench/speed_bm25_ingest.py [--n 100000] [--rounds 3] [--before REV] [--english]

The corpus is bench_speed's (bench_fulltext.synthetic_corpus: Zipf words, 20-80 tokens), added
in 1,000-document calls. Every measurement runs in a fresh process (modules imported and the
corpus built before the clock starts), and the rounds interleave the systems, so each ratio
compares runs made under the same machine load. What each one times:

* embedb (``MilvusClient``, a VARCHAR field with ``enable_analyzer`` and a BM25 function to a
  SPARSE_FLOAT_VECTOR field, SPARSE_INVERTED_INDEX/BM25): ``ingest`` = the 100 insert calls,
  each durable on return (its log entry fsynced); ``index`` = the first search, which builds
  the posting lists from the sparse column; ``persist`` = then ``flush``: the columns and the
  posting lists written to their files (fsynced), as LanceDB's index is when it returns.
* embedb-process: the same with ``durability="process"`` (log entries committed without
  fsync: they survive kill -9, not a power cut), the guarantee LanceDB's ``add`` gives.
* embedb-before: the same as embedb, run from another checkout (``--before REV``: a git
  worktree in /tmp; or ``--before-src DIR``).
* lancedb: ``create_table`` + ``table.add`` per 1,000 rows (``ingest``), then
  ``create_fts_index("text", use_tantivy=False)`` (``index``; its Rust builder may use both
  cores) and the first FTS query. The index is configured as embedb's standard analyzer:
  ``base_tokenizer="simple"``, ``lower_case=True``, ``stem=False``, ``remove_stop_words=False``,
  ``ascii_folding=False``, ``max_token_length=None`` (LanceDB 0.40's defaults stem, remove
  English stop words and fold to ASCII). Lance writes its files without fsync.
* ``--english``: also embedb with ``{"type": "english"}`` (lowercase, stop words, Snowball
  stemmer) beside LanceDB with ``stem=True, remove_stop_words=True`` (English).

``total`` = ingest + index (+ persist for embedb: "on disk"); CPU seconds count every thread.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000
LANCE_STANDARD = {"base_tokenizer": "simple", "lower_case": True, "stem": False, "remove_stop_words": False,
                  "ascii_folding": False, "max_token_length": None}
LANCE_ENGLISH = {"base_tokenizer": "simple", "language": "English", "lower_case": True, "stem": True,
                 "remove_stop_words": True, "ascii_folding": False, "max_token_length": None}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------ workers
def run_embedb(n: int, tmp: Path, durability: str | None, analyzer: dict | None) -> dict:
    import scipy.sparse  # noqa: F401  (the first query needs it; imported before the clock, as embedb itself)

    import embedb
    from bench_fulltext import synthetic_corpus

    docs, queries = synthetic_corpus(n)
    kwargs = {"durability": durability} if durability else {}
    client = embedb.MilvusClient(str(tmp / "bm25.db"), **kwargs)
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    field = {"enable_analyzer": True} if analyzer is None else {"enable_analyzer": True, "analyzer_params": analyzer}
    schema.add_field("text", embedb.DataType.VARCHAR, max_length=65535, **field)
    schema.add_field("sparse", embedb.DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(embedb.Function(name="bm25", function_type=embedb.FunctionType.BM25,
                                        input_field_names=["text"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("docs", schema=schema, index_params=index)
    batches = [[{"id": s + i, "text": t} for i, t in enumerate(docs[s:s + BATCH])] for s in range(0, n, BATCH)]

    c0, t0 = cpu_s(), time.perf_counter()
    for rows in batches:
        client.insert("docs", rows)
    t1, c1 = time.perf_counter(), cpu_s()
    hits = client.search("docs", data=[queries[0]], anns_field="sparse", limit=10,
                         search_params={"metric_type": "BM25"})[0]
    t2, c2 = time.perf_counter(), cpu_s()
    client.flush("docs")
    t3, c3 = time.perf_counter(), cpu_s()
    client.close()
    return {"ingest": t1 - t0, "index": t2 - t1, "persist": t3 - t2, "cpu": c3 - c0, "hits": len(hits),
            "cpu_ingest": c1 - c0, "cpu_index": c2 - c1, "cpu_persist": c3 - c2}


def run_lancedb(n: int, tmp: Path, options: dict) -> dict:
    import warnings

    import lancedb
    import pyarrow as pa

    from bench_fulltext import synthetic_corpus

    docs, queries = synthetic_corpus(n)
    db = lancedb.connect(str(tmp / "lance"))
    batches = [pa.table({"id": np.arange(s, min(s + BATCH, n)), "text": docs[s:s + BATCH]}) for s in range(0, n, BATCH)]
    c0, t0 = cpu_s(), time.perf_counter()
    table = db.create_table("docs", data=batches[0])
    for batch in batches[1:]:
        table.add(batch)
    t1, c1 = time.perf_counter(), cpu_s()
    with warnings.catch_warnings():   # create_fts_index is deprecated for create_index(FTS()) in 0.25+
        warnings.simplefilter("ignore")
        table.create_fts_index("text", use_tantivy=False, **options)
    hits = table.search(queries[0], query_type="fts").limit(10).to_list()
    t2, c2 = time.perf_counter(), cpu_s()
    return {"ingest": t1 - t0, "index": t2 - t1, "persist": 0.0, "cpu": c2 - c0, "hits": len(hits),
            "cpu_ingest": c1 - c0, "cpu_index": c2 - c1, "cpu_persist": 0.0}


SYSTEMS = {
    "embedb": lambda a, tmp: run_embedb(a.n, tmp, None, None),
    "embedb-process": lambda a, tmp: run_embedb(a.n, tmp, "process", None),
    "embedb-before": lambda a, tmp: run_embedb(a.n, tmp, None, None),
    "lancedb": lambda a, tmp: run_lancedb(a.n, tmp, LANCE_STANDARD),
    "embedb-english": lambda a, tmp: run_embedb(a.n, tmp, None, {"type": "english"}),
    "lancedb-english": lambda a, tmp: run_lancedb(a.n, tmp, LANCE_ENGLISH),
}


def worker(args) -> None:
    sys.path.insert(0, os.environ.get("EMBEDB_SRC") or str(ROOT / "src"))
    sys.path.insert(1, str(ROOT / "bench"))
    import embedb   # noqa: F401  (this checkout's, before bench_fulltext puts ROOT/src first)

    tmp = Path(tempfile.mkdtemp(prefix="bm25-ingest-"))
    try:
        print(json.dumps(SYSTEMS[args.worker](args, tmp)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------ parent
def before_src(args) -> str | None:
    if args.before_src:
        return args.before_src
    if not args.before:
        return None
    path = Path(tempfile.gettempdir()) / f"embedb-before-{args.before[:12]}"
    if not path.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), args.before],
                       check=True, capture_output=True)
    return str(path / "src")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", default=None, help="a git revision to time as embedb-before (worktree in /tmp)")
    ap.add_argument("--before-src", default=None, help="or the src directory of another checkout")
    ap.add_argument("--english", action="store_true", help="also the English analyzers (stemming, stop words)")
    ap.add_argument("--no-process", action="store_true", help="skip embedb with durability='process'")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    systems = ["embedb"] + ([] if args.no_process else ["embedb-process"])
    before = before_src(args)
    if before:
        systems.append("embedb-before")
    systems.append("lancedb")
    if args.english:
        systems += ["embedb-english", "lancedb-english"]
    print(f"BM25 indexing: {args.n:,} synthetic documents in {BATCH:,}-document calls, {args.rounds} interleaved "
          f"rounds, a fresh process per measurement (medians){'; before = ' + before if before else ''}")
    results: dict[str, list[dict]] = {s: [] for s in systems}
    for r in range(args.rounds):
        for s in (systems if r % 2 == 0 else systems[::-1]):
            env = dict(os.environ)
            if s == "embedb-before":
                env["EMBEDB_SRC"] = before
            else:
                env.pop("EMBEDB_SRC", None)
            out = subprocess.run([sys.executable, __file__, "--worker", s, "--n", str(args.n)], env=env,
                                 capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{s} failed:\n{out.stderr[-2000:]}")
            results[s].append(json.loads(out.stdout.strip().splitlines()[-1]))

    def med(s: str, key: str) -> float:
        return float(np.median([r[key] for r in results[s]]))

    def total(s: str) -> float:
        return float(np.median([r["ingest"] + r["index"] + r["persist"] for r in results[s]]))

    def searchable(s: str) -> float:
        return float(np.median([r["ingest"] + r["index"] for r in results[s]]))

    print(f"{'system':16s} {'ingest s':>9s} {'index s':>8s} {'persist s':>10s} {'searchable s':>13s} "
          f"{'docs/s':>8s} {'total s':>8s} {'vs lancedb':>11s} {'CPU s':>7s}")
    for s in systems:
        ref = "lancedb-english" if s.endswith("english") else "lancedb"
        print(f"{s:16s} {med(s, 'ingest'):9.2f} {med(s, 'index'):8.2f} {med(s, 'persist'):10.2f} "
              f"{searchable(s):13.2f} {args.n / searchable(s):8,.0f} {total(s):8.2f} "
              f"{total(s) / total(ref):10.2f}x {med(s, 'cpu'):7.2f}")
    print(f"\nCPU seconds (every thread) by phase:  {'ingest':>7s} {'index':>7s} {'persist':>8s}")
    for s in systems:
        print(f"{s:36s} {med(s, 'cpu_ingest'):7.2f} {med(s, 'cpu_index'):7.2f} {med(s, 'cpu_persist'):8.2f}")
    print("searchable = ingest + index (the first query's answer); total adds embedb's flush (columns and "
          "posting lists in their files, fsynced); LanceDB's index files are written (not fsynced) when "
          "create_fts_index returns, so its persist is 0")
    for s in systems:
        if s.startswith("embedb") and "lancedb" in results:
            ref = "lancedb-english" if s.endswith("english") else "lancedb"
            print(f"{s} / {ref}: searchable {searchable(s) / searchable(ref):.2f}x, total {total(s) / total(ref):.2f}x")


if __name__ == "__main__":
    main()
