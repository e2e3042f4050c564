"""Collection lifecycle through MilvusClient: quick and schema mode, idempotent create,
describe/list/has/drop/rename/truncate/stats, load state (kept across reopening), flush, compact."""

from __future__ import annotations

import pytest
from conftest import door_api, milvus_raises

from embedb import DataType, MilvusClient
from embedb.client import LoadState
from embedb.errors import (
    AlreadyExistsError,
    CollectionNotFoundError,
    CollectionNotLoadedError,
    MilvusException,
    ParamError,
    SchemaError,
)


@pytest.fixture
def client(open_client):
    c = open_client(":memory:")
    yield c
    c.close()


def rows(n, dim=4, start=0):
    return [{"id": i, "vector": [float(i + k) for k in range(dim)], "tag": f"t{i % 3}"}
            for i in range(start, start + n)]


def make_schema(client, dim=4, **kw):
    schema = client.create_schema(enable_dynamic_field=False, **kw)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=32)
    schema.add_field("emb", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("year", DataType.INT64)
    return schema


# quick mode ----------------------------------------------------------------------------------
def test_quick_mode_defaults(client):
    client.create_collection("q", dimension=8)
    d = client.describe_collection("q")
    assert d["collection_name"] == "q"
    assert d["enable_dynamic_field"] is True
    assert d["auto_id"] is False
    assert d["num_shards"] == 1
    assert d["num_partitions"] == 1
    assert d["consistency_level_name"] == "Bounded"
    assert [f["name"] for f in d["fields"]] == ["id", "vector"]
    assert [f["field_id"] for f in d["fields"]] == [100, 101]
    pk, vec = d["fields"]
    assert pk["type"] == DataType.INT64 and pk["is_primary"] is True
    assert vec["type"] == DataType.FLOAT_VECTOR and vec["params"] == {"dim": 8}
    assert client.get_load_state("q") == {"state": LoadState.Loaded}
    assert client.list_indexes("q") == ["vector"]
    assert client.describe_index("q", "vector")["metric_type"] == "COSINE"


def test_quick_mode_options(client):
    client.create_collection("s", dimension=3, primary_field_name="key", id_type="string",
                             vector_field_name="emb", metric_type="L2", max_length=64,
                             enable_dynamic_field=False, consistency_level="Strong")
    d = client.describe_collection("s")
    assert [f["name"] for f in d["fields"]] == ["key", "emb"]
    assert d["fields"][0]["type"] == DataType.VARCHAR
    assert d["fields"][0]["params"] == {"max_length": 64}
    assert d["enable_dynamic_field"] is False
    assert d["consistency_level_name"] == "Strong" and d["consistency_level"] == 0
    assert client.describe_index("s", "emb")["metric_type"] == "L2"


def test_quick_mode_string_id_gets_a_default_max_length(client):
    client.create_collection("s", dimension=3, id_type="string")
    assert client.describe_collection("s")["fields"][0]["params"] == {"max_length": 65535}


def test_quick_mode_auto_id(client):
    client.create_collection("a", dimension=2, auto_id=True)
    d = client.describe_collection("a")
    assert d["auto_id"] is True and d["fields"][0]["auto_id"] is True
    res = client.insert("a", [{"vector": [0.0, 1.0]}, {"vector": [1.0, 0.0]}])
    assert res["insert_count"] == 2 and len(set(res["ids"])) == 2
    assert all(isinstance(i, int) for i in res["ids"])


@pytest.mark.parametrize("kwargs, exc", [
    ({}, ParamError),                                    # no dimension, no schema
    ({"dimension": "8"}, ParamError),
    ({"dimension": True}, ParamError),
    ({"dimension": 0}, SchemaError),
    ({"dimension": 4, "id_type": "float"}, ParamError),
    ({"dimension": 4, "consistency_level": "Sometimes"}, ParamError),
    pytest.param({"dimension": 4, "metric_type": "NOPE"}, MilvusException,
                 marks=pytest.mark.embedded_only("pymilvus quick mode creates the collection, then the index")),
])
def test_quick_mode_bad_arguments_change_nothing(client, kwargs, exc):
    with milvus_raises(exc):
        client.create_collection("bad", **kwargs)
    assert not client.has_collection("bad")


# schema mode ---------------------------------------------------------------------------------
def test_schema_mode_without_index_is_not_loaded(client):
    schema = make_schema(client)
    client.create_collection("sc", schema=schema)
    assert client.get_load_state("sc") == {"state": LoadState.NotLoad}
    with milvus_raises(CollectionNotLoadedError) as ei:
        client.query("sc", filter="year > 0")
    assert ei.value.code == 101
    # loading needs an index on the vector field, as on the server
    with milvus_raises(MilvusException, match="index"):
        client.load_collection("sc")
    ip = client.prepare_index_params()
    ip.add_index("emb", index_type="FLAT", metric_type="L2")
    client.create_index("sc", ip)
    client.load_collection("sc")
    assert client.get_load_state("sc")["state"] == LoadState.Loaded


def test_schema_mode_with_index_params_is_loaded(client):
    schema = make_schema(client)
    ip = client.prepare_index_params()
    ip.add_index("emb", index_type="FLAT", metric_type="IP")
    client.create_collection("sc", schema=schema, index_params=ip)
    assert client.get_load_state("sc")["state"] == LoadState.Loaded
    d = client.describe_collection("sc")
    assert [(f["name"], f["type"]) for f in d["fields"]] == [
        ("pk", DataType.VARCHAR), ("emb", DataType.FLOAT_VECTOR), ("year", DataType.INT64)]
    assert d["enable_dynamic_field"] is False
    client.insert("sc", [{"pk": "a", "emb": [1, 2, 3, 4], "year": 2001}])
    assert client.query("sc", filter="year == 2001", output_fields=["year"]) == [{"pk": "a", "year": 2001}]


@pytest.mark.embedded_only("pymilvus checks schema keywords itself")
def test_schema_mode_keywords_must_agree_with_the_schema(client):
    client.create_collection("a", schema=make_schema(client), enable_dynamic_field=False)
    with milvus_raises(ParamError, match="enable_dynamic_field"):
        client.create_collection("b", schema=make_schema(client), enable_dynamic_field=True)
    assert not client.has_collection("b")


def test_schema_is_copied_at_create(client):
    schema = make_schema(client)
    client.create_collection("sc", schema=schema)
    schema.add_field("later", DataType.INT64)
    assert [f["name"] for f in client.describe_collection("sc")["fields"]] == ["pk", "emb", "year"]


@pytest.mark.embedded_only("pymilvus takes a dict schema in its own way")
def test_invalid_schema_is_rejected(client):
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    with milvus_raises(SchemaError, match="vector"):
        client.create_collection("x", schema=schema)
    with milvus_raises(ParamError):
        client.create_collection("x", schema={"fields": []})
    assert not client.has_collection("x")


@pytest.mark.embedded_only("pymilvus applies schema-level keys in its own CollectionSchema")
def test_schema_level_primary_and_partition_key(client):
    from embedb import CollectionSchema, FieldSchema

    schema = CollectionSchema(
        [FieldSchema("k", DataType.INT64), FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
         FieldSchema("tenant", DataType.VARCHAR, max_length=16)],
        primary_field="k", auto_id=True, partition_key_field="tenant")
    client.create_collection("pk", schema=schema)
    fields = {f["name"]: f for f in client.describe_collection("pk")["fields"]}
    assert fields["k"]["is_primary"] and fields["k"]["auto_id"]
    assert fields["tenant"]["is_partition_key"]


# idempotent create -----------------------------------------------------------------------------
def test_create_again_with_identical_parameters_is_a_no_op(client):
    client.create_collection("q", dimension=4)
    client.insert("q", rows(5))
    client.create_collection("q", dimension=4)
    assert client.get_collection_stats("q") == {"row_count": 5}
    schema = make_schema(client)
    client.create_collection("sc", schema=schema)
    client.create_collection("sc", schema=make_schema(client))
    assert client.list_collections().count("sc") == 1


@pytest.mark.parametrize("kwargs, what", [
    ({"dimension": 8}, "dim"),
    pytest.param({"dimension": 4, "metric_type": "L2"}, "metric_type",
                 marks=pytest.mark.embedded_only("pymilvus quick mode creates the collection, then the index")),
    ({"dimension": 4, "id_type": "string"}, "type"),
    ({"dimension": 4, "enable_dynamic_field": False}, "enable_dynamic_field"),
    ({"dimension": 4, "auto_id": True}, "auto_id"),
    ({"dimension": 4, "vector_field_name": "v"}, "fields"),
    ({"dimension": 4, "consistency_level": "Strong"}, "consistency_level"),
])
def test_create_again_with_different_parameters_names_the_difference(client, kwargs, what):
    client.create_collection("q", dimension=4)
    with milvus_raises(AlreadyExistsError, match=what):
        client.create_collection("q", **kwargs)
    assert client.describe_collection("q")["fields"][1]["params"] == {"dim": 4}


def test_create_again_with_different_schema(client):
    client.create_collection("sc", schema=make_schema(client))
    other = make_schema(client)
    other.add_field("extra", DataType.BOOL)
    with milvus_raises(AlreadyExistsError, match="extra"):
        client.create_collection("sc", schema=other)


# list / has / drop / rename / truncate / stats ---------------------------------------------------
def test_list_has_drop(client):
    assert client.list_collections() == []
    for name in ("b", "a"):
        client.create_collection(name, dimension=2)
    assert sorted(client.list_collections()) == ["a", "b"]
    assert client.has_collection("a") and not client.has_collection("zz")
    client.drop_collection("a")
    assert client.list_collections() == ["b"]
    assert not client.has_collection("a")
    client.drop_collection("a")  # dropping a missing collection is not an error (server)
    with milvus_raises(CollectionNotFoundError):
        client.insert("a", rows(1, dim=2))


def test_drop_then_recreate_starts_empty(client):
    client.create_collection("c", dimension=4)
    client.insert("c", rows(3))
    client.drop_collection("c")
    client.create_collection("c", dimension=4)
    assert client.get_collection_stats("c") == {"row_count": 0}
    assert client.query("c", filter="id >= 0") == []


def test_rename(client):
    client.create_collection("old", dimension=4)
    client.insert("old", rows(3))
    client.rename_collection("old", "new")
    assert client.list_collections() == ["new"]
    assert client.get_collection_stats("new") == {"row_count": 3}
    assert client.describe_collection("new")["collection_name"] == "new"
    with milvus_raises(CollectionNotFoundError):
        client.get_collection_stats("old")
    client.create_collection("other", dimension=4)
    with milvus_raises(AlreadyExistsError):
        client.rename_collection("new", "other")
    with milvus_raises(CollectionNotFoundError):
        client.rename_collection("missing", "x")
    from embedb.errors import DatabaseNotFoundError

    with milvus_raises(DatabaseNotFoundError):  # a missing target database, as the server
        client.rename_collection("new", "x", target_db="elsewhere")


def test_truncate_keeps_schema_index_and_load_state(client):
    client.create_collection("c", dimension=4)
    client.insert("c", rows(10))
    client.truncate_collection("c")
    assert client.get_collection_stats("c") == {"row_count": 0}
    assert client.query("c", filter="id >= 0") == []
    assert client.get_load_state("c")["state"] == LoadState.Loaded
    assert client.list_indexes("c") == ["vector"]
    client.insert("c", rows(2))
    assert client.get_collection_stats("c") == {"row_count": 2}


def test_stats_count_live_rows(client):
    client.create_collection("c", dimension=4)
    client.insert("c", rows(10))
    client.upsert("c", rows(3))          # replaces, adds nothing
    client.delete("c", ids=[0, 1])
    assert client.get_collection_stats("c") == {"row_count": 8}


# load state -------------------------------------------------------------------------------------
def test_release_and_load(client):
    client.create_collection("c", dimension=4)
    client.insert("c", rows(3))
    client.release_collection("c")
    assert client.get_load_state("c") == {"state": LoadState.NotLoad}
    for call in (lambda: client.query("c", filter="id > 0"), lambda: client.get("c", 1)):
        with milvus_raises(CollectionNotLoadedError, match="load_collection"):
            call()
    client.insert("c", rows(1, start=10))  # writes do not need the collection loaded
    client.load_collection("c")
    assert len(client.query("c", filter="id >= 0")) == 4
    client.refresh_load("c")
    assert client.get_load_state("c")["state"] == LoadState.Loaded


def test_load_state_of_missing_collection_and_partition(client):
    assert client.get_load_state("missing") == {"state": LoadState.NotExist}
    client.create_collection("c", dimension=4)
    assert client.get_load_state("c", partition_name="nope") == {"state": LoadState.NotExist}
    assert client.get_load_state("c", partition_name="_default") == {"state": LoadState.Loaded}


def test_load_state_survives_reopening(tmp_path):
    path = str(tmp_path / "load.db")
    with MilvusClient(path) as c:
        c.create_collection("loaded", dimension=4)
        c.create_collection("released", dimension=4)
        c.insert("loaded", rows(4))
        c.release_collection("released")
    with MilvusClient(path) as c:
        assert c.get_load_state("loaded") == {"state": LoadState.Loaded}
        assert c.get_load_state("released") == {"state": LoadState.NotLoad}
        assert len(c.query("loaded", filter="id >= 0")) == 4
        with milvus_raises(CollectionNotLoadedError):
            c.query("released", filter="id >= 0")


def test_reopen_keeps_everything(tmp_path):
    path = str(tmp_path / "keep.db")
    with MilvusClient(path) as c:
        c.create_collection("c", dimension=4, metric_type="IP")
        c.insert("c", rows(6))
        c.delete("c", ids=[5])
        before = c.describe_collection("c")
    with MilvusClient(path) as c:
        after = c.describe_collection("c")
        assert after == before
        assert c.get_collection_stats("c") == {"row_count": 5}
        assert c.describe_index("c", "vector")["metric_type"] == "IP"


# flush / compact / version --------------------------------------------------------------------
def test_flush_compact_and_version(client):
    client.create_collection("c", dimension=4)
    client.insert("c", rows(20))
    client.delete("c", filter="id < 10")
    client.flush("c")
    job = client.compact("c")
    assert isinstance(job, int)
    assert client.get_compaction_state(job) == "Completed"
    assert client.get_collection_stats("c") == {"row_count": 10}
    assert sorted(r["id"] for r in client.query("c", filter="", output_fields=["id"])) == list(range(10, 20))
    assert client.get_server_version().startswith("embedb-")
    with milvus_raises(CollectionNotFoundError):
        client.flush("nope")
    with milvus_raises(CollectionNotFoundError):
        client.compact("nope")


def test_describe_bm25_function(client):
    Function, FunctionType = door_api(client).Function, door_api(client).FunctionType

    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    client.create_collection("ft", schema=schema)
    d = client.describe_collection("ft")
    assert d["functions"] == [{
        "name": "bm25", "id": 100, "description": "", "type": FunctionType.BM25, "params": {},
        "input_field_names": ["text"], "input_field_ids": [101],
        "output_field_names": ["sparse"], "output_field_ids": [102]}]
    sparse = d["fields"][2]
    assert sparse["name"] == "sparse" and sparse["is_function_output"] is True
