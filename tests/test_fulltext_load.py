"""Reopening a database serves BM25 from the posting lists saved at the last checkpoint: read
once, verified against the manifest's checksum in that same read, used as views of the verified
bytes (engine/npzbytes.py). Same answers as before the reopen; damage means a rebuild from the
columns, never a wrong answer."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from embedb.engine import npzbytes


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_npz_members_are_views_of_the_bytes_equal_to_np_load():
    arrays = {"a": np.arange(10, dtype=np.int64), "b": np.zeros(0, np.float32),
              "c": np.array(["x", "yz", ""]), "d": np.arange(12, dtype=np.float64).reshape(3, 4),
              "e": np.asfortranarray(np.arange(6, dtype=np.int8).reshape(2, 3)), "f": np.array([1.5])}
    data = npz(**arrays)
    got = npzbytes.arrays(data)
    assert set(got) == set(arrays)
    with np.load(io.BytesIO(data)) as ref:
        for name, arr in arrays.items():
            assert got[name].dtype == ref[name].dtype and got[name].shape == ref[name].shape
            assert np.array_equal(got[name], ref[name]) and np.array_equal(got[name], arr)
    assert not got["a"].flags.writeable   # a view of the immutable bytes, not a copy


def test_object_members_and_short_members_are_refused():
    with pytest.raises(ValueError, match="objects"):
        npzbytes.arrays(npz(o=np.array([{"a": 1}], dtype=object)))
    data = bytearray(npz(a=np.arange(1000, dtype=np.int64)))
    with pytest.raises(Exception):
        npzbytes.arrays(bytes(data[: len(data) // 2]))


PROGRAM = """
import json, sys, numpy as np, embedb
path, mode = sys.argv[1], sys.argv[2]
client = embedb.MilvusClient(path)
if mode == "create":
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("text", embedb.DataType.VARCHAR, max_length=1000, enable_analyzer=True)
    schema.add_field("sparse", embedb.DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(embedb.Function(name="bm25", function_type=embedb.FunctionType.BM25,
                                        input_field_names=["text"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("docs", schema=schema, index_params=index)
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(300)]
    client.insert("docs", [{"id": i, "text": " ".join(rng.choice(words, rng.integers(3, 30)))}
                           for i in range(3000)])
    client.delete("docs", ids=list(range(0, 3000, 7)))
queries = ["w1 w2", "w10 w100 w200", "w299", "w3 w3 w4"]
hits = client.search("docs", queries, anns_field="sparse", limit=10, search_params={"metric_type": "BM25"})
print(json.dumps([[(h["id"], h["distance"]) for h in q] for q in hits]))
print(json.dumps("scipy.sparse" in sys.modules))
client.close()
"""


def run(path, mode):
    out = subprocess.run([sys.executable, "-c", PROGRAM, str(path), mode], check=True,
                         capture_output=True, text=True, timeout=120)
    hits, scipy_loaded = out.stdout.splitlines()
    return json.loads(hits), json.loads(scipy_loaded)


def test_reopened_bm25_answers_as_before_from_the_saved_postings(tmp_path):
    path = tmp_path / "db"
    before, _ = run(path, "create")
    after, scipy_loaded = run(path, "reopen")
    assert after == before
    assert not scipy_loaded   # served from the saved postings: the sparse column was not read

    (saved,) = path.rglob("fulltext-bm25-*.npz")
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0x40   # damage inside the posting arrays
    saved.write_bytes(bytes(data))
    damaged, scipy_loaded = run(path, "reopen")
    assert damaged == before
    assert scipy_loaded   # the damaged file was refused and the postings rebuilt from the column


@pytest.mark.parametrize("n", [1, 7, 5000])
def test_small_posting_builds_sort_like_scipy(monkeypatch, n):
    """Small parts (the tail) are grouped by a stable argsort, larger ones by SciPy's counting
    sort: the same arrays, row order and the order of repeated (row, term) entries kept."""
    from embedb.engine import fulltext

    rng = np.random.default_rng(n)
    rows = np.sort(rng.integers(0, max(n // 3, 1), n)).astype(np.int32)
    terms = rng.integers(0, 50, n).astype(np.int32)
    payload = rng.random(n).astype(np.float32)
    small = fulltext._Sorted.build(rows, terms, payload)
    monkeypatch.setattr(fulltext, "_SMALL_BUILD", 0)
    big = fulltext._Sorted.build(rows, terms, payload)
    for name in ("indptr", "rows", "payload"):
        a, b = getattr(small, name), getattr(big, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert small.n_rows == big.n_rows
