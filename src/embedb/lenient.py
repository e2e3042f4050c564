"""Leniency where pymilvus is lenient: its own enums and NumPy values are accepted where plain
names and Python values are, and unknown keyword arguments are accepted with one warning.

pymilvus forwards unknown keyword arguments of most calls to the server, which ignores what it
does not know; so code written for it passes extras freely (``timeout=``, ``consistency_level=``,
``_async=``...). embedb accepts them too and warns once per method and name, never raises.
"""

from __future__ import annotations

import enum
import os
import threading
import warnings
from typing import Any, Iterable

# pymilvus.IndexType spells two members differently from the index names
_ENUM_NAME_ALIASES = {"IVFLAT": "IVF_FLAT", "IVF_SQ8_H": "IVF_SQ8H"}

# keyword arguments with no effect in an embedded engine, accepted silently
SILENT_KWARGS = frozenset({
    "timeout", "consistency_level", "guarantee_timestamp", "graceful_time", "travel_timestamp",
    "client_request_id", "hints", "ignore_growing", "reduce_stop_for_best", "_async",
    "_callback", "context", "db_name", "cluster_id", "namespace", "use_default_consistency",
    "strict_cast", "timezone", "time_fields", "iterator", "collection_id", "schema",
    "is_embedding_list", "_refresh", "refresh", "resource_groups", "replica_number",
    "load_fields", "skip_load_dynamic_field", "sync", "num_shards", "shards_num",
})

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _new_lock_in_fork_child() -> None:  # a parent thread may have held it at the fork
    global _warned_lock
    _warned_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_fork_child)


def enum_text(value: Any) -> Any:
    """An Enum member (embedb's or pymilvus's ``IndexType``, ``MetricType``...) -> its name;
    any other value is returned unchanged."""
    if isinstance(value, enum.Enum):
        return _ENUM_NAME_ALIASES.get(value.name, value.name)
    return value


def to_python(value: Any) -> Any:
    """NumPy scalars and arrays -> plain Python values, recursively through dicts, lists and
    tuples (the shapes JSON, ARRAY and dynamic fields hold). Other values are unchanged."""
    if isinstance(value, dict):
        if any(_needs_conversion(v) for v in value.values()):
            return {k: to_python(v) for k, v in value.items()}
        return value
    if isinstance(value, (list, tuple)):
        if any(_needs_conversion(v) for v in value):
            return [to_python(v) for v in value]
        return value
    if _is_numpy(value):
        return value.tolist()
    return value


def _from_pymilvus(value: Any) -> bool:
    return type(value).__module__.startswith("pymilvus.")


def _proto_value(value: Any) -> Any:
    """pymilvus keeps a field's default value as a protobuf ``ValueField``: its Python value."""
    which = getattr(value, "WhichOneof", None)
    if callable(which):
        kind = which("data")
        return getattr(value, kind) if kind else None
    return value


def native_schema(schema: Any) -> Any:
    """A pymilvus ``CollectionSchema`` (``from pymilvus import CollectionSchema``) -> the equal
    embedb schema; anything else is returned unchanged."""
    if not _from_pymilvus(schema) or not hasattr(schema, "to_dict"):
        return schema
    from .schema import CollectionSchema

    d = schema.to_dict()
    fields = []
    for f, fd in zip(schema.fields, d.get("fields", [])):
        fd = dict(fd)
        if "default_value" in fd:
            fd["default_value"] = _proto_value(getattr(f, "default_value", None))
            if fd["default_value"] is None:
                del fd["default_value"]
        fields.append(fd)
    d["fields"] = fields
    return CollectionSchema.from_dict(d)


def native_index_params(index_params: Any) -> Any:
    """pymilvus ``IndexParams`` / ``IndexParam`` -> embedb's; anything else unchanged."""
    from .schema import IndexParam, IndexParams

    def one(p: Any) -> Any:
        if not _from_pymilvus(p) or not hasattr(p, "to_dict"):
            return p
        d = dict(p.to_dict())
        return IndexParam(d.pop("field_name"), d.pop("index_type", "") or "",
                          d.pop("index_name", "") or "", **d)

    if isinstance(index_params, (list, tuple)) and any(_from_pymilvus(p) for p in index_params):
        return IndexParams(one(p) for p in index_params)
    return one(index_params)


def _is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "tolist")


def _needs_conversion(value: Any) -> bool:
    if _is_numpy(value):
        return True
    if isinstance(value, dict):
        return any(_needs_conversion(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_needs_conversion(v) for v in value)
    return False


def warn_unknown(method: str, names: Iterable[str]) -> None:
    """Warn, once per ``method`` and name, that keyword arguments are accepted and ignored."""
    fresh = []
    with _warned_lock:
        for name in sorted(names):
            if name in SILENT_KWARGS or (method, name) in _warned:
                continue
            _warned.add((method, name))
            fresh.append(name)
    if fresh:
        warnings.warn(f"{method}(): keyword argument(s) {fresh} are not used by embedb and are "
                      "ignored", UserWarning, stacklevel=3)
