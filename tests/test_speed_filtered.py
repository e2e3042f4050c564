"""Filtered dense search (issue 15): the cached masks and the in-place exact path give the exact
answer (ties by primary key) through deletes, upserts, inserts and compaction; a query's answer
does not depend on its batch; at 10% selectivity the graph path keeps recall@10 >= 0.95.

The reference is plain NumPy over the live rows the filter allows: COSINE similarity, sorted by
(-similarity, pk)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import embedb
from embedb.engine import filter_cache
from embedb.engine.index import filtered

DIM = 24


def clustered(rng, n, centres, noise=0.3):
    """``n`` vectors around ``centres`` (an array, or how many random ones to draw)."""
    if isinstance(centres, int):
        centres = rng.standard_normal((centres, DIM)).astype(np.float32)
    picks = centres[rng.integers(0, len(centres), n)]
    return (picks + noise * rng.standard_normal((n, DIM))).astype(np.float32)


class Mirror:
    """The collection's live rows, kept in NumPy beside it: the reference."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[int, np.ndarray]] = {}

    def put(self, rows):
        for r in rows:
            self.rows[r["id"]] = (r["tag"], np.asarray(r["v"], dtype=np.float32))

    def topk(self, q, allowed_tags, k=10):
        ids = np.array([i for i, (t, _) in self.rows.items() if t in allowed_tags], dtype=np.int64)
        if not len(ids):
            return [], []
        x = np.stack([self.rows[i][1] for i in ids.tolist()])
        sims = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
        order = np.lexsort((ids, -sims))[:k]
        return ids[order].tolist(), sims[order].tolist()


def make_client(index_type="HNSW", params=None, *, uri=":memory:", metric="COSINE", dim=DIM):
    """A client on ``uri`` with collection "c": id (INT64 primary key), tag (INT64) and v
    (``dim``-d float vectors, ``index_type`` / ``metric``; HNSW M=16 efConstruction=64 unless
    ``params``). The filtered-search tests share it."""
    client = embedb.MilvusClient(uri)
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("tag", embedb.DataType.INT64)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index("v", index_type=index_type, metric_type=metric,
                    params=params if params is not None else {"M": 16, "efConstruction": 64})
    client.create_collection("c", schema=schema, index_params=index)
    return client


def rows_for(rng, ids, base, tags):
    """Rows whose vectors repeat (picked from ``base``): many exact ties, broken by pk."""
    return [{"id": int(i), "tag": int(t), "v": base[rng.integers(0, len(base))]}
            for i, t in zip(ids, tags)]


def check_exact(client, mirror, queries, flt, tags):
    batch = client.search("c", queries, limit=10, filter=flt)
    for q, hits in zip(queries, batch):
        ids, sims = mirror.topk(q, tags)
        assert [h["id"] for h in hits] == ids
        assert [h["distance"] for h in hits] == pytest.approx(sims, abs=1e-5)
        single = client.search("c", [q], limit=10, filter=flt)[0]
        assert [h["id"] for h in single] == ids


@pytest.mark.parametrize("index_type", ["HNSW", "FLAT"])
def test_selective_filters_are_exact_through_writes(index_type):
    """1% (exact path on the index's stored vectors) and, on FLAT, 10% and 50% (the column in
    place): exact answers, ties by pk, after every kind of write (each changes the cache key)."""
    rng = np.random.default_rng(11)
    client = make_client(index_type, {} if index_type == "FLAT" else None)
    mirror = Mirror()
    base = clustered(rng, 300, 12)
    ids = rng.permutation(1_000_000)[:6000]   # pks out of row order: ties show the pk order
    rows = rows_for(rng, ids, base, rng.integers(0, 100, 6000))
    client.insert("c", rows)
    mirror.put(rows)
    queries = [base[i] + 0.05 * rng.standard_normal(DIM).astype(np.float32) for i in range(6)]
    cases = [("tag == 7", {7})]
    if index_type == "FLAT":
        cases += [("tag < 10", set(range(10))), ("tag < 50", set(range(50)))]
    for flt, tags in cases:
        check_exact(client, mirror, queries, flt, tags)
        check_exact(client, mirror, queries, flt, tags)           # from the cache
        allowed = [i for i, (t, _) in mirror.rows.items() if t in tags]
        gone = [int(i) for i in rng.choice(allowed, 15, replace=False)]
        client.delete("c", ids=gone)                               # tombstones
        for i in gone:
            del mirror.rows[i]
        check_exact(client, mirror, queries, flt, tags)
        moved = rows_for(rng, rng.choice(list(mirror.rows), 40, replace=False), base,
                         rng.integers(0, 100, 40))
        client.upsert("c", moved)                                  # rows move in and out
        mirror.put(moved)
        check_exact(client, mirror, queries, flt, tags)
        fresh = rows_for(rng, rng.permutation(np.arange(2_000_000, 3_000_000))[:500], base,
                         rng.integers(0, 100, 500))
        client.insert("c", fresh)                                  # the mask grows
        mirror.put(fresh)
        check_exact(client, mirror, queries, flt, tags)
        client.compact("c")                                        # new row numbers
        check_exact(client, mirror, queries, flt, tags)


