"""The `embedb` command end to end: every subcommand on a real temporary database, through click's
CliRunner (and a subprocess for `python -m embedb.cli`)."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from embedb.cli import cli

REPO = Path(__file__).resolve().parents[1]


def run(*args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
    return result


def run_json(*args):
    return json.loads(run(*args, "--json").stdout)


def write_notes(folder):
    (folder / "people").mkdir(parents=True)
    (folder / "people" / "turing.md").write_text(
        "# Alan Turing\n\nAlan Turing was born in Maida Vale, London, and raised in southern England.")
    (folder / "ai.txt").write_text("Artificial intelligence was founded as an academic discipline in 1956.")
    (folder / "rows.jsonl").write_text(
        json.dumps({"id": 1, "text": "Python is a programming language for data science.", "tag": "code"})
        + "\n" + json.dumps({"id": 2, "text": "The cat sat on the mat all afternoon.", "tag": "pets"}) + "\n")
    (folder / "table.csv").write_text("body,year\nThe Dartmouth conference took place in summer.,1956\n")
    return folder


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The notes ingested once per module; tests get a copy of the closed database."""
    tmp = tmp_path_factory.mktemp("pristine")
    notes = write_notes(tmp / "notes")
    run("ingest", notes, "--db", tmp / "notes.db", "-q")
    return notes, tmp / "notes.db"


@pytest.fixture()
def db(tmp_path, pristine):
    src = pristine[1]
    dst = tmp_path / "notes.db"
    shutil.copytree(src, dst) if src.is_dir() else shutil.copy2(src, dst)
    return dst


@pytest.fixture()
def notes(pristine):
    return pristine[0]


def test_every_command_has_help_with_an_example_and_is_documented():
    docs = (REPO / "README.md").read_text() + "".join(
        p.read_text() for p in (REPO / "docs").rglob("*.md"))
    assert set(cli.commands) >= {"ingest", "search", "collections", "describe", "stats", "query",
                                 "delete", "drop", "eval", "export", "import"}
    for name in cli.commands:
        result = run(name, "--help")
        assert "Example:" in result.output, f"{name} --help has no example"
        assert re.search(rf"embedb {name}\b", docs), f"'embedb {name}' is not documented"


def test_ingest_reports_files_and_fills_dense_and_bm25(db, notes):
    (row,) = run_json("collections", "--db", db)
    assert row["name"] == "docs" and row["rows"] == 5
    assert row["dense"] == "vector (384-d)" and row["bm25"] == "text -> sparse" and row["model"] == "default"
    rows = run_json("query", "--db", db, "-o", "source", "-o", "tag", "-o", "chunk")
    assert {Path(r["source"]).name for r in rows} == {"turing.md", "ai.txt", "rows.jsonl", "table.csv"}
    assert sorted(r.get("tag") for r in rows if r.get("tag")) == ["code", "pets"]
    (csv_row,) = run_json("query", "year > 1900", "--db", db, "-o", "year")  # CSV numbers are numbers
    assert csv_row["year"] == 1956 and csv_row["id"].endswith("table.csv#0")


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_search_modes_find_the_right_chunk(db, mode):
    hits = run_json("search", "Where was Alan Turing born?", "--db", db, "--mode", mode, "-n", "3")
    assert 1 <= len(hits) <= 3
    assert hits[0]["id"].endswith("turing.md#0") and "Maida Vale" in hits[0]["text"]
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    if mode != "hybrid":
        assert hits[0]["score"] > 0
    table = run("search", "Where was Alan Turing born?", "--db", db, "--mode", mode, "-n", "1").stdout
    assert f"{mode} search in 'docs'" in table and "Maida" in table


