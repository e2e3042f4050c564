"""insert / upsert / delete / get / query through MilvusClient, checked against a plain
Python model of the collection (a dict from primary key to row)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import milvus_raises

from embedb import DataType, MilvusClient
from embedb.errors import DataError, FilterError, ParamError
from embedb.results import OmitZeroDict, QueryResult

DIM = 4
COLORS = ["red", "green", "blue", "cyan"]

# (filter text, the same predicate in Python over a reference row)
FILTERS = [
    ("", lambda r: True),
    ("n < 50", lambda r: r["n"] < 50),
    ("color == 'red'", lambda r: r["color"] == "red"),
    ("n in [1, 5, 9, 77]", lambda r: r["n"] in (1, 5, 9, 77)),
    ("color like 'b%' and n >= 20", lambda r: r["color"].startswith("b") and r["n"] >= 20),
    ("score > 0.5 or color != 'green'", lambda r: r["score"] > 0.5 or r["color"] != "green"),
    ("not (n % 2 == 0)", lambda r: r["n"] % 2 != 0),
    ("id > 30 and id <= 60", lambda r: 30 < r["id"] <= 60),
]


@pytest.fixture
def client(open_client):
    c = open_client(":memory:")
    c.create_collection("c", dimension=DIM)  # dynamic fields on: n, color, score
    yield c
    c.close()


def make_row(rng, pk):
    return {"id": int(pk), "vector": rng.random(DIM).astype(np.float32).tolist(),
            "n": int(rng.integers(0, 100)), "color": COLORS[int(rng.integers(0, 4))],
            "score": float(np.float32(rng.random()))}


def by_id(rows):
    return sorted(rows, key=lambda r: r["id"])


def assert_rows_equal(got, want):
    got, want = by_id(got), by_id(want)
    assert [r["id"] for r in got] == [r["id"] for r in want]
    for g, w in zip(got, want):
        assert set(g) == set(w), (g, w)
        for key, value in w.items():
            if key == "vector":
                np.testing.assert_allclose(g[key], value, rtol=1e-6)
            elif isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-6)
            else:
                assert g[key] == value


def reference_query(model, predicate, fields):
    return [{k: row[k] for k in ["id", *fields]} for row in model.values() if predicate(row)]


@pytest.mark.parametrize("seed", range(4))
def test_random_writes_match_reference(client, seed):
    rng = np.random.default_rng(seed)
    model: dict[int, dict] = {}
    next_pk = 0
    for _ in range(12):
        op = rng.choice(["insert", "upsert", "partial", "delete_ids", "delete_filter"],
                        p=[0.35, 0.2, 0.15, 0.15, 0.15])
        if op == "insert":
            k = int(rng.integers(1, 15))
            batch = [make_row(rng, next_pk + i) for i in range(k)]
            next_pk += k
            res = client.insert("c", batch)
            assert res["insert_count"] == k and res["ids"] == [r["id"] for r in batch]
            model.update({r["id"]: r for r in batch})
        elif op == "upsert":
            pks = rng.integers(0, next_pk + 5, size=int(rng.integers(1, 6)))
            pks = list(dict.fromkeys(int(p) for p in pks))
            batch = [make_row(rng, p) for p in pks]
            next_pk = max(next_pk, max(pks) + 1)
            res = client.upsert("c", batch)
            assert res["upsert_count"] == len(batch) and res["ids"] == pks
            model.update({r["id"]: r for r in batch})
        elif op == "partial" and model:
            pks = rng.choice(sorted(model), size=min(3, len(model)), replace=False)
            batch = [{"id": int(p), "n": int(rng.integers(0, 100))} for p in pks]
            res = client.upsert("c", batch, partial_update=True)
            assert res["upsert_count"] == len(batch)
            for r in batch:
                model[r["id"]] = {**model[r["id"]], **r}
        elif op == "delete_ids":
            pks = [int(p) for p in rng.integers(0, next_pk + 3, size=4)]
            expected = len({p for p in pks if p in model})
            res = client.delete("c", ids=pks)
            assert res == {"delete_count": expected, "cost": 0}
            for p in pks:
                model.pop(p, None)
        elif op == "delete_filter":
            text, pred = FILTERS[int(rng.integers(1, len(FILTERS)))]
            doomed = [p for p, r in model.items() if pred(r)]
            res = client.delete("c", filter=text)
            assert res["delete_count"] == len(doomed), text
            for p in doomed:
                del model[p]
        # after every step: the collection equals the model, under every filter
        assert client.get_collection_stats("c") == {"row_count": len(model)}
    for text, pred in FILTERS:
        got = client.query("c", filter=text, output_fields=["n", "color", "score"])
        assert_rows_equal(got, reference_query(model, pred, ["n", "color", "score"]))
        count = client.query("c", filter=text, output_fields=["count(*)"])
        assert count == [{"count(*)": sum(map(pred, model.values()))}], text
    full = client.query("c", filter="", output_fields=["*"])
    assert_rows_equal(full, list(model.values()))
    if model:
        some = sorted(model)[:: max(1, len(model) // 5)]
        assert_rows_equal(client.get("c", some), [model[p] for p in some])


# result shapes ---------------------------------------------------------------------------------
def test_insert_result_shape(client):
    res = client.insert("c", [{"id": 1, "vector": [0.0] * DIM}, {"id": 2, "vector": [1.0] * DIM}])
    assert isinstance(res, dict)  # an OmitZeroDict (embedb's or pymilvus's): str() hides cost 0
    assert res == {"insert_count": 2, "ids": [1, 2], "cost": 0}
    assert str(res) == "{'insert_count': 2, 'ids': [1, 2]}"
    one = client.insert("c", {"id": 3, "vector": [0.5] * DIM})  # a dict is one row
    assert one["insert_count"] == 1 and one["ids"] == [3]
    assert client.insert("c", []) == {"insert_count": 0, "ids": []}  # as pymilvus: no cost key
    up = client.upsert("c", {"id": 3, "vector": [0.25] * DIM})
    assert up == {"upsert_count": 1, "cost": 0, "ids": [3]}
    assert str(up) == "{'upsert_count': 1, 'ids': [3]}"
    assert client.upsert("c", [])["upsert_count"] == 0


@pytest.mark.embedded_only("checks embedb's own argument checks and result types; pymilvus checks and shapes these itself")
def test_bad_rows_write_nothing(client):
    good = {"id": 1, "vector": [0.0] * DIM}
    with milvus_raises(DataError):
        client.insert("c", [good, {"id": 2, "vector": [0.0] * (DIM + 1)}])
    with milvus_raises(DataError):
        client.insert("c", [good, {"id": 3}])  # missing vector
    with milvus_raises(ParamError, match="row 1"):
        client.insert("c", [good, "not a row"])
    with milvus_raises(ParamError, match="data"):
        client.insert("c", 5)
    assert client.get_collection_stats("c") == {"row_count": 0}


@pytest.mark.embedded_only("checks embedb's own argument checks and result types; pymilvus checks and shapes these itself")
def test_delete_arguments(client):
    client.insert("c", [{"id": i, "vector": [float(i)] * DIM, "n": i} for i in range(10)])
    with milvus_raises(ParamError, match="not both"):
        client.delete("c", ids=[1], filter="n > 2")
    with milvus_raises(ParamError, match="ids or"):
        client.delete("c")
    with milvus_raises(ParamError):
        client.delete("c", filter="")
    with milvus_raises(ParamError):
        client.delete("c", filter=3)
    with milvus_raises(ParamError):
        client.delete("c", ids=[1.5])
    with milvus_raises(FilterError):
        client.delete("c", filter="n >>> 2")
    assert client.get_collection_stats("c") == {"row_count": 10}
    assert client.delete("c", ids=[]) == {"delete_count": 0, "cost": 0}
    assert client.delete("c", ids=4) == {"delete_count": 1, "cost": 0}
    assert client.delete("c", ids=[4, 5, 99]) == {"delete_count": 1, "cost": 0}
    assert client.delete("c", pks=[6]) == {"delete_count": 1, "cost": 0}
    assert client.delete("c", filter="n > {x}", filter_params={"x": 7}) == {"delete_count": 2, "cost": 0}
    assert sorted(r["id"] for r in client.query("c", output_fields=["id"])) == [0, 1, 2, 3, 7]


def test_get(client):
    client.insert("c", [{"id": i, "vector": [float(i)] * DIM, "n": i} for i in range(5)])
    res = client.get("c", 2)
    assert isinstance(res, list)  # a QueryResult in-process, pymilvus's list through the server
    assert len(res) == 1 and res[0]["id"] == 2 and res[0]["n"] == 2
    assert res[0]["vector"] == [2.0] * DIM  # get returns every field, vectors included
    assert list(client.get("c", [1, 3], output_fields=["n"])) in (
        [{"id": 1, "n": 1}, {"id": 3, "n": 3}], [{"id": 3, "n": 3}, {"id": 1, "n": 1}])
    assert client.get("c", [42]) == []
    assert client.get("c", []) == []
    with milvus_raises(ParamError):
        client.get("c", {"id": 1})


def test_query_output_fields(client):
    client.insert("c", [{"id": 1, "vector": [1.0] * DIM, "n": 1, "color": "red"},
                        {"id": 2, "vector": [2.0] * DIM, "n": 2}])
    star = by_id(client.query("c", filter="id >= 0"))  # default: every field
    assert star[0] == {"id": 1, "vector": [1.0] * DIM, "n": 1, "color": "red"}
    assert star[1] == {"id": 2, "vector": [2.0] * DIM, "n": 2}
    assert by_id(client.query("c", filter="id >= 0", output_fields=["color"])) == [
        {"id": 1, "color": "red"}, {"id": 2}]
    assert client.query("c", filter="id == 1", output_fields=["id"]) == [{"id": 1}]
    assert client.query("c", filter="color == 'red'", output_fields=["count(*)"]) == [{"count(*)": 1}]
    # list(): pymilvus materialises dynamic fields of its lazy result list on iteration
    assert list(client.query("c", ids=[2], output_fields=["n"])) == [{"id": 2, "n": 2}]
    assert list(client.query("c", ids=2, output_fields=["n"])) == [{"id": 2, "n": 2}]


@pytest.mark.embedded_only("checks embedb's own argument checks and result types; pymilvus checks and shapes these itself")
def test_query_limit_offset_and_window(client):
    client.insert("c", [{"id": i, "vector": [float(i)] * DIM, "n": i} for i in range(30)])
    everything = client.query("c", filter="")  # no limit needed with an empty filter (as Lite)
    assert len(everything) == 30
    pages = [client.query("c", filter="n >= 0", limit=7, offset=o, output_fields=["id"])
             for o in range(0, 30, 7)]
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    seen = [r["id"] for p in pages for r in p]
    assert sorted(seen) == list(range(30))
    assert len(client.query("c", limit=5)) == 5
    # the server reads offset only with a limit: an offset alone returns every match
    assert len(client.query("c", filter="n >= 0", offset=25)) == 30
    with milvus_raises(ParamError, match="16384"):
        client.query("c", filter="", limit=16385)
    with milvus_raises(ParamError, match="16384"):
        client.query("c", filter="", limit=16000, offset=1000)
    for bad in ({"limit": 0}, {"limit": -3}, {"limit": "5"}, {"offset": -1, "limit": 2}):
        with milvus_raises(ParamError):
            client.query("c", filter="", **bad)


@pytest.mark.embedded_only("checks embedb's own argument checks and result types; pymilvus checks and shapes these itself")
def test_query_arguments(client):
    client.insert("c", [{"id": i, "vector": [float(i)] * DIM, "n": i} for i in range(10)])
    res = client.query("c", filter="n in {vals}", filter_params={"vals": [2, 4]}, output_fields=["n"])
    assert by_id(res) == [{"id": 2, "n": 2}, {"id": 4, "n": 4}]
    with milvus_raises(ParamError, match="not both"):
        client.query("c", filter="n > 1", ids=[1])
    with milvus_raises(ParamError):
        client.query("c", filter=42)
    with pytest.warns(UserWarning, match="bogus"):   # pymilvus passes unknown kwargs on
        assert len(client.query("c", filter="n > 1", bogus=True)) == 8
    with milvus_raises(FilterError):
        client.query("c", filter="n >")
    assert len(client.query("c", filter="n > 7", consistency_level="Strong")) == 2  # accepted
    assert len(client.query("c", expr="n > 7")) == 2  # the ORM's name for filter


def test_schema_mode_typed_fields():
    with MilvusClient(":memory:") as client:
        schema = client.create_schema()
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=16)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        schema.add_field("year", DataType.INT32)
        schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4,
                         max_length=8)
        schema.add_field("meta", DataType.JSON)
        ip = client.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="L2")
        client.create_collection("t", schema=schema, index_params=ip)
        data = [{"pk": f"k{i}", "v": [i, i], "year": 2000 + i, "tags": ["a", "b"][: i % 3],
                 "meta": {"i": i, "even": i % 2 == 0}} for i in range(6)]
        assert client.insert("t", data)["ids"] == [f"k{i}" for i in range(6)]
        got = client.query("t", filter="year >= 2003 and meta['even'] == true",
                           output_fields=["year", "tags", "meta"])
        assert got == [{"pk": "k4", "year": 2004, "tags": ["a"], "meta": {"i": 4, "even": True}}]
        assert client.delete("t", ids=["k0", "k1", "nope"]) == {"delete_count": 2, "cost": 0}
        assert client.get_collection_stats("t") == {"row_count": 4}
        with milvus_raises(DataError):
            client.insert("t", [{"pk": "x", "v": [0, 0], "year": "not a number", "tags": [], "meta": {}}])
        with milvus_raises(DataError):  # no dynamic field: unknown keys are an error
            client.insert("t", [{"pk": "y", "v": [0, 0], "year": 1, "tags": [], "meta": {}, "zz": 1}])


def test_long_string_primary_keys():
    # keys longer than 15 bytes are stored out of line by NumPy's StringDType; lookups by key
    # (get, delete by ids, upsert) must find them like short ones
    with MilvusClient(":memory:") as client:
        client.create_collection("s", dimension=2, id_type="string", max_length=128)
        keys = [f"/home/user/notes/document-{i:03d}.md#chunk{i % 3}" for i in range(40)]
        client.insert("s", [{"id": k, "vector": [1.0, float(i)], "n": i} for i, k in enumerate(keys)])
        for k in keys[::7]:
            assert client.get("s", k, output_fields=["id"]) == [{"id": k}]
        assert client.delete("s", filter="n < 5")["delete_count"] == 5
        assert client.delete("s", ids=keys[5:10] + ["/not/there/at/all/x.md#0"])["delete_count"] == 5
        client.upsert("s", [{"id": keys[20], "vector": [0.0, 0.0], "n": -1}])
        assert client.get_collection_stats("s") == {"row_count": 30}
        assert client.query("s", ids=[keys[20]], output_fields=["n"]) == [{"id": keys[20], "n": -1}]
