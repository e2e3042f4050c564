"""Single-query latency (issue 15): embedb's client against its own saved faiss index called
directly (the index object embedb loaded from its file: the same graph) and against hnswlib
built with the same M / efConstruction, interleaved in one run; with ``--before-src``, also
another checkout of embedb (e.g. the commit before a change) in the same run.

    .venv/bin/python bench/speed_single.py [--n 20000] [--reps 5] [--ef 16] [--limit 10]
                                           [--interleave pass|step] [--clock wall|cpu]
                                           [--before-src /tmp/wt/src] [--omp]

One 384-d clustered collection (COSINE, HNSW M=16 efConstruction=200). The contenders alternate
pass by pass over all queries (``--interleave step``: call by call; see interleaved_p50), so
noise on the shared machine falls on all of them alike. Printed: p50 per query, the ratio to
faiss on embedb's index (the same graph, so the gap is embedb's own overhead), in pass mode also
the median over the rounds of each round's ratio (p50 of one pass over faiss's p50 of the pass
next to it: steadier when the machine's load drifts during the run), the fixed
overhead (embedb p50 minus faiss p50), and checks: embedb returns faiss's rows, one query
answers as in a batch, and (``--before-src``) the other checkout returns the same hits (ids and
distances) for every query.

Contenders:

* ``embedb search``: ``client.search(name, [q], limit=k, search_params=...)``;
* ``embedb general path``: the engine's full search (what every call ran before the plain-call
  fast path);
* ``embedb before``: ``--before-src``'s client search, in a process of its own (on a copy of the
  database) driven in lock step by this one: it runs its pass (or call) while this process waits,
  and times it with the same clock;
* ``faiss direct``: the saved index's ``search(q / |q|, k, params=...)``: numpy's norm, faiss's
  Python wrapper (its checks, the D/I arrays, SWIG), the graph search;
* ``faiss search_c``: the same query normalisation, then the SWIG call alone into preallocated
  D/I arrays (no wrapper): the floor of any Python caller;
* ``hnswlib``: ``knn_query`` on its own graph (same M / efC, one thread).

``--omp`` also times faiss's search of one query with OpenMP limited to one thread against the
default team, interleaved (faiss 1.15 opens no parallel region for a single query: equal).
``EMBEDB_SRC=<a checkout's src>`` runs this whole script on another version instead.
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
sys.path.insert(0, os.environ.get("EMBEDB_SRC") or str(ROOT / "src"))   # another checkout's src
sys.path.insert(1, str(ROOT / "bench"))
from bench_speed import LockStepWorker  # noqa: E402

# the other checkout's client, in its own process: "pass" times every query once, "call <i>"
# one query, "hits" prints every query's (ids, distances), "quit" ends it
_WORKER = r"""
import json, sys, time
sys.path[:0] = [{src!r}, {bench!r}]
import embedb
from bench_speed import clustered
clock = time.perf_counter_ns if {clock!r} == "wall" else time.thread_time_ns
queries = list(clustered({nq}, {dim}, seed=1))
client = embedb.MilvusClient({path!r})
sp = {{"metric_type": "COSINE", "params": {{"ef": {ef}}}}}
search = lambda q: client.search("c", [q], limit={k}, search_params=sp)
for q in queries[:20]:
    search(q)
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "pass":
        out = []
        for q in queries:
            t0 = clock()
            search(q)
            out.append(clock() - t0)
    elif cmd[0] == "call":
        q = queries[int(cmd[1])]
        t0 = clock()
        search(q)
        out = clock() - t0
    elif cmd[0] == "hits":
        out = [[h.id for h in search(q)[0]] for q in queries], \
              [[h.distance for h in search(q)[0]] for q in queries]
    else:
        break
    print(json.dumps(out), flush=True)
client.close()
"""


# the database of a run with --before-src, built by that checkout (EMBEDB_SRC)
_BUILD = """
import sys
sys.path.insert(0, {bench!r})
from bench_speed import clustered, hnsw_database
hnsw_database(__import__("pathlib").Path({path!r}), clustered({n}, {dim}))
""".replace("{bench!r}", repr(str(ROOT / "bench")))


class Before(LockStepWorker):
    """``--before-src``'s embedb client in a worker process, run in lock step (see _WORKER)."""

    def __init__(self, src: str, path: Path, nq: int, dim: int, ef: int, k: int, clock: str):
        super().__init__(_WORKER.format(src=src, bench=str(ROOT / "bench"), clock=clock, nq=nq,
                                        dim=dim, path=str(path), ef=ef, k=k), src)


