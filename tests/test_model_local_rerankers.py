"""CrossEncoderRerankFunction and BGERerankFunction on a tiny BertForSequenceClassification
built here, against scores computed pair by pair with transformers."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from embedb.errors import ParamError  # noqa: E402
from embedb.model.base import RerankResult  # noqa: E402
from embedb.model.reranker import BGERerankFunction, CrossEncoderRerankFunction  # noqa: E402
from test_model_local_fixtures import build_bert  # noqa: E402

QUERY = "where was alan turing born"
DOCS = [
    "alan turing was born in london",
    "the quick brown fox jumps over the lazy dog",
    "paris is the capital of france",
    "turing was raised in southern england",
    "chess program logic theory",
    "",
    "machine learning " * 40,  # longer than the tiny model's 64 positions
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_bert(tmp_path_factory.mktemp("reranker"), kind="sequence-classification",
                      seed=21, num_labels=1)


def pair_logits(folder, query, docs, max_length=64):
    from transformers import AutoTokenizer, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = BertForSequenceClassification.from_pretrained(str(folder)).eval()
    out = []
    with torch.no_grad():
        for doc in docs:
            # a batch of one: a single call would drop an empty passage instead of encoding it
            enc = tok([query], [doc], truncation="only_second", max_length=max_length,
                      return_tensors="pt")
            out.append(float(model(**enc).logits[0, 0]))
    return np.array(out)


def check_ranking(results, docs, expected_scores, top_k):
    order = sorted(range(len(docs)), key=lambda i: (-expected_scores[i], i))[: top_k or None]
    assert all(isinstance(r, RerankResult) for r in results)
    assert [r.index for r in results] == order
    assert [r.text for r in results] == [docs[i] for i in order]
    np.testing.assert_allclose([r.score for r in results], expected_scores[order], atol=1e-5)


@pytest.mark.parametrize("top_k", [5, 1, None, 0])
def test_bge_reranker_scores_and_order(folder, top_k):
    rf = BGERerankFunction(str(folder), batch_size=3, device="cpu", max_length=64, query_max_length=16)
    logits = pair_logits(folder, QUERY, DOCS)
    check_ranking(rf(QUERY, DOCS, top_k=top_k), DOCS, 1 / (1 + np.exp(-logits)), top_k)
    raw = BGERerankFunction(str(folder), normalize=False, max_length=64, query_max_length=16,
                            devices=["cpu"])
    check_ranking(raw(QUERY, DOCS, top_k=top_k), DOCS, logits, top_k)


def test_bge_reranker_truncates_long_queries(folder):
    rf = BGERerankFunction(str(folder), max_length=64, query_max_length=4)
    long_query = "alan turing was born in london and raised in england"
    expected = pair_logits(folder, "alan turing was born", DOCS[:3])
    np.testing.assert_allclose(rf.compute_scores(long_query, DOCS[:3]), 1 / (1 + np.exp(-expected)),
                               atol=1e-5)
    with pytest.raises(ParamError, match="query_max_length"):
        BGERerankFunction(str(folder), max_length=64, query_max_length=62)


@pytest.mark.parametrize("top_k", [3, None])
def test_cross_encoder_scores_and_order(folder, top_k):
    rf = CrossEncoderRerankFunction(str(folder), device="cpu", batch_size=2, max_length=64)
    logits = pair_logits(folder, QUERY, DOCS)
    check_ranking(rf(QUERY, DOCS, top_k=top_k), DOCS, 1 / (1 + np.exp(-logits)), top_k)
    identity = CrossEncoderRerankFunction(str(folder), max_length=64,
                                          activation_fct=torch.nn.Identity())
    check_ranking(identity(QUERY, DOCS, top_k=top_k), DOCS, logits, top_k)


def test_reranker_input_errors(folder):
    rf = BGERerankFunction(str(folder), max_length=64, query_max_length=16)
    assert rf(QUERY, []) == []
    with pytest.raises(ParamError, match="query must be a str"):
        rf(["q"], DOCS)
    with pytest.raises(ParamError, match=r"documents\[1\] must be a str"):
        rf(QUERY, ["ok", None])
    with pytest.raises(ParamError, match="top_k"):
        rf(QUERY, DOCS, top_k=-1)
    with pytest.raises(ParamError, match="model_name is required"):
        CrossEncoderRerankFunction()
    with pytest.raises(ParamError, match="embedb downloads nothing"):
        BGERerankFunction("BAAI/not-cached-reranker")
    with pytest.raises(ParamError, match="embedb downloads nothing"):
        CrossEncoderRerankFunction("cross-encoder/not-cached-model")
