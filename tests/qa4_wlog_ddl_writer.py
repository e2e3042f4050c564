"""Writer of test_qa4_wlog_ddl_replay.py: runs the steps of a JSON file (``steps``) against
two collections interleaved with drops, creates, renames and partition drops, printing each
step's index once it returned; write log segments of SEGMENT_BYTES, background checkpoints
every CHECKPOINT_BYTES of log (0: none). At the end, ``os._exit`` (no close: the next open
replays the log).

usage: qa4_wlog_ddl_writer.py PATH STEPS_JSON DURABILITY SEGMENT_BYTES CHECKPOINT_BYTES
"""

import json
import os
import sys

from kill_harness import background_checkpoints, say

import embedb.engine.writelog as writelog
from embedb import MilvusClient


def run_step(client, step):
    op, *args = step
    if op == "create":
        from embedb import DataType
        s = client.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
        s.add_field("ver", DataType.INT64)
        ix = client.prepare_index_params()
        ix.add_index("v", index_type="FLAT", metric_type="L2")
        client.create_collection(args[0], schema=s, index_params=ix)
    elif op == "drop":
        client.drop_collection(args[0])
    elif op == "rename":
        client.rename_collection(args[0], args[1])
    elif op == "create_partition":
        client.create_partition(args[0], args[1])
    elif op == "drop_partition":
        client.release_partitions(args[0], [args[1]])
        client.drop_partition(args[0], args[1])
    elif op in ("insert", "upsert"):
        name, part, ids, ver = args
        rows = [{"id": i, "v": [float(i), float(ver), 0.0, 1.0], "ver": ver} for i in ids]
        getattr(client, op)(name, rows, partition_name=part or "")
    elif op == "delete":
        client.delete(args[0], ids=args[1])
    elif op == "flush":
        client.flush(args[0])


if __name__ == "__main__":
    path, steps, durability, segment, ckpt = sys.argv[1:6]
    writelog.SEGMENT_BYTES = int(segment)
    if int(ckpt):
        background_checkpoints(int(ckpt))
    client = MilvusClient(path, durability=durability)
    for k, step in enumerate(json.load(open(steps))):
        run_step(client, step)
        say(str(k))
    os._exit(0)
