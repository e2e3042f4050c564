"""BM25EmbeddingFunction against rank_bm25's BM25Okapi (the reference) on msmarco-5k and on
random corpora; incremental fitting, persistence and error handling."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_array

from embedb.errors import ParamError
from embedb.eval import load_beir
from embedb.model.sparse import BM25EmbeddingFunction
from embedb.text import analyzer_for_language, build_analyzer

rank_bm25 = pytest.importorskip("rank_bm25")

MSMARCO = Path("/work/shared/data/msmarco-5k")


@pytest.fixture(scope="module")
def msmarco():
    if not MSMARCO.is_dir():
        pytest.skip("msmarco-5k data set not available")
    ds = load_beir(MSMARCO)
    return [ds.document_text(d) for d in ds.corpus.values()], list(ds.queries.values())


@pytest.fixture(scope="module")
def fitted(msmarco):
    docs, queries = msmarco
    ef = BM25EmbeddingFunction()
    ef.fit(docs)
    return ef


def test_scores_equal_rank_bm25_on_msmarco(msmarco, fitted):
    docs, queries = msmarco
    analyzer = analyzer_for_language("en")
    ref = rank_bm25.BM25Okapi(analyzer.tokenize_batch(docs), k1=1.5, b=0.75, epsilon=0.25)
    doc_vecs = fitted.encode_documents(docs)
    query_vecs = fitted.encode_queries(queries)
    ours = (query_vecs @ doc_vecs.T).toarray()
    expected = np.stack([ref.get_scores(analyzer(q)) for q in queries])
    assert ours.shape == (len(queries), len(docs))
    assert np.abs(ours - expected).max() < 1e-5
    # same idf per term, including the epsilon floor
    for term, col in list(fitted.vocabulary.items())[:: max(1, fitted.dim // 500)]:
        assert fitted.idf[col] == pytest.approx(ref.idf[term], abs=1e-12)
    assert fitted.avgdl == pytest.approx(ref.avgdl)
    assert fitted.corpus_size == ref.corpus_size == len(docs)


def test_vocabulary_has_no_punctuation_tokens(fitted):
    word = re.compile(r"[^\W_]+")
    assert fitted.dim > 1000
    assert all(word.fullmatch(t) for t in fitted.vocabulary)


def test_outputs_are_float32_csr_arrays_one_row_per_text(fitted):
    docs = ["Alan Turing was born in London.", "", "zzzunknownword"]
    d = fitted.encode_documents(docs)
    q = fitted.encode_queries(docs)
    for m in (d, q):
        assert isinstance(m, csr_array)
        assert m.dtype == np.float32
        assert m.shape == (3, fitted.dim)
        assert m[[1]].nnz == 0 and m[[2]].nnz == 0
    assert fitted.encode_documents([]).shape == (0, fitted.dim)


def _plain_bm25_reference(corpus_tokens, query_tokens, k1, b, epsilon):
    """rank_bm25 as the oracle, on already tokenised texts."""
    return rank_bm25.BM25Okapi(corpus_tokens, k1=k1, b=b, epsilon=epsilon).get_scores(query_tokens)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@settings(max_examples=40, deadline=None)
@given(
    corpus=st.lists(
        st.lists(st.sampled_from(["apple", "banana", "cherry", "date", "elder", "fig", "grape"]), max_size=12),
        min_size=1,
        max_size=25,
    ),
    query=st.lists(st.sampled_from(["apple", "banana", "fig", "kiwi", "grape"]), min_size=1, max_size=5),
    k1=st.sampled_from([0.9, 1.2, 1.5, 2.0]),
    b=st.sampled_from([0.0, 0.5, 0.75, 1.0]),
    epsilon=st.sampled_from([0.0, 0.25, 0.5]),
)
def test_random_corpora_match_rank_bm25(corpus, query, k1, b, epsilon):
    if sum(map(len, corpus)) == 0:
        return  # rank_bm25 divides by zero on an all-empty corpus
    texts = [" ".join(doc) for doc in corpus]
    ef = BM25EmbeddingFunction(analyzer={"tokenizer": "whitespace"}, k1=k1, b=b, epsilon=epsilon)
    ef.fit(texts)
    ours = (ef.encode_queries([" ".join(query)]) @ ef.encode_documents(texts).T).toarray()[0]
    # rank_bm25 computes 0/0 = nan for an empty document when b == 1; its true score is 0
    expected = np.nan_to_num(_plain_bm25_reference(corpus, query, k1, b, epsilon))
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_partial_fit_equals_fit_on_everything(msmarco):
    docs, queries = msmarco
    docs = docs[:1500]
    whole = BM25EmbeddingFunction().fit(docs)
    grown = BM25EmbeddingFunction()
    for start in range(0, len(docs), 400):
        grown.partial_fit(docs[start : start + 400])
    assert grown.vocabulary == whole.vocabulary
    np.testing.assert_array_equal(grown.df, whole.df)
    assert (grown.corpus_size, grown.total_length) == (whole.corpus_size, whole.total_length)
    a = grown.encode_documents(docs[:200]) - whole.encode_documents(docs[:200])
    b = grown.encode_queries(queries) - whole.encode_queries(queries)
    assert abs(a).max() == 0 and abs(b).max() == 0


def test_fit_replaces_previous_statistics():
    ef = BM25EmbeddingFunction(corpus=["one two", "three"])
    ef.fit(["alpha beta", "gamma"])
    assert set(ef.vocabulary) == {"alpha", "beta", "gamma"}
    assert ef.corpus_size == 2


def test_save_load_round_trip_keeps_analyzer(tmp_path):
    docs = ["Die Häuser sind schöner als die Bäume", "Ein Haus am See", "Bäume im Wald"]
    ef = BM25EmbeddingFunction(analyzer="de", k1=1.2, b=0.6, epsilon=0.1).fit(docs)
    path = tmp_path / "bm25.json"
    ef.save(path)
    loaded = BM25EmbeddingFunction()  # English by default; load must restore German
    loaded.load(path)
    assert loaded.analyzer.params == {"type": "de"}
    assert (loaded.k1, loaded.b, loaded.epsilon) == (1.2, 0.6, 0.1)
    assert loaded.vocabulary == ef.vocabulary
    for encode in ("encode_documents", "encode_queries"):
        diff = getattr(loaded, encode)(docs) - getattr(ef, encode)(docs)
        assert abs(diff).max() == 0
    # a loaded model keeps growing incrementally
    loaded.partial_fit(["Häuser und Bäume"])
    assert loaded.corpus_size == 4


def test_loads_pymilvus_model_files(tmp_path):
    # pymilvus.model writes only idf values (epsilon already applied), no df and no analyzer
    path = tmp_path / "pymilvus.json"
    path.write_text(json.dumps({
        "version": "v1", "corpus_size": 2, "avgdl": 3.0, "idf_word": ["turing", "born"],
        "idf_value": [0.5, 1.25], "k1": 1.5, "b": 0.75, "epsilon": 0.25,
    }))
    ef = BM25EmbeddingFunction(analyzer={"tokenizer": "whitespace"}).load(path)
    q = ef.encode_queries(["turing born born"]).toarray()[0]
    np.testing.assert_allclose(q, [0.5, 2.5])
    d = ef.encode_documents(["turing x y"]).toarray()[0]
    np.testing.assert_allclose(d[0], 1 * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 3 / 3.0)), rtol=1e-6)
    with pytest.raises(ParamError, match="refit"):
        ef.partial_fit(["more text"])


def test_accepts_analyzer_objects_params_codes_and_callables():
    docs = ["Running dogs", "a running cat"]
    by_obj = BM25EmbeddingFunction(analyzer=build_analyzer({"type": "english"})).fit(docs)
    by_code = BM25EmbeddingFunction(analyzer="en").fit(docs)
    by_callable = BM25EmbeddingFunction(analyzer=lambda s: s.lower().split()).fit(docs)
    assert set(by_obj.vocabulary) == set(by_code.vocabulary) == {"run", "dog", "cat"}
    assert set(by_callable.vocabulary) == {"running", "dogs", "a", "cat"}


def test_errors_are_clear_and_change_nothing(tmp_path):
    ef = BM25EmbeddingFunction()
    with pytest.raises(ParamError, match="not fitted"):
        ef.encode_documents(["x"])
    with pytest.raises(ParamError, match="empty"):
        ef.fit([])
    with pytest.raises(ParamError, match="single string"):
        ef.fit("a text, not a list")
    ef.fit(["quick brown fox"])
    with pytest.raises(ParamError, match="text 1"):
        ef.partial_fit(["fine", None])
    assert ef.corpus_size == 1 and ef.dim == 3
    with pytest.raises(ParamError, match="never downloads"):
        ef.load()
    with pytest.raises(ParamError, match="cannot read"):
        ef.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ParamError, match="lacks"):
        ef.load(tmp_path / "bad.json")
    assert ef.corpus_size == 1
    with pytest.raises(ParamError, match="b must be"):
        BM25EmbeddingFunction(b=2)
    with pytest.raises(ParamError, match="unknown analyzer type"):
        BM25EmbeddingFunction(analyzer={"type": "klingon"})


@pytest.mark.reference
def test_pymilvus_model_loads_our_files_and_agrees(tmp_path):
    pm = pytest.importorskip("pymilvus.model.sparse.bm25.bm25")
    docs = ["Alan Turing was born in London", "Turing machines compute", "London is in England"]
    ours = BM25EmbeddingFunction().fit(docs)
    path = tmp_path / "bm25.json"
    ours.save(path)
    theirs = pm.BM25EmbeddingFunction(analyzer=ours.analyzer)
    theirs.load(str(path))
    for encode in ("encode_documents", "encode_queries"):
        a = getattr(ours, encode)(docs + ["where was turing born"]).toarray()
        b = getattr(theirs, encode)(docs + ["where was turing born"]).toarray()
        np.testing.assert_allclose(a, b, rtol=1e-6)
