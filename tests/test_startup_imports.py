"""Start-up imports only what a collection uses: a dense-only collection never loads
scipy.sparse (0.2-0.6 s of import), a sparse one does (checked in fresh interpreters)."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import sys
import numpy as np
import embedb
client = embedb.MilvusClient(":memory:")
schema = client.create_schema(auto_id=False)
schema.add_field("id", embedb.DataType.INT64, is_primary=True)
schema.add_field("v", embedb.DataType.{kind}, {extra})
index = client.prepare_index_params()
index.add_index("v", index_type="{index}", metric_type="{metric}")
client.create_collection("c", schema=schema, index_params=index)
client.insert("c", [{{"id": i, "v": {vector}}} for i in range(50)])
i = 0
hits = client.search("c", [{vector}], limit=3)
assert len(hits[0]) == 3, hits
print("scipy.sparse" in sys.modules)
"""


def run(**fmt) -> str:
    out = subprocess.run([sys.executable, "-c", PROGRAM.format(**fmt)], check=True,
                         capture_output=True, text=True, timeout=120)
    return out.stdout.strip()


def test_dense_collection_does_not_import_scipy_sparse():
    assert run(kind="FLOAT_VECTOR", extra="dim=8", index="HNSW", metric="COSINE",
               vector="np.arange(8, dtype=np.float32) + i") == "False"


def test_sparse_collection_imports_it_when_used():
    assert run(kind="SPARSE_FLOAT_VECTOR", extra="", index="SPARSE_INVERTED_INDEX", metric="IP",
               vector="{1: 1.0, 5 + i: 2.0}") == "True"
