"""Row masks of repeated search filters, cached per collection state.

A filtered search needs the mask of rows that are live, in the partitions and pass the filter,
then the surviving row numbers (exact search) or the mask as a bitmap (faiss selector). Each
of those is a pass over every row; for a selective filter on a large collection they cost
more than the search itself. The same filter is usually asked many times, so they are kept.

Two layers, both in ``collection.extensions`` (shared by the collection's read views) and both
keyed by what decides their content, so an entry never has to be invalidated:

* the **filter mask** (the filter alone, no tombstones): rows ``[0, n)`` of a generation never
  change, so it is keyed by (generation, compiled filter, params, zone) and covers rows
  ``[0, n)``. A view with more rows evaluates only the rows appended since (``_RowRange``) and
  stores the longer mask; a view with fewer rows uses a prefix. Entries are replaced, never
  written into.
* the **search mask** (live & partitions & filter) with its survivors: keyed by (generation,
  rows, live rows, partitions, filter key). Within one generation tombstones are only ever
  added, so (rows, live rows) names one tombstone set: a delete, upsert, insert or compaction
  gives a new key.

Filters that are not a function of the rows (``random_sample``), collections with a time to
live (rows expire with the clock) and ``ids=`` searches are not cached.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

import numpy as np

from ..schema import DataType

_MAX_ENTRIES = 32           # per layer and collection
_MAX_BYTES = 64 << 20       # per layer and collection (masks, survivors, bitmaps)


class Survivors:
    """A read-only row mask and what searches derive from it (computed once, on first use)."""

    __slots__ = ("mask", "count", "_rows", "_bits", "derived", "__weakref__")

    def __init__(self, mask: np.ndarray, count: int | None = None) -> None:
        mask.flags.writeable = False
        self.mask = mask
        self.count = int(np.count_nonzero(mask)) if count is None else count
        self._rows: np.ndarray | None = None
        self._bits: np.ndarray | None = None
        # what indexes derive from this mask (faiss selector and search parameters), by index
        self.derived: dict = {}

    @property
    def rows(self) -> np.ndarray:
        """The allowed row numbers, ascending (int64)."""
        rows = self._rows
        if rows is None:
            rows = np.flatnonzero(self.mask).astype(np.int64, copy=False)
            rows.flags.writeable = False
            self._rows = rows
        return rows

    @property
    def bits(self) -> np.ndarray:
        """The mask packed little-endian, eight rows a byte (faiss ``IDSelectorBitmap``)."""
        bits = self._bits
        if bits is None:
            bits = np.packbits(self.mask, bitorder="little")
            bits.flags.writeable = False
            self._bits = bits
        return bits

    @property
    def nbytes(self) -> int:
        return self.mask.nbytes + 8 * self.count + self.mask.nbytes // 8 + 64


# masks handed out by search_mask -> their Survivors (the Survivors holds its mask, so an id is
# never reused while its entry lives; lookups also check identity)
_BY_MASK: "weakref.WeakValueDictionary[int, Survivors]" = weakref.WeakValueDictionary()


def survivors(mask: np.ndarray) -> Survivors:
    """The cached Survivors of a mask from :func:`search_mask`, else a fresh (uncached) one."""
    hit = _BY_MASK.get(id(mask))
    if hit is not None and hit.mask is mask:
        return hit
    return Survivors(mask) if not mask.flags.writeable else _Fresh(mask)


class _Fresh(Survivors):
    """Survivors of a caller's writable mask: never marks it read-only."""

    __slots__ = ()

    def __init__(self, mask: np.ndarray) -> None:  # noqa: D107 - same fields, no freeze
        self.mask = mask
        self.count = int(np.count_nonzero(mask))
        self._rows = self._bits = None
        self.derived = {}


