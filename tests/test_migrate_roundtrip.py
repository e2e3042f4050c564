"""embedb migrate: local -> server -> new local ends with identical collections, on each server
target, with every type, index, partition, alias and property the target implements; Milvus
Lite .db files of both generations as sources; dry runs and reruns."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from embedb import DataType, Function, FunctionType, MilvusClient
from embedb.errors import MilvusException
from embedb.cli import cli
from embedb.migrate import MigrationError, migrate

from milvus_server import lite3_target, milvus25_target, milvus_target, unique_name  # noqa: F401

N = 800


def build_source(path, name: str, target, n: int = N, auto_id: bool = False) -> None:
    """A collection with what ``target`` implements: scalar, JSON, ARRAY, dynamic fields, a
    BM25 function, several vector types and indexes, partitions, an alias and properties."""
    rng = np.random.default_rng(7)
    schema = MilvusClient.create_schema(enable_dynamic_field=True, auto_id=auto_id)
    schema.add_field("id", DataType.INT64, is_primary=True, auto_id=auto_id)
    schema.add_field("f", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    schema.add_field("bm", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("n32", DataType.INT32)
    schema.add_field("x", DataType.DOUBLE)
    schema.add_field("flag", DataType.BOOL)
    if target.supports("varchar_array"):
        schema.add_field("arr", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4,
                         max_length=16)
    else:
        schema.add_field("arr", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4)
    schema.add_field("js", DataType.JSON)
    # the name migrate gives a BM25 function it must infer (servers that do not describe them)
    schema.add_function(Function("text_bm25_emb", FunctionType.BM25, ["text"], ["bm"]))
    index = MilvusClient.prepare_index_params()
    index.add_index("f", index_type="HNSW" if target.supports("hnsw") else "IVF_FLAT",
                    metric_type="L2", params={"M": 8, "efConstruction": 64}
                    if target.supports("hnsw") else {"nlist": 16})
    index.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    index.add_index("bm", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    f16 = target.supports("float16_vector")
    if f16:
        schema.add_field("h", DataType.FLOAT16_VECTOR, dim=8)
        schema.add_field("bin", DataType.BINARY_VECTOR, dim=32)
        index.add_index("h", index_type="FLAT", metric_type="IP")
        index.add_index("bin", index_type="BIN_FLAT", metric_type="HAMMING")
    properties = {"embedb.model": "default", "note": "kept"} if target.supports("properties") else None
    words = ["alpha", "beta", "gamma", "delta", "omega"]
    rows = []
    for i in range(n):
        row = {"f": rng.standard_normal(8).astype(np.float32),
               "sp": {int(k): float(v) for k, v in zip(rng.choice(500, 3, replace=False), rng.random(3) + 0.1)},
               "text": " ".join(rng.choice(words, 4)), "n32": int(i * 7 % 1000), "x": float(i) / 3,
               "flag": bool(i % 2),
               "arr": [words[i % 5], "z"] if target.supports("varchar_array") else [i, -i], "js": {"i": i, "w": [words[i % 3]]}}
        if not auto_id:
            row["id"] = i * 3 + 1
        if f16:
            row["h"] = rng.standard_normal(8).astype(np.float16)
            row["bin"] = bytes(rng.integers(0, 256, 4, dtype=np.uint8))
        if i % 4 == 0:
            row["dyn"] = f"d{i}"
        rows.append(row)
    with MilvusClient(str(path)) as client:
        client.create_collection(name, schema=schema, index_params=index, properties=properties,
                                 consistency_level="Strong")
        if target.supports("partitions"):
            client.create_partition(name, "p1")
            client.insert(name, rows[: n // 3], partition_name="p1")
            client.insert(name, rows[n // 3:])
        else:
            client.insert(name, rows)
        if target.supports("aliases"):
            client.create_alias(name, name + "_alias")
        client.flush(name)


def snapshot(path, name: str) -> dict:
    """Everything a user can see of a collection, minus ids and timestamps of its creation."""
    with MilvusClient(str(path)) as client:
        info = client.describe_collection(name)
        for key in ("collection_id", "created_timestamp", "update_timestamp"):
            info.pop(key, None)
        indexes = {}
        for ix in client.list_indexes(name):
            d = client.describe_index(name, ix)
            for key in ("total_rows", "indexed_rows", "pending_index_rows", "state"):
                d.pop(key, None)
            indexes[ix] = d
        parts = {p: client.get_partition_stats(name, p)["row_count"]
                 for p in client.list_partitions(name)}
        rows = []
        for batch in client.query_iterator(name, batch_size=500, output_fields=["*"]):
            rows.extend(batch)
        aliases = client.list_aliases(name)["aliases"]
    rows.sort(key=lambda r: r["id"])
    return {"info": info, "indexes": indexes, "partitions": parts, "aliases": sorted(aliases),
            "rows": json.loads(json.dumps(rows, default=lambda b: b.hex()))}


def _drop(uri: str, name: str) -> None:
    with MilvusClient(uri) as client:
        try:
            aliases = client.list_aliases(name).get("aliases", [])
        except MilvusException:  # servers without aliases (milvus-lite 2.5)
            aliases = []
        for alias in aliases:
            client.drop_alias(alias)
        client.drop_collection(name)


def test_round_trip_through_each_server_is_identical(milvus_target, tmp_path):
    name = unique_name("rt")
    build_source(tmp_path / "src.db", name, milvus_target)
    try:
        up = migrate(str(tmp_path / "src.db"), milvus_target.uri, [name], batch_size=256,
                     state_file=tmp_path / "up.json")
        assert up.ok, up.collections
        down = migrate(milvus_target.uri, str(tmp_path / "back.db"), [name], batch_size=300,
                       state_file=tmp_path / "down.json")
        assert down.ok, down.collections
    finally:
        _drop(milvus_target.uri, name)
    before, after = snapshot(tmp_path / "src.db", name), snapshot(tmp_path / "back.db", name)
    assert after["rows"] == before["rows"]
    for a, b in zip(after["info"]["fields"], before["info"]["fields"]):
        assert a == b
    assert after == before
    assert not (tmp_path / "up.json").exists()  # removed once copied and verified
    verify = up.collections[0]["verify"]
    assert verify["rows_checked"] == 100 and verify["searches"]["f"]["mean_overlap"] >= 0.9


def test_auto_id_collections_keep_their_ids(lite3_target, tmp_path):
    name = unique_name("auto")
    build_source(tmp_path / "src.db", name, lite3_target, n=50, auto_id=True)
    try:
        assert migrate(str(tmp_path / "src.db"), lite3_target.uri, [name], state_file=tmp_path / "s").ok
        assert migrate(lite3_target.uri, str(tmp_path / "back.db"), [name], state_file=tmp_path / "t").ok
    finally:
        _drop(lite3_target.uri, name)
    before, after = snapshot(tmp_path / "src.db", name), snapshot(tmp_path / "back.db", name)
    assert [r["id"] for r in after["rows"]] == [r["id"] for r in before["rows"]]
    assert after["info"]["auto_id"] is True


def test_rerun_changes_nothing(tmp_path, lite3_target):
    name = unique_name("idem")
    build_source(tmp_path / "src.db", name, lite3_target, n=300)
    for _ in range(2):
        report = migrate(str(tmp_path / "src.db"), str(tmp_path / "dst.db"), batch_size=128,
                         state_file=tmp_path / "s.json")
        assert report.ok
    assert report.collections[0]["target"] == "exists"
    assert snapshot(tmp_path / "dst.db", name) == snapshot(tmp_path / "src.db", name)


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, lite3_target):
    name = unique_name("dry")
    build_source(tmp_path / "src.db", name, lite3_target, n=40)
    result = CliRunner().invoke(cli, ["migrate", str(tmp_path / "src.db"), str(tmp_path / "dst.db"),
                                      "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan[0]["collection"] == name and plan[0]["rows"] == 40 and plan[0]["target"] == "new"
    assert "text_bm25_emb:BM25 ['text']->['bm']" in plan[0]["functions"]
    assert not (tmp_path / "dst.db").exists()


def test_cli_migrate_copies_and_reports(tmp_path, lite3_target):
    name = unique_name("cli")
    build_source(tmp_path / "src.db", name, lite3_target, n=60)
    try:
        result = CliRunner().invoke(cli, ["migrate", str(tmp_path / "src.db"), lite3_target.uri,
                                          "-c", name, "--state", str(tmp_path / "s.json"), "-q"])
        assert result.exit_code == 0, result.output
        assert name in result.output and "ok" in result.output
        listed = CliRunner().invoke(cli, ["collections", "--db", lite3_target.uri, "--json"])
        assert {"name": name, "rows": 60} .items() <= {
            k: v for c in json.loads(listed.output) if c["name"] == name for k, v in c.items()}.items()
    finally:
        _drop(lite3_target.uri, name)


def test_milvus_lite_2_database_as_source(tmp_path, milvus25_target):
    from embedb.migrate import servers

    db = tmp_path / "lite2.db"
    with servers.start_lite2(db) as server, MilvusClient(server.uri) as client:
        client.create_collection("docs", dimension=4, consistency_level="Strong")
        client.insert("docs", [{"id": i, "vector": [float(i), 1.0, 0.5, 2.0], "tag": f"t{i}"}
                               for i in range(30)])
        client.flush("docs")
    report = migrate(str(db), str(tmp_path / "out.db"), state_file=tmp_path / "s.json")
    assert report.ok and report.collections[0]["rows"] == 30
    with MilvusClient(str(tmp_path / "out.db")) as client:
        rows = client.query("docs", "id == 7", output_fields=["*"])
        assert rows[0]["tag"] == "t7" and rows[0]["vector"] == [7.0, 1.0, 0.5, 2.0]


def test_milvus_lite_3_database_as_source(tmp_path, lite3_target):
    from embedb.migrate import servers

    db = tmp_path / "lite3.db"
    with servers.start_lite3(db) as server, MilvusClient(server.uri) as client:
        client.create_collection("docs", dimension=4, consistency_level="Strong")
        client.create_partition("docs", "p")
        client.insert("docs", [{"id": i, "vector": [float(i), 1.0, 0.5, 2.0]} for i in range(10)],
                      partition_name="p")
        client.flush("docs")
    report = migrate(str(db), str(tmp_path / "out.db"), state_file=tmp_path / "s.json")
    assert report.ok and report.collections[0]["partitions"] == {"_default": 0, "p": 10}
    with pytest.raises(Exception, match="can be a source, not a destination"):
        migrate(str(tmp_path / "out.db"), str(db), state_file=tmp_path / "t.json")


def test_collection_with_another_schema_on_the_destination_is_refused(tmp_path):
    with MilvusClient(str(tmp_path / "a.db")) as a, MilvusClient(str(tmp_path / "b.db")) as b:
        a.create_collection("c", dimension=4)
        a.insert("c", [{"id": 1, "vector": [1, 2, 3, 4]}])
        b.create_collection("c", dimension=8)
    with pytest.raises(MigrationError, match="collection 'c' already exists on the destination"):
        migrate(str(tmp_path / "a.db"), str(tmp_path / "b.db"), state_file=tmp_path / "s.json")


def test_partition_key_nullable_and_default_fields_round_trip(milvus_target, tmp_path):
    milvus_target.require("nullable", "default_value")
    name = unique_name("pkey")
    rng = np.random.default_rng(3)
    with MilvusClient(str(tmp_path / "src.db")) as client:
        schema = client.create_schema()
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=20)
        schema.add_field("tenant", DataType.INT64, is_partition_key=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
        schema.add_field("opt", DataType.VARCHAR, max_length=10, nullable=True)
        schema.add_field("d", DataType.DOUBLE, default_value=2.5)
        index = client.prepare_index_params()
        index.add_index("v", index_type="FLAT", metric_type="IP")
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        client.insert(name, [{"pk": f"k{i:03d}", "tenant": i % 5, "v": rng.random(4, dtype=np.float32),
                              "opt": None if i % 3 else "x", **({"d": 1.0} if i % 2 else {})}
                             for i in range(120)])
    try:
        assert migrate(str(tmp_path / "src.db"), milvus_target.uri, [name], batch_size=50,
                       state_file=tmp_path / "a.json").ok
        assert migrate(milvus_target.uri, str(tmp_path / "back.db"), [name],
                       state_file=tmp_path / "b.json").ok
    finally:
        _drop(milvus_target.uri, name)
    with MilvusClient(str(tmp_path / "src.db")) as a, MilvusClient(str(tmp_path / "back.db")) as b:
        assert b.describe_collection(name)["fields"] == a.describe_collection(name)["fields"]
        rows = [sorted(c.query(name, "", output_fields=["*"]), key=lambda r: r["pk"]) for c in (a, b)]
    assert rows[1] == rows[0] and rows[0][1]["opt"] is None and rows[0][0]["d"] == 2.5
