"""Partitions (partition_name(s) honoured on every call, partition keys) and aliases."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import milvus_raises

from embedb import DataType, MilvusClient
from embedb.errors import (
    AliasNotFoundError,
    AlreadyExistsError,
    CollectionNotFoundError,
    ParamError,
    PartitionNotFoundError,
)


@pytest.fixture
def client(open_client):
    c = open_client(":memory:")
    c.create_collection("c", dimension=2)
    yield c
    c.close()


def rows(pks, **extra):
    return [{"id": p, "vector": [float(p), 1.0], "n": p, **extra} for p in pks]


def without_db(d):
    """pymilvus adds the database name to alias answers; in-process there is one database."""
    return {k: v for k, v in d.items() if k != "db_name"}


def ids(result):
    return sorted(r["id"] for r in result)


def test_partition_lifecycle(client):
    assert client.list_partitions("c") == ["_default"]
    client.create_partition("c", "p1")
    client.create_partition("c", "p2")
    assert client.list_partitions("c") == ["_default", "p1", "p2"]
    assert client.has_partition("c", "p1") and not client.has_partition("c", "zz")
    assert client.describe_collection("c")["num_partitions"] == 3
    client.create_partition("c", "p1")  # the server: an existing partition is success
    with milvus_raises(ParamError, match="_default"):
        client.drop_partition("c", "_default")
    client.drop_partition("c", "zz")  # the server: dropping a missing partition is success
    client.drop_partition("c", "p2")
    assert client.list_partitions("c") == ["_default", "p1"]
    with milvus_raises(CollectionNotFoundError):
        client.list_partitions("nope")


@pytest.mark.embedded_only("pymilvus splits a str partition_names into characters")
def test_partition_names_are_honoured_everywhere(client):
    client.create_partition("c", "p1")
    client.create_partition("c", "p2")
    client.insert("c", rows([1, 2, 3]))
    assert client.insert("c", rows([10, 11]), partition_name="p1")["insert_count"] == 2
    client.insert("c", rows([20, 21, 22]), partition_name="p2")
    assert client.get_partition_stats("c", "p1") == {"row_count": 2}
    assert client.get_partition_stats("c", "p2") == {"row_count": 3}
    assert client.get_partition_stats("c", "_default") == {"row_count": 3}
    assert ids(client.query("c", filter="n >= 0", partition_names=["p1"])) == [10, 11]
    assert ids(client.query("c", filter="n >= 0", partition_names=["p1", "p2"])) == [10, 11, 20, 21, 22]
    assert ids(client.query("c", filter="", partition_names="p2")) == [20, 21, 22]
    assert ids(client.get("c", [1, 10, 20], partition_names=["p1"])) == [10]
    assert client.query("c", filter="", partition_names=["p1"], output_fields=["count(*)"]) == [{"count(*)": 2}]
    it = client.query_iterator("c", batch_size=2, partition_names=["p2"], output_fields=["id"])
    assert [r["id"] for b in it for r in b] == [20, 21, 22]
    # delete limited to one partition
    assert client.delete("c", filter="n >= 0", partition_name="p2") == {"delete_count": 3, "cost": 0}
    assert client.get_collection_stats("c") == {"row_count": 5}
    assert client.delete("c", ids=[1, 10], partition_name="p1") == {"delete_count": 1, "cost": 0}
    assert ids(client.query("c", filter="")) == [1, 2, 3, 11]
    # upsert into a partition
    client.upsert("c", rows([11], tag="x"), partition_name="p1")
    assert client.query("c", ids=[11], partition_names=["p1"], output_fields=["tag"]) == [{"id": 11, "tag": "x"}]
    # a missing partition is an error on every call, and nothing changes
    for call in (lambda: client.insert("c", rows([99]), partition_name="zz"),
                 lambda: client.upsert("c", rows([99]), partition_name="zz"),
                 lambda: client.delete("c", ids=[1], partition_name="zz"),
                 lambda: client.query("c", filter="", partition_names=["zz"]),
                 lambda: client.get("c", 1, partition_names=["zz"]),
                 lambda: client.get_partition_stats("c", "zz")):
        with milvus_raises(PartitionNotFoundError, match="zz"):
            call()
    assert client.get_collection_stats("c") == {"row_count": 4}


def test_drop_partition_drops_its_rows(client):
    client.create_partition("c", "p1")
    client.insert("c", rows([1]))
    client.insert("c", rows([5, 6]), partition_name="p1")
    client.release_collection("c")
    client.drop_partition("c", "p1")
    client.load_collection("c")
    assert ids(client.query("c", filter="")) == [1]


def test_load_and_release_partitions(client):
    client.create_partition("c", "p1")
    client.insert("c", rows([1]), partition_name="p1")
    client.insert("c", rows([2]))
    client.release_partitions("c", ["p1"])  # _default stays: still readable
    assert client.get_load_state("c")["state"].name == "Loaded"
    assert ids(client.query("c", filter="")) == [1, 2]
    client.release_partitions("c", ["p1", "_default"])  # every partition: released
    assert client.get_load_state("c")["state"].name == "NotLoad"
    client.load_partitions("c", "p1")
    assert client.get_load_state("c", partition_name="p1")["state"].name == "Loaded"
    with milvus_raises(PartitionNotFoundError):
        client.load_partitions("c", ["zz"])
    with milvus_raises(PartitionNotFoundError):
        client.release_partitions("c", ["zz"])
    with milvus_raises(ParamError):
        client.load_partitions("c", [])


def test_pymilvus_partition_example_flow():
    # the steps of pymilvus examples/milvus_client/partition.py, on a local database
    rng = np.random.default_rng(7)
    with MilvusClient(":memory:") as client:
        client.create_collection("hello", 8, consistency_level="Strong", metric_type="L2")
        client.create_partition("hello", partition_name="p1")
        for pk, key in ((1, "a"), (2, "b"), (3, "c")):
            client.insert("hello", {"id": pk, "vector": rng.random((1, 8))[0], key: pk * 100},
                          partition_name="p1")
        client.create_partition("hello", partition_name="p2")
        for pk, key in ((4, "e"), (5, "f"), (6, "g")):
            client.insert("hello", {"id": pk, "vector": rng.random((1, 8))[0], key: pk * 100},
                          partition_name="p2")
        assert client.list_partitions("hello") == ["_default", "p1", "p2"]
        client.release_collection("hello")
        client.load_partitions("hello", partition_names=["p1", "p2"])
        hits = client.search("hello", rng.random((1, 8)), limit=3, output_fields=["a", "b"],
                             partition_names=["p1"])
        assert sorted(h["id"] for h in hits[0]) == [1, 2, 3]
        client.release_partitions("hello", partition_names=["p1"])
        client.drop_partition("hello", partition_name="p1", timeout=2.0)
        assert not client.has_partition("hello", "p1")
        assert len(client.query("hello", ids=[2])) == 0
        assert client.query("hello", ids=[4])[0]["e"] == 400
        assert [r["id"] for r in client.query("hello", filter="f == 500")] == [5]
        client.drop_collection("hello")


def test_pymilvus_alias_example_flow():
    # the steps of pymilvus examples/milvus_client/alias.py, on a local database
    rng = np.random.default_rng(8)
    with MilvusClient(":memory:") as client:
        for name in ("one", "two"):
            client.drop_collection(name)
            client.create_collection(name, 8, consistency_level="Strong", metric_type="L2", auto_id=True)
        res = client.insert("one", [{"vector": rng.random((1, 8))[0], k: v}
                                    for k, v in (("a", 100), ("b", 200), ("c", 300))])
        assert res["insert_count"] == 3
        client.insert("two", [{"vector": rng.random((1, 8))[0], k: v}
                              for k, v in (("d", 400), ("e", 500), ("f", 600))])
        client.drop_alias("al")
        client.create_alias("one", "al")
        assert client.list_aliases("one")["aliases"] == ["al"]
        assert client.describe_collection("al") == client.describe_collection("one")
        client.alter_alias("two", "al")
        assert client.describe_collection("al") == client.describe_collection("two")
        assert [r["f"] for r in client.query("al", filter="f == 600")] == [600]
        client.drop_alias("al")
        assert not client.has_collection("al") and client.has_collection("two")


def test_partition_key_collection():
    with MilvusClient(":memory:") as client:
        schema = client.create_schema(enable_dynamic_field=True, partition_key_field="tenant")
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        schema.add_field("tenant", DataType.VARCHAR, max_length=16)
        ip = client.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="L2")
        client.create_collection("t", schema=schema, index_params=ip, num_partitions=4)
        data = [{"id": i, "v": [i, 0], "tenant": f"t{i % 3}"} for i in range(12)]
        client.insert("t", data)
        assert ids(client.query("t", filter="tenant == 't1'")) == [1, 4, 7, 10]
        with milvus_raises(ParamError, match="partition key"):
            client.insert("t", data[:1], partition_name="_default")
        with milvus_raises(ParamError, match="partition key"):
            client.create_partition("t", "manual")
        assert client.get_collection_stats("t") == {"row_count": 12}


def test_alias_lifecycle(client):
    client.create_collection("d", dimension=2)
    client.insert("c", rows([1, 2]))
    client.insert("d", rows([7]))
    client.create_alias("c", "live")
    described = client.describe_alias("live")  # pymilvus adds db_name
    assert {k: described[k] for k in ("alias", "collection_name")} == {"alias": "live", "collection_name": "c"}
    assert without_db(client.list_aliases("c")) == {"aliases": ["live"], "collection_name": "c"}
    assert client.list_aliases()["aliases"] == ["live"]
    assert client.describe_collection("live")["collection_name"] == "c"
    assert client.has_collection("live") and "live" not in client.list_collections()
    assert client.describe_collection("c")["aliases"] == ["live"]
    # the alias works wherever a collection name is read or written
    assert ids(client.query("live", filter="")) == [1, 2]
    client.insert("live", rows([3]))
    assert client.get_collection_stats("c") == {"row_count": 3}
    with milvus_raises(AlreadyExistsError):
        client.create_alias("d", "live")
    with milvus_raises(AlreadyExistsError):
        client.create_alias("d", "c")  # a collection's name cannot be an alias
    with milvus_raises(ParamError, match="alias"):
        client.drop_collection("c")     # still has an alias
    with milvus_raises(ParamError, match="alias"):
        client.drop_collection("live")  # drop by alias is refused
    client.alter_alias("d", "live")
    assert client.describe_alias("live")["collection_name"] == "d"
    assert ids(client.query("live", filter="")) == [7]
    assert without_db(client.list_aliases("c")) == {"aliases": [], "collection_name": "c"}
    with milvus_raises(AliasNotFoundError):
        client.alter_alias("c", "nope")
    with milvus_raises(CollectionNotFoundError):
        client.create_alias("missing", "x")
    client.drop_alias("live")
    client.drop_alias("live")  # dropping a missing alias is not an error
    with milvus_raises(AliasNotFoundError) as ei:
        client.describe_alias("live")
    assert ei.value.code == 1602
    with milvus_raises(CollectionNotFoundError):
        client.query("live", filter="")
    client.drop_collection("d")


def test_alias_survives_reopen_and_rename(tmp_path):
    path = str(tmp_path / "a.db")
    with MilvusClient(path) as c:
        c.create_collection("c", dimension=2)
        c.create_alias("c", "al")
    with MilvusClient(path) as c:
        assert c.describe_alias("al") == {"alias": "al", "collection_name": "c"}
        c.rename_collection("c", "c2")
        assert c.describe_alias("al") == {"alias": "al", "collection_name": "c2"}
