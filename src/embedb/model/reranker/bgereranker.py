"""BGE rerankers (bge-reranker-base/-large/-v2-m3): a sequence-classification cross-encoder with
one logit, run with transformers (no FlagEmbedding).

Scoring follows FlagEmbedding's ``FlagReranker``: the query is cut to ``query_max_length``
tokens, the pair ``[CLS] query [SEP] passage [SEP]`` to ``max_length`` (passage side first),
score = the logit, or ``sigmoid(logit)`` when ``normalize``.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from embedb.errors import ParamError
from embedb.model.base import BaseRerankFunction, RerankResult
from embedb.model.utils import (
    check_rerank_args, from_pretrained, import_torch, import_transformers, length_sorted_batches,
    max_input_length, rank_results, resolve_device,
)


class BGERerankFunction(BaseRerankFunction):
    def __init__(
        self,
        model_name: str = "BAAI/bge-reranker-v2-m3",
        use_fp16: bool = True,
        batch_size: int = 32,
        normalize: bool = True,
        device: Optional[Any] = None,
        query_max_length: int = 256,
        max_length: int = 512,
        **kwargs: Any,
    ) -> None:
        devices = kwargs.pop("devices", None)  # pymilvus/FlagEmbedding spelling
        if device is None and devices is not None:
            device = devices
        if isinstance(device, (list, tuple)):
            device = device[0] if device else None
        for name, value in (("query_max_length", query_max_length), ("max_length", max_length)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise ParamError(f"{name} must be an int >= 2, got {value!r}")
        transformers = import_transformers()
        self.device = resolve_device(device)
        self.tokenizer = from_pretrained(transformers.AutoTokenizer, model_name,
                                         local_files_only=kwargs.get("local_files_only", True))
        self.model = from_pretrained(transformers.AutoModelForSequenceClassification, model_name, **kwargs)
        if int(self.model.config.num_labels) != 1:
            raise ParamError(f"{model_name!r} has {self.model.config.num_labels} labels; "
                             "a reranker must output one relevance logit")
        self.model.to(self.device).eval()
        if use_fp16 and self.device.startswith("cuda"):  # fp16 is slower than fp32 on CPU
            self.model.half()
        self.model_name = model_name
        self.batch_size = batch_size
        self.normalize = normalize
        self.query_max_length = query_max_length
        self.max_length = max_input_length(self.tokenizer, self.model.config, max_length)
        if query_max_length + self.tokenizer.num_special_tokens_to_add(pair=True) >= self.max_length:
            raise ParamError(f"query_max_length ({query_max_length}) leaves no room for the passage "
                             f"within max_length ({self.max_length})")
        length_sorted_batches([], batch_size)

    def __call__(self, query: str, documents: List[str], top_k: Optional[int] = 5) -> List[RerankResult]:
        documents = check_rerank_args(query, documents, top_k)
        if not documents:
            return []
        return rank_results(documents, self.compute_scores(query, documents), top_k)

    def compute_scores(self, query: str, documents: Sequence[str]) -> np.ndarray:
        """One score per document, in input order."""
        torch = import_torch()
        query = self._truncate_query(query)
        scores = np.zeros(len(documents), np.float32)
        for idx in length_sorted_batches(list(documents), self.batch_size):
            enc = self.tokenizer([query] * len(idx), [documents[i] for i in idx], padding=True,
                                 truncation="only_second", max_length=self.max_length,
                                 return_tensors="pt").to(self.device)
            with torch.inference_mode():
                logits = self.model(**enc).logits[:, 0].float()
                if self.normalize:
                    logits = torch.sigmoid(logits)
            scores[idx] = logits.cpu().numpy()
        return scores

    def _truncate_query(self, query: str) -> str:
        # cut the text at the end of its query_max_length-th token, so re-tokenising the prefix
        # gives exactly those tokens
        try:
            enc = self.tokenizer(query, add_special_tokens=False, truncation=True,
                                 max_length=self.query_max_length, return_offsets_mapping=True)
        except NotImplementedError:  # slow (Python) tokenizers have no offsets: decode instead
            ids = self.tokenizer(query, add_special_tokens=False, truncation=True,
                                 max_length=self.query_max_length)["input_ids"]
            return self.tokenizer.decode(ids)
        offsets = enc["offset_mapping"]
        return query[: offsets[-1][1]] if offsets else query
