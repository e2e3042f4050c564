"""Mistral AI embeddings (``POST https://api.mistral.ai/v1/embeddings``), no SDK needed.

Mistral's embedding models make no query/document distinction.
"""

from __future__ import annotations

from typing import Any, List, Optional

from embedb.model._http import (
    HTTPEmbeddingFunction,
    check_base_url,
    check_positive_int,
    openai_style_vectors,
    reject_unknown_kwargs,
    resolve_api_key,
)

DEFAULT_BASE_URL = "https://api.mistral.ai/v1"
# MISTRALAI_API_KEY is the name pymilvus.model looked for; MISTRAL_API_KEY is Mistral's own.
API_KEY_ENV = ["MISTRAL_API_KEY", "MISTRALAI_API_KEY"]

MODEL_DIMS = {"mistral-embed": 1024, "codestral-embed": 1536}


class MistralAIEmbeddingFunction(HTTPEmbeddingFunction):
    """Dense float32 embeddings from Mistral AI; key from ``api_key`` or ``MISTRAL_API_KEY``.

    ``api_key`` comes first, as in pymilvus.model, but may be omitted when the variable is set.
    ``dimensions`` (codestral-embed only) is sent as ``output_dimension``.
    """

    provider = "Mistral AI"
    default_batch_size = 64  # Mistral bounds a request by tokens; keep requests modest

    def __init__(
        self,
        api_key: Optional[str] = None,
        model_name: str = "mistral-embed",
        *,
        dimensions: Optional[int] = None,
        base_url: Optional[str] = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        batch_size: Optional[int] = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        **kwargs: Any,
    ) -> None:
        reject_unknown_kwargs(kwargs, type(self).__name__)
        self.model_name = model_name
        self.dimensions = check_positive_int(dimensions, "dimensions")
        self._dim = self.dimensions or MODEL_DIMS.get(model_name)
        self.base_url = check_base_url(base_url or DEFAULT_BASE_URL)
        key = resolve_api_key(api_key, API_KEY_ENV, self.provider)
        self._setup_http(
            headers={"Authorization": f"Bearer {key}"},
            api_key=key,
            timeout=timeout,
            max_retries=max_retries,
            batch_size=batch_size,
            backoff=backoff,
            max_backoff=max_backoff,
        )

    def _embed_batch(self, texts: List[str], kind: str) -> List[Any]:
        payload = {"model": self.model_name, "input": texts}
        if self.dimensions is not None:
            payload["output_dimension"] = self.dimensions
        return openai_style_vectors(self._client.post(f"{self.base_url}/embeddings", payload), self.provider)
