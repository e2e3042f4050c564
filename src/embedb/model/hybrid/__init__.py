"""Hybrid (dense + sparse [+ ColBERT]) embedding functions, imported on first use."""

from __future__ import annotations

from typing import Any

from embedb.model.utils import lazy_getattr

_EXPORTS = {
    "BGEM3EmbeddingFunction": ".bge_m3",
    "MGTEEmbeddingFunction": ".mgte",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return lazy_getattr(__name__, name, _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__
