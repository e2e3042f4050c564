"""Milvus databases in one embedb path: create/list/describe/alter/drop, use_database and
db_name=, isolation of collections, aliases and truncation, persistence, Milvus's errors."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest

from embedb import AsyncMilvusClient, MilvusClient
from embedb.errors import AlreadyExistsError, CollectionNotFoundError, DatabaseNotFoundError, ParamError


def rows(n, dim, start=0):
    return [{"id": start + i, "vector": [float(i + 1)] * dim, "n": i} for i in range(n)]


@pytest.fixture
def client():
    c = MilvusClient(":memory:")
    yield c
    c.close()


def test_default_always_exists(client):
    assert client.list_databases() == ["default"]
    assert client.describe_database("default") == {"name": "default"}
    with pytest.raises(ParamError, match="can not drop default database"):
        client.drop_database("default")
    with pytest.raises(AlreadyExistsError, match="database already exist: default") as e:
        client.create_database("default")
    assert e.value.code == 65535


def test_create_describe_alter_drop_properties(client):
    client.create_database("db1", properties={"database.replica.number": 3, "database.force.deny.writing": False})
    client.create_database("db2")
    assert client.list_databases() == ["default", "db1", "db2"]
    # values are strings, as they come back from the server
    assert client.describe_database("db1") == {"name": "db1", "database.replica.number": "3",
                                               "database.force.deny.writing": "False"}
    client.alter_database_properties("db1", {"database.replica.number": "2", "timezone": "Asia/Shanghai"})
    assert client.describe_database("db1") == {"name": "db1", "database.replica.number": "2",
                                               "database.force.deny.writing": "False",
                                               "timezone": "Asia/Shanghai"}
    client.drop_database_properties("db1", ["database.replica.number", "no.such.key"])
    assert client.describe_database("db1") == {"name": "db1", "database.force.deny.writing": "False",
                                               "timezone": "Asia/Shanghai"}
    with pytest.raises(ParamError, match="both cannot be empty"):
        client.drop_database_properties("db1", [])
    with pytest.raises(ParamError, match="must be a dict"):
        client.alter_database_properties("db1", "tt")
    client.drop_database("db2")
    client.drop_database("db2")  # a missing database: nothing to do (server >= 2.6.6)
    assert client.list_databases() == ["default", "db1"]


@pytest.mark.parametrize("bad", ["12-s", "12 s", "(mn)", "中文", "%$#", "  ", "a" * 256])
def test_invalid_names_are_code_802(client, bad):
    for call in (client.create_database, client.drop_database):
        with pytest.raises(ParamError) as e:
            call(bad)
        assert e.value.code == 802


@pytest.mark.parametrize("name", ["nonexistent", "%$#", " "])
def test_missing_database_is_code_800(client, name):
    for call in (lambda: client.describe_database(name),
                 lambda: client.alter_database_properties(name, {"a": 1}),
                 lambda: client.drop_database_properties(name, ["a"]),
                 lambda: client.use_database(name),
                 lambda: client.using_database(name),
                 lambda: client.list_collections(db_name=name)):
        with pytest.raises(DatabaseNotFoundError, match=re.escape(f"database not found[database={name}]")) as e:
            call()
        assert e.value.code == 800


def test_collections_aliases_and_truncation_are_isolated(client):
    client.create_database("db1")
    client.create_collection("c", dimension=2)
    client.insert("c", rows(5, 2))
    client.create_alias("c", "al")
    client.use_database("db1")
    assert client.list_collections() == [] and client.list_aliases() == {"aliases": []}
    assert not client.has_collection("c") and not client.has_collection("al")
    with pytest.raises(CollectionNotFoundError):
        client.query("c", "id >= 0")
    client.create_collection("c", dimension=3)       # the same name, another schema
    client.insert("c", rows(7, 3, start=100))
    client.create_alias("c", "al")                   # the same alias name, another target
    assert client.describe_collection("al")["fields"][1]["params"]["dim"] == 3
    assert client.query("al", "", output_fields=["count(*)"])[0]["count(*)"] == 7
    client.truncate_collection("c")
    assert client.query("c", "", output_fields=["count(*)"])[0]["count(*)"] == 0
    client.use_database("default")
    assert client.query("al", "", output_fields=["count(*)"])[0]["count(*)"] == 5
    assert sorted(r["id"] for r in client.query("c", "id >= 0")) == [0, 1, 2, 3, 4]
    assert client.describe_alias("al") == {"alias": "al", "collection_name": "c"}
    client.drop_alias("al")
    client.drop_collection("c")
    assert client.list_collections(db_name="db1") == ["c"]
    assert client.list_aliases(db_name="db1") == {"aliases": ["al"]}


def test_drop_nonempty_database_is_an_error(client):
    client.create_database("db1")
    client.create_collection("c", dimension=2, db_name="db1")
    with pytest.raises(ParamError, match="database:db1 not empty, must drop all collections") as e:
        client.drop_database("db1")
    assert e.value.code == 65535
    client.drop_collection("c", db_name="db1")
    client.drop_database("db1")
    assert client.list_databases() == ["default"]


def test_per_call_db_name_and_using_a_dropped_database(client):
    client.create_database("db1")
    client.create_collection("c", dimension=2, db_name="db1")
    client.insert("c", rows(3, 2), db_name="db1")
    assert client.list_collections() == []
    assert client.get("c", ids=[1], output_fields=["n"], db_name="db1")[0]["n"] == 1
    assert [h["id"] for h in client.search("c", [[1.0, 1.0]], limit=3, db_name="db1")[0]]
    other = MilvusClient(":memory:")  # a second client of another in-memory database
    other.close()
    client.use_database("db1")
    client.drop_collection("c")
    client.drop_database("db1")
    with pytest.raises(DatabaseNotFoundError):
        client.list_collections()  # the current database is gone, as on the server
    client.use_database("default")
    assert client.list_collections() == []


def test_max_collections_property(client):
    client.create_database("small", properties={"database.max.collections": 2})
    client.use_database("small")
    client.create_collection("a", dimension=2)
    client.create_collection("b", dimension=2)
    with pytest.raises(ParamError, match=r"exceeded the limit number of collections\[dbName=small\]\[limit=2\]"):
        client.create_collection("c", dimension=2)
    assert client.list_collections() == ["a", "b"]


def test_rename_into_another_database(client):
    client.create_database("db1")
    client.create_collection("c", dimension=2)
    client.insert("c", rows(4, 2))
    client.create_alias("c", "al")
    with pytest.raises(ParamError, match="must drop all aliases"):
        client.rename_collection("c", "c", target_db="db1")
    client.drop_alias("al")
    client.rename_collection("c", "c", target_db="db1")
    assert client.list_collections() == []
    assert client.query("c", "", output_fields=["count(*)"], db_name="db1")[0]["count(*)"] == 4
    with pytest.raises(DatabaseNotFoundError):
        client.rename_collection("c", "d", target_db="nope", db_name="db1")


def test_persisted_across_reopen_and_old_format_opens_in_default(tmp_path):
    path = str(tmp_path / "x.db")
    c = MilvusClient(path)
    c.create_collection("plain", dimension=2)
    c.insert("plain", rows(3, 2))
    c.close()
    # a database with only "default" is stored exactly as before databases existed
    con = sqlite3.connect(str(tmp_path / "x.db" / "embedb.sqlite3"))
    assert [r[0] for r in con.execute("SELECT name FROM collections")] == ["plain"]
    assert not list(con.execute("SELECT key FROM meta WHERE key LIKE 'database/%'"))
    con.close()

    c = MilvusClient(path)
    c.create_database("db1", properties={"k": "v"})
    c.use_database("db1")
    c.create_collection("plain", dimension=4)
    c.insert("plain", rows(6, 4))
    c.create_alias("plain", "al")
    c.close()

    c = MilvusClient(path, db_name="db1")
    assert c.list_databases() == ["default", "db1"]
    assert c.describe_database("db1") == {"name": "db1", "k": "v"}
    assert c.query("al", "", output_fields=["count(*)"])[0]["count(*)"] == 6
    assert c.list_collections(db_name="default") == ["plain"]
    assert c.query("plain", "", output_fields=["count(*)"], db_name="default")[0]["count(*)"] == 3
    c.close()
    with pytest.raises(DatabaseNotFoundError):
        MilvusClient(path, db_name="db2")


def test_async_client_has_the_database_methods(tmp_path):
    async def scenario():
        async with AsyncMilvusClient(str(tmp_path / "a.db")) as c:
            await c.create_database("db1")
            await c.use_database("db1")
            await c.create_collection("c", dimension=2)
            assert await c.list_collections() == ["c"]
            assert await c.list_collections(db_name="default") == []
            assert await c.list_databases() == ["default", "db1"]

    asyncio.run(scenario())
