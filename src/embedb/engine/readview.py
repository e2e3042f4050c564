"""Read views: a snapshot of a collection that one read runs on without the database lock.

A long scan (a query over many rows, a slow filter, a search with its result shaping) must not
stop writers for its whole duration. So a read takes the database lock only for as long as it
needs to copy a few references: rows ``[0, n)`` of each column are never written again in a
generation (writes append; deletes only set tombstones, and the collection copies its
tombstone buffer before the first write after a view took it), the primary-key index changes
by replacing its arrays (copy on write), and compaction and truncate
build new arrays and raise ``generation``. The read then computes on the view, lock-free.

Caches keyed by generation (vector indexes, full-text posting lists) are shared with the
collection; a view whose generation is no longer the collection's raises ``StaleViewError``
when it meets one, and ``collection.read_consistently`` runs the read again on a new view.

Lock order (docs/storage.md, "Threads and locks"): the database registry lock, then one
database's lock (``Database._lock`` = ``Collection._lock``; SQLite's ``Storage._lock`` inside
it), then at most one leaf lock (an index's ``IndexEntry.lock`` or ``fulltext._lock``). Code
that holds a leaf lock takes no other lock, so it never calls a view's lazy column (below).
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import ReadOnlyError
from .collection import Collection, CollectionSource
from .columns import GrowArray, csr_over

if TYPE_CHECKING:  # pragma: no cover
    import scipy.sparse as sp


class StaleViewError(Exception):
    """Internal: a compaction or truncate made this view older than a shared cache. Caught by
    ``read_consistently``, which retries on a fresh view; never reaches the user."""


class _ViewDatabase:
    """The view's database: the real one for everything but writes."""

    def __init__(self, db: Any) -> None:
        self._real = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @property
    def read_only(self) -> bool:  # data_dir must not create folders for a view
        return True

    def _check_writable(self) -> None:
        raise ReadOnlyError("a read view of a collection cannot be written")


class FrozenColumn:
    """Rows ``[0, n)`` of one column as they were when the view was taken.

    Numbers, vectors, sparse arrays and already decoded text are referenced at once (no copy).
    Text and JSON still undecoded since opening are decoded on first use, under the database
    lock, and only if the collection is still at the view's generation."""

    # no reference back to the view: a view is freed as soon as its read ends (no ref cycle)
    __slots__ = ("spec", "_owner", "_generation", "_name", "_n", "_values", "_valid", "_sparse",
                 "_deferred")

    def __init__(self, owner: Collection, name: str, col: Any, n: int) -> None:
        self.spec = col.spec
        self._owner, self._generation, self._name, self._n = owner, owner.generation, name, n
        # snapshot files not yet checksum-verified (engine/storage.py): the view keeps their
        # immutable parts and verifies them on its first use, lock-free, like the column would
        self._deferred = getattr(col, "_deferred", None)
        if self._deferred is not None:
            self._valid = self._values = self._sparse = None
            return
        self._valid = None if col._valid is None else col._valid._buf[:n]
        self._values = self._sparse = None
        if col.spec.kind == "sparse":
            self._sparse = (col._indptr._buf[: n + 1], col._indices._buf, col._svalues._buf,
                            max(col._max_index + 1, 1))
        elif col._pending is None:   # fixed kinds, and text already decoded
            self._values = col._values._buf[:n]

    def __len__(self) -> int:
        return self._n

    def _undefer(self) -> None:
        from .columns import Column

        parts, n, verify = self._deferred
        own = Column.from_parts(self.spec, parts, n, verify)
        own._resolve()  # StorageError naming a damaged file
        done = FrozenColumn(self._owner, self._name, own, self._n)
        self._valid, self._values, self._sparse = done._valid, done._values, done._sparse
        self._deferred = None
        # The owner's column takes the verified parts too (verify() is cached, so this is
        # cheap); otherwise every later view rebuilds this column on each read. Only when the
        # database lock is free at once: a caller holding a leaf lock must never wait on it.
        owner = self._owner
        if owner._lock.acquire(blocking=False):
            try:
                col = owner._columns.get(self._name)
                if col is not None and col._deferred is not None and col._deferred[0] is parts:
                    col._resolve()
            finally:
                owner._lock.release()

    @property
    def values(self) -> np.ndarray:
        if self._deferred is not None:
            self._undefer()
        if self._values is None:
            owner = self._owner
            with owner._lock:
                if owner.generation != self._generation:
                    raise StaleViewError(f"collection {owner.name!r} was compacted during a read")
                self._values = owner._columns[self._name].values[: self._n]
        return self._values

    @property
    def valid(self) -> np.ndarray | None:
        if self._deferred is not None:
            self._undefer()
        return self._valid

    def csr(self, n: int | None = None) -> sp.csr_array:
        if self._deferred is not None:
            self._undefer()
        indptr, indices, values, width = self._sparse
        nnz = int(indptr[-1])
        return csr_over(indptr, indices[:nnz], values[:nnz], (self._n, width))   # no copy


