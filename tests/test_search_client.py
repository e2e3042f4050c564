"""search / indexes through MilvusClient against NumPy brute force written here."""

from __future__ import annotations

import copy
import pickle
import numpy as np
import pytest
from conftest import door_api, milvus_raises

from embedb import MilvusClient
from embedb.errors import MilvusException, ParamError
from embedb.schema import DataType

try:  # the engine's Database is being written in parallel; these tests run once it lands
    from embedb.engine import Database  # noqa: F401
except ImportError:
    pytest.skip("embedb.engine.Database is not available yet", allow_module_level=True)

DIM = 16
N = 1500


def clustered(n, seed, d=DIM, centres=30):
    rng = np.random.default_rng(seed)
    c = np.random.default_rng(99).standard_normal((centres, d)).astype(np.float32)
    return (c[rng.integers(0, centres, n)] + 0.3 * rng.standard_normal((n, d))).astype(np.float32)


def ref_dist(q, x, metric):
    q, x = q.astype(np.float64), x.astype(np.float64)
    if metric == "L2":
        return ((q[:, None] - x[None]) ** 2).sum(-1)
    if metric == "COSINE":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return q @ x.T


def ref_top(q, x, pks, metric, k, allowed=None):
    """Brute force: [(pk, distance)] per query in (distance, pk) order."""
    d = ref_dist(q, x, metric)
    out = []
    rows = np.arange(len(x)) if allowed is None else np.flatnonzero(allowed)
    for i in range(len(q)):
        key = -d[i, rows] if metric != "L2" else d[i, rows]
        order = np.lexsort((pks[rows], key))[:k]
        out.append([(int(pks[rows[j]]), float(d[i, rows[j]])) for j in order])
    return out


@pytest.fixture
def client(tmp_path, open_client):
    c = open_client(str(tmp_path / "s.db"))
    yield c
    c.close()


def make_collection(client, x, metric="COSINE", index_type="FLAT", params=None, name="c"):
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=x.shape[1])
    schema.add_field("tag", DataType.INT64)
    schema.add_field("label", DataType.VARCHAR, max_length=20)
    ip = client.prepare_index_params()
    ip.add_index("vec", index_type=index_type, metric_type=metric, params=params or {})
    client.create_collection(name, schema=schema, index_params=ip)
    pks = (np.arange(len(x)) * 7919) % 100003    # primary keys unrelated to row order
    client.insert(name, [{"pk": int(pks[i]), "vec": x[i], "tag": int(i % 100),
                          "label": f"l{i % 5}"} for i in range(len(x))])
    return pks


def ids(hits):
    return [h["pk"] for h in hits]


@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_flat_is_exact_with_filters_offset_round(client, metric):
    x = clustered(N, 1)
    q = clustered(5, 2)
    pks = make_collection(client, x, metric)
    res = client.search("c", q, limit=10, search_params={"metric_type": metric})
    truth = ref_top(q, x, pks, metric, 10)
    assert len(res) == 5
    for hits, t in zip(res, truth):
        assert ids(hits) == [p for p, _ in t]
        np.testing.assert_allclose([h["distance"] for h in hits], [d for _, d in t], rtol=1e-4, atol=1e-4)
        assert all(h["entity"] == {} for h in hits)
        assert isinstance(hits[0]["distance"], float)
    tags = np.arange(N) % 100
    res = client.search("c", q, limit=7, filter="tag < 10", offset=3, round_decimal=3)
    truth = ref_top(q, x, pks, metric, 10, allowed=tags < 10)
    for hits, t in zip(res, truth):
        assert ids(hits) == [p for p, _ in t[3:10]]
        assert [h.distance for h in hits] == [round(d, 3) for _, d in t[3:10]] or np.allclose(
            [h.distance for h in hits], [d for _, d in t[3:10]], atol=2e-3)


@pytest.mark.parametrize("index_type", ["HNSW", "AUTOINDEX", "IVF_FLAT", "IVF_SQ8", "IVF_PQ"])
def test_ann_recall_and_filtered_recall(client, index_type):
    x = clustered(3000, 3)
    q = clustered(20, 4)
    pks = make_collection(client, x, "L2", index_type)
    truth = ref_top(q, x, pks, "L2", 10)
    res = client.search("c", q, limit=10)
    rec = np.mean([len(set(ids(h)) & {p for p, _ in t}) / 10 for h, t in zip(res, truth)])
    assert rec >= 0.95
    tags = np.arange(len(x)) % 100
    for flt, allowed in (("tag == 7", tags == 7), ("tag < 10", tags < 10)):
        truth = ref_top(q, x, pks, "L2", 10, allowed)
        res = client.search("c", q, limit=10, filter=flt, output_fields=["tag"])
        for h, t in zip(res, truth):
            assert all(hit["entity"]["tag"] == 7 if flt == "tag == 7" else hit["tag"] < 10 for hit in h)
        rec = np.mean([len(set(ids(h)) & {p for p, _ in t}) / 10 for h, t in zip(res, truth)])
        assert rec >= 0.95


