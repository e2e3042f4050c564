"""MilvusClient construction, URI parsing, lifetime and argument normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import milvus_raises

from embedb import MilvusClient
from embedb.client import LoadState
from embedb.client.base import as_name_list, as_pk_list, as_rows, parse_uri
from embedb.errors import CollectionNotFoundError, MilvusException, ParamError


# URI parsing (no engine needed) ---------------------------------------------------------------
@pytest.mark.parametrize(
    "uri", ["http://localhost:19530", "https://x.zillizcloud.com:19538", "tcp://10.0.0.1:19530",
            "HTTP://LOCALHOST:19530", "unix:/tmp/milvus.sock", "grpc://host:1"])
def test_remote_uri_goes_to_the_remote_backend(uri):
    from embedb.remote import is_remote_uri

    with pytest.raises(ParamError, match="names a Milvus server, not a local path"):
        parse_uri(uri)
    assert is_remote_uri(uri)  # MilvusClient(uri) -> RemoteMilvusClient (tests/test_remote_*.py)


def test_memory_and_local_paths(tmp_path):
    assert parse_uri(":memory:") is None
    assert parse_uri(str(tmp_path / "x.db")) == str(tmp_path / "x.db")
    assert parse_uri(tmp_path / "y.db") == str(tmp_path / "y.db")  # os.PathLike
    assert parse_uri("file://" + str(tmp_path / "z.db")) == str(tmp_path / "z.db")


@pytest.mark.parametrize("bad", ["", "   ", None, 42, b"./x.db"])
def test_bad_uri_types(bad):
    with pytest.raises(ParamError):
        parse_uri(bad)


def test_missing_parent_directory(tmp_path):
    with pytest.raises(ParamError, match="parent directory"):
        parse_uri(str(tmp_path / "nope" / "x.db"))


def test_unknown_database_name_rejected(tmp_path):
    from embedb.errors import DatabaseNotFoundError

    with pytest.raises(DatabaseNotFoundError, match=r"database not found\[database=other\]"):
        MilvusClient(str(tmp_path / "x.db"), db_name="other")


def test_load_state_prints_like_pymilvus():
    assert str(LoadState.Loaded) == "Loaded"
    assert repr(LoadState.NotLoad) == "<LoadState: NotLoad>"
    assert [s.value for s in LoadState] == [0, 1, 2, 3]
    assert LoadState.NotExist == 0


# argument normalisation ------------------------------------------------------------------------
def test_as_rows():
    row = {"id": 1}
    assert as_rows(row) == [row]
    assert as_rows([row, row]) == [row, row]
    assert as_rows(()) == []
    with pytest.raises(ParamError, match="row 1"):
        as_rows([row, 3])
    with pytest.raises(ParamError, match="dict"):
        as_rows("abc")


def test_as_pk_list():
    assert as_pk_list(3) == [3]
    assert as_pk_list("a") == ["a"]
    assert as_pk_list([1, 2]) == [1, 2]
    assert as_pk_list(np.array([4, 5], dtype=np.int64)) == [4, 5]
    assert as_pk_list([np.int64(7)]) == [7]
    assert type(as_pk_list([np.int64(7)])[0]) is int
    for bad in (1.5, True, [1.5], [None], {"a": 1}):
        with pytest.raises(ParamError):
            as_pk_list(bad)


def test_as_name_list():
    assert as_name_list(None, "x") is None
    assert as_name_list("a", "x") == ["a"]
    assert as_name_list(("a", "b"), "x") == ["a", "b"]
    with pytest.raises(ParamError, match="partition_names"):
        as_name_list([1], "partition_names")


# lifetime (needs the engine) -------------------------------------------------------------------
def test_context_manager_closes(tmp_path):
    path = str(tmp_path / "ctx.db")
    with MilvusClient(path) as client:
        client.create_collection("c", dimension=4)
        assert client.has_collection("c")
    with pytest.raises(MilvusException, match="closed"):
        client.list_collections()
    client.close()  # closing twice is harmless
    with MilvusClient(path) as again:
        assert again.list_collections() == ["c"]


def test_two_clients_on_one_path_share_the_database(tmp_path, open_client):
    path = str(tmp_path / "shared.db")
    a = open_client(path)
    b = open_client(path)
    a.create_collection("c", dimension=2)
    a.insert("c", [{"id": 1, "vector": [0.1, 0.2]}])
    assert b.get("c", 1)[0]["id"] == 1
    a.close()  # b keeps the database open
    assert b.get_collection_stats("c") == {"row_count": 1}
    b.close()


def test_memory_clients_are_independent(open_client):
    a, b = open_client(":memory:"), open_client(":memory:")
    a.create_collection("c", dimension=2)
    assert b.list_collections() == []
    a.close()
    b.close()


def test_missing_collection_error_names_it(open_client):
    client = open_client(":memory:")  # closed by the fixture
    with milvus_raises(CollectionNotFoundError, match=r"can't find collection\[database=default\]\[collection=nope\]") as ei:
        client.describe_collection("nope")
    assert ei.value.code == 100
    with milvus_raises(ParamError):
        client.describe_collection("")
    with milvus_raises(ParamError):
        client.describe_collection(12)


def test_read_only_client(tmp_path):
    from embedb.errors import ReadOnlyError

    path = str(tmp_path / "ro.db")
    with MilvusClient(path) as writer:
        writer.create_collection("c", dimension=2)
        writer.insert("c", [{"id": 1, "vector": [1.0, 0.0]}])
    with MilvusClient(path, read_only=True) as reader:
        assert reader.get("c", 1)[0]["id"] == 1
        with pytest.raises(ReadOnlyError):
            reader.insert("c", [{"id": 2, "vector": [0.0, 1.0]}])
        with pytest.raises(ReadOnlyError):
            reader.drop_collection("c")
        assert reader.get_collection_stats("c") == {"row_count": 1}
    with pytest.raises(ParamError, match="read_only"):
        MilvusClient(path, read_only="yes")


def test_refuses_milvus_lite_databases(tmp_path):
    from embedb.errors import StorageError

    lite2 = tmp_path / "old.db"
    lite2.write_bytes(b"SQLite format 3\x00" + bytes(100))
    with pytest.raises(StorageError, match="milvus-lite dump"):
        MilvusClient(str(lite2))
    lite3 = tmp_path / "new.db"
    (lite3 / "collections").mkdir(parents=True)
    (lite3 / "LOCK").write_text("")
    with pytest.raises(StorageError, match="Milvus Lite 3"):
        MilvusClient(str(lite3))
    assert sorted(p.name for p in lite3.iterdir()) == ["LOCK", "collections"]  # untouched


def test_second_process_gets_a_clear_lock_error_and_can_read(tmp_path):
    import subprocess
    import sys
    import textwrap

    from embedb.errors import DatabaseLockedError

    path = str(tmp_path / "locked.db")
    with MilvusClient(path) as c:
        c.create_collection("c", dimension=2)
        c.insert("c", [{"id": 7, "vector": [1.0, 0.0]}])
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from embedb import MilvusClient
            c = MilvusClient({path!r})
            print("ready", flush=True)
            sys.stdin.readline()
            c.close()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseLockedError) as ei:
            MilvusClient(path)
        assert ei.value.code == 2000
        with MilvusClient(path, read_only=True) as reader:  # readers are welcome
            assert reader.get("c", 7)[0]["id"] == 7
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    with MilvusClient(path) as c:  # the lock went with the other process's close()
        assert c.get_collection_stats("c") == {"row_count": 1}
