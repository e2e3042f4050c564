"""Filtered search (issue 15): embedb beside faiss on the same data, in one interleaved run.

    .venv/bin/python bench/speed_filters.py              # 50k x 384, about 1-2 minutes
    .venv/bin/python bench/speed_filters.py --n 100000   # the issue's size

Data: clustered vectors (``--n`` rows, 384-d, a centre per 500 rows), queries drawn around the
same centres, a ``tag`` column uniform over 0..99, so ``tag == 7`` keeps 1% of the rows and
``tag < 10`` keeps 10%. embedb: an HNSW collection (COSINE, M=16, efConstruction=200), one
``client.search`` per query (limit 10), with ``ef=16`` (the single-query bench's setting) and
with the default ef. The references run on the same rows and the same allowed set:

* ``faiss exact+bitmap``: ``IndexFlatIP`` over the normalised vectors with an
  ``IDSelectorBitmap`` built once (the bitmap's cost is not counted);
* ``faiss HNSW+selector``: embedb's own HNSW graph (the faiss index object the collection
  searches) called directly with an ``IDSelectorBitmap``, at the smallest ef of a sweep in
  steps of 4 that reaches recall@10 0.95, at ef=16, and at the ef embedb widens ef=16 to for
  this selectivity (the graph search embedb runs: the rest of embedb's time is its own
  overhead; not shown where embedb searches exactly). These get the queries already
  normalised; ``q/|q| in call`` is the 0.95 ef with the normalisation in the timed call (as
  ``speed_single.py``'s ``faiss direct`` and any application doing COSINE with faiss).

``--db PATH`` keeps the built database and reuses it; ``EMBEDB_SRC=/tmp/wt/src`` runs another
checkout's embedb (the commit before) on it. ``--before-src /tmp/wt/src`` also times that
checkout's ``client.search`` (ef=16) in the same run: a worker process on a copy of the
database, driven in lock step (it runs its pass while this process waits, timed with the same
clock), whose hits (ids and distances) must equal this one's. ``--clock cpu`` times this
thread's CPU time instead of wall time (steadier on a shared machine).

Every row is the p50 of single-query calls over all queries, passes interleaved between the
rows; recall@10 against the exact answer. Ratios are against ``faiss exact+bitmap`` at 1% and
against ``faiss HNSW+selector`` at its 0.95 ef at 10%.
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
# EMBEDB_SRC: another checkout's src (the commit before, from a git worktree)
sys.path.insert(0, os.environ.get("EMBEDB_SRC", str(ROOT / "src")))
from bench_speed import LockStepWorker, write_json  # noqa: E402

K = 10
DIM = 384
# faiss's ef sweep: steps of 4 up to 128 (a coarse grid would inflate "the ef that reaches
# 0.95", and so the reference's time), then coarser
EF_GRID = tuple(range(8, 129, 4)) + (160, 200, 256, 384, 512)


def data(n: int, nq: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 500, 8), DIM)).astype(np.float32)
    x = (centres[rng.integers(0, len(centres), n)] + 0.35 * rng.standard_normal((n, DIM))).astype(np.float32)
    q = (centres[rng.integers(0, len(centres), nq)] + 0.35 * rng.standard_normal((nq, DIM))).astype(np.float32)
    return x, q, rng.integers(0, 100, n)


def held_out_queries(n: int, nq: int = 1000, seed: int = 0) -> np.ndarray:
    """``nq`` more queries of the same distribution as :func:`data`'s (its centres, another
    draw): the ef found on the timed queries is the best for those very queries; on others
    it may fall short of 0.95."""
    centres = np.random.default_rng(seed).standard_normal((max(n // 500, 8), DIM)).astype(np.float32)
    rng = np.random.default_rng(seed + 99)
    return (centres[rng.integers(0, len(centres), nq)] +
            0.35 * rng.standard_normal((nq, DIM))).astype(np.float32)


def build(path: Path, x: np.ndarray, tag: np.ndarray) -> float:
    import embedb

    client = embedb.MilvusClient(str(path))
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("tag", embedb.DataType.INT64)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="COSINE",
                    params={"M": 16, "efConstruction": 200})
    client.create_collection("c", schema=schema, index_params=index)
    t0 = time.perf_counter()
    for s in range(0, len(x), 10_000):
        client.insert("c", [{"id": s + i, "tag": int(t), "v": v}
                            for i, (t, v) in enumerate(zip(tag[s:s + 10_000], x[s:s + 10_000]))])
    client.search("c", [x[0]], limit=K)   # the index is built on first use
    client.flush("c")
    built = time.perf_counter() - t0
    client.close()
    return built


def recall(found: list, truth: list) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


# the other checkout's client (--before-src), in its own process: "pass <flt>" times one
# ef=16 search of every query, "hits <flt>" prints every query's (ids, distances)
_WORKER = r"""
import json, sys, time
sys.path[:0] = [{src!r}, {bench!r}]
import embedb
from speed_filters import data
clock = time.perf_counter if {clock!r} == "wall" else time.thread_time
queries = data({n}, {nq})[1]
client = embedb.MilvusClient({path!r})
sp = {{"params": {{"ef": 16}}}}
search = lambda q, flt: client.search("c", [q], limit={k}, filter=flt, search_params=sp)
for flt in ("tag == 7", "tag < 10"):
    for q in queries:
        search(q, flt)
