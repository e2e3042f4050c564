"""pymilvus 3 search and query surface: search(ids=), ranker routing, order_by_fields,
query group_by_fields aggregates, upsert field_ops, iterator options, and the bugs of issue 11
(sparse ids near 2**32, offset without limit). Each checked against a plain Python reference."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from embedb import AnnSearchRequest, DataType, MilvusClient, ParamError, RRFRanker, WeightedRanker
from embedb.schema import Function, FunctionType

DIM = 4
N = 60


@pytest.fixture()
def client():
    rng = np.random.default_rng(7)
    c = MilvusClient(":memory:")
    s = c.create_schema(enable_dynamic_field=True)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("color", DataType.VARCHAR, max_length=8, nullable=True)
    s.add_field("price", DataType.INT64)
    s.add_field("w", DataType.DOUBLE, nullable=True)
    s.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=16)
    ip = c.prepare_index_params()
    ip.add_index("v", index_type="FLAT", metric_type="L2")
    c.create_collection("t", schema=s, index_params=ip)
    r = random.Random(3)
    rows = [{"id": i, "v": rng.random(DIM).astype(np.float32).tolist(),
             "color": r.choice(["red", "blue", "green", None]), "price": r.randint(1, 9),
             "w": r.choice([0.5, 1.5, None]), "tags": [i % 3, i % 5]} for i in range(N)]
    c.insert("t", rows)
    c.rows = rows
    yield c
    c.close()


def _ids(result):
    return [[h["id"] for h in hits] for hits in result]


def test_search_by_ids_equals_search_by_stored_vectors(client):
    keys = [5, 17, 42]
    by_ids = client.search("t", ids=keys, limit=5, output_fields=["price"])
    vectors = [client.rows[k]["v"] for k in keys]
    by_data = client.search("t", vectors, limit=5, output_fields=["price"])
    assert _ids(by_ids) == _ids(by_data)
    assert [hits[0]["id"] for hits in by_ids] == keys      # each key is its own best match
    # the server's errors
    with pytest.raises(ParamError, match="do not exist: missing IDs"):
        client.search("t", ids=[5, 10_000], limit=3)
    with pytest.raises(ParamError, match="not both"):
        client.search("t", [vectors[0]], ids=[5], limit=3)
    with pytest.raises(ParamError, match="Either data or ids"):
        client.search("t", limit=3)
    with pytest.raises(ParamError, match="duplicate IDs"):
        client.search("t", ids=[1, 2, 1], limit=3)
    with pytest.raises(ParamError, match="illegal"):
        client.search("t", ids=[], limit=3)
    with pytest.raises(ParamError, match="IDs type mismatch"):
        client.search("t", ids=["1"], limit=3)
    client.create_partition("t", "p")
    with pytest.raises(ParamError, match="missing IDs"):   # keys are looked up where searched
        client.search("t", ids=[5], limit=3, partition_names=["p"])


def test_search_order_by_fields_reorders_each_query(client):
    q = [client.rows[0]["v"], client.rows[1]["v"]]
    plain = client.search("t", q, limit=10, output_fields=["price"])
    ordered = client.search("t", q, limit=10, output_fields=["price"],
                            order_by_fields=[{"field": "price", "order": "desc"}])
    for p, o in zip(plain, ordered):
        assert sorted(h["id"] for h in p) == sorted(h["id"] for h in o)
        # stable: equal prices keep the distance order
        ref = sorted(p, key=lambda h: -h["entity"]["price"])
        assert [h["id"] for h in o] == [h["id"] for h in ref]


def test_ranker_routing(client):
    q = [client.rows[3]["v"]]
    plain = client.search("t", q, limit=8)
    rrf = Function("rrf", FunctionType.RERANK, [], params={"reranker": "rrf", "k": 10})
    fused = client.search("t", q, limit=8, ranker=rrf)
    assert _ids(fused) == _ids(plain)                       # one list: rank order is kept
    assert [h["distance"] for h in fused[0]] == pytest.approx([1 / (10 + r) for r in range(1, 9)])
    decay = Function("d", FunctionType.RERANK, ["price"],
                     params={"reranker": "decay", "function": "gauss", "origin": 0, "scale": 1})
    decayed = client.search("t", q, limit=3, ranker=decay)[0]   # tests/test_functions_rankers.py
    assert len(decayed) == 3 and [h["distance"] for h in decayed] == \
        sorted((h["distance"] for h in decayed), reverse=True)
    bogus = Function("b", FunctionType.RERANK, ["price"], params={"reranker": "invalid"})
    with pytest.raises(ParamError, match="unsupported reranker invalid"):
        client.search("t", q, limit=3, ranker=bogus)
    reqs = [AnnSearchRequest(q, "v", {}, 10), AnnSearchRequest([client.rows[4]["v"]], "v", {}, 10)]
    as_function = client.hybrid_search("t", reqs, rrf, limit=5)
    assert _ids(as_function) == _ids(client.hybrid_search("t", reqs, RRFRanker(10), limit=5))
    weighted = Function("w", FunctionType.RERANK, [],
                        params={"reranker": "weighted", "weights": [0.3, 0.7]})
    assert _ids(client.hybrid_search("t", reqs, weighted, limit=5)) == \
        _ids(client.hybrid_search("t", reqs, WeightedRanker(0.3, 0.7), limit=5))


def test_search_group_by_fields_one_field(client):
    q = [client.rows[9]["v"]]
    a = client.search("t", q, limit=3, group_by_fields=["price"], output_fields=["price"])
    b = client.search("t", q, limit=3, group_by_field="price", output_fields=["price"])
    assert _ids(a) == _ids(b)
    # several fields: one group per (price, color) combination, ranked by its best hit
    hits = client.search("t", q, limit=4, group_by_fields=["price", "color"], group_size=2,
                         output_fields=["price", "color"])[0]
    full = client.search("t", q, limit=N, output_fields=["price", "color"])[0]
    ref, groups = [], {}
    for h in full:
        key = (h["entity"]["price"], h["entity"]["color"])
        if key not in groups and len(groups) == 4:
            continue
        members = groups.setdefault(key, [])
        if len(members) < 2:
            members.append(h["id"])
    ref = [i for members in groups.values() for i in members]
    assert [h["id"] for h in hits] == ref


def test_query_order_by_fields(client):
    got = client.query("t", "id >= 0", output_fields=["color", "price"],
                       order_by_fields="price:desc,color:asc", limit=N)
    ref = sorted(client.rows, key=lambda r: r["id"])
    ref = sorted(ref, key=lambda r: (r["color"] is None, r["color"] or ""))
    ref = sorted(ref, key=lambda r: -r["price"])
    assert [r["id"] for r in got] == [r["id"] for r in ref]
    page = client.query("t", "", output_fields=["price"], order_by_fields=["price"], limit=5,
                        offset=10)
    assert [r["id"] for r in page] == [r["id"] for r in sorted(client.rows, key=lambda r: (r["price"], r["id"]))][10:15]
    with pytest.raises(ParamError, match="direction"):
        client.query("t", "", order_by_fields="price:sideways", limit=3)


def test_query_group_by_aggregates_match_reference(client):
    got = client.query("t", "price > 2", group_by_fields=["color"],
                       output_fields=["color", "count(*)", "count(w)", "sum(price)", "avg(w)",
                                      "min(price)", "max(price)"])
    groups: dict = {}
    for r in client.rows:
        if r["price"] > 2:
            groups.setdefault(r["color"], []).append(r)
    assert len(got) == len(groups)
    for g in got:
        members = groups[g["color"]]
        ws = [m["w"] for m in members if m["w"] is not None]
        assert g["count(*)"] == len(members)
        assert g["count(w)"] == len(ws)
        assert g["sum(price)"] == sum(m["price"] for m in members)
        assert g["min(price)"] == min(m["price"] for m in members)
        assert g["max(price)"] == max(m["price"] for m in members)
        assert (g["avg(w)"] is None and not ws) or math.isclose(g["avg(w)"], sum(ws) / len(ws))
    total = client.query("t", "", output_fields=["sum(price)", "count(*)"])
    assert total == [{"sum(price)": sum(r["price"] for r in client.rows), "count(*)": N}]
    top = client.query("t", "", group_by_fields=["price"], output_fields=["price", "count(*)"],
                       order_by_fields=[{"field": "price", "order": "desc"}], limit=2)
    prices = sorted({r["price"] for r in client.rows}, reverse=True)[:2]
    assert [g["price"] for g in top] == prices
    assert [g["count(*)"] for g in top] == [sum(r["price"] == p for r in client.rows) for p in prices]
    with pytest.raises(ParamError, match="ORDER BY can only reference GROUP BY columns"):
        client.query("t", "", output_fields=["sum(price)"], order_by_fields="price", limit=3)
    with pytest.raises(ParamError, match="neither"):
        client.query("t", "", group_by_fields=["color"], output_fields=["price"])


def test_query_offset_without_limit_is_ignored(client):
    assert sorted(r["id"] for r in client.query("t", filter="id in [0, 1]", offset=10)) == [0, 1]


def test_upsert_field_ops(client):
    pytest.importorskip("pymilvus")
    from pymilvus import FieldOp

    client.upsert("t", [{"id": 1, "tags": [7, 8]}, {"id": 2, "tags": [0, 2]}],
                  field_ops={"tags": FieldOp.array_append()})
    client.upsert("t", [{"id": 3, "tags": [0]}], field_ops={"tags": "array_remove"})
    got = {r["id"]: r for r in client.query("t", "id in [1, 2, 3]", output_fields=["tags", "price"])}
    rows = client.rows
    assert got[1]["tags"] == rows[1]["tags"] + [7, 8] and got[1]["price"] == rows[1]["price"]
    assert got[2]["tags"] == rows[2]["tags"] + [0, 2]
    assert got[3]["tags"] == [x for x in rows[3]["tags"] if x != 0]
    # a row without payload keeps its stored array
    client.upsert("t", [{"id": 4, "tags": None}, {"id": 5, "tags": [9]}],
                  field_ops={"tags": "array_append"})
    got = {r["id"]: r["tags"] for r in client.query("t", "id in [4, 5]", output_fields=["tags"])}
    assert got == {4: rows[4]["tags"], 5: rows[5]["tags"] + [9]}
    # the server's errors; nothing is written
    before = client.query("t", "id == 1", output_fields=["tags", "price"])
    for ops, row, message in [
        ({"price": "array_append"}, {"id": 1, "price": 3},
         'op ARRAY_APPEND requires Array field, but field "price" is Int64'),
        ({"id": "array_remove"}, {"id": 1}, "is the primary key and cannot carry"),
        ({"nope": "array_append"}, {"id": 1, "nope": [1]}, "nope"),
        ({"tags": "array_append"}, {"id": 1}, 'field "tags" not present in fields_data'),
        ({"tags": "prepend"}, {"id": 1, "tags": [1]}, "unknown field_op"),
        ({"tags": "array_append"}, {"id": 1, "tags": list(range(16))},
         "array length 20 exceeds max_capacity 16"),
    ]:
        with pytest.raises(ParamError, match=message):
            client.upsert("t", [row], field_ops=ops)
    assert client.query("t", "id == 1", output_fields=["tags", "price"]) == before


def test_search_iterator_options(client):
    q = [client.rows[0]["v"]]
    full = [h["id"] for h in client.search("t", q, limit=N, filter="price > 1")[0]]
    keep = [i for i in full if i % 2 == 0]
    it = client.search_iterator("t", q, batch_size=4, limit=np.int64(10), filter="price > {p}",
                                filter_params={"p": 1}, round_decimal=3,
                                external_filter_func=lambda hits: [h for h in hits if h["id"] % 2 == 0])
    batches = []
    while True:
        b = it.next()
        if not b:
            break
        batches.append(b)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert [h["id"] for b in batches for h in b] == keep[:10]
    assert all(round(h["distance"], 3) == h["distance"] for b in batches for h in b)
    with pytest.raises(ParamError, match="Offset"):
        client.search_iterator("t", q, offset=2)


def test_query_iterator_options(client):
    it = client.query_iterator("t", batch_size=7, limit=20, filter="price >= {p}",
                               filter_params={"p": 3}, output_fields=["price"], offset=2)
    got = [r["id"] for b in it for r in b]
    ref = sorted(r["id"] for r in client.rows if r["price"] >= 3)[2:22]
    assert got == ref


def test_sparse_ids_up_to_2_pow_32_minus_2():
    big = 2**32 - 2
    with MilvusClient(":memory:") as c:
        s = c.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("sv", DataType.SPARSE_FLOAT_VECTOR)
        c.create_collection("s", schema=s)
        vecs = {1: {0: 1.0, big: 0.5}, 2: {5: 2.0, big: 3.0}, 3: {7: 1.0}}
        c.insert("s", [{"id": k, "sv": v} for k, v in vecs.items()])
        ip = c.prepare_index_params()
        ip.add_index("sv", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        c.create_index("s", ip)      # used to allocate a 32 GiB column pointer array
        c.load_collection("s")
        query = {big: 1.0, 7: 2.0}
        ref = sorted(((sum(v.get(d, 0) * x for d, x in query.items()), k) for k, v in vecs.items()),
                     reverse=True)
        got = c.search("s", [query], limit=3, anns_field="sv")[0]
        assert [h["id"] for h in got] == [k for _, k in ref]
        assert [h["distance"] for h in got] == pytest.approx([s for s, _ in ref])
        c.insert("s", [{"id": 4, "sv": {big: 10.0}}])     # the tail after the index
        assert c.search("s", [query], limit=1, anns_field="sv")[0][0]["id"] == 4


def test_order_by_json_path_and_dynamic_key():
    with MilvusClient(":memory:") as c:
        s = c.create_schema(enable_dynamic_field=True)
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        s.add_field("meta", DataType.JSON)
        ip = c.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="L2")
        c.create_collection("j", schema=s, index_params=ip)
        ages = [31, None, 18, 44, 18, "n/a"]
        rows = [{"id": i, "v": [float(i), 0.0], "meta": {} if a is None else {"age": a},
                 "rank": 10 - i} for i, a in enumerate(ages)]
        c.insert("j", rows)
        q = [[0.0, 0.0]]
        hits = c.search("j", q, limit=6, order_by_fields='meta["age"]:asc')
        # numbers first, then strings, missing (NULL) last; ties keep the distance order
        assert [h["id"] for h in hits[0]] == [2, 4, 0, 3, 5, 1]
        hits = c.search("j", q, limit=6, order_by_fields=[{"field": "meta['age']", "order": "desc"}])
        assert [h["id"] for h in hits[0]] == [1, 5, 3, 0, 2, 4]      # DESC: NULLs first
        hits = c.search("j", q, limit=3, order_by_fields=[{"field": "rank", "order": "asc"}])
        assert [h["id"] for h in hits[0]] == [2, 1, 0]               # a dynamic key
        # the server orders query results by schema fields only
        for field in ('meta["age"]', "rank"):
            with pytest.raises(ParamError, match="does not exist in collection schema"):
                c.query("j", "", order_by_fields=[{"field": field}], limit=3)
        with pytest.raises(ParamError, match="has type JSON which is not sortable"):
            c.query("j", "", order_by_fields="meta", limit=3)
        with pytest.raises(ParamError, match="has unsortable type FloatVector"):
            c.search("j", q, limit=3, order_by_fields=[{"field": "v"}])
        with pytest.raises(ParamError, match="'field' key is required"):
            c.search("j", q, limit=3, order_by_fields=[{"order": "asc"}])


def test_order_by_nulls_directions_and_limits(client):
    key = lambda r: r["id"]  # noqa: E731
    rows = sorted(client.rows, key=key)
    with_w = [r for r in rows if r["w"] is not None]
    nulls = [r["id"] for r in rows if r["w"] is None]

    def ids(order):
        return [r["id"] for r in client.query("t", "", output_fields=["w"], order_by_fields=order,
                                                limit=N)]
    asc = [r["id"] for r in sorted(with_w, key=lambda r: r["w"])]
    desc = [r["id"] for r in sorted(with_w, key=lambda r: -r["w"])]
    assert ids([{"field": "w", "order": "ASCENDING"}]) == asc + nulls       # NULLS LAST
    assert ids([{"field": "w", "order": "Desc"}]) == nulls + desc          # NULLS FIRST
    assert ids(["w:asc:nulls_first"]) == nulls + asc
    assert ids(["w:desc:nulls_last"]) == desc + nulls
    with pytest.raises(ParamError, match="ORDER BY requires explicit limit"):
        client.query("t", "", order_by_fields="w")
    with pytest.raises(ParamError, match="invalid order direction 'up' for field 'w', must be"):
        client.query("t", "", order_by_fields=[{"field": "w", "order": "up"}], limit=2)
    with pytest.raises(ParamError, match="ORDER BY with iterator is not supported"):
        client.query_iterator("t", order_by_fields="w")
    with pytest.raises(ParamError, match="order_by is not supported when using search iterator"):
        client.search_iterator("t", [client.rows[0]["v"]], order_by_fields="w")


def _brand_reference(rows, q, n_buckets, per_bucket):
    """Buckets as the server builds them: the first n_buckets distinct brands in L2 order,
    each with its best per_bucket hits."""
    ranked = sorted((float(np.sum((np.asarray(r["v"]) - q) ** 2)), r["id"], r["color"])
                    for r in rows)
    groups: dict = {}
    for score, pk, color in ranked:
        if color not in groups:
            if len(groups) >= n_buckets:
                continue
            groups[color] = []
        if len(groups[color]) < per_bucket:
            groups[color].append((pk, score))
    return groups


@pytest.mark.parametrize("spec_from", ["embedb", "pymilvus"])
def test_search_aggregation_matches_reference(client, spec_from):
    if spec_from == "pymilvus":
        pm = pytest.importorskip("pymilvus")
        SA, TH = pm.SearchAggregation, pm.TopHits
    else:
        from embedb import SearchAggregation as SA, TopHits as TH
    q = np.asarray(client.rows[7]["v"])
    spec = SA(fields=["color"], size=3,
              metrics={"n": {"count": "*"}, "best": {"min": "_score"}, "avg_price": {"avg": "price"},
                       "n_w": {"count": "w"}},
              order=[{"_key": "asc"}], top_hits=TH(size=2, sort=[{"_score": "asc"}]))
    res = client.search("t", [q], limit=1, output_fields=["color"], search_aggregation=spec)
    assert len(res) == 1 and len(res[0]) == 0 and len(res.agg_buckets) == 1
    ref = _brand_reference(client.rows, q, 3, 2)
    by_id = {r["id"]: r for r in client.rows}
    buckets = res.agg_buckets[0]
    keys = [b.key[0]["value"] for b in buckets]
    assert keys == sorted(ref, key=lambda k: (k is None, k or ""))      # NULL is a bucket too
    for b in buckets:
        expected = ref[b.key[0]["value"]]
        assert b.key[0]["field_name"] == "color"
        assert [h.pk for h in b.hits] == [pk for pk, _ in expected]
        assert [h.score for h in b.hits] == pytest.approx([s for _, s in expected], rel=1e-5)
        assert all(h.fields == {"color": b.key[0]["value"]} for h in b.hits)
        assert b.count == b.metrics["n"] == len(expected)
        assert b.metrics["best"] == pytest.approx(expected[0][1], rel=1e-5)
        assert b.metrics["avg_price"] == pytest.approx(
            sum(by_id[pk]["price"] for pk, _ in expected) / len(expected))
        assert b.metrics["n_w"] == sum(by_id[pk]["w"] is not None for pk, _ in expected)


def test_search_aggregation_nesting_and_server_checks(client):
    from embedb import SearchAggregation as SA, TopHits as TH

    q = [client.rows[3]["v"]]
    res = client.search("t", q, search_aggregation=SA(
        ["color"], 2, order=[{"_count": "desc"}],
        sub_aggregation=SA(["price"], 2, top_hits=TH(1))))
    for bucket in res.agg_buckets[0]:
        assert 1 <= len(bucket.sub_groups) <= 2
        assert sum(s.count for s in bucket.sub_groups) <= bucket.count
        for sub in bucket.sub_groups:
            assert len(sub.hits) == 1
            assert client.rows[sub.hits[0].pk]["color"] == bucket.key[0]["value"]
            assert client.rows[sub.hits[0].pk]["price"] == sub.key[0]["value"]
    deep = SA(["color"], 1, sub_aggregation=SA(["price"], 1, sub_aggregation=SA(
        ["id"], 1, sub_aggregation=SA(["color"], 1, sub_aggregation=SA(["price"], 1)))))
    for kwargs, message in [
        ({"search_aggregation": deep}, "nesting exceeds max 4 levels"),
        ({"search_aggregation": SA(["nope"], 1)}, "not found in schema"),
        ({"search_aggregation": SA(["w"], 1)}, "FLOAT / DOUBLE fields are not supported"),
        ({"search_aggregation": SA(["color"], 50, sub_aggregation=SA(["price"], 50,
                                                                     top_hits=TH(5)))},
         "result entries is too large"),
        ({"search_aggregation": SA(["color"], 2), "group_by_field": "price"},
         "mutually exclusive"),
        ({"search_aggregation": SA(["color"], 2), "offset": 1}, "offset is not supported"),
    ]:
        with pytest.raises(ParamError, match=message):
            client.search("t", q, **kwargs)
    with pytest.raises(ParamError, match="must be a metric alias"):
        SA(["color"], 1, order=[{"unknown_metric": "desc"}])
    with pytest.raises(ParamError, match="TopHits.size must be a positive int"):
        TH(0)
