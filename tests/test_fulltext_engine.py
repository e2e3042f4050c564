"""engine.fulltext against plain reference implementations written here.

The collection below is a minimal stand-in for ``engine.Collection`` with the members that
docs/dev/engine-api.md promises fulltext (rows in append order, tombstones, generation,
``mask()``, ``sparse_vectors``, ``source.column``, ``meta``, ``extensions``); the code under test
is ``embedb.engine.fulltext`` itself. End-to-end tests through MilvusClient live in
test_fulltext_client.py.
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
import scipy.sparse as sp

from embedb.engine import bm25, fulltext
from embedb.errors import DataError, FilterError, ParamError
from embedb.schema import CollectionSchema, DataType, FieldSchema, Function, FunctionType
from embedb.text import build_analyzer


class _Column:
    def __init__(self, values):
        self.values = values
        self.valid = None


class _Source:
    def __init__(self, c):
        self._c = c

    def column(self, name):
        if name == "text":
            return _Column(np.array(self._c.texts, dtype=np.dtypes.StringDType()))
        if name == "lang":
            return _Column(np.array(self._c.langs, dtype=object))
        raise KeyError(name)


class StandInCollection:
    def __init__(self, schema, index_params=None):
        self.name = "docs"
        self.schema = schema
        self.meta = {"indexes": [{"field_name": "sparse", "index_type": "SPARSE_INVERTED_INDEX",
                                  "metric_type": "BM25", "params": dict(index_params or {})}]}
        self.extensions = {}
        self.generation = 0
        self.texts, self.langs, self.vectors, self.pks, self.deleted = [], [], [], [], []
        self.source = _Source(self)

    @property
    def num_rows_total(self):
        return len(self.texts)

    def insert(self, rows):
        rows = fulltext.apply_functions(self, [dict(r) for r in rows])
        for r in rows:
            self.texts.append(r["text"])
            self.langs.append(r.get("lang"))
            self.vectors.append(r["sparse"])
            self.pks.append(r["id"])
            self.deleted.append(False)

    def upsert(self, rows):
        for r in rows:
            self.delete([r["id"]])
        self.insert(rows)

    def delete(self, pks):
        for i, pk in enumerate(self.pks):
            if pk in pks:
                self.deleted[i] = True

    def compact(self):
        keep = [i for i, d in enumerate(self.deleted) if not d]
        for name in ("texts", "langs", "vectors", "pks"):
            setattr(self, name, [getattr(self, name)[i] for i in keep])
        self.deleted = [False] * len(keep)
        self.generation += 1

    def mask(self):
        return ~np.array(self.deleted, dtype=bool)

    def sparse_vectors(self, field):
        indptr = np.cumsum([0] + [len(v) for v in self.vectors])
        indices = np.array([k for v in self.vectors for k in sorted(v)], dtype=np.int64)
        data = np.array([v[k] for v in self.vectors for k in sorted(v)], dtype=np.float32)
        ncols = int(indices.max()) + 1 if len(indices) else 1
        return sp.csr_array((data, indices, indptr), shape=(len(self.vectors), ncols))


def make_schema(analyzer_params=None, multi=None, match=True, max_length=1000):
    params = {"enable_analyzer": True, "enable_match": match}
    if multi is not None:
        params["multi_analyzer_params"] = multi
    elif analyzer_params is not None:
        params["analyzer_params"] = analyzer_params
    schema = CollectionSchema([
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema("text", DataType.VARCHAR, max_length=max_length, **params),
        FieldSchema("lang", DataType.VARCHAR, max_length=10),
        FieldSchema("sparse", DataType.SPARSE_FLOAT_VECTOR),
    ])
    schema.add_function(Function("bm25", FunctionType.BM25, ["text"], ["sparse"]))
    return schema


# --- references ---------------------------------------------------------------------------
def reference_bm25(tokens_by_row, live, query_tokens, k1=1.2, b=0.75, allowed=None):
    """Milvus BM25 over the live rows, from scratch: {row: score} for rows with a query term."""
    rows = [r for r in range(len(tokens_by_row)) if live[r]]
    n = len(rows)
    avgdl = sum(len(tokens_by_row[r]) for r in rows) / n
    df = {}
    for r in rows:
        for t in set(tokens_by_row[r]):
            df[t] = df.get(t, 0) + 1
    out = {}
    for r in rows:
        if allowed is not None and not allowed[r]:
            continue
        score, dl = 0.0, len(tokens_by_row[r])
        for t in query_tokens:
            tf = tokens_by_row[r].count(t)
            if tf:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
        if score > 0:
            out[r] = score
    return out


def search_all(c, query, **params):
    rows, scores = fulltext.search_bm25(c, "sparse", [query], c.num_rows_total + 1, None, params)
    keep = rows[0] >= 0
    return dict(zip(rows[0][keep].tolist(), scores[0][keep].tolist())), scores[0][keep]


WORDS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "honey", "ice", "jam"]


def random_text(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 9)))


@pytest.fixture(params=["tail only", "merged"])
def tail_min(request, monkeypatch):
    """Run with the defaults, and with a tiny tail so the posting lists merge often (and BM25
    candidates always scored sparsely rather than over all rows)."""
    if request.param == "merged":
        monkeypatch.setattr(fulltext, "_TAIL_MIN", 3)
        monkeypatch.setattr(bm25, "_DENSE_FACTOR", 0)
    return request.param


@pytest.mark.parametrize("seed", range(8))
def test_bm25_scores_equal_from_scratch_after_random_writes(seed, tail_min):
    rng = random.Random(seed)
    k1, b = rng.choice([(1.2, 0.75), (2.0, 0.3), (1.5, 1.0)])
    c = StandInCollection(make_schema({"tokenizer": "whitespace"}), {"bm25_k1": k1, "bm25_b": b})
    next_pk = 0
    for step in range(12):
        op = rng.choice(["insert", "insert", "upsert", "delete"]) if step else "insert"
        if op == "insert":
            c.insert([{"id": next_pk + i, "text": random_text(rng)} for i in range(rng.randint(1, 6))])
            next_pk += 6
        elif op == "upsert":
            c.upsert([{"id": rng.randrange(next_pk), "text": random_text(rng)} for _ in range(2)])
        else:
            c.delete({rng.randrange(next_pk) for _ in range(3)})
        if step % 3 == 2 and rng.random() < 0.5:
            c.compact()
        live = c.mask()
        if not live.any() or not sum(len(c.texts[r].split()) for r in np.flatnonzero(live)):
            continue
        tokens = [t.split() for t in c.texts]
        for _ in range(3):
            query = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
            got, ordered = search_all(c, query)
            want = reference_bm25(tokens, live, query.split(), k1, b)
            assert got.keys() == want.keys()
            for r, s in want.items():
                assert got[r] == pytest.approx(s, rel=1e-5)
            assert (ordered > 0).all() and (np.diff(ordered) <= 0).all()


def test_bm25_mask_restricts_results_but_not_statistics():
    rng = random.Random(7)
    c = StandInCollection(make_schema({"tokenizer": "whitespace"}))
    c.insert([{"id": i, "text": random_text(rng) + " apple"} for i in range(40)])
    c.delete({3, 5})
    allowed = np.array([i % 2 == 0 for i in range(40)])
    rows, scores = fulltext.search_bm25(c, "sparse", ["apple fig"], 100, allowed, {})
    got = {r: s for r, s in zip(rows[0].tolist(), scores[0].tolist()) if r >= 0}
    want = reference_bm25([t.split() for t in c.texts], c.mask(), ["apple", "fig"], allowed=allowed)
    assert got.keys() == want.keys()
    assert all(got[r] == pytest.approx(want[r], rel=1e-5) for r in want)


def test_bm25_top_k_and_padding():
    c = StandInCollection(make_schema({"tokenizer": "whitespace"}))
    c.insert([{"id": i, "text": "apple " * (i % 4 + 1) + "x"} for i in range(10)] + [{"id": 99, "text": "none"}])
    full, _ = search_all(c, "apple")
    rows, scores = fulltext.search_bm25(c, "sparse", ["apple", "zzz"], 3, None, {})
    best = sorted(full.values(), reverse=True)[:3]
    np.testing.assert_allclose(scores[0], best, rtol=1e-6)
    assert (rows[1] == -1).all() and (scores[1] == 0).all()
    assert 10 not in rows[0]  # "none" matches nothing


def test_drop_ratio_search_ignores_the_smallest_query_terms():
    c = StandInCollection(make_schema({"tokenizer": "whitespace"}))
    c.insert([{"id": i, "text": t} for i, t in enumerate(["common rare", "common", "common x", "other"])])
    tokens = [t.split() for t in c.texts]
    got, _ = search_all(c, "common rare", drop_ratio_search=0.5)  # drops "common" (lower idf)
    want = reference_bm25(tokens, c.mask(), ["rare"])
    assert got.keys() == want.keys() == {0}
    with pytest.raises(ParamError):
        search_all(c, "common", drop_ratio_search=1.5)


def test_analyzer_of_the_field_is_used_for_documents_and_queries():
    c = StandInCollection(make_schema({"type": "english"}))
    c.insert([{"id": 0, "text": "The runners were running"}, {"id": 1, "text": "A cat sat"}])
    got, _ = search_all(c, "RUN!")
    assert set(got) == {0}
    a = build_analyzer({"type": "english"})
    want = reference_bm25([a(t) for t in c.texts], c.mask(), a("RUN!"))
    assert got[0] == pytest.approx(want[0], rel=1e-5)


def test_output_field_cannot_be_written():
    c = StandInCollection(make_schema())
    with pytest.raises(DataError, match="output of BM25 function"):
        c.insert([{"id": 0, "text": "a", "sparse": {1: 1.0}}])
    assert c.num_rows_total == 0


def test_stored_vectors_are_term_frequencies_by_token_hash():
    c = StandInCollection(make_schema({"tokenizer": "whitespace"}))
    c.insert([{"id": 0, "text": "a b a"}, {"id": 1, "text": ""}])
    h = fulltext.token_hash
    assert c.vectors == [{h("a"): 2.0, h("b"): 1.0}, {}]
    assert all(0 <= h(w) < 2**32 - 1 for w in WORDS)


def test_bad_bm25_index_params():
    c = StandInCollection(make_schema(), {"bm25_k1": 9})
    c.insert([{"id": 0, "text": "a"}])
    with pytest.raises(ParamError, match="bm25_k1"):
        search_all(c, "a")


# --- text_match / phrase_match ---------------------------------------------------------------
def reference_text_match(tokens_by_row, query_tokens, msm):
    q = set(query_tokens)
    return np.array([len(q & set(toks)) >= msm for toks in tokens_by_row], dtype=bool)


def reference_phrase_match(positions_by_row, phrase, slop):
    """Brute force: positions p_i for each phrase token (distinct for equal tokens), with
    max(p_i - q_i) - min(p_i - q_i) <= slop."""
    out = []
    for occ in positions_by_row:
        ok = False
        choices = [occ.get(t, []) for t, _ in phrase]
        for combo in itertools.product(*choices):
            by_token = {}
            distinct = True
            for (t, _), p in zip(phrase, combo):
                if p in by_token.setdefault(t, set()):
                    distinct = False
                by_token[t].add(p)
            rel = [p - q for (_, q), p in zip(phrase, combo)]
            if distinct and max(rel) - min(rel) <= slop:
                ok = True
                break
        out.append(ok)
    return np.array(out, dtype=bool)


def _positions(analyzer, text):
    b = analyzer.analyze_batch([text])
    occ = {}
    for tok, pos in zip(b.tokens(0), b.positions.tolist()):
        occ.setdefault(tok, []).append(pos)
    return occ


@pytest.mark.parametrize("seed", range(6))
def test_text_and_phrase_match_equal_reference_evaluators(seed, tail_min):
    rng = random.Random(100 + seed)
    params = {"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": ["ice"]}]}
    analyzer = build_analyzer(params)
    c = StandInCollection(make_schema(params))
    small = WORDS[:5] + ["ice"]
    for chunk in range(3):  # several catch-ups of the index
        c.insert([{"id": chunk * 100 + i, "text": " ".join(rng.choice(small) for _ in range(rng.randint(0, 8)))}
                  for i in range(rng.randint(5, 25))])
        tokens = [analyzer(t) for t in c.texts]
        positions = [_positions(analyzer, t) for t in c.texts]
        for _ in range(10):
            query = [rng.choice(small) for _ in range(rng.randint(1, 4))]
            msm = rng.randint(1, 3)
            got = fulltext.text_match(c, "text", " ".join(query), msm)
            np.testing.assert_array_equal(got, reference_text_match(tokens, analyzer(" ".join(query)), msm))
            slop = rng.choice([0, 0, 1, 2, 3])
            phrase_text = " ".join(query)
            qb = analyzer.analyze_batch([phrase_text])
            phrase = list(zip(qb.tokens(0), (qb.positions - qb.positions.min()).tolist() if len(qb.ids) else []))
            got = fulltext.phrase_match(c, "text", phrase_text, slop)
            want = reference_phrase_match(positions, phrase, slop) if phrase else np.zeros(len(tokens), bool)
            np.testing.assert_array_equal(got, want, err_msg=f"{phrase_text!r} slop={slop}")


def test_phrase_match_slop_examples_from_the_milvus_docs():
    c = StandInCollection(make_schema({"type": "standard"}))
    c.insert([{"id": 0, "text": "machine learning boosts efficiency"},
              {"id": 1, "text": "learning machine models"},
              {"id": 2, "text": "deep learning machine"},
              {"id": 3, "text": "machine deep learning"}])
    assert fulltext.phrase_match(c, "text", "machine learning", 0).tolist() == [True, False, False, False]
    assert fulltext.phrase_match(c, "text", "machine learning", 1).tolist() == [True, False, False, True]
    assert fulltext.phrase_match(c, "text", "machine learning", 2).tolist() == [True, True, True, True]


def test_stop_words_leave_position_gaps_in_phrases():
    c = StandInCollection(make_schema({"type": "english"}))
    c.insert([{"id": 0, "text": "king of the hill"}, {"id": 1, "text": "king hill"}])
    assert fulltext.phrase_match(c, "text", "king of the hill", 0).tolist() == [True, False]
    assert fulltext.phrase_match(c, "text", "king hill", 0).tolist() == [False, True]
    assert fulltext.phrase_match(c, "text", "king hill", 2).tolist() == [True, True]


def test_match_errors():
    c = StandInCollection(make_schema(match=False))
    c.insert([{"id": 0, "text": "a"}])
    with pytest.raises(FilterError, match="enable_match"):
        fulltext.text_match(c, "text", "a", 1)
    c = StandInCollection(make_schema())
    c.insert([{"id": 0, "text": "a"}])
    with pytest.raises(FilterError, match="minimum_should_match"):
        fulltext.text_match(c, "text", "a", 0)
    with pytest.raises(FilterError, match="slop"):
        fulltext.phrase_match(c, "text", "a", -1)
    with pytest.raises(FilterError, match="no field"):
        fulltext.text_match(c, "nope", "a", 1)


# --- multi-language analyzers ----------------------------------------------------------------
MULTI = {
    "analyzers": {"english": {"type": "english"}, "german": {"type": "german"}, "default": {"tokenizer": "whitespace"}},
    "by_field": "lang",
    "alias": {"en": "english", "de": "german"},
}


def test_multi_analyzer_rows_use_their_language():
    c = StandInCollection(make_schema(multi=MULTI))
    c.insert([{"id": 0, "text": "running dogs", "lang": "en"},
              {"id": 1, "text": "laufende Hunde", "lang": "de"},
              {"id": 2, "text": "running Hunde", "lang": "xx"}])
    h = fulltext.token_hash
    assert set(c.vectors[0]) == {h("run"), h("dog")}
    assert set(c.vectors[1]) == {h("laufend"), h("hund")}
    assert set(c.vectors[2]) == {h("running"), h("Hunde")}
    got, _ = search_all(c, "runs", analyzer_name="english")
    assert set(got) == {0}
    got, _ = search_all(c, "Hunde", analyzer_name="de")
    assert set(got) == {1}
    got, _ = search_all(c, "Hunde")  # the default analyzer
    assert set(got) == {2}
    with pytest.raises(ParamError, match="no analyzer"):
        search_all(c, "x", analyzer_name="klingon")
    # text_match analyses the query with each row's own analyzer
    assert fulltext.text_match(c, "text", "run hunde", 1).tolist() == [True, True, False]


def test_multi_analyzer_params_are_validated():
    bad = dict(MULTI)
    bad.pop("by_field")
    c = StandInCollection(make_schema(multi=bad))
    with pytest.raises(ParamError, match="by_field"):
        c.insert([{"id": 0, "text": "x"}])


# --- the same differential check through the engine's real Collection ------------------------
def _real_collection(schema, index_params=None):
    """An in-memory engine Collection (Database.open(None) once the engine has it)."""
    from embedb.schema import IndexParam

    indexes = [IndexParam("sparse", "SPARSE_INVERTED_INDEX", metric_type="BM25", params=dict(index_params or {})).to_dict()]
    try:
        from embedb.engine import Database
    except ImportError:
        Database = None
    if Database is not None:
        db = Database.open(None)
        coll = db.create_collection("docs", schema)
        coll.meta["indexes"] = indexes
        return coll
    import threading

    from embedb.engine.collection import Collection
    from embedb.engine.storage import Storage

    class _MemoryDB:  # the few members Collection uses, until Database lands
        read_only = False

        def __init__(self):
            self._lock = threading.RLock()
            self._storage = Storage(None)

        def _check_writable(self):
            pass

        def _after_write(self, size):
            pass

    schema.verify()
    info = {"schema": schema.to_dict(), "created_at": 0, "meta": {"indexes": indexes}}
    return Collection(_MemoryDB(), 1, "docs", info, {"_default": 0})


@pytest.mark.parametrize("seed", range(4))
def test_real_collection_bm25_and_match_after_random_writes(seed):
    rng = random.Random(1000 + seed)
    c = _real_collection(make_schema({"tokenizer": "whitespace"}), {"bm25_k1": 1.6, "bm25_b": 0.5})
    next_pk = 0
    for step in range(10):
        op = rng.choice(["insert", "insert", "upsert", "delete"]) if step else "insert"
        if op == "insert":
            n = rng.randint(1, 6)
            c.insert([{"id": next_pk + i, "text": random_text(rng), "lang": "x"} for i in range(n)])
            next_pk += n
        elif op == "upsert":
            c.upsert([{"id": rng.randrange(next_pk), "text": random_text(rng), "lang": "x"}])
        else:
            c.delete(ids=[rng.randrange(next_pk)])
        live = c.mask()
        texts = c.source.column("text").values.tolist()
        tokens = [t.split() for t in texts]
        if not live.any() or not sum(len(tokens[r]) for r in np.flatnonzero(live)):
            continue
        query = " ".join(rng.choice(WORDS) for _ in range(3))
        got, _ = search_all(c, query)
        want = reference_bm25(tokens, live, query.split(), 1.6, 0.5)
        assert got.keys() == want.keys()
        assert all(got[r] == pytest.approx(want[r], rel=1e-5) for r in want)
        # text_match through the real filter compiler, masked by live rows
        word = rng.choice(WORDS)
        rows = c.query(f"text_match(text, '{word}')", output_fields=["id"])
        expected = {c.pk_values(np.array([r]))[0] for r in np.flatnonzero(live & reference_text_match(tokens, [word], 1))}
        assert {r["id"] for r in rows} == expected


def test_phrase_match_with_a_slop_wider_than_any_document():
    rng = random.Random(77)
    a = build_analyzer({"tokenizer": "whitespace"})
    c = StandInCollection(make_schema({"tokenizer": "whitespace"}))
    c.insert([{"id": i, "text": " ".join(rng.choice(WORDS[:4]) for _ in range(rng.randint(0, 6)))} for i in range(40)])
    positions = [_positions(a, t) for t in c.texts]
    for phrase_text in ["apple banana", "banana apple apple", "cherry date apple banana"]:
        phrase = [(t, i) for i, t in enumerate(phrase_text.split())]
        for slop in (5, 100, 10**6):
            got = fulltext.phrase_match(c, "text", phrase_text, slop)
            np.testing.assert_array_equal(got, reference_phrase_match(positions, phrase, slop))


def test_builtin_bm25_ndcg_is_within_001_of_rank_bm25_on_msmarco():
    from pathlib import Path

    from embedb.engine import search as engine_search
    from embedb.eval import load_beir, ndcg_at_k

    rank_bm25 = pytest.importorskip("rank_bm25")
    data = Path("/work/shared/data/msmarco-5k")
    if not data.is_dir():
        pytest.skip("msmarco-5k data set not available")
    ds = load_beir(data)
    doc_ids = list(ds.corpus)
    docs = [ds.document_text(d) for d in ds.corpus.values()]
    judged = ds.judged_queries()
    c = _real_collection(make_schema({"type": "english"}, max_length=65535))
    for start in range(0, len(docs), 2500):
        c.insert([{"id": start + i, "text": t, "lang": "en"} for i, t in enumerate(docs[start:start + 2500])])
    ours, ref_run = {}, {}
    a = build_analyzer({"type": "english"})
    ref = rank_bm25.BM25Okapi(a.tokenize_batch(docs))
    for qid, q in judged.items():
        hits = engine_search.search(c, [q], anns_field="sparse", limit=10, search_params={"metric_type": "BM25"})[0]
        ours[qid] = [doc_ids[h["id"]] for h in hits]
        s = ref.get_scores(a(q))
        ref_run[qid] = [doc_ids[i] for i in np.argsort(-s, kind="stable")[:10]]
    ndcg_ours = np.mean(list(ndcg_at_k(ours, ds.qrels, 10).values()))
    ndcg_ref = np.mean(list(ndcg_at_k(ref_run, ds.qrels, 10).values()))
    assert ndcg_ours > 0.7 and abs(ndcg_ours - ndcg_ref) < 0.01
