"""The demo in reduced mode (what CI runs so it cannot rot): seed examples, msmarco subset,
dense/BM25/hybrid search and the nDCG table, in a subprocess as `make demo` runs it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "msmarco-5k"


def run_demo(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "JINAAI_API_KEY"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "embedb.demo", *args], capture_output=True,
                          text=True, timeout=600, env=full_env)


@pytest.mark.skipif(not (Path(os.environ.get("EMBEDB_DATA_DIR", DATA)) / "corpus.jsonl").is_file(),
                    reason="msmarco-5k is not available")
def test_demo_reduced_mode(tmp_path):
    proc = run_demo("--docs", "120", "--queries", "3", EMBEDB_CACHE_DIR=str(tmp_path / "cache"))
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    # the seed examples ran with pymilvus replaced by embedb; Jina explains why it was skipped
    assert "example1_default_embedding.py: ok" in out and "Dim: 384 (384,)" in out
    assert "example2_bm25.py: ok" in out
    assert re.search(r"example3_jina_reranker\.py: skipped .*API key", out, re.DOTALL)
    assert "120 documents" in out and out.count("query:") >= 1
    scores = dict(re.findall(r"│ (dense|bm25|hybrid)\s+│ ([0-9.]+)", out))
    assert set(scores) == {"dense", "bm25", "hybrid"}
    assert all(0.0 < float(v) <= 1.0 for v in scores.values())
    assert "demo finished" in out
    # the collection embeds its own text: a TEXTEMBEDDING function, rows inserted as text only
    assert "TEXTEMBEDDING" in out


def test_demo_missing_data_is_a_clear_error(tmp_path):
    proc = run_demo("--no-seed", EMBEDB_DATA_DIR=str(tmp_path / "nowhere"))
    assert proc.returncode != 0
    assert "msmarco-5k not found" in proc.stderr and "EMBEDB_DATA_DIR" in proc.stderr
    assert "Traceback" not in proc.stderr
