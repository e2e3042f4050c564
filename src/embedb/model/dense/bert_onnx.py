"""BERT encoder on onnxruntime, from a graph built at first use out of the safetensors weights.

No torch and no exported ``.onnx`` file are needed: the graph is assembled with ``onnx.helper``
from the arrays of :mod:`bert_weights`, using onnxruntime's fused CPU kernels (``Attention``,
``SkipLayerNormalization``, ``BiasGelu``), which are what its own BERT optimiser would produce
from a PyTorch export. The serialised graph is cached under the user cache directory, keyed by
a hash of the weights, so later runs skip the build.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import List, Optional

import numpy as np

from embedb.model.dense.bert_weights import BertWeights
from embedb.model.utils import import_optional

# bump when the graph layout changes, so stale cached graphs are not reused
GRAPH_VERSION = 1
_MS = "com.microsoft"


def cache_dir() -> Path:
    """``$EMBEDB_CACHE_DIR``, else ``$XDG_CACHE_HOME/embedb``, else ``~/.cache/embedb``."""
    root = os.environ.get("EMBEDB_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "embedb"


def weights_key(weights: BertWeights) -> str:
    digest = hashlib.sha256(f"v{GRAPH_VERSION}:{weights.activation}:{weights.num_heads}".encode())
    for array in _arrays(weights):
        digest.update(array.tobytes())
    return digest.hexdigest()[:32]


def _arrays(weights: BertWeights) -> List[np.ndarray]:
    out = [weights.word, weights.position, weights.token_type, weights.emb_ln_g, weights.emb_ln_b]
    for layer in weights.layers:
        out.extend(vars(layer).values())
    return out


def build_graph(weights: BertWeights) -> bytes:
    """Serialised ONNX model: inputs ``input_ids``, ``attention_mask`` (int64, batch x seq);
    output ``last_hidden_state`` (float32, batch x seq x hidden)."""
    import_optional("onnx", "onnx")  # a clear error if missing; then the real imports
    from onnx import TensorProto, helper, numpy_helper

    inits: list = []
    nodes: list = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list, name: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, domain=domain, **attrs))
        return name

    w = weights
    eps = w.layer_norm_eps
    # embeddings: word[ids] + position[:seq] + token_type[0], then LayerNorm
    word = node("Gather", [const("word_emb", w.word), "input_ids"], "word")
    shape = node("Shape", ["input_ids"], "ids_shape")
    seq_len = node("Slice", [shape, const("one", np.array([1], np.int64)),
                             const("two", np.array([2], np.int64))], "seq_len")
    positions = node("Slice", [const("pos_emb", w.position), const("zero", np.array([0], np.int64)),
                               seq_len], "positions")
    summed = node("Add", [word, positions], "word_pos")
    summed = node("Add", [summed, const("type0", w.token_type[0])], "embedded")
    x = node("LayerNormalization", [summed, const("emb_ln_g", w.emb_ln_g),
                                    const("emb_ln_b", w.emb_ln_b)], "emb_out", axis=-1, epsilon=eps)
    mask = node("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)

    for i, layer in enumerate(w.layers):
        p = f"l{i}_"
        ctx = node("Attention", [x, const(p + "qkv_w", layer.qkv_w), const(p + "qkv_b", layer.qkv_b),
                                 mask], p + "ctx", domain=_MS, num_heads=w.num_heads)
        proj = node("MatMul", [ctx, const(p + "out_w", layer.out_w)], p + "proj")
        x = node("SkipLayerNormalization", [proj, x, const(p + "ln1_g", layer.ln1_g),
                                            const(p + "ln1_b", layer.ln1_b), const(p + "out_b", layer.out_b)],
                 p + "attn_out", domain=_MS, epsilon=eps)
        h = node("MatMul", [x, const(p + "ff1_w", layer.ff1_w)], p + "ff1")
        ff1_b = const(p + "ff1_b", layer.ff1_b)
        if w.activation == "gelu":
            h = node("BiasGelu", [h, ff1_b], p + "act", domain=_MS)
        elif w.activation == "relu":
            h = node("Relu", [node("Add", [h, ff1_b], p + "ff1_biased")], p + "act")
        else:  # tanh-approximated gelu variants
            h = node("FastGelu", [h, ff1_b], p + "act", domain=_MS)
        out = node("MatMul", [h, const(p + "ff2_w", layer.ff2_w)], p + "ff2")
        x = node("SkipLayerNormalization", [out, x, const(p + "ln2_g", layer.ln2_g),
                                            const(p + "ln2_b", layer.ln2_b), const(p + "ff2_b", layer.ff2_b)],
                 p + "out", domain=_MS, epsilon=eps)
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))

    graph = helper.make_graph(
        nodes, "bert_encoder",
        inputs=[helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
                helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        outputs=[helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                               ["batch", "seq", w.hidden_size])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid(_MS, 1)],
                              producer_name="embedb")
    model.ir_version = 8
    return model.SerializeToString()


class OnnxBert:
    """``forward(ids, mask) -> last hidden states`` on an onnxruntime CPU session."""

    name = "onnxruntime"

    def __init__(self, weights: BertWeights, threads: Optional[int] = None,
                 use_cache: bool = True, providers: Optional[List[str]] = None) -> None:
        ort = import_optional("onnxruntime", "onnx")
        graph = self._graph_bytes(weights, use_cache)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(graph, options,
                                            providers=providers or ["CPUExecutionProvider"])

    @staticmethod
    def _graph_bytes(weights: BertWeights, use_cache: bool) -> bytes:
        if not use_cache:
            return build_graph(weights)
        path = cache_dir() / "onnx" / f"bert-{weights_key(weights)}.onnx"
        if path.is_file():
            return path.read_bytes()
        graph = build_graph(weights)
        try:  # a failed cache write (read-only home) must not stop the model from working
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(graph)
            os.replace(tmp, path)
        except OSError:
            pass
        return graph

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input_ids": input_ids.astype(np.int64, copy=False),
                                       "attention_mask": attention_mask.astype(np.int64, copy=False)})[0]
