"""embedb: an embedded vector database with the PyMilvus ``MilvusClient`` API and built-in
embedding models.

Importing embedb is cheap and inert: the public names below are resolved lazily on first use,
and ``embedb.model`` (which may use heavy optional libraries) is only imported when touched.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "MilvusClient": "embedb.client",
    "AsyncMilvusClient": "embedb.client.async_client",
    "DataType": "embedb.schema",
    "FieldSchema": "embedb.schema",
    "CollectionSchema": "embedb.schema",
    "Function": "embedb.schema",
    "FunctionType": "embedb.schema",
    "IndexType": "embedb.schema",
    "MetricType": "embedb.schema",
    "StructFieldSchema": "embedb.schema",
    "IndexParams": "embedb.schema",
    "AnnSearchRequest": "embedb.rankers",
    "RRFRanker": "embedb.rankers",
    "WeightedRanker": "embedb.rankers",
    "DBSFRanker": "embedb.rankers",
    "ConvexRanker": "embedb.rankers",
    "FunctionScore": "embedb.rankers",
    "SearchAggregation": "embedb.aggregation",
    "TopHits": "embedb.aggregation",
    "AggregationBucket": "embedb.aggregation",
    "AggregationHit": "embedb.aggregation",
    "FieldOp": "embedb.client.field_ops",
    "FieldOpType": "embedb.client.field_ops",
    "Hit": "embedb.results",
    "Hits": "embedb.results",
    "SearchResult": "embedb.results",
    "QueryResult": "embedb.results",
    "MilvusException": "embedb.errors",
    "ParamError": "embedb.errors",
    "DataError": "embedb.errors",
    "FilterError": "embedb.errors",
    "SchemaError": "embedb.errors",
    "DatabaseLockedError": "embedb.errors",
    "LoadState": "embedb.client",
    "serve_in_thread": "embedb.server",
}

__all__ = sorted(_EXPORTS) + ["model", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "model":
        return importlib.import_module("embedb.model")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'embedb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
