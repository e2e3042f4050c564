"""Rerankers: ``rf(query, documents, top_k=5) -> list[RerankResult]`` sorted by score, best first."""

from __future__ import annotations

from typing import Any

from embedb.model.utils import lazy_getattr

_EXPORTS = {
    # local models
    "CrossEncoderRerankFunction": ".cross_encoder",
    "BGERerankFunction": ".bgereranker",
    # HTTP providers
    "JinaRerankFunction": ".jinaai",
    "CohereRerankFunction": ".cohere",
    "VoyageRerankFunction": ".voyageai",
    "TEIRerankFunction": ".tei",
    "JevRerankFunction": ".jev",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return lazy_getattr(__name__, name, _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__
