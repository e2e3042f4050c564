"""Translation between embedb's objects and pymilvus's, in both directions.

Outbound: embedb's schema, index, ranker and request objects become their pymilvus twins (built
from the same ``to_dict`` form both libraries share). Inbound: pymilvus's results become embedb's
result shapes (:mod:`embedb.results`), its enums embedb's, and its errors embedb errors that keep
the server's code. Nothing here decides behaviour: that is the server's job.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import errors as E
from ..rankers import AnnSearchRequest, RRFRanker, WeightedRanker
from ..results import Hit, Hits, OmitZeroDict, QueryResult, SearchResult
from ..schema import (CollectionSchema, DataType, FieldSchema, Function, FunctionType, IndexParam,
                      IndexParams)


def pymilvus_module() -> Any:
    """``pymilvus``, or an error that names the extra to install."""
    try:
        import pymilvus
    except ImportError:
        raise E.missing_dependency("pymilvus", "remote") from None
    return pymilvus


# outbound: embedb -> pymilvus --------------------------------------------------------------------

def _pm_datatype(value: Any) -> Any:
    pm = pymilvus_module()
    return pm.DataType(int(value)) if value is not None else None


def field_to_pymilvus(field: FieldSchema) -> Any:
    pm = pymilvus_module()
    d = field.to_dict()
    d["type"] = _pm_datatype(d["type"])
    if d.get("element_type") is not None:
        d["element_type"] = _pm_datatype(d["element_type"])
    return pm.FieldSchema.construct_from_dict(d)


def function_to_pymilvus(fn: Function) -> Any:
    pm = pymilvus_module()
    d = fn.to_dict()
    return pm.Function(d["name"], pm.FunctionType(int(d["type"])), d["input_field_names"],
                       d["output_field_names"], d["description"], d["params"])


def schema_to_pymilvus(schema: CollectionSchema) -> Any:
    pm = pymilvus_module()
    out = pm.CollectionSchema([field_to_pymilvus(f) for f in schema.fields],
                              description=schema.description,
                              enable_dynamic_field=schema.enable_dynamic_field)
    for fn in schema.functions:
        out.add_function(function_to_pymilvus(fn))
    return out


def index_params_to_pymilvus(params: Any) -> Any:
    pm = pymilvus_module()
    out = pm.MilvusClient.prepare_index_params()
    for p in ([params] if isinstance(params, IndexParam) else params):
        if not isinstance(p, IndexParam):  # already a pymilvus object: the server judges it
            return params
        kwargs = {"params": dict(p.params)} if p.params else {}
        if p.metric_type:
            kwargs["metric_type"] = p.metric_type
        out.add_index(p.field_name, index_type=p.index_type, index_name=p.index_name, **kwargs)
    return out


def _ranker_to_pymilvus(ranker: Any) -> Any:
    pm = pymilvus_module()
    if isinstance(ranker, RRFRanker):
        return pm.RRFRanker(ranker.k)
    return pm.WeightedRanker(*ranker.weights, norm_score=ranker.norm_score)


def _request_to_pymilvus(req: AnnSearchRequest) -> Any:
    pm = pymilvus_module()
    return pm.AnnSearchRequest(req.data, req.anns_field, req.param, req.limit, expr=req.expr,
                               expr_params=req.expr_params)


_OUTBOUND = (
    (CollectionSchema, schema_to_pymilvus),
    (FieldSchema, field_to_pymilvus),
    (Function, function_to_pymilvus),
    (IndexParams, index_params_to_pymilvus),
    (IndexParam, index_params_to_pymilvus),
    (AnnSearchRequest, _request_to_pymilvus),
    ((RRFRanker, WeightedRanker), _ranker_to_pymilvus),
    (DataType, _pm_datatype),
    (FunctionType, lambda v: pymilvus_module().FunctionType(int(v))),
)


def to_pymilvus(value: Any) -> Any:
    """An embedb object as its pymilvus twin; lists of them item by item; anything else as is
    (rows, vectors and NumPy/SciPy arrays go to pymilvus unchanged: it reads them itself)."""
    for kinds, convert in _OUTBOUND:
        if isinstance(value, kinds):
            return convert(value)
    if isinstance(value, (list, tuple)) and value and any(
            isinstance(v, (AnnSearchRequest, FieldSchema, Function)) for v in value):
        return [to_pymilvus(v) for v in value]
    return value


# inbound: pymilvus -> embedb ---------------------------------------------------------------------

def _embedb_enum(enum: type, value: Any) -> Any:
    """pymilvus's enum member as embedb's (by name, then by value); unknown members stay as
    they are, so a newer server type still reads."""
    if value is None or isinstance(value, enum):
        return value
    name = getattr(value, "name", None)
    if name is not None and name in enum.__members__:
        return enum[name]
    try:
        return enum(int(value))
    except (TypeError, ValueError):
        return value


def plain_value(value: Any) -> Any:
    """A value of a row as embedb's engine gives it: a bytes vector (binary, float16, bfloat16,
    int8) as ``bytes`` (pymilvus wraps it in a one-item list), NumPy arrays as lists."""
    t = type(value)
    if t is list:
        if len(value) == 1 and type(value[0]) is bytes:
            return value[0]
        return value
    if t is np.ndarray:
        return value.tobytes() if value.dtype == np.int8 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def plain_row(row: Any) -> dict:
    return {k: plain_value(v) for k, v in row.items()}


def query_result(rows: Any) -> QueryResult:
    extra = getattr(rows, "extra", None)
    out = QueryResult([plain_row(r) for r in rows])
    if isinstance(extra, dict):
        out.extra = dict(extra)
    return out


def _hit(h: Any) -> Hit:
    entity = dict.get(h, "entity") or {}
    d = dict(h)
    d["entity"] = plain_row(entity)
    return Hit(d)


def search_result(res: Any) -> SearchResult:
    out = SearchResult([Hits(_hit(h) for h in hits) for hits in res])
    extra = getattr(res, "extra", None)
    if isinstance(extra, dict):
        out.extra = dict(extra)
    recalls = getattr(res, "recalls", None)
    if recalls:
        out.recalls = list(recalls)
    return out


def describe_collection(info: dict) -> dict:
    out = dict(info)
    fields = []
    for f in info.get("fields", []):
        f = dict(f)
        f["type"] = _embedb_enum(DataType, f.get("type"))
        if isinstance(f.get("params"), dict):  # some servers send 'true', '128', '{"type": ..}'
            f["params"] = {k: _parsed(v) for k, v in f["params"].items()}
        if "default_value" in f:
            f["default_value"] = _proto_value(f["default_value"])
        if "element_type" in f:
            f["element_type"] = _embedb_enum(DataType, f["element_type"])
        fields.append(f)
    out["fields"] = fields
    out["functions"] = [{**fn, "type": _embedb_enum(FunctionType, fn.get("type"))}
                        for fn in info.get("functions", [])]
    return out


def _proto_value(value: Any) -> Any:
    """A default value as pymilvus gives it (a protobuf ``ValueField``) as a Python value."""
    which = getattr(value, "WhichOneof", None)
    if which is None:
        return value
    kind = which("data")
    return None if kind is None else getattr(value, kind)


def _parsed(text: Any) -> Any:
    """An index parameter the server sent as a string, as the number/bool/JSON it was."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        lowered = text.lower()
        return {"true": True, "false": False}.get(lowered, text)


