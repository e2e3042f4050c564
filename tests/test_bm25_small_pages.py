"""The posting build runs with NumPy's huge-page advice off (fulltext._SmallPages: on a VM with
free page reporting a fresh huge page may wait for the host). Page advice changes no byte: a
build large enough for the hashed-slot path gives the answers of postings built in small steps
and of the exhaustive scorer, and the caller's NumPy setting is restored either way."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.engine import Database, fulltext
from embedb.engine.search import pk_getter
from embedb.schema import CollectionSchema, DataType, FieldSchema, Function, FunctionType

pytestmark = pytest.mark.skipif(fulltext._set_madvise_hugepage is None, reason="NumPy without the switch")


def make(db, name):
    schema = CollectionSchema([
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema("text", DataType.VARCHAR, max_length=2000, enable_analyzer=True,
                    analyzer_params={"tokenizer": "whitespace"}),
        FieldSchema("sparse", DataType.SPARSE_FLOAT_VECTOR),
    ])
    schema.add_function(Function("bm25", FunctionType.BM25, ["text"], ["sparse"]))
    return db.create_collection(name, schema)


@pytest.mark.parametrize("huge", [True, False])
def test_one_large_build_equals_small_steps_and_restores_numpy_setting(huge):
    rng = np.random.default_rng(7)
    vocab = [f"w{i}" for i in range(3000)]
    words = rng.zipf(1.3, size=(4000, 25)) % len(vocab)
    docs = [{"id": i, "text": " ".join(vocab[w] for w in row)} for i, row in enumerate(words)]
    assert 4000 * 25 > fulltext._SLOTS_MIN   # the hashed-slot path of _term_ids_of
    queries = ["w1 w7 w300", "w2 w40", "w12"]
    db = Database.open(None)
    one, steps = make(db, "one"), make(db, "steps")
    one.insert(docs)
    for a in range(0, len(docs), 500):   # built in 8 catch-ups
        steps.insert(docs[a:a + 500])
        fulltext.search_bm25(steps, "sparse", queries, 5, None, {})
    prev = fulltext._set_madvise_hugepage(huge)
    try:
        got = fulltext.search_bm25(one, "sparse", queries, 20, None, {}, pk_of=pk_getter(one))
        assert fulltext._set_madvise_hugepage(huge) == huge   # restored after the build
    finally:
        fulltext._set_madvise_hugepage(prev)
    small = fulltext.search_bm25(steps, "sparse", queries, 20, None, {}, pk_of=pk_getter(steps))
    want = fulltext.search_bm25(one, "sparse", queries, 20, None, {}, pk_of=pk_getter(one), exhaustive=True)
    for a, b in ((got, small), (got, want)):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert (got[0][:, :5] >= 0).all()   # every query finds rows
    db.close()
