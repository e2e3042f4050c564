"""Collection properties, time to live and schema evolution.

- Properties (``alter_properties``): Milvus's collection keys are accepted and kept in the
  catalog; ``collection.ttl.seconds`` is honoured, ``mmap.enabled``/``lazyload.enabled`` cannot
  change while the collection is loaded (as on the server), ``dynamicfield.enabled`` turns the
  dynamic field on (never off).
- Time to live: every appended row carries its insert time in the hidden int64 column
  ``$ts`` (milliseconds, from :func:`clock_ms`, which tests may replace). A row is expired once
  ``clock_ms() >= $ts + ttl``; ``apply_ttl`` removes expired rows from every read mask (query,
  get, search, hybrid search, iterators and ``count(*)`` all read through ``Collection.mask``),
  and ``expire_rows`` tombstones them when the collection is compacted.
- Schema evolution (``add_field``, ``alter_field``): a nullable or defaulted scalar field added
  to a collection that holds rows reads NULL (or its default) for those rows. Snapshots and log
  entries written before a column existed are filled the same way when they are read back
  (``fill_values``), so the change survives reopening and log replay.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ErrorCode, MilvusException, ParamError, SchemaError
from ..schema import CollectionSchema, DataType, FieldSchema
from ..timestamptz import check_timezone
from .columns import META_SPEC, Column, ColumnSpec, spec_for_field
from .jsonvalues import check_setting
from .rows import META, build_batch

if TYPE_CHECKING:  # pragma: no cover
    from .collection import Collection

INSERT_TS = "$ts"
INSERT_TS_SPEC = ColumnSpec("fixed", np.dtype(np.int64))
TTL_KEY = "collection.ttl.seconds"
MMAP_KEYS = ("mmap.enabled", "lazyload.enabled")
DYNAMIC_KEY = "dynamicfield.enabled"
COLLECTION_LOADED = 106  # merr.ErrCollectionLoaded

MAX_VARCHAR_LENGTH = 65535
MAX_ARRAY_CAPACITY = 4096
_FIELD_ALTER_KEYS = ("max_length", "mmap.enabled", "max_capacity", "field.description", "warmup",
                     "warmup.scalarField", "warmup.scalarIndex", "warmup.vectorField", "warmup.vectorIndex")
_FIELD_DROP_KEYS = ("mmap.enabled", "warmup", "warmup.scalarField", "warmup.scalarIndex",
                    "warmup.vectorField", "warmup.vectorIndex")


def clock_ms() -> int:
    """Wall-clock milliseconds: the insert time of rows and the "now" of TTL checks."""
    return int(time.time() * 1000)


# ------------------------------------------------------------------------------- time to live
def ttl_ms(properties: dict) -> int | None:
    """The collection's time to live in ms, or None (no property, or 0: rows never expire)."""
    value = properties.get(TTL_KEY)
    if value is None:
        return None
    try:
        seconds = int(str(value).strip())
    except ValueError:
        return None
    return seconds * 1000 if seconds > 0 else None


def apply_ttl(coll: "Collection", mask: np.ndarray) -> np.ndarray:
    """``mask`` without the rows whose time to live has passed (in place)."""
    ttl = ttl_ms(coll.properties)
    if ttl is not None and len(mask):
        inserted = coll._columns[INSERT_TS].values
        mask &= inserted > clock_ms() - ttl
    return mask


def expire_rows(coll: "Collection") -> None:
    """Tombstone expired rows (compaction then removes them from the files)."""
    ttl = ttl_ms(coll.properties)
    if ttl is None or not coll._n:
        return
    inserted = coll._columns[INSERT_TS].values
    expired = np.flatnonzero((inserted <= clock_ms() - ttl) & ~coll._deleted.view)
    coll._apply_delete(expired)


def _check_ttl(value: Any) -> None:
    try:
        seconds = int(str(value).strip())
    except ValueError:
        seconds = -1
    if seconds < 0:
        raise ParamError(f"collection TTL is not a valid positive integer: {TTL_KEY}={value!r}")


def checked_properties(properties: dict | None) -> dict[str, str]:
    """Properties of a new collection: values as strings (as pymilvus sends them), TTL checked."""
    out = {str(k): v if isinstance(v, str) else str(v) for k, v in (properties or {}).items()}
    if TTL_KEY in out:
        _check_ttl(out[TTL_KEY])
    if "timezone" in out:
        check_timezone(out["timezone"])
    return out