def interleaved_p50(fns: dict, queries: list, reps: int, mode: str = "pass",
                    clock=time.perf_counter_ns, per_pass: dict | None = None) -> dict:
    """p50 (us) of each fn(query) over ``reps`` passes over all queries; ``per_pass`` (a dict,
    pass mode) receives each fn's p50 of every pass, so that ratios can be taken between
    passes run next to each other (the load of a shared machine drifts over a run).

    ``pass``: each fn runs all queries in a row, the fns alternating pass by pass (rotating
    order), as bench_speed.py does. ``step``: every step runs every fn once, in a rotating
    order, each on a different query (fn j on query i + j * stride, so that no fn finds the
    graph nodes of its query warm from the fn before it); the harsher regime for Python code,
    whose own state the other fns evict from the CPU caches between two calls. ``clock``:
    wall time by default; ``time.thread_time_ns`` counts only this thread's CPU time (steadier
    on a machine shared with other work: time spent descheduled is left out). A :class:`Before`
    runs its pass or call in its own process, timed there with the same clock."""
    names = list(fns)
    times: dict = {name: [] for name in names}
    nq, stride = len(queries), max(1, len(queries) // len(names))
    if mode == "pass":
        for rep in range(reps):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                fn, out = fns[name], times[name]
                if isinstance(fn, Before):
                    out.extend(fn.ask("pass"))
                else:
                    for q in queries:
                        t0 = clock()
                        fn(q)
                        out.append(clock() - t0)
                if per_pass is not None:
                    per_pass.setdefault(name, []).append(float(np.percentile(out[-nq:], 50)) / 1e3)
        return {name: float(np.percentile(t, 50)) / 1e3 for name, t in times.items()}
    for rep in range(reps):
        for i in range(nq):
            shift = (i + rep) % len(names)
            for name in names[shift:] + names[:shift]:
                fn = fns[name]
                j = (i + names.index(name) * stride) % nq
                if isinstance(fn, Before):
                    times[name].append(fn.ask(f"call {j}"))
                    continue
                q = queries[j]
                t0 = clock()
                fn(q)
                times[name].append(clock() - t0)
    return {name: float(np.percentile(t, 50)) / 1e3 for name, t in times.items()}


def omp_check(index, queries: list, k: int, params, reps: int, clock) -> dict:
    """p50 (us) of faiss's search of one query (search_c, prepared arrays) with OpenMP limited
    to one thread and with the default team, alternating pass by pass."""
    import faiss

    dist = np.empty((1, k), np.float32)
    rows = np.empty((1, k), np.int64)
    ptrs = [faiss.swig_ptr(np.ascontiguousarray(q[None, :] / np.linalg.norm(q))) for q in queries]
    default = faiss.omp_get_max_threads()
    times: dict = {1: [], default: []}
    try:
        for rep in range(2 * reps):
            threads = (1, default)[rep % 2]
            faiss.omp_set_num_threads(threads)
            for p in ptrs:
                t0 = clock()
                index.search_c(1, p, k, faiss.swig_ptr(dist), faiss.swig_ptr(rows), params)
                times[threads].append(clock() - t0)
    finally:
        faiss.omp_set_num_threads(default)
    return {t: float(np.percentile(v, 50)) / 1e3 for t, v in times.items()}


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
    ap.add_argument("--before-src", default=None,
                    help="also time this checkout's src (e.g. a git worktree of the commit before)")
    ap.add_argument("--omp", action="store_true",
                    help="also time faiss with one OpenMP thread against the default team")
    ap.add_argument("--json", default=None, help="also write the key numbers to this file")
    args = ap.parse_args()

    import faiss
    import hnswlib

    import embedb
    from bench_speed import clustered, hnsw_database, write_json
    from embedb.engine import search as engine_search
    from embedb.engine.index.manager import indexes_of

    dim, k = 384, args.limit
    x = clustered(args.n, dim)
    queries = list(clustered(args.queries, dim, seed=1))
    tmp = Path(tempfile.mkdtemp(prefix="speed-single-"))
    before = None
    try:
        path = tmp / "single.db"
        clock_name = args.clock
        if args.before_src:
            # written by the other checkout (a newer embedb opens an older database; the other
            # way round may be refused), then copied for it (one writer per database): both
            # search the same graph
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", _BUILD.format(n=args.n, dim=dim, path=str(path))],
                           env=dict(os.environ, EMBEDB_SRC=args.before_src), check=True)
            built = time.perf_counter() - t0
            shutil.copytree(path, tmp / "before.db")
            before = Before(args.before_src, tmp / "before.db", args.queries, dim, args.ef, k,
                            clock_name)
        else:
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

        def faiss_search_c(q):   # the same, minus faiss's Python wrapper
            q = q[None, :] / np.linalg.norm(q)
            dist, rows = np.empty((1, k), np.float32), np.empty((1, k), np.int64)
            index.search_c(1, faiss.swig_ptr(q), k, faiss.swig_ptr(dist), faiss.swig_ptr(rows),
                           params)
            return dist, rows

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
            "faiss search_c": faiss_search_c,
            "hnswlib": lambda q: hnsw.knn_query(q, k=k),
        }
        if before is not None:
            fns["embedb before"] = before
        for q in queries[:20]:   # warm every path (first-use imports, checksum of the columns)
            for fn in fns.values():
                if not isinstance(fn, Before):
                    fn(q)
        clock = time.perf_counter_ns if args.clock == "wall" else time.thread_time_ns
        per_pass: dict = {}
        p50 = interleaved_p50(fns, queries, args.reps, args.interleave, clock, per_pass)
        omp = omp_check(index, queries, k, params, args.reps, clock) if args.omp else None

        now = [client.search("c", [q], limit=k, search_params=sp)[0] for q in queries]
        same_rows = all([h["id"] for h in hits] == faiss_direct(q)[1][0].tolist()
                        for q, hits in zip(queries, now))
        batch = client.search("c", queries, limit=k, search_params=sp)
        same_batch = all(hits == batch[i] for i, hits in enumerate(now))
        general = [engine_search.search(coll, [q], limit=k, search_params=sp)[0] for q in queries]
        same_general = all(a == b for a, b in zip(now, general))
        same_before = None
        if before is not None:
            ids, dists = before.ask("hits")
            same_before = ids == [[h.id for h in hits] for hits in now] and \
                dists == [[h.distance for h in hits] for hits in now]
        client.close()
    finally:
        if before is not None:
            before.close()
        shutil.rmtree(tmp, ignore_errors=True)

    base = p50["faiss direct"]
    print(f"single query: {args.n:,} x {dim} clustered, COSINE, HNSW M=16 efC=200 (embedb built "
          f"in {built:.1f} s, hnswlib {hnsw_built:.1f} s), ef={args.ef}, limit {k}, "
          f"{args.queries} queries x {args.reps} passes, interleaved by {args.interleave}, "
          f"{args.clock} clock")
    # per pass: each contender's p50 over the queries of one pass divided by faiss direct's of
    # the same round (passes of one round run back to back); the median over the rounds
    ratios = {name: float(np.median(np.array(v) / np.array(per_pass["faiss direct"])))
              for name, v in per_pass.items()} if per_pass else {}
    print(f"{'':22s} {'p50 us':>8s} {'vs faiss':>9s}" + (f" {'per pass':>9s}" if ratios else ""))
    for name, v in p50.items():
        print(f"{name:22s} {v:8.1f} {v / base:8.2f}x" +
              (f" {ratios[name]:8.2f}x" if ratios else ""))
    print(f"fixed overhead per call (embedb search - faiss direct): {p50['embedb search'] - base:.1f} us "
          f"(general path: {p50['embedb general path'] - base:.1f} us"
          + (f"; before: {p50['embedb before'] - base:.1f} us" if before is not None else "")
          + f"); over the bare faiss call (search_c): {p50['embedb search'] - p50['faiss search_c']:.1f} us")
    print(f"embedb rows == faiss rows on every query: {same_rows}; single query == batch: "
          f"{same_batch}; fast path == general path: {same_general}"
          + (f"; hits == before's (ids and distances): {same_before}" if before is not None else ""))
    write_json(args.json, {"p50_us": p50, "per_pass_ratio": ratios, "same_rows": same_rows,
                           "same_batch": same_batch, "same_general": same_general})
    if omp is not None:
        print("faiss search_c of one query, OpenMP threads: " +
              ", ".join(f"{t}: {v:.1f} us" for t, v in omp.items()))


if __name__ == "__main__":
    main()
