"""One small JSON-over-HTTP client shared by the hosted embedding and rerank providers.

Standard library only (``urllib.request``), so no provider SDK is needed. It POSTs JSON with the
provider's auth header, times out, retries 429 / 5xx / connection failures with exponential
backoff and jitter (honouring ``Retry-After``), and turns every failure into one short
:class:`ProviderError` that names the provider, the HTTP status and the provider's own message.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence

import numpy as np

from embedb.errors import MilvusException, ParamError
from embedb.model.base import BaseEmbeddingFunction, BaseRerankFunction, RerankResult
from embedb.model.utils import check_texts

__all__ = [
    "ProviderError",
    "ProviderAuthError",
    "ProviderUnreachableError",
    "ProviderTimeoutError",
    "ProviderRateLimitError",
    "ProviderResponseError",
    "JSONClient",
    "resolve_api_key",
    "batched",
    "embed_in_batches",
    "check_texts",
    "check_positive_int",
    "to_float32",
    "rank_results",
    "check_base_url",
    "reject_unknown_kwargs",
    "HTTPEmbeddingFunction",
    "HTTPRerankFunction",
    "scored_pairs",
    "field",
    "openai_style_vectors",
]

# Statuses worth another try: rate limited, or the server (or a proxy in front of it) failed.
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
_MAX_MESSAGE = 300  # characters of a provider's message we quote in an error


class ProviderError(MilvusException):
    """A hosted model provider could not serve a request.

    ``provider`` names the service, ``status`` is the HTTP status (``None`` when no response came
    back) and ``provider_message`` is the service's own explanation, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: Optional[int] = None,
        provider_message: str = "",
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.provider_message = provider_message
        self.url = url


class ProviderAuthError(ProviderError, PermissionError):
    """401/403: the API key is missing on the server side, wrong, or lacks access."""


class ProviderUnreachableError(ProviderError, ConnectionError):
    """No HTTP response: DNS failure, refused connection, reset, TLS failure."""


class ProviderTimeoutError(ProviderUnreachableError, TimeoutError):
    """The provider did not answer within ``timeout`` seconds (on every attempt)."""


class ProviderRateLimitError(ProviderError):
    """429 on every attempt: the account's rate limit or quota is exhausted."""


class ProviderResponseError(ProviderError):
    """Any other HTTP error, or a 200 whose body is not the shape the provider documents."""


def resolve_api_key(
    api_key: Optional[str], env_vars: Sequence[str], provider: str, required: bool = True
) -> Optional[str]:
    """The explicit key, else the first non-empty environment variable; a clear error if none."""
    if api_key is not None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ParamError(f"api_key for {provider} must be a non-empty string, got {api_key!r}")
        return api_key.strip()
    for name in env_vars:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    if not required:
        return None
    names = " or ".join(env_vars)
    raise ParamError(f"no API key for {provider}: pass api_key=... or set the environment variable {names}")


def check_positive_int(value: Any, name: str, allow_none: bool = True) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParamError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def batched(items: Sequence[Any], size: int) -> Iterator[List[Any]]:
    """Consecutive chunks of at most ``size`` items, in order."""
    size = check_positive_int(size, "batch_size", allow_none=False)
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def to_float32(vector: Any, provider: str) -> np.ndarray:
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise ProviderResponseError(
            f"unexpected response from {provider}: an embedding is not a list of numbers", provider=provider
        ) from None
    if array.ndim != 1 or array.size == 0:
        raise ProviderResponseError(
            f"unexpected response from {provider}: an embedding has shape {array.shape}, expected a flat vector",
            provider=provider,
        )
    return array


def embed_in_batches(
    texts: Sequence[str], batch_size: int, embed_batch: Callable[[List[str]], List[Any]], provider: str
) -> List[np.ndarray]:
    """Embed ``texts`` in provider-sized chunks; one float32 vector per text, in input order."""
    vectors: List[np.ndarray] = []
    for chunk in batched(texts, batch_size):
        got = embed_batch(chunk)
        if len(got) != len(chunk):
            raise ProviderResponseError(
                f"unexpected response from {provider}: {len(got)} embeddings for {len(chunk)} inputs",
                provider=provider,
            )
        vectors.extend(to_float32(v, provider) for v in got)
    return vectors