class _Lru:
    """A small LRU of immutable values under a leaf lock (no other lock is taken inside)."""

    def __init__(self) -> None:
        self._items: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                return item[0]
        return None

    def put(self, key: Any, value: Any, size: int, keep_old=None) -> None:
        if size > _MAX_BYTES // 4:
            return
        with self._lock:
            old = self._items.get(key)
            if old is not None:
                if keep_old is not None and keep_old(old[0]):
                    return
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._items.move_to_end(key)
            self._bytes += size
            while len(self._items) > _MAX_ENTRIES or self._bytes > _MAX_BYTES:
                _, (_, s) = self._items.popitem(last=False)
                self._bytes -= s


class _Caches:
    def __init__(self) -> None:
        self.filters = _Lru()   # (gen, filter key) -> (n, mask, compiled filter)
        self.masks = _Lru()     # (gen, n, live, partitions, filter key) -> (Survivors, filter)
        # raw filter text -> (schema, compiled filter) of filters whose key does not depend on
        # the view (no zone): cached_mask finds their masks without compiling or a ReadView
        self.plain: dict = {}


_INIT_LOCK = threading.Lock()


def _caches(view: Any) -> _Caches:
    ext = view.extensions
    caches = ext.get("filter_masks")
    if caches is None:
        with _INIT_LOCK:
            caches = ext.get("filter_masks")
            if caches is None:
                caches = ext["filter_masks"] = _Caches()
    return caches


class _Uncacheable(Exception):
    pass


