"""Voyage AI reranker (``POST https://api.voyageai.com/v1/rerank``), no SDK needed."""

from __future__ import annotations

from typing import Any, List, Optional

from embedb.model._http import (
    HTTPRerankFunction,
    check_base_url,
    field,
    reject_unknown_kwargs,
    resolve_api_key,
    scored_pairs,
)

DEFAULT_BASE_URL = "https://api.voyageai.com/v1"


class VoyageRerankFunction(HTTPRerankFunction):
    """``rf(query, documents, top_k=5)`` -> RerankResults, best first, scored by a Voyage reranker.

    Key from ``api_key`` or ``VOYAGE_API_KEY``. ``truncation`` is Voyage's flag (API default true).
    """

    provider = "Voyage AI"

    def __init__(
        self,
        model_name: str = "rerank-2",
        api_key: Optional[str] = None,
        *,
        truncation: Optional[bool] = None,
        base_url: Optional[str] = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        **kwargs: Any,
    ) -> None:
        reject_unknown_kwargs(kwargs, type(self).__name__)
        self.model_name = model_name
        self.truncation = truncation
        self.base_url = check_base_url(base_url or DEFAULT_BASE_URL)
        key = resolve_api_key(api_key, ["VOYAGE_API_KEY"], self.provider)
        self._setup_http(
            headers={"Authorization": f"Bearer {key}"},
            api_key=key,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
        )

    def _score(self, query: str, documents: List[str], top_k: Optional[int]) -> List[tuple]:
        payload = {"model": self.model_name, "query": query, "documents": documents, "return_documents": False}
        if top_k is not None:
            payload["top_k"] = top_k
        if self.truncation is not None:
            payload["truncation"] = bool(self.truncation)
        answer = self._client.post(f"{self.base_url}/rerank", payload)
        return scored_pairs(field(answer, "data", self.provider), "relevance_score", self.provider)
