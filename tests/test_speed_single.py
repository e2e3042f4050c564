"""The plain-call fast path of search (engine/search_fast.py) gives the general path's answer.

Data with many exact ties (each vector stored under several primary keys, keys shuffled), for
every float metric (L2, IP, COSINE) on FLAT, HNSW and IVF_FLAT, and binary vectors
(HAMMING, JACCARD): the client's plain search (the fast path) against the engine's general
``search`` (ids and distances identical), against an exact NumPy reference with ties by primary
key (exact kinds), and one query against the same query inside a batch.
"""

from __future__ import annotations

import numpy as np
import pytest

import embedb
from embedb.engine import search as engine_search
from embedb.engine.search_fast import plain_search

DIM = 16
N = 400
BASE = 60   # distinct vectors: every one is stored about N / BASE times


def _client_with(index_type, metric, dtype=embedb.DataType.FLOAT_VECTOR, dim=DIM, seed=4):
    rng = np.random.default_rng(seed)
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("tag", embedb.DataType.VARCHAR, max_length=20)
    schema.add_field("v", dtype, dim=dim)
    index = None
    if index_type is not None:
        index = client.prepare_index_params()
        params = {"HNSW": {"M": 8, "efConstruction": 40}, "IVF_FLAT": {"nlist": 4},
                  "BIN_IVF_FLAT": {"nlist": 4}}.get(index_type, {})
        index.add_index("v", index_type=index_type, metric_type=metric, params=params)
    client.create_collection("c", schema=schema, index_params=index)
    if dtype == embedb.DataType.BINARY_VECTOR:
        base = rng.integers(0, 256, (BASE, dim // 8)).astype(np.uint8)
    else:
        base = rng.standard_normal((BASE, dim)).astype(np.float32)
    which = rng.integers(0, BASE, N)
    ids = rng.permutation(100_000)[:N]   # primary keys unrelated to row order
    binary = dtype == embedb.DataType.BINARY_VECTOR
    rows = [{"id": int(ids[i]), "tag": f"t{i % 7}",
             "v": bytes(base[which[i]]) if binary else base[which[i]]} for i in range(N)]
    client.insert("c", rows)
    return client, base, which, ids


def _reference(base, which, ids, query, metric, k, alive=None):
    """Exact top-k by (distance, pk): distances per distinct vector, so copies tie exactly."""
    if metric == "HAMMING":
        d = np.unpackbits(base ^ query[None, :], axis=1).sum(1).astype(np.float64)
    elif metric == "JACCARD":
        inter = np.unpackbits(base & query[None, :], axis=1).sum(1)
        union = np.unpackbits(base | query[None, :], axis=1).sum(1)
        d = 1.0 - inter / np.maximum(union, 1)
    else:
        b, q = base.astype(np.float64), query.astype(np.float64)
        if metric == "COSINE":
            b = b / np.linalg.norm(b, axis=1, keepdims=True)
            q = q / np.linalg.norm(q)
        d = ((b - q) ** 2).sum(1) if metric == "L2" else -(b @ q)
    key = d[which]
    order = np.lexsort((ids, key))
    if alive is not None:
        order = order[alive[order]]
    return ids[order[:k]].tolist()


def _plain(client, queries, k, metric, **extra):
    return client.search("c", queries, limit=k, search_params={"metric_type": metric, **extra})


def _general(client, queries, k, metric, **extra):
    coll = client._loaded_collection("c")
    return engine_search.search(coll, queries, limit=k,
                                search_params={"metric_type": metric, **extra})


def _pairs(hits):
    return [(h.id, h["distance"], h["entity"]) for h in hits]


def _assert_same_hits(got, want):
    """The same hits in the same order (ids and entities exact), distances equal to a few
    float32 ulp (of values up to ~20: 2 ulp is 4e-6)."""
    assert [[(h.id, h["entity"]) for h in hits] for hits in got] == \
        [[(h.id, h["entity"]) for h in hits] for hits in want]
    for a, b in zip(got, want):
        np.testing.assert_allclose([h["distance"] for h in a], [h["distance"] for h in b],
                                   rtol=1e-6, atol=1e-5)


FLOAT_CASES = [(index_type, metric) for index_type in ("FLAT", "HNSW", "IVF_FLAT")
               for metric in ("L2", "IP", "COSINE")]


@pytest.mark.parametrize("index_type,metric", FLOAT_CASES)
def test_fast_path_equals_general_path_and_reference(index_type, metric):
    client, base, which, ids = _client_with(index_type, metric)
    coll = client._loaded_collection("c")
    exact = index_type == "FLAT"
    extra = {"params": {"ef": 64, "nprobe": 4}} if not exact else {}
    queries = [base[i] for i in range(0, BASE, 3)] + \
        [np.random.default_rng(1).standard_normal(DIM).astype(np.float32)]
    for k in (1, 7, 10, 25):
        # the plain call takes the fast path (None would mean the general path ran)
        assert plain_search(coll, [queries[0]], k, None, {"metric_type": metric, **extra}, None) \
            is not None
        batch = _plain(client, queries, k, metric, **extra)
        assert [_pairs(h) for h in batch] == \
            [_pairs(h) for h in _general(client, queries, k, metric, **extra)]
        for q, hits in zip(queries, batch):
            single = _plain(client, [q], k, metric, **extra)[0]
            assert _pairs(single) == _pairs(_general(client, [q], k, metric, **extra)[0])
            assert [h["id"] for h in single] == [h["id"] for h in hits]
            if exact:
                assert [h["id"] for h in single] == _reference(base, which, ids, q, metric, k)
            else:   # ANN: among the returned hits, equal distances come in primary-key order
                for a, b in zip(single, single[1:]):
                    assert a["distance"] != b["distance"] or a["id"] < b["id"]


@pytest.mark.parametrize("index_type,metric", [("BIN_FLAT", "HAMMING"), ("BIN_FLAT", "JACCARD"),
                                               ("BIN_IVF_FLAT", "HAMMING")])
def test_fast_path_binary_vectors(index_type, metric):
    client, base, which, ids = _client_with(index_type, metric, embedb.DataType.BINARY_VECTOR, 64)
    queries = [base[i] for i in range(0, BASE, 4)]
    extra = {"params": {"nprobe": 4}} if index_type == "BIN_IVF_FLAT" else {}
    for k in (5, 12):
        batch = _plain(client, queries, k, metric, **extra)
        assert [_pairs(h) for h in batch] == \
            [_pairs(h) for h in _general(client, queries, k, metric, **extra)]
        for q, hits in zip(queries, batch):
            single = _plain(client, [q], k, metric, **extra)[0]
            assert _pairs(single) == _pairs(hits)
            if index_type == "BIN_FLAT":
                assert [h["id"] for h in single] == _reference(base, which, ids, q, metric, k)


@pytest.mark.parametrize("index_type", ["FLAT", "HNSW"])
def test_fast_path_with_tombstones_output_fields_and_new_rows(index_type):
    client, base, which, ids = _client_with(index_type, "L2")
    coll = client._loaded_collection("c")
    extra = {"params": {"ef": 400}}   # HNSW ef >= rows: every row is visited (exact answers)
    q = base[5]
    client.delete("c", ids=[int(i) for i in ids[:150:3]])   # tombstones: a row mask
    alive = np.ones(N, dtype=bool)
    alive[:150:3] = False
    for k in (10, 30):
        got = _plain(client, [q], k, "L2", **extra)[0]
        assert _pairs(got) == _pairs(_general(client, [q], k, "L2", **extra)[0])
        assert [h["id"] for h in got] == _reference(base, which, ids, q, "L2", k, alive)
    # output fields: the same entities as the general path
    out = client.search("c", [q], limit=10, output_fields=["tag"], search_params={"metric_type": "L2", **extra})
    coll_out = engine_search.search(coll, [q], limit=10, output_fields=["tag"],
                                    search_params={"metric_type": "L2", **extra})
    assert _pairs(out[0]) == _pairs(coll_out[0]) and out[0][0]["entity"].keys() == {"tag"}
    # rows written after the first search (the index tail, a new snapshot) are found at once
    far = q + 50.0   # nearer to the new rows than to any old one
    client.insert("c", [{"id": 200_000 + i, "tag": "new", "v": far} for i in range(3)])
    got = _plain(client, [far], 5, "L2", **extra)[0]
    assert [h["id"] for h in got][:3] == [200_000, 200_001, 200_002]
    assert _pairs(got) == _pairs(_general(client, [far], 5, "L2", **extra)[0])
    # an upsert moves a key to a new row; a compaction renumbers every row (new generation)
    client.upsert("c", [{"id": int(ids[1]), "tag": "moved", "v": q}])
    client.compact("c")
    got = _plain(client, [q], 8, "L2", **extra)[0]
    assert _pairs(got) == _pairs(_general(client, [q], 8, "L2", **extra)[0])
    assert int(ids[1]) in [h["id"] for h in got][:4]


def test_fast_path_follows_index_and_schema_changes():
    client, base, which, ids = _client_with("FLAT", "COSINE")
    q = base[3]
    before = _plain(client, [q], 10, "COSINE")[0]
    client.release_collection("c")
    client.drop_index("c", "v")
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_index("c", index)
    client.load_collection("c")
    # the index's metric now rules: COSINE is refused by both paths alike, L2 is searched
    with pytest.raises(embedb.MilvusException, match="metric type not match"):
        client.search("c", [q], limit=10, search_params={"metric_type": "COSINE"})
    got = client.search("c", [q], limit=10)[0]
    assert [h["id"] for h in got] == _reference(base, which, ids, q, "L2", 10)
    assert [h["id"] for h in got] != [h["id"] for h in before] or \
        [h["distance"] for h in got] != [h["distance"] for h in before]
    # a field added to the schema (a new schema object): output fields see it
    client.add_collection_field("c", "extra", embedb.DataType.INT64, nullable=True)
    with_extra = client.search("c", [q], limit=10, anns_field="v", output_fields=["extra"])[0]
    assert [(h["id"], h["entity"]) for h in with_extra] == [(h["id"], {"extra": None}) for h in got]


def test_calls_that_are_not_plain_take_the_general_path():
    client, base, which, ids = _client_with("HNSW", "L2")
    coll = client._loaded_collection("c")
    q = [base[0]]
    for sp in ({"metric_type": "L2", "params": {"radius": 5.0}}, {"metric_type": "L2", "offset": 2},
               {"params": {"group_by_field": "tag"}}, {"metric_type": "L2", "params": {"ef": 0}}):
        assert plain_search(coll, q, 10, None, sp, None) is None
    assert plain_search(coll, q, True, None, None, None) is None      # not an int
    assert plain_search(coll, ["text"], 10, None, None, None) is None  # the general path words it
    # and the client gives the general path's answers and errors for them
    with pytest.raises(embedb.MilvusException, match="ef"):
        client.search("c", q, limit=10, search_params={"params": {"ef": 0}})
    with pytest.raises(embedb.MilvusException, match="topk"):
        client.search("c", q, limit=0)
    with pytest.raises(embedb.MilvusException, match="NaN"):
        client.search("c", [np.full(DIM, np.nan, dtype=np.float32)], limit=3)
    offset = client.search("c", q, limit=5, search_params={"metric_type": "L2", "params": {"ef": 64}},
                           offset=2)[0]
    full = client.search("c", q, limit=7, search_params={"metric_type": "L2", "params": {"ef": 64}})[0]
    assert _pairs(offset) == _pairs(full[2:])


@pytest.mark.parametrize("dtype", [embedb.DataType.FLOAT16_VECTOR, embedb.DataType.BFLOAT16_VECTOR])
@pytest.mark.parametrize("index_type", ["FLAT", "HNSW"])
def test_fast_path_half_precision_vectors(dtype, index_type):
    rng = np.random.default_rng(8)
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("v", dtype, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("v", index_type=index_type, metric_type="L2",
                    params={"M": 8, "efConstruction": 40} if index_type == "HNSW" else {})
    client.create_collection("c", schema=schema, index_params=index)
    base = rng.standard_normal((BASE, DIM)).astype(np.float32)
    which = rng.integers(0, BASE, N)
    client.insert("c", [{"id": int(i), "v": base[which[i]].tolist()} for i in range(N)])
    queries = [base[i] for i in range(0, BASE, 6)]
    extra = {"params": {"ef": 400}} if index_type == "HNSW" else {}
    batch = _plain(client, queries, 9, "L2", **extra)
    assert [_pairs(h) for h in batch] == [_pairs(h) for h in _general(client, queries, 9, "L2", **extra)]
    for q, hits in zip(queries, batch):
        single = _plain(client, [q], 9, "L2", **extra)[0]
        assert _pairs(single) == _pairs(_general(client, [q], 9, "L2", **extra)[0])
        assert [h.id for h in single] == [h.id for h in hits]   # distances: BLAS's 1 ulp apart


@pytest.mark.parametrize("index_type", ["FLAT", "HNSW"])
def test_fast_path_varchar_primary_keys_break_ties_in_string_order(index_type):
    rng = np.random.default_rng(11)
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False)
    schema.add_field("pk", embedb.DataType.VARCHAR, is_primary=True, max_length=16)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("v", index_type=index_type, metric_type="IP",
                    params={"M": 8, "efConstruction": 40} if index_type == "HNSW" else {})
    client.create_collection("c", schema=schema, index_params=index)
    base = rng.standard_normal((BASE, DIM)).astype(np.float32)
    which = rng.integers(0, BASE, N)
    names = np.array([f"k{int(x)}" for x in rng.permutation(100_000)[:N]])
    client.insert("c", [{"pk": str(names[i]), "v": base[which[i]]} for i in range(N)])
    extra = {"params": {"ef": 400}} if index_type == "HNSW" else {}
    queries = [base[i] for i in range(0, BASE, 5)]
    batch = _plain(client, queries, 12, "IP", **extra)
    # two batches of exact (FLAT) searches: BLAS may round them a few ulp apart (the vectors
    # a full read view and a snapshot hand it need not share alignment); ids exact, in order
    _assert_same_hits(batch, _general(client, queries, 12, "IP", **extra))
    for q, hits in zip(queries, batch):
        single = _plain(client, [q], 12, "IP", **extra)[0]
        assert _pairs(single) == _pairs(_general(client, [q], 12, "IP", **extra)[0])
        # (exact kernels: BLAS rounds one query and a batch apart by up to 1 ulp)
        assert [h["pk"] for h in single] == [h["pk"] for h in hits]
        if index_type == "FLAT":
            key = -(base.astype(np.float64) @ q.astype(np.float64))[which]
            order = sorted(range(N), key=lambda i: (key[i], names[i]))[:12]
            assert [h["pk"] for h in single] == [str(names[i]) for i in order]


def test_fast_path_after_reopening_a_database(tmp_path):
    """Columns mapped from a snapshot are checksum-verified on first use: the first search
    after opening takes the general path (a full read view verifies them), later ones the
    fast path, with the same answers."""
    rng = np.random.default_rng(5)
    path = str(tmp_path / "db")
    client = embedb.MilvusClient(path)
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="COSINE", params={"M": 8, "efConstruction": 40})
    client.create_collection("c", schema=schema, index_params=index)
    base = rng.standard_normal((BASE, DIM)).astype(np.float32)
    client.insert("c", [{"id": i, "v": base[i % BASE]} for i in range(N)])
    q = base[7]
    before = _plain(client, [q], 10, "COSINE")[0]
    client.close()
    client = embedb.MilvusClient(path)
    first, second = (_plain(client, [q], 10, "COSINE")[0] for _ in range(2))
    assert _pairs(first) == _pairs(second) == _pairs(before)
    client.close()


def test_fast_path_under_concurrent_writes_and_compaction():
    """Plain searches racing inserts, deletes, upserts and compactions (new generations, the
    index folding its tail in, tombstones appearing): every answer is whole (k distinct
    written ids, best first, ties by primary key) and nothing raises; once quiet, the fast
    path equals the general path."""
    import threading

    rng = np.random.default_rng(21)
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 40})
    client.create_collection("c", schema=schema, index_params=index)
    base = rng.standard_normal((BASE, DIM)).astype(np.float32)
    client.insert("c", [{"id": i, "v": base[i % BASE]} for i in range(N)])
    written = set(range(N))
    sp = {"metric_type": "L2", "params": {"ef": 64}}
    queries = [base[i] for i in range(BASE)]
    errors: list = []
    stop = threading.Event()

    def read(seed):
        r = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                hits = client.search("c", [queries[int(r.integers(BASE))]], limit=10, search_params=sp)[0]
                ids = [h.id for h in hits]
                assert len(ids) == 10 and len(set(ids)) == 10 and set(ids) <= written
                for a, b in zip(hits, hits[1:]):
                    assert a["distance"] < b["distance"] or \
                        (a["distance"] == b["distance"] and a.id < b.id)
        except Exception as exc:   # reported below, with the thread's traceback
            errors.append(exc)

    readers = [threading.Thread(target=read, args=(s,)) for s in range(2)]
    for t in readers:
        t.start()
    try:
        next_id = N
        for step in range(12):
            new = list(range(next_id, next_id + 40))
            written.update(new)   # before the insert: a reader may see them at once
            client.insert("c", [{"id": i, "v": base[i % BASE]} for i in new])
            next_id += 40
            client.delete("c", ids=[int(i) for i in rng.choice(next_id, 15, replace=False)])
            client.upsert("c", [{"id": int(i), "v": base[int(i) % BASE]} for i in rng.choice(N, 5)])
            if step % 4 == 3:
                client.compact("c")
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not errors, errors[0]
    for q in queries[:10]:
        assert _pairs(_plain(client, [q], 10, "L2", params={"ef": 64})[0]) == \
            _pairs(_general(client, [q], 10, "L2", params={"ef": 64})[0])


