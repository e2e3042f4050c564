"""FunctionType.TEXTEMBEDDING with local models built by the test (a tiny BERT
sentence-transformers folder): insert text only, search by text, hybrid with BM25 on the same
text, reopen, a different model behind the same function refused, and the schema limits.
Each vector is compared with the one embedb.model computes directly (the reference)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from embedb import (AnnSearchRequest, DataType, DBSFRanker, Function, FunctionType,  # noqa: E402
                    MilvusClient, RRFRanker)
from embedb.errors import MilvusException  # noqa: E402
from embedb.functions import embedding  # noqa: E402
from embedb.model.dense import MiniLMEmbeddingFunction  # noqa: E402

from test_model_local_fixtures import build_bert, make_sentence_transformer_folder  # noqa: E402

TEXTS = ["alan turing was born in london", "paris is the capital of france",
         "the quick brown fox jumps over the lazy dog", "machine learning model for search",
         "chess program logic theory", "the cat sat on the mat"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_st")
    return make_sentence_transformer_folder(build_bert(folder, seed=1))


@pytest.fixture(scope="module")
def reference(model_dir):
    return MiniLMEmbeddingFunction(model_dir, runtime="numpy")


def forget_models():
    """What a new process sees: no loaded model, no identity checked."""
    embedding._models.clear()
    embedding._identities.clear()


def make_schema(model_dir, dim=32, **params):
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=500, enable_analyzer=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function("embed", FunctionType.TEXTEMBEDDING, ["text"], ["dense"],
                                 params={"provider": "local", "model_name": str(model_dir),
                                         **params}))
    schema.add_function(Function("bm25", FunctionType.BM25, ["text"], ["sparse"]))
    return schema


def create(client, model_dir, name="docs"):
    idx = client.prepare_index_params()
    idx.add_index("dense", index_type="FLAT", metric_type="COSINE")
    idx.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=make_schema(model_dir), index_params=idx)


@pytest.fixture
def client(tmp_path, model_dir):
    forget_models()
    c = MilvusClient(str(tmp_path / "te.db"))
    create(c, model_dir)
    c.insert("docs", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    yield c
    c.close()


def stored(client, ids):
    rows = client.query("docs", filter=f"id in {list(ids)}", output_fields=["dense"])
    by_id = {r["id"]: np.asarray(r["dense"], np.float32) for r in rows}
    return np.stack([by_id[i] for i in ids])


def test_insert_text_only_stores_the_models_document_vectors(client, reference):
    np.testing.assert_allclose(stored(client, range(len(TEXTS))),
                               np.stack(reference.encode_documents(TEXTS)), atol=1e-5)


def test_search_with_text_equals_search_with_the_query_vector(client, reference):
    queries = ["where was turing born", "capital of france"]
    by_text = client.search("docs", queries, anns_field="dense", limit=3)
    by_vec = client.search("docs", reference.encode_queries(queries), anns_field="dense", limit=3)
    for a, b in zip(by_text, by_vec):
        assert [h["id"] for h in a] == [h["id"] for h in b]
        np.testing.assert_allclose([h["distance"] for h in a], [h["distance"] for h in b],
                                   rtol=1e-5)


@pytest.mark.parametrize("ranker", [RRFRanker(60), DBSFRanker()])
def test_hybrid_takes_the_same_text_for_both_fields(client, reference, ranker):
    q = "the fox and the dog"
    text_reqs = [AnnSearchRequest([q], "dense", {}, 4), AnnSearchRequest([q], "sparse", {}, 4)]
    vec_reqs = [AnnSearchRequest(reference.encode_queries([q]), "dense", {}, 4),
                AnnSearchRequest([q], "sparse", {}, 4)]
    a = client.hybrid_search("docs", text_reqs, ranker, limit=4)[0]
    b = client.hybrid_search("docs", vec_reqs, ranker, limit=4)[0]
    assert [h["id"] for h in a] == [h["id"] for h in b] and a[0]["id"] == 2


def test_upsert_and_partial_update_embed_the_new_text(client, reference):
    client.upsert("docs", [{"id": 0, "text": "music play game"}])
    np.testing.assert_allclose(stored(client, [0]), np.stack(reference.encode_documents(
        ["music play game"])), atol=1e-5)
    client.upsert("docs", [{"id": 1, "text": "river city"}], partial_update=True)
    np.testing.assert_allclose(stored(client, [1]), np.stack(reference.encode_documents(
        ["river city"])), atol=1e-5)


def test_writing_the_output_or_a_null_text_is_an_error(client):
    before = client.get_collection_stats("docs")["row_count"]
    with pytest.raises(MilvusException, match="output of TEXTEMBEDDING function 'embed'"):
        client.insert("docs", [{"id": 50, "text": "a", "dense": [0.0] * 32}])
    with pytest.raises(MilvusException, match="cannot be null"):
        client.insert("docs", [{"id": 51, "text": "ok"}, {"id": 52, "text": None}])
    with pytest.raises(MilvusException, match="cannot be null"):
        client.insert("docs", [{"id": 53}])
    assert client.get_collection_stats("docs")["row_count"] == before


def test_reopen_and_a_different_model_is_refused(tmp_path, model_dir, reference):
    forget_models()
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    path = str(tmp_path / "reopen.db")
    with MilvusClient(path) as c:
        create(c, folder)
        c.insert("docs", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    forget_models()
    with MilvusClient(path) as c:   # the same model: text search works after reopening
        c.load_collection("docs")
        hits = c.search("docs", ["turing london"], anns_field="dense", limit=1)[0]
        assert hits[0]["id"] == 0
        ident = c.describe_collection("docs")   # describe works without the model
        assert ident["functions"][0]["params"]["model_name"] == str(folder)
    build_bert(folder, seed=7)   # other weights behind the same folder name
    forget_models()
    with MilvusClient(path) as c:
        c.load_collection("docs")
        with pytest.raises(MilvusException, match="refusing to mix two vector spaces"):
            c.search("docs", ["turing london"], anns_field="dense", limit=1)
        with pytest.raises(MilvusException, match="refusing to mix"):
            c.insert("docs", [{"id": 99, "text": "new"}])
        # vectors given by hand still search: the stored space is untouched
        assert c.search("docs", reference.encode_queries(["turing london"]), anns_field="dense",
                        limit=1)[0][0]["id"] == 0


def test_a_model_is_loaded_once_per_process(tmp_path, model_dir):
    forget_models()
    with MilvusClient(str(tmp_path / "a.db")) as a, MilvusClient(str(tmp_path / "b.db")) as b:
        create(a, model_dir, "one")
        create(b, model_dir, "two")
        assert len(embedding._models) == 1


@pytest.mark.parametrize("change, match", [
    (lambda s: s.field("text").__setattr__("nullable", True), "cannot be nullable"),
    (lambda s: s.functions[0].__setattr__("output_field_names", ["sparse"]),
     "FLOAT_VECTOR or INT8_VECTOR"),
    (lambda s: s.functions[0].__setattr__("input_field_names", ["id"]), "VARCHAR"),
    (lambda s: s.functions[0].params.__setitem__("provider", "nope"), "unknown provider"),
    (lambda s: s.functions[0].params.__setitem__("model_name", "/no/such/folder"),
     "not a local folder"),
    (lambda s: s.functions[0].params.pop("provider"), "needs params\\['provider'\\]"),
])
def test_schema_limits(tmp_path, model_dir, change, match):
    schema = make_schema(model_dir)
    change(schema)
    with MilvusClient(str(tmp_path / "bad.db")) as c:
        with pytest.raises(MilvusException, match=match):
            c.create_collection("bad", schema=schema)
        assert not c.has_collection("bad")


def test_dimension_mismatch_refused_at_create(tmp_path, model_dir):
    with MilvusClient(str(tmp_path / "dim.db")) as c:
        with pytest.raises(MilvusException, match="makes 32-d vectors but output field 'dense' "
                                                  "has dim 16"):
            c.create_collection("bad", schema=make_schema(model_dir, dim=16))
        assert not c.has_collection("bad")


def test_pymilvus_through_embedb_serve_inserts_and_searches_text(model_dir, reference):
    """A pymilvus client (no model on its side) sends text; the server's client embeds it."""
    pymilvus = pytest.importorskip("pymilvus")
    import embedb

    forget_models()
    with embedb.serve_in_thread(":memory:") as uri:
        c = pymilvus.MilvusClient(uri=uri)
        schema = c.create_schema()
        schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
        schema.add_field("text", pymilvus.DataType.VARCHAR, max_length=500, enable_analyzer=True)
        schema.add_field("dense", pymilvus.DataType.FLOAT_VECTOR, dim=32)
        schema.add_field("sparse", pymilvus.DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(pymilvus.Function(
            "embed", pymilvus.FunctionType.TEXTEMBEDDING, ["text"], ["dense"],
            params={"provider": "local", "model_name": str(model_dir)}))
        schema.add_function(pymilvus.Function("bm25", pymilvus.FunctionType.BM25, ["text"],
                                              ["sparse"]))
        idx = c.prepare_index_params()
        idx.add_index("dense", index_type="FLAT", metric_type="COSINE")
        idx.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        c.create_collection("docs", schema=schema, index_params=idx)
        assert c.insert("docs", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])["insert_count"] == 6
        got = c.search("docs", ["where was turing born"], anns_field="dense", limit=3)[0]
        want = [float(x) for x in reference.encode_queries(["where was turing born"])[0]]
        direct = c.search("docs", [want], anns_field="dense", limit=3)[0]
        assert [h["id"] for h in got] == [h["id"] for h in direct]
        q = "the fox and the dog"
        fused = c.hybrid_search("docs", [pymilvus.AnnSearchRequest([q], "dense", {}, 4),
                                         pymilvus.AnnSearchRequest([q], "sparse", {}, 4)],
                                pymilvus.RRFRanker(), limit=2)[0]
        assert fused[0]["id"] == 2
        c.close()


