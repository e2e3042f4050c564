"""``SearchMixin``: ``search``, ``hybrid_search`` and ``search_iterator`` of ``MilvusClient``.

Argument plumbing only; the work is in :mod:`embedb.engine.search`.
"""

from __future__ import annotations

from typing import Any

from ..errors import ParamError
from ..lenient import warn_unknown
from ..timestamptz import honours_timezone, iterator_honours_timezone
from .databases import _call, _with_db_name

# keyword arguments of pymilvus search() that embedb honours
_SEARCH_KW = ("offset", "round_decimal", "group_by_field", "group_size", "strict_group_size",
              "filter_params")
# accepted for compatibility, without effect in an embedded engine (reads are always strong)
_IGNORED_KW = ("consistency_level", "guarantee_timestamp", "graceful_time", "travel_timestamp",
               "hints")


def _split_kwargs(kwargs: dict, allowed: tuple[str, ...], method: str) -> dict:
    """The honoured keyword arguments; the rest are accepted as pymilvus accepts them (it sends
    them on to the server, which ignores what it does not know), with one warning."""
    warn_unknown(method, set(kwargs) - set(allowed) - set(_IGNORED_KW))
    return {k: v for k, v in kwargs.items() if k in allowed}


def _search_extras(kwargs: dict, search_params: dict | None) -> dict:
    """pymilvus 3 search options in their pymilvus spellings -> engine arguments."""
    out: dict = {}
    order = kwargs.pop("order_by_fields", None) or kwargs.pop("order_by", None)
    kwargs.pop("order_by", None)
    if order is None and isinstance(search_params, dict):
        order = search_params.get("order_by_fields")
    if order:
        from ..engine.query_ops import parse_order_by   # only when asked: a plain search skips it

        out["order_by"] = parse_order_by(order, "search")
    fields = kwargs.pop("group_by_fields", None)
    if fields is not None:
        if not isinstance(fields, list):
            raise ParamError("group_by_fields must be a list")
        if fields:   # several fields: one group per combination of their values
            if kwargs.get("group_by_field") not in (None, fields[0]) or \
                    (kwargs.get("group_by_field") is not None and len(fields) > 1):
                raise ParamError("give group_by_field or group_by_fields, not both")
            kwargs["group_by_field"] = fields[0] if len(fields) == 1 else list(fields)
    return out


def _plain_search(*args: Any) -> Any:
    from ..engine.search_fast import plain_search   # bound at first use: importing is inert

    global _plain_search
    _plain_search = plain_search
    return plain_search(*args)


def _refuse(what: str, value: Any, why: str) -> None:
    if value is not None and value != [] and value != {}:
        raise ParamError(f"search({what}=...) is not supported by embedb: {why}")