_NO_LOCK = contextlib.nullcontext()


class ReadView(Collection):
    """A collection as it was at one moment (see the module docstring). Has the read API of
    :class:`Collection` (``mask``, ``query``, ``entities``, ``pk_values``, ``dense_vectors``,
    ``sparse_vectors``, ``source``...) and refuses writes. Made by ``Collection.read_view()``
    while the database lock is held."""

    def __init__(self, owner: Collection, need_pk: bool = False) -> None:  # noqa: D107 - no super
        self.__dict__.update(owner.__dict__)   # schema, name, meta, extensions... as they are now
        self.owner = owner
        self._db = _ViewDatabase(owner._db)
        self._lock = _NO_LOCK   # the Collection read bodies run lock-free on a view
        n = owner._n
        self._columns = {name: FrozenColumn(owner, name, col, n) for name, col in owner._columns.items()}
        # shared, not copied (O(n) per read): the owner copies before its next tombstone write
        self._deleted = GrowArray(np.bool_, base=owner._deleted.view)
        owner._deleted_shared = owner._deleted._buf
        self._partitions = dict(owner._partitions)
        index = owner._pkindex() if need_pk else owner._pk_index
        self._pk_index = None if index is None else index.frozen()

    @property
    def _source(self) -> CollectionSource:   # made on use: a stored one would be a ref cycle
        return CollectionSource(self)

    @property
    def source(self) -> CollectionSource:
        return CollectionSource(self)

    def check_current(self) -> None:
        """Raise StaleViewError when the collection has moved to another generation."""
        if self.owner.generation != self.generation:
            raise StaleViewError(f"collection {self.name!r} moved from generation {self.generation} "
                                 f"to {self.owner.generation} during a read")

    def read_view(self, need_pk: bool = False) -> "ReadView":
        return self

    @property
    def loaded(self) -> bool:
        return self.owner.loaded

    # reads run the collection's own bodies on the frozen state (no lock: ``_lock`` is a no-op)
    mask = Collection._mask
    query = Collection._query
    entities = Collection._entities
    pk_values = Collection._pk_values
    dense_vectors = Collection._dense_vectors
    sparse_vectors = Collection._sparse_vectors

    def __repr__(self) -> str:
        return f"ReadView({self.name!r}, generation={self.generation}, rows={self._n})"


_PK_ARGS = ("ids", "ranker", "order_by")   # search arguments that look rows up by primary key


