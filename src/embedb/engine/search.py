"""Search on one collection: plain, range, grouped, hybrid (fused) and iterated searches.

Every search is: validate the arguments, turn ``data`` into query arrays, compile the filter into
one row mask (live rows & partitions & filter), ask the field's index for the top k rows
(:meth:`IndexManager.search`, exact when there is no index), then shape ``SearchResult`` hits.
All queries of a call are searched together (vectorised), never one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import ParamError
from ..results import Hit, Hits, SearchResult
from . import filter_cache, fusion, model_functions, rerank
from .index import topk
from .index.base import MAX_TOPK
from .index.exact import exact_search
from .index.manager import DEFAULT_METRIC, field_kind, indexes_of, is_bm25_output
from .index.metrics import BINARY_METRICS, FLOAT_METRICS, in_range, larger_is_better
from .index.queries import binary_queries, dense_queries, sparse_queries, text_queries
from .index.sparse import drop_smallest, exact_sparse_search, parse_drop_ratio_search
from .collection import read_consistently
from .readview import on_snapshot

_KIND_METRICS = {"dense": FLOAT_METRICS, "binary": BINARY_METRICS, "sparse": ("IP",)}
_PARAM_KEYS_TOP = ("metric_type", "params", "offset", "limit", "ignore_growing", "round_decimal")


# ---------------------------------------------------------------------------------------------
# argument checks
def _int_arg(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParamError(f"{name} must be an integer, got {value!r}")
    if not lo <= int(value) <= hi:
        raise ParamError(f"{name} must be in [{lo}, {hi}], got {value}")
    return int(value)


def resolve_anns_field(collection: Any, anns_field: str | None) -> Any:
    vector_fields = [f for f in collection.schema.fields if f.dtype.is_vector]
    if anns_field:
        f = collection.schema.field(anns_field)
        if f is None or not f.dtype.is_vector:
            raise ParamError(f"anns_field {anns_field!r} is not a vector field of collection "
                             f"{collection.name!r}; vector fields: {[v.name for v in vector_fields]}")
        return f
    if len(vector_fields) != 1:
        raise ParamError(f"multiple vector fields exist, please specify anns_field in "
                         f"search_params: collection {collection.name!r} has vector fields "
                         f"{[v.name for v in vector_fields]}")
    return vector_fields[0]


def split_search_params(search_params: dict | None) -> tuple[str | None, dict]:
    """``{"metric_type": ..., "params": {...}}`` (flat keys accepted too) -> (metric, params)."""
    if search_params is None:
        return None, {}
    if not isinstance(search_params, dict):
        raise ParamError(f"search_params must be a dict, got {type(search_params).__name__}")
    params = dict(search_params.get("params") or {})
    if not isinstance(params, dict):
        raise ParamError("search_params['params'] must be a dict")
    for key, value in search_params.items():
        if key not in ("metric_type", "params"):
            params.setdefault(key, value)
    metric = search_params.get("metric_type") or params.pop("metric_type", None)
    params.pop("metric_type", None)
    return (str(metric).upper() if metric else None), params


@dataclass
class FieldPlan:
    """How to search one vector field: its kind, metric and index entry (or exact)."""

    field: Any
    kind: str
    metric: str
    entry: Any
    bm25: bool


def plan_field(collection: Any, field: Any, metric: str | None) -> FieldPlan:
    kind = field_kind(field.dtype)
    bm25 = kind == "sparse" and is_bm25_output(collection, field.name)
    entry = indexes_of(collection).for_field(field.name)
    if bm25:
        if metric not in (None, "BM25"):
            raise ParamError(f"field {field.name!r} is the output of a BM25 function: search it "
                             f"with metric_type 'BM25', not {metric!r}")
        return FieldPlan(field, kind, "BM25", entry, True)
    if entry is not None:
        if metric is not None and metric != entry.spec.metric_type:
            raise ParamError(f"metric type not match: invalid parameter[expected="
                             f"{entry.spec.metric_type}][actual={metric}]: metric_type {metric!r} "
                             f"does not match the index of field {field.name!r}")
        return FieldPlan(field, kind, entry.spec.metric_type, entry, False)
    metric = metric or DEFAULT_METRIC[kind]
    if metric not in _KIND_METRICS[kind]:
        raise ParamError(f"metric_type {metric!r} is not valid for field {field.name!r} "
                         f"({field.dtype.name}); valid: {list(_KIND_METRICS[kind])}")
    return FieldPlan(field, kind, metric, None, False)


def convert_queries(plan: FieldPlan, data: Any, collection: Any = None) -> Any:
    """Search data of one field as the kernels take it; with ``collection``, texts given for
    the output of a TEXTEMBEDDING function are embedded with the model's query convention."""
    f = plan.field
    if collection is not None:
        data = model_functions.embed_query_texts(collection, f, data)
    if plan.bm25:
        return text_queries(data, f.name)
    if plan.kind == "sparse":
        return sparse_queries(data, f.name)
    if plan.kind == "binary":
        return binary_queries(data, f.name, int(f.dim))
    return dense_queries(data, f.name, f.dtype, int(f.dim))


