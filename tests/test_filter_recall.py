"""Filtered HNSW search keeps recall@k >= 0.95 against the exact answer (issue 15), on filters
independent of the vectors and on filters correlated with them, and a query's answer does not
depend on its batch or on the path that runs it.

The graph path is forced at these small sizes (the cost rule would score a few thousand rows
exactly); everything else is the real strategy: the widened ef, the clumping measure that
sends filters whose rows sit together in the graph to exact search, and the exact search."""

from __future__ import annotations

import numpy as np
import pytest

import embedb
from embedb.engine import search as engine_search
from embedb.engine.index import filtered
from embedb.engine.index.manager import indexes_of

DIM = 32
N = 8_000


@pytest.fixture(scope="module")
def data():
    """Clustered rows (60 clusters), their cluster, a tag independent of the vectors, and a
    value that follows the vectors (a projection on a random direction)."""
    rng = np.random.default_rng(21)
    centres = rng.standard_normal((60, DIM)).astype(np.float32)
    cid = rng.integers(0, len(centres), N)
    x = (centres[cid] + 0.45 * rng.standard_normal((N, DIM))).astype(np.float32)
    qcid = rng.integers(0, len(centres), 40)
    q = (centres[qcid] + 0.45 * rng.standard_normal((40, DIM))).astype(np.float32)
    pos = x @ rng.standard_normal(DIM).astype(np.float32)
    return x, q, cid, qcid, rng.integers(0, 100, N), pos


def client_for(metric, x, cid, tag, pos):
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("tag", embedb.DataType.INT64)
    schema.add_field("cluster", embedb.DataType.INT64)
    schema.add_field("pos", embedb.DataType.FLOAT)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type=metric,
                    params={"M": 16, "efConstruction": 100})
    client.create_collection("c", schema=schema, index_params=index)
    client.insert("c", [{"id": i, "tag": int(t), "cluster": int(c), "pos": float(p), "v": v}
                        for i, (t, c, p, v) in enumerate(zip(tag, cid, pos, x))])
    client.search("c", [x[0]], limit=1)   # build the index over every row
    return client


@pytest.fixture(scope="module", params=["COSINE", "L2"])
def setup(request, data):
    x, q, cid, qcid, tag, pos = data
    return request.param, client_for(request.param, x, cid, tag, pos), data


def exact_ids(metric, x, q, allowed, k):
    rows = np.flatnonzero(allowed)
    sub = x[rows]
    if metric == "COSINE":
        keys = -((sub / np.linalg.norm(sub, axis=1, keepdims=True)) @ (q / np.linalg.norm(q)))
    else:
        keys = ((sub - q) ** 2).sum(1)
    return set(rows[np.argsort(keys, kind="stable")[:k]].tolist())


def filters(data):
    x, q, cid, qcid, tag, pos = data
    chosen = list(range(0, 60, 10))   # 6 of 60 clusters: 10 % of the rows
    inside = np.flatnonzero(np.isin(qcid, chosen))
    outside = np.flatnonzero(~np.isin(qcid, chosen))
    cut = float(np.float32(np.quantile(pos, 0.8)))   # the FLOAT column compares exactly
    every = np.arange(len(q))
    return [
        ("tag < 10", tag < 10, every),                  # independent of the vectors, 10 %
        ("tag < 30", tag < 30, every),                  # 30 %
        (f"cluster in {chosen}", np.isin(cid, chosen), outside),   # anti-correlated queries
        (f"cluster in {chosen}", np.isin(cid, chosen), inside),    # correlated queries
        (f"pos >= {cut}", pos >= np.float32(cut), every),          # a range that follows position
    ]


