"""BM25 ingest without a Python dict per row: the BM25 function's output for a batch is one set
of CSR arrays (rows.SparseRows) that build_batch takes whole. Checked against a plain reference
(a Counter of token hashes per text) and against the dict path it replaced."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import embedb
from embedb.engine import fulltext
from embedb.engine.rows import SparseRow, build_batch

TEXTS = ["the cat sat on the mat", "", "Der Hund, der Hund!", "a a a b", "naïve café — 東京タワー 2024",
         "x" * 300, "stop-words and the THE The", "   ", "数据库 data base", "one"]


@pytest.fixture()
def coll():
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("text", embedb.DataType.VARCHAR, max_length=5000, enable_analyzer=True)
    schema.add_field("sparse", embedb.DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(embedb.Function(name="bm25", function_type=embedb.FunctionType.BM25,
                                        input_field_names=["text"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("docs", schema=schema, index_params=index)
    yield client._db.get_collection("docs")
    client.close()


def texts(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(40)] + ["Äpfel", "東", "x_y", "it's"]
    return TEXTS + [" ".join(rng.choice(words, rng.integers(0, 25))) for _ in range(n)]


def test_output_equals_counted_token_hashes(coll):
    analyzer = fulltext.field_analyzers(coll, "text").get(None)
    batch = texts(1, 200)
    rows = fulltext.apply_functions(coll, [{"id": i, "text": t} for i, t in enumerate(batch)])
    for t, row in zip(batch, rows):
        want = Counter(fulltext.token_hash(tok) for tok in analyzer(t))
        assert isinstance(row["sparse"], SparseRow)
        assert dict(row["sparse"]) == {k: float(v) for k, v in want.items()}, t
        assert list(row["sparse"]) == sorted(want)


@pytest.mark.parametrize("mixed", [False, True])
def test_build_batch_takes_the_column_whole_like_the_dict_path(coll, mixed):
    batch = texts(2, 300)
    rows = fulltext.apply_functions(coll, [{"id": i, "text": t} for i, t in enumerate(batch)])
    as_dicts = [dict(r, sparse=dict(r["sparse"])) for r in rows]
    if mixed:   # rows of a computed batch beside plain dicts: the per-row path
        rows = [r if i % 3 else as_dicts[i] for i, r in enumerate(rows)]
        assert isinstance(rows[1]["sparse"], SparseRow) and isinstance(rows[0]["sparse"], dict)
    got = build_batch(coll.schema, rows).values["sparse"]
    want = build_batch(coll.schema, as_dicts).values["sparse"]
    assert got.shape == want.shape
    for name in ("indptr", "indices", "data"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name


def test_inserted_vectors_and_scores_match_the_dict_path(coll):
    batch = texts(3, 500)
    coll.insert([{"id": i, "text": t} for i, t in enumerate(batch)])
    m = coll.sparse_vectors("sparse")
    analyzer = fulltext.field_analyzers(coll, "text").get(None)
    for i, t in enumerate(batch):
        want = Counter(fulltext.token_hash(tok) for tok in analyzer(t))
        a, b = m.indptr[i], m.indptr[i + 1]
        assert dict(zip(m.indices[a:b].tolist(), m.data[a:b].tolist())) == {k: float(v) for k, v in want.items()}


@pytest.mark.parametrize("n_uniq,n_keys", [(1, 10), (5, 3), (3000, 200_000), (300_000, 1_300_000)])
def test_key_to_term_index_equals_searchsorted(n_uniq, n_keys):
    """Posting-list catch-up maps millions of token hashes to term ids through a table on their
    low bits (binary search only where values share a slot): the same as np.searchsorted."""
    rng = np.random.default_rng(n_uniq)
    uniq = np.unique(rng.integers(0, 2**32 - 1, n_uniq))
    uniq = np.concatenate([uniq, uniq[:50] + (1 << 30)]) if n_uniq > 100 else uniq   # shared slots
    uniq = np.unique(uniq)
    keys = uniq[rng.integers(0, len(uniq), n_keys)]
    assert np.array_equal(fulltext._index_in(uniq, keys), np.searchsorted(uniq, keys))
