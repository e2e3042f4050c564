"""The kept filtered lane (``search_fast._keep_masked``): a filtered single query whose mask,
plan and faiss arrays a search of the same collection state kept runs from one dict read,
inline in ``plain_search``. Keyed by (filter text, limit / ef) and checked against the state
(generation, rows, live rows) read under the database lock with the buffers searched, so an
insert, delete, upsert or compaction is never answered from the mask of the state before it.
Its answers equal the general path's, ties by primary key included; threads searching beside a
writer never get a row the writer had removed from the filter before the search began."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from embedb.engine import search as engine_search
from test_speed_filtered import make_client as tag_client

DIM = 16
N = 3_000


def _pairs(hits):
    return [(h["id"], h["distance"]) for h in hits]


def _client(metric="COSINE"):
    rng = np.random.default_rng(21)
    centres = rng.standard_normal((20, DIM)).astype(np.float32)
    x = (centres[rng.integers(0, 20, N)] + 0.4 * rng.standard_normal((N, DIM))).astype(np.float32)
    q = (centres[rng.integers(0, 20, 12)] + 0.4 * rng.standard_normal((12, DIM))).astype(np.float32)
    client = tag_client(params={"M": 16, "efConstruction": 100}, metric=metric, dim=DIM)
    client.insert("c", [{"id": i, "tag": i % 10, "v": v} for i, v in enumerate(x)])
    client.search("c", [x[0]], limit=1)   # the graph over every row
    return client, x, list(q)


def _kept(client):
    plans = client._db.get_collection("c").extensions["search_fast.plans"]
    return {key: state for p in plans.values() if p.lane is not None
            for key, (state, _) in p.lane.masked.items()}


def _general(client, queries, k, flt, sp, **kw):
    """The general path's answers, one query per call (a batch of more than eight queries
    scores an index tail with BLAS instead of einsum: see index/metrics.dot)."""
    coll = client._db.get_collection("c")
    return [_pairs(engine_search.search(coll, [q], limit=k, filter=flt, search_params=sp,
                                        **kw)[0]) for q in queries]


def _check(client, queries, flt, sp, lane_calls):
    """Every query twice: the answers equal the general path's; the second calls ran inline."""
    want = _general(client, queries, 10, flt, sp)
    for _ in range(2):
        lane_calls.clear()
        got = [_pairs(client.search("c", [q], limit=10, filter=flt, search_params=sp)[0])
               for q in queries]
        assert got == want
    assert all(lane_calls), lane_calls   # the kept lane (or search_masked_one) answered every repeat


@pytest.mark.parametrize("metric", ["COSINE", "L2"])
def test_kept_lane_follows_every_write(graph_path, lane_calls, metric):
    client, x, queries = _client(metric)
    flt, sp = "tag < 3", {"params": {"ef": 16}}
    rng = np.random.default_rng(3)
    _check(client, queries, flt, sp, lane_calls)
    kept = _kept(client)
    assert list(kept) == [(flt, (10, "ef", 16))]
    writes = [
        # rows the filter admits, on top of the queries (a stale mask would miss them), and
        # enough more that the index folds them in (a tail declines the lanes)
        lambda: client.insert("c", [{"id": N + i, "tag": 1, "v": v} for i, v in enumerate(
            queries + list(x[rng.choice(N, 300, replace=False)] + np.float32(0.05)))]),
        # the best hits of every query deleted: a stale mask would still return them
        lambda: client.delete("c", ids=sorted({h["id"] for q in queries for h in client.search(
            "c", [q], limit=3, filter=flt, search_params=sp)[0]})),
        # upserts that move admitted rows out of the filter and others in
        lambda: client.upsert("c", [{"id": i, "tag": 9 if i % 10 < 3 else 0, "v": x[i]}
                                    for i in rng.choice(N, 400, replace=False).tolist()]),
        lambda: client._db.get_collection("c").compact(),
    ]
    for write in writes:
        before = set(_kept(client).values())
        write()
        _check(client, queries, flt, sp, lane_calls)
        after = set(_kept(client).values())
        assert len(after) == 1 and after.isdisjoint(before)   # a new state; the old one gone