# ---------------------------------------------------------------- the unfiltered single-query lane
def _client_pk(index_type, metric, pk_type, seed=4):
    """_client_with's tie-laden data under an INT64 or a VARCHAR primary key."""
    rng = np.random.default_rng(seed)
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False)
    if pk_type == "varchar":
        schema.add_field("pk", embedb.DataType.VARCHAR, is_primary=True, max_length=16)
    else:
        schema.add_field("pk", embedb.DataType.INT64, is_primary=True)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("v", index_type=index_type, metric_type=metric,
                    params={"HNSW": {"M": 8, "efConstruction": 40}, "IVF_FLAT": {"nlist": 4}}[index_type])
    client.create_collection("c", schema=schema, index_params=index)
    base = rng.standard_normal((BASE, DIM)).astype(np.float32)
    which = rng.integers(0, BASE, N)
    keys = rng.permutation(100_000)[:N]
    pks = [f"k{int(x)}" for x in keys] if pk_type == "varchar" else [int(x) for x in keys]
    client.insert("c", [{"pk": pks[i], "v": base[which[i]]} for i in range(N)])
    return client, base


@pytest.mark.parametrize("pk_type", ["int64", "varchar"])
@pytest.mark.parametrize("index_type,metric", [(i, m) for i in ("HNSW", "IVF_FLAT")
                                               for m in ("L2", "IP", "COSINE")])
