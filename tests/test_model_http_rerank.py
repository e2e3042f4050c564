"""The hosted rerankers against loopback servers speaking each provider's rerank API, and the
seed example 3 (Jina reranker) run unchanged but for its import."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional

import pytest

import http_fakes as fakes
from embedb.errors import ParamError
from embedb.model._http import ProviderAuthError, ProviderResponseError, ProviderUnreachableError
from embedb.model.base import RerankResult
from embedb.model.reranker import CohereRerankFunction, JinaRerankFunction, TEIRerankFunction, VoyageRerankFunction

FAST = {"backoff": 0.001, "timeout": 5}
SEED = Path("/work/shared/seed-examples/example3_jina_reranker.py")


@dataclass
class Spec:
    name: str
    provider: str
    routes: Callable[..., list]
    key: Optional[str]
    env: List[str]
    make: Callable[..., Any]  # (url, api_key, **kwargs) -> reranker
    top_field: Optional[str]  # the request field that carries top_k, if the API has one


SPECS = [
    Spec("jina", "Jina AI", fakes.jina_routes, "jina_test", ["JINAAI_API_KEY", "JINA_API_KEY"],
         lambda url, key, **kw: JinaRerankFunction("jina-reranker-v2-base-multilingual", key, base_url=url + "/v1", **kw),
         "top_n"),
    Spec("cohere", "Cohere", fakes.cohere_routes, "co-test", ["CO_API_KEY", "COHERE_API_KEY"],
         lambda url, key, **kw: CohereRerankFunction("rerank-english-v3.0", key, base_url=url, **kw), "top_n"),
    Spec("voyage", "Voyage AI", fakes.voyage_routes, "pa-test", ["VOYAGE_API_KEY"],
         lambda url, key, **kw: VoyageRerankFunction("rerank-2", key, base_url=url + "/v1", **kw), "top_k"),
    Spec("tei", "TEI", lambda key=None: fakes.tei_routes(key=key), None, [],
         lambda url, key, **kw: TEIRerankFunction(url, **({"api_key": key} if key else {}), **kw), None),
]
KEYED = [s for s in SPECS if s.key is not None]
NAMES = [s.name for s in SPECS]

QUERY = "which fruit is yellow and long"
DOCS = [
    "apples are red or green",
    "a banana is a long yellow fruit",
    "lemons are yellow",
    "the sky is blue",
    "long yellow school buses",
    "fruit salad",
    "nothing relevant here",
]


def serve(spec: Spec) -> fakes.FakeServer:
    return fakes.FakeServer(spec.routes() if spec.key is None else spec.routes(key=spec.key))


def want(documents, top_k=None):
    order = sorted(range(len(documents)), key=lambda i: (-fakes.fake_score(QUERY, documents[i]), i))
    if top_k is not None:
        order = order[:top_k]
    return [RerankResult(documents[i], fakes.fake_score(QUERY, documents[i]), i) for i in order]


@pytest.fixture(autouse=True)
def no_provider_keys_in_env(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # loopback fakes never go through a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for spec in SPECS:
        for name in spec.env:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TEI_API_KEY", raising=False)


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
@pytest.mark.parametrize("top_k", [1, 3, 5, None])
def test_results_are_sorted_and_cut_to_top_k(spec, top_k):
    with serve(spec) as server:
        results = spec.make(server.url, spec.key, **FAST)(QUERY, DOCS, top_k=top_k)
    assert results == want(DOCS, top_k)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    (request,) = server.requests
    if spec.top_field:
        assert request.body.get(spec.top_field) == top_k
    assert request.body["query"] == QUERY


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_default_top_k_is_five(spec):
    with serve(spec) as server:
        assert len(spec.make(server.url, spec.key, **FAST)(QUERY, DOCS)) == 5


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_top_k_larger_than_documents_is_clamped(spec):
    with serve(spec) as server:
        results = spec.make(server.url, spec.key, **FAST)(QUERY, DOCS[:3], top_k=10)
    assert results == want(DOCS[:3])
    if spec.top_field:
        assert server.requests[0].body[spec.top_field] == 3


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_empty_documents_send_nothing(spec):
    with serve(spec) as server:
        assert spec.make(server.url, spec.key, **FAST)(QUERY, []) == []
    assert server.requests == []


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
@pytest.mark.parametrize("bad", [0, -1, "3", True, 2.5])
def test_bad_top_k_is_refused(spec, bad):
    with pytest.raises(ParamError, match="top_k must be a positive integer"):
        spec.make("http://127.0.0.1:9", spec.key, **FAST)(QUERY, DOCS, top_k=bad)


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_bad_query_or_documents_are_refused(spec):
    rf = spec.make("http://127.0.0.1:9", spec.key, **FAST)
    with pytest.raises(ParamError, match="query must be a string"):
        rf(["q"], DOCS)
    with pytest.raises(ParamError, match="documents must be a list of strings"):
        rf(QUERY, "one document")
    with pytest.raises(ParamError, match=r"documents\[1\] must be a string"):
        rf(QUERY, ["a", None])


@pytest.mark.parametrize("spec", KEYED, ids=[s.name for s in KEYED])
def test_wrong_key_is_rejected_and_missing_key_named(spec):
    with serve(spec) as server:
        with pytest.raises(ProviderAuthError, match=f"API key rejected by {spec.provider}"):
            spec.make(server.url, "nope", **FAST)(QUERY, DOCS)
    assert len(server.requests) == 1
    with pytest.raises(ParamError, match=f"no API key for {spec.provider}.*{spec.env[0]}"):
        spec.make(server.url, None)


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_429_then_success_and_500_gives_up(spec):
    with serve(spec) as server:
        rf = spec.make(server.url, spec.key, max_retries=2, **FAST)
        server.fail_next(429, {"message": "rate limited"}, times=2)
        assert rf(QUERY, DOCS, top_k=2) == want(DOCS, 2)
        assert len(server.requests) == 3
        server.fail_next(503, {"message": "overloaded"}, times=3)
        with pytest.raises(ProviderResponseError, match=f"{spec.provider} returned HTTP 503: overloaded \\(gave up after 3 attempts\\)"):
            rf(QUERY, DOCS)


def test_cohere_without_returned_documents_gives_empty_texts():
    with fakes.FakeServer(fakes.cohere_routes()) as server:
        rf = CohereRerankFunction(api_key="co-test", return_documents=False, max_tokens_per_doc=512,
                                  base_url=server.url, **FAST)
        results = rf(QUERY, DOCS, top_k=2)
    assert [(r.text, r.index) for r in results] == [("", w.index) for w in want(DOCS, 2)]
    assert server.requests[0].body["max_tokens_per_doc"] == 512
    assert server.requests[0].headers["authorization"] == "Bearer co-test"


def test_voyage_and_jina_ask_for_no_documents_back():
    with fakes.FakeServer(fakes.voyage_routes()) as voyage, fakes.FakeServer(fakes.jina_routes()) as jina:
        VoyageRerankFunction(api_key="pa-test", truncation=False, base_url=voyage.url + "/v1", **FAST)(QUERY, DOCS)
        JinaRerankFunction(api_key="jina_test", base_url=jina.url + "/v1", **FAST)(QUERY, DOCS)
    assert voyage.requests[0].body == {"model": "rerank-2", "query": QUERY, "documents": DOCS,
                                       "return_documents": False, "top_k": 5, "truncation": False}
    assert jina.requests[0].body == {"model": "jina-reranker-v2-base-multilingual", "query": QUERY,
                                     "documents": DOCS, "return_documents": False, "top_n": 5}


def test_tei_batches_documents_and_keeps_the_global_top_k():
    docs = [f"document {i} " + ("yellow long fruit" if i % 9 == 0 else "other words") + f" w{i}" for i in range(70)]
    with fakes.FakeServer(fakes.tei_routes(max_batch=32)) as server:
        results = TEIRerankFunction(server.url, **FAST)(QUERY, docs, top_k=5)
    assert [len(r.body["texts"]) for r in server.requests] == [32, 32, 6]
    assert sum((r.body["texts"] for r in server.requests), []) == docs
    assert results == want(docs, 5)
    assert all(r.index % 9 == 0 for r in results)


def test_tei_honours_top_k_beyond_five():
    with fakes.FakeServer(fakes.tei_routes()) as server:
        assert len(TEIRerankFunction(server.url, **FAST)(QUERY, DOCS, top_k=7)) == 7


def test_out_of_range_index_in_answer_is_a_clear_error():
    def bad(request, match):
        return 200, {"results": [{"index": 9, "relevance_score": 0.5}]}, {}

    with fakes.FakeServer([(r"/v1/rerank", bad)]) as server:
        with pytest.raises(ProviderResponseError, match="document index 9 is invalid for 2 documents"):
            JinaRerankFunction(api_key="k", base_url=server.url + "/v1", **FAST)(QUERY, ["a", "b"])


def test_missing_score_in_answer_is_a_clear_error():
    def bad(request, match):
        return 200, {"data": [{"index": 0}]}, {}

    with fakes.FakeServer([(r"/v1/rerank", bad)]) as server:
        with pytest.raises(ProviderResponseError, match="a result lacks 'index' or a numeric 'relevance_score'"):
            VoyageRerankFunction(api_key="k", base_url=server.url + "/v1", **FAST)(QUERY, ["a"])


# --- seed example 3 -------------------------------------------------------------------------


def seed_source() -> str:
    if not SEED.exists():
        pytest.skip(f"{SEED} is not present")
    source = SEED.read_text().replace("from pymilvus.", "from embedb.")  # the one change allowed
    assert "from embedb.model.reranker import JinaRerankFunction" in source
    return source


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_seed(source: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, str(SEED), "exec"), {"__name__": "__main__"})
    return out.getvalue()


def test_seed_example_against_the_jina_fake(monkeypatch):
    import embedb.model.reranker.jinaai as jina_module

    source = seed_source()
    with fakes.FakeServer(fakes.jina_routes(key="<YOUR_JINA_API_KEY>")) as server:
        monkeypatch.setattr(jina_module, "DEFAULT_BASE_URL", server.url + "/v1")
        printed = run_seed(source)
    body = server.requests[0].body
    assert body["model"] == "jina-reranker-v1-base-en" and body["top_n"] == 4
    documents, query = body["documents"], body["query"]
    assert len(documents) == 4 and "1956" in query
    order = sorted(range(4), key=lambda i: (-fakes.fake_score(query, documents[i]), i))
    assert [int(line.split()[1]) for line in printed.splitlines() if line.startswith("Index:")] == order
    scores = [float(line.split()[1]) for line in printed.splitlines() if line.startswith("Score:")]
    assert scores == [round(fakes.fake_score(query, documents[i]), 6) for i in order]
    assert order[0] == 1  # the Dartmouth document shares the most words with the query


def test_seed_example_with_its_placeholder_key_is_rejected_clearly(monkeypatch):
    import embedb.model.reranker.jinaai as jina_module

    source = seed_source()
    with fakes.FakeServer(fakes.jina_routes(key="jina_real_key")) as server:
        monkeypatch.setattr(jina_module, "DEFAULT_BASE_URL", server.url + "/v1")
        with pytest.raises(ProviderAuthError) as info:
            run_seed(source)
    message = str(info.value)
    assert "API key rejected by Jina AI (HTTP 401)" in message
    assert "'<YOUR_JINA_API_KEY>' looks like a placeholder" in message


def test_seed_example_unreachable_in_process(monkeypatch):
    import embedb.model.reranker.jinaai as jina_module

    url = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setattr(jina_module, "DEFAULT_BASE_URL", url)
    with pytest.raises(ProviderUnreachableError) as info:
        run_seed(seed_source())
    assert f"Jina AI unreachable at {url}/rerank: Connection refused" in str(info.value)


def test_seed_example_unchanged_offline_fails_in_one_line(tmp_path):
    """The seed script as a user runs it, with api.jina.ai unreachable (a dead proxy stands in for
    no network, so the outcome is the same with or without internet)."""
    script = tmp_path / "example3.py"
    script.write_text(seed_source())
    dead = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy", "http_proxy", "all_proxy")}
    env.update(HTTPS_PROXY=dead, https_proxy=dead, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    for name in ("JINAAI_API_KEY", "JINA_API_KEY"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("embedb.model._http.ProviderUnreachableError")
    assert "Jina AI unreachable at https://api.jina.ai/v1/rerank: " in last
    assert f"(via proxy {dead})" in last
    assert "During handling of the above exception" not in done.stderr
    assert len(done.stderr.splitlines()) < 20


def test_a_stalled_provider_times_out_with_a_clear_error():
    with fakes.FakeServer(fakes.cohere_routes()) as server:
        server.stall_next(2.0, times=2)
        rf = CohereRerankFunction(api_key="co-test", base_url=server.url, timeout=0.2, max_retries=1, backoff=0.001)
        with pytest.raises(TimeoutError, match="Cohere did not answer within 0.2 s .*gave up after 2 attempts"):
            rf(QUERY, DOCS)