def rank_results(documents: Sequence[str], scored: Sequence[tuple], top_k: Optional[int], texts=None):
    """``(index, score)`` pairs -> RerankResults sorted by score (ties: lower index first), cut to top_k."""
    ordered = sorted(scored, key=lambda pair: (-float(pair[1]), int(pair[0])))
    if top_k is not None:
        ordered = ordered[:top_k]
    out = []
    for index, score in ordered:
        text = documents[index] if texts is None else texts(index)
        out.append(RerankResult(text=text, score=float(score), index=int(index)))
    return out


def _retry_after_seconds(headers: Mapping[str, str]) -> Optional[float]:
    """Seconds the server asked us to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or a date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _provider_message(body: bytes) -> str:
    """The human explanation inside a provider's error body, whatever its shape."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:_MAX_MESSAGE]
    message = _find_message(data)
    return (message if message else text)[:_MAX_MESSAGE]


def _find_message(data: Any) -> str:
    # OpenAI/Gemini {"error": {"message"}}, TEI {"error": "..."}, Cohere/Mistral {"message"},
    # Jina/Voyage/Nomic (FastAPI) {"detail": "..."} or {"detail": [{"msg": ...}]}.
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return "; ".join(m for m in (_find_message(item) for item in data) if m)
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "msg", "error_message"):
            if key in data and data[key]:
                found = _find_message(data[key])
                if found:
                    return found
    return ""


def _proxy_for(url: str) -> Optional[str]:
    """The proxy urllib will use for ``url`` (from the *_proxy environment variables), if any."""
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return proxy


def _looks_like_placeholder(key: str) -> bool:
    """``<YOUR_JINA_API_KEY>``, ``YOUR_API_KEY``, ``sk-xxxx``: safe to quote back, since not secret.
    Narrow on purpose, so a real key is never echoed into an error message."""
    if key.startswith("<") and key.endswith(">"):
        return True
    return re.fullmatch(r"(?i)(your[\w-]*key[\w-]*|[a-z]{0,4}-?x{4,}|\.\.\.|\*+)", key) is not None