def test_unfiltered_lane_equals_general_path(index_type, metric, pk_type, monkeypatch):
    """One float32 query, no filter, no tombstone, an index covering every row: the lane
    (search_c on the index, no topk.select unless faiss's list has equal neighbours) answers,
    identical to the general path, ties by primary key included; whole-row ties are common in
    this data (each vector stored about N / BASE times), so both branches run."""
    from embedb.engine import search_fast

    client, base = _client_pk(index_type, metric, pk_type)
    extra = {"params": {"ef": 64, "nprobe": 4}}
    _plain(client, [base[0]], 3, metric, **extra)   # the first search builds the index
    fallbacks = []
    real_snapshot = search_fast.search_snapshot
    monkeypatch.setattr(search_fast, "search_snapshot",
                        lambda *a: fallbacks.append(a) or real_snapshot(*a))
    rng = np.random.default_rng(7)
    queries = [base[i] for i in range(0, BASE, 3)] + \
        [rng.standard_normal(DIM).astype(np.float32) for _ in range(5)] + \
        [np.zeros(DIM, dtype=np.float32), base[2] * np.float32(1e-20)]   # zero / underflowing norm
    tied = 0
    for k in (1, 7, 10, 25):
        for q in queries:
            got = _plain(client, [q], k, metric, **extra)[0]
            assert _pairs(got) == _pairs(_general(client, [q], k, metric, **extra)[0])
            assert len(got) == k
            dists = [h.distance for h in got]
            tied += sum(a == b for a, b in zip(dists, dists[1:]))
            for a, b in zip(got, got[1:]):   # best first, equal distances in primary-key order
                assert (a.distance > b.distance if metric != "L2" else a.distance < b.distance) \
                    or (a.distance == b.distance and a.id < b.id)
    assert tied > 0   # the tie branch ran
    assert fallbacks == []   # every call was answered by the lane
    plan = client._loaded_collection("c").extensions["search_fast.plans"][(None, metric)]
    assert plan.lane.ok and plan.lane.index() is plan.entry.impl
    # ... through faiss's C entry point of search_c (the builtin its Python method calls)
    assert plan.lane.faiss_cls is type(plan.entry.impl.index)
    assert type(plan.lane.search_c).__name__ == "builtin_function_or_method"


