"""BM25 MaxScore pruning (engine/bm25.py) against the exhaustive scorer, on random corpora.

Every posting scored (``exhaustive=True``) is the reference: the pruned search must return the
same rows with bit-identical scores, ties by primary key, after inserts, upserts and deletes
(document frequencies are maintained, not recounted), with and without a filter mask, one
query at a time or in a batch.
"""

from __future__ import annotations

import numpy as np
import pytest

from embedb.engine import Database, bm25, fulltext
from embedb.engine.search import pk_getter
from embedb.schema import CollectionSchema, DataType, FieldSchema, Function, FunctionType

VOCAB = [f"w{i}" for i in range(120)]


@pytest.fixture(autouse=True)
def prune_small_lists(monkeypatch):
    """Prune even the short lists of these small corpora, from a shallow first pass, and count
    the searches pruning answered (so the test shows it ran, not only its fallback)."""
    monkeypatch.setattr(bm25, "PRUNE_MIN", 0)
    monkeypatch.setattr(bm25, "FIRST_DEPTH", 1)
    monkeypatch.setattr(bm25, "_FLAT", 1.0)   # no "impacts too flat to prune" shortcut
    monkeypatch.setattr(bm25, "_DEEPEST", 3)   # prune down to a third of the entries
    calls = {"pruned": 0}
    exhaustive = bm25.score_exhaustive

    def counting_top_candidates(*args):
        n = counted["fallbacks"]
        out = top_candidates(*args)
        calls["pruned"] += counted["fallbacks"] == n
        return out

    counted = {"fallbacks": 0}

    def counting_exhaustive(*args):
        counted["fallbacks"] += 1
        return exhaustive(*args)

    top_candidates = bm25.top_candidates
    monkeypatch.setattr(bm25, "top_candidates", counting_top_candidates)
    monkeypatch.setattr(bm25, "score_exhaustive", counting_exhaustive)
    return calls


def make_collection(db, pk_type):
    pk = (FieldSchema("id", DataType.VARCHAR, is_primary=True, max_length=20) if pk_type == "str"
          else FieldSchema("id", DataType.INT64, is_primary=True))
    schema = CollectionSchema([
        pk,
        FieldSchema("text", DataType.VARCHAR, max_length=2000, enable_analyzer=True,
                    analyzer_params={"tokenizer": "whitespace"}),
        FieldSchema("sparse", DataType.SPARSE_FLOAT_VECTOR),
    ])
    schema.add_function(Function("bm25", FunctionType.BM25, ["text"], ["sparse"]))
    return db.create_collection("docs", schema)


def zipf_text(rng, n_words):
    p = 1.0 / np.arange(1, len(VOCAB) + 1) ** 1.1
    return " ".join(rng.choice(VOCAB, size=n_words, p=p / p.sum()))


def brute_force(coll, query, k, mask):
    """All scored rows (exhaustive), then ordered by (float32 score desc, primary key asc)."""
    rows, scores = fulltext.search_bm25(coll, "sparse", [query], coll.num_rows_total, mask, {},
                                        exhaustive=True)
    keep = rows[0] >= 0
    rows, scores = rows[0][keep], scores[0][keep]
    pks = coll.pk_values(rows)
    order = sorted(range(len(rows)), key=lambda i: (-scores[i], pks[i]))[:k]
    return rows[order], scores[order]