def on_snapshot(read: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``read(collection, ...)`` on one read view of the collection (retried on a new view
    when a compaction races it; see ``read_consistently``)."""
    from .collection import read_consistently

    @functools.wraps(read)
    def wrapper(collection: Any, *args: Any, **kwargs: Any) -> Any:
        need_pk = any(kwargs.get(name) is not None for name in _PK_ARGS)
        return read_consistently(collection, lambda view: read(view, *args, **kwargs), need_pk=need_pk)

    return wrapper


class SearchSnapshot:
    """The few references a plain vector search reads (``engine/search_fast.py``): the row
    count, the generation, the tombstones, one vector field and the primary keys, taken under
    the database lock by :func:`search_snapshot`. Same rules as a :class:`ReadView` (rows
    ``[0, n)`` never change within a generation; the tombstone buffer is shared copy-on-write),
    without a frozen object per column: a search that needs other columns uses a ReadView."""

    __slots__ = ("owner", "name", "schema", "generation", "num_rows_total", "deleted",
                 "live", "_field", "_vectors", "_pks")

    def __init__(self, owner: Collection, field: str, vectors: np.ndarray, pks: np.ndarray,
                 deleted: np.ndarray | None, live: int | None = None) -> None:
        self.owner, self.name, self.schema = owner, owner.name, owner.schema
        self.generation, self.num_rows_total = owner.generation, len(pks)
        self.deleted = deleted   # None: no row of the snapshot is tombstoned
        # live rows: with (generation, rows) it names the tombstone set (filter_cache's key)
        self.live = len(pks) if live is None else live
        self._field, self._vectors, self._pks = field, vectors, pks

    @property
    def extensions(self) -> dict:
        return self.owner.extensions

    def check_current(self) -> None:
        if self.owner.generation != self.generation:
            raise StaleViewError(f"collection {self.name!r} moved from generation {self.generation} "
                                 f"to {self.owner.generation} during a read")

    def dense_vectors(self, field: str) -> np.ndarray:
        if field != self._field:   # the snapshot holds one field: a caller's mistake
            raise ValueError(f"this search snapshot holds field {self._field!r}, not {field!r}")
        return self._vectors

    def pk_values(self, rows: np.ndarray) -> list:
        return self._pks[np.asarray(rows, dtype=np.int64)].tolist()

    def __repr__(self) -> str:
        return f"SearchSnapshot({self.name!r}, generation={self.generation}, rows={self.num_rows_total})"


def search_snapshot(owner: Collection, field: str) -> SearchSnapshot | None:
    """A :class:`SearchSnapshot` of ``owner`` for vector ``field``; None when a column it needs
    is still undecoded or unverified since opening (the caller takes a ReadView, which does
    that work once)."""
    with owner._lock:
        db = owner._db
        if db._pid != _pid:   # _check_process's test (lane_state)
            db._check_process()   # it raises
        columns = owner._columns
        pk, vec = columns[owner._pk_name], columns[field]
        if pk._deferred is not None or pk._pending is not None or vec._deferred is not None or \
                vec._pending is not None:
            return None
        n = owner._n
        deleted = None
        if owner._live != n:   # some rows are tombstoned: share the buffer (copy on write)
            deleted = owner._deleted.view
            owner._deleted_shared = owner._deleted._buf
        return SearchSnapshot(owner, field, vec._values._buf[:n], pk._values._buf[:n], deleted,
                              owner._live)


# this process's id, renewed in a fork child (os.getpid() is a system call, ~0.4 us, on every
# single-query search otherwise); a handle opened here holds the same number
_pid = os.getpid()


def _renew_pid() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):   # (without fork() the id never changes)
    os.register_at_fork(after_in_child=_renew_pid)


def lane_state(owner: Collection, field: str) -> tuple | None:
    """``(generation, rows, live rows, primary keys, vectors)`` of ``owner`` for vector
    ``field``, read under the database lock as :func:`search_snapshot` reads them, for a search
    that needs no more (the single-query lanes of ``engine/search_fast.py``): the two arrays
    are the columns' whole buffers (rows ``[0, rows)`` never change within a generation; a
    write that outgrows a buffer moves to a new one). ``(generation, rows, live rows)`` names
    the tombstone set, as in ``filter_cache``'s keys (``rows == live rows``: none). None when a
    column is still undecoded or unverified (the caller takes the general route)."""
    with owner._lock:
        db = owner._db
        if db._pid != _pid:   # _check_process's test, without its frame or getpid's system call
            db._check_process()   # it raises
        columns = owner._columns
        pk, vec = columns[owner._pk_name], columns[field]
        if pk._deferred is not None or pk._pending is not None or \
                vec._deferred is not None or vec._pending is not None:
            return None
        return owner.generation, owner._n, owner._live, pk._values._buf, vec._values._buf
