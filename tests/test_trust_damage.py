"""Damaged and missing files: for every file kind the store writes, truncate / delete / flip
bytes / zero it, then open and read everything. The outcome is the full, correct answer (a
derived file such as an index or posting list is rebuilt from the columns) or, for a file of
record, a StorageError that names the file; never fewer, more or different rows.

The database is built once per module by a child process that checkpoints, writes more (which
stays in the write log) and exits without closing; each case damages a copy of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from kill_harness import crashed_with_wal

from embedb.errors import StorageError
from embedb.engine import codec

BUILD = textwrap.dedent("""
    import os, sqlite3, sys
    import numpy as np
    from embedb import DataType, Function, FunctionType, MilvusClient

    path = sys.argv[1]
    words = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "honey"]
    rng = np.random.default_rng(7)

    def rows(start, n):
        out = []
        for i in range(start, start + n):
            out.append({"id": i, "text": " ".join(rng.choice(words, 6)),
                        "vec": rng.random(8, dtype=np.float32), "vec2": rng.random(4, dtype=np.float32),
                        "usp": {int(k): float(v) for k, v in zip(rng.choice(50, 3, replace=False), rng.random(3))},
                        "tag": None if i % 5 == 0 else i % 7, "j": {"k": i, "s": "é" * (i % 3)},
                        "dyn": f"d{i}"})
        return out

    client = MilvusClient(path)
    s = client.create_schema(enable_dynamic_field=True)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True, enable_match=True)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
    s.add_field("vec2", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("usp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("tag", DataType.INT32, nullable=True)
    s.add_field("j", DataType.JSON, nullable=True)
    s.add_function(Function("bm25", FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
    ix = client.prepare_index_params()
    ix.add_index("vec", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 64})
    ix.add_index("vec2", index_type="FLAT", metric_type="L2")
    ix.add_index("usp", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    ix.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("docs", schema=s, index_params=ix)
    client.insert("docs", rows(0, 300))
    client.delete("docs", ids=list(range(0, 300, 10)))
    client.search("docs", [[0.5] * 8], anns_field="vec", limit=3)
    client.search("docs", [[0.5] * 4], anns_field="vec2", limit=3)
    client.search("docs", [{1: 1.0}], anns_field="usp", limit=3)
    client.search("docs", ["apple fig"], anns_field="sparse", limit=3)
    client.query("docs", filter="TEXT_MATCH(text, 'grape')", output_fields=["id"])
    client.close()                       # checkpoint: snapshot, tombstones, index and posting files
    client = MilvusClient(path)
    client.insert("docs", rows(300, 40))  # these stay in the write log
    client.upsert("docs", rows(5, 3))
    client.delete("docs", ids=[11, 12, 301])
    con = sqlite3.connect(os.path.join(path, "embedb.sqlite3"))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the log into the main file, so damage reaches it
    con.close()
    os._exit(0)                          # no close: the next open replays the log
""")


def read_everything(path: Path) -> dict:
    """Every answer the tests compare: all rows with all fields, and a search on each index."""
    from embedb import MilvusClient

    client = MilvusClient(str(path))
    try:
        out = {"rows": client.query("docs", filter="id >= 0", output_fields=["*"], limit=16384)}
        out["vec"] = client.search("docs", [[0.3] * 8, [0.9] * 8], anns_field="vec", limit=5)
        out["vec2"] = client.search("docs", [[0.2, 0.4, 0.6, 0.8]], anns_field="vec2", limit=5)
        out["usp"] = client.search("docs", [{3: 1.0, 7: 0.5}], anns_field="usp", limit=5)
        out["bm25"] = client.search("docs", ["apple grape", "honey"], anns_field="sparse", limit=5)
        out["match"] = client.query("docs", filter="TEXT_MATCH(text, 'cherry date')", output_fields=["id"],
                                    limit=16384)
        return json.loads(json.dumps(out, default=_plain))
    finally:
        client.close()


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _round(answer: dict) -> dict:
    """Scores to 4 decimals: a rebuilt index computes the same distances in another order."""
    def walk(v):
        if isinstance(v, float):
            return round(v, 4)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v
    return walk(answer)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("damage") / "base.db"
    subprocess.run([sys.executable, "-c", BUILD, str(base)], check=True, timeout=120)
    pristine = base.parent / "pristine.db"
    shutil.copytree(base, pristine)
    reference = _round(read_everything(pristine))
    assert len(reference["rows"]) == 300 - 30 + 40 - 3  # every tenth row, then 11, 12 and 301 deleted
    return base, reference


def _kind(rel: str) -> str:
    if rel.startswith("collections/") and "/ext/" in rel:
        return "derived"
    if rel.endswith(("embedb.sqlite3", "manifest.json", ".npy")) or rel.startswith("wlog/"):
        return "record"
    return "other"  # LOCK, SQLite's -shm/-wal side files


def _files(base: Path) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "zero":
        path.write_bytes(bytes(len(data)))
    elif how == "flip":
        # in .npy files past the 256-byte header we own; elsewhere the middle of the file
        pos = len(data) // 2 if not path.name.endswith(".npy") or len(data) <= 256 else 256 + (len(data) - 256) // 2
        data[pos] ^= 0x5A
        path.write_bytes(bytes(data))


DAMAGES = ("delete", "truncate", "zero", "flip")


def test_every_file_kind_is_checked(built):
    base, _ = built
    kinds = {_kind(f) for f in _files(base)}
    names = " ".join(_files(base))
    assert kinds >= {"record", "derived"}
    for expected in ("embedb.sqlite3", "manifest.json", "deleted.", "vec.values.npy", "text.data.npy",
                     "usp.indices.npy", ".hnsw", "fulltext-bm25", "fulltext-match", ".norms.npy"):
        assert expected in names, expected


@pytest.mark.slow   # about 30 reopenings per kind of damage
@pytest.mark.parametrize("how", DAMAGES)
def test_damage_gives_the_full_answer_or_an_error_naming_the_file(built, tmp_path, how):
    base, reference = built
    outcomes = {}
    for rel in _files(base):
        if (base / rel).stat().st_size == 0 and how != "delete":
            continue  # nothing to truncate, zero or flip
        copy = tmp_path / f"c{len(outcomes)}.db"
        shutil.copytree(base, copy)
        _damage(copy / rel, how)
        try:
            answer = _round(read_everything(copy))
        except StorageError as exc:
            assert _kind(rel) == "record", f"{how} {rel}: a derived or side file must be rebuilt: {exc}"
            assert Path(rel).name in exc.message, f"{how} {rel}: the error must name the file: {exc.message}"
            outcomes[rel] = "error"
            continue
        # anything else than StorageError propagates and fails the test
        if how == "truncate" and rel.startswith("wlog/"):
            # the newest segment of a crashed writer, cut short, is what a crash mid-call
            # leaves (docs/storage.md, Limits): it opens with the intact records before the cut
            rows = {r["id"] for r in answer["rows"]}
            snapshot_deleted = set(range(0, 300, 10))   # deleted before the checkpoint: never back
            assert rows <= set(range(340)) - snapshot_deleted, f"{how} {rel}: rows that were never acknowledged"
            outcomes[rel] = "cut"
            shutil.rmtree(copy)
            continue
        assert answer == reference, f"{how} {rel}: served an answer that differs from the undamaged one"
        outcomes[rel] = "same"
        shutil.rmtree(copy)
    # every damage to the bytes of a file of record that embedb reads is noticed (SQLite's file
    # is exempt from flips: a flipped byte in its free space changes nothing)
    for rel, outcome in outcomes.items():
        data = (base / rel).read_bytes()[256 if rel.endswith(".npy") else 0:]
        changed = how in ("delete", "truncate") or (how == "zero" and any(data)) or \
            (how == "flip" and not rel.endswith("embedb.sqlite3"))
        if how == "truncate" and rel.startswith("wlog/"):
            # the newest segment of a crashed writer, cut short, is what the crash itself leaves
            # (docs/storage.md, Limits): opening keeps the intact records before the cut
            continue
        if _kind(rel) == "record" and changed and len(data):
                assert outcome == "error", f"{how} {rel} went unnoticed"


def test_a_derived_file_rebuilt_after_damage_is_rewritten_at_the_next_checkpoint(built, tmp_path):
    from embedb.engine import Database

    base, reference = built
    copy = tmp_path / "rw.db"
    shutil.copytree(base, copy)
    ext = next((copy / "collections").iterdir()) / "ext"
    for f in ext.iterdir():
        if f.name.startswith("fulltext-") or f.suffix in (".faiss", ".hnsw"):
            _damage(f, "flip")
    assert _round(read_everything(copy)) == reference   # rebuilt, and close() saves fresh files
    db = Database.open(copy)
    coll = db.get_collection("docs")
    for f in ext.iterdir():
        if f.name.startswith("fulltext-") or f.suffix in (".faiss", ".hnsw"):
            assert coll.ext_file_ok(f), f"{f.name} was not rewritten"
    db.close()


# ---------------------------------------------------------------- the cases from the issue
def _small_db(path: Path, n: int = 418, checkpoint: bool = True):
    from embedb.engine import Database
    from embedb.schema import CollectionSchema, DataType

    db = Database.open(path)
    s = CollectionSchema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    c = db.create_collection("c", s)
    c.insert([{"id": i, "v": [i, 1]} for i in range(n)])
    if checkpoint:
        db.flush()
    c.insert([{"id": n + i, "v": [i, 2]} for i in range(42)])   # only in the log
    return db


def _abandon(db) -> None:
    """Leave a database as a killed process would (no checkpoint; the log stays)."""
    from embedb.engine import database as dbmod

    db._storage.conn.close()
    db._lock_file.release()
    db._closed = True
    dbmod._open_writers.pop(os.path.realpath(db.path), None)


def test_an_empty_catalog_beside_collection_folders_is_refused_and_nothing_is_deleted(tmp_path):
    from embedb.engine import Database

    path = tmp_path / "z.db"
    _small_db(path).close()
    folders = sorted(p.name for p in (path / "collections").iterdir())
    (path / "embedb.sqlite3").write_bytes(b"")
    with pytest.raises(StorageError, match="embedb.sqlite3 is empty"):
        Database.open(path)
    assert sorted(p.name for p in (path / "collections").iterdir()) == folders
    assert (path / "collections" / "1" / "manifest.json").exists()
    (path / "embedb.sqlite3").unlink()   # missing: the same, also through MilvusClient
    from embedb import MilvusClient

    with pytest.raises(StorageError, match="embedb.sqlite3 is missing"):
        MilvusClient(str(path))
    assert (path / "collections" / "1" / "manifest.json").exists()


def test_a_folder_the_catalog_does_not_know_is_left_alone(tmp_path):
    from embedb.engine import Database

    path = tmp_path / "u.db"
    db = _small_db(path)
    db.create_collection("gone", db.get_collection("c").schema).insert([{"id": 1, "v": [0, 0]}])
    db.flush()
    _abandon(db)
    db = Database.open(path)
    db.drop_collection("gone")   # its drop is recorded: the folder is ours to delete
    db.close()
    assert not (path / "collections" / "2").exists()
    stray = path / "collections" / "77"
    shutil.copytree(path / "collections" / "1", stray)   # e.g. a catalog restored from an old backup
    with pytest.raises(StorageError, match="collections/77"):
        Database.open(path)
    assert (stray / "manifest.json").exists()


def test_a_missing_manifest_is_an_error_not_a_partial_answer(tmp_path):
    from embedb.engine import Database

    path = tmp_path / "m.db"
    _abandon(_small_db(path))
    (path / "collections" / "1" / "manifest.json").unlink()
    for _ in range(2):   # and it stays an error: nothing was overwritten by the failed open
        with pytest.raises(StorageError, match="manifest.json of collection 'c' is missing"):
            Database.open(path)


def test_a_manifest_never_written_recovers_everything_from_the_log(tmp_path):
    from embedb.engine import Database

    path = tmp_path / "l.db"
    _abandon(_small_db(path, checkpoint=False))
    assert not (path / "collections" / "1" / "manifest.json").exists()
    db = Database.open(path)
    assert db.get_collection("c").num_rows == 418 + 42
    db.close()


def test_an_older_manifest_is_an_error(tmp_path):
    from embedb.engine import Database

    path = tmp_path / "o.db"
    db = _small_db(path)
    old = (path / "collections" / "1" / "manifest.json").read_bytes()
    db.close()   # a newer snapshot; the log it covers is trimmed
    (path / "collections" / "1" / "manifest.json").write_bytes(old)
    with pytest.raises(StorageError, match="older than the snapshot"):
        Database.open(path)


def test_missing_tombstones_do_not_bring_deleted_rows_back(tmp_path):
    from embedb.engine import Database

    path = tmp_path / "t.db"
    db = _small_db(path)
    db.get_collection("c").delete(ids=list(range(100)))
    db.close()
    gen = path / "collections" / "1" / "g0"
    (tomb,) = gen.glob("deleted*.npy")
    tomb.unlink()
    with pytest.raises(StorageError, match=tomb.name):
        Database.open(path)


def test_a_damaged_log_entry_is_an_error(tmp_path):
    import sqlite3

    from embedb.engine import Database

    from embedb.engine import writelog

    path = tmp_path / "g.db"
    _abandon(_small_db(path))
    [segment] = writelog.segment_files(path)   # the write calls' records since the last checkpoint
    raw = bytearray(segment.read_bytes())
    at = raw.index(codec.MAGIC) + 300
    raw[at] ^= 0x01
    segment.write_bytes(bytes(raw))
    with pytest.raises(StorageError, match=r"the write log .*wlog/\d+\.log holds a record whose checksum "
                                           r"does not match at byte \d+: it is damaged"):
        Database.open(path)
    with pytest.raises(StorageError, match=r"wlog/\d+\.log holds a record whose checksum"):
        Database.open(path, read_only=True)
    # a damaged entry among the rows of SQLite's log (a database of format 2) too
    from test_durability_log_format import as_format_2

    raw[at] ^= 0x01
    segment.write_bytes(bytes(raw))
    as_format_2(path)
    con = sqlite3.connect(path / "embedb.sqlite3")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    raw = bytearray((path / "embedb.sqlite3").read_bytes())
    at = raw.index(codec.MAGIC) + 300
    raw[at] ^= 0x01
    (path / "embedb.sqlite3").write_bytes(bytes(raw))
    with pytest.raises(StorageError, match=r"write log entry \d+ of collection 'c' in .*embedb.sqlite3 is damaged"):
        Database.open(path)


def test_flipped_column_bytes_are_an_error_on_first_use_and_check_finds_them(tmp_path):
    from embedb.engine import Database

    path = tmp_path / "f.db"
    _small_db(path).close()
    vec = path / "collections" / "1" / "g0" / "v.values.npy"
    raw = bytearray(vec.read_bytes())
    raw[-5] ^= 0x40
    vec.write_bytes(bytes(raw))
    db = Database.open(path)   # opening maps; the column is verified when first read
    c = db.get_collection("c")
    assert c.num_rows == 460 and len(c.query(output_fields=["id"])) == 460   # ids are intact
    with pytest.raises(StorageError, match="v.values.npy is damaged"):
        c.query(output_fields=["v"], limit=1)
    with pytest.raises(StorageError, match="v.values.npy is damaged"):
        c.dense_vectors("v")
    db.close()


@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_embedb_check_reports_each_damaged_file_and_exits_nonzero(built, tmp_path, how):
    from click.testing import CliRunner

    from embedb.cli import cli

    base, _ = built
    runner = CliRunner()
    ok = runner.invoke(cli, ["check", str(base)])
    assert ok.exit_code == 0 and ok.output.startswith("ok:"), ok.output
    for rel in _files(base):
        if _kind(rel) == "other" or (base / rel).stat().st_size <= 256 or rel.endswith("embedb.sqlite3"):
            continue
        if how == "truncate" and rel.startswith("wlog/"):
            continue   # the crashed writer's newest segment cut short: what a crash leaves (Limits)
        copy = tmp_path / f"{how}-{len(list(tmp_path.iterdir()))}.db"
        shutil.copytree(base, copy)
        _damage(copy / rel, how)
        result = runner.invoke(cli, ["check", str(copy), "--json"])
        assert result.exit_code == 1, f"{how} {rel}: {result.output}"
        report = json.loads(result.output)
        assert rel in [p["file"] for p in report["problems"]], f"{how} {rel}: {report}"
        shutil.rmtree(copy)


def test_embedb_check_finds_a_damaged_log_entry_and_a_lost_catalog(built, tmp_path):
    from click.testing import CliRunner

    from embedb.cli import cli

    from embedb.engine import writelog

    base, _ = built
    copy = tmp_path / "log.db"
    shutil.copytree(base, copy)
    [segment] = writelog.segment_files(copy)
    raw = bytearray(segment.read_bytes())
    raw[raw.index(codec.MAGIC) + 200] ^= 0x01
    segment.write_bytes(bytes(raw))
    result = CliRunner().invoke(cli, ["check", str(copy)])
    assert result.exit_code == 1 and "wlog" in result.output and "checksum" in result.output
    (copy / "embedb.sqlite3").write_bytes(b"")
    result = CliRunner().invoke(cli, ["check", str(copy), "--json"])
    assert result.exit_code == 1 and "empty (0 bytes)" in result.output


def test_a_database_from_before_checksums_opens_and_gains_them(tmp_path):
    """Manifests, catalog entries and log entries without checksums (and no checkpoint
    records) are read as before; the next checkpoint adds every checksum."""
    import sqlite3

    from embedb.engine import Database, codec

    path = tmp_path / "legacy.db"
    db = _small_db(path)
    db.get_collection("c").delete(ids=[5, 6])
    _abandon(db)
    cdir = path / "collections" / "1"
    m = json.loads((cdir / "manifest.json").read_text())
    (cdir / m["dir"] / m["deleted"]["file"]).rename(cdir / m["dir"] / "deleted.npy")
    for key in ("checksum", "deleted", "ext"):
        m.pop(key)
    m["format"] = 1
    for ent in m["files"].values():
        ent.pop("crc")
    (cdir / "manifest.json").write_text(json.dumps(m))
    con = sqlite3.connect(path / "embedb.sqlite3")
    for cid, info in con.execute("SELECT id, info FROM collections").fetchall():
        con.execute("UPDATE collections SET info=? WHERE id=?", (json.dumps(json.loads(info)["info"]), cid))
    head = len(codec.MAGIC) + 8
    for seq, payload in con.execute("SELECT seq, payload FROM log").fetchall():
        old = codec.MAGIC_V1 + payload[len(codec.MAGIC):head] + payload[head + 4:]
        con.execute("UPDATE log SET payload=? WHERE seq=?", (old, seq))
    con.execute("DROP TABLE checkpoints")
    con.execute("DROP TABLE dropped")
    con.commit()
    con.close()

    db = Database.open(path)
    c = db.get_collection("c")
    assert c.num_rows == 418 + 42 - 2 and 5 not in {r["id"] for r in c.query(output_fields=["id"])}
    db.close()
    m = json.loads((cdir / "manifest.json").read_text())
    assert "checksum" in m and all("crc" in e for e in m["files"].values())
    vec = cdir / m["dir"] / "v.values.npy"
    raw = bytearray(vec.read_bytes())
    raw[300] ^= 1
    vec.write_bytes(bytes(raw))
    db = Database.open(path)
    with pytest.raises(StorageError, match="v.values.npy is damaged"):
        db.get_collection("c").dense_vectors("v")
    db.close()


def test_a_write_over_a_damaged_column_fails_whole_before_it_is_stored(tmp_path):
    from embedb.engine import Database

    path = tmp_path / "w.db"
    _small_db(path).close()
    vec = path / "collections" / "1" / "g0" / "v.values.npy"
    good = vec.read_bytes()
    raw = bytearray(good)
    raw[-3] ^= 0x08
    vec.write_bytes(bytes(raw))
    db = Database.open(path)
    c = db.get_collection("c")
    with pytest.raises(StorageError, match="v.values.npy is damaged"):
        c.insert([{"id": 10**6, "v": [1, 1]}])
    with pytest.raises(StorageError, match="v.values.npy is damaged"):
        c.compact() if c.delete(ids=[0]) else None
    assert len(c.query(output_fields=["id"])) == 460 - 1   # the delete (ids intact) was stored
    with pytest.warns(RuntimeWarning, match="v.values.npy is damaged"):
        db.close()   # its checkpoint cannot read the column: reported, the log keeps the delete
    vec.write_bytes(good)   # restored from a backup: the failed insert left nothing behind
    db = Database.open(path)
    ids = {r["id"] for r in db.get_collection("c").query(output_fields=["id"])}
    assert 10**6 not in ids and 0 not in ids and len(ids) == 459
    db.close()


def test_damage_in_the_middle_of_sqlites_write_ahead_log_is_an_error(tmp_path):
    """After a crash the newest writes live in embedb.sqlite3-wal. SQLite drops everything from
    a frame that fails its checksum on; when a committed transaction follows, that would lose
    acknowledged writes silently, so opening refuses instead."""
    from embedb.engine import Database

    from click.testing import CliRunner

    from embedb.cli import cli

    base = tmp_path / "wal.db"
    data, frame, commits = crashed_with_wal(base)
    assert len(commits) >= 4
    copy = tmp_path / "intact.db"
    shutil.copytree(base, copy)
    db = Database.open(copy)   # an intact log after a crash opens with every write
    assert db.get_collection("c").num_rows == 1200
    db.close()
    for target in (commits[0], commits[-2] + 1, commits[-1]):   # in the first, a middle and the last transaction
        copy = tmp_path / f"f{target}.db"
        shutil.copytree(base, copy)
        raw = bytearray(data)
        raw[32 + target * frame + 100] ^= 0xFF
        (copy / "embedb.sqlite3-wal").write_bytes(bytes(raw))
        result = CliRunner().invoke(cli, ["check", str(copy), "--json"])   # read-only: sees it too
        assert result.exit_code == 1 and "embedb.sqlite3-wal" in result.output, result.output
        with pytest.raises(StorageError, match="embedb.sqlite3-wal is damaged"):
            Database.open(copy, read_only=True)
        with pytest.raises(StorageError, match="embedb.sqlite3-wal is damaged"):
            Database.open(copy)


def test_embedb_check_beside_a_writer_reports_nothing_for_an_intact_database(tmp_path):
    from click.testing import CliRunner

    from embedb.cli import cli

    path = tmp_path / "live.db"
    db = _small_db(path)   # open for writing, rows in the snapshot and in the log
    try:
        for i in range(3):
            db.get_collection("c").insert([{"id": 10_000 + i, "v": [0, 0]}])
        result = CliRunner().invoke(cli, ["check", str(path)])
        assert result.exit_code == 0 and result.output.startswith("ok:"), result.output
    finally:
        db.close()


def test_a_flush_without_changes_rewrites_no_file(tmp_path):
    path = tmp_path / "same.db"
    db = _small_db(path)
    db.flush()
    files = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (path / "collections").rglob("*") if p.is_file()}
    db.flush()
    db.close()
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files} == files
