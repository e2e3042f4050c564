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

        manager = indexes_of(self._collection(collection_name))
        if index_name not in manager.list():
            return None
        return manager.describe(index_name)

    def drop_index(self, collection_name: str, index_name: str, timeout: float | None = None,
                   **kwargs: Any) -> None:
        from ..engine.index.manager import indexes_of

        indexes_of(self._collection(collection_name)).drop(index_name)
