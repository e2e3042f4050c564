"""The `embedb` command with `--db <server URI>`: ingest, search, query, collections, describe,
stats and export against each server target, with the same answers as against a path."""

from __future__ import annotations

import json

from click.testing import CliRunner

from embedb.cli import cli

from milvus_server import milvus_target, unique_name  # noqa: F401

DOCS = {
    "turing.md": "# Turing\nAlan Turing was born in Maida Vale, London, in 1912.\n",
    "pets.txt": "Cats are small carnivorous mammals. Dogs are loyal companions.\n",
    "rivers.txt": "The Thames flows through London to the North Sea.\n",
}


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _session(db: str, name: str, folder) -> dict:
    out = {}
    _run("ingest", str(folder), "--db", db, "-c", name, "-q")
    listed = json.loads(_run("collections", "--db", db, "--json"))
    out["rows"] = next(c["rows"] for c in listed if c["name"] == name)
    described = json.loads(_run("describe", name, "--db", db, "--json"))
    out["fields"] = [f["name"] for f in described["fields"]]
    hits = json.loads(_run("search", "where was Turing born?", "--db", db, "-c", name,
                           "--mode", "dense", "-n", "2", "--json"))
    out["top"] = hits[0]["id"].rsplit("/", 1)[-1]
    rows = json.loads(_run("query", "chunk == 0", "--db", db, "-c", name, "-o", "source", "--json"))
    out["sources"] = sorted(r["source"].rsplit("/", 1)[-1] for r in rows)
    out["count"] = json.loads(_run("query", "", "--db", db, "-c", name, "--count", "--json"))["count"]
    stats = json.loads(_run("stats", "--db", db, "--json"))
    out["stats_rows"] = stats[f"rows[{name}]"]
    return out


def test_cli_commands_against_a_server_answer_as_against_a_path(milvus_target, tmp_path):
    milvus_target.require("english_analyzer")  # what `embedb ingest` gives its text field
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    name = unique_name("docs")
    local = _session(str(tmp_path / "local.db"), name, folder)
    try:
        remote = _session(milvus_target.uri, name, folder)
        export = tmp_path / "docs.jsonl"
        _run("export", name, "--db", milvus_target.uri, "-o", str(export), "-q")
        lines = export.read_text(encoding="utf-8").splitlines()
    finally:
        _run("drop", name, "--db", milvus_target.uri, "--ignore")
    assert remote == local
    assert local["top"] == "turing.md#0" and local["rows"] == 3
    assert sum('"text"' in line for line in lines) >= 3


def test_cli_reports_an_unreachable_server_in_one_line():
    result = CliRunner().invoke(cli, ["collections", "--db", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "127.0.0.1:9" in result.output
    assert len(result.output.strip().splitlines()) == 1
