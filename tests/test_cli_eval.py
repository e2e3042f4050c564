"""`embedb eval` on a small BEIR folder, the corpus vector cache, and the commands that take a
local model folder (`--rerank`, `--model`), using tiny models built in-process."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from embedb.cli import cli

TOPICS = [
    ("volcano", "Volcanoes erupt when magma rises through the crust and lava flows out."),
    ("piano", "The piano is a keyboard instrument whose hammers strike strings."),
    ("glacier", "Glaciers are slow rivers of ice that carve valleys in mountains."),
    ("bread", "Bread is baked from flour, water and yeast that makes the dough rise."),
    ("comet", "A comet is an icy body that grows a glowing tail near the sun."),
    ("chess", "Chess is a board game where each player moves sixteen pieces."),
    ("coffee", "Coffee is brewed from roasted beans of the coffea plant."),
    ("tides", "Ocean tides are caused by the gravity of the moon and the sun."),
]
QUERIES = [("q1", "how do volcanoes erupt lava", "volcano"),
           ("q2", "keyboard instrument with hammers and strings", "piano"),
           ("q3", "how are ocean tides caused by the moon", "tides")]


def run(*args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
    return result


@pytest.fixture()
def beir(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDB_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "tiny-beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": doc_id, "title": "", "text": text}) + "\n" for doc_id, text in TOPICS))
    (folder / "queries.jsonl").write_text("".join(
        json.dumps({"_id": qid, "text": text}) + "\n" for qid, text, _ in QUERIES)
        + json.dumps({"_id": "q9", "text": "an unjudged query"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, _, d in QUERIES))
    return folder


def test_eval_scores_each_method(beir, tmp_path):
    db, saved = tmp_path / "bench.db", tmp_path / "results.json"
    result = run("eval", beir, "--db", db, "--json", "-q", "--save-json", saved)
    report = json.loads(result.stdout)
    assert json.loads(saved.read_text()) == report
    assert report["collection"] == "beir_tiny_beir" and report["documents"] == len(TOPICS)
    by_method = {r["method"]: r for r in report["results"]}
    assert list(by_method) == ["dense", "bm25", "hybrid"]
    for row in by_method.values():
        assert row["queries"] == 3  # the unjudged query is not scored
        assert 0.0 <= row["ndcg@10"] <= 1.0 and row["recall@100"] == 1.0  # 8 docs: all retrieved
        assert row["mean_ms"] > 0 and row["p95_ms"] >= row["mean_ms"] * 0.5
    # each query names its document's distinctive words: BM25 ranks it first
    assert by_method["bm25"]["ndcg@10"] == 1.0
    assert by_method["dense"]["ndcg@10"] > 0.6
    # the corpus vectors were cached, keyed by model and documents
    (cached,) = (tmp_path / "cache").glob("vectors-*.npy")
    assert np.load(cached).shape == (len(TOPICS), 384)


def test_eval_reuses_the_loaded_corpus(beir, tmp_path):
    db = tmp_path / "bench.db"
    first = run("eval", beir, "--db", db, "--methods", "bm25")
    assert "inserting documents" in first.stderr and "bm25" in first.stdout
    again = run("eval", beir, "--db", db, "--methods", "bm25")
    assert "inserting documents" not in again.stderr
    rebuilt = run("eval", beir, "--db", db, "--methods", "bm25", "--rebuild", "--no-cache")
    assert "inserting documents" in rebuilt.stderr and "embedding corpus (cached)" not in rebuilt.stderr
    table = run("eval", beir, "--db", db, "--methods", "bm25,dense", "--csv", "-q").stdout.splitlines()
    assert table[0] == "method,ndcg@10,recall@100,mean_ms,p95_ms,queries" and len(table) == 3


def test_eval_errors(beir, tmp_path):
    db = tmp_path / "e.db"
    result = run("eval", beir, "--db", db, "--methods", "dense,sparkles", ok=False)
    assert result.exit_code == 2 and "sparkles" in result.output
    result = run("eval", beir, "--db", db, "--methods", "reranked", ok=False)
    assert result.exit_code == 2 and "needs --rerank" in result.output
    result = run("eval", tmp_path, "--db", db, ok=False)
    assert result.exit_code == 1 and "not a BEIR folder" in result.stderr


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("sentence_transformers")
    from test_model_local_fixtures import build_bert

    return build_bert(tmp_path_factory.mktemp("ce"), kind="sequence-classification", seed=3, num_labels=1)


def test_eval_reranked_reorders_hybrid(beir, tmp_path, cross_encoder):
    result = run("eval", beir, "--db", tmp_path / "r.db", "--methods", "hybrid,reranked",
                 "--rerank", cross_encoder, "--json", "-q")
    rows = {r["method"]: r for r in json.loads(result.stdout)["results"]}
    assert set(rows) == {"hybrid", "reranked"}
    # reranking reorders the same candidates, so recall@100 cannot change
    assert rows["reranked"]["recall@100"] == rows["hybrid"]["recall@100"]


def test_search_rerank_with_a_local_cross_encoder(tmp_path, cross_encoder):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for _, t in TOPICS))
    db = tmp_path / "s.db"
    run("ingest", docs, "--db", db, "-q")
    plain = json.loads(run("search", "ocean tides", "--db", db, "-n", "8", "--json").stdout)
    hits = json.loads(run("search", "ocean tides", "--db", db, "-n", "3", "--rerank", cross_encoder,
                          "--json").stdout)
    assert len(hits) == 3
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert {h["id"] for h in hits} <= {h["id"] for h in plain}
    from embedb.model.reranker import CrossEncoderRerankFunction

    expected = CrossEncoderRerankFunction(model_name=str(cross_encoder))(
        "ocean tides", [h["text"] for h in plain], top_k=3)
    assert [h["text"] for h in hits] == [r.text for r in expected]


def test_ingest_and_search_with_a_local_sentence_transformer(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sentence_transformers")
    from test_model_local_fixtures import build_bert, make_sentence_transformer_folder

    model = make_sentence_transformer_folder(build_bert(tmp_path / "st", seed=5))
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for _, t in TOPICS))
    db = tmp_path / "m.db"
    run("ingest", docs, "--db", db, "-c", "small", "--model", model, "-q")
    (row,) = json.loads(run("collections", "--db", db, "--json").stdout)
    assert row["dense"] == "vector (32-d)" and row["model"] == str(model)
    hits = json.loads(run("search", "chess board game", "--db", db, "--mode", "dense", "--json").stdout)
    assert len(hits) == 5  # the query was embedded with the recorded 32-d model
    wrong = run("search", "chess", "--db", db, "--mode", "dense", "--model", "default", ok=False)
    assert wrong.exit_code == 1 and "makes 384-d vectors" in wrong.stderr