@pytest.mark.parametrize("seed,pk_type", [(0, "int"), (1, "str"), (2, "int"), (3, "str")])
def test_pruned_equals_exhaustive_after_random_writes(seed, pk_type, prune_small_lists):
    rng = np.random.default_rng(seed)
    db = Database.open(None)
    coll = make_collection(db, pk_type)
    key = (lambda i: f"k{i:05d}") if pk_type == "str" else (lambda i: int(i))
    ids = rng.permutation(100_000)   # primary keys in no relation to row order
    next_id = 0
    for step in range(6):
        batch = []
        for _ in range(int(rng.integers(40, 120))):
            text = zipf_text(rng, int(rng.integers(1, 25)))
            for _ in range(int(rng.integers(1, 3))):   # duplicates: equal scores, ties by pk
                batch.append({"id": key(ids[next_id]), "text": text})
                next_id += 1
        coll.insert(batch)
        if step:
            coll.delete(ids=[key(ids[i]) for i in rng.choice(next_id, 15, replace=False)])
            coll.upsert([{"id": key(ids[i]), "text": zipf_text(rng, 6)}
                         for i in rng.choice(next_id, 5, replace=False)])
        pk_of = pk_getter(coll)
        total = coll.num_rows_total
        queries = [" ".join(rng.choice(VOCAB[:60], size=int(rng.integers(2, 6)))) for _ in range(25)]
        for k in (1, 3, 10):
            for mask in (None, rng.random(total) < 0.6):
                got = fulltext.search_bm25(coll, "sparse", queries, k, mask, {}, pk_of=pk_of)
                want = fulltext.search_bm25(coll, "sparse", queries, k, mask, {}, pk_of=pk_of,
                                            exhaustive=True)
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_array_equal(got[1], want[1])   # bit-identical scores
                for q, text in enumerate(queries[:8]):
                    rows, scores = brute_force(coll, text, k, mask)
                    np.testing.assert_array_equal(got[0][q, : len(rows)], rows)
                    np.testing.assert_array_equal(got[1][q, : len(rows)], scores)
                    single = fulltext.search_bm25(coll, "sparse", [text], k, mask, {}, pk_of=pk_of)
                    np.testing.assert_array_equal(single[0][0], got[0][q])
                    np.testing.assert_array_equal(single[1][0], got[1][q])
    assert prune_small_lists["pruned"] > 100   # most searches stopped before scoring every posting
    db.close()


def test_document_frequencies_follow_deletes_without_recount():
    db = Database.open(None)
    coll = make_collection(db, "int")
    coll.insert([{"id": i, "text": "apple pear" if i % 2 else "apple"} for i in range(64)])
    first = fulltext.search_bm25(coll, "sparse", ["pear apple"], 5, None, {})
    coll.delete(ids=[1, 3])
    state = coll.extensions["fulltext"][("bm25", "sparse")]
    stats_before = state.bm25
    got = fulltext.search_bm25(coll, "sparse", ["pear apple"], 5, None, {})
    assert state.bm25 is stats_before   # the same statistics, updated for the two rows
    pear = state.term_of[fulltext.token_hash("pear")]
    assert state.bm25.df[pear] == 30 and state.bm25.n_live == 62
    want = fulltext.search_bm25(coll, "sparse", ["pear apple"], 5, None, {}, exhaustive=True)
    np.testing.assert_array_equal(got[1], want[1])
    assert not np.array_equal(first[1], got[1])   # idf moved with the deletes
    db.close()


def test_counts_rebuilt_after_reopening_match_the_maintained_ones(tmp_path):
    rng = np.random.default_rng(5)
    db = Database.open(tmp_path / "db")
    coll = make_collection(db, "int")
    coll.insert([{"id": i, "text": zipf_text(rng, 12)} for i in range(300)])
    queries = [" ".join(rng.choice(VOCAB[:40], size=3)) for _ in range(20)]
    fulltext.search_bm25(coll, "sparse", queries, 5, None, {})   # counts made, then maintained
    coll.delete(ids=list(range(0, 300, 7)))
    before = fulltext.search_bm25(coll, "sparse", queries, 5, None, {}, pk_of=pk_getter(coll))
    db.close()
    db = Database.open(tmp_path / "db")
    coll = db.get_collection("docs")
    after = fulltext.search_bm25(coll, "sparse", queries, 5, None, {}, pk_of=pk_getter(coll))
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    db.close()
