"""embedb serve: the protocol edges that the dual-mode client tests do not reach: connection
calls, unsupported calls, limits, authentication, TLS and the per-call log line."""

from __future__ import annotations

import logging
import shutil
import subprocess

import numpy as np
import pytest

grpc = pytest.importorskip("grpc")
pymilvus = pytest.importorskip("pymilvus")

from pymilvus.exceptions import MilvusException as PyMilvusError  # noqa: E402
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc, schema_pb2  # noqa: E402

import embedb  # noqa: E402
from embedb.errors import ParamError  # noqa: E402
from embedb.server import MilvusServer  # noqa: E402


@pytest.fixture
def served():
    with embedb.serve_in_thread(":memory:") as uri:
        yield uri


def stub_for(uri):
    channel = grpc.insecure_channel(uri.split("://", 1)[1])
    return channel, milvus_pb2_grpc.MilvusServiceStub(channel)


def test_connection_calls(served):
    channel, stub = stub_for(served)
    with channel:
        assert stub.GetVersion(milvus_pb2.GetVersionRequest()).version.startswith("embedb-")
        assert stub.CheckHealth(milvus_pb2.CheckHealthRequest()).isHealthy
        assert stub.Connect(milvus_pb2.ConnectRequest()).status.code == 0
    client = pymilvus.MilvusClient(uri=served)
    assert client.get_server_version().startswith("embedb-")
    client.close()


def test_calls_without_counterpart_answer_unsupported_operation(served):
    channel, stub = stub_for(served)
    with channel:
        for call, request in [(stub.CreateCredential, milvus_pb2.CreateCredentialRequest()),
                              (stub.ListResourceGroups, milvus_pb2.ListResourceGroupsRequest()),
                              (stub.GetMetrics, milvus_pb2.GetMetricsRequest())]:
            response = call(request)
            status = response if isinstance(response, common_pb2.Status) else response.status
            assert status.code == 3000 and "unsupported operation" in status.reason
    client = pymilvus.MilvusClient(uri=served)
    with pytest.raises(PyMilvusError) as info:
        client.list_users()
    assert info.value.code == 3000
    client.close()


def test_nq_and_topk_limits_are_status_errors(served):
    client = pymilvus.MilvusClient(uri=served)
    client.create_collection("c", dimension=2)
    client.insert("c", [{"id": 1, "vector": [1.0, 0.0]}])
    channel, stub = stub_for(served)
    group = common_pb2.PlaceholderGroup(placeholders=[common_pb2.PlaceholderValue(
        tag="$0", type=common_pb2.PlaceholderType.FloatVector,
        values=[np.zeros(2, np.float32).tobytes()] * 16385)])
    with channel:
        too_many = stub.Search(milvus_pb2.SearchRequest(
            collection_name="c", placeholder_group=group.SerializeToString(), nq=16385,
            search_params=[common_pb2.KeyValuePair(key="topk", value="5")]))
        assert too_many.status.code == 1100 and "nq" in too_many.status.reason
        one = common_pb2.PlaceholderGroup(placeholders=[common_pb2.PlaceholderValue(
            tag="$0", type=common_pb2.PlaceholderType.FloatVector,
            values=[np.zeros(2, np.float32).tobytes()])])
        too_deep = stub.Search(milvus_pb2.SearchRequest(
            collection_name="c", placeholder_group=one.SerializeToString(), nq=1,
            search_params=[common_pb2.KeyValuePair(key="topk", value="16385")]))
        assert too_deep.status.code == 1100 and "topk" in too_deep.status.reason
        # messages above 64 MB are refused by the transport, and the server goes on
        with pytest.raises(grpc.RpcError) as info:
            big = schema_pb2.FieldData(field_name="vector", type=100, vectors=schema_pb2.VectorField(
                dim=8, binary_vector=bytes(65 * 2 ** 20)))
            stub.Insert(milvus_pb2.InsertRequest(collection_name="c", fields_data=[big]))
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert client.query("c", filter="id == 1", output_fields=["id"]) == [{"id": 1}]
    client.close()


