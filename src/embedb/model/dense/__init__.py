"""Dense embedding functions. Each class lives in its own module and is imported on first use."""

from __future__ import annotations

from typing import Any

from embedb.model.utils import lazy_getattr

_EXPORTS = {
    # local models (no network)
    "DefaultEmbeddingFunction": ".minilm",
    "MiniLMEmbeddingFunction": ".minilm",
    "OnnxEmbeddingFunction": ".minilm",
    "SentenceTransformerEmbeddingFunction": ".sentence_transformer",
    "InstructorEmbeddingFunction": ".instructor",
    "Model2VecEmbeddingFunction": ".model2vec_embed",
    # HTTP providers
    "OpenAIEmbeddingFunction": ".openai",
    "JinaEmbeddingFunction": ".jinaai",
    "VoyageEmbeddingFunction": ".voyageai",
    "CohereEmbeddingFunction": ".cohere",
    "MistralAIEmbeddingFunction": ".mistralai",
    "NomicEmbeddingFunction": ".nomic",
    "GeminiEmbeddingFunction": ".gemini",
    "TEIEmbeddingFunction": ".tei",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return lazy_getattr(__name__, name, _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__
