"""``CollectionsMixin``: create, describe, list, drop, rename, truncate, load and flush
collections (the collection methods of pymilvus's ``MilvusClient``)."""

from __future__ import annotations

import copy
import itertools
import os
import threading
from typing import Any

from ..errors import AlreadyExistsError, IndexNotFoundError, ParamError, SchemaError
from ..schema import CollectionSchema, DataType, FieldSchema, IndexParam, IndexParams
from .base import LoadState, check_name

# Consistency level names and the integers describe_collection reports for them (common.proto).
_CONSISTENCY = {"Strong": 0, "Session": 1, "Bounded": 2, "Eventually": 3, "Customized": 4}

# Quick mode: default max_length of a VARCHAR primary key. The server demands one and Milvus
# Lite 3 takes none; we give the largest the server allows so quick mode "just works".
QUICK_VARCHAR_MAX_LENGTH = 65535

# create_collection keyword arguments that only make sense on a cluster: accepted, no effect.
_IGNORED_CREATE_KW = frozenset(
    {"shards_num", "num_shards", "enable_mmap", "mmap_enabled", "client_request_id", "db_name",
     "replica_number", "resource_groups", "check_fields"}
)
_SCHEMA_KW = frozenset({"enable_dynamic_field", "description", "partition_key_field",
                        "primary_field", "enable_dynamic"})

_compaction_ids = itertools.count(1)
_compaction_lock = threading.Lock()


def _new_lock_in_fork_child() -> None:  # a parent thread may have held it at the fork
    global _compaction_lock
    _compaction_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_fork_child)


def _consistency(value: Any) -> str:
    if value is None:
        return "Bounded"
    if isinstance(value, int) and not isinstance(value, bool):
        for name, code in _CONSISTENCY.items():
            if code == value:
                return name
    if isinstance(value, str):
        for name in _CONSISTENCY:
            if name.lower() == value.lower():
                return name
    raise ParamError(
        f"consistency_level must be one of {list(_CONSISTENCY)}, got {value!r}"
    )


def _prepared_schema(schema: Any) -> CollectionSchema:
    """A verified private copy of the user's schema (later edits of theirs change nothing)."""
    from ..lenient import native_schema

    schema = native_schema(schema)   # pymilvus's CollectionSchema too
    if not isinstance(schema, CollectionSchema):
        raise ParamError(
            f"schema must be a CollectionSchema (MilvusClient.create_schema()), got {type(schema).__name__}"
        )
    schema = copy.deepcopy(schema)
    # CollectionSchema(fields, primary_field=..., auto_id=..., partition_key_field=...) given the
    # fields up front: apply the schema-level options as pymilvus does.
    primary = getattr(schema, "_primary_field", None)
    if primary and not any(f.is_primary for f in schema.fields):
        field = schema.field(primary)
        if field is None:
            raise SchemaError(f"primary_field {primary!r} is not a field of the schema")
        field.is_primary = True
    auto_id = getattr(schema, "_auto_id", None)
    pk = schema.primary_field
    if auto_id is not None and pk is not None and auto_id and not pk.auto_id:
        pk.auto_id = True
    pkey = getattr(schema, "_partition_key_field", None)
    if pkey and not any(f.is_partition_key for f in schema.fields):
        field = schema.field(pkey)
        if field is None:
            raise SchemaError(f"partition_key_field {pkey!r} is not a field of the schema")
        field.is_partition_key = True
    schema.verify()
    return schema


def _schema_difference(old: CollectionSchema, new: CollectionSchema) -> str | None:
    """Describe the first difference between two schemas, or None when they are identical."""
    a, b = old.to_dict(), new.to_dict()
    if a == b:
        return None
    for key in ("auto_id", "enable_dynamic_field", "description"):
        if a.get(key) != b.get(key):
            return f"{key}: existing {a.get(key)!r}, requested {b.get(key)!r}"
    names_a = [f["name"] for f in a["fields"]]
    names_b = [f["name"] for f in b["fields"]]
    if names_a != names_b:
        return f"fields: existing {names_a}, requested {names_b}"
    for fa, fb in zip(a["fields"], b["fields"]):
        if fa != fb:
            keys = sorted(set(fa) | set(fb))
            diffs = [f"{k} {fa.get(k)!r} != {fb.get(k)!r}" for k in keys if fa.get(k) != fb.get(k)]
            return f"field {fa['name']!r}: " + ", ".join(diffs)
    return "functions differ"


