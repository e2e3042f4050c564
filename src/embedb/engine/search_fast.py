"""The lean path of the commonest search: dense or binary query vectors, at most a filter,
no partitions, offset, grouping, range, ranker or ordering, plain index parameters.

``MilvusClient.search`` tries :func:`plain_search` first; ``None`` means "not a plain call" and
the general path (:func:`embedb.engine.search.search`) runs instead, so every error and every
other option keeps its one implementation there. The answer is the general path's answer: the
same kernels (:func:`search.search_rows`: the index manager, faiss, the exact scorer, top-k
with ties by primary key) on the same rows. What it skips is per-call overhead:

* a :class:`readview.SearchSnapshot` (row count, tombstones, one vector field, primary keys)
  instead of a full read view, and no row mask at all when no row is tombstoned;
* the field, its plan and index resolved once per (schema, index) and kept in
  ``collection.extensions`` (a new schema object or index entry makes a new plan);
* a single float32 query used as given (checked for shape, and for finiteness by its squared
  norm: ``filtered.finite_query``);
* ``IndexManager.search_covered``: the index alone answers when it covers exactly the
  snapshot's rows (no tail to merge, nothing to fold in), else ``IndexManager.search``.

A search with output fields, or a filter whose mask is not cached for the snapshot's state
(``filter_cache.cached_mask``), takes a full read view (they read other columns).
"""

from __future__ import annotations

import math
import operator
import weakref
from typing import Any

import numpy as np

from ..errors import ParamError
from ..results import Hit, Hits, SearchResult
from ..schema import DataType
from . import filter_cache
from .evolution import TTL_KEY, ttl_ms
from .index import topk
from .index.base import MAX_TOPK, SearchRequest
from .index.filtered import finite_query, search_masked_one
from .index.dense import FaissIndex, HNSWIndex, raw_search_c, raw_swig_ptr
from .index.manager import indexes_of
from .index.metrics import larger_is_better
from .index.query_buffer import NormalisedQuery
from .model_functions import function_of_output
from .readview import StaleViewError, lane_state, search_snapshot
from .search import (FieldPlan, build_result, convert_queries, exact_keys, pk_getter, plan_field,
                     resolve_anns_field, search_rows)

_PLANS = "search_fast.plans"   # collection.extensions key: {(anns_field, metric): _Plan}
_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)
_INF = float("inf")
_new_list = list.__new__   # SearchResult.of_one, inline

# index search parameters a plain call may carry (anything else: the general path decides)
_PLAIN_PARAMS = frozenset(("ef", "nprobe", "refine_k"))
_PLAIN_KEYS = frozenset(("metric_type", "params"))


class _Plan:
    """What a plain search of one (anns_field, metric) needs, resolved once per schema and
    index (kept in ``collection.extensions``; rebuilt when either is replaced)."""

    __slots__ = ("schema", "manager", "entry", "field", "plan", "dim", "shape", "float32",
                 "larger", "pk_name", "lane", "entries", "index_name")

    def __init__(self, schema: Any, manager: Any, field: Any, plan: FieldPlan) -> None:
        self.schema, self.field, self.plan, self.entry = schema, field, plan, plan.entry
        self.manager, self.pk_name = manager, schema.primary_field.name
        self.dim = int(field.dim or 0)
        self.shape = (self.dim,)   # a single query's shape
        self.float32 = field.dtype == DataType.FLOAT_VECTOR
        self.larger = larger_is_better(plan.metric)
        self.lane: _Lane | None = None
        self.entries = manager._entries   # IndexManager's {index name: entry}
        self.index_name = None if plan.entry is None else plan.entry.spec.index_name

    def current(self) -> bool:
        """The field's index entry is still the plan's: ``manager.for_field(field) is entry``,
        by one dict read while an index is planned (at most one index per field: the entry
        under its own name is the field's, until dropped or replaced)."""
        if self.index_name is None:
            return self.manager.for_field(self.field.name) is None
        return self.entries.get(self.index_name) is self.entry


