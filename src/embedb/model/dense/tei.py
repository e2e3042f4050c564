"""Hugging Face text-embeddings-inference (TEI) over its native ``POST {api_url}/embed`` route.

TEI serves one model; queries and documents are embedded alike unless the server's model has
named prompts, in which case ``query_prompt_name`` / ``document_prompt_name`` pick them.
"""

from __future__ import annotations

from typing import Any, List, Optional

from embedb.model._http import (
    HTTPEmbeddingFunction,
    ProviderResponseError,
    check_base_url,
    check_positive_int,
    reject_unknown_kwargs,
    resolve_api_key,
)


class TEIEmbeddingFunction(HTTPEmbeddingFunction):
    """Dense float32 embeddings from a TEI server at ``api_url`` (e.g. ``http://localhost:8080``).

    No key is needed unless the server was started with ``--api-key`` (then pass ``api_key`` or
    set ``TEI_API_KEY``). ``dim`` is ``dimensions`` when given, else learnt from one request.
    """

    provider = "TEI"
    default_batch_size = 32  # TEI's default --max-client-batch-size

    def __init__(
        self,
        api_url: str,
        dimensions: Optional[int] = None,
        *,
        api_key: Optional[str] = None,
        normalize: bool = True,
        truncate: bool = False,
        query_prompt_name: Optional[str] = None,
        document_prompt_name: Optional[str] = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        batch_size: Optional[int] = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        **kwargs: Any,
    ) -> None:
        reject_unknown_kwargs(kwargs, type(self).__name__)
        self.api_url = check_base_url(api_url, "api_url")
        self.dimensions = check_positive_int(dimensions, "dimensions")
        self._dim = self.dimensions
        self.normalize = bool(normalize)
        self.truncate = bool(truncate)
        self.query_prompt_name = query_prompt_name
        self.document_prompt_name = document_prompt_name
        key = resolve_api_key(api_key, ["TEI_API_KEY"], self.provider, required=False)
        self._setup_http(
            headers={"Authorization": f"Bearer {key}"} if key else {},
            api_key=key,
            timeout=timeout,
            max_retries=max_retries,
            batch_size=batch_size,
            backoff=backoff,
            max_backoff=max_backoff,
        )

    def _embed_batch(self, texts: List[str], kind: str) -> List[Any]:
        payload = {"inputs": texts, "normalize": self.normalize, "truncate": self.truncate}
        prompt = {"query": self.query_prompt_name, "document": self.document_prompt_name}.get(kind)
        if prompt:
            payload["prompt_name"] = prompt
        answer = self._client.post(f"{self.api_url}/embed", payload)
        if not isinstance(answer, list):
            raise ProviderResponseError(
                f"unexpected response from {self.provider}: expected a list of embeddings", provider=self.provider
            )
        return answer
