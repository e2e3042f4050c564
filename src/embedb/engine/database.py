"""The database: catalog of collections, partitions and aliases over one Storage.

``Database.open(path)`` takes the write lock (one writer process per database), loads the
catalog, maps each collection's latest snapshot and replays the log written after it. Opening
the same path for writing twice in one process returns the same shared instance (closed when
its last user closes it), as one Milvus Lite server serves every client of a path.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

from ..errors import (
    AliasNotFoundError,
    AlreadyExistsError,
    CollectionNotFoundError,
    DatabaseNotFoundError,
    ErrorCode,
    ForeignProcessError,
    ParamError,
    ReadOnlyError,
    SchemaError,
    StorageError,
)
from ..schema import CollectionSchema
from ..timestamptz import check_timezone
from .collection import (
    DEFAULT_NUM_PARTITIONS,
    DEFAULT_PARTITION,
    MAX_PARTITIONS,
    Collection,
    _check_name,
    now_ms,
)
from . import evolution, model_functions
from .checkpointer import Checkpointer
from .jsonvalues import check_setting
from .lock import WriteLock
from . import reader_load
from .storage import DURABILITY_LEVELS, SQLITE_NAME, Storage

CHECKPOINT_LOG_BYTES = 64 * 1024 * 1024  # checkpoint once the log tail passes this size
# an automatic checkpoint of at least this much log runs on the background thread
# (engine/checkpointer.py); a smaller one (a threshold set that low) is cheap and runs inline
BACKGROUND_CHECKPOINT_BYTES = 4 * 1024 * 1024
# the log may grow to this many thresholds while the background checkpoint catches up; past
# it a writer checkpoints inline (waiting for the one in flight), so the log stays bounded
BACKGROUND_LAG = 4
# a read-only open or refresh that races the writer (a checkpoint, a catalog change) reads again
# until one pass saw nothing move, for at most this many seconds; then a StorageError
READ_RETRY_S = 10.0
DEFAULT_DB = "default"
MAX_DATABASES = 64  # rootCoord.maxDatabaseNum of the Milvus server
_CONSISTENCY = {"strong": "Strong", "bounded": "Bounded", "session": "Session", "eventually": "Eventually",
                "customized": "Customized"}

# Lock order (docs/storage.md, "Threads and locks"): _open_lock, then one Database._lock
# (= each Collection._lock and IndexManager's spec lock; Storage._lock inside it), then at most
# one leaf lock: an IndexEntry.lock or fulltext._lock. Nothing holding a leaf lock takes another
# lock. Database._snapshot_lock (snapshot files) comes after Database._lock: a checkpoint under
# the database lock takes it inside; the background checkpointer takes it alone and, holding
# it, takes only Storage._lock. Reads copy a snapshot under Database._lock and compute without
# it (engine/readview.py).
_open_lock = threading.RLock()  # reentrant: a client's __del__ may close a database mid-open
_open_writers: dict[str, "Database"] = {}
_all_open: "weakref.WeakSet[Database]" = weakref.WeakSet()   # for the exit and fork hooks
_exit_hook_registered = False


class Database:
    """An embedded database at a directory (or in memory)."""

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, read_only: bool = False,
             durability: str = "fsync") -> "Database":
        """``durability``: "fsync" (a write call returns once it is on disk: survives a power
        cut) or "process" (once it is in the OS page cache: survives kill -9, not a power cut;
        see docs/storage.md). A second open of a path this process already writes shares its
        Database, which then keeps the stronger of the two levels."""
        if durability not in DURABILITY_LEVELS:
            raise ParamError(f"durability must be one of {', '.join(map(repr, DURABILITY_LEVELS))}, "
                             f"not {durability!r}")
        if path is None or str(path) == ":memory:":
            if read_only:
                raise ParamError("an in-memory database cannot be opened read-only")
            return cls(None, False, durability)
        root = Path(path).expanduser().absolute()
        if read_only:
            return cls(root, True, durability)
        key = os.path.realpath(root)
        with _open_lock:
            db = _open_writers.get(key)
            if db is not None and not db._closed:
                if durability == "fsync" and db.durability != "fsync":
                    with db._lock:  # the stronger level wins (its synced commit covers the rest)
                        db._storage.set_durability("fsync")
                db._users += 1
                return db
            db = cls(root, False, durability)
            _open_writers[key] = db
            return db

    def __init__(self, root: Path | None, read_only: bool, durability: str = "fsync"):
        self._lock = threading.RLock()
        self._pid = os.getpid()   # a handle works only in the process that opened it (fork)
        self._root = root
        self._read_only = read_only
        self._closed = False
        self._users = 1
        self._lock_file: WriteLock | None = None
        self._log_bytes = 0
        self._retry_at = 0  # after a failed automatic checkpoint: the log size to retry at
        self._checkpoint_failing = False  # reported, until a checkpoint succeeds again
        self._reported_in_pass = False
        self._snapshot_lock = threading.Lock()   # one checkpoint writes snapshot files at a time
        self._rewinds_at_load = 0   # a reader's: Storage.reader_rewinds() at its last load
        self._checkpointer = Checkpointer(self)
        if root is not None:
            if root.exists() and not root.is_dir():
                raise StorageError(f"{str(root)!r} exists and is not a database directory")
            if root.is_dir():  # an embedb database whose catalog is lost: say so, touch nothing
                Storage.refuse_lost_catalog(root, root / SQLITE_NAME)
            # only our own first files (an open interrupted before the catalog existed) may be there
            if root.is_dir() and not (root / SQLITE_NAME).exists() and \
                    {p.name for p in root.iterdir()} - {"LOCK", "collections"}:
                raise StorageError(
                    f"{str(root)!r} is a directory that is not an embedb database (for example a "
                    "Milvus Lite 3 database); use a new path"
                )
            if not read_only:
                if not root.parent.exists():
                    raise StorageError(f"the parent directory of {str(root)!r} does not exist")
                root.mkdir(exist_ok=True)
                self._lock_file = WriteLock(root)
                self._lock_file.acquire()
            elif not (root / SQLITE_NAME).exists():
                raise StorageError(f"{str(root)!r} is not an embedb database")
        try:
            self._storage = Storage(root, read_only)
            self._load_catalog()
            self._storage.set_durability(durability)
        except BaseException:
            if self._lock_file is not None:
                self._lock_file.release()
            raise
        _track(self)

    def _load_catalog(self) -> None:
        if self._read_only:
            collections = self._read_consistently()
        else:
            # databases first: collections read their database's properties (timezone) as they load
            self._databases = self._with_default(self._storage.load_databases())
            collections = self._read_catalog(self._storage.load_catalog())
        self._collections = collections
        by_id = {c.id: c.catalog_name for c in self._collections.values()}
        self._aliases: dict[str, str] = {a: by_id[cid] for a, cid in self._alias_ids.items() if cid in by_id}
        self._storage.remove_orphan_dirs(set(by_id))

    @staticmethod
    def _with_default(databases: dict[str, dict]) -> dict[str, dict]:
        return {DEFAULT_DB: {"properties": {}, "created_at": 0, "id": 1}, **databases}

    def _read_consistently(self) -> dict[str, Collection]:
        """A reader's load: the catalog, each collection's snapshot and the log after it, all
        of one moment of the writer (engine/reader_load.py says why). A pass that a checkpoint
        or a catalog change raced is read again (cheap: manifests, tombstones and the log
        appended since); the log is replayed once, after a pass found nothing moved. Passes
        that keep being raced for ``READ_RETRY_S`` seconds end in a StorageError, never in a
        mixed state. An error on files that did not move meanwhile is damage: raised at once.
        On a refresh, a collection whose catalog entry and generation did not change keeps its
        rows and replays only the entries after the ones it has."""
        storage = self._storage
        deadline = time.monotonic() + READ_RETRY_S
        pause = 0.001
        while True:
            before = self._disk_stamp()
            log = None
            try:
                catalog = (storage.load_databases(), storage.load_catalog())
                snapshots = {cid: reader_load.read_snapshot(storage, cid, split_key(key)[1])
                             for cid, key, _ in catalog[1][0]}
                log = reader_load.LogView(storage)
                moved = log.moved or any(reader_load.stale(storage, cid, snap) for cid, snap in snapshots.items()) \
                    or (storage.load_databases(), storage.load_catalog()) != catalog
                if not moved:
                    kept, self._databases = getattr(self, "_databases", None), self._with_default(catalog[0])
                    try:   # (collections read their database's properties as they load)
                        return self._load_readers_collections(catalog[1], snapshots, log)
                    except BaseException:
                        self._databases = kept   # a failed refresh keeps the state it had
                        raise
                why: BaseException | str = "a checkpoint or catalog change while it was read"
            except (FileNotFoundError, StorageError) as exc:
                if self._disk_stamp() == before:   # nothing moved: the files are damaged
                    raise
                why = exc
            finally:
                if log is not None:
                    log.release()
            if time.monotonic() >= deadline:
                detail = getattr(why, "message", None) or str(why)
                raise StorageError(
                    f"could not read a consistent state of the database {str(self._root)!r} in "
                    f"{READ_RETRY_S:g} s: the writer changed it during every read ({detail}); "
                    "open it (or refresh) again") from (why if isinstance(why, BaseException) else None)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _load_readers_collections(self, catalog: tuple, snapshots: dict[int, "reader_load.Snapshot"],
                                  log: "reader_load.LogView") -> dict[str, Collection]:
        cols, parts, aliases = catalog
        # a record the last load replayed and the writer cut back off (never acknowledged):
        # every collection loads again from its snapshot
        rewinds = self._storage.reader_rewinds()
        before = getattr(self, "_collections", {}) if rewinds == self._rewinds_at_load else {}
        collections: dict[str, Collection] = {}
        for cid, key, info in cols:
            snapshot, entry = snapshots[cid], (info, parts.get(cid, {}))
            coll = before.get(key)
            if coll is not None and coll.id == cid and coll._catalog_entry == entry and coll.can_catch_up(snapshot):
                coll._catch_up(snapshot, log.entries(cid, coll._applied_seq))
            else:
                db, name = split_key(key)
                coll = Collection(self, cid, name, info, parts.get(cid, {}))
                coll.db_name = db
                coll._load_from(snapshot, log.entries(cid, snapshot.log_seq))
                coll._catalog_entry = entry
            collections[key] = coll
        self._alias_ids = aliases
        self._rewinds_at_load = rewinds
        return collections

    def _disk_stamp(self) -> tuple:
        """What a writer changes under a reader's load (catalog, segment list, checkpoint
        records, manifest files), to tell a race from damage: equal stamps, nothing moved."""
        storage = self._storage
        try:
            catalog = (storage.load_databases(), storage.load_catalog())
            ids = [cid for cid, _, _ in catalog[1][0]]
            records = [storage.checkpoint_record(cid) for cid in ids]
            registry = storage._segment_registry()
        except StorageError as exc:
            return ("error", exc.message)
        manifests = []
        for cid in ids:
            try:
                st = os.stat(storage.collection_dir(cid) / "manifest.json")
                manifests.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                manifests.append(None)
        return catalog, records, registry, manifests

    def _read_catalog(self, catalog: tuple) -> dict[str, Collection]:
        cols, parts, aliases = catalog
        self._alias_ids = aliases
        collections: dict[str, Collection] = {}
        for cid, key, info in cols:
            db, name = split_key(key)
            coll = Collection(self, cid, name, info, parts.get(cid, {}))
            coll.db_name = db
            coll._load()
            collections[key] = coll
        return collections

    def refresh(self) -> None:
        """Read-only databases: pick up what the writer has committed since opening.
        A collection that did not change but for new log entries is kept and replays only
        those; any other is replaced (get collections again afterwards)."""
        with self._lock:
            self._check_open()
            if not self._read_only:
                return
            self._load_catalog()

    # ------------------------------------------------------------------ lifecycle
    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def durability(self) -> str:
        """"fsync" or "process": what an acknowledged write call survives (docs/storage.md)."""
        return self._storage.durability

    @property
    def path(self) -> Path | None:
        return self._root

    def close(self) -> None:
        """Checkpoint every collection and release the write lock (once its last user closes
        it). In another process than the one that opened it (a fork child) it only detaches:
        the files, the write lock and the SQLite connection stay the parent's."""
        if self._pid != os.getpid():
            self._closed = True
            return
        with _open_lock:
            if self._closed:
                return
            self._users -= 1
            if self._users > 0:
                return
            self._close_now()

    def _close_now(self) -> None:
        """Checkpoint and release everything, whoever else uses it (caller holds _open_lock)."""
        with self._lock:
            if self._closed:
                return
            try:
                if not self._read_only:  # a failed checkpoint is a warning: the log keeps every write
                    self._checkpoint_all(report=True)
            finally:
                self._closed = True
                self._checkpointer.stop()
                with self._snapshot_lock:   # a background checkpoint in flight ends first
                    self._storage.close()
                if self._lock_file is not None:
                    self._lock_file.release()
                if self._root is not None and not self._read_only:
                    key = os.path.realpath(self._root)
                    if _open_writers.get(key) is self:
                        del _open_writers[key]

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_process(self) -> None:
        """A handle inherited through fork() must not be used: its writes would go through the
        parent's SQLite connection and write lock and be lost or corrupt the parent's state."""
        if self._pid != os.getpid():
            where = "in memory" if self._root is None else f"at {str(self._root)!r}"
            raise ForeignProcessError(
                f"this handle of the database {where} was opened by process {self._pid} and cannot "
                f"be used in process {os.getpid()} (a fork() child, e.g. a multiprocessing worker): "
                "open the database in the child process instead (MilvusClient(path) or "
                "Database.open(path); read_only=True while another process writes), or start "
                "workers with the 'spawn' or 'forkserver' method")

    def _check_open(self) -> None:
        self._check_process()
        if self._closed:
            raise StorageError("the database is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self._read_only:
            raise ReadOnlyError(f"database {str(self._root)!r} was opened read-only")

    def _after_write(self, payload_bytes: int) -> None:
        """After a write committed: checkpoint when the log tail is long. The write is stored
        whatever happens here, so a failed checkpoint never fails it: it is reported once and
        retried after another quarter of the threshold."""
        self._log_bytes += payload_bytes
        due = max(CHECKPOINT_LOG_BYTES, self._retry_at)
        if self._log_bytes < due:
            return
        if self._root is not None and self._log_bytes >= BACKGROUND_CHECKPOINT_BYTES \
                and self._log_bytes < BACKGROUND_LAG * due:
            self._checkpointer.request()   # off the caller's path (engine/checkpointer.py)
            return
        self._checkpoint_all(report=True)

    def _background_checkpoint(self) -> None:
        """One pass of the background checkpointer: snapshot jobs under the database lock,
        files written without it (see engine/checkpointer.py)."""
        failure: BaseException | None = None
        jobs: list = []
        with self._lock:
            if self._closed or self._read_only or self._log_bytes < max(CHECKPOINT_LOG_BYTES, self._retry_at):
                return
            covered = self._log_bytes
            try:   # a damaged column fails its first use here: reported, retried later
                jobs = [job for job in (c._snapshot_job() for c in list(self._collections.values())) if job]
            except Exception as exc:
                failure = exc
        try:
            if failure is not None:
                raise failure
            with self._snapshot_lock:
                if self._closed:
                    return
                for job in jobs:
                    job.collection._store_job(job)
        except Exception as exc:   # the log still holds every write: report, retry later
            failure = exc
        with self._lock:
            if self._closed:
                return
            if failure is not None:
                self._retry_at = self._log_bytes + CHECKPOINT_LOG_BYTES // 4
                self._report_checkpoint_failure(failure)
                return
            self._log_bytes = max(0, self._log_bytes - covered)
            self._retry_at = 0
            self._checkpoint_failing = False
        # without the snapshot lock: the copy may wait (retrying) for a reader of another
        # process; close() stops it through the storage's own leaf lock
        if not self._closed:
            self._storage.copy_back_wal()

    def _checkpoint_all(self, report: bool = False) -> None:
        """Checkpoint every collection. ``report``: a failure is a warning (once until a
        checkpoint succeeds again) instead of an exception; the log keeps every write."""
        self._reported_in_pass = False
        try:
            for coll in list(self._collections.values()):
                coll._checkpoint()
        except Exception as exc:
            if not report:
                raise
            self._retry_at = self._log_bytes + CHECKPOINT_LOG_BYTES // 4
            self._report_checkpoint_failure(exc)
            return
        self._checkpoint_failing = self._reported_in_pass
        self._retry_at = 0
        self._log_bytes = 0
        self._storage.compact_sqlite()

    def _report_checkpoint_failure(self, exc: BaseException, what: str | None = None) -> None:
        """Warn once (until a checkpoint succeeds in full again) that a checkpoint, or saving
        an index's or posting lists' files in it, failed."""
        self._reported_in_pass = True
        if not self._checkpoint_failing:
            self._checkpoint_failing = True
            what = what or (f"checkpoint of {str(self._root)!r} failed ({getattr(exc, 'message', exc)}); every acknowledged "
                            "write is kept in the write log and the checkpoint is retried later")
            warnings.warn(f"embedb: {what}", RuntimeWarning, stacklevel=5)

    def flush(self, name: str | None = None, *, db: str = DEFAULT_DB) -> None:
        """Make everything durable and checkpoint (one collection, or all)."""
        with self._lock:
            self._check_open()
            if self._read_only:
                return
            if name is None:
                self._checkpoint_all()
            else:
                self.get_collection(name, db=db)._checkpoint()

    # ------------------------------------------------------------------ collections
    def create_collection(self, name: str, schema: CollectionSchema, *, properties: dict | None = None,
                          consistency_level: str = "Bounded", num_partitions: int | None = None,
                          db: str = DEFAULT_DB) -> Collection:
        with self._lock:
            self._check_writable()
            self._check_database(db)
            _check_name(name, "collection")
            if not isinstance(schema, CollectionSchema):
                raise SchemaError(f"schema must be a CollectionSchema, got {type(schema).__name__}")
            key = catalog_key(db, name)
            if key in self._collections:
                raise AlreadyExistsError(f"collection {name!r} already exists")
            if key in self._aliases:
                raise AlreadyExistsError(f"collection name [{name}] conflicts with an existing alias, "
                                         f"please choose a unique name (it is an alias of collection "
                                         f"{split_key(self._aliases[key])[1]!r})")
            self._check_collection_quota(db)
            schema = CollectionSchema.from_dict(schema.to_dict())  # our own copy
            schema.verify()
            # TEXTEMBEDDING: load each model once, check its dim, keep its identity in meta
            function_models = model_functions.prepare(schema)
            check_setting(dict(properties or {}), "collection properties")  # catalog JSON
            for f in schema.fields:  # names reach file names and filters: Milvus rules
                _check_name(f.name, "field")
            level = _CONSISTENCY.get(str(consistency_level).lower())
            if level is None:
                raise ParamError(f"unknown consistency_level {consistency_level!r}; use one of {sorted(_CONSISTENCY.values())}")
            if schema.partition_key_field is not None:
                k = DEFAULT_NUM_PARTITIONS if num_partitions is None else num_partitions
                if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_PARTITIONS:
                    raise ParamError(f"num_partitions must be an integer in [1, {MAX_PARTITIONS}], got {k!r}")
                partitions = {f"{DEFAULT_PARTITION}_{i}": i for i in range(k)}
                num_partitions = k
            else:
                if num_partitions not in (None, 0):
                    raise ParamError("num_partitions needs a partition key field in the schema")
                partitions = {DEFAULT_PARTITION: 0}
                num_partitions = None
            props = evolution.checked_properties(properties)
            db_tz = self.database_properties(db).get("timezone")
            if db_tz and "timezone" not in props:  # as Milvus: the database's zone when created
                props["timezone"] = db_tz
            info = {
                "schema": schema.to_dict(),
                "properties": props,  # strings, as pymilvus sends
                "created_at": now_ms(),
                "consistency_level": level,
                "num_partitions": num_partitions,
                "loaded": False,
                "meta": {model_functions.META_KEY: function_models} if function_models else {},
                "next_pid": len(partitions),
            }
            storage = self._storage
            with storage.tx() as c:
                cid = storage.add_collection(c, key, info)
                for pname, pid in partitions.items():
                    storage.add_partition(c, cid, pname, pid)
            coll = Collection(self, cid, name, info, partitions)
            coll.db_name = db
            self._collections[key] = coll
            return coll

    def peek_collection(self, name_or_alias: str) -> Collection | None:
        """The collection of the default database named (or aliased) ``name_or_alias``, read
        without the lock (one dict read is atomic), or None (also when closed). For the search
        fast path, which falls back to :meth:`get_collection` on None and takes a snapshot
        under the lock (with the process check) before it reads anything."""
        if self._closed or "/" in name_or_alias:   # "/": a key of another database's catalog
            return None
        collections = self._collections
        coll = collections.get(name_or_alias)
        if coll is None:
            target = self._aliases.get(name_or_alias)
            coll = None if target is None else collections.get(target)
        return coll

    def get_collection(self, name_or_alias: str, *, db: str = DEFAULT_DB) -> Collection:
        with self._lock:
            self._check_open()
            key = catalog_key(db, name_or_alias)
            coll = self._collections.get(key)
            if coll is None and key in self._aliases:
                coll = self._collections.get(self._aliases[key])
            if coll is None:
                raise CollectionNotFoundError(f"collection {name_or_alias!r} does not exist")
            return coll

    def has_collection(self, name: str, *, db: str = DEFAULT_DB) -> bool:
        with self._lock:
            self._check_open()
            return catalog_key(db, name) in self._collections

    def list_collections(self, *, db: str = DEFAULT_DB) -> list[str]:
        with self._lock:
            self._check_open()
            return sorted(c.name for c in self._collections.values() if c.db_name == db)

    def drop_collection(self, name: str, *, db: str = DEFAULT_DB) -> None:
        """Drop a collection with its data, partitions and aliases (no-op if absent)."""
        with self._lock:
            self._check_writable()
            key = catalog_key(db, name)
            coll = self._collections.get(key)
            if coll is None:
                return
            storage = self._storage
            with storage.tx() as c:
                storage.remove_collection(c, coll.id)
            del self._collections[key]
            self._aliases = {a: n for a, n in self._aliases.items() if n != key}
            coll.generation += 1
            coll._reset_rows()
            with self._snapshot_lock:   # after a background checkpoint of it, which then stops
                coll._dropped = True
                storage.remove_collection_files(coll.id)

    def rename_collection(self, old: str, new: str, *, db: str = DEFAULT_DB,
                          new_db: str | None = None) -> None:
        """Rename a collection, possibly into another database (``new_db``; a collection with
        aliases cannot move, as on the server)."""
        with self._lock:
            self._check_writable()
            new_db = db if not new_db else new_db
            self._check_database(new_db)
            coll = self.get_collection_strict(old, db=db)
            _check_name(new, "collection")
            old_key, new_key = catalog_key(db, old), catalog_key(new_db, new)
            if new_key in self._collections or new_key in self._aliases:
                raise AlreadyExistsError(f"collection or alias {new!r} already exists")
            if new_db != db:
                if any(n == old_key for n in self._aliases.values()):
                    raise ParamError("fail to rename db name, must drop all aliases of this collection "
                                     "before rename")
                self._check_collection_quota(new_db)
            storage = self._storage
            with storage.tx() as c:
                storage.save_collection(c, coll.id, new_key, coll._info())
            del self._collections[old_key]
            coll.name, coll.db_name = new, new_db
            self._collections[new_key] = coll
            self._aliases = {a: (new_key if n == old_key else n) for a, n in self._aliases.items()}

    def get_collection_strict(self, name: str, *, db: str = DEFAULT_DB) -> Collection:
        """A collection by its own name (not an alias)."""
        coll = self._collections.get(catalog_key(db, name))
        if coll is None:
            raise CollectionNotFoundError(f"collection {name!r} does not exist")
        return coll

    # ------------------------------------------------------------------ aliases
    def create_alias(self, collection: str, alias: str, *, db: str = DEFAULT_DB) -> None:
        with self._lock:
            self._check_writable()
            coll = self.get_collection_strict(collection, db=db)
            _check_name(alias, "alias")
            key = catalog_key(db, alias)
            if key in self._collections:
                raise AlreadyExistsError(f"{alias!r} is a collection name and cannot be an alias")
            if key in self._aliases:
                raise AlreadyExistsError(f"alias {alias!r} already exists (for collection "
                                         f"{split_key(self._aliases[key])[1]!r})")
            with self._storage.tx() as c:
                self._storage.set_alias(c, key, coll.id)
            self._aliases[key] = coll.catalog_name

    def drop_alias(self, alias: str, *, db: str = DEFAULT_DB) -> None:
        """Drop an alias (no-op if absent, as on the server)."""
        with self._lock:
            self._check_writable()
            key = catalog_key(db, alias)
            if key not in self._aliases:
                return
            with self._storage.tx() as c:
                self._storage.remove_alias(c, key)
            del self._aliases[key]

    def alter_alias(self, collection: str, alias: str, *, db: str = DEFAULT_DB) -> None:
        with self._lock:
            self._check_writable()
            coll = self.get_collection_strict(collection, db=db)
            key = catalog_key(db, alias)
            if key not in self._aliases:
                raise AliasNotFoundError(f"alias {alias!r} does not exist")
            with self._storage.tx() as c:
                self._storage.set_alias(c, key, coll.id)
            self._aliases[key] = coll.catalog_name

    def describe_alias(self, alias: str, *, db: str = DEFAULT_DB) -> dict[str, str]:
        with self._lock:
            self._check_open()
            key = catalog_key(db, alias)
            if key not in self._aliases:
                raise AliasNotFoundError(f"alias {alias!r} does not exist")
            return {"alias": alias, "collection_name": split_key(self._aliases[key])[1]}

    def list_aliases(self, collection: str | None = None, *, db: str = DEFAULT_DB) -> list[str]:
        with self._lock:
            self._check_open()
            if collection:
                target = self.get_collection_strict(collection, db=db).catalog_name
                return sorted(split_key(a)[1] for a, n in self._aliases.items() if n == target)
            return sorted(name for d, name in map(split_key, self._aliases) if d == db)

    # ------------------------------------------------------------------ databases
    def namespace(self, db: str = DEFAULT_DB) -> "Namespace":
        """This database's catalog seen from one Milvus database: the collection and alias
        methods without their ``db=`` argument."""
        return Namespace(self, db)

    def _check_database(self, name: str) -> None:
        if name not in self._databases:
            raise DatabaseNotFoundError(f"database not found[database={name}]")

    def _check_collection_quota(self, db: str) -> None:
        """``database.max.collections``, as the server enforces it at create time."""
        limit = self._databases[db]["properties"].get("database.max.collections")
        try:
            limit = int(limit) if limit is not None else None
        except ValueError:
            return
        if limit is not None and limit >= 0 and \
                sum(c.db_name == db for c in self._collections.values()) >= limit:
            raise ParamError(f"exceeded the limit number of collections[dbName={db}][limit={limit}]",
                             code=ErrorCode.ALREADY_EXISTS)

    def create_database(self, name: str, properties: dict[str, str] | None = None) -> None:
        with self._lock:
            self._check_writable()
            check_database_name(name)
            if name in self._databases:
                raise AlreadyExistsError(f"database already exist: {name}")
            if len(self._databases) >= MAX_DATABASES:
                raise ParamError(f"database number ({len(self._databases)}) exceeds max configuration "
                                 f"({MAX_DATABASES})", code=ErrorCode.ALREADY_EXISTS)
            info = {"properties": dict(properties or {}), "created_at": now_ms(),
                    "id": max(d.get("id", 1) for d in self._databases.values()) + 1}
            with self._storage.tx() as c:
                self._storage.save_database(c, name, info)
            self._databases[name] = info

    def drop_database(self, name: str) -> None:
        """Drop an empty database; a missing one is not an error (as the server since 2.6.6)."""
        with self._lock:
            self._check_writable()
            check_database_name(name)
            if name == DEFAULT_DB:
                raise ParamError("can not drop default database")
            if name not in self._databases:
                return
            if any(c.db_name == name for c in self._collections.values()):
                raise ParamError(f"database:{name} not empty, must drop all collections before drop database",
                                 code=ErrorCode.ALREADY_EXISTS)
            with self._storage.tx() as c:
                self._storage.remove_database(c, name)
            del self._databases[name]

    def has_database(self, name: str) -> bool:
        with self._lock:
            self._check_open()
            return name in self._databases

    def list_databases(self) -> list[str]:
        """``default`` first, then the others in the order they were created (as the server)."""
        with self._lock:
            self._check_open()
            return sorted(self._databases, key=lambda n: (n != DEFAULT_DB, self._databases[n].get("id", 0), n))

    def database_properties(self, name: str = DEFAULT_DB) -> dict[str, Any]:
        """The properties of a database ({} for a missing one); read by its collections
        (e.g. ``timezone``)."""
        info = self.__dict__.get("_databases", {}).get(name)
        return dict(info["properties"]) if info else {}

    def describe_database(self, name: str) -> dict[str, Any]:
        """``{"name", "id", "created_at", "properties"}`` of a database."""
        with self._lock:
            self._check_open()
            self._check_database(name)
            info = self._databases[name]
            return {"name": name, "id": info.get("id", 1), "created_at": info.get("created_at", 0),
                    "properties": dict(info["properties"])}

    def alter_database_properties(self, name: str, properties: dict[str, str] | None = None,
                                  delete_keys: list[str] | None = None) -> None:
        with self._lock:
            self._check_writable()
            self._check_database(name)
            if not properties and not delete_keys:
                raise ParamError("alter database requires either properties or deletekeys to modify or "
                                 "delete keys, both cannot be empty", code=ErrorCode.ALREADY_EXISTS)
            if properties and "timezone" in properties:
                check_timezone(properties["timezone"])
            info = dict(self._databases[name])
            props = dict(info["properties"])
            props.update(properties or {})
            for key in delete_keys or ():
                props.pop(key, None)
            info["properties"] = props
            with self._storage.tx() as c:
                self._storage.save_database(c, name, info)
            self._databases[name] = info

    def __repr__(self) -> str:
        where = "memory" if self._root is None else str(self._root)
        return f"Database({where!r}, read_only={self._read_only})"


# ---------------------------------------------------------------------------------------------
# process lifetime: interpreter exit and fork
def _track(db: Database) -> None:
    global _exit_hook_registered
    _all_open.add(db)
    if not _exit_hook_registered:   # registered on first open: importing embedb stays inert
        _exit_hook_registered = True
        atexit.register(_close_all_at_exit)


def _close_all_at_exit() -> None:
    """Close what the program left open while the interpreter is still whole (atexit runs
    before modules are torn down), so the last checkpoint and the lock release run normally.
    A database a fork child inherited is the parent's: left alone."""
    pid = os.getpid()
    for db in list(_all_open):
        if db._pid != pid or db._closed:
            continue
        try:
            with _open_lock:
                db._close_now()
        except Exception:  # noqa: BLE001 - the log is intact: the next open replays it
            pass


def _after_fork_in_child() -> None:
    """In a fork child: inherited handles refuse every call (``_check_process``), so give them
    fresh locks (a parent thread may have held one at the fork, which would hang the child
    forever) and forget them as shared writers, so that opening the path in the child makes a
    handle of its own. The inherited LOCK file descriptor is closed without unlocking: the lock
    is the parent's and stays held by it; the child just stops keeping it alive.

    faiss runs on GNU OpenMP (libgomp), which is not fork-safe: once the forking thread has
    run a parallel region, its thread pool names threads the child does not have, and the
    child's next parallel region on that thread waits for them forever. So the child runs
    faiss on one OpenMP thread (a team of one never touches the pool). faiss is not imported
    here: a process that never loaded it has no pool."""
    _single_openmp_thread()
    _renew_module_locks()
    global _open_lock
    _open_lock = threading.RLock()
    _open_writers.clear()
    for db in list(_all_open):
        db._lock = threading.RLock()
        db._snapshot_lock = threading.Lock()
        for coll in db.__dict__.get("_collections", {}).values():
            coll._lock = db._lock
            manager = coll.extensions.get("indexes")
            if manager is not None:
                manager._lock = db._lock
                for entry in list(manager._entries.values()):
                    entry.lock = threading.RLock()
        lock_file = db._lock_file
        if lock_file is not None and lock_file._fd is not None:
            fd, lock_file._fd = lock_file._fd, None
            try:
                os.close(fd)
            except OSError:
                pass


# module-level locks of the layers the engine uses (engine/fulltext.py renews its own): a parent
# thread inside one at the fork (verifying a large column's checksums, checking a model's
# identity, compiling a filter) would leave it locked forever in the child, and the child's own
# database would hang on first use. Looked up, not imported: a module not loaded has no lock.
_FORK_RENEWED_LOCKS = (
    ("embedb.engine.columns", "_RESOLVE_LOCK"),
    ("embedb.engine.filter_cache", "_INIT_LOCK"),
    ("embedb.engine.jsonvalues", "_deep_lock"),
    ("embedb.engine.model_functions", "_check_lock"),
    ("embedb.expr.compiler", "_CACHE_LOCK"),
    ("embedb.geometry", "_CACHE_LOCK"),
    ("embedb.text.analyzer", "_cache_lock"),
)


def _renew_module_locks() -> None:
    for module_name, attr in _FORK_RENEWED_LOCKS:
        module = sys.modules.get(module_name)
        old = getattr(module, attr, None)
        if old is not None:   # a fresh, unlocked lock of the same kind
            setattr(module, attr, threading.RLock() if isinstance(old, _RLOCK_TYPE) else threading.Lock())
    # the columns' page prefaulter: its condition is taken by every append of a large column
    # (its own pid check is inside it) and its thread is the parent's
    prefaulter = getattr(sys.modules.get("embedb.engine.columns"), "_prefaulter", None)
    if prefaulter is not None and hasattr(prefaulter, "_cv"):
        prefaulter._cv = threading.Condition(threading.Lock())
        prefaulter._jobs = []
        prefaulter._thread = None


_RLOCK_TYPE = type(threading.RLock())


def _single_openmp_thread() -> None:
    faiss = sys.modules.get("faiss")
    set_threads = getattr(faiss, "omp_set_num_threads", None)
    if set_threads is not None:
        set_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ---------------------------------------------------------------------------------------------
# databases: catalog keys and the per-database view
def catalog_key(db: str, name: str) -> str:
    """The name a collection or alias of database ``db`` is stored under in the catalog."""
    return name if db == DEFAULT_DB else f"{db}/{name}"


def split_key(key: str) -> tuple[str, str]:
    db, sep, name = key.partition("/")
    return (db, name) if sep else (DEFAULT_DB, key)


def check_database_name(name: Any) -> None:
    """Milvus's rules for database names (error code 802)."""
    if not isinstance(name, str) or not name.strip():
        raise ParamError(f"database name should not be empty: invalid database name[database={name}]",
                         code=ErrorCode.DATABASE_INVALID_NAME)
    if len(name) > 255:
        raise ParamError(f"the length of a database name must be less than 255 characters: invalid "
                         f"database name[database={name}]", code=ErrorCode.DATABASE_INVALID_NAME)
    if not (name[0].isascii() and (name[0].isalpha() or name[0] == "_")):
        raise ParamError(f"the first character of a database name must be an underscore or letter: "
                         f"invalid database name[database={name}]", code=ErrorCode.DATABASE_INVALID_NAME)
    if not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
        raise ParamError(f"database name can only contain numbers, letters and underscores: invalid "
                         f"database name[database={name}]", code=ErrorCode.DATABASE_INVALID_NAME)


class Namespace:
    """The collection and alias methods of a :class:`Database` bound to one Milvus database
    (``db.namespace("sales").list_collections()``); everything else is the database's."""

    _BOUND = frozenset({"create_collection", "get_collection", "has_collection", "list_collections",
                        "drop_collection", "rename_collection", "get_collection_strict", "create_alias",
                        "drop_alias", "alter_alias", "describe_alias", "list_aliases", "flush"})

    def __init__(self, database: Database, db: str) -> None:
        self.database = database
        self.db_name = db

    def get_collection(self, name_or_alias: str, *, db: str | None = None) -> Collection:
        # every client call looks its collection up: a plain method, not a __getattr__ closure
        return self.database.get_collection(name_or_alias, db=self.db_name if db is None else db)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.database, name)
        if name in self._BOUND:
            db = self.db_name

            def bound(*args: Any, **kwargs: Any) -> Any:
                kwargs.setdefault("db", db)
                return attr(*args, **kwargs)

            return bound
        return attr
