"""Inputs that used to alias the caller's objects, brick the database, or raise raw errors.

Every case runs on a real database file: a bad batch must raise an embedb error naming the
field and row, store nothing, and leave a database that closes and reopens with every earlier
row; accepted values must read back the same before and after a reopen, and mutating what was
passed in or handed out must never change what is stored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from embedb import DataType, Function, FunctionType, MilvusClient
from embedb.engine.jsonvalues import MAX_JSON_BYTES, MAX_JSON_DEPTH, json_depth
from embedb.errors import DataError, MilvusException, ParamError


def make_schema(client, *, pk_type=DataType.INT64):
    s = client.create_schema(auto_id=False, enable_dynamic_field=True)
    if pk_type == DataType.INT64:
        s.add_field("id", DataType.INT64, is_primary=True)
    else:
        s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("f", DataType.FLOAT, nullable=True)
    s.add_field("d", DataType.DOUBLE, nullable=True)
    s.add_field("txt", DataType.VARCHAR, max_length=1000, nullable=True)
    s.add_field("j", DataType.JSON, nullable=True)
    s.add_field("af", DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=8, nullable=True)
    s.add_field("ai", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8, nullable=True)
    s.add_field("as_", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=8,
                max_length=16, nullable=True)
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    return s


def create(client, name="t", **kw):
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    index.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection(name, schema=make_schema(client, **kw), index_params=index)


def row(pk, **extra):
    return {"id": pk, "vec": [0.5, 0.25], "sp": {3: 1.0}, **extra}


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "trust.db")


def everything(client, name="t"):
    return client.query(name, filter="", output_fields=["*"])


def nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


# ---- aliasing: values are copied in and out ------------------------------------------------

def test_mutating_inserted_objects_changes_nothing(path):
    c = MilvusClient(path)
    create(c)
    j = {"a": {"b": [1, 2]}, "s": "x"}
    tags = [1.5, 2.5]
    strs = ["p", "q"]
    meta = {"k": [1, {"z": 2}]}
    given = row(1, j=j, af=tags, as_=strs, dyn=meta)
    c.insert("t", [given])
    want = everything(c)
    j["a"]["b"].append(3)
    j["new"] = 1
    tags.append(9.0)
    strs[0] = "changed"
    meta["k"][1]["z"] = 99
    given["dyn"] = "replaced"
    assert everything(c) == want
    c.close()
    c = MilvusClient(path)  # what close() persisted is what was inserted
    assert everything(c) == want
    c.close()


@pytest.mark.parametrize("read", ["query", "get", "search"])
def test_mutating_results_changes_nothing(path, read):
    c = MilvusClient(path)
    create(c)
    c.insert("t", [row(1, j={"a": {"b": [1]}}, af=[1.0], ai=[7], dyn={"k": [1]})])
    fields = ["j", "af", "ai", "dyn", "$meta"]

    def fetch():
        if read == "query":
            return c.query("t", filter="id == 1", output_fields=fields)[0]
        if read == "get":
            return c.get("t", ids=[1], output_fields=fields)[0]
        return c.search("t", [[0.5, 0.25]], anns_field="vec", limit=1, output_fields=fields)[0][0]["entity"]

    first = fetch()
    snapshot = {k: (list(v) if isinstance(v, list) else v) for k, v in first.items()}
    first["j"]["a"]["b"].append(2)
    first["j"]["x"] = 1
    first["af"].append(5.0)
    first["ai"][0] = 0
    first["dyn"]["k"].append(2)
    again = fetch()
    assert again["j"] == {"a": {"b": [1]}}
    assert again["af"] == [1.0] and again["ai"] == [7] and again["dyn"] == {"k": [1]}
    assert set(again) == set(snapshot)
    c.close()
    c = MilvusClient(path)
    assert c.query("t", filter="id == 1", output_fields=["j", "dyn"])[0]["j"] == {"a": {"b": [1]}}
    c.close()


def test_values_read_back_the_same_before_and_after_reopen(path):
    """The canonical form is JSON's: object keys are strings, tuples are lists, NumPy values
    are Python values; the same before and after a reopen (and after a replayed log)."""
    c = MilvusClient(path)
    create(c)
    c.insert("t", [row(1, j={1: "int key", False: "bool key", None: "null key", 2.5: "float key",
                             "t": (1, 2), "np": np.int64(7), "f32": np.float32(0.5),
                             "arr": np.arange(3)},
                        dyn=(1, (2, 3)), **{"7": "seven"}),
                   row(2, j=(1, "a"), af=(1, 2.5), ai=np.array([3, 4]), as_=("x",))])
    before = everything(c)
    assert before[0]["j"] == {"1": "int key", "false": "bool key", "null": "null key",
                              "2.5": "float key", "t": [1, 2], "np": 7, "f32": 0.5,
                              "arr": [0, 1, 2]}
    assert before[0]["dyn"] == [1, [2, 3]]
    assert before[1]["j"] == [1, "a"] and before[1]["af"] == [1.0, 2.5] and before[1]["ai"] == [3, 4]
    c.close()
    c = MilvusClient(path)
    assert everything(c) == before
    c.close()


def test_replayed_log_serves_the_canonical_values(tmp_path):
    """Killed before any checkpoint: the log replays to the values served before the kill."""
    path = str(tmp_path / "k.db")
    script = textwrap.dedent(f"""
        import json, os
        from embedb import MilvusClient
        sys_path = {sys.path!r}
        c = MilvusClient({path!r})
        c.create_collection("t", dimension=2)
        c.insert("t", [{{"id": 1, "vector": [0, 1], "m": {{1: (2, 3), False: {{"x": None}}}}}}])
        print(json.dumps(c.query("t", filter="", output_fields=["m"])))
        os._exit(0)   # no close, no checkpoint: only the log has the row
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    import json

    served_before = json.loads(out.stdout.strip().splitlines()[-1])
    c = MilvusClient(path)
    assert c.query("t", filter="", output_fields=["m"]) == served_before
    assert served_before == [{"id": 1, "m": {"1": [2, 3], "false": {"x": None}}}]
    c.close()


