"""Search requests on the wire -> the arguments of the client's ``search``,
``hybrid_search``, ``query`` and ``delete``: placeholder groups (query vectors and texts),
search parameter pairs, filter template values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

from ...errors import ParamError
from ...rankers import AnnSearchRequest, RRFRanker, WeightedRanker
from ...schema import Function
from .records import sparse_row
from .schema import kv_dict, loads_or_text

# Milvus's limits on one request
MAX_NQ = 16384
MAX_TOPK = 16384

_PT = common_pb2.PlaceholderType


def template_value(v: schema_pb2.TemplateValue) -> Any:
    kind = v.WhichOneof("val")
    if kind == "array_val":
        return template_array(v.array_val)
    if kind == "bytes_val":
        return loads_or_text(v.bytes_val.decode("utf-8", "replace"))
    return None if kind is None else getattr(v, kind)


def template_array(a: schema_pb2.TemplateArrayValue) -> list:
    kind = a.WhichOneof("data")
    if kind is None:
        return []
    if kind == "array_data":
        return [template_array(x) for x in a.array_data.data]
    if kind == "json_data":
        return [json.loads(x) for x in a.json_data.data]
    return list(getattr(a, kind).data)


def filter_params(values: Any) -> dict | None:
    """``expr_template_values`` -> the client's ``filter_params`` (None when empty)."""
    out = {k: template_value(v) for k, v in values.items()}
    return out or None


def placeholder_data(blob: bytes, nq_declared: int = 0) -> list | np.ndarray:
    """A serialized PlaceholderGroup -> the ``data`` argument of search: a (nq, dim) float32
    array, a list of bytes (binary, float16, bfloat16, int8 vectors), a list of sparse dicts or
    a list of query texts."""
    group = common_pb2.PlaceholderGroup()
    try:
        group.ParseFromString(blob)
    except DecodeError:
        raise ParamError("malformed placeholder group: cannot decode the query vectors") from None
    if len(group.placeholders) != 1:
        raise ParamError(f"a search takes one placeholder, got {len(group.placeholders)}")
    ph = group.placeholders[0]
    values = list(ph.values)
    nq = len(values)
    if nq == 0:
        raise ParamError("search data is empty: pass at least one query vector")
    if nq > MAX_NQ:
        raise ParamError(f"nq (number of search vectors per search request) should be in range "
                         f"[1, {MAX_NQ}], but got {nq}")
    kind = ph.type
    if kind == _PT.FloatVector:
        widths = {len(v) for v in values}
        if len(widths) != 1 or next(iter(widths)) % 4:
            raise ParamError("query vectors must all have the same dim")
        return np.frombuffer(b"".join(values), dtype="<f4").reshape(nq, -1)
    if kind == _PT.Int8Vector:
        return [np.frombuffer(v, dtype=np.int8) for v in values]
    if kind in (_PT.BinaryVector, _PT.Float16Vector, _PT.BFloat16Vector):
        return values  # bytes: what the client takes for these types
    if kind == _PT.SparseFloatVector:
        return [sparse_row(v) for v in values]
    if kind == _PT.VarChar:
        try:
            return [v.decode("utf-8") for v in values]
        except UnicodeDecodeError:
            raise ParamError("query texts must be UTF-8") from None
    raise ParamError(f"placeholder type {_PT.Name(kind) if kind in _PT.values() else kind} "
                     "is not supported by embedb")


def _int(params: dict, key: str, default: int | None = None) -> int | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ParamError(f"{key} must be an integer, got {raw!r}") from None


def _bool(params: dict, key: str) -> bool | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    return str(raw).lower() in ("true", "1")


@dataclass
class SearchCall:
    """The client call one SearchRequest stands for."""

    kwargs: dict = field(default_factory=dict)
    iterator_v2: bool = False
    iterator_token: str = ""
    iterator_batch: int = 0


def ranker_of(score: schema_pb2.FunctionScore) -> Function:
    """A FunctionScore (pymilvus's ``ranker=Function(..., FunctionType.RERANK)``) -> the same
    rerank Function for the client."""
    if len(score.functions) != 1:
        raise ParamError(f"a search takes one rerank function, got {len(score.functions)}")
    fn = score.functions[0]
    return Function(fn.name or "ranker", int(fn.type), list(fn.input_field_names), [],
                    fn.description, {kv.key: loads_or_text(kv.value) for kv in fn.params})


def _ids(ids: schema_pb2.IDs) -> list:
    kind = ids.WhichOneof("id_field")
    return [] if kind is None else list(getattr(ids, kind).data)


