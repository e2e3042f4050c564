"""The README's Python snippets run as written (docs tests), each in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)

# What each snippet must print (the README's comments say so too).
EXPECTED = {
    0: ["Dim: 384 (384,)"],
    1: ["(1, "],
    2: ["Born in Maida Vale", "'year': 1951"],
    3: ["[2, ", "{'id': 1}", "{'id': 2}"],
    4: ["Alan Turing was born in Maida Vale", "[1950, "],   # TEXTEMBEDDING + rankers
    5: ["Turing was born in Maida Vale"],   # embedb serve: LangChain
    6: ["Turing was born in Maida Vale"],   # embedb serve: LlamaIndex
}


def test_readme_has_the_snippets_this_test_checks():
    assert len(BLOCKS) == len(EXPECTED)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_snippet_runs(index, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    for expected in EXPECTED[index]:
        assert expected in proc.stdout, (expected, proc.stdout)
