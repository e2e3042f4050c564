"""Binary, sparse and FLOAT16 / BFLOAT16 / INT8 vector fields through MilvusClient, against
NumPy references written here."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from embedb import MilvusClient
from embedb.errors import ParamError
from embedb.schema import DataType

try:  # the engine's Database is being written in parallel; these tests run once it lands
    from embedb.engine import Database  # noqa: F401
except ImportError:
    pytest.skip("embedb.engine.Database is not available yet", allow_module_level=True)


@pytest.fixture
def client(tmp_path):
    c = MilvusClient(str(tmp_path / "t.db"))
    yield c
    c.close()


def collection(client, vec_type, index_type, metric, dim, rows, params=None):
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    if vec_type == DataType.SPARSE_FLOAT_VECTOR:
        schema.add_field("v", vec_type)
    else:
        schema.add_field("v", vec_type, dim=dim)
    schema.add_field("tag", DataType.INT64)
    ip = client.prepare_index_params()
    ip.add_index("v", index_type=index_type, metric_type=metric, params=params or {})
    client.create_collection("t", schema=schema, index_params=ip)
    client.insert("t", [{"id": 1000 - i, "v": r, "tag": i % 4} for i, r in enumerate(rows)])
    return np.array([1000 - i for i in range(len(rows))])


def binary_ref(q, x, metric):
    qb, xb = np.unpackbits(q, axis=1).astype(bool), np.unpackbits(x, axis=1).astype(bool)
    if metric == "HAMMING":
        return (qb[:, None] ^ xb[None]).sum(-1).astype(float)
    inter = (qb[:, None] & xb[None]).sum(-1)
    union = (qb[:, None] | xb[None]).sum(-1)
    return np.where(union > 0, 1 - inter / np.maximum(union, 1), 0.0)


@pytest.mark.parametrize("metric", ["HAMMING", "JACCARD"])
def test_bin_flat_exact(client, metric):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (600, 4), dtype=np.uint8)
    pks = collection(client, DataType.BINARY_VECTOR, "BIN_FLAT", metric, 32, [r.tobytes() for r in x])
    q = rng.integers(0, 256, (3, 4), dtype=np.uint8)
    res = client.search("t", [r.tobytes() for r in q], limit=8, filter="tag != 1",
                        search_params={"metric_type": metric})
    d = binary_ref(q, x, metric)
    allowed = np.arange(600) % 4 != 1
    for i, hits in enumerate(res):
        rows = np.flatnonzero(allowed)
        order = rows[np.lexsort((pks[rows], d[i, rows]))][:8]
        assert [h["id"] for h in hits] == pks[order].tolist()
        np.testing.assert_allclose([h["distance"] for h in hits], d[i, order], atol=1e-6)


def test_bin_ivf_flat_recall(client):
    rng = np.random.default_rng(2)
    centres = rng.integers(0, 2, (20, 64)).astype(np.uint8)
    bits = centres[rng.integers(0, 20, 2000)] ^ (rng.random((2000, 64)) < 0.05)
    x = np.packbits(bits, axis=1)
    collection(client, DataType.BINARY_VECTOR, "BIN_IVF_FLAT", "HAMMING", 64,
               [r.tobytes() for r in x], {"nlist": 16})
    q = x[:10]
    res = client.search("t", [r.tobytes() for r in q], limit=10, search_params={"params": {"nprobe": 4}})
    d = binary_ref(q, x, "HAMMING")
    kth = np.sort(d, axis=1)[:, 9]
    good = [np.mean([d[i, 1000 - h["id"]] <= kth[i] for h in hits]) for i, hits in enumerate(res)]
    assert np.mean(good) >= 0.95


@pytest.mark.parametrize("index_type", ["SPARSE_INVERTED_INDEX", "SPARSE_WAND"])
def test_sparse_ip_exact_and_drop_ratio(client, index_type):
    m = sp.random(500, 200, density=0.05, format="csr", dtype=np.float32, random_state=3)
    rows = [dict(zip(m.indices[m.indptr[i]:m.indptr[i + 1]].tolist(),
                     m.data[m.indptr[i]:m.indptr[i + 1]].tolist())) for i in range(500)]
    rows = [r if r else {0: 0.5} for r in rows]
    dense = np.zeros((500, 200), dtype=np.float64)
    for i, r in enumerate(rows):
        for k, v in r.items():
            dense[i, k] = v
    pks = collection(client, DataType.SPARSE_FLOAT_VECTOR, index_type, "IP", None, rows)
    queries = [{3: 0.5, 17: 1.0, 150: 0.25, 199: 0.05}, {5: 1.0, 6: 2.0}]
    for ratio in (0.0, 0.5):
        res = client.search("t", queries, limit=10,
                            search_params={"metric_type": "IP", "params": {"drop_ratio_search": ratio}})
        for q, hits in zip(queries, res):
            items = sorted(q.items(), key=lambda kv: abs(kv[1]))[int(np.floor(ratio * len(q))):]
            qv = np.zeros(200)
            for k, v in items:
                qv[k] = v
            s = dense @ qv
            touched = np.flatnonzero((dense[:, qv != 0] != 0).any(1))
            order = touched[np.lexsort((pks[touched], -s[touched]))][:10]
            assert [h["id"] for h in hits] == pks[order].tolist()
            np.testing.assert_allclose([h["distance"] for h in hits], s[order], rtol=1e-5)
    with pytest.raises(ParamError, match="drop_ratio_search"):
        client.search("t", queries, search_params={"params": {"drop_ratio_search": 1.5}})


@pytest.mark.parametrize("vec_type", [DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR, DataType.INT8_VECTOR])
@pytest.mark.parametrize("index_type", ["FLAT", "HNSW"])
def test_low_precision_vectors(client, vec_type, index_type):
    rng = np.random.default_rng(4)
    if vec_type == DataType.INT8_VECTOR:
        x = rng.integers(-100, 100, (800, 16)).astype(np.int8)
        stored = x.astype(np.float32)
    elif vec_type == DataType.FLOAT16_VECTOR:
        x = rng.standard_normal((800, 16)).astype(np.float16)
        stored = x.astype(np.float32)
    else:
        f = rng.standard_normal((800, 16)).astype(np.float32)
        bits = (f.view(np.uint32) >> 16).astype(np.uint16)      # truncated bfloat16
        stored = (bits.astype(np.uint32) << 16).view(np.float32)
        x = stored
        try:
            import ml_dtypes  # noqa: F401
        except ImportError:
            pass
    pks = collection(client, vec_type, index_type, "L2", 16, list(x))
    q = stored[:4] + 0.01
    res = client.search("t", q, limit=5)
    d = ((q[:, None, :].astype(np.float64) - stored[None].astype(np.float64)) ** 2).sum(-1)
    for i, hits in enumerate(res):
        order = np.lexsort((pks, d[i]))[:5]
        got = [h["id"] for h in hits]
        assert got[0] == pks[order[0]]
        if index_type == "FLAT":
            assert got == pks[order].tolist()
            np.testing.assert_allclose([h["distance"] for h in hits], d[i, order], rtol=1e-3, atol=1e-3)
