"""Batch writer of the kill -9 loops of test_durability.py, test_durability_process.py and
test_checkpoint_background.py (``kill_harness.batch_kill_loop``), killed with SIGKILL.

usage: kill_batch_writer.py PATH START DURABILITY DIM BACKGROUND

Inserts batch b (rows ``b * BATCH ...``, each with its batch number, a text naming it and a
dynamic field), deletes the batch's first row when ``b % 5 == 4``, then prints ``b``: every
printed batch and its delete are acknowledged. BACKGROUND=1: automatic checkpoints every
~100 KB of log on the background thread; 0: inline every ~200 KB, so kills land inside them.
"""

import sys

import numpy as np
from kill_harness import BATCH, background_checkpoints

import embedb.engine.database as dbmod
from embedb.engine import Database
from embedb.schema import CollectionSchema, DataType

path, start, durability, dim, background = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
if background:
    background_checkpoints(100_000)
else:
    dbmod.CHECKPOINT_LOG_BYTES = 200_000
db = Database.open(path, durability=durability)
if db.has_collection("c"):
    c = db.get_collection("c")
else:
    s = CollectionSchema(enable_dynamic_field=True)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    s.add_field("batch", DataType.INT64)
    s.add_field("txt", DataType.VARCHAR, max_length=64)
    c = db.create_collection("c", s)
rng = np.random.default_rng(start)
b = start
while True:
    rows = [{"id": b * BATCH + i, "vec": rng.random(dim, dtype=np.float32), "batch": b,
             "txt": f"batch {b} row {i}", "extra": i} for i in range(BATCH)]
    c.insert(rows)
    if b % 5 == 4:   # deletes are acknowledged batches too: the first row of the batch
        c.delete(ids=[b * BATCH])
    print(b, flush=True)
    b += 1
