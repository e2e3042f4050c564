"""The minimal contracts every embedding function and reranker follows (pymilvus.model names)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, List


class BaseEmbeddingFunction(ABC):
    """Dense functions return a list of 1-D float32 arrays; sparse functions a float32
    ``scipy.sparse.csr_array`` with one row per text. ``dim`` is an int (dict for hybrid)."""

    @abstractmethod
    def __call__(self, texts: List[str]) -> Any: ...

    @abstractmethod
    def encode_queries(self, queries: List[str]) -> Any: ...

    def encode_documents(self, documents: List[str]) -> Any:
        return self(documents)


class BaseRerankFunction(ABC):
    @abstractmethod
    def __call__(self, query: str, documents: List[str], top_k: int = 5) -> List["RerankResult"]: ...


class RerankResult:
    __slots__ = ("text", "score", "index")

    def __init__(self, text: str, score: float, index: int) -> None:
        self.text = text
        self.score = float(score)
        self.index = int(index)

    def to_dict(self) -> dict:
        return {"text": self.text, "score": self.score, "index": self.index}

    def __repr__(self) -> str:
        return f"RerankResult(text={self.text!r}, score={self.score}, index={self.index})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RerankResult) and self.to_dict() == other.to_dict()
