"""``OnnxEmbeddingFunction`` at the import path of ``pymilvus.model.dense.onnx``: the default
all-MiniLM-L6-v2 model run with ONNX Runtime (see :mod:`embedb.model.dense.minilm`)."""

from embedb.model.dense.minilm import OnnxEmbeddingFunction

__all__ = ["OnnxEmbeddingFunction"]
