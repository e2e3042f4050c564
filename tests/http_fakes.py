"""Loopback HTTP servers that speak the hosted providers' API shapes, for the provider tests.

Each fake checks what a real service checks (auth header, model, fields, batch limits, input
types) and answers with the provider's documented JSON shape, or its documented error shape.
Vectors are a deterministic function of (text, input type, size), so a test can tell exactly which
text was embedded under which convention and in which order. Faults (HTTP errors with headers,
stalls) can be queued to test retries and timeouts. Servers bind 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

Reply = Tuple[int, Any, Dict[str, str]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]  # lower-case names
    body: Any  # decoded JSON, or None when the body was not JSON


@dataclass
class _Fault:
    status: int = 0
    body: Any = None
    headers: Dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def fake_vector(text: str, dim: int, tag: str = "", normalize: bool = False) -> np.ndarray:
    """The vector the fakes answer for ``text`` embedded under ``tag`` (an input type or task)."""
    seed = int.from_bytes(hashlib.sha256(f"{tag}\x00{text}".encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    if normalize:
        vector /= np.linalg.norm(vector)
    return vector


def _words(text: str) -> set:
    return set(re.findall(r"\w+", text.lower()))


def fake_score(query: str, document: str) -> float:
    """Word overlap of query and document, in [0, 1): the fakes' stand-in for a cross-encoder."""
    q, d = _words(query), _words(document)
    return round(len(q & d) / (len(q | d) + 1), 6)


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1 with routes ``(regex on path) -> handler(Recorded, match)``."""

    def __init__(self, routes: List[Tuple[str, Callable[..., Reply]]], max_requests: int = 1000) -> None:
        self.routes = [(re.compile(pattern), handler) for pattern, handler in routes]
        self.requests: List[Recorded] = []
        self.max_requests = max_requests
        self._faults: List[_Fault] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, status: int, body: Any = None, headers: Optional[Dict[str, str]] = None, times: int = 1) -> None:
        """The next ``times`` requests get this error answer instead of reaching a route."""
        with self._lock:
            self._faults.extend(_Fault(status, body, dict(headers or {})) for _ in range(times))

    def stall_next(self, seconds: float, times: int = 1) -> None:
        """The next ``times`` requests wait ``seconds`` before being answered normally."""
        with self._lock:
            self._faults.extend(_Fault(delay=seconds) for _ in range(times))

    def bodies(self, path_part: str = "") -> List[Any]:
        return [r.body for r in self.requests if path_part in r.path]

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _dispatch(self, method: str, path: str, headers: Dict[str, str], raw: bytes) -> Reply:
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(Recorded(method, path, headers, body))
            if len(self.requests) > self.max_requests:
                return 503, {"error": "fake server request bound exceeded"}, {}
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None and fault.delay:
            self._closing.wait(fault.delay)
        elif fault is not None:
            return fault.status, fault.body, fault.headers
        if method != "POST":
            return 405, {"error": "method not allowed"}, {}
        if body is None:
            return 400, {"error": "body is not JSON"}, {}
        for pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match:
                return handler(Recorded(method, path, headers, body), match)
        return 404, {"error": f"no route {path}"}, {}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self._serve("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body, extra = fake._dispatch(method, self.path, headers, raw)
                data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


# --- checks shared by the fakes -------------------------------------------------------------


class Reject(Exception):
    """Raised inside a fake handler to answer an error in the provider's shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _guarded(error_shape: Callable[[int, str], Any]):
    """Wrap a handler so Reject becomes the provider's error body."""

    def wrap(handler):
        def run(request: Recorded, match):
            try:
                return handler(request, match)
            except Reject as exc:
                return exc.status, error_shape(exc.status, exc.message), {}

        return run

    return wrap


def _bearer(request: Recorded, key: Optional[str], message: str) -> None:
    if key is None:
        return
    if request.headers.get("authorization") != f"Bearer {key}":
        raise Reject(401, message)


def _string_list(body: dict, name: str, limit: int) -> List[str]:
    value = body.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise Reject(400, f"'{name}' must be a non-empty list of strings")
    if len(value) > limit:
        raise Reject(400, f"too many inputs: {len(value)} > {limit}")
    return value


def _model(body: dict, table: Dict[str, int]) -> str:
    model = body.get("model")
    if model not in table:
        raise Reject(404 if model else 400, f"model {model!r} not found")
    return model


