"""BGE-M3 and mGTE heads on tiny models saved in the layouts those models ship, against
references computed here one text at a time with transformers and plain Python loops."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from scipy.sparse import csr_array  # noqa: E402

from embedb.errors import ParamError  # noqa: E402
from embedb.model.hybrid import BGEM3EmbeddingFunction, MGTEEmbeddingFunction  # noqa: E402
from test_model_local_fixtures import TEXTS, build_bert, build_xlm_roberta  # noqa: E402

# structural tokens carry no lexical weight (BERT: [CLS] [SEP] [PAD] [UNK]; XLM-R: <s> </s> <pad> <unk>)
SKIP = ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "<s>", "</s>", "<pad>", "<unk>")


def add_m3_heads(folder):
    torch.manual_seed(7)
    torch.save(torch.nn.Linear(32, 1).state_dict(), folder / "sparse_linear.pt")
    torch.save(torch.nn.Linear(32, 24).state_dict(), folder / "colbert_linear.pt")
    return folder


@pytest.fixture(scope="module", params=["bert", "xlm-roberta"])
def m3_folder(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bge_m3")
    if request.param == "bert":
        return add_m3_heads(build_bert(folder, kind="model", seed=5))
    return add_m3_heads(build_xlm_roberta(folder, seed=5))


def m3_reference(folder, texts, max_length=64):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    sp = torch.load(folder / "sparse_linear.pt")
    cb = torch.load(folder / "colbert_linear.pt")
    sp_w, sp_b = sp["weight"].numpy(), sp["bias"].numpy()
    cb_w, cb_b = cb["weight"].numpy(), cb["bias"].numpy()
    vocab = tok.get_vocab()
    skip = {vocab[t] for t in SKIP if t in vocab}
    dense, lexical, colbert = [], [], []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, truncation=True, max_length=max_length, return_tensors="pt")
            h = model(**enc).last_hidden_state[0].numpy()
            ids = enc["input_ids"][0].tolist()
            dense.append(h[0] / np.linalg.norm(h[0]))
            weights = np.maximum(h @ sp_w.T + sp_b, 0)[:, 0]
            lex = {}
            for tid, w in zip(ids, weights):
                if tid not in skip and w > 0 and w > lex.get(tid, 0):
                    lex[tid] = float(w)
            lexical.append(lex)
            c = h[1:] @ cb_w.T + cb_b
            colbert.append(c / np.linalg.norm(c, axis=1, keepdims=True))
    return dense, lexical, colbert


def test_bge_m3_three_heads_match_reference(m3_folder):
    ef = BGEM3EmbeddingFunction(str(m3_folder), batch_size=3, device="cpu", return_colbert_vecs=True)
    assert ef.dim == {"dense": 32, "sparse": len(ef.tokenizer), "colbert_vecs": 24}
    out = ef.encode_documents(TEXTS)
    dense, lexical, colbert = m3_reference(m3_folder, TEXTS)
    assert set(out) == {"dense", "sparse", "colbert_vecs"}
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in out["dense"])
    np.testing.assert_allclose(np.stack(out["dense"]), np.stack(dense), atol=2e-5)
    sparse = out["sparse"]
    assert isinstance(sparse, csr_array) and sparse.dtype == np.float32
    assert sparse.shape == (len(TEXTS), len(ef.tokenizer))
    for i, lex in enumerate(lexical):
        row = sparse[[i]]
        got = dict(zip(row.indices.tolist(), row.data.tolist()))
        assert got.keys() == lex.keys()
        np.testing.assert_allclose([got[k] for k in lex], list(lex.values()), atol=2e-5)
    for got, ref in zip(out["colbert_vecs"], colbert):
        assert got.dtype == np.float32 and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=2e-5)


def test_bge_m3_options_and_queries(m3_folder):
    dense_only = BGEM3EmbeddingFunction(str(m3_folder), return_sparse=False, devices=["cpu"])
    out = dense_only.encode_queries(["alan turing"])
    assert set(out) == {"dense"}
    full = BGEM3EmbeddingFunction(str(m3_folder), local_files_only=True)  # accepted, not doubled
    assert set(full(["alan turing"])) == {"dense", "sparse"}
    np.testing.assert_allclose(out["dense"][0], full(["alan turing"])["dense"][0], atol=1e-6)
    empty = full.encode_documents([])
    assert empty["dense"] == [] and empty["sparse"].shape == (0, len(full.tokenizer))
    with pytest.raises(ParamError, match="at least one"):
        BGEM3EmbeddingFunction(str(m3_folder), return_dense=False, return_sparse=False)


def test_bge_m3_missing_head_file_is_named(tmp_path):
    folder = build_bert(tmp_path / "m")
    with pytest.raises(ParamError, match="sparse_linear.pt is missing"):
        BGEM3EmbeddingFunction(str(folder))
    with pytest.raises(ParamError, match="embedb downloads nothing"):
        BGEM3EmbeddingFunction("BAAI/not-in-the-cache-m3")


@pytest.fixture(scope="module")
def mgte_folder(tmp_path_factory):
    return build_bert(tmp_path_factory.mktemp("mgte"), kind="token-classification", seed=11,
                      num_labels=1)


def mgte_reference(folder, texts, dimensions=None):
    from transformers import AutoTokenizer, BertForTokenClassification

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = BertForTokenClassification.from_pretrained(str(folder)).eval()
    skip = set(tok.all_special_ids)
    dense, lexical = [], []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, truncation=True, max_length=64, return_tensors="pt")
            out = model(**enc, output_hidden_states=True)
            cls = out.hidden_states[-1][0, 0].numpy()[:dimensions]
            dense.append(cls / np.linalg.norm(cls))
            lex = {}
            for tid, w in zip(enc["input_ids"][0].tolist(), torch.relu(out.logits[0, :, 0]).tolist()):
                if tid not in skip and w > 0 and w > lex.get(tid, 0):
                    lex[tid] = w
            lexical.append(lex)
    return dense, lexical


@pytest.mark.parametrize("dimensions", [None, 16])
def test_mgte_dense_and_sparse_match_reference(mgte_folder, dimensions):
    ef = MGTEEmbeddingFunction(str(mgte_folder), batch_size=2, device="cpu", dimensions=dimensions)
    assert ef.dim == {"dense": dimensions or 32, "sparse": len(ef.tokenizer)}
    out = ef(TEXTS)
    dense, lexical = mgte_reference(mgte_folder, TEXTS, dimensions)
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in out["dense"])
    np.testing.assert_allclose(np.stack(out["dense"]), np.stack(dense), atol=2e-5)
    for i, lex in enumerate(lexical):
        row = out["sparse"][[i]]
        got = dict(zip(row.indices.tolist(), row.data.tolist()))
        assert got.keys() == lex.keys()
        np.testing.assert_allclose([got[k] for k in lex], list(lex.values()), atol=2e-5)


def test_mgte_sparse_only_works(mgte_folder):
    # pymilvus crashes here (torch.cat of an empty list)
    ef = MGTEEmbeddingFunction(str(mgte_folder), return_dense=False)
    out = ef.encode_queries(["paris", "the capital of france"])
    assert set(out) == {"sparse"} and out["sparse"].shape[0] == 2
    with pytest.raises(ParamError, match="dimensions"):
        MGTEEmbeddingFunction(str(mgte_folder), dimensions=64)