# ------------------------------------------------------------------------------- filling columns
def fill_values(coll: "Collection", name: str, n: int) -> tuple[Any, np.ndarray | None]:
    """Values of column ``name`` for ``n`` rows written before the column existed: the field's
    default, else NULL; ``$meta`` reads ``{}``; ``$ts`` the time of reading (such rows predate
    TTL bookkeeping, so they are never expired early)."""
    if name == INSERT_TS:
        return np.full(n, clock_ms(), dtype=np.int64), None
    if name == META:
        out = np.empty(n, dtype=object)
        for i in range(n):
            out[i] = {}
        return out, None
    field = coll.schema.field(name)
    if field is None:
        raise SchemaError(f"collection {coll.name!r}: no field {name!r} to fill")
    # the default converted exactly as an insert converts it, then repeated
    pk = FieldSchema("__pk", DataType.INT64, is_primary=True)
    one = build_batch(CollectionSchema([pk, field]), [{"__pk": 0}], timezone=coll.timezone)
    values, valid = one.values[name], one.valid.get(name)
    if values.dtype == object:  # one container per row, as a normal write has
        out = np.empty(n, dtype=object)
        for i in range(n):
            out[i] = copy.copy(values[0])
        values = out
    else:
        values = np.repeat(values, n, axis=0)
    return values, (None if valid is None else np.repeat(valid, n))


def filled_column(coll: "Collection", name: str, n: int) -> Column:
    col = Column(coll._specs[name])
    values, valid = fill_values(coll, name, n)
    col.append(values, valid)
    return col


# ------------------------------------------------------------------------------- properties
def _loaded_error(coll: "Collection", message: str) -> MilvusException:
    return MilvusException(f"{message}[collection={coll.name}]", code=COLLECTION_LOADED)


def alter_properties(coll: "Collection", properties: dict[str, str] | None,
                     delete_keys: list[str] | None = None) -> None:
    """Set and/or delete collection properties (persisted at once)."""
    properties = dict(properties or {})
    delete_keys = list(delete_keys or [])
    with coll._lock:
        coll._db._check_writable()
        if not properties and not delete_keys:
            raise ParamError("alter collection requires either properties or delete keys")
        check_setting(properties, "collection properties")  # kept in the catalog as JSON
        if coll.loaded and any(k in MMAP_KEYS for k in properties):
            raise _loaded_error(coll, "can not alter mmap properties if collection loaded")
        if coll.loaded and any(k in MMAP_KEYS for k in delete_keys):
            raise _loaded_error(coll, "can not delete mmap properties if collection loaded")
        if TTL_KEY in properties:
            _check_ttl(properties[TTL_KEY])
        if "timezone" in properties:
            check_timezone(properties["timezone"])
        enable_dynamic = False
        if DYNAMIC_KEY in properties:
            wanted = str(properties.pop(DYNAMIC_KEY)).strip().lower()
            if wanted not in ("true", "false"):
                raise ParamError(f"{DYNAMIC_KEY} must be true or false, got {wanted!r}")
            if wanted == "false" and coll.schema.enable_dynamic_field:
                raise ParamError("dynamic schema cannot supported to be disabled: invalid parameter")
            enable_dynamic = wanted == "true" and not coll.schema.enable_dynamic_field
        new = dict(coll.properties)
        new.update(properties)
        for key in delete_keys:
            new.pop(key, None)
        old_props, old_meta = coll.properties, dict(coll.meta)
        coll.properties = new
        _touch(coll, schema_changed=enable_dynamic)
        try:
            if enable_dynamic:
                schema = CollectionSchema.from_dict({**coll.schema.to_dict(), "enable_dynamic_field": True})
                _evolve(coll, schema, {META: META_SPEC})
            else:
                coll._save_info()
        except BaseException:
            coll.properties = old_props
            coll.meta.clear()
            coll.meta.update(old_meta)
            raise


def _touch(coll: "Collection", schema_changed: bool) -> None:
    """Record an alteration in the collection's meta (describe_collection's update_timestamp
    and schema_version); persisted by the caller's catalog write."""
    coll.meta["updated_at"] = int(time.time() * 1000)
    if schema_changed:
        coll.meta["schema_version"] = int(coll.meta.get("schema_version", 0)) + 1


# ------------------------------------------------------------------------------- schema evolution
def _evolve(coll: "Collection", schema: CollectionSchema, new_specs: dict[str, ColumnSpec]) -> None:
    """Switch ``coll`` to ``schema`` with new columns ``new_specs`` filled for the rows it holds;
    the catalog is written first, so a failure leaves everything as it was."""
    old_schema, old_specs, old_meta = coll.schema, coll._specs, dict(coll.meta)
    coll.schema = schema
    coll._specs = {**old_specs, **new_specs}  # new dicts: read views keep the ones they copied
    try:
        columns = {name: filled_column(coll, name, coll._n) for name in new_specs}
        if not new_specs.keys() & {META}:  # alter_properties counted the dynamic field already
            _touch(coll, schema_changed=True)
        coll._save_info()
    except BaseException:
        coll.schema, coll._specs = old_schema, old_specs
        coll.meta.clear()
        coll.meta.update(old_meta)
        raise
    coll._columns = {**coll._columns, **columns}


