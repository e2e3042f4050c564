"""A repeated filter's search on a SearchSnapshot (issue 15): ``filter_cache.cached_mask`` finds
the mask ``search_mask`` kept, keyed by the snapshot's (generation, rows, live rows, schema),
so a repeated filtered single query takes no ReadView and compiles nothing. Its answers equal
the general path's (and, where the search is exact, a NumPy reference) through deletes,
upserts, inserts, compaction, schema changes and filter parameters; a state it was not cached
for misses."""

from __future__ import annotations

import numpy as np
import pytest

import embedb
from embedb.engine import filter_cache
from embedb.engine import search as engine_search
from embedb.engine.collection import Collection
from embedb.engine.readview import search_snapshot
from test_speed_filtered import make_client as tag_client

DIM = 16


def make_client():
    return tag_client(dim=DIM)


def reference(mirror: dict, q: np.ndarray, allowed, k=10) -> list:
    ids = np.array(sorted(i for i, (t, _) in mirror.items() if allowed(t)), dtype=np.int64)
    x = np.stack([mirror[i][1] for i in ids.tolist()])
    sims = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    return ids[np.lexsort((ids, -sims))[:k]].tolist()


class ReadViews:
    """Counts the ReadViews taken (the snapshot path takes none)."""

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        real = Collection.read_view

        def counted(coll, *a, **kw):
            self.count += 1
            return real(coll, *a, **kw)

        monkeypatch.setattr(Collection, "read_view", counted)


def test_repeated_filters_answer_from_the_snapshot_through_writes(monkeypatch):
    rng = np.random.default_rng(5)
    client = make_client()
    base = rng.standard_normal((40, DIM)).astype(np.float32)   # clusters
    mirror: dict = {}

    def put(ids, tags):
        rows = [{"id": int(i), "tag": int(t), "v": base[rng.integers(0, len(base))] +
                 0.2 * rng.standard_normal(DIM).astype(np.float32)} for i, t in zip(ids, tags)]
        client.upsert("c", rows)
        mirror.update({r["id"]: (r["tag"], r["v"]) for r in rows})

    put(range(3000), rng.integers(0, 20, 3000))
    coll = client._db.get_collection("c")
    views = ReadViews(monkeypatch)
    queries = [base[i] + 0.01 * rng.standard_normal(DIM).astype(np.float32) for i in range(4)]
    # exact paths (at most 1,024 survivors: the exact reference) and the graph path (90%:
    # the general path's answer)
    cases = (("tag < 5", None, lambda t: t < 5), ("tag == {t}", {"t": 3}, lambda t: t == 3),
             ("tag == {t}", {"t": 4}, lambda t: t == 4), ("tag >= 2", {}, None))

    def check(step):
        for flt, params, allowed in cases:
            kw = {} if params is None else {"filter_params": params}
            general = engine_search.search(coll, queries, limit=10, filter=flt,
                                           filter_params=params)
            for q, want in zip(queries, general):
                first = client.search("c", [q], limit=10, filter=flt, **kw)[0]
                before = views.count
                again = client.search("c", [q], limit=10, filter=flt, **kw)[0]
                assert views.count == before, (step, flt)   # the mask came from the snapshot
                assert [(h["id"], h["distance"]) for h in first] == \
                    [(h["id"], h["distance"]) for h in again] == \
                    [(h["id"], h["distance"]) for h in want], (step, flt)
                if allowed is not None:
                    assert [h["id"] for h in again] == reference(mirror, q, allowed), (step, flt)

    check("insert")
    client.delete("c", ids=list(range(0, 3000, 7)))
    for i in range(0, 3000, 7):
        mirror.pop(i)
    check("delete")
    put(rng.choice(3000, 200, replace=False), rng.integers(0, 20, 200))
    check("upsert")
    put(range(3000, 3100), rng.integers(0, 20, 100))
    check("append")
    client.compact("c")
    check("compact")
    client.add_collection_field("c", "extra", embedb.DataType.INT64, nullable=True)
    check("schema change")