print("ready", flush=True)
for line in sys.stdin:
    cmd, _, flt = line.rstrip("\n").partition(" ")
    if cmd == "pass":
        out = []
        for q in queries:
            t0 = clock()
            search(q, flt)
            out.append(clock() - t0)
    elif cmd == "hits":
        hits = [search(q, flt)[0] for q in queries]
        out = [[h.id for h in hs] for hs in hits], [[h.distance for h in hs] for hs in hits]
    else:
        break
    print(json.dumps(out), flush=True)
client.close()
"""


class Before(LockStepWorker):
    """``--before-src``'s client in a worker process, run in lock step (see _WORKER)."""

    def __init__(self, src: str, path: Path, n: int, nq: int, clock: str) -> None:
        super().__init__(_WORKER.format(src=src, bench=str(ROOT / "bench"), clock=clock, n=n,
                                        nq=nq, path=str(path), k=K), src)
        self.filter = ""

    def ask(self, cmd: str):
        return super().ask(f"{cmd} {self.filter}")


def p50_interleaved(fns: dict, nq: int, reps: int, clock=time.perf_counter) -> dict:
    """p50 (ms) of each fn(i) over ``reps`` passes over all queries, the fns alternating pass
    by pass; a :class:`Before` times its pass in its own process with the same clock."""
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            if isinstance(fn, Before):
                times[name].extend(fn.ask("pass"))
                continue
            for i in range(nq):
                t0 = clock()
                fn(i)
                times[name].append(clock() - t0)
    return {name: float(np.percentile(t, 50) * 1e3) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--db", type=Path, default=None,
                    help="keep the built database here and reuse it when it exists (same --n)")
    ap.add_argument("--before-src", default=None,
                    help="also time this checkout's src (e.g. a git worktree of the commit before)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall time (default) or this thread's CPU time (for a busy machine)")
    ap.add_argument("--json", default=None, help="also write the key numbers to this file")
    args = ap.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.thread_time

    import faiss

    import embedb
    from embedb.engine.index.filtered import filtered_ef, use_exact
    from embedb.engine.index.manager import indexes_of

    x, queries, tag = data(args.n, args.queries)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(xn)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "filters.db"
        built = float("nan") if args.db is not None and args.db.exists() else build(path, x, tag)
        before = None
        if args.before_src:   # its own copy (one writer per database), the same graph
            shutil.copytree(path, Path(tmp) / "before.db")
            before = Before(args.before_src, Path(tmp) / "before.db", args.n, args.queries,
                            args.clock)
        client = embedb.MilvusClient(str(path))
        client.search("c", [queries[0]], limit=K, filter="tag == 7")   # load, warm the cache
        graph = indexes_of(client._db.get_collection("c")).for_field("v").impl.index
        print(f"filtered search: {args.n:,} x {DIM} clustered, COSINE, HNSW M=16 efC=200 "
              f"(built in {built:.1f} s), top {K}, {args.queries} queries x {args.reps} passes, "
              f"p50 of single-query calls, {args.clock} clock")
        print(f"{'selectivity':>11}  {'path':38s} {'p50 ms':>8} {'recall@10':>9} {'ratio':>6}")
        numbers: dict = {}   # --json: per selectivity
        for label, flt, allowed, base_name in (("1%", "tag == 7", tag == 7, "faiss exact+bitmap"),
                                               ("10%", "tag < 10", tag < 10, None)):
            rows = np.flatnonzero(allowed)
            sims = qn @ xn[rows].T
            truth = [rows[np.lexsort((rows, -s))[:K]].tolist() for s in sims]
            bits = np.packbits(allowed, bitorder="little")
            sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
            flat_params = faiss.SearchParameters(sel=sel)

            def hnsw_params(ef):
                return faiss.SearchParametersHNSW(efSearch=ef, sel=sel)

            def hnsw_recall(ef):
                p = hnsw_params(ef)
                return recall([graph.search(qn[i:i + 1], K, params=p)[1][0].tolist()
                               for i in range(len(qn))], truth)

            ef95 = next((ef for ef in EF_GRID if hnsw_recall(ef) >= 0.95), EF_GRID[-1])
            # the ef embedb's graph search runs at for ef=16 (this filter is independent of
            # the vectors: no clumping widening); none where embedb searches exactly
            ef_embedb = None if use_exact(int(allowed.sum()), len(allowed), DIM) else \
                filtered_ef(16, K, float(allowed.mean()))
            p95, p16 = hnsw_params(ef95), hnsw_params(16)
            pe = hnsw_params(ef_embedb) if ef_embedb else None
            fns = {
                "embedb search, ef=16": lambda i: client.search(
                    "c", [queries[i]], limit=K, filter=flt,
                    search_params={"params": {"ef": 16}}),
                "embedb search, default ef": lambda i: client.search(
                    "c", [queries[i]], limit=K, filter=flt),
                "faiss exact+bitmap": lambda i: flat.search(qn[i:i + 1], K, params=flat_params),
                f"faiss HNSW+selector ef={ef95} (0.95)": lambda i: graph.search(
                    qn[i:i + 1], K, params=p95),
                # the same with the query normalised in the call, as an application must
                f"faiss HNSW+sel. ef={ef95}, q/|q| in call": lambda i: graph.search(
                    queries[i:i + 1] / np.linalg.norm(queries[i]), K, params=p95),
                "faiss HNSW+selector ef=16": lambda i: graph.search(qn[i:i + 1], K, params=p16),
            }
            if pe is not None:
                fns[f"faiss HNSW+selector ef={ef_embedb} (embedb's)"] = \
                    lambda i: graph.search(qn[i:i + 1], K, params=pe)
            if before is not None:
                before.filter = flt
                fns["embedb before, ef=16"] = before
            p50 = p50_interleaved(fns, len(queries), args.reps, clock)
            rec = {
                "embedb search, ef=16": recall([[h["id"] for h in fns["embedb search, ef=16"](i)[0]]
                                                for i in range(len(queries))], truth),
                "embedb search, default ef": recall(
                    [[h["id"] for h in fns["embedb search, default ef"](i)[0]]
                     for i in range(len(queries))], truth),
                "faiss exact+bitmap": recall([fns["faiss exact+bitmap"](i)[1][0].tolist()
                                              for i in range(len(queries))], truth),
                f"faiss HNSW+selector ef={ef95} (0.95)": hnsw_recall(ef95),
                f"faiss HNSW+sel. ef={ef95}, q/|q| in call": hnsw_recall(ef95),
                "faiss HNSW+selector ef=16": hnsw_recall(16),
            }
            if pe is not None:
                rec[f"faiss HNSW+selector ef={ef_embedb} (embedb's)"] = hnsw_recall(ef_embedb)
            same_before = None
            if before is not None:
                ids, dists = before.ask("hits")
                now = [fns["embedb search, ef=16"](i)[0] for i in range(len(queries))]
                same_before = ids == [[h.id for h in hs] for hs in now] and \
                    dists == [[h.distance for h in hs] for hs in now]
                rec["embedb before, ef=16"] = recall(ids, truth)
            batch = client.search("c", list(queries), limit=K, filter=flt,
                                  search_params={"params": {"ef": 16}})
            batch_recall = recall([[h["id"] for h in hits] for hits in batch], truth)
            base = base_name or f"faiss HNSW+selector ef={ef95} (0.95)"
            for name, v in p50.items():
                print(f"{label:>11}  {name:38s} {v:8.3f} {rec[name]:9.3f} {v / p50[base]:6.2f}")
            print(f"{'':>11}  embedb batch of {len(queries)} (ef=16): recall {batch_recall:.3f}"
                  + ("" if same_before is None else
                     f"; hits == before's (ids and distances): {same_before}"))
            numbers[label] = {"p50_ms": p50, "recall": rec, "batch_recall": batch_recall,
                              "reference": base, "ef95": ef95, "ef_embedb": ef_embedb}
            if ef_embedb:   # the same efs on held-out queries (one batched faiss call each)
                hq = held_out_queries(args.n)
                hq /= np.linalg.norm(hq, axis=1, keepdims=True)
                hsims = hq @ xn[rows].T
                htruth = [rows[np.argpartition(-s, K)[:K]].tolist() for s in hsims]
                shown = []
                for ef in sorted({ef95, ef_embedb}):
                    found = graph.search(hq, K, params=hnsw_params(ef))[1]
                    held = recall([f.tolist() for f in found], htruth)
                    numbers[label][f"held_out_recall_ef{ef}"] = held
                    shown.append(f"ef {ef}: {held:.3f}")
                print(f"{'':>11}  faiss on {len(hq)} held-out queries: recall " + ", ".join(shown))
        client.close()
        if before is not None:
            before.close()
        write_json(args.json, numbers)


if __name__ == "__main__":
    main()
