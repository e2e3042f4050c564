"""Function rankers over the hits of one search or the candidates of a hybrid search: decay,
boost and model rerankers (Milvus 2.6 ``Function(..., FunctionType.RERANK)``), alone or several
in one ``FunctionScore`` (applied in order).

Scores start as Milvus's decay stage 1: L2 and JACCARD (and HAMMING) distances become
``1 - 2 atan(d) / pi``; IP, COSINE and BM25 scores are used as they are. In a hybrid search a
row's starting score is its best such score over the requests. Then each function in turn:

- ``decay`` (``function``: gauss | exp | linear; ``origin``, ``scale``, ``offset`` = 0,
  ``decay`` = 0.5) on one numeric or TIMESTAMPTZ field multiplies the score by
  ``d = max(0, |v - origin| - offset)`` mapped through
  gauss ``exp(-d^2 / (2 s2))`` with ``s2 = -scale^2 / (2 ln decay)``, exp ``exp(ln(decay) / scale
  * d)``, or linear ``max(0, (S - d) / S)`` with ``S = scale / (1 - decay)``. A NULL value
  scores 0. TIMESTAMPTZ: ``origin`` is an ISO time (or UTC microseconds), ``scale``/``offset``
  ISO durations (``P1D``) or microseconds.
- ``boost`` (``filter``, ``weight``, optional ``random_score: {"seed", "field"}``): after the
  other functions, the boosts of a FunctionScore are combined per row as Elasticsearch's
  function_score does: ``function_mode`` multiply (default: the product of the weights of the
  boosts whose filter the row matches) or sum (their sum), then ``boost_mode`` multiply
  (default: score times that) or sum (score plus it); a row no boost matches keeps its score.
  With ``random_score`` a boost's weight is multiplied by a pseudo-random number in [0, 1) drawn
  from the seed and the row's ``field`` value (default the primary key): the same seed gives
  the same order on every call (embedb's generator, SplitMix64; Milvus's numbers differ).
  Milvus refuses boost rankers in hybrid_search; so does embedb.
- ``model`` (``provider``, ``queries``, ``model_name``/``endpoint``...): the score becomes the
  reranker model's relevance of the hit's input VARCHAR field to the query (one query text per
  search query), through the embedb.functions runner (the engine never imports embedb.model).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ParamError
from ..schema import DataType

DECAY_FUNCTIONS = ("gauss", "exp", "linear")
FUNCTION_RANKERS = ("decay", "boost", "model")
DISTANCE_METRICS = ("L2", "JACCARD", "HAMMING")
_NUMERIC = {DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.FLOAT,
            DataType.DOUBLE, DataType.TIMESTAMPTZ}


def start_scores(dist: np.ndarray, metric: str) -> np.ndarray:
    d = np.asarray(dist, dtype=np.float64)
    if metric.upper() in DISTANCE_METRICS:
        return 1.0 - 2.0 * np.arctan(d) / np.pi
    return d


def _number(params: dict, key: str, name: str, default: Any = None) -> float:
    value = params.get(key, default)
    if value is None:
        raise ParamError(f"{name} ranker needs params[{key!r}]")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParamError(f"{name} ranker: params[{key!r}] must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ParamError(f"{name} ranker: params[{key!r}] must be finite, got {value!r}")
    return out


def _time_span(value: Any, key: str) -> float:
    if isinstance(value, str):
        from ..timestamptz import parse_duration

        months, micros = parse_duration(value)
        if months:
            raise ParamError(f"decay ranker: params[{key!r}] {value!r} has months or years, "
                             "which have no fixed length; use days")
        return float(micros)
    return _number({key: value}, key, "decay")


def decay_factor(values: np.ndarray, valid: np.ndarray | None, params: dict,
                 timestamps: bool = False, zone: str = "UTC") -> np.ndarray:
    """The decay score of each value (see the module docstring)."""
    kind = str(params.get("function", "")).lower()
    if kind not in DECAY_FUNCTIONS:
        raise ParamError(f"decay ranker: params['function'] must be one of {list(DECAY_FUNCTIONS)}, "
                         f"got {params.get('function')!r}")
    if timestamps:
        from ..timestamptz import to_micros

        o = params.get("origin")
        if o is None:
            raise ParamError("decay ranker needs params['origin']")
        origin = float(to_micros(o, zone)) if isinstance(o, str) else _number(params, "origin", "decay")
        scale = _time_span(params.get("scale"), "scale") if params.get("scale") is not None else None
        offset = _time_span(params.get("offset", 0), "offset")
        if scale is None:
            raise ParamError("decay ranker needs params['scale']")
    else:
        origin = _number(params, "origin", "decay")
        scale = _number(params, "scale", "decay")
        offset = _number(params, "offset", "decay", 0)
    decay = _number(params, "decay", "decay", 0.5)
    if scale <= 0:
        raise ParamError(f"decay ranker: params['scale'] must be > 0, got {params.get('scale')!r}")
    if offset < 0:
        raise ParamError(f"decay ranker: params['offset'] must be >= 0, got {params.get('offset')!r}")
    if not 0 < decay < 1:
        raise ParamError(f"decay ranker: params['decay'] must be in (0, 1), got {params.get('decay')!r}")
    d = np.maximum(0.0, np.abs(np.asarray(values, dtype=np.float64) - origin) - offset)
    if kind == "gauss":
        sigma2 = -scale * scale / (2.0 * math.log(decay))
        out = np.exp(-d * d / (2.0 * sigma2))
    elif kind == "exp":
        out = np.exp(math.log(decay) / scale * d)
    else:
        s = scale / (1.0 - decay)
        out = np.maximum(0.0, (s - d) / s)
    return out if valid is None else np.where(valid, out, 0.0)


def parse_functions(functions: list, score_params: dict | None) -> dict:
    """The engine's plan for decay / boost / model rankers (checked where it needs no data)."""
    plan = []
    for fn in functions:
        params = dict(getattr(fn, "params", None) or {})
        kind = str(params.get("reranker", "")).lower()
        inputs = list(getattr(fn, "input_field_names", None) or [])
        if kind in ("decay", "model") and len(inputs) != 1:
            raise ParamError(f"a {kind} ranker takes exactly one input field, got {inputs}")
        if kind == "boost" and "weight" in params:
            _number(params, "weight", "boost")
        plan.append({"kind": kind, "params": params, "inputs": inputs,
                     "name": getattr(fn, "name", kind)})
    modes = {}
    for key in ("boost_mode", "function_mode"):
        mode = str((score_params or {}).get(key, "multiply")).lower()
        if mode not in ("multiply", "sum"):
            raise ParamError(f"FunctionScore params[{key!r}] must be 'multiply' or 'sum', got {mode!r}")
        modes[key] = mode
    return {"strategy": "functions", "functions": plan, **modes}


