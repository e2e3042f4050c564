"""The filtered plan (engine/index/filtered.py: clumping measured on the HNSW graph's links
under the index entry lock, ef by selectivity, exact fallback) under concurrency: several
threads search with many different filters (clumped ones that follow the vectors' clusters,
independent ones, ranges, tiny and huge selectivities) while another thread inserts, deletes,
flushes and compacts. Every answer must be valid: distinct ids, every one passing the filter,
none deleted before the search began, best-first, each distance that of the id's vector, and k
hits whenever far more than k live rows pass. Afterwards (quiescent) answers equal brute force
where the plan is exact and reach high recall where it is a graph search. Runs in a child
process with a timeout (a crash or hang fails the test)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(r'''
    import random, sys, threading, time
    import numpy as np
    from embedb.engine.index import dense
    PLANS = {"clumping": 0, "graph": 0}
    _clump, _plan = dense.HNSWIndex._clumping, dense.HNSWIndex.filtered_plan
    def _counted_clump(self, info):   # counts only: the measure itself runs unchanged
        PLANS["clumping"] += 1
        return _clump(self, info)
    def _counted_plan(self, *a):
        out = _plan(self, *a)
        PLANS["graph"] += out is not None   # a graph (not exact) plan
        return out
    dense.HNSWIndex._clumping, dense.HNSWIndex.filtered_plan = _counted_clump, _counted_plan
    from embedb import DataType, MilvusClient

    METRIC, SECONDS = sys.argv[2], float(sys.argv[3])
    DIM, K = 128, 10
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, DIM)).astype(np.float32) * 4

    def make(ids):
        g = np.array([i % 20 for i in ids])
        v = centers[g] + np.random.default_rng(ids[0]).normal(size=(len(ids), DIM)).astype(np.float32)
        return v.astype(np.float32), g

    client = MilvusClient(sys.argv[1])
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("grp", DataType.INT64)     # follows the clusters: clumped masks
    s.add_field("r", DataType.INT64)       # independent of the vectors
    ix = client.prepare_index_params()
    ix.add_index("v", index_type="HNSW", metric_type=METRIC, params={"M": 12, "efConstruction": 64})
    client.create_collection("c", schema=s, index_params=ix)

    CAP = 200_000
    vecs, grps, rs = {}, np.full(CAP, -1, np.int64), np.full(CAP, -1, np.int64)
    alive = np.zeros(CAP, bool)
    lock = threading.Lock()
    def insert(ids):
        v, g = make(ids)
        r = [(i * 7919) % 1000 for i in ids]
        with lock:   # known before any search can return them
            for k, i in enumerate(ids):
                vecs[i], grps[i], rs[i] = v[k], int(g[k]), r[k]
        client.insert("c", [{"id": i, "v": v[k], "grp": int(g[k]), "r": r[k]} for k, i in enumerate(ids)])

    insert(list(range(0, 10000)))
    client.flush("c")
    next_id = [10000]
    deleted_done = {}   # id -> time its delete returned
    live = set(range(10000)); alive[:10000] = True
    client.search("c", [centers[0]], limit=K)   # the graph is built before the threads start

    FILTERS = ([(f"grp == {g}", lambda i, g=g: grps[i] == g) for g in range(0, 20, 3)]
               + [(f"grp in [{g}, {g + 1}]", lambda i, g=g: (grps[i] == g) | (grps[i] == g + 1)) for g in (2, 11)]
               + [(f"r < {t}", lambda i, t=t: rs[i] < t) for t in (5, 30, 100, 300, 700, 990)]
               + [(f"r >= {a} and r < {a + 150}", lambda i, a=a: (a <= rs[i]) & (rs[i] < a + 150)) for a in (0, 400)]
               + [(f"grp == {g} or r < 20", lambda i, g=g: (grps[i] == g) | (rs[i] < 20)) for g in (4, 9)]
               + [("grp != 3", lambda i: grps[i] != 3), ("r % 2 == 0", lambda i: rs[i] % 2 == 0),
                  ("grp < 10", lambda i: grps[i] < 10), ("grp >= 5 and r < 600", lambda i: (grps[i] >= 5) & (rs[i] < 600))])

    def dist(q, i):
        v = vecs[i]
        if METRIC == "L2":
            return float(((v - q) ** 2).sum())
        if METRIC == "IP":
            return float(v @ q)
        return float(v @ q / (np.linalg.norm(v) * np.linalg.norm(q)))

    errors, stop, counts = [], threading.Event(), [0]

    def check(h, q, pred, expr, started, n_pass):
        ids = [x["id"] for x in h]
        assert len(set(ids)) == len(ids), ("duplicate ids", expr, ids)
        ds = [x["distance"] for x in h]
        if METRIC == "L2":
            assert ds == sorted(ds), ("not best-first", expr, ds)
        else:
            assert ds == sorted(ds, reverse=True), ("not best-first", expr, ds)
        with lock:
            for x in h:
                i = x["id"]
                assert i in vecs, ("unknown id", i)
                assert pred(i), ("fails the filter", expr, i)
                t = deleted_done.get(i)
                assert t is None or t > started, ("deleted before the search began", expr, i)
                assert abs(dist(q, i) - x["distance"]) <= 1e-3 * max(1.0, abs(x["distance"])), \
                    ("wrong distance", expr, i, dist(q, i), x["distance"])
        if n_pass > K + 400:   # at most ~400 of them deleted meanwhile
            assert len(h) == K, ("short answer", expr, len(h), n_pass)

    def searcher(seed):
        r = random.Random(seed)
        try:
            while not stop.is_set():
                expr, pred = r.choice(FILTERS)
                q = (centers[r.randrange(20)] + np.random.default_rng(r.randrange(10**6)).normal(size=DIM)).astype(np.float32)
                with lock:
                    n_pass = int(np.count_nonzero(pred(np.arange(CAP)) & alive))
                started = time.monotonic()
                ef = r.choice([None, 16, 64, 200])
                params = {"params": {"ef": ef}} if ef else {}
                qs = [q] if r.random() < 0.7 else [q, -q]
                hs = client.search("c", qs, limit=K, filter=expr, search_params=params)
                check(hs[0], q, pred, expr, started, n_pass)
                counts[0] += 1
        except BaseException as exc:
            import traceback
            errors.append(traceback.format_exc())
            stop.set()

    def writer():
        r = random.Random(99)
        try:
            while not stop.is_set():
                op = r.choices(["insert", "delete", "flush", "compact"], [6, 4, 0.3, 0.08])[0]
                if op == "insert" and next_id[0] + 300 > CAP:   # the ids' arrays are full
                    op = "delete"
                if op == "delete" and len(live) < 120:
                    op = "flush"
                if op == "insert":
                    n = r.choice([1, 50, 300])
                    ids = list(range(next_id[0], next_id[0] + n)); next_id[0] += n
                    insert(ids)
                    with lock:
                        live.update(ids); alive[ids] = True
                elif op == "delete":
                    with lock:
                        ids = r.sample(list(live), 120)
                        live.difference_update(ids); alive[ids] = False   # not counted from now on
                    client.delete("c", ids=ids)
                    now = time.monotonic()
                    with lock:
                        for i in ids:
                            deleted_done[i] = now
                else:
                    getattr(client, op)("c")
                time.sleep(0.01)
        except BaseException:
            import traceback
            errors.append(traceback.format_exc())
            stop.set()

    threads = [threading.Thread(target=searcher, args=(s,)) for s in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a thread hung"
    if errors:
        print(errors[0]); sys.exit(1)
    assert counts[0] > 50, counts

    # quiescent: vs brute force. A long run leaves more deleted rows than live ones in the
    # graph (compacted first), and random Gaussian clusters are hard for an M=12 graph: a query
    # whose UNFILTERED ef-256 recall is below 0.8 (0.4 measured, ef 2048: 1.0) is held to within
    # 0.2 of that, so the bound measures the filtered plan, not the graph
    if SECONDS > 10:
        client.compact("c")
    ids = np.array(sorted(live))
    X = np.stack([vecs[i] for i in ids])
    worst = 1.0
    for n, (expr, pred) in enumerate(FILTERS):
        sel = pred(ids)
        for qn in range(4):
            q = (centers[(n + qn) % 20] + np.random.default_rng(n * 10 + qn).normal(size=DIM)).astype(np.float32)
            h = client.search("c", [q], limit=K, filter=expr, search_params={"params": {"ef": 256}})[0]
            cand, Xs = ids[sel], X[sel]
            if METRIC == "L2":
                d = ((Xs - q) ** 2).sum(1); order = np.lexsort((cand, d))
            elif METRIC == "IP":
                d = Xs @ q; order = np.lexsort((cand, -d))
            else:
                d = Xs @ q / (np.linalg.norm(Xs, axis=1) * np.linalg.norm(q)); order = np.lexsort((cand, -d))
            want = cand[order[:K]].tolist()
            got = [x["id"] for x in h]
            check(h, q, pred, expr, time.monotonic(), len(cand))
            if len(cand) <= 300:
                assert got == want, ("exact plan differs from brute force", expr, got, want)
            rec = len(set(got) & set(want)) / max(1, len(want))
            if rec < 0.8:   # a hard query for the graph itself? the same query unfiltered
                if METRIC == "L2":
                    da = ((X - q) ** 2).sum(1); wa = ids[np.lexsort((ids, da))[:K]]
                else:
                    da = X @ q / (np.linalg.norm(X, axis=1) ** (METRIC == "COSINE")); wa = ids[np.lexsort((ids, -da))[:K]]
                hu = client.search("c", [q], limit=K, search_params={"params": {"ef": 256}})[0]
                base = len(set(x["id"] for x in hu) & set(wa.tolist())) / K
                rec = rec + 0.8 - base + 0.2 if base < 0.8 else rec   # within 0.2 of the graph's own
                print("hard query", expr, "filtered", len(set(got) & set(want)) / K, "unfiltered", base, flush=True)
            worst = min(worst, rec)
    assert worst >= 0.8, ("recall", worst)
    # the plan ran, and chose the graph (never under IP: graph_ef plans IP exactly). Plans are
    # kept per mask, so these count the mask states the writer made in the time: 18-34 graph
    # plans in 6 s on the shared machine, hence not "> 20"
    assert PLANS["clumping"] > 20 and (PLANS["graph"] >= 5) == (METRIC != "IP"), PLANS
    client.close()
    print("OK", counts[0], worst, PLANS)
''')


@pytest.mark.parametrize("metric", ["L2", "COSINE"])
def test_filtered_searches_under_concurrent_writes_are_valid(tmp_path, metric):
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "f.db"), metric, "6"],
                          capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-4000:]


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["L2", "COSINE", "IP"])
def test_filtered_searches_under_concurrent_writes_long(tmp_path, metric):
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "f.db"), metric, "60"],
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-4000:]
