"""BM25 on REAL text (the msmarco passages in /work/shared/data/msmarco-5k, read in place) for
every built-in language analyzer: the BM25 function's output of batch inserts through
MilvusClient (the analyzer's NumPy byte path above its size threshold, the per-text path below
it, mixed batches with a huge document, empty documents and non-ASCII text) equals the
documents analysed one at a time; and BM25 search results equal a plain Python BM25 over those
per-text tokens (docs/text.md's formula), scores and order, ties by primary key."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import embedb
from embedb.engine import fulltext
from embedb.text import LANGUAGES, analyzer as analyzer_module, build_analyzer

DATA = Path("/work/shared/data/msmarco-5k")
N_DOCS = 400

pytestmark = pytest.mark.skipif(not (DATA / "corpus.jsonl").exists(), reason="msmarco-5k not present")


def _corpus(n: int) -> list[str]:
    out = []
    with open(DATA / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            out.append(json.loads(line)["text"])
            if len(out) >= n:
                break
    return out


def _queries() -> list[str]:
    with open(DATA / "queries.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def _fresh(params):
    a = build_analyzer(params)
    return analyzer_module.Analyzer(a.tokenizer, a.filters, params=a.params)


def _documents() -> list[str]:
    docs = _corpus(N_DOCS)
    extra = ["", "   ", "Straße café naïve ÄPFEL İstanbul кошки Ελληνικά 東京タワー 😀 don't e-mail",
             " ".join(docs[:60]),                       # a huge document (~20k chars)
             "", "Ünïcödé " + docs[3].upper()]
    return docs[:40] + extra + docs[40:]


def _batches(docs: list[str]) -> list[list[int]]:
    """Row index batches: single documents, batches just under and just over the byte path's
    threshold (analyzer._BYTES_PATH_MIN characters), a mixed batch with the huge document and
    the empty ones, and the rest in large batches."""
    limit = analyzer_module._BYTES_PATH_MIN
    out, i = [[0], [1]], 2
    for want_over in (False, True, False, True):
        size, part = 0, []
        while i < len(docs) and (size + len(docs[i]) < limit or want_over and size < limit):
            part.append(i)
            size += len(docs[i])
            i += 1
        if part:
            out.append(part)
    out.append(list(range(i, min(i + 50, len(docs)))))   # holds the extras when i <= 40
    i = min(i + 50, len(docs))
    while i < len(docs):
        out.append(list(range(i, min(i + 70, len(docs)))))
        i += 70
    return out


def _bm25_client(path: str, params, docs: list[str]):
    """A client at ``path`` with collection "docs": text analysed by ``params`` (None: the
    standard analyzer), its BM25 output indexed, ``docs`` inserted in ``_batches``."""
    client = embedb.MilvusClient(path)
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    kwargs = {} if params is None else {"analyzer_params": params}
    schema.add_field("text", embedb.DataType.VARCHAR, max_length=65535, enable_analyzer=True, **kwargs)
    schema.add_field("sparse", embedb.DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(embedb.Function(name="bm25", function_type=embedb.FunctionType.BM25,
                                        input_field_names=["text"], output_field_names=["sparse"]))
    ix = client.prepare_index_params()
    ix.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("docs", schema=schema, index_params=ix)
    for part in _batches(docs):
        client.insert("docs", [{"id": i, "text": docs[i]} for i in part])
    return client


def _bm25(doc_tokens: list[list[str]], query: list[str], k1=1.2, b=0.75) -> np.ndarray:
    n = len(doc_tokens)
    lens = np.array([len(t) for t in doc_tokens], float)
    avgdl = lens.mean()
    tfs = [Counter(t) for t in doc_tokens]
    scores = np.zeros(n)
    for term in query:
        df = sum(1 for tf in tfs if term in tf)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for d, tf in enumerate(tfs):
            if term in tf:
                f = tf[term]
                scores[d] += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * lens[d] / avgdl))
    return scores


ANALYZERS = [None] + [{"type": code} for code in LANGUAGES]


@pytest.mark.parametrize("params", ANALYZERS, ids=lambda p: "standard" if p is None else p["type"])
def test_batch_inserts_on_real_text_equal_per_text_analysis_and_plain_bm25(params):
    if params and params["type"] == "zh":
        pytest.importorskip("jieba")
    docs = _documents()
    client = _bm25_client(":memory:", params, docs)

    one = _fresh(params)
    per_text = [_fresh(params)(t) if k % 25 == 0 else one(t) for k, t in enumerate(docs)]
    if params is not None:   # the client's run_analyzer agrees with the analyzer, text by text
        for k in (0, 40, 42, 43, 45):
            got = client.run_analyzer(docs[k], analyzer_params=params)
            got = list(got.tokens)
            assert got == per_text[k], k
    stored = {r["id"]: r["sparse"] for r in client.query("docs", filter="id >= 0", output_fields=["sparse"])}
    assert sorted(stored) == list(range(len(docs)))
    for i, toks in enumerate(per_text):
        want = {fulltext.token_hash(t): float(c) for t, c in Counter(toks).items()}
        got = {int(k): float(v) for k, v in dict(stored[i]).items()}
        assert got == want, f"doc {i}: {len(got)} terms stored vs {len(want)} analysed one by one"

    # search: vs a plain BM25 over the per-text tokens, hashed as the engine does (two tokens
    # with one hash are one term to the engine)
    hashed = [[fulltext.token_hash(t) for t in toks] for toks in per_text]
    queries = _queries()[:12] + [docs[7][:80], "zzzznotaword"]
    hits = client.search("docs", data=queries, anns_field="sparse", limit=10,
                         search_params={"metric_type": "BM25"})
    for q, h in zip(queries, hits):
        scores = _bm25(hashed, [fulltext.token_hash(t) for t in one(q)])
        order = np.lexsort((np.arange(len(docs)), -scores))
        want = [int(d) for d in order[:10] if scores[d] > 0]
        got = [x["id"] for x in h]
        got_scores = np.array([x["distance"] for x in h])
        np.testing.assert_allclose(got_scores, scores[got], rtol=2e-5, atol=1e-6)
        if got != want:   # only float ties may reorder
            np.testing.assert_allclose(got_scores, scores[want], rtol=2e-5, atol=1e-6)
            assert set(got) - set(want) <= {d for d in got if abs(scores[d] - scores[want[-1]]) < 1e-4}, q
    client.close()


def _search_matches_plain(client, docs_by_id: dict, analyzer, queries: list[str]) -> None:
    ids = sorted(docs_by_id)
    hashed = [[fulltext.token_hash(t) for t in analyzer(docs_by_id[i])] for i in ids]
    hits = client.search("docs", data=queries, anns_field="sparse", limit=10,
                         search_params={"metric_type": "BM25"})
    for q, h in zip(queries, hits):
        scores = _bm25(hashed, [fulltext.token_hash(t) for t in analyzer(q)])
        pos = {i: k for k, i in enumerate(ids)}
        order = np.lexsort((np.array(ids), -scores))
        want = [ids[d] for d in order[:10] if scores[d] > 0]
        got = [x["id"] for x in h]
        np.testing.assert_allclose([x["distance"] for x in h], scores[[pos[i] for i in got]], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose([x["distance"] for x in h], scores[[pos[i] for i in want]], rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("params", [None, {"type": "english"}, {"type": "chinese"}], ids=["standard", "en", "zh"])
def test_real_text_after_deletes_upserts_and_reopening_equals_plain_bm25(tmp_path, params):
    if params and params["type"] == "chinese":
        pytest.importorskip("jieba")
    docs = _documents()[:300]
    path = str(tmp_path / "bm.db")
    client = _bm25_client(path, params, docs)
    model = dict(enumerate(docs))
    an = _fresh(params)
    queries = _queries()[:10] + ["温度计 thermometer 中文"]
    _search_matches_plain(client, model, an, queries)        # posting lists built
    gone = list(range(0, 300, 7))
    client.delete("docs", ids=gone)
    for i in gone:
        model.pop(i)
    up = {i: docs[(i * 13) % 300] + " 温度计" for i in range(1, 300, 11) if i in model}
    client.upsert("docs", [{"id": i, "text": t} for i, t in up.items()])
    model.update(up)
    _search_matches_plain(client, model, an, queries)
    client.flush("docs")
    client.close()
    client = embedb.MilvusClient(path)                       # posting lists from their file
    client.load_collection("docs")
    _search_matches_plain(client, model, an, queries)
    client.insert("docs", [{"id": 1000 + k, "text": docs[k]} for k in range(50)])   # above the file
    model.update({1000 + k: docs[k] for k in range(50)})
    _search_matches_plain(client, model, an, queries)
    client.close()
