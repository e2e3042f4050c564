"""Function rankers (Function(..., FunctionType.RERANK)): decay (gauss, exp, linear; numeric and
TIMESTAMPTZ fields), boost, model rerankers with a tiny local cross-encoder built by the test,
and several in one FunctionScore — each against a written-out reference on small data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embedb import (AnnSearchRequest, DataType, Function, FunctionScore, FunctionType,
                    MilvusClient)
from embedb.errors import MilvusException

N = 24
VECS = np.random.default_rng(4).normal(size=(N, 4)).astype(np.float32)
WORDS = ["alan turing born london", "paris capital france", "quick brown fox dog",
         "machine learning model", "chess program logic", "cat sat mat"]


def ref_decay(kind, v, origin, scale, offset=0.0, decay=0.5):
    """The Milvus docs' formulas, one value at a time."""
    d = max(0.0, abs(v - origin) - offset)
    if kind == "gauss":
        sigma2 = -scale ** 2 / (2 * math.log(decay))
        return math.exp(-d ** 2 / (2 * sigma2))
    if kind == "exp":
        return math.exp(math.log(decay) / scale * d)
    s = scale / (1 - decay)
    return max(0.0, (s - d) / s)


def start(metric, d):
    return 1 - 2 * math.atan(d) / math.pi if metric == "L2" else d


def expected(pairs, limit):
    return sorted(pairs, key=lambda p: (-p[1], p[0]))[:limit]


@pytest.fixture(params=["L2", "COSINE"])
def coll(request, tmp_path):
    metric = request.param
    c = MilvusClient(str(tmp_path / "r.db"))
    s = c.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("price", DataType.DOUBLE, nullable=True)
    s.add_field("ts", DataType.TIMESTAMPTZ)
    s.add_field("text", DataType.VARCHAR, max_length=200)
    idx = c.prepare_index_params()
    idx.add_index("v", index_type="FLAT", metric_type=metric)
    c.create_collection("c", schema=s, index_params=idx)
    c.insert("c", [{"id": i, "v": VECS[i].tolist(), "price": None if i == 5 else float(i * 3 % 17),
                    "ts": f"2025-01-{1 + i:02d}T00:00:00Z", "text": WORDS[i % len(WORDS)]}
                   for i in range(N)])
    yield c, metric
    c.close()


def decay_fn(kind, field="price", **params):
    return Function("d", FunctionType.RERANK, [field],
                    params={"reranker": "decay", "function": kind, **params})


@pytest.mark.parametrize("kind", ["gauss", "exp", "linear"])
@pytest.mark.parametrize("params", [dict(origin=8, scale=4), dict(origin=3, scale=6, offset=2, decay=0.3)])
def test_decay_matches_the_formulas(coll, kind, params):
    c, metric = coll
    q = VECS[0] * 0.5 + 0.1
    plain = c.search("c", [q.tolist()], anns_field="v", limit=10, output_fields=["price"])[0]
    got = c.search("c", [q.tolist()], anns_field="v", limit=10, ranker=decay_fn(kind, **params))[0]
    ref = []
    for h in plain:
        price = h["entity"]["price"]
        factor = 0.0 if price is None else ref_decay(kind, price, **params)
        ref.append((h["id"], start(metric, h["distance"]) * factor))
    want = expected(ref, 10)
    assert [h["id"] for h in got] == [i for i, _ in want]
    np.testing.assert_allclose([h["distance"] for h in got], [s for _, s in want], rtol=1e-5, atol=1e-9)


def test_decay_on_timestamptz(coll):
    c, metric = coll
    q = VECS[3].tolist()
    fn = decay_fn("exp", "ts", origin="2025-01-20T00:00:00Z", scale="P3D", offset="P1D", decay=0.4)
    plain = c.search("c", [q], anns_field="v", limit=8)[0]
    got = c.search("c", [q], anns_field="v", limit=8, ranker=fn)[0]
    day = 86400e6
    ref = [(h["id"], start(metric, h["distance"]) *
            ref_decay("exp", (h["id"] + 1) * day, 20 * day, 3 * day, 1 * day, 0.4)) for h in plain]
    want = expected(ref, 8)
    assert [h["id"] for h in got] == [i for i, _ in want]
    np.testing.assert_allclose([h["distance"] for h in got], [s for _, s in want], rtol=1e-5)


