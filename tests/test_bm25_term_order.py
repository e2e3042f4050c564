"""BM25 scores do not depend on when the postings were built. Term ids are handed out one
catch-up at a time (the terms of the rows added since the last search, in hash order), so a
collection searched between its inserts numbers its terms differently from one whose postings
are built all at once (a rebuild after compaction or reopen). A query's terms are summed in the
order of their hashes, not of their ids: the float64 scores are bit-identical either way."""

from __future__ import annotations

import numpy as np

from embedb.engine import Database, bm25, fulltext
from test_bm25_pruning import make_collection

VOCAB = [f"t{i}x" for i in range(200)]


def _scores_of(coll, queries, monkeypatch) -> list[tuple[np.ndarray, np.ndarray]]:
    """The exhaustive scorer's float64 (rows, scores) for each query (before the float32 cast)."""
    seen = []
    exhaustive = bm25.score_exhaustive

    def spy(*args):
        out = exhaustive(*args)
        seen.append(out)
        return out

    monkeypatch.setattr(bm25, "score_exhaustive", spy)
    for q in queries:
        fulltext.search_bm25(coll, "sparse", [q], 10, None, {}, exhaustive=True)
    monkeypatch.setattr(bm25, "score_exhaustive", exhaustive)
    return seen


def test_scores_are_the_same_whether_postings_grew_by_catch_ups_or_were_built_at_once(monkeypatch):
    rng = np.random.default_rng(3)
    # each batch brings words of its own: the live collection numbers them batch by batch
    batches = [[{"id": b * 1000 + i,
                 "text": " ".join(rng.choice(VOCAB[: 40 * (b + 1)], size=int(rng.integers(3, 30))))}
                for i in range(150)] for b in range(5)]
    queries = [" ".join(rng.choice(VOCAB, size=int(rng.integers(4, 12)), replace=False)) for _ in range(60)]
    live_db, built_db = Database.open(None), Database.open(None)
    live, built = make_collection(live_db, "int"), make_collection(built_db, "int")
    for batch in batches:
        live.insert(batch)
        fulltext.search_bm25(live, "sparse", [queries[0]], 10, None, {})   # a catch-up per batch
    built.insert([row for batch in batches for row in batch])
    got, want = _scores_of(live, queries, monkeypatch), _scores_of(built, queries, monkeypatch)
    assert len(got) == len(want) == len(queries)
    for (rows, scores), (rows2, scores2) in zip(got, want):
        np.testing.assert_array_equal(rows, rows2)
        np.testing.assert_array_equal(scores, scores2)   # bit for bit, in float64
    live_db.close()
    built_db.close()