def test_filter_params_partitions_and_templates_key_the_cache():
    rng = np.random.default_rng(12)
    client = make_client()
    mirror = Mirror()
    base = clustered(rng, 200, 8)
    client.create_partition("c", "p1")
    rows = rows_for(rng, range(3000), base, rng.integers(0, 100, 3000))
    client.insert("c", rows[:1500])
    client.insert("c", rows[1500:], partition_name="p1")
    mirror.put(rows)
    q = base[3]
    for t in (3, 4, 3, 5, 3):
        hits = client.search("c", [q], limit=10, filter="tag == {t}", filter_params={"t": t})[0]
        assert [h["id"] for h in hits] == mirror.topk(q, {t})[0]
    p1 = client.search("c", [q], limit=10, filter="tag == 3", partition_names=["p1"])[0]
    both = client.search("c", [q], limit=10, filter="tag == 3")[0]
    assert all(h["id"] >= 1500 for h in p1)
    assert [h["id"] for h in both] == mirror.topk(q, {3})[0]


def test_cached_masks_are_read_only_and_keyed_by_state():
    rng = np.random.default_rng(13)
    client = make_client()
    base = clustered(rng, 100, 5)
    client.insert("c", rows_for(rng, range(2000), base, rng.integers(0, 10, 2000)))
    coll = client._db.get_collection("c")
    a = coll.read_view()
    m1 = filter_cache.search_mask(a, "tag == 2")
    assert not m1.flags.writeable
    assert filter_cache.search_mask(coll.read_view(), "tag == 2") is m1   # same state: cached
    assert filter_cache.survivors(m1).count == int(m1.sum())
    client.delete("c", ids=[int(np.flatnonzero(m1)[0])])
    m2 = filter_cache.search_mask(coll.read_view(), "tag == 2")
    assert m2 is not m1 and m2.sum() == m1.sum() - 1
    # the view taken before the delete still gets its own state's mask
    assert filter_cache.search_mask(a, "tag == 2") is m1
    # random_sample is not a function of the rows: never cached
    r1 = filter_cache.search_mask(coll.read_view(), "random_sample(0.5)")
    r2 = filter_cache.search_mask(coll.read_view(), "random_sample(0.5)")
    assert r1 is not r2


def test_one_query_answers_as_in_its_batch_on_every_path(monkeypatch):
    """1% (exact), 10% and 50% (graph with a selector, forced at this size): identical ids
    and distances whatever the batch."""
    monkeypatch.setattr(filtered, "EXACT_MAX_ROWS", 100)
    monkeypatch.setattr(filtered, "EXACT_MAX_WORK", 0)
    rng = np.random.default_rng(14)
    client = make_client()
    base = clustered(rng, 400, 16)
    client.insert("c", rows_for(rng, rng.permutation(100_000)[:8000], base,
                                rng.integers(0, 100, 8000)))
    queries = [base[i] + 0.05 * rng.standard_normal(DIM).astype(np.float32) for i in range(12)]
    for flt in ("tag == 7", "tag < 10", "tag < 50"):
        for ef in (None, 16):
            sp = {"params": {"ef": ef}} if ef else None
            batch = client.search("c", queries, limit=10, filter=flt, search_params=sp)
            for q, hits in zip(queries, batch):
                single = client.search("c", [q], limit=10, filter=flt, search_params=sp)[0]
                assert [h["id"] for h in single] == [h["id"] for h in hits]
                assert [h["distance"] for h in single] == [h["distance"] for h in hits]


def test_ten_percent_recall_on_clustered_data(monkeypatch):
    """The graph path at 10% (forced below the exact threshold at this size), with the small
    ef of a latency-minded caller: recall@10 >= 0.95 against the exact reference."""
    monkeypatch.setattr(filtered, "EXACT_MAX_ROWS", 100)
    monkeypatch.setattr(filtered, "EXACT_MAX_WORK", 0)
    rng = np.random.default_rng(15)
    client = make_client(params={"M": 16, "efConstruction": 100})
    mirror = Mirror()
    centres = rng.standard_normal((40, DIM)).astype(np.float32)
    x = clustered(rng, 12000, centres)
    rows = [{"id": i, "tag": int(t), "v": x[i]} for i, t in enumerate(rng.integers(0, 100, 12000))]
    client.insert("c", rows)
    mirror.put(rows)
    queries = clustered(rng, 40, centres)
    for sp in ({"params": {"ef": 16}}, None):
        got = client.search("c", list(queries), limit=10, filter="tag < 10", search_params=sp)
        found = [len(set(h["id"] for h in hits) & set(mirror.topk(q, set(range(10)))[0]))
                 for q, hits in zip(queries, got)]
        assert sum(found) / (10 * len(queries)) >= 0.95
        for hits in got:
            assert all(mirror.rows[h["id"]][0] < 10 for h in hits)


