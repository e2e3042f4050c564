"""The article's three examples (/work/shared/seed-examples) run unchanged but for the import
(``pymilvus`` -> ``embedb``), each in a fresh subprocess in an empty working directory."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SEEDS = Path("/work/shared/seed-examples")
ARTICLE_FIRST_VALUES = [-3.09392996e-02, -1.80662833e-02, 1.34775648e-02, 2.77156215e-02]

pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"{SEEDS} is not on this machine")


def run_example(name: str, tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    source = (SEEDS / name).read_text(encoding="utf-8").replace("pymilvus", "embedb")
    script = tmp_path / name
    script.write_text(source, encoding="utf-8")
    env = dict(os.environ, EMBEDB_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="1",
               JINAAI_API_KEY="")
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=timeout)


def test_example1_default_embedding_prints_the_articles_numbers(tmp_path):
    proc = run_example("example1_default_embedding.py", tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("Embeddings: [array([-3.09392")
    first = [float(x) for x in re.findall(r"[-+]?\d\.\d+e[-+]\d+", out)[:4]]
    assert first == pytest.approx(ARTICLE_FIRST_VALUES, abs=1e-6)
    assert out.count("array(") == 3 and out.count("dtype=float32") == 3
    assert out.rstrip().endswith("Dim: 384 (384,)")


@pytest.mark.skipif(importlib.util.find_spec("embedb.model.sparse.bm25") is None,
                    reason="embedb.model.sparse.bm25 is not written yet")
def test_example2_bm25_fits_saves_loads_and_encodes(tmp_path):
    proc = run_example("example2_bm25.py", tmp_path)
    assert proc.returncode == 0, proc.stderr
    match = re.fullmatch(r"Dim: (\d+) \((?:1, )?(\d+),?\)\n", proc.stdout)
    assert match, proc.stdout
    assert match.group(1) == match.group(2) and int(match.group(1)) > 10
    assert (tmp_path / "bm25_params.json").is_file()


def test_example3_jina_without_key_or_network_fails_with_one_clear_line(tmp_path):
    proc = run_example("example3_jina_reranker.py", tmp_path, timeout=60)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "Jina" in last, proc.stderr
    causes = ("unreachable", "api key", "api_key", "rejected", "network")
    assert any(cause in last.lower() for cause in causes), last
