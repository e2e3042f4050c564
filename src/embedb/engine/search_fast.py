"""The lean path of the commonest search: dense or binary query vectors, no filter, no
partitions, no offset, grouping, range, ranker or ordering, plain index parameters.

``MilvusClient.search`` tries :func:`plain_search` first; ``None`` means "not a plain call" and
the general path (:func:`embedb.engine.search.search`) runs instead, so every error and every
other option keeps its one implementation there. The answer is the general path's answer: the
same kernels (:func:`search.search_rows`: the index manager, faiss, the exact scorer, top-k
with ties by primary key) on the same rows. What it skips is per-call overhead:

* a :class:`readview.SearchSnapshot` (row count, tombstones, one vector field, primary keys)
  instead of a full read view, and no row mask at all when no row is tombstoned;
* argument normalisation done once on the few shapes a plain call can have.

A search asking for output fields takes a full read view (entities need every column).
"""

from __future__ import annotations

from typing import Any

from ..errors import ParamError
from ..results import SearchResult
from .evolution import ttl_ms
from .index.base import MAX_TOPK
from .model_functions import function_of_output
from .readview import StaleViewError, search_snapshot
from .search import build_result, convert_queries, plan_field, resolve_anns_field, search_rows

# index search parameters a plain call may carry (anything else: the general path decides)
_PLAIN_PARAMS = frozenset(("ef", "nprobe", "refine_k"))
_PLAIN_KEYS = frozenset(("metric_type", "params"))


def _plain_params(search_params: Any) -> tuple[str | None, dict] | None:
    """``(metric, index params)`` of a plain call's search_params, or None when not plain."""
    if search_params is None:
        return None, {}
    if type(search_params) is not dict or not _PLAIN_KEYS.issuperset(search_params):
        return None
    params = search_params.get("params")
    if params:
        if type(params) is not dict or not _PLAIN_PARAMS.issuperset(params):
            return None
        params = dict(params)
    else:
        params = {}
    metric = search_params.get("metric_type")
    return (str(metric).upper() if metric else None), params


def plain_search(collection: Any, data: Any, limit: Any, output_fields: Any, search_params: Any,
                 anns_field: Any) -> SearchResult | None:
    """``search(collection, data, limit=..., output_fields=..., search_params=...,
    anns_field=...)`` with nothing else given; None when the general path must run it."""
    if type(limit) is not int or not 1 <= limit <= MAX_TOPK:
        return None
    parsed = _plain_params(search_params)
    if parsed is None:
        return None
    metric, params = parsed
    if output_fields is not None:
        if type(output_fields) is not list or not all(type(f) is str for f in output_fields):
            return None
        output_fields = output_fields or None
    try:
        field = resolve_anns_field(collection, anns_field)
        plan = plan_field(collection, field, metric)
        if plan.bm25 or plan.kind == "sparse" or field.nullable or \
                function_of_output(collection.schema, field.name) is not None or \
                ttl_ms(collection.properties) is not None:
            return None
        queries = convert_queries(plan, data)
    except ParamError:
        return None   # the general path raises it (its checks run in the server's order)
    for _ in range(3):
        view = collection.read_view() if output_fields else search_snapshot(collection, field.name)
        if view is None:
            return None
        try:
            if output_fields:
                mask = view.mask("")
            else:
                mask = None if view.deleted is None else ~view.deleted
            rows, dist = search_rows(view, plan, queries, limit, mask, params)
            return build_result(view, rows, dist, output_fields)
        except StaleViewError:
            continue   # a compaction raced the read: again on a new snapshot
        except ParamError:
            return None   # e.g. an ef out of range: the general path words it
    return None
