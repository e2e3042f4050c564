"""``FunctionType.TEXTEMBEDDING``: which ``embedb.model`` class runs a function's params, one
loaded model per process, the model's identity, and batched embedding with a progress bar.

Params follow Milvus 2.6 (``provider``, ``model_name``, ``dim``, ``credential``, ``url`` /
``endpoint``, ``truncate``...). Local providers (no network, offline):

- ``local`` (also ``embedb``): no ``model_name`` (or ``all-MiniLM-L6-v2``) runs the default
  model; a local folder runs a BERT-family sentence-transformers model with NumPy/ONNX Runtime
  (no torch), or a Model2Vec folder;
- ``sentence-transformers``: a local folder run by the sentence-transformers library;
- ``onnx``: a BERT-family folder run with ONNX Runtime;
- ``model2vec``: a local Model2Vec folder.

HTTP providers (``openai``, ``cohere``, ``voyageai``, ``jina``, ``mistral``, ``nomic``,
``gemini``, ``tei``) read their API key from the environment variable the provider's
``embedb.model`` class names, or from a named ``credential`` in the credentials file
(see :mod:`embedb.functions.credentials`); keys are never stored in the database.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ParamError
from .credentials import api_key_for
from .loaded import SharedModels

LOCAL_PROVIDERS = ("local", "embedb", "sentence-transformers", "onnx", "model2vec")
HTTP_PROVIDERS = ("openai", "cohere", "voyageai", "jina", "mistral", "nomic", "gemini", "tei")
DEFAULT_NAMES = {"", "default", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2",
                 "minilm"}
BATCH = 64            # texts per model call
PROGRESS_FROM = 2000  # a progress bar (stderr, terminals only) from this many texts

_models = SharedModels()
_identities: dict[tuple, dict] = {}


def _params(fn: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in (fn.params or {}).items()}


def provider_of(fn: Any) -> str:
    p = _params(fn).get("provider")
    if p is None:
        raise ParamError(f"function {fn.name!r}: TEXTEMBEDDING needs params['provider'] "
                         f"(local providers: {', '.join(LOCAL_PROVIDERS)}; HTTP: "
                         f"{', '.join(HTTP_PROVIDERS)})")
    provider = str(p).strip().lower()
    if provider not in LOCAL_PROVIDERS + HTTP_PROVIDERS:
        raise ParamError(f"function {fn.name!r}: unknown provider {p!r}; embedb runs "
                         f"{', '.join(LOCAL_PROVIDERS + HTTP_PROVIDERS)}")
    return provider


def check_params(fn: Any) -> None:
    """Params that can be checked without loading anything (called when a schema is made)."""
    provider = provider_of(fn)
    params = _params(fn)
    if "dim" in params:
        try:
            dim = int(params["dim"])
        except (TypeError, ValueError):
            raise ParamError(f"function {fn.name!r}: params['dim'] must be an integer, got "
                             f"{params['dim']!r}") from None
        if dim <= 0:
            raise ParamError(f"function {fn.name!r}: params['dim'] must be > 0, got {dim}")
    if provider in ("model2vec",) and not params.get("model_name"):
        raise ParamError(f"function {fn.name!r}: provider {provider!r} needs params['model_name'], "
                         "the path of a local model folder")
    if provider == "tei" and not (params.get("endpoint") or params.get("url")):
        raise ParamError(f"function {fn.name!r}: provider 'tei' needs params['endpoint'], the URL "
                         "of the text-embeddings-inference server")


def _model_key(fn: Any) -> tuple:
    params = _params(fn)
    params.pop("credential", None)   # the same model whatever key pays for it
    return (provider_of(fn), json.dumps(params, sort_keys=True, default=str))


def model_for(fn: Any) -> Any:
    """The ``embedb.model`` object for ``fn``'s params, loaded once per process and shared by
    every collection whose function has the same provider and params."""
    return _models.get_or_load(_model_key(fn), lambda: _load(fn))


def _folder(fn: Any, name: Any) -> Path:
    folder = Path(str(name)).expanduser()
    if not folder.is_dir():
        raise ParamError(f"function {fn.name!r}: model_name {str(name)!r} is not a local folder; "
                         "embedb downloads nothing, so give the path of a local model (or leave "
                         "model_name out for all-MiniLM-L6-v2)")
    return folder


def _is_model2vec(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if str(config.get("model_type", "")).lower() == "model2vec":
        return True
    # model2vec >= 0.4 writes no model_type: a static-vector folder has no transformer config
    return "hidden_size" not in config and "architectures" not in config and \
        (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()


def _load(fn: Any) -> Any:
    from embedb import model

    provider, params = provider_of(fn), _params(fn)
    name = params.get("model_name")
    if name is None or str(name).strip().lower() in DEFAULT_NAMES:   # any local provider
        if provider in ("local", "embedb", "onnx", "sentence-transformers"):
            return model.DefaultEmbeddingFunction()
    if provider in ("local", "embedb", "onnx"):
        folder = _folder(fn, name)
        if provider != "onnx" and _is_model2vec(folder):
            return model.dense.Model2VecEmbeddingFunction(str(folder))
        runtime = "onnxruntime" if provider == "onnx" else "auto"
        return model.dense.MiniLMEmbeddingFunction(folder, runtime=runtime)
    if provider == "sentence-transformers":
        return model.dense.SentenceTransformerEmbeddingFunction(
            model_name=str(_folder(fn, name)))
    if provider == "model2vec":
        return model.dense.Model2VecEmbeddingFunction(str(_folder(fn, name)))
    return _load_http(fn, provider, params)


def _load_http(fn: Any, provider: str, params: dict) -> Any:
    from embedb.model import dense

    key = api_key_for(fn.name, provider, params.get("credential"))
    name = params.get("model_name")
    dim = int(params["dim"]) if params.get("dim") is not None else None
    url = params.get("url") or params.get("endpoint")
    kw: dict[str, Any] = {"base_url": url} if url else {}
    named = {"model_name": str(name)} if name else {}
    if provider == "openai":
        return dense.OpenAIEmbeddingFunction(api_key=key, dimensions=dim, **named, **kw)
    if provider == "cohere":
        return dense.CohereEmbeddingFunction(api_key=key, truncate=params.get("truncate"),
                                             **named, **kw)
    if provider == "voyageai":
        trunc = params.get("truncation", params.get("truncate"))
        return dense.VoyageEmbeddingFunction(
            api_key=key, dimension=dim,
            truncate=None if trunc is None else str(trunc).lower() in ("true", "1"), **named, **kw)
    if provider == "jina":
        return dense.JinaEmbeddingFunction(api_key=key, dimensions=dim, **named, **kw)
    if provider == "mistral":
        return dense.MistralAIEmbeddingFunction(api_key=key, dimensions=dim, **named, **kw)
    if provider == "nomic":
        return dense.NomicEmbeddingFunction(api_key=key, dimensions=dim or 768, **named, **kw)
    if provider == "gemini":
        return dense.GeminiEmbeddingFunction(api_key=key, dimensions=dim, **named, **kw)
    trunc = params.get("truncate")
    return dense.TEIEmbeddingFunction(
        str(url), dimensions=dim, api_key=key,
        truncate=False if trunc is None else str(trunc).lower() in ("true", "1"))


def _weights_hash(folder: Path) -> str:
    """SHA-256 over the weight and config files of a local model folder (names and bytes)."""
    h = hashlib.sha256()
    wanted = (".safetensors", ".bin", ".onnx", ".json", ".npy", ".txt", ".model")
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in wanted):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def identity(fn: Any) -> dict:
    """What the model is: provider, model id and dim; for a local model also a hash of its
    weights, so the same name over different files is told apart."""
    key = _model_key(fn)
    known = _identities.get(key)
    if known is not None:
        return dict(known)
    m = model_for(fn)
    provider = provider_of(fn)
    out: dict[str, Any] = {"provider": provider, "dim": int(m.dim)}
    folder = getattr(m, "model_path", None)
    if provider in LOCAL_PROVIDERS:
        name = _params(fn).get("model_name")
        if folder is None and name:
            folder = Path(str(name)).expanduser()
        out["model"] = "all-MiniLM-L6-v2" if not name or str(name).lower() in DEFAULT_NAMES \
            else Path(str(name)).name
        if folder is not None and Path(folder).is_dir():
            out["weights_sha256"] = _weights_hash(Path(folder))
    else:
        out["model"] = str(getattr(m, "model_name", None) or _params(fn).get("model_name") or "")
    _identities[key] = out
    return dict(out)


def dim(fn: Any) -> int:
    made = int(model_for(fn).dim)
    asked = _params(fn).get("dim")
    if asked is not None and provider_of(fn) in LOCAL_PROVIDERS and int(asked) != made:
        raise ParamError(f"function {fn.name!r}: params['dim'] is {asked} but the local model "
                         f"makes {made}-d vectors (only some HTTP providers can shorten vectors)")
    return made


def _encode(texts: list[str], encode: Callable, what: str) -> np.ndarray:
    if not texts:
        return np.zeros((0, 0), np.float32)
    bar = _progress(len(texts), what) if len(texts) >= PROGRESS_FROM else None
    parts = []
    try:
        for start in range(0, len(texts), BATCH):
            chunk = texts[start:start + BATCH]
            parts.append(np.asarray(encode(chunk)))
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


def _progress(total: int, what: str):
    """A tqdm bar on stderr when it is a terminal (silent otherwise)."""
    import sys

    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=what, unit="text", disable=not sys.stderr.isatty())


def embed_documents(fn: Any, texts: list[str]) -> np.ndarray:
    return _encode(texts, model_for(fn).encode_documents, f"embedding ({fn.name})")


def embed_queries(fn: Any, texts: list[str]) -> np.ndarray:
    return _encode(texts, model_for(fn).encode_queries, f"embedding queries ({fn.name})")
