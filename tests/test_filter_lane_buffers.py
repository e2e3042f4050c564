"""The filtered single-query lane (``filtered.search_masked_one``) keeps the arrays faiss reads
and writes on its ``MaskedLane`` (the normalised query, one query's distances and rows) and
uses them under the index entry's lock: threads searching one cached mask at once get the
general path's answers; a zero query, a NaN or inf query and one whose squares overflow are
answered, or refused, as the general path answers or refuses them."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import embedb
from embedb.engine import search as engine_search
from test_speed_filtered import make_client as tag_client

DIM = 24
N = 4_000


def _client(metric):
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((20, DIM)).astype(np.float32)
    x = (centres[rng.integers(0, 20, N)] + 0.4 * rng.standard_normal((N, DIM))).astype(np.float32)
    q = (centres[rng.integers(0, 20, 40)] + 0.4 * rng.standard_normal((40, DIM))).astype(np.float32)
    client = tag_client(params={"M": 16, "efConstruction": 100}, metric=metric, dim=DIM)
    client.insert("c", [{"id": i, "tag": int(i % 10), "v": v} for i, v in enumerate(x)])
    client.search("c", [x[0]], limit=1)   # the graph over every row
    return client, list(q)


def _pairs(hits):
    return [(h["id"], h["distance"]) for h in hits]


@pytest.mark.parametrize("metric", ["COSINE", "L2", "IP"])
def test_threads_on_one_cached_mask_get_the_general_paths_answers(graph_path, lane_calls, metric):
    client, queries = _client(metric)
    coll = client._db.get_collection("c")
    flt, sp = "tag < 2", {"params": {"ef": 16}}
    want = [_pairs(hits) for hits in engine_search.search(
        coll, queries, limit=10, filter=flt, search_params=sp)]
    client.search("c", [queries[0]], limit=10, filter=flt, search_params=sp)   # caches the mask
    got: dict = {}
    errors = []

    def worker(t):
        try:
            for rep in range(6):
                for i in range(t, len(queries), 4):
                    got.setdefault(i, []).append(_pairs(client.search(
                        "c", [queries[i]], limit=10, filter=flt, search_params=sp)[0]))
        except Exception as e:   # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i, answers in got.items():
        assert all(a == want[i] for a in answers), i
    if metric != "IP":   # IP graphs with a filter are searched exactly (filtered.graph_ef)
        assert sum(lane_calls) > len(queries)   # the lane answered most calls


@pytest.mark.parametrize("metric", ["COSINE", "L2"])
def test_unusual_queries_are_answered_or_refused_as_by_the_general_path(graph_path, lane_calls,
                                                                         metric):
    client, queries = _client(metric)
    coll = client._db.get_collection("c")
    flt, sp = "tag < 3", {"params": {"ef": 16}}
    client.search("c", [queries[0]], limit=10, filter=flt, search_params=sp)   # caches the mask
    lane_calls.clear()
    zero = np.zeros(DIM, dtype=np.float32)
    big = np.full(DIM, 3e19, dtype=np.float32)   # finite, but its squares overflow float32
    for q in (zero, big, queries[3] * np.float32(1e-25)):
        general = engine_search.search(coll, [q], limit=10, filter=flt, search_params=sp)[0]
        assert _pairs(client.search("c", [q], limit=10, filter=flt, search_params=sp)[0]) == \
            _pairs(general)
    for bad in (np.nan, np.inf):
        q = queries[1].copy()
        q[5] = bad
        with pytest.raises(embedb.MilvusException, match="NaN|inf"):
            client.search("c", [q], limit=10, filter=flt, search_params=sp)
        with pytest.raises(embedb.MilvusException, match="NaN|inf"):
            engine_search.search(coll, [q], limit=10, filter=flt, search_params=sp)
    assert any(lane_calls)   # the zero query (or the tiny one) went through the lane