def test_raw_search_c_is_the_builtin_faiss_calls_or_the_method_itself():
    """The lane calls the SWIG builtin only where faiss's generated ``search_c`` is exactly
    ``return _swigfaiss.<Class>_search(self, ...)``; any other method is called as it is."""
    import faiss

    from embedb.engine.index.dense import raw_search_c as _raw_search_c

    for cls in (faiss.IndexHNSWFlat, faiss.IndexIVFFlat, faiss.IndexFlatIP):
        code = cls.search_c.__code__
        assert _raw_search_c(cls) is getattr(faiss._swigfaiss, code.co_names[1])

    class Wrapped(faiss.IndexHNSWFlat):
        def search_c(self, n, x, k, distances, labels, params=None):   # not faiss's own
            return super().search_c(n, x, k, distances, labels, params)

    assert _raw_search_c(Wrapped) is Wrapped.search_c


def test_unfiltered_lane_declines_what_it_does_not_cover(monkeypatch):
    """Tombstones, an index tail, a limit above the row count, a NaN or non-float32 query and
    a float16 field are left to the other paths, with the general path's answers."""
    from embedb.engine import search_fast

    client, base = _client_pk("HNSW", "L2", "int64")
    extra = {"params": {"ef": 400}}
    q = base[5]
    calls = []
    real_snapshot = search_fast.search_snapshot
    monkeypatch.setattr(search_fast, "search_snapshot",
                        lambda *a: calls.append(a) or real_snapshot(*a))
    _plain(client, [q], 10, "L2", **extra)
    assert calls   # the first search builds the index (the general route)
    calls.clear()
    _plain(client, [q], 10, "L2", **extra)
    assert calls == []   # then the lane
    got = _plain(client, [q], N + 5, "L2", **extra)[0]   # more than there are rows
    assert calls and _pairs(got) == _pairs(_general(client, [q], N + 5, "L2", **extra)[0])
    assert [_pairs(h) for h in _plain(client, [q.astype(np.float64)], 9, "L2", **extra)] == \
        [_pairs(h) for h in _general(client, [q.astype(np.float64)], 9, "L2", **extra)]
    with pytest.raises(embedb.MilvusException, match="NaN"):
        client.search("c", [np.full(DIM, np.nan, dtype=np.float32)], limit=3)
    with pytest.raises(embedb.MilvusException, match="ef"):
        client.search("c", [q], limit=3, search_params={"params": {"ef": 0}})
    client.insert("c", [{"pk": 500_000 + i, "v": q + 0.5} for i in range(3)])   # an index tail
    got = _plain(client, [q + 0.5], 6, "L2", **extra)[0]
    assert [h.id for h in got][:3] == [500_000, 500_001, 500_002]
    assert _pairs(got) == _pairs(_general(client, [q + 0.5], 6, "L2", **extra)[0])
    client.delete("c", ids=[500_000])   # a tombstone
    got = _plain(client, [q + 0.5], 6, "L2", **extra)[0]
    assert 500_000 not in [h.id for h in got]
    assert _pairs(got) == _pairs(_general(client, [q + 0.5], 6, "L2", **extra)[0])