def test_read_your_writes_deletes_and_upserts(client, monkeypatch):
    from embedb.engine.index import manager

    monkeypatch.setattr(manager, "FOLD_ROWS", 300)
    x = clustered(2000, 5)
    pks = make_collection(client, x, "L2", "HNSW")
    d0 = client.describe_index("c", "vec")
    assert d0["indexed_rows"] == 2000 and d0["pending_index_rows"] == 0
    new = clustered(50, 6) + 5.0
    client.insert("c", [{"pk": 200000 + i, "vec": new[i], "tag": 1, "label": "n"} for i in range(50)])
    res = client.search("c", new[:5], limit=1)
    assert [h[0]["pk"] for h in res] == [200000 + i for i in range(5)]
    assert client.describe_index("c", "vec")["pending_index_rows"] == 50   # tail, not rebuilt
    # deletes are never returned
    client.delete("c", ids=[200000, 200001])
    res = client.search("c", new[:2], limit=3)
    assert not {200000, 200001} & {h["pk"] for hits in res for h in hits}
    # upsert moves pk 200002 to another vector: the old one must not come back
    client.upsert("c", [{"pk": 200002, "vec": x[0], "tag": 1, "label": "u"}])
    res = client.search("c", new[2:3], limit=5)
    assert 200002 not in ids(res[0])
    res = client.search("c", x[:1], limit=2, output_fields=["label"])
    assert {h["pk"] for h in res[0]} == {200002, int(pks[0])}
    # a large tail is folded into the index
    more = clustered(400, 7)
    client.insert("c", [{"pk": 300000 + i, "vec": more[i], "tag": 2, "label": "m"} for i in range(400)])
    client.search("c", more[:1], limit=1)
    d = client.describe_index("c", "vec")
    assert d["pending_index_rows"] == 0 and d["indexed_rows"] == d["total_rows"]


@pytest.mark.embedded_only("uses embedb ranker objects and result types, which pymilvus does not take or return")
def test_result_shape_and_errors(client):
    x = clustered(200, 8)
    make_collection(client, x, "COSINE", "HNSW")
    hits = client.search("c", [x[0].tolist()], limit=3, output_fields=["tag", "label"])[0]
    h = hits[0]
    assert set(h.keys()) == {"pk", "distance", "entity"}
    assert set(h["entity"]) == {"tag", "label"}
    assert h.id == h["pk"] and h.distance == h.score == h["distance"]
    assert h.tag == h["tag"] == h["entity"]["tag"]
    # hits are plain dicts underneath: copies, pickles and added keys keep .id and the shape
    h["note"] = "x"
    assert h.id == h["pk"]
    for clone in (copy.deepcopy(h), pickle.loads(pickle.dumps(h))):
        assert type(clone) is type(h) and clone == h and clone.id == h.id
        assert clone.distance == h.distance and clone.entity == h.entity
    no_fields = client.search("c", [x[0].tolist()], limit=2)[0]
    assert [hit["entity"] for hit in no_fields] == [{}, {}]
    assert no_fields[0]["entity"] is not no_fields[1]["entity"]   # never one shared dict
    with milvus_raises(ParamError, match="metric_type"):
        client.search("c", [x[0]], search_params={"metric_type": "L2"})
    with milvus_raises(ParamError, match="dim"):
        client.search("c", [[1.0, 2.0]])
    with milvus_raises(ParamError, match="empty"):
        client.search("c", [])
    with milvus_raises(ParamError, match="16384"):
        client.search("c", [x[0]], limit=20000)
    with milvus_raises(MilvusException):
        client.search("c", [x[0]], filter="tag > ")


@pytest.mark.parametrize("metric", ["L2", "COSINE"])
def test_range_search_returns_exactly_the_range(client, metric):
    x = clustered(N, 9)
    q = clustered(3, 10)
    pks = make_collection(client, x, metric, "FLAT")
    d = ref_dist(q, x, metric)
    lo, hi = np.quantile(d, 0.05), np.quantile(d, 0.15)
    radius, rf = (hi, lo) if metric == "L2" else (lo, hi)
    res = client.search("c", q, limit=16384, search_params={
        "metric_type": metric, "params": {"radius": float(radius), "range_filter": float(rf)}})
    for i, hits in enumerate(res):
        inside = (d[i] >= rf) & (d[i] < radius) if metric == "L2" else (d[i] > radius) & (d[i] <= rf)
        edge = np.isclose(d[i], radius, atol=1e-4) | np.isclose(d[i], rf, atol=1e-4)
        got = set(ids(hits)) - set(pks[edge].tolist())
        assert got == set(pks[inside & ~edge].tolist())