def search_call(req: milvus_pb2.SearchRequest) -> SearchCall:
    if len(req.function_chains):
        raise ParamError("search with function chains is not supported by embedb; use "
                         "hybrid_search or a rerank Function")
    params = kv_dict(req.search_params)
    limit = _int(params, "topk", 10)
    if limit is not None and not 1 <= limit <= MAX_TOPK:
        raise ParamError(f"topk [{limit}] is invalid, it should be in range [1, {MAX_TOPK}]")
    inner = loads_or_text(params.get("params") or "{}")
    if not isinstance(inner, dict):
        raise ParamError(f"search params must be a JSON object, got {params.get('params')!r}")
    search_params: dict[str, Any] = {"params": inner}
    if params.get("metric_type"):
        search_params["metric_type"] = params["metric_type"]
    kwargs: dict[str, Any] = {
        "filter": req.dsl,
        "limit": limit,
        "output_fields": list(req.output_fields) or None,
        "search_params": search_params,
        "partition_names": list(req.partition_names) or None,
        "anns_field": params.get("anns_field") or None,
    }
    if req.HasField("ids"):  # search with the stored vectors of these primary keys
        kwargs["ids"] = _ids(req.ids)
        if len(kwargs["ids"]) > MAX_NQ:
            raise ParamError(f"nq (number of search vectors per search request) should be in "
                             f"range [1, {MAX_NQ}], but got {len(kwargs['ids'])}")
    else:
        kwargs["data"] = placeholder_data(req.placeholder_group)
    if req.HasField("function_score"):
        kwargs["ranker"] = ranker_of(req.function_score)
    for name in ("highlighter", "search_aggregation"):  # the client refuses these, in its words
        if req.HasField(name):
            kwargs[name] = getattr(req, name)
    for key in ("order_by_fields", "timezone"):
        if params.get(key):
            kwargs[key] = params[key]
    if params.get("group_by_fields"):
        kwargs["group_by_fields"] = [f for f in params["group_by_fields"].split(",") if f]
    fp = filter_params(req.expr_template_values)
    if fp:
        kwargs["filter_params"] = fp
    offset = _int(params, "offset")
    if offset:
        kwargs["offset"] = offset
    rd = _int(params, "round_decimal", -1)
    if rd is not None and rd != -1:
        kwargs["round_decimal"] = rd
    if params.get("group_by_field"):
        kwargs["group_by_field"] = params["group_by_field"]
        gs = _int(params, "group_size")
        if gs is not None:
            kwargs["group_size"] = gs
        strict = _bool(params, "strict_group_size")
        if strict is not None:
            kwargs["strict_group_size"] = strict
    call = SearchCall(kwargs)
    if _bool(params, "search_iter_v2"):
        call.iterator_v2 = True
        call.iterator_token = params.get("search_iter_id", "")
        call.iterator_batch = _int(params, "search_iter_batch_size", limit) or limit
    return call


def hybrid_call(req: milvus_pb2.HybridSearchRequest) -> dict:
    """HybridSearchRequest -> keyword arguments of the client's hybrid_search."""
    if len(req.function_chains):
        raise ParamError("hybrid_search with function chains is not supported by embedb; "
                         "use RRFRanker, WeightedRanker or a rerank Function")
    if not req.requests:
        raise ParamError("hybrid_search needs at least one AnnSearchRequest")
    reqs = []
    for sub in req.requests:
        call = search_call(sub).kwargs
        if "data" not in call:
            raise ParamError("hybrid_search sub-requests take query vectors, not primary keys")
        reqs.append(AnnSearchRequest(call["data"], call["anns_field"] or "",
                                     call["search_params"], call["limit"],
                                     expr=call["filter"] or None,
                                     expr_params=call.get("filter_params")))
    rank = kv_dict(req.rank_params)
    strategy = (rank.get("strategy") or "rrf").lower()
    inner = loads_or_text(rank.get("params") or "{}")
    if not isinstance(inner, dict):
        raise ParamError(f"rank params must be a JSON object, got {rank.get('params')!r}")
    if req.HasField("function_score"):
        ranker = ranker_of(req.function_score)
    elif strategy == "rrf":
        ranker = RRFRanker(inner.get("k", 60))
    elif strategy == "weighted":
        ranker = WeightedRanker(*inner.get("weights", []), norm_score=inner.get("norm_score", True))
    else:
        raise ParamError(f"unsupported rank strategy {strategy!r}: use rrf or weighted")
    limit = _int(rank, "limit", 10)
    if limit is not None and not 1 <= limit <= MAX_TOPK:
        raise ParamError(f"topk [{limit}] is invalid, it should be in range [1, {MAX_TOPK}]")
    kwargs: dict[str, Any] = {"reqs": reqs, "ranker": ranker, "limit": limit,
                              "output_fields": list(req.output_fields) or None,
                              "partition_names": list(req.partition_names) or None}
    offset = _int(rank, "offset")
    if offset:
        kwargs["offset"] = offset
    rd = _int(rank, "round_decimal", -1)
    if rd is not None and rd != -1:
        kwargs["round_decimal"] = rd
    return kwargs
