"""Hybrid search request and rankers with the names and signatures of pymilvus:
``AnnSearchRequest``, ``RRFRanker``, ``WeightedRanker``."""

from __future__ import annotations

from typing import Any

from .errors import ParamError


class AnnSearchRequest:
    """One vector search inside :meth:`MilvusClient.hybrid_search`."""

    def __init__(self, data: Any, anns_field: str, param: dict, limit: int,
                 expr: str | None = None, expr_params: dict | None = None,
                 filter: str | None = None, **kwargs: Any) -> None:
        if not isinstance(anns_field, str) or not anns_field:
            raise ParamError("AnnSearchRequest needs anns_field, the name of a vector field")
        if expr and filter and expr != filter:
            raise ParamError("AnnSearchRequest: give expr or filter, not both")
        if not isinstance(param, dict):
            raise ParamError(f"AnnSearchRequest param must be a dict, got {type(param).__name__}")
        self.data = data
        self.anns_field = anns_field
        self.param = dict(param)
        self.limit = limit
        self.expr = filter if filter else expr
        self.expr_params = expr_params if expr_params is not None else kwargs.get("filter_params")

    @property
    def filter(self) -> str | None:
        return self.expr

    def __repr__(self) -> str:
        return (f"AnnSearchRequest(anns_field={self.anns_field!r}, param={self.param!r}, "
                f"limit={self.limit!r}, expr={self.expr!r})")


class BaseRanker:
    def dict(self) -> dict:
        raise NotImplementedError


class RRFRanker(BaseRanker):
    """Reciprocal rank fusion: ``score = sum 1 / (k + rank)``, rank from 1; ``k`` in (0, 16384)."""

    def __init__(self, k: int = 60) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k < 16384:
            raise ParamError(f"RRFRanker k must be a number in (0, 16384), got {k!r}")
        self.k = k

    def dict(self) -> dict:
        return {"strategy": "rrf", "params": {"k": self.k}}

    def __repr__(self) -> str:
        return f"RRFRanker(k={self.k})"


class WeightedRanker(BaseRanker):
    """Weighted sum of each request's scores, one weight per request in [0, 1]; with
    ``norm_score`` each metric's scores are first mapped into [0, 1] (arctan, as Milvus)."""

    def __init__(self, *weights: float, norm_score: bool = True) -> None:
        if not weights:
            raise ParamError("WeightedRanker needs one weight per AnnSearchRequest")
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 1:
                raise ParamError(f"WeightedRanker weights must be numbers in [0, 1], got {w!r}")
        self.weights = [float(w) for w in weights]
        self.norm_score = bool(norm_score)

    def dict(self) -> dict:
        return {"strategy": "weighted",
                "params": {"weights": list(self.weights), "norm_score": self.norm_score}}

    def __repr__(self) -> str:
        return f"WeightedRanker({', '.join(map(str, self.weights))}, norm_score={self.norm_score})"


def _score_weights(name: str, weights: tuple) -> list[float]:
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0 or w == float("inf"):
            raise ParamError(f"{name} weights must be finite numbers >= 0, got {w!r}")
    return [float(w) for w in weights]


class DBSFRanker(BaseRanker):
    """Distribution-based score fusion (as Qdrant's DBSF; embedb's own ranker): each request's
    scores scaled by ``(s - (mu - 3 sigma)) / (6 sigma)`` per query, then summed, optionally
    weighted (one weight per request; none = equal). The same as
    ``Function(..., FunctionType.RERANK, params={"reranker": "dbsf", "weights": [...]})``."""

    def __init__(self, *weights: float) -> None:
        self.weights = _score_weights("DBSFRanker", weights)

    def dict(self) -> dict:
        return {"strategy": "dbsf", "params": {"weights": list(self.weights)}}

    def __repr__(self) -> str:
        return f"DBSFRanker({', '.join(map(str, self.weights))})"


class ConvexRanker(BaseRanker):
    """Convex combination of min-max scaled scores (embedb's own ranker): each request's scores
    scaled into [0, 1] per query, then ``sum alpha_i * s_i`` with the weights scaled to sum to 1.
    The same as ``Function(..., params={"reranker": "convex", "weights": [...]})``."""

    def __init__(self, *weights: float) -> None:
        self.weights = _score_weights("ConvexRanker", weights)
        if self.weights and sum(self.weights) <= 0:
            raise ParamError("ConvexRanker weights must not all be 0")

    def dict(self) -> dict:
        return {"strategy": "convex", "params": {"weights": list(self.weights)}}

    def __repr__(self) -> str:
        return f"ConvexRanker({', '.join(map(str, self.weights))})"


class FunctionScore:
    """pymilvus's wrapper of rerank Functions for ``search(ranker=...)`` /
    ``hybrid_search(ranker=...)``; embedb runs one rrf or weighted Function in it."""

    def __init__(self, functions: Any, params: dict | None = None) -> None:
        self.functions = list(functions) if isinstance(functions, (list, tuple)) else [functions]
        if not self.functions:
            raise ParamError("FunctionScore needs at least one rerank Function")
        self.params = dict(params or {})

    def __repr__(self) -> str:
        return f"FunctionScore({self.functions!r}, params={self.params!r})"
