"""Nullable vector fields (Milvus 2.6): None is stored as NULL, search never returns such rows,
query returns None, and both survive a reopen (log replay and snapshot)."""

import numpy as np
import pytest

from embedb import DataType, MilvusClient
from embedb.errors import DataError, SchemaError

DIM = 8


def _client(path, index_type="FLAT", metric="L2"):
    client = MilvusClient(str(path))
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=DIM, nullable=True)
    schema.add_field("bits", DataType.BINARY_VECTOR, dim=16, nullable=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR, nullable=True)
    client.create_collection("nv", schema=schema)
    index = client.prepare_index_params()
    index.add_index("dense", index_type=index_type, metric_type=metric,
                    **({"params": {"M": 16, "efConstruction": 64}} if index_type == "HNSW" else {}))
    index.add_index("bits", index_type="BIN_FLAT", metric_type="HAMMING")
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_index("nv", index)
    client.load_collection("nv")
    return client


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    dense = rng.standard_normal((n, DIM)).astype(np.float32)
    null_dense = rng.random(n) < 0.3
    null_bits = rng.random(n) < 0.3
    null_sparse = rng.random(n) < 0.3
    rows = []
    for i in range(n):
        rows.append({
            "id": i,
            "dense": None if null_dense[i] else dense[i].tolist(),
            "bits": None if null_bits[i] else bytes([i % 256, (3 * i) % 256]),
            "sparse": None if null_sparse[i] else {int(i % 50): 1.0 + i, 60: 0.5},
        })
    for i in range(0, n, 7):  # leave some out entirely: missing reads as NULL too
        if rows[i]["dense"] is None:
            del rows[i]["dense"]
    return rows, dense, null_dense, null_bits, null_sparse


@pytest.mark.parametrize("index_type, metric", [("FLAT", "L2"), ("HNSW", "COSINE")])
def test_search_skips_null_rows(tmp_path, index_type, metric):
    rows, dense, null_dense, null_bits, null_sparse = _data(300)
    client = _client(tmp_path / "nv.db", index_type, metric)
    client.insert("nv", rows)
    queries = np.random.default_rng(1).standard_normal((5, DIM)).astype(np.float32)
    hits = client.search("nv", queries.tolist(), anns_field="dense", limit=300,
                         search_params={"metric_type": metric, "params": {"ef": 400}})
    live = np.flatnonzero(~null_dense)
    for q, found in zip(queries, hits):
        ids = [h["id"] for h in found]
        assert set(ids) == set(live.tolist())  # every non-NULL row, no NULL row
        if metric == "L2":  # the order is the exact order of the non-NULL rows
            d = ((dense[live] - q) ** 2).sum(1)
            assert ids[:10] == live[np.argsort(d, kind="stable")][:10].tolist()
    filtered = client.search("nv", queries[:1].tolist(), anns_field="dense", limit=100, filter="id < 100")
    assert {h["id"] for h in filtered[0]} == {i for i in range(100) if not null_dense[i]}
    bits = client.search("nv", [bytes([0, 0])], anns_field="bits", limit=300)
    assert {h["id"] for h in bits[0]} == set(np.flatnonzero(~null_bits).tolist())
    sparse = client.search("nv", [{60: 1.0}], anns_field="sparse", limit=300)
    assert {h["id"] for h in sparse[0]} == set(np.flatnonzero(~null_sparse).tolist())


