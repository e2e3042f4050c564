"""OpenAI embeddings over plain HTTPS (``POST {base_url}/embeddings``), no SDK needed.

OpenAI models make no query/document distinction, so all three entry points send the same request.
"""

from __future__ import annotations

import os
from typing import Any, List, Optional

from embedb.model._http import (
    HTTPEmbeddingFunction,
    check_base_url,
    check_positive_int,
    openai_style_vectors,
    reject_unknown_kwargs,
    resolve_api_key,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# Native sizes; the text-embedding-3 models can be shortened with ``dimensions``.
MODEL_DIMS = {
    "text-embedding-ada-002": 1536,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
}


class OpenAIEmbeddingFunction(HTTPEmbeddingFunction):
    """Dense embeddings from the OpenAI API (or any OpenAI-compatible server via ``base_url``).

    The key comes from ``api_key`` or ``OPENAI_API_KEY``; the URL from ``base_url``,
    ``OPENAI_BASE_URL`` or the public API. ``organization``/``project`` become the matching headers.
    """

    provider = "OpenAI"
    default_batch_size = 512  # the API takes up to 2048 inputs; smaller requests retry cheaper
    max_batch_size = 2048

    def __init__(
        self,
        model_name: str = "text-embedding-ada-002",
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        dimensions: Optional[int] = None,
        *,
        organization: Optional[str] = None,
        project: Optional[str] = None,
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
        self.base_url = check_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        key = resolve_api_key(api_key, ["OPENAI_API_KEY"], self.provider)
        headers = {"Authorization": f"Bearer {key}"}
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        self._setup_http(
            headers=headers,
            api_key=key,
            timeout=timeout,
            max_retries=max_retries,
            batch_size=batch_size,
            backoff=backoff,
            max_backoff=max_backoff,
        )

    def _embed_batch(self, texts: List[str], kind: str) -> List[Any]:
        payload = {"model": self.model_name, "input": texts, "encoding_format": "float"}
        if self.dimensions is not None:
            payload["dimensions"] = self.dimensions
        return openai_style_vectors(self._client.post(f"{self.base_url}/embeddings", payload), self.provider)
