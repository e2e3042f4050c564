"""The shared JSON-over-HTTP client: retries, backoff, Retry-After, timeouts and error messages,
against a real loopback server."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from embedb.errors import MilvusException, ParamError
from embedb.model._http import (
    JSONClient,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnreachableError,
    batched,
    check_texts,
    embed_in_batches,
    resolve_api_key,
)
from http_fakes import FakeServer


def echo(request, match):
    return 200, {"echo": request.body, "auth": request.headers.get("authorization")}, {}


@pytest.fixture(autouse=True)
def loopback_bypasses_proxies(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server():
    with FakeServer([(r"/echo", echo)]) as fake:
        yield fake


def client(**kwargs):
    kwargs.setdefault("backoff", 0.001)
    kwargs.setdefault("timeout", 5)
    return JSONClient("Acme", **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_posts_json_with_headers(server):
    answer = client(headers={"Authorization": "Bearer k"}).post(server.url + "/echo", {"a": [1, "x"]})
    assert answer == {"echo": {"a": [1, "x"]}, "auth": "Bearer k"}
    assert server.requests[0].headers["content-type"] == "application/json"


def test_429_then_success_retries(server):
    server.fail_next(429, {"error": {"message": "Rate limit reached"}}, times=2)
    assert client(max_retries=3).post(server.url + "/echo", {"n": 1})["echo"] == {"n": 1}
    assert len(server.requests) == 3


def test_retry_after_is_honoured(server):
    server.fail_next(429, {"message": "slow down"}, headers={"Retry-After": "0.3"})
    start = time.monotonic()
    client(max_retries=1).post(server.url + "/echo", {})
    assert time.monotonic() - start >= 0.3
    assert len(server.requests) == 2


def test_retry_after_ms_is_honoured(server):
    server.fail_next(503, {"message": "busy"}, headers={"retry-after-ms": "250"})
    start = time.monotonic()
    client(max_retries=1).post(server.url + "/echo", {})
    assert time.monotonic() - start >= 0.25


def test_retry_after_is_capped_by_max_backoff(server):
    server.fail_next(429, {"message": "later"}, headers={"Retry-After": "3600"})
    start = time.monotonic()
    client(max_retries=1, max_backoff=0.05).post(server.url + "/echo", {})
    assert time.monotonic() - start < 2


def test_500_every_time_gives_up_with_clear_error(server):
    server.fail_next(500, {"error": {"message": "The server had an error"}}, times=10)
    with pytest.raises(ProviderResponseError) as info:
        client(max_retries=2).post(server.url + "/echo", {})
    assert len(server.requests) == 3  # 1 try + 2 retries, then stop
    err = info.value
    assert err.status == 500 and err.provider == "Acme"
    assert err.provider_message == "The server had an error"
    assert "Acme returned HTTP 500: The server had an error (gave up after 3 attempts)" in str(err)
    assert isinstance(err, MilvusException)


def test_429_every_time_is_a_rate_limit_error(server):
    server.fail_next(429, {"detail": "quota exceeded"}, times=5)
    with pytest.raises(ProviderRateLimitError, match="rate limit hit \\(HTTP 429\\): quota exceeded"):
        client(max_retries=1).post(server.url + "/echo", {})
    assert len(server.requests) == 2


def test_401_is_not_retried_and_says_key_rejected(server):
    server.fail_next(401, {"message": "invalid api token"}, times=5)
    with pytest.raises(ProviderAuthError) as info:
        client(max_retries=3).post(server.url + "/echo", {})
    assert len(server.requests) == 1
    assert "API key rejected by Acme (HTTP 401): invalid api token" in str(info.value)
    assert isinstance(info.value, PermissionError)


def test_403_and_placeholder_hint(server):
    server.fail_next(403, {"detail": "Forbidden"})
    with pytest.raises(ProviderAuthError, match="looks like a placeholder"):
        client(api_key="<YOUR_KEY>").post(server.url + "/echo", {})


def test_google_style_bad_key_400_is_an_auth_error(server):
    body = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                      "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}}
    server.fail_next(400, body)
    with pytest.raises(ProviderAuthError, match="API key rejected by Acme .*API key not valid"):
        client().post(server.url + "/echo", {})


def test_other_4xx_is_not_retried(server):
    server.fail_next(422, {"detail": [{"loc": ["body", "input"], "msg": "field required"}]}, times=3)
    with pytest.raises(ProviderResponseError, match="Acme returned HTTP 422: field required"):
        client(max_retries=3).post(server.url + "/echo", {})
    assert len(server.requests) == 1


def test_non_json_error_body_is_quoted(server):
    server.fail_next(502, b"<html>Bad Gateway</html>", times=2)
    with pytest.raises(ProviderResponseError, match="HTTP 502: <html>Bad Gateway</html>"):
        client(max_retries=1).post(server.url + "/echo", {})


def test_non_json_success_body(server):
    server.fail_next(200, b"not json")
    with pytest.raises(ProviderResponseError, match="unexpected response from Acme .*not JSON"):
        client().post(server.url + "/echo", {})


def test_timeout_retries_then_raises(server):
    server.stall_next(2.0, times=2)
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError) as info:
        client(timeout=0.2, max_retries=1).post(server.url + "/echo", {})
    assert time.monotonic() - start < 1.5
    assert "Acme did not answer within 0.2 s" in str(info.value)
    assert isinstance(info.value, TimeoutError)
    assert len(server.requests) == 2


def test_timeout_then_success(server):
    server.stall_next(2.0)
    assert client(timeout=0.2, max_retries=1).post(server.url + "/echo", {"x": 1})["echo"] == {"x": 1}


def test_connection_refused_is_unreachable_in_one_line():
    url = f"http://127.0.0.1:{free_port()}/v1/embeddings"
    with pytest.raises(ProviderUnreachableError) as info:
        client(max_retries=1).post(url, {})
    message = str(info.value)
    assert f"Acme unreachable at {url}: " in message and "refused" in message.lower()
    assert "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__ is False
    assert info.value.__context__ is None  # no urllib chain in the traceback


def test_bad_constructor_arguments():
    with pytest.raises(ParamError, match="timeout"):
        JSONClient("Acme", timeout=0)
    with pytest.raises(ParamError, match="max_retries"):
        JSONClient("Acme", max_retries=-1)
    with pytest.raises(ParamError, match="backoff"):
        JSONClient("Acme", backoff=-1)


def test_resolve_api_key(monkeypatch):
    monkeypatch.delenv("ACME_KEY", raising=False)
    monkeypatch.delenv("ACME_KEY2", raising=False)
    with pytest.raises(ParamError, match="no API key for Acme: pass api_key=... or set the environment variable ACME_KEY or ACME_KEY2"):
        resolve_api_key(None, ["ACME_KEY", "ACME_KEY2"], "Acme")
    monkeypatch.setenv("ACME_KEY2", "from-env")
    assert resolve_api_key(None, ["ACME_KEY", "ACME_KEY2"], "Acme") == "from-env"
    assert resolve_api_key("explicit", ["ACME_KEY"], "Acme") == "explicit"
    with pytest.raises(ParamError, match="non-empty"):
        resolve_api_key("  ", ["ACME_KEY"], "Acme")
    assert resolve_api_key(None, ["ACME_KEY"], "Acme", required=False) is None


def test_batched_keeps_order_and_sizes():
    chunks = list(batched(list(range(300)), 128))
    assert [len(c) for c in chunks] == [128, 128, 44]
    assert sum(chunks, []) == list(range(300))
    with pytest.raises(ParamError, match="batch_size"):
        list(batched([1], 0))


def test_embed_in_batches_checks_counts():
    calls = []

    def embed(chunk):
        calls.append(chunk)
        return [[float(len(t))] for t in chunk]

    out = embed_in_batches(["a", "bb", "ccc"], 2, embed, "Acme")
    assert calls == [["a", "bb"], ["ccc"]]
    assert [v.tolist() for v in out] == [[1.0], [2.0], [3.0]]
    assert all(v.dtype == np.float32 for v in out)
    with pytest.raises(ProviderResponseError, match="1 embeddings for 2 inputs"):
        embed_in_batches(["a", "b"], 2, lambda chunk: [[1.0]], "Acme")


def test_check_texts():
    with pytest.raises(ParamError, match="single str; wrap it in a list"):
        check_texts("hello")
    with pytest.raises(ParamError, match=r"texts\[1\] must be a string, got int"):
        check_texts(["a", 3])
    assert check_texts(("a", "b")) == ["a", "b"]


def test_provider_error_is_a_milvus_exception():
    assert issubclass(ProviderError, MilvusException)
    assert issubclass(ProviderUnreachableError, ConnectionError)


def test_providers_import_no_sdk_and_embedb_model_imports_no_provider():
    import subprocess
    import sys

    code = (
        "import sys, embedb.model\n"
        "assert 'embedb.model._http' not in sys.modules, 'import embedb.model loaded the HTTP client'\n"
        "from embedb.model.dense import (OpenAIEmbeddingFunction, JinaEmbeddingFunction, VoyageEmbeddingFunction,\n"
        "    CohereEmbeddingFunction, MistralAIEmbeddingFunction, NomicEmbeddingFunction, GeminiEmbeddingFunction,\n"
        "    TEIEmbeddingFunction)\n"
        "from embedb.model.reranker import JinaRerankFunction, CohereRerankFunction, VoyageRerankFunction, TEIRerankFunction\n"
        "heavy = ['requests', 'httpx', 'openai', 'cohere', 'voyageai', 'mistralai', 'nomic', 'google.genai',\n"
        "         'torch', 'transformers', 'onnxruntime']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
