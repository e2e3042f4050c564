"""Sparse embedding functions (``scipy.sparse.csr_array`` float32, one row per text).

``BM25EmbeddingFunction`` (fit on your corpus, offline analyzers from :mod:`embedb.text`) and
``SpladeEmbeddingFunction``. Each class is imported on first use.
"""

from __future__ import annotations

from typing import Any

from embedb.model.utils import lazy_getattr

_EXPORTS = {
    "BM25EmbeddingFunction": ".bm25",
    "SpladeEmbeddingFunction": ".splade",
    # analyzers, under the names pymilvus.model.sparse.bm25 uses
    "Analyzer": "embedb.text",
    "build_default_analyzer": "embedb.text",
    "build_analyzer": "embedb.text",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return lazy_getattr(__name__, name, _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__
