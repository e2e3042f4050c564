"""Cohere embeddings over the v2 API (``POST https://api.cohere.com/v2/embed``), no SDK needed.

Queries use ``input_type="search_query"``, documents ``"search_document"``; ``__call__`` uses the
constructor's ``input_type``.
"""

from __future__ import annotations

from typing import Any, List, Optional

from embedb.errors import ParamError
from embedb.model._http import (
    HTTPEmbeddingFunction,
    ProviderResponseError,
    check_base_url,
    field,
    reject_unknown_kwargs,
    resolve_api_key,
)

DEFAULT_BASE_URL = "https://api.cohere.com"
API_KEY_ENV = ["CO_API_KEY", "COHERE_API_KEY"]

MODEL_DIMS = {
    "embed-v4.0": 1536,
    "embed-english-v3.0": 1024,
    "embed-english-light-v3.0": 384,
    "embed-english-v2.0": 4096,
    "embed-english-light-v2.0": 1024,
    "embed-multilingual-v3.0": 1024,
    "embed-multilingual-light-v3.0": 384,
    "embed-multilingual-v2.0": 768,
}

INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
TRUNCATE = ("NONE", "START", "END")


class CohereEmbeddingFunction(HTTPEmbeddingFunction):
    """Dense float32 embeddings from Cohere; key from ``api_key``, ``CO_API_KEY`` or ``COHERE_API_KEY``."""

    provider = "Cohere"
    default_batch_size = 96  # the API's limit per call
    max_batch_size = 96

    def __init__(
        self,
        model_name: str = "embed-english-light-v3.0",
        api_key: Optional[str] = None,
        input_type: str = "search_document",
        embedding_types: Optional[List[str]] = None,
        truncate: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        batch_size: Optional[int] = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        **kwargs: Any,
    ) -> None:
        reject_unknown_kwargs(kwargs, type(self).__name__)
        if input_type not in INPUT_TYPES:
            raise ParamError(f"input_type must be one of {', '.join(INPUT_TYPES)}; got {input_type!r}")
        if embedding_types not in (None, ["float"], ("float",), "float"):
            raise ParamError(
                f"embedding_types {embedding_types!r} is not supported; embedb returns float32 vectors "
                "(use embedding_types=None or ['float'])"
            )
        if truncate is not None and str(truncate).upper() not in TRUNCATE:
            raise ParamError(f"truncate must be one of {', '.join(TRUNCATE)} or None; got {truncate!r}")
        self.model_name = model_name
        self.input_type = input_type
        self.truncate = None if truncate is None else str(truncate).upper()
        self._dim = MODEL_DIMS.get(model_name)
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
        input_type = {"query": "search_query", "document": "search_document"}.get(kind, self.input_type)
        payload = {"model": self.model_name, "texts": texts, "input_type": input_type, "embedding_types": ["float"]}
        if self.truncate is not None:
            payload["truncate"] = self.truncate
        answer = self._client.post(f"{self.base_url}/v2/embed", payload)
        by_type = field(answer, "embeddings", self.provider)
        if not isinstance(by_type, dict) or not isinstance(by_type.get("float"), list):
            raise ProviderResponseError(
                f"unexpected response from {self.provider}: no 'embeddings.float' list", provider=self.provider
            )
        return by_type["float"]
