"""Writer of tests/test_qa2_kill_bulk.py, killed with SIGKILL at random moments.

usage: qa2_kill_bulk_writer.py PATH DURABILITY SEED NEXT_ID SMALL_WAL

Large calls (1,000 x 384-d inserts, ~1.5 MB of log each) so the background checkpointer's
WAL copy (PASSIVE then RESTART), the WAL-file fsync and the column prefaulter all run while
the kill lands. SMALL_WAL=1 also lowers the writer's own SQLite autocheckpoint to 2 MiB, so
that copy runs inside a writer's commit too. Prints ``begin <json>`` before each call and
``ack`` after it returned.
"""

import json
import random
import sys

import numpy as np

import embedb.engine.database as dbmod
import embedb.engine.storage as stmod
from embedb import DataType, MilvusClient

dbmod.CHECKPOINT_LOG_BYTES = 3_000_000        # a background checkpoint every other call
dbmod.BACKGROUND_CHECKPOINT_BYTES = 0
dbmod.BACKGROUND_LAG = 1_000_000              # never inline
DIM = 384

path, durability, seed, next_id, small = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
if small:
    stmod.WAL_AUTOCHECKPOINT_BYTES = 2 * 1024 * 1024
client = MilvusClient(path, durability=durability)
if not client.has_collection("c"):
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("ver", DataType.INT64)
    ix = client.prepare_index_params()
    ix.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection("c", schema=s, index_params=ix)
live = sorted(r["id"] for r in client.query("c", filter="", output_fields=["id"]))
rng = random.Random(seed)


def vecs(ids, ver):
    # row i at version ver: a vector the parent can recompute
    out = np.empty((len(ids), DIM), np.float32)
    for k, i in enumerate(ids):
        out[k] = np.random.default_rng(i * 1000 + ver).random(DIM, dtype=np.float32)
    return out


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


step = 0
while True:
    step += 1
    op = rng.choices(["insert", "upsert", "delete", "flush"], [10, 2, 2, 0.3])[0]
    if op in ("upsert", "delete") and len(live) < 200:
        op = "insert"
    if op == "insert":
        ids = list(range(next_id, next_id + 1000))
        next_id += 1000
        v = vecs(ids, step)
        say("begin " + json.dumps({"op": "insert", "ids": ids, "ver": step}))
        client.insert("c", [{"id": i, "v": v[k], "ver": step} for k, i in enumerate(ids)])
        live.extend(ids)
    elif op == "upsert":
        ids = rng.sample(live, 100)
        v = vecs(ids, step)
        say("begin " + json.dumps({"op": "upsert", "ids": ids, "ver": step}))
        client.upsert("c", [{"id": i, "v": v[k], "ver": step} for k, i in enumerate(ids)])
    elif op == "delete":
        ids = rng.sample(live, 150)
        say("begin " + json.dumps({"op": "delete", "ids": ids}))
        client.delete("c", ids=ids)
        dead = set(ids)
        live = [i for i in live if i not in dead]
    else:
        say("begin " + json.dumps({"op": op}))
        client.flush("c")
    say("ack")
