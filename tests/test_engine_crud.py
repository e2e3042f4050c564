"""Collection semantics: insert/upsert/delete/query against a plain dict model, partitions,
partition keys, output fields, auto ids, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from embedb.engine import Database
from embedb.errors import (
    AlreadyExistsError,
    CollectionNotFoundError,
    ParamError,
    PartitionNotFoundError,
    AliasNotFoundError,
)
from embedb.schema import CollectionSchema, DataType


def simple_schema(pk=DataType.INT64, dynamic=True, auto_id=False, partition_key=False) -> CollectionSchema:
    s = CollectionSchema(enable_dynamic_field=dynamic)
    if pk == DataType.VARCHAR:
        s.add_field("pk", pk, is_primary=True, max_length=32)
    else:
        s.add_field("pk", pk, is_primary=True, auto_id=auto_id)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=3)
    s.add_field("n", DataType.INT64, is_partition_key=partition_key)
    s.add_field("tag", DataType.VARCHAR, max_length=16, nullable=True)
    return s


def row(pk, n, tag=None, **extra):
    return {"pk": pk, "vec": [float(n), 0.0, 1.0], "n": n, "tag": tag, **extra}


@pytest.fixture
def db():
    d = Database.open(None)
    yield d
    d.close()


# ------------------------------------------------------------------ differential model
ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.lists(st.tuples(st.integers(0, 30), st.integers(-5, 5)), min_size=1, max_size=8)),
        st.tuples(st.just("upsert"), st.lists(st.tuples(st.integers(0, 30), st.integers(-5, 5)), min_size=1, max_size=8)),
        st.tuples(st.just("delete_ids"), st.lists(st.integers(0, 35), max_size=6)),
        st.tuples(st.just("delete_filter"), st.integers(-5, 5)),
        st.tuples(st.just("flush"), st.none()),
        st.tuples(st.just("compact"), st.none()),
    ),
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(ops=ops, string_keys=st.booleans())
def test_random_operations_match_a_dict_model(tmp_path_factory, ops, string_keys):
    path = tmp_path_factory.mktemp("m") / "m.db"
    key = (lambda k: f"k{k:03d}") if string_keys else (lambda k: k)
    db = Database.open(path)
    c = db.create_collection("c", simple_schema(DataType.VARCHAR if string_keys else DataType.INT64))
    model: dict = {}
    for op, arg in ops:
        if op in ("insert", "upsert"):
            rows = [row(key(k), n) for k, n in arg]
            getattr(c, op)(rows)
            for k, n in arg:  # the last row of a key wins
                model[key(k)] = n
        elif op == "delete_ids":
            ids = [key(k) for k in arg]
            expected = len({i for i in ids if i in model})
            assert c.delete(ids=ids) == expected
            for i in ids:
                model.pop(i, None)
        elif op == "delete_filter":
            gone = [k for k, v in model.items() if v > arg]
            assert c.delete(filter=f"n > {arg}") == len(gone)
            for k in gone:
                del model[k]
        elif op == "flush":
            db.close()
            db = Database.open(path)
            c = db.get_collection("c")
        else:
            c.compact()
        assert c.num_rows == len(model)
    got = c.query(output_fields=["n"])
    assert [r["pk"] for r in got] == sorted(model)  # pk-ascending order
    assert {r["pk"]: r["n"] for r in got} == model
    assert c.query(output_fields=["count(*)"]) == [{"count(*)": len(model)}]
    for lim, off in ((3, 0), (2, 5), (None, 4)):
        expect = sorted(model)[off: None if lim is None else off + lim]
        assert [r["pk"] for r in c.query(limit=lim, offset=off, output_fields=["pk"])] == expect
    db.close()


def test_duplicate_keys_in_one_insert_last_wins(db):
    c = db.create_collection("c", simple_schema())
    ids = c.insert([row(1, 1), row(2, 2), row(1, 3)])
    assert ids == [1, 2, 1]
    assert c.num_rows == 2
    assert c.query(ids=[1], output_fields=["n"]) == [{"pk": 1, "n": 3}]
    c.insert([row(2, 9)])  # inserting an existing key keeps the newest visible
    assert c.query(output_fields=["n"]) == [{"pk": 1, "n": 3}, {"pk": 2, "n": 9}]


def test_partial_update(db):
    c = db.create_collection("c", simple_schema())
    c.insert([row(1, 1, "a", color="red"), row(2, 2, "b")])
    c.upsert([{"pk": 1, "tag": "z"}, row(3, 3)], partial_update=True)
    got = {r["pk"]: r for r in c.query()}
    assert got[1]["tag"] == "z" and got[1]["n"] == 1 and got[1]["vec"] == [1.0, 0.0, 1.0]
    assert got[1]["color"] == "red"
    assert got[3]["n"] == 3
    with pytest.raises(Exception, match="row 0, field 'vec'"):
        c.upsert([{"pk": 7, "tag": "new"}], partial_update=True)  # a new key needs every field


def test_output_fields_and_dynamic_keys(db):
    c = db.create_collection("c", simple_schema())
    c.insert([row(1, 1, "x", a=1, b={"c": 2}), row(2, 2)])
    assert c.query(output_fields=["a"]) == [{"pk": 1, "a": 1}, {"pk": 2}]
    assert c.query(ids=[1], output_fields=["*"])[0] == {"pk": 1, "vec": [1.0, 0.0, 1.0], "n": 1, "tag": "x", "a": 1, "b": {"c": 2}}
    assert c.query(ids=[2], output_fields=["tag"]) == [{"pk": 2, "tag": None}]
    assert c.query(filter="a == 1", output_fields=["count(*)"]) == [{"count(*)": 1}]
    assert c.resolve_output_fields(["n", "n", "zz"]) == ["n", "zz"]
    assert c.entities(np.array([1, 0]), ["n"]) == [{"n": 2}, {"n": 1}]
    assert c.pk_values(np.array([1, 0])) == [2, 1]
    c2 = db.create_collection("static", simple_schema(dynamic=False))
    with pytest.raises(ParamError, match="zz"):
        c2.query(output_fields=["zz"])
    with pytest.raises(ParamError):
        c.query(output_fields=["count(*)", "n"])
    with pytest.raises(ParamError):
        c.query(limit=-5)


def test_returned_json_values_do_not_alias_storage(db):
    c = db.create_collection("c", simple_schema())
    c.insert([row(1, 1, meta_list=[1, 2])])
    got = c.query(output_fields=["meta_list"])[0]
    got["meta_list"].append(3)
    assert c.query(output_fields=["meta_list"])[0]["meta_list"] == [1, 2]


def test_auto_id_generates_unique_increasing_server_style_ids(tmp_path):
    db = Database.open(tmp_path / "a.db")
    c = db.create_collection("c", simple_schema(auto_id=True))
    a = c.insert([{"vec": [0, 0, 0], "n": i} for i in range(5)])
    b = c.insert([{"vec": [0, 0, 0], "n": 9}, {"pk": 42, "vec": [0, 0, 0], "n": 1}])  # explicit id accepted
    assert b[1] == 42
    ids = a + b[:1]
    assert len(set(ids)) == 6 and ids == sorted(ids) and all(i > 2**50 for i in ids)
    db.close()
    db = Database.open(tmp_path / "a.db")
    more = db.get_collection("c").insert([{"vec": [0, 0, 0], "n": 0}])
    assert more[0] > max(ids)
    db.close()


def test_partitions(db):
    c = db.create_collection("c", simple_schema())
    assert c.list_partitions() == ["_default"] and c.has_partition("_default")
    c.create_partition("p1")
    with pytest.raises(AlreadyExistsError):
        c.create_partition("p1")
    c.insert([row(1, 1), row(2, 2)])
    c.insert([row(3, 3), row(4, 4)], partition="p1")
    assert c.partition_num_rows("p1") == 2 and c.partition_num_rows("_default") == 2
    assert [r["pk"] for r in c.query(partitions=["p1"], output_fields=["pk"])] == [3, 4]
    assert c.delete(ids=[1, 3], partitions=["p1"]) == 1  # only the key in p1
    assert c.mask(partitions=["_default"]).sum() == 2
    with pytest.raises(PartitionNotFoundError):
        c.query(partitions=["nope"])
    with pytest.raises(PartitionNotFoundError):
        c.insert([row(9, 9)], partition="nope")
    c.drop_partition("p1")
    assert c.list_partitions() == ["_default"] and c.num_rows == 2
    with pytest.raises(ParamError):
        c.drop_partition("_default")


def test_partition_key_routes_rows(db):
    c = db.create_collection("c", simple_schema(partition_key=True), num_partitions=4)
    assert c.list_partitions() == [f"_default_{i}" for i in range(4)]
    c.insert([row(i, i % 10) for i in range(200)])
    counts = [c.partition_num_rows(p) for p in c.list_partitions()]
    assert sum(counts) == 200 and sum(x > 0 for x in counts) >= 2
    # all rows with one key value share a partition
    for p in c.list_partitions():
        ns = {r["n"] for r in c.query(partitions=[p], output_fields=["n"])}
        for other in c.list_partitions():
            if other != p:
                assert not ns & {r["n"] for r in c.query(partitions=[other], output_fields=["n"])}
    with pytest.raises(ParamError):
        c.create_partition("x")
    with pytest.raises(ParamError):
        c.insert([row(1000, 1)], partition="_default_0")


def test_catalog_errors_and_aliases(db):
    db.create_collection("c", simple_schema())
    with pytest.raises(AlreadyExistsError):
        db.create_collection("c", simple_schema())
    with pytest.raises(CollectionNotFoundError):
        db.get_collection("nope")
    with pytest.raises(ParamError):
        db.create_collection("bad name!", simple_schema())
    db.create_alias("c", "a1")
    assert db.get_collection("a1").name == "c"
    with pytest.raises(AlreadyExistsError):
        db.create_alias("c", "a1")
    db.create_collection("d", simple_schema())
    db.alter_alias("d", "a1")
    assert db.describe_alias("a1") == {"alias": "a1", "collection_name": "d"}
    assert db.list_aliases("d") == ["a1"] and db.list_aliases("c") == []
    db.drop_alias("a1")
    with pytest.raises(AliasNotFoundError):
        db.describe_alias("a1")
    db.drop_collection("nope")  # dropping an absent collection is a no-op, as on the server
    db.rename_collection("d", "e")
    assert db.list_collections() == ["c", "e"]


def test_load_state(db):
    c = db.create_collection("c", simple_schema())
    assert not c.loaded
    c.load()
    assert c.loaded
    c.release()
    assert not c.loaded


def test_delete_needs_ids_or_filter_not_both(db):
    c = db.create_collection("c", simple_schema())
    c.insert([row(1, 1)])
    with pytest.raises(ParamError):
        c.delete()
    with pytest.raises(ParamError):
        c.delete(ids=[1], filter="n > 0")
    assert c.delete(ids=[5]) == 0 and c.num_rows == 1


def test_threads_insert_concurrently(tmp_path):
    db = Database.open(tmp_path / "t.db")
    c = db.create_collection("c", simple_schema())
    errors = []

    def work(t):
        try:
            for b in range(10):
                c.insert([row(t * 1000 + b * 10 + i, t) for i in range(10)])
                c.query(filter=f"n == {t}", output_fields=["count(*)"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert c.num_rows == 400
    db.close()
    db = Database.open(tmp_path / "t.db")
    assert db.get_collection("c").num_rows == 400
    db.close()


def test_same_path_opened_twice_in_one_process_is_shared(tmp_path):
    a = Database.open(tmp_path / "s.db")
    b = Database.open(tmp_path / "s.db")
    assert a is b
    a.create_collection("c", simple_schema())
    a.close()
    assert b.list_collections() == ["c"]  # still open for the second user
    b.close()


def test_query_by_ids_keeps_the_requested_order(db):
    c = db.create_collection("c", simple_schema())
    c.insert([row(i, i) for i in (5, 1, 9, 3)])
    assert [r["pk"] for r in c.query(ids=[9, 3, 5, 9, 42], output_fields=["pk"])] == [9, 3, 5]
    assert [r["pk"] for r in c.query(ids=[9, 3, 5], filter="n < 9", output_fields=["pk"])] == [3, 5]
    assert [r["pk"] for r in c.query(output_fields=["pk"])] == [1, 3, 5, 9]
