"""``IndexMixin``: the index methods of ``MilvusClient`` (thin wrappers over the engine)."""

from __future__ import annotations

from typing import Any

from ..errors import ParamError
from ..schema import IndexParam, IndexParams


class IndexMixin:
    """``prepare_index_params``, ``create_index``, ``list_indexes``, ``describe_index``,
    ``drop_index``. Needs ``self._collection(name)`` from the client base."""

    @staticmethod
    def prepare_index_params(field_name: str = "", **kwargs: Any) -> IndexParams:
        """Return an empty :class:`IndexParams`; with ``field_name`` it already holds one entry.

        Callable on the class and on instances, as in pymilvus.
        """
        params = IndexParams()
        if field_name:
            params.add_index(field_name, **kwargs)
        return params

    def create_index(self, collection_name: str, index_params: Any, timeout: float | None = None,
                     **kwargs: Any) -> None:
        from ..engine.index.manager import indexes_of
        from ..lenient import native_index_params

        index_params = native_index_params(index_params)   # pymilvus's IndexParams too
        if isinstance(index_params, IndexParam):
            index_params = [index_params]
        if not isinstance(index_params, (list, tuple)) or not index_params:
            raise ParamError("index_params must be a non-empty IndexParams (prepare_index_params())")
        for p in index_params:
            if not isinstance(p, IndexParam):
                raise ParamError(f"index_params entries must be IndexParam, got {type(p).__name__}")
        manager = indexes_of(self._collection(collection_name))
        for p in index_params:
            manager.create(p)

    def list_indexes(self, collection_name: str, field_name: str = "", **kwargs: Any) -> list[str]:
        from ..engine.index.manager import indexes_of

        return indexes_of(self._collection(collection_name)).list(field_name or None)

    def describe_index(self, collection_name: str, index_name: str, timeout: float | None = None,
                       **kwargs: Any) -> dict | None:
        """The index's description, or None when the collection has no such index (pymilvus
        turns the server's "index not found" into None)."""
        from ..engine.index.manager import indexes_of

        coll = self._collection(collection_name)
        manager = indexes_of(coll)
        if index_name not in manager.list():
            return None
        out = manager.describe(index_name)
        out.update(_index_properties(coll).get(index_name, {}))
        return out

    def drop_index(self, collection_name: str, index_name: str, timeout: float | None = None,
                   **kwargs: Any) -> None:
        from ..engine.index.manager import indexes_of

        coll = self._collection(collection_name)
        indexes_of(coll).drop(index_name)
        props = _index_properties(coll)
        if props.pop(index_name, None) is not None:
            coll.save_meta()

    def alter_index_properties(self, collection_name: str, index_name: str, properties: dict,
                               timeout: float | None = None, **kwargs: Any) -> None:
        """Set index properties (``{"mmap.enabled": True}``...); ``describe_index`` shows them.
        They are kept for Milvus compatibility: embedb's indexes live in memory either way."""
        coll, props = self._index_props_of(collection_name, index_name)
        if not isinstance(properties, dict) or not properties:
            raise ParamError("properties must be a non-empty dict")
        for key, value in properties.items():
            if not isinstance(key, str) or not key:
                raise ParamError(f"index property names must be non-empty str, got {key!r}")
            props[key] = str(value)   # the server keeps (and returns) every value as a string
        coll.save_meta()

    def drop_index_properties(self, collection_name: str, index_name: str,
                              property_keys: list[str], timeout: float | None = None,
                              **kwargs: Any) -> None:
        """Remove index properties set by :meth:`alter_index_properties` (missing keys: no-op)."""
        coll, props = self._index_props_of(collection_name, index_name)
        if isinstance(property_keys, str):
            property_keys = [property_keys]
        if not isinstance(property_keys, (list, tuple)):
            raise ParamError("property_keys must be a list of str")
        for key in property_keys:
            props.pop(key, None)
        coll.save_meta()

    def _index_props_of(self, collection_name: str, index_name: str) -> tuple[Any, dict]:
        from ..engine.index.manager import indexes_of

        coll = self._collection(collection_name)
        indexes_of(coll).entry(index_name)   # IndexNotFoundError naming the index
        return coll, _index_properties(coll).setdefault(index_name, {})


def _index_properties(coll: Any) -> dict:
    """``{index_name: {key: value}}``, persisted with the collection's metadata."""
    return coll.meta.setdefault("index_properties", {})