def num_queries(queries: Any) -> int:
    return len(queries) if isinstance(queries, (list, np.ndarray)) else queries.shape[0]


def exact_keys(keys: list) -> np.ndarray:
    """Primary keys as an array that sorts and compares them exactly (ties by primary key)."""
    if keys and type(keys[0]) is str:   # with NULs: str objects (a <U array drops them)
        from ..expr.strings import key_array

        return key_array(keys)
    return np.asarray(keys)


def pk_getter(collection: Any) -> topk.PkOf:
    def pk_of(rows: np.ndarray) -> np.ndarray:
        return exact_keys(collection.pk_values(np.asarray(rows, dtype=np.int64)))

    return pk_of


# ---------------------------------------------------------------------------------------------
# the core: top-k rows of one field
def search_rows(collection: Any, plan: FieldPlan, queries: Any, k: int, mask: np.ndarray | None,
                params: dict) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` rows per query among the rows ``mask`` allows.

    Returns ``(rows (nq, k) int64 with -1 padding, distances (nq, k))`` in the metric's own
    convention (L2 ascending, IP/COSINE/BM25 descending).
    """
    mask = _skip_null_vectors(collection, plan, mask)
    pk_of = pk_getter(collection)
    if plan.bm25:
        from . import fulltext

        # ties by pk, like every other path (search_bm25 resolves them among all tied rows)
        rows, scores = fulltext.search_bm25(collection, plan.field.name, queries, k, mask, params,
                                            pk_of=pk_of)
        return rows, np.where(rows < 0, -np.inf, scores).astype(np.float32)
    if plan.entry is not None:
        rows, keys = indexes_of(collection).search(plan.entry, queries, k, mask, params, pk_of,
                                                   view=collection)
    elif plan.kind == "sparse":
        queries = drop_smallest(queries, parse_drop_ratio_search(params))
        rows, keys = exact_sparse_search(collection.sparse_vectors(plan.field.name), queries, k,
                                         allowed=mask, pk_of=pk_of)
    else:
        vectors = collection.dense_vectors(plan.field.name)
        rows, keys = exact_search(queries, vectors, plan.metric, k, allowed=mask, pk_of=pk_of)
    dist = -keys if larger_is_better(plan.metric) else keys
    return rows, dist


def _skip_null_vectors(collection: Any, plan: FieldPlan, mask: np.ndarray | None) -> np.ndarray | None:
    """A nullable vector field: rows whose vector is NULL are never candidates (as Milvus)."""
    if not plan.field.nullable:
        return mask
    valid = collection.vector_valid(plan.field.name)
    if valid is None or valid.all():
        return mask
    return valid.copy() if mask is None else mask & valid[: len(mask)]


def range_rows(collection: Any, plan: FieldPlan, queries: Any, k: int, mask: np.ndarray | None,
               params: dict, radius: float | None, range_filter: float | None):
    """Top ``k`` rows inside the range (Milvus: L2-like ``range_filter <= d < radius``, IP-like
    ``radius < d <= range_filter``). Exact paths filter while scoring; ANN and sparse paths widen
    the candidate list until every query has k rows in range or the range is exhausted."""
    mask = _skip_null_vectors(collection, plan, mask)
    if plan.entry is None and plan.kind != "sparse" and not plan.bm25:
        vectors = collection.dense_vectors(plan.field.name)
        rows, keys = exact_search(queries, vectors, plan.metric, k, allowed=mask,
                                  radius=radius, range_filter=range_filter,
                                  pk_of=pk_getter(collection))
        return rows, (-keys if larger_is_better(plan.metric) else keys)
    total = int(collection.num_rows_total)
    want = k
    while True:
        rows, dist = search_rows(collection, plan, queries, want, mask, params)
        ok = in_range(dist, plan.metric, radius, range_filter) & (rows >= 0)
        # the worst returned candidate still better than radius: more may lie in range
        last = dist[:, -1]
        beyond = ~in_range(last[:, None], plan.metric, radius, None)[:, 0] | (rows[:, -1] < 0)
        done = (ok.sum(1) >= k) | beyond
        if done.all() or want >= total:
            break
        want = min(total, want * 4)
    keys = np.where(ok, -dist if larger_is_better(plan.metric) else dist, np.inf)
    rows, keys = topk.select(keys.astype(np.float64), rows, k, pk_getter(collection))
    return rows, (-keys if larger_is_better(plan.metric) else keys)


def _range_args(params: dict, metric: str) -> tuple[float | None, float | None]:
    radius = params.get("radius")
    range_filter = params.get("range_filter")
    if radius is None and range_filter is None:
        return None, None
    try:
        radius = None if radius is None else float(radius)
        range_filter = None if range_filter is None else float(range_filter)
    except (TypeError, ValueError):
        raise ParamError("radius and range_filter must be numbers") from None
    if radius is not None and range_filter is not None:
        if larger_is_better(metric) and not radius < range_filter:
            raise ParamError(f"for metric {metric} range search needs radius < range_filter, "
                             f"got radius={radius}, range_filter={range_filter}")
        if not larger_is_better(metric) and not range_filter < radius:
            raise ParamError(f"for metric {metric} range search needs range_filter < radius, "
                             f"got radius={radius}, range_filter={range_filter}")
    return radius, range_filter


# ---------------------------------------------------------------------------------------------
# shaping results
def _round(dist: np.ndarray, round_decimal: int) -> np.ndarray:
    return np.round(dist.astype(np.float64), round_decimal) if round_decimal >= 0 else dist


def build_result(collection: Any, rows: np.ndarray, dist: np.ndarray,
                 output_fields: list[str] | None, round_decimal: int = -1,
                 pk_name: str | None = None) -> SearchResult:
    """One Hits list per query row; hits for rows ``-1`` are left out."""
    pk_name = pk_name or collection.schema.primary_field.name
    if round_decimal >= 0 or not isinstance(dist, np.ndarray) or dist.dtype.char not in "fd":
        dist = _round(np.asarray(dist, dtype=np.float64), round_decimal)
    # else float32 / float64 as they are: tolist() widens float32 exactly as float64 would
    nq, k = rows.shape
    flat = rows.reshape(-1)
    # few rows: Python's min over a list costs less than a NumPy reduction's call
    full = bool(flat.size) and (min(flat.tolist()) if flat.size <= 1024 else flat.min()) >= 0
    if full:   # the common case: every query has k hits
        dvals, counts = dist.reshape(-1).tolist(), None
    else:
        valid = rows >= 0
        flat, dvals, counts = rows[valid], dist[valid].tolist(), valid.sum(1).tolist()
    pks = collection.pk_values(flat) if len(flat) else []
    fields = collection.resolve_output_fields(output_fields) if output_fields else []
    # this loop is the per-hit cost of every search: an empty Hit filled in place (primary key
    # first: Hit.id) costs less than building a dict and copying it into a Hit
    entities = collection.entities(flat, fields) if fields and len(flat) else None
    flat_hits: list = []
    append = flat_hits.append
    if entities is None:
        for p, d in zip(pks, dvals):
            hit = Hit()
            hit[pk_name] = p
            hit["distance"] = d
            hit["entity"] = {}
            append(hit)
    else:
        for p, d, e in zip(pks, dvals, entities):
            hit = Hit()
            hit[pk_name] = p
            hit["distance"] = d
            hit["entity"] = e
            append(hit)
    if nq == 1:
        return SearchResult([Hits(flat_hits)])
    if counts is None:
        return SearchResult([Hits(flat_hits[i:i + k]) for i in range(0, nq * k, k)])
    out = []
    i = 0
    for c in counts:
        out.append(Hits(flat_hits[i:i + c]))
        i += c
    return SearchResult(out)


def _normalize_output_fields(output_fields: Any) -> list[str] | None:
    if output_fields is None:
        return None
    if isinstance(output_fields, str):
        return [output_fields]
    if not isinstance(output_fields, (list, tuple)):
        raise ParamError(f"output_fields must be a list of field names, got "
                         f"{type(output_fields).__name__}")
    return list(output_fields)


# ---------------------------------------------------------------------------------------------
# group by
def _group_codes(columns: list, r: np.ndarray) -> np.ndarray:
    """One int code per row of ``r``, equal for equal group keys (a NULL value is a value)."""
    parts = []
    for column in columns:
        vals = column.values[r]
        if vals.dtype.kind == "T":   # exact with NUL characters (a scan of these few rows)
            from ..expr.strings import unique_inverse

            inv = unique_inverse(vals)
        else:
            _, inv = np.unique(vals.astype(str) if vals.dtype == object else vals, return_inverse=True)
        codes = inv.astype(np.int64).reshape(-1)
        if column.valid is not None:
            codes = np.where(column.valid[r], codes, -1)   # NULL is a group of its own
        parts.append(codes)
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.stack(parts, axis=1), axis=0, return_inverse=True)[1].reshape(-1)


def group_rows(collection, plan, queries, mask, params, group_field: str | list[str],
               limit: int, group_size: int, strict: bool):
    """Up to ``limit`` groups per query (groups ranked by their best hit), each with up to
    ``group_size`` hits; ``group_field`` may name several fields (one group per combination).
    Widens the candidate list until enough groups (``strict``: and enough hits in each) are
    found or the rows run out."""
    fields = [group_field] if isinstance(group_field, str) else list(group_field)
    for name in fields:
        f = collection.schema.field(name)
        if f is None:
            raise ParamError(f"group_by_field {name!r} is not a field of collection "
                             f"{collection.name!r}")
        if f.dtype.is_vector or f.dtype.name in ("JSON", "ARRAY", "FLOAT", "DOUBLE"):
            raise ParamError(f"group_by_field {name!r} has type {f.dtype.name}; group by "
                             "needs a BOOL, INT or VARCHAR field")
    columns = [collection.source.column(name) for name in fields]
    total = int(collection.num_rows_total) if mask is None else int(mask.sum())
    want = min(max(limit * group_size * 4, 64), max(total, 1))
    nq = num_queries(queries)
    while True:
        rows, dist = search_rows(collection, plan, queries, want, mask, params)
        out_rows = np.full((nq, limit * group_size), -1, dtype=np.int64)
        out_dist = np.zeros((nq, limit * group_size))
        enough = True
        for q in range(nq):
            r = rows[q][rows[q] >= 0]
            codes = _group_codes(columns, r)
            uniq, first_pos, inv = np.unique(codes, return_index=True, return_inverse=True)
            rank_of = np.argsort(np.argsort(first_pos))[inv]     # groups by their best hit
            order = np.argsort(inv, kind="stable")
            starts = np.r_[0, np.flatnonzero(np.diff(inv[order])) + 1]
            within = np.empty(len(r), dtype=np.int64)
            within[order] = np.arange(len(r)) - np.repeat(starts, np.diff(np.r_[starts, len(r)]))
            keep = (within < group_size) & (rank_of < limit)
            sel = np.flatnonzero(keep)
            sel = sel[np.lexsort((within[sel], rank_of[sel]))]   # group by group, best first
            out_rows[q, :len(sel)] = r[sel]
            out_dist[q, :len(sel)] = dist[q][:len(r)][sel]
            n_groups = min(limit, len(first_pos))
            full = np.bincount(rank_of[keep], minlength=n_groups)[:n_groups] >= group_size
            if len(r) == want and (n_groups < limit or (strict and not full.all())):
                enough = False
        if enough or want >= total:
            return out_rows, out_dist
        want = min(total, want * 4)


# ---------------------------------------------------------------------------------------------
# public entry points
@on_snapshot
def search(collection: Any, data: Any, *, anns_field: str | None = None, filter: str = "",
           filter_params: dict | None = None, limit: int = 10,
           output_fields: list[str] | None = None, search_params: dict | None = None,
           partition_names: list[str] | None = None, offset: int | None = None,
           round_decimal: int = -1, group_by_field: str | None = None, group_size: int | None = None,
           strict_group_size: bool = False, ids: list | None = None,
           order_by: list | None = None, ranker: Any = None,
           search_aggregation: Any = None) -> SearchResult:
    """``MilvusClient.search`` on one engine collection (see docs/search.md).

    ``ids``: search with the stored vectors of these primary keys (one query each) instead of
    ``data``. ``order_by``: ``query_ops.OrderKey``s that re-order each query's hits by scalar
    fields. ``ranker``: an rrf / weighted ranker applied to the single result list.
    ``search_aggregation``: bucket the hits (``result.agg_buckets``; the hit lists are empty).
    """
    if ids is not None:
        field = resolve_anns_field(collection, anns_field)
        data = stored_queries(collection, field, ids, partition_names)
    if search_aggregation is not None:
        if group_by_field:
            raise ParamError("search_aggregation and group_by_field are mutually exclusive")
        if offset or (search_params or {}).get("offset") or \
                ((search_params or {}).get("params") or {}).get("offset"):
            raise ParamError("offset is not supported with search_aggregation")
        if ranker is not None:
            raise ParamError("search_aggregation cannot be combined with a ranker")
        return _aggregate(collection, data, search_aggregation, anns_field=anns_field,
                          filter=filter, filter_params=filter_params,
                          search_params=search_params, partition_names=partition_names,
                          output_fields=output_fields)
    if ranker is not None:
        strategy = _ranker_strategy(ranker)
        k = _int_arg(limit, "limit", 1, MAX_TOPK) + _int_arg(offset or 0, "offset", 0, MAX_TOPK)
        result = search(collection, data, anns_field=anns_field, filter=filter,
                        filter_params=filter_params, limit=k, output_fields=None,
                        search_params=search_params, partition_names=partition_names,
                        offset=0, round_decimal=-1)
        return _rerank_single(collection, result, strategy, search_params, anns_field, limit,
                              offset, output_fields, round_decimal, order_by)
    result = _search_plain(collection, data, anns_field=anns_field, filter=filter,
                           filter_params=filter_params, limit=limit, output_fields=output_fields,
                           search_params=search_params, partition_names=partition_names,
                           offset=offset, round_decimal=round_decimal,
                           group_by_field=group_by_field, group_size=group_size,
                           strict_group_size=strict_group_size)
    if order_by:
        result = _order_hits(collection, result, order_by)
    return result


def _aggregate(collection: Any, data: Any, spec: Any, *, anns_field, filter, filter_params,
               search_params, partition_names, output_fields) -> SearchResult:
    """Search aggregation (see :mod:`embedb.engine.aggregation`): a grouped search over the
    composite key of every level picks the pool, then each query's buckets are built."""
    from ..aggregation import native_aggregation
    from .aggregation import build_buckets, plan_pool

    spec = native_aggregation(spec)
    metric, params = split_search_params(search_params)
    plan = plan_field(collection, resolve_anns_field(collection, anns_field), metric)
    queries = convert_queries(plan, data, collection)
    fields, groups, per_group = plan_pool(collection, spec, num_queries(queries))
    mask = collection.mask(filter or "", filter_params, partition_names)
    radius, range_filter = _range_args(params, plan.metric)
    rows, dist = group_rows(collection, plan, queries, mask, params, fields, groups, per_group,
                            False)
    if radius is not None or range_filter is not None:   # the pool keeps hits in range only
        inside = in_range(dist, plan.metric, radius, range_filter)
        rows = np.where(inside, rows, -1)
    output_fields = _normalize_output_fields(output_fields)
    result = SearchResult([Hits() for _ in range(len(rows))])
    result.agg_buckets = [build_buckets(collection, spec, rows[q], dist[q],
                                        larger_is_better(plan.metric), output_fields)
                          for q in range(len(rows))]
    return result


def stored_queries(collection: Any, field: Any, ids: list,
                   partition_names: list[str] | None = None) -> Any:
    """The stored vectors of ``field`` for the primary keys ``ids`` (looked up in the searched
    partitions), as search data; the server's errors for empty, duplicate, mistyped or
    missing keys."""
    if not ids:
        raise ParamError("`ids` value [] is illegal")
    if len(set(ids)) != len(ids):
        raise ParamError(f"duplicate IDs found in search request: {ids}")
    pk_is_str = collection.schema.primary_field.dtype.name == "VARCHAR"
    if any(isinstance(k, str) != pk_is_str for k in ids):
        raise ParamError(f"primary key is {'varchar' if pk_is_str else 'int64'}, but IDs type "
                         "mismatch")
    rows = np.asarray(collection.rows_of(ids), dtype=np.int64)
    if partition_names:
        inside = collection.mask("", None, partition_names)
        rows = np.where((rows >= 0) & inside[np.maximum(rows, 0)], rows, -1)
    if (rows < 0).any():
        missing = [ids[i] for i in np.flatnonzero(rows < 0)[:10]]
        raise ParamError(f"some of the provided primary key IDs do not exist: missing IDs "
                         f"{missing} in collection {collection.name!r}")
    valid = collection.vector_valid(field.name) if field.nullable else None
    if valid is not None and not valid[rows].all():
        nulls = [ids[i] for i in np.flatnonzero(~valid[rows])[:10]]
        raise ParamError(f"search(ids=...): the {field.name!r} vector of IDs {nulls} is NULL")
    kind = field_kind(field.dtype)
    if kind == "sparse":
        if is_bm25_output(collection, field.name):
            raise ParamError(f"search(ids=...) cannot search field {field.name!r}: it is the "
                             "output of a BM25 function; search it with text")
        return collection.sparse_vectors(field.name)[rows]
    vecs = np.asarray(collection.dense_vectors(field.name))[rows]
    if field.dtype.name == "BFLOAT16_VECTOR":   # stored as the upper 16 bits of float32
        return (vecs.astype(np.uint32) << 16).view(np.float32)
    return vecs if kind == "binary" else vecs.astype(np.float32)


def _rerank_single(collection, result, strategy, search_params, anns_field, limit, offset,
                   output_fields, round_decimal, order_by) -> SearchResult:
    """Apply an rrf / weighted ranker to one search's hits (fusion of a single list)."""
    metric, _ = split_search_params(search_params)
    plan = plan_field(collection, resolve_anns_field(collection, anns_field), metric)
    nq, k = len(result), max((len(h) for h in result), default=0)
    pk_name = collection.schema.primary_field.name
    rows = np.full((nq, max(k, 1)), -1, dtype=np.int64)
    dist = np.zeros((nq, max(k, 1)))
    if k:
        pks = [h[pk_name] for hits in result for h in hits]
        flat = np.asarray(collection.rows_of(pks), dtype=np.int64)
        i = 0
        for q, hits in enumerate(result):
            rows[q, :len(hits)] = flat[i:i + len(hits)]
            dist[q, :len(hits)] = [h["distance"] for h in hits]
            i += len(hits)
    limit = _int_arg(limit, "limit", 1, MAX_TOPK)
    offset = _int_arg(offset or 0, "offset", 0, MAX_TOPK)
    if strategy["strategy"] == "functions":   # decay / boost / model rankers
        rows, scores = _function_rank(collection, strategy, rows,
                                      rerank.start_scores(dist, plan.metric), offset + limit)
    else:
        rows, scores = _fuse(strategy, [(rows, dist)], [plan.metric], offset + limit,
                             pk_getter(collection))
    out = build_result(collection, rows[:, offset:], scores[:, offset:],
                       _normalize_output_fields(output_fields),
                       _int_arg(round_decimal, "round_decimal", -1, 6))
    return _order_hits(collection, out, order_by) if order_by else out


def _order_hits(collection: Any, result: SearchResult, order_by: list):
    """Each query's hits re-ordered by the ``order_by`` keys (scalar fields, JSON paths, dynamic
    keys; ties keep the score order)."""
    from .query_ops import check_order_by, order_values

    check_order_by(collection, order_by, "search")
    pk_name = collection.schema.primary_field.name
    out = []
    for hits in result:
        if len(hits) < 2:
            out.append(hits)
            continue
        rows = np.asarray(collection.rows_of([h[pk_name] for h in hits]), dtype=np.int64)
        order = order_values(collection, rows, order_by, where="search")
        out.append(Hits([hits[i] for i in order]))
    return SearchResult(out)


def _search_plain(collection: Any, data: Any, *, anns_field: str | None = None,
                  filter: str = "", filter_params: dict | None = None, limit: int = 10,
                  output_fields: list[str] | None = None, search_params: dict | None = None,
                  partition_names: list[str] | None = None, offset: int | None = None,
                  round_decimal: int = -1, group_by_field: str | None = None,
                  group_size: int | None = None, strict_group_size: bool = False) -> SearchResult:
    metric, params = split_search_params(search_params)
    offset = params.pop("offset", 0) if offset is None else offset
    if not isinstance(limit, bool) and isinstance(limit, (int, np.integer)) and \
            not 1 <= limit <= MAX_TOPK:   # the server's wording
        raise ParamError(f"topk [{limit}] is invalid, it should be in range [1, {MAX_TOPK}], "
                         f"but got {limit}")
    limit = _int_arg(limit, "limit", 1, MAX_TOPK)
    offset = _int_arg(offset or 0, "offset", 0, MAX_TOPK)
    if limit + offset > MAX_TOPK:
        raise ParamError(f"limit + offset must be <= {MAX_TOPK}, got {limit} + {offset}")
    round_decimal = _int_arg(round_decimal, "round_decimal", -1, 6)
    output_fields = _normalize_output_fields(output_fields)
    field = resolve_anns_field(collection, anns_field)
    plan = plan_field(collection, field, metric)
    queries = convert_queries(plan, data, collection)
    mask = filter_cache.search_mask(collection, filter or "", filter_params, partition_names)
    radius, range_filter = _range_args(params, plan.metric)
    group_by_field = group_by_field or params.pop("group_by_field", None)
    if group_by_field:
        gsize = _int_arg(group_size if group_size is not None else params.get("group_size", 1),
                         "group_size", 1, 1024)
        rows, dist = group_rows(collection, plan, queries, mask, params, group_by_field,
                                offset + limit, gsize, bool(strict_group_size))
        rows, dist = rows[:, offset * gsize:], dist[:, offset * gsize:]
        result = build_result(collection, rows, dist, output_fields, round_decimal)
        _add_group_values(collection, result, rows, group_by_field)
        return result
    k = offset + limit
    if radius is not None or range_filter is not None:
        rows, dist = range_rows(collection, plan, queries, k, mask, params, radius, range_filter)
    else:
        rows, dist = search_rows(collection, plan, queries, k, mask, params)
    return build_result(collection, rows[:, offset:], dist[:, offset:], output_fields, round_decimal)


def _add_group_values(collection, result: SearchResult, rows: np.ndarray,
                      group_field: str | list[str]) -> None:
    """Milvus returns the group value(s) of each hit in its entity."""
    fields = [group_field] if isinstance(group_field, str) else list(group_field)
    flat = rows[rows >= 0]
    if not len(flat):
        return
    values = collection.entities(flat, fields)
    i = 0
    for hits in result:
        for hit in hits:
            for name in fields:
                hit.entity[name] = values[i].get(name)
            i += 1


@on_snapshot
def hybrid_search(collection: Any, reqs: list, ranker: Any, *, limit: int = 10,
                  output_fields: list[str] | None = None,
                  partition_names: list[str] | None = None, offset: int = 0,
                  round_decimal: int = -1) -> SearchResult:
    """Run each AnnSearchRequest (own filter and limit) and fuse them with RRF or weights."""
    if not isinstance(reqs, (list, tuple)) or not reqs:
        raise ParamError("hybrid_search needs a non-empty list of AnnSearchRequest")
    limit = _int_arg(limit, "limit", 1, MAX_TOPK)
    offset = _int_arg(offset or 0, "offset", 0, MAX_TOPK)
    if limit + offset > MAX_TOPK:
        raise ParamError(f"limit + offset must be <= {MAX_TOPK}, got {limit} + {offset}")
    round_decimal = _int_arg(round_decimal, "round_decimal", -1, 6)
    strategy = _ranker_strategy(ranker)
    results, metrics = [], []
    nq = None
    for i, req in enumerate(reqs):
        for attr in ("data", "anns_field", "param", "limit"):
            if not hasattr(req, attr):
                raise ParamError(f"reqs[{i}] is not an AnnSearchRequest")
        req_limit = _int_arg(req.limit, f"reqs[{i}].limit", 1, MAX_TOPK)
        metric, params = split_search_params(req.param)
        field = resolve_anns_field(collection, req.anns_field)
        plan = plan_field(collection, field, metric)
        queries = convert_queries(plan, req.data, collection)
        n = num_queries(queries)
        if nq is not None and n != nq:
            raise ParamError(f"every AnnSearchRequest needs the same number of queries: "
                             f"reqs[0] has {nq}, reqs[{i}] has {n}")
        nq = n
        expr = getattr(req, "expr", None) or ""
        mask = filter_cache.search_mask(collection, expr, getattr(req, "expr_params", None),
                                        partition_names)
        radius, range_filter = _range_args(params, plan.metric)
        if radius is not None or range_filter is not None:
            rows, dist = range_rows(collection, plan, queries, req_limit, mask, params, radius,
                                    range_filter)
        else:
            rows, dist = search_rows(collection, plan, queries, req_limit, mask, params)
        results.append((rows, dist))
        metrics.append(plan.metric)
    k = offset + limit
    if strategy["strategy"] == "functions":   # every request's hits, each at its best score
        if any(step["kind"] == "boost" for step in strategy["functions"]):
            raise ParamError("a boost ranker cannot rank a hybrid_search (as in Milvus); boost "
                             "inside search(), or fuse with rrf / weighted / dbsf / convex")
        rows, start = _union_best(results, metrics)
        rows, scores = _function_rank(collection, strategy, rows, start, k)
    else:
        rows, scores = _fuse(strategy, results, metrics, k, pk_getter(collection))
    return build_result(collection, rows[:, offset:], scores[:, offset:], output_fields,
                        round_decimal)


FUSION_RANKERS = ("rrf", "weighted", "dbsf", "convex")   # dbsf, convex: embedb's own


def _ranker_strategy(ranker: Any) -> dict:
    """``{"strategy": "rrf" | "weighted", "params": {...}}`` from any ranker form pymilvus
    takes: ``RRFRanker``/``WeightedRanker`` (``.dict()``), a ``Function`` of type RERANK with
    ``params["reranker"]``, or a ``FunctionScore`` holding one such Function."""
    functions = getattr(ranker, "functions", None)
    if functions is not None and not callable(getattr(ranker, "dict", None)):   # FunctionScore
        functions = functions if isinstance(functions, (list, tuple)) else [functions]
        if not functions:
            raise ParamError("a FunctionScore needs at least one rerank Function")
        if len(functions) == 1:
            return _ranker_strategy(functions[0]) if not getattr(ranker, "params", None) \
                else _function_plan(functions, ranker.params)
        return _function_plan(functions, getattr(ranker, "params", None))
    to_dict = getattr(ranker, "dict", None)
    if callable(to_dict):
        d = to_dict()
        strategy, params = str(d.get("strategy", "")).lower(), dict(d.get("params") or {})
    elif isinstance(getattr(ranker, "params", None), dict) and hasattr(ranker, "type"):
        if int(getattr(ranker, "type")) != 3:   # FunctionType.RERANK
            raise ParamError(f"a ranker Function must have function_type RERANK, got "
                             f"{getattr(ranker, 'type')!r}")
        params = dict(ranker.params)
        strategy = str(params.pop("reranker", "")).lower()
        if strategy == "weighted" and "norm_score" in params:
            params["norm_score"] = str(params["norm_score"]).lower() not in ("false", "0")
    else:
        raise ParamError("ranker must be RRFRanker(k), WeightedRanker(*weights) or a rerank "
                         f"Function, got {type(ranker).__name__}")
    if strategy not in FUSION_RANKERS + ("decay", "model", "boost"):   # the server's wording
        raise ParamError(f"unsupported reranker {strategy}; embedb supports: "
                         f"{list(FUSION_RANKERS)}")
    if strategy in rerank.FUNCTION_RANKERS:
        return _function_plan([ranker], None)
    if strategy == "weighted":
        weights = params.get("weights")
        if not isinstance(weights, (list, tuple)) or not weights:
            raise ParamError("a weighted ranker needs params['weights'], one per search request")
    if strategy in ("dbsf", "convex") and params.get("weights") is not None and \
            not isinstance(params["weights"], (list, tuple)):
        raise ParamError(f"a {strategy} ranker's params['weights'] must be a list, one number "
                         "per search request")
    return {"strategy": strategy, "params": params}


def _function_plan(functions: list, score_params: Any) -> dict:
    """decay / boost / model rankers (several in one FunctionScore run in order)."""
    for fn in functions:
        if not isinstance(getattr(fn, "params", None), dict) or not hasattr(fn, "type") or \
                int(getattr(fn, "type")) != 3:
            raise ParamError("a FunctionScore holds rerank Functions (FunctionType.RERANK)")
        kind = str(fn.params.get("reranker", "")).lower()
        if kind not in rerank.FUNCTION_RANKERS:
            raise ParamError(f"a FunctionScore combines {list(rerank.FUNCTION_RANKERS)} rankers; "
                             f"{kind or '(none)'!r} fuses requests: give it as the only ranker")
    return rerank.parse_functions(list(functions), score_params if isinstance(score_params, dict)
                                  else None)


def _union_best(results: list, metrics: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per query, every row any request returned, with its best starting score (decay stage 1
    scores: distances mapped by ``1 - 2 atan(d) / pi``)."""
    rows = np.concatenate([r for r, _ in results], axis=1)
    start = np.concatenate([np.where(r >= 0, rerank.start_scores(d, m), -np.inf)
                            for (r, d), m in zip(results, metrics)], axis=1)
    out_rows = np.full(rows.shape, -1, dtype=np.int64)
    out = np.full(rows.shape, -np.inf)
    for q in range(rows.shape[0]):
        order = np.lexsort((-start[q], rows[q]))   # by row, best score first
        r, s = rows[q][order], start[q][order]
        first = np.ones(len(r), bool)
        first[1:] = r[1:] != r[:-1]
        keep = first & (r >= 0)
        out_rows[q, :keep.sum()] = r[keep]
        out[q, :keep.sum()] = s[keep]
    return out_rows, out


def _function_rank(collection: Any, plan: dict, rows: np.ndarray, start: np.ndarray, k: int):
    """Best ``k`` of ``rows`` by the function rankers' scores (ties by primary key)."""
    scores = rerank.apply(collection, plan, rows, start)
    keys = np.where(rows >= 0, -scores, np.inf)
    out_rows, out_keys = topk.select(keys, rows, k, pk_getter(collection))
    return out_rows, np.where(out_rows >= 0, -out_keys, np.nan)


def _fuse(strategy: dict, results: list, metrics: list[str], k: int, pk_of: Any):
    if strategy["strategy"] == "rrf":
        return fusion.rrf(results, k, float(strategy["params"].get("k", 60)), pk_of=pk_of)
    p = strategy["params"]
    if strategy["strategy"] in ("dbsf", "convex"):
        fuse = fusion.dbsf if strategy["strategy"] == "dbsf" else fusion.convex
        return fuse(results, metrics, k, p.get("weights"), pk_of=pk_of)
    return fusion.weighted(results, metrics, [float(w) for w in p.get("weights", [])], k,
                           bool(p.get("norm_score", True)), pk_of=pk_of)


class SearchIterator:
    """``search_iterator``: batches of hits best first, each row once, stable under ties.

    Each batch is a search among the rows not returned yet (a row mask), so the order is the
    exact ``(distance, pk)`` order on exact paths and no row ever comes twice.
    """

    def __init__(self, collection: Any, data: Any, *, batch_size: int = 1000, filter: str = "",
                 limit: int = -1, output_fields: list[str] | None = None,
                 search_params: dict | None = None, partition_names: list[str] | None = None,
                 anns_field: str | None = None, round_decimal: int = -1,
                 filter_params: dict | None = None,
                 external_filter_func: Callable[[Hits], Hits] | None = None) -> None:
        self._batch = _int_arg(batch_size, "batch_size", 1, MAX_TOPK)
        if isinstance(limit, bool) or not isinstance(limit, int) or (limit < 0 and limit != -1):
            raise ParamError(f"limit must be -1 (no limit) or a non-negative integer, got {limit!r}")
        self._limit = limit
        self._round = _int_arg(round_decimal, "round_decimal", -1, 6)
        self._output_fields = _normalize_output_fields(output_fields)
        self._collection = collection
        metric, self._params = split_search_params(search_params)
        self._radius, self._range_filter = None, None
        field = resolve_anns_field(collection, anns_field)
        self._plan = plan_field(collection, field, metric)
        self._queries = convert_queries(self._plan, data, collection)
        if num_queries(self._queries) != 1:
            raise ParamError("search_iterator_v2 does not support processing multiple vectors "
                             "simultaneously: search_iterator takes exactly one query vector")
        self._radius, self._range_filter = _range_args(self._params, self._plan.metric)
        self._filter = filter or ""
        self._filter_params = filter_params
        self._partitions = partition_names
        self._rows_at_start = int(collection.num_rows_total)
        self._returned = np.zeros(self._rows_at_start, dtype=bool)
        self._count = 0
        self._external = external_filter_func
        self._cache: list = []
        self._closed = False

    def next(self) -> Hits:
        if self._closed:
            return Hits()
        want = self._batch if self._limit < 0 else min(self._batch, self._limit - self._count)
        if want <= 0:
            return Hits()
        # hits the external filter kept beyond the last batch come first (as pymilvus's cache)
        out = Hits(self._cache[:want])
        del self._cache[:want]
        while len(out) < want:
            k = want - len(out)
            step = read_consistently(self._collection, lambda view: self._step(view, k))
            if step is None:
                break
            got, hits = step
            self._returned[got] = True
            if self._external is not None:
                hits = Hits(self._external(hits))
            out.extend(hits)
        if len(out) > want:
            self._cache[:0] = out[want:]
            out = Hits(out[:want])
        self._count += len(out)
        return out

    def _step(self, view: Any, k: int) -> tuple[np.ndarray, Hits] | None:
        """The next ``k`` rows not returned yet and their hits, all from one snapshot."""
        mask = view.mask(self._filter, self._filter_params, self._partitions)
        mask = mask[: self._rows_at_start].copy()
        mask &= ~self._returned[: len(mask)]
        if not mask.any():
            return None
        if self._radius is not None or self._range_filter is not None:
            rows, dist = range_rows(view, self._plan, self._queries, k, mask, self._params,
                                    self._radius, self._range_filter)
        else:
            rows, dist = search_rows(view, self._plan, self._queries, k, mask, self._params)
        got = rows[0][rows[0] >= 0]
        if not len(got):
            return None
        return got, build_result(view, rows, dist, self._output_fields, self._round)[0]

    def close(self) -> None:
        self._closed = True

    def __iter__(self):
        while True:
            batch = self.next()
            if not batch:
                return
            yield batch
