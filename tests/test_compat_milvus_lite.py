"""Side by side: the same pymilvus scripts on Milvus Lite 3.x (pymilvus.MilvusClient on a .db
path) and on embedb.MilvusClient, results compared after normalisation (row order where the API
does not fix it, float32 rounding, result classes).

Skipped when milvus-lite is not installed. Deliberate divergences (documented in docs/api.md) are
asserted as such: delete returns {"delete_count": n} (Lite: a list of the keys it was given),
create_collection is idempotent (Lite: always an error), partition_names are honoured by
count(*) (Lite counts every partition), a query offset without a limit is ignored as on the
server (Lite applies it).
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("milvus_lite")
pymilvus = pytest.importorskip("pymilvus")

import embedb  # noqa: E402

pytestmark = pytest.mark.reference
DIM = 4


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("compat")


@pytest.fixture(scope="module")
def clients(root):
    lite = pymilvus.MilvusClient(str(root / "lite.db"))
    ours = embedb.MilvusClient(str(root / "ours.db"))
    yield lite, ours
    ours.close()
    lite.close()


def test_embedb_leaves_a_milvus_lite_database_alone(clients, root):
    before = sorted(p.name for p in (root / "lite.db").iterdir())
    with pytest.raises(embedb.MilvusException, match="Milvus Lite 3"):
        embedb.MilvusClient(str(root / "lite.db"))
    assert sorted(p.name for p in (root / "lite.db").iterdir()) == before


def norm(value):
    """Plain, comparable Python values: dicts/lists recursively, floats rounded to float32-ish."""
    if isinstance(value, dict):
        return {str(k): norm(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if isinstance(value, float):
        return round(value, 5) if math.isfinite(value) else value
    if hasattr(value, "item"):  # numpy scalars
        return norm(value.item())
    return value


def rows_sorted(rows, pk="id"):
    return sorted((norm(dict(r)) for r in rows), key=lambda r: (str(type(r.get(pk))), r.get(pk)))


def both(clients, fn):
    lite, ours = clients
    return fn(lite), fn(ours)


def same(clients, fn, sort_pk="id"):
    a, b = both(clients, fn)
    if sort_pk is None:
        assert norm(a) == norm(b)
    else:
        assert rows_sorted(a, sort_pk) == rows_sorted(b, sort_pk)
    return b


def data(n, start=0):
    colors = ["red", "green", "blue"]
    return [{"id": i, "vector": [float(i % 7), 1.0, float(i % 3), 0.5],
             "color": colors[i % 3], "n": i, "score": (i % 10) / 10,
             "info": {"k": i % 4, "tags": ["a", "b"][: i % 3]}, "arr": list(range(i % 4))}
            for i in range(start, start + n)]


def test_crud(clients):
    def setup(c):
        c.create_collection("crud", dimension=DIM)
        return c.insert("crud", data(40))

    a, b = both(clients, setup)
    assert (a["insert_count"], list(a["ids"])) == (b["insert_count"], b["ids"])
    assert str(a) == str(b)
    same(clients, lambda c: c.get("crud", [3, 1, 99]))
    same(clients, lambda c: c.get("crud", 5, output_fields=["color", "n"]))
    same(clients, lambda c: c.query("crud", filter="n < 5"))
    same(clients, lambda c: c.query("crud", filter="n >= 30", output_fields=["color"]))
    same(clients, lambda c: c.query("crud", filter="", output_fields=["count(*)"]), sort_pk=None)
    a, b = both(clients, lambda c: c.upsert("crud", data(3, start=38) + data(2, start=100)))
    assert (a["upsert_count"], list(a["ids"])) == (b["upsert_count"], b["ids"])
    same(clients, lambda c: c.query("crud", filter="n >= 36"))
    # delete: Lite returns the keys it was given, embedb the number of rows deleted (server)
    a, b = both(clients, lambda c: c.delete("crud", ids=[0, 1, 2, 999]))
    assert list(a) == [0, 1, 2, 999] and b == {"delete_count": 3, "cost": 0}
    a, b = both(clients, lambda c: c.delete("crud", filter="color == 'blue' and n < 20"))
    assert b["delete_count"] == len(a)
    same(clients, lambda c: c.query("crud", filter="", output_fields=["id"]))
    same(clients, lambda c: c.get_collection_stats("crud"), sort_pk=None)
    same(clients, lambda c: c.insert("crud", []), sort_pk=None)


FILTERS = [
    "n == 7", "n != 7 and n < 12", "n < 3 or n > 37", "n in [1, 2, 30]", "n not in [1, 2, 3]",
    "color like 're%'", "color == 'green' && n <= 20", "score >= 0.5 || color == 'red'",
    "info['k'] == 2", "info['k'] in [1, 3]" if False else "info['k'] > 1",
    "json_contains(info['tags'], 'b')", "array_contains(arr, 2)", "array_length(arr) == 3",
    "not (n < 35)", "id > 10 and id < 15", "$meta['color'] == 'red' and n < 10",
    "n * 2 > 70", "color in ['red', 'blue'] and not n > 5",
]


@pytest.mark.parametrize("expr", FILTERS)
def test_query_filters(clients, expr):
    def setup(c):
        if not c.has_collection("filters"):
            c.create_collection("filters", dimension=DIM)
            c.insert("filters", data(40))

    both(clients, setup)
    same(clients, lambda c: c.query("filters", filter=expr, output_fields=["n", "color"]))
    same(clients, lambda c: c.query("filters", filter=expr, output_fields=["count(*)"]), sort_pk=None)


def test_query_shapes(clients):
    def setup(c):
        c.create_collection("shapes", dimension=DIM)
        c.insert("shapes", data(25))

    both(clients, setup)
    same(clients, lambda c: c.query("shapes", filter="n < 4"))                      # default: *
    same(clients, lambda c: c.query("shapes", filter="n < 4", output_fields=["*"]))
    same(clients, lambda c: c.query("shapes", filter="n < 4", output_fields=["info", "arr"]))
    same(clients, lambda c: c.query("shapes", filter="n < 4", output_fields=["vector"]))
    same(clients, lambda c: c.query("shapes", ids=[4, 2], output_fields=["n"]))
    same(clients, lambda c: c.query("shapes", filter="", limit=5, offset=3, output_fields=["id"]),
         sort_pk=None)
    same(clients, lambda c: c.query("shapes", filter="n >= 10", limit=4, output_fields=["n"]),
         sort_pk=None)
    same(clients, lambda c: c.query("shapes", filter=""))  # Lite: no limit needed
    # an offset without a limit: the server (and embedb) ignore it; Lite applies it (docs/api.md)
    lite, ours = clients
    lite_rows = lite.query("shapes", filter="n >= 0", offset=20, output_fields=["id"])
    our_rows = ours.query("shapes", filter="n >= 0", offset=20, output_fields=["id"])
    assert len(lite_rows) == 5
    assert sorted(r["id"] for r in our_rows) == list(range(25))


def test_string_keys_and_partial_update(clients):
    def setup(c):
        c.create_collection("strs", dimension=DIM, id_type="string", max_length=16)
        return c.insert("strs", [{"id": f"k{i}", "vector": [1.0, 0, 0, float(i)], "n": i}
                                 for i in range(6)])

    a, b = both(clients, setup)
    assert list(a["ids"]) == b["ids"]
    same(clients, lambda c: c.get("strs", ["k1", "k4"]))
    same(clients, lambda c: c.query("strs", filter="id in ['k2', 'k3']", output_fields=["n"]))
    both(clients, lambda c: c.upsert("strs", [{"id": "k2", "n": 200}], partial_update=True))
    same(clients, lambda c: c.get("strs", "k2"))
    same(clients, lambda c: c.describe_collection("strs")["fields"][0]["type"], sort_pk=None)


def test_partitions(clients):
    def setup(c):
        c.create_collection("parts", dimension=DIM)
        c.create_partition("parts", "p1")
        c.create_partition("parts", "p2")
        c.insert("parts", data(5))
        c.insert("parts", data(4, start=10), partition_name="p1")
        c.insert("parts", data(3, start=20), partition_name="p2")

    both(clients, setup)
    same(clients, lambda c: c.list_partitions("parts"), sort_pk=None)
    same(clients, lambda c: [c.has_partition("parts", p) for p in ("p1", "p3")], sort_pk=None)
    same(clients, lambda c: c.get_partition_stats("parts", "p1"), sort_pk=None)
    same(clients, lambda c: c.query("parts", filter="n >= 0", partition_names=["p1"]))
    same(clients, lambda c: c.query("parts", filter="n > 2", partition_names=["p1", "p2"],
                                    output_fields=["n"]))
    same(clients, lambda c: c.get("parts", [1, 11, 21], partition_names=["p2"]))
    # count(*) honours partition_names in embedb; Lite 3.2 counts every partition
    a, b = both(clients, lambda c: c.query("parts", filter="", partition_names=["p2"],
                                           output_fields=["count(*)"]))
    assert norm(a) == [{"count(*)": 12}] and b == [{"count(*)": 3}]
    both(clients, lambda c: (c.release_collection("parts"), c.drop_partition("parts", "p2"),
                             c.load_collection("parts")))
    same(clients, lambda c: c.list_partitions("parts"), sort_pk=None)
    same(clients, lambda c: c.query("parts", filter="", output_fields=["id"]))


def test_aliases(clients):
    def setup(c):
        c.create_collection("al_a", dimension=DIM)
        c.create_collection("al_b", dimension=DIM)
        c.insert("al_a", data(3))
        c.insert("al_b", data(2, start=50))
        c.create_alias("al_a", "current")

    both(clients, setup)
    same(clients, lambda c: c.describe_alias("current"), sort_pk=None)
    same(clients, lambda c: c.list_aliases("al_a"), sort_pk=None)
    same(clients, lambda c: [c.has_collection("current"), "current" in c.list_collections()], sort_pk=None)
    same(clients, lambda c: c.query("current", filter="", output_fields=["id"]))
    both(clients, lambda c: c.alter_alias("al_b", "current"))
    same(clients, lambda c: c.describe_alias("current"), sort_pk=None)
    same(clients, lambda c: c.query("current", filter="", output_fields=["id"]))
    both(clients, lambda c: c.drop_alias("current"))
    lite, ours = clients
    with pytest.raises(Exception):
        lite.describe_alias("current")
    with pytest.raises(embedb.MilvusException):
        ours.describe_alias("current")


@pytest.mark.parametrize("batch_size, limit, expr", [(7, -1, ""), (5, 12, "n > 3"), (50, -1, "n < 9")])
def test_query_iterator(clients, batch_size, limit, expr):
    def setup(c):
        if not c.has_collection("iter"):
            c.create_collection("iter", dimension=DIM)
            c.insert("iter", data(30)[::-1])  # pk order differs from insertion order

    both(clients, setup)

    def run(c):
        it = c.query_iterator("iter", batch_size=batch_size, limit=limit, filter=expr,
                              output_fields=["n"])
        out = []
        while True:
            batch = it.next()
            if not batch:
                break
            out.append([norm(dict(r)) for r in batch])
        it.close()
        return out

    a, b = both(clients, run)
    assert a == b


def test_errors_and_lifecycle(clients):
    lite, ours = clients
    for c in clients:
        with pytest.raises(Exception) as ei:
            c.describe_collection("missing_coll")
        assert ei.value.code == 100
    both(clients, lambda c: (c.create_collection("life", dimension=DIM), c.insert("life", data(3))))
    both(clients, lambda c: c.release_collection("life"))
    same(clients, lambda c: str(c.get_load_state("life")["state"]), sort_pk=None)
    for c in clients:
        with pytest.raises(Exception) as ei:
            c.query("life", filter="n > 0")
        assert ei.value.code == 101
    both(clients, lambda c: c.load_collection("life"))
    same(clients, lambda c: str(c.get_load_state("life")["state"]), sort_pk=None)
    both(clients, lambda c: c.rename_collection("life", "life2"))
    same(clients, lambda c: sorted(x for x in c.list_collections() if x.startswith("life")), sort_pk=None)
    both(clients, lambda c: c.truncate_collection("life2"))
    same(clients, lambda c: c.get_collection_stats("life2"), sort_pk=None)
    both(clients, lambda c: c.drop_collection("life2"))
    same(clients, lambda c: c.has_collection("life2"), sort_pk=None)
    # create again with identical parameters: embedb is idempotent (server), Lite raises
    both(clients, lambda c: c.create_collection("twice", dimension=DIM))
    with pytest.raises(Exception):
        lite.create_collection("twice", dimension=DIM)
    ours.create_collection("twice", dimension=DIM)


def test_describe_collection(clients):
    def setup(c):
        c.create_collection("desc_q", dimension=DIM, metric_type="L2")
        schema = c.create_schema(enable_dynamic_field=False, description="typed")
        schema.add_field("pk", pymilvus.DataType.VARCHAR if c is clients[0] else embedb.DataType.VARCHAR,
                         is_primary=True, max_length=20)
        dt = pymilvus.DataType if c is clients[0] else embedb.DataType
        schema.add_field("emb", dt.FLOAT_VECTOR, dim=DIM)
        schema.add_field("year", dt.INT32)
        schema.add_field("tags", dt.ARRAY, element_type=dt.VARCHAR, max_capacity=4, max_length=8)
        c.create_collection("desc_s", schema=schema)

    both(clients, setup)
    keys = ("collection_name", "auto_id", "num_shards", "description", "functions",
            "enable_dynamic_field", "num_partitions", "properties")

    def shape(c, name):
        d = c.describe_collection(name)
        fields = [{k: (int(v) if k in ("type", "element_type") else v) for k, v in f.items()
                   if k in ("name", "type", "params", "is_primary", "auto_id", "element_type")}
                  for f in d["fields"]]
        return {**{k: d[k] for k in keys}, "fields": fields}

    same(clients, lambda c: shape(c, "desc_q"), sort_pk=None)
    lite, ours = clients
    a, b = shape(lite, "desc_s"), shape(ours, "desc_s")
    # Lite 3.2 drops the schema description and an ARRAY<VARCHAR>'s max_length; embedb keeps them
    assert (a["description"], b["description"]) == ("", "typed")
    assert a["fields"][3]["params"] == {"max_capacity": 4}
    assert b["fields"][3]["params"] == {"max_capacity": 4, "max_length": 8}
    a["fields"][3]["params"] = b["fields"][3]["params"] = None
    a["description"] = b["description"] = None
    assert a == b
    same(clients, lambda c: str(c.get_load_state("desc_q")["state"]), sort_pk=None)
    # schema mode without index_params: the server leaves the collection unloaded; Lite loads it
    a, b = both(clients, lambda c: str(c.get_load_state("desc_s")["state"]))
    assert (a, b) == ("Loaded", "NotLoad")
    same(clients, lambda c: c.describe_index("desc_q", "vector")["metric_type"], sort_pk=None)


def test_delete_in_a_partition(clients):
    def setup(c):
        c.create_collection("del_p", dimension=DIM)
        c.create_partition("del_p", "p1")
        c.insert("del_p", data(4))
        c.insert("del_p", data(4, start=10), partition_name="p1")
        return c.delete("del_p", filter="n >= 0", partition_name="p1")

    a, b = both(clients, setup)
    assert b == {"delete_count": 4, "cost": 0}
    lite, ours = clients
    # embedb deletes only in p1; Lite 3.2 ignores partition_name and deletes everywhere
    assert sorted(r["id"] for r in ours.query("del_p", filter="", output_fields=["id"])) == [0, 1, 2, 3]
    assert lite.query("del_p", filter="", output_fields=["id"]) == []


def test_typed_schema_values(clients):
    def setup(c):
        dt = pymilvus.DataType if c is clients[0] else embedb.DataType
        schema = c.create_schema(enable_dynamic_field=True)
        schema.add_field("pk", dt.INT64, is_primary=True)
        schema.add_field("v", dt.FLOAT_VECTOR, dim=DIM)
        schema.add_field("b", dt.BOOL)
        schema.add_field("i8", dt.INT8)
        schema.add_field("i32", dt.INT32)
        schema.add_field("f", dt.FLOAT)
        schema.add_field("d", dt.DOUBLE)
        schema.add_field("s", dt.VARCHAR, max_length=32)
        schema.add_field("j", dt.JSON)
        schema.add_field("ai", dt.ARRAY, element_type=dt.INT64, max_capacity=5)
        ip = c.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="L2")
        c.create_collection("typed", schema=schema, index_params=ip)
        c.insert("typed", [{"pk": i, "v": [0.1 * i, 0.2, 0.3, 0.4], "b": i % 2 == 0, "i8": i - 5,
                            "i32": i * 1000, "f": i / 3, "d": i / 7, "s": f"s{i}",
                            "j": {"x": i, "y": [i, "t"], "z": None}, "ai": list(range(i % 5)),
                            "extra": f"e{i}"} for i in range(12)])

    both(clients, setup)
    same(clients, lambda c: c.query("typed", filter="pk < 12", output_fields=["*"]), sort_pk="pk")
    same(clients, lambda c: c.query("typed", filter="b == true and i8 < 0", output_fields=["i8", "s"]),
         sort_pk="pk")
    same(clients, lambda c: c.query("typed", filter="j['x'] >= 9 or array_contains(ai, 3)",
                                    output_fields=["j", "ai", "extra"]), sort_pk="pk")
    same(clients, lambda c: c.query("typed", filter="f > 2.5 and d < 1.5", output_fields=["f", "d"]),
         sort_pk="pk")
    lite, ours = clients
    a = lite.query("typed", filter="pk == 3", output_fields=["b", "i8", "i32", "f", "d", "s"])[0]
    b = ours.query("typed", filter="pk == 3", output_fields=["b", "i8", "i32", "f", "d", "s"])[0]
    assert {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}


def test_upsert_and_dynamic_fields(clients):
    def setup(c):
        c.create_collection("dyn", dimension=2)
        c.insert("dyn", [{"id": 1, "vector": [1.0, 0.0], "x": 1}, {"id": 2, "vector": [0.0, 1.0], "x": 2}])
        c.upsert("dyn", [{"id": 1, "y": 3}], partial_update=True)  # merges dynamic keys

    both(clients, setup)
    same(clients, lambda c: c.get("dyn", [1, 2]))
    # a full upsert replaces the row: embedb drops the old dynamic keys (server: delete + insert);
    # Lite 3.2 keeps them
    both(clients, lambda c: c.upsert("dyn", [{"id": 1, "vector": [0.5, 0.5]}]))
    lite, ours = clients
    assert norm(dict(lite.get("dyn", 1)[0])) == {"id": 1, "vector": [0.5, 0.5], "x": 1, "y": 3}
    assert norm(dict(ours.get("dyn", 1)[0])) == {"id": 1, "vector": [0.5, 0.5]}
