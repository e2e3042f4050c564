"""Regressions found by running public pymilvus-level suites (the Milvus server's MilvusClient
tests, Milvus Lite's tests, pymilvus's examples) against embedb. Each test states the server
behaviour in our own words; the suites themselves are not part of this project."""
from __future__ import annotations

import pytest

from embedb import DataType, MilvusClient


@pytest.fixture
def client(tmp_path):
    c = MilvusClient(str(tmp_path / "parity.db"))
    yield c
    c.close()


def _vector_schema(client, pk_type=DataType.INT64, **pk_kwargs):
    schema = client.create_schema()
    schema.add_field("pk", pk_type, is_primary=True, **pk_kwargs)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    return schema


def _l2_index(client):
    params = client.prepare_index_params()
    params.add_index("v", metric_type="L2")
    return params


def test_varchar_primary_key_with_auto_id_generates_text_ids(client, tmp_path):
    # The server generates int64 ids for an auto_id VARCHAR key and stores them as text.
    schema = _vector_schema(client, DataType.VARCHAR, auto_id=True, max_length=100)
    client.create_collection("c", schema=schema, index_params=_l2_index(client))
    first = client.insert("c", [{"v": [1.0, 2.0]}, {"v": [3.0, 4.0]}])["ids"]
    assert all(isinstance(i, str) and i.isdigit() for i in first)
    assert len(set(first)) == 2
    client.close()
    reopened = MilvusClient(str(tmp_path / "parity.db"))
    second = reopened.insert("c", [{"v": [5.0, 6.0]}])["ids"]
    assert int(second[0]) > max(map(int, first))
    rows = reopened.query("c", filter="", output_fields=["pk"], limit=10)
    assert sorted(r["pk"] for r in rows) == sorted(first + second)
    assert reopened.describe_collection("c")["fields"][0]["auto_id"] is True
    reopened.close()


def test_auto_id_off_the_primary_key_is_still_refused(client):
    from embedb.errors import SchemaError

    schema = _vector_schema(client)
    with pytest.raises(SchemaError, match="auto_id"):
        schema.add_field("x", DataType.INT64, auto_id=True)
        client.create_collection("bad", schema=schema)


def test_search_through_serve_reports_a_cost_like_the_server(tmp_path):
    # pymilvus reads search cost from the status's report_value; code printing
    # result.extra["cost"] (pymilvus's simple_cost example) must not KeyError.
    pymilvus = pytest.importorskip("pymilvus")
    import embedb

    with embedb.serve_in_thread(str(tmp_path / "served.db")) as uri:
        remote = pymilvus.MilvusClient(uri=str(uri))
        remote.create_collection("c", dimension=2, metric_type="L2")
        remote.insert("c", [{"id": 1, "vector": [0.0, 1.0]}, {"id": 2, "vector": [1.0, 0.0]}])
        hits = remote.search("c", [[0.0, 1.0]], limit=1)
        assert hits.extra["cost"] == 0 and hits[0][0]["id"] == 1
        remote.close()


@pytest.mark.parametrize("name, words", [
    ("12-s", "Invalid collection name: 12-s. the first character of a collection name must be an "
             "underscore or letter"),
    ("español", "Invalid collection name: español. collection name can only contain numbers, "
                "letters and underscores"),
    ("a" * 256, "the length of a collection name must be less than 255 characters"),
])
def test_bad_collection_names_use_the_servers_words(client, name, words):
    from embedb.errors import ParamError

    with pytest.raises(ParamError) as err:
        client.create_collection(name, dimension=2)
    assert words in err.value.message and err.value.code == 1100
    assert client.list_collections() == []


def test_bad_alias_partition_and_empty_names_use_the_servers_words(client):
    from embedb.errors import ParamError

    client.create_collection("c", dimension=2)
    with pytest.raises(ParamError, match="Invalid collection alias: 1a. the first character of a "
                                         "collection alias must be an underscore or letter"):
        client.create_alias("c", "1a")
    with pytest.raises(ParamError, match=r"Invalid partition name: p-1\. Partition name can only "
                                         r"contain numbers, letters and underscores\."):
        client.create_partition("c", "p-1")
    with pytest.raises(ParamError, match=r"Invalid partition name: \. Partition name should not be empty\."):
        client.create_partition("c", "")
    with pytest.raises(ParamError, match="`collection_name` value  is illegal"):
        client.has_collection("")
    assert client.list_aliases("c")["aliases"] == []
    assert client.list_partitions("c") == ["_default"]


def test_missing_and_impossible_collection_names(client):
    from embedb.errors import CollectionNotFoundError, MilvusException, ParamError

    # a name the server would accept but no collection has: the miss names the database
    with pytest.raises(CollectionNotFoundError,
                       match=r"collection not found\[database=default\]\[collection=nope\]"):
        client.load_collection("nope")
    # calls pymilvus answers from a DescribeCollection take that call's words
    for call in (client.describe_collection, lambda n: client.insert(n, [{"id": 1}]),
                 lambda n: client.get(n, ids=[1])):
        with pytest.raises(CollectionNotFoundError,
                           match=r"can't find collection\[database=default\]\[collection=nope\]"):
            call("nope")
    assert client.has_collection("nope") is False
    # a name no collection could have: the server's name error, before any lookup
    for call in (client.describe_collection, client.has_collection, client.load_collection,
                 client.list_partitions):
        with pytest.raises(ParamError, match="Invalid collection name: 1-x. the first character"):
            call("1-x")
    client.close()
    with pytest.raises(MilvusException, match="should create connection first"):
        client.list_collections()