def test_unfiltered_lane_follows_a_replaced_index_and_does_not_keep_it():
    """A new index object gets a new lane (its own faiss parameters and metric); a lane holds
    its index weakly, so a replaced index is freed once the plan moves on to the new one."""
    import gc
    import weakref

    from embedb.engine.index.manager import indexes_of

    def replace_index(index_type, metric, params):
        client.release_collection("c")
        client.drop_index("c", "v")
        index = client.prepare_index_params()
        index.add_index("v", index_type=index_type, metric_type=metric, params=params)
        client.create_index("c", index)
        client.load_collection("c")

    client, base = _client_pk("HNSW", "COSINE", "int64")
    coll = client._loaded_collection("c")
    q = base[9]
    for _ in range(2):   # the first search builds the index, the second takes the lane
        before = _plain(client, [q], 10, "COSINE", params={"ef": 32})[0]
    old = weakref.ref(indexes_of(coll).for_field("v").impl)
    assert coll.extensions["search_fast.plans"][(None, "COSINE")].lane.index() is old()
    replace_index("HNSW", "COSINE", {"M": 12, "efConstruction": 60})
    for _ in range(2):
        got = _plain(client, [q], 10, "COSINE", params={"ef": 32})[0]
        assert _pairs(got) == _pairs(_general(client, [q], 10, "COSINE", params={"ef": 32})[0])
    gc.collect()
    assert old() is None
    # another metric: a plan and lane of its own, the general path's answers
    replace_index("IVF_FLAT", "IP", {"nlist": 4})
    for _ in range(2):
        got = _plain(client, [q], 10, "IP", params={"nprobe": 4})[0]
        assert _pairs(got) == _pairs(_general(client, [q], 10, "IP", params={"nprobe": 4})[0])
    assert [h.id for h in got] != [h.id for h in before] or \
        [h.distance for h in got] != [h.distance for h in before]
    lane = coll.extensions["search_fast.plans"][(None, "IP")].lane
    assert lane.ok and not lane.cosine and lane.larger