def test_token_is_required_on_every_call():
    with embedb.serve_in_thread(":memory:", token="s3cret") as uri:
        with pytest.raises(PyMilvusError):
            pymilvus.MilvusClient(uri=uri, timeout=5)
        channel, stub = stub_for(uri)
        with channel, pytest.raises(grpc.RpcError) as info:
            stub.HasCollection(milvus_pb2.HasCollectionRequest(collection_name="c"))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        client = pymilvus.MilvusClient(uri=uri, token="s3cret")
        client.create_collection("c", dimension=2)
        assert client.list_collections() == ["c"]
        client.close()


def test_users_file_is_hashed_on_disk_and_checked(tmp_path):
    users = tmp_path / "users"
    users.write_text("alice:wonderland\n# comment\nbob:builder\n")
    with embedb.serve_in_thread(":memory:", users_file=str(users)) as uri:
        text = users.read_text()
        assert "wonderland" not in text and "builder" not in text and text.count("scrypt$") == 2
        client = pymilvus.MilvusClient(uri=uri, user="alice", password="wonderland")
        assert client.list_collections() == []
        client.close()
        token_client = pymilvus.MilvusClient(uri=uri, token="bob:builder")
        assert token_client.list_collections() == []
        token_client.close()
        with pytest.raises(PyMilvusError):
            pymilvus.MilvusClient(uri=uri, user="alice", password="wrong", timeout=5)
    # the hashed file is read as is the next time
    with embedb.serve_in_thread(":memory:", users_file=str(users)) as uri:
        client = pymilvus.MilvusClient(uri=uri, user="bob", password="builder")
        assert client.list_collections() == []
        client.close()


def test_binding_beyond_loopback_needs_a_flag_and_warns_without_auth():
    with pytest.raises(ParamError, match="allow_remote"):
        MilvusServer(":memory:", host="0.0.0.0", port=0)
    with pytest.warns(RuntimeWarning, match="without authentication"):
        server = MilvusServer(":memory:", host="0.0.0.0", port=0, allow_remote=True)
    server.stop()
    server = MilvusServer(":memory:", host="0.0.0.0", port=0, allow_remote=True, token="t")
    server.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a certificate")
def test_tls(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    with embedb.serve_in_thread(":memory:", tls_cert=str(cert), tls_key=str(key)) as uri:
        assert uri.startswith("https://")
        # dedicated: pymilvus shares connections by address and token only, so a client an earlier
        # test left open to a plain server that had this (reused) port would be handed back here
        client = pymilvus.MilvusClient(uri=uri, server_pem_path=str(cert), server_name="localhost",
                                       dedicated=True)
        client.create_collection("c", dimension=2)
        assert client.list_collections() == ["c"]
        client.close()
        plain = grpc.insecure_channel(uri.split("://", 1)[1])
        with plain, pytest.raises(grpc.RpcError):
            milvus_pb2_grpc.MilvusServiceStub(plain).GetVersion(milvus_pb2.GetVersionRequest(), timeout=5)


def test_each_failed_call_logs_one_line_with_method_and_status(served, caplog):
    client = pymilvus.MilvusClient(uri=served)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="embedb.server"):
        with pytest.raises(PyMilvusError):
            client.get_collection_stats("missing")
    lines = [r.getMessage() for r in caplog.records if r.name == "embedb.server"]
    assert len(lines) == 1
    assert "GetCollectionStatistics" in lines[0] and "code=100" in lines[0]
    client.close()


def test_orm_and_async_clients(served):
    import asyncio
    import warnings

    from pymilvus import AsyncMilvusClient, Collection, CollectionSchema, DataType, FieldSchema
    from pymilvus import connections, utility

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ORM is deprecated in pymilvus 3
        connections.connect(alias="orm", uri=served)
        schema = CollectionSchema([FieldSchema("id", DataType.INT64, is_primary=True),
                                   FieldSchema("v", DataType.FLOAT_VECTOR, dim=4),
                                   FieldSchema("t", DataType.VARCHAR, max_length=20)])
        col = Collection("orm", schema, using="orm")
        col.insert([[1, 2, 3], np.eye(4, dtype=np.float32)[:3].tolist(), ["a", "b", "c"]])
        col.create_index("v", {"index_type": "HNSW", "metric_type": "L2", "params": {"M": 8}})
        col.load()
        assert utility.has_collection("orm", using="orm") and col.num_entities == 3
        hits = col.search([[1, 0, 0, 0]], "v", {"metric_type": "L2"}, limit=2, expr="t != 'c'",
                          output_fields=["t"])[0]
        assert [(h.id, h.entity.get("t")) for h in hits] == [(1, "a"), (2, "b")]
        it = col.query_iterator(batch_size=1, output_fields=["id"])
        seen = []
        while batch := it.next():
            seen += [r["id"] for r in batch]
        assert seen == [1, 2, 3]
        col.drop()
        connections.disconnect("orm")

    async def run():
        client = AsyncMilvusClient(uri=served)
        await client.create_collection("a", dimension=3)
        await client.insert("a", [{"id": i, "vector": [float(i), 1.0, 0.0]} for i in range(5)])
        res = await client.search("a", [[4.0, 1.0, 0.0]], limit=2)
        await client.close()
        return [h["id"] for h in res[0]]

    assert asyncio.run(run()) == [4, 3]


