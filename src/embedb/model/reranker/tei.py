"""Hugging Face text-embeddings-inference reranker (``POST {api_url}/rerank``).

TEI scores every text and caps how many one request may carry, so the documents go in chunks of
``batch_size`` and this class keeps the best ``top_k`` across all chunks (pymilvus.model always
returned five).
"""

from __future__ import annotations

from typing import Any, List, Optional

from embedb.model._http import (
    HTTPRerankFunction,
    batched,
    check_base_url,
    check_positive_int,
    reject_unknown_kwargs,
    resolve_api_key,
    scored_pairs,
)


class TEIRerankFunction(HTTPRerankFunction):
    """``rf(query, documents, top_k=5)`` -> RerankResults, best first, from a TEI server at ``api_url``.

    ``raw_scores=True`` asks for logits instead of sigmoid scores; ``truncate=True`` lets the
    server cut long texts instead of refusing them. No key unless the server has ``--api-key``.
    """

    provider = "TEI"

    def __init__(
        self,
        api_url: str,
        *,
        api_key: Optional[str] = None,
        raw_scores: bool = False,
        truncate: bool = False,
        batch_size: int = 32,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        **kwargs: Any,
    ) -> None:
        reject_unknown_kwargs(kwargs, type(self).__name__)
        self.api_url = check_base_url(api_url, "api_url")
        self.raw_scores = bool(raw_scores)
        self.truncate = bool(truncate)
        self.batch_size = check_positive_int(batch_size, "batch_size", allow_none=False)
        key = resolve_api_key(api_key, ["TEI_API_KEY"], self.provider, required=False)
        self._setup_http(
            headers={"Authorization": f"Bearer {key}"} if key else {},
            api_key=key,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
        )

    def _score(self, query: str, documents: List[str], top_k: Optional[int]) -> List[tuple]:
        pairs: List[tuple] = []
        for start, chunk in zip(range(0, len(documents), self.batch_size), batched(documents, self.batch_size)):
            payload = {
                "query": query,
                "texts": chunk,
                "raw_scores": self.raw_scores,
                "truncate": self.truncate,
                "return_text": False,
            }
            answer = self._client.post(f"{self.api_url}/rerank", payload)
            for index, score in scored_pairs(answer, "score", self.provider):
                if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(chunk):
                    index += start  # chunk-local index -> index into ``documents``
                else:
                    index = -1  # reported as invalid by the caller
                pairs.append((index, score))
        return pairs
