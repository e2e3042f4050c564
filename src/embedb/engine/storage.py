"""The files of one database: a SQLite catalog + write log, and columnar snapshots.

Layout of a database directory::

    demo.db/
      LOCK                          writer lock (pid, host, since)
      embedb.sqlite3 (+ -wal, -shm) catalog tables and the write log (WAL, synchronous=FULL;
                                    NORMAL for log entries with durability="process")
      collections/<id>/
        manifest.json               which snapshot files cover which log position (atomic rename)
        g<generation>/              one snapshot generation
          <column>.<part>.npy       append-only column parts (valid length in the manifest)
          deleted.<n>.npy           tombstones (a new file at each checkpoint)
        ext/                        extension files (indexes, full-text), via checkpoint hooks

A write is one SQLite transaction appending a log entry, so it is durable and all-or-nothing
when the call returns. A checkpoint appends the rows added since the last one to the column
files, fsyncs them, renames a new manifest into place, then trims the log it covers. Every file
of a snapshot, the manifest, each log entry and each catalog entry carries a CRC-32 (see
``checksum.py``); damage is a StorageError naming the file, never data.
``root=None`` keeps everything in memory: an in-memory SQLite catalog and no log payloads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import threading
import time
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import ParamError, StorageError
from . import checksum, writelog
from .integrity import (  # noqa: F401 - RESTORE_HINT, no_writer, embedb_collection_folders are used via storage
    RESTORE_HINT,
    column_verifier,
    embedb_collection_folders,
    manifest_bytes,
    no_writer,
    parse_manifest,
    wal_problem,
)

SQLITE_NAME = "embedb.sqlite3"
_SIDE_LOG = object()   # what log_tx yields: append_log writes a wlog/ record
# 2: checksum records may be CRC-32C ({"alg": "crc32c", "chunks": [...]}), which embedb before
# them (format 1) would report as damage; a writer of format 1 refuses format 2 by this number.
# 3: write calls' log entries live in wlog/ segment files (writelog.py), which embedb of format
# 2 would not read (acknowledged writes silently missing): it refuses format 3 instead
FORMAT_VERSION = 3
MANIFEST_FORMAT = 2  # 2: the manifest carries its own CRC-32 and one per file chunk
HEADER_BYTES = 256  # fixed .npy header size, so the shape can be rewritten in place on append
# the write log's commits: "fsync" survives a power cut, "process" only the process's death
DURABILITY_LEVELS = ("fsync", "process")
SYNC_PIECE_BYTES = 1 * 1024 * 1024  # a checkpoint appends and fsyncs column data this much at a time
WAL_AUTOCHECKPOINT_BYTES = 256 * 1024 * 1024  # the writer copies SQLite's WAL back past this size
# the background WAL copy's RESTART never waits inside SQLite (a waiting RESTART holds SQLite's
# write lock, so a reader in another process held the writer up for the whole wait): it is
# tried again every WAL_RETRY_S, without any embedb lock, for up to this long
WAL_RESTART_WAIT_MS = 2000
WAL_RETRY_S = 0.02
_SQLITE_BUSY_CODES = (5, 6)   # SQLITE_BUSY, SQLITE_LOCKED (primary codes): only "try later"
TRIM_PAUSE_S = 0.001  # between a background trim's transactions, so a waiting writer gets the connection

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
CREATE TABLE IF NOT EXISTS checkpoints(
    cid INTEGER PRIMARY KEY, log_seq INTEGER NOT NULL, generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dropped(cid INTEGER PRIMARY KEY);
"""
# checkpoints: the newest snapshot of each collection (its log position), written in the same
# transaction that trims the log, so a missing or older manifest is detected instead of served.
# dropped: collections whose drop committed; only their folders may be deleted as orphans.
# meta keys "wlog/<segment>": the write log's segment files (writelog.py), each with its length
# once sealed ("" for the newest one): a listed file that is missing or of another length is
# damage, not a crash. (In meta, not a table of its own: every page is 64 KiB.)



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


class FileOps:
    """The file system calls a checkpoint makes. One object, so that tests can put a layer in
    front of it that fails the k-th call (ENOSPC, EIO) and check that no outcome is partial."""

    def open(self, path: Path, mode: str):
        return open(path, mode)

    def fsync(self, fh) -> None:
        fh.flush()
        os.fsync(fh.fileno())

    def replace(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)

    def mkdir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)


fs = FileOps()


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
    write_atomic_with(path, lambda fh: fh.write(data))


def write_atomic_with(path: Path, writer) -> None:
    """Write through ``writer(file)`` into a temporary file, fsync it and rename it over
    ``path`` (readers see the old file or the new one, never half of one)."""
    tmp = path.with_name(path.name + ".tmp")
    with fs.open(tmp, "wb") as fh:
        writer(fh)
        fs.fsync(fh)
    fs.replace(tmp, path)
    _fsync_dir(path.parent)


def write_npy_atomic(path: Path, arr: np.ndarray) -> list[int]:
    """Write a whole .npy file atomically; returns the checksums of its data bytes."""
    arr = np.ascontiguousarray(arr)
    write_file_atomic(path, npy_header(arr.dtype, arr.shape) + arr.tobytes())
    return checksum.of(arr)


def append_npy(path: Path, old_len: int, arr: np.ndarray) -> int:
    """Write ``arr`` after the first ``old_len`` rows of an append-only .npy file (bytes past
    them are leftovers of an interrupted checkpoint and are overwritten); returns the new
    length. The data is fsynced before returning."""
    arr = np.ascontiguousarray(arr)
    row_bytes = arr.dtype.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64))
    new_len = old_len + len(arr)
    mode = "r+b" if path.exists() else "w+b"
    data = arr.reshape(-1).view(np.uint8).data if arr.size else memoryview(b"")
    with fs.open(path, mode) as fh:
        fh.seek(HEADER_BYTES + old_len * row_bytes)
        # in pieces, each fsynced: with ext4's ordered data, a writer's fdatasync of the log
        # would otherwise wait for every dirty page of the new rows (64 MiB) at once
        for at in range(0, max(len(data), 1), SYNC_PIECE_BYTES):
            fh.write(data[at:at + SYNC_PIECE_BYTES])
            if len(data) > SYNC_PIECE_BYTES:
                fs.fsync(fh)
        fh.truncate(HEADER_BYTES + new_len * row_bytes)
        fh.seek(0)
        fh.write(npy_header(arr.dtype, (new_len,) + arr.shape[1:]))
        fs.fsync(fh)
    return new_len


