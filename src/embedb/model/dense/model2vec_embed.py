"""Static (Model2Vec) embeddings: the mean of per-token vectors, no neural network at run time,
no torch. Loads a local Model2Vec folder or one already in the local Hugging Face cache."""

from __future__ import annotations

from typing import List, Sequence

import numpy as np

from embedb.model.base import BaseEmbeddingFunction
from embedb.model.utils import check_texts, import_optional, resolve_folder


class Model2VecEmbeddingFunction(BaseEmbeddingFunction):
    def __init__(self, model_source: str = "minishlab/potion-base-8M", batch_size: int = 1024,
                 local_files_only: bool = True, **kwargs) -> None:
        model2vec = import_optional("model2vec", "model2vec")
        self.folder = resolve_folder(model_source, local_files_only)
        # a local folder: model2vec reads it without touching the hub
        self.model = model2vec.StaticModel.from_pretrained(self.folder, **kwargs)
        self.model_source = model_source
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    def __call__(self, texts: Sequence[str]) -> List[np.ndarray]:
        return self._encode(texts)

    def encode_documents(self, documents: Sequence[str]) -> List[np.ndarray]:
        return self._encode(documents)

    def encode_queries(self, queries: Sequence[str]) -> List[np.ndarray]:
        return self._encode(queries)

    def _encode(self, texts: Sequence[str]) -> List[np.ndarray]:
        texts = check_texts(texts)
        if not texts:
            return []
        vectors = self.model.encode(texts, batch_size=self.batch_size, show_progress_bar=False)
        return list(np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1))