def test_query_returns_none_and_reopen_keeps_nulls(tmp_path):
    rows, dense, null_dense, null_bits, null_sparse = _data(120, seed=2)
    client = _client(tmp_path / "nv.db")
    client.insert("nv", rows[:60])
    client.flush("nv")  # the first half in a snapshot, the second half only in the log
    client.insert("nv", rows[60:])

    def check(c):
        got = c.query("nv", "id >= 0", output_fields=["dense", "bits", "sparse"])
        assert len(got) == 120
        for r in got:
            i = r["id"]
            if null_dense[i]:
                assert r["dense"] is None
            else:
                assert np.allclose(r["dense"], dense[i])
            assert (r["bits"] is None) == bool(null_bits[i])
            assert r["sparse"] == (None if null_sparse[i] else {i % 50: pytest.approx(1.0 + i), 60: 0.5})

    check(client)
    client.close()
    reopened = MilvusClient(str(tmp_path / "nv.db"))
    reopened.load_collection("nv")
    check(reopened)
    hits = reopened.search("nv", [[0.0] * DIM], anns_field="dense", limit=200)
    assert {h["id"] for h in hits[0]} == set(np.flatnonzero(~null_dense).tolist())
    # upsert a NULL over a vector and a vector over a NULL
    first_null = int(np.flatnonzero(null_dense)[0])
    first_set = int(np.flatnonzero(~null_dense)[0])
    reopened.upsert("nv", [{"id": first_null, "dense": [1.0] * DIM}, {"id": first_set, "dense": None}])
    hits = reopened.search("nv", [[1.0] * DIM], anns_field="dense", limit=200)
    ids = {h["id"] for h in hits[0]}
    assert first_null in ids and first_set not in ids
    reopened.close()


def test_nullable_rules(tmp_path):
    client = MilvusClient(str(tmp_path / "rules.db"))
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    client.create_collection("plain", schema=schema)
    with pytest.raises(DataError) as info:
        client.insert("plain", [{"id": 0, "v": [0.0, 1.0]}, {"id": 1, "v": None}])
    assert "row 1" in info.value.message
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2, nullable=True, default_value=[0.0, 0.0])
    with pytest.raises(SchemaError):
        client.create_collection("bad", schema=schema)


def test_the_2_6_types_through_every_door(open_client):
    """TIMESTAMPTZ, GEOMETRY and a nullable vector give the same answers in-process and
    through pymilvus to ``embedb serve``."""
    pytest.importorskip("shapely")
    client = open_client()
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=3, nullable=True)
    schema.add_field("tsz", DataType.TIMESTAMPTZ, nullable=True)
    schema.add_field("geo", DataType.GEOMETRY, nullable=True)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_collection("t", schema=schema, index_params=index)
    client.insert("t", [{"id": 0, "vec": [1, 2, 3], "tsz": "2025-01-01T00:00:00+08:00", "geo": "POINT(1 2)"},
                        {"id": 1, "vec": None, "tsz": None, "geo": None},
                        {"id": 2, "vec": [0, 0, 0], "tsz": "2025-06-01 12:00:00", "geo": "LINESTRING(0 0, 3 3)"}])
    rows = client.query("t", "id >= 0", output_fields=["tsz", "geo", "vec"])
    assert [(r["id"], r["tsz"], r["geo"]) for r in rows] == [
        (0, "2024-12-31T16:00:00Z", "POINT (1 2)"), (1, None, None),
        (2, "2025-06-01T12:00:00Z", "LINESTRING (0 0, 3 3)")]
    assert rows[1]["vec"] is None and list(rows[0]["vec"]) == [1.0, 2.0, 3.0]
    rows = client.query("t", "tsz < ISO '2025-03-01 08:00:00'", output_fields=["tsz"], timezone="Asia/Shanghai")
    assert [(r["id"], r["tsz"]) for r in rows] == [(0, "2025-01-01T00:00:00+08:00")]
    hits = client.search("t", [[1, 2, 3]], limit=5, output_fields=["geo"],
                         filter="st_intersects(geo, 'POLYGON ((0 0, 2 0, 2 2.5, 0 2.5, 0 0))') or id == 1")
    assert [h["id"] for h in hits[0]] == [0, 2]  # row 1 passes the filter but its vector is NULL


def test_search_by_ids_refuses_a_null_vector(tmp_path):
    from embedb.errors import ParamError

    rows, dense, null_dense, _, _ = _data(40, seed=4)
    client = _client(tmp_path / "ids.db")
    client.insert("nv", rows)
    null_id, set_id = int(np.flatnonzero(null_dense)[0]), int(np.flatnonzero(~null_dense)[0])
    hits = client.search("nv", ids=[set_id], anns_field="dense", limit=3)
    assert hits[0][0]["id"] == set_id
    with pytest.raises(ParamError) as info:
        client.search("nv", ids=[set_id, null_id], anns_field="dense", limit=3)
    assert str(null_id) in info.value.message and "NULL" in info.value.message
