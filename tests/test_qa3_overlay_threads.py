"""A reopened database grown over its snapshot's private map (columns.overlay_array) while
threads read: the writer thread's first insert after reopening 10,000 x 32 rows overlays the
vector column (1.25 MiB) instead of copying it, then inserts, upserts, deletes, flushes and compacts
with automatic checkpoints while two reader threads get rows by id and search with output
fields. Every row read is the one its call wrote (vector and text), every hit's distance is
the true distance to its stored vector, hits best-first; after reopening, every row as
written. In a child process with a timeout."""

from __future__ import annotations

import textwrap

from kill_harness import run_or_fail

SCRIPT = textwrap.dedent(r'''
import sys, threading, time, random, warnings
import numpy as np
import embedb.engine.database as dbmod
from embedb import MilvusClient, DataType
from embedb.engine import columns
dbmod.CHECKPOINT_LOG_BYTES = 400_000
path, seconds = sys.argv[1], float(sys.argv[2])
DIM, N = 32, 10_000   # a 1.25 MiB vector column: past columns.OVERLAY_MIN
def vec(i, ver): return np.random.default_rng(i * 1000 + ver).random(DIM, dtype=np.float32)
c = MilvusClient(path)
s = c.create_schema(enable_dynamic_field=True)
s.add_field("id", DataType.INT64, is_primary=True); s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
s.add_field("ver", DataType.INT64); s.add_field("t", DataType.VARCHAR, max_length=32)
ix = c.prepare_index_params(); ix.add_index("v", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
c.create_collection("c", schema=s, index_params=ix)
base = np.random.default_rng(0).random((N, DIM), dtype=np.float32)
for lo in range(0, N, 10000):
    c.insert("c", [{"id": i, "v": base[i], "ver": 0, "t": f"{i}:0", "d": i % 3} for i in range(lo, lo + 10000)])
c.close()
c = MilvusClient(path); c.load_collection("c")
before = dict(columns.stats)
stop = time.monotonic() + seconds
errors, counts = [], [0, 0]
versions = {}   # id -> ver for rows rewritten (else 0 with base)
lock = threading.Lock()
def want_vec(i, ver): return base[i] if ver == 0 else vec(i, ver)
def writer():
    rng = random.Random(1); nid = N; step = 0
    try:
        while time.monotonic() < stop:
            step += 1
            op = rng.choices(["insert", "upsert", "delete", "flush", "compact"], [6, 3, 2, 0.3, 0.2])[0]
            if op == "insert":
                ids = list(range(nid, nid + 500)); nid += 500
                c.insert("c", [{"id": i, "v": vec(i, step), "ver": step, "t": f"{i}:{step}"} for i in ids])
            elif op == "upsert":
                ids = rng.sample(range(nid), 200)
                c.upsert("c", [{"id": i, "v": vec(i, step), "ver": step, "t": f"{i}:{step}"} for i in ids])
            elif op == "delete":
                c.delete("c", ids=rng.sample(range(nid), 100))
            else:
                getattr(c, op)("c")
    except Exception as e:
        errors.append(("writer", repr(e)))
def reader(k):
    rng = np.random.default_rng(k)
    try:
        while time.monotonic() < stop:
            ids = rng.integers(0, N, 50).tolist()
            for r in c.get("c", ids=ids, output_fields=["v", "ver", "t"]):
                if not np.array_equal(np.float32(r["v"]), want_vec(r["id"], r["ver"])) or r["t"] != f"{r['id']}:{r['ver']}":
                    errors.append(("row", r["id"], r["ver"], r["t"])); return
            q = base[int(rng.integers(0, N))]
            hits = c.search("c", [q], limit=10, output_fields=["v", "ver"])[0]
            ds = [h["distance"] for h in hits]
            if ds != sorted(ds): errors.append(("order", ds)); return
            for h in hits:
                d = float(((np.float32(h["entity"]["v"]) - q) ** 2).sum())
                if abs(d - h["distance"]) > 1e-3 * max(1, d) or not np.array_equal(np.float32(h["entity"]["v"]), want_vec(h["id"], h["entity"]["ver"])):
                    errors.append(("hit", h["id"], d, h["distance"])); return
            counts[k] += 1
    except Exception as e:
        errors.append(("reader", repr(e)))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ts = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(k,)) for k in range(2)]
    [t.start() for t in ts]; [t.join() for t in ts]
print("overlaid", columns.stats["overlaid_bytes"] - before["overlaid_bytes"], "copied", columns.stats["copied_bytes"] - before["copied_bytes"])
print("errors", errors[:5], "reads", counts)
c.close()
c = MilvusClient(path); c.load_collection("c")
rows = c.query("c", filter="", output_fields=["v", "ver", "t"])
bad = [r["id"] for r in rows if not np.array_equal(np.float32(r["v"]), want_vec(r["id"], r["ver"])) or r["t"] != f"{r['id']}:{r['ver']}"]
print("reopened rows", len(rows), "bad", bad[:5])
''')


def test_overlaid_columns_under_threads_read_as_written(tmp_path):
    script = tmp_path / "overlay_threads.py"
    script.write_text(SCRIPT)
    code, out = run_or_fail([str(script), str(tmp_path / "ot.db"), "6"], 240, "the overlay stress")
    assert code == 0, out[-3000:]
    assert "errors [] " in out and "bad []" in out, out[-3000:]
    overlaid = int(out.split("overlaid ")[1].split()[0])
    assert overlaid >= 10_000 * 32 * 4, out[-3000:]   # the vector column was mapped, not copied
