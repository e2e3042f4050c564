"""SentenceTransformer, Model2Vec and Instructor embedding functions against references
computed here (stored MiniLM vectors; transformers mean pooling on a tiny BERT; a NumPy mean of
static token vectors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedb.errors import ParamError

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())


torch = pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from embedb.model.dense import SentenceTransformerEmbeddingFunction  # noqa: E402
from test_model_local_fixtures import (  # noqa: E402
    TEXTS, build_bert, make_sentence_transformer_folder, torch_hidden_states, write_tokenizer,
)


def test_sentence_transformer_default_name_is_the_shipped_minilm():
    ef = SentenceTransformerEmbeddingFunction()  # "all-MiniLM-L6-v2", offline
    assert ef.dim == 384
    got = np.stack(ef(REFERENCE["sentences"]))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.array(REFERENCE["vectors"]), atol=1e-5)


def test_sentence_transformer_tiny_folder_and_instructions(tmp_path):
    folder = make_sentence_transformer_folder(build_bert(tmp_path / "m"), max_seq_length=24)
    ef = SentenceTransformerEmbeddingFunction(str(folder), batch_size=2, query_instruction="query ",
                                              doc_instruction="passage ")
    states = torch_hidden_states(folder, TEXTS, 24)
    expected = np.stack([h.mean(axis=0) for h in states])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(np.stack(ef(TEXTS)), expected, atol=2e-5)
    q = ef.encode_queries(["alan turing"])[0]
    d = ef.encode_documents(["alan turing"])[0]
    np.testing.assert_allclose(q, ef(["query alan turing"])[0], atol=1e-6)
    np.testing.assert_allclose(d, ef(["passage alan turing"])[0], atol=1e-6)
    assert ef.encode_documents([]) == []
    with pytest.raises(ParamError, match="single string"):
        ef("alan turing")


def test_sentence_transformer_never_downloads():
    with pytest.raises(ParamError, match="embedb downloads nothing"):
        SentenceTransformerEmbeddingFunction("someone/not-cached-model-xyz")


def test_model2vec_mean_of_static_vectors(tmp_path):
    model2vec = pytest.importorskip("model2vec")
    from tokenizers import Tokenizer

    from embedb.model.dense import Model2VecEmbeddingFunction

    write_tokenizer(tmp_path / "tok")
    tokenizer = Tokenizer.from_file(str(tmp_path / "tok" / "tokenizer.json"))
    vectors = np.random.default_rng(1).normal(size=(tokenizer.get_vocab_size(), 16)).astype(np.float32)
    model2vec.StaticModel(vectors, tokenizer, normalize=True).save_pretrained(str(tmp_path / "m2v"))

    ef = Model2VecEmbeddingFunction(str(tmp_path / "m2v"))
    assert ef.dim == 16
    texts = [t for t in TEXTS if t]
    got = ef.encode_documents(texts)
    assert all(v.dtype == np.float32 and v.shape == (16,) for v in got)
    unk = tokenizer.token_to_id("[UNK]")
    expected = []
    for text in texts:
        ids = [i for i in tokenizer.encode(text, add_special_tokens=False).ids if i != unk][:512]
        mean = vectors[ids].mean(axis=0)
        expected.append(mean / np.linalg.norm(mean))
    np.testing.assert_allclose(np.stack(got), np.stack(expected), atol=1e-5)
    np.testing.assert_allclose(ef.encode_queries(texts[:1])[0], got[0], atol=1e-6)
    with pytest.raises(ParamError, match="embedb downloads nothing"):
        Model2VecEmbeddingFunction("minishlab/not-cached-potion")


def test_instructor_pools_only_the_text_tokens(tmp_path):
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    from transformers import BertModel

    from embedb.model.dense import InstructorEmbeddingFunction

    folder = make_sentence_transformer_folder(build_bert(tmp_path / "m"), max_seq_length=40)
    modules = json.loads((folder / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense",
                       "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "2_Dense").mkdir()
    (folder / "2_Dense" / "config.json").write_text(json.dumps({
        "in_features": 32, "out_features": 12, "bias": True,
        "activation_function": "torch.nn.modules.activation.Tanh"}))
    torch.manual_seed(3)
    linear = torch.nn.Linear(32, 12)
    save_file({"linear.weight": linear.weight.detach().contiguous(),
               "linear.bias": linear.bias.detach().contiguous()},
              str(folder / "2_Dense" / "model.safetensors"))

    ef = InstructorEmbeddingFunction(str(folder), batch_size=2, query_instruction="Represent the query:",
                                     doc_instruction=" Represent the document: ")
    assert ef.dim == 12
    docs = ["alan turing was born in london", "the quick brown fox", "paris"]

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(40)
    model = BertModel.from_pretrained(str(folder)).eval()
    w, b = linear.weight.detach().numpy(), linear.bias.detach().numpy()

    def reference(instruction, text):
        ids = tok.encode(instruction.strip() + text.strip()).ids
        skip = len(tok.encode(instruction.strip()).ids) - 1  # [CLS] + instruction tokens
        with torch.no_grad():
            h = model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
        v = np.tanh(h[skip:].mean(axis=0) @ w.T + b)
        return v / np.linalg.norm(v)

    got = np.stack(ef.encode_documents(docs))
    want = np.stack([reference(" Represent the document: ", d) for d in docs])
    np.testing.assert_allclose(got, want, atol=2e-5)
    np.testing.assert_allclose(np.stack(ef(docs)), want, atol=1e-6)  # __call__: doc instruction
    q = ef.encode_queries(["where was turing born"])[0]
    np.testing.assert_allclose(q, reference("Represent the query:", "where was turing born"), atol=2e-5)