class SearchMixin:
    """Vector search methods. Needs ``self._loaded_collection(name)`` from the client base."""

    def search(self, collection_name: str, data: Any = None, filter: str = "", limit: int = 10,
               output_fields: list[str] | None = None, search_params: dict | None = None,
               timeout: float | None = None, partition_names: list[str] | None = None,
               anns_field: str | None = None, ranker: Any = None, function_chains: Any = None,
               highlighter: Any = None, ids: Any = None, search_aggregation: Any = None,
               *, db_name: str | None = None, **kwargs: Any):
        """Vector search; pymilvus 3's ``ids=`` (search with the stored vectors of these
        primary keys), ``ranker=`` (rrf / weighted), ``order_by_fields=`` and
        ``group_by_fields=[one field]`` are honoured (see docs/api.md)."""
        if db_name:   # this call in another database: as accept_db_name_keyword's wrapper does
            # (search takes db_name itself, so the class decorator leaves it unwrapped: a
            # single query's search would pay that wrapper's frame and argument copies)
            return _search_in_db(
                self, collection_name, data, filter, limit, output_fields, search_params, timeout,
                partition_names, anns_field, ranker, function_chains, highlighter, ids,
                search_aggregation, db_name=db_name, **kwargs)
        if (not kwargs or kwargs.keys() == {"filter_params"}) and partition_names is None and \
                ids is None and ranker is None and function_chains is None and \
                highlighter is None and search_aggregation is None and data is not None:
            # the plain call: its lean path (engine/search_fast.py), None when it is not plain
            # (no timezone= either: it would be in kwargs, so _search's wrapper has no work)
            # the default database's loaded collection, read without the lock (None: anything
            # unusual, and the general path looks it up and words any error)
            # (the call's db_name from the thread's own dict: getattr(_call, "db_name", None)
            # raises and catches an AttributeError, ~1.4 us, when it is not set)
            db = self._db
            coll = None if db is None or type(collection_name) is not str or \
                self._db_name != "default" or _call.__dict__.get("db_name") else \
                db.peek_collection(collection_name)
            result = None if coll is None or not coll.loaded else \
                _plain_search(coll, data, limit, output_fields, search_params, anns_field,
                              filter, kwargs.get("filter_params"))
            if result is not None:
                return result
        return self._search(collection_name, data, filter, limit, output_fields, search_params,
                            timeout, partition_names, anns_field, ranker, function_chains,
                            highlighter, ids, search_aggregation, **kwargs)

    @honours_timezone
    def _search(self, collection_name: str, data: Any, filter: str, limit: int,
                output_fields: list[str] | None, search_params: dict | None,
                timeout: float | None, partition_names: list[str] | None,
                anns_field: str | None, ranker: Any, function_chains: Any, highlighter: Any,
                ids: Any, search_aggregation: Any, **kwargs: Any):
        """``search`` of every call the plain-call path declines."""
        from ..engine import search as engine_search
        from .base import as_pk_list

        _refuse("function_chains", function_chains, "use hybrid_search() or a ranker")
        _refuse("highlighter", highlighter, "search results carry no highlights in embedb")
        if search_aggregation is not None:
            if kwargs.get("group_by_field") is not None:
                raise ParamError("search_aggregation and group_by_field are mutually exclusive")
            if kwargs.get("group_by_fields"):
                raise ParamError("search_aggregation and group_by_fields are mutually exclusive")
        if data is not None and ids is not None:
            raise ParamError("Either ids or data must be provided, not both")
        if data is None and ids is None:
            raise ParamError("Either data or ids must be provided")
        if ids is not None:
            ids = as_pk_list(ids)   # emptiness, duplicates and types: checked by the engine
        extras = _search_extras(kwargs, search_params)
        opts = _split_kwargs(kwargs, _SEARCH_KW, "search")
        return engine_search.search(
            self._loaded_collection(collection_name), data, anns_field=anns_field, filter=filter,
            limit=limit, output_fields=output_fields, search_params=search_params,
            partition_names=partition_names, ids=ids, ranker=ranker,
            search_aggregation=search_aggregation, **extras, **opts)

    @honours_timezone
    def hybrid_search(self, collection_name: str, reqs: list, ranker: Any, limit: int = 10,
                      output_fields: list[str] | None = None, timeout: float | None = None,
                      partition_names: list[str] | None = None, **kwargs: Any):
        from ..engine import search as engine_search

        opts = _split_kwargs(kwargs, ("offset", "round_decimal"), "hybrid_search")
        return engine_search.hybrid_search(
            self._loaded_collection(collection_name), reqs, ranker, limit=limit,
            output_fields=output_fields, partition_names=partition_names, **opts)

    @iterator_honours_timezone
    def search_iterator(self, collection_name: str, data: Any, batch_size: int = 1000,
                        filter: str | None = None, limit: int = -1,
                        output_fields: list[str] | None = None, search_params: dict | None = None,
                        timeout: float | None = None, partition_names: list[str] | None = None,
                        anns_field: str | None = None, round_decimal: int = -1, **kwargs: Any):
        """Search Iterator V2: batches of hits, best first, each row once."""
        from ..engine import search as engine_search
        from ..lenient import to_python

        if kwargs.get("offset"):
            raise ParamError("Offset is not supported for search_iterator (as Search Iterator V2)")
        if kwargs.get("order_by_fields") or kwargs.get("order_by"):
            raise ParamError("order_by is not supported when using search iterator")
        if kwargs.get("ids") is not None:   # no search by primary keys in iterators
            if data is not None:
                raise ParamError("Either ids or data must be provided, not both")
            raise ParamError("search_iterator takes query vectors as data; search by primary "
                             "keys (ids) is not supported by iterators")
        kwargs.pop("ids", None)
        kwargs.pop("offset", None)
        limit = to_python(limit) if limit is not None else -1
        opts = _split_kwargs(kwargs, ("filter_params", "external_filter_func"), "search_iterator")
        return engine_search.SearchIterator(
            self._loaded_collection(collection_name), data, batch_size=batch_size,
            filter=filter or "", limit=limit, output_fields=output_fields,
            search_params=search_params, partition_names=partition_names, anns_field=anns_field,
            round_decimal=round_decimal, **opts)


# search with db_name=: accept_db_name_keyword's wrapper around the search above, which runs it
# with the database of the call set (and checks the name first)
_search_in_db = _with_db_name("search", SearchMixin.search)
