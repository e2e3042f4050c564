"""The Milvus Node SDK (@zilliz/milvus2-sdk-node, pinned in tests/node/package.json) drives
embedb serve: create, insert, search with a filter, query, delete. ``make test`` installs the
SDK with npm; without node or the installed SDK the test is skipped with the reason."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("grpc")
pytest.importorskip("pymilvus")

import embedb  # noqa: E402

NODE_DIR = Path(__file__).parent / "node"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.skipif(not (NODE_DIR / "node_modules" / "@zilliz" / "milvus2-sdk-node").is_dir(),
                    reason="the Node SDK is not installed (npm unreachable?): run npm ci in tests/node")
def test_node_sdk_create_insert_search_query_delete():
    with embedb.serve_in_thread(":memory:") as uri:
        address = uri.split("://", 1)[1]
        run = subprocess.run(["node", str(NODE_DIR / "drive.mjs"), address], capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["insert_cnt"] == 20
    # nearest odd ids to 6.2 by squared L2: 7 (0.64), 5 (1.44), 9 (7.84)
    assert [h["id"] for h in out["search"]] == [7, 5, 9]
    assert all(h["tag"] == "odd" for h in out["search"])
    assert [round(h["score"], 3) for h in out["search"]] == [0.64, 1.44, 7.84]
    assert out["query"] == [{"id": 0, "tag": "even"}, {"id": 1, "tag": "odd"}, {"id": 2, "tag": "even"}]
    assert out["delete_cnt"] == 3 and out["after_delete"] == [3, 4]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.skipif(not (NODE_DIR / "node_modules" / "@zilliz" / "milvus2-sdk-node").is_dir(),
                    reason="the Node SDK is not installed (npm unreachable?): run npm ci in tests/node")
def test_node_sdk_inserts_and_searches_text_of_a_textembedding_collection():
    """No model on the Node side: the server's process runs the collection's TEXTEMBEDDING."""
    with embedb.serve_in_thread(":memory:") as uri:
        address = uri.split("://", 1)[1]
        run = subprocess.run(["node", str(NODE_DIR / "drive_text.mjs"), address],
                             capture_output=True, text=True, timeout=180)
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["insert_cnt"] == 3
    assert out["search"][0] == 0          # "where was turing born" -> the Turing sentence
    assert out["hybrid"] == [1]           # dense + BM25 on the same text -> the Paris sentence