def test_search_filter_and_csv(db):
    hits = run_json("search", "programming language", "--db", db, "--filter", 'tag == "pets"')
    assert [(h["tag"], h["doc_id"]) for h in hits] == [("pets", 2)]  # metadata comes along
    csv_out = run("search", "cat on a mat", "--db", db, "--mode", "bm25", "-n", "1", "--csv").stdout
    header, first = csv_out.splitlines()[:2]
    columns = header.split(",")
    assert columns[:5] == ["rank", "score", "id", "text", "source"] and "rows.jsonl#1" in first
    assert set(columns[5:]) == {"doc_id", "tag"}


def test_reingest_skips_unchanged_and_replaces_changed(tmp_path):
    notes, db = write_notes(tmp_path / "notes"), tmp_path / "notes.db"
    run("ingest", notes, "--db", db, "-q")
    plans = run_json("ingest", notes, "--db", db, "-q")
    assert {p["status"] for p in plans} == {"unchanged"}
    (notes / "ai.txt").write_text("Deep learning took off in 2012 with ImageNet.")
    (notes / "new.txt").write_text("A brand new note about the Eiffel tower in Paris.")
    plans = {Path(p["file"]).name: p["status"] for p in run_json("ingest", notes, "--db", db, "-q")}
    assert plans == {"ai.txt": "updated", "new.txt": "added", "turing.md": "unchanged",
                     "rows.jsonl": "unchanged", "table.csv": "unchanged"}
    texts = [r["text"] for r in run_json("query", 'source like "%ai.txt"', "--db", db, "-o", "text")]
    assert texts == ["Deep learning took off in 2012 with ImageNet."]
    assert run_json("query", "--db", db, "--count") == {"count": 6}
    hits = run_json("search", "ImageNet deep learning", "--db", db, "--mode", "bm25", "-n", "1")
    assert hits[0]["id"].endswith("ai.txt#0")
    # --prune drops files deleted from the folder; an emptied file loses its chunks
    (notes / "new.txt").unlink()
    (notes / "table.csv").write_text("body,year\n")
    plans = {Path(p["file"]).name: p["status"] for p in run_json("ingest", notes, "--db", db, "-q", "--prune")}
    assert plans["new.txt"] == "removed" and plans["table.csv"] == "updated"
    assert run_json("query", "--db", db, "--count") == {"count": 4}


def test_ingest_chunks_long_files_with_overlap(tmp_path):
    doc = tmp_path / "long.txt"
    doc.write_text(" ".join(f"Sentence {i} talks about topic {i}." for i in range(60)))
    path = tmp_path / "c.db"
    (plan,) = run_json("ingest", doc, "--db", path, "-c", "long", "--chunk-size", "200",
                       "--chunk-overlap", "50", "-q")
    rows = run_json("query", "--db", path, "-c", "long", "-o", "chunk", "-o", "text")
    assert plan["chunks"] == len(rows) > 5
    rows.sort(key=lambda r: r["chunk"])
    assert all(len(r["text"]) <= 200 for r in rows)
    for a, b in zip(rows, rows[1:]):
        assert a["text"].split()[-1] in b["text"]  # neighbours share the seam


def test_describe_stats_query(db):
    info = run_json("describe", "--db", db)
    assert info["collection_name"] == "docs" and info["row_count"] == 5
    assert {f["name"] for f in info["fields"]} >= {"id", "text", "vector", "sparse", "source"}
    assert {ix["field_name"] for ix in info["indexes"]} == {"vector", "sparse"}
    assert info["properties"]["embedb.model"] == "default"
    table = run("describe", "docs", "--db", db).stdout
    assert "FLOAT_VECTOR" in table and "BM25" in table
    stats = run_json("stats", "--db", db)
    assert stats["collections"] == 1 and stats["rows"] == 5 and stats["disk_bytes"] > 0
    assert stats["rows[docs]"] == 5
    assert "rows[docs]" in run("stats", "--db", db).stdout  # not eaten as markup
    first = run_json("query", "chunk == 0", "--db", db, "--limit", "2", "--offset", "1")
    assert len(first) == 2 and "vector" not in first[0]
    csv_rows = run("query", 'tag in ["code", "pets"]', "--db", db, "-o", "tag", "--csv").stdout.splitlines()
    assert csv_rows[0].split(",")[-1] == "tag" and len(csv_rows) == 3


