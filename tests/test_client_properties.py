"""Collection properties (collection.ttl.seconds, mmap.enabled...), time to live on every read
path (differential against datetime arithmetic on a controlled clock), compaction of expired
rows, add_collection_field and alter_collection_field, persistence and log replay."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from embedb import AnnSearchRequest, DataType, MilvusClient, RRFRanker
from embedb.engine import evolution
from embedb.errors import DataError, MilvusException, ParamError

DIM = 4


class FakeClock:
    """The engine's clock (insert times and TTL checks), moved by the test."""

    def __init__(self, start_ms: int = 1_700_000_000_000):
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(round(seconds * 1000))


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(evolution, "clock_ms", c)
    return c


def vec(i):
    return [1.0, float(i % 7), float(i % 3), 0.5]


def new_client(path=":memory:"):
    c = MilvusClient(path)
    if "c" not in c.list_collections():
        c.create_collection("c", dimension=DIM, consistency_level="Strong")
    return c


def count(c, name="c", **kw):
    return c.query(name, "", output_fields=["count(*)"], **kw)[0]["count(*)"]


# ---------------------------------------------------------------------------- properties
def test_alter_and_drop_properties_shown_and_persisted(tmp_path):
    path = str(tmp_path / "p.db")
    c = new_client(path)
    assert c.describe_collection("c")["properties"] == {}
    c.alter_collection_properties("c", {"collection.ttl.seconds": 60, "collection.autocompaction.enabled": False,
                                        "partitionkey.isolation": "false", "my.own.key": "x"})
    assert c.describe_collection("c")["properties"] == {
        "collection.ttl.seconds": "60", "collection.autocompaction.enabled": "False",
        "partitionkey.isolation": "false", "my.own.key": "x"}
    c.drop_collection_properties("c", ["my.own.key", "not.set"])
    c.close()
    c = MilvusClient(path)
    assert c.describe_collection("c")["properties"] == {
        "collection.ttl.seconds": "60", "collection.autocompaction.enabled": "False",
        "partitionkey.isolation": "false"}
    c.close()


def test_properties_given_at_create(clock):
    c = MilvusClient(":memory:")
    c.create_collection("c", dimension=DIM, properties={"collection.ttl.seconds": 5, "mmap.enabled": False})
    assert c.describe_collection("c")["properties"] == {"collection.ttl.seconds": "5", "mmap.enabled": "False"}
    c.create_collection("c", dimension=DIM, properties={"collection.ttl.seconds": 5, "mmap.enabled": False})
    c.insert("c", [{"id": 1, "vector": vec(1)}])
    clock.advance(4.999)
    assert count(c) == 1
    clock.advance(0.001)
    assert count(c) == 0
    with pytest.raises(ParamError, match="collection TTL"):
        c.create_collection("d", dimension=DIM, properties={"collection.ttl.seconds": -5})
    assert not c.has_collection("d")


def test_mmap_properties_need_a_released_collection():
    c = new_client()
    assert c.get_load_state("c")["state"].name == "Loaded"
    for call in (lambda: c.alter_collection_properties("c", {"mmap.enabled": True}),
                 lambda: c.alter_collection_properties("c", {"lazyload.enabled": True}),
                 lambda: c.alter_collection_field("c", "vector", {"mmap.enabled": True})):
        with pytest.raises(MilvusException, match="if collection loaded") as e:
            call()
        assert e.value.code == 106
    c.release_collection("c")
    c.alter_collection_properties("c", {"mmap.enabled": True})
    c.alter_collection_field("c", "vector", {"mmap.enabled": True})
    d = c.describe_collection("c")
    assert d["properties"] == {"mmap.enabled": "True"}
    assert d["fields"][1]["params"] == {"dim": DIM, "mmap.enabled": "True"}
    c.load_collection("c")
    with pytest.raises(MilvusException, match="can not delete mmap properties"):
        c.drop_collection_properties("c", ["mmap.enabled"])


@pytest.mark.parametrize("bad", [-1, "soon", "1.5"])
def test_bad_ttl_is_refused_and_changes_nothing(bad):
    c = new_client()
    with pytest.raises(ParamError, match="collection TTL"):
        c.alter_collection_properties("c", {"collection.ttl.seconds": bad, "other": "1"})
    assert c.describe_collection("c")["properties"] == {}