def test_plans_of_a_replaced_index_do_not_keep_it():
    """A plan cached under one metric holds its index entry; once the field's index is replaced
    by one of another metric and searched, the old plan goes and the old index is freed."""
    import gc
    import weakref

    from embedb.engine.index.manager import indexes_of

    client, base = _client_pk("HNSW", "COSINE", "int64")
    coll = client._loaded_collection("c")
    for _ in range(2):
        _plain(client, [base[3]], 10, "COSINE", params={"ef": 32})
    old = weakref.ref(indexes_of(coll).for_field("v"))
    assert coll.extensions["search_fast.plans"][(None, "COSINE")].entry is old()
    client.release_collection("c")
    client.drop_index("c", "v")
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="IP", params={"M": 8, "efConstruction": 40})
    client.create_index("c", index)
    client.load_collection("c")
    got = _plain(client, [base[3]], 10, "IP", params={"ef": 32})[0]
    assert _pairs(got) == _pairs(_general(client, [base[3]], 10, "IP", params={"ef": 32})[0])
    gc.collect()
    assert (None, "COSINE") not in coll.extensions["search_fast.plans"]
    assert old() is None


@pytest.mark.parametrize("index_type,metric", [("HNSW", "COSINE"), ("HNSW", "L2"), ("HNSW", "IP"),
                                               ("IVF_FLAT", "COSINE")])