def test_range_search_on_hnsw(client):
    x = clustered(N, 11)
    q = clustered(3, 12)
    pks = make_collection(client, x, "L2", "HNSW")
    d = ref_dist(q, x, "L2")
    radius = float(np.quantile(d, 0.02))
    res = client.search("c", q, limit=50, search_params={"params": {"radius": radius}})
    for i, hits in enumerate(res):
        assert all(h["distance"] < radius for h in hits)
        truth = ref_top(q[i:i + 1], x, pks, "L2", 50, allowed=d[i] < radius)[0]
        assert len(set(ids(hits)) & {p for p, _ in truth}) >= 0.9 * len(truth)


def test_group_by_matches_reference(client):
    x = clustered(N, 13)
    q = clustered(3, 14)
    pks = make_collection(client, x, "L2", "FLAT")
    labels = np.array([f"l{i % 5}" for i in range(N)])
    tags = np.arange(N) % 100
    for field, values, gsize in (("label", labels, 2), ("tag", tags, 3)):
        res = client.search("c", q, limit=4, group_by_field=field, group_size=gsize,
                            strict_group_size=True)
        full = ref_top(q, x, pks, "L2", N)
        row_of = {int(p): i for i, p in enumerate(pks)}
        for hits, order in zip(res, full):
            groups: dict = {}
            for p, _ in order:
                g = values[row_of[p]]
                if g in groups or len(groups) < 4:
                    groups.setdefault(g, [])
                    if len(groups[g]) < gsize:
                        groups[g].append(p)
            expected = [p for g in groups.values() for p in g]
            assert ids(hits) == expected
            assert all(h["entity"][field] == values[row_of[h["pk"]]] for h in hits)


