"""A collection: columnar rows with tombstones, a primary-key index, partitions and the log.

Row numbers are append order (see docs/dev/engine-api.md). Every write is validated as a whole
batch, written to the log in one SQLite transaction, then applied to the in-memory columns.
"""

from __future__ import annotations

import re
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from ..errors import (
    AlreadyExistsError,
    DataError,
    FilterError,
    ParamError,
    PartitionNotFoundError,
    StorageError,
)
from ..schema import CollectionSchema, DataType, FieldSchema
from ..timestamptz import effective_timezone, format_micros
from . import codec, evolution, model_functions
from .columns import META_SPEC, PARTITION_SPEC, Column, ColumnSpec, GrowArray, spec_for_field, values_from_parts
from .jsonvalues import copy_out
from .evolution import INSERT_TS, INSERT_TS_SPEC
from .pkindex import PKIndex
from .reader_load import Snapshot, read_snapshot
from .rows import META, ColumnBatch, build_batch, dedupe_last_wins, new_auto_ids

if TYPE_CHECKING:  # pragma: no cover
    import scipy.sparse as sp

    from .database import Database

PARTITION = "$partition"
DEFAULT_PARTITION = "_default"
DEFAULT_NUM_PARTITIONS = 16
MAX_PARTITIONS = 1024
TRIM_CHUNK_BYTES = 1024 * 1024  # a background checkpoint trims the log this much at a time
_BYTES_VECTORS = (DataType.BINARY_VECTOR, DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR, DataType.INT8_VECTOR)


class CollectionSource:
    """The ColumnSource of a collection (see ``embedb.expr``): columns over all row numbers."""

    def __init__(self, collection: "Collection"):
        self._c = collection

    @property
    def num_rows(self) -> int:
        return self._c.num_rows_total

    def column(self, name: str):
        from ..expr import Column as ExprColumn

        c = self._c
        if name == META:
            if META not in c._columns:
                raise FilterError(f"collection {c.name!r} has no dynamic field")
            return ExprColumn(c._columns[META].values, None)
        f = c.schema.field(name)
        if f is None or f.dtype.is_vector:
            raise FilterError(f"field {name!r} cannot be used in a filter of collection {c.name!r}")
        col = c._columns[name]
        return ExprColumn(col.values, col.valid)

    @property
    def timezone(self) -> str:
        """The zone naive TIMESTAMPTZ literals of a filter are read in."""
        return self._c.timezone

    def geometries(self, name: str):
        """Parsed shapely geometries of GEOMETRY column ``name`` (cached across filters)."""
        from ..geometry import cached_geometries

        c = self._c
        return cached_geometries(c.extensions, name, c.generation, c._columns[name].values)

    def string_has_nul(self, name: str) -> bool:
        """Whether VARCHAR column ``name`` holds a NUL character (cached across filters: NumPy's
        string kernels are inexact on NULs, see expr/strings.py)."""
        from ..expr.strings import cached_has_nul

        c = self._c
        return cached_has_nul(c.extensions, name, c.generation, c._columns[name].values)

    def text_match(self, field: str, query: str, minimum_should_match: int) -> np.ndarray:
        from . import fulltext

        return fulltext.text_match(self._c, field, query, minimum_should_match)

    def phrase_match(self, field: str, phrase: str, slop: int) -> np.ndarray:
        from . import fulltext

        return fulltext.phrase_match(self._c, field, phrase, slop)