def apply(collection: Any, plan: dict, rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """New scores of ``rows`` (nq, m; -1 = none) after every function of ``plan``."""
    scores = np.where(rows >= 0, scores, 0.0).astype(np.float64)
    safe = np.maximum(rows, 0)
    boosts = []
    for step in plan["functions"]:
        if step["kind"] == "decay":
            scores = scores * _decay_of(collection, step, safe)
        elif step["kind"] == "boost":
            boosts.append(step)
        else:
            scores = _model_scores(collection, step, rows)
    if boosts:
        scores = _boost(collection, boosts, safe, scores, plan["boost_mode"], plan["function_mode"])
    return np.where(rows >= 0, scores, -np.inf)


def _decay_of(collection: Any, step: dict, rows: np.ndarray) -> np.ndarray:
    name = step["inputs"][0]
    field = collection.schema.field(name)
    if field is None:
        raise ParamError(f"decay ranker: field {name!r} does not exist in collection "
                         f"{collection.name!r}")
    if field.dtype not in _NUMERIC:
        raise ParamError(f"decay ranker: field {name!r} is {field.dtype.name}; decay needs a "
                         "numeric (INT8..INT64, FLOAT, DOUBLE) or TIMESTAMPTZ field")
    col = collection.source.column(name)
    values = np.asarray(col.values)[rows]
    valid = None if col.valid is None else np.asarray(col.valid)[rows]
    return decay_factor(values, valid, step["params"], field.dtype == DataType.TIMESTAMPTZ,
                        getattr(collection, "timezone", "UTC") or "UTC")


def _boost(collection: Any, steps: list, rows: np.ndarray, scores: np.ndarray, boost_mode: str,
           function_mode: str) -> np.ndarray:
    product = function_mode == "multiply"
    combined = np.ones(rows.shape) if product else np.zeros(rows.shape)
    any_hit = np.zeros(rows.shape, bool)
    for step in steps:
        params = step["params"]
        weight = _number(params, "weight", "boost", 1.0)
        expr = params.get("filter") or ""
        match = collection.mask(expr) if expr else None
        hit = np.ones(rows.shape, bool) if match is None else np.asarray(match)[rows]
        value = np.full(rows.shape, weight)
        if params.get("random_score") is not None:
            value = value * _random_scores(collection, params["random_score"], rows)
        combined = np.where(hit, combined * value if product else combined + value, combined)
        any_hit |= hit
    if boost_mode == "sum":
        return scores + np.where(any_hit, combined, 0.0)
    return scores * np.where(any_hit, combined, 1.0)


def _random_scores(collection: Any, spec: Any, rows: np.ndarray) -> np.ndarray:
    """SplitMix64 of (seed, the row's field value) as a number in [0, 1)."""
    if isinstance(spec, str):
        import json

        try:
            spec = json.loads(spec)
        except ValueError:
            spec = None
    if not isinstance(spec, dict):
        raise ParamError("boost ranker: params['random_score'] must be {'seed': int, 'field': name}")
    try:
        seed = int(spec.get("seed", 0))
    except (TypeError, ValueError):
        raise ParamError(f"boost ranker: random_score seed must be an integer, got "
                         f"{spec.get('seed')!r}") from None
    name = spec.get("field") or collection.schema.primary_field.name
    field = collection.schema.field(name)
    if field is None or field.dtype not in (_NUMERIC | {DataType.VARCHAR}):
        raise ParamError(f"boost ranker: random_score field {name!r} must be a numeric or VARCHAR "
                         f"field of collection {collection.name!r}")
    values = np.asarray(collection.source.column(name).values)[rows]
    if field.dtype == DataType.VARCHAR:
        import zlib

        keys = np.array([zlib.crc32(str(v).encode("utf-8")) for v in values.ravel()],
                        dtype=np.uint64).reshape(values.shape)
    else:
        keys = np.asarray(values, dtype=np.float64).view(np.uint64) if \
            np.asarray(values).dtype.kind == "f" else np.asarray(values).astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        z = keys + np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _model_scores(collection: Any, step: dict, rows: np.ndarray) -> np.ndarray:
    from . import model_functions

    params = step["params"]
    queries = params.get("queries")
    if isinstance(queries, str):
        import json

        try:
            queries = json.loads(queries)
        except ValueError:
            queries = [queries]
    if not isinstance(queries, (list, tuple)) or not all(isinstance(q, str) for q in queries):
        raise ParamError("model ranker needs params['queries'], a list of query texts (one per "
                         "search query)")
    if len(queries) != rows.shape[0]:
        raise ParamError(f"model ranker has {len(queries)} queries for {rows.shape[0]} search "
                         "queries: give one query text per search query")
    name = step["inputs"][0]
    field = collection.schema.field(name)
    if field is None or field.dtype != DataType.VARCHAR:
        raise ParamError(f"model ranker: input field {name!r} must be a VARCHAR field of "
                         f"collection {collection.name!r}")
    out = np.zeros(rows.shape, dtype=np.float64)
    for q in range(rows.shape[0]):
        keep = np.flatnonzero(rows[q] >= 0)
        if not len(keep):
            continue
        texts = [e.get(name) or "" for e in collection.entities(rows[q][keep], [name])]
        out[q, keep] = model_functions.rerank_scores(step, queries[q], texts)
    return out