class _Lane:
    """The faiss call of an unfiltered single query on one index object, resolved once: the
    faiss search parameters per (limit, index params) as ``_search_parameters`` makes them
    (read-only objects, shared by threads), whether the query is normalised (COSINE), whether
    the graph's storage follows the column (HNSW, L2/IP: ``HNSWIndex.search``) and which way
    distances run. ``ok`` only for faiss indexes searched as ``FaissIndex._search_all``
    searches them (no refinement). ``index`` is a weak reference: a lane never keeps a
    replaced index alive.

    The arrays faiss reads and writes (the normalised query: ``query_buffer.NormalisedQuery``;
    one query's distances and rows per limit) are made once, with their SWIG pointers, and used only
    under the index entry's lock, which every search of the index holds anyway: a numpy
    allocation and a pointer made per call cost microseconds with the CPU caches cold from
    the graph search."""

    __slots__ = ("index", "ok", "cosine", "follow", "larger", "params", "ptr", "normaliser",
                 "faiss_cls", "search_c", "masked")

    def __init__(self, impl: Any, float32: bool, dim: int) -> None:
        self.index = weakref.ref(impl) if impl is not None else _NO_INDEX
        # (filter text, key) -> ((generation, rows, live rows), the call tuple of the
        # filtered.MaskedLane that answered it on that state): see _keep_masked
        self.masked: dict = {}
        cls = type(impl)
        self.ok = float32 and isinstance(impl, FaissIndex) and \
            cls._refine is FaissIndex._refine and cls.search in (FaissIndex.search, HNSWIndex.search)
        if self.ok:
            self.larger = larger_is_better(impl.metric_type)
            self.cosine = impl.metric_type == "COSINE"
            self.follow = cls.search is HNSWIndex.search and not self.cosine
            # (limit, param name, value) or limit -> (faiss parameters, distances, rows and
            # their pointers)
            self.params: dict = {}
            self.ptr = ptr = raw_swig_ptr()
            self.normaliser = NormalisedQuery(dim, ptr) if self.cosine else None
            # the faiss class searched and its search_c as a function of (index, ...), set
            # under the entry's lock by the first search of an object of another class (the
            # faiss index is made on first use, after the lane)
            self.faiss_cls = self.search_c = None

    def call(self, limit: int, fparams: Any) -> tuple:
        """faiss's parameters with one query's output arrays and pointers, for ``params``."""
        dist, rows = np.empty(limit, _F32), np.empty(limit, _I64)
        return fparams, dist, rows, self.ptr(dist), self.ptr(rows)


def _NO_INDEX() -> None:   # the lane of "no index object yet"
    return None


def _plan_of(collection: Any, anns_field: Any, metric: str | None) -> _Plan | None:
    """The cached plan, or a new one; None when the field is not searched by the lean path
    (sparse, BM25, nullable, a TEXTEMBEDDING output) or the request is an error."""
    if anns_field is not None and type(anns_field) is not str:
        return None
    plans = collection.extensions.get(_PLANS)
    if plans is None:
        plans = collection.extensions.setdefault(_PLANS, {})
    key = (anns_field, metric)
    p = plans.get(key)
    schema = collection.schema
    manager = indexes_of(collection)
    if p is not None and p.schema is schema and manager.for_field(p.field.name) is p.entry:
        return p
    try:
        field = resolve_anns_field(collection, anns_field)
        plan = plan_field(collection, field, metric)
    except ParamError:
        return None   # the general path raises it (its checks run in the server's order)
    if plan.bm25 or plan.kind == "sparse" or field.nullable or \
            function_of_output(schema, field.name) is not None:
        return None
    # plans made for an older schema or index go: they hold their index entry (a dropped
    # index's graph and vectors), and a key no longer searched would keep it for good
    for stale_key, stale in list(plans.items()):
        if stale.schema is not schema or manager.for_field(stale.field.name) is not stale.entry:
            plans.pop(stale_key, None)
    p = plans[key] = _Plan(schema, manager, field, plan)
    return p


def _queries(p: _Plan, data: Any) -> Any:
    """``data`` as the kernels take it; the one float32 vector of a single query is used as is
    (``dense_queries`` checks it the same way, minus the error wording: anything unusual goes
    through it)."""
    if p.float32 and type(data) is list and len(data) == 1:
        v = data[0]
        # NaN or inf (or a squared norm that overflows): dense_queries checks and words it
        if type(v) is np.ndarray and v.dtype == _F32 and v.shape == (p.dim,) and \
                v.flags.c_contiguous and finite_query(v):
            return v[None, :]
    return convert_queries(p.plan, data)


def _one_query_result(view: Any, rows: np.ndarray, dist: np.ndarray, pk_name: str) -> Any:
    """``build_result`` of one query whose every hit is a row (the commonest result), with
    nothing else to check; None otherwise. Float32 and float64 distances become the same
    Python floats as through build_result's float64 copy (widening is exact)."""
    r = rows[0]
    if min(r.tolist(), default=-1) < 0 or dist.dtype.char not in "fd":
        return None
    pks = view.pk_values(r)
    return SearchResult([Hits([Hit({pk_name: pk, "distance": d, "entity": {}})
                               for pk, d in zip(pks, dist[0].tolist())])])


