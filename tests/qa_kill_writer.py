"""Writer of tests/test_qa_kill_background.py, killed with SIGKILL at random moments.

usage: qa_kill_writer.py PATH DURABILITY SEED NEXT_ID

Checkpoints run on the background thread every ~60 KB of log (never inline); every few calls a
flush (inline checkpoint + index files) or a compaction. Before each write call it prints
``begin <json>``, after it returns ``ack`` (flushed at once), so the parent knows every
acknowledged call and the one call that may be in flight when the kill lands.
"""

import json
import random
import sys

import numpy as np

import embedb.engine.database as dbmod
from embedb import DataType, MilvusClient

dbmod.CHECKPOINT_LOG_BYTES = 60_000       # background checkpoints all the time ...
dbmod.BACKGROUND_CHECKPOINT_BYTES = 0     # ... never inline
dbmod.BACKGROUND_LAG = 1_000_000
DIM = 8

path, durability, seed, next_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
client = MilvusClient(path, durability=durability)
if not client.has_collection("c"):
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("ver", DataType.INT64)
    s.add_field("t", DataType.VARCHAR, max_length=64)
    ix = client.prepare_index_params()
    ix.add_index("v", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
    client.create_collection("c", schema=s, index_params=ix)
live = sorted(r["id"] for r in client.query("c", filter="", output_fields=["id"]))
rng = random.Random(seed)


def row(i: int, ver: int) -> dict:
    v = np.random.default_rng(i * 1000 + ver).random(DIM, dtype=np.float32)
    return {"id": i, "v": v, "ver": ver, "t": f"{i}:{ver}"}


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


step = 0
while True:
    step += 1
    op = rng.choices(["insert", "upsert", "delete", "flush", "compact"], [8, 3, 2, 0.3, 0.15])[0]
    if op in ("upsert", "delete") and len(live) < 20:
        op = "insert"
    if op == "insert":
        m = rng.choice([1, 20, 150])
        ids = list(range(next_id, next_id + m))
        next_id += m
        say("begin " + json.dumps({"op": "insert", "ids": ids, "ver": step}))
        client.insert("c", [row(i, step) for i in ids])
        live.extend(ids)
    elif op == "upsert":
        ids = rng.sample(live, 10) + [next_id]   # nine old keys and a new one
        next_id += 1
        say("begin " + json.dumps({"op": "upsert", "ids": ids, "ver": step}))
        client.upsert("c", [row(i, step) for i in ids])
        live.append(ids[-1])
    elif op == "delete":
        ids = rng.sample(live, 8)
        say("begin " + json.dumps({"op": "delete", "ids": ids}))
        client.delete("c", ids=ids)
        dead = set(ids)
        live = [i for i in live if i not in dead]
    else:
        say("begin " + json.dumps({"op": op}))
        getattr(client, op)("c")
    say("ack")