@pytest.mark.parametrize("k, ef", [(10, 16), (10, None), (100, 16)])
def test_filtered_recall_against_exact(setup, graph_path, k, ef):
    metric, client, data = setup
    x, q = data[0], data[1]
    sp = {"params": {"ef": ef}} if ef else None
    for flt, allowed, qrows in filters(data):
        queries = [q[i] for i in qrows]
        got = client.search("c", queries, limit=k, filter=flt, search_params=sp)
        found = [len({h["id"] for h in hits} & exact_ids(metric, x, qv, allowed, k)) / k
                 for qv, hits in zip(queries, got)]
        assert np.mean(found) >= 0.95, (metric, flt, k, ef, np.mean(found))
        assert all(allowed[h["id"]] for hits in got for h in hits)


def test_single_query_equals_its_batch_and_the_general_path(setup, graph_path, lane_calls):
    """Batches take IndexManager.search; a repeated single query the lean lane
    (filtered.search_masked_one), which must run here and answer the same."""
    lane = lane_calls
    metric, client, data = setup
    coll = client._db.get_collection("c")
    q = data[1]
    for flt, _, qrows in filters(data):
        queries = [q[i] for i in qrows[:8]]
        for k, sp in ((10, {"params": {"ef": 16}}), (10, None), (100, None)):
            general = engine_search.search(coll, queries, limit=k, filter=flt, search_params=sp)
            batch = client.search("c", queries, limit=k, filter=flt, search_params=sp)
            want = [[(h["id"], h["distance"]) for h in hits] for hits in general]
            assert [[(h["id"], h["distance"]) for h in hits] for hits in batch] == want
            for qv, hits in zip(queries, want):
                single = client.search("c", [qv], limit=k, filter=flt, search_params=sp)[0]
                assert [(h["id"], h["distance"]) for h in single] == hits
    assert sum(lane) > 20   # the lane answered (the rest: exact plans, k beyond the graph)


def test_clumping_tells_independent_filters_from_correlated_ones(setup):
    """The measure behind the strategy: about 0 for a tag independent of the vectors, large
    for the rows of a few clusters, which the plan then searches exactly."""
    from embedb.engine import filter_cache

    metric, client, data = setup
    x, q, cid, qcid, tag, pos = data
    coll = client._db.get_collection("c")
    impl = indexes_of(coll).for_field("v").impl
    view = coll.read_view()
    clumps = {}
    for flt, _, _ in filters(data):
        info = filter_cache.survivors(filter_cache.search_mask(view, flt))
        clumps[flt] = impl._clumping(info)
        plan = impl.filtered_plan(info, N, 10, {"ef": 16})
        if clumps[flt] > filtered.MAX_CLUMPING:
            assert plan is None
    assert abs(clumps["tag < 10"]) < filtered.CLUMP_FREE + 0.01
    assert abs(clumps["tag < 30"]) < filtered.CLUMP_FREE + 0.01
    assert min(v for f, v in clumps.items() if f.startswith("cluster")) > 0.5


def test_the_widened_ef_follows_selectivity_and_k():
    assert filtered.filtered_ef(16, 10, 1.0) == 34   # 32 x 1.06
    assert 48 <= filtered.filtered_ef(16, 10, 0.10) <= 56
    assert filtered.filtered_ef(16, 10, 0.5) < filtered.filtered_ef(16, 10, 0.2) < \
        filtered.filtered_ef(16, 10, 0.07)
    assert filtered.filtered_ef(16, 100, 0.2) >= 400   # most of the k / s nearest rows
    assert filtered.filtered_ef(128, 10, 0.1) >= 1.5 * 128
    # exact when scoring every admitted row costs no more than the widened graph search
    assert filtered.graph_ef(5_000, 50_000, 384, 100, 100, 0.0) is None
    assert filtered.graph_ef(10_000, 100_000, 384, 16, 10, 0.0) == \
        filtered.filtered_ef(16, 10, 0.1)
    assert filtered.graph_ef(10_000, 100_000, 384, 16, 10, 0.5) is None
    # an inner-product graph does not keep recall with a filter at any ef: exact
    assert filtered.graph_ef(50_000, 100_000, 384, 16, 10, 0.0, "IP") is None
