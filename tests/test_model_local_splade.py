"""SpladeEmbeddingFunction on a tiny BertForMaskedLM built here, against a reference computed
one text at a time (no padding at all) with transformers."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from scipy.sparse import csr_array  # noqa: E402

from embedb.errors import ParamError  # noqa: E402
from embedb.model.sparse.splade import SpladeEmbeddingFunction  # noqa: E402
from test_model_local_fixtures import TEXTS, build_bert  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_bert(tmp_path_factory.mktemp("splade"), kind="masked-lm", seed=3)


def reference(folder, texts, max_length=64):
    from transformers import AutoTokenizer, BertForMaskedLM

    model = BertForMaskedLM.from_pretrained(str(folder)).eval()
    tok = AutoTokenizer.from_pretrained(str(folder))
    rows = []
    with torch.no_grad():
        for text in texts:
            enc = tok([text], truncation=True, max_length=max_length, return_tensors="pt")
            logits = model(**enc).logits[0].numpy()
            rows.append(np.log1p(np.maximum(logits, 0)).max(axis=0))
    return np.stack(rows).astype(np.float32)


def test_weights_match_reference_and_format(folder):
    ef = SpladeEmbeddingFunction(str(folder), batch_size=3)
    got = ef(TEXTS)
    assert isinstance(got, csr_array) and got.dtype == np.float32
    assert got.shape == (len(TEXTS), ef.dim) == (len(TEXTS), ef.model.config.vocab_size)
    np.testing.assert_allclose(got.toarray(), reference(folder, TEXTS), atol=1e-5)
    assert (got.data > 0).all()


def test_a_texts_vector_does_not_depend_on_its_batch_mates(folder):
    ef = SpladeEmbeddingFunction(str(folder), batch_size=8)
    short = "alan turing"
    alone = ef([short]).toarray()
    with_long = ef([short, " ".join(["machine learning"] * 20)]).toarray()[0]
    np.testing.assert_allclose(with_long, alone[0], atol=1e-6)
    # the flawed pooling (max over pad positions too) would differ here: make sure the test bites
    from transformers import AutoTokenizer, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = BertForMaskedLM.from_pretrained(str(folder)).eval()
    enc = tok([short, " ".join(["machine learning"] * 20)], padding=True, return_tensors="pt")
    with torch.no_grad():
        unmasked = torch.log1p(torch.relu(model(**enc).logits)).amax(dim=1)[0].numpy()
    assert not np.allclose(unmasked, alone[0], atol=1e-4)


def test_top_k_and_instructions(folder):
    ef = SpladeEmbeddingFunction(str(folder), k_tokens_query=5, k_tokens_document=7,
                                 query_instruction="query ", doc_instruction="document ")
    full = reference(folder, ["query what is the capital", "document paris is the capital"])
    q = ef.encode_queries(["what is the capital"]).toarray()[0]
    d = ef.encode_documents(["paris is the capital"]).toarray()[0]
    for got, ref, k in ((q, full[0], 5), (d, full[1], 7)):
        assert np.count_nonzero(got) == k
        top = np.argsort(-ref)[:k]
        np.testing.assert_allclose(got[top], ref[top], atol=1e-5)
    # __call__: no instruction, no top-k
    assert ef(["what is the capital"]).nnz > 5


def test_empty_and_bad_input(folder):
    ef = SpladeEmbeddingFunction(str(folder), local_files_only=True)
    empty = ef.encode_documents([])
    assert empty.shape == (0, ef.dim)
    with pytest.raises(ParamError, match="single string"):
        ef.encode_queries("text")
    with pytest.raises(ParamError, match="k_tokens_query"):
        SpladeEmbeddingFunction(str(folder), k_tokens_query=0)


def test_missing_model_is_named_without_download(tmp_path):
    with pytest.raises(ParamError, match="embedb downloads nothing"):
        SpladeEmbeddingFunction("no-such-org/no-such-splade-model")
