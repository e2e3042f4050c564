"""Driver of tests/test_qa_storage_lifetime.py (run as a script, one scenario per process, so a
segfault is an exit code and not the end of pytest): an HNSW graph searching the column's vectors
in place (storage_view.py) while the column grows and moves (small reservations: it is remapped
often), flush/compact rewrite it, the collection is released, dropped, closed, reopened, and the
garbage collector runs. Every hit's distance is checked against the vector of its id (a read of
freed or foreign memory gives another number), and the final answers against brute force.

usage: qa_lifetime_driver.py ROOT MODE [SECONDS] [EXIT_DELAY]
"""
import gc, os, sys, threading, time, random, traceback
import numpy as np
from embedb import MilvusClient, DataType
from embedb.engine import columns
columns.RESERVE_BYTES = 1 << 15      # remap often: reservations from 32 KiB ...
columns.RESERVE_FACTOR = 2           # ... only 2x what is needed: the buffer moves often
columns.RESERVE_MIN = 0              # ... with no minimum size (columns.RESERVE_MIN)
root, mode = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 6
DIM, MAXID = 16, 200_000
V = np.random.default_rng(1).standard_normal((MAXID, DIM)).astype(np.float32)
Q = np.random.default_rng(2).standard_normal((64, DIM)).astype(np.float32)
errors = []

def make(client, name, metric="L2", index="HNSW", n=2000):
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    ix = client.prepare_index_params()
    ix.add_index("v", index_type=index, metric_type=metric, params={"M": 8, "efConstruction": 32} if index == "HNSW" else {})
    client.create_collection(name, schema=s, index_params=ix)
    if n:
        client.insert(name, [{"id": i, "v": V[i]} for i in range(n)])

def check_hits(res, q, metric):
    for qi, hits in enumerate(res):
        for h in hits:
            i = h["id"]
            if metric == "L2":
                want = float(((q[qi] - V[i]) ** 2).sum())
            elif metric == "IP":
                want = float(q[qi] @ V[i])
            else:
                want = float(q[qi] @ V[i] / np.linalg.norm(q[qi]) / np.linalg.norm(V[i]))
            if abs(want - h["distance"]) > 1e-3 * max(1.0, abs(want)):
                raise AssertionError(f"id {i}: distance {h['distance']} != {want}")

def searcher(stop, client, name, metric, expected=()):
    rng = np.random.default_rng(threading.get_ident() % 1000)
    while not stop.is_set():
        nq = int(rng.choice([1, 1, 3, 30]))
        q = Q[rng.integers(0, len(Q), nq)]
        try:
            res = client.search(name, q if nq > 1 else q[:1], limit=5,
                                search_params={"metric_type": metric, "params": {"ef": 32}})
        except Exception as exc:
            if expected and isinstance(exc, expected):
                continue
            errors.append(traceback.format_exc()); stop.set(); return
        try:
            check_hits(res, q, metric)
        except AssertionError:
            errors.append(traceback.format_exc()); stop.set(); return

def gc_storm(stop):
    while not stop.is_set():
        gc.collect(); time.sleep(0.001)

def final_check(client, name, metric, live_ids):
    live = np.array(sorted(live_ids))
    res = client.search(name, Q, limit=10, search_params={"metric_type": metric, "params": {"ef": 256}})
    check_hits(res, Q, metric)
    if metric == "L2":
        d = ((Q[:, None, :] - V[live][None]) ** 2).sum(-1)
    elif metric == "IP":
        d = -(Q @ V[live].T)
    else:
        d = -(Q @ (V[live] / np.linalg.norm(V[live], axis=1, keepdims=True)).T)
    recall = []
    for qi, hits in enumerate(res):
        exact = set(live[np.argsort(d[qi], kind="stable")[:10]].tolist())
        got = {h["id"] for h in hits}
        assert got <= set(live_ids), f"a dead or unknown id: {got - set(live_ids)}"
        recall.append(len(got & exact) / 10)
    assert np.mean(recall) >= 0.9, np.mean(recall)

def run_threads(targets, secs):
    stop = threading.Event()
    ts = [threading.Thread(target=t, args=(stop,) + a, daemon=True) for t, a in targets]
    for t in ts: t.start()
    end = time.monotonic() + secs
    while time.monotonic() < end and not stop.is_set():
        time.sleep(0.05)
    stop.set()
    for t in ts: t.join(60)
    assert not any(t.is_alive() for t in ts), "a thread hung"

metric = "IP" if "ip" in mode else "COSINE" if "cos" in mode else "L2"
from embedb.errors import MilvusException

if mode == "reader-child":      # a read-only process: refresh and search while the writer moves files
    import embedb
    r = MilvusClient(root + "/db", read_only=True)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        try:
            r._db.refresh()
        except Exception:
            print(traceback.format_exc()); sys.exit(1)
        for _ in range(5):
            q = Q[np.random.default_rng(n).integers(0, len(Q), 3)]
            try:
                res = r.search("c", q, limit=5, search_params={"metric_type": metric, "params": {"ef": 32}})
            except MilvusException:
                continue
            check_hits(res, q, metric)
            n += 1
    print("READER OK", n, flush=True)
    sys.exit(0)