def test_databases_through_the_wire(served):
    client = pymilvus.MilvusClient(uri=served)
    client.create_database("books", properties={"owner": "lib"})
    assert sorted(client.list_databases()) == ["books", "default"]
    assert client.describe_database("books")["owner"] == "lib"
    client.create_collection("c", dimension=2)  # in default
    books = pymilvus.MilvusClient(uri=served, db_name="books")  # dbname metadata on every call
    assert books.list_collections() == []
    books.create_collection("c", dimension=3)
    books.insert("c", [{"id": 1, "vector": [1.0, 0.0, 0.0]}])
    assert books.get_collection_stats("c")["row_count"] == 1
    assert client.get_collection_stats("c")["row_count"] == 0
    client.use_database("books")
    assert client.describe_collection("c")["fields"][1]["params"]["dim"] == 3
    with pytest.raises(PyMilvusError):
        pymilvus.MilvusClient(uri=served, db_name="nope").list_collections()
    books.drop_collection("c")
    client.use_database("default")
    client.drop_database("books")
    assert client.list_databases() == ["default"]
    books.close()
    client.close()


def test_search_by_ids_rerank_group_by_and_query_aggregates_equal_in_process(served):
    from pymilvus import DataType, Function, FunctionType

    def run(c):
        s = c.create_schema(enable_dynamic_field=True)
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
        s.add_field("g", DataType.INT64)
        ip = c.prepare_index_params()
        ip.add_index("vector", index_type="FLAT", metric_type="L2")
        c.create_collection("c", schema=s, index_params=ip)
        c.insert("c", [{"id": i, "vector": [float(i), 1.0], "g": i % 3, "p": i * 1.5} for i in range(12)])
        rrf = Function(name="r", input_field_names=[], function_type=FunctionType.RERANK,
                       params={"reranker": "rrf", "k": 60})
        hits = [c.search("c", ids=[3, 5], limit=3),
                c.search("c", [[1.0, 1.0]], limit=3, ranker=rrf),
                c.search("c", [[1.0, 1.0]], limit=3, group_by_field="g", output_fields=["g"]),
                c.search("c", [[1.0, 1.0]], limit=3, group_by_field="g")]
        rows = [c.query("c", filter="id >= 0", output_fields=["id", "g"], limit=3,
                        order_by_fields=[{"field": "g", "order": "desc"}, {"field": "id", "order": "asc"}]),
                c.query("c", filter="id >= 0", output_fields=["g", "count(*)"], group_by_fields=["g"])]
        hits = [[[(h["id"], h["distance"], dict(h["entity"])) for h in q] for q in r] for r in hits]
        return hits, [list(r) for r in rows]

    wire_hits, wire_rows = run(pymilvus.MilvusClient(uri=served))
    with embedb.MilvusClient(":memory:") as local:
        local_hits, local_rows = run(local)
    assert wire_rows == local_rows
    for wire, here in zip(wire_hits, local_hits):
        assert [[(i, e) for i, _, e in q] for q in wire] == [[(i, e) for i, _, e in q] for q in here]
        # scores travel as float32 on the wire (SearchResultData.scores)
        assert [d for q in wire for _, d, _ in q] == pytest.approx([d for q in here for _, d, _ in q], rel=1e-6)