def plain_search(collection: Any, data: Any, limit: Any, output_fields: Any, search_params: Any,
                 anns_field: Any, filter: Any = "", filter_params: Any = None) -> SearchResult | None:
    """``search(collection, data, limit=..., output_fields=..., search_params=...,
    anns_field=..., filter=..., filter_params=...)`` with nothing else given; None when the
    general path must run it. A filter's mask comes from ``filter_cache`` on a read view.

    The commonest calls (one float32 query, no output fields, and either no filter, no
    tombstone and an index covering every row, or a filter whose mask ``filter_cache`` keeps
    for this snapshot's state) run inline here: at a few tens of microseconds per search,
    every Python call on the way shows (``tests/test_speed_single.py`` holds it to the
    general path); anything else goes on to :func:`_plain_any`."""
    if type(limit) is not int or not 1 <= limit <= MAX_TOPK:
        return None
    if filter and (type(filter) is not str or not (filter_params is None or
                                                    type(filter_params) is dict)):
        return None
    if search_params is None:
        metric, params = None, {}
    else:   # metric and index params of a plain call
        if type(search_params) is not dict or not _PLAIN_KEYS.issuperset(search_params):
            return None
        params = search_params.get("params")
        if params:
            if type(params) is not dict or not _PLAIN_PARAMS.issuperset(params):
                return None
        else:
            params = {}
        metric = search_params.get("metric_type")
        metric = str(metric).upper() if metric else None
    if output_fields is not None:
        if type(output_fields) is not list or not all(type(f) is str for f in output_fields):
            return None
        output_fields = output_fields or None
    props = collection.properties
    if TTL_KEY in props and ttl_ms(props) is not None:
        return None   # expired rows are masked out by the general path
    plans = collection.extensions.get(_PLANS)   # _plan_of's cache hit, inline
    p = None if plans is None or (anns_field is not None and type(anns_field) is not str) \
        else plans.get((anns_field, metric))
    if p is None or p.schema is not collection.schema or \
            p.entries.get(p.index_name) is not p.entry or p.index_name is None and not p.current():
        p = _plan_of(collection, anns_field, metric)
        if p is None:
            return None
    entry = p.entry
    lane = key = kept_key = None
    if not output_fields and entry is not None and type(data) is list and len(data) == 1:
        # the lanes: search_covered -> FaissIndex._search_all -> topk.select ->
        # _one_query_result, inline, with what does not change between calls kept on the lane
        impl, lane = entry.impl, p.lane
        if lane is None or lane.index() is not impl:
            lane = p.lane = _Lane(impl, p.float32, p.dim)
        v = data[0]
        if lane.ok and type(v) is np.ndarray and v.dtype == _F32 and v.shape == p.shape and \
                v.flags.c_contiguous:
            # the lanes' key: (limit, one int parameter)
            if not params:
                key = limit
            elif len(params) == 1:
                ((name, value),) = params.items()
                if type(value) is int:
                    key = (limit, name, value)
            if not filter:
                # faiss parameters and output arrays: made once per key
                call = lane.params.get(key)
                if call is None:
                    try:
                        call = lane.call(limit, impl._search_parameters(
                            SearchRequest(limit, None, params), 1.0))
                    except ParamError:
                        return None   # e.g. an ef out of range: the general path words it
                    if key is not None:
                        if len(lane.params) >= 64:
                            lane.params.clear()
                        lane.params[key] = call
                want = None   # no tombstone
            else:
                # the filtered lane: a filter whose mask, plan and arrays a search of the same
                # state (generation, rows, live rows: filter_cache's key of the mask) kept
                # (filter_params by filter_cache's type-exact key: 1, 1.0 and True differ)
                kept_key = _masked_key(filter, key, filter_params)
                rec = None if kept_key is None else lane.masked.get(kept_key)
                want, call = rec if rec is not None else (None, None)
            # L2/IP: the query as given, its squared norm finite (else dense_queries words it)
            state = None if call is None else lane_state(collection, p.field.name) \
                if lane.cosine or finite_query(v) else None
            if state is not None and ((state[0], state[1], state[2]) == want if filter else
                                      state[1] == state[2] and limit <= state[1]):
                generation, n, _, pks, vectors = state
                fparams, dist, rows, dist_ptr, rows_ptr = call
                found = None
                with entry.lock:   # search_covered's check: the index covers exactly these rows
                    if entry.impl is impl and impl.ntotal == n and \
                            entry.generation == generation == collection.generation:
                        qp = None
                        if lane.cosine:
                            # the query as FaissIndex._prepare makes it, bit for bit, in the
                            # lane's arrays (this lock keeps them); None: a sum that is not
                            # finite, which dense_queries words
                            qp = lane.normaliser.pointer(v)
                        else:
                            qp = lane.ptr(v)
                            storage = impl._storage if lane.follow else None
                            if storage is not None:   # HNSWIndex.search: the graph reads the column
                                storage.follow(vectors[:n], n)
                        if qp is not None:
                            index = impl.index   # search_c, by faiss's C entry point
                            if type(index) is not lane.faiss_cls:
                                lane.faiss_cls = type(index)
                                lane.search_c = raw_search_c(lane.faiss_cls)
                            lane.search_c(index, 1, qp, limit, dist_ptr, rows_ptr, fparams)
                            # read out before the lock goes (the arrays are the lane's); an
                            # empty slot (-1) has no primary key
                            rl = rows.tolist()
                            found = dist.tolist(), rl, pks[rows].tolist() if min(rl) >= 0 else None
                if found is not None:
                    dl, rl, hit_pks = found
                    # faiss returns the k best in order: the answer as it stands unless two
                    # adjacent distances are equal (then topk.select orders them by primary
                    # key) or a slot is empty or infinite
                    if hit_pks is not None and (dl[-1] > -_INF and all(map(operator.gt, dl, dl[1:]))
                                                if lane.larger else
                                                dl[-1] < _INF and all(map(operator.lt, dl, dl[1:]))):
                        return _single_result(p.pk_name, hit_pks, dl)
                    if not filter:
                        out = _tied_result(p, lane, pks, np.array([rl], _I64),
                                           np.array([dl], _F32), limit)
                        if out is not None:
                            return out
                    # (filtered: search_masked_one declines the same answer; search_covered
                    # below orders it)
    if params:   # the caller's dict, read by the paths below: a copy of its own
        params = dict(params)
    if not output_fields and p.float32 and p.entry is not None and \
            type(data) is list and len(data) == 1:
        v = data[0]   # _queries' single float32 query, inline (finite: checked below)
        if type(v) is np.ndarray and v.dtype == _F32 and v.shape == p.shape and \
                v.flags.c_contiguous:
            view = search_snapshot(collection, p.field.name)
            # a filter: only its mask cached for this snapshot's state (else _plain_any
            # computes it on a ReadView); no filter: only with no row tombstoned
            mask = None if view is None or not filter else \
                filter_cache.cached_mask(view, filter, filter_params)
            if view is not None and (view.deleted is None if not filter else mask is not None):
                try:
                    # a cached mask's graph search in a few steps (index/filtered.py: it
                    # checks the query is finite), else search_covered / search below
                    found = None if mask is None else \
                        search_masked_one(p.entry, v, limit, params, view, mask)
                    if found is not None:
                        dl, hit_pks, masked = found
                        if kept_key is not None and masked.impl is lane.index():
                            _keep_masked(lane, kept_key, (view.generation,
                                         view.num_rows_total, view.live), masked)
                        return _single_result(p.pk_name, hit_pks, dl)
                    out = None
                    if finite_query(v):   # (NaN or inf: dense_queries words it)
                        pk_of = pk_getter(view)
                        out = p.manager.search_covered(p.entry, v[None, :], limit, params,
                                                       pk_of, view, mask)
                        if out is None and mask is not None:   # exact, or an index tail
                            out = p.manager.search(p.entry, v[None, :], limit, mask, params,
                                                   pk_of, view=view)
                except StaleViewError:
                    out = None   # _plain_any retries on new snapshots
                except ParamError:
                    return None   # e.g. an ef out of range: the general path words it
                if out is not None:
                    rows, keys = out
                    r = rows[0]
                    if min(r.tolist()) >= 0 and keys.dtype.char in "fd":   # _one_query_result
                        dists = (-keys if p.larger else keys)[0].tolist()
                        return _single_result(p.pk_name, view.pk_values(r), dists)
    return _plain_any(collection, p, data, limit, output_fields, params, filter, filter_params)