def test_dynamic_field_can_be_enabled_not_disabled(clock):
    c = MilvusClient(":memory:")
    schema = c.create_schema(enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    idx = c.prepare_index_params()
    idx.add_index("vector", metric_type="L2")
    c.create_collection("c", schema=schema, index_params=idx)
    c.insert("c", [{"id": 1, "vector": vec(1)}])
    with pytest.raises(DataError):
        c.insert("c", [{"id": 2, "vector": vec(2), "color": "red"}])
    c.alter_collection_properties("c", {"dynamicfield.enabled": True})
    c.insert("c", [{"id": 2, "vector": vec(2), "color": "red"}])
    assert c.describe_collection("c")["enable_dynamic_field"] is True
    assert c.query("c", "color == 'red'", output_fields=["color"]) == [{"id": 2, "color": "red"}]
    assert c.query("c", "id == 1", output_fields=["*"])[0] == {"id": 1, "vector": vec(1)}
    with pytest.raises(ParamError, match="cannot supported to be disabled"):
        c.alter_collection_properties("c", {"dynamicfield.enabled": False})


# ---------------------------------------------------------------------------- time to live
def _alive(inserted_ms: dict[int, int], now_ms: int, ttl_s: int) -> set[int]:
    """The reference: a row is alive while now < insert time + ttl (datetime arithmetic)."""
    as_dt = lambda ms: datetime.fromtimestamp(ms / 1000, tz=timezone.utc)  # noqa: E731
    now = as_dt(now_ms)
    return {pk for pk, ms in inserted_ms.items() if now < as_dt(ms) + timedelta(seconds=ttl_s)}


def _every_read(c) -> dict[str, set[int]]:
    """The primary keys each read path returns."""
    q = [[1.0, 1.0, 1.0, 0.5]]
    out = {
        "query": {r["id"] for r in c.query("c", "id >= 0", output_fields=["id"])},
        "get": {r["id"] for r in c.get("c", ids=list(range(200)), output_fields=["id"])},
        "search": {h["id"] for h in c.search("c", q, limit=200)[0]},
        "filtered search": {h["id"] for h in c.search("c", q, limit=200, filter="id >= 0")[0]},
        "hybrid": {h["id"] for h in c.hybrid_search(
            "c", [AnnSearchRequest(q, "vector", {}, limit=200)], RRFRanker(), limit=200)[0]},
    }
    it = c.query_iterator("c", batch_size=17, output_fields=["id"])
    out["query_iterator"] = {r["id"] for batch in it for r in batch}
    it = c.search_iterator("c", q, batch_size=23, limit=200)
    got = set()
    while batch := it.next():
        got |= {h["id"] for h in batch}
    out["search_iterator"] = got
    out["count(*)"] = count(c)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ttl_against_datetime_on_every_read(clock, seed):
    rng = np.random.default_rng(seed)
    c = new_client()
    inserted: dict[int, int] = {}
    for batch in range(8):
        pks = rng.choice(150, size=int(rng.integers(5, 25)), replace=False).tolist()
        if batch % 3 == 2:
            c.upsert("c", [{"id": pk, "vector": vec(pk)} for pk in pks])  # a new insert time
        else:
            pks = [pk for pk in pks if pk not in inserted]
            if pks:
                c.insert("c", [{"id": pk, "vector": vec(pk)} for pk in pks])
        inserted.update({pk: clock.now for pk in pks})
        clock.advance(float(rng.uniform(0.2, 4.0)))
    ttl = int(rng.integers(3, 12))
    c.alter_collection_properties("c", {"collection.ttl.seconds": ttl})
    sizes = []
    for _ in range(5):
        expected = _alive(inserted, clock.now, ttl)
        sizes.append(len(expected))
        reads = _every_read(c)
        assert reads.pop("count(*)") == len(expected)
        for path, got in reads.items():
            assert got == expected, path
        clock.advance(float(rng.uniform(0.5, 5.0)))
    assert any(0 < k < len(inserted) for k in sizes), sizes  # some rows expired, some not
    # TTL off again: every row is back (expiry hides rows until compaction removes them)
    c.drop_collection_properties("c", ["collection.ttl.seconds"])
    assert count(c) == len(inserted)


def test_expired_rows_are_removed_at_compaction(clock):
    c = new_client()
    c.insert("c", [{"id": i, "vector": vec(i)} for i in range(10)])
    clock.advance(30)
    c.insert("c", [{"id": i, "vector": vec(i)} for i in range(10, 15)])
    c.alter_collection_properties("c", {"collection.ttl.seconds": 20})
    assert count(c) == 5
    assert c.get_collection_stats("c")["row_count"] == 15  # stored until compaction, as Milvus
    c.compact("c")
    assert c.get_collection_stats("c")["row_count"] == 5
    c.alter_collection_properties("c", {"collection.ttl.seconds": 0})  # 0: no expiry
    assert sorted(r["id"] for r in c.query("c", "", output_fields=["id"])) == list(range(10, 15))


def test_insert_times_survive_reopen_and_log_replay(tmp_path, clock):
    path = str(tmp_path / "t.db")
    c = new_client(path)
    c.alter_collection_properties("c", {"collection.ttl.seconds": 10})
    c.insert("c", [{"id": i, "vector": vec(i)} for i in range(5)])
    c.flush("c")                                   # these insert times are in the snapshot
    clock.advance(6)
    c.insert("c", [{"id": i, "vector": vec(i)} for i in range(5, 8)])  # these only in the log
    clock.advance(6)                               # first batch 12 s old, second 6 s
    reader = MilvusClient(path, read_only=True)    # replays the log without a checkpoint
    assert sorted(r["id"] for r in reader.query("c", "", output_fields=["id"])) == [5, 6, 7]
    reader.close()
    c.close()
    c = MilvusClient(path)
    assert count(c) == 3
    clock.advance(5)
    assert count(c) == 0
    c.close()


def test_rows_stored_without_insert_times_never_expire_early(tmp_path, clock):
    """A snapshot written before insert times were kept (no ``$ts`` column) opens with its rows
    counted as inserted at that first open; the filled times are stored from then on."""
    from embedb.engine.storage import manifest_bytes, write_file_atomic

    path = tmp_path / "old.db"
    c = new_client(str(path))
    c.insert("c", [{"id": i, "vector": vec(i)} for i in range(4)])
    c.close()
    mpath = next((path / "collections").glob("*/manifest.json"))
    manifest = json.loads(mpath.read_text())
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith("$ts/")}
    write_file_atomic(mpath, manifest_bytes(manifest))  # as an older embedb wrote it

    clock.advance(3600)                       # the rows are an hour old, but nobody knows it
    c = MilvusClient(str(path))
    c.alter_collection_properties("c", {"collection.ttl.seconds": 10})
    assert count(c) == 4
    c.close()
    assert any(k.startswith("$ts/") for k in json.loads(mpath.read_text())["files"])
    clock.advance(5)
    c = MilvusClient(str(path))
    assert count(c) == 4                      # 5 s since the first open
    clock.advance(5)
    assert count(c) == 0
    c.close()