def test_query_argument_errors_use_the_servers_words(client):
    from embedb.errors import ParamError

    client.create_collection("c", dimension=2, enable_dynamic_field=False)
    client.insert("c", [{"id": 1, "vector": [0.0, 1.0]}])
    cases = [
        ({"filter": "id inn [1]"}, r"cannot parse expression: id inn \[1\], error:"),
        ({"filter": "id > 0", "limit": "12 s"}, r"limit \[12 s\] is invalid"),
        ({"filter": "id > 0", "limit": 5, "offset": -1},
         r"invalid max query result window, offset \[-1\] is invalid, should be gte than 0"),
        ({"filter": "id > 0", "output_fields": ["nope_field"]}, "field nope_field not exist"),
    ]
    for kwargs, words in cases:
        with pytest.raises(ParamError, match=words):
            client.query("c", **kwargs)
    assert client.query("c", filter="id > 0", output_fields=["id"]) == [{"id": 1}]


def test_create_schema_accepts_keywords_pymilvus_keeps(client, recwarn):
    # pymilvus's CollectionSchema keeps unknown keywords; suites pass timeout= to every call
    schema = client.create_schema(timeout=120, enable_dynamic_field=True, some_future_option=1)
    assert schema.enable_dynamic_field is True
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    client.create_collection("c", schema=schema, index_params=_l2_index(client))
    assert client.describe_collection("c")["enable_dynamic_field"] is True
    assert [str(w.message) for w in recwarn if "timeout" in str(w.message)] == []


def test_alias_conflicts_use_the_servers_words(client):
    from embedb.errors import AliasNotFoundError, AlreadyExistsError, MilvusException, ParamError

    client.create_collection("a", dimension=2)
    client.create_collection("b", dimension=2)
    client.create_alias("a", "al")
    with pytest.raises(AlreadyExistsError, match=r"alias and collection name conflict\[database=default\]\[alias=b\]"):
        client.create_alias("a", "b")
    with pytest.raises(AlreadyExistsError, match="al is alias to another collection: a"):
        client.create_alias("b", "al")
    with pytest.raises(AliasNotFoundError, match=r"alias not found\[database=default\]\[alias=nope\]"):
        client.alter_alias("a", "nope")
    with pytest.raises(ParamError, match="Invalid collection alias: 1x"):
        client.alter_alias("a", "1x")
    with pytest.raises(AlreadyExistsError, match=r"collection name \[al\] conflicts with an existing alias"):
        client.create_collection("al", dimension=2)
    with pytest.raises(MilvusException, match="cannot drop the collection via alias = al"):
        client.drop_collection("al")
    with pytest.raises(AlreadyExistsError, match="cannot rename collection to an existing alias: al"):
        client.rename_collection("b", "al")
    assert client.describe_alias("al")["collection_name"] == "a"
    assert sorted(client.list_collections()) == ["a", "b"]


def test_partition_misses_and_impossible_names(client):
    from embedb.errors import ParamError, PartitionNotFoundError

    client.create_collection("c", dimension=2)
    assert client.has_partition("c", "p_missing") is False
    with pytest.raises(ParamError, match=r"Invalid partition name: 1 x\. The first character"):
        client.has_partition("c", "1 x")
    with pytest.raises(ParamError, match=r"Invalid partition name: p-1\."):
        client.drop_partition("c", "p-1")
    with pytest.raises(PartitionNotFoundError, match="partition name p_missing not found"):
        client.query("c", filter="id > 0", partition_names=["p_missing"])
    with pytest.raises(PartitionNotFoundError, match=r"partition not found\[partition=1 x\]"):
        client.load_partitions("c", ["1 x"])  # the server does not check the form here
    # the server makes both idempotent
    client.create_partition("c", "p1")
    client.create_partition("c", "p1")
    client.drop_partition("c", "p_missing")
    assert client.list_partitions("c") == ["_default", "p1"]


def test_filter_errors_lead_with_the_servers_words(client):
    from embedb.errors import FilterError

    client.create_collection("c", dimension=2, enable_dynamic_field=False)
    client.insert("c", [{"id": 1, "vector": [0.0, 1.0]}])
    for expr, words in [("nope in [1, 2]", "field nope not exist"),
                        ("id > 0 && random_sample(1)",
                         "the sample factor should be between 0 and 1 and not too close to 0 or 1"),
                        ("12", "predicate is not a boolean expression: 12")]:
        with pytest.raises(FilterError, match=words):
            client.query("c", filter=expr, limit=5)


def test_row_errors_lead_with_pymilvus_words(client):
    from embedb.errors import DataError

    client.create_collection("c", dimension=2, enable_dynamic_field=False)
    with pytest.raises(DataError, match="Insert missed an field `vector` to collection without set "
                                        "nullable==true or set default_value"):
        client.insert("c", [{"id": 1}])
    with pytest.raises(DataError, match="Attempt to insert an unexpected field `extra` to collection "
                                        "without enabling dynamic field"):
        client.insert("c", [{"id": 1, "vector": [0.0, 1.0], "extra": 2}])
    assert client.query("c", filter="id >= 0", limit=5) == []
