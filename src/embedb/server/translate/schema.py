"""Collections on the wire: ``schema_pb2.CollectionSchema`` -> embedb ``CollectionSchema``,
the client's ``describe_collection`` dict -> ``DescribeCollectionResponse``, and index
parameters and descriptions."""

from __future__ import annotations

import ast
import json
from typing import Any, Iterable

from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

from ...client.collections import QUICK_VARCHAR_MAX_LENGTH
from ...errors import ErrorCode, SchemaError
from ...schema import CollectionSchema, DataType, FieldSchema, Function, IndexParam

# the Milvus consistency levels by their common.proto numbers
CONSISTENCY_NAMES = {0: "Strong", 1: "Session", 2: "Bounded", 3: "Eventually", 4: "Customized"}
_INT_PARAMS = ("dim", "max_length", "max_capacity")


def kv_dict(pairs: Iterable[common_pb2.KeyValuePair]) -> dict[str, str]:
    return {kv.key: kv.value for kv in pairs}


def kv_pairs(values: dict) -> list[common_pb2.KeyValuePair]:
    return [common_pb2.KeyValuePair(key=str(k), value=v if isinstance(v, str) else json.dumps(v))
            for k, v in values.items()]


def loads_or_text(value: str) -> Any:
    """A parameter value as pymilvus sends it: JSON for non-strings (``str()`` of a Python
    value on some paths: ``True``, ``{'type': 'english'}``), the text itself otherwise."""
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        pass
    if value[:1] in ("{", "[") or value in ("True", "False", "None"):
        try:
            return ast.literal_eval(value)  # literals only: no code runs
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    return value


