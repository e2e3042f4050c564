"""Model rankers (``Function(..., FunctionType.RERANK, params={"reranker": "model", ...})``):
which ``embedb.model`` reranker runs the params, one loaded model per process.

``provider``: ``local`` (a local cross-encoder folder in ``model_name``; ``"bge"`` kind via
``model_kind: "bge"`` for BGE rerankers), or the HTTP rerankers ``tei`` (``endpoint``),
``cohere``, ``voyageai``, ``jina`` (keys from the environment or a ``credential``, see
:mod:`embedb.functions.credentials`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParamError
from .credentials import api_key_for
from .loaded import SharedModels

PROVIDERS = ("local", "tei", "cohere", "voyageai", "jina")
_models = SharedModels()


def _key(params: dict) -> str:
    kept = {k: v for k, v in params.items() if k not in ("queries", "credential", "reranker")}
    return json.dumps(kept, sort_keys=True, default=str)


def model_for(params: dict) -> Any:
    return _models.get_or_load(_key(params), lambda: _load(params))


def _load(params: dict) -> Any:
    from embedb.model import reranker

    provider = str(params.get("provider", "")).lower()
    if provider not in PROVIDERS:
        raise ParamError(f"model ranker: params['provider'] must be one of {list(PROVIDERS)}, "
                         f"got {params.get('provider')!r}")
    name = params.get("model_name")
    if provider == "local":
        folder = Path(str(name or "")).expanduser()
        if not name or not folder.is_dir():
            raise ParamError(f"model ranker: params['model_name'] must be the folder of a local "
                             f"cross-encoder (embedb downloads nothing), got {name!r}")
        if str(params.get("model_kind", "")).lower() == "bge":
            return reranker.BGERerankFunction(model_name=str(folder))
        return reranker.CrossEncoderRerankFunction(model_name=str(folder))
    key = api_key_for("model ranker", provider, params.get("credential"))
    url = params.get("endpoint") or params.get("url")
    named = {"model_name": str(name)} if name else {}
    if provider == "tei":
        if not url:
            raise ParamError("model ranker: provider 'tei' needs params['endpoint']")
        return reranker.TEIRerankFunction(str(url), api_key=key)
    kw: dict[str, Any] = {"base_url": url} if url else {}
    cls = {"cohere": reranker.CohereRerankFunction, "voyageai": reranker.VoyageRerankFunction,
           "jina": reranker.JinaRerankFunction}[provider]
    return cls(api_key=key, **named, **kw)


def rerank_scores(params: dict, query: str, texts: list[str]) -> np.ndarray:
    """The model's relevance score of each text to ``query``, in the order of ``texts``."""
    if not texts:
        return np.zeros(0)
    results = model_for(params)(query, list(texts), top_k=len(texts))
    out = np.full(len(texts), -np.inf)
    for r in results:
        out[int(r.index)] = float(r.score)
    return out