def test_filtered_search_with_concurrent_writes_sees_one_state():
    """Searches racing deletes and inserts: every hit passes the filter and is live in the
    state the search ran on (never a row of a newer or older mask)."""
    rng = np.random.default_rng(16)
    client = make_client()
    base = clustered(rng, 100, 6)
    client.insert("c", rows_for(rng, range(3000), base, rng.integers(0, 20, 3000)))
    errors = []

    def writer():
        w = np.random.default_rng(17)
        for r in range(30):
            client.delete("c", ids=[int(i) for i in w.integers(0, 3000, 5)])
            client.insert("c", rows_for(w, range(10_000 + 20 * r, 10_020 + 20 * r), base,
                                        w.integers(0, 20, 20)))

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    i = 0
    while t.is_alive() or i < 10:
        hits = client.search("c", [base[i % 100]], limit=20, filter="tag == 3",
                             output_fields=["tag"])[0]
        if any(h["entity"]["tag"] != 3 for h in hits):
            errors.append(hits)
        i += 1
    t.join(30)
    assert not errors


def test_cached_masks_equal_fresh_masks_for_every_kind_of_filter():
    """Strings, JSON, dynamic fields, arrays, NULLs, templates: the cached (and incrementally
    extended) mask is the mask computed afresh, after every write."""
    rng = np.random.default_rng(18)
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("name", embedb.DataType.VARCHAR, max_length=16, nullable=True)
    schema.add_field("j", embedb.DataType.JSON)
    schema.add_field("arr", embedb.DataType.ARRAY, element_type=embedb.DataType.INT64,
                     max_capacity=4)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection("c", schema=schema, index_params=index)
    letters = np.array(list("abcde"))

    def rows(start, n):
        return [{"id": start + i,
                 "name": None if i % 7 == 0 else "".join(letters[rng.integers(0, 5, 3)]),
                 "j": {"k": int(rng.integers(0, 10)), "s": str(letters[i % 5])},
                 "arr": rng.integers(0, 6, int(rng.integers(0, 4))).tolist(),
                 "dyn": int(rng.integers(0, 5)),
                 "v": rng.standard_normal(4).astype(np.float32)} for i in range(n)]

    filters = [('name like "a%"', None), ("name is null", None), ('j["k"] > 4', None),
               ("array_contains(arr, 3)", None), ("dyn in [1, 2]", None),
               ('j["s"] == {s} and id % 3 == 0', {"s": "b"}), ('j["s"] == {s}', {"s": "c"})]
    coll = client._db.get_collection("c")
    client.insert("c", rows(0, 500))
    nxt = 500
    for step in range(6):
        for flt, params in filters:
            for _ in range(2):   # computed, then from the cache
                view = coll.read_view()
                got = filter_cache.search_mask(view, flt, params)
                assert np.array_equal(got, view.mask(flt, params)), (step, flt)
        if step % 3 == 0:
            client.insert("c", rows(nxt, 60))
            nxt += 60
        elif step % 3 == 1:
            client.delete("c", ids=[int(i) for i in rng.integers(0, nxt, 30)])
        else:
            client.upsert("c", [dict(r, id=int(i)) for r, i in
                                zip(rows(0, 20), rng.integers(0, nxt, 20))])
    client.compact("c")
    view = coll.read_view()
    for flt, params in filters:
        assert np.array_equal(filter_cache.search_mask(view, flt, params), view.mask(flt, params))


def test_lean_filtered_call_equals_the_general_path_and_words_errors_the_same():
    """client.search with a filter takes the lean path (engine/search_fast.py); its hits equal
    the general path's (engine.search.search), and a bad filter gets the general path's error."""
    from embedb.engine import search as engine_search
    from embedb.errors import FilterError

    rng = np.random.default_rng(19)
    client = make_client()
    base = clustered(rng, 200, 8)
    client.insert("c", rows_for(rng, rng.permutation(50_000)[:4000], base,
                                rng.integers(0, 100, 4000)))
    client.delete("c", filter="tag == 5")
    coll = client._db.get_collection("c")
    queries = [base[i] for i in range(5)]
    for flt, params in (("tag == 7", None), ("tag < 30", None), ("tag == {t}", {"t": 9}),
                        ("tag >= 0", None)):
        for sp in (None, {"params": {"ef": 16}}):
            kw = {} if params is None else {"filter_params": params}
            lean = client.search("c", queries, limit=10, filter=flt, search_params=sp, **kw)
            general = engine_search.search(coll, queries, limit=10, filter=flt,
                                           filter_params=params, search_params=sp)
            assert [[(h["id"], h["distance"]) for h in hits] for hits in lean] == \
                [[(h["id"], h["distance"]) for h in hits] for hits in general]
    for bad, params in (("nope == 1", None), ("tag == {t}", None), ("tag ==", None)):
        with pytest.raises(FilterError) as lean_err:
            client.search("c", queries[:1], limit=10, filter=bad,
                          **({} if params is None else {"filter_params": params}))
        with pytest.raises(FilterError) as general_err:
            engine_search.search(coll, queries[:1], limit=10, filter=bad, filter_params=params)
        assert str(lean_err.value) == str(general_err.value)
