"""Nomic embeddings (``POST https://api-atlas.nomic.ai/v1/embedding/text``), no SDK needed.

Queries are sent with ``task_type="search_query"`` and documents with ``"search_document"``
(pymilvus.model sent the constructor's task type for both); ``__call__`` uses the constructor's.
"""

from __future__ import annotations

from typing import Any, List, Optional

from embedb.errors import ParamError
from embedb.model._http import (
    HTTPEmbeddingFunction,
    check_base_url,
    check_positive_int,
    field,
    reject_unknown_kwargs,
    resolve_api_key,
)

DEFAULT_BASE_URL = "https://api-atlas.nomic.ai"
TASK_TYPES = ("search_document", "search_query", "classification", "clustering")
MODEL_DIMS = {"nomic-embed-text-v1": 768, "nomic-embed-text-v1.5": 768, "nomic-embed-text-v2": 768}


class NomicEmbeddingFunction(HTTPEmbeddingFunction):
    """Dense float32 embeddings from Nomic Atlas; key from ``api_key`` or ``NOMIC_API_KEY``.

    ``dimensions`` (alias ``dimensionality``) is the Matryoshka size of the v1.5 models (64 to 768).
    """

    provider = "Nomic"
    default_batch_size = 128

    def __init__(
        self,
        model_name: str = "nomic-embed-text-v1.5",
        task_type: str = "search_document",
        dimensions: int = 768,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        batch_size: Optional[int] = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        **kwargs: Any,
    ) -> None:
        if "dimensionality" in kwargs:  # the nomic SDK's name, accepted by pymilvus.model too
            dimensions = kwargs.pop("dimensionality")
        reject_unknown_kwargs(kwargs, type(self).__name__)
        if task_type not in TASK_TYPES:
            raise ParamError(f"task_type must be one of {', '.join(TASK_TYPES)}; got {task_type!r}")
        dimensions = check_positive_int(dimensions, "dimensions")
        native = MODEL_DIMS.get(model_name)
        if dimensions is not None and native and dimensions != native and "v1.5" not in model_name:
            raise ParamError(f"dimensions {dimensions} is not available for {model_name}: only nomic-embed-text-v1.5 "
                             f"can be shortened (its native size is {native})")
        self.model_name = model_name
        self.task_type = task_type
        self.dimensions = dimensions
        self._dim = dimensions or native
        self.base_url = check_base_url(base_url or DEFAULT_BASE_URL)
        key = resolve_api_key(api_key, ["NOMIC_API_KEY"], self.provider)
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
        task_type = {"query": "search_query", "document": "search_document"}.get(kind, self.task_type)
        payload = {"model": self.model_name, "texts": texts, "task_type": task_type}
        # Only v1.5 is Matryoshka-trained; the other models reject ``dimensionality``.
        if self.dimensions is not None and "v1.5" in self.model_name:
            payload["dimensionality"] = self.dimensions
        return field(self._client.post(f"{self.base_url}/v1/embedding/text", payload), "embeddings", self.provider)