# ---------------------------------------------------------------------------- schema evolution
def test_add_field_to_a_collection_with_rows(tmp_path):
    path = str(tmp_path / "a.db")
    c = new_client(path)
    c.insert("c", [{"id": i, "vector": vec(i)} for i in range(6)])
    c.flush("c")                                              # 6 rows in the snapshot
    c.insert("c", [{"id": i, "vector": vec(i)} for i in range(6, 9)])  # 3 only in the log
    c.add_collection_field("c", "price", DataType.DOUBLE, nullable=True)
    c.add_collection_field("c", "label", DataType.VARCHAR, max_length=16, nullable=True,
                           default_value="new")
    c.add_collection_field("c", "stock", DataType.INT32, default_value=7)  # defaulted, not nullable
    c.insert("c", [{"id": 9, "vector": vec(9), "price": 2.5, "label": "x", "stock": 1}])
    expected = {i: {"id": i, "price": None, "label": "new", "stock": 7} for i in range(9)}
    expected[9] = {"id": 9, "price": 2.5, "label": "x", "stock": 1}

    def check(client):
        rows = client.query("c", "", output_fields=["price", "label", "stock"])
        assert {r["id"]: dict(r) for r in rows} == expected
        assert [r["id"] for r in client.query("c", "price is null", output_fields=["id"])] == list(range(9))
        assert [r["id"] for r in client.query("c", "label == 'x' and stock < 5", output_fields=["id"])] == [9]
        fields = {f["name"]: f for f in client.describe_collection("c")["fields"]}
        assert fields["price"]["nullable"] is True and fields["label"]["default_value"] == "new"
        assert fields["label"]["params"] == {"max_length": 16}

    check(c)
    reader = MilvusClient(path, read_only=True)  # the snapshot lacks the columns; the log too
    check(reader)
    reader.close()
    c.close()
    c = MilvusClient(path)
    check(c)
    c.insert("c", [{"id": 10, "vector": vec(10)}])
    assert c.get("c", ids=[10], output_fields=["price", "label", "stock"])[0] == \
        {"id": 10, "price": None, "label": "new", "stock": 7}
    c.close()


