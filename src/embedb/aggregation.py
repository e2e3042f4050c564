"""``search(..., search_aggregation=SearchAggregation(...))``: hierarchical buckets over the hits
of a search, with the names and shapes of pymilvus 3 (``SearchAggregation``, ``TopHits``;
results ``SearchResult.agg_buckets[query] -> [AggregationBucket]``).

A spec is given as embedb's classes below or pymilvus's own (read through ``to_proto()``).
The computation lives in :mod:`embedb.engine.aggregation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ParamError

_OPS = ("avg", "count", "max", "min", "sum")
_DIRECTIONS = ("asc", "desc")
_SPECIAL_ORDER = ("_count", "_key")


def _single(item: Any, where: str) -> tuple[str, str]:
    if not isinstance(item, dict) or len(item) != 1:
        raise ParamError(f"{where} entries must be single-key dicts like {{'alias': 'asc'}}, "
                         f"got {item!r}")
    key, value = next(iter(item.items()))
    if not isinstance(key, str) or not isinstance(value, str):
        raise ParamError(f"{where} entries must map str to str, got {item!r}")
    return key, value


class TopHits:
    """The hits each bucket shows: ``size`` of them, sorted by ``sort``
    (``[{"price": "asc"}, {"_score": "asc"}]``; default: best score first)."""

    def __init__(self, size: int, sort: list[dict[str, str]] | None = None) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ParamError(f"TopHits.size must be a positive int, got {size!r}")
        self.size = size
        self.sort: list[tuple[str, str]] = []
        for item in sort or []:
            key, direction = _single(item, "TopHits.sort")
            if direction not in _DIRECTIONS:
                raise ParamError(f"TopHits.sort direction must be 'asc' or 'desc', got "
                                 f"{direction!r}")
            self.sort.append((key, direction))


class SearchAggregation:
    """One bucket level: group the hits by ``fields`` (a composite key), keep ``size`` buckets,
    compute ``metrics`` (``{"alias": {"avg": "price"}}``; ops count/sum/avg/min/max, ``_score``
    for the similarity score, ``"*"`` for count), order by ``order`` (metric aliases, ``_count``,
    ``_key``), show ``top_hits``, and nest ``sub_aggregation`` inside each bucket."""

    def __init__(self, fields: list[str], size: int, metrics: dict | None = None,
                 order: list[dict[str, str]] | None = None, top_hits: TopHits | None = None,
                 sub_aggregation: "SearchAggregation | None" = None) -> None:
        if not isinstance(fields, list) or not fields:
            raise ParamError("SearchAggregation.fields must be a non-empty list of str")
        for f in fields:
            if not isinstance(f, str) or not f:
                raise ParamError(f"SearchAggregation.fields must contain non-empty str, got {f!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ParamError(f"SearchAggregation.size must be a positive int, got {size!r}")
        if top_hits is not None and not isinstance(top_hits, TopHits):
            raise ParamError("SearchAggregation.top_hits must be a TopHits instance")
        if sub_aggregation is not None and not isinstance(sub_aggregation, SearchAggregation):
            raise ParamError("SearchAggregation.sub_aggregation must be a SearchAggregation")
        self.fields = list(fields)
        self.size = size
        self.metrics: dict[str, tuple[str, str]] = {}
        for alias, spec in (metrics or {}).items():
            if not isinstance(alias, str) or not alias:
                raise ParamError(f"metric alias must be non-empty str, got {alias!r}")
            op, target = _single(spec, f"metrics[{alias!r}]")
            if op not in _OPS:
                raise ParamError(f"metrics[{alias!r}] op must be one of {list(_OPS)}, got {op!r}")
            if op != "count" and target == "*":
                raise ParamError(f"metrics[{alias!r}] '*' is only valid for 'count' op")
            self.metrics[alias] = (op, target)
        self.order: list[tuple[str, str]] = []
        for item in order or []:
            key, direction = _single(item, "SearchAggregation.order")
            if direction not in _DIRECTIONS:
                raise ParamError(f"SearchAggregation.order direction must be 'asc' or 'desc', "
                                 f"got {direction!r}")
            if key not in self.metrics and key not in _SPECIAL_ORDER:
                raise ParamError(f"SearchAggregation.order key {key!r} must be a metric alias or "
                                 f"one of {list(_SPECIAL_ORDER)}")
            self.order.append((key, direction))
        self.top_hits = top_hits
        self.sub_aggregation = sub_aggregation


def native_aggregation(spec: Any) -> SearchAggregation:
    """embedb's spec for embedb's or pymilvus's ``SearchAggregation`` (read via its proto)."""
    if isinstance(spec, SearchAggregation):
        return spec
    to_proto = getattr(spec, "to_proto", None)
    if not callable(to_proto):
        raise ParamError(f"search_aggregation must be a SearchAggregation instance, got "
                         f"{type(spec).__name__}")
    return _from_proto(to_proto())


def _from_proto(p: Any) -> SearchAggregation:
    top = None
    if p.HasField("top_hits"):
        top = TopHits(p.top_hits.size, [{s.field_name: s.direction} for s in p.top_hits.sort])
    sub = _from_proto(p.sub_aggregation) if p.HasField("sub_aggregation") else None
    return SearchAggregation(
        list(p.fields), p.size, {alias: {m.op: m.field_name} for alias, m in p.metrics.items()},
        [{o.key: o.direction} for o in p.order], top, sub)


@dataclass
class AggregationHit:
    """One hit shown in a bucket: primary key, score and the requested output fields."""

    pk: Any
    score: float
    fields: dict = field(default_factory=dict)

    def field_ids(self) -> dict:
        return {name: i for i, name in enumerate(self.fields)}


@dataclass
class AggregationBucket:
    """One bucket: ``key`` (``[{"field_name", "field_id", "value"}]``), ``count`` (hits of the
    search pool in it), ``metrics``, ``hits`` (top hits) and ``sub_groups`` (nested buckets)."""

    key: list
    count: int
    metrics: dict = field(default_factory=dict)
    hits: list = field(default_factory=list)
    sub_groups: list = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"AggregationBucket(key={self.key!r}, count={self.count}, "
                f"metrics={self.metrics!r}, hits={len(self.hits)}, "
                f"sub_groups={len(self.sub_groups)})")
