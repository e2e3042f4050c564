"""SPLADE learned sparse embeddings (a masked-LM head pooled into vocabulary weights).

weight(text, term) = max over the text's real tokens of log(1 + relu(logit(token, term))).
Padding positions are masked out before the max (pymilvus.model does not), so a text's vector
never depends on its batch-mates. Output: ``scipy.sparse.csr_array`` float32, one row per text,
``vocab_size`` columns.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from embedb.errors import ParamError
from embedb.model.base import BaseEmbeddingFunction
from embedb.model.utils import (
    check_texts, from_pretrained, import_torch, import_transformers, length_sorted_batches,
    max_input_length, progress_iter, stack_in_input_order,
)


class SpladeEmbeddingFunction(BaseEmbeddingFunction):
    """``SpladeEmbeddingFunction(model_name=local path or cached hub id, ...)``.

    ``k_tokens_query`` / ``k_tokens_document`` keep only the top-k terms per text in
    ``encode_queries`` / ``encode_documents``; ``__call__`` keeps every term and adds no
    instruction (as in pymilvus).
    """

    def __init__(
        self,
        model_name: str = "naver/splade-cocondenser-ensembledistil",
        batch_size: int = 32,
        query_instruction: str = "",
        doc_instruction: str = "",
        device: Optional[str] = "cpu",
        k_tokens_query: Optional[int] = None,
        k_tokens_document: Optional[int] = None,
        max_length: Optional[int] = None,
        progress: Optional[bool] = None,
        **kwargs: Any,
    ) -> None:
        for name, k in (("k_tokens_query", k_tokens_query), ("k_tokens_document", k_tokens_document)):
            if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
                raise ParamError(f"{name} must be None or a positive int, got {k!r}")
        transformers = import_transformers()
        from embedb.model.utils import resolve_device

        self.device = resolve_device(device)
        self.model_name = model_name
        self.tokenizer = from_pretrained(transformers.AutoTokenizer, model_name,
                                         local_files_only=kwargs.get("local_files_only", True))
        self.model = from_pretrained(transformers.AutoModelForMaskedLM, model_name, **kwargs)
        self.model.to(self.device).eval()
        self.max_length = max_input_length(self.tokenizer, self.model.config, max_length)
        self.batch_size = batch_size
        self.query_instruction = query_instruction
        self.doc_instruction = doc_instruction
        self.k_tokens_query = k_tokens_query
        self.k_tokens_document = k_tokens_document
        self.progress = progress
        length_sorted_batches([], batch_size)  # validates batch_size now, not at first call

    @property
    def dim(self) -> int:
        return int(self.model.config.vocab_size)

    def __call__(self, texts: Sequence[str]):
        return self._encode(texts, "", None)

    def encode_documents(self, documents: Sequence[str]):
        return self._encode(documents, self.doc_instruction, self.k_tokens_document)

    def encode_queries(self, queries: Sequence[str]):
        return self._encode(queries, self.query_instruction, self.k_tokens_query)

    def _encode(self, texts: Sequence[str], instruction: str, k_tokens: Optional[int]):
        from scipy.sparse import csr_array

        texts = [instruction + t for t in check_texts(texts)]
        batches = length_sorted_batches(texts, self.batch_size)
        desc = f"SPLADE {len(texts)} texts"
        rows = [csr_array(self._batch_weights([texts[i] for i in idx], k_tokens))
                for idx in progress_iter(batches, len(batches), self.progress, desc)]
        return stack_in_input_order(rows, batches, self.dim)

    def _batch_weights(self, texts: List[str], k_tokens: Optional[int]) -> np.ndarray:
        torch = import_torch()
        encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt").to(self.device)
        with torch.inference_mode():
            logits = self.model(**encoded).logits
            mask = encoded["attention_mask"].unsqueeze(-1).to(logits.dtype)
            # log1p(relu(.)) >= 0, so zeroing pad positions keeps them out of the max
            weights = (torch.log1p(torch.relu(logits)) * mask).amax(dim=1)
            if k_tokens is not None and k_tokens < weights.shape[1]:
                top = torch.topk(weights, k_tokens, dim=1)
                weights = torch.zeros_like(weights).scatter_(1, top.indices, top.values)
        return weights.float().cpu().numpy()
