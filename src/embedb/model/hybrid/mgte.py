"""mGTE (gte-multilingual-base): dense + lexical embeddings from a token-classification model.

- dense: the CLS hidden state, cut to ``dimensions`` (Matryoshka) and L2-normalised;
- sparse: relu(logit) per token, the max per token id, structural tokens dropped.
Outputs are NumPy/SciPy only (pymilvus returns torch tensors, possibly on the GPU, and crashes
when ``return_dense=False``): ``{"dense": [float32 (d,)], "sparse": csr_array float32 (n, vocab)}``.
The real model needs ``trust_remote_code`` (its modelling code ships in the model folder).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from embedb.errors import ParamError
from embedb.model.base import BaseEmbeddingFunction
from embedb.model.hybrid.lexical import max_weight_per_token, structural_token_ids
from embedb.model.utils import (
    check_texts, import_torch, import_transformers, length_sorted_batches, max_input_length,
    progress_iter, resolve_device, resolve_folder, stack_in_input_order,
)


class MGTEEmbeddingFunction(BaseEmbeddingFunction):
    def __init__(
        self,
        model_name: str = "Alibaba-NLP/gte-multilingual-base",
        batch_size: int = 16,
        device: Optional[str] = "",
        normalize_embeddings: bool = True,
        dimensions: Optional[int] = None,
        use_fp16: bool = False,
        return_dense: bool = True,
        return_sparse: bool = True,
        max_length: Optional[int] = 8192,
        trust_remote_code: bool = True,
        progress: Optional[bool] = None,
        **kwargs: Any,
    ) -> None:
        if dimensions is None:
            dimensions = kwargs.pop("dimension", None)  # pymilvus accepts both spellings
        if not (return_dense or return_sparse):
            raise ParamError("at least one of return_dense, return_sparse must be True")
        transformers = import_transformers()
        self.folder = resolve_folder(model_name, kwargs.pop("local_files_only", True))
        self.device = resolve_device(device)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(
            self.folder, local_files_only=True, trust_remote_code=trust_remote_code)
        self.model = transformers.AutoModelForTokenClassification.from_pretrained(
            self.folder, local_files_only=True, trust_remote_code=trust_remote_code, **kwargs)
        self.model.to(self.device).eval()
        if use_fp16 and self.device.startswith("cuda"):
            self.model.half()
        hidden = int(self.model.config.hidden_size)
        if dimensions is not None and (not isinstance(dimensions, int) or not 1 <= dimensions <= hidden):
            raise ParamError(f"dimensions must be an int in [1, {hidden}], got {dimensions!r}")
        self.dimensions = dimensions or hidden
        self.model_name = model_name
        self.batch_size = batch_size
        self.normalize_embeddings = normalize_embeddings
        self.return_dense = return_dense
        self.return_sparse = return_sparse
        self.max_length = max_input_length(self.tokenizer, self.model.config, max_length)
        self.progress = progress
        self._skip_ids = structural_token_ids(self.tokenizer)
        length_sorted_batches([], batch_size)

    @property
    def dim(self) -> Dict[str, int]:
        return {"dense": self.dimensions, "sparse": len(self.tokenizer)}

    def __call__(self, texts: Sequence[str]) -> Dict[str, Any]:
        return self._encode(texts)

    def encode_documents(self, documents: Sequence[str]) -> Dict[str, Any]:
        return self._encode(documents)

    def encode_queries(self, queries: Sequence[str]) -> Dict[str, Any]:
        return self._encode(queries)

    def _encode(self, texts: Sequence[str]) -> Dict[str, Any]:
        texts = check_texts(texts)
        n = len(texts)
        dense: List[Optional[np.ndarray]] = [None] * n
        sparse_rows = []
        batches = length_sorted_batches(texts, self.batch_size)
        for idx in progress_iter(batches, len(batches), self.progress, f"mGTE {n} texts"):
            batch_dense, batch_sparse = self._encode_batch([texts[i] for i in idx])
            if batch_dense is not None:
                for j, i in enumerate(idx):
                    dense[i] = batch_dense[j]
            if batch_sparse is not None:
                sparse_rows.append(batch_sparse)
        result: Dict[str, Any] = {}
        if self.return_dense:
            result["dense"] = dense
        if self.return_sparse:
            result["sparse"] = stack_in_input_order(sparse_rows, batches, len(self.tokenizer))
        return result

    def _encode_batch(self, texts: List[str]):
        torch = import_torch()
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt").to(self.device)
        dense = sparse = None
        with torch.inference_mode():
            out = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                             output_hidden_states=self.return_dense, return_dict=True)
            if self.return_dense:
                last = getattr(out, "last_hidden_state", None)
                if last is None:
                    last = out.hidden_states[-1]
                cls = last[:, 0, : self.dimensions].float()
                if self.normalize_embeddings:
                    cls = torch.nn.functional.normalize(cls, dim=-1)
                dense = cls.cpu().numpy().astype(np.float32)
            if self.return_sparse:
                weights = torch.relu(out.logits[..., 0]).float().cpu().numpy()
                sparse = max_weight_per_token(weights, enc["input_ids"].cpu().numpy(),
                                              enc["attention_mask"].cpu().numpy(),
                                              self._skip_ids, len(self.tokenizer))
        return dense, sparse
