"""Writer of tests/test_qa2_kill_bulk.py, killed with SIGKILL at random moments.

usage: qa2_kill_bulk_writer.py PATH DURABILITY SEED NEXT_ID SMALL_WAL

Large calls (1,000 x 384-d inserts, ~1.5 MB of log each) so the background checkpointer's
WAL copy (PASSIVE then RESTART), the WAL-file fsync and the column prefaulter all run while
the kill lands. SMALL_WAL=1 also lowers the writer's own SQLite autocheckpoint to 2 MiB, so
that copy runs inside a writer's commit too. Each call is announced before it is made and
acknowledged after it returned (``kill_harness.write_forever``).
"""

import random
import sys

import numpy as np
from kill_harness import background_checkpoints, vector, write_forever

import embedb.engine.storage as stmod
from embedb import DataType, MilvusClient

background_checkpoints(3_000_000)   # a background checkpoint every other call, never inline
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


def rows(ids: list[int], ver: int) -> list[dict]:
    v = np.stack([vector(i, ver, DIM) for i in ids])   # made before the call is announced
    return [{"id": i, "v": v[k], "ver": ver} for k, i in enumerate(ids)]


def next_call(step: int):
    global next_id, live
    op = rng.choices(["insert", "upsert", "delete", "flush"], [10, 2, 2, 0.3])[0]
    if op in ("upsert", "delete") and len(live) < 200:
        op = "insert"
    if op == "insert":
        ids = list(range(next_id, next_id + 1000))
        next_id += 1000
        live.extend(ids)
        batch = rows(ids, step)
        return {"op": "insert", "ids": ids, "ver": step}, lambda: client.insert("c", batch)
    if op == "upsert":
        ids = rng.sample(live, 100)
        batch = rows(ids, step)
        return {"op": "upsert", "ids": ids, "ver": step}, lambda: client.upsert("c", batch)
    if op == "delete":
        ids = rng.sample(live, 150)
        dead = set(ids)
        live = [i for i in live if i not in dead]
        return {"op": "delete", "ids": ids}, lambda: client.delete("c", ids=ids)
    return {"op": "flush"}, lambda: client.flush("c")


write_forever(next_call)