def test_delete_and_drop(db):
    assert run_json("delete", 'tag == "pets"', "--db", db)["deleted"] == 1
    ids = [r["id"] for r in run_json("query", 'source like "%ai.txt"', "--db", db, "-o", "id")]
    assert run_json("delete", "--db", db, "--id", ids[0])["deleted"] == 1
    assert run_json("query", "--db", db, "--count") == {"count": 3}
    bad = run("delete", "--db", db, ok=False)
    assert bad.exit_code == 2 and "either a filter expression or --id" in bad.output
    run("drop", "docs", "--db", db)
    assert run_json("collections", "--db", db) == []
    assert run("drop", "docs", "--db", db, ok=False).exit_code == 1
    run("drop", "docs", "--db", db, "--ignore")


def test_errors_are_one_line_without_traceback(tmp_path, db, notes):
    cases = [
        (["collections", "--db", tmp_path / "missing.db"], "database not found"),
        (["search", "x", "--db", db, "-c", "nope"], "collection not found: 'nope'"),
        (["query", "tag ==== 1", "--db", db], ""),
        (["ingest", tmp_path / "missing.txt", "--db", db], "path not found"),
        (["ingest", notes, "--db", db, "--model", "no-such-model"], "holds vectors from model"),
        (["ingest", notes, "--db", db, "-c", "new", "--model", "nope"], "unknown model"),
        (["search", "x", "--db", db, "--rerank", tmp_path / "nope"], "reranker model not found"),
    ]
    for args, message in cases:
        result = run(*args, ok=False)
        assert result.exit_code == 1, (args, result.output)
        err = result.stderr.strip()
        assert err.startswith("Error: ") and len(err.splitlines()) == 1, (args, err)
        assert message in err and "Traceback" not in result.output
    debug = run("--debug", "query", "tag ==== 1", "--db", db, ok=False)
    assert debug.exit_code == 1 and debug.exception is not None
    assert not isinstance(debug.exception, SystemExit)  # the real error, for its traceback
    debug_after = run("query", "tag ==== 1", "--db", db, "--debug", ok=False)
    assert not isinstance(debug_after.exception, SystemExit)


def test_output_flags_are_exclusive(db):
    result = run("collections", "--db", db, "--json", "--csv", ok=False)
    assert result.exit_code == 2 and "choose one of" in result.output


def test_python_m_embedb_cli_and_console_entry():
    proc = subprocess.run([sys.executable, "-m", "embedb.cli", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "ingest" in proc.stdout and "Example:" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "embedb.cli", "stats", "--db", "/nonexistent/x.db"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip() == "Error: database not found: /nonexistent/x.db"


def test_importing_the_cli_loads_no_model():
    code = ("import sys, embedb.cli; heavy = [m for m in ('embedb.model', 'torch', 'transformers', "
            "'embedb.engine') if m in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_search_a_collection_made_with_the_python_api(tmp_path):
    """The five-minute tour's quick-mode collection: dense only, text in a dynamic field."""
    from embedb import MilvusClient, model

    docs = ["Artificial intelligence was founded as an academic discipline in 1956.",
            "Born in Maida Vale, London, Turing was raised in southern England."]
    ef = model.DefaultEmbeddingFunction()
    path = tmp_path / "tour.db"
    client = MilvusClient(str(path))
    client.create_collection("docs", dimension=ef.dim)
    client.insert("docs", [{"id": i, "vector": v, "text": t}
                           for i, (t, v) in enumerate(zip(docs, ef.encode_documents(docs)))])
    client.close()
    hits = run_json("search", "Where was Turing born?", "--db", path, "-n", "1")
    assert hits == [{"rank": 1, "score": hits[0]["score"], "id": 1, "text": docs[1]}]
    result = run("search", "Turing", "--db", path, "--mode", "bm25", ok=False)
    assert result.exit_code == 1 and "no BM25 function" in result.stderr
