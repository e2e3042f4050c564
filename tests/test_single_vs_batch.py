"""A single query answers as the same query inside a batch: the same rows in the same order
(primary-key order of ties included) on every dense index kind and on BM25, with and without a
filter; distances bit-identical (the exact kernel rescores its winners pair by pair: BLAS for a
batch and a loop per query for a few round apart in the last bit)."""

from __future__ import annotations

import numpy as np
import pytest

import embedb

INDEXES = [("FLAT", {}), ("HNSW", {"M": 8, "efConstruction": 40}), ("IVF_FLAT", {"nlist": 4})]


@pytest.mark.parametrize("metric", ["COSINE", "IP", "L2"])
@pytest.mark.parametrize("index_type,params", INDEXES)
def test_single_query_equals_batch_dense(index_type, params, metric):
    rng = np.random.default_rng(4)
    base = rng.standard_normal((60, 48)).astype(np.float32) * 3
    x = base[rng.integers(0, 60, 400)]   # many identical vectors: ties broken by primary key
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("tag", embedb.DataType.INT64)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=48)
    index = client.prepare_index_params()
    index.add_index("v", index_type=index_type, metric_type=metric, params=params)
    client.create_collection("c", schema=schema, index_params=index)
    ids = rng.permutation(10_000)[:412]
    client.insert("c", [{"id": int(ids[i]), "tag": i % 3, "v": x[i]} for i in range(400)])
    sp = {"metric_type": metric, "params": {"ef": 64, "nprobe": 4}}
    client.search("c", [x[0]], limit=1, search_params=sp)   # the index built over these 400
    # rows inserted after it: an ANN index's unindexed tail, scored exactly
    tail = rng.standard_normal((12, 48)).astype(np.float32) * 3
    client.insert("c", [{"id": int(ids[400 + i]), "tag": i % 3, "v": tail[i]} for i in range(12)])
    queries = [x[i] for i in range(0, 400, 20)] + [t + 0.01 for t in tail]   # 32: BLAS for the batch
    for flt in ("", "tag == 1"):
        batch = client.search("c", queries, limit=10, filter=flt, search_params=sp)
        for q, hits in zip(queries, batch):
            single = client.search("c", [q], limit=10, filter=flt, search_params=sp)[0]
            assert [(h["id"], h["distance"]) for h in single] == [(h["id"], h["distance"]) for h in hits]
            ties = [h["id"] for h in hits if h["distance"] == hits[0]["distance"]]
            assert ties == sorted(ties)


def test_single_query_equals_batch_bm25():
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("text", embedb.DataType.VARCHAR, max_length=500, enable_analyzer=True)
    schema.add_field("sparse", embedb.DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(embedb.Function("bm25", embedb.FunctionType.BM25, ["text"], ["sparse"]))
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("docs", schema=schema, index_params=index)
    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(2, 9)))) for _ in range(120)]
    client.insert("docs", [{"id": int(i * 7 % 1000), "text": t} for i, t in enumerate(texts + texts[:40])])
    queries = [" ".join(rng.choice(words, size=3)) for _ in range(15)]
    sp = {"metric_type": "BM25"}
    batch = client.search("docs", queries, anns_field="sparse", limit=8, search_params=sp)
    for q, hits in zip(queries, batch):
        single = client.search("docs", [q], anns_field="sparse", limit=8, search_params=sp)[0]
        assert [(h["id"], h["distance"]) for h in single] == [(h["id"], h["distance"]) for h in hits]


def test_topk_select_one_query_equals_the_batch_path():
    from embedb.engine.index import topk

    rng = np.random.default_rng(9)
    pks = rng.permutation(1000)
    pk_of = lambda rows: pks[np.asarray(rows)]  # noqa: E731
    for _ in range(300):
        k = int(rng.integers(2, 12))
        keys = np.sort(rng.integers(0, 6, k).astype(np.float32))   # sorted, often tied
        rows = rng.choice(1000, k, replace=False).astype(np.int64)
        if rng.random() < 0.2:
            keys[-1], rows[-1] = np.inf, -1
        if rng.random() < 0.5:
            keys = keys + np.arange(k, dtype=np.float32)   # strictly increasing: the fast path
        one = topk.select(keys[None, :], rows[None, :], k, pk_of)
        two = topk.select(np.stack([keys, keys]), np.stack([rows, rows]), k, pk_of)
        np.testing.assert_array_equal(one[0][0], two[0][0])
        np.testing.assert_array_equal(one[1][0], two[1][0])
        assert one[0].dtype == two[0].dtype and one[1].dtype == two[1].dtype
