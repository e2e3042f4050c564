"""Cohere reranker over the v2 API (``POST https://api.cohere.com/v2/rerank``), no SDK needed."""

from __future__ import annotations

from typing import Any, List, Optional

from embedb.model._http import (
    HTTPRerankFunction,
    check_base_url,
    check_positive_int,
    field,
    reject_unknown_kwargs,
    resolve_api_key,
    scored_pairs,
)

DEFAULT_BASE_URL = "https://api.cohere.com"
API_KEY_ENV = ["CO_API_KEY", "COHERE_API_KEY"]


class CohereRerankFunction(HTTPRerankFunction):
    """``rf(query, documents, top_k=5)`` -> RerankResults, best first, scored by a Cohere reranker.

    Key from ``api_key``, ``CO_API_KEY`` or ``COHERE_API_KEY``. With ``return_documents=False``
    each result's ``text`` is ``""`` (as in pymilvus.model); the index still names the document.
    ``max_tokens_per_doc`` is passed to the API when given.
    """

    provider = "Cohere"

    def __init__(
        self,
        model_name: str = "rerank-english-v3.0",
        api_key: Optional[str] = None,
        return_documents: bool = True,
        *,
        max_tokens_per_doc: Optional[int] = None,
        base_url: Optional[str] = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        **kwargs: Any,
    ) -> None:
        reject_unknown_kwargs(kwargs, type(self).__name__)
        self.model_name = model_name
        self.return_documents = bool(return_documents)
        self.max_tokens_per_doc = check_positive_int(max_tokens_per_doc, "max_tokens_per_doc")
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

    def _text_of(self, documents: List[str], index: int) -> str:
        return documents[index] if self.return_documents else ""

    def _score(self, query: str, documents: List[str], top_k: Optional[int]) -> List[tuple]:
        payload = {"model": self.model_name, "query": query, "documents": documents}
        if top_k is not None:
            payload["top_n"] = top_k
        if self.max_tokens_per_doc is not None:
            payload["max_tokens_per_doc"] = self.max_tokens_per_doc
        answer = self._client.post(f"{self.base_url}/v2/rerank", payload)
        return scored_pairs(field(answer, "results", self.provider), "relevance_score", self.provider)