# ---- bricking and raw-error inputs: rejected whole, nothing stored -------------------------

def _deep_dict(depth):
    value = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _cycle():
    value = []
    value.append(value)
    return value


BAD_VALUES = [
    ("f", 10**400, "out of range for FLOAT"),
    ("f", 1e39, "out of range for FLOAT"),
    ("f", float("nan"), "NaN or infinity"),
    ("d", 10**400, "out of range for DOUBLE"),
    ("d", float("inf"), "NaN or infinity"),
    ("d", float("-inf"), "NaN or infinity"),
    ("txt", "bad \ud800 text", "lone surrogate"),
    ("j", {"a": "\udfff"}, "lone surrogate"),
    ("j", {"\ud800": 1}, "lone surrogate"),
    ("j", _deep_dict(982), "nested more than"),
    ("j", nested(5000), "nested more than"),
    ("j", nested(MAX_JSON_DEPTH + 1), "nested more than"),
    ("j", {"s": "x" * MAX_JSON_BYTES}, "more than the limit"),
    ("j", [float("nan")], "not JSON-serialisable"),
    ("j", _cycle(), "not JSON-serialisable"),
    ("j", {"o": object()}, "not JSON-serialisable"),
    ("af", [float("nan")], "not a valid FLOAT"),
    ("af", [10**400], "not a valid FLOAT"),
    ("af", [1e39], "not a valid FLOAT"),
    ("as_", ["ok", "\ud800"], "lone surrogate"),
    ("vec", [10**400, 0.0], "out of the float range"),
    ("vec", [1e39, 0.0], "NaN or infinity"),
    ("sp", {1: 10**400}, "sparse vector"),
    ("dyn", "\ud800", "lone surrogate"),
    ("dyn", nested(5000), "nested more than"),
    ("dyn", "y" * (MAX_JSON_BYTES + 1), "more than the limit"),
]


@pytest.mark.parametrize("field,value,message", BAD_VALUES,
                         ids=[f"{f}-{m.split()[0]}-{i}" for i, (f, _, m) in enumerate(BAD_VALUES)])
@pytest.mark.parametrize("op", ["insert", "upsert"])
def test_bad_value_is_rejected_whole_with_a_clear_error(field, value, message, op):
    c = MilvusClient(":memory:")
    create(c)
    c.insert("t", [row(0, j={"keep": True})])
    before = everything(c)
    with pytest.raises(DataError) as info:
        getattr(c, op)("t", [row(1), {**row(2), field: value}])
    text = info.value.message
    assert "row 1" in text and f"'{field}'" in text and message in text, text
    assert everything(c) == before  # the good row of the batch was not stored either
    c.close()