def test_schema_evolution_equals_in_process(served):
    from pymilvus import DataType

    def run(c):
        c.create_collection("c", dimension=2)
        c.insert("c", [{"id": i, "vector": [float(i), 1.0]} for i in range(3)])
        c.add_collection_field("c", "score", DataType.INT64, nullable=True)
        c.add_collection_field("c", "label", DataType.VARCHAR, max_length=10, default_value="none")
        c.insert("c", [{"id": 9, "vector": [9.0, 1.0], "score": 5, "label": "x"}])
        c.alter_collection_properties("c", {"collection.ttl.seconds": 3600})
        c.alter_collection_field("c", "label", {"max_length": 20})
        d = c.describe_collection("c")
        rows = list(c.query("c", filter="id >= 0", output_fields=["id", "score", "label"]))
        return rows, [(f["name"], f.get("params"), f.get("nullable")) for f in d["fields"]], d["properties"]

    wire = run(pymilvus.MilvusClient(uri=served))
    with embedb.MilvusClient(":memory:") as local:
        assert wire == run(local)


def test_search_iterator_v1_as_pymilvus_drives_it(served):
    from pymilvus.client.iterator.search_iterator import SearchIterator

    client = pymilvus.MilvusClient(uri=served)
    client.create_collection("c", dimension=2, metric_type="L2")
    rng = np.random.default_rng(0)
    client.insert("c", [{"id": i, "vector": rng.random(2).tolist()} for i in range(200)])
    it = SearchIterator(client._get_connection(), None, "c", [[0.5, 0.5]], "vector",
                        {"metric_type": "L2", "params": {}}, batch_size=30, output_fields=["id"],
                        schema=client.describe_collection("c"))
    seen = []
    while batch := it.next():
        seen += [h["id"] for h in batch]
    # range searches with excluded ids walk the same order as one exact search
    assert seen == [h["id"] for h in client.search("c", [[0.5, 0.5]], limit=200)[0]]
    client.close()


def test_search_iterator_pages_equal_in_process_and_unknown_tokens_are_refused(served):
    client = pymilvus.MilvusClient(uri=served)
    client.create_collection("c", dimension=2, metric_type="L2")
    rng = np.random.default_rng(7)
    vectors = rng.random((120, 2)).tolist()
    client.insert("c", [{"id": i, "vector": v} for i, v in enumerate(vectors)])
    it = client.search_iterator("c", [[0.5, 0.5]], batch_size=25, filter="id % 2 == 0")
    pages = []
    while page := it.next():
        pages.append([h["id"] for h in page])
    with embedb.MilvusClient(":memory:") as local:
        local.create_collection("c", dimension=2, metric_type="L2")
        local.insert("c", [{"id": i, "vector": v} for i, v in enumerate(vectors)])
        lit = local.search_iterator("c", [[0.5, 0.5]], batch_size=25, filter="id % 2 == 0")
        assert pages == [[h["id"] for h in page] for page in iter(lit.next, [])]
    assert [len(p) for p in pages] == [25, 25, 10]
    channel, stub = stub_for(served)
    one = common_pb2.PlaceholderGroup(placeholders=[common_pb2.PlaceholderValue(
        tag="$0", type=common_pb2.PlaceholderType.FloatVector, values=[np.zeros(2, np.float32).tobytes()])])
    with channel:
        stale = stub.Search(milvus_pb2.SearchRequest(
            collection_name="c", placeholder_group=one.SerializeToString(), nq=1,
            search_params=[common_pb2.KeyValuePair(key=k, value=v) for k, v in
                           [("topk", "5"), ("search_iter_v2", "True"), ("search_iter_id", "nope")]]))
    assert stale.status.code == 1100 and "expired" in stale.status.reason
    client.close()


def test_index_properties_through_the_wire(served):
    client = pymilvus.MilvusClient(uri=served)
    client.create_collection("c", dimension=2)
    client.alter_index_properties("c", "vector", {"mmap.enabled": True})
    assert client.describe_index("c", "vector")["mmap.enabled"] == "True"  # text, as from Milvus
    client.drop_index_properties("c", "vector", ["mmap.enabled"])
    assert "mmap.enabled" not in client.describe_index("c", "vector")
    client.close()


def test_a_thread_server_lives_until_stopped_even_if_only_its_uri_text_is_kept():
    import gc

    from embedb.server import app

    text = str(embedb.serve_in_thread(":memory:"))
    gc.collect()
    client = pymilvus.MilvusClient(uri=text)
    client.create_collection("c", dimension=2)
    assert client.list_collections() == ["c"]
    client.close()
    (server,) = [s for s in app._running if s.uri == text]
    server.stop()
    assert server not in app._running
