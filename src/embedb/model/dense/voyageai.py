"""Voyage AI embeddings (``POST https://api.voyageai.com/v1/embeddings``), no SDK needed.

Queries are sent with ``input_type="query"`` and documents (and ``__call__``) with
``input_type="document"``, so Voyage prepends its retrieval prompts.
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

DEFAULT_BASE_URL = "https://api.voyageai.com/v1"

_FLEXIBLE = (256, 512, 1024, 2048)
# model -> (default size, sizes output_dimension may pick; empty means fixed)
MODEL_DIMS = {
    "voyage-3-large": (1024, _FLEXIBLE),
    "voyage-3.5": (1024, _FLEXIBLE),
    "voyage-3.5-lite": (1024, _FLEXIBLE),
    "voyage-code-3": (1024, _FLEXIBLE),
    "voyage-context-3": (1024, _FLEXIBLE),
    "voyage-3": (1024, ()),
    "voyage-3-lite": (512, ()),
    "voyage-finance-2": (1024, ()),
    "voyage-multilingual-2": (1024, ()),
    "voyage-law-2": (1024, ()),
    "voyage-large-2": (1536, ()),
    "voyage-code-2": (1536, ()),
    "voyage-2": (1024, ()),
    "voyage-lite-02-instruct": (1024, ()),
}


class VoyageEmbeddingFunction(HTTPEmbeddingFunction):
    """Dense float32 embeddings from Voyage AI; key from ``api_key`` or ``VOYAGE_API_KEY``.

    ``dimension`` picks a Matryoshka size on the models that have them (256/512/1024/2048);
    ``truncate`` is Voyage's ``truncation`` flag (the API's default, true, when None).
    """

    provider = "Voyage AI"
    default_batch_size = 128  # the API takes up to 1000 texts, fewer on token-heavy inputs
    max_batch_size = 1000

    def __init__(
        self,
        model_name: str = "voyage-3-large",
        api_key: Optional[str] = None,
        embedding_type: Optional[str] = None,
        truncate: Optional[bool] = None,
        dimension: Optional[int] = None,
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
        if embedding_type not in (None, "float"):
            raise ParamError(
                f"embedding_type {embedding_type!r} is not supported; embedb returns float32 vectors "
                "(use embedding_type=None or 'float')"
            )
        dimension = check_positive_int(dimension, "dimension")
        default_dim, choices = MODEL_DIMS.get(model_name, (None, ()))
        if dimension is not None and model_name in MODEL_DIMS and dimension != default_dim:
            if dimension not in choices:
                allowed = ", ".join(map(str, choices)) if choices else f"only {default_dim}"
                raise ParamError(f"dimension {dimension} is not available for {model_name} (allowed: {allowed})")
        self.model_name = model_name
        self.truncate = truncate
        self.dimension = dimension
        self._dim = dimension or default_dim
        self.base_url = check_base_url(base_url or DEFAULT_BASE_URL)
        key = resolve_api_key(api_key, ["VOYAGE_API_KEY"], self.provider)
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
        payload = {
            "model": self.model_name,
            "input": texts,
            "input_type": "query" if kind == "query" else "document",
        }
        if self.truncate is not None:
            payload["truncation"] = bool(self.truncate)
        if self.dimension is not None:
            payload["output_dimension"] = self.dimension
        return openai_style_vectors(self._client.post(f"{self.base_url}/embeddings", payload), self.provider)
