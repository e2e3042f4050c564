"""Every hosted dense provider against a loopback server speaking its API: request shape (auth,
model, input type, batching), response parsing, errors and retries. Behaviour shared by all eight
is tested once per provider through the table below; provider quirks get their own tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import pytest

import http_fakes as fakes
from embedb.errors import ParamError
from embedb.model._http import ProviderAuthError, ProviderResponseError
from embedb.model.dense import (
    CohereEmbeddingFunction,
    GeminiEmbeddingFunction,
    JinaEmbeddingFunction,
    MistralAIEmbeddingFunction,
    NomicEmbeddingFunction,
    OpenAIEmbeddingFunction,
    TEIEmbeddingFunction,
    VoyageEmbeddingFunction,
)

FAST = {"backoff": 0.001, "timeout": 5}


@dataclass
class Spec:
    name: str
    provider: str  # as it appears in error messages
    routes: Callable[..., list]
    key: Optional[str]
    env: List[str]
    make: Callable[..., Any]  # (url, api_key, **kwargs) -> embedding function
    dim: int
    tags: Dict[str, str]  # "query" / "document" / "call" -> the tag the fake embeds under
    inputs: Callable[[dict], List[str]] = field(default=lambda body: body["input"])
    tag_of: Callable[[dict], List[str]] = field(default=lambda body: [])


def gemini_inputs(body):
    return ["".join(p["text"] for p in r["content"]["parts"]) for r in body["requests"]]


SPECS = [
    Spec("openai", "OpenAI", fakes.openai_routes, "sk-test", ["OPENAI_API_KEY"],
         lambda url, key, **kw: OpenAIEmbeddingFunction("text-embedding-3-small", key, url + "/v1", **kw),
         1536, {"query": "", "document": "", "call": ""}),
    Spec("jina", "Jina AI", fakes.jina_routes, "jina_test", ["JINAAI_API_KEY", "JINA_API_KEY"],
         lambda url, key, **kw: JinaEmbeddingFunction("jina-embeddings-v3", key, base_url=url + "/v1", **kw),
         1024, {"query": "retrieval.query", "document": "retrieval.passage", "call": "retrieval.passage"},
         tag_of=lambda body: [body["task"]] * len(body["input"])),
    Spec("voyage", "Voyage AI", fakes.voyage_routes, "pa-test", ["VOYAGE_API_KEY"],
         lambda url, key, **kw: VoyageEmbeddingFunction("voyage-3", key, base_url=url + "/v1", **kw),
         1024, {"query": "query", "document": "document", "call": "document"},
         tag_of=lambda body: [body["input_type"]] * len(body["input"])),
    Spec("cohere", "Cohere", fakes.cohere_routes, "co-test", ["CO_API_KEY", "COHERE_API_KEY"],
         lambda url, key, **kw: CohereEmbeddingFunction("embed-english-light-v3.0", key, base_url=url, **kw),
         384, {"query": "search_query", "document": "search_document", "call": "search_document"},
         inputs=lambda body: body["texts"], tag_of=lambda body: [body["input_type"]] * len(body["texts"])),
    Spec("mistral", "Mistral AI", fakes.mistral_routes, "mistral-test", ["MISTRAL_API_KEY", "MISTRALAI_API_KEY"],
         lambda url, key, **kw: MistralAIEmbeddingFunction(key, "mistral-embed", base_url=url + "/v1", **kw),
         1024, {"query": "", "document": "", "call": ""}),
    Spec("nomic", "Nomic", fakes.nomic_routes, "nk-test", ["NOMIC_API_KEY"],
         lambda url, key, **kw: NomicEmbeddingFunction("nomic-embed-text-v1.5", api_key=key, base_url=url, **kw),
         768, {"query": "search_query", "document": "search_document", "call": "search_document"},
         inputs=lambda body: body["texts"], tag_of=lambda body: [body["task_type"]] * len(body["texts"])),
    Spec("gemini", "Gemini", fakes.gemini_routes, "AIza-test", ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
         lambda url, key, **kw: GeminiEmbeddingFunction("text-embedding-004", key, base_url=url + "/v1beta", **kw),
         768, {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT", "call": "RETRIEVAL_DOCUMENT"},
         inputs=gemini_inputs, tag_of=lambda body: [r["taskType"] for r in body["requests"]]),
    Spec("tei", "TEI", lambda key=None: fakes.tei_routes(dim=384, key=key, max_batch=128), None, [],
         lambda url, key, **kw: TEIEmbeddingFunction(url, **({"api_key": key} if key else {}), **kw),
         384, {"query": "", "document": "", "call": ""}, inputs=lambda body: body["inputs"]),
]
KEYED = [s for s in SPECS if s.key is not None]


def ids(specs):
    return [s.name for s in specs]


@pytest.fixture(autouse=True)
def no_provider_keys_in_env(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # loopback fakes never go through a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for spec in SPECS:
        for name in spec.env:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("TEI_API_KEY", raising=False)


def serve(spec: Spec) -> fakes.FakeServer:
    return fakes.FakeServer(spec.routes() if spec.key is None else spec.routes(key=spec.key))


def expected(spec: Spec, texts, kind):
    normalize = spec.name == "tei"
    return [fakes.fake_vector(t, spec.dim, spec.tags[kind], normalize=normalize) for t in texts]


@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
@pytest.mark.parametrize("kind", ["query", "document", "call"])
def test_embeds_in_order_with_the_right_convention(spec, kind):
    texts = ["What is a vector database?", "Milvus stores vectors.", "", "ünïcødé ✓"]
    with serve(spec) as server:
        ef = spec.make(server.url, spec.key, **FAST)
        encode = {"query": ef.encode_queries, "document": ef.encode_documents, "call": ef}[kind]
        vectors = encode(texts)
    assert len(vectors) == len(texts)
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 and v.shape == (spec.dim,) for v in vectors)
    for got, want in zip(vectors, expected(spec, texts, kind)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    (request,) = server.requests
    assert spec.inputs(request.body) == texts
    if spec.tags[kind]:
        assert spec.tag_of(request.body) == [spec.tags[kind]] * len(texts)
    assert isinstance(ef.dim, int) and ef.dim == spec.dim


@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_batches_keep_order(spec):
    texts = [f"text number {i}" for i in range(300)]
    size = {"cohere": 96, "gemini": 100}.get(spec.name, 128)  # the APIs' own per-request limits
    with serve(spec) as server:
        vectors = spec.make(server.url, spec.key, batch_size=size, **FAST).encode_documents(texts)
    sizes = {96: [96, 96, 96, 12], 100: [100, 100, 100], 128: [128, 128, 44]}[size]
    assert [len(spec.inputs(r.body)) for r in server.requests] == sizes
    assert sum((spec.inputs(r.body) for r in server.requests), []) == texts
    for got, want in zip(vectors, expected(spec, texts, "document")):
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_empty_input_sends_nothing(spec):
    with serve(spec) as server:
        assert spec.make(server.url, spec.key, **FAST).encode_queries([]) == []
    assert server.requests == []


@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_a_bare_string_is_refused(spec):
    with serve(spec) as server:
        with pytest.raises(ParamError, match="queries must be a list of strings"):
            spec.make(server.url, spec.key, **FAST).encode_queries("one query")
    assert server.requests == []


@pytest.mark.parametrize("spec", KEYED, ids=ids(KEYED))
def test_auth_header_carries_the_key_and_a_wrong_key_is_rejected(spec):
    with serve(spec) as server:
        with pytest.raises(ProviderAuthError) as info:
            spec.make(server.url, "wrong-key", **FAST).encode_documents(["hello"])
    assert f"API key rejected by {spec.provider}" in str(info.value)
    assert len(server.requests) == 1  # an auth failure is never retried


@pytest.mark.parametrize("spec", KEYED, ids=ids(KEYED))
def test_missing_key_fails_at_construction_naming_the_env_var(spec):
    with pytest.raises(ParamError) as info:
        spec.make("http://127.0.0.1:9", None)
    message = str(info.value)
    assert f"no API key for {spec.provider}" in message and "api_key=" in message
    for name in spec.env:
        assert name in message


@pytest.mark.parametrize("spec", KEYED, ids=ids(KEYED))
def test_key_is_read_from_each_documented_env_var(spec, monkeypatch):
    for name in spec.env:
        for other in spec.env:
            monkeypatch.delenv(other, raising=False)
        monkeypatch.setenv(name, spec.key)
        with serve(spec) as server:
            assert len(spec.make(server.url, None, **FAST).encode_queries(["q"])) == 1


@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_429_then_success(spec):
    with serve(spec) as server:
        server.fail_next(429, {"message": "Too many requests"}, headers={"Retry-After": "0"}, times=2)
        vectors = spec.make(server.url, spec.key, max_retries=2, **FAST).encode_documents(["a", "b"])
    assert len(vectors) == 2 and len(server.requests) == 3


@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_500_every_time_gives_up(spec):
    with serve(spec) as server:
        server.fail_next(500, {"error": {"message": "internal failure"}}, times=10)
        with pytest.raises(ProviderResponseError) as info:
            spec.make(server.url, spec.key, max_retries=2, **FAST).encode_documents(["a"])
    assert len(server.requests) == 3
    assert f"{spec.provider} returned HTTP 500: internal failure (gave up after 3 attempts)" in str(info.value)


@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_unknown_keyword_is_refused(spec):
    with pytest.raises(ParamError, match="unexpected keyword argument.*frobnicate"):
        spec.make("http://127.0.0.1:9", spec.key or "k", frobnicate=1)


# --- provider quirks ------------------------------------------------------------------------


def test_openai_dimensions_are_sent_and_set_dim():
    with fakes.FakeServer(fakes.openai_routes()) as server:
        ef = OpenAIEmbeddingFunction("text-embedding-3-large", "sk-test", server.url + "/v1", dimensions=256, **FAST)
        assert ef.dim == 256 and server.requests == []  # known without a request
        (vector,) = ef.encode_queries(["q"])
    assert vector.shape == (256,)
    assert server.requests[0].body == {"model": "text-embedding-3-large", "input": ["q"],
                                       "encoding_format": "float", "dimensions": 256}
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"


def test_openai_base_url_from_env_and_org_headers(monkeypatch):
    with fakes.FakeServer(fakes.openai_routes()) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1/")
        ef = OpenAIEmbeddingFunction(api_key="sk-test", organization="org-1", project="proj-1", **FAST)
        ef(["x"])
    headers = server.requests[0].headers
    assert headers["openai-organization"] == "org-1" and headers["openai-project"] == "proj-1"
    assert server.requests[0].body["model"] == "text-embedding-ada-002"


def test_openai_provider_error_message_is_quoted():
    with fakes.FakeServer(fakes.openai_routes()) as server:
        ef = OpenAIEmbeddingFunction("text-embedding-ada-002", "sk-test", server.url + "/v1", dimensions=8, **FAST)
        with pytest.raises(ProviderResponseError, match="OpenAI returned HTTP 400: This model does not support"):
            ef(["x"])


def test_jina_v2_models_get_no_task_and_call_uses_constructor_task():
    with fakes.FakeServer(fakes.jina_routes()) as server:
        JinaEmbeddingFunction("jina-embeddings-v2-base-en", "jina_test", base_url=server.url + "/v1",
                              **FAST).encode_queries(["q"])
        ef = JinaEmbeddingFunction("jina-embeddings-v3", "jina_test", task="text-matching", dimensions=64,
                                   late_chunking=True, base_url=server.url + "/v1", **FAST)
        (vector,) = ef(["t"])
    assert "task" not in server.requests[0].body
    body = server.requests[1].body
    assert body["task"] == "text-matching" and body["dimensions"] == 64 and body["late_chunking"] is True
    np.testing.assert_allclose(vector, fakes.fake_vector("t", 64, "text-matching"))


def test_voyage_dimension_rules_and_request_fields():
    with pytest.raises(ParamError, match="dimension 300 is not available for voyage-3-large"):
        VoyageEmbeddingFunction("voyage-3-large", "pa-test", dimension=300)
    with pytest.raises(ParamError, match="dimension 256 is not available for voyage-3 "):
        VoyageEmbeddingFunction("voyage-3", "pa-test", dimension=256)
    with pytest.raises(ParamError, match="embedding_type 'int8' is not supported"):
        VoyageEmbeddingFunction(embedding_type="int8", api_key="pa-test")
    with fakes.FakeServer(fakes.voyage_routes()) as server:
        ef = VoyageEmbeddingFunction("voyage-3-large", "pa-test", None, True, 2048,
                                     base_url=server.url + "/v1", **FAST)
        assert ef.dim == 2048
        (vector,) = ef.encode_queries(["q"])
    assert vector.shape == (2048,)
    assert server.requests[0].body == {"model": "voyage-3-large", "input": ["q"], "input_type": "query",
                                       "truncation": True, "output_dimension": 2048}


def test_cohere_default_batch_is_the_api_limit_of_96():
    texts = [f"t{i}" for i in range(200)]
    with fakes.FakeServer(fakes.cohere_routes()) as server:
        ef = CohereEmbeddingFunction(api_key="co-test", truncate="end", base_url=server.url, **FAST)
        vectors = ef.encode_documents(texts)
    assert [len(r.body["texts"]) for r in server.requests] == [96, 96, 8]
    assert server.requests[0].body["truncate"] == "END"
    np.testing.assert_allclose(vectors[150], fakes.fake_vector("t150", 384, "search_document"))


def test_batch_size_over_the_provider_limit_is_refused():
    with pytest.raises(ParamError, match="batch_size 128 exceeds Cohere's limit of 96 inputs per request"):
        CohereEmbeddingFunction(api_key="k", batch_size=128)
    with pytest.raises(ParamError, match="batch_size 101 exceeds Gemini's limit of 100"):
        GeminiEmbeddingFunction(api_key="k", batch_size=101)


def test_cohere_rejects_unsupported_options():
    with pytest.raises(ParamError, match="input_type must be one of"):
        CohereEmbeddingFunction(api_key="k", input_type="query")
    with pytest.raises(ParamError, match="embedding_types"):
        CohereEmbeddingFunction(api_key="k", embedding_types=["int8"])


def test_cohere_call_uses_constructor_input_type():
    with fakes.FakeServer(fakes.cohere_routes()) as server:
        CohereEmbeddingFunction(api_key="co-test", input_type="clustering", base_url=server.url, **FAST)(["x"])
    assert server.requests[0].body["input_type"] == "clustering"


def test_mistral_reads_its_env_key(monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-test")
    with fakes.FakeServer(fakes.mistral_routes()) as server:
        ef = MistralAIEmbeddingFunction(base_url=server.url + "/v1", **FAST)
        assert ef.dim == 1024
        ef.encode_queries(["q"])
    assert server.requests[0].headers["authorization"] == "Bearer mistral-test"
    assert server.requests[0].body == {"model": "mistral-embed", "input": ["q"]}


def test_nomic_queries_use_search_query_and_dimensionality_alias():
    with fakes.FakeServer(fakes.nomic_routes()) as server:
        ef = NomicEmbeddingFunction(api_key="nk-test", dimensionality=256, base_url=server.url, **FAST)
        assert ef.dim == 256
        (query,) = ef.encode_queries(["q"])
        (doc,) = ef.encode_documents(["q"])
    assert [r.body["task_type"] for r in server.requests] == ["search_query", "search_document"]
    assert server.requests[0].body["dimensionality"] == 256
    np.testing.assert_allclose(query, fakes.fake_vector("q", 256, "search_query"))
    assert not np.allclose(query, doc)


def test_nomic_v1_cannot_be_shortened():
    with pytest.raises(ParamError, match="only nomic-embed-text-v1.5 can be shortened"):
        NomicEmbeddingFunction("nomic-embed-text-v1", dimensions=256, api_key="k")


def test_gemini_key_header_config_and_model_prefix():
    with fakes.FakeServer(fakes.gemini_routes()) as server:
        ef = GeminiEmbeddingFunction("models/gemini-embedding-001", "AIza-test",
                                     config={"output_dimensionality": 128, "task_type": "semantic_similarity"},
                                     base_url=server.url + "/v1beta", **FAST)
        assert ef.dim == 128
        (vector,) = ef(["t"])
        ef.encode_queries(["q"])
    assert server.requests[0].path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert server.requests[0].headers["x-goog-api-key"] == "AIza-test"
    assert "authorization" not in server.requests[0].headers
    (request,) = server.requests[0].body["requests"]
    assert request == {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "t"}]},
                       "taskType": "SEMANTIC_SIMILARITY", "outputDimensionality": 128}
    np.testing.assert_allclose(vector, fakes.fake_vector("t", 128, "SEMANTIC_SIMILARITY"))
    assert server.requests[1].body["requests"][0]["taskType"] == "RETRIEVAL_QUERY"


def test_gemini_config_object_like_google_genai():
    class EmbedContentConfig:  # the attributes google.genai.types.EmbedContentConfig has
        output_dimensionality = 64
        task_type = "RETRIEVAL_DOCUMENT"

    ef = GeminiEmbeddingFunction(api_key="k", config=EmbedContentConfig())
    assert ef.dim == 64 and ef.task_type == "RETRIEVAL_DOCUMENT"


def test_gemini_default_batch_is_100():
    texts = [f"t{i}" for i in range(150)]
    with fakes.FakeServer(fakes.gemini_routes()) as server:
        GeminiEmbeddingFunction("text-embedding-004", "AIza-test", base_url=server.url + "/v1beta",
                                **FAST).encode_documents(texts)
    assert [len(r.body["requests"]) for r in server.requests] == [100, 50]


def test_tei_probes_dim_once_when_unknown():
    with fakes.FakeServer(fakes.tei_routes(dim=48)) as server:
        ef = TEIEmbeddingFunction(server.url, **FAST)
        assert ef.dim == 48 and ef.dim == 48
        assert len(server.requests) == 1
        assert TEIEmbeddingFunction(server.url, dimensions=48).dim == 48
        assert len(server.requests) == 1


def test_tei_prompt_names_and_api_key():
    with fakes.FakeServer(fakes.tei_routes(dim=16, key="tei-secret")) as server:
        ef = TEIEmbeddingFunction(server.url, api_key="tei-secret", query_prompt_name="query",
                                  document_prompt_name="passage", **FAST)
        (query,) = ef.encode_queries(["x"])
        (doc,) = ef.encode_documents(["x"])
        (plain,) = ef(["x"])
        with pytest.raises(ProviderAuthError, match="API key rejected by TEI"):
            TEIEmbeddingFunction(server.url, **FAST)(["x"])
    assert [r.body.get("prompt_name") for r in server.requests[:3]] == ["query", "passage", None]
    np.testing.assert_allclose(query, fakes.fake_vector("x", 16, "query", normalize=True))
    np.testing.assert_allclose(plain, fakes.fake_vector("x", 16, "", normalize=True))
    assert not np.allclose(query, doc)


def test_tei_batch_over_server_limit_is_a_clear_error():
    with fakes.FakeServer(fakes.tei_routes(dim=8, max_batch=4)) as server:
        with pytest.raises(ProviderResponseError, match="TEI returned HTTP 413: batch size 5 > maximum allowed batch size 4; lower batch_size"):
            TEIEmbeddingFunction(server.url, batch_size=5, **FAST)([str(i) for i in range(5)])
        assert len(TEIEmbeddingFunction(server.url, batch_size=4, **FAST)([str(i) for i in range(9)])) == 9


def test_malformed_success_response_is_a_clear_error():
    def wrong_shape(request, match):
        return 200, {"data": [{"index": 0, "vector": [1, 2]}]}, {}

    with fakes.FakeServer([(r"/v1/embeddings", wrong_shape)]) as server:
        ef = OpenAIEmbeddingFunction("text-embedding-3-small", "sk", server.url + "/v1", **FAST)
        with pytest.raises(ProviderResponseError, match="unexpected response from OpenAI: 'data' items lack an 'embedding'"):
            ef(["x"])


def test_bad_base_url_is_refused():
    with pytest.raises(ParamError, match="base_url must be an http:// or https:// URL"):
        OpenAIEmbeddingFunction(api_key="sk", base_url="api.openai.com")
    with pytest.raises(ParamError, match="api_url must be an http"):
        TEIEmbeddingFunction("localhost:8080")


def test_vector_size_other_than_dim_is_a_clear_error():
    def ignores_dimensions(request, match):  # an OpenAI-compatible server that ignores "dimensions"
        data = [{"object": "embedding", "index": i, "embedding": [0.5, 0.5, 0.5]} for i, _ in enumerate(request.body["input"])]
        return 200, {"object": "list", "data": data, "model": request.body["model"]}, {}

    with fakes.FakeServer([(r"/v1/embeddings", ignores_dimensions)]) as server:
        ef = OpenAIEmbeddingFunction("my-model", "sk-test", server.url + "/v1", dimensions=4, **FAST)
        with pytest.raises(ProviderResponseError, match=r"OpenAI returned a 3-d vector for texts\[0\], expected 4"):
            ef(["x"])


def test_a_stalled_provider_is_retried_after_the_timeout():
    with fakes.FakeServer(fakes.voyage_routes()) as server:
        server.stall_next(2.0)
        ef = VoyageEmbeddingFunction("voyage-3", "pa-test", base_url=server.url + "/v1", timeout=0.2, max_retries=1,
                                     backoff=0.001)
        (vector,) = ef.encode_queries(["q"])
    assert len(server.requests) == 2
    np.testing.assert_allclose(vector, fakes.fake_vector("q", 1024, "query"))