class Collection:
    """One collection of a Database; all methods are thread-safe (the database's RLock)."""

    db_name = "default"  # the Milvus database it belongs to (set by Database)
    # the tombstone buffer a read view holds: copied before the next delete writes to it (set
    # by ReadView; not reset with the rows, so a truncate that fails and restores them keeps it)
    _deleted_shared: np.ndarray | None = None
    _dropped = False  # set by drop_collection (under the snapshot lock): no checkpoint writes it again
    # a reader's: the catalog entry (info, partitions) it was loaded from; a refresh that finds
    # the same one keeps the collection and replays only the entries after what it has
    _catalog_entry: tuple | None = None

    @property
    def catalog_name(self) -> str:
        """The name it is stored under in the catalog ("<db>/<name>" outside "default")."""
        return self.name if self.db_name == "default" else f"{self.db_name}/{self.name}"

    def __init__(self, db: "Database", cid: int, name: str, info: dict[str, Any], partitions: dict[str, int]):
        self._db = db
        self._lock = db._lock
        self.id = cid
        self.name = name
        self.schema = CollectionSchema.from_dict(info["schema"])
        self.properties: dict[str, Any] = dict(info.get("properties") or {})
        self.created_at: int = int(info["created_at"])
        self.consistency_level: str = info.get("consistency_level", "Bounded")
        self.num_partitions: int | None = info.get("num_partitions")
        self.meta: dict[str, Any] = info.get("meta") or {}
        self._loaded: bool = bool(info.get("loaded", False))
        self._next_pid: int = int(info.get("next_pid", max(partitions.values(), default=-1) + 1))
        self._partitions: dict[str, int] = dict(partitions)  # name -> partition id
        self.extensions: dict[str, Any] = {}
        self.checkpoint_hooks: list[Callable[[Path], None]] = []
        self.generation = 0
        self._source = CollectionSource(self)
        pk = self.schema.primary_field
        self._pk_name = pk.name
        self._pk_is_str = pk.dtype == DataType.VARCHAR
        self._specs: dict[str, ColumnSpec] = {f.name: spec_for_field(f) for f in self.schema.fields}
        if self.schema.enable_dynamic_field:
            self._specs[META] = META_SPEC
        self._specs[PARTITION] = PARTITION_SPEC
        self._specs[INSERT_TS] = INSERT_TS_SPEC  # insert time per row, for collection.ttl.seconds
        self._reset_rows()
        self._manifest: dict[str, Any] | None = None
        self._ext_files: dict[str, Any] = {}  # checksums of extension files (in the manifest)
        self._ext_legacy = False  # the manifest predates them: its extension files are trusted
        self._persisted_rows = 0
        self._applied_seq = 0
        self._dirty = False
        self._last_auto_id: int | None = None

    def _reset_rows(self) -> None:
        self._columns: dict[str, Column] = {name: Column(spec) for name, spec in self._specs.items()}
        self._deleted = GrowArray(np.bool_)
        self._n = 0
        self._live = 0
        self._pk_index: PKIndex | None = None

    # ------------------------------------------------------------------ catalog facts
    def _info(self) -> dict[str, Any]:
        return {
            "schema": self.schema.to_dict(),
            "properties": self.properties,
            "created_at": self.created_at,
            "consistency_level": self.consistency_level,
            "num_partitions": self.num_partitions,
            "loaded": self._loaded,
            "meta": self.meta,
            "next_pid": self._next_pid,
        }

    def _save_info(self) -> None:
        self._db._check_writable()
        with self._db._storage.tx() as c:
            self._db._storage.save_collection(c, self.id, self.catalog_name, self._info())

    def save_meta(self) -> None:
        """Persist ``meta`` (durable and atomic when this returns)."""
        with self._lock:
            self._save_info()

    @property
    def data_dir(self) -> Path | None:
        d = self._db._storage.collection_dir(self.id)
        if d is None:
            return None
        ext = d / "ext"
        if not self._db.read_only:
            ext.mkdir(parents=True, exist_ok=True)
        return ext

    @property
    def source(self) -> CollectionSource:
        return self._source

    def read_view(self, need_pk: bool = False) -> "ReadView":
        """A snapshot of the rows as they are now, read without the database lock (see
        ``engine/readview.py``). ``need_pk``: include the primary-key index (ids, ordering)."""
        with self._lock:
            self._db._check_process()
            return _readview().ReadView(self, need_pk)

    @property
    def num_rows_total(self) -> int:
        return self._n

    @property
    def timezone(self) -> str:
        """The IANA zone of TIMESTAMPTZ reads and naive writes: the call's ``timezone=``, else
        the collection's ``timezone`` property, else the database's, else UTC."""
        db_props = self._db.database_properties(self.db_name)
        db_tz = db_props.get("timezone") if isinstance(db_props, dict) else None
        return effective_timezone(self.properties.get("timezone"), db_tz)

    @property
    def num_rows(self) -> int:
        return self._live

    # ------------------------------------------------------------------ loading from disk
    def _load(self) -> None:
        """Map the latest snapshot and replay the log written after it (the writer's open; a
        reader's goes through engine/reader_load.py and ``_load_from``)."""
        storage = self._db._storage
        self._load_snapshot(read_snapshot(storage, self.id, self.name))
        self._replay(storage.log_entries(self.id, self._applied_seq))

    def _load_from(self, snapshot: Snapshot, entries: Iterable[tuple[int, bytes]]) -> None:
        """A reader's load: a snapshot and the log entries after it, both already read."""
        self._load_snapshot(snapshot)
        self._replay(entries)

    def _catch_up(self, snapshot: Snapshot, entries: Iterable[tuple[int, bytes]]) -> None:
        """A reader's refresh of this collection as it stands: replay the entries after what it
        has applied. Only when ``snapshot`` (the newer stored one) is of its generation and
        covers no more than it has applied (``can_catch_up``)."""
        self._manifest = snapshot.manifest   # its extension files' checksums are the current ones
        self._ext_files = dict((snapshot.manifest or {}).get("ext") or {})
        self._replay(entries)

    def can_catch_up(self, snapshot: Snapshot) -> bool:
        return snapshot.generation == self.generation and snapshot.log_seq <= self._applied_seq

    def _load_snapshot(self, snapshot: Snapshot) -> None:
        manifest = snapshot.manifest
        self._reset_rows()
        self._ext_files = dict((manifest or {}).get("ext") or {})
        self._ext_legacy = manifest is not None and "ext" not in manifest
        if manifest is not None:
            n = int(manifest["num_rows"])
            parts = snapshot.parts
            for name, spec in self._specs.items():
                self._columns[name] = Column.from_parts(spec, parts[name], n, snapshot.verifiers.get(name)) \
                    if name in parts else evolution.filled_column(self, name, n)  # added since
            if self._specs.keys() - parts.keys():
                self._dirty = True  # store the filled columns at the next checkpoint
            deleted = snapshot.deleted
            self._deleted = GrowArray(np.bool_, base=deleted)
            self._n = n
            self._live = n - int(np.count_nonzero(deleted))
            self.generation = int(manifest["generation"])
            self._applied_seq = int(manifest["log_seq"])
            self._persisted_rows = n
        self._manifest = manifest

    def _replay(self, entries: Iterable[tuple[int, bytes]]) -> None:
        db_file = self._db._storage.db_file
        for seq, payload in entries:
            where = f"write log entry {seq} of collection {self.name!r} in {db_file}"
            self._apply_payload(payload, where)
            self._applied_seq = seq
            self._dirty = True

    def _apply_payload(self, payload: bytes, where: str = "write log entry") -> None:
        op, info, arrays = codec.decode_payload(payload, where)
        grouped = codec.batch_parts(arrays)
        n = int(info["n"])
        if op == "write":
            values, valid = {}, {}
            for name, parts in grouped.items():
                if name == PARTITION:
                    continue
                values[name], valid[name] = values_from_parts(self._specs[name], parts, n)
            for name in self._specs.keys() - values.keys() - {PARTITION}:  # written before it existed
                values[name], valid[name] = evolution.fill_values(self, name, n)
            part = np.asarray(grouped[PARTITION]["values"], dtype=np.int16)
            self._apply_write(ColumnBatch(n, values, valid, part))
        elif op == "delete":
            pks, _ = values_from_parts(self._specs[self._pk_name], grouped[self._pk_name], n)
            rows = self._pkindex().lookup(pks)
            self._apply_delete(rows[rows >= 0])
        elif op == "drop_partition":
            self._apply_drop_partition(int(info["pid"]))
        else:
            raise StorageError(f"{where} is damaged: unknown operation {op!r}")

    # ------------------------------------------------------------------ primary keys
    def _pkindex(self) -> PKIndex:
        if self._pk_index is None:
            self._pk_index = PKIndex.build(self._columns[self._pk_name].values, ~self._deleted.view)
        return self._pk_index

    def _pk_array(self, ids: Any) -> np.ndarray:
        if isinstance(ids, (str, int, np.integer)) or not hasattr(ids, "__len__"):
            ids = [ids]
        ids = list(ids)
        if self._pk_is_str:
            if not all(isinstance(i, str) for i in ids):
                raise ParamError(f"primary key {self._pk_name!r} is VARCHAR; ids must be strings")
            try:
                return np.array(ids, dtype=np.dtypes.StringDType()) if ids else np.empty(0, np.dtypes.StringDType())
            except UnicodeEncodeError:
                raise ParamError("ids hold a lone surrogate character, which is not valid Unicode") from None
        if not all(isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) for i in ids):
            raise ParamError(f"primary key {self._pk_name!r} is INT64; ids must be integers")
        try:
            return np.asarray(ids, dtype=np.int64)
        except OverflowError:
            raise ParamError("ids must fit in a 64-bit signed integer") from None

    def rows_of(self, ids: Any) -> np.ndarray:
        """The live row number of each primary key in ``ids`` (-1 where there is none)."""
        with self._lock:
            return self._pkindex().lookup(self._pk_array(ids))

    def pk_values(self, rows: np.ndarray) -> list:
        return read_consistently(self, lambda view: view.pk_values(rows))

    def _pk_values(self, rows: np.ndarray) -> list:
        with self._lock:
            return self._columns[self._pk_name].values[np.asarray(rows, dtype=np.int64)].tolist()

    def _next_auto_ids(self, k: int) -> np.ndarray:
        if self._last_auto_id is None:
            pks = self._columns[self._pk_name].values
            # text keys: time-based ids never repeat, so no scan of the text column is needed
            self._last_auto_id = int(pks.max()) if len(pks) and not self._pk_is_str else 0
        ids = new_auto_ids(self._last_auto_id, k)
        self._last_auto_id = int(ids[-1])
        return ids

    # ------------------------------------------------------------------ partitions
    def _is_partition_key_mode(self) -> bool:
        return self.schema.partition_key_field is not None

    def create_partition(self, name: str) -> None:
        with self._lock:
            self._db._check_writable()
            _check_name(name, "partition")
            if self._is_partition_key_mode():
                raise ParamError("cannot create a partition in a collection with a partition key field")
            if name in self._partitions:
                raise AlreadyExistsError(f"partition {name!r} already exists in collection {self.name!r}")
            if len(self._partitions) >= MAX_PARTITIONS:
                raise ParamError(f"a collection can have at most {MAX_PARTITIONS} partitions")
            # The smallest id no live partition has: ids are stored per row as int16, so a
            # counter would overflow after 32,767 create/drop cycles. Reusing a dropped
            # partition's id is safe: its rows were tombstoned by the drop, which the log
            # orders before any row written with the id again.
            used = set(self._partitions.values())
            pid = next(i for i in range(len(used) + 1) if i not in used)
            storage = self._db._storage
            with storage.tx() as c:
                storage.add_partition(c, self.id, name, pid)
                self._next_pid = max(used | {pid}) + 1
                storage.save_collection(c, self.id, self.catalog_name, self._info())
            self._partitions[name] = pid

    def drop_partition(self, name: str) -> None:
        with self._lock:
            self._db._check_writable()
            if name not in self._partitions:
                raise PartitionNotFoundError(f"partition {name!r} does not exist in collection {self.name!r}")
            if name == DEFAULT_PARTITION or self._is_partition_key_mode():
                raise ParamError(f"the partition {name!r} cannot be dropped")
            pid = self._partitions[name]
            storage = self._db._storage
            self._verify_columns([PARTITION, self._pk_name])
            with storage.tx() as c:
                storage.remove_partition(c, self.id, name)
                payload = codec.encode_payload("drop_partition", {"n": 0, "pid": pid}, {})
                seq = storage.append_log(c, self.id, payload)
            del self._partitions[name]
            self._apply_drop_partition(pid)
            self._applied_seq = seq
            self._dirty = True

    def _apply_drop_partition(self, pid: int) -> None:
        part = self._columns[PARTITION].values
        rows = np.flatnonzero((part == pid) & ~self._deleted.view)
        self._apply_delete(rows)

    def has_partition(self, name: str) -> bool:
        with self._lock:
            return name in self._partitions

    def list_partitions(self) -> list[str]:
        with self._lock:
            return sorted(self._partitions, key=self._partitions.__getitem__)

    def partition_num_rows(self, name: str) -> int:
        with self._lock:
            pid = self._pids([name])[0]
            live = ~self._deleted.view
            return int(np.count_nonzero(self._columns[PARTITION].values[live] == pid))

    def _pids(self, names: Any) -> list[int]:
        if isinstance(names, str):
            names = [names]
        out = []
        for name in names:
            if name not in self._partitions:
                raise PartitionNotFoundError(f"partition {name!r} does not exist in collection {self.name!r}")
            out.append(self._partitions[name])
        return out

    def _route(self, batch: ColumnBatch, partition: str | None) -> np.ndarray:
        """Partition id of every row of a batch."""
        key_field = self.schema.partition_key_field
        if key_field is None:
            pid = self._pids([partition or DEFAULT_PARTITION])[0]
            return np.full(batch.n, pid, dtype=np.int16)
        if partition:
            raise ParamError("do not name a partition when the collection has a partition key field")
        keys = batch.values[key_field.name]
        k = self.num_partitions or DEFAULT_NUM_PARTITIONS
        if key_field.dtype == DataType.VARCHAR:
            h = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in keys.tolist()), np.uint64, batch.n)
        else:  # multiplicative hash of the 64-bit key
            x = keys.astype(np.int64).view(np.uint64)
            h = (x * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(33)
        slot = (h % np.uint64(k)).astype(np.int64)
        pids = np.array([self._partitions[f"{DEFAULT_PARTITION}_{i}"] for i in range(k)], dtype=np.int16)
        return pids[slot]

    # ------------------------------------------------------------------ load state
    def load(self) -> None:
        with self._lock:
            if not self._loaded:
                self._loaded = True
                if not self._db.read_only:
                    self._save_info()

    def release(self) -> None:
        with self._lock:
            if self._loaded:
                self._loaded = False
                if not self._db.read_only:
                    self._save_info()

    @property
    def loaded(self) -> bool:
        return self._loaded

    # ------------------------------------------------------------------ writes
    def insert(self, rows: list[dict], partition: str | None = None) -> list:
        return self._write(rows, partition, upsert=False)

    def upsert(self, rows: list[dict], partition: str | None = None, partial_update: bool = False) -> list:
        return self._write(rows, partition, upsert=True, partial_update=partial_update)

    def _write(self, rows: Any, partition: str | None, *, upsert: bool, partial_update: bool = False) -> list:
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, (list, tuple)):
            raise DataError(f"rows must be a list of dicts, got {type(rows).__name__}")
        embeds = bool(model_functions.embedding_functions(self.schema))
        if embeds and rows and not partial_update:
            # the model runs before the lock: other threads keep reading and writing meanwhile
            rows = [dict(r) if isinstance(r, dict) else r for r in rows]
            model_functions.fill_embeddings(self, rows)
        with self._lock:
            self._db._check_writable()
            if not rows:
                return []
            rows = list(rows)
            if upsert and partial_update:
                rows = self._merge_partial(rows)
                if embeds:   # the merged rows' texts (stored or new) are embedded again
                    model_functions.fill_embeddings(self, rows)
            computed = None
            if self.schema.functions:   # BM25 outputs as whole columns: the rows stay as given
                from . import fulltext

                computed = fulltext.function_columns(self, rows)
            batch = build_batch(self.schema, rows, auto_id_source=self._next_auto_ids, require_pk=upsert,
                                timezone=self.timezone, computed=computed)
            all_pks = batch.values[self._pk_name]
            batch.values[INSERT_TS] = np.full(batch.n, evolution.clock_ms(), dtype=np.int64)
            batch.partition = self._route(batch, partition)
            batch = dedupe_last_wins(batch, all_pks)
            self._log_and_apply("write", batch.n, lambda: codec.batch_arrays(batch, self._specs),
                                lambda: self._apply_write(batch))
            return all_pks.tolist()

    def _merge_partial(self, rows: list) -> list:
        """partial_update: fill each row's missing fields from the stored row of its key."""
        pk = self._pk_name
        for i, r in enumerate(rows):
            if not isinstance(r, dict) or pk not in r:
                raise DataError(f"row {i}, field {pk!r}: partial update needs the primary key")
        found = self._pkindex().lookup(self._pk_array([r[pk] for r in rows]))
        if not (found >= 0).any():
            return rows
        fields = self.resolve_output_fields(["*"])
        stored = self.entities(found[found >= 0], fields)
        merged = list(rows)
        for j, i in enumerate(np.flatnonzero(found >= 0)):
            row = stored[j]
            for fn in self.schema.functions:
                for out in fn.output_field_names:
                    row.pop(out, None)
            row.update(rows[i])
            merged[i] = row
        return merged

    def _verify_columns(self, names: Any = None) -> None:
        """Verify the snapshot checksums of these columns (all when None) now: a damaged file
        must fail a write before its log entry commits, never halfway through applying it."""
        for name in (self._columns if names is None else names):
            self._columns[name].ensure_verified()

    def _log_and_apply(self, op: str, n: int, arrays: Callable[[], dict], apply: Callable[[], None], info: dict | None = None) -> None:
        self._verify_columns(None if op == "write" else [self._pk_name])
        storage = self._db._storage
        size = 0
        if storage.in_memory:
            seq = storage.append_log(None, self.id, b"")
        else:
            payload = codec.encode_payload(op, {"n": n, **(info or {})}, arrays())
            size = len(payload)
            with storage.log_tx() as c:   # synced, unless durability="process"
                seq = storage.append_log(c, self.id, payload)
        apply()
        self._applied_seq = seq
        self._dirty = True
        self._db._after_write(size)

    def _apply_write(self, batch: ColumnBatch) -> None:
        pks = batch.values[self._pk_name]
        index = self._pkindex()
        old = index.lookup(pks)
        self._apply_delete(old[old >= 0], update_index=False)
        start = self._n
        for name, col in self._columns.items():
            if name == PARTITION:
                col.append(batch.partition)
            else:
                col.append(batch.values[name], batch.valid.get(name))
        self._deleted.append(np.zeros(batch.n, dtype=np.bool_))
        self._n += batch.n
        self._live += batch.n
        index.set(pks, np.arange(start, start + batch.n, dtype=np.int64))
        if self._last_auto_id is not None and not self._pk_is_str and batch.n:
            self._last_auto_id = max(self._last_auto_id, int(pks.max()))

    def _apply_delete(self, rows: np.ndarray, update_index: bool = True) -> None:
        if not len(rows):
            return
        deleted = self._deleted.view
        rows = rows[~deleted[rows]]
        if not len(rows):
            return
        rows = np.unique(rows)
        if self._deleted._buf is self._deleted_shared:  # copy on write: views keep theirs
            self._deleted = GrowArray(np.bool_, base=self._deleted.view.copy())
            self._deleted_shared = None   # only the views hold the old buffer now
        self._deleted.reserve(len(self._deleted))  # a mapped snapshot becomes writable memory
        self._deleted.view[rows] = True
        self._live -= len(rows)
        if update_index and self._pk_index is not None:
            self._pk_index.remove(self._columns[self._pk_name].values[rows])

    def delete(self, ids: Any = None, filter: str | None = None, filter_params: dict | None = None,
               partitions: Any = None) -> int:
        """Delete rows by primary keys or by filter; returns the number of rows deleted."""
        StaleViewError = _readview().StaleViewError
        has_filter = bool(filter and filter.strip())
        if ids is not None and has_filter:
            raise ParamError("pass either ids or filter to delete, not both")
        if ids is None and not has_filter:
            raise ParamError("delete needs ids or a filter")
        m = view = None
        if has_filter:  # a slow filter is evaluated on a snapshot, without the lock ...
            self._db._check_writable()
            view = self.read_view()
            try:
                m = view.mask(filter, filter_params, partitions)
            except StaleViewError:
                m = None
        with self._lock:
            self._db._check_writable()
            # ... and used if no write, compaction or truncate came in between; else again here
            if m is None or view.generation != self.generation or view._applied_seq != self._applied_seq:
                m = self.mask(filter or "", filter_params, partitions, ids)
            rows = np.flatnonzero(m)
            if not len(rows):
                return 0
            pks = self._columns[self._pk_name].values[rows]
            spec = self._specs[self._pk_name]

            def arrays() -> dict:
                col = Column(spec)
                col.append(pks)
                return {f"{self._pk_name}/{p}": a for p, a in col.parts(0, len(pks)).items()}

            self._log_and_apply("delete", len(rows), arrays, lambda: self._apply_delete(rows))
            return int(len(rows))

    def truncate(self) -> None:
        """Remove every row; schema, partitions, indexes and meta stay."""
        with self._lock:
            self._db._check_writable()
            # truncate is not in the log: it is stored by its checkpoint, so a failed one (disk
            # full) must leave the rows as they were, in memory as on disk
            before = (self._columns, self._deleted, self._n, self._live, self._pk_index,
                      self.generation, self._last_auto_id, self._dirty)
            self._reset_rows()
            self.generation += 1
            self._last_auto_id = None
            self._dirty = True
            try:
                self._checkpoint(full=True)
            except BaseException:
                (self._columns, self._deleted, self._n, self._live, self._pk_index,
                 self.generation, self._last_auto_id, self._dirty) = before
                raise

    def compact(self) -> int:
        """Drop tombstoned rows from the columns (row numbers change: generation + 1).
        Returns the number of rows removed."""
        with self._lock:
            self._db._check_writable()
            evolution.expire_rows(self)  # rows past collection.ttl.seconds go with the deleted
            removed = self._n - self._live
            if removed == 0:
                return 0
            keep = np.flatnonzero(~self._deleted.view)
            self._verify_columns()  # all or none: a damaged file fails before any column changes
            for col in self._columns.values():
                col.keep(keep)
            self._deleted = GrowArray(np.bool_)
            self._deleted.append(np.zeros(len(keep), dtype=np.bool_))
            self._n = self._live = len(keep)
            self._pk_index = None
            self.generation += 1
            self._dirty = True
            self._checkpoint(full=True)
            return removed

    # ------------------------------------------------------------------ reads
    def mask(self, filter: str = "", filter_params: dict | None = None, partitions: Any = None,
             ids: Any = None) -> np.ndarray:
        """Rows that are live, in the partitions, among ``ids`` and pass the filter (computed on
        a snapshot, outside the database lock)."""
        return read_consistently(self, lambda view: view.mask(filter, filter_params, partitions, ids),
                                 need_pk=ids is not None)

    def _mask(self, filter: str = "", filter_params: dict | None = None, partitions: Any = None,
              ids: Any = None) -> np.ndarray:
        with self._lock:
            m = evolution.apply_ttl(self, ~self._deleted.view)  # expired rows are invisible
            if partitions:
                pids = self._pids(partitions)
                if len(set(pids)) < len(self._partitions):
                    m &= np.isin(self._columns[PARTITION].values, np.asarray(pids, dtype=np.int16))
            if ids is not None:
                rows = self._pkindex().lookup(self._pk_array(ids))
                sel = np.zeros(self._n, dtype=bool)
                sel[rows[rows >= 0]] = True
                m &= sel
            if filter and filter.strip():
                from ..expr import compile_filter

                cf = compile_filter(filter, self.schema)
                m &= cf.evaluate(self._source, filter_params)
            return m

    def _visible(self, rows: np.ndarray, pids: list[int] | None) -> np.ndarray:
        """Which of ``rows`` ``_mask`` without a filter keeps (live, not expired, in the
        partitions ``pids``), computed on those rows only: a get costs O(ids), not O(rows)."""
        keep = ~self._deleted.view[rows]
        ttl = evolution.ttl_ms(self.properties)
        if ttl is not None and len(rows):
            keep &= self._columns[INSERT_TS].values[rows] > evolution.clock_ms() - ttl
        if pids and len(set(pids)) < len(self._partitions):
            keep &= np.isin(self._columns[PARTITION].values[rows], np.asarray(pids, dtype=np.int16))
        return keep

    def query(self, filter: str = "", *, filter_params: dict | None = None, output_fields: list[str] | None = None,
              limit: int | None = None, offset: int = 0, partitions: Any = None, ids: Any = None) -> list[dict]:
        """See ``_query``; runs on a snapshot, outside the database lock."""
        if ids is None and not partitions and not (filter and filter.strip()) and limit is None \
                and not offset and output_fields and len(output_fields) == 1 \
                and output_fields[0] == "count(*)":
            with self._lock:   # a plain count(*) reads one counter: no snapshot needed
                self._db._check_process()
                if evolution.ttl_ms(self.properties) is None:
                    return [{"count(*)": int(self._live)}]
        return read_consistently(self, lambda view: view.query(
            filter, filter_params=filter_params, output_fields=output_fields, limit=limit, offset=offset,
            partitions=partitions, ids=ids), need_pk=True)

    def _query(self, filter: str = "", *, filter_params: dict | None = None, output_fields: list[str] | None = None,
               limit: int | None = None, offset: int = 0, partitions: Any = None, ids: Any = None) -> list[dict]:
        """Rows passing the filter after offset/limit: in ascending primary-key order, or in the
        order of ``ids`` when ids are given (duplicates once)."""
        if limit is not None and limit != -1 and (not isinstance(limit, (int, np.integer)) or limit < 0):
            raise ParamError(f"limit must be a non-negative integer, got {limit!r}")
        if offset is None:
            offset = 0
        if not isinstance(offset, (int, np.integer)) or offset < 0:
            raise ParamError(f"offset must be a non-negative integer, got {offset!r}")
        with self._lock:
            if output_fields and any(f.strip().lower() == "count(*)" for f in output_fields if isinstance(f, str)):
                if len(output_fields) > 1:
                    raise ParamError("count(*) cannot be combined with other output fields")
                if not (filter and filter.strip()) and not partitions and ids is None \
                        and evolution.ttl_ms(self.properties) is None:
                    return [{"count(*)": int(self._live)}]   # = live rows, kept by every write
                return [{"count(*)": int(np.count_nonzero(self.mask(filter, filter_params, partitions, ids)))}]
            fields = self.resolve_output_fields(output_fields)
            if self._pk_name not in fields:
                fields = [self._pk_name] + fields
            by_ids_only = ids is not None and not (filter and filter.strip())
            # by primary key alone, only the rows asked for are checked (no mask over every row)
            pids = self._pids(partitions) if by_ids_only and partitions else None
            m = None if by_ids_only else self.mask(filter, filter_params, partitions, ids)
            if ids is not None:  # as Milvus Lite's get: in the order the ids were asked for
                rows = self._pkindex().lookup(self._pk_array(ids))
                rows = rows[rows >= 0]
                _, first = np.unique(rows, return_index=True)
                rows = rows[np.sort(first)]
                rows = rows[self._visible(rows, pids) if m is None else m[rows]]
            else:  # ascending primary key, so pagination and comparisons are deterministic
                order = self._pkindex().sorted_rows()
                rows = order[m[order]]
            stop = None if limit is None or limit == -1 else offset + int(limit)
            rows = rows[offset:stop]
            return self.entities(rows, fields)

    def resolve_output_fields(self, output_fields: list[str] | None) -> list[str]:
        """Expand ``*`` (every field but function outputs, plus ``$meta`` = all dynamic keys),
        check names; unknown names are dynamic keys when the dynamic field is on."""
        if output_fields is None:
            output_fields = ["*"]
        if isinstance(output_fields, str):
            output_fields = [output_fields]
        dynamic = self.schema.enable_dynamic_field
        out: list[str] = []
        for name in output_fields:
            if not isinstance(name, str) or not name:
                raise ParamError(f"output field names must be non-empty strings, got {name!r}")
            if name == "*":
                for f in self.schema.fields:
                    if not f.is_function_output and f.name not in out:
                        out.append(f.name)
                if dynamic and META not in out:
                    out.append(META)
            elif self.schema.field(name) is not None or (name == META and dynamic) or dynamic:
                if name not in out:
                    out.append(name)
            else:  # the server's words first
                raise ParamError(f"field {name} not exist: field {name!r} does not exist in "
                                 f"collection {self.name!r}")
        return out

    def entities(self, rows: np.ndarray, output_fields: list[str]) -> list[dict]:
        """One dict per row number with the given (resolved) fields."""
        return read_consistently(self, lambda view: view.entities(rows, output_fields))

    def _entities(self, rows: np.ndarray, output_fields: list[str]) -> list[dict]:
        with self._lock:
            rows = np.asarray(rows, dtype=np.int64)
            names, lists, dyn_keys, flatten = [], [], [], False
            for name in output_fields:
                if name == META:
                    flatten = META in self._columns
                    continue
                f = self.schema.field(name)
                if f is None:
                    dyn_keys.append(name)
                    continue
                names.append(name)
                lists.append(self._python_values(f, rows))
            out = [dict(zip(names, vals)) for vals in zip(*lists)] if lists else [{} for _ in range(len(rows))]
            if (flatten or dyn_keys) and META in self._columns:
                metas = copy_out(self._columns[META].values[rows].tolist())  # the caller's own
                if flatten:
                    for d, m in zip(out, metas):
                        for k, v in m.items():
                            if k not in d:
                                d[k] = v
                if dyn_keys:
                    for d, m in zip(out, metas):
                        for k in dyn_keys:
                            if k in m and k not in d:
                                d[k] = m[k]
            return out

    def _python_values(self, f: FieldSchema, rows: np.ndarray) -> list:
        col = self._columns[f.name]
        t = f.dtype
        if t == DataType.SPARSE_FLOAT_VECTOR:
            mat = col.csr()[rows] if len(rows) else None
            if mat is None:
                return []
            import scipy.sparse as sp

            mat = sp.csr_array(mat)
            ind, dat, ptr = mat.indices.tolist(), mat.data.tolist(), mat.indptr.tolist()
            out = [dict(zip(ind[ptr[i]:ptr[i + 1]], dat[ptr[i]:ptr[i + 1]])) for i in range(len(rows))]
        else:
            vals = col.values[rows]
            if t in _BYTES_VECTORS:
                out = [r.tobytes() for r in vals]
            elif t == DataType.TIMESTAMPTZ:  # RFC 3339 text in the zone in force, as Milvus returns it
                out = format_micros(vals, self.timezone)
            elif col.spec.kind == "json":  # copies: mutating a result must not change the store
                out = copy_out(vals.tolist())
            else:
                out = vals.tolist()
        valid = col.valid  # NULL rows (nullable scalars and vectors) read None
        if valid is not None:
            v = valid[rows]
            if not v.all():
                for i in np.flatnonzero(~v):
                    out[i] = None
        return out

    # ------------------------------------------------------------------ vectors for search
    def dense_vectors(self, field: str) -> np.ndarray:
        return read_consistently(self, lambda view: view.dense_vectors(field))

    def _dense_vectors(self, field: str) -> np.ndarray:
        with self._lock:
            f = self.schema.field(field)
            if f is None or not f.dtype.is_dense_vector:
                raise ParamError(f"field {field!r} is not a dense vector field of collection {self.name!r}")
            return self._columns[field].values

    def sparse_vectors(self, field: str) -> sp.csr_array:
        return read_consistently(self, lambda view: view.sparse_vectors(field))

    def vector_valid(self, field: str) -> np.ndarray | None:
        """Rows whose ``field`` vector is not NULL (None: the field is not nullable)."""
        with self._lock:
            col = self._columns[field]
            return None if col.valid is None else np.asarray(col.valid)

    def _sparse_vectors(self, field: str) -> sp.csr_array:
        with self._lock:
            f = self.schema.field(field)
            if f is None or f.dtype != DataType.SPARSE_FLOAT_VECTOR:
                raise ParamError(f"field {field!r} is not a sparse vector field of collection {self.name!r}")
            return self._columns[field].csr()

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self, full: bool = False) -> None:
        """Persist rows appended since the last snapshot (or everything when ``full``), then
        trim the log this snapshot covers. Extension hooks run first. The caller holds the
        database lock; the snapshot lock is taken inside it (a background checkpoint in
        flight finishes first)."""
        storage = self._db._storage
        if storage.in_memory or self._db.read_only:
            self._dirty = False
            return
        with self._db._snapshot_lock:
            self._checkpoint_locked(full)

    def _checkpoint_locked(self, full: bool) -> None:
        storage = self._db._storage
        data_dir = self.data_dir
        for hook in list(self.checkpoint_hooks):
            try:
                hook(data_dir)
            except Exception as exc:  # an extension's files are a cache: never lose the rows for it
                self._db._report_checkpoint_failure(exc, f"collection {self.name!r}: checkpoint hook "
                                                    f"{getattr(hook, '__name__', hook)} failed "
                                                    f"({getattr(exc, 'message', exc)}); its "
                                                    "files are rebuilt from the rows when needed")
        manifest = self._manifest
        for name in [k for k in self._ext_files if not (data_dir / k).exists()]:
            del self._ext_files[name]  # files of dropped indexes
        # extension files saved by the hooks, or a manifest from before checksums, need a new
        # manifest even when no row changed
        stale = manifest is not None and ("checksum" not in manifest or
                                          (manifest.get("ext") or {}) != self._ext_files)
        if not self._dirty and manifest is not None and not full and not stale:
            return
        job = self._capture(full, self._deleted.view, dict(self._ext_files))
        self._write_job(job)
        self._dirty = False
        try:  # the snapshot is stored now; trimming the log it covers can wait for the next one
            storage.trim_log(self.id, job.seq, job.generation)
        except StorageError as exc:
            self._db._report_checkpoint_failure(exc)

    def _capture(self, full: bool, deleted: np.ndarray, ext: dict[str, Any]) -> "SnapshotJob":
        """What a checkpoint writes now: the rows appended since the stored snapshot (every
        row when ``full`` or after a compaction), as views of the append-only columns."""
        manifest = self._manifest
        if full or manifest is None or manifest["generation"] != self.generation:
            base, start = None, 0
        else:
            base, start = manifest, self._persisted_rows
        stored = {k.rpartition("/")[0] for k in base["files"]} if base is not None else set()
        # a column added since the last snapshot (add_field) is written whole
        parts = {name: col.parts(start if name in stored else 0, self._n) for name, col in self._columns.items()}
        return SnapshotJob(self, manifest, base, self.generation, self._n, self._applied_seq, parts, deleted,
                           {"collection": self.name, "ext": ext})

    def _write_job(self, job: "SnapshotJob") -> None:
        """Append a job's rows to the part files and rename its manifest into place (the
        caller holds the snapshot lock)."""
        try:
            self._manifest = self._db._storage.write_snapshot(
                self.id, job.base, job.generation, job.n, job.seq, job.parts, job.deleted, job.extra)
            self._persisted_rows = job.n
        except StorageError:
            raise
        except OSError as exc:  # disk full, I/O error: the old snapshot and the log still hold everything
            raise StorageError(f"checkpoint of collection {job.extra['collection']!r} failed ({exc}); every "
                               "acknowledged write is still in the write log") from exc

    def _snapshot_job(self) -> "SnapshotJob | None":
        """A background checkpoint's job (caller holds the database lock), None when the
        stored snapshot already covers everything. Extension hooks are not run here: index
        files are saved by flush and close (indexes add rows they lack when loaded)."""
        m = self._manifest
        if not self._dirty or (m is not None and m["log_seq"] == self._applied_seq
                               and m["generation"] == self.generation and m["num_rows"] == self._n):
            return None
        data_dir = self.data_dir
        ext = {k: v for k, v in self._ext_files.items() if (data_dir / k).exists()}
        # the tombstones change in place: the job gets its own copy (1 byte a row)
        return self._capture(False, self._deleted.view.copy(), ext)

    def _store_job(self, job: "SnapshotJob") -> None:
        """Write a background job (snapshot lock held, database lock not): dropped when
        another checkpoint stored a snapshot since it was taken (that one covers as much)."""
        if self._manifest is not job.manifest or self._dropped:
            return
        self._write_job(job)
        self._db._storage.trim_log(self.id, job.seq, job.generation, chunk_bytes=TRIM_CHUNK_BYTES)

    # ------------------------------------------------------------------ extension files
    def record_ext_file(self, path: Path) -> None:
        """Record the checksum of an extension file (index, posting lists) just written under
        ``data_dir``; the next manifest carries it."""
        from . import checksum

        owner = getattr(self, "owner", self)  # a read view records into its collection
        owner._ext_files[Path(path).name] = checksum.record_of_file(Path(path))

    def ext_file_ok(self, path: Path) -> bool:
        """Whether an extension file under ``data_dir`` is intact (its checksum matches the
        recorded one). False means: rebuild it from the columns."""
        from . import checksum

        path = Path(path)
        rec = self._ext_files.get(path.name)
        if rec is None:  # not recorded: trusted only in a database from before checksums
            return self._ext_legacy and path.exists()
        if not checksum.VERIFY:
            return path.exists()
        return checksum.file_problem(path, rec) is None

    def ext_file_bytes(self, path: Path) -> bytes | None:
        """The bytes of an extension file, verified against its recorded checksum in the same
        read (``ext_file_ok`` and a load, with one pass over the file). None: damaged, missing
        or unrecorded -> rebuild it from the columns."""
        from . import checksum

        path = Path(path)
        rec = self._ext_files.get(path.name)
        if rec is None:  # not recorded: trusted only in a database from before checksums
            try:
                return path.read_bytes() if self._ext_legacy else None
            except OSError:
                return None
        return checksum.read_verified(path, rec)


