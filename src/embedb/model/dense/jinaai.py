"""Jina AI embeddings (``POST https://api.jina.ai/v1/embeddings``), no SDK needed.

Queries are sent with task ``retrieval.query`` and documents with ``retrieval.passage``;
``__call__`` uses the constructor's ``task``. jina-embeddings-v2 models take no task.
"""

from __future__ import annotations

from typing import Any, List, Optional

from embedb.errors import ParamError
from embedb.model._http import (
    HTTPEmbeddingFunction,
    check_base_url,
    check_positive_int,
    openai_style_vectors,
    reject_unknown_kwargs,
    resolve_api_key,
)

DEFAULT_BASE_URL = "https://api.jina.ai/v1"
API_URL = f"{DEFAULT_BASE_URL}/embeddings"   # pymilvus.model's name for the endpoint
API_KEY_ENV = ["JINAAI_API_KEY", "JINA_API_KEY"]

MODEL_DIMS = {
    "jina-embeddings-v3": 1024,
    "jina-embeddings-v4": 2048,
    "jina-clip-v2": 1024,
    "jina-clip-v1": 768,
    "jina-embeddings-v2-base-en": 768,
    "jina-embeddings-v2-base-de": 768,
    "jina-embeddings-v2-base-es": 768,
    "jina-embeddings-v2-base-zh": 768,
    "jina-embeddings-v2-base-code": 768,
    "jina-embeddings-v2-small-en": 512,
}

# Known tasks, for the docstring; others go to the API as given (Jina adds tasks over time).
TASKS = ("retrieval.query", "retrieval.passage", "text-matching", "classification", "separation", "code.query", "code.passage")


class JinaEmbeddingFunction(HTTPEmbeddingFunction):
    """Dense embeddings from the Jina AI API; key from ``api_key``, ``JINAAI_API_KEY`` or ``JINA_API_KEY``."""

    provider = "Jina AI"
    default_batch_size = 128

    def __init__(
        self,
        model_name: str = "jina-embeddings-v3",
        api_key: Optional[str] = None,
        task: str = "retrieval.passage",
        dimensions: Optional[int] = None,
        late_chunking: Optional[bool] = False,
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
        if not isinstance(task, str) or not task:
            raise ParamError(f"task must be a non-empty string such as {', '.join(TASKS[:3])}; got {task!r}")
        self.model_name = model_name
        self.task = task
        self.dimensions = check_positive_int(dimensions, "dimensions")
        self.late_chunking = bool(late_chunking)
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

    def _takes_task(self) -> bool:
        return not self.model_name.startswith(("jina-embeddings-v2", "jina-clip-v1"))

    def _embed_batch(self, texts: List[str], kind: str) -> List[Any]:
        payload = {"model": self.model_name, "input": texts, "embedding_type": "float"}
        if self._takes_task():
            payload["task"] = {"query": "retrieval.query", "document": "retrieval.passage"}.get(kind, self.task)
        if self.dimensions is not None:
            payload["dimensions"] = self.dimensions
        if self.late_chunking:
            payload["late_chunking"] = True
        return openai_style_vectors(self._client.post(f"{self.base_url}/embeddings", payload), self.provider)
