"""``DataMixin``: insert, upsert, delete, get, query and query_iterator of ``MilvusClient``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParamError
from ..lenient import warn_unknown
from ..results import OmitZeroDict, QueryResult
from ..timestamptz import honours_timezone, iterator_honours_timezone
from .base import MAX_QUERY_WINDOW, as_name_list, as_pk_list, as_rows, check_name

# query() keyword arguments accepted for compatibility, without effect (reads are always strong).
_IGNORED_QUERY_KW = frozenset(
    {"consistency_level", "guarantee_timestamp", "graceful_time", "travel_timestamp",
     "client_request_id", "reduce_stop_for_best", "ignore_growing", "iterator", "hints",
     "timezone", "strict_cast"}
)


def _check_filter(filter: Any) -> str:
    if filter is None:
        return ""
    if not isinstance(filter, str):
        raise ParamError(f"filter must be a str, got {type(filter).__name__}")
    return filter


def _check_filter_params(params: Any) -> dict | None:
    if params is None:
        return None
    if not isinstance(params, dict):
        raise ParamError(f"filter_params must be a dict, got {type(params).__name__}")
    return params


def _check_output_fields(output_fields: Any) -> list[str] | None:
    fields = as_name_list(output_fields, "output_fields")
    return fields or None


def _check_count(value: Any, what: str, minimum: int) -> int:
    # worded as pymilvus's own check and the server's window check, with our detail after
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParamError(f"{what} [{value}] is invalid: {what} must be an int, got {value!r}")
    value = int(value)
    if value < minimum:
        bound = "gte than 0" if minimum == 0 else f"greater than {minimum - 1}"
        raise ParamError(f"invalid max query result window, {what} [{value}] is invalid, "
                         f"should be {bound} ({what} must be >= {minimum}, got {value})")
    return value


def _query_window(limit: Any, offset: Any) -> tuple[int | None, int]:
    """Validate limit/offset as the server does: offset + limit must stay within 16384."""
    offset = 0 if offset is None else _check_count(offset, "offset", 0)
    if limit is None or (isinstance(limit, int) and not isinstance(limit, bool) and limit == -1):
        # no limit: every matching row. The server reads offset only together with a limit,
        # so an offset alone is ignored (Milvus Lite applies it; embedb follows the server).
        return None, 0
    limit = _check_count(limit, "limit", 1)
    if limit + offset > MAX_QUERY_WINDOW:
        raise ParamError(
            f"invalid max query result window, (offset+limit) should be in range [1, {MAX_QUERY_WINDOW}], "
            f"but got {offset + limit}"
        )
    return limit, offset


class DataMixin:
    """Row-level reads and writes. Needs ``self._collection`` / ``self._loaded_collection``."""

    # writes ---------------------------------------------------------------------------------
    def insert(self, collection_name: str, data: dict | list[dict], timeout: float | None = None,
               partition_name: str | None = "", **kwargs: Any) -> dict:
        """Insert rows; returns ``{"insert_count": n, "ids": [...], "cost": 0}``."""
        rows = as_rows(data)
        coll = self._collection(collection_name, describing=True)
        partition = self._write_partition(coll, partition_name)
        if not rows:  # pymilvus answers an empty batch itself, with a plain dict
            return {"insert_count": 0, "ids": []}
        ids = coll.insert(rows, partition=partition)
        return OmitZeroDict({"insert_count": len(ids), "ids": list(ids), "cost": 0})

    def upsert(self, collection_name: str, data: dict | list[dict], timeout: float | None = None,
               partition_name: str | None = "", **kwargs: Any) -> dict:
        """Insert or replace rows by primary key; ``partial_update=True`` keeps the fields a row
        does not name. Returns ``{"upsert_count": n, "ids": [...], "cost": 0}``."""
        partial = kwargs.pop("partial_update", False)
        if not isinstance(partial, bool):
            raise ParamError(f"partial_update must be a bool, got {partial!r}")
        from .field_ops import apply_field_ops, normalize_field_ops

        ops = normalize_field_ops(kwargs.pop("field_ops", None))
        rows = as_rows(data)
        coll = self._collection(collection_name, describing=True)
        partition = self._write_partition(coll, partition_name)
        if not rows:
            return {"upsert_count": 0, "ids": []}
        if ops:   # any non-replace op makes the upsert partial, as in pymilvus
            rows, partial = apply_field_ops(coll, rows, ops), True
        ids = coll.upsert(rows, partition=partition, partial_update=partial)
        return OmitZeroDict({"upsert_count": len(ids), "cost": 0, "ids": list(ids)})

    def delete(self, collection_name: str, ids: Any = None, timeout: float | None = None,
               filter: str | None = None, partition_name: str | None = None,
               **kwargs: Any) -> OmitZeroDict:
        """Delete by primary keys (``ids``) or by ``filter``; returns ``{"delete_count": n}``
        with n the number of rows that were there and are now deleted."""
        pks = kwargs.pop("pks", None)
        filter_params = _check_filter_params(kwargs.pop("filter_params", None))
        filter = _check_filter(filter)
        keys: list | None = None
        if ids is not None or pks is not None:
            keys = (as_pk_list(ids) if ids is not None else []) + (
                as_pk_list(pks, "pks") if pks is not None else [])
        if keys is not None and filter.strip():
            raise ParamError("delete() takes either ids or filter, not both")
        if keys is None and not filter.strip():
            raise ParamError("delete() needs ids or a non-empty filter (use filter='id >= 0' "
                             "or truncate_collection() to delete everything)")
        coll = self._collection(collection_name)
        partitions = None
        if partition_name:
            check_name(partition_name, "partition_name")
            partitions = self._check_partitions(coll, [partition_name])
        if keys is not None:
            if not keys:
                return OmitZeroDict({"delete_count": 0, "cost": 0})
            n = coll.delete(ids=keys, partitions=partitions)
        else:
            n = coll.delete(filter=filter, filter_params=filter_params, partitions=partitions)
        return OmitZeroDict({"delete_count": int(n), "cost": 0})

    def _write_partition(self, coll: Any, partition_name: Any) -> str | None:
        if partition_name is None or partition_name == "":
            return None
        check_name(partition_name, "partition_name")
        if coll.schema.partition_key_field is not None:
            raise ParamError(
                f"collection {coll.name!r} has a partition key field; rows are routed to partitions "
                "by its value, so partition_name cannot be given"
            )
        self._check_partitions(coll, [partition_name])
        return partition_name

    # reads ------------------------------------------------------------------------------------
    @honours_timezone
    def get(self, collection_name: str, ids: Any, output_fields: list[str] | None = None,
            timeout: float | None = None, partition_names: list[str] | None = None,
            **kwargs: Any) -> QueryResult:
        """Rows by primary key (all fields, vectors included, unless ``output_fields``)."""
        keys = as_pk_list(ids)
        output_fields = _check_output_fields(output_fields)
        partitions = as_name_list(partition_names, "partition_names")
        coll = self._loaded_collection(collection_name, describing=True)
        partitions = self._check_partitions(coll, partitions)
        if not keys:
            return QueryResult([])
        rows = coll.query("", ids=keys, output_fields=output_fields or ["*"],
                          partitions=partitions)
        return QueryResult(rows)

    @honours_timezone
    def query(self, collection_name: str, filter: str = "", output_fields: list[str] | None = None,
              timeout: float | None = None, ids: Any = None,
              partition_names: list[str] | None = None, **kwargs: Any) -> QueryResult:
        """Rows matching ``filter`` (or ``ids``), with ``limit``/``offset``/``filter_params``.

        An empty filter without a limit returns every row (Milvus Lite's behaviour; the server
        requires a limit). ``output_fields=["count(*)"]`` returns ``[{"count(*)": n}]``.
        """
        if "expr" in kwargs:  # the ORM's name for filter
            expr = kwargs.pop("expr")
            if filter:
                raise ParamError("query() takes filter or expr, not both")
            filter = expr
        filter = _check_filter(filter)
        limit, offset = _query_window(kwargs.pop("limit", None), kwargs.pop("offset", None))
        filter_params = _check_filter_params(kwargs.pop("filter_params", None))
        from ..engine import query_ops   # the engine loads with the first client, not at import

        order_by = query_ops.parse_order_by(
            kwargs.pop("order_by_fields", None) or kwargs.pop("order_by", None))
        kwargs.pop("order_by", None)
        group_by = as_name_list(kwargs.pop("group_by_fields", None), "group_by_fields") or []
        warn_unknown("query", set(kwargs) - _IGNORED_QUERY_KW)
        keys = None
        if ids is not None:
            if filter.strip():
                raise ParamError("query() takes either ids or filter, not both")
            keys = as_pk_list(ids)
        output_fields = _check_output_fields(output_fields)
        partitions = as_name_list(partition_names, "partition_names")
        coll = self._loaded_collection(collection_name)
        partitions = self._check_partitions(coll, partitions)
        if keys is not None and not keys:
            return QueryResult([])
        plain, aggs = query_ops.parse_aggregates(output_fields)
        grouped = bool(group_by) or any(a.label != "count(*)" for a in aggs)
        if order_by and not grouped and limit is None:
            raise ParamError("ORDER BY requires explicit limit")
        if not grouped and not order_by:
            rows = coll.query(filter, filter_params=filter_params,
                              output_fields=output_fields or ["*"], limit=limit, offset=offset,
                              partitions=partitions, ids=keys)
            return QueryResult(rows)
        from ..engine.collection import read_consistently

        def ordered(view: Any) -> QueryResult:   # mask, order and rows from one snapshot
            matched = np.flatnonzero(view.mask(filter, filter_params, partitions, keys))
            if grouped:
                return QueryResult(query_ops.group_query(view, matched, group_by, aggs, plain,
                                                         order_by, limit, offset))
            fields = view.resolve_output_fields(output_fields or ["*"])
            pk_name = view.schema.primary_field.name
            fields = fields if pk_name in fields else [pk_name] + fields
            rows = query_ops.order_rows(view, matched, order_by)
            stop = None if limit is None else offset + limit
            return QueryResult(view.entities(rows[offset:stop], fields))

        return read_consistently(coll, ordered, need_pk=True)

    @iterator_honours_timezone
    def query_iterator(self, collection_name: str, batch_size: int = 1000, limit: int = -1,
                       filter: str = "", output_fields: list[str] | None = None,
                       partition_names: list[str] | None = None, timeout: float | None = None,
                       **kwargs: Any) -> "QueryIterator":
        """An iterator over the rows matching ``filter`` in primary-key order, ``batch_size``
        rows per ``next()`` call, at most ``limit`` rows (-1: all)."""
        filter = _check_filter(filter)
        batch_size = _check_count(batch_size, "batch_size", 1)
        if batch_size > MAX_QUERY_WINDOW:
            raise ParamError(f"batch_size must be <= {MAX_QUERY_WINDOW}, got {batch_size}")
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or (limit < 0 and limit != -1):
            raise ParamError(f"limit must be -1 (no limit) or an int >= 0, got {limit!r}")
        offset = _check_count(kwargs.pop("offset", 0) or 0, "offset", 0)
        filter_params = _check_filter_params(kwargs.pop("filter_params", None))
        if kwargs.get("order_by_fields") or kwargs.get("order_by"):
            raise ParamError("ORDER BY with iterator is not supported")
        warn_unknown("query_iterator", set(kwargs) - _IGNORED_QUERY_KW)
        output_fields = _check_output_fields(output_fields)
        partitions = as_name_list(partition_names, "partition_names")
        coll = self._loaded_collection(collection_name)
        partitions = self._check_partitions(coll, partitions)
        return QueryIterator(coll, batch_size=batch_size, limit=int(limit), filter=filter,
                             filter_params=filter_params, output_fields=output_fields,
                             partitions=partitions, offset=offset)


class QueryIterator:
    """Batches of a query in primary-key order, as ``pymilvus.orm.iterator.QueryIterator``.

    The matching rows are fixed when the iterator is made (like the server's MVCC snapshot):
    rows written later are not returned. If the collection's row numbers change meaning in
    between (compaction, truncate), the keys not yet returned are looked up again by primary
    key, so it neither repeats keys nor returns new ones.
    """

    def __init__(self, coll: Any, *, batch_size: int, limit: int, filter: str,
                 filter_params: dict | None, output_fields: list[str] | None,
                 partitions: list[str] | None, offset: int = 0) -> None:
        if output_fields and any(f.strip().lower() == "count(*)" for f in output_fields):
            raise ParamError("query_iterator() does not support count(*); use query()")
        self._coll = coll
        self._batch_size = batch_size
        self._remaining = None if limit < 0 else limit
        self._filter = filter
        self._filter_params = filter_params
        self._partitions = partitions
        pk_name = coll.schema.primary_field.name
        fields = list(coll.resolve_output_fields(output_fields or ["*"]))
        self._fields = fields if pk_name in fields else [pk_name] + fields
        self._closed = False
        self._snapshot()
        self._pos = min(offset, len(self._rows))

    def _snapshot(self, among: np.ndarray | None = None) -> None:
        """Rows matching now, in pk order; ``among``: only these primary keys (a re-read)."""
        from ..engine.collection import read_consistently
        from ..expr.strings import key_array

        ids = None if among is None else among.tolist()

        def matching(view: Any) -> tuple[np.ndarray, np.ndarray, int]:   # one snapshot
            if ids is not None and not ids:
                rows = np.empty(0, dtype=np.int64)
            else:
                rows = np.flatnonzero(view.mask(self._filter, self._filter_params, self._partitions, ids))
            # key_array: str keys with NULs stay str objects (a <U array drops trailing NULs)
            pks = key_array(view.pk_values(rows)) if len(rows) else np.empty(0, dtype=np.int64)
            return rows, pks, view.generation

        rows, pks, self._generation = read_consistently(self._coll, matching, need_pk=ids is not None)
        order = np.argsort(pks, kind="stable")
        self._rows, self._pks = rows[order], pks[order]
        self._pos = 0

    def next(self) -> list[dict]:
        """The next batch (a list of dicts); ``[]`` once every row has been returned."""
        if self._closed or self._remaining == 0:
            return []
        from ..engine.collection import read_consistently

        n = self._batch_size if self._remaining is None else min(self._batch_size, self._remaining)
        while True:
            rows = self._rows[self._pos:self._pos + n]
            if not len(rows):
                return []
            batch = read_consistently(self._coll, lambda view: view.entities(rows, self._fields)
                                      if view.generation == self._generation else None)
            if batch is not None:
                break
            # row numbers changed meaning: find the keys still to return by primary key
            self._snapshot(among=self._pks[self._pos:])
        self._pos += len(rows)
        if self._remaining is not None:
            self._remaining -= len(rows)
        return QueryResult(batch)

    def close(self) -> None:
        """Stop the iterator and free its state; ``next()`` returns ``[]`` afterwards."""
        self._closed = True
        self._rows = self._pks = np.empty(0, dtype=np.int64)

    def __iter__(self):
        """Iterate over the batches (each a list of dicts) until the rows run out."""
        while True:
            batch = self.next()
            if not batch:
                return
            yield batch