def test_cached_mask_misses_what_it_was_not_kept_for():
    client = make_client()
    rng = np.random.default_rng(1)
    client.insert("c", [{"id": i, "tag": i % 10, "v": rng.standard_normal(DIM).astype(np.float32)}
                        for i in range(500)])
    coll = client._db.get_collection("c")
    q = rng.standard_normal(DIM).astype(np.float32)
    snap = search_snapshot(coll, "v")
    assert filter_cache.cached_mask(snap, "tag == {t}", {"t": 1}) is None   # never searched
    client.search("c", [q], limit=5, filter="tag == {t}", filter_params={"t": 1})
    snap = search_snapshot(coll, "v")
    mask = filter_cache.cached_mask(snap, "tag == {t}", {"t": 1})
    assert mask is not None and not mask.flags.writeable
    assert np.array_equal(mask, coll.mask("tag == {t}", {"t": 1}))
    assert filter_cache.cached_mask(snap, "tag == {t}", {"t": 2}) is None    # other params
    assert filter_cache.cached_mask(snap, "tag == {t}", {"t": True}) is None  # 1 and True differ
    assert filter_cache.cached_mask(snap, "tag == {t} ", {"t": 1}) is None   # other text
    client.delete("c", ids=[1])
    assert filter_cache.cached_mask(search_snapshot(coll, "v"), "tag == {t}", {"t": 1}) is None
    # the old snapshot still finds the mask of its own state, never a newer one
    assert filter_cache.cached_mask(snap, "tag == {t}", {"t": 1}) is mask


@pytest.mark.parametrize("flt", ["random_sample(0.5)", "tag < 3 and random_sample(0.9)"])
def test_random_sample_filters_are_never_found_cached(flt):
    client = make_client()
    rng = np.random.default_rng(2)
    client.insert("c", [{"id": i, "tag": i % 10, "v": rng.standard_normal(DIM).astype(np.float32)}
                        for i in range(300)])
    client.search("c", [rng.standard_normal(DIM).astype(np.float32)], limit=5, filter=flt)
    snap = search_snapshot(client._db.get_collection("c"), "v")
    assert filter_cache.cached_mask(snap, flt, None) is None


def test_fewer_survivors_than_the_limit_and_a_batch_answer_as_the_general_path():
    client = make_client()
    rng = np.random.default_rng(3)
    client.insert("c", [{"id": i, "tag": i % 10, "v": rng.standard_normal(DIM).astype(np.float32)}
                        for i in range(800)])
    coll = client._db.get_collection("c")
    queries = [rng.standard_normal(DIM).astype(np.float32) for _ in range(3)]
    for flt in ("id < 3", "id in [5, 900]", "tag == 1 and id > 790", "tag > 0"):
        general = engine_search.search(coll, queries, limit=10, filter=flt)
        for _ in range(2):   # the second time from the cached mask
            batch = client.search("c", queries, limit=10, filter=flt)
            singles = [client.search("c", [q], limit=10, filter=flt)[0] for q in queries]
            for hits in (batch, singles):
                assert [[(h["id"], h["distance"]) for h in one] for one in hits] == \
                    [[(h["id"], h["distance"]) for h in one] for one in general], flt


def test_search_covered_with_a_mask_is_search_or_declines(monkeypatch):
    """IndexManager.search_covered with a cached mask answers as IndexManager.search on the
    graph path; it declines (None) masks searched exactly, and an index with a tail."""
    from embedb.engine.index import filtered
    from embedb.engine.index.manager import indexes_of

    # the graph path at this small size: exact only up to 500 rows
    monkeypatch.setattr(filtered, "EXACT_MAX_ROWS", 500)
    monkeypatch.setattr(filtered, "EXACT_MAX_WORK", 0)
    from embedb.engine.search import pk_getter

    client = make_client()
    rng = np.random.default_rng(4)
    client.insert("c", [{"id": i, "tag": i % 10, "v": rng.standard_normal(DIM).astype(np.float32)}
                        for i in range(3000)])
    q = rng.standard_normal(DIM).astype(np.float32)
    client.search("c", [q], limit=5)   # builds the index over every row
    coll = client._db.get_collection("c")
    manager = indexes_of(coll)
    entry = manager.for_field("v")
    for flt, graph in (("tag < 6", True), ("tag == 1", False)):   # 1,800 rows / 300 rows
        client.search("c", [q], limit=10, filter=flt)
        snap = search_snapshot(coll, "v")
        mask = filter_cache.cached_mask(snap, flt, None)
        for params in ({}, {"ef": 16}):
            got = manager.search_covered(entry, q[None, :], 10, params, pk_getter(snap), snap, mask)
            want = manager.search(entry, q[None, :], 10, mask, params, pk_getter(snap), view=snap)
            if graph:
                assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
            else:
                assert got is None
    client.insert("c", [{"id": 5000, "tag": 1, "v": q}])   # a tail the index does not cover
    client.search("c", [q], limit=10, filter="tag < 6")
    snap = search_snapshot(coll, "v")
    mask = filter_cache.cached_mask(snap, "tag < 6", None)
    assert mask is not None
    assert manager.search_covered(entry, q[None, :], 10, {}, pk_getter(snap), snap, mask) is None
    assert client.search("c", [q], limit=1, filter="tag < 6")[0][0]["id"] == 5000