_INDEX_KEYS = ("index_type", "metric_type", "field_name", "index_name", "total_rows",
               "indexed_rows", "pending_index_rows", "state")


def describe_index(info: dict) -> dict:
    """The server's index description with its parameters back in their own types."""
    if not info:
        return info
    out = {k: _parsed(v) for k, v in info.items() if k not in _INDEX_KEYS}
    out.update({k: info[k] for k in _INDEX_KEYS if k in info})
    if isinstance(out.get("params"), dict):  # some servers nest the build parameters
        out.update({k: _parsed(v) for k, v in out.pop("params").items()})
    return out


def load_state(value: Any) -> dict:
    from ..client.base import LoadState

    state = value.get("state") if isinstance(value, dict) else value
    return {**(value if isinstance(value, dict) else {}), "state": _embedb_enum(LoadState, state)}


def write_result(res: Any, count_key: str) -> Any:
    if isinstance(res, dict):
        return OmitZeroDict(res)
    if isinstance(res, list):  # some pymilvus paths return the primary keys themselves
        return OmitZeroDict({count_key: len(res), "cost": 0})
    return res


# errors -------------------------------------------------------------------------------------------

_BY_CODE = {
    100: E.CollectionNotFoundError,
    101: E.CollectionNotLoadedError,
    200: E.PartitionNotFoundError,
    700: E.IndexNotFoundError,
    1100: E.ParamError,
    1602: E.AliasNotFoundError,
}


def embedb_error(error: BaseException, uri: str, method: str) -> E.MilvusException:
    """The embedb error for a pymilvus/gRPC failure, keeping the server's code and message."""
    pm_exc = pymilvus_module().exceptions
    if isinstance(error, E.MilvusException):
        return error
    if isinstance(error, pm_exc.MilvusException):
        code, message = error.code, error.message
        if isinstance(error, (pm_exc.DataTypeNotMatchException, pm_exc.DataNotMatchException)):
            return E.DataError(message, code=code)
        if isinstance(error, pm_exc.ParamError):
            return E.ParamError(message, code=code)
        cls = _BY_CODE.get(code, E.MilvusException)
        if cls is E.MilvusException and "not found" in message.lower() and "alias" in message.lower():
            cls = E.AliasNotFoundError
        return cls(message, code=code)
    status = getattr(error, "code", None)
    if callable(status):  # a raw gRPC error the server answered with (e.g. UNIMPLEMENTED)
        name = getattr(status(), "name", str(status()))
        if name == "UNIMPLEMENTED":
            return E.MilvusException(
                f"the Milvus server at {uri} does not implement {method}() (gRPC UNIMPLEMENTED)",
                code=getattr(E.ErrorCode, "NOT_SUPPORTED", 1))
        detail = getattr(error, "details", lambda: "")() or name
        return E.MilvusException(f"{method}() failed on the Milvus server at {uri}: {detail}")
    return E.MilvusException(f"{method}() failed on the Milvus server at {uri}: "
                             f"{type(error).__name__}: {error}")
