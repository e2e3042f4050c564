"""Cross-encoder reranking with sentence-transformers' ``CrossEncoder`` (any local folder or a
model already in the local Hugging Face cache)."""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from embedb.errors import ParamError
from embedb.model.base import BaseRerankFunction, RerankResult
from embedb.model.utils import (
    check_rerank_args, import_optional, import_torch, is_local_folder, not_found_locally,
    rank_results,
)


class CrossEncoderRerankFunction(BaseRerankFunction):
    """``rf(query, documents, top_k=5) -> list[RerankResult]``, best score first.

    ``activation_fct`` maps raw logits to scores (sentence-transformers' default: sigmoid for
    single-logit models); ``device=""`` lets sentence-transformers pick.
    """

    def __init__(
        self,
        model_name: str = "",
        device: str = "",
        batch_size: int = 32,
        activation_fct: Optional[Callable] = None,
        max_length: Optional[int] = None,
        local_files_only: bool = True,
        **kwargs: Any,
    ) -> None:
        if not model_name:
            raise ParamError("model_name is required: the path of a local cross-encoder folder")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ParamError(f"batch_size must be a positive int, got {batch_size!r}")
        import_torch()
        st = import_optional("sentence_transformers", "sentence-transformers")
        options = dict(device=device or None, max_length=max_length,
                       local_files_only=local_files_only, **kwargs)
        if activation_fct is not None:
            options["activation_fn"] = activation_fct
        try:
            self.model = st.CrossEncoder(str(model_name), **options)
        except OSError as exc:
            if is_local_folder(model_name) or not local_files_only:
                raise
            raise not_found_locally(model_name) from exc
        self.model_name = model_name
        self.batch_size = batch_size

    def __call__(self, query: str, documents: List[str], top_k: Optional[int] = 5) -> List[RerankResult]:
        documents = check_rerank_args(query, documents, top_k)
        if not documents:
            return []
        scores = self.model.predict([(query, doc) for doc in documents], batch_size=self.batch_size,
                                    show_progress_bar=False, convert_to_numpy=True)
        return rank_results(documents, scores, top_k)
