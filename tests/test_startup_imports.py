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


# what the plain open + search path of a dense collection must not load (each costs start-up
# time: the filter language and its parser, the text analyzers, the CLI and server stacks,
# optional geometry and regex engines, pymilvus)
NOT_ON_THE_PLAIN_PATH = ["embedb.expr", "embedb.expr.lalr_standalone", "embedb.text", "embedb.model",
                         "embedb.cli", "embedb.server", "lark", "re2", "shapely", "pymilvus",
                         "click", "rich", "scipy", "grpc", "onnxruntime", "tokenizers"]

REOPEN = """
import sys, numpy as np, embedb
path = sys.argv[1]
client = embedb.MilvusClient(path)
if len(sys.argv) == 2:   # first run: create, then reopen in a fresh process
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=8)
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="COSINE")
    client.create_collection("c", schema=schema, index_params=index)
    client.insert("c", [{"id": i, "v": np.arange(8, dtype=np.float32) + i} for i in range(50)])
    client.close()
    sys.exit()
hits = client.search("c", [np.ones(8, dtype=np.float32)], limit=3, filter=sys.argv[2])
assert len(hits[0]) == 3, hits
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in {"embedb", "lark", "re2", "shapely",
      "pymilvus", "click", "rich", "scipy", "grpc", "onnxruntime", "tokenizers"})))
"""


def reopened_modules(tmp_path, flt: str) -> set[str]:
    path = str(tmp_path / "db")
    if not (tmp_path / "db").exists():
        subprocess.run([sys.executable, "-c", REOPEN, path], check=True, timeout=120)
    out = subprocess.run([sys.executable, "-c", REOPEN, path, flt], check=True, capture_output=True,
                         text=True, timeout=120)
    return set(out.stdout.split())


def test_reopen_and_search_loads_only_what_it_uses(tmp_path):
    loaded = reopened_modules(tmp_path, "")
    assert "embedb.engine.index.dense" in loaded   # the check sees the modules it lists
    assert loaded.isdisjoint(NOT_ON_THE_PLAIN_PATH), loaded & set(NOT_ON_THE_PLAIN_PATH)
    # a filter loads the filter language and its pre-generated parser, still not lark
    loaded = reopened_modules(tmp_path, "id > 3 and id % 2 == 0")
    assert {"embedb.expr", "embedb.expr.lalr_standalone"} <= loaded
    assert "lark" not in loaded and "scipy" not in loaded
