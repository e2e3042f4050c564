"""The default embedding function's loader, pooling modes and both runtimes on tiny BERT folders
built here, against transformers' own forward pass (needs torch for the reference only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedb.errors import ParamError
from embedb.model.dense.minilm import MiniLMEmbeddingFunction

RUNTIMES = ["onnxruntime", "numpy"]

torch = pytest.importorskip("torch")
from test_model_local_fixtures import (  # noqa: E402
    TEXTS, build_bert, make_sentence_transformer_folder, torch_hidden_states,
)


def _reference(states: list, pooling: str) -> np.ndarray:
    pooled = []
    for h in states:
        pooled.append({"mean": h.mean(axis=0), "cls": h[0], "max": h.max(axis=0)}[pooling])
    pooled = np.stack(pooled)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("pooling,activation", [("mean", "gelu"), ("cls", "gelu_new"),
                                                ("max", "relu")])
def test_tiny_bert_against_transformers(tmp_path, monkeypatch, runtime, pooling, activation):
    monkeypatch.setenv("EMBEDB_CACHE_DIR", str(tmp_path / "cache"))
    folder = make_sentence_transformer_folder(
        build_bert(tmp_path / "m", hidden_act=activation), pooling=pooling, max_seq_length=24)
    ef = MiniLMEmbeddingFunction(folder, runtime=runtime, batch_size=3)
    assert ef.dim == 32 and ef.pooling == pooling and ef.max_length == 24
    expected = _reference(torch_hidden_states(folder, TEXTS, 24), pooling)
    got = np.stack(ef(TEXTS))
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_tiny_bert_with_vocab_txt_only(tmp_path):
    folder = build_bert(tmp_path / "m")
    expected = _reference(torch_hidden_states(folder, TEXTS, 64), "mean")
    (folder / "tokenizer.json").unlink()
    ef = MiniLMEmbeddingFunction(folder, runtime="numpy")
    assert ef.max_length == 64  # no sentence_bert_config.json: the position table's size
    np.testing.assert_allclose(np.stack(ef(TEXTS)), expected, atol=2e-5)


def test_unsupported_model_type_is_named(tmp_path):
    folder = build_bert(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "t5"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ParamError, match="model_type 't5'"):
        MiniLMEmbeddingFunction(folder)
