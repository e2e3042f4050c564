"""embedb serve survives malformed requests: random bytes, truncated and bit-flipped valid
requests, sent raw to every method. Each gets an answer (an error status, or a gRPC error when
the bytes do not parse), never a crash; the server answers normally afterwards."""

from __future__ import annotations

import random

import numpy as np
import pytest

grpc = pytest.importorskip("grpc")
pymilvus = pytest.importorskip("pymilvus")

from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2  # noqa: E402

import embedb  # noqa: E402

SERVICE = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]


def valid_requests():
    """Serialized requests of the main families, as seeds to truncate and mutate."""
    vec = schema_pb2.FieldData(field_name="vector", type=101, vectors=schema_pb2.VectorField(
        dim=2, float_vector=schema_pb2.FloatArray(data=[0.5, 0.5, 1.0, 0.0])))
    pk = schema_pb2.FieldData(field_name="id", type=5, scalars=schema_pb2.ScalarField(
        long_data=schema_pb2.LongArray(data=[7, 8])))
    group = common_pb2.PlaceholderGroup(placeholders=[common_pb2.PlaceholderValue(
        tag="$0", type=common_pb2.PlaceholderType.FloatVector,
        values=[np.ones(2, np.float32).tobytes()])])
    return {
        "Insert": milvus_pb2.InsertRequest(collection_name="c", fields_data=[pk, vec], num_rows=2),
        "Search": milvus_pb2.SearchRequest(
            collection_name="c", placeholder_group=group.SerializeToString(), nq=1, dsl="id > 0",
            search_params=[common_pb2.KeyValuePair(key="topk", value="3"),
                           common_pb2.KeyValuePair(key="params", value='{"ef": 8}')]),
        "Query": milvus_pb2.QueryRequest(collection_name="c", expr="id in [7, 8]", output_fields=["*"]),
        "Delete": milvus_pb2.DeleteRequest(collection_name="c", expr="id == 7"),
        "CreateCollection": milvus_pb2.CreateCollectionRequest(
            collection_name="z", schema=schema_pb2.CollectionSchema(name="z", fields=[
                schema_pb2.FieldSchema(name="id", data_type=5, is_primary_key=True),
                schema_pb2.FieldSchema(name="v", data_type=101, type_params=[
                    common_pb2.KeyValuePair(key="dim", value="2")])]).SerializeToString()),
    }


def test_random_and_truncated_requests_never_crash_the_server():
    rng = random.Random(1234)
    with embedb.serve_in_thread(":memory:") as uri:
        client = pymilvus.MilvusClient(uri=uri)
        client.create_collection("c", dimension=2)
        channel = grpc.insecure_channel(uri.split("://", 1)[1])
        methods = [m.name for m in SERVICE.methods]
        seeds = {name: req.SerializeToString() for name, req in valid_requests().items()}
        answered = failed_to_parse = 0
        with channel:
            def call(method, payload):
                nonlocal answered, failed_to_parse
                raw = channel.unary_unary(f"/{SERVICE.full_name}/{method}")  # bytes in, bytes out
                try:
                    raw(payload, timeout=10)
                    answered += 1
                except grpc.RpcError as err:  # the bytes did not parse as the request type
                    assert err.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
                                          grpc.StatusCode.UNIMPLEMENTED), err
                    failed_to_parse += 1

            for _ in range(300):
                call(rng.choice(methods), bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64))))
            for method, seed in seeds.items():
                for _ in range(40):
                    data = bytearray(seed[: rng.randint(0, len(seed))])
                    for _ in range(rng.randint(0, 3)):
                        if data:
                            data[rng.randrange(len(data))] = rng.getrandbits(8)
                    call(method, bytes(data))
        assert answered > 0 and answered + failed_to_parse == 300 + 40 * len(seeds)
        # still serving, and still right
        client.insert("c", [{"id": 1, "vector": [1.0, 0.0]}])
        assert 1 in [r["id"] for r in client.query("c", filter="id == 1", output_fields=["id"])]
        client.close()