def test_bad_values_leave_a_database_that_closes_and_reopens(path):
    c = MilvusClient(path)
    create(c)
    c.insert("t", [row(0, j={"keep": True})])
    before = everything(c)
    for field, value, _ in BAD_VALUES:
        for op in (c.insert, c.upsert):
            with pytest.raises(DataError):
                op("t", [row(1), {**row(2), field: value}])
    c.flush("t")
    c.close()
    c = MilvusClient(path)
    assert everything(c) == before
    c.close()


def test_limits_are_inclusive(path):
    c = MilvusClient(path)
    create(c)
    at_depth = nested(MAX_JSON_DEPTH - 1)   # MAX_JSON_DEPTH levels including the outer list
    big = {"s": "x" * (MAX_JSON_BYTES - 8)}  # {"s":"..."} is 8 bytes of syntax
    assert json_depth('[' * MAX_JSON_DEPTH + ']' * MAX_JSON_DEPTH) == MAX_JSON_DEPTH
    c.insert("t", [row(1, j=[at_depth]), row(2, j=big), row(3, dyn=at_depth)])
    before = everything(c)
    c.close()
    c = MilvusClient(path)
    assert everything(c) == before
    assert c.query("t", filter='j["s"] like "xx%"', output_fields=["id"]) == [{"id": 2}]
    c.close()


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth('["[[[[", {"a": "]]]{{"}]') == 2
    assert json_depth('"\\\\"') == 0
    assert json_depth('["\\"[[["]') == 1


def test_surrogates_in_bm25_text_and_filters_are_clear_errors(path):
    c = MilvusClient(path)
    s = c.create_schema(auto_id=False)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=16)
    s.add_field("txt", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function("bm", FunctionType.BM25, input_field_names=["txt"],
                            output_field_names=["sp"]))
    index = c.prepare_index_params()
    index.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    c.create_collection("t", schema=s, index_params=index)
    c.insert("t", [{"id": "a", "txt": "hello world"}])
    with pytest.raises(DataError, match="row 1, field 'txt'.*surrogate"):
        c.insert("t", [{"id": "b", "txt": "fine"}, {"id": "c", "txt": "bad \ud800"}])
    with pytest.raises(DataError, match="row 0, field 'id'.*surrogate"):
        c.insert("t", [{"id": "\ud800", "txt": "x"}])
    with pytest.raises(ParamError, match="surrogate"):
        c.search("t", ["hello \udc00"], anns_field="sp", limit=1)
    with pytest.raises(ParamError, match="surrogate"):
        c.get("t", ids=["\ud800"])
    for flt, params in [('txt == "\ud800"', None), ('txt like "%\ud800"', None),
                        ("txt == {p}", {"p": "\ud800"}), ("txt in {p}", {"p": ["a", "\ud800"]})]:
        with pytest.raises(MilvusException, match="surrogate"):
            c.query("t", filter=flt, filter_params=params)
    assert [r["id"] for r in c.query("t", filter="", output_fields=["id"])] == ["a"]
    c.close()


# ---- names: Milvus rules, and long names never reach a file name --------------------------

LONG = "n" * 250


