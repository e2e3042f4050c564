"""Built-in full-text search end to end through MilvusClient on a real database file:
BM25 scores against a from-scratch reference after random writes, text_match / phrase_match in
query, search and delete filters, hybrid search, run_analyzer, and reopening the database."""

from __future__ import annotations

import random

import numpy as np
import pytest
from conftest import door_api, milvus_raises

from embedb.errors import DataError
from embedb.text import build_analyzer
from test_fulltext_engine import WORDS, reference_bm25, reference_phrase_match, reference_text_match

embedb = pytest.importorskip("embedb")
try:
    from embedb.engine import Database  # noqa: F401
except ImportError:  # the storage engine lands separately
    pytest.skip("embedb.engine.Database is not available yet", allow_module_level=True)

from embedb import AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, RRFRanker  # noqa: E402

ANALYZER = {"tokenizer": "standard", "filter": ["lowercase"]}


def create(client, k1=None, b=None, dense=False):
    api = door_api(client)
    DataType, Function, FunctionType = api.DataType, api.Function, api.FunctionType
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=1000, enable_analyzer=True,
                     analyzer_params=ANALYZER, enable_match=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    if dense:
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=4)
    schema.add_function(Function("bm25", FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    params = {}
    if k1 is not None:
        params = {"bm25_k1": k1, "bm25_b": b}
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=params)
    if dense:
        index.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_collection("docs", schema=schema, index_params=index)


def live_texts(client):
    rows = client.query("docs", filter="id >= 0", output_fields=["text"], limit=16384)
    return {r["id"]: r["text"] for r in rows}


def check_bm25(client, query, k1=1.2, b=0.75, filter=""):
    texts = live_texts(client)
    ids = sorted(texts)
    a = build_analyzer(ANALYZER)
    allowed = None
    if filter:
        kept = {r["id"] for r in client.query("docs", filter=filter, output_fields=["id"], limit=16384)}
        allowed = [i in kept for i in ids]
    want = reference_bm25([a(texts[i]) for i in ids], [True] * len(ids), a(query), k1, b, allowed)
    want = {ids[r]: s for r, s in want.items()}
    hits = client.search("docs", data=[query], anns_field="sparse", limit=len(ids) + 1, filter=filter,
                         search_params={"metric_type": "BM25"})[0]
    got = {h["id"]: h["distance"] for h in hits}
    assert got.keys() == want.keys()
    for pk, s in want.items():
        assert got[pk] == pytest.approx(s, rel=1e-5)
    d = [h["distance"] for h in hits]
    assert all(x > 0 for x in d) and d == sorted(d, reverse=True)


@pytest.mark.parametrize("seed", range(3))
def test_scores_equal_from_scratch_bm25_after_random_writes(tmp_path, seed, open_client):
    rng = random.Random(seed)
    client = open_client(str(tmp_path / "ft.db"))
    create(client, 1.5, 0.6)
    next_pk = 0
    for step in range(10):
        op = rng.choice(["insert", "upsert", "delete"]) if step else "insert"
        if op == "insert":
            n = rng.randint(1, 8)
            client.insert("docs", [{"id": next_pk + i, "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9)))}
                                   for i in range(n)])
            next_pk += n
        elif op == "upsert":
            client.upsert("docs", [{"id": rng.randrange(next_pk), "text": " ".join(rng.choice(WORDS) for _ in range(4))}])
        else:
            client.delete("docs", ids=[rng.randrange(next_pk)])
        if live_texts(client):
            check_bm25(client, " ".join(rng.choice(WORDS) for _ in range(3)), 1.5, 0.6)
    check_bm25(client, "apple banana", 1.5, 0.6, filter="id % 2 == 0")
    client.close()
    # statistics and results survive a reopen
    client = open_client(str(tmp_path / "ft.db"))
    client.load_collection("docs")
    if live_texts(client):
        check_bm25(client, "apple cherry fig", 1.5, 0.6)
    client.close()


def test_text_and_phrase_match_filters_everywhere(tmp_path, open_client):
    rng = random.Random(5)
    client = open_client(str(tmp_path / "m.db"))
    create(client)
    texts = [" ".join(rng.choice(WORDS[:5]) for _ in range(rng.randint(1, 7))) for _ in range(60)]
    client.insert("docs", [{"id": i, "text": t} for i, t in enumerate(texts)])
    a = build_analyzer(ANALYZER)
    tokens = [a(t) for t in texts]
    want = reference_text_match(tokens, ["apple", "cherry"], 2)
    got = client.query("docs", filter="text_match(text, 'apple cherry', minimum_should_match=2)",
                       output_fields=["id"], limit=16384)
    assert sorted(r["id"] for r in got) == np.flatnonzero(want).tolist()
    positions = []
    for t in texts:
        occ = {}
        for p, tok in enumerate(a(t)):
            occ.setdefault(tok, []).append(p)
        positions.append(occ)
    want = reference_phrase_match(positions, [("banana", 0), ("apple", 1)], 1)
    got = client.query("docs", filter="phrase_match(text, 'banana apple', 1)", output_fields=["id"], limit=16384)
    assert sorted(r["id"] for r in got) == np.flatnonzero(want).tolist()
    # in a BM25 search filter, and in delete
    check_bm25(client, "date elder", filter="text_match(text, 'apple')")
    deleted = client.delete("docs", filter="text_match(text, 'banana')")
    expect = int(reference_text_match(tokens, ["banana"], 1).sum())
    assert (deleted["delete_count"] if isinstance(deleted, dict) else len(deleted)) == expect
    assert not client.query("docs", filter="text_match(text, 'banana')", output_fields=["id"], limit=16384)
    client.close()


def test_output_field_is_not_writable_and_hybrid_search_fuses(tmp_path, open_client):
    client = open_client(str(tmp_path / "h.db"))
    api = door_api(client)
    AnnSearchRequest, RRFRanker = api.AnnSearchRequest, api.RRFRanker
    create(client, dense=True)
    with milvus_raises(DataError, match="output of BM25 function"):
        client.insert("docs", [{"id": 0, "text": "x", "sparse": {1: 1.0}, "vec": [0, 0, 0, 0]}])
    rows = [{"id": i, "text": t, "vec": [float(i), 0, 0, 0]} for i, t in
            enumerate(["apple pie", "banana split", "apple banana", "cherry"])]
    client.insert("docs", rows)
    reqs = [AnnSearchRequest(data=["apple"], anns_field="sparse", param={"metric_type": "BM25"}, limit=4),
            AnnSearchRequest(data=[[3.0, 0, 0, 0]], anns_field="vec", param={"metric_type": "L2"}, limit=4)]
    hits = client.hybrid_search("docs", reqs, RRFRanker(60), limit=4)[0]
    # RRF by hand: BM25 ranks rows 0/2 (shorter "apple pie" first), L2 ranks 3, 2, 1, 0
    bm25_rank = [h["id"] for h in client.search("docs", data=["apple"], anns_field="sparse", limit=4,
                                               search_params={"metric_type": "BM25"})[0]]
    dense_rank = [3, 2, 1, 0]
    fused = {i: sum(1 / (60 + r.index(i) + 1) for r in (bm25_rank, dense_rank) if i in r) for i in range(4)}
    assert [h["id"] for h in hits] == sorted(fused, key=lambda i: (-fused[i], i))
    assert client.run_analyzer("Apple PIE", collection_name="docs", field_name="text").tokens == ["apple", "pie"]
    client.close()


def test_multi_language_field_through_the_client(tmp_path, open_client):
    client = open_client(str(tmp_path / "ml.db"))
    api = door_api(client)
    DataType, Function, FunctionType = api.DataType, api.Function, api.FunctionType
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("language", DataType.VARCHAR, max_length=16)
    schema.add_field("text", DataType.VARCHAR, max_length=1000, enable_analyzer=True, enable_match=True,
                     multi_analyzer_params={"analyzers": {"english": {"type": "english"}, "german": {"type": "german"},
                                                          "default": {"type": "standard"}},
                                            "by_field": "language", "alias": {"en": "english", "de": "german"}})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function("bm25", FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("docs", schema=schema, index_params=index)
    client.insert("docs", [{"id": 0, "language": "en", "text": "The dogs are running"},
                           {"id": 1, "language": "de", "text": "Die Hunde laufen"},
                           {"id": 2, "language": "fr", "text": "Les chiens courent"}])
    hits = client.search("docs", data=["dog"], anns_field="sparse", limit=5,
                         search_params={"metric_type": "BM25", "analyzer_name": "english"})[0]
    assert [h["id"] for h in hits] == [0]
    hits = client.search("docs", data=["Hund"], anns_field="sparse", limit=5,
                         search_params={"metric_type": "BM25", "params": {"analyzer_name": "de"}})[0]
    assert [h["id"] for h in hits] == [1]
    rows = client.query("docs", filter="text_match(text, 'run hunde chiens')", output_fields=["id"], limit=10)
    assert sorted(r["id"] for r in rows) == [0, 1, 2]
    client.close()


def test_indexes_are_saved_at_checkpoint_and_reused_after_reopen(tmp_path, monkeypatch):
    from embedb.engine import fulltext

    path = str(tmp_path / "persist.db")
    client = MilvusClient(path)
    create(client)
    texts = ["apple banana", "banana cherry", "cherry apple apple", "date"]
    client.insert("docs", [{"id": i, "text": t} for i, t in enumerate(texts)])
    client.delete("docs", ids=[1])
    check_bm25(client, "apple cherry")
    assert len(client.query("docs", filter="phrase_match(text, 'cherry apple')", output_fields=["id"], limit=10)) == 1
    client.close()  # checkpoint: the posting lists are written next to the columns
    assert sorted(p.name for p in tmp_path.rglob("fulltext-*.npz")) == ["fulltext-bm25-sparse.npz", "fulltext-match-text.npz"]

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the saved index should have been loaded")

    monkeypatch.setattr(fulltext.FieldAnalyzers, "analyze_rows", no_rebuild)
    monkeypatch.setattr(fulltext.Postings, "extend", no_rebuild)
    client = MilvusClient(path)
    client.load_collection("docs")
    check_bm25(client, "apple cherry")
    got = client.query("docs", filter="phrase_match(text, 'cherry apple')", output_fields=["id"], limit=10)
    assert [r["id"] for r in got] == [2]
    monkeypatch.undo()
    client.insert("docs", [{"id": 9, "text": "cherry apple pie"}])  # caught up on top of the loaded index
    check_bm25(client, "apple cherry pie")
    got = client.query("docs", filter="phrase_match(text, 'cherry apple')", output_fields=["id"], limit=10)
    assert sorted(r["id"] for r in got) == [2, 9]
    client.close()


def test_a_saved_index_of_an_older_generation_is_not_used(tmp_path):
    path = str(tmp_path / "gen.db")
    client = MilvusClient(path)
    create(client)
    client.insert("docs", [{"id": i, "text": t} for i, t in enumerate(["apple x", "banana y", "apple banana", "fig"])])
    check_bm25(client, "apple banana")
    client.close()  # saves generation 0
    client = MilvusClient(path)
    client.load_collection("docs")
    client.delete("docs", ids=[0, 2])
    client.compact("docs")  # row numbers change: the generation-0 file no longer applies
    client.insert("docs", [{"id": 7, "text": "apple apple fig"}, {"id": 8, "text": "banana"}])
    check_bm25(client, "apple banana fig")
    got = client.query("docs", filter="text_match(text, 'apple')", output_fields=["id"], limit=10)
    assert [r["id"] for r in got] == [7]
    client.close()
    client = MilvusClient(path)
    client.load_collection("docs")
    check_bm25(client, "apple banana fig")
    client.close()


def test_concurrent_filters_searches_and_writes_do_not_deadlock(tmp_path):
    import threading

    client = MilvusClient(str(tmp_path / "threads.db"))
    create(client)
    client.insert("docs", [{"id": i, "text": f"apple banana {i}"} for i in range(50)])
    errors = []

    def run(fn):
        try:
            for _ in range(30):
                fn()
        except Exception as exc:  # reported below
            errors.append(exc)

    counter = iter(range(1000, 100000))
    workers = [
        threading.Thread(target=run, args=(lambda: client.query("docs", filter="text_match(text, 'apple')", output_fields=["id"], limit=5),)),
        threading.Thread(target=run, args=(lambda: client.search("docs", data=["banana"], anns_field="sparse", limit=3,
                                                                search_params={"metric_type": "BM25"}),)),
        threading.Thread(target=run, args=(lambda: client.insert("docs", [{"id": next(counter), "text": "apple pie"}]),)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not any(w.is_alive() for w in workers), "deadlock"
    assert not errors
    check_bm25(client, "apple banana pie")
    client.close()


@pytest.mark.parametrize("k1, b", [(5.0, 0.75), (1.2, 1.5), ("big", 0.75)])
def test_bad_bm25_parameters_are_refused_at_create_index(k1, b):
    from embedb.errors import ParamError

    client = MilvusClient(":memory:")
    with pytest.raises(ParamError, match="bm25_"):
        create(client, k1=k1, b=b)
    assert not client.has_collection("docs")  # the failed create left nothing behind
