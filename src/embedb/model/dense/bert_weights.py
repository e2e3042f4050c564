"""Read a BERT-family encoder (config + safetensors weights + tokenizer.json) from a local folder
into plain NumPy arrays, with no torch.

The arrays use one canonical naming whatever prefix the checkpoint used (``bert.``, ``model.``,
none), so the NumPy and ONNX runtimes share one loader. Linear weights are stored transposed
(``in x out``) so ``x @ W`` needs no copy at run time; Q, K and V are fused into one matrix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from embedb.errors import ParamError

_SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu")
_PREFIXES = ("", "bert.", "model.", "roberta.", "encoder_model.")


@dataclass
class BertLayer:
    qkv_w: np.ndarray  # (hidden, 3*hidden)
    qkv_b: np.ndarray  # (3*hidden,)
    out_w: np.ndarray  # (hidden, hidden)
    out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    ff1_w: np.ndarray  # (hidden, intermediate)
    ff1_b: np.ndarray
    ff2_w: np.ndarray  # (intermediate, hidden)
    ff2_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


@dataclass
class BertWeights:
    hidden_size: int
    num_heads: int
    activation: str
    layer_norm_eps: float
    word: np.ndarray
    position: np.ndarray
    token_type: np.ndarray
    emb_ln_g: np.ndarray
    emb_ln_b: np.ndarray
    layers: List[BertLayer] = field(default_factory=list)
    source: Optional[Path] = None

    @property
    def max_positions(self) -> int:
        return int(self.position.shape[0])


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise ParamError(f"{folder} is not a model folder: config.json is missing")
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def load_bert_weights(folder: Path) -> BertWeights:
    """Load a BERT encoder from ``folder`` (``config.json`` + ``model.safetensors``)."""
    from safetensors.numpy import load_file

    config = read_config(folder)
    model_type = config.get("model_type", "bert")
    if model_type not in ("bert",):
        raise ParamError(
            f"{folder}: model_type {model_type!r} is not supported by the built-in runtime "
            "(BERT encoders only); use SentenceTransformerEmbeddingFunction for other models"
        )
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ParamError(f"{folder}: only absolute position embeddings are supported")
    activation = config.get("hidden_act", "gelu")
    if activation not in _SUPPORTED_ACTIVATIONS:
        raise ParamError(
            f"{folder}: hidden_act {activation!r} is not supported; "
            f"expected one of {', '.join(_SUPPORTED_ACTIVATIONS)}"
        )
    weights_path = folder / "model.safetensors"
    if not weights_path.is_file():
        raise ParamError(f"{folder}: model.safetensors is missing (only safetensors weights are read)")
    raw = load_file(str(weights_path))
    prefix = _find_prefix(raw, folder)

    def get(name: str) -> np.ndarray:
        key = prefix + name
        if key not in raw:
            raise ParamError(f"{weights_path}: tensor {key!r} is missing")
        return np.ascontiguousarray(raw[key], dtype=np.float32)

    def linear(name: str) -> tuple:
        return get(name + ".weight").T, get(name + ".bias")

    hidden = int(config["hidden_size"])
    weights = BertWeights(
        hidden_size=hidden,
        num_heads=int(config["num_attention_heads"]),
        activation=activation,
        layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
        word=get("embeddings.word_embeddings.weight"),
        position=get("embeddings.position_embeddings.weight"),
        token_type=(
            get("embeddings.token_type_embeddings.weight")
            if prefix + "embeddings.token_type_embeddings.weight" in raw
            else np.zeros((1, hidden), np.float32)
        ),
        emb_ln_g=get("embeddings.LayerNorm.weight"),
        emb_ln_b=get("embeddings.LayerNorm.bias"),
        source=folder,
    )
    if hidden % weights.num_heads:
        raise ParamError(f"{folder}: hidden_size {hidden} is not divisible by num_attention_heads")
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        qw, qb = linear(p + "attention.self.query")
        kw, kb = linear(p + "attention.self.key")
        vw, vb = linear(p + "attention.self.value")
        ow, ob = linear(p + "attention.output.dense")
        f1w, f1b = linear(p + "intermediate.dense")
        f2w, f2b = linear(p + "output.dense")
        weights.layers.append(
            BertLayer(
                qkv_w=np.ascontiguousarray(np.concatenate([qw, kw, vw], axis=1)),
                qkv_b=np.concatenate([qb, kb, vb]),
                out_w=np.ascontiguousarray(ow), out_b=ob,
                ln1_g=get(p + "attention.output.LayerNorm.weight"),
                ln1_b=get(p + "attention.output.LayerNorm.bias"),
                ff1_w=np.ascontiguousarray(f1w), ff1_b=f1b,
                ff2_w=np.ascontiguousarray(f2w), ff2_b=f2b,
                ln2_g=get(p + "output.LayerNorm.weight"),
                ln2_b=get(p + "output.LayerNorm.bias"),
            )
        )
    return weights


def _find_prefix(raw: Dict[str, np.ndarray], folder: Path) -> str:
    for prefix in _PREFIXES:
        if prefix + "embeddings.word_embeddings.weight" in raw:
            return prefix
    raise ParamError(f"{folder}: no BERT word embeddings found in model.safetensors")