def add_field(coll: "Collection", field: FieldSchema) -> None:
    """Add a nullable or defaulted scalar field; rows already stored read NULL or the default."""
    from .collection import _check_name

    with coll._lock:
        coll._db._check_writable()
        _check_name(field.name, "field")
        if coll.schema.field(field.name) is not None or field.name == META:
            raise ParamError(f"duplicate field name: field {field.name!r} already exists in collection "
                             f"{coll.name!r}")
        if field.is_primary or field.auto_id or field.is_partition_key or field.is_clustering_key \
                or field.is_function_output:
            raise ParamError(f"field {field.name!r}: a primary, partition key, clustering key or function "
                             "output field cannot be added to an existing collection")
        if field.dtype.is_vector:
            raise ParamError(f"field {field.name!r}: adding a vector field to an existing collection is not "
                             "supported by embedb; create the collection with it")
        if not field.nullable and field.default_value is None:
            raise ParamError(f"added field must be nullable or have a default_value, please check it, "
                             f"field name = {field.name}")
        d = coll.schema.to_dict()
        d["fields"] = list(d["fields"]) + [field.to_dict()]
        schema = CollectionSchema.from_dict(d)
        schema.verify()
        added = schema.field(field.name)
        _evolve(coll, schema, {field.name: spec_for_field(added)})


def alter_field(coll: "Collection", field_name: str, params: dict[str, str] | None,
                delete_keys: list[str] | None = None) -> None:
    """Change field parameters (max_length, max_capacity, mmap.enabled, description, warmup)."""
    params = {("mmap.enabled" if k == "mmap_enabled" else k): v for k, v in (params or {}).items()}
    delete_keys = [("mmap.enabled" if k == "mmap_enabled" else k) for k in (delete_keys or [])]
    with coll._lock:
        coll._db._check_writable()
        field = coll.schema.field(field_name)
        if field is None:
            raise ParamError(f"field {field_name!r} does not exist in collection {coll.name!r}")
        for key, value in params.items():
            if key not in _FIELD_ALTER_KEYS:
                raise ParamError(f"{key} does not allow update in collection field param")
            if key in ("mmap.enabled", "warmup") and coll.loaded:
                raise _loaded_error(coll, "can not alter collection field properties if collection loaded")
            if key == "max_length":
                is_string = field.dtype == DataType.VARCHAR or (
                    field.dtype == DataType.ARRAY and field.element_type == DataType.VARCHAR)
                if not is_string:
                    raise ParamError(f"{field_name} can not modify the maxlength for non-string types")
                n = _as_int(value, f"{key} should be an integer, but got {value!r}")
                if n > MAX_VARCHAR_LENGTH or n <= 0:
                    raise ParamError(f"{value} exceeds the maximum allowed value {MAX_VARCHAR_LENGTH}")
            if key == "max_capacity":
                if field.dtype != DataType.ARRAY:
                    raise ParamError(f"{field_name} can not modify the maxcapacity for non-array types")
                n = _as_int(value, f"the value for max_capacity of field {field_name} must be an integer")
                if not 0 < n <= MAX_ARRAY_CAPACITY:
                    raise ParamError(f"the maximum capacity specified for a Array should be in (0, "
                                     f"{MAX_ARRAY_CAPACITY}]")
        for key in delete_keys:
            if key not in _FIELD_DROP_KEYS:
                raise ParamError(f"{key} is not allowed to drop in collection field param")
            if coll.loaded:
                raise _loaded_error(coll, "can not drop collection field properties if collection loaded")
        if not params and not delete_keys:
            raise ParamError("alter collection field requires properties or delete keys")
        d = coll.schema.to_dict()
        fields = []
        for fd in d["fields"]:
            if fd["name"] == field_name:
                fd = dict(fd)
                fparams = dict(fd.get("params") or {})
                for key, value in params.items():
                    if key == "field.description":
                        fd["description"] = str(value)
                    elif key in ("max_length", "max_capacity"):
                        fparams[key] = int(str(value).strip())
                    else:
                        fparams[key] = value
                for key in delete_keys:
                    fparams.pop(key, None)
                fd["params"] = fparams
            fields.append(fd)
        d["fields"] = fields
        schema = CollectionSchema.from_dict(d)
        schema.verify()
        old, old_meta = coll.schema, dict(coll.meta)
        coll.schema = schema
        _touch(coll, schema_changed=True)
        try:
            coll._save_info()
        except BaseException:
            coll.schema = old
            coll.meta.clear()
            coll.meta.update(old_meta)
            raise


def _as_int(value: Any, message: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ParamError(message) from None


__all__ = ["INSERT_TS", "INSERT_TS_SPEC", "TTL_KEY", "clock_ms", "ttl_ms", "apply_ttl", "expire_rows",
           "fill_values", "filled_column", "alter_properties", "add_field", "alter_field", "ErrorCode"]