# --- one fake per provider ------------------------------------------------------------------

OPENAI_DIMS = {"text-embedding-ada-002": 1536, "text-embedding-3-small": 1536, "text-embedding-3-large": 3072}


def openai_routes(key: str = "sk-test", reverse: bool = True):
    """POST /v1/embeddings; answers data items in reverse order (their ``index`` says where they go)."""

    @_guarded(lambda s, m: {"error": {"message": m, "type": "invalid_request_error", "param": None, "code": None}})
    def embeddings(request, match):
        _bearer(request, key, "Incorrect API key provided: sk-****. You can find your API key at https://platform.openai.com/account/api-keys.")
        body = request.body
        model = _model(body, OPENAI_DIMS)
        texts = _string_list(body, "input", 2048)
        dim = body.get("dimensions") or OPENAI_DIMS[model]
        if "dimensions" in body and model == "text-embedding-ada-002":
            raise Reject(400, "This model does not support specifying dimensions.")
        data = [{"object": "embedding", "index": i, "embedding": fake_vector(t, dim).tolist()} for i, t in enumerate(texts)]
        if reverse:
            data.reverse()
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        return 200, {"object": "list", "data": data, "model": model, "usage": usage}, {}

    return [(r"/v1/embeddings", embeddings)]


JINA_DIMS = {"jina-embeddings-v3": 1024, "jina-embeddings-v2-base-en": 768, "jina-clip-v2": 1024}
JINA_TASKS = {"retrieval.query", "retrieval.passage", "text-matching", "classification", "separation"}
JINA_RERANKERS = {"jina-reranker-v2-base-multilingual", "jina-reranker-v1-base-en", "jina-reranker-m0"}


def jina_routes(key: str = "jina_test"):
    """POST /v1/embeddings and /v1/rerank. Vectors are tagged by ``task``."""
    shape = lambda s, m: {"detail": m}  # noqa: E731 - FastAPI's error shape

    @_guarded(shape)
    def embeddings(request, match):
        _bearer(request, key, "Unauthorized: Invalid API key, please get a new one from https://jina.ai")
        body = request.body
        model = _model(body, JINA_DIMS)
        texts = _string_list(body, "input", 2048)
        task = body.get("task")
        if model.startswith("jina-embeddings-v2"):
            if task is not None:
                raise Reject(422, "task is not supported for this model")
        elif task not in JINA_TASKS:
            raise Reject(422, f"invalid task {task!r}")
        dim = body.get("dimensions") or JINA_DIMS[model]
        data = [{"object": "embedding", "index": i, "embedding": fake_vector(t, dim, task or "")} for i, t in enumerate(texts)]
        for item in data:
            item["embedding"] = item["embedding"].tolist()
        usage = {"total_tokens": len(texts), "prompt_tokens": len(texts)}
        return 200, {"model": model, "object": "list", "usage": usage, "data": data}, {}

    @_guarded(shape)
    def rerank(request, match):
        _bearer(request, key, "Unauthorized: Invalid API key, please get a new one from https://jina.ai")
        body = request.body
        if body.get("model") not in JINA_RERANKERS:
            raise Reject(422, f"model {body.get('model')!r} not found")
        docs = _string_list(body, "documents", 2048)
        results = _ranked(body.get("query"), docs, body.get("top_n"))
        for item in results:
            if body.get("return_documents", True):
                item["document"] = {"text": docs[item["index"]]}
        return 200, {"model": body["model"], "usage": {"total_tokens": 10}, "results": results}, {}

    return [(r"/v1/embeddings", embeddings), (r"/v1/rerank", rerank)]


def _ranked(query: Any, docs: List[str], top: Any, score_key: str = "relevance_score") -> List[dict]:
    if not isinstance(query, str):
        raise Reject(422, "'query' must be a string")
    ranked = sorted(range(len(docs)), key=lambda i: (-fake_score(query, docs[i]), i))
    if top is not None:
        if not isinstance(top, int) or top < 1:
            raise Reject(422, "top_n must be a positive integer")
        ranked = ranked[:top]
    return [{"index": i, score_key: fake_score(query, docs[i])} for i in ranked]


VOYAGE_DIMS = {"voyage-3-large": 1024, "voyage-3": 1024, "voyage-3-lite": 512}


