"""The files of one database: a SQLite catalog + write log, and columnar snapshots.

Layout of a database directory::

    demo.db/
      LOCK                          writer lock (pid, host, since)
      embedb.sqlite3 (+ -wal, -shm) catalog tables and the write log (WAL, synchronous=FULL)
      collections/<id>/
        manifest.json               which snapshot files cover which log position (atomic rename)
        g<generation>/              one snapshot generation
          <column>.<part>.npy       append-only column parts (valid length in the manifest)
          deleted.npy               tombstones (rewritten at each checkpoint)
        ext/                        extension files (indexes, full-text), via checkpoint hooks

A write is one SQLite transaction appending a log entry, so it is durable and all-or-nothing
when the call returns. A checkpoint appends the rows added since the last one to the column
files, fsyncs them, renames a new manifest into place, then trims the log it covers.
``root=None`` keeps everything in memory: an in-memory SQLite catalog and no log payloads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import StorageError

SQLITE_NAME = "embedb.sqlite3"
FORMAT_VERSION = 1
HEADER_BYTES = 256  # fixed .npy header size, so the shape can be rewritten in place on append

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections(
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partitions(
    cid INTEGER NOT NULL, name TEXT NOT NULL, pid INTEGER NOT NULL, PRIMARY KEY(cid, name));
CREATE TABLE IF NOT EXISTS aliases(alias TEXT PRIMARY KEY, cid INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, cid INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS log_by_collection ON log(cid, seq);
"""


# ------------------------------------------------------------------- .npy with room to grow
def npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """A version 1.0 .npy header padded to HEADER_BYTES (readable by np.load)."""
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    body = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (descr, tuple(shape))
    pad = HEADER_BYTES - 10 - len(body) - 1
    if pad < 0:
        raise StorageError(f"npy header too long for shape {shape}")
    body = body + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body.encode("latin1")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_npy_atomic(path: Path, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr)
    write_file_atomic(path, npy_header(arr.dtype, arr.shape) + arr.tobytes())


def append_npy(path: Path, old_len: int, arr: np.ndarray) -> int:
    """Write ``arr`` after the first ``old_len`` rows of an append-only .npy file (bytes past
    them are leftovers of an interrupted checkpoint and are overwritten); returns the new
    length. The data is fsynced before returning."""
    arr = np.ascontiguousarray(arr)
    row_bytes = arr.dtype.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64))
    new_len = old_len + len(arr)
    mode = "r+b" if path.exists() else "w+b"
    with open(path, mode) as fh:
        fh.seek(HEADER_BYTES + old_len * row_bytes)
        fh.write(arr.reshape(-1).view(np.uint8).data if arr.size else b"")
        fh.truncate(HEADER_BYTES + new_len * row_bytes)
        fh.seek(0)
        fh.write(npy_header(arr.dtype, (new_len,) + arr.shape[1:]))
        fh.flush()
        os.fsync(fh.fileno())
    return new_len


def map_npy(path: Path, dtype: str, tail: list[int], length: int) -> np.ndarray:
    """Memory-map the first ``length`` rows of a part file (read-only)."""
    dt = np.dtype(dtype)
    shape = (length,) + tuple(tail)
    if length == 0 or dt.itemsize == 0 or 0 in tail:
        return np.empty(shape, dtype=dt)
    # a plain ndarray view (its base keeps the map alive), so slices are not np.memmap objects
    return np.asarray(np.memmap(path, dtype=dt, mode="r", offset=HEADER_BYTES, shape=shape))


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


