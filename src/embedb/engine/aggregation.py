"""Search aggregation: buckets of hits by field values, nested up to four levels.

As the server does it: one grouped search over the composite key of every level's fields
picks the pool (up to the product of the levels' ``size`` groups, each with up to the largest
``top_hits.size`` hits, default 1); each level then splits its parent's pool hits by its own
fields, in best-score order, computes its metrics, orders and cuts its buckets, and shows its
top hits. ``count`` is the number of pool hits in a bucket.
"""

from __future__ import annotations

from math import prod
from typing import Any

import numpy as np

from ..aggregation import AggregationBucket, AggregationHit, SearchAggregation
from ..errors import ParamError

MAX_LEVELS = 4
MAX_RESULT_ENTRIES = 10000   # the server's proxy.maxSearchAggregationResultEntries default
_KEY_TYPES = ("BOOL", "INT8", "INT16", "INT32", "INT64", "VARCHAR", "STRING", "TIMESTAMPTZ")
_NUMERIC = ("INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE")


def levels_of(spec: SearchAggregation) -> list[SearchAggregation]:
    out = []
    while spec is not None:
        out.append(spec)
        spec = spec.sub_aggregation
    return out


def plan_pool(collection: Any, spec: SearchAggregation, nq: int) -> tuple[list[str], int, int]:
    """(composite group fields, number of groups, hits per group) after the server's checks."""
    levels = levels_of(spec)
    if len(levels) > MAX_LEVELS:
        raise ParamError(f"search_aggregation nesting exceeds max {MAX_LEVELS} levels, got "
                         f"{len(levels)}")
    fields: list[str] = []
    for level in levels:
        for name in level.fields:
            f = collection.schema.field(name)
            if f is None:
                raise ParamError(f"search_aggregation field {name!r} not found in schema of "
                                 f"collection {collection.name!r}")
            if f.dtype.name in ("FLOAT", "DOUBLE"):
                raise ParamError(f"FLOAT / DOUBLE fields are not supported with "
                                 f"search_aggregation: {name!r}")
            if f.dtype.name not in _KEY_TYPES:
                raise ParamError(f"search_aggregation field {name!r} has type {f.dtype.name}; "
                                 f"group keys must be one of {list(_KEY_TYPES)}")
            if name not in fields:
                fields.append(name)
        for alias, (op, target) in level.metrics.items():
            if target in ("_score", "*"):
                continue
            f = collection.schema.field(target)
            if f is None:
                raise ParamError(f"metrics[{alias!r}]: field {target!r} not found in schema")
            if op in ("sum", "avg") and f.dtype.name not in _NUMERIC:
                raise ParamError(f"metrics[{alias!r}]: {op} needs a numeric field, {target!r} "
                                 f"is {f.dtype.name}")
    groups = prod(level.size for level in levels)
    per_group = max([level.top_hits.size for level in levels if level.top_hits] or [1])
    if nq * groups * per_group > MAX_RESULT_ENTRIES:
        raise ParamError(f"number of search_aggregation result entries is too large: "
                         f"nq {nq} x buckets {groups} x hits {per_group} > {MAX_RESULT_ENTRIES}")
    return fields, groups, per_group


def build_buckets(collection: Any, spec: SearchAggregation, rows: np.ndarray,
                  dist: np.ndarray, better_high: bool,
                  output_fields: list[str] | None) -> list[AggregationBucket]:
    """The bucket tree of one query from its pool (``rows`` with their ``dist``)."""
    keep = rows >= 0
    rows, dist = rows[keep], np.asarray(dist, dtype=np.float64)[keep]
    order = np.argsort(-dist if better_high else dist, kind="stable")   # best first
    rows, dist = rows[order], dist[order]
    levels = levels_of(spec)
    pk_name = collection.schema.primary_field.name
    shown = collection.resolve_output_fields(output_fields) if output_fields else []
    needed = list(dict.fromkeys(
        [f for lv in levels for f in lv.fields]
        + [t for lv in levels for _, t in lv.metrics.values() if t not in ("_score", "*")]
        + [k for lv in levels if lv.top_hits for k, _ in lv.top_hits.sort if k != "_score"]
        + shown + [pk_name]))
    values = collection.entities(rows, needed) if len(rows) else []
    ctx = _Context(collection, levels, values, dist.tolist(), shown, pk_name)
    return ctx.buckets(0, list(range(len(rows))))


class _Context:
    def __init__(self, collection, levels, values, scores, shown, pk_name) -> None:
        self.levels = levels
        self.values = values
        self.scores = scores
        self.shown = shown   # the search's output fields
        self.pk_name = pk_name
        self.field_ids = {f.name: 100 + i for i, f in enumerate(collection.schema.fields)}

    def value(self, member: int, name: str) -> Any:
        return self.scores[member] if name == "_score" else self.values[member].get(name)

    def buckets(self, depth: int, members: list[int]) -> list[AggregationBucket]:
        level = self.levels[depth]
        groups: dict[tuple, list[int]] = {}
        for m in members:   # members are best first, so buckets come in best-hit order
            groups.setdefault(tuple(self.value(m, f) for f in level.fields), []).append(m)
        out = []
        for key, group in groups.items():
            bucket = AggregationBucket(
                key=[{"field_name": f, "field_id": self.field_ids.get(f, 0), "value": v}
                     for f, v in zip(level.fields, key)],
                count=len(group),
                metrics={alias: self.metric(op, target, group)
                         for alias, (op, target) in level.metrics.items()},
            )
            if level.top_hits is not None:
                bucket.hits = [self.hit(m) for m in self.top(level, group)]
            if level.sub_aggregation is not None:
                bucket.sub_groups = self.buckets(depth + 1, group)
            out.append((key, bucket))
        for name, direction in reversed(level.order):   # stable sorts, least significant last
            out = _sorted(out, lambda kb: _order_value(kb, name), direction == "desc")
        return [b for _, b in out[:level.size]]

    def metric(self, op: str, target: str, group: list[int]) -> Any:
        if op == "count":
            return len(group) if target == "*" else \
                sum(self.value(m, target) is not None for m in group)
        vals = [self.value(m, target) for m in group]
        vals = [v for v in vals if v is not None]
        if not vals:
            return None
        if op == "sum":
            return sum(vals)
        if op == "avg":
            return sum(vals) / len(vals)
        return min(vals) if op == "min" else max(vals)

    def top(self, level: SearchAggregation, group: list[int]) -> list[int]:
        items = [(m, m) for m in group]
        for name, direction in reversed(level.top_hits.sort):
            items = _sorted(items, lambda mm, n=name: self.value(mm[0], n), direction == "desc")
        return [m for m, _ in items[:level.top_hits.size]]

    def hit(self, m: int) -> AggregationHit:
        row = self.values[m]
        return AggregationHit(pk=row.get(self.pk_name), score=self.scores[m],
                              fields={f: row.get(f) for f in self.shown if f in row})


def _order_value(key_bucket: tuple, name: str) -> Any:
    key, bucket = key_bucket
    if name == "_count":
        return bucket.count
    if name == "_key":
        return key
    return bucket.metrics.get(name)


def _sorted(items: list, value, desc: bool) -> list:
    """Stable sort by ``value``; None (and keys holding None) after every value."""
    def k(item):
        v = value(item)
        if isinstance(v, tuple):
            return (False, tuple((x is None, x if x is not None else 0) for x in v))
        return (v is None, v if v is not None else 0)
    present = [i for i in items if not k(i)[0]]
    missing = [i for i in items if k(i)[0]]
    present.sort(key=lambda i: k(i)[1], reverse=desc)
    return present + missing
