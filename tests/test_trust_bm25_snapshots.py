"""BM25 on a read view older than the shared posting lists (engine/fulltext.py).

A newer snapshot extends the shared postings and their maintained document frequencies; an
older view searched afterwards must score exactly its own rows, as a collection holding only
those rows does, and must not change the shared counts. (The race this pins down raised
``IndexError: index 514 is out of bounds`` in the threaded stress test.)
"""

from __future__ import annotations

import numpy as np
import pytest

from embedb.engine import Database, bm25, fulltext

from test_bm25_pruning import VOCAB, make_collection, zipf_text


def _docs(rng, start, n):
    return [{"id": start + i, "text": zipf_text(rng, int(rng.integers(1, 20)))} for i in range(n)]


def _reference(docs, deleted, queries, k, exhaustive):
    """The same search on a fresh collection holding only the old view's rows."""
    db = Database.open(None)
    coll = make_collection(db, "int")
    coll.insert(docs)
    if deleted:
        coll.delete(ids=deleted)
    out = fulltext.search_bm25(coll, "sparse", queries, k, None, {}, exhaustive=exhaustive)
    db.close()
    return out


@pytest.mark.parametrize("prune", [False, True])
def test_old_view_after_newer_search_scores_only_its_own_rows(prune, monkeypatch):
    if prune:   # the impact-ordered (pruning) path as well as the exhaustive one
        monkeypatch.setattr(bm25, "PRUNE_MIN", 0)
        monkeypatch.setattr(bm25, "FIRST_DEPTH", 1)
    rng = np.random.default_rng(7)
    old_docs = _docs(rng, 0, 514)
    deleted = [3, 40, 41, 200]
    db = Database.open(None)
    coll = make_collection(db, "int")
    coll.insert(old_docs)
    coll.delete(ids=deleted)
    queries = [" ".join(rng.choice(VOCAB[:60], size=int(rng.integers(1, 5)))) for _ in range(20)]
    queries.append("w119 w118")   # rare terms (may exist only in the newer rows)
    fulltext.search_bm25(coll, "sparse", queries, 5, None, {})   # shared counts at 514 rows

    old = coll.read_view(need_pk=True)
    coll.insert(_docs(rng, 10_000, 300))
    coll.delete(ids=[5, 10_001])   # a delete in the new state only: the old view keeps row 5
    newer = fulltext.search_bm25(coll, "sparse", queries, 10, None, {})   # postings -> 814 rows
    shared = coll.extensions[fulltext._STATE_KEY][("bm25", "sparse")].bm25
    shared_df = shared.df.copy()

    for k in (1, 10, 600):
        for exhaustive in (False, True):
            got = fulltext.search_bm25(old, "sparse", queries, k, None, {}, exhaustive=exhaustive)
            want = _reference(old_docs, deleted, queries, k, exhaustive=True)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])   # bit-identical scores
            assert got[0].max() < old.num_rows_total
    # the stale view computed its own counts: the shared ones still describe the newest rows
    assert coll.extensions[fulltext._STATE_KEY][("bm25", "sparse")].bm25 is shared
    np.testing.assert_array_equal(shared.df, shared_df)
    again = fulltext.search_bm25(coll, "sparse", queries, 10, None, {})
    np.testing.assert_array_equal(again[0], newer[0])
    np.testing.assert_array_equal(again[1], newer[1])
    db.close()
