"""IndexManager: the indexes of one collection, kept current with its rows.

Per index it keeps the built structure covering rows ``[0, ntotal)`` and the collection
generation it was built for. Searches see every row at once (read-your-writes): rows appended
after the build are the *tail*, searched exactly and merged; once the tail passes a threshold it
is added to the index. Tombstones and filters arrive as one boolean row mask. Specs live in
``collection.meta["indexes"]``; built indexes are written at each checkpoint into
``collection.data_dir`` and loaded back on open instead of being rebuilt.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import IndexNotFoundError, ParamError
from ...schema import DataType, IndexParam
from ..collection import _check_name, read_consistently
from ..jsonvalues import check_setting
from ..storage import bounded_stem
from ..filter_cache import survivors
from . import topk
from .base import SearchRequest, VectorIndex
from .binary import BINARY_INDEXES
from .dense import DENSE_INDEXES
from .exact import exact_search
from .filtered import exact_rows, stored_base, use_exact
from .metrics import BINARY_METRICS, FLOAT_METRICS
from .sparse import SPARSE_INDEXES, drop_smallest, exact_sparse_search, parse_drop_ratio_search

SCALAR_INDEX_TYPES = ("INVERTED", "STL_SORT", "BITMAP", "TRIE", "AUTOINDEX", "SORTED", "NGRAM")
# Milvus 2.6 allows only these on its new scalar types (INVERTED on a TIMESTAMPTZ is an error)
_TYPED_SCALAR_INDEXES = {DataType.TIMESTAMPTZ: ("STL_SORT", "AUTOINDEX"),
                         DataType.GEOMETRY: ("RTREE", "AUTOINDEX")}

# the tail is folded into an ANN index once it has this many rows ...
FOLD_ROWS = 10_000
# ... or this fraction of the indexed rows (but at least FOLD_MIN_ROWS)
FOLD_FRACTION = 0.10
FOLD_MIN_ROWS = 256
# which filtered searches run exactly: filtered.use_exact (per query, never per batch)


def field_kind(dtype: DataType) -> str:
    if dtype == DataType.BINARY_VECTOR:
        return "binary"
    if dtype == DataType.SPARSE_FLOAT_VECTOR:
        return "sparse"
    if dtype.is_dense_vector:
        return "dense"
    return "scalar"


_KIND_INDEXES = {"dense": DENSE_INDEXES, "binary": BINARY_INDEXES, "sparse": SPARSE_INDEXES}
_KIND_METRICS = {"dense": FLOAT_METRICS, "binary": BINARY_METRICS, "sparse": ("IP",)}
_KIND_AUTO = {"dense": "AUTOINDEX", "binary": "BIN_FLAT", "sparse": "SPARSE_INVERTED_INDEX"}
DEFAULT_METRIC = {"dense": "COSINE", "binary": "HAMMING", "sparse": "IP"}
_KIND_FLAT = {"dense": "FLAT", "binary": "BIN_FLAT", "sparse": "SPARSE_INVERTED_INDEX"}


def is_bm25_output(collection: Any, field_name: str) -> bool:
    for fn in getattr(collection.schema, "functions", []) or []:
        if int(fn.type) == 1 and field_name in fn.output_field_names:   # FunctionType.BM25
            return True
    return False


class IndexEntry:
    """One index: its spec and, for vector fields, the live structure."""

    def __init__(self, spec: IndexParam, kind: str, dim: int) -> None:
        self.spec = spec
        self.kind = kind
        self.dim = dim
        self.impl: VectorIndex | None = None
        self.generation: int | None = None
        self.lock = threading.RLock()

    @property
    def stem(self) -> str:
        return "index_" + bounded_stem(re.sub(r"[^A-Za-z0-9_.-]", "_", self.spec.index_name))

    def new_impl(self) -> VectorIndex | None:
        if self.kind == "scalar" or self.spec.metric_type == "BM25":
            return None
        cls = _KIND_INDEXES[self.kind][self.spec.index_type]
        return cls(self.spec.metric_type, self.spec.params, self.dim)


class IndexManager:
    """The indexes of one collection (see module docstring)."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        # index specs change under the database lock (checkpoints call ``save`` holding it):
        # one lock for both keeps the order database lock -> IndexEntry.lock
        self._lock = getattr(collection, "_lock", None) or threading.RLock()
        self._entries: dict[str, IndexEntry] = {}
        self._damaged: set[str] = set()  # indexes whose files failed their checksum at load
        for d in collection.meta.get("indexes") or []:
            spec = IndexParam.from_dict(d)
            entry = self._entry_for(spec)
            self._entries[spec.index_name] = entry
            self._try_load(entry, d.get("state"))
        hooks = getattr(collection, "checkpoint_hooks", None)
        if hooks is not None:
            hooks.append(self.save)

    # specs --------------------------------------------------------------------------------
    def _field(self, name: str):
        f = self.collection.schema.field(name)
        if f is None:
            raise ParamError(f"cannot create index: field {name!r} does not exist in collection "
                             f"{self.collection.name!r}")
        return f

    def _entry_for(self, spec: IndexParam) -> IndexEntry:
        f = self._field(spec.field_name)
        return IndexEntry(spec, field_kind(f.dtype), int(f.dim or 0))

    def normalize(self, param: IndexParam) -> IndexParam:
        """Checked spec with defaults filled in (ParamError naming what is wrong)."""
        if not isinstance(param.field_name, str) or not param.field_name:
            raise ParamError("add_index needs a field_name")
        if param.index_name:  # Milvus naming rules (the name also becomes a file name)
            _check_name(param.index_name, "index")
        check_setting(dict(param.params or {}), "index params")  # kept in the catalog as JSON
        f = self._field(param.field_name)
        kind = field_kind(f.dtype)
        itype = (param.index_type or "AUTOINDEX").upper()
        metric = param.metric_type.upper() if isinstance(param.metric_type, str) else None
        if kind == "scalar":
            allowed = _TYPED_SCALAR_INDEXES.get(f.dtype, SCALAR_INDEX_TYPES)
            if itype == "RTREE" and f.dtype != DataType.GEOMETRY:  # the server's wording
                raise ParamError(f"RTREE index can only be built on geometry field, not on "
                                 f"{f.name!r} ({f.dtype.name})")
            if itype not in allowed and f.dtype in _TYPED_SCALAR_INDEXES:
                raise ParamError(f"{itype} are not supported on {f.dtype.name.title()} field "
                                 f"{f.name!r}; valid: {list(allowed)}")
            if itype not in allowed:
                raise ParamError(f"index_type {itype!r} is not valid for scalar field "
                                 f"{f.name!r} ({f.dtype.name}); valid: {list(allowed)}")
            return IndexParam(f.name, itype, param.index_name or f.name, None, dict(param.params))
        table = _KIND_INDEXES[kind]
        if itype == "BRUTE_FORCE":   # Milvus Lite's name for the exact index
            itype = _KIND_FLAT[kind]
        if itype == "AUTOINDEX" and kind != "dense":
            itype = _KIND_AUTO[kind]
        if itype not in table:
            raise ParamError(f"index_type {itype!r} is not valid for field {f.name!r} "
                             f"({f.dtype.name}); valid: {sorted(set(table) | {'AUTOINDEX'})}")
        bm25 = kind == "sparse" and is_bm25_output(self.collection, f.name)
        if bm25:
            metric = metric or "BM25"
            if metric != "BM25":
                raise ParamError(f"field {f.name!r} is the output of a BM25 function: its index "
                                 f"needs metric_type 'BM25', got {metric!r}")
        else:
            metric = metric or DEFAULT_METRIC[kind]
            if metric not in _KIND_METRICS[kind]:
                raise ParamError(f"metric_type {metric!r} is not valid for field {f.name!r} "
                                 f"({f.dtype.name}); valid: {list(_KIND_METRICS[kind])}")
        params = dict(param.params)
        params.update(table[itype].validate(param.params, int(f.dim or 0)))
        return IndexParam(f.name, itype, param.index_name or f.name, metric, params)

    def create(self, param: IndexParam) -> None:
        spec = self.normalize(param)
        with self._lock:
            if self._exists(spec):
                return
        # build on a snapshot, outside the database lock (writers and readers go on meanwhile);
        # rows appended during the build are the index's tail, folded in by later searches
        entry = self._entry_for(spec)
        read_consistently(self.collection, lambda view: self._build(entry, view))
        with self._lock:
            if self._exists(spec):   # another thread created the same index meanwhile
                return
            self._entries[spec.index_name] = entry
            self._write_specs()

    def _exists(self, spec: IndexParam) -> bool:
        """True when this very index exists; ParamError when it clashes with another one."""
        for entry in list(self._entries.values()):
            old = entry.spec
            if old.field_name == spec.field_name:
                if (old.index_type, old.metric_type, old.params, old.index_name) == \
                        (spec.index_type, spec.metric_type, spec.params, spec.index_name):
                    return True   # creating the same index again is a no-op, as on the server
                raise ParamError(
                    f"at most one distinct index is allowed per field: field "
                    f"{spec.field_name!r} already has index {old.index_name!r} "
                    f"({old.index_type}, {old.metric_type}); drop it first")
            if old.index_name == spec.index_name:
                raise ParamError(f"index name {spec.index_name!r} is already used by field "
                                 f"{old.field_name!r}")
        return False

    def _build(self, entry: IndexEntry, view: Any) -> None:
        if entry.kind == "scalar" or entry.spec.metric_type == "BM25":
            return   # nothing to build: no vectors behind a scalar or BM25 index
        vectors = self._vectors(entry, view)
        with entry.lock:
            self._refresh(entry, True, view, vectors)

    def drop(self, index_name: str) -> None:
        with self._lock:
            entry = self._entries.get(index_name)
            if entry is None:
                return
            if getattr(self.collection, "loaded", False) and entry.kind != "scalar":
                raise ParamError(f"index {index_name!r} cannot be dropped while collection "
                                 f"{self.collection.name!r} is loaded; release it first")
            del self._entries[index_name]
            self._write_specs()
            directory = self.collection.data_dir
            if directory is not None:
                for p in Path(directory).glob(entry.stem + ".*"):
                    p.unlink(missing_ok=True)

    def list(self, field_name: str | None = None) -> list[str]:
        return [name for name, e in list(self._entries.items())
                if field_name is None or e.spec.field_name == field_name]

    def entry(self, index_name: str) -> IndexEntry:
        try:
            return self._entries[index_name]
        except KeyError:
            raise IndexNotFoundError(f"index not found[indexName={index_name}] in collection "
                                     f"{self.collection.name!r}") from None

    def for_field(self, field_name: str) -> IndexEntry | None:
        for e in list(self._entries.values()):
            if e.spec.field_name == field_name:
                return e
        return None

    def describe(self, index_name: str) -> dict:
        entry = self.entry(index_name)
        spec = entry.spec
        if entry.kind == "scalar" or entry.spec.metric_type == "BM25":
            total = indexed = int(self.collection.num_rows_total)
        else:
            total, indexed = read_consistently(self.collection, lambda view: self._rows_of(entry, view))
        out = dict(spec.params)
        out.update({
            "index_type": spec.index_type,
            "metric_type": spec.metric_type,
            "field_name": spec.field_name,
            "index_name": spec.index_name,
            "total_rows": total,
            "indexed_rows": indexed,
            "pending_index_rows": total - indexed,
            "state": "Finished",
        })
        if out["metric_type"] is None:
            del out["metric_type"]
        return out

    @staticmethod
    def _indexed_rows(entry: IndexEntry, total: int) -> int:
        impl = entry.impl
        return min(total, impl.ntotal) if impl is not None else 0

    def _write_specs(self) -> None:
        old_state = {d.get("index_name"): d.get("state")
                     for d in self.collection.meta.get("indexes") or []}
        specs = []
        for e in self._entries.values():
            d = e.spec.to_dict()
            if old_state.get(e.spec.index_name):
                d["state"] = old_state[e.spec.index_name]
            specs.append(d)
        self.collection.meta["indexes"] = specs
        self.collection.save_meta()

    # keeping indexes current ----------------------------------------------------------------
    def _rows_of(self, entry: IndexEntry, view: Any) -> tuple[int, int]:
        vectors = self._vectors(entry, view)
        with entry.lock:
            self._refresh(entry, False, view, vectors)
            total = int(view.num_rows_total)
            return total, self._indexed_rows(entry, total)

    @staticmethod
    def _vectors(entry: IndexEntry, view: Any):
        """The field's vectors in ``view``. Called before ``entry.lock`` is taken: a view may
        take the database lock, which must never be taken while holding an index lock."""
        if entry.kind == "sparse":
            return view.sparse_vectors(entry.spec.field_name)
        return view.dense_vectors(entry.spec.field_name)

    def _refresh(self, entry: IndexEntry, build: bool, view: Any, vectors: Any) -> Any:
        """Bring ``entry`` to the view's generation and fold a large tail in (``entry.lock``
        held; ``vectors`` are the view's rows of the field)."""
        if entry.kind == "scalar" or entry.spec.metric_type == "BM25":
            return vectors
        gen = view.generation
        total = int(view.num_rows_total)
        check = getattr(view, "check_current", None)
        if check is not None:
            check()   # a compaction moved on: never build an index for an old generation
        if entry.impl is not None and entry.generation == gen and entry.impl.ntotal > total:
            # another reader with a newer snapshot folded rows this view does not have
            from ..readview import StaleViewError

            raise StaleViewError(f"index {entry.spec.index_name!r} covers rows past this view")
        if entry.impl is None or entry.generation != gen:
            entry.impl = entry.new_impl()
            entry.generation = gen
            build = True
        impl = entry.impl
        tail = total - impl.ntotal
        if tail <= 0:
            return vectors
        threshold = max(FOLD_MIN_ROWS, min(FOLD_ROWS, int(FOLD_FRACTION * impl.ntotal)))
        if not (build or tail >= threshold or isinstance(impl, _ALWAYS_CURRENT)):
            return vectors
        if impl.ntotal == 0:
            if impl.ready(total):
                impl.build(vectors[:total])
        else:
            impl.add(vectors[impl.ntotal:total])
        return vectors

    def save(self, directory: Path) -> None:
        """Checkpoint hook: write every built index and record what it covers."""
        directory = Path(directory)
        with self._lock:
            saved = {d.get("index_name"): d.get("state")
                     for d in self.collection.meta.get("indexes") or []}
            states = {}
            for e in self._entries.values():
                with e.lock:
                    if e.impl is None or not e.impl.persistent or e.impl.ntotal == 0 or \
                            e.generation != self.collection.generation:
                        continue
                    old = saved.get(e.spec.index_name)
                    if old and old.get("rows") == e.impl.ntotal and \
                            old.get("generation") == e.generation and \
                            e.spec.index_name not in self._damaged and \
                            all((directory / f).exists() for f in old.get("files", [])):
                        states[e.spec.index_name] = old   # unchanged since the last checkpoint
                        self._record_files(directory, old.get("files", []), only_missing=True)
                        continue
                    files = e.impl.save(directory, e.stem)
                    self._record_files(directory, files)
                    self._damaged.discard(e.spec.index_name)
                    states[e.spec.index_name] = {"rows": int(e.impl.ntotal),
                                                 "generation": e.generation, "files": files}
            changed = False
            for d in self.collection.meta.get("indexes") or []:
                new = states.get(d.get("index_name"))
                if d.get("state") != new:
                    changed = True
                    if new is None:
                        d.pop("state", None)
                    else:
                        d["state"] = new
            if changed:
                self.collection.save_meta()

    def _record_files(self, directory: Path, files: list, only_missing: bool = False) -> None:
        """Record index files' checksums in the collection's next manifest."""
        record = getattr(self.collection, "record_ext_file", None)
        known = getattr(self.collection, "_ext_files", {})
        if record is None:
            return
        for name in files:
            if not (only_missing and name in known):
                record(directory / name)

    def _try_load(self, entry: IndexEntry, state: dict | None) -> None:
        directory = self.collection.data_dir
        if not state or directory is None or entry.kind == "scalar":
            return
        if state.get("generation") != self.collection.generation:
            return
        if int(state.get("rows", 0)) > int(self.collection.num_rows_total):
            return
        if not all((Path(directory) / name).exists() for name in state.get("files", [])):
            return
        intact = getattr(self.collection, "ext_file_ok", None)
        if intact is not None and not all(intact(Path(directory) / name) for name in state.get("files", [])):
            self._damaged.add(entry.spec.index_name)  # rebuilt from the rows, rewritten at the next checkpoint
            return
        impl = entry.new_impl()
        if impl is None:
            return
        try:
            if getattr(impl, "loads_from_columns", False):   # a graph whose vectors are the column's
                vectors = self.collection.dense_vectors(entry.spec.field_name)
                impl.load(Path(directory), entry.stem, int(state["rows"]), vectors=vectors)
            else:
                impl.load(Path(directory), entry.stem, int(state["rows"]))
        except Exception:  # a damaged index file is rebuilt from the rows, never trusted (a
            return         # damaged column raises again, naming its file, when a read uses it)
        entry.impl = impl
        entry.generation = int(state["generation"])   # what the files cover, checked above

    # searching ------------------------------------------------------------------------------
    def search(self, entry: IndexEntry, queries: Any, k: int, mask: np.ndarray | None,
               params: dict, pk_of: topk.PkOf | None, view: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k over every row of ``view`` (a snapshot of the collection; a new one when None)
        that ``mask`` allows (None = all rows). ``pk_of`` must not take locks (a view's
        ``pk_values`` does not).

        Returns ``(rows (nq, k), keys (nq, k))``, keys smaller-is-better.
        """
        if not hasattr(view, "check_current"):   # not a read view: search a fresh one
            return read_consistently(self.collection, lambda v: self.search(
                entry, queries, k, mask, params, pk_of, v))
        vectors = self._vectors(entry, view)   # before the index lock (see _vectors)
        # one lock per index: folding the tail in (faiss add) must not race a search
        with entry.lock:
            return self._search_locked(entry, queries, k, mask, params, pk_of, view, vectors)

    def search_covered(self, entry: IndexEntry, queries: Any, k: int, params: dict,
                       pk_of: topk.PkOf | None, view: Any,
                       mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """:meth:`search` when the built index covers exactly the view's rows (no tail to
        merge, nothing to fold in or rebuild): the index alone answers, as ``search`` would.
        None when it does not cover them, or when ``mask`` (one from ``filter_cache.search_mask``,
        of the view's rows) is searched exactly or by a flat index (the caller runs ``search``)."""
        impl = entry.impl
        total = view.num_rows_total
        if impl is None or not total or impl.ntotal != total or entry.generation != view.generation:
            return None
        vectors = view.dense_vectors(entry.spec.field_name) if entry.kind != "sparse" else None
        if vectors is None:
            return None
        req = SearchRequest(k, None, params, pk_of)
        if mask is not None:   # _search_locked's index branch for a mask, nothing else
            info = survivors(mask)
            if entry.kind != "dense" or len(mask) != total or info.count == total or \
                    isinstance(impl, _ALWAYS_CURRENT):
                return None
            req = SearchRequest(k, mask, params, pk_of, info.count, info.bits, info.derived)
        with entry.lock:
            if entry.impl is not impl or impl.ntotal != total or entry.generation != view.generation:
                return None
            view.check_current()   # as _refresh: never search an index of another generation
            if mask is not None and \
                    use_exact(info.count, total, vectors.shape[1], impl, k, params, info):
                return None   # (under the lock: an HNSW plan reads the graph's links)
            out = impl.search(queries, vectors, req)
        return out if out[0].shape[1] == k else topk.merge([out], k, pk_of)

    def _search_locked(self, entry, queries, k, mask, params, pk_of, view, vectors):
        vectors = self._refresh(entry, False, view, vectors)
        impl = entry.impl
        total = vectors.shape[0]
        nt = impl.ntotal if impl is not None else 0
        if entry.kind == "sparse":
            ratio = parse_drop_ratio_search(params)
            queries = drop_smallest(queries, ratio)
        if mask is not None and len(mask) != total:
            mask = np.resize(np.asarray(mask, dtype=bool), total) if len(mask) > total else \
                np.concatenate([mask, np.zeros(total - len(mask), dtype=bool)])
        info = None
        if mask is not None:
            info = survivors(mask)   # count, rows, bitmap: kept with a cached search mask
            if info.count == total:
                mask = info = None
        exact_all = nt == 0
        if info is not None and entry.kind != "sparse" and nt > 0:
            # chosen from the mask alone, never from the batch size: a query's answer must
            # not depend on the queries sent with it
            flat = isinstance(impl, _ALWAYS_CURRENT)
            exact = use_exact(info.count, total, vectors.shape[1], impl, k, params, info)
            if entry.kind == "dense" and (info.count < total // 5 if flat else exact):
                out = self._exact_rows(entry, queries, vectors, total, k, mask, info, pk_of)
                if out is not None:
                    return out
            exact_all = not flat and exact
        if exact_all:
            return self._exact(entry, queries, vectors, 0, total, k, mask, pk_of)
        req = SearchRequest(k, None if mask is None else mask[:nt], params, pk_of,
                            None if info is None else info.count,
                            None if info is None else info.bits,
                            None if info is None else info.derived)
        parts = [impl.search(queries, vectors, req)]
        if total > nt:
            parts.append(self._exact(entry, queries, vectors, nt, total, k, mask, pk_of))
        return topk.merge(parts, k, pk_of)

    def _exact_rows(self, entry, queries, vectors, total, k, mask, info, pk_of):
        """Exact top-k over the surviving rows, scored where the index (or the column) keeps
        them, none copied; None when there is no such float32 matrix."""
        stored = stored_base(entry.impl, vectors, entry.spec.metric_type)
        if stored is None:
            return None
        rows = info.rows
        covered = min(stored[1], total)
        split = int(np.searchsorted(rows, covered))
        parts = []
        if split:
            parts.append(exact_rows(queries, stored, rows[:split], entry.spec.metric_type, k, pk_of))
        if split < len(rows):   # the unindexed tail
            parts.append(self._exact(entry, queries, vectors, covered, total, k, mask, pk_of))
        if not parts:
            return self._exact(entry, queries, vectors, 0, total, k, mask, pk_of)
        return topk.merge(parts, k, pk_of)

    def _exact(self, entry, queries, vectors, start, stop, k, mask, pk_of):
        allowed = None if mask is None else mask[start:stop]
        if entry.kind == "sparse":
            return exact_sparse_search(vectors[start:stop], queries, k, allowed=allowed,
                                       row_offset=start, pk_of=pk_of)
        norms = None
        impl = entry.impl
        if start == 0 and getattr(impl, "sqnorms", None) is not None and len(impl.sqnorms) >= stop:
            norms = impl.sqnorms[:stop]
        return exact_search(queries, vectors[start:stop], entry.spec.metric_type, k,
                            allowed=allowed, row_offset=start, sqnorms=norms, pk_of=pk_of)


from .binary import BinFlatIndex  # noqa: E402
from .dense import FlatIndex  # noqa: E402

# exact indexes are extended on every search (cheap), so they never have a tail
_ALWAYS_CURRENT = (FlatIndex, BinFlatIndex)


def indexes_of(collection: Any) -> IndexManager:
    """The collection's IndexManager, created on first use (kept in ``collection.extensions``)."""
    collection = getattr(collection, "owner", collection)   # a read view's manager is its collection's
    ext = collection.extensions
    manager = ext.get("indexes")
    if manager is None:
        # created under the database lock: loading index files must not race a checkpoint
        lock = getattr(collection, "_lock", None)
        if lock is None and isinstance(ext, dict):
            lock = ext.setdefault("_indexes_lock", threading.Lock())
        if lock is not None:
            with lock:
                manager = ext.get("indexes")
                if manager is None:
                    manager = IndexManager(collection)
                    ext["indexes"] = manager
        else:
            manager = IndexManager(collection)
            ext["indexes"] = manager
    return manager
