"""BM25 sparse embeddings, at the import paths of ``pymilvus.model.sparse.bm25``:
``BM25EmbeddingFunction`` (in :mod:`.bm25`) and the analyzers (in :mod:`.tokenizers`)."""

from embedb.model.sparse.bm25.bm25 import BM25EmbeddingFunction
from embedb.model.sparse.bm25.tokenizers import (
    Analyzer,
    build_analyzer_from_yaml,
    build_default_analyzer,
)

__all__ = [
    "BM25EmbeddingFunction",
    "Analyzer",
    "build_analyzer_from_yaml",
    "build_default_analyzer",
]
