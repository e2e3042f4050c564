"""Google Gemini embeddings over the REST API, no SDK needed.

``POST https://generativelanguage.googleapis.com/v1beta/models/{model}:batchEmbedContents`` with
the key in the ``x-goog-api-key`` header. Queries use ``taskType=RETRIEVAL_QUERY`` and documents
``RETRIEVAL_DOCUMENT``; ``__call__`` uses ``config``'s task type, else the document one.
"""

from __future__ import annotations

from typing import Any, List, Optional
from urllib.parse import quote

from embedb.errors import ParamError
from embedb.model._http import (
    HTTPEmbeddingFunction,
    ProviderResponseError,
    check_base_url,
    check_positive_int,
    field,
    reject_unknown_kwargs,
    resolve_api_key,
)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
API_KEY_ENV = ["GEMINI_API_KEY", "GOOGLE_API_KEY"]

MODEL_DIMS = {
    "gemini-embedding-001": 3072,
    "gemini-embedding-exp-03-07": 3072,
    "text-embedding-004": 768,
    "embedding-001": 768,
}


def _config_value(config: Any, snake: str, camel: str) -> Any:
    """Read a setting from a dict or a google.genai ``EmbedContentConfig``-like object."""
    if config is None:
        return None
    if isinstance(config, dict):
        return config.get(snake, config.get(camel))
    return getattr(config, snake, None)


class GeminiEmbeddingFunction(HTTPEmbeddingFunction):
    """Dense float32 embeddings from the Gemini API; key from ``api_key``, ``GEMINI_API_KEY`` or
    ``GOOGLE_API_KEY``.

    ``config`` may be a dict or a ``google.genai.types.EmbedContentConfig``; its
    ``output_dimensionality`` and ``task_type`` are honoured. ``dimensions`` is a shortcut for the
    former.
    """

    provider = "Gemini"
    default_batch_size = 100  # batchEmbedContents takes at most 100 requests
    max_batch_size = 100

    def __init__(
        self,
        model_name: str = "gemini-embedding-exp-03-07",
        api_key: Optional[str] = None,
        config: Any = None,
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
        if not isinstance(model_name, str) or not model_name:
            raise ParamError(f"model_name must be a non-empty string, got {model_name!r}")
        self.model_name = model_name
        self._model_id = model_name[len("models/") :] if model_name.startswith("models/") else model_name
        config_dim = _config_value(config, "output_dimensionality", "outputDimensionality")
        self.dimensions = check_positive_int(dimensions if dimensions is not None else config_dim, "dimensions")
        task = _config_value(config, "task_type", "taskType")
        self.task_type = str(task).upper() if task else None
        self._dim = self.dimensions or MODEL_DIMS.get(self._model_id)
        self.base_url = check_base_url(base_url or DEFAULT_BASE_URL)
        key = resolve_api_key(api_key, API_KEY_ENV, self.provider)
        self._setup_http(
            headers={"x-goog-api-key": key},
            api_key=key,
            timeout=timeout,
            max_retries=max_retries,
            batch_size=batch_size,
            backoff=backoff,
            max_backoff=max_backoff,
        )

    def _embed_batch(self, texts: List[str], kind: str) -> List[Any]:
        task = {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT"}.get(kind, self.task_type)
        model = f"models/{self._model_id}"
        requests = []
        for text in texts:
            request = {"model": model, "content": {"parts": [{"text": text}]}}
            request["taskType"] = task or "RETRIEVAL_DOCUMENT"
            if self.dimensions is not None:
                request["outputDimensionality"] = self.dimensions
            requests.append(request)
        url = f"{self.base_url}/models/{quote(self._model_id, safe='-._')}:batchEmbedContents"
        items = field(self._client.post(url, {"requests": requests}), "embeddings", self.provider)
        try:
            return [item["values"] for item in items]
        except (TypeError, KeyError):
            raise ProviderResponseError(
                f"unexpected response from {self.provider}: embeddings lack 'values'", provider=self.provider
            ) from None