def test_long_names_close_and_reopen(path):
    """Names up to 255 characters are accepted, and no file name derives from them unbounded
    (a 250-character field name used to make every close() fail: File name too long)."""
    c = MilvusClient(path)
    s = c.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v" + LONG, DataType.FLOAT_VECTOR, dim=2)
    s.add_field("t" + LONG, DataType.VARCHAR, max_length=100, enable_analyzer=True,
                nullable=True)
    s.add_field("s" + LONG, DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("x" + "y" * 254, DataType.JSON, nullable=True)
    s.add_function(Function("bm", FunctionType.BM25, input_field_names=["t" + LONG],
                            output_field_names=["s" + LONG]))
    index = c.prepare_index_params()
    index.add_index("v" + LONG, index_type="HNSW", metric_type="L2", index_name="i" + "x" * 254)
    index.add_index("s" + LONG, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    c.create_collection("c" + "z" * 254, schema=s, index_params=index)
    c.create_partition("c" + "z" * 254, "p" + "q" * 254)
    c.insert("c" + "z" * 254, [{"id": i, "v" + LONG: [i, 1.0], "t" + LONG: f"word{i} text",
                                "x" + "y" * 254: {"i": i}} for i in range(20)],
             partition_name="p" + "q" * 254)
    c.flush("c" + "z" * 254)
    c.close()
    for _ in range(2):
        c = MilvusClient(path)
        name = "c" + "z" * 254
        assert c.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 20
        hits = c.search(name, ["word3"], anns_field="s" + LONG, limit=1)
        assert hits[0][0]["id"] == 3
        hits = c.search(name, [[3.0, 1.0]], anns_field="v" + LONG, limit=1)
        assert hits[0][0]["id"] == 3
        c.insert(name, [{"id": 100, "v" + LONG: [0, 0], "t" + LONG: "more"}])
        c.delete(name, ids=[100])
        c.close()
    for root, _dirs, files in os.walk(path):
        for f in files:
            assert len(f.encode()) < 200, f


@pytest.mark.parametrize("bad", ["x" * 256, "1abc", "a-b", "a b", "héllo", "", "a$b"])
def test_names_follow_the_milvus_rules(bad):
    c = MilvusClient(":memory:")
    with pytest.raises(ParamError):
        c.create_collection(bad, dimension=2)
    s = c.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    if bad:  # an empty field name is refused by FieldSchema itself
        s.add_field(bad, DataType.INT64)
        with pytest.raises(ParamError):
            c.create_collection("ok", schema=s)
    c.create_collection("ok2", dimension=2)
    with pytest.raises(ParamError):
        c.create_partition("ok2", bad)
    with pytest.raises(ParamError):
        c.create_alias("ok2", bad)
    index = c.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE", index_name=bad or "x-")
    c.release_collection("ok2")
    c.drop_index("ok2", "vector")
    with pytest.raises(ParamError):
        c.create_index("ok2", index)
    assert c.list_collections() == ["ok2"]
    c.close()


def test_partition_create_drop_cycles_never_overflow():
    """Partition ids are stored per row as int16; after 32,767 create/drop cycles an insert
    used to raise OverflowError. Ids of dropped partitions are reused."""
    c = MilvusClient(":memory:")
    c.create_collection("t", dimension=2)
    for _ in range(33_000):
        c.create_partition("t", "p")
        c.drop_partition("t", "p")
    c.create_partition("t", "p")
    c.insert("t", [{"id": 1, "vector": [0, 1]}], partition_name="p")
    assert c.query("t", filter="", output_fields=["id"], partition_names=["p"]) == [{"id": 1}]
    c.close()


def test_reused_partition_id_replays_correctly(tmp_path):
    """A dropped partition's id is reused; the log replays the drop before the new rows."""
    path = str(tmp_path / "p.db")
    script = textwrap.dedent(f"""
        import os
        from embedb import MilvusClient
        c = MilvusClient({path!r})
        c.create_collection("t", dimension=2)
        c.flush("t")
        c.create_partition("t", "old")
        c.insert("t", [{{"id": i, "vector": [0, 1]}} for i in range(3)], partition_name="old")
        c.drop_partition("t", "old")
        c.create_partition("t", "new")
        c.insert("t", [{{"id": 10 + i, "vector": [0, 1]}} for i in range(2)], partition_name="new")
        c.create_partition("t", "third")
        c.insert("t", [{{"id": 20, "vector": [0, 1]}}], partition_name="third")
        os._exit(0)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    c = MilvusClient(path)
    assert sorted(r["id"] for r in c.query("t", filter="", output_fields=["id"])) == [10, 11, 20]
    assert [r["id"] for r in c.query("t", filter="", partition_names=["new"])] == [10, 11]
    assert [r["id"] for r in c.query("t", filter="", partition_names=["third"])] == [20]
    c.close()


def test_database_with_a_deep_value_stored_before_the_limit_opens(tmp_path):
    """Before the depth limit a 982-deep JSON value was acknowledged and the database then no
    longer opened (RecursionError on log replay). Such a database is written here by lifting
    the limit in a child process; it must open, serve the value, checkpoint and reopen."""
    path = str(tmp_path / "legacy.db")
    script = textwrap.dedent(f"""
        import os
        from embedb import MilvusClient
        from embedb.engine import jsonvalues
        jsonvalues.MAX_JSON_DEPTH = 10_000   # what older versions accepted
        value = 1
        for _ in range(981):
            value = [value]
        c = MilvusClient({path!r})
        c.create_collection("t", dimension=2)
        c.insert("t", [{{"id": 1, "vector": [0, 1], "deep": value}}, {{"id": 2, "vector": [1, 0]}}])
        os._exit(0)   # the deep value is only in the log
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    limit = sys.getrecursionlimit()
    for _ in range(2):  # replayed from the log, then read from the snapshot close() wrote
        c = MilvusClient(path)
        got = c.query("t", filter="id == 1", output_fields=["deep"])[0]["deep"]
        depth = 0
        while isinstance(got, list):
            got, depth = got[0], depth + 1
        assert (depth, got) == (981, 1)
        assert c.query("t", filter="id == 2", output_fields=["id"]) == [{"id": 2}]
        c.close()
    assert sys.getrecursionlimit() == limit


def test_log_payload_reuses_validation_text_exactly():
    """The JSON text kept from validation is byte for byte what Column.parts would encode."""
    from embedb.engine import codec
    from embedb.engine.columns import Column, spec_for_field, META_SPEC
    from embedb.engine.rows import META, build_batch

    c = MilvusClient(":memory:")
    schema = make_schema(c)
    specs = {f.name: spec_for_field(f) for f in schema.fields}
    specs[META] = META_SPEC
    batch = build_batch(schema, [row(1, j={"a": [1, {"b": "é"}]}, dyn={2: (3,)}), row(2, j=None),
                                 row(3, j="text", **{"x y": 1.5})])
    batch = batch.select(np.array([0, 2, 1]))
    assert set(batch.texts) == {"j", META}
    arrays = codec.batch_arrays(batch, specs)
    for name in ("j", META):
        col = Column(specs[name])
        col.append(batch.values[name], batch.valid.get(name))
        for part, arr in col.parts(0, batch.n).items():
            np.testing.assert_array_equal(arrays[f"{name}/{part}"], arr)
    c.close()


def test_huge_numbers_in_reads_are_clear_or_work():
    c = MilvusClient(":memory:")
    c.create_collection("t", dimension=2)
    c.insert("t", [{"id": 1, "vector": [0, 1], "big": 10**400}, {"id": 2, "vector": [1, 0], "big": 5}])
    # a JSON integer beyond the double range compares as infinity
    assert c.query("t", filter="big > 1e300", output_fields=["id"]) == [{"id": 1}]
    assert c.query("t", filter="big in [5, 6]", output_fields=["id"]) == [{"id": 2}]
    assert c.query("t", filter="id == 1", output_fields=["big"])[0]["big"] == 10**400
    with pytest.raises(ParamError, match="query 0"):
        c.search("t", [[10**400, 0]], limit=1)
    with pytest.raises(ParamError):
        c.get("t", ids=[10**400])
    c.close()


def test_partition_count_limit():
    c = MilvusClient(":memory:")
    c.create_collection("t", dimension=2)
    for i in range(1023):
        c.create_partition("t", f"p{i}")
    with pytest.raises(ParamError, match="at most 1024 partitions"):
        c.create_partition("t", "one_too_many")
    c.drop_partition("t", "p5")
    c.create_partition("t", "again")  # a freed slot (and its id) is usable again
    c.insert("t", [{"id": 1, "vector": [0, 1]}], partition_name="again")
    assert c.query("t", filter="", partition_names=["again"], output_fields=["id"]) == [{"id": 1}]
    c.close()


def test_catalog_settings_are_checked_at_the_door(path):
    """Collection properties and index parameters live in the catalog as JSON: a value that
    could not be read back on opening is refused when given."""
    c = MilvusClient(path)
    with pytest.raises(ParamError, match="collection properties is nested"):
        c.create_collection("t", dimension=2, properties={"x": nested(2000)})
    c.create_collection("t", dimension=2)
    with pytest.raises(ParamError, match="surrogate"):
        c.alter_collection_properties("t", properties={"y": "\ud800"})
    index = c.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="L2", params={"M": 8, "x": nested(2000)})
    c.release_collection("t")
    c.drop_index("t", "vector")
    with pytest.raises(ParamError, match="index params is nested"):
        c.create_index("t", index)
    c.close()
    c = MilvusClient(path)
    assert c.list_collections() == ["t"]
    c.close()