_MAX_MASKED = 16   # filtered lanes kept per index lane (all of one collection state)


def _masked_key(filter: str, key: Any, filter_params: dict | None) -> tuple | None:
    """The kept filtered lanes' key: (filter text, the lanes' key[, filter_cache.params_key of
    the filter parameters]); None when there is none (a call no lane keeps, or parameters
    filter_cache keeps no mask for)."""
    if key is None:
        return None
    if not filter_params:
        return filter, key
    params = filter_cache.params_key(filter_params)
    return None if params is None else (filter, key, params)


def _keep_masked(lane: _Lane, key: tuple, state: tuple, masked: Any) -> None:
    """Keep a ``filtered.MaskedLane`` that just answered ``key`` = (filter text, lanes' key[,
    filter_cache.params_key of the filter parameters]) for the collection state it answered on (generation, rows, live rows: what names the mask
    in ``filter_cache``), so the next call of that filter on that state costs one dict read.
    Only the faiss parameters (with the mask's selector and bits) and the arrays are kept, no
    index; lanes of another state go (a write made them unreachable)."""
    kept = lane.masked
    for other, (was, _) in list(kept.items()):
        if was != state:
            kept.pop(other, None)
    if len(kept) >= _MAX_MASKED:
        kept.clear()
    kept[key] = (state, (masked.fparams, masked.dist, masked.labels, masked.dist_ptr,
                         masked.labels_ptr))


