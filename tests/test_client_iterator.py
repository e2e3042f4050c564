"""query_iterator: pk-cursor pagination checked against a plain query of the same rows."""

from __future__ import annotations

import pytest
from conftest import milvus_raises
from hypothesis import given, settings
from hypothesis import strategies as st

from embedb import MilvusClient
from embedb.client import QueryIterator
from embedb.errors import CollectionNotLoadedError, ParamError, PartitionNotFoundError


@pytest.fixture
def client(open_client):
    c = open_client(":memory:")
    c.create_collection("c", dimension=2)
    # primary keys inserted out of order, so row order differs from pk order
    pks = [(i * 37) % 101 for i in range(101)]
    c.insert("c", [{"id": pk, "vector": [float(pk), 1.0], "n": pk % 10} for pk in pks])
    yield c
    c.close()


def drain(it):
    batches = []
    while True:
        batch = it.next()
        if not batch:
            break
        batches.append(batch)
    it.close()
    return batches


@pytest.mark.parametrize("batch_size, limit, filter", [
    (10, -1, ""), (7, -1, "n < 5"), (1000, -1, "n == 3"), (9, 25, ""), (4, 4, "n >= 0"),
    (3, 0, ""), (50, 1000, "id > 90"), (5, -1, "n == 11"),
])
def test_batches_cover_the_query_in_pk_order(client, batch_size, limit, filter):
    expected = sorted(r["id"] for r in client.query("c", filter=filter, output_fields=["id"]))
    if limit >= 0:
        expected = expected[:limit]
    it = client.query_iterator("c", batch_size=batch_size, limit=limit, filter=filter,
                               output_fields=["n"])
    assert callable(it.next) and callable(it.close)
    batches = drain(it)
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert all(len(b) == batch_size for b in batches[:-1])
    got = [r["id"] for b in batches for r in b]
    assert got == expected
    assert all(set(r) == {"id", "n"} and r["n"] == r["id"] % 10 for b in batches for r in b)


def test_default_output_fields_are_all_fields(client):
    first = client.query_iterator("c", batch_size=2).next()
    assert first == [{"id": 0, "vector": [0.0, 1.0], "n": 0}, {"id": 1, "vector": [1.0, 1.0], "n": 1}]


@pytest.mark.embedded_only("pymilvus's own QueryIterator (a cursor of queries): its checks, protocol and snapshot are pymilvus's")
def test_offset_and_iteration_protocol(client):
    it = client.query_iterator("c", batch_size=30, offset=95)
    assert [[r["id"] for r in b] for b in it] == [[95, 96, 97, 98, 99, 100]]


@pytest.mark.embedded_only("pymilvus's own QueryIterator (a cursor of queries): its checks, protocol and snapshot are pymilvus's")
def test_close_stops_and_next_after_end_stays_empty(client):
    it = client.query_iterator("c", batch_size=10)
    assert len(it.next()) == 10
    it.close()
    assert it.next() == []
    it2 = client.query_iterator("c", batch_size=200)
    assert len(it2.next()) == 101
    assert it2.next() == [] and it2.next() == []


@pytest.mark.embedded_only("pymilvus's own QueryIterator (a cursor of queries): its checks, protocol and snapshot are pymilvus's")
def test_snapshot_ignores_later_writes_and_survives_compaction(client):
    it = client.query_iterator("c", batch_size=20, output_fields=["id"])
    first = [r["id"] for r in it.next()]
    assert first == list(range(20))
    client.insert("c", [{"id": 1000, "vector": [0.0, 0.0]}])        # after the snapshot
    client.delete("c", filter="id < 50")
    client.compact("c")                                              # row numbers change
    rest = [r["id"] for b in drain(it) for r in b]
    assert rest == list(range(50, 101))  # re-read after the cursor: no repeats, no gaps


def test_string_primary_keys():
    with MilvusClient(":memory:") as c:
        c.create_collection("s", dimension=2, id_type="string", max_length=8)
        keys = ["b", "a", "d", "c", "aa", "ab"]
        c.insert("s", [{"id": k, "vector": [1.0, 0.0]} for k in keys])
        got = [r["id"] for b in c.query_iterator("s", batch_size=4, output_fields=["id"]) for r in b]
        assert got == sorted(keys)


@pytest.mark.embedded_only("pymilvus's own QueryIterator (a cursor of queries): its checks, protocol and snapshot are pymilvus's")
def test_bad_arguments(client):
    for kwargs in ({"batch_size": 0}, {"batch_size": 16385}, {"batch_size": "9"},
                   {"limit": -2}, {"filter": 3}, {"output_fields": ["count(*)"]}):
        with milvus_raises(ParamError):
            client.query_iterator("c", **kwargs)
    with pytest.warns(UserWarning, match="bogus"):   # accepted as pymilvus accepts it
        client.query_iterator("c", bogus=1)
    with milvus_raises(PartitionNotFoundError, match="nope"):
        client.query_iterator("c", partition_names=["nope"])
    client.release_collection("c")
    with milvus_raises(CollectionNotLoadedError):
        client.query_iterator("c")


@pytest.fixture(scope="module")
def shared():
    c = MilvusClient(":memory:")
    c.create_collection("c", dimension=2)
    pks = [(i * 53) % 211 for i in range(211)]
    c.insert("c", [{"id": pk, "vector": [float(pk), 1.0], "n": pk % 10} for pk in pks])
    c.delete("c", filter="n == 7")
    yield c
    c.close()


@settings(max_examples=40, deadline=None)
@given(batch_size=st.integers(1, 60), limit=st.integers(-1, 230), offset=st.integers(0, 230),
       below=st.integers(0, 10))
def test_iterator_equals_query_slice(shared, batch_size, limit, offset, below):
    expr = f"n < {below}"
    keys = sorted(r["id"] for r in shared.query("c", filter=expr, output_fields=["id"]))
    want = keys[offset:] if limit == -1 else keys[offset:offset + limit]
    it = shared.query_iterator("c", batch_size=batch_size, limit=limit, filter=expr,
                               output_fields=["id"], offset=offset)
    assert [r["id"] for b in it for r in b] == want