def voyage_routes(key: str = "pa-test"):
    """POST /v1/embeddings and /v1/rerank. Vectors are tagged by ``input_type``."""
    shape = lambda s, m: {"detail": m}  # noqa: E731

    @_guarded(shape)
    def embeddings(request, match):
        _bearer(request, key, "Provided API key is invalid.")
        body = request.body
        model = _model(body, VOYAGE_DIMS)
        texts = _string_list(body, "input", 1000)
        input_type = body.get("input_type")
        if input_type not in (None, "query", "document"):
            raise Reject(400, f"invalid input_type {input_type!r}")
        dim = body.get("output_dimension") or VOYAGE_DIMS[model]
        data = [{"object": "embedding", "embedding": fake_vector(t, dim, input_type or "").tolist(), "index": i}
                for i, t in enumerate(texts)]
        return 200, {"object": "list", "data": data, "model": model, "usage": {"total_tokens": len(texts)}}, {}

    @_guarded(shape)
    def rerank(request, match):
        _bearer(request, key, "Provided API key is invalid.")
        body = request.body
        if body.get("model") not in ("rerank-2", "rerank-2-lite", "rerank-2.5"):
            raise Reject(400, f"model {body.get('model')!r} is not supported")
        docs = _string_list(body, "documents", 1000)
        data = _ranked(body.get("query"), docs, body.get("top_k"))
        return 200, {"object": "list", "data": data, "model": body["model"], "usage": {"total_tokens": 10}}, {}

    return [(r"/v1/embeddings", embeddings), (r"/v1/rerank", rerank)]


COHERE_DIMS = {"embed-english-light-v3.0": 384, "embed-english-v3.0": 1024, "embed-multilingual-v3.0": 1024}


def cohere_routes(key: str = "co-test"):
    """POST /v2/embed (at most 96 texts) and /v2/rerank. Vectors are tagged by ``input_type``."""
    shape = lambda s, m: {"id": "req-1", "message": m}  # noqa: E731

    @_guarded(shape)
    def embed(request, match):
        _bearer(request, key, "invalid api token")
        body = request.body
        model = _model(body, COHERE_DIMS)
        texts = _string_list(body, "texts", 96)
        input_type = body.get("input_type")
        if input_type not in ("search_document", "search_query", "classification", "clustering"):
            raise Reject(400, "input_type is required for embed models v3 and higher")
        if body.get("embedding_types") != ["float"]:
            raise Reject(400, f"unexpected embedding_types {body.get('embedding_types')!r}")
        vectors = [fake_vector(t, COHERE_DIMS[model], input_type).tolist() for t in texts]
        meta = {"api_version": {"version": "2"}, "billed_units": {"input_tokens": len(texts)}}
        answer = {"id": "emb-1", "embeddings": {"float": vectors}, "texts": texts, "meta": meta,
                  "response_type": "embeddings_by_type"}
        return 200, answer, {}

    @_guarded(shape)
    def rerank(request, match):
        _bearer(request, key, "invalid api token")
        body = request.body
        if body.get("model") not in ("rerank-english-v3.0", "rerank-v3.5", "rerank-multilingual-v3.0"):
            raise Reject(404, f"model '{body.get('model')}' not found")
        docs = _string_list(body, "documents", 1000)
        results = _ranked(body.get("query"), docs, body.get("top_n"))
        return 200, {"id": "rr-1", "results": results, "meta": {"billed_units": {"search_units": 1}}}, {}

    return [(r"/v2/embed", embed), (r"/v2/rerank", rerank)]


def mistral_routes(key: str = "mistral-test"):
    """POST /v1/embeddings (mistral-embed, 1024-d)."""

    @_guarded(lambda s, m: {"object": "error", "message": m, "type": "invalid_request_error", "code": None})
    def embeddings(request, match):
        _bearer(request, key, "Unauthorized")
        body = request.body
        model = _model(body, {"mistral-embed": 1024, "codestral-embed": 1536})
        texts = _string_list(body, "input", 512)
        dim = body.get("output_dimension") or {"mistral-embed": 1024, "codestral-embed": 1536}[model]
        data = [{"object": "embedding", "embedding": fake_vector(t, dim).tolist(), "index": i} for i, t in enumerate(texts)]
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts), "completion_tokens": 0}
        return 200, {"id": "emb-1", "object": "list", "data": data, "model": model, "usage": usage}, {}

    return [(r"/v1/embeddings", embeddings)]


