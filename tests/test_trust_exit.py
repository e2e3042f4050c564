"""Exit without close(): a program that leaves its client open must end quietly and completely.

Each case runs a real interpreter in a subprocess that writes and then just ends. Its stderr
must be empty (no warning, no traceback from a checkpoint run after Python tore its builtins
down), the database must reopen with every row, and the last checkpoint must have run in full
(the manifest covers every row and the log is empty), not been left half done.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from embedb import MilvusClient

PRELUDE = """
import sys
import numpy as np
from embedb import DataType, Function, FunctionType, MilvusClient

path = sys.argv[1]
rng = np.random.default_rng(0)

def make(client):
    schema = client.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True, enable_match=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function("bm25", FunctionType.BM25, input_field_names=["text"],
                                 output_field_names=["sparse"]))
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("docs", schema=schema, index_params=ip)

def rows(lo, hi):
    return [{"id": i, "vector": rng.random(8).tolist(), "text": f"apple pear {i}"} for i in range(lo, hi)]

def use(client):   # builds the HNSW index and the BM25 and text_match posting lists
    client.search("docs", [rng.random(8).tolist()], anns_field="vector", limit=3)
    client.search("docs", ["apple"], anns_field="sparse", limit=3, search_params={"metric_type": "BM25"})
    client.query("docs", filter="text_match(text, 'pear')", limit=3)
"""

CASES = {
    # the report: one client, full-text and vector indexes in use, no close()
    "one client": """
        c = MilvusClient(path)
        make(c)
        c.insert("docs", rows(0, 300))
        use(c)
    """,
    # two clients of one path (one shared database) and a read-only one, none closed
    "several clients": """
        a = MilvusClient(path)
        make(a)
        b = MilvusClient(path)
        a.insert("docs", rows(0, 150))
        b.insert("docs", rows(150, 300))
        use(b)
        r = MilvusClient(path, read_only=True)
        r.load_collection("docs")
        assert len(r.query("docs", filter="id >= 0", limit=1000)) == 300
    """,
    # the client is kept alive by a module global and by a reference cycle
    "global and cycle": """
        import embedb
        embedb._forgotten = MilvusClient(path)
        make(embedb._forgotten)
        cycle = [embedb._forgotten]
        cycle.append(cycle)
        embedb._forgotten.insert("docs", rows(0, 300))
        use(embedb._forgotten)
    """,
    # a daemon thread is still searching when the main thread ends
    "daemon thread searching": """
        import threading, time
        c = MilvusClient(path)
        make(c)
        c.insert("docs", rows(0, 300))
        def loop():
            while True:
                try:
                    c.search("docs", [rng.random(8).tolist()], anns_field="vector", limit=3)
                except Exception:
                    return   # closed at exit
        threading.Thread(target=loop, daemon=True).start()
        time.sleep(0.3)
    """,
}


def _run(tmp_path: Path, body: str) -> tuple[Path, subprocess.CompletedProcess]:
    script = tmp_path / "prog.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    db = tmp_path / "exit.db"
    proc = subprocess.run([sys.executable, str(script), str(db)], capture_output=True, text=True,
                          timeout=120)
    return db, proc


@pytest.mark.parametrize("case", list(CASES))
def test_exit_without_close_is_quiet_and_checkpoints_fully(tmp_path, case):
    db, proc = _run(tmp_path, CASES[case])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    # the exit hook ran a whole checkpoint: the manifest covers all rows, the log is empty
    (manifest,) = (db / "collections").glob("*/manifest.json")
    assert json.loads(manifest.read_text())["num_rows"] == 300
    with sqlite3.connect(db / "embedb.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM log").fetchone()[0] == 0
    assert not (db / "LOCK").read_text()   # the write lock was released (its holder info cleared)
    c = MilvusClient(str(db))
    c.load_collection("docs")
    got = c.query("docs", filter="text_match(text, 'apple')", output_fields=["text"], limit=1000)
    assert sorted(r["id"] for r in got) == list(range(300))
    hits = c.search("docs", ["pear"], anns_field="sparse", limit=300, search_params={"metric_type": "BM25"})[0]
    assert len(hits) == 300
    c.close()
