"""BGE-M3: dense, lexical (sparse) and multi-vector (ColBERT) embeddings from one encoder pass,
implemented from a local BGE-M3 folder with transformers (no FlagEmbedding).

The folder holds the encoder (config.json + weights + tokenizer) and the two heads BGE-M3 ships:
``sparse_linear.pt`` (Linear(hidden, 1)) and ``colbert_linear.pt`` (Linear(hidden, d)).
- dense: the CLS hidden state, L2-normalised;
- sparse: relu(sparse_linear(h_t)) per token, the max per token id, CLS/SEP/EOS/PAD/UNK dropped;
- colbert: colbert_linear(h_t) for every real token after CLS, each L2-normalised.
Outputs are NumPy/SciPy only: ``{"dense": [float32 (d,)], "sparse": csr_array float32
(n, vocab), "colbert_vecs": [float32 (tokens, d)]}``.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from embedb.errors import ParamError
from embedb.model.base import BaseEmbeddingFunction
from embedb.model.hybrid.lexical import max_weight_per_token, structural_token_ids
from embedb.model.utils import (
    check_texts, import_torch, import_transformers, length_sorted_batches, max_input_length,
    progress_iter, resolve_device, resolve_folder, stack_in_input_order,
)


def load_linear_head(folder: str, filename: str):
    """A ``torch.nn.Linear`` from a state-dict file (``weight`` (out, in), optional ``bias``)."""
    torch = import_torch()
    path = os.path.join(folder, filename)
    if not os.path.isfile(path):
        raise ParamError(f"{folder}: {filename} is missing (BGE-M3 folders ship it beside the encoder)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if "weight" not in state:
        raise ParamError(f"{path}: expected a Linear state dict with a 'weight' tensor")
    out_features, in_features = state["weight"].shape
    layer = torch.nn.Linear(in_features, out_features, bias="bias" in state)
    layer.load_state_dict(state)
    return layer.eval()


class BGEM3EmbeddingFunction(BaseEmbeddingFunction):
    def __init__(
        self,
        model_name: str = "BAAI/bge-m3",
        batch_size: int = 16,
        device: Optional[str] = None,
        normalize_embeddings: bool = True,
        use_fp16: bool = False,
        return_dense: bool = True,
        return_sparse: bool = True,
        return_colbert_vecs: bool = False,
        max_length: Optional[int] = 8192,
        progress: Optional[bool] = None,
        **kwargs: Any,
    ) -> None:
        devices = kwargs.pop("devices", None)  # pymilvus/FlagEmbedding spelling
        if device is None and devices is not None:
            device = devices[0] if isinstance(devices, (list, tuple)) else devices
        if not (return_dense or return_sparse or return_colbert_vecs):
            raise ParamError("at least one of return_dense, return_sparse, return_colbert_vecs must be True")
        transformers = import_transformers()
        self.folder = resolve_folder(model_name, kwargs.pop("local_files_only", True))
        self.device = resolve_device(device)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        self.model = transformers.AutoModel.from_pretrained(self.folder, local_files_only=True, **kwargs)
        self.sparse_linear = load_linear_head(self.folder, "sparse_linear.pt") if return_sparse else None
        self.colbert_linear = (load_linear_head(self.folder, "colbert_linear.pt")
                               if return_colbert_vecs or os.path.isfile(
                                   os.path.join(self.folder, "colbert_linear.pt")) else None)
        modules = [m for m in (self.model, self.sparse_linear, self.colbert_linear) if m is not None]
        for module in modules:
            module.to(self.device).eval()
            if use_fp16 and self.device.startswith("cuda"):  # fp16 is slower than fp32 on CPU
                module.half()
        self.model_name = model_name
        self.batch_size = batch_size
        self.normalize_embeddings = normalize_embeddings
        self.return_dense = return_dense
        self.return_sparse = return_sparse
        self.return_colbert_vecs = return_colbert_vecs
        self.max_length = max_input_length(self.tokenizer, self.model.config, max_length)
        self.progress = progress
        self._skip_ids = structural_token_ids(self.tokenizer)
        length_sorted_batches([], batch_size)

    @property
    def dim(self) -> Dict[str, int]:
        dims = {"dense": int(self.model.config.hidden_size), "sparse": len(self.tokenizer)}
        if self.colbert_linear is not None:
            dims["colbert_vecs"] = int(self.colbert_linear.out_features)
        return dims

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
        colbert: List[Optional[np.ndarray]] = [None] * n
        sparse_rows = []
        batches = length_sorted_batches(texts, self.batch_size)
        for idx in progress_iter(batches, len(batches), self.progress, f"BGE-M3 {n} texts"):
            out = self._encode_batch([texts[i] for i in idx])
            for j, i in enumerate(idx):
                if "dense" in out:
                    dense[i] = out["dense"][j]
                if "colbert_vecs" in out:
                    colbert[i] = out["colbert_vecs"][j]
            if "sparse" in out:
                sparse_rows.append(out["sparse"])
        result: Dict[str, Any] = {}
        if self.return_dense:
            result["dense"] = dense
        if self.return_sparse:
            result["sparse"] = stack_in_input_order(sparse_rows, batches, len(self.tokenizer))
        if self.return_colbert_vecs:
            result["colbert_vecs"] = colbert
        return result

    def _encode_batch(self, texts: List[str]) -> Dict[str, Any]:
        torch = import_torch()
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt").to(self.device)
        out: Dict[str, Any] = {}
        with torch.inference_mode():
            hidden = self.model(input_ids=enc["input_ids"],
                                attention_mask=enc["attention_mask"]).last_hidden_state
            mask = enc["attention_mask"]
            if self.return_dense:
                cls = hidden[:, 0].float()
                if self.normalize_embeddings:
                    cls = torch.nn.functional.normalize(cls, dim=-1)
                out["dense"] = list(cls.cpu().numpy().astype(np.float32))
            if self.return_sparse:
                weights = torch.relu(self.sparse_linear(hidden)).squeeze(-1).float().cpu().numpy()
                out["sparse"] = max_weight_per_token(
                    weights, enc["input_ids"].cpu().numpy(), mask.cpu().numpy(),
                    self._skip_ids, len(self.tokenizer))
            if self.return_colbert_vecs:
                vecs = self.colbert_linear(hidden[:, 1:]) * mask[:, 1:, None].to(hidden.dtype)
                if self.normalize_embeddings:
                    vecs = torch.nn.functional.normalize(vecs, dim=-1)
                vecs = vecs.float().cpu().numpy()
                lengths = mask.sum(dim=1).cpu().numpy()
                out["colbert_vecs"] = [np.ascontiguousarray(v[: int(k) - 1], dtype=np.float32)
                                       for v, k in zip(vecs, lengths)]
        return out