def map_npy(path: Path, dtype: str, tail: list[int], length: int) -> np.ndarray:
    """Memory-map the first ``length`` rows of a part file (read-only). A missing or short
    file is a StorageError naming it (the checksums are verified on first use)."""
    dt = np.dtype(dtype)
    shape = (length,) + tuple(tail)
    nbytes = dt.itemsize * int(np.prod(shape, dtype=np.int64))
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise StorageError(f"{path} is missing; {RESTORE_HINT}") from None
    if size < HEADER_BYTES + nbytes:
        raise StorageError(f"{path} is truncated ({size} bytes, the manifest needs "
                           f"{HEADER_BYTES + nbytes}); {RESTORE_HINT}")
    if length == 0 or dt.itemsize == 0 or 0 in tail:
        return np.empty(shape, dtype=dt)
    # a plain ndarray view (its base keeps the map alive), so slices are not np.memmap objects
    try:
        return np.asarray(np.memmap(path, dtype=dt, mode="r", offset=HEADER_BYTES, shape=shape))
    except OSError as exc:
        raise StorageError(f"{path} cannot be read ({exc.strerror or exc})") from None


MAX_STEM = 100  # file-name stems stay far below the 255-byte limit of common file systems


def bounded_stem(stem: str) -> str:
    """``stem`` when short, else a prefix plus a hash of the whole: a name of 255 characters
    (the Milvus limit) plus a suffix would not fit in a file name."""
    if len(stem) <= MAX_STEM:
        return stem
    return f"{stem[:MAX_STEM - 9]}_{zlib.crc32(stem.encode('utf-8', 'surrogatepass')):08x}"


def safe_name(name: str) -> str:
    """A file-name stem for a user-given name (ASCII, bounded length)."""
    return bounded_stem(re.sub(r"[^A-Za-z0-9_]", "_", name))


# ------------------------------------------------------------------- storage
def newer_format(found) -> str:
    return (f"database format {found} is newer than this embedb ({FORMAT_VERSION}): it was written "
            "by a newer embedb; open it with that version or a later one (nothing was changed)")


