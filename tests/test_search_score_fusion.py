"""DBSF and convex-combination fusion against a written-out per-query reference, through the
engine kernels and through MilvusClient.hybrid_search / search(ranker=); the CLI's --fusion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embedb import (AnnSearchRequest, ConvexRanker, DBSFRanker, Function, FunctionType,
                    MilvusClient)
from embedb.cli.fusion import DEFAULT_FUSION, parse_fusion, parse_fusion_list
from embedb.engine import fusion
from embedb.errors import ParamError

from test_search_fusion import check, random_lists


def ref_dbsf(scores: list[float]) -> list[float]:
    n = len(scores)
    mu = sum(scores) / n
    sigma = math.sqrt(sum((s - mu) ** 2 for s in scores) / n)
    if sigma == 0:
        return [0.5] * n
    return [(s - (mu - 3 * sigma)) / (6 * sigma) for s in scores]


def ref_minmax(scores: list[float]) -> list[float]:
    lo, hi = min(scores), max(scores)
    return [1.0] * len(scores) if hi == lo else [(s - lo) / (hi - lo) for s in scores]


def reference(lists, metrics, weights, norm, k):
    """Per query: normalise each list's valid scores, add weight * normalised per row."""
    out = []
    for q in range(lists[0][0].shape[0]):
        total: dict[int, float] = {}
        for (rows, dist), metric, w in zip(lists, metrics, weights):
            valid = [(int(r), float(d)) for r, d in zip(rows[q], dist[q]) if r >= 0]
            if not valid:
                continue
            sign = 1.0 if metric in ("COSINE", "IP", "BM25") else -1.0
            normed = norm([sign * d for _, d in valid])
            for (r, _), s in zip(valid, normed):
                total[r] = total.get(r, 0.0) + w * s
        out.append(sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:k])
    return out


PK = staticmethod(lambda r: np.asarray(r))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("metrics", [("COSINE", "BM25"), ("L2", "IP"), ("IP", "BM25", "HAMMING")])
def test_dbsf_matches_reference(seed, metrics):
    rng = np.random.default_rng(seed)
    lists = random_lists(rng, 3, len(metrics), 9, 25)
    weights = list(rng.random(len(metrics)).round(3))
    got = fusion.dbsf(lists, list(metrics), 8, weights, pk_of=lambda r: np.asarray(r))
    check(got, reference(lists, metrics, weights, ref_dbsf, 8))
    # no weights = every list weighs 1
    got = fusion.dbsf(lists, list(metrics), 8, None, pk_of=lambda r: np.asarray(r))
    check(got, reference(lists, metrics, [1.0] * len(metrics), ref_dbsf, 8))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("metrics", [("COSINE", "BM25"), ("L2", "IP")])
def test_convex_matches_reference(seed, metrics):
    rng = np.random.default_rng(100 + seed)
    lists = random_lists(rng, 3, len(metrics), 9, 25)
    weights = [0.7, 0.3]
    got = fusion.convex(lists, list(metrics), 8, [7, 3], pk_of=lambda r: np.asarray(r))
    check(got, reference(lists, metrics, weights, ref_minmax, 8))


def test_single_hit_and_equal_scores():
    rows = np.array([[4, -1, -1], [1, 2, -1]])
    dist = np.array([[0.3, 0, 0], [0.5, 0.5, 0]])
    r, s = fusion.dbsf([(rows, dist)], ["COSINE"], 2, pk_of=lambda x: np.asarray(x))
    assert r.tolist() == [[4, -1], [1, 2]] and s[0, 0] == 0.5 and s[1].tolist() == [0.5, 0.5]
    r, s = fusion.convex([(rows, dist)], ["COSINE"], 2, pk_of=lambda x: np.asarray(x))
    assert s[0, 0] == 1.0 and s[1].tolist() == [1.0, 1.0]


