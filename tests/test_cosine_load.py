"""A COSINE graph's storage built at load, block by block (storage_view.normalized_copy), holds
bit for bit the vectors the index was built with (dense.normalized): the same answers after
reopening as before closing."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.engine.index import storage_view
from embedb.engine.index.dense import normalized
from embedb.engine.index.exact import as_float32


def _bfloat16_bits(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)


@pytest.mark.parametrize("block_bytes", [1, 96, 1000, 1 << 18])
@pytest.mark.parametrize("kind", ["float32", "float16", "bfloat16", "int8"])
def test_normalized_copy_equals_normalized_bit_for_bit(monkeypatch, block_bytes, kind):
    monkeypatch.setattr(storage_view, "_BLOCK_BYTES", block_bytes)   # 1 row, a few rows, ...
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((257, 24)) * rng.uniform(1e-3, 1e3, (257, 1))).astype(np.float32)
    x[[0, 100, 256]] = 0   # zero rows stay zero
    stored = {"float32": x, "float16": x.astype(np.float16), "bfloat16": _bfloat16_bits(x),
              "int8": np.clip(x * 10, -128, 127).astype(np.int8)}[kind]
    got = storage_view.normalized_copy(stored, as_float32)
    want = normalized(as_float32(stored))
    assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == want.shape
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    assert not got[[0, 100, 256]].any()
    if kind != "int8":   # the column itself is never written
        assert np.shares_memory(got, stored) is False


def test_normalized_copy_of_no_rows():
    out = storage_view.normalized_copy(np.zeros((0, 8), np.float32), as_float32)
    assert out.shape == (0, 8) and out.dtype == np.float32


@pytest.mark.parametrize("index_type", ["HNSW", "IVF_FLAT"])
def test_cosine_answers_after_reopening_equal_those_before(tmp_path, monkeypatch, index_type):
    from embedb import DataType, MilvusClient
    from embedb.engine.index import dense

    loads = []   # the saved index is loaded over the column, not rebuilt
    monkeypatch.setattr(dense, "normalized_copy", lambda *a: loads.append(1) or storage_view.normalized_copy(*a))

    rng = np.random.default_rng(9)
    x = rng.standard_normal((1500, 32)).astype(np.float32) * rng.uniform(0.1, 10, (1500, 1)).astype(np.float32)
    x[7] = 0
    queries = rng.standard_normal((20, 32)).astype(np.float32)
    params = {"M": 8, "efConstruction": 64} if index_type == "HNSW" else {"nlist": 16}
    search_params = {"metric_type": "COSINE", "params": {"ef": 64} if index_type == "HNSW" else {"nprobe": 4}}
    path = str(tmp_path / "c.db")
    client = MilvusClient(path)
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=32)
    ix = client.prepare_index_params()
    ix.add_index("v", index_type=index_type, metric_type="COSINE", params=params)
    client.create_collection("c", schema=s, index_params=ix)
    client.insert("c", [{"id": i, "v": v} for i, v in enumerate(x)])
    before = client.search("c", list(queries), limit=10, search_params=search_params)
    client.close()   # saves the graph without its vectors

    assert not loads
    client = MilvusClient(path)
    after = client.search("c", list(queries), limit=10, search_params=search_params)
    single = [client.search("c", [q], limit=10, search_params=search_params)[0] for q in queries]
    client.close()
    assert len(loads) == 1
    as_pairs = lambda hits: [[(h["id"], h["distance"]) for h in row] for row in hits]  # noqa: E731
    assert as_pairs(after) == as_pairs(before)
    assert [[h["id"] for h in row] for row in single] == [[h["id"] for h in row] for row in after]
