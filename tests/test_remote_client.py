"""embedb.MilvusClient(uri) against real servers: the same program against a local path and
each server target gives the same answers in embedb's result shapes and errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import embedb
from embedb import DataType, Function, FunctionType, MilvusClient
from embedb.errors import CollectionNotFoundError, MilvusException, MissingDependencyError, ParamError
from embedb.results import Hit, QueryResult, SearchResult

from milvus_server import milvus_target, unique_name  # noqa: F401

DIM = 8


def _rows(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    return [{"id": i, "vector": vecs[i], "tag": f"t{i % 3}", "score": float(i) / 2} for i in range(n)]


def program(client, name: str) -> dict:
    """One program, run unchanged against a path and a server."""
    client.create_collection(name, dimension=DIM, metric_type="L2", consistency_level="Strong")
    out = {"insert": client.insert(name, _rows(200))["insert_count"]}
    q = np.random.default_rng(1).standard_normal((3, DIM)).astype(np.float32)
    res = client.search(name, q, limit=5, filter='tag == "t1"', output_fields=["tag"])
    out["search_ids"] = [h.ids for h in res]
    out["search_dist"] = [np.round(h.distances, 3).tolist() for h in res]
    out["search_tags"] = {hit["tag"] for hits in res for hit in hits}
    out["query"] = sorted(r["id"] for r in client.query(name, "id < 10 and score >= 2", output_fields=["id"]))
    out["get"] = [(r["id"], r["tag"], np.round(r["vector"], 5).tolist())
                  for r in client.get(name, [3, 4], output_fields=["tag", "vector"])]
    out["delete"] = client.delete(name, ids=[0, 1, 2])["delete_count"]
    out["upsert"] = client.upsert(name, [{"id": 5, "vector": np.zeros(DIM, np.float32), "tag": "new",
                                          "score": 0.0}])["upsert_count"]
    out["count"] = client.query(name, "", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
    out["iterated"] = sum(len(b) for b in client.query_iterator(name, batch_size=64, output_fields=["id"]))
    desc = client.describe_collection(name)
    out["types"] = [f["type"] for f in desc["fields"]]
    index = client.describe_index(name, client.list_indexes(name)[0])
    out["index"] = (index["field_name"], index["metric_type"])
    return out


def test_the_same_program_gives_the_same_answers(milvus_target, tmp_path):
    name = unique_name()
    with MilvusClient(str(tmp_path / "local.db")) as local:
        expected = program(local, name)
    client = MilvusClient(milvus_target.uri)
    try:
        assert isinstance(client, MilvusClient)
        got = program(client, name)
    finally:
        client.drop_collection(name)
        client.close()
    assert got == expected
    assert got["types"] == [DataType.INT64, DataType.FLOAT_VECTOR]
    assert all(isinstance(t, DataType) for t in got["types"])


def test_results_come_back_in_embedb_shapes(milvus_target):
    name = unique_name()
    with MilvusClient(milvus_target.uri) as client:
        client.create_collection(name, dimension=DIM, consistency_level="Strong")
        try:
            client.insert(name, _rows(20))
            res = client.search(name, [_rows(1)[0]["vector"]], limit=3, output_fields=["tag"])
            assert type(res) is SearchResult and type(res[0][0]) is Hit
            assert res[0][0].id == res[0][0]["id"] == 0 and res[0][0].entity == {"tag": "t0"}
            rows = client.query(name, "id in [1, 2]", output_fields=["tag"])
            assert type(rows) is QueryResult and sorted(r["id"] for r in rows) == [1, 2]
            info = client.describe_index(name, "vector")
            assert info["metric_type"] == "COSINE" and info["field_name"] == "vector"
            assert client.get_load_state(name)["state"] == embedb.LoadState.Loaded
        finally:
            client.drop_collection(name)


def test_errors_are_embedb_errors_with_the_server_code(milvus_target):
    with MilvusClient(milvus_target.uri) as client:
        with pytest.raises(CollectionNotFoundError) as info:
            client.query(unique_name("missing"), "id > 0")
        assert info.value.code == 100
        assert isinstance(info.value, MilvusException)
        with pytest.raises(ParamError):
            client.create_collection(unique_name(), dimension="eight")


def test_every_vector_type_the_server_has_round_trips(milvus_target):
    name = unique_name()
    schema = MilvusClient.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=32)
    schema.add_field("f", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("arr", DataType.ARRAY, element_type=DataType.INT32, max_capacity=4)
    schema.add_field("js", DataType.JSON)
    index = MilvusClient.prepare_index_params()
    index.add_index("f", index_type="FLAT", metric_type="L2")
    index.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    row = {"id": "a", "f": [1.0, 2.0, 3.0, 4.0], "sp": {3: 0.5, 70: 1.25}, "arr": [1, 2],
           "js": {"k": [1, "x"]}, "extra": 7}
    if milvus_target.supports("float16_vector"):
        schema.add_field("h", DataType.FLOAT16_VECTOR, dim=4)
        schema.add_field("b", DataType.BFLOAT16_VECTOR, dim=4)
        index.add_index("h", index_type="FLAT", metric_type="IP")
        index.add_index("b", index_type="FLAT", metric_type="COSINE")
        row.update(h=np.array([1, 2, 3, 4], np.float16).tobytes(),
                   b=bytes.fromhex("803f" "0040" "4040" "8040"))
    if milvus_target.supports("binary_vector"):
        schema.add_field("bin", DataType.BINARY_VECTOR, dim=16)
        index.add_index("bin", index_type="BIN_FLAT", metric_type="HAMMING")
        row["bin"] = b"\x01\x80"
    with MilvusClient(milvus_target.uri) as client:
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        try:
            client.insert(name, [row])
            got = client.get(name, ["a"])[0]
        finally:
            client.drop_collection(name)
    assert got == row


def test_bm25_function_runs_on_the_server(milvus_target):
    milvus_target.require("bm25")
    name = unique_name()
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function("bm25", FunctionType.BM25, ["text"], ["sparse"]))
    index = MilvusClient.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    docs = ["the cat sat on the mat", "dogs chase cats", "a bird sang", "cats and dogs and cats"]
    with MilvusClient(milvus_target.uri) as client:
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        try:
            client.insert(name, [{"id": i, "text": t} for i, t in enumerate(docs)])
            hits = client.search(name, ["bird"], anns_field="sparse", limit=2, output_fields=["text"])
        finally:
            client.drop_collection(name)
    assert [h.id for h in hits[0]] == [2] and hits[0][0]["text"] == "a bird sang"


def test_partitions_and_aliases(milvus_target):
    milvus_target.require("partitions", "aliases")
    name, alias = unique_name(), unique_name("alias")
    with MilvusClient(milvus_target.uri) as client:
        client.create_collection(name, dimension=DIM, consistency_level="Strong")
        try:
            client.create_partition(name, "p1")
            client.insert(name, _rows(10)[:4], partition_name="p1")
            client.insert(name, _rows(10)[4:])
            assert sorted(client.list_partitions(name)) == ["_default", "p1"]
            assert [r["id"] for r in client.query(name, "", output_fields=["id"], partition_names=["p1"],
                                                  limit=100)] == [0, 1, 2, 3]
            client.create_alias(name, alias)
            assert client.describe_alias(alias)["collection_name"] == name
            assert client.query(alias, "", output_fields=["count(*)"])[0]["count(*)"] == 10
            client.drop_alias(alias)
        finally:
            client.drop_collection(name)


def test_local_only_features_say_so(milvus_target):
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True,
                     analyzer_params={"type": "german"})
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    with MilvusClient(milvus_target.uri) as client:
        with pytest.raises(ParamError, match="local-only.*'tokenizer': 'standard'"):
            client.create_collection(unique_name(), schema=schema)
        embed = MilvusClient.create_schema()
        embed.add_field("id", DataType.INT64, is_primary=True)
        embed.add_field("text", DataType.VARCHAR, max_length=200)
        embed.add_field("v", DataType.FLOAT_VECTOR, dim=384)
        embed.functions.append(Function("emb", FunctionType.TEXTEMBEDDING, ["text"], ["v"],
                                        params={"provider": "local"}))
        with pytest.raises(ParamError, match="TEXTEMBEDDING.*local-only"):
            client.create_collection(unique_name(), schema=embed)
    with pytest.raises(ParamError, match="read_only=True is a local-only option"):
        MilvusClient(milvus_target.uri, read_only=True)


def test_embedding_functions_run_unchanged_against_a_server(milvus_target, tmp_path):
    """The README's five-minute path with embedb.model, against a path and a server."""
    from embedb import model

    ef = model.DefaultEmbeddingFunction()
    docs = ["Alan Turing was born in Maida Vale, London.", "The cat sat on the mat.",
            "Machine learning is a field of artificial intelligence."]
    answers = []
    for uri in (str(tmp_path / "demo.db"), milvus_target.uri):
        name = unique_name("docs")
        with MilvusClient(uri) as client:
            client.create_collection(name, dimension=ef.dim, consistency_level="Strong")
            client.insert(name, [{"id": i, "vector": v, "text": t}
                                 for i, (t, v) in enumerate(zip(docs, ef.encode_documents(docs)))])
            hits = client.search(name, ef.encode_queries(["Where was Turing born?"]), limit=2,
                                 output_fields=["text"])
            answers.append([(h.id, h["text"], round(h.distance, 4)) for h in hits[0]])
            client.drop_collection(name)
    assert answers[0] == answers[1]
    assert answers[0][0][0] == 0


def test_unix_socket_uri(tmp_path):
    pytest.importorskip("pymilvus")
    from embedb.migrate import servers

    if servers.lite2_binary() is None:
        pytest.skip("the milvus-lite 2.5.1 server binary is not installed (make test installs it)")
    sock = f"unix:{tmp_path}/milvus.sock"
    with servers.start_lite2(tmp_path / "uds.db", address=sock) as server:
        assert server.uri.startswith("unix:")
        with MilvusClient(server.uri) as client:
            client.create_collection("c", dimension=DIM)
            assert client.insert("c", _rows(3))["insert_count"] == 3
            assert client.list_collections() == ["c"]


def test_missing_pymilvus_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(MissingDependencyError, match=r'embedb\[remote\]'):
        MilvusClient("http://127.0.0.1:1")


def test_local_paths_still_open_locally(tmp_path):
    client = MilvusClient(str(tmp_path / "x.db"))
    assert type(client).__name__ == "MilvusClient" and not hasattr(client, "_client")
    client.close()