def test_hybrid_decay_uses_each_rows_best_score(coll):
    c, metric = coll
    qa, qb = VECS[1].tolist(), VECS[7].tolist()
    reqs = [AnnSearchRequest([qa], "v", {}, 6), AnnSearchRequest([qb], "v", {}, 6)]
    best: dict = {}
    for r in reqs:
        for h in c.search("c", r.data, anns_field="v", limit=6, output_fields=["price"])[0]:
            s = start(metric, h["distance"])
            price = h["entity"]["price"]
            best[h["id"]] = (max(s, best.get(h["id"], (-1e9,))[0]), price)
    ref = [(i, s * (0.0 if p is None else ref_decay("linear", p, 10, 5))) for i, (s, p) in best.items()]
    got = c.hybrid_search("c", reqs, decay_fn("linear", origin=10, scale=5), limit=7)[0]
    want = expected(ref, 7)
    assert [h["id"] for h in got] == [i for i, _ in want]


@pytest.mark.parametrize("mode", ["multiply", "sum"])
def test_boost_and_a_chain_of_functions(coll, mode):
    c, metric = coll
    q = VECS[2].tolist()
    boost = Function("b", FunctionType.RERANK, [], params={"reranker": "boost",
                                                            "filter": "id % 2 == 0", "weight": 1.5})
    gauss = decay_fn("gauss", origin=5, scale=10)
    plain = c.search("c", [q], anns_field="v", limit=10, output_fields=["price"])[0]
    got = c.search("c", [q], anns_field="v", limit=10,
                   ranker=FunctionScore([boost, gauss], params={"boost_mode": mode}))[0]
    ref = []
    for h in plain:   # decay first, then the boosts (Elasticsearch function_score style)
        p = h["entity"]["price"]
        s = start(metric, h["distance"]) * (0.0 if p is None else ref_decay("gauss", p, 5, 10))
        if h["id"] % 2 == 0:
            s = s * 1.5 if mode == "multiply" else s + 1.5
        ref.append((h["id"], s))
    want = expected(ref, 10)
    assert [h["id"] for h in got] == [i for i, _ in want]
    np.testing.assert_allclose([h["distance"] for h in got], [s for _, s in want], rtol=1e-5, atol=1e-9)
    with pytest.raises(MilvusException, match="boost ranker cannot rank a hybrid_search"):
        c.hybrid_search("c", [AnnSearchRequest([q], "v", {}, 3)], boost, limit=3)


@pytest.mark.parametrize("function_mode", ["multiply", "sum"])
def test_two_boosts_and_random_score(coll, function_mode):
    c, metric = coll
    q = VECS[5].tolist()
    a = Function("a", FunctionType.RERANK, [], params={"reranker": "boost", "filter": "id < 12",
                                                        "weight": 2.0})
    b = Function("b", FunctionType.RERANK, [], params={"reranker": "boost", "filter": "id % 3 == 0",
                                                        "weight": 0.5})
    plain = c.search("c", [q], anns_field="v", limit=12)[0]
    got = c.search("c", [q], anns_field="v", limit=12,
                   ranker=FunctionScore([a, b], params={"function_mode": function_mode}))[0]
    ref = []
    for h in plain:
        hits = [w for cond, w in ((h["id"] < 12, 2.0), (h["id"] % 3 == 0, 0.5)) if cond]
        factor = (math.prod(hits) if function_mode == "multiply" else sum(hits)) if hits else 1.0
        ref.append((h["id"], start(metric, h["distance"]) * factor))
    want = expected(ref, 12)
    assert [h["id"] for h in got] == [i for i, _ in want]
    np.testing.assert_allclose([h["distance"] for h in got], [s for _, s in want], rtol=1e-5, atol=1e-9)
    # random_score: weight times a number in [0, 1) fixed by the seed and the row's id
    rnd = Function("r", FunctionType.RERANK, [], params={
        "reranker": "boost", "weight": 1.0, "random_score": {"seed": 7, "field": "id"}})
    one = c.search("c", [q], anns_field="v", limit=12, ranker=rnd)[0]
    two = c.search("c", [q], anns_field="v", limit=12, ranker=rnd)[0]
    assert [h["id"] for h in one] == [h["id"] for h in two]
    plain_score = {h["id"]: start(metric, h["distance"]) for h in plain}
    factors = [h["distance"] / plain_score[h["id"]] for h in one if plain_score[h["id"]] != 0]
    assert all(0.0 <= f < 1.0 for f in factors) and len(set(np.round(factors, 6))) > 1
    other = Function("r", FunctionType.RERANK, [], params={
        "reranker": "boost", "weight": 1.0, "random_score": {"seed": 8, "field": "id"}})
    assert [h["distance"] for h in c.search("c", [q], anns_field="v", limit=12, ranker=other)[0]] \
        != [h["distance"] for h in one]


