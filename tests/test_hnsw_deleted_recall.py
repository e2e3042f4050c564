"""An HNSW collection most of whose rows are deleted answers as well as exact search.

Tombstones act as a filter on the graph (the index keeps every row until a compaction): the
tombstone mask goes through the filtered planner like any filter (``index.filtered.use_exact``
and ``HNSWIndex.filtered_plan``), which sees the live fraction and how the dead rows sit in
the graph. Random deletes keep the graph search with a widened ef; whole clusters deleted
(the live rows clumped in the graph) are searched exactly. At the default ef, recall@10
against exact search over the live rows stays >= 0.95, and a single query answers as the
batch does. ``bench/hnsw_deleted_recall.py`` measures the same at 20k-50k rows.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from embedb import DataType, MilvusClient
from embedb.engine.filter_cache import survivors
from embedb.engine.index.filtered import use_exact
from embedb.engine.index.manager import indexes_of

# 25k x 128: 30 % live rows (7,500) cost more to score exactly than the widened graph search
N, DIM, K, NQ = 25_000, 128, 10, 60


def _data(rng):
    centres = rng.standard_normal((N // 500, DIM)).astype(np.float32)
    cid = rng.integers(0, len(centres), N)
    x = (centres[cid] + 0.35 * rng.standard_normal((N, DIM))).astype(np.float32)
    qc = rng.integers(0, len(centres), NQ)
    q = (centres[qc] + 0.35 * rng.standard_normal((NQ, DIM))).astype(np.float32)
    return x, q, cid


def _exact(x, q, live, metric):
    ids = np.flatnonzero(live)
    xs = x[ids]
    if metric == "COSINE":
        xs = xs / np.linalg.norm(xs, axis=1, keepdims=True)
        score = -(q / np.linalg.norm(q, axis=1, keepdims=True)) @ xs.T
    else:
        score = (xs * xs).sum(1)[None, :] - 2 * q @ xs.T
    return ids[np.argsort(score, axis=1, kind="stable")[:, :K]]


def _plan(c) -> str:
    coll = c._collection("c")
    entry = next(iter(indexes_of(coll)._entries.values()))
    view = coll.read_view()
    info = survivors(view.mask(""))
    with entry.lock:
        return "exact" if use_exact(info.count, view.num_rows_total, DIM, entry.impl, K, {},
                                    info) else "graph"


@pytest.fixture(scope="module", params=["COSINE", "L2"])
def built(request, tmp_path_factory):
    """(metric, data, a closed database with the HNSW graph over every row)."""
    metric = request.param
    x, q, cid = _data(np.random.default_rng(5))
    path = tmp_path_factory.mktemp("hnsw") / "base.db"
    c = MilvusClient(str(path), durability="process")
    s = c.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    ix = c.prepare_index_params()
    ix.add_index("v", index_type="HNSW", metric_type=metric, params={"M": 16, "efConstruction": 100})
    c.create_collection("c", schema=s, index_params=ix)
    for lo in range(0, N, 5000):
        c.insert("c", [{"id": i, "v": x[i]} for i in range(lo, lo + 5000)])
    c.search("c", [q[0]], limit=K)   # the graph over every row, saved by the close
    c.close()
    return metric, (x, q, cid), path


@pytest.mark.parametrize("how,frac,plan", [("random", 0.5, "graph"), ("random", 0.7, "graph"),
                                            ("random", 0.9, "exact"), ("clusters", 0.7, "exact"),
                                            ("clusters", 0.9, "exact")])
def test_recall_with_most_rows_deleted(tmp_path, built, how, frac, plan):
    metric, (x, q, cid), base = built
    shutil.copytree(base, tmp_path / "d.db")
    c = MilvusClient(str(tmp_path / "d.db"), durability="process")
    c.load_collection("c")
    rng = np.random.default_rng(int(frac * 10) + (how == "clusters"))
    if how == "random":
        dead = np.flatnonzero(rng.random(N) < frac)
    else:   # whole clusters until frac of the rows are gone
        order = rng.permutation(cid.max() + 1)
        sizes = np.bincount(cid, minlength=len(order))
        cut = int(np.searchsorted(np.cumsum(sizes[order]), frac * N)) + 1
        dead = np.flatnonzero(np.isin(cid, order[:cut]))
    c.delete("c", ids=dead.tolist())
    live = np.ones(N, bool)
    live[dead] = False
    assert _plan(c) == plan   # the planner saw the live fraction and the clumping
    want = _exact(x, q, live, metric)
    single = [[h["id"] for h in c.search("c", [q[i]], limit=K)[0]] for i in range(NQ)]
    batch = [[h["id"] for h in hits] for hits in c.search("c", q, limit=K)]
    c.close()
    assert single == batch
    assert all(live[i] for hits in single for i in hits)
    recall = np.mean([len(set(single[i]) & set(want[i].tolist())) / K for i in range(NQ)])
    assert recall >= 0.95, (how, frac, metric, recall)
