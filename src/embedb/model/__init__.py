"""Embedding functions and rerankers, laid out like ``pymilvus.model``.

``from embedb import model`` then ``model.DefaultEmbeddingFunction()`` (all-MiniLM-L6-v2, offline),
``model.dense.*``, ``model.sparse.*``, ``model.hybrid.*``, ``model.reranker.*``. Every name is
resolved on first use, so importing this package imports no heavy library (torch, transformers,
onnxruntime, HTTP SDKs) and not even the subpackages.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBPACKAGES = ("dense", "sparse", "hybrid", "reranker", "utils", "base")

# public name -> module (relative to this package) that defines it
_EXPORTS = {
    "DefaultEmbeddingFunction": ".dense.minilm",
    "BaseEmbeddingFunction": ".base",
    "BaseRerankFunction": ".base",
    "RerankResult": ".base",
}

__all__ = sorted(_EXPORTS) + ["dense", "sparse", "hybrid", "reranker", "utils"]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
