"""``PropertiesMixin``: collection properties and schema evolution of ``MilvusClient``.

``alter_collection_properties`` / ``drop_collection_properties`` keep Milvus's collection keys
(shown by ``describe_collection``'s ``properties``); ``collection.ttl.seconds`` makes rows older
than that invisible to every read and removes them at ``compact``. ``add_collection_field`` adds
a nullable or defaulted scalar field to a collection that already holds rows (they read NULL or
the default); ``alter_collection_field`` changes field parameters. The work is done by
``embedb.engine.evolution``; values travel as strings, as pymilvus sends them.
"""

from __future__ import annotations

from typing import Any

from ..errors import ParamError
from ..schema import FieldSchema
from .base import check_name


def _properties(properties: Any, what: str) -> dict[str, str]:
    if not isinstance(properties, dict):
        raise ParamError(f"{what} must be a dict, got {type(properties).__name__}")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in properties.items()}


def _keys(keys: Any, what: str) -> list[str]:
    if isinstance(keys, str):
        return [keys] if keys else []
    if keys is None:
        return []
    try:
        return [str(k) for k in keys]
    except TypeError:
        raise ParamError(f"{what} must be a list of str, got {type(keys).__name__}") from None


class PropertiesMixin:
    def alter_collection_properties(self, collection_name: str, properties: dict,
                                    timeout: float | None = None, **kwargs: Any) -> None:
        """Set collection properties, e.g. ``{"collection.ttl.seconds": 3600}`` or
        ``{"mmap.enabled": True}`` (the latter only while the collection is released)."""
        from ..engine import evolution

        coll = self._collection(check_name(collection_name))
        evolution.alter_properties(coll, _properties(properties, "properties"))

    def drop_collection_properties(self, collection_name: str, property_keys: list[str],
                                   timeout: float | None = None, **kwargs: Any) -> None:
        """Remove collection properties (keys that are not set are ignored)."""
        from ..engine import evolution

        coll = self._collection(check_name(collection_name))
        evolution.alter_properties(coll, None, _keys(property_keys, "property_keys"))

    def alter_collection_field(self, collection_name: str, field_name: str, field_params: dict,
                               timeout: float | None = None, **kwargs: Any) -> None:
        """Change a field's ``max_length`` (VARCHAR), ``max_capacity`` (ARRAY), ``mmap.enabled``
        or description (``field.description``)."""
        from ..engine import evolution

        coll = self._collection(check_name(collection_name))
        check_name(field_name, "field_name")
        evolution.alter_field(coll, field_name, _properties(field_params, "field_params"),
                              _keys(kwargs.get("delete_keys"), "delete_keys"))

    def add_collection_field(self, collection_name: str, field_name: str, data_type: Any,
                             desc: str = "", timeout: float | None = None, **kwargs: Any) -> None:
        """Add a field to an existing collection. It must be ``nullable=True`` or have a
        ``default_value``; rows already stored read NULL (or the default)."""
        from ..engine import evolution

        coll = self._collection(check_name(collection_name))
        params = {k: v for k, v in kwargs.items() if k not in ("db_name", "client_request_id")}
        field = FieldSchema(field_name, data_type, desc, **params)
        evolution.add_field(coll, field)