def _canon(value: Any) -> Any:
    """A hashable, type-exact stand-in for a filter parameter (1, 1.0 and True differ)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return (type(value).__name__, value)
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_canon(v) for v in value))
    if isinstance(value, dict):
        return ("map", tuple(sorted((str(k), _canon(v)) for k, v in value.items())))
    if isinstance(value, np.generic):
        return ("np", value.dtype.str, value.tobytes())
    if isinstance(value, np.ndarray) and value.dtype != object:
        return ("nd", value.dtype.str, value.shape, value.tobytes())
    raise _Uncacheable


class _RowRange:
    """Rows ``[start, stop)`` of a ColumnSource, as a source of their own (for evaluating a
    filter on the rows appended since a cached mask)."""

    def __init__(self, source: Any, start: int, stop: int) -> None:
        self._s, self._a, self._b = source, start, stop
        self.num_rows = stop - start

    def column(self, name: str):
        from ..expr import Column

        c = self._s.column(name)
        return Column(c.values[self._a:self._b], None if c.valid is None else c.valid[self._a:self._b])

    @property
    def timezone(self) -> str | None:
        return getattr(self._s, "timezone", None)

    def geometries(self, name: str):
        return self._s.geometries(name)[self._a:self._b]

    def text_match(self, field: str, query: str, minimum_should_match: int) -> np.ndarray:
        return np.asarray(self._s.text_match(field, query, minimum_should_match))[self._a:self._b]

    def phrase_match(self, field: str, phrase: str, slop: int) -> np.ndarray:
        return np.asarray(self._s.phrase_match(field, phrase, slop))[self._a:self._b]


def _filter_mask(view: Any, caches: _Caches, cf: Any, key: tuple, n: int, params: Any) -> np.ndarray:
    """The filter alone over rows ``[0, n)`` of the view (cached, extended for appended rows)."""
    hit = caches.filters.get(key)
    if hit is not None and hit[2] is not cf:   # the id of a filter compiled and freed since
        hit = None
    if hit is not None and hit[0] >= n:
        return hit[1][:n]
    source = view.source
    if hit is None:
        mask = cf.evaluate(source, params)
    else:
        mask = np.concatenate([hit[1], cf.evaluate(_RowRange(source, hit[0], n), params)])
    mask.flags.writeable = False
    caches.filters.put(key, (n, mask, cf), mask.nbytes,
                       keep_old=lambda old: old[2] is cf and old[0] >= n)
    return mask


def search_mask(view: Any, filter: str = "", filter_params: dict | None = None,
                partitions: Any = None) -> np.ndarray:
    """``view.mask(filter, filter_params, partitions)`` (a read-only array), cached.

    ``view`` is a read view (``engine.readview``); anything else computes the mask afresh."""
    from . import evolution

    if not (hasattr(view, "check_current") and hasattr(view, "_live")) or \
            evolution.ttl_ms(view.properties) is not None:   # not a ReadView, or rows expire
        return view.mask(filter, filter_params, partitions)
    pkey = None
    if partitions:   # checked first, as view.mask does (PartitionNotFoundError)
        pids = frozenset(view._pids(partitions))
        if len(pids) < len(view._partitions):
            pkey = pids
    text = filter if isinstance(filter, str) and filter.strip() else ""
    cf = None
    try:
        if text:
            if "random_sample" in text.lower() or \
                    not (filter_params is None or isinstance(filter_params, dict)):
                raise _Uncacheable   # not a function of the rows / view.mask words the error
            from ..expr import compile_filter

            cf = compile_filter(text, view.schema)
            zone = _zone(view, text)
            fkey = (id(cf), _canon(dict(filter_params or {})), zone)
            if zone is None and len(text) <= _PLAIN_TEXT:
                plain = _caches(view).plain
                if len(plain) >= _MAX_PLAIN:
                    plain.clear()
                plain[text] = (view.schema, cf)
        elif filter:
            raise _Uncacheable   # not a string: view.mask words the error
        else:
            fkey = None
    except _Uncacheable:
        return view.mask(filter, filter_params, partitions)
    gen, n = view.generation, int(view.num_rows_total)
    caches = _caches(view)
    key = (gen, n, int(view._live), pkey, fkey)
    hit = caches.masks.get(key)
    if hit is not None and (cf is None or hit[1] is cf):
        return hit[0].mask
    mask = view.mask("", None, partitions)   # live (and partitions): one pass, no filter
    if cf is not None:
        mask &= _filter_mask(view, caches, cf, (gen,) + fkey, n, filter_params)
    info = Survivors(mask)
    caches.masks.put(key, (info, cf), info.nbytes)
    _BY_MASK[id(mask)] = info
    return mask


_NO_PARAMS = _canon({})
_MAX_PLAIN = 256        # filter texts kept per collection by search_mask for cached_mask
_PLAIN_TEXT = 4096      # longer filter texts are not kept there


def cached_mask(snapshot: Any, text: str, filter_params: dict | None) -> np.ndarray | None:
    """The mask :func:`search_mask` keeps for ``text`` with no partitions, found from a
    ``readview.SearchSnapshot`` (generation, rows, live rows, schema) without compiling the
    filter or taking a ReadView; None when it is not cached (the caller takes a ReadView and
    calls :func:`search_mask`, which computes and keeps it). The caller has ruled out what
    search_mask never caches (a collection with a time to live; ``filter_params`` not a dict)."""
    caches = snapshot.owner.extensions.get("filter_masks")
    if caches is None:
        return None
    plain = caches.plain.get(text)
    if plain is None or plain[0] is not snapshot.schema:
        return None
    cf = plain[1]
    try:
        params = _canon(dict(filter_params)) if filter_params else _NO_PARAMS
    except _Uncacheable:
        return None
    hit = caches.masks.get((snapshot.generation, snapshot.num_rows_total, snapshot.live, None,
                            (id(cf), params, None)))
    return hit[0].mask if hit is not None and hit[1] is cf else None


def params_key(filter_params: dict) -> Any:
    """The key ``search_mask`` gives these filter parameters (type-exact: 1, 1.0 and True
    differ), or None when it keeps no mask for them."""
    try:
        return _canon(dict(filter_params))
    except _Uncacheable:
        return None


def _zone(view: Any, text: str) -> str | None:
    """The zone naive ``ISO '...'`` literals are read in, when the filter can read one."""
    if "iso" in text.lower() or any(f.dtype == DataType.TIMESTAMPTZ for f in view.schema.fields):
        return view.timezone
    return None