def test_int8_output_needs_a_provider_with_int8_vectors(tmp_path, model_dir):
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=500)
    schema.add_field("dense", DataType.INT8_VECTOR, dim=32)
    schema.add_function(Function("embed", FunctionType.TEXTEMBEDDING, ["text"], ["dense"],
                                 params={"provider": "local", "model_name": str(model_dir)}))
    with MilvusClient(str(tmp_path / "i8.db")) as c:
        with pytest.raises(MilvusException, match="INT8_VECTOR but the model returned floats"):
            c.create_collection("bad", schema=schema)
        assert not c.has_collection("bad")


def test_http_provider_with_a_credential_from_the_credentials_file(tmp_path, monkeypatch):
    """provider openai against a loopback server that speaks OpenAI's API: the key comes from
    the credentials file named by params['credential'] and never reaches the database files."""
    import http_fakes as fakes

    forget_models()
    creds = tmp_path / "credentials.json"
    creds.write_text('{"my_openai": {"apikey": "sk-secret-test"}}')
    monkeypatch.setenv("EMBEDB_CREDENTIALS", str(creds))
    with fakes.FakeServer(fakes.openai_routes(key="sk-secret-test")) as server:
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("text", DataType.VARCHAR, max_length=500)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=16)
        schema.add_function(Function("embed", FunctionType.TEXTEMBEDDING, ["text"], ["dense"], params={
            "provider": "openai", "model_name": "text-embedding-3-small", "dim": 16,
            "url": server.url + "/v1", "credential": "my_openai"}))
        path = tmp_path / "http.db"
        with MilvusClient(str(path)) as c:
            idx = c.prepare_index_params()
            idx.add_index("dense", index_type="FLAT", metric_type="IP")
            c.create_collection("docs", schema=schema, index_params=idx)
            c.insert("docs", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
            got = stored(c, range(len(TEXTS)))
            np.testing.assert_allclose(got, np.stack([fakes.fake_vector(t, 16) for t in TEXTS]),
                                       rtol=1e-6)
            hits = c.search("docs", [TEXTS[3]], anns_field="dense", limit=1)[0]
            assert hits[0]["id"] == 3   # the query went through the same model
        assert all(r.headers["authorization"] == "Bearer sk-secret-test" for r in server.requests)
    for f in path.rglob("*"):
        if f.is_file():
            assert b"sk-secret-test" not in f.read_bytes(), f


@pytest.mark.parametrize("provider", ["sentence-transformers", "onnx"])
def test_other_local_providers(tmp_path, model_dir, reference, provider):
    pytest.importorskip("sentence_transformers" if provider != "onnx" else "onnxruntime")
    forget_models()
    schema = make_schema(model_dir)
    schema.functions[0].params["provider"] = provider
    with MilvusClient(str(tmp_path / "p.db")) as c:
        idx = c.prepare_index_params()
        idx.add_index("dense", index_type="FLAT", metric_type="COSINE")
        idx.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        c.create_collection("docs", schema=schema, index_params=idx)
        c.insert("docs", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
        np.testing.assert_allclose(stored(c, range(len(TEXTS))),
                                   np.stack(reference.encode_documents(TEXTS)), atol=2e-4)


def test_local_provider_runs_a_model2vec_folder(tmp_path):
    model2vec = pytest.importorskip("model2vec")
    from tokenizers import Tokenizer

    from embedb.model.dense import Model2VecEmbeddingFunction
    from test_model_local_fixtures import write_tokenizer

    forget_models()
    write_tokenizer(tmp_path / "tok")
    tokenizer = Tokenizer.from_file(str(tmp_path / "tok" / "tokenizer.json"))
    vectors = np.random.default_rng(2).normal(size=(tokenizer.get_vocab_size(), 16)).astype(np.float32)
    folder = tmp_path / "m2v"
    model2vec.StaticModel(vectors, tokenizer, normalize=True).save_pretrained(str(folder))
    schema = make_schema(folder, dim=16)
    with MilvusClient(str(tmp_path / "m2v.db")) as c:
        idx = c.prepare_index_params()
        idx.add_index("dense", index_type="FLAT", metric_type="COSINE")
        idx.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        c.create_collection("docs", schema=schema, index_params=idx)
        c.insert("docs", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
        ref = Model2VecEmbeddingFunction(str(folder))
        np.testing.assert_allclose(stored(c, range(len(TEXTS))),
                                   np.stack(ref.encode_documents(TEXTS)), atol=1e-5)
