"""`embedb export` / `embedb import`: JSON Lines and Parquet round trips, plain JSON Lines, and a
real Milvus Lite dump written by milvus-lite's own dump code."""

import json

import pytest
from click.testing import CliRunner

from embedb.cli import cli


def run(*args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
    return result


def run_json(*args):
    return json.loads(run(*args, "--json").stdout)


@pytest.fixture(scope="module")
def source_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transfer")
    notes = tmp / "notes"
    notes.mkdir()
    (notes / "turing.txt").write_text("Alan Turing was born in Maida Vale, London.")
    (notes / "rows.jsonl").write_text(
        json.dumps({"text": "The cat sat on the mat.", "tag": "pets", "meta": {"n": 1}}) + "\n"
        + json.dumps({"text": "Python is a programming language.", "tag": "code"}) + "\n")
    db = tmp / "src.db"
    run("ingest", notes, "--db", db, "-q")
    return db


def _rows(db, collection):
    rows = run_json("query", "--db", db, "-c", collection)
    return sorted(rows, key=lambda r: r["id"])


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_export_import_round_trip(source_db, tmp_path, suffix):
    if suffix == "parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"docs.{suffix}"
    summary = run_json("export", "docs", "--db", source_db, "-o", out, "-q")
    assert summary == {"collection": "docs", "rows": 3, "file": str(out), "format": suffix}
    target = tmp_path / "copy.db"
    assert run_json("import", out, "--db", target, "-q")["rows"] == 3
    assert _rows(target, "docs") == _rows(source_db, "docs")
    run("import", out, "--db", target, "-q")  # again: rows are upserted by primary key
    assert _rows(target, "docs") == _rows(source_db, "docs")
    src_info, dst_info = (run_json("describe", "docs", "--db", d) for d in (source_db, target))
    for key in ("fields", "functions", "properties", "enable_dynamic_field"):
        assert dst_info[key] == src_info[key], key
    assert [(i["field_name"], i["index_type"], i["metric_type"]) for i in dst_info["indexes"]] == \
        [(i["field_name"], i["index_type"], i["metric_type"]) for i in src_info["indexes"]]
    # BM25 was recomputed from the text and dense vectors came across
    for mode in ("bm25", "dense"):
        hit = run_json("search", "where was Turing born", "--db", target, "--mode", mode, "-n", "1")[0]
        assert hit["id"].endswith("turing.txt#0")


def test_export_jsonl_layout(source_db, tmp_path):
    out = tmp_path / "docs.jsonl"
    run("export", "--db", source_db, "-o", out, "-q")
    header, *rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert header["_embedb_export"] == 1 and header["collection"] == "docs"
    assert [f["name"] for f in header["schema"]["fields"]][:4] == ["id", "text", "vector", "sparse"]
    # function outputs (BM25 sparse, TEXTEMBEDDING dense) are recomputed on import, not written
    functions = {fn["type"]: fn["output_field_names"] for fn in header["schema"]["functions"]}
    assert functions == {"BM25": ["sparse"], "TEXTEMBEDDING": ["vector"]}
    assert len(rows) == 3 and all("sparse" not in r and "vector" not in r for r in rows)
    assert {r.get("tag") for r in rows} == {None, "pets", "code"}


def test_import_plain_jsonl_infers_a_schema(tmp_path):
    src = tmp_path / "plain.jsonl"
    src.write_text("\n".join(json.dumps({"id": i, "vector": [float(i), 1.0, 0.5], "color": c})
                             for i, c in enumerate(["red", "green", "blue"])) + "\n")
    db = tmp_path / "p.db"
    assert run_json("import", src, "--db", db, "-c", "points", "--metric", "L2", "-q")["rows"] == 3
    info = run_json("describe", "points", "--db", db)
    types = {f["name"]: f["type"] for f in info["fields"]}
    assert types == {"id": "INT64", "vector": "FLOAT_VECTOR"}
    assert info["indexes"][0]["metric_type"] == "L2"
    assert [r["color"] for r in run_json("query", "id >= 1", "--db", db, "-o", "color")] == ["green", "blue"]
    # a second import appends to the existing collection
    src2 = tmp_path / "more.jsonl"
    src2.write_text(json.dumps({"id": 10, "vector": [9.0, 9.0, 9.0], "color": "black"}) + "\n")
    run("import", src2, "--db", db, "-c", "points", "-q")
    assert run_json("query", "--db", db, "-c", "points", "--count") == {"count": 4}


def test_import_errors(tmp_path):
    db = tmp_path / "e.db"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "vector": [1.0]}\n{broken\n')
    result = run("import", bad, "--db", db, "-c", "x", ok=False)
    assert result.exit_code == 1 and "bad.jsonl:2: not valid JSON" in result.stderr
    result = run("import", tmp_path / "none.jsonl", "--db", db, "-c", "x", ok=False)
    assert result.exit_code == 1 and "file not found" in result.stderr
    novec = tmp_path / "novec.jsonl"
    novec.write_text('{"id": 1, "name": "a"}\n')
    result = run("import", novec, "--db", db, "-c", "y", ok=False)
    assert "cannot infer a schema" in result.stderr
    result = run("import", novec, "--db", db, ok=False)
    assert result.exit_code == 2 and "--collection" in result.output
    result = run("export", "--db", tmp_path / "e.db", "-o", tmp_path / "out.txt", ok=False)
    assert result.exit_code == 2 and "cannot tell the format" in result.output


@pytest.mark.reference
def test_import_a_milvus_lite_dump(tmp_path):
    pymilvus = pytest.importorskip("pymilvus")
    cmdline = pytest.importorskip("milvus_lite.cmdline")
    pytest.importorskip("minio", reason="milvus-lite dump needs pymilvus[bulk_writer]")
    pytest.importorskip("azure.storage.blob", reason="milvus-lite dump needs pymilvus[bulk_writer]")
    lite_db = tmp_path / "lite.db"
    client = pymilvus.MilvusClient(str(lite_db))
    client.create_collection("books", dimension=4)
    rows = [{"id": i, "vector": [float(i), 0.0, 1.0, 0.5], "title": f"book {i}", "year": 2000 + i}
            for i in range(5)]
    client.insert("books", rows)
    client.close()
    dump_dir = tmp_path / "dump"
    dump_dir.mkdir()
    cmdline.dump_collection(str(lite_db), "books", str(dump_dir))
    assert list(dump_dir.rglob("*.json")), "milvus-lite wrote no dump file"

    db = tmp_path / "embedb.db"
    assert run_json("import", dump_dir, "--db", db, "-c", "books", "-q")["rows"] == 5
    got = sorted(run_json("query", "--db", db, "-c", "books", "-o", "id", "-o", "title", "-o", "year"),
                 key=lambda r: r["id"])
    assert got == [{"id": r["id"], "title": r["title"], "year": r["year"]} for r in rows]
