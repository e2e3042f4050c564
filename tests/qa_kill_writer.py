"""Writer of tests/test_qa_kill_background.py, killed with SIGKILL at random moments.

usage: qa_kill_writer.py PATH DURABILITY SEED NEXT_ID [PAUSE]

Checkpoints run on the background thread every ~60 KB of log (never inline); every few calls a
flush (inline checkpoint + index files) or a compaction. Each call is announced before it is
made and acknowledged after it returned (``kill_harness.write_forever``), so the parent knows
every acknowledged call and the one call that may be in flight when the kill lands. PAUSE:
seconds to sleep after each call (0 by default), for a reader beside it to keep up.
"""

import random
import sys
import time

from kill_harness import background_checkpoints, call_writer_collection, vector, write_forever

from embedb import MilvusClient

background_checkpoints(60_000)   # background checkpoints all the time, never inline
DIM = 8

path, durability, seed, next_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
client = MilvusClient(path, durability=durability)
call_writer_collection(client, DIM)
live = sorted(r["id"] for r in client.query("c", filter="", output_fields=["id"]))
rng = random.Random(seed)


def rows(ids: list[int], ver: int) -> list[dict]:
    return [{"id": i, "v": vector(i, ver, DIM), "ver": ver, "t": f"{i}:{ver}"} for i in ids]


def next_call(step: int):
    global next_id, live
    if pause:
        time.sleep(pause)
    op = rng.choices(["insert", "upsert", "delete", "flush", "compact"], [8, 3, 2, 0.3, 0.15])[0]
    if op in ("upsert", "delete") and len(live) < 20:
        op = "insert"
    if op == "insert":
        ids = list(range(next_id, next_id + rng.choice([1, 20, 150])))
        next_id += len(ids)
        live.extend(ids)
        return {"op": "insert", "ids": ids, "ver": step}, lambda: client.insert("c", rows(ids, step))
    if op == "upsert":
        ids = rng.sample(live, 10) + [next_id]   # nine old keys and a new one
        next_id += 1
        live.append(ids[-1])
        return {"op": "upsert", "ids": ids, "ver": step}, lambda: client.upsert("c", rows(ids, step))
    if op == "delete":
        ids = rng.sample(live, 8)
        dead = set(ids)
        live = [i for i in live if i not in dead]
        return {"op": "delete", "ids": ids}, lambda: client.delete("c", ids=ids)
    return {"op": op}, lambda: getattr(client, op)("c")


write_forever(next_call)