# ------------------------------------------------------------------- storage
class Storage:
    """SQLite catalog and log, and snapshot files, of one database (or none in memory)."""

    def __init__(self, root: Path | None, read_only: bool = False):
        self.root = root
        self.read_only = read_only
        self._mem_seq = 0
        self._lock = threading.RLock()
        if root is None:
            self.conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self.conn.executescript(_SCHEMA_SQL)
            return
        db_file = root / SQLITE_NAME
        if read_only:
            if not db_file.exists():
                raise StorageError(f"{str(root)!r} is not an embedb database (no {SQLITE_NAME})")
            uri = f"file:{db_file}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout=5000")
            return
        (root / "collections").mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(db_file), isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout=5000")
        # big pages: log payloads are MB-sized blobs (2.5x faster than 4 KiB pages); both
        # pragmas only take effect on a new file, before the first table exists
        self.conn.execute("PRAGMA page_size=65536")
        self.conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA_SQL)
        with self.tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if row is None:
                c.execute("INSERT INTO meta(key, value) VALUES('format', ?)", (str(FORMAT_VERSION),))
            elif int(row[0]) > FORMAT_VERSION:
                raise StorageError(f"database format {row[0]} is newer than this embedb ({FORMAT_VERSION})")

    @property
    def in_memory(self) -> bool:
        return self.root is None

    def close(self) -> None:
        with self._lock:
            try:
                if self.root is not None and not self.read_only:
                    self.conn.executescript("PRAGMA incremental_vacuum;")  # give trimmed log pages back
                    self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (all or nothing, durable at commit)."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # -- catalog -------------------------------------------------------------------------
    def load_catalog(self) -> tuple[list[tuple[int, str, dict]], dict[int, dict[str, int]], dict[str, int]]:
        with self._lock:
            c = self.conn
            cols = [(cid, name, json.loads(info)) for cid, name, info in
                    c.execute("SELECT id, name, info FROM collections ORDER BY id")]
            parts: dict[int, dict[str, int]] = {}
            for cid, name, pid in c.execute("SELECT cid, name, pid FROM partitions ORDER BY pid"):
                parts.setdefault(cid, {})[name] = pid
            aliases = dict(c.execute("SELECT alias, cid FROM aliases"))
        return cols, parts, aliases

    def add_collection(self, c: sqlite3.Connection, name: str, info: dict) -> int:
        cur = c.execute("INSERT INTO collections(name, info) VALUES(?, ?)", (name, json.dumps(info)))
        return int(cur.lastrowid)

    def save_collection(self, c: sqlite3.Connection, cid: int, name: str, info: dict) -> None:
        c.execute("UPDATE collections SET name=?, info=? WHERE id=?", (name, json.dumps(info), cid))

    def remove_collection(self, c: sqlite3.Connection, cid: int) -> None:
        c.execute("DELETE FROM collections WHERE id=?", (cid,))
        c.execute("DELETE FROM partitions WHERE cid=?", (cid,))
        c.execute("DELETE FROM aliases WHERE cid=?", (cid,))
        c.execute("DELETE FROM log WHERE cid=?", (cid,))

    def add_partition(self, c: sqlite3.Connection, cid: int, name: str, pid: int) -> None:
        c.execute("INSERT INTO partitions(cid, name, pid) VALUES(?, ?, ?)", (cid, name, pid))

    def remove_partition(self, c: sqlite3.Connection, cid: int, name: str) -> None:
        c.execute("DELETE FROM partitions WHERE cid=? AND name=?", (cid, name))

    def set_alias(self, c: sqlite3.Connection, alias: str, cid: int) -> None:
        c.execute("INSERT OR REPLACE INTO aliases(alias, cid) VALUES(?, ?)", (alias, cid))

    def remove_alias(self, c: sqlite3.Connection, alias: str) -> None:
        c.execute("DELETE FROM aliases WHERE alias=?", (alias,))

    # -- write log -----------------------------------------------------------------------
    def append_log(self, c: sqlite3.Connection, cid: int, payload: bytes) -> int:
        """Add a log entry inside transaction ``c``; returns its sequence number."""
        if self.root is None:
            self._mem_seq += 1
            return self._mem_seq
        cur = c.execute("INSERT INTO log(cid, payload) VALUES(?, ?)", (cid, payload))
        return int(cur.lastrowid)

    def log_entries(self, cid: int, after: int) -> list[tuple[int, bytes]]:
        if self.root is None:
            return []
        with self._lock:
            return list(self.conn.execute(
                "SELECT seq, payload FROM log WHERE cid=? AND seq>? ORDER BY seq", (cid, after)))

    def last_seq(self) -> int:
        if self.root is None:
            return self._mem_seq
        with self._lock:
            row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name='log'").fetchone()
        return int(row[0]) if row else 0

    def trim_log(self, cid: int, upto: int) -> None:
        if self.root is None:
            return
        with self.tx() as c:
            c.execute("DELETE FROM log WHERE cid=? AND seq<=?", (cid, upto))

    def compact_sqlite(self) -> None:
        """Fold SQLite's own WAL back into the main file after the log shrank."""
        if self.root is None or self.read_only:
            return
        with self._lock:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass

    # -- snapshots -----------------------------------------------------------------------
    def collection_dir(self, cid: int) -> Path | None:
        return None if self.root is None else self.root / "collections" / str(cid)

    def read_manifest(self, cid: int) -> dict[str, Any] | None:
        d = self.collection_dir(cid)
        if d is None:
            return None
        try:
            return json.loads((d / "manifest.json").read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise StorageError(f"manifest of collection {cid} is damaged: {exc}") from None

    def load_parts(self, cid: int, manifest: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
        """Map every part file of a manifest: ``{column: {part: array}}``."""
        gen_dir = self.collection_dir(cid) / manifest["dir"]
        out: dict[str, dict[str, np.ndarray]] = {}
        for key, ent in manifest["files"].items():
            col, _, part = key.rpartition("/")
            out.setdefault(col, {})[part] = map_npy(gen_dir / ent["file"], ent["dtype"], ent["tail"], ent["length"])
        return out

    def load_deleted(self, cid: int, manifest: dict[str, Any]) -> np.ndarray:
        n = manifest["num_rows"]
        path = self.collection_dir(cid) / manifest["dir"] / "deleted.npy"
        if not path.exists():
            return np.zeros(n, dtype=bool)
        arr = np.load(path, allow_pickle=False)
        out = np.zeros(n, dtype=bool)
        k = min(n, len(arr))
        out[:k] = arr[:k]
        return out

    def write_snapshot(
        self,
        cid: int,
        manifest: dict[str, Any] | None,
        generation: int,
        num_rows: int,
        log_seq: int,
        new_parts: dict[str, dict[str, np.ndarray]],
        deleted: np.ndarray,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        """Append ``new_parts`` (rows added since ``manifest``) to the part files, or start a
        new generation directory when ``manifest`` is None or of another generation; write the
        tombstones and the new manifest atomically. Returns the new manifest."""
        cdir = self.collection_dir(cid)
        fresh = manifest is None or manifest["generation"] != generation
        gen_name = f"g{generation}"
        gen_dir = cdir / gen_name
        if fresh and gen_dir.exists():
            shutil.rmtree(gen_dir)  # leftovers of an interrupted rewrite
        gen_dir.mkdir(parents=True, exist_ok=True)
        (cdir / "ext").mkdir(exist_ok=True)
        files = {} if fresh else {k: dict(v) for k, v in manifest["files"].items()}
        used = {v["file"] for v in files.values()}
        for col, parts in new_parts.items():
            for part, arr in parts.items():
                key = f"{col}/{part}"
                ent = files.get(key)
                if ent is None:
                    fname = f"{safe_name(col)}.{part}.npy"
                    i = 1
                    while fname in used:
                        fname = f"{safe_name(col)}_{i}.{part}.npy"
                        i += 1
                    used.add(fname)
                    ent = {"file": fname, "dtype": arr.dtype.str, "tail": list(arr.shape[1:]), "length": 0}
                    (gen_dir / fname).unlink(missing_ok=True)
                ent["length"] = append_npy(gen_dir / ent["file"], ent["length"], arr)
                files[key] = ent
        write_npy_atomic(gen_dir / "deleted.npy", deleted)
        new_manifest = {
            "format": FORMAT_VERSION,
            "generation": generation,
            "dir": gen_name,
            "num_rows": num_rows,
            "log_seq": log_seq,
            "files": files,
            **extra,
        }
        write_file_atomic(cdir / "manifest.json", json.dumps(new_manifest, indent=1).encode())
        if fresh:  # the old generation is no longer referenced
            for child in cdir.iterdir():
                if child.is_dir() and child.name.startswith("g") and child.name != gen_name:
                    shutil.rmtree(child, ignore_errors=True)
        return new_manifest

    def remove_collection_files(self, cid: int) -> None:
        d = self.collection_dir(cid)
        if d is not None and d.exists():
            shutil.rmtree(d, ignore_errors=True)

    def remove_orphan_dirs(self, live_ids: set[int]) -> None:
        """Delete directories of collections whose drop was interrupted after commit."""
        if self.root is None or self.read_only:
            return
        for child in (self.root / "collections").iterdir():
            if child.is_dir() and child.name.isdigit() and int(child.name) not in live_ids:
                shutil.rmtree(child, ignore_errors=True)