class Storage:
    """SQLite catalog and log, and snapshot files, of one database (or none in memory)."""

    def __init__(self, root: Path | None, read_only: bool = False, check_wal: bool = True):
        self.root = root
        self.read_only = read_only
        self._mem_seq = 0
        self._lock = threading.RLock()
        self._wal_conn: sqlite3.Connection | None = None   # the background WAL copier's
        self._wal_lock = threading.Lock()   # a leaf lock: the copier's connection, and close
        self._wal_closed = False
        self._wal_warned = False   # a failing WAL copy is reported once
        self._sync_level = ""   # the writer connection's synchronous level, once set
        self.durability = "fsync"   # of the write log's commits; see set_durability
        self.db_file: Path | None = None
        self._next_seq: int | None = None   # the writer's next log sequence number, once known
        self._side: writelog.Appender | None = None   # the writer's end of wlog/
        self._side_records: list[writelog.Record] | None = None   # the writer's, kept current
        self._follower: writelog.Follower | None = None   # a reader's scan, kept between refreshes
        if root is None:
            self.conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self.conn.executescript(_SCHEMA_SQL)
            return
        db_file = root / SQLITE_NAME
        self.db_file = db_file
        if read_only:
            if not db_file.exists():
                raise StorageError(f"{str(root)!r} is not an embedb database (no {SQLITE_NAME})")
            uri = f"file:{db_file}?mode=ro"
            try:
                self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
                self.conn.execute("PRAGMA busy_timeout=5000")
                with no_writer(root) as alone:  # with a writer open, its log is its to judge
                    if alone and check_wal:
                        self._refuse_damaged_wal(db_file)
                try:
                    row = self.conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
                except sqlite3.OperationalError:   # no catalog yet (a writer is creating it)
                    row = None
            except sqlite3.Error as exc:
                raise self.catalog_error(exc) from None
            if row is not None and int(row[0]) > FORMAT_VERSION:
                self.conn.close()
                raise StorageError(newer_format(row[0]))
            return
        self.refuse_lost_catalog(root, db_file)
        try:
            self._open_writer(root, db_file)
        except sqlite3.Error as exc:
            raise self.catalog_error(exc) from None

    def catalog_error(self, exc: BaseException) -> StorageError:
        if isinstance(exc, sqlite3.OperationalError) and ("full" in str(exc) or "I/O" in str(exc)):
            return StorageError(f"the catalog {self.db_file} cannot be opened ({exc}): free space on "
                                "the disk (or fix the device) and open it again; nothing was lost")
        return StorageError(f"the catalog {self.db_file} cannot be read ({exc}); {RESTORE_HINT}")

    @staticmethod
    def refuse_lost_catalog(root: Path, db_file: Path) -> None:
        """An empty or missing catalog beside collection folders is damage, not a new database:
        opening it would initialise an empty catalog and lose every collection."""
        folders = embedb_collection_folders(root)
        lost = not db_file.exists() or db_file.stat().st_size == 0
        segments = writelog.segment_files(root) if lost else []
        if segments:
            raise StorageError(
                f"the catalog {db_file} is {'missing' if not db_file.exists() else 'empty (0 bytes)'} "
                f"but {root / writelog.DIR} holds write log segments ({segments[0].name}, ...); embedb "
                f"will not start an empty catalog over them: {RESTORE_HINT}")
        if folders and lost:
            state = "missing" if not db_file.exists() else "empty (0 bytes)"
            raise StorageError(
                f"the catalog {db_file} is {state} but {root / 'collections'} holds collection "
                f"folders {sorted(folders)[:5]}; embedb will not start an empty catalog over them: "
                f"{RESTORE_HINT}")

    def _open_writer(self, root: Path, db_file: Path) -> None:
        (root / "collections").mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(db_file), isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout=5000")
        # before any pragma that may write (auto_vacuum on a database that looks empty restarts
        # the log, which would overwrite the frames this looks at)
        self._refuse_damaged_wal(db_file)
        # big pages: log payloads are MB-sized blobs (2.5x faster than 4 KiB pages); both
        # pragmas only take effect on a new file, before the first table exists
        self.conn.execute("PRAGMA page_size=65536")
        self.conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        # SQLite copies its WAL into the main file inside the commit that takes the WAL past
        # this many pages (1,000 by default: 64 MiB, one 1,000x384 insert call in ~35 paid a
        # 64 MiB copy and an fsync); the background checkpointer's copy (copy_back_wal) does it
        # instead, off the caller's path, and this bound only stops a WAL nobody copies
        page = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        self.conn.execute(f"PRAGMA wal_autocheckpoint={max(1000, WAL_AUTOCHECKPOINT_BYTES // page)}")
        self._sync_level = "FULL"   # the connection's synchronous level (see _synchronous)
        # builds with SQLITE_SECURE_DELETE (Debian's) zero every freed page: trimming the log
        # would write each payload a second time (and a third into the main file); the rows
        # stay in the column files anyway, so zero only what costs no extra I/O
        self.conn.execute("PRAGMA secure_delete=FAST")
        self.conn.executescript(_SCHEMA_SQL)
        with self.tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if row is None:
                c.execute("INSERT INTO meta(key, value) VALUES('format', ?)", (str(FORMAT_VERSION),))
            elif int(row[0]) > FORMAT_VERSION:
                raise StorageError(newer_format(row[0]))
            elif int(row[0]) < FORMAT_VERSION:   # its next checkpoints write CRC-32C records
                c.execute("UPDATE meta SET value=? WHERE key='format'", (str(FORMAT_VERSION),))

    def wal_problem(self) -> str | None:
        return wal_problem(self.conn, self.db_file)

    def _refuse_damaged_wal(self, db_file: Path) -> None:
        problem = wal_problem(self.conn, db_file)
        if problem and not self._last_written_unsynced():
            self.conn.close()
            raise StorageError(f"{db_file.with_name(db_file.name + '-wal')} {problem}; {RESTORE_HINT}")

    def _last_written_unsynced(self) -> bool:
        """Whether the last writer committed its log with durability="process". Its commits after
        the last synced one may reach the disk in any order before a power cut, so a torn frame
        followed by a commit frame is what such a cut leaves, not damage: SQLite's recovery
        keeps what precedes the torn frame, which is what that level promises."""
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key='durability'").fetchone()
        except sqlite3.Error:
            return False
        return row is not None and row[0] == "process"

    @property
    def in_memory(self) -> bool:
        return self.root is None

    def close(self) -> None:
        with self._wal_lock:   # first: a copy in flight ends (one short attempt), none starts
            self._wal_closed = True
            if self._wal_conn is not None:
                self._wal_conn.close()
                self._wal_conn = None
        with self._lock:
            try:
                if self.root is not None and not self.read_only:
                    if self._side is not None:
                        try:
                            last = self._side.close()   # sealed: the newest segment too may go now
                            if last is not None:
                                self._catalog_segments(last, None)
                            self._remove_covered_segments()
                        except (StorageError, OSError):
                            pass   # left open: the next writer's open seals it
                    self._synchronous("FULL")
                    self.conn.executescript("PRAGMA incremental_vacuum;")  # give trimmed log pages back
                    self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self.conn.close()

    @contextmanager
    def tx(self, synced: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction (all or nothing, durable at commit). A failure of SQLite itself
        (disk full, I/O error) rolls back and becomes a StorageError: nothing of it is stored.
        ``synced=False``: committed with ``synchronous=NORMAL``: in the OS page cache, not
        fsynced (log entries at durability="process"; trimming log entries a stored snapshot
        covers, where a commit lost to a power cut only leaves entries replay skips). The next
        synced commit makes them durable with it: SQLite's WAL is written in order."""
        with self._lock:
            if synced and self._side is not None and self._side.dirty:
                # a synced commit makes every earlier write call durable (the order of calls
                # survives a power cut): the write log's unsynced records first
                self._side.sync()
            self._synchronous("FULL" if synced else "NORMAL")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._write_error(exc) from None
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # a failed COMMIT may have rolled back already
                if isinstance(exc, sqlite3.Error):
                    raise self._write_error(exc) from None
                raise

    def _synchronous(self, level: str) -> None:
        """Set the connection's ``synchronous`` for the next commit (caller holds ``_lock``).
        Remembered, so a run of commits at one level sets it once, not twice per commit."""
        if self._sync_level != level and self.root is not None:
            self.conn.execute(f"PRAGMA synchronous={level}")
            self._sync_level = level

    @contextmanager
    def log_tx(self) -> Iterator[Any]:
        """The "transaction" of a write call's log entry: ``append_log`` on what this yields
        appends one record to the write log's segment files (writelog.py), fdatasynced before
        it returns (``fsync``), or with ``durability="process"`` left in the OS page cache
        (survives the process, not a power cut). A failure stores nothing and is a
        StorageError. Catalog changes and checkpoint records always use ``tx()``, synced."""
        with self._lock:
            yield _SIDE_LOG

    def set_durability(self, level: str) -> None:
        """Use ``level`` (one of DURABILITY_LEVELS) for log commits from now on. A writer records
        it in the catalog with a synced commit (which also makes every earlier commit durable),
        so a later open knows a power cut may have torn the unsynced end of SQLite's WAL."""
        if level not in DURABILITY_LEVELS:
            raise ParamError(f"durability must be one of {', '.join(map(repr, DURABILITY_LEVELS))}, "
                             f"not {level!r}")
        if self.root is not None and not self.read_only and \
                level != ("process" if self._last_written_unsynced() else "fsync"):
            with self.tx() as c:
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('durability', ?)", (level,))
        self.durability = level

    def sync_log(self) -> None:
        """Make every committed log entry durable. Nothing to do for ``fsync`` (each commit
        synced itself); at ``process``, the fdatasync of the write log's newest segment and the
        fsync of SQLite's WAL file (``sync_wal``)."""
        if self.durability == "process" and self.root is not None and not self.read_only:
            if self._side is not None:
                self._side.sync()
            self.sync_wal()

    def sync_wal(self) -> None:
        """Make every commit so far durable without holding the connection: fsync SQLite's
        WAL file. SQLite writes a commit's frames into the WAL with write() before COMMIT
        returns, in order, and copies frames into the main file only to sync that file before
        it reuses the WAL; so this fsync covers every earlier unsynced commit, as a synced
        commit would, but a writer's next commit need not wait for it (a synced commit holds
        the connection, and so every writer, for the whole fsync). Through ``fs``, so a failing
        disk layer sees it; a failure is a StorageError (the log still holds every write)."""
        if self.root is None or self.read_only:
            return
        wal = self.db_file.with_name(self.db_file.name + "-wal")
        try:
            with fs.open(wal, "rb") as fh:
                fs.fsync(fh)
        except FileNotFoundError:   # no WAL file (not in WAL mode yet): one synced commit instead
            with self.tx() as c:
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('durability', ?)", (self.durability,))
        except OSError as exc:
            raise StorageError(f"syncing {wal} failed ({exc}); every acknowledged write is still in "
                               "the write log") from None

    def _write_error(self, exc: sqlite3.Error) -> StorageError:
        where = self.db_file or "the in-memory catalog"
        return StorageError(f"writing {where} failed ({exc}); nothing of this call was stored")

    # -- catalog -------------------------------------------------------------------------
    def load_catalog(self) -> tuple[list[tuple[int, str, dict]], dict[int, dict[str, int]], dict[str, int]]:
        with self._lock:
            c = self.conn
            try:
                cols = [(cid, name, self._parse_info(cid, name, info)) for cid, name, info in
                        c.execute("SELECT id, name, info FROM collections ORDER BY id")]
                parts: dict[int, dict[str, int]] = {}
                for cid, name, pid in c.execute("SELECT cid, name, pid FROM partitions ORDER BY pid"):
                    parts.setdefault(cid, {})[name] = pid
                aliases = dict(c.execute("SELECT alias, cid FROM aliases"))
            except sqlite3.Error as exc:
                raise self.catalog_error(exc) from None
        return cols, parts, aliases

    @staticmethod
    def _dump_info(info: dict) -> str:
        """Catalog JSON with a CRC-32 of its body, so a flipped byte is an error, not a schema."""
        body = json.dumps(info)
        return json.dumps({"crc": zlib.crc32(body.encode()), "info": info})

    def _parse_info(self, cid: int, name: str, text: str) -> dict:
        try:
            doc = json.loads(text)
            if isinstance(doc, dict) and set(doc) == {"crc", "info"}:
                if zlib.crc32(json.dumps(doc["info"]).encode()) != doc["crc"]:
                    raise ValueError("checksum mismatch")
                return doc["info"]
            return doc  # written before catalog checksums
        except (ValueError, TypeError) as exc:
            raise StorageError(f"the catalog entry of collection {name!r} (id {cid}) in {self.db_file} "
                               f"is damaged ({exc}); {RESTORE_HINT}") from None

    def add_collection(self, c: sqlite3.Connection, name: str, info: dict) -> int:
        cur = c.execute("INSERT INTO collections(name, info) VALUES(?, ?)", (name, self._dump_info(info)))
        return int(cur.lastrowid)

    def save_collection(self, c: sqlite3.Connection, cid: int, name: str, info: dict) -> None:
        c.execute("UPDATE collections SET name=?, info=? WHERE id=?", (name, self._dump_info(info), cid))

    def remove_collection(self, c: sqlite3.Connection, cid: int) -> None:
        c.execute("DELETE FROM collections WHERE id=?", (cid,))
        c.execute("DELETE FROM partitions WHERE cid=?", (cid,))
        c.execute("DELETE FROM aliases WHERE cid=?", (cid,))
        c.execute("DELETE FROM log WHERE cid=?", (cid,))
        if self.root is not None:
            c.execute("DELETE FROM checkpoints WHERE cid=?", (cid,))
            c.execute("INSERT OR IGNORE INTO dropped(cid) VALUES(?)", (cid,))

    # Databases (namespaces of collections) live in the meta table, which every format has, as
    # "database/<name>" -> JSON; "default" needs no record. A collection or alias of another
    # database is stored under "<db>/<name>" (names never contain "/"), so a database written
    # before databases existed opens with everything in "default".
    def load_databases(self) -> dict[str, dict]:
        with self._lock:
            try:
                rows = list(self.conn.execute("SELECT key, value FROM meta WHERE key LIKE 'database/%'"))
            except sqlite3.Error as exc:
                raise self.catalog_error(exc) from None
        out = {}
        for key, value in rows:
            try:
                out[key[len("database/"):]] = json.loads(value)
            except ValueError as exc:
                raise StorageError(f"the catalog entry of database {key!r} in {self.db_file} is damaged "
                                   f"({exc}); {RESTORE_HINT}") from None
        return out

    def save_database(self, c: sqlite3.Connection, name: str, info: dict) -> None:
        c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (f"database/{name}", json.dumps(info)))

    def remove_database(self, c: sqlite3.Connection, name: str) -> None:
        c.execute("DELETE FROM meta WHERE key=?", (f"database/{name}",))

    def add_partition(self, c: sqlite3.Connection, cid: int, name: str, pid: int) -> None:
        c.execute("INSERT INTO partitions(cid, name, pid) VALUES(?, ?, ?)", (cid, name, pid))

    def remove_partition(self, c: sqlite3.Connection, cid: int, name: str) -> None:
        c.execute("DELETE FROM partitions WHERE cid=? AND name=?", (cid, name))

    def set_alias(self, c: sqlite3.Connection, alias: str, cid: int) -> None:
        c.execute("INSERT OR REPLACE INTO aliases(alias, cid) VALUES(?, ?)", (alias, cid))

    def remove_alias(self, c: sqlite3.Connection, alias: str) -> None:
        c.execute("DELETE FROM aliases WHERE alias=?", (alias,))

    # -- write log -----------------------------------------------------------------------
    # A write call's entry is a record of wlog/ (writelog.py); a partition drop's stays a row
    # of table ``log``, committed with its catalog change; databases written before wlog/ have
    # every entry there. Both share one sequence, so replay merges them by sequence number.
    def append_log(self, c: Any, cid: int, payload: bytes) -> int:
        """Add a log entry: a wlog/ record when ``c`` comes from ``log_tx``, else a row inside
        SQLite transaction ``c``; returns its sequence number."""
        if self.root is None:
            self._mem_seq += 1
            return self._mem_seq
        with self._lock:
            seq = self._take_seq()
            if c is _SIDE_LOG:
                rec = self._side.append(seq, cid, payload, sync=self.durability != "process")
                self._side_records.append(rec)
            else:
                c.execute("INSERT INTO log(seq, cid, payload) VALUES(?, ?, ?)", (seq, cid, payload))
        return seq

    def _take_seq(self) -> int:
        """The next sequence number (caller holds ``_lock``): past every entry of either log
        and every snapshot the catalog records, so no number is handed out twice."""
        if self._next_seq is None:
            records = self._records()
            try:
                row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name='log'").fetchone()
                snap = self.conn.execute("SELECT max(log_seq) FROM checkpoints").fetchone()
            except sqlite3.Error as exc:
                raise self.catalog_error(exc) from None
            self._next_seq = max([int(row[0]) if row else 0, int(snap[0] or 0)] +
                                 [r.seq for r in records]) + 1
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _segment_registry(self) -> dict[str, int | None]:
        try:
            return {str(k)[len("wlog/"):]: (int(v) if v else None) for k, v in
                    self.conn.execute("SELECT key, value FROM meta WHERE key LIKE 'wlog/%'")}
        except (sqlite3.Error, ValueError) as exc:
            raise self.catalog_error(exc) from None

    def _catalog_segments(self, sealed: tuple[Path, int] | None, new: Path | None) -> None:
        """Record, durably, a segment's final length and/or a new newest segment."""
        with self.tx() as c:
            if sealed is not None:
                c.execute("UPDATE meta SET value=? WHERE key=?", (str(sealed[1]), f"wlog/{sealed[0].name}"))
            if new is not None:
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, '')", (f"wlog/{new.name}",))

    def _records(self) -> list[writelog.Record]:
        """Every intact record of wlog/. The writer scans once (cutting off a torn tail, the
        call in flight at a crash, and sealing what a crashed writer left open, before it
        appends) and then keeps the list current; a reader's ``Follower`` reads only what was
        appended since its last scan. Damage is a StorageError naming the file."""
        if self._side_records is not None:
            return self._side_records
        registry = self._segment_registry()
        if self._follower is None:
            self._follower = writelog.Follower(self.root)
        try:
            found = self._follower.scan(registry)
        finally:
            if not self.read_only:   # a reader keeps its segments open until its load is done
                self._follower.release()
        if found.problem is not None:
            path, pos, problem = found.problem
            if not (registry.get(path.name, 0) is None and self._last_written_unsynced()):
                raise StorageError(f"the write log {path} holds {problem} at byte {pos}: it is "
                                   f"damaged; {RESTORE_HINT}")
            # the unsynced end of durability="process" writes after a power cut: a prefix
            found = writelog.Scan(found.records, (path, pos), None)
        if self.read_only:
            return found.records
        self._follower = None
        if found.tail is not None:   # the call in flight at a crash: absent
            path, valid = found.tail
            try:
                with open(path, "r+b") as fh:
                    fh.truncate(valid)
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise StorageError(f"cutting the torn end off the write log {path} failed ({exc})") from None
        side = writelog.Appender(self.root, self._catalog_segments)
        for name, length in registry.items():
            path = self.root / writelog.DIR / name
            side.cids.setdefault(path, {})
            if length is None:   # left open by a crashed writer: sealed before anything follows it
                # synced first: a durability="process" writer left its records in the page
                # cache, and a length the catalog records durably must be the file's after a
                # power cut too (else the next open is a StorageError, and the calls after it)
                try:
                    writelog.fsync_dir(path)   # an fsync of any path opened read-only
                except OSError as exc:
                    raise StorageError(f"syncing the write log {path} failed ({exc})") from None
                self._catalog_segments((path, path.stat().st_size), None)
        self._remove_leftover_segments(registry)
        for rec in found.records:
            side.note(rec)
        self._side = side
        self._side_records = list(found.records)
        return self._side_records

    def log_entries(self, cid: int, after: int) -> list[tuple[int, bytes]]:
        if self.root is None:
            return []
        with self._lock:
            try:
                rows = list(self.conn.execute(
                    "SELECT seq, payload FROM log WHERE cid=? AND seq>? ORDER BY seq", (cid, after)))
            except sqlite3.Error as exc:
                raise self.catalog_error(exc) from None
            # records a recorded snapshot covers are trimmed, even before their segment goes
            # (a manifest older than that record is refused at load: check_manifest)
            record = self.checkpoint_record(cid)
            floor = max(after, record[0]) if record else after
            mine = [r for r in self._records() if r.cid == cid and r.seq > floor]
        if mine:
            rows += [(r.seq, writelog.read_payload(r)) for r in mine]
            rows.sort(key=lambda r: r[0])
        return rows

    # -- a reader's view of the log (engine/reader_load.py) ---------------------------------
    def reader_records(self) -> list[writelog.Record]:
        """Every intact record of the segments the catalog lists now, read only where
        appended since the last scan; the segments stay open until ``release_reader_log``."""
        with self._lock:
            return self._records()

    def reader_payload(self, rec: writelog.Record) -> bytes:
        """A record ``reader_records`` returned, read through the segment it keeps open."""
        return self._follower.payload(rec)

    def reader_rewinds(self) -> int:
        """``Follower.rewinds``: changed since a load, that load may have replayed a record the
        writer then cut back off (it was never acknowledged)."""
        return 0 if self._follower is None else self._follower.rewinds

    def release_reader_log(self) -> None:
        with self._lock:
            if self._follower is not None:
                self._follower.release()

    def log_table_rows(self, payloads: bool = True) -> list[tuple[int, int, bytes]]:
        """(seq, collection id, payload) of every entry of SQLite's table ``log`` (partition
        drops; every entry of a database written before the wlog/ segments), in order; with
        ``payloads`` false, empty payloads (to see whether the table changed)."""
        if self.root is None:
            return []
        sql = f"SELECT seq, cid, {'payload' if payloads else 'NULL'} FROM log ORDER BY seq"
        with self._lock:
            try:
                return [(int(seq), int(cid), bytes(payload or b"")) for seq, cid, payload in
                        self.conn.execute(sql)]
            except sqlite3.Error as exc:
                raise self.catalog_error(exc) from None

    def last_seq(self) -> int:
        if self.root is None:
            return self._mem_seq
        with self._lock:
            if self._next_seq is None and not self.read_only:
                self._take_seq()
                self._next_seq -= 1
            if self._next_seq is not None:
                return self._next_seq - 1
            row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name='log'").fetchone()
            return max([int(row[0]) if row else 0] + [r.seq for r in self._records()])

    def _remove_leftover_segments(self, registry: dict[str, int | None]) -> None:
        """Segment files the catalog does not list: left over when a deletion was cut short
        (the catalog lets go of a segment first), so every record in them is covered by a
        recorded snapshot or belongs to a dropped collection; those go. One holding anything
        else means the catalog does not match the files (replaced by an older copy?):
        StorageError, and nothing is deleted."""
        for path in writelog.segment_files(self.root):
            if path.name in registry:
                continue
            if not self.unlisted_segment_holds_writes(path):
                path.unlink(missing_ok=True)
                continue
            raise StorageError(
                f"the write log segment {path} is not listed by the catalog {self.db_file} but holds "
                f"writes no snapshot covers: the catalog may be damaged or replaced. embedb deletes "
                f"nothing it cannot prove it owns; {RESTORE_HINT}")

    def unlisted_segment_holds_writes(self, path: Path) -> bool:
        """Whether a segment file the catalog does not list holds a record that neither a
        recorded snapshot covers nor belongs to a dropped collection (or a damaged one): then
        the catalog does not match the files. False for a missing file."""
        try:
            covered = {int(c): int(q) for c, q in self.conn.execute("SELECT cid, log_seq FROM checkpoints")}
            live = {int(r[0]) for r in self.conn.execute("SELECT id FROM collections")}
        except sqlite3.Error as exc:
            raise self.catalog_error(exc) from None
        try:
            found = writelog.scan(self.root, {path.name: path.stat().st_size})
        except (FileNotFoundError, StorageError):   # gone meanwhile, or still growing
            return path.exists()
        return found.problem is not None or any(r.cid in live and covered.get(r.cid, 0) < r.seq
                                                 for r in found.records)

    def _remove_covered_segments(self) -> None:
        """Delete the wlog/ segments whose every record a recorded snapshot covers (after the
        record is durable: the caller synced it), or whose collections were dropped: first
        from the catalog (synced), then the files (a file left behind is never read)."""
        if self._side is None:
            return
        with self._lock:
            try:
                covered = {int(c): int(q) for c, q in self.conn.execute("SELECT cid, log_seq FROM checkpoints")}
                live = {int(r[0]) for r in self.conn.execute("SELECT id FROM collections")}
            except sqlite3.Error:
                return   # tried again at the next trim
            gone = self._side.covered(covered, live)
            if not gone:
                return
            try:
                with self.tx() as c:
                    c.executemany("DELETE FROM meta WHERE key=?", [(f"wlog/{p.name}",) for p in gone])
            except StorageError:
                return   # tried again at the next trim; the records are covered anyway
            for path in gone:
                del self._side.cids[path]
                try:
                    path.unlink()
                except OSError:
                    pass
            if self._side_records is not None:
                self._side_records = [r for r in self._side_records if r.path not in set(gone)]

    def trim_log(self, cid: int, upto: int, generation: int | None = None, chunk_bytes: int = 0) -> None:
        """Delete the log entries a renamed manifest covers and, in the same transaction,
        record that manifest's position (``generation`` given), so a manifest lost or replaced
        by an older one is detected at open. ``chunk_bytes``: delete them in transactions of
        about that many payload bytes first (SQLite reads every page of a deleted blob; the
        background checkpointer must not hold writers up for the whole log)."""
        if self.root is None:
            return
        if chunk_bytes:  # in short transactions, so a writer waits for one of them at most
            while True:
                with self.tx(synced=False) as c:
                    got = c.execute("SELECT seq, length(payload) FROM log WHERE cid=? AND seq<=? ORDER BY seq "
                                    "LIMIT 64", (cid, upto)).fetchall()
                    if not got:
                        break
                    size, last = 0, got[-1][0]
                    for seq, length in got:
                        size, last = size + int(length), seq
                        if size >= chunk_bytes:
                            break
                    c.execute("DELETE FROM log WHERE cid=? AND seq<=?", (cid, last))
                # a waiting writer takes the connection now: a lock released and at once taken
                # again by the same thread is not handed over, so it would wait for every chunk
                time.sleep(TRIM_PAUSE_S)
        # the last one (with the record) is durable before this returns, as a synced commit
        # would make it, but its fsync runs without the connection (sync_wal): a writer's
        # commit goes on meanwhile instead of waiting ~30 ms behind it
        with self.tx(synced=False) as c:
            c.execute("DELETE FROM log WHERE cid=? AND seq<=?", (cid, upto))
            if generation is not None:
                c.execute("INSERT OR REPLACE INTO checkpoints(cid, log_seq, generation) VALUES(?, ?, ?)",
                          (cid, upto, generation))
        self.sync_wal()
        self._remove_covered_segments()

    def checkpoint_record(self, cid: int) -> tuple[int, int] | None:
        """(log_seq, generation) of the newest snapshot the catalog knows, or None."""
        if self.root is None:
            return None
        with self._lock:
            try:
                row = self.conn.execute("SELECT log_seq, generation FROM checkpoints WHERE cid=?",
                                        (cid,)).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # a database from before checkpoint records
                    return None
                raise self.catalog_error(exc) from None
            except sqlite3.Error as exc:
                raise self.catalog_error(exc) from None
        return None if row is None else (int(row[0]), int(row[1]))

    def compact_sqlite(self) -> None:
        """Fold SQLite's own WAL back into the main file after the log shrank."""
        if self.root is None or self.read_only:
            return
        with self._lock:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass

    def copy_back_wal(self, wait_ms: int | None = None) -> bool:
        """Copy SQLite's WAL into its main file on a connection of its own, without ``_lock``
        or any other embedb lock but the leaf ``_wal_lock`` (the background checkpointer): a
        PASSIVE checkpoint, which never blocks the writer, copies nearly all of it; then a
        RESTART one copies what the writer appended meanwhile (a writer waits for that short
        copy only) and lets the next commit start the WAL over, so SQLite's own copy inside a
        writer's commit (``WAL_AUTOCHECKPOINT_BYTES``) does not come due.

        The RESTART does not wait inside SQLite (no busy timeout): a waiting RESTART holds
        SQLite's write lock, so a read transaction of another process would hold every
        writer up for the whole wait. When a reader still uses the WAL, or a writer is
        committing, it reports "busy" at once and is tried again every ``WAL_RETRY_S`` for up
        to ``wait_ms`` (``WAL_RESTART_WAIT_MS``); then the next background pass tries again.
        Returns whether the WAL was copied whole and restarted. An SQLite error other than
        busy/locked (disk full, I/O error) is a RuntimeWarning, given once: the WAL keeps every
        commit, and SQLite copies it itself past ``WAL_AUTOCHECKPOINT_BYTES``."""
        if self.root is None or self.read_only:
            return True
        wait_s = (WAL_RESTART_WAIT_MS if wait_ms is None else wait_ms) / 1000
        deadline = time.monotonic() + wait_s
        mode = "PASSIVE"
        while True:
            with self._wal_lock:
                if self._wal_closed:
                    return False
                try:
                    if self._wal_conn is None:
                        self._wal_conn = sqlite3.connect(str(self.db_file), isolation_level=None,
                                                         check_same_thread=False)
                        self._wal_conn.execute("PRAGMA busy_timeout=0")
                    if mode == "PASSIVE":
                        self._wal_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        mode = "RESTART"
                    busy = self._wal_conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]
                except sqlite3.Error as exc:
                    if getattr(exc, "sqlite_errorcode", 5) & 0xFF not in _SQLITE_BUSY_CODES:
                        self._warn_wal_copy(exc)
                        # a connection whose copy failed (disk full, I/O) keeps failing: the
                        # next attempt starts a fresh one
                        if self._wal_conn is not None:
                            self._wal_conn.close()
                            self._wal_conn = None
                        return False
                    busy = 1
            if not busy:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(WAL_RETRY_S)

    def _warn_wal_copy(self, exc: sqlite3.Error) -> None:
        if self._wal_warned:
            return
        self._wal_warned = True
        warnings.warn(f"copying SQLite's write-ahead log {self.db_file}-wal into {self.db_file} failed "
                      f"({exc}); nothing is lost (the WAL keeps every commit), and the copy is tried "
                      "again at the next checkpoint", RuntimeWarning, stacklevel=2)

    # -- snapshots -----------------------------------------------------------------------
    def collection_dir(self, cid: int) -> Path | None:
        return None if self.root is None else self.root / "collections" / str(cid)

    def read_manifest(self, cid: int) -> dict[str, Any] | None:
        """The collection's manifest, None when it has none; StorageError naming the file when
        it is damaged (its own CRC-32 covers every byte of its content)."""
        d = self.collection_dir(cid)
        if d is None:
            return None
        path = d / "manifest.json"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{path} cannot be read ({exc}); {RESTORE_HINT}") from None
        try:
            return parse_manifest(raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"{path} is damaged ({exc}); {RESTORE_HINT}") from None

    def check_manifest(self, cid: int, name: str, manifest: dict[str, Any] | None) -> None:
        """A missing manifest, or one older than the snapshot the catalog recorded when it
        trimmed the log, would serve fewer rows: StorageError instead."""
        record = self.checkpoint_record(cid)
        if record is None:
            return
        path = self.collection_dir(cid) / "manifest.json"
        if manifest is None:
            raise StorageError(
                f"{path} of collection {name!r} is missing, but the catalog records a snapshot "
                f"covering the write log up to entry {record[0]} (those rows live only in the "
                f"snapshot); {RESTORE_HINT}")
        if int(manifest["log_seq"]) < record[0] or int(manifest["generation"]) < record[1]:
            raise StorageError(
                f"{path} of collection {name!r} is older than the snapshot the catalog records "
                f"(log entry {manifest['log_seq']} < {record[0]}, or generation "
                f"{manifest['generation']} < {record[1]}); {RESTORE_HINT}")

    def load_parts(self, cid: int, manifest: dict[str, Any]
                   ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
        """Map every part file of a manifest: ``{column: {part: array}}``, plus for each column
        a function that verifies its checksums (raises StorageError naming the damaged file).
        Columns are verified on first use, so opening maps files without reading them."""
        gen_dir = self.collection_dir(cid) / manifest["dir"]
        out: dict[str, dict[str, np.ndarray]] = {}
        checks: dict[str, list[tuple[Path, np.ndarray, list[int]]]] = {}
        for key, ent in manifest["files"].items():
            col, _, part = key.rpartition("/")
            path = gen_dir / ent["file"]
            try:
                arr = map_npy(path, ent["dtype"], ent["tail"], ent["length"])
            except (KeyError, TypeError, ValueError) as exc:  # only a manifest without checksums
                raise StorageError(f"{gen_dir.parent / 'manifest.json'} is damaged (entry {key!r}: "
                                   f"{exc}); {RESTORE_HINT}") from None
            out.setdefault(col, {})[part] = arr
            if "crc" in ent and checksum.VERIFY:
                checks.setdefault(col, []).append((path, arr, ent["crc"]))
        return out, {col: column_verifier(items) for col, items in checks.items()}

    def load_deleted(self, cid: int, manifest: dict[str, Any]) -> np.ndarray:
        """The tombstones of a snapshot, verified: missing or damaged is a StorageError (rows
        deleted before the snapshot would come back)."""
        n = int(manifest["num_rows"])
        ent = manifest.get("deleted") or {"file": "deleted.npy"}
        path = self.collection_dir(cid) / manifest["dir"] / ent["file"]
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise StorageError(f"{path} (the tombstones of deleted rows) is missing; {RESTORE_HINT}") from None
        except (OSError, ValueError, EOFError) as exc:
            raise StorageError(f"{path} (the tombstones of deleted rows) is damaged ({exc}); "
                               f"{RESTORE_HINT}") from None
        if arr.dtype != np.bool_ or arr.ndim != 1 or len(arr) < n:
            raise StorageError(f"{path} (the tombstones of deleted rows) is damaged: {arr.dtype} "
                               f"{arr.shape}, expected {n} booleans; {RESTORE_HINT}")
        if "crc" in ent and checksum.VERIFY and checksum.first_bad_chunk(arr, ent["crc"]) is not None:
            raise StorageError(f"{path} (the tombstones of deleted rows) is damaged (checksum "
                               f"mismatch); {RESTORE_HINT}")
        return np.array(arr[:n], dtype=bool)

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
        fs.mkdir(gen_dir)
        fs.mkdir(cdir / "ext")
        files = {} if fresh else {k: dict(v) for k, v in manifest["files"].items()}  # crc lists are replaced, never mutated
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
                    ent = {"file": fname, "dtype": arr.dtype.str, "tail": list(arr.shape[1:]), "length": 0,
                           "crc": []}
                    (gen_dir / fname).unlink(missing_ok=True)
                path = gen_dir / ent["file"]
                row_bytes = np.dtype(ent["dtype"]).itemsize * int(np.prod(ent["tail"], dtype=np.int64))
                old_bytes = ent["length"] * row_bytes
                if "crc" not in ent:  # a snapshot written before checksums: record what is there
                    ent["crc"] = checksum.record_of_file(path, HEADER_BYTES, old_bytes)["crc"]
                    files[key] = ent
                if len(arr) == 0 and ent["length"] > 0:
                    continue  # nothing new for this part: leave its file alone
                # extended from the recorded checksums, so damage to old bytes is never blessed
                crc = checksum.extend(ent["crc"], old_bytes, arr)
                length = append_npy(path, ent["length"], arr)
                files[key] = {**ent, "length": length, "crc": crc}
        serial = 0 if fresh else int((manifest.get("deleted") or {}).get("serial", -1)) + 1
        deleted_name = f"deleted.{serial}.npy"  # a new name each time: the old manifest keeps its own
        deleted_crc = write_npy_atomic(gen_dir / deleted_name, deleted)
        new_manifest = {
            "format": MANIFEST_FORMAT,
            "generation": generation,
            "dir": gen_name,
            "num_rows": num_rows,
            "log_seq": log_seq,
            "files": files,
            "deleted": {"file": deleted_name, "serial": serial, "crc": deleted_crc},
            **extra,
        }
        # durability="process": the log entries this manifest covers reach the disk before it
        # does, so a power cut never leaves a manifest ahead of the log (whose sequence numbers
        # would then be handed out again and skipped at replay)
        self.sync_log()
        write_file_atomic(cdir / "manifest.json", manifest_bytes(new_manifest))
        if fresh:  # the old generation is no longer referenced
            for child in cdir.iterdir():
                if child.is_dir() and child.name.startswith("g") and child.name != gen_name:
                    shutil.rmtree(child, ignore_errors=True)
        for old in gen_dir.glob("deleted*.npy"):  # tombstones of older manifests
            if old.name != deleted_name:
                old.unlink(missing_ok=True)
        return new_manifest

    def remove_collection_files(self, cid: int) -> None:
        d = self.collection_dir(cid)
        if d is not None and d.exists():
            shutil.rmtree(d, ignore_errors=True)

    def dropped_ids(self) -> set[int]:
        with self._lock:
            try:
                return {int(r[0]) for r in self.conn.execute("SELECT cid FROM dropped")}
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return set()
                raise self.catalog_error(exc) from None
            except sqlite3.Error as exc:
                raise self.catalog_error(exc) from None

    def unknown_dirs(self, live_ids: set[int]) -> tuple[list[Path], list[Path]]:
        """Folders under ``collections/`` the catalog does not list: (those whose drop the
        catalog recorded, which are ours to delete; any other, which are not)."""
        if self.root is None or not (self.root / "collections").is_dir():
            return [], []
        dropped = self.dropped_ids()
        ours, foreign = [], []
        for child in sorted((self.root / "collections").iterdir()):
            if not (child.is_dir() and child.name.isdigit()) or int(child.name) in live_ids:
                continue  # only folders named like a collection's are ever ours
            (ours if int(child.name) in dropped else foreign).append(child)
        return ours, foreign

    def remove_orphan_dirs(self, live_ids: set[int]) -> None:
        """Delete folders of collections whose drop committed but whose files were not yet
        removed. Never a folder the catalog cannot prove is ours: an unknown folder (a damaged,
        replaced or emptied catalog) is a StorageError, and nothing is deleted."""
        if self.root is None or self.read_only:
            return
        ours, foreign = self.unknown_dirs(live_ids)
        if foreign:
            names = ", ".join(str(p.relative_to(self.root)) for p in foreign[:5])
            raise StorageError(
                f"the catalog {self.db_file} does not list {names}: the catalog may be damaged or "
                f"replaced. embedb deletes nothing it cannot prove it owns; {RESTORE_HINT}, or move "
                f"those folders out of the database directory if they are not needed")
        for child in ours:
            shutil.rmtree(child, ignore_errors=True)
