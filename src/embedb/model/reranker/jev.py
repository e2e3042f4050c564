"""TypeSafe's Jev reranker (``POST https://api.typesafe.ai/v1/systemone``), no SDK needed.

Each document becomes one yes/no ("noul") question asking whether it gives evidence for the
query; the answer's probability is the document's score. One request scores every document.
"""

from __future__ import annotations

from typing import Any, List, Optional

from embedb.model._http import (
    HTTPRerankFunction,
    ProviderResponseError,
    check_base_url,
    field,
    reject_unknown_kwargs,
    resolve_api_key,
)

API_URL = "https://api.typesafe.ai/v1/systemone"
API_KEY_ENV = ["TYPESAFE_API_KEY"]


class JevRerankFunction(HTTPRerankFunction):
    """``rf(query, documents, top_k=5)`` -> RerankResults, best first, scored by Jev.

    Key from ``api_key`` or ``TYPESAFE_API_KEY``; ``base_url`` overrides the endpoint.
    """

    provider = "TypeSafe Jev"

    def __init__(self, model_name: str = "jev-latest", api_key: Optional[str] = None, *,
                 base_url: Optional[str] = None, timeout: float = 60.0, max_retries: int = 3,
                 backoff: float = 0.5, max_backoff: float = 30.0, **kwargs: Any) -> None:
        reject_unknown_kwargs(kwargs, type(self).__name__)
        self.model_name = model_name
        self.url = check_base_url(base_url or API_URL)
        key = resolve_api_key(api_key, API_KEY_ENV, self.provider)
        self._setup_http(headers={"Authorization": f"Bearer {key}"}, api_key=key,
                         timeout=timeout, max_retries=max_retries, backoff=backoff,
                         max_backoff=max_backoff)

    def _score(self, query: str, documents: List[str], top_k: Optional[int]) -> List[tuple]:
        questions = {
            f"d{i}": {"type": "noul",
                      "instructions": f"Document: {doc} — Does this document provide evidence "
                                      "relevant to the claim?"}
            for i, doc in enumerate(documents)
        }
        payload = {"state": f"Scientific claim: {query}", "model": self.model_name,
                   "questions": questions}
        answers = field(self._client.post(self.url, payload), "answers", self.provider)
        if not isinstance(answers, dict):
            raise ProviderResponseError(f"unexpected response from {self.provider}: 'answers' "
                                        "is not an object", provider=self.provider)
        pairs = []
        for i in range(len(documents)):
            score = (answers.get(f"d{i}") or {}).get("noul")
            if score is not None:
                pairs.append((i, float(score)))
        return pairs
