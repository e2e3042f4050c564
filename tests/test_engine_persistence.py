"""Write, close, reopen, compare everything: every data type, nulls, dynamic fields,
partitions, aliases, load state, deletes, upserts, truncate, compaction."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.engine import Database
from embedb.schema import CollectionSchema, DataType

DIM = 8


def all_types_schema() -> CollectionSchema:
    s = CollectionSchema(enable_dynamic_field=True)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("b", DataType.BOOL)
    s.add_field("i8", DataType.INT8)
    s.add_field("i16", DataType.INT16)
    s.add_field("i32", DataType.INT32, nullable=True)
    s.add_field("f", DataType.FLOAT)
    s.add_field("d", DataType.DOUBLE, default_value=1.5)
    s.add_field("s", DataType.VARCHAR, max_length=20, nullable=True)
    s.add_field("j", DataType.JSON, nullable=True)
    s.add_field("arr", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=5)
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("bin", DataType.BINARY_VECTOR, dim=16)
    s.add_field("f16", DataType.FLOAT16_VECTOR, dim=4)
    s.add_field("bf16", DataType.BFLOAT16_VECTOR, dim=4)
    s.add_field("i8v", DataType.INT8_VECTOR, dim=4)
    return s


def make_rows(rng: np.random.Generator, start: int, n: int) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        row = {
            "id": i,
            "vec": rng.random(DIM, dtype=np.float32),
            "b": bool(i % 2),
            "i8": int(rng.integers(-128, 128)),
            "i16": int(rng.integers(-1000, 1000)),
            "i32": None if i % 5 == 0 else int(rng.integers(-(2**31), 2**31)),
            "f": float(rng.random()),
            "s": None if i % 7 == 0 else f"str-é{i}",
            "j": None if i % 4 == 0 else {"k": i, "nested": {"l": [1, "x"]}},
            "arr": [f"a{i % 10}", "b"],
            "sp": {int(k): float(v) for k, v in zip(rng.choice(1000, 3, replace=False), rng.random(3))},
            "bin": rng.integers(0, 2, 16).tolist(),
            "f16": rng.random(4).astype(np.float16),
            "bf16": rng.random(4).tolist(),
            "i8v": rng.integers(-128, 128, 4).astype(np.int8),
        }
        if i % 3 == 0:
            row["d"] = float(i)
        if i % 2 == 0:
            row["dyn_num"] = i
            row["dyn_str"] = f"v{i}"
        rows.append(row)
    return rows


def snapshot_of(db: Database) -> dict:
    """Everything observable about the database, for comparing before/after reopen."""
    out = {"collections": db.list_collections(), "aliases": {}}
    for name in db.list_collections():
        c = db.get_collection(name)
        out[name] = {
            "rows": c.query(output_fields=["*"]),
            "num_rows": c.num_rows,
            "partitions": {p: c.partition_num_rows(p) for p in c.list_partitions()},
            "loaded": c.loaded,
            "meta": c.meta,
            "generation": c.generation,
            "schema": c.schema.to_dict(),
            "aliases": db.list_aliases(name),
        }
    return out


def test_reopen_preserves_everything(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "all.db"
    db = Database.open(path)
    c = db.create_collection("all", all_types_schema())
    c.insert(make_rows(rng, 0, 40))
    c.create_partition("p1")
    c.insert(make_rows(rng, 100, 10), partition="p1")
    c.delete(ids=[1, 2, 3])
    c.delete(filter="id >= 35 and id < 38")
    c.upsert(make_rows(rng, 10, 3))
    c.load()
    c.meta["indexes"] = [{"field_name": "vec"}]
    c.save_meta()
    db.create_alias("all", "everything")
    db.flush()  # half of the state in a snapshot, the rest only in the log
    c.upsert(make_rows(rng, 20, 2), partial_update=False)
    c.insert(make_rows(rng, 200, 5))
    other = db.create_collection("other", all_types_schema())
    other.insert(make_rows(rng, 0, 3))
    before = snapshot_of(db)
    db.close()

    db2 = Database.open(path)
    after = snapshot_of(db2)
    assert after == before
    assert db2.describe_alias("everything") == {"alias": "everything", "collection_name": "all"}
    c2 = db2.get_collection("everything")
    assert c2.loaded and c2.meta == {"indexes": [{"field_name": "vec"}]}
    db2.close()


def test_values_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(2)
    rows = make_rows(rng, 0, 12)
    db = Database.open(tmp_path / "v.db")
    db.create_collection("c", all_types_schema()).insert(rows)
    db.close()
    db = Database.open(tmp_path / "v.db")
    c = db.get_collection("c")
    got = {r["id"]: r for r in c.query(output_fields=["*"])}
    for row in rows:
        g = got[row["id"]]
        assert np.allclose(g["vec"], row["vec"])
        assert g["b"] == row["b"] and g["i8"] == row["i8"] and g["i16"] == row["i16"]
        assert g["i32"] == row["i32"]
        assert g["f"] == pytest.approx(row["f"], rel=1e-6)
        assert g["d"] == row.get("d", 1.5)
        assert g["s"] == row["s"] and g["j"] == row["j"] and g["arr"] == row["arr"]
        assert g["sp"] == pytest.approx({k: np.float32(v) for k, v in row["sp"].items()})
        assert g["bin"] == np.packbits(np.array(row["bin"], np.uint8)).tobytes()
        assert g["f16"] == row["f16"].tobytes()
        bf = (np.frombuffer(g["bf16"], np.uint16).astype(np.uint32) << 16).view(np.float32)
        assert np.allclose(bf, row["bf16"], rtol=1e-2)
        assert g["i8v"] == row["i8v"].tobytes()
        if row["id"] % 2 == 0:
            assert g["dyn_num"] == row["dyn_num"] and g["dyn_str"] == row["dyn_str"]
        else:
            assert "dyn_num" not in g
    # the search building blocks see the same data
    vec = c.dense_vectors("vec")
    assert vec.shape == (12, DIM) and vec.dtype == np.float32
    assert np.allclose(vec, np.stack([r["vec"] for r in rows]))
    sp = c.sparse_vectors("sp")
    assert sp.shape[0] == 12
    assert dict(zip(sp[[3]].indices.tolist(), sp[[3]].data.tolist())) == pytest.approx(rows[3]["sp"])
    assert c.dense_vectors("bin").dtype == np.uint8 and c.dense_vectors("bin").shape == (12, 2)
    assert c.dense_vectors("bf16").dtype == np.uint16
    db.close()


def test_incremental_checkpoints_and_replay(tmp_path):
    """Several checkpoints append to the same part files; reopen after each matches a model."""
    rng = np.random.default_rng(3)
    path = tmp_path / "inc.db"
    model: dict[int, int] = {}
    for round_ in range(4):
        db = Database.open(path)
        c = db.get_collection("c") if db.has_collection("c") else db.create_collection("c", all_types_schema())
        assert {r["id"]: r["i16"] for r in c.query(output_fields=["i16"])} == model
        rows = make_rows(rng, round_ * 7, 10)  # overlapping keys: insert replaces
        c.insert(rows)
        model.update({r["id"]: r["i16"] for r in rows})
        gone = [int(k) for k in rng.choice(sorted(model), 3, replace=False)]
        assert c.delete(ids=gone) == 3
        for k in gone:
            del model[k]
        if round_ % 2:
            db.flush()
            c.insert(make_rows(rng, 1000 + round_, 1))
            model[1000 + round_] = c.query(ids=[1000 + round_], output_fields=["i16"])[0]["i16"]
        db.close()
    db = Database.open(path)
    assert {r["id"]: r["i16"] for r in db.get_collection("c").query(output_fields=["i16"])} == model
    db.close()


def test_truncate_and_compact_survive_reopen(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "tc.db"
    db = Database.open(path)
    c = db.create_collection("c", all_types_schema())
    c.create_partition("p")
    c.insert(make_rows(rng, 0, 20))
    c.delete(ids=list(range(0, 20, 2)))
    g0 = c.generation
    assert c.compact() == 10
    assert c.generation == g0 + 1 and c.num_rows_total == 10 == c.num_rows
    assert [r["id"] for r in c.query(output_fields=["id"])] == list(range(1, 20, 2))
    c.insert(make_rows(rng, 50, 2))
    db.close()
    db = Database.open(path)
    c = db.get_collection("c")
    assert c.generation == g0 + 1
    assert [r["id"] for r in c.query(output_fields=["id"])] == list(range(1, 20, 2)) + [50, 51]
    c.truncate()
    assert c.num_rows == 0 and c.generation == g0 + 2
    assert c.list_partitions() == ["_default", "p"]
    db.close()
    db = Database.open(path)
    c = db.get_collection("c")
    assert c.num_rows == 0 and c.query() == [] and c.list_partitions() == ["_default", "p"]
    c.insert(make_rows(rng, 0, 2))
    assert c.num_rows == 2
    db.close()


def test_catalog_operations_persist(tmp_path):
    path = tmp_path / "cat.db"
    db = Database.open(path)
    a = db.create_collection("a", all_types_schema())
    a.insert(make_rows(np.random.default_rng(0), 0, 3))
    db.create_collection("b", all_types_schema())
    db.create_alias("a", "al")
    db.rename_collection("a", "a2")
    db.drop_collection("b")
    a.create_partition("px")
    a.create_partition("py")
    a.drop_partition("py")
    db.close()
    db = Database.open(path)
    assert db.list_collections() == ["a2"]
    assert db.describe_alias("al")["collection_name"] == "a2"
    c = db.get_collection("a2")
    assert c.list_partitions() == ["_default", "px"] and c.num_rows == 3
    assert not (path / "collections" / "2").exists()  # dropped collection's files are gone
    db.close()


def test_in_memory_database_has_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in (None, ":memory:"):
        db = Database.open(path)
        c = db.create_collection("m", all_types_schema())
        c.insert(make_rows(np.random.default_rng(0), 0, 5))
        assert c.num_rows == 5 and c.data_dir is None
        c.truncate()
        assert c.num_rows == 0
        db.close()
    assert list(tmp_path.iterdir()) == []


def test_foreign_paths_are_refused(tmp_path):
    from embedb.errors import StorageError

    (tmp_path / "file.db").write_bytes(b"SQLite format 3\x00")  # e.g. a Milvus Lite 2.x file
    with pytest.raises(StorageError, match="not a database directory"):
        Database.open(tmp_path / "file.db")
    other = tmp_path / "other.db"
    other.mkdir()
    (other / "LOCK").write_text("")
    (other / "collections").mkdir()
    (other / "aliases.json").write_text("{}")
    with pytest.raises(StorageError, match="not an embedb database"):
        Database.open(other)
    with pytest.raises(StorageError):
        Database.open(tmp_path / "missing" / "x.db")
    half = tmp_path / "half.db"  # interrupted first open: only the lock file exists
    half.mkdir()
    (half / "LOCK").write_text("")
    Database.open(half).close()


def test_a_failing_checkpoint_hook_does_not_lose_rows(tmp_path):
    db = Database.open(tmp_path / "h.db")
    c = db.create_collection("c", all_types_schema())

    def broken(directory):
        raise OSError("disk full for the index")

    c.checkpoint_hooks.append(broken)
    c.insert(make_rows(np.random.default_rng(0), 0, 3))
    with pytest.warns(RuntimeWarning, match="disk full"):
        db.close()
    db = Database.open(tmp_path / "h.db")
    assert db.get_collection("c").num_rows == 3
    db.close()


def test_close_trims_the_log_and_returns_its_space(tmp_path):
    path = tmp_path / "space.db"
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=256)
    c = db.create_collection("c", s)
    for b in range(5):  # 5 MiB of vectors through the log
        c.insert([{"id": b * 1000 + i, "v": np.ones(256, np.float32)} for i in range(1000)])
    db.close()
    assert (path / "embedb.sqlite3").stat().st_size < 2 * 2**20
    assert not (path / "embedb.sqlite3-wal").exists() or (path / "embedb.sqlite3-wal").stat().st_size == 0
    db = Database.open(path)
    assert db.get_collection("c").num_rows == 5000
    db.close()


def test_checkpoints_append_instead_of_rewriting(tmp_path, monkeypatch):
    import embedb.engine.database as dbmod

    monkeypatch.setattr(dbmod, "CHECKPOINT_LOG_BYTES", 100_000)  # checkpoint by log size too
    path = tmp_path / "app.db"
    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=64)
    c = db.create_collection("c", s)
    c.insert([{"id": i, "v": np.full(64, i, np.float32)} for i in range(100)])
    db.flush()
    vec_file = path / "collections" / "1" / "g0" / "v.values.npy"
    inode, size = vec_file.stat().st_ino, vec_file.stat().st_size
    c.insert([{"id": 100 + i, "v": np.full(64, 100 + i, np.float32)} for i in range(500)])  # > 100 kB
    manifest = db._storage.read_manifest(1)
    assert manifest["num_rows"] == 600  # the size threshold checkpointed without flush()
    assert vec_file.stat().st_ino == inode and vec_file.stat().st_size == size + 500 * 64 * 4
    assert np.load(vec_file, allow_pickle=False).shape == (600, 64)  # still a valid .npy
    assert db._storage.log_entries(1, 0) == []  # the log it covers is trimmed
    db.close()