def _type_params(pairs: Iterable[common_pb2.KeyValuePair]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for kv in pairs:
        key = "mmap_enabled" if kv.key == "mmap.enabled" else kv.key
        value = loads_or_text(kv.value)
        if key in _INT_PARAMS and isinstance(value, (str, bool, float)):
            raise SchemaError(f"type parameter {key} must be an integer, got {kv.value!r}")
        params[key] = value
    return params


def default_value(value: schema_pb2.ValueField) -> Any:
    kind = value.WhichOneof("data")
    return None if kind is None else getattr(value, kind)


def value_field(dtype: DataType, value: Any) -> schema_pb2.ValueField | None:
    if value is None:
        return None
    slot = {DataType.BOOL: "bool_data", DataType.INT8: "int_data", DataType.INT16: "int_data",
            DataType.INT32: "int_data", DataType.INT64: "long_data", DataType.FLOAT: "float_data",
            DataType.DOUBLE: "double_data", DataType.VARCHAR: "string_data"}.get(dtype)
    if slot is None:
        return None
    return schema_pb2.ValueField(**{slot: value})


def field_kwargs(f: schema_pb2.FieldSchema) -> dict[str, Any]:
    """The keyword arguments of ``FieldSchema``/``add_collection_field`` for a field proto."""
    kwargs: dict[str, Any] = {
        "is_primary": f.is_primary_key, "auto_id": f.autoID, "nullable": f.nullable,
        "default_value": default_value(f.default_value) if f.HasField("default_value") else None,
        "is_partition_key": f.is_partition_key, "is_clustering_key": f.is_clustering_key,
        "is_dynamic": f.is_dynamic, "is_function_output": f.is_function_output,
        "params": _type_params(f.type_params)}
    if f.element_type:
        kwargs["element_type"] = DataType(f.element_type)
    return kwargs


def schema_from_proto(proto: schema_pb2.CollectionSchema) -> CollectionSchema:
    fields = [FieldSchema(f.name, DataType(f.data_type), f.description, **field_kwargs(f))
              for f in proto.fields]
    for struct in proto.struct_array_fields:  # as in-process: "unsupported operation"
        raise SchemaError(f"field {struct.name!r}: data type STRUCT is not supported by embedb "
                          "(see docs/api.md, Data types)", code=ErrorCode.NOT_SUPPORTED)
    functions = [Function(fn.name, int(fn.type), list(fn.input_field_names),
                          list(fn.output_field_names), fn.description,
                          {kv.key: loads_or_text(kv.value) for kv in fn.params})
                 for fn in proto.functions]
    schema = CollectionSchema(fields, proto.description,
                              enable_dynamic_field=proto.enable_dynamic_field, functions=functions)
    pk = schema.primary_field
    if pk is not None:
        if proto.autoID:
            pk.auto_id = True
        # pymilvus's quick mode sends a VARCHAR key without max_length; the embedded client
        # gives it the largest allowed, and so must the same call through the server
        if pk.dtype == DataType.VARCHAR and pk.params.get("max_length") is None:
            pk.params["max_length"] = QUICK_VARCHAR_MAX_LENGTH
    return schema


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _field_proto(d: dict) -> schema_pb2.FieldSchema:
    dtype = DataType(int(d["type"]))
    f = schema_pb2.FieldSchema(
        fieldID=int(d.get("field_id", 0)), name=d["name"], description=d.get("description", ""),
        data_type=int(dtype), is_primary_key=bool(d.get("is_primary")),
        autoID=bool(d.get("auto_id")), is_partition_key=bool(d.get("is_partition_key")),
        is_clustering_key=bool(d.get("is_clustering_key")), nullable=bool(d.get("nullable")),
        is_dynamic=bool(d.get("is_dynamic")), is_function_output=bool(d.get("is_function_output")))
    if d.get("element_type") is not None:
        f.element_type = int(d["element_type"])
    dv = value_field(dtype, d.get("default_value"))
    if dv is not None:
        f.default_value.CopyFrom(dv)
    for k, v in (d.get("params") or {}).items():
        key = "mmap.enabled" if k == "mmap_enabled" else str(k)
        f.type_params.append(common_pb2.KeyValuePair(key=key, value=_param_text(v)))
    return f


def describe_response(d: dict, db_name: str = "default") -> milvus_pb2.DescribeCollectionResponse:
    """The client's ``describe_collection`` dict -> the response pymilvus turns back into it."""
    schema = schema_pb2.CollectionSchema(
        name=d["collection_name"], description=d.get("description", ""),
        autoID=bool(d.get("auto_id")), enable_dynamic_field=bool(d.get("enable_dynamic_field")))
    schema.fields.extend(_field_proto(f) for f in d.get("fields", []))
    for fn in d.get("functions", []):
        schema.functions.append(schema_pb2.FunctionSchema(
            name=fn["name"], id=int(fn.get("id") or 0), description=fn.get("description", ""),
            type=int(fn["type"]), input_field_names=list(fn["input_field_names"]),
            input_field_ids=[i or 0 for i in fn.get("input_field_ids", [])],
            output_field_names=list(fn["output_field_names"]),
            output_field_ids=[i or 0 for i in fn.get("output_field_ids", [])],
            params=[common_pb2.KeyValuePair(key=str(k), value=_param_text(v))
                    for k, v in (fn.get("params") or {}).items()]))
    created = int(d.get("created_timestamp") or 0)
    return milvus_pb2.DescribeCollectionResponse(
        status=common_pb2.Status(), schema=schema, collectionID=int(d.get("collection_id") or 0),
        created_timestamp=created, created_utc_timestamp=created >> 18,
        shards_num=int(d.get("num_shards") or 1), aliases=list(d.get("aliases", [])),
        consistency_level=int(d.get("consistency_level") or 0),
        collection_name=d["collection_name"],
        properties=[common_pb2.KeyValuePair(key=str(k), value=str(v))
                    for k, v in (d.get("properties") or {}).items()],
        db_name=db_name, num_partitions=int(d.get("num_partitions") or 0))


# indexes --------------------------------------------------------------------------------
def index_param(field_name: str, index_name: str,
                extra: Iterable[common_pb2.KeyValuePair]) -> IndexParam:
    """CreateIndexRequest.extra_params (index_type, metric_type, params JSON, flat keys)."""
    values = {kv.key: kv.value for kv in extra}
    index_type = values.pop("index_type", "") or ""
    metric = values.pop("metric_type", None) or None
    params: dict[str, Any] = {}
    raw = values.pop("params", None)
    if raw:
        nested = loads_or_text(raw)
        if not isinstance(nested, dict):
            raise SchemaError(f"index params must be a JSON object, got {raw!r}")
        params.update(nested)
    for k, v in values.items():
        params[k] = loads_or_text(v)
    return IndexParam(field_name, index_type, index_name, metric, params)


_META_KEYS = ("field_name", "index_name", "total_rows", "indexed_rows", "pending_index_rows",
              "state", "index_type", "metric_type")


def index_description(d: dict) -> milvus_pb2.IndexDescription:
    """The client's ``describe_index`` dict -> IndexDescription (params as pymilvus reads them)."""
    params = [common_pb2.KeyValuePair(key="index_type", value=str(d.get("index_type") or ""))]
    if d.get("metric_type"):
        params.append(common_pb2.KeyValuePair(key="metric_type", value=str(d["metric_type"])))
    # build parameters flat, one pair each, as the embedded client describes them
    params.extend(common_pb2.KeyValuePair(key=str(k), value=_param_text(v))
                  for k, v in d.items() if k not in _META_KEYS)
    state = d.get("state", "Finished")
    return milvus_pb2.IndexDescription(
        index_name=d.get("index_name", ""), field_name=d.get("field_name", ""), params=params,
        indexed_rows=int(d.get("indexed_rows") or 0), total_rows=int(d.get("total_rows") or 0),
        pending_index_rows=int(d.get("pending_index_rows") or 0),
        state=common_pb2.IndexState.Value(state) if isinstance(state, str) else int(state))
