"""Every field type the engine stores, written and read through pymilvus and embedb serve,
equals the same calls in-process (values, NULLs, defaults, dynamic fields, vector searches)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("grpc")
pymilvus = pytest.importorskip("pymilvus")

from pymilvus import DataType  # noqa: E402

import embedb  # noqa: E402


def both_doors(run):
    with embedb.serve_in_thread(":memory:") as uri:
        client = pymilvus.MilvusClient(uri=uri)
        wire = run(client)
        client.close()
    with embedb.MilvusClient(":memory:") as local:
        here = run(local)
    return wire, here


def test_scalar_types_nulls_and_text_types():
    pytest.importorskip("shapely", reason="GEOMETRY needs the geo extra")

    def run(c):
        s = c.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        s.add_field("ts", DataType.TIMESTAMPTZ, nullable=True)
        s.add_field("geo", DataType.GEOMETRY, nullable=True)
        s.add_field("arr", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4,
                    max_length=8, nullable=True)
        s.add_field("j", DataType.JSON, nullable=True)
        s.add_field("f", DataType.FLOAT, nullable=True)
        s.add_field("ok", DataType.BOOL, nullable=True)
        ip = c.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="L2")
        c.create_collection("c", schema=s, index_params=ip)
        c.insert("c", [{"id": 1, "v": [1.0, 0.0], "ts": "2024-01-02T03:04:05Z", "geo": "POINT (1 2)",
                        "arr": ["a", "b"], "j": {"k": [1, 2]}, "f": 0.1, "ok": True},
                       {"id": 2, "v": [0.0, 1.0], "ts": None, "geo": None, "arr": None, "j": None,
                        "f": None, "ok": None}])
        rows = list(c.query("c", filter="id > 0", output_fields=["*"]))
        hits = c.search("c", [[1.0, 0.0]], limit=2, output_fields=["ts", "geo", "arr", "j", "f", "ok"])
        return rows, [[dict(h["entity"]) for h in q] for q in hits]

    wire, here = both_doors(run)
    assert wire == here


def test_vector_types_defaults_and_dynamic_fields():
    def run(c):
        s = c.create_schema(enable_dynamic_field=True)
        s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=8)
        s.add_field("b", DataType.BINARY_VECTOR, dim=16)
        s.add_field("h", DataType.FLOAT16_VECTOR, dim=2)
        s.add_field("bf", DataType.BFLOAT16_VECTOR, dim=2)
        s.add_field("i8", DataType.INT8_VECTOR, dim=2)
        s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("n", DataType.INT8, nullable=True, default_value=3)
        ip = c.prepare_index_params()
        ip.add_index("b", index_type="BIN_FLAT", metric_type="HAMMING")
        ip.add_index("h", index_type="FLAT", metric_type="L2")
        ip.add_index("bf", index_type="FLAT", metric_type="L2")
        ip.add_index("i8", index_type="HNSW", metric_type="L2")
        ip.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        c.create_collection("c", schema=s, index_params=ip)
        c.insert("c", [{"id": "a", "b": bytes([1, 2]), "h": np.array([0.5, 1.5], np.float16),
                        "bf": [1.0, 2.0], "i8": np.array([1, -2], np.int8), "sp": {1: 0.5, 7: 1.0},
                        "extra": {"x": 1}},
                       {"id": "b", "b": bytes([3, 4]), "h": np.array([2.5, 0.5], np.float16),
                        "bf": [0.0, 1.0], "i8": np.array([3, 4], np.int8), "sp": {2: 2.0}, "n": None}])
        out = [sorted(list(c.query("c", filter="id != ''", output_fields=["id", "n", "extra", "sp"])), key=str)]
        out.append([[(h["id"], dict(h["entity"])) for h in q]
                    for q in c.search("c", [bytes([1, 2])], anns_field="b", limit=2, output_fields=["n"])])
        for field, query in [("sp", {1: 1.0}), ("h", np.array([0.5, 1.5], np.float16)),
                             ("bf", [0.0, 1.0]), ("i8", np.array([3, 4], np.int8))]:
            out.append([[h["id"] for h in q] for q in c.search("c", [query], anns_field=field, limit=2)])
        return out

    wire, here = both_doors(run)
    assert wire == here


def test_upsert_field_ops():
    from embedb.client.field_ops import FieldOp as EmbedbFieldOp

    def run(c):
        field_op = pymilvus.FieldOp if isinstance(c, pymilvus.MilvusClient) else EmbedbFieldOp
        s = c.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        s.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=10)
        ip = c.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="L2")
        c.create_collection("c", schema=s, index_params=ip)
        c.insert("c", [{"id": 1, "v": [1.0, 0.0], "tags": [1, 2]}])
        c.upsert("c", [{"id": 1, "tags": [3]}], field_ops={"tags": field_op.array_append()})
        appended = list(c.query("c", filter="id == 1", output_fields=["tags"]))
        c.upsert("c", [{"id": 1, "tags": [1]}], field_ops={"tags": field_op.array_remove()})
        return appended, list(c.query("c", filter="id == 1", output_fields=["tags"]))

    wire, here = both_doors(run)
    assert wire == here == ([{"id": 1, "tags": [1, 2, 3]}], [{"id": 1, "tags": [2, 3]}])