class JSONClient:
    """POST JSON to one provider with auth, timeout and bounded retries.

    ``backoff`` is the first retry's base delay in seconds; retry ``n`` waits a random time in
    ``[0, backoff * 2**n]`` ("full jitter"), at most ``max_backoff``, or what ``Retry-After`` asks
    for when the server sends it (also capped at ``max_backoff``).
    """

    def __init__(
        self,
        provider: str,
        *,
        headers: Optional[Mapping[str, str]] = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        api_key: Optional[str] = None,
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ParamError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ParamError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        for name, value in (("backoff", backoff), ("max_backoff", max_backoff)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ParamError(f"{name} must be a number of seconds >= 0, got {value!r}")
        self.provider = provider
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self.headers.update(headers or {})
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self._api_key = api_key  # only used to hint at placeholder keys in auth errors

    def post(self, url: str, payload: Any) -> Any:
        """POST ``payload`` as JSON to ``url``; the decoded JSON answer, or a ProviderError."""
        body = json.dumps(payload).encode("utf-8")
        attempt = 0
        while True:
            answer, error, retryable, server_wait = self._attempt(url, body)
            if error is None:
                return answer
            if not retryable or attempt == self.max_retries:
                if attempt:
                    error.message += f" (gave up after {attempt + 1} attempts)"
                    error.args = (error.message,)
                raise error  # raised outside any except block: no urllib traceback chain
            time.sleep(server_wait if server_wait is not None else self._backoff_delay(attempt))
            attempt += 1

    def _backoff_delay(self, attempt: int) -> float:
        return min(self.max_backoff, random.uniform(0, self.backoff * (2**attempt)))

    def _attempt(self, url: str, body: bytes):
        """One request: (answer, error, retryable, seconds the server asked us to wait)."""
        request = urllib.request.Request(url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read() if exc.fp is not None else b""
            error, retryable, wait = self._http_error(url, exc.code, raw, exc.headers or {})
            return None, error, retryable, wait
        except (socket.timeout, TimeoutError):
            return None, self._timeout_error(url), True, None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                return None, self._timeout_error(url), True, None
            # A name that does not resolve stays unresolved; other failures may be transient.
            permanent = isinstance(exc.reason, socket.gaierror) and exc.reason.errno == socket.EAI_NONAME
            return None, self._unreachable(url, exc.reason), not permanent, None
        except (OSError, http.client.HTTPException) as exc:  # reset, refused, truncated answer
            return None, self._unreachable(url, exc), True, None
        except ValueError as exc:  # a malformed URL ("unknown url type"): retrying cannot help
            return None, self._unreachable(url, exc), False, None
        try:
            return json.loads(raw.decode("utf-8")), None, False, None
        except ValueError:
            error = ProviderResponseError(
                f"unexpected response from {self.provider} at {url}: not JSON ({raw[:80]!r})",
                provider=self.provider,
                status=200,
                url=url,
            )
            return None, error, False, None

    def _http_error(self, url: str, status: int, raw: bytes, headers: Mapping[str, str]):
        """(error, retryable, seconds the server asked us to wait) for an HTTP error status."""
        message = _provider_message(raw)
        said = f": {message}" if message else ""
        common = dict(provider=self.provider, status=status, provider_message=message, url=url)
        # Google answers a bad key with 400 + reason API_KEY_INVALID rather than 401.
        bad_google_key = status == 400 and b"API_KEY_INVALID" in raw
        if status in (401, 403) or bad_google_key:
            hint = ""
            if self._api_key and _looks_like_placeholder(self._api_key):
                hint = f" (the key {self._api_key!r} looks like a placeholder; use your real key)"
            error = ProviderAuthError(f"API key rejected by {self.provider} (HTTP {status}){said}{hint}", **common)
            return error, False, None
        if status == 413:  # payload too large: the one fix is in the caller's hands
            said += "; lower batch_size"
        if status not in RETRY_STATUSES:
            return ProviderResponseError(f"{self.provider} returned HTTP {status}{said}", **common), False, None
        wait = _retry_after_seconds(headers)
        if wait is not None:
            wait = min(wait, self.max_backoff)
        if status == 429:
            error = ProviderRateLimitError(f"{self.provider} rate limit hit (HTTP 429){said}", **common)
        else:
            error = ProviderResponseError(f"{self.provider} returned HTTP {status}{said}", **common)
        return error, True, wait

    def _unreachable(self, url: str, reason: Any) -> ProviderUnreachableError:
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        proxy = _proxy_for(url)
        if proxy:  # the refusal may come from the proxy, not the provider: say which
            text += f" (via proxy {proxy})"
        return ProviderUnreachableError(f"{self.provider} unreachable at {url}: {text}", provider=self.provider, url=url)

    def _timeout_error(self, url: str) -> ProviderTimeoutError:
        return ProviderTimeoutError(
            f"{self.provider} did not answer within {self.timeout:g} s at {url}", provider=self.provider, url=url
        )


def check_base_url(url: Any, name: str = "base_url") -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ParamError(f"{name} must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


def reject_unknown_kwargs(kwargs: Mapping[str, Any], owner: str) -> None:
    """pymilvus passes **kwargs to a provider SDK; we have no SDK, so say which ones we cannot honour."""
    if kwargs:
        names = ", ".join(sorted(kwargs))
        raise ParamError(f"{owner} got unexpected keyword argument(s): {names}")


class HTTPEmbeddingFunction(BaseEmbeddingFunction):
    """Shared plumbing of the hosted dense providers: batching, the query/document split, ``dim``.

    A subclass sets ``provider`` and ``default_batch_size``, calls :meth:`_setup_http` in its
    constructor and implements :meth:`_embed_batch` (one request for at most ``batch_size`` texts,
    answering one vector per text in order). ``kind`` is ``"query"``, ``"document"`` or ``"call"``
    (``__call__``, which uses the constructor's task / input type).
    """

    provider = "provider"
    default_batch_size = 128
    max_batch_size: Optional[int] = None  # the API's documented per-request limit, when it has one
    _dim: Optional[int] = None

    def _setup_http(
        self,
        *,
        headers: Mapping[str, str],
        api_key: Optional[str],
        timeout: float,
        max_retries: int,
        batch_size: Optional[int],
        backoff: float,
        max_backoff: float,
    ) -> None:
        self.batch_size = check_positive_int(batch_size, "batch_size") or self.default_batch_size
        if self.max_batch_size is not None and self.batch_size > self.max_batch_size:
            raise ParamError(
                f"batch_size {self.batch_size} exceeds {self.provider}'s limit of {self.max_batch_size} inputs per request"
            )
        self._client = JSONClient(
            self.provider,
            headers=headers,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
            api_key=api_key,
        )

    def _embed_batch(self, texts: List[str], kind: str) -> List[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _embed(self, texts: Any, kind: str, what: str) -> List[np.ndarray]:
        items = check_texts(texts, what)
        if not items:
            return []
        vectors = embed_in_batches(items, self.batch_size, lambda chunk: self._embed_batch(chunk, kind), self.provider)
        expected = self._dim if self._dim is not None else int(vectors[0].shape[0])
        for i, vector in enumerate(vectors):
            # A size other than ``dim`` would only surface later, as a confusing insert error.
            if vector.shape[0] != expected:
                raise ProviderResponseError(
                    f"{self.provider} returned a {vector.shape[0]}-d vector for {what}[{i}], "
                    f"expected {expected} (dim of {getattr(self, 'model_name', 'the model')})",
                    provider=self.provider,
                )
        self._dim = expected
        return vectors

    def __call__(self, texts: List[str]) -> List[np.ndarray]:
        return self._embed(texts, "call", "texts")

    def encode_queries(self, queries: List[str]) -> List[np.ndarray]:
        return self._embed(queries, "query", "queries")

    def encode_documents(self, documents: List[str]) -> List[np.ndarray]:
        return self._embed(documents, "document", "documents")

    @property
    def dim(self) -> int:
        """From the model table or ``dimensions`` when known; otherwise one probe request."""
        if self._dim is None:
            self._dim = int(self._embed(["dim"], "document", "texts")[0].shape[0])
        return self._dim


class HTTPRerankFunction(BaseRerankFunction):
    """Shared plumbing of the hosted rerankers: argument checks, ordering, ``top_k``.

    A subclass implements :meth:`_score`, returning ``(index, score)`` pairs for (at least) the
    best ``top_k`` documents; this class checks them, sorts by score and cuts to ``top_k``.
    """

    provider = "provider"

    def _setup_http(self, **client_args: Any) -> None:
        self._client = JSONClient(self.provider, **client_args)

    def _score(self, query: str, documents: List[str], top_k: Optional[int]) -> List[tuple]:  # pragma: no cover
        raise NotImplementedError

    def _text_of(self, documents: List[str], index: int) -> str:
        return documents[index]

    def __call__(self, query: str, documents: List[str], top_k: Optional[int] = 5) -> List[RerankResult]:
        if not isinstance(query, str):
            raise ParamError(f"query must be a string, got {type(query).__name__}")
        docs = check_texts(documents, "documents")
        top_k = check_positive_int(top_k, "top_k")
        if not docs:
            return []
        if top_k is not None:
            top_k = min(top_k, len(docs))
        pairs = self._score(query, docs, top_k)
        seen = set()
        for index, _ in pairs:
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(docs) or index in seen:
                raise ProviderResponseError(
                    f"unexpected response from {self.provider}: document index {index!r} is invalid "
                    f"for {len(docs)} documents",
                    provider=self.provider,
                )
            seen.add(index)
        return rank_results(docs, pairs, top_k, texts=lambda i: self._text_of(docs, i))


def scored_pairs(items: Any, score_key: str, provider: str) -> List[tuple]:
    """``[{"index": i, score_key: s}, ...]`` -> ``[(i, s)]``, or a clear error for any other shape."""
    if not isinstance(items, list):
        raise ProviderResponseError(f"unexpected response from {provider}: expected a list of results", provider=provider)
    pairs = []
    for item in items:
        try:
            index, score = item["index"], float(item[score_key])
        except (TypeError, KeyError, ValueError):
            raise ProviderResponseError(
                f"unexpected response from {provider}: a result lacks 'index' or a numeric '{score_key}'",
                provider=provider,
            ) from None
        pairs.append((index, score))
    return pairs


def field(data: Any, key: str, provider: str) -> Any:
    """``data[key]`` of a provider's JSON answer, or an error naming the missing field."""
    if not isinstance(data, dict) or key not in data:
        raise ProviderResponseError(f"unexpected response from {provider}: no '{key}' field", provider=provider)
    return data[key]


def openai_style_vectors(data: Any, provider: str) -> List[Any]:
    """``{"data": [{"index": i, "embedding": [...]}, ...]}`` (OpenAI, Jina, Voyage, Mistral), in index order."""
    items = field(data, "data", provider)
    try:
        items = sorted(items, key=lambda item: item.get("index", 0))
        return [item["embedding"] for item in items]
    except (TypeError, KeyError, AttributeError):
        raise ProviderResponseError(
            f"unexpected response from {provider}: 'data' items lack an 'embedding'", provider=provider
        ) from None