def _index_specs(coll: Any) -> list[dict]:
    return [dict(spec) for spec in (coll.meta.get("indexes") or [])]


def _index_conflict(existing: list[dict], wanted: IndexParam) -> tuple[bool, str | None]:
    """(already there, difference) for one requested index against the collection's indexes."""
    for spec in existing:
        if spec.get("field_name") != wanted.field_name:
            continue
        problems = []
        have_metric = (spec.get("metric_type") or "").upper() or None
        if wanted.metric_type and have_metric and wanted.metric_type != have_metric:
            problems.append(f"metric_type {have_metric} != {wanted.metric_type}")
        have_type = (spec.get("index_type") or "").upper()
        if wanted.index_type and wanted.index_type != "AUTOINDEX" and have_type != wanted.index_type:
            problems.append(f"index_type {have_type} != {wanted.index_type}")
        have_params = spec.get("params") or {}
        for key, value in wanted.params.items():
            if key in have_params and have_params[key] != value:
                problems.append(f"{key} {have_params[key]!r} != {value!r}")
        if problems:
            return True, f"index on field {wanted.field_name!r}: " + ", ".join(problems)
        return True, None
    return False, None


class CollectionsMixin:
    """Collection lifecycle methods. Needs ``self._database`` / ``self._collection`` (base) and
    ``self.create_index`` (IndexMixin)."""

    # schema builders (class-level, as in pymilvus) ------------------------------------------
    @staticmethod
    def create_schema(**kwargs: Any) -> CollectionSchema:
        """An empty :class:`CollectionSchema` to fill with ``add_field``."""
        kwargs.pop("check_fields", None)
        fields = kwargs.pop("fields", None)
        return CollectionSchema(fields, **kwargs)

    @staticmethod
    def create_field_schema(name: str, data_type: Any, desc: str = "", **kwargs: Any) -> FieldSchema:
        return FieldSchema(name, data_type, desc, **kwargs)

    # create -----------------------------------------------------------------------------------
    def create_collection(
        self,
        collection_name: str,
        dimension: int | None = None,
        primary_field_name: str = "id",
        id_type: Any = "int",
        vector_field_name: str = "vector",
        metric_type: str = "COSINE",
        auto_id: bool = False,
        timeout: float | None = None,
        schema: CollectionSchema | None = None,
        index_params: IndexParams | None = None,
        **kwargs: Any,
    ) -> None:
        """Create a collection: quick mode (``dimension``) or schema mode (``schema``).

        Calling it again with identical parameters does nothing; with different ones it raises
        :class:`~embedb.errors.AlreadyExistsError` naming the difference.
        """
        check_name(collection_name)
        unknown = set(kwargs) - _IGNORED_CREATE_KW - _SCHEMA_KW - {
            "consistency_level", "properties", "num_partitions", "max_length"}
        from ..lenient import warn_unknown

        warn_unknown("create_collection", unknown)   # accepted as pymilvus accepts them
        consistency = _consistency(kwargs.get("consistency_level"))
        properties = kwargs.get("properties")
        if properties is not None and not isinstance(properties, dict):
            raise ParamError(f"properties must be a dict, got {type(properties).__name__}")
        num_partitions = kwargs.get("num_partitions")
        if num_partitions is not None and (
            not isinstance(num_partitions, int) or isinstance(num_partitions, bool)
            or not 1 <= num_partitions <= 1024
        ):
            raise ParamError(f"num_partitions must be an int between 1 and 1024, got {num_partitions!r}")

        if schema is None:
            schema, index_params = self._quick_schema(
                dimension, primary_field_name, id_type, vector_field_name, metric_type, auto_id, kwargs
            )
        else:
            extra = set(kwargs) & (_SCHEMA_KW - {"description"})
            for key in ("enable_dynamic_field", "enable_dynamic"):  # accepted when it agrees
                if key in extra and bool(kwargs[key]) == getattr(schema, "enable_dynamic_field", None):
                    extra.discard(key)
            if extra:
                raise ParamError(
                    f"create_collection(schema=...): set {sorted(extra)} on the schema instead"
                )
            schema = _prepared_schema(schema)
            if "description" in kwargs:
                schema.description = kwargs["description"]
            if index_params is not None and not isinstance(index_params, (list, tuple)):
                raise ParamError(
                    f"index_params must be an IndexParams (prepare_index_params()), got "
                    f"{type(index_params).__name__}"
                )
            if not index_params:  # as pymilvus: no index_params -> no index, no load
                index_params = None
        if num_partitions is not None and schema.partition_key_field is None:
            raise ParamError("num_partitions is only allowed with a partition key field")

        db = self._database
        created = False
        if db.has_collection(collection_name):
            index_params = self._check_same_collection(
                collection_name, schema, consistency, properties, index_params)
        else:
            db.create_collection(collection_name, schema, properties=properties,
                                 consistency_level=consistency, num_partitions=num_partitions)
            created = True
        if index_params is None:
            return
        try:
            if len(index_params):
                self.create_index(collection_name, index_params)
            self.load_collection(collection_name)
        except Exception:
            if created:  # a bad index definition leaves no half-made collection behind
                db.drop_collection(collection_name)
            raise

    def _quick_schema(self, dimension: Any, primary_field_name: Any, id_type: Any,
                      vector_field_name: Any, metric_type: Any, auto_id: Any,
                      kwargs: dict) -> tuple[CollectionSchema, IndexParams]:
        if isinstance(dimension, bool) or not isinstance(dimension, int):
            raise ParamError(
                f"create_collection needs dimension (an int) in quick mode or a schema, got {dimension!r}"
            )
        if not isinstance(auto_id, bool):
            raise ParamError(f"Param auto_id must be bool type: got {auto_id!r}")  # pymilvus's words
        check_name(primary_field_name, "primary_field_name")
        check_name(vector_field_name, "vector_field_name")
        from ..lenient import enum_text

        metric_type = enum_text(metric_type)   # pymilvus's MetricType members too
        if not isinstance(metric_type, str):
            raise ParamError(f"metric_type must be a str, got {metric_type!r}")
        if id_type in ("int", DataType.INT64):
            pk_type, pk_args = DataType.INT64, {}
        elif id_type in ("string", "str", DataType.VARCHAR):
            pk_type = DataType.VARCHAR
            pk_args = {"max_length": kwargs.get("max_length", QUICK_VARCHAR_MAX_LENGTH)}
        else:
            raise ParamError(f"id_type must be 'int' or 'string', got {id_type!r}")
        schema = CollectionSchema(
            description=kwargs.get("description", ""),
            enable_dynamic_field=kwargs.get("enable_dynamic_field", kwargs.get("enable_dynamic", True)),
        )
        schema.add_field(primary_field_name, pk_type, is_primary=True, auto_id=auto_id, **pk_args)
        schema.add_field(vector_field_name, DataType.FLOAT_VECTOR, dim=dimension)
        pkey = kwargs.get("partition_key_field")
        if pkey is not None:
            raise ParamError("partition_key_field needs a schema with that field (schema mode)")
        schema.verify()
        index_params = IndexParams()
        index_params.add_index(vector_field_name, index_type="AUTOINDEX", metric_type=metric_type)
        return schema, index_params

    def _check_same_collection(self, name: str, schema: CollectionSchema, consistency: str,
                               properties: dict | None, index_params: Any) -> IndexParams | None:
        """Raise AlreadyExistsError unless the existing collection matches; return the requested
        indexes it does not have yet (None when no index_params were given)."""
        coll = self._collection(name)
        diff = _schema_difference(coll.schema, schema)
        if diff is None and consistency != coll.consistency_level:
            diff = f"consistency_level: existing {coll.consistency_level!r}, requested {consistency!r}"
        if diff is None and properties is not None and \
                {str(k): str(v) for k, v in properties.items()} != dict(coll.properties or {}):
            diff = f"properties: existing {coll.properties!r}, requested {properties!r}"
        missing = IndexParams()
        if diff is None and index_params:
            existing = _index_specs(coll)
            for wanted in index_params:
                present, problem = _index_conflict(existing, wanted)
                if problem:
                    diff = problem
                    break
                if not present:
                    missing.append(wanted)
        if diff is not None:
            raise AlreadyExistsError(
                f"collection {name!r} already exists with different parameters ({diff})"
            )
        return None if index_params is None else missing

    # describe / list ----------------------------------------------------------------------
    def describe_collection(self, collection_name: str, timeout: float | None = None,
                            **kwargs: Any) -> dict:
        coll = self._collection(collection_name, describing=True)
        schema = coll.schema
        fields = []
        for i, f in enumerate(schema.fields):
            rest = f.to_dict()
            d = {"field_id": 100 + i, "name": rest.pop("name"), "description": rest.pop("description"),
                 "type": rest.pop("type"), "params": rest.pop("params", {})}
            d.update(rest)  # is_primary, auto_id, nullable... only when set, as pymilvus
            fields.append(d)
        consistency = coll.consistency_level
        return {
            "collection_name": coll.name,
            "auto_id": schema.auto_id,
            "num_shards": 1,
            "description": schema.description,
            "fields": fields,
            "functions": [self._describe_function(schema, i, fn) for i, fn in enumerate(schema.functions)],
            "aliases": list(self._database.list_aliases(coll.name)),
            "collection_id": coll.id,
            "consistency_level": _CONSISTENCY.get(consistency, 2),
            "consistency_level_name": consistency,
            "properties": dict(coll.properties or {}),
            "num_partitions": len(coll.list_partitions()),
            "enable_dynamic_field": schema.enable_dynamic_field,
            "schema_version": int(coll.meta.get("schema_version", 0)),  # + 1 per schema change
            # a Milvus hybrid timestamp: physical milliseconds shifted past 18 logical bits
            "created_timestamp": int(coll.created_at) << 18,
            "update_timestamp": int(coll.meta.get("updated_at") or coll.created_at) << 18,
        }

    @staticmethod
    def _describe_function(schema: CollectionSchema, i: int, fn: Any) -> dict:
        ids = {f.name: 100 + k for k, f in enumerate(schema.fields)}
        d = fn.to_dict()
        return {"name": d["name"], "id": 100 + i, "description": d["description"], "type": d["type"],
                "params": d["params"], "input_field_names": d["input_field_names"],
                "input_field_ids": [ids.get(n) for n in d["input_field_names"]],
                "output_field_names": d["output_field_names"],
                "output_field_ids": [ids.get(n) for n in d["output_field_names"]]}

    def list_collections(self, timeout: float | None = None, **kwargs: Any) -> list[str]:
        return list(self._database.list_collections())

    def has_collection(self, collection_name: str, timeout: float | None = None,
                       **kwargs: Any) -> bool:
        check_name(collection_name)
        db = self._database
        if db.has_collection(collection_name):
            return True
        try:  # an alias names a collection too (as on the server and Milvus Lite)
            db.get_collection(collection_name)
        except KeyError:
            from ..engine.collection import _check_name

            _check_name(collection_name, "collection")  # the server refuses a name none could have
            return False
        return True

    def get_collection_stats(self, collection_name: str, timeout: float | None = None,
                             **kwargs: Any) -> dict:
        return {"row_count": int(self._collection(collection_name).num_rows)}

    # drop / rename / truncate ---------------------------------------------------------------
    def drop_collection(self, collection_name: str, timeout: float | None = None,
                        **kwargs: Any) -> None:
        """Drop a collection. Dropping one that does not exist is not an error (as the server)."""
        check_name(collection_name)
        db = self._database
        if not db.has_collection(collection_name):
            try:
                target = db.get_collection(collection_name)
            except KeyError:
                return
            raise ParamError(
                f"cannot drop the collection via alias = {collection_name}: it is an alias of "
                f"{target.name!r}; use drop_alias() or drop the collection by its name"
            )
        aliases = list(db.list_aliases(collection_name))
        if aliases:
            raise ParamError(
                f"cannot drop collection {collection_name!r}: it still has aliases {aliases}; "
                "drop them first with drop_alias()"
            )
        db.drop_collection(collection_name)

    def rename_collection(self, old_name: str, new_name: str, target_db: str = "",
                          timeout: float | None = None, **kwargs: Any) -> None:
        check_name(old_name, "old_name")
        check_name(new_name, "new_name")
        if target_db is not None and not isinstance(target_db, str):
            raise ParamError(f"target_db must be a str, got {type(target_db).__name__}")
        coll = self._collection(old_name)
        if coll.name != old_name:
            raise ParamError(f"cannot rename {old_name!r}: it is an alias of {coll.name!r}")
        source = self._database
        target_db = target_db or source.db_name  # another database: the collection moves there
        if old_name == new_name and target_db == source.db_name:
            raise ParamError(f"rename_collection: the new name equals the old one ({new_name!r})")
        if not source.database.has_database(target_db):
            from ..errors import DatabaseNotFoundError

            raise DatabaseNotFoundError(f"database not found[database={target_db}]")
        db = source.database.namespace(target_db)
        if db.has_collection(new_name):
            raise AlreadyExistsError(f"cannot rename {old_name!r}: collection {new_name!r} already exists")
        try:
            db.get_collection(new_name)
        except KeyError:
            pass
        else:
            raise AlreadyExistsError(f"cannot rename collection to an existing alias: {new_name}")
        source.rename_collection(old_name, new_name, new_db=target_db)

    def truncate_collection(self, collection_name: str, timeout: float | None = None,
                            **kwargs: Any) -> None:
        """Delete every row; the schema, indexes, partitions and load state stay."""
        self._collection(collection_name).truncate()

    # load state -------------------------------------------------------------------------------
    def load_collection(self, collection_name: str, timeout: float | None = None,
                        **kwargs: Any) -> None:
        """Load a collection for search and query. Every vector field needs an index first
        (as on the server). The state is kept across reopening."""
        coll = self._collection(collection_name)
        indexed = {spec.get("field_name") for spec in _index_specs(coll)}
        missing = [f.name for f in coll.schema.fields if f.dtype.is_vector and f.name not in indexed]
        if missing:
            raise IndexNotFoundError(
                f"index not found[collection={coll.name}]: create an index on vector field(s) "
                f"{missing} before load_collection (create_index / prepare_index_params)"
            )
        coll.load()

    def refresh_load(self, collection_name: str, timeout: float | None = None,
                     **kwargs: Any) -> None:
        self.load_collection(collection_name)

    def release_collection(self, collection_name: str, timeout: float | None = None,
                           **kwargs: Any) -> None:
        self._collection(collection_name).release()

    def get_load_state(self, collection_name: str, partition_name: str = "",
                       timeout: float | None = None, **kwargs: Any) -> dict:
        check_name(collection_name)
        db = self._database
        try:
            coll = db.get_collection(collection_name)
        except KeyError:
            return {"state": LoadState.NotExist}
        if partition_name and not coll.has_partition(partition_name):
            return {"state": LoadState.NotExist}
        return {"state": LoadState.Loaded if coll.loaded else LoadState.NotLoad}

    # durability and maintenance -----------------------------------------------------------
    def flush(self, collection_name: str, timeout: float | None = None, **kwargs: Any) -> None:
        """Make the collection durable and write a checkpoint (writes are durable anyway)."""
        coll = self._collection(collection_name)
        self._database.flush(coll.name)

    def compact(self, collection_name: str, is_clustering: bool = False, is_l0: bool = False,
                target_size: int | None = None, target_size_unit: str = "mb",
                timeout: float | None = None, **kwargs: Any) -> int:
        """Rewrite the collection without its deleted rows. Runs synchronously; returns a job id
        for :meth:`get_compaction_state` (always "Completed")."""
        if target_size is not None and (
            isinstance(target_size, bool) or not isinstance(target_size, int) or target_size <= 0
        ):
            raise ParamError(f"target_size must be a positive int, got {target_size!r}")
        coll = self._collection(collection_name)
        coll.compact()
        with _compaction_lock:
            job_id = next(_compaction_ids)
        self._compactions = getattr(self, "_compactions", set())
        self._compactions.add(job_id)
        return job_id

    def get_compaction_state(self, job_id: int, timeout: float | None = None,
                             **kwargs: Any) -> str:
        if isinstance(job_id, bool) or not isinstance(job_id, int):
            raise ParamError(f"job_id must be an int, got {job_id!r}")
        return "Completed" if job_id in getattr(self, "_compactions", ()) else "UndefiedState"

    def get_server_version(self, timeout: float | None = None, detail: bool = False,
                           **kwargs: Any) -> str | dict:
        from .. import __version__

        version = f"embedb-{__version__}"
        if detail:
            return {"version": version, "deploy_mode": "EMBEDDED"}
        return version