@pytest.mark.parametrize("params, field, match", [
    ({"function": "cubic", "origin": 1, "scale": 1}, "price", "gauss"),
    ({"function": "gauss", "origin": 1, "scale": 0}, "price", "scale"),
    ({"function": "gauss", "origin": 1, "scale": 1, "decay": 1}, "price", "decay"),
    ({"function": "gauss", "origin": 1, "scale": 1}, "text", "numeric"),
    ({"function": "gauss", "scale": 1}, "price", "origin"),
])
def test_decay_errors(coll, params, field, match):
    c, _ = coll
    with pytest.raises(MilvusException, match=match):
        c.search("c", [VECS[0].tolist()], anns_field="v", limit=3,
                 ranker=Function("d", FunctionType.RERANK, [field], params={"reranker": "decay", **params}))


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("sentence_transformers")
    from test_model_local_fixtures import build_bert

    return build_bert(tmp_path_factory.mktemp("ce"), kind="sequence-classification", seed=3,
                      num_labels=1)


def test_model_ranker_scores_hits_with_the_cross_encoder(coll, cross_encoder):
    from embedb.model.reranker import CrossEncoderRerankFunction

    c, _ = coll
    queries = ["where was turing born", "the fox"]
    fn = Function("m", FunctionType.RERANK, ["text"],
                  params={"reranker": "model", "provider": "local",
                          "model_name": str(cross_encoder), "queries": queries})
    data = [VECS[0].tolist(), VECS[9].tolist()]
    plain = c.search("c", data, anns_field="v", limit=8, output_fields=["text"])
    got = c.search("c", data, anns_field="v", limit=5, ranker=fn)
    ref_model = CrossEncoderRerankFunction(str(cross_encoder))
    for q, hits, out in zip(queries, plain, got):
        texts = [h["entity"]["text"] for h in hits[:5]]
        scored = ref_model(q, texts, top_k=len(texts))
        want = sorted(((hits[r.index]["id"], r.score) for r in scored), key=lambda p: (-p[1], p[0]))
        assert [h["id"] for h in out] == [i for i, _ in want]
        np.testing.assert_allclose([h["distance"] for h in out], [s for _, s in want], rtol=1e-4)
    with pytest.raises(MilvusException, match="one query text per search query"):
        c.search("c", data[:1], anns_field="v", limit=3, ranker=fn)


def test_pymilvus_rerank_functions_through_embedb_serve_equal_in_process():
    """dbsf / convex fusion and decay rankers sent by pymilvus reach the same engine code."""
    pymilvus = pytest.importorskip("pymilvus")
    import embedb

    def program(c, dt, fn_cls, ft, req_cls):
        s = c.create_schema(auto_id=False)
        s.add_field("id", dt.INT64, is_primary=True)
        s.add_field("v", dt.FLOAT_VECTOR, dim=4)
        s.add_field("p", dt.DOUBLE)
        idx = c.prepare_index_params()
        idx.add_index("v", index_type="FLAT", metric_type="L2")
        c.create_collection("t", schema=s, index_params=idx)
        c.insert("t", [{"id": i, "v": VECS[i].tolist(), "p": float(i)} for i in range(N)])
        reqs = [req_cls([VECS[0].tolist()], "v", {}, 8), req_cls([VECS[1].tolist()], "v", {}, 8)]
        out = []
        for params in ({"reranker": "dbsf"}, {"reranker": "convex", "weights": [0.7, 0.3]}):
            hits = c.hybrid_search("t", reqs, fn_cls("f", ft.RERANK, [], params=params), limit=5)
            out.append([(h["id"], round(h["distance"], 4)) for h in hits[0]])
        decay = fn_cls("d", ft.RERANK, ["p"], params={"reranker": "decay", "function": "exp",
                                                      "origin": 10, "scale": 5})
        out.append([(h["id"], round(h["distance"], 4)) for h in
                    c.search("t", [VECS[2].tolist()], anns_field="v", limit=5, ranker=decay)[0]])
        out.append([(h["id"], round(h["distance"], 4)) for h in
                    c.hybrid_search("t", reqs, decay, limit=5)[0]])
        return out

    with embedb.serve_in_thread(":memory:") as uri:
        wire_client = pymilvus.MilvusClient(uri=uri)
        wire = program(wire_client, pymilvus.DataType, pymilvus.Function, pymilvus.FunctionType,
                       pymilvus.AnnSearchRequest)
        wire_client.close()
    with MilvusClient(":memory:") as local:
        here = program(local, DataType, Function, FunctionType, AnnSearchRequest)
    assert wire == here and all(len(x) == 5 for x in here)