def test_schema_version_and_update_timestamp(tmp_path):
    path = str(tmp_path / "v.db")
    c = new_client(path)
    d0 = c.describe_collection("c")
    assert d0["schema_version"] == 0 and d0["update_timestamp"] == d0["created_timestamp"]
    c.alter_collection_properties("c", {"k": "v"})
    d1 = c.describe_collection("c")
    assert d1["schema_version"] == 0 and d1["update_timestamp"] >= d0["update_timestamp"]
    c.add_collection_field("c", "f", DataType.INT64, nullable=True)
    c.alter_collection_field("c", "f", {"field.description": "an int"})
    c.close()
    c = MilvusClient(path)
    assert c.describe_collection("c")["schema_version"] == 2
    c.close()


def test_add_field_errors_change_nothing():
    c = new_client()
    c.insert("c", [{"id": 1, "vector": vec(1)}])
    before = c.describe_collection("c")
    for kwargs, match in [
        (dict(field_name="id", data_type=DataType.INT64, nullable=True), "already exists"),
        (dict(field_name="v2", data_type=DataType.FLOAT_VECTOR, dim=4, nullable=True), "vector field"),
        (dict(field_name="n", data_type=DataType.INT64), "must be nullable"),
        (dict(field_name="bad name", data_type=DataType.INT64, nullable=True), "Invalid field name"),
        (dict(field_name="p", data_type=DataType.INT64, nullable=True, is_partition_key=True), "partition key"),
    ]:
        with pytest.raises(ParamError, match=match):
            c.add_collection_field("c", **kwargs)
    assert c.describe_collection("c") == before


def test_alter_field_params():
    c = MilvusClient(":memory:")
    schema = c.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("title", DataType.VARCHAR, max_length=4)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=2)
    idx = c.prepare_index_params()
    idx.add_index("vector", metric_type="L2")
    c.create_collection("c", schema=schema, index_params=idx)
    with pytest.raises(DataError):
        c.insert("c", [{"id": 1, "vector": vec(1), "title": "longer", "tags": [1]}])
    c.alter_collection_field("c", "title", {"max_length": 10, "field.description": "the title"})
    c.alter_collection_field("c", "tags", {"max_capacity": 3})
    c.insert("c", [{"id": 1, "vector": vec(1), "title": "longer", "tags": [1, 2, 3]}])
    fields = {f["name"]: f for f in c.describe_collection("c")["fields"]}
    assert fields["title"]["params"] == {"max_length": 10} and fields["title"]["description"] == "the title"
    assert fields["tags"]["params"] == {"max_capacity": 3}
    for name, params, match in [
        ("tags", {"max_length": 5}, "non-string"),
        ("title", {"max_capacity": 5}, "non-array"),
        ("title", {"max_length": 70000}, "exceeds the maximum"),
        ("title", {"dim": 8}, "does not allow update"),
        ("nope", {"max_length": 5}, "does not exist"),
    ]:
        with pytest.raises(ParamError, match=match):
            c.alter_collection_field("c", name, params)