def test_hybrid_rrf_and_weighted_match_reference(client):
    api = door_api(client)
    AnnSearchRequest, RRFRanker, WeightedRanker = api.AnnSearchRequest, api.RRFRanker, api.WeightedRanker

    x1, x2 = clustered(800, 15), clustered(800, 16, d=8)
    schema = client.create_schema()
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("a", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("b", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("tag", DataType.INT64)
    ip = client.prepare_index_params()
    ip.add_index("a", index_type="FLAT", metric_type="COSINE")
    ip.add_index("b", index_type="FLAT", metric_type="L2")
    client.create_collection("h", schema=schema, index_params=ip)
    pks = np.arange(800) * 3 + 1
    client.insert("h", [{"pk": int(pks[i]), "a": x1[i], "b": x2[i], "tag": i % 10} for i in range(800)])
    qa, qb = clustered(4, 17), clustered(4, 18, d=8)
    reqs = [AnnSearchRequest(qa, "a", {"metric_type": "COSINE"}, 20),
            AnnSearchRequest(qb, "b", {"metric_type": "L2"}, 15, expr="tag < 5")]
    ra = ref_top(qa, x1, pks, "COSINE", 20)
    rb = ref_top(qb, x2, pks, "L2", 15, allowed=np.arange(800) % 10 < 5)

    def fuse(score_a, score_b):
        out = []
        for la, lb in zip(ra, rb):
            s: dict = {}
            for rank, (p, d) in enumerate(la, 1):
                s[p] = s.get(p, 0) + score_a(rank, d)
            for rank, (p, d) in enumerate(lb, 1):
                s[p] = s.get(p, 0) + score_b(rank, d)
            out.append(sorted(s.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
        return out

    res = client.hybrid_search("h", reqs, RRFRanker(30), limit=10)
    exp = fuse(lambda r, d: 1 / (30 + r), lambda r, d: 1 / (30 + r))
    for hits, e in zip(res, exp):
        assert ids(hits) == [p for p, _ in e]
        np.testing.assert_allclose([h.distance for h in hits], [s for _, s in e], rtol=1e-6)
    res = client.hybrid_search("h", reqs, WeightedRanker(0.7, 0.3), limit=10, output_fields=["tag"])
    exp = fuse(lambda r, d: 0.7 * (1 + d) / 2, lambda r, d: 0.3 * (1 - 2 * np.arctan(d) / np.pi))
    for hits, e in zip(res, exp):
        assert ids(hits) == [p for p, _ in e]
        np.testing.assert_allclose([h.distance for h in hits], [s for _, s in e], rtol=1e-4)
        assert all("tag" in h["entity"] for h in hits)


def test_search_iterator_walks_the_exact_order_with_ties(client):
    x = clustered(300, 19)
    x[100:140] = x[0]          # 41 identical vectors: ties must come out by pk, once each
    pks = make_collection(client, x, "L2", "FLAT")
    it = client.search_iterator("c", x[:1], batch_size=17, limit=120, output_fields=["tag"])
    got = []
    while True:
        batch = it.next()
        if not batch:
            break
        assert len(batch) <= 17
        got.extend(ids(batch))
    it.close()
    truth = [p for p, _ in ref_top(x[:1], x, pks, "L2", 120)[0]]
    assert got == truth
    assert len(set(got)) == 120


def test_persisted_index_is_loaded_not_rebuilt(tmp_path):
    path = str(tmp_path / "p.db")
    c = MilvusClient(path)
    x = clustered(1200, 20)
    make_collection(c, x, "COSINE", "HNSW")
    before = c.search("c", x[:3], limit=5)
    c.close()
    c = MilvusClient(path)
    from embedb.engine.index.manager import indexes_of

    coll = c._collection("c")
    entry = indexes_of(coll).for_field("vec")
    assert entry.impl is not None and entry.impl.ntotal == 1200   # loaded from disk, no search yet
    c.load_collection("c")
    after = c.search("c", x[:3], limit=5)
    assert [ids(h) for h in before] == [ids(h) for h in after]
    assert c.describe_index("c", "vec")["index_type"] == "HNSW"
    c.close()


def test_index_admin(client):
    x = clustered(300, 21)
    make_collection(client, x, "L2", "IVF_FLAT", {"nlist": 16})
    assert client.list_indexes("c") == ["vec"]
    assert client.list_indexes("c", field_name="tag") == []
    d = client.describe_index("c", "vec")
    # over the wire build parameters come back as text, as from a Milvus server
    assert (d["index_type"], d["metric_type"], int(d["nlist"]), d["field_name"]) == ("IVF_FLAT", "L2", 16, "vec")
    assert d["total_rows"] == 300 and d["state"] == "Finished"
    ip = client.prepare_index_params()
    ip.add_index("vec", index_type="HNSW", metric_type="L2")
    with milvus_raises(ParamError, match="one distinct index"):
        client.create_index("c", ip)
    with milvus_raises(ParamError, match="released|release"):
        client.drop_index("c", "vec")
    client.release_collection("c")
    client.drop_index("c", "vec")
    assert client.list_indexes("c") == []
    client.create_index("c", ip)
    assert client.describe_index("c", "vec")["index_type"] == "HNSW"
    bad = MilvusClient.prepare_index_params()
    bad.add_index("vec", index_type="BIN_FLAT", metric_type="L2")
    with milvus_raises(ParamError, match="valid"):
        client.create_index("c", bad)
    bad = client.prepare_index_params()
    bad.add_index("vec", index_type="HNSW", metric_type="HAMMING", index_name="other")
    with milvus_raises(ParamError):
        client.create_index("c", bad)


def test_threads_search_while_writing(client, monkeypatch):
    import threading

    from embedb.engine.index import manager

    monkeypatch.setattr(manager, "FOLD_ROWS", 200)
    x = clustered(1500, 22)
    make_collection(client, x, "L2", "HNSW")
    errors = []
    extra = clustered(1000, 23) + 3.0

    def writer():
        try:
            for s in range(0, 1000, 100):
                client.insert("c", [{"pk": 500000 + i, "vec": extra[i], "tag": 0, "label": "w"}
                                    for i in range(s, s + 100)])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader():
        try:
            for i in range(30):
                res = client.search("c", x[i:i + 2], limit=5)
                assert all(len(h) == 5 for h in res)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    res = client.search("c", extra[-3:], limit=1)
    assert [h[0]["pk"] for h in res] == [500997, 500998, 500999]


def test_group_by_and_iterator_on_hnsw(client):
    x = clustered(2000, 24)
    make_collection(client, x, "COSINE", "HNSW")
    res = client.search("c", x[:2], limit=3, group_by_field="label", group_size=2, offset=1)
    for hits in res:
        labels = [h["entity"]["label"] for h in hits]
        assert len(hits) == 6 and len(set(labels)) == 3
        assert all(labels.count(v) == 2 for v in set(labels))
    it = client.search_iterator("c", x[:1], batch_size=300, limit=-1)
    seen = []
    while batch := it.next():
        seen.extend(ids(batch))
    assert len(seen) == len(set(seen)) == 2000
