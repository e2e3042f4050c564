"""Jina AI reranker (``POST https://api.jina.ai/v1/rerank``), no SDK needed."""

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

DEFAULT_BASE_URL = "https://api.jina.ai/v1"
API_URL = f"{DEFAULT_BASE_URL}/rerank"   # pymilvus.model's name for the endpoint
API_KEY_ENV = ["JINAAI_API_KEY", "JINA_API_KEY"]


class JinaRerankFunction(HTTPRerankFunction):
    """``rf(query, documents, top_k=5)`` -> RerankResults, best first, scored by a Jina reranker.

    Key from ``api_key``, ``JINAAI_API_KEY`` or ``JINA_API_KEY``. ``top_k=None`` returns every
    document.
    """

    provider = "Jina AI"

    def __init__(
        self,
        model_name: str = "jina-reranker-v2-base-multilingual",
        api_key: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        **kwargs: Any,
    ) -> None:
        reject_unknown_kwargs(kwargs, type(self).__name__)
        self.model_name = model_name
        self.base_url = check_base_url(base_url or DEFAULT_BASE_URL)
        key = resolve_api_key(api_key, API_KEY_ENV, self.provider)
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
            payload["top_n"] = top_k
        answer = self._client.post(f"{self.base_url}/rerank", payload)
        return scored_pairs(field(answer, "results", self.provider), "relevance_score", self.provider)
