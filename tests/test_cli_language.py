"""--language for embedb ingest and eval: the BM25 analyzer's language is stored with the
collection and used for queries (Arabic and German text that the English analyzer misses)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from embedb import MilvusClient
from embedb.cli import cli

AR_DOCS = [("d1", "الكتاب جميل جدا"), ("d2", "السيارة سريعة"), ("d3", "المدينة كبيرة ومزدحمة")]
AR_QUERIES = [("q1", "كتاب", "d1"), ("q2", "سيارة", "d2"), ("q3", "مدينة", "d3")]


def run(*args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def arabic_beir(folder):
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": d, "title": "", "text": t}, ensure_ascii=False) + "\n" for d, t in AR_DOCS),
        encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(
        json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n" for q, t, _ in AR_QUERIES),
        encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, _, d in AR_QUERIES))
    return folder


def bm25_ndcg(report):
    return {r["method"]: r["ndcg@10"] for r in report["results"]}["bm25"]


def test_eval_language_arabic_beats_the_english_default(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDB_CACHE_DIR", str(tmp_path / "cache"))
    data = arabic_beir(tmp_path / "ar")
    english = json.loads(run("eval", data, "--db", tmp_path / "en.db", "--methods", "bm25",
                             "--json", "-q").stdout)
    arabic = json.loads(run("eval", data, "--db", tmp_path / "ar.db", "--methods", "bm25",
                            "--language", "ar", "--json", "-q").stdout)
    assert english["language"] == "english" and arabic["language"] == "arabic"
    assert bm25_ndcg(english) == 0.0 and bm25_ndcg(arabic) == 1.0   # "ال" is stripped
    # the language is part of what was loaded: asking for English again rebuilds
    again = json.loads(run("eval", data, "--db", tmp_path / "ar.db", "--methods", "bm25",
                           "--json", "-q").stdout)
    assert again["language"] == "english" and bm25_ndcg(again) == 0.0


def test_ingest_language_is_stored_and_used_for_queries(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("Die Häuser stehen am Fluss.", encoding="utf-8")
    (notes / "b.txt").write_text("Der Hund schläft im Garten.", encoding="utf-8")
    db = tmp_path / "de.db"
    run("ingest", notes, "--db", db, "--language", "german", "-q")
    with MilvusClient(str(db)) as c:
        info = c.describe_collection("docs")
        text = next(f for f in info["fields"] if f["name"] == "text")
        assert text["params"]["analyzer_params"] == {"type": "german"}
        assert info["properties"]["embedb.language"] == "german"
    hits = json.loads(run("search", "Haus", "--db", db, "--mode", "bm25", "--json").stdout)
    assert hits and hits[0]["id"].endswith("a.txt#0")   # "Häuser" stems to "haus"
    wrong = run("ingest", notes, "--db", db, "--language", "fr", ok=False)
    assert wrong.exit_code == 1 and "analyzes text as 'german'" in wrong.output
    bad = run("ingest", notes, "--db", tmp_path / "x.db", "--language", "klingon", ok=False)
    assert bad.exit_code == 1 and "unknown language" in bad.output