c = MilvusClient(root + "/db")
make(c, "c", metric)
c.search("c", Q[:1], limit=5)
live = set(range(2000))
nxt = [2000]
from embedb.errors import MilvusException

def writer(stop, ops):
    rng = random.Random(5)
    while not stop.is_set() and nxt[0] < MAXID - 500:
        op = rng.choice(ops)
        try:
            if op == "insert":
                m = rng.choice([1, 50, 400])
                ids = range(nxt[0], nxt[0] + m); nxt[0] += m
                c.insert("c", [{"id": i, "v": V[i]} for i in ids]); live.update(ids)
            elif op == "upsert":
                ids = rng.sample(sorted(live), min(30, len(live)))
                c.upsert("c", [{"id": i, "v": V[i]} for i in ids])
            elif op == "delete":
                ids = rng.sample(sorted(live), min(40, len(live) - 100))
                c.delete("c", ids=ids); live.difference_update(ids)
            elif op == "flush":
                c.flush("c")
            elif op == "compact":
                c.compact("c")
        except Exception:
            errors.append(traceback.format_exc()); stop.set(); return

if mode.startswith("grow"):     # search while inserts move the column, flush/compact rewrite it
    run_threads([(searcher, (c, "c", metric)), (searcher, (c, "c", metric)),
                 (writer, (["insert"] * 6 + ["upsert", "delete", "flush", "compact"],))]
                + ([(gc_storm, ())] if "gc" in mode else []), seconds)
    final_check(c, "c", metric, live)
    c.close()
    c = MilvusClient(root + "/db"); c.load_collection("c")
    final_check(c, "c", metric, live)
elif mode == "lifecycle":       # release/load/drop/recreate/close while others search
    expected = (MilvusException,)
    cycles = [0]
    def churn(stop):
        global c
        rng = random.Random(9)
        while not stop.is_set():
            op = rng.choice(["release", "load", "drop", "insert", "flush", "compact"])
            try:
                if op == "release": c.release_collection("c")
                elif op == "load": c.load_collection("c")
                elif op == "drop":
                    c.drop_collection("c"); make(c, "c", metric, n=500); c.load_collection("c")
                elif op == "insert":
                    c.insert("c", [{"id": i, "v": V[i]} for i in range(500, 900)])
                else: getattr(c, op)("c")
            except MilvusException:
                pass
            except Exception:
                errors.append(traceback.format_exc()); stop.set(); return
            cycles[0] += 1
    run_threads([(searcher, (c, "c", metric, expected)), (searcher, (c, "c", metric, expected)),
                 (churn, ()), (gc_storm, ())], seconds)
    print("cycles", cycles[0])
elif mode == "close":           # close the client while threads search; reopen; repeat
    from embedb.errors import MilvusException as ME
    for rnd in range(int(seconds)):
        stop = threading.Event()
        ts = [threading.Thread(target=searcher, args=(stop, c, "c", metric, (Exception,)), daemon=True) for _ in range(2)]
        for t in ts: t.start()
        time.sleep(0.2)
        c.close()
        time.sleep(0.1)
        stop.set()
        for t in ts: t.join(30)
        gc.collect()
        c = MilvusClient(root + "/db"); c.load_collection("c")
        c.insert("c", [{"id": i, "v": V[i]} for i in range(nxt[0], nxt[0] + 300)]); live.update(range(nxt[0], nxt[0] + 300)); nxt[0] += 300
        final_check(c, "c", metric, live)
elif mode == "exit":            # interpreter exit while daemon threads search and insert
    for _ in range(3):
        threading.Thread(target=searcher, args=(threading.Event(), c, "c", metric, (Exception,)), daemon=True).start()
    threading.Thread(target=writer, args=(threading.Event(), ["insert", "insert", "flush", "delete"]), daemon=True).start()
    time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 0.5)
    print("OK", flush=True)
    sys.exit(0)
elif mode == "reader":          # a read-only process refreshes and searches while this one writes
    import subprocess
    c.flush("c")
    child = subprocess.Popen([sys.executable, __file__, root, "reader-child", str(seconds)])
    run_threads([(writer, (["insert"] * 4 + ["upsert", "delete", "flush", "flush", "compact"],))], seconds)
    assert child.wait(120) == 0, "the reader failed"
    final_check(c, "c", metric, live)
elif mode == "reopen":          # many open/close cycles with searches and gc
    c.close()
    for i in range(int(seconds * 5)):
        c = MilvusClient(root + "/db")
        c.load_collection("c")
        if i % 3 == 0:
            c.insert("c", [{"id": j, "v": V[j]} for j in range(nxt[0], nxt[0] + 100)]); live.update(range(nxt[0], nxt[0] + 100)); nxt[0] += 100
        if i % 4 == 1:
            d = sorted(live)[i: i + 20]; c.delete("c", ids=d); live.difference_update(d)
        if i % 7 == 2:
            c.compact("c")
        check_hits(c.search("c", Q[:3], limit=5), Q[:3], metric)
        if i % 5 == 0:
            del c; gc.collect()
        else:
            c.close()
    c = MilvusClient(root + "/db"); c.load_collection("c")
    final_check(c, "c", metric, live)
if errors:
    print("\n".join(errors[:3])); sys.exit(1)
print("OK", flush=True)