def test_unfiltered_lane_from_threads_equals_general_path(index_type, metric, monkeypatch):
    """The lane's arrays (the squared and normalised query, faiss's distances and rows) are
    made once per lane and used under the index's lock: four threads searching the same
    index at once, with several limits (so several output arrays) and ef values, each get
    exactly the general path's answer, ties by primary key included, every call on the lane."""
    import threading

    from embedb.engine import search_fast

    client, base = _client_pk(index_type, metric, "int64")
    extra = {"params": {"ef": 64, "nprobe": 4}}
    rng = np.random.default_rng(11)
    queries = [base[i] for i in range(BASE)] + \
        [rng.standard_normal(DIM).astype(np.float32) for _ in range(20)]
    cases = [(q, k, ef) for q in queries for k, ef in ((1, 16), (7, 64), (10, 32), (25, 64))]

    def params(ef):
        return {"params": {"ef": ef, "nprobe": 4}} if index_type == "HNSW" else {"params": {"nprobe": 4}}

    _plain(client, [base[0]], 3, metric, **extra)   # the first search builds the index
    want = [_pairs(_general(client, [q], k, metric, **params(ef))[0]) for q, k, ef in cases]
    fallbacks = []
    real_snapshot = search_fast.search_snapshot
    monkeypatch.setattr(search_fast, "search_snapshot",
                        lambda *a: fallbacks.append(a) or real_snapshot(*a))
    errors: list = []
    start = threading.Barrier(4)

    def run(offset):
        try:
            start.wait()
            for rep in range(3):
                for i in range(offset, offset + len(cases)):
                    j = i % len(cases)
                    q, k, ef = cases[j]
                    got = _pairs(_plain(client, [q], k, metric, **params(ef))[0])
                    assert got == want[j], (j, got, want[j])
        except Exception as exc:   # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s * 37,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert fallbacks == []   # every call took the lane


def test_unfiltered_lane_normalises_as_the_general_path(monkeypatch):
    """COSINE: the lane normalises the query in its own arrays (the squares, numpy's float32
    pairwise sum, the root rounded to float32 in a 0-d array, one division) bit for bit as
    ``dense.normalized`` does for the general path: ids and distances identical on random
    vectors of several sizes and scales, a zero vector and a norm that underflows, every call
    on the lane."""
    from embedb.engine import search_fast

    rng = np.random.default_rng(5)
    fallbacks = []
    real_snapshot = search_fast.search_snapshot
    monkeypatch.setattr(search_fast, "search_snapshot",
                        lambda *a: fallbacks.append(a) or real_snapshot(*a))
    for dim in (1, 3, 8, 17, 96, 128, 384, 1000):
        client = embedb.MilvusClient(":memory:")
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", embedb.DataType.INT64, is_primary=True)
        schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=dim)
        index = client.prepare_index_params()
        index.add_index("v", index_type="HNSW", metric_type="COSINE",
                        params={"M": 8, "efConstruction": 40})
        client.create_collection("c", schema=schema, index_params=index)
        data = rng.standard_normal((N, dim)).astype(np.float32)
        client.insert("c", [{"id": i, "v": data[i]} for i in range(N)])
        _plain(client, [data[0]], 5, "COSINE")   # the first search builds the index
        fallbacks.clear()
        queries = [(rng.standard_normal(dim) * 10.0 ** rng.uniform(-15, 15)).astype(np.float32)
                   for _ in range(60)] + [np.zeros(dim, np.float32), data[1] * np.float32(1e-25)]
        for q in queries:
            got = _plain(client, [q], 5, "COSINE", params={"ef": 50})[0]
            assert _pairs(got) == _pairs(_general(client, [q], 5, "COSINE", params={"ef": 50})[0])
        assert fallbacks == []
        client.close()


