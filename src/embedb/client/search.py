"""``SearchMixin``: ``search``, ``hybrid_search`` and ``search_iterator`` of ``MilvusClient``.

Argument plumbing only; the work is in :mod:`embedb.engine.search`.
"""

from __future__ import annotations

from typing import Any

from ..errors import ParamError

# keyword arguments of pymilvus search() that embedb honours
_SEARCH_KW = ("offset", "round_decimal", "group_by_field", "group_size", "strict_group_size",
              "filter_params")
# accepted for compatibility, without effect in an embedded engine (reads are always strong)
_IGNORED_KW = ("consistency_level", "guarantee_timestamp", "graceful_time", "travel_timestamp",
               "hints")


def _split_kwargs(kwargs: dict, allowed: tuple[str, ...], method: str) -> dict:
    unknown = set(kwargs) - set(allowed) - set(_IGNORED_KW)
    if unknown:
        raise ParamError(f"{method}() got unexpected keyword argument(s) {sorted(unknown)}")
    return {k: v for k, v in kwargs.items() if k in allowed}


class SearchMixin:
    """Vector search methods. Needs ``self._loaded_collection(name)`` from the client base."""

    def search(self, collection_name: str, data: Any = None, filter: str = "", limit: int = 10,
               output_fields: list[str] | None = None, search_params: dict | None = None,
               timeout: float | None = None, partition_names: list[str] | None = None,
               anns_field: str | None = None, ranker: Any = None, ids: Any = None,
               **kwargs: Any):
        from ..engine import search as engine_search

        if ranker is not None:
            raise ParamError("search(ranker=...) is not supported; use hybrid_search() to fuse results")
        if ids is not None:
            raise ParamError("search(ids=...) is not supported; pass the query vectors as data")
        opts = _split_kwargs(kwargs, _SEARCH_KW, "search")
        return engine_search.search(
            self._loaded_collection(collection_name), data, anns_field=anns_field, filter=filter,
            limit=limit, output_fields=output_fields, search_params=search_params,
            partition_names=partition_names, **opts)

    def hybrid_search(self, collection_name: str, reqs: list, ranker: Any, limit: int = 10,
                      output_fields: list[str] | None = None, timeout: float | None = None,
                      partition_names: list[str] | None = None, **kwargs: Any):
        from ..engine import search as engine_search

        opts = _split_kwargs(kwargs, ("offset", "round_decimal"), "hybrid_search")
        return engine_search.hybrid_search(
            self._loaded_collection(collection_name), reqs, ranker, limit=limit,
            output_fields=output_fields, partition_names=partition_names, **opts)

    def search_iterator(self, collection_name: str, data: Any, batch_size: int = 1000,
                        filter: str | None = None, limit: int = -1,
                        output_fields: list[str] | None = None, search_params: dict | None = None,
                        timeout: float | None = None, partition_names: list[str] | None = None,
                        anns_field: str | None = None, round_decimal: int = -1, **kwargs: Any):
        from ..engine import search as engine_search

        opts = _split_kwargs(kwargs, ("filter_params", "external_filter_func"), "search_iterator")
        return engine_search.SearchIterator(
            self._loaded_collection(collection_name), data, batch_size=batch_size,
            filter=filter or "", limit=limit, output_fields=output_fields,
            search_params=search_params, partition_names=partition_names, anns_field=anns_field,
            round_decimal=round_decimal, **opts)