class SnapshotJob:
    """The rows, tombstones and log position one checkpoint of one collection writes."""

    __slots__ = ("collection", "manifest", "base", "generation", "n", "seq", "parts", "deleted", "extra")

    def __init__(self, collection: Collection, manifest: dict | None, base: dict | None, generation: int,
                 n: int, seq: int, parts: dict, deleted: np.ndarray, extra: dict) -> None:
        self.collection, self.manifest, self.base, self.generation = collection, manifest, base, generation
        self.n, self.seq, self.parts, self.deleted, self.extra = n, seq, parts, deleted, extra


_READVIEW: Any = None


def _readview() -> Any:
    """The readview module (it imports this one; looked up once, reads are a hot path)."""
    global _READVIEW
    if _READVIEW is None:
        from . import readview

        _READVIEW = readview
    return _READVIEW


def read_consistently(collection: Any, read: Callable[[Any], Any], need_pk: bool = False) -> Any:
    """``read(view)`` on a fresh snapshot of ``collection``, outside the database lock.

    A compaction or truncate during the read can move a per-generation cache (vector index,
    posting lists) past the snapshot; the read then raises ``StaleViewError`` and is run again
    on a new snapshot, and after a few such races once more under the database lock (where no
    generation can change). On a view, ``read`` runs on that view."""
    views = _readview()
    if isinstance(collection, views.ReadView) or not hasattr(collection, "read_view"):
        return read(collection)
    for _ in range(3):
        try:
            return read(collection.read_view(need_pk))
        except views.StaleViewError:
            continue
    with collection._lock:
        return read(collection.read_view(need_pk))