def nomic_routes(key: str = "nk-test"):
    """POST /v1/embedding/text. Vectors are tagged by ``task_type``."""

    @_guarded(lambda s, m: {"detail": m})
    def text(request, match):
        _bearer(request, key, "Could not validate credentials")
        body = request.body
        model = _model(body, {"nomic-embed-text-v1.5": 768, "nomic-embed-text-v1": 768})
        texts = _string_list(body, "texts", 512)
        task_type = body.get("task_type", "search_document")
        if task_type not in ("search_document", "search_query", "classification", "clustering"):
            raise Reject(422, f"invalid task_type {task_type!r}")
        dim = body.get("dimensionality") or 768
        if "dimensionality" in body and model != "nomic-embed-text-v1.5":
            raise Reject(400, "dimensionality is only supported for nomic-embed-text-v1.5")
        vectors = [fake_vector(t, dim, task_type).tolist() for t in texts]
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        return 200, {"embeddings": vectors, "usage": usage, "model": model, "inference_mode": "remote"}, {}

    return [(r"/v1/embedding/text", text)]


GEMINI_DIMS = {"gemini-embedding-exp-03-07": 3072, "gemini-embedding-001": 3072, "text-embedding-004": 768}


def gemini_error(status: int, message: str) -> dict:
    names = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
    error = {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}
    if "API key not valid" in message:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                             "domain": "googleapis.com"}]
    return {"error": error}


def gemini_routes(key: str = "AIza-test"):
    """POST /v1beta/models/{model}:batchEmbedContents (at most 100 requests). Tagged by taskType."""

    @_guarded(gemini_error)
    def batch(request, match):
        if request.headers.get("x-goog-api-key") != key:
            raise Reject(400, "API key not valid. Please pass a valid API key.")
        model = match.group(1)
        if model not in GEMINI_DIMS:
            raise Reject(404, f"models/{model} is not found for API version v1beta")
        requests = request.body.get("requests")
        if not isinstance(requests, list) or not requests or len(requests) > 100:
            raise Reject(400, "requests must hold 1 to 100 items")
        out = []
        for item in requests:
            if item.get("model") != f"models/{model}":
                raise Reject(400, "Model in request does not match the model in the URL")
            parts = item.get("content", {}).get("parts", [])
            text = "".join(p.get("text", "") for p in parts)
            task = item.get("taskType", "")
            dim = item.get("outputDimensionality") or GEMINI_DIMS[model]
            out.append({"values": fake_vector(text, dim, task).tolist()})
        return 200, {"embeddings": out}, {}

    return [(r"/v1beta/models/([\w.\-]+):batchEmbedContents", batch)]


def tei_routes(dim: int = 384, key: Optional[str] = None, max_batch: int = 32, prompts=("query", "passage")):
    """TEI's native POST /embed and POST /rerank. Vectors are tagged by ``prompt_name``."""
    shape = lambda s, m: {"error": m, "error_type": "Validation" if s in (413, 422) else "Unhealthy"}  # noqa: E731

    def check_key(request):
        if key is not None and request.headers.get("authorization") != f"Bearer {key}":
            raise Reject(401, "Unauthorized")

    @_guarded(shape)
    def embed(request, match):
        check_key(request)
        body = request.body
        inputs = body.get("inputs")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not texts:
            raise Reject(422, "`inputs` cannot be empty")
        if len(texts) > max_batch:
            raise Reject(413, f"batch size {len(texts)} > maximum allowed batch size {max_batch}")
        prompt = body.get("prompt_name")
        if prompt is not None and prompt not in prompts:
            raise Reject(422, f"prompt `{prompt}` is not defined in the model configuration")
        normalize = body.get("normalize", True)
        return 200, [fake_vector(t, dim, prompt or "", normalize=normalize).tolist() for t in texts], {}

    @_guarded(shape)
    def rerank(request, match):
        check_key(request)
        body = request.body
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts:
            raise Reject(422, "`texts` cannot be empty")
        if len(texts) > max_batch:
            raise Reject(413, f"batch size {len(texts)} > maximum allowed batch size {max_batch}")
        ranked = _ranked(body.get("query"), texts, None, score_key="score")
        if body.get("return_text"):
            for item in ranked:
                item["text"] = texts[item["index"]]
        return 200, ranked, {}

    return [(r"/embed", embed), (r"/rerank", rerank)]