def test_kept_lanes_per_filter_limit_and_ef(graph_path, lane_calls):
    client, _, queries = _client()
    cases = [("tag < 3", 10, {"params": {"ef": 16}}), ("tag < 3", 5, {"params": {"ef": 16}}),
             ("tag < 3", 10, {"params": {"ef": 40}}), ("tag < 3", 10, None),
             ("tag >= 6", 10, {"params": {"ef": 16}})]
    coll = client._db.get_collection("c")
    for flt, k, sp in cases:
        want = _general(client, queries, k, flt, sp)
        for _ in range(2):
            assert [_pairs(client.search("c", [q], limit=k, filter=flt, search_params=sp)[0])
                    for q in queries] == want
    assert len(_kept(client)) == len(cases)
    # a float or bool ef is not a kept lane's call: answered (or refused) as by the general path
    lane_calls.clear()
    for sp in ({"params": {"ef": 16.0}}, {"params": {"ef": True}}):
        try:
            want = _pairs(engine_search.search(coll, [queries[0]], limit=10, filter="tag < 3",
                                               search_params=sp)[0])
        except Exception as e:   # noqa: BLE001 - the client must refuse it the same way
            with pytest.raises(type(e)):
                client.search("c", [queries[0]], limit=10, filter="tag < 3", search_params=sp)
        else:
            assert _pairs(client.search("c", [queries[0]], limit=10, filter="tag < 3",
                                        search_params=sp)[0]) == want
    # filter parameters: kept by filter_cache's type-exact key (3 and 3.0 are two lanes)
    for params in ({"t": 3}, {"t": 3.0}, {"t": 6}):
        want = _pairs(engine_search.search(coll, [queries[0]], limit=10, filter="tag < {t}",
                                           filter_params=params)[0])
        lane_calls.clear()
        for _ in range(3):
            assert _pairs(client.search("c", [queries[0]], limit=10, filter="tag < {t}",
                                        filter_params=params)[0]) == want
        assert lane_calls[-1]
    templated = [key for key in _kept(client) if key[0] == "tag < {t}"]
    assert len(templated) == 3 and len({key[2] for key in templated}) == 3


def test_threads_beside_a_writer_never_see_a_removed_row(graph_path):
    """A writer takes admitted rows out of the filter for good (deletes, and upserts to a tag
    the filter refuses), one call at a time; readers search the filter in a loop. A hit whose
    row was removed by a call that returned before the search began would be a stale mask."""
    client, x, queries = _client()
    flt, sp = "tag < 5", {"params": {"ef": 16}}
    for q in queries:   # the lane kept for the first state
        client.search("c", [q], limit=10, filter=flt, search_params=sp)
    admitted = [i for i in range(N) if i % 10 < 5]
    rng = np.random.default_rng(8)
    order = rng.permutation(admitted).tolist()
    removed: list = []   # rows out of the filter, in the order their calls returned
    done = threading.Event()
    errors: list = []

    def writer():
        try:
            for s in range(0, 600, 20):
                batch = order[s:s + 20]
                if s % 40:
                    client.delete("c", ids=batch)
                else:
                    client.upsert("c", [{"id": i, "tag": 7, "v": x[i]} for i in batch])
                removed.extend(batch)
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            done.set()

    def reader(t):
        try:
            i = t
            while not done.is_set() or i < t + 24:
                gone = set(removed[:len(removed)])   # removed before this search began
                hits = client.search("c", [queries[i % len(queries)]], limit=10, filter=flt,
                                     search_params=sp)[0]
                stale = [h["id"] for h in hits if h["id"] in gone]
                assert not stale, stale
                i += 3
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer)] + \
        [threading.Thread(target=reader, args=(t,)) for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(removed) == 600
    want = _general(client, queries, 10, flt, sp)
    assert [_pairs(client.search("c", [q], limit=10, filter=flt, search_params=sp)[0])
            for q in queries] == want