def test_unfiltered_lane_refuses_an_inherited_handle_in_a_fork_child():
    """The lane checks the process as every call does (``_check_process``), against a process
    id renewed at fork: an inherited handle raises ForeignProcessError in the child; the
    parent searches on."""
    import os

    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    client, base = _client_pk("HNSW", "COSINE", "int64")
    q = base[3]
    for _ in range(2):   # the second search takes the lane
        _plain(client, [q], 5, "COSINE", params={"ef": 32})
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # child: never return into pytest
        try:
            _plain(client, [q], 5, "COSINE", params={"ef": 32})
            out = b"accepted"
        except embedb.errors.ForeignProcessError:
            out = b"refused"
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = repr(exc).encode()
        os.write(w, out)
        os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    out = os.read(r, 1000)
    os.close(r)
    assert out == b"refused"
    assert _pairs(_plain(client, [q], 5, "COSINE", params={"ef": 32})[0]) == \
        _pairs(_general(client, [q], 5, "COSINE", params={"ef": 32})[0])   # the parent searches on


def test_a_single_query_result_behaves_as_one_made_by_search_result():
    """The lane's result is made without ``SearchResult.__init__`` (``of_one``): its
    ``extra``, ``recalls`` and ``agg_buckets`` appear on first read with the same defaults,
    an assigned value wins, each result has its own, and printing, equality, JSON, copy and
    pickle are those of a result made by ``SearchResult([...])``."""
    import copy
    import json
    import pickle

    from embedb.results import Hit, Hits, SearchResult

    client, base = _client_pk("HNSW", "COSINE", "int64")
    for _ in range(2):   # the second search takes the lane
        got = _plain(client, [base[4]], 3, "COSINE", params={"ef": 32})
    made = SearchResult([Hits([Hit(dict(h)) for h in got[0]])])
    assert type(got) is SearchResult and type(got[0]) is Hits and type(got[0][0]) is Hit
    assert got == made and str(got) == str(made) and repr(got) == repr(made)
    assert json.dumps(got) == json.dumps(made)
    assert (got.extra, got.recalls, got.agg_buckets) == ({"cost": 0}, [], [])
    assert (got.extra, got.recalls, got.agg_buckets) == (made.extra, made.recalls, made.agg_buckets)
    other = _plain(client, [base[4]], 3, "COSINE", params={"ef": 32})
    got.extra["cost"] = 7
    got.recalls.append(0.5)
    assert other.extra == {"cost": 0} and other.recalls == []   # not shared
    assert "extra_info: {'cost': 7}" in str(got)
    got.agg_buckets = [["b"]]
    assert got.agg_buckets == [["b"]]
    for twin in (copy.copy(got), copy.deepcopy(got), pickle.loads(pickle.dumps(got))):
        assert type(twin) is SearchResult and twin == got
        assert (twin.extra, twin.recalls, twin.agg_buckets) == ({"cost": 7}, [0.5], [["b"]])
    fresh = SearchResult.of_one(Hits())
    assert fresh == [[]] and fresh.extra == {"cost": 0} and fresh.recalls == []
    assert str(fresh) == str(SearchResult([Hits()]))


def test_a_result_default_read_first_by_two_readers_at_once_is_one_object():
    """``SearchResult``'s lazily made ``extra``/``recalls``: a reader that makes the default
    while another reader's default lands first (threads switching inside the read) gets the
    stored object, not a lost copy of its own."""
    from embedb.results import SearchResult, _Default

    made: list = []
    inner: list = []

    def make():
        made.append({})
        if len(made) == 1:   # another reader runs to the end meanwhile
            inner.append(result.tag)
        return made[-1]

    class Result(SearchResult):
        tag = _Default(make)

    result = Result.of_one([])
    outer = result.tag
    assert len(made) == 2 and outer is inner[0] is result.tag is made[1]
