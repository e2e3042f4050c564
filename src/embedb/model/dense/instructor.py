"""INSTRUCTOR embeddings (hkunlp/instructor-*): text embedded together with a task instruction,
implemented from the model's sentence-transformers folder with transformers (no vendored
InstructorEmbedding package).

The encoder reads ``instruction + text`` (both stripped, joined without a space, as the original);
mean pooling then skips the instruction's tokens (the instruction's token count, less its closing
special token), then the folder's ``Dense`` layer (if any) and L2 normalisation apply.
"""

from __future__ import annotations

import json
import os
from typing import Any, List, Optional, Sequence

import numpy as np

from embedb.errors import ParamError
from embedb.model.base import BaseEmbeddingFunction
from embedb.model.utils import (
    check_texts, import_torch, import_transformers, length_sorted_batches, max_input_length,
    progress_iter, resolve_device, resolve_folder,
)

_ACTIVATIONS = {"torch.nn.modules.linear.Identity": None, "torch.nn.modules.activation.Tanh": "tanh"}


def _read_json(path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _load_dense(folder: str):
    """The optional sentence-transformers ``Dense`` module after pooling, as (Linear, activation)."""
    torch = import_torch()
    modules = json.loads(open(os.path.join(folder, "modules.json"), encoding="utf-8").read()) \
        if os.path.isfile(os.path.join(folder, "modules.json")) else []
    dense = [m for m in modules if m.get("type", "").endswith("models.Dense")]
    if not dense:
        return None, None
    sub = os.path.join(folder, dense[0]["path"])
    config = _read_json(os.path.join(sub, "config.json"))
    activation = config.get("activation_function", "torch.nn.modules.linear.Identity")
    if activation not in _ACTIVATIONS:
        raise ParamError(f"{sub}: activation {activation!r} is not supported "
                         f"(expected one of {', '.join(_ACTIVATIONS)})")
    if os.path.isfile(os.path.join(sub, "model.safetensors")):
        from safetensors.torch import load_file

        state = load_file(os.path.join(sub, "model.safetensors"))
    elif os.path.isfile(os.path.join(sub, "pytorch_model.bin")):
        state = torch.load(os.path.join(sub, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    else:
        raise ParamError(f"{sub}: no model.safetensors or pytorch_model.bin for the Dense layer")
    layer = torch.nn.Linear(int(config["in_features"]), int(config["out_features"]),
                            bias=bool(config.get("bias", True)))
    layer.load_state_dict({k.removeprefix("linear."): v for k, v in state.items()})
    return layer.eval(), _ACTIVATIONS[activation]


class InstructorEmbeddingFunction(BaseEmbeddingFunction):
    def __init__(
        self,
        model_name: str = "hkunlp/instructor-xl",
        batch_size: int = 32,
        query_instruction: str = "Represent the question for retrieval:",
        doc_instruction: str = "Represent the document for retrieval:",
        device: Optional[str] = "cpu",
        normalize_embeddings: bool = True,
        max_length: Optional[int] = None,
        progress: Optional[bool] = None,
        **kwargs: Any,
    ) -> None:
        transformers = import_transformers()
        self.folder = resolve_folder(model_name, kwargs.pop("local_files_only", True))
        self.device = resolve_device(device)
        config = transformers.AutoConfig.from_pretrained(self.folder, local_files_only=True)
        model_cls = (transformers.T5EncoderModel if config.model_type in ("t5", "mt5")
                     else transformers.AutoModel)
        self.model = model_cls.from_pretrained(self.folder, local_files_only=True, **kwargs)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        st_config = _read_json(os.path.join(self.folder, "sentence_bert_config.json"))
        self.max_length = max_input_length(self.tokenizer, self.model.config,
                                           max_length or st_config.get("max_seq_length"))
        self.lowercase = bool(st_config.get("do_lower_case", False))
        self.dense, self.activation = _load_dense(self.folder)
        for module in (self.model, self.dense):
            if module is not None:
                module.to(self.device).eval()
        self.model_name = model_name
        self.batch_size = batch_size
        self.query_instruction = query_instruction
        self.doc_instruction = doc_instruction
        self.normalize_embeddings = normalize_embeddings
        self.progress = progress
        length_sorted_batches([], batch_size)

    @property
    def dim(self) -> int:
        if self.dense is not None:
            return int(self.dense.out_features)
        return int(self.model.config.hidden_size if hasattr(self.model.config, "hidden_size")
                   else self.model.config.d_model)

    def __call__(self, texts: Sequence[str]) -> List[np.ndarray]:
        return self._encode(texts, self.doc_instruction)

    def encode_documents(self, documents: Sequence[str]) -> List[np.ndarray]:
        return self._encode(documents, self.doc_instruction)

    def encode_queries(self, queries: Sequence[str]) -> List[np.ndarray]:
        return self._encode(queries, self.query_instruction)

    def _encode(self, texts: Sequence[str], instruction: str) -> List[np.ndarray]:
        texts = check_texts(texts)
        if not texts:
            return []
        instruction = instruction.strip()
        joined = [instruction + t.strip() for t in texts]
        if self.lowercase:
            instruction, joined = instruction.lower(), [t.lower() for t in joined]
        # tokens the instruction occupies at the start of every input (its closing special token
        # is not part of the joined text)
        skip = len(self.tokenizer(instruction, truncation=True, max_length=self.max_length)["input_ids"]) - 1
        out = np.zeros((len(joined), self.dim), np.float32)
        batches = length_sorted_batches(joined, self.batch_size)
        for idx in progress_iter(batches, len(batches), self.progress, f"Instructor {len(joined)} texts"):
            out[idx] = self._encode_batch([joined[i] for i in idx], skip)
        return list(out)

    def _encode_batch(self, texts: List[str], skip: int) -> np.ndarray:
        torch = import_torch()
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt").to(self.device)
        with torch.inference_mode():
            hidden = self.model(input_ids=enc["input_ids"],
                                attention_mask=enc["attention_mask"]).last_hidden_state
            mask = enc["attention_mask"].clone()
            mask[:, :skip] = 0
            mask = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            if self.dense is not None:
                pooled = self.dense(pooled)
                if self.activation == "tanh":
                    pooled = torch.tanh(pooled)
            if self.normalize_embeddings:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.float().cpu().numpy()
