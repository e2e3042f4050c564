"""The filtered single-query lane (``filtered.search_masked_one``: a cached mask's plan and faiss
parameters kept per (mask, index, k, ef)) answers as the general path and a batch do, and the
same after the database is closed and opened again (the graph read back from its file, the
mask and its plan made afresh), for L2 and COSINE, at 10 % and 30 %."""

from __future__ import annotations

import numpy as np
import pytest

import embedb
from embedb.engine import search as engine_search
from test_speed_filtered import make_client as tag_client

DIM = 24
N = 4_000


def _answers(client, coll, queries, flt, sp):
    single = [[(h["id"], h["distance"]) for h in client.search(
        "c", [q], limit=10, filter=flt, search_params=sp)[0]] for q in queries]
    batch = [[(h["id"], h["distance"]) for h in hits] for hits in client.search(
        "c", queries, limit=10, filter=flt, search_params=sp)]
    general = [[(h["id"], h["distance"]) for h in hits] for hits in engine_search.search(
        coll, queries, limit=10, filter=flt, search_params=sp)]
    assert single == batch == general
    return single


@pytest.mark.parametrize("metric", ["L2", "COSINE"])
def test_lane_equals_batch_and_general_path_across_reopen(tmp_path, graph_path, lane_calls,
                                                          metric):
    lane = lane_calls
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((30, DIM)).astype(np.float32)
    x = (centres[rng.integers(0, 30, N)] + 0.4 * rng.standard_normal((N, DIM))).astype(np.float32)
    q = (centres[rng.integers(0, 30, 12)] + 0.4 * rng.standard_normal((12, DIM))).astype(np.float32)
    tag = rng.integers(0, 100, N)
    path = str(tmp_path / "lane.db")
    client = tag_client(params={"M": 16, "efConstruction": 100}, uri=path, metric=metric, dim=DIM)
    client.insert("c", [{"id": i, "tag": int(t), "v": v} for i, (t, v) in enumerate(zip(tag, x))])
    client.search("c", [x[0]], limit=1)   # the graph over every row
    client.flush("c")
    queries = list(q)
    cases = [("tag < 10", {"params": {"ef": 16}}), ("tag < 10", None),
             ("tag < 30", {"params": {"ef": 16}})]
    before = {}
    for flt, sp in cases:
        before[flt, str(sp)] = _answers(client, client._db.get_collection("c"), queries, flt, sp)
        for got in before[flt, str(sp)]:   # every hit passes the filter, best first
            assert len(got) == 10
            assert all(tag[i] < int(flt.split()[-1]) for i, _ in got)
    client.close()
    assert sum(lane) >= 2 * len(queries)   # the lane answered (repeated masks)

    client = embedb.MilvusClient(path)
    for flt, sp in cases:
        coll = client._db.get_collection("c")
        assert _answers(client, coll, queries, flt, sp) == before[flt, str(sp)]
        # a repeated call takes the kept plan: the same answer again
        assert _answers(client, coll, queries, flt, sp) == before[flt, str(sp)]
    client.close()