MAX_NAME_LENGTH = 255  # Milvus: collection, field, partition, alias and index names
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # Milvus: ASCII letters, digits, underscores


# Milvus's proxy words each kind of name differently; code that matches on the message (the
# server's own client tests do) finds the same words here. Collection names and aliases
# follow validateCollectionNameOrAlias; partitions, fields and indexes their own validators.
_NAME_KIND = {
    "collection": ("collection name", "lower"),
    "alias": ("collection alias", "lower"),
    "partition": ("partition name", "upper"),
    "field": ("field name", "upper"),
    "index": ("index name", "upper"),
}


def _check_name(name: Any, what: str) -> None:
    """Milvus naming rules for a new collection, field, partition, alias or index."""
    label, style = _NAME_KIND.get(what, (f"{what} name", "upper"))
    if not isinstance(name, str) or not name:
        shown = "" if name is None or name == "" else name
        raise ParamError(f"Invalid {label}: {shown}. {label[0].upper() + label[1:]} should not be empty.")
    invalid = f"Invalid {label}: {name}. "

    def say(text: str) -> str:  # the server words collection/alias errors one way, the rest another
        if style == "upper":
            return invalid + text[0].upper() + text[1:] + "."
        return invalid + text + ": invalid parameter"

    if len(name) > MAX_NAME_LENGTH:
        raise ParamError(say(f"the length of a {label} must be less than {MAX_NAME_LENGTH} characters"))
    if not _NAME.match(name[0]):
        raise ParamError(say(f"the first character of a {label} must be an underscore or letter"))
    if not _NAME.fullmatch(name):
        raise ParamError(say(f"{label} can only contain numbers, letters and underscores"))


def now_ms() -> int:
    return int(time.time() * 1000)