def _tied_result(p: _Plan, lane: _Lane, pks: np.ndarray, rows: np.ndarray, dist: np.ndarray,
                 limit: int) -> SearchResult | None:
    """The unfiltered lane's hits when faiss's list has equal adjacent distances (or an empty
    or infinite slot): ``topk.select`` on the sort keys with ties by primary key, as
    ``FaissIndex._search_all`` runs it; None when a slot stays empty (``_plain_any`` decides)."""
    def pk_of(r: np.ndarray) -> np.ndarray:   # pk_getter of a snapshot of these rows
        return exact_keys(pks[np.asarray(r, dtype=np.int64)].tolist())

    keys = -dist if lane.larger else dist   # to_key(dist, the index's metric)
    rows, keys = topk.select(keys, rows, limit, pk_of)
    if min(rows[0].tolist()) < 0 or keys.dtype.char not in "fd":
        return None
    dists = (-keys if p.larger else keys)[0].tolist()
    return _single_result(p.pk_name, pks[rows[0]].tolist(), dists)


def _single_result(pk_name: str, pks: list, dists: list) -> SearchResult:
    """One query's result, no output fields: each Hit made empty and filled in place (primary
    key first: Hit.id), so no temporary dict is copied per hit; the result as
    ``SearchResult.of_one`` makes it (no ``__init__`` call)."""
    hits = Hits()
    for pk, d in zip(pks, dists):
        hit = Hit()
        hit[pk_name] = pk
        hit["distance"] = d
        hit["entity"] = {}
        hits.append(hit)
    result = _new_list(SearchResult)
    result.append(hits)
    return result


def _plain_any(collection: Any, p: _Plan, data: Any, limit: int, output_fields: Any,
               params: dict, filter: Any, filter_params: Any) -> SearchResult | None:
    """``plain_search`` for every plain call: any queries, a filter, output fields,
    tombstones, an index tail (``IndexManager.search``), exact search without an index."""
    try:
        queries = _queries(p, data)
    except ParamError:
        return None
    entry = p.entry
    for _ in range(3):
        view = mask = None
        if not output_fields:
            view = search_snapshot(collection, p.field.name)
            if filter and view is not None:
                # a repeated filter's mask, found from the snapshot: no ReadView, no compiling
                mask = filter_cache.cached_mask(view, filter, filter_params)
                if mask is None:
                    view = None
        if view is None:
            if not (output_fields or filter):
                return None
            view = collection.read_view()
        try:
            if mask is not None:
                pass
            elif filter:   # cached per filter and collection state (engine/filter_cache.py)
                mask = filter_cache.search_mask(view, filter, filter_params)
            elif output_fields:
                mask = view.mask("")
            else:
                mask = None if view.deleted is None else ~view.deleted
            if entry is None:
                rows, dist = search_rows(view, p.plan, queries, limit, mask, params)
            else:   # search_rows' index branch, without its checks for other kinds
                manager, pk_of = p.manager, pk_getter(view)
                out = None if mask is not None else \
                    manager.search_covered(entry, queries, limit, params, pk_of, view)
                rows, keys = out if out is not None else \
                    manager.search(entry, queries, limit, mask, params, pk_of, view=view)
                dist = -keys if p.larger else keys
            if not output_fields and len(rows) == 1:
                out = _one_query_result(view, rows, dist, p.pk_name)
                if out is not None:
                    return out
            return build_result(view, rows, dist, output_fields, pk_name=p.pk_name)
        except StaleViewError:
            continue   # a compaction raced the read: again on a new snapshot
        except ParamError:
            return None   # e.g. an ef out of range: the general path words it
    return None