def test_weights_checked():
    lists = random_lists(np.random.default_rng(0), 1, 2, 4, 10)
    with pytest.raises(ParamError, match="one weight per"):
        fusion.dbsf(lists, ["IP", "IP"], 3, [1.0])
    with pytest.raises(ParamError, match=">= 0"):
        fusion.convex(lists, ["IP", "IP"], 3, [1.0, -1])
    with pytest.raises(ParamError, match="all be 0"):
        fusion.convex(lists, ["IP", "IP"], 3, [0, 0])
    with pytest.raises(ParamError):
        DBSFRanker(-1)
    with pytest.raises(ParamError):
        ConvexRanker(0, 0)


@pytest.fixture
def hybrid_client(tmp_path):
    from embedb import DataType

    client = MilvusClient(str(tmp_path / "f.db"))
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    idx = client.prepare_index_params()
    idx.add_index("dense", index_type="FLAT", metric_type="COSINE")
    idx.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("c", schema=schema, index_params=idx)
    rng = np.random.default_rng(5)
    words = ["apple", "pear", "plum", "fig", "kiwi", "lime"]
    rows = [{"id": i, "text": " ".join(rng.choice(words, 4)), "dense": rng.normal(size=4).tolist()}
            for i in range(40)]
    client.insert("c", rows)
    yield client
    client.close()


def _requests():
    q = [0.3, -0.2, 0.9, 0.1]
    return [AnnSearchRequest([q], "dense", {"metric_type": "COSINE"}, 15),
            AnnSearchRequest(["apple fig"], "sparse", {"metric_type": "BM25"}, 15)]


@pytest.mark.parametrize("ranker, norm, weights", [
    (DBSFRanker(), ref_dbsf, [1.0, 1.0]),
    (DBSFRanker(0.8, 0.2), ref_dbsf, [0.8, 0.2]),
    (ConvexRanker(0.6, 0.4), ref_minmax, [0.6, 0.4]),
    (Function(name="f", function_type=FunctionType.RERANK, input_field_names=[],
              params={"reranker": "dbsf", "weights": [0.5, 1.5]}), ref_dbsf, [0.5, 1.5]),
    (Function(name="f", function_type=FunctionType.RERANK, input_field_names=[],
              params={"reranker": "convex", "weights": [1, 3]}), ref_minmax, [0.25, 0.75]),
])
def test_hybrid_search_with_score_fusion(hybrid_client, ranker, norm, weights):
    reqs = _requests()
    lists = []
    for r in reqs:
        hits = hybrid_client.search("c", r.data, anns_field=r.anns_field, limit=r.limit,
                                    search_params=r.param)[0]
        lists.append((np.array([[h["id"] for h in hits]]), np.array([[h["distance"] for h in hits]])))
    expected = reference(lists, ["COSINE", "BM25"], weights, norm, 10)[0]
    got = hybrid_client.hybrid_search("c", reqs, ranker, limit=10)[0]
    assert [h["id"] for h in got] == [r for r, _ in expected]
    np.testing.assert_allclose([h["distance"] for h in got], [s for _, s in expected], rtol=1e-5)


def test_search_with_a_dbsf_ranker_keeps_the_order(hybrid_client):
    q = [[0.3, -0.2, 0.9, 0.1]]
    plain = hybrid_client.search("c", q, anns_field="dense", limit=6)[0]
    fused = hybrid_client.search("c", q, anns_field="dense", limit=6, ranker=DBSFRanker())[0]
    assert [h["id"] for h in fused] == [h["id"] for h in plain]


def test_cli_fusion_specs():
    assert parse_fusion("rrf:20").dict() == {"strategy": "rrf", "params": {"k": 20}}
    assert parse_fusion("convex:0.7").dict()["params"]["weights"] == [0.7, pytest.approx(0.3)]
    assert parse_fusion(None).dict()["strategy"] == DEFAULT_FUSION.split(":")[0]
    assert parse_fusion_list("rrf, dbsf") == ["rrf", "dbsf"]
    for bad in ("nope", "rrf:x", "convex:2"):
        with pytest.raises(ParamError):
            parse_fusion(bad)
